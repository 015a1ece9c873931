//! The OpenAPI 3.1 document of the native API (`docs/openapi/native.json`), generated from the code's own
//! types ([`schemas`], with `schemars`) and an operation table ([`native`]) for what types cannot say. It is
//! built only by tests: [`tests::native_document_is_current`] fails when the checked-in file differs, and
//! `CONVEYOR_BLESS_OPENAPI=1 cargo test -p conveyor-core openapi` rewrites it. Decisions: `docs/openapi.md`.

mod compat;
mod native;
mod schemas;
mod table;
mod tests;

use schemas::Schemas;
use serde_json::{Map, Value as Json, json};

/// The tags, one per component, in the document's order.
const TAGS: &[(&str, &str)] = &[
    ("meta", "Discovery and health (SPEC §8)."),
    ("accounts", "Sign-up, login, users, groups and API tokens (SPEC §2)."),
    ("tasks", "Submit, claim, heartbeat, release and control tasks (SPEC §4)."),
    ("projects", "Projects, grants, secrets and worker access (SPEC §3)."),
    ("workers", "Workers and logs (SPEC §5)."),
    ("schedules", "Cron and interval schedules (SPEC §7)."),
    ("rpc", "JSON-RPC 2.0 over the same services (SPEC §6)."),
    ("docs", "The OpenAPI documents, Swagger UI and Redoc (SPEC §8)."),
    ("metrics", "Prometheus metrics (SPEC §8)."),
];

/// The whole document.
pub fn native_document() -> Json {
    let mut schemas = Schemas::new();
    let mut paths = Map::new();
    for op in native::operations(&mut schemas) {
        let (path, method, operation) = op.render(&mut schemas);
        let item = paths.entry(path.clone()).or_insert_with(|| json!({}));
        let clash = item.as_object_mut().and_then(|item| item.insert(method.clone(), operation));
        assert!(clash.is_none(), "{method} {path} is in the table twice");
    }
    let components = schemas.into_components();
    let tags: Vec<Json> =
        TAGS.iter().map(|(name, description)| json!({"name": name, "description": description})).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Conveyor",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Conveyor's native API (SPEC §1–§8): a multi-tenant task queue, worker coordinator and \
                scheduler. JSON in and out; times are integer Unix seconds; errors carry SPEC §1's body \
                (`Error`). Collections take the query language of SPEC §1.1. Generated from the code: see \
                docs/openapi.md.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "responses": components.responses,
            "securitySchemes": security_schemes(),
        },
    })
}

/// How each credential is presented (core's `auth` and `caller`).
fn security_schemes() -> Json {
    let cookie = crate::auth::SESSION_COOKIE;
    json!({
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <token>`: a named API token (`POST /api/v1/tokens`), a login \
                session's token (`POST /api/v1/auth/login`), or the `admin_token` variable's value (the built-in \
                administrator). A presented but invalid, expired or revoked token is a 401.",
        },
        "tokenAuth": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Seed Scheduler's form of the same tokens: the header's value is `Token <token>`.",
        },
        "sessionCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": cookie,
            "description": format!("The `{cookie}` cookie set by login (HttpOnly, SameSite=Lax). An Authorization \
                header wins over it; a state-changing request made with the cookie alone from another site is \
                refused (403)."),
        },
        "workerId": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Worker-ID",
            "description": "A worker's id, sent with `X-Secret` (task_tracker's form).",
        },
        "workerSecret": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Secret",
            "description": "The worker's secret, shown once by `POST /api/v1/workers` and `rotate_secret`.",
        },
        "workerAuthorization": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A worker's credential in one header: `Worker <id>:<secret>`. Worker credentials \
                win over a user's sent alongside.",
        },
    })
}
