//! Schedules (SPEC §7): CRUD for their owners, control actions, and firing without a resident process.
//!
//! Firing (`run_due`, `POST /schedules/run-due`): every enabled schedule whose `next_run_at` has come fires
//! once. The occurrence is taken by one guarded update that moves `next_run_at` on (see `store::schedules`),
//! in the same transaction as its effect — a task submitted under the owner's rights, or a delivery queued —
//! so an occurrence fires exactly once with any number of callers on any number of hosts. Missed occurrences
//! coalesce: a schedule that was due several times while nobody called fires once, and its next run is the
//! first one after now. Delivering (`deliver_due`, `POST /schedules/deliver-due`) is separate, so a slow
//! endpoint never delays firing: due deliveries are claimed and sent all at once within one deadline, each
//! answer recorded as it arrives; a failed attempt is retried with capped exponential backoff and jitter, and
//! after [`RETRIES`] retries becomes a failure record that `requeue` replays. Decisions: `docs/schedules.md`.

use crate::auth::{self, Principal};
use crate::caller::Caller;
use crate::control::{NoParams, action_params, to_json};
use crate::db::{self, Db};
use crate::domain::project::ProjectRef;
use crate::domain::schedule::{Action as Does, Definition, Schedule, ScheduleInput, ScheduleSpec};
use crate::domain::schedule::{merge_patch, names_private_host, parse_cron, parse_interval};
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

/// How long one delivery may take to connect, to start answering, and between bytes of its answer — and the
/// whole batch of one `deliver_due` call — unless the variable `delivery_timeout_seconds` says otherwise.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest delivery timeout the variable may set.
const DELIVERY_TIMEOUT_MAX: u64 = 300;
/// Retries after a failed first attempt, before the occurrence becomes a failure record.
pub const RETRIES: i64 = 5;
/// The longest wait between two attempts, in seconds.
const BACKOFF_CAP: i64 = 300;
/// How much longer than its courier's deadline a claim lasts, so a live caller always records first.
const CLAIM_MARGIN: i64 = 30;
/// Most schedules fired, and most deliveries sent, by one call.
const BATCH: i64 = 50;
/// Most task failures one requeue replays (each in its own transaction); call again for the rest.
const REQUEUE_BATCH: i64 = 100;

/// The header naming the schedule of a delivery.
pub const SCHEDULE_HEADER: &str = "x-conveyor-schedule";
/// The header carrying the occurrence (Unix seconds) a delivery is for.
pub const OCCURRENCE_HEADER: &str = "x-conveyor-occurrence";
/// The header saying what fired a delivery: `schedule`, or `run_now`.
pub const TRIGGER_HEADER: &str = "x-conveyor-trigger";

/// The delivery timeout the variable `delivery_timeout_seconds` sets (1–300 s); absent or invalid: 30 s.
pub fn delivery_timeout(variable: Option<&str>) -> Duration {
    match variable.map(str::trim).and_then(|text| text.parse::<u64>().ok()) {
        Some(seconds @ 1..=DELIVERY_TIMEOUT_MAX) => Duration::from_secs(seconds),
        _ => DELIVERY_TIMEOUT,
    }
}

/// Where webhooks may point: by default not at this machine or a private network (the variable
/// `allow_private_endpoints` = `true` allows it, for development and for tests on loopback).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub allow_private: bool,
}

impl Endpoints {
    /// From the variable `allow_private_endpoints`.
    pub fn from_ctx(ctx: &crate::router::Ctx) -> Endpoints {
        let allowed = ctx.variable("allow_private_endpoints");
        Endpoints { allow_private: allowed.is_some_and(|value| value.trim().eq_ignore_ascii_case("true")) }
    }

    fn check(self, spec: &ScheduleSpec) -> Result<(), ApiError> {
        match &spec.action {
            Does::Webhook { endpoint, .. } if !self.allow_private && names_private_host(endpoint) => {
                Err(ApiError::invalid_field("endpoint", "must not name this machine or a private network address"))
            }
            _ => Ok(()),
        }
    }
}

/// What one `run_due` or `deliver_due` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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

/// Creates a schedule owned by the caller (a signed-in person). A task action needs the caller's right to
/// submit into the project now; at firing time it is checked again, with the owner's rights then.
pub fn create(
    db: &dyn Db,
    caller: &Caller,
    input: &ScheduleInput,
    endpoints: Endpoints,
    now: i64,
) -> Result<Schedule, ApiError> {
    policy::schedules_scope(caller)?;
    let owner = caller.principal().and_then(Principal::user).map(|user| user.id);
    let spec = checked(input, endpoints)?;
    let project = project_of(db, caller, &spec)?;
    let next = first_run(&spec, now)?;
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
    // `payload` is stored as JSON text; a listing shows it as JSON, as `GET /schedules/{id}` does.
    crate::workers::decode_json_fields(&mut listing.page, &["payload"]);
    Ok(listing)
}

/// Changes a schedule: the body is merged onto it (`null` removes a member) and validated whole. A changed
/// definition or time zone, or enabling it, moves `next_run_at` to the first occurrence after now; otherwise
/// it is left as it is in the database (a firing meanwhile may have moved it).
pub fn update(
    db: &dyn Db,
    caller: &Caller,
    id: &str,
    patch: &Map<String, Json>,
    endpoints: Endpoints,
    now: i64,
) -> Result<Schedule, ApiError> {
    let current = get(db, caller, id)?;
    let spec = checked(&merge_patch(&current.to_input(), patch)?, endpoints)?;
    let project = project_of(db, caller, &spec)?;
    let moves = current.redefined_by(&spec) || (spec.enabled && !current.enabled);
    let next = if moves { Some(first_run(&spec, now)?) } else { None };
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

/// Validates a schedule and where it points.
fn checked(input: &ScheduleInput, endpoints: Endpoints) -> Result<ScheduleSpec, ApiError> {
    let spec = input.validate()?;
    endpoints.check(&spec)?;
    Ok(spec)
}

/// The first run of a schedule defined now; a cron pattern that never fires (`0 0 30 2 *`) is a 422.
fn first_run(spec: &ScheduleSpec, now: i64) -> Result<i64, ApiError> {
    spec.definition.first(now).map_err(|error| match error {
        ApiError::Conflict { .. } => ApiError::invalid_field("cron_definition", "never matches a date"),
        other => other,
    })
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
                db::transaction(db, || perform(db, kv, &schedule, Occurrence::manual(now), now))?;
                to_json(&get(db, caller, id)?)
            }
            Self::Enable | Self::Disable => {
                let enabled = self == Self::Enable;
                let next = if enabled && !schedule.enabled { Some(definition(&schedule)?.first(now)?) } else { None };
                to_json(&store::set_enabled(db, id, enabled, next, now)?.ok_or_else(|| not_found(id))?)
            }
            Self::Requeue => Ok(serde_json::json!({"requeued": requeue(db, kv, FailuresOf::Schedule(id), now)?})),
        }
    }
}

/// Replays the failures of the caller's schedules (every schedule's, for administrators): Seed Scheduler's
/// `POST /failed-tasks/`. Answers how many were replayed.
pub fn requeue_mine(db: &dyn Db, kv: &dyn Kv, caller: &Caller, now: i64) -> Result<i64, ApiError> {
    let of = match policy::schedules_scope(caller)? {
        scope if scope.sql.is_empty() => FailuresOf::Everyone,
        _ => FailuresOf::Owner(caller.principal().and_then(Principal::user).map_or(0, |user| user.id)),
    };
    requeue(db, kv, of, now)
}

/// Replays the failures `of` selects: webhook occurrences are queued for delivery again (due now), in one
/// transaction; task occurrences are submitted again, each in the transaction that takes its failure (up to
/// [`REQUEUE_BATCH`] per call), so none is lost if the call is cut short.
fn requeue(db: &dyn Db, kv: &dyn Kv, of: FailuresOf<'_>, now: i64) -> Result<i64, ApiError> {
    let mut replayed = store::requeue_webhook_failures(db, of, now)?;
    for id in store::task_failures(db, of, REQUEUE_BATCH)? {
        let took = db::transaction(db, || {
            let Some(failure) = store::take_failure(db, id)? else { return Ok(false) };
            let Some(schedule) = store::get(db, &failure.schedule)? else { return Ok(false) };
            perform(db, kv, &schedule, Occurrence { at: failure.occurrence_at, manual: false }, now)?;
            Ok::<_, ApiError>(true)
        })?;
        replayed += i64::from(took);
    }
    Ok(replayed)
}

// ----- firing -----

/// An occurrence: when it was due, and whether `run_now` made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Occurrence {
    at: i64,
    manual: bool,
}

impl Occurrence {
    fn manual(at: i64) -> Occurrence {
        Occurrence { at, manual: true }
    }
}

/// The definition a stored schedule holds (validated when it was written).
fn definition(schedule: &Schedule) -> Result<Definition, ApiError> {
    let invalid = || ApiError::internal(format!("schedule {} holds an invalid definition", schedule.id));
    let zone = schedule.timezone.as_deref().map(str::parse).transpose().map_err(|_| invalid())?;
    match (&schedule.cron_definition, &schedule.interval_definition) {
        (Some(cron), _) => Ok(Definition::Cron { pattern: Box::new(parse_cron(cron).map_err(|_| invalid())?), zone }),
        (None, Some(interval)) => {
            Ok(Definition::Interval { seconds: parse_interval(interval).map_err(|_| invalid())? })
        }
        (None, None) => Err(invalid()),
    }
}

/// Fires every due occurrence (up to [`BATCH`]). A schedule that cannot fire never stops the others: one
/// whose definition no longer reads (or that never fires again) is disabled with a failure record saying so;
/// one whose firing meets an error (the database, say) is logged and stays due for the next call.
pub fn run_due(db: &dyn Db, kv: &dyn Kv, now: i64) -> Result<Firing, ApiError> {
    let mut firing = Firing::default();
    for schedule in store::due(db, now, BATCH)? {
        let next = match definition(&schedule).and_then(|definition| definition.next(schedule.next_run_at, now)) {
            Ok(next) => next,
            Err(error) => {
                disable_broken(db, &schedule, &error, now)?;
                continue;
            }
        };
        match fire(db, kv, &schedule, next, now) {
            Ok(fired) => firing.fired += i64::from(fired),
            Err(error) => {
                error.log_internal();
                eprintln!("conveyor: schedule {} stays due: {error}", schedule.id);
            }
        }
    }
    Ok(firing)
}

/// Takes the schedule's due occurrence (moving `next_run_at` to `next`) and performs it, in one transaction;
/// false when another caller took it first. It performs the schedule as it is when taken, so a concurrent
/// edit is not missed.
fn fire(db: &dyn Db, kv: &dyn Kv, schedule: &Schedule, next: i64, now: i64) -> Result<bool, ApiError> {
    let occurrence = schedule.next_run_at;
    db::transaction(db, || {
        let Some(taken) = store::take_occurrence(db, &schedule.id, occurrence, next)? else { return Ok(false) };
        perform(db, kv, &taken, Occurrence { at: occurrence, manual: false }, now)?;
        Ok(true)
    })
}

/// A schedule that can never fire again: disabled, with a failure record saying why.
fn disable_broken(db: &dyn Db, schedule: &Schedule, error: &ApiError, now: i64) -> Result<(), ApiError> {
    let reason = match error {
        ApiError::Conflict { .. } => "the cron pattern never fires again; the schedule was disabled".to_string(),
        _ => "the schedule's definition can no longer be read; the schedule was disabled".to_string(),
    };
    let failure = NewFailure {
        schedule: &schedule.id,
        occurrence_at: schedule.next_run_at,
        attempts: 0,
        status: None,
        error: &reason,
    };
    db::transaction(db, || {
        store::set_enabled(db, &schedule.id, false, None, now)?;
        store::record_failure(db, &failure, now)
    })?;
    Ok(())
}

/// What an occurrence does, inside the caller's transaction: a task submitted with the owner's rights now (a
/// refusal becomes a failure record), or a delivery queued.
fn perform(db: &dyn Db, kv: &dyn Kv, schedule: &Schedule, occurrence: Occurrence, now: i64) -> Result<(), ApiError> {
    let Some(project) = schedule.project else {
        return Ok(store::queue_delivery(db, &schedule.id, occurrence.at, occurrence.manual, now)?);
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
        // The platform failing is not the schedule's fault: undo, and the occurrence stays due.
        Err(error) if error.status() >= 500 => Err(error),
        Err(refused) => {
            let detail = refused.body().detail;
            let failure = NewFailure {
                schedule: &schedule.id,
                occurrence_at: occurrence.at,
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

// ----- delivering -----

/// Claims the due deliveries (up to [`BATCH`]), sends them together within the courier's deadline, and
/// records each outcome as it arrives. `clock` is read when claiming and for each outcome, so a retry waits
/// its backoff from the attempt's end.
pub fn deliver_due(db: &dyn Db, courier: &dyn Courier, clock: &dyn Fn() -> i64) -> Result<Firing, ApiError> {
    let mut firing = Firing::default();
    let lease = courier.deadline().as_secs() as i64 + CLAIM_MARGIN;
    let mut claimed = store::claim_deliveries(db, clock(), lease, BATCH)?;
    // An attempt past the last one means a caller died before recording it: nothing more is sent.
    let (abandoned, live): (Vec<Claimed>, Vec<Claimed>) =
        claimed.drain(..).partition(|claim| claim.attempts > RETRIES + 1);
    for claim in &abandoned {
        give_up(db, claim, None, "no answer was recorded for the last attempt", clock())?;
        firing.failed += 1;
    }
    if live.is_empty() {
        return Ok(firing);
    }
    let posts: Vec<Post> = live.iter().map(post_of).collect();
    let mut failure = None;
    courier.deliver(&posts, &mut |index, answer| {
        if failure.is_none()
            && let Err(error) = record(db, &live[index], answer, clock(), &mut firing)
        {
            failure = Some(error);
        }
    });
    failure.map_or(Ok(firing), Err)
}

/// Records one delivery's outcome.
fn record(db: &dyn Db, claim: &Claimed, answer: Answer, now: i64, firing: &mut Firing) -> Result<(), ApiError> {
    let (status, error) = match answer {
        Answer::Status { status: 200..=299, .. } => {
            store::delivered(db, claim, now)?;
            firing.delivered += 1;
            return Ok(());
        }
        Answer::Status { status, excerpt } => (Some(i64::from(status)), format!("HTTP {status}: {excerpt}")),
        Answer::Failed(reason) => (None, reason),
    };
    if claim.attempts > RETRIES {
        give_up(db, claim, status, &error, now)?;
        firing.failed += 1;
    } else {
        store::retry_delivery(db, claim, now + backoff(claim.attempts)?, status, &error)?;
        firing.retried += 1;
    }
    Ok(())
}

/// The POST of a delivery: the payload, `Authorization: Token <auth_token>` when the schedule has one, and
/// the schedule, the occurrence and what fired it, so that a receiver can drop a repeat (a delivery whose
/// caller died after sending is sent again once its claim lapses: at least once, never lost).
fn post_of(claim: &Claimed) -> Post {
    let trigger = if claim.manual { "run_now" } else { "schedule" };
    let mut headers = vec![
        (SCHEDULE_HEADER.to_string(), claim.schedule.clone()),
        (OCCURRENCE_HEADER.to_string(), claim.occurrence_at.to_string()),
        (TRIGGER_HEADER.to_string(), trigger.to_string()),
    ];
    if let Some(token) = &claim.auth_token {
        headers.push(("authorization".into(), format!("Token {token}")));
    }
    Post { url: claim.endpoint.clone(), headers, body: claim.payload.clone() }
}

fn give_up(db: &dyn Db, claim: &Claimed, status: Option<i64>, error: &str, now: i64) -> Result<(), ApiError> {
    let failure = NewFailure {
        schedule: &claim.schedule,
        occurrence_at: claim.occurrence_at,
        attempts: claim.attempts,
        status,
        error,
    };
    db::transaction(db, || {
        if store::end_delivery(db, claim)? {
            store::record_failure(db, &failure, now)?;
        }
        Ok::<_, ApiError>(())
    })
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
