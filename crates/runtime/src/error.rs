//! Error type of the runtime crate.

use std::io;

/// Every failure the runtime reports; the message is one line meant for a user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The bundle's config.json is invalid.
    #[error("invalid config: {0}")]
    Config(String),
    /// The config asks for something this runtime does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// No container with this id exists.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// A container with this id already exists.
    #[error("container {0} already exists")]
    Exists(String),
    /// The container is in a state that forbids the operation.
    #[error("{0}")]
    State(String),
    /// The container process failed during setup (message from the child).
    #[error("{0}")]
    Child(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
    /// Wraps the current `errno` with what was being done.
    pub fn last(context: impl Into<String>) -> Self {
        Error::io(context, io::Error::last_os_error())
    }
    /// Wraps a nix errno with what was being done.
    pub fn nix(context: impl Into<String>, e: nix::errno::Errno) -> Self {
        Error::io(context, io::Error::from_raw_os_error(e as i32))
    }
}

/// Adds context to io/nix results.
pub trait Context<T> {
    /// Attaches `what` to the error.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, io::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}

impl<T> Context<T> for std::result::Result<T, nix::errno::Errno> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::nix(what(), e))
    }
}
