//! Project-W's runner protocol mapped onto workers and tasks: a runner's token is its worker's credential,
//! its online session and current job are a row of `projectw_runners`, taking a job is a claim of the next
//! task of the jobs' project, a heartbeat is the task's heartbeat (whose `abort` is Project-W's abort flag),
//! and a result is the task's release.

use super::settings::JobSettings;
use super::store::{self, RanBy, Registration, RunnerRow};
use super::wire::Refusal;
use super::{HEARTBEAT_EXPIRY, jobs_project};
use crate::db::{self, Db};
use crate::domain::task::{Extend, HeartbeatRequest, ReleaseRequest, TaskStatus};
use crate::domain::worker::WorkerInput;
use crate::error::ApiError;
use crate::platform::Kv;
use crate::secrets;
use crate::tasks::{self, ClaimTarget};
use crate::workers;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

const RELEASE_OK: i64 = 0;
const RELEASE_FAIL: i64 = 1;
const RELEASE_SKIP: i64 = 2;

/// The message of a job failed by its owner's abort.
pub const ABORTED: &str = "Job was aborted";

/// `/admins/create_runner`: the runner's id and the token it sends as `Authorization: Bearer`.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedRunner {
    pub id: i64,
    pub token: String,
}

/// Creates a runner: a worker (alias `project-w runner`) marked as a Project-W runner. Its token is
/// `<worker id>:<worker secret>`, shown once.
pub fn create(db: &dyn Db, now: i64) -> Result<CreatedRunner, ApiError> {
    let input = WorkerInput { alias: "project-w runner".into(), ..WorkerInput::default() };
    db::transaction(db, || {
        let created = workers::register(db, &input, now)?;
        store::insert_runner(db, created.worker.id, now)?;
        Ok(CreatedRunner { id: created.worker.id, token: format!("{}:{}", created.worker.id, created.secret) })
    })
}

/// The runner a bearer token stands for: 401 for any other token.
pub fn authenticate(db: &dyn Db, token: &str) -> Result<RunnerRow, Refusal> {
    let unknown = || Refusal::new(401, "No runner with that token exists!");
    let (id, secret) = token.split_once(':').ok_or_else(unknown)?;
    let id: i64 = id.parse().map_err(|_| unknown())?;
    match workers::authenticate(db, id, secret) {
        Ok(_) => {}
        Err(ApiError::Unauthorized(_)) => return Err(unknown()),
        Err(other) => return Err(other.into()),
    }
    store::runner_get(db, id).map_err(ApiError::from)?.ok_or_else(unknown)
}

/// 403 unless the runner is online with this session token.
pub fn require_session(runner: &RunnerRow, session_token: &str, now: i64) -> Result<(), Refusal> {
    if !runner.online(now) {
        return Err(Refusal::new(403, "This runner is currently not registered as online!"));
    }
    let presented = secrets::sha256(session_token);
    if !runner.session_hash.as_deref().is_some_and(|hash| secrets::constant_time_eq(hash, &presented)) {
        let mut refusal = Refusal::new(
            403,
            "The session token is invalid. Your runner token might have been compromised and used to re-register \
             this runner on a different machine, if this wasn't you then immediately invalidate this runner! Refer \
             to the documentation for how to do so",
        );
        refusal.challenge = true;
        return Err(refusal);
    }
    Ok(())
}

/// `RunnerRegisterRequest`.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisterRequest {
    pub name: String,
    pub version: String,
    pub git_hash: String,
    pub source_code_url: String,
    #[serde(default = "default_priority")]
    pub priority: i64,
}

fn default_priority() -> i64 {
    100
}

impl RegisterRequest {
    fn validate(&self) -> Result<(), Refusal> {
        for (field, value) in [("name", &self.name), ("git_hash", &self.git_hash)] {
            let length = value.chars().count();
            if length > 40 {
                return Err(Refusal::unprocessable(vec![json!({"type": "string_too_long", "loc": ["body", field],
                    "msg": "String should have at most 40 characters", "input": value, "ctx": {"max_length": 40}})]));
            }
        }
        if self.priority <= 0 {
            return Err(Refusal::unprocessable(vec![json!({"type": "greater_than", "loc": ["body", "priority"],
                "msg": "Input should be greater than 0", "input": self.priority, "ctx": {"gt": 0}})]));
        }
        Ok(())
    }
}

/// `RegisteredResponse`.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub id: i64,
    pub session_token: String,
}

/// Brings a runner online with a new session token (403 when it already is). A job left from an earlier
/// session goes back to the queue first.
pub fn register(
    db: &dyn Db,
    kv: &dyn Kv,
    runner: &RunnerRow,
    request: &RegisterRequest,
    now: i64,
) -> Result<Registered, Refusal> {
    request.validate()?;
    let already = || Refusal::new(403, "This runner is already registered as online!");
    if runner.online(now) {
        return Err(already());
    }
    if let Some(task) = runner.task {
        hand_back(db, runner, task, now)?;
    }
    let session_token = secrets::new_token("")?;
    let registration = Registration {
        name: &request.name,
        version: &request.version,
        git_hash: &request.git_hash,
        source_code_url: &request.source_code_url,
        priority: request.priority,
    };
    let until = now + HEARTBEAT_EXPIRY;
    if !store::open_session(db, runner.worker, &registration, &secrets::sha256(&session_token), until, now)
        .map_err(ApiError::from)?
    {
        return Err(already());
    }
    let online = RunnerRow { priority: request.priority, task: None, in_process: false, ..runner.clone() };
    take_next_job(db, kv, &online, now)?;
    Ok(Registered { id: runner.worker, session_token })
}

/// `HeartbeatResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Beat {
    pub abort: bool,
    pub job_assigned: bool,
}

/// `HeartbeatRequest`: progress 0–100.
#[derive(Debug, Clone, Deserialize)]
pub struct HeartbeatBody {
    #[serde(default)]
    pub progress: f64,
}

impl HeartbeatBody {
    /// 422 outside 0–100, with pydantic's messages.
    pub fn validate(&self) -> Result<(), Refusal> {
        let (kind, message, ctx) = if self.progress < 0.0 {
            ("greater_than_equal", "Input should be greater than or equal to 0", json!({"ge": 0.0}))
        } else if self.progress > 100.0 {
            ("less_than_equal", "Input should be less than or equal to 100", json!({"le": 100.0}))
        } else if self.progress.is_nan() {
            ("finite_number", "Input should be a finite number", Json::Null)
        } else {
            return Ok(());
        };
        let mut error = json!({"type": kind, "loc": ["body", "progress"], "msg": message, "input": self.progress});
        if !ctx.is_null() {
            error["ctx"] = ctx;
        }
        Err(Refusal::unprocessable(vec![error]))
    }
}

/// A heartbeat: keeps the runner online and its job leased, reports progress, delivers the abort flag of a
/// job it is processing, and gives an idle runner the next job. A job aborted before the runner fetched its
/// audio is taken away silently (Project-W's runner would exit on the 405 of `retrieve_job_info`).
pub fn heartbeat(
    db: &dyn Db,
    kv: &dyn Kv,
    runner: &RunnerRow,
    body: &HeartbeatBody,
    now: i64,
) -> Result<Beat, Refusal> {
    body.validate()?;
    store::touch(db, runner.worker, now + HEARTBEAT_EXPIRY).map_err(ApiError::from)?;
    if let Some(id) = runner.task {
        match held_status(db, runner, id)? {
            Some(TaskStatus::Assigned) => {
                let request = HeartbeatRequest {
                    progress: Some(body.progress.floor().clamp(0.0, 100.0) as i64),
                    extend: Some(Extend::Seconds(HEARTBEAT_EXPIRY)),
                };
                let beat = tasks::heartbeat(db, runner.worker, id, &request, now)?;
                return Ok(Beat { abort: beat.abort, job_assigned: !beat.abort });
            }
            Some(TaskStatus::Cancelled) if runner.in_process => return Ok(Beat { abort: true, job_assigned: false }),
            _ => store::set_task(db, runner.worker, None, false).map_err(ApiError::from)?,
        }
    }
    let job_assigned = take_next_job(db, kv, runner, now)?;
    Ok(Beat { abort: false, job_assigned })
}

/// The status of task `id` when this runner is its assignee (`None` when it is gone or someone else's).
fn held_status(db: &dyn Db, runner: &RunnerRow, id: i64) -> Result<Option<TaskStatus>, Refusal> {
    match tasks::get(db, id) {
        Ok(task) => Ok((task.assignee == Some(runner.worker)).then_some(task.status)),
        Err(ApiError::NotFound(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// Claims the next job for an idle runner, unless an idle online runner of higher priority should have it.
fn take_next_job(db: &dyn Db, kv: &dyn Kv, runner: &RunnerRow, now: i64) -> Result<bool, Refusal> {
    if store::higher_idle_runner(db, runner.worker, runner.priority, now).map_err(ApiError::from)? {
        return Ok(false);
    }
    let project = jobs_project(db, now)?;
    let Some(task) = tasks::claim(db, kv, runner.worker, ClaimTarget::Project(&project), now)? else {
        return Ok(false);
    };
    store::set_task(db, runner.worker, Some(task.id), false).map_err(ApiError::from)?;
    Ok(true)
}

/// The job this runner holds: 400 without one, 500 when it is no Project-W job, 405 once aborted.
fn held_job(db: &dyn Db, runner: &RunnerRow, what: &str, now: i64) -> Result<store::JobRow, Refusal> {
    let none = || Refusal::bad_request("This runner has currently no job assigned");
    let id = runner.task.ok_or_else(none)?;
    let Some(job) = store::job_get(db, id, now).map_err(ApiError::from)? else {
        return Err(Refusal::new(500, "The job id assigned to this runner doesn't appear in the database!"));
    };
    if job.holder.as_ref().map(|holder| holder.0) != Some(runner.worker) {
        return Err(none());
    }
    match job.status.as_str() {
        "assigned" => Ok(job),
        "cancelled" => {
            Err(Refusal::new(405, format!("This job was aborted by a user. Can't get {what} of an aborted job!")))
        }
        _ => Err(none()),
    }
}

/// `RunnerJobInfoResponse`.
#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    pub id: i64,
    pub settings: JobSettings,
}

/// The held job's id and settings.
pub fn job_info(db: &dyn Db, runner: &RunnerRow, now: i64) -> Result<JobInfo, Refusal> {
    let job = held_job(db, runner, "job info", now)?;
    Ok(JobInfo { id: job.id, settings: JobSettings::from_text(&job.settings) })
}

/// The held job's audio; the runner is then processing it.
pub fn job_audio(db: &dyn Db, runner: &RunnerRow, now: i64) -> Result<Vec<u8>, Refusal> {
    let job = held_job(db, runner, "job audio", now)?;
    store::set_task(db, runner.worker, Some(job.id), true).map_err(ApiError::from)?;
    let chunks = store::chunk_count(db, job.id).map_err(ApiError::from)?;
    let mut audio = Vec::new();
    for seq in 0..chunks {
        let chunk = store::chunk(db, job.id, seq).map_err(ApiError::from)?;
        audio.extend(
            chunk.ok_or_else(|| ApiError::internal(format!("audio chunk {seq} of job {} is missing", job.id)))?,
        );
    }
    Ok(audio)
}

/// A transcript in every type; `as_json` is WhisperX's JSON object.
#[derive(Debug, Clone, Deserialize)]
pub struct Transcript {
    pub as_txt: String,
    pub as_srt: String,
    pub as_tsv: String,
    pub as_vtt: String,
    pub as_json: serde_json::Map<String, Json>,
}

/// `RunnerSubmitResultRequest`: at least one of the two.
#[derive(Debug, Clone, Deserialize)]
pub struct ResultBody {
    #[serde(default)]
    pub error_msg: Option<String>,
    #[serde(default)]
    pub transcript: Option<Transcript>,
}

impl ResultBody {
    /// Parses the body: 422 as Project-W's validator when both are missing.
    pub fn parse(bytes: &[u8]) -> Result<Self, Refusal> {
        let body: Self = super::wire::body(bytes)?;
        if body.error_msg.is_none() && body.transcript.is_none() {
            let input: Json = serde_json::from_slice(bytes).unwrap_or(Json::Null);
            return Err(Refusal::unprocessable(vec![json!({"type": "value_error", "loc": ["body"],
                "msg": "Value error, Either `error_msg` or `transcript` must be set for job submission",
                "input": input, "ctx": {"error": {}}})]));
        }
        Ok(body)
    }
}

/// The types of a transcript, as stored and downloaded.
pub const TRANSCRIPT_TYPES: [&str; 5] = ["as_txt", "as_srt", "as_tsv", "as_vtt", "as_json"];

/// The runner's result for the job it processes: a transcript closes the task, an error fails it; either
/// frees the audio and leaves the runner idle. The result of an aborted job is not kept: the abort stands.
pub fn submit(db: &dyn Db, runner: &RunnerRow, result: &ResultBody, now: i64) -> Result<(), Refusal> {
    let not_processing = || Refusal::bad_request("This runner is currently not processing a job!");
    let id = runner.task.filter(|_| runner.in_process).ok_or_else(not_processing)?;
    let by = RanBy {
        worker: runner.worker,
        name: &runner.name,
        version: &runner.version,
        git_hash: &runner.git_hash,
        source_code_url: &runner.source_code_url,
    };
    db::transaction(db, || {
        match (held_status(db, runner, id)?, &result.transcript) {
            (Some(TaskStatus::Assigned), Some(transcript)) => {
                tasks::release(db, runner.worker, id, &release(RELEASE_OK, None), now)?;
                let json = serde_json::to_string(&transcript.as_json).map_err(ApiError::internal)?;
                let texts = [&transcript.as_txt, &transcript.as_srt, &transcript.as_tsv, &transcript.as_vtt, &json];
                for (kind, text) in TRANSCRIPT_TYPES.iter().zip(texts) {
                    store::insert_transcript(db, id, kind, text).map_err(ApiError::from)?;
                }
                store::finish(db, id, None, Some(&by), now).map_err(ApiError::from)?;
            }
            (Some(TaskStatus::Assigned), None) => {
                let message = result.error_msg.clone().unwrap_or_default();
                let output: String = message.chars().take(64 << 10).collect();
                tasks::release(db, runner.worker, id, &release(RELEASE_FAIL, Some(output)), now)?;
                store::finish(db, id, Some(&message), Some(&by), now).map_err(ApiError::from)?;
            }
            (Some(TaskStatus::Cancelled), _) => {
                let message = result.error_msg.as_deref().unwrap_or(ABORTED);
                store::finish(db, id, Some(message), Some(&by), now).map_err(ApiError::from)?;
            }
            _ => return Err(not_processing()),
        }
        store::set_task(db, runner.worker, None, false).map_err(ApiError::from)?;
        Ok(())
    })
}

impl From<crate::db::DbError> for Refusal {
    fn from(error: crate::db::DbError) -> Self {
        ApiError::from(error).into()
    }
}

fn release(result: i64, output: Option<String>) -> ReleaseRequest {
    ReleaseRequest { result, verification: None, output }
}

/// Takes a runner offline; a job it held goes back to the queue (an aborted one is failed).
pub fn unregister(db: &dyn Db, runner: &RunnerRow, now: i64) -> Result<(), Refusal> {
    if let Some(task) = runner.task {
        hand_back(db, runner, task, now)?;
    }
    store::close_session(db, runner.worker).map_err(ApiError::from)?;
    Ok(())
}

/// A runner lets go of its job: a job still running goes back to the queue (skip: nothing counted), an
/// aborted one is failed; a job the runner no longer holds is left alone.
fn hand_back(db: &dyn Db, runner: &RunnerRow, id: i64, now: i64) -> Result<(), Refusal> {
    match held_status(db, runner, id)? {
        Some(TaskStatus::Assigned) => {
            tasks::release(db, runner.worker, id, &release(RELEASE_SKIP, None), now)?;
        }
        Some(TaskStatus::Cancelled) => {
            let by = RanBy {
                worker: runner.worker,
                name: &runner.name,
                version: &runner.version,
                git_hash: &runner.git_hash,
                source_code_url: &runner.source_code_url,
            };
            store::finish(db, id, Some(ABORTED), Some(&by), now)?;
        }
        _ => {}
    }
    store::set_task(db, runner.worker, None, false)?;
    Ok(())
}

/// `/admins/invalidate_runner`: the runner's token stops working at once (its worker's secret is replaced and
/// forgotten), a job it held goes back to the queue, and it is no runner any more. Unknown ids are no error.
pub fn invalidate(db: &dyn Db, worker: i64, now: i64) -> Result<(), Refusal> {
    let Some(runner) = store::runner_get(db, worker)? else { return Ok(()) };
    unregister(db, &runner, now)?;
    workers::rotate_secret(db, worker, now)?;
    store::delete_runner(db, worker)?;
    Ok(())
}
