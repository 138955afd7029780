//! Test harness shared by the end-to-end tests: starts a private `berthd` (own data root,
//! exec root and socket, so tests run in parallel), drives it with the `berth` CLI and the real
//! docker CLI, and removes everything it made when dropped.

pub mod daemon;
pub mod netcfg;
pub mod pty;

pub use daemon::{busybox_tar, capture, docker_cli, unique, Daemon, Out};
