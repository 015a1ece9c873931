//! Task services (SPEC §4) shared by the native API, the RPC endpoint and the compatibility adapters:
//! submit (single and bulk, rate-limited), claim (rate-limited, scoped by the caller's access), heartbeat,
//! release, cancel/retry/set_priority. Handlers authenticate and authorise, then call these.
//! State machine, ordering and every decision: `docs/tasks.md`.

use crate::control::{NoParams, action_params, to_json};
use crate::db::{self, Db, DbError};
use crate::domain::project::Project;
use crate::domain::roles;
use crate::domain::task::{
    self, BatchReleaseItem, BulkResult, Heartbeat, HeartbeatRequest, ItemReleased, MAX_BATCH, MAX_RECIPE_BYTES,
    ReleaseRequest, ReleaseResult, Released, Task, TaskSpec, TaskStatus,
};
use crate::error::ApiError;
use crate::platform::Kv;
use crate::query::Scope;
use crate::ratelimit::{self, Limit};
use crate::store::projects as project_store;
use crate::store::tasks::{self as store, Refusal};
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::HashSet;

pub use crate::store::tasks::{RESOURCE, scope_of_projects};

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("task {id} not found"))
}

/// The answer when a guarded `action` on task `id` (by `worker`, when a worker made it) did not apply: 404
/// when the task does not exist, 409 `not_assignee` when another worker (or none) holds it, else 409
/// `invalid_transition` naming its status.
fn refused(db: &dyn Db, id: i64, worker: Option<i64>, action: &str) -> ApiError {
    match store::refusal(db, id, worker) {
        Err(error) => error.into(),
        Ok(Refusal::Missing) => not_found(id),
        Ok(Refusal::NotAssignee) => {
            ApiError::conflict("not_assignee", format!("task {id} is not assigned to this worker"))
        }
        Ok(Refusal::InStatus(status)) => {
            ApiError::conflict("invalid_transition", format!("cannot {action} task {id}: it is {}", status.as_str()))
        }
    }
}

/// A submit whose project was deleted under it (the insert's foreign key).
fn project_gone(project: i64, error: DbError) -> ApiError {
    match error {
        DbError::ForeignKey(_) => ApiError::NotFound(format!("project {project} not found")),
        other => other.into(),
    }
}

/// A task by id; 404 when there is none.
pub fn get(db: &dyn Db, id: i64) -> Result<Task, ApiError> {
    store::get(db, id)?.ok_or_else(|| not_found(id))
}

/// A task's project and result (`GET /tasks/{id}/result`); 404 when there is none.
pub fn result(db: &dyn Db, id: i64) -> Result<(i64, Option<String>), ApiError> {
    store::result(db, id)?.ok_or_else(|| not_found(id))
}

/// Submits one task: validate (400 both hashes, 422 fields), then the project's submit rate (429), then
/// insert (409 `duplicate`). Paused projects accept submits.
pub fn submit(db: &dyn Db, kv: &dyn Kv, project: &Project, spec: &TaskSpec, now: i64) -> Result<Task, ApiError> {
    let task = spec.validate()?;
    ratelimit::admit(kv, Limit::Submit, project.id, project.submit_rate, 1, now)?;
    store::insert(db, project.id, &task, now)
        .map_err(|error| project_gone(project.id, error))?
        .ok_or_else(|| task::duplicate(task.hash64))
}

/// Submits up to 10,000 tasks in one transaction: every item is validated first and one invalid item
/// rejects the whole request (422, nothing written); the bulk takes N submit tokens (debt model); duplicates
/// (of an open task or an earlier item) are skipped and reported by index.
pub fn bulk_submit(
    db: &dyn Db,
    kv: &dyn Kv,
    project: &Project,
    specs: &[TaskSpec],
    now: i64,
) -> Result<BulkResult, ApiError> {
    let tasks = task::validate_bulk(specs)?;
    ratelimit::admit(kv, Limit::Submit, project.id, project.submit_rate, tasks.len() as u64, now)?;
    store::insert_bulk(db, project.id, &tasks, now).map_err(|error| project_gone(project.id, error))
}

/// Where a claim may take a task from.
#[derive(Debug, Clone, Copy)]
pub enum ClaimTarget<'a> {
    /// One project the caller already resolved and checked (`POST /tasks/claim {project}`).
    Project(&'a Project),
    /// Every project within a scope over `p` (e.g. `store::projects::claim_scope_worker(worker)`, or an
    /// empty scope for every project).
    Any(&'a Scope),
}

/// Claims the best claimable task for `worker` (SPEC §4 "Claim"), or `None` (→ 204). With a project whose
/// assign bucket is in debt: 429. Across projects, projects in debt are skipped. The claimed project's
/// bucket is charged one token.
pub fn claim(
    db: &dyn Db,
    kv: &dyn Kv,
    worker: i64,
    target: ClaimTarget<'_>,
    now: i64,
) -> Result<Option<Task>, ApiError> {
    Ok(claim_many(db, kv, worker, target, 1, now)?.into_iter().next())
}

/// Claims up to `max` (1–[`MAX_BATCH`], else 422) tasks for `worker` in claim order, each held by it alone;
/// empty when nothing is claimable. Rate limits as [`claim`]: each claimed project's bucket is charged one
/// token per task (a batch may take a bucket into debt, which the next claim then waits out).
pub fn claim_many(
    db: &dyn Db,
    kv: &dyn Kv,
    worker: i64,
    target: ClaimTarget<'_>,
    max: usize,
    now: i64,
) -> Result<Vec<Task>, ApiError> {
    if !(1..=MAX_BATCH).contains(&max) {
        return Err(ApiError::invalid_field("max", format!("must be 1 to {MAX_BATCH}")));
    }
    let (from, rates) = match target {
        ClaimTarget::Project(project) => {
            if let Some(retry_after) = ratelimit::in_debt(kv, Limit::Assign, project.id, project.assign_rate, now)? {
                return Err(ApiError::TooManyRequests { retry_after });
            }
            let from = store::ClaimFrom { project: Some(project.id), ..store::ClaimFrom::default() };
            (from, vec![(project.id, project.assign_rate)])
        }
        ClaimTarget::Any(scope) => {
            let rates = project_store::assign_rated(db, scope)?;
            let mut exclude = Vec::new();
            for (project, rate) in &rates {
                if ratelimit::in_debt(kv, Limit::Assign, *project, *rate, now)?.is_some() {
                    exclude.push(*project);
                }
            }
            (store::ClaimFrom { project: None, scope: scope.clone(), exclude }, rates)
        }
    };
    let tasks = store::claim_many(db, worker, &from, max, now)?;
    for (project, rate) in &rates {
        let claimed = tasks.iter().filter(|task| task.project == *project).count();
        if claimed > 0 {
            ratelimit::charge(kv, Limit::Assign, *project, *rate, claimed as u64, now)?;
        }
    }
    Ok(tasks)
}

/// A heartbeat by the assignee (409 `not_assignee` otherwise): progress 0–100, `extend` the lease. Answers
/// the lease and `abort: true` once the task was cancelled.
pub fn heartbeat(
    db: &dyn Db,
    worker: i64,
    id: i64,
    request: &HeartbeatRequest,
    now: i64,
) -> Result<Heartbeat, ApiError> {
    if let Some(progress) = request.progress {
        task::progress(progress)?;
    }
    let extend = request.extend.map(|e| e.seconds()).transpose()?.flatten();
    let (lease_expires_at, abort) = store::heartbeat(db, worker, id, request.progress, extend, now)?
        .ok_or_else(|| refused(db, id, Some(worker), "heartbeat"))?;
    Ok(Heartbeat { lease_expires_at, abort })
}

/// Releases a task held by `worker` (SPEC §4 "Release"): 422 for a bad `result` or an `output` over 1 MiB;
/// 404 unknown task; 409 when the worker does not hold it (the HTTP layer answers `{"updated": false}`).
/// A missing `verification` counts as the value 0.
pub fn release(db: &dyn Db, worker: i64, id: i64, request: &ReleaseRequest, now: i64) -> Result<Released, ApiError> {
    let (result, verification, output) = release_input(request)?;
    store::release(db, worker, id, result, verification, output, now)?
        .ok_or_else(|| refused(db, id, Some(worker), "release"))
}

/// Releases many tasks held by `worker` in one transaction (SPEC §4 "Batch release"): 1–[`MAX_BATCH`]
/// items, each checked as [`release`] checks one (an invalid item refuses the whole batch, 422, nothing
/// applied); an item the worker does not hold answers `updated: false`, the others apply.
pub fn release_many(
    db: &dyn Db,
    worker: i64,
    items: &[BatchReleaseItem],
    now: i64,
) -> Result<Vec<ItemReleased>, ApiError> {
    if !(1..=MAX_BATCH).contains(&items.len()) {
        return Err(ApiError::invalid_field("items", format!("must be 1 to {MAX_BATCH} releases")));
    }
    let requests: Vec<ReleaseRequest> = items.iter().map(BatchReleaseItem::request).collect();
    let mut checked = Vec::with_capacity(items.len());
    for (index, (item, request)) in items.iter().zip(&requests).enumerate() {
        let checked_item = release_input(request).map_err(|error| match error {
            ApiError::Validation { errors, .. } => ApiError::invalid_field(
                format!("{index}.{}", errors.first().map_or("result", |e| e.field.as_str())),
                errors.first().map_or_else(String::new, |e| e.message.clone()),
            ),
            other => other,
        })?;
        checked.push((item.id, checked_item));
    }
    // Each task's first item is its release; an item repeating an id finds the task released already.
    let mut seen = HashSet::with_capacity(checked.len());
    let plain_oks: Vec<(i64, Option<&str>)> = checked
        .iter()
        .filter(|(id, _)| seen.insert(*id))
        .filter(|(_, (result, _, _))| *result == ReleaseResult::Ok)
        .map(|(id, (_, _, output))| (*id, *output))
        .collect();
    db::transaction(db, || {
        // The common case, OK without a quorum, is one statement for the whole batch.
        let mut closed = store::close_held(db, worker, &plain_oks, now)?;
        let mut answers = Vec::with_capacity(checked.len());
        for (id, (result, verification, output)) in &checked {
            // `remove`: only the id's first item was closed above.
            let status = if closed.remove(id) {
                Some(TaskStatus::Closed)
            } else {
                store::release(db, worker, *id, *result, *verification, *output, now)?.map(|released| released.status)
            };
            answers.push(ItemReleased { id: *id, updated: status.is_some(), status });
        }
        Ok(answers)
    })
}

/// A release's checked inputs: its result, verification value (missing counts as 0) and output.
fn release_input(request: &ReleaseRequest) -> Result<(ReleaseResult, i64, Option<&str>), ApiError> {
    let result = ReleaseResult::from_code(request.result)?;
    if let Some(output) = &request.output
        && output.len() > MAX_RECIPE_BYTES
    {
        return Err(ApiError::invalid_field("output", format!("must be at most {MAX_RECIPE_BYTES} bytes")));
    }
    Ok((result, request.verification.unwrap_or(0), request.output.as_deref()))
}

/// new/assigned/failed → cancelled (409 otherwise).
pub fn cancel(db: &dyn Db, id: i64, now: i64) -> Result<Task, ApiError> {
    store::cancel(db, id, now)?.ok_or_else(|| refused(db, id, None, "cancel"))
}

/// failed → new with retries 0 (409 otherwise).
pub fn retry(db: &dyn Db, id: i64, now: i64) -> Result<Task, ApiError> {
    store::retry(db, id, now)?.ok_or_else(|| refused(db, id, None, "retry"))
}

/// Sets the priority (a 32-bit integer) of an open task (409 when closed or cancelled).
pub fn set_priority(db: &dyn Db, id: i64, priority: i64, now: i64) -> Result<Task, ApiError> {
    crate::domain::within_i32(priority).map_err(|message| ApiError::invalid_field("priority", message))?;
    store::set_priority(db, id, priority, now)?.ok_or_else(|| refused(db, id, None, "set the priority of"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorityParam {
    priority: i64,
}

/// A control action on `/tasks/{id}` (SPEC §4), parsed from a JSON-RPC call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cancel,
    Retry,
    SetPriority { priority: i64 },
}

impl Action {
    /// `Ok(None)` for an unknown method (JSON-RPC -32601); Err for invalid params (-32602).
    pub fn parse(method: &str, params: &Json) -> Result<Option<Self>, ApiError> {
        Ok(Some(match method {
            "cancel" => {
                action_params::<NoParams>(params)?;
                Self::Cancel
            }
            "retry" => {
                action_params::<NoParams>(params)?;
                Self::Retry
            }
            "set_priority" => Self::SetPriority { priority: action_params::<PriorityParam>(params)?.priority },
            _ => return Ok(None),
        }))
    }

    /// The project role the caller needs: EDIT (submitting and editing tasks).
    pub fn required_role(self) -> i64 {
        roles::EDIT
    }

    /// Runs the action; the JSON-RPC `result` is the task after it.
    pub fn run(self, db: &dyn Db, id: i64, now: i64) -> Result<Json, ApiError> {
        to_json(&match self {
            Self::Cancel => cancel(db, id, now)?,
            Self::Retry => retry(db, id, now)?,
            Self::SetPriority { priority } => set_priority(db, id, priority, now)?,
        })
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod triggers;
