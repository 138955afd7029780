//! Safe layer extraction: applies an (uncompressed) layer tar to a directory without ever
//! writing outside it.
//!
//! Every entry is resolved component by component from an fd of the destination with
//! `O_NOFOLLOW`, so a symlink anywhere in an entry's parent path (or in a hard link's target
//! path) is refused rather than followed. A leading `/` is stripped, `..` is refused.
//! Permissions, ownership, mtimes, xattrs, symlinks, hard links, devices and fifos are kept;
//! OCI whiteouts become overlayfs whiteouts: `.wh.NAME` → a 0:0 character device `NAME`,
//! `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory.
//!
//! The caller owns cleanup: on error, `dest` is left half-filled and must be removed (the
//! image store unpacks into a temp dir and deletes it on failure).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::Timespec;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use crate::error::{ImageError, Result};

/// OCI whiteout prefix.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// OCI opaque-directory marker.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// Prefix of whiteout meta files that are not whiteouts (AUFS hard-link dirs etc.).
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// The xattr overlayfs reads for an opaque directory.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What an unpack produced.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackStats {
    /// Bytes of regular-file content written (hard links counted once).
    pub size: u64,
    /// Number of tar entries applied.
    pub entries: u64,
}

/// How a tar is applied: as an image layer (the default) or as a `docker cp` upload.
#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    /// OCI whiteouts become overlay whiteouts (layers). Off: `.wh.` names are refused.
    pub whiteouts: bool,
    /// Character and block devices are made. Off: they are refused.
    pub devices: bool,
    /// Refuse to replace an existing directory with a non-directory and vice versa.
    pub no_overwrite_dir_non_dir: bool,
    /// Owner forced on every entry instead of the tar's uid/gid.
    pub owner: Option<(u32, u32)>,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            whiteouts: true,
            devices: true,
            no_overwrite_dir_non_dir: false,
            owner: None,
        }
    }
}

/// Unpacks the uncompressed tar `reader` into the existing directory `dest`.
///
/// Errors: [`ImageError::InvalidLayer`] names the offending entry; a stream that cannot be
/// read (truncated, corrupt compression) is [`ImageError::InvalidArchive`].
pub fn unpack(reader: &mut dyn Read, dest: &Path) -> Result<UnpackStats> {
    let root = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ImageError::io("open", dest, e.into()))?;
    unpack_at(reader, &root, dest, UnpackOptions::default())
}

/// Unpacks the uncompressed tar `reader` into the directory open as `root` (every entry is
/// reached from that fd, component by component, never through a symlink), with `opts`.
/// `label` names the directory in messages.
pub fn unpack_at(
    reader: &mut dyn Read,
    root: &OwnedFd,
    label: &Path,
    opts: UnpackOptions,
) -> Result<UnpackStats> {
    let dest = label;
    let root = rustix::io::dup(root).map_err(|e| ImageError::io("dup", dest, e.into()))?;
    let mut archive = tar::Archive::new(reader);
    let mut stats = UnpackStats::default();
    // Directory mtimes are set at the end: adding entries changes them.
    let mut dir_times: Vec<(Vec<OsString>, u64)> = Vec::new();
    let entries = archive.entries().map_err(archive_err)?;
    for entry in entries {
        let mut entry = entry.map_err(archive_err)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let ctx = |reason: String| ImageError::InvalidLayer {
            entry: name.clone(),
            reason,
        };
        let comps = clean_path(&raw).map_err(ctx)?;
        apply_entry(
            &root,
            &mut entry,
            &comps,
            &name,
            &mut stats,
            &mut dir_times,
            &opts,
        )?;
        stats.entries += 1;
    }
    for (comps, mtime) in dir_times.iter().rev() {
        let ts = timestamps(*mtime);
        let res = if comps.is_empty() {
            rustix::fs::utimensat(&root, ".", &ts, AtFlags::empty())
        } else {
            let (last, parents) = comps.split_last().expect("non-empty");
            match walk(&root, parents, false) {
                Ok(dir) => {
                    rustix::fs::utimensat(&dir, last.as_os_str(), &ts, AtFlags::SYMLINK_NOFOLLOW)
                }
                // Replaced by a later entry: nothing to do.
                Err(_) => Ok(()),
            }
        };
        match res {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => {
                return Err(ImageError::io(
                    "set times",
                    dest.join(join(comps)),
                    e.into(),
                ));
            }
        }
    }
    Ok(stats)
}

fn archive_err(e: io::Error) -> ImageError {
    ImageError::InvalidArchive(format!("reading the layer tar: {e}"))
}

/// Splits an entry path into components: strips leading `/`, drops `.` and empty parts,
/// refuses `..`.
fn clean_path(raw: &[u8]) -> std::result::Result<Vec<OsString>, String> {
    if raw.contains(&0) {
        return Err("NUL byte in path".into());
    }
    let mut out = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("path contains a `..` component".into()),
            p => out.push(OsStr::from_bytes(p).to_os_string()),
        }
    }
    Ok(out)
}

fn join(comps: &[OsString]) -> PathBuf {
    comps.iter().collect()
}

/// Opens the directory `comps` beneath `root` without following any symlink; with `create`,
/// missing directories are made (mode 0755).
fn walk(root: &OwnedFd, comps: &[OsString], create: bool) -> std::result::Result<OwnedFd, String> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut cur = rustix::io::dup(root).map_err(|e| format!("dup: {e}"))?;
    for (i, c) in comps.iter().enumerate() {
        let so_far = || join(&comps[..=i]).display().to_string();
        let next = match rustix::fs::openat(&cur, c.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&cur, c.as_os_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(format!("creating parent {}: {e}", so_far())),
                }
                rustix::fs::openat(&cur, c.as_os_str(), flags, Mode::empty())
                    .map_err(|e| format!("opening parent {}: {e}", so_far()))?
            }
            Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                let st = rustix::fs::statat(&cur, c.as_os_str(), AtFlags::SYMLINK_NOFOLLOW);
                return Err(match st {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                        format!("path goes through the symlink {}", so_far())
                    }
                    _ => format!("parent {} is not a directory", so_far()),
                });
            }
            Err(Errno::NOENT) => return Err(format!("{} does not exist", so_far())),
            Err(e) => return Err(format!("opening {}: {e}", so_far())),
        };
        cur = next;
    }
    Ok(cur)
}

fn timestamps(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime.min(i64::MAX as u64) as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// `/proc/self/fd/<dirfd>/<name>`: a path to `name` in `dir` that does not re-resolve the
/// directory (used for the calls that have no *at form: lsetxattr, remove_dir_all).
fn fd_path(dir: &OwnedFd, name: &OsStr) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

fn apply_entry<R: Read>(
    root: &OwnedFd,
    entry: &mut tar::Entry<'_, R>,
    comps: &[OsString],
    name: &str,
    stats: &mut UnpackStats,
    dir_times: &mut Vec<(Vec<OsString>, u64)>,
    opts: &UnpackOptions,
) -> Result<()> {
    let bad = |reason: String| ImageError::InvalidLayer {
        entry: name.to_string(),
        reason,
    };
    let hdr = entry.header();
    let kind = hdr.entry_type();
    let mode = hdr.mode().map_err(|e| bad(format!("bad mode: {e}")))? & 0o7777;
    let uid = hdr.uid().map_err(|e| bad(format!("bad uid: {e}")))?;
    let gid = hdr.gid().map_err(|e| bad(format!("bad gid: {e}")))?;
    let mtime = hdr.mtime().unwrap_or(0);
    if uid >= u32::MAX as u64 || gid >= u32::MAX as u64 {
        return Err(bad(format!("uid/gid {uid}:{gid} out of range")));
    }
    let (uid, gid) = opts.owner.unwrap_or((uid as u32, gid as u32));
    if !opts.devices && matches!(kind, EntryType::Char | EntryType::Block) {
        return Err(bad("device nodes are not allowed here".into()));
    }

    // The root directory itself ("./").
    let Some((last, parents)) = comps.split_last() else {
        if kind == EntryType::Directory {
            rustix::fs::chownat(
                root,
                ".",
                Some(uid_of(uid)),
                Some(gid_of(gid)),
                AtFlags::empty(),
            )
            .map_err(|e| bad(format!("chown: {e}")))?;
            rustix::fs::chmodat(root, ".", Mode::from_raw_mode(mode), AtFlags::empty())
                .map_err(|e| bad(format!("chmod: {e}")))?;
            dir_times.push((Vec::new(), mtime));
            return Ok(());
        }
        return Err(bad("a non-directory entry for the layer root".into()));
    };
    let parent = walk(root, parents, true).map_err(bad)?;
    let last_b = last.as_bytes();

    if !opts.whiteouts && last_b.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        return Err(bad("whiteout entries are not allowed here".into()));
    }
    // Whiteouts.
    if last_b == WHITEOUT_OPAQUE.as_bytes() {
        rustix::fs::fsetxattr(&parent, OVERLAY_OPAQUE_XATTR, b"y", XattrFlags::empty())
            .map_err(|e| bad(format!("setting {OVERLAY_OPAQUE_XATTR}: {e}")))?;
        return Ok(());
    }
    if last_b.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        return Ok(()); // AUFS meta files: not content.
    }
    if let Some(target) = last_b.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        if target.is_empty() || target == b"." || target == b".." {
            return Err(bad("whiteout of an invalid name".into()));
        }
        let target = OsStr::from_bytes(target);
        remove_existing(&parent, target, false).map_err(bad)?;
        rustix::fs::mknodat(&parent, target, FileType::CharacterDevice, Mode::empty(), 0)
            .map_err(|e| bad(format!("making the whiteout: {e}")))?;
        rustix::fs::chownat(
            &parent,
            target,
            Some(uid_of(uid)),
            Some(gid_of(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| bad(format!("chown: {e}")))?;
        return Ok(());
    }

    let is_dir = kind == EntryType::Directory;
    if opts.no_overwrite_dir_non_dir {
        check_dir_non_dir(&parent, last, is_dir).map_err(bad)?;
    }
    let kept_dir = remove_existing(&parent, last, is_dir).map_err(bad)?;
    let last = last.as_os_str();
    let mut set_mode = true;
    match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let fd = rustix::fs::openat(
                &parent,
                last,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(|e| bad(format!("creating the file: {e}")))?;
            let mut file = File::from(fd);
            let mut buf = vec![0u8; 128 * 1024];
            loop {
                let n = match entry.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(ImageError::InvalidArchive(format!(
                            "reading the data of {name:?}: {e}"
                        )))
                    }
                };
                file.write_all(&buf[..n])
                    .map_err(|e| bad(format!("writing: {e}")))?;
                stats.size += n as u64;
            }
        }
        EntryType::Directory => {
            if !kept_dir {
                rustix::fs::mkdirat(&parent, last, Mode::from_raw_mode(0o700))
                    .map_err(|e| bad(format!("mkdir: {e}")))?;
            }
            let mut c = parents.to_vec();
            c.push(last.to_os_string());
            dir_times.push((c, mtime));
        }
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| bad("symlink without a target".into()))?
                .into_owned();
            if target.contains(&0) {
                return Err(bad("NUL byte in symlink target".into()));
            }
            rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent, last)
                .map_err(|e| bad(format!("symlink: {e}")))?;
            set_mode = false;
        }
        EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| bad("hard link without a target".into()))?
                .into_owned();
            let tcomps = clean_path(&target).map_err(|r| bad(format!("hard link target: {r}")))?;
            let Some((tlast, tparents)) = tcomps.split_last() else {
                return Err(bad("hard link to the layer root".into()));
            };
            let tdir = walk(root, tparents, false).map_err(|r| {
                bad(format!(
                    "hard link target {:?}: {r}",
                    String::from_utf8_lossy(&target)
                ))
            })?;
            rustix::fs::linkat(&tdir, tlast.as_os_str(), &parent, last, AtFlags::empty()).map_err(
                |e| {
                    bad(format!(
                        "hard link to {:?}: {e}",
                        String::from_utf8_lossy(&target)
                    ))
                },
            )?;
            // A hard link shares the target's inode: its metadata is already right.
            return Ok(());
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let ft = match kind {
                EntryType::Char => FileType::CharacterDevice,
                EntryType::Block => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            let major = hdr.device_major().ok().flatten().unwrap_or(0);
            let minor = hdr.device_minor().ok().flatten().unwrap_or(0);
            rustix::fs::mknodat(
                &parent,
                last,
                ft,
                Mode::from_raw_mode(0o600),
                rustix::fs::makedev(major, minor),
            )
            .map_err(|e| bad(format!("mknod: {e}")))?;
        }
        other => return Err(bad(format!("unsupported tar entry type {other:?}"))),
    }

    // Ownership, then mode (chown clears set-id bits), xattrs, then times.
    rustix::fs::chownat(
        &parent,
        last,
        Some(uid_of(uid)),
        Some(gid_of(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| bad(format!("chown: {e}")))?;
    if set_mode {
        // Not a symlink (we just made it), so following is safe.
        rustix::fs::chmodat(&parent, last, Mode::from_raw_mode(mode), AtFlags::empty())
            .map_err(|e| bad(format!("chmod: {e}")))?;
    }
    if let Some(exts) = entry.pax_extensions().map_err(archive_err)? {
        for ext in exts {
            let ext = ext.map_err(archive_err)?;
            let Ok(key) = ext.key() else { continue };
            let Some(xname) = key.strip_prefix("SCHILY.xattr.") else {
                continue;
            };
            if xname.starts_with("trusted.overlay.") {
                continue; // only whiteouts may make overlay metadata
            }
            let p = fd_path(&parent, last);
            match rustix::fs::lsetxattr(&p, xname, ext.value_bytes(), XattrFlags::empty()) {
                Ok(()) | Err(Errno::OPNOTSUPP) => {}
                Err(e) => return Err(bad(format!("setting xattr {xname}: {e}"))),
            }
        }
    }
    if !is_dir {
        rustix::fs::utimensat(&parent, last, &timestamps(mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| bad(format!("setting times: {e}")))?;
    }
    Ok(())
}

/// `noOverwriteDirNonDir`: an existing directory may not become a non-directory, nor the
/// other way round.
fn check_dir_non_dir(
    dir: &OwnedFd,
    name: &OsStr,
    new_is_dir: bool,
) -> std::result::Result<(), String> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            if is_dir && !new_is_dir {
                Err("cannot overwrite directory with non-directory".into())
            } else if !is_dir && new_is_dir {
                Err("cannot overwrite non-directory with directory".into())
            } else {
                Ok(())
            }
        }
        Err(_) => Ok(()),
    }
}

/// Makes room for a new entry `name` in `dir`: removes what is there, except a directory when
/// the new entry is a directory too (returns true then: the directory is kept and merged).
fn remove_existing(
    dir: &OwnedFd,
    name: &OsStr,
    new_is_dir: bool,
) -> std::result::Result<bool, String> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(format!("stat: {e}")),
    };
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    if is_dir && new_is_dir {
        return Ok(true);
    }
    if is_dir {
        // std's remove_dir_all does not follow symlinks inside the tree.
        std::fs::remove_dir_all(fd_path(dir, name))
            .map_err(|e| format!("replacing a directory: {e}"))?;
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(|e| format!("replacing: {e}"))?;
    }
    Ok(false)
}

fn uid_of(u: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(u)
}

fn gid_of(g: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(g)
}
