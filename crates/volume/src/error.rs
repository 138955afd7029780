//! The crate's error type: one variant per kind of failure, with docker's wording where the
//! docker CLI or API clients show the message to users.

use std::path::PathBuf;

/// Every error the volume crate returns.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A `-v`/`--mount`/`--tmpfs` spec that cannot be parsed at all.
    #[error("invalid volume specification: '{0}'")]
    InvalidSpec(String),
    /// A bind source that is not an absolute path (`./data`, `../x`).
    #[error("invalid mount config for type \"bind\": invalid mount path: '{0}' mount path must be absolute")]
    RelativeHostPath(String),
    /// A volume name outside docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
    #[error("{0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    InvalidVolumeName(String),
    /// A container path that is not absolute, contains `..`, or is `/`.
    #[error("invalid mount config: invalid mount path: '{target}' {reason}")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// Why it is refused.
        reason: String,
    },
    /// A `-v` mode (`:ro,z,...`) that is unknown or contradicts itself.
    #[error("invalid mode: {0}")]
    InvalidMode(String),
    /// An unknown `--mount` key, `--tmpfs` option or local driver option.
    #[error("{0}")]
    UnknownOption(String),
    /// A known option with a bad value, or options that do not fit the mount type.
    #[error("{0}")]
    InvalidOption(String),
    /// Two mounts for the same container path.
    #[error("Duplicate mount point: {0}")]
    DuplicateMountPoint(String),
    /// `--mount type=bind` (or API `Mounts`) whose host path does not exist.
    #[error("invalid mount config for type \"bind\": bind source path does not exist: {}", .0.display())]
    BindSourceMissing(PathBuf),
    /// A volume driver other than `local`.
    #[error("error looking up volume plugin {0}: plugin \"{0}\" not found")]
    UnknownDriver(String),
    /// No volume of that name.
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// Removal refused: containers reference the volume.
    #[error("remove {name}: volume is in use - [{}]", .containers.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// Ids of the containers that reference it.
        containers: Vec<String>,
    },
    /// The volume exists with other options.
    #[error("{0}")]
    Conflict(String),
    /// mount(2)/umount(2) failed.
    #[error("mount {}: {reason}", .target.display())]
    Mount {
        /// Where it was to be mounted.
        target: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A file system operation failed.
    #[error("{op} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("volume metadata database: {0}")]
    Db(String),
    /// A stored record cannot be decoded.
    #[error("corrupt volume record: {0}")]
    Corrupt(String),
}

impl VolumeError {
    /// The HTTP status the Docker API answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            VolumeError::NotFound(_) => 404,
            VolumeError::InUse { .. } | VolumeError::Conflict(_) => 409,
            VolumeError::Mount { .. }
            | VolumeError::Io { .. }
            | VolumeError::Db(_)
            | VolumeError::Corrupt(_) => 500,
            _ => 400,
        }
    }

    /// Builds an [`VolumeError::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VolumeError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

/// Turns any redb error into [`VolumeError::Db`].
pub(crate) fn db_err<E: Into<redb::Error>>(e: E) -> VolumeError {
    VolumeError::Db(e.into().to_string())
}
