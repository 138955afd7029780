//! Image metadata in redb: `images` (image id → record JSON) and `tags`
//! (normalised reference → image id). Every change is one write transaction.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::config::ImageConfig;
use crate::error::{db_err, ImageError, Result};

const IMAGES: TableDefinition<&str, &str> = TableDefinition::new("images");
const TAGS: TableDefinition<&str, &str> = TableDefinition::new("tags");

/// What is stored per image (tags and digests live in the `tags` table).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredImage {
    pub id: String,
    pub created: String,
    pub size: u64,
    /// Unpacked size of each layer, in `config.rootfs.diff_ids` order.
    #[serde(default)]
    pub layer_sizes: Vec<u64>,
    pub config: ImageConfig,
    pub manifest_digest: String,
    /// Every blob this image holds on to (config, manifest, layer blobs).
    pub blobs: Vec<String>,
}

/// The whole metadata, read in one transaction.
#[derive(Default, Debug)]
pub(crate) struct State {
    pub images: BTreeMap<String, StoredImage>,
    /// Normalised reference (`docker.io/library/busybox:latest`) → image id.
    pub tags: BTreeMap<String, String>,
}

/// One change to commit.
pub(crate) enum Op {
    PutImage(Box<StoredImage>),
    DeleteImage(String),
    PutTag(String, String),
    DeleteTag(String),
}

pub(crate) struct Metadata {
    db: Database,
}

impl Metadata {
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(db_err)?;
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(IMAGES).map_err(db_err)?;
        txn.open_table(TAGS).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        Ok(Metadata { db })
    }

    pub fn load(&self) -> Result<State> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let mut state = State::default();
        let images = txn.open_table(IMAGES).map_err(db_err)?;
        for item in images.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let rec: StoredImage = serde_json::from_str(v.value())
                .map_err(|e| ImageError::Corrupt(format!("image record {}: {e}", k.value())))?;
            state.images.insert(k.value().to_string(), rec);
        }
        let tags = txn.open_table(TAGS).map_err(db_err)?;
        for item in tags.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            state
                .tags
                .insert(k.value().to_string(), v.value().to_string());
        }
        Ok(state)
    }

    pub fn commit(&self, ops: Vec<Op>) -> Result<()> {
        let txn = self.db.begin_write().map_err(db_err)?;
        {
            let mut images = txn.open_table(IMAGES).map_err(db_err)?;
            let mut tags = txn.open_table(TAGS).map_err(db_err)?;
            for op in ops {
                match op {
                    Op::PutImage(rec) => {
                        let json = serde_json::to_string(&rec)
                            .map_err(|e| ImageError::Corrupt(e.to_string()))?;
                        images
                            .insert(rec.id.as_str(), json.as_str())
                            .map_err(db_err)?;
                    }
                    Op::DeleteImage(id) => {
                        images.remove(id.as_str()).map_err(db_err)?;
                    }
                    Op::PutTag(r, id) => {
                        tags.insert(r.as_str(), id.as_str()).map_err(db_err)?;
                    }
                    Op::DeleteTag(r) => {
                        tags.remove(r.as_str()).map_err(db_err)?;
                    }
                }
            }
        }
        txn.commit().map_err(db_err)
    }
}
