//! Framework-neutral request and response types and the JSON conventions of SPEC §1.

use crate::error::{ApiError, FieldError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Default request body limit (SPEC §1).
pub const BODY_LIMIT: usize = 1 << 20;
/// Body limit of bulk routes.
pub const BULK_BODY_LIMIT: usize = 16 << 20;
/// Body limit of the routes carrying one recipe or output (1 MiB of text, up to 6× that JSON-escaped).
pub const PAYLOAD_BODY_LIMIT: usize = 8 << 20;

/// An incoming request as a handler sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// The path without the query string, e.g. `/api/v1/users/7`.
    pub path: String,
    /// The raw query string without `?`.
    pub query: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `ip:port` of the client, from Spin's `spin-client-addr`.
    pub client_addr: Option<String>,
    /// The public base URL (`scheme://host`), from Spin's `spin-full-url`, used to build links.
    pub base_url: String,
}

impl Request {
    /// The first value of a header (name is case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The decoded query parameters in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes()).into_owned().collect()
    }

    /// The value of a cookie.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Parses the body as JSON of type `T` (SPEC §1): 415 without a JSON content type, 413 over `limit`,
    /// 400 `invalid_json` when malformed, 422 for unknown fields or values of the wrong type.
    pub fn json<T: DeserializeOwned>(&self, limit: usize) -> Result<T, ApiError> {
        if self.body.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if !self.has_json_content_type() {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&self.body)
    }

    /// Whether the public URL is https (the session cookie is then `Secure`).
    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// Whether the method may change state (anything but GET, HEAD and OPTIONS).
    pub fn is_unsafe_method(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }

    /// Whether a browser sent this request from another site: `Sec-Fetch-Site` says so, or, from browsers
    /// that do not send it, `Origin` (else `Referer`) names another host than the one addressed. A request
    /// with none of them (a script, a non-browser client) is not cross-site.
    pub fn is_cross_site(&self) -> bool {
        if let Some(site) = self.header("sec-fetch-site") {
            return !matches!(site.trim().to_ascii_lowercase().as_str(), "same-origin" | "none");
        }
        let Some(source) = self.header("origin").or_else(|| self.header("referer")) else { return false };
        let addressed =
            self.header("host").map(|host| host.trim().to_ascii_lowercase()).or_else(|| authority(&self.base_url));
        authority(source).is_none_or(|source| Some(source) != addressed)
    }

    /// True when the Content-Type is `application/json` (any parameters) or a `+json` type.
    pub fn has_json_content_type(&self) -> bool {
        self.header("content-type").is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
    }
}

/// Deserialises JSON, mapping serde's errors onto SPEC §1's codes: a body that is not JSON at all is
/// 400 `invalid_json` (even when serde noticed a type mismatch first), an unknown field 422 `unknown_field`,
/// anything else 422 `validation_failed` naming the field where serde says which.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        use serde_json::error::Category;
        let message = error.to_string();
        let malformed = || ApiError::bad_request("invalid_json", format!("malformed JSON: {message}"));
        match error.classify() {
            Category::Syntax | Category::Eof | Category::Io => malformed(),
            // Only on the error path: is the body JSON at all?
            Category::Data if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() => malformed(),
            Category::Data => {
                let text = message.split(" at line ").next().unwrap_or(&message).to_string();
                let named = |prefix: &str| text.strip_prefix(prefix).and_then(|rest| rest.split('`').next());
                match (named("unknown field `"), named("missing field `")) {
                    (Some(field), _) => ApiError::UnknownField(field.to_string()),
                    (None, field) => ApiError::Validation {
                        detail: text.clone(),
                        errors: vec![FieldError::new(field.unwrap_or("body"), text.clone())],
                    },
                }
            }
        }
    })
}

/// The lower-cased `host[:port]` of an absolute URL (`None` for `null` or a relative reference).
fn authority(url: &str) -> Option<String> {
    let (_, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    (!authority.is_empty()).then(|| authority.to_ascii_lowercase())
}

/// An outgoing response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

const JSON: &str = "application/json; charset=utf-8";

impl Response {
    /// A JSON response with the given status.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        Self { status, headers: vec![("content-type".into(), JSON.into())], body }
    }

    /// 200 with a JSON body.
    pub fn ok(value: &impl Serialize) -> Self {
        Self::json(200, value)
    }

    /// 201 with a JSON body.
    pub fn created(value: &impl Serialize) -> Self {
        Self::json(201, value)
    }

    /// 204 without a body.
    pub fn no_content() -> Self {
        Self { status: 204, headers: vec![], body: vec![] }
    }

    /// Any body with an explicit content type.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: vec![("content-type".into(), content_type.into())], body: body.into() }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The response body of an error (SPEC §1), logging internal causes.
    pub fn error(error: &ApiError) -> Self {
        error.log_internal();
        let mut response = Self::json(error.status(), &error.body());
        for (name, value) in error.headers() {
            response = response.with_header(name, value);
        }
        response
    }
}

/// A request body read chunk by chunk, as it arrives (the body of a [`crate::router::streamed`] route).
pub trait BodySource {
    /// The next chunk, or `None` at the end of the body.
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ApiError>;
}

/// A body already in memory, as one chunk (native tests, and routes whose body was read whole).
pub struct WholeBody(pub Option<Vec<u8>>);

impl BodySource for WholeBody {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(self.0.take().filter(|chunk| !chunk.is_empty()))
    }
}

/// Where a streamed answer goes: its head once, then its body chunk by chunk. A write fails when the client
/// has gone.
pub trait ResponseWriter {
    /// Sends the status and headers (`head.body` is ignored).
    fn head(&mut self, head: &Response) -> Result<(), ApiError>;
    /// Sends a piece of the body.
    fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError>;
}

/// A [`ResponseWriter`] that collects the answer in memory (native tests, and [`crate::router::Router::handle`]).
#[derive(Debug, Default)]
pub struct CollectedResponse(pub Option<Response>);

impl ResponseWriter for CollectedResponse {
    fn head(&mut self, head: &Response) -> Result<(), ApiError> {
        self.0 = Some(Response { body: Vec::new(), ..head.clone() });
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        let response = self.0.as_mut().ok_or_else(|| ApiError::internal("body written before the head"))?;
        response.body.extend_from_slice(bytes);
        Ok(())
    }
}

impl From<ApiError> for Response {
    fn from(error: ApiError) -> Self {
        Response::error(&error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    fn post(content_type: Option<&str>, body: &str) -> Request {
        let headers = content_type.map(|v| vec![("content-type".to_string(), v.to_string())]).unwrap_or_default();
        Request { method: "POST".into(), headers, body: body.as_bytes().to_vec(), ..Request::default() }
    }

    #[test]
    fn json_bodies_map_to_spec_errors() {
        let ok = post(Some("application/json; charset=utf-8"), r#"{"username":"a","password":"b"}"#);
        assert!(ok.json::<Login>(BODY_LIMIT).is_ok());
        assert_eq!(post(None, "{}").json::<Login>(BODY_LIMIT).unwrap_err(), ApiError::UnsupportedMediaType);
        assert_eq!(post(Some("text/plain"), "{}").json::<Login>(BODY_LIMIT).unwrap_err().status(), 415);
        for body in ["{\"username\":", "[1, 2", "nonsense"] {
            let malformed = post(Some("application/json"), body).json::<Login>(BODY_LIMIT).unwrap_err();
            assert_eq!((malformed.status(), malformed.code()), (400, "invalid_json"), "{body}");
        }
        let unknown = post(Some("application/json"), r#"{"username":"a","password":"b","x":1}"#);
        assert_eq!(unknown.json::<Login>(BODY_LIMIT).unwrap_err(), ApiError::UnknownField("x".into()));
        let wrong_type = post(Some("application/json"), r#"{"username":1,"password":"b"}"#);
        let wrong_type = wrong_type.json::<Login>(BODY_LIMIT).unwrap_err();
        assert!(
            matches!(&wrong_type, ApiError::Validation { errors, .. } if errors[0].field == "body"),
            "{wrong_type:?}"
        );
        let missing = post(Some("application/json"), r#"{"username":"a"}"#).json::<Login>(BODY_LIMIT).unwrap_err();
        assert!(
            matches!(&missing, ApiError::Validation { errors, .. } if errors[0].field == "password"),
            "{missing:?}"
        );
        let huge = post(Some("application/json"), &"x".repeat(11));
        assert_eq!(huge.json::<Login>(10).unwrap_err(), ApiError::PayloadTooLarge { limit: 10 });
    }

    #[test]
    fn headers_cookies_and_query_are_read_forgivingly() {
        let request = Request {
            query: "a=1&b=x%20y&a=2".into(),
            headers: vec![("Cookie".into(), "x=1; conveyor_session=abc".into())],
            ..Request::default()
        };
        assert_eq!(request.cookie("conveyor_session"), Some("abc"));
        assert_eq!(request.header("cookie"), Some("x=1; conveyor_session=abc"));
        let pairs = request.query_pairs();
        assert_eq!(pairs[1], ("b".to_string(), "x y".to_string()));
        assert_eq!(pairs.len(), 3);
    }

    #[test]
    fn cross_site_requests_are_told_by_fetch_metadata_then_origin_then_referer() {
        let with = |headers: &[(&str, &str)]| Request {
            method: "POST".into(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            base_url: "http://conveyor.example:3000".into(),
            ..Request::default()
        };
        let host = ("host", "Conveyor.Example:3000 ");
        for same in [
            vec![("sec-fetch-site", "same-origin")],
            vec![("Sec-Fetch-Site", "none")],
            vec![host, ("origin", "http://Conveyor.example:3000")],
            vec![("origin", "https://conveyor.example:3000")],
            vec![host, ("referer", "http://conveyor.example:3000/ui/page?x=1")],
            vec![host],
            vec![],
        ] {
            assert!(!with(&same).is_cross_site(), "{same:?}");
        }
        for cross in [
            vec![("sec-fetch-site", "cross-site"), ("origin", "http://conveyor.example:3000")],
            vec![("sec-fetch-site", "same-site")],
            vec![host, ("origin", "http://evil.example")],
            vec![host, ("origin", "null")],
            vec![host, ("origin", "http://conveyor.example:3001")],
            vec![host, ("referer", "https://evil.example/conveyor.example:3000")],
        ] {
            assert!(with(&cross).is_cross_site(), "{cross:?}");
        }
        assert!(post(None, "").is_unsafe_method());
        assert!(!Request { method: "GET".into(), ..Request::default() }.is_unsafe_method());
    }

    #[test]
    fn error_responses_carry_spec_headers() {
        let response = Response::error(&ApiError::Unauthorized("no credentials".into()));
        assert_eq!(response.status, 401);
        assert!(response.headers.contains(&("www-authenticate".into(), "Bearer".into())));
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body, serde_json::json!({"detail": "no credentials", "code": "unauthorized"}));
    }
}
