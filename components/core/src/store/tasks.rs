//! `tasks` and `task_verifications`. Every state change is one guarded statement
//! (`UPDATE … WHERE id = ? AND status IN (…) [AND assignee = ?] RETURNING …`) or one `BEGIN IMMEDIATE`
//! transaction. A guarded change that applies to no row answers `None`, and [`refusal`] says why (the task is
//! missing, held by another worker, or in another status); the services turn that into 404 or 409. The claim is a single `UPDATE … WHERE id = (SELECT …)` re-checking claimability, so hosts sharing
//! the database can never hand one task to two workers.

use crate::db::{self, Db, DbError, Row, Value};
use crate::domain::task::{BulkResult, NewTask, ReleaseResult, Released, Task, TaskStatus, required_votes};
use crate::query::{Field, Kind, Resource, Scope};
use std::collections::{HashMap, HashSet};

/// The columns of [`Task`], in order.
const COLUMNS: &str = "id, project, status, priority, recipe, hash64, max_retries, retries, max_assign_time, \
     verification_count, assignee, assign_time, lease_expires_at, claims, progress, result, created_at, \
     updated_at, closed_at";

/// Statuses a task can be claimed from (`TaskStatus::sources(Assigned)`); an `assigned` one only once its
/// lease expired. Repeated literally so the partial index `tasks_claim` applies.
const CLAIMABLE: &str = "'new', 'assigned'";
/// `TaskStatus::sources(Cancelled)`.
const CANCELLABLE: &str = "'new', 'assigned', 'failed'";
/// Open statuses (`TaskStatus::is_open`): priority may still change.
const OPEN: &str = "'new', 'assigned', 'failed'";

/// What closing a released task sets, but for its result (parameters: closed_at, updated_at). Every close sets
/// `closed_at` through this: the trigger that follows a close (`tasks_closed`) listens to that column.
pub(crate) const CLOSE: &str =
    "status = 'closed', progress = 100, lease_expires_at = NULL, released_as = 0, closed_at = ?, updated_at = ?";

/// The lease of a claim or an `extend: true` heartbeat, as SQL over the row.
const LEASE: &str = "CASE WHEN max_assign_time > 0 THEN max_assign_time ELSE 3600 END";

/// Rows per multi-row INSERT of a bulk: 10 parameters each stays under SQLite's historical limit of 999.
const BULK_CHUNK: usize = 90;

/// The `/tasks` collection: every [`Task`] field; filterable as SPEC §4 lists.
pub const FIELDS: &[Field] = &[
    Field { name: "id", sql: "t.id", kind: Kind::Int, filter: true },
    Field { name: "project", sql: "t.project", kind: Kind::Int, filter: true },
    Field { name: "status", sql: "t.status", kind: Kind::Text, filter: true },
    Field { name: "priority", sql: "t.priority", kind: Kind::Int, filter: true },
    Field { name: "recipe", sql: "t.recipe", kind: Kind::Text, filter: false },
    Field { name: "hash64", sql: "t.hash64", kind: Kind::Int, filter: true },
    Field { name: "max_retries", sql: "t.max_retries", kind: Kind::Int, filter: false },
    Field { name: "retries", sql: "t.retries", kind: Kind::Int, filter: true },
    Field { name: "max_assign_time", sql: "t.max_assign_time", kind: Kind::Int, filter: false },
    Field { name: "verification_count", sql: "t.verification_count", kind: Kind::Int, filter: false },
    Field { name: "assignee", sql: "t.assignee", kind: Kind::Int, filter: true },
    Field { name: "assign_time", sql: "t.assign_time", kind: Kind::Int, filter: false },
    Field { name: "lease_expires_at", sql: "t.lease_expires_at", kind: Kind::Int, filter: false },
    Field { name: "claims", sql: "t.claims", kind: Kind::Int, filter: false },
    Field { name: "progress", sql: "t.progress", kind: Kind::Int, filter: false },
    Field { name: "result", sql: "t.result", kind: Kind::Text, filter: false },
    Field { name: "created_at", sql: "t.created_at", kind: Kind::Int, filter: true },
    Field { name: "updated_at", sql: "t.updated_at", kind: Kind::Int, filter: true },
    Field { name: "closed_at", sql: "t.closed_at", kind: Kind::Int, filter: true },
];

/// `/tasks` for the query language (alias `t`); see [`scope_of_projects`] for visibility.
pub const RESOURCE: Resource = Resource { from: "tasks t", fields: FIELDS };

/// Tasks of the projects within a project scope (SQL over `p`, e.g. `store::projects::read_scope_user`).
pub fn scope_of_projects(projects: &Scope) -> Scope {
    if projects.sql.trim().is_empty() {
        return Scope::default();
    }
    Scope {
        sql: format!("EXISTS (SELECT 1 FROM projects p WHERE p.id = t.project AND ({}))", projects.sql),
        params: projects.params.clone(),
    }
}

fn from_row(row: &Row<'_>) -> Result<Task, DbError> {
    let status = row.text("status")?;
    Ok(Task {
        id: row.int("id")?,
        project: row.int("project")?,
        status: TaskStatus::parse(&status).ok_or_else(|| DbError::Other(format!("unknown task status `{status}`")))?,
        priority: row.int("priority")?,
        recipe: row.text("recipe")?,
        hash64: row.int("hash64")?,
        max_retries: row.int("max_retries")?,
        retries: row.int("retries")?,
        max_assign_time: row.int("max_assign_time")?,
        verification_count: row.int("verification_count")?,
        assignee: row.opt_int("assignee")?,
        assign_time: row.opt_int("assign_time")?,
        lease_expires_at: row.opt_int("lease_expires_at")?,
        claims: row.int("claims")?,
        progress: row.int("progress")?,
        result: row.opt_text("result")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        closed_at: row.opt_int("closed_at")?,
    })
}

fn one(rows: &db::Rows) -> Result<Option<Task>, DbError> {
    rows.map_first(from_row)
}

/// A task by id.
pub fn get(db: &dyn Db, id: i64) -> Result<Option<Task>, DbError> {
    one(&db.execute(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?"), &[id.into()])?)
}

/// A task's project and result: `None` when the task does not exist.
pub fn result(db: &dyn Db, id: i64) -> Result<Option<(i64, Option<String>)>, DbError> {
    let rows = db.execute("SELECT project, result FROM tasks WHERE id = ?", &[id.into()])?;
    rows.map_first(|row| Ok((row.int("project")?, row.opt_text("result")?)))
}

/// The columns a submit writes (after `id` in a bulk), and [`insert_values`] in the same order.
pub(crate) const INSERT_COLUMNS: &str =
    "project, priority, recipe, hash64, max_retries, max_assign_time, verification_count, created_at, updated_at";

fn insert_values(project: i64, task: &NewTask, now: i64) -> [Value; 9] {
    [
        project.into(),
        task.priority.into(),
        task.recipe.as_str().into(),
        task.hash64.into(),
        task.max_retries.into(),
        task.max_assign_time.into(),
        task.verification_count.into(),
        now.into(),
        now.into(),
    ]
}

/// Inserts one task; `None` when an open task of the project has the same non-zero hash64. A project that
/// no longer exists is [`DbError::ForeignKey`].
pub fn insert(db: &dyn Db, project: i64, task: &NewTask, now: i64) -> Result<Option<Task>, DbError> {
    let rows = db.execute(
        &format!(
            "INSERT INTO tasks ({INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
        ),
        &insert_values(project, task, now),
    )?;
    one(&rows)
}

/// Inserts a bulk in one `BEGIN IMMEDIATE` transaction. Items whose non-zero hash64 repeats an earlier item
/// or matches an open task are skipped and reported by index; the rest are inserted with ids assigned in
/// item order (explicit ids inside the transaction, so every item maps to its id without relying on the
/// order of RETURNING). A project that no longer exists is [`DbError::ForeignKey`].
pub fn insert_bulk(db: &dyn Db, project: i64, tasks: &[NewTask], now: i64) -> Result<BulkResult, DbError> {
    if tasks.is_empty() {
        return Ok(BulkResult::default());
    }
    db::transaction(db, || {
        let base =
            db.execute("SELECT COALESCE(MAX(id), 0) AS id FROM tasks", &[])?.map_first(|r| r.int("id"))?.unwrap_or(0);
        let mut seen = HashSet::new();
        let mut ids: Vec<Option<i64>> = Vec::with_capacity(tasks.len());
        let mut next = base;
        for task in tasks {
            if task.hash64 != 0 && !seen.insert(task.hash64) {
                ids.push(None);
            } else {
                next += 1;
                ids.push(Some(next));
            }
        }
        let pending: Vec<(i64, &NewTask)> =
            ids.iter().zip(tasks).filter_map(|(id, task)| id.map(|id| (id, task))).collect();
        let mut inserted = HashSet::with_capacity(pending.len());
        for chunk in pending.chunks(BULK_CHUNK) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let mut params = Vec::with_capacity(chunk.len() * 10);
            for (id, task) in chunk {
                params.push(Value::from(*id));
                params.extend(insert_values(project, task, now));
            }
            let rows = db.execute(
                &format!(
                    "INSERT INTO tasks (id, {INSERT_COLUMNS}) VALUES {values} ON CONFLICT DO NOTHING RETURNING id"
                ),
                &params,
            )?;
            inserted.extend(rows.map_all(|row| row.int("id"))?);
        }
        let mut result =
            BulkResult { created: inserted.len(), duplicates: Vec::new(), ids: Vec::with_capacity(ids.len()) };
        for (index, id) in ids.into_iter().enumerate() {
            match id.filter(|id| inserted.contains(id)) {
                Some(id) => result.ids.push(Some(id)),
                None => {
                    result.duplicates.push(index);
                    result.ids.push(None);
                }
            }
        }
        Ok(result)
    })
}

/// Which projects a claim may take from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimFrom {
    /// Only this project (`POST /tasks/claim {project}`); `None` = every project in `scope`.
    pub project: Option<i64>,
    /// Trusted SQL over the alias `p` (e.g. `store::projects::claim_scope_worker`); empty = any project.
    pub scope: Scope,
    /// Projects to leave out (e.g. those whose assign-rate bucket is in debt).
    pub exclude: Vec<i64>,
}

/// Claims the best claimable task for `worker` in one atomic statement, or `None` when nothing is
/// claimable. Order: project priority (desc), task priority (desc), task id (asc). Claimable: status `new`,
/// or `assigned` with `lease_expires_at <= now`; project not paused; worker not paused; no verification vote
/// of this worker on the task. Sets assignee, assign_time, the lease, claims + 1 and progress 0.
pub fn claim(db: &dyn Db, worker: i64, from: &ClaimFrom, now: i64) -> Result<Option<Task>, DbError> {
    Ok(claim_many(db, worker, from, 1, now)?.into_iter().next())
}

/// Claims up to `max` tasks for `worker`, best first, each as [`claim`] would take them in turn. From one
/// project this is one guarded statement; across projects each project's best task competes for every
/// place, so the claims are repeated inside one transaction (no other writer runs between them).
pub fn claim_many(db: &dyn Db, worker: i64, from: &ClaimFrom, max: usize, now: i64) -> Result<Vec<Task>, DbError> {
    if from.project.is_some() || max == 1 {
        let (sql, params) = claim_statement(worker, from, max, now);
        let mut tasks = db.execute(&sql, &params)?.map_all(from_row)?;
        // RETURNING gives rows in no particular order.
        tasks.sort_by_key(|task| (std::cmp::Reverse(task.priority), task.id));
        return Ok(tasks);
    }
    db::transaction(db, || {
        let mut tasks = Vec::with_capacity(max);
        while tasks.len() < max {
            match claim(db, worker, from, now)? {
                Some(task) => tasks.push(task),
                None => break,
            }
        }
        Ok(tasks)
    })
}

/// The claim statement and its parameters (separate so tests can check its query plan). A claim from one
/// project seeks that project's best `max` tasks directly; across projects, each project's best task
/// competes for the one place (`max` is then 1).
pub(crate) fn claim_statement(worker: i64, from: &ClaimFrom, max: usize, now: i64) -> (String, Vec<Value>) {
    let mut params: Vec<Value> = vec![worker.into(), now.into(), now.into(), now.into()];
    let best_in = |project: &str, limit: usize| {
        format!(
            "SELECT t.id FROM tasks t \
             WHERE t.project = {project} AND t.status IN ({CLAIMABLE}) AND (t.status = 'new' OR t.lease_expires_at <= ?) \
               AND NOT EXISTS (SELECT 1 FROM task_verifications v WHERE v.task = t.id AND v.worker = ?) \
             ORDER BY t.priority DESC, t.id LIMIT {limit}"
        )
    };
    let mut projects = String::from("p.paused = 0");
    let mut project_params = Vec::new();
    if !from.exclude.is_empty() {
        projects.push_str(&format!(" AND p.id NOT IN ({})", vec!["?"; from.exclude.len()].join(", ")));
        project_params.extend(from.exclude.iter().map(|id| Value::from(*id)));
    }
    if !from.scope.sql.trim().is_empty() {
        projects.push_str(&format!(" AND ({})", from.scope.sql));
        project_params.extend(from.scope.params.iter().cloned());
    }
    let chosen = match from.project {
        Some(project) => {
            params.extend([project.into(), now.into(), worker.into(), project.into()]);
            params.extend(project_params);
            format!("({}) AND EXISTS (SELECT 1 FROM projects p WHERE p.id = ? AND {projects})", best_in("?", max))
        }
        None => {
            params.extend([now.into(), worker.into()]);
            params.extend(project_params);
            format!(
                "( \
                 SELECT c.task FROM (SELECT p.priority AS project_priority, ({}) AS task FROM projects p WHERE {projects}) c \
                 JOIN tasks t ON t.id = c.task \
                 ORDER BY c.project_priority DESC, t.priority DESC, t.id LIMIT 1)",
                best_in("p.id", 1)
            )
        }
    };
    params.extend([now.into(), worker.into()]);
    let sql = format!(
        "UPDATE tasks SET status = 'assigned', assignee = ?, assign_time = ?, lease_expires_at = ? + {LEASE}, \
         claims = claims + 1, progress = 0, released_as = NULL, updated_at = ? \
         WHERE id IN {chosen} \
         AND status IN ({CLAIMABLE}) AND (status = 'new' OR lease_expires_at <= ?) \
         AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = ? AND w.paused = 1) \
         RETURNING {COLUMNS}"
    );
    (sql, params)
}

/// Why a guarded change of a task did not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// There is no such task.
    Missing,
    /// The change was a worker's, and another worker (or none) holds the task.
    NotAssignee,
    /// The task's status does not allow the change.
    InStatus(TaskStatus),
}

/// Why a guarded change of task `id` (by `worker`, when a worker made it) did not apply.
pub fn refusal(db: &dyn Db, id: i64, worker: Option<i64>) -> Result<Refusal, DbError> {
    Ok(match get(db, id)? {
        None => Refusal::Missing,
        Some(task) if worker.is_some() && task.assignee != worker => Refusal::NotAssignee,
        Some(task) => Refusal::InStatus(task.status),
    })
}

/// A heartbeat by the assignee: sets progress (when given) and extends the lease (`extend`: `None` = keep,
/// `Some(None)` = now + the task's lease length, `Some(Some(s))` = now + s; never shortened). On a cancelled
/// task nothing changes and `abort` is true. Returns `(lease_expires_at, abort)`, or `None` when `worker`
/// does not hold an assigned or cancelled task `id` ([`refusal`] says why).
pub fn heartbeat(
    db: &dyn Db,
    worker: i64,
    id: i64,
    progress: Option<i64>,
    extend: Option<Option<i64>>,
    now: i64,
) -> Result<Option<(Option<i64>, bool)>, DbError> {
    let (extending, seconds) = match extend {
        None => (false, None),
        Some(seconds) => (true, seconds),
    };
    let rows = db.execute(
        &format!(
            "UPDATE tasks SET \
             progress = CASE WHEN status = 'assigned' THEN COALESCE(?1, progress) ELSE progress END, \
             lease_expires_at = CASE WHEN status = 'assigned' AND ?2 = 1 \
               THEN MAX(lease_expires_at, ?4 + COALESCE(?3, {LEASE})) ELSE lease_expires_at END, \
             updated_at = CASE WHEN status = 'assigned' THEN ?4 ELSE updated_at END \
             WHERE id = ?5 AND assignee = ?6 AND status IN ('assigned', 'cancelled') \
             RETURNING status, lease_expires_at"
        ),
        &[progress.into(), extending.into(), seconds.into(), now.into(), id.into(), worker.into()],
    )?;
    rows.map_first(|row| Ok((row.opt_int("lease_expires_at")?, row.text("status")? == TaskStatus::Cancelled.as_str())))
}

/// Releases a task held by `worker` (SPEC §4 "Release"); `None` when `worker` does not hold an assigned task
/// `id` ([`refusal`] says why). Every releasing UPDATE sets `released_as` to the result's code (a claim
/// clears it), which is how the counting trigger of `sql/0008_metrics.sql` tells releases by result apart.
pub fn release(
    db: &dyn Db,
    worker: i64,
    id: i64,
    result: ReleaseResult,
    verification: i64,
    output: Option<&str>,
    now: i64,
) -> Result<Option<Released>, DbError> {
    let guard = "WHERE id = ? AND assignee = ? AND status = 'assigned' RETURNING status";
    let back_to_new =
        "status = 'new', assignee = NULL, assign_time = NULL, lease_expires_at = NULL, progress = 0, released_as = 2";
    let rows = match result {
        ReleaseResult::Skip => db.execute(
            &format!("UPDATE tasks SET {back_to_new}, updated_at = ? {guard}"),
            &[now.into(), id.into(), worker.into()],
        )?,
        ReleaseResult::Fail => db.execute(
            &format!(
                "UPDATE tasks SET retries = retries + 1, \
                 status = CASE WHEN retries + 1 >= max_retries THEN 'failed' ELSE 'new' END, \
                 assignee = CASE WHEN retries + 1 >= max_retries THEN assignee ELSE NULL END, \
                 assign_time = CASE WHEN retries + 1 >= max_retries THEN assign_time ELSE NULL END, \
                 lease_expires_at = NULL, progress = 0, result = COALESCE(?, result), released_as = 1, \
                 updated_at = ? {guard}"
            ),
            &[output.into(), now.into(), id.into(), worker.into()],
        )?,
        ReleaseResult::Ok => return release_ok(db, worker, id, verification, output, now),
    };
    rows.map_first(|row| {
        let status = row.text("status")?;
        let status =
            TaskStatus::parse(&status).ok_or_else(|| DbError::Other(format!("unknown task status `{status}`")))?;
        Ok(Released { updated: true, status })
    })
}

/// OK. Without a quorum to reach this is one guarded UPDATE; closing credits the worker and chains a copy
/// into the chained project (trigger `tasks_closed`, `sql/0010_transition_triggers.sql`). With a quorum: record the
/// vote, then close (crediting the other agreeing workers too) or return the task to `new` for another
/// worker, in one transaction.
fn release_ok(
    db: &dyn Db,
    worker: i64,
    id: i64,
    verification: i64,
    output: Option<&str>,
    now: i64,
) -> Result<Option<Released>, DbError> {
    let close = |quorum: &str| {
        db.execute(
            &format!(
                "UPDATE tasks SET {CLOSE}, result = ? WHERE id = ? AND assignee = ? AND status = 'assigned' {quorum} \
                 RETURNING id"
            ),
            &[now.into(), now.into(), output.into(), id.into(), worker.into()],
        )
    };
    if !close("AND verification_count <= 1")?.rows.is_empty() {
        return Ok(Some(Released { updated: true, status: TaskStatus::Closed }));
    }
    db::transaction(db, || {
        let held = db.execute(
            "SELECT verification_count FROM tasks WHERE id = ? AND assignee = ? AND status = 'assigned'",
            &[id.into(), worker.into()],
        )?;
        let Some(votes) = held.map_first(|row| Ok(required_votes(row.int("verification_count")?)))? else {
            return Ok(None);
        };
        db.execute(
            "INSERT INTO task_verifications (task, worker, value, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (task, worker) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
            &[id.into(), worker.into(), verification.into(), now.into()],
        )?;
        let agreeing = db
            .execute(
                "SELECT COUNT(*) AS n FROM task_verifications WHERE task = ? AND value = ?",
                &[id.into(), verification.into()],
            )?
            .map_first(|row| row.int("n"))?
            .unwrap_or(0);
        if agreeing < votes {
            let rows = db.execute(
                "UPDATE tasks SET status = 'new', assignee = NULL, assign_time = NULL, lease_expires_at = NULL, \
                 progress = 0, released_as = 0, updated_at = ? WHERE id = ? AND assignee = ? AND status = 'assigned' \
                 RETURNING id",
                &[now.into(), id.into(), worker.into()],
            )?;
            if rows.rows.is_empty() {
                return Err(changed_inside_transaction());
            }
            return Ok(Some(Released { updated: true, status: TaskStatus::New }));
        }
        if close("")?.rows.is_empty() {
            return Err(changed_inside_transaction());
        }
        db.execute(
            "UPDATE workers SET closed_task_count = closed_task_count + 1 \
             WHERE id IN (SELECT worker FROM task_verifications WHERE task = ? AND value = ?) AND id <> ?",
            &[id.into(), verification.into(), worker.into()],
        )?;
        Ok(Some(Released { updated: true, status: TaskStatus::Closed }))
    })
}

/// OK releases, in one statement, of those `(id, output)` pairs whose task `worker` holds and which need no
/// quorum (`verification_count <= 1`): each closes as [`release`] with OK closes it. Answers the ids closed;
/// the others (not held, or with votes to collect) are for [`release`], one by one. Ids must be distinct.
pub fn close_held(db: &dyn Db, worker: i64, items: &[(i64, Option<&str>)], now: i64) -> Result<HashSet<i64>, DbError> {
    if items.is_empty() {
        return Ok(HashSet::new());
    }
    let items = serde_json::to_string(items).map_err(|error| DbError::Other(error.to_string()))?;
    // `+` keeps the planner from searching the worker's tasks and scanning the list for each: the list
    // leads, and each item is one lookup by id.
    let rows = db.execute(
        &format!(
            "UPDATE tasks SET {CLOSE}, result = r.value ->> 1 FROM json_each(?) r \
             WHERE tasks.id = r.value ->> 0 AND +tasks.assignee = ? AND +tasks.status = 'assigned' \
               AND tasks.verification_count <= 1 \
             RETURNING tasks.id"
        ),
        &[now.into(), now.into(), items.into(), worker.into()],
    )?;
    Ok(rows.map_all(|row| row.int("id"))?.into_iter().collect())
}

fn changed_inside_transaction() -> DbError {
    DbError::Other("a held task changed inside its transaction".into())
}

/// new/assigned/failed → cancelled (`None` from another status). An assignee keeps the task so its next
/// heartbeat answers `abort: true`. Sets `cancelled_at`, which the trigger that finishes a cancelled
/// Project-W job listens to (`projectw_task_cancelled`).
pub fn cancel(db: &dyn Db, id: i64, now: i64) -> Result<Option<Task>, DbError> {
    let rows = db.execute(
        &format!(
            "UPDATE tasks SET status = 'cancelled', lease_expires_at = NULL, cancelled_at = ?1, updated_at = ?1 \
             WHERE id = ?2 AND status IN ({CANCELLABLE}) RETURNING {COLUMNS}"
        ),
        &[now.into(), id.into()],
    )?;
    one(&rows)
}

/// failed → new, retries 0 (`None` from another status).
pub fn retry(db: &dyn Db, id: i64, now: i64) -> Result<Option<Task>, DbError> {
    let rows = db.execute(
        &format!(
            "UPDATE tasks SET status = 'new', retries = 0, assignee = NULL, assign_time = NULL, \
             lease_expires_at = NULL, progress = 0, updated_at = ? WHERE id = ? AND status = 'failed' RETURNING {COLUMNS}"
        ),
        &[now.into(), id.into()],
    )?;
    one(&rows)
}

/// Sets the priority of an open (new, assigned or failed) task (`None` for a closed or cancelled one).
pub fn set_priority(db: &dyn Db, id: i64, priority: i64, now: i64) -> Result<Option<Task>, DbError> {
    let rows = db.execute(
        &format!(
            "UPDATE tasks SET priority = ?, updated_at = ? WHERE id = ? AND status IN ({OPEN}) RETURNING {COLUMNS}"
        ),
        &[priority.into(), now.into(), id.into()],
    )?;
    one(&rows)
}

/// The votes recorded on a task: value → distinct workers.
pub fn votes(db: &dyn Db, id: i64) -> Result<HashMap<i64, i64>, DbError> {
    let rows =
        db.execute("SELECT value, COUNT(*) AS n FROM task_verifications WHERE task = ? GROUP BY value", &[id.into()])?;
    Ok(rows.map_all(|row| Ok((row.int("value")?, row.int("n")?)))?.into_iter().collect())
}

/// Task counts of a project by status (`GET /metrics`, dashboards).
pub fn counts(db: &dyn Db, project: i64) -> Result<HashMap<TaskStatus, i64>, DbError> {
    let rows =
        db.execute("SELECT status, COUNT(*) AS n FROM tasks WHERE project = ? GROUP BY status", &[project.into()])?;
    let counts = rows.map_all(|row| Ok((TaskStatus::parse(&row.text("status")?), row.int("n")?)))?;
    Ok(counts.into_iter().filter_map(|(status, n)| status.map(|status| (status, n))).collect())
}

#[cfg(test)]
pub(crate) fn sql_list(statuses: &[TaskStatus]) -> String {
    statuses.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod guards {
    use super::*;
    use crate::domain::task::DEFAULT_LEASE;

    #[test]
    fn status_guards_match_the_domain_machine() {
        assert_eq!(CLAIMABLE, sql_list(&TaskStatus::sources(TaskStatus::Assigned)));
        assert_eq!(CANCELLABLE, sql_list(&TaskStatus::sources(TaskStatus::Cancelled)));
        let open: Vec<TaskStatus> = TaskStatus::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(OPEN, sql_list(&open));
        assert!(TaskStatus::Failed.can_become(TaskStatus::New), "retry");
        assert_eq!(LEASE, format!("CASE WHEN max_assign_time > 0 THEN max_assign_time ELSE {DEFAULT_LEASE} END"));
    }
}
