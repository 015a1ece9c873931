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
use conveyor_core::operations::{self, Grantee};
use conveyor_core::policy;
use conveyor_core::projects::{self, Action, SecretKind};
use conveyor_core::{ApiError, Ctx, Response, Router, route};
use serde::Deserialize;
use serde_json::{Value as Json, json};

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
    let input: ProjectInput = ctx.json()?;
    Ok(Response::created(&operations::create_project(ctx.db()?, &caller, &input, clock::now())?))
}

fn get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    Ok(Response::ok(&policy::readable_project(ctx.db()?, &caller, &project_ref(ctx))?))
}

fn update(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let patch: ProjectPatch = ctx.json()?;
    Ok(Response::ok(&operations::update_project(ctx.db()?, &caller, &project_ref(ctx), &patch, clock::now())?))
}

fn delete(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    operations::delete_project(ctx.db()?, &caller, &project_ref(ctx))?;
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

// ----- /projects/{p}/grants (MANAGE_ACCESS) -----

fn list_grants(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    Ok(Response::ok(&operations::grants(ctx.db()?, &caller, &project_ref(ctx))?))
}

/// The grantee in the path: `/grants/users/{user}` or `/grants/groups/{group}`.
fn grantee(ctx: &Ctx) -> Grantee {
    match ctx.param("user") {
        "" => Grantee::Group(Ref::parse(ctx.param("group"))),
        user => Grantee::User(Ref::parse(user)),
    }
}

fn get_grant(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    Ok(Response::ok(&operations::grant(ctx.db()?, &caller, &project_ref(ctx), &grantee(ctx))?))
}

/// 200 with the grant (`role: 0` after a removal).
fn put_grant(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let role = ctx.json::<GrantRequest>()?.role()?;
    Ok(Response::ok(&operations::set_grant(ctx.db()?, &caller, &project_ref(ctx), &grantee(ctx), role)?))
}

fn delete_grant(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    operations::revoke_grant(ctx.db()?, &caller, &project_ref(ctx), &grantee(ctx))?;
    Ok(Response::no_content())
}

// ----- /projects/{p}/access-requests -----

/// A worker asks for ASSIGN and/or SUBMIT, on any project (a worker must be able to ask before it can
/// read): 201 with the (pending, or already accepted) access row; for a hidden project the worker may not
/// read, and for a missing one, 202 with a fixed body (`policy::blind_access_request`).
fn request_access(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let request: AccessRequest = ctx.json()?;
    Ok(match operations::request_access(ctx.db()?, worker, &project_ref(ctx), &request, clock::now())? {
        Some(access) => Response::created(&access),
        None => access_request_taken(),
    })
}

/// The blind answer to an access request: the same for a hidden project and a missing one.
fn access_request_taken() -> Response {
    Response::json(202, &json!({"detail": "access request taken; a manager of the project decides on it"}))
}

fn list_access_requests(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    Ok(Response::ok(&operations::access_requests(ctx.db()?, &caller, &project_ref(ctx))?))
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

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
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
        route("GET", "/api/v1/projects/:project/grants/users/:user", get_grant),
        route("PUT", "/api/v1/projects/:project/grants/users/:user", put_grant),
        route("DELETE", "/api/v1/projects/:project/grants/users/:user", delete_grant),
        route("GET", "/api/v1/projects/:project/grants/groups/:group", get_grant),
        route("PUT", "/api/v1/projects/:project/grants/groups/:group", put_grant),
        route("DELETE", "/api/v1/projects/:project/grants/groups/:group", delete_grant),
        route("POST", "/api/v1/projects/:project/access-requests", request_access),
        route("GET", "/api/v1/projects/:project/access-requests", list_access_requests),
    ])
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
