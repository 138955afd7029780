//! Time namespaces: `linux.timeOffsets` and the `time` entry of `linux.namespaces`.
//!
//! clone(2) cannot create a time namespace, so the runtime switches its own
//! `time_for_children` namespace just around the clone of the container init (a new one
//! with the offsets written, or one joined by path) and switches back right after.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Clock offsets of a new time namespace: (clock id, seconds, nanoseconds).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Offsets(pub Vec<(libc::clockid_t, i64, u32)>);

impl Offsets {
    /// True when no offset is requested.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parses `linux.timeOffsets` (`{"monotonic"|"boottime": {"secs", "nanosecs"}}`) out of a
/// config.json value and removes it (oci-spec types the field differently).
pub fn take_offsets(config: &mut serde_json::Value) -> Result<Offsets> {
    let Some(v) = config
        .get_mut("linux")
        .and_then(|l| l.as_object_mut())
        .and_then(|l| l.remove("timeOffsets"))
    else {
        return Ok(Offsets::default());
    };
    let bad = |m: String| Error::Config(format!("linux.timeOffsets: {m}"));
    let obj = match v {
        serde_json::Value::Null => return Ok(Offsets::default()),
        serde_json::Value::Object(o) => o,
        _ => return Err(bad("must be an object".into())),
    };
    let mut out = Vec::new();
    for (name, off) in obj {
        let clock = match name.as_str() {
            "monotonic" => libc::CLOCK_MONOTONIC,
            "boottime" => libc::CLOCK_BOOTTIME,
            _ => return Err(bad(format!("unknown clock {name:?}"))),
        };
        let secs = match off.get("secs") {
            None => 0,
            Some(s) => s
                .as_i64()
                .ok_or_else(|| bad(format!("{name}.secs must be an integer")))?,
        };
        let nanos = match off.get("nanosecs") {
            None => 0,
            Some(n) => n
                .as_u64()
                .filter(|n| *n < 1_000_000_000)
                .ok_or_else(|| bad(format!("{name}.nanosecs must be below 1000000000")))?
                as u32,
        };
        out.push((clock, secs, nanos));
    }
    Ok(Offsets(out))
}

/// Loads config.json: the spec plus the time offsets oci-spec cannot parse.
pub fn load_spec(path: &Path) -> Result<(Spec, Offsets)> {
    let raw = std::fs::read(path).ctx(|| format!("read {}", path.display()))?;
    let mut v: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| Error::Config(format!("load config.json: {e}")))?;
    let off = take_offsets(&mut v)?;
    let spec: Spec =
        serde_json::from_value(v).map_err(|e| Error::Config(format!("load config.json: {e}")))?;
    Ok((spec, off))
}

/// The runtime's own time namespace, restored on drop (after the clone of the init).
pub struct Switch {
    orig: OwnedFd,
}

impl Drop for Switch {
    fn drop(&mut self) {
        // SAFETY: setns back to the namespace we came from (single-threaded runtime).
        unsafe { libc::setns(self.orig.as_raw_fd(), libc::CLONE_NEWTIME) };
    }
}

/// Makes the next child start in a new time namespace with `off` (`join` None) or in the
/// namespace `join`. Nothing to do (None) when neither is requested.
pub fn prepare(new: bool, join: Option<&OwnedFd>, off: &Offsets) -> Result<Option<Switch>> {
    if !new && join.is_none() {
        return Ok(None);
    }
    let orig = OwnedFd::from(
        std::fs::File::open("/proc/self/ns/time").ctx(|| "open /proc/self/ns/time".into())?,
    );
    if let Some(fd) = join {
        // SAFETY: setns on a namespace fd; the runtime is single-threaded.
        if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWTIME) } != 0 {
            return Err(Error::last("join time namespace"));
        }
        return Ok(Some(Switch { orig }));
    }
    // SAFETY: affects only children created from now on.
    if unsafe { libc::unshare(libc::CLONE_NEWTIME) } != 0 {
        return Err(Error::last("unshare time namespace"));
    }
    let sw = Switch { orig };
    if !off.is_empty() {
        let text: String = off
            .0
            .iter()
            .map(|(c, s, n)| format!("{c} {s} {n}\n"))
            .collect();
        // One write: the kernel takes all offsets at once, before any process enters.
        std::fs::write("/proc/self/timens_offsets", text)
            .ctx(|| "write /proc/self/timens_offsets".into())?;
    }
    Ok(Some(sw))
}
