//! The registry client: [`pull`] into and [`push`] from an [`ImageStore`].

mod login;
mod pull;
mod push;
mod session;

use std::path::PathBuf;

use crate::auth::{credentials_from_config, default_config_path, Credentials};
use crate::error::DistributionError;
use crate::platform::Platform;
use crate::progress::ProgressFn;

pub use login::{login, server_domain};
pub use pull::{pull, PullResult};
pub use push::{push, PushResult};
pub use session::is_insecure as is_insecure_registry;

/// Accept header for manifests: every manifest type this client understands.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Options of [`pull`] and [`push`].
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Registries (`host[:port]`) that may be spoken to over plain HTTP (besides localhost,
    /// 127.0.0.1 and ::1, which always may).
    pub insecure_registries: Vec<String>,
    /// Credentials to use; when None they come from the docker config file.
    pub credentials: Option<Credentials>,
    /// The docker `config.json` to read credentials from (default
    /// [`default_config_path`]).
    pub docker_config: Option<PathBuf>,
    /// Platform to pick from an index (default: linux/<this machine's arch>).
    pub platform: Option<Platform>,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
    /// Parallel layer transfers (0 → 3 for pulls, 5 for pushes, as docker).
    pub max_concurrent: usize,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("insecure_registries", &self.insecure_registries)
            .field("credentials", &self.credentials)
            .field("docker_config", &self.docker_config)
            .field("platform", &self.platform)
            .field("max_concurrent", &self.max_concurrent)
            .finish()
    }
}

impl ClientOptions {
    /// The credentials for `domain`: the explicit ones, else the docker config's.
    pub fn credentials_for(&self, domain: &str) -> Result<Option<Credentials>, DistributionError> {
        if let Some(c) = &self.credentials {
            return Ok(Some(c.clone()));
        }
        let path = self
            .docker_config
            .clone()
            .unwrap_or_else(default_config_path);
        credentials_from_config(&path, domain)
    }
}
