//! [`Root`]: a directory fd inside which every lookup is resolved by the kernel with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.

use crate::error::{Error, Result};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// How every lookup below a root is resolved: `..` and absolute symlinks stop at the root,
/// magic links (`/proc/*/fd/*`, `/proc/*/root`) are refused.
const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// An open root directory. Paths given to its methods may be absolute or relative; both are
/// taken relative to the root, and symlinks met on the way are followed only inside it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl AsFd for Root {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The path openat2 gets for `rel`: never empty.
fn arg(rel: &Path) -> &Path {
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

/// Reopens an `O_PATH` fd with real access (`flags`) through its `/proc/self/fd` entry, which
/// names exactly the object the fd holds.
pub(crate) fn reopen(fd: BorrowedFd<'_>, flags: OFlags) -> std::io::Result<OwnedFd> {
    let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rfs::open(
        p.as_str(),
        flags | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?)
}

impl Root {
    /// Opens the directory `dir` (an ordinary host path, trusted) as a root.
    pub fn open(dir: impl AsRef<Path>) -> Result<Root> {
        let dir = dir.as_ref();
        let fd = rfs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open root", dir, e))?;
        Ok(Root {
            fd,
            path: dir.to_path_buf(),
        })
    }

    /// The host path the root was opened with (for messages and path-based callers).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// openat2 below the root, retried on `EAGAIN` (a concurrent rename).
    fn at(&self, rel: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd> {
        let mut tries = 0;
        loop {
            match rfs::openat2(&self.fd, arg(rel), flags | OFlags::CLOEXEC, mode, RESOLVE) {
                Err(Errno::AGAIN) if tries < 16 => tries += 1,
                Err(e) => return Err(Error::io("open", rel, e)),
                Ok(fd) => return Ok(fd),
            }
        }
    }

    /// An `O_PATH` fd of `rel`, its final symlink (if any) followed inside the root.
    pub fn resolve(&self, rel: impl AsRef<Path>) -> Result<OwnedFd> {
        self.at(rel.as_ref(), OFlags::PATH, Mode::empty())
    }

    /// An `O_PATH` fd of `rel` itself: a final symlink is the link, not its target.
    pub fn resolve_nofollow(&self, rel: impl AsRef<Path>) -> Result<OwnedFd> {
        self.at(rel.as_ref(), OFlags::PATH | OFlags::NOFOLLOW, Mode::empty())
    }

    /// The host path the kernel resolved `rel` to (always inside the root), final symlink
    /// followed. For callers that only take paths; prefer the fd methods.
    pub fn real_path(&self, rel: impl AsRef<Path>) -> Result<PathBuf> {
        let rel = rel.as_ref();
        let fd = self.resolve(rel)?;
        fd_path(fd.as_fd()).map_err(|e| Error::io("resolve", rel, e))
    }

    /// Opens the regular file `rel` for reading (final symlink followed inside the root).
    /// Anything else (a device, a fifo, a directory) is refused without being opened.
    pub fn open_file(&self, rel: impl AsRef<Path>) -> Result<File> {
        let rel = rel.as_ref();
        let fd = self.resolve(rel)?;
        let st = rfs::fstat(&fd).map_err(|e| Error::io("stat", rel, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(Error::Kind {
                path: rel.into(),
                what: "not a regular file",
            });
        }
        let f = reopen(fd.as_fd(), OFlags::RDONLY).map_err(|e| Error::io("open", rel, e))?;
        Ok(File::from(f))
    }

    /// Opens the directory `rel` (readable, usable as a dir fd for `*at` calls).
    pub fn open_dir(&self, rel: impl AsRef<Path>) -> Result<OwnedFd> {
        self.at(
            rel.as_ref(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
    }

    /// A new root at the directory `rel` of this one.
    pub fn sub(&self, rel: impl AsRef<Path>) -> Result<Root> {
        let rel = rel.as_ref();
        let fd = self.at(rel, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        let path = fd_path(fd.as_fd()).map_err(|e| Error::io("resolve", rel, e))?;
        Ok(Root { fd, path })
    }

    /// `lstat` of `rel` (a final symlink is described, not followed).
    pub fn lstat(&self, rel: impl AsRef<Path>) -> Result<Stat> {
        let rel = rel.as_ref();
        let fd = self.resolve_nofollow(rel)?;
        rfs::fstat(&fd).map_err(|e| Error::io("stat", rel, e))
    }

    /// `stat` of `rel` (a final symlink followed inside the root).
    pub fn stat(&self, rel: impl AsRef<Path>) -> Result<Stat> {
        let rel = rel.as_ref();
        let fd = self.resolve(rel)?;
        rfs::fstat(&fd).map_err(|e| Error::io("stat", rel, e))
    }

    /// Whether `rel` resolves to a directory inside the root.
    pub fn is_dir(&self, rel: impl AsRef<Path>) -> bool {
        self.stat(rel)
            .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)
            .unwrap_or(false)
    }

    /// The target of the symlink `rel`, as stored (not resolved).
    pub fn read_link(&self, rel: impl AsRef<Path>) -> Result<PathBuf> {
        let rel = rel.as_ref();
        let fd = self.resolve_nofollow(rel)?;
        let t = rfs::readlinkat(&fd, "", Vec::new()).map_err(|e| Error::io("readlink", rel, e))?;
        Ok(PathBuf::from(OsStr::from_bytes(t.as_bytes())))
    }

    /// Creates the directory `rel` and its missing parents (mode `mode`, before umask is
    /// bypassed by an explicit chmod of each new directory) and returns it opened. Every
    /// existing component is resolved inside the root, so a symlink on the way is followed
    /// only inside it.
    pub fn mkdir_all(&self, rel: impl AsRef<Path>, mode: u32) -> Result<OwnedFd> {
        let mut todo: Vec<OsString> = comps(rel.as_ref());
        todo.reverse();
        let mut cur = PathBuf::new();
        let mut dir = self.open_dir("")?;
        let mut hops = 0;
        while let Some(name) = todo.pop() {
            let prev = cur.clone();
            cur.push(&name);
            match self.open_dir(&cur) {
                Ok(fd) => dir = fd,
                Err(e) if e.is_not_found() => {
                    match rfs::mkdirat(&dir, name.as_os_str(), Mode::from_raw_mode(0o700)) {
                        Ok(()) => {
                            let fd = self.open_dir(&cur)?;
                            rfs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777))
                                .map_err(|e| Error::io("chmod", &cur, e))?;
                            dir = fd;
                        }
                        Err(Errno::EXIST) => {
                            // a dangling symlink: create its target, inside the root
                            let t = self.read_link(&cur)?;
                            hops += 1;
                            if hops > 40 {
                                return Err(Error::io("mkdir", &cur, Errno::LOOP));
                            }
                            let mut rest = comps(&t);
                            rest.reverse();
                            todo.extend(rest);
                            cur = if t.is_absolute() {
                                PathBuf::new()
                            } else {
                                prev
                            };
                            dir = self.open_dir(&cur)?;
                        }
                        Err(e) => return Err(Error::io("mkdir", &cur, e)),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(dir)
    }

    /// Splits `rel` into its parent (opened, created with `mkdir_all` when `create`) and its
    /// last name; `None` as name when `rel` names the root itself or ends in `..`.
    pub fn parent_of(
        &self,
        rel: impl AsRef<Path>,
        create: Option<u32>,
    ) -> Result<(OwnedFd, Option<OsString>)> {
        let rel = rel.as_ref();
        let last = rel.components().next_back();
        match last {
            Some(Component::Normal(n)) => {
                let parent = rel.parent().unwrap_or(Path::new(""));
                let fd = match create {
                    Some(m) => self.mkdir_all(parent, m)?,
                    None => self.open_dir(parent)?,
                };
                Ok((fd, Some(n.to_os_string())))
            }
            _ => Ok((self.open_dir(rel)?, None)),
        }
    }

    /// Creates (or replaces: an existing entry of any type is removed, never followed) the
    /// regular file `rel` with mode `mode` and returns it open for writing. Missing parents
    /// are created 0755.
    pub fn create_file(&self, rel: impl AsRef<Path>, mode: u32) -> Result<File> {
        let rel = rel.as_ref();
        let (dir, name) = self.parent_of(rel, Some(0o755))?;
        let Some(name) = name else {
            return Err(Error::Kind {
                path: rel.into(),
                what: "is a directory",
            });
        };
        crate::tree::remove_at(dir.as_fd(), &name)?;
        let fd = rfs::openat(
            &dir,
            name.as_os_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| Error::io("create", rel, e))?;
        rfs::fchmod(&fd, Mode::from_raw_mode(mode & 0o7777))
            .map_err(|e| Error::io("chmod", rel, e))?;
        Ok(File::from(fd))
    }

    /// Whether `rel` exists (final symlink not followed).
    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        self.lstat(rel).is_ok()
    }

    /// Removes `rel` (recursively when a directory; symlinks are removed, never followed).
    pub fn remove_all(&self, rel: impl AsRef<Path>) -> Result<()> {
        let (dir, name) = self.parent_of(rel.as_ref(), None)?;
        match name {
            Some(n) => crate::tree::remove_at(dir.as_fd(), &n),
            None => Ok(()),
        }
    }
}

/// The host path of the object an fd holds.
pub fn fd_path(fd: BorrowedFd<'_>) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The type of a stat.
pub fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`, `None` when absent.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Option<Stat>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => Ok(Some(s)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(Error::io("stat", Path::new(name), e)),
    }
}

/// The normal and `..` components of a path (`.` and the root are dropped).
fn comps(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}
