//! Component `accounts` over HTTP against the real host (SPEC §2): the account life cycle, credentials
//! (bearer, `Token`, session cookie, the built-in admin), confinement of non-admins, revocation and
//! expiry, throttling, error bodies, and the query language over `/users`, `/groups` and `/tokens`.

use conveyor_tests::our_host_only;
use conveyor_tests::{Hook, TestHost, TestResponse, app_manifest};
use serde_json::{Value, json};

// ----- harness -----

/// The application with sign-up enabled and the hook configured.
async fn open_app(hook: &Hook) -> TestHost {
    let url = hook.url.clone();
    TestHost::start_with(app_manifest(), move |options| {
        options.variables.insert("allow_signup".into(), "true".into());
        options.variables.insert("notify_url".into(), url);
    })
    .await
}

fn admin_token(app: &TestHost) -> String {
    app.admin_token()
}

/// Fails when a response carries anything that must never leave the server.
fn assert_clean(response: &TestResponse) {
    let text = response.text();
    for forbidden in
        ["$argon2", "secret_hash", "\"password\":", "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "sqlite"]
    {
        assert!(!text.contains(forbidden), "response leaks `{forbidden}`: {text}");
    }
}

/// Sends a request with an optional JSON body and `Authorization: Bearer`.
async fn call(app: &TestHost, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> TestResponse {
    let auth = token.map(|token| format!("Bearer {token}"));
    let mut headers = Vec::new();
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    if let Some(auth) = &auth {
        headers.push(("authorization", auth.as_str()));
    }
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let response = app.send(method, path, &headers, body).await;
    assert_clean(&response);
    response
}

async fn get(app: &TestHost, path: &str, token: &str) -> TestResponse {
    call(app, "GET", path, Some(token), None).await
}

/// Asserts SPEC §1's error body: status, code, a human detail, `errors` only for validation.
#[track_caller]
fn assert_error(response: &TestResponse, status: u16, code: &str) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json; charset=utf-8"));
    let body = response.json();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["detail"].as_str().is_some_and(|detail| !detail.is_empty()), "{body}");
    let allowed = ["detail", "code", "errors", "retry_after"];
    assert!(body.as_object().unwrap().keys().all(|key| allowed.contains(&key.as_str())), "{body}");
    assert_eq!(body.get("errors").is_some(), code == "validation_failed", "{body}");
    if status == 401 {
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
    body
}

/// Creates a user as the built-in admin and returns it.
async fn create_user(app: &TestHost, username: &str, extra: Value) -> Value {
    let mut body =
        json!({"username": username, "email": format!("{username}@example.org"), "password": "correct horse"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let response = call(app, "POST", "/api/v1/users", Some(&admin_token(app)), Some(body)).await;
    assert_eq!(response.status, 201, "{}", response.text());
    response.json()
}

/// Logs in and returns (session token, response).
async fn login(app: &TestHost, username: &str, password: &str) -> (String, TestResponse) {
    let response =
        call(app, "POST", "/api/v1/auth/login", None, Some(json!({"username": username, "password": password}))).await;
    assert_eq!(response.status, 200, "{}", response.text());
    (response.json()["token"].as_str().unwrap().to_string(), response)
}

async fn session(app: &TestHost, username: &str) -> String {
    login(app, username, "correct horse").await.0
}

/// The value of the session cookie a response sets.
fn session_cookie(response: &TestResponse) -> String {
    let header = response.header("set-cookie").expect("a Set-Cookie header");
    let (pair, _) = header.split_once(';').unwrap();
    pair.strip_prefix("conveyor_session=").expect("the session cookie").to_string()
}

async fn with_cookie(app: &TestHost, method: &str, path: &str, cookie: &str) -> TestResponse {
    let cookie = format!("theme=dark; conveyor_session={cookie}");
    let response = app.send(method, path, &[("cookie", cookie.as_str())], "").await;
    assert_clean(&response);
    response
}

// ----- life cycle -----

#[tokio::test(flavor = "multi_thread")]
async fn the_full_account_life_cycle() {
    let hook = Hook::start().await;
    let app = open_app(&hook).await;
    let admin = admin_token(&app);

    // Sign up; the activation token goes to the hook, and admins can read it too.
    let signup =
        json!({"username": "ada", "email": "ada@example.org", "password": "correct horse", "first_name": "Ada"});
    let created = call(&app, "POST", "/api/v1/auth/signup", None, Some(signup)).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["verified"], false);
    let activation = hook.last("user.activation");
    assert_eq!(activation["email"], "ada@example.org");
    let code = activation["token"].as_str().unwrap().to_string();
    let pending = get(&app, "/api/v1/auth/activations?username=ada", &admin).await;
    assert_eq!(pending.status, 200, "{}", pending.text());
    assert_eq!(pending.json()["count"], 1);
    assert_eq!(pending.json()["results"][0]["token"], code.as_str());

    // Not activated yet: the right password is refused with 403 (the wrong one stays 401).
    let early =
        call(&app, "POST", "/api/v1/auth/login", None, Some(json!({"username": "ada", "password": "correct horse"})))
            .await;
    assert_eq!(assert_error(&early, 403, "forbidden")["detail"], "this account is not activated yet");
    let activated = call(&app, "POST", "/api/v1/auth/activate", None, Some(json!({"token": code}))).await;
    assert_eq!(activated.status, 200, "{}", activated.text());
    assert_eq!(
        (activated.json()["username"].as_str(), activated.json()["verified"].as_bool()),
        (Some("ada"), Some(true))
    );
    let again = call(&app, "POST", "/api/v1/auth/activate", None, Some(json!({"token": code}))).await;
    assert_error(&again, 400, "invalid_token");
    assert_eq!(get(&app, "/api/v1/auth/activations", &admin).await.json()["count"], 0);

    // Log in by email: a token and an HttpOnly session cookie.
    let (token, response) = {
        let body = json!({"email": "ADA@example.org", "password": "correct horse"});
        let response = call(&app, "POST", "/api/v1/auth/login", None, Some(body)).await;
        assert_eq!(response.status, 200, "{}", response.text());
        (response.json()["token"].as_str().unwrap().to_string(), response)
    };
    let cookie_header = response.header("set-cookie").unwrap().to_string();
    for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(cookie_header.contains(part), "{cookie_header}");
    }
    let cookie = session_cookie(&response);
    assert_eq!(cookie, token);
    let body = response.json();
    assert_eq!(body["user"]["username"], "ada");
    let now = body["expires_at"].as_i64().unwrap() - 7 * 24 * 3600;
    assert_eq!(body["user"]["last_login"], now);

    // /me by cookie and by bearer.
    let me = with_cookie(&app, "GET", "/api/v1/me", &cookie).await;
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(
        (me["username"].as_str(), me["first_name"].as_str(), me["admin"].as_bool()),
        (Some("ada"), Some("Ada"), Some(false))
    );
    assert_eq!(me["credential"]["kind"], "session");
    assert_eq!(me["groups"], json!([]));
    assert_eq!(get(&app, "/api/v1/me", &token).await.json()["id"], me["id"]);

    // A named token: the secret once, then only its prefix; usable with `Authorization: Token`.
    let created = call(&app, "POST", "/api/v1/tokens", Some(&token), Some(json!({"name": "ci"}))).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let named = created.json();
    let secret = named["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("cvt_"), "{secret}");
    assert_eq!(named["prefix"], &secret[..8]);
    assert_eq!((named["admin"].as_bool(), named["expires_at"].is_null()), (Some(false), true));
    let listed = get(&app, "/api/v1/tokens", &token).await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    assert_eq!(listed["count"], 1, "sessions are not listed as tokens: {listed}");
    assert!(listed["results"][0].get("token").is_none(), "the secret is never shown again");
    assert!(!listed.to_string().contains(&secret));
    let by_token = app.send("GET", "/api/v1/me", &[("authorization", &format!("Token {secret}"))], "").await;
    assert_eq!(by_token.status, 200);
    assert_eq!(by_token.json()["credential"]["kind"], "token");
    let used = get(&app, &format!("/api/v1/tokens/{}", named["id"]), &token).await.json();
    let used = used["last_used_at"].as_i64().expect("last_used_at is recorded");
    assert!((now..now + 60).contains(&used), "{used} vs {now}");

    // Change names; admin-only fields are refused.
    let patched = call(&app, "PATCH", "/api/v1/users/ada", Some(&token), Some(json!({"last_name": "Lovelace"}))).await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.json()["last_name"], "Lovelace");
    let promote = call(&app, "PATCH", "/api/v1/users/ada", Some(&token), Some(json!({"admin": true}))).await;
    assert_error(&promote, 403, "forbidden");

    // Change the email: confirmed through a token sent to the new address.
    let change =
        call(&app, "PATCH", "/api/v1/users/ada", Some(&token), Some(json!({"email": "ada@new.example.org"}))).await;
    assert_eq!(change.status, 200, "{}", change.text());
    assert_eq!(
        (change.json()["email"].as_str(), change.json()["pending_email"].as_str()),
        (Some("ada@example.org"), Some("ada@new.example.org"))
    );
    let confirmation = hook.last("user.email_change");
    assert_eq!(confirmation["email"], "ada@new.example.org");
    let confirmed =
        call(&app, "POST", "/api/v1/auth/confirm-email", None, Some(json!({"token": confirmation["token"]}))).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    assert_eq!(confirmed.json()["email"], "ada@new.example.org");

    // Change the password: the current one is checked, other sessions end, this one stays.
    let (other_session, _) = login(&app, "ada", "correct horse").await;
    let wrong = json!({"current_password": "nope nope", "new_password": "battery staple"});
    let refused = call(&app, "PUT", "/api/v1/me/password", Some(&token), Some(wrong)).await;
    assert_eq!(assert_error(&refused, 422, "validation_failed")["errors"][0]["field"], "current_password");
    let short = json!({"current_password": "correct horse", "new_password": "short"});
    let refused = call(&app, "PUT", "/api/v1/me/password", Some(&token), Some(short)).await;
    assert_eq!(assert_error(&refused, 422, "validation_failed")["errors"][0]["field"], "new_password");
    let change = json!({"current_password": "correct horse", "new_password": "battery staple"});
    assert_eq!(call(&app, "PUT", "/api/v1/me/password", Some(&token), Some(change)).await.status, 204);
    assert_eq!(get(&app, "/api/v1/me", &token).await.status, 200, "the session that changed it stays");
    assert_error(&get(&app, "/api/v1/me", &other_session).await, 401, "unauthorized");
    let old =
        call(&app, "POST", "/api/v1/auth/login", None, Some(json!({"username": "ada", "password": "correct horse"})))
            .await;
    assert_error(&old, 401, "unauthorized");

    // Forgot it: reset through the hook (202 either way), which ends every session.
    let reset =
        call(&app, "POST", "/api/v1/auth/password-reset", None, Some(json!({"email": "ada@new.example.org"}))).await;
    assert_eq!(reset.status, 202, "{}", reset.text());
    let reset_code = hook.last("user.password_reset")["token"].as_str().unwrap().to_string();
    let short = json!({"token": reset_code, "new_password": "1234567"});
    assert_error(
        &call(&app, "POST", "/api/v1/auth/password-reset/confirm", None, Some(short)).await,
        422,
        "validation_failed",
    );
    let confirm = json!({"token": reset_code, "new_password": "third password"});
    assert_eq!(
        call(&app, "POST", "/api/v1/auth/password-reset/confirm", None, Some(confirm.clone())).await.status,
        204
    );
    let reused = call(&app, "POST", "/api/v1/auth/password-reset/confirm", None, Some(confirm)).await;
    assert_error(&reused, 400, "invalid_token");
    assert_error(&get(&app, "/api/v1/me", &token).await, 401, "unauthorized");
    assert_eq!(get(&app, "/api/v1/tokens", &secret).await.status, 200, "named tokens survive a reset");
    let (token, response) = login(&app, "ada", "third password").await;
    let cookie = session_cookie(&response);

    // Log out: the session ends and the cookie is cleared.
    let out = with_cookie(&app, "POST", "/api/v1/auth/logout", &cookie).await;
    assert_eq!(out.status, 204, "{}", out.text());
    assert!(out.header("set-cookie").unwrap().starts_with("conveyor_session=; Path=/; Max-Age=0"));
    assert_error(&with_cookie(&app, "GET", "/api/v1/me", &cookie).await, 401, "unauthorized");
    assert_error(&get(&app, "/api/v1/me", &token).await, 401, "unauthorized");

    // Revoke every named token, then the admin deletes the account.
    let revoked = call(&app, "DELETE", "/api/v1/tokens", Some(&secret), None).await;
    assert_eq!((revoked.status, revoked.json()), (200, json!({"revoked": 1})));
    assert_error(&get(&app, "/api/v1/me", &secret).await, 401, "unauthorized");
    assert_eq!(call(&app, "DELETE", "/api/v1/users/ada", Some(&admin), None).await.status, 204);
    assert_error(&get(&app, "/api/v1/users/ada", &admin).await, 404, "not_found");
    let gone =
        call(&app, "POST", "/api/v1/auth/login", None, Some(json!({"username": "ada", "password": "third password"})))
            .await;
    assert_error(&gone, 401, "unauthorized");
}

// ----- confinement -----

#[tokio::test(flavor = "multi_thread")]
async fn non_admins_cannot_list_or_modify_other_users_nor_see_their_tokens() {
    let app = TestHost::start().await;
    let bob = create_user(&app, "bob", json!({})).await;
    create_user(&app, "eve", json!({})).await;
    let eve = session(&app, "eve").await;
    let bob_session = session(&app, "bob").await;
    let bobs = call(&app, "POST", "/api/v1/tokens", Some(&bob_session), Some(json!({"name": "bob's"}))).await.json();

    assert_error(&call(&app, "GET", "/api/v1/users", None, None).await, 401, "unauthorized");
    assert_error(&get(&app, "/api/v1/users", &eve).await, 403, "forbidden");
    let bob_id = bob["id"].to_string();
    for target in ["bob", bob_id.as_str(), "nobody-here", "999999"] {
        let path = format!("/api/v1/users/{target}");
        assert_error(&get(&app, &path, &eve).await, 403, "forbidden");
        let patch = call(&app, "PATCH", &path, Some(&eve), Some(json!({"first_name": "pwned"}))).await;
        assert_error(&patch, 403, "forbidden");
        assert_error(&call(&app, "DELETE", &path, Some(&eve), None).await, 403, "forbidden");
    }
    let create =
        call(&app, "POST", "/api/v1/users", Some(&eve), Some(json!({"username": "x", "email": "x@y.z"}))).await;
    assert_error(&create, 403, "forbidden");
    assert_eq!(get(&app, "/api/v1/users/bob", &admin_token(&app)).await.json()["first_name"], "", "bob is untouched");
    assert_eq!(get(&app, "/api/v1/users/eve", &eve).await.json()["username"], "eve", "but eve may read herself");

    let path = format!("/api/v1/tokens/{}", bobs["id"]);
    assert_error(&get(&app, &path, &eve).await, 404, "not_found");
    assert_error(&call(&app, "DELETE", &path, Some(&eve), None).await, 404, "not_found");
    assert_eq!(get(&app, "/api/v1/tokens", &eve).await.json()["count"], 0);
    assert_eq!(call(&app, "DELETE", "/api/v1/tokens", Some(&eve), None).await.json()["revoked"], 0);
    assert_eq!(get(&app, &path, &bob_session).await.status, 200, "bob's token survived eve's attempts");
    assert_error(&get(&app, "/api/v1/tokens/not-a-number", &eve).await, 404, "not_found");

    let group = call(&app, "POST", "/api/v1/groups", Some(&eve), Some(json!({"name": "eves"}))).await;
    assert_error(&group, 403, "forbidden");
    assert_error(&get(&app, "/api/v1/auth/activations", &eve).await, 403, "forbidden");
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_rights_need_an_admin_user_and_an_admin_scoped_credential() {
    let app = TestHost::start().await;
    let root = admin_token(&app);
    create_user(&app, "root", json!({"admin": true, "first_name": "Root"})).await;
    create_user(&app, "ann", json!({})).await;
    let admin_session = session(&app, "root").await;
    assert_eq!(get(&app, "/api/v1/users", &admin_session).await.status, 200, "a session carries the user's rights");

    let plain = call(&app, "POST", "/api/v1/tokens", Some(&admin_session), Some(json!({"name": "plain"}))).await.json();
    let plain = plain["token"].as_str().unwrap();
    assert_error(&get(&app, "/api/v1/users", plain).await, 403, "forbidden");
    let scoped =
        call(&app, "POST", "/api/v1/tokens", Some(&admin_session), Some(json!({"name": "ops", "admin": true}))).await;
    assert_eq!((scoped.status, scoped.json()["admin"].as_bool()), (201, Some(true)));
    let scoped = scoped.json()["token"].as_str().unwrap().to_string();
    assert_eq!(get(&app, "/api/v1/users", &scoped).await.status, 200);
    assert_eq!(get(&app, "/api/v1/me", &scoped).await.json()["credential"]["admin"], true);

    let ann = session(&app, "ann").await;
    let refused = call(&app, "POST", "/api/v1/tokens", Some(&ann), Some(json!({"name": "x", "admin": true}))).await;
    assert_error(&refused, 403, "forbidden");

    // The built-in administrator is no user: it can administer, but has no /me account or tokens.
    let me = get(&app, "/api/v1/me", &root).await;
    assert_eq!(me.json(), json!({"id": null, "username": null, "admin": true, "builtin": true}));
    let tokens = call(&app, "POST", "/api/v1/tokens", Some(&root), Some(json!({"name": "x"}))).await;
    assert_error(&tokens, 403, "forbidden");
    let by_token_scheme = app.send("GET", "/api/v1/users", &[("authorization", &format!("Token {root}"))], "").await;
    assert_eq!(by_token_scheme.status, 200);

    // Admins cannot delete or deactivate themselves; they can others.
    assert_error(&call(&app, "DELETE", "/api/v1/users/root", Some(&scoped), None).await, 409, "conflict");
    let deactivate = call(&app, "PATCH", "/api/v1/users/root", Some(&scoped), Some(json!({"active": false}))).await;
    assert_error(&deactivate, 409, "conflict");
    let disable = call(&app, "PATCH", "/api/v1/users/ann", Some(&scoped), Some(json!({"active": false}))).await;
    assert_eq!((disable.status, disable.json()["active"].as_bool()), (200, Some(false)));
    assert_error(&get(&app, "/api/v1/me", &ann).await, 401, "unauthorized");
    let login =
        call(&app, "POST", "/api/v1/auth/login", None, Some(json!({"username": "ann", "password": "correct horse"})))
            .await;
    assert_eq!(assert_error(&login, 403, "forbidden")["detail"], "this account is disabled");

    // An admin sets a password; the user's sessions end.
    let enable = json!({"active": true, "password": "brand new pw", "first_name": "Ann"});
    let enabled = call(&app, "PATCH", "/api/v1/users/ann", Some(&root), Some(enable)).await;
    assert_eq!(enabled.status, 200, "{}", enabled.text());
    assert_error(&get(&app, "/api/v1/me", &ann).await, 401, "unauthorized");
    login_ok(&app, "ann", "brand new pw").await;
}

async fn login_ok(app: &TestHost, username: &str, password: &str) {
    login(app, username, password).await;
}

// ----- revocation, expiry, bad credentials -----

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_stops_working_at_once() {
    let app = TestHost::start().await;
    create_user(&app, "ada", json!({})).await;
    let ada = session(&app, "ada").await;
    let created = call(&app, "POST", "/api/v1/tokens", Some(&ada), Some(json!({"name": "laptop"}))).await.json();
    let secret = created["token"].as_str().unwrap();
    assert_eq!(get(&app, "/api/v1/me", secret).await.status, 200);
    let path = format!("/api/v1/tokens/{}", created["id"]);
    assert_eq!(call(&app, "DELETE", &path, Some(&ada), None).await.status, 204);
    assert_eq!(
        assert_error(&get(&app, "/api/v1/me", secret).await, 401, "unauthorized")["detail"],
        "invalid or revoked token"
    );
    assert_error(&call(&app, "DELETE", &path, Some(&ada), None).await, 404, "not_found");
    assert_eq!(get(&app, "/api/v1/me", &ada).await.status, 200, "other credentials are untouched");
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_sessions_and_tokens_are_refused() {
    our_host_only!("moves our host's test clock");
    let app = TestHost::start().await;
    create_user(&app, "ada", json!({})).await;
    let (ada, response) = login(&app, "ada", "correct horse").await;
    let now = response.json()["expires_at"].as_i64().unwrap() - 7 * 24 * 3600;
    let short =
        call(&app, "POST", "/api/v1/tokens", Some(&ada), Some(json!({"name": "short", "expires_at": now + 3600})))
            .await;
    assert_eq!(short.status, 201, "{}", short.text());
    let short = short.json()["token"].as_str().unwrap().to_string();
    let past =
        call(&app, "POST", "/api/v1/tokens", Some(&ada), Some(json!({"name": "x", "expires_at": now - 1}))).await;
    assert_eq!(assert_error(&past, 422, "validation_failed")["errors"][0]["field"], "expires_at");

    app.ours().runtime.clock().advance(3600);
    assert_eq!(
        assert_error(&get(&app, "/api/v1/me", &short).await, 401, "unauthorized")["detail"],
        "the token has expired"
    );
    assert_eq!(get(&app, "/api/v1/me", &ada).await.status, 200);

    app.ours().runtime.clock().advance(7 * 24 * 3600);
    let expired = with_cookie(&app, "GET", "/api/v1/me", &ada).await;
    assert_eq!(assert_error(&expired, 401, "unauthorized")["detail"], "the session has expired; log in again");
    assert_error(&get(&app, "/api/v1/me", &ada).await, 401, "unauthorized");
    // A stale cookie never blocks logging in again, and logout still clears it.
    let out = with_cookie(&app, "POST", "/api/v1/auth/logout", &ada).await;
    assert_error(&out, 401, "unauthorized");
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    session(&app, "ada").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn presented_but_invalid_credentials_are_401_never_anonymous() {
    let app = TestHost::start().await;
    for header in ["Bearer nope", "Token nope", "Basic YWRhOnB3", "Bearer", "Worker 1:abc"] {
        let response = app.send("GET", "/api/v1/groups", &[("authorization", header)], "").await;
        assert_error(&response, 401, "unauthorized");
    }
    // Even on routes anonymous callers may use otherwise.
    let logout = with_cookie(&app, "POST", "/api/v1/auth/logout", "garbage").await;
    assert_error(&logout, 401, "unauthorized");
    assert_error(&call(&app, "GET", "/api/v1/groups", None, None).await, 401, "unauthorized");
    assert_error(&call(&app, "GET", "/api/v1/me", None, None).await, 401, "unauthorized");
}

// ----- enumeration and throttling -----

#[tokio::test(flavor = "multi_thread")]
async fn no_route_reveals_whether_an_email_is_registered() {
    let hook = Hook::start().await;
    let app = open_app(&hook).await;
    create_user(&app, "ada", json!({})).await;

    // Sign-up with a registered email answers exactly like a fresh one, and creates nothing.
    let signup =
        |username: &str, email: &str| json!({"username": username, "email": email, "password": "correct horse"});
    let existing = call(&app, "POST", "/api/v1/auth/signup", None, Some(signup("mallory", "ada@example.org"))).await;
    assert_eq!(hook.last("user.signup_existing"), json!({"event": "user.signup_existing", "email": "ada@example.org"}));
    let fresh = call(&app, "POST", "/api/v1/auth/signup", None, Some(signup("bob", "bob@example.org"))).await;
    hook.last("user.activation");
    assert_eq!((existing.status, fresh.status), (201, 201));
    let (mut existing, mut fresh) = (existing.json(), fresh.json());
    for body in [&mut existing, &mut fresh] {
        let object = body.as_object_mut().unwrap();
        object.remove("username");
        object.remove("email");
    }
    assert_eq!(existing, fresh);
    assert_error(&get(&app, "/api/v1/users/mallory", &admin_token(&app)).await, 404, "not_found");
    // A taken username is a 409: usernames are public handles, emails are not.
    let taken = call(&app, "POST", "/api/v1/auth/signup", None, Some(signup("ADA", "new@example.org"))).await;
    assert_error(&taken, 409, "duplicate");

    // Password reset: 202 with the same body for a known and an unknown address.
    let known =
        call(&app, "POST", "/api/v1/auth/password-reset", None, Some(json!({"email": "ada@example.org"}))).await;
    assert!(hook.last("user.password_reset")["token"].as_str().unwrap().starts_with("cvr_"));
    let unknown =
        call(&app, "POST", "/api/v1/auth/password-reset", None, Some(json!({"email": "nobody@example.org"}))).await;
    assert_eq!(
        hook.last("user.password_reset_unknown"),
        json!({"event": "user.password_reset_unknown", "email": "nobody@example.org"})
    );
    assert_eq!((known.status, unknown.status), (202, 202));
    assert_eq!(known.json(), unknown.json());

    // Login: an unknown account and a wrong password get the same answer.
    let wrong = call(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.org", "password": "wrong pass"})),
    )
    .await;
    let nobody = call(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "no@example.org", "password": "wrong pass"})),
    )
    .await;
    assert_eq!(assert_error(&wrong, 401, "unauthorized"), assert_error(&nobody, 401, "unauthorized"));

    // A user changing their email to a taken one sees the same answer as for a free one.
    let ada = session(&app, "ada").await;
    let taken = call(&app, "PATCH", "/api/v1/users/ada", Some(&ada), Some(json!({"email": "bob@example.org"}))).await;
    let free = call(&app, "PATCH", "/api/v1/users/ada", Some(&ada), Some(json!({"email": "free@example.org"}))).await;
    let (taken, free) = (taken.json(), free.json());
    assert_eq!((taken["email"].clone(), free["email"].clone()), (json!("ada@example.org"), json!("ada@example.org")));
    assert_eq!(
        (taken["pending_email"].clone(), free["pending_email"].clone()),
        (json!("bob@example.org"), json!("free@example.org"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_is_closed_by_default() {
    let app = TestHost::start().await;
    let body = json!({"username": "ada", "email": "ada@example.org", "password": "correct horse"});
    let refused = call(&app, "POST", "/api/v1/auth/signup", None, Some(body)).await;
    assert_eq!(assert_error(&refused, 403, "forbidden")["detail"], "sign-up is disabled on this server");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_throttled_per_account_and_per_address() {
    our_host_only!("moves our host's test clock");
    let app = TestHost::start().await;
    create_user(&app, "ada", json!({})).await;
    let attempt = |username: &str, password: &str| json!({"username": username, "password": password});
    for _ in 0..5 {
        let response = call(&app, "POST", "/api/v1/auth/login", None, Some(attempt("ada", "wrong pass"))).await;
        assert_error(&response, 401, "unauthorized");
    }
    let blocked = call(&app, "POST", "/api/v1/auth/login", None, Some(attempt("ada", "correct horse"))).await;
    let body = assert_error(&blocked, 429, "rate_limited");
    let retry_after: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    assert!(body["retry_after"].as_f64().unwrap() > 880.0, "{body}");

    app.ours().runtime.clock().advance(901);
    login_ok(&app, "ada", "correct horse").await;

    // 20 failures from one address, spread over accounts, block the address for everyone.
    for n in 0..20 {
        let response =
            call(&app, "POST", "/api/v1/auth/login", None, Some(attempt(&format!("ghost{n}"), "wrong pass"))).await;
        assert_error(&response, 401, "unauthorized");
    }
    let blocked = call(&app, "POST", "/api/v1/auth/login", None, Some(attempt("ada", "correct horse"))).await;
    assert_error(&blocked, 429, "rate_limited");
}

// ----- error bodies -----

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_spec_error_bodies() {
    let app = TestHost::start().await;
    let admin = admin_token(&app);
    let auth = format!("Bearer {admin}");
    let json_headers = [("content-type", "application/json"), ("authorization", auth.as_str())];

    let malformed = app.send("POST", "/api/v1/users", &json_headers, "{\"username\": ").await;
    assert_error(&malformed, 400, "invalid_json");
    let unknown = json!({"username": "ada", "email": "ada@example.org", "password": "correct horse", "role": "god"});
    let unknown = call(&app, "POST", "/api/v1/users", Some(&admin), Some(unknown)).await;
    assert!(assert_error(&unknown, 422, "unknown_field")["detail"].as_str().unwrap().contains("role"));
    let short = call(
        &app,
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(json!({"username": "ada", "email": "ada@example.org", "password": "short"})),
    )
    .await;
    let body = assert_error(&short, 422, "validation_failed");
    assert_eq!(body["errors"], json!([{"field": "password", "message": "must be at least 8 characters long"}]));
    let several = json!({"username": "12345", "email": "not-an-email", "password": "correct horse"});
    let body =
        assert_error(&call(&app, "POST", "/api/v1/users", Some(&admin), Some(several)).await, 422, "validation_failed");
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["username", "email"]);
    let missing = call(&app, "POST", "/api/v1/users", Some(&admin), Some(json!({"username": "ada"}))).await;
    assert_eq!(assert_error(&missing, 422, "validation_failed")["errors"][0]["field"], "email");
    let text = app
        .send("POST", "/api/v1/users", &[("content-type", "text/plain"), ("authorization", auth.as_str())], "{}")
        .await;
    assert_error(&text, 415, "unsupported_media_type");

    create_user(&app, "ada", json!({})).await;
    let duplicate = json!({"username": "ADA", "email": "other@example.org", "password": "correct horse"});
    let body =
        assert_error(&call(&app, "POST", "/api/v1/users", Some(&admin), Some(duplicate)).await, 409, "duplicate");
    assert!(body["detail"].as_str().unwrap().contains("username"), "{body}");
    let same_email = json!({"username": "ada2", "email": "Ada@Example.org", "password": "correct horse"});
    assert_error(&call(&app, "POST", "/api/v1/users", Some(&admin), Some(same_email)).await, 409, "duplicate");
    create_user(&app, "bob", json!({})).await;
    let rename = call(&app, "PATCH", "/api/v1/users/bob", Some(&admin), Some(json!({"username": "ada"}))).await;
    assert_error(&rename, 409, "duplicate");

    let login = app
        .send("POST", "/api/v1/auth/login", &[("content-type", "application/json")], "{\"username\": \"ada\",")
        .await;
    assert_error(&login, 400, "invalid_json");
    let both = json!({"username": "ada", "email": "ada@example.org", "password": "x"});
    assert_error(&call(&app, "POST", "/api/v1/auth/login", None, Some(both)).await, 422, "validation_failed");
    let extra = json!({"username": "ada", "password": "correct horse", "remember": true});
    assert_error(&call(&app, "POST", "/api/v1/auth/login", None, Some(extra)).await, 422, "unknown_field");
    let bad_token = call(&app, "POST", "/api/v1/auth/activate", None, Some(json!({"token": "cva_nope"}))).await;
    assert_error(&bad_token, 400, "invalid_token");
    let bad_email = call(&app, "POST", "/api/v1/auth/password-reset", None, Some(json!({"email": "nope"}))).await;
    assert_error(&bad_email, 422, "validation_failed");

    assert_error(&call(&app, "GET", "/api/v1/auth/nothing", None, None).await, 404, "not_found");
    assert_error(&call(&app, "DELETE", "/api/v1/me", Some(&admin), None).await, 405, "method_not_allowed");
    assert_error(&get(&app, "/api/v1/users/nobody", &admin).await, 404, "not_found");
    assert_eq!(get(&app, "/api/v1/users/ada/", &admin).await.status, 200, "trailing slash is ignored");
}

// ----- groups -----

#[tokio::test(flavor = "multi_thread")]
async fn groups_and_membership_by_id_or_name() {
    let app = TestHost::start().await;
    let admin = admin_token(&app);
    let ada = create_user(&app, "ada", json!({})).await;
    let bob_id = create_user(&app, "bob", json!({})).await["id"].clone();
    let bob = session(&app, "bob").await;

    let created = call(
        &app,
        "POST",
        "/api/v1/groups",
        Some(&admin),
        Some(json!({"name": "Data Science", "description": "models"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let group = created.json();
    assert_eq!(
        (group["name"].as_str(), group["active"].as_bool(), group["members"].clone()),
        (Some("Data Science"), Some(true), json!([]))
    );
    let id = group["id"].as_i64().unwrap();
    assert_error(
        &call(&app, "POST", "/api/v1/groups", Some(&admin), Some(json!({"name": "data science"}))).await,
        409,
        "duplicate",
    );
    assert_error(
        &call(&app, "POST", "/api/v1/groups", Some(&admin), Some(json!({"name": "42"}))).await,
        422,
        "validation_failed",
    );

    let added = call(&app, "PUT", "/api/v1/groups/Data%20Science/members/ada", Some(&admin), None).await;
    assert_eq!(added.status, 201, "{}", added.text());
    assert_eq!(added.json()["members"], json!([{"id": ada["id"], "username": "ada"}]));
    let again = call(&app, "PUT", &format!("/api/v1/groups/{id}/members/{}", ada["id"]), Some(&admin), None).await;
    assert_eq!(again.status, 200, "already a member");
    assert_eq!(call(&app, "PUT", "/api/v1/groups/Data%20Science/members/bob", Some(&admin), None).await.status, 201);
    assert_error(&call(&app, "PUT", "/api/v1/groups/nope/members/bob", Some(&admin), None).await, 404, "not_found");
    assert_error(
        &call(&app, "PUT", &format!("/api/v1/groups/{id}/members/nobody"), Some(&admin), None).await,
        404,
        "not_found",
    );
    assert_error(
        &call(&app, "PUT", &format!("/api/v1/groups/{id}/members/ada"), Some(&bob), None).await,
        403,
        "forbidden",
    );

    // Any signed-in user reads groups; members are listed in id order.
    let read = get(&app, &format!("/api/v1/groups/{id}"), &bob).await;
    assert_eq!(read.status, 200);
    let members: Vec<String> = read.json()["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(members, ["ada", "bob"]);
    assert_eq!(
        get(&app, "/api/v1/me", &bob).await.json()["groups"],
        json!([{"id": id, "name": "Data Science", "active": true}])
    );

    let renamed = call(
        &app,
        "PATCH",
        &format!("/api/v1/groups/{id}"),
        Some(&admin),
        Some(json!({"name": "ML", "active": false})),
    )
    .await;
    assert_eq!(
        (renamed.status, renamed.json()["name"].as_str(), renamed.json()["active"].as_bool()),
        (200, Some("ML"), Some(false))
    );
    assert_error(
        &call(&app, "PATCH", "/api/v1/groups/ML", Some(&bob), Some(json!({"name": "x"}))).await,
        403,
        "forbidden",
    );
    assert_error(
        &call(&app, "PATCH", "/api/v1/groups/ML", Some(&admin), Some(json!({"owner": "x"}))).await,
        422,
        "unknown_field",
    );

    call(&app, "POST", "/api/v1/groups", Some(&admin), Some(json!({"name": "ops"}))).await;
    let listed = get(&app, "/api/v1/groups?field=name&field=members&order=-name", &bob).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(
        listed.json()["results"],
        json!([{"name": "ops", "members": []}, {"name": "ML", "members": [{"id": ada["id"], "username": "ada"}, {"id": bob_id, "username": "bob"}]}])
    );
    assert_eq!(get(&app, "/api/v1/groups?active=false", &bob).await.json()["count"], 1);
    let filter_members = get(&app, "/api/v1/groups?members=ada", &bob).await;
    assert_error(&filter_members, 400, "invalid_query");

    assert_eq!(call(&app, "DELETE", "/api/v1/groups/ML/members/ada", Some(&admin), None).await.status, 204);
    assert_error(&call(&app, "DELETE", "/api/v1/groups/ML/members/ada", Some(&admin), None).await, 404, "not_found");
    assert_eq!(call(&app, "DELETE", "/api/v1/groups/ML", Some(&admin), None).await.status, 204);
    assert_error(&get(&app, &format!("/api/v1/groups/{id}"), &bob).await, 404, "not_found");
    assert_eq!(get(&app, "/api/v1/me", &bob).await.json()["groups"], json!([]));
}

// ----- the query language over /users and /tokens -----

#[tokio::test(flavor = "multi_thread")]
async fn the_query_language_over_users() {
    let app = TestHost::start().await;
    let admin = admin_token(&app);
    let people = [
        ("alice", json!({"first_name": "Alice", "admin": true})),
        ("bob", json!({"first_name": "Bob"})),
        ("carol", json!({"first_name": "Carol", "active": false})),
        ("dave", json!({"first_name": "Dave", "verified": false})),
        ("erin", json!({"first_name": "Erin"})),
        ("frank", json!({"first_name": "Frank", "admin": true})),
    ];
    let mut ids = Vec::new();
    for (name, extra) in people {
        ids.push(create_user(&app, name, extra).await["id"].as_i64().unwrap());
    }
    let names = |body: &Value| -> Vec<String> {
        body["results"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect()
    };
    let query = |q: &str| {
        let app = &app;
        let admin = admin.clone();
        let q = q.to_string();
        async move {
            let response = get(app, &format!("/api/v1/users?{q}"), &admin).await;
            assert_eq!(response.status, 200, "{q}: {}", response.text());
            response.json()
        }
    };

    let all = query("").await;
    assert_eq!(
        (all["count"].as_i64(), all["next"].clone(), all["previous"].clone()),
        (Some(6), Value::Null, Value::Null)
    );
    assert_eq!(names(&all), ["alice", "bob", "carol", "dave", "erin", "frank"]);
    let first = &all["results"][0];
    let mut keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "active",
            "admin",
            "created_at",
            "email",
            "first_name",
            "id",
            "last_login",
            "last_name",
            "username",
            "verified"
        ]
    );

    // Filters.
    assert_eq!(names(&query("admin=true").await), ["alice", "frank"]);
    assert_eq!(names(&query("admin=off&active=yes&verified=1").await), ["bob", "erin"]);
    assert_eq!(names(&query("username__contains=a").await), ["alice", "carol", "dave", "frank"]);
    assert_eq!(names(&query("username=BOB").await), ["bob"], "usernames compare without case");
    assert_eq!(names(&query("username=bob&username=erin").await), ["bob", "erin"]);
    assert_eq!(names(&query("username__in=bob,erin,zed").await), ["bob", "erin"]);
    assert_eq!(names(&query("username__notin=bob,erin&admin=false").await), ["carol", "dave"]);
    assert_eq!(
        names(&query("username__ne=alice&username__ne=bob&username__ne=carol").await),
        ["dave", "erin", "frank"]
    );
    assert_eq!(names(&query(&format!("id__gt={}&id__le={}", ids[1], ids[3])).await), ["carol", "dave"]);
    assert_eq!(names(&query("email__contains=%40example.org&first_name__ge=E").await), ["erin", "frank"]);
    assert_eq!(query("last_login__ge=0").await["count"], 0, "nobody logged in yet");

    // Order.
    assert_eq!(names(&query("order=-username").await), ["frank", "erin", "dave", "carol", "bob", "alice"]);
    assert_eq!(names(&query("order=-admin&order=username").await), ["alice", "frank", "bob", "carol", "dave", "erin"]);

    // Paging, with next/previous keeping the other parameters.
    let page = query("order=username&limit=2&offset=2").await;
    assert_eq!(names(&page), ["carol", "dave"]);
    assert_eq!(page["count"], 6);
    assert_eq!(page["next"], app.url("/api/v1/users?order=username&limit=2&offset=4"));
    assert_eq!(page["previous"], app.url("/api/v1/users?order=username&limit=2&offset=0"));
    let last = query("order=username&limit=2&offset=4").await;
    assert_eq!((names(&last), last["next"].clone()), (vec!["erin".to_string(), "frank".to_string()], Value::Null));
    let past = query("offset=100").await;
    assert_eq!((past["count"].as_i64(), past["results"].clone()), (Some(6), json!([])));
    let counted = query("limit=0&admin=true").await;
    assert_eq!((counted["count"].as_i64(), counted["results"].clone()), (Some(2), json!([])));

    // Field selection, after everything else.
    let selected = query("field=username&field=id&admin=true&order=-id&limit=1").await;
    assert_eq!(selected["results"], json!([{"id": ids[5], "username": "frank"}]));
    assert_eq!(
        selected["next"],
        app.url("/api/v1/users?field=username&field=id&admin=true&order=-id&limit=1&offset=1")
    );

    // Every 400 names the parameter.
    let cases = [
        ("colour=red", "colour"),
        ("Username=bob", "Username"),
        ("field=password", "password"),
        ("field=nope", "nope"),
        ("password=x", "password"),
        ("password__contains=a", "password"),
        ("order=nope", "nope"),
        ("order=-password", "password"),
        ("username__like=a", "like"),
        ("id=abc", "id"),
        ("id__in=1,x", "id__in"),
        ("admin=maybe", "admin"),
        ("created_at__contains=1", "created_at__contains"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("offset=1&offset=2", "offset"),
        ("limit=1&limit=2", "limit"),
    ];
    for (q, named) in cases {
        let response = get(&app, &format!("/api/v1/users?{q}"), &admin).await;
        let body = assert_error(&response, 400, "invalid_query");
        assert!(body["detail"].as_str().unwrap().contains(named), "{q}: {body}");
    }
    let many_params: Vec<String> = (0..101).map(|n| format!("id__ne={n}")).collect();
    let response = get(&app, &format!("/api/v1/users?{}", many_params.join("&")), &admin).await;
    assert!(
        assert_error(&response, 400, "invalid_query")["detail"]
            .as_str()
            .unwrap()
            .contains("too many filter parameters")
    );
    let many_values: Vec<String> = (0..1001).map(|n| n.to_string()).collect();
    let response = get(&app, &format!("/api/v1/users?id__in={}", many_values.join(",")), &admin).await;
    assert!(
        assert_error(&response, 400, "invalid_query")["detail"].as_str().unwrap().contains("too many filter values")
    );
    let clamped = query("limit=5000").await;
    assert_eq!(clamped["count"], 6, "a limit over 1000 is clamped, not refused");

    // Access is decided before the query is read.
    let bob = session(&app, "bob").await;
    assert_error(&get(&app, "/api/v1/users?colour=red", &bob).await, 403, "forbidden");
    assert_error(&call(&app, "GET", "/api/v1/users?colour=red", None, None).await, 401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_language_over_tokens() {
    let app = TestHost::start().await;
    create_user(&app, "ada", json!({})).await;
    create_user(&app, "bob", json!({})).await;
    let ada = session(&app, "ada").await;
    let bob = session(&app, "bob").await;
    for name in ["laptop", "ci-main", "ci-nightly"] {
        assert_eq!(call(&app, "POST", "/api/v1/tokens", Some(&ada), Some(json!({"name": name}))).await.status, 201);
    }
    call(&app, "POST", "/api/v1/tokens", Some(&bob), Some(json!({"name": "ci-bob"}))).await;
    let listed = get(&app, "/api/v1/tokens?name__contains=ci&order=-name&field=name", &ada).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(listed.json()["results"], json!([{"name": "ci-nightly"}, {"name": "ci-main"}]));
    assert_eq!(listed.json()["count"], 2, "only the caller's tokens");
    let page = get(&app, "/api/v1/tokens?limit=1", &ada).await.json();
    assert_eq!(
        (page["count"].as_i64(), page["next"].clone()),
        (Some(3), json!(app.url("/api/v1/tokens?limit=1&offset=1")))
    );
    // Hashes and owners are not fields (the detail only echoes the parameter the client sent).
    let auth = format!("Bearer {ada}");
    for (q, detail) in [
        ("secret_hash=x", "unknown query parameter `secret_hash`"),
        ("field=secret_hash", "unknown field `secret_hash` in `field`"),
        ("field=user_id", "unknown field `user_id` in `field`"),
    ] {
        let response = app.send("GET", &format!("/api/v1/tokens?{q}"), &[("authorization", auth.as_str())], "").await;
        assert_eq!(assert_error(&response, 400, "invalid_query")["detail"], detail);
    }
    let blank = call(&app, "POST", "/api/v1/tokens", Some(&ada), Some(json!({"name": "  "}))).await;
    assert_eq!(assert_error(&blank, 422, "validation_failed")["errors"][0]["field"], "name");
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_links_the_identity_collections() {
    let app = TestHost::start().await;
    let root = app.get("/api/v1").await.json();
    for name in ["auth", "me", "tokens", "users", "groups"] {
        assert_eq!(root["links"][name], app.url(&format!("/api/v1/{name}")), "{root}");
    }
}
