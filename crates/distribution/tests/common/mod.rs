//! Shared helpers of the distribution tests: busybox images, stores, servers, child processes.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use distribution::progress::{LayerEvent, Progress};
use distribution::{ClientOptions, ProgressFn};
use image::{ImageRecord, ImageStore, ImportOptions};

/// A busybox rootfs (bin/busybox + a few applet links + etc) as a tar.
pub fn busybox_tar(extra_file: Option<(&str, &[u8])>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "echo"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    if let Some((name, data)) = extra_file {
        std::fs::write(root.join(name), data).unwrap();
    }
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", root).unwrap();
    b.into_inner().unwrap()
}

/// A fresh image store in a temp dir (the dir lives as long as the returned guard).
pub fn new_store() -> (tempfile::TempDir, Arc<ImageStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path().join("image")).unwrap();
    (dir, Arc::new(store))
}

/// Imports busybox into `store` as `reference`.
pub fn import_busybox(store: &ImageStore, reference: &str) -> ImageRecord {
    store
        .import(
            std::io::Cursor::new(busybox_tar(None)),
            ImportOptions {
                reference: Some(reference.to_string()),
                changes: vec!["CMD [\"/bin/sh\"]".into()],
                message: None,
            },
        )
        .unwrap()
}

/// Client options that record progress events.
pub fn recording_options() -> (ClientOptions, Arc<Mutex<Vec<Progress>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e2 = events.clone();
    let f: ProgressFn = Arc::new(move |p| e2.lock().unwrap().push(p));
    let opts = ClientOptions {
        progress: Some(f),
        // An empty docker config: never read the host's.
        docker_config: Some(PathBuf::from("/nonexistent/berth-test/config.json")),
        ..Default::default()
    };
    (opts, events)
}

/// True when some layer event satisfies `f`.
pub fn has_layer_event(events: &Mutex<Vec<Progress>>, f: impl Fn(&LayerEvent) -> bool) -> bool {
    events
        .lock()
        .unwrap()
        .iter()
        .any(|p| matches!(p, Progress::Layer { event, .. } if f(event)))
}

/// Checks that `pulled` is the same image as `original` and that its layer holds busybox.
pub fn assert_same_image(store: &ImageStore, original: &ImageRecord, pulled: &ImageRecord) {
    assert_eq!(pulled.id, original.id, "config digest differs");
    assert_eq!(pulled.config, original.config);
    assert_eq!(
        pulled.config.rootfs.diff_ids,
        original.config.rootfs.diff_ids
    );
    let dirs = store.layer_dirs(pulled).unwrap();
    assert_eq!(dirs.len(), 1);
    let bb = std::fs::read(dirs[0].join("bin/busybox")).unwrap();
    assert_eq!(bb, std::fs::read("/bin/busybox").unwrap());
    assert_eq!(
        std::fs::read_link(dirs[0].join("bin/sh")).unwrap(),
        PathBuf::from("busybox")
    );
}

/// A free port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `GET http://addr/v2/` answers.
pub async fn wait_ready(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("http://{addr}/v2/");
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status().is_success() || r.status() == 401 {
                return;
            }
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("registry exited early: {st}");
        }
        assert!(Instant::now() < deadline, "registry at {addr} not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A child process killed (by its PID) and reaped on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Debian's reference registry (`docker-registry serve`) on 127.0.0.1:<free port>
/// with storage under `dir`.
pub async fn start_reference_registry(dir: &Path) -> Option<(SocketAddr, ChildGuard)> {
    if Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("docker-registry not installed: skipping");
        return None;
    }
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let storage = dir.join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("registry.log")).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(child);
    wait_ready(addr, &mut guard.0).await;
    Some((addr, guard))
}

/// Writes `image` of `store` as an OCI image layout at `dir` with tag `tag`.
pub fn write_oci_layout(store: &ImageStore, image: &ImageRecord, dir: &Path, tag: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let md = image::Digest::parse(&image.manifest_digest).unwrap();
    let mbytes = store.content().read(&md).unwrap();
    let m: image::manifest::Manifest = serde_json::from_slice(&mbytes).unwrap();
    for d in m
        .layers
        .iter()
        .map(|l| &l.digest)
        .chain([&m.config.digest, &image.manifest_digest])
    {
        let d = image::Digest::parse(d).unwrap();
        std::fs::copy(store.content().path(&d), blobs.join(d.hex())).unwrap();
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": image::manifest::MEDIA_TYPE_OCI_MANIFEST,
            "digest": image.manifest_digest,
            "size": mbytes.len(),
            "annotations": { "org.opencontainers.image.ref.name": tag }
        }]
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

/// Runs skopeo with `args`; returns stdout (panics with stderr on failure).
pub fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when skopeo is installed.
pub fn have_skopeo() -> bool {
    Command::new("skopeo").arg("--version").output().is_ok()
}

/// Files under `dir` (recursively), relative paths.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}
