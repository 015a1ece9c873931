//! Component `projects` over HTTP against the real host (SPEC §3): CRUD by id or name, visibility
//! (public/private/hidden) with user and group grants, grant management, control actions and their
//! JSON-RPC errors, the project secret and worker access requests, and tenant isolation.

mod pw_support;

use conveyor_tests::TestHost;
use pw_support::*;
use serde_json::{Value, json};

const PROJECTS: &str = "/api/v1/projects";

#[tokio::test]
async fn crud_by_id_and_name_with_spec_errors() {
    let app = TestHost::start().await;
    let (alice_id, alice) = user(&app, "alice").await;

    let created = project(&app, &alice, "render", "public").await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "render");
    assert_eq!(created["visibility"], "public");
    assert_eq!(created["paused"], false);
    assert_eq!((created["new"].clone(), created["closed"].clone()), (json!(0), json!(0)));

    let by_name = expect(&call(&app, "GET", "/api/v1/projects/render", &Who::Anonymous, None).await, 200);
    let by_id = expect(&call(&app, "GET", &format!("{PROJECTS}/{id}/"), &Who::Anonymous, None).await, 200);
    assert_eq!(by_name, by_id);
    assert_eq!(by_id["id"], id);

    // The creator holds `admin` on it.
    let grants = expect(&call(&app, "GET", &format!("{PROJECTS}/{id}/grants"), &alice, None).await, 200);
    assert_eq!(grants["users"], json!([{"user": alice_id, "username": "alice", "role": 31, "preset": "admin"}]));

    let patched =
        call(&app, "PATCH", &format!("{PROJECTS}/render"), &alice, Some(json!({"motd": "hello", "priority": 5}))).await;
    let patched = expect(&patched, 200);
    assert_eq!((patched["motd"].clone(), patched["priority"].clone()), (json!("hello"), json!(5)));

    let duplicate = call(&app, "POST", PROJECTS, &alice, Some(json!({"name": "RENDER"}))).await;
    assert_error(&duplicate, 409, "duplicate");
    let digits = call(&app, "POST", PROJECTS, &alice, Some(json!({"name": "123"}))).await;
    assert_eq!(assert_error(&digits, 422, "validation_failed")["errors"][0]["field"], "name");
    let unknown = call(&app, "POST", PROJECTS, &alice, Some(json!({"name": "x", "owner": 1}))).await;
    assert_error(&unknown, 422, "unknown_field");
    let malformed = raw(&app, "POST", PROJECTS, &alice, Some("{\"name\":".into())).await;
    assert_error(&malformed, 400, "invalid_json");
    let huge = raw(&app, "POST", PROJECTS, &alice, Some(format!("{{\"name\":\"{}\"}}", "x".repeat(1 << 20)))).await;
    assert_error(&huge, 413, "payload_too_large");
    let text = app
        .send(
            "POST",
            PROJECTS,
            &[("content-type", "text/plain"), ("authorization", &format!("Bearer {}", bearer(&alice)))],
            "{}",
        )
        .await;
    assert_error(&text, 415, "unsupported_media_type");
    let anonymous = call(&app, "POST", PROJECTS, &Who::Anonymous, Some(json!({"name": "anon"}))).await;
    assert_error(&anonymous, 401, "unauthorized");

    let page =
        expect(&call(&app, "GET", &format!("{PROJECTS}?name=render&field=name&field=id"), &alice, None).await, 200);
    assert_eq!(page["count"], 1);
    assert_eq!(page["results"], json!([{"id": id, "name": "render"}]));
    assert_error(&call(&app, "GET", &format!("{PROJECTS}?colour=red"), &alice, None).await, 400, "invalid_query");

    assert_eq!(call(&app, "DELETE", &format!("{PROJECTS}/render"), &alice, None).await.status, 204);
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/{id}"), &alice, None).await, 404, "not_found");
    assert_error(&call(&app, "DELETE", &format!("{PROJECTS}/{id}"), &alice, None).await, 404, "not_found");
}

#[tokio::test]
async fn visibility_hides_projects_and_grants_reveal_them() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (bob_id, bob) = user(&app, "bob").await;
    let (carol_id, carol) = user(&app, "carol").await;
    project(&app, &alice, "open", "public").await;
    let private = project(&app, &alice, "closed", "private").await;
    let hidden = project(&app, &alice, "secretive", "hidden").await;
    let (private_id, hidden_id) = (private["id"].as_i64().unwrap(), hidden["id"].as_i64().unwrap());

    // Without grants: only the public project, in listings and reads.
    for who in [&bob, &Who::Anonymous] {
        let page = expect(&call(&app, "GET", PROJECTS, who, None).await, 200);
        assert_eq!((page["count"].clone(), names(&page, "name")), (json!(1), vec!["open".to_string()]));
    }
    let alice_page = expect(&call(&app, "GET", &format!("{PROJECTS}?order=-id"), &alice, None).await, 200);
    assert_eq!(names(&alice_page, "name"), ["secretive", "closed", "open"]);
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/closed"), &bob, None).await, 403, "forbidden");
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/secretive"), &bob, None).await, 404, "not_found");
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/{hidden_id}"), &Who::Anonymous, None).await, 404, "not_found");
    // Hidden: 404 (never 403) for every route, even those needing more than READ.
    let patch = call(&app, "PATCH", &format!("{PROJECTS}/secretive"), &bob, Some(json!({"motd": "x"}))).await;
    assert_error(&patch, 404, "not_found");
    assert_error(&call(&app, "DELETE", &format!("{PROJECTS}/secretive"), &bob, None).await, 404, "not_found");
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/secretive/secret"), &bob, None).await, 404, "not_found");
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/secretive/grants"), &bob, None).await, 404, "not_found");
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/secretive/assignees"), &bob, None).await, 404, "not_found");

    // A user grant (by username) reveals the hidden project to bob.
    let grant =
        call(&app, "PUT", &format!("{PROJECTS}/secretive/grants/users/bob"), &alice, Some(json!({"perm": "read"})))
            .await;
    assert_eq!(expect(&grant, 200), json!({"user": bob_id, "username": "bob", "role": 1, "preset": "read"}));
    assert_eq!(expect(&call(&app, "GET", &format!("{PROJECTS}/secretive"), &bob, None).await, 200)["id"], hidden_id);
    let page = expect(&call(&app, "GET", PROJECTS, &bob, None).await, 200);
    assert_eq!(names(&page, "name"), ["open", "secretive"]);
    // READ is not EDIT: now that bob can see it, the refusal is a 403.
    let patch = call(&app, "PATCH", &format!("{PROJECTS}/secretive"), &bob, Some(json!({"motd": "x"}))).await;
    assert_error(&patch, 403, "forbidden");

    // Group grants are OR-ed with the user's own: carol's own grant is EDIT only, her group gives READ.
    let admin = admin(&app);
    let team = expect(&call(&app, "POST", "/api/v1/groups", &admin, Some(json!({"name": "team"}))).await, 201);
    let team_id = team["id"].as_i64().unwrap();
    let member = call(&app, "PUT", &format!("/api/v1/groups/team/members/{carol_id}"), &admin, None).await;
    assert_eq!(member.status, 201, "{}", member.text());
    let own =
        call(&app, "PUT", &format!("{PROJECTS}/{private_id}/grants/users/carol"), &alice, Some(json!({"role": 2})))
            .await;
    assert_eq!(expect(&own, 200)["role"], 2);
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/closed"), &carol, None).await, 403, "forbidden");
    let by_group =
        call(&app, "PUT", &format!("{PROJECTS}/closed/grants/groups/{team_id}"), &alice, Some(json!({"role": 1})))
            .await;
    assert_eq!(expect(&by_group, 200), json!({"group": team_id, "name": "team", "role": 1, "preset": "read"}));
    assert_eq!(expect(&call(&app, "GET", &format!("{PROJECTS}/closed"), &carol, None).await, 200)["id"], private_id);
    let patched = call(&app, "PATCH", &format!("{PROJECTS}/closed"), &carol, Some(json!({"motd": "by carol"}))).await;
    assert_eq!(expect(&patched, 200)["motd"], "by carol");
    // Changing visibility needs MANAGE_ACCESS too.
    let exposed =
        call(&app, "PATCH", &format!("{PROJECTS}/closed"), &carol, Some(json!({"visibility": "public"}))).await;
    assert_error(&exposed, 403, "forbidden");
    let page = expect(&call(&app, "GET", PROJECTS, &carol, None).await, 200);
    assert_eq!(names(&page, "name"), ["open", "closed"]);

    // Removing the group grant takes READ away again.
    let removed = call(&app, "DELETE", &format!("{PROJECTS}/closed/grants/groups/team"), &alice, None).await;
    assert_eq!(removed.status, 204);
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/closed"), &carol, None).await, 403, "forbidden");
}

#[tokio::test]
async fn grants_need_manage_access() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (bob_id, bob) = user(&app, "bob").await;
    project(&app, &alice, "shared", "public").await;
    let path = format!("{PROJECTS}/shared/grants/users/bob");

    // bob can read the public project but not manage it.
    for (method, body) in [("GET", None), ("PUT", Some(json!({"perm": "admin"}))), ("DELETE", None)] {
        assert_error(&call(&app, method, &path, &bob, body).await, 403, "forbidden");
    }
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/shared/grants"), &bob, None).await, 403, "forbidden");
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/shared/access-requests"), &bob, None).await, 403, "forbidden");
    let anonymous = call(&app, "PUT", &path, &Who::Anonymous, Some(json!({"role": 31}))).await;
    assert_error(&anonymous, 401, "unauthorized");

    let write = expect(&call(&app, "PUT", &path, &alice, Some(json!({"perm": "project.write"}))).await, 200);
    assert_eq!(write, json!({"user": bob_id, "username": "bob", "role": 19, "preset": "write"}));
    assert_eq!(expect(&call(&app, "GET", &path, &alice, None).await, 200)["role"], 19);
    // write (19) has no MANAGE_ACCESS: bob still cannot grant.
    assert_error(&call(&app, "PUT", &path, &bob, Some(json!({"role": 31}))).await, 403, "forbidden");

    let too_big = call(&app, "PUT", &path, &alice, Some(json!({"role": 32}))).await;
    assert_eq!(assert_error(&too_big, 422, "validation_failed")["errors"][0]["field"], "role");
    let both = call(&app, "PUT", &path, &alice, Some(json!({"role": 1, "perm": "read"}))).await;
    assert_error(&both, 422, "validation_failed");
    let bad_perm = call(&app, "PUT", &path, &alice, Some(json!({"perm": "owner"}))).await;
    assert_eq!(assert_error(&bad_perm, 422, "validation_failed")["errors"][0]["field"], "perm");
    let extra = call(&app, "PUT", &path, &alice, Some(json!({"role": 1, "colour": "red"}))).await;
    assert_error(&extra, 422, "unknown_field");
    let nobody =
        call(&app, "PUT", &format!("{PROJECTS}/shared/grants/users/nobody"), &alice, Some(json!({"role": 1}))).await;
    assert_error(&nobody, 404, "not_found");
    let no_group =
        call(&app, "PUT", &format!("{PROJECTS}/shared/grants/groups/999"), &alice, Some(json!({"role": 1}))).await;
    assert_error(&no_group, 404, "not_found");

    // Role 0 removes the grant.
    let none = expect(&call(&app, "PUT", &path, &alice, Some(json!({"role": 0}))).await, 200);
    assert_eq!(none["role"], 0);
    assert_error(&call(&app, "GET", &path, &alice, None).await, 404, "not_found");
    assert_error(&call(&app, "DELETE", &path, &alice, None).await, 404, "not_found");
    let grants = expect(&call(&app, "GET", &format!("{PROJECTS}/shared/grants"), &alice, None).await, 200);
    assert_eq!(grants["users"].as_array().unwrap().len(), 1, "only alice's own grant is left: {grants}");
    assert_eq!(grants["groups"], json!([]));
}

#[tokio::test]
async fn control_actions_and_jsonrpc_errors() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, bob) = user(&app, "bob").await;
    project(&app, &alice, "ops", "public").await;
    project(&app, &alice, "ghost", "hidden").await;
    let ops = format!("{PROJECTS}/ops");

    let paused = rpc_ok(&rpc(&app, &ops, &alice, "pause", json!({})).await);
    assert_eq!((paused["name"].clone(), paused["paused"].clone()), (json!("ops"), json!(true)));
    // Desired state: pausing twice is fine.
    assert_eq!(rpc_ok(&rpc(&app, &ops, &alice, "pause", Value::Null).await)["paused"], true);
    assert_eq!(expect(&call(&app, "GET", &ops, &bob, None).await, 200)["paused"], true);
    assert_eq!(rpc_ok(&rpc(&app, &ops, &alice, "resume", json!({})).await)["paused"], false);
    assert_eq!(rpc_ok(&rpc(&app, &ops, &alice, "reset_failed", json!({})).await), json!({"reset": 0}));
    assert_eq!(rpc_ok(&rpc(&app, &ops, &alice, "reclaim_assigned", json!({})).await), json!({"reclaimed": 0}));
    assert_eq!(rpc_ok(&rpc(&app, &ops, &alice, "hard_reset", json!({})).await), json!({"deleted": 0}));

    let unknown = rpc_error(&rpc(&app, &ops, &alice, "explode", json!({})).await, 501, -32601);
    assert!(unknown["message"].as_str().unwrap().contains("explode"), "{unknown}");
    let bad = rpc_error(&rpc(&app, &ops, &alice, "pause", json!({"really": true})).await, 400, -32602);
    assert_eq!(bad["data"]["code"], "unknown_field");
    rpc_error(&rpc(&app, &ops, &alice, "accept_request", json!({"worker": "abc"})).await, 400, -32602);
    rpc_error(&rpc(&app, &ops, &alice, "accept_request", json!({})).await, 400, -32602);
    let no_request = rpc_error(&rpc(&app, &ops, &alice, "accept_request", json!({"worker": 42})).await, 404, -32600);
    assert_eq!(no_request["data"]["code"], "not_found");
    // bob may read the public project but holds no EDIT / MAINTENANCE.
    for method in ["pause", "resume", "hard_reset", "reject_request"] {
        let params = if method == "reject_request" { json!({"worker": 1}) } else { json!({}) };
        let denied = rpc_error(&rpc(&app, &ops, &bob, method, params).await, 403, -32600);
        assert_eq!(denied["data"]["code"], "forbidden", "{method}");
    }
    rpc_error(&rpc(&app, &ops, &Who::Anonymous, "pause", json!({})).await, 403, -32600);
    // Hidden: not found, for every action.
    rpc_error(&rpc(&app, &format!("{PROJECTS}/ghost"), &bob, "pause", json!({})).await, 404, -32600);
    rpc_error(&rpc(&app, &format!("{PROJECTS}/nowhere"), &alice, "pause", json!({})).await, 404, -32600);
    assert_eq!(expect(&call(&app, "GET", &ops, &bob, None).await, 200)["paused"], false, "bob changed nothing");

    // The envelope itself.
    let parse = raw(&app, "POST", &ops, &alice, Some("{nope".into())).await;
    assert_eq!(rpc_error(&parse, 400, -32700)["code"], -32700);
    assert_eq!(parse.json()["id"], Value::Null);
    let batch = json!([{"jsonrpc": "2.0", "method": "pause", "id": 1}]);
    rpc_error(&call(&app, "POST", &ops, &alice, Some(batch)).await, 400, -32600);
    let positional = json!({"jsonrpc": "2.0", "method": "pause", "params": [1], "id": 1});
    rpc_error(&call(&app, "POST", &ops, &alice, Some(positional)).await, 400, -32602);
    let old = json!({"jsonrpc": "1.0", "method": "pause", "id": 1});
    rpc_error(&call(&app, "POST", &ops, &alice, Some(old)).await, 400, -32600);
    let string_id = json!({"jsonrpc": "2.0", "method": "resume", "id": "abc"});
    let answer = expect(&call(&app, "POST", &ops, &alice, Some(string_id)).await, 200);
    assert_eq!(answer["id"], "abc");
    let bad_credentials = rpc(&app, &ops, &Who::Bearer("nope".into()), "pause", json!({})).await;
    assert_error(&bad_credentials, 401, "unauthorized");
}

#[tokio::test]
async fn the_secret_needs_the_secret_role_or_an_accepted_worker() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, bob) = user(&app, "bob").await;
    let render = project(&app, &alice, "render", "private").await;
    let render_id = render["id"].as_i64().unwrap();
    project(&app, &alice, "vault", "hidden").await;
    project(&app, &alice, "open", "public").await;
    let secret_path = format!("{PROJECTS}/render/secret");

    let unset = expect(&call(&app, "GET", &secret_path, &alice, None).await, 200);
    assert_eq!(unset, json!({"project": render_id, "secret": null}));
    let value = json!({"token": "s3cr3t", "n": 1});
    let put = call(&app, "PUT", &secret_path, &alice, Some(json!({"secret": value}))).await;
    assert_eq!(expect(&put, 200)["secret"], value);
    assert_error(&call(&app, "PUT", &secret_path, &alice, Some(value.clone())).await, 422, "unknown_field");

    // bob with READ still lacks SECRET.
    call(&app, "PUT", &format!("{PROJECTS}/render/grants/users/bob"), &alice, Some(json!({"perm": "write"}))).await;
    assert_error(&call(&app, "GET", &secret_path, &bob, None).await, 403, "forbidden");
    let bob_put = call(&app, "PUT", &secret_path, &bob, Some(json!({"secret": 1}))).await;
    assert_error(&bob_put, 403, "forbidden");

    let w = worker(&app, "runner").await;
    let other = worker(&app, "other").await;
    assert_error(&call(&app, "GET", &secret_path, &w.who(), None).await, 403, "forbidden");
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/vault/secret"), &w.who(), None).await, 404, "not_found");

    // A pending request reads nothing (task_tracker's bug).
    let requests = format!("{PROJECTS}/render/access-requests");
    let asked = expect(&call(&app, "POST", &requests, &w.who(), Some(json!({"assign": true}))).await, 201);
    assert_eq!((asked["status"].clone(), asked["assign"].clone()), (json!("pending"), json!(true)));
    assert_eq!(asked["worker"], w.id);
    assert_error(&call(&app, "GET", &secret_path, &w.who(), None).await, 403, "forbidden");
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/render"), &w.who(), None).await, 403, "forbidden");
    let none = call(&app, "POST", &requests, &other.who(), Some(json!({}))).await;
    assert_error(&none, 422, "validation_failed");
    assert_error(&call(&app, "POST", &requests, &alice, Some(json!({"assign": true}))).await, 403, "forbidden");
    assert_error(
        &call(&app, "POST", &requests, &Who::Anonymous, Some(json!({"assign": true}))).await,
        401,
        "unauthorized",
    );

    let listed = expect(&call(&app, "GET", &requests, &alice, None).await, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["worker"], w.id);
    assert_eq!(listed[0]["status"], "pending");

    let accepted =
        rpc_ok(&rpc(&app, &format!("{PROJECTS}/render"), &alice, "accept_request", json!({"worker": w.id})).await);
    assert_eq!(accepted["status"], "accepted");
    rpc_error(
        &rpc(&app, &format!("{PROJECTS}/render"), &alice, "accept_request", json!({"worker": w.id})).await,
        400,
        -32602,
    );
    let read = expect(&call(&app, "GET", &secret_path, &w.who(), None).await, 200);
    assert_eq!(read, json!({"project": render_id, "secret": value}));
    // Both credential styles; the accepted worker now sees the private project in its listing.
    let auth_style = Who::WorkerAuth(w.id, w.secret.clone());
    assert_eq!(expect(&call(&app, "GET", &secret_path, &auth_style, None).await, 200)["secret"], value);
    let page = expect(&call(&app, "GET", PROJECTS, &w.who(), None).await, 200);
    assert_eq!(names(&page, "name"), ["render", "open"]);
    let other_page = expect(&call(&app, "GET", PROJECTS, &other.who(), None).await, 200);
    assert_eq!(names(&other_page, "name"), ["open"]);
    // Workers hold no roles: they cannot write the secret.
    assert_error(&call(&app, "PUT", &secret_path, &w.who(), Some(json!({"secret": 2}))).await, 403, "forbidden");
    let assignees = expect(&call(&app, "GET", &format!("{PROJECTS}/render/assignees"), &w.who(), None).await, 200);
    assert_eq!(assignees, json!([]));

    // Rejecting revokes.
    let rejected =
        rpc_ok(&rpc(&app, &format!("{PROJECTS}/render"), &alice, "reject_request", json!({"worker": w.id})).await);
    assert_eq!(rejected, json!({"rejected": true, "worker": w.id}));
    assert_error(&call(&app, "GET", &secret_path, &w.who(), None).await, 403, "forbidden");
    rpc_error(
        &rpc(&app, &format!("{PROJECTS}/render"), &alice, "reject_request", json!({"worker": w.id})).await,
        404,
        -32600,
    );

    // A pending request on a public project does not read its secret either.
    call(&app, "POST", &format!("{PROJECTS}/open/access-requests"), &w.who(), Some(json!({"submit": true}))).await;
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/open/secret"), &w.who(), None).await, 403, "forbidden");
    // A wrong worker secret is a 401, never anonymous.
    let wrong = Who::Worker(w.id, format!("{}x", w.secret));
    assert_error(&call(&app, "GET", &format!("{PROJECTS}/open"), &wrong, None).await, 401, "unauthorized");
}

#[tokio::test]
async fn tenants_cannot_touch_each_others_projects() {
    let app = TestHost::start().await;
    let (_, alice) = user(&app, "alice").await;
    let (_, mallory) = user(&app, "mallory").await;
    project(&app, &alice, "alice-private", "private").await;
    project(&app, &alice, "alice-hidden", "hidden").await;
    let mine = project(&app, &mallory, "mallory-own", "private").await;

    let page =
        expect(&call(&app, "GET", &format!("{PROJECTS}?visibility__in=private,hidden"), &mallory, None).await, 200);
    assert_eq!((page["count"].clone(), names(&page, "name")), (json!(1), vec!["mallory-own".to_string()]));
    for (method, body) in [("PATCH", Some(json!({"name": "pwned"}))), ("DELETE", None)] {
        let private = call(&app, method, &format!("{PROJECTS}/alice-private"), &mallory, body.clone()).await;
        assert_error(&private, 403, "forbidden");
        let hidden = call(&app, method, &format!("{PROJECTS}/alice-hidden"), &mallory, body).await;
        assert_error(&hidden, 404, "not_found");
    }
    let grant = call(
        &app,
        "PUT",
        &format!("{PROJECTS}/alice-private/grants/users/mallory"),
        &mallory,
        Some(json!({"perm": "admin"})),
    )
    .await;
    assert_error(&grant, 403, "forbidden");
    // Nothing changed for alice.
    let alice_page = expect(&call(&app, "GET", &format!("{PROJECTS}?order=name"), &alice, None).await, 200);
    assert_eq!(names(&alice_page, "name"), ["alice-hidden", "alice-private"]);
    // The built-in administrator sees everything.
    let everything = expect(&call(&app, "GET", PROJECTS, &admin(&app), None).await, 200);
    assert_eq!(everything["count"], 3);
    assert_eq!(
        expect(&call(&app, "GET", &format!("{PROJECTS}/{}", mine["id"]), &admin(&app), None).await, 200)["name"],
        "mallory-own"
    );
}

#[tokio::test]
async fn discovery_links_projects_workers_and_logs() {
    let app = TestHost::start().await;
    let root = expect(&call(&app, "GET", "/api/v1", &Who::Anonymous, None).await, 200);
    for name in ["projects", "workers", "logs"] {
        assert_eq!(root["links"][name], app.url(&format!("/api/v1/{name}")), "{root}");
    }
    // Unknown sub-routes and methods answer SPEC §1 JSON errors from these components.
    assert_error(&call(&app, "GET", "/api/v1/projects/x/nothing", &Who::Anonymous, None).await, 404, "not_found");
    assert_error(&call(&app, "PUT", "/api/v1/projects", &Who::Anonymous, None).await, 405, "method_not_allowed");
    assert_error(&call(&app, "DELETE", "/api/v1/logs", &Who::Anonymous, None).await, 405, "method_not_allowed");
}
