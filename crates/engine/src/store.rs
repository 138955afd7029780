//! Persistent container records in redb (`D/engine.redb`), one JSON value per container id.

use crate::error::{EngineError, Result};
use crate::types::Container;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");

/// Transactional store of container records.
pub struct Store {
    db: Database,
}

fn db_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("container database: {e}"))
}

impl Store {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(CONTAINERS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(Store { db })
    }

    /// Insert or replace one record (one transaction).
    pub fn put(&self, c: &Container) -> Result<()> {
        let bytes = serde_json::to_vec(c)?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(CONTAINERS).map_err(db_err)?;
            t.insert(c.id.as_str(), bytes.as_slice()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Delete one record.
    pub fn delete(&self, id: &str) -> Result<()> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(CONTAINERS).map_err(db_err)?;
            t.remove(id).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Load every record; undecodable ones are skipped with a warning.
    pub fn load_all(&self) -> Result<Vec<Container>> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(CONTAINERS).map_err(db_err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            match serde_json::from_slice::<Container>(v.value()) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!("skipping undecodable record {}: {e}", k.value()),
            }
        }
        Ok(out)
    }
}
