//! Error types of the registry server and client.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors starting the registry server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("listen on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
    /// The storage root could not be prepared.
    #[error("registry storage {0}: {1}")]
    Storage(PathBuf, #[source] std::io::Error),
    /// The htpasswd file could not be read.
    #[error("htpasswd: {0}")]
    Htpasswd(String),
}

/// Errors of registry pulls and pushes.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    /// The image reference is not valid.
    #[error(transparent)]
    InvalidReference(#[from] image::ReferenceError),
    /// The connection or the HTTP exchange failed.
    #[error("{url}: {message}")]
    Http {
        /// The URL asked for.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The registry answered with an error (the spec's `code` and `message`).
    #[error("{url}: {status} {code}: {message}")]
    Registry {
        /// The URL asked for.
        url: String,
        /// HTTP status.
        status: u16,
        /// The spec error code (e.g. `MANIFEST_BLOB_UNKNOWN`), or empty.
        code: String,
        /// The registry's message.
        message: String,
    },
    /// Authentication failed or credentials are missing.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The manifest (tag or digest) does not exist in the registry.
    #[error("manifest for {0} not found: manifest unknown")]
    ManifestUnknown(String),
    /// An index/manifest list has no manifest for the wanted platform.
    #[error(
        "no matching manifest for {wanted} in the manifest list entries (available: {available})"
    )]
    NoMatchingPlatform {
        /// The platform asked for, e.g. `linux/amd64`.
        wanted: String,
        /// The platforms the index offers.
        available: String,
    },
    /// A manifest or media type this client does not handle.
    #[error("unsupported manifest: {0}")]
    Unsupported(String),
    /// Content whose sha256 is not the expected one.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched (blob, manifest, layer diff id).
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A malformed manifest, config or registry answer.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was malformed.
        what: String,
        /// Why.
        message: String,
    },
    /// A docker `config.json` that cannot be read.
    #[error("docker config {path}: {message}")]
    DockerConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The local image store failed (or the image is not there).
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// A background task died.
    #[error("internal: {0}")]
    Internal(String),
}

impl DistributionError {
    pub(crate) fn invalid(what: impl Into<String>, message: impl ToString) -> Self {
        DistributionError::Invalid {
            what: what.into(),
            message: message.to_string(),
        }
    }

    pub(crate) fn http(url: &str, e: impl std::fmt::Display) -> Self {
        DistributionError::Http {
            url: url.to_string(),
            message: e.to_string(),
        }
    }
}
