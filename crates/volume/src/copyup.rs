//! Copy-up: on first mount of an empty volume, the image's content at the mount target is copied
//! into the volume, keeping owner, mode, timestamps, xattrs, symlinks (never followed),
//! hard links and device nodes.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{Result, VolumeError};

/// What a copy-up copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CopyStats {
    /// Regular files (hard links count once).
    pub files: u64,
    /// Directories below the root.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

const MAX_SYMLINK_HOPS: usize = 40;

/// Resolves `path` inside `root` like a chroot would: symlinks are followed but never leave
/// `root` (absolute link targets and `..` are taken relative to `root`). Returns `None` when a
/// component does not exist.
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut cur: Vec<std::ffi::OsString> = Vec::new();
    let mut hops = 0;
    // components still to walk; a symlink's target is put in front of them
    let mut queue: VecDeque<std::ffi::OsString> = components(Path::new(path));
    while let Some(name) = queue.pop_front() {
        if name == ".." {
            cur.pop();
            continue;
        }
        let mut p = root.to_path_buf();
        p.extend(cur.iter());
        p.push(&name);
        let meta = fs::symlink_metadata(&p).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return None;
            }
            let target = fs::read_link(&p).ok()?;
            if target.is_absolute() {
                cur.clear();
            }
            let mut front = components(&target);
            front.extend(queue.drain(..));
            queue = front;
        } else {
            cur.push(name);
        }
    }
    let mut p = root.to_path_buf();
    p.extend(cur.iter());
    Some(p)
}

/// Normal and `..` components of a path.
fn components(p: &Path) -> VecDeque<std::ffi::OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Copies what the image has at `target` (a container path) under `rootfs` into `dest`.
/// Returns `None` when the image has nothing (or no directory) there.
pub fn copy_up_from_rootfs(rootfs: &Path, target: &str, dest: &Path) -> Result<Option<CopyStats>> {
    // resolved by the kernel inside the rootfs (openat2 RESOLVE_IN_ROOT)
    let Ok(src) = safepath::Root::open(rootfs).and_then(|r| r.real_path(target)) else {
        return Ok(None);
    };
    match fs::symlink_metadata(&src) {
        Ok(m) if m.is_dir() => copy_up(&src, dest).map(Some),
        _ => Ok(None),
    }
}

/// Copies the content of directory `src` into the existing directory `dest`, and gives `dest`
/// the owner, mode, times and xattrs of `src`. Symlinks are copied as links, never followed.
pub fn copy_up(src: &Path, dest: &Path) -> Result<CopyStats> {
    let mut st = CopyStats::default();
    let mut links = HashMap::new();
    let meta = fs::symlink_metadata(src).map_err(|e| VolumeError::io("stat", src, e))?;
    let root_dev = meta.dev();
    copy_dir(src, dest, root_dev, &mut links, &mut st)?;
    apply_meta(src, dest, &meta)?;
    Ok(st)
}

fn copy_dir(
    src: &Path,
    dest: &Path,
    dev: u64,
    links: &mut HashMap<(u64, u64), PathBuf>,
    st: &mut CopyStats,
) -> Result<()> {
    let rd = fs::read_dir(src).map_err(|e| VolumeError::io("read dir", src, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| VolumeError::io("read dir", src, e))?;
        let s = entry.path();
        let d = dest.join(entry.file_name());
        let meta = fs::symlink_metadata(&s).map_err(|e| VolumeError::io("stat", &s, e))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            match fs::create_dir(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
                Err(e) => return Err(VolumeError::io("mkdir", &d, e)),
            }
            st.dirs += 1;
            // do not descend into other file systems mounted inside the image tree
            if meta.dev() == dev {
                copy_dir(&s, &d, dev, links, st)?;
            }
            apply_meta(&s, &d, &meta)?;
            continue;
        }
        if meta.nlink() > 1 && !ft.is_symlink() {
            if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
                fs::hard_link(first, &d).map_err(|e| VolumeError::io("link", &d, e))?;
                continue;
            }
        }
        if ft.is_file() {
            copy_file(&s, &d)?;
            st.files += 1;
            st.bytes += meta.len();
        } else if ft.is_symlink() {
            let t = fs::read_link(&s).map_err(|e| VolumeError::io("readlink", &s, e))?;
            std::os::unix::fs::symlink(&t, &d).map_err(|e| VolumeError::io("symlink", &d, e))?;
            st.symlinks += 1;
        } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            let c = cpath(&d)?;
            // SAFETY: c is a valid NUL-terminated path.
            let rc = unsafe {
                libc::mknod(
                    c.as_ptr(),
                    meta.mode() as libc::mode_t,
                    meta.rdev() as libc::dev_t,
                )
            };
            if rc != 0 {
                return Err(VolumeError::io("mknod", &d, io::Error::last_os_error()));
            }
        } else {
            continue; // sockets are not copied
        }
        if meta.nlink() > 1 && !ft.is_symlink() {
            links.insert((meta.dev(), meta.ino()), d.clone());
        }
        apply_meta(&s, &d, &meta)?;
    }
    Ok(())
}

fn copy_file(s: &Path, d: &Path) -> Result<()> {
    let mut from = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(s)
        .map_err(|e| VolumeError::io("open", s, e))?;
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o600)
        .open(d)
        .map_err(|e| VolumeError::io("create", d, e))?;
    io::copy(&mut from, &mut to).map_err(|e| VolumeError::io("copy", d, e))?;
    Ok(())
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        VolumeError::io(
            "path",
            p,
            io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in path"),
        )
    })
}

/// Owner, then mode (chown clears set-id bits), xattrs, then times (last, as writes change them).
fn apply_meta(src: &Path, dest: &Path, meta: &fs::Metadata) -> Result<()> {
    let link = meta.file_type().is_symlink();
    std::os::unix::fs::lchown(dest, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| VolumeError::io("chown", dest, e))?;
    if !link {
        fs::set_permissions(dest, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| VolumeError::io("chmod", dest, e))?;
    }
    copy_xattrs(src, dest);
    let c = cpath(dest)?;
    let times = [
        libc::timespec {
            tv_sec: meta.atime() as libc::time_t,
            tv_nsec: meta.atime_nsec() as _,
        },
        libc::timespec {
            tv_sec: meta.mtime() as libc::time_t,
            tv_nsec: meta.mtime_nsec() as _,
        },
    ];
    // SAFETY: c is a valid path, times points to two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(VolumeError::io(
            "utimensat",
            dest,
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Best effort: xattrs the destination file system refuses (or overlay's own) are skipped.
fn copy_xattrs(src: &Path, dest: &Path) {
    let (Ok(s), Ok(d)) = (cpath(src), cpath(dest)) else {
        return;
    };
    let mut names = vec![0u8; 4096];
    // SAFETY: buffers are valid for their stated lengths; paths are NUL-terminated.
    let n = unsafe {
        libc::llistxattr(
            s.as_ptr(),
            names.as_mut_ptr() as *mut libc::c_char,
            names.len(),
        )
    };
    if n <= 0 {
        return;
    }
    names.truncate(n as usize);
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") || name.starts_with(b"security.selinux") {
            continue;
        }
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        let mut val = vec![0u8; 65536];
        // SAFETY: as above.
        let len = unsafe {
            libc::lgetxattr(
                s.as_ptr(),
                cname.as_ptr(),
                val.as_mut_ptr() as *mut libc::c_void,
                val.len(),
            )
        };
        if len < 0 {
            continue;
        }
        // SAFETY: as above.
        unsafe {
            libc::lsetxattr(
                d.as_ptr(),
                cname.as_ptr(),
                val.as_ptr() as *const libc::c_void,
                len as usize,
                0,
            );
        }
    }
}

/// True when `dir` holds no entries (a missing directory counts as empty).
pub fn is_empty_dir(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(VolumeError::io("read dir", dir, e)),
    }
}

/// Bytes used under `dir` (regular files' sizes; does not cross mount points).
pub fn disk_usage(dir: &Path) -> u64 {
    fn walk(p: &Path, dev: u64) -> u64 {
        let Ok(rd) = fs::read_dir(p) else { return 0 };
        let mut total = 0;
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                if m.dev() == dev {
                    total += walk(&e.path(), dev);
                }
            } else if m.is_file() {
                total += m.len();
            }
        }
        total
    }
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => walk(dir, m.dev()),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_in_root() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("real/data")).unwrap();
        std::os::unix::fs::symlink("/real", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../real", r.join("up")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("etc")).unwrap();
        assert_eq!(
            resolve_in_root(r, "/abs/data").unwrap(),
            r.join("real/data")
        );
        assert_eq!(resolve_in_root(r, "/up/data").unwrap(), r.join("real/data"));
        // /etc inside the root is a link to /etc, which does not exist inside the root
        assert!(resolve_in_root(r, "/etc/passwd").is_none());
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        assert!(resolve_in_root(r, "/loop").is_none());
    }
}
