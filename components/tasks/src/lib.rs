//! Component `tasks` (SPEC §4): submit (single and bulk), claim with long-poll, heartbeat, release, the
//! `/tasks` collection, single tasks and their results, and the control actions `cancel`, `retry` and
//! `set_priority`. Each handler authenticates ([`caller`]), authorises against the task's project, calls
//! `conveyor_core::tasks` and answers; every rule lives there. Decisions: `docs/tasks.md`.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::caller::{self, Caller};
use conveyor_core::domain::task::{
    BatchReleaseItem, BulkSubmitRequest, ClaimRequest, HeartbeatRequest, ReleaseRequest, SubmitRequest, Task,
};
use conveyor_core::http::{BULK_BODY_LIMIT, PAYLOAD_BODY_LIMIT};
use conveyor_core::policy;
use conveyor_core::tasks::{self, ClaimTarget};
use conveyor_core::{ApiError, Ctx, Response, Router, clock, control, operations, projects, route};
use serde_json::json;
use std::time::{Duration, Instant};

/// The longest long-poll a claim may ask for (SPEC §4), in seconds.
const MAX_WAIT: i64 = 20;
/// How long a waiting claim sleeps between attempts.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

// ----- submit -----

fn submit(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let request: SubmitRequest = ctx.json()?;
    let task = operations::submit_task(ctx.db()?, ctx.kv()?.as_ref(), &caller, &request, clock::now())?;
    Ok(Response::created(&task))
}

fn bulk_submit(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let request: BulkSubmitRequest = ctx.json()?;
    let db = ctx.db()?;
    let project = projects::resolve(db, &request.project.to_ref())?;
    policy::may_submit(db, &caller, &project)?;
    let result = tasks::bulk_submit(db, ctx.kv()?.as_ref(), &project, &request.tasks, clock::now())?;
    Ok(Response::created(&result))
}

// ----- claim, heartbeat, release (workers) -----

fn claim(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let request: ClaimRequest = optional_json(ctx)?;
    let wait = request.wait.unwrap_or(0);
    if !(0..=MAX_WAIT).contains(&wait) {
        return Err(ApiError::invalid_field("wait", format!("must be 0 to {MAX_WAIT} seconds")));
    }
    let db = ctx.db()?;
    let kv = ctx.kv()?;
    let project = match &request.project {
        Some(reference) => {
            let project = projects::resolve(db, &reference.to_ref())?;
            policy::may_claim_from(db, worker, &project)?;
            Some(project)
        }
        None => None,
    };
    let scope = policy::claim_scope(worker);
    let target = match &project {
        Some(project) => ClaimTarget::Project(project),
        None => ClaimTarget::Any(&scope),
    };
    // Monotonic time bounds the wait; the claim itself uses the (test-controllable) wall clock.
    let deadline = Instant::now() + Duration::from_secs(wait as u64);
    let max = request.max.map(|max| usize::try_from(max).unwrap_or(0));
    loop {
        // With `max` the answer is a list, even of one task (SPEC §4).
        let claimed = tasks::claim_many(db, kv.as_ref(), worker.id, target, max.unwrap_or(1), clock::now())?;
        if !claimed.is_empty() {
            return Ok(match max {
                Some(_) => Response::ok(&claimed),
                None => Response::ok(&claimed[0]),
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Response::no_content());
        }
        std::thread::sleep(left.min(POLL_INTERVAL));
    }
}

fn heartbeat(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let id = task_id(ctx)?;
    let request: HeartbeatRequest = optional_json(ctx)?;
    let db = ctx.db()?;
    let beat = tasks::heartbeat(db, worker.id, id, &request, clock::now())
        .map_err(|error| policy::hide_task_refusal(db, &caller, id, error))?;
    Ok(Response::ok(&beat))
}

fn release(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let id = task_id(ctx)?;
    let request: ReleaseRequest = ctx.json()?;
    let db = ctx.db()?;
    match tasks::release(db, worker.id, id, &request, clock::now())
        .map_err(|e| policy::hide_task_refusal(db, &caller, id, e))
    {
        Ok(released) => Ok(Response::ok(&released)),
        // SPEC §4: a refused release says `"updated": false` (with the error's detail and code).
        Err(error @ ApiError::Conflict { .. }) => {
            let body = error.body();
            Ok(Response::json(409, &json!({"updated": false, "detail": body.detail, "code": body.code})))
        }
        Err(error) => Err(error),
    }
}

/// `POST /tasks/release [{id, result, verification?, output?}, ...]`: one transaction, an answer per item.
fn release_batch(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let items: Vec<BatchReleaseItem> = ctx.json()?;
    Ok(Response::ok(&tasks::release_many(ctx.db()?, worker.id, &items, clock::now())?))
}

// ----- reads -----

fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let projects = policy::read_scope(&caller);
    let listing = ctx.listing(&tasks::RESOURCE, &tasks::scope_of_projects(&projects))?;
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

fn get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    Ok(Response::ok(&readable_task(ctx, &caller)?))
}

/// `GET /tasks/{id}/result`: the raw result as a download (`?inline=1` shows it in place). A task without
/// a result is 404.
fn result(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let mut inline = false;
    for (key, value) in ctx.request.query_pairs() {
        match key.as_str() {
            "inline" => inline = parse_flag(&value)?,
            other => return Err(ApiError::bad_request("invalid_query", format!("unknown parameter `{other}`"))),
        }
    }
    let task = readable_task(ctx, &caller)?;
    let body = task.result.ok_or_else(|| ApiError::NotFound(format!("task {} has no result", task.id)))?;
    let response = Response::raw(200, "text/plain; charset=utf-8", body);
    Ok(if inline {
        response
    } else {
        response.with_header("content-disposition", format!("attachment; filename=\"task-{}-result.txt\"", task.id))
    })
}

fn parse_flag(value: &str) -> Result<bool, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ApiError::bad_request("invalid_query", format!("`inline` must be a boolean, not `{value}`"))),
    }
}

/// The task in the path, if the caller may read its project: 403 private, 404 hidden (or no such task).
fn readable_task(ctx: &Ctx, caller: &Caller) -> Result<Task, ApiError> {
    operations::read_task(ctx.db()?, caller, task_id(ctx)?)
}

// ----- control -----

/// `POST /tasks/{id}` JSON-RPC: `cancel`, `retry`, `set_priority {priority}`; EDIT on the task's project.
fn control(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(control::dispatch(ctx, |method, params| {
        let action = tasks::Action::parse(method, params)?.ok_or_else(|| control::unknown_method(method))?;
        let caller = caller::authenticate(ctx)?;
        operations::task_action(ctx.db()?, &caller, task_id(ctx)?, action, clock::now())
    }))
}

// ----- helpers -----

/// An optional JSON body: none (or whitespace) is the default value.
fn optional_json<T: serde::de::DeserializeOwned + Default>(ctx: &Ctx) -> Result<T, ApiError> {
    if ctx.request.body.iter().all(u8::is_ascii_whitespace) { Ok(T::default()) } else { ctx.json() }
}

/// The task id in the path; anything but an integer names no task.
fn task_id(ctx: &Ctx) -> Result<i64, ApiError> {
    let id = ctx.param("id");
    id.parse().map_err(|_| ApiError::NotFound(format!("task `{id}` not found")))
}

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
    Router::new(vec![
        route("GET", "/api/v1/tasks", list),
        route("POST", "/api/v1/tasks", submit).body_limit(PAYLOAD_BODY_LIMIT),
        route("POST", "/api/v1/tasks/bulk", bulk_submit).body_limit(BULK_BODY_LIMIT),
        route("POST", "/api/v1/tasks/claim", claim),
        route("POST", "/api/v1/tasks/release", release_batch).body_limit(BULK_BODY_LIMIT),
        route("GET", "/api/v1/tasks/:id", get),
        route("POST", "/api/v1/tasks/:id", control),
        route("GET", "/api/v1/tasks/:id/result", result),
        route("POST", "/api/v1/tasks/:id/heartbeat", heartbeat),
        route("POST", "/api/v1/tasks/:id/release", release).body_limit(PAYLOAD_BODY_LIMIT),
    ])
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
