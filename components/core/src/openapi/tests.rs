//! The document stays what the code says: regenerated and compared with the checked-in file, with its
//! control actions checked against the services' own parsers.

use super::native::{control_actions, operations};
use super::native_document;
use super::schemas::Schemas;
use serde_json::{Value as Json, json};
use std::collections::HashSet;
use std::path::PathBuf;

/// The checked-in document.
fn native_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi/native.json")
}

/// The document as it is written to disk: pretty JSON and a final newline.
fn rendered() -> String {
    let mut text = serde_json::to_string_pretty(&native_document()).unwrap();
    text.push('\n');
    text
}

#[test]
fn native_document_is_current() {
    let path = native_path();
    let generated = rendered();
    if std::env::var("CONVEYOR_BLESS_OPENAPI").is_ok_and(|bless| bless == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is not what the code generates; run `CONVEYOR_BLESS_OPENAPI=1 cargo test -p conveyor-core openapi` \
         and commit the result",
        path.display()
    );
}

#[test]
fn every_operation_is_complete_and_named_once() {
    let document = native_document();
    let mut ids = HashSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            for member in ["summary", "description", "tags", "responses", "security"] {
                assert!(operation.get(member).is_some(), "{method} {path} lacks {member}");
            }
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.keys().any(|status| status.starts_with('2')), "{method} {path}: no success");
            assert!(responses.contains_key("500"), "{method} {path}: no 500");
            let params: Vec<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let in_path: Vec<&str> =
                path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
            assert_eq!(params, in_path, "{method} {path}: path parameters");
        }
    }
}

#[test]
fn every_reference_resolves() {
    let document = native_document();
    let mut missing = Vec::new();
    visit(&document, &mut |value| {
        if let Some(reference) = value.get("$ref").and_then(Json::as_str) {
            let pointer = reference.strip_prefix('#').unwrap_or(reference);
            if document.pointer(pointer).is_none() {
                missing.push(reference.to_string());
            }
        }
    });
    assert!(missing.is_empty(), "unresolved: {missing:?}");
    let schemas = document["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("Error"), "SPEC §1's error body is a shared schema");
}

fn visit(value: &Json, f: &mut impl FnMut(&Json)) {
    f(value);
    match value {
        Json::Object(map) => map.values().for_each(|v| visit(v, f)),
        Json::Array(items) => items.iter().for_each(|v| visit(v, f)),
        _ => {}
    }
}

#[test]
fn public_operations_need_no_credentials_and_the_rest_say_which() {
    let document = native_document();
    let public = ["health", "apiVersions", "apiRoot", "signup", "login", "activate", "requestPasswordReset"];
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().unwrap();
            let security = operation["security"].as_array().unwrap();
            if public.contains(&id) {
                assert!(security.is_empty(), "{id} is public");
            }
            for requirement in security {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(document["components"]["securitySchemes"].get(scheme).is_some(), "{id}: {scheme}");
                }
            }
        }
    }
}

#[test]
fn control_actions_are_those_the_services_parse() {
    let examples = |params: &Json| -> Json {
        match params["required"].as_array().and_then(|required| required.first()).and_then(Json::as_str) {
            Some(name) => json!({ name: 1 }),
            None => json!({}),
        }
    };
    for (resource, methods) in control_actions() {
        for (method, params) in &methods {
            let params = examples(params);
            let known = match resource {
                "tasks" => crate::tasks::Action::parse(method, &params).map(|a| a.is_some()),
                "projects" => crate::projects::Action::parse(method, &params).map(|a| a.is_some()),
                "workers" => crate::workers::Action::parse(method, &params).map(|a| a.is_some()),
                "schedules" => crate::schedules::Action::parse(method, &params).map(|a| a.is_some()),
                other => panic!("no parser for {other}"),
            };
            assert_eq!(known, Ok(true), "{resource}: `{method}` with {params}");
        }
    }
    let unknown = json!({});
    assert_eq!(crate::tasks::Action::parse("no_such_action", &unknown).map(|a| a.is_some()), Ok(false));
}

#[test]
fn request_schemas_refuse_unknown_fields_as_the_handlers_do() {
    let mut schemas = Schemas::new();
    let _ = operations(&mut schemas);
    let components = schemas.into_components().schemas;
    for name in ["SubmitRequest", "ProjectInput", "LoginInput", "WorkerInput", "ScheduleInput"] {
        assert_eq!(components[name]["additionalProperties"], json!(false), "{name}");
    }
    for name in ["Task", "Project", "User", "Worker", "Schedule"] {
        assert!(components[name].get("additionalProperties").is_none(), "{name}: a response may grow");
    }
}

/// What Schemathesis found the document missing (tests/tests/fuzz_api.rs): an unknown project in a body is a
/// 404, an unknown control action SPEC §1.2's 501, and a JSON-RPC id any JSON number.
#[test]
fn answers_the_fuzzer_met_are_documented() {
    let document = native_document();
    let responses = |path: &str, method: &str| document["paths"][path][method]["responses"].clone();
    for (path, method) in [("/api/v1/tasks", "post"), ("/api/v1/tasks/bulk", "post"), ("/api/v1/tasks/claim", "post")] {
        assert!(responses(path, method).get("404").is_some(), "{method} {path} lists 404");
    }
    for path in ["/api/v1/projects/{project}", "/api/v1/tasks/{id}", "/api/v1/schedules/{id}", "/api/v1/workers/{id}"] {
        assert!(responses(path, "post").get("501").is_some(), "the control action at {path} lists 501");
    }
    let id = &document["components"]["schemas"]["JsonRpcAnswer"]["properties"]["id"]["type"];
    assert_eq!(id, &json!(["number", "string", "null"]));
}
