//! The HTML pages: Swagger UI at `/docs` over every document, Redoc at `/redoc` over one (`?doc=<name>`,
//! the native document by default). Their scripts are served files and every asset is Conveyor's own, so
//! the pages hold a strict Content-Security-Policy.

use crate::assets::{self, Source};
use crate::documents::{self, DOCUMENTS};
use conveyor_core::{ApiError, Ctx, Response};
use serde_json::json;

/// Only this origin's scripts, styles, images, fonts and fetches. Inline styles: Swagger UI sets `style`
/// attributes and Redoc injects its styles; `blob:` workers: Redoc's search index.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
     worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /docs`: Swagger UI, with a selector over every document (the native one first).
pub fn swagger_ui(_: &Ctx) -> Result<Response, ApiError> {
    let urls: Vec<_> = DOCUMENTS.iter().map(|document| json!({"url": document.path, "name": document.label})).collect();
    let swagger = |name| assets::url(Source::SwaggerUi, name);
    let head = format!(
        r#"<link rel="stylesheet" href="{}">
<link rel="stylesheet" href="{}">"#,
        swagger("swagger-ui.css"),
        assets::url(Source::Conveyor, "docs.css"),
    );
    let body = format!(
        r#"<div id="swagger-ui" data-urls="{}"></div>
<script src="{}"></script>
<script src="{}"></script>
<script src="{}"></script>"#,
        escape(&serde_json::Value::from(urls).to_string()),
        swagger("swagger-ui-bundle.js"),
        swagger("swagger-ui-standalone-preset.js"),
        assets::url(Source::Conveyor, "swagger-init.js"),
    );
    Ok(page("Conveyor API — Swagger UI", &head, &body))
}

/// `GET /redoc[?doc=<name>]`: Redoc over one document; 404 (SPEC §1) for an unknown name.
pub fn redoc(ctx: &Ctx) -> Result<Response, ApiError> {
    let pairs = ctx.request.query_pairs();
    let name = pairs.iter().find(|(key, _)| key == "doc").map_or("native", |(_, value)| value.as_str());
    let document = documents::named(name)?;
    let body = format!(
        r#"<div id="redoc" data-spec-url="{}"></div>
<script src="{}"></script>
<script src="{}"></script>"#,
        escape(document.path),
        assets::url(Source::Redoc, "redoc.standalone.js"),
        assets::url(Source::Conveyor, "redoc-init.js"),
    );
    Ok(page(&format!("{} — Redoc", document.label), "", &body))
}

/// A whole page. `data:,` as its icon keeps the browser from asking for `/favicon.ico`.
fn page(title: &str, head: &str, body: &str) -> Response {
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title>
<link rel="icon" href="data:,">
{head}
</head>
<body>
<noscript>This page needs JavaScript; the documents themselves are at /api/v1/openapi.json and /api/v1/openapi/.</noscript>
{body}
</body>
</html>
"#,
        escape(title)
    );
    Response::raw(200, "text/html; charset=utf-8", html)
        .with_header("content-security-policy", CONTENT_SECURITY_POLICY)
        .with_header("cache-control", "no-cache")
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
}

/// Text made safe for HTML content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}
