//! `/images/...` endpoints.

use crate::util::{engine_error, error_resp, json, unix_secs, Query, Resp};
use engine::images::map_err;
use engine::{Engine, EngineError};
use hyper::body::Incoming;
use hyper::{Method, Request};
use image::{DeleteItem, ImageRecord, ImportOptions};
use serde_json::{json, Value};
use std::sync::Arc;

type R = Result<Resp, EngineError>;

/// Dispatch `/images/...`; `rest` is the path after `/images`.
pub async fn route(
    engine: Arc<Engine>,
    req: Request<Incoming>,
    m: &Method,
    rest: &str,
    q: Query,
    ver: (u32, u32),
) -> Resp {
    let rest = rest.trim_start_matches('/');
    let res: R = match (m.clone(), rest) {
        (Method::GET, "json") => list(&engine, &q, ver).await,
        (Method::POST, "create") => create(&engine, req, &q).await,
        (Method::POST, "prune") => crate::image_prune::prune(&engine, &q).await,
        (Method::GET, "get") => crate::archive::save(engine.clone(), q.all("names")).await,
        (Method::POST, "load") => return crate::archive::load(engine, req, &q).await,
        (Method::GET, r) if r.ends_with("/get") => {
            let name = r.trim_end_matches("/get").to_string();
            crate::archive::save(engine.clone(), vec![name]).await
        }
        (Method::POST, r) if r.ends_with("/push") => {
            let name = r.trim_end_matches("/push").to_string();
            return crate::registry::push(engine, req, &name, &q).await;
        }
        (Method::GET, r) if r.ends_with("/json") => {
            let name = r.trim_end_matches("/json").to_string();
            get(&engine, &name)
                .await
                .map(|i| json(200, &inspect(&i, ver)))
        }
        (Method::GET, r) if r.ends_with("/history") => {
            let name = r.trim_end_matches("/history").to_string();
            get(&engine, &name).await.map(|i| json(200, &history(&i)))
        }
        (Method::POST, r) if r.ends_with("/tag") => {
            let name = r.trim_end_matches("/tag").to_string();
            tag(&engine, &name, &q).await
        }
        (Method::DELETE, r) if !r.is_empty() => remove(&engine, r, q.bool("force")).await,
        _ => Ok(error_resp(404, "page not found")),
    };
    res.unwrap_or_else(|e| engine_error(&e))
}

async fn get(engine: &Arc<Engine>, name: &str) -> Result<ImageRecord, EngineError> {
    let e = engine.clone();
    let n = name.to_string();
    tokio::task::spawn_blocking(move || e.images.get(&n))
        .await
        .map_err(EngineError::internal)?
}

fn config_json(i: &ImageRecord) -> Value {
    let c = i.container_config();
    let mut v = serde_json::to_value(&c).unwrap_or(json!({}));
    for k in ["Env", "Cmd", "Entrypoint", "Labels"] {
        if v.get(k).is_none() {
            v[k] = Value::Null;
        }
    }
    for k in ["User", "WorkingDir"] {
        if v.get(k).is_none() {
            v[k] = json!("");
        }
    }
    v
}

/// `GET /images/{name}/json`. For API ≤ 1.44 it carries `ContainerConfig` as Docker ≤ 25
/// did (docker-compose 1.29 reads it when it recreates a service); berth keeps no separate
/// build-container config, so it is the image's `Config`.
fn inspect(i: &ImageRecord, ver: (u32, u32)) -> Value {
    let comment = i
        .config
        .history
        .last()
        .and_then(|h| h.comment.clone())
        .unwrap_or_default();
    let mut v = json!({
        "Id": i.id,
        "RepoTags": i.repo_tags,
        "RepoDigests": i.repo_digests,
        "Parent": "",
        "Comment": comment,
        "Created": i.created,
        "DockerVersion": "",
        "Author": i.config.author.clone().unwrap_or_default(),
        "Config": config_json(i),
        "Architecture": i.config.architecture,
        "Variant": i.config.variant,
        "Os": i.config.os,
        "Size": i.size,
        "VirtualSize": i.size,
        "GraphDriver": {"Name": "overlay2", "Data": null},
        "RootFS": {"Type": "layers", "Layers": i.config.rootfs.diff_ids},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    });
    if ver <= (1, 44) {
        let mut cc = config_json(i);
        for k in ["Hostname", "Domainname", "Image"] {
            if cc.get(k).is_none() {
                cc[k] = json!("");
            }
        }
        if cc.get("Volumes").is_none() {
            cc["Volumes"] = Value::Null;
        }
        v["ContainerConfig"] = cc;
        v["Container"] = json!("");
    }
    v
}

fn history(i: &ImageRecord) -> Value {
    let mut out = Vec::new();
    let n = i.config.history.len();
    for (idx, h) in i.config.history.iter().enumerate().rev() {
        out.push(json!({
            "Id": if idx + 1 == n { i.id.clone() } else { "<missing>".to_string() },
            "Created": h.created.as_deref().map(unix_secs).unwrap_or(0),
            "CreatedBy": h.created_by.clone().unwrap_or_default(),
            "Tags": if idx + 1 == n { json!(i.repo_tags) } else { Value::Null },
            "Size": if idx + 1 == n { i.size } else { 0 },
            "Comment": h.comment.clone().unwrap_or_default(),
        }));
    }
    if out.is_empty() {
        out.push(
            json!({"Id": i.id, "Created": unix_secs(&i.created), "CreatedBy": "",
            "Tags": i.repo_tags, "Size": i.size, "Comment": ""}),
        );
    }
    json!(out)
}

async fn list(engine: &Arc<Engine>, q: &Query, ver: (u32, u32)) -> R {
    let checked = crate::filters::Filters::parse(q.get("filters"), crate::filters::IMAGE_KEYS)?;
    let dangling_flag = checked.bool_value("dangling")?;
    let filters = checked.0;
    let e = engine.clone();
    let imgs = tokio::task::spawn_blocking(move || e.images.store.list().map_err(map_err))
        .await
        .map_err(EngineError::internal)??;
    let created = |i: &ImageRecord| monitor::timefmt::parse_rfc3339(&i.created);
    // `before` / `since`: images created before / after the named image.
    let mut bounds = Vec::new();
    for (key, want_before) in [("before", true), ("since", false)] {
        for name in filters.get(key).into_iter().flatten() {
            let found = imgs.iter().find(|i| {
                i.id == *name
                    || i.id
                        .strip_prefix("sha256:")
                        .is_some_and(|h| h.starts_with(name.as_str()))
                    || i.repo_tags
                        .iter()
                        .any(|t| t == name || *t == format!("{name}:latest"))
            });
            let Some(r) = found else {
                return Err(EngineError::NotFound(format!("No such image: {name}")));
            };
            bounds.push((want_before, r.id.clone(), created(r)));
        }
    }
    let refs: Vec<String> = filters.get("reference").cloned().unwrap_or_default();
    let dangling = dangling_flag;
    let mut out = Vec::new();
    for mut i in imgs {
        let t = created(&i);
        if !bounds.iter().all(|(before, id, bt)| {
            *id != i.id
                && match (t, bt) {
                    (Some(t), Some(bt)) => (t < *bt) == *before && t != *bt,
                    _ => false,
                }
        }) {
            continue;
        }
        if !refs.is_empty() {
            // Like dockerd, only the matching references are listed; none matching hides it.
            i.repo_tags
                .retain(|t| refs.iter().any(|p| reference_matches(p, t)));
            i.repo_digests
                .retain(|t| refs.iter().any(|p| reference_matches(p, t)));
            if i.repo_tags.is_empty() && i.repo_digests.is_empty() {
                continue;
            }
        }
        if let Some(want) = dangling {
            if want != i.repo_tags.is_empty() {
                continue;
            }
        }
        let labels = i.container_config().labels.unwrap_or_default();
        if let Some(ls) = filters.get("label") {
            if !ls.iter().all(|v| match v.split_once('=') {
                Some((k, val)) => labels.get(k).map(|x| x == val).unwrap_or(false),
                None => labels.contains_key(v.as_str()),
            }) {
                continue;
            }
        }
        let tags = if i.repo_tags.is_empty() && ver < (1, 44) {
            json!(["<none>:<none>"])
        } else {
            json!(i.repo_tags)
        };
        let digests = if i.repo_digests.is_empty() && ver < (1, 44) {
            json!(["<none>@<none>"])
        } else {
            json!(i.repo_digests)
        };
        let mut item = json!({
            "Id": i.id,
            "ParentId": "",
            "RepoTags": tags,
            "RepoDigests": digests,
            "Created": unix_secs(&i.created),
            "Size": i.size,
            "SharedSize": -1,
            "Labels": labels,
            "Containers": -1,
        });
        if ver < (1, 44) {
            item["VirtualSize"] = json!(i.size);
        }
        out.push(item);
    }
    Ok(json(200, &out))
}

/// docker's `reference` filter: `pattern` is matched (Go `path.Match`) against the whole
/// familiar reference (`repo:tag`, `repo@digest`) and against its repository name alone.
fn reference_matches(pattern: &str, reference: &str) -> bool {
    let name_end = reference
        .find('@')
        .or_else(|| {
            let slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
            reference[slash..].find(':').map(|i| slash + i)
        })
        .unwrap_or(reference.len());
    let p: Vec<char> = pattern.chars().collect();
    let full: Vec<char> = reference.chars().collect();
    let name: Vec<char> = reference[..name_end].chars().collect();
    glob(&p, &full) || glob(&p, &name)
}

/// Go's `path.Match`: `*` is any run of non-`/` characters, `?` one non-`/` character,
/// `[...]` a class (`^` negates, `a-z` ranges), `\\` escapes. A bad pattern matches nothing.
fn glob(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => {
            let rest = &p[1..];
            let mut k = 0;
            loop {
                if glob(rest, &s[k..]) {
                    return true;
                }
                if k >= s.len() || s[k] == '/' {
                    return false;
                }
                k += 1;
            }
        }
        Some('?') => s.first().is_some_and(|c| *c != '/') && glob(&p[1..], &s[1..]),
        Some('[') => {
            let Some(&c) = s.first() else { return false };
            let mut j = 1;
            let negate = p.get(j) == Some(&'^');
            if negate {
                j += 1;
            }
            let mut hit = false;
            let mut first = true;
            loop {
                let Some(&lo) = p.get(j) else { return false };
                if lo == ']' && !first {
                    j += 1;
                    break;
                }
                first = false;
                let (lo, step) = match lo {
                    '\\' => match p.get(j + 1) {
                        Some(&e) => (e, 2),
                        None => return false,
                    },
                    _ => (lo, 1),
                };
                j += step;
                let mut hi = lo;
                if p.get(j) == Some(&'-') && p.get(j + 1).is_some_and(|c| *c != ']') {
                    hi = match p.get(j + 1) {
                        Some('\\') => match p.get(j + 2) {
                            Some(&e) => {
                                j += 1;
                                e
                            }
                            None => return false,
                        },
                        Some(&e) => e,
                        None => return false,
                    };
                    j += 2;
                }
                if lo <= c && c <= hi {
                    hit = true;
                }
            }
            c != '/' && hit != negate && glob(&p[j..], &s[1..])
        }
        Some('\\') => match p.get(1) {
            Some(e) => s.first() == Some(e) && glob(&p[2..], &s[1..]),
            None => false,
        },
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

async fn create(engine: &Arc<Engine>, req: Request<Incoming>, q: &Query) -> R {
    if q.get("fromImage").is_some_and(|s| !s.is_empty()) {
        return Ok(crate::registry::pull(engine.clone(), req, q).await);
    }
    let src = q.get("fromSrc").unwrap_or("");
    if src != "-" {
        return Err(EngineError::InvalidParameter(
            "only fromSrc=- (import from the request body) is supported".into(),
        ));
    }
    let repo = q.get("repo").unwrap_or("").to_string();
    let tag = q.get("tag").unwrap_or("").to_string();
    let reference = if repo.is_empty() {
        None
    } else if tag.is_empty() {
        Some(repo)
    } else {
        Some(format!("{repo}:{tag}"))
    };
    if let Some(r) = &reference {
        image::Reference::parse(r).map_err(|e| EngineError::InvalidParameter(e.to_string()))?;
    }
    let opts = ImportOptions {
        reference,
        changes: q.all("changes"),
        message: q
            .get("message")
            .map(str::to_string)
            .filter(|m| !m.is_empty()),
    };
    let (tx, reader) = crate::bodypipe::pipe();
    let e = engine.clone();
    let job = tokio::task::spawn_blocking(move || {
        let r = reader;
        e.images.store.import(r, opts)
    });
    let body_err = crate::bodypipe::pump(req.into_body(), tx).await;
    let res = job.await.map_err(EngineError::internal)?;
    let line = match (res, body_err) {
        (_, Some(err)) => json!({"errorDetail": {"message": err}, "error": err}),
        (Ok(rec), None) => json!({"status": rec.id}),
        (Err(err), None) => {
            let m = map_err(err).to_string();
            json!({"errorDetail": {"message": m}, "error": m})
        }
    };
    Ok(json(200, &line))
}

async fn tag(engine: &Arc<Engine>, name: &str, q: &Query) -> R {
    let repo = q.get("repo").unwrap_or("");
    if repo.is_empty() {
        return Err(EngineError::InvalidParameter(
            "repository name must have at least one component".into(),
        ));
    }
    let tag = q.get("tag").unwrap_or("");
    let new_ref = if tag.is_empty() {
        repo.to_string()
    } else {
        format!("{repo}:{tag}")
    };
    let e = engine.clone();
    let n = name.to_string();
    tokio::task::spawn_blocking(move || {
        e.images.get(&n)?;
        e.images.store.tag(&n, &new_ref).map_err(map_err)
    })
    .await
    .map_err(EngineError::internal)??;
    Ok(crate::util::status(201))
}

async fn remove(engine: &Arc<Engine>, name: &str, force: bool) -> R {
    let img = get(engine, name).await?;
    let by_id = !img.repo_tags.iter().any(|t| {
        image::Reference::parse(name)
            .map(|r| r.familiar() == *t)
            .unwrap_or(false)
    });
    let last_ref = by_id || img.repo_tags.len() <= 1;
    if last_ref {
        let users = engine.containers_using_image(&img.id);
        if let Some((cid, _)) = users.iter().find(|(_, running)| *running) {
            return Err(EngineError::Conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                if by_id { img.short_id().to_string() } else { name.to_string() },
                &cid[..12]
            )));
        }
        if let Some((cid, _)) = users.first() {
            if !force {
                return Err(EngineError::Conflict(if by_id {
                    format!(
                        "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                        img.short_id(),
                        &cid[..12]
                    )
                } else {
                    format!(
                        "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                        &cid[..12],
                        img.short_id()
                    )
                }));
            }
        }
    }
    // a stopped container still uses it (force given): untag only, the image stays as <none>
    let keep = last_ref && !engine.containers_using_image(&img.id).is_empty();
    let e = engine.clone();
    let n = name.to_string();
    let items = tokio::task::spawn_blocking(move || {
        e.images.store.remove_with(&n, force, keep).map_err(map_err)
    })
    .await
    .map_err(EngineError::internal)??;
    let out: Vec<Value> = items
        .into_iter()
        .map(|i| match i {
            DeleteItem::Untagged(r) => json!({"Untagged": r}),
            DeleteItem::Deleted(id) => json!({"Deleted": id}),
        })
        .collect();
    Ok(json(200, &out))
}

#[cfg(test)]
mod tests {
    use super::reference_matches;

    #[test]
    fn reference_filter_globs_like_docker() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("busybox:v1", "busybox:latest"));
        assert!(!reference_matches("busy", "busybox:latest"));
        assert!(reference_matches("b?sybox", "busybox:latest"));
        assert!(reference_matches("[a-c]usybox", "busybox:latest"));
        assert!(!reference_matches("[^a-c]usybox", "busybox:latest"));
        // `*` stops at `/`, the registry port's `:` is not the tag.
        assert!(!reference_matches("*", "library/busybox:latest"));
        assert!(reference_matches("*/busybox", "library/busybox:latest"));
        assert!(reference_matches(
            "localhost:5000/app",
            "localhost:5000/app:v2"
        ));
        assert!(reference_matches("app", "app@sha256:abcd"));
        assert!(!reference_matches("[", "busybox:latest"));
    }
}
