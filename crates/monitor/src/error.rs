//! The monitor crate's error type.

/// Errors of the monitor client API and the shared formats.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// An I/O error talking to the monitor or reading its files.
    #[error("monitor i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The OCI runtime (or the monitor on its behalf) reported an error, e.g. a bad
    /// executable on `create` or a failed `start`. The text is the runtime's message.
    #[error("{0}")]
    Runtime(String),
    /// The monitor answered something that does not follow the protocol, or died early.
    #[error("monitor protocol: {0}")]
    Protocol(String),
    /// A log line or exit record could not be parsed.
    #[error("bad format: {0}")]
    Format(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, MonitorError>;
