//! `GET /metrics` (SPEC §8, docs/metrics.md): the queue's gauges and counters, kept in the database by
//! triggers as the work happens (`store::metrics`), and the HTTP request counts a native host flushes there,
//! rendered in Prometheus' text format (`text`). Who may read them: `access`.

pub mod access;
pub mod text;

use crate::db::Db;
use crate::error::ApiError;
use crate::store::metrics::{self as store, HttpRequests, ProjectCounters};
use std::collections::BTreeMap;
use text::{Exposition, HistogramSeries, Kind};

pub use text::CONTENT_TYPE;

/// A worker counts as active this long after it was last seen (authenticated).
pub const ACTIVE_WINDOW: i64 = 300;

/// The exposition at `now`: a few rows per project and per HTTP series, whatever the number of tasks.
pub fn render(db: &dyn Db, now: i64) -> Result<String, ApiError> {
    let projects = store::projects(db)?;
    let (workers, active) = store::workers(db, now - ACTIVE_WINDOW)?;
    let http = store::http_requests(db)?;
    let mut out = Exposition::default();
    write_tasks(&mut out, &projects);
    out.family("conveyor_workers", Kind::Gauge, "Registered workers.");
    out.sample("conveyor_workers", &[], workers);
    out.family(
        "conveyor_workers_active",
        Kind::Gauge,
        "Workers seen (that authenticated) in the last 5 minutes, to within a minute.",
    );
    out.sample("conveyor_workers_active", &[], active);
    if let Some(rows) = http {
        write_http(&mut out, &rows);
    }
    Ok(out.finish())
}

fn write_tasks(out: &mut Exposition, projects: &[ProjectCounters]) {
    out.family("conveyor_tasks", Kind::Gauge, "Tasks by project and status.");
    for project in projects {
        let t = &project.tasks;
        for (status, n) in [
            ("new", t.new),
            ("assigned", t.assigned),
            ("closed", t.closed),
            ("failed", t.failed),
            ("cancelled", t.cancelled),
        ] {
            out.sample("conveyor_tasks", &[("project", &project.name), ("status", status)], n);
        }
    }
    let counter = |out: &mut Exposition, name: &str, help: &str, value: fn(&ProjectCounters) -> i64| {
        out.family(name, Kind::Counter, help);
        for project in projects {
            out.sample(name, &[("project", &project.name)], value(project));
        }
    };
    counter(
        out,
        "conveyor_task_submits_total",
        "Tasks created: submits, bulk items, chained copies, schedules' submits.",
        |p| p.submits,
    );
    counter(out, "conveyor_task_claims_total", "Tasks handed to workers by claims.", |p| p.claims);
    counter(
        out,
        "conveyor_task_lease_expiries_total",
        "Claims that took a task whose previous worker's lease had expired.",
        |p| p.lease_expiries,
    );
    let name = "conveyor_task_releases_total";
    out.family(name, Kind::Counter, "Releases by workers, by result (ok, fail, skip).");
    for project in projects {
        for (result, n) in
            [("ok", project.releases_ok), ("fail", project.releases_fail), ("skip", project.releases_skip)]
        {
            out.sample(name, &[("project", &project.name), ("result", result)], n);
        }
    }
}

/// The labels of one HTTP series: component, method, status class.
type HttpKey<'a> = (&'a str, &'a str, &'a str);

fn write_http(out: &mut Exposition, rows: &[HttpRequests]) {
    let mut series: BTreeMap<HttpKey<'_>, (HistogramSeries, i64)> = BTreeMap::new();
    for row in rows {
        let Some(bound) = parse_bound(&row.le) else { continue };
        let key = (row.component.as_str(), row.method.as_str(), row.status_class.as_str());
        let (histogram, micros) = series.entry(key).or_default();
        histogram.buckets.push((bound, row.requests.max(0) as u64));
        *micros = micros.saturating_add(row.micros);
    }
    let series: BTreeMap<HttpKey<'_>, HistogramSeries> = series
        .into_iter()
        .map(|(key, (histogram, micros))| (key, HistogramSeries { sum: micros as f64 / 1e6, ..histogram }))
        .collect();
    fn labels<'a>(key: &HttpKey<'a>) -> [(&'static str, &'a str); 3] {
        [("component", key.0), ("method", key.1), ("status", key.2)]
    }
    let total = "conveyor_http_requests_total";
    out.family(total, Kind::Counter, "HTTP requests served, by component, method and status class.");
    for (key, histogram) in &series {
        let count: u64 = histogram.buckets.iter().map(|(_, n)| n).sum();
        out.sample(total, &labels(key), count);
    }
    let duration = "conveyor_http_request_duration_seconds";
    out.family(duration, Kind::Histogram, "Time from a request's arrival to its response head.");
    for (key, histogram) in &series {
        out.histogram(duration, &labels(key), histogram);
    }
}

/// A bucket bound as the host writes it: a decimal or `+Inf`.
fn parse_bound(le: &str) -> Option<f64> {
    if le == "+Inf" { Some(f64::INFINITY) } else { le.parse::<f64>().ok().filter(|bound| bound.is_finite()) }
}

#[cfg(test)]
mod tests;
