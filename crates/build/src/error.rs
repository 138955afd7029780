//! Errors of the build crate.

/// Errors of parsing and building.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse (the message names the line).
    #[error("dockerfile parse error on line {line}: {message}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A word or substitution is malformed (wrapped with the line by the caller).
    #[error("{0}")]
    Syntax(String),
    /// Bad user input (flags, build args, context, missing files).
    #[error("{0}")]
    Invalid(String),
    /// A build step failed.
    #[error("{0}")]
    Step(String),
    /// The image store failed.
    #[cfg(feature = "builder")]
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// A path confined to a context or rootfs could not be used.
    #[cfg(feature = "builder")]
    #[error(transparent)]
    Path(#[from] safepath::Error),
    /// I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl BuildError {
    /// The HTTP status a request failing with this error answers.
    pub fn status(&self) -> u16 {
        match self {
            BuildError::Parse { .. } | BuildError::Syntax(_) | BuildError::Invalid(_) => 400,
            #[cfg(feature = "builder")]
            BuildError::Image(image::ImageError::NotFound(_)) => 404,
            _ => 500,
        }
    }
}

/// Result with [`BuildError`].
pub type Result<T> = std::result::Result<T, BuildError>;
