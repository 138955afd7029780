//! Namespaces and IPC mounts shared with the host or with another container:
//! `--pid container:X`, `--ipc container:X|host|none|shareable|private`, `--cgroupns private`.
//!
//! Resolved at every start (the other container's init pid changes when it restarts) and
//! applied to the generated OCI spec.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::types::Container;

/// What a container joins or mounts besides its own namespaces.
#[derive(Debug, Default)]
pub struct Shared {
    /// `(OCI namespace type, /proc/<pid>/ns/<type>)` of namespaces joined.
    pub joins: Vec<(&'static str, PathBuf)>,
    /// Where /dev/shm comes from: `None` = its own tmpfs.
    pub shm_source: Option<PathBuf>,
    /// `--ipc none`: no /dev/shm at all.
    pub no_shm: bool,
    /// `--cgroupns private`: a cgroup namespace of its own.
    pub own_cgroupns: bool,
}

fn mode<'a>(c: &'a Container, key: &str) -> &'a str {
    c.host_config
        .extra
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
}

impl Engine {
    /// The init pid of running container `name` that `what` (e.g. "PID namespace") joins.
    fn running_pid_of(&self, name: &str, what: &str) -> Result<i64> {
        let other = self.get(name).map_err(|_| {
            EngineError::InvalidParameter(format!(
                "cannot join {what} of a non running container: no such container: {name}"
            ))
        })?;
        if !other.state.running || other.state.pid <= 0 {
            return Err(EngineError::Conflict(format!(
                "cannot join {what} of a non running container: {name}"
            )));
        }
        Ok(other.state.pid)
    }

    /// Resolves the shared namespaces of `c` for one start.
    pub(crate) fn shared_namespaces(&self, c: &Container) -> Result<Shared> {
        let mut s = Shared {
            own_cgroupns: mode(c, "CgroupnsMode") == "private",
            ..Shared::default()
        };
        if let Some(other) = mode(c, "PidMode").strip_prefix("container:") {
            let pid = self.running_pid_of(other, "PID namespace")?;
            s.joins
                .push(("pid", PathBuf::from(format!("/proc/{pid}/ns/pid"))));
        }
        match mode(c, "IpcMode") {
            "host" => s.shm_source = Some(PathBuf::from("/dev/shm")),
            "none" => s.no_shm = true,
            "shareable" => {
                // A host-side tmpfs others can bind (a mount of the container's own mount
                // namespace cannot be bound into another one).
                let dir = shm_dir(&self.paths.container_dir(&c.id));
                let size = match c.host_config.shm_size {
                    n if n > 0 => n,
                    _ => 64 * 1024 * 1024,
                };
                mount_shm(&dir, size)?;
                s.shm_source = Some(dir);
            }
            m => {
                if let Some(other) = m.strip_prefix("container:") {
                    // Docker's default IPC mode is private: only a donor made
                    // shareable (or on the host's IPC) may be joined.
                    let donor = self.get(other).ok();
                    let shareable = donor.as_ref().is_none_or(|o| {
                        matches!(
                            o.host_config.extra.get("IpcMode").and_then(Value::as_str),
                            Some("shareable") | Some("host")
                        )
                    });
                    if !shareable {
                        return Err(EngineError::InvalidParameter(format!(
                            "cannot join IPC of container {other}: non-shareable IPC (hint: use \
                             IpcMode:shareable for the donor container)"
                        )));
                    }
                    let pid = self.running_pid_of(other, "IPC namespace")?;
                    s.joins
                        .push(("ipc", PathBuf::from(format!("/proc/{pid}/ns/ipc"))));
                    s.shm_source = match donor {
                        Some(o) if mode(&o, "IpcMode") == "shareable" => {
                            Some(shm_dir(&self.paths.container_dir(&o.id)))
                        }
                        _ => Some(PathBuf::from("/dev/shm")),
                    };
                }
            }
        }
        Ok(s)
    }
}

/// Where a shareable container's /dev/shm lives on the host: `<container dir>/shm`.
pub fn shm_dir(container_dir: &Path) -> PathBuf {
    container_dir.join("shm")
}

fn is_mount_point(p: &Path) -> bool {
    let want = p.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_ref()))
}

/// Mounts a tmpfs of `size` bytes at `dir` unless one is there already.
fn mount_shm(dir: &Path, size: i64) -> Result<()> {
    if is_mount_point(dir) {
        return Ok(());
    }
    crate::modes::private_dir(dir, crate::modes::PRIVATE_DIR)?;
    let c = |s: &str| std::ffi::CString::new(s).map_err(|e| EngineError::Internal(e.to_string()));
    let (src, target, fstype) = (c("shm")?, c(&dir.to_string_lossy())?, c("tmpfs")?);
    let data = c(&format!("mode=1777,size={size}"))?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(EngineError::Internal(format!(
            "mounting the shareable /dev/shm at {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Unmounts a shareable container's /dev/shm (after it exited, before its files go).
pub fn unmount_shm(container_dir: &Path) {
    let dir = shm_dir(container_dir);
    if !is_mount_point(&dir) {
        return;
    }
    if let Ok(t) = std::ffi::CString::new(dir.to_string_lossy().as_bytes()) {
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Applies `s` to an OCI spec made by `spec::generate`.
pub fn apply(spec: &mut Value, s: &Shared) {
    if let Some(list) = spec["linux"]["namespaces"].as_array_mut() {
        for (typ, path) in &s.joins {
            list.retain(|n| n["type"] != *typ);
            list.push(json!({"type": typ, "path": path.display().to_string()}));
        }
        if s.own_cgroupns && !list.iter().any(|n| n["type"] == "cgroup") {
            list.push(json!({"type": "cgroup"}));
        }
    }
    let Some(mounts) = spec["mounts"].as_array_mut() else {
        return;
    };
    let is_default_shm = |m: &Value| m["destination"] == "/dev/shm" && m["source"] == "shm";
    if s.no_shm {
        mounts.retain(|m| !is_default_shm(m));
    } else if let Some(src) = &s.shm_source {
        for m in mounts.iter_mut().filter(|m| is_default_shm(m)) {
            *m = json!({"destination": "/dev/shm", "type": "bind",
                        "source": src.display().to_string(),
                        "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_replace_own_namespaces_and_shm_follows() {
        let mut spec = json!({
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "ipc"}]},
            "mounts": [{"destination": "/dev/shm", "type": "tmpfs", "source": "shm"}],
        });
        let s = Shared {
            joins: vec![
                ("pid", "/proc/7/ns/pid".into()),
                ("ipc", "/proc/7/ns/ipc".into()),
            ],
            shm_source: Some("/proc/7/root/dev/shm".into()),
            no_shm: false,
            own_cgroupns: true,
        };
        apply(&mut spec, &s);
        let ns = spec["linux"]["namespaces"].as_array().unwrap();
        assert_eq!(ns.len(), 4);
        assert!(ns.contains(&json!({"type": "pid", "path": "/proc/7/ns/pid"})));
        assert!(ns.contains(&json!({"type": "cgroup"})));
        assert_eq!(spec["mounts"][0]["source"], "/proc/7/root/dev/shm");
        let mut spec2 = json!({"linux": {"namespaces": []},
            "mounts": [{"destination": "/dev/shm", "type": "tmpfs", "source": "shm"}]});
        apply(
            &mut spec2,
            &Shared {
                no_shm: true,
                ..Shared::default()
            },
        );
        assert!(spec2["mounts"].as_array().unwrap().is_empty());
    }
}
