//! Overlayfs snapshots: `snapshots/<key>/{upper,work,merged}` with an image's layer dirs as
//! read-only lowers.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, UnmountFlags};

use crate::error::{ImageError, Result};

/// Makes and mounts writable overlay snapshots over read-only layer directories.
#[derive(Debug, Clone)]
pub struct Snapshotter {
    dir: PathBuf,
}

impl Snapshotter {
    /// A snapshotter under `root` (= `D/image`); snapshots live in `root/snapshots/`.
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let dir = root.as_ref().join("snapshots");
        fs::create_dir_all(&dir).map_err(|e| ImageError::io("create dir", &dir, e))?;
        Ok(Snapshotter { dir })
    }

    /// The snapshot's directory (`snapshots/<key>`).
    pub fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.dir.join(key))
    }

    /// The merged (rootfs) directory of a snapshot.
    pub fn merged_dir(&self, key: &str) -> Result<PathBuf> {
        Ok(self.path(key)?.join("merged"))
    }

    /// The upper (writable) directory of a snapshot: what the container changed.
    pub fn upper_dir(&self, key: &str) -> Result<PathBuf> {
        Ok(self.path(key)?.join("upper"))
    }

    /// Creates snapshot `key` and mounts it. `lowers` are layer dirs lowest first (as
    /// [`crate::ImageStore::layer_dirs`] returns them). Returns the merged dir (the rootfs).
    /// An existing snapshot with that key is an [`ImageError::Conflict`].
    pub fn prepare(&self, key: &str, lowers: &[PathBuf]) -> Result<PathBuf> {
        let dir = self.path(key)?;
        fs::create_dir(&dir).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => {
                ImageError::Conflict(format!("snapshot {key} already exists"))
            }
            _ => ImageError::io("create dir", &dir, e),
        })?;
        let made = (|| {
            for sub in ["upper", "work", "merged"] {
                let p = dir.join(sub);
                fs::create_dir(&p).map_err(|e| ImageError::io("create dir", &p, e))?;
            }
            if lowers.is_empty() {
                let p = dir.join("empty");
                fs::create_dir(&p).map_err(|e| ImageError::io("create dir", &p, e))?;
            }
            self.mount(key, lowers)
        })();
        if made.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        made
    }

    /// Mounts an existing snapshot (e.g. after a reboot); already mounted is fine.
    /// Returns the merged dir.
    pub fn mount(&self, key: &str, lowers: &[PathBuf]) -> Result<PathBuf> {
        let dir = self.path(key)?;
        let merged = dir.join("merged");
        if !merged.is_dir() {
            return Err(ImageError::NotFound(format!("snapshot {key}")));
        }
        if is_mount_point(&merged) {
            return Ok(merged);
        }
        let mut lowers: Vec<PathBuf> = lowers.to_vec();
        if lowers.is_empty() {
            lowers.push(dir.join("empty"));
        }
        // overlayfs wants the top layer first.
        lowers.reverse();
        let upper = dir.join("upper");
        let work = dir.join("work");
        let opts = options(&lowers, &upper, &work);
        if opts.len() < page_size() - 1 {
            return mount_overlay(&merged, &opts).map(|()| merged);
        }
        // Too long for one page: refer to every lower through a short /proc/self/fd path.
        let fds = lowers
            .iter()
            .map(|l| {
                rustix::fs::open(
                    l,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| ImageError::io("open", l, e.into()))
            })
            .collect::<Result<Vec<OwnedFd>>>()?;
        let short: Vec<PathBuf> = fds
            .iter()
            .map(|fd| PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())))
            .collect();
        let opts = options(&short, &upper, &work);
        if opts.len() >= page_size() - 1 {
            return Err(ImageError::Mount {
                target: merged,
                reason: format!("too many layers ({}) for one overlay mount", short.len()),
            });
        }
        mount_overlay(&merged, &opts).map(|()| merged)
    }

    /// Unmounts a snapshot (lazily if it is busy); not mounted is fine.
    pub fn unmount(&self, key: &str) -> Result<()> {
        let merged = self.merged_dir(key)?;
        unmount_all(&merged)
    }

    /// Unmounts and deletes a snapshot; absent is fine.
    pub fn remove(&self, key: &str) -> Result<()> {
        let dir = self.path(key)?;
        if !dir.exists() {
            return Ok(());
        }
        let merged = dir.join("merged");
        unmount_all(&merged)?;
        if is_mount_point(&merged) {
            return Err(ImageError::Mount {
                target: merged,
                reason: "still mounted after unmount; refusing to delete".into(),
            });
        }
        fs::remove_dir_all(&dir).map_err(|e| ImageError::io("remove", &dir, e))
    }

    /// True when snapshot `key` exists (mounted or not).
    pub fn exists(&self, key: &str) -> bool {
        self.path(key)
            .map(|p| p.join("merged").is_dir())
            .unwrap_or(false)
    }

    /// True when snapshot `key` is mounted.
    pub fn is_mounted(&self, key: &str) -> bool {
        self.merged_dir(key)
            .map(|m| is_mount_point(&m))
            .unwrap_or(false)
    }
}

fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ImageError::InvalidKey(key.to_string()))
    }
}

/// Escapes the characters overlayfs treats specially in a path option.
fn escape(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ':' | ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn options(lowers: &[PathBuf], upper: &Path, work: &Path) -> String {
    let lower: Vec<String> = lowers.iter().map(|l| escape(l)).collect();
    format!(
        "lowerdir={},upperdir={},workdir={},index=off",
        lower.join(":"),
        escape(upper),
        escape(work)
    )
}

fn mount_overlay(target: &Path, opts: &str) -> Result<()> {
    let data = CString::new(opts).map_err(|_| ImageError::Mount {
        target: target.to_path_buf(),
        reason: "NUL byte in a path".into(),
    })?;
    rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        data.as_c_str(),
    )
    .map_err(|e| ImageError::Mount {
        target: target.to_path_buf(),
        reason: format!("overlay ({opts}): {}", io::Error::from(e)),
    })
}

/// Unmounts everything stacked on `target`; a busy mount is detached lazily.
fn unmount_all(target: &Path) -> Result<()> {
    for _ in 0..16 {
        if !is_mount_point(target) {
            return Ok(());
        }
        match rustix::mount::unmount(target, UnmountFlags::empty()) {
            Ok(()) => continue,
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(rustix::io::Errno::BUSY) => {
                rustix::mount::unmount(target, UnmountFlags::DETACH).map_err(|e| {
                    ImageError::Mount {
                        target: target.to_path_buf(),
                        reason: format!("lazy unmount: {}", io::Error::from(e)),
                    }
                })?;
            }
            Err(e) => {
                return Err(ImageError::Mount {
                    target: target.to_path_buf(),
                    reason: format!("unmount: {}", io::Error::from(e)),
                })
            }
        }
    }
    Ok(())
}

/// True when `p` is the root of a mount (its device differs from its parent's, or the kernel
/// says so through statx).
fn is_mount_point(p: &Path) -> bool {
    if let Ok(st) = rustix::fs::statx(
        rustix::fs::CWD,
        p,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        rustix::fs::StatxFlags::BASIC_STATS,
    ) {
        let mask = rustix::fs::StatxAttributes::MOUNT_ROOT;
        if st.stx_attributes_mask.contains(mask) {
            return st.stx_attributes.contains(mask);
        }
    }
    let (Ok(me), Some(parent)) = (fs::symlink_metadata(p), p.parent()) else {
        return false;
    };
    match fs::symlink_metadata(parent) {
        Ok(pm) => pm.dev() != me.dev(),
        Err(_) => false,
    }
}

fn page_size() -> usize {
    rustix::param::page_size()
}
