//! Project-W's runners over workers and tasks: a runner's token is its worker's credential, its online
//! session and current job are a row of `projectw_runners`, taking a job is a claim of the next task of the
//! jobs' project, a heartbeat is the task's heartbeat (whose `abort` is Project-W's abort flag), and a result
//! is the task's release.

use super::{ABORTED, HEARTBEAT_EXPIRY, TRANSCRIPT_TYPES, jobs_project};
use crate::db::{self, Db};
use crate::domain::task::{Extend, HeartbeatRequest, ReleaseRequest, TaskStatus};
use crate::domain::worker::WorkerInput;
use crate::error::ApiError;
use crate::platform::Kv;
use crate::secrets;
use crate::store::projectw::{self as store, JobRow, Registration};
use crate::tasks::{self, ClaimTarget};
use crate::workers;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub use crate::store::projectw::RunnerRow;

const RELEASE_OK: i64 = 0;
const RELEASE_FAIL: i64 = 1;
const RELEASE_SKIP: i64 = 2;

/// `/admins/create_runner`: the runner's id and the token it sends as `Authorization: Bearer`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
pub fn authenticate(db: &dyn Db, token: &str) -> Result<RunnerRow, ApiError> {
    let unknown = || ApiError::Unauthorized("No runner with that token exists!".into());
    let (id, secret) = token.split_once(':').ok_or_else(unknown)?;
    let id: i64 = id.parse().map_err(|_| unknown())?;
    match workers::authenticate(db, id, secret) {
        Ok(_) => {}
        Err(ApiError::Unauthorized(_)) => return Err(unknown()),
        Err(other) => return Err(other),
    }
    store::runner_get(db, id)?.ok_or_else(unknown)
}

/// 403 unless the runner is online with this session token.
pub fn require_session(runner: &RunnerRow, session_token: &str, now: i64) -> Result<(), ApiError> {
    if !runner.online(now) {
        return Err(ApiError::Forbidden("This runner is currently not registered as online!".into()));
    }
    let presented = secrets::sha256(session_token);
    if !runner.session_hash.as_deref().is_some_and(|hash| secrets::constant_time_eq(hash, &presented)) {
        return Err(ApiError::Forbidden(
            "The session token is invalid. Your runner token might have been compromised and used to re-register \
             this runner on a different machine, if this wasn't you then immediately invalidate this runner! Refer \
             to the documentation for how to do so"
                .into(),
        ));
    }
    Ok(())
}

/// What a runner tells about itself when it registers (`RunnerRegisterRequest`, checked by its surface).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct RunnerInfo {
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

/// `RegisteredResponse`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Registered {
    pub id: i64,
    pub session_token: String,
}

/// Brings a runner online with a new session token (403 when it already is). A job left from an earlier
/// session goes back to the queue first; then the runner takes the next job, if any.
pub fn register(
    db: &dyn Db,
    kv: &dyn Kv,
    runner: &RunnerRow,
    info: &RunnerInfo,
    now: i64,
) -> Result<Registered, ApiError> {
    let already = || ApiError::Forbidden("This runner is already registered as online!".into());
    if runner.online(now) {
        return Err(already());
    }
    if let Some(task) = runner.task {
        hand_back(db, runner, task, now)?;
    }
    let session_token = secrets::new_token("")?;
    let registration = Registration {
        name: &info.name,
        version: &info.version,
        git_hash: &info.git_hash,
        source_code_url: &info.source_code_url,
        priority: info.priority,
    };
    let until = now + HEARTBEAT_EXPIRY;
    if !store::open_session(db, runner.worker, &registration, &secrets::sha256(&session_token), until, now)? {
        return Err(already());
    }
    let online = RunnerRow { priority: info.priority, task: None, in_process: false, ..runner.clone() };
    take_next_job(db, kv, &online, now)?;
    Ok(Registered { id: runner.worker, session_token })
}

/// `HeartbeatResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Beat {
    pub abort: bool,
    pub job_assigned: bool,
}

/// A heartbeat with `progress` (0–100, checked by the surface): keeps the runner online and its job leased,
/// reports progress, delivers the abort flag of a job it is processing, and gives an idle runner the next
/// job. A job aborted before the runner fetched its audio is taken away silently (Project-W's runner would
/// exit on the 405 of `retrieve_job_info`).
pub fn heartbeat(db: &dyn Db, kv: &dyn Kv, runner: &RunnerRow, progress: f64, now: i64) -> Result<Beat, ApiError> {
    store::touch(db, runner.worker, now + HEARTBEAT_EXPIRY)?;
    if let Some(id) = runner.task {
        match held_status(db, runner, id)? {
            Some(TaskStatus::Assigned) => {
                let request = HeartbeatRequest {
                    progress: Some(progress.floor().clamp(0.0, 100.0) as i64),
                    extend: Some(Extend::Seconds(HEARTBEAT_EXPIRY)),
                };
                let beat = tasks::heartbeat(db, runner.worker, id, &request, now)?;
                return Ok(Beat { abort: beat.abort, job_assigned: !beat.abort });
            }
            Some(TaskStatus::Cancelled) if runner.in_process => return Ok(Beat { abort: true, job_assigned: false }),
            _ => store::set_task(db, runner.worker, None, false)?,
        }
    }
    let job_assigned = take_next_job(db, kv, runner, now)?;
    Ok(Beat { abort: false, job_assigned })
}

/// The status of task `id` when this runner is its assignee (`None` when it is gone or someone else's).
fn held_status(db: &dyn Db, runner: &RunnerRow, id: i64) -> Result<Option<TaskStatus>, ApiError> {
    match tasks::get(db, id) {
        Ok(task) => Ok((task.assignee == Some(runner.worker)).then_some(task.status)),
        Err(ApiError::NotFound(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Claims the next job for an idle runner, unless an idle online runner of higher priority should have it.
fn take_next_job(db: &dyn Db, kv: &dyn Kv, runner: &RunnerRow, now: i64) -> Result<bool, ApiError> {
    if store::higher_idle_runner(db, runner.worker, runner.priority, now)? {
        return Ok(false);
    }
    let project = jobs_project(db, now)?;
    let Some(task) = tasks::claim(db, kv, runner.worker, ClaimTarget::Project(&project), now)? else {
        return Ok(false);
    };
    store::set_task(db, runner.worker, Some(task.id), false)?;
    Ok(true)
}

/// The job this runner holds: 400 without one, 500 when it is no Project-W job. A job its owner aborted is
/// still answered (its audio is then empty: it was freed at the abort), never refused: Project-W's runner
/// exits on any refusal here, and a heartbeat that said `job_assigned` may cross the abort. The runner hears
/// `abort` at its next heartbeat, and whatever it reports finishes the job as aborted.
fn held_job(db: &dyn Db, runner: &RunnerRow, now: i64) -> Result<JobRow, ApiError> {
    let none = || ApiError::bad_request("no_job", "This runner has currently no job assigned");
    let id = runner.task.ok_or_else(none)?;
    let Some(job) = store::job_get(db, id, now)? else {
        return Err(ApiError::internal(format!("runner {} holds task {id}, which is no Project-W job", runner.worker)));
    };
    if job.holder.as_ref().map(|holder| holder.worker) != Some(runner.worker) {
        return Err(none());
    }
    match job.status.as_str() {
        "assigned" | "cancelled" => Ok(job),
        _ => Err(none()),
    }
}

/// `RunnerJobInfoResponse`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct HeldJob {
    pub id: i64,
    pub settings: Json,
}

/// The held job's id and settings.
pub fn job_info(db: &dyn Db, runner: &RunnerRow, now: i64) -> Result<HeldJob, ApiError> {
    let job = held_job(db, runner, now)?;
    Ok(HeldJob { id: job.id, settings: super::settings_json(&job.settings) })
}

/// The held job's audio, read chunk by chunk; the runner is then processing it.
pub fn job_audio(db: &dyn Db, runner: &RunnerRow, now: i64) -> Result<Audio, ApiError> {
    let job = held_job(db, runner, now)?;
    store::set_task(db, runner.worker, Some(job.id), true)?;
    Ok(Audio { upload: store::job_upload(db, job.id)?, seq: 0 })
}

/// A job's audio being read, one stored chunk at a time.
#[derive(Debug)]
pub struct Audio {
    upload: Option<i64>,
    seq: i64,
}

impl Audio {
    /// The next chunk, `None` at the end (or once the audio was freed, e.g. by an abort while it streams).
    pub fn next_chunk(&mut self, db: &dyn Db) -> Result<Option<Vec<u8>>, ApiError> {
        let Some(upload) = self.upload else { return Ok(None) };
        let chunk = store::chunk(db, upload, self.seq)?;
        self.seq += 1;
        Ok(chunk)
    }
}

/// A runner's result: a transcript in every type (in [`TRANSCRIPT_TYPES`] order; `as_json` is JSON text),
/// or the error that failed the job.
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerResult {
    Transcript([String; 5]),
    Error(String),
}

/// The runner's result for the job it processes: a transcript closes the task, an error fails it; either
/// frees the audio and leaves the runner idle. The result of an aborted job is not kept: the abort stands.
pub fn submit(db: &dyn Db, runner: &RunnerRow, result: &RunnerResult, now: i64) -> Result<(), ApiError> {
    let not_processing = || ApiError::bad_request("not_processing", "This runner is currently not processing a job!");
    let id = runner.task.filter(|_| runner.in_process).ok_or_else(not_processing)?;
    db::transaction(db, || {
        match (held_status(db, runner, id)?, result) {
            (Some(TaskStatus::Assigned), RunnerResult::Transcript(texts)) => {
                tasks::release(db, runner.worker, id, &release(RELEASE_OK, None), now)?;
                for (kind, text) in TRANSCRIPT_TYPES.iter().zip(texts) {
                    store::insert_transcript(db, id, kind, text)?;
                }
                store::finish(db, id, None, Some(runner), now)?;
            }
            (Some(TaskStatus::Assigned), RunnerResult::Error(message)) => {
                let output: String = message.chars().take(64 << 10).collect();
                tasks::release(db, runner.worker, id, &release(RELEASE_FAIL, Some(output)), now)?;
                store::finish(db, id, Some(message), Some(runner), now)?;
            }
            // The abort stands, whatever the runner made of the job.
            (Some(TaskStatus::Cancelled), _) => store::finish(db, id, Some(ABORTED), Some(runner), now)?,
            _ => return Err(not_processing()),
        }
        store::set_task(db, runner.worker, None, false)?;
        Ok(())
    })
}

fn release(result: i64, output: Option<String>) -> ReleaseRequest {
    ReleaseRequest { result, verification: None, output }
}

/// Takes a runner offline; a job it held goes back to the queue (an aborted one is failed).
pub fn unregister(db: &dyn Db, runner: &RunnerRow, now: i64) -> Result<(), ApiError> {
    if let Some(task) = runner.task {
        hand_back(db, runner, task, now)?;
    }
    store::close_session(db, runner.worker)?;
    Ok(())
}

/// A runner lets go of its job: a job still running goes back to the queue (skip: nothing counted), an
/// aborted one is failed; a job the runner no longer holds is left alone.
fn hand_back(db: &dyn Db, runner: &RunnerRow, id: i64, now: i64) -> Result<(), ApiError> {
    match held_status(db, runner, id)? {
        Some(TaskStatus::Assigned) => {
            tasks::release(db, runner.worker, id, &release(RELEASE_SKIP, None), now)?;
        }
        Some(TaskStatus::Cancelled) => store::finish(db, id, Some(ABORTED), Some(runner), now)?,
        _ => {}
    }
    store::set_task(db, runner.worker, None, false)?;
    Ok(())
}

/// `/admins/invalidate_runner`: the runner's token stops working at once (its worker's secret is replaced and
/// forgotten), a job it held goes back to the queue, and it is no runner any more. Unknown ids are no error.
pub fn invalidate(db: &dyn Db, worker: i64, now: i64) -> Result<(), ApiError> {
    let Some(runner) = store::runner_get(db, worker)? else { return Ok(()) };
    unregister(db, &runner, now)?;
    workers::rotate_secret(db, worker, now)?;
    store::delete_runner(db, worker)?;
    Ok(())
}
