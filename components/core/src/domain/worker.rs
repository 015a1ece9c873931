//! Workers and their logs (SPEC §5): inputs, validation and the shapes the API renders. Pure: no I/O.

use crate::domain::accounts::Checks;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The alias reserved by task_tracker for "no worker".
pub const RESERVED_ALIAS: &str = "unassigned";
/// Longest alias, in characters.
pub const ALIAS_MAX: usize = 100;
/// Most tags per worker, and the longest tag in characters.
pub const TAGS_MAX: (usize, usize) = (32, 64);
/// Largest `meta` / log `data`, serialised, in bytes.
pub const JSON_MAX: usize = 64 << 10;
/// Longest log scope, in characters.
pub const SCOPE_MAX: usize = 200;
/// Largest log message, in bytes.
pub const MESSAGE_MAX: usize = 64 << 10;
/// Rows kept per project by log retention (logs without a project share one bucket of the same size).
pub const LOG_RETENTION: i64 = 100_000;

/// `POST /workers`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkerInput {
    pub alias: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub meta: Option<Json>,
}

/// `PATCH /workers/{id}`: absent fields stay.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkerPatch {
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub meta: Option<Json>,
}

/// Validated worker fields, with `tags` and `meta` as the JSON text the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerFields {
    pub alias: String,
    pub tags: String,
    pub meta: String,
}

impl WorkerInput {
    /// Validates the registration input.
    pub fn validate(&self) -> Result<WorkerFields, ApiError> {
        let patch = WorkerPatch { alias: Some(self.alias.clone()), tags: self.tags.clone(), meta: self.meta.clone() };
        let fields = patch.validate()?;
        Ok(WorkerFields {
            alias: self.alias.clone(),
            tags: fields.tags.unwrap_or_else(|| "[]".into()),
            meta: fields.meta.unwrap_or_else(|| "{}".into()),
        })
    }
}

/// A validated patch: `None` = unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerChanges {
    pub alias: Option<String>,
    pub tags: Option<String>,
    pub meta: Option<String>,
}

impl WorkerPatch {
    /// Validates the fields that are present.
    pub fn validate(&self) -> Result<WorkerChanges, ApiError> {
        let mut checks = Checks::new();
        if let Some(value) = &self.alias {
            checks.check("alias", alias(value));
        }
        if let Some(value) = &self.tags {
            checks.check("tags", tags(value));
        }
        if let Some(value) = &self.meta {
            checks.check("meta", meta(value));
        }
        checks.finish()?;
        Ok(WorkerChanges {
            alias: self.alias.clone(),
            tags: self.tags.as_ref().map(|t| Json::from(t.clone()).to_string()),
            meta: self.meta.as_ref().map(Json::to_string),
        })
    }
}

/// An alias: 1–100 characters, no control characters, not `unassigned` (any case).
pub fn alias(value: &str) -> Result<(), String> {
    if value.trim().is_empty() || value.chars().count() > ALIAS_MAX {
        return Err(format!("must be 1 to {ALIAS_MAX} characters long and not blank"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if value.eq_ignore_ascii_case(RESERVED_ALIAS) {
        return Err(format!("`{RESERVED_ALIAS}` is reserved"));
    }
    Ok(())
}

/// Tags: at most 32, each 1–64 characters without control characters.
pub fn tags(values: &[String]) -> Result<(), String> {
    let (count, length) = TAGS_MAX;
    if values.len() > count {
        return Err(format!("at most {count} tags"));
    }
    if values.iter().any(|t| t.is_empty() || t.chars().count() > length || t.chars().any(char::is_control)) {
        return Err(format!("each tag must be 1 to {length} characters without control characters"));
    }
    Ok(())
}

/// Meta: a JSON object of at most 64 KiB.
pub fn meta(value: &Json) -> Result<(), String> {
    if !value.is_object() {
        return Err("must be a JSON object".into());
    }
    json_size(value)
}

fn json_size(value: &Json) -> Result<(), String> {
    if value.to_string().len() > JSON_MAX {
        return Err(format!("must be at most {JSON_MAX} bytes as JSON"));
    }
    Ok(())
}

/// A worker as the API shows it. Never holds the secret or its hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Worker {
    pub id: i64,
    pub alias: String,
    pub tags: Vec<String>,
    pub meta: Json,
    pub paused: bool,
    pub closed_task_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new (or rotated) worker credential: the worker plus its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct WorkerSecret {
    #[serde(flatten)]
    pub worker: Worker,
    pub secret: String,
}

/// One row of `GET /workers/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct WorkerStat {
    pub id: i64,
    pub alias: String,
    pub closed_task_count: i64,
    pub paused: bool,
}

/// A log level, stored and rendered lower-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The stored/rendered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// Parses a level name (`/log/{level}` routes of task_tracker).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Trace, Self::Debug, Self::Info, Self::Warn, Self::Error].into_iter().find(|l| l.as_str() == name)
    }
}

/// `POST /logs`. `project` (optional, id) files the entry under a project for filtering and retention.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct LogInput {
    pub level: LogLevel,
    #[serde(default)]
    pub scope: Option<String>,
    pub message: String,
    #[serde(default)]
    pub data: Option<Json>,
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub project: Option<i64>,
}

impl LogInput {
    /// Checks sizes and the timestamp.
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut checks = Checks::new();
        let scope = self.scope.as_deref().unwrap_or("");
        checks.check(
            "scope",
            if scope.chars().count() > SCOPE_MAX {
                Err(format!("must be at most {SCOPE_MAX} characters"))
            } else {
                Ok(())
            },
        );
        checks.check(
            "message",
            if self.message.len() > MESSAGE_MAX { Err(format!("must be at most {MESSAGE_MAX} bytes")) } else { Ok(()) },
        );
        if let Some(data) = &self.data {
            checks.check("data", json_size(data));
        }
        if let Some(timestamp) = self.timestamp {
            checks.check("timestamp", if timestamp < 0 { Err("must be Unix seconds".into()) } else { Ok(()) });
        }
        checks.finish()
    }
}

/// A log entry as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct LogRecord {
    pub id: i64,
    pub level: LogLevel,
    pub scope: String,
    pub message: String,
    pub data: Option<Json>,
    pub worker: Option<i64>,
    pub project: Option<i64>,
    pub timestamp: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registration_input() {
        let fields = WorkerInput { alias: "gpu-1".into(), ..WorkerInput::default() }.validate().unwrap();
        assert_eq!((fields.tags.as_str(), fields.meta.as_str()), ("[]", "{}"));
        let tagged = WorkerInput { alias: "w".into(), tags: Some(vec!["gpu".into()]), meta: Some(json!({"cores": 8})) };
        let fields = tagged.validate().unwrap();
        assert_eq!((fields.tags.as_str(), fields.meta.as_str()), (r#"["gpu"]"#, r#"{"cores":8}"#));
        for (input, field) in [
            (WorkerInput { alias: "Unassigned".into(), ..WorkerInput::default() }, "alias"),
            (WorkerInput { alias: "  ".into(), ..WorkerInput::default() }, "alias"),
            (WorkerInput { alias: "w".into(), tags: Some(vec![String::new()]), meta: None }, "tags"),
            (WorkerInput { alias: "w".into(), tags: Some(vec!["t".into(); 33]), meta: None }, "tags"),
            (WorkerInput { alias: "w".into(), tags: None, meta: Some(json!([1])) }, "meta"),
            (WorkerInput { alias: "w".into(), tags: None, meta: Some(json!({"x": "y".repeat(JSON_MAX)})) }, "meta"),
        ] {
            match input.validate() {
                Err(ApiError::Validation { errors, .. }) => assert_eq!(errors[0].field, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn log_input() {
        let entry: LogInput = serde_json::from_str(r#"{"level": "warn", "message": "m", "data": {"a": 1}}"#).unwrap();
        assert!(entry.validate().is_ok());
        assert!(serde_json::from_str::<LogInput>(r#"{"level": "fatal", "message": "m"}"#).is_err());
        let negative = LogInput { timestamp: Some(-1), ..entry.clone() };
        assert_eq!(negative.validate().unwrap_err().status(), 422);
        let long = LogInput { scope: Some("s".repeat(SCOPE_MAX + 1)), ..entry };
        assert_eq!(long.validate().unwrap_err().status(), 422);
        assert_eq!(LogLevel::parse("error"), Some(LogLevel::Error));
        assert_eq!(LogLevel::parse("fatal"), None);
    }
}
