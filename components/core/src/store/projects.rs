//! `projects`, and the project-wide task actions (reset_failed, reclaim_assigned, hard_reset). Grants are
//! `store::grants`, worker access `store::access`. The project secret and webhook secret are separate
//! reads so that [`Project`], which the API renders, cannot carry them.
//!
//! Visibility and access are SQL conditions over the alias `p` (a [`Scope`]) so that listing, reading and
//! claiming share one definition: [`read_scope_user`], [`read_scope_worker`], [`read_scope_anonymous`],
//! [`claim_scope_worker`].

use crate::db::{Db, DbError, Row, Value};
use crate::domain::accounts::Ref;
use crate::domain::project::{Assignee, Project, ProjectFields, Visibility};
use crate::domain::roles;
use crate::query::{Field, Kind, Resource, Scope};

/// The columns of [`Project`], counters included (kept by triggers: `sql/0003_task_triggers.sql`), over
/// `projects p`.
const SELECT: &str = "SELECT p.id, p.name, p.description, p.motd, p.visibility, p.priority, p.paused, p.chain, \
     p.assign_rate, p.submit_rate, p.version, p.clone_url, p.git_repo, p.created_at, \
     p.tasks_new AS \"new\", p.tasks_assigned AS \"assigned\", p.tasks_failed AS \"failed\", \
     p.tasks_closed AS \"closed\" \
     FROM projects p";

/// The `/projects` collection: every [`Project`] field in the same order.
pub const FIELDS: &[Field] = &[
    Field { name: "id", sql: "p.id", kind: Kind::Int, filter: true },
    Field { name: "name", sql: "p.name", kind: Kind::Text, filter: true },
    Field { name: "description", sql: "p.description", kind: Kind::Text, filter: false },
    Field { name: "motd", sql: "p.motd", kind: Kind::Text, filter: false },
    Field { name: "visibility", sql: "p.visibility", kind: Kind::Text, filter: true },
    Field { name: "priority", sql: "p.priority", kind: Kind::Int, filter: true },
    Field { name: "paused", sql: "p.paused", kind: Kind::Bool, filter: true },
    Field { name: "chain", sql: "p.chain", kind: Kind::Int, filter: true },
    Field { name: "assign_rate", sql: "p.assign_rate", kind: Kind::Int, filter: false },
    Field { name: "submit_rate", sql: "p.submit_rate", kind: Kind::Int, filter: false },
    Field { name: "version", sql: "p.version", kind: Kind::Text, filter: true },
    Field { name: "clone_url", sql: "p.clone_url", kind: Kind::Text, filter: false },
    Field { name: "git_repo", sql: "p.git_repo", kind: Kind::Text, filter: false },
    Field { name: "created_at", sql: "p.created_at", kind: Kind::Int, filter: true },
    Field { name: "new", sql: "p.tasks_new", kind: Kind::Int, filter: false },
    Field { name: "assigned", sql: "p.tasks_assigned", kind: Kind::Int, filter: false },
    Field { name: "failed", sql: "p.tasks_failed", kind: Kind::Int, filter: false },
    Field { name: "closed", sql: "p.tasks_closed", kind: Kind::Int, filter: false },
];

/// `/projects` for the query language (alias `p`, so the scopes below apply unchanged).
pub const RESOURCE: Resource = Resource { from: "projects p", fields: FIELDS };

fn from_row(row: &Row<'_>) -> Result<Project, DbError> {
    let visibility = row.text("visibility")?;
    Ok(Project {
        id: row.int("id")?,
        name: row.text("name")?,
        description: row.text("description")?,
        motd: row.text("motd")?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| DbError::Other(format!("unknown visibility `{visibility}`")))?,
        priority: row.int("priority")?,
        paused: row.bool("paused")?,
        chain: row.opt_int("chain")?,
        assign_rate: row.real("assign_rate")?,
        submit_rate: row.real("submit_rate")?,
        version: row.text("version")?,
        clone_url: row.text("clone_url")?,
        git_repo: row.text("git_repo")?,
        created_at: row.int("created_at")?,
        new: row.int("new")?,
        assigned: row.int("assigned")?,
        failed: row.int("failed")?,
        closed: row.int("closed")?,
    })
}

/// A project by id.
pub fn get(db: &dyn Db, id: i64) -> Result<Option<Project>, DbError> {
    db.execute(&format!("{SELECT} WHERE p.id = ?"), &[id.into()])?.map_first(from_row)
}

/// A project by id or (case-insensitive) name.
pub fn find(db: &dyn Db, project: &Ref) -> Result<Option<Project>, DbError> {
    match project {
        Ref::Id(id) => get(db, *id),
        Ref::Name(name) => {
            db.execute(&format!("{SELECT} WHERE p.name = ?"), &[name.as_str().into()])?.map_first(from_row)
        }
    }
}

/// The lowest-id project whose `git_repo` is exactly `repo` (the git receive hook).
pub fn find_by_git_repo(db: &dyn Db, repo: &str) -> Result<Option<Project>, DbError> {
    db.execute(&format!("{SELECT} WHERE p.git_repo = ? ORDER BY p.id LIMIT 1"), &[repo.into()])?.map_first(from_row)
}

/// Whether another project (not `except`) has this name (case-insensitively).
pub fn name_taken(db: &dyn Db, name: &str, except: Option<i64>) -> Result<bool, DbError> {
    let rows = db.execute("SELECT 1 FROM projects WHERE name = ? AND id IS NOT ?", &[name.into(), except.into()])?;
    Ok(!rows.rows.is_empty())
}

/// Whether `project` may chain into `chain`: the target exists and following its chain never comes back to
/// `project` (None for a project not created yet, which cannot be on any chain). Err names the problem.
pub fn check_chain(db: &dyn Db, project: Option<i64>, chain: i64) -> Result<Result<(), String>, DbError> {
    if project == Some(chain) {
        return Ok(Err("a project cannot chain into itself".into()));
    }
    if db.execute("SELECT 1 FROM projects WHERE id = ?", &[chain.into()])?.rows.is_empty() {
        return Ok(Err(format!("project {chain} does not exist")));
    }
    let Some(project) = project else { return Ok(Ok(())) };
    let cycle = db.execute(
        "WITH RECURSIVE walk(id, depth) AS (SELECT ?, 0 \
         UNION ALL SELECT p.chain, walk.depth + 1 FROM projects p JOIN walk ON p.id = walk.id \
         WHERE p.chain IS NOT NULL AND walk.depth < 10000) \
         SELECT 1 FROM walk WHERE id = ? LIMIT 1",
        &[chain.into(), project.into()],
    )?;
    Ok(if cycle.rows.is_empty() { Ok(()) } else { Err(format!("chaining into project {chain} would make a cycle")) })
}

fn field_params(fields: &ProjectFields) -> Vec<Value> {
    vec![
        fields.name.as_str().into(),
        fields.description.as_str().into(),
        fields.motd.as_str().into(),
        fields.visibility.as_str().into(),
        fields.priority.into(),
        fields.paused.into(),
        fields.chain.into(),
        Value::Real(fields.assign_rate),
        Value::Real(fields.submit_rate),
        fields.version.as_str().into(),
        fields.clone_url.as_str().into(),
        fields.git_repo.as_str().into(),
    ]
}

/// Inserts a project; `None` when the name is taken.
pub fn insert(db: &dyn Db, fields: &ProjectFields, now: i64) -> Result<Option<Project>, DbError> {
    let mut params = field_params(fields);
    params.extend([now.into(), now.into()]);
    let rows = db.execute(
        "INSERT INTO projects (name, description, motd, visibility, priority, paused, chain, assign_rate, \
         submit_rate, version, clone_url, git_repo, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id",
        &params,
    )?;
    match rows.first() {
        Some(row) => get(db, row.int("id")?),
        None => Ok(None),
    }
}

/// Replaces every settable field; `None` when the project does not exist.
pub fn update(db: &dyn Db, id: i64, fields: &ProjectFields, now: i64) -> Result<Option<Project>, DbError> {
    let mut params = field_params(fields);
    params.extend([now.into(), id.into()]);
    let rows = db.execute(
        "UPDATE projects SET name = ?, description = ?, motd = ?, visibility = ?, priority = ?, paused = ?, \
         chain = ?, assign_rate = ?, submit_rate = ?, version = ?, clone_url = ?, git_repo = ?, updated_at = ? \
         WHERE id = ? RETURNING id",
        &params,
    )?;
    if rows.rows.is_empty() { Ok(None) } else { get(db, id) }
}

/// Deletes a project with its tasks, grants, access and logs; chains into it are unset. False when absent.
pub fn delete(db: &dyn Db, id: i64) -> Result<bool, DbError> {
    Ok(!db.execute("DELETE FROM projects WHERE id = ? RETURNING id", &[id.into()])?.rows.is_empty())
}

/// Sets `paused`; `None` when the project does not exist.
pub fn set_paused(db: &dyn Db, id: i64, paused: bool, now: i64) -> Result<Option<Project>, DbError> {
    let rows = db.execute(
        "UPDATE projects SET paused = ?, updated_at = ? WHERE id = ? RETURNING id",
        &[paused.into(), now.into(), id.into()],
    )?;
    if rows.rows.is_empty() { Ok(None) } else { get(db, id) }
}

/// Which opaque value to read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// The project secret workers read (SPEC §3).
    Secret,
    /// The secret of the git receive hook.
    Webhook,
}

impl SecretKind {
    fn column(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Webhook => "webhook_secret",
        }
    }
}

/// A project's secret text: `None` when the project does not exist, `Some(None)` when unset.
pub fn secret(db: &dyn Db, id: i64, kind: SecretKind) -> Result<Option<Option<String>>, DbError> {
    let rows = db.execute(&format!("SELECT {} AS value FROM projects WHERE id = ?", kind.column()), &[id.into()])?;
    rows.map_first(|row| row.opt_text("value"))
}

/// Replaces a project's secret text; false when the project does not exist.
pub fn set_secret(db: &dyn Db, id: i64, kind: SecretKind, value: Option<&str>, now: i64) -> Result<bool, DbError> {
    let rows = db.execute(
        &format!("UPDATE projects SET {} = ?, updated_at = ? WHERE id = ? RETURNING id", kind.column()),
        &[value.into(), now.into(), id.into()],
    )?;
    Ok(!rows.rows.is_empty())
}

// ---------------------------------------------------------------------------------------------------------
// Visibility and access scopes (SQL over the alias `p`)

/// Projects a user may read: public ones, and any where their role (own or an active group's) has READ.
pub fn read_scope_user(user: i64) -> Scope {
    Scope {
        sql: format!(
            "p.visibility = 'public' \
             OR EXISTS (SELECT 1 FROM project_user_grants g WHERE g.project_id = p.id AND g.user_id = ? \
                        AND (g.role & {read}) <> 0) \
             OR EXISTS (SELECT 1 FROM project_group_grants g JOIN group_members m ON m.group_id = g.group_id \
                        JOIN user_groups ug ON ug.id = g.group_id \
                        WHERE g.project_id = p.id AND m.user_id = ? AND ug.active = 1 AND (g.role & {read}) <> 0)",
            read = roles::READ
        ),
        params: vec![user.into(), user.into()],
    }
}

/// Projects anyone may read: public ones.
pub fn read_scope_anonymous() -> Scope {
    Scope { sql: "p.visibility = 'public'".into(), params: vec![] }
}

/// Projects a worker may read: public ones and those where it holds an accepted grant.
pub fn read_scope_worker(worker: i64) -> Scope {
    Scope {
        sql: "p.visibility = 'public' OR EXISTS (SELECT 1 FROM worker_access a WHERE a.project_id = p.id \
              AND a.worker_id = ? AND a.accepted = 1)"
            .into(),
        params: vec![worker.into()],
    }
}

/// Projects a worker may claim from (SPEC §2): public ones, and private/hidden ones where it holds an
/// accepted ASSIGN grant. (Paused projects are excluded by the claim itself.)
pub fn claim_scope_worker(worker: i64) -> Scope {
    Scope {
        sql: "p.visibility = 'public' OR EXISTS (SELECT 1 FROM worker_access a WHERE a.project_id = p.id \
              AND a.worker_id = ? AND a.accepted = 1 AND a.assign = 1)"
            .into(),
        params: vec![worker.into()],
    }
}

/// Whether the project with this id is within `scope`.
pub fn in_scope(db: &dyn Db, id: i64, scope: &Scope) -> Result<bool, DbError> {
    let condition = if scope.sql.trim().is_empty() { "1".to_string() } else { format!("({})", scope.sql) };
    let mut params = vec![Value::from(id)];
    params.extend(scope.params.iter().cloned());
    Ok(!db.execute(&format!("SELECT 1 FROM projects p WHERE p.id = ? AND {condition}"), &params)?.rows.is_empty())
}

/// The unpaused projects within `scope` that have an assign rate, with that rate (the claim consults their
/// rate-limit buckets before choosing a task).
pub fn assign_rated(db: &dyn Db, scope: &Scope) -> Result<Vec<(i64, f64)>, DbError> {
    let condition = if scope.sql.trim().is_empty() { "1".to_string() } else { format!("({})", scope.sql) };
    let rows = db.execute(
        &format!("SELECT p.id, p.assign_rate FROM projects p WHERE p.paused = 0 AND p.assign_rate > 0 AND {condition}"),
        &scope.params,
    )?;
    rows.map_all(|row| Ok((row.int("id")?, row.real("assign_rate")?)))
}

// ---------------------------------------------------------------------------------------------------------
// Project-wide task actions: the answer is how many tasks changed.

/// failed → new with retries 0.
pub fn reset_failed(db: &dyn Db, project: i64, now: i64) -> Result<i64, DbError> {
    counted(
        db,
        "SELECT COUNT(*) AS n FROM tasks WHERE project = ? AND status = 'failed'",
        "UPDATE tasks SET status = 'new', retries = 0, assignee = NULL, assign_time = NULL, \
         lease_expires_at = NULL, progress = 0, updated_at = ? WHERE project = ? AND status = 'failed'",
        &[now.into(), project.into()],
        project,
    )
}

/// assigned → new (the assignees lose their leases; their heartbeats and releases get 409).
pub fn reclaim_assigned(db: &dyn Db, project: i64, now: i64) -> Result<i64, DbError> {
    counted(
        db,
        "SELECT COUNT(*) AS n FROM tasks WHERE project = ? AND status = 'assigned'",
        "UPDATE tasks SET status = 'new', assignee = NULL, assign_time = NULL, lease_expires_at = NULL, \
         progress = 0, updated_at = ? WHERE project = ? AND status = 'assigned'",
        &[now.into(), project.into()],
        project,
    )
}

/// Deletes every task of the project (with their verification votes).
pub fn hard_reset(db: &dyn Db, project: i64) -> Result<i64, DbError> {
    counted(
        db,
        "SELECT COUNT(*) AS n FROM tasks WHERE project = ?",
        "DELETE FROM tasks WHERE project = ?",
        &[project.into()],
        project,
    )
}

/// Counts then changes the same rows in one `BEGIN IMMEDIATE` transaction (portable: no `changes()`, and no
/// RETURNING of a million ids).
fn counted(db: &dyn Db, count: &str, change: &str, params: &[Value], project: i64) -> Result<i64, DbError> {
    crate::db::transaction(db, || {
        let n = db.execute(count, &[project.into()])?.map_first(|row| row.int("n"))?.unwrap_or(0);
        db.execute(change, params)?;
        Ok(n)
    })
}

/// Open (assigned) tasks per worker, most first.
pub fn assignees(db: &dyn Db, project: i64) -> Result<Vec<Assignee>, DbError> {
    let rows = db.execute(
        "SELECT t.assignee AS worker, w.alias, COUNT(*) AS tasks FROM tasks t JOIN workers w ON w.id = t.assignee \
         WHERE t.project = ? AND t.status = 'assigned' GROUP BY t.assignee, w.alias ORDER BY tasks DESC, worker",
        &[project.into()],
    )?;
    rows.map_all(|row| Ok(Assignee { worker: row.int("worker")?, alias: row.text("alias")?, tasks: row.int("tasks")? }))
}
