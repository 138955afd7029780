//! Container records and the Docker-shaped configuration types they hold.
//!
//! The types serialise with Docker's field names so the API crate can send them as they are.
//! Fields the engine does not interpret are kept in `extra` so they round-trip unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Docker's "zero" timestamp, used for times that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `Config` of a container (ContainerCreate body minus HostConfig/NetworkingConfig).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    /// Container hostname.
    pub hostname: String,
    /// Container domain name.
    pub domainname: String,
    /// User (name, uid, `uid:gid`, `name:group`).
    pub user: String,
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// Close stdin after the first attach ends.
    pub stdin_once: bool,
    /// Environment, `K=V`.
    pub env: Option<Vec<String>>,
    /// Command (a JSON array, or a string as old clients send it).
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    /// Image as named by the client.
    pub image: String,
    /// Working directory.
    pub working_dir: String,
    /// Entrypoint (a JSON array, or a string).
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal used by stop.
    pub stop_signal: Option<String>,
    /// Default stop timeout in seconds.
    pub stop_timeout: Option<i64>,
    /// Everything else, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's `StrSlice`: null, a string (one element) or an array of strings.
fn str_slice<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<S>::deserialize(d)? {
        None => None,
        Some(S::One(s)) => Some(vec![s]),
        Some(S::Many(v)) => Some(v),
    })
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// "", "no", "always", "unless-stopped", "on-failure".
    pub name: String,
    /// Retry limit for on-failure.
    pub maximum_retry_count: i64,
}

/// `HostConfig` of a container: the fields the engine applies, the rest kept verbatim.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// Bind mounts and volumes `src:dst[:opts]` (`-v`).
    pub binds: Option<Vec<String>>,
    /// Network mode ("default" means bridge).
    pub network_mode: String,
    /// Restart policy.
    pub restart_policy: RestartPolicy,
    /// Remove the container when it exits (`--rm`).
    pub auto_remove: bool,
    /// Added capabilities.
    pub cap_add: Option<Vec<String>>,
    /// Dropped capabilities.
    pub cap_drop: Option<Vec<String>>,
    /// Privileged mode.
    pub privileged: bool,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
    /// Size of /dev/shm in bytes (0 = 64 MiB).
    pub shm_size: i64,
    /// CPU shares.
    pub cpu_shares: i64,
    /// Memory limit in bytes.
    pub memory: i64,
    /// Memory + swap limit in bytes (-1 unlimited).
    pub memory_swap: i64,
    /// CPUs in units of 1e-9.
    pub nano_cpus: i64,
    /// CPU CFS period.
    pub cpu_period: i64,
    /// CPU CFS quota.
    pub cpu_quota: i64,
    /// Pids limit (0/-1/null = unset).
    pub pids_limit: Option<i64>,
    /// Soft memory limit in bytes (`--memory-reservation`).
    pub memory_reservation: i64,
    /// CPUs the container may run on (`--cpuset-cpus`, e.g. `0-1`).
    pub cpuset_cpus: String,
    /// Memory nodes the container may use (`--cpuset-mems`).
    pub cpuset_mems: String,
    /// Relative block I/O weight, 10..=1000 (0 = unset).
    pub blkio_weight: u16,
    /// Extra /etc/hosts lines `host:ip`.
    pub extra_hosts: Option<Vec<String>>,
    /// DNS servers.
    pub dns: Option<Vec<String>>,
    /// DNS search domains.
    pub dns_search: Option<Vec<String>>,
    /// DNS options.
    pub dns_options: Option<Vec<String>>,
    /// Sysctls.
    pub sysctls: Option<BTreeMap<String, String>>,
    /// Everything else, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Lifecycle status of a container.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started (or being started).
    #[default]
    Created,
    /// Running.
    Running,
    /// Running but frozen (`docker pause`).
    Paused,
    /// Restarting.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited.
    Exited,
    /// Dead (removal failed or monitor lost without an exit code).
    Dead,
}

impl Status {
    /// Docker's lowercase word for the status.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// `State` of a container as Docker reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    /// Status word.
    pub status: Status,
    /// Running flag.
    pub running: bool,
    /// Paused flag (always false for now).
    pub paused: bool,
    /// Restarting flag.
    pub restarting: bool,
    /// Whether the last exit was an OOM kill.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Dead flag.
    pub dead: bool,
    /// Host pid of the container init (0 when not running).
    pub pid: i64,
    /// Last exit code.
    pub exit_code: i64,
    /// Last error message.
    pub error: String,
    /// Start time (RFC 3339 nano).
    pub started_at: String,
    /// Finish time (RFC 3339 nano).
    pub finished_at: String,
    /// Healthcheck state (only for containers with a healthcheck).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.to_string(),
            finished_at: ZERO_TIME.to_string(),
            health: None,
        }
    }
}

/// The stored record of one container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container {
    /// 64-hex id.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// Creation time (RFC 3339 nano).
    pub created: String,
    /// Process path (first word of entrypoint+cmd).
    pub path: String,
    /// Process args.
    pub args: Vec<String>,
    /// Merged config (image defaults + request).
    pub config: Config,
    /// Host config as requested.
    pub host_config: HostConfig,
    /// `NetworkingConfig` as requested (kept verbatim).
    #[serde(default)]
    pub networking_config: Value,
    /// Image id (`sha256:…`).
    pub image_id: String,
    /// Lifecycle state.
    pub state: State,
    /// Pid of the berth-monitor of the current run (0 when none).
    pub monitor_pid: i64,
    /// Restart count.
    pub restart_count: i64,
    /// Whether the rootfs snapshot is currently mounted.
    #[serde(default)]
    pub mounted: bool,
    /// Set by an explicit stop, so restart policies do not fire.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Ids of exec instances created for this container.
    #[serde(default)]
    pub exec_ids: Vec<String>,
    /// Binds, volumes and tmpfs mounts resolved at create (the volume crate's records).
    #[serde(default)]
    pub mount_points: Vec<volume::MountPoint>,
    /// Set when the `HostConfig.NetworkMode` network was disconnected (docker keeps the
    /// mode string; the container is then not attached to it until connected again).
    #[serde(default)]
    pub primary_detached: bool,
}

impl Container {
    /// The twelve-character short id.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// Body of `POST /containers/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    /// The container config.
    #[serde(flatten)]
    pub config: Config,
    /// Host config.
    pub host_config: Option<HostConfig>,
    /// Networking config.
    pub networking_config: Option<Value>,
}

/// Body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Allocate a TTY.
    pub tty: bool,
    /// Initial console size [h, w].
    pub console_size: Option<Vec<u16>>,
    /// Extra environment.
    pub env: Option<Vec<String>>,
    /// Command.
    pub cmd: Option<Vec<String>>,
    /// Privileged.
    pub privileged: bool,
    /// User.
    pub user: String,
    /// Working directory.
    pub working_dir: String,
    /// Detach keys (ignored).
    pub detach_keys: String,
}

/// Public view of an exec instance (`GET /exec/{id}/json`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    /// Exec id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Running flag.
    pub running: bool,
    /// Exit code once finished.
    pub exit_code: Option<i64>,
    /// Process config.
    pub process_config: Value,
    /// Open stdin.
    pub open_stdin: bool,
    /// Open stderr.
    pub open_stderr: bool,
    /// Open stdout.
    pub open_stdout: bool,
    /// Whether it can be removed.
    pub can_remove: bool,
    /// Owning container id.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// Detach keys.
    pub detach_keys: String,
    /// Host pid while running.
    pub pid: i64,
}
