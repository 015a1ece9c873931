//! Component `tracker` (SPEC §9): task_tracker's API at the root path, so existing task_tracker workers and
//! scripts run against Conveyor unchanged. A route table and thin handlers: parse task_tracker's bodies
//! (`compat::tracker`), authenticate and authorise with the `caller` helpers, call the same core services as
//! the native components, answer in task_tracker's envelope. Differences: `docs/tracker.md`.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::accounts::{self, Hook, LoginInput, Settings, SignupInput};
use conveyor_core::auth::{self, Principal};
use conveyor_core::caller::{self, Caller};
use conveyor_core::compat::tracker::{self as wire, GitPush};
use conveyor_core::db::Db;
use conveyor_core::domain::accounts::Ref;
use conveyor_core::domain::project::{AccessRequest, Project};
use conveyor_core::domain::roles;
use conveyor_core::domain::worker::{LogLevel, WorkerInput, WorkerPatch};
use conveyor_core::http::{BULK_BODY_LIMIT, PAYLOAD_BODY_LIMIT};
use conveyor_core::policy;
use conveyor_core::projects::{self, SecretKind};
use conveyor_core::query::{self, Listing, Scope};
use conveyor_core::tasks::{self, ClaimTarget};
use conveyor_core::{ApiError, Ctx, Response, Router, clock, logs, route, session, workers};
use serde_json::{Value as Json, json};

/// Most rows one listing (`/project/list`, `/logs`, `/manager/list`) pages through.
const PAGE: i64 = 1000;

// ----- helpers -----

fn body<T: serde::de::DeserializeOwned>(ctx: &Ctx) -> Result<T, ApiError> {
    wire::body(&ctx.request.body)
}

fn id_param(ctx: &Ctx, name: &str, what: &str) -> Result<i64, ApiError> {
    wire::path_id(ctx.param(name), what)
}

/// The project in the path (`:id`), resolved (404 when missing; access is the handler's to check).
fn path_project<'a>(ctx: &'a Ctx) -> Result<(Caller, &'a dyn Db, Project), ApiError> {
    let caller = caller::authenticate(ctx)?;
    let db = ctx.db()?;
    let project = projects::get(db, id_param(ctx, "id", "project")?)?;
    Ok((caller, db, project))
}

/// Every row of a collection in `scope`, paged through `PAGE` rows at a time.
fn all_rows(
    db: &dyn Db,
    resource: &query::Resource,
    scope: &Scope,
    filters: &[(String, String)],
) -> Result<Vec<serde_json::Map<String, Json>>, ApiError> {
    let mut rows = Vec::new();
    loop {
        let mut pairs = filters.to_vec();
        pairs.push(("limit".into(), PAGE.to_string()));
        pairs.push(("offset".into(), rows.len().to_string()));
        let page = Listing::run(db, resource, scope, &pairs)?.page;
        let done = page.results.len() < PAGE as usize;
        rows.extend(page.results);
        if done {
            return Ok(rows);
        }
    }
}

// ----- GET / -----

fn index(_ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(wire::ok(json!({"name": wire::INFO_NAME, "version": wire::INFO_VERSION, "server": "conveyor"})))
}

// ----- /worker -----

/// task_tracker never read the worker headers here, and its Python client sends them as the text `None`
/// before a worker exists: only a person's credentials count.
fn worker_create(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate_person(ctx)?;
    policy::may_register_worker(ctx, &caller)?;
    let request: wire::WorkerBody = body(ctx)?;
    let input = WorkerInput { alias: request.alias_or_default(), ..WorkerInput::default() };
    let created = workers::register(ctx.db()?, &input, clock::now())?;
    Ok(wire::ok(json!({"worker": wire::worker(&created.worker, Some(&created.secret))})))
}

fn worker_update(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let request: wire::WorkerBody = body(ctx)?;
    let patch = WorkerPatch { alias: Some(request.alias), ..WorkerPatch::default() };
    workers::update(ctx.db()?, worker.id, &patch, clock::now())?;
    Ok(wire::ok_empty())
}

fn worker_get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let id = id_param(ctx, "id", "worker")?;
    policy::may_read_worker(&caller, id)?;
    Ok(wire::ok(json!({"worker": wire::worker(&workers::get(ctx.db()?, id)?, None)})))
}

/// Administrators (as the native `pause`/`unpause`).
fn worker_set_paused(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    auth::require_admin(caller::require_person(&caller)?)?;
    let request: wire::SetPausedBody = body(ctx)?;
    workers::set_paused(ctx.db()?, request.worker, request.paused, clock::now())?;
    Ok(wire::ok_empty())
}

fn worker_stats(ctx: &Ctx) -> Result<Response, ApiError> {
    policy::may_read_worker_stats(&caller::authenticate(ctx)?)?;
    Ok(wire::ok(wire::worker_stats(&workers::stats(ctx.db()?)?)))
}

// ----- /task -----

fn task_submit(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let request: wire::SubmitBody = body(ctx)?;
    let db = ctx.db()?;
    let project = projects::get(db, request.project)?;
    policy::may_submit(db, &caller, &project)?;
    tasks::submit(db, ctx.kv()?.as_ref(), &project, &request.spec(), clock::now())?;
    Ok(wire::ok_empty())
}

fn task_bulk_submit(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let request: wire::BulkBody = body(ctx)?;
    let (project, specs) = request.project_and_specs()?;
    let db = ctx.db()?;
    let project = projects::get(db, project)?;
    policy::may_submit(db, &caller, &project)?;
    tasks::bulk_submit(db, ctx.kv()?.as_ref(), &project, &specs, clock::now())?;
    Ok(wire::ok_empty())
}

/// Claims from one project; nothing claimable is HTTP 200 with `ok: false` (task_tracker's behaviour).
fn task_get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let db = ctx.db()?;
    let project = projects::get(db, id_param(ctx, "project", "project")?)?;
    policy::may_claim_from(db, worker, &project)?;
    match tasks::claim(db, ctx.kv()?.as_ref(), worker.id, ClaimTarget::Project(&project), clock::now())? {
        Some(task) => Ok(wire::ok(json!({"task": wire::task(&task, &projects::get(db, task.project)?)}))),
        None => Ok(wire::envelope(200, false, wire::NO_TASK, Json::Null)),
    }
}

fn task_release(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let request: wire::ReleaseBody = body(ctx)?;
    let db = ctx.db()?;
    match tasks::release(db, worker.id, request.task_id, &request.request(), clock::now())
        .map_err(|error| policy::hide_task_refusal(db, &caller, request.task_id, error))
    {
        Ok(released) => Ok(wire::release_answer(request.result, &released)),
        Err(error @ ApiError::Conflict { .. }) => Ok(wire::release_refused(&error)),
        Err(error) => Err(error),
    }
}

// ----- /log -----

/// Workers only (task_tracker accepted anonymous logs: not copied, SPEC "Seed behaviours not to copy").
fn log(ctx: &Ctx) -> Result<Response, ApiError> {
    let level = ctx.param("level");
    let level = LogLevel::parse(level).ok_or_else(|| ApiError::NotFound(format!("no log level `{level}`")))?;
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let request: wire::LogBody = body(ctx)?;
    logs::append(ctx.db()?, Some(worker.id), &request.entry(level), clock::now())?;
    Ok(wire::ok_empty())
}

/// `POST /logs {level?, since}`: signed-in people; administrators every entry, others those of projects they
/// may read (task_tracker served every log to anyone: not copied).
fn logs_list(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    caller::require_person(&caller)?;
    let request: wire::LogQueryBody = body(ctx)?;
    let mut filters = vec![("timestamp__ge".to_string(), request.since.to_string())];
    if let Some(code) = request.level {
        let level = wire::log_level_of_code(code)
            .ok_or_else(|| ApiError::invalid_field("level", "must be a log level number from 0 to 6"))?;
        filters.push(("level".into(), level.as_str().into()));
    }
    let rows = all_rows(ctx.db()?, &logs::RESOURCE, &policy::logs_scope(&caller), &filters)?;
    Ok(wire::ok(json!({"logs": rows.iter().map(wire::log_row).collect::<Vec<_>>()})))
}

// ----- /project (workers and everyone) -----

fn project_get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let db = ctx.db()?;
    let project = policy::readable_project(db, &caller, &Ref::Id(id_param(ctx, "id", "project")?))?;
    Ok(wire::ok(json!({"project": wire::project(&project)})))
}

fn project_list(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let db = ctx.db()?;
    let rows = all_rows(db, &projects::RESOURCE, &policy::read_scope(&caller), &[])?;
    let mut list = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(id) = row.get("id").and_then(Json::as_i64) {
            list.push(wire::project(&projects::get(db, id)?));
        }
    }
    Ok(wire::ok(json!({"projects": list})))
}

fn project_request_access(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let request: wire::AccessBody = body(ctx)?;
    let db = ctx.db()?;
    let project = projects::get(db, request.project)?;
    let ask = AccessRequest { assign: request.assign, submit: request.submit };
    projects::request_access(db, project.id, worker.id, &ask, clock::now())?;
    Ok(wire::ok_empty())
}

fn project_secret_get(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::may_read_secret(db, &caller, &project)?;
    let secret = projects::secret(db, project.id, SecretKind::Secret)?;
    Ok(wire::ok(json!({"secret": wire::secret_text(&secret)})))
}

fn project_secret_set(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::SECRET)?;
    let request: wire::SecretBody = body(ctx)?;
    projects::set_secret(db, project.id, SecretKind::Secret, &Json::String(request.secret), clock::now())?;
    Ok(wire::ok_empty())
}

fn webhook_secret_get(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::SECRET)?;
    let secret = projects::secret(db, project.id, SecretKind::Webhook)?;
    Ok(wire::ok(json!({"webhook_secret": wire::secret_text(&secret)})))
}

fn webhook_secret_set(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::SECRET)?;
    let request: wire::WebhookSecretBody = body(ctx)?;
    let value = Json::String(request.webhook_secret);
    projects::set_secret(db, project.id, SecretKind::Webhook, &value, clock::now())?;
    Ok(wire::ok_empty())
}

// ----- /project (managers) -----

fn project_create(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let principal = caller::require_person(&caller)?;
    let request: wire::ProjectBody = body(ctx)?;
    let creator = principal.user().map(|user| user.id);
    let project = projects::create(ctx.db()?, creator, &request.input()?, clock::now())?;
    Ok(wire::ok(json!({"id": project.id})))
}

fn project_update(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    let request: wire::ProjectBody = body(ctx)?;
    let patch = request.patch()?;
    policy::may_edit(db, &caller, &project, patch.visibility)?;
    projects::update(db, project.id, &patch, clock::now())?;
    Ok(wire::ok_empty())
}

/// Conveyor keeps no monitoring history: both monitoring routes answer one snapshot taken now (READ).
fn project_monitoring(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::require_read(db, &caller, &project)?;
    let assigned = projects::assignees(db, project.id)?;
    let snapshot = json!({
        "new_task_count": project.new + project.assigned,
        "failed_task_count": project.failed,
        "closed_task_count": project.closed,
        "worker_access_count": projects::access_requests(db, project.id)?.iter().filter(|a| a.accepted()).count(),
        "awaiting_verification_count": 0,
        "assigned_task_count": project.assigned,
        "active_workers": assigned.len(),
        "timestamp": clock::now(),
    });
    Ok(wire::ok(json!({"snapshots": [snapshot]})))
}

fn project_assignees(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::require_read(db, &caller, &project)?;
    Ok(wire::ok(wire::assignees(&projects::assignees(db, project.id)?)))
}

fn project_access_list(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    Ok(wire::ok(wire::access_list(&projects::access_requests(db, project.id)?)))
}

fn project_accept_request(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    projects::accept_request(db, project.id, id_param(ctx, "wid", "worker")?, clock::now())?;
    Ok(wire::ok_empty())
}

fn project_reject_request(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    projects::reject_request(db, project.id, id_param(ctx, "wid", "worker")?)?;
    Ok(wire::ok_empty())
}

fn maintenance(ctx: &Ctx, run: fn(&dyn Db, i64, i64) -> Result<i64, ApiError>) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MAINTENANCE)?;
    Ok(wire::ok(json!({"affected_tasks": run(db, project.id, clock::now())?})))
}

fn project_reset_failed(ctx: &Ctx) -> Result<Response, ApiError> {
    maintenance(ctx, projects::reset_failed)
}

fn project_reclaim_assigned(ctx: &Ctx) -> Result<Response, ApiError> {
    maintenance(ctx, projects::reclaim_assigned)
}

fn project_hard_reset(ctx: &Ctx) -> Result<Response, ApiError> {
    maintenance(ctx, |db, project, _| projects::hard_reset(db, project))
}

// ----- /git/receivehook -----

/// A push event signed with the project's webhook secret (`X-Hub-Signature-256` or `X-Gogs-Signature`,
/// HMAC-SHA256 of the body). The project is the one whose `git_repo` is the repository's `full_name`. A
/// push to the default branch sets the project's version to `after`; other pushes change nothing.
fn git_receivehook(ctx: &Ctx) -> Result<Response, ApiError> {
    let push: GitPush = body(ctx)?;
    let db = ctx.db()?;
    let missing = || ApiError::NotFound(format!("no project has git_repo `{}`", push.repository.full_name));
    let project = if push.repository.full_name.is_empty() {
        None
    } else {
        projects::find_by_git_repo(db, &push.repository.full_name)?
    };
    let project = project.ok_or_else(missing)?;
    let secret = wire::secret_text(&projects::secret(db, project.id, SecretKind::Webhook)?);
    let signature = ctx.request.header("x-hub-signature-256").or_else(|| ctx.request.header("x-gogs-signature"));
    if !signature.is_some_and(|signature| wire::signature_valid(&secret, &ctx.request.body, signature)) {
        return Err(ApiError::Forbidden("signature does not match".into()));
    }
    if !push.to_default_branch() {
        return Ok(wire::envelope(200, true, "not a push to the default branch; nothing changed", Json::Null));
    }
    let patch =
        conveyor_core::domain::project::ProjectPatch { version: Some(push.after.clone()), ..Default::default() };
    let project = projects::update(db, project.id, &patch, clock::now())?;
    Ok(wire::ok(json!({"project": project.id, "version": project.version})))
}

// ----- managers: /register, /login, /logout, /account, /manager -----

/// Conveyor's sign-up (variable `allow_signup`, an email address, activation before the first login).
fn register(ctx: &Ctx) -> Result<Response, ApiError> {
    let request: wire::CredentialsBody = body(ctx)?;
    let input = SignupInput {
        username: request.username,
        email: request.email,
        password: request.password,
        first_name: String::new(),
        last_name: String::new(),
    };
    let settings = Settings::from_ctx(ctx);
    let receipt = accounts::signup(ctx.db()?, &settings, &Hook::new(ctx, &settings), &input, clock::now())?;
    Ok(wire::envelope(200, true, receipt.detail, Json::Null))
}

fn login(ctx: &Ctx) -> Result<Response, ApiError> {
    let request: wire::CredentialsBody = body(ctx)?;
    let input = LoginInput { username: Some(request.username), email: None, password: request.password };
    let client = ctx.request.client_addr.as_deref();
    let session = accounts::login(ctx.db()?, ctx.kv()?.as_ref(), client, &input, clock::now())?;
    let cookie = session::cookie(&ctx.request, &session);
    Ok(wire::ok(json!({"manager": wire::manager(&session.user)})).with_header("set-cookie", cookie))
}

/// Ends the session and clears the cookie; 204 as task_tracker.
fn logout(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(session::logout(ctx, wire::error))
}

/// `{logged_in, manager}`; not signed in → 200 with `ok: false, logged_in: false` (task_tracker).
fn account(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = auth::authenticate(ctx)?;
    match &principal {
        Principal::User(user) => {
            let me = accounts::get_user(ctx.db()?, &principal, &Ref::Id(user.id))?;
            Ok(wire::ok(json!({"logged_in": true, "manager": wire::manager(&me)})))
        }
        Principal::Admin => {
            Ok(wire::ok(json!({"logged_in": true, "manager": {"id": 0, "username": "admin", "website_admin": true}})))
        }
        Principal::Anonymous => Ok(wire::envelope(200, false, "", json!({"logged_in": false}))),
    }
}

/// Every manager (administrators, as the native `/users`).
fn manager_list(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = auth::authenticate(ctx)?;
    let mut managers = Vec::new();
    let mut offset = 0usize;
    loop {
        let pairs = [("limit".to_string(), PAGE.to_string()), ("offset".to_string(), offset.to_string())];
        let listing = accounts::list_users(ctx.db()?, &principal, &pairs)?;
        let done = listing.page.results.len() < PAGE as usize;
        offset += listing.page.results.len();
        managers.extend(listing.page.results.iter().map(wire::manager_row));
        if done {
            break;
        }
    }
    Ok(wire::ok(json!({"managers": managers})))
}

/// The users with a grant on the project and their role (MANAGE_ACCESS).
fn manager_list_for_project(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    let grants = projects::grants(db, project.id)?;
    let managers: Vec<Json> = grants
        .users
        .iter()
        .map(|g| json!({"manager": {"id": g.user, "username": g.username}, "role": g.role}))
        .collect();
    Ok(wire::ok(json!({"managers": managers})))
}

/// Administrators make a user an administrator (or not); nobody changes their own rights (task_tracker).
fn set_admin(ctx: &Ctx, admin: bool) -> Result<Response, ApiError> {
    let principal = auth::authenticate(ctx)?;
    let id = id_param(ctx, "id", "manager")?;
    accounts::set_admin(ctx.db()?, &principal, id, admin, clock::now())?;
    Ok(Response::no_content())
}

fn manager_promote(ctx: &Ctx) -> Result<Response, ApiError> {
    set_admin(ctx, true)
}

fn manager_demote(ctx: &Ctx) -> Result<Response, ApiError> {
    set_admin(ctx, false)
}

/// `{manager, role}` (MANAGE_ACCESS); role 0 removes the grant.
fn manager_set_role(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    let request: wire::RoleBody = body(ctx)?;
    projects::set_user_grant(db, project.id, request.manager, request.role)?;
    Ok(wire::ok_empty())
}

fn router() -> Router {
    Router::new(vec![
        route("GET", "/", index),
        route("POST", "/worker/create", worker_create),
        route("POST", "/worker/update", worker_update),
        route("GET", "/worker/get/:id", worker_get),
        route("POST", "/worker/set_paused", worker_set_paused),
        route("GET", "/worker/stats", worker_stats),
        route("POST", "/task/submit", task_submit).body_limit(PAYLOAD_BODY_LIMIT),
        route("POST", "/task/bulk_submit", task_bulk_submit).body_limit(BULK_BODY_LIMIT),
        route("GET", "/task/get/:project", task_get),
        route("POST", "/task/release", task_release),
        route("POST", "/log/:level", log),
        route("POST", "/logs", logs_list),
        route("POST", "/project/request_access", project_request_access),
        route("GET", "/project/get/:id", project_get),
        route("GET", "/project/list", project_list),
        route("GET", "/project/secret/:id", project_secret_get),
        route("POST", "/project/secret/:id", project_secret_set),
        route("GET", "/project/webhook_secret/:id", webhook_secret_get),
        route("POST", "/project/webhook_secret/:id", webhook_secret_set),
        route("POST", "/project/create", project_create),
        route("POST", "/project/update/:id", project_update),
        route("GET", "/project/monitoring-between/:id", project_monitoring),
        route("GET", "/project/monitoring/:id", project_monitoring),
        route("GET", "/project/assignees/:id", project_assignees),
        route("GET", "/project/access_list/:id", project_access_list),
        route("POST", "/project/accept_request/:id/:wid", project_accept_request),
        route("POST", "/project/reject_request/:id/:wid", project_reject_request),
        route("POST", "/project/reset_failed_tasks/:id", project_reset_failed),
        route("POST", "/project/hard_reset/:id", project_hard_reset),
        route("POST", "/project/reclaim_assigned_tasks/:id", project_reclaim_assigned),
        route("POST", "/git/receivehook", git_receivehook),
        route("POST", "/register", register),
        route("POST", "/login", login),
        route("GET", "/logout", logout),
        route("GET", "/account", account),
        route("GET", "/manager/list", manager_list),
        route("GET", "/manager/list_for_project/:id", manager_list_for_project),
        route("GET", "/manager/promote/:id", manager_promote),
        route("GET", "/manager/demote/:id", manager_demote),
        route("POST", "/manager/set_role_for_project/:id", manager_set_role),
    ])
}

#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve_mapped(&router(), request, wire::error)
}
