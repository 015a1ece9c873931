//! What a caller may do (SPEC §2–§5): every "may X do Y" of the native routes, the JSON-RPC methods and
//! the wire-compatible surfaces, decided here and nowhere else. Components authenticate with `caller`, then
//! ask this module, then call a service.
//!
//! Roles: a person's role on a project is the OR of their grant and their active groups' grants
//! (administrators: every bit). A worker has no role bits; it reads public projects and those where it holds
//! an **accepted** grant (a pending request counts for nothing). Hidden projects answer 404 to whoever may
//! not read them, as if they did not exist; private ones 403.

use crate::auth::{self, Principal};
use crate::caller::{Caller, require_person};
use crate::db::Db;
use crate::domain::accounts::Ref;
use crate::domain::project::{Project, ProjectFields, Visibility, WorkerAccess};
use crate::domain::roles;
use crate::domain::task::Task;
use crate::domain::worker::Worker;
use crate::error::ApiError;
use crate::projects;
use crate::query::Scope;
use crate::router::Ctx;
use crate::store::projects as store;

/// A person's role bits on a project: own grant OR active groups' grants; administrators every bit;
/// anonymous callers none.
pub fn principal_role(db: &dyn Db, principal: &Principal, project: &Project) -> Result<i64, ApiError> {
    match principal {
        Principal::User(user) if !principal.is_admin() => {
            let (own, groups) = crate::store::grants::of_user(db, project.id, user.id)?;
            Ok(principal.project_role(own, &groups))
        }
        _ => Ok(principal.project_role(0, &[])),
    }
}

/// The caller's role bits on a project (a worker has none: see [`worker_access`]).
pub fn project_role(db: &dyn Db, caller: &Caller, project: &Project) -> Result<i64, ApiError> {
    match caller {
        Caller::Person(principal) => principal_role(db, principal, project),
        Caller::Worker(_) => Ok(0),
    }
}

/// A worker's access row on the project (pending or accepted), if any.
pub fn worker_access(db: &dyn Db, worker: &Worker, project: &Project) -> Result<Option<WorkerAccess>, ApiError> {
    projects::worker_access(db, project.id, worker.id)
}

/// Whether the caller may read the project: public projects anyone; otherwise administrators, people with
/// READ, and workers with an accepted grant.
pub fn may_read(db: &dyn Db, caller: &Caller, project: &Project) -> Result<bool, ApiError> {
    if project.visibility == Visibility::Public {
        return Ok(true);
    }
    match caller {
        Caller::Person(_) => Ok(roles::has(project_role(db, caller, project)?, roles::READ)),
        Caller::Worker(worker) => Ok(worker_access(db, worker, project)?.is_some_and(|a| a.accepted())),
    }
}

/// The schedules the caller may list, as a [`Scope`] over `schedules s`: administrators every one, a user
/// their own; workers have none (403) and anonymous callers must sign in (401).
pub fn schedules_scope(caller: &Caller) -> Result<Scope, ApiError> {
    match require_person(caller)? {
        principal if principal.is_admin() => Ok(Scope::default()),
        Principal::User(user) => Ok(crate::store::schedules::owner_scope(user.id)),
        _ => Err(ApiError::Unauthorized("authentication required".into())),
    }
}

/// Reading or changing a schedule: its owner or an administrator. Anyone else is told it does not exist
/// (404), so ids of other people's schedules reveal nothing.
pub fn may_use_schedule(caller: &Caller, owner: Option<i64>, id: &str) -> Result<(), ApiError> {
    let not_found = || ApiError::NotFound(format!("schedule `{id}` not found"));
    // A worker asking for an existing schedule gets the missing one's answer, not a 403 that confirms it.
    let principal = require_person(caller).map_err(|error| match error {
        ApiError::Forbidden(_) => not_found(),
        other => other,
    })?;
    let own = principal.user().is_some_and(|user| Some(user.id) == owner);
    if principal.is_admin() || own { Ok(()) } else { Err(not_found()) }
}

/// 404 (hidden) or 403 (private) unless the caller may read the project.
pub fn require_read(db: &dyn Db, caller: &Caller, project: &Project) -> Result<(), ApiError> {
    require_visible(project, may_read(db, caller, project)?)
}

/// A task is read with its project: 403 when the project is private to the caller; a task of a project
/// hidden from the caller is answered as a missing task (404).
pub fn require_read_task(db: &dyn Db, caller: &Caller, task: &Task) -> Result<(), ApiError> {
    let project = projects::get(db, task.project)?;
    require_read(db, caller, &project).map_err(|error| match error {
        ApiError::NotFound(_) => ApiError::NotFound(format!("task {} not found", task.id)),
        other => other,
    })
}

/// The project by id or name, readable by the caller: 404 when missing or hidden from them, 403 when private.
pub fn readable_project(db: &dyn Db, caller: &Caller, project: &Ref) -> Result<Project, ApiError> {
    let project = projects::resolve(db, project)?;
    require_read(db, caller, &project)?;
    Ok(project)
}

/// 403 unless the caller's role holds every bit of `needed` (404 when they cannot even read a hidden project).
/// Workers never hold role bits, so they always fail here (with 404 for hidden projects they cannot read).
pub fn authorize(db: &dyn Db, caller: &Caller, project: &Project, needed: i64) -> Result<(), ApiError> {
    match caller {
        Caller::Person(Principal::Anonymous) if project.visibility != Visibility::Hidden => {
            Err(ApiError::Unauthorized("authentication required".into()))
        }
        Caller::Person(_) => require_role(project, project_role(db, caller, project)?, needed),
        Caller::Worker(_) => {
            require_read(db, caller, project)?;
            Err(ApiError::Forbidden("workers hold no project roles; use a user token".into()))
        }
    }
}

/// Submitting into a project: people need EDIT; workers an accepted SUBMIT grant. Callers who may not read a
/// hidden project get 404 (it does not exist for them), a private one 403.
pub fn may_submit(db: &dyn Db, caller: &Caller, project: &Project) -> Result<(), ApiError> {
    let Caller::Worker(worker) = caller else { return authorize(db, caller, project, roles::EDIT) };
    if worker_access(db, worker, project)?.is_some_and(|access| access.may_submit()) {
        return Ok(());
    }
    require_read(db, caller, project)?;
    Err(ApiError::Forbidden(format!("worker {} has no accepted submit grant on project {}", worker.id, project.id)))
}

/// Claiming from a named project: public projects any worker; private and hidden ones an accepted ASSIGN
/// grant (a hidden project answers 404 to a worker without any accepted grant, as if it did not exist).
pub fn may_claim_from(db: &dyn Db, worker: &Worker, project: &Project) -> Result<(), ApiError> {
    if project.visibility == Visibility::Public || worker_access(db, worker, project)?.is_some_and(|a| a.may_assign()) {
        return Ok(());
    }
    require_read(db, &Caller::Worker(worker.clone()), project)?;
    Err(ApiError::Forbidden(format!("worker {} has no accepted assign grant on project {}", worker.id, project.id)))
}

/// Whether a worker's access request on `project` (`None`: there is no such project) is answered blindly,
/// "taken" and nothing more (202): for a missing project, and for a hidden one the worker may not read, alike,
/// so the request cannot be used to learn that a hidden project exists. On a hidden project the request is
/// still recorded (a worker must be able to ask before it can read); on a missing one nothing is.
pub fn blind_access_request(db: &dyn Db, worker: &Worker, project: Option<&Project>) -> Result<bool, ApiError> {
    match project {
        None => Ok(true),
        Some(project) => {
            Ok(project.visibility == Visibility::Hidden && !may_read(db, &Caller::Worker(worker.clone()), project)?)
        }
    }
}

/// A heartbeat/release refusal (409) on a task the caller may not read is answered as reading the task
/// would be: 404 (as a missing task) when its project is hidden from them, 403 when it is private. So a
/// refusal never tells a non-member whether the task exists (hidden), who holds it or what its status is.
/// Other errors pass through.
pub fn hide_task_refusal(db: &dyn Db, caller: &Caller, task: i64, error: ApiError) -> ApiError {
    if !matches!(error, ApiError::Conflict { .. }) {
        return error;
    }
    match crate::tasks::get(db, task).and_then(|found| require_read_task(db, caller, &found)) {
        Ok(()) => error,
        Err(other) => other,
    }
}

/// The project secret: people need SECRET; a worker an accepted grant of any kind (a pending request reads
/// nothing).
pub fn may_read_secret(db: &dyn Db, caller: &Caller, project: &Project) -> Result<(), ApiError> {
    match caller {
        Caller::Worker(worker) => {
            require_read(db, caller, project)?;
            if worker_access(db, worker, project)?.is_some_and(|access| access.accepted()) {
                Ok(())
            } else {
                Err(ApiError::Forbidden("the project secret needs an accepted access grant".into()))
            }
        }
        Caller::Person(_) => authorize(db, caller, project, roles::SECRET),
    }
}

/// Editing a project: EDIT, plus MANAGE_ACCESS when the visibility changes (it decides who sees it).
pub fn may_edit(
    db: &dyn Db,
    caller: &Caller,
    project: &Project,
    new_visibility: Option<Visibility>,
) -> Result<(), ApiError> {
    authorize(db, caller, project, roles::EDIT)?;
    if new_visibility.is_some_and(|visibility| visibility != project.visibility) {
        authorize(db, caller, project, roles::MANAGE_ACCESS)?;
    }
    Ok(())
}

/// Chaining a project into `fields.chain` (SPEC §4: closed tasks are copied there): the caller must be able
/// to submit into the target (EDIT), or anyone could push tasks into another tenant's project. The fields are
/// validated first and a hidden target the caller may not read is answered exactly as a missing one (the
/// service's 422 on `chain`), so the answer is the same as for a chain to nothing; a missing target is left
/// to the service.
pub fn may_chain_to(db: &dyn Db, caller: &Caller, fields: &ProjectFields) -> Result<(), ApiError> {
    fields.validate()?;
    let Some(chain) = fields.chain else { return Ok(()) };
    let target = match projects::get(db, chain) {
        Err(ApiError::NotFound(_)) => return Ok(()),
        found => found?,
    };
    authorize(db, caller, &target, roles::EDIT).map_err(|error| match error {
        ApiError::NotFound(_) => ApiError::invalid_field("chain", format!("project {chain} does not exist")),
        other => other,
    })
}

/// Registering a worker: open unless the variable `open_worker_registration` is `false`; then an
/// administrator.
pub fn may_register_worker(ctx: &Ctx, caller: &Caller) -> Result<(), ApiError> {
    if ctx.variable("open_worker_registration").is_some_and(|open| open.trim().eq_ignore_ascii_case("false")) {
        auth::require_admin(require_person(caller)?)?;
    }
    Ok(())
}

/// The workers whose records (alias, tags, meta, statistics) the caller may see, as a [`Scope`] over
/// `workers w`: administrators every one; a user the workers with an access row (pending or accepted) on a
/// project where the user holds READ by a grant of their own or of an active group; a worker itself only;
/// anonymous callers must sign in (401).
pub fn workers_scope(caller: &Caller) -> Result<Scope, ApiError> {
    match caller {
        Caller::Worker(worker) => Ok(crate::store::workers::own_scope(worker.id)),
        Caller::Person(principal) if principal.is_admin() => Ok(Scope::default()),
        Caller::Person(Principal::User(user)) => Ok(crate::store::workers::member_scope(user.id)),
        Caller::Person(_) => Err(ApiError::Unauthorized("authentication required".into())),
    }
}

/// The worker with this id, if the caller may see it ([`workers_scope`]): another worker is refused (403,
/// whatever the id); a person outside the scope is told it does not exist (404, as for a missing worker).
pub fn readable_worker(db: &dyn Db, caller: &Caller, id: i64) -> Result<Worker, ApiError> {
    if let Caller::Worker(worker) = caller
        && worker.id != id
    {
        return Err(ApiError::Forbidden("a worker may only read itself".into()));
    }
    crate::workers::get_in_scope(db, id, &workers_scope(caller)?)
}

/// The projects the caller may read, as a [`Scope`] over the alias `p` (empty = every project, for
/// administrators). Feed it to `query::run` over `projects::RESOURCE`, or to `tasks::scope_of_projects`.
pub fn read_scope(caller: &Caller) -> Scope {
    match caller {
        Caller::Worker(worker) => store::read_scope_worker(worker.id),
        Caller::Person(principal) if principal.is_admin() => Scope::default(),
        Caller::Person(Principal::User(user)) => store::read_scope_user(user.id),
        Caller::Person(_) => store::read_scope_anonymous(),
    }
}

/// The logs the caller may read, as a [`Scope`] over `logs l`: administrators all; anyone else only entries
/// filed under a project they may read (entries without a project are for administrators).
pub fn logs_scope(caller: &Caller) -> Scope {
    let projects = read_scope(caller);
    if caller.is_admin() {
        return Scope::default();
    }
    Scope {
        sql: format!("l.project IN (SELECT p.id FROM projects p WHERE ({}))", projects.sql),
        params: projects.params,
    }
}

/// 404 (hidden) or 403 (private) unless the caller may read the project. `may_read`: admin, READ role, or a
/// worker with an accepted grant; public projects are readable by anyone.
pub fn require_visible(project: &Project, may_read: bool) -> Result<(), ApiError> {
    match project.visibility {
        _ if may_read => Ok(()),
        Visibility::Public => Ok(()),
        Visibility::Private => Err(ApiError::Forbidden(format!("project {} is private", project.id))),
        Visibility::Hidden => Err(projects::missing()),
    }
}

/// 403 unless `role` holds every bit of `needed` — except that a caller who cannot even read a hidden
/// project gets 404, so hidden projects never reveal that they exist.
pub fn require_role(project: &Project, role: i64, needed: i64) -> Result<(), ApiError> {
    if roles::has(role, needed) {
        return Ok(());
    }
    require_visible(project, roles::has(role, roles::READ))?;
    Err(ApiError::Forbidden("insufficient project role".into()))
}

/// Changing a worker (its fields, its secret): the worker itself or an administrator; 401 anonymous, 403
/// anyone else.
pub fn may_change_worker(caller: &Caller, id: i64) -> Result<(), ApiError> {
    match caller {
        Caller::Worker(worker) if worker.id == id => Ok(()),
        Caller::Worker(_) => Err(ApiError::Forbidden("a worker may only change itself".into())),
        Caller::Person(principal) => auth::require_admin(principal),
    }
}

/// A worker filing a log entry under `project`: it must be a project the worker may read (403 for a private
/// one; a hidden one it may not read is answered like a missing one, 422 on `project`). A missing project is
/// left to the service, which answers the same 422.
pub fn may_log_to(db: &dyn Db, caller: &Caller, project: Option<i64>) -> Result<(), ApiError> {
    let Some(project) = project else { return Ok(()) };
    let project = match projects::get(db, project) {
        Err(ApiError::NotFound(_)) => return Ok(()),
        found => found?,
    };
    if may_read(db, caller, &project)? {
        return Ok(());
    }
    Err(match project.visibility {
        Visibility::Hidden => ApiError::invalid_field("project", "no such project"),
        _ => ApiError::Forbidden(format!("project {} needs an accepted access grant", project.id)),
    })
}

/// The projects a worker may claim from without naming one: public ones and those where it holds an
/// accepted ASSIGN grant, as a [`Scope`] over the alias `p`.
pub fn claim_scope(worker: &Worker) -> Scope {
    store::claim_scope_worker(worker.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::project::{AccessRequest, ProjectInput};
    use crate::domain::worker::WorkerInput;
    use crate::platform::Platform;
    use crate::store::{groups, users};
    use crate::testing::TestPlatform;
    use crate::workers;

    #[test]
    fn roles_visibility_and_scopes() {
        let platform = TestPlatform::new("caller-roles");
        let db = platform.open_db().unwrap();
        let db = db.as_ref();
        let new_user = users::NewUser {
            username: "ada",
            email: "x@example.org",
            first_name: "",
            last_name: "",
            password_hash: None,
            active: true,
            admin: false,
            verified: true,
            created_at: 1,
        };
        let ada = users::insert(db, &new_user).unwrap().unwrap().id;
        let input =
            ProjectInput { name: "hidden".into(), visibility: Some(Visibility::Hidden), ..ProjectInput::default() };
        let project = projects::create(db, None, &input, 1).unwrap();
        let user = Caller::Person(Principal::User(auth::UserPrincipal {
            id: ada,
            username: "ada".into(),
            admin: false,
            token_id: 1,
            token_kind: crate::store::tokens::TokenKind::Api,
        }));
        assert_eq!(project_role(db, &user, &project).unwrap(), 0);
        assert!(!may_read(db, &user, &project).unwrap());
        assert_eq!(require_read(db, &user, &project).unwrap_err().status(), 404);
        assert_eq!(authorize(db, &user, &project, roles::EDIT).unwrap_err().status(), 404);
        projects::set_user_grant(db, project.id, ada, roles::READ).unwrap();
        assert!(may_read(db, &user, &project).unwrap());
        assert_eq!(authorize(db, &user, &project, roles::EDIT).unwrap_err().status(), 403);
        let group = groups::insert(db, "team", "", true, 1).unwrap().unwrap().id;
        groups::add_member(db, group, ada).unwrap();
        projects::set_group_grant(db, project.id, group, roles::EDIT).unwrap();
        assert_eq!(project_role(db, &user, &project).unwrap(), roles::READ | roles::EDIT, "user OR group");
        assert!(authorize(db, &user, &project, roles::EDIT).is_ok());
        assert_eq!(project_role(db, &Caller::Person(Principal::Admin), &project).unwrap(), roles::ALL);

        let input = WorkerInput { alias: "w".into(), ..WorkerInput::default() };
        let worker_id = workers::register(db, &input, 1).unwrap().worker.id;
        let worker = Caller::Worker(workers::get(db, worker_id).unwrap());
        assert!(!may_read(db, &worker, &project).unwrap());
        let ask = AccessRequest { assign: true, submit: false };
        projects::request_access(db, project.id, worker_id, &ask, 1).unwrap();
        assert!(!may_read(db, &worker, &project).unwrap(), "a pending request reads nothing");
        projects::accept_request(db, project.id, worker_id, 2).unwrap();
        assert!(may_read(db, &worker, &project).unwrap());
        assert_eq!(authorize(db, &worker, &project, roles::READ).unwrap_err().status(), 403);
        assert_eq!(read_scope(&Caller::Person(Principal::Admin)), Scope::default());
        assert!(!read_scope(&worker).sql.is_empty());
    }
}
