//! User mounts: `HostConfig.Binds` (`-v`), `HostConfig.Mounts` (`--mount`), `HostConfig.Tmpfs`.
//!
//! Absolute sources are bind mounts; other sources are named volumes kept under
//! `D/volumes/<name>/_data` (created on first use) until the volume crate takes over.

use crate::error::{EngineError, Result};
use crate::types::HostConfig;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// One resolved user mount.
#[derive(Debug, Clone, PartialEq)]
pub struct UserMount {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Volume name (volumes only).
    pub name: String,
    /// Host path (empty for tmpfs).
    pub source: PathBuf,
    /// Path in the container.
    pub destination: String,
    /// Read-write.
    pub rw: bool,
    /// Extra options (tmpfs size/mode).
    pub options: Vec<String>,
}

fn valid_volume_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn source_for(data_root: &Path, src: &str) -> Result<(String, String, PathBuf)> {
    if src.starts_with('/') {
        Ok(("bind".into(), String::new(), PathBuf::from(src)))
    } else if valid_volume_name(src) {
        let p = data_root.join("volumes").join(src).join("_data");
        Ok(("volume".into(), src.to_string(), p))
    } else {
        Err(EngineError::InvalidParameter(format!(
            "invalid mount source {src:?}: must be an absolute path or a volume name"
        )))
    }
}

/// Resolve every user mount of a host config (validation only; no filesystem changes).
pub fn resolve(data_root: &Path, h: &HostConfig) -> Result<Vec<UserMount>> {
    let mut out = Vec::new();
    for b in h.binds.iter().flatten() {
        let parts: Vec<&str> = b.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => {
                return Err(EngineError::InvalidParameter(format!(
                    "invalid volume specification: '{b}'"
                )))
            }
        };
        if !dst.starts_with('/') {
            return Err(EngineError::InvalidParameter(format!(
                "invalid volume specification: '{b}': destination must be an absolute path"
            )));
        }
        let (kind, name, source) = source_for(data_root, src)?;
        let rw = !opts.split(',').any(|o| o == "ro");
        out.push(UserMount {
            kind,
            name,
            source,
            destination: dst.into(),
            rw,
            options: vec![],
        });
    }
    if let Some(Value::Array(ms)) = h.extra.get("Mounts") {
        for m in ms {
            let t = m["Type"].as_str().unwrap_or("volume");
            let target = m["Target"].as_str().unwrap_or("");
            if !target.starts_with('/') {
                return Err(EngineError::InvalidParameter(format!(
                    "invalid mount config: target {target:?} must be an absolute path"
                )));
            }
            let rw = !m["ReadOnly"].as_bool().unwrap_or(false);
            match t {
                "tmpfs" => {
                    let mut options = Vec::new();
                    if let Some(s) = m["TmpfsOptions"]["SizeBytes"].as_i64() {
                        options.push(format!("size={s}"));
                    }
                    if let Some(mode) = m["TmpfsOptions"]["Mode"].as_i64() {
                        options.push(format!("mode={mode:o}"));
                    }
                    out.push(UserMount {
                        kind: "tmpfs".into(),
                        name: String::new(),
                        source: PathBuf::new(),
                        destination: target.into(),
                        rw,
                        options,
                    });
                }
                "bind" | "volume" => {
                    let src = m["Source"].as_str().unwrap_or("");
                    let src = if src.is_empty() && t == "volume" {
                        hex::encode(rand::random::<[u8; 32]>())
                    } else {
                        src.to_string()
                    };
                    let (kind, name, source) = source_for(data_root, &src)?;
                    if t == "bind" && kind != "bind" {
                        return Err(EngineError::InvalidParameter(format!(
                            "invalid mount config for type \"bind\": invalid mount path: '{src}' mount path must be absolute"
                        )));
                    }
                    out.push(UserMount {
                        kind,
                        name,
                        source,
                        destination: target.into(),
                        rw,
                        options: vec![],
                    });
                }
                other => {
                    return Err(EngineError::InvalidParameter(format!(
                        "mount type {other:?} is not supported"
                    )))
                }
            }
        }
    }
    if let Some(Value::Object(t)) = h.extra.get("Tmpfs") {
        for (dst, opts) in t {
            let options: Vec<String> = opts
                .as_str()
                .unwrap_or("")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            out.push(UserMount {
                kind: "tmpfs".into(),
                name: String::new(),
                source: PathBuf::new(),
                destination: dst.clone(),
                rw: true,
                options,
            });
        }
    }
    Ok(out)
}

/// Create missing bind sources (as directories, like Docker's `-v`) and volume dirs.
pub fn prepare(mounts: &[UserMount]) -> Result<()> {
    for m in mounts {
        if m.kind != "tmpfs" && !m.source.exists() {
            std::fs::create_dir_all(&m.source)?;
        }
    }
    Ok(())
}

/// OCI mount entries.
pub fn oci(mounts: &[UserMount]) -> Vec<Value> {
    mounts
        .iter()
        .map(|m| {
            if m.kind == "tmpfs" {
                let mut opts = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".to_string()];
                opts.extend(m.options.iter().cloned());
                if !m.rw {
                    opts.push("ro".into());
                }
                json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts})
            } else {
                json!({"destination": m.destination, "type": "bind",
                       "source": m.source.to_string_lossy(),
                       "options": ["rbind", "rprivate", if m.rw { "rw" } else { "ro" }]})
            }
        })
        .collect()
}

/// `Mounts` as `docker inspect` shows them.
pub fn inspect(mounts: &[UserMount]) -> Vec<Value> {
    mounts
        .iter()
        .map(|m| match m.kind.as_str() {
            "volume" => json!({"Type": "volume", "Name": m.name, "Source": m.source.to_string_lossy(),
                "Destination": m.destination, "Driver": "local", "Mode": "z", "RW": m.rw, "Propagation": ""}),
            "tmpfs" => json!({"Type": "tmpfs", "Source": "", "Destination": m.destination,
                "Mode": m.options.join(","), "RW": m.rw, "Propagation": ""}),
            _ => json!({"Type": "bind", "Source": m.source.to_string_lossy(), "Destination": m.destination,
                "Mode": "", "RW": m.rw, "Propagation": "rprivate"}),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binds() {
        let h: HostConfig = serde_json::from_value(json!({
            "Binds": ["/tmp/x:/data:ro", "vol1:/v"],
            "Tmpfs": {"/run": "size=1m"}
        }))
        .unwrap();
        let m = resolve(Path::new("/D"), &h).unwrap();
        assert_eq!(m.len(), 3);
        assert!(!m[0].rw && m[0].kind == "bind");
        assert_eq!(m[1].source, PathBuf::from("/D/volumes/vol1/_data"));
        assert_eq!(m[2].kind, "tmpfs");
        let bad: HostConfig = serde_json::from_value(json!({"Binds": ["x"]})).unwrap();
        assert!(resolve(Path::new("/D"), &bad).is_err());
    }
}
