//! Disk usage of containers (`ps -s`, `inspect -s`, `system df`): the bytes of the writable
//! layer (`SizeRw`) and of the whole root filesystem with the image (`SizeRootFs`).

use crate::engine::Engine;
use crate::types::Container;

/// A container's sizes in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerSize {
    /// Regular-file bytes of the writable (upper) layer.
    pub rw: u64,
    /// `rw` plus the image's unpacked size.
    pub root_fs: u64,
}

impl Engine {
    /// The sizes of container `c` (walks its upper directory).
    pub fn container_size(&self, c: &Container) -> ContainerSize {
        let rw = self
            .images
            .snapshots
            .upper_dir(&c.id)
            .map(|d| image::store::dir_size(&d))
            .unwrap_or(0);
        let image = self.images.get(&c.image_id).map(|i| i.size).unwrap_or(0);
        ContainerSize {
            rw,
            root_fs: rw + image,
        }
    }
}
