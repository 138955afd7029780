//! The content store: blobs addressed by sha256 under `content/sha256/<hex>`.
//!
//! Every write goes to a temp file under `tmp/`, is hashed on the way in, fsynced, verified
//! against the expected digest (when one is given) and renamed into place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, Hasher};
use crate::error::{ImageError, Result};

/// Blobs by digest under `<root>/content/sha256/`.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl ContentStore {
    /// Opens (creating the directories of) the content store under `root` (= `D/image`).
    pub fn open(root: &Path) -> Result<Self> {
        let blobs = root.join("content").join("sha256");
        let tmp = root.join("tmp");
        for d in [&blobs, &tmp] {
            fs::create_dir_all(d).map_err(|e| ImageError::io("create dir", d, e))?;
        }
        Ok(ContentStore { blobs, tmp })
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// True when the blob is present.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Size in bytes of a present blob.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let p = self.path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ImageError::NotFound(digest.to_string()))
            }
            Err(e) => Err(ImageError::io("stat", p, e)),
        }
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let p = self.path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ImageError::NotFound(digest.to_string()),
            _ => ImageError::io("open", p, e),
        })
    }

    /// Reads a whole blob and checks its digest.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        let p = self.path(digest);
        self.open_blob(digest)?
            .read_to_end(&mut data)
            .map_err(|e| ImageError::io("read", &p, e))?;
        let actual = Digest::of(&data);
        if &actual != digest {
            return Err(ImageError::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(data)
    }

    /// Stores `data`; checks it against `expected` when given. Returns its digest.
    pub fn write_bytes(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let mut w = self.writer()?;
        w.write_all(data)
            .map_err(|e| ImageError::io("write", &w.path, e))?;
        Ok(w.commit(expected)?.0)
    }

    /// Streams `reader` into the store; checks against `expected` when given.
    pub fn write_from(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let mut w = self.writer()?;
        io::copy(reader, &mut w).map_err(|e| ImageError::io("write", &w.path, e))?;
        w.commit(expected)
    }

    /// A writer for a new blob; nothing is visible until [`BlobWriter::commit`].
    pub fn writer(&self) -> Result<BlobWriter> {
        let path = unique_tmp(&self.tmp, "blob");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| ImageError::io("create", &path, e))?;
        Ok(BlobWriter {
            file: Some(file),
            path,
            hasher: Hasher::new(),
            blobs: self.blobs.clone(),
        })
    }

    /// Deletes a blob (absent is fine).
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::io("remove", p, e)),
        }
    }

    /// Digests of every blob present.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        let rd =
            fs::read_dir(&self.blobs).map_err(|e| ImageError::io("read dir", &self.blobs, e))?;
        for ent in rd.flatten() {
            if let Some(d) = ent
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// A blob being written: hashes what goes through it; removed on drop unless committed.
#[derive(Debug)]
pub struct BlobWriter {
    file: Option<File>,
    path: PathBuf,
    hasher: Hasher,
    blobs: PathBuf,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Digest of what was written so far.
    pub fn digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    /// fsyncs, verifies against `expected`, and renames into place. Returns (digest, size).
    /// An already-present blob with that digest is kept and the temp file dropped.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let file = self
            .file
            .take()
            .ok_or_else(|| ImageError::Corrupt("blob writer reused".into()))?;
        file.sync_all()
            .map_err(|e| ImageError::io("fsync", &self.path, e))?;
        drop(file);
        let size = self.hasher.len();
        let digest = self.hasher.clone().finish();
        if let Some(exp) = expected {
            if exp != &digest {
                let _ = fs::remove_file(&self.path);
                return Err(ImageError::DigestMismatch {
                    expected: exp.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let dest = self.blobs.join(digest.hex());
        if dest.is_file() {
            let _ = fs::remove_file(&self.path);
        } else {
            fs::rename(&self.path, &dest).map_err(|e| ImageError::io("rename", &dest, e))?;
            sync_dir(&self.blobs)?;
        }
        self.path = PathBuf::new();
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// fsyncs a directory so a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ImageError::io("fsync dir", dir, e))
}

/// A fresh path `<dir>/<prefix>-<pid>-<n>-<nanos>` (not created).
pub(crate) fn unique_tmp(dir: &Path, prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()))
}
