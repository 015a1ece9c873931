//! Component `projects` (SPEC §3): projects, their grants, the project secret, worker access requests,
//! control actions and assignees. Each handler authenticates the caller (`caller::authenticate`: users or
//! workers), checks access with the `caller` helpers, calls `conveyor_core::projects` and answers.
//! Decisions: `docs/tasks.md`, "HTTP surface: projects, workers, logs".
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::caller::{self, Caller};
use conveyor_core::clock;
use conveyor_core::control;
use conveyor_core::db::Db;
use conveyor_core::domain::accounts::Ref;
use conveyor_core::domain::project::{AccessRequest, Project, ProjectInput, ProjectPatch};
use conveyor_core::domain::roles::{self, GrantRequest};
use conveyor_core::policy;
use conveyor_core::projects::{self, Action, SecretKind};
use conveyor_core::{ApiError, Ctx, Response, Router, route};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use spin_sdk::http_component;

// ----- /projects -----

/// The projects the caller may read (hidden/private ones only with READ or an accepted worker grant).
fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let listing = ctx.listing(&projects::RESOURCE, &policy::read_scope(&caller))?;
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

/// Signed-in users (the creator gets `admin` on it) and the built-in administrator.
fn create(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let principal = caller::require_person(&caller)?;
    let input: ProjectInput = ctx.json()?;
    let creator = principal.user().map(|user| user.id);
    Ok(Response::created(&projects::create(ctx.db()?, creator, &input, clock::now())?))
}

fn get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    Ok(Response::ok(&policy::readable_project(ctx.db()?, &caller, &project_ref(ctx))?))
}

/// EDIT; changing `visibility` also needs MANAGE_ACCESS (it decides who can see the project).
fn update(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = load(ctx)?;
    let patch: ProjectPatch = ctx.json()?;
    policy::may_edit(db, &caller, &project, patch.visibility)?;
    Ok(Response::ok(&projects::update(db, project.id, &patch, clock::now())?))
}

/// Every role bit (`admin`) on the project.
fn delete(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = load(ctx)?;
    policy::authorize(db, &caller, &project, roles::ALL)?;
    projects::delete(db, project.id)?;
    Ok(Response::no_content())
}

/// Control actions (JSON-RPC, SPEC §1.2 and §3). Bad credentials are a plain 401; everything after that is
/// answered in JSON-RPC form.
fn control(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    Ok(control::dispatch(ctx, |method, params| {
        let db = ctx.db()?;
        let project = policy::readable_project(db, &caller, &project_ref(ctx))?;
        let action = Action::parse(method, params)?.ok_or_else(|| control::unknown_method(method))?;
        policy::authorize(db, &caller, &project, action.required_role())?;
        action.run(db, project.id, clock::now())
    }))
}

fn assignees(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let db = ctx.db()?;
    let project = policy::readable_project(db, &caller, &project_ref(ctx))?;
    Ok(Response::ok(&projects::assignees(db, project.id)?))
}

// ----- /projects/{p}/secret -----

/// `PUT /projects/{p}/secret`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretBody {
    secret: Json,
}

/// SECRET role, or a worker with an accepted grant (a pending request reads nothing).
fn get_secret(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = load(ctx)?;
    policy::may_read_secret(db, &caller, &project)?;
    let secret = projects::secret(db, project.id, SecretKind::Secret)?;
    Ok(Response::ok(&json!({"project": project.id, "secret": secret})))
}

/// SECRET role (people only); `{"secret": null}` clears it.
fn put_secret(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = load(ctx)?;
    policy::authorize(db, &caller, &project, roles::SECRET)?;
    let body: SecretBody = ctx.json()?;
    let secret = projects::set_secret(db, project.id, SecretKind::Secret, &body.secret, clock::now())?;
    Ok(Response::ok(&json!({"project": project.id, "secret": secret})))
}

// ----- /projects/{p}/grants -----

/// Every grant route needs MANAGE_ACCESS.
fn manage<'a>(ctx: &'a Ctx) -> Result<(&'a dyn Db, Project), ApiError> {
    let (caller, db, project) = load(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    Ok((db, project))
}

fn list_grants(ctx: &Ctx) -> Result<Response, ApiError> {
    let (db, project) = manage(ctx)?;
    Ok(Response::ok(&projects::grants(db, project.id)?))
}

fn user_id(db: &dyn Db, ctx: &Ctx) -> Result<i64, ApiError> {
    projects::grantee_user(db, &Ref::parse(ctx.param("user")))
}

fn group_id(db: &dyn Db, ctx: &Ctx) -> Result<i64, ApiError> {
    projects::grantee_group(db, &Ref::parse(ctx.param("group")))
}

fn user_grant_json(db: &dyn Db, project: i64, user: i64) -> Result<Option<Json>, ApiError> {
    Ok(projects::user_grant(db, project, user)?.map(|grant| json!(grant)))
}

fn group_grant_json(db: &dyn Db, project: i64, group: i64) -> Result<Option<Json>, ApiError> {
    Ok(projects::group_grant(db, project, group)?.map(|grant| json!(grant)))
}

fn no_grant(what: &str) -> ApiError {
    ApiError::NotFound(format!("{what} has no grant on this project"))
}

fn get_user_grant(ctx: &Ctx) -> Result<Response, ApiError> {
    let (db, project) = manage(ctx)?;
    let user = user_id(db, ctx)?;
    Ok(Response::ok(&user_grant_json(db, project.id, user)?.ok_or_else(|| no_grant("the user"))?))
}

/// 200 with the grant (`role: 0` after a removal).
fn put_user_grant(ctx: &Ctx) -> Result<Response, ApiError> {
    let (db, project) = manage(ctx)?;
    let user = user_id(db, ctx)?;
    let role = ctx.json::<GrantRequest>()?.role()?;
    projects::set_user_grant(db, project.id, user, role)?;
    let fallback = || json!({"user": user, "role": 0, "preset": "none"});
    Ok(Response::ok(&user_grant_json(db, project.id, user)?.unwrap_or_else(fallback)))
}

fn delete_user_grant(ctx: &Ctx) -> Result<Response, ApiError> {
    let (db, project) = manage(ctx)?;
    projects::delete_user_grant(db, project.id, user_id(db, ctx)?)?;
    Ok(Response::no_content())
}

fn get_group_grant(ctx: &Ctx) -> Result<Response, ApiError> {
    let (db, project) = manage(ctx)?;
    let group = group_id(db, ctx)?;
    Ok(Response::ok(&group_grant_json(db, project.id, group)?.ok_or_else(|| no_grant("the group"))?))
}

fn put_group_grant(ctx: &Ctx) -> Result<Response, ApiError> {
    let (db, project) = manage(ctx)?;
    let group = group_id(db, ctx)?;
    let role = ctx.json::<GrantRequest>()?.role()?;
    projects::set_group_grant(db, project.id, group, role)?;
    let fallback = || json!({"group": group, "role": 0, "preset": "none"});
    Ok(Response::ok(&group_grant_json(db, project.id, group)?.unwrap_or_else(fallback)))
}

fn delete_group_grant(ctx: &Ctx) -> Result<Response, ApiError> {
    let (db, project) = manage(ctx)?;
    projects::delete_group_grant(db, project.id, group_id(db, ctx)?)?;
    Ok(Response::no_content())
}

// ----- /projects/{p}/access-requests -----

/// A worker asks for ASSIGN and/or SUBMIT. Any existing project, including private and hidden ones (a worker
/// must be able to ask before it can read); 201 with the (pending, or already accepted) access row.
fn request_access(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let db = ctx.db()?;
    let project = projects::resolve(db, &project_ref(ctx))?;
    let request: AccessRequest = ctx.json()?;
    Ok(Response::created(&projects::request_access(db, project.id, worker.id, &request, clock::now())?))
}

fn list_access_requests(ctx: &Ctx) -> Result<Response, ApiError> {
    let (db, project) = manage(ctx)?;
    Ok(Response::ok(&projects::access_requests(db, project.id)?))
}

// ----- helpers -----

fn project_ref(ctx: &Ctx) -> Ref {
    Ref::parse(ctx.param("project"))
}

/// The caller, the database and the project (404 when it does not exist; access is the handler's to check).
fn load<'a>(ctx: &'a Ctx) -> Result<(Caller, &'a dyn Db, Project), ApiError> {
    let caller = caller::authenticate(ctx)?;
    let db = ctx.db()?;
    let project = projects::resolve(db, &project_ref(ctx))?;
    Ok((caller, db, project))
}

fn router() -> Router {
    Router::new(vec![
        route("GET", "/api/v1/projects", list),
        route("POST", "/api/v1/projects", create),
        route("GET", "/api/v1/projects/:project", get),
        route("PATCH", "/api/v1/projects/:project", update),
        route("DELETE", "/api/v1/projects/:project", delete),
        route("POST", "/api/v1/projects/:project", control),
        route("GET", "/api/v1/projects/:project/assignees", assignees),
        route("GET", "/api/v1/projects/:project/secret", get_secret),
        route("PUT", "/api/v1/projects/:project/secret", put_secret),
        route("GET", "/api/v1/projects/:project/grants", list_grants),
        route("GET", "/api/v1/projects/:project/grants/users/:user", get_user_grant),
        route("PUT", "/api/v1/projects/:project/grants/users/:user", put_user_grant),
        route("DELETE", "/api/v1/projects/:project/grants/users/:user", delete_user_grant),
        route("GET", "/api/v1/projects/:project/grants/groups/:group", get_group_grant),
        route("PUT", "/api/v1/projects/:project/grants/groups/:group", put_group_grant),
        route("DELETE", "/api/v1/projects/:project/grants/groups/:group", delete_group_grant),
        route("POST", "/api/v1/projects/:project/access-requests", request_access),
        route("GET", "/api/v1/projects/:project/access-requests", list_access_requests),
    ])
}

#[http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
