//! `/api/v1/schedule/` and `/api/v1/failed-tasks/`: webhook schedules and their failures, through
//! `conveyor_core::schedules` exactly as the native `/api/v1/schedules` routes.

use super::{base, path_id, seed_page, signed_in};
use conveyor_core::compat::seed::{self as wire, Write};
use conveyor_core::domain::schedule::Schedule;
use conveyor_core::http::PAYLOAD_BODY_LIMIT;
use conveyor_core::schedules::Endpoints;
use conveyor_core::{ApiError, Ctx, Response, clock, schedules};
use serde_json::Value as Json;

/// Only webhook schedules (those with an endpoint) appear on this surface.
const WEBHOOKS: (&str, &str) = ("endpoint__gt", "");

fn not_found() -> ApiError {
    ApiError::NotFound("no such schedule".into())
}

/// A native schedule as JSON, if it is one this surface shows (404 otherwise).
fn shown(schedule: &Schedule) -> Result<Json, ApiError> {
    let native = serde_json::to_value(schedule).map_err(ApiError::internal)?;
    if wire::is_webhook(&native) { Ok(native) } else { Err(not_found()) }
}

fn answer_schedule(ctx: &Ctx, status: u16, native: &Json) -> Response {
    wire::answer(status, &wire::schedule(base(ctx), native))
}

pub(crate) fn list_schedules(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = signed_in(ctx)?;
    let pairs = wire::page_query(&ctx.request, "-created_at", &[WEBHOOKS]);
    let listing = schedules::list(ctx.db()?, &caller, &pairs)?;
    Ok(seed_page(ctx, &listing, |row| wire::schedule(base(ctx), row)))
}

pub(crate) fn create_schedule(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = signed_in(ctx)?;
    let members = wire::schedule_members(&wire::json_body(&ctx.request, PAYLOAD_BODY_LIMIT)?, Write::Create)?;
    let input = wire::schedule_input(&members)?;
    let created = schedules::create(ctx.db()?, &caller, &input, Endpoints::from_ctx(ctx), clock::now())?;
    let native = shown(&created)?;
    let location = wire::schedule_url(base(ctx), &created.id);
    Ok(answer_schedule(ctx, 201, &native).with_header("location", location))
}

pub(crate) fn get_schedule(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = signed_in(ctx)?;
    let native = shown(&schedules::get(ctx.db()?, &caller, ctx.param("id"))?)?;
    Ok(answer_schedule(ctx, 200, &native))
}

/// PUT and PATCH: the members the body states are merged onto the schedule by the native update.
fn change(ctx: &Ctx, write: Write) -> Result<Response, ApiError> {
    let caller = signed_in(ctx)?;
    let db = ctx.db()?;
    let id = ctx.param("id");
    shown(&schedules::get(db, &caller, id)?)?;
    let members = wire::schedule_members(&wire::json_body(&ctx.request, PAYLOAD_BODY_LIMIT)?, write)?;
    let native = shown(&schedules::update(db, &caller, id, &members, Endpoints::from_ctx(ctx), clock::now())?)?;
    Ok(answer_schedule(ctx, 200, &native))
}

pub(crate) fn replace_schedule(ctx: &Ctx) -> Result<Response, ApiError> {
    change(ctx, Write::Replace)
}

pub(crate) fn update_schedule(ctx: &Ctx) -> Result<Response, ApiError> {
    change(ctx, Write::Partial)
}

pub(crate) fn delete_schedule(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = signed_in(ctx)?;
    let db = ctx.db()?;
    shown(&schedules::get(db, &caller, ctx.param("id"))?)?;
    schedules::delete(db, &caller, ctx.param("id"))?;
    Ok(Response::no_content())
}

// ----- /failed-tasks/ -----

pub(crate) fn list_failures(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = signed_in(ctx)?;
    let listing = schedules::all_failures(ctx.db()?, &caller, &wire::page_query(&ctx.request, "-id", &[]))?;
    Ok(seed_page(ctx, &listing, |row| wire::failure(base(ctx), row)))
}

pub(crate) fn get_failure(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = signed_in(ctx)?;
    let id = path_id(ctx, "id")?;
    let listing = schedules::all_failures(ctx.db()?, &caller, &[("id".into(), id.to_string())])?;
    let row = listing.page.results.into_iter().next().ok_or_else(|| ApiError::NotFound("no such failure".into()))?;
    Ok(wire::answer(200, &wire::failure(base(ctx), &Json::Object(row))))
}

/// Replays the caller's failures (every one, for administrators) now; any body is accepted (the client
/// sends `null`), as Seed Scheduler never read it.
pub(crate) fn requeue_failures(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = signed_in(ctx)?;
    schedules::requeue_mine(ctx.db()?, ctx.kv()?.as_ref(), &caller, clock::now())?;
    Ok(wire::answer(201, &wire::requeued()))
}
