//! Component `metrics` (SPEC §8, docs/metrics.md): `GET /metrics` in Prometheus' text format, for the
//! scrapers' token (`metrics_token`) or an administrator.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::metrics::{self, access};
use conveyor_core::{ApiError, Ctx, Response, Router, clock, route};

fn metrics(ctx: &Ctx) -> Result<Response, ApiError> {
    access::authorize(ctx)?;
    let text = metrics::render(ctx.db()?, clock::now())?;
    Ok(Response::raw(200, metrics::CONTENT_TYPE, text))
}

/// The component's route table.
pub fn router() -> Router {
    Router::new(vec![route("GET", "/metrics", metrics)])
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
