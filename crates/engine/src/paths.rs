//! Where the engine keeps each container's files.

use std::path::{Path, PathBuf};

/// Path layout under the data root (D) and exec root (E).
#[derive(Debug, Clone)]
pub struct Paths {
    /// D.
    pub data_root: PathBuf,
    /// E.
    pub exec_root: PathBuf,
}

impl Paths {
    /// `D/containers/<id>`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.data_root.join("containers").join(id)
    }
    /// `D/containers/<id>/bundle`.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("bundle")
    }
    /// `D/containers/<id>/<id>-json.log`.
    pub fn log(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }
    /// `D/containers/<id>/exit.json`.
    pub fn exit_file(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("exit.json")
    }
    /// `E/m/<id12>`.
    pub fn socket_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join("m").join(&id[..12.min(id.len())])
    }
    /// `E/runtime`.
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime")
    }
    /// `E/exec/<exec-id12>` (exec process files).
    pub fn exec_dir(&self, exec_id: &str) -> PathBuf {
        self.exec_root
            .join("exec")
            .join(&exec_id[..12.min(exec_id.len())])
    }
    /// `D/engine.redb`.
    pub fn db(&self) -> PathBuf {
        self.data_root.join("engine.redb")
    }
    /// `D/image`.
    pub fn image_root(&self) -> PathBuf {
        self.data_root.join("image")
    }
}

/// Whether the host's memory cgroup (v1) supports swap limits.
pub fn swap_limit_supported() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
}
