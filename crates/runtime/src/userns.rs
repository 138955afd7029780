//! User namespaces: `linux.uidMappings`/`gidMappings` for a new `user` namespace.
//!
//! The init is cloned with `CLONE_NEWUSER` together with its other new namespaces (so they are
//! owned by the new user namespace); the runtime, still root on the host, writes the id maps
//! of the child before its "go", and the child then becomes root of its namespace.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::{LinuxIdMapping, Process, Spec};

/// The id maps of a new user namespace, as written to /proc/<pid>/{uid,gid}_map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maps {
    /// uid_map text.
    pub uid: String,
    /// gid_map text.
    pub gid: String,
}

fn map_text(v: &[LinuxIdMapping]) -> String {
    v.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

impl Maps {
    /// Checks the mappings against the namespaces: both maps are needed with a new user
    /// namespace and meaningless without one. None when there is no new user namespace.
    pub fn from_spec(spec: &Spec, new_user: bool) -> Result<Option<Maps>> {
        let l = spec.linux().as_ref();
        let uids = l.and_then(|l| l.uid_mappings().clone()).unwrap_or_default();
        let gids = l.and_then(|l| l.gid_mappings().clone()).unwrap_or_default();
        if !new_user {
            if !uids.is_empty() || !gids.is_empty() {
                return Err(Error::Config(
                    "linux.uidMappings/gidMappings need a new user namespace".into(),
                ));
            }
            return Ok(None);
        }
        if uids.is_empty() || gids.is_empty() {
            return Err(Error::Config(
                "a user namespace needs linux.uidMappings and linux.gidMappings".into(),
            ));
        }
        if uids.iter().chain(&gids).any(|m| m.size() == 0) {
            return Err(Error::Config("id mapping of size 0".into()));
        }
        Ok(Some(Maps {
            uid: map_text(&uids),
            gid: map_text(&gids),
        }))
    }

    /// Writes the maps of the freshly cloned `pid`.
    pub fn write(&self, pid: i32) -> Result<()> {
        write_proc(pid, "uid_map", &self.uid)?;
        write_proc(pid, "gid_map", &self.gid)
    }
}

fn write_proc(pid: i32, f: &str, t: &str) -> Result<()> {
    std::fs::write(format!("/proc/{pid}/{f}"), t).ctx(|| format!("write {f} {:?}", t.trim_end()))
}

/// Sets the oom_score_adj of an init in a user namespace (lowering it needs privileges
/// outside the namespace, so the runtime does it).
pub fn write_oom_score_adj(pid: i32, p: &Process) -> Result<()> {
    match p.oom_score_adj() {
        Some(v) => write_proc(pid, "oom_score_adj", &v.to_string()),
        None => Ok(()),
    }
}

/// In the child, once the maps are written: become uid/gid 0 of the namespace.
pub fn become_root() -> Result<()> {
    // SAFETY: plain credential syscalls.
    if unsafe { libc::setresgid(0, 0, 0) } != 0 {
        return Err(Error::last(
            "setresgid 0 in the user namespace (is gid 0 mapped?)",
        ));
    }
    // SAFETY: as above.
    if unsafe { libc::setresuid(0, 0, 0) } != 0 {
        return Err(Error::last(
            "setresuid 0 in the user namespace (is uid 0 mapped?)",
        ));
    }
    Ok(())
}
