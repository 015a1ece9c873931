//! `worker_access`: the requests workers make for ASSIGN and SUBMIT on a project, pending or accepted.

use crate::db::{Db, DbError, Row};
use crate::domain::project::{AccessStatus, WorkerAccess};

const ACCESS_SELECT: &str = "SELECT a.project_id, a.worker_id, w.alias, a.assign, a.submit, a.accepted, \
     a.requested_at, a.decided_at FROM worker_access a JOIN workers w ON w.id = a.worker_id";

fn access_from_row(row: &Row<'_>) -> Result<WorkerAccess, DbError> {
    Ok(WorkerAccess {
        project: row.int("project_id")?,
        worker: row.int("worker_id")?,
        alias: row.text("alias")?,
        assign: row.bool("assign")?,
        submit: row.bool("submit")?,
        status: if row.bool("accepted")? { AccessStatus::Accepted } else { AccessStatus::Pending },
        requested_at: row.int("requested_at")?,
        decided_at: row.opt_int("decided_at")?,
    })
}

/// A worker's access row on a project.
pub fn get(db: &dyn Db, project: i64, worker: i64) -> Result<Option<WorkerAccess>, DbError> {
    let rows = db.execute(
        &format!("{ACCESS_SELECT} WHERE a.project_id = ? AND a.worker_id = ?"),
        &[project.into(), worker.into()],
    )?;
    rows.map_first(access_from_row)
}

/// Every access row of a project: pending first, then by worker id.
pub fn list(db: &dyn Db, project: i64) -> Result<Vec<WorkerAccess>, DbError> {
    let rows = db.execute(
        &format!("{ACCESS_SELECT} WHERE a.project_id = ? ORDER BY a.accepted, a.worker_id"),
        &[project.into()],
    )?;
    rows.map_all(access_from_row)
}

/// Records a pending request, or replaces the flags of a pending one; an accepted row is left as it is.
/// Returns the row as it now stands.
pub fn upsert_request(
    db: &dyn Db,
    project: i64,
    worker: i64,
    assign: bool,
    submit: bool,
    now: i64,
) -> Result<WorkerAccess, DbError> {
    db.execute(
        "INSERT INTO worker_access (project_id, worker_id, assign, submit, accepted, requested_at) \
         VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (project_id, worker_id) DO UPDATE SET \
         assign = excluded.assign, submit = excluded.submit, requested_at = excluded.requested_at \
         WHERE worker_access.accepted = 0",
        &[project.into(), worker.into(), assign.into(), submit.into(), now.into()],
    )?;
    get(db, project, worker)?.ok_or_else(|| DbError::Other("access row vanished".into()))
}

/// Accepts a pending request (one guarded statement): `None` when there is no pending request.
pub fn accept(db: &dyn Db, project: i64, worker: i64, now: i64) -> Result<Option<WorkerAccess>, DbError> {
    let rows = db.execute(
        "UPDATE worker_access SET accepted = 1, decided_at = ? WHERE project_id = ? AND worker_id = ? \
         AND accepted = 0 RETURNING worker_id",
        &[now.into(), project.into(), worker.into()],
    )?;
    if rows.rows.is_empty() {
        return Ok(None);
    }
    get(db, project, worker)
}

/// Rejects a request or revokes accepted access (deletes the row); false when there is none.
pub fn reject(db: &dyn Db, project: i64, worker: i64) -> Result<bool, DbError> {
    let rows = db.execute(
        "DELETE FROM worker_access WHERE project_id = ? AND worker_id = ? RETURNING worker_id",
        &[project.into(), worker.into()],
    )?;
    Ok(!rows.rows.is_empty())
}
