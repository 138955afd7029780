//! The engine's adapter over the `image` crate: image lookup and rootfs snapshots.

use crate::error::{EngineError, Result};
use image::ImageError;
use std::path::{Path, PathBuf};

/// Map an image-crate error to an engine error with Docker's status class.
pub fn map_err(e: ImageError) -> EngineError {
    match e {
        ImageError::NotFound(n) => EngineError::NoSuchImage(n),
        ImageError::Ambiguous(_) | ImageError::Conflict(_) => EngineError::Conflict(e.to_string()),
        ImageError::InvalidReference(_)
        | ImageError::InvalidChange(_)
        | ImageError::InvalidLayer { .. }
        | ImageError::InvalidDigest(_)
        | ImageError::InvalidArchive(_) => EngineError::InvalidParameter(e.to_string()),
        other => EngineError::Internal(other.to_string()),
    }
}

/// Image store + snapshotter pair rooted at `D/image`.
pub struct Images {
    /// The image store (shared with the API for image endpoints).
    pub store: std::sync::Arc<image::ImageStore>,
    /// The overlay snapshotter.
    pub snapshots: image::Snapshotter,
}

impl Images {
    /// Open both under `root` (`D/image`).
    pub fn open(root: &Path) -> Result<Self> {
        let store = std::sync::Arc::new(image::ImageStore::open(root).map_err(map_err)?);
        let snapshots = image::Snapshotter::new(root).map_err(map_err)?;
        Ok(Images { store, snapshots })
    }

    /// Resolve a name or id to its record.
    pub fn get(&self, name: &str) -> Result<image::ImageRecord> {
        self.store.get(name).map_err(|e| match e {
            ImageError::NotFound(_) => EngineError::NoSuchImage(familiar(name)),
            other => map_err(other),
        })
    }

    /// The layer dirs of an image, lowest first.
    pub fn lowers(&self, rec: &image::ImageRecord) -> Result<Vec<PathBuf>> {
        self.store.layer_dirs(rec).map_err(map_err)
    }

    /// Prepare (create and mount) the rootfs snapshot `key`; returns the rootfs path.
    pub fn prepare(&self, key: &str, lowers: &[PathBuf]) -> Result<PathBuf> {
        self.snapshots.prepare(key, lowers).map_err(map_err)
    }

    /// Mount an existing snapshot again; returns the rootfs path.
    pub fn mount(&self, key: &str, lowers: &[PathBuf]) -> Result<PathBuf> {
        self.snapshots.mount(key, lowers).map_err(map_err)
    }

    /// Unmount a snapshot (kept on disk).
    pub fn unmount(&self, key: &str) -> Result<()> {
        self.snapshots.unmount(key).map_err(map_err)
    }

    /// Remove a snapshot (unmounting it first).
    pub fn remove(&self, key: &str) -> Result<()> {
        self.snapshots.remove(key).map_err(map_err)
    }
}

/// `busybox` → `busybox:latest` for error messages, like Docker.
pub fn familiar(name: &str) -> String {
    match image::reference::Reference::parse(name) {
        Ok(r) => r.familiar(),
        Err(_) => name.to_string(),
    }
}
