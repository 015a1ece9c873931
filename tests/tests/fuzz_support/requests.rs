//! Requests from an OpenAPI document's operations: each operation's path with generated segments, its query
//! parameters (and some it does not name), its headers, and a body in one of its content types (or in none
//! it accepts), sent by one of several callers.

use super::encode;
use super::schema::{CALLER_TOKEN, Document, Mode, any_json, hostile_text, string, value};
use conveyor_core::Request;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use serde_json::Value as Json;
use std::fmt;
use std::sync::Arc;

/// Who sends a request: the headers that say so, and the token a body may carry for them.
#[derive(Clone, Debug)]
pub struct Caller {
    pub label: &'static str,
    pub headers: Vec<(String, String)>,
    pub token: Option<String>,
}

/// One generated request.
#[derive(Clone)]
pub struct Case {
    /// The index of its caller in the test's list (whose credentials change when the data is seeded anew).
    pub caller: usize,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if !self.query.is_empty() {
            write!(f, "?{}", self.query)?;
        }
        write!(f, " as caller {} {:?} body {:?}", self.caller, self.headers, String::from_utf8_lossy(&self.body))
    }
}

impl Case {
    /// The request, with the credentials of its caller among `callers`.
    pub fn request(&self, callers: &[Caller]) -> Request {
        let mut headers: Vec<(String, String)> = callers[self.caller].headers.clone();
        headers.extend(self.headers.iter().cloned());
        let headers = headers.into_iter().map(|(name, value)| (name.to_ascii_lowercase(), value)).collect();
        let token = callers[self.caller].token.as_deref().unwrap_or_default();
        let body = match std::str::from_utf8(&self.body) {
            Ok(text) if text.contains(CALLER_TOKEN) => text.replace(CALLER_TOKEN, token).into_bytes(),
            _ => self.body.clone(),
        };
        Request {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers,
            body,
            client_addr: Some("192.0.2.7:4711".into()),
            base_url: "http://conveyor.test".into(),
        }
    }
}

/// The values a path segment named `name` takes: the seeded names and ids for it, and anything else.
pub type Seeds = fn(&str) -> Vec<String>;

/// Requests to every operation of `doc` but those `skip` names (`METHOD /path`), from each of `callers`.
pub fn cases(doc: &Arc<Document>, callers: usize, seeds: Seeds, skip: &[&str]) -> BoxedStrategy<Case> {
    let mut operations = Vec::new();
    let paths = doc.json["paths"].as_object().expect("the document has paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let method = method.to_uppercase();
            if !["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"].contains(&method.as_str())
                || skip.contains(&format!("{method} {path}").as_str())
            {
                continue;
            }
            let mut parameters: Vec<Json> =
                item.get("parameters").and_then(Json::as_array).cloned().unwrap_or_default();
            parameters.extend(operation.get("parameters").and_then(Json::as_array).cloned().unwrap_or_default());
            let parameters = parameters.iter().map(|p| doc.resolve(p).clone()).collect();
            operations.push(operation_case(doc, &method, path, operation, parameters, callers, seeds));
        }
    }
    assert!(!operations.is_empty(), "no operations to generate requests for");
    proptest::strategy::Union::new(operations).boxed()
}

fn operation_case(
    doc: &Arc<Document>,
    method: &str,
    path: &str,
    operation: &Json,
    parameters: Vec<Json>,
    callers: usize,
    seeds: Seeds,
) -> BoxedStrategy<Case> {
    let of = |place: &str| -> Vec<Json> { parameters.iter().filter(|p| p["in"] == place).cloned().collect() };
    let method = prop_oneof![20 => Just(method.to_string()), 1 => select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]).prop_map(str::to_string)];
    (
        0..callers,
        method,
        path_of(path, seeds),
        query(doc, of("query")),
        headers(doc, of("header")),
        body(doc, operation),
        proptest::option::weighted(0.1, credential()),
    )
        .prop_map(|(caller, method, path, query, mut headers, (content_type, body), credential)| {
            headers.extend(content_type.map(|value| ("content-type".to_string(), value)));
            headers.extend(credential);
            Case { caller, method, path, query, headers, body }
        })
        .boxed()
}

/// The path with each `{name}` a seeded value or any text, percent-encoded as a client would send it.
fn path_of(template: &str, seeds: Seeds) -> BoxedStrategy<String> {
    let segments: Vec<BoxedStrategy<String>> = template
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let seeded = seeds(name);
                let any = prop_oneof![hostile_text(), (-3i64..40).prop_map(|n| n.to_string())];
                let any = any.prop_filter("a segment is not empty", |s| !s.trim().is_empty());
                if seeded.is_empty() {
                    any.prop_map(|s| encode(&s)).boxed()
                } else {
                    prop_oneof![3 => select(seeded), 1 => any].prop_map(|s| encode(&s)).boxed()
                }
            }
            None => Just(segment.to_string()).boxed(),
        })
        .collect();
    segments.prop_map(|segments| format!("/{}", segments.join("/"))).boxed()
}

/// `key=value&…`, each side percent-encoded.
fn form(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(key, value)| format!("{}={}", encode(key), encode(value))).collect::<Vec<_>>().join("&")
}

/// Query parameters: `(name, value)` in order.
type Pairs = Vec<(String, String)>;

/// The operation's required query parameters (each left out now and then) and a few of its optional ones,
/// with near-valid values, and now and then one it does not name (any member name with any operator).
fn query(doc: &Arc<Document>, parameters: Vec<Json>) -> BoxedStrategy<String> {
    let (required, optional): (Vec<Json>, Vec<Json>) = parameters.into_iter().partition(|p| p["required"] == true);
    let required: Vec<BoxedStrategy<Option<Pairs>>> =
        required.iter().map(|p| proptest::option::weighted(0.95, parameter(doc, p)).boxed()).collect();
    let optional: Vec<BoxedStrategy<Pairs>> = optional.iter().map(|p| parameter(doc, p)).collect();
    let count = optional.len();
    let operators = vec!["", "__eq", "__ne", "__lt", "__le", "__gt", "__ge", "__contains", "__in", "__notin", "__x"];
    let stranger = (select(doc.keys.clone()), select(operators), hostile_text())
        .prop_map(|(key, operator, value)| vec![(format!("{key}{operator}"), value)]);
    let chosen = subsequence((0..count).collect::<Vec<_>>(), 0..=count.min(4));
    let optional = std::rc::Rc::new(optional);
    (required, chosen, proptest::option::weighted(0.3, stranger))
        .prop_flat_map(move |(required, chosen, stranger)| {
            let picked: Vec<BoxedStrategy<Pairs>> = chosen.iter().map(|&i| optional[i].clone()).collect();
            picked.prop_map(move |picked| {
                let mut pairs: Vec<(String, String)> = required.iter().flatten().flatten().cloned().collect();
                pairs.extend(picked.into_iter().flatten());
                pairs.extend(stranger.clone().into_iter().flatten());
                form(&pairs)
            })
        })
        .boxed()
}

/// One parameter's `(name, value)` pairs: an array repeats the name.
fn parameter(doc: &Arc<Document>, parameter: &Json) -> BoxedStrategy<Vec<(String, String)>> {
    let name = parameter["name"].as_str().unwrap_or_default().to_string();
    let schema = parameter.get("schema").cloned().unwrap_or(Json::Null);
    value(doc, &schema, 0, Mode::Loose)
        .prop_map(move |value| match value {
            Json::Array(items) => items.iter().map(|item| (name.clone(), text_of(item))).collect(),
            other => vec![(name.clone(), text_of(&other))],
        })
        .boxed()
}

/// A JSON value as query or form text.
fn text_of(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn headers(doc: &Arc<Document>, parameters: Vec<Json>) -> BoxedStrategy<Vec<(String, String)>> {
    let each: Vec<BoxedStrategy<Option<(String, String)>>> = parameters
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            proptest::option::of(string(doc, None).prop_map(move |value| (name.clone(), value))).boxed()
        })
        .collect();
    each.prop_map(|headers| headers.into_iter().flatten().filter(|(_, v)| !v.contains(['\r', '\n'])).collect()).boxed()
}

/// A content type and body: in one of the operation's content types, shaped by its schema, or JSON of any
/// shape, or bytes that are no JSON, or nothing.
fn body(doc: &Arc<Document>, operation: &Json) -> BoxedStrategy<(Option<String>, Vec<u8>)> {
    let content = operation.pointer("/requestBody/content").and_then(Json::as_object).cloned().unwrap_or_default();
    let mut shaped: Vec<BoxedStrategy<(Option<String>, Vec<u8>)>> = content
        .iter()
        .map(|(content_type, media)| {
            let schema = media.get("schema").cloned().unwrap_or(Json::Null);
            let content_type = content_type.clone();
            prop_oneof![value(doc, &schema, 0, Mode::Strict), value(doc, &schema, 0, Mode::Loose)]
                .prop_map(move |value| {
                    let (declared, bytes) = encoded(&content_type, &value);
                    (Some(declared), bytes)
                })
                .boxed()
        })
        .collect();
    let json = Some("application/json".to_string());
    let json2 = json.clone();
    let others: Vec<BoxedStrategy<(Option<String>, Vec<u8>)>> = vec![
        any_json(doc).prop_map(move |value| (json.clone(), value.to_string().into_bytes())).boxed(),
        (
            proptest::option::of(
                select(vec![
                    "application/json",
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=b",
                ])
                .prop_map(str::to_string),
            ),
            proptest::collection::vec(any::<u8>(), 0..64),
        )
            .boxed(),
        select(vec![
            "{",
            "[]",
            "{\"a\":",
            "nul",
            "{\"a\":1,\"a\":2}",
            "\u{feff}{}",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        ])
        .prop_map(move |text| (json2.clone(), text.as_bytes().to_vec()))
        .boxed(),
        Just((None, Vec::new())).boxed(),
    ];
    if shaped.is_empty() {
        return prop_oneof![3 => Just((None, Vec::new())), 1 => proptest::strategy::Union::new(others)].boxed();
    }
    let weight = shaped.len() as u32;
    shaped.push(proptest::strategy::Union::new(others).boxed());
    let weights: Vec<(u32, BoxedStrategy<_>)> =
        shaped.into_iter().enumerate().map(|(i, s)| (if i < weight as usize { 6 } else { 2 }, s)).collect();
    proptest::strategy::Union::new_weighted(weights).boxed()
}

/// A value in a content type: JSON as it is, a form's members as pairs, a multipart form's members as parts
/// (a member that is no text becomes its JSON).
fn encoded(content_type: &str, value: &Json) -> (String, Vec<u8>) {
    let members = |value: &Json| -> Vec<(String, String)> {
        match value {
            Json::Object(map) => map.iter().map(|(k, v)| (k.clone(), text_of(v))).collect(),
            other => vec![("value".into(), text_of(other))],
        }
    };
    match content_type {
        "application/x-www-form-urlencoded" => (content_type.to_string(), form(&members(value)).into_bytes()),
        "multipart/form-data" => {
            let boundary = "conveyor-fuzz-boundary";
            let mut body = Vec::new();
            for (name, text) in members(value) {
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
                );
                if name == "audio_file" || name == "file" {
                    body.extend_from_slice(b"; filename=\"a.wav\"\r\nContent-Type: audio/wav");
                }
                body.extend_from_slice(format!("\r\n\r\n{text}\r\n").as_bytes());
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            (format!("multipart/form-data; boundary={boundary}"), body)
        }
        "application/json" => (content_type.to_string(), value.to_string().into_bytes()),
        // Text: a string as it is (JSON carried as text is already written out), anything else as JSON.
        _ => (content_type.to_string(), text_of(value).into_bytes()),
    }
}

/// A credential header of a malformed or unknown kind (it counts where the caller sent none of its own).
fn credential() -> BoxedStrategy<(String, String)> {
    let pairs: Vec<(&str, &str)> = vec![
        ("authorization", "Bearer "),
        ("authorization", "Bearer a b c"),
        ("authorization", "Token "),
        ("authorization", "Token nope"),
        ("authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="),
        ("authorization", "Basic !!!"),
        ("authorization", "Basic Og=="),
        ("authorization", "Worker 1"),
        ("authorization", "Worker :"),
        ("authorization", "Worker 99999999999999999999:x"),
        ("authorization", "Worker -1:x"),
        ("authorization", "worker 1:\u{0}"),
        ("authorization", "Digest x"),
        ("x-worker-id", "abc"),
        ("x-worker-id", "99999999999999999999"),
        ("x-secret", "x"),
        ("cookie", "session="),
        ("cookie", "session=x; session=y"),
        ("cookie", "token=%ZZ"),
        ("cookie", ";;=;"),
        ("origin", "https://evil.example"),
        ("last-event-id", "-1"),
        ("last-event-id", "99999999999999999999"),
    ];
    select(pairs).prop_map(|(name, value)| (name.to_string(), value.to_string())).boxed()
}
