//! `logs`: worker log entries with per-project retention. Each row carries `seq`, its number within its
//! project (NULL project = one bucket of its own); appending and trimming to the newest `keep` rows are one
//! transaction of two indexed statements, so retention is exact and costs O(log n) per entry.

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

/// Appends an entry (timestamp defaults to `now`) and trims its project to the newest `keep` rows.
/// A `project` that does not exist is [`DbError::ForeignKey`].
pub fn append(db: &dyn Db, worker: Option<i64>, entry: &LogInput, now: i64, keep: i64) -> Result<LogRecord, DbError> {
    db::transaction(db, || {
        let rows = db.execute(
                &format!(
                    "INSERT INTO logs (level, scope, message, data, worker, project, seq, timestamp) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, COALESCE((SELECT MAX(seq) FROM logs WHERE project IS ?6), 0) + 1, ?7 \
                     RETURNING {COLUMNS}, seq"
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
        let seq = row.int("seq")?;
        let record = from_row(&row)?;
        if seq > keep {
            db.execute(
                "DELETE FROM logs WHERE project IS ? AND seq <= ?",
                &[entry.project.into(), (seq - keep).into()],
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
