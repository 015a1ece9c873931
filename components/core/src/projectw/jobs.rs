//! The jobs a user submits, mapped onto tasks: submitting is a task submit (FIFO: every job has priority 0,
//! so the claim order is the task id), aborting is the task's cancel, a job's `step` is read from its task's
//! status and the online runner holding it. A user only ever sees their own jobs.

use super::{ABORTED, CHUNK_BYTES, HEARTBEAT_EXPIRY, jobs_project, settings_json};
use crate::db::{self, Db};
use crate::domain::task::TaskSpec;
use crate::error::ApiError;
use crate::platform::Kv;
use crate::store::projectw::{self as store, JobRow};
use crate::tasks;
use serde::Serialize;
use serde_json::Value as Json;

pub use crate::store::projectw::JobFilter;

/// What the task of every job is: a job may fail once (a runner's error is final, as in Project-W) and its
/// lease is the heartbeat expiry, so a dead runner's job returns to the queue after 60 s.
fn job_task() -> TaskSpec {
    TaskSpec {
        recipe: "project-w job".into(),
        max_retries: Some(1),
        max_assign_time: Some(HEARTBEAT_EXPIRY),
        ..TaskSpec::default()
    }
}

/// A file being uploaded: its bytes are written as chunks of [`CHUNK_BYTES`] fill, so neither the request
/// nor the file is ever held whole; [`submit`] makes it a job's audio, [`Upload::discard`] frees it.
#[derive(Debug)]
pub struct Upload {
    id: i64,
    seq: i64,
    pending: Vec<u8>,
    bytes: u64,
}

impl Upload {
    /// Starts an upload for `owner`.
    pub fn begin(db: &dyn Db, owner: i64, now: i64) -> Result<Self, ApiError> {
        Ok(Self { id: store::insert_upload(db, owner, now)?, seq: 0, pending: Vec::new(), bytes: 0 })
    }

    /// Appends bytes, writing every full chunk.
    pub fn write(&mut self, db: &dyn Db, mut bytes: &[u8]) -> Result<(), ApiError> {
        self.bytes += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = bytes.len().min(CHUNK_BYTES - self.pending.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == CHUNK_BYTES {
                self.flush(db)?;
            }
        }
        Ok(())
    }

    /// How many bytes were written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn flush(&mut self, db: &dyn Db) -> Result<(), ApiError> {
        if !self.pending.is_empty() {
            store::insert_chunk(db, self.id, self.seq, &self.pending)?;
            self.seq += 1;
            self.pending.clear();
        }
        Ok(())
    }

    /// Frees what was written (an upload refused or cut short).
    pub fn discard(self, db: &dyn Db) -> Result<(), ApiError> {
        Ok(store::delete_upload(db, self.id)?)
    }
}

/// Submits a job for `owner` with an uploaded file: settings by id (400 when not theirs), else their default,
/// else `defaults` (Project-W's, from its surface). Answers the job id; on an error the upload is freed.
#[allow(clippy::too_many_arguments, reason = "one value per input of the operation")]
pub fn submit(
    db: &dyn Db,
    kv: &dyn Kv,
    owner: i64,
    file_name: &str,
    mut upload: Upload,
    settings_id: Option<i64>,
    defaults: &str,
    now: i64,
) -> Result<i64, ApiError> {
    let submitted = upload.flush(db).and_then(|()| {
        let settings = match settings_id {
            Some(id) => store::settings(db, owner, Some(id))?.ok_or_else(|| {
                ApiError::bad_request("invalid_settings", format!("The provided job_settings_id of '{id}' is invalid"))
            })?,
            None => store::settings(db, owner, None)?.unwrap_or_else(|| defaults.to_string()),
        };
        let project = jobs_project(db, now)?;
        db::transaction(db, || {
            let task = tasks::submit(db, kv, &project, &job_task(), now)?;
            store::insert_job(db, task.id, owner, upload.id, file_name, &settings, now)?;
            Ok(task.id)
        })
    });
    if submitted.is_err() {
        upload.discard(db)?;
    }
    submitted
}

/// Frees uploads that no job took within an hour (their clients went away mid-way); answers how many.
pub fn sweep_abandoned_uploads(db: &dyn Db, now: i64) -> Result<i64, ApiError> {
    Ok(store::delete_abandoned_uploads(db, now - 3600)?)
}

/// A job's `step`, as Project-W computes it (first match wins).
pub fn step(job: &JobRow) -> &'static str {
    let held = job.holder.as_ref();
    match job.status.as_str() {
        "closed" if job.downloaded == Some(true) => "downloaded",
        "closed" => "success",
        "cancelled" if held.is_some_and(|holder| holder.in_process) => "aborting",
        "cancelled" | "failed" => "failed",
        "assigned" => match held {
            Some(holder) if holder.in_process => "runner_in_progress",
            Some(_) => "runner_assigned",
            // Its runner stopped heartbeating: the task is claimable again.
            None => "pending_runner",
        },
        "new" => "pending_runner",
        _ => "not_queued",
    }
}

fn finished(step: &str) -> bool {
    matches!(step, "success" | "failed" | "downloaded")
}

/// `JobInfoResponse`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct JobInfo {
    pub id: i64,
    #[cfg_attr(test, schemars(extend("enum" = ["not_queued", "pending_runner", "runner_assigned", "runner_in_progress",
        "success", "downloaded", "failed", "aborting"])))]
    pub step: &'static str,
    pub progress: f64,
    pub abort: bool,
    pub creation_timestamp: String,
    pub file_name: String,
    pub finish_timestamp: Option<String>,
    pub runner_name: Option<String>,
    pub runner_id: Option<i64>,
    pub runner_version: Option<String>,
    pub runner_git_hash: Option<String>,
    pub runner_source_code_url: Option<String>,
    pub downloaded: Option<bool>,
    pub error_msg: Option<String>,
    pub settings: Json,
}

/// Unix seconds as ISO 8601 in UTC, as pydantic writes an aware datetime (`2026-03-02T10:00:00Z`).
pub fn timestamp(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl JobInfo {
    fn of(job: JobRow) -> Self {
        let step = step(&job);
        let live = job.holder.clone().filter(|_| matches!(step, "runner_assigned" | "runner_in_progress" | "aborting"));
        let progress = match step {
            "runner_assigned" | "runner_in_progress" => job.progress as f64,
            "success" | "downloaded" | "aborting" => 100.0,
            _ => 0.0,
        };
        let (runner_id, runner_name, runner_version, runner_git_hash, runner_source_code_url) = match live {
            Some(holder) => (
                Some(holder.worker),
                Some(holder.name),
                Some(holder.version),
                Some(holder.git_hash),
                Some(holder.source_code_url),
            ),
            None => {
                (job.runner_id, job.runner_name, job.runner_version, job.runner_git_hash, job.runner_source_code_url)
            }
        };
        Self {
            id: job.id,
            step,
            progress,
            abort: step == "aborting",
            creation_timestamp: timestamp(job.created_at),
            file_name: job.file_name,
            finish_timestamp: job.finished_at.filter(|_| finished(step)).map(timestamp),
            runner_name,
            runner_id,
            runner_version,
            runner_git_hash,
            runner_source_code_url,
            downloaded: job.downloaded,
            error_msg: job.error_msg,
            settings: settings_json(&job.settings),
        }
    }
}

/// The owner's jobs among `ids` (others' are skipped silently).
pub fn info(db: &dyn Db, owner: i64, ids: &[i64], now: i64) -> Result<Vec<JobInfo>, ApiError> {
    Ok(store::jobs_of(db, owner, ids, now)?.into_iter().map(JobInfo::of).collect())
}

/// How many of the owner's jobs pass the filter.
pub fn count(db: &dyn Db, owner: i64, filter: JobFilter) -> Result<i64, ApiError> {
    Ok(store::count(db, owner, filter)?)
}

/// `/jobs/get`: the owner's job ids in the inclusive window `start..=end` (both ≥ 0, checked by the
/// surface), ordered by creation (the id) or file name, then the id.
pub fn window(
    db: &dyn Db,
    owner: i64,
    filter: JobFilter,
    by_file_name: bool,
    descending: bool,
    start: i64,
    end: i64,
) -> Result<Vec<i64>, ApiError> {
    if end < start {
        return Ok(Vec::new());
    }
    // `0..=i64::MAX` holds one more position than an i64 counts: saturate rather than overflow.
    let length = (end - start).saturating_add(1);
    Ok(store::window(db, owner, filter, by_file_name, descending, start, length)?)
}

/// Aborts the owner's listed jobs (unknown and foreign ids are ignored): 400 and nothing aborted when one
/// of them is not running. The tasks are cancelled and the audio freed at once; a runner processing one
/// hears `abort` at its next heartbeat.
pub fn abort(db: &dyn Db, owner: i64, ids: &[i64], now: i64) -> Result<(), ApiError> {
    db::transaction(db, || {
        let jobs = store::jobs_of(db, owner, ids, now)?;
        if jobs.iter().any(|job| matches!(step(job), "success" | "failed" | "downloaded" | "aborting")) {
            return Err(ApiError::bad_request(
                "not_running",
                "At least one of the provided jobs is currently not running",
            ));
        }
        for job in &jobs {
            // Finished first, at `now`: the cancel's trigger (`projectw_task_cancelled`) keeps what it finds.
            store::finish(db, job.id, Some(ABORTED), None, now)?;
            tasks::cancel(db, job.id, now)?;
        }
        Ok(())
    })
}

/// Deletes the owner's listed jobs with their audio and transcripts: 400 and nothing deleted when one of
/// them has not finished.
pub fn delete(db: &dyn Db, owner: i64, ids: &[i64], now: i64) -> Result<(), ApiError> {
    db::transaction(db, || {
        let jobs = store::jobs_of(db, owner, ids, now)?;
        if let Some(job) = jobs.iter().find(|job| !finished(step(job))) {
            return Err(ApiError::bad_request(
                "still_running",
                format!("The job with id {} is currently still running. Only finished jobs can be deleted!", job.id),
            ));
        }
        let owned: Vec<i64> = jobs.iter().map(|job| job.id).collect();
        store::delete_jobs(db, owner, &owned)?;
        Ok(())
    })
}

/// One type (one of [`super::TRANSCRIPT_TYPES`]) of a finished job's transcript, as stored (`as_json` is the
/// JSON text); the job is then `downloaded`.
pub fn download(db: &dyn Db, owner: i64, job: i64, kind: &str) -> Result<String, ApiError> {
    store::download(db, owner, job, kind)?.ok_or_else(|| {
        ApiError::bad_request("not_finished", format!("No job with id {job} found or job isn't finished yet"))
    })
}

/// Saves settings (their JSON text, checked by the surface) for the owner; answers their id.
pub fn save_settings(db: &dyn Db, owner: i64, settings: &str, is_default: bool, now: i64) -> Result<i64, ApiError> {
    Ok(store::insert_settings(db, owner, settings, is_default, now)?)
}

/// The owner's default settings, if they saved one.
pub fn default_settings(db: &dyn Db, owner: i64) -> Result<Option<Json>, ApiError> {
    Ok(store::settings(db, owner, None)?.map(|text| settings_json(&text)))
}
