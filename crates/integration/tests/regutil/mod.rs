//! Helpers of the registry / archive tests: images made locally (OCI layouts and
//! docker-archives built byte by byte), registries on 127.0.0.1 random ports, skopeo.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest as _;

/// `sha256:<hex>` of `data`.
pub fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An uncompressed tar of regular files `(path, content)`.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A tar with one entry whose raw name is `name` (may hold `..`, which the tar crate
/// refuses to write through its path API).
pub fn raw_tar_entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

/// The busybox rootfs tar (uncompressed), made by scripts/mk-busybox-rootfs.sh.
pub fn busybox_layer() -> Vec<u8> {
    std::fs::read(integration::daemon::busybox_tar()).unwrap()
}

/// An image config for `diff_ids`.
pub fn config_json(diff_ids: &[String], cmd: &[&str], label: Option<(&str, &str)>) -> Vec<u8> {
    let mut cfg = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": diff_ids.iter().map(|_| serde_json::json!({"created": "2024-01-02T03:04:05Z", "created_by": "test layer"})).collect::<Vec<_>>(),
    });
    if let Some((k, v)) = label {
        cfg["config"]["Labels"] = serde_json::json!({ k: v });
    }
    serde_json::to_vec(&cfg).unwrap()
}

/// Writes an OCI image layout at `dir` (gzip layers) for `layers` (uncompressed tars);
/// returns the manifest digest.
pub fn write_oci_layout(dir: &Path, layers: &[Vec<u8>], cmd: &[&str], ref_name: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |data: &[u8]| -> String {
        let d = sha(data);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), data).unwrap();
        d
    };
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    for l in layers {
        diff_ids.push(sha(l));
        let gz = gzip(l);
        let d = put(&gz);
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": gz.len()
        }));
    }
    let config = config_json(&diff_ids, cmd, None);
    let cd = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": ref_name}
        }]
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    md
}

/// A tar of the directory `dir` (its contents at the archive root).
pub fn tar_dir(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

/// A docker-archive tar: `entries` are (name, bytes) written as they are.
pub fn archive_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let v: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    tar_of(&v)
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Status of `GET http://addr/v2/`, if it answers.
fn v2_status(addr: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    head.split(' ').nth(1)?.parse().ok()
}

/// A registry process killed by PID and reaped on drop (its temp dir removed).
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Child,
    /// Its temp dir.
    pub dir: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_registry(addr: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if matches!(v2_status(addr), Some(200 | 401)) {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "registry exited early ({st}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "registry at {addr} not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn temp_dir(prefix: &str) -> PathBuf {
    let d = PathBuf::from(format!("/tmp/{}", integration::daemon::unique(prefix)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// True when Debian's reference registry is installed.
pub fn have_reference_registry() -> bool {
    Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_ok()
}

/// Debian's reference registry (`docker-registry serve`) on a random port.
pub fn reference_registry() -> Registry {
    let dir = temp_dir("reg");
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("storage").display()
        ),
    )
    .unwrap();
    let log = dir.join("registry.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("start docker-registry");
    wait_registry(&addr, &mut child, &log);
    Registry { addr, child, dir }
}

/// `berth registry serve` on a random port (with an htpasswd file of `users` when given).
pub fn berth_registry(users: &[(&str, &str)]) -> Registry {
    let dir = temp_dir("breg");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(integration::daemon::bin("berth"));
    cmd.args(["registry", "serve", "--listen", &addr, "--root"])
        .arg(dir.join("root"));
    if !users.is_empty() {
        let lines: Vec<String> = users
            .iter()
            .map(|(u, p)| format!("{u}:{}", bcrypt::hash(p, 5).unwrap()))
            .collect();
        let f = dir.join("htpasswd");
        std::fs::write(&f, lines.join("\n") + "\n").unwrap();
        cmd.arg("--htpasswd").arg(f);
    }
    let log = dir.join("registry.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("start berth registry serve");
    wait_registry(&addr, &mut child, &log);
    Registry { addr, child, dir }
}

/// True when skopeo is installed.
pub fn have_skopeo() -> bool {
    Command::new("skopeo").arg("--version").output().is_ok()
}

/// Runs skopeo (TLS off for the local registries); returns stdout, panics on failure.
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

/// Names of every file under `dir` (recursively, relative), sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(format!("{rel}/"));
                stack.push(p);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// A private real dockerd (scripts/anchor-dockerd.sh), stopped by PID on drop.
pub struct AnchorDockerd {
    dir: PathBuf,
    /// Its socket (`unix://…`).
    pub host: String,
}

impl AnchorDockerd {
    /// Starts it, or None when dockerd is not installed.
    pub fn start() -> Option<AnchorDockerd> {
        if Command::new("dockerd").arg("--version").output().is_err()
            || integration::daemon::docker_cli().is_none()
        {
            eprintln!("dockerd or the docker CLI missing: skipping");
            return None;
        }
        let dir = PathBuf::from(format!("/tmp/{}", integration::daemon::unique("adk")));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/anchor-dockerd.sh");
        let out = Command::new(&script)
            .arg("start")
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("run anchor-dockerd.sh");
        let sock = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let d = AnchorDockerd {
            host: format!("unix://{sock}"),
            dir,
        };
        assert!(
            out.status.success(),
            "anchor dockerd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(d)
    }

    /// Runs the docker CLI against it.
    pub fn docker(&self, args: &[&str], stdin: Option<&Path>) -> integration::Out {
        let mut c = Command::new(integration::daemon::docker_cli().unwrap());
        c.env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", self.dir.join("cli-config"))
            .env_remove("DOCKER_CONTEXT")
            .args(args);
        match stdin {
            Some(p) => c.stdin(std::fs::File::open(p).unwrap()),
            None => c.stdin(Stdio::null()),
        };
        let o = c.output().expect("run docker");
        integration::Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Drop for AnchorDockerd {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/anchor-dockerd.sh");
        let _ = Command::new(script)
            .arg("stop")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output();
        // dockerd's last clean-ups may race with the script's rm: try again a few times.
        for _ in 0..20 {
            if !self.dir.exists() || std::fs::remove_dir_all(&self.dir).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// A temp dir under /tmp removed on drop (also when the test panics).
pub struct Tmp(pub PathBuf);

impl Tmp {
    /// A new unique dir `/tmp/<prefix>…`.
    pub fn new(prefix: &str) -> Tmp {
        Tmp(temp_dir(prefix))
    }
}

impl std::ops::Deref for Tmp {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Tmp {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
