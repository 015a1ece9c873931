//! The document's `components`: JSON Schemas (2020-12, as OpenAPI 3.1 takes them) derived from the code's own
//! types with `schemars`, responses as they serialize and request bodies as they deserialize, plus the shapes
//! the query language and the control actions build at run time; and the error responses operations share.

use crate::query::{Kind, Resource};
use schemars::JsonSchema;
use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value as Json, json};

/// Where schemas live in the document; every `$ref` points here.
const PATH: &str = "/components/schemas";

/// The form of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorForm {
    /// SPEC §1's body.
    Plain,
    /// A JSON-RPC 2.0 error answer (control actions, `/api/v1/rpc`).
    JsonRpc,
}

/// The schemas and shared responses an operation table refers to, collected as it is built.
pub struct Schemas {
    responses: SchemaGenerator,
    requests: SchemaGenerator,
    extra: Map<String, Json>,
    errors: Map<String, Json>,
}

/// The `schemas` and `responses` of a document's `components`.
pub struct Components {
    pub schemas: Map<String, Json>,
    pub responses: Map<String, Json>,
}

impl Schemas {
    pub fn new() -> Self {
        let generator = |contract| {
            SchemaSettings::draft2020_12()
                .with(|settings| {
                    settings.definitions_path = PATH.into();
                    settings.contract = contract;
                })
                .into_generator()
        };
        Self {
            responses: generator(Contract::Serialize),
            requests: generator(Contract::Deserialize),
            extra: Map::new(),
            errors: Map::new(),
        }
    }

    /// `T` as the API answers it (a `$ref`, or an inline schema for a simple type).
    pub fn response<T: JsonSchema>(&mut self) -> Json {
        self.responses.subschema_for::<T>().to_value()
    }

    /// `T` as the API reads it: `deny_unknown_fields` becomes `additionalProperties: false`, defaulted and
    /// `Option` fields are not required.
    pub fn request<T: JsonSchema>(&mut self) -> Json {
        self.requests.subschema_for::<T>().to_value()
    }

    /// A hand-written schema under `name` (a shape built at run time); answers its `$ref`.
    pub fn named(&mut self, name: &str, schema: Json) -> Json {
        self.extra.insert(name.to_string(), schema);
        reference(name)
    }

    /// SPEC §1's error body, shared by every error response.
    pub fn error(&mut self) -> Json {
        self.response::<crate::error::ErrorBody<'static>>()
    }

    /// A JSON-RPC 2.0 answer: `result` or `error` (SPEC §1.2, §6).
    pub fn json_rpc_answer(&mut self) -> Json {
        let error = self.named(
            "JsonRpcError",
            json!({"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "integer"}, "message": {"type": "string"},
                "data": {"description": "The native error `code`, and `errors` for validation."}}}),
        );
        self.named(
            "JsonRpcAnswer",
            json!({"type": "object", "required": ["jsonrpc", "id"], "properties": {
                "jsonrpc": {"const": "2.0"}, "result": {}, "error": error,
                "id": {"type": ["integer", "string", "null"]}},
                "oneOf": [{"required": ["result"]}, {"required": ["error"]}]}),
        )
    }

    /// SPEC §1.1's envelope (`{name}Page`) around rows of `resource` (`{name}Row`). Every row field is
    /// optional (`field=` selects), typed by its kind and nullable (a NULL column renders as `null`);
    /// `decoded` fields hold JSON the handler decodes from text, so they may be any JSON value.
    pub fn listing(&mut self, name: &str, resource: &Resource, decoded: &[&str]) -> Json {
        let properties: Map<String, Json> = resource
            .fields
            .iter()
            .map(|field| {
                let schema = if decoded.contains(&field.name) {
                    json!({})
                } else {
                    json!({ "type": [kind_type(field.kind), "null"] })
                };
                (field.name.to_string(), schema)
            })
            .collect();
        let row = self.named(&format!("{name}Row"), json!({ "type": "object", "properties": properties }));
        self.named(
            &format!("{name}Page"),
            json!({
                "type": "object",
                "required": ["count", "next", "previous", "results"],
                "properties": {
                    "count": { "type": "integer", "minimum": 0 },
                    "next": { "type": ["string", "null"], "description": "The next page's URL; null on the last page." },
                    "previous": { "type": ["string", "null"], "description": "The previous page's URL; null on the first page." },
                    "results": { "type": "array", "items": row },
                },
            }),
        )
    }

    /// A `$ref` to the shared response for an error `status` in `form` (`Error404`, `RpcError404`).
    pub fn error_response(&mut self, status: u16, form: ErrorForm) -> Json {
        let (name, schema) = match form {
            ErrorForm::Plain => (format!("Error{status}"), self.error()),
            ErrorForm::JsonRpc => (format!("RpcError{status}"), self.json_rpc_answer()),
        };
        self.errors.entry(name.clone()).or_insert_with(|| error_response(status, &schema));
        json!({ "$ref": format!("#/components/responses/{name}") })
    }

    /// Every schema and shared response referred to so far, by name. Panics when a name stands for two
    /// different schemas.
    pub fn into_components(mut self) -> Components {
        let responses = std::mem::take(&mut self.errors);
        Components { schemas: self.into_schemas(), responses }
    }

    fn into_schemas(mut self) -> Map<String, Json> {
        let mut all = self.responses.take_definitions(true);
        for (name, schema) in self.requests.take_definitions(true).into_iter().chain(self.extra) {
            if let Some(existing) = all.get(&name) {
                assert_eq!(existing, &schema, "schema `{name}` differs between requests and responses");
            }
            all.insert(name, schema);
        }
        all.sort_keys();
        all
    }
}

/// A `$ref` to the component schema `name`.
pub fn reference(name: &str) -> Json {
    json!({ "$ref": format!("#{PATH}/{name}") })
}

/// The JSON type of a query-language field kind.
pub fn kind_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "integer",
        Kind::Text => "string",
        Kind::Bool => "boolean",
    }
}

/// An error response of `status` with `schema` (SPEC §1's body, or a JSON-RPC answer).
fn error_response(status: u16, schema: &Json) -> Json {
    let description = match status {
        400 => "Bad request: malformed JSON (`invalid_json`), an invalid query (`invalid_query`) or parameter.",
        401 => "No valid credentials: missing where required, or presented but invalid, expired or revoked.",
        403 => "The caller may not do this (role, kind of caller, or a cross-site change with the cookie).",
        404 => "No such resource, or one the caller may not see.",
        409 => "Conflict with the current state (a duplicate, a taken name, a task not held).",
        413 => "The body is over the route's limit.",
        415 => "The body is not `application/json`.",
        422 => "Validation failed: `errors` names the fields (`unknown_field` for an unknown one).",
        429 => "Rate limited: `Retry-After` says when to try again.",
        501 => "Unknown control action (JSON-RPC -32601).",
        503 => "The database or the key-value store is unavailable.",
        _ => "Internal error (no detail is disclosed).",
    };
    let mut response = json!({"description": description, "content": {"application/json": {"schema": schema}}});
    match status {
        401 => {
            response["headers"] =
                json!({"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}});
        }
        429 => {
            response["headers"] =
                json!({"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}});
        }
        _ => {}
    }
    response
}
