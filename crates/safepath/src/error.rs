//! Errors of path confinement.

use std::path::PathBuf;

/// An error of a confined path operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed on `path` (relative to the root it names).
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path, as given.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The entry exists but has the wrong type for the operation.
    #[error("{path}: {what}")]
    Kind {
        /// The path, as given.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
}

impl Error {
    /// Wraps an OS error.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, e: impl Into<std::io::Error>) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source: e.into(),
        }
    }

    /// Whether the error means "no such file or directory".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        match e {
            Error::Io { source, op, path } => {
                std::io::Error::new(source.kind(), format!("{op} {}: {source}", path.display()))
            }
            Error::Kind { .. } => std::io::Error::other(e.to_string()),
        }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
