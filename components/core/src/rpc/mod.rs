//! JSON-RPC 2.0 at `POST /api/v1/rpc` (SPEC §6): one call or a batch of up to [`MAX_BATCH`], params by name
//! only, notifications (no `id`) run without an answer, and `rpc.discover` answers an OpenRPC document.
//! Decisions: `docs/rpc.md`.
//!
//! HTTP status: a single call is answered with the status of its outcome, as control actions are (SPEC
//! §1.2: 200, or 400/403/404/429/500/501 with the JSON-RPC error); a batch is 200 with one answer per call
//! that has an id; a request of notifications only is 204. Each call of a batch is authorised and committed
//! on its own: one failing call changes nothing of the others.

pub mod methods;
pub(crate) mod openrpc;

use crate::caller::Caller;
use crate::control::{self, Call, RpcError};
use crate::error::ApiError;
use crate::http::Response;
use crate::router::Ctx;
use methods::Env;
use serde_json::Value as Json;

/// The most calls one batch may hold.
pub const MAX_BATCH: usize = 100;

/// The method that describes every other one.
pub(crate) const DISCOVER: &str = "rpc.discover";

/// One call's answer: the answer object, or the error with the id its answer carries. `None` for a
/// notification.
fn run(env: &Env, value: Json) -> Option<Result<Json, (RpcError, Json)>> {
    let call: Call = match control::parse_call(value) {
        Ok(call) => call,
        Err(refused) => return Some(Err(*refused)),
    };
    let outcome = if call.method == DISCOVER {
        Ok(openrpc::document(&env.ctx.request))
    } else {
        methods::call(env, &call.method, &call.params)
    };
    let id = call.id?;
    Some(match outcome {
        Ok(result) => Ok(control::result_object(result, id)),
        Err(error) => Err((RpcError::from(&error), id)),
    })
}

/// Answers a JSON-RPC 2.0 request body for `caller`.
pub fn answer(ctx: &Ctx, caller: &Caller, body: &[u8]) -> Response {
    let env = Env { ctx, caller };
    let value: Json = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => return control::error_response(&control::parse_error(&error), Json::Null),
    };
    match value {
        Json::Array(calls) if calls.is_empty() => {
            control::error_response(&control::invalid_request("an empty batch is not a request"), Json::Null)
        }
        Json::Array(calls) if calls.len() > MAX_BATCH => {
            let message = format!("a batch holds at most {MAX_BATCH} calls, not {}", calls.len());
            control::error_response(&control::invalid_request(message), Json::Null)
        }
        Json::Array(calls) => {
            let answers: Vec<Json> = calls
                .into_iter()
                .filter_map(|call| run(&env, call))
                .map(|answer| answer.unwrap_or_else(|(error, id)| control::error_object(&error, id)))
                .collect();
            if answers.is_empty() { Response::no_content() } else { Response::ok(&answers) }
        }
        single => match run(&env, single) {
            Some(Ok(answer)) => Response::ok(&answer),
            Some(Err((error, id))) => control::error_response(&error, id),
            None => Response::no_content(),
        },
    }
}

/// The answer when the request's credentials are refused before any call runs: one JSON-RPC error, with
/// HTTP 401 and `WWW-Authenticate` for wrong credentials (403 for a cross-site cookie, 503 when the database
/// is down).
pub fn refused(error: &ApiError) -> Response {
    let error = match error {
        ApiError::Unauthorized(_) => RpcError::unauthenticated(error),
        other => RpcError::from(other),
    };
    control::error_response(&error, Json::Null)
}

#[cfg(test)]
mod tests;
