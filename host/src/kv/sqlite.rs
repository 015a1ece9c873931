//! Today's key-value backend: a store is the rows of its label in a SQLite file (or in-memory database)
//! served by a [`SqlitePool`], in the table layout Spin's SQLite store uses.

use super::KeyValueStore;
use crate::BoxFuture;
use crate::pool::SqlitePool;
use anyhow::Result;
use rusqlite::{Connection, OptionalExtension};
use std::sync::Arc;

/// The schema of a key-value file.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))";

/// The store `label` in a pool's file.
pub struct SqliteStore {
    pub label: String,
    pub pool: Arc<SqlitePool>,
}

impl SqliteStore {
    /// Runs a read inline on a pooled connection, as a future that is ready at once.
    fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &str) -> rusqlite::Result<T>,
    ) -> BoxFuture<'_, Result<T>> {
        Box::pin(std::future::ready(self.pool.read(|connection| work(connection, &self.label))))
    }

    /// Queues a write for the file's writer.
    fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'_, Result<T>> {
        let label = self.label.clone();
        Box::pin(self.pool.write(move |connection| work(connection, &label)))
    }
}

impl KeyValueStore for SqliteStore {
    fn get(&self, key: String) -> BoxFuture<'_, Result<Option<Vec<u8>>>> {
        self.read(move |c, store| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row((store, &key), |row| row.get(0))
                .optional()
        })
    }

    fn set(&self, key: String, value: Vec<u8>) -> BoxFuture<'_, Result<()>> {
        self.write(move |c, store| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute((store, &key, &value))
            .map(|_| ())
        })
    }

    fn delete(&self, key: String) -> BoxFuture<'_, Result<()>> {
        self.write(move |c, store| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute((store, &key))
                .map(|_| ())
        })
    }

    fn exists(&self, key: String) -> BoxFuture<'_, Result<bool>> {
        self.read(move |c, store| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?.exists((store, &key))
        })
    }

    fn get_keys(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        self.read(move |c, store| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                .query_map([store], |row| row.get(0))?
                .collect()
        })
    }
}
