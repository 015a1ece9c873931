//! Component `workers` (SPEC §5): worker registration (the secret is shown once), the `/workers`
//! collection, patches, control actions (pause, unpause, rotate_secret), stats, and logs. Each handler
//! authenticates the caller (`caller::authenticate`: users or workers), checks access, calls
//! `conveyor_core::{workers, logs}` and answers. Decisions: `docs/tasks.md`, "HTTP surface: projects,
//! workers, logs".
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::auth;
use conveyor_core::caller;
use conveyor_core::clock;
use conveyor_core::control;
use conveyor_core::domain::worker::{LogInput, WorkerInput, WorkerPatch};
use conveyor_core::logs;
use conveyor_core::policy;
use conveyor_core::workers::{self, Action};
use conveyor_core::{ApiError, Ctx, Response, Router, route};

// ----- /workers -----

/// Open registration unless the variable `open_worker_registration` is `false`; then an administrator.
fn register(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    policy::may_register_worker(ctx, &caller)?;
    let input: WorkerInput = ctx.json()?;
    Ok(Response::created(&workers::register(ctx.db()?, &input, clock::now())?))
}

/// Signed-in users (not workers, not anonymous callers), within `policy::workers_scope`: administrators
/// every worker, others the workers of projects they are members of.
fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    caller::require_person(&caller)?;
    let mut listing = ctx.listing(&workers::RESOURCE, &policy::workers_scope(&caller)?)?;
    workers::decode_json_fields(&mut listing.page, &["tags", "meta"]);
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

/// Signed-in users and workers, within `policy::workers_scope` (a worker sees itself).
fn stats(ctx: &Ctx) -> Result<Response, ApiError> {
    let scope = policy::workers_scope(&caller::authenticate(ctx)?)?;
    Ok(Response::ok(&workers::stats(ctx.db()?, &scope)?))
}

/// The worker itself, and people whose `policy::workers_scope` holds it (404 for anyone else).
fn get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let id = worker_id(ctx)?;
    Ok(Response::ok(&policy::readable_worker(ctx.db()?, &caller, id)?))
}

/// The worker itself or an administrator.
fn update(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let id = worker_id(ctx)?;
    policy::may_change_worker(&caller, id)?;
    let patch: WorkerPatch = ctx.json()?;
    Ok(Response::ok(&workers::update(ctx.db()?, id, &patch, clock::now())?))
}

/// `pause`, `unpause` (administrators), `rotate_secret` (the worker itself or an administrator).
fn control(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    Ok(control::dispatch(ctx, |method, params| {
        let id = worker_id(ctx)?;
        let action = Action::parse(method, params)?.ok_or_else(|| control::unknown_method(method))?;
        if action.admin_only() {
            auth::require_admin(caller::require_person(&caller)?)?;
        } else {
            policy::may_change_worker(&caller, id)?;
        }
        action.run(ctx.db()?, id, clock::now())
    }))
}

// ----- /logs -----

/// Workers only (task_tracker accepted anonymous logs: not copied). An entry filed under a project needs a
/// project the worker may read (403 for a private one; a hidden one it may not read is answered like a
/// missing one, 422).
fn append_log(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let entry: LogInput = ctx.json()?;
    let db = ctx.db()?;
    policy::may_log_to(db, &caller, entry.project)?;
    Ok(Response::created(&logs::append(db, Some(worker.id), &entry, clock::now())?))
}

/// Signed-in users: administrators every entry, others the entries of projects they may read.
fn list_logs(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    caller::require_person(&caller)?;
    let mut listing = ctx.listing(&logs::RESOURCE, &policy::logs_scope(&caller))?;
    logs::decode_page(&mut listing.page);
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

// ----- helpers -----

/// A worker id from the path; anything but an integer names no worker.
fn worker_id(ctx: &Ctx) -> Result<i64, ApiError> {
    ctx.param("id").parse().map_err(|_| ApiError::NotFound(format!("worker `{}` not found", ctx.param("id"))))
}

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
    Router::new(vec![
        route("GET", "/api/v1/workers", list),
        route("POST", "/api/v1/workers", register),
        route("GET", "/api/v1/workers/stats", stats),
        route("GET", "/api/v1/workers/:id", get),
        route("PATCH", "/api/v1/workers/:id", update),
        route("POST", "/api/v1/workers/:id", control),
        route("GET", "/api/v1/logs", list_logs),
        route("POST", "/api/v1/logs", append_log),
    ])
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
