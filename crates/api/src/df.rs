//! `GET /system/df` (disk usage of images, containers, volumes and the build cache) and
//! `POST /build/prune` (the classic builder's step cache and the intermediate images only it
//! keeps).

use crate::util::{json, parse_filters, unix_secs, Query, Resp};
use engine::images::map_err;
use engine::{Engine, EngineError};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

type R = Result<Resp, EngineError>;

/// Size of every layer any image has (`diff_id` → bytes) and how many images have it.
pub(crate) fn layer_map(e: &Engine) -> Result<HashMap<String, (u64, usize)>, EngineError> {
    let mut map: HashMap<String, (u64, usize)> = HashMap::new();
    for img in e.images.store.list().map_err(map_err)? {
        let sizes = match e.images.store.layer_sizes(&img.id) {
            Ok(s) => s,
            Err(image::ImageError::NotFound(_)) => continue,
            Err(err) => return Err(map_err(err)),
        };
        let mut seen = std::collections::HashSet::new();
        for (d, s) in sizes {
            if seen.insert(d.clone()) {
                let entry = map.entry(d).or_insert((s, 0));
                entry.1 += 1;
            }
        }
    }
    Ok(map)
}

/// Bytes of the layers in `before` that are gone from `after`.
pub(crate) fn freed(
    before: &HashMap<String, (u64, usize)>,
    after: &HashMap<String, (u64, usize)>,
) -> u64 {
    before
        .iter()
        .filter(|(d, _)| !after.contains_key(*d))
        .map(|(_, (s, _))| *s)
        .sum()
}

fn build_cache(e: &Engine) -> Result<Arc<build::cache::Cache>, EngineError> {
    build::cache::Cache::open(&e.config().data_root.join("build").join("cache.redb"))
        .map_err(|err| EngineError::Internal(err.to_string()))
}

/// The build cache records as `system df` lists them: one per cached step, sized by the
/// layer the step made when its image is only the cache's (else shared).
fn cache_records(
    e: &Engine,
    layers: &HashMap<String, (u64, usize)>,
) -> Result<Vec<Value>, EngineError> {
    let cache = build_cache(e)?;
    let entries = cache
        .entries()
        .map_err(|err| EngineError::Internal(err.to_string()))?;
    let mut out = Vec::new();
    for (key, image_id) in entries {
        let Ok(img) = e.images.store.get(&image_id) else {
            continue; // a stale entry: a miss for the builder, nothing on disk
        };
        let top = img
            .config
            .rootfs
            .diff_ids
            .last()
            .cloned()
            .unwrap_or_default();
        let (size, users) = layers.get(&top).copied().unwrap_or((0, 0));
        let in_use = !e.containers_using_image(&img.id).is_empty();
        let shared = !img.repo_tags.is_empty() || users > 1;
        out.push(json!({
            "ID": record_id(&key),
            "Parent": "",
            "Parents": [],
            "Type": "regular",
            "Description": format!("step cache of {}", img.short_id()),
            "InUse": in_use,
            "Shared": shared,
            "Size": size,
            "CreatedAt": img.created,
            "LastUsedAt": img.created,
            "UsageCount": 1,
        }));
    }
    Ok(out)
}

/// The id a cache record is listed (and reported deleted) under.
fn record_id(key: &str) -> &str {
    &key[..key.len().min(25)]
}

/// `GET /system/df[?type=container|image|volume|build-cache]`.
pub async fn df(engine: &Arc<Engine>, q: &Query) -> R {
    let types = q.all("type");
    for t in &types {
        if !matches!(t.as_str(), "container" | "image" | "volume" | "build-cache") {
            return Err(EngineError::InvalidParameter(format!(
                "unknown object type: {t}"
            )));
        }
    }
    let want = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
    let (want_i, want_c, want_v, want_b) = (
        want("image"),
        want("container"),
        want("volume"),
        want("build-cache"),
    );
    let e = engine.clone();
    let v = tokio::task::spawn_blocking(move || -> Result<Value, EngineError> {
        let mut out = serde_json::Map::new();
        let layers = layer_map(&e)?;
        if want_i {
            let mut images = Vec::new();
            for img in e.images.store.list().map_err(map_err)? {
                let shared: u64 = e
                    .images
                    .store
                    .layer_sizes(&img.id)
                    .unwrap_or_default()
                    .iter()
                    .filter(|(d, _)| layers.get(d).is_some_and(|(_, n)| *n > 1))
                    .map(|(_, s)| *s)
                    .sum();
                let labels: BTreeMap<String, String> = img
                    .container_config()
                    .labels
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                images.push(json!({
                    "Id": img.id, "ParentId": "", "RepoTags": img.repo_tags,
                    "RepoDigests": img.repo_digests, "Created": unix_secs(&img.created),
                    "Size": img.size, "SharedSize": shared, "VirtualSize": img.size,
                    "Labels": labels, "Containers": e.containers_using_image(&img.id).len(),
                }));
            }
            out.insert(
                "LayersSize".into(),
                json!(layers.values().map(|(s, _)| *s).sum::<u64>()),
            );
            out.insert("Images".into(), json!(images));
        }
        if want_c {
            let list: Vec<Value> = e
                .list()
                .iter()
                .map(|c| crate::containers::summary(&e, c, true))
                .collect();
            out.insert("Containers".into(), json!(list));
        }
        if want_v {
            let mut vols = Vec::new();
            for v in e
                .volumes
                .list(&Default::default())
                .map_err(EngineError::from)?
            {
                vols.push(
                    e.volumes
                        .get_with_usage(&v.name)
                        .map_err(EngineError::from)?,
                );
            }
            out.insert("Volumes".into(), json!(vols));
        }
        if want_b {
            out.insert("BuildCache".into(), json!(cache_records(&e, &layers)?));
        }
        Ok(Value::Object(out))
    })
    .await
    .map_err(EngineError::internal)??;
    Ok(json(200, &v))
}

/// `POST /build/prune[?all=1]`: forgets the cached steps and removes the intermediate images
/// only the cache kept (untagged, no container). Filters, `keep-storage` and the other
/// BuildKit knobs are refused.
pub async fn build_prune(engine: &Arc<Engine>, q: &Query) -> R {
    let filters = parse_filters(q.get("filters"))?;
    if let Some(k) = filters.keys().next() {
        return Err(EngineError::InvalidParameter(format!(
            "invalid filter '{k}': build cache prune filters are not implemented by berth"
        )));
    }
    for k in [
        "keep-storage",
        "reserved-space",
        "max-used-space",
        "min-free-space",
    ] {
        if q.get(k).is_some_and(|v| !v.is_empty() && v != "0") {
            return Err(EngineError::InvalidParameter(format!(
                "{k} is not implemented by berth's build cache prune"
            )));
        }
    }
    let e = engine.clone();
    let v = tokio::task::spawn_blocking(move || -> Result<Value, EngineError> {
        let cache = build_cache(&e)?;
        let entries = cache
            .entries()
            .map_err(|err| EngineError::Internal(err.to_string()))?;
        let before = layer_map(&e)?;
        let mut keys = Vec::new();
        // Newest first: a child step's image goes before its parent's.
        let mut imgs: Vec<(String, image::ImageRecord)> = entries
            .iter()
            .filter_map(|(k, id)| e.images.store.get(id).ok().map(|i| (k.clone(), i)))
            .collect();
        imgs.sort_by(|a, b| b.1.created.cmp(&a.1.created));
        for (k, _) in &entries {
            if !imgs.iter().any(|(x, _)| x == k) {
                keys.push(k.clone()); // stale
            }
        }
        for (k, img) in imgs {
            keys.push(k);
            if !img.repo_tags.is_empty() || !e.containers_using_image(&img.id).is_empty() {
                continue;
            }
            if let Err(err) = e.images.store.remove(&img.id, false) {
                if !matches!(err, image::ImageError::NotFound(_)) {
                    tracing::warn!("build prune: keeping image {}: {err}", img.id);
                }
            }
        }
        let deleted: Vec<&str> = keys.iter().map(|k| record_id(k)).collect();
        cache
            .remove(&keys)
            .map_err(|err| EngineError::Internal(err.to_string()))?;
        let after = layer_map(&e)?;
        Ok(json!({"CachesDeleted": deleted, "SpaceReclaimed": freed(&before, &after)}))
    })
    .await
    .map_err(EngineError::internal)??;
    Ok(json(200, &v))
}
