//! Component `rpc` (SPEC §6): JSON-RPC 2.0 at `POST /api/v1/rpc` and RhodeCode's legacy envelope at
//! `POST /_admin/api`. Both are thin: authenticate, then hand the body to `conveyor_core::rpc` or
//! `conveyor_core::compat::rhodecode`, whose methods call the same services as the native routes.
//! Decisions: `docs/rpc.md`.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::compat::rhodecode;
use conveyor_core::http::BULK_BODY_LIMIT;
use conveyor_core::{ApiError, Ctx, Response, Router, caller, route, rpc};

/// JSON-RPC 2.0: credentials as on every native route; refused ones are one JSON-RPC error.
fn json_rpc(ctx: &Ctx) -> Result<Response, ApiError> {
    if !ctx.request.has_json_content_type() {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(match caller::authenticate(ctx) {
        Ok(caller) => rpc::answer(ctx, &caller, &ctx.request.body),
        Err(error) => rpc::refused(&error),
    })
}

/// RhodeCode's envelope: always 200, whatever the content type (its clients send `text/plain`); the
/// credential is the body's `api_key`.
fn legacy(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(rhodecode::answer(ctx))
}

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
    Router::new(vec![
        route("POST", "/api/v1/rpc", json_rpc),
        // Refused inside, in RhodeCode's envelope, above the usual 1 MiB: the envelope is always HTTP 200.
        route("POST", "/_admin/api", legacy).body_limit(BULK_BODY_LIMIT),
    ])
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
