//! Docker Engine API (1.44, minimum 1.24) served on unix sockets over the [`engine`].
#![recursion_limit = "256"]

mod archive;
mod bodypipe;
mod build;
mod containers;
mod events;
mod exec;
mod hijack;
mod image_prune;
mod images;
mod networks;
pub mod registry;
mod router;
mod system;
pub mod util;
mod volumes;

use engine::Engine;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::UnixListener;

/// Highest API version served.
pub const API_VERSION: &str = "1.44";
/// Lowest API version served.
pub const MIN_API_VERSION: &str = "1.24";
/// The daemon version reported by `/version`.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Serve the API on `listener` until the task is dropped.
pub async fn serve(engine: Arc<Engine>, listener: UnixListener) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let engine = engine.clone();
                async move { Ok::<_, std::convert::Infallible>(router::route(engine, req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await
            {
                tracing::debug!("connection: {e}");
            }
        });
    }
}
