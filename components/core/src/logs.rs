//! Log services (SPEC §5): append with retention (the newest 100,000 rows per project, of which one worker
//! holds at most 10,000) and the `/logs` collection.

use crate::db::{Db, DbError};
use crate::domain::worker::{LOG_RETENTION, LogInput, LogRecord};
use crate::error::ApiError;
use crate::query::Page;
use crate::store::logs::{self as store, Retention};

pub use crate::store::logs::RESOURCE;

/// What a project's log keeps: its newest [`LOG_RETENTION`] rows, and of those at most a tenth from any one
/// worker, so a worker that floods a project's log only evicts its own older entries (other writers' entries
/// are evicted only once ten workers' worth of them have been written after them).
pub const RETENTION: Retention = Retention { per_project: LOG_RETENTION, per_worker: LOG_RETENTION / 10 };

/// Appends a worker's (or, with `None`, an anonymous system) log entry; `timestamp` defaults to `now`.
pub fn append(db: &dyn Db, worker: Option<i64>, entry: &LogInput, now: i64) -> Result<LogRecord, ApiError> {
    append_within(db, worker, entry, now, RETENTION)
}

/// [`append`] with another retention (tests use small ones).
pub fn append_within(
    db: &dyn Db,
    worker: Option<i64>,
    entry: &LogInput,
    now: i64,
    retention: Retention,
) -> Result<LogRecord, ApiError> {
    entry.validate()?;
    store::append(db, worker, entry, now, retention).map_err(|error| match error {
        DbError::ForeignKey(_) => ApiError::invalid_field("project", "no such project"),
        other => other.into(),
    })
}

/// Turns the `data` column of a `/logs` page back into JSON.
pub fn decode_page(page: &mut Page) {
    crate::workers::decode_json_fields(page, &["data"]);
}
