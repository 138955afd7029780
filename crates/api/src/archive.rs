//! Tarball endpoints: `GET /images/get?names=…`, `GET /images/{name}/get` (docker save),
//! `POST /images/load` (docker load), `GET /containers/{id}/export`, docker cp
//! (`HEAD`/`GET`/`PUT /containers/{id}/archive`), `GET /containers/{id}/changes` and
//! `POST /commit`.

use crate::util::{channel_body, error_resp, Query, Resp};
use engine::images::map_err;
use engine::{Engine, EngineError};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A blocking writer feeding a streaming response body in 256 KiB chunks.
struct ChannelWriter {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 << 10;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

fn tar_response(rx: mpsc::Receiver<Vec<u8>>) -> Resp {
    Response::builder()
        .status(200)
        .header("Content-Type", "application/x-tar")
        .body(channel_body(rx))
        .unwrap_or_else(|_| error_resp(500, "building the response"))
}

/// `GET /images/get?names=a&names=b` and `GET /images/{name}/get`.
pub async fn save(engine: Arc<Engine>, names: Vec<String>) -> Result<Resp, EngineError> {
    if names.is_empty() {
        return Err(EngineError::InvalidParameter(
            "no image names given to save".into(),
        ));
    }
    let e = engine.clone();
    let items = tokio::task::spawn_blocking(move || {
        for n in &names {
            e.images.get(n)?;
        }
        let items = image::archive::resolve(&e.images.store, &names).map_err(map_err)?;
        image::archive::check(&e.images.store, &items).map_err(map_err)?;
        Ok::<_, EngineError>(items)
    })
    .await
    .map_err(EngineError::internal)??;
    let (tx, rx) = mpsc::channel::<Vec<u8>>(8);
    tokio::task::spawn_blocking(move || {
        let w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        match image::archive::save(&engine.images.store, &items, w) {
            Ok(mut w) => {
                let _ = w.flush();
            }
            // The status line is gone: the client sees a truncated tar; say why in the log.
            Err(err) => tracing::warn!("image save failed: {err}"),
        }
    });
    Ok(tar_response(rx))
}

/// `POST /images/load[?quiet=1]`: the body is a docker-archive or OCI layout tarball.
pub async fn load(engine: Arc<Engine>, req: Request<Incoming>, _q: &Query) -> Resp {
    let (tx, reader) = crate::bodypipe::pipe();
    let e = engine.clone();
    let job = tokio::task::spawn_blocking(move || {
        let mut r = reader;
        let res = image::archive::load(&e.images.store, &mut r);
        // Drain what the client still sends so it sees our answer.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        res
    });
    let body_err = crate::bodypipe::pump(req.into_body(), tx).await;
    let res = match job.await {
        Ok(r) => r,
        Err(e) => return error_resp(500, &e.to_string()),
    };
    let mut out = Vec::new();
    let mut push = |v: serde_json::Value| {
        out.extend_from_slice(&serde_json::to_vec(&v).unwrap_or_default());
        out.push(b'\n');
    };
    match (res, body_err) {
        (_, Some(err)) => {
            let m = format!("reading the archive: {err}");
            push(json!({"errorDetail": {"message": m}, "error": m}));
        }
        (Ok(images), None) => {
            for i in images {
                if i.references.is_empty() {
                    push(json!({"stream": format!("Loaded image ID: {}\n", i.id)}));
                }
                for r in i.references {
                    push(json!({"stream": format!("Loaded image: {r}\n")}));
                }
            }
        }
        (Err(err), None) => {
            let m = err.to_string();
            push(json!({"errorDetail": {"message": m}, "error": m}));
        }
    }
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(crate::util::full(out))
        .unwrap_or_else(|_| error_resp(500, "building the response"))
}

/// `GET /containers/{id}/export`: the container's merged filesystem as a plain tar.
pub async fn export(engine: Arc<Engine>, id: &str) -> Result<Resp, EngineError> {
    let c = engine.get(id)?;
    let e = engine.clone();
    let cid = c.id.clone();
    let image_id = c.image_id.clone();
    // Mount (if needed) before answering, so errors get a status.
    let (merged, mounted_here) = tokio::task::spawn_blocking(move || {
        let snaps = &e.images.snapshots;
        if snaps.is_mounted(&cid) {
            return snaps.merged_dir(&cid).map(|p| (p, false)).map_err(map_err);
        }
        let img = e.images.get(&image_id)?;
        let lowers = e.images.lowers(&img)?;
        e.images.mount(&cid, &lowers).map(|p| (p, true))
    })
    .await
    .map_err(EngineError::internal)??;
    let (tx, rx) = mpsc::channel::<Vec<u8>>(8);
    let cid = c.id.clone();
    tokio::task::spawn_blocking(move || {
        let w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        match image::diff::write_tar(&merged, w, image::diff::TarMode::Plain) {
            Ok(mut w) => {
                let _ = w.flush();
            }
            Err(err) => tracing::warn!("export of {cid} failed: {err}"),
        }
        if mounted_here && !engine.get(&cid).map(|c| c.state.running).unwrap_or(true) {
            let _ = engine.images.unmount(&cid);
        }
    });
    Ok(tar_response(rx))
}

/// The `X-Docker-Container-Path-Stat` value: base64 of the stat's JSON.
fn stat_header(st: &engine::archive::PathStat) -> String {
    use base64::Engine as _;
    let j = serde_json::to_vec(st).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(j)
}

/// `HEAD /containers/{id}/archive?path=`: only the path-stat header.
pub async fn container_stat(engine: Arc<Engine>, id: &str, q: &Query) -> Result<Resp, EngineError> {
    let (id, path) = (id.to_string(), q.get("path").unwrap_or("").to_string());
    let st = tokio::task::spawn_blocking(move || engine.archive_stat(&id, &path))
        .await
        .map_err(EngineError::internal)??;
    Response::builder()
        .status(200)
        .header("X-Docker-Container-Path-Stat", stat_header(&st))
        .header("Content-Type", "application/json")
        .body(crate::util::empty())
        .map_err(EngineError::internal)
}

/// `GET /containers/{id}/archive?path=`: a tar of the path, with the path-stat header.
pub async fn container_get(engine: Arc<Engine>, id: &str, q: &Query) -> Result<Resp, EngineError> {
    let (id, path) = (id.to_string(), q.get("path").unwrap_or("").to_string());
    let label = path.clone();
    let out = tokio::task::spawn_blocking(move || engine.archive_get(&id, &path))
        .await
        .map_err(EngineError::internal)??;
    let header = stat_header(&out.stat);
    let (tx, rx) = mpsc::channel::<Vec<u8>>(8);
    tokio::task::spawn_blocking(move || {
        let w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        match out.write_to(w) {
            Ok(mut w) => {
                let _ = w.flush();
            }
            Err(err) => tracing::warn!("copy of {label} failed: {err}"),
        }
    });
    Response::builder()
        .status(200)
        .header("Content-Type", "application/x-tar")
        .header("X-Docker-Container-Path-Stat", header)
        .body(channel_body(rx))
        .map_err(EngineError::internal)
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`: extracts the tar
/// body into the directory `path`.
pub async fn container_put(
    engine: Arc<Engine>,
    req: Request<Incoming>,
    id: &str,
    q: &Query,
) -> Result<Resp, EngineError> {
    let (id, path) = (id.to_string(), q.get("path").unwrap_or("").to_string());
    let opts = engine::archive::PutOptions {
        no_overwrite_dir_non_dir: q.bool("noOverwriteDirNonDir"),
        copy_uid_gid: q.bool("copyUIDGID"),
    };
    let (tx, reader) = crate::bodypipe::pipe();
    let job = tokio::task::spawn_blocking(move || {
        let mut r = reader;
        let res = engine.archive_put(&id, &path, &mut r, opts);
        // Drain what the client still sends so it sees our answer.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        res
    });
    let body_err = crate::bodypipe::pump(req.into_body(), tx).await;
    job.await.map_err(EngineError::internal)??;
    if let Some(e) = body_err {
        return Err(EngineError::InvalidParameter(format!(
            "reading the archive: {e}"
        )));
    }
    Ok(crate::util::status(200))
}

/// `GET /containers/{id}/changes`: `[{Path, Kind}]`.
pub async fn changes(engine: Arc<Engine>, id: &str) -> Result<Resp, EngineError> {
    let list = engine.changes(id).await?;
    let v: Vec<serde_json::Value> = list
        .into_iter()
        .map(|(p, k)| json!({"Path": p, "Kind": k}))
        .collect();
    Ok(crate::util::json(200, &v))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=` with an optional
/// JSON container config body.
pub async fn commit(engine: Arc<Engine>, req: Request<Incoming>, q: &Query) -> Resp {
    let config: Option<image::ContainerConfig> = match crate::util::json_body(req.into_body()).await
    {
        Ok(c) => c,
        Err(e) => return crate::util::engine_error(&e),
    };
    let container = q.get("container").unwrap_or("").to_string();
    if container.is_empty() {
        return error_resp(400, "No container specified");
    }
    let r = engine::commit::CommitRequest {
        repo: q.get("repo").unwrap_or("").to_string(),
        tag: q.get("tag").unwrap_or("").to_string(),
        comment: q.get("comment").unwrap_or("").to_string(),
        author: q.get("author").unwrap_or("").to_string(),
        pause: q.bool_or("pause", true),
        changes: q
            .all("changes")
            .into_iter()
            .flat_map(|c| {
                c.lines()
                    .map(str::to_string)
                    .filter(|l| !l.trim().is_empty())
                    .collect::<Vec<_>>()
            })
            .collect(),
        config,
    };
    match engine.commit(&container, r).await {
        Ok(id) => crate::util::json(201, &json!({"Id": id})),
        Err(e) => crate::util::engine_error(&e),
    }
}
