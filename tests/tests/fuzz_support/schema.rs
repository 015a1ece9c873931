//! JSON values from an OpenAPI document's schemas, as proptest strategies: mostly what the schema describes
//! (so requests get past the first check), with wrong types, missing required members, unknown members,
//! out-of-range numbers and hostile strings mixed in ("structurally near-valid").

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value as Json, json};
use std::sync::Arc;

/// How deep `$ref`s and nested containers are followed before a value is cut short.
const MAX_DEPTH: u32 = 5;

/// Stands for the caller's own token in a generated body; the request puts the token in its place.
pub const CALLER_TOKEN: &str = "{caller-token}";
/// Members that carry a credential in the body (RhodeCode's `api_key`): the caller's own token when strict,
/// half the time when near-valid, so that such calls get past authentication.
const CREDENTIAL_MEMBERS: &[&str] = &["api_key"];

/// One document and the words it uses: every member name (for unknown and free-form members) and every
/// enumerated string (for free text that means something somewhere).
pub struct Document {
    pub json: Json,
    pub keys: Vec<String>,
    pub words: Vec<String>,
}

impl Document {
    /// The document with `extra_words` and `extra_keys` that it does not name itself (seeded names, the
    /// arguments of methods whose arguments the document leaves free).
    pub fn new(json: Json, extra_words: &[&str], extra_keys: &[&str]) -> Arc<Document> {
        let (mut keys, mut words) = (Vec::new(), Vec::new());
        collect_words(&json, &mut keys, &mut words);
        words.extend(extra_words.iter().map(|word| word.to_string()));
        keys.extend(extra_keys.iter().map(|key| key.to_string()));
        for list in [&mut keys, &mut words] {
            list.sort();
            list.dedup();
        }
        Arc::new(Document { json, keys, words })
    }

    /// A schema with its `$ref` followed (local references only).
    pub fn resolve<'a>(&'a self, schema: &'a Json) -> &'a Json {
        let mut schema = schema;
        for _ in 0..8 {
            match schema.get("$ref").and_then(Json::as_str).and_then(|r| r.strip_prefix('#')) {
                Some(pointer) => schema = self.json.pointer(pointer).unwrap_or(&Json::Null),
                None => break,
            }
        }
        schema
    }
}

fn collect_words(value: &Json, keys: &mut Vec<String>, words: &mut Vec<String>) {
    match value {
        Json::Object(map) => {
            if let Some(Json::Object(properties)) = map.get("properties") {
                keys.extend(properties.keys().cloned());
            }
            if let Some(Json::Array(values)) = map.get("enum") {
                words.extend(values.iter().filter_map(Json::as_str).map(str::to_string));
            }
            if let Some(Json::String(constant)) = map.get("const") {
                words.push(constant.clone());
            }
            map.values().for_each(|v| collect_words(v, keys, words));
        }
        Json::Array(items) => items.iter().for_each(|v| collect_words(v, keys, words)),
        _ => {}
    }
}

/// How far a value may stray from its schema.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Valid as the schema says, with plain strings and small numbers: such requests get past validation,
    /// create data and reach the code behind it.
    Strict,
    /// Near-valid: valid most of the time, anything at all now and then.
    Loose,
}

/// A value of `schema` in `mode`.
pub fn value(doc: &Arc<Document>, schema: &Json, depth: u32, mode: Mode) -> BoxedStrategy<Json> {
    if depth > MAX_DEPTH {
        return scalar(doc).boxed();
    }
    match mode {
        Mode::Strict => valid(doc, schema, depth, mode),
        Mode::Loose => prop_oneof![12 => valid(doc, schema, depth, mode), 1 => scalar(doc), 1 => any_json(doc)].boxed(),
    }
}

/// A value shaped like `schema` says (its strings and numbers still hostile where the schema allows).
fn valid(doc: &Arc<Document>, schema: &Json, depth: u32, mode: Mode) -> BoxedStrategy<Json> {
    let schema = doc.resolve(schema).clone();
    if let Some(constant) = schema.get("const") {
        return Just(constant.clone()).boxed();
    }
    if let Some(Json::Array(values)) = schema.get("enum")
        && !values.is_empty()
    {
        return select(values.clone()).boxed();
    }
    // JSON carried as text (`contentMediaType: application/json`): the value of its schema, written out.
    if let Some(content) = schema.get("contentSchema") {
        return valid(doc, content, depth + 1, mode).prop_map(|value| Json::String(value.to_string())).boxed();
    }
    if let Some(Json::Array(examples)) = schema.get("examples")
        && !examples.is_empty()
    {
        let examples = select(examples.clone());
        return match mode {
            Mode::Strict => examples.boxed(),
            Mode::Loose => {
                let mut plain = schema.clone();
                plain.as_object_mut().map(|members| members.remove("examples"));
                prop_oneof![examples, valid(doc, &plain, depth, mode)].boxed()
            }
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Json::Array(alternatives)) = schema.get(key)
            && !alternatives.is_empty()
        {
            let each: Vec<BoxedStrategy<Json>> = alternatives.iter().map(|a| valid(doc, a, depth + 1, mode)).collect();
            return proptest::strategy::Union::new(each).boxed();
        }
    }
    if let Some(Json::Array(parts)) = schema.get("allOf") {
        return valid(doc, &merged(doc, parts), depth + 1, mode);
    }
    match schema.get("type") {
        Some(Json::Array(types)) if !types.is_empty() => {
            let each: Vec<BoxedStrategy<Json>> = types
                .iter()
                .map(|t| {
                    let mut one = schema.clone();
                    one["type"] = t.clone();
                    valid(doc, &one, depth, mode)
                })
                .collect();
            proptest::strategy::Union::new(each).boxed()
        }
        Some(Json::String(kind)) => match kind.as_str() {
            "string" if mode == Mode::Strict => plain(doc).prop_map(Json::String).boxed(),
            "string" => string(doc, schema.get("format").and_then(Json::as_str)).prop_map(Json::String).boxed(),
            "integer" if mode == Mode::Strict => (0i64..10).prop_map(Json::from).boxed(),
            "integer" => integer(&schema).prop_map(Json::from).boxed(),
            "number" if mode == Mode::Strict => (0i64..10).prop_map(Json::from).boxed(),
            "number" => number().boxed(),
            "boolean" => any::<bool>().prop_map(Json::Bool).boxed(),
            "null" => Just(Json::Null).boxed(),
            "array" => array(doc, &schema, depth, mode),
            _ => object(doc, &schema, depth, mode),
        },
        _ if schema.get("properties").is_some() => object(doc, &schema, depth, mode),
        _ if mode == Mode::Strict => free_object(doc),
        _ => any_json(doc).boxed(),
    }
}

/// A value the schema leaves free (a method's arguments), strictly: an object of member names the API uses
/// with plain values.
fn free_object(doc: &Arc<Document>) -> BoxedStrategy<Json> {
    let plain_value = prop_oneof![
        plain(doc).prop_map(Json::String),
        (0i64..10).prop_map(Json::from),
        any::<bool>().prop_map(Json::Bool)
    ];
    proptest::collection::vec((select(doc.keys.clone()), plain_value), 1..5)
        .prop_map(|members| Json::Object(members.into_iter().collect()))
        .boxed()
}

/// `allOf`'s parts as one object schema (their members and required lists together).
fn merged(doc: &Document, parts: &[Json]) -> Json {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for part in parts.iter().map(|part| doc.resolve(part)) {
        if let Some(Json::Object(more)) = part.get("properties") {
            properties.extend(more.clone());
        }
        if let Some(Json::Array(names)) = part.get("required") {
            required.extend(names.iter().cloned());
        }
    }
    json!({"type": "object", "properties": properties, "required": required})
}

fn array(doc: &Arc<Document>, schema: &Json, depth: u32, mode: Mode) -> BoxedStrategy<Json> {
    let items = schema.get("items").cloned().unwrap_or(json!({}));
    if mode == Mode::Strict {
        return proptest::collection::vec(value(doc, &items, depth + 1, mode), 1..3).prop_map(Json::Array).boxed();
    }
    prop_oneof![
        8 => proptest::collection::vec(value(doc, &items, depth + 1, mode), 0..4),
        1 => proptest::collection::vec(value(doc, &items, depth + 1, mode), 4..40),
    ]
    .prop_map(Json::Array)
    .boxed()
}

/// An object of the schema's members: a required one is nearly always there (always when strict), an
/// optional one half the time, and now and then a member the schema does not name (never when strict).
fn object(doc: &Arc<Document>, schema: &Json, depth: u32, mode: Mode) -> BoxedStrategy<Json> {
    let required: Vec<&str> =
        schema.get("required").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str).collect();
    let members: Vec<BoxedStrategy<Option<(String, Json)>>> = schema
        .get("properties")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .map(|(name, member)| {
            let present = match (required.contains(&name.as_str()), mode) {
                (true, Mode::Strict) => 1.0,
                (true, Mode::Loose) => 0.95,
                (false, _) => 0.5,
            };
            let name = name.clone();
            let value = match (CREDENTIAL_MEMBERS.contains(&name.as_str()), mode) {
                (true, Mode::Strict) => Just(Json::from(CALLER_TOKEN)).boxed(),
                (true, Mode::Loose) => {
                    prop_oneof![Just(Json::from(CALLER_TOKEN)), value(doc, member, depth + 1, mode)].boxed()
                }
                (false, _) => value(doc, member, depth + 1, mode),
            };
            maybe(present, value.prop_map(move |v| (name.clone(), v)))
        })
        .collect();
    let extra = match schema.get("additionalProperties") {
        Some(Json::Object(more)) => value(doc, &Json::Object(more.clone()), depth + 1, mode),
        _ => any_json(doc).boxed(),
    };
    let unknown = maybe(if mode == Mode::Strict { 0.0 } else { 0.1 }, (select(doc.keys.clone()), extra));
    (members, unknown)
        .prop_map(|(members, unknown)| {
            let mut map: Map<String, Json> = members.into_iter().flatten().collect();
            if let Some((key, value)) = unknown {
                map.entry(key).or_insert(value);
            }
            Json::Object(map)
        })
        .boxed()
}

/// `Some` value with probability `p` (0 and 1 included, which proptest's `weighted` refuses).
fn maybe<T: std::fmt::Debug + Clone + 'static>(
    p: f64,
    strategy: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    if p >= 1.0 {
        strategy.prop_map(Some).boxed()
    } else if p <= 0.0 {
        Just(None).boxed()
    } else {
        proptest::option::weighted(p, strategy).boxed()
    }
}

/// A plain string: a word of the document (often an enumerated value) or a short lower-case name.
fn plain(doc: &Arc<Document>) -> BoxedStrategy<String> {
    prop_oneof![select(doc.words.clone()), "[a-z]{1,10}"].boxed()
}

/// Strings: the document's own words and the seeded names most of the time, else hostile text.
pub fn string(doc: &Arc<Document>, format: Option<&str>) -> BoxedStrategy<String> {
    let formatted: BoxedStrategy<String> = match format {
        Some("date-time") => {
            select(vec!["2026-12-02T10:00:00Z", "2026-12-02T10:00:00+14:00", "0000-01-01T00:00:00Z", "9999-12-31"])
                .prop_map(str::to_string)
                .boxed()
        }
        Some("email") => {
            select(vec!["ada@example.org", "a@b", "@", "x@example.org\r\nBcc: y@z"]).prop_map(str::to_string).boxed()
        }
        Some("uri") => select(vec!["https://example.org/hook", "http://127.0.0.1:1/", "ftp://x", "http://[::1]/"])
            .prop_map(str::to_string)
            .boxed(),
        _ => select(doc.words.clone()).boxed(),
    };
    prop_oneof![4 => formatted, 2 => select(doc.words.clone()), 3 => hostile_text()].boxed()
}

/// Text that has broken parsers before: empty, blank, huge, control characters, quotes, SQL and format
/// syntax, numbers out of range, cron patterns, intervals, time zones and URLs at their edges, unicode; and
/// any text.
pub fn hostile_text() -> BoxedStrategy<String> {
    prop_oneof![
        select(vec![
            "",
            " ",
            "0",
            "-1",
            "1.5",
            "1e309",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775809",
            "NaN",
            "null",
            "true",
            "'",
            "\"",
            "' OR '1'='1",
            "\"; DROP TABLE users; --",
            "-9223372036854775808",
            "--",
            "__",
            "@reboot",
            "0 0 29 2 1",
            "-1 days",
            "America/New_York",
            "Pacific/Apia",
            "http://127.0.0.1/",
            "http://[::1]:8080/x",
            "https://example.org/hook",
            "http://[",
            "http://a@b/",
            "%",
            "%25",
            "_",
            "\\",
            "a\u{0}b",
            "\u{202e}",
            "🦀",
            "é",
            "../../etc/passwd",
            "{{x}}",
            "* * * * *",
            "@daily",
            "1 day",
            "0 days",
            "99999999999999999999 days",
            "60 * * * *",
            "0 0 31 2 *",
            "Europe/Paris",
            "Mars/Olympus",
            ",",
            "a,b,,",
            "-",
            "--id",
            "id__in",
            "\r\n",
            "\t",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,24}",
        "\\PC{0,16}",
        (1usize..5000).prop_map(|n| "x".repeat(n)),
    ]
    .boxed()
}

fn integer(schema: &Json) -> BoxedStrategy<i64> {
    let bound = |key: &str| schema.get(key).and_then(Json::as_i64);
    let edges: Vec<i64> = [bound("minimum"), bound("maximum")]
        .into_iter()
        .flatten()
        .flat_map(|edge| [edge.saturating_sub(1), edge, edge.saturating_add(1)])
        .chain([0, -1, i64::MIN, i64::MAX, i64::from(i32::MAX) + 1])
        .collect();
    prop_oneof![6 => 0i64..30, 2 => select(edges), 1 => any::<i64>()].boxed()
}

fn number() -> BoxedStrategy<Json> {
    prop_oneof![
        (0i64..30).prop_map(Json::from),
        select(vec![0.5, -0.5, 1e-9, 1e300, -1e300, f64::MAX, f64::MIN_POSITIVE]).prop_map(Json::from),
        any::<f64>().prop_filter("JSON numbers are finite", |x| x.is_finite()).prop_map(Json::from),
    ]
    .boxed()
}

/// A JSON scalar of any type.
fn scalar(doc: &Arc<Document>) -> BoxedStrategy<Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        number(),
        string(doc, None).prop_map(Json::String),
    ]
    .boxed()
}

/// Any JSON value, nested a little, its member names the document's.
pub fn any_json(doc: &Arc<Document>) -> BoxedStrategy<Json> {
    let keys = doc.keys.clone();
    scalar(doc)
        .prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
                proptest::collection::vec((select(keys.clone()), inner), 0..4)
                    .prop_map(|members| Json::Object(members.into_iter().collect())),
            ]
        })
        .boxed()
}
