//! berthd's API listeners: `-H` addresses (unix sockets and `tcp://`), TLS flags as dockerd
//! has them (`--tls`, `--tlsverify`, `--tlscacert/--tlscert/--tlskey`), the socket group
//! (`--group`), and the connection limits.

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Listener flags of the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HostArgs {
    /// Listen address(es): unix:///path/to.sock or tcp://ADDR[:PORT] (repeatable)
    #[arg(short = 'H', long = "host")]
    pub host: Vec<String>,
    /// Group owning the unix socket(s) (mode 0660); default "berth" when that group exists,
    /// else root only; "" for root only
    #[arg(short = 'G', long = "group", value_name = "NAME")]
    pub group: Option<String>,
    /// Use TLS on tcp:// listeners (implied by --tlsverify)
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and require client certificates signed by --tlscacert (mutual TLS)
    #[arg(long)]
    pub tlsverify: bool,
    /// CA trusted for client certificates (default $DOCKER_CERT_PATH or ~/.docker, ca.pem)
    #[arg(long, value_name = "PATH")]
    pub tlscacert: Option<PathBuf>,
    /// Server TLS certificate (default …/cert.pem)
    #[arg(long, value_name = "PATH")]
    pub tlscert: Option<PathBuf>,
    /// Server TLS key (default …/key.pem)
    #[arg(long, value_name = "PATH")]
    pub tlskey: Option<PathBuf>,
    /// Seconds a client gets to send a request head (idle connections are closed after it)
    #[arg(
        long = "api-header-timeout",
        value_name = "SECONDS",
        default_value_t = 30
    )]
    pub header_timeout: u64,
    /// API connections served at once (others wait in the accept queue)
    #[arg(long = "max-api-connections", value_name = "N", default_value_t = 4096)]
    pub max_connections: usize,
}

/// One parsed `-H` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP `host:port`.
    Tcp(String),
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix://{}", p.display()),
            Addr::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Parses one `-H` value; a tcp address without port gets 2376 with TLS, else 2375.
pub fn parse_addr(host: &str, tls: bool) -> Result<Addr> {
    if let Some(p) = host.strip_prefix("unix://") {
        if p.is_empty() {
            bail!("invalid listen address {host:?}: empty socket path");
        }
        return Ok(Addr::Unix(PathBuf::from(p)));
    }
    if host.starts_with('/') {
        return Ok(Addr::Unix(PathBuf::from(host)));
    }
    if let Some(rest) = host.strip_prefix("tcp://") {
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            bail!("invalid listen address {host:?}: a tcp address has no path");
        }
        let port = if tls { 2376 } else { 2375 };
        let addr = if rest.is_empty() {
            format!("127.0.0.1:{port}")
        } else if rest.starts_with('[') {
            if rest.contains("]:") {
                rest.to_string()
            } else {
                format!("{rest}:{port}")
            }
        } else if rest.contains(':') {
            rest.to_string()
        } else {
            format!("{rest}:{port}")
        };
        return Ok(Addr::Tcp(addr));
    }
    bail!("unsupported listen address {host:?}: use unix:///path or tcp://ADDR[:PORT]")
}

impl HostArgs {
    /// True when tcp listeners speak TLS.
    pub fn tls_on(&self) -> bool {
        self.tls || self.tlsverify
    }

    /// The serve options (timeout, connection bound).
    pub fn serve_options(&self) -> Result<api::listen::ServeOptions> {
        if self.header_timeout == 0 {
            bail!("--api-header-timeout must be at least 1 second");
        }
        if self.max_connections == 0 {
            bail!("--max-api-connections must be at least 1");
        }
        Ok(api::listen::ServeOptions::new(
            Duration::from_secs(self.header_timeout),
            self.max_connections,
        ))
    }

    /// The TLS files, with dockerd's defaults in $DOCKER_CERT_PATH or ~/.docker.
    pub fn tls_files(&self) -> api::tls::TlsFiles {
        let dir = std::env::var_os("DOCKER_CERT_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/root"))
                    .join(".docker")
            });
        api::tls::TlsFiles {
            cert: self.tlscert.clone().unwrap_or_else(|| dir.join("cert.pem")),
            key: self.tlskey.clone().unwrap_or_else(|| dir.join("key.pem")),
            client_ca: self
                .tlsverify
                .then(|| self.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem"))),
        }
    }

    /// The socket group's gid: `None` = root only.
    pub fn socket_gid(&self) -> Result<Option<u32>> {
        match self.group.as_deref() {
            Some("") => Ok(None),
            Some(name) => match lookup_group(name)? {
                Some(g) => Ok(Some(g)),
                None => match name.parse::<u32>() {
                    Ok(g) => Ok(Some(g)),
                    Err(_) => bail!("group {name:?} not found (--group)"),
                },
            },
            None => lookup_group("berth"),
        }
    }
}

fn lookup_group(name: &str) -> Result<Option<u32>> {
    let c = CString::new(name).context("group name holds a NUL byte")?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; buf outlives the result's use.
    let r =
        unsafe { libc::getgrnam_r(c.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut out) };
    if r != 0 {
        bail!(
            "looking up group {name:?}: {}",
            std::io::Error::from_raw_os_error(r)
        );
    }
    if out.is_null() {
        return Ok(None);
    }
    Ok(Some(grp.gr_gid))
}

/// Binds a unix socket, mode 0660, owned root:`gid` (root:root when `None`).
pub fn bind_unix(path: &Path, gid: Option<u32>) -> Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        // A live daemon on this socket must not be displaced.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another daemon is listening on {}", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("binding {}", path.display()))?;
    std::os::unix::fs::chown(path, Some(0), Some(gid.unwrap_or(0)))
        .with_context(|| format!("chown {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(l)
}

/// Binds a TCP listener, with TLS when `tls` is given.
pub async fn bind_tcp(
    addr: &str,
    tls: Option<&api::tls::TlsFiles>,
) -> Result<api::listen::Listener> {
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding tcp://{addr}"))?;
    let acceptor = match tls {
        Some(files) => {
            let cfg = api::tls::server_config(files)?;
            Some(api::listen::TlsAcceptor::from(cfg))
        }
        None => None,
    };
    Ok(api::listen::Listener::Tcp(l, acceptor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            parse_addr("unix:///run/x.sock", false).unwrap(),
            Addr::Unix("/run/x.sock".into())
        );
        assert_eq!(
            parse_addr("tcp://127.0.0.1:5000", true).unwrap(),
            Addr::Tcp("127.0.0.1:5000".into())
        );
        assert_eq!(
            parse_addr("tcp://0.0.0.0", true).unwrap(),
            Addr::Tcp("0.0.0.0:2376".into())
        );
        assert_eq!(
            parse_addr("tcp://0.0.0.0", false).unwrap(),
            Addr::Tcp("0.0.0.0:2375".into())
        );
        assert!(parse_addr("fd://", false).is_err());
        assert!(parse_addr("unix://", false).is_err());
    }

    #[test]
    fn root_group_is_a_gid() {
        let a = HostArgs {
            group: Some("root".into()),
            ..Default::default()
        };
        assert_eq!(a.socket_gid().unwrap(), Some(0));
        let b = HostArgs {
            group: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(b.socket_gid().unwrap(), None);
        let c = HostArgs {
            group: Some("no-such-group-xyz".into()),
            ..Default::default()
        };
        assert!(c.socket_gid().is_err());
    }
}
