//! Project-W's wire: JSON answers with `Content-Type: application/json` exactly (its runner compares the
//! string), errors as `{"detail": "..."}`, and FastAPI's 422 lists `{"detail": [{type, loc, msg, input}]}`.

use crate::error::ApiError;
use crate::http::Response;
use serde::Serialize;
use serde_json::{Value as Json, json};

/// The one content type of every JSON answer, without parameters.
pub const JSON: &str = "application/json";

/// A JSON answer.
pub fn json(status: u16, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    Response::raw(status, JSON, body)
}

/// 200 with a JSON body.
pub fn ok(value: &impl Serialize) -> Response {
    json(200, value)
}

/// 200 `"Success"`, the answer of most of Project-W's changes.
pub fn success() -> Response {
    ok(&"Success")
}

/// A refusal in Project-W's shape: a status and its `detail` (a string, or FastAPI's list for 422).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub detail: Json,
    /// 401s of bearer authentication carry `WWW-Authenticate: Bearer`.
    pub challenge: bool,
}

impl Refusal {
    /// A refusal with a human `detail`.
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Self { status, detail: Json::String(detail.into()), challenge: status == 401 }
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, detail)
    }

    /// 422 with FastAPI's list of validation errors.
    pub fn unprocessable(errors: Vec<Json>) -> Self {
        Self { status: 422, detail: Json::Array(errors), challenge: false }
    }

    /// 422 for one required parameter that is missing (`loc` e.g. `["query", "session_token"]`).
    pub fn missing(loc: &[&str]) -> Self {
        Self::unprocessable(vec![json!({"type": "missing", "loc": loc, "msg": "Field required", "input": null})])
    }

    /// 422 for one invalid value.
    pub fn invalid(kind: &str, loc: &[&str], msg: impl Into<String>, input: Json) -> Self {
        Self::unprocessable(vec![json!({"type": kind, "loc": loc, "msg": msg.into(), "input": input})])
    }

    /// The response.
    pub fn response(&self) -> Response {
        let response = json(self.status, &json!({"detail": self.detail}));
        if self.challenge { response.with_header("www-authenticate", "Bearer") } else { response }
    }
}

impl From<ApiError> for Refusal {
    /// Conveyor's errors in Project-W's shape: the same status, the detail text (internal causes are logged
    /// and answered as FastAPI answers an unhandled exception, a bare 500).
    fn from(error: ApiError) -> Self {
        error.log_internal();
        match &error {
            ApiError::NotFound(_) if error.to_string().starts_with("no route for") => Self::new(404, "Not Found"),
            ApiError::MethodNotAllowed => Self::new(405, "Method Not Allowed"),
            ApiError::Internal(_) => Self::new(500, "Internal Server Error"),
            ApiError::Validation { errors, .. } => Self::unprocessable(
                errors
                    .iter()
                    .map(|e| {
                        let loc: Vec<&str> = std::iter::once("body").chain(e.field.split('.')).collect();
                        json!({"type": "value_error", "loc": loc, "msg": e.message, "input": null})
                    })
                    .collect(),
            ),
            _ => Self {
                status: error.status(),
                detail: Json::String(error.to_string()),
                challenge: error.status() == 401,
            },
        }
    }
}

/// The error answer of the component's route table (404, 405, 413 and anything a handler let through).
pub fn error(error: &ApiError) -> Response {
    Refusal::from(error.clone()).response()
}

/// A JSON request body as FastAPI reads it: absent or not JSON is a 422 list, as is a value of another
/// shape (`body` names the model for the message).
pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::missing(&["body"]));
    }
    let value: Json = serde_json::from_slice(bytes).map_err(|error| {
        Refusal::invalid("json_invalid", &["body", "0"], "JSON decode error", json!({"error": error.to_string()}))
    })?;
    serde_json::from_value(value.clone()).map_err(|error| {
        let text = error.to_string();
        let field = text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
        match field {
            Some(field) => Refusal::missing(&["body", field]),
            None => Refusal::invalid("value_error", &["body"], format!("Value error, {text}"), value),
        }
    })
}

/// A required query parameter.
pub fn query_param(pairs: &[(String, String)], name: &str) -> Result<String, Refusal> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .ok_or_else(|| Refusal::missing(&["query", name]))
}

/// A required integer query parameter.
pub fn query_int(pairs: &[(String, String)], name: &str) -> Result<i64, Refusal> {
    let text = query_param(pairs, name)?;
    text.trim().parse().map_err(|_| {
        Refusal::invalid(
            "int_parsing",
            &["query", name],
            "Input should be a valid integer, unable to parse string as an integer",
            Json::String(text),
        )
    })
}

/// A required boolean query parameter, as pydantic reads one.
pub fn query_bool(pairs: &[(String, String)], name: &str) -> Result<bool, Refusal> {
    let text = query_param(pairs, name)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(Refusal::invalid(
            "bool_parsing",
            &["query", name],
            "Input should be a valid boolean, unable to interpret input",
            Json::String(text),
        )),
    }
}

/// A JSON array of job ids (the body of `/jobs/abort` and `/jobs/delete`).
pub fn id_list(bytes: &[u8]) -> Result<Vec<i64>, Refusal> {
    body::<Vec<i64>>(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_the_exact_content_type_and_detail_shapes() {
        let response = success();
        assert_eq!(response.headers, vec![("content-type".to_string(), "application/json".to_string())]);
        assert_eq!(response.body, b"\"Success\"");
        let refusal = Refusal::new(401, "Not authenticated").response();
        assert!(refusal.headers.contains(&("www-authenticate".into(), "Bearer".into())));
        let missing = Refusal::missing(&["query", "session_token"]).response();
        let body: Json = serde_json::from_slice(&missing.body).unwrap();
        assert_eq!(
            body,
            json!({"detail": [{"type": "missing", "loc": ["query", "session_token"], "msg": "Field required", "input": null}]})
        );
        assert_eq!(Refusal::from(ApiError::internal("boom")).detail, json!("Internal Server Error"));
    }

    #[test]
    fn bodies_and_queries_refuse_like_fastapi() {
        assert_eq!(body::<Vec<i64>>(b"").unwrap_err(), Refusal::missing(&["body"]));
        assert_eq!(body::<Vec<i64>>(b"[1,2]").unwrap(), vec![1, 2]);
        assert_eq!(body::<Vec<i64>>(b"{").unwrap_err().status, 422);
        let pairs = vec![("a".to_string(), "yes".to_string()), ("n".to_string(), "x".to_string())];
        assert!(query_bool(&pairs, "a").unwrap());
        assert_eq!(query_int(&pairs, "n").unwrap_err().status, 422);
        assert_eq!(query_param(&pairs, "b").unwrap_err(), Refusal::missing(&["query", "b"]));
    }
}
