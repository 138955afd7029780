//! The rule for create requests: every field of Docker's `ContainerConfig` and `HostConfig`
//! (Engine API 1.44) is applied, checked against the values berth implements, accepted as a
//! no-op for a stated reason, or — when set to a non-default value — refused with a 400 that
//! names it. Nothing is accepted and silently dropped.
//!
//! Typed fields of [`Config`]/[`HostConfig`] are applied by construction; this module judges
//! the ones kept in their `extra` maps. `docker-api-1.44-fields.txt` (beside this file) is the
//! list of Docker's field names, kept as our own data: a unit test checks that every one of
//! them is typed or judged here, so a field cannot slip through unjudged. Names that are not
//! Docker's (a newer client's) are ignored, as dockerd's JSON decoder does.

use serde_json::{Map, Value};

use crate::error::{EngineError, Result};
use crate::types::{Config, HostConfig};

/// How berth treats one field kept in `extra`.
#[derive(Debug, Clone, Copy)]
pub enum Support {
    /// Implemented (read by the engine where it applies).
    Applied,
    /// Implemented for the values the function accepts; it names the problem otherwise.
    Values(fn(&Value) -> std::result::Result<(), String>),
    /// Accepted and not acted on, on purpose, for the reason given (as dockerd on Linux).
    NoOp(&'static str),
    /// Docker only warns about it: the warning is returned with the create response.
    Warn(&'static str),
    /// Not implemented: a non-default value is refused, with the reason given.
    Refused(&'static str),
}

/// The judgement of every `Config` field kept in `extra`.
pub const CONFIG: &[(&str, Support)] = &[
    ("ExposedPorts", Support::Applied),
    ("Healthcheck", Support::Applied),
    ("Volumes", Support::Applied),
    ("Shell", Support::Applied),
    (
        "ArgsEscaped",
        Support::NoOp("Windows only: dockerd on Linux ignores it too"),
    ),
    (
        "OnBuild",
        Support::NoOp("kept for commit; only a build runs ONBUILD triggers, as dockerd"),
    ),
    (
        "NetworkDisabled",
        Support::Refused("use --network none for a container without networking"),
    ),
    (
        "MacAddress",
        Support::Refused("setting a container's MAC address is not implemented by berth"),
    ),
];

/// The judgement of every `HostConfig` field kept in `extra`.
pub const HOST_CONFIG: &[(&str, Support)] = &[
    ("LogConfig", Support::Applied),
    ("PortBindings", Support::Applied),
    ("VolumesFrom", Support::Applied),
    ("Mounts", Support::Applied),
    ("Tmpfs", Support::Applied),
    ("Ulimits", Support::Applied),
    ("OomScoreAdj", Support::Applied),
    ("PublishAllPorts", Support::Applied),
    ("SecurityOpt", Support::Applied),
    ("StorageOpt", Support::Applied),
    ("Annotations", Support::Applied),
    ("ConsoleSize", Support::Applied),
    ("GroupAdd", Support::Applied),
    ("Devices", Support::Applied),
    ("DeviceCgroupRules", Support::Applied),
    ("MaskedPaths", Support::Applied),
    ("ReadonlyPaths", Support::Applied),
    ("OomKillDisable", Support::Applied),
    ("Init", Support::Applied),
    ("MemorySwappiness", Support::Values(swappiness)),
    ("PidMode", Support::Values(pid_mode)),
    ("IpcMode", Support::Values(ipc_mode)),
    ("UTSMode", Support::Values(uts_mode)),
    ("UsernsMode", Support::Values(userns_mode)),
    ("CgroupnsMode", Support::Values(cgroupns_mode)),
    ("Runtime", Support::Values(runtime)),
    ("Isolation", Support::Values(isolation)),
    ("VolumeDriver", Support::Values(volume_driver)),
    (
        "ContainerIDFile",
        Support::NoOp("the client writes the file (dockerd ignores it too)"),
    ),
    (
        "KernelMemory",
        Support::Warn(
            "Your kernel does not support kernel memory limit capabilities or the cgroup is \
             not mounted. Limitation discarded.",
        ),
    ),
    (
        "KernelMemoryTCP",
        Support::Refused("kernel TCP memory limits are not supported by berth"),
    ),
    (
        "Links",
        Support::Refused("legacy links are not supported by berth: use a user-defined network"),
    ),
    (
        "Cgroup",
        Support::Refused("joining another container's cgroup is not supported by berth"),
    ),
    (
        "CgroupParent",
        Support::Refused("berth places every container under its own berth/ cgroup"),
    ),
    (
        "BlkioWeightDevice",
        Support::Refused("per-device block IO weights are not implemented by berth"),
    ),
    (
        "BlkioDeviceReadBps",
        Support::Refused("block IO throttling is not implemented by berth"),
    ),
    (
        "BlkioDeviceWriteBps",
        Support::Refused("block IO throttling is not implemented by berth"),
    ),
    (
        "BlkioDeviceReadIOps",
        Support::Refused("block IO throttling is not implemented by berth"),
    ),
    (
        "BlkioDeviceWriteIOps",
        Support::Refused("block IO throttling is not implemented by berth"),
    ),
    (
        "CpuRealtimePeriod",
        Support::Refused("real-time CPU scheduling is not implemented by berth"),
    ),
    (
        "CpuRealtimeRuntime",
        Support::Refused("real-time CPU scheduling is not implemented by berth"),
    ),
    (
        "DeviceRequests",
        Support::Refused("device requests (GPUs) are not supported by berth"),
    ),
    ("CpuCount", Support::Refused("Windows only")),
    ("CpuPercent", Support::Refused("Windows only")),
    ("IOMaximumIOps", Support::Refused("Windows only")),
    ("IOMaximumBandwidth", Support::Refused("Windows only")),
];

/// Whether `v` is a field's zero value (what a client sends when the user set nothing).
pub fn is_default(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty() || a.iter().all(is_default),
        Value::Object(o) => o.is_empty(),
    }
}

fn judge(
    section: &str,
    table: &[(&str, Support)],
    extra: &Map<String, Value>,
) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for (name, support) in table {
        let Some(v) = extra.get(*name) else { continue };
        match support {
            Support::Applied | Support::NoOp(_) => {}
            Support::Values(check) => check(v)
                .map_err(|e| EngineError::InvalidParameter(format!("{section}.{name}: {e}")))?,
            Support::Warn(w) => {
                if !is_default(v) {
                    warnings.push((*w).to_string());
                }
            }
            Support::Refused(why) => {
                if !is_default(v) {
                    return Err(EngineError::InvalidParameter(format!(
                        "{section}.{name} is not supported: {why}"
                    )));
                }
            }
        }
    }
    Ok(warnings)
}

/// Judges a create request: `Err` (400) names the first refused field; `Ok` carries
/// Docker's warnings for fields it only warns about.
pub fn check(cfg: &Config, host: &HostConfig) -> Result<Vec<String>> {
    let mut w = judge("Config", CONFIG, &cfg.extra)?;
    w.extend(judge("HostConfig", HOST_CONFIG, &host.extra)?);
    Ok(w)
}

fn text(v: &Value) -> std::result::Result<&str, String> {
    match v {
        Value::Null => Ok(""),
        Value::String(s) => Ok(s),
        other => Err(format!("expected a string, got {other}")),
    }
}

/// `-1`/null (the kernel default) or 0..=100.
fn swappiness(v: &Value) -> std::result::Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::Number(n) => match n.as_i64() {
            Some(-1) | Some(0..=100) => Ok(()),
            _ => Err(format!(
                "Invalid value: {n}, valid memory swappiness range is 0-100"
            )),
        },
        other => Err(format!("expected a number, got {other}")),
    }
}

/// "", host, or container:<name|id>.
fn pid_mode(v: &Value) -> std::result::Result<(), String> {
    match text(v)? {
        "" | "host" => Ok(()),
        m if m.strip_prefix("container:").is_some_and(|x| !x.is_empty()) => Ok(()),
        m => Err(format!("invalid PID mode: {m}")),
    }
}

/// Docker's IPC modes.
fn ipc_mode(v: &Value) -> std::result::Result<(), String> {
    match text(v)? {
        "" | "private" | "shareable" | "host" | "none" => Ok(()),
        m if m.strip_prefix("container:").is_some_and(|x| !x.is_empty()) => Ok(()),
        m => Err(format!("invalid IPC mode: {m}")),
    }
}

fn uts_mode(v: &Value) -> std::result::Result<(), String> {
    match text(v)? {
        "" | "host" => Ok(()),
        m => Err(format!("invalid UTS mode: {m}")),
    }
}

/// berth does not remap users, so only the host's user namespace (the default) is possible.
fn userns_mode(v: &Value) -> std::result::Result<(), String> {
    match text(v)? {
        "" | "host" => Ok(()),
        m => Err(format!(
            "user namespace mode {m:?} is not supported by berth (no user remapping)"
        )),
    }
}

fn cgroupns_mode(v: &Value) -> std::result::Result<(), String> {
    match text(v)? {
        "" | "host" | "private" => Ok(()),
        m => Err(format!("invalid cgroup namespace mode: {m}")),
    }
}

/// The one runtime berthd has, under the name `info` gives it.
fn runtime(v: &Value) -> std::result::Result<(), String> {
    match text(v)? {
        "" | "runc" => Ok(()),
        m => Err(format!("unknown or invalid runtime name: {m}")),
    }
}

fn isolation(v: &Value) -> std::result::Result<(), String> {
    match text(v)? {
        "" | "default" => Ok(()),
        m => Err(format!(
            "invalid isolation: {m}: Linux only supports 'default'"
        )),
    }
}

fn volume_driver(v: &Value) -> std::result::Result<(), String> {
    match text(v)? {
        "" | "local" => Ok(()),
        m => Err(format!(
            "volume driver {m:?} is not supported by berth (only local)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The names the typed structs serialise (applied by construction).
    fn typed(v: Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn every_docker_field_is_typed_or_judged() {
        let cfg = typed(serde_json::to_value(Config::default()).unwrap());
        let host = typed(serde_json::to_value(HostConfig::default()).unwrap());
        let judged = |t: &[(&str, Support)]| -> BTreeSet<String> {
            t.iter().map(|(n, _)| n.to_string()).collect()
        };
        let (jc, jh) = (judged(CONFIG), judged(HOST_CONFIG));
        let list = include_str!("docker-api-1.44-fields.txt");
        let mut docker = BTreeSet::new();
        for line in list.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            docker.insert(line.to_string());
            let (section, name) = line.split_once('.').unwrap();
            let known = match section {
                "Config" => cfg.contains(name) || jc.contains(name),
                "HostConfig" => host.contains(name) || jh.contains(name),
                _ => panic!("bad section in {line}"),
            };
            assert!(known, "{line} is neither typed nor judged in fields.rs");
        }
        for n in &jc {
            assert!(
                docker.contains(&format!("Config.{n}")),
                "Config.{n} is not Docker's"
            );
        }
        for n in &jh {
            assert!(
                docker.contains(&format!("HostConfig.{n}")),
                "HostConfig.{n} is not Docker's"
            );
        }
    }

    #[test]
    fn refused_fields_name_themselves_and_defaults_pass() {
        let mut h = HostConfig::default();
        h.extra.insert("CpuRealtimeRuntime".into(), Value::from(0));
        h.extra.insert("Links".into(), Value::Null);
        h.extra
            .insert("BlkioDeviceReadBps".into(), Value::Array(vec![]));
        assert!(check(&Config::default(), &h).unwrap().is_empty());
        h.extra
            .insert("CpuRealtimeRuntime".into(), Value::from(950000));
        let e = check(&Config::default(), &h).unwrap_err().to_string();
        assert!(e.contains("HostConfig.CpuRealtimeRuntime"), "{e}");
        let mut h = HostConfig::default();
        h.extra.insert("PidMode".into(), Value::from("bogus"));
        let e = check(&Config::default(), &h).unwrap_err().to_string();
        assert!(
            e.contains("HostConfig.PidMode") && e.contains("bogus"),
            "{e}"
        );
        let mut h = HostConfig::default();
        h.extra.insert("KernelMemory".into(), Value::from(1 << 24));
        assert_eq!(check(&Config::default(), &h).unwrap().len(), 1);
        let mut c = Config::default();
        c.extra
            .insert("MacAddress".into(), Value::from("02:42:ac:11:00:02"));
        let e = check(&c, &HostConfig::default()).unwrap_err().to_string();
        assert!(e.contains("Config.MacAddress"), "{e}");
    }
}
