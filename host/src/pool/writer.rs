//! The writer thread of a pool: the one connection that writes, grouping queued writes into shared
//! commits and giving a guest's transaction the connection to itself.

use anyhow::{Result, anyhow};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Most writes committed together.
const MAX_GROUP: usize = 64;
/// How long a transaction may wait for its next statement before it is rolled back, so that a guest
/// that stalls inside a transaction does not stop every other writer for longer.
const TRANSACTION_IDLE: Duration = Duration::from_secs(5);

/// Work for the writer connection.
pub(super) type Work = Box<dyn FnOnce(&rusqlite::Connection) + Send>;

/// What the writer thread is asked to do.
pub(super) enum Job {
    /// One write, committed with the other grouped writes queued with it.
    Grouped(Box<dyn GroupedWrite>),
    /// Work that has the writer connection to itself, outside any group: a checkpoint restart.
    Alone(Work),
    /// A guest's transaction: the writer thread hands the connection over and waits until it ends.
    Turn(Turn),
}

/// The writer connection. Only the writer thread uses it, except while it has handed it to a
/// transaction (then only that transaction does, inline on the guest's thread).
pub(super) type Writer = Arc<Mutex<rusqlite::Connection>>;

/// The writer connection, also after a job panicked holding it (the writer then rolls back).
pub(super) fn lock(writer: &Mutex<rusqlite::Connection>) -> MutexGuard<'_, rusqlite::Connection> {
    writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The writer thread's side of a transaction.
pub(super) struct Turn {
    granted: tokio::sync::oneshot::Sender<()>,
    beats: Receiver<()>,
    over: Arc<AtomicBool>,
}

/// A write waiting in a group: it runs inside the group's transaction, and learns afterwards whether
/// the group committed.
pub(super) trait GroupedWrite: Send {
    /// Runs the write; why if it failed (its changes are then rolled back, and the group goes on).
    fn run(&mut self, connection: &rusqlite::Connection) -> Result<(), String>;
    /// Answers the caller once the group's fate is known.
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

/// A caller's write and where its answer goes.
pub(super) struct Pending<T, F> {
    pub(super) work: Option<F>,
    pub(super) result: Option<rusqlite::Result<T>>,
    pub(super) answer: tokio::sync::oneshot::Sender<Result<T>>,
}

impl<T, F> GroupedWrite for Pending<T, F>
where
    T: Send,
    F: FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, connection: &rusqlite::Connection) -> Result<(), String> {
        let result = self.work.take().map(|work| work(connection));
        let failed = match &result {
            Some(Ok(_)) => Ok(()),
            Some(Err(error)) => Err(error.to_string()),
            None => Err("the write never ran".to_string()),
        };
        self.result = result;
        failed
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let result = match (committed, self.result) {
            (Ok(()), Some(result)) => result.map_err(anyhow::Error::from),
            (Ok(()), None) => Err(anyhow!("the write never ran")),
            (Err(why), _) => Err(anyhow!("{why}")),
        };
        let _ = self.answer.send(result);
    }
}

/// A transaction a guest holds open across calls. Once the writer thread has reached it in its queue,
/// the transaction has the writer connection to itself and runs its statements inline, on the guest's own
/// thread: no thread hand-off per statement (a batch release makes a hundred). The writer thread waits
/// meanwhile, and takes the connection back when the transaction ends, is dropped or sits idle.
pub struct Transaction {
    writer: Writer,
    granted: Option<tokio::sync::oneshot::Receiver<()>>,
    /// One beat per statement (the idle clock); dropping it gives the writer back.
    beats: Option<Sender<()>>,
    over: Arc<AtomicBool>,
}

impl Transaction {
    /// Queues a transaction for the writer connection.
    pub(super) fn new(writer: Writer) -> (Transaction, Turn) {
        let (granted, granted_rx) = tokio::sync::oneshot::channel();
        let (beats, beats_rx) = std::sync::mpsc::channel();
        let over = Arc::new(AtomicBool::new(false));
        let turn = Turn { granted, beats: beats_rx, over: over.clone() };
        (Transaction { writer, granted: Some(granted_rx), beats: Some(beats), over }, turn)
    }

    /// Runs `work` inside the transaction; answers its result and whether the transaction is still open.
    pub async fn run<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&rusqlite::Connection) -> T + Send + 'static,
    ) -> Result<(T, bool)> {
        let over =
            || anyhow!("the transaction is over: rolled back after sitting idle, or its statement failed the writer");
        if let Some(granted) = self.granted.take() {
            granted.await.map_err(|_| over())?;
        }
        let beats = self.beats.as_ref().ok_or_else(over)?;
        let connection = lock(&self.writer);
        if self.over.load(Ordering::SeqCst) {
            return Err(over());
        }
        let result = work(&connection);
        let open = !connection.is_autocommit();
        drop(connection);
        if open {
            let _ = beats.send(());
        } else {
            // Back in autocommit: the writer thread may go on.
            self.beats = None;
        }
        Ok((result, open))
    }
}

/// The writer thread's half of a transaction: hands the connection over, waits for the transaction to end
/// (or to sit idle for [`TRANSACTION_IDLE`]), then takes it back, rolling back what was left open.
fn serve_turn(writer: &Mutex<rusqlite::Connection>, turn: Turn) {
    if turn.granted.send(()).is_ok() {
        // One beat per statement; ends when the transaction ends or is dropped, or after an idle timeout.
        while turn.beats.recv_timeout(TRANSACTION_IDLE).is_ok() {}
    }
    let connection = lock(writer);
    turn.over.store(true, Ordering::SeqCst);
    if !connection.is_autocommit() {
        let _ = connection.execute_batch("ROLLBACK");
    }
}

/// The writer thread: runs jobs in arrival order, grouping consecutive writes, until the pool is gone.
pub(super) fn serve_writes(writer: &Mutex<rusqlite::Connection>, jobs: &Receiver<Job>) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match job {
            Job::Alone(work) => {
                work(&lock(writer));
                None
            }
            Job::Turn(turn) => {
                serve_turn(writer, turn);
                None
            }
            Job::Grouped(first) => commit_group(&lock(writer), first, jobs),
        }));
        // A panicking job (printed by the panic hook) fails its callers, not the writer: undo what it left
        // open and go on serving.
        next = served.unwrap_or_else(|_| {
            let connection = lock(writer);
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            None
        });
    }
}

/// Runs `first` and the grouped writes queued behind it (at most [`MAX_GROUP`]) in one transaction, each
/// inside a savepoint, commits, and answers them all. Answers the job of another kind it met, if any.
fn commit_group(connection: &rusqlite::Connection, first: Box<dyn GroupedWrite>, jobs: &Receiver<Job>) -> Option<Job> {
    let mut group = vec![first];
    let mut next = None;
    while group.len() < MAX_GROUP {
        match jobs.try_recv() {
            Ok(Job::Grouped(write)) => group.push(write),
            Ok(other) => {
                next = Some(other);
                break;
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    let committed = run_group(connection, &mut group);
    if committed.is_err() && !connection.is_autocommit() {
        let _ = connection.execute_batch("ROLLBACK");
    }
    for write in group {
        write.answer(committed.clone());
    }
    next
}

fn run_group(connection: &rusqlite::Connection, group: &mut [Box<dyn GroupedWrite>]) -> Result<(), String> {
    let statement = |sql: &str| connection.prepare_cached(sql).and_then(|mut s| s.execute([])).map(drop);
    statement("BEGIN IMMEDIATE").map_err(|e| format!("cannot write: {e}"))?;
    for write in group.iter_mut() {
        statement("SAVEPOINT grouped_write").map_err(|e| format!("cannot write: {e}"))?;
        let failed = write.run(connection).err();
        if failed.is_some() && !connection.is_autocommit() {
            statement("ROLLBACK TO grouped_write").map_err(|e| format!("cannot write: {e}"))?;
        }
        // Some errors (a full disk, `OR ROLLBACK`) roll back the whole transaction: then the group is lost,
        // and every write of it is told why (a full disk is a 503 to each guest, not an unexplained error).
        if connection.is_autocommit() {
            let why = failed.map_or_else(String::new, |why| format!(": {why}"));
            return Err(format!("the write was rolled back with the writes committed alongside it{why}"));
        }
        statement("RELEASE grouped_write").map_err(|e| format!("cannot write: {e}"))?;
    }
    statement("COMMIT").map_err(|e| format!("cannot commit: {e}"))
}
