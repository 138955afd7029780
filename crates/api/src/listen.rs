//! Listeners of the API (unix sockets, TCP, TCP+TLS) and the one connection loop they share:
//! a bounded number of connections, a header read timeout for idle and slow clients (the
//! timer runs only while hyper waits for a request head, so long streams — logs -f, events,
//! wait, attach/exec hijacks — are never cut), and a TLS handshake under the same timeout.

use crate::router;
use engine::Engine;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
pub use tokio_rustls::TlsAcceptor;

/// Connection limits shared by every listener of one daemon.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time a client gets to send a complete request head (also the idle keep-alive timeout
    /// and the TLS handshake timeout).
    pub header_timeout: Duration,
    /// Connections served at once, all listeners together; further clients wait in the
    /// kernel's accept queue.
    pub limit: Arc<Semaphore>,
}

impl ServeOptions {
    /// Options with `header_timeout` and at most `max_connections` connections.
    pub fn new(header_timeout: Duration, max_connections: usize) -> ServeOptions {
        ServeOptions {
            header_timeout,
            limit: Arc::new(Semaphore::new(max_connections.max(1))),
        }
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions::new(Duration::from_secs(30), 4096)
    }
}

/// One bound API listener.
pub enum Listener {
    /// A unix socket.
    Unix(UnixListener),
    /// A TCP socket, with TLS when an acceptor is given.
    Tcp(TcpListener, Option<TlsAcceptor>),
}

/// What a plain-HTTP client gets on a TLS port.
const PLAIN_ON_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nThis port expects TLS: the client sent plain HTTP.\n";

/// Serves `engine` on `listener` until the task is dropped.
pub async fn serve_listener(engine: Arc<Engine>, listener: Listener, opts: ServeOptions) {
    loop {
        let permit = match opts.limit.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return,
        };
        let accepted = match &listener {
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
            Listener::Tcp(l, tls) => l.accept().await.map(|(s, _)| Conn::Tcp(s, tls.clone())),
        };
        let conn = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let engine = engine.clone();
        let timeout = opts.header_timeout;
        tokio::spawn(async move {
            match conn {
                Conn::Unix(s) => serve_io(engine, s, timeout).await,
                Conn::Tcp(s, None) => {
                    let _ = s.set_nodelay(true);
                    serve_io(engine, s, timeout).await
                }
                Conn::Tcp(s, Some(acceptor)) => {
                    let _ = s.set_nodelay(true);
                    serve_tls(engine, s, acceptor, timeout).await
                }
            }
            drop(permit);
        });
    }
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream, Option<TlsAcceptor>),
}

async fn serve_tls(
    engine: Arc<Engine>,
    mut s: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    timeout: Duration,
) {
    // A TLS client starts with a handshake record (0x16); anything else is refused in words.
    let mut first = [0u8; 1];
    match tokio::time::timeout(timeout, s.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] != 0x16 => {
            let _ = s.write_all(PLAIN_ON_TLS).await;
            let _ = s.shutdown().await;
            return;
        }
        Ok(Ok(1)) => {}
        _ => return,
    }
    match tokio::time::timeout(timeout, acceptor.accept(s)).await {
        Ok(Ok(tls)) => serve_io(engine, tls, timeout).await,
        Ok(Err(e)) => tracing::info!("TLS handshake refused: {e}"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}

/// Serves HTTP/1.1 (with upgrades for hijacked streams) on one connection.
async fn serve_io<S>(engine: Arc<Engine>, io: S, timeout: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let engine = engine.clone();
        async move { Ok::<_, std::convert::Infallible>(router::route(engine, req).await) }
    });
    if let Err(e) = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades()
        .await
    {
        tracing::debug!("connection: {e}");
    }
}
