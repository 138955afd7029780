//! The image crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the image crate.
///
/// The engine maps these to HTTP statuses: `NotFound` → 404, `Ambiguous`/`Conflict` → 409,
/// `InvalidReference`/`InvalidChange`/`InvalidLayer`/`InvalidDigest` → 400, the rest → 500.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image (or reference, or blob) by that name: the payload is what was asked for.
    #[error("No such image: {0}")]
    NotFound(String),
    /// An id prefix matched several images.
    #[error("ambiguous image id prefix {0:?}: it matches more than one image")]
    Ambiguous(String),
    /// The request conflicts with the store's state (e.g. removing a multiply-tagged image by
    /// id without force).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A reference that does not follow Docker's grammar.
    #[error(transparent)]
    InvalidReference(#[from] crate::reference::ReferenceError),
    /// A malformed digest string.
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    /// Content whose sha256 is not the one expected.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: String,
        /// The digest of the bytes actually received.
        actual: String,
    },
    /// A `--change` instruction that is not supported or not well formed.
    #[error("invalid change: {0}")]
    InvalidChange(String),
    /// A layer tarball entry that is unsafe or malformed; `entry` names it.
    #[error("invalid layer entry {entry:?}: {reason}")]
    InvalidLayer {
        /// Path of the offending tar entry as found in the archive.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The layer stream itself is unreadable (truncated/corrupt compression, not a tar).
    #[error("invalid layer stream: {0}")]
    InvalidArchive(String),
    /// A snapshot key that is not a plain name.
    #[error("invalid snapshot key {0:?}")]
    InvalidKey(String),
    /// A filesystem error, with the path it happened on.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A mount/unmount failure.
    #[error("mount {target}: {reason}")]
    Mount {
        /// The mount point.
        target: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The metadata database failed.
    #[error("metadata database: {0}")]
    Db(String),
    /// Stored metadata or content that cannot be decoded.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
}

/// Result alias of this crate.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

impl ImageError {
    /// Wraps an `io::Error` with the operation and path it came from.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Helper: turn any redb error into `ImageError::Db`.
pub(crate) fn db_err<E: Into<redb::Error>>(e: E) -> ImageError {
    ImageError::Db(e.into().to_string())
}
