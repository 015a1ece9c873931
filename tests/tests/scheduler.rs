//! Component `scheduler` (Seed Scheduler's API, SPEC §9, `docs/scheduler.md`) over HTTP against the real
//! host: every route, its refusals in DRF's shapes, schedules shared with the native `/api/v1/schedules` both
//! ways, pages followed to the end, the requests exactly as `SchedulerApiClient` sends them, and the real
//! client itself (`seed-services-client` from PyPI, in a virtual environment).

mod pw_support;

use conveyor_tests::our_host_only;
use conveyor_tests::{TestHost, TestResponse};
use pw_support::*;
use serde_json::{Value, json};

const SCHEDULES: &str = "/api/v1/schedules";

/// A request exactly as `SchedulerApiClient` (seed-services-client 0.37.2 over demands 3.0.0 and requests)
/// sends it: every request carries these headers, GET and DELETE included.
async fn seed(app: &TestHost, method: &str, path: &str, token: Option<&str>, body: &str) -> TestResponse {
    let authorization = token.map(|token| format!("Token {token}"));
    let mut headers = vec![
        ("content-type", "application/json;charset=utf-8"),
        ("user-agent", "seed-services-client v0.37.0"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, deflate"),
    ];
    if let Some(authorization) = &authorization {
        headers.push(("authorization", authorization));
    }
    let response = app.send(method, path, &headers, body.to_string()).await;
    assert_clean(&response);
    response
}

/// Asserts a DRF answer: the status, `application/json`, and the JSON body (null when empty).
#[track_caller]
fn drf(response: &TestResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    if response.body.is_empty() {
        return Value::Null;
    }
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.json()
}

/// Python's `json.dumps(value)`: `", "` and `": "` separators, non-ASCII escaped as `\uXXXX`.
fn python_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let members: Vec<String> =
                map.iter().map(|(k, v)| format!("{}: {}", python_json(&json!(k)), python_json(v))).collect();
            format!("{{{}}}", members.join(", "))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(python_json).collect::<Vec<_>>().join(", ")),
        Value::String(text) => {
            let mut out = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        other => other.to_string(),
    }
}

/// Mints a Seed token for `email` as the built-in administrator (`POST /api/v1/user/token/`).
async fn token_for(app: &TestHost, email: &str) -> String {
    let admin_token = bearer(&admin(app));
    let body = python_json(&json!({"email": email}));
    let minted = drf(&seed(app, "POST", "/api/v1/user/token/", Some(&admin_token), &body).await, 201);
    minted["token"].as_str().unwrap().to_string()
}

/// `api_url` + `path` as the client joins them.
fn join(api_url: &str, path: &str) -> String {
    format!("{}/{}", api_url.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// The client's pagination helper (`get_paginated_response`): GET with `params` once, then follow `next`,
/// stripping the `api_url` prefix by string replacement and joining the rest to `api_url` again. Returns
/// every result and the paths requested.
async fn paginated(app: &TestHost, api_url: &str, path: &str, params: &str, token: &str) -> (Vec<Value>, Vec<String>) {
    let (mut url, mut results, mut asked) = (Some(path.to_string()), Vec::new(), Vec::new());
    let mut params = params.to_string();
    while let Some(relative) = url.take() {
        let full = join(api_url, &relative);
        let full = if params.is_empty() { full } else { format!("{full}?{params}") };
        let local = full.strip_prefix(&app.url("")).expect("the client stays on the host").to_string();
        let page = drf(&seed(app, "GET", &local, Some(token), "").await, 200);
        asked.push(local);
        results.extend(page["results"].as_array().unwrap().iter().cloned());
        url = page["next"].as_str().map(|next| next.replace(api_url, ""));
        params.clear();
    }
    (results, asked)
}

fn hook(n: usize) -> Value {
    json!({"endpoint": format!("http://hooks.example/{n}"), "interval_definition": "1 minutes"})
}

// ----- tests -----

#[tokio::test]
async fn tokens_users_and_groups_follow_the_native_rules() {
    let app = TestHost::start().await;
    let root = admin(&app);
    let admin_token = bearer(&root);

    // Administrators mint tokens: a user is found by email or created, and each call issues a new token.
    let ada = token_for(&app, "ada@example.org").await;
    let again = token_for(&app, "ada@example.org").await;
    assert_ne!(ada, again, "Conveyor keeps only token hashes: a new token each time");
    let users = expect(&call(&app, "GET", "/api/v1/users?email=ada@example.org", &root, None).await, 200);
    assert_eq!(users["count"], 1, "{users}");
    let ada_id = users["results"][0]["id"].as_i64().unwrap();
    assert_eq!(users["results"][0]["username"], "ada_example.org");
    let tokens = expect(&call(&app, "GET", "/api/v1/tokens", &Who::Bearer(again.clone()), None).await, 200);
    assert_eq!(tokens["count"], 2);
    assert!(tokens["results"].as_array().unwrap().iter().all(|t| t["name"] == "seed-scheduler"), "{tokens}");
    // The username is taken by someone else with another address: the next free one is used.
    let body = json!({"username": "bob_example.org", "email": "someone@example.org"});
    expect(&call(&app, "POST", "/api/v1/users", &root, Some(body)).await, 201);
    token_for(&app, "bob@example.org").await;
    let bob = expect(&call(&app, "GET", "/api/v1/users?email=bob@example.org", &root, None).await, 200);
    assert_eq!(bob["results"][0]["username"], "bob_example.org-2");

    // Refusals in DRF's words.
    let body = python_json(&json!({"email": "eve@example.org"}));
    let forbidden = seed(&app, "POST", "/api/v1/user/token/", Some(&ada), &body).await;
    assert_eq!(drf(&forbidden, 403), json!({"detail": "You do not have permission to perform this action."}));
    let anonymous = seed(&app, "POST", "/api/v1/user/token/", None, &body).await;
    assert_eq!(drf(&anonymous, 401), json!({"detail": "Authentication credentials were not provided."}));
    assert_eq!(anonymous.header("www-authenticate"), Some("Basic realm=\"api\""));
    let wrong = seed(&app, "GET", "/api/v1/schedule/", Some("not-a-token"), "").await;
    assert_eq!(drf(&wrong, 401), json!({"detail": "Invalid token."}));
    assert_eq!(wrong.header("www-authenticate"), Some("Basic realm=\"api\""));
    let missing = seed(&app, "POST", "/api/v1/user/token/", Some(&admin_token), "{}").await;
    assert_eq!(drf(&missing, 400), json!({"email": ["This field is required."]}));
    let invalid = seed(&app, "POST", "/api/v1/user/token/", Some(&admin_token), r#"{"email": "nope"}"#).await;
    assert!(drf(&invalid, 400)["email"][0].is_string());
    let get_token = seed(&app, "GET", "/api/v1/user/token/", Some(&admin_token), "").await;
    assert_eq!(drf(&get_token, 405), json!({"detail": "Method \"GET\" not allowed."}));

    // Users: administrators list them; a user reads only themselves (GET /users is admin-only natively).
    let group = expect(&call(&app, "POST", "/api/v1/groups", &root, Some(json!({"name": "ops"}))).await, 201);
    let member = format!("/api/v1/groups/ops/members/{ada_id}");
    expect(&call(&app, "PUT", &member, &root, None).await, 201);
    let base = app.url("");
    let listed = drf(&seed(&app, "GET", "/api/v1/user/", Some(&admin_token), "").await, 200);
    let first = &listed["results"][0];
    assert_eq!(first["email"], "bob@example.org", "newest first: {listed}");
    let ada_url = format!("{base}/api/v1/user/{ada_id}/");
    let ada_row = listed["results"].as_array().unwrap().iter().find(|u| u["url"] == ada_url).unwrap().clone();
    let group_url = format!("{base}/api/v1/group/{}/", group["id"]);
    assert_eq!(
        ada_row,
        json!({"url": ada_url, "username": "ada_example.org", "email": "ada@example.org", "groups": [group_url]})
    );
    let user_path = format!("/api/v1/user/{ada_id}/");
    assert_eq!(drf(&seed(&app, "GET", &user_path, Some(&ada), "").await, 200), ada_row);
    assert_eq!(
        drf(&seed(&app, "GET", "/api/v1/user/", Some(&ada), "").await, 403)["detail"],
        json!("You do not have permission to perform this action.")
    );
    let other = format!("/api/v1/user/{}/", ada_id + 1);
    drf(&seed(&app, "GET", &other, Some(&ada), "").await, 403);
    let none = seed(&app, "GET", "/api/v1/user/999/", Some(&admin_token), "").await;
    assert_eq!(drf(&none, 404), json!({"detail": "Not found."}));
    drf(&seed(&app, "GET", "/api/v1/user/abc/", Some(&admin_token), "").await, 404);
    drf(&seed(&app, "POST", "/api/v1/user/", Some(&admin_token), "{}").await, 405);

    // Groups: anyone signed in; without trailing slashes too.
    let groups = drf(&seed(&app, "GET", "/api/v1/group", Some(&ada), "").await, 200);
    assert_eq!(groups["results"], json!([{"url": group_url, "name": "ops"}]));
    let path = format!("/api/v1/group/{}", group["id"]);
    assert_eq!(drf(&seed(&app, "GET", &path, Some(&ada), "").await, 200), json!({"url": group_url, "name": "ops"}));

    // The native plural collections stay with `accounts`.
    assert_eq!(expect(&call(&app, "GET", "/api/v1/users", &root, None).await, 200)["count"], 3);
    assert_eq!(expect(&call(&app, "GET", "/api/v1/groups/ops", &root, None).await, 200)["name"], "ops");
}

#[tokio::test]
async fn schedules_are_the_native_schedules_both_ways() {
    let app = TestHost::start().await;
    let ada = token_for(&app, "ada@example.org").await;
    let ada_native = Who::Bearer(ada.clone());
    let base = app.url("");

    // Made through Seed's surface (Python's formatting, read-only and unknown keys ignored)...
    let body = python_json(&json!({
        "endpoint": "http://hooks.example/a", "payload": {"a": "é"}, "cron_definition": "25 * * * *",
        "enabled": true, "frequency": null, "next_send_at": "2019-01-01T00:00:00Z", "url": "x", "triggered": 4,
    }));
    assert!(body.contains("\\u00e9"));
    let created = seed(&app, "POST", "/api/v1/schedule/", Some(&ada), &body).await;
    let schedule = drf(&created, 201);
    let id = schedule["id"].as_str().unwrap().to_string();
    let url = format!("{base}/api/v1/schedule/{id}/");
    assert_eq!(created.header("location"), Some(url.as_str()));
    let mut keys: Vec<&str> = schedule.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "auth_token",
            "created_at",
            "created_by",
            "cron_definition",
            "enabled",
            "endpoint",
            "frequency",
            "id",
            "interval_definition",
            "next_send_at",
            "payload",
            "updated_at",
            "updated_by",
            "url"
        ]
    );
    assert_eq!(schedule["url"], url);
    assert_eq!(schedule["payload"], json!({"a": "é"}));
    assert_eq!((schedule["frequency"].clone(), schedule["interval_definition"].clone()), (Value::Null, Value::Null));
    let me = expect(&call(&app, "GET", "/api/v1/me", &ada_native, None).await, 200);
    let me_url = format!("{base}/api/v1/user/{}/", me["id"]);
    assert_eq!((schedule["created_by"].clone(), schedule["updated_by"].clone()), (json!(me_url), json!(me_url)));
    let created_at = schedule["created_at"].as_str().unwrap();
    assert!(created_at.len() == 20 && created_at.ends_with('Z') && created_at.as_bytes()[10] == b'T', "{created_at}");
    assert!(schedule["next_send_at"].as_str().unwrap().ends_with(":25:00Z"), "{schedule}");

    // ... is the native schedule, and a native change shows on Seed's surface.
    let native_path = format!("{SCHEDULES}/{id}");
    let native = expect(&call(&app, "GET", &native_path, &ada_native, None).await, 200);
    assert_eq!(
        (native["endpoint"].clone(), native["cron_definition"].clone()),
        (json!("http://hooks.example/a"), json!("25 * * * *"))
    );
    let body = json!({"enabled": false, "interval_definition": "5 minutes", "cron_definition": null});
    expect(&call(&app, "PATCH", &native_path, &ada_native, Some(body)).await, 200);
    let seen = drf(&seed(&app, "GET", &format!("/api/v1/schedule/{id}/"), Some(&ada), "").await, 200);
    assert_eq!((seen["enabled"].clone(), seen["next_send_at"].clone()), (json!(false), Value::Null));
    assert_eq!(
        (seen["interval_definition"].clone(), seen["cron_definition"].clone()),
        (json!("5 minutes"), Value::Null)
    );

    // PATCH (the client's update) and PUT on Seed's surface change the native schedule.
    let patch = python_json(&json!({"enabled": true, "cron_definition": "0 9 * * *"}));
    let patched = drf(&seed(&app, "PATCH", &format!("/api/v1/schedule/{id}/"), Some(&ada), &patch).await, 200);
    assert_eq!(
        (patched["cron_definition"].clone(), patched["interval_definition"].clone()),
        (json!("0 9 * * *"), Value::Null),
        "one definition replaces the other"
    );
    let put = python_json(&json!({"endpoint": "http://hooks.example/b", "auth_token": "secret"}));
    let replaced = drf(&seed(&app, "PUT", &format!("/api/v1/schedule/{id}"), Some(&ada), &put).await, 200);
    assert_eq!(
        (replaced["endpoint"].clone(), replaced["cron_definition"].clone()),
        (json!("http://hooks.example/b"), json!("0 9 * * *"))
    );
    assert_eq!(replaced["auth_token"], Value::Null, "write-only, as natively");
    let native = expect(&call(&app, "GET", &native_path, &ada_native, None).await, 200);
    assert_eq!((native["endpoint"].clone(), native["enabled"].clone()), (json!("http://hooks.example/b"), json!(true)));

    // A webhook schedule made natively is listed; a task schedule is native only.
    let made = expect(&call(&app, "POST", SCHEDULES, &ada_native, Some(hook(9))).await, 201);
    project(&app, &ada_native, "render", "private").await;
    let task = json!({"cron_definition": "@hourly", "project": "render", "recipe": "go"});
    let task = expect(&call(&app, "POST", SCHEDULES, &ada_native, Some(task)).await, 201);
    let listed = drf(&seed(&app, "GET", "/api/v1/schedule/", Some(&ada), "").await, 200);
    let ids: Vec<&str> = listed["results"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert!(ids.contains(&made["id"].as_str().unwrap()) && ids.contains(&id.as_str()));
    assert_eq!(
        (listed["count"].clone(), listed["next"].clone(), listed["previous"].clone()),
        (json!(2), Value::Null, Value::Null)
    );
    let task_path = format!("/api/v1/schedule/{}/", task["id"].as_str().unwrap());
    drf(&seed(&app, "GET", &task_path, Some(&ada), "").await, 404);
    drf(&seed(&app, "DELETE", &task_path, Some(&ada), "").await, 404);

    // Another user's schedule does not exist for them; the administrator sees it.
    let bob = token_for(&app, "bob@example.org").await;
    let path = format!("/api/v1/schedule/{id}/");
    assert_eq!(drf(&seed(&app, "GET", &path, Some(&bob), "").await, 404), json!({"detail": "Not found."}));
    drf(&seed(&app, "PATCH", &path, Some(&bob), "{}").await, 404);
    drf(&seed(&app, "DELETE", &path, Some(&bob), "").await, 404);
    assert_eq!(drf(&seed(&app, "GET", "/api/v1/schedule/", Some(&bob), "").await, 200)["results"], json!([]));
    drf(&seed(&app, "GET", &path, Some(&bearer(&admin(&app))), "").await, 200);
    drf(&seed(&app, "GET", "/api/v1/schedule/not-a-uuid/", Some(&ada), "").await, 404);

    // DELETE is 204 with no body, and the native schedule is gone; deleted natively, gone here too.
    let deleted = seed(&app, "DELETE", &path, Some(&ada), "").await;
    assert_eq!((deleted.status, deleted.body.len()), (204, 0));
    expect(&call(&app, "GET", &native_path, &ada_native, None).await, 404);
    let made_path = format!("{SCHEDULES}/{}", made["id"].as_str().unwrap());
    expect(&call(&app, "DELETE", &made_path, &ada_native, None).await, 204);
    assert_eq!(drf(&seed(&app, "GET", "/api/v1/schedule/", Some(&ada), "").await, 200)["count"], 0);
}

#[tokio::test]
async fn errors_have_django_rest_frameworks_shapes() {
    let app = TestHost::start().await;
    let ada = token_for(&app, "ada@example.org").await;
    let post = |body: &'static str| {
        let (app, ada) = (&app, ada.clone());
        async move { drf(&seed(app, "POST", "/api/v1/schedule/", Some(&ada), body).await, 400) }
    };
    assert_eq!(post(r#"{"cron_definition": "* * * * *"}"#).await, json!({"endpoint": ["This field is required."]}));
    assert_eq!(post("{}").await, json!({"endpoint": ["This field is required."]}));
    assert_eq!(
        post(r#"{"endpoint": "", "cron_definition": "* * * * *"}"#).await,
        json!({"endpoint": ["This field may not be blank."]})
    );
    let neither = post(r#"{"endpoint": "http://hooks.example/"}"#).await;
    assert_eq!(neither.as_object().unwrap().keys().collect::<Vec<_>>(), ["cron_definition"]);
    assert!(neither["cron_definition"][0].as_str().unwrap().contains("exactly one"), "{neither}");
    let both = post(r#"{"endpoint": "http://e/", "cron_definition": "* * * * *", "interval_definition": "1 minutes"}"#);
    assert!(both.await["cron_definition"].is_array());
    assert!(
        post(r#"{"endpoint": "http://e/", "cron_definition": "99 * * * *"}"#).await["cron_definition"][0].is_string()
    );
    let six = post(r#"{"endpoint": "http://e/", "cron_definition": "25 * * * * *"}"#).await;
    assert!(six["cron_definition"][0].is_string(), "6-field cron is not Conveyor's: {six}");
    assert!(
        post(r#"{"endpoint": "http://e/", "interval_definition": "every one mins"}"#).await["interval_definition"][0]
            .is_string()
    );
    assert!(post(r#"{"endpoint": "ftp://e/", "interval_definition": "1 minutes"}"#).await["endpoint"][0].is_string());
    assert_eq!(
        post(r#"{"endpoint": "http://e/", "interval_definition": "1 minutes", "enabled": "maybe"}"#).await,
        json!({"enabled": ["Must be a valid boolean."]})
    );
    assert_eq!(post("null").await, json!({"non_field_errors": ["No data provided"]}));
    assert_eq!(
        post("[1, 2]").await,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );
    assert!(post("{\"endpoint\": ").await["detail"].as_str().unwrap().starts_with("JSON parse error - "));
    let plain = app
        .send(
            "POST",
            "/api/v1/schedule/",
            &[("authorization", &format!("Token {ada}")), ("content-type", "text/plain")],
            "{}",
        )
        .await;
    assert_eq!(plain.status, 415);
    let method = seed(&app, "PUT", "/api/v1/schedule/", Some(&ada), "{}").await;
    assert_eq!(drf(&method, 405), json!({"detail": "Method \"PUT\" not allowed."}));
    let unknown = seed(&app, "GET", "/api/v1/schedule/x/y/", Some(&ada), "").await;
    assert_eq!(drf(&unknown, 404), json!({"detail": "Not found."}));
    // Every route needs a credential, the helpers too.
    for (method, path) in [
        ("GET", "/api/v1/schedule/"),
        ("GET", "/api/v1/failed-tasks/"),
        ("GET", "/api/health/"),
        ("GET", "/api/metrics/"),
        ("GET", "/api/v1/group/"),
    ] {
        let response = seed(&app, method, path, None, "").await;
        assert_eq!(drf(&response, 401), json!({"detail": "Authentication credentials were not provided."}), "{path}");
    }
    assert_eq!(
        drf(&seed(&app, "GET", "/api/v1/schedule/", Some(&ada), "").await, 200)["count"],
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn pages_are_followed_to_the_end_as_the_client_follows_them() {
    let app = TestHost::start().await;
    let ada = token_for(&app, "ada@example.org").await;
    for n in 0..7 {
        drf(&seed(&app, "POST", "/api/v1/schedule/", Some(&ada), &python_json(&hook(n))).await, 201);
    }
    let api_url = app.url("/api/v1");
    // The first page keeps the client's params (ignored filters included) in `next`, on the same host.
    let first = drf(&seed(&app, "GET", "/api/v1/schedule/?enabled=True&limit=3", Some(&ada), "").await, 200);
    assert_eq!(first["count"], 7);
    assert_eq!(first["previous"], Value::Null);
    let next = first["next"].as_str().unwrap();
    assert!(next.starts_with(&format!("{api_url}/schedule/?")), "{next}");
    assert!(next.contains("enabled=True") && next.contains("limit=3") && next.contains("offset=3"), "{next}");

    let (results, asked) = paginated(&app, &api_url, "/schedule/", "enabled=True&limit=3", &ada).await;
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert_eq!(asked[0], "/api/v1/schedule/?enabled=True&limit=3");
    let mut endpoints: Vec<String> = results.iter().map(|s| s["endpoint"].as_str().unwrap().to_string()).collect();
    assert_eq!(endpoints.len(), 7);
    endpoints.sort();
    endpoints.dedup();
    assert_eq!(endpoints.len(), 7, "every schedule once");
    // With an `api_url` that has a trailing slash, the same.
    let (again, _) = paginated(&app, &format!("{api_url}/"), "/schedule/", "limit=2", &ada).await;
    assert_eq!(again.len(), 7);
    // Without params, one page of up to 1000.
    let (all, asked) = paginated(&app, &api_url, "/schedule/", "", &ada).await;
    assert_eq!((all.len(), asked.len()), (7, 1));
}

#[tokio::test]
async fn failed_tasks_are_listed_and_requeued_and_helpers_answer() {
    our_host_only!("moves our host's test clock");
    // The endpoint below is on loopback, which webhooks may only name when the operator allows it.
    let app = TestHost::start_with(conveyor_tests::app_manifest(), |options| {
        options.variables.insert("allow_private_endpoints".into(), "true".into());
    })
    .await;
    let ada = token_for(&app, "ada@example.org").await;
    let bob = token_for(&app, "bob@example.org").await;
    // Nothing listens on port 1: every attempt fails at once.
    let body = python_json(&json!({"endpoint": "http://127.0.0.1:1/hook", "interval_definition": "1 days"}));
    let schedule = drf(&seed(&app, "POST", "/api/v1/schedule/", Some(&ada), &body).await, 201);
    let clock = app.ours().runtime.clock();
    clock.advance(86_400);
    for _ in 0..7 {
        for path in ["/api/v1/schedules/run-due", "/api/v1/schedules/deliver-due"] {
            let fired = app.send("POST", path, &[], "").await;
            assert_eq!(fired.status, 204, "{}", fired.text());
        }
        clock.advance(400);
    }
    let listed = drf(&seed(&app, "GET", "/api/v1/failed-tasks/", Some(&ada), "").await, 200);
    assert_eq!(listed["count"], 1, "{listed}");
    let failure = listed["results"][0].clone();
    let id = failure["id"].as_i64().unwrap();
    let base = app.url("");
    assert_eq!(failure["url"], format!("{base}/api/v1/failed-tasks/{id}/"));
    assert_eq!(failure["schedule"], schedule["url"]);
    assert_eq!(failure["task_id"], format!("00000000-0000-4000-8000-{id:012x}"));
    assert!(failure["initiated_at"].as_str().unwrap().ends_with('Z'));
    assert!(failure["reason"].is_string());
    let path = format!("/api/v1/failed-tasks/{id}/");
    assert_eq!(drf(&seed(&app, "GET", &path, Some(&ada), "").await, 200), failure);
    drf(&seed(&app, "GET", &path, Some(&bob), "").await, 404);
    drf(&seed(&app, "GET", "/api/v1/failed-tasks/abc/", Some(&ada), "").await, 404);
    drf(&seed(&app, "DELETE", &path, Some(&ada), "").await, 405);
    assert_eq!(drf(&seed(&app, "GET", "/api/v1/failed-tasks/", Some(&bob), "").await, 200)["count"], 0);

    // Requeue with the client's `null` body: the failure is taken and its delivery queued again.
    let requeued = seed(&app, "POST", "/api/v1/failed-tasks/", Some(&bob), "null").await;
    assert_eq!(drf(&requeued, 201), json!({"requeued_failed_tasks": true}));
    assert_eq!(
        drf(&seed(&app, "GET", "/api/v1/failed-tasks/", Some(&ada), "").await, 200)["count"],
        1,
        "bob's requeue is bob's"
    );
    let requeued = seed(&app, "POST", "/api/v1/failed-tasks/", Some(&ada), "null").await;
    assert_eq!(drf(&requeued, 201), json!({"requeued_failed_tasks": true}));
    assert_eq!(drf(&seed(&app, "GET", "/api/v1/failed-tasks/", Some(&ada), "").await, 200)["count"], 0);

    // Helpers.
    let health = drf(&seed(&app, "GET", "/api/health/", Some(&ada), "").await, 200);
    assert_eq!((health["up"].clone(), health["result"]["database"].clone()), (json!(true), json!("Accessible")));
    assert!(health["result"]["version"].is_string());
    assert_eq!(drf(&seed(&app, "GET", "/api/metrics/", Some(&ada), "").await, 200), json!({"metrics_available": []}));
    let metrics = seed(&app, "POST", "/api/metrics/", Some(&ada), "null").await;
    assert_eq!(drf(&metrics, 201), json!({"scheduled_metrics_initiated": true}));
    // The native health stays with `meta`.
    assert_eq!(app.get("/api/v1/health").await.json()["result"]["database"], "up");
}

// ----- the real client -----

/// `seed-services-client` 0.37.2 (with its pinned `demands` 3.0.0 and `requests`), installed once with pip
/// into a virtual environment in the test target directory. Returns its Python.
fn seed_client() -> std::path::PathBuf {
    use std::process::Command;
    const VERSION: &str = "0.37.2";
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("seed-services-client-{VERSION}"));
    let python = root.join("venv/bin/python");
    if root.join("ready").exists() {
        return python;
    }
    let run = |command: &mut Command| {
        let output = command.output().unwrap_or_else(|error| panic!("{command:?}: {error} (is python3 installed?)"));
        assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    // Only this test uses it; a half-made one (no `ready`) is made again.
    let _ = std::fs::remove_dir_all(&root);
    run(Command::new("python3").args(["-m", "venv"]).arg(root.join("venv")));
    run(Command::new(root.join("venv/bin/pip")).args([
        "install",
        "--quiet",
        &format!("seed-services-client=={VERSION}"),
    ]));
    std::fs::write(root.join("ready"), "").unwrap();
    python
}

/// The script: the one-line shim Python ≥ 3.11 needs for demands 3.0.0 (`inspect.getargspec` was removed;
/// `getfullargspec` answers the same first four fields demands reads), then `SchedulerApiClient` unchanged.
const CLIENT_SCRIPT: &str = r#"
import inspect; inspect.getargspec = inspect.getfullargspec
import json, sys
from demands import HTTPServiceError
from seed_services_client.scheduler import SchedulerApiClient

api_url, token = sys.argv[1], sys.argv[2]
client = SchedulerApiClient(token, api_url)
out = {}
created = [client.create_schedule({"endpoint": "http://hooks.example/%d" % n, "payload": {"n": n, "name": u"\u00e9"},
                                   "interval_definition": "1 minutes", "enabled": True, "frequency": None})
           for n in range(5)]
out["created"] = created[0]
out["got"] = client.get_schedule(created[0]["id"])
out["updated"] = client.update_schedule(created[0]["id"], {"enabled": False})
out["listed"] = [s["id"] for s in client.get_schedules({"limit": 2})["results"]]
out["deleted"] = client.delete_schedule(created[1]["id"])
try:
    client.get_schedule(created[1]["id"])
except HTTPServiceError as error:
    out["missing"] = [error.response.status_code, error.details]
try:
    client.create_schedule({"endpoint": "http://hooks.example/x"})
except HTTPServiceError as error:
    out["invalid"] = [error.response.status_code, error.details]
out["failed"] = list(client.get_failed_tasks()["results"])
out["requeued"] = client.requeue_failed_tasks()
try:
    list(SchedulerApiClient("wrong", api_url).get_schedules()["results"])
except HTTPServiceError as error:
    out["unauthorized"] = [error.response.status_code, error.details]
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_real_scheduler_api_client_works_unchanged() {
    let app = TestHost::start().await;
    let ada = token_for(&app, "ada@example.org").await;
    let api_url = app.url("/api/v1");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(seed_client()).args(["-c", CLIENT_SCRIPT, &api_url, &ada]).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let out: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("the client printed {stdout}"));
    assert_eq!(out["created"]["payload"], json!({"n": 0, "name": "é"}));
    assert_eq!(out["got"], out["created"]);
    assert_eq!(out["updated"]["enabled"], false);
    let listed = out["listed"].as_array().unwrap();
    assert_eq!(listed.len(), 5, "every page followed: {listed:?}");
    assert_eq!(out["deleted"], Value::Null);
    assert_eq!(out["missing"], json!([404, {"detail": "Not found."}]));
    assert_eq!(out["invalid"][0], 400);
    assert!(out["invalid"][1]["cron_definition"].is_array(), "{out}");
    assert_eq!(out["failed"], json!([]));
    assert_eq!(out["requeued"], json!({"requeued_failed_tasks": true}));
    assert_eq!(out["unauthorized"], json!([401, {"detail": "Invalid token."}]));
    let native = expect(&call(&app, "GET", SCHEDULES, &Who::Bearer(bearer(&admin(&app))), None).await, 200);
    assert_eq!(native["count"], 4, "the client's schedules are native schedules");
}
