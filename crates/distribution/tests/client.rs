//! Client features against berth's server: index/platform selection, bearer-token auth
//! (through a token-checking proxy in front of the server), resumed downloads.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use distribution::auth::Credentials;
use distribution::platform::Platform;
use distribution::{pull, push, server, DistributionError};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

async fn start(root: &std::path::Path) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    server::spawn("127.0.0.1:0".parse().unwrap(), root.to_path_buf(), None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_resolves_to_this_platform() {
    let root = tempfile::tempdir().unwrap();
    let (addr, task) = start(root.path()).await;
    let (_d1, store) = new_store();
    let reference = format!("{addr}/multi/busybox:img");
    let original = import_busybox(&store, &reference);
    push(store.clone(), &reference, &recording_options().0)
        .await
        .unwrap();
    // An index: this machine's entry is the busybox image; a foreign entry points at the
    // same manifest (its content does not matter for selection).
    let host = Platform::host();
    let mbytes = store
        .content()
        .read(&image::Digest::parse(&original.manifest_digest).unwrap())
        .unwrap();
    let mut host_platform = serde_json::json!({"os": "linux", "architecture": host.architecture});
    if let Some(v) = &host.variant {
        host_platform["variant"] = serde_json::json!(v);
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": original.manifest_digest,
             "size": mbytes.len(), "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": original.manifest_digest,
             "size": mbytes.len(), "platform": host_platform},
        ]
    })
    .to_string();
    let index_digest = image::Digest::of(index.as_bytes());
    let r = reqwest::Client::new()
        .put(format!("http://{addr}/v2/multi/busybox/manifests/latest"))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .body(index)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let (_d2, store2) = new_store();
    let got = pull(
        store2.clone(),
        &format!("{addr}/multi/busybox"),
        &recording_options().0,
    )
    .await
    .unwrap();
    assert_same_image(&store2, &original, &got.image);
    assert_eq!(got.digest, index_digest.as_str());
    assert!(got
        .image
        .repo_digests
        .contains(&format!("{addr}/multi/busybox@{index_digest}")));

    let (mut opts, _) = recording_options();
    opts.platform = Some(Platform::parse("linux/riscv64").unwrap());
    let err = pull(store2.clone(), &format!("{addr}/multi/busybox"), &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DistributionError::NoMatchingPlatform { .. }),
        "{err}"
    );
    task.abort();
}

/// A registry front that wants bearer tokens: `/token` hands one out for user `bob`
/// (password `pw`); `/v2/…` with the token is forwarded to `backend`, without it answers 401
/// with a Bearer challenge. Optionally cuts the first GET of a big blob short.
struct TokenProxy {
    backend: SocketAddr,
    addr: SocketAddr,
    tokens_issued: AtomicUsize,
    cut_first_blob: bool,
    cuts: AtomicUsize,
}

type PBody = BoxBody<Bytes, std::io::Error>;

fn full(b: impl Into<Bytes>) -> PBody {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

async fn proxy_handle(p: Arc<TokenProxy>, req: Request<Incoming>) -> Response<PBody> {
    let path = req.uri().path().to_string();
    let pq = req
        .uri()
        .path_and_query()
        .map(|x| x.to_string())
        .unwrap_or_default();
    if path == "/token" {
        let ok = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(
                Credentials {
                    username: "bob".into(),
                    password: "pw".into(),
                }
                .basic_header()
                .as_str(),
            );
        let q = req.uri().query().unwrap_or("");
        if !ok || !q.contains("service=test-registry") || !q.contains("scope=repository") {
            return Response::builder()
                .status(401)
                .body(full(Bytes::new()))
                .unwrap();
        }
        p.tokens_issued.fetch_add(1, Ordering::SeqCst);
        return Response::new(full(Bytes::from(r#"{"token":"tok-123"}"#)));
    }
    let authed = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some("Bearer tok-123");
    if !authed {
        return Response::builder()
            .status(401)
            .header(
                "WWW-Authenticate",
                format!(
                    "Bearer realm=\"http://{}/token\",service=\"test-registry\",scope=\"repository:x:pull\"",
                    p.addr
                ),
            )
            .body(full(Bytes::from(
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}"#,
            )))
            .unwrap();
    }
    // Forward.
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let client = reqwest::Client::new();
    let mut rb = client.request(
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
        format!("http://{}{pq}", p.backend),
    );
    for (k, v) in headers.iter() {
        if k == "host" || k == "authorization" {
            continue;
        }
        rb = rb.header(k.as_str(), v.as_bytes());
    }
    let resp = rb.body(body).send().await.unwrap();
    let mut out = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers().iter() {
        out = out.header(k.as_str(), v.as_bytes());
    }
    let data = resp.bytes().await.unwrap();
    let is_blob_get = method == hyper::Method::GET
        && path.contains("/blobs/sha256:")
        && !headers.contains_key("range")
        && data.len() > 100_000;
    if p.cut_first_blob && is_blob_get && p.cuts.fetch_add(1, Ordering::SeqCst) == 0 {
        // Announce the whole blob, send half, then fail: the connection is cut.
        let half = data.slice(..data.len() / 2);
        let chunks: Vec<Result<hyper::body::Frame<Bytes>, std::io::Error>> = vec![
            Ok(hyper::body::Frame::data(half)),
            Err(std::io::Error::other("cut")),
        ];
        let stream = futures_util::stream::iter(chunks);
        return out.body(BodyExt::boxed(StreamBody::new(stream))).unwrap();
    }
    out.body(full(data)).unwrap()
}

async fn start_proxy(backend: SocketAddr, cut_first_blob: bool) -> Arc<TokenProxy> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let p = Arc::new(TokenProxy {
        backend,
        addr,
        tokens_issued: AtomicUsize::new(0),
        cut_first_blob,
        cuts: AtomicUsize::new(0),
    });
    let p2 = p.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let p = p2.clone();
            tokio::spawn(async move {
                // A blob GET that should be cut: answer with a short body on a raw socket.
                let svc = hyper::service::service_fn(move |req| {
                    let p = p.clone();
                    async move { Ok::<_, Infallible>(proxy_handle(p, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_auth() {
    let root = tempfile::tempdir().unwrap();
    let (backend, task) = start(root.path()).await;
    let proxy = start_proxy(backend, false).await;
    let addr = proxy.addr;
    let (_d1, store) = new_store();
    let reference = format!("{addr}/tok/busybox:1");
    let original = import_busybox(&store, &reference);

    // No credentials: the token endpoint refuses.
    let err = push(store.clone(), &reference, &recording_options().0)
        .await
        .unwrap_err();
    assert!(matches!(err, DistributionError::Unauthorized(_)), "{err}");

    let (mut opts, _) = recording_options();
    opts.credentials = Some(Credentials {
        username: "bob".into(),
        password: "pw".into(),
    });
    push(store.clone(), &reference, &opts).await.unwrap();
    assert!(proxy.tokens_issued.load(Ordering::SeqCst) >= 1);
    let (_d2, store2) = new_store();
    let got = pull(store2.clone(), &reference, &opts).await.unwrap();
    assert_same_image(&store2, &original, &got.image);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_layer_download_resumes() {
    let root = tempfile::tempdir().unwrap();
    let (backend, task) = start(root.path()).await;
    let proxy = start_proxy(backend, true).await;
    let reference = format!("{}/resume/busybox:1", proxy.addr);
    let (_d1, store) = new_store();
    let original = import_busybox(&store, &reference);
    let (mut opts, _) = recording_options();
    opts.credentials = Some(Credentials {
        username: "bob".into(),
        password: "pw".into(),
    });
    push(store.clone(), &reference, &opts).await.unwrap();
    let (_d2, store2) = new_store();
    let got = pull(store2.clone(), &reference, &opts).await.unwrap();
    assert_eq!(
        proxy.cuts.load(Ordering::SeqCst),
        1,
        "the download was not cut"
    );
    assert_same_image(&store2, &original, &got.image);
    task.abort();
}
