//! Bad input against berth's registry server: digest mismatches, manifests referencing
//! missing blobs, truncated and out-of-order uploads, a kill -9 mid-upload.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use distribution::server;
use image::Digest;

async fn start(root: &Path) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    server::spawn("127.0.0.1:0".parse().unwrap(), root.to_path_buf(), None)
        .await
        .unwrap()
}

fn blob_files(root: &Path) -> Vec<std::path::PathBuf> {
    files_under(&root.join("blobs"))
}

async fn error_code(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.unwrap();
    v["errors"][0]["code"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_with_wrong_digest_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let (addr, task) = start(root.path()).await;
    let http = reqwest::Client::new();
    let data = b"hello registry".to_vec();
    let wrong = Digest::of(b"something else");
    // Monolithic POST.
    let r = http
        .post(format!(
            "http://{addr}/v2/bad/blobs/uploads/?digest={wrong}"
        ))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    // POST + PUT.
    let r = http
        .post(format!("http://{addr}/v2/bad/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let r = http
        .put(format!("http://{addr}{loc}?digest={wrong}"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    // The session is gone, and nothing was stored.
    let r = http
        .get(format!("http://{addr}{loc}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    for d in [wrong, Digest::of(&data)] {
        let r = http
            .head(format!("http://{addr}/v2/bad/blobs/{d}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    assert!(blob_files(root.path()).is_empty());
    assert!(files_under(&root.path().join("tmp")).is_empty());
    // A malformed digest.
    let r = http
        .post(format!(
            "http://{addr}/v2/bad/blobs/uploads/?digest=sha256:xyz"
        ))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    // An invalid repository name.
    let r = http
        .get(format!("http://{addr}/v2/Bad/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "NAME_INVALID");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_and_range_checks() {
    let root = tempfile::tempdir().unwrap();
    let (addr, task) = start(root.path()).await;
    let http = reqwest::Client::new();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let d = Digest::of(&data);
    let r = http
        .post(format!("http://{addr}/v2/chunk/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-0");
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let r = http
        .patch(format!("http://{addr}{loc}"))
        .header("content-range", "0-99999")
        .body(data[..100_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-99999");
    // Out of order: the session stays at 100000.
    let r = http
        .patch(format!("http://{addr}{loc}"))
        .header("content-range", "200000-299999")
        .body(data[200_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = http
        .get(format!("http://{addr}{loc}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-99999");
    let r = http
        .patch(format!("http://{addr}{loc}"))
        .header("content-range", "100000-199999")
        .body(data[100_000..200_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // The last chunk with the closing PUT.
    let r = http
        .put(format!("http://{addr}{loc}?digest={d}"))
        .body(data[200_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    let r = http
        .get(format!("http://{addr}/v2/chunk/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[..]);
    // Range reads (resumable pulls).
    let r = http
        .get(format!("http://{addr}/v2/chunk/blobs/{d}"))
        .header("range", "bytes=299990-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &data[299_990..]);
    // Another repository does not see the blob until it mounts it.
    let r = http
        .head(format!("http://{addr}/v2/elsewhere/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .post(format!(
            "http://{addr}/v2/elsewhere/blobs/uploads/?mount={d}&from=chunk"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .head(format!("http://{addr}/v2/elsewhere/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "300000");
    // Deleting the blob from a repository.
    let r = http
        .delete(format!("http://{addr}/v2/elsewhere/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = http
        .head(format!("http://{addr}/v2/elsewhere/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_referencing_missing_blob() {
    let root = tempfile::tempdir().unwrap();
    let (addr, task) = start(root.path()).await;
    let http = reqwest::Client::new();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let cd = Digest::of(config);
    let r = http
        .post(format!("http://{addr}/v2/mf/blobs/uploads/?digest={cd}"))
        .body(config.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let missing = Digest::of(b"not uploaded");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd.as_str(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": missing.as_str(), "size": 12}]
    })
    .to_string();
    let r = http
        .put(format!("http://{addr}/v2/mf/manifests/v1"))
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let r = http
        .get(format!("http://{addr}/v2/mf/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // An index naming a manifest the repository does not have.
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": missing.as_str(), "size": 12,
                       "platform": {"os": "linux", "architecture": "amd64"}}]
    })
    .to_string();
    let r = http
        .put(format!("http://{addr}/v2/mf/manifests/idx"))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .body(index)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    // A manifest PUT by a digest it does not have.
    let empty_manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd.as_str(), "size": config.len()},
        "layers": []
    })
    .to_string();
    let r = http
        .put(format!("http://{addr}/v2/mf/manifests/{missing}"))
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(empty_manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    // Not JSON; schema 1.
    for body in ["nope", r#"{"schemaVersion":1}"#] {
        let r = http
            .put(format!("http://{addr}/v2/mf/manifests/v2"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    }
    // And the valid one goes in, Docker schema2 media type kept.
    let r = http
        .put(format!("http://{addr}/v2/mf/manifests/v1"))
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(empty_manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .head(format!("http://{addr}/v2/mf/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        r.headers()["docker-content-digest"],
        Digest::of(empty_manifest.as_bytes()).as_str()
    );
    task.abort();
}

/// Sends a request head announcing `announced` body bytes, then only `body`, then closes.
fn send_truncated(addr: SocketAddr, method: &str, path: &str, announced: usize, body: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {announced}\r\n\r\n"
    )
    .unwrap();
    s.write_all(body).unwrap();
    s.flush().unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    // Whatever the server says (probably nothing), wait for it to close.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_uploads_store_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (addr, task) = start(root.path()).await;
    let http = reqwest::Client::new();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 13) as u8).collect();
    let d = Digest::of(&data);
    // Monolithic POST cut short.
    let path = format!("/v2/trunc/blobs/uploads/?digest={d}");
    tokio::task::spawn_blocking(move || {
        send_truncated(addr, "POST", &path, 100_000, &data[..50_000])
    })
    .await
    .unwrap();
    // A chunk cut short.
    let r = http
        .post(format!("http://{addr}/v2/trunc/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 13) as u8).collect();
    let (l2, d2) = (loc.clone(), data.clone());
    tokio::task::spawn_blocking(move || send_truncated(addr, "PATCH", &l2, 100_000, &d2[..1000]))
        .await
        .unwrap();
    // The final PUT cut short.
    let r = http
        .post(format!("http://{addr}/v2/trunc/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc3 = r.headers()["location"].to_str().unwrap().to_string();
    let p3 = format!("{loc3}?digest={d}");
    let d3 = data.clone();
    tokio::task::spawn_blocking(move || send_truncated(addr, "PUT", &p3, 100_000, &d3[..99_999]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = http
        .head(format!("http://{addr}/v2/trunc/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(blob_files(root.path()).is_empty());
    assert!(files_under(&root.path().join("tmp")).is_empty());
    // The cut sessions are gone; a complete upload still works.
    let r = http
        .get(format!("http://{addr}{loc}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .post(format!("http://{addr}/v2/trunc/blobs/uploads/?digest={d}"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(blob_files(root.path()).len(), 1);
    task.abort();
}

/// Not a test by itself: when BERTH_DIST_CHILD_SERVE=<root>|<addr> is set, serves the
/// registry until killed (used by `kill9_mid_upload` to run the server in a child process).
#[test]
fn child_serve() {
    let Ok(spec) = std::env::var("BERTH_DIST_CHILD_SERVE") else {
        return;
    };
    let (root, addr) = spec.split_once('|').unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(server::serve(addr.parse().unwrap(), root.into(), None))
        .unwrap();
}

fn spawn_child_server(root: &Path, addr: SocketAddr) -> ChildGuard {
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(exe)
        .args(["--exact", "child_serve", "--nocapture", "--test-threads=1"])
        .env(
            "BERTH_DIST_CHILD_SERVE",
            format!("{}|{addr}", root.display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ChildGuard(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_upload_never_exposes_a_partial_blob() {
    let root = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = spawn_child_server(root.path(), addr);
    wait_ready(addr, &mut child.0).await;
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 97) as u8).collect();
    let d = Digest::of(&data);
    // A chunked session with some data, and a monolithic upload in flight.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{addr}/v2/k9/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let r = http
        .patch(format!("http://{addr}{loc}"))
        .body(data[..1_000_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v2/k9/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .unwrap();
    s.write_all(&data[..2_000_000]).unwrap();
    s.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // kill -9 the server (by its PID), mid-upload.
    drop(child);
    drop(s);
    assert!(blob_files(root.path()).is_empty());

    // Restarted on the same root: nothing partial is served, leftovers are cleaned, and the
    // blob can be uploaded again.
    let mut child = spawn_child_server(root.path(), addr);
    wait_ready(addr, &mut child.0).await;
    let r = http
        .head(format!("http://{addr}/v2/k9/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(files_under(&root.path().join("tmp")).is_empty());
    assert!(files_under(&root.path().join("uploads")).is_empty());
    let r = http
        .post(format!("http://{addr}/v2/k9/blobs/uploads/?digest={d}"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = http
        .get(format!("http://{addr}/v2/k9/blobs/{d}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Digest::of(&got), d);
    drop(child);
}
