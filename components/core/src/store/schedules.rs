//! `schedules`, `schedule_deliveries` and `schedule_failures`. Firing is exactly-once by construction: an
//! occurrence is taken by one guarded `UPDATE` that moves `next_run_at` from the value the caller read (only
//! one caller can match it), and a delivery attempt by one `UPDATE … RETURNING` that claims due rows.

use crate::db::{self, Db, DbError, Row, Value};
use crate::domain::schedule::{Action, Failure, Schedule, ScheduleSpec};
use crate::query::{Field, Kind, Resource, Scope};
use serde_json::Value as Json;

const COLUMNS: &str = "id, name, owner, enabled, cron_definition, interval_definition, timezone, project, recipe, \
                       priority, endpoint, payload, auth_token, next_run_at, last_run_at, created_at, updated_at";

/// The `/schedules` collection (alias `s`; `payload` renders as JSON text, decoded by the service).
pub const FIELDS: &[Field] = &[
    Field { name: "id", sql: "s.id", kind: Kind::Text, filter: true },
    Field { name: "name", sql: "s.name", kind: Kind::Text, filter: true },
    Field { name: "owner", sql: "s.owner", kind: Kind::Int, filter: true },
    Field { name: "enabled", sql: "s.enabled", kind: Kind::Bool, filter: true },
    Field { name: "cron_definition", sql: "s.cron_definition", kind: Kind::Text, filter: true },
    Field { name: "interval_definition", sql: "s.interval_definition", kind: Kind::Text, filter: true },
    Field { name: "timezone", sql: "s.timezone", kind: Kind::Text, filter: true },
    Field { name: "project", sql: "s.project", kind: Kind::Int, filter: true },
    Field { name: "recipe", sql: "s.recipe", kind: Kind::Text, filter: false },
    Field { name: "priority", sql: "s.priority", kind: Kind::Int, filter: true },
    Field { name: "endpoint", sql: "s.endpoint", kind: Kind::Text, filter: true },
    Field { name: "payload", sql: "s.payload", kind: Kind::Text, filter: false },
    Field { name: "next_run_at", sql: "s.next_run_at", kind: Kind::Int, filter: true },
    Field { name: "last_run_at", sql: "s.last_run_at", kind: Kind::Int, filter: true },
    Field { name: "created_at", sql: "s.created_at", kind: Kind::Int, filter: true },
    Field { name: "updated_at", sql: "s.updated_at", kind: Kind::Int, filter: true },
];

/// `/schedules` for the query language.
pub const RESOURCE: Resource = Resource { from: "schedules s", fields: FIELDS };

/// The `/schedules/{id}/failures` collection (alias `f`).
pub const FAILURE_FIELDS: &[Field] = &[
    Field { name: "id", sql: "f.id", kind: Kind::Int, filter: true },
    Field { name: "schedule", sql: "f.schedule", kind: Kind::Text, filter: true },
    Field { name: "occurrence_at", sql: "f.occurrence_at", kind: Kind::Int, filter: true },
    Field { name: "attempts", sql: "f.attempts", kind: Kind::Int, filter: true },
    Field { name: "status", sql: "f.status", kind: Kind::Int, filter: true },
    Field { name: "error", sql: "f.error", kind: Kind::Text, filter: false },
    Field { name: "created_at", sql: "f.created_at", kind: Kind::Int, filter: true },
];

/// Failures for the query language.
pub const FAILURES: Resource = Resource { from: "schedule_failures f", fields: FAILURE_FIELDS };

/// Schedules a caller may see: an owner sees theirs (administrators see every one: no scope).
pub fn owner_scope(user: i64) -> Scope {
    Scope { sql: "s.owner = ?".into(), params: vec![user.into()] }
}

/// Failures of one schedule.
pub fn failures_scope(schedule: &str) -> Scope {
    Scope { sql: "f.schedule = ?".into(), params: vec![schedule.into()] }
}

fn from_row(row: &Row<'_>) -> Result<Schedule, DbError> {
    let payload = row.opt_text("payload")?.map(|text| serde_json::from_str(&text).unwrap_or(Json::String(text)));
    Ok(Schedule {
        id: row.text("id")?,
        name: row.text("name")?,
        owner: row.opt_int("owner")?,
        enabled: row.bool("enabled")?,
        cron_definition: row.opt_text("cron_definition")?,
        interval_definition: row.opt_text("interval_definition")?,
        timezone: row.opt_text("timezone")?,
        project: row.opt_int("project")?,
        recipe: row.opt_text("recipe")?,
        priority: row.opt_int("priority")?,
        endpoint: row.opt_text("endpoint")?,
        payload,
        auth_token: row.opt_text("auth_token")?,
        next_run_at: row.int("next_run_at")?,
        last_run_at: row.opt_int("last_run_at")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

/// The columns a spec sets, in `SPEC_COLUMNS` order, with the resolved project id of a task action.
fn spec_values(spec: &ScheduleSpec, project: Option<i64>) -> Vec<Value> {
    let (recipe, priority, endpoint, payload, auth_token) = match &spec.action {
        Action::Task { recipe, priority, .. } => (Some(recipe.clone()), Some(*priority), None, None, None),
        Action::Webhook { endpoint, payload, auth_token } => {
            (None, None, Some(endpoint.clone()), Some(payload.to_string()), auth_token.clone())
        }
    };
    vec![
        spec.name.clone().into(),
        spec.enabled.into(),
        spec.cron_definition.clone().into(),
        spec.interval_definition.clone().into(),
        spec.interval_seconds.into(),
        spec.timezone.clone().into(),
        project.into(),
        recipe.into(),
        priority.into(),
        endpoint.into(),
        payload.into(),
        auth_token.into(),
    ]
}

const SPEC_COLUMNS: &str = "name, enabled, cron_definition, interval_definition, interval_seconds, timezone, project, \
                            recipe, priority, endpoint, payload, auth_token";

/// Inserts a schedule. A `project` that does not exist is [`DbError::ForeignKey`].
pub fn insert(
    db: &dyn Db,
    id: &str,
    owner: Option<i64>,
    spec: &ScheduleSpec,
    project: Option<i64>,
    next_run_at: i64,
    now: i64,
) -> Result<Schedule, DbError> {
    let mut params = vec![id.into(), owner.into()];
    params.extend(spec_values(spec, project));
    params.extend([next_run_at.into(), now.into(), now.into()]);
    let rows = db.execute(
        &format!(
            "INSERT INTO schedules (id, owner, {SPEC_COLUMNS}, next_run_at, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        ),
        &params,
    )?;
    rows.map_first(from_row)?.ok_or_else(|| DbError::Other("INSERT returned no row".into()))
}

/// A schedule by id.
pub fn get(db: &dyn Db, id: &str) -> Result<Option<Schedule>, DbError> {
    db.execute(&format!("SELECT {COLUMNS} FROM schedules WHERE id = ?"), &[id.into()])?.map_first(from_row)
}

/// Replaces a schedule's spec; `next_run_at` only when `next` is given (writing back a value read earlier
/// could undo a firing that happened meanwhile). A schedule that no longer delivers drops its pending
/// deliveries. `None` when it is gone.
pub fn update(
    db: &dyn Db,
    id: &str,
    spec: &ScheduleSpec,
    project: Option<i64>,
    next: Option<i64>,
    now: i64,
) -> Result<Option<Schedule>, DbError> {
    let assignments = SPEC_COLUMNS.split(", ").map(|column| format!("{column} = ?")).collect::<Vec<_>>().join(", ");
    let mut params = spec_values(spec, project);
    params.extend([next.into(), now.into(), id.into()]);
    db::transaction(db, || {
        let updated = db
            .execute(
                &format!(
                    "UPDATE schedules SET {assignments}, next_run_at = COALESCE(?, next_run_at), updated_at = ? \
                     WHERE id = ? RETURNING {COLUMNS}"
                ),
                &params,
            )?
            .map_first(from_row)?;
        db.execute(
            "DELETE FROM schedule_deliveries WHERE schedule = ? AND EXISTS \
             (SELECT 1 FROM schedules s WHERE s.id = ? AND s.endpoint IS NULL)",
            &[id.into(), id.into()],
        )?;
        Ok(updated)
    })
}

/// Enables or disables a schedule, and sets `next_run_at` when `next` is given (enabling a disabled one:
/// nothing missed while it was disabled fires).
pub fn set_enabled(
    db: &dyn Db,
    id: &str,
    enabled: bool,
    next: Option<i64>,
    now: i64,
) -> Result<Option<Schedule>, DbError> {
    db.execute(
        &format!(
            "UPDATE schedules SET enabled = ?, next_run_at = COALESCE(?, next_run_at), updated_at = ? \
             WHERE id = ? RETURNING {COLUMNS}"
        ),
        &[enabled.into(), next.into(), now.into(), id.into()],
    )?
    .map_first(from_row)
}

/// Deletes a schedule with its deliveries and failures; false when there was none.
pub fn delete(db: &dyn Db, id: &str) -> Result<bool, DbError> {
    Ok(!db.execute("DELETE FROM schedules WHERE id = ? RETURNING id", &[id.into()])?.rows.is_empty())
}

/// Enabled schedules due at `now`, earliest first.
pub fn due(db: &dyn Db, now: i64, limit: i64) -> Result<Vec<Schedule>, DbError> {
    db.execute(
        &format!(
            "SELECT {COLUMNS} FROM schedules WHERE enabled = 1 AND next_run_at <= ? ORDER BY next_run_at, id LIMIT ?"
        ),
        &[now.into(), limit.into()],
    )?
    .map_all(from_row)
}

/// Takes the occurrence at `from`: moves `next_run_at` to `to` if it still is `from` (and the schedule is
/// enabled). The one caller that took it gets the schedule as it is now (what it performs).
pub fn take_occurrence(db: &dyn Db, id: &str, from: i64, to: i64) -> Result<Option<Schedule>, DbError> {
    db.execute(
        &format!(
            "UPDATE schedules SET next_run_at = ? WHERE id = ? AND next_run_at = ? AND enabled = 1 RETURNING {COLUMNS}"
        ),
        &[to.into(), id.into(), from.into()],
    )?
    .map_first(from_row)
}

/// Records that an occurrence ran (`last_run_at`).
pub fn ran(db: &dyn Db, id: &str, at: i64) -> Result<(), DbError> {
    db.execute("UPDATE schedules SET last_run_at = ? WHERE id = ?", &[at.into(), id.into()])?;
    Ok(())
}

// ----- deliveries -----

/// A delivery attempt claimed by one caller, with what to send (the schedule's current endpoint and payload).
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: i64,
    pub schedule: String,
    pub occurrence_at: i64,
    /// Fired by `run_now` rather than by the schedule.
    pub manual: bool,
    /// Including this one; also the claim's generation, which guards the write of its outcome.
    pub attempts: i64,
    pub endpoint: String,
    pub payload: String,
    pub auth_token: Option<String>,
}

/// Queues a delivery of an occurrence, due at `due_at`.
pub fn queue_delivery(
    db: &dyn Db,
    schedule: &str,
    occurrence_at: i64,
    manual: bool,
    due_at: i64,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO schedule_deliveries (schedule, occurrence_at, manual, due_at) VALUES (?, ?, ?, ?)",
        &[schedule.into(), occurrence_at.into(), manual.into(), due_at.into()],
    )?;
    Ok(())
}

/// Claims up to `limit` due deliveries of enabled schedules for `lease` seconds (one more attempt each), in one
/// statement: two callers never claim the same row. A claim whose caller died is due again once it lapses.
pub fn claim_deliveries(db: &dyn Db, now: i64, lease: i64, limit: i64) -> Result<Vec<Claimed>, DbError> {
    // A read first: most calls (the host ticks every second) find nothing, and then take no write lock.
    let due = db.execute("SELECT 1 AS due FROM schedule_deliveries WHERE due_at <= ? LIMIT 1", &[now.into()])?;
    if due.rows.is_empty() {
        return Ok(Vec::new());
    }
    let claimed = db.execute(
        "UPDATE schedule_deliveries SET attempts = attempts + 1, claimed_until = ?1 \
         WHERE id IN (SELECT d.id FROM schedule_deliveries d JOIN schedules s ON s.id = d.schedule \
                      WHERE d.due_at <= ?2 AND (d.claimed_until IS NULL OR d.claimed_until <= ?2) \
                        AND s.enabled = 1 AND s.endpoint IS NOT NULL \
                      ORDER BY d.due_at, d.id LIMIT ?3) \
         RETURNING id",
        &[(now + lease).into(), now.into(), limit.into()],
    )?;
    if claimed.rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = claimed.map_all(|row| row.int("id"))?;
    // What to send, read once for the whole claim (RETURNING cannot join the schedules).
    db.execute(
        "SELECT d.id, d.schedule, d.occurrence_at, d.manual, d.attempts, s.endpoint, s.payload, s.auth_token \
         FROM schedule_deliveries d JOIN schedules s ON s.id = d.schedule \
         WHERE d.id IN (SELECT value FROM json_each(?)) AND s.endpoint IS NOT NULL ORDER BY d.due_at, d.id",
        &[serde_json::to_string(&ids).map_err(|e| DbError::Other(e.to_string()))?.into()],
    )?
    .map_all(|row| {
        Ok(Claimed {
            id: row.int("id")?,
            schedule: row.text("schedule")?,
            occurrence_at: row.int("occurrence_at")?,
            manual: row.bool("manual")?,
            attempts: row.int("attempts")?,
            endpoint: row.text("endpoint")?,
            payload: row.opt_text("payload")?.unwrap_or_else(|| "null".into()),
            auth_token: row.opt_text("auth_token")?,
        })
    })
}

/// A delivery succeeded: it is done, and its schedule ran. Nothing happens when the claim is no longer this
/// one (it lapsed and another caller took it over).
pub fn delivered(db: &dyn Db, delivery: &Claimed, now: i64) -> Result<(), DbError> {
    db::transaction(db, || {
        let done = db.execute(
            "DELETE FROM schedule_deliveries WHERE id = ? AND attempts = ? RETURNING id",
            &[delivery.id.into(), delivery.attempts.into()],
        )?;
        if done.rows.is_empty() { Ok(()) } else { ran(db, &delivery.schedule, now) }
    })
}

/// A delivery attempt failed: try again at `due_at` (if the claim is still this one).
pub fn retry_delivery(
    db: &dyn Db,
    claim: &Claimed,
    due_at: i64,
    status: Option<i64>,
    error: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE schedule_deliveries SET due_at = ?, claimed_until = NULL, last_status = ?, last_error = ? \
         WHERE id = ? AND attempts = ?",
        &[due_at.into(), status.into(), error.into(), claim.id.into(), claim.attempts.into()],
    )?;
    Ok(())
}

/// Ends a delivery that became a failure; false when the claim is no longer this one.
pub fn end_delivery(db: &dyn Db, claim: &Claimed) -> Result<bool, DbError> {
    let ended = db.execute(
        "DELETE FROM schedule_deliveries WHERE id = ? AND attempts = ? RETURNING id",
        &[claim.id.into(), claim.attempts.into()],
    )?;
    Ok(!ended.rows.is_empty())
}

/// Records a failure of an occurrence.
pub fn record_failure(db: &dyn Db, failure: &NewFailure<'_>, now: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO schedule_failures (schedule, occurrence_at, attempts, status, error, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
        &[
            failure.schedule.into(),
            failure.occurrence_at.into(),
            failure.attempts.into(),
            failure.status.into(),
            failure.error.into(),
            now.into(),
        ],
    )?;
    Ok(())
}

/// A failure to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewFailure<'a> {
    pub schedule: &'a str,
    pub occurrence_at: i64,
    pub attempts: i64,
    pub status: Option<i64>,
    pub error: &'a str,
}

fn failure_from_row(row: &Row<'_>) -> Result<Failure, DbError> {
    Ok(Failure {
        id: row.int("id")?,
        schedule: row.text("schedule")?,
        occurrence_at: row.int("occurrence_at")?,
        attempts: row.int("attempts")?,
        status: row.opt_int("status")?,
        error: row.text("error")?,
        created_at: row.int("created_at")?,
    })
}

/// Whose failures a requeue takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailuresOf<'a> {
    Schedule(&'a str),
    Owner(i64),
    Everyone,
}

impl FailuresOf<'_> {
    /// `(?1 schedule, ?2 owner)` for the `WHERE` of [`FAILURES_OF`].
    fn params(self) -> [Value; 2] {
        match self {
            FailuresOf::Schedule(id) => [id.into(), Value::Null],
            FailuresOf::Owner(user) => [Value::Null, user.into()],
            FailuresOf::Everyone => [Value::Null, Value::Null],
        }
    }
}

/// The failures a [`FailuresOf`] selects (alias `f`, parameters `?1`, `?2`).
const FAILURES_OF: &str = "(?1 IS NULL OR f.schedule = ?1) \
                           AND (?2 IS NULL OR f.schedule IN (SELECT id FROM schedules WHERE owner = ?2))";

/// Takes (removes) the failures of webhook schedules that `of` selects and queues a fresh delivery for each,
/// in one transaction. Answers how many.
pub fn requeue_webhook_failures(db: &dyn Db, of: FailuresOf<'_>, now: i64) -> Result<i64, DbError> {
    db::transaction(db, || {
        let [schedule, owner] = of.params();
        let taken = db
            .execute(
                &format!(
                    "DELETE FROM schedule_failures AS f WHERE {FAILURES_OF} \
                     AND f.schedule IN (SELECT id FROM schedules WHERE endpoint IS NOT NULL) \
                     RETURNING id, schedule, occurrence_at, attempts, status, error, created_at"
                ),
                &[schedule, owner],
            )?
            .map_all(failure_from_row)?;
        db.execute(
            "INSERT INTO schedule_deliveries (schedule, occurrence_at, due_at) \
             SELECT f.value ->> '$.schedule', f.value ->> '$.at', ? FROM json_each(?) f",
            &[now.into(), webhook_replays(&taken).into()],
        )?;
        Ok(taken.len() as i64)
    })
}

/// The ids of the task schedules' failures that `of` selects (up to `limit`), to replay one by one.
pub fn task_failures(db: &dyn Db, of: FailuresOf<'_>, limit: i64) -> Result<Vec<i64>, DbError> {
    let [schedule, owner] = of.params();
    db.execute(
        &format!(
            "SELECT f.id FROM schedule_failures f WHERE {FAILURES_OF} \
             AND f.schedule IN (SELECT id FROM schedules WHERE project IS NOT NULL) ORDER BY f.id LIMIT ?3"
        ),
        &[schedule, owner, limit.into()],
    )?
    .map_all(|row| row.int("id"))
}

/// Takes (removes) one failure, inside the caller's transaction; `None` when another caller took it first.
pub fn take_failure(db: &dyn Db, id: i64) -> Result<Option<Failure>, DbError> {
    db.execute(
        "DELETE FROM schedule_failures WHERE id = ? RETURNING id, schedule, occurrence_at, attempts, status, error, created_at",
        &[id.into()],
    )?
    .map_first(failure_from_row)
}

fn webhook_replays(failures: &[Failure]) -> String {
    let items: Vec<Json> =
        failures.iter().map(|f| serde_json::json!({"schedule": f.schedule, "at": f.occurrence_at})).collect();
    Json::Array(items).to_string()
}
