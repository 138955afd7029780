//! HTTP client for the daemon's Docker Engine API over a unix socket, TCP or TLS
//! (the transport is in `crate::transport`).
//!
//! Plain requests go through hyper's HTTP/1.1 client, one connection per request.
//! Hijacked requests (attach, exec start) are written by hand so that the raw
//! connection can be used after a `101 Switching Protocols` or a `200 OK`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::{anyhow, Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, OnceCell};

use crate::transport::{Conn, DialError, Endpoint, TlsFlags};

/// The newest API version this client speaks.
pub const API_VERSION: &str = "1.44";
/// The oldest API version this client accepts from a daemon.
const MIN_API_VERSION: &str = "1.24";
/// The Host header sent on every request (the daemon ignores it).
const HOST_HEADER: &str = "api.moby.localhost";
/// Default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berthd.sock";

/// The daemon answered with an error status.
#[derive(Debug)]
pub struct DaemonError {
    /// HTTP status code.
    pub status: u16,
    /// The `message` of the error body (or the raw body).
    pub message: String,
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error response from daemon: {}", self.message)
    }
}

impl std::error::Error for DaemonError {}

/// The daemon could not be reached at all.
#[derive(Debug)]
pub struct ConnectError {
    /// The address as the user gave it (`unix:///…`).
    pub host: String,
    /// The operating system's reason (shown with `--debug`-style detail in `source`).
    pub cause: std::io::Error,
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cannot connect to the berth daemon at {}. Is berthd running?",
            self.host
        )
    }
}

/// Returns true when `err` is a daemon error with the given HTTP status.
pub fn is_status(err: &anyhow::Error, status: u16) -> bool {
    err.downcast_ref::<DaemonError>()
        .is_some_and(|e| e.status == status)
}

/// Request body: empty, a full buffer, or a stream of chunks fed through a channel.
pub enum ReqBody {
    /// A complete body.
    Full(Full<Bytes>),
    /// A streamed body (sent chunked); `None` from the channel ends it.
    Stream(mpsc::Receiver<std::io::Result<Bytes>>),
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            ReqBody::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            ReqBody::Stream(rx) => rx
                .poll_recv(cx)
                .map(|item| item.map(|chunk| chunk.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Full(full) => full.is_end_stream(),
            ReqBody::Stream(_) => false,
        }
    }
}

/// A hijacked connection: the raw socket plus bytes already read past the headers.
pub struct Hijacked {
    /// The raw connection.
    pub stream: Conn,
    /// Stream bytes that arrived together with the response headers.
    pub leftover: Vec<u8>,
}

/// A client of one daemon.
pub struct Client {
    host: String,
    endpoint: Endpoint,
    version: OnceCell<String>,
}

/// Resolves the daemon address: flag, then BERTH_HOST, then DOCKER_HOST, then the default.
pub fn resolve_host(flag: Option<&str>) -> String {
    if let Some(h) = flag.filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    for var in ["BERTH_HOST", "DOCKER_HOST"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    DEFAULT_HOST.to_string()
}

/// Percent-encodes a query-string value.
pub fn enc(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parse_version(v: &str) -> (u32, u32) {
    let mut it = v.split('.');
    let major = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (major, minor)
}

impl Client {
    /// Creates a client for `host` (`unix:///path`, a bare absolute path, or
    /// `tcp://host:port`, with TLS as `tls` says).
    pub fn new(host: &str, tls: &TlsFlags) -> Result<Client> {
        Ok(Client {
            host: host.to_string(),
            endpoint: Endpoint::parse(host, tls)?,
            version: OnceCell::new(),
        })
    }

    async fn connect(&self) -> Result<Conn> {
        self.endpoint.connect().await.map_err(|e| match e {
            DialError::Unreachable(cause) => anyhow::Error::new(ConnectError {
                host: self.host.clone(),
                cause,
            }),
            DialError::Tls(e) => anyhow!("error during connect to {}: {e}", self.host),
        })
    }

    /// The API version in use: min(ours, the daemon's from `/_ping`).
    pub async fn version(&self) -> Result<String> {
        let v = self
            .version
            .get_or_try_init(|| async {
                let resp = self.raw(Method::GET, "/_ping", None, None).await?;
                let server = resp
                    .headers()
                    .get("api-version")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or(MIN_API_VERSION)
                    .to_string();
                let chosen = if parse_version(&server) < parse_version(API_VERSION) {
                    server
                } else {
                    API_VERSION.to_string()
                };
                Ok::<String, anyhow::Error>(chosen)
            })
            .await?;
        Ok(v.clone())
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<ReqBody>,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>> {
        self.raw_with(method, path, body, content_type, &[]).await
    }

    async fn raw_with(
        &self,
        method: Method,
        path: &str,
        body: Option<ReqBody>,
        content_type: Option<&str>,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let stream = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake with the daemon")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", HOST_HEADER)
            .header(
                "user-agent",
                concat!("berth-cli/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req.body(body.unwrap_or_else(|| ReqBody::Full(Full::new(Bytes::new()))))?;
        let resp = sender
            .send_request(req)
            .await
            .context("request to the daemon failed")?;
        Ok(resp)
    }

    /// Sends a request to the versioned `path`; error statuses become [`DaemonError`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<ReqBody>,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>> {
        let version = self.version().await?;
        let full = format!("/v{version}{path}");
        let resp = self.raw(method, &full, body, content_type).await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await?.to_bytes();
            return Err(anyhow::Error::new(DaemonError {
                status,
                message: error_message(&bytes, status),
            }));
        }
        Ok(resp)
    }

    /// Like [`Client::request`] with extra headers (e.g. `X-Registry-Auth`).
    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        body: Option<ReqBody>,
        content_type: Option<&str>,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let version = self.version().await?;
        let full = format!("/v{version}{path}");
        let resp = self
            .raw_with(method, &full, body, content_type, headers)
            .await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await?.to_bytes();
            return Err(anyhow::Error::new(DaemonError {
                status,
                message: error_message(&bytes, status),
            }));
        }
        Ok(resp)
    }

    /// Sends a request with an optional JSON body and returns the full answer body.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Bytes> {
        let (body, ct) = match body {
            Some(v) => (
                Some(ReqBody::Full(Full::new(Bytes::from(serde_json::to_vec(
                    v,
                )?)))),
                Some("application/json"),
            ),
            None => (None, None),
        };
        let resp = self.request(method, path, body, ct).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }

    /// Like [`Client::call`], parsing the answer as JSON (`null` when empty).
    pub async fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let bytes = self.call(method, path, body).await?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).context("invalid JSON from the daemon")
    }

    /// `GET path` returning JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.json(Method::GET, path, None).await
    }

    /// Sends a hijacking request (attach, exec start) and returns the raw connection.
    pub async fn hijack(&self, path: &str, body: Option<&Value>) -> Result<Hijacked> {
        let version = self.version().await?;
        let mut stream = self.connect().await?;
        let payload = match body {
            Some(v) => serde_json::to_vec(v)?,
            None => Vec::new(),
        };
        let mut head = format!(
            "POST /v{version}{path} HTTP/1.1\r\nHost: {HOST_HEADER}\r\nUser-Agent: berth-cli/{}\r\n\
             Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n",
            env!("CARGO_PKG_VERSION"),
            payload.len()
        );
        if body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&payload).await?;
        stream.flush().await?;

        let mut buf = Vec::with_capacity(4096);
        let header_end = loop {
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                break pos + 4;
            }
            if buf.len() > 64 * 1024 {
                return Err(anyhow!("daemon sent oversized response headers"));
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(anyhow!("daemon closed the connection before answering"));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("malformed response from the daemon"))?;
        let mut rest = buf[header_end..].to_vec();
        if status == StatusCode::SWITCHING_PROTOCOLS.as_u16() || status == 200 {
            return Ok(Hijacked {
                stream,
                leftover: rest,
            });
        }
        // Error: read the body (Content-Length, or chunked up to the last chunk, or EOF).
        let lower = head.to_ascii_lowercase();
        let content_length = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        let chunked = lower.contains("transfer-encoding: chunked");
        loop {
            if let Some(len) = content_length {
                if rest.len() >= len {
                    rest.truncate(len);
                    break;
                }
            } else if chunked && find(&rest, b"0\r\n\r\n").is_some() {
                break;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
        let text = if chunked { extract_json(&rest) } else { rest };
        Err(anyhow::Error::new(DaemonError {
            status,
            message: error_message(&text, status),
        }))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn extract_json(body: &[u8]) -> Vec<u8> {
    match (
        body.iter().position(|&b| b == b'{'),
        body.iter().rposition(|&b| b == b'}'),
    ) {
        (Some(a), Some(b)) if a < b => body[a..=b].to_vec(),
        _ => body.to_vec(),
    }
}

/// Extracts the `message` of an error body, or the trimmed body text.
pub fn error_message(body: &[u8], status: u16) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return m.to_string();
        }
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        format!("status {status}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(enc("a b/c=d"), "a%20b%2Fc%3Dd");
        assert_eq!(enc("busybox"), "busybox");
    }

    #[test]
    fn error_message_prefers_json() {
        assert_eq!(
            error_message(br#"{"message":"No such image: x"}"#, 404),
            "No such image: x"
        );
        assert_eq!(error_message(b"oops\n", 500), "oops");
        assert_eq!(error_message(b"", 500), "status 500");
    }

    #[test]
    fn resolves_unix_hosts() {
        let plain = TlsFlags::default();
        assert!(Client::new("unix:///tmp/x.sock", &plain).is_ok());
        assert!(Client::new("tcp://127.0.0.1:2375", &plain).is_ok());
        assert!(Client::new("ssh://127.0.0.1", &plain).is_err());
    }
}
