//! `docker cp`: stat, read and write paths of a container (`HEAD`/`GET`/`PUT
//! /containers/{id}/archive`), running or not.
//!
//! A container path is looked up in the container's mount table (the deepest mount whose
//! destination contains it: a volume, a bind, a tmpfs of a running container, the generated
//! `/etc/hosts`…), else in its rootfs (the snapshot is mounted for a stopped container while
//! the copy lasts). Every path is then resolved inside that root with `safepath`
//! (`openat2(RESOLVE_IN_ROOT)`), and the tar is read or written relative to the directory
//! fd found, never by host path, so a container swapping a directory for a symlink cannot
//! make berth touch a host file (CVE-2018-15664).

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::images::map_err;
use crate::types::Container;
use safepath::Root;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// What `X-Docker-Container-Path-Stat` carries (Docker's `ContainerPathStat`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PathStat {
    /// Base name of the path.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Go `os.FileMode` bits (type bits high, permissions low), as the docker CLI reads them.
    pub mode: u32,
    /// Modification time, RFC 3339 with nanoseconds.
    pub mtime: String,
    /// For a symlink: the absolute container path it resolves to; empty otherwise.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Options of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutOptions {
    /// `noOverwriteDirNonDir`.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID`: entries get the container user's uid/gid.
    pub copy_uid_gid: bool,
}

/// Keeps a stopped container's rootfs mounted while a copy uses it.
pub struct RootfsGuard {
    engine: Arc<Engine>,
    id: String,
    merged: PathBuf,
}

impl Drop for RootfsGuard {
    fn drop(&mut self) {
        let last = {
            let mut inner = self.engine.lock();
            let n = inner.cp_users.entry(self.id.clone()).or_insert(1);
            *n -= 1;
            if *n == 0 {
                inner.cp_users.remove(&self.id);
                true
            } else {
                false
            }
        };
        let running = self
            .engine
            .get(&self.id)
            .map(|c| c.state.running || c.state.restarting)
            .unwrap_or(false);
        if last && !running && !self.engine.busy(&self.id) {
            let _ = self.engine.images.unmount(&self.id);
        }
    }
}

/// A container path found on the host.
struct Located {
    root: Root,
    /// Path inside `root` (relative).
    rel: PathBuf,
    /// The container path of `root` (for link targets).
    base: PathBuf,
    writable: bool,
    /// In the rootfs (not a mount).
    in_rootfs: bool,
}

/// A path being read out: the directory fd holding it, its name there, the tar name.
pub struct CopyOut {
    /// Stat of the path.
    pub stat: PathStat,
    parent: OwnedFd,
    name: OsString,
    rebase: PathBuf,
    label: PathBuf,
    _guard: RootfsGuard,
}

impl CopyOut {
    /// Writes the tar (blocking).
    pub fn write_to<W: Write>(&self, w: W) -> Result<W> {
        image::diff::write_entry_tar(&self.parent, &self.name, &self.rebase, &self.label, w)
            .map_err(map_err)
    }
}

/// Lexically cleans a container path: absolute, no `.`/`..`/empty parts.
fn clean(path: &str) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn not_found(path: &str, c: &Container) -> EngineError {
    EngineError::NotFound(format!(
        "Could not find the file {path} in container {}",
        c.name
    ))
}

/// Go's `os.FileMode` of a stat.
fn go_mode(st_mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHARDEV: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut m = st_mode & 0o777;
    m |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => DIR,
        libc::S_IFLNK => SYMLINK,
        libc::S_IFBLK => DEVICE,
        libc::S_IFCHR => DEVICE | CHARDEV,
        libc::S_IFIFO => PIPE,
        libc::S_IFSOCK => SOCKET,
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        m |= SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= STICKY;
    }
    m
}

fn rfc3339(secs: i64, nsecs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, nsecs.clamp(0, 999_999_999) as u32)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

fn io_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

impl Engine {
    /// Whether a start/stop/remove of `id` is in progress.
    pub(crate) fn busy(&self, id: &str) -> bool {
        self.lock().busy.contains(id)
    }

    /// Mounts the rootfs of `c` if needed and holds it mounted (blocking).
    fn hold_rootfs(self: &Arc<Self>, c: &Container) -> Result<RootfsGuard> {
        *self.lock().cp_users.entry(c.id.clone()).or_insert(0) += 1;
        let guard_on_err = RootfsGuard {
            engine: self.clone(),
            id: c.id.clone(),
            merged: PathBuf::new(),
        };
        let merged = if self.images.snapshots.is_mounted(&c.id) {
            self.images.snapshots.merged_dir(&c.id).map_err(map_err)?
        } else {
            let img = self.images.get(&c.image_id)?;
            let lowers = self.images.lowers(&img)?;
            self.images.mount(&c.id, &lowers)?
        };
        let mut g = guard_on_err;
        g.merged = merged;
        Ok(g)
    }

    /// Finds where container path `path` (cleaned) lives.
    fn locate(&self, c: &Container, path: &Path, merged: &Path) -> Result<Located> {
        let dir = self.paths.container_dir(&c.id);
        let generated = [
            ("/etc/hosts", dir.join("hosts")),
            ("/etc/hostname", dir.join("hostname")),
            ("/etc/resolv.conf", dir.join("resolv.conf")),
        ];
        for (dest, src) in &generated {
            if path == Path::new(dest) && src.is_file() {
                let parent = src.parent().unwrap_or(Path::new("/"));
                return Ok(Located {
                    root: Root::open(parent).map_err(io_err)?,
                    rel: PathBuf::from(src.file_name().unwrap_or_default()),
                    base: Path::new(dest).parent().unwrap_or(Path::new("/")).into(),
                    writable: true,
                    in_rootfs: false,
                });
            }
        }
        let mut best: Option<&volume::MountPoint> = None;
        for mp in &c.mount_points {
            let d = clean(&mp.destination);
            if path.starts_with(&d)
                && best.is_none_or(|b| {
                    d.components().count() > clean(&b.destination).components().count()
                })
            {
                best = Some(mp);
            }
        }
        if let Some(mp) = best {
            let d = clean(&mp.destination);
            let rest = path.strip_prefix(&d).unwrap_or(Path::new("")).to_path_buf();
            match mp.kind {
                volume::MountType::Tmpfs => {
                    if c.state.running && c.state.pid > 0 {
                        let croot =
                            Root::open(format!("/proc/{}/root", c.state.pid)).map_err(io_err)?;
                        return Ok(Located {
                            root: croot.sub(&d).map_err(io_err)?,
                            rel: rest,
                            base: d,
                            writable: mp.rw,
                            in_rootfs: false,
                        });
                    }
                    // A stopped container's tmpfs is empty: Docker reads/writes the rootfs
                    // under it, so do we.
                }
                _ => {
                    let src = Path::new(&mp.source);
                    if src.is_dir() {
                        return Ok(Located {
                            root: Root::open(src).map_err(io_err)?,
                            rel: rest,
                            base: d,
                            writable: mp.rw,
                            in_rootfs: false,
                        });
                    }
                    if rest.as_os_str().is_empty() {
                        let parent = src.parent().unwrap_or(Path::new("/"));
                        return Ok(Located {
                            root: Root::open(parent).map_err(io_err)?,
                            rel: PathBuf::from(src.file_name().unwrap_or_default()),
                            base: d.parent().unwrap_or(Path::new("/")).into(),
                            writable: mp.rw,
                            in_rootfs: false,
                        });
                    }
                    return Err(EngineError::InvalidParameter(format!(
                        "{} is below the file mount {}",
                        path.display(),
                        d.display()
                    )));
                }
            }
        }
        Ok(Located {
            root: Root::open(merged).map_err(io_err)?,
            rel: path.strip_prefix("/").unwrap_or(path).to_path_buf(),
            base: PathBuf::from("/"),
            writable: !c.host_config.readonly_rootfs,
            in_rootfs: true,
        })
    }

    /// Stat of `path` in the container (blocking). Missing → 404 with Docker's message.
    pub fn archive_stat(self: &Arc<Self>, name_or_id: &str, path: &str) -> Result<PathStat> {
        Ok(self.archive_get(name_or_id, path)?.stat)
    }

    /// Opens `path` of the container for `GET /archive` (blocking): its stat and a writer of
    /// its tar (named by the path's base name; `dir/.` gives the directory's content as
    /// `./…`).
    pub fn archive_get(self: &Arc<Self>, name_or_id: &str, path: &str) -> Result<CopyOut> {
        let c = self.get(name_or_id)?;
        if path.is_empty() {
            return Err(EngineError::InvalidParameter("Path cannot be empty".into()));
        }
        let guard = self.hold_rootfs(&c)?;
        let cleaned = clean(path);
        let loc = self.locate(&c, &cleaned, &guard.merged)?;
        let contents = path.ends_with("/.") || path == ".";
        let trailing_slash = path.ends_with('/');
        let (parent, name) = if contents {
            let fd = loc.root.open_dir(&loc.rel).map_err(|e| {
                if e.is_not_found() {
                    not_found(path, &c)
                } else {
                    EngineError::InvalidParameter(format!("{path}: not a directory"))
                }
            })?;
            (fd, OsString::from("."))
        } else {
            let (fd, name) = loc.root.parent_of(&loc.rel, None).map_err(|e| {
                if e.is_not_found() {
                    not_found(path, &c)
                } else {
                    io_err(e)
                }
            })?;
            (fd, name.unwrap_or_else(|| OsString::from(".")))
        };
        let st = rustix_stat(&parent, &name).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                not_found(path, &c)
            } else {
                io_err(e)
            }
        })?;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if trailing_slash && !is_dir {
            return Err(EngineError::InvalidParameter(format!(
                "{path}: not a directory"
            )));
        }
        let mut link_target = String::new();
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            link_target = match loc.root.real_path(&loc.rel) {
                Ok(host) => match host.strip_prefix(loc.root.path()) {
                    Ok(r) => loc.base.join(r).display().to_string(),
                    Err(_) => String::new(),
                },
                Err(_) => {
                    // Dangling: its target, made absolute, as Docker does.
                    let t = loc.root.read_link(&loc.rel).map_err(io_err)?;
                    let dir = cleaned.parent().unwrap_or(Path::new("/"));
                    clean(&dir.join(t).display().to_string())
                        .display()
                        .to_string()
                }
            };
        }
        let base_name = if contents {
            ".".to_string()
        } else {
            cleaned
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "/".into())
        };
        let rebase = if base_name == "/" {
            PathBuf::from(".")
        } else {
            PathBuf::from(&base_name)
        };
        Ok(CopyOut {
            stat: PathStat {
                name: base_name,
                size: st.st_size,
                mode: go_mode(st.st_mode),
                mtime: rfc3339(st.st_mtime, st.st_mtime_nsec),
                link_target,
            },
            parent,
            name,
            rebase,
            label: cleaned,
            _guard: guard,
        })
    }

    /// Extracts the tar `body` into the directory `path` of the container (blocking). The
    /// directory must exist; a read-only rootfs or mount is refused before anything is
    /// written; tar entries get the layer rules (no `..`, nothing through a symlink, no
    /// devices or whiteouts).
    pub fn archive_put(
        self: &Arc<Self>,
        name_or_id: &str,
        path: &str,
        body: &mut (dyn Read + Send),
        opts: PutOptions,
    ) -> Result<()> {
        let c = self.get(name_or_id)?;
        if path.is_empty() {
            return Err(EngineError::InvalidParameter("Path cannot be empty".into()));
        }
        let guard = self.hold_rootfs(&c)?;
        let cleaned = clean(path);
        let loc = self.locate(&c, &cleaned, &guard.merged)?;
        if !loc.writable {
            return Err(EngineError::InvalidParameter(if loc.in_rootfs {
                "container rootfs is marked read-only".into()
            } else {
                "mounted volume is marked read-only".into()
            }));
        }
        let dir = loc.root.open_dir(&loc.rel).map_err(|e| {
            if e.is_not_found() {
                not_found(path, &c)
            } else {
                EngineError::InvalidParameter("extraction point is not a directory".into())
            }
        })?;
        let owner = if opts.copy_uid_gid && !c.config.user.is_empty() {
            let u = crate::user::resolve(&guard.merged, &c.config.user)?;
            Some((u.uid, u.gid))
        } else {
            None
        };
        let mut reader = image::compression::decompress(body).map_err(map_err)?;
        let uo = image::unpack::UnpackOptions {
            whiteouts: false,
            devices: false,
            no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
            owner,
        };
        image::unpack::unpack_at(&mut reader, &dir, &cleaned, uo).map_err(map_err)?;
        Ok(())
    }
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
fn rustix_stat(dir: &OwnedFd, name: &std::ffi::OsStr) -> std::io::Result<libc::stat> {
    use std::os::fd::AsRawFd;
    let c = std::ffi::CString::new(name.as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd, a NUL-terminated name and a stat buffer of the right size.
    let r = unsafe {
        libc::fstatat(
            dir.as_fd().as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st)
}
