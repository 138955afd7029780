//! berth's daemon core: container records (redb), lifecycle, monitors, exec, logs and exit
//! watching. The `api` crate serves it over the Docker Engine API.

pub mod archive;
pub mod cgroups;
pub mod commit;
pub mod devices;
pub mod engine;
pub mod error;
pub mod events;
pub mod exec;
pub mod fields;
pub mod files;
pub mod health;
pub mod hostopts;
pub mod images;
pub mod init;
pub mod lifecycle;
pub mod logconfig;
pub mod logread;
pub mod logs;
pub mod modes;
pub mod mounts;
pub mod names;
pub mod networking;
pub mod paths;
mod pidfd;
mod reconcile;
pub mod resources;
pub mod restart;
pub mod seccomp;
pub mod security;
pub mod shared_ns;
pub mod signal;
pub mod spec;
pub mod stats;
pub mod storage_opt;
pub mod store;
pub mod types;
pub mod update;
pub mod usage;
pub mod user;

pub use engine::{Engine, EngineConfig};
pub use error::{EngineError, Result};
pub use lifecycle::{WaitCondition, WaitHandle};
pub use logs::LogOptions;
pub use types::{Container, CreateRequest, ExecConfig, ExecInspect, Status};
