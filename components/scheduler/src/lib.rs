//! Component `scheduler` (SPEC §9): Seed Scheduler's API (`/api/v1/user/`, `/group/`, `/schedule/`,
//! `/failed-tasks/`, `/api/health/`, `/api/metrics/`), so Seed Scheduler's clients (`SchedulerApiClient` of
//! `seed-services-client`) work against Conveyor unchanged. A Seed schedule is a native webhook schedule:
//! both surfaces read and change the same rows. This file is the route table and the shared helpers; the
//! handlers parse with `compat::seed`, authenticate (`caller`), call the same core services as the native
//! components (`schedules`, `accounts`) and answer in DRF's shapes. Differences: `docs/scheduler.md`.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

mod account_routes;
mod schedule_routes;

use account_routes::*;
use conveyor_core::caller::{self, Caller};
use conveyor_core::compat::seed as wire;
use conveyor_core::query::Listing;
use conveyor_core::router::{Handler, Route};
use conveyor_core::{ApiError, Ctx, Response, Router, route};
use schedule_routes::*;
use serde_json::Value as Json;

// ----- helpers -----

/// The caller; every route of Seed Scheduler needs one (401 in DRF's words otherwise).
fn signed_in(ctx: &Ctx) -> Result<Caller, ApiError> {
    wire::signed_in(caller::authenticate(ctx))
}

/// The caller as a person (workers are refused with a 403, as on the native routes).
fn person(ctx: &Ctx) -> Result<conveyor_core::auth::Principal, ApiError> {
    Ok(caller::require_person(&signed_in(ctx)?)?.clone())
}

/// A positive integer id in a path segment; anything else names nothing (404).
fn path_id(ctx: &Ctx, name: &str) -> Result<i64, ApiError> {
    ctx.param(name).parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ApiError::NotFound("no such id".into()))
}

/// A native page answered as Seed Scheduler's, each row mapped by `shape`.
fn seed_page(ctx: &Ctx, listing: &Listing, shape: impl Fn(&Json) -> Json) -> Response {
    let rows: Vec<Json> = listing.page.results.iter().map(|row| shape(&Json::Object(row.clone()))).collect();
    wire::answer(200, &wire::page(listing.to_json(&ctx.request), rows))
}

fn base<'c>(ctx: &'c Ctx<'_>) -> &'c str {
    &ctx.request.base_url
}

// ----- /api/health/, /api/metrics/ -----

/// Really queries the database (503 when it cannot).
fn health(ctx: &Ctx) -> Result<Response, ApiError> {
    signed_in(ctx)?;
    let up = ctx.db().and_then(|db| Ok(db.execute("SELECT 1", &[])?)).is_ok();
    Ok(wire::answer(if up { 200 } else { 503 }, &wire::health(up)))
}

fn metrics(ctx: &Ctx) -> Result<Response, ApiError> {
    signed_in(ctx)?;
    Ok(wire::answer(200, &wire::metrics_available()))
}

fn metrics_initiate(ctx: &Ctx) -> Result<Response, ApiError> {
    signed_in(ctx)?;
    Ok(wire::answer(201, &wire::metrics_initiated()))
}

// ----- the route table -----

/// DRF answers a method a route does not serve with 405 naming it, after authentication.
fn not_allowed(ctx: &Ctx) -> Result<Response, ApiError> {
    signed_in(ctx)?;
    Ok(wire::method_not_allowed(&ctx.request.method))
}

/// The routes of one path: its handlers, and [`not_allowed`] for every other method.
fn resource(pattern: &'static str, handlers: &[(&'static str, Handler)]) -> Vec<Route> {
    ["GET", "POST", "PUT", "PATCH", "DELETE"]
        .into_iter()
        .map(|method| {
            let handler = handlers.iter().find(|(m, _)| *m == method).map_or(not_allowed as Handler, |(_, h)| *h);
            route(method, pattern, handler)
        })
        .collect()
}

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
    let table: [(&'static str, &[(&'static str, Handler)]); 11] = [
        ("/api/v1/user/token", &[("POST", user_token)]),
        ("/api/v1/user", &[("GET", list_users)]),
        ("/api/v1/user/:id", &[("GET", get_user)]),
        ("/api/v1/group", &[("GET", list_groups)]),
        ("/api/v1/group/:id", &[("GET", get_group)]),
        ("/api/v1/schedule", &[("GET", list_schedules), ("POST", create_schedule)]),
        (
            "/api/v1/schedule/:id",
            &[
                ("GET", get_schedule),
                ("PUT", replace_schedule),
                ("PATCH", update_schedule),
                ("DELETE", delete_schedule),
            ],
        ),
        ("/api/v1/failed-tasks", &[("GET", list_failures), ("POST", requeue_failures)]),
        ("/api/v1/failed-tasks/:id", &[("GET", get_failure)]),
        ("/api/health", &[("GET", health)]),
        ("/api/metrics", &[("GET", metrics), ("POST", metrics_initiate)]),
    ];
    Router::new(table.into_iter().flat_map(|(pattern, handlers)| resource(pattern, handlers)).collect())
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve_mapped(&router(), request, wire::error)
}
