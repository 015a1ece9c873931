//! task_tracker's wire format (SPEC §9, `docs/tracker.md`): the `{"ok", "message", "content"}` envelope,
//! its status codes, field names and numeric task statuses, and its request bodies. Component `tracker`
//! parses with these, calls the ordinary services and answers with these; nothing here decides anything.

mod bodies;
mod git;
mod shapes;
#[cfg(test)]
mod tests;

pub use bodies::*;
pub use git::*;
pub use shapes::*;

use crate::domain::task::{ReleaseResult, Released, TaskStatus};
use crate::error::ApiError;
use crate::http::Response;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};

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
