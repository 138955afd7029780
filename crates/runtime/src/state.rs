//! Container state on disk (`<root>/<id>/state.json`) and the derived OCI status.

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::util;
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// OCI container status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, init blocked before exec.
    Created,
    /// Running.
    Running,
    /// Frozen.
    Paused,
    /// Init exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What the runtime remembers about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// Container id.
    pub id: String,
    /// Host pid of the init process.
    pub pid: i32,
    /// Start time of the init (pid reuse guard).
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    /// The container's cgroups.
    pub cgroup: Option<Cgroup>,
    /// The config the container was created with.
    pub config: Spec,
}

/// The OCI state document (`state` command output).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    /// Spec version.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Status.
    pub status: Status,
    /// Init pid (0 when stopped).
    pub pid: i32,
    /// Bundle path.
    pub bundle: PathBuf,
    /// Rootfs path.
    pub rootfs: PathBuf,
    /// Creation time.
    pub created: String,
    /// Owner (empty: root).
    pub owner: String,
    /// Annotations from the config.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// Validates a container id (one path component, no surprises).
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!("invalid container id {id:?}")))
    }
}

/// The state dir of `id` under `root`.
pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

impl Saved {
    /// Loads the state of `id`.
    pub fn load(root: &Path, id: &str) -> Result<Saved> {
        check_id(id)?;
        let p = dir(root, id).join("state.json");
        let data = match std::fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.into()))
            }
            Err(e) => return Err(Error::io(format!("read {}", p.display()), e)),
        };
        serde_json::from_slice(&data)
            .map_err(|e| Error::State(format!("corrupt state {}: {e}", p.display())))
    }

    /// Writes the state atomically.
    pub fn save(&self, root: &Path) -> Result<()> {
        let data = serde_json::to_vec(self).map_err(|e| Error::State(e.to_string()))?;
        util::write_atomic(&dir(root, &self.id).join("state.json"), &data)
    }

    /// The exec fifo path.
    pub fn fifo(root: &Path, id: &str) -> PathBuf {
        dir(root, id).join("exec.fifo")
    }

    /// Current status, derived from the init process, the fifo and the freezer.
    pub fn status(&self, root: &Path) -> Status {
        if !util::alive(self.pid, self.pid_start) {
            return Status::Stopped;
        }
        if Saved::fifo(root, &self.id).exists() {
            return Status::Created;
        }
        if self.cgroup.as_ref().is_some_and(|c| c.is_frozen()) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The OCI state document.
    pub fn oci(&self, root: &Path) -> OciState {
        let status = self.status(root);
        OciState {
            oci_version: self.config.version().clone(),
            id: self.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: String::new(),
            annotations: self.config.annotations().clone().unwrap_or_default(),
        }
    }
}

/// Reads a file if it exists (helper for callers needing raw state).
pub fn read_opt(p: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(p) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx(|| format!("read {}", p.display())),
    }
}
