//! Connection hijacking for attach and exec start (`101 UPGRADED`, then raw bytes).

use crate::util::{empty, Resp};
use hyper::body::Incoming;
use hyper::upgrade::Upgraded;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;

/// Content type for a stream with or without a TTY.
pub fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// Answer `101` and run `f` on the upgraded connection once hyper hands it over.
pub fn upgrade<F, Fut>(req: &mut Request<Incoming>, tty: bool, f: F) -> Resp
where
    F: FnOnce(TokioIo<Upgraded>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    upgrade_on(hyper::upgrade::on(req), tty, f)
}

/// Like [`upgrade`] with the upgrade future already taken from the request.
pub fn upgrade_on<F, Fut>(on: hyper::upgrade::OnUpgrade, tty: bool, f: F) -> Resp
where
    F: FnOnce(TokioIo<Upgraded>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        match on.await {
            Ok(up) => f(TokioIo::new(up)).await,
            Err(e) => tracing::warn!("upgrade failed: {e}"),
        }
    });
    Response::builder()
        .status(101)
        .header("Connection", "Upgrade")
        .header("Upgrade", "tcp")
        .header("Content-Type", content_type(tty))
        .body(empty())
        .unwrap_or_else(|_| Response::new(empty()))
}
