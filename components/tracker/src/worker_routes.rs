//! Routes of `/worker/*`: registration, the worker's own record, pausing, statistics.

use super::{body, id_param};
use conveyor_core::auth;
use conveyor_core::caller;
use conveyor_core::compat::tracker as wire;
use conveyor_core::domain::worker::{WorkerInput, WorkerPatch};
use conveyor_core::policy;
use conveyor_core::{ApiError, Ctx, Response, clock, workers};
use serde_json::json;

/// task_tracker never read the worker headers here, and its Python client sends them as the text `None`
/// before a worker exists: only a person's credentials count.
pub(crate) fn worker_create(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate_person(ctx)?;
    policy::may_register_worker(ctx, &caller)?;
    let request: wire::WorkerBody = body(ctx)?;
    let input = WorkerInput { alias: request.alias_or_default(), ..WorkerInput::default() };
    let created = workers::register(ctx.db()?, &input, clock::now())?;
    Ok(wire::ok(json!({"worker": wire::worker(&created.worker, Some(&created.secret))})))
}

pub(crate) fn worker_update(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let request: wire::WorkerBody = body(ctx)?;
    let patch = WorkerPatch { alias: Some(request.alias), ..WorkerPatch::default() };
    workers::update(ctx.db()?, worker.id, &patch, clock::now())?;
    Ok(wire::ok_empty())
}

pub(crate) fn worker_get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let id = id_param(ctx, "id", "worker")?;
    Ok(wire::ok(json!({"worker": wire::worker(&policy::readable_worker(ctx.db()?, &caller, id)?, None)})))
}

/// Administrators (as the native `pause`/`unpause`).
pub(crate) fn worker_set_paused(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    auth::require_admin(caller::require_person(&caller)?)?;
    let request: wire::SetPausedBody = body(ctx)?;
    workers::set_paused(ctx.db()?, request.worker, request.paused, clock::now())?;
    Ok(wire::ok_empty())
}

pub(crate) fn worker_stats(ctx: &Ctx) -> Result<Response, ApiError> {
    let scope = policy::workers_scope(&caller::authenticate(ctx)?)?;
    Ok(wire::ok(wire::worker_stats(&workers::stats(ctx.db()?, &scope)?)))
}
