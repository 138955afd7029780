//! berth's per-container monitor (like conmon / a containerd shim).
//!
//! The library holds the client side used by the engine ([`client`]) and the formats
//! shared with the `berth-monitor` binary: the docker json-file log ([`log`]), the exit
//! record ([`exit`]), the attach stream framing ([`frame`]) and RFC 3339 timestamps
//! ([`timefmt`]).

pub mod client;
pub mod error;
pub mod exit;
pub mod frame;
pub mod log;
pub mod logfile;
pub mod timefmt;

pub use client::{
    attach, attach_path, ctl_path, ping, resize, spawn, start, MonitorConfig, Spawned,
};
pub use error::MonitorError;
pub use exit::{read_exit, ExitRecord};
pub use frame::{ATTACH_STDERR, ATTACH_STDIN, ATTACH_STDOUT};
