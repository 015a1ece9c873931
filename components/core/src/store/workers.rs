//! `workers`: machine identities. The secret hash is a separate read ([`credential`]) so that [`Worker`],
//! which the API renders, cannot carry it.

use crate::db::{Db, DbError, Row};
use crate::domain::roles;
use crate::domain::worker::{Worker, WorkerChanges, WorkerFields, WorkerStat};
use crate::query::{Field, Kind, Resource, Scope};

const COLUMNS: &str = "id, alias, tags, meta, paused, closed_task_count, created_at, updated_at";

/// The `/workers` collection: every [`Worker`] field (`tags`/`meta` render as JSON text; see
/// `workers::decode_json_fields`).
pub const FIELDS: &[Field] = &[
    Field { name: "id", sql: "w.id", kind: Kind::Int, filter: true },
    Field { name: "alias", sql: "w.alias", kind: Kind::Text, filter: true },
    Field { name: "tags", sql: "w.tags", kind: Kind::Text, filter: true },
    Field { name: "meta", sql: "w.meta", kind: Kind::Text, filter: false },
    Field { name: "paused", sql: "w.paused", kind: Kind::Bool, filter: true },
    Field { name: "closed_task_count", sql: "w.closed_task_count", kind: Kind::Int, filter: true },
    Field { name: "created_at", sql: "w.created_at", kind: Kind::Int, filter: true },
    Field { name: "updated_at", sql: "w.updated_at", kind: Kind::Int, filter: true },
];

/// `/workers` for the query language (alias `w`).
pub const RESOURCE: Resource = Resource { from: "workers w", fields: FIELDS };

fn from_row(row: &Row<'_>) -> Result<Worker, DbError> {
    Ok(Worker {
        id: row.int("id")?,
        alias: row.text("alias")?,
        tags: serde_json::from_str(&row.text("tags")?).unwrap_or_default(),
        meta: serde_json::from_str(&row.text("meta")?).unwrap_or_else(|_| serde_json::json!({})),
        paused: row.bool("paused")?,
        closed_task_count: row.int("closed_task_count")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// Registers a worker with the SHA-256 of its secret.
pub fn insert(db: &dyn Db, fields: &WorkerFields, secret_hash: &[u8], now: i64) -> Result<Worker, DbError> {
    let rows = db.execute(
        &format!(
            "INSERT INTO workers (alias, tags, meta, secret_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) \
             RETURNING {COLUMNS}"
        ),
        &[
            fields.alias.as_str().into(),
            fields.tags.as_str().into(),
            fields.meta.as_str().into(),
            crate::db::Value::Blob(secret_hash.to_vec()),
            now.into(),
            now.into(),
        ],
    )?;
    rows.map_first(from_row)?.ok_or_else(|| DbError::Other("INSERT returned no row".into()))
}

/// A worker by id.
pub fn get(db: &dyn Db, id: i64) -> Result<Option<Worker>, DbError> {
    db.execute(&format!("SELECT {COLUMNS} FROM workers WHERE id = ?"), &[id.into()])?.map_first(from_row)
}

/// A worker as authentication reads it: the worker, its secret hash and when it was last seen.
pub struct Credential {
    pub worker: Worker,
    pub secret_hash: Vec<u8>,
    pub last_seen_at: Option<i64>,
}

/// A worker with its secret hash, for authentication only.
pub fn credential(db: &dyn Db, id: i64) -> Result<Option<Credential>, DbError> {
    let rows =
        db.execute(&format!("SELECT {COLUMNS}, secret_hash, last_seen_at FROM workers WHERE id = ?"), &[id.into()])?;
    rows.map_first(|row| {
        Ok(Credential {
            worker: from_row(row)?,
            secret_hash: row.blob("secret_hash")?,
            last_seen_at: row.opt_int("last_seen_at")?,
        })
    })
}

/// Sets `last_seen_at = now` unless it was set less than `granularity` seconds ago (guarded in SQL, so
/// concurrent requests write at most once per interval).
pub fn touch_seen(db: &dyn Db, id: i64, now: i64, granularity: i64) -> Result<(), DbError> {
    db.execute(
        "UPDATE workers SET last_seen_at = ? WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at <= ?)",
        &[now.into(), id.into(), (now - granularity).into()],
    )?;
    Ok(())
}

/// Applies the present fields of a validated patch; `None` when the worker does not exist.
pub fn update(db: &dyn Db, id: i64, changes: &WorkerChanges, now: i64) -> Result<Option<Worker>, DbError> {
    let rows = db.execute(
        &format!(
            "UPDATE workers SET alias = COALESCE(?, alias), tags = COALESCE(?, tags), meta = COALESCE(?, meta), \
             updated_at = ? WHERE id = ? RETURNING {COLUMNS}"
        ),
        &[
            changes.alias.clone().into(),
            changes.tags.clone().into(),
            changes.meta.clone().into(),
            now.into(),
            id.into(),
        ],
    )?;
    rows.map_first(from_row)
}

/// Sets `paused`; `None` when the worker does not exist.
pub fn set_paused(db: &dyn Db, id: i64, paused: bool, now: i64) -> Result<Option<Worker>, DbError> {
    let rows = db.execute(
        &format!("UPDATE workers SET paused = ?, updated_at = ? WHERE id = ? RETURNING {COLUMNS}"),
        &[paused.into(), now.into(), id.into()],
    )?;
    rows.map_first(from_row)
}

/// Replaces the secret hash (the old secret stops working at once); `None` when the worker does not exist.
pub fn set_secret_hash(db: &dyn Db, id: i64, secret_hash: &[u8], now: i64) -> Result<Option<Worker>, DbError> {
    let rows = db.execute(
        &format!("UPDATE workers SET secret_hash = ?, updated_at = ? WHERE id = ? RETURNING {COLUMNS}"),
        &[crate::db::Value::Blob(secret_hash.to_vec()), now.into(), id.into()],
    )?;
    rows.map_first(from_row)
}

/// Workers a user may see (SQL over the alias `w`): those with an access row, pending or accepted, on a
/// project where the user holds READ through their own grant or an active group's. Public projects count only
/// through such a grant: reading a public project does not make its workers visible.
pub fn member_scope(user: i64) -> Scope {
    Scope {
        sql: format!(
            "w.id IN (SELECT a.worker_id FROM worker_access a WHERE \
               EXISTS (SELECT 1 FROM project_user_grants g WHERE g.project_id = a.project_id AND g.user_id = ? \
                       AND (g.role & {read}) <> 0) \
               OR EXISTS (SELECT 1 FROM project_group_grants g JOIN group_members m ON m.group_id = g.group_id \
                          JOIN user_groups ug ON ug.id = g.group_id \
                          WHERE g.project_id = a.project_id AND m.user_id = ? AND ug.active = 1 \
                          AND (g.role & {read}) <> 0))",
            read = roles::READ
        ),
        params: vec![user.into(), user.into()],
    }
}

/// The worker itself (SQL over the alias `w`).
pub fn own_scope(worker: i64) -> Scope {
    Scope { sql: "w.id = ?".into(), params: vec![worker.into()] }
}

/// `scope` as a condition (empty = every row).
fn condition(scope: &Scope) -> String {
    if scope.sql.trim().is_empty() { "1".to_string() } else { format!("({})", scope.sql) }
}

/// Whether the worker with this id exists within `scope`.
pub fn in_scope(db: &dyn Db, id: i64, scope: &Scope) -> Result<bool, DbError> {
    let mut params = vec![crate::db::Value::from(id)];
    params.extend(scope.params.iter().cloned());
    let sql = format!("SELECT 1 FROM workers w WHERE w.id = ? AND {}", condition(scope));
    Ok(!db.execute(&sql, &params)?.rows.is_empty())
}

/// `GET /workers/stats`: the alias, closed task count and pause flag of the workers within `scope`, most
/// productive first.
pub fn stats(db: &dyn Db, scope: &Scope) -> Result<Vec<WorkerStat>, DbError> {
    let sql = format!(
        "SELECT w.id, w.alias, w.closed_task_count, w.paused FROM workers w WHERE {} \
         ORDER BY w.closed_task_count DESC, w.id",
        condition(scope)
    );
    let rows = db.execute(&sql, &scope.params)?;
    rows.map_all(|row| {
        Ok(WorkerStat {
            id: row.int("id")?,
            alias: row.text("alias")?,
            closed_task_count: row.int("closed_task_count")?,
            paused: row.bool("paused")?,
        })
    })
}
