//! HTTP request metrics: the host counts each request that came over HTTP (not its own ticks) by component,
//! method and status class, with its latency (arrival to response head) in fixed buckets, in memory; a
//! flusher (`flush`) adds the counts to a table of its own in the `default` database every second and at
//! shutdown, so that they survive restarts and the hosts sharing a database add up. The `metrics` component
//! reads that table (`conveyor_core::store::metrics`); Spin has no such hook, so there these series are absent.

pub mod flush;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Latency buckets' upper bounds in seconds, as the table and the exposition write them; `+Inf` follows.
pub const BOUNDS: [(f64, &str); 13] = [
    (0.001, "0.001"),
    (0.0025, "0.0025"),
    (0.005, "0.005"),
    (0.01, "0.01"),
    (0.025, "0.025"),
    (0.05, "0.05"),
    (0.1, "0.1"),
    (0.25, "0.25"),
    (0.5, "0.5"),
    (1.0, "1"),
    (2.5, "2.5"),
    (5.0, "5"),
    (10.0, "10"),
];
/// The bucket above every bound.
pub const INF: &str = "+Inf";
const BUCKETS: usize = BOUNDS.len() + 1;

/// The methods counted by name; any other is `other` (so a client cannot make series without end).
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const OTHER: &str = "other";
/// The component label of a request no route matched.
pub const NO_COMPONENT: &str = "none";

/// One series: component (index into the names; `None` = no route), method, status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    component: Option<usize>,
    method: &'static str,
    class: &'static str,
}

/// One series' requests and their summed latency (µs), per bucket (not cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: [u64; BUCKETS],
    pub micros: [u64; BUCKETS],
}

/// A row of the table: the labels, a bucket's bound, its requests and microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub component: String,
    pub method: &'static str,
    pub class: &'static str,
    pub le: &'static str,
    pub requests: u64,
    pub micros: u64,
}

/// Counts not yet flushed.
pub struct RequestMetrics {
    components: Vec<String>,
    pending: Mutex<HashMap<Key, Counts>>,
}

impl RequestMetrics {
    /// Counts for the components with these ids (a request names its component by index).
    pub fn new(components: Vec<String>) -> RequestMetrics {
        RequestMetrics { components, pending: Mutex::new(HashMap::new()) }
    }

    /// Counts one request.
    pub fn record(&self, component: Option<usize>, method: &http::Method, status: u16, elapsed: Duration) {
        let key = Key { component, method: method_label(method), class: status_class(status) };
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BOUNDS.iter().position(|(bound, _)| elapsed.as_secs_f64() <= *bound).unwrap_or(BOUNDS.len());
        if let Ok(mut pending) = self.pending.lock() {
            let counts = pending.entry(key).or_default();
            counts.requests[bucket] += 1;
            counts.micros[bucket] = counts.micros[bucket].saturating_add(micros);
        }
    }

    /// Takes the counts so far, leaving none.
    pub fn take(&self) -> HashMap<Key, Counts> {
        self.pending.lock().map(|mut pending| std::mem::take(&mut *pending)).unwrap_or_default()
    }

    /// Gives back counts that could not be flushed, to go with the next flush.
    pub fn restore(&self, taken: HashMap<Key, Counts>) {
        if let Ok(mut pending) = self.pending.lock() {
            for (key, counts) in taken {
                let into = pending.entry(key).or_default();
                for bucket in 0..BUCKETS {
                    into.requests[bucket] += counts.requests[bucket];
                    into.micros[bucket] = into.micros[bucket].saturating_add(counts.micros[bucket]);
                }
            }
        }
    }

    /// The table's rows of one series: its non-empty buckets.
    pub fn rows(&self, key: &Key, counts: &Counts) -> Vec<Row> {
        let component = key.component.and_then(|index| self.components.get(index)).map_or(NO_COMPONENT, String::as_str);
        let bounds = BOUNDS.iter().map(|(_, le)| *le).chain([INF]);
        bounds
            .enumerate()
            .filter(|(bucket, _)| counts.requests[*bucket] > 0)
            .map(|(bucket, le)| Row {
                component: component.to_string(),
                method: key.method,
                class: key.class,
                le,
                requests: counts.requests[bucket],
                micros: counts.micros[bucket],
            })
            .collect()
    }
}

fn method_label(method: &http::Method) -> &'static str {
    METHODS.iter().find(|name| method.as_str() == **name).copied().unwrap_or(OTHER)
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => OTHER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn requests_are_counted_by_labels_and_bucket_and_taken_once() {
        let metrics = RequestMetrics::new(vec!["tasks".into(), "meta".into()]);
        metrics.record(Some(0), &http::Method::POST, 201, ms(3));
        metrics.record(Some(0), &http::Method::POST, 200, ms(4));
        metrics.record(Some(0), &http::Method::POST, 409, ms(20_000));
        metrics.record(None, &http::Method::from_bytes(b"BREW").unwrap(), 404, Duration::from_micros(1000));
        let taken = metrics.take();
        assert!(metrics.take().is_empty(), "taken once");
        let mut rows: Vec<Row> = taken.iter().flat_map(|(key, counts)| metrics.rows(key, counts)).collect();
        rows.sort_by(|a, b| (&a.component, a.class, a.le).cmp(&(&b.component, b.class, b.le)));
        let row = |component: &str, method, class, le, requests, micros| Row {
            component: component.into(),
            method,
            class,
            le,
            requests,
            micros,
        };
        assert_eq!(
            rows,
            [
                row("none", "other", "4xx", "0.001", 1, 1000),
                row("tasks", "POST", "2xx", "0.005", 2, 7000),
                row("tasks", "POST", "4xx", "+Inf", 1, 20_000_000),
            ]
        );
    }

    #[test]
    fn restored_counts_add_to_newer_ones() {
        let metrics = RequestMetrics::new(vec!["tasks".into()]);
        metrics.record(Some(0), &http::Method::GET, 200, ms(1));
        let taken = metrics.take();
        metrics.record(Some(0), &http::Method::GET, 200, ms(1));
        metrics.restore(taken);
        let again = metrics.take();
        let counts = again.values().next().unwrap();
        assert_eq!((again.len(), counts.requests[0]), (1, 2));
        assert_eq!(counts.micros[0], 2000);
    }

    #[test]
    fn bounds_ascend_and_read_as_their_labels() {
        for pair in BOUNDS.windows(2) {
            assert!(pair[0].0 < pair[1].0);
        }
        for (bound, label) in BOUNDS {
            assert_eq!(label.parse::<f64>().unwrap(), bound);
        }
    }
}
