//! Seed Scheduler's wire format (SPEC §9, `docs/scheduler.md`): Django REST framework's error bodies and
//! status codes, hyperlinked resources (`url` fields), ISO datetimes and `{count, next, previous, results}`
//! pages with absolute links. Component `scheduler` parses with these, calls the ordinary services
//! (`schedules`, `accounts`) and answers with these; nothing here decides anything.

mod bodies;
mod shapes;
#[cfg(test)]
mod tests;

pub use bodies::*;
pub use shapes::*;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::Response;
use serde_json::{Map, Value as Json, json};

/// DRF's 401 when no credential was presented.
pub const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
/// DRF's 401 for a credential it does not know.
pub const INVALID_TOKEN: &str = "Invalid token.";
/// DRF's 403.
pub const NO_PERMISSION: &str = "You do not have permission to perform this action.";
/// DRF's 404.
pub const NOT_FOUND: &str = "Not found.";
/// The challenge Seed Scheduler sends with a 401 (its first authenticator is HTTP Basic).
pub const CHALLENGE: &str = "Basic realm=\"api\"";

/// The caller, as Seed Scheduler requires one on every route: a credential that is presented but wrong is
/// DRF's "Invalid token.", none at all "Authentication credentials were not provided." (both 401).
pub fn signed_in(authenticated: Result<Caller, ApiError>) -> Result<Caller, ApiError> {
    match authenticated {
        Err(ApiError::Unauthorized(_)) => Err(ApiError::Unauthorized(INVALID_TOKEN.into())),
        Err(other) => Err(other),
        Ok(caller) if caller.is_anonymous() => Err(ApiError::Unauthorized(NOT_PROVIDED.into())),
        Ok(caller) => Ok(caller),
    }
}

/// A JSON answer as DRF renders it: `application/json`, no charset parameter.
pub fn answer(status: u16, body: &Json) -> Response {
    Response::raw(status, "application/json", body.to_string())
}

/// DRF's 405 for a method the route does not serve.
pub fn method_not_allowed(method: &str) -> Response {
    answer(405, &json!({"detail": format!("Method \"{method}\" not allowed.")}))
}

/// An error as DRF answers it. Validation failures (400 here, where Conveyor answers 422) are
/// `{"<field>": ["<message>", ...]}`; everything else is `{"detail": "..."}` with DRF's own words where it
/// has fixed ones (403, 404, 500). A 401 carries Seed Scheduler's challenge, a 429 `Retry-After`.
pub fn error(error: &ApiError) -> Response {
    error.log_internal();
    let detail = |text: String| json!({"detail": text});
    let (status, body) = match error {
        ApiError::Validation { errors, .. } => {
            let mut fields: Map<String, Json> = Map::new();
            for each in errors {
                let messages = fields.entry(each.field.clone()).or_insert_with(|| json!([]));
                if let Json::Array(list) = messages {
                    list.push(json!(each.message));
                }
            }
            (400, Json::Object(fields))
        }
        ApiError::UnknownField(field) => (400, json!({ field: ["This field is not accepted."] })),
        ApiError::BadRequest { code: "invalid_json", detail: text } => {
            (400, detail(format!("JSON parse error - {text}")))
        }
        ApiError::Conflict { detail: text, .. } => (400, json!({"non_field_errors": [text]})),
        ApiError::Unauthorized(text) => (401, detail(text.clone())),
        ApiError::Forbidden(_) => (403, detail(NO_PERMISSION.into())),
        ApiError::NotFound(_) => (404, detail(NOT_FOUND.into())),
        ApiError::MethodNotAllowed => (405, detail("Method not allowed.".into())),
        ApiError::UnsupportedMediaType => (415, detail("Unsupported media type in request.".into())),
        ApiError::TooManyRequests { retry_after } => (
            429,
            detail(format!("Request was throttled. Expected available in {} seconds.", retry_after.ceil() as u64)),
        ),
        ApiError::Internal(_) => (500, detail("A server error occurred.".into())),
        other => (other.status(), detail(other.to_string())),
    };
    let mut response = answer(status, &body);
    for (name, value) in error.headers() {
        let value = if name == "www-authenticate" { CHALLENGE.to_string() } else { value };
        response = response.with_header(name, value);
    }
    response
}
