//! Create-time checks of the identity options of `HostConfig` (`OomScoreAdj`, `GroupAdd`):
//! a malformed value is refused by name, never ignored.

use crate::error::{EngineError, Result};
use crate::types::HostConfig;
use serde_json::Value;

/// `GroupAdd` and `OomScoreAdj`.
pub fn check(h: &HostConfig) -> Result<()> {
    // The namespace modes (PidMode, IpcMode, UTSMode, UsernsMode, CgroupnsMode) are judged
    // with the other fields in `crate::fields`.
    if let Some(v) = h.extra.get("OomScoreAdj") {
        match v.as_i64() {
            Some(n) if (-1000..=1000).contains(&n) => {}
            _ if v.is_null() => {}
            _ => {
                return Err(EngineError::InvalidParameter(format!(
                    "Invalid value {v}, range for oom score adj is [-1000, 1000]"
                )))
            }
        }
    }
    match h.extra.get("GroupAdd") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(other) => {
            return Err(EngineError::InvalidParameter(format!(
                "invalid HostConfig.GroupAdd {other}: must be a list of group names or ids"
            )))
        }
    }
    Ok(())
}

/// The `GroupAdd` entries of `h`.
pub fn group_add(h: &HostConfig) -> Vec<String> {
    h.extra
        .get("GroupAdd")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
