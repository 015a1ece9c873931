//! Component `projectw` over HTTP against the real host (SPEC §9, docs/projectw.md): Project-W's runner
//! protocol driven byte for byte as its runner (dummy mode, v0.6.0) drives it, the jobs a user submits,
//! sees, aborts, deletes and downloads, and the refusals of both.

mod pw_support;

use conveyor_tests::our_host_only;
use conveyor_tests::{TestHost, TestResponse, app_manifest};
use pw_support::*;
use serde_json::{Value, json};

/// What Project-W's runner sends with every request (httpx 0.28's defaults and the runner's bearer).
fn runner_headers(token: &str, json_body: bool) -> Vec<(String, String)> {
    let mut headers = vec![
        ("host".to_string(), "127.0.0.1".to_string()),
        ("accept".into(), "*/*".into()),
        ("accept-encoding".into(), "gzip, deflate".into()),
        ("connection".into(), "keep-alive".into()),
        ("user-agent".into(), "python-httpx/0.28.1".into()),
        ("authorization".into(), format!("Bearer {token}")),
    ];
    if json_body {
        headers.push(("content-type".into(), "application/json".into()));
    }
    headers
}

/// One request of the runner: `route` under `/api/runners`, the session token as the query, the body as
/// the exact bytes the runner writes (JSON content type when there is one).
async fn runner_call(
    app: &TestHost,
    method: &str,
    route: &str,
    token: &str,
    session: Option<&str>,
    body: &str,
) -> TestResponse {
    let path = match session {
        Some(session) => format!("/api/runners{route}?session_token={session}"),
        None => format!("/api/runners{route}"),
    };
    let headers = runner_headers(token, !body.is_empty());
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let response = app.send(method, &path, &headers, body.to_string()).await;
    assert_clean(&response);
    response
}

/// Submits a job as `who`; answers the response.
async fn submit(app: &TestHost, who: &Who, file_name: &str, content_type: &str, data: &[u8]) -> TestResponse {
    let (form_type, body) = form("audio_file", file_name, content_type, data);
    client(app, "POST", "/api/jobs/submit_job", who, Some((&form_type, body))).await
}

async fn submit_ok(app: &TestHost, who: &Who, data: &[u8]) -> i64 {
    pw_json(&submit(app, who, "dummy-file", "audio/aac", data).await, 200).as_i64().expect("a job id")
}

/// The job's info as its owner sees it.
async fn job(app: &TestHost, who: &Who, id: i64) -> Value {
    let infos = pw_json(&client(app, "GET", &format!("/api/jobs/info?job_ids={id}"), who, None).await, 200);
    assert_eq!(infos.as_array().map(Vec::len), Some(1), "{infos}");
    infos[0].clone()
}

/// Creates a runner as the built-in administrator: (id, token).
async fn create_runner(app: &TestHost) -> (i64, String) {
    let created = pw_json(&client(app, "POST", "/api/admins/create_runner", &admin(app), None).await, 200);
    (created["id"].as_i64().unwrap(), created["token"].as_str().unwrap().to_string())
}

/// The register body of the runner in `runner_requests_py312.jsonl`, with another priority.
fn register_body(priority: i64) -> String {
    format!(
        "{{\"name\":\"test runner\",\"version\":\"0.6.0\",\"git_hash\":\"4d246b77d\",\"source_code_url\":\"https://github.com/JulianFP/project-W/tree/main/runner\",\"priority\":{priority}}}"
    )
}

async fn register(app: &TestHost, token: &str, priority: i64) -> String {
    let body = pw_json(&runner_call(app, "POST", "/register", token, None, &register_body(priority)).await, 200);
    body["session_token"].as_str().unwrap().to_string()
}

async fn heartbeat(app: &TestHost, token: &str, session: &str) -> Value {
    pw_json(&runner_call(app, "POST", "/heartbeat", token, Some(session), "{\"progress\":0.0}").await, 200)
}

/// The dummy transcript of Project-W's runner, in the bytes its `model_dump()` + httpx write.
const RESULT: &str = concat!(
    "{\"error_msg\":null,\"transcript\":{",
    "\"as_txt\":\"Space, the final frontier.\\nThese are the voyages of the starship Enterprise.\",",
    "\"as_srt\":\"1\\n00:00:06,089 --> 00:00:14,663\\nSpace, the final frontier.\\n\",",
    "\"as_tsv\":\"start\\tend\\ttext\\n6089\\t14663\\tSpace, the final frontier.\\n\",",
    "\"as_vtt\":\"WEBVTT\\n\\n00:06.089 --> 00:14.663\\nSpace, the final frontier.\\n\",",
    "\"as_json\":{\"segments\":[{\"start\":6.089,\"end\":14.663,\"text\":\" Space, the final frontier.\",\"words\":[{\"word\":\"Space,\",\"start\":6.089,\"end\":6.5,\"score\":0.9}]}],\"word_segments\":[],\"language\":\"en\"}",
    "}}"
);

fn clock_advance(app: &TestHost, seconds: i64) {
    app.ours().runtime.clock().advance(seconds);
}

#[tokio::test]
async fn the_runner_protocol_byte_for_byte_as_project_w_runner_drives_it() {
    our_host_only!("moves our host's test clock");
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (runner_id, token) = create_runner(&app).await;
    let audio: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let job_id = submit_ok(&app, &alice, &audio).await;
    assert_eq!(job(&app, &alice, job_id).await["step"], "pending_runner");

    // register: no session token yet.
    let registered = pw_json(&runner_call(&app, "POST", "/register", &token, None, &register_body(100)).await, 200);
    assert_eq!(registered["id"], runner_id);
    let session = registered["session_token"].as_str().unwrap().to_string();
    assert!(session.len() >= 32, "{registered}");
    let assigned = job(&app, &alice, job_id).await;
    assert_eq!(
        (assigned["step"].clone(), assigned["runner_name"].clone()),
        (json!("runner_assigned"), json!("test runner"))
    );

    // The first heartbeat comes 10 s after register.
    clock_advance(&app, 10);
    assert_eq!(heartbeat(&app, &token, &session).await, json!({"abort": false, "job_assigned": true}));

    let info = pw_json(&runner_call(&app, "GET", "/retrieve_job_info", &token, Some(&session), "").await, 200);
    let defaults: Value = serde_json::from_str(DEFAULT_SETTINGS).unwrap();
    assert_eq!(info, json!({"id": job_id, "settings": defaults}));

    let fetched = runner_call(&app, "POST", "/retrieve_job_audio", &token, Some(&session), "").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.header("content-type"), Some("audio/"), "the runner splits it on `/`");
    assert_eq!(fetched.body.as_ref(), audio.as_slice());
    assert_eq!(job(&app, &alice, job_id).await["step"], "runner_in_progress");

    let submitted = runner_call(&app, "POST", "/submit_job_result", &token, Some(&session), RESULT).await;
    assert_eq!(pw_json(&submitted, 200), json!("Success"));
    clock_advance(&app, 10);
    assert_eq!(heartbeat(&app, &token, &session).await, json!({"abort": false, "job_assigned": false}));
    let unregistered = runner_call(&app, "POST", "/unregister", &token, Some(&session), "").await;
    assert_eq!(pw_json(&unregistered, 200), json!("Success"));

    // The user's side of it: a finished job with every transcript type.
    let done = job(&app, &alice, job_id).await;
    assert_eq!(done["step"], "success");
    assert_eq!((done["progress"].clone(), done["downloaded"].clone()), (json!(100.0), json!(false)));
    assert_eq!(done["runner_id"], runner_id);
    assert_eq!(done["runner_git_hash"], "4d246b77d");
    assert!(done["finish_timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{done}");
    let sent: Value = serde_json::from_str(RESULT).unwrap();
    for kind in ["as_txt", "as_srt", "as_tsv", "as_vtt", "as_json"] {
        let path = format!("/api/jobs/download_transcript?job_id={job_id}&transcript_type={kind}");
        let text = pw_json(&client(&app, "GET", &path, &alice, None).await, 200);
        let text = text.as_str().expect("a JSON string, as Project-W answers").to_string();
        if kind == "as_json" {
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), sent["transcript"]["as_json"]);
        } else {
            assert_eq!(text, sent["transcript"][kind].as_str().unwrap());
        }
    }
    assert_eq!(job(&app, &alice, job_id).await["step"], "downloaded");
    // The audio is gone with the job's end: nobody may fetch it again.
    let again = runner_call(&app, "POST", "/retrieve_job_audio", &token, Some(&session), "").await;
    pw_refused(&again, 403, "This runner is currently not registered as online!");
}

/// `default_job_settings.json` of the notes: what Project-W's defaults are, key for key.
const DEFAULT_SETTINGS: &str = r#"{"task": "transcribe", "model": "large", "language": null, "alignment": {"processing": {"highlight_words": false, "max_line_count": null, "max_line_width": null}, "return_char_alignments": false, "interpolate_method": "nearest"}, "diarization": null, "vad_settings": {"vad_onset": 0.5, "vad_offset": 0.363, "chunk_size": 30}, "asr_settings": {"beam_size": 5, "patience": 1.0, "length_penalty": 1.0, "temperature": 0.0, "temperature_increment_on_fallback": 0.2, "compression_ratio_threshold": 2.4, "log_prob_threshold": -1.0, "no_speech_threshold": 0.6, "initial_prompt": null, "suppress_tokens": [-1], "suppress_numerals": false}, "email_notification": false}"#;

async fn count(app: &TestHost, who: &Who, query: &str) -> Value {
    pw_json(&client(app, "GET", &format!("/api/jobs/count?{query}"), who, None).await, 200)
}

#[tokio::test]
async fn users_submit_list_count_abort_delete_and_set_defaults_of_their_own_jobs() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, bob) = user(&app, "bob").await;
    let first = submit_ok(&app, &alice, b"one").await;
    let second = pw_json(&submit(&app, &alice, "b.mp4", "video/mp4", b"two").await, 200).as_i64().unwrap();
    let bobs = submit_ok(&app, &bob, b"bob's").await;

    assert_eq!(count(&app, &alice, "exclude_finished=false&exclude_downloaded=false").await, json!(2));
    let window = "/api/jobs/get?start_index=0&end_index=9&sort_key=filename&descending=true&exclude_finished=false&exclude_downloaded=false";
    assert_eq!(pw_json(&client(&app, "GET", window, &alice, None).await, 200), json!([first, second]));
    let first_only = "/api/jobs/get?start_index=0&end_index=0&sort_key=creation_time&descending=false&exclude_finished=true&exclude_downloaded=false";
    assert_eq!(pw_json(&client(&app, "GET", first_only, &alice, None).await, 200), json!([first]));

    // Another user's job is not there for Alice (Project-W leaked it through /jobs/info).
    let mixed = format!("/api/jobs/info?job_ids={first}&job_ids={bobs}");
    let infos = pw_json(&client(&app, "GET", &mixed, &alice, None).await, 200);
    assert_eq!(infos.as_array().unwrap().iter().map(|i| i["id"].clone()).collect::<Vec<_>>(), vec![json!(first)]);
    assert_eq!(infos[0]["file_name"], "dummy-file");
    for (method, path, body) in
        [("POST", "/api/jobs/abort", Some(json!([bobs]))), ("DELETE", "/api/jobs/delete", Some(json!([bobs])))]
    {
        assert_eq!(pw_json(&client_json(&app, method, path, &alice, body.unwrap()).await, 200), json!("Success"));
    }
    assert_eq!(job(&app, &bob, bobs).await["step"], "pending_runner", "Alice's abort did not touch Bob's job");
    let download = format!("/api/jobs/download_transcript?job_id={bobs}&transcript_type=as_txt");
    pw_refused(
        &client(&app, "GET", &download, &alice, None).await,
        400,
        &format!("No job with id {bobs} found or job isn't finished yet"),
    );

    // Abort a pending job: failed at once. Aborting it again, or deleting a running one, is refused whole.
    assert_eq!(
        pw_json(&client_json(&app, "POST", "/api/jobs/abort", &alice, json!([first])).await, 200),
        json!("Success")
    );
    let aborted = job(&app, &alice, first).await;
    assert_eq!((aborted["step"].clone(), aborted["error_msg"].clone()), (json!("failed"), json!("Job was aborted")));
    pw_refused(
        &client_json(&app, "POST", "/api/jobs/abort", &alice, json!([first, second])).await,
        400,
        "At least one of the provided jobs is currently not running",
    );
    assert_eq!(job(&app, &alice, second).await["step"], "pending_runner", "nothing aborted");
    pw_refused(
        &client_json(&app, "DELETE", "/api/jobs/delete", &alice, json!([first, second])).await,
        400,
        &format!("The job with id {second} is currently still running. Only finished jobs can be deleted!"),
    );
    assert_eq!(count(&app, &alice, "exclude_finished=true&exclude_downloaded=false").await, json!(1));
    assert_eq!(
        pw_json(&client_json(&app, "DELETE", "/api/jobs/delete", &alice, json!([first])).await, 200),
        json!("Success")
    );
    let gone = pw_json(&client(&app, "GET", &format!("/api/jobs/info?job_ids={first}"), &alice, None).await, 200);
    assert_eq!(gone, json!([]));
    assert_eq!(count(&app, &alice, "exclude_finished=false&exclude_downloaded=false").await, json!(1));

    // Settings: the defaults, a saved default, and a job submitted with another user's settings id.
    let defaults: Value = serde_json::from_str(DEFAULT_SETTINGS).unwrap();
    assert_eq!(pw_json(&client(&app, "GET", "/api/jobs/default_settings", &alice, None).await, 200), defaults);
    let saved = client_json(
        &app,
        "POST",
        "/api/jobs/submit_settings?is_new_default=true",
        &alice,
        json!({"model": "tiny.en", "language": "en"}),
    )
    .await;
    let settings_id = pw_json(&saved, 200).as_i64().unwrap();
    let mine = pw_json(&client(&app, "GET", "/api/jobs/default_settings", &alice, None).await, 200);
    assert_eq!((mine["model"].clone(), mine["asr_settings"]["beam_size"].clone()), (json!("tiny.en"), json!(5)));
    let (form_type, form_body) = form("audio_file", "x.wav", "audio/wav", b"x");
    let foreign = client(
        &app,
        "POST",
        &format!("/api/jobs/submit_job?job_settings_id={settings_id}"),
        &bob,
        Some((&form_type, form_body)),
    )
    .await;
    pw_refused(&foreign, 400, &format!("The provided job_settings_id of '{settings_id}' is invalid"));
    let invalid = client_json(&app, "POST", "/api/jobs/submit_settings", &alice, json!({"model": "tiny.en"})).await;
    assert_eq!(pw_json(&invalid, 422)["detail"][0]["type"], "value_error");
    let third = submit_ok(&app, &alice, b"three").await;
    assert_eq!(job(&app, &alice, third).await["settings"]["model"], "tiny.en", "the user's default applies");
}

#[tokio::test]
async fn refusals_of_runners_users_uploads_and_forms() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, token) = create_runner(&app).await;
    let user_token = bearer(&alice);

    // Credentials: each kind only on its own routes.
    pw_refused(
        &client(
            &app,
            "GET",
            "/api/jobs/count?exclude_finished=false&exclude_downloaded=false",
            &Who::Bearer(token.clone()),
            None,
        )
        .await,
        401,
        "Could not validate token",
    );
    pw_refused(
        &runner_call(&app, "POST", "/register", &user_token, None, &register_body(100)).await,
        401,
        "No runner with that token exists!",
    );
    let anonymous =
        client(&app, "GET", "/api/jobs/count?exclude_finished=false&exclude_downloaded=false", &Who::Anonymous, None)
            .await;
    pw_refused(&anonymous, 401, "Not authenticated");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    pw_refused(&client(&app, "POST", "/api/admins/create_runner", &alice, None).await, 403, "Not enough permissions");

    // Sessions: none before register, the wrong one, a second register, a missing one.
    pw_refused(
        &runner_call(&app, "POST", "/heartbeat", &token, Some("nope"), "{\"progress\":0.0}").await,
        403,
        "This runner is currently not registered as online!",
    );
    let session = register(&app, &token, 100).await;
    let wrong = runner_call(&app, "POST", "/heartbeat", &token, Some("nope"), "{\"progress\":0.0}").await;
    assert_eq!(
        pw_json(&wrong, 403)["detail"].as_str().map(|d| d.starts_with("The session token is invalid.")),
        Some(true)
    );
    pw_refused(
        &runner_call(&app, "POST", "/register", &token, None, &register_body(100)).await,
        403,
        "This runner is already registered as online!",
    );
    assert_eq!(
        pw_json(&runner_call(&app, "POST", "/heartbeat", &token, None, "{\"progress\":0.0}").await, 422),
        json!({"detail": [{"type": "missing", "loc": ["query", "session_token"], "msg": "Field required", "input": null}]})
    );
    assert_eq!(
        pw_json(&runner_call(&app, "POST", "/heartbeat", &token, Some(&session), "{\"progress\":150}").await, 422),
        json!({"detail": [{"type": "less_than_equal", "loc": ["body", "progress"], "msg": "Input should be less than or equal to 100", "input": 150.0, "ctx": {"le": 100.0}}]})
    );
    pw_refused(
        &runner_call(&app, "GET", "/retrieve_job_info", &token, Some(&session), "").await,
        400,
        "This runner has currently no job assigned",
    );
    pw_refused(
        &runner_call(&app, "POST", "/submit_job_result", &token, Some(&session), RESULT).await,
        400,
        "This runner is currently not processing a job!",
    );
    let empty = pw_json(&runner_call(&app, "POST", "/submit_job_result", &token, Some(&session), "{}").await, 422);
    assert_eq!(
        empty["detail"][0]["msg"],
        "Value error, Either `error_msg` or `transcript` must be set for job submission"
    );

    // Uploads and forms.
    pw_refused(
        &submit(&app, &alice, "notes.txt", "text/plain", b"hello").await,
        415,
        "The provided file is not an audio or video file but is of type text/plain",
    );
    let broken = client(
        &app,
        "POST",
        "/api/jobs/submit_job",
        &alice,
        Some((&format!("multipart/form-data; boundary={BOUNDARY}"), b"--nope\r\n".to_vec())),
    )
    .await;
    pw_refused(&broken, 400, "There was an error parsing the body");
    let (form_type, other_field) = form("file", "a.aac", "audio/aac", b"x");
    let missing = client(&app, "POST", "/api/jobs/submit_job", &alice, Some((&form_type, other_field))).await;
    assert_eq!(
        pw_json(&missing, 422),
        json!({"detail": [{"type": "missing", "loc": ["body", "audio_file"], "msg": "Field required", "input": null}]})
    );
    let count =
        client(&app, "GET", "/api/jobs/count?exclude_finished=false&exclude_downloaded=false", &alice, None).await;
    assert_eq!(pw_json(&count, 200), json!(0), "no refused upload became a job");
    pw_refused(&client(&app, "GET", "/api/jobs/nothing", &alice, None).await, 404, "Not Found");
}

#[tokio::test]
async fn a_dead_runner_loses_its_job_and_its_late_result_is_refused() {
    our_host_only!("moves our host's test clock");
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, first) = create_runner(&app).await;
    let (second_id, second) = create_runner(&app).await;
    let job_id = submit_ok(&app, &alice, b"audio").await;
    let session = register(&app, &first, 100).await;
    assert_eq!(heartbeat(&app, &first, &session).await["job_assigned"], true);
    assert_eq!(runner_call(&app, "POST", "/retrieve_job_audio", &first, Some(&session), "").await.status, 200);

    // 60 s without a heartbeat: offline, and the job is back in the queue.
    clock_advance(&app, 61);
    assert_eq!(job(&app, &alice, job_id).await["step"], "pending_runner");
    pw_refused(
        &runner_call(&app, "POST", "/heartbeat", &first, Some(&session), "{\"progress\":0.0}").await,
        403,
        "This runner is currently not registered as online!",
    );
    let late = runner_call(&app, "POST", "/submit_job_result", &first, Some(&session), RESULT).await;
    pw_refused(&late, 403, "This runner is currently not registered as online!");

    // Another runner takes it and finishes it; the first one, back again, has no job.
    let other = register(&app, &second, 100).await;
    assert_eq!(job(&app, &alice, job_id).await["runner_id"], second_id);
    assert_eq!(
        runner_call(&app, "POST", "/retrieve_job_audio", &second, Some(&other), "").await.body.as_ref(),
        b"audio"
    );
    let failed = "{\"error_msg\":\"RuntimeError: 'provided audio file is empty'\",\"transcript\":null}";
    assert_eq!(
        pw_json(&runner_call(&app, "POST", "/submit_job_result", &second, Some(&other), failed).await, 200),
        json!("Success")
    );
    let done = job(&app, &alice, job_id).await;
    assert_eq!(
        (done["step"].clone(), done["error_msg"].clone()),
        (json!("failed"), json!("RuntimeError: 'provided audio file is empty'"))
    );
    let back = register(&app, &first, 100).await;
    assert_eq!(heartbeat(&app, &first, &back).await, json!({"abort": false, "job_assigned": false}));
}

#[tokio::test]
async fn abort_reaches_runners_through_the_heartbeat_and_priority_picks_the_runner() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, low) = create_runner(&app).await;
    let (high_id, high) = create_runner(&app).await;
    let low_session = register(&app, &low, 10).await;
    let high_session = register(&app, &high, 500).await;

    // The idle runner of higher priority gets the next job, even when the other one asks first.
    let first = submit_ok(&app, &alice, b"one").await;
    assert_eq!(heartbeat(&app, &low, &low_session).await["job_assigned"], false);
    assert_eq!(heartbeat(&app, &high, &high_session).await["job_assigned"], true);
    assert_eq!(job(&app, &alice, first).await["runner_id"], high_id);

    // Aborted while assigned but not started: the runner is quietly given nothing (it never sees a 405).
    assert_eq!(
        pw_json(&client_json(&app, "POST", "/api/jobs/abort", &alice, json!([first])).await, 200),
        json!("Success")
    );
    assert_eq!(heartbeat(&app, &high, &high_session).await, json!({"abort": false, "job_assigned": false}));
    assert_eq!(job(&app, &alice, first).await["step"], "failed");

    // Aborted while in progress: `aborting` until the runner hears it and reports.
    let second = submit_ok(&app, &alice, b"two").await;
    assert_eq!(heartbeat(&app, &high, &high_session).await["job_assigned"], true);
    assert_eq!(runner_call(&app, "POST", "/retrieve_job_audio", &high, Some(&high_session), "").await.status, 200);
    assert_eq!(
        pw_json(&client_json(&app, "POST", "/api/jobs/abort", &alice, json!([second])).await, 200),
        json!("Success")
    );
    let aborting = job(&app, &alice, second).await;
    assert_eq!((aborting["step"].clone(), aborting["abort"].clone()), (json!("aborting"), json!(true)));
    // Never a 405 (Project-W's runner exits on it): the aborted job is still described to its runner.
    let info = pw_json(&runner_call(&app, "GET", "/retrieve_job_info", &high, Some(&high_session), "").await, 200);
    assert_eq!(info["id"], second);
    assert_eq!(heartbeat(&app, &high, &high_session).await, json!({"abort": true, "job_assigned": false}));
    let reported = "{\"error_msg\":\"job was aborted\",\"transcript\":null}";
    assert_eq!(
        pw_json(&runner_call(&app, "POST", "/submit_job_result", &high, Some(&high_session), reported).await, 200),
        json!("Success")
    );
    let failed = job(&app, &alice, second).await;
    assert_eq!((failed["step"].clone(), failed["error_msg"].clone()), (json!("failed"), json!("Job was aborted")));

    // The race the real runner met: a heartbeat hands over a job, its owner aborts it before the runner
    // asks for it. The runner gets the info and an empty file (the audio was freed), hears `abort`, reports
    // whatever it made of it, and carries on.
    let raced = submit_ok(&app, &alice, b"three").await;
    assert_eq!(heartbeat(&app, &high, &high_session).await["job_assigned"], true);
    pw_json(&client_json(&app, "POST", "/api/jobs/abort", &alice, json!([raced])).await, 200);
    let info = pw_json(&runner_call(&app, "GET", "/retrieve_job_info", &high, Some(&high_session), "").await, 200);
    assert_eq!(info["id"], raced);
    let audio = runner_call(&app, "POST", "/retrieve_job_audio", &high, Some(&high_session), "").await;
    assert_eq!((audio.status, audio.header("content-type"), audio.body.len()), (200, Some("audio/"), 0));
    assert_eq!(heartbeat(&app, &high, &high_session).await, json!({"abort": true, "job_assigned": false}));
    let empty = "{\"error_msg\":\"ValueError: 'provided audio file is empty'\",\"transcript\":null}";
    pw_json(&runner_call(&app, "POST", "/submit_job_result", &high, Some(&high_session), empty).await, 200);
    let raced = job(&app, &alice, raced).await;
    assert_eq!((raced["step"].clone(), raced["error_msg"].clone()), (json!("failed"), json!("Job was aborted")));
    assert_eq!(heartbeat(&app, &high, &high_session).await, json!({"abort": false, "job_assigned": false}));
    pw_refused(
        &client_json(&app, "POST", "/api/jobs/abort", &alice, json!([second])).await,
        400,
        "At least one of the provided jobs is currently not running",
    );

    // An invalidated runner's token stops working at once.
    let path = format!("/api/admins/invalidate_runner?runner_id={high_id}");
    let invalidated = pw_json(&client(&app, "DELETE", &path, &admin(&app), None).await, 200);
    assert_eq!(
        invalidated,
        json!(format!("If a runner with id {high_id} existed it was successfully invalidated and deleted"))
    );
    pw_refused(
        &runner_call(&app, "POST", "/heartbeat", &high, Some(&high_session), "{\"progress\":0.0}").await,
        401,
        "No runner with that token exists!",
    );
}

#[tokio::test]
async fn about_and_auth_settings_answer_as_project_w() {
    let app = TestHost::start().await;
    let about = pw_json(&client(&app, "GET", "/api/about", &Who::Anonymous, None).await, 200);
    assert_eq!(about["source_code"], "https://github.com/JulianFP/project-W/tree/main/backend");
    assert!(about["description"].as_str().unwrap().starts_with("A self-hostable platform"));
    let settings = pw_json(&client(&app, "GET", "/api/auth_settings", &Who::Anonymous, None).await, 200);
    assert_eq!(settings["local_account"]["mode"], "no_signup");
    assert_eq!((settings["oidc_providers"].clone(), settings["ldap_providers"].clone()), (json!({}), json!({})));
    // `meta` still answers the rest of `/api`.
    assert_eq!(client(&app, "GET", "/api/v1/health", &Who::Anonymous, None).await.status, 200);
}

/// Rows of a table in the host's database.
fn rows(app: &TestHost, table: &str) -> i64 {
    let db = rusqlite::Connection::open(app.data.path().join("sqlite_db.db")).expect("the database");
    db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get(0)).expect("a count")
}

#[tokio::test]
async fn uploads_stream_to_storage_and_back_and_neither_refused_nor_finished_files_keep_their_bytes() {
    const LIMIT: usize = 40 << 20;
    let app = TestHost::start_with(app_manifest(), |options| {
        options.variables.insert("max_upload_bytes".into(), LIMIT.to_string());
    })
    .await;
    let (_, alice) = user(&app, "alice").await;

    // Larger than any JSON route takes (16 MiB), and not a multiple of the 256 KiB chunk.
    let audio: Vec<u8> = (0..(24u32 << 20) + 12_345).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let job_id = submit_ok(&app, &alice, &audio).await;
    assert_eq!(rows(&app, "projectw_audio"), 97, "24 MiB + 12,345 bytes in 256 KiB chunks");

    // Over the limit: refused, and the partial upload is gone.
    let (form_type, body) = form("audio_file", "big.aac", "audio/aac", &vec![7u8; LIMIT]);
    let too_large = client(&app, "POST", "/api/jobs/submit_job", &alice, Some((&form_type, body))).await;
    assert_eq!(too_large.status, 413, "{}", too_large.text());
    let refused = submit(&app, &alice, "notes.txt", "text/plain", &vec![1u8; 3 << 20]).await;
    assert_eq!(refused.status, 415);
    assert_eq!(rows(&app, "projectw_uploads"), 1, "only the job's upload is kept");

    // The runner gets the same bytes back, streamed.
    let (_, token) = create_runner(&app).await;
    let session = register(&app, &token, 100).await;
    let fetched = runner_call(&app, "POST", "/retrieve_job_audio", &token, Some(&session), "").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body.len(), audio.len());
    assert!(fetched.body.as_ref() == audio.as_slice(), "the audio comes back byte for byte");

    // A finished job frees its bytes.
    pw_json(&runner_call(&app, "POST", "/submit_job_result", &token, Some(&session), RESULT).await, 200);
    assert_eq!(job(&app, &alice, job_id).await["step"], "success");
    assert_eq!((rows(&app, "projectw_uploads"), rows(&app, "projectw_audio")), (0, 0));
}

#[tokio::test]
async fn a_job_whose_task_an_administrator_cancels_natively_ends_as_aborted_and_frees_its_audio() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let id = submit_ok(&app, &alice, &[5u8; 300_000]).await;
    assert_eq!(rows(&app, "projectw_audio"), 2);
    let call = json!({"jsonrpc": "2.0", "method": "cancel", "id": 1});
    let cancelled = client_json(&app, "POST", &format!("/api/v1/tasks/{id}"), &admin(&app), call).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text());
    let ended = job(&app, &alice, id).await;
    assert_eq!((ended["step"].clone(), ended["error_msg"].clone()), (json!("failed"), json!("Job was aborted")));
    assert!(ended["finish_timestamp"].is_string(), "{ended}");
    let unfinished =
        client(&app, "GET", "/api/jobs/count?exclude_finished=true&exclude_downloaded=false", &alice, None).await;
    assert_eq!(pw_json(&unfinished, 200), json!(0));
    assert_eq!((rows(&app, "projectw_uploads"), rows(&app, "projectw_audio")), (0, 0));
}
