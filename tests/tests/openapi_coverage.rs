//! Each OpenAPI document in `docs/openapi/` covers exactly the routes of the components it describes: a route
//! without an operation, or an operation without a route, fails. The route tables are the components' own
//! (`router()`, read natively; `Router::routes` lists them). One test per document: the compat documents
//! are written on their own schedule. How the documents are made: `docs/openapi.md`.

use conveyor_core::Router;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// An operation or a route: upper-case method and OpenAPI path (`{name}` parameters, no trailing slash).
type Key = (String, String);

/// `(method, pattern)` pairs → keys; `keep` chooses the patterns a document describes.
fn routes(routers: &[Router], keep: impl Fn(&str) -> bool) -> BTreeSet<Key> {
    routers
        .iter()
        .flat_map(Router::routes)
        .filter(|(_, pattern)| keep(pattern))
        .map(|(method, pattern)| (method.to_string(), openapi_path(pattern)))
        .collect()
}

/// `/a/:id/` → `/a/{id}` (the router ignores a trailing slash).
fn openapi_path(pattern: &str) -> String {
    let segments: Vec<String> = pattern
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| segment.strip_prefix(':').map_or_else(|| segment.to_string(), |name| format!("{{{name}}}")))
        .collect();
    format!("/{}", segments.join("/"))
}

/// The operations of `docs/openapi/{file}`.
fn operations(file: &str) -> BTreeSet<Key> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let document: Json = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
    let mut keys = BTreeSet::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in
            item.as_object().into_iter().flatten().map(|(name, _)| name).filter(|m| methods.contains(&m.as_str()))
        {
            keys.insert((method.to_uppercase(), openapi_path(path)));
        }
    }
    keys
}

/// Fails naming every route without an operation and every operation without a route. A GET route also
/// answers HEAD, so a HEAD operation on it counts as routed.
fn assert_covers(file: &str, routes: BTreeSet<Key>) {
    assert!(!routes.is_empty(), "{file}: no routes chosen");
    let operations = operations(file);
    let routed = |(method, path): &Key| {
        routes.contains(&(method.clone(), path.clone()))
            || (method == "HEAD" && routes.contains(&("GET".into(), path.clone())))
    };
    let undocumented: Vec<&Key> = routes.iter().filter(|route| !operations.contains(route)).collect();
    let unrouted: Vec<&Key> = operations.iter().filter(|operation| !routed(operation)).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "{file}:\n  routes without an operation: {undocumented:?}\n  operations without a route: {unrouted:?}"
    );
}

fn is_legacy_rpc(pattern: &str) -> bool {
    openapi_path(pattern) == "/_admin/api"
}

#[test]
fn native_document_covers_the_native_components() {
    let routers = [
        conveyor_meta::router(),
        conveyor_accounts::router(),
        conveyor_tasks::router(),
        conveyor_projects::router(),
        conveyor_workers::router(),
        conveyor_schedules::router(),
        conveyor_apidocs::router(),
        conveyor_metrics::router(),
    ];
    let mut native = routes(&routers, |_| true);
    native.extend(routes(&[conveyor_rpc::router()], |pattern| !is_legacy_rpc(pattern)));
    assert!(native.contains(&("POST".into(), "/api/v1/rpc".into())));
    assert_covers("native.json", native);
}

#[test]
fn tracker_document_covers_the_tracker_component() {
    assert_covers("tracker.json", routes(&[conveyor_tracker::router()], |_| true));
}

#[test]
fn seed_scheduler_document_covers_the_scheduler_component() {
    assert_covers("seed-scheduler.json", routes(&[conveyor_scheduler::router()], |_| true));
}

#[test]
fn project_w_document_covers_the_projectw_component() {
    assert_covers("project-w.json", routes(&[conveyor_projectw::router()], |_| true));
}

#[test]
fn rhodecode_document_covers_the_legacy_rpc_route() {
    assert_covers("rhodecode.json", routes(&[conveyor_rpc::router()], is_legacy_rpc));
}

#[test]
fn a_route_and_an_operation_are_matched_by_method_and_path_only() {
    assert_eq!(openapi_path("/api/v1/tasks/:id/"), "/api/v1/tasks/{id}");
    assert_eq!(openapi_path("/"), "/");
    assert_eq!(openapi_path("/api/v1/tasks/{id}"), "/api/v1/tasks/{id}", "document paths are read the same way");
}
