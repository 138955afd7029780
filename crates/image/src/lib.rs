//! berth's image store.
//!
//! - [`reference`]: Docker image references and their normalisation.
//! - [`content`]: blobs by sha256 under `D/image/content/sha256/`.
//! - [`store`]: [`ImageStore`] — image records and tags in `D/image/metadata.redb`,
//!   `docker import`, lookup, tag, remove with reference-counted garbage collection.
//! - [`unpack`]: safe layer extraction (no path escapes, whiteouts to overlay form).
//! - [`snapshot`]: [`Snapshotter`] — writable overlayfs mounts over an image's layers.
//! - [`diff`]: a directory (overlay upper dir or merged rootfs) written back as a layer tar.
//!
//! The API is synchronous; every type is `Send + Sync` so the engine can share an
//! `Arc<ImageStore>` and call it from `spawn_blocking`.

#![warn(missing_docs)]

pub mod archive;
pub mod changes;
pub mod compression;
pub mod config;
pub mod content;
pub mod diff;
pub mod digest;
pub mod error;
pub mod manifest;
mod metadata;
pub mod reference;
pub mod snapshot;
pub mod store;
pub mod unpack;

pub use config::{ContainerConfig, History, ImageConfig, RootFs};
pub use content::ContentStore;
pub use digest::Digest;
pub use error::{ImageError, Result};
pub use reference::{Reference, ReferenceError};
pub use snapshot::Snapshotter;
pub use store::{
    CommitOptions, DeleteItem, ImageRecord, ImageStore, ImportOptions, NewImage, StagedLayer,
};

/// Compile-time check: the store and snapshotter can be shared across threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ImageStore>();
    send_sync::<Snapshotter>();
    send_sync::<ContentStore>();
};
