//! Component `tracker` (SPEC §9): task_tracker's API at the root path, so existing task_tracker workers and
//! scripts run against Conveyor unchanged. This file is the route table and the handlers' shared helpers;
//! the handlers, one module per route family, parse task_tracker's bodies (`compat::tracker`),
//! authenticate (`caller`), ask `policy`, call the same core services as the native components, and answer
//! in task_tracker's envelope. Differences: `docs/tracker.md`.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

mod log_routes;
mod manager_routes;
mod project_routes;
mod task_routes;
mod worker_routes;

use conveyor_core::caller::{self, Caller};
use conveyor_core::compat::tracker as wire;
use conveyor_core::db::Db;
use conveyor_core::domain::project::Project;
use conveyor_core::http::{BULK_BODY_LIMIT, PAYLOAD_BODY_LIMIT};
use conveyor_core::projects;
use conveyor_core::query::{self, Listing, Scope};
use conveyor_core::{ApiError, Ctx, Response, Router, route};
use log_routes::*;
use manager_routes::*;
use project_routes::*;
use serde_json::{Value as Json, json};
use task_routes::*;
use worker_routes::*;

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

/// Every row of a collection in `scope` (task_tracker had no paging).
fn all_rows(
    db: &dyn Db,
    resource: &query::Resource,
    scope: &Scope,
    filters: &[(String, String)],
) -> Result<Vec<serde_json::Map<String, Json>>, ApiError> {
    query::all_pages(filters, |pairs| Listing::run(db, resource, scope, pairs))
}

// ----- GET / -----

fn index(_ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(wire::ok(json!({"name": wire::INFO_NAME, "version": wire::INFO_VERSION, "server": "conveyor"})))
}

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
    Router::new(vec![
        route("GET", "/", index),
        route("POST", "/worker/create", worker_create),
        route("POST", "/worker/update", worker_update),
        route("GET", "/worker/get/:id", worker_get),
        route("POST", "/worker/set_paused", worker_set_paused),
        route("GET", "/worker/stats", worker_stats),
        route("POST", "/task/submit", task_submit).body_limit(PAYLOAD_BODY_LIMIT),
        route("POST", "/task/bulk_submit", task_bulk_submit).body_limit(BULK_BODY_LIMIT),
        route("GET", "/task/get/:project", task_get).changes_state(),
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
        route("GET", "/logout", logout).changes_state(),
        route("GET", "/account", account),
        route("GET", "/manager/list", manager_list),
        route("GET", "/manager/list_for_project/:id", manager_list_for_project),
        route("GET", "/manager/promote/:id", manager_promote).changes_state(),
        route("GET", "/manager/demote/:id", manager_demote).changes_state(),
        route("POST", "/manager/set_role_for_project/:id", manager_set_role),
    ])
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve_mapped(&router(), request, wire::error)
}
