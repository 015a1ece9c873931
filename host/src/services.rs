//! The process-wide services every request shares: the backend of each database and store label and
//! the guest clock.

use crate::clock::Clock;
use crate::kv::KeyValueStore;
use crate::kv::sqlite::{SCHEMA, SqliteStore};
use crate::pool::SqlitePool;
use crate::sqlite::SqliteBackend;
use crate::sqlite::local::LocalDatabase;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Process-wide services shared by every request.
pub struct Services {
    pub databases: HashMap<String, Arc<dyn SqliteBackend>>,
    pub kv_stores: HashMap<String, Arc<dyn KeyValueStore>>,
    pub clock: Clock,
}

impl Services {
    /// Opens database `default` (`<data-dir>/sqlite_db.db`) and store `default`
    /// (`<data-dir>/sqlite_key_value.db`).
    pub fn open(data_dir: &Path) -> Result<Services> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("{}: cannot create data directory", data_dir.display()))?;
        let db = SqlitePool::open(&data_dir.join("sqlite_db.db"), "")?;
        let kv = SqlitePool::open(&data_dir.join("sqlite_key_value.db"), SCHEMA)?;
        let database: Arc<dyn SqliteBackend> = Arc::new(LocalDatabase(db));
        let store: Arc<dyn KeyValueStore> = Arc::new(SqliteStore { label: "default".to_string(), pool: kv });
        Ok(Services {
            databases: HashMap::from([("default".to_string(), database)]),
            kv_stores: HashMap::from([("default".to_string(), store)]),
            clock: Clock::default(),
        })
    }
}
