//! The checkpointer of a pool: keeps the WAL short from a thread of its own.

use super::writer::{Job, Work};
use super::{BUSY_TIMEOUT, SqlitePool};
use anyhow::Result;
use std::sync::Weak;
use std::time::Duration;

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL frames (pages) after which the checkpointer starts the WAL over (about 16 MiB).
pub(super) const RESTART_AFTER_FRAMES: i64 = 4096;
/// How long the restart may wait for readers (while writers wait for it) before it tries again later.
const RESTART_PATIENCE: Duration = Duration::from_millis(20);

/// Keeps the WAL short on a thread of its own, until the pool is gone. A WAL only starts over from its
/// beginning when a writer finds every frame copied back and no reader inside it; under steady writes a
/// background copy never gets there, and the WAL (and every page lookup in it) grows without end. So:
/// copy what is there with PASSIVE, which blocks nobody (this is where the bulk of the copying and the
/// fsyncs happen); then, once the WAL holds [`RESTART_AFTER_FRAMES`], have the writer (so no write runs
/// meanwhile) finish with RESTART, which copies the few frames written meanwhile, waits out the readers
/// still inside the WAL (at most [`RESTART_PATIENCE`]; otherwise the next round tries again) and makes the
/// next write start the WAL over. (Measured: without this, 7 s of the bench's cycle left a 314 MB WAL.)
pub(super) fn spawn_checkpointer(pool: Weak<SqlitePool>, connection: rusqlite::Connection) -> Result<()> {
    std::thread::Builder::new().name("sqlite-checkpointer".into()).spawn(move || {
        loop {
            std::thread::sleep(CHECKPOINT_EVERY);
            let Some(pool) = pool.upgrade() else { return };
            let restart = match checkpoint(&connection, "PASSIVE") {
                Ok(frames) => frames >= RESTART_AFTER_FRAMES,
                Err(error) => {
                    eprintln!("conveyor: {}: checkpoint failed: {error}", pool.path.display());
                    false
                }
            };
            if restart {
                let (done, finished) = std::sync::mpsc::channel();
                let path = pool.path.clone();
                let restart: Work = Box::new(move |writer| {
                    let restarted = writer
                        .busy_timeout(RESTART_PATIENCE)
                        .and_then(|()| checkpoint(writer, "RESTART"))
                        .and_then(|_| writer.busy_timeout(BUSY_TIMEOUT));
                    if let Err(error) = restarted {
                        let _ = writer.busy_timeout(BUSY_TIMEOUT);
                        eprintln!("conveyor: {}: checkpoint failed: {error}", path.display());
                    }
                    let _ = done.send(());
                });
                if pool.send(Job::Alone(restart)).is_ok() {
                    drop(pool);
                    let _ = finished.recv();
                }
            }
        }
    })?;
    Ok(())
}

/// Runs `PRAGMA wal_checkpoint(mode)`; answers the frames the WAL holds.
fn checkpoint(connection: &rusqlite::Connection, mode: &str) -> rusqlite::Result<i64> {
    connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| row.get(1))
}
