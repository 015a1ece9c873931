//! The host side of `fermyon:spin/key-value@2.0.0`: store `default` lives in
//! `<data-dir>/sqlite_key_value.db`, in the same table layout Spin's SQLite store uses.

use crate::bindings::key_value::{self, Error};
use crate::pool::SqlitePool;
use crate::state::State;
use rusqlite::OptionalExtension;
use std::sync::Arc;
use wasmtime::component::Resource;

/// The schema of the key-value file.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))";

/// An open guest store.
pub struct Store {
    label: String,
    pool: Arc<SqlitePool>,
}

/// Whether a key-value operation writes (and so waits for the file's writer turn).
#[derive(Clone, Copy)]
enum Access {
    Read,
    Write,
}

impl State {
    async fn with_store<T: Send + 'static>(
        &mut self,
        handle: &Resource<Store>,
        access: Access,
        work: impl FnOnce(&rusqlite::Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> wasmtime::Result<Result<T, Error>> {
        let store = self.table.get(handle)?;
        let (pool, label) = (store.pool.clone(), store.label.clone());
        let work = move |connection: &rusqlite::Connection| work(connection, &label);
        let result = match access {
            Access::Read => pool.read(work),
            Access::Write => pool.write(work).await,
        };
        Ok(result.map_err(|e| Error::Other(format!("{e:#}"))))
    }
}

impl key_value::Host for State {}

impl key_value::HostStore for State {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<Store>, Error>> {
        if !self.component.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(pool) = self.services.kv_stores.get(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        Ok(Ok(self.table.push(Store { label, pool })?))
    }

    async fn get(&mut self, handle: Resource<Store>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        self.with_store(&handle, Access::Read, move |c, store| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row((store, &key), |row| row.get(0))
                .optional()
        })
        .await
    }

    async fn set(
        &mut self,
        handle: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        self.with_store(&handle, Access::Write, move |c, store| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute((store, &key, &value))
            .map(|_| ())
        })
        .await
    }

    async fn delete(&mut self, handle: Resource<Store>, key: String) -> wasmtime::Result<Result<(), Error>> {
        self.with_store(&handle, Access::Write, move |c, store| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute((store, &key))
                .map(|_| ())
        })
        .await
    }

    async fn exists(&mut self, handle: Resource<Store>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        self.with_store(&handle, Access::Read, move |c, store| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?.exists((store, &key))
        })
        .await
    }

    async fn get_keys(&mut self, handle: Resource<Store>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        self.with_store(&handle, Access::Read, move |c, store| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                .query_map([store], |row| row.get(0))?
                .collect()
        })
        .await
    }

    async fn drop(&mut self, handle: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
