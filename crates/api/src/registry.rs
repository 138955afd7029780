//! Registry endpoints: `POST /images/create?fromImage=` (pull), `POST /images/{name}/push`
//! and `POST /auth`, over the `distribution` crate. Pulls and pushes stream docker's JSON
//! progress messages.

use crate::util::{error_resp, json, Body, Query, Resp};
use base64::Engine as _;
use bytes::Bytes;
use distribution::auth::Credentials;
use distribution::platform::Platform;
use distribution::{ClientOptions, DistributionError, Progress};
use engine::Engine;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{HeaderMap, Request, Response};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

static INSECURE: OnceLock<Vec<String>> = OnceLock::new();

/// Sets the registries that may be spoken to over plain HTTP (berthd's
/// `--insecure-registry`); call once at start-up.
pub fn set_insecure_registries(list: Vec<String>) {
    let _ = INSECURE.set(list);
}

fn insecure() -> Vec<String> {
    INSECURE.get().cloned().unwrap_or_default()
}

/// Credentials from `X-Registry-Auth` (base64url JSON `{username,password,serveraddress,
/// identitytoken}`, padded or not). An absent or empty header gives None.
pub fn registry_auth(headers: &HeaderMap) -> Result<Option<Credentials>, String> {
    let Some(raw) = headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let trimmed = raw.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|e| format!("invalid X-Registry-Auth header: {e}"))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("invalid X-Registry-Auth header: {e}"))?;
    Ok(credentials_of(&v))
}

fn credentials_of(v: &Value) -> Option<Credentials> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (user, pass, token) = (s("username"), s("password"), s("identitytoken"));
    if !token.is_empty() {
        // An identity token is a refresh token; registries take it as the password of the
        // `<token>` user.
        return Some(Credentials {
            username: "<token>".into(),
            password: token,
        });
    }
    if user.is_empty() && pass.is_empty() {
        return None;
    }
    Some(Credentials {
        username: user,
        password: pass,
    })
}

/// HTTP status of a distribution error, as dockerd answers before streaming.
fn status_of(e: &DistributionError) -> u16 {
    match e {
        DistributionError::InvalidReference(_) | DistributionError::Invalid { .. } => 400,
        DistributionError::Unauthorized(_) => 401,
        DistributionError::ManifestUnknown(_) | DistributionError::NoMatchingPlatform { .. } => 404,
        DistributionError::Registry { status: 404, .. } => 404,
        DistributionError::Image(image::ImageError::NotFound(_)) => 404,
        _ => 500,
    }
}

fn client_options(
    headers: &HeaderMap,
    platform: Option<&str>,
) -> Result<ClientOptions, (u16, String)> {
    let credentials = registry_auth(headers).map_err(|e| (400, e))?;
    let platform = match platform.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(Platform::parse(p).map_err(|e| (400, e.to_string()))?),
        None => None,
    };
    Ok(ClientOptions {
        insecure_registries: insecure(),
        credentials,
        // The daemon never reads a config file: credentials come with the request.
        docker_config: Some(std::path::PathBuf::from("/nonexistent/berth/config.json")),
        platform,
        ..Default::default()
    })
}

/// Client options for a pull the daemon makes on its own behalf (a build's FROM image):
/// anonymous, with the daemon's insecure registries.
pub fn daemon_pull_options() -> ClientOptions {
    ClientOptions {
        insecure_registries: insecure(),
        docker_config: Some(std::path::PathBuf::from("/nonexistent/berth/config.json")),
        ..Default::default()
    }
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn error_line(msg: &str) -> Bytes {
    line(&json!({"errorDetail": {"message": msg}, "error": msg}))
}

/// Runs `job` (which reports progress into the channel) and answers: an error before any
/// progress becomes an HTTP error; otherwise docker's JSON lines are streamed, with the
/// final status (or an `errorDetail` line) at the end.
async fn stream_job<F, Fut>(job: F) -> Resp
where
    F: FnOnce(mpsc::UnboundedSender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Value>, DistributionError>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let fut = job(tx.clone());
    let mut handle = tokio::spawn(fut);
    // Wait for the first progress line or the end.
    let first = tokio::select! {
        biased;
        res = &mut handle => {
            let res = res.unwrap_or_else(|e| Err(DistributionError::Internal(e.to_string())));
            match res {
                Err(e) => return error_resp(status_of(&e), &e.to_string()),
                Ok(lines) => {
                    let mut out = Vec::new();
                    while let Ok(b) = rx.try_recv() {
                        out.extend_from_slice(&b);
                    }
                    for l in lines {
                        out.extend_from_slice(&line(&l));
                    }
                    return streaming(futures_util::stream::iter(vec![Bytes::from(out)]));
                }
            }
        }
        b = rx.recv() => b,
    };
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Bytes>();
    if let Some(b) = first {
        let _ = out_tx.send(b);
    }
    drop(tx);
    tokio::spawn(async move {
        let res = loop {
            tokio::select! {
                biased;
                b = rx.recv() => match b {
                    Some(b) => { if out_tx.send(b).is_err() { /* client gone: keep going */ } }
                    None => break (&mut handle).await,
                },
                res = &mut handle => {
                    while let Ok(b) = rx.try_recv() { let _ = out_tx.send(b); }
                    break res;
                }
            }
        };
        let res = res.unwrap_or_else(|e| Err(DistributionError::Internal(e.to_string())));
        match res {
            Ok(lines) => {
                for l in lines {
                    let _ = out_tx.send(line(&l));
                }
            }
            Err(e) => {
                let _ = out_tx.send(error_line(&e.to_string()));
            }
        }
    });
    let s =
        futures_util::stream::unfold(
            out_rx,
            |mut rx| async move { rx.recv().await.map(|b| (b, rx)) },
        );
    streaming(s)
}

fn streaming(s: impl futures_util::Stream<Item = Bytes> + Send + 'static) -> Resp {
    use futures_util::StreamExt;
    let body: Body = BodyExt::boxed_unsync(StreamBody::new(
        s.map(|b| Ok::<_, Infallible>(Frame::data(b))),
    ));
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .body(body)
        .unwrap_or_else(|_| error_resp(500, "building the response"))
}

fn progress_sender(tx: mpsc::UnboundedSender<Bytes>) -> distribution::ProgressFn {
    Arc::new(move |p: Progress| {
        let _ = tx.send(line(&p.to_docker_json()));
    })
}

/// The reference a `fromImage` + `tag` pair names (`tag` may be a digest).
pub fn pull_reference(from: &str, tag: &str) -> String {
    if tag.is_empty() {
        return from.to_string();
    }
    if tag.starts_with("sha256:") {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    }
}

/// `POST /images/create?fromImage=…&tag=…&platform=…`.
pub async fn pull(engine: Arc<Engine>, req: Request<Incoming>, q: &Query) -> Resp {
    let from = q.get("fromImage").unwrap_or("").to_string();
    let tag = q.get("tag").unwrap_or("").to_string();
    let reference = pull_reference(&from, &tag);
    // `docker pull busybox` sends tag=latest; a name carrying its own tag keeps it.
    if let Err(e) = image::Reference::parse(&reference) {
        return error_resp(400, &format!("invalid reference format: {e}"));
    }
    let mut opts = match client_options(req.headers(), q.get("platform")) {
        Ok(o) => o,
        Err((code, m)) => return error_resp(code, &m),
    };
    let store = engine.images.store.clone();
    stream_job(move |tx| {
        opts.progress = Some(progress_sender(tx));
        async move {
            // The "Digest: …" and "Status: …" lines come through the progress callback.
            distribution::pull(store, &reference, &opts).await?;
            Ok(Vec::new())
        }
    })
    .await
}

/// `POST /images/{name}/push?tag=…`.
pub async fn push(engine: Arc<Engine>, req: Request<Incoming>, name: &str, q: &Query) -> Resp {
    let tag = q.get("tag").unwrap_or("");
    let reference = pull_reference(name, tag);
    let parsed = match image::Reference::parse(&reference) {
        Ok(r) => r,
        Err(e) => return error_resp(400, &format!("invalid reference format: {e}")),
    };
    // Like dockerd: the local image must exist under that name.
    let e2 = engine.clone();
    let lookup = parsed.to_string();
    let found = tokio::task::spawn_blocking(move || e2.images.get(&lookup)).await;
    match found {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => {
            return error_resp(
                404,
                &format!("An image does not exist locally with the tag: {}", {
                    parsed.familiar_name()
                }),
            )
        }
        Err(e) => return error_resp(500, &e.to_string()),
    }
    let mut opts = match client_options(req.headers(), None) {
        Ok(o) => o,
        Err((code, m)) => return error_resp(code, &m),
    };
    let store = engine.images.store.clone();
    stream_job(move |tx| {
        opts.progress = Some(progress_sender(tx));
        async move {
            let res = distribution::push(store, &reference, &opts).await?;
            // The final "<tag>: digest: … size: N" line comes through the progress callback;
            // docker also ends with an aux message carrying the result.
            Ok(vec![json!({
                "progressDetail": {},
                "aux": {"Tag": res.tag.unwrap_or_default(), "Digest": res.digest, "Size": res.size}
            })])
        }
    })
    .await
}

/// `POST /auth`: checks the credentials against the registry.
pub async fn auth(req: Request<Incoming>) -> Resp {
    let body = match crate::util::read_body(req.into_body(), 1 << 20).await {
        Ok(b) => b,
        Err(e) => return error_resp(400, &e.to_string()),
    };
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error_resp(400, &format!("invalid JSON: {e}")),
    };
    let server = v
        .get("serveraddress")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let server = if server.is_empty() {
        "https://index.docker.io/v1/".to_string()
    } else {
        server
    };
    let Some(creds) = credentials_of(&v) else {
        return error_resp(400, "username and password are required");
    };
    let opts = ClientOptions {
        insecure_registries: insecure(),
        ..Default::default()
    };
    match distribution::login(&server, &creds, &opts).await {
        Ok(()) => json(
            200,
            &json!({"Status": "Login Succeeded", "IdentityToken": ""}),
        ),
        Err(DistributionError::Unauthorized(m)) => error_resp(401, &m),
        Err(e) => error_resp(500, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_registry_auth() {
        let mut h = HeaderMap::new();
        assert!(registry_auth(&h).unwrap().is_none());
        let enc = base64::engine::general_purpose::URL_SAFE
            .encode(br#"{"username":"u","password":"p?>","serveraddress":"localhost:5000"}"#);
        h.insert("x-registry-auth", enc.parse().unwrap());
        let c = registry_auth(&h).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p?>"));
        h.insert("x-registry-auth", "e30=".parse().unwrap()); // {}
        assert!(registry_auth(&h).unwrap().is_none());
        h.insert("x-registry-auth", "!!!".parse().unwrap());
        assert!(registry_auth(&h).is_err());
    }

    #[test]
    fn references() {
        assert_eq!(pull_reference("busybox", "latest"), "busybox:latest");
        assert_eq!(pull_reference("a", "sha256:ab"), "a@sha256:ab");
        assert_eq!(pull_reference("h:5000/a:v1", ""), "h:5000/a:v1");
    }
}
