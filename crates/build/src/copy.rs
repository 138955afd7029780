//! COPY / ADD: resolving sources (globs, files, directories) in the context or another
//! image's rootfs, and copying them into a rootfs. Every path is resolved by the kernel inside
//! its root ([`safepath::Root`]): a symlink in the context or an image is followed only inside
//! that root (as Docker follows the source path), entries below a copied directory are copied
//! as they are (links as links), and nothing is written through a link of the destination.

use crate::error::{BuildError, Result};
use crate::ignore::{clean, glob};
use safepath::tree::{self, CopyOpts};
use safepath::Root;
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A resolved source: the host path the kernel resolved it to (always inside its root).
pub struct Source {
    /// Host path (resolved inside the root; its final component is never a symlink).
    pub path: PathBuf,
    /// Relative name (for messages and cache keys).
    pub name: String,
    /// The last component as written (names the copy when the destination is a directory).
    pub base: OsString,
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn not_found(rel: &str, what: &str) -> BuildError {
    BuildError::Invalid(format!(
        "COPY failed: file not found in {what}: stat {rel}: file does not exist"
    ))
}

fn source(root: &Root, rel: &str, what: &str) -> Result<Source> {
    let path = root.real_path(rel).map_err(|e| {
        if e.is_not_found() {
            not_found(rel, what)
        } else {
            BuildError::Invalid(format!("COPY failed: {e}"))
        }
    })?;
    let base = Path::new(rel)
        .file_name()
        .map(|n| n.to_os_string())
        .or_else(|| path.file_name().map(|n| n.to_os_string()))
        .unwrap_or_default();
    Ok(Source {
        path,
        name: rel.to_string(),
        base,
    })
}

/// Resolves `src` (relative to `root`; globs allowed) to existing paths inside `root`.
pub fn resolve(root: &Root, src: &str, what: &str) -> Result<Vec<Source>> {
    let rel = clean(src);
    if rel.is_empty() {
        return Ok(vec![Source {
            path: root.real_path("").map_err(std::io::Error::from)?,
            name: ".".into(),
            base: OsString::new(),
        }]);
    }
    if !has_glob(&rel) {
        return Ok(vec![source(root, &rel, what)?]);
    }
    let mut found = vec![String::new()];
    for seg in rel.split('/') {
        let mut next = Vec::new();
        for name in found {
            if !has_glob(seg) {
                let n = join_name(&name, seg);
                if root.lstat(&n).is_ok() {
                    next.push(n);
                }
                continue;
            }
            let Ok(dir) = root.open_dir(&name) else {
                continue;
            };
            let Ok(names) = tree::names(dir.as_fd()) else {
                continue;
            };
            for n in names {
                let n = n.to_string_lossy().into_owned();
                if glob(seg, &n) {
                    next.push(join_name(&name, &n));
                }
            }
        }
        found = next;
    }
    if found.is_empty() {
        return Err(BuildError::Invalid(format!(
            "COPY failed: no source files were specified (no match for {rel} in {what})"
        )));
    }
    found.iter().map(|n| source(root, n, what)).collect()
}

fn join_name(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// Ownership and mode applied to copied entries.
#[derive(Clone, Copy)]
pub struct Attrs {
    /// uid, gid (docker: 0:0 unless `--chown`).
    pub owner: (u32, u32),
    /// `--chmod`.
    pub mode: Option<u32>,
}

impl Attrs {
    fn opts(self) -> CopyOpts {
        CopyOpts {
            owner: Some(self.owner),
            mode: self.mode,
        }
    }
}

/// Opens a resolved source without following it again.
fn open_source(src: &Path) -> Result<OwnedFd> {
    Ok(rustix::fs::open(
        src,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(std::io::Error::from)?)
}

/// Copies the content of the source directory `src` into the directory `dest` of `root`
/// (created, and its missing parents, inside the root).
pub fn copy_dir(src: &Path, root: &Root, dest: &str, attrs: Attrs) -> Result<()> {
    let s = rustix::fs::open(
        src,
        rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::DIRECTORY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(std::io::Error::from)?;
    let d = root.mkdir_all(dest, 0o755)?;
    tree::copy_contents(s.as_fd(), d.as_fd(), attrs.opts())?;
    Ok(())
}

/// Copies the source `src` (file or link) to the path `dest` of `root`, replacing what is
/// there; missing parents are created inside the root.
pub fn copy_to(src: &Path, root: &Root, dest: &str, attrs: Attrs) -> Result<()> {
    let s = open_source(src)?;
    let (dir, name) = root.parent_of(dest, Some(0o755))?;
    let Some(name) = name else {
        return Err(BuildError::Invalid(format!(
            "COPY failed: destination {dest} is a directory"
        )));
    };
    tree::copy_fd(s.as_fd(), dir.as_fd(), &name, attrs.opts())?;
    Ok(())
}

/// Writes a file with `content` at `dest` of `root` (COPY heredocs).
pub fn write_file(root: &Root, dest: &str, content: &[u8], attrs: Attrs) -> Result<()> {
    let mut f = root.create_file(dest, attrs.mode.unwrap_or(0o644))?;
    rustix::fs::fchown(
        &f,
        Some(rustix::fs::Uid::from_raw(attrs.owner.0)),
        Some(rustix::fs::Gid::from_raw(attrs.owner.1)),
    )
    .map_err(std::io::Error::from)?;
    rustix::fs::fchmod(
        &f,
        rustix::fs::Mode::from_raw_mode(attrs.mode.unwrap_or(0o644)),
    )
    .map_err(std::io::Error::from)?;
    f.write_all(content)?;
    Ok(())
}

/// Whether the file at `p` is a (possibly compressed) tar archive, for ADD's auto-extraction.
pub fn is_archive(p: &Path) -> bool {
    if !fs::symlink_metadata(p)
        .map(|m| m.is_file())
        .unwrap_or(false)
    {
        return false;
    }
    let Ok(mut f) = fs::File::open(p) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(b"BZh")
        || h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &h[257..262] == b"ustar")
}

/// Extracts the archive at `src` into the directory `dest` of `root` (created inside it).
pub fn extract(src: &Path, root: &Root, dest: &str) -> Result<()> {
    let d = root.mkdir_all(dest, 0o755)?;
    let host = safepath::root::fd_path(d.as_fd())?;
    let f = fs::File::open(src)?;
    let mut r = image::compression::decompress(f)?;
    image::unpack::unpack(&mut r, &host)?;
    Ok(())
}
