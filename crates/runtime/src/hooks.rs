//! OCI lifecycle hooks: each hook is executed with its `args` and `env`, the container's state
//! JSON on stdin, and killed (and reported as failed) when its `timeout` expires.

use crate::error::{Error, Result};
use oci_spec::runtime::{Hook, Hooks, Spec};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The lifecycle points at which hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Deprecated `prestart` (runtime namespace, after the namespaces exist).
    Prestart,
    /// `createRuntime` (runtime namespace, same point as prestart).
    CreateRuntime,
    /// `createContainer` (container namespaces, before pivot_root).
    CreateContainer,
    /// `startContainer` (inside the container, right before the user process).
    StartContainer,
    /// `poststart` (runtime namespace, after start).
    Poststart,
    /// `poststop` (runtime namespace, in delete).
    Poststop,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    fn of(self, h: &Hooks) -> Option<&Vec<Hook>> {
        match self {
            Kind::Prestart => h.prestart().as_ref(),
            Kind::CreateRuntime => h.create_runtime().as_ref(),
            Kind::CreateContainer => h.create_container().as_ref(),
            Kind::StartContainer => h.start_container().as_ref(),
            Kind::Poststart => h.poststart().as_ref(),
            Kind::Poststop => h.poststop().as_ref(),
        }
    }
}

/// The hooks of `kind` in `spec` (empty when none).
pub fn list(spec: &Spec, kind: Kind) -> &[Hook] {
    spec.hooks()
        .as_ref()
        .and_then(|h| kind.of(h))
        .map(|v| v.as_slice())
        .unwrap_or(&[])
}

/// True when `spec` has any hook of the given kinds.
pub fn any(spec: &Spec, kinds: &[Kind]) -> bool {
    kinds.iter().any(|k| !list(spec, *k).is_empty())
}

/// The state document hooks receive on stdin.
pub fn state_json(spec: &Spec, id: &str, status: &str, pid: i32, bundle: &Path) -> String {
    serde_json::json!({
        "ociVersion": spec.version(),
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": spec.annotations().clone().unwrap_or_default(),
    })
    .to_string()
}

/// Runs every hook of `kind` in order; the first failure is returned as an error.
pub fn run(spec: &Spec, kind: Kind, state: &str) -> Result<()> {
    for h in list(spec, kind) {
        run_one(h, state).map_err(|e| Error::Child(format!("{} hook {e}", kind.name())))?;
    }
    Ok(())
}

fn run_one(h: &Hook, state: &str) -> std::result::Result<(), String> {
    let path = h.path();
    let mut cmd = Command::new(path);
    let args = h.args().clone().unwrap_or_default();
    if let Some((first, rest)) = args.split_first() {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(mut i) = child.stdin.take() {
        // A hook may exit without reading its stdin: EPIPE is not a failure.
        let _ = i.write_all(state.as_bytes());
    }
    let timeout = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                if st.success() {
                    return Ok(());
                }
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Err(format!(
                    "{}: {st}{}{}",
                    path.display(),
                    if err.trim().is_empty() { "" } else { ": " },
                    err.trim()
                ));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("{}: wait: {e}", path.display())),
        }
        if let Some(t) = timeout {
            if t0.elapsed() >= t {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{}: timed out after {}s",
                    path.display(),
                    t.as_secs()
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
