//! `/volumes` endpoints over the engine's [`volume::VolumeStore`].

use crate::util::{error_resp, json, json_body, parse_filters, status, Query, Resp};
use engine::{Engine, EngineError};
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

type R = Result<Resp, EngineError>;

/// Body of `POST /volumes/create`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// Route `/volumes/...` (`segs` after `volumes`).
pub async fn route(
    engine: Arc<Engine>,
    req: Request<Incoming>,
    m: &Method,
    segs: &[&str],
    q: Query,
    ver: (u32, u32),
) -> Resp {
    let res = match (m, segs) {
        (&Method::GET, []) => list(&engine, &q).await,
        (&Method::POST, ["create"]) => create(&engine, req).await,
        (&Method::POST, ["prune"]) => prune(&engine, &q, ver).await,
        (&Method::GET, [name]) => {
            let name = name.to_string();
            blocking(&engine, move |s| s.get(&name))
                .await
                .map(|v| json(200, &v))
        }
        (&Method::DELETE, [name]) => {
            let name = name.to_string();
            let force = q.bool("force");
            blocking(&engine, move |s| s.remove(&name, force))
                .await
                .map(|_| status(204))
        }
        _ => Ok(error_resp(404, "page not found")),
    };
    res.unwrap_or_else(|e| crate::util::engine_error(&e))
}

/// Run a blocking volume-store call.
async fn blocking<T: Send + 'static>(
    engine: &Arc<Engine>,
    f: impl FnOnce(&volume::VolumeStore) -> volume::Result<T> + Send + 'static,
) -> Result<T, EngineError> {
    let store = engine.volumes.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| EngineError::Internal(format!("task failed: {e}")))?
        .map_err(EngineError::from)
}

fn filters(q: &Query) -> Result<BTreeMap<String, Vec<String>>, EngineError> {
    Ok(parse_filters(q.get("filters"))?.into_iter().collect())
}

async fn list(engine: &Arc<Engine>, q: &Query) -> R {
    let f = volume::ListFilters::from_map(&filters(q)?).map_err(EngineError::from)?;
    let vols = blocking(engine, move |s| s.list(&f)).await?;
    Ok(json(200, &json!({"Volumes": vols, "Warnings": []})))
}

fn random_name() -> String {
    use std::io::Read;
    let mut b = [0u8; 32];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..16].copy_from_slice(&t.to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn create(engine: &Arc<Engine>, req: Request<Incoming>) -> R {
    let body: CreateBody = json_body(req.into_body()).await?;
    // An empty name gets a random one; such a volume is not anonymous (docker's behaviour).
    let name = if body.name.is_empty() {
        random_name()
    } else {
        body.name
    };
    let driver = body.driver;
    let opts = body.driver_opts.unwrap_or_default();
    let labels = body.labels.unwrap_or_default();
    let v = blocking(engine, move |s| {
        s.create_with_driver(Some(&name), Some(&driver), &opts, &labels)
    })
    .await?;
    Ok(json(201, &v))
}

/// `POST /volumes/prune`: API 1.42+ prunes anonymous volumes unless `all=true`; older
/// clients get every unused volume, as dockerd does.
async fn prune(engine: &Arc<Engine>, q: &Query, ver: (u32, u32)) -> R {
    let map = filters(q)?;
    let mut opts = volume::PruneOptions::from_map(&map).map_err(EngineError::from)?;
    if ver < (1, 42) && !map.contains_key("all") {
        opts.all = true;
    }
    let report = blocking(engine, move |s| s.prune(&opts)).await?;
    Ok(json(200, &report))
}
