//! task_tracker's wire format (SPEC §9, `docs/tracker.md`): the `{"ok", "message", "content"}` envelope,
//! its status codes, field names and numeric task statuses, and its request bodies. Component `tracker`
//! parses with these, calls the ordinary services and answers with these; nothing here decides anything.

use crate::domain::project::{AccessStatus, Assignee, Project, ProjectInput, ProjectPatch, Visibility, WorkerAccess};
use crate::domain::task::{ReleaseRequest, ReleaseResult, Released, Task, TaskSpec, TaskStatus};
use crate::domain::worker::{LogInput, LogLevel, Worker, WorkerStat};
use crate::error::ApiError;
use crate::http::Response;
use crate::secrets;
use crate::store::users::User;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json, json};

/// What `GET /` answers (`content`): task_tracker's name and the version of its API this adapter speaks.
pub const INFO_NAME: &str = "task_tracker";
/// The task_tracker API version served.
pub const INFO_VERSION: &str = "1.1";
/// The message of a claim that found nothing (HTTP 200, `ok: false`).
pub const NO_TASK: &str = "No task available";
/// The message of a release that did not close the task (`updated: false`).
pub const NOT_CLOSED: &str = "Task was not marked as closed";

// ----- envelope -----

/// `{"ok": true, "content": ...}` with HTTP 200 (`content` omitted when null, as task_tracker's `omitempty`).
pub fn ok(content: Json) -> Response {
    envelope(200, true, "", content)
}

/// `{"ok": true}`.
pub fn ok_empty() -> Response {
    ok(Json::Null)
}

/// Any envelope. Empty `message` and null `content` are left out, as task_tracker's `omitempty` does.
pub fn envelope(status: u16, ok: bool, message: &str, content: Json) -> Response {
    let mut body = json!({ "ok": ok });
    if !message.is_empty() {
        body["message"] = json!(message);
    }
    if !content.is_null() {
        body["content"] = content;
    }
    Response::json(status, &body)
}

/// The HTTP status task_tracker answers for an error: it had no 409/415/422, answering 400 for every
/// request it could not accept (invalid fields, duplicates, an access request it refused).
pub fn status_of(error: &ApiError) -> u16 {
    match error.status() {
        409 | 415 | 422 => 400,
        status => status,
    }
}

/// An error as task_tracker answers it: `{"ok": false, "message": "..."}`, plus Conveyor's machine `code`
/// (an extra field task_tracker clients ignore); a 429 adds `rate_limit_delay` (seconds, as a number) and
/// keeps `Retry-After`; a 401 keeps `WWW-Authenticate`.
pub fn error(error: &ApiError) -> Response {
    error.log_internal();
    let mut message = error.body().detail;
    if let ApiError::Validation { errors, .. } = error
        && errors.len() > 1
    {
        let fields: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        message = fields.join("; ");
    }
    let mut body = json!({"ok": false, "message": message, "code": error.code()});
    if let ApiError::TooManyRequests { retry_after } = error {
        body["rate_limit_delay"] = json!(retry_after);
    }
    let mut response = Response::json(status_of(error), &body);
    for (name, value) in error.headers() {
        response = response.with_header(name, value);
    }
    response
}

/// Parses a request body as task_tracker did: JSON whatever the Content-Type (its clients often send none or
/// `application/x-www-form-urlencoded` from `curl -d`), unknown fields ignored; an empty body is `{}`.
pub fn body<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return crate::http::parse_json(b"{}");
    }
    crate::http::parse_json(raw)
}

/// An id in a path segment; anything but a positive integer names nothing (404).
pub fn path_id(value: &str, what: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::NotFound(format!("{what} `{value}` not found")))
}

// ----- shapes -----

/// A task status as task_tracker's number: 1 new (task_tracker kept assigned tasks at 1 with an assignee), 2
/// failed. task_tracker deleted closed tasks; Conveyor keeps them: 3 closed, 4 cancelled.
pub fn status_code(status: TaskStatus) -> i64 {
    match status {
        TaskStatus::New | TaskStatus::Assigned => 1,
        TaskStatus::Failed => 2,
        TaskStatus::Closed => 3,
        TaskStatus::Cancelled => 4,
    }
}

/// A project as task_tracker shows it. `public`/`hidden` encode the visibility (both false = private);
/// `chain` 0 = none.
pub fn project(project: &Project) -> Json {
    json!({
        "id": project.id,
        "priority": project.priority,
        "name": project.name,
        "clone_url": project.clone_url,
        "git_repo": project.git_repo,
        "version": project.version,
        "motd": project.motd,
        "public": project.visibility == Visibility::Public,
        "hidden": project.visibility == Visibility::Hidden,
        "chain": project.chain.unwrap_or(0),
        "paused": project.paused,
        "assign_rate": project.assign_rate,
        "submit_rate": project.submit_rate,
    })
}

/// A task as task_tracker shows it, with its project embedded. `assignee` and `assign_time` are 0 when
/// unset.
pub fn task(task: &Task, of: &Project) -> Json {
    json!({
        "id": task.id,
        "priority": task.priority,
        "assignee": task.assignee.unwrap_or(0),
        "retries": task.retries,
        "max_retries": task.max_retries,
        "status": status_code(task.status),
        "recipe": task.recipe,
        "max_assign_time": task.max_assign_time,
        "assign_time": task.assign_time.unwrap_or(0),
        "verification_count": task.verification_count,
        "project": project(of),
    })
}

/// A worker as task_tracker shows it; `secret` (base64, as task_tracker's `[]byte`) only right after
/// creation.
pub fn worker(worker: &Worker, secret: Option<&str>) -> Json {
    let mut value = json!({
        "id": worker.id,
        "created": worker.created_at,
        "alias": worker.alias,
        "paused": worker.paused,
    });
    if let Some(secret) = secret {
        value["secret"] = json!(secret);
    }
    value
}

/// `/worker/stats` rows.
pub fn worker_stats(stats: &[WorkerStat]) -> Json {
    let rows: Vec<Json> = stats
        .iter()
        .map(|s| json!({"id": s.id, "alias": s.alias, "closed_task_count": s.closed_task_count, "paused": s.paused}))
        .collect();
    json!({ "stats": rows })
}

/// `/project/assignees/:id`: task_tracker's `{assignee: alias, task_count}`.
pub fn assignees(rows: &[Assignee]) -> Json {
    let rows: Vec<Json> =
        rows.iter().map(|a| json!({"assignee": a.alias, "worker": a.worker, "task_count": a.tasks})).collect();
    json!({ "assignees": rows })
}

/// `/project/access_list/:id`: task_tracker's `{worker: {id, alias}, project, assign, submit, request}`
/// (`request` true while pending).
pub fn access_list(rows: &[WorkerAccess]) -> Json {
    let rows: Vec<Json> = rows
        .iter()
        .map(|a| {
            json!({
                "worker": {"id": a.worker, "alias": a.alias},
                "project": a.project,
                "assign": a.assign,
                "submit": a.submit,
                "request": a.status == AccessStatus::Pending,
            })
        })
        .collect();
    json!({ "accesses": rows })
}

/// A manager (a Conveyor user) as task_tracker shows it.
pub fn manager(user: &User) -> Json {
    json!({
        "id": user.id,
        "username": user.username,
        "website_admin": user.admin,
        "register_time": user.created_at,
    })
}

/// A row of the `/logs` collection as task_tracker's `/logs` shows it (`level` as its number, see
/// [`log_level_code`]; task_tracker called the scope `data`).
pub fn log_row(row: &Map<String, Json>) -> Json {
    let level = row.get("level").and_then(Json::as_str).and_then(LogLevel::parse).map(log_level_code);
    json!({
        "level": level,
        "message": row.get("message"),
        "data": row.get("scope"),
        "timestamp": row.get("timestamp"),
        "worker": row.get("worker"),
        "project": row.get("project"),
    })
}

/// A row of the `/users` collection as a task_tracker manager.
pub fn manager_row(row: &Map<String, Json>) -> Json {
    json!({
        "id": row.get("id"),
        "username": row.get("username"),
        "website_admin": row.get("admin"),
        "register_time": row.get("created_at"),
    })
}

/// task_tracker's numeric log levels (logrus): 2 error, 3 warn, 4 info, 5 debug, 6 trace.
pub fn log_level_code(level: LogLevel) -> i64 {
    match level {
        LogLevel::Error => 2,
        LogLevel::Warn => 3,
        LogLevel::Info => 4,
        LogLevel::Debug => 5,
        LogLevel::Trace => 6,
    }
}

/// The level of a logrus number (see [`log_level_code`]); 0 and 1 (panic, fatal) count as error.
pub fn log_level_of_code(code: i64) -> Option<LogLevel> {
    match code {
        0..=2 => Some(LogLevel::Error),
        3 => Some(LogLevel::Warn),
        4 => Some(LogLevel::Info),
        5 => Some(LogLevel::Debug),
        6 => Some(LogLevel::Trace),
        _ => None,
    }
}

// ----- request bodies (unknown fields ignored, as Go's encoding/json does) -----

/// `/worker/create`, `/worker/update`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WorkerBody {
    pub alias: String,
}

impl WorkerBody {
    /// The alias; task_tracker named a worker without one `default_alias`.
    pub fn alias_or_default(&self) -> String {
        if self.alias.is_empty() { "default_alias".into() } else { self.alias.clone() }
    }
}

/// `/worker/set_paused`.
#[derive(Debug, Clone, Deserialize)]
pub struct SetPausedBody {
    pub worker: i64,
    pub paused: bool,
}

/// One `/task/submit` (and one item of `/task/bulk_submit`'s `requests`). task_tracker's code reads the hash
/// as `hash_u64`, its documentation as `hash64`: both are accepted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SubmitBody {
    pub project: i64,
    pub max_retries: Option<i64>,
    pub recipe: String,
    pub priority: Option<i64>,
    pub max_assign_time: Option<i64>,
    #[serde(alias = "hash_u64")]
    pub hash64: Option<i64>,
    pub unique_string: Option<String>,
    pub verification_count: Option<i64>,
}

impl SubmitBody {
    /// The task for `tasks::submit`.
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

/// `/task/bulk_submit`: `{"requests": [...]}`, all for one project.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BulkBody {
    pub requests: Vec<SubmitBody>,
}

impl BulkBody {
    /// The one project of the bulk and its tasks: 400 when empty (task_tracker refused empty bulks) or when
    /// the items name different projects.
    pub fn project_and_specs(&self) -> Result<(i64, Vec<TaskSpec>), ApiError> {
        let first = self
            .requests
            .first()
            .ok_or_else(|| ApiError::bad_request("invalid_request", "a bulk submit needs at least one request"))?;
        if self.requests.iter().any(|r| r.project != first.project) {
            return Err(ApiError::bad_request(
                "invalid_request",
                "every task of a bulk submit must be for one project",
            ));
        }
        Ok((first.project, self.requests.iter().map(SubmitBody::spec).collect()))
    }
}

/// `/task/release`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReleaseBody {
    pub task_id: i64,
    pub result: i64,
    #[serde(default)]
    pub verification: i64,
}

impl ReleaseBody {
    /// The request for `tasks::release` (no output: task_tracker had none).
    pub fn request(&self) -> ReleaseRequest {
        ReleaseRequest { result: self.result, verification: Some(self.verification), output: None }
    }
}

/// task_tracker's answer to a release the assignee made: `updated` is whether an OK closed the task (a vote
/// short of the quorum is `false`, with [`NOT_CLOSED`] as the message), and always `true` for FAIL and
/// SKIP (task_tracker answered with "rows affected == 1", which holds for any release by the assignee).
pub fn release_answer(result: i64, released: &Released) -> Response {
    let updated = result != ReleaseResult::Ok.code() || released.status == TaskStatus::Closed;
    envelope(200, true, if updated { "" } else { NOT_CLOSED }, json!({"updated": updated}))
}

/// A refused release (not the assignee, already released...): task_tracker answered 200, `updated: false`.
pub fn release_refused(error: &ApiError) -> Response {
    envelope(200, true, &error.body().detail, json!({"updated": false}))
}

/// `/log/{level}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LogBody {
    pub scope: String,
    #[serde(alias = "Message")]
    pub message: String,
    pub timestamp: Option<i64>,
}

impl LogBody {
    /// The entry for `logs::append`; a timestamp of 0 (Go's zero value) means "now".
    pub fn entry(&self, level: LogLevel) -> LogInput {
        LogInput {
            level,
            scope: Some(self.scope.clone()),
            message: self.message.clone(),
            data: None,
            timestamp: self.timestamp.filter(|t| *t > 0),
            project: None,
        }
    }
}

/// `/logs` (POST): `{level, since}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LogQueryBody {
    pub level: Option<i64>,
    pub since: i64,
}

/// `/project/request_access`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccessBody {
    pub assign: bool,
    pub submit: bool,
    pub project: i64,
}

/// `/project/create` and `/project/update/:id`: task_tracker's fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProjectBody {
    pub name: String,
    pub clone_url: String,
    pub git_repo: String,
    pub version: String,
    pub priority: i64,
    pub motd: String,
    pub public: bool,
    pub hidden: bool,
    pub chain: i64,
    pub paused: Option<bool>,
    pub assign_rate: Option<f64>,
    pub submit_rate: Option<f64>,
}

impl ProjectBody {
    /// `public`/`hidden` as a visibility: both → 400 (task_tracker refused it), neither → private.
    pub fn visibility(&self) -> Result<Visibility, ApiError> {
        match (self.public, self.hidden) {
            (true, true) => Err(ApiError::bad_request("invalid_request", "a project cannot be public and hidden")),
            (true, false) => Ok(Visibility::Public),
            (false, true) => Ok(Visibility::Hidden),
            (false, false) => Ok(Visibility::Private),
        }
    }

    fn chain(&self) -> Option<i64> {
        (self.chain != 0).then_some(self.chain)
    }

    /// The input of `projects::create`.
    pub fn input(&self) -> Result<ProjectInput, ApiError> {
        Ok(ProjectInput {
            name: self.name.clone(),
            motd: Some(self.motd.clone()),
            visibility: Some(self.visibility()?),
            priority: Some(self.priority),
            paused: self.paused,
            chain: self.chain(),
            assign_rate: self.assign_rate,
            submit_rate: self.submit_rate,
            version: Some(self.version.clone()),
            clone_url: Some(self.clone_url.clone()),
            git_repo: Some(self.git_repo.clone()),
            ..ProjectInput::default()
        })
    }

    /// The patch of `projects::update`: task_tracker's update sends every field (`chain` 0 unsets it);
    /// `paused`, `assign_rate`, `submit_rate` stay when absent.
    pub fn patch(&self) -> Result<ProjectPatch, ApiError> {
        Ok(ProjectPatch {
            name: Some(self.name.clone()),
            motd: Some(self.motd.clone()),
            visibility: Some(self.visibility()?),
            priority: Some(self.priority),
            paused: self.paused,
            chain: Some(self.chain()),
            assign_rate: self.assign_rate,
            submit_rate: self.submit_rate,
            version: Some(self.version.clone()),
            clone_url: Some(self.clone_url.clone()),
            git_repo: Some(self.git_repo.clone()),
            ..ProjectPatch::default()
        })
    }
}

/// `/project/secret/:id` (POST).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SecretBody {
    pub secret: String,
}

/// `/project/webhook_secret/:id` (POST).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WebhookSecretBody {
    pub webhook_secret: String,
}

/// A stored secret (an opaque JSON value) as task_tracker's string: strings as they are, `null` as `""`,
/// anything else as its JSON text.
pub fn secret_text(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `/manager/set_role_for_project/:id`.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleBody {
    pub manager: i64,
    pub role: i64,
}

/// `/login`, `/register`. `/register` also needs `email` (Conveyor accounts have one).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CredentialsBody {
    pub username: String,
    pub password: String,
    pub email: String,
}

// ----- git receive hook -----

/// The parts of a Gogs/Gitea/GitHub push event the hook reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GitPush {
    #[serde(rename = "ref")]
    pub reference: String,
    pub after: String,
    pub repository: GitRepository,
}

/// The pushed repository.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GitRepository {
    pub full_name: String,
    pub default_branch: String,
}

impl GitPush {
    /// Whether the push went to the repository's default branch (`master` when the event names none, as
    /// task_tracker assumed).
    pub fn to_default_branch(&self) -> bool {
        let branch = if self.repository.default_branch.is_empty() { "master" } else { &self.repository.default_branch };
        self.reference == format!("refs/heads/{branch}") || self.reference == branch
    }
}

/// Whether `signature` (a header value: `sha256=<hex>` or bare hex, as GitHub's `X-Hub-Signature-256` and
/// Gogs' `X-Gogs-Signature` send it) is the HMAC-SHA256 of `body` under `secret`. Constant time.
pub fn signature_valid(secret: &str, body: &[u8], signature: &str) -> bool {
    let presented = signature.trim();
    let presented = presented.strip_prefix("sha256=").unwrap_or(presented).to_ascii_lowercase();
    let expected = secrets::hex(&secrets::hmac_sha256(secret.as_bytes(), body));
    !secret.is_empty() && secrets::constant_time_eq(presented.as_bytes(), expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_accepts_both_hash_names_and_ignores_unknown_fields() {
        let a: SubmitBody = body(br#"{"project": 1, "recipe": "r", "hash_u64": 7, "extra": true}"#).unwrap();
        let b: SubmitBody = body(br#"{"project": 1, "recipe": "r", "hash64": 7}"#).unwrap();
        assert_eq!((a.spec().hash64, b.spec().hash64), (Some(7), Some(7)));
        let empty: SubmitBody = body(b"  ").unwrap();
        assert_eq!(empty.project, 0);
        assert_eq!(body::<SubmitBody>(b"{nope").unwrap_err().status(), 400);
    }

    #[test]
    fn updated_is_whether_an_ok_closed_and_always_true_for_fail_and_skip() {
        let answer = |result, status| {
            let response = release_answer(result, &Released { updated: true, status });
            serde_json::from_slice::<Json>(&response.body).unwrap()
        };
        let updated = json!({"ok": true, "content": {"updated": true}});
        assert_eq!(answer(0, TaskStatus::Closed), updated);
        assert_eq!(
            answer(0, TaskStatus::New),
            json!({"ok": true, "message": NOT_CLOSED, "content": {"updated": false}})
        );
        for status in [TaskStatus::New, TaskStatus::Failed] {
            assert_eq!(answer(1, status), updated, "FAIL to {status}");
        }
        assert_eq!(answer(2, TaskStatus::New), updated, "SKIP");
    }

    #[test]
    fn bulk_needs_one_project() {
        let one: BulkBody =
            body(br#"{"requests": [{"project": 2, "recipe": "a"}, {"project": 2, "recipe": "b"}]}"#).unwrap();
        assert_eq!(one.project_and_specs().unwrap().0, 2);
        let two: BulkBody =
            body(br#"{"requests": [{"project": 2, "recipe": "a"}, {"project": 3, "recipe": "b"}]}"#).unwrap();
        assert_eq!(two.project_and_specs().unwrap_err().status(), 400);
        assert_eq!(BulkBody::default().project_and_specs().unwrap_err().status(), 400);
    }

    #[test]
    fn errors_use_the_envelope_and_task_tracker_statuses() {
        let response = error(&ApiError::TooManyRequests { retry_after: 2.0 });
        assert_eq!(response.status, 429);
        let body: Json = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            body,
            json!({"ok": false, "message": "rate limit exceeded", "code": "rate_limited", "rate_limit_delay": 2.0})
        );
        assert_eq!(error(&ApiError::conflict("duplicate", "dup")).status, 400);
        assert_eq!(error(&ApiError::invalid_field("recipe", "bad")).status, 400);
        assert_eq!(error(&ApiError::Forbidden("no".into())).status, 403);
        let ok: Json = serde_json::from_slice(&ok_empty().body).unwrap();
        assert_eq!(ok, json!({"ok": true}));
    }

    #[test]
    fn statuses_and_visibility() {
        assert_eq!(status_code(TaskStatus::New), 1);
        assert_eq!(status_code(TaskStatus::Assigned), 1);
        assert_eq!(status_code(TaskStatus::Failed), 2);
        let both = ProjectBody { public: true, hidden: true, ..ProjectBody::default() };
        assert_eq!(both.visibility().unwrap_err().status(), 400);
        assert_eq!(ProjectBody::default().visibility().unwrap(), Visibility::Private);
    }

    #[test]
    fn webhook_signatures_and_branches() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = format!("sha256={}", secrets::hex(&secrets::hmac_sha256(b"s3cret", body)));
        assert!(signature_valid("s3cret", body, &good));
        assert!(signature_valid("s3cret", body, good.trim_start_matches("sha256=")));
        assert!(!signature_valid("other", body, &good));
        assert!(!signature_valid("", body, &good));
        assert!(!signature_valid("s3cret", body, "sha256=00"));
        let push = GitPush {
            reference: "refs/heads/main".into(),
            repository: GitRepository { default_branch: "main".into(), ..GitRepository::default() },
            ..GitPush::default()
        };
        assert!(push.to_default_branch());
        let legacy = GitPush { reference: "refs/heads/master".into(), ..GitPush::default() };
        assert!(legacy.to_default_branch());
        let feature = GitPush { reference: "refs/heads/feature".into(), ..push };
        assert!(!feature.to_default_branch());
    }
}
