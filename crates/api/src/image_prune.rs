//! `POST /images/prune`: removes dangling (or, with `dangling=false`, all unused) images.

use crate::util::{json, parse_filters, unix_secs, Query, Resp};
use engine::images::map_err;
use engine::{Engine, EngineError};
use image::DeleteItem;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn label_match(labels: &BTreeMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(want),
    }
}

/// `until`: a unix timestamp (seconds, fractions allowed) or a Go duration (`10m`, `24h`).
fn until_secs(v: &str) -> Result<i64, EngineError> {
    if let Ok(f) = v.parse::<f64>() {
        return Ok(f as i64);
    }
    let unit = v.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let num: f64 = v[..v.len() - unit.len()]
        .parse()
        .map_err(|_| EngineError::InvalidParameter(format!("invalid until filter {v:?}")))?;
    let mult = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            let t = unix_secs(v);
            if t == 0 {
                return Err(EngineError::InvalidParameter(format!(
                    "invalid until filter {v:?}"
                )));
            }
            return Ok(t);
        }
    };
    Ok(crate::util::now_secs() - (num * mult) as i64)
}

/// `POST /images/prune?filters={"dangling":["false"],"label":["k=v"],"until":["24h"]}`.
pub async fn prune(engine: &Arc<Engine>, q: &Query) -> Result<Resp, EngineError> {
    let filters = parse_filters(q.get("filters"))?;
    let dangling_only = match filters.get("dangling").and_then(|v| v.first()) {
        None => true,
        Some(v) => crate::util::lenient_bool(v),
    };
    let labels = filters.get("label").cloned().unwrap_or_default();
    let not_labels = filters.get("label!").cloned().unwrap_or_default();
    let until = match filters.get("until").and_then(|v| v.first()) {
        Some(v) => Some(until_secs(v)?),
        None => None,
    };
    let e = engine.clone();
    let (deleted, reclaimed) = tokio::task::spawn_blocking(move || {
        let images = e.images.store.list().map_err(map_err)?;
        let mut out: Vec<Value> = Vec::new();
        let layers_before = crate::df::layer_map(&e)?;
        for img in images {
            if dangling_only && !img.repo_tags.is_empty() {
                continue;
            }
            if !e.containers_using_image(&img.id).is_empty() {
                continue;
            }
            let l = img.container_config().labels.unwrap_or_default();
            let l: BTreeMap<String, String> = l.into_iter().collect();
            if !labels.iter().all(|w| label_match(&l, w)) {
                continue;
            }
            if not_labels.iter().any(|w| label_match(&l, w)) {
                continue;
            }
            if let Some(u) = until {
                if unix_secs(&img.created) >= u {
                    continue;
                }
            }
            match e.images.store.remove(&img.id, true) {
                Ok(items) => {
                    for i in items {
                        out.push(match i {
                            DeleteItem::Untagged(r) => json!({"Untagged": r}),
                            DeleteItem::Deleted(id) => json!({"Deleted": id}),
                        });
                    }
                }
                Err(image::ImageError::NotFound(_)) => {}
                Err(err) => return Err(map_err(err)),
            }
        }
        // Layers still used by another image stay: only the bytes of layers that left the
        // store are reclaimed.
        let reclaimed = crate::df::freed(&layers_before, &crate::df::layer_map(&e)?);
        Ok::<_, EngineError>((out, reclaimed))
    })
    .await
    .map_err(EngineError::internal)??;
    Ok(json(
        200,
        &json!({"ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed}),
    ))
}
