//! `GET /events`: past events since `since`, then live ones until `until` (or forever).

use crate::util::{channel_body, Query, Resp};
use engine::events::Event;
use engine::{Engine, EngineError};
use hyper::Response;
use std::collections::HashMap;
use std::sync::Arc;

fn parse_ts(s: Option<&str>) -> Option<i128> {
    let s = s.filter(|s| !s.is_empty())?;
    if let Ok(f) = s.parse::<f64>() {
        return Some((f * 1e9) as i128);
    }
    monitor::timefmt::parse_rfc3339(s)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
}

fn matches(e: &Event, f: &HashMap<String, Vec<String>>) -> bool {
    f.iter().all(|(k, vals)| {
        vals.is_empty()
            || match k.as_str() {
                "type" => vals.contains(&e.kind),
                "event" => vals.contains(&e.action),
                "container" => {
                    e.kind == "container"
                        && vals.iter().any(|v| {
                            e.id.starts_with(v.as_str())
                                || e.actor.attributes.get("name") == Some(v)
                        })
                }
                "image" => vals
                    .iter()
                    .any(|v| e.from == *v || e.actor.attributes.get("image") == Some(v)),
                "label" => vals.iter().all(|v| match v.split_once('=') {
                    Some((lk, lv)) => e.actor.attributes.get(lk).map(|x| x == lv).unwrap_or(false),
                    None => e.actor.attributes.contains_key(v.as_str()),
                }),
                "network" => {
                    e.kind == "network"
                        && vals.iter().any(|v| {
                            e.id.starts_with(v.as_str())
                                || e.actor.attributes.get("name") == Some(v)
                        })
                }
                "volume" => e.kind == "volume" && vals.contains(&e.id),
                "daemon" => e.kind == "daemon",
                "scope" => vals.iter().any(|v| v == "local"),
                // berth has no swarm objects or plugins: such filters match no event
                _ => false,
            }
    })
}

/// `GET /events`.
pub fn events(engine: &Arc<Engine>, q: &Query) -> Result<Resp, EngineError> {
    let filters = crate::filters::Filters::parse(q.get("filters"), crate::filters::EVENT_KEYS)?.0;
    let since = parse_ts(q.get("since"));
    let until = parse_ts(q.get("until"));
    let (past, mut live) = engine.events().subscribe();
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let line = |e: &Event| {
        let mut v = serde_json::to_vec(e).unwrap_or_default();
        v.push(b'\n');
        v
    };
    tokio::spawn(async move {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        if let Some(s) = since {
            for e in &past {
                let t = e.time_nano as i128;
                if t >= s
                    && until.is_none_or(|u| t <= u)
                    && matches(e, &filters)
                    && tx.send(line(e)).await.is_err()
                {
                    return;
                }
            }
        }
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let deadline = until.map(|u| {
            tokio::time::Instant::now() + std::time::Duration::from_nanos((u - now).max(0) as u64)
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, live.recv()).await.ok(),
                    None => Some(live.recv().await),
                }
            };
            tokio::select! {
                r = next => match r {
                    None => return,
                    Some(Ok(e)) => {
                        if matches(&e, &filters) && tx.send(line(&e)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                    Some(Err(_)) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    Ok(Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(channel_body(rx))
        .unwrap_or_else(|_| Response::new(crate::util::empty())))
}
