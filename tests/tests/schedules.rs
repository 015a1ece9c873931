//! Component `schedules` over HTTP against the real host (SPEC §7): CRUD for owners and refusals for
//! everyone else, an edit that moves `next_run_at`, task schedules under the owner's rights, webhook
//! deliveries to a real receiver on loopback (success, failure with retries, a slow endpoint that times out
//! without holding up the others, requeue), and exactly-once firing with concurrent callers of run-due and
//! with two host processes on one data directory.

mod pw_support;

use conveyor_tests::our_host_only;
use conveyor_tests::{Behaviour, ChildHost, Http, Receiver, TestHost};
use pw_support::*;
use serde_json::{Value, json};
use std::time::Duration;

const SCHEDULES: &str = "/api/v1/schedules";
const RUN_DUE: &str = "/api/v1/schedules/run-due";
const DELIVER_DUE: &str = "/api/v1/schedules/deliver-due";

// ----- helpers -----

/// The two time-keeping calls, as the host's ticks make them (here with the admin token, which makes them
/// report what they did): fire what is due, then deliver; their counts summed.
async fn run_due(http: &Http, token: &str) -> Value {
    let auth = format!("Bearer {token}");
    let mut total = json!({"fired": 0, "delivered": 0, "retried": 0, "failed": 0});
    for path in [RUN_DUE, DELIVER_DUE] {
        let response = http.send("POST", path, &[("authorization", &auth)], "").await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        for (key, value) in response.json().as_object().unwrap() {
            total[key] = json!(total[key].as_i64().unwrap() + value.as_i64().unwrap());
        }
    }
    total
}

/// A host whose webhooks may point at loopback (the receivers of these tests).
async fn start() -> TestHost {
    start_with(|_| {}).await
}

async fn start_with(configure: impl FnOnce(&mut conveyor::HostOptions)) -> TestHost {
    TestHost::start_with(conveyor_tests::app_manifest(), |options| {
        options.variables.insert("allow_private_endpoints".into(), "true".into());
        configure(options);
    })
    .await
}

fn token(app: &TestHost) -> String {
    app.admin_token()
}

async fn create(app: &TestHost, who: &Who, body: Value) -> Value {
    expect(&call(app, "POST", SCHEDULES, who, Some(body)).await, 201)
}

fn path_of(id: &Value) -> String {
    format!("{SCHEDULES}/{}", id.as_str().unwrap())
}

/// Moves the guests' clock to `at` (never back).
fn clock_to(app: &TestHost, at: i64) {
    let now = now(app);
    assert!(at >= now, "the clock only moves forward");
    app.ours().runtime.clock().advance(at - now);
}

fn now(app: &TestHost) -> i64 {
    app.ours().runtime.clock().unix_seconds()
}

// ----- tests -----

#[tokio::test]
async fn owners_manage_their_schedules_and_everyone_else_is_refused() {
    our_host_only!("moves our host's test clock");
    let app = start().await;
    let (_, ada) = user(&app, "ada").await;
    let (_, bob) = user(&app, "bob").await;
    let drone = worker(&app, "drone").await.who();
    let receiver = Receiver::start().await;
    let body = json!({"name": "ping", "interval_definition": "1 hours", "endpoint": receiver.url("/ping"), "payload": {"hello": "world"}, "auth_token": "tok"});
    let created = create(&app, &ada, body).await;
    let path = path_of(&created["id"]);
    assert_eq!((created["name"].clone(), created["enabled"].clone()), (json!("ping"), json!(true)));
    assert!(created.get("auth_token").is_none(), "write-only: {created}");
    let starts = created["next_run_at"].as_i64().unwrap() - created["created_at"].as_i64().unwrap();
    assert_eq!(starts, 3600);
    assert_eq!(expect(&call(&app, "GET", &path, &ada, None).await, 200), created);
    let page =
        expect(&call(&app, "GET", &format!("{SCHEDULES}?name=ping&field=id&field=payload"), &ada, None).await, 200);
    assert_eq!(page["results"], json!([{"id": created["id"], "payload": {"hello": "world"}}]));

    // Refusals: another user, a worker, anonymous; bad input; nothing changes.
    for who in [&bob, &drone] {
        // A worker too gets the missing schedule's 404, so it cannot confirm an id (issue 17).
        let status = 404;
        assert_eq!(call(&app, "GET", &path, who, None).await.status, status);
        assert_eq!(call(&app, "PATCH", &path, who, Some(json!({"name": "mine"}))).await.status, status);
        assert_eq!(call(&app, "DELETE", &path, who, None).await.status, status);
        let control = rpc(&app, &path, who, "disable", json!({})).await;
        assert_eq!(control.status, status, "{}", control.text());
        assert_eq!(call(&app, "GET", &format!("{path}/failures"), who, None).await.status, status);
    }
    assert_eq!(expect(&call(&app, "GET", SCHEDULES, &bob, None).await, 200)["count"], 0);
    assert_error(&call(&app, "GET", SCHEDULES, &Who::Anonymous, None).await, 401, "unauthorized");
    assert_error(&call(&app, "POST", SCHEDULES, &drone, Some(json!({}))).await, 403, "forbidden");
    let bad =
        call(&app, "POST", SCHEDULES, &ada, Some(json!({"cron_definition": "61 * * * *", "endpoint": "x"}))).await;
    let fields: Vec<Value> = assert_error(&bad, 422, "validation_failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, [json!("cron_definition"), json!("endpoint")]);
    assert_error(
        &call(
            &app,
            "POST",
            SCHEDULES,
            &ada,
            Some(json!({"interval_definition": "1 minutes", "endpoint": "http://x", "owner": 1})),
        )
        .await,
        422,
        "unknown_field",
    );
    assert_error(&raw(&app, "POST", SCHEDULES, &ada, Some("{\"name\":".into())).await, 400, "invalid_json");
    let anonymous_tick = app.send("POST", RUN_DUE, &[], "").await;
    assert_eq!((anonymous_tick.status, anonymous_tick.body.len()), (204, 0), "counts are for administrators");
    let huge = json!({"interval_definition": "1 minutes", "endpoint": "http://x", "payload": "x".repeat(70_000)});
    assert_error(&call(&app, "POST", SCHEDULES, &ada, Some(huge)).await, 422, "validation_failed");
    assert_eq!(expect(&call(&app, "GET", &path, &ada, None).await, 200), created, "unchanged");

    // An edit of the definition moves next_run_at (Seed Scheduler's bug is not copied); a rename does not.
    let renamed = expect(&call(&app, "PATCH", &path, &ada, Some(json!({"name": "pong"}))).await, 200);
    assert_eq!(renamed["next_run_at"], created["next_run_at"]);
    let moved = expect(&call(&app, "PATCH", &path, &ada, Some(json!({"interval_definition": "5 minutes"}))).await, 200);
    assert_eq!(moved["next_run_at"].as_i64().unwrap() - now(&app), 300);
    let cron = json!({"cron_definition": "30 6 * * *", "interval_definition": null, "timezone": "Asia/Tokyo"});
    let daily = expect(&call(&app, "PATCH", &path, &ada, Some(cron)).await, 200);
    assert_eq!((daily["next_run_at"].as_i64().unwrap() + 9 * 3600) % 86_400, 6 * 3600 + 30 * 60, "06:30 in Tokyo");
    expect(&call(&app, "DELETE", &path, &ada, None).await, 204);
    assert_error(&call(&app, "GET", &path, &ada, None).await, 404, "not_found");
}

#[tokio::test]
async fn by_default_webhooks_may_not_point_at_this_machine_or_a_private_network() {
    let app = TestHost::start().await;
    let (_, ada) = user(&app, "ada").await;
    for endpoint in ["http://127.0.0.1:3000/api/v1/schedules/run-due", "http://169.254.169.254/", "http://localhost/"] {
        let body = json!({"interval_definition": "1 minutes", "endpoint": endpoint});
        let refused = call(&app, "POST", SCHEDULES, &ada, Some(body)).await;
        assert_eq!(assert_error(&refused, 422, "validation_failed")["errors"][0]["field"], "endpoint", "{endpoint}");
    }
    create(&app, &ada, json!({"interval_definition": "1 minutes", "endpoint": "https://example.org/hook"})).await;
}

#[tokio::test]
async fn webhooks_are_delivered_retried_recorded_and_requeued() {
    our_host_only!("moves our host's test clock");
    let app = start().await;
    let (_, ada) = user(&app, "ada").await;
    let receiver = Receiver::start().await;
    let good = create(&app, &ada, json!({"interval_definition": "1 days", "endpoint": receiver.url("/good"), "payload": {"n": 1}, "auth_token": "tok"})).await;
    let bad = create(
        &app,
        &ada,
        json!({"interval_definition": "1 days", "endpoint": receiver.url("/bad"), "payload": [1, 2]}),
    )
    .await;
    let slow = create(&app, &ada, json!({"interval_definition": "1 days", "endpoint": receiver.url("/slow")})).await;
    receiver.set("/bad", Behaviour::Answer(500));
    receiver.set("/slow", Behaviour::Slow(Duration::from_secs(3)));

    assert_eq!(run_due(&app, &token(&app)).await["fired"], 0, "nothing is due yet");
    clock_to(&app, good["next_run_at"].as_i64().unwrap());
    let started = std::time::Instant::now();
    let first = run_due(&app, &token(&app)).await;
    assert_eq!(
        (first["fired"].clone(), first["delivered"].clone(), first["retried"].clone()),
        (json!(3), json!(2), json!(1))
    );
    assert!(started.elapsed() < Duration::from_secs(6), "the slow endpoint is waited for alongside the others");
    let good_seen = receiver.seen("/good");
    assert_eq!(good_seen.len(), 1);
    assert_eq!((good_seen[0].header("authorization"), &good_seen[0].body), (Some("Token tok"), &json!({"n": 1})));
    let bad_seen = receiver.seen("/bad");
    assert_eq!((bad_seen.len(), bad_seen[0].header("authorization"), &bad_seen[0].body), (1, None, &json!([1, 2])));
    assert_eq!(receiver.seen("/slow").len(), 1);
    let good_now = expect(&call(&app, "GET", &path_of(&good["id"]), &ada, None).await, 200);
    let ran = good_now["last_run_at"].as_i64().unwrap();
    assert!((good["next_run_at"].as_i64().unwrap()..=now(&app)).contains(&ran), "{good_now}");

    // The failing endpoint: 5 retries (their backoff and jitter are unit-tested in core), then one failure.
    for retry in 1..=5 {
        clock_to(&app, now(&app) + 400);
        let later = run_due(&app, &token(&app)).await;
        assert_eq!(later[if retry == 5 { "failed" } else { "retried" }], 1, "retry {retry}: {later}");
    }
    assert_eq!(receiver.seen("/bad").len(), 6);
    let failures = expect(&call(&app, "GET", &format!("{}/failures", path_of(&bad["id"])), &ada, None).await, 200);
    assert_eq!(failures["count"], 1);
    let failure = &failures["results"][0];
    assert_eq!((failure["attempts"].clone(), failure["status"].clone()), (json!(6), json!(500)));
    assert!(failure["error"].as_str().unwrap().contains("receiver says no"), "{failure}");

    // Requeue replays it once the endpoint works.
    receiver.set("/bad", Behaviour::Answer(204));
    let requeued = rpc_ok(&rpc(&app, &path_of(&bad["id"]), &ada, "requeue", json!({})).await);
    assert_eq!(requeued, json!({"requeued": 1}));
    let replay = run_due(&app, &token(&app)).await;
    assert!(replay["delivered"].as_i64().unwrap() >= 1, "{replay}");
    assert_eq!(receiver.seen("/bad").len(), 7);
    let failures = expect(&call(&app, "GET", &format!("{}/failures", path_of(&bad["id"])), &ada, None).await, 200);
    assert_eq!(failures["count"], 0);
    let _ = slow;
}

#[tokio::test]
async fn an_endpoint_slower_than_the_delivery_timeout_is_a_failed_attempt() {
    our_host_only!("moves our host's test clock");
    let app = start_with(|options| {
        options.variables.insert("delivery_timeout_seconds".into(), "1".into());
    })
    .await;
    let (_, ada) = user(&app, "ada").await;
    let receiver = Receiver::start().await;
    receiver.set("/stuck", Behaviour::Slow(Duration::from_secs(4)));
    let stuck = create(&app, &ada, json!({"interval_definition": "1 days", "endpoint": receiver.url("/stuck")})).await;
    clock_to(&app, stuck["next_run_at"].as_i64().unwrap());
    let started = std::time::Instant::now();
    let first = run_due(&app, &token(&app)).await;
    assert!(started.elapsed() < Duration::from_secs(3), "cut off after 1 s, not 4: {:?}", started.elapsed());
    assert_eq!((first["delivered"].clone(), first["retried"].clone()), (json!(0), json!(1)), "{first}");
    for _ in 0..5 {
        clock_to(&app, now(&app) + 400);
        run_due(&app, &token(&app)).await;
    }
    let failures = expect(&call(&app, "GET", &format!("{}/failures", path_of(&stuck["id"])), &ada, None).await, 200);
    let failure = &failures["results"][0];
    assert_eq!(failure["status"], Value::Null, "nothing answered in time: {failure}");
    assert_eq!(failure["error"], "timed out", "{failure}");
}

#[tokio::test]
async fn task_schedules_submit_under_the_owners_rights_and_run_now_fires_at_once() {
    our_host_only!("moves our host's test clock");
    let app = start().await;
    let (_, ada) = user(&app, "ada").await;
    let (bob_id, bob) = user(&app, "bob").await;
    let render = project(&app, &ada, "render", "private").await["id"].clone();
    let render_tasks = format!("/api/v1/tasks?project={render}");
    let body = json!({"cron_definition": "@hourly", "project": "render", "recipe": "frame 1", "priority": 3});
    assert_error(&call(&app, "POST", SCHEDULES, &bob, Some(body.clone())).await, 403, "forbidden");
    let grant = format!("/api/v1/projects/render/grants/users/{bob_id}");
    expect(&call(&app, "PUT", &grant, &ada, Some(json!({"perm": "write"}))).await, 200);
    let schedule = create(&app, &bob, body).await;
    let path = path_of(&schedule["id"]);

    let fired = rpc_ok(&rpc(&app, &path, &bob, "run_now", json!({})).await);
    assert_eq!(fired["next_run_at"], schedule["next_run_at"], "run_now does not move the schedule");
    let tasks = expect(&call(&app, "GET", &render_tasks, &ada, None).await, 200);
    assert_eq!((tasks["count"].clone(), tasks["results"][0]["recipe"].clone()), (json!(1), json!("frame 1")));

    // Bob loses his grant: the next occurrence is refused with his rights, and recorded.
    expect(&call(&app, "DELETE", &grant, &ada, None).await, 204);
    clock_to(&app, schedule["next_run_at"].as_i64().unwrap());
    assert_eq!(run_due(&app, &token(&app)).await["fired"], 1);
    assert_eq!(expect(&call(&app, "GET", &render_tasks, &ada, None).await, 200)["count"], 1);
    let failures = expect(&call(&app, "GET", &format!("{path}/failures"), &bob, None).await, 200);
    assert_eq!(failures["results"][0]["status"], 403, "{failures}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_callers_on_two_hosts_fire_every_occurrence_exactly_once() {
    our_host_only!("runs a second process of our host on the data directory");
    let app = start().await;
    let (_, ada) = user(&app, "ada").await;
    let receiver = Receiver::start().await;
    let paths: Vec<String> = (0..10).map(|n| format!("/hook/{n}")).collect();
    for path in &paths {
        create(&app, &ada, json!({"interval_definition": "1 seconds", "endpoint": receiver.url(path)})).await;
    }
    // A second host process on the same data directory; both hosts' guests see the system clock.
    let child = ChildHost::spawn(app.data.path());
    let hosts = [app.http.clone(), Http::new(child.url.clone())];
    let admin_token = token(&app);
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    let callers: Vec<_> = (0..8)
        .map(|n| {
            let http = hosts[n % 2].clone();
            let admin_token = admin_token.clone();
            tokio::spawn(async move {
                let mut fired = 0;
                while std::time::Instant::now() < deadline {
                    fired += run_due(&http, &admin_token).await["fired"].as_i64().unwrap();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                fired
            })
        })
        .collect();
    let mut fired = 0;
    for caller in callers {
        fired += caller.await.unwrap();
    }
    let seen: Vec<(String, String)> = receiver
        .all()
        .into_iter()
        .map(|s| (s.path.clone(), s.header("x-conveyor-occurrence").unwrap_or_default().to_string()))
        .collect();
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), seen.len(), "no occurrence was delivered twice: {seen:?}");
    assert_eq!(fired as usize, seen.len(), "every fired occurrence was delivered once");
    for path in &paths {
        let count = seen.iter().filter(|(p, _)| p == path).count();
        assert!(count >= 2, "{path} fired every second while callers ran ({count} times)");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_host_fires_due_schedules_within_two_seconds_with_nothing_else_running() {
    our_host_only!("uses our host's ticks");
    let app = start_with(|options| options.ticks = true).await;
    let (_, ada) = user(&app, "ada").await;
    let project = project(&app, &ada, "ticking", "private").await["id"].clone();
    let tasks =
        create(&app, &ada, json!({"interval_definition": "2 seconds", "project": project, "recipe": "r"})).await;
    let receiver = Receiver::start().await;
    create(&app, &ada, json!({"interval_definition": "2 seconds", "endpoint": receiver.url("/tick")})).await;
    tokio::time::sleep(Duration::from_secs(7)).await;

    // Firing: the run-due tick takes each occurrence within a second or so of its time (the task's
    // `created_at` is whole seconds, so "within 2 s" allows for the rounding).
    let listed =
        expect(&call(&app, "GET", &format!("/api/v1/tasks?project={project}&order=id"), &ada, None).await, 200);
    let created: Vec<i64> =
        listed["results"].as_array().unwrap().iter().map(|t| t["created_at"].as_i64().unwrap()).collect();
    assert!(created.len() >= 2, "fired by the host's tick alone: {listed}");
    let first = tasks["next_run_at"].as_i64().unwrap();
    for (n, at) in created.iter().enumerate() {
        let late = at - (first + 2 * n as i64);
        assert!((0..=2).contains(&late), "occurrence {n} fired {late} s after its time: {created:?}");
    }
    // Delivering: the deliver-due tick sends what run-due queued at its next beat (within about a second more).
    let arrivals = receiver.all();
    assert!(arrivals.len() >= 2, "delivered by the host's tick alone: {arrivals:?}");
    for seen in &arrivals {
        let late = seen.arrival - seen.header("x-conveyor-occurrence").unwrap().parse::<f64>().unwrap();
        assert!((0.0..=3.0).contains(&late), "delivered {late:.2} s after its time");
    }
}

/// Not a test on its own: the entry point of the second host process that
/// `concurrent_callers_on_two_hosts_fire_every_occurrence_exactly_once` starts (returns at once otherwise).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "entry point of a child host process, started by another test"]
async fn child_host_entry() {
    conveyor_tests::child_host_main().await;
}
