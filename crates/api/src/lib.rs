//! Docker Engine API (1.44, minimum 1.24) served on unix sockets over the [`engine`].
#![recursion_limit = "256"]

mod archive;
mod bodypipe;
mod build;
mod containers;
mod df;
mod events;
mod exec;
pub mod filters;
mod hijack;
mod image_prune;
mod images;
pub mod listen;
mod networks;
pub mod registry;
mod router;
mod system;
pub mod tls;
pub mod util;
mod volumes;

use engine::Engine;
use std::sync::Arc;
use tokio::net::UnixListener;

/// Highest API version served.
pub const API_VERSION: &str = "1.44";
/// Lowest API version served.
pub const MIN_API_VERSION: &str = "1.24";
/// The daemon version reported by `/version`.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Serve the API on a unix `listener` with the default limits until the task is dropped
/// (see [`listen::serve_listener`] for TCP/TLS and explicit limits).
pub async fn serve(engine: Arc<Engine>, listener: UnixListener) {
    listen::serve_listener(
        engine,
        listen::Listener::Unix(listener),
        listen::ServeOptions::default(),
    )
    .await
}
