//! Operations as a caller asks for them: authorise with [`policy`], then run one service. The native routes
//! (`projects`, `tasks`) and JSON-RPC (`rpc`, with RhodeCode's legacy envelope) call these, so which
//! permission an operation needs is written once. Account operations need no entry here: the `accounts`
//! services check access themselves.

use crate::caller::{self, Caller};
use crate::db::Db;
use crate::domain::accounts::Ref;
use crate::domain::project::{AccessRequest, Grants, Project, ProjectInput, ProjectPatch, WorkerAccess};
use crate::domain::roles;
use crate::domain::task::{SubmitRequest, Task};
use crate::domain::worker::Worker;
use crate::error::ApiError;
use crate::platform::Kv;
use crate::{policy, projects, tasks};
use serde_json::{Value as Json, json};

/// Who a grant is for: a user or a group, by id or name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    User(Ref),
    Group(Ref),
}

impl Grantee {
    /// The grantee's id (404 when there is no such user or group).
    fn id(&self, db: &dyn Db) -> Result<i64, ApiError> {
        match self {
            Grantee::User(user) => projects::grantee_user(db, user),
            Grantee::Group(group) => projects::grantee_group(db, group),
        }
    }

    /// Its grant on `project` as the native API shows it, if it has one.
    fn grant(&self, db: &dyn Db, project: i64, id: i64) -> Result<Option<Json>, ApiError> {
        Ok(match self {
            Grantee::User(_) => projects::user_grant(db, project, id)?.map(|grant| json!(grant)),
            Grantee::Group(_) => projects::group_grant(db, project, id)?.map(|grant| json!(grant)),
        })
    }

    fn no_grant(&self) -> ApiError {
        let what = if matches!(self, Grantee::User(_)) { "the user" } else { "the group" };
        ApiError::NotFound(format!("{what} has no grant on this project"))
    }
}

/// Creates a project: signed-in people (the creator gets `admin` on it) and the built-in administrator.
pub fn create_project(db: &dyn Db, caller: &Caller, input: &ProjectInput, now: i64) -> Result<Project, ApiError> {
    let principal = caller::require_person(caller)?;
    policy::may_chain_to(db, caller, &input.fields())?;
    projects::create(db, principal.user().map(|user| user.id), input, now)
}

/// Creates a project owned by `owner` (who gets `admin` on it): administrators only.
pub fn create_project_for(
    db: &dyn Db,
    caller: &Caller,
    owner: &Ref,
    input: &ProjectInput,
    now: i64,
) -> Result<Project, ApiError> {
    crate::auth::require_admin(caller::require_person(caller)?)?;
    projects::create(db, Some(projects::grantee_user(db, owner)?), input, now)
}

/// Changes a project: EDIT, plus MANAGE_ACCESS when the visibility changes.
pub fn update_project(
    db: &dyn Db,
    caller: &Caller,
    project: &Ref,
    patch: &ProjectPatch,
    now: i64,
) -> Result<Project, ApiError> {
    let project = projects::resolve(db, project)?;
    policy::may_edit(db, caller, &project, patch.visibility)?;
    if patch.chain.is_some() {
        policy::may_chain_to(db, caller, &patch.apply(&project.fields()))?;
    }
    projects::update(db, project.id, patch, now)
}

/// Deletes a project with its tasks: every role bit (`admin`).
pub fn delete_project(db: &dyn Db, caller: &Caller, project: &Ref) -> Result<(), ApiError> {
    let project = projects::resolve(db, project)?;
    policy::authorize(db, caller, &project, roles::ALL)?;
    projects::delete(db, project.id)
}

/// The project, if the caller may manage its access (MANAGE_ACCESS): every grant operation needs it.
fn managed_project(db: &dyn Db, caller: &Caller, project: &Ref) -> Result<Project, ApiError> {
    let project = projects::resolve(db, project)?;
    policy::authorize(db, caller, &project, roles::MANAGE_ACCESS)?;
    Ok(project)
}

/// Every grant on a project (MANAGE_ACCESS).
pub fn grants(db: &dyn Db, caller: &Caller, project: &Ref) -> Result<Grants, ApiError> {
    projects::grants(db, managed_project(db, caller, project)?.id)
}

/// One grantee's grant on a project (MANAGE_ACCESS); 404 when it has none.
pub fn grant(db: &dyn Db, caller: &Caller, project: &Ref, grantee: &Grantee) -> Result<Json, ApiError> {
    let project = managed_project(db, caller, project)?;
    let id = grantee.id(db)?;
    grantee.grant(db, project.id, id)?.ok_or_else(|| grantee.no_grant())
}

/// Sets a grantee's role on a project (MANAGE_ACCESS); answers the grant, `role: 0` after a removal.
pub fn set_grant(db: &dyn Db, caller: &Caller, project: &Ref, grantee: &Grantee, role: i64) -> Result<Json, ApiError> {
    let project = managed_project(db, caller, project)?;
    let id = grantee.id(db)?;
    match grantee {
        Grantee::User(_) => projects::set_user_grant(db, project.id, id, role)?,
        Grantee::Group(_) => projects::set_group_grant(db, project.id, id, role)?,
    };
    let removed = match grantee {
        Grantee::User(_) => json!({"user": id, "role": 0, "preset": "none"}),
        Grantee::Group(_) => json!({"group": id, "role": 0, "preset": "none"}),
    };
    Ok(grantee.grant(db, project.id, id)?.unwrap_or(removed))
}

/// Removes a grantee's grant (MANAGE_ACCESS); 404 when it has none.
pub fn revoke_grant(db: &dyn Db, caller: &Caller, project: &Ref, grantee: &Grantee) -> Result<(), ApiError> {
    let project = managed_project(db, caller, project)?;
    let id = grantee.id(db)?;
    match grantee {
        Grantee::User(_) => projects::delete_user_grant(db, project.id, id),
        Grantee::Group(_) => projects::delete_group_grant(db, project.id, id),
    }
}

/// The workers' access requests on a project (MANAGE_ACCESS).
pub fn access_requests(db: &dyn Db, caller: &Caller, project: &Ref) -> Result<Vec<WorkerAccess>, ApiError> {
    projects::access_requests(db, managed_project(db, caller, project)?.id)
}

/// Submits a task: people need EDIT on the project, workers an accepted SUBMIT grant.
pub fn submit_task(
    db: &dyn Db,
    kv: &dyn Kv,
    caller: &Caller,
    request: &SubmitRequest,
    now: i64,
) -> Result<Task, ApiError> {
    let project = projects::resolve(db, &request.project.to_ref())?;
    policy::may_submit(db, caller, &project)?;
    tasks::submit(db, kv, &project, &request.spec(), now)
}

/// A task, if the caller may read its project: 403 private, 404 hidden (or no such task).
pub fn read_task(db: &dyn Db, caller: &Caller, id: i64) -> Result<Task, ApiError> {
    let task = tasks::get(db, id)?;
    policy::require_read_task(db, caller, &task)?;
    Ok(task)
}

/// Runs a control action on a task (`cancel`, `retry`, `set_priority`): EDIT on its project. A hidden project
/// the caller cannot read answers "task not found".
pub fn task_action(db: &dyn Db, caller: &Caller, id: i64, action: tasks::Action, now: i64) -> Result<Json, ApiError> {
    let task = tasks::get(db, id)?;
    let project = projects::get(db, task.project)?;
    policy::authorize(db, caller, &project, action.required_role()).map_err(|error| match error {
        ApiError::NotFound(_) => ApiError::NotFound(format!("task {} not found", task.id)),
        other => other,
    })?;
    action.run(db, task.id, now)
}

/// A worker's access request, on every surface: recorded on any existing project; answered with the access
/// row, or `None` (answered "taken", nothing more) for a missing project and a hidden one the worker may not
/// read alike (`policy::blind_access_request`).
pub fn request_access(
    db: &dyn Db,
    worker: &Worker,
    project: &Ref,
    request: &AccessRequest,
    now: i64,
) -> Result<Option<WorkerAccess>, ApiError> {
    request.validate()?;
    let project = projects::find(db, project)?;
    let blind = policy::blind_access_request(db, worker, project.as_ref())?;
    let Some(project) = project else { return Ok(None) };
    let access = projects::request_access(db, project.id, worker.id, request, now)?;
    Ok((!blind).then_some(access))
}
