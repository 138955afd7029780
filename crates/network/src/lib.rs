//! Container networks: bridge, IPAM, NAT, DNS, macvlan, ipvlan.
//!
//! The engine drives it like this (see docs/INTERFACES.md, "network crate"):
//! 1. `netns::create(&cfg.netns_path(id))` before the container starts (the OCI config then
//!    joins `linux.namespaces[{type: network, path}]`); `host` = no netns namespace entry;
//!    `container:<id>` = the other container's netns path; `none` = a netns with loopback only.
//! 2. `mgr.attach(network, AttachRequest{..}) -> Endpoint` per network;
//! 3. `mgr.detach` / `mgr.detach_all(id)` then `netns::remove` on removal;
//! 4. `mgr.restore()` after a daemon restart, `mgr.cleanup_all()` at test-daemon shutdown.

pub mod cmd;
pub mod config;
pub mod dns;
pub mod error;
pub mod files;
pub mod ipam;
mod link;
pub mod manager;
pub mod mode;
mod netlink;
pub mod netns;
mod nft;
pub mod ports;
pub mod store;

pub use config::Config;
pub use error::{NetworkError, Result};
pub use manager::{AttachRequest, CreateRequest, Endpoint, NetworkManager, RestoreReport};
pub use mode::NetworkMode;
pub use ports::{parse_publish, publish_all, PortBinding, PortMapping, Proto};
pub use store::{Driver, EndpointRecord, NetworkRecord};
