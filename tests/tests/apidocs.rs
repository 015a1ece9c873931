//! Component `apidocs` over HTTP against the real host (issue 16): the OpenAPI documents, the Swagger UI
//! (`/docs`) and Redoc (`/redoc`) pages with every asset served by Conveyor itself, their errors, and both
//! pages rendered in headless Chromium with the operations the served documents name. Public by design:
//! everything is read without credentials.

mod browser;
mod pw_support;

use conveyor_tests::{TestHost, TestResponse, repo_root};
use pw_support::*;
use serde_json::Value;
use std::time::Duration;

/// Every document: its name (`/redoc?doc=`), the path it is served at, and its checked-in file.
const DOCUMENTS: [(&str, &str); 5] = [
    ("native", "/api/v1/openapi.json"),
    ("tracker", "/api/v1/openapi/tracker.json"),
    ("seed-scheduler", "/api/v1/openapi/seed-scheduler.json"),
    ("project-w", "/api/v1/openapi/project-w.json"),
    ("rhodecode", "/api/v1/openapi/rhodecode.json"),
];

const ONE_YEAR_IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A served document, checked: 200, JSON, OpenAPI 3.1.
async fn document(app: &TestHost, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json; charset=utf-8"), "{path}");
    let document = response.json();
    let version = document["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "{path}: openapi is {version:?}");
    document
}

/// Each operation of a document: (method, path, operationId, summary).
fn operations(document: &Value) -> Vec<(String, String, Option<String>, Option<String>)> {
    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    let empty = serde_json::Map::new();
    let paths = document["paths"].as_object().unwrap_or(&empty);
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            let text = |key: &str| operation[key].as_str().map(str::to_string);
            found.push((method.to_string(), path.clone(), text("operationId"), text("summary")));
        }
    }
    found
}

/// The values of `attribute="..."` in an HTML text.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!(" {attribute}=\"");
    html.split(&marker).skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_string).collect()
}

/// Whether some `<h1>` of `dom` begins with `text` (both pages show the document's title so; the page's own
/// `<title>` does not count).
fn has_heading(dom: &str, text: &str) -> bool {
    dom.split("<h1").skip(1).any(|rest| rest.split_once('>').is_some_and(|(_, content)| content.starts_with(text)))
}

/// What HTML makes of `&`, `<`, `>` and `"` in text.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The version of a vendored package, from its checked-in `package.json`.
fn vendored_version(directory: &str) -> String {
    let path = repo_root().join("components/apidocs/assets").join(directory).join("package.json");
    let package: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    package["version"].as_str().unwrap().to_string()
}

/// The documents the Swagger UI page offers (its `data-urls`): (URL, label).
fn listed_documents(page: &TestResponse) -> Vec<(String, String)> {
    let urls = attribute_values(&page.text(), "data-urls").pop().expect("the Swagger UI page lists its documents");
    let urls: Value = serde_json::from_str(&urls.replace("&quot;", "\"")).unwrap();
    let text = |value: &Value| value.as_str().unwrap().to_string();
    urls.as_array().unwrap().iter().map(|entry| (text(&entry["url"]), text(&entry["name"]))).collect()
}

#[track_caller]
fn assert_page(response: &TestResponse) {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"));
    let policy = response.header("content-security-policy").expect("the page has a Content-Security-Policy");
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!response.text().contains("<script>"), "no inline script");
}

#[tokio::test]
async fn documents_are_openapi_3_1_json_as_checked_in_and_public() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let robot = worker(&app, "robot").await.who();
    for (name, path) in DOCUMENTS {
        let served = document(&app, path).await;
        let file = repo_root().join(format!("docs/openapi/{name}.json"));
        let checked_in: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(served, checked_in, "{path} serves {}", file.display());
        // Public by design: a user's, a worker's or a broken credential changes nothing.
        for who in [&alice, &robot, &Who::Bearer("not-a-token".into())] {
            assert_eq!(expect(&call(&app, "GET", path, who, None).await, 200), served, "{path} as {who:?}");
        }
    }
    assert!(operations(&document(&app, "/api/v1/openapi.json").await).iter().any(|op| op.1 == "/api/v1/health"));

    for unknown in
        ["/api/v1/openapi/nope.json", "/api/v1/openapi/native.json", "/api/v1/openapi/tracker", "/api/v1/openapi"]
    {
        assert_error(&call(&app, "GET", unknown, &Who::Anonymous, None).await, 404, "not_found");
    }
    let post = call(&app, "POST", "/api/v1/openapi.json", &Who::Anonymous, Some(serde_json::json!({}))).await;
    assert_error(&post, 405, "method_not_allowed");
    // meta keeps the rest of /api/v1.
    assert_eq!(expect(&app.get("/api/v1/health").await, 200)["up"], true);
}

#[tokio::test]
async fn pages_load_only_assets_conveyor_serves() {
    let app = TestHost::start().await;
    let docs = app.get("/docs").await;
    assert_page(&docs);
    let redoc = app.get("/redoc").await;
    assert_page(&redoc);
    assert!(redoc.text().contains(r#"data-spec-url="/api/v1/openapi.json""#), "{}", redoc.text());
    let tracker = app.get("/redoc?doc=tracker").await;
    assert_page(&tracker);
    assert!(tracker.text().contains(r#"data-spec-url="/api/v1/openapi/tracker.json""#));
    assert_error(&app.get("/redoc?doc=nope").await, 404, "not_found");
    assert_error(&app.send("DELETE", "/docs", &[], "").await, 405, "method_not_allowed");

    // Swagger UI's selector: every document, the native one first.
    let listed: Vec<String> = listed_documents(&docs).into_iter().map(|(url, _)| url).collect();
    assert_eq!(listed, DOCUMENTS.map(|(_, path)| path));

    let swagger_ui = format!("/docs/assets/swagger-ui-dist@{}/", vendored_version("swagger-ui-dist"));
    let redoc_dir = format!("/docs/assets/redoc@{}/", vendored_version("redoc"));
    let mut referenced = Vec::new();
    for page in [&docs, &redoc, &tracker] {
        let html = page.text();
        referenced.extend(attribute_values(&html, "src").into_iter().chain(attribute_values(&html, "href")));
    }
    referenced.retain(|url| url != "data:,");
    referenced.sort();
    referenced.dedup();
    for url in &referenced {
        assert!(url.starts_with("/docs/assets/"), "a page refers to {url}, not to an asset Conveyor serves");
    }
    for expected in ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"] {
        assert!(referenced.contains(&format!("{swagger_ui}{expected}")), "{expected} of the vendored version");
    }
    assert!(referenced.contains(&format!("{redoc_dir}redoc.standalone.js")), "{referenced:?}");

    for url in &referenced {
        let asset = app.get(url).await;
        assert_eq!(asset.status, 200, "{url}: {}", asset.text());
        let expected = if url.ends_with(".js") { "text/javascript; charset=utf-8" } else { "text/css; charset=utf-8" };
        assert_eq!(asset.header("content-type"), Some(expected), "{url}");
        assert_eq!(asset.header("cache-control"), Some(ONE_YEAR_IMMUTABLE), "{url}");
        assert_eq!(asset.header("x-content-type-options"), Some("nosniff"), "{url}");
        assert!(asset.body.len() > 100, "{url} is empty");
        // A bundle's licence comment names a file next to it: served as well.
        if let Some((_, rest)) = asset.text().split_once("For license information please see ") {
            let licence = format!("{}/{}", url.rsplit_once('/').unwrap().0, rest.split_whitespace().next().unwrap());
            let served = app.get(&licence).await;
            assert_eq!((served.status, served.header("content-type")), (200, Some("text/plain; charset=utf-8")));
        }
    }
    for licence in [format!("{swagger_ui}LICENSE"), format!("{swagger_ui}NOTICE"), format!("{redoc_dir}LICENSE")] {
        let served = app.get(&licence).await;
        assert_eq!(served.status, 200, "{licence}");
        assert!(served.text().contains("License") || served.text().contains("Copyright"), "{licence}");
    }

    let init = referenced.iter().find(|url| url.ends_with("/swagger-init.js")).unwrap();
    let unknown = [
        format!("{swagger_ui}nope.js"),
        "/docs/assets/swagger-ui-dist@0.0.1/swagger-ui-bundle.js".to_string(),
        init.replace("/conveyor@", "/conveyor@0"),
        format!("{redoc_dir}package.json"),
        "/docs/assets/swagger-ui-bundle.js".to_string(),
        "/docs/nope".to_string(),
    ];
    for url in unknown {
        assert_error(&app.get(&url).await, 404, "not_found");
    }
}

/// The budget of virtual time each page gets to fetch its document and render.
const RENDER_BUDGET: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_renders_every_operation_of_every_document() {
    let app = TestHost::start().await;
    let native = browser::render(&app.url("/docs"), RENDER_BUDGET).await;
    // The selector offers every document.
    for (_, path) in DOCUMENTS {
        assert!(native.dom.contains(&format!("<option value=\"{path}\"")), "no {path} in the selector: {}", native.dom);
    }
    let listed = listed_documents(&app.get("/docs").await);
    for (index, (path, label)) in listed.iter().enumerate() {
        let (name, document) = (DOCUMENTS[index].0, document(&app, path).await);
        // The selector's choice is kept in the query (`urls.primaryName`), as Swagger UI's top bar does.
        let selected;
        let rendered = if index == 0 {
            &native
        } else {
            let query = format!("/docs?urls.primaryName={}", label.replace(' ', "%20"));
            selected = browser::render(&app.url(&query), RENDER_BUDGET).await;
            &selected
        };
        assert_eq!(rendered.refused(), Vec::<String>::new(), "{name}: refused loads");
        let title = html_text(document["info"]["title"].as_str().unwrap());
        assert!(has_heading(&rendered.dom, &title), "{name}: the title {title} is not rendered: {}", rendered.dom);
        for (method, path, _, _) in operations(&document) {
            let block = format!("opblock opblock-{method}");
            let rendered_path = format!("data-path=\"{}\"", html_text(&path));
            let found = rendered.dom.split(&block).skip(1).any(|rest| {
                let end = rest.find("opblock opblock-").unwrap_or(rest.len());
                rest[..end].contains(&rendered_path)
            });
            assert!(found, "{name}: no {method} {path} operation block: {}", rendered.dom);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redoc_renders_every_operation_of_every_document() {
    let app = TestHost::start().await;
    for (name, path) in DOCUMENTS {
        let document = document(&app, path).await;
        let page = if name == "native" { "/redoc".to_string() } else { format!("/redoc?doc={name}") };
        let rendered = browser::render(&app.url(&page), RENDER_BUDGET).await;
        // Redoc 2 shows "API docs by Redocly" with Redocly's logo from its CDN: the policy refuses it (and
        // the image then hides itself); nothing else may be asked of another origin.
        let refused = rendered.refused();
        assert!(refused.iter().all(|url| url == "https://cdn.redoc.ly/redoc/logo-mini.svg"), "{name}: {refused:?}");
        let title = html_text(document["info"]["title"].as_str().unwrap());
        assert!(has_heading(&rendered.dom, &title), "{name}: the title {title} is not rendered: {}", rendered.dom);
        for (method, path, operation_id, summary) in operations(&document) {
            let id = operation_id.unwrap_or_else(|| panic!("{name}: {method} {path} has no operationId"));
            // A section `operation/<id>`, or `tag/<tag>/operation/<id>` in a tagged document.
            let section = format!("operation/{id}");
            let sections = attribute_values(&rendered.dom, "data-section-id");
            assert!(
                sections.iter().any(|found| *found == section || found.ends_with(&format!("/{section}"))),
                "{name}: no section for {id} among {sections:?}"
            );
            if let Some(summary) = summary {
                // `<h2><a href="#operation/<id>" ...></a>Summary </h2>`
                let summary = html_text(&summary);
                let heading = rendered.dom.split("<h2").skip(1).any(|rest| {
                    let content = rest.split("</h2>").next().unwrap_or_default();
                    let anchor =
                        content.contains(&format!("#{section}\"")) || content.contains(&format!("/{section}\""));
                    anchor && content.contains(&format!("</a>{summary}"))
                });
                assert!(heading, "{name}: no heading {summary} of {id}: {}", rendered.dom);
            }
        }
    }
}
