//! task_tracker's request bodies. Unknown fields are ignored and missing ones take Go's zero values, as its
//! `encoding/json` did; each body turns into the native request type the services take.

use crate::domain::project::{ProjectInput, ProjectPatch, Visibility};
use crate::domain::task::{ReleaseRequest, TaskSpec};
use crate::domain::worker::{LogInput, LogLevel};
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::Value as Json;

/// `/worker/create`, `/worker/update`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct SetPausedBody {
    pub worker: i64,
    pub paused: bool,
}

/// One `/task/submit` (and one item of `/task/bulk_submit`'s `requests`). task_tracker's code reads the hash
/// as `hash_u64`, its documentation as `hash64`: both are accepted.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[cfg_attr(test, derive(schemars::JsonSchema))]
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

/// `/log/{level}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct LogQueryBody {
    pub level: Option<i64>,
    pub since: i64,
}

/// `/project/request_access`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AccessBody {
    pub assign: bool,
    pub submit: bool,
    pub project: i64,
}

/// `/project/create` and `/project/update/:id`: task_tracker's fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct SecretBody {
    pub secret: String,
}

/// `/project/webhook_secret/:id` (POST).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct RoleBody {
    pub manager: i64,
    pub role: i64,
}

/// `/login`, `/register`. `/register` also needs `email` (Conveyor accounts have one).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct CredentialsBody {
    pub username: String,
    pub password: String,
    pub email: String,
}
