//! berth's OCI runtime: creates and runs containers from OCI bundles (config.json) with real
//! namespaces, mounts and cgroups. Single-threaded by design so that fork/clone stay safe.
//!
//! The entry points are in [`container`]: [`container::create`], [`container::start`],
//! [`container::run`], [`container::exec`], [`container::kill`], [`container::delete`],
//! [`container::state`], [`container::list`]; [`update::update`] changes resources live.

pub mod bpf;
pub mod cgroups;
pub mod container;
pub mod devfilter;
pub mod error;
pub mod fsutil;
pub mod hooks;
pub mod init;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod state;
pub mod stats;
pub mod sync;
pub mod terminal;
pub mod timens;
pub mod update;
pub mod userns;
pub mod util;

pub use container::{CreateOptions, ExecOptions};
pub use error::{Error, Result};
pub use oci_spec;
pub use state::{OciState, Status};
