//! How the CLI reaches the daemon: a unix socket, plain TCP, or TCP with TLS (mutual when a
//! client certificate is given), with the docker CLI's flags and environment
//! (`--tls`, `--tlsverify`, `--tlscacert/--tlscert/--tlskey`, `DOCKER_TLS_VERIFY`,
//! `DOCKER_CERT_PATH`, `DOCKER_TLS`).

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{anyhow, bail, Context as _, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// TLS settings as the user gave them (flags; the environment fills what is unset).
#[derive(Debug, Clone, Default)]
pub struct TlsFlags {
    /// `--tls`: use TLS without verifying the daemon's certificate.
    pub tls: bool,
    /// `--tlsverify`: use TLS and verify the daemon against the CA.
    pub verify: bool,
    /// `--tlscacert`.
    pub ca: Option<PathBuf>,
    /// `--tlscert`.
    pub cert: Option<PathBuf>,
    /// `--tlskey`.
    pub key: Option<PathBuf>,
}

impl TlsFlags {
    /// Applies the docker CLI's environment: `DOCKER_TLS_VERIFY` (non-empty = verify),
    /// `DOCKER_TLS` (non-empty = TLS), `DOCKER_CERT_PATH` (default `~/.docker`) for
    /// `ca.pem`, `cert.pem`, `key.pem` when no explicit file was given.
    pub fn with_env(mut self) -> TlsFlags {
        let set = |v: &str| std::env::var(v).is_ok_and(|s| !s.is_empty());
        self.verify |= set("DOCKER_TLS_VERIFY");
        self.tls |= set("DOCKER_TLS");
        if !(self.tls || self.verify) {
            return self;
        }
        let dir = std::env::var_os("DOCKER_CERT_PATH")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")));
        if let Some(dir) = dir {
            let pick = |given: &mut Option<PathBuf>, name: &str| {
                if given.is_none() && dir.join(name).exists() {
                    *given = Some(dir.join(name));
                }
            };
            pick(&mut self.ca, "ca.pem");
            pick(&mut self.cert, "cert.pem");
            pick(&mut self.key, "key.pem");
        }
        self
    }

    fn enabled(&self) -> bool {
        self.tls || self.verify
    }
}

/// Where the daemon listens, ready to connect to.
#[derive(Clone)]
pub enum Endpoint {
    /// A unix socket path.
    Unix(PathBuf),
    /// `host:port` over plain TCP, or over TLS when a connector is set.
    Tcp {
        /// `host:port`.
        addr: String,
        /// TLS client setup and the name the daemon's certificate must carry.
        tls: Option<(TlsConnector, ServerName<'static>)>,
    },
}

impl Endpoint {
    /// Parses `unix:///path`, a bare absolute path, or `tcp://host[:port]` (port 2376 with
    /// TLS, 2375 without, as the docker CLI).
    pub fn parse(host: &str, flags: &TlsFlags) -> Result<Endpoint> {
        if let Some(path) = host.strip_prefix("unix://") {
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if host.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(host)));
        }
        let Some(rest) = host.strip_prefix("tcp://") else {
            bail!("unsupported daemon address {host:?}: use unix:///path or tcp://host:port");
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            bail!("invalid daemon address {host:?}: expected tcp://host:port");
        }
        let (name, addr) = split_host_port(rest, if flags.enabled() { 2376 } else { 2375 })?;
        let tls = if flags.enabled() {
            let server = ServerName::try_from(name.clone())
                .map_err(|_| anyhow!("invalid daemon host name {name:?}"))?;
            Some((TlsConnector::from(client_config(flags)?), server))
        } else {
            None
        };
        Ok(Endpoint::Tcp { addr, tls })
    }

    /// Opens one connection.
    pub async fn connect(&self) -> Result<Conn, DialError> {
        match self {
            Endpoint::Unix(p) => UnixStream::connect(p)
                .await
                .map(Conn::Unix)
                .map_err(DialError::Unreachable),
            Endpoint::Tcp { addr, tls } => {
                let s = TcpStream::connect(addr)
                    .await
                    .map_err(DialError::Unreachable)?;
                let _ = s.set_nodelay(true);
                match tls {
                    None => Ok(Conn::Tcp(s)),
                    Some((connector, name)) => connector
                        .connect(name.clone(), s)
                        .await
                        .map(|t| Conn::Tls(Box::new(t)))
                        .map_err(DialError::Tls),
                }
            }
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum DialError {
    /// Nothing listens there (or the socket cannot be opened).
    Unreachable(io::Error),
    /// The TLS handshake failed (bad or missing certificate, not a TLS port…).
    Tls(io::Error),
}

/// `host[:port]` or `[v6]:port` → (host name for TLS, `host:port` to dial).
fn split_host_port(s: &str, default_port: u16) -> Result<(String, String)> {
    if let Some(v6) = s.strip_prefix('[') {
        let (ip, tail) = v6
            .split_once(']')
            .ok_or_else(|| anyhow!("invalid daemon address {s:?}"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p
                .parse::<u16>()
                .with_context(|| format!("invalid port in {s:?}"))?,
            None if tail.is_empty() => default_port,
            None => bail!("invalid daemon address {s:?}"),
        };
        return Ok((ip.to_string(), format!("[{ip}]:{port}")));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => {
            let port = p
                .parse::<u16>()
                .with_context(|| format!("invalid port in {s:?}"))?;
            let h = if h.is_empty() { "localhost" } else { h };
            Ok((h.to_string(), format!("{h}:{port}")))
        }
        None => Ok((s.to_string(), format!("{s}:{default_port}"))),
    }
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("could not read CA certificate {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("could not parse certificates in {}", path.display()))?;
    if certs.is_empty() {
        bail!("no certificate found in {}", path.display());
    }
    Ok(certs)
}

/// The rustls client setup: the CA to verify the daemon (or no verification for `--tls`
/// alone, as the docker CLI), and the client certificate when one is given.
fn client_config(flags: &TlsFlags) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup")?;
    let builder = if flags.verify {
        let ca = flags.ca.as_ref().ok_or_else(|| {
            anyhow!("--tlsverify needs a CA certificate (--tlscacert or DOCKER_CERT_PATH/ca.pem)")
        })?;
        let mut roots = RootCertStore::empty();
        for c in read_pem_certs(ca)? {
            roots
                .add(c)
                .with_context(|| format!("bad CA certificate in {}", ca.display()))?;
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
    };
    let config = match (&flags.cert, &flags.key) {
        (Some(cert), Some(key)) => {
            let chain = read_pem_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("could not read TLS key {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("client certificate and key do not match")?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => bail!("--tlscert given without --tlskey"),
        (None, Some(_)) => bail!("--tlskey given without --tlscert"),
    };
    Ok(Arc::new(config))
}

/// `--tls` without `--tlsverify`: the docker CLI encrypts but does not check who the daemon
/// is. Signatures are still checked, so the handshake itself is sound.
#[derive(Debug)]
struct AnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One connection to the daemon, whatever the transport.
pub enum Conn {
    /// Unix socket.
    Unix(UnixStream),
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        let plain = TlsFlags::default();
        assert!(matches!(
            Endpoint::parse("unix:///tmp/x.sock", &plain).unwrap(),
            Endpoint::Unix(p) if p == Path::new("/tmp/x.sock")
        ));
        match Endpoint::parse("tcp://127.0.0.1", &plain).unwrap() {
            Endpoint::Tcp { addr, tls } => {
                assert_eq!(addr, "127.0.0.1:2375");
                assert!(tls.is_none());
            }
            Endpoint::Unix(_) => panic!("unix"),
        }
        assert_eq!(
            split_host_port("[::1]:9", 1).unwrap(),
            ("::1".to_string(), "[::1]:9".to_string())
        );
        assert!(Endpoint::parse("ssh://x", &plain).is_err());
        assert!(Endpoint::parse("tcp://h:notaport", &plain).is_err());
        let verify = TlsFlags {
            verify: true,
            ..TlsFlags::default()
        };
        let err = Endpoint::parse("tcp://127.0.0.1:1", &verify).err().unwrap();
        assert!(err.to_string().contains("CA certificate"), "{err}");
    }
}
