//! Tasks (SPEC §4): the status machine, release results, lease and quorum rules, the stable hash of
//! `unique_string`, and validation of submitted tasks. Pure: no I/O, no clock.

use crate::domain::accounts::Checks;
use crate::domain::within_i32;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Lease length (seconds) when a task's `max_assign_time` is 0.
pub const DEFAULT_LEASE: i64 = 3600;
/// Largest recipe, in bytes (1 MiB).
pub const MAX_RECIPE_BYTES: usize = 1 << 20;
/// Most tasks in one bulk submit.
pub const MAX_BULK: usize = 10_000;
/// `max_retries` when a submit gives none (task_tracker's documented example).
pub const DEFAULT_MAX_RETRIES: i64 = 3;
/// Largest `verification_count` (votes come from distinct workers; more is never reachable in practice).
pub const MAX_VERIFICATION_COUNT: i64 = 1000;
/// Largest `extend` of a heartbeat, in seconds (30 days).
pub const MAX_EXTEND: i64 = 30 * 24 * 3600;

/// A task's status. Stored and rendered as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    New,
    Assigned,
    Closed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 5] = [Self::New, Self::Assigned, Self::Closed, Self::Failed, Self::Cancelled];

    /// The stored/rendered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Assigned => "assigned",
            Self::Closed => "closed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// Not closed and not cancelled: counts for dedupe of `hash64` and may still change.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Closed | Self::Cancelled)
    }

    /// Whether a task may move from `self` to `to`:
    /// - new → assigned (claim), cancelled;
    /// - assigned → assigned (claim after the lease expired), closed (OK with quorum), failed (FAIL at
    ///   max_retries), new (SKIP, FAIL with retries left, OK short of quorum, reclaim), cancelled;
    /// - failed → new (retry, reset_failed), cancelled;
    /// - closed and cancelled are final.
    pub fn can_become(self, to: TaskStatus) -> bool {
        use TaskStatus::*;
        matches!(
            (self, to),
            (New, Assigned | Cancelled)
                | (Assigned, Assigned | Closed | Failed | New | Cancelled)
                | (Failed, New | Cancelled)
        )
    }

    /// The statuses a task may be in to move to `to`, in lifecycle order.
    pub fn sources(to: TaskStatus) -> Vec<TaskStatus> {
        Self::ALL.into_iter().filter(|from| from.can_become(to)).collect()
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a worker reports when it releases a task (task_tracker's TR_OK / TR_FAIL / TR_SKIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseResult {
    /// 0: done. Closes the task (after the verification quorum, if any).
    Ok,
    /// 1: failed. retries + 1; `failed` at max_retries, else back to `new`.
    Fail,
    /// 2: as if never touched. Back to `new`, nothing counted.
    Skip,
}

impl ReleaseResult {
    /// 0, 1 or 2; anything else is a 422 on `result`.
    pub fn from_code(code: i64) -> Result<Self, ApiError> {
        match code {
            0 => Ok(Self::Ok),
            1 => Ok(Self::Fail),
            2 => Ok(Self::Skip),
            _ => Err(ApiError::invalid_field("result", "must be 0 (ok), 1 (fail) or 2 (skip)")),
        }
    }

    /// The wire code.
    pub fn code(self) -> i64 {
        match self {
            Self::Ok => 0,
            Self::Fail => 1,
            Self::Skip => 2,
        }
    }
}

/// The stable 64-bit hash of a `unique_string`: the first 8 bytes of SHA-256 of its UTF-8 bytes, read as a
/// big-endian signed integer. A hash of 0 (which would mean "no hash") is mapped to 1.
pub fn hash_unique_string(value: &str) -> i64 {
    let digest = Sha256::digest(value.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    match i64::from_be_bytes(first) {
        0 => 1,
        hash => hash,
    }
}

/// The lease length in seconds for a task's `max_assign_time` (0 = [`DEFAULT_LEASE`]).
pub fn lease_seconds(max_assign_time: i64) -> i64 {
    if max_assign_time > 0 { max_assign_time } else { DEFAULT_LEASE }
}

/// How many matching votes from distinct workers close a task (`verification_count` 0 and 1 both mean 1).
pub fn required_votes(verification_count: i64) -> i64 {
    verification_count.max(1)
}

/// One task as submitted (the fields of `POST /tasks` other than `project`; the items of a bulk).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    #[cfg_attr(test, schemars(length(max = MAX_RECIPE_BYTES)))]
    pub recipe: String,
    #[cfg_attr(test, schemars(range(min = i32::MIN, max = i32::MAX)))]
    #[serde(default)]
    pub priority: Option<i64>,
    #[cfg_attr(test, schemars(range(min = 0, max = i32::MAX)))]
    #[serde(default)]
    pub max_retries: Option<i64>,
    #[cfg_attr(test, schemars(range(min = 0, max = i32::MAX)))]
    #[serde(default)]
    pub max_assign_time: Option<i64>,
    #[serde(default)]
    pub hash64: Option<i64>,
    #[serde(default)]
    pub unique_string: Option<String>,
    #[cfg_attr(test, schemars(range(min = 0, max = MAX_VERIFICATION_COUNT)))]
    #[serde(default)]
    pub verification_count: Option<i64>,
}

/// A validated task, ready to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub recipe: String,
    pub priority: i64,
    pub max_retries: i64,
    pub max_assign_time: i64,
    pub hash64: i64,
    pub verification_count: i64,
}

impl TaskSpec {
    /// Whether both `hash64` (non-zero) and `unique_string` (non-empty) are given. task_tracker clients send
    /// `"hash64": 0, "unique_string": ""` as "neither", so zero/empty count as absent.
    pub fn gives_both_hashes(&self) -> bool {
        self.hash64.is_some_and(|h| h != 0) && self.unique_string.as_deref().is_some_and(|s| !s.is_empty())
    }

    /// Validates every field, recording failures under `{prefix}{field}` (prefix `""` or `"tasks[3]."`).
    /// Returns the task when every check passed.
    pub fn check(&self, prefix: &str, checks: &mut Checks) -> Option<NewTask> {
        let mut ok = true;
        let mut record = |field: &str, result: Result<(), String>| {
            ok &= result.is_ok();
            checks.check(&format!("{prefix}{field}"), result);
        };
        record("recipe", recipe(&self.recipe));
        let priority = self.priority.unwrap_or(0);
        record("priority", within_i32(priority));
        let max_retries = self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
        record("max_retries", non_negative_i32(max_retries));
        let max_assign_time = self.max_assign_time.unwrap_or(0);
        record("max_assign_time", non_negative_i32(max_assign_time));
        let verification_count = self.verification_count.unwrap_or(0);
        record(
            "verification_count",
            if (0..=MAX_VERIFICATION_COUNT).contains(&verification_count) {
                Ok(())
            } else {
                Err(format!("must be between 0 and {MAX_VERIFICATION_COUNT}"))
            },
        );
        if self.gives_both_hashes() {
            record("unique_string", Err("give either hash64 or unique_string, not both".into()));
        }
        if !ok {
            return None;
        }
        let hash64 = match self.unique_string.as_deref() {
            Some(unique) if !unique.is_empty() => hash_unique_string(unique),
            _ => self.hash64.unwrap_or(0),
        };
        Some(NewTask {
            recipe: self.recipe.clone(),
            priority,
            max_retries,
            max_assign_time,
            hash64,
            verification_count,
        })
    }

    /// Validates a single submit: both hashes → 400 `conflicting_fields` (SPEC §4); any other bad field → 422.
    pub fn validate(&self) -> Result<NewTask, ApiError> {
        if self.gives_both_hashes() {
            return Err(ApiError::bad_request("conflicting_fields", "give either hash64 or unique_string, not both"));
        }
        let mut checks = Checks::new();
        let task = self.check("", &mut checks);
        checks.finish()?;
        task.ok_or_else(|| ApiError::internal("validation passed without a task"))
    }
}

/// Validates a bulk: at most [`MAX_BULK`] items, every item valid. One 422 lists every bad item's fields as
/// `tasks[i].field`; nothing is returned (so nothing is written) unless all are valid.
pub fn validate_bulk(items: &[TaskSpec]) -> Result<Vec<NewTask>, ApiError> {
    if items.len() > MAX_BULK {
        return Err(ApiError::invalid_field(
            "tasks",
            format!("at most {MAX_BULK} tasks per bulk, got {}", items.len()),
        ));
    }
    let mut checks = Checks::new();
    let tasks: Vec<Option<NewTask>> =
        items.iter().enumerate().map(|(i, item)| item.check(&format!("tasks[{i}]."), &mut checks)).collect();
    checks.finish()?;
    tasks.into_iter().map(|task| task.ok_or_else(|| ApiError::internal("validation passed without a task"))).collect()
}

/// A recipe: at most 1 MiB of UTF-8.
pub fn recipe(value: &str) -> Result<(), String> {
    if value.len() > MAX_RECIPE_BYTES {
        return Err(format!("must be at most {MAX_RECIPE_BYTES} bytes, got {}", value.len()));
    }
    Ok(())
}

fn non_negative_i32(value: i64) -> Result<(), String> {
    if !(0..=i64::from(i32::MAX)).contains(&value) {
        return Err(format!("must be between 0 and {}", i32::MAX));
    }
    Ok(())
}

/// A heartbeat's progress: 0–100.
pub fn progress(value: i64) -> Result<(), ApiError> {
    if !(0..=100).contains(&value) {
        return Err(ApiError::invalid_field("progress", "must be between 0 and 100"));
    }
    Ok(())
}

/// A heartbeat's `extend`: `true` renews the lease to now + the task's lease length, a number of seconds
/// (1 to [`MAX_EXTEND`]) renews it to now + that; a lease is never shortened. `false` = absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Extend {
    Flag(bool),
    Seconds(i64),
}

impl Extend {
    /// Seconds to extend by: `Some(None)` = the task's own lease length, `None` = no extension.
    pub fn seconds(self) -> Result<Option<Option<i64>>, ApiError> {
        match self {
            Self::Flag(false) => Ok(None),
            Self::Flag(true) => Ok(Some(None)),
            Self::Seconds(seconds) if (1..=MAX_EXTEND).contains(&seconds) => Ok(Some(Some(seconds))),
            Self::Seconds(_) => {
                Err(ApiError::invalid_field("extend", format!("must be true, false or 1 to {MAX_EXTEND} seconds")))
            }
        }
    }
}

/// `POST /tasks`: a project (id or name) and one task.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    pub project: crate::domain::project::ProjectRef,
    #[cfg_attr(test, schemars(length(max = MAX_RECIPE_BYTES)))]
    pub recipe: String,
    #[cfg_attr(test, schemars(range(min = i32::MIN, max = i32::MAX)))]
    #[serde(default)]
    pub priority: Option<i64>,
    #[cfg_attr(test, schemars(range(min = 0, max = i32::MAX)))]
    #[serde(default)]
    pub max_retries: Option<i64>,
    #[cfg_attr(test, schemars(range(min = 0, max = i32::MAX)))]
    #[serde(default)]
    pub max_assign_time: Option<i64>,
    #[serde(default)]
    pub hash64: Option<i64>,
    #[serde(default)]
    pub unique_string: Option<String>,
    #[cfg_attr(test, schemars(range(min = 0, max = MAX_VERIFICATION_COUNT)))]
    #[serde(default)]
    pub verification_count: Option<i64>,
}

impl SubmitRequest {
    /// The task part.
    pub fn spec(&self) -> TaskSpec {
        TaskSpec {
            recipe: self.recipe.clone(),
            priority: self.priority,
            max_retries: self.max_retries,
            max_assign_time: self.max_assign_time,
            hash64: self.hash64,
            unique_string: self.unique_string.clone(),
            verification_count: self.verification_count,
        }
    }
}

/// `POST /tasks/bulk`: a project and up to [`MAX_BULK`] tasks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkSubmitRequest {
    pub project: crate::domain::project::ProjectRef,
    #[cfg_attr(test, schemars(length(max = MAX_BULK)))]
    pub tasks: Vec<TaskSpec>,
}

/// `POST /tasks/claim`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    #[serde(default)]
    pub project: Option<crate::domain::project::ProjectRef>,
    /// Long-poll seconds (≤ 20); handled by the HTTP layer.
    #[cfg_attr(test, schemars(range(min = 0, max = 20)))]
    #[serde(default)]
    pub wait: Option<i64>,
    /// Claim up to this many tasks (1–[`MAX_BATCH`]); the answer is then a list.
    #[cfg_attr(test, schemars(range(min = 1, max = MAX_BATCH)))]
    #[serde(default)]
    pub max: Option<i64>,
}

/// The most tasks one batch claim or batch release takes.
pub const MAX_BATCH: usize = 100;

/// One item of `POST /tasks/release`: a release of task `id`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchReleaseItem {
    pub id: i64,
    #[cfg_attr(test, schemars(range(min = 0, max = 2)))]
    pub result: i64,
    #[serde(default)]
    pub verification: Option<i64>,
    #[serde(default)]
    pub output: Option<String>,
}

impl BatchReleaseItem {
    /// The release it asks for.
    pub fn request(&self) -> ReleaseRequest {
        ReleaseRequest { result: self.result, verification: self.verification, output: self.output.clone() }
    }
}

/// The answer for one item of a batch release: its status when it applied, only `updated: false` when the
/// caller does not hold the task (nothing more is said about a task that is not the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ItemReleased {
    pub id: i64,
    pub updated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskStatus>,
}

/// `POST /tasks/{id}/heartbeat`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    #[cfg_attr(test, schemars(range(min = 0, max = 100)))]
    #[serde(default)]
    pub progress: Option<i64>,
    #[serde(default)]
    pub extend: Option<Extend>,
}

/// `POST /tasks/{id}/release`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    #[cfg_attr(test, schemars(range(min = 0, max = 2)))]
    pub result: i64,
    #[serde(default)]
    pub verification: Option<i64>,
    #[serde(default)]
    pub output: Option<String>,
}

/// A task as the API shows it (SPEC §4 fields, in SPEC order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Task {
    pub id: i64,
    pub project: i64,
    pub status: TaskStatus,
    pub priority: i64,
    pub recipe: String,
    pub hash64: i64,
    pub max_retries: i64,
    pub retries: i64,
    pub max_assign_time: i64,
    pub verification_count: i64,
    pub assignee: Option<i64>,
    pub assign_time: Option<i64>,
    pub lease_expires_at: Option<i64>,
    pub claims: i64,
    pub progress: i64,
    pub result: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Heartbeat {
    pub lease_expires_at: Option<i64>,
    /// True once the task was cancelled: the worker should stop.
    pub abort: bool,
}

/// The answer to a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Released {
    pub updated: bool,
    pub status: TaskStatus,
}

/// The answer to a bulk submit: how many were created, the indexes of items skipped as duplicates (of an
/// open task or of an earlier item), and per item the new task id (`null` for a duplicate).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct BulkResult {
    pub created: usize,
    pub duplicates: Vec<usize>,
    pub ids: Vec<Option<i64>>,
}

/// A 409 `duplicate` for a task whose hash64 matches an open task of the project.
pub fn duplicate(hash64: i64) -> ApiError {
    ApiError::conflict("duplicate", format!("an open task with hash64 {hash64} already exists in this project"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(recipe: &str) -> TaskSpec {
        TaskSpec { recipe: recipe.into(), ..TaskSpec::default() }
    }

    #[test]
    fn transitions_follow_the_spec_machine() {
        use TaskStatus::*;
        let allowed = [
            (New, Assigned),
            (New, Cancelled),
            (Assigned, Assigned),
            (Assigned, Closed),
            (Assigned, Failed),
            (Assigned, New),
            (Assigned, Cancelled),
            (Failed, New),
            (Failed, Cancelled),
        ];
        for from in TaskStatus::ALL {
            for to in TaskStatus::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from} -> {to}");
            }
        }
        assert_eq!(TaskStatus::sources(Cancelled), [New, Assigned, Failed]);
        assert_eq!(TaskStatus::sources(Closed), [Assigned]);
        assert!(TaskStatus::sources(New).contains(&Failed));
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(TaskStatus::parse("done"), None);
        assert!(New.is_open() && Assigned.is_open() && Failed.is_open());
        assert!(!Closed.is_open() && !Cancelled.is_open());
    }

    #[test]
    fn release_codes() {
        assert_eq!(ReleaseResult::from_code(0).unwrap(), ReleaseResult::Ok);
        assert_eq!(ReleaseResult::from_code(1).unwrap(), ReleaseResult::Fail);
        assert_eq!(ReleaseResult::from_code(2).unwrap(), ReleaseResult::Skip);
        assert_eq!(ReleaseResult::from_code(3).unwrap_err().status(), 422);
        assert_eq!(ReleaseResult::from_code(-1).unwrap_err().code(), "validation_failed");
        assert_eq!(ReleaseResult::Skip.code(), 2);
    }

    #[test]
    fn unique_string_hash_is_stable_and_documented() {
        // SHA-256("hello") = 2cf24dba5fb0a30e..., first 8 bytes big-endian as i64.
        assert_eq!(hash_unique_string("hello"), 0x2cf24dba5fb0a30e_i64);
        // SHA-256("") = e3b0c442 98fc1c14..., negative as a signed integer.
        assert_eq!(hash_unique_string(""), 0xe3b0c44298fc1c14_u64 as i64);
        assert!(hash_unique_string("") < 0);
        assert_ne!(hash_unique_string("a"), hash_unique_string("b"));
    }

    #[test]
    fn leases_and_quorums() {
        assert_eq!(lease_seconds(0), 3600);
        assert_eq!(lease_seconds(30), 30);
        assert_eq!(required_votes(0), 1);
        assert_eq!(required_votes(1), 1);
        assert_eq!(required_votes(3), 3);
    }

    #[test]
    fn submit_defaults_and_hashing() {
        let task = spec("r").validate().unwrap();
        assert_eq!(
            task,
            NewTask {
                recipe: "r".into(),
                priority: 0,
                max_retries: 3,
                max_assign_time: 0,
                hash64: 0,
                verification_count: 0
            }
        );
        let hashed = TaskSpec { unique_string: Some("hello".into()), ..spec("r") }.validate().unwrap();
        assert_eq!(hashed.hash64, hash_unique_string("hello"));
        let explicit = TaskSpec { hash64: Some(-5), unique_string: Some(String::new()), ..spec("r") };
        assert_eq!(explicit.validate().unwrap().hash64, -5, "an empty unique_string counts as absent");
        let tracker_style = TaskSpec { hash64: Some(0), unique_string: Some("x".into()), ..spec("r") };
        assert_eq!(tracker_style.validate().unwrap().hash64, hash_unique_string("x"));
    }

    #[test]
    fn bad_submits_name_their_fields() {
        let both = TaskSpec { hash64: Some(7), unique_string: Some("x".into()), ..spec("r") }.validate();
        assert_eq!(both.unwrap_err().code(), "conflicting_fields");
        let cases: [(TaskSpec, &str); 7] = [
            (TaskSpec { priority: Some(i64::from(i32::MAX) + 1), ..spec("r") }, "priority"),
            (TaskSpec { priority: Some(i64::from(i32::MIN) - 1), ..spec("r") }, "priority"),
            (TaskSpec { max_retries: Some(-1), ..spec("r") }, "max_retries"),
            (TaskSpec { max_assign_time: Some(-1), ..spec("r") }, "max_assign_time"),
            (TaskSpec { verification_count: Some(-1), ..spec("r") }, "verification_count"),
            (TaskSpec { verification_count: Some(1001), ..spec("r") }, "verification_count"),
            (spec(&"x".repeat(MAX_RECIPE_BYTES + 1)), "recipe"),
        ];
        for (spec, field) in cases {
            match spec.validate() {
                Err(ApiError::Validation { errors, .. }) => assert_eq!(errors[0].field, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(spec(&"x".repeat(MAX_RECIPE_BYTES)).validate().is_ok(), "exactly 1 MiB is allowed");
        assert!(TaskSpec { priority: Some(i64::from(i32::MIN)), ..spec("r") }.validate().is_ok());
    }

    #[test]
    fn a_bulk_reports_every_bad_item_and_returns_nothing() {
        let items = vec![
            spec("a"),
            TaskSpec { priority: Some(1 << 40), ..spec("b") },
            spec("c"),
            TaskSpec { max_retries: Some(-2), hash64: Some(1), unique_string: Some("u".into()), ..spec("d") },
        ];
        match validate_bulk(&items) {
            Err(ApiError::Validation { errors, .. }) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["tasks[1].priority", "tasks[3].max_retries", "tasks[3].unique_string"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(validate_bulk(&[spec("a"), spec("b")]).unwrap().len(), 2);
        let too_many = vec![spec("x"); MAX_BULK + 1];
        assert_eq!(validate_bulk(&too_many).unwrap_err().status(), 422);
    }

    #[test]
    fn extend_accepts_flags_and_seconds() {
        let parse = |json: &str| serde_json::from_str::<HeartbeatRequest>(json).unwrap().extend.unwrap().seconds();
        assert_eq!(parse(r#"{"extend": true}"#).unwrap(), Some(None));
        assert_eq!(parse(r#"{"extend": false}"#).unwrap(), None);
        assert_eq!(parse(r#"{"extend": 60}"#).unwrap(), Some(Some(60)));
        assert_eq!(parse(r#"{"extend": 0}"#).unwrap_err().status(), 422);
        assert!(progress(100).is_ok() && progress(0).is_ok());
        assert_eq!(progress(101).unwrap_err().status(), 422);
        assert_eq!(progress(-1).unwrap_err().status(), 422);
    }

    #[test]
    fn requests_reject_unknown_fields() {
        assert!(serde_json::from_str::<SubmitRequest>(r#"{"project": 1, "recipe": "x", "colour": 1}"#).is_err());
        let submit: SubmitRequest =
            serde_json::from_str(r#"{"project": "render", "recipe": "x", "priority": 2}"#).unwrap();
        assert_eq!(submit.spec().priority, Some(2));
        let bulk: BulkSubmitRequest = serde_json::from_str(r#"{"project": 3, "tasks": [{"recipe": "a"}]}"#).unwrap();
        assert_eq!(bulk.tasks.len(), 1);
    }
}
