//! Component `rpc` over HTTP against the real host (SPEC §6): JSON-RPC 2.0 at `/api/v1/rpc` (every method,
//! consistent with the native API both ways, the same refusals as the native routes, batches and
//! notifications, envelope errors) and RhodeCode's legacy envelope at `/_admin/api`, driven the way
//! `kallithea-api` drives it.

mod pw_support;

use conveyor_tests::{TestHost, TestResponse};
use pw_support::*;
use serde_json::{Value, json};

const RPC: &str = "/api/v1/rpc";
const LEGACY: &str = "/_admin/api";

/// One JSON-RPC call to `/api/v1/rpc` as `who`.
async fn rpc_call(app: &TestHost, who: &Who, method: &str, params: Value) -> TestResponse {
    rpc(app, RPC, who, method, params).await
}

/// A successful call's result.
async fn ok(app: &TestHost, who: &Who, method: &str, params: Value) -> Value {
    rpc_ok(&rpc_call(app, who, method, params).await)
}

/// A refused call: its HTTP status and `error.data.code`.
async fn refused(app: &TestHost, who: &Who, method: &str, params: Value) -> (u16, String) {
    let response = rpc_call(app, who, method, params).await;
    let body = response.json();
    assert!(body.get("result").is_none(), "{method} must be refused: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    (response.status, body["error"]["data"]["code"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn every_method_agrees_with_the_native_api_both_ways() {
    let app = TestHost::start().await;
    let root = admin(&app);

    // Users: created over RPC, read natively, and the other way round.
    let created = ok(&app, &root, "create_user", json!({"username": "rpcuser", "email": "rpc@example.org"})).await;
    let native = expect(&call(&app, "GET", "/api/v1/users/rpcuser", &root, None).await, 200);
    assert_eq!(created, native);
    let (bob_id, bob) = user(&app, "bob").await;
    let got = ok(&app, &root, "get_user", json!({"user": bob_id})).await;
    assert_eq!(got, expect(&call(&app, "GET", "/api/v1/users/bob", &root, None).await, 200));
    let updated = ok(&app, &root, "update_user", json!({"user": "rpcuser", "first_name": "Arp"})).await;
    assert_eq!(updated["first_name"], "Arp");
    assert_eq!(expect(&call(&app, "GET", "/api/v1/users/rpcuser", &root, None).await, 200)["first_name"], "Arp");
    let users = ok(&app, &root, "get_users", json!({"query": {"username__in": "bob,rpcuser", "order": "-id"}})).await;
    assert_eq!(
        (users["count"].clone(), names(&users, "username")),
        (json!(2), vec!["bob".to_string(), "rpcuser".into()])
    );

    // Groups and membership.
    let group = ok(&app, &root, "create_users_group", json!({"name": "ops"})).await;
    let membership = ok(&app, &root, "add_user_to_users_group", json!({"group": "ops", "user": "bob"})).await;
    assert_eq!(membership["added"], true);
    let again = ok(&app, &root, "add_user_to_users_group", json!({"group": group["id"], "user": bob_id})).await;
    assert_eq!(again["added"], false, "already a member");
    let native_group = expect(&call(&app, "GET", "/api/v1/groups/ops", &root, None).await, 200);
    assert_eq!(native_group["members"], json!([{"id": bob_id, "username": "bob"}]));
    assert_eq!(ok(&app, &bob, "get_users_group", json!({"group": "ops"})).await, native_group);
    let renamed = ok(&app, &root, "update_users_group", json!({"group": "ops", "description": "on call"})).await;
    assert_eq!(renamed["description"], "on call");
    assert_eq!(ok(&app, &bob, "get_users_groups", json!({})).await["count"], 1);

    // Projects and grants: a grant made over RPC is what the native grants show, and back.
    let (_, alice) = user(&app, "alice").await;
    let project = ok(&app, &alice, "create_project", json!({"name": "render", "visibility": "private"})).await;
    assert_eq!(project, expect(&call(&app, "GET", "/api/v1/projects/render", &alice, None).await, 200));
    let grant =
        ok(&app, &alice, "grant_user_permission", json!({"project": "render", "user": "bob", "perm": "project.read"}))
            .await;
    assert_eq!(grant["role"], 1);
    let grants = expect(&call(&app, "GET", "/api/v1/projects/render/grants", &alice, None).await, 200);
    assert!(
        grants["users"]
            .as_array()
            .unwrap()
            .contains(&json!({"user": bob_id, "username": "bob", "role": 1, "preset": "read"}))
    );
    ok(
        &app,
        &alice,
        "grant_users_group_permission",
        json!({"project": "render", "group": "ops", "perm": "repository.write"}),
    )
    .await;
    let grants = expect(&call(&app, "GET", "/api/v1/projects/render/grants", &alice, None).await, 200);
    assert_eq!(grants["groups"][0]["preset"], "write");
    let bobs = ok(&app, &bob, "get_projects", json!({})).await;
    assert_eq!(names(&bobs, "name"), ["render"], "bob reads the private project through his grant");
    assert_eq!(ok(&app, &bob, "get_project", json!({"project": project["id"]})).await["name"], "render");
    ok(&app, &alice, "revoke_users_group_permission", json!({"project": "render", "group": "ops"})).await;
    ok(&app, &alice, "revoke_user_permission", json!({"project": "render", "user": "bob"})).await;
    let grants = expect(&call(&app, "GET", "/api/v1/projects/render/grants", &alice, None).await, 200);
    assert_eq!((grants["users"].as_array().unwrap().len(), grants["groups"].clone()), (1, json!([])), "{grants}");
    let native_put = json!({"perm": "write"});
    expect(&call(&app, "PUT", "/api/v1/projects/render/grants/users/bob", &alice, Some(native_put)).await, 200);
    assert_eq!(ok(&app, &bob, "get_project", json!({"project": "render"})).await["name"], "render");
    let patched = ok(&app, &alice, "update_project", json!({"project": "render", "motd": "hi", "priority": 3})).await;
    assert_eq!(patched, expect(&call(&app, "GET", "/api/v1/projects/render", &alice, None).await, 200));
    assert_eq!((patched["motd"].clone(), patched["priority"].clone()), (json!("hi"), json!(3)));

    // Tasks.
    let task = ok(&app, &bob, "submit_task", json!({"project": "render", "recipe": "frame 1", "priority": 2})).await;
    let path = format!("/api/v1/tasks/{}", task["id"]);
    assert_eq!(task, expect(&call(&app, "GET", &path, &bob, None).await, 200));
    assert_eq!(ok(&app, &alice, "get_task", json!({"task": task["id"]})).await, task);
    let cancelled = ok(&app, &bob, "cancel_task", json!({"task": task["id"]})).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(expect(&call(&app, "GET", &path, &bob, None).await, 200)["status"], "cancelled");

    // Removals.
    assert_eq!(
        ok(&app, &root, "remove_user_from_users_group", json!({"group": "ops", "user": "bob"})).await,
        Value::Null
    );
    assert_eq!(expect(&call(&app, "GET", "/api/v1/groups/ops", &root, None).await, 200)["members"], json!([]));
    ok(&app, &root, "delete_users_group", json!({"group": "ops"})).await;
    assert_error(&call(&app, "GET", "/api/v1/groups/ops", &root, None).await, 404, "not_found");
    ok(&app, &alice, "delete_project", json!({"project": "render"})).await;
    assert_error(&call(&app, "GET", "/api/v1/projects/render", &alice, None).await, 404, "not_found");
    ok(&app, &root, "delete_user", json!({"user": "rpcuser"})).await;
    assert_error(&call(&app, "GET", "/api/v1/users/rpcuser", &root, None).await, 404, "not_found");
}

#[tokio::test]
async fn methods_refuse_exactly_what_the_native_routes_refuse_and_change_nothing() {
    let app = TestHost::start().await;
    let root = admin(&app);
    let (_, alice) = user(&app, "alice").await;
    let (_, mallory) = user(&app, "mallory").await;
    let drone_worker = worker(&app, "drone").await;
    let drone = drone_worker.who();
    ok(&app, &alice, "create_project", json!({"name": "private-one", "visibility": "private"})).await;
    ok(&app, &alice, "create_project", json!({"name": "hidden-one", "visibility": "hidden"})).await;
    let task = ok(&app, &alice, "submit_task", json!({"project": "private-one", "recipe": "secret work"})).await;

    // An unrelated user: private → 403, hidden → 404, and no writes anywhere.
    let cases = [
        ("get_project", json!({"project": "private-one"}), 403),
        ("get_project", json!({"project": "hidden-one"}), 404),
        ("update_project", json!({"project": "private-one", "motd": "owned"}), 403),
        ("delete_project", json!({"project": "hidden-one"}), 404),
        ("grant_user_permission", json!({"project": "private-one", "user": "mallory", "perm": "project.admin"}), 403),
        ("revoke_user_permission", json!({"project": "private-one", "user": "alice"}), 403),
        ("submit_task", json!({"project": "private-one", "recipe": "x"}), 403),
        ("get_task", json!({"task": task["id"]}), 403),
        ("cancel_task", json!({"task": task["id"]}), 403),
        ("get_users", json!({}), 403),
        ("create_user", json!({"username": "evil", "email": "evil@example.org"}), 403),
        ("create_users_group", json!({"name": "evil"}), 403),
        ("delete_user", json!({"user": "alice"}), 403),
        ("update_user", json!({"user": "alice", "first_name": "Pwned"}), 403),
    ];
    for (method, params, status) in &cases {
        assert_eq!(refused(&app, &mallory, method, params.clone()).await.0, *status, "mallory: {method}");
    }
    // A worker without any grant: the same answers as on the native routes.
    for (method, params, status) in [
        ("get_project", json!({"project": "private-one"}), 403),
        ("get_project", json!({"project": "hidden-one"}), 404),
        ("submit_task", json!({"project": "private-one", "recipe": "x"}), 403),
        ("get_user", json!({"user": "alice"}), 403),
        ("create_project", json!({"name": "by-a-worker"}), 403),
        ("cancel_task", json!({"task": task["id"]}), 403),
    ] {
        assert_eq!(refused(&app, &drone, method, params.clone()).await.0, status, "worker: {method}");
    }
    // Anonymous callers: refused as a JSON-RPC 403 (SPEC §1.2), hidden things stay 404.
    assert_eq!(refused(&app, &Who::Anonymous, "get_users", json!({})).await, (403, "unauthorized".into()));
    assert_eq!(refused(&app, &Who::Anonymous, "get_project", json!({"project": "hidden-one"})).await.0, 404);

    // Nothing changed.
    let project = expect(&call(&app, "GET", "/api/v1/projects/private-one", &alice, None).await, 200);
    assert_eq!(project["motd"], "");
    let grants = expect(&call(&app, "GET", "/api/v1/projects/private-one/grants", &alice, None).await, 200);
    assert_eq!(grants["users"].as_array().unwrap().len(), 1, "only the creator: {grants}");
    let tasks = expect(&call(&app, "GET", "/api/v1/tasks", &alice, None).await, 200);
    assert_eq!(tasks["count"], 1);
    assert_eq!(tasks["results"][0]["status"], "new");
    let users = expect(&call(&app, "GET", "/api/v1/users", &root, None).await, 200);
    assert_eq!(users["count"], 2);
    assert_eq!(expect(&call(&app, "GET", "/api/v1/groups", &root, None).await, 200)["count"], 0);

    // Wrong credentials are one JSON-RPC error with HTTP 401 and `WWW-Authenticate`.
    for who in [Who::Bearer("not-a-token".into()), Who::Worker(drone_worker.id, "wrong".into())] {
        let response = rpc_call(&app, &who, "get_projects", json!({})).await;
        assert_eq!(response.status, 401, "{}", response.text());
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
        assert_eq!(response.json()["error"]["data"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn the_endpoint_speaks_json_rpc_2_strictly() {
    let app = TestHost::start().await;
    let root = admin(&app);
    let token = bearer(&root);
    let auth = format!("Bearer {token}");
    let post = |body: String, content_type: &'static str| {
        let (app, auth) = (&app, auth.clone());
        async move { app.send("POST", RPC, &[("content-type", content_type), ("authorization", &auth)], body).await }
    };

    let malformed = post("{\"jsonrpc\": ".into(), "application/json").await;
    assert_eq!((malformed.status, malformed.json()["error"]["code"].clone()), (400, json!(-32700)));
    let plain = post(json!({"jsonrpc": "2.0", "method": "get_users", "id": 1}).to_string(), "text/plain").await;
    assert_error(&plain, 415, "unsupported_media_type");
    let huge = format!(
        r#"{{"jsonrpc":"2.0","method":"create_users_group","params":{{"name":"{}"}},"id":1}}"#,
        "x".repeat(1 << 20)
    );
    assert_error(&post(huge, "application/json").await, 413, "payload_too_large");
    let wrong_method = app.send("GET", RPC, &[("authorization", &auth)], "").await;
    assert_error(&wrong_method, 405, "method_not_allowed");

    let batch = json!([
        {"jsonrpc": "2.0", "method": "create_users_group", "params": {"name": "a"}, "id": "first"},
        {"jsonrpc": "2.0", "method": "create_users_group", "params": {"name": "b"}},
        {"jsonrpc": "2.0", "method": "create_users_group", "params": ["positional"], "id": 3},
        {"jsonrpc": "2.0", "method": "nope", "id": 4},
    ]);
    let answered = post(batch.to_string(), "application/json").await;
    assert_eq!(answered.status, 200);
    let answers = answered.json();
    let ids: Vec<&Value> = answers.as_array().unwrap().iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&json!("first"), &json!(3), &json!(4)]);
    assert_eq!(
        (answers[1]["error"]["code"].clone(), answers[2]["error"]["code"].clone()),
        (json!(-32602), json!(-32601))
    );
    let groups = expect(&call(&app, "GET", "/api/v1/groups", &root, None).await, 200);
    assert_eq!(names(&groups, "name"), ["a", "b"], "the notification ran; the refused calls did not");

    let notification = json!({"jsonrpc": "2.0", "method": "create_users_group", "params": {"name": "c"}});
    let silent = post(notification.to_string(), "application/json").await;
    assert_eq!((silent.status, silent.body.len()), (204, 0));
    let too_many: Vec<Value> = (0..101).map(|i| json!({"jsonrpc": "2.0", "method": "get_users", "id": i})).collect();
    let refused_batch = post(json!(too_many).to_string(), "application/json").await;
    assert_eq!((refused_batch.status, refused_batch.json()["error"]["code"].clone()), (400, json!(-32600)));
    assert_eq!(post("[]".into(), "application/json").await.json()["error"]["code"], -32600);

    let discover = ok(&app, &Who::Anonymous, "rpc.discover", json!({})).await;
    assert_eq!(discover["methods"].as_array().unwrap().len(), 24);
    assert!(discover["servers"][0]["url"].as_str().unwrap().ends_with("/api/v1/rpc"));
    let slash = app
        .send(
            "POST",
            "/api/v1/rpc/",
            &[("content-type", "application/json")],
            r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#,
        )
        .await;
    assert_eq!(slash.status, 200, "a trailing slash is the same route");
}

#[tokio::test]
async fn a_change_made_with_the_session_cookie_alone_must_come_from_this_site() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let cookie = format!("conveyor_session={}", bearer(&alice));
    let create = |name: &str| json!({"jsonrpc": "2.0", "method": "create_project", "params": {"name": name}, "id": 1});
    let send = |path: &'static str, body: Value, extra: Vec<(&'static str, String)>| {
        let (app, cookie) = (&app, cookie.clone());
        async move {
            let mut headers = vec![("content-type", "application/json".to_string()), ("cookie", cookie)];
            headers.extend(extra);
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.send("POST", path, &headers, body.to_string()).await
        }
    };
    let cross_site = [
        vec![("sec-fetch-site", "cross-site".to_string())],
        vec![("origin", "http://evil.example".to_string())],
        vec![("referer", "http://evil.example/page".to_string())],
    ];
    for headers in cross_site.clone() {
        let refused = send(RPC, create("csrf"), headers.clone()).await;
        assert_eq!(refused.status, 403, "{headers:?}: {}", refused.text());
        assert_eq!(refused.json()["error"]["data"]["code"], "forbidden");
        let native = send("/api/v1/projects", json!({"name": "csrf"}), headers.clone()).await;
        assert_error(&native, 403, "forbidden");
    }
    assert_eq!(
        expect(&call(&app, "GET", "/api/v1/projects", &alice, None).await, 200)["count"],
        0,
        "nothing was created"
    );

    // The same site, and clients that are not browsers, go through; so does a token sent from anywhere.
    let host = app.url("").trim_start_matches("http://").to_string();
    rpc_ok(&send(RPC, create("same-origin"), vec![("sec-fetch-site", "same-origin".into())]).await);
    rpc_ok(&send(RPC, create("same-host"), vec![("origin", format!("http://{host}"))]).await);
    rpc_ok(&send(RPC, create("script"), vec![]).await);
    let token = app
        .send(
            "POST",
            "/api/v1/projects",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", bearer(&alice))),
                ("sec-fetch-site", "cross-site"),
            ],
            json!({"name": "token"}).to_string(),
        )
        .await;
    expect(&token, 201);
    // Reading with the cookie from another site is not a change.
    let read = app.send("GET", "/api/v1/projects", &[("cookie", &cookie), ("sec-fetch-site", "cross-site")], "").await;
    assert_eq!(expect(&read, 200)["count"], 4);
}

// ----- RhodeCode's envelope -----

/// Posts a legacy call exactly as `kallithea-api` does (`kallithea/bin/base.py`: urllib, `text/plain`, a
/// random integer id); every answer must be HTTP 200 JSON echoing the id. Returns `(result, error)`.
async fn legacy(app: &TestHost, api_key: &str, method: &str, args: Value) -> (Value, Value) {
    legacy_body(app, &json!({"id": 4711, "api_key": api_key, "method": method, "args": args}).to_string(), json!(4711))
        .await
}

async fn legacy_body(app: &TestHost, body: &str, id: Value) -> (Value, Value) {
    let headers = [
        ("Content-Type", "text/plain"),
        ("User-Agent", "Python-urllib/3.11"),
        ("Accept-Encoding", "identity"),
        ("Connection", "close"),
    ];
    let response = app.send("POST", LEGACY, &headers, body.to_string()).await;
    assert_clean(&response);
    assert_eq!(response.status, 200, "always 200: {}", response.text());
    let answer = response.json();
    assert_eq!(answer.as_object().unwrap().len(), 3, "id, result, error: {answer}");
    assert_eq!(answer["id"], id, "kallithea-api refuses an answer whose id differs: {answer}");
    assert!(answer["result"].is_null() || answer["error"].is_null(), "{answer}");
    (answer["result"].clone(), answer["error"].clone())
}

async fn legacy_ok(app: &TestHost, api_key: &str, method: &str, args: Value) -> Value {
    let (result, error) = legacy(app, api_key, method, args).await;
    assert_eq!(error, Value::Null, "{method}");
    result
}

async fn legacy_error(app: &TestHost, api_key: &str, method: &str, args: Value) -> String {
    let (result, error) = legacy(app, api_key, method, args).await;
    assert_eq!(result, Value::Null, "{method}: {error}");
    error.as_str().unwrap_or_else(|| panic!("{method}: an error string, not {error}")).to_string()
}

/// A named API token for `who` (the legacy `api_key`).
async fn api_key(app: &TestHost, who: &Who) -> String {
    let created = expect(&call(app, "POST", "/api/v1/tokens", who, Some(json!({"name": "scripts"}))).await, 201);
    created["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn rhodecode_scripts_manage_users_groups_repos_and_permissions() {
    let app = TestHost::start().await;
    let root = admin(&app);
    let admin_key = bearer(&root);

    // Every value the command line sends is a string (`active:true`, `userid:5`).
    let created = legacy_ok(&app, &admin_key, "create_user", json!({"username": "carol", "email": "carol@example.org", "password": "long enough", "firstname": "Carol", "active": "true", "admin": "false"})).await;
    assert_eq!(created["msg"], "created new user `carol`");
    let carol_id = created["user"]["user_id"].as_i64().unwrap();
    assert_eq!(
        (created["user"]["username"].clone(), created["user"]["firstname"].clone()),
        (json!("carol"), json!("Carol"))
    );
    let native = expect(&call(&app, "GET", "/api/v1/users/carol", &root, None).await, 200);
    assert_eq!(
        (native["id"].as_i64(), native["active"].clone(), native["admin"].clone()),
        (Some(carol_id), json!(true), json!(false))
    );
    let by_id = legacy_ok(&app, &admin_key, "get_user", json!({"userid": carol_id.to_string()})).await;
    assert_eq!(by_id["email"], "carol@example.org");
    let updated = legacy_ok(&app, &admin_key, "update_user", json!({"userid": "carol", "lastname": "Jones"})).await;
    assert_eq!(updated["msg"], format!("updated user ID:{carol_id} carol"));
    assert!(
        legacy_ok(&app, &admin_key, "get_users", json!({}))
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["lastname"] == "Jones")
    );

    // The user's own key: get_user without args is the caller.
    let login = json!({"username": "carol", "password": "long enough"});
    let session = expect(&call(&app, "POST", "/api/v1/auth/login", &Who::Anonymous, Some(login)).await, 200);
    let carol = Who::Bearer(session["token"].as_str().unwrap().to_string());
    let carol_key = api_key(&app, &carol).await;
    assert_eq!(legacy_ok(&app, &carol_key, "get_user", json!({})).await["username"], "carol");

    // Groups, by RhodeCode's and by Kallithea's names.
    let group =
        legacy_ok(&app, &admin_key, "create_users_group", json!({"group_name": "devs", "active": "true"})).await;
    assert_eq!(group["msg"], "created new user group `devs`");
    assert_eq!(group["users_group"]["group_name"], "devs");
    let added =
        legacy_ok(&app, &admin_key, "add_user_to_users_group", json!({"usersgroupid": "devs", "userid": "carol"}))
            .await;
    assert_eq!(added, json!({"success": true, "msg": "added member `carol` to user group `devs`"}));
    let again =
        legacy_ok(&app, &admin_key, "add_user_to_user_group", json!({"usergroupid": "devs", "userid": carol_id})).await;
    assert_eq!(again, json!({"success": false, "msg": "User is already in that group"}));
    let devs = legacy_ok(&app, &admin_key, "get_user_group", json!({"usergroupid": "devs"})).await;
    assert_eq!(devs["members"][0]["username"], "carol");
    assert_eq!(expect(&call(&app, "GET", "/api/v1/groups/devs", &root, None).await, 200)["members"][0]["id"], carol_id);

    // Repositories are projects; carol creates one (and so holds admin on it).
    let repo = legacy_ok(
        &app,
        &carol_key,
        "create_repo",
        json!({"repo_name": "pipeline", "description": "CI", "private": "true", "repo_type": "hg"}),
    )
    .await;
    assert_eq!(
        (repo["msg"].clone(), repo["success"].clone()),
        (json!("Created new repository `pipeline`"), json!(true))
    );
    assert_eq!((repo["repo"]["repo_name"].clone(), repo["repo"]["private"].clone()), (json!("pipeline"), json!(true)));
    let native = expect(&call(&app, "GET", "/api/v1/projects/pipeline", &carol, None).await, 200);
    assert_eq!((native["visibility"].clone(), native["description"].clone()), (json!("private"), json!("CI")));
    let (_, dave) = user(&app, "dave").await;
    let granted = legacy_ok(
        &app,
        &carol_key,
        "grant_user_permission",
        json!({"repoid": "pipeline", "userid": "dave", "perm": "repository.write"}),
    )
    .await;
    assert_eq!(
        granted,
        json!({"msg": "Granted perm: `repository.write` for user: `dave` in repo: `pipeline`", "success": true})
    );
    let grants = expect(&call(&app, "GET", "/api/v1/projects/pipeline/grants", &carol, None).await, 200);
    assert!(
        grants["users"].as_array().unwrap().iter().any(|g| g["username"] == "dave" && g["preset"] == "write"),
        "{grants}"
    );
    legacy_ok(
        &app,
        &carol_key,
        "grant_users_group_permission",
        json!({"repoid": native["id"], "usersgroupid": "devs", "perm": "repository.read"}),
    )
    .await;
    let got = legacy_ok(&app, &carol_key, "get_repo", json!({"repoid": "pipeline"})).await;
    let members = got["members"].as_array().unwrap();
    assert!(
        members.iter().any(|m| m["name"] == "dave" && m["type"] == "user" && m["permission"] == "repository.write"),
        "{got}"
    );
    assert!(
        members
            .iter()
            .any(|m| m["name"] == "devs" && m["type"] == "users_group" && m["permission"] == "repository.read"),
        "{got}"
    );
    let dave_key = api_key(&app, &dave).await;
    assert_eq!(legacy_ok(&app, &dave_key, "get_repos", json!({})).await[0]["repo_name"], "pipeline");
    let revoked =
        legacy_ok(&app, &carol_key, "revoke_user_permission", json!({"repoid": "pipeline", "userid": "dave"})).await;
    assert_eq!(revoked["msg"], "Revoked perm for user: `dave` in repo: `pipeline`");
    legacy_ok(&app, &carol_key, "revoke_user_group_permission", json!({"repoid": "pipeline", "usergroupid": "devs"}))
        .await;
    assert_eq!(legacy_ok(&app, &dave_key, "get_repos", json!({})).await, json!([]), "dave lost his read access");
    let updated = legacy_ok(
        &app,
        &carol_key,
        "update_repo",
        json!({"repoid": "pipeline", "description": "CD", "private": "false"}),
    )
    .await;
    assert_eq!(updated["repository"]["private"], false);
    assert_eq!(expect(&call(&app, "GET", "/api/v1/projects/pipeline", &dave, None).await, 200)["description"], "CD");

    // Removals.
    let removed =
        legacy_ok(&app, &admin_key, "remove_user_from_users_group", json!({"usersgroupid": "devs", "userid": "carol"}))
            .await;
    assert_eq!(removed["success"], true);
    let not_there =
        legacy_ok(&app, &admin_key, "remove_user_from_users_group", json!({"usersgroupid": "devs", "userid": "carol"}))
            .await;
    assert_eq!(not_there, json!({"success": false, "msg": "User wasn't in group"}));
    let deleted = legacy_ok(&app, &carol_key, "delete_repo", json!({"repoid": "pipeline"})).await;
    assert_eq!(deleted, json!({"msg": "Deleted repository `pipeline`", "success": true}));
    assert_error(&call(&app, "GET", "/api/v1/projects/pipeline", &carol, None).await, 404, "not_found");
    assert_eq!(
        legacy_ok(&app, &admin_key, "get_repo", json!({"repoid": "pipeline"})).await,
        Value::Null,
        "missing → null"
    );
    let gone = legacy_ok(&app, &admin_key, "delete_users_group", json!({"usersgroupid": "devs"})).await;
    assert_eq!(gone["users_group"], Value::Null);
    let deleted_user = legacy_ok(&app, &admin_key, "delete_user", json!({"userid": "dave"})).await;
    assert!(deleted_user["msg"].as_str().unwrap().starts_with("deleted user ID:"));
    assert_eq!(legacy_ok(&app, &admin_key, "get_user", json!({"userid": "dave"})).await, Value::Null);
}

#[tokio::test]
async fn rhodecode_errors_are_its_strings_in_a_200_envelope_and_change_nothing() {
    let app = TestHost::start().await;
    let root = admin(&app);
    let admin_key = bearer(&root);
    let (_, eve) = user(&app, "eve").await;
    let eve_key = api_key(&app, &eve).await;
    let (_, owner) = user(&app, "owner").await;
    expect(
        &call(&app, "POST", "/api/v1/projects", &owner, Some(json!({"name": "theirs", "visibility": "hidden"}))).await,
        201,
    );

    assert_eq!(legacy_error(&app, "wrong-key", "get_users", json!({})).await, "Invalid API KEY");
    assert_eq!(legacy_error(&app, &admin_key, "frobnicate", json!({})).await, "No such method: frobnicate");
    assert_eq!(legacy_error(&app, &admin_key, "_private", json!({})).await, "Method not allowed");
    assert_eq!(
        legacy_error(&app, &admin_key, "get_repo", json!({})).await,
        "Missing non optional `repoid` arg in JSON DATA"
    );
    assert_eq!(
        legacy_error(&app, &admin_key, "get_repos", json!({"bogus": 1})).await,
        "Unknown `bogus` arg in JSON DATA"
    );
    let wrong_type = legacy_error(
        &app,
        &admin_key,
        "create_user",
        json!({"username": "x1", "email": "x1@example.org", "active": "maybe"}),
    )
    .await;
    assert!(wrong_type.contains("`active` must be a boolean"), "{wrong_type}");
    assert!(legacy_error(&app, &admin_key, "pull", json!({"repoid": "theirs"})).await.contains("not supported"));
    assert_eq!(
        legacy_error(&app, &admin_key, "create_users_group", json!({"group_name": "g", "owner": "eve"})).await,
        "`owner` is not supported: Conveyor's user groups have no owner"
    );
    legacy_ok(&app, &admin_key, "create_users_group", json!({"group_name": "g"})).await;
    assert_eq!(
        legacy_error(&app, &admin_key, "create_users_group", json!({"group_name": "g"})).await,
        "user group `g` already exist"
    );
    assert_eq!(
        legacy_error(&app, &admin_key, "create_user", json!({"username": "eve", "email": "new@example.org"})).await,
        "user `eve` already exist"
    );
    assert_eq!(
        legacy_error(&app, &admin_key, "create_user", json!({"username": "eve2", "email": "eve@example.org"})).await,
        "email `eve@example.org` already exist"
    );
    assert_eq!(
        legacy_error(&app, &admin_key, "update_user", json!({"userid": "ghost", "firstname": "G"})).await,
        "user `ghost` does not exist"
    );
    assert_eq!(
        legacy_error(
            &app,
            &admin_key,
            "grant_user_permission",
            json!({"repoid": "theirs", "userid": "eve", "perm": "repository.owner"})
        )
        .await,
        "permission `repository.owner` does not exist"
    );
    assert_eq!(
        legacy_error(
            &app,
            &admin_key,
            "grant_user_permission",
            json!({"repoid": "theirs", "userid": "ghost", "perm": "repository.read"})
        )
        .await,
        "user `ghost` does not exist"
    );

    // A user without rights: refused, and nothing changes.
    for (method, args) in [
        ("create_user", json!({"username": "sneaky", "email": "s@example.org"})),
        ("get_users", json!({})),
        ("delete_users_group", json!({"usersgroupid": "g"})),
        ("add_user_to_users_group", json!({"usersgroupid": "g", "userid": "eve"})),
        ("create_repo", json!({"repo_name": "mine", "owner": "owner"})),
    ] {
        let error = legacy_error(&app, &eve_key, method, args).await;
        assert!(!error.is_empty(), "{method}");
    }
    assert_eq!(
        legacy_error(
            &app,
            &eve_key,
            "grant_user_permission",
            json!({"repoid": "theirs", "userid": "eve", "perm": "repository.admin"})
        )
        .await,
        "repository `theirs` does not exist",
        "hidden from eve"
    );
    assert_eq!(
        legacy_ok(&app, &eve_key, "get_repo", json!({"repoid": "theirs"})).await,
        Value::Null,
        "hidden = missing"
    );
    assert_eq!(legacy_ok(&app, &eve_key, "get_repos", json!({})).await, json!([]));
    let users = expect(&call(&app, "GET", "/api/v1/users", &root, None).await, 200);
    assert_eq!(users["count"], 2, "no user was created: {users}");
    let group = expect(&call(&app, "GET", "/api/v1/groups/g", &root, None).await, 200);
    assert_eq!(group["members"], json!([]));
    assert_eq!(expect(&call(&app, "GET", "/api/v1/projects", &root, None).await, 200)["count"], 1);

    // The envelope itself. The id is echoed once it has been read (api_key is read first, as RhodeCode does).
    let no_key = legacy_body(&app, r#"{"id": 9, "method": "get_users", "args": {}}"#, Value::Null).await;
    assert_eq!(no_key.1, "Incorrect JSON query missing 'api_key'");
    let no_args =
        legacy_body(&app, &format!(r#"{{"id": 9, "api_key": "{admin_key}", "method": "get_users"}}"#), json!(9)).await;
    assert_eq!(no_args.1, "Incorrect JSON query missing 'args'");
    let null_args = legacy_body(
        &app,
        &format!(r#"{{"id": 9, "api_key": "{admin_key}", "method": "get_users", "args": null}}"#),
        json!(9),
    )
    .await;
    assert!(null_args.0.is_array(), "args that are not an object are no arguments: {null_args:?}");
    let string_id = legacy_body(
        &app,
        &format!(r#"{{"id": "abc", "api_key": "{admin_key}", "method": "get_users", "args": {{}}}}"#),
        json!("abc"),
    )
    .await;
    assert!(string_id.0.is_array());
    let malformed = legacy_body(&app, "{\"id\": 1, ", Value::Null).await;
    assert!(malformed.1.as_str().unwrap().starts_with("JSON parse error ERR:"), "{malformed:?}");
    assert_eq!(legacy_body(&app, "[1, 2]", Value::Null).await.1, "JSON query must be an object");
    let huge = format!(
        r#"{{"id": 1, "api_key": "{admin_key}", "method": "create_users_group", "args": {{"group_name": "{}"}}}}"#,
        "x".repeat(1 << 20)
    );
    assert!(legacy_body(&app, &huge, Value::Null).await.1.as_str().unwrap().contains("too large"));
    assert_eq!(expect(&call(&app, "GET", "/api/v1/groups", &root, None).await, 200)["count"], 1, "nothing was created");
}

// ----- Kallithea's own command-line client -----

/// Kallithea's API client, as published on PyPI (`Kallithea==0.7.0`): `kallithea/bin/base.py` and
/// `kallithea/bin/kallithea_api.py`, byte for byte, with `kallithea/lib/ext_json.py` which they import.
/// Kallithea 0.7 itself does not install on Python 3.11 and its package imports its whole server, so the
/// package around those files is two shims: an empty `kallithea/__init__.py`, and `kallithea/lib/utils2.py`
/// re-exporting the one function the client takes from it (`ascii_bytes`, as Kallithea defines it). The
/// sdist is downloaded once, with a virtual environment's pip, into the test target directory.
fn kallithea_client() -> std::path::PathBuf {
    use std::process::Command;
    const VERSION: &str = "0.7.0";
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kallithea-{VERSION}"));
    let client = root.join("client");
    if client.join("kallithea/bin/kallithea_api.py").exists() {
        return client;
    }
    let run = |command: &mut Command| {
        let output = command.output().unwrap_or_else(|error| panic!("{command:?}: {error}"));
        assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    let staging = root.join(format!("staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).unwrap();
    run(Command::new("python3").args(["-m", "venv"]).arg(staging.join("venv")));
    run(Command::new(staging.join("venv/bin/pip"))
        .args(["download", "--quiet", "--no-deps", "--no-binary", ":all:", &format!("kallithea=={VERSION}"), "-d"])
        .arg(staging.join("dl")));
    let sdist = staging.join(format!("dl/Kallithea-{VERSION}.tar.gz"));
    let files = ["bin/__init__.py", "bin/base.py", "bin/kallithea_api.py", "lib/ext_json.py"]
        .map(|file| format!("Kallithea-{VERSION}/kallithea/{file}"));
    run(Command::new("tar").arg("-xzf").arg(&sdist).arg("-C").arg(&staging).args(&files));
    let package = staging.join(format!("Kallithea-{VERSION}/kallithea"));
    std::fs::write(package.join("__init__.py"), "").unwrap();
    std::fs::write(package.join("lib/__init__.py"), "").unwrap();
    std::fs::write(package.join("lib/utils2.py"), "def ascii_bytes(s):\n    return s.encode('ascii')\n").unwrap();
    let built = staging.join("client");
    std::fs::create_dir_all(&built).unwrap();
    std::fs::rename(&package, built.join("kallithea")).unwrap();
    // Another test binary may have finished first; either copy is the same.
    if std::fs::rename(&built, &client).is_err() {
        assert!(client.join("kallithea/bin/kallithea_api.py").exists());
    }
    let _ = std::fs::remove_dir_all(&staging);
    client
}

/// Runs `kallithea-api --format=json METHOD key:val ...` against the host; its printed JSON (the result,
/// or the error string).
fn kallithea_api(client: &std::path::Path, apihost: &str, apikey: &str, call: &[&str]) -> Value {
    let home = client.parent().unwrap().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let output = std::process::Command::new("python3")
        .args(["-m", "kallithea.bin.kallithea_api", "--format=json"])
        .arg(format!("--apikey={apikey}"))
        .arg(format!("--apihost={apihost}"))
        .args(call)
        .env("PYTHONPATH", client)
        .env("HOME", home)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{call:?}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{call:?} printed {stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn kallithea_api_itself_manages_users_groups_repos_and_permissions() {
    let app = TestHost::start().await;
    let root = admin(&app);
    let (apihost, key) = (app.url(""), bearer(&root));
    let run = move |call: Vec<&'static str>| {
        let (apihost, key) = (apihost.clone(), key.clone());
        tokio::task::spawn_blocking(move || kallithea_api(&kallithea_client(), &apihost, &key, &call))
    };

    let created = run(vec![
        "create_user",
        "username:frank",
        "email:frank@example.org",
        "firstname:Frank",
        "active:true",
        "admin:false",
    ])
    .await
    .unwrap();
    assert_eq!(created["msg"], "created new user `frank`");
    assert_eq!(run(vec!["get_user", "userid:frank"]).await.unwrap()["firstname"], "Frank");
    run(vec!["create_user_group", "group_name:qa"]).await.unwrap();
    let added = run(vec!["add_user_to_user_group", "usergroupid:qa", "userid:frank"]).await.unwrap();
    assert_eq!(added["success"], true);
    let repo = run(vec!["create_repo", "repo_name:nightly", "description:builds", "private:true"]).await.unwrap();
    assert_eq!(repo["repo"]["private"], true);
    let granted =
        run(vec!["grant_user_permission", "repoid:nightly", "userid:frank", "perm:repository.read"]).await.unwrap();
    assert_eq!(granted["msg"], "Granted perm: `repository.read` for user: `frank` in repo: `nightly`");
    let grants = expect(&call(&app, "GET", "/api/v1/projects/nightly/grants", &root, None).await, 200);
    assert!(grants["users"].as_array().unwrap().iter().any(|g| g["username"] == "frank" && g["role"] == 1), "{grants}");
    let repo = run(vec!["get_repo", "repoid:nightly"]).await.unwrap();
    assert!(repo["members"].as_array().unwrap().iter().any(|m| m["name"] == "frank"), "{repo}");
    assert_eq!(run(vec!["get_repo", "repoid:nothing"]).await.unwrap(), Value::Null);
    assert_eq!(
        run(vec!["lock", "repoid:nightly"]).await.unwrap(),
        "`lock` is not supported: Conveyor projects are not version-control repositories"
    );
    assert_eq!(run(vec!["nope"]).await.unwrap(), "No such method: nope");
    let wrong_key = tokio::task::spawn_blocking({
        let apihost = app.url("");
        move || kallithea_api(&kallithea_client(), &apihost, "not-a-key", &["get_users"])
    });
    assert_eq!(wrong_key.await.unwrap(), "Invalid API KEY");
}
