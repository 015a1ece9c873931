//! task_tracker's JSON shapes of Conveyor's resources: tasks, projects, workers, managers, logs, and the
//! numbers it used for task statuses and log levels.

use crate::domain::project::{AccessStatus, Assignee, Project, Visibility, WorkerAccess};
use crate::domain::task::{Task, TaskStatus};
use crate::domain::worker::{LogLevel, Worker, WorkerStat};
use crate::store::users::User;
use serde_json::{Map, Value as Json, json};

/// A task status as task_tracker's number: 1 new (task_tracker kept assigned tasks at 1 with an assignee), 2
/// failed. task_tracker deleted closed tasks; Conveyor keeps them: 3 closed, 4 cancelled.
pub fn status_code(status: TaskStatus) -> i64 {
    match status {
        TaskStatus::New | TaskStatus::Assigned => 1,
        TaskStatus::Failed => 2,
        TaskStatus::Closed => 3,
        TaskStatus::Cancelled => 4,
    }
}

/// A project as task_tracker shows it. `public`/`hidden` encode the visibility (both false = private);
/// `chain` 0 = none.
pub fn project(project: &Project) -> Json {
    json!({
        "id": project.id,
        "priority": project.priority,
        "name": project.name,
        "clone_url": project.clone_url,
        "git_repo": project.git_repo,
        "version": project.version,
        "motd": project.motd,
        "public": project.visibility == Visibility::Public,
        "hidden": project.visibility == Visibility::Hidden,
        "chain": project.chain.unwrap_or(0),
        "paused": project.paused,
        "assign_rate": project.assign_rate,
        "submit_rate": project.submit_rate,
    })
}

/// A task as task_tracker shows it, with its project embedded. `assignee` and `assign_time` are 0 when
/// unset.
pub fn task(task: &Task, of: &Project) -> Json {
    json!({
        "id": task.id,
        "priority": task.priority,
        "assignee": task.assignee.unwrap_or(0),
        "retries": task.retries,
        "max_retries": task.max_retries,
        "status": status_code(task.status),
        "recipe": task.recipe,
        "max_assign_time": task.max_assign_time,
        "assign_time": task.assign_time.unwrap_or(0),
        "verification_count": task.verification_count,
        "project": project(of),
    })
}

/// A worker as task_tracker shows it; `secret` (base64, as task_tracker's `[]byte`) only right after
/// creation.
pub fn worker(worker: &Worker, secret: Option<&str>) -> Json {
    let mut value = json!({
        "id": worker.id,
        "created": worker.created_at,
        "alias": worker.alias,
        "paused": worker.paused,
    });
    if let Some(secret) = secret {
        value["secret"] = json!(secret);
    }
    value
}

/// `/worker/stats` rows.
pub fn worker_stats(stats: &[WorkerStat]) -> Json {
    let rows: Vec<Json> = stats
        .iter()
        .map(|s| json!({"id": s.id, "alias": s.alias, "closed_task_count": s.closed_task_count, "paused": s.paused}))
        .collect();
    json!({ "stats": rows })
}

/// `/project/assignees/:id`: task_tracker's `{assignee: alias, task_count}`.
pub fn assignees(rows: &[Assignee]) -> Json {
    let rows: Vec<Json> =
        rows.iter().map(|a| json!({"assignee": a.alias, "worker": a.worker, "task_count": a.tasks})).collect();
    json!({ "assignees": rows })
}

/// `/project/access_list/:id`: task_tracker's `{worker: {id, alias}, project, assign, submit, request}`
/// (`request` true while pending).
pub fn access_list(rows: &[WorkerAccess]) -> Json {
    let rows: Vec<Json> = rows
        .iter()
        .map(|a| {
            json!({
                "worker": {"id": a.worker, "alias": a.alias},
                "project": a.project,
                "assign": a.assign,
                "submit": a.submit,
                "request": a.status == AccessStatus::Pending,
            })
        })
        .collect();
    json!({ "accesses": rows })
}

/// A manager (a Conveyor user) as task_tracker shows it.
pub fn manager(user: &User) -> Json {
    json!({
        "id": user.id,
        "username": user.username,
        "website_admin": user.admin,
        "register_time": user.created_at,
    })
}

/// A row of the `/logs` collection as task_tracker's `/logs` shows it (`level` as its number, see
/// [`log_level_code`]; task_tracker called the scope `data`).
pub fn log_row(row: &Map<String, Json>) -> Json {
    let level = row.get("level").and_then(Json::as_str).and_then(LogLevel::parse).map(log_level_code);
    json!({
        "level": level,
        "message": row.get("message"),
        "data": row.get("scope"),
        "timestamp": row.get("timestamp"),
        "worker": row.get("worker"),
        "project": row.get("project"),
    })
}

/// A row of the `/users` collection as a task_tracker manager.
pub fn manager_row(row: &Map<String, Json>) -> Json {
    json!({
        "id": row.get("id"),
        "username": row.get("username"),
        "website_admin": row.get("admin"),
        "register_time": row.get("created_at"),
    })
}

/// task_tracker's numeric log levels (logrus): 2 error, 3 warn, 4 info, 5 debug, 6 trace.
pub fn log_level_code(level: LogLevel) -> i64 {
    match level {
        LogLevel::Error => 2,
        LogLevel::Warn => 3,
        LogLevel::Info => 4,
        LogLevel::Debug => 5,
        LogLevel::Trace => 6,
    }
}

/// The level of a logrus number (see [`log_level_code`]); 0 and 1 (panic, fatal) count as error.
pub fn log_level_of_code(code: i64) -> Option<LogLevel> {
    match code {
        0..=2 => Some(LogLevel::Error),
        3 => Some(LogLevel::Warn),
        4 => Some(LogLevel::Info),
        5 => Some(LogLevel::Debug),
        6 => Some(LogLevel::Trace),
        _ => None,
    }
}
