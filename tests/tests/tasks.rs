//! Component `tasks` over HTTP against the real host (SPEC §4): every transition and every refusal,
//! ordering, leases under the guests' clock, verification quorums, chains, dedupe, rate limits, bulk
//! submits, bad input, long-poll claims, cancellation, result downloads, and exactly-once claiming under
//! concurrency on one host and on two hosts sharing one database. Users, projects and workers are set up
//! through the HTTP API.

use conveyor_tests::our_host_only;
use conveyor_tests::{ChildHost, Http, TestHost, TestResponse, Who};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

// ----- harness -----

/// Who sends a request.
/// Sends a request as `who` with an optional JSON body.
async fn call(http: &Http, who: &Who, method: &str, path: &str, body: Option<&Value>) -> TestResponse {
    let json: &[(&str, &str)] = if body.is_some() { &[("content-type", "application/json")] } else { &[] };
    http.send_as(who, method, path, json, body.map(Value::to_string).unwrap_or_default()).await
}

async fn post(http: &Http, who: &Who, path: &str, body: Value) -> TestResponse {
    call(http, who, "POST", path, Some(&body)).await
}

async fn get(http: &Http, who: &Who, path: &str) -> TestResponse {
    call(http, who, "GET", path, None).await
}

/// Asserts the status and returns the JSON body.
#[track_caller]
fn expect(response: &TestResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    if response.body.is_empty() { Value::Null } else { response.json() }
}

/// Asserts SPEC §1's error body (status, code, a detail) and returns it.
#[track_caller]
fn expect_error(response: &TestResponse, status: u16, code: &str) -> Value {
    let body = expect(response, status);
    assert_eq!(body["code"], code, "{body}");
    assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{body}");
    body
}

/// The built-in administrator.
fn admin(app: &TestHost) -> Who {
    Who::Bearer(app.admin_token())
}

/// Creates a user (as the administrator), logs in and returns their id and session.
async fn user(app: &TestHost, username: &str) -> (i64, Who) {
    let body = json!({"username": username, "email": format!("{username}@example.org"), "password": "correct horse"});
    let created = expect(&post(app, &admin(app), "/api/v1/users", body).await, 201);
    let login = json!({"username": username, "password": "correct horse"});
    let session = expect(&post(app, &Who::Anonymous, "/api/v1/auth/login", login).await, 200);
    (created["id"].as_i64().unwrap(), Who::Bearer(session["token"].as_str().unwrap().to_string()))
}

/// Creates a project as `who` and returns its id.
async fn project(http: &Http, who: &Who, body: Value) -> i64 {
    let created = expect(&post(http, who, "/api/v1/projects", body).await, 201);
    created["id"].as_i64().unwrap()
}

/// Registers a worker.
async fn worker(http: &Http, alias: &str) -> Who {
    let created = expect(&post(http, &Who::Anonymous, "/api/v1/workers", json!({"alias": alias})).await, 201);
    Who::Worker(created["id"].as_i64().unwrap(), created["secret"].as_str().unwrap().to_string())
}

/// Gives a user a role on a project (as the administrator).
async fn grant_user(app: &TestHost, project: i64, user: i64, role: i64) {
    let path = format!("/api/v1/projects/{project}/grants/users/{user}");
    let response = call(app, &admin(app), "PUT", &path, Some(&json!({"role": role}))).await;
    assert!(response.status == 200 || response.status == 201, "{}", response.text());
}

/// A worker asks for access; unless `accept` is false the administrator accepts it.
async fn grant_worker(app: &TestHost, project: i64, worker: &Who, assign: bool, submit: bool, accept: bool) {
    let path = format!("/api/v1/projects/{project}/access-requests");
    let response = post(app, worker, &path, json!({"assign": assign, "submit": submit})).await;
    // 202 (taken, nothing more) on a hidden project the worker cannot read yet.
    assert!([200, 201, 202].contains(&response.status), "{}", response.text());
    if accept {
        let params = json!({"worker": worker.worker_id()});
        let answer = rpc(app, &admin(app), &format!("/api/v1/projects/{project}"), "accept_request", params).await;
        expect(&answer, 200);
    }
}

/// A JSON-RPC control action (SPEC §1.2).
async fn rpc(http: &Http, who: &Who, path: &str, method: &str, params: Value) -> TestResponse {
    post(http, who, path, json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})).await
}

/// Submits a task; `extra` adds fields.
async fn submit(http: &Http, who: &Who, project: i64, recipe: &str, extra: Value) -> TestResponse {
    let mut body = json!({"project": project, "recipe": recipe});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    post(http, who, "/api/v1/tasks", body).await
}

/// Submits a task and returns it (201 expected).
async fn submitted(http: &Http, who: &Who, project: i64, recipe: &str, extra: Value) -> Value {
    expect(&submit(http, who, project, recipe, extra).await, 201)
}

async fn claim(http: &Http, worker: &Who, body: Value) -> TestResponse {
    post(http, worker, "/api/v1/tasks/claim", body).await
}

/// Claims from a project and returns the task (200 expected).
async fn claimed(http: &Http, worker: &Who, project: i64) -> Value {
    expect(&claim(http, worker, json!({"project": project})).await, 200)
}

async fn release(http: &Http, worker: &Who, task: i64, body: Value) -> TestResponse {
    post(http, worker, &format!("/api/v1/tasks/{task}/release"), body).await
}

async fn heartbeat(http: &Http, worker: &Who, task: i64, body: Value) -> TestResponse {
    post(http, worker, &format!("/api/v1/tasks/{task}/heartbeat"), body).await
}

async fn task(http: &Http, who: &Who, id: i64) -> Value {
    expect(&get(http, who, &format!("/api/v1/tasks/{id}")).await, 200)
}

fn id(value: &Value) -> i64 {
    value["id"].as_i64().unwrap_or_else(|| panic!("no id in {value}"))
}

/// The number of tasks `GET /tasks?{filter}&limit=0` counts.
async fn count(http: &Http, who: &Who, filter: &str) -> i64 {
    let page = expect(&get(http, who, &format!("/api/v1/tasks?{filter}&limit=0")).await, 200);
    assert_eq!(page["results"], json!([]), "{page}");
    page["count"].as_i64().unwrap()
}

// ----- transitions -----

#[tokio::test(flavor = "multi_thread")]
async fn a_task_goes_from_submit_through_claim_and_heartbeat_to_closed() {
    our_host_only!("moves our host's test clock");
    let app = TestHost::start().await;
    let (_, ada) = user(&app, "ada").await;
    let p = project(&app, &ada, json!({"name": "render"})).await;
    let w = worker(&app, "w1").await;

    let created = submitted(&app, &ada, p, "frame 1", json!({"priority": 3, "max_assign_time": 600})).await;
    assert_eq!(created["project"], p);
    assert_eq!(created["status"], "new");
    assert_eq!(created["recipe"], "frame 1");
    assert_eq!(created["priority"], 3);
    assert_eq!(created["max_retries"], 3, "default");
    assert_eq!(created["retries"], 0);
    assert_eq!(created["hash64"], 0);
    assert_eq!(created["assignee"], Value::Null);
    assert_eq!(created["result"], Value::Null);
    let t = id(&created);

    let task_claimed = claimed(&app, &w, p).await;
    assert_eq!(id(&task_claimed), t);
    assert_eq!(task_claimed["status"], "assigned");
    assert_eq!(task_claimed["assignee"], w.worker_id());
    assert_eq!(task_claimed["claims"], 1);
    let assigned_at = task_claimed["assign_time"].as_i64().unwrap();
    assert_eq!(task_claimed["lease_expires_at"].as_i64().unwrap(), assigned_at + 600);

    let beat = expect(&heartbeat(&app, &w, t, json!({"progress": 40})).await, 200);
    assert_eq!(beat, json!({"lease_expires_at": assigned_at + 600, "abort": false}));
    app.ours().runtime.clock().advance(100);
    let beat = expect(&heartbeat(&app, &w, t, json!({"progress": 50, "extend": true})).await, 200);
    let extended = beat["lease_expires_at"].as_i64().unwrap();
    assert!(extended >= assigned_at + 700, "{beat}");
    assert_eq!(beat["abort"], false);
    let empty_beat = send_empty(&app, &w, &format!("/api/v1/tasks/{t}/heartbeat")).await;
    assert_eq!(expect(&empty_beat, 200)["lease_expires_at"], extended, "an empty heartbeat keeps the lease");
    assert_eq!(task(&app, &ada, t).await["progress"], 50);

    let released = expect(&release(&app, &w, t, json!({"result": 0, "output": "done"})).await, 200);
    assert_eq!(released, json!({"updated": true, "status": "closed"}));
    let closed = task(&app, &ada, t).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["result"], "done");
    assert_eq!(closed["progress"], 100);
    assert_eq!(closed["assignee"], w.worker_id(), "the closing worker is kept");
    assert!(closed["closed_at"].as_i64().is_some(), "{closed}");

    let nothing = claim(&app, &w, json!({"project": p})).await;
    assert_eq!(nothing.status, 204);
    assert!(nothing.body.is_empty());
    // Releasing again: the task is no longer held.
    let again = expect(&release(&app, &w, t, json!({"result": 0})).await, 409);
    assert_eq!(again["updated"], false);
    assert_eq!(again["code"], "invalid_transition");
}

/// Sends a worker's request with an empty body (no content type).
async fn send_empty(http: &Http, worker: &Who, path: &str) -> TestResponse {
    let Who::Worker(id, secret) = worker else { panic!("not a worker: {worker:?}") };
    let id = id.to_string();
    http.send("POST", path, &[("x-worker-id", id.as_str()), ("x-secret", secret.as_str())], "").await
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_skip_retry_cancel_and_set_priority() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "flaky"})).await;
    let w = worker(&app, "w").await;
    let t = id(&submitted(&app, &admin, p, "r", json!({"max_retries": 2})).await);

    claimed(&app, &w, p).await;
    let failed_once = expect(&release(&app, &w, t, json!({"result": 1, "output": "boom"})).await, 200);
    assert_eq!(failed_once, json!({"updated": true, "status": "new"}));
    let after = task(&app, &admin, t).await;
    assert_eq!((after["retries"].clone(), after["assignee"].clone()), (json!(1), Value::Null));
    assert_eq!(after["result"], "boom");

    claimed(&app, &w, p).await;
    let skipped = expect(&release(&app, &w, t, json!({"result": 2})).await, 200);
    assert_eq!(skipped, json!({"updated": true, "status": "new"}));
    assert_eq!(task(&app, &admin, t).await["retries"], 1, "a skip counts nothing");

    let second = claimed(&app, &w, p).await;
    assert_eq!(second["claims"], 3);
    let failed = expect(&release(&app, &w, t, json!({"result": 1})).await, 200);
    assert_eq!(failed, json!({"updated": true, "status": "failed"}));
    assert_eq!(task(&app, &admin, t).await["retries"], 2);
    assert_eq!(claim(&app, &w, json!({"project": p})).await.status, 204, "failed tasks are not claimable");

    let path = format!("/api/v1/tasks/{t}");
    let retried = expect(&rpc(&app, &admin, &path, "retry", json!({})).await, 200);
    assert_eq!(retried["jsonrpc"], "2.0");
    assert_eq!(retried["id"], 1);
    assert_eq!(retried["result"]["status"], "new");
    assert_eq!(retried["result"]["retries"], 0);
    // A refused transition is JSON-RPC "invalid params" (HTTP 400) carrying the native code.
    let again = expect(&rpc(&app, &admin, &path, "retry", Value::Null).await, 400);
    assert_eq!(again["error"]["code"], -32602, "{again}");
    assert_eq!(again["error"]["data"]["code"], "invalid_transition", "{again}");
    assert!(again["error"]["message"].as_str().unwrap().contains("it is new"), "{again}");

    let reprioritised = expect(&rpc(&app, &admin, &path, "set_priority", json!({"priority": -7})).await, 200);
    assert_eq!(reprioritised["result"]["priority"], -7);
    let bad = rpc(&app, &admin, &path, "set_priority", json!({"priority": 1i64 << 31})).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["error"]["code"], -32602);
    let unknown = rpc(&app, &admin, &path, "explode", json!({})).await;
    assert_eq!(unknown.status, 501, "{}", unknown.text());
    assert_eq!(unknown.json()["error"]["code"], -32601);

    let cancelled = expect(&rpc(&app, &admin, &path, "cancel", json!({})).await, 200);
    assert_eq!(cancelled["result"]["status"], "cancelled");
    let twice = expect(&rpc(&app, &admin, &path, "cancel", json!({})).await, 400);
    assert_eq!(twice["error"]["data"]["code"], "invalid_transition", "cancelled is final: {twice}");
    let closed = expect(&rpc(&app, &admin, &path, "set_priority", json!({"priority": 1})).await, 400);
    assert_eq!(closed["error"]["data"]["code"], "invalid_transition", "{closed}");
    let missing = expect(&rpc(&app, &admin, "/api/v1/tasks/999999", "cancel", json!({})).await, 404);
    assert_eq!(missing["error"]["data"]["code"], "not_found", "{missing}");
    // max_retries 0 fails at the first failure; a failed task can be cancelled.
    let once = id(&submitted(&app, &admin, p, "once", json!({"max_retries": 0})).await);
    assert_eq!(id(&claimed(&app, &w, p).await), once);
    assert_eq!(expect(&release(&app, &w, once, json!({"result": 1})).await, 200)["status"], "failed");
    let path_once = format!("/api/v1/tasks/{once}");
    assert_eq!(expect(&rpc(&app, &admin, &path_once, "cancel", json!({})).await, 200)["result"]["status"], "cancelled");
    assert_eq!(count(&app, &admin, &format!("project={p}&status=cancelled")).await, 2);
    // Workers hold no project roles.
    let by_worker = expect(&rpc(&app, &w, &path, "cancel", json!({})).await, 403);
    assert_eq!(by_worker["error"]["code"], -32600, "{by_worker}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_held_task_makes_its_heartbeat_say_abort() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "abortable"})).await;
    let w = worker(&app, "w").await;
    let t = id(&submitted(&app, &admin, p, "long job", json!({})).await);
    claimed(&app, &w, p).await;
    assert_eq!(expect(&heartbeat(&app, &w, t, json!({"progress": 10})).await, 200)["abort"], false);

    expect(&rpc(&app, &admin, &format!("/api/v1/tasks/{t}"), "cancel", json!({})).await, 200);
    let beat = expect(&heartbeat(&app, &w, t, json!({"progress": 90, "extend": true})).await, 200);
    assert_eq!(beat, json!({"lease_expires_at": null, "abort": true}));
    let after = task(&app, &admin, t).await;
    assert_eq!(after["progress"], 10, "nothing changes after the cancel");
    assert_eq!(after["status"], "cancelled");
    let refused = expect(&release(&app, &w, t, json!({"result": 0})).await, 409);
    assert_eq!(refused["updated"], false);
    assert_eq!(refused["code"], "invalid_transition");
}

// ----- refusals and access -----

#[tokio::test(flavor = "multi_thread")]
async fn only_the_assignee_may_heartbeat_or_release() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "mine"})).await;
    let (holder, other) = (worker(&app, "holder").await, worker(&app, "other").await);
    let t = id(&submitted(&app, &admin, p, "r", json!({})).await);
    claimed(&app, &holder, p).await;

    expect_error(&heartbeat(&app, &other, t, json!({"progress": 5})).await, 409, "not_assignee");
    let refused = expect(&release(&app, &other, t, json!({"result": 0, "output": "stolen"})).await, 409);
    assert_eq!(refused["updated"], false, "{refused}");
    assert_eq!(refused["code"], "not_assignee");
    assert!(refused["detail"].as_str().unwrap().contains("not assigned"), "{refused}");
    let unchanged = task(&app, &admin, t).await;
    assert_eq!(
        (unchanged["status"].clone(), unchanged["assignee"].clone()),
        (json!("assigned"), json!(holder.worker_id()))
    );
    assert_eq!(unchanged["result"], Value::Null);

    // Unknown tasks are 404, users and anonymous callers are no workers.
    expect_error(&release(&app, &holder, 999_999, json!({"result": 0})).await, 404, "not_found");
    expect_error(&heartbeat(&app, &holder, 999_999, json!({})).await, 404, "not_found");
    expect_error(&release(&app, &admin, t, json!({"result": 0})).await, 403, "forbidden");
    expect_error(&release(&app, &Who::Anonymous, t, json!({"result": 0})).await, 401, "unauthorized");
    expect_error(&claim(&app, &admin, json!({})).await, 403, "forbidden");
    expect_error(&claim(&app, &Who::Anonymous, json!({})).await, 401, "unauthorized");
    let forged = Who::Worker(holder.worker_id(), "not-the-secret".into());
    expect_error(&claim(&app, &forged, json!({})).await, 401, "unauthorized");

    // Bad release/heartbeat bodies.
    expect_error(&release(&app, &holder, t, json!({"result": 3})).await, 422, "validation_failed");
    expect_error(&heartbeat(&app, &holder, t, json!({"progress": 101})).await, 422, "validation_failed");
    expect_error(&heartbeat(&app, &holder, t, json!({"extend": -5})).await, 422, "validation_failed");
    expect_error(&release(&app, &holder, t, json!({"result": 0, "colour": 1})).await, 422, "unknown_field");
    let huge = json!({"result": 0, "output": "x".repeat((1 << 20) + 1)});
    let body = expect_error(&release(&app, &holder, t, huge).await, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "output", "{body}");
    let released = expect(&release(&app, &holder, t, json!({"result": 0})).await, 200);
    assert_eq!(released["status"], "closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn submitting_needs_edit_or_an_accepted_submit_grant() {
    let app = TestHost::start().await;
    let (_, ada) = user(&app, "ada").await;
    let (bob_id, bob) = user(&app, "bob").await;
    let p = project(&app, &ada, json!({"name": "ada-public"})).await;

    // bob can read the public project but not edit it.
    expect_error(&submit(&app, &bob, p, "r", json!({})).await, 403, "forbidden");
    expect_error(&submit(&app, &Who::Anonymous, p, "r", json!({})).await, 401, "unauthorized");
    grant_user(&app, p, bob_id, 1).await;
    expect_error(&submit(&app, &bob, p, "r", json!({})).await, 403, "forbidden");
    grant_user(&app, p, bob_id, 3).await;
    assert_eq!(submitted(&app, &bob, p, "by bob", json!({})).await["recipe"], "by bob");

    // A worker: no grant → 403; a pending grant → 403; an accepted assign-only grant → 403; submit → 201.
    let w = worker(&app, "submitter").await;
    expect_error(&submit(&app, &w, p, "r", json!({})).await, 403, "forbidden");
    grant_worker(&app, p, &w, true, false, true).await;
    expect_error(&submit(&app, &w, p, "r", json!({})).await, 403, "forbidden");
    let private = project(&app, &ada, json!({"name": "ada-private", "visibility": "private"})).await;
    grant_worker(&app, private, &w, false, true, false).await;
    expect_error(&submit(&app, &w, private, "r", json!({})).await, 403, "forbidden");
    let params = json!({"worker": w.worker_id()});
    expect(&rpc(&app, &ada, &format!("/api/v1/projects/{private}"), "accept_request", params).await, 200);
    assert_eq!(submitted(&app, &w, private, "by the worker", json!({})).await["project"], private);
    assert_eq!(count(&app, &ada, &format!("project={private}")).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn claiming_from_private_and_hidden_projects_needs_an_accepted_assign_grant() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let private = project(&app, &admin, json!({"name": "private", "visibility": "private"})).await;
    let hidden = project(&app, &admin, json!({"name": "hidden", "visibility": "hidden"})).await;
    let tp = id(&submitted(&app, &admin, private, "p", json!({})).await);
    let th = id(&submitted(&app, &admin, hidden, "h", json!({})).await);
    let w = worker(&app, "w").await;

    expect_error(&claim(&app, &w, json!({"project": private})).await, 403, "forbidden");
    expect_error(&claim(&app, &w, json!({"project": hidden})).await, 404, "not_found");
    expect_error(&claim(&app, &w, json!({"project": "hidden"})).await, 404, "not_found");
    assert_eq!(claim(&app, &w, json!({})).await.status, 204, "nothing in the worker's scope");
    // Workers cannot see them either.
    expect_error(&get(&app, &w, &format!("/api/v1/tasks/{tp}")).await, 403, "forbidden");
    expect_error(&get(&app, &w, &format!("/api/v1/tasks/{th}")).await, 404, "not_found");
    assert_eq!(count(&app, &w, "status=new").await, 0);
    // Heartbeat and release refusals do not reveal a hidden project's tasks either.
    expect_error(&heartbeat(&app, &w, th, json!({})).await, 404, "not_found");
    expect_error(&release(&app, &w, th, json!({"result": 0})).await, 404, "not_found");
    // Nor a private one's: a worker that may not read it is answered as reading it would be (issue 17).
    expect_error(&heartbeat(&app, &w, tp, json!({})).await, 403, "forbidden");
    expect_error(&release(&app, &w, tp, json!({"result": 0})).await, 403, "forbidden");

    // A pending request counts for nothing; an accepted one opens the project.
    grant_worker(&app, private, &w, true, false, false).await;
    expect_error(&claim(&app, &w, json!({"project": private})).await, 403, "forbidden");
    let params = json!({"worker": w.worker_id()});
    expect(&rpc(&app, &admin, &format!("/api/v1/projects/{private}"), "accept_request", params).await, 200);
    assert_eq!(id(&claimed(&app, &w, private).await), tp);

    // Hidden: a submit-only grant lets the worker see the project but not claim from it.
    grant_worker(&app, hidden, &w, false, true, true).await;
    expect_error(&claim(&app, &w, json!({"project": hidden})).await, 403, "forbidden");
    assert_eq!(claim(&app, &w, json!({})).await.status, 204);
    assert_eq!(task(&app, &w, th).await["status"], "new");

    // Another worker with assign on hidden claims across projects without naming it.
    let w2 = worker(&app, "w2").await;
    grant_worker(&app, hidden, &w2, true, false, true).await;
    assert_eq!(id(&expect(&claim(&app, &w2, json!({})).await, 200)), th);
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_of_hidden_projects_are_404_without_read() {
    let app = TestHost::start().await;
    let (_, ada) = user(&app, "ada").await;
    let (bob_id, bob) = user(&app, "bob").await;
    let hidden = project(&app, &ada, json!({"name": "secret-plans", "visibility": "hidden"})).await;
    let private = project(&app, &ada, json!({"name": "private-plans", "visibility": "private"})).await;
    let public = project(&app, &ada, json!({"name": "open-plans"})).await;
    let th = id(&submitted(&app, &ada, hidden, "h", json!({})).await);
    let tp = id(&submitted(&app, &ada, private, "p", json!({})).await);
    let tu = id(&submitted(&app, &ada, public, "u", json!({})).await);

    for who in [&bob, &Who::Anonymous] {
        expect_error(&get(&app, who, &format!("/api/v1/tasks/{th}")).await, 404, "not_found");
        expect_error(&get(&app, who, &format!("/api/v1/tasks/{th}/result")).await, 404, "not_found");
        expect_error(&get(&app, who, &format!("/api/v1/tasks/{tp}")).await, 403, "forbidden");
        assert_eq!(task(&app, who, tu).await["recipe"], "u");
        let listed = expect(&get(&app, who, "/api/v1/tasks").await, 200);
        assert_eq!(listed["count"], 1, "{listed}");
        assert_eq!(listed["results"][0]["id"], tu);
    }
    // Control on a hidden task: 404 for bob (not 403), and the task is untouched.
    let cancel = rpc(&app, &bob, &format!("/api/v1/tasks/{th}"), "cancel", json!({})).await;
    assert_eq!(cancel.status, 404, "{}", cancel.text());
    expect_error(&submit(&app, &bob, hidden, "x", json!({})).await, 404, "not_found");
    // bob with EDIT on public but READ only on private: 403 on the private one's control.
    grant_user(&app, private, bob_id, 1).await;
    assert_eq!(task(&app, &bob, tp).await["id"], tp);
    let refused = rpc(&app, &bob, &format!("/api/v1/tasks/{tp}"), "cancel", json!({})).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(task(&app, &ada, tp).await["status"], "new");

    // With READ, the hidden task appears.
    grant_user(&app, hidden, bob_id, 1).await;
    assert_eq!(task(&app, &bob, th).await["recipe"], "h");
    assert_eq!(expect(&get(&app, &bob, "/api/v1/tasks").await, 200)["count"], 3);
    let only_hidden = expect(&get(&app, &ada, &format!("/api/v1/tasks?project={hidden}&field=id")).await, 200);
    assert_eq!(only_hidden["results"], json!([{"id": th}]));
    expect_error(&get(&app, &ada, "/api/v1/tasks?colour=red").await, 400, "invalid_query");
}

// ----- ordering, leases, verification, chain -----

#[tokio::test(flavor = "multi_thread")]
async fn claims_follow_project_priority_then_task_priority_then_fifo() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "ordered"})).await;
    let w = worker(&app, "w").await;
    let mut ids = Vec::new();
    for priority in [0, 5, 5, -1, 10, 0] {
        ids.push(id(&submitted(&app, &admin, p, &format!("prio {priority}"), json!({"priority": priority})).await));
    }
    let expected = [ids[4], ids[1], ids[2], ids[0], ids[5], ids[3]];
    for want in expected {
        let got = claimed(&app, &w, p).await;
        assert_eq!(id(&got), want, "{got}");
    }
    assert_eq!(claim(&app, &w, json!({"project": p})).await.status, 204);

    // Across projects: the project's priority wins over the task's.
    let low = project(&app, &admin, json!({"name": "low", "priority": 1})).await;
    let high = project(&app, &admin, json!({"name": "high", "priority": 2})).await;
    let urgent_in_low = id(&submitted(&app, &admin, low, "urgent", json!({"priority": 1000})).await);
    let calm_in_high = id(&submitted(&app, &admin, high, "calm", json!({"priority": -1000})).await);
    assert_eq!(id(&expect(&claim(&app, &w, json!({})).await, 200)), calm_in_high);
    assert_eq!(id(&expect(&claim(&app, &w, json!({})).await, 200)), urgent_in_low);
    // An empty body is a claim across projects too.
    let empty = send_empty(&app, &w, "/api/v1/tasks/claim").await;
    assert_eq!(empty.status, 204, "{}", empty.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_lease_lets_another_worker_reclaim_the_task() {
    our_host_only!("moves our host's test clock");
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "leases"})).await;
    let (first, second) = (worker(&app, "first").await, worker(&app, "second").await);
    let t = id(&submitted(&app, &admin, p, "slow", json!({"max_assign_time": 60})).await);
    claimed(&app, &first, p).await;
    assert_eq!(claim(&app, &second, json!({"project": p})).await.status, 204, "the lease holds");

    app.ours().runtime.clock().advance(61);
    let reclaimed = claimed(&app, &second, p).await;
    assert_eq!(id(&reclaimed), t);
    assert_eq!(reclaimed["assignee"], second.worker_id());
    assert_eq!(reclaimed["claims"], 2);
    expect_error(&heartbeat(&app, &first, t, json!({"progress": 99})).await, 409, "not_assignee");
    let late = expect(&release(&app, &first, t, json!({"result": 0, "output": "late"})).await, 409);
    assert_eq!(late["updated"], false);
    let done = expect(&release(&app, &second, t, json!({"result": 0, "output": "second"})).await, 200);
    assert_eq!(done["status"], "closed");
    assert_eq!(task(&app, &admin, t).await["result"], "second");
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_closes_when_two_of_three_workers_agree() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "quorum"})).await;
    let ws = [worker(&app, "a").await, worker(&app, "b").await, worker(&app, "c").await];
    let t = id(&submitted(&app, &admin, p, "vote", json!({"verification_count": 2})).await);

    claimed(&app, &ws[0], p).await;
    let first = expect(&release(&app, &ws[0], t, json!({"result": 0, "verification": 7, "output": "a"})).await, 200);
    assert_eq!(first, json!({"updated": true, "status": "new"}));
    assert_eq!(claim(&app, &ws[0], json!({"project": p})).await.status, 204, "a voter never claims it again");

    claimed(&app, &ws[1], p).await;
    let second = expect(&release(&app, &ws[1], t, json!({"result": 0, "verification": 8, "output": "b"})).await, 200);
    assert_eq!(second["status"], "new", "7 and 8 disagree");

    claimed(&app, &ws[2], p).await;
    let third = expect(&release(&app, &ws[2], t, json!({"result": 0, "verification": 7, "output": "c"})).await, 200);
    assert_eq!(third, json!({"updated": true, "status": "closed"}));
    let closed = task(&app, &admin, t).await;
    assert_eq!(closed["verification_count"], 2);
    assert_eq!(closed["result"], "c");
    assert_eq!(closed["claims"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_task_is_chained_into_the_next_project() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let second = project(&app, &admin, json!({"name": "stage-2"})).await;
    let first = project(&app, &admin, json!({"name": "stage-1", "chain": second})).await;
    let w = worker(&app, "w").await;
    let spec = json!({"priority": 4, "hash64": 42, "max_retries": 5, "max_assign_time": 90});
    let t = id(&submitted(&app, &admin, first, "pipeline", spec).await);
    assert_eq!(count(&app, &admin, &format!("project={second}")).await, 0);

    claimed(&app, &w, first).await;
    expect(&release(&app, &w, t, json!({"result": 0, "output": "stage 1 done"})).await, 200);
    let page = expect(&get(&app, &admin, &format!("/api/v1/tasks?project={second}")).await, 200);
    assert_eq!(page["count"], 1, "{page}");
    let copy = &page["results"][0];
    assert_ne!(id(copy), t);
    assert_eq!(copy["status"], "new");
    assert_eq!(copy["recipe"], "pipeline");
    assert_eq!(copy["priority"], 4);
    assert_eq!(copy["hash64"], 42);
    assert_eq!(copy["max_retries"], 5);
    assert_eq!(copy["max_assign_time"], 90);
    assert_eq!(copy["retries"], 0);
    assert_eq!(copy["result"], Value::Null);
    // The copy is claimable in the chained project.
    assert_eq!(id(&claimed(&app, &w, second).await), id(copy));
}

// ----- dedupe, rate limits, bulk -----

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_are_refused_until_the_task_closes() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "dedupe"})).await;
    let w = worker(&app, "w").await;
    let first = submitted(&app, &admin, p, "one", json!({"unique_string": "hello"})).await;
    assert_eq!(first["hash64"], 0x2cf2_4dba_5fb0_a30e_i64, "the stable hash of `hello`");
    expect_error(&submit(&app, &admin, p, "two", json!({"unique_string": "hello"})).await, 409, "duplicate");
    expect_error(
        &submit(&app, &admin, p, "three", json!({"hash64": 0x2cf2_4dba_5fb0_a30e_i64})).await,
        409,
        "duplicate",
    );
    let both = json!({"hash64": 5, "unique_string": "x"});
    expect_error(&submit(&app, &admin, p, "both", both).await, 400, "conflicting_fields");
    // Another project may hold the same hash.
    let other = project(&app, &admin, json!({"name": "dedupe-2"})).await;
    submitted(&app, &admin, other, "elsewhere", json!({"unique_string": "hello"})).await;

    claimed(&app, &w, p).await;
    expect(&release(&app, &w, id(&first), json!({"result": 0})).await, 200);
    let again = submitted(&app, &admin, p, "after close", json!({"unique_string": "hello"})).await;
    assert_ne!(id(&again), id(&first));
    assert_eq!(again["hash64"], first["hash64"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_answer_429_with_retry_after_until_the_clock_moves() {
    our_host_only!("moves our host's test clock");
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "throttled", "submit_rate": 1, "assign_rate": 1})).await;
    let w = worker(&app, "w").await;
    submitted(&app, &admin, p, "first", json!({})).await;
    let limited = submit(&app, &admin, p, "second", json!({})).await;
    let body = expect_error(&limited, 429, "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(body["retry_after"], 1.0);
    assert_eq!(count(&app, &admin, &format!("project={p}")).await, 1, "a refused submit stores nothing");

    app.ours().runtime.clock().advance(1);
    submitted(&app, &admin, p, "second", json!({})).await;

    // Claims: one per second from this project.
    claimed(&app, &w, p).await;
    let limited = claim(&app, &w, json!({"project": p})).await;
    expect_error(&limited, 429, "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(claim(&app, &w, json!({})).await.status, 204, "across projects an indebted project is skipped");
    app.ours().runtime.clock().advance(1);
    assert_eq!(claimed(&app, &w, p).await["recipe"], "second");

    // A bulk larger than the bucket is admitted once, then pays its debt.
    app.ours().runtime.clock().advance(10);
    let bulk = json!({"project": p, "tasks": [{"recipe": "a"}, {"recipe": "b"}, {"recipe": "c"}]});
    expect(&post(&app, &admin, "/api/v1/tasks/bulk", bulk.clone()).await, 201);
    let limited = post(&app, &admin, "/api/v1/tasks/bulk", bulk).await;
    expect_error(&limited, 429, "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("3"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_of_ten_thousand_tasks_is_one_request() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "bulk"})).await;
    let tasks: Vec<Value> = (0..10_000).map(|i| json!({"recipe": format!("item {i}"), "hash64": i + 1})).collect();
    let started = Instant::now();
    let created = expect(&post(&app, &admin, "/api/v1/tasks/bulk", json!({"project": p, "tasks": tasks})).await, 201);
    eprintln!("bulk of 10,000: {:?}", started.elapsed());
    assert_eq!(created["created"], 10_000);
    assert_eq!(created["duplicates"], json!([]));
    let ids: Vec<i64> = created["ids"].as_array().unwrap().iter().map(|id| id.as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 10_000);
    assert!(ids.windows(2).all(|pair| pair[1] == pair[0] + 1), "ids follow item order");
    assert_eq!(count(&app, &admin, &format!("project={p}&status=new")).await, 10_000);
    let item = task(&app, &admin, ids[9_999]).await;
    assert_eq!((item["recipe"].clone(), item["hash64"].clone()), (json!("item 9999"), json!(10_000)));

    // Duplicates of open tasks and of earlier items are skipped and reported by index.
    let mixed = json!({"project": p, "tasks": [{"recipe": "new", "hash64": 20_001}, {"recipe": "dup", "hash64": 5},
        {"recipe": "x"}, {"recipe": "again", "hash64": 20_001}]});
    let answer = expect(&post(&app, &admin, "/api/v1/tasks/bulk", mixed).await, 201);
    assert_eq!(answer["created"], 2);
    assert_eq!(answer["duplicates"], json!([1, 3]));
    let ids = answer["ids"].as_array().unwrap();
    assert!(ids[0].is_i64() && ids[2].is_i64() && ids[1].is_null() && ids[3].is_null(), "{answer}");

    let too_many: Vec<Value> = (0..10_001).map(|_| json!({"recipe": "x"})).collect();
    let refused = post(&app, &admin, "/api/v1/tasks/bulk", json!({"project": p, "tasks": too_many})).await;
    let body = expect_error(&refused, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "tasks", "{body}");
    let empty = expect(&post(&app, &admin, "/api/v1/tasks/bulk", json!({"project": p, "tasks": []})).await, 201);
    assert_eq!(empty, json!({"created": 0, "duplicates": [], "ids": []}));
    assert_eq!(count(&app, &admin, &format!("project={p}")).await, 10_002);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_bulk_stores_nothing() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let (_, bob) = user(&app, "bob").await;
    let p = project(&app, &admin, json!({"name": "atomic"})).await;
    let tasks = json!([{"recipe": "ok"}, {"recipe": "bad", "priority": 1i64 << 40}, {"recipe": "ok", "max_retries": -1},
        {"recipe": "both", "hash64": 1, "unique_string": "x"}]);
    let refused = post(&app, &admin, "/api/v1/tasks/bulk", json!({"project": p, "tasks": tasks})).await;
    let body = expect_error(&refused, 422, "validation_failed");
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"tasks[1].priority"), "{body}");
    assert!(fields.contains(&"tasks[2].max_retries"), "{body}");
    assert!(fields.iter().any(|field| field.starts_with("tasks[3]")), "{body}");
    assert!(!fields.iter().any(|field| field.starts_with("tasks[0]")), "{body}");
    assert_eq!(count(&app, &admin, &format!("project={p}")).await, 0);

    let unknown = json!({"project": p, "tasks": [{"recipe": "ok"}, {"recipe": "x", "colour": "red"}]});
    expect_error(&post(&app, &admin, "/api/v1/tasks/bulk", unknown).await, 422, "unknown_field");
    let no_edit = json!({"project": p, "tasks": [{"recipe": "ok"}]});
    expect_error(&post(&app, &bob, "/api/v1/tasks/bulk", no_edit).await, 403, "forbidden");
    let missing = json!({"project": 424_242, "tasks": [{"recipe": "ok"}]});
    expect_error(&post(&app, &admin, "/api/v1/tasks/bulk", missing).await, 404, "not_found");
    assert_eq!(count(&app, &admin, "status=new").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_the_spec_errors() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "strict"})).await;

    let cases = [
        (json!({"priority": 1i64 << 31}), "priority"),
        (json!({"priority": -(1i64 << 31) - 1}), "priority"),
        (json!({"max_retries": -1}), "max_retries"),
        (json!({"max_assign_time": -5}), "max_assign_time"),
        (json!({"verification_count": -1}), "verification_count"),
    ];
    for (extra, field) in cases {
        let body = expect_error(&submit(&app, &admin, p, "r", extra.clone()).await, 422, "validation_failed");
        assert_eq!(body["errors"][0]["field"], field, "{extra}: {body}");
    }
    // i32 bounds themselves are fine.
    submitted(&app, &admin, p, "max", json!({"priority": i32::MAX})).await;
    submitted(&app, &admin, p, "min", json!({"priority": i32::MIN})).await;
    // A recipe of exactly 1 MiB is accepted; one byte more is not.
    let mib = 1 << 20;
    let big = submitted(&app, &admin, p, &"x".repeat(mib), json!({})).await;
    assert_eq!(big["recipe"].as_str().unwrap().len(), mib);
    let body = expect_error(&submit(&app, &admin, p, &"x".repeat(mib + 1), json!({})).await, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "recipe", "{body}");

    expect_error(&submit(&app, &admin, 424_242, "r", json!({})).await, 404, "not_found");
    expect_error(&submit(&app, &admin, p, "r", json!({"colour": "red"})).await, 422, "unknown_field");
    let auth = format!("Bearer {}", app.admin_token());
    let json_headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
    let malformed = app.send("POST", "/api/v1/tasks", &json_headers, "{\"project\": 1, \"recipe\": ").await;
    expect_error(&malformed, 400, "invalid_json");
    let text =
        app.send("POST", "/api/v1/tasks", &[("content-type", "text/plain"), ("authorization", &auth)], "{}").await;
    expect_error(&text, 415, "unsupported_media_type");
    let wrong_type = submit(&app, &admin, p, "r", json!({"priority": "high"})).await;
    expect_error(&wrong_type, 422, "validation_failed");
    let missing_recipe = post(&app, &admin, "/api/v1/tasks", json!({"project": p})).await;
    expect_error(&missing_recipe, 422, "validation_failed");

    let w = worker(&app, "w").await;
    expect_error(&claim(&app, &w, json!({"wait": 21})).await, 422, "validation_failed");
    expect_error(&claim(&app, &w, json!({"wait": -1})).await, 422, "validation_failed");
    expect_error(&claim(&app, &w, json!({"project": 424_242})).await, 404, "not_found");
    expect_error(&get(&app, &admin, "/api/v1/tasks/abc").await, 404, "not_found");
    expect_error(&call(&app, &admin, "DELETE", "/api/v1/tasks/1", None).await, 405, "method_not_allowed");
    assert_eq!(count(&app, &admin, &format!("project={p}")).await, 3, "only the three valid submits");
}

// ----- long-poll, results -----

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_claim_gets_a_task_submitted_while_it_waits() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "waiting"})).await;
    let w = worker(&app, "w").await;

    let started = Instant::now();
    let empty = claim(&app, &w, json!({"project": p, "wait": 1})).await;
    let waited = started.elapsed();
    assert_eq!(empty.status, 204, "{}", empty.text());
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "{waited:?}");

    let http = app.http.clone();
    let (waiter, worker_for_task) = (w.clone(), http.clone());
    let started = Instant::now();
    let pending =
        tokio::spawn(async move { claim(&worker_for_task, &waiter, json!({"project": p, "wait": 10})).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = id(&submitted(&http, &admin, p, "late arrival", json!({})).await);
    let got = pending.await.unwrap();
    let waited = started.elapsed();
    let task = expect(&got, 200);
    assert_eq!(id(&task), t);
    assert_eq!(task["assignee"], w.worker_id());
    assert!(waited >= Duration::from_millis(450) && waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn results_download_as_attachments() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "results"})).await;
    let w = worker(&app, "w").await;
    let t = id(&submitted(&app, &admin, p, "r", json!({})).await);
    let path = format!("/api/v1/tasks/{t}/result");
    expect_error(&get(&app, &admin, &path).await, 404, "not_found");

    claimed(&app, &w, p).await;
    expect(&release(&app, &w, t, json!({"result": 0, "output": "line 1\nline 2 ✓"})).await, 200);
    let download = get(&app, &admin, &path).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.text(), "line 1\nline 2 ✓");
    assert_eq!(download.header("content-type"), Some("text/plain; charset=utf-8"));
    let disposition = format!("attachment; filename=\"task-{t}-result.txt\"");
    assert_eq!(download.header("content-disposition"), Some(disposition.as_str()));
    let inline = get(&app, &Who::Anonymous, &format!("{path}?inline=1")).await;
    assert_eq!(inline.status, 200);
    assert_eq!(inline.text(), "line 1\nline 2 ✓");
    assert_eq!(inline.header("content-disposition"), None);
    expect_error(&get(&app, &admin, &format!("{path}?inline=maybe")).await, 400, "invalid_query");
    expect_error(&get(&app, &admin, "/api/v1/tasks/999999/result").await, 404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_links_the_tasks_collection() {
    let app = TestHost::start().await;
    let root = expect(&get(&app, &Who::Anonymous, "/api/v1").await, 200);
    assert_eq!(root["links"]["tasks"], app.url("/api/v1/tasks"), "{root}");
    let empty = expect(&get(&app, &Who::Anonymous, "/api/v1/tasks/").await, 200);
    assert_eq!(empty, json!({"count": 0, "next": null, "previous": null, "results": []}));
}

// ----- concurrency -----

const CONCURRENT_TASKS: usize = 2_000;
const CONCURRENT_WORKERS: usize = 16;

/// Submits 2,000 tasks, then 16 workers spread over `hosts` loop claim → release OK until 204. Asserts every
/// task was claimed exactly once and closed; returns the wall time of the claiming phase.
async fn claim_everything_exactly_once(hosts: &[Http], admin: &Who) -> Duration {
    let p = project(&hosts[0], admin, json!({"name": "stampede"})).await;
    let tasks: Vec<Value> = (0..CONCURRENT_TASKS).map(|i| json!({"recipe": format!("task {i}")})).collect();
    let created =
        expect(&post(&hosts[0], admin, "/api/v1/tasks/bulk", json!({"project": p, "tasks": tasks})).await, 201);
    let all: HashSet<i64> = created["ids"].as_array().unwrap().iter().map(|id| id.as_i64().unwrap()).collect();
    assert_eq!(all.len(), CONCURRENT_TASKS);
    let mut workers = Vec::new();
    for n in 0..CONCURRENT_WORKERS {
        workers.push((hosts[n % hosts.len()].clone(), worker(&hosts[n % hosts.len()], &format!("w{n}")).await));
    }

    let started = Instant::now();
    let mut handles = Vec::new();
    for (http, w) in workers {
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let response = claim(&http, &w, json!({"project": p})).await;
                if response.status == 204 {
                    return mine;
                }
                let task = expect(&response, 200);
                assert_eq!(task["assignee"], w.worker_id());
                let t = id(&task);
                let released = expect(&release(&http, &w, t, json!({"result": 0, "output": "ok"})).await, 200);
                assert_eq!(released, json!({"updated": true, "status": "closed"}), "task {t}");
                mine.push(t);
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut busy_workers = 0;
    for handle in handles {
        let mine = handle.await.expect("a worker panicked");
        busy_workers += usize::from(!mine.is_empty());
        for t in mine {
            assert!(seen.insert(t), "task {t} was claimed twice");
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(seen, all, "every task claimed exactly once, none lost");
    assert!(busy_workers > 1, "the workers ran concurrently");
    for http in hosts {
        assert_eq!(count(http, admin, "status=closed").await, CONCURRENT_TASKS as i64);
        assert_eq!(count(http, admin, &format!("project={p}&status__ne=closed")).await, 0);
    }
    elapsed
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_workers_claim_two_thousand_tasks_exactly_once() {
    let app = TestHost::start().await;
    let elapsed = claim_everything_exactly_once(std::slice::from_ref(&app.http), &admin(&app)).await;
    eprintln!("16 workers × 2,000 tasks on one host: {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_host_processes_on_one_database_claim_each_task_exactly_once() {
    our_host_only!("runs a second process of our host on the data directory");
    let app = TestHost::start().await;
    let child = ChildHost::spawn(app.data.path());
    // The admin calls in `claim_everything_exactly_once` hit both hosts: the child read the same token.
    let hosts = [app.http.clone(), Http::new(child.url.clone())];
    let elapsed = claim_everything_exactly_once(&hosts, &admin(&app)).await;
    eprintln!("16 workers × 2,000 tasks on two host processes: {elapsed:?}");
}

/// Not a test on its own: the entry point of the second host process that
/// `two_host_processes_on_one_database_claim_each_task_exactly_once` starts (returns at once otherwise).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "entry point of a child host process, started by another test"]
async fn child_host_entry() {
    conveyor_tests::child_host_main().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_claims_and_releases_through_the_host_hold_each_task_once_and_answer_per_item() {
    let app = TestHost::start().await;
    let admin = admin(&app);
    let p = project(&app, &admin, json!({"name": "batches"})).await;
    let tasks: Vec<Value> = (0..400).map(|i| json!({"recipe": format!("item {i}"), "priority": i % 3})).collect();
    let created = expect(&post(&app, &admin, "/api/v1/tasks/bulk", json!({"project": p, "tasks": tasks})).await, 201);
    let ids: Vec<i64> = created["ids"].as_array().unwrap().iter().map(|id| id.as_i64().unwrap()).collect();

    // Ordering: priority, then id; `max` answers a list, even of one.
    let first = worker(&app, "first").await;
    let three = expect(&claim(&app, &first, json!({"project": p, "max": 3})).await, 200);
    let three: Vec<i64> = three.as_array().unwrap().iter().map(id).collect();
    assert_eq!(three, vec![ids[2], ids[5], ids[8]], "the three of priority 2 with the lowest ids, in claim order");
    assert!(expect(&claim(&app, &first, json!({"project": p, "max": 1})).await, 200).is_array());
    for max in [0, 101, -1] {
        expect_error(&claim(&app, &first, json!({"project": p, "max": max})).await, 422, "validation_failed");
    }

    // 16 workers claiming batches at once take every task exactly once.
    let workers = futures_join(16, |i| {
        let http = app.http.clone();
        async move { worker(&http, &format!("w{i}")).await }
    })
    .await;
    let claimed = futures_join(16, |i| {
        let (http, who) = (app.http.clone(), workers[i].clone());
        async move {
            let mut mine = Vec::new();
            loop {
                let response = claim(&http, &who, json!({"project": p, "max": 7 + i})).await;
                if response.status == 204 {
                    return mine;
                }
                let batch = expect(&response, 200);
                mine.extend(batch.as_array().unwrap().iter().map(id));
            }
        }
    })
    .await;
    let all: Vec<i64> = claimed.iter().flatten().copied().collect();
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (400 - 4, 400 - 4), "every remaining task exactly once");

    // A batch release: the caller's tasks apply, another worker's and an unknown one answer `updated: false`.
    let (mine, theirs) = (&claimed[0], &claimed[1]);
    let items = json!([{"id": mine[0], "result": 0, "output": "done"}, {"id": theirs[0], "result": 0},
        {"id": mine[1], "result": 2}, {"id": 999_999_999, "result": 1}]);
    let answers = expect(&post(&app, &workers[0], "/api/v1/tasks/release", items).await, 200);
    assert_eq!(
        answers,
        json!([{"id": mine[0], "updated": true, "status": "closed"}, {"id": theirs[0], "updated": false},
            {"id": mine[1], "updated": true, "status": "new"}, {"id": 999_999_999, "updated": false}])
    );
    assert_eq!(task(&app, &admin, theirs[0]).await["status"], "assigned", "another's task is untouched");

    // Refusals: a person is no worker, bad items refuse the whole batch, malformed JSON is 400.
    let (_, alice) = user(&app, "alice").await;
    let as_user = post(&app, &alice, "/api/v1/tasks/release", json!([{"id": mine[2], "result": 0}])).await;
    assert!(as_user.status == 401 || as_user.status == 403, "{}", as_user.text());
    let bad = json!([{"id": mine[2], "result": 0}, {"id": mine[3], "result": 9}]);
    expect_error(&post(&app, &workers[0], "/api/v1/tasks/release", bad).await, 422, "validation_failed");
    assert_eq!(task(&app, &admin, mine[2]).await["status"], "assigned", "nothing of a refused batch applied");
    expect_error(&post(&app, &workers[0], "/api/v1/tasks/release", json!([])).await, 422, "validation_failed");
    let unknown_field = json!([{"id": mine[2], "result": 0, "colour": "red"}]);
    expect_error(&post(&app, &workers[0], "/api/v1/tasks/release", unknown_field).await, 422, "unknown_field");
    let malformed = app
        .send_as(
            &workers[0],
            "POST",
            "/api/v1/tasks/release",
            &[("content-type", "application/json")],
            "[{".to_string(),
        )
        .await;
    expect_error(&malformed, 400, "invalid_json");
}

/// Runs `n` futures made by `make(i)` at once and collects their outputs in order.
async fn futures_join<T: Send + 'static, F>(n: usize, make: impl Fn(usize) -> F) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(make(i))).collect();
    let mut outputs = Vec::with_capacity(n);
    for handle in handles {
        outputs.push(handle.await.expect("the task ran"));
    }
    outputs
}
