//! Copying and removing trees by fds: every entry is opened with `O_NOFOLLOW` relative to its
//! parent's fd, so symlinks are copied as symlinks and nothing is ever written through one.

use crate::error::{Error, Result};
use crate::root::{lstat_at, reopen};
use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Owner and mode given to copied entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOpts {
    /// uid, gid of every copied entry; `None` keeps the source's.
    pub owner: Option<(u32, u32)>,
    /// Permission bits of every copied file and new directory; `None` keeps the source's.
    pub mode: Option<u32>,
}

fn ids(o: (u32, u32)) -> (Option<Uid>, Option<Gid>) {
    (Some(Uid::from_raw(o.0)), Some(Gid::from_raw(o.1)))
}

/// Copies the object `src` holds (an fd from [`crate::Root::resolve`] or
/// [`crate::Root::resolve_nofollow`], any open mode) to `name` in directory `dst_dir`. What
/// exists there is replaced, except that a directory copied onto a directory is merged.
/// Directories are copied with their content; symlinks as symlinks.
pub fn copy_fd(
    src: BorrowedFd<'_>,
    dst_dir: BorrowedFd<'_>,
    name: &OsStr,
    o: CopyOpts,
) -> Result<()> {
    let p = Path::new(name);
    let st = rfs::fstat(src).map_err(|e| Error::io("stat", p, e))?;
    let old = lstat_at(dst_dir, name)?.map(|s| FileType::from_raw_mode(s.st_mode));
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            if old != Some(FileType::Directory) {
                if old.is_some() {
                    remove_at(dst_dir, name)?;
                }
                rfs::mkdirat(dst_dir, name, Mode::from_raw_mode(0o700))
                    .map_err(|e| Error::io("mkdir", p, e))?;
                let d = open_dir_at(dst_dir, name)?;
                set_attrs(d.as_fd(), st.st_mode, o, p)?;
            }
            let d = open_dir_at(dst_dir, name)?;
            let s = reopen(src, OFlags::RDONLY | OFlags::DIRECTORY)
                .map_err(|e| Error::io("open", p, e))?;
            copy_contents(s.as_fd(), d.as_fd(), o)
        }
        FileType::Symlink => {
            let t =
                rfs::readlinkat(src, "", Vec::new()).map_err(|e| Error::io("readlink", p, e))?;
            if old.is_some() {
                remove_at(dst_dir, name)?;
            }
            rfs::symlinkat(t.as_c_str(), dst_dir, name).map_err(|e| Error::io("symlink", p, e))?;
            if let Some(ow) = o.owner {
                let (u, g) = ids(ow);
                rfs::chownat(dst_dir, name, u, g, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| Error::io("chown", p, e))?;
            }
            Ok(())
        }
        FileType::RegularFile => {
            if old.is_some() {
                remove_at(dst_dir, name)?;
            }
            let s = reopen(src, OFlags::RDONLY).map_err(|e| Error::io("open", p, e))?;
            let d = rfs::openat(
                dst_dir,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| Error::io("create", p, e))?;
            let mut sf = File::from(s);
            let mut df = File::from(d);
            std::io::copy(&mut sf, &mut df).map_err(|e| Error::io("copy", p, e))?;
            set_attrs(df.as_fd(), st.st_mode, o, p)
        }
        _ => Err(Error::Kind {
            path: p.into(),
            what: "not a regular file, directory or symlink",
        }),
    }
}

/// Copies the entries of the readable directory `src_dir` into `dst_dir` (sorted by name).
pub fn copy_contents(src_dir: BorrowedFd<'_>, dst_dir: BorrowedFd<'_>, o: CopyOpts) -> Result<()> {
    for n in names(src_dir)? {
        let c = rfs::openat(
            src_dir,
            n.as_os_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open", Path::new(&n), e))?;
        copy_fd(c.as_fd(), dst_dir, &n, o)?;
    }
    Ok(())
}

/// The names in a readable directory fd, sorted, without `.` and `..`.
pub fn names(dir: BorrowedFd<'_>) -> Result<Vec<OsString>> {
    let d = rfs::Dir::read_from(dir).map_err(|e| Error::io("read dir", Path::new("."), e))?;
    let mut out = Vec::new();
    for e in d {
        let e = e.map_err(|e| Error::io("read dir", Path::new("."), e))?;
        let b = e.file_name().to_bytes();
        if b != b"." && b != b".." {
            out.push(OsStr::from_bytes(b).to_os_string());
        }
    }
    out.sort();
    Ok(out)
}

fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open dir", Path::new(name), e))
}

fn set_attrs(fd: BorrowedFd<'_>, src_mode: u32, o: CopyOpts, p: &Path) -> Result<()> {
    if let Some(ow) = o.owner {
        let (u, g) = ids(ow);
        rfs::fchown(fd, u, g).map_err(|e| Error::io("chown", p, e))?;
    }
    let m = o.mode.unwrap_or(src_mode & 0o7777);
    rfs::fchmod(fd, Mode::from_raw_mode(m)).map_err(|e| Error::io("chmod", p, e))
}

/// Removes `name` in `dir` whatever it is (a directory with its content); symlinks are
/// removed, never followed. Absent is not an error.
pub fn remove_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
    let p = Path::new(name);
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let d = open_dir_at(dir, name)?;
        for n in names(d.as_fd())? {
            remove_at(d.as_fd(), &n)?;
        }
        match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io("rmdir", p, e)),
        }
    } else {
        match rfs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io("unlink", p, e)),
        }
    }
}
