//! The registry server: the OCI distribution spec v1.1 over HTTP/1.1 (hyper).
//!
//! [`serve`] runs until the process ends; [`spawn`] binds and runs the server as a tokio task
//! and returns the bound address (tests use port 0).

mod auth;
pub mod errors;
mod handlers;
pub mod storage;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::error::ServerError;

pub use auth::Htpasswd;

/// Shared state of a running server.
pub(crate) struct State {
    pub storage: storage::Storage,
    pub auth: Option<Htpasswd>,
}

/// Serves the registry on `listen` with storage under `root`; with `htpasswd` (an htpasswd
/// file of bcrypt hashes) every request needs basic auth. Runs until the process ends.
pub async fn serve(
    listen: SocketAddr,
    root: PathBuf,
    htpasswd: Option<PathBuf>,
) -> Result<(), ServerError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| ServerError::Bind(listen, e))?;
    let state = open_state(root, htpasswd)?;
    run(listener, state).await;
    Ok(())
}

/// Binds `listen` (port 0 picks a free port), then serves in a background task. Returns the
/// bound address and the task (abort it to stop the server).
pub async fn spawn(
    listen: SocketAddr,
    root: PathBuf,
    htpasswd: Option<PathBuf>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServerError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| ServerError::Bind(listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::Bind(listen, e))?;
    let state = open_state(root, htpasswd)?;
    Ok((addr, tokio::spawn(run(listener, state))))
}

fn open_state(root: PathBuf, htpasswd: Option<PathBuf>) -> Result<Arc<State>, ServerError> {
    let storage =
        storage::Storage::open(&root).map_err(|e| ServerError::Storage(root.clone(), e))?;
    let auth = match htpasswd {
        Some(p) => Some(Htpasswd::load(&p)?),
        None => None,
    };
    Ok(Arc::new(State { storage, auth }))
}

async fn run(listener: TcpListener, state: Arc<State>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                // EMFILE and the like: back off a little and keep serving.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handlers::handle(state, req).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
