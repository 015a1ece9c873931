//! Log services (SPEC §5): append with retention (the newest 100,000 rows per project) and the `/logs`
//! collection.

use crate::db::{Db, DbError};
use crate::domain::worker::{LOG_RETENTION, LogInput, LogRecord};
use crate::error::ApiError;
use crate::query::Page;
use crate::store::logs as store;

pub use crate::store::logs::RESOURCE;

/// Appends a worker's (or, with `None`, an anonymous system) log entry; `timestamp` defaults to `now`.
pub fn append(db: &dyn Db, worker: Option<i64>, entry: &LogInput, now: i64) -> Result<LogRecord, ApiError> {
    entry.validate()?;
    store::append(db, worker, entry, now, LOG_RETENTION).map_err(|error| match error {
        DbError::ForeignKey(_) => ApiError::invalid_field("project", "no such project"),
        other => other.into(),
    })
}

/// Turns the `data` column of a `/logs` page back into JSON.
pub fn decode_page(page: &mut Page) {
    crate::workers::decode_json_fields(page, &["data"]);
}
