//! `logs`: worker log entries with per-project retention and a per-worker quota. Each row carries `seq`, its
//! number within its project (NULL project = one bucket of its own), and `wseq`, its number among its
//! worker's rows in that project; appending and trimming (the worker to its newest rows, then the project)
//! are one transaction of indexed statements, so retention is exact and costs O(log n) per entry.

use crate::db::{self, Db, DbError, Row};
use crate::domain::worker::{LogInput, LogLevel, LogRecord};
use crate::query::{Field, Kind, Resource};

const COLUMNS: &str = "id, level, scope, message, data, worker, project, timestamp";

/// The `/logs` collection (`data` renders as JSON text; see `logs::decode_json_fields`).
pub const FIELDS: &[Field] = &[
    Field { name: "id", sql: "l.id", kind: Kind::Int, filter: true },
    Field { name: "level", sql: "l.level", kind: Kind::Text, filter: true },
    Field { name: "scope", sql: "l.scope", kind: Kind::Text, filter: true },
    Field { name: "message", sql: "l.message", kind: Kind::Text, filter: true },
    Field { name: "data", sql: "l.data", kind: Kind::Text, filter: false },
    Field { name: "worker", sql: "l.worker", kind: Kind::Int, filter: true },
    Field { name: "project", sql: "l.project", kind: Kind::Int, filter: true },
    Field { name: "timestamp", sql: "l.timestamp", kind: Kind::Int, filter: true },
];

/// `/logs` for the query language (alias `l`).
pub const RESOURCE: Resource = Resource { from: "logs l", fields: FIELDS };

fn from_row(row: &Row<'_>) -> Result<LogRecord, DbError> {
    let level = row.text("level")?;
    Ok(LogRecord {
        id: row.int("id")?,
        level: LogLevel::parse(&level).ok_or_else(|| DbError::Other(format!("unknown log level `{level}`")))?,
        scope: row.text("scope")?,
        message: row.text("message")?,
        data: row.opt_text("data")?.map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))),
        worker: row.opt_int("worker")?,
        project: row.opt_int("project")?,
        timestamp: row.int("timestamp")?,
    })
}

/// How many rows a project's log keeps, and how many of them one worker may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest rows kept per project (entries without a project: one bucket of this size).
    pub per_project: i64,
    /// The newest rows kept per worker within one project; a worker over it loses its own oldest rows.
    pub per_worker: i64,
}

/// Appends an entry (timestamp defaults to `now`), trims the worker's rows in that project to its newest
/// `retention.per_worker`, then the project to its newest `retention.per_project` rows (counted in
/// `log_counts`, since a worker's trim leaves gaps in `seq`).
/// A `project` that does not exist is [`DbError::ForeignKey`].
pub fn append(
    db: &dyn Db,
    worker: Option<i64>,
    entry: &LogInput,
    now: i64,
    retention: Retention,
) -> Result<LogRecord, DbError> {
    db::transaction(db, || {
        let rows = db.execute(
            &format!(
                "INSERT INTO logs (level, scope, message, data, worker, project, seq, wseq, timestamp) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, COALESCE((SELECT MAX(seq) FROM logs WHERE project IS ?6), 0) + 1, \
                 CASE WHEN ?5 IS NULL THEN NULL ELSE \
                   COALESCE((SELECT MAX(wseq) FROM logs WHERE project IS ?6 AND worker = ?5), 0) + 1 END, ?7 \
                 RETURNING {COLUMNS}, wseq"
            ),
            &[
                entry.level.as_str().into(),
                entry.scope.clone().unwrap_or_default().into(),
                entry.message.as_str().into(),
                entry.data.as_ref().map(|d| d.to_string()).into(),
                worker.into(),
                entry.project.into(),
                entry.timestamp.unwrap_or(now).into(),
            ],
        )?;
        let row = rows.first().ok_or_else(|| DbError::Other("INSERT returned no row".into()))?;
        let wseq = row.opt_int("wseq")?;
        let record = from_row(&row)?;
        if let Some(wseq) = wseq
            && wseq > retention.per_worker
        {
            db.execute(
                "DELETE FROM logs WHERE project IS ? AND worker = ? AND wseq <= ?",
                &[entry.project.into(), worker.into(), (wseq - retention.per_worker).into()],
            )?;
        }
        let held = db.execute("SELECT rows FROM log_counts WHERE bucket = ?", &[entry.project.unwrap_or(0).into()])?;
        let over = held.map_first(|row| row.int("rows"))?.unwrap_or(0) - retention.per_project;
        if over > 0 {
            db.execute(
                "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE project IS ? ORDER BY seq LIMIT ?)",
                &[entry.project.into(), over.into()],
            )?;
        }
        Ok(record)
    })
}

/// How many entries a project (None = entries without a project) holds.
pub fn count(db: &dyn Db, project: Option<i64>) -> Result<i64, DbError> {
    let rows = db.execute("SELECT COUNT(*) AS n FROM logs WHERE project IS ?", &[project.into()])?;
    Ok(rows.map_first(|row| row.int("n"))?.unwrap_or(0))
}
