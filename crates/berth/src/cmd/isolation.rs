//! `run`/`create` flags for devices and runtime annotations: `--device
//! --device-cgroup-rule --annotation`, with docker's syntax (the namespace and group flags
//! are in `runflags`).

use anyhow::{anyhow, Result};
use clap::Args;
use serde_json::{json, Map, Value};

/// Docker's device and annotation flags.
#[derive(Args, Debug, Default)]
pub struct IsolationFlags {
    /// Add a host device to the container (HOST[:CONTAINER][:PERMISSIONS])
    #[arg(long = "device", value_name = "list")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list ("c 1:3 rwm")
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Add an annotation to the container (passed through to the OCI runtime) (KEY=VALUE)
    #[arg(long = "annotation", value_name = "map")]
    pub annotation: Vec<String>,
}

/// `HOST[:CONTAINER][:PERMISSIONS]` as docker's `parseDevice`.
fn device(spec: &str) -> Result<Value> {
    let parts: Vec<&str> = spec.split(':').collect();
    let is_mode = |s: &str| !s.is_empty() && s.len() <= 3 && s.chars().all(|c| "rwm".contains(c));
    let (host, inside, mode) = match parts[..] {
        [h] => (h, h, "rwm"),
        [h, m] if is_mode(m) => (h, h, m),
        [h, c] => (h, c, "rwm"),
        [h, c, m] if is_mode(m) => (h, c, m),
        _ => return Err(anyhow!("invalid device specification: {spec}")),
    };
    if host.is_empty() || !inside.starts_with('/') {
        return Err(anyhow!("invalid device specification: {spec}"));
    }
    Ok(json!({"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": mode}))
}

fn key_values(list: &[String], flag: &str) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for kv in list {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            anyhow!("invalid argument {kv:?} for \"--{flag}\" flag: expected KEY=VALUE")
        })?;
        m.insert(k.to_string(), json!(v));
    }
    Ok(m)
}

impl IsolationFlags {
    /// Writes the flags into the create body's `Config` and `HostConfig`.
    pub fn apply(&self, host: &mut Value) -> Result<()> {
        if !self.device.is_empty() {
            let d: Result<Vec<Value>> = self.device.iter().map(|s| device(s)).collect();
            host["Devices"] = Value::Array(d?);
        }
        if !self.device_cgroup_rule.is_empty() {
            host["DeviceCgroupRules"] = json!(self.device_cgroup_rule);
        }
        if !self.annotation.is_empty() {
            host["Annotations"] = Value::Object(key_values(&self.annotation, "annotation")?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs_as_docker() {
        assert_eq!(device("/dev/fuse").unwrap()["PathInContainer"], "/dev/fuse");
        assert_eq!(device("/dev/fuse:rw").unwrap()["CgroupPermissions"], "rw");
        let d = device("/dev/null:/dev/x:r").unwrap();
        assert_eq!(
            (
                d["PathInContainer"].as_str(),
                d["CgroupPermissions"].as_str()
            ),
            (Some("/dev/x"), Some("r"))
        );
        assert!(device("/dev/a:b:c:d").is_err());
        assert!(device("/dev/null:relative").is_err());
    }
}
