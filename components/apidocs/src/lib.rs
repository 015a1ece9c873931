//! Component `apidocs` (issue 16): the OpenAPI documents (`/api/v1/openapi.json`, `/api/v1/openapi/...`),
//! Swagger UI at `/docs` and Redoc at `/redoc`, with every asset served from `/docs/assets/...`. Public by
//! design: nothing here needs credentials, and nothing here reads the database.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

mod assets;
mod documents;
mod pages;

use conveyor_core::{Router, route};
use spin_sdk::http_component;

fn router() -> Router {
    Router::new(vec![
        route("GET", "/api/v1/openapi.json", documents::native),
        route("GET", "/api/v1/openapi/:file", documents::surface),
        route("GET", "/docs", pages::swagger_ui),
        route("GET", "/docs/assets/:revision/:name", assets::serve),
        route("GET", "/redoc", pages::redoc),
    ])
}

#[http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
