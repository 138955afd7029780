//! COPY / ADD: resolving sources (globs, files, directories) in the context or another
//! image's rootfs, and copying them into a rootfs without following symlinks out of it.

use crate::error::{BuildError, Result};
use crate::ignore::{clean, glob};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// A resolved source: host path and its name relative to the source root.
pub struct Source {
    /// Host path.
    pub path: PathBuf,
    /// Relative name (for messages and cache keys).
    pub name: String,
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Resolves `src` (relative to `root`; globs allowed) to existing paths.
pub fn resolve(root: &Path, src: &str, what: &str) -> Result<Vec<Source>> {
    let rel = clean(src);
    if rel.is_empty() {
        return Ok(vec![Source {
            path: root.to_path_buf(),
            name: ".".into(),
        }]);
    }
    if !has_glob(&rel) {
        let p = root.join(&rel);
        if fs::symlink_metadata(&p).is_err() {
            return Err(BuildError::Invalid(format!(
                "COPY failed: file not found in {what}: stat {rel}: file does not exist"
            )));
        }
        return Ok(vec![Source { path: p, name: rel }]);
    }
    let mut found = vec![(root.to_path_buf(), String::new())];
    for seg in rel.split('/') {
        let mut next = Vec::new();
        for (dir, name) in found {
            if !has_glob(seg) {
                let p = dir.join(seg);
                if fs::symlink_metadata(&p).is_ok() {
                    next.push((p, join_name(&name, seg)));
                }
                continue;
            }
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            let mut names: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| glob(seg, n))
                .collect();
            names.sort();
            for n in names {
                next.push((dir.join(&n), join_name(&name, &n)));
            }
        }
        found = next;
    }
    if found.is_empty() {
        return Err(BuildError::Invalid(format!(
            "COPY failed: no source files were specified (no match for {rel} in {what})"
        )));
    }
    Ok(found
        .into_iter()
        .map(|(path, name)| Source { path, name })
        .collect())
}

fn join_name(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// Resolves the absolute container path `path` inside `root`, following symlinks as the
/// container would see them (an absolute link target is taken relative to `root`), so the
/// result never leaves `root`.
pub fn scoped(root: &Path, path: &str) -> PathBuf {
    let mut parts: Vec<String> = Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .rev()
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(p) = parts.pop() {
        if p == ".." {
            cur.pop();
            continue;
        }
        let candidate = root.join(cur.join("/")).join(&p);
        match fs::read_link(&candidate) {
            Ok(target) if hops < 40 => {
                hops += 1;
                if target.is_absolute() {
                    cur.clear();
                }
                let t: Vec<String> = target
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                        Component::ParentDir => Some("..".into()),
                        _ => None,
                    })
                    .collect();
                parts.extend(t.into_iter().rev());
            }
            _ => cur.push(p),
        }
    }
    root.join(cur.join("/"))
}

/// Ownership and mode applied to copied entries.
#[derive(Clone, Copy)]
pub struct Attrs {
    /// uid, gid (docker: 0:0 unless `--chown`).
    pub owner: (u32, u32),
    /// `--chmod`.
    pub mode: Option<u32>,
}

/// Copies `src` (file, link or directory: its contents) to host path `dest`.
pub fn copy(src: &Path, dest: &Path, attrs: Attrs) -> Result<()> {
    let md = fs::symlink_metadata(src)?;
    if md.is_dir() {
        if !dest.is_dir() {
            if fs::symlink_metadata(dest).is_ok() {
                fs::remove_file(dest)?;
            }
            fs::create_dir_all(dest)?;
            set_attrs(dest, md.mode(), attrs)?;
        }
        let mut names: Vec<_> = fs::read_dir(src)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            copy(&src.join(&n), &dest.join(&n), attrs)?;
        }
        return Ok(());
    }
    if let Ok(old) = fs::symlink_metadata(dest) {
        if old.is_dir() {
            fs::remove_dir_all(dest)?;
        } else {
            fs::remove_file(dest)?;
        }
    }
    if md.file_type().is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dest)?;
        lchown(dest, attrs.owner)?;
        return Ok(());
    }
    if md.is_file() {
        fs::copy(src, dest)?;
        set_attrs(dest, md.mode(), attrs)?;
        return Ok(());
    }
    Err(BuildError::Invalid(format!(
        "COPY failed: {} is not a regular file, directory or symlink",
        src.display()
    )))
}

/// Writes a file with `content` (COPY heredocs).
pub fn write_file(dest: &Path, content: &[u8], attrs: Attrs) -> Result<()> {
    if let Ok(old) = fs::symlink_metadata(dest) {
        if old.is_dir() {
            fs::remove_dir_all(dest)?;
        } else {
            fs::remove_file(dest)?;
        }
    }
    fs::write(dest, content)?;
    set_attrs(dest, 0o100644, attrs)
}

fn set_attrs(p: &Path, mode: u32, attrs: Attrs) -> Result<()> {
    lchown(p, attrs.owner)?;
    let m = attrs.mode.unwrap_or(mode & 0o7777);
    fs::set_permissions(p, fs::Permissions::from_mode(m))?;
    Ok(())
}

fn lchown(p: &Path, (uid, gid): (u32, u32)) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
    Ok(())
}

/// Whether the file at `p` is a (possibly compressed) tar archive, for ADD's auto-extraction.
pub fn is_archive(p: &Path) -> bool {
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

/// Extracts the archive at `src` into directory `dest` (created).
pub fn extract(src: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    let f = fs::File::open(src)?;
    let mut r = image::compression::decompress(f)?;
    image::unpack::unpack(&mut r, dest)?;
    Ok(())
}
