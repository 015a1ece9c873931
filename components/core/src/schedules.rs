//! Schedules (SPEC §7): CRUD for their owners, control actions, and firing without a resident process.
//!
//! Firing (`run_due`, called by `POST /schedules/run-due`, which the local host calls every second): every
//! enabled schedule whose `next_run_at` has come fires once. The occurrence is taken by one guarded update
//! that moves `next_run_at` on (see `store::schedules`), in the same transaction as its effect — a task
//! submitted under the owner's rights, or a delivery queued — so an occurrence fires exactly once with any
//! number of callers on any number of hosts. Missed occurrences coalesce: a schedule that was due several
//! times while nobody called fires once, and its next run is the first one after now. Queued deliveries are
//! then claimed and sent, all at once, each bounded by [`DELIVERY_TIMEOUT`]; a failed attempt is retried with
//! capped exponential backoff and jitter, and after [`RETRIES`] retries becomes a failure record that
//! `requeue` replays. Decisions: `docs/schedules.md`.

use crate::auth::{self, Principal};
use crate::caller::{self, Caller};
use crate::control::{NoParams, action_params, to_json};
use crate::db::{self, Db};
use crate::domain::project::ProjectRef;
use crate::domain::schedule::{Action as Does, Definition, Schedule, ScheduleInput, ScheduleSpec};
use crate::domain::schedule::{merge_patch, parse_cron, parse_interval};
use crate::domain::task::SubmitRequest;
use crate::error::ApiError;
use crate::outbound::{Answer, Courier, Post};
use crate::platform::Kv;
use crate::query::{self, Listing};
use crate::store::schedules::{self as store, Claimed, FailuresOf, NewFailure};
use crate::{operations, policy, projects, secrets};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::time::Duration;

pub use store::{FAILURES, RESOURCE};

/// How long one delivery may take to connect, to start answering, and between bytes of its answer.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries after a failed first attempt, before the occurrence becomes a failure record.
pub const RETRIES: i64 = 5;
/// The longest wait between two attempts, in seconds.
const BACKOFF_CAP: i64 = 300;
/// How long a claimed delivery stays with its caller before another may take it over.
const CLAIM_LEASE: i64 = DELIVERY_TIMEOUT.as_secs() as i64 + 15;
/// Most schedules fired, and most deliveries sent, by one call of `run_due`.
const BATCH: i64 = 50;

/// What one `run_due` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Firing {
    /// Occurrences taken (tasks submitted or refused, deliveries queued).
    pub fired: i64,
    /// Deliveries answered with a 2xx.
    pub delivered: i64,
    /// Failed attempts that will be retried.
    pub retried: i64,
    /// Occurrences that became failure records.
    pub failed: i64,
}

// ----- reading and writing -----

/// Creates a schedule owned by the caller (a person). A task action needs the caller's right to submit
/// into the project now; at firing time it is checked again with the owner's rights then.
pub fn create(db: &dyn Db, caller: &Caller, input: &ScheduleInput, now: i64) -> Result<Schedule, ApiError> {
    let principal = caller::require_person(caller)?;
    let owner = match principal {
        Principal::Anonymous => return Err(ApiError::Unauthorized("authentication required".into())),
        other => other.user().map(|user| user.id),
    };
    let spec = input.validate()?;
    let project = project_of(db, caller, &spec)?;
    let next = spec.definition.first(now)?;
    store::insert(db, &secrets::new_uuid()?, owner, &spec, project, next, now).map_err(|error| gone(error, "project"))
}

/// A schedule its owner (or an administrator) may see; 404 for anyone else.
pub fn get(db: &dyn Db, caller: &Caller, id: &str) -> Result<Schedule, ApiError> {
    let schedule = store::get(db, id)?.ok_or_else(|| not_found(id))?;
    policy::may_use_schedule(caller, schedule.owner, id)?;
    Ok(schedule)
}

/// The caller's schedules (every one, for administrators), in the query language.
pub fn list(db: &dyn Db, caller: &Caller, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    let mut listing = Listing::run(db, &RESOURCE, &policy::schedules_scope(caller)?, pairs)?;
    decode_payloads(&mut listing);
    Ok(listing)
}

/// Changes a schedule: the body is merged onto it (`null` removes a member) and validated whole. A changed
/// definition or time zone, or enabling it, moves `next_run_at` to the first occurrence after now.
pub fn update(
    db: &dyn Db,
    caller: &Caller,
    id: &str,
    patch: &Map<String, Json>,
    now: i64,
) -> Result<Schedule, ApiError> {
    let current = get(db, caller, id)?;
    let spec = merge_patch(&current.to_input(), patch)?.validate()?;
    let project = project_of(db, caller, &spec)?;
    let next = if current.redefined_by(&spec) || (spec.enabled && !current.enabled) {
        spec.definition.first(now)?
    } else {
        current.next_run_at
    };
    store::update(db, id, &spec, project, next, now)
        .map_err(|error| gone(error, "project"))?
        .ok_or_else(|| not_found(id))
}

/// Deletes a schedule with its pending deliveries and failures.
pub fn delete(db: &dyn Db, caller: &Caller, id: &str) -> Result<(), ApiError> {
    get(db, caller, id)?;
    if store::delete(db, id)? { Ok(()) } else { Err(not_found(id)) }
}

/// A schedule's failures, in the query language.
pub fn failures(db: &dyn Db, caller: &Caller, id: &str, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    get(db, caller, id)?;
    Listing::run(db, &FAILURES, &store::failures_scope(id), pairs)
}

/// Every failure the caller may see (their schedules'; every one for administrators), in the query language:
/// Seed Scheduler's `/failed-tasks/`.
pub fn all_failures(db: &dyn Db, caller: &Caller, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    let scope = policy::schedules_scope(caller)?;
    let scope = query::Scope {
        sql: if scope.sql.is_empty() {
            String::new()
        } else {
            format!("f.schedule IN (SELECT s.id FROM schedules s WHERE {})", scope.sql)
        },
        params: scope.params,
    };
    Listing::run(db, &FAILURES, &scope, pairs)
}

/// The project of a task action, resolved, if the caller may submit into it.
fn project_of(db: &dyn Db, caller: &Caller, spec: &ScheduleSpec) -> Result<Option<i64>, ApiError> {
    let Does::Task { project, .. } = &spec.action else { return Ok(None) };
    let project = projects::resolve(db, &project.to_ref())?;
    policy::may_submit(db, caller, &project)?;
    Ok(Some(project.id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("schedule `{id}` not found"))
}

/// A foreign key that vanished under a write (the project was deleted meanwhile) is a 404.
fn gone(error: crate::db::DbError, what: &str) -> ApiError {
    match error {
        crate::db::DbError::ForeignKey(_) => ApiError::NotFound(format!("the {what} no longer exists")),
        other => other.into(),
    }
}

/// `payload` is stored as JSON text; a listing shows it as JSON, as `GET /schedules/{id}` does.
fn decode_payloads(listing: &mut Listing) {
    for row in &mut listing.page.results {
        if let Some(Json::String(text)) = row.get("payload")
            && let Ok(value) = serde_json::from_str::<Json>(text)
        {
            row.insert("payload".into(), value);
        }
    }
}

// ----- control actions -----

/// A control action on `/schedules/{id}` (JSON-RPC, SPEC §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Fires one occurrence now, without moving `next_run_at`.
    RunNow,
    Enable,
    Disable,
    /// Replays the schedule's failures.
    Requeue,
}

impl Action {
    /// `Ok(None)` for an unknown method (JSON-RPC -32601); Err for invalid params (-32602).
    pub fn parse(method: &str, params: &Json) -> Result<Option<Self>, ApiError> {
        let action = match method {
            "run_now" => Self::RunNow,
            "enable" => Self::Enable,
            "disable" => Self::Disable,
            "requeue" => Self::Requeue,
            _ => return Ok(None),
        };
        action_params::<NoParams>(params)?;
        Ok(Some(action))
    }

    /// Runs the action for the schedule's owner (or an administrator); the result is the schedule after it,
    /// or for `requeue` `{"requeued": n}`.
    pub fn run(self, db: &dyn Db, kv: &dyn Kv, caller: &Caller, id: &str, now: i64) -> Result<Json, ApiError> {
        let schedule = get(db, caller, id)?;
        match self {
            Self::RunNow => {
                db::transaction(db, || perform(db, kv, &schedule, now, now))?;
                to_json(&get(db, caller, id)?)
            }
            Self::Enable | Self::Disable => {
                let enabled = self == Self::Enable;
                let next = if enabled && !schedule.enabled {
                    definition(&schedule)?.first(now)?
                } else {
                    schedule.next_run_at
                };
                to_json(&store::set_enabled(db, id, enabled, next, now)?.ok_or_else(|| not_found(id))?)
            }
            Self::Requeue => Ok(serde_json::json!({"requeued": requeue(db, kv, FailuresOf::Schedule(id), now)?})),
        }
    }
}

/// Replays the failures of the caller's schedules (every schedule's, for administrators): Seed Scheduler's
/// `POST /failed-tasks/`. Answers how many were replayed.
pub fn requeue_mine(db: &dyn Db, kv: &dyn Kv, caller: &Caller, now: i64) -> Result<i64, ApiError> {
    let principal = caller::require_person(caller)?;
    let of = match principal {
        _ if principal.is_admin() => FailuresOf::Everyone,
        Principal::User(user) => FailuresOf::Owner(user.id),
        _ => return Err(ApiError::Unauthorized("authentication required".into())),
    };
    requeue(db, kv, of, now)
}

/// Takes the failures `of` selects: webhook occurrences are queued for delivery again (due now); task
/// occurrences are submitted again at once.
fn requeue(db: &dyn Db, kv: &dyn Kv, of: FailuresOf<'_>, now: i64) -> Result<i64, ApiError> {
    let taken = store::take_failures(db, of, now)?;
    for failure in &taken {
        if let Some(schedule) = store::get(db, &failure.schedule)?
            && schedule.project.is_some()
        {
            db::transaction(db, || perform(db, kv, &schedule, failure.occurrence_at, now))?;
        }
    }
    Ok(taken.len() as i64)
}

// ----- firing -----

/// The definition a stored schedule holds (validated when it was written).
fn definition(schedule: &Schedule) -> Result<Definition, ApiError> {
    let zone = schedule.timezone.as_deref().map(str::parse).transpose().map_err(|_| stored_invalid(schedule))?;
    match (&schedule.cron_definition, &schedule.interval_definition) {
        (Some(cron), _) => {
            Ok(Definition::Cron { pattern: Box::new(parse_cron(cron).map_err(|_| stored_invalid(schedule))?), zone })
        }
        (None, Some(interval)) => {
            Ok(Definition::Interval { seconds: parse_interval(interval).map_err(|_| stored_invalid(schedule))? })
        }
        (None, None) => Err(stored_invalid(schedule)),
    }
}

fn stored_invalid(schedule: &Schedule) -> ApiError {
    ApiError::internal(format!("schedule {} holds an invalid definition", schedule.id))
}

/// Fires every due occurrence, then sends the deliveries that are due (see the module docs).
pub fn run_due(db: &dyn Db, kv: &dyn Kv, courier: &dyn Courier, now: i64) -> Result<Firing, ApiError> {
    let mut firing = Firing::default();
    for schedule in store::due(db, now, BATCH)? {
        if fire(db, kv, &schedule, now)? {
            firing.fired += 1;
        }
    }
    deliver(db, courier, now, &mut firing)?;
    Ok(firing)
}

/// Takes the schedule's due occurrence and performs it, in one transaction; false when another caller took
/// it first. A schedule that can never fire again (a cron date in the past) is disabled.
fn fire(db: &dyn Db, kv: &dyn Kv, schedule: &Schedule, now: i64) -> Result<bool, ApiError> {
    let occurrence = schedule.next_run_at;
    let next = match definition(schedule)?.next(occurrence, now) {
        Ok(next) => next,
        Err(ApiError::Conflict { .. }) => {
            store::set_enabled(db, &schedule.id, false, occurrence, now)?;
            return Ok(false);
        }
        Err(other) => return Err(other),
    };
    db::transaction(db, || {
        if !store::take_occurrence(db, &schedule.id, occurrence, next)? {
            return Ok(false);
        }
        perform(db, kv, schedule, occurrence, now)?;
        Ok(true)
    })
}

/// What an occurrence does, inside the caller's transaction: a task submitted with the owner's rights now (a
/// refusal becomes a failure record), or a delivery queued.
fn perform(db: &dyn Db, kv: &dyn Kv, schedule: &Schedule, occurrence: i64, now: i64) -> Result<(), ApiError> {
    let Some(project) = schedule.project else {
        return Ok(store::queue_delivery(db, &schedule.id, occurrence, now)?);
    };
    let request = SubmitRequest {
        project: ProjectRef::Id(project),
        recipe: schedule.recipe.clone().unwrap_or_default(),
        priority: schedule.priority,
        max_retries: None,
        max_assign_time: None,
        hash64: None,
        unique_string: None,
        verification_count: None,
    };
    let submitted =
        owner(db, schedule.owner).and_then(|owner| operations::submit_task(db, kv, &owner, &request, now).map(|_| ()));
    match submitted {
        Ok(()) => Ok(store::ran(db, &schedule.id, now)?),
        // The database failing is not the schedule's fault: undo, and the occurrence stays due.
        Err(error) if error.status() >= 500 => Err(error),
        Err(refused) => {
            let detail = refused.body().detail;
            let failure = NewFailure {
                schedule: &schedule.id,
                occurrence_at: occurrence,
                attempts: 1,
                status: Some(i64::from(refused.status())),
                error: &detail,
            };
            Ok(store::record_failure(db, &failure, now)?)
        }
    }
}

/// The owner, as the caller a task submission is checked for.
fn owner(db: &dyn Db, owner: Option<i64>) -> Result<Caller, ApiError> {
    Ok(Caller::Person(match owner {
        None => Principal::Admin,
        Some(user) => auth::on_behalf_of(db, user)?,
    }))
}

/// Claims the due deliveries, sends them together, and records each outcome.
fn deliver(db: &dyn Db, courier: &dyn Courier, now: i64, firing: &mut Firing) -> Result<(), ApiError> {
    let claimed = store::claim_deliveries(db, now, CLAIM_LEASE, BATCH)?;
    if claimed.is_empty() {
        return Ok(());
    }
    let posts: Vec<Post> = claimed.iter().map(post_of).collect();
    let answers = courier.deliver(&posts);
    for (claim, answer) in claimed.iter().zip(answers) {
        let (status, error) = match answer {
            Answer::Status { status: 200..=299, .. } => {
                store::delivered(db, claim, now)?;
                firing.delivered += 1;
                continue;
            }
            Answer::Status { status, excerpt } => (Some(i64::from(status)), format!("HTTP {status}: {excerpt}")),
            Answer::Failed(reason) => (None, reason),
        };
        if claim.attempts > RETRIES {
            give_up(db, claim, status, &error, now)?;
            firing.failed += 1;
        } else {
            store::retry_delivery(db, claim.id, now + backoff(claim.attempts)?, status, &error)?;
            firing.retried += 1;
        }
    }
    Ok(())
}

/// The POST of a delivery: the payload, `Authorization: Token <auth_token>` when the schedule has one, and
/// the schedule and occurrence, so that a receiver can drop a repeat (a delivery whose caller died after
/// sending is sent again once its claim lapses: at least once, never lost).
fn post_of(claim: &Claimed) -> Post {
    let mut headers = vec![
        (SCHEDULE_HEADER.to_string(), claim.schedule.clone()),
        (OCCURRENCE_HEADER.to_string(), claim.occurrence_at.to_string()),
    ];
    if let Some(token) = &claim.auth_token {
        headers.push(("authorization".into(), format!("Token {token}")));
    }
    Post { url: claim.endpoint.clone(), headers, body: claim.payload.clone() }
}

/// The header naming the schedule of a delivery.
pub const SCHEDULE_HEADER: &str = "x-conveyor-schedule";
/// The header carrying the occurrence (Unix seconds) a delivery is for.
pub const OCCURRENCE_HEADER: &str = "x-conveyor-occurrence";

fn give_up(db: &dyn Db, claim: &Claimed, status: Option<i64>, error: &str, now: i64) -> Result<(), ApiError> {
    let failure = NewFailure {
        schedule: &claim.schedule,
        occurrence_at: claim.occurrence_at,
        attempts: claim.attempts,
        status,
        error,
    };
    db::transaction(db, || {
        store::end_delivery(db, claim.id)?;
        store::record_failure(db, &failure, now)
    })?;
    Ok(())
}

/// Seconds before the next attempt after `attempts` failed ones: 2^attempts, capped at [`BACKOFF_CAP`], of
/// which a random half is taken off ("equal jitter"), so retries of many schedules spread out.
fn backoff(attempts: i64) -> Result<i64, ApiError> {
    let ceiling = 1_i64.checked_shl(attempts.clamp(0, 30) as u32).unwrap_or(BACKOFF_CAP).min(BACKOFF_CAP);
    let half = ceiling / 2;
    let jitter = i64::from(u16::from_le_bytes(secrets::random_bytes::<2>()?)) % (half + 1);
    Ok((ceiling - jitter).max(1))
}

#[cfg(test)]
mod tests;
