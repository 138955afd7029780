//! `HostConfig.StorageOpt` (`--storage-opt`): checked at create, never accepted silently.
//!
//! Only `size` exists (as with Docker's overlay2 driver). It needs overlay over xfs mounted
//! with project quotas; berth does not set project quotas yet, so `size` is refused with
//! Docker's error on any other filesystem and with an error naming it on xfs+pquota. Any other
//! key is refused with Docker's "Unknown option" naming it.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{EngineError, Result};

/// Docker's error when the backing filesystem cannot limit a container's size.
pub const NOT_SUPPORTED: &str =
    "--storage-opt is supported only for overlay over xfs with 'pquota' mount option";

const XFS_SUPER_MAGIC: i64 = 0x5846_5342;

/// Validates the `StorageOpt` member of a HostConfig's extra fields; `root` is where
/// container snapshots live.
pub fn check(extra: &Map<String, Value>, root: &Path) -> Result<()> {
    let Some(v) = extra.get("StorageOpt") else {
        return Ok(());
    };
    let opts = match v {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        _ => {
            return Err(EngineError::InvalidParameter(
                "StorageOpt must be an object of strings".into(),
            ))
        }
    };
    if let Some((k, v)) = opts.iter().next() {
        if !k.eq_ignore_ascii_case("size") {
            return Err(EngineError::InvalidParameter(format!("Unknown option {k}")));
        }
        if !v.is_string() {
            return Err(EngineError::InvalidParameter(format!(
                "--storage-opt {k}: value must be a string"
            )));
        }
        if !xfs_with_pquota(root) {
            return Err(EngineError::InvalidParameter(NOT_SUPPORTED.into()));
        }
        return Err(EngineError::InvalidParameter(format!(
            "--storage-opt {k}: project quotas are not implemented by berth yet"
        )));
    }
    Ok(())
}

/// Whether `p` is on xfs mounted with project quotas (`pquota`/`prjquota`).
fn xfs_with_pquota(p: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs fills the zeroed struct; the path is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 || st.f_type as i64 != XFS_SUPER_MAGIC {
        return false;
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // the mount with the longest mount point that is a prefix of p
    let mut best: Option<(usize, bool)> = None;
    for l in info.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let (Some(mp), Some(sep)) = (f.get(4), f.iter().position(|x| *x == "-")) else {
            continue;
        };
        if !p.starts_with(mp) {
            continue;
        }
        let sopts = f.get(sep + 3).copied().unwrap_or("");
        let q = sopts.split(',').any(|o| o == "prjquota" || o == "pquota");
        if best.is_none_or(|(n, _)| mp.len() >= n) {
            best = Some((mp.len(), q));
        }
    }
    best.is_some_and(|(_, q)| q)
}
