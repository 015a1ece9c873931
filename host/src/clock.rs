//! The wall clock guests see.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The wall clock guests see: the system clock plus an offset tests can move forward.
#[derive(Clone, Default)]
pub struct Clock(Arc<AtomicI64>);

impl Clock {
    /// Shifts guest time by `seconds` (tests expire leases this way).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Guest time now, in whole Unix seconds.
    pub fn unix_seconds(&self) -> i64 {
        wasmtime_wasi::HostWallClock::now(self).as_secs() as i64
    }
}

impl wasmtime_wasi::HostWallClock for Clock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        let system = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let offset = self.0.load(Ordering::SeqCst);
        if offset >= 0 {
            system + Duration::from_secs(offset as u64)
        } else {
            system.saturating_sub(Duration::from_secs(offset.unsigned_abs()))
        }
    }
}
