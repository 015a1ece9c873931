//! A pool of SQLite connections to one file: reads on pooled connections, inline on the executor; writes
//! on one writer thread that commits them in groups; and a background checkpointer.
//!
//! Why one writer thread: SQLite lets one connection write at a time anyway, and in WAL mode a connection
//! keeps its page cache only while no other connection writes. The writer's cache stays warm, a group of
//! writes queued together shares one commit (one WAL append, one round of file locks), and a writer never
//! waits for another to be scheduled before it may start. Reads never wait in WAL mode, so they run
//! inline wherever they are asked for, without a thread hand-off.

mod checkpoint;
mod guest;
mod writer;

use anyhow::{Context, Result, anyhow};
use guest::Kinds;
pub use guest::{Kind, Stopped, as_guest};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;
pub use writer::Transaction;
use writer::{Job, Pending, Writer};

/// Idle connections kept per file.
const MAX_IDLE: usize = 32;
/// How long SQLite itself retries a lock another process holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection: the application's distinct statements, with room to spare
/// (rusqlite keeps 16, fewer than one request path uses, so every statement would be prepared anew).
const STATEMENT_CACHE: usize = 256;

/// Connections to one SQLite file in WAL mode.
pub struct SqlitePool {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    writer: Sender<Job>,
    /// The writing connection, which the writer thread lends to a guest's transaction.
    connection: Writer,
    kinds: Kinds,
}

impl SqlitePool {
    /// Opens (creating) the file, switches it to WAL, runs `schema` once and starts the writer and the
    /// checkpointer.
    pub fn open(path: &Path, schema: &str) -> Result<Arc<SqlitePool>> {
        let (writer, jobs) = std::sync::mpsc::channel();
        let connection = connect(path)?;
        connection.pragma_update(None, "journal_mode", "WAL").context("enabling WAL")?;
        if !schema.is_empty() {
            connection.execute_batch(schema).with_context(|| format!("{}: creating schema", path.display()))?;
        }
        let connection = Arc::new(Mutex::new(connection));
        let pool = SqlitePool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            writer,
            connection,
            kinds: Kinds::default(),
        };
        let served = pool.connection.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer::serve_writes(&served, &jobs))
            .context("starting the SQLite writer")?;
        let pool = Arc::new(pool);
        checkpoint::spawn_checkpointer(Arc::downgrade(&pool), pool.connect()?)?;
        Ok(pool)
    }

    fn connect(&self) -> Result<rusqlite::Connection> {
        connect(&self.path)
    }

    /// An idle connection, or a new one.
    pub fn acquire(&self) -> Result<rusqlite::Connection> {
        let idle = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        match idle {
            Some(connection) => Ok(connection),
            None => self.connect(),
        }
    }

    /// Takes a connection back, rolling back a transaction left open on it.
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

    /// Runs a read with a pooled connection.
    pub fn read<T>(&self, work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> Result<T> {
        let connection = self.acquire()?;
        let result = work(&connection);
        self.release(connection);
        Ok(result?)
    }

    /// Runs one write on the writer connection, in a group of writes committed together; answers once
    /// the group is committed. The write is atomic: if it fails, none of its changes stay.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let pending = Pending { work: Some(work), result: None, answer };
        self.send(Job::Grouped(Box::new(pending)))?;
        answered.await.map_err(|_| self.writer_stopped())?
    }

    /// Opens a transaction that has the writer connection to itself until it commits or rolls back (or
    /// sits idle for [`TRANSACTION_IDLE`], or is dropped: then it is rolled back).
    pub fn transaction(&self) -> Result<Transaction> {
        let (transaction, turn) = Transaction::new(self.connection.clone());
        self.send(Job::Turn(turn))?;
        Ok(transaction)
    }

    /// Where a guest's `sql` must run, as SQLite classifies it (see [`Kind`]); prepares it on `connection`
    /// the first time. Call it inside [`as_guest`], which enforces the guest policy on that prepare.
    pub fn kind(&self, connection: &rusqlite::Connection, sql: &str) -> rusqlite::Result<Kind> {
        self.kinds.of(connection, sql)
    }

    fn send(&self, job: Job) -> Result<()> {
        self.writer.send(job).map_err(|_| self.writer_stopped())
    }

    fn writer_stopped(&self) -> anyhow::Error {
        anyhow!("{}: the database writer dropped this write (see the host's log)", self.path.display())
    }
}

/// A connection to `path` with the settings every pooled connection and the writer have.
fn connect(path: &Path) -> Result<rusqlite::Connection> {
    let connection =
        rusqlite::Connection::open(path).with_context(|| format!("{}: cannot open database", path.display()))?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    // Guests set this on the connections they read with; the writer needs it as much.
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoints (and their fsyncs) belong to the checkpointer, not to whichever request commits.
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    guest::install(&connection);
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::checkpoint::RESTART_AFTER_FRAMES;
    use super::writer::Work;
    use super::*;
    use rusqlite::OptionalExtension;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A pool over `t.db` with `schema`, in a fresh directory of its own (which the test removes).
    fn scratch_pool(name: &str, schema: &str) -> (PathBuf, Arc<SqlitePool>) {
        let dir = std::env::temp_dir().join(format!("conveyor-pool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pool = SqlitePool::open(&dir.join("t.db"), schema).unwrap();
        (dir, pool)
    }

    fn count(pool: &SqlitePool) -> i64 {
        pool.read(|c| c.query_row("SELECT count(*) FROM t", [], |row| row.get(0))).unwrap()
    }

    fn values(pool: &SqlitePool) -> Vec<i64> {
        pool.read(|c| c.prepare("SELECT x FROM t")?.query_map([], |row| row.get(0))?.collect()).unwrap()
    }

    /// The kind of a guest's `sql`, and the host's reason if it refused it.
    fn guest_kind(pool: &SqlitePool, sql: &str) -> (rusqlite::Result<Kind>, Option<Stopped>) {
        let connection = pool.acquire().unwrap();
        let kind = as_guest(None, || pool.kind(&connection, sql));
        pool.release(connection);
        kind
    }

    #[test]
    fn statements_are_told_apart_as_sqlite_classifies_them_not_by_their_text() {
        let (dir, pool) = scratch_pool("kinds", "CREATE TABLE t (x)");
        let writes = ["INSERT INTO t VALUES (1)", "UPDATE t SET x = 2", "DELETE FROM t", "PRAGMA user_version = 3"];
        let reads = ["SELECT x FROM t", "PRAGMA user_version", "COMMIT", "ROLLBACK", "RELEASE a", "SELECT 'BEGIN'"];
        let begins = ["BEGIN", " begin immediate", "/* x */ BEGIN", "-- c\nBEGIN EXCLUSIVE", "/**/SAVEPOINT a"];
        for (expected, statements) in [(Kind::Write, &writes[..]), (Kind::Read, &reads[..]), (Kind::Begin, &begins[..])]
        {
            for sql in statements {
                // Twice: the second time the kind is remembered, not prepared again.
                for _ in 0..2 {
                    assert_eq!(guest_kind(&pool, sql).0.unwrap(), expected, "{sql}");
                }
            }
        }
        assert_eq!(guest_kind(&pool, "END").0.unwrap(), Kind::Read, "END is COMMIT");
        assert!(guest_kind(&pool, "SELECT nonsense FROM nowhere").0.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn guests_may_not_change_connection_state_and_the_host_still_may() {
        let (dir, pool) = scratch_pool("policy", "CREATE TABLE t (x)");
        let refused = [
            "PRAGMA foreign_keys = OFF",
            "PRAGMA query_only(1)",
            "ATTACH ':memory:' AS a",
            "CREATE TEMP TABLE s (x)",
            "CREATE TABLE temp.s (x)",
        ];
        for sql in refused {
            let (kind, stopped) = guest_kind(&pool, sql);
            assert!(kind.is_err(), "{sql}");
            assert!(matches!(&stopped, Some(Stopped::Refused(why)) if why.contains("refused")), "{sql}: {stopped:?}");
        }
        for sql in
            ["PRAGMA foreign_keys = on", "PRAGMA synchronous = 'NORMAL'", "PRAGMA table_info(t)", "PRAGMA cache_size"]
        {
            let (kind, stopped) = guest_kind(&pool, sql);
            assert!(kind.is_ok() && stopped.is_none(), "{sql}: {stopped:?}");
        }
        // Outside a guest's statement the policy does not apply, even after one panicked on this thread: the
        // host sets what it needs.
        let panicked = std::panic::catch_unwind(|| as_guest(None, || panic!("a guest's statement panics")));
        assert!(panicked.is_err());
        pool.read(|c| c.execute_batch("PRAGMA cache_size = -4000; CREATE TEMP TABLE host_scratch (x)")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_guests_statement_is_interrupted_at_its_deadline_and_the_connection_serves_again() {
        let (dir, pool) = scratch_pool("deadline", "CREATE TABLE t (x)");
        let connection = pool.acquire().unwrap();
        let forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        let started = std::time::Instant::now();
        let (result, stopped) =
            as_guest(Some(deadline), || connection.query_row(forever, [], |row| row.get::<_, i64>(0)));
        assert!(result.is_err());
        assert_eq!(stopped, Some(Stopped::Deadline));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        // The connection serves again; the host's own statements have no deadline.
        assert_eq!(connection.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)).unwrap(), 1);
        pool.release(connection);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_commit_and_a_failed_one_leaves_nothing_and_harms_no_other() {
        let (dir, pool) = scratch_pool("group", "CREATE TABLE t (x INTEGER PRIMARY KEY)");
        let writes: Vec<_> = (0..400)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.write(move |c| {
                        c.execute("INSERT INTO t VALUES (?1)", [i])?;
                        // Every tenth write fails after its insert, which must then not stay.
                        if i % 10 == 0 { c.execute("INSERT INTO t VALUES (?1)", [i]).map(drop) } else { Ok(()) }
                    })
                    .await
                })
            })
            .collect();
        let mut failed = 0;
        for (i, write) in writes.into_iter().enumerate() {
            match write.await.unwrap() {
                Ok(()) => assert_ne!(i % 10, 0, "write {i} should have failed"),
                Err(error) => {
                    assert_eq!(i % 10, 0, "write {i} failed: {error}");
                    assert!(error.to_string().contains("UNIQUE"), "{error}");
                    failed += 1;
                }
            }
        }
        assert_eq!(failed, 40);
        assert_eq!(count(&pool), 360, "every successful write committed, no failed one left a row");
        let failed_rows: i64 =
            pool.read(|c| c.query_row("SELECT count(*) FROM t WHERE x % 10 = 0", [], |row| row.get(0))).unwrap();
        assert_eq!(failed_rows, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_panics_fails_alone_and_the_writer_goes_on() {
        let (dir, pool) = scratch_pool("panic", "CREATE TABLE t (x)");
        let failed = pool
            .write::<()>(|c| {
                c.execute("INSERT INTO t VALUES (1)", [])?;
                panic!("a write panics on purpose")
            })
            .await;
        assert!(failed.is_err());
        pool.write(|c| c.execute("INSERT INTO t VALUES (2)", [])).await.unwrap();
        assert_eq!(values(&pool), [2], "the panicking write left nothing behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_has_the_writer_to_itself_until_it_commits() {
        let (dir, pool) = scratch_pool("transaction", "CREATE TABLE t (x)");
        let mut transaction = pool.transaction().unwrap();
        let (_, open) = transaction.run(|c| c.execute_batch("BEGIN")).await.unwrap();
        assert!(open);
        transaction.run(|c| c.execute("INSERT INTO t VALUES (1)", [])).await.unwrap().0.unwrap();
        let other_done = Arc::new(AtomicBool::new(false));
        let other = {
            let (pool, done) = (pool.clone(), other_done.clone());
            tokio::spawn(async move {
                pool.write(|c| c.execute("INSERT INTO t VALUES (2)", [])).await.unwrap();
                done.store(true, Ordering::SeqCst);
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!other_done.load(Ordering::SeqCst), "another write waits for the transaction");
        assert_eq!(count(&pool), 0, "readers do not see the open transaction");
        let (_, open) = transaction.run(|c| c.execute_batch("COMMIT")).await.unwrap();
        assert!(!open);
        other.await.unwrap();
        assert_eq!(count(&pool), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_transaction_is_rolled_back_and_frees_the_writer() {
        let (dir, pool) = scratch_pool("dropped", "CREATE TABLE t (x)");
        let mut transaction = pool.transaction().unwrap();
        transaction.run(|c| c.execute_batch("BEGIN; INSERT INTO t VALUES (1)")).await.unwrap().0.unwrap();
        drop(transaction);
        pool.write(|c| c.execute("INSERT INTO t VALUES (2)", [])).await.unwrap();
        assert_eq!(values(&pool), [2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Counts the commits of the pool's writer from now on.
    fn count_commits(pool: &SqlitePool) -> Arc<std::sync::atomic::AtomicUsize> {
        let commits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (counting, started) = std::sync::mpsc::channel();
        let counter = commits.clone();
        let install: Work = Box::new(move |writer| {
            writer.commit_hook(Some(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                false
            }));
            counting.send(()).unwrap();
        });
        pool.send(Job::Alone(install)).unwrap();
        started.recv().unwrap();
        commits
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_together_share_one_commit() {
        let (dir, pool) = scratch_pool("shared-commit", "CREATE TABLE t (x)");
        let commits = count_commits(&pool);
        let insert = |pool: &Arc<SqlitePool>| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.write(|c| c.execute("INSERT INTO t VALUES (1)", [])).await })
        };
        for _ in 0..5 {
            insert(&pool).await.unwrap().unwrap();
        }
        assert_eq!(commits.load(Ordering::SeqCst), 5, "one write at a time: a commit each");

        let mut transaction = pool.transaction().unwrap();
        transaction.run(|c| c.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2)")).await.unwrap().0.unwrap();
        let queued: Vec<_> = (0..20).map(|_| insert(&pool)).collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        transaction.run(|c| c.execute_batch("COMMIT")).await.unwrap().0.unwrap();
        for write in queued {
            write.await.unwrap().unwrap();
        }
        assert_eq!(count(&pool), 26);
        assert_eq!(commits.load(Ordering::SeqCst), 7, "the transaction, then the 20 writes queued behind it at once");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn under_steady_writes_and_reads_the_wal_stays_short() {
        let (dir, pool) = scratch_pool("checkpoint", "CREATE TABLE t (x BLOB)");
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
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for _ in 0..commits {
            runtime.block_on(pool.write(|c| c.execute("INSERT INTO t VALUES (zeroblob(3000))", []))).unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        readers.into_iter().for_each(|reader| reader.join().unwrap());
        let wal_frames = std::fs::metadata(dir.join("t.db-wal")).unwrap().len() as i64 / (4096 + 24);
        assert!(wal_frames < commits, "{commits} commits left a WAL of {wal_frames} frames");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
