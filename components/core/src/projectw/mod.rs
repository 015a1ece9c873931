//! Project-W's jobs and runners over Conveyor's queue (its wire: `compat::projectw`, component `projectw`,
//! `docs/projectw.md`). A job is a task of the project [`PROJECT`], a runner is a worker, a user is a Conveyor
//! user. Claims, leases, heartbeats, releases and cancellation are the task services'; what Project-W has and
//! Conveyor's tasks do not (a runner's online session, a job's file, settings and transcripts) is kept in
//! its own tables (`sql/0005_projectw.sql`, `store::projectw`).

pub mod banners;
pub mod events;
pub mod jobs;
pub mod notify;
pub mod retention;
pub mod runners;

use crate::db::Db;
use crate::domain::accounts::Ref;
use crate::domain::project::{Project, ProjectInput, Visibility};
use crate::error::ApiError;
use crate::projects;
use serde_json::Value as Json;

/// The project that holds every job (created hidden on first use, by nobody: only administrators see it
/// natively).
pub const PROJECT: &str = "project-w";

/// Seconds a runner stays online, and holds its job, after its last heartbeat (Project-W's 60 s).
pub const HEARTBEAT_EXPIRY: i64 = 60;

/// Audio is stored in rows of at most this many bytes.
pub const CHUNK_BYTES: usize = 256 << 10;

/// The message of a job failed by its owner's abort.
pub const ABORTED: &str = "Job was aborted";

/// The types of a transcript, as stored and downloaded.
pub const TRANSCRIPT_TYPES: [&str; 5] = ["as_txt", "as_srt", "as_tsv", "as_vtt", "as_json"];

/// The jobs' project, created on first use.
pub fn jobs_project(db: &dyn Db, now: i64) -> Result<Project, ApiError> {
    let name = Ref::Name(PROJECT.into());
    match projects::resolve(db, &name) {
        Err(ApiError::NotFound(_)) => {}
        found => return found,
    }
    let input = ProjectInput {
        name: PROJECT.into(),
        description: Some("Project-W's jobs (docs/projectw.md)".into()),
        visibility: Some(Visibility::Hidden),
        ..ProjectInput::default()
    };
    match projects::create(db, None, &input, now) {
        // Another request created it first.
        Err(ApiError::Conflict { .. }) => projects::resolve(db, &name),
        created => created,
    }
}

/// Stored settings (JSON text written by the surface after its checks) as JSON.
fn settings_json(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or(Json::Null)
}
