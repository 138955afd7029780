//! Running one RUN step: a real container of the stage's current image (the engine's OCI spec,
//! the configured runtime, cgroup `/berth/<id>`, a new network namespace unless
//! `--network host`), output streamed line by line.

use crate::error::{BuildError, Result};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to run.
pub struct RunSpec<'a> {
    /// Container id (64 hex).
    pub id: &'a str,
    /// The mounted rootfs (snapshot merged dir).
    pub rootfs: &'a Path,
    /// Bundle directory to create (removed afterwards).
    pub bundle: PathBuf,
    /// Process args.
    pub args: Vec<String>,
    /// Environment.
    pub env: Vec<String>,
    /// `USER` (may be empty).
    pub user: &'a str,
    /// Working directory.
    pub cwd: &'a str,
    /// `none` (default) or `host`.
    pub network: &'a str,
    /// The OCI runtime binary.
    pub runtime: &'a Path,
    /// The runtime's `--root`.
    pub runtime_root: PathBuf,
}

/// Runs the container to completion; returns its exit code. The runtime's container, cgroup
/// and bundle are gone when this returns, whatever happened.
pub fn run(spec: &RunSpec<'_>, out: &(dyn Fn(String) + Sync)) -> Result<i32> {
    let res = run_inner(spec, out);
    let _ = Command::new(spec.runtime)
        .arg("--root")
        .arg(&spec.runtime_root)
        .args(["delete", "--force", spec.id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&spec.bundle);
    res
}

fn run_inner(spec: &RunSpec<'_>, out: &(dyn Fn(String) + Sync)) -> Result<i32> {
    std::fs::create_dir_all(&spec.bundle)?;
    let user = engine::user::resolve(spec.rootfs, spec.user)
        .map_err(|e| BuildError::Step(e.to_string()))?;
    // The working directory is created as docker does for a missing WORKDIR.
    let cwd_host = spec.rootfs.join(spec.cwd.trim_start_matches('/'));
    if !cwd_host.exists() {
        std::fs::create_dir_all(&cwd_host)?;
    }
    let hostname = spec.id[..12].to_string();
    let hostname_file = spec.bundle.join("hostname");
    let hosts_file = spec.bundle.join("hosts");
    let resolv_file = spec.bundle.join("resolv.conf");
    std::fs::write(&hostname_file, format!("{hostname}\n"))?;
    std::fs::write(
        &hosts_file,
        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.0.1\t{hostname}\n"),
    )?;
    let resolv = if spec.network == "host" {
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    } else {
        String::new()
    };
    std::fs::write(&resolv_file, resolv)?;
    let container: engine::Container = serde_json::from_value(json!({
        "id": spec.id, "name": format!("build-{hostname}"), "created": "", "path": "", "args": [],
        "config": {}, "host_config": {"NetworkMode": spec.network}, "image_id": "",
        "state": {"Status": "created", "Running": false, "Paused": false, "Restarting": false,
            "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": "", "FinishedAt": ""},
        "monitor_pid": 0, "restart_count": 0
    }))
    .map_err(|e| BuildError::Internal(format!("container record: {e}")))?;
    let inputs = engine::spec::SpecInputs {
        rootfs: spec.rootfs,
        user: &user,
        args: spec.args.clone(),
        env: spec.env.clone(),
        cwd: spec.cwd.to_string(),
        hostname,
        hostname_file: &hostname_file,
        hosts_file: &hosts_file,
        resolv_file: &resolv_file,
        swap_limit_supported: false,
        user_mounts: Vec::new(),
        devices: Vec::new(),
        device_rules: Vec::new(),
    };
    let oci = engine::spec::generate(&container, &inputs);
    std::fs::write(
        spec.bundle.join("config.json"),
        serde_json::to_vec_pretty(&oci).map_err(|e| BuildError::Internal(e.to_string()))?,
    )?;
    let mut child = Command::new(spec.runtime)
        .arg("--root")
        .arg(&spec.runtime_root)
        .arg("run")
        .arg("--bundle")
        .arg(&spec.bundle)
        .arg(spec.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BuildError::Step(format!("starting {}: {e}", spec.runtime.display())))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    std::thread::scope(|s| {
        if let Some(o) = stdout {
            s.spawn(move || pump(o, out));
        }
        if let Some(e) = stderr {
            s.spawn(move || pump(e, out));
        }
    });
    let status = child.wait()?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

fn pump(r: impl std::io::Read, out: &(dyn Fn(String) + Sync)) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => out(String::from_utf8_lossy(&buf).into_owned()),
        }
    }
}
