//! A pool of SQLite connections to one file. Connections are handed out per guest `open()` and taken back
//! on drop, so requests do not pay for opening the file; all SQLite work runs on the blocking pool, never
//! on the async executor.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Idle connections kept per file.
const MAX_IDLE: usize = 32;

/// Connections to one SQLite file in WAL mode.
pub struct SqlitePool {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl SqlitePool {
    /// Opens (creating) the file, switches it to WAL and runs `schema` once.
    pub fn open(path: &Path, schema: &str) -> Result<SqlitePool> {
        let pool = SqlitePool { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) };
        let connection = pool.connect()?;
        connection.pragma_update(None, "journal_mode", "WAL").context("enabling WAL")?;
        if !schema.is_empty() {
            connection.execute_batch(schema).with_context(|| format!("{}: creating schema", path.display()))?;
        }
        pool.release(connection);
        Ok(pool)
    }

    fn connect(&self) -> Result<rusqlite::Connection> {
        let connection = rusqlite::Connection::open(&self.path)
            .with_context(|| format!("{}: cannot open database", self.path.display()))?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(connection)
    }

    /// An idle connection, or a new one.
    pub fn acquire(&self) -> Result<rusqlite::Connection> {
        let idle = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        match idle {
            Some(connection) => Ok(connection),
            None => self.connect(),
        }
    }

    /// Takes a connection back, rolling back a transaction the guest left open.
    pub fn release(&self, connection: rusqlite::Connection) {
        if !connection.is_autocommit() && connection.execute_batch("ROLLBACK").is_err() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(connection);
        }
    }

    /// Runs `work` with a connection on the blocking pool.
    pub async fn run<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        work: impl FnOnce(&rusqlite::Connection) -> T + Send + 'static,
    ) -> Result<T> {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let connection = pool.acquire()?;
            let result = work(&connection);
            pool.release(connection);
            Ok(result)
        })
        .await?
    }
}
