//! `/containers/{id}/exec` and `/exec/...` endpoints.

use crate::hijack;
use crate::util::{engine_error, error_resp, json, json_body, status, Query, Resp};
use engine::{Engine, EngineError, ExecConfig};
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// `POST /containers/{id}/exec`.
pub async fn create(
    engine: &Arc<Engine>,
    req: Request<Incoming>,
    id: &str,
) -> Result<Resp, EngineError> {
    let cfg: ExecConfig = json_body(req.into_body()).await?;
    let exec_id = engine.exec_create(id, cfg)?;
    Ok(json(201, &json!({ "Id": exec_id })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    // `Tty` is not read: the terminal is the exec create's, as moby does.
    console_size: Option<Vec<u16>>,
}

/// Dispatch `/exec/...`.
pub async fn route(
    engine: Arc<Engine>,
    req: Request<Incoming>,
    m: &Method,
    segs: &[&str],
    q: Query,
) -> Resp {
    let res = match (m.clone(), segs) {
        (Method::POST, [id, "start"]) => start(&engine, req, id).await,
        (Method::POST, [id, "resize"]) => {
            let h = q
                .int("h")
                .ok()
                .flatten()
                .unwrap_or(0)
                .clamp(0, u16::MAX as i64) as u16;
            let w = q
                .int("w")
                .ok()
                .flatten()
                .unwrap_or(0)
                .clamp(0, u16::MAX as i64) as u16;
            engine.exec_resize(id, h, w).map(|_| status(200))
        }
        (Method::GET, [id, "json"]) => engine.exec_inspect(id).map(|i| json(200, &i)),
        _ => Ok(error_resp(404, "page not found")),
    };
    res.unwrap_or_else(|e| engine_error(&e))
}

async fn start(
    engine: &Arc<Engine>,
    mut req: Request<Incoming>,
    id: &str,
) -> Result<Resp, EngineError> {
    let on = hyper::upgrade::on(&mut req);
    let b: StartBody = json_body(req.into_body()).await?;
    if let Some([h, w]) = b.console_size.as_deref() {
        engine.exec_resize(id, *h, *w)?;
    }
    let plan = engine.exec_begin(id)?;
    if b.detach {
        engine
            .exec_run::<tokio::io::DuplexStream>(plan, None)
            .await?;
        return Ok(status(200));
    }
    let tty = plan.tty;
    let engine = engine.clone();
    Ok(hijack::upgrade_on(on, tty, move |io| async move {
        if let Err(e) = engine.exec_run(plan, Some(io)).await {
            tracing::warn!("exec: {e}");
        }
    }))
}
