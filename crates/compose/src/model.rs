//! The typed compose model (after interpolation, normalisation and merge). Every struct
//! refuses unknown fields; keys of the compose spec that berth does not implement are
//! refused before, by [`check_implemented`], with a message naming them.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{invalid, Result};

/// A string or a list of strings (`command`, `entrypoint`, `healthcheck.test`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StrOrList {
    /// One string (split like a shell for command/entrypoint).
    Str(String),
    /// A list of arguments.
    List(Vec<String>),
}

/// One compose file's top level (also the merged project).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeFile {
    /// Project name (`name:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Obsolete `version:` (accepted with a warning, as docker compose does).
    #[serde(default, skip_serializing)]
    pub version: Option<Value>,
    /// Services by name.
    #[serde(default)]
    pub services: IndexMap<String, Service>,
    /// Networks by key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub networks: IndexMap<String, Option<NetworkDef>>,
    /// Volumes by key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub volumes: IndexMap<String, Option<VolumeDef>>,
}

/// `build:` of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Context directory (relative to the project directory).
    #[serde(default = "dot")]
    pub context: String,
    /// Dockerfile path inside the context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// Build arguments (`null` = from the environment).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub args: IndexMap<String, Option<String>>,
    /// Target stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

fn dot() -> String {
    ".".into()
}

/// The long syntax of a port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortLong {
    /// Container port.
    pub target: u16,
    /// Host port (number or string, maybe a range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Value>,
    /// Host address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// tcp or udp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Only `ingress`/`host` (both mean a host port here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// A port entry, short or long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortEntry {
    /// `[ip:][host:]container[/proto]`.
    Short(String),
    /// The long syntax.
    Long(PortLong),
}

/// `volume:` options of a long volume entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeOpts {
    /// Do not copy image data into an empty volume.
    #[serde(default)]
    pub nocopy: bool,
}

/// `bind:` options of a long volume entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindOpts {
    /// Create the host path when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_host_path: Option<bool>,
}

/// `tmpfs:` options of a long volume entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TmpfsOpts {
    /// Size (bytes or `64m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Value>,
}

/// The long syntax of a service volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeLong {
    /// `volume`, `bind` or `tmpfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Volume key or host path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Path in the container.
    pub target: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Volume options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOpts>,
    /// Bind options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOpts>,
    /// Tmpfs options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOpts>,
}

/// A service volume entry, short or long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VolumeEntry {
    /// `[src:]dst[:ro|rw]`.
    Short(String),
    /// The long syntax.
    Long(VolumeLong),
}

/// A service's settings on one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    /// Extra DNS names on this network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Fixed IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    pub condition: String,
    /// Whether the dependency must exist (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// `healthcheck:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]`, `["NONE"]` or a shell string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<StrOrList>,
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Timeout of one check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Grace period after start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    /// Interval during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
    /// Disable the image's healthcheck.
    #[serde(default)]
    pub disable: bool,
}

/// `deploy:` (only `replicas`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// Number of containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// One service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Image reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Build settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// Command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<StrOrList>,
    /// Entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<StrOrList>,
    /// Environment (`null` = from the shell, dropped when unset there).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, Option<String>>,
    /// Env files read into the environment (the environment wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<String>,
    /// Published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortEntry>,
    /// Exposed (not published) ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// Mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeEntry>,
    /// Networks (none = the project's `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<IndexMap<String, Option<ServiceNetwork>>>,
    /// Dependencies.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub depends_on: IndexMap<String, Dependency>,
    /// Healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// Restart policy (`no`, `always`, `on-failure[:N]`, `unless-stopped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// Container labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// User.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// Extra /etc/hosts entries (host → ip).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub extra_hosts: IndexMap<String, String>,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// DNS search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    /// Added capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Dropped capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Privileged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Read-only root filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Run an init as PID 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Allocate a TTY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Keep stdin open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_open: Option<bool>,
    /// tmpfs mounts (`/path[:opts]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// Namespaced kernel parameters.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub sysctls: IndexMap<String, String>,
    /// Size of /dev/shm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    /// Memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<String>,
    /// Stop signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Grace period before SIGKILL on stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    /// Deploy settings (replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    /// Number of containers (wins over deploy.replicas when both are set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// Profiles this service belongs to (none = always enabled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Fixed container name (then only one replica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
}

impl Service {
    /// The number of containers this service wants.
    pub fn replicas(&self) -> u32 {
        self.scale
            .or_else(|| self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1)
    }
}

/// `ipam.config[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    /// Subnet in CIDR form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Gateway address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Range to allocate from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
}

/// `ipam:` of a network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    /// IPAM driver (only `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
}

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDef {
    /// Real name (default `<project>_<key>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Driver (`bridge` default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Made outside compose: must exist, never created or removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// No outside connectivity.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    /// Address pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    /// Labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDef {
    /// Real name (default `<project>_<key>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Driver (only `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub driver_opts: IndexMap<String, String>,
    /// Made outside compose: must exist, never created or removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    /// Labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

/// Compose-spec service keys berth compose does not implement (refused, named).
const UNIMPLEMENTED_SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "configs",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns_opt",
    "extends",
    "external_links",
    "gpus",
    "group_add",
    "ipc",
    "isolation",
    "label_file",
    "links",
    "logging",
    "mac_address",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "post_start",
    "pre_stop",
    "provider",
    "pull_policy",
    "runtime",
    "secrets",
    "security_opt",
    "storage_opt",
    "ulimits",
    "use_api_socket",
    "userns_mode",
    "uts",
    "volumes_from",
];

/// Compose-spec top-level keys berth compose does not implement.
const UNIMPLEMENTED_TOP_KEYS: &[&str] = &["include", "secrets", "configs", "models"];

/// Compose-spec keys of networks/volumes berth compose does not implement.
const UNIMPLEMENTED_NETWORK_KEYS: &[&str] =
    &["attachable", "driver_opts", "enable_ipv4", "enable_ipv6"];

/// Refuses compose-spec keys berth does not implement, naming the key and its path.
pub fn check_implemented(doc: &Value) -> Result<()> {
    let refuse = |path: String, key: &str| {
        invalid(
            path,
            format!("`{key}` is part of the compose spec but not implemented by berth compose"),
        )
    };
    let Some(top) = doc.as_object() else {
        return Ok(());
    };
    for k in top.keys() {
        if UNIMPLEMENTED_TOP_KEYS.contains(&k.as_str()) {
            return Err(refuse(k.clone(), k));
        }
    }
    if let Some(Value::Object(services)) = top.get("services") {
        for (name, svc) in services {
            if let Some(s) = svc.as_object() {
                for k in s.keys() {
                    if UNIMPLEMENTED_SERVICE_KEYS.contains(&k.as_str()) {
                        return Err(refuse(format!("services.{name}.{k}"), k));
                    }
                }
                if let Some(Value::Object(d)) = s.get("deploy") {
                    if let Some(k) = d.keys().find(|k| *k != "replicas") {
                        return Err(refuse(format!("services.{name}.deploy.{k}"), k));
                    }
                }
                if let Some(Value::Object(d)) = s.get("depends_on") {
                    for (dep, v) in d {
                        if v.get("restart").is_some() {
                            return Err(refuse(
                                format!("services.{name}.depends_on.{dep}.restart"),
                                "restart",
                            ));
                        }
                    }
                }
            }
        }
    }
    if let Some(Value::Object(nets)) = top.get("networks") {
        for (name, n) in nets {
            if let Some(n) = n.as_object() {
                for k in n.keys() {
                    if UNIMPLEMENTED_NETWORK_KEYS.contains(&k.as_str()) {
                        return Err(refuse(format!("networks.{name}.{k}"), k));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Deserialises the merged document into the typed model; errors name the path.
pub fn from_value(doc: Value) -> Result<ComposeFile> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        invalid(
            if path == "." { String::new() } else { path },
            e.into_inner().to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_are_named() {
        let e = from_value(json!({"services": {"web": {"image": "a", "imagee": "b"}}}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("services.web") && e.contains("imagee"), "{e}");
        let e = from_value(json!({"servics": {}})).unwrap_err().to_string();
        assert!(e.contains("servics"), "{e}");
    }

    #[test]
    fn unimplemented_keys_are_refused() {
        let e = check_implemented(&json!({"services": {"web": {"security_opt": []}}}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("services.web.security_opt") && e.contains("not implemented"),
            "{e}"
        );
        assert!(check_implemented(&json!({"secrets": {}})).is_err());
        assert!(
            check_implemented(&json!({"services": {"w": {"deploy": {"resources": {}}}}})).is_err()
        );
        assert!(
            check_implemented(&json!({"services": {"w": {"deploy": {"replicas": 2}}}})).is_ok()
        );
    }

    #[test]
    fn replicas_from_scale_or_deploy() {
        let f = from_value(json!({"services": {
            "a": {"image": "x"},
            "b": {"image": "x", "deploy": {"replicas": 3}},
            "c": {"image": "x", "scale": 2, "deploy": {"replicas": 3}},
        }}))
        .unwrap();
        assert_eq!(f.services["a"].replicas(), 1);
        assert_eq!(f.services["b"].replicas(), 3);
        assert_eq!(f.services["c"].replicas(), 2);
    }
}
