//! `/networks` endpoints over the engine's network manager.

use crate::util::{error_resp, json, parse_filters, read_body, status, Query, Resp};
use engine::{Engine, EngineError};
use hyper::body::Incoming;
use hyper::{Method, Request};
use network::{NetworkError, NetworkManager};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

fn net_error(e: &NetworkError) -> Resp {
    error_resp(e.status(), &e.to_string())
}

/// Route `/networks/...` (`segs` after `networks`).
pub async fn route(
    engine: Arc<Engine>,
    req: Request<Incoming>,
    m: &Method,
    segs: &[&str],
    q: Query,
) -> Resp {
    match (m, segs) {
        (&Method::GET, []) => list(&engine, &q).await,
        (&Method::POST, ["create"]) => create(&engine, req).await,
        (&Method::POST, ["prune"]) => prune(&engine, &q).await,
        (&Method::GET, [id]) => {
            let id = id.to_string();
            match blocking(&engine, move |m| m.inspect_json(&id)).await {
                Ok(v) => json(200, &v),
                Err(e) => e,
            }
        }
        (&Method::DELETE, [id]) => {
            let id = id.to_string();
            match blocking(&engine, move |m| {
                let n = m.get(&id)?;
                m.remove(&n.id)?;
                Ok(n)
            })
            .await
            {
                Ok(n) => {
                    engine.publish_event(
                        "network",
                        &n.id,
                        &n.name,
                        "destroy",
                        [
                            ("name".to_string(), n.name.clone()),
                            ("type".to_string(), n.driver.as_str().to_string()),
                        ]
                        .into(),
                    );
                    status(204)
                }
                Err(e) => e,
            }
        }
        (&Method::POST, [id, "connect"]) => connect(&engine, req, id, true).await,
        (&Method::POST, [id, "disconnect"]) => connect(&engine, req, id, false).await,
        _ => error_resp(404, "page not found"),
    }
}

/// Run a blocking network-manager call; an error becomes docker's error response.
async fn blocking<T: Send + 'static>(
    engine: &Arc<Engine>,
    f: impl FnOnce(&NetworkManager) -> network::Result<T> + Send + 'static,
) -> Result<T, Resp> {
    let mgr = engine.networks().clone();
    match tokio::task::spawn_blocking(move || f(&mgr)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(net_error(&e)),
        Err(e) => Err(error_resp(500, &format!("task failed: {e}"))),
    }
}

fn matches(n: &network::NetworkRecord, dangling: bool, f: &HashMap<String, Vec<String>>) -> bool {
    f.iter().all(|(k, vals)| {
        vals.is_empty()
            || match k.as_str() {
                "name" => vals.iter().any(|v| n.name.contains(v.as_str())),
                "id" => vals.iter().any(|v| n.id.starts_with(v.as_str())),
                "driver" => vals.iter().any(|v| v == n.driver.as_str()),
                "label" => vals.iter().all(|v| match v.split_once('=') {
                    Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                    None => n.labels.contains_key(v.as_str()),
                }),
                "type" => vals.iter().any(|v| match v.as_str() {
                    "custom" => !n.predefined,
                    "builtin" => n.predefined,
                    _ => false,
                }),
                "dangling" => vals.iter().any(|v| {
                    let want = matches!(v.as_str(), "true" | "1");
                    want == dangling
                }),
                "scope" => vals.iter().any(|v| v == "local"),
                _ => true,
            }
    })
}

async fn list(engine: &Arc<Engine>, q: &Query) -> Resp {
    let f = match crate::filters::Filters::parse(q.get("filters"), crate::filters::NETWORK_KEYS)
        .and_then(|f| f.bool_value("dangling").map(|_| f))
    {
        Ok(f) => f.0,
        Err(e) => return crate::util::engine_error(&e),
    };
    let res = blocking(engine, move |m| {
        let mut out = Vec::new();
        for n in m.list()? {
            let dangling = !n.predefined && m.endpoints(&n.id)?.is_empty();
            if !matches(&n, dangling, &f) {
                continue;
            }
            let mut v = m.inspect_json(&n.id)?;
            v["Containers"] = json!({});
            out.push(v);
        }
        Ok(out)
    })
    .await;
    match res {
        Ok(v) => json(200, &v),
        Err(e) => e,
    }
}

async fn body_json(req: Request<Incoming>) -> Result<Value, Resp> {
    let b = read_body(req.into_body(), 1 << 20)
        .await
        .map_err(|e| crate::util::engine_error(&e))?;
    if b.iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&b).map_err(|e| error_resp(400, &format!("invalid JSON body: {e}")))
}

async fn create(engine: &Arc<Engine>, req: Request<Incoming>) -> Resp {
    let body = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return e,
    };
    let creq = match network::CreateRequest::from_docker_json(&body) {
        Ok(r) => r,
        Err(e) => return net_error(&e),
    };
    match blocking(engine, move |m| m.create(creq)).await {
        Ok(n) => {
            engine.publish_event(
                "network",
                &n.id,
                &n.name,
                "create",
                [
                    ("name".to_string(), n.name.clone()),
                    ("type".to_string(), n.driver.as_str().to_string()),
                ]
                .into(),
            );
            json(201, &json!({"Id": n.id, "Warning": ""}))
        }
        Err(e) => e,
    }
}

async fn prune(engine: &Arc<Engine>, q: &Query) -> Resp {
    let f = match parse_filters(q.get("filters")) {
        Ok(f) => f,
        Err(e) => return crate::util::engine_error(&e),
    };
    let labels: Vec<String> = f.get("label").cloned().unwrap_or_default();
    match blocking(engine, move |m| m.prune(&labels)).await {
        Ok(names) => json(200, &json!({"NetworksDeleted": names})),
        Err(e) => e,
    }
}

async fn connect(engine: &Arc<Engine>, req: Request<Incoming>, id: &str, on: bool) -> Resp {
    let body = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return e,
    };
    let Some(container) = body["Container"].as_str().filter(|s| !s.is_empty()) else {
        return error_resp(400, "container name or id is required");
    };
    let res: Result<(), EngineError> = if on {
        let settings = body
            .get("EndpointConfig")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        engine.network_connect(id, container, settings).await
    } else {
        let force = body["Force"].as_bool().unwrap_or(false);
        engine.network_disconnect(id, container, force).await
    };
    match res {
        Ok(()) => status(200),
        Err(e) => crate::util::engine_error(&e),
    }
}
