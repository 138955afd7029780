//! Typed errors of the engine, each mapping to one Docker API status class.

/// Errors returned by engine operations.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The named container does not exist (HTTP 404).
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// The named exec instance does not exist (HTTP 404).
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// The named image does not exist (HTTP 404).
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// Any other "not found" condition (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The request carries a bad parameter (HTTP 400).
    #[error("{0}")]
    InvalidParameter(String),
    /// The operation is not supported (HTTP 501/500).
    #[error("{0}")]
    NotImplemented(String),
    /// Everything else (HTTP 500).
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    /// The HTTP status code Docker uses for this kind of error.
    pub fn status(&self) -> u16 {
        match self {
            EngineError::NoSuchContainer(_)
            | EngineError::NoSuchExec(_)
            | EngineError::NoSuchImage(_)
            | EngineError::NotFound(_) => 404,
            EngineError::Conflict(_) => 409,
            EngineError::InvalidParameter(_) => 400,
            EngineError::NotImplemented(_) => 501,
            EngineError::Internal(_) => 500,
        }
    }

    /// Build an internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        EngineError::Internal(e.to_string())
    }
}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> Self {
        EngineError::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for EngineError {
    fn from(e: serde_json::Error) -> Self {
        EngineError::Internal(e.to_string())
    }
}

impl From<volume::VolumeError> for EngineError {
    fn from(e: volume::VolumeError) -> Self {
        let msg = e.to_string();
        match e.http_status() {
            400 => EngineError::InvalidParameter(msg),
            404 => EngineError::NotFound(msg),
            409 => EngineError::Conflict(msg),
            _ => EngineError::Internal(msg),
        }
    }
}

/// Result alias of the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
