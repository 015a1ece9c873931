//! Generated requests through every component's route table, natively (issue 17; `docs/fuzzing.md`). Each
//! API document in `docs/openapi/` yields requests for its operations: seeded or hostile path segments, query
//! parameters named and unnamed, near-valid and arbitrary bodies in each content type, from an administrator,
//! a user, a worker, nobody and wrong credentials. The route tables run in-process over a real SQLite file
//! with a seeded dataset. No answer may be a 5xx (SPEC §1.2's 501 for an unknown control action excepted) or
//! carry SQL error text; a panic fails the case as well.
//!
//! Bounded for CI: `PROPTEST_CASES` cases per document (default [`DEFAULT_CASES`]) and at most
//! `CONVEYOR_FUZZ_SECONDS` seconds each (default [`DEFAULT_SECONDS`]), from a fixed seed unless
//! `PROPTEST_RNG_SEED` names another; `CONVEYOR_FUZZ_VERBOSE=1` prints every request with its answer. A
//! failure prints the shrunk request; each one fixed is kept below as a named regression test.

mod fuzz_support;

use conveyor_core::{Request, Response};
use fuzz_support::platform::{ADMIN_TOKEN, Native, Surface};
use fuzz_support::requests::{Caller, Case, cases};
use fuzz_support::schema::Document;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use serde_json::{Value as Json, json};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Cases per document when `PROPTEST_CASES` is unset.
const DEFAULT_CASES: u32 = 2000;
/// Wall-clock budget per document when `CONVEYOR_FUZZ_SECONDS` is unset; cases past it are not run.
const DEFAULT_SECONDS: u64 = 60;
/// Text of SQLite's errors (and of SQL itself) that must never reach a client.
const SQL_TEXT: &[&str] = &[
    "SQLITE",
    "sqlite",
    "syntax error",
    "no such column",
    "no such table",
    "no such function",
    "constraint failed",
    "near \"",
    "unrecognized token",
    "datatype mismatch",
    "SELECT ",
    "INSERT INTO",
    "DELETE FROM",
];

fn budget() -> Duration {
    let seconds = std::env::var("CONVEYOR_FUZZ_SECONDS").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_SECONDS);
    Duration::from_secs(seconds)
}

/// The native surface, which also seeds every test's data.
fn native() -> Surface {
    Surface::new(vec![
        (conveyor_meta::router(), Response::error),
        (conveyor_accounts::router(), Response::error),
        (conveyor_tasks::router(), Response::error),
        (conveyor_projects::router(), Response::error),
        (conveyor_workers::router(), Response::error),
        (conveyor_schedules::router(), Response::error),
        (conveyor_apidocs::router(), Response::error),
        (conveyor_metrics::router(), Response::error),
        (conveyor_rpc::router(), Response::error),
    ])
}

/// A request as JSON from `caller` through `surface`; panics unless it answers `status`.
fn call(
    platform: &Native,
    surface: &Surface,
    caller: &Caller,
    method: &str,
    path: &str,
    body: Json,
    status: u16,
) -> Json {
    let mut headers = caller.headers.clone();
    headers.push(("content-type".into(), "application/json".into()));
    let request = Request {
        method: method.into(),
        path: path.into(),
        headers,
        body: if body.is_null() { Vec::new() } else { body.to_string().into_bytes() },
        base_url: "http://conveyor.test".into(),
        ..Request::default()
    };
    let response = surface.send(platform, request);
    let text = String::from_utf8_lossy(&response.body).into_owned();
    assert_eq!(response.status, status, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Json::Null)
}

fn bearer(label: &'static str, token: &str) -> Caller {
    Caller { label, headers: vec![("authorization".into(), format!("Bearer {token}"))], token: Some(token.into()) }
}

/// A dataset for the requests to meet (users, a group, projects of each visibility, tasks in several states,
/// a worker, a schedule), and the callers: the administrator, a project owner, an unrelated user, the worker
/// (both ways of saying so), nobody, and wrong credentials of each kind.
fn seed(platform: &Native) -> Vec<Caller> {
    let surface = native();
    let admin = bearer("admin", ADMIN_TOKEN);
    let anonymous = Caller { label: "anonymous", headers: vec![], token: None };
    let mut users = Vec::new();
    for name in ["alice", "bob"] {
        let body = json!({"username": name, "email": format!("{name}@example.org"), "password": "correct horse"});
        call(platform, &surface, &admin, "POST", "/api/v1/users", body, 201);
        let login = json!({"username": name, "password": "correct horse"});
        let session = call(platform, &surface, &anonymous, "POST", "/api/v1/auth/login", login, 200);
        users.push(session["token"].as_str().expect("a session token").to_string());
    }
    let alice = bearer("alice", &users[0]);
    call(platform, &surface, &admin, "POST", "/api/v1/groups", json!({"name": "crew"}), 201);
    for (name, visibility) in [("render", "public"), ("secret", "private"), ("ghost", "hidden")] {
        call(
            platform,
            &surface,
            &alice,
            "POST",
            "/api/v1/projects",
            json!({"name": name, "visibility": visibility}),
            201,
        );
    }
    for n in 0..6 {
        let task = json!({"project": "render", "recipe": format!("frame {n}"), "priority": n % 3});
        call(platform, &surface, &alice, "POST", "/api/v1/tasks", task, 201);
    }
    let registered = call(platform, &surface, &anonymous, "POST", "/api/v1/workers", json!({"alias": "fuzzer"}), 201);
    let (id, secret) =
        (registered["id"].as_i64().expect("a worker id"), registered["secret"].as_str().expect("a secret"));
    let worker = Caller {
        label: "worker",
        headers: vec![("x-worker-id".into(), id.to_string()), ("x-secret".into(), secret.to_string())],
        token: None,
    };
    let claimed = call(platform, &surface, &worker, "POST", "/api/v1/tasks/claim", json!({"project": "render"}), 200);
    let release = json!({"result": 0, "output": "done"});
    call(platform, &surface, &worker, "POST", &format!("/api/v1/tasks/{}/release", claimed["id"]), release, 200);
    let schedule = json!({"name": "nightly", "cron_definition": "0 3 * * *", "project": "render", "recipe": "r"});
    call(platform, &surface, &alice, "POST", "/api/v1/schedules", schedule, 201);
    // The administrator, the owner and the worker twice: most requests should get past authentication.
    vec![
        admin.clone(),
        admin,
        alice.clone(),
        alice,
        bearer("bob", &users[1]),
        worker.clone(),
        worker,
        Caller {
            label: "worker (Authorization)",
            headers: vec![("authorization".into(), format!("Worker {id}:{secret}"))],
            token: None,
        },
        anonymous,
        bearer("wrong token", "not-a-token"),
        Caller {
            label: "wrong worker",
            headers: vec![("x-worker-id".into(), id.to_string()), ("x-secret".into(), "x".into())],
            token: None,
        },
    ]
}

/// Seeded values of a path parameter, by its name in the documents.
fn seeds(name: &str) -> Vec<String> {
    let values: &[&str] = match name {
        "project" | "project_id" | "name" => &["render", "secret", "ghost", "1", "2", "3"],
        "user" | "username" | "user_id" => &["alice", "bob", "1", "2"],
        "group" | "group_id" => &["crew", "1"],
        _ => &["1", "2", "3", "5", "7"],
    };
    values.iter().map(|value| value.to_string()).collect()
}

/// Words that mean something somewhere beyond the documents' enumerations: seeded names, the methods of
/// JSON-RPC and RhodeCode's API.
fn words() -> Vec<&'static str> {
    let mut words = vec!["render", "secret", "ghost", "alice", "bob", "crew", "fuzzer", "nightly", ADMIN_TOKEN];
    words.extend(conveyor_core::rpc::methods::METHODS.iter().map(|method| method.name));
    words.extend(conveyor_core::compat::rhodecode::method_names());
    words
}

/// Member names beyond the documents' own: the parameters of JSON-RPC's methods and the arguments of
/// RhodeCode's, which the documents leave free-form.
fn keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> =
        conveyor_core::rpc::methods::METHODS.iter().flat_map(|method| method.params.iter().map(|p| p.name)).collect();
    keys.extend(RHODECODE_ARGUMENTS);
    keys
}

/// The arguments RhodeCode's methods read (`compat/rhodecode/methods.rs`).
const RHODECODE_ARGUMENTS: [&str; 22] = [
    "active",
    "admin",
    "clone_uri",
    "description",
    "email",
    "extern_name",
    "extern_type",
    "firstname",
    "group_name",
    "lastname",
    "ldap_dn",
    "name",
    "owner",
    "password",
    "perm",
    "private",
    "repo_name",
    "repoid",
    "userid",
    "username",
    "usergroupid",
    "usersgroupid",
];

fn document(file: &str) -> Json {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The answer's faults: a 5xx (but SPEC §1.2's 501 with JSON-RPC's -32601), or SQL error text.
fn faults(response: &Response) -> Option<String> {
    let text = String::from_utf8_lossy(&response.body);
    let unknown_method = response.status == 501
        && serde_json::from_str::<Json>(&text).is_ok_and(|body| body.pointer("/error/code") == Some(&json!(-32601)));
    if response.status >= 500 && !unknown_method {
        return Some(format!("server error {}: {text}", response.status));
    }
    SQL_TEXT.iter().find(|marker| text.contains(*marker)).map(|marker| format!("SQL text `{marker}` in: {text}"))
}

/// Requests sent to one database before the next case gets a fresh one: generated requests revoke
/// sessions, delete the worker and pause projects, and a long run would otherwise end up refused at the door.
const RESEED_EVERY: u32 = 250;

/// A seeded database and the callers' credentials in it.
struct World {
    platform: Native,
    callers: Vec<Caller>,
}

impl World {
    fn new(label: &str, surface: &Surface, more: fn(&Native, &Surface) -> Vec<Caller>) -> World {
        let platform = Native::new(label);
        let mut callers = seed(&platform);
        callers.extend(more(&platform, surface));
        World { platform, callers }
    }
}

/// Runs generated requests for every operation of `file` (but `skip`) through `surface`; `more` adds the
/// callers only this surface knows.
fn fuzz(label: &str, file: &str, surface: Surface, skip: &[&str], more: fn(&Native, &Surface) -> Vec<Caller>) {
    let world = RefCell::new(World::new(label, &surface, more));
    let doc = Document::new(document(file), &words(), &keys());
    let strategy = cases(&doc, world.borrow().callers.len(), seeds, skip);
    let (started, budget) = (Instant::now(), budget());
    let statuses = RefCell::new(BTreeMap::<u16, u32>::new());
    let (sent, failed) = (Cell::new(0u32), Cell::new(false));
    let verbose = std::env::var_os("CONVEYOR_FUZZ_VERBOSE").is_some();
    let mut runner = TestRunner::new(fuzz_support::config(DEFAULT_CASES));
    let outcome = runner.run(&strategy, |case: Case| {
        // Past the budget no new case is sent; a failure found before it is still shrunk.
        if started.elapsed() > budget && !failed.get() {
            return Ok(());
        }
        sent.set(sent.get() + 1);
        if sent.get().is_multiple_of(RESEED_EVERY) {
            *world.borrow_mut() = World::new(label, &surface, more);
        }
        let world = world.borrow();
        let response = surface.send(&world.platform, case.request(&world.callers));
        *statuses.borrow_mut().entry(response.status).or_default() += 1;
        if verbose {
            let answer: String = String::from_utf8_lossy(&response.body).chars().take(160).collect();
            eprintln!("{} ← {case:?}\n    → {answer}", response.status);
        }
        match faults(&response) {
            Some(fault) => {
                failed.set(true);
                Err(TestCaseError::fail(format!("{fault}\n  caller: {}", world.callers[case.caller].label)))
            }
            None => Ok(()),
        }
    });
    eprintln!(
        "{label}: {} requests in {:.1?}, answers by status {:?}",
        sent.get(),
        started.elapsed(),
        statuses.borrow()
    );
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => panic!("{label}: {reason}\n  request: {case:?}"),
        Err(error) => panic!("{label}: {error}"),
    }
}

fn none(_: &Native, _: &Surface) -> Vec<Caller> {
    Vec::new()
}

/// A Project-W runner, by the token an administrator created for it.
fn runner(platform: &Native, surface: &Surface) -> Vec<Caller> {
    let admin = bearer("admin", ADMIN_TOKEN);
    let created = call(platform, surface, &admin, "POST", "/api/admins/create_runner", Json::Null, 200);
    vec![bearer("runner", created["token"].as_str().expect("a runner token"))]
}

#[test]
fn native_api_never_answers_a_server_error_or_sql_text() {
    // Webhook deliveries run only in the wasm component (natively a 503 by design, not an answer to input).
    fuzz("native", "native.json", native(), &["POST /api/v1/schedules/deliver-due"], none);
}

#[test]
fn task_tracker_surface_never_answers_a_server_error_or_sql_text() {
    let surface = Surface::new(vec![(conveyor_tracker::router(), conveyor_core::compat::tracker::error)]);
    fuzz("tracker", "tracker.json", surface, &[], none);
}

#[test]
fn seed_scheduler_surface_never_answers_a_server_error_or_sql_text() {
    let surface = Surface::new(vec![(conveyor_scheduler::router(), conveyor_core::compat::seed::error)]);
    fuzz("seed", "seed-scheduler.json", surface, &[], none);
}

#[test]
fn project_w_surface_never_answers_a_server_error_or_sql_text() {
    fuzz("projectw", "project-w.json", project_w(), &[], runner);
}

#[test]
fn rhodecode_surface_never_answers_a_server_error_or_sql_text() {
    fuzz("rhodecode", "rhodecode.json", Surface::new(vec![(conveyor_rpc::router(), Response::error)]), &[], none);
}

#[test]
fn the_check_refuses_server_errors_and_sql_text_and_allows_only_the_documented_501() {
    let answer = |status: u16, body: &str| Response::raw(status, "application/json", body);
    assert!(faults(&answer(500, r#"{"detail":"internal error","code":"internal_error"}"#)).is_some());
    assert!(faults(&answer(503, "{}")).is_some());
    assert!(faults(&answer(501, r#"{"error":{"code":-32600}}"#)).is_some(), "501 only for an unknown method");
    assert!(faults(&answer(422, r#"{"detail":"near \"x\": syntax error"}"#)).is_some());
    assert!(faults(&answer(400, "UNIQUE constraint failed: users.username")).is_some());
    assert!(faults(&answer(501, r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"unknown"},"id":1}"#)).is_none());
    assert!(faults(&answer(404, r#"{"detail":"not found","code":"not_found"}"#)).is_none());
}

// ----- regressions: each case found, written out -----

/// One request from the caller named `label` among a freshly seeded world's, through `surface`.
fn regression(surface: &Surface, label: &str, method: &str, target: &str, body: &str) -> Response {
    let world = World::new("regression", surface, runner);
    let caller = world.callers.iter().find(|caller| caller.label == label).expect("a seeded caller");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = caller.headers.clone();
    headers.push(("content-type".into(), "application/json".into()));
    let request = Request {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: body.as_bytes().to_vec(),
        base_url: "http://conveyor.test".into(),
        ..Request::default()
    };
    surface.send(&world.platform, request)
}

fn project_w() -> Surface {
    Surface::new(vec![(conveyor_projectw::router(), conveyor_core::compat::projectw::wire::error)])
}

/// `end_index` at `i64::MAX` with `start_index=0` overflowed the window's length (`end - start + 1`): a panic,
/// in wasm a trap and a 500.
#[test]
fn regression_a_job_window_to_the_largest_index_is_no_overflow() {
    let target = "/api/jobs/get?start_index=0&end_index=9223372036854775807&sort_key=creation_time\
                  &descending=false&exclude_finished=false&exclude_downloaded=false";
    let response = regression(&project_w(), "alice", "GET", target, "");
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(String::from_utf8_lossy(&response.body), "[]");
}
