//! `--init` (`HostConfig.Init`, `berthd --init`/`--init-path`): the init binary (berth-init)
//! is bind-mounted read-only at `/sbin/docker-init` and becomes the container's PID 1, with
//! the command as its child, as Docker does with docker-init.

use crate::engine::EngineConfig;
use crate::error::{EngineError, Result};
use crate::types::HostConfig;
use serde_json::{json, Value};

/// Where the init appears inside the container (Docker's path).
pub const INIT_DEST: &str = "/sbin/docker-init";

/// Whether a container gets the init: its `HostConfig.Init`, else the daemon's `--init`.
pub fn wanted(h: &HostConfig, cfg: &EngineConfig) -> bool {
    match h.extra.get("Init") {
        Some(Value::Bool(b)) => *b,
        _ => cfg.init,
    }
}

/// Create-time check: `Init` is a boolean or null, and the init binary exists when needed.
pub fn check(h: &HostConfig, cfg: &EngineConfig) -> Result<()> {
    match h.extra.get("Init") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => {}
        Some(other) => {
            return Err(EngineError::InvalidParameter(format!(
                "invalid HostConfig.Init {other}: must be true, false or null"
            )))
        }
    }
    if wanted(h, cfg) && !cfg.init_path.is_file() {
        return Err(EngineError::InvalidParameter(format!(
            "--init: the init binary {} does not exist (see berthd --init-path)",
            cfg.init_path.display()
        )));
    }
    Ok(())
}

/// Puts the init in front of the process args and mounts it (no-op when not wanted).
pub fn apply(spec: &mut Value, h: &HostConfig, cfg: &EngineConfig) {
    if !wanted(h, cfg) {
        return;
    }
    let mut args = vec![json!(INIT_DEST), json!("--")];
    if let Some(a) = spec["process"]["args"].as_array() {
        args.extend(a.iter().cloned());
    }
    spec["process"]["args"] = Value::Array(args);
    if let Some(m) = spec["mounts"].as_array_mut() {
        m.retain(|m| m["destination"] != INIT_DEST);
        m.push(json!({
            "destination": INIT_DEST,
            "type": "bind",
            "source": cfg.init_path.to_string_lossy(),
            "options": ["rbind", "rprivate", "ro"],
        }));
    }
}
