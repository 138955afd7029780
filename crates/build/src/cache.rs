//! The persistent layer cache: `D/build/cache.redb`, table `steps`: key (sha256 of parent
//! image id, instruction, build args in effect and content digest of the files read) → the
//! image id the step produced. Survives daemon restarts; a hit whose image is gone is a miss.

use crate::error::{BuildError, Result};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

const STEPS: TableDefinition<&str, &str> = TableDefinition::new("steps");

/// The cache database (one handle per file per process: see [`Cache::open`]).
pub struct Cache {
    db: Database,
}

fn db_err(e: impl std::fmt::Display) -> BuildError {
    BuildError::Internal(format!("build cache: {e}"))
}

/// What identifies a step.
pub struct CacheKey<'a> {
    /// Parent image id (`""` for scratch).
    pub parent: &'a str,
    /// The instruction as written (after ARG/ENV expansion where docker expands).
    pub instruction: &'a str,
    /// Build args in effect, `k=v`, sorted.
    pub args: &'a [String],
    /// Digest of the files the step reads (COPY/ADD), or `""`.
    pub content: &'a str,
}

impl CacheKey<'_> {
    /// The key's sha256 hex.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.parent, self.instruction, self.content] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update((self.args.len() as u64).to_le_bytes());
        for a in self.args {
            h.update((a.len() as u64).to_le_bytes());
            h.update(a.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

impl Cache {
    /// Opens (creating) the cache at `path`; the same path gives the same shared handle.
    pub fn open(path: &Path) -> Result<Arc<Cache>> {
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Arc<Cache>>>> = OnceLock::new();
        let mut map = OPEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(path) {
            return Ok(c.clone());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let db = Database::create(path).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(STEPS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        let c = Arc::new(Cache { db });
        map.insert(path.to_path_buf(), c.clone());
        Ok(c)
    }

    /// The image id recorded for `key`.
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(STEPS).map_err(db_err)?;
        Ok(t.get(key).map_err(db_err)?.map(|v| v.value().to_string()))
    }

    /// Every entry: (key, image id).
    pub fn entries(&self) -> Result<Vec<(String, String)>> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(STEPS).map_err(db_err)?;
        let mut out = Vec::new();
        for e in t.iter().map_err(db_err)? {
            let (k, v) = e.map_err(db_err)?;
            out.push((k.value().to_string(), v.value().to_string()));
        }
        Ok(out)
    }

    /// Deletes the entries `keys` (`docker builder prune`).
    pub fn remove(&self, keys: &[String]) -> Result<()> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(STEPS).map_err(db_err)?;
            for k in keys {
                t.remove(k.as_str()).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    /// Records `key` → `image_id`.
    pub fn put(&self, key: &str, image_id: &str) -> Result<()> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(STEPS).map_err(db_err)?;
            t.insert(key, image_id).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }
}

/// Hashes files and directories for cache keys: relative names, type, mode, uid/gid, size
/// and content (symlink targets for links), in sorted order.
pub struct ContentHasher {
    h: Sha256,
}

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher { h: Sha256::new() }
    }
}

impl ContentHasher {
    /// Adds raw bytes (e.g. a heredoc or an image id).
    pub fn bytes(&mut self, b: &[u8]) {
        self.h.update((b.len() as u64).to_le_bytes());
        self.h.update(b);
    }

    /// Adds `path` (file, link or directory tree) under the name `name`.
    pub fn path(&mut self, path: &Path, name: &str) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::symlink_metadata(path)?;
        self.bytes(name.as_bytes());
        self.bytes(&md.mode().to_le_bytes());
        let ft = md.file_type();
        if ft.is_symlink() {
            let t = std::fs::read_link(path)?;
            self.bytes(t.as_os_str().as_encoded_bytes());
        } else if ft.is_file() {
            let mut f = std::fs::File::open(path)?;
            std::io::copy(&mut f, &mut self.h)?;
        } else if ft.is_dir() {
            let mut names: Vec<_> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            names.sort();
            for n in names {
                let sub = format!("{name}/{}", n.to_string_lossy());
                self.path(&path.join(&n), &sub)?;
            }
        }
        Ok(())
    }

    /// The digest, hex.
    pub fn finish(self) -> String {
        hex::encode(self.h.finalize())
    }
}
