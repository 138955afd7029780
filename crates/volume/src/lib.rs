//! Volumes: bind mounts, anonymous and named volumes of the `local` driver, tmpfs.
//!
//! - [`spec`]: parse `-v`, `--mount`, `--tmpfs` and the API's `Binds`/`Mounts`/`Tmpfs` into
//!   [`MountRequest`]s (pure).
//! - [`store`]: [`VolumeStore`] — volume records in `D/volumes/metadata.redb`, data in
//!   `D/volumes/<name>/_data`, container references, driver mounts (`-o type=tmpfs,…`).
//! - [`copyup`]: copy an image's content into an empty volume.
//! - [`mounts`]: turn requests into OCI mounts and inspect `Mounts` records
//!   ([`prepare`], [`activate`], [`deactivate`], [`release`], [`resolve`]).
//!
//! The API is synchronous; call it from `spawn_blocking`.

pub mod copyup;
pub mod error;
mod localopts;
pub mod mounts;
pub mod spec;
pub mod store;
mod sys;
pub mod validate;

pub use error::{Result, VolumeError};
pub use mounts::{
    activate, deactivate, prepare, release, resolve, tmpfs_options, ApiMountPoint, MountPoint,
    OciMount, Resolved,
};
pub use spec::{
    collect, from_api_mount, from_api_tmpfs, parse_mount_flag, parse_tmpfs_flag, parse_volume_flag,
    parse_volumes_from, ApiMount, MountRequest, MountType, Origin, Propagation,
};
pub use store::{ListFilters, PruneOptions, PruneReport, UsageData, Volume, VolumeStore};

/// True when `path` is a mount point in the calling process's mount namespace.
pub fn is_mount_point(path: &std::path::Path) -> bool {
    sys::is_mount_point(path)
}
