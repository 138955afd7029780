//! Path resolution inside a root without escaping it, and mount-flag parsing.

use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Resolves `unsafe_path` inside `root`, following symlinks as if `root` were `/`:
/// the result is always under `root` (`..` and absolute links are clamped to it).
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut queue: VecDeque<OsString> = VecDeque::new();
    push_components(&mut queue, unsafe_path, false);
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(c) = queue.pop_front() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let full = root.join(&resolved).join(&c);
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(Error::Config(format!(
                        "too many symlinks resolving {}",
                        unsafe_path.display()
                    )));
                }
                let target = std::fs::read_link(&full)
                    .map_err(|e| Error::io(format!("readlink {}", full.display()), e))?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                let mut front = VecDeque::new();
                push_components(&mut front, &target, false);
                front.extend(queue);
                queue = front;
            }
            _ => resolved.push(&c),
        }
    }
    Ok(root.join(resolved))
}

fn push_components(q: &mut VecDeque<OsString>, p: &Path, _abs: bool) {
    for c in p.components() {
        match c {
            Component::Normal(n) => q.push_back(n.to_os_string()),
            Component::ParentDir => q.push_back("..".into()),
            _ => {}
        }
    }
}

/// Parsed mount options.
#[derive(Debug, Default, Clone)]
pub struct MountOpts {
    /// Flags for mount(2).
    pub flags: libc::c_ulong,
    /// Flags to clear (e.g. `rw` clears MS_RDONLY).
    pub propagation: Vec<libc::c_ulong>,
    /// Filesystem-specific data.
    pub data: Vec<String>,
    /// bind or rbind given.
    pub bind: bool,
}

/// Parses OCI mount options into flags, propagation changes and data.
pub fn parse_options(opts: &[String]) -> MountOpts {
    let mut m = MountOpts::default();
    for o in opts {
        let (set, clear): (libc::c_ulong, libc::c_ulong) = match o.as_str() {
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
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "noatime" => (libc::MS_NOATIME, 0),
            "atime" => (0, libc::MS_NOATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "bind" => {
                m.bind = true;
                (libc::MS_BIND, 0)
            }
            "rbind" => {
                m.bind = true;
                (libc::MS_BIND | libc::MS_REC, 0)
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                if let Some(f) = propagation_flag(o) {
                    m.propagation.push(f);
                }
                (0, 0)
            }
            "defaults" => (0, 0),
            other => {
                m.data.push(other.to_string());
                (0, 0)
            }
        };
        m.flags = (m.flags | set) & !clear;
    }
    m
}

/// The mount(2) flags for a propagation name (`rprivate`, `slave`...).
pub fn propagation_flag(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_clamps_links() {
        let d = std::env::temp_dir().join(format!("sj-{}", std::process::id()));
        std::fs::create_dir_all(d.join("a")).unwrap();
        let _ = std::os::unix::fs::symlink("/etc", d.join("a/abs"));
        let _ = std::os::unix::fs::symlink("../../../..", d.join("a/up"));
        assert_eq!(
            secure_join(&d, Path::new("/a/abs/x")).unwrap(),
            d.join("etc/x")
        );
        assert_eq!(secure_join(&d, Path::new("a/up/y")).unwrap(), d.join("y"));
        assert_eq!(secure_join(&d, Path::new("/../../z")).unwrap(), d.join("z"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn options() {
        let o = parse_options(&[
            "rbind".into(),
            "ro".into(),
            "rslave".into(),
            "mode=755".into(),
        ]);
        assert!(o.bind);
        assert_eq!(o.flags, libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY);
        assert_eq!(o.data, vec!["mode=755".to_string()]);
        assert_eq!(o.propagation.len(), 1);
    }
}
