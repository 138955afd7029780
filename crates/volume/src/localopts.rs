//! Options of the `local` driver: `type`, `device`, `o` (like `mount -t TYPE -o O DEVICE`),
//! validated at create time and mounted on the volume's `_data` directory at first use.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Result, VolumeError};
use crate::sys;

/// The mount a volume's driver options describe, or `None` for a plain directory volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DriverMount {
    pub fstype: String,
    pub device: String,
    pub flags: libc::c_ulong,
    pub data: String,
    pub bind: bool,
}

fn flag_of(word: &str) -> Option<(libc::c_ulong, libc::c_ulong)> {
    Some(match word {
        "ro" => (libc::MS_RDONLY, 0),
        "rw" => (0, libc::MS_RDONLY),
        "nosuid" => (libc::MS_NOSUID, 0),
        "suid" => (0, libc::MS_NOSUID),
        "nodev" => (libc::MS_NODEV, 0),
        "dev" => (0, libc::MS_NODEV),
        "noexec" => (libc::MS_NOEXEC, 0),
        "exec" => (0, libc::MS_NOEXEC),
        "sync" => (libc::MS_SYNCHRONOUS, 0),
        "async" => (0, libc::MS_SYNCHRONOUS),
        "dirsync" => (libc::MS_DIRSYNC, 0),
        "noatime" => (libc::MS_NOATIME, 0),
        "atime" => (0, libc::MS_NOATIME),
        "nodiratime" => (libc::MS_NODIRATIME, 0),
        "diratime" => (0, libc::MS_NODIRATIME),
        "relatime" => (libc::MS_RELATIME, 0),
        "strictatime" => (libc::MS_STRICTATIME, 0),
        "bind" => (libc::MS_BIND, 0),
        "rbind" => (libc::MS_BIND | libc::MS_REC, 0),
        "defaults" => (0, 0),
        _ => return None,
    })
}

/// Validates local driver options; returns the mount they describe (if any).
pub(crate) fn parse(opts: &BTreeMap<String, String>) -> Result<Option<DriverMount>> {
    for k in opts.keys() {
        match k.as_str() {
            "type" | "device" | "o" => {}
            "size" => {
                return Err(VolumeError::InvalidOption(
                    "quota size requested but no quota support".into(),
                ))
            }
            other => {
                return Err(VolumeError::UnknownOption(format!(
                    "invalid option: {other:?}"
                )))
            }
        }
    }
    let fstype = opts.get("type").filter(|s| !s.is_empty());
    let device = opts.get("device").filter(|s| !s.is_empty());
    let (fstype, device) = match (fstype, device) {
        (None, None) if opts.contains_key("o") => {
            return Err(VolumeError::InvalidOption(
                "missing required option: \"type\"".into(),
            ))
        }
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(VolumeError::InvalidOption(
                "missing required option: \"device\"".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(VolumeError::InvalidOption(
                "missing required option: \"type\"".into(),
            ))
        }
        (Some(t), Some(d)) => (t.clone(), d.clone()),
    };
    let mut flags: libc::c_ulong = 0;
    let mut data = Vec::new();
    for word in opts.get("o").map(String::as_str).unwrap_or("").split(',') {
        if word.is_empty() {
            continue;
        }
        match flag_of(word) {
            Some((set, clear)) => flags = (flags | set) & !clear,
            None => data.push(word.to_string()),
        }
    }
    let bind = flags & libc::MS_BIND != 0;
    if bind && !device.starts_with('/') {
        return Err(VolumeError::InvalidOption(format!(
            "invalid device for a bind volume: '{device}' must be an absolute path"
        )));
    }
    Ok(Some(DriverMount {
        fstype,
        device,
        flags,
        data: data.join(","),
        bind,
    }))
}

impl DriverMount {
    /// Mounts on `target` (a bind is remounted to apply read-only and the other flags).
    pub(crate) fn mount(&self, target: &Path) -> Result<()> {
        if self.bind {
            let bind = self.flags & (libc::MS_BIND | libc::MS_REC);
            sys::mount(&self.device, target, "none", bind, "")?;
            let rest = self.flags & !(libc::MS_BIND | libc::MS_REC);
            if rest != 0 {
                let r = sys::mount(
                    "none",
                    target,
                    "none",
                    rest | libc::MS_BIND | libc::MS_REMOUNT,
                    "",
                );
                if let Err(e) = r {
                    let _ = sys::unmount_all(target);
                    return Err(e);
                }
            }
            Ok(())
        } else {
            sys::mount(&self.device, target, &self.fstype, self.flags, &self.data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options() {
        assert_eq!(parse(&m(&[])).unwrap(), None);
        let t = parse(&m(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m,uid=10,noexec"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(t.data, "size=1m,uid=10");
        assert_eq!(t.flags, libc::MS_NOEXEC);
        assert!(!t.bind);
        let b = parse(&m(&[
            ("type", "none"),
            ("device", "/srv"),
            ("o", "bind,ro"),
        ]))
        .unwrap()
        .unwrap();
        assert!(b.bind);
        assert!(parse(&m(&[("type", "none"), ("device", "srv"), ("o", "bind")])).is_err());
        assert!(parse(&m(&[("type", "tmpfs")])).is_err());
        assert!(parse(&m(&[("device", "tmpfs")])).is_err());
        assert!(parse(&m(&[("o", "size=1m")])).is_err());
        assert!(parse(&m(&[("foo", "bar")])).is_err());
        assert!(parse(&m(&[("size", "10g")])).is_err());
    }
}
