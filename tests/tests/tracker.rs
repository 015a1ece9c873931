//! Component `tracker` over HTTP against the real host (SPEC §9): task_tracker's routes at the root, its
//! envelope, status codes, field names and numeric statuses; a worker created through `/worker/create`
//! submits, claims, releases and logs through them while the same tasks are visible and consistent through
//! `/api/v1` (and the reverse); every route's refusals; the manager routes with a session cookie; the git
//! receive hook.

use conveyor_tests::{Http, TestHost, TestResponse, Who, app_manifest};
use serde_json::{Value, json};

// ----- harness -----

/// Sends `body` as task_tracker clients do: JSON without a Content-Type (`curl -d` style).
async fn call(http: &Http, who: &Who, method: &str, path: &str, body: Option<&Value>) -> TestResponse {
    http.send_as(who, method, path, &[], body.map(Value::to_string).unwrap_or_default()).await
}

async fn post(http: &Http, who: &Who, path: &str, body: Value) -> TestResponse {
    call(http, who, "POST", path, Some(&body)).await
}

async fn get(http: &Http, who: &Who, path: &str) -> TestResponse {
    call(http, who, "GET", path, None).await
}

/// Native JSON POST (with a Content-Type, as `/api/v1` wants).
async fn native_post(http: &Http, who: &Who, path: &str, body: Value) -> TestResponse {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    match who {
        // The native API also takes a worker's credentials as one Authorization header.
        Who::Worker(id, secret) => headers.push(("authorization".into(), format!("Worker {id}:{secret}"))),
        other => headers.extend(other.headers()),
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    http.send("POST", path, &headers, body.to_string()).await
}

#[track_caller]
fn expect(response: &TestResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    if response.body.is_empty() { Value::Null } else { response.json() }
}

/// An `ok: true` envelope with the given status; returns `content`.
#[track_caller]
fn ok(response: &TestResponse) -> Value {
    let body = expect(response, 200);
    assert_eq!(body["ok"], true, "{body}");
    body.get("content").cloned().unwrap_or(Value::Null)
}

/// An `ok: false` envelope with the given status and a message; returns the body.
#[track_caller]
fn refused(response: &TestResponse, status: u16) -> Value {
    let body = expect(response, status);
    assert_eq!(body["ok"], false, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body.get("detail").is_none(), "native error body on a tracker route: {body}");
    body
}

fn admin(app: &TestHost) -> Who {
    Who::Bearer(app.admin_token())
}

/// A user created by the administrator, logged in through task_tracker's `/login`: (id, session cookie).
async fn manager(app: &TestHost, username: &str) -> (i64, Who) {
    let body = json!({"username": username, "email": format!("{username}@example.org"), "password": "correct horse"});
    let created = expect(&native_post(app, &admin(app), "/api/v1/users", body).await, 201);
    let login = post(app, &Who::Anonymous, "/login", json!({"username": username, "password": "correct horse"})).await;
    let cookie = login.header("set-cookie").expect("a session cookie").to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let content = ok(&login);
    assert_eq!(content["manager"]["username"], username);
    let token = cookie.strip_prefix("conveyor_session=").unwrap().split(';').next().unwrap().to_string();
    (created["id"].as_i64().unwrap(), Who::Cookie(token))
}

/// A worker through `/worker/create`.
async fn tracker_worker(http: &Http, alias: &str) -> Who {
    let content = ok(&post(http, &Who::Anonymous, "/worker/create", json!({"alias": alias})).await);
    let worker = &content["worker"];
    let secret = worker["secret"].as_str().unwrap().to_string();
    Who::Worker(worker["id"].as_i64().unwrap(), secret)
}

/// A project through `/project/create`; returns its id.
async fn tracker_project(http: &Http, who: &Who, body: Value) -> i64 {
    ok(&post(http, who, "/project/create", body).await)["id"].as_i64().unwrap()
}

/// A worker asks (tracker route) and the manager accepts (tracker route).
async fn grant(http: &Http, manager: &Who, project: i64, worker: &Who, assign: bool, submit: bool) {
    let ask = json!({"project": project, "assign": assign, "submit": submit});
    ok(&post(http, worker, "/project/request_access", ask).await);
    let path = format!("/project/accept_request/{project}/{}", worker.worker_id());
    ok(&post(http, manager, &path, json!({})).await);
}

async fn native_task(http: &Http, who: &Who, id: i64) -> Value {
    expect(&get(http, who, &format!("/api/v1/tasks/{id}")).await, 200)
}

/// The native tasks of a project, by id.
async fn native_tasks(http: &Http, who: &Who, project: i64) -> Vec<Value> {
    let page = expect(&get(http, who, &format!("/api/v1/tasks?project={project}&order=id")).await, 200);
    page["results"].as_array().unwrap().clone()
}

// ----- the worker's life through task_tracker's routes, seen natively -----

#[tokio::test(flavor = "multi_thread")]
async fn a_tracker_worker_submits_claims_releases_and_logs_consistently_with_the_native_api() {
    let app = TestHost::start().await;
    let info = ok(&get(&app, &Who::Anonymous, "/").await);
    assert_eq!((info["name"].as_str(), info["version"].as_str()), (Some("task_tracker"), Some("1.1")));

    let (_, ada) = manager(&app, "ada").await;
    let p =
        tracker_project(&app, &ada, json!({"name": "render", "public": true, "priority": 5, "version": "1.0"})).await;

    // /worker/create: task_tracker's worker shape, secret base64 (32 bytes → 44 characters, padded).
    let created = ok(&post(&app, &Who::Anonymous, "/worker/create", json!({"alias": "tt-1"})).await);
    let w = &created["worker"];
    assert_eq!(w["alias"], "tt-1");
    assert_eq!(w["paused"], false);
    assert!(w["created"].as_i64().unwrap() > 0);
    let secret = w["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 44, "{secret}");
    assert!(secret.ends_with('='), "{secret}");
    let worker = Who::Worker(w["id"].as_i64().unwrap(), secret.to_string());
    let wid = worker.worker_id();

    // Submitting needs an accepted SUBMIT grant.
    let task = json!({"project": p, "recipe": "frame 1", "priority": 3, "max_retries": 3, "max_assign_time": 600,
                      "hash_u64": 77, "unique_string": "", "verification_count": 0});
    refused(&post(&app, &worker, "/task/submit", task.clone()).await, 403);
    grant(&app, &ada, p, &worker, true, true).await;
    let submitted = expect(&post(&app, &worker, "/task/submit", task.clone()).await, 200);
    assert_eq!(submitted, json!({"ok": true}));
    // The same hash under the documented name `hash64` is a duplicate (task_tracker: 400).
    let duplicate = json!({"project": p, "recipe": "again", "hash64": 77});
    refused(&post(&app, &worker, "/task/submit", duplicate).await, 400);
    let second = json!({"project": p, "recipe": "frame 2", "priority": 1, "unique_string": "frame-2"});
    ok(&post(&app, &worker, "/task/submit", second).await);
    let both_hashes = json!({"project": p, "recipe": "x", "hash64": 5, "unique_string": "y"});
    refused(&post(&app, &worker, "/task/submit", both_hashes).await, 400);

    // Natively: both tasks, with task_tracker's fields carried over.
    let tasks = native_tasks(&app, &ada, p).await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert_eq!((tasks[0]["recipe"].as_str(), tasks[0]["hash64"].as_i64()), (Some("frame 1"), Some(77)));
    assert_eq!((tasks[0]["priority"].as_i64(), tasks[0]["max_assign_time"].as_i64()), (Some(3), Some(600)));
    assert_ne!(tasks[1]["hash64"], 0, "unique_string is hashed into hash64");
    let (t1, t2) = (tasks[0]["id"].as_i64().unwrap(), tasks[1]["id"].as_i64().unwrap());

    // /task/get: the highest priority task, in task_tracker's shape, with the project embedded.
    let claimed = ok(&get(&app, &worker, &format!("/task/get/{p}")).await)["task"].clone();
    assert_eq!(claimed["id"], t1);
    assert_eq!(claimed["status"], 1);
    assert_eq!(claimed["assignee"], wid);
    assert_eq!(claimed["recipe"], "frame 1");
    assert_eq!(claimed["retries"], 0);
    assert_eq!(claimed["max_retries"], 3);
    assert!(claimed["assign_time"].as_i64().unwrap() > 0);
    assert_eq!(claimed["project"]["id"], p);
    assert_eq!(claimed["project"]["name"], "render");
    assert_eq!(claimed["project"]["public"], true);
    assert_eq!(claimed["project"]["hidden"], false);
    assert_eq!(claimed["project"]["version"], "1.0");
    assert_eq!(claimed["project"]["chain"], 0);
    let native = native_task(&app, &ada, t1).await;
    assert_eq!((native["status"].as_str(), native["assignee"].as_i64()), (Some("assigned"), Some(wid)));

    // Release OK: closes; `updated: true`; natively closed, and the worker is credited.
    let release = post(&app, &worker, "/task/release", json!({"task_id": t1, "result": 0, "verification": -3})).await;
    assert_eq!(expect(&release, 200), json!({"ok": true, "content": {"updated": true}}));
    assert_eq!(native_task(&app, &ada, t1).await["status"], "closed");

    // The reverse: claimed natively by the same worker, released through the tracker with FAIL.
    let native_claim = native_post(&app, &worker, "/api/v1/tasks/claim", json!({"project": p})).await;
    assert_eq!(expect(&native_claim, 200)["id"], t2);
    // As task_tracker: any release by the assignee is `updated: true`, also a FAIL that does not close.
    let fail = expect(&post(&app, &worker, "/task/release", json!({"task_id": t2, "result": 1})).await, 200);
    assert_eq!(fail, json!({"ok": true, "content": {"updated": true}}));
    let after = native_task(&app, &ada, t2).await;
    assert_eq!((after["status"].as_str(), after["retries"].as_i64()), (Some("new"), Some(1)));

    // Releasing a task it does not hold: 200, `updated: false`, the reason in `message`; nothing changes.
    let stale = expect(&post(&app, &worker, "/task/release", json!({"task_id": t2, "result": 0})).await, 200);
    assert_eq!(stale["content"]["updated"], false, "{stale}");
    assert!(stale["message"].as_str().unwrap().contains("not"), "{stale}");
    assert_eq!(native_task(&app, &ada, t2).await["status"], "new");
    // A bad result code is refused (400).
    refused(&post(&app, &worker, "/task/release", json!({"task_id": t2, "result": 7})).await, 400);

    // A task submitted natively is claimed through the tracker by a worker registered natively.
    let native_worker =
        expect(&native_post(&app, &Who::Anonymous, "/api/v1/workers", json!({"alias": "n1"})).await, 201);
    let n1 = Who::Worker(native_worker["id"].as_i64().unwrap(), native_worker["secret"].as_str().unwrap().into());
    let t3 = expect(
        &native_post(&app, &ada, "/api/v1/tasks", json!({"project": p, "recipe": "native", "priority": 9})).await,
        201,
    );
    let got = ok(&get(&app, &n1, &format!("/task/get/{p}")).await)["task"].clone();
    assert_eq!(
        (got["id"].clone(), got["recipe"].clone(), got["assignee"].clone()),
        (t3["id"].clone(), json!("native"), json!(n1.worker_id()))
    );
    let skip = expect(&post(&app, &n1, "/task/release", json!({"task_id": got["id"], "result": 2})).await, 200);
    assert_eq!(skip, json!({"ok": true, "content": {"updated": true}}));
    assert_eq!(native_task(&app, &ada, got["id"].as_i64().unwrap()).await["status"], "new");

    // Nothing claimable: HTTP 200 with ok false.
    let w2 = tracker_worker(&app, "tt-2").await;
    let empty_project = tracker_project(&app, &ada, json!({"name": "empty", "public": true})).await;
    let none = expect(&get(&app, &w2, &format!("/task/get/{empty_project}")).await, 200);
    assert_eq!(none, json!({"ok": false, "message": "No task available"}));

    // Bulk submit: one project, duplicates skipped, visible natively.
    let bulk = json!({"requests": [
        {"project": empty_project, "recipe": "b1", "hash_u64": 1},
        {"project": empty_project, "recipe": "b2", "hash_u64": 2},
        {"project": empty_project, "recipe": "b1 again", "hash_u64": 1},
    ]});
    refused(&post(&app, &worker, "/task/bulk_submit", bulk.clone()).await, 403);
    grant(&app, &ada, empty_project, &worker, false, true).await;
    assert_eq!(expect(&post(&app, &worker, "/task/bulk_submit", bulk).await, 200), json!({"ok": true}));
    let recipes: Vec<Value> =
        native_tasks(&app, &ada, empty_project).await.iter().map(|t| t["recipe"].clone()).collect();
    assert_eq!(recipes, vec![json!("b1"), json!("b2")]);
    let mixed = json!({"requests": [{"project": empty_project, "recipe": "a"}, {"project": p, "recipe": "b"}]});
    refused(&post(&app, &worker, "/task/bulk_submit", mixed).await, 400);
    refused(&post(&app, &worker, "/task/bulk_submit", json!({"requests": []})).await, 400);

    // Logs: through /log/{level}, visible natively with the worker and level.
    for level in ["trace", "info", "warn", "error"] {
        let entry = json!({"scope": "render", "message": format!("{level} message"), "timestamp": 1_559_393_394});
        assert_eq!(expect(&post(&app, &worker, &format!("/log/{level}"), entry).await, 200), json!({"ok": true}));
    }
    refused(&post(&app, &worker, "/log/loud", json!({"message": "x"})).await, 404);
    refused(&post(&app, &Who::Anonymous, "/log/info", json!({"message": "x"})).await, 401);
    let native_logs = expect(&get(&app, &admin(&app), &format!("/api/v1/logs?worker={wid}&order=id")).await, 200);
    let levels: Vec<Value> = native_logs["results"].as_array().unwrap().iter().map(|l| l["level"].clone()).collect();
    assert_eq!(levels, vec![json!("trace"), json!("info"), json!("warn"), json!("error")]);
    assert_eq!(native_logs["results"][1]["scope"], "render");
    assert_eq!(native_logs["results"][1]["timestamp"], 1_559_393_394);

    // /worker/update, /worker/get, /worker/stats.
    ok(&post(&app, &worker, "/worker/update", json!({"alias": "renamed"})).await);
    let native_worker = expect(&get(&app, &admin(&app), &format!("/api/v1/workers/{wid}")).await, 200);
    assert_eq!(native_worker["alias"], "renamed");
    let me = ok(&get(&app, &worker, &format!("/worker/get/{wid}")).await);
    assert_eq!((me["worker"]["id"].as_i64(), me["worker"]["alias"].as_str()), (Some(wid), Some("renamed")));
    assert!(me["worker"].get("secret").is_none(), "{me}");
    refused(&get(&app, &w2, &format!("/worker/get/{wid}")).await, 403);
    refused(&get(&app, &Who::Anonymous, &format!("/worker/get/{wid}")).await, 401);
    refused(&get(&app, &admin(&app), "/worker/get/999999").await, 404);
    let stats = ok(&get(&app, &worker, "/worker/stats").await)["stats"].clone();
    let mine = stats.as_array().unwrap().iter().find(|s| s["id"] == wid).cloned().unwrap();
    assert_eq!((mine["alias"].as_str(), mine["closed_task_count"].as_i64()), (Some("renamed"), Some(1)));
    refused(&get(&app, &Who::Anonymous, "/worker/stats").await, 401);

    // A verification quorum of 2: the first OK vote does not close (`updated: false`), the second worker's
    // matching vote does; natively the task is then closed.
    let quorum = json!({"project": p, "recipe": "vote", "priority": 100, "verification_count": 2});
    ok(&post(&app, &worker, "/task/submit", quorum).await);
    let first = ok(&get(&app, &worker, &format!("/task/get/{p}")).await)["task"].clone();
    assert_eq!((first["recipe"].as_str(), first["verification_count"].as_i64()), (Some("vote"), Some(2)));
    let tq = first["id"].as_i64().unwrap();
    let vote = json!({"task_id": tq, "result": 0, "verification": 42});
    let short = expect(&post(&app, &worker, "/task/release", vote.clone()).await, 200);
    assert_eq!(short, json!({"ok": true, "message": "Task was not marked as closed", "content": {"updated": false}}));
    assert_eq!(native_task(&app, &ada, tq).await["status"], "new");
    let second = ok(&get(&app, &w2, &format!("/task/get/{p}")).await)["task"].clone();
    assert_eq!(second["id"], tq);
    let closes = expect(&post(&app, &w2, "/task/release", vote).await, 200);
    assert_eq!(closes, json!({"ok": true, "content": {"updated": true}}));
    assert_eq!(native_task(&app, &ada, tq).await["status"], "closed");
}

// ----- task_tracker's own Python client, byte for byte -----

/// A request as task_tracker's Python client (`tt_drone/api.py`, on `requests`) sends it: its User-Agent,
/// the worker headers always present (the text `None` before a worker exists), no Content-Type, and the
/// body as Python's `json.dumps` writes it (`", "` and `": "` separators).
async fn py_client(http: &Http, worker: Option<(i64, &str)>, method: &str, path: &str, body: &str) -> TestResponse {
    let (id, secret) = worker.map_or(("None".to_string(), "None".to_string()), |(id, s)| (id.to_string(), s.into()));
    let headers = [
        ("User-Agent", "tt_py_client1.0"),
        ("Accept-Encoding", "gzip, deflate"),
        ("Accept", "*/*"),
        ("Connection", "keep-alive"),
        ("X-Worker-Id", id.as_str()),
        ("X-Secret", secret.as_str()),
    ];
    let response = http.send(method, path, &headers, body.to_string()).await;
    conveyor_tests::assert_no_leaks(&response.text());
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_client_s_exact_requests_register_submit_claim_and_release() {
    let app = TestHost::start().await;
    let (_, ada) = manager(&app, "ada").await;
    let p = tracker_project(&app, &ada, json!({"name": "drone-work", "public": true})).await;

    // make_worker: the placeholder credentials are not read; the worker is created.
    let created = ok(&py_client(&app, None, "POST", "/worker/create", r#"{"alias": "drone"}"#).await);
    let (wid, secret) = (created["worker"]["id"].as_i64().unwrap(), created["worker"]["secret"].as_str().unwrap());
    assert_eq!(created["worker"]["alias"], "drone");
    let me = Some((wid, secret));
    // The same placeholders on a route that needs a worker are still refused.
    refused(&py_client(&app, None, "GET", &format!("/task/get/{p}"), "").await, 401);

    // request_access, then a manager accepts; get_secret.
    let ask = format!(r#"{{"project": {p}, "assign": true, "submit": true}}"#);
    ok(&py_client(&app, me, "POST", "/project/request_access", &ask).await);
    ok(&post(&app, &ada, &format!("/project/accept_request/{p}/{wid}"), json!({})).await);
    ok(&post(&app, &ada, &format!("/project/secret/{p}"), json!({"secret": "for drones"})).await);
    let secret_answer = ok(&py_client(&app, me, "GET", &format!("/project/secret/{p}"), "").await);
    assert_eq!(secret_answer, json!({"secret": "for drones"}));

    // submit_task with the client's defaults: `hash_u64: 0` and `unique_str: ""` mean no dedupe key.
    let submit = |recipe: &str, verification_count: i64| {
        format!(
            r#"{{"project": {p}, "recipe": "{recipe}", "priority": 1, "max_assign_time": 3600, "hash_u64": 0, "unique_str": "", "verification_count": {verification_count}, "max_retries": 3}}"#
        )
    };
    for recipe in ["a", "a"] {
        assert_eq!(
            expect(&py_client(&app, me, "POST", "/task/submit", &submit(recipe, 1)).await, 200),
            json!({"ok": true})
        );
    }
    assert_eq!(native_tasks(&app, &ada, p).await.len(), 2, "hash 0 is no dedupe key");

    let http: &Http = &app;
    let claim_path = format!("/task/get/{p}");
    let fetch = || py_client(http, me, "GET", &claim_path, "");
    let release = |task: i64, result: i64, verification: i64| {
        let body = format!(r#"{{"task_id": {task}, "result": {result}, "verification": {verification}}}"#);
        async move { expect(&py_client(http, me, "POST", "/task/release", &body).await, 200) }
    };
    let updated = json!({"ok": true, "content": {"updated": true}});

    // FAIL, SKIP and OK by the assignee are all `updated: true`; their effects show natively.
    let t = ok(&fetch().await)["task"]["id"].as_i64().unwrap();
    assert_eq!(release(t, 1, 0).await, updated, "FAIL");
    assert_eq!(native_task(&app, &ada, t).await["retries"], 1);
    assert_eq!(ok(&fetch().await)["task"]["id"], t, "a failed task with retries left is claimable again");
    assert_eq!(release(t, 2, 0).await, updated, "SKIP");
    assert_eq!(native_task(&app, &ada, t).await["status"], "new");
    assert_eq!(ok(&fetch().await)["task"]["id"], t);
    assert_eq!(release(t, 0, 0).await, updated, "OK");
    assert_eq!(native_task(&app, &ada, t).await["status"], "closed");

    // Not the assignee (released already): `updated: false`, the reason in `message`, nothing changes.
    let again = release(t, 1, 0).await;
    assert_eq!(again["content"], json!({"updated": false}), "{again}");
    assert!(again["message"].as_str().is_some_and(|m| !m.is_empty()), "{again}");
    assert_eq!(native_task(&app, &ada, t).await["status"], "closed");

    // A verification vote short of the quorum: `updated: false` with task_tracker's message.
    ok(&py_client(&app, me, "POST", "/task/submit", &submit("vote", 2)).await);
    let mut voted = None;
    while let Some(task) = ok(&fetch().await).get("task").cloned() {
        let id = task["id"].as_i64().unwrap();
        if task["recipe"] == "vote" {
            voted = Some(id);
            break;
        }
        release(id, 0, 0).await;
    }
    let vote = voted.expect("the vote task is claimable");
    let short = release(vote, 0, 7).await;
    assert_eq!(short, json!({"ok": true, "message": "Task was not marked as closed", "content": {"updated": false}}));
    assert_eq!(native_task(&app, &ada, vote).await["status"], "new");

    // log: the client's body (its `level` field is ignored, as task_tracker did).
    let entry = r#"{"level": 5, "message": "hello", "timestamp": 1559393394, "scope": "drone"}"#;
    assert_eq!(expect(&py_client(&app, me, "POST", "/log/info", entry).await, 200), json!({"ok": true}));
}

// ----- refusals -----

#[tokio::test(flavor = "multi_thread")]
async fn worker_routes_refuse_bad_secrets_missing_grants_hidden_projects_and_paused_ones() {
    let app = TestHost::start().await;
    let (_, ada) = manager(&app, "ada").await;
    let public = tracker_project(&app, &ada, json!({"name": "public", "public": true})).await;
    let private = tracker_project(&app, &ada, json!({"name": "private"})).await;
    let hidden = tracker_project(&app, &ada, json!({"name": "hidden", "hidden": true})).await;
    let worker = tracker_worker(&app, "w").await;
    let wid = worker.worker_id();
    for p in [public, private, hidden] {
        expect(&native_post(&app, &ada, "/api/v1/tasks", json!({"project": p, "recipe": format!("t{p}")})).await, 201);
    }

    // Bad, partial or unknown credentials: 401 in the envelope.
    let wrong = Who::Worker(wid, "AAAA".into());
    refused(&get(&app, &wrong, &format!("/task/get/{public}")).await, 401);
    refused(&get(&app, &Who::Worker(999_999, "AAAA".into()), &format!("/task/get/{public}")).await, 401);
    let partial = app.send("GET", &format!("/task/get/{public}"), &[("x-worker-id", &wid.to_string())], "").await;
    refused(&partial, 401);
    refused(&post(&app, &wrong, "/worker/update", json!({"alias": "x"})).await, 401);
    refused(&get(&app, &Who::Anonymous, &format!("/task/get/{public}")).await, 401);
    refused(&get(&app, &ada, &format!("/task/get/{public}")).await, 403);

    // Private: readable and claimable only with an accepted grant; hidden: 404 until then.
    refused(&get(&app, &worker, &format!("/task/get/{private}")).await, 403);
    refused(&get(&app, &worker, &format!("/task/get/{hidden}")).await, 404);
    refused(&get(&app, &worker, &format!("/project/get/{private}")).await, 403);
    refused(&get(&app, &worker, &format!("/project/get/{hidden}")).await, 404);
    refused(&get(&app, &worker, "/project/get/424242").await, 404);
    refused(&post(&app, &worker, "/task/submit", json!({"project": hidden, "recipe": "x"})).await, 404);
    let listed = ok(&get(&app, &worker, "/project/list").await)["projects"].clone();
    let names: Vec<Value> = listed.as_array().unwrap().iter().map(|p| p["name"].clone()).collect();
    assert_eq!(names, vec![json!("public")]);
    let public_project = ok(&get(&app, &Who::Anonymous, &format!("/project/get/{public}")).await)["project"].clone();
    assert_eq!((public_project["id"].as_i64(), public_project["public"].as_bool()), (Some(public), Some(true)));

    // A pending request reads nothing, not even the secret (a task_tracker bug not copied).
    ok(&post(&app, &ada, &format!("/project/secret/{hidden}"), json!({"secret": "s3cr3t"})).await);
    ok(&post(&app, &worker, "/project/request_access", json!({"project": hidden, "assign": true})).await);
    refused(&get(&app, &worker, &format!("/project/secret/{hidden}")).await, 404);
    refused(&post(&app, &worker, "/project/request_access", json!({"project": hidden})).await, 400);
    // A missing project answers as a hidden one does, so the request reveals nothing (docs/tracker.md).
    ok(&post(&app, &worker, "/project/request_access", json!({"project": 424242, "assign": true})).await);
    ok(&post(&app, &ada, &format!("/project/accept_request/{hidden}/{wid}"), json!({})).await);
    assert_eq!(ok(&get(&app, &worker, &format!("/project/secret/{hidden}")).await), json!({"secret": "s3cr3t"}));
    refused(&get(&app, &Who::Anonymous, &format!("/project/secret/{hidden}")).await, 404);
    let hidden_task = ok(&get(&app, &worker, &format!("/task/get/{hidden}")).await)["task"].clone();
    assert_eq!(hidden_task["project"]["hidden"], true);
    let names: Vec<Value> = ok(&get(&app, &worker, "/project/list").await)["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("public"), json!("hidden")]);
    // An assign-only grant does not submit.
    refused(&post(&app, &worker, "/task/submit", json!({"project": hidden, "recipe": "x"})).await, 403);

    // A paused project assigns nothing (200, ok false); submitting to it still works for its grantees.
    ok(&post(
        &app,
        &ada,
        &format!("/project/update/{public}"),
        json!({"name": "public", "public": true, "paused": true}),
    )
    .await);
    let paused = expect(&get(&app, &worker, &format!("/task/get/{public}")).await, 200);
    assert_eq!(paused, json!({"ok": false, "message": "No task available"}));
    ok(&post(
        &app,
        &ada,
        &format!("/project/update/{public}"),
        json!({"name": "public", "public": true, "paused": false}),
    )
    .await);

    // A paused worker claims nothing; only administrators pause.
    refused(&post(&app, &worker, "/worker/set_paused", json!({"worker": wid, "paused": true})).await, 403);
    refused(&post(&app, &ada, "/worker/set_paused", json!({"worker": wid, "paused": true})).await, 403);
    ok(&post(&app, &admin(&app), "/worker/set_paused", json!({"worker": wid, "paused": true})).await);
    assert_eq!(expect(&get(&app, &admin(&app), &format!("/api/v1/workers/{wid}")).await, 200)["paused"], true);
    let none = expect(&get(&app, &worker, &format!("/task/get/{public}")).await, 200);
    assert_eq!(none["ok"], false, "{none}");
    ok(&post(&app, &admin(&app), "/worker/set_paused", json!({"worker": wid, "paused": false})).await);
    assert_eq!(ok(&get(&app, &worker, &format!("/task/get/{public}")).await)["task"]["recipe"], format!("t{public}"));

    // Rate limits: a 429 carries rate_limit_delay (and Retry-After).
    let limited = tracker_project(&app, &ada, json!({"name": "limited", "public": true, "submit_rate": 1.0})).await;
    grant(&app, &ada, limited, &worker, false, true).await;
    let bulk = json!({"requests": [{"project": limited, "recipe": "a"}, {"project": limited, "recipe": "b"}, {"project": limited, "recipe": "c"}]});
    ok(&post(&app, &worker, "/task/bulk_submit", bulk).await);
    let too_many = post(&app, &worker, "/task/submit", json!({"project": limited, "recipe": "d"})).await;
    let body = refused(&too_many, 429);
    assert!(body["rate_limit_delay"].as_f64().is_some_and(|d| d > 0.0), "{body}");
    assert!(too_many.header("retry-after").is_some());

    // Closed registration: /worker/create needs an administrator.
    let closed = TestHost::start_with(app_manifest(), |options| {
        options.variables.insert("open_worker_registration".into(), "false".into());
    })
    .await;
    refused(&post(&closed, &Who::Anonymous, "/worker/create", json!({"alias": "x"})).await, 401);
    let created = ok(&post(&closed, &admin(&closed), "/worker/create", json!({})).await);
    assert_eq!(created["worker"]["alias"], "default_alias");

    // Unknown paths in the catch-all answer a JSON 404; other components' routes still win.
    let unknown = refused(&get(&app, &Who::Anonymous, "/no/such/route").await, 404);
    assert_eq!(unknown["code"], "not_found", "{unknown}");
    refused(&get(&app, &Who::Anonymous, "/task/release").await, 405);
    let health = expect(&get(&app, &Who::Anonymous, "/api/v1/health").await, 200);
    assert_eq!(health["up"], true);
    let api_unknown = expect(&get(&app, &Who::Anonymous, "/api/v1/nothing-here").await, 404);
    assert!(api_unknown.get("detail").is_some(), "meta still owns /api/...: {api_unknown}");
}

// ----- managers -----

#[tokio::test(flavor = "multi_thread")]
async fn managers_use_session_cookies_for_projects_access_maintenance_and_roles() {
    let app = TestHost::start_with(app_manifest(), |options| {
        options.variables.insert("allow_signup".into(), "true".into());
    })
    .await;
    // /register is Conveyor's sign-up: the account waits for activation, so it cannot log in yet.
    let registered = post(
        &app,
        &Who::Anonymous,
        "/register",
        json!({"username": "newbie", "password": "correct horse", "email": "n@example.org"}),
    )
    .await;
    assert_eq!(ok(&registered), Value::Null);
    refused(
        &post(&app, &Who::Anonymous, "/login", json!({"username": "newbie", "password": "correct horse"})).await,
        403,
    );
    refused(&post(&app, &Who::Anonymous, "/register", json!({"username": "x", "password": "short"})).await, 400);
    refused(
        &post(&app, &Who::Anonymous, "/login", json!({"username": "nobody", "password": "wrong password"})).await,
        401,
    );

    let (ada_id, ada) = manager(&app, "ada").await;
    let (bob_id, bob) = manager(&app, "bob").await;
    let account = ok(&get(&app, &ada, "/account").await);
    assert_eq!((account["logged_in"].as_bool(), account["manager"]["id"].as_i64()), (Some(true), Some(ada_id)));
    assert_eq!(account["manager"]["website_admin"], false);
    let anonymous = expect(&get(&app, &Who::Anonymous, "/account").await, 200);
    assert_eq!(anonymous, json!({"ok": false, "content": {"logged_in": false}}));

    // Create and update; the changes are visible natively.
    refused(&post(&app, &Who::Anonymous, "/project/create", json!({"name": "x"})).await, 401);
    refused(&post(&app, &ada, "/project/create", json!({"name": "both", "public": true, "hidden": true})).await, 400);
    let p = tracker_project(
        &app,
        &ada,
        json!({"name": "proj", "public": true, "git_repo": "org/repo", "clone_url": "https://example.org/org/repo"}),
    )
    .await;
    let update = json!({"name": "proj", "hidden": true, "priority": 7, "motd": "hello", "version": "2.0", "git_repo": "org/repo"});
    refused(&post(&app, &bob, &format!("/project/update/{p}"), update.clone()).await, 403);
    ok(&post(&app, &ada, &format!("/project/update/{p}"), update).await);
    let native = expect(&get(&app, &ada, &format!("/api/v1/projects/{p}")).await, 200);
    assert_eq!((native["visibility"].as_str(), native["priority"].as_i64()), (Some("hidden"), Some(7)));
    assert_eq!((native["motd"].as_str(), native["version"].as_str()), (Some("hello"), Some("2.0")));
    refused(&get(&app, &bob, &format!("/project/get/{p}")).await, 404);
    refused(&post(&app, &bob, &format!("/project/update/{p}"), json!({"name": "proj"})).await, 404);

    // Roles per project: bob gets READ through set_role_for_project.
    refused(
        &post(&app, &bob, &format!("/manager/set_role_for_project/{p}"), json!({"manager": bob_id, "role": 1})).await,
        404,
    );
    ok(&post(&app, &ada, &format!("/manager/set_role_for_project/{p}"), json!({"manager": bob_id, "role": 1})).await);
    assert_eq!(ok(&get(&app, &bob, &format!("/project/get/{p}")).await)["project"]["motd"], "hello");
    let roles = ok(&get(&app, &ada, &format!("/manager/list_for_project/{p}")).await)["managers"].clone();
    let mut roles: Vec<(i64, i64)> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["manager"]["id"].as_i64().unwrap(), m["role"].as_i64().unwrap()))
        .collect();
    roles.sort();
    assert_eq!(roles, vec![(ada_id, 31), (bob_id, 1)]);
    refused(&get(&app, &bob, &format!("/manager/list_for_project/{p}")).await, 403);
    refused(
        &post(&app, &ada, &format!("/manager/set_role_for_project/{p}"), json!({"manager": bob_id, "role": 99})).await,
        400,
    );

    // Worker access: list, accept, reject.
    let w = tracker_worker(&app, "w").await;
    let wid = w.worker_id();
    ok(&post(&app, &w, "/project/request_access", json!({"project": p, "assign": true, "submit": true})).await);
    let list = ok(&get(&app, &ada, &format!("/project/access_list/{p}")).await);
    assert_eq!(list["accesses"][0]["worker"]["id"], wid);
    assert_eq!(
        (list["accesses"][0]["request"].as_bool(), list["accesses"][0]["submit"].as_bool()),
        (Some(true), Some(true))
    );
    refused(&get(&app, &bob, &format!("/project/access_list/{p}")).await, 403);
    refused(&post(&app, &bob, &format!("/project/accept_request/{p}/{wid}"), json!({})).await, 403);
    ok(&post(&app, &ada, &format!("/project/accept_request/{p}/{wid}"), json!({})).await);
    refused(&post(&app, &ada, &format!("/project/accept_request/{p}/{wid}"), json!({})).await, 400);
    assert_eq!(ok(&get(&app, &ada, &format!("/project/access_list/{p}")).await)["accesses"][0]["request"], false);

    // Tasks for maintenance: one failed (max_retries 0), one assigned, one new.
    for (recipe, retries) in [("fails", 0), ("held", 3), ("waits", 3)] {
        ok(&post(
            &app,
            &w,
            "/task/submit",
            json!({"project": p, "recipe": recipe, "max_retries": retries, "priority": 10 - retries}),
        )
        .await);
    }
    let fails = ok(&get(&app, &w, &format!("/task/get/{p}")).await)["task"].clone();
    assert_eq!(fails["recipe"], "fails");
    ok(&post(&app, &w, "/task/release", json!({"task_id": fails["id"], "result": 1})).await);
    assert_eq!(native_task(&app, &ada, fails["id"].as_i64().unwrap()).await["status"], "failed");
    let held = ok(&get(&app, &w, &format!("/task/get/{p}")).await)["task"].clone();
    assert_eq!(held["recipe"], "held");

    let assignees = ok(&get(&app, &bob, &format!("/project/assignees/{p}")).await);
    assert_eq!(assignees["assignees"], json!([{"assignee": "w", "worker": wid, "task_count": 1}]));
    refused(&get(&app, &Who::Anonymous, &format!("/project/assignees/{p}")).await, 404);
    for path in [format!("/project/monitoring/{p}"), format!("/project/monitoring-between/{p}")] {
        let snapshot = ok(&get(&app, &bob, &path).await)["snapshots"][0].clone();
        assert_eq!(
            (snapshot["failed_task_count"].as_i64(), snapshot["assigned_task_count"].as_i64()),
            (Some(1), Some(1)),
            "{snapshot}"
        );
        assert_eq!(snapshot["new_task_count"], 2);
        refused(&get(&app, &Who::Anonymous, &path).await, 404);
    }

    refused(&post(&app, &bob, &format!("/project/reset_failed_tasks/{p}"), json!({})).await, 403);
    assert_eq!(
        ok(&post(&app, &ada, &format!("/project/reset_failed_tasks/{p}"), json!({})).await),
        json!({"affected_tasks": 1})
    );
    assert_eq!(native_task(&app, &ada, fails["id"].as_i64().unwrap()).await["status"], "new");
    refused(&post(&app, &bob, &format!("/project/reclaim_assigned_tasks/{p}"), json!({})).await, 403);
    assert_eq!(
        ok(&post(&app, &ada, &format!("/project/reclaim_assigned_tasks/{p}"), json!({})).await),
        json!({"affected_tasks": 1})
    );
    assert_eq!(native_task(&app, &ada, held["id"].as_i64().unwrap()).await["status"], "new");
    refused(&post(&app, &bob, &format!("/project/hard_reset/{p}"), json!({})).await, 403);
    assert_eq!(
        ok(&post(&app, &ada, &format!("/project/hard_reset/{p}"), json!({})).await),
        json!({"affected_tasks": 3})
    );
    assert_eq!(native_tasks(&app, &ada, p).await.len(), 0);

    // Secrets: SECRET role for people; webhook secret likewise.
    ok(&post(&app, &ada, &format!("/project/secret/{p}"), json!({"secret": "{\"key\": 1}"})).await);
    assert_eq!(ok(&get(&app, &ada, &format!("/project/secret/{p}")).await), json!({"secret": "{\"key\": 1}"}));
    assert_eq!(ok(&get(&app, &w, &format!("/project/secret/{p}")).await), json!({"secret": "{\"key\": 1}"}));
    refused(&get(&app, &bob, &format!("/project/secret/{p}")).await, 403);
    refused(&post(&app, &bob, &format!("/project/secret/{p}"), json!({"secret": "x"})).await, 403);
    assert_eq!(ok(&get(&app, &ada, &format!("/project/webhook_secret/{p}")).await), json!({"webhook_secret": ""}));
    ok(&post(&app, &ada, &format!("/project/webhook_secret/{p}"), json!({"webhook_secret": "hook"})).await);
    assert_eq!(ok(&get(&app, &ada, &format!("/project/webhook_secret/{p}")).await), json!({"webhook_secret": "hook"}));
    refused(&get(&app, &bob, &format!("/project/webhook_secret/{p}")).await, 403);
    refused(&get(&app, &w, &format!("/project/webhook_secret/{p}")).await, 403);

    // Reject revokes the grant.
    refused(&post(&app, &bob, &format!("/project/reject_request/{p}/{wid}"), json!({})).await, 403);
    ok(&post(&app, &ada, &format!("/project/reject_request/{p}/{wid}"), json!({})).await);
    assert_eq!(ok(&get(&app, &ada, &format!("/project/access_list/{p}")).await), json!({"accesses": []}));
    refused(&post(&app, &ada, &format!("/project/reject_request/{p}/{wid}"), json!({})).await, 404);
    refused(&get(&app, &w, &format!("/task/get/{p}")).await, 404);

    // /logs: signed-in people; administrators see every entry.
    ok(&post(&app, &w, "/log/warn", json!({"scope": "s", "message": "careful", "timestamp": 100})).await);
    let logs = ok(&post(&app, &admin(&app), "/logs", json!({"level": 3, "since": 50})).await)["logs"].clone();
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    assert_eq!(
        (logs[0]["level"].as_i64(), logs[0]["message"].as_str(), logs[0]["worker"].as_i64()),
        (Some(3), Some("careful"), Some(wid))
    );
    let later = ok(&post(&app, &admin(&app), "/logs", json!({"level": 3, "since": 101})).await);
    assert_eq!(later, json!({"logs": []}));
    refused(&post(&app, &Who::Anonymous, "/logs", json!({"since": 1})).await, 401);
    refused(&post(&app, &w, "/logs", json!({"since": 1})).await, 403);

    // Managers: listing, promotion and demotion are for administrators; nobody changes their own rights.
    refused(&get(&app, &ada, "/manager/list").await, 403);
    let managers = ok(&get(&app, &admin(&app), "/manager/list").await)["managers"].clone();
    let names: Vec<Value> = managers.as_array().unwrap().iter().map(|m| m["username"].clone()).collect();
    assert!(names.contains(&json!("ada")) && names.contains(&json!("bob")), "{names:?}");
    refused(&get(&app, &ada, &format!("/manager/promote/{bob_id}")).await, 403);
    assert_eq!(expect(&get(&app, &admin(&app), &format!("/manager/promote/{ada_id}")).await, 204), Value::Null);
    assert_eq!(expect(&get(&app, &admin(&app), &format!("/api/v1/users/{ada_id}")).await, 200)["admin"], true);
    let (_, ada_again) = {
        let login =
            post(&app, &Who::Anonymous, "/login", json!({"username": "ada", "password": "correct horse"})).await;
        let cookie = login.header("set-cookie").unwrap().to_string();
        let token = cookie.strip_prefix("conveyor_session=").unwrap().split(';').next().unwrap().to_string();
        (ok(&login), Who::Cookie(token))
    };
    refused(&get(&app, &ada_again, &format!("/manager/demote/{ada_id}")).await, 403);
    // A link on another site cannot make an administrator's browser promote anyone with her cookie.
    let Who::Cookie(session) = &ada_again else { unreachable!() };
    let cookie = format!("conveyor_session={session}");
    for from_elsewhere in [("sec-fetch-site", "cross-site"), ("referer", "https://evil.example/page")] {
        let path = format!("/manager/promote/{bob_id}");
        let forged = app.send("GET", &path, &[("cookie", &cookie), from_elsewhere], "").await;
        refused(&forged, 403);
    }
    assert_eq!(expect(&get(&app, &admin(&app), &format!("/api/v1/users/{bob_id}")).await, 200)["admin"], false);
    assert_eq!(expect(&get(&app, &ada_again, &format!("/manager/promote/{bob_id}")).await, 204), Value::Null);
    assert_eq!(expect(&get(&app, &ada_again, &format!("/manager/demote/{bob_id}")).await, 204), Value::Null);
    assert_eq!(expect(&get(&app, &admin(&app), &format!("/api/v1/users/{bob_id}")).await, 200)["admin"], false);

    // /logout ends the session (204) and clears the cookie.
    let logout = get(&app, &bob, "/logout").await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    assert!(logout.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    refused(&get(&app, &bob, "/account").await, 401);
}

// ----- git receive hook -----

/// Bodies and their HMAC-SHA256 under the key `hook-secret` (computed independently with Python's `hmac`).
const PUSH_MAIN: &str = r#"{"ref":"refs/heads/main","before":"0000","after":"abc123","repository":{"full_name":"org/repo","default_branch":"main"}}"#;
const PUSH_MAIN_SIG: &str = "d1a6d38366cf64df08c7725ec111b667306f153281e73a815389383dced61409";
const PUSH_FEATURE: &str =
    r#"{"ref":"refs/heads/feature","after":"def456","repository":{"full_name":"org/repo","default_branch":"main"}}"#;
const PUSH_FEATURE_SIG: &str = "04e7ff02d50767f59290a9ff67716a05fe74b36105a3912b9a754d7cb30cecff";
const PUSH_MAIN_2: &str =
    r#"{"ref":"refs/heads/main","after":"fff999","repository":{"full_name":"org/repo","default_branch":"main"}}"#;
const PUSH_MAIN_2_SIG: &str = "fbd14782970cda5c807e8b9bc89d2733797196e8cc412fd6d32854eb6bd49f35";

async fn hook(http: &Http, body: &str, header: &str, signature: &str) -> TestResponse {
    http.send("POST", "/git/receivehook", &[(header, signature), ("x-gitea-event", "push")], body.to_string()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_git_receive_hook_sets_the_version_on_signed_pushes_to_the_default_branch() {
    let app = TestHost::start().await;
    let (_, ada) = manager(&app, "ada").await;
    let p =
        tracker_project(&app, &ada, json!({"name": "repo", "public": true, "git_repo": "org/repo", "version": "v0"}))
            .await;
    let version = |app: &TestHost| {
        let app = app.http.clone();
        async move { expect(&get(&app, &Who::Anonymous, &format!("/api/v1/projects/{p}")).await, 200)["version"].clone() }
    };

    // No webhook secret yet: nothing verifies.
    refused(&hook(&app, PUSH_MAIN, "X-Hub-Signature-256", &format!("sha256={PUSH_MAIN_SIG}")).await, 403);
    ok(&post(&app, &ada, &format!("/project/webhook_secret/{p}"), json!({"webhook_secret": "hook-secret"})).await);

    // Wrong signatures, a missing header, a signature of another body: 403, nothing changes.
    refused(&hook(&app, PUSH_MAIN, "X-Hub-Signature-256", &format!("sha256={PUSH_FEATURE_SIG}")).await, 403);
    refused(&hook(&app, PUSH_MAIN, "X-Hub-Signature-256", "sha256=00").await, 403);
    refused(&app.send("POST", "/git/receivehook", &[], PUSH_MAIN.to_string()).await, 403);
    assert_eq!(version(&app).await, "v0");

    // A valid push to the default branch sets the version to `after`.
    let answer = ok(&hook(&app, PUSH_MAIN, "X-Hub-Signature-256", &format!("sha256={PUSH_MAIN_SIG}")).await);
    assert_eq!(answer, json!({"project": p, "version": "abc123"}));
    assert_eq!(version(&app).await, "abc123");

    // Another branch: accepted, nothing changes.
    let feature =
        expect(&hook(&app, PUSH_FEATURE, "X-Hub-Signature-256", &format!("sha256={PUSH_FEATURE_SIG}")).await, 200);
    assert_eq!(feature["ok"], true);
    assert_eq!(version(&app).await, "abc123");

    // Gogs' header carries the bare hex.
    ok(&hook(&app, PUSH_MAIN_2, "X-Gogs-Signature", PUSH_MAIN_2_SIG).await);
    assert_eq!(version(&app).await, "fff999");

    // An unknown repository: 404; a body that is not JSON: 400.
    let other = PUSH_MAIN.replace("org/repo", "org/other");
    refused(&hook(&app, &other, "X-Hub-Signature-256", &format!("sha256={PUSH_MAIN_SIG}")).await, 404);
    refused(&hook(&app, "not json", "X-Hub-Signature-256", "sha256=00").await, 400);
}
