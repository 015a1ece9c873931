//! A pool of SQLite connections to one file, with writer turns and a background checkpointer.
//!
//! Statements run inline on the async executor: in WAL mode a read never waits, and the only waits a
//! statement can meet are for the write lock (queued here, asynchronously, instead of in SQLite's
//! sleeping busy handler) and for the fsyncs of a checkpoint (moved to a thread of its own). That keeps
//! every statement in the microseconds and saves two thread hand-offs per statement.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// Idle connections kept per file.
const MAX_IDLE: usize = 32;
/// How long SQLite itself retries a lock another process holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection: the application's distinct statements, with room to spare
/// (rusqlite keeps 16, fewer than one request path uses, so every statement would be prepared anew).
const STATEMENT_CACHE: usize = 256;
/// How long a writer waits for its turn before it is told the database is locked.
const TURN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL frames (pages) after which the checkpointer starts the WAL over (about 16 MiB).
const RESTART_AFTER_FRAMES: i64 = 4096;
/// How long the restart may wait for readers (while writers wait for it) before it tries again later.
const RESTART_PATIENCE: Duration = Duration::from_millis(20);

/// Held while one connection of this process may write; dropping it lets the next writer in.
pub type WriterTurn = OwnedMutexGuard<()>;

/// Connections to one SQLite file in WAL mode.
pub struct SqlitePool {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// One writer at a time in this process, in arrival order. Another process's writers still meet
    /// SQLite's busy handler.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl SqlitePool {
    /// Opens (creating) the file, switches it to WAL, runs `schema` once and starts the checkpointer.
    pub fn open(path: &Path, schema: &str) -> Result<Arc<SqlitePool>> {
        let pool = SqlitePool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            writer: Arc::new(tokio::sync::Mutex::new(())),
        };
        let connection = pool.connect()?;
        connection.pragma_update(None, "journal_mode", "WAL").context("enabling WAL")?;
        if !schema.is_empty() {
            connection.execute_batch(schema).with_context(|| format!("{}: creating schema", path.display()))?;
        }
        let pool = Arc::new(pool);
        pool.release(connection);
        spawn_checkpointer(Arc::downgrade(&pool), pool.connect()?)?;
        Ok(pool)
    }

    fn connect(&self) -> Result<rusqlite::Connection> {
        let connection = rusqlite::Connection::open(&self.path)
            .with_context(|| format!("{}: cannot open database", self.path.display()))?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoints (and their fsyncs) belong to the checkpointer, not to whichever request commits.
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
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

    /// Waits (asynchronously, first come first served) for this process's turn to write; `None` after
    /// [`TURN_TIMEOUT`], which callers report as a locked database.
    pub async fn writer_turn(&self) -> Option<WriterTurn> {
        tokio::time::timeout(TURN_TIMEOUT, self.writer.clone().lock_owned()).await.ok()
    }

    /// Runs a read with a pooled connection.
    pub fn read<T>(&self, work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> Result<T> {
        let connection = self.acquire()?;
        let result = work(&connection);
        self.release(connection);
        Ok(result?)
    }

    /// Runs a write (one autocommit statement, or a transaction `work` opens and closes) in this
    /// process's turn.
    pub async fn write<T>(&self, work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> Result<T> {
        let turn = self.writer_turn().await.with_context(|| format!("{}: database is locked", self.path.display()))?;
        let result = self.read(work);
        drop(turn);
        after_turn().await;
        result
    }
}

/// Call right after giving a turn back. The next writer was woken on this executor thread, where it
/// would wait until this request next yields (tokio runs a task woken this way next, but not before the
/// current one); yielding now lets it write at once instead of after the rest of this request.
pub async fn after_turn() {
    tokio::task::yield_now().await;
}

/// Whether running `sql` may write, so it must wait for the writer's turn: any statement SQLite does
/// not call read-only, and `BEGIN` (whose transaction may write later; SQLite calls it read-only).
pub fn may_write(connection: &rusqlite::Connection, sql: &str) -> bool {
    let begins = sql.trim_start().get(..5).is_some_and(|word| word.eq_ignore_ascii_case("BEGIN"));
    begins || connection.prepare_cached(sql).is_ok_and(|statement| !statement.readonly())
}

/// Keeps the WAL short on a thread of its own, until the pool is gone. A WAL only starts over from its
/// beginning when a writer finds every frame copied back and no reader inside it; under steady writes a
/// background copy never gets there, and the WAL (and every page lookup in it) grows without end. So:
/// copy what is there with PASSIVE, which blocks nobody (this is where the bulk of the copying and the
/// fsyncs happen); then, once the WAL holds [`RESTART_AFTER_FRAMES`], take the writer turn and finish with
/// RESTART, which copies the few frames written meanwhile, waits out the readers still inside the WAL (at
/// most [`RESTART_PATIENCE`]; otherwise the next round tries again) and makes the next writer start the WAL
/// over. (Measured: without this, 7 s of the bench's cycle left a 314 MB WAL.)
fn spawn_checkpointer(pool: Weak<SqlitePool>, connection: rusqlite::Connection) -> Result<()> {
    // Writers wait while RESTART waits for readers: give up after a moment and try again next round.
    connection.busy_timeout(RESTART_PATIENCE)?;
    std::thread::spawn(move || {
        let checkpoint = |mode: &str| {
            connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| row.get::<_, i64>(1))
        };
        loop {
            std::thread::sleep(CHECKPOINT_EVERY);
            let Some(pool) = pool.upgrade() else { return };
            let restart = match checkpoint("PASSIVE") {
                Ok(frames) => frames >= RESTART_AFTER_FRAMES,
                Err(error) => {
                    eprintln!("conveyor: {}: checkpoint failed: {error}", pool.path.display());
                    false
                }
            };
            if restart {
                let _turn = pool.writer.blocking_lock();
                if let Err(error) = checkpoint("RESTART") {
                    eprintln!("conveyor: {}: checkpoint failed: {error}", pool.path.display());
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::OptionalExtension;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("conveyor-pool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn statements_that_may_write_are_told_apart_from_reads() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        connection.execute_batch("CREATE TABLE t (x)").unwrap();
        for sql in ["INSERT INTO t VALUES (1)", "UPDATE t SET x = 2", "DELETE FROM t", "BEGIN IMMEDIATE", " begin"] {
            assert!(may_write(&connection, sql), "{sql}");
        }
        for sql in ["SELECT x FROM t", "PRAGMA user_version", "COMMIT", "SELECT nonsense FROM nowhere"] {
            assert!(!may_write(&connection, sql), "{sql}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_take_turns_and_a_turn_lasts_until_it_is_dropped() {
        let dir = scratch("turns");
        let pool = SqlitePool::open(&dir.join("t.db"), "CREATE TABLE t (x)").unwrap();
        let first = pool.writer_turn().await.unwrap();
        let second_has_turn = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (pool, flag) = (pool.clone(), second_has_turn.clone());
            tokio::spawn(async move {
                let _turn = pool.writer_turn().await.unwrap();
                flag.store(true, Ordering::SeqCst);
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second_has_turn.load(Ordering::SeqCst), "the second writer waits for the first");
        drop(first);
        waiter.await.unwrap();
        assert!(second_has_turn.load(Ordering::SeqCst));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn under_steady_writes_and_reads_the_wal_stays_short() {
        let dir = scratch("checkpoint");
        let path = dir.join("t.db");
        let pool = SqlitePool::open(&path, "CREATE TABLE t (x BLOB)").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (pool, stop) = (pool.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let newest = "SELECT length(x) FROM t ORDER BY rowid DESC LIMIT 1";
                        pool.read(|c| c.query_row(newest, [], |row| row.get::<_, Option<i64>>(0)).optional()).unwrap();
                    }
                })
            })
            .collect();
        // Every commit appends three frames (row, table and schema pages): without the WAL ever starting over
        // the file holds them all; with it, a fraction (about an eighth here, under a writer far busier than
        // any request mix).
        let commits = 6 * RESTART_AFTER_FRAMES;
        for _ in 0..commits {
            let _turn = pool.writer.blocking_lock();
            pool.read(|c| c.execute("INSERT INTO t VALUES (zeroblob(3000))", [])).unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        readers.into_iter().for_each(|reader| reader.join().unwrap());
        let wal_frames = std::fs::metadata(dir.join("t.db-wal")).unwrap().len() as i64 / (4096 + 24);
        assert!(wal_frames < commits, "{commits} commits left a WAL of {wal_frames} frames");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
