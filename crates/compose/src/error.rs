//! Errors of loading and planning a compose project.

use thiserror::Error;

/// Everything that can go wrong before anything is created.
#[derive(Debug, Error)]
pub enum ComposeError {
    /// No compose file was given and none was found.
    #[error("no configuration file provided: not found (looked for {0} in {1})")]
    NoFile(String, String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// YAML syntax error (the message carries line and column).
    #[error("{path}: invalid YAML: {message}")]
    Yaml {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A variable could not be interpolated (`${VAR:?err}`, bad syntax).
    #[error("{file}: {path}: {message}")]
    Interpolation {
        /// The file.
        file: String,
        /// Path of the value (`services.web.image`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file does not follow the compose schema, or uses a key berth does not implement.
    #[error("{path}: {message}")]
    Invalid {
        /// Path of the offending key or value.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An `.env`/`env_file` line is malformed.
    #[error("{path}:{line}: {message}")]
    EnvFile {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// depends_on forms a cycle.
    #[error("dependency cycle detected: {0}")]
    Cycle(String),
}

/// Shorthand for an [`ComposeError::Invalid`].
pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> ComposeError {
    ComposeError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, ComposeError>;
