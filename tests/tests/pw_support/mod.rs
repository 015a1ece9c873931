//! Shared helpers of `tests/projects.rs` and `tests/workers.rs`: callers (users, workers, the built-in
//! admin), JSON calls, JSON-RPC calls and SPEC §1 error-body assertions.
#![allow(dead_code)]

use conveyor_tests::{TestHost, TestResponse};
use serde_json::{Value, json};

/// Who sends a request.
#[derive(Clone, Debug)]
pub enum Who {
    Anonymous,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `X-Worker-ID` + `X-Secret`.
    Worker(i64, String),
    /// `Authorization: Worker <id>:<secret>`.
    WorkerAuth(i64, String),
}

/// A registered worker.
#[derive(Clone, Debug)]
pub struct Worker {
    pub id: i64,
    pub secret: String,
}

impl Worker {
    pub fn who(&self) -> Who {
        Who::Worker(self.id, self.secret.clone())
    }
}

/// A person's bearer token; panics for anyone else.
pub fn bearer(who: &Who) -> String {
    match who {
        Who::Bearer(token) => token.clone(),
        other => panic!("not a bearer: {other:?}"),
    }
}

pub fn admin(app: &TestHost) -> Who {
    Who::Bearer(app.admin_token())
}

/// Fails when a response carries anything that must never leave the server.
pub fn assert_clean(response: &TestResponse) {
    let text = response.text();
    for forbidden in ["$argon2", "secret_hash", "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "sqlite"] {
        assert!(!text.contains(forbidden), "response leaks `{forbidden}`: {text}");
    }
}

/// Sends a request with optional raw body (JSON content type when given).
pub async fn raw(app: &TestHost, method: &str, path: &str, who: &Who, body: Option<String>) -> TestResponse {
    let mut headers: Vec<(String, String)> = Vec::new();
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    match who {
        Who::Anonymous => {}
        Who::Bearer(token) => headers.push(("authorization".into(), format!("Bearer {token}"))),
        Who::Worker(id, secret) => {
            headers.push(("X-Worker-ID".into(), id.to_string()));
            headers.push(("X-Secret".into(), secret.clone()));
        }
        Who::WorkerAuth(id, secret) => headers.push(("authorization".into(), format!("Worker {id}:{secret}"))),
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let response = app.send(method, path, &headers, body.unwrap_or_default()).await;
    assert_clean(&response);
    response
}

/// Sends a request with an optional JSON body.
pub async fn call(app: &TestHost, method: &str, path: &str, who: &Who, body: Option<Value>) -> TestResponse {
    raw(app, method, path, who, body.map(|b| b.to_string())).await
}

/// Asserts the status and returns the JSON body.
#[track_caller]
pub fn expect(response: &TestResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    if response.body.is_empty() { Value::Null } else { response.json() }
}

/// Asserts SPEC §1's error body: status, code, a human detail.
#[track_caller]
pub fn assert_error(response: &TestResponse, status: u16, code: &str) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json; charset=utf-8"));
    let body = response.json();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{body}");
    if status == 401 {
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    body
}

/// A JSON-RPC control call on `path`.
pub async fn rpc(app: &TestHost, path: &str, who: &Who, method: &str, params: Value) -> TestResponse {
    call(app, "POST", path, who, Some(json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))).await
}

/// Asserts a JSON-RPC success and returns `result`.
#[track_caller]
pub fn rpc_ok(response: &TestResponse) -> Value {
    let body = expect(response, 200);
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["id"], 1, "{body}");
    assert!(body.get("error").is_none(), "{body}");
    body["result"].clone()
}

/// Asserts a JSON-RPC error with the HTTP status and JSON-RPC code; returns the error object.
#[track_caller]
pub fn rpc_error(response: &TestResponse, status: u16, code: i64) -> Value {
    let body = expect(response, status);
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body.get("result").is_none(), "{body}");
    body["error"].clone()
}

/// Creates a user (as the built-in admin), logs in, and returns (id, session token as a caller).
pub async fn user(app: &TestHost, username: &str) -> (i64, Who) {
    let body = json!({"username": username, "email": format!("{username}@example.org"), "password": "correct horse"});
    let created = expect(&call(app, "POST", "/api/v1/users", &admin(app), Some(body)).await, 201);
    let login = json!({"username": username, "password": "correct horse"});
    let session = expect(&call(app, "POST", "/api/v1/auth/login", &Who::Anonymous, Some(login)).await, 200);
    (created["id"].as_i64().unwrap(), Who::Bearer(session["token"].as_str().unwrap().to_string()))
}

/// Registers a worker (open registration).
pub async fn worker(app: &TestHost, alias: &str) -> Worker {
    let body = expect(&call(app, "POST", "/api/v1/workers", &Who::Anonymous, Some(json!({"alias": alias}))).await, 201);
    Worker { id: body["id"].as_i64().unwrap(), secret: body["secret"].as_str().unwrap().to_string() }
}

/// Creates a project as `who` and returns it.
pub async fn project(app: &TestHost, who: &Who, name: &str, visibility: &str) -> Value {
    let body = json!({"name": name, "visibility": visibility});
    expect(&call(app, "POST", "/api/v1/projects", who, Some(body)).await, 201)
}

/// The names in a collection page, in order.
pub fn names(page: &Value, field: &str) -> Vec<String> {
    page["results"].as_array().unwrap().iter().map(|row| row[field].as_str().unwrap().to_string()).collect()
}

// ----- Project-W's wire (tests/projectw*.rs) -----

/// A request of a Project-W client (a user's or a runner's bearer credential), with an optional raw body and
/// its content type.
pub async fn client(
    app: &TestHost,
    method: &str,
    path: &str,
    who: &Who,
    body: Option<(&str, Vec<u8>)>,
) -> TestResponse {
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Who::Bearer(token) = who {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    let bytes = match body {
        Some((content_type, bytes)) => {
            headers.push(("content-type".into(), content_type.into()));
            bytes
        }
        None => Vec::new(),
    };
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let response = app.send(method, path, &headers, bytes).await;
    assert_clean(&response);
    response
}

/// [`client`] with a JSON body.
pub async fn client_json(app: &TestHost, method: &str, path: &str, who: &Who, body: Value) -> TestResponse {
    client(app, method, path, who, Some(("application/json", body.to_string().into_bytes()))).await
}

/// Project-W's JSON answer: the status, `Content-Type` exactly `application/json` (its runner compares the
/// string), the body.
#[track_caller]
pub fn pw_json(response: &TestResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"), "{}", response.text());
    response.json()
}

/// A Project-W refusal: status, exact content type, and `{"detail": <detail>}`.
#[track_caller]
pub fn pw_refused(response: &TestResponse, status: u16, detail: &str) {
    assert_eq!(pw_json(response, status), json!({"detail": detail}), "{status}");
}

/// The boundary of [`form`]'s bodies.
pub const BOUNDARY: &str = "9b1c1d4e5f60718293a4b5c6d7e8f901";

/// A multipart form as httpx writes `files={"audio_file": (name, bytes, content_type)}`: (its content type, its
/// body).
pub fn form(field: &str, file_name: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}
