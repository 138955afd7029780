//! Writes a directory as a layer tar: the upper dir of an overlay snapshot as an OCI diff
//! (overlay whiteouts → `.wh.` entries; for `docker commit`), or any tree as it is (for
//! `docker export` of a merged rootfs).
//!
//! The walk never follows a symlink: directories and files are opened with `O_NOFOLLOW`
//! relative to their parent's fd, so a container that swaps a directory for a symlink cannot
//! make the host read outside the tree.

use std::collections::HashMap;
use std::ffi::{CStr, OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::error::{ImageError, Result};
use crate::unpack::{OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};

/// How to treat overlayfs metadata found in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarMode {
    /// An overlay upper dir: 0:0 character devices become `.wh.NAME`, opaque directories get
    /// a `.wh..wh..opq` entry.
    OverlayDiff,
    /// The tree as it is (a merged rootfs).
    Plain,
}

/// Writes the tree under `dir` as a tar stream to `w` (entries sorted, paths relative).
pub fn write_tar<W: Write>(dir: &Path, w: W, mode: TarMode) -> Result<W> {
    write_tar_excluding(dir, w, mode, &[])
}

/// [`write_tar`] leaving out the paths of `exclude` (relative to `dir`) that are an empty
/// regular file or an empty directory (mount points).
pub fn write_tar_excluding<W: Write>(
    dir: &Path,
    w: W,
    mode: TarMode,
    exclude: &[PathBuf],
) -> Result<W> {
    let root = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ImageError::io("open", dir, e.into()))?;
    let mut b = tar::Builder::new(w);
    b.mode(tar::HeaderMode::Complete);
    let mut walker = Walker {
        b,
        mode,
        links: HashMap::new(),
        base: dir.to_path_buf(),
        exclude: exclude.to_vec(),
    };
    walker.walk_dir(&root, &PathBuf::new())?;
    walker
        .b
        .into_inner()
        .map_err(|e| ImageError::io("write tar", dir, e))
}

struct Walker<W: Write> {
    b: tar::Builder<W>,
    mode: TarMode,
    /// (dev, ino) → first path, for hard links.
    links: HashMap<(u64, u64), PathBuf>,
    base: PathBuf,
    /// Mount points to leave out when empty.
    exclude: Vec<PathBuf>,
}

fn fd_path(dir: &OwnedFd, name: &OsStr) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

impl<W: Write> Walker<W> {
    fn err(&self, rel: &Path, op: &'static str, e: impl Into<std::io::Error>) -> ImageError {
        ImageError::io(op, self.base.join(rel), e.into())
    }

    fn walk_dir(&mut self, dir: &OwnedFd, rel: &Path) -> Result<()> {
        let mut names: Vec<OsString> = Vec::new();
        let mut d = rustix::fs::Dir::read_from(dir).map_err(|e| self.err(rel, "read dir", e))?;
        while let Some(ent) = d.read() {
            let ent = ent.map_err(|e| self.err(rel, "read dir", e))?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).to_os_string());
            }
        }
        names.sort();
        for name in names {
            let path = rel.join(&name);
            self.entry(dir, &name, &path)?;
        }
        Ok(())
    }

    fn entry(&mut self, parent: &OwnedFd, name: &OsStr, rel: &Path) -> Result<()> {
        let st = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err(rel, "stat", e))?;
        let ft = FileType::from_raw_mode(st.st_mode);
        if self.exclude.iter().any(|x| x == rel) && self.is_empty(parent, name, ft, &st) {
            return Ok(());
        }
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        let xattrs = self.xattrs(parent, name, rel)?;
        match ft {
            FileType::CharacterDevice if self.mode == TarMode::OverlayDiff && st.st_rdev == 0 => {
                let mut wh = OsString::from(WHITEOUT_PREFIX);
                wh.push(name);
                let p = rel.with_file_name(wh);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                self.append(&mut h, &p, std::io::empty())
            }
            FileType::Directory => {
                h.set_entry_type(tar::EntryType::Directory);
                self.pax(&xattrs, rel)?;
                self.append(&mut h, &dir_name(rel), std::io::empty())?;
                let opaque = xattrs
                    .iter()
                    .any(|(k, v)| k == OVERLAY_OPAQUE_XATTR && v == b"y");
                if self.mode == TarMode::OverlayDiff && opaque {
                    let mut oh = tar::Header::new_gnu();
                    oh.set_entry_type(tar::EntryType::Regular);
                    oh.set_mode(0o644);
                    oh.set_uid(0);
                    oh.set_gid(0);
                    oh.set_size(0);
                    oh.set_mtime(st.st_mtime.max(0) as u64);
                    self.append(&mut oh, &rel.join(WHITEOUT_OPAQUE), std::io::empty())?;
                }
                let fd = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.err(rel, "open dir", e))?;
                self.walk_dir(&fd, rel)
            }
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key).cloned() {
                        h.set_entry_type(tar::EntryType::Link);
                        return self
                            .b
                            .append_link(&mut h, rel, &first)
                            .map_err(|e| self.err(rel, "write tar", e));
                    }
                    self.links.insert(key, rel.to_path_buf());
                }
                let fd = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.err(rel, "open", e))?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                self.pax(&xattrs, rel)?;
                self.append(&mut h, rel, File::from(fd))
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(parent, name, Vec::new())
                    .map_err(|e| self.err(rel, "readlink", e))?;
                h.set_entry_type(tar::EntryType::Symlink);
                self.pax(&xattrs, rel)?;
                let target = target.as_bytes();
                if set_raw_link_name(&mut h, target) {
                    return self.append(&mut h, rel, std::io::empty());
                }
                self.b
                    .append_link(&mut h, rel, OsStr::from_bytes(target))
                    .map_err(|e| self.err(rel, "write tar", e))
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                h.set_entry_type(match ft {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                let (maj, min) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
                h.set_device_major(maj)
                    .map_err(|e| self.err(rel, "device", e))?;
                h.set_device_minor(min)
                    .map_err(|e| self.err(rel, "device", e))?;
                self.pax(&xattrs, rel)?;
                self.append(&mut h, rel, std::io::empty())
            }
            // Sockets and the like are not image content.
            _ => Ok(()),
        }
    }

    /// An empty regular file or a directory without entries.
    fn is_empty(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        ft: FileType,
        st: &rustix::fs::Stat,
    ) -> bool {
        match ft {
            FileType::RegularFile => st.st_size == 0,
            FileType::Directory => {
                let Ok(fd) = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) else {
                    return false;
                };
                let Ok(mut d) = rustix::fs::Dir::read_from(&fd) else {
                    return false;
                };
                while let Some(Ok(e)) = d.read() {
                    let n = e.file_name().to_bytes();
                    if n != b"." && n != b".." {
                        return false;
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn append<R: std::io::Read>(&mut self, h: &mut tar::Header, p: &Path, data: R) -> Result<()> {
        if raw_name(h, p) {
            return self
                .b
                .append(h, data)
                .map_err(|e| ImageError::io("write tar", self.base.join(p), e));
        }
        self.b
            .append_data(h, p, data)
            .map_err(|e| ImageError::io("write tar", self.base.join(p), e))
    }

    fn pax(&mut self, xattrs: &[(String, Vec<u8>)], rel: &Path) -> Result<()> {
        let keep: Vec<(String, &[u8])> = xattrs
            .iter()
            .filter(|(k, _)| !k.starts_with("trusted.overlay."))
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
            .collect();
        if keep.is_empty() {
            return Ok(());
        }
        self.b
            .append_pax_extensions(keep.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(|e| self.err(rel, "write tar", e))
    }

    fn xattrs(&self, parent: &OwnedFd, name: &OsStr, rel: &Path) -> Result<Vec<(String, Vec<u8>)>> {
        let p = fd_path(parent, name);
        let mut list = vec![0u8; 64 * 1024];
        let n = match rustix::fs::llistxattr(&p, &mut list[..]) {
            Ok(n) => n,
            Err(rustix::io::Errno::OPNOTSUPP) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(rel, "list xattrs", e)),
        };
        let mut out = Vec::new();
        for raw in list[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
            let Ok(key) = std::str::from_utf8(raw) else {
                continue;
            };
            let mut val = vec![0u8; 64 * 1024];
            let cname = match CStr::from_bytes_until_nul(&[raw, b"\0"].concat()) {
                Ok(c) => c.to_owned(),
                Err(_) => continue,
            };
            match rustix::fs::lgetxattr(&p, cname.as_c_str(), &mut val[..]) {
                Ok(len) => out.push((key.to_string(), val[..len].to_vec())),
                Err(rustix::io::Errno::NODATA) => {}
                Err(e) => return Err(self.err(rel, "read xattr", e)),
            }
        }
        Ok(out)
    }
}

/// Names starting with `./` (a directory's content for `docker cp dir/.`) are written as
/// they are: the tar crate would drop the `./`, and the docker CLI rebases on it. Only names
/// that fit the header's 100 bytes; returns whether it was done.
fn raw_name(h: &mut tar::Header, p: &Path) -> bool {
    let b = p.as_os_str().as_bytes();
    if !(b.starts_with(b"./") || b == b".") || b.len() >= 100 {
        return false;
    }
    let name = &mut h.as_old_mut().name;
    name.fill(0);
    name[..b.len()].copy_from_slice(b);
    h.set_cksum();
    true
}

/// A directory's tar name ends with `/`.
fn dir_name(rel: &Path) -> PathBuf {
    let mut s = rel.as_os_str().to_os_string();
    s.push("/");
    PathBuf::from(s)
}

/// Stores a symlink target byte for byte when it fits the header's 100-byte field.
///
/// The `tar` crate's `set_link_name` normalises the target as a path (`/` becomes `//`,
/// `a//b` becomes `a/b`), but a layer must keep the link exactly as the filesystem has it.
/// Longer targets go through `append_link` (a GNU long-link entry), which is exact for the
/// targets long enough to need it. Returns false when the target does not fit.
pub fn set_raw_link_name(h: &mut tar::Header, target: &[u8]) -> bool {
    let field = &mut h.as_old_mut().linkname;
    if target.len() > field.len() || target.contains(&0) {
        return false;
    }
    field.fill(0);
    field[..target.len()].copy_from_slice(target);
    true
}

/// Writes the entry `name` of the open directory `parent` (a whole tree when it is a
/// directory; `.` for `parent` itself) as a plain tar whose paths start with `rebase`, as
/// `docker cp` reads it (`GET /containers/{id}/archive`). Nothing is followed: `parent` was
/// resolved by the caller, everything below it is opened with `O_NOFOLLOW`. `label` names
/// the entry in messages.
pub fn write_entry_tar<W: Write>(
    parent: &OwnedFd,
    name: &OsStr,
    rebase: &Path,
    label: &Path,
    w: W,
) -> Result<W> {
    let mut b = tar::Builder::new(w);
    b.mode(tar::HeaderMode::Complete);
    let mut walker = Walker {
        b,
        mode: TarMode::Plain,
        links: HashMap::new(),
        base: label.to_path_buf(),
        exclude: Vec::new(),
    };
    walker.entry(parent, name, rebase)?;
    walker
        .b
        .into_inner()
        .map_err(|e| ImageError::io("write tar", label, e))
}

/// Kind of a filesystem change, as `GET /containers/{id}/changes` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Modified (0, `C`).
    Modify = 0,
    /// Added (1, `A`).
    Add = 1,
    /// Deleted (2, `D`).
    Delete = 2,
}

/// The changes an overlay upper dir holds against its lower layers, sorted by path (paths are
/// absolute in the container): whiteouts are deletions; entries that `in_lower` says exist
/// below are modifications (a directory only when something in it changed), the rest are
/// additions. `skip` says which paths are not content (mount points made by the runtime).
/// The walk is by fds with `O_NOFOLLOW`.
pub fn upper_changes(
    upper: &Path,
    in_lower: &dyn Fn(&Path) -> bool,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<Vec<(PathBuf, ChangeKind)>> {
    let root = rustix::fs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ImageError::io("open", upper, e.into()))?;
    let mut out = Vec::new();
    changes_in(&root, Path::new("/"), upper, in_lower, skip, &mut out)?;
    Ok(out)
}

fn changes_in(
    dir: &OwnedFd,
    at: &Path,
    upper: &Path,
    in_lower: &dyn Fn(&Path) -> bool,
    skip: &dyn Fn(&Path) -> bool,
    out: &mut Vec<(PathBuf, ChangeKind)>,
) -> Result<()> {
    let err = |op: &'static str, e: rustix::io::Errno| ImageError::io(op, upper.join(at), e.into());
    let mut names: Vec<OsString> = Vec::new();
    let mut d = rustix::fs::Dir::read_from(dir).map_err(|e| err("read dir", e))?;
    while let Some(ent) = d.read() {
        let ent = ent.map_err(|e| err("read dir", e))?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    names.sort();
    for name in names {
        let path = at.join(&name);
        let st = match rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => continue, // removed while we walk
            Err(e) => return Err(err("stat", e)),
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        if ft == FileType::CharacterDevice && st.st_rdev == 0 {
            out.push((path, ChangeKind::Delete));
            continue;
        }
        let below = in_lower(&path);
        if ft != FileType::Directory {
            if !skip(&path) {
                let kind = if below {
                    ChangeKind::Modify
                } else {
                    ChangeKind::Add
                };
                out.push((path, kind));
            }
            continue;
        }
        let mark = out.len();
        if below {
            out.push((path.clone(), ChangeKind::Modify));
        } else {
            out.push((path.clone(), ChangeKind::Add));
        }
        let fd = match rustix::fs::openat(
            dir,
            &name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => {
                continue
            }
            Err(e) => return Err(err("open dir", e)),
        };
        changes_in(&fd, &path, upper, in_lower, skip, out)?;
        // A directory that exists below is only "changed" when something in it changed (it
        // is in the upper dir because overlayfs copied it up); an added mount point dir
        // with nothing in it is not content either.
        if (below || skip(&path)) && out.len() == mark + 1 {
            out.truncate(mark);
        }
    }
    Ok(())
}
