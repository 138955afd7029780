//! Safe extraction of an image tarball (docker-archive or OCI layout) into a private temp dir.
//!
//! Only directories, regular files, and links (symlinks and hard links) between files of the
//! archive are accepted. Entry names with `..`, absolute names, devices and links leaving the
//! archive are refused. Links are not created on disk: they are kept in a map and resolved
//! lexically when a file is opened, so nothing outside the temp dir can ever be reached.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::error::{ImageError, Result};

/// An extracted archive: a temp dir removed on drop.
pub(crate) struct Extracted {
    dir: PathBuf,
    /// Archive path → link target (archive path), for symlinks and hard links.
    links: HashMap<String, String>,
}

impl Drop for Extracted {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidArchive(msg.into())
}

/// Normalises an archive entry name (`./a/b/`, `a//b`) to `a/b`; refuses `..` and absolute
/// names.
pub(crate) fn clean(name: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => parts.push(
                p.to_str()
                    .ok_or_else(|| bad(format!("entry name {name:?} is not UTF-8")))?
                    .to_string(),
            ),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(bad(format!(
                    "archive entry {:?} points outside the archive",
                    name.display()
                )))
            }
        }
    }
    Ok(parts.join("/"))
}

/// Resolves a symlink target relative to the link's directory, staying inside the archive.
fn resolve_link(link: &str, target: &Path) -> Result<String> {
    let mut parts: Vec<String> = if target.is_absolute() {
        Vec::new()
    } else {
        link.split('/').map(str::to_string).collect()
    };
    if !target.is_absolute() {
        parts.pop();
    }
    for c in target.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir if parts.pop().is_none() => {
                return Err(bad(format!(
                    "link {link:?} points outside the archive ({})",
                    target.display()
                )));
            }
            _ => {}
        }
    }
    Ok(parts.join("/"))
}

impl Extracted {
    /// Extracts `reader` (an uncompressed tar) into a new dir under `tmp`.
    pub(crate) fn new(reader: impl Read, tmp: &Path) -> Result<Self> {
        let dir = crate::content::unique_tmp(tmp, "load");
        fs::create_dir_all(&dir).map_err(|e| ImageError::io("create dir", &dir, e))?;
        let mut ex = Extracted {
            dir,
            links: HashMap::new(),
        };
        let mut ar = tar::Archive::new(reader);
        let entries = ar
            .entries()
            .map_err(|e| bad(format!("reading the archive: {e}")))?;
        let mut seen = 0usize;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("reading the archive: {e}")))?;
            seen += 1;
            let raw = entry
                .path()
                .map_err(|e| bad(format!("bad entry name: {e}")))?
                .into_owned();
            let name = clean(&raw)?;
            if name.is_empty() {
                continue;
            }
            let kind = entry.header().entry_type();
            match kind {
                tar::EntryType::Directory => {
                    let p = ex.dir.join(&name);
                    fs::create_dir_all(&p).map_err(|e| ImageError::io("create dir", &p, e))?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let p = ex.dir.join(&name);
                    if let Some(parent) = p.parent() {
                        fs::create_dir_all(parent)
                            .map_err(|e| ImageError::io("create dir", parent, e))?;
                    }
                    ex.links.remove(&name);
                    let mut f = File::create(&p).map_err(|e| ImageError::io("create", &p, e))?;
                    io::copy(&mut entry, &mut f)
                        .map_err(|e| bad(format!("reading {name:?} from the archive: {e}")))?;
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name()
                        .map_err(|e| bad(format!("bad link target: {e}")))?
                        .ok_or_else(|| bad(format!("symlink {name:?} without a target")))?;
                    let resolved = resolve_link(&name, &target)?;
                    ex.links.insert(name, resolved);
                }
                tar::EntryType::Link => {
                    let target = entry
                        .link_name()
                        .map_err(|e| bad(format!("bad link target: {e}")))?
                        .ok_or_else(|| bad(format!("hard link {name:?} without a target")))?;
                    let resolved = clean(&target)?;
                    ex.links.insert(name, resolved);
                }
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
                other => {
                    return Err(bad(format!(
                        "archive entry {name:?} has an unsupported type ({other:?})"
                    )))
                }
            }
        }
        if seen == 0 {
            return Err(bad(
                "empty archive: not a docker-archive or OCI layout tarball",
            ));
        }
        Ok(ex)
    }

    /// The real path of archive file `name` (links followed, at most 16 hops), if it exists
    /// as a regular file.
    pub(crate) fn path(&self, name: &str) -> Option<PathBuf> {
        let mut cur = clean(Path::new(name)).ok()?;
        for _ in 0..16 {
            match self.links.get(&cur) {
                Some(t) => cur = t.clone(),
                None => {
                    let p = self.dir.join(&cur);
                    // Never follow anything on disk: only files the archive itself wrote.
                    let md = fs::symlink_metadata(&p).ok()?;
                    return md.is_file().then_some(p);
                }
            }
        }
        None
    }

    /// Opens archive file `name`, or a clear error naming it.
    pub(crate) fn open(&self, name: &str) -> Result<File> {
        let p = self
            .path(name)
            .ok_or_else(|| bad(format!("the archive has no file {name:?}")))?;
        File::open(&p).map_err(|e| ImageError::io("open", &p, e))
    }

    /// Reads archive file `name` (small files: manifests, configs), at most 16 MiB.
    pub(crate) fn read(&self, name: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open(name)?
            .take(16 << 20)
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("reading {name:?}: {e}")))?;
        Ok(out)
    }

    /// True when the archive has file `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.path(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(clean(Path::new("./a//b/")).unwrap(), "a/b");
        assert!(clean(Path::new("../x")).is_err());
        assert!(clean(Path::new("/etc/passwd")).is_err());
        assert_eq!(
            resolve_link("a/layer.tar", Path::new("../b/layer.tar")).unwrap(),
            "b/layer.tar"
        );
        assert!(resolve_link("a/layer.tar", Path::new("../../etc/passwd")).is_err());
        assert_eq!(resolve_link("x", Path::new("/y")).unwrap(), "y");
    }
}
