//! Tenant boundaries (issue 17): every operation of every surface, walked as an unrelated signed-in user and
//! as an unrelated registered worker, addressing another tenant's private and hidden things and things that do
//! not exist. The operations come from the checked-in OpenAPI documents (`docs/openapi/*.json`) and the JSON-RPC
//! method list (`rpc.discover`), so a new route is probed without editing this file. What must hold:
//!
//! - no answer carries the other tenant's payload marker ([`SECRET`]), nor one of its names ([`NAME`]) that the
//!   request did not itself send;
//! - a hidden thing answers exactly as a missing one: the same status and the same body once the id or name
//!   that was sent is replaced by a placeholder (status and body only, nothing timed);
//! - a success (2xx) addressing the other tenant's things is only allowed on the commented [`ALLOWED`] list;
//! - afterwards the other tenant's state, read as the administrator and as its owner, is what it was.
//!
//! The file also holds the regression tests of the four holes issue 17 names (each failed before its fix).

mod pw_support;

use conveyor_tests::{TestHost, TestResponse};
use pw_support::{Who as PwWho, admin, call, expect, project, rpc, rpc_ok, user, worker};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;

/// In every payload of the other tenant (descriptions, recipes, outputs, meta, tags, secrets, log messages,
/// names of people): never in a probe's request, so never allowed in an answer.
const SECRET: &str = "zqxsecret";
/// In every name of the other tenant (projects, user, group, worker alias, schedule, token): a probe may send
/// one in its path or body, and an answer may only echo what was sent.
const NAME: &str = "zqxname";
const MISSING_ID: i64 = 987_654_321;
const MISSING_UUID: &str = "00000000-0000-4000-8000-00000000dead";

// ----- who is probed with what -----

/// What a probe addresses: the other tenant's hidden or private things, or things that do not exist; by id or
/// (where a name works) by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    Hidden,
    Private,
    Missing,
    HiddenByName,
    PrivateByName,
    MissingByName,
}

impl Variant {
    const ALL: [Variant; 6] = [
        Variant::Hidden,
        Variant::Private,
        Variant::Missing,
        Variant::HiddenByName,
        Variant::PrivateByName,
        Variant::MissingByName,
    ];

    fn by_name(self) -> bool {
        matches!(self, Variant::HiddenByName | Variant::PrivateByName | Variant::MissingByName)
    }

    fn missing(self) -> bool {
        matches!(self, Variant::Missing | Variant::MissingByName)
    }

    /// The missing variant a hidden one must be indistinguishable from.
    fn twin(self) -> Option<Variant> {
        match self {
            Variant::Hidden => Some(Variant::Missing),
            Variant::HiddenByName => Some(Variant::MissingByName),
            _ => None,
        }
    }
}

/// The other tenant's ids and names.
#[derive(Clone, Debug, Default)]
struct Victim {
    hidden: (i64, String),
    private: (i64, String),
    /// An assigned task of each (the richest state for heartbeat/release refusals).
    hidden_task: i64,
    private_task: i64,
    user: (i64, String),
    group: (i64, String),
    worker: i64,
    schedule: String,
    token: i64,
}

/// A kind of thing a parameter names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Project,
    Task,
    User,
    Group,
    Worker,
    Schedule,
    Token,
}

impl Victim {
    /// The value of a `kind` parameter in `variant`: a JSON number for ids, a string for names.
    fn value(&self, kind: Kind, variant: Variant) -> Json {
        let named = |(id, name): &(i64, String)| if variant.by_name() { json!(name) } else { json!(id) };
        let missing_named =
            if variant.by_name() { json!(format!("nosuch-{kind:?}").to_lowercase()) } else { json!(MISSING_ID) };
        if variant.missing() {
            return match kind {
                Kind::Project | Kind::User | Kind::Group => missing_named,
                Kind::Schedule => json!(MISSING_UUID),
                _ => json!(MISSING_ID),
            };
        }
        let hidden = matches!(variant, Variant::Hidden | Variant::HiddenByName);
        match kind {
            Kind::Project => named(if hidden { &self.hidden } else { &self.private }),
            Kind::Task => json!(if hidden { self.hidden_task } else { self.private_task }),
            Kind::User => named(&self.user),
            Kind::Group => named(&self.group),
            Kind::Worker => json!(self.worker),
            Kind::Schedule => json!(self.schedule),
            Kind::Token => json!(self.token),
        }
    }
}

/// The kind a parameter called `name` names on `path` (None: not a tenant's thing).
fn kind_of(name: &str, path: &str) -> Option<Kind> {
    let name = name.to_ascii_lowercase();
    let by_path = || {
        let first = path.trim_start_matches('/').split('/').collect::<Vec<_>>();
        let area = first.iter().rev().find(|s| !s.starts_with('{') && !s.is_empty()).copied().unwrap_or("");
        let root =
            if first.first() == Some(&"api") && first.get(1) == Some(&"v1") { first.get(2) } else { first.first() };
        match (root.copied().unwrap_or(""), area) {
            ("tokens", _) | (_, "token") => Some(Kind::Token),
            ("schedules", _) | ("schedule", _) | ("failed-tasks", _) => Some(Kind::Schedule),
            ("workers", _) | ("worker", _) => Some(Kind::Worker),
            ("users", _) | ("user", _) | ("manager", _) => Some(Kind::User),
            ("groups", _) | ("group", _) => Some(Kind::Group),
            ("project", _) => Some(Kind::Project),
            _ => Some(Kind::Task),
        }
    };
    match name.as_str() {
        "project" | "project_id" | "projectid" | "repoid" | "repo_name" | "repo" | "chain" => Some(Kind::Project),
        "task" | "task_id" | "job_id" | "job_ids" | "jobs" => Some(Kind::Task),
        "user" | "userid" | "user_id" | "username" | "owner" => Some(Kind::User),
        "group" | "usergroupid" | "usersgroupid" | "group_id" | "groupname" | "group_name" | "users_group" => {
            Some(Kind::Group)
        }
        "worker" | "wid" | "worker_id" | "runner" | "runner_id" => Some(Kind::Worker),
        "schedule" | "schedule_id" => Some(Kind::Schedule),
        "token_id" => Some(Kind::Token),
        "id" => by_path(),
        _ => None,
    }
}

/// A caller in a surface's credential form.
#[derive(Clone, Debug)]
enum Cred {
    /// A user's token: `Authorization: Bearer` (native, tracker, Project-W), `Token` (Seed Scheduler), or the
    /// body's `api_key` (RhodeCode).
    User(String),
    /// A worker: `X-Worker-ID`/`X-Secret` everywhere, `Authorization: Bearer <id>:<secret>` on Project-W.
    Worker(i64, String),
}

impl Cred {
    fn headers(&self, surface: &str) -> Vec<(String, String)> {
        match (self, surface) {
            (Cred::User(token), "seed-scheduler") => vec![("authorization".into(), format!("Token {token}"))],
            (Cred::User(_), "rhodecode") => vec![],
            (Cred::User(token), _) => vec![("authorization".into(), format!("Bearer {token}"))],
            (Cred::Worker(id, secret), "project-w") => vec![("authorization".into(), format!("Bearer {id}:{secret}"))],
            (Cred::Worker(id, secret), _) => {
                vec![("x-worker-id".into(), id.to_string()), ("x-secret".into(), secret.clone())]
            }
        }
    }
}

// ----- building requests from the documents -----

/// One operation of a document.
#[derive(Clone, Debug)]
struct Operation {
    surface: &'static str,
    method: String,
    path: String,
    op: Json,
}

const SURFACES: [&str; 5] = ["native", "tracker", "seed-scheduler", "project-w", "rhodecode"];

fn document(surface: &str) -> Json {
    let path = conveyor_tests::repo_root().join("docs/openapi").join(format!("{surface}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("the document")).expect("JSON")
}

fn operations() -> (Vec<Operation>, BTreeMap<&'static str, Json>) {
    let mut all = Vec::new();
    let mut documents = BTreeMap::new();
    for surface in SURFACES {
        let doc = document(surface);
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("a path item") {
                if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                    all.push(Operation { surface, method: method.to_uppercase(), path: path.clone(), op: op.clone() });
                }
            }
        }
        documents.insert(surface, doc);
    }
    (all, documents)
}

/// Follows `$ref`s into the document's components.
fn resolve<'a>(doc: &'a Json, schema: &'a Json) -> &'a Json {
    match schema.get("$ref").and_then(Json::as_str) {
        Some(reference) => {
            let mut node = doc;
            for part in reference.trim_start_matches("#/").split('/') {
                node = &node[part];
            }
            resolve(doc, node)
        }
        None => schema,
    }
}

/// A value for a parameter or property `name` of `schema`: the other tenant's thing in `variant` where the name
/// names one, else a plain valid-looking value.
fn value_for(doc: &Json, path: &str, name: &str, schema: &Json, victim: &Victim, variant: Variant) -> Json {
    let schema = resolve(doc, schema);
    if let Some(kind) = kind_of(name, path) {
        let value = victim.value(kind, variant);
        let wants_array = schema_type(doc, schema) == "array";
        let value = if kind == Kind::Project && value.is_string() && !accepts(doc, schema, "string") {
            victim.value(kind, if variant.missing() { Variant::Missing } else { Variant::Hidden })
        } else {
            value
        };
        return if wants_array { json!([value]) } else { value };
    }
    plain(doc, path, name, schema, victim, variant)
}

fn alternatives(schema: &Json) -> Vec<&Json> {
    ["anyOf", "oneOf"].iter().filter_map(|k| schema.get(*k)).filter_map(Json::as_array).flatten().collect()
}

fn accepts(doc: &Json, schema: &Json, ty: &str) -> bool {
    let schema = resolve(doc, schema);
    let alts = alternatives(schema);
    if !alts.is_empty() {
        return alts.iter().any(|alt| accepts(doc, alt, ty));
    }
    match &schema["type"] {
        Json::String(t) => t == ty,
        Json::Array(ts) => ts.iter().any(|t| t == ty),
        _ => true,
    }
}

fn schema_type(doc: &Json, schema: &Json) -> String {
    let schema = resolve(doc, schema);
    if let Some(first) = alternatives(schema).into_iter().find(|alt| resolve(doc, alt)["type"] != "null") {
        return schema_type(doc, first);
    }
    match &schema["type"] {
        Json::String(t) => t.clone(),
        Json::Array(ts) => ts.iter().filter_map(Json::as_str).find(|t| *t != "null").unwrap_or("string").to_string(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ => "string".into(),
    }
}

fn plain(doc: &Json, path: &str, name: &str, schema: &Json, victim: &Victim, variant: Variant) -> Json {
    let schema = resolve(doc, schema);
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema.get("enum").and_then(Json::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(first) = alternatives(schema).into_iter().find(|alt| resolve(doc, alt)["type"] != "null") {
        return plain(doc, path, name, first, victim, variant);
    }
    match schema_type(doc, schema).as_str() {
        "object" => object(doc, path, schema, victim, variant),
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            json!([value_for(doc, path, name, &items, victim, variant)])
        }
        "integer" => schema.get("minimum").cloned().filter(|m| m.as_i64().is_some_and(|m| m > 0)).unwrap_or(json!(1)),
        "number" => json!(1),
        "boolean" => json!(true),
        _ => match schema.get("format").and_then(Json::as_str) {
            Some("email") => json!("probe@example.org"),
            Some("uuid") => json!(MISSING_UUID),
            _ => json!("probe-value"),
        },
    }
}

/// An object with every required property, and every property that names a tenant's thing.
fn object(doc: &Json, path: &str, schema: &Json, victim: &Victim, variant: Variant) -> Json {
    let required: Vec<&str> =
        schema.get("required").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str).collect();
    let mut out = Map::new();
    for (name, property) in schema.get("properties").and_then(Json::as_object).into_iter().flatten() {
        if required.contains(&name.as_str())
            || (kind_of(name, path).is_some() && name != "id")
            || name == "id" && required.is_empty()
        {
            if name == "id" && !required.contains(&"id") && kind_of(name, path) != Some(Kind::Task) {
                continue;
            }
            out.insert(name.clone(), value_for(doc, path, name, property, victim, variant));
        }
    }
    Json::Object(out)
}

/// A probe request: method, path with query, body, and the strings it sent that name the other tenant.
#[derive(Clone, Debug)]
struct Probe {
    method: String,
    url: String,
    body: Option<String>,
    content_type: Option<String>,
    /// The ids and names filled in (replaced by a placeholder when comparing with the missing twin).
    sent: Vec<String>,
    /// Whether anything of the other tenant (or a missing id) was filled in.
    addressed: bool,
}

fn text_of(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn build(operation: &Operation, doc: &Json, victim: &Victim, variant: Variant, cred: &Cred) -> Probe {
    let mut url = operation.path.clone();
    let mut query = Vec::new();
    let mut sent = Vec::new();
    let mut addressed = false;
    for parameter in operation.op.get("parameters").and_then(Json::as_array).into_iter().flatten() {
        let parameter = resolve(doc, parameter);
        let name = parameter["name"].as_str().unwrap_or_default();
        let schema = parameter.get("schema").cloned().unwrap_or(json!({"type": "string"}));
        let tenant = kind_of(name, &operation.path).is_some();
        let value = value_for(doc, &operation.path, name, &schema, victim, variant);
        match parameter["in"].as_str() {
            Some("path") => {
                let value = match (name, operation.path.as_str()) {
                    ("level", _) => "info".to_string(),
                    ("file", _) => "native.json".to_string(),
                    _ => text_of(&value),
                };
                if tenant {
                    addressed = true;
                    sent.push(value.clone());
                }
                url = url.replace(&format!("{{{name}}}"), &value);
            }
            Some("query") if parameter["required"] == true || tenant => {
                for item in if let Json::Array(items) = &value { items.clone() } else { vec![value.clone()] } {
                    if tenant {
                        addressed = true;
                        sent.push(text_of(&item));
                    }
                    query.push(format!("{name}={}", text_of(&item)));
                }
            }
            _ => {}
        }
    }
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let content = operation.op["requestBody"]["content"].as_object().cloned().unwrap_or_default();
    let (body, content_type) = match content.get("application/json") {
        Some(media) => {
            let schema = media.get("schema").cloned().unwrap_or(json!({}));
            let mut value = value_for(doc, &operation.path, "", &schema, victim, variant);
            if operation.surface == "rhodecode" {
                value = json!({"id": 424242, "method": "get_repo", "args": {"repoid": victim.value(Kind::Project, variant)}});
            }
            if let (Cred::User(token), "rhodecode") = (cred, operation.surface) {
                value["api_key"] = json!(token);
            }
            collect_sent(&value, &mut sent, &mut addressed, victim, variant);
            (Some(value.to_string()), Some("application/json".to_string()))
        }
        // Forms and uploads (Project-W's login, job files) are sent empty: what they address is the caller's own.
        None if !content.is_empty() => (Some(String::new()), content.keys().next().cloned()),
        None => (None, None),
    };
    Probe { method: operation.method.clone(), url, body, content_type, sent, addressed }
}

/// Records which of the variant's values a body carries.
fn collect_sent(body: &Json, sent: &mut Vec<String>, addressed: &mut bool, victim: &Victim, variant: Variant) {
    let by_id = if variant.missing() { Variant::Missing } else { Variant::Hidden };
    let by_id = if matches!(variant, Variant::Private | Variant::PrivateByName) { Variant::Private } else { by_id };
    match body {
        Json::Object(map) => {
            for (key, value) in map {
                if let Some(kind) = kind_of(key, "/rpc") {
                    let items = if let Json::Array(items) = value { items.clone() } else { vec![value.clone()] };
                    for item in items {
                        if item == victim.value(kind, variant) || item == victim.value(kind, by_id) {
                            *addressed = true;
                            sent.push(text_of(&item));
                        }
                    }
                }
                collect_sent(value, sent, addressed, victim, variant);
            }
        }
        Json::Array(items) => items.iter().for_each(|item| collect_sent(item, sent, addressed, victim, variant)),
        _ => {}
    }
}

fn bounded(text: &str, at: usize, len: usize) -> bool {
    // A `.` between digits continues a number (`2.0` does not hold the id 2).
    let mut before = text[..at].chars().rev();
    let mut after = text[at + len..].chars();
    let joins = |c: Option<char>, next: Option<char>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())))
    };
    let (b1, b2) = (before.next(), before.next());
    let (a1, a2) = (after.next(), after.next());
    !joins(b1, b2) && !joins(a1, a2)
}

/// The body with every bounded occurrence of a sent token in its strings replaced by `<sent>` (numbers are
/// left alone: a count or an echoed number must match as it is).
fn normalise_body(text: &str, sent: &[String]) -> String {
    fn walk(value: Json, sent: &[String]) -> Json {
        match value {
            Json::String(text) => Json::String(normalise(&text, sent)),
            // An echoed id (ids of tasks and missing things have 3 or more digits; smaller numbers are
            // counts and flags, left alone).
            Json::Number(n) if n.to_string().len() >= 3 && sent.contains(&n.to_string()) => {
                Json::String("<sent>".into())
            }
            Json::Array(items) => Json::Array(items.into_iter().map(|v| walk(v, sent)).collect()),
            Json::Object(map) => Json::Object(map.into_iter().map(|(k, v)| (k, walk(v, sent))).collect()),
            other => other,
        }
    }
    match serde_json::from_str::<Json>(text) {
        Ok(value) => walk(value, sent).to_string(),
        Err(_) => normalise(text, sent),
    }
}

/// `text` with every bounded occurrence of each sent token replaced by `<sent>`.
fn normalise(text: &str, sent: &[String]) -> String {
    let mut sent: Vec<&String> = sent.iter().collect();
    sent.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for token in sent {
        let mut next = String::new();
        let mut rest = 0;
        for (at, _) in out.match_indices(token.as_str()) {
            if at >= rest && bounded(&out, at, token.len()) {
                next.push_str(&out[rest..at]);
                next.push_str("<sent>");
                rest = at + token.len();
            }
        }
        next.push_str(&out[rest..]);
        out = next;
    }
    out
}

async fn send(app: &TestHost, surface: &str, cred: &Cred, probe: &Probe) -> TestResponse {
    let mut headers = cred.headers(surface);
    if let Some(content_type) = &probe.content_type {
        headers.push(("content-type".into(), content_type.clone()));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.send(&probe.method, &probe.url, &headers, probe.body.clone().unwrap_or_default()).await
}

// ----- what is skipped or allowed -----

/// Operations not called at all: they address only the caller's own session or account and would end it
/// (the probe needs its credentials to the end), or they stream until the client leaves.
const SKIPPED: &[(&str, &str, &str)] = &[
    ("native", "DELETE", "/api/v1/tokens"), // revokes all of the caller's own tokens
    ("native", "POST", "/api/v1/auth/logout"), // ends the caller's own session
    ("native", "PUT", "/api/v1/me/password"), // the caller's own password
    ("tracker", "GET", "/logout"),          // ends the caller's own session
    ("project-w", "DELETE", "/api/users/delete"), // deletes the caller's own account
    ("project-w", "DELETE", "/api/users/invalidate_all_tokens"), // the caller's own tokens
    ("project-w", "DELETE", "/api/users/logout"), // the caller's own session
    ("project-w", "GET", "/api/jobs/events"), // a Server-Sent Events stream of the caller's own jobs
    ("project-w", "POST", "/api/runners/unregister"), // unregisters the calling runner itself
];

/// Successes (2xx) allowed although the request names the other tenant's things (or missing ones). Each is
/// safe by design; the marker checks and the final state comparison still apply to them.
const ALLOWED: &[(&str, &str, &str)] = &[
    // A worker asks to join a project: a pending request grants nothing (201 private; 202 "taken" for a
    // hidden or missing one, indistinguishably).
    ("native", "POST", "/api/v1/projects/{project}/access-requests"),
    ("tracker", "POST", "/project/request_access"),
    // Collections filtered by a project or task id: an empty page (the scope drops what the caller may not read).
    ("native", "GET", "/api/v1/tasks"),
    ("native", "GET", "/api/v1/logs"),
    ("native", "GET", "/api/v1/projects"),
    ("native", "GET", "/api/v1/workers"),
    ("native", "GET", "/api/v1/schedules"),
    ("native", "GET", "/api/v1/users"),
    ("native", "GET", "/api/v1/groups"),
    ("native", "GET", "/api/v1/tokens"),
    // A batch release answers per item: `updated: false` for tasks the worker does not hold.
    ("native", "POST", "/api/v1/tasks/release"),
    // JSON-RPC answers HTTP 200 with an `error` member; the rpc probes below check those members.
    ("native", "POST", "/api/v1/rpc"),
    ("rhodecode", "POST", "/_admin/api"),
    // Project-W answers "Success" (or an empty list) for job and token ids the caller does not own, changing
    // nothing (the final state comparison checks it), and alike for missing ids.
    ("project-w", "POST", "/api/jobs/abort"),
    ("project-w", "DELETE", "/api/jobs/delete"),
    ("project-w", "POST", "/api/jobs/delete"),
    ("project-w", "GET", "/api/jobs/info"),
    ("project-w", "DELETE", "/api/users/invalidate_token"),
    // The docs' own assets, by name.
    ("native", "GET", "/docs/assets/{revision}/{name}"),
    ("native", "GET", "/api/v1/openapi/{file}"),
];

/// Directory data, readable by every signed-in caller by design (docs/accounts.md: "Groups: readable by
/// every signed-in caller"): a group's name and its members' usernames are not a tenant's. Their answers may
/// name the other tenant's group and user, and need not answer like a missing group; the payload marker
/// check still applies.
const DIRECTORY: &[(&str, &str, &str)] = &[
    ("native", "GET", "/api/v1/groups"),
    ("native", "GET", "/api/v1/groups/{group}"),
    ("seed-scheduler", "GET", "/api/v1/group"),
    ("seed-scheduler", "GET", "/api/v1/group/{id}"),
];
const DIRECTORY_RPC: &[&str] = &["get_users_group", "get_users_groups"];

/// Not compared with their missing twin: logins are throttled per account, so repeated failed logins for an
/// existing account (the probe sends many) end in 429 sooner than for a missing one (noted in issue 17's
/// report; the answers are otherwise the same 401).
const NO_TWIN: &[(&str, &str, &str)] = &[
    ("native", "POST", "/api/v1/auth/login"),
    ("tracker", "POST", "/login"),
    ("project-w", "POST", "/api/local-account/login"),
];

fn listed(list: &[(&str, &str, &str)], operation: &Operation) -> bool {
    list.iter().any(|(s, m, p)| *s == operation.surface && *m == operation.method && *p == operation.path)
}

// ----- the other tenant -----

async fn as_json(app: &TestHost, method: &str, path: &str, who: &PwWho, body: Json, status: u16) -> Json {
    expect(&call(app, method, path, who, Some(body)).await, status)
}

/// Builds the other tenant: alice, her group and token, a private and a hidden project with a secret, an
/// assigned, a closed and a new task each, her worker (accepted on both), a log entry, a schedule.
async fn victim(app: &TestHost) -> (Victim, PwWho, PwWho) {
    let admin = admin(app);
    let (alice_id, alice) = user(app, "zqxname-alice").await;
    as_json(
        app,
        "PATCH",
        &format!("/api/v1/users/{alice_id}"),
        &admin,
        json!({"first_name": "zqxsecret-first", "last_name": "zqxsecret-last"}),
        200,
    )
    .await;
    let token = as_json(app, "POST", "/api/v1/tokens", &alice, json!({"name": "zqxname-token"}), 201).await;
    let group = as_json(app, "POST", "/api/v1/groups", &admin, json!({"name": "zqxname-group"}), 201).await;
    let group_id = group["id"].as_i64().unwrap();
    expect(&call(app, "PUT", &format!("/api/v1/groups/{group_id}/members/{alice_id}"), &admin, None).await, 201);
    let filler = project(app, &alice, "zqxname-filler", "hidden").await["id"].as_i64().unwrap();
    // Push task ids past small numbers, so that a placeholder never replaces an unrelated number.
    let tasks: Vec<Json> = (0..300).map(|n| json!({"recipe": format!("zqxsecret-filler-{n}")})).collect();
    as_json(app, "POST", "/api/v1/tasks/bulk", &alice, json!({"project": filler, "tasks": tasks}), 201).await;

    let body = json!({"alias": "zqxname-worker", "tags": ["zqxsecret-tag"], "meta": {"note": "zqxsecret-meta"}});
    let created = as_json(app, "POST", "/api/v1/workers", &PwWho::Anonymous, body, 201).await;
    let w = PwWho::Worker(created["id"].as_i64().unwrap(), created["secret"].as_str().unwrap().to_string());
    let worker_id = created["id"].as_i64().unwrap();

    let mut ids = Vec::new();
    for (name, visibility) in [("zqxname-hidden", "hidden"), ("zqxname-private", "private")] {
        let body = json!({"name": name, "visibility": visibility, "description": "zqxsecret-description", "motd": "zqxsecret-motd"});
        let id = as_json(app, "POST", "/api/v1/projects", &alice, body, 201).await["id"].as_i64().unwrap();
        let secret = json!({"secret": {"key": "zqxsecret-project-secret"}});
        as_json(app, "PUT", &format!("/api/v1/projects/{id}/secret"), &alice, secret, 200).await;
        let grant = json!({"perm": "project.read"});
        as_json(app, "PUT", &format!("/api/v1/projects/{id}/grants/groups/{group_id}"), &alice, grant, 200).await;
        // alice's worker joins (a hidden project: the request is taken blind, then accepted).
        call(
            app,
            "POST",
            &format!("/api/v1/projects/{id}/access-requests"),
            &w,
            Some(json!({"assign": true, "submit": true})),
        )
        .await;
        rpc_ok(
            &rpc(app, &format!("/api/v1/projects/{id}"), &alice, "accept_request", json!({"worker": worker_id})).await,
        );
        for n in 0..3 {
            let task = json!({"project": id, "recipe": format!("zqxsecret-recipe-{n}")});
            as_json(app, "POST", "/api/v1/tasks", &alice, task, 201).await;
        }
        let closed = as_json(app, "POST", "/api/v1/tasks/claim", &w, json!({"project": id}), 200).await;
        let release = json!({"result": 0, "output": "zqxsecret-output"});
        as_json(app, "POST", &format!("/api/v1/tasks/{}/release", closed["id"]), &w, release, 200).await;
        let assigned = as_json(app, "POST", "/api/v1/tasks/claim", &w, json!({"project": id}), 200).await;
        let log = json!({"level": "info", "message": "zqxsecret-log", "project": id});
        as_json(app, "POST", "/api/v1/logs", &w, log, 201).await;
        ids.push((id, name.to_string(), assigned["id"].as_i64().unwrap()));
    }
    let schedule = json!({"name": "zqxname-schedule", "interval_definition": "1 days", "project": ids[1].0, "recipe": "zqxsecret-scheduled"});
    let schedule = as_json(app, "POST", "/api/v1/schedules", &alice, schedule, 201).await;
    let victim = Victim {
        hidden: (ids[0].0, ids[0].1.clone()),
        private: (ids[1].0, ids[1].1.clone()),
        hidden_task: ids[0].2,
        private_task: ids[1].2,
        user: (alice_id, "zqxname-alice".into()),
        group: (group_id, "zqxname-group".into()),
        worker: worker_id,
        schedule: schedule["id"].as_str().unwrap().to_string(),
        token: token["id"].as_i64().unwrap(),
    };
    (victim, alice, w)
}

/// The other tenant's state as the administrator and its owner read it, without what reading itself moves
/// (last-used and last-seen times) and without the probing worker's own access requests.
async fn state(app: &TestHost, victim: &Victim, alice: &PwWho, prober: i64) -> Json {
    let admin = admin(app);
    let mut out = Map::new();
    let mut paths = vec![
        format!("/api/v1/users/{}", victim.user.0),
        format!("/api/v1/groups/{}", victim.group.0),
        format!("/api/v1/workers/{}", victim.worker),
        format!("/api/v1/schedules/{}", victim.schedule),
        format!("/api/v1/logs?project__in={},{}&limit=1000", victim.hidden.0, victim.private.0),
    ];
    for project in [victim.hidden.0, victim.private.0] {
        for tail in ["", "/secret", "/grants", "/access-requests", "/assignees"] {
            paths.push(format!("/api/v1/projects/{project}{tail}"));
        }
        paths.push(format!("/api/v1/tasks?project={project}&limit=1000"));
    }
    for path in paths {
        let answer = call(app, "GET", &path, &admin, None).await;
        out.insert(path, json!({"status": answer.status, "body": scrub(answer.json(), prober)}));
    }
    let tokens = call(app, "GET", "/api/v1/tokens", alice, None).await;
    out.insert("alice's tokens".into(), json!({"status": tokens.status, "body": scrub(tokens.json(), prober)}));
    Json::Object(out)
}

fn scrub(value: Json, prober: i64) -> Json {
    match value {
        Json::Object(map) => Json::Object(
            map.into_iter()
                .filter(|(k, _)| !["last_used_at", "last_seen_at", "last_login"].contains(&k.as_str()))
                .map(|(k, v)| (k, scrub(v, prober)))
                .collect(),
        ),
        Json::Array(items) => Json::Array(
            items.into_iter().filter(|item| item["worker"] != json!(prober)).map(|item| scrub(item, prober)).collect(),
        ),
        other => other,
    }
}

// ----- the probe -----

/// What one answer must not do; returns the failures it found.
fn check(operation: &Operation, variant: Variant, who: &str, probe: &Probe, answer: &TestResponse) -> Vec<String> {
    let mut failures = Vec::new();
    let text = answer.text();
    let lower = text.to_ascii_lowercase();
    let label = format!("{who} {} {} {} ({variant:?}) → {}", operation.surface, probe.method, probe.url, answer.status);
    if lower.contains(SECRET) {
        failures.push(format!("{label}: the other tenant's payload leaks: {text}"));
    }
    let request = format!("{} {}", probe.url, probe.body.clone().unwrap_or_default()).to_ascii_lowercase();
    let directory = listed(DIRECTORY, operation);
    for (at, _) in lower.match_indices(NAME).filter(|_| !directory) {
        let end = lower[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map_or(lower.len(), |e| at + e);
        if !request.contains(&lower[at..end]) {
            failures.push(format!("{label}: the other tenant's name `{}` leaks: {text}", &lower[at..end]));
            break;
        }
    }
    if (200..300).contains(&answer.status)
        && probe.addressed
        && !variant.missing()
        && !listed(ALLOWED, operation)
        && !directory
    {
        failures.push(format!("{label}: a success on the other tenant's thing: {text}"));
    }
    if answer.status >= 500 {
        failures.push(format!("{label}: a server error: {text}"));
    }
    failures
}

/// One caller walks every operation in every variant; returns the failures.
async fn walk(app: &TestHost, who: &str, cred: &Cred, victim: &Victim) -> Vec<String> {
    let (operations, documents) = operations();
    let mut failures = Vec::new();
    for operation in &operations {
        if listed(SKIPPED, operation) {
            continue;
        }
        let doc = &documents[operation.surface];
        let mut answers = BTreeMap::new();
        for variant in Variant::ALL {
            let probe = build(operation, doc, victim, variant, cred);
            let answer = send(app, operation.surface, cred, &probe).await;
            failures.extend(check(operation, variant, who, &probe, &answer));
            answers.insert(variant, (probe, answer));
        }
        failures.extend(compare_twins(operation, who, &answers));
    }
    failures.extend(walk_rpc(app, who, cred, victim).await);
    failures
}

/// A hidden variant answers as its missing twin: same status, same body modulo what was sent.
fn compare_twins(operation: &Operation, who: &str, answers: &BTreeMap<Variant, (Probe, TestResponse)>) -> Vec<String> {
    let mut failures = Vec::new();
    for (variant, (probe, answer)) in answers {
        let Some((twin_probe, twin)) = variant.twin().and_then(|twin| answers.get(&twin)) else { continue };
        if !probe.addressed || listed(DIRECTORY, operation) || listed(NO_TWIN, operation) {
            continue;
        }
        let (mine, theirs) =
            (normalise_body(&answer.text(), &probe.sent), normalise_body(&twin.text(), &twin_probe.sent));
        if answer.status != twin.status || mine != theirs {
            failures.push(format!(
                "{who} {} {} {} ({variant:?}): hidden answers {} {mine}, missing answers {} {theirs}",
                operation.surface, operation.method, probe.url, answer.status, twin.status
            ));
        }
    }
    failures
}

/// Every JSON-RPC method (from `rpc.discover`), on `/api/v1/rpc` and in RhodeCode's envelope: a call naming
/// the other tenant's hidden things answers as one naming missing things, and no answer leaks.
async fn walk_rpc(app: &TestHost, who: &str, cred: &Cred, victim: &Victim) -> Vec<String> {
    let discover = json!({"jsonrpc": "2.0", "method": "rpc.discover", "id": 424242});
    let methods = app.post_json("/api/v1/rpc", &discover, None).await.json()["result"]["methods"].clone();
    let mut failures = Vec::new();
    let empty = json!({});
    for method in methods.as_array().expect("rpc.discover lists methods") {
        let name = method["name"].as_str().unwrap();
        for (surface, path) in [("native", "/api/v1/rpc"), ("rhodecode", "/_admin/api")] {
            let operation = Operation { surface, method: "POST".into(), path: path.into(), op: json!({}) };
            let who = format!("{who} {name}");
            let who = who.as_str();
            let mut answers = BTreeMap::new();
            for variant in Variant::ALL {
                let mut params = Map::new();
                for param in method["params"].as_array().into_iter().flatten() {
                    let pname = param["name"].as_str().unwrap();
                    let required = param["required"] == true || kind_of(pname, "").is_some();
                    if required {
                        params.insert(pname.into(), value_for(&empty, "", pname, &param["schema"], victim, variant));
                    }
                }
                let body = match (surface, cred) {
                    ("native", _) => json!({"jsonrpc": "2.0", "method": name, "params": params, "id": 424242}),
                    (_, Cred::User(token)) => json!({"id": 424242, "api_key": token, "method": name, "args": params}),
                    (_, Cred::Worker(..)) => json!({"id": 424242, "api_key": "", "method": name, "args": params}),
                };
                let (mut sent, mut addressed) = (Vec::new(), false);
                collect_sent(&body, &mut sent, &mut addressed, victim, variant);
                let probe = Probe {
                    method: "POST".into(),
                    url: path.into(),
                    body: Some(body.to_string()),
                    content_type: Some("application/json".into()),
                    sent,
                    addressed,
                };
                let answer = send(app, surface, cred, &probe).await;
                let mut found = check(&operation, variant, who, &probe, &answer);
                let reply = serde_json::from_slice::<Json>(&answer.body).unwrap_or(Json::Null);
                let ok =
                    reply.get("result").is_some_and(|r| !r.is_null()) && reply.get("error").is_none_or(Json::is_null);
                if DIRECTORY_RPC.contains(&name) {
                    found.retain(|failure| !failure.contains("name `"));
                } else if ok && addressed && !variant.missing() && !RPC_ALLOWED.contains(&name) {
                    found.push(format!(
                        "{who} {surface} {name} ({variant:?}): a result on the other tenant's thing: {reply}"
                    ));
                }
                failures.extend(found);
                answers.insert(variant, (probe, answer));
            }
            if !DIRECTORY_RPC.contains(&name) {
                failures.extend(compare_twins(&operation, who, &answers));
            }
        }
    }
    failures
}

/// JSON-RPC methods that may answer a result although their params name the other tenant's things.
const RPC_ALLOWED: &[&str] = &[
    "rpc.discover", // the method list itself
];

/// An unrelated user and an unrelated worker walk every route of every surface.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_another_tenant_is_readable_or_changeable() {
    let app = TestHost::start().await;
    let (victim, alice, _alices_worker) = victim(&app).await;
    let (_, mallory) = user(&app, "mallory").await;
    let token = pw_support::bearer(&mallory);
    project(&app, &mallory, "mallorys-own", "public").await;
    let intruder = worker(&app, "intruder").await;

    // The documents really list every surface's operations (a walk over nothing would pass).
    let (all, _) = operations();
    for surface in SURFACES {
        let probed = all.iter().filter(|op| op.surface == surface && !listed(SKIPPED, op)).count();
        assert!(probed >= 1, "no operations of {surface}");
    }
    assert!(all.len() >= 150, "only {} operations in the documents", all.len());

    let before = state(&app, &victim, &alice, intruder.id).await;
    let mut failures = walk(&app, "user", &Cred::User(token.clone()), &victim).await;
    failures.extend(walk(&app, "worker", &Cred::Worker(intruder.id, intruder.secret.clone()), &victim).await);
    let after = state(&app, &victim, &alice, intruder.id).await;

    for (path, was) in before.as_object().unwrap() {
        if after[path] != *was {
            failures.push(format!("the other tenant's state changed at {path}: was {was}, now {}", after[path]));
        }
    }
    // The credentials still work: the walk really ran as these callers to the end.
    expect(&call(&app, "GET", "/api/v1/me", &mallory, None).await, 200);
    expect(&call(&app, "GET", &format!("/api/v1/workers/{}", intruder.id), &intruder.who(), None).await, 200);
    assert!(failures.is_empty(), "{} tenant-boundary failures:\n{}", failures.len(), failures.join("\n"));
}

// ----- the holes issue 17 names, one regression test each (the log quota's is in core: workers/tests.rs) -----

/// A worker's access request answers a hidden project exactly as a missing one (by id and by name); the
/// request is still recorded for the project's managers.
#[tokio::test]
async fn access_requests_do_not_reveal_hidden_projects() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let hidden = project(&app, &alice, "hideout", "hidden").await["id"].as_i64().unwrap();
    let w = worker(&app, "asker").await;
    let ask = json!({"assign": true});
    let answer = |reference: String| {
        let (app, w, ask) = (&app, &w, ask.clone());
        async move { call(app, "POST", &format!("/api/v1/projects/{reference}/access-requests"), &w.who(), Some(ask)).await }
    };
    for (existing, missing) in [(hidden.to_string(), MISSING_ID.to_string()), ("hideout".into(), "nowhere".into())] {
        let (seen, unseen) = (answer(existing).await, answer(missing).await);
        assert_eq!((seen.status, seen.text()), (unseen.status, unseen.text()), "hidden = missing");
        assert_eq!(seen.status, 202, "{}", seen.text());
    }
    let bad =
        call(&app, "POST", &format!("/api/v1/projects/{hidden}/access-requests"), &w.who(), Some(json!({}))).await;
    let bad_missing =
        call(&app, "POST", &format!("/api/v1/projects/{MISSING_ID}/access-requests"), &w.who(), Some(json!({}))).await;
    assert_eq!((bad.status, bad.text()), (bad_missing.status, bad_missing.text()));
    // The manager sees the request and may accept it; then the worker reads the project.
    let requests =
        expect(&call(&app, "GET", &format!("/api/v1/projects/{hidden}/access-requests"), &alice, None).await, 200);
    assert_eq!(requests[0]["worker"], w.id);
    rpc_ok(&rpc(&app, &format!("/api/v1/projects/{hidden}"), &alice, "accept_request", json!({"worker": w.id})).await);
    expect(&call(&app, "GET", &format!("/api/v1/projects/{hidden}"), &w.who(), None).await, 200);
    let again = expect(&answer(hidden.to_string()).await, 201);
    assert_eq!(again["status"], "accepted");
    // task_tracker's surface: ok for both.
    for project in [hidden, MISSING_ID] {
        let other = worker(&app, "other").await;
        let body = json!({"project": project, "assign": true});
        let answer = call(&app, "POST", "/project/request_access", &other.who(), Some(body)).await;
        assert_eq!(expect(&answer, 200)["ok"], true, "{}", answer.text());
    }
}

/// Heartbeat and release refusals tell a worker that may not read a private project nothing about its task:
/// the same 403 as reading the task, whatever the task's status and whoever holds it.
#[tokio::test]
async fn refusals_do_not_reveal_a_private_tasks_status() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let private = project(&app, &alice, "closet", "private").await["id"].as_i64().unwrap();
    let (insider, outsider) = (worker(&app, "insider").await, worker(&app, "outsider").await);
    let path = format!("/api/v1/projects/{private}");
    call(&app, "POST", &format!("{path}/access-requests"), &insider.who(), Some(json!({"assign": true}))).await;
    rpc_ok(&rpc(&app, &path, &alice, "accept_request", json!({"worker": insider.id})).await);
    for n in 0..2 {
        expect(
            &call(&app, "POST", "/api/v1/tasks", &alice, Some(json!({"project": private, "recipe": format!("r{n}")})))
                .await,
            201,
        );
    }
    let closed = expect(
        &call(&app, "POST", "/api/v1/tasks/claim", &insider.who(), Some(json!({"project": private}))).await,
        200,
    )["id"]
        .clone();
    let release = json!({"result": 0});
    expect(
        &call(&app, "POST", &format!("/api/v1/tasks/{closed}/release"), &insider.who(), Some(release.clone())).await,
        200,
    );
    let held = expect(
        &call(&app, "POST", "/api/v1/tasks/claim", &insider.who(), Some(json!({"project": private}))).await,
        200,
    )["id"]
        .clone();
    // The insider's access is revoked: its closed task's status is no longer its to learn.
    rpc_ok(&rpc(&app, &path, &alice, "reject_request", json!({"worker": insider.id})).await);
    for (who, task) in [(&insider, &closed), (&outsider, &held), (&outsider, &closed)] {
        let read = call(&app, "GET", &format!("/api/v1/tasks/{task}"), &who.who(), None).await;
        assert_eq!(read.status, 403, "{}", read.text());
        for (action, body) in [("heartbeat", json!({})), ("release", release.clone())] {
            let answer = call(&app, "POST", &format!("/api/v1/tasks/{task}/{action}"), &who.who(), Some(body)).await;
            assert_eq!((answer.status, answer.text()), (read.status, read.text()), "{action} on task {task}");
        }
    }
    // task_tracker's release answers the same way.
    let body = json!({"task_id": closed, "result": 0, "verification": 0});
    let answer = call(&app, "POST", "/task/release", &outsider.who(), Some(body)).await;
    assert!(!answer.text().contains("closed") && !answer.text().contains("not_assignee"), "{}", answer.text());
}

/// A worker's tags and meta are seen by itself, administrators and members of projects it asked to join; an
/// unrelated user sees no worker, on either surface, and an id outside their scope answers as a missing one.
#[tokio::test]
async fn workers_are_listed_only_to_members_of_their_projects() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, bob) = user(&app, "bob").await;
    let own = project(&app, &alice, "alices", "public").await["id"].as_i64().unwrap();
    let body = json!({"alias": "gpu", "tags": ["site-a"], "meta": {"host": "10.0.0.7"}});
    let created = expect(&call(&app, "POST", "/api/v1/workers", &PwWho::Anonymous, Some(body)).await, 201);
    let w = PwWho::Worker(created["id"].as_i64().unwrap(), created["secret"].as_str().unwrap().into());
    let id = created["id"].as_i64().unwrap();
    expect(
        &call(&app, "POST", &format!("/api/v1/projects/{own}/access-requests"), &w, Some(json!({"submit": true})))
            .await,
        201,
    );

    let alices = expect(&call(&app, "GET", "/api/v1/workers", &alice, None).await, 200);
    assert_eq!(alices["results"][0]["meta"], json!({"host": "10.0.0.7"}));
    expect(&call(&app, "GET", &format!("/api/v1/workers/{id}"), &alice, None).await, 200);
    let bobs = expect(&call(&app, "GET", "/api/v1/workers", &bob, None).await, 200);
    assert_eq!(bobs["count"], 0, "bob reads a public project, but is no member of it: {bobs}");
    assert_eq!(expect(&call(&app, "GET", "/api/v1/workers/stats", &bob, None).await, 200), json!([]));
    let seen = call(&app, "GET", &format!("/api/v1/workers/{id}"), &bob, None).await;
    let unseen = call(&app, "GET", &format!("/api/v1/workers/{MISSING_ID}"), &bob, None).await;
    assert_eq!(seen.status, 404);
    assert_eq!(seen.text().replace(&id.to_string(), "N"), unseen.text().replace(&MISSING_ID.to_string(), "N"));
    let tracker = call(&app, "GET", &format!("/worker/get/{id}"), &bob, None).await;
    let tracker_missing = call(&app, "GET", &format!("/worker/get/{MISSING_ID}"), &bob, None).await;
    assert_eq!(tracker.status, tracker_missing.status);
    assert!(!tracker.text().contains("10.0.0.7") && !tracker.text().contains("gpu"), "{}", tracker.text());
    let tracker_stats = call(&app, "GET", "/worker/stats", &bob, None).await;
    assert!(!tracker_stats.text().contains("gpu"), "{}", tracker_stats.text());
    // The worker itself sees only itself in the statistics.
    let own_stats = expect(&call(&app, "GET", "/api/v1/workers/stats", &w, None).await, 200);
    assert_eq!(own_stats.as_array().map(Vec::len), Some(1));
}

/// Chaining a project into another needs EDIT on the target (closed tasks are copied there): another tenant's
/// hidden project answers as a missing one, a private one 403, on both surfaces that create projects.
#[tokio::test]
async fn chains_need_edit_on_the_target() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, mallory) = user(&app, "mallory").await;
    let hidden = project(&app, &alice, "hideout", "hidden").await["id"].as_i64().unwrap();
    let private = project(&app, &alice, "closet", "private").await["id"].as_i64().unwrap();
    let create = |name: &str, chain: i64| json!({"name": name, "chain": chain});
    let seen = call(&app, "POST", "/api/v1/projects", &mallory, Some(create("a", hidden))).await;
    let unseen = call(&app, "POST", "/api/v1/projects", &mallory, Some(create("b", MISSING_ID))).await;
    assert_eq!(seen.status, 422, "{}", seen.text());
    assert_eq!(seen.text().replace(&hidden.to_string(), "N"), unseen.text().replace(&MISSING_ID.to_string(), "N"));
    let private_chain = call(&app, "POST", "/api/v1/projects", &mallory, Some(create("c", private))).await;
    assert_eq!(private_chain.status, 403, "{}", private_chain.text());
    let own = project(&app, &mallory, "mine", "public").await["id"].as_i64().unwrap();
    let patch = call(&app, "PATCH", &format!("/api/v1/projects/{own}"), &mallory, Some(json!({"chain": hidden}))).await;
    assert_eq!(patch.status, 422, "{}", patch.text());
    let tracker =
        call(&app, "POST", &format!("/project/update/{own}"), &mallory, Some(json!({"chain": private}))).await;
    assert!(tracker.status == 403 || tracker.json()["ok"] == false, "{}", tracker.text());
    let after = expect(&call(&app, "GET", &format!("/api/v1/projects/{own}"), &mallory, None).await, 200);
    assert_eq!(after["chain"], Json::Null, "nothing was chained");
    // With EDIT on the target, the chain is set.
    expect(&call(&app, "POST", "/api/v1/projects", &alice, Some(create("d", hidden))).await, 201);
}

/// A worker asking for a schedule gets the missing one's answer whether or not it exists.
#[tokio::test]
async fn schedules_do_not_answer_workers_differently_when_they_exist() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let own = project(&app, &alice, "alices", "private").await["id"].as_i64().unwrap();
    let body = json!({"name": "nightly", "interval_definition": "1 days", "project": own, "recipe": "r"});
    let created = call(&app, "POST", "/api/v1/schedules", &alice, Some(body)).await;
    let id = expect(&created, 201)["id"].as_str().unwrap().to_string();
    let w = worker(&app, "w").await;
    for (native, seed) in [("/api/v1/schedules", "/api/v1/schedule")] {
        for base in [native, seed] {
            let seen = call(&app, "GET", &format!("{base}/{id}"), &w.who(), None).await;
            let unseen = call(&app, "GET", &format!("{base}/{MISSING_UUID}"), &w.who(), None).await;
            assert_eq!(seen.status, unseen.status, "{base}: {} / {}", seen.text(), unseen.text());
            assert_eq!(seen.text().replace(&id, "ID"), unseen.text().replace(MISSING_UUID, "ID"));
        }
    }
}
