//! The OpenAPI documents, checked in under `docs/openapi/` and compiled in: the native API's at
//! `/api/v1/openapi.json`, each wire-compatible surface's at `/api/v1/openapi/{name}.json`.

use conveyor_core::{ApiError, Ctx, Response};

/// One published OpenAPI document.
pub struct Document {
    /// Its name in `/api/v1/openapi/{name}.json` and in `/redoc?doc={name}`.
    pub name: &'static str,
    /// Its label in Swagger UI's document selector.
    pub label: &'static str,
    /// The path it is served at.
    pub path: &'static str,
    body: &'static str,
}

/// Every document, the native one first (the one the pages open with).
pub const DOCUMENTS: &[Document] = &[
    Document {
        name: "native",
        label: "Conveyor (native API)",
        path: "/api/v1/openapi.json",
        body: include_str!("../../../docs/openapi/native.json"),
    },
    Document {
        name: "tracker",
        label: "task_tracker surface",
        path: "/api/v1/openapi/tracker.json",
        body: include_str!("../../../docs/openapi/tracker.json"),
    },
    Document {
        name: "seed-scheduler",
        label: "Seed Scheduler surface",
        path: "/api/v1/openapi/seed-scheduler.json",
        body: include_str!("../../../docs/openapi/seed-scheduler.json"),
    },
    Document {
        name: "project-w",
        label: "Project-W surface",
        path: "/api/v1/openapi/project-w.json",
        body: include_str!("../../../docs/openapi/project-w.json"),
    },
    Document {
        name: "rhodecode",
        label: "RhodeCode JSON-RPC surface",
        path: "/api/v1/openapi/rhodecode.json",
        body: include_str!("../../../docs/openapi/rhodecode.json"),
    },
];

/// The document of that name; 404 (SPEC §1) for any other.
pub fn named(name: &str) -> Result<&'static Document, ApiError> {
    DOCUMENTS
        .iter()
        .find(|document| document.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no OpenAPI document named `{name}`")))
}

/// `GET /api/v1/openapi.json`: the native API's document.
pub fn native(_: &Ctx) -> Result<Response, ApiError> {
    Ok(answer(&DOCUMENTS[0]))
}

/// `GET /api/v1/openapi/{name}.json`: a wire-compatible surface's document.
pub fn surface(ctx: &Ctx) -> Result<Response, ApiError> {
    let path = format!("/api/v1/openapi/{}", ctx.param("file"));
    let document = DOCUMENTS
        .iter()
        .find(|document| document.path == path)
        .ok_or_else(|| ApiError::NotFound(format!("no OpenAPI document at {path}")))?;
    Ok(answer(document))
}

/// Revalidated on each use: a document changes with the deployment, under the same URL.
fn answer(document: &Document) -> Response {
    Response::raw(200, "application/json; charset=utf-8", document.body).with_header("cache-control", "no-cache")
}
