//! What `GET /metrics` reads: the per-project gauges and counters that triggers keep on `projects`
//! (`sql/0008_metrics.sql`), the workers seen lately, and the HTTP request counts a native host flushes into
//! its own table. Every read is a few rows per project, never a count over tasks.

use crate::db::{Db, DbError};

/// The table a native Conveyor host creates in the `default` database and adds its request counts to
/// (`host/src/metrics/`): one row per component, method, status class and latency bucket, its requests and
/// their summed duration in microseconds. Spin creates no such table.
pub const HTTP_TABLE: &str = "host_http_requests";

/// A project's task gauges and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectCounters {
    pub name: String,
    /// Tasks by status, in `TaskStatus::ALL`'s order: new, assigned, closed, failed, cancelled.
    pub tasks: TaskGauges,
    pub submits: i64,
    pub claims: i64,
    pub lease_expiries: i64,
    pub releases_ok: i64,
    pub releases_fail: i64,
    pub releases_skip: i64,
}

/// A project's tasks by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskGauges {
    pub new: i64,
    pub assigned: i64,
    pub closed: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// Every project's counters, by id.
pub fn projects(db: &dyn Db) -> Result<Vec<ProjectCounters>, DbError> {
    let rows = db.execute(
        "SELECT name, tasks_new, tasks_assigned, tasks_closed, tasks_failed, tasks_cancelled, counted_submits, \
         counted_claims, counted_lease_expiries, counted_releases_ok, counted_releases_fail, counted_releases_skip \
         FROM projects ORDER BY id",
        &[],
    )?;
    rows.map_all(|row| {
        Ok(ProjectCounters {
            name: row.text("name")?,
            tasks: TaskGauges {
                new: row.int("tasks_new")?,
                assigned: row.int("tasks_assigned")?,
                closed: row.int("tasks_closed")?,
                failed: row.int("tasks_failed")?,
                cancelled: row.int("tasks_cancelled")?,
            },
            submits: row.int("counted_submits")?,
            claims: row.int("counted_claims")?,
            lease_expiries: row.int("counted_lease_expiries")?,
            releases_ok: row.int("counted_releases_ok")?,
            releases_fail: row.int("counted_releases_fail")?,
            releases_skip: row.int("counted_releases_skip")?,
        })
    })
}

/// How many workers are registered, and how many were seen (authenticated) at or after `since`.
pub fn workers(db: &dyn Db, since: i64) -> Result<(i64, i64), DbError> {
    let rows = db.execute(
        "SELECT (SELECT COUNT(*) FROM workers) AS total, \
         (SELECT COUNT(*) FROM workers WHERE last_seen_at >= ?) AS seen",
        &[since.into()],
    )?;
    Ok(rows.map_first(|row| Ok((row.int("total")?, row.int("seen")?)))?.unwrap_or((0, 0)))
}

/// One row of [`HTTP_TABLE`].
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequests {
    pub component: String,
    pub method: String,
    pub status_class: String,
    /// The bucket's upper bound as the host wrote it (`"0.005"`, …, `"+Inf"`): requests that took at most
    /// this long and longer than the next lower bound.
    pub le: String,
    pub requests: i64,
    pub micros: i64,
}

/// The host's request counts; `None` when no host created the table (Spin).
pub fn http_requests(db: &dyn Db) -> Result<Option<Vec<HttpRequests>>, DbError> {
    let exists =
        db.execute("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?", &[HTTP_TABLE.into()])?;
    if exists.rows.is_empty() {
        return Ok(None);
    }
    let rows = db.execute(
        &format!(
            "SELECT component, method, status_class, le, requests, micros FROM {HTTP_TABLE} \
             ORDER BY component, method, status_class"
        ),
        &[],
    )?;
    rows.map_all(|row| {
        Ok(HttpRequests {
            component: row.text("component")?,
            method: row.text("method")?,
            status_class: row.text("status_class")?,
            le: row.text("le")?,
            requests: row.int("requests")?,
            micros: row.int("micros")?,
        })
    })
    .map(Some)
}
