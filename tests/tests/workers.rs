//! Component `workers` over HTTP against the real host (SPEC §5): registration (open and closed), both
//! credential styles, wrong secrets, the `/workers` collection, patches, pause/unpause, secret rotation,
//! stats, and logs (worker-only writes, readers confined to projects they may read).

mod pw_support;

use conveyor_tests::{TestHost, app_manifest};
use pw_support::*;
use serde_json::{Value, json};

const WORKERS: &str = "/api/v1/workers";
const LOGS: &str = "/api/v1/logs";

#[tokio::test]
async fn registration_and_credentials() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;

    let body = json!({"alias": "gpu-1", "tags": ["gpu", "eu"], "meta": {"cores": 8}});
    let created = expect(&call(&app, "POST", WORKERS, &Who::Anonymous, Some(body)).await, 201);
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 44, "32 bytes, standard base64: {secret}");
    assert_eq!((created["alias"].clone(), created["tags"].clone()), (json!("gpu-1"), json!(["gpu", "eu"])));
    assert_eq!((created["meta"].clone(), created["paused"].clone()), (json!({"cores": 8}), json!(false)));

    // Both credential styles; the secret is never shown again.
    for who in [Who::Worker(id, secret.clone()), Who::WorkerAuth(id, secret.clone())] {
        let me = expect(&call(&app, "GET", &format!("{WORKERS}/{id}"), &who, None).await, 200);
        assert_eq!(me["alias"], "gpu-1");
        assert!(me.get("secret").is_none(), "{me}");
    }
    // Header names are case-insensitive.
    let lower = app
        .send("GET", &format!("{WORKERS}/{id}"), &[("x-worker-id", &id.to_string()), ("X-SECRET", &secret)], "")
        .await;
    assert_eq!(lower.status, 200, "{}", lower.text());

    // Wrong or incomplete worker credentials are 401, never anonymous.
    let wrong = format!("{secret}x");
    for who in [Who::Worker(id, wrong.clone()), Who::WorkerAuth(id, wrong), Who::Worker(id + 100, secret.clone())] {
        assert_error(&call(&app, "GET", &format!("{WORKERS}/{id}"), &who, None).await, 401, "unauthorized");
        assert_error(&call(&app, "GET", "/api/v1/projects", &who, None).await, 401, "unauthorized");
    }
    let half = app.send("GET", "/api/v1/projects", &[("x-worker-id", &id.to_string())], "").await;
    assert_error(&half, 401, "unauthorized");
    let malformed = app.send("GET", "/api/v1/projects", &[("authorization", "Worker 12")], "").await;
    assert_error(&malformed, 401, "unauthorized");

    // Validation and SPEC §1 errors.
    let reserved = call(&app, "POST", WORKERS, &Who::Anonymous, Some(json!({"alias": "Unassigned"}))).await;
    assert_eq!(assert_error(&reserved, 422, "validation_failed")["errors"][0]["field"], "alias");
    let unknown = call(&app, "POST", WORKERS, &Who::Anonymous, Some(json!({"alias": "x", "secret": "mine"}))).await;
    assert_error(&unknown, 422, "unknown_field");
    assert_error(&raw(&app, "POST", WORKERS, &Who::Anonymous, Some("{".into())).await, 400, "invalid_json");
    let huge = format!("{{\"alias\":\"{}\"}}", "x".repeat((1 << 20) + 1));
    assert_error(&raw(&app, "POST", WORKERS, &Who::Anonymous, Some(huge)).await, 413, "payload_too_large");

    // The collection: signed-in users only, and of those administrators and members of a project the worker
    // asked to join (docs/tasks.md, "Who sees a worker").
    let cpu = worker(&app, "cpu-1").await;
    let own = project(&app, &alice, "alices", "private").await["id"].as_i64().unwrap();
    let ask = format!("/api/v1/projects/{own}/access-requests");
    for who in [Who::Worker(id, secret.clone()), cpu.who()] {
        expect(&call(&app, "POST", &ask, &who, Some(json!({"assign": true}))).await, 201);
    }
    assert_error(&call(&app, "GET", WORKERS, &Who::Anonymous, None).await, 401, "unauthorized");
    assert_error(&call(&app, "GET", WORKERS, &Who::Worker(id, secret.clone()), None).await, 403, "forbidden");
    let page = expect(&call(&app, "GET", &format!("{WORKERS}?alias=gpu-1"), &alice, None).await, 200);
    assert_eq!(page["count"], 1);
    assert_eq!(page["results"][0]["tags"], json!(["gpu", "eu"]));
    assert_eq!(page["results"][0]["meta"], json!({"cores": 8}));
    assert!(page["results"][0].get("secret").is_none());
    let all = expect(&call(&app, "GET", &format!("{WORKERS}?order=-id&field=alias"), &alice, None).await, 200);
    assert_eq!(all["results"], json!([{"alias": "cpu-1"}, {"alias": "gpu-1"}]));
    assert_error(&call(&app, "GET", &format!("{WORKERS}?secret=x"), &alice, None).await, 400, "invalid_query");
    assert_error(&call(&app, "GET", &format!("{WORKERS}/999"), &alice, None).await, 404, "not_found");
    assert_error(&call(&app, "GET", &format!("{WORKERS}/abc"), &alice, None).await, 404, "not_found");
    // Anyone else sees none of them; a worker outside one's scope is answered as a missing one.
    let (_, bob) = user(&app, "bob").await;
    assert_eq!(expect(&call(&app, "GET", WORKERS, &bob, None).await, 200)["count"], 0);
    let hidden = assert_error(&call(&app, "GET", &format!("{WORKERS}/{id}"), &bob, None).await, 404, "not_found");
    let missing = assert_error(&call(&app, "GET", &format!("{WORKERS}/999"), &bob, None).await, 404, "not_found");
    assert_eq!(
        hidden["detail"].as_str().unwrap().replace(&id.to_string(), "N"),
        missing["detail"].as_str().unwrap().replace("999", "N")
    );
    assert_eq!(expect(&call(&app, "GET", &format!("{WORKERS}/stats"), &bob, None).await, 200), json!([]));
    // A worker reads only itself.
    let other = worker(&app, "other").await;
    assert_error(&call(&app, "GET", &format!("{WORKERS}/{id}"), &other.who(), None).await, 403, "forbidden");
}

#[tokio::test]
async fn closed_registration_needs_an_administrator() {
    let app = TestHost::start_with(app_manifest(), |options| {
        options.variables.insert("open_worker_registration".into(), "false".into());
    })
    .await;
    let (_, alice) = user(&app, "alice").await;
    let body = json!({"alias": "w"});
    assert_error(&call(&app, "POST", WORKERS, &Who::Anonymous, Some(body.clone())).await, 401, "unauthorized");
    assert_error(&call(&app, "POST", WORKERS, &alice, Some(body.clone())).await, 403, "forbidden");
    let created = expect(&call(&app, "POST", WORKERS, &admin(&app), Some(body)).await, 201);
    assert!(created["secret"].as_str().is_some_and(|s| s.len() == 44));
    // A worker cannot register more workers.
    let w = Who::Worker(created["id"].as_i64().unwrap(), created["secret"].as_str().unwrap().to_string());
    assert_error(&call(&app, "POST", WORKERS, &w, Some(json!({"alias": "child"}))).await, 403, "forbidden");
}

#[tokio::test]
async fn patch_pause_unpause_and_rotate_secret() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let admin = admin(&app);
    let w = worker(&app, "w1").await;
    let other = worker(&app, "w2").await;
    let path = format!("{WORKERS}/{}", w.id);

    // PATCH: the worker itself or an administrator.
    let renamed = expect(&call(&app, "PATCH", &path, &w.who(), Some(json!({"alias": "renamed"}))).await, 200);
    assert_eq!(renamed["alias"], "renamed");
    assert_error(&call(&app, "PATCH", &path, &other.who(), Some(json!({"alias": "x"}))).await, 403, "forbidden");
    assert_error(&call(&app, "PATCH", &path, &alice, Some(json!({"alias": "x"}))).await, 403, "forbidden");
    assert_error(&call(&app, "PATCH", &path, &Who::Anonymous, Some(json!({"alias": "x"}))).await, 401, "unauthorized");
    let tagged = expect(&call(&app, "PATCH", &path, &admin, Some(json!({"tags": ["a"]}))).await, 200);
    assert_eq!((tagged["alias"].clone(), tagged["tags"].clone()), (json!("renamed"), json!(["a"])));
    assert_error(&call(&app, "PATCH", &path, &admin, Some(json!({"paused": true}))).await, 422, "unknown_field");

    // Alice sees `w` in the statistics once it asked to join her project.
    let own = project(&app, &alice, "alices", "private").await["id"].as_i64().unwrap();
    let ask = format!("/api/v1/projects/{own}/access-requests");
    expect(&call(&app, "POST", &ask, &w.who(), Some(json!({"submit": true}))).await, 201);

    // pause / unpause: administrators only.
    for who in [&w.who(), &other.who(), &alice, &Who::Anonymous] {
        rpc_error(&rpc(&app, &path, who, "pause", json!({})).await, 403, -32600);
    }
    assert_eq!(rpc_ok(&rpc(&app, &path, &admin, "pause", json!({})).await)["paused"], true);
    assert_eq!(rpc_ok(&rpc(&app, &path, &admin, "pause", json!({})).await)["paused"], true, "desired state");
    let stats = expect(&call(&app, "GET", &format!("{WORKERS}/stats"), &alice, None).await, 200);
    let row = stats.as_array().unwrap().iter().find(|row| row["id"] == w.id).cloned().unwrap();
    assert_eq!(row, json!({"id": w.id, "alias": "renamed", "closed_task_count": 0, "paused": true}));
    assert_error(&call(&app, "GET", &format!("{WORKERS}/stats"), &Who::Anonymous, None).await, 401, "unauthorized");
    assert_eq!(rpc_ok(&rpc(&app, &path, &admin, "unpause", json!({})).await)["paused"], false);
    rpc_error(&rpc(&app, &path, &admin, "explode", json!({})).await, 501, -32601);
    rpc_error(&rpc(&app, &path, &admin, "pause", json!({"for": 10})).await, 400, -32602);
    rpc_error(&rpc(&app, &format!("{WORKERS}/999"), &admin, "pause", json!({})).await, 404, -32600);
    rpc_error(&rpc(&app, &format!("{WORKERS}/abc"), &admin, "pause", json!({})).await, 404, -32600);

    // rotate_secret: the worker itself (old secret dead at once) or an administrator.
    rpc_error(&rpc(&app, &path, &other.who(), "rotate_secret", json!({})).await, 403, -32600);
    rpc_error(&rpc(&app, &path, &alice, "rotate_secret", json!({})).await, 403, -32600);
    let rotated = rpc_ok(&rpc(&app, &path, &w.who(), "rotate_secret", json!({})).await);
    let fresh = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(fresh, w.secret);
    assert_eq!(rotated["id"], w.id);
    assert_error(&call(&app, "GET", &path, &w.who(), None).await, 401, "unauthorized");
    let new_who = Who::WorkerAuth(w.id, fresh.clone());
    assert_eq!(expect(&call(&app, "GET", &path, &new_who, None).await, 200)["id"], w.id);
    let by_admin = rpc_ok(&rpc(&app, &path, &admin, "rotate_secret", Value::Null).await);
    assert_error(&call(&app, "GET", &path, &new_who, None).await, 401, "unauthorized");
    let newest = Who::Worker(w.id, by_admin["secret"].as_str().unwrap().to_string());
    assert_eq!(expect(&call(&app, "GET", &path, &newest, None).await, 200)["alias"], "renamed");
}

#[tokio::test]
async fn logs_are_written_by_workers_and_read_within_visible_projects() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, bob) = user(&app, "bob").await;
    let open = project(&app, &alice, "open", "public").await["id"].as_i64().unwrap();
    let closed = project(&app, &alice, "closed", "private").await["id"].as_i64().unwrap();
    let hidden = project(&app, &alice, "hidden", "hidden").await["id"].as_i64().unwrap();
    let w = worker(&app, "logger").await;

    // Writing needs worker credentials (task_tracker's unauthenticated /logs is not copied).
    let entry = json!({"level": "info", "message": "started"});
    assert_error(&call(&app, "POST", LOGS, &Who::Anonymous, Some(entry.clone())).await, 401, "unauthorized");
    assert_error(&call(&app, "POST", LOGS, &alice, Some(entry.clone())).await, 403, "forbidden");
    let wrong = Who::Worker(w.id, "nope".into());
    assert_error(&call(&app, "POST", LOGS, &wrong, Some(entry)).await, 401, "unauthorized");

    let written = json!({"level": "error", "scope": "gpu", "message": "boom", "data": {"code": 7}, "project": open});
    let record = expect(&call(&app, "POST", LOGS, &w.who(), Some(written)).await, 201);
    assert_eq!((record["level"].clone(), record["worker"].clone()), (json!("error"), json!(w.id)));
    assert_eq!((record["data"].clone(), record["project"].clone()), (json!({"code": 7}), json!(open)));
    let info = json!({"level": "info", "message": "fine", "project": open, "timestamp": 1000});
    assert_eq!(expect(&call(&app, "POST", LOGS, &w.who(), Some(info)).await, 201)["timestamp"], 1000);
    let unfiled = json!({"level": "warn", "message": "no project"});
    expect(&call(&app, "POST", LOGS, &Who::WorkerAuth(w.id, w.secret.clone()), Some(unfiled)).await, 201);

    // Projects the worker may not read.
    let private_entry = json!({"level": "info", "message": "x", "project": closed});
    assert_error(&call(&app, "POST", LOGS, &w.who(), Some(private_entry)).await, 403, "forbidden");
    let hidden_entry = json!({"level": "info", "message": "x", "project": hidden});
    let hidden_answer = call(&app, "POST", LOGS, &w.who(), Some(hidden_entry)).await;
    assert_eq!(assert_error(&hidden_answer, 422, "validation_failed")["errors"][0]["field"], "project");
    let missing = json!({"level": "info", "message": "x", "project": 999});
    assert_error(&call(&app, "POST", LOGS, &w.who(), Some(missing)).await, 422, "validation_failed");
    let bad_level = json!({"level": "fatal", "message": "x"});
    assert_error(&call(&app, "POST", LOGS, &w.who(), Some(bad_level)).await, 422, "validation_failed");
    let unknown = json!({"level": "info", "message": "x", "colour": "red"});
    assert_error(&call(&app, "POST", LOGS, &w.who(), Some(unknown)).await, 422, "unknown_field");
    assert_error(&raw(&app, "POST", LOGS, &w.who(), Some("{\"level\"".into())).await, 400, "invalid_json");

    // Once accepted, the worker may file entries under the private project.
    call(&app, "POST", &format!("/api/v1/projects/{closed}/access-requests"), &w.who(), Some(json!({"submit": true})))
        .await;
    rpc_ok(&rpc(&app, &format!("/api/v1/projects/{closed}"), &alice, "accept_request", json!({"worker": w.id})).await);
    let private_entry = json!({"level": "debug", "message": "inside", "project": closed});
    expect(&call(&app, "POST", LOGS, &w.who(), Some(private_entry)).await, 201);

    // Reading: signed-in users, confined to projects they may read; the administrator sees everything.
    assert_error(&call(&app, "GET", LOGS, &Who::Anonymous, None).await, 401, "unauthorized");
    assert_error(&call(&app, "GET", LOGS, &w.who(), None).await, 403, "forbidden");
    let errors = expect(&call(&app, "GET", &format!("{LOGS}?level=error"), &bob, None).await, 200);
    assert_eq!(errors["count"], 1);
    assert_eq!(errors["results"][0]["message"], "boom");
    assert_eq!(errors["results"][0]["data"], json!({"code": 7}));
    let bobs = expect(&call(&app, "GET", &format!("{LOGS}?order=id&field=message"), &bob, None).await, 200);
    assert_eq!(bobs["results"], json!([{"message": "boom"}, {"message": "fine"}]), "no private, no unfiled");
    let alices = expect(&call(&app, "GET", &format!("{LOGS}?order=id&field=message"), &alice, None).await, 200);
    assert_eq!(alices["results"], json!([{"message": "boom"}, {"message": "fine"}, {"message": "inside"}]));
    let everything = expect(&call(&app, "GET", LOGS, &admin(&app), None).await, 200);
    assert_eq!(everything["count"], 4);
    let filtered =
        call(&app, "GET", &format!("{LOGS}?level__in=warn,debug&order=-id&field=level"), &admin(&app), None).await;
    assert_eq!(expect(&filtered, 200)["results"], json!([{"level": "debug"}, {"level": "warn"}]));
    let old = expect(&call(&app, "GET", &format!("{LOGS}?timestamp__lt=2000"), &alice, None).await, 200);
    assert_eq!(old["count"], 1);
    assert_error(&call(&app, "GET", &format!("{LOGS}?level__gt=x&colour=1"), &alice, None).await, 400, "invalid_query");
}
