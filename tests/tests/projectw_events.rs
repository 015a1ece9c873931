//! Component `projectw` over HTTP against the real host, the second slice (docs/projectw.md, "Events, banners,
//! e-mail and retention"): `/api/jobs/events` streams (own jobs only, resumed from `Last-Event-ID` without
//! loss or repeat, bounded, keepalives), site banners, e-mail to every user and on a finished job through the
//! notification hook, retention, and the refusals of each.

mod pw_support;

use bytes::Bytes;
use conveyor_tests::our_host_only;
use conveyor_tests::{Http, Receiver, TestHost, TestResponse, app_manifest};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use pw_support::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------------------
// Project-W's requests

/// Submits a job with a small audio file (and saved settings, when given); answers its id.
async fn submit(app: &TestHost, who: &Who, settings: Option<i64>) -> i64 {
    let (content_type, body) = form("audio_file", "a.mp3", "audio/mpeg", b"ID3 audio");
    let path = match settings {
        Some(id) => format!("/api/jobs/submit_job?job_settings_id={id}"),
        None => "/api/jobs/submit_job".into(),
    };
    pw_json(&client(app, "POST", &path, who, Some((&content_type, body))).await, 200).as_i64().expect("a job id")
}

/// A runner, registered: (token, session token). It takes the oldest pending job at once.
async fn runner(app: &TestHost) -> (String, String) {
    let created = pw_json(&client(app, "POST", "/api/admins/create_runner", &admin(app), None).await, 200);
    let token = created["token"].as_str().unwrap().to_string();
    let body = json!({"name": "gpu-1", "version": "0.6.0", "git_hash": "4d246b77d",
        "source_code_url": "https://github.com/JulianFP/project-W/tree/main/runner", "priority": 100});
    let registered = client_json(app, "POST", "/api/runners/register", &Who::Bearer(token.clone()), body).await;
    (token, pw_json(&registered, 200)["session_token"].as_str().unwrap().to_string())
}

/// The runner's call to `/api/runners{route}?session_token=`.
async fn runner_call(
    app: &TestHost,
    route: &str,
    (token, session): &(String, String),
    body: Option<Value>,
) -> TestResponse {
    let path = format!("/api/runners{route}?session_token={session}");
    let who = Who::Bearer(token.clone());
    match body {
        Some(body) => client_json(app, "POST", &path, &who, body).await,
        None => client(app, "POST", &path, &who, None).await,
    }
}

/// The runner fetches its job's audio and answers a transcript (or `error`).
async fn finish_job(app: &TestHost, runner: &(String, String), error: Option<&str>) {
    assert_eq!(runner_call(app, "/retrieve_job_audio", runner, None).await.status, 200);
    let result = match error {
        Some(message) => json!({"error_msg": message, "transcript": null}),
        None => json!({"error_msg": null, "transcript": {"as_txt": "Space.", "as_srt": "1", "as_tsv": "t",
            "as_vtt": "WEBVTT", "as_json": {"segments": []}}}),
    };
    assert_eq!(pw_json(&runner_call(app, "/submit_job_result", runner, Some(result)).await, 200), json!("Success"));
}

async fn job_ids(app: &TestHost, who: &Who, ids: &[i64]) -> Vec<i64> {
    let query: Vec<String> = ids.iter().map(|id| format!("job_ids={id}")).collect();
    let infos = pw_json(&client(app, "GET", &format!("/api/jobs/info?{}", query.join("&")), who, None).await, 200);
    infos.as_array().unwrap().iter().map(|info| info["id"].as_i64().unwrap()).collect()
}

async fn start_with(variables: &[(&str, &str)]) -> TestHost {
    let variables: Vec<(String, String)> = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    TestHost::start_with(app_manifest(), move |options| options.variables.extend(variables)).await
}

// ---------------------------------------------------------------------------------------------------------
// A Server-Sent Events client

/// One SSE block.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    Event { id: i64, event: String, data: String },
    Comment(String),
    Retry(u64),
}

impl Frame {
    fn event(&self) -> Option<(i64, &str, i64)> {
        match self {
            Frame::Event { id, event, data } => Some((*id, event.as_str(), data.parse().unwrap())),
            _ => None,
        }
    }
}

/// An open stream of `/api/jobs/events`.
struct Stream {
    status: u16,
    headers: http::HeaderMap,
    body: Option<hyper::body::Incoming>,
    buffer: String,
    ended: bool,
}

async fn open(app: &Http, who: &Who, last_event_id: Option<i64>) -> Stream {
    let client: Client<_, Empty<Bytes>> = Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut request = http::Request::get(app.url("/api/jobs/events")).header("accept", "text/event-stream");
    if let Who::Bearer(token) = who {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let response = client.request(request.body(Empty::new()).unwrap()).await.expect("the host answers");
    let (parts, body) = response.into_parts();
    Stream {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: Some(body),
        buffer: String::new(),
        ended: false,
    }
}

impl Stream {
    /// The next block within `wait` (`None`: nothing came, or the stream ended).
    async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(block.trim_end()));
            }
            let body = self.body.as_mut()?;
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return None,
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.push_str(std::str::from_utf8(&data).expect("UTF-8"));
                    }
                }
                Ok(None) | Ok(Some(Err(_))) => {
                    self.ended = true;
                    self.body = None;
                    return None;
                }
            }
        }
    }

    /// The job events that arrive within `wait` of each other, until a quiet `wait` (comments skipped).
    async fn events(&mut self, wait: Duration) -> Vec<(i64, String, i64)> {
        let mut events = Vec::new();
        while let Some(frame) = self.next(wait).await {
            if let Some((id, event, job)) = frame.event() {
                events.push((id, event.to_string(), job));
            }
        }
        events
    }

    /// Waits for `count` job events (skipping comments), each within `wait`.
    async fn expect(&mut self, count: usize, wait: Duration) -> Vec<(i64, String, i64)> {
        let mut events = Vec::new();
        while events.len() < count {
            match self.next(wait).await {
                Some(frame) => {
                    if let Some((id, event, job)) = frame.event() {
                        events.push((id, event.to_string(), job));
                    }
                }
                None => panic!("expected {count} events, got {events:?}"),
            }
        }
        events
    }
}

fn parse(block: &str) -> Frame {
    if let Some(comment) = block.strip_prefix(':') {
        return Frame::Comment(comment.trim().to_string());
    }
    if let Some(retry) = block.strip_prefix("retry: ") {
        return Frame::Retry(retry.parse().unwrap());
    }
    let field = |name: &str| {
        block.lines().find_map(|line| line.strip_prefix(name)).unwrap_or_else(|| panic!("no `{name}` in {block:?}"))
    };
    assert_eq!(block.lines().count(), 3, "{block:?}");
    Frame::Event { id: field("id: ").parse().unwrap(), event: field("event: ").into(), data: field("data: ").into() }
}

fn kinds(events: &[(i64, String, i64)]) -> Vec<(&str, i64)> {
    events.iter().map(|(_, kind, job)| (kind.as_str(), *job)).collect()
}

const SOON: Duration = Duration::from_secs(3);
const QUIET: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------------------
// Events

#[tokio::test]
async fn events_reach_their_owner_only_and_a_resumed_stream_gets_exactly_what_it_missed() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, bob) = user(&app, "bob").await;
    let mut alices = open(&app, &alice, None).await;
    let mut bobs = open(&app, &bob, None).await;
    assert_eq!(alices.status, 200);
    assert_eq!(alices.headers.get("content-type").unwrap(), "text/event-stream; charset=utf-8");
    assert_eq!(alices.next(SOON).await, Some(Frame::Retry(1000)), "the stream opens with its reconnection delay");
    assert_eq!(bobs.next(SOON).await, Some(Frame::Retry(1000)));

    let job = submit(&app, &alice, None).await;
    let created = alices.expect(1, SOON).await;
    assert_eq!(kinds(&created), [("job_created", job)]);
    let bobs_job = submit(&app, &bob, None).await;
    assert_eq!(kinds(&bobs.expect(1, SOON).await), [("job_created", bobs_job)]);

    // A runner takes Alice's job (the oldest): her stream hears it.
    let runner = runner(&app).await;
    let claimed = alices.expect(1, SOON).await;
    assert_eq!(kinds(&claimed), [("job_updated", job)]);
    assert_eq!(alices.events(QUIET).await, [], "registering changed nothing else she sees");
    let last_seen = claimed[0].0;
    drop(alices);

    // While Alice is away: the runner fetches the audio and finishes, she downloads and deletes the job.
    finish_job(&app, &runner, None).await;
    let download = format!("/api/jobs/download_transcript?job_id={job}&transcript_type=as_txt");
    assert_eq!(pw_json(&client(&app, "GET", &download, &alice, None).await, 200), json!("Space."));
    let deleted = client_json(&app, "DELETE", "/api/jobs/delete", &alice, json!([job])).await;
    assert_eq!(pw_json(&deleted, 200), json!("Success"));

    // Resumed after the last id she saw: exactly what happened meanwhile, in order, once.
    let mut resumed = open(&app, &alice, Some(last_seen)).await;
    assert_eq!(resumed.next(SOON).await, Some(Frame::Retry(1000)));
    let missed = resumed.events(QUIET).await;
    assert_eq!(
        kinds(&missed),
        [
            ("job_updated", job), // the runner fetched the audio: in progress
            ("job_updated", job), // its task closed
            ("job_updated", job), // the job recorded its end and runner
            ("job_updated", job), // downloaded
            ("job_deleted", job),
        ],
        "{missed:?}"
    );
    assert!(missed.iter().all(|(id, ..)| *id > last_seen));
    assert!(missed.windows(2).all(|pair| pair[0].0 < pair[1].0), "ids increase: {missed:?}");
    // Resuming again from the middle gives the rest, and nothing twice.
    let mut again = open(&app, &alice, Some(missed[2].0)).await;
    assert_eq!(again.events(QUIET).await, missed[3..].to_vec());
    // A new stream starts at the newest event: no history.
    let mut fresh = open(&app, &alice, None).await;
    assert_eq!(fresh.events(QUIET).await, []);

    // Bob heard of none of Alice's jobs.
    let bobs_events = bobs.events(QUIET).await;
    assert!(bobs_events.iter().all(|(_, _, id)| *id == bobs_job), "{bobs_events:?}");
}

#[tokio::test]
async fn a_stream_sends_keepalives_and_ends_within_its_bound() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let began = Instant::now();
    let mut stream = open(&app, &alice, None).await;
    let mut frames = Vec::new();
    while let Some(frame) = stream.next(Duration::from_secs(30)).await {
        frames.push((began.elapsed(), frame));
    }
    let lasted = began.elapsed();
    assert!(stream.ended, "the host ended the stream");
    assert!(lasted >= Duration::from_secs(24) && lasted <= Duration::from_millis(26_500), "lasted {lasted:?}");
    let kinds: Vec<&Frame> = frames.iter().map(|(_, frame)| frame).collect();
    let keepalive = Frame::Comment("keepalive".into());
    assert_eq!(kinds, [&Frame::Retry(1000), &keepalive, &keepalive], "{frames:?}");
    for ((at, _), expected) in frames[1..].iter().zip([10, 20]) {
        let expected = Duration::from_secs(expected);
        assert!(*at >= expected && *at < expected + Duration::from_secs(2), "keepalive at {at:?}");
    }
}

#[tokio::test]
async fn a_shorter_bound_from_the_variable_and_the_refusals_of_the_route() {
    let app = start_with(&[("event_stream_seconds", "2")]).await;
    let (_, alice) = user(&app, "alice").await;
    let began = Instant::now();
    let mut stream = open(&app, &alice, None).await;
    assert_eq!(stream.events(Duration::from_secs(5)).await, []);
    assert!(stream.ended && began.elapsed() < Duration::from_secs(3), "{:?}", began.elapsed());

    let refused = |who: Who| {
        let app = &app;
        async move {
            let stream = open(app, &who, None).await;
            let mut body = stream.body.unwrap();
            let mut bytes = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                bytes.extend_from_slice(&frame.into_data().unwrap_or_default());
            }
            (
                stream.status,
                stream.headers.get("content-type").cloned(),
                serde_json::from_slice::<Value>(&bytes).unwrap(),
            )
        }
    };
    let json_type = Some(http::HeaderValue::from_static("application/json"));
    assert_eq!(refused(Who::Anonymous).await, (401, json_type.clone(), json!({"detail": "Not authenticated"})));
    let (token, _) = runner(&app).await;
    assert_eq!(
        refused(Who::Bearer(token)).await,
        (401, json_type.clone(), json!({"detail": "Could not validate token"}))
    );
    let (status, _, _) = refused(admin(&app)).await;
    assert_eq!(status, 403, "the built-in administrator has no jobs");
    let wrong =
        app.send("POST", "/api/jobs/events", &[("authorization", &format!("Bearer {}", bearer(&alice)))], "").await;
    pw_refused(&wrong, 405, "Method Not Allowed");
}

// ---------------------------------------------------------------------------------------------------------
// Banners and e-mail

#[tokio::test]
async fn administrators_add_and_delete_site_banners_that_about_lists() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let add = |who: &Who, html: &str, urgency: i64| {
        let (app, who, body) = (&app, who.clone(), json!({"html": html, "urgency": urgency}));
        async move { client_json(app, "POST", "/api/admins/add_site_banner", &who, body).await }
    };
    let low = pw_json(&add(&admin(&app), "<b>Welcome</b>", 10).await, 200).as_i64().unwrap();
    let high = pw_json(&add(&admin(&app), "Maintenance tonight", 200).await, 200).as_i64().unwrap();
    let about = pw_json(&client(&app, "GET", "/api/about", &Who::Anonymous, None).await, 200);
    assert_eq!(
        about["site_banners"],
        json!([{"id": high, "html": "Maintenance tonight", "urgency": 200}, {"id": low, "html": "<b>Welcome</b>", "urgency": 10}])
    );
    assert_eq!(about["job_retention_in_days"], Value::Null, "unset: jobs are kept forever");

    // Only administrators: an unrelated user, a runner and nobody are refused, and nothing changes.
    pw_refused(&add(&alice, "x", 1).await, 403, "Not enough permissions");
    let (token, _) = runner(&app).await;
    pw_refused(&add(&Who::Bearer(token.clone()), "x", 1).await, 401, "Could not validate token");
    pw_refused(&add(&Who::Anonymous, "x", 1).await, 401, "Not authenticated");
    let delete = format!("/api/admins/delete_site_banner?banner_id={high}");
    pw_refused(&client(&app, "DELETE", &delete, &alice, None).await, 403, "Not enough permissions");
    pw_refused(&client(&app, "DELETE", &delete, &Who::Bearer(token), None).await, 401, "Could not validate token");
    let missing = client_json(&app, "POST", "/api/admins/add_site_banner", &admin(&app), json!({"html": "x"})).await;
    assert_eq!(pw_json(&missing, 422)["detail"][0]["loc"], json!(["body", "urgency"]));
    let about = pw_json(&client(&app, "GET", "/api/about", &Who::Anonymous, None).await, 200);
    assert_eq!(about["site_banners"].as_array().unwrap().len(), 2);

    assert_eq!(pw_json(&client(&app, "DELETE", &delete, &admin(&app), None).await, 200), Value::Null);
    assert_eq!(
        pw_json(&client(&app, "DELETE", &delete, &admin(&app), None).await, 200),
        Value::Null,
        "again: no error"
    );
    let about = pw_json(&client(&app, "GET", "/api/about", &Who::Anonymous, None).await, 200);
    assert_eq!(about["site_banners"], json!([{"id": low, "html": "<b>Welcome</b>", "urgency": 10}]));
}

/// The mail the hook received, by event name.
fn mail(receiver: &Receiver, event: &str) -> Vec<Value> {
    receiver.seen("/mail").into_iter().map(|seen| seen.body).filter(|body| body["event"] == event).collect()
}

async fn send_mail(app: &TestHost) -> Value {
    pw_json(&client(app, "POST", "/api/admins/send-mail", &admin(app), None).await, 200)
}

#[tokio::test]
async fn email_to_all_users_and_on_a_finished_job_goes_through_the_notification_hook() {
    let hook = Receiver::start().await;
    let app = start_with(&[("notify_url", &hook.url("/mail"))]).await;
    let (_, alice) = user(&app, "alice").await;
    let (_, bob) = user(&app, "bob").await;
    let (carol_id, _) = user(&app, "carol").await;
    let disabled =
        client_json(&app, "PATCH", &format!("/api/v1/users/{carol_id}"), &admin(&app), json!({"active": false})).await;
    assert_eq!(disabled.status, 200, "{}", disabled.text());

    // Only administrators send to everyone: a user and a runner are refused, and nothing is queued.
    let announcement = json!({"subject": "Maintenance", "body": "Down at 6.\nBack at 7."});
    let send = |who: Who| {
        let (app, body) = (&app, announcement.clone());
        async move { client_json(app, "POST", "/api/admins/send_email_to_all_users", &who, body).await }
    };
    pw_refused(&send(bob.clone()).await, 403, "Not enough permissions");
    let (token, session) = runner(&app).await;
    pw_refused(&send(Who::Bearer(token.clone())).await, 401, "Could not validate token");
    assert_eq!(send_mail(&app).await, json!({"sent": 0, "dropped": 0}));
    assert_eq!(pw_json(&send(admin(&app)).await, 200), Value::Null);
    // The tick hands them to the hook: every active user (not the disabled one), once.
    assert_eq!(send_mail(&app).await, json!({"sent": 2, "dropped": 0}));
    assert_eq!(send_mail(&app).await, json!({"sent": 0, "dropped": 0}));
    let mut sent = mail(&hook, "projectw.announcement");
    sent.sort_by_key(|body| body["email"].as_str().unwrap().to_string());
    assert_eq!(
        sent,
        [
            json!({"event": "projectw.announcement", "email": "alice@example.org", "username": "alice", "subject": "Maintenance", "body": "Down at 6.\nBack at 7."}),
            json!({"event": "projectw.announcement", "email": "bob@example.org", "username": "bob", "subject": "Maintenance", "body": "Down at 6.\nBack at 7."}),
        ]
    );

    // Jobs whose settings ask for a notice: Alice's succeeds, Bob's fails; Bob's other job did not ask.
    let asked = |who: Who| {
        let app = &app;
        async move {
            let saved =
                client_json(app, "POST", "/api/jobs/submit_settings", &who, json!({"email_notification": true})).await;
            pw_json(&saved, 200).as_i64().unwrap()
        }
    };
    let alices_settings = asked(alice.clone()).await;
    let bobs_settings = asked(bob.clone()).await;
    let alices = submit(&app, &alice, Some(alices_settings)).await;
    let bobs = submit(&app, &bob, Some(bobs_settings)).await;
    let quiet = submit(&app, &bob, None).await;
    let runner = (token, session);
    let heartbeat = || runner_call(&app, "/heartbeat", &runner, Some(json!({"progress": 0.0})));
    // The runner registered before the jobs existed: it takes each at a heartbeat.
    for error in [None, Some("RuntimeError: 'CUDA out of memory'"), None] {
        assert_eq!(pw_json(&heartbeat().await, 200)["job_assigned"], true);
        finish_job(&app, &runner, error).await;
    }
    assert_eq!(send_mail(&app).await, json!({"sent": 2, "dropped": 0}), "not for the job that did not ask");
    let mut notices = mail(&hook, "projectw.job_finished");
    notices.sort_by_key(|body| body["job"].as_i64().unwrap());
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(
        (&notices[0]["email"], &notices[0]["job"], &notices[0]["success"], &notices[0]["subject"]),
        (
            &json!("alice@example.org"),
            &json!(alices),
            &json!(true),
            &json!(format!("Project-W: Job {alices} finished successfully!"))
        )
    );
    assert_eq!(
        (&notices[1]["email"], &notices[1]["job"], &notices[1]["success"], &notices[1]["error_msg"]),
        (&json!("bob@example.org"), &json!(bobs), &json!(false), &json!("RuntimeError: 'CUDA out of memory'"))
    );
    assert!(notices[1]["body"].as_str().unwrap().contains("CUDA out of memory"));
    assert!(notices.iter().all(|notice| notice["job"] != quiet));
    // Anyone may call the tick (the host does, without credentials); only administrators see the counts.
    let anonymous = client(&app, "POST", "/api/admins/send-mail", &Who::Anonymous, None).await;
    assert_eq!((anonymous.status, anonymous.body.len()), (204, 0));
}

// ---------------------------------------------------------------------------------------------------------
// Retention

#[tokio::test]
async fn retention_deletes_only_jobs_finished_longer_ago_than_the_limit() {
    our_host_only!("moves our host's test clock");
    let app = start_with(&[("job_retention_days", "1")]).await;
    let (_, alice) = user(&app, "alice").await;
    let about = pw_json(&client(&app, "GET", "/api/about", &Who::Anonymous, None).await, 200);
    assert_eq!(about["job_retention_in_days"], 1);
    let runner = runner(&app).await;
    let old = submit(&app, &alice, None).await;
    assert_eq!(
        pw_json(&runner_call(&app, "/heartbeat", &runner, Some(json!({"progress": 0.0}))).await, 200)["job_assigned"],
        true
    );
    finish_job(&app, &runner, None).await;
    let transcript = format!("/api/jobs/download_transcript?job_id={old}&transcript_type=as_txt");
    assert_eq!(pw_json(&client(&app, "GET", &transcript, &alice, None).await, 200), json!("Space."));

    app.ours().runtime.clock().advance(12 * 3600);
    let recent = submit(&app, &alice, None).await;
    let aborted = client_json(&app, "POST", "/api/jobs/abort", &alice, json!([recent])).await;
    assert_eq!(pw_json(&aborted, 200), json!("Success"));
    let pending = submit(&app, &alice, None).await;
    let root = admin(&app);
    let tick = || client(&app, "POST", "/api/admins/run-retention", &root, None);
    let counts = pw_json(&tick().await, 200);
    assert_eq!(counts["jobs_deleted"], 0, "nothing is a day old yet: {counts}");

    // A day and a bit after the first finished: it goes (with its transcript), the others stay.
    app.ours().runtime.clock().advance(12 * 3600 + 60);
    let before = pw_json(
        &client(&app, "GET", "/api/jobs/count?exclude_finished=false&exclude_downloaded=false", &alice, None).await,
        200,
    );
    assert_eq!(before, 3);
    let anonymous = client(&app, "POST", "/api/admins/run-retention", &Who::Anonymous, None).await;
    assert_eq!((anonymous.status, anonymous.body.len()), (204, 0), "the host's tick calls it without credentials");
    assert_eq!(job_ids(&app, &alice, &[old, recent, pending]).await, [recent, pending]);
    pw_refused(
        &client(&app, "GET", &transcript, &alice, None).await,
        400,
        &format!("No job with id {old} found or job isn't finished yet"),
    );
    assert_eq!(pw_json(&tick().await, 200)["jobs_deleted"], 0, "each once");
    // Its owner hears of it like of any delete (a stream resumed from the start replays her events).
    let mut replay = open(&app, &alice, Some(0)).await;
    let events = replay.events(QUIET).await;
    assert_eq!(events.last().map(|(_, kind, job)| (kind.as_str(), *job)), Some(("job_deleted", old)), "{events:?}");

    // A day after the second, it goes too; the pending job never does.
    app.ours().runtime.clock().advance(12 * 3600);
    assert_eq!(pw_json(&tick().await, 200)["jobs_deleted"], 1);
    app.ours().runtime.clock().advance(30 * 24 * 3600);
    assert_eq!(pw_json(&tick().await, 200)["jobs_deleted"], 0);
    // (Her session ran out meanwhile.)
    let login = json!({"username": "alice", "password": "correct horse"});
    let session = expect(&call(&app, "POST", "/api/v1/auth/login", &Who::Anonymous, Some(login)).await, 200);
    let alice = Who::Bearer(session["token"].as_str().unwrap().to_string());
    assert_eq!(job_ids(&app, &alice, &[old, recent, pending]).await, [pending]);
}

// ---------------------------------------------------------------------------------------------------------
// How many idle streams one host carries

/// Opens idle streams in steps and times an ordinary request (`GET /api/about`) beside them. Every stream
/// holds an instance until it ends; `/api/jobs/events` is a component of its own capped at
/// `event_stream_instances` (96 of the host's slots), so streams past the cap wait for one to end while the
/// other routes keep the rest. `cargo test -p conveyor-tests --test projectw_events idle_streams -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn idle_streams_one_host_carries() {
    our_host_only!("reads our host's own state");
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let host_slots = app.ours().runtime.limits().max_instances as usize;
    let cap = 96;
    let mut streams = Vec::new();
    for target in [1, 32, 64, cap - 1, cap, cap + 4] {
        let opening = Instant::now();
        let tasks: Vec<_> = (streams.len()..target)
            .map(|_| {
                let (http, alice) = (app.http.clone(), alice.clone());
                tokio::spawn(async move {
                    let mut stream =
                        tokio::time::timeout(Duration::from_secs(2), open(&http, &alice, None)).await.ok()?;
                    (stream.next(SOON).await == Some(Frame::Retry(1000))).then_some(stream)
                })
            })
            .collect();
        for task in tasks {
            streams.push(task.await.unwrap());
        }
        let opened = opening.elapsed();
        let waiting = streams.iter().filter(|s| s.is_none()).count();
        if target == cap {
            // What the idle streams cost: each polls the database twice a second.
            let (cpu, wall) = (cpu_seconds(), Instant::now());
            tokio::time::sleep(Duration::from_secs(4)).await;
            let share = (cpu_seconds() - cpu) / wall.elapsed().as_secs_f64();
            println!("{target:>4} idle streams use {:.0}% of one core (host and client)", share * 100.0);
        }
        let began = Instant::now();
        let about =
            tokio::time::timeout(Duration::from_secs(30), client(&app, "GET", "/api/about", &Who::Anonymous, None))
                .await;
        let latency = began.elapsed();
        println!(
            "{target:>4} streams ({waiting} not answered within 2 s; opened in {opened:?}; host slots {host_slots}): GET /api/about {} after {latency:?}",
            match about {
                Ok(response) => format!("answered {}", response.status),
                Err(_) => "had no answer".into(),
            }
        );
    }
    // One more stream past the cap waits for the oldest to end.
    let began = Instant::now();
    let mut late = open(&app, &alice, None).await;
    assert_eq!(late.next(SOON).await, Some(Frame::Retry(1000)));
    println!(
        "a stream past the cap got its head after {:?} (the oldest streams end 25 s after they began)",
        began.elapsed()
    );
    println!("RSS of the test process (host and client): {} MiB", rss_mib());
}

/// CPU time of this process (user and system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |t| t.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok()))
        })
        .flatten()
        .map_or(0, |kb| kb / 1024)
}
