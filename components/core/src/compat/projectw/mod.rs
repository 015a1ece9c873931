//! Project-W's surface (SPEC §9, component `projectw`, `docs/projectw.md`): its runner protocol and the jobs
//! users submit, over Conveyor's queue. A job is a task of the project [`PROJECT`], a runner is a worker, a
//! user is a Conveyor user. Claims, leases, heartbeats, releases and cancellation are the task services';
//! what Project-W has and Conveyor does not (a runner's online session, a job's file, settings and
//! transcripts) is kept in its own tables (`sql/0005_projectw.sql`, [`store`]).

pub mod accounts;
pub mod jobs;
pub mod multipart;
pub mod runners;
pub mod settings;
pub mod store;
pub mod wire;

use crate::db::Db;
use crate::domain::accounts::Ref;
use crate::domain::project::{Project, ProjectInput, Visibility};
use crate::error::ApiError;
use crate::projects;

/// The project that holds every job (created hidden on first use, by nobody: only administrators see it
/// natively).
pub const PROJECT: &str = "project-w";

/// Seconds a runner stays online, and holds its job, after its last heartbeat (Project-W's 60 s).
pub const HEARTBEAT_EXPIRY: i64 = 60;

/// Audio is stored in rows of at most this many bytes.
pub const CHUNK_BYTES: usize = 256 << 10;

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
