//! Routes of `/task/*`: submit (one or a bulk), claim and release.

use super::{body, id_param};
use conveyor_core::caller;
use conveyor_core::compat::tracker as wire;
use conveyor_core::policy;
use conveyor_core::projects;
use conveyor_core::tasks::{self, ClaimTarget};
use conveyor_core::{ApiError, Ctx, Response, clock};
use serde_json::{Value as Json, json};

pub(crate) fn task_submit(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let request: wire::SubmitBody = body(ctx)?;
    let db = ctx.db()?;
    let project = projects::get(db, request.project)?;
    policy::may_submit(db, &caller, &project)?;
    tasks::submit(db, ctx.kv()?.as_ref(), &project, &request.spec(), clock::now())?;
    Ok(wire::ok_empty())
}

pub(crate) fn task_bulk_submit(ctx: &Ctx) -> Result<Response, ApiError> {
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
pub(crate) fn task_get(ctx: &Ctx) -> Result<Response, ApiError> {
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

pub(crate) fn task_release(ctx: &Ctx) -> Result<Response, ApiError> {
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
