//! Component `schedules` (SPEC §7): CRUD of schedules for their owners, their failures, the control actions
//! `run_now`, `enable`, `disable` and `requeue`, and the two calls that keep time: `POST /schedules/run-due`
//! fires what is due, `POST /schedules/deliver-due` sends due webhook deliveries (the local host calls both
//! every second; on Spin, any cron may). Thin handlers over `conveyor_core::schedules`. Decisions:
//! `docs/schedules.md`.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::schedules::{self, Action, Endpoints, Firing};
use conveyor_core::{ApiError, Ctx, Response, Router, caller, clock, control, route};
use serde_json::{Map, Value as Json};

fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let listing = schedules::list(ctx.db()?, &caller, &ctx.request.query_pairs())?;
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

fn create(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let input = ctx.json()?;
    Ok(Response::created(&schedules::create(ctx.db()?, &caller, &input, Endpoints::from_ctx(ctx), clock::now())?))
}

fn get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    Ok(Response::ok(&schedules::get(ctx.db()?, &caller, ctx.param("id"))?))
}

/// A partial update: the members given replace the stored ones, `null` removes one.
fn update(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let patch: Map<String, Json> = ctx.json()?;
    let updated =
        schedules::update(ctx.db()?, &caller, ctx.param("id"), &patch, Endpoints::from_ctx(ctx), clock::now())?;
    Ok(Response::ok(&updated))
}

fn delete(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    schedules::delete(ctx.db()?, &caller, ctx.param("id"))?;
    Ok(Response::no_content())
}

fn failures(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let listing = schedules::failures(ctx.db()?, &caller, ctx.param("id"), &ctx.request.query_pairs())?;
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

/// `POST /schedules/{id}` JSON-RPC: `run_now`, `enable`, `disable`, `requeue` (the owner or an administrator).
fn control(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(control::dispatch(ctx, |method, params| {
        let action = Action::parse(method, params)?.ok_or_else(|| control::unknown_method(method))?;
        let caller = caller::authenticate(ctx)?;
        action.run(ctx.db()?, ctx.kv()?.as_ref(), &caller, ctx.param("id"), clock::now())
    }))
}

/// What a time-keeping call did, for administrators (the counts span every tenant); 204 for anyone else.
fn report(ctx: &Ctx, firing: Firing) -> Result<Response, ApiError> {
    match caller::authenticate(ctx) {
        Ok(caller) if caller.is_admin() => Ok(Response::ok(&firing)),
        _ => Ok(Response::no_content()),
    }
}

/// Fires every due occurrence. Needs no credentials: it only does what is due, and each occurrence once,
/// however often and by whomever it is called.
fn run_due(ctx: &Ctx) -> Result<Response, ApiError> {
    let firing = schedules::run_due(ctx.db()?, ctx.kv()?.as_ref(), clock::now())?;
    report(ctx, firing)
}

/// Sends due webhook deliveries, all at once, within the delivery timeout.
#[cfg(target_arch = "wasm32")]
fn deliver_due(ctx: &Ctx) -> Result<Response, ApiError> {
    let timeout = schedules::delivery_timeout(ctx.variable("delivery_timeout_seconds").as_deref());
    let courier = conveyor_core::outbound::WasiCourier { timeout };
    let firing = schedules::deliver_due(ctx.db()?, &courier, &clock::now)?;
    report(ctx, firing)
}

/// Natively the crate is only its route table (for the API documents' coverage test): no outbound HTTP.
#[cfg(not(target_arch = "wasm32"))]
fn deliver_due(_: &Ctx) -> Result<Response, ApiError> {
    Err(ApiError::Unavailable("webhook deliveries run only in the wasm component".into()))
}

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
    Router::new(vec![
        route("GET", "/api/v1/schedules", list),
        route("POST", "/api/v1/schedules", create),
        route("POST", "/api/v1/schedules/run-due", run_due),
        route("POST", "/api/v1/schedules/deliver-due", deliver_due),
        route("GET", "/api/v1/schedules/:id", get),
        route("PATCH", "/api/v1/schedules/:id", update),
        route("DELETE", "/api/v1/schedules/:id", delete),
        route("POST", "/api/v1/schedules/:id", control),
        route("GET", "/api/v1/schedules/:id/failures", failures),
    ])
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
