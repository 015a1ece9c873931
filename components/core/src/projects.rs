//! Project services (SPEC §3) shared by the native API, the RPC endpoint and the compatibility adapters:
//! CRUD, grants, the project secret, worker access requests, control actions and assignees.
//!
//! Authorisation is `policy`'s: handlers check the caller with `policy::authorize` / `policy::require_read`
//! (404 instead of 403 for hidden projects) before calling these. [`Action`] says which role each control
//! action needs.

use crate::control::{NoParams, action_params, to_json};
use crate::db::{self, Db};
use crate::domain::accounts::Ref;
use crate::domain::project::{
    AccessRequest, Assignee, Grants, GroupGrant, Project, ProjectInput, ProjectPatch, UserGrant, WorkerAccess,
};
use crate::domain::roles;
use crate::error::ApiError;
use crate::store::access as access_store;
use crate::store::grants as grants_store;
use crate::store::projects as store;
use serde::Deserialize;
use serde_json::{Value as Json, json};

pub use crate::store::projects::{RESOURCE, SecretKind};

fn not_found(project: impl std::fmt::Display) -> ApiError {
    ApiError::NotFound(format!("project {project} not found"))
}

/// The answer for a project that does not exist, and (`policy`) for one hidden from the caller: one fixed
/// body, so that neither the reference the caller used nor the hidden project's id tells them apart.
pub fn missing() -> ApiError {
    ApiError::NotFound("project not found".into())
}

/// A project by id or name; 404 ([`missing`]) when there is none.
pub fn resolve(db: &dyn Db, project: &Ref) -> Result<Project, ApiError> {
    store::find(db, project)?.ok_or_else(missing)
}

/// The project whose `git_repo` is `repo` (the git receive hook), if any.
pub fn find_by_git_repo(db: &dyn Db, repo: &str) -> Result<Option<Project>, ApiError> {
    Ok(store::find_by_git_repo(db, repo)?)
}

/// A project by id or name, if there is one.
pub fn find(db: &dyn Db, project: &Ref) -> Result<Option<Project>, ApiError> {
    Ok(store::find(db, project)?)
}

/// A project by id; 404 when there is none.
pub fn get(db: &dyn Db, id: i64) -> Result<Project, ApiError> {
    resolve(db, &Ref::Id(id))
}

/// Validates the chain of a project being created (`project` None) or updated.
fn check_chain(db: &dyn Db, project: Option<i64>, chain: Option<i64>) -> Result<(), ApiError> {
    if let Some(chain) = chain
        && let Err(message) = store::check_chain(db, project, chain)?
    {
        return Err(ApiError::invalid_field("chain", message));
    }
    Ok(())
}

fn name_taken(name: &str) -> ApiError {
    ApiError::conflict("duplicate", format!("a project named `{name}` already exists"))
}

/// Creates a project; its creator (a user id; `None` for the built-in administrator) gets `admin` on it.
/// 422 for invalid fields, 409 `duplicate` when the name is taken. One transaction.
pub fn create(db: &dyn Db, creator: Option<i64>, input: &ProjectInput, now: i64) -> Result<Project, ApiError> {
    let fields = input.fields();
    fields.validate()?;
    db::transaction(db, || {
        check_chain(db, None, fields.chain)?;
        let project = store::insert(db, &fields, now)?.ok_or_else(|| name_taken(&fields.name))?;
        if let Some(user) = creator {
            grants_store::set_user(db, project.id, user, roles::ALL)?;
        }
        Ok(project)
    })
}

/// Applies a patch (absent fields stay). 404, 422 (fields, chain missing or cyclic), 409 (name taken).
pub fn update(db: &dyn Db, id: i64, patch: &ProjectPatch, now: i64) -> Result<Project, ApiError> {
    db::transaction(db, || {
        let current = get(db, id)?;
        let fields = patch.apply(&current.fields());
        fields.validate()?;
        if fields.chain != current.chain {
            check_chain(db, Some(id), fields.chain)?;
        }
        if !fields.name.eq_ignore_ascii_case(&current.name) && store::name_taken(db, &fields.name, Some(id))? {
            return Err(name_taken(&fields.name));
        }
        store::update(db, id, &fields, now)?.ok_or_else(|| not_found(id))
    })
}

/// Deletes a project with its tasks, grants, access rows and logs.
pub fn delete(db: &dyn Db, id: i64) -> Result<(), ApiError> {
    if store::delete(db, id)? { Ok(()) } else { Err(not_found(id)) }
}

// ---------------------------------------------------------------------------------------------------------
// Grants

/// Every grant on the project.
pub fn grants(db: &dyn Db, project: i64) -> Result<Grants, ApiError> {
    Ok(grants_store::of_project(db, project)?)
}

fn check_role(role: i64) -> Result<(), ApiError> {
    if roles::is_valid(role) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "role",
            format!("must be a bitmask of the roles 1, 2, 4, 8 and 16 (0 to {})", roles::ALL),
        ))
    }
}

fn missing_subject(error: crate::db::DbError, what: &str) -> ApiError {
    match error {
        crate::db::DbError::ForeignKey(_) => ApiError::NotFound(format!("{what} not found")),
        other => other.into(),
    }
}

/// A user named in a request (id or name); 404 when there is none.
pub fn grantee_user(db: &dyn Db, user: &Ref) -> Result<i64, ApiError> {
    let found = crate::store::users::find(db, user)?;
    found.map(|user| user.id).ok_or_else(|| ApiError::NotFound(format!("user `{user}` not found")))
}

/// A group named in a request (id or name); 404 when there is none.
pub fn grantee_group(db: &dyn Db, group: &Ref) -> Result<i64, ApiError> {
    let found = crate::store::groups::find(db, group)?;
    found.map(|group| group.id).ok_or_else(|| ApiError::NotFound(format!("group `{group}` not found")))
}

/// A user's grant on the project, if it has one.
pub fn user_grant(db: &dyn Db, project: i64, user: i64) -> Result<Option<UserGrant>, ApiError> {
    Ok(grants(db, project)?.users.into_iter().find(|grant| grant.user == user))
}

/// A group's grant on the project, if it has one.
pub fn group_grant(db: &dyn Db, project: i64, group: i64) -> Result<Option<GroupGrant>, ApiError> {
    Ok(grants(db, project)?.groups.into_iter().find(|grant| grant.group == group))
}

/// Sets a user's role on a project; role 0 (`none`) removes the grant.
pub fn set_user_grant(db: &dyn Db, project: i64, user: i64, role: i64) -> Result<Grants, ApiError> {
    check_role(role)?;
    if role == 0 {
        grants_store::delete_user(db, project, user)?;
    } else {
        grants_store::set_user(db, project, user, role).map_err(|e| missing_subject(e, "project or user"))?;
    }
    grants(db, project)
}

/// Removes a user's grant; 404 when there is none.
pub fn delete_user_grant(db: &dyn Db, project: i64, user: i64) -> Result<(), ApiError> {
    if grants_store::delete_user(db, project, user)? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("user {user} has no grant on project {project}")))
    }
}

/// Sets a group's role on a project; role 0 (`none`) removes the grant.
pub fn set_group_grant(db: &dyn Db, project: i64, group: i64, role: i64) -> Result<Grants, ApiError> {
    check_role(role)?;
    if role == 0 {
        grants_store::delete_group(db, project, group)?;
    } else {
        grants_store::set_group(db, project, group, role).map_err(|e| missing_subject(e, "project or group"))?;
    }
    grants(db, project)
}

/// Removes a group's grant; 404 when there is none.
pub fn delete_group_grant(db: &dyn Db, project: i64, group: i64) -> Result<(), ApiError> {
    if grants_store::delete_group(db, project, group)? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("group {group} has no grant on project {project}")))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Secrets

/// The project secret (an opaque JSON value; `null` when unset). Callers need SECRET, or a worker's accepted
/// grant ([`WorkerAccess::accepted`]; a pending request never reads it).
pub fn secret(db: &dyn Db, project: i64, kind: SecretKind) -> Result<Json, ApiError> {
    let text = store::secret(db, project, kind)?.ok_or_else(|| not_found(project))?;
    Ok(text.map_or(Json::Null, |text| serde_json::from_str(&text).unwrap_or(Json::String(text))))
}

/// Replaces the project secret; `null` clears it. Returns the stored value.
pub fn set_secret(db: &dyn Db, project: i64, kind: SecretKind, value: &Json, now: i64) -> Result<Json, ApiError> {
    let text = (!value.is_null()).then(|| value.to_string());
    if store::set_secret(db, project, kind, text.as_deref(), now)? {
        Ok(value.clone())
    } else {
        Err(not_found(project))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Worker access

/// A worker asks for ASSIGN and/or SUBMIT (422 when neither). Repeating a pending request replaces its flags;
/// once accepted, asking for more is 409 `already_granted`.
pub fn request_access(
    db: &dyn Db,
    project: i64,
    worker: i64,
    request: &AccessRequest,
    now: i64,
) -> Result<WorkerAccess, ApiError> {
    request.validate()?;
    get(db, project)?;
    crate::db::transaction(db, || match access_store::get(db, project, worker)? {
        Some(granted) if granted.accepted() => {
            if (!request.assign || granted.assign) && (!request.submit || granted.submit) {
                return Ok(granted);
            }
            Err(ApiError::conflict(
                "already_granted",
                "this worker's access was already accepted; a manager must reject it before it can ask for more",
            ))
        }
        _ => Ok(access_store::upsert_request(db, project, worker, request.assign, request.submit, now)?),
    })
}

/// Every request and grant of the project, pending first.
pub fn access_requests(db: &dyn Db, project: i64) -> Result<Vec<WorkerAccess>, ApiError> {
    Ok(access_store::list(db, project)?)
}

/// A worker's access row, if any (for authorisation of worker calls).
pub fn worker_access(db: &dyn Db, project: i64, worker: i64) -> Result<Option<WorkerAccess>, ApiError> {
    Ok(access_store::get(db, project, worker)?)
}

fn no_request(project: i64, worker: i64) -> ApiError {
    ApiError::NotFound(format!("worker {worker} has no access request on project {project}"))
}

/// Accepts a pending request: 404 without one, 409 `already_accepted`.
pub fn accept_request(db: &dyn Db, project: i64, worker: i64, now: i64) -> Result<WorkerAccess, ApiError> {
    if let Some(accepted) = access_store::accept(db, project, worker, now)? {
        return Ok(accepted);
    }
    match access_store::get(db, project, worker)? {
        Some(_) => Err(ApiError::conflict("already_accepted", "this worker's request was already accepted")),
        None => Err(no_request(project, worker)),
    }
}

/// Rejects a pending request or revokes accepted access: 404 when there is none.
pub fn reject_request(db: &dyn Db, project: i64, worker: i64) -> Result<(), ApiError> {
    if access_store::reject(db, project, worker)? { Ok(()) } else { Err(no_request(project, worker)) }
}

// ---------------------------------------------------------------------------------------------------------
// Control

/// Pauses (or resumes) assignment from a project. Sets the desired state: repeating it is not an error.
pub fn set_paused(db: &dyn Db, project: i64, paused: bool, now: i64) -> Result<Project, ApiError> {
    store::set_paused(db, project, paused, now)?.ok_or_else(|| not_found(project))
}

/// failed → new with retries 0; returns how many.
pub fn reset_failed(db: &dyn Db, project: i64, now: i64) -> Result<i64, ApiError> {
    get(db, project)?;
    Ok(store::reset_failed(db, project, now)?)
}

/// assigned → new; returns how many.
pub fn reclaim_assigned(db: &dyn Db, project: i64, now: i64) -> Result<i64, ApiError> {
    get(db, project)?;
    Ok(store::reclaim_assigned(db, project, now)?)
}

/// Deletes every task of the project; returns how many.
pub fn hard_reset(db: &dyn Db, project: i64) -> Result<i64, ApiError> {
    get(db, project)?;
    Ok(store::hard_reset(db, project)?)
}

/// Open (assigned) tasks per worker.
pub fn assignees(db: &dyn Db, project: i64) -> Result<Vec<Assignee>, ApiError> {
    get(db, project)?;
    Ok(store::assignees(db, project)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerParam {
    worker: i64,
}

/// A control action on `/projects/{p}` (SPEC §3), parsed from a JSON-RPC call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    ResetFailed,
    ReclaimAssigned,
    HardReset,
    AcceptRequest { worker: i64 },
    RejectRequest { worker: i64 },
}

impl Action {
    /// `Ok(None)` for an unknown method (JSON-RPC -32601); Err for invalid params (-32602).
    pub fn parse(method: &str, params: &Json) -> Result<Option<Self>, ApiError> {
        Ok(Some(match method {
            "pause" | "resume" | "reset_failed" | "reclaim_assigned" | "hard_reset" => {
                action_params::<NoParams>(params)?;
                match method {
                    "pause" => Self::Pause,
                    "resume" => Self::Resume,
                    "reset_failed" => Self::ResetFailed,
                    "reclaim_assigned" => Self::ReclaimAssigned,
                    _ => Self::HardReset,
                }
            }
            "accept_request" => Self::AcceptRequest { worker: action_params::<WorkerParam>(params)?.worker },
            "reject_request" => Self::RejectRequest { worker: action_params::<WorkerParam>(params)?.worker },
            _ => return Ok(None),
        }))
    }

    /// The role the caller needs (SPEC §3): pause/resume EDIT; reset_failed, reclaim_assigned, hard_reset
    /// MAINTENANCE; accept/reject MANAGE_ACCESS.
    pub fn required_role(self) -> i64 {
        match self {
            Self::Pause | Self::Resume => roles::EDIT,
            Self::ResetFailed | Self::ReclaimAssigned | Self::HardReset => roles::MAINTENANCE,
            Self::AcceptRequest { .. } | Self::RejectRequest { .. } => roles::MANAGE_ACCESS,
        }
    }

    /// Runs the action; the JSON-RPC `result`.
    pub fn run(self, db: &dyn Db, project: i64, now: i64) -> Result<Json, ApiError> {
        Ok(match self {
            Self::Pause => to_json(&set_paused(db, project, true, now)?)?,
            Self::Resume => to_json(&set_paused(db, project, false, now)?)?,
            Self::ResetFailed => json!({"reset": reset_failed(db, project, now)?}),
            Self::ReclaimAssigned => json!({"reclaimed": reclaim_assigned(db, project, now)?}),
            Self::HardReset => json!({"deleted": hard_reset(db, project)?}),
            Self::AcceptRequest { worker } => to_json(&accept_request(db, project, worker, now)?)?,
            Self::RejectRequest { worker } => {
                reject_request(db, project, worker)?;
                json!({"rejected": true, "worker": worker})
            }
        })
    }
}

#[cfg(test)]
mod tests;
