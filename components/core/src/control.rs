//! Control actions on a resource (SPEC §1.2, Buildbot's JSON-RPC 2.0 POSTed to the resource):
//! `{"jsonrpc":"2.0","method":"<action>","params":{...},"id":<n>}` → `{"jsonrpc":"2.0","result":…,"id":<n>}`
//! or `{"jsonrpc":"2.0","error":{"code","message","data"},"id":<n>}`.
//!
//! | JSON-RPC code | HTTP | when |
//! |---|---|---|
//! | -32700 parse error | 400 | the body is not JSON |
//! | -32600 invalid request | 400 | not an object (no batches), `jsonrpc` ≠ "2.0", no `method`, bad `id`, extra members |
//! | -32601 unknown action | 501 | the handler does not know the method ([`unknown_method`]) |
//! | -32602 invalid params | 400 | positional params, or the action answered 400/409/422 |
//! | -32600 forbidden | 403 | the action answered 401 or 403 |
//! | -32600 not found | 404 | the action answered 404 |
//! | -32000 rate limited | 429 | the action answered 429 (`Retry-After` kept) |
//! | -32603 internal | 500 (503 when unavailable) | anything else |
//!
//! `error.data` carries the native error code (`{"code": "not_found"}`, plus `errors` for validation), so
//! clients can match on the same codes as elsewhere. `id` may be a number, a string or null (absent = null;
//! the call is answered anyway). The body must be `application/json` (else 415, as on every JSON route).

use crate::error::ApiError;
use crate::http::Response;
use crate::router::Ctx;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json, json};

/// JSON-RPC: the body is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request object; also SPEC's "forbidden" and "not found".
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: no such method (action).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: the params do not fit the action.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC: internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// Implementation-defined server error: rate limited.
pub const RATE_LIMITED: i64 = -32000;

/// The machine code of the [`ApiError`] that [`unknown_method`] returns.
const UNKNOWN_METHOD_CODE: &str = "unknown_method";

/// The `params` of an action that takes none: an empty object (any field is refused as unknown).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Parses JSON-RPC `params` (an object, or null/absent for none) into `T`, with SPEC §1's 422s.
pub fn action_params<T: DeserializeOwned>(params: &Json) -> Result<T, ApiError> {
    let params = if params.is_null() { json!({}) } else { params.clone() };
    if !params.is_object() {
        return Err(ApiError::invalid_field("params", "must be an object"));
    }
    crate::http::parse_json(params.to_string().as_bytes())
}

/// An action's result (any API shape) as the JSON-RPC `result`.
pub fn to_json(value: &impl serde::Serialize) -> Result<Json, ApiError> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// What a handler's `run` returns for a method it does not know (→ -32601, HTTP 501).
pub fn unknown_method(method: &str) -> ApiError {
    ApiError::bad_request(UNKNOWN_METHOD_CODE, format!("unknown action `{method}`"))
}

/// A JSON-RPC error answer: HTTP status, JSON-RPC code, message and optional data.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub status: u16,
    pub code: i64,
    pub message: String,
    pub data: Option<Json>,
    headers: Vec<(&'static str, String)>,
}

impl RpcError {
    fn new(status: u16, code: i64, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), data: None, headers: Vec::new() }
    }

    fn with_data(mut self, data: Json) -> Self {
        self.data = Some(data);
        self
    }

    /// Credentials that were presented but are wrong: the error of [`RpcError::from`], answered with 401 and
    /// `WWW-Authenticate` (an anonymous call refused by a method is 403, as for control actions).
    pub fn unauthenticated(error: &ApiError) -> Self {
        Self { status: 401, headers: error.headers(), ..Self::from(error) }
    }
}

impl From<&ApiError> for RpcError {
    fn from(error: &ApiError) -> Self {
        let (status, code) = match error.status() {
            _ if error.code() == UNKNOWN_METHOD_CODE => (501, METHOD_NOT_FOUND),
            401 | 403 => (403, INVALID_REQUEST),
            404 => (404, INVALID_REQUEST),
            400 | 409 | 413 | 415 | 422 => (400, INVALID_PARAMS),
            405 => (400, INVALID_REQUEST),
            429 => (429, RATE_LIMITED),
            503 => (503, INTERNAL_ERROR),
            _ => (500, INTERNAL_ERROR),
        };
        error.log_internal();
        let body = error.body();
        let mut data = Map::new();
        data.insert("code".into(), json!(body.code));
        if let Some(errors) = body.errors {
            data.insert("errors".into(), json!(errors));
        }
        if let ApiError::UnknownField(field) = error {
            data.insert("field".into(), json!(field));
        }
        if let Some(retry_after) = body.retry_after {
            data.insert("retry_after".into(), json!(retry_after));
        }
        let headers = match error {
            ApiError::TooManyRequests { .. } => error.headers(),
            _ => Vec::new(),
        };
        RpcError { status, code, message: body.detail, data: Some(Json::Object(data)), headers }
    }
}

/// A parsed call: method, params (an object; `{}` when absent or null) and id (`None`: a notification).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Json,
    pub id: Option<Json>,
}

impl Call {
    /// The id the answer carries (null for a notification that is answered anyway).
    pub fn answer_id(&self) -> Json {
        self.id.clone().unwrap_or(Json::Null)
    }
}

/// A refused request: the error and the id its answer carries (null when the id could not be read).
pub type Refusal = Box<(RpcError, Json)>;

/// Parses a JSON-RPC 2.0 request body holding one call (control actions take no batches).
pub fn parse(body: &[u8]) -> Result<Call, Refusal> {
    let value: Json = serde_json::from_slice(body).map_err(|error| Box::new((parse_error(&error), Json::Null)))?;
    if value.is_array() {
        let message = "batches are not supported: send one call per request";
        return Err(Box::new((RpcError::new(400, INVALID_REQUEST, message), Json::Null)));
    }
    parse_call(value)
}

/// The answer to a body that is not JSON.
pub fn parse_error(error: &serde_json::Error) -> RpcError {
    RpcError::new(400, PARSE_ERROR, format!("parse error: {error}"))
}

/// An invalid request (-32600, HTTP 400).
pub fn invalid_request(message: impl Into<String>) -> RpcError {
    RpcError::new(400, INVALID_REQUEST, message)
}

/// Parses one JSON-RPC 2.0 request object.
pub fn parse_call(value: Json) -> Result<Call, Refusal> {
    let invalid = |message: &str, id: &Json| Box::new((invalid_request(message), id.clone()));
    let Json::Object(object) = value else {
        return Err(invalid("the request must be a JSON-RPC 2.0 object", &Json::Null));
    };
    let id = object.get("id").cloned();
    if id.as_ref().is_some_and(|id| !(id.is_null() || id.is_number() || id.is_string())) {
        return Err(invalid("`id` must be a number, a string or null", &Json::Null));
    }
    let id_or_null = id.clone().unwrap_or(Json::Null);
    if let Some(extra) = object.keys().find(|k| !["jsonrpc", "method", "params", "id"].contains(&k.as_str())) {
        return Err(invalid(&format!("unknown member `{extra}` in the request"), &id_or_null));
    }
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(invalid("`jsonrpc` must be \"2.0\"", &id_or_null));
    }
    let Some(Json::String(method)) = object.get("method") else {
        return Err(invalid("`method` must be a string", &id_or_null));
    };
    let params = match object.get("params") {
        None | Some(Json::Null) => json!({}),
        Some(params @ Json::Object(_)) => params.clone(),
        Some(Json::Array(_)) => {
            let error = RpcError::new(400, INVALID_PARAMS, "positional params are not supported: use an object");
            return Err(Box::new((error.with_data(json!({"field": "params"})), id_or_null)));
        }
        Some(_) => {
            let error = RpcError::new(400, INVALID_PARAMS, "`params` must be an object");
            return Err(Box::new((error.with_data(json!({"field": "params"})), id_or_null)));
        }
    };
    Ok(Call { method: method.clone(), params, id })
}

/// The success answer.
pub fn result_response(result: Json, id: Json) -> Response {
    Response::ok(&result_object(result, id))
}

/// The success answer object.
pub fn result_object(result: Json, id: Json) -> Json {
    json!({"jsonrpc": "2.0", "result": result, "id": id})
}

/// The error answer object.
pub fn error_object(error: &RpcError, id: Json) -> Json {
    let mut object = json!({"code": error.code, "message": error.message});
    if let Some(data) = &error.data {
        object["data"] = data.clone();
    }
    json!({"jsonrpc": "2.0", "error": object, "id": id})
}

/// The error answer, with the error's HTTP status and headers.
pub fn error_response(error: &RpcError, id: Json) -> Response {
    let mut response = Response::json(error.status, &error_object(error, id));
    for (name, value) in &error.headers {
        response = response.with_header(name, value.clone());
    }
    response
}

/// Answers a JSON-RPC body with `run(method, params)`; errors of `run` map as in the module docs.
pub fn answer(body: &[u8], run: impl FnOnce(&str, &Json) -> Result<Json, ApiError>) -> Response {
    match parse(body) {
        Err(rejected) => error_response(&rejected.0, rejected.1),
        Ok(call) => match run(&call.method, &call.params) {
            Ok(result) => result_response(result, call.answer_id()),
            Err(error) => error_response(&RpcError::from(&error), call.answer_id()),
        },
    }
}

/// Runs a control action POSTed to a resource (SPEC §1.2): 415 without a JSON content type, else the
/// JSON-RPC answer of [`answer`]. `run` gets the method and the params object; for a method it does not know
/// it returns [`unknown_method`].
pub fn dispatch(ctx: &Ctx, run: impl FnOnce(&str, &Json) -> Result<Json, ApiError>) -> Response {
    if !ctx.request.has_json_content_type() {
        return ApiError::UnsupportedMediaType.into();
    }
    answer(&ctx.request.body, run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str, run: impl FnOnce(&str, &Json) -> Result<Json, ApiError>) -> (u16, Json) {
        let response = answer(body.as_bytes(), run);
        (response.status, serde_json::from_slice(&response.body).unwrap())
    }

    fn echo(method: &str, params: &Json) -> Result<Json, ApiError> {
        match method {
            "echo" => Ok(json!({"params": params})),
            "missing" => Err(ApiError::NotFound("no such thing".into())),
            "denied" => Err(ApiError::Forbidden("no".into())),
            "anonymous" => Err(ApiError::Unauthorized("who are you".into())),
            "conflict" => Err(ApiError::conflict("already_accepted", "twice")),
            "invalid" => Err(ApiError::invalid_field("worker", "must be an integer")),
            "broken" => Err(ApiError::internal("SELECT secret")),
            "limited" => Err(ApiError::TooManyRequests { retry_after: 1.5 }),
            other => Err(unknown_method(other)),
        }
    }

    #[test]
    fn successful_calls_echo_the_id() {
        let (status, body) = call(r#"{"jsonrpc":"2.0","method":"echo","params":{"a":1},"id":7}"#, echo);
        assert_eq!(status, 200);
        assert_eq!(body, json!({"jsonrpc": "2.0", "result": {"params": {"a": 1}}, "id": 7}));
        let (status, body) = call(r#"{"jsonrpc":"2.0","method":"echo","id":"x"}"#, echo);
        assert_eq!((status, &body["result"]["params"], &body["id"]), (200, &json!({}), &json!("x")));
        let (_, body) = call(r#"{"jsonrpc":"2.0","method":"echo","params":null}"#, echo);
        assert_eq!(body["id"], Json::Null);
    }

    #[test]
    fn envelope_errors() {
        let cases = [
            ("{", 400, PARSE_ERROR),
            ("[]", 400, INVALID_REQUEST),
            (r#"[{"jsonrpc":"2.0","method":"echo","id":1}]"#, 400, INVALID_REQUEST),
            ("3", 400, INVALID_REQUEST),
            (r#"{"method":"echo","id":1}"#, 400, INVALID_REQUEST),
            (r#"{"jsonrpc":"1.0","method":"echo","id":1}"#, 400, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","method":5,"id":1}"#, 400, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","method":"echo","id":{}}"#, 400, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","method":"echo","id":1,"x":2}"#, 400, INVALID_REQUEST),
            (r#"{"jsonrpc":"2.0","method":"echo","params":[1],"id":1}"#, 400, INVALID_PARAMS),
            (r#"{"jsonrpc":"2.0","method":"echo","params":"x","id":1}"#, 400, INVALID_PARAMS),
        ];
        for (body, status, code) in cases {
            let (got_status, answer) = call(body, |_, _| panic!("must not run for {body}"));
            assert_eq!(got_status, status, "{body}");
            assert_eq!(answer["error"]["code"], code, "{body}");
            assert_eq!(answer["jsonrpc"], "2.0");
            assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
            assert!(answer.get("result").is_none());
        }
        let (_, answer) = call(r#"{"jsonrpc":"2.0","method":"echo","params":[1],"id":4}"#, echo);
        assert_eq!(answer["id"], 4, "the id is kept when it could be read");
    }

    #[test]
    fn action_errors_map_to_spec_codes() {
        let cases = [
            ("nope", 501, METHOD_NOT_FOUND, "unknown_method"),
            ("missing", 404, INVALID_REQUEST, "not_found"),
            ("denied", 403, INVALID_REQUEST, "forbidden"),
            ("anonymous", 403, INVALID_REQUEST, "unauthorized"),
            ("conflict", 400, INVALID_PARAMS, "already_accepted"),
            ("invalid", 400, INVALID_PARAMS, "validation_failed"),
            ("broken", 500, INTERNAL_ERROR, "internal_error"),
            ("limited", 429, RATE_LIMITED, "rate_limited"),
        ];
        for (method, status, code, native) in cases {
            let body = format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{{}},"id":9}}"#);
            let response = answer(body.as_bytes(), echo);
            let answer: Json = serde_json::from_slice(&response.body).unwrap();
            assert_eq!(response.status, status, "{method}: {answer}");
            assert_eq!(answer["error"]["code"], code, "{method}");
            assert_eq!(answer["error"]["data"]["code"], native, "{method}");
            assert_eq!(answer["id"], 9);
            assert!(!answer.to_string().contains("SELECT"), "internal causes never leak");
            if method == "invalid" {
                assert_eq!(answer["error"]["data"]["errors"][0]["field"], "worker");
            }
            if method == "limited" {
                assert!(response.headers.contains(&("retry-after".into(), "2".into())));
            }
        }
    }

    #[test]
    fn dispatch_needs_json_content_type() {
        use crate::http::Request;
        use crate::platform::Platform;
        let platform = crate::testing::TestPlatform::new("control-dispatch");
        let body = br#"{"jsonrpc":"2.0","method":"echo","id":1}"#.to_vec();
        let plain = Request { method: "POST".into(), body: body.clone(), ..Request::default() };
        assert_eq!(dispatch(&Ctx::new(&platform, plain), echo).status, 415);
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        let json = Request { method: "POST".into(), body, headers, ..Request::default() };
        assert_eq!(dispatch(&Ctx::new(&platform, json), echo).status, 200);
        let _ = platform.open_kv();
    }
}
