//! `--device` and `--device-cgroup-rule`: host device nodes made in the container and the
//! device cgroup rules that let it use them, as Docker does.

use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use crate::error::{EngineError, Result};
use crate::types::HostConfig;

/// One `HostConfig.Devices` entry, resolved against the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Path inside the container.
    pub path: String,
    /// "c" or "b".
    pub kind: &'static str,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Mode bits of the host node.
    pub mode: u32,
    /// Cgroup access ("rwm" subset).
    pub access: String,
}

fn bad(msg: String) -> EngineError {
    EngineError::InvalidParameter(msg)
}

fn check_access(a: &str, what: &str) -> Result<String> {
    if a.is_empty() {
        return Ok("rwm".into());
    }
    if a.chars().all(|c| "rwm".contains(c)) && a.len() <= 3 {
        Ok(a.to_string())
    } else {
        Err(bad(format!(
            "invalid device mode {a:?} for {what}: use a subset of rwm"
        )))
    }
}

/// Resolves `HostConfig.Devices` (`[{PathOnHost, PathInContainer, CgroupPermissions}]`).
pub fn resolve(h: &HostConfig) -> Result<Vec<Device>> {
    let Some(list) = h.extra.get("Devices").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for d in list {
        let host = d["PathOnHost"].as_str().unwrap_or("");
        if host.is_empty() {
            return Err(bad("device: PathOnHost must not be empty".into()));
        }
        let inside = match d["PathInContainer"].as_str().unwrap_or("") {
            "" => host,
            p => p,
        };
        if !inside.starts_with('/') {
            return Err(bad(format!("device: {inside} is not an absolute path")));
        }
        let access = check_access(d["CgroupPermissions"].as_str().unwrap_or(""), host)?;
        let md = std::fs::metadata(host).map_err(|e| {
            bad(format!(
                "error gathering device information while adding custom device {host:?}: {e}"
            ))
        })?;
        let ft = md.file_type();
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            return Err(bad(format!("{host:?} is not a device node")));
        };
        let rdev = md.rdev();
        out.push(Device {
            path: inside.to_string(),
            kind,
            major: libc::major(rdev) as u64,
            minor: libc::minor(rdev) as u64,
            mode: md.mode() & 0o7777,
            access,
        });
    }
    Ok(out)
}

/// Parses `HostConfig.DeviceCgroupRules` ("c 1:3 rwm", "a *:* m", "b 8:* r") into OCI
/// `linux.resources.devices` entries.
pub fn cgroup_rules(h: &HostConfig) -> Result<Vec<Value>> {
    let Some(list) = h.extra.get("DeviceCgroupRules").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for r in list {
        let text = r.as_str().unwrap_or("");
        let invalid = || bad(format!("invalid device cgroup rule format: '{text}'"));
        let f: Vec<&str> = text.split_whitespace().collect();
        let [kind, nums, access] = f[..] else {
            return Err(invalid());
        };
        if !matches!(kind, "a" | "b" | "c") {
            return Err(invalid());
        }
        let (maj, min) = nums.split_once(':').ok_or_else(invalid)?;
        let num = |s: &str| -> Result<Option<u64>> {
            if s == "*" {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| invalid())
            }
        };
        let access = check_access(access, text).map_err(|_| invalid())?;
        let mut v = json!({"allow": true, "type": kind, "access": access});
        if let Some(m) = num(maj)? {
            v["major"] = json!(m);
        }
        if let Some(m) = num(min)? {
            v["minor"] = json!(m);
        }
        out.push(v);
    }
    Ok(out)
}

/// The OCI `linux.devices` entry and cgroup rule of `d`.
pub fn oci(d: &Device) -> (Value, Value) {
    (
        json!({"path": d.path, "type": d.kind, "major": d.major, "minor": d.minor,
               "fileMode": d.mode, "uid": 0, "gid": 0}),
        json!({"allow": true, "type": d.kind, "major": d.major, "minor": d.minor,
               "access": d.access}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(k: &str, v: Value) -> HostConfig {
        let mut h = HostConfig::default();
        h.extra.insert(k.into(), v);
        h
    }

    #[test]
    fn devices_resolve_from_the_host() {
        let h = host(
            "Devices",
            json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"}]),
        );
        let d = resolve(&h).unwrap();
        assert_eq!((d[0].kind, d[0].major, d[0].minor), ("c", 1, 3));
        assert_eq!(d[0].path, "/dev/mynull");
        assert_eq!(d[0].access, "rw");
        assert!(resolve(&host("Devices", json!([{"PathOnHost": "/etc/passwd"}]))).is_err());
        assert!(resolve(&host(
            "Devices",
            json!([{"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"}])
        ))
        .is_err());
        assert!(resolve(&host("Devices", json!([{"PathOnHost": "/no/such"}]))).is_err());
    }

    #[test]
    fn cgroup_rules_parse_as_docker() {
        let r = cgroup_rules(&host(
            "DeviceCgroupRules",
            json!(["c 1:3 mr", "a *:* rwm", "b 8:* r"]),
        ))
        .unwrap();
        assert_eq!(
            r[0],
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "mr"})
        );
        assert_eq!(r[1], json!({"allow": true, "type": "a", "access": "rwm"}));
        assert_eq!(r[2]["major"], 8);
        for bad in ["x 1:3 r", "c 1 r", "c 1:3", "c a:3 r", "c 1:3 rwz"] {
            assert!(
                cgroup_rules(&host("DeviceCgroupRules", json!([bad]))).is_err(),
                "{bad}"
            );
        }
    }
}
