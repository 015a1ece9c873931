//! Failure throttling in the key-value store (login and password checks): a fixed window per key counting
//! failures; once `max_failures` is reached, the key is refused with 429 until the window ends. Entries are
//! small JSON (`{"failures":3,"since":1700000000}`). The store is loss-tolerant state: a lost or raced
//! update lets through at most a few extra attempts, never locks anyone out for longer.

use crate::error::ApiError;
use crate::platform::Kv;
use serde::{Deserialize, Serialize};

/// How many failures a key may have within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_failures: u32,
    /// Window length in seconds, counted from the first failure.
    pub window: i64,
}

/// Failed logins per account: 5 per 15 minutes.
pub const PER_ACCOUNT: Limit = Limit { max_failures: 5, window: 15 * 60 };
/// Failed logins per client address: 20 per 15 minutes.
pub const PER_ADDRESS: Limit = Limit { max_failures: 20, window: 15 * 60 };

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    failures: u32,
    since: i64,
}

/// The entry under `key` if it is still inside its window.
fn current(kv: &dyn Kv, key: &str, limit: Limit, now: i64) -> Result<Option<Entry>, ApiError> {
    let entry = kv.get(key)?.and_then(|bytes| serde_json::from_slice::<Entry>(&bytes).ok());
    Ok(entry.filter(|entry| now < entry.since + limit.window))
}

/// 429 (with the seconds until the window ends) when `key` has used up its failures.
pub fn check(kv: &dyn Kv, key: &str, limit: Limit, now: i64) -> Result<(), ApiError> {
    match current(kv, key, limit, now)? {
        Some(entry) if entry.failures >= limit.max_failures => {
            Err(ApiError::TooManyRequests { retry_after: (entry.since + limit.window - now).max(1) as f64 })
        }
        _ => Ok(()),
    }
}

/// Counts one failure against `key`.
pub fn record_failure(kv: &dyn Kv, key: &str, limit: Limit, now: i64) -> Result<(), ApiError> {
    let entry = match current(kv, key, limit, now)? {
        Some(entry) => Entry { failures: entry.failures.saturating_add(1), ..entry },
        None => Entry { failures: 1, since: now },
    };
    let bytes = serde_json::to_vec(&entry).map_err(ApiError::internal)?;
    kv.set(key, &bytes)
}

/// Forgets the failures of `key` (after a success).
pub fn clear(kv: &dyn Kv, key: &str) -> Result<(), ApiError> {
    kv.delete(key)
}

/// The host part of Spin's `spin-client-addr` (`ip:port`, `[v6]:port`), for per-address keys.
pub fn client_host(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|c| c.is_ascii_digit()) => host,
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::MemoryKv;

    const LIMIT: Limit = Limit { max_failures: 3, window: 100 };

    #[test]
    fn failures_lock_a_key_until_the_window_ends() {
        let kv = MemoryKv::default();
        for t in [0, 10, 20] {
            check(&kv, "k", LIMIT, t).unwrap();
            record_failure(&kv, "k", LIMIT, t).unwrap();
        }
        assert_eq!(check(&kv, "k", LIMIT, 30), Err(ApiError::TooManyRequests { retry_after: 70.0 }));
        check(&kv, "other", LIMIT, 30).unwrap();
        assert_eq!(check(&kv, "k", LIMIT, 99), Err(ApiError::TooManyRequests { retry_after: 1.0 }));
        check(&kv, "k", LIMIT, 100).unwrap();
        record_failure(&kv, "k", LIMIT, 100).unwrap();
        check(&kv, "k", LIMIT, 101).unwrap();
        assert_eq!(kv.get("k").unwrap().unwrap(), br#"{"failures":1,"since":100}"#, "a new window started");
    }

    #[test]
    fn clearing_and_garbage_reset_a_key() {
        let kv = MemoryKv::default();
        for _ in 0..3 {
            record_failure(&kv, "k", LIMIT, 0).unwrap();
        }
        assert!(check(&kv, "k", LIMIT, 1).is_err());
        clear(&kv, "k").unwrap();
        check(&kv, "k", LIMIT, 1).unwrap();
        kv.set("k", b"not json").unwrap();
        check(&kv, "k", LIMIT, 1).unwrap();
        record_failure(&kv, "k", LIMIT, 1).unwrap();
        assert_eq!(kv.get("k").unwrap().unwrap(), br#"{"failures":1,"since":1}"#);
    }

    #[test]
    fn client_hosts_drop_the_port() {
        assert_eq!(client_host("127.0.0.1:5000"), "127.0.0.1");
        assert_eq!(client_host("[::1]:5000"), "::1");
        assert_eq!(client_host("::1"), "::1");
        assert_eq!(client_host("10.0.0.1"), "10.0.0.1");
    }
}
