//! Errors of the network crate.

use std::path::PathBuf;

/// Every failure of this crate. The HTTP status an API server should map each
/// variant to is noted on it.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// No network (or endpoint) by that name or id (404).
    #[error("network {0} not found")]
    NotFound(String),
    /// The container has no endpoint on that network (404).
    #[error("container {container} is not connected to network {network}")]
    NotConnected {
        /// network name
        network: String,
        /// container id
        container: String,
    },
    /// A name or resource is already in use (409).
    #[error("{0}")]
    Conflict(String),
    /// Bad input: CIDR, option, port spec... (400).
    #[error("{0}")]
    InvalidArgument(String),
    /// The operation is not allowed on this network (403 in docker, e.g. rm of `bridge`).
    #[error("{0}")]
    Forbidden(String),
    /// No free address left in the network's pool (400 / 500 in docker).
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    PoolExhausted(String),
    /// A helper command (`ip`, `nft`) or a netlink request failed.
    #[error("{cmd} failed: {stderr}")]
    Command {
        /// the command line (for netlink: `netlink <what> (<netns>)`)
        cmd: String,
        /// its trimmed stderr (for netlink: the errno's message)
        stderr: String,
    },
    /// A system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// what was attempted
        op: &'static str,
        /// the path involved
        path: PathBuf,
        /// the OS error
        #[source]
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("network db: {0}")]
    Db(String),
    /// A stored record could not be decoded.
    #[error("corrupt network record: {0}")]
    Corrupt(String),
}

impl NetworkError {
    /// Docker-style HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            NetworkError::NotFound(_) | NetworkError::NotConnected { .. } => 404,
            NetworkError::Conflict(_) => 409,
            NetworkError::InvalidArgument(_) | NetworkError::PoolExhausted(_) => 400,
            NetworkError::Forbidden(_) => 403,
            _ => 500,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NetworkError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Turn any redb error into [`NetworkError::Db`].
pub(crate) fn db_err<E: Into<redb::Error>>(e: E) -> NetworkError {
    NetworkError::Db(e.into().to_string())
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, NetworkError>;
