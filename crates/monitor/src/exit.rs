//! The exit record the monitor writes when the container exits:
//! `{"exit_code":N,"finished_at":"RFC3339Nano","oom_killed":bool}`.

use crate::error::{MonitorError, Result};
use std::io::Write;
use std::path::Path;

/// How a container ended, as recorded by its monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRecord {
    /// Exit status; 128 + signal number when killed by a signal.
    pub exit_code: i32,
    /// When the monitor saw the exit, RFC 3339 with nanoseconds (UTC).
    pub finished_at: String,
    /// Whether the kernel's OOM killer ended it (best effort).
    pub oom_killed: bool,
}

impl ExitRecord {
    /// The record as one JSON object (no trailing newline).
    pub fn to_json(&self) -> String {
        format!(
            "{{\"exit_code\":{},\"finished_at\":\"{}\",\"oom_killed\":{}}}",
            self.exit_code,
            crate::log::escape_json(self.finished_at.as_bytes()),
            self.oom_killed
        )
    }

    /// Parses the JSON written by [`ExitRecord::to_json`].
    pub fn from_json(s: &str) -> Result<ExitRecord> {
        let v: serde_json::Value = serde_json::from_str(s)
            .map_err(|e| MonitorError::Format(format!("exit record: {e}")))?;
        let exit_code = v
            .get("exit_code")
            .and_then(|c| c.as_i64())
            .ok_or_else(|| MonitorError::Format("exit record: no exit_code".into()))?;
        Ok(ExitRecord {
            exit_code: exit_code as i32,
            finished_at: v
                .get("finished_at")
                .and_then(|f| f.as_str())
                .unwrap_or_default()
                .to_string(),
            oom_killed: v
                .get("oom_killed")
                .and_then(|o| o.as_bool())
                .unwrap_or(false),
        })
    }

    /// Writes the record to `path` atomically (temp file in the same dir, fsync, rename).
    pub fn write_atomic(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.to_json().as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }
}

/// Reads the exit record at `path`; `Ok(None)` when it does not exist (yet).
pub fn read_exit(path: &Path) -> Result<Option<ExitRecord>> {
    match std::fs::read_to_string(path) {
        Ok(s) => ExitRecord::from_json(&s).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
