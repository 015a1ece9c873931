//! One row of an operation table: what the types cannot say (method, path, who may call, statuses), and its
//! rendering as an OpenAPI 3.1 operation. Errors are added by rule from what the operation does (reads a
//! body, has path parameters, needs credentials, runs a listing) and by hand for the rest.

use super::schemas::{ErrorForm, Schemas, kind_type};
use crate::query::Resource;
use serde_json::{Map, Value as Json, json};

/// Who may call an operation, as the security requirements state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials are read.
    Public,
    /// Anonymous callers are answered; a credential (of a person) changes the answer.
    OptionalPerson,
    /// Anonymous callers are answered; a person's or a worker's credential changes the answer.
    OptionalCaller,
    /// A person's credential (bearer, `Token` or session cookie).
    Person,
    /// A worker's credential.
    Worker,
    /// A person's or a worker's credential.
    Caller,
}

impl Access {
    /// The operation's `security`: alternatives, `{}` for "none needed".
    fn security(self) -> Json {
        let person = [json!({"bearerAuth": []}), json!({"tokenAuth": []}), json!({"sessionCookie": []})];
        let worker = [json!({"workerId": [], "workerSecret": []}), json!({"workerAuthorization": []})];
        let none = [json!({})];
        let parts: Vec<&[Json]> = match self {
            Self::Public => vec![],
            Self::OptionalPerson => vec![&none[..], &person[..]],
            Self::OptionalCaller => vec![&none[..], &person[..], &worker[..]],
            Self::Person => vec![&person[..]],
            Self::Worker => vec![&worker[..]],
            Self::Caller => vec![&person[..], &worker[..]],
        };
        Json::Array(parts.concat())
    }

    fn reads_credentials(self) -> bool {
        self != Self::Public
    }

    fn requires_credentials(self) -> bool {
        matches!(self, Self::Person | Self::Worker | Self::Caller)
    }
}

/// How a refused credential is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unauthorized {
    /// 401 with SPEC §1's error body, when the access reads credentials.
    Plain,
    /// 401 as a JSON-RPC error answer.
    JsonRpc,
    /// Never 401: the credential is read after the call is (a refusal is a JSON-RPC 403), or a refused one
    /// only changes the answer.
    Never,
}

/// A request body: its schema and media type.
pub struct Body {
    schema: Json,
    required: bool,
    media: &'static str,
}

/// A success (or non-error) response: status, description, and a JSON or other body.
struct Answer {
    status: u16,
    description: &'static str,
    media: &'static str,
    schema: Option<Json>,
    headers: Map<String, Json>,
}

/// One operation.
pub struct Op {
    pub method: &'static str,
    /// The route's pattern as the router has it (`:name` segments).
    pub pattern: &'static str,
    id: &'static str,
    summary: &'static str,
    tag: &'static str,
    access: Access,
    who: &'static str,
    path_types: Vec<(&'static str, Json)>,
    query: Vec<Json>,
    listing: bool,
    body: Option<Body>,
    answers: Vec<Answer>,
    errors: Vec<u16>,
    database: bool,
    /// Errors are JSON-RPC answers (control actions, `/api/v1/rpc`), but for 413 and 415.
    control: bool,
    unauthorized: Unauthorized,
}

/// Starts an operation: `who` says who may call it, in words (roles, credentials), for its description.
pub fn op(
    method: &'static str,
    pattern: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    access: Access,
    who: &'static str,
) -> Op {
    Op {
        method,
        pattern,
        id,
        summary,
        tag,
        access,
        who,
        path_types: Vec::new(),
        query: Vec::new(),
        listing: false,
        body: None,
        answers: Vec::new(),
        errors: Vec::new(),
        database: true,
        control: false,
        unauthorized: Unauthorized::Plain,
    }
}

impl Op {
    /// A JSON body (required).
    pub fn body(mut self, schema: Json) -> Self {
        self.body = Some(Body { schema, required: true, media: "application/json" });
        self
    }

    /// A JSON body that may be left out (empty = defaults).
    pub fn optional_body(mut self, schema: Json) -> Self {
        self.body = Some(Body { schema, required: false, media: "application/json" });
        self
    }

    /// A JSON answer.
    pub fn answers(self, status: u16, description: &'static str, schema: Json) -> Self {
        self.answer(status, description, "application/json", Some(schema))
    }

    /// An answer without a body.
    pub fn empty(self, status: u16, description: &'static str) -> Self {
        self.answer(status, description, "", None)
    }

    /// An answer of another media type (`text/plain`).
    pub fn answer(mut self, status: u16, description: &'static str, media: &'static str, schema: Option<Json>) -> Self {
        self.answers.push(Answer { status, description, media, schema, headers: Map::new() });
        self
    }

    /// A header on the last answer.
    pub fn header(mut self, name: &str, description: &str) -> Self {
        let answer = self.answers.last_mut().expect("a header follows an answer");
        answer.headers.insert(name.into(), json!({"description": description, "schema": {"type": "string"}}));
        self
    }

    /// Further error statuses (beyond those added by rule).
    pub fn errors(mut self, statuses: &[u16]) -> Self {
        self.errors.extend_from_slice(statuses);
        self
    }

    /// The type of a path parameter (strings otherwise).
    pub fn path_type(mut self, name: &'static str, schema: Json) -> Self {
        self.path_types.push((name, schema));
        self
    }

    /// A query parameter.
    pub fn query(mut self, name: &str, description: &str, schema: Json) -> Self {
        self.query.push(query_param(name, description, schema));
        self
    }

    /// SPEC §1.1's query language over `resource`, answered as `{name}Page`.
    pub fn listing(mut self, schemas: &mut Schemas, name: &str, resource: &Resource, decoded: &[&str]) -> Self {
        self.query.extend(query_language(resource));
        self.listing = true;
        let page = schemas.listing(name, resource, decoded);
        self.answers(200, "One page of the collection (SPEC §1.1).", page)
    }

    /// Touches neither the database nor the key-value store (no 503).
    pub fn no_database(mut self) -> Self {
        self.database = false;
        self
    }

    /// A control action (SPEC §1.2): `methods` with the schema of their params; answers in JSON-RPC form.
    pub fn control(mut self, schemas: &mut Schemas, methods: &[(&str, Json)]) -> Self {
        let calls: Vec<Json> = methods
            .iter()
            .map(|(method, params)| {
                json!({
                    "type": "object",
                    "required": ["jsonrpc", "method"],
                    "properties": {
                        "jsonrpc": {"const": "2.0"},
                        "method": {"const": method},
                        "params": params,
                        "id": {"type": ["integer", "string", "null"]},
                    },
                    "additionalProperties": false,
                })
            })
            .collect();
        self.control = true;
        let answer = schemas.json_rpc_answer();
        self.body(json!({"oneOf": calls})).answers(200, "The action's result (JSON-RPC 2.0).", answer)
    }

    /// `/api/v1/rpc`'s body: errors, a refused credential too, are JSON-RPC answers.
    pub fn rpc_body(mut self, schema: Json) -> Self {
        self.control = true;
        self.unauthorized = Unauthorized::JsonRpc;
        self.body(schema)
    }

    /// A control action that reads credentials only once the call is read: never a 401.
    pub fn no_plain_401(mut self) -> Self {
        self.unauthorized = Unauthorized::Never;
        self
    }

    /// A refused credential only changes the answer (never a 401).
    pub fn never_refuses_credentials(mut self) -> Self {
        self.unauthorized = Unauthorized::Never;
        self
    }

    /// The operation as OpenAPI: `(path, method, operation)`.
    pub fn render(&self, schemas: &mut Schemas) -> (String, String, Json) {
        let mut operation = Map::new();
        operation.insert("operationId".into(), json!(self.id));
        operation.insert("summary".into(), json!(self.summary));
        operation.insert("description".into(), json!(format!("Who may call: {}", self.who)));
        operation.insert("tags".into(), json!([self.tag]));
        let mut parameters = self.path_parameters();
        parameters.extend(self.query.iter().cloned());
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Json::Array(parameters));
        }
        if let Some(body) = &self.body {
            operation.insert(
                "requestBody".into(),
                json!({"required": body.required, "content": {body.media: {"schema": body.schema}}}),
            );
        }
        let mut responses = Map::new();
        for answer in &self.answers {
            let mut response = Map::new();
            response.insert("description".into(), json!(answer.description));
            if let Some(schema) = &answer.schema {
                response.insert("content".into(), json!({answer.media: {"schema": schema}}));
            }
            if !answer.headers.is_empty() {
                response.insert("headers".into(), Json::Object(answer.headers.clone()));
            }
            responses.insert(answer.status.to_string(), Json::Object(response));
        }
        for status in self.error_statuses() {
            // A control action answers its own errors in JSON-RPC form; 413 (the router), 415 and a 401
            // before the call is read are plain.
            let plain = matches!(status, 413 | 415) || (status == 401 && self.unauthorized == Unauthorized::Plain);
            let form = if self.control && !plain { ErrorForm::JsonRpc } else { ErrorForm::Plain };
            responses.entry(status.to_string()).or_insert_with(|| schemas.error_response(status, form));
        }
        operation.insert("responses".into(), Json::Object(responses));
        operation.insert("security".into(), self.access.security());
        (openapi_path(self.pattern), self.method.to_ascii_lowercase(), Json::Object(operation))
    }

    /// Every error status: those the rules give and those listed, sorted.
    fn error_statuses(&self) -> Vec<u16> {
        let mut statuses = self.errors.clone();
        if self.body.is_some() {
            statuses.extend([400, 413, 415]);
            if !self.control {
                statuses.push(422);
            }
        }
        if self.listing {
            statuses.push(400);
        }
        if self.control {
            // SPEC §1.2: an unknown action is JSON-RPC's -32601 with HTTP 501.
            statuses.push(501);
        }
        if self.pattern.contains(':') {
            statuses.push(404);
        }
        if self.access.reads_credentials() && self.unauthorized != Unauthorized::Never {
            statuses.push(401);
        }
        if self.access.requires_credentials() {
            statuses.push(403);
        }
        if self.database {
            statuses.push(503);
        }
        statuses.push(500);
        statuses.sort_unstable();
        statuses.dedup();
        statuses
    }

    fn path_parameters(&self) -> Vec<Json> {
        self.pattern
            .split('/')
            .filter_map(|segment| segment.strip_prefix(':'))
            .map(|name| {
                let schema = self
                    .path_types
                    .iter()
                    .find(|(typed, _)| *typed == name)
                    .map_or_else(|| json!({"type": "string"}), |(_, schema)| schema.clone());
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect()
    }
}

/// `/a/:id` → `/a/{id}`.
pub fn openapi_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| segment.strip_prefix(':').map_or_else(|| segment.to_string(), |name| format!("{{{name}}}")))
        .collect::<Vec<_>>()
        .join("/")
}

/// SPEC §1.1's parameters for `resource`: `field`, `order`, `offset`, `limit`, and for each filterable field
/// `{f}` and `{f}__{op}` (repeatable: repeats make a set).
fn query_language(resource: &Resource) -> Vec<Json> {
    let names: Vec<&str> = resource.fields.iter().map(|field| field.name).collect();
    let mut orders = Vec::new();
    for field in resource.fields.iter().filter(|field| field.filter) {
        orders.push(field.name.to_string());
        orders.push(format!("-{}", field.name));
    }
    let repeated = |items: Json| json!({"type": "array", "items": items});
    let mut parameters = vec![
        query_param("field", "Return only these fields.", repeated(json!({"enum": names}))),
        query_param(
            "order",
            "Order by these fields (`-f` descending); default by id.",
            repeated(json!({"enum": orders})),
        ),
        query_param("offset", "Rows to skip after filter and order.", json!({"type": "integer", "minimum": 0})),
        query_param(
            "limit",
            "Rows per page (default 50; above 1000 is read as 1000).",
            json!({"type": "integer", "minimum": 0}),
        ),
    ];
    for field in resource.fields.iter().filter(|field| field.filter) {
        let typed = match field.kind {
            crate::query::Kind::Int => json!({"type": "integer", "format": "int64"}),
            kind => json!({"type": kind_type(kind)}),
        };
        // `in`/`notin` values are parsed one by one for the field's kind.
        let list = match field.kind {
            crate::query::Kind::Int => json!({"type": "string", "pattern": "^-?[0-9]{1,18}(,-?[0-9]{1,18})*$"}),
            crate::query::Kind::Bool => json!({"type": "string",
                "pattern": "^(on|off|true|false|yes|no|1|0)(,(on|off|true|false|yes|no|1|0))*$"}),
            crate::query::Kind::Text => json!({"type": "string"}),
        };
        parameters.push(query_param(field.name, "Equal to (a repeat: any of).", repeated(typed.clone())));
        let mut ops = vec![
            ("eq", "Equal to (a repeat: any of).", typed.clone()),
            ("ne", "Not equal to (a repeat: none of).", typed.clone()),
            ("lt", "Less than.", typed.clone()),
            ("le", "Less than or equal to.", typed.clone()),
            ("gt", "Greater than.", typed.clone()),
            ("ge", "Greater than or equal to.", typed.clone()),
            ("in", "Any of these comma-separated values.", list.clone()),
            ("notin", "None of these comma-separated values.", list),
        ];
        if field.kind == crate::query::Kind::Text {
            ops.push(("contains", "Contains this text.", typed.clone()));
        }
        for (op, description, schema) in ops {
            parameters.push(query_param(&format!("{}__{op}", field.name), description, repeated(schema)));
        }
    }
    parameters
}

fn query_param(name: &str, description: &str, schema: Json) -> Json {
    let explode = schema["type"] == "array";
    let mut parameter =
        json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema});
    if explode {
        parameter["explode"] = json!(true);
    }
    parameter
}
