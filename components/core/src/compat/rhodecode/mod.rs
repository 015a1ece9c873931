//! RhodeCode's legacy JSON-RPC API at `POST /_admin/api` (SPEC §6), as its 1.7 API and Kallithea speak it:
//! `{"id", "api_key", "method", "args"}` → always HTTP 200 `{"id", "result", "error"}`, `error` a string and
//! `result` null on error, the request's `id` echoed verbatim (`kallithea-api` refuses an answer whose id
//! differs). Projects stand in for repositories. Decisions and every difference: `docs/rpc.md`.

mod args;
mod methods;
pub mod shapes;

use crate::auth;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::http::{BODY_LIMIT, Response};
use crate::router::Ctx;
pub use args::Args;
pub use methods::names as method_names;
use serde_json::{Map, Value as Json, json};

/// The error of an unknown or revoked `api_key` (RhodeCode's exact words).
pub const INVALID_API_KEY: &str = "Invalid API KEY";

/// The answer envelope, always HTTP 200.
fn envelope(id: Json, outcome: Result<Json, String>) -> Response {
    let (result, error) = match outcome {
        Ok(result) => (result, Json::Null),
        Err(error) => (Json::Null, Json::String(error)),
    };
    Response::ok(&json!({"id": id, "result": result, "error": error}))
}

/// `Incorrect JSON query missing 'x'`: a member of the envelope is missing.
fn missing(member: &str) -> String {
    format!("Incorrect JSON query missing '{member}'")
}

/// Answers a legacy API request (any content type: RhodeCode's clients send `text/plain`).
pub fn answer(ctx: &Ctx) -> Response {
    let body = &ctx.request.body;
    if body.len() > BODY_LIMIT {
        return envelope(Json::Null, Err(format!("request body too large: the limit is {BODY_LIMIT} bytes")));
    }
    if body.is_empty() {
        return envelope(Json::Null, Err("Content-Length is 0".into()));
    }
    let request: Map<String, Json> = match serde_json::from_slice(body) {
        Ok(Json::Object(request)) => request,
        Ok(_) => return envelope(Json::Null, Err("JSON query must be an object".into())),
        Err(error) => return envelope(Json::Null, Err(format!("JSON parse error ERR:{error}"))),
    };
    // RhodeCode reads the members in this order; the id is echoed once it has been read.
    let Some(api_key) = request.get("api_key") else { return envelope(Json::Null, Err(missing("api_key"))) };
    let Some(id) = request.get("id").cloned() else { return envelope(Json::Null, Err(missing("id"))) };
    let Some(method) = request.get("method") else { return envelope(id, Err(missing("method"))) };
    let Some(args) = request.get("args") else { return envelope(id, Err(missing("args"))) };
    let principal = match api_key.as_str().map(|key| auth::authenticate_token(ctx, key)) {
        Some(Ok(principal)) => principal,
        Some(Err(ApiError::Unauthorized(_))) | None => return envelope(id, Err(INVALID_API_KEY.into())),
        Some(Err(other)) => return envelope(id, Err(message(&other))),
    };
    let Some(method) = method.as_str() else { return envelope(id, Err("`method` must be a string".into())) };
    // RhodeCode treats `args` that are not an object (null, 1, ...) as no arguments.
    let args = Args::new(args.as_object().cloned().unwrap_or_default());
    let caller = Caller::Person(principal);
    envelope(id, methods::call(ctx, &caller, method, args))
}

/// The error string of a refused call: the service's own words (never internals: see `ApiError::body`).
fn message(error: &ApiError) -> String {
    error.log_internal();
    error.body().detail
}
