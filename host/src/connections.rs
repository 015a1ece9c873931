//! Client connections: the limits that keep hostile clients (slow or oversized request heads, idle
//! keep-alive connections by the thousand) from starving the others, and the register of open connections
//! that enforces the cap on them.
//!
//! At the cap, a new connection closes the one that has been idle the longest (no request in progress, no
//! response streaming); if every open connection is busy, the new one waits, and connections behind it wait
//! in the listen backlog.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// File descriptors kept for the host's own files (databases, stores, compiled components) when the
/// connection cap is fitted under the process's limit.
const RESERVED_FDS: u64 = 256;

/// How often a new connection waiting for a slot looks again for an idle connection to close.
const RETRY_EVICTION: Duration = Duration::from_millis(50);

/// Limits on client connections (`conveyor up --header-timeout`, `--max-header-bytes`, `--max-headers`,
/// `--max-connections`; docs/limits.md).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Time a client has to send a complete request head, counted from the connection's opening or from the
    /// end of its previous response: a client dribbling its headers, or keeping an idle keep-alive
    /// connection, is disconnected when it runs out.
    pub header_timeout: Duration,
    /// Largest request head (request line and headers) in bytes: 431 beyond.
    pub max_header_bytes: usize,
    /// Most header fields in one request: 431 beyond.
    pub max_headers: usize,
    /// Connections open at once; at the cap, a new one closes the longest-idle connection.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 32 << 10,
            max_headers: 100,
            max_connections: 4096,
        }
    }
}

/// Raises the soft limit on open files to the hard limit (many idle connections must not exhaust it) and
/// returns the soft limit then in force.
#[cfg(unix)]
pub fn raise_open_files_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum.unwrap_or(u64::MAX);
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

#[cfg(not(unix))]
pub fn raise_open_files_limit() -> u64 {
    u64::MAX
}

/// The connection cap that fits under `open_files` descriptors.
pub fn fitted_cap(wanted: usize, open_files: u64) -> usize {
    let room = open_files.saturating_sub(RESERVED_FDS).max(1);
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX)).max(1)
}

/// What the register knows of one open connection.
struct Entry {
    /// Requests in progress on it (a response still streaming included).
    busy: usize,
    /// When it last started or finished a request, or opened.
    since: Instant,
    /// Chosen to be closed.
    closing: bool,
    close: Arc<Notify>,
}

/// The open connections, under a cap.
pub struct Connections {
    slots: Arc<Semaphore>,
    cap: usize,
    open: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
}

impl Connections {
    pub fn new(cap: usize) -> Arc<Connections> {
        Arc::new(Connections {
            slots: Arc::new(Semaphore::new(cap)),
            cap,
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        })
    }

    /// A slot for a newly accepted connection: free, or freed by closing the longest-idle connection, or
    /// (all busy) the first to be freed.
    pub async fn admit(self: &Arc<Self>) -> Connection {
        let slot = loop {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                break slot;
            }
            self.close_longest_idle();
            if let Ok(Ok(slot)) = tokio::time::timeout(RETRY_EVICTION, self.slots.clone().acquire_owned()).await {
                break slot;
            }
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let close = Arc::new(Notify::new());
        let entry = Entry { busy: 0, since: Instant::now(), closing: false, close: close.clone() };
        self.lock().insert(id, entry);
        Connection { register: self.clone(), id, close, _slot: slot }
    }

    /// Asks every connection to close: idle ones at once, busy ones after their request.
    pub fn close_all(&self) {
        for entry in self.lock().values_mut() {
            entry.closing = true;
            entry.close.notify_one();
        }
    }

    /// Waits until every connection has closed, or `timeout`; whether they all did.
    pub async fn closed(&self, timeout: Duration) -> bool {
        let cap = u32::try_from(self.cap).unwrap_or(u32::MAX);
        tokio::time::timeout(timeout, self.slots.acquire_many(cap)).await.is_ok()
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().len()
    }

    fn close_longest_idle(&self) {
        let mut open = self.lock();
        let idle = open.values_mut().filter(|entry| entry.busy == 0 && !entry.closing);
        if let Some(entry) = idle.min_by_key(|entry| entry.since) {
            entry.closing = true;
            entry.close.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One open connection's place in the register, given up when dropped.
pub struct Connection {
    register: Arc<Connections>,
    id: u64,
    close: Arc<Notify>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    /// Resolves when the register wants this connection closed.
    pub async fn close_requested(&self) {
        self.close.notified().await
    }

    /// Whether a request is in progress (its response streaming included).
    pub fn is_busy(&self) -> bool {
        self.register.lock().get(&self.id).is_some_and(|entry| entry.busy > 0)
    }

    /// Marks a request in progress until the returned guard is dropped.
    pub fn request(&self) -> Busy {
        if let Some(entry) = self.register.lock().get_mut(&self.id) {
            entry.busy += 1;
            entry.since = Instant::now();
        }
        Busy { register: self.register.clone(), id: self.id }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.register.lock().remove(&self.id);
    }
}

/// A request in progress on a connection (see [`Connection::request`]).
pub struct Busy {
    register: Arc<Connections>,
    id: u64,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(entry) = self.register.lock().get_mut(&self.id) {
            entry.busy -= 1;
            entry.since = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_is_asked_to_close_and_a_busy_one_never() {
        let register = Connections::new(3);
        let oldest_busy = register.admit().await;
        let _request = oldest_busy.request();
        let older_idle = register.admit().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let newer_idle = register.admit().await;
        assert_eq!(register.open(), 3);

        let admitting = tokio::spawn({
            let register = register.clone();
            async move { register.admit().await }
        });
        // The busy connection is older, but the idle one is chosen.
        tokio::time::timeout(Duration::from_secs(5), older_idle.close_requested()).await.expect("asked to close");
        drop(older_idle);
        let admitted = tokio::time::timeout(Duration::from_secs(5), admitting).await.expect("admitted").unwrap();
        assert_eq!(register.open(), 3);
        assert!(oldest_busy.is_busy());
        drop((admitted, newer_idle));
    }

    #[tokio::test]
    async fn when_every_connection_is_busy_a_new_one_waits_for_a_slot() {
        let register = Connections::new(1);
        let busy = register.admit().await;
        let request = busy.request();
        let admitting = tokio::spawn({
            let register = register.clone();
            async move { register.admit().await }
        });
        tokio::time::sleep(RETRY_EVICTION * 4).await;
        assert!(!admitting.is_finished(), "admitted past the cap while every connection was busy");
        drop(request);
        tokio::time::timeout(Duration::from_secs(5), busy.close_requested()).await.expect("idle now, asked to close");
        drop(busy);
        tokio::time::timeout(Duration::from_secs(5), admitting).await.expect("admitted").unwrap();
    }

    #[test]
    fn the_cap_fits_under_the_open_files_limit() {
        assert_eq!(fitted_cap(4096, 1024), 1024 - RESERVED_FDS as usize);
        assert_eq!(fitted_cap(4096, 1 << 20), 4096);
        assert_eq!(fitted_cap(4096, 10), 1);
    }
}
