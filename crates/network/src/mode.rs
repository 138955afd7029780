//! `--network` values (`HostConfig.NetworkMode`).

/// How a container's network namespace is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// `default` / `bridge`: new netns on the default bridge network.
    Bridge,
    /// `host`: no new netns.
    Host,
    /// `none`: new netns, loopback only.
    None,
    /// `container:<id|name>`: join that container's netns.
    Container(String),
    /// A user-defined network by name or id.
    Named(String),
}

impl NetworkMode {
    /// Parse docker's NetworkMode string (empty = `bridge`).
    pub fn parse(s: &str) -> NetworkMode {
        match s {
            "" | "default" | "bridge" => NetworkMode::Bridge,
            "host" => NetworkMode::Host,
            "none" => NetworkMode::None,
            other => match other.strip_prefix("container:") {
                Some(id) => NetworkMode::Container(id.to_string()),
                None => NetworkMode::Named(other.to_string()),
            },
        }
    }

    /// Whether the engine must create a fresh netns for the container.
    pub fn needs_own_netns(&self) -> bool {
        matches!(
            self,
            NetworkMode::Bridge | NetworkMode::None | NetworkMode::Named(_)
        )
    }

    /// The network to `attach` to first (None for host / container:).
    pub fn network_name(&self) -> Option<&str> {
        match self {
            NetworkMode::Bridge => Some("bridge"),
            NetworkMode::None => Some("none"),
            NetworkMode::Host => Some("host"),
            NetworkMode::Named(n) => Some(n),
            NetworkMode::Container(_) => None,
        }
    }
}
