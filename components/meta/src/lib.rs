//! Component `meta` (SPEC §8): API discovery (`/api`, `/api/v1`) and health. It also owns the
//! `/api/...` fallback, so an unknown API path gets SPEC §1's JSON 404.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::{ApiError, Ctx, Response, Router, route};
use serde_json::json;

/// The collections served under `/api/v1`, for the discoverable root.
const COLLECTIONS: &[&str] =
    &["health", "auth", "me", "tokens", "users", "groups", "tasks", "projects", "workers", "logs"];

fn api_versions(_: &Ctx) -> Result<Response, ApiError> {
    Ok(Response::ok(&json!({ "api_versions": { "v1": "/api/v1" } })))
}

fn v1_root(ctx: &Ctx) -> Result<Response, ApiError> {
    let base = format!("{}/api/v1", ctx.request.base_url);
    let links: serde_json::Map<_, _> =
        COLLECTIONS.iter().map(|name| (name.to_string(), json!(format!("{base}/{name}")))).collect();
    Ok(Response::ok(&json!({ "api_version": "v1", "links": links })))
}

/// Really queries the database; 503 when it cannot be opened or queried. Opening is the query: it reads the
/// connection's state and the file's schema version (`connection::prepare`), which a `SELECT 1` would not.
fn health(ctx: &Ctx) -> Result<Response, ApiError> {
    let version = env!("CARGO_PKG_VERSION");
    let database_up = ctx.db().is_ok();
    let status = if database_up { 200 } else { 503 };
    let state = if database_up { "up" } else { "down" };
    Ok(Response::json(status, &json!({ "up": database_up, "result": { "database": state, "version": version } })))
}

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
    Router::new(vec![
        route("GET", "/api", api_versions),
        route("GET", "/api/v1", v1_root),
        route("GET", "/api/v1/health", health),
    ])
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
