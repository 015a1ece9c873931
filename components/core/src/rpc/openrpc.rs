//! `rpc.discover`: an OpenRPC 1.3 document of every method in [`METHODS`], with its params (by name) and
//! the schema of its result.

use super::methods::{METHODS, Param, Type};
use crate::http::Request;
use serde_json::{Map, Value as Json, json};

/// OpenRPC's version this document follows.
const OPENRPC_VERSION: &str = "1.3.2";

/// The fields of each result schema, with their JSON types (as the native API answers them).
const SCHEMAS: &[(&str, &[(&str, &str)])] = &[
    (
        "User",
        &[
            ("id", "integer"),
            ("username", "string"),
            ("email", "string"),
            ("first_name", "string"),
            ("last_name", "string"),
            ("active", "boolean"),
            ("admin", "boolean"),
            ("verified", "boolean"),
            ("created_at", "integer"),
            ("last_login", "integer|null"),
        ],
    ),
    (
        "Group",
        &[
            ("id", "integer"),
            ("name", "string"),
            ("description", "string"),
            ("active", "boolean"),
            ("created_at", "integer"),
            ("members", "array"),
        ],
    ),
    ("Membership", &[("group", "object"), ("added", "boolean")]),
    (
        "Project",
        &[
            ("id", "integer"),
            ("name", "string"),
            ("description", "string"),
            ("motd", "string"),
            ("visibility", "string"),
            ("priority", "integer"),
            ("paused", "boolean"),
            ("chain", "integer|null"),
            ("assign_rate", "number"),
            ("submit_rate", "number"),
            ("version", "string"),
            ("clone_url", "string"),
            ("git_repo", "string"),
            ("created_at", "integer"),
        ],
    ),
    ("Grant", &[("user", "integer"), ("group", "integer"), ("role", "integer"), ("preset", "string|null")]),
    (
        "Task",
        &[
            ("id", "integer"),
            ("project", "integer"),
            ("status", "string"),
            ("priority", "integer"),
            ("recipe", "string"),
            ("hash64", "integer"),
            ("max_retries", "integer"),
            ("retries", "integer"),
            ("max_assign_time", "integer"),
            ("verification_count", "integer"),
            ("assignee", "integer|null"),
            ("claims", "integer"),
            ("progress", "integer"),
            ("result", "string|null"),
            ("created_at", "integer"),
            ("updated_at", "integer"),
            ("closed_at", "integer|null"),
        ],
    ),
    ("Page", &[("count", "integer"), ("results", "array")]),
];

/// A JSON Schema for a type written `a|b` (`integer|null`).
fn schema_of(types: &str) -> Json {
    let types: Vec<&str> = types.split('|').collect();
    if types.len() == 1 { json!({"type": types[0]}) } else { json!({"type": types}) }
}

/// A JSON Schema for a parameter of `kind` (also the native OpenAPI document's, for `POST /api/v1/rpc`).
pub(crate) fn param_schema(kind: Type) -> Json {
    match kind {
        Type::Reference => json!({"oneOf": [{"type": "integer"}, {"type": "string"}], "description": "id or name"}),
        Type::String => json!({"type": "string"}),
        Type::Integer => json!({"type": "integer"}),
        Type::Number => json!({"type": "number"}),
        Type::Boolean => json!({"type": "boolean"}),
        Type::Any => json!({}),
        Type::Query => json!({"type": "object", "description": "query-language parameters (SPEC §1.1)"}),
    }
}

fn param(param: &Param) -> Json {
    json!({"name": param.name, "required": param.required, "schema": param_schema(param.kind)})
}

fn result(schema: &str) -> Json {
    let schema = if schema == "null" {
        json!({"type": "null"})
    } else {
        json!({"$ref": format!("#/components/schemas/{schema}")})
    };
    json!({"name": "result", "schema": schema})
}

/// The OpenRPC document, its server relative to `request`.
pub fn document(request: &Request) -> Json {
    let methods: Vec<Json> = METHODS
        .iter()
        .map(|method| {
            json!({
                "name": method.name,
                "summary": method.summary,
                "paramStructure": "by-name",
                "params": method.params.iter().map(param).collect::<Vec<_>>(),
                "result": result(method.result),
            })
        })
        .collect();
    let schemas: Map<String, Json> = SCHEMAS
        .iter()
        .map(|(name, fields)| {
            let properties: Map<String, Json> =
                fields.iter().map(|(field, types)| (field.to_string(), schema_of(types))).collect();
            (name.to_string(), json!({"type": "object", "properties": properties}))
        })
        .collect();
    json!({
        "openrpc": OPENRPC_VERSION,
        "info": {"title": "Conveyor JSON-RPC", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"name": "conveyor", "url": format!("{}/api/v1/rpc", request.base_url)}],
        "methods": methods,
        "components": {"schemas": schemas},
    })
}
