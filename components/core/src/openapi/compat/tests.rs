//! Each compat document stays what the code says: regenerated and compared with its checked-in file
//! (`CONVEYOR_BLESS_OPENAPI=1 cargo test -p conveyor-core openapi` rewrites them), complete, and
//! self-contained.

use super::SURFACES;
use serde_json::Value as Json;
use std::collections::HashSet;
use std::path::PathBuf;

#[test]
fn compat_documents_are_current() {
    let bless = std::env::var("CONVEYOR_BLESS_OPENAPI").is_ok_and(|bless| bless == "1");
    let mut stale = Vec::new();
    for surface in SURFACES {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi").join(surface.file);
        // As written to disk: pretty JSON and a final newline.
        let generated = serde_json::to_string_pretty(&(surface.build)()).unwrap() + "\n";
        if bless {
            std::fs::write(&path, &generated).unwrap();
        } else if std::fs::read_to_string(&path).unwrap_or_default() != generated {
            stale.push(surface.file);
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} are not what the code generates; run `CONVEYOR_BLESS_OPENAPI=1 cargo test -p conveyor-core \
         openapi` and commit the result"
    );
}

/// Every operation of a document, named `METHOD /path`.
fn operations(document: &Json) -> Vec<(String, &Json)> {
    let paths = document["paths"].as_object().unwrap().iter();
    paths
        .flat_map(|(path, item)| {
            item.as_object().unwrap().iter().map(move |(method, operation)| (format!("{method} {path}"), operation))
        })
        .collect()
}

#[test]
fn operations_are_complete_named_once_and_name_declared_credentials() {
    for surface in SURFACES {
        let document = (surface.build)();
        let (file, schemes) = (surface.file, &document["components"]["securitySchemes"]);
        let operations = operations(&document);
        let ids: HashSet<&str> =
            operations.iter().map(|(_, operation)| operation["operationId"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), operations.len(), "{file}: an operationId is used twice");
        for (name, operation) in &operations {
            let lacking: Vec<&str> = ["summary", "description", "tags", "security"]
                .into_iter()
                .filter(|member| operation.get(*member).is_none())
                .collect();
            assert!(lacking.is_empty(), "{file}: {name} lacks {lacking:?}");
            // Any status the surface may answer is documented, in its own error shape.
            assert!(operation["responses"].get("default").is_some(), "{file}: {name} has no default answer");
            let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
            let declared = |segment: &str| parameters.iter().any(|p| p["in"] == "path" && p["name"] == segment);
            let in_path = name.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')));
            let undeclared: Vec<&str> = in_path.filter(|segment| !declared(segment)).collect();
            assert!(undeclared.is_empty(), "{file}: {name} does not declare {undeclared:?}");
            let requirements = operation["security"].as_array().unwrap();
            for scheme in requirements.iter().flat_map(|requirement| requirement.as_object().unwrap().keys()) {
                assert!(schemes.get(scheme).is_some(), "{file}: {name} names the undeclared scheme {scheme}");
            }
        }
    }
}

/// Every `$ref` under `value`.
fn references(value: &Json) -> Vec<&str> {
    match value {
        Json::Object(map) => map
            .iter()
            .flat_map(
                |(key, value)| if key == "$ref" { value.as_str().into_iter().collect() } else { references(value) },
            )
            .collect(),
        Json::Array(items) => items.iter().flat_map(references).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn references_resolve_and_answers_may_grow() {
    for surface in SURFACES {
        let document = (surface.build)();
        let unresolved: Vec<&str> = references(&document)
            .into_iter()
            .filter(|target| target.strip_prefix('#').is_none_or(|pointer| document.pointer(pointer).is_none()))
            .collect();
        assert!(unresolved.is_empty(), "{}: unresolved {unresolved:?}", surface.file);
        // None of these surfaces refuses unknown fields, and an answer may gain fields.
        let schemas = serde_json::to_string(&document["components"]["schemas"]).unwrap();
        assert!(!schemas.contains("\"additionalProperties\":false"), "{}: additionalProperties false", surface.file);
    }
}
