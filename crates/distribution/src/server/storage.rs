//! On-disk layout of the registry server.
//!
//! ```text
//! ROOT/blobs/sha256/<hex>                      content (blobs and manifests), immutable
//! ROOT/tmp/                                    temp files of blobs being committed
//! ROOT/uploads/<id>                            data of an upload session
//! ROOT/repositories/<name>/_blobs/<hex>        the repository holds this blob (empty file)
//! ROOT/repositories/<name>/_manifests/<hex>    the repository holds this manifest (its media type)
//! ROOT/repositories/<name>/_tags/<tag>         the digest a tag points at
//! ROOT/repositories/<name>/_referrers/<subject-hex>/<hex>   referrer descriptor JSON
//! ```
//! A blob only ever appears under `blobs/` by `rename` of a fsynced temp file whose sha256
//! was checked, so a crash or a concurrent push of the same blob never exposes partial content.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use image::digest::Hasher;
use image::Digest;

/// Outcome of committing an upload.
#[derive(Debug)]
pub enum CommitError {
    /// The content's digest is not the one announced.
    DigestMismatch {
        /// What the content hashes to.
        actual: Digest,
    },
    /// A filesystem error.
    Io(io::Error),
}

impl From<io::Error> for CommitError {
    fn from(e: io::Error) -> Self {
        CommitError::Io(e)
    }
}

/// The registry's storage root.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
    blobs: PathBuf,
    tmp: PathBuf,
    uploads: PathBuf,
    repos: PathBuf,
}

impl Storage {
    /// Opens (creating) the storage under `root`; temp files and upload sessions left by a
    /// crash are removed.
    pub fn open(root: &Path) -> io::Result<Self> {
        let s = Storage {
            root: root.to_path_buf(),
            blobs: root.join("blobs").join("sha256"),
            tmp: root.join("tmp"),
            uploads: root.join("uploads"),
            repos: root.join("repositories"),
        };
        for d in [&s.blobs, &s.tmp, &s.uploads, &s.repos] {
            fs::create_dir_all(d)?;
        }
        for d in [&s.tmp, &s.uploads] {
            for ent in fs::read_dir(d)?.flatten() {
                let _ = fs::remove_file(ent.path());
            }
        }
        Ok(s)
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a blob (present or not).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    /// Size of a present blob.
    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(d))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    fn repo_dir(&self, name: &str) -> PathBuf {
        self.repos.join(name)
    }

    /// True when the repository exists (holds a blob or a manifest).
    pub fn repo_exists(&self, name: &str) -> bool {
        let d = self.repo_dir(name);
        d.join("_blobs").is_dir() || d.join("_manifests").is_dir()
    }

    /// Records that repository `name` holds blob `d`.
    pub fn link_blob(&self, name: &str, d: &Digest) -> io::Result<()> {
        let dir = self.repo_dir(name).join("_blobs");
        fs::create_dir_all(&dir)?;
        write_atomic(&self.tmp, &dir.join(d.hex()), b"")
    }

    /// True when repository `name` holds blob (or manifest) `d` and the content is present.
    pub fn repo_has_blob(&self, name: &str, d: &Digest) -> bool {
        let dir = self.repo_dir(name);
        (dir.join("_blobs").join(d.hex()).is_file()
            || dir.join("_manifests").join(d.hex()).is_file())
            && self.blob_path(d).is_file()
    }

    /// Drops the repository's link to blob `d`; false when there was none.
    pub fn unlink_blob(&self, name: &str, d: &Digest) -> io::Result<bool> {
        remove_if_present(&self.repo_dir(name).join("_blobs").join(d.hex()))
    }

    /// A fresh temp path under `tmp/`.
    pub fn temp_path(&self) -> PathBuf {
        self.tmp.join(unique_name("blob"))
    }

    /// The data file of upload session `id` (`id` must be validated by the caller).
    pub fn upload_path(&self, id: &str) -> PathBuf {
        self.uploads.join(id)
    }

    /// Creates an empty upload session and returns its id.
    pub fn new_upload(&self) -> io::Result<String> {
        let id = unique_id();
        File::create(self.upload_path(&id))?;
        Ok(id)
    }

    /// Hashes `src` (a temp or upload file), checks it against `expected`, fsyncs it and
    /// renames it into place. `src` is removed in every case.
    pub fn commit_file(&self, src: &Path, expected: &Digest) -> Result<u64, CommitError> {
        let result = (|| {
            let mut f = File::open(src)?;
            let mut h = Hasher::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            let size = h.len();
            let actual = h.finish();
            if &actual != expected {
                return Err(CommitError::DigestMismatch { actual });
            }
            OpenOptions::new().write(true).open(src)?.sync_all()?;
            let dest = self.blob_path(expected);
            if !dest.is_file() {
                fs::rename(src, &dest)?;
                sync_dir(&self.blobs)?;
            }
            Ok(size)
        })();
        let _ = fs::remove_file(src);
        result
    }

    /// Stores manifest bytes as a blob and links them into repository `name` with their
    /// media type.
    pub fn put_manifest(&self, name: &str, data: &[u8], media_type: &str) -> io::Result<Digest> {
        let d = Digest::of(data);
        if !self.blob_path(&d).is_file() {
            write_atomic(&self.tmp, &self.blob_path(&d), data)?;
        }
        let dir = self.repo_dir(name).join("_manifests");
        fs::create_dir_all(&dir)?;
        write_atomic(&self.tmp, &dir.join(d.hex()), media_type.as_bytes())?;
        Ok(d)
    }

    /// The media type of manifest `d` in repository `name`, when the repository holds it.
    pub fn manifest_media_type(&self, name: &str, d: &Digest) -> Option<String> {
        if !self.blob_path(d).is_file() {
            return None;
        }
        fs::read_to_string(self.repo_dir(name).join("_manifests").join(d.hex())).ok()
    }

    /// Removes manifest `d` from repository `name`, with every tag pointing at it.
    pub fn delete_manifest(&self, name: &str, d: &Digest) -> io::Result<bool> {
        let found = remove_if_present(&self.repo_dir(name).join("_manifests").join(d.hex()))?;
        for tag in self.tags(name) {
            if self.tag_target(name, &tag).as_ref() == Some(d) {
                self.delete_tag(name, &tag)?;
            }
        }
        // Drop it from any referrers list it appears in.
        if let Ok(rd) = fs::read_dir(self.repo_dir(name).join("_referrers")) {
            for ent in rd.flatten() {
                let _ = remove_if_present(&ent.path().join(d.hex()));
            }
        }
        Ok(found)
    }

    /// Points `tag` of repository `name` at manifest `d`.
    pub fn set_tag(&self, name: &str, tag: &str, d: &Digest) -> io::Result<()> {
        let dir = self.repo_dir(name).join("_tags");
        fs::create_dir_all(&dir)?;
        write_atomic(&self.tmp, &dir.join(tag), d.as_str().as_bytes())
    }

    /// The digest `tag` points at.
    pub fn tag_target(&self, name: &str, tag: &str) -> Option<Digest> {
        let s = fs::read_to_string(self.repo_dir(name).join("_tags").join(tag)).ok()?;
        Digest::parse(s.trim()).ok()
    }

    /// Removes a tag; false when absent.
    pub fn delete_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        remove_if_present(&self.repo_dir(name).join("_tags").join(tag))
    }

    /// Tags of repository `name`, sorted.
    pub fn tags(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = fs::read_dir(self.repo_dir(name).join("_tags"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Every repository name, sorted.
    pub fn catalog(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![(self.repos.clone(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for ent in rd.flatten() {
                let Ok(n) = ent.file_name().into_string() else {
                    continue;
                };
                if n.starts_with('_') || !ent.path().is_dir() {
                    continue;
                }
                let full = if prefix.is_empty() {
                    n.clone()
                } else {
                    format!("{prefix}/{n}")
                };
                if self.repo_exists(&full) {
                    out.push(full.clone());
                }
                stack.push((ent.path(), full));
            }
        }
        out.sort();
        out
    }

    /// Records `descriptor` (JSON) of manifest `d` as a referrer of `subject`.
    pub fn add_referrer(
        &self,
        name: &str,
        subject: &Digest,
        d: &Digest,
        descriptor: &[u8],
    ) -> io::Result<()> {
        let dir = self.repo_dir(name).join("_referrers").join(subject.hex());
        fs::create_dir_all(&dir)?;
        write_atomic(&self.tmp, &dir.join(d.hex()), descriptor)
    }

    /// Descriptors (JSON values) of the manifests that refer to `subject`, by digest.
    pub fn referrers(&self, name: &str, subject: &Digest) -> Vec<serde_json::Value> {
        let dir = self.repo_dir(name).join("_referrers").join(subject.hex());
        let mut names: Vec<PathBuf> = fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|p| fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }
}

/// Writes `data` to `dest` through a fsynced temp file and a rename.
fn write_atomic(tmp_dir: &Path, dest: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = tmp_dir.join(unique_name("w"));
    let r = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, dest)?;
        if let Some(parent) = dest.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn remove_if_present(p: &Path) -> io::Result<bool> {
    match fs::remove_file(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", unique_id())
}

/// A fresh 32-hex-digit id (upload sessions, temp files).
pub fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!("{}-{n}-{now}", std::process::id());
    let d = Digest::of(seed.as_bytes());
    d.hex()[..32].to_string()
}

/// True for an upload id this server could have made.
pub fn valid_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}
