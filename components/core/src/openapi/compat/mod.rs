//! The OpenAPI 3.1 documents of the wire-compatible surfaces (`docs/openapi/tracker.json`,
//! `seed-scheduler.json`, `project-w.json`, `rhodecode.json`), generated as `native.json` is: schemas from the
//! code's own types where the surface reads or answers one (`schemars`, in test builds), hand-written where a
//! handler builds its answer with `json!`, and one operation table per surface for what types cannot say.
//! Each surface has its own error shape and credentials, so these tables do not use the native table's
//! rules. [`tests`] compares each document with its checked-in file. Decisions: each surface's page in
//! `docs/` ("OpenAPI document").

mod projectw;
mod rhodecode;
mod seed;
mod tests;
mod tracker;

use super::schemas::Schemas;
use serde_json::{Map, Value as Json, json};

/// A surface's document: the file under `docs/openapi/` and the function that builds it.
pub struct Surface {
    pub file: &'static str,
    pub build: fn() -> Json,
}

/// The four wire-compatible surfaces.
pub const SURFACES: [Surface; 4] = [
    Surface { file: "tracker.json", build: tracker::document },
    Surface { file: "seed-scheduler.json", build: seed::document },
    Surface { file: "project-w.json", build: projectw::document },
    Surface { file: "rhodecode.json", build: rhodecode::document },
];

/// What a document says besides its operations.
pub struct Head {
    pub title: &'static str,
    pub description: &'static str,
    pub security_schemes: Json,
}

/// Assembles a document from its head, its operations (in route-table order) and the schemas they refer to.
pub fn document(head: Head, schemas: Schemas, operations: Vec<Operation>) -> Json {
    let mut paths = Map::new();
    for operation in operations {
        let path = super::table::openapi_path(operation.pattern);
        let item = paths.entry(path.clone()).or_insert_with(|| json!({}));
        let method = operation.method.to_ascii_lowercase();
        let clash = item.as_object_mut().and_then(|item| item.insert(method.clone(), operation.render()));
        assert!(clash.is_none(), "{method} {path} is in the table twice");
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": head.title, "version": env!("CARGO_PKG_VERSION"), "description": head.description},
        "paths": paths,
        "components": {"schemas": schemas.into_components().schemas, "securitySchemes": head.security_schemes},
    })
}

/// One operation of a compat surface, built up in the order OpenAPI lists its members.
#[derive(Clone)]
pub struct Operation {
    method: &'static str,
    pattern: &'static str,
    fields: Map<String, Json>,
    path_types: Vec<(&'static str, &'static str, Json)>,
    parameters: Vec<Json>,
    content: Map<String, Json>,
    body_required: bool,
    body_description: Option<&'static str>,
    responses: Map<String, Json>,
    last: Option<String>,
}

/// Starts an operation; `who` says who may call it, in words, and opens its description.
pub fn op(method: &'static str, pattern: &'static str, id: &str, tag: &str, summary: &str, who: &str) -> Operation {
    let mut fields = Map::new();
    fields.insert("operationId".into(), json!(id));
    fields.insert("summary".into(), json!(summary));
    fields.insert("description".into(), json!(format!("Who: {who}.")));
    fields.insert("tags".into(), json!([tag]));
    Operation {
        method,
        pattern,
        fields,
        path_types: Vec::new(),
        parameters: Vec::new(),
        content: Map::new(),
        body_required: true,
        body_description: None,
        responses: Map::new(),
        last: None,
    }
}

impl Operation {
    /// More of the description, after who may call.
    pub fn note(mut self, text: &str) -> Self {
        let description = format!("{} {text}", self.fields["description"].as_str().unwrap_or_default());
        self.fields.insert("description".into(), json!(description));
        self
    }

    /// The security requirements: alternatives, `{}` for "none needed"; empty when no credential is read.
    pub fn security(mut self, alternatives: &[&[Json]]) -> Self {
        self.fields.insert("security".into(), Json::Array(alternatives.concat()));
        self
    }

    /// The type and description of a path parameter (a string otherwise).
    pub fn path(mut self, name: &'static str, description: &'static str, schema: Json) -> Self {
        self.path_types.push((name, description, schema));
        self
    }

    /// A query parameter.
    pub fn query(self, name: &str, required: bool, schema: Json, description: &str) -> Self {
        self.parameter("query", name, required, schema, description)
    }

    /// A header parameter (never required).
    pub fn request_header(self, name: &str, description: &str) -> Self {
        self.parameter("header", name, false, json!({"type": "string"}), description)
    }

    fn parameter(mut self, place: &str, name: &str, required: bool, schema: Json, description: &str) -> Self {
        let mut parameter =
            json!({"name": name, "in": place, "required": required, "schema": schema, "description": description});
        if parameter["schema"]["type"] == "array" {
            parameter["explode"] = json!(true);
        }
        self.parameters.push(parameter);
        self
    }

    /// A request body of `media` (call again for another media type of the same body).
    pub fn body(mut self, media: &str, schema: Json) -> Self {
        self.content.insert(media.into(), json!({"schema": schema}));
        self
    }

    /// The body may be left out; `description` says what then.
    pub fn optional_body(mut self, description: &'static str) -> Self {
        self.body_required = false;
        self.body_description = Some(description);
        self
    }

    /// An answer with a body of `media` (`None`: no body).
    pub fn answer(mut self, status: &str, description: &str, body: Option<(&str, Json)>) -> Self {
        let mut response = json!({"description": description});
        if let Some((media, schema)) = body {
            response["content"] = json!({(media): {"schema": schema}});
        }
        self.responses.insert(status.into(), response);
        self.last = Some(status.into());
        self
    }

    /// A JSON answer.
    pub fn json(self, status: &str, description: &str, schema: Json) -> Self {
        self.answer(status, description, Some(("application/json", schema)))
    }

    /// A header on the last answer.
    pub fn header(mut self, name: &str, description: &str) -> Self {
        let status = self.last.clone().expect("a header follows an answer");
        self.responses[&status]["headers"][name] = json!({"description": description, "schema": {"type": "string"}});
        self
    }

    /// Error answers sharing one body schema: `(status, description)` each.
    pub fn errors(mut self, schema: &Json, errors: &[(u16, &str)]) -> Self {
        for (status, description) in errors {
            self = self.json(&status.to_string(), description, schema.clone());
        }
        self
    }

    fn render(mut self) -> Json {
        let mut parameters: Vec<Json> = self
            .pattern
            .split('/')
            .filter_map(|segment| segment.strip_prefix(':'))
            .map(|name| {
                let typed = self.path_types.iter().find(|(typed, _, _)| *typed == name);
                let (description, schema) = typed
                    .map_or((name, json!({"type": "string"})), |(_, description, schema)| {
                        (*description, schema.clone())
                    });
                json!({"name": name, "in": "path", "required": true, "description": description, "schema": schema})
            })
            .collect();
        parameters.append(&mut self.parameters);
        if !parameters.is_empty() {
            self.fields.insert("parameters".into(), Json::Array(parameters));
        }
        if !self.content.is_empty() {
            let mut body = json!({"required": self.body_required, "content": self.content});
            if let Some(description) = self.body_description {
                body["description"] = json!(description);
            }
            self.fields.insert("requestBody".into(), body);
        }
        self.fields.entry("security").or_insert_with(|| json!([]));
        self.fields.insert("responses".into(), Json::Object(self.responses));
        Json::Object(self.fields)
    }
}

/// An object schema; `required` may be empty.
pub fn object(properties: Json, required: &[&str]) -> Json {
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// An array schema.
pub fn array(items: Json) -> Json {
    json!({"type": "array", "items": items})
}

/// `kind` or null.
pub fn nullable(kind: &str) -> Json {
    json!({"type": [kind, "null"]})
}

/// `schema` with a description.
pub fn described(mut schema: Json, description: &str) -> Json {
    schema["description"] = json!(description);
    schema
}

/// `{"type": "string"}`.
pub fn string() -> Json {
    json!({"type": "string"})
}

/// `{"type": "integer"}`.
pub fn int() -> Json {
    json!({"type": "integer"})
}

/// `{"type": "boolean"}`.
pub fn boolean() -> Json {
    json!({"type": "boolean"})
}
