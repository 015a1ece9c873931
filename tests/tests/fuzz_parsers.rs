//! Property tests of every parser of client input in `conveyor-core` (issue 17; `docs/fuzzing.md`): the
//! collection query language, JSON-RPC envelopes, the wire-compatible surfaces' bodies and forms (task_tracker
//! and its git hook, Seed Scheduler, Project-W's JSON, OAuth2 form and multipart reader, RhodeCode's
//! arguments), and the schedules' cron, interval, time zone and endpoint rules. None may panic, whatever it is
//! given; where a parser has a contract beyond that (a query it accepts is valid SQL, a multipart body reads
//! the same in any chunking, a signature is valid exactly when it is the HMAC), the property states it.
//!
//! Bounded for CI by `PROPTEST_CASES` (default [`DEFAULT_CASES`] per property), from a fixed seed unless
//! `PROPTEST_RNG_SEED` names another.

mod fuzz_support;

use conveyor_core::compat::projectw::{accounts, bodies, multipart, settings::JobSettings, wire};
use conveyor_core::compat::{rhodecode, seed, tracker};
use conveyor_core::connection::NativeDb;
use conveyor_core::domain::schedule::{self, ScheduleInput};
use conveyor_core::query::{self, Resource, Scope};
use conveyor_core::{Request, control, store};
use fuzz_support::encode;
use fuzz_support::schema::hostile_text;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value as Json};

/// Cases per property when `PROPTEST_CASES` is unset.
const DEFAULT_CASES: u32 = 2000;
fn config() -> proptest::test_runner::Config {
    fuzz_support::config(DEFAULT_CASES)
}

// ----- inputs -----

/// Text that has broken parsers before, and any text at all.
fn text() -> BoxedStrategy<String> {
    hostile_text()
}

/// Member names the bodies of the compat surfaces and schedules use.
const KEYS: &[&str] = &[
    "accepted_tos",
    "alias",
    "assign",
    "assign_rate",
    "asr_settings",
    "auth_token",
    "chain",
    "clone_url",
    "cron_definition",
    "diarization",
    "email",
    "enabled",
    "endpoint",
    "frequency",
    "git_repo",
    "hash64",
    "hidden",
    "id",
    "interval_definition",
    "language",
    "level",
    "manager",
    "max_assign_time",
    "max_retries",
    "message",
    "method",
    "model",
    "motd",
    "name",
    "new_email",
    "new_password",
    "old_password",
    "password",
    "paused",
    "payload",
    "priority",
    "project",
    "public",
    "recipe",
    "requests",
    "result",
    "role",
    "scope",
    "secret",
    "since",
    "status",
    "submit",
    "submit_rate",
    "task",
    "timestamp",
    "timezone",
    "token",
    "username",
    "verification",
    "version",
    "webhook_secret",
    "worker",
    "jsonrpc",
    "params",
    "args",
    "repoid",
    "userid",
    "usersgroupid",
    "perm",
];

/// Any JSON value whose objects use [`KEYS`]; numbers of every size and sign.
fn json() -> BoxedStrategy<Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        prop_oneof![-3i64..40, any::<i64>()].prop_map(Json::from),
        any::<f64>().prop_filter("JSON numbers are finite", |x| x.is_finite()).prop_map(Json::from),
        text().prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![proptest::collection::vec(inner.clone(), 0..5).prop_map(Json::Array), object(inner),]
    })
    .boxed()
}

fn object(values: impl Strategy<Value = Json> + 'static) -> BoxedStrategy<Json> {
    proptest::collection::vec((select(KEYS), values), 0..7)
        .prop_map(|members| Json::Object(members.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
        .boxed()
}

/// A body: JSON (mostly an object), or bytes.
fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => object(json()).prop_map(|v| v.to_string().into_bytes()),
        2 => json().prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
    .boxed()
}

// ----- the query language -----

/// Every collection the API lists.
const RESOURCES: &[Resource] = &[
    store::tasks::RESOURCE,
    store::projects::RESOURCE,
    store::workers::RESOURCE,
    store::users::RESOURCE,
    store::tokens::RESOURCE,
    store::groups::RESOURCE,
    store::logs::RESOURCE,
    store::schedules::RESOURCE,
    store::schedules::FAILURES,
];

/// Query pairs for `resource`: its own field names with every operator, the paging and shaping parameters,
/// and strangers; values of every kind.
fn pairs(resource: &'static Resource) -> BoxedStrategy<Vec<(String, String)>> {
    let names: Vec<&'static str> = resource.fields.iter().map(|field| field.name).collect();
    let operators =
        vec!["", "__eq", "__ne", "__lt", "__le", "__gt", "__ge", "__contains", "__in", "__notin", "__", "__x"];
    let filter = (select(names.clone()), select(operators)).prop_map(|(name, op)| format!("{name}{op}"));
    let fixed = select(vec!["field", "order", "offset", "limit", "", "__in", "x__eq"]).prop_map(str::to_string);
    let key = prop_oneof![4 => filter, 2 => fixed, 1 => text()];
    let ordered =
        (any::<bool>(), select(names)).prop_map(|(down, name)| format!("{}{name}", if down { "-" } else { "" }));
    let number = prop_oneof![-2i64..60, any::<i64>()].prop_map(|n| n.to_string());
    let list = proptest::collection::vec(prop_oneof![number.clone(), text()], 0..5).prop_map(|items| items.join(","));
    let value = prop_oneof![
        number,
        ordered,
        list,
        select(vec!["on", "off", "true", "no", "1", "0"]).prop_map(str::to_string),
        text()
    ];
    proptest::collection::vec((key, value), 0..8).boxed()
}

thread_local! {
    /// The real schema, migrated once per test thread.
    static DB: NativeDb = NativeDb::memory().expect("an in-memory database");
}

fn resource_and_pairs() -> BoxedStrategy<(&'static Resource, Vec<(String, String)>)> {
    select((0..RESOURCES.len()).collect::<Vec<_>>())
        .prop_flat_map(|i| {
            let resource: &'static Resource = &RESOURCES[i];
            pairs(resource).prop_map(move |pairs| (resource, pairs))
        })
        .boxed()
}

proptest! {
    #![proptest_config(config())]

    /// A query the parser accepts runs as valid SQL on the real schema, and its page renders; one it refuses
    /// is a 400 `invalid_query`.
    #[test]
    fn an_accepted_query_runs_and_a_refused_one_is_a_400((resource, pairs) in resource_and_pairs()) {
        match query::parse(resource, &pairs, &[]) {
            Ok(parsed) => {
                let page = DB.with(|db| query::run(db, resource, &Scope::default(), &parsed));
                prop_assert!(page.is_ok(), "{pairs:?} on {}: {page:?}", resource.from);
                let request = Request { path: "/x".into(), query: "a=1&offset=3".into(), ..Request::default() };
                query::page_json(&page.unwrap(), &parsed, &request);
            }
            Err(error) => prop_assert_eq!((error.status(), error.code()), (400, "invalid_query"), "{:?}", pairs),
        }
    }

    /// JSON-RPC envelopes: accepted only as an object with `"jsonrpc": "2.0"` and a string method; refused as a
    /// 400 otherwise.
    #[test]
    fn json_rpc_envelopes_are_accepted_only_when_well_formed(bytes in body()) {
        match control::parse(&bytes) {
            Ok(call) => {
                let value: Json = serde_json::from_slice(&bytes).expect("accepted bodies are JSON");
                prop_assert_eq!(&value["jsonrpc"], "2.0");
                prop_assert_eq!(value["method"].as_str(), Some(call.method.as_str()));
            }
            Err(refusal) => prop_assert_eq!(refusal.0.status, 400),
        }
    }

    /// RhodeCode's arguments: every reader answers a value or a message.
    #[test]
    fn rhodecode_arguments_never_panic(args in object(json()), name in select(KEYS)) {
        let Json::Object(map) = args else { unreachable!() };
        let args = rhodecode::Args::new(map);
        let _ = args.only(&KEYS[..10]);
        let _ = (args.opt_reference(name), args.reference(name), args.opt_string(name), args.string(name));
        let _ = args.opt_bool(name);
    }

    /// task_tracker's bodies and what the handlers derive from them.
    #[test]
    fn task_tracker_bodies_never_panic(bytes in body()) {
        if let Ok(body) = tracker::body::<tracker::SubmitBody>(&bytes) { body.spec(); }
        if let Ok(body) = tracker::body::<tracker::BulkBody>(&bytes) { let _ = body.project_and_specs(); }
        if let Ok(body) = tracker::body::<tracker::ReleaseBody>(&bytes) { body.request(); }
        if let Ok(body) = tracker::body::<tracker::WorkerBody>(&bytes) { body.alias_or_default(); }
        if let Ok(body) = tracker::body::<tracker::ProjectBody>(&bytes) {
            let _ = (body.visibility(), body.input(), body.patch());
        }
        let _ = tracker::body::<tracker::LogBody>(&bytes);
        let _ = tracker::body::<tracker::LogQueryBody>(&bytes);
        let _ = tracker::body::<tracker::AccessBody>(&bytes);
        let _ = tracker::body::<tracker::SetPausedBody>(&bytes);
        let _ = tracker::body::<tracker::SecretBody>(&bytes);
        let _ = tracker::body::<tracker::WebhookSecretBody>(&bytes);
        let _ = tracker::body::<tracker::RoleBody>(&bytes);
        let _ = tracker::body::<tracker::CredentialsBody>(&bytes);
        if let Ok(value) = serde_json::from_slice::<Json>(&bytes) { tracker::secret_text(&value); }
    }

    /// task_tracker's numeric path segments: a positive id or a refusal.
    #[test]
    fn task_tracker_path_ids_are_positive_or_refused(segment in text()) {
        if let Ok(id) = tracker::path_id(&segment, "task") {
            prop_assert!(id > 0, "{segment:?} → {id}");
        }
    }

    /// task_tracker's git hook: a push event of any shape reads, and a signature is valid exactly when it is
    /// the body's HMAC-SHA256 under a non-empty secret (`sha256=` or bare, any case).
    #[test]
    fn git_hook_signatures_are_valid_exactly_when_they_are_the_hmac(
        secret in text(), bytes in body(), other in text(), prefixed in any::<bool>(), upper in any::<bool>()
    ) {
        if let Ok(push) = serde_json::from_slice::<tracker::GitPush>(&bytes) { push.to_default_branch(); }
        let hmac = conveyor_core::secrets::hex(&conveyor_core::secrets::hmac_sha256(secret.as_bytes(), &bytes));
        let hmac = if upper { hmac.to_uppercase() } else { hmac };
        let presented = if prefixed { format!("sha256={hmac}") } else { hmac.clone() };
        prop_assert_eq!(tracker::signature_valid(&secret, &bytes, &presented), !secret.is_empty());
        if !other.trim().eq_ignore_ascii_case(&hmac) && !other.trim().eq_ignore_ascii_case(&format!("sha256={hmac}")) {
            prop_assert!(!tracker::signature_valid(&secret, &bytes, &other), "{other:?}");
        }
    }

    /// Seed Scheduler's schedule bodies, in each kind of write, and the token request.
    #[test]
    fn seed_scheduler_bodies_never_panic(value in prop_oneof![3 => object(json()), 1 => json()]) {
        for write in [seed::Write::Create, seed::Write::Replace, seed::Write::Partial] {
            if let Ok(members) = seed::schedule_members(&value, write) {
                let _ = seed::schedule_input(&members);
            }
        }
        if let Ok(email) = seed::token_email(&value) {
            let _ = seed::usernames_for(&email).take(3).count();
        }
    }

    /// Project-W's JSON bodies and its OAuth2 login form.
    #[test]
    fn project_w_bodies_never_panic(bytes in body(), content_type in prop_oneof![
        select(vec!["application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "application/json", ""])
            .prop_map(str::to_string),
        text(),
    ]) {
        let _ = (bodies::register(&bytes), bodies::heartbeat(&bytes), bodies::result(&bytes), wire::id_list(&bytes));
        let _ = (accounts::signup_body(&bytes), accounts::reset_body(&bytes));
        let _ = (accounts::email_change_body(&bytes), accounts::password_change_body(&bytes));
        let _ = accounts::login_form(Some(&content_type), &bytes);
        if let Ok(settings) = JobSettings::from_request(&bytes) {
            prop_assert_eq!(JobSettings::from_text(&settings.to_text()), settings, "stored settings read back");
        }
    }

    /// Project-W's login form as a form: the members it names, encoded as a browser would.
    #[test]
    fn project_w_login_forms_never_panic(members in proptest::collection::vec(
        (select(vec!["username", "password", "scope", "grant_type", "client_id"]), text()), 0..6)
    ) {
        let form: Vec<String> = members.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let _ = accounts::login_form(Some("application/x-www-form-urlencoded"), form.join("&").as_bytes());
        let _ = accounts::login_email(&members.first().map(|(_, v)| v.clone()).unwrap_or_default());
        let _ = accounts::session_scope(&members.last().map(|(_, v)| v.clone()).unwrap_or_default());
    }

    /// Project-W's query parameters.
    #[test]
    fn project_w_query_parameters_never_panic(pairs in proptest::collection::vec((select(vec!["job_id", "x"]), text()), 0..3)) {
        let pairs: Vec<(String, String)> = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let _ = (wire::query_param(&pairs, "job_id"), wire::query_int(&pairs, "job_id"), wire::query_bool(&pairs, "job_id"));
        let _ = (bodies::sort_by_file_name(&pairs.first().map(|p| p.1.clone()).unwrap_or_default()), bodies::index("x", -1));
    }
}

// ----- multipart -----

/// A form part: its name, file name and data.
type Part = (String, Option<String>, Vec<u8>);
/// Damage to a body: at a position, flip, drop or insert a byte.
type Damage = (usize, u8, u8);

/// A form's parts: names, file names and data (data may hold CRLFs and dashes, never the delimiter).
fn parts() -> BoxedStrategy<Vec<Part>> {
    let data = proptest::collection::vec(prop_oneof![any::<u8>(), select(vec![b'\r', b'\n', b'-'])], 0..200);
    let part = ("[a-z_]{1,12}", proptest::option::of("[a-z0-9_.]{1,12}"), data);
    proptest::collection::vec(part, 0..4).boxed()
}

const BOUNDARY: &str = "fuzz-b0undary";

fn form(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(filename) = filename {
            body.extend_from_slice(format!("; filename=\"{filename}\"\r\nContent-Type: audio/wav").as_bytes());
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The reader's events with adjacent data joined (how a body is cut into chunks decides only where data
/// pieces split).
fn read(body: &[u8], cuts: &[usize]) -> Result<Vec<multipart::Event>, multipart::FormError> {
    let mut reader = multipart::FormReader::new(BOUNDARY);
    let mut events = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
        let cut = cut.clamp(at, body.len());
        reader.feed(&body[at..cut], &mut events)?;
        at = cut;
    }
    reader.finish()?;
    let mut joined: Vec<multipart::Event> = Vec::new();
    for event in events {
        match (joined.last_mut(), event) {
            (_, multipart::Event::Data(data)) if data.is_empty() => {}
            (Some(multipart::Event::Data(previous)), multipart::Event::Data(data)) => previous.extend(data),
            (_, event) => joined.push(event),
        }
    }
    Ok(joined)
}

/// Damages a body: flips, drops or inserts bytes at a few places.
fn damaged() -> BoxedStrategy<(Vec<Part>, Vec<Damage>)> {
    (parts(), proptest::collection::vec((any::<usize>(), 0u8..3, any::<u8>()), 0..4)).boxed()
}

proptest! {
    #![proptest_config(config())]

    /// A well-formed form reads back as the parts it was made of.
    #[test]
    fn a_multipart_form_reads_back_its_parts(parts in parts()) {
        let read = multipart::parse(&form(&parts), BOUNDARY).expect("a well-formed form");
        let read: Vec<Part> =
            read.into_iter().map(|(head, data)| (head.name, head.filename, data)).collect();
        prop_assert_eq!(read, parts);
    }

    /// Any body, damaged or not, reads the same whole or in any chunking, and never panics.
    #[test]
    fn a_multipart_body_reads_the_same_in_any_chunking(
        (parts, damage) in damaged(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut body = form(&parts);
        for (at, kind, byte) in damage {
            let at = at % (body.len() + 1);
            match kind {
                0 if at < body.len() => body[at] ^= byte | 1,
                1 if at < body.len() => { body.remove(at); }
                _ => body.insert(at, byte),
            }
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut % (body.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(read(&body, &[]), read(&body, &cuts));
    }

    /// Content types: a boundary of 1 to 70 characters, or a refusal.
    #[test]
    fn multipart_boundaries_are_short_and_present(content_type in prop_oneof![
        text().prop_map(|b| format!("multipart/form-data; boundary={b}")),
        text().prop_map(|b| format!("multipart/form-data; boundary=\"{b}\"; charset=utf-8")),
        text(),
    ]) {
        if let Ok(boundary) = multipart::boundary(&content_type) {
            prop_assert!((1..=70).contains(&boundary.len()), "{content_type:?} → {boundary:?}");
        }
        let _ = conveyor_core::compat::projectw::upload::boundary(&content_type);
    }
}

// ----- schedules -----

/// A Unix time from 1970 to 2200.
fn moment() -> BoxedStrategy<i64> {
    prop_oneof![0i64..7_258_118_400, 1_700_000_000i64..1_900_000_000].boxed()
}

fn cron() -> BoxedStrategy<String> {
    let field = prop_oneof![
        select(vec![
            "*", "*/5", "0", "1-5", "L", "5L", "1#2", "MON-FRI", "JAN", "?", "W", "15W", "59", "60", "1,2,3", "*/0",
            "0-0"
        ])
        .prop_map(str::to_string),
        (0u32..70).prop_map(|n| n.to_string()),
    ];
    prop_oneof![
        4 => proptest::collection::vec(field, 4..7).prop_map(|fields| fields.join(" ")),
        1 => select(vec!["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight", "@reboot"])
            .prop_map(str::to_string),
        1 => text(),
    ]
    .boxed()
}

fn zone() -> BoxedStrategy<Option<String>> {
    proptest::option::of(prop_oneof![
        3 => select(chrono_tz::TZ_VARIANTS.to_vec()).prop_map(|zone| zone.name().to_string()),
        1 => text(),
    ])
    .boxed()
}

proptest! {
    #![proptest_config(config())]

    /// Intervals: between a second and ten years, or a refusal.
    #[test]
    fn intervals_are_within_bounds_or_refused(count in prop_oneof![any::<i64>().prop_map(|n| n.to_string()), text()],
                                              unit in select(vec!["day", "days", "HOURS", "minute", "seconds", "weeks", ""])) {
        let text = format!("{count} {unit}");
        if let Ok(seconds) = schedule::parse_interval(&text) {
            prop_assert!((1..=10 * 366 * 86_400).contains(&seconds), "{text:?} → {seconds}");
        }
    }

    /// A schedule that validates has a first and a next occurrence after now (or the documented 409 when a
    /// pattern never fires again), in any time zone, at any time: never a panic or an internal error.
    #[test]
    fn a_valid_schedule_fires_after_now(cron in cron(), zone in zone(), now in moment(), later in 0i64..100_000_000) {
        let input = ScheduleInput {
            name: "fuzz".into(),
            cron_definition: Some(cron),
            timezone: zone,
            project: Some(conveyor_core::domain::project::ProjectRef::Id(1)),
            recipe: Some("r".into()),
            ..ScheduleInput::default()
        };
        let Ok(spec) = input.validate() else { return Ok(()) };
        for (previous, at) in [(now, now), (now, now.saturating_add(later))] {
            match spec.definition.next(previous, at) {
                Ok(next) => prop_assert!(next > at, "{input:?} at {at}: {next}"),
                Err(error) => prop_assert_eq!(error.status(), 409, "{:?} at {}: {:?}", input, at, error),
            }
        }
    }

    /// A schedule body of any shape validates or is refused with a client error.
    #[test]
    fn schedule_bodies_validate_or_are_refused(members in object(json()), patch in object(json())) {
        let Ok(input) = serde_json::from_value::<ScheduleInput>(members) else { return Ok(()) };
        if let Err(error) = input.validate() {
            prop_assert!((400..500).contains(&error.status()), "{input:?}: {error:?}");
        }
        let Json::Object(patch) = patch else { unreachable!() };
        if let Ok(merged) = schedule::merge_patch(&input, &patch)
            && let Err(error) = merged.validate()
        {
            prop_assert!((400..500).contains(&error.status()), "{merged:?}: {error:?}");
        }
    }

    /// The private-host check reads any URL.
    #[test]
    fn endpoint_hosts_are_read_from_any_text(url in prop_oneof![text(), text().prop_map(|host| format!("http://{host}/x"))]) {
        schedule::names_private_host(&url);
    }

    /// HTTP helpers every route uses: query pairs, cookies and JSON bodies of any bytes.
    #[test]
    fn request_helpers_never_panic(query in text(), cookie in text(), bytes in body()) {
        let request = Request {
            query,
            headers: vec![("cookie".into(), cookie), ("content-type".into(), "application/json".into())],
            body: bytes,
            ..Request::default()
        };
        request.query_pairs();
        request.cookie("session");
        if let Err(error) = request.json::<Map<String, Json>>(1 << 20) {
            prop_assert!((400..500).contains(&error.status()), "{error:?}");
        }
    }
}
