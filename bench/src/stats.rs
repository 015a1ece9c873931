//! Latency and outcome recording for one scenario, and its summary.

use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;

/// What every load loop reports into.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    latencies_us: Vec<u64>,
    operations: u64,
    errors: u64,
    server_errors: u64,
    busy_retries: u64,
}

impl Recorder {
    /// One successful operation of `units` (cycles, tasks, requests) that took `elapsed`.
    pub fn ok(&self, elapsed: Duration, units: u64) {
        let mut inner = self.inner.lock().expect("recorder lock");
        inner.latencies_us.push(elapsed.as_micros() as u64);
        inner.operations += units;
    }

    /// A failed operation; `status` ≥ 500 also counts as a server error.
    pub fn error(&self, status: u16) {
        let mut inner = self.inner.lock().expect("recorder lock");
        inner.errors += 1;
        if status >= 500 || status == 0 {
            inner.server_errors += 1;
        }
    }

    /// An operation the native floor retries because SQLite answered `SQLITE_BUSY` (counted apart from
    /// errors: the HTTP scenarios must have none of either).
    pub fn busy(&self) {
        self.inner.lock().expect("recorder lock").busy_retries += 1;
    }

    /// The summary over `seconds` of measurement.
    pub fn summary(&self, name: &str, unit: &str, seconds: f64, rss_mib: f64) -> Summary {
        let mut inner = self.inner.lock().expect("recorder lock");
        inner.latencies_us.sort_unstable();
        let at = |q: f64| {
            let n = inner.latencies_us.len();
            if n == 0 { 0.0 } else { inner.latencies_us[((n as f64 * q) as usize).min(n - 1)] as f64 / 1000.0 }
        };
        Summary {
            scenario: name.to_string(),
            unit: unit.to_string(),
            throughput: inner.operations as f64 / seconds,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: inner.latencies_us.last().map_or(0.0, |v| *v as f64 / 1000.0),
            samples: inner.latencies_us.len() as u64,
            errors: inner.errors,
            server_errors: inner.server_errors,
            busy_retries: inner.busy_retries,
            rss_mib,
        }
    }
}

/// One scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub unit: String,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: u64,
    pub errors: u64,
    pub server_errors: u64,
    /// The native floor's `SQLITE_BUSY` retries (zero for the HTTP scenarios).
    pub busy_retries: u64,
    pub rss_mib: f64,
}

/// Resident memory of this process (host and load generator share it), in MiB.
pub fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_throughput_come_from_the_samples() {
        let recorder = Recorder::default();
        for ms in 1..=100 {
            recorder.ok(Duration::from_millis(ms), 2);
        }
        recorder.error(503);
        recorder.error(429);
        let summary = recorder.summary("s", "ops/s", 10.0, 1.0);
        assert_eq!(summary.throughput, 20.0);
        assert_eq!((summary.p50_ms, summary.p99_ms, summary.max_ms), (51.0, 100.0, 100.0));
        assert_eq!((summary.errors, summary.server_errors), (2, 1));
    }
}
