//! Seed Scheduler's request bodies and query strings, read into the native services' inputs: a schedule
//! body into the members of a native schedule (`ScheduleInput` / `merge_patch`), `POST /user/token/`'s
//! email, and the page a listing asks for.

use crate::domain::accounts::Checks;
use crate::domain::schedule::ScheduleInput;
use crate::error::{ApiError, FieldError};
use crate::http::Request;
use serde_json::{Map, Value as Json};

/// Rows per page when the client does not say (Seed Scheduler's `PAGE_SIZE`, and the native maximum).
pub const PAGE_SIZE: i64 = 1000;
/// The name of the API tokens `POST /user/token/` issues.
pub const TOKEN_NAME: &str = "seed-scheduler";

const REQUIRED: &str = "This field is required.";
const NOT_NULL: &str = "This field may not be null.";
const NOT_BLANK: &str = "This field may not be blank.";
const NOT_STRING: &str = "Not a valid string.";

/// How a schedule body is read: POST creates, PUT replaces (`endpoint` required; members left out keep
/// their values, as DRF's update does), PATCH changes only what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Create,
    Replace,
    Partial,
}

/// A request body as JSON, as DRF's JSON parser reads it: an empty body is `{}`; other content types are
/// a 415, malformed JSON a 400.
pub fn json_body(request: &Request, limit: usize) -> Result<Json, ApiError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::Object(Map::new()));
    }
    request.json(limit)
}

/// The members of a native schedule a Seed Scheduler body states, `null` meaning "remove" (as in
/// `merge_patch`). Read-only and unknown keys (`url`, `id`, `frequency`, `next_send_at`, `created_by`, …)
/// are ignored, as DRF ignores them; an empty definition is no definition; giving one definition without
/// the other replaces the schedule's definition.
pub fn schedule_members(body: &Json, write: Write) -> Result<Map<String, Json>, ApiError> {
    let object = match body {
        Json::Object(object) => object,
        Json::Null => return Err(non_field("No data provided")),
        other => return Err(non_field(&format!("Invalid data. Expected a dictionary, but got {}.", kind(other)))),
    };
    let mut checks = Checks::new();
    let mut members = Map::new();
    match object.get("endpoint") {
        None if write != Write::Partial => {
            checks.check("endpoint", Err(REQUIRED.into()));
        }
        None => {}
        Some(Json::Null) => {
            checks.check("endpoint", Err(NOT_NULL.into()));
        }
        Some(Json::String(text)) if text.trim().is_empty() => {
            checks.check("endpoint", Err(NOT_BLANK.into()));
        }
        Some(Json::String(text)) => {
            members.insert("endpoint".into(), Json::String(text.clone()));
        }
        Some(_) => {
            checks.check("endpoint", Err(NOT_STRING.into()));
        }
    }
    for field in ["cron_definition", "interval_definition", "auth_token"] {
        match object.get(field) {
            None => {}
            Some(Json::String(text)) if field != "auth_token" && text.trim().is_empty() => {
                members.insert(field.into(), Json::Null);
            }
            Some(value @ (Json::Null | Json::String(_))) => {
                members.insert(field.into(), value.clone());
            }
            Some(_) => {
                checks.check(field, Err(NOT_STRING.into()));
            }
        }
    }
    if let Some(payload) = object.get("payload") {
        members.insert("payload".into(), payload.clone());
    }
    match object.get("enabled").map(boolean) {
        None => {}
        Some(Ok(enabled)) => {
            members.insert("enabled".into(), Json::Bool(enabled));
        }
        Some(Err(message)) => {
            checks.check("enabled", Err(message.into()));
        }
    }
    checks.finish()?;
    for (given, other) in [("cron_definition", "interval_definition"), ("interval_definition", "cron_definition")] {
        if members.get(given).is_some_and(|value| !value.is_null()) && !members.contains_key(other) {
            members.insert(other.into(), Json::Null);
        }
    }
    Ok(members)
}

/// A new schedule from the members [`schedule_members`] read for [`Write::Create`].
pub fn schedule_input(members: &Map<String, Json>) -> Result<ScheduleInput, ApiError> {
    let present: Map<String, Json> =
        members.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    serde_json::from_value(Json::Object(present)).map_err(ApiError::internal)
}

/// DRF's `BooleanField`: `true`/`false`, 1/0 and its strings (`"true"`, `"yes"`, `"on"`, `"1"`, …).
fn boolean(value: &Json) -> Result<bool, &'static str> {
    match value {
        Json::Bool(value) => Ok(*value),
        Json::Null => Err(NOT_NULL),
        Json::Number(number) if number.as_i64() == Some(1) => Ok(true),
        Json::Number(number) if number.as_i64() == Some(0) => Ok(false),
        Json::String(text) => match text.as_str() {
            "true" | "True" | "TRUE" | "t" | "T" | "yes" | "Yes" | "YES" | "y" | "Y" | "on" | "On" | "ON" | "1" => {
                Ok(true)
            }
            "false" | "False" | "FALSE" | "f" | "F" | "no" | "No" | "NO" | "n" | "N" | "off" | "Off" | "OFF" | "0" => {
                Ok(false)
            }
            _ => Err("Must be a valid boolean."),
        },
        _ => Err("Must be a valid boolean."),
    }
}

/// The Python type name DRF puts in "Expected a dictionary, but got …".
fn kind(value: &Json) -> &'static str {
    match value {
        Json::Array(_) => "list",
        Json::String(_) => "str",
        Json::Bool(_) => "bool",
        Json::Number(number) if number.is_f64() => "float",
        _ => "int",
    }
}

fn non_field(message: &str) -> ApiError {
    ApiError::Validation { detail: message.to_string(), errors: vec![FieldError::new("non_field_errors", message)] }
}

/// `POST /user/token/`'s `{"email": "..."}` (DRF's message when it is missing or not a string).
pub fn token_email(body: &Json) -> Result<String, ApiError> {
    match body.get("email") {
        Some(Json::String(email)) if !email.trim().is_empty() => Ok(email.trim().to_string()),
        Some(Json::String(_)) => Err(ApiError::invalid_field("email", NOT_BLANK)),
        Some(Json::Null) => Err(ApiError::invalid_field("email", NOT_NULL)),
        Some(_) => Err(ApiError::invalid_field("email", "Enter a valid email address.")),
        None => Err(ApiError::invalid_field("email", REQUIRED)),
    }
}

/// The usernames to try, in order, for a user `POST /user/token/` creates. Seed Scheduler used the address
/// itself; Conveyor's usernames are 3–40 of `[A-Za-z0-9_.-]`, so every other character becomes `_`
/// (`ada@example.org` → `ada_example.org`), cut to 40 and padded to 3 with `_`; when that is taken,
/// `-2` … `-99` is appended (the base cut to fit).
pub fn usernames_for(email: &str) -> impl Iterator<Item = String> {
    let mut base: String = email
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' })
        .take(40)
        .collect();
    while base.len() < 3 {
        base.push('_');
    }
    let first = std::iter::once(base.clone());
    first.chain((2..100).map(move |n| {
        let suffix = format!("-{n}");
        format!("{}{suffix}", &base[..base.len().min(40 - suffix.len())])
    }))
}

/// The native query of one page of a Seed Scheduler listing: the client's `limit` (default [`PAGE_SIZE`])
/// and `offset`, in `order`, plus the route's own `filters`. Every other parameter (Seed Scheduler's
/// `cursor`, filters it ignored such as `enabled`) is ignored here and kept in the page links.
pub fn page_query(request: &Request, order: &str, filters: &[(&str, &str)]) -> Vec<(String, String)> {
    let asked = request.query_pairs();
    let first = |name: &str| asked.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    let mut pairs = vec![
        ("limit".to_string(), first("limit").unwrap_or_else(|| PAGE_SIZE.to_string())),
        ("order".to_string(), order.to_string()),
    ];
    if let Some(offset) = first("offset") {
        pairs.push(("offset".into(), offset));
    }
    pairs.extend(filters.iter().map(|(key, value)| (key.to_string(), value.to_string())));
    pairs
}
