//! `fermyon:spin/key-value@2.0.0`: the WIT glue (`host`) delegates to a [`KeyValueStore`] per store
//! label; today's backend is `sqlite`, Spin's SQLite table layout served by this process.

mod host;
pub mod sqlite;

pub use host::Store;

use crate::BoxFuture;
use anyhow::Result;

/// The store one label names.
pub trait KeyValueStore: Send + Sync {
    /// The value of `key`, if set.
    fn get(&self, key: String) -> BoxFuture<'_, Result<Option<Vec<u8>>>>;
    /// Sets `key` to `value`.
    fn set(&self, key: String, value: Vec<u8>) -> BoxFuture<'_, Result<()>>;
    /// Removes `key` (nothing if it is not set).
    fn delete(&self, key: String) -> BoxFuture<'_, Result<()>>;
    /// Whether `key` is set.
    fn exists(&self, key: String) -> BoxFuture<'_, Result<bool>>;
    /// Every key that is set.
    fn get_keys(&self) -> BoxFuture<'_, Result<Vec<String>>>;
}
