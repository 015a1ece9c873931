//! Component `projectw`'s accounts over HTTP against the real host (docs/projectw.md, "Accounts and sign-in"):
//! `/api/local-account/*` and `/api/users/*` over Conveyor's accounts, the `token` cookie on every user route
//! (and its cross-site refusal), admin scope, and OIDC and LDAP answering as an instance without providers.

mod pw_support;

use conveyor_tests::{Hook, TestHost, TestResponse, app_manifest};
use pw_support::{pw_json, pw_refused};
use serde_json::{Value, json};

// ----- harness -----

const PASSWORD: &str = "Password-1234";
const FORM: &str = "application/x-www-form-urlencoded";
const JOBS_COUNT: &str = "/api/jobs/count?exclude_finished=false&exclude_downloaded=false";

/// The application with the hook and sign-up as told.
async fn app(hook: Option<&Hook>, signup: bool) -> TestHost {
    let url = hook.map(|hook| hook.url.clone());
    TestHost::start_with(app_manifest(), move |options| {
        if signup {
            options.variables.insert("allow_signup".into(), "true".into());
        }
        if let Some(url) = url {
            options.variables.insert("notify_url".into(), url);
        }
    })
    .await
}

fn admin_token(app: &TestHost) -> String {
    app.admin_token()
}

/// Fails when a response carries anything that must never leave the server.
#[track_caller]
fn assert_clean(response: &TestResponse) {
    let text = response.text();
    for forbidden in ["$argon2", "secret_hash", PASSWORD, "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "sqlite"] {
        assert!(!text.contains(forbidden), "response leaks `{forbidden}`: {text}");
    }
}

/// Sends a request with these headers and body.
async fn send(app: &TestHost, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> TestResponse {
    let response = app.send(method, path, headers, body.to_string()).await;
    assert_clean(&response);
    response
}

/// Sends with `Authorization: Bearer <token>`.
async fn bearer(app: &TestHost, method: &str, path: &str, token: &str) -> TestResponse {
    send(app, method, path, &[("authorization", &format!("Bearer {token}"))], "").await
}

/// Sends a JSON body with `Authorization: Bearer <token>` (none when `token` is empty).
async fn json_as(app: &TestHost, path: &str, token: &str, body: Value) -> TestResponse {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("content-type", "application/json")];
    if !token.is_empty() {
        headers.push(("authorization", &auth));
    }
    send(app, "POST", path, &headers, &body.to_string()).await
}

/// Creates a user through Conveyor's native route (as the built-in administrator); answers their id.
async fn create_user(app: &TestHost, username: &str, admin: bool) -> i64 {
    let body = json!({"username": username, "email": format!("{username}@example.org"), "password": PASSWORD,
        "admin": admin});
    let created = json_as(app, "/api/v1/users", &admin_token(app), body).await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()["id"].as_i64().unwrap()
}

/// `POST /api/local-account/login` as Project-W's tests send it (httpx `data=`).
async fn login_as(app: &TestHost, email: &str, password: &str, scope: &str) -> TestResponse {
    let body = format!(
        "grant_type=password&username={}&password={}&scope={}",
        urlencode(email),
        urlencode(password),
        urlencode(scope)
    );
    let headers = [("content-type", FORM), ("user-agent", "python-httpx/0.28.1")];
    send(app, "POST", "/api/local-account/login", &headers, &body).await
}

/// `application/x-www-form-urlencoded` encoding of one value, as httpx writes it.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The `token` cookie a response sets.
#[track_caller]
fn token_cookie(response: &TestResponse) -> String {
    let cookie = response.header("set-cookie").unwrap_or_else(|| panic!("no Set-Cookie: {}", response.text()));
    let value = cookie.strip_prefix("token=").unwrap_or_else(|| panic!("not the token cookie: {cookie}"));
    value.split(';').next().unwrap().to_string()
}

/// `POST /api/local-account/activate` with this query string.
async fn activate(app: &TestHost, query: &str) -> TestResponse {
    send(app, "POST", &format!("/api/local-account/activate{query}"), &[], "").await
}

/// `GET /api/local-account/request_password_reset?email=`.
async fn reset(app: &TestHost, email: &str) -> TestResponse {
    send(app, "GET", &format!("/api/local-account/request_password_reset?email={email}"), &[], "").await
}

/// Logs in (200) and answers the session token read from the cookie, as a scripted client does.
async fn login(app: &TestHost, email: &str, password: &str, scope: &str) -> String {
    let response = login_as(app, email, password, scope).await;
    assert_eq!(pw_json(&response, 200), json!("Success. Returning your login token as a cookie"));
    token_cookie(&response)
}

// ----- tests -----

#[tokio::test]
async fn a_scripted_client_logs_in_and_sends_the_cookie_as_a_bearer_token() {
    let app = app(None, false).await;
    create_user(&app, "ada", false).await;
    create_user(&app, "root", true).await;

    // Project-W's tests/conftest.py: log in, read the `token` cookie, send it on.
    let response = login_as(&app, "ada@example.org", PASSWORD, "").await;
    assert_eq!(pw_json(&response, 200), json!("Success. Returning your login token as a cookie"));
    let cookie = response.header("set-cookie").unwrap().to_string();
    let token = token_cookie(&response);
    assert!(token.starts_with("cvs_"), "a Conveyor session: {cookie}");
    assert_eq!(cookie, format!("token={token}; HttpOnly; Max-Age=604800; Path=/; SameSite=lax"));
    assert_eq!(pw_json(&bearer(&app, "GET", JOBS_COUNT, &token).await, 200), json!(0));
    let by_cookie = send(&app, "GET", JOBS_COUNT, &[("cookie", &format!("theme=dark; token={token}"))], "").await;
    assert_eq!(pw_json(&by_cookie, 200), json!(0), "the cookie itself is a credential");
    // One user whichever surface: the session works on Conveyor's own routes too.
    let me = bearer(&app, "GET", "/api/v1/me", &token).await;
    assert_eq!((me.status, me.json()["username"].clone()), (200, json!("ada")), "{}", me.text());

    // Admin rights only with `scope=admin`.
    let root_user = login(&app, "root@example.org", PASSWORD, "").await;
    pw_refused(&bearer(&app, "POST", "/api/admins/create_runner", &root_user).await, 403, "Not enough permissions");
    let root_admin = login(&app, "ROOT@example.org", PASSWORD, "admin").await;
    let runner = pw_json(&bearer(&app, "POST", "/api/admins/create_runner", &root_admin).await, 200);
    assert!(runner["token"].as_str().is_some(), "{runner}");
    let native = json_as(&app, "/api/v1/auth/login", "", json!({"username": "root", "password": PASSWORD})).await;
    let native = native.json()["token"].as_str().unwrap().to_string();
    assert_eq!(bearer(&app, "GET", "/api/v1/users", &native).await.status, 200, "Conveyor's login keeps its rights");
    pw_refused(&login_as(&app, "ada@example.org", PASSWORD, "admin").await, 400, "Your user isn't an admin");
    pw_refused(
        &login_as(&app, "root@example.org", PASSWORD, "admin openid").await,
        400,
        "We don't support that token permission scope",
    );

    // Wrong credentials, and forms that are not forms.
    pw_refused(&login_as(&app, "ada@example.org", "Wrong-password-1", "").await, 401, "Incorrect username or password");
    pw_refused(&login_as(&app, "nobody@example.org", PASSWORD, "").await, 401, "Incorrect username or password");
    pw_refused(&login_as(&app, "ada", PASSWORD, "").await, 401, "Provided username is not a valid email address");
    let no_password =
        send(&app, "POST", "/api/local-account/login", &[("content-type", FORM)], "username=a%40b.cd").await;
    assert_eq!(
        pw_json(&no_password, 422),
        json!({"detail": [{"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": null}]})
    );
    let as_json =
        json_as(&app, "/api/local-account/login", "", json!({"username": "ada@example.org", "password": PASSWORD}));
    let as_json = pw_json(&as_json.await, 422);
    assert_eq!(as_json["detail"].as_array().map(Vec::len), Some(2), "JSON is no form: {as_json}");
    let grant = send(
        &app,
        "POST",
        "/api/local-account/login",
        &[("content-type", FORM)],
        "grant_type=client_credentials&username=ada%40example.org&password=x",
    )
    .await;
    assert_eq!(pw_json(&grant, 422)["detail"][0]["type"], "string_pattern_mismatch");
    pw_refused(&bearer(&app, "GET", JOBS_COUNT, "cvs_not-a-session").await, 401, "Could not validate token");
}

#[tokio::test]
async fn signup_activation_reset_and_changes_go_through_conveyors_accounts() {
    let hook = Hook::start().await;
    let app = app(Some(&hook), true).await;
    let signup = |body: Value| json_as(&app, "/api/local-account/signup", "", body);

    let weak = pw_json(&signup(json!({"email": "ada", "password": "short"})).await, 422);
    assert_eq!(
        weak,
        json!({"detail": [
            {"type": "value_error", "loc": ["body", "email"], "msg": "Value error, The email address is not valid.",
                "input": "ada", "ctx": {"error": {}}},
            {"type": "value_error", "loc": ["body", "password"],
                "msg": "Value error, The password needs to have at least one lowercase letter, uppercase letter, number, special character and at least 12 characters in total",
                "input": null, "ctx": {"error": {}}},
        ]})
    );
    assert_eq!(pw_json(&signup(json!({"email": "ada@example.org"})).await, 422)["detail"][0]["type"], "missing");
    let malformed = send(&app, "POST", "/api/local-account/signup", &[("content-type", "application/json")], "{").await;
    assert_eq!(pw_json(&malformed, 422)["detail"][0]["type"], "json_invalid");
    assert!(hook.events().is_empty(), "nothing was signed up");

    let created = pw_json(&signup(json!({"email": "ada@example.org", "password": PASSWORD})).await, 200);
    assert_eq!(created, json!("Successfully created user. The activation email will be sent shortly."));
    let activation = hook.last("user.activation");
    assert_eq!((activation["email"].as_str(), activation["username"].as_str()), (Some("ada@example.org"), Some("ada")));
    // A registered address answers the same, creates nothing and tells the address's owner.
    let again = pw_json(&signup(json!({"email": "ADA@example.org", "password": "Other-password-1"})).await, 200);
    assert_eq!(again, created);
    assert_eq!(hook.last("user.signup_existing")["email"], "ADA@example.org");

    // Not activated yet: the right password learns it, the wrong one does not.
    let early = pw_json(&login_as(&app, "ada@example.org", PASSWORD, "").await, 403);
    assert_eq!(early["detail"], "this account is not activated yet");
    pw_refused(&login_as(&app, "ada@example.org", "Wrong-password-1", "").await, 401, "Incorrect username or password");

    let missing = pw_json(&activate(&app, "").await, 422);
    assert_eq!(missing["detail"][0]["loc"], json!(["query", "token"]));
    pw_refused(&activate(&app, "?token=cva_nope").await, 401, "Could not validate account activation token");
    let token = activation["token"].as_str().unwrap().to_string();
    assert_eq!(pw_json(&activate(&app, &format!("?token={token}")).await, 200), json!("Success"));
    pw_refused(&activate(&app, &format!("?token={token}")).await, 401, "Could not validate account activation token");

    let session = login(&app, "ada@example.org", PASSWORD, "").await;
    let info = pw_json(&bearer(&app, "GET", "/api/users/info", &session).await, 200);
    let id = info["id"].as_i64().unwrap();
    assert_eq!(
        info,
        json!({"id": id, "email": "ada@example.org", "accepted_tos": {}, "provider_name": "project-W",
            "user_type": "local", "is_verified": true})
    );
    pw_refused(
        &bearer(&app, "GET", "/api/local-account/resend_activation_email", &session).await,
        400,
        "This user is already verified",
    );

    // Password reset: one answer for every address.
    pw_refused(&reset(&app, "nope").await, 400, "The provided email is not a valid email address");
    let unknown = pw_json(&reset(&app, "ghost@example.org").await, 200);
    assert_eq!(
        unknown,
        json!(
            "If a local Project-W account with the address ghost@example.org exists then a password reset email will be sent shortly."
        )
    );
    hook.last("user.password_reset_unknown");
    let known = pw_json(&reset(&app, "ada@example.org").await, 200);
    assert_eq!(known, json!(unknown.as_str().unwrap().replace("ghost", "ada")));
    let reset_token = hook.last("user.password_reset")["token"].as_str().unwrap().to_string();
    let confirm = |token: &str, password: &str| {
        json_as(&app, "/api/local-account/reset_password", "", json!({"token": token, "new_password": password}))
    };
    pw_refused(&confirm("cvr_nope", "New-password-1").await, 401, "Could not validate password reset token");
    assert_eq!(pw_json(&confirm(&reset_token, "weak").await, 422)["detail"][0]["loc"], json!(["body", "new_password"]));
    assert_eq!(pw_json(&confirm(&reset_token, "New-password-1").await, 200), json!("Success"));
    pw_refused(&bearer(&app, "GET", "/api/users/info", &session).await, 401, "Could not validate token");
    let session = login(&app, "ada@example.org", "New-password-1", "").await;

    // A password change needs the current password.
    let change_password = |current: &str, new: &str| {
        json_as(
            &app,
            "/api/local-account/change_user_password",
            &session,
            json!({"new_password": new, "password": current}),
        )
    };
    pw_refused(&change_password("Wrong-password-1", "Newer-password-1").await, 403, "Confirmation password invalid");
    assert_eq!(pw_json(&change_password("New-password-1", "weak").await, 422)["detail"][0]["type"], "value_error");
    let changed = pw_json(&change_password("New-password-1", "Newer-password-1").await, 200);
    assert_eq!(changed, json!("Successfully updated user password"));
    login(&app, "ada@example.org", "Newer-password-1", "").await;
    assert_eq!(
        pw_json(&bearer(&app, "GET", JOBS_COUNT, &session).await, 200),
        json!(0),
        "the session that changed it stays"
    );

    // So does an email change; the new address confirms it through Project-W's one activation link.
    let change_email = |current: &str, email: &str| {
        json_as(
            &app,
            "/api/local-account/change_user_email",
            &session,
            json!({"new_email": email, "password": current}),
        )
    };
    pw_refused(&change_email("Wrong-password-1", "ada@new.example.org").await, 403, "Confirmation password invalid");
    assert_eq!(
        pw_json(&change_email("Newer-password-1", "nope").await, 422)["detail"][0]["loc"],
        json!(["body", "new_email"])
    );
    let requested = pw_json(&change_email("Newer-password-1", "ada@new.example.org").await, 200);
    assert!(requested.as_str().unwrap().starts_with("Successfully requested email address change."), "{requested}");
    let change = hook.last("user.email_change");
    assert_eq!(change["email"], "ada@new.example.org");
    assert_eq!(
        pw_json(&activate(&app, &format!("?token={}", change["token"].as_str().unwrap())).await, 200),
        json!("Success")
    );
    let info = pw_json(&bearer(&app, "GET", "/api/users/info", &session).await, 200);
    assert_eq!(info["email"], "ada@new.example.org");
    login(&app, "ada@new.example.org", "Newer-password-1", "").await;
}

#[tokio::test]
async fn signup_is_refused_unless_allowed() {
    let app = app(None, false).await;
    let body = json!({"email": "ada@example.org", "password": PASSWORD});
    pw_refused(
        &json_as(&app, "/api/local-account/signup", "", body).await,
        405,
        "Signup of new local accounts is disabled on this server",
    );
    let weak = json_as(&app, "/api/local-account/signup", "", json!({"email": "ada@example.org", "password": "x"}));
    assert_eq!(weak.await.status, 422, "the body is validated first, as FastAPI does");
    pw_refused(&login_as(&app, "ada@example.org", PASSWORD, "").await, 401, "Incorrect username or password");
}

#[tokio::test]
async fn tokens_sessions_logout_terms_and_closing_an_account() {
    let app = app(None, false).await;
    create_user(&app, "ada", false).await;
    create_user(&app, "bob", true).await;
    let ada = login(&app, "ada@example.org", PASSWORD, "").await;
    let bob_admin = login(&app, "bob@example.org", PASSWORD, "admin").await;

    // API tokens: named, never admin, never expiring.
    let laptop = pw_json(&bearer(&app, "POST", "/api/users/get_new_api_token?name=laptop", &ada).await, 200);
    let laptop = laptop.as_str().unwrap().to_string();
    assert!(laptop.starts_with("cvt_"));
    assert_eq!(pw_json(&bearer(&app, "GET", JOBS_COUNT, &laptop).await, 200), json!(0));
    let bob_api = pw_json(&bearer(&app, "POST", "/api/users/get_new_api_token?name=ci", &bob_admin).await, 200);
    let bob_api = bob_api.as_str().unwrap().to_string();
    pw_refused(&bearer(&app, "POST", "/api/admins/create_runner", &bob_api).await, 403, "Not enough permissions");
    let no_name = pw_json(&bearer(&app, "POST", "/api/users/get_new_api_token", &ada).await, 422);
    assert_eq!(no_name["detail"][0]["loc"], json!(["query", "name"]));
    let blank = pw_json(&bearer(&app, "POST", "/api/users/get_new_api_token?name=%20", &ada).await, 422);
    assert_eq!(blank["detail"][0]["loc"], json!(["query", "name"]));

    // The list: sessions (named after the client) and API tokens, the most recently used first.
    let listed = pw_json(&bearer(&app, "GET", "/api/users/get_all_token_info", &ada).await, 200);
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let find = |explicit: bool| listed.iter().find(|t| t["explicit"] == explicit).unwrap().clone();
    let (session, token) = (find(false), find(true));
    let keys = |value: &Value| {
        let mut keys = value.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        keys.sort_unstable();
        keys
    };
    assert_eq!(keys(&session), ["admin_privileges", "expires_at", "explicit", "id", "last_usage", "name"]);
    assert_eq!(
        (session["name"].clone(), session["admin_privileges"].clone()),
        (json!("python-httpx/0.28.1"), json!(false))
    );
    assert!(session["expires_at"].as_str().is_some_and(|at| at.ends_with('Z')), "{session}");
    assert_eq!((token["name"].clone(), token["expires_at"].clone()), (json!("laptop"), Value::Null));
    assert!(token["last_usage"].as_str().is_some_and(|at| at.len() == 20), "{token}");
    let bob_list = pw_json(&bearer(&app, "GET", "/api/users/get_all_token_info", &bob_admin).await, 200);
    let bob_session = bob_list.as_array().unwrap().iter().find(|t| t["explicit"] == false).unwrap().clone();
    assert_eq!(bob_session["admin_privileges"], true, "an admin-scoped session: {bob_list}");

    // Invalidating another user's token is a no-op that answers the same; one's own token dies at once.
    let bob_session_id = bob_session["id"].as_i64().unwrap();
    let foreign = format!("/api/users/invalidate_token?token_id={bob_session_id}");
    assert_eq!(pw_json(&bearer(&app, "DELETE", &foreign, &ada).await, 200), json!("Success"));
    assert_eq!(bearer(&app, "GET", "/api/users/info", &bob_admin).await.status, 200, "bob's session lives on");
    let bad_id = pw_json(&bearer(&app, "DELETE", "/api/users/invalidate_token?token_id=x", &ada).await, 422);
    assert_eq!(bad_id["detail"][0]["type"], "int_parsing");
    let own = format!("/api/users/invalidate_token?token_id={}", token["id"]);
    assert_eq!(pw_json(&bearer(&app, "DELETE", &own, &ada).await, 200), json!("Success"));
    pw_refused(&bearer(&app, "GET", JOBS_COUNT, &laptop).await, 401, "Could not validate token");

    // Terms: Conveyor has none.
    let terms = bearer(&app, "POST", "/api/users/accept_tos?tos_id=1&tos_version=2", &ada).await;
    pw_refused(&terms, 400, "No term of service found with id 1 and version 2");
    let terms = pw_json(&bearer(&app, "POST", "/api/users/accept_tos?tos_id=1", &ada).await, 422);
    assert_eq!(terms["detail"][0]["loc"], json!(["query", "tos_version"]));

    // Logout ends the credential the request used, and clears the cookie.
    let out = send(&app, "DELETE", "/api/users/logout", &[("cookie", &format!("token={ada}"))], "").await;
    assert_eq!(pw_json(&out, 200), json!("Success"));
    assert_eq!(out.header("set-cookie"), Some("token=\"\"; HttpOnly; Max-Age=0; Path=/; SameSite=lax"));
    pw_refused(&bearer(&app, "GET", "/api/users/info", &ada).await, 401, "Could not validate token");
    let stale = send(&app, "DELETE", "/api/users/logout", &[("cookie", &format!("token={ada}"))], "").await;
    pw_refused(&stale, 401, "Could not validate token");
    assert!(stale.header("set-cookie").is_some(), "a stale cookie is cleared too");
    let api = pw_json(&bearer(&app, "POST", "/api/users/get_new_api_token?name=x", &bob_admin).await, 200);
    let api = api.as_str().unwrap().to_string();
    assert_eq!(pw_json(&bearer(&app, "DELETE", "/api/users/logout", &api).await, 200), json!("Success"));
    pw_refused(&bearer(&app, "GET", "/api/users/info", &api).await, 401, "Could not validate token");

    // Invalidating all: every token and session, this one included.
    let second = login(&app, "bob@example.org", PASSWORD, "").await;
    assert_eq!(
        pw_json(&bearer(&app, "DELETE", "/api/users/invalidate_all_tokens", &second).await, 200),
        json!("Success")
    );
    for gone in [&second, &bob_admin, &bob_api] {
        pw_refused(&bearer(&app, "GET", "/api/users/info", gone).await, 401, "Could not validate token");
    }

    // Closing an account takes its jobs: a queued one is cancelled, so no runner is ever given it.
    let ada = login(&app, "ada@example.org", PASSWORD, "").await;
    let (content_type, body) = audio_form();
    let submitted = send(
        &app,
        "POST",
        "/api/jobs/submit_job",
        &[("authorization", &format!("Bearer {ada}")), ("content-type", &content_type)],
        &body,
    )
    .await;
    assert!(pw_json(&submitted, 200).as_i64().is_some());
    assert_eq!(pw_json(&bearer(&app, "DELETE", "/api/users/delete", &ada).await, 200), json!("Success"));
    pw_refused(&bearer(&app, "GET", "/api/users/info", &ada).await, 401, "Could not validate token");
    let gone = bearer(&app, "GET", "/api/v1/users/ada", &admin_token(&app)).await;
    assert_eq!(gone.status, 404, "{}", gone.text());
    let runner = pw_json(&bearer(&app, "POST", "/api/admins/create_runner", &admin_token(&app)).await, 200);
    let runner = runner["token"].as_str().unwrap().to_string();
    let register_body =
        r#"{"name":"r","version":"0.6.0","git_hash":"x","source_code_url":"https://example.org","priority":100}"#;
    let registered = send(
        &app,
        "POST",
        "/api/runners/register",
        &[("authorization", &format!("Bearer {runner}")), ("content-type", "application/json")],
        register_body,
    )
    .await;
    let session = pw_json(&registered, 200)["session_token"].as_str().unwrap().to_string();
    let beat = send(
        &app,
        "POST",
        &format!("/api/runners/heartbeat?session_token={session}"),
        &[("authorization", &format!("Bearer {runner}")), ("content-type", "application/json")],
        "{\"progress\":0.0}",
    )
    .await;
    assert_eq!(pw_json(&beat, 200), json!({"abort": false, "job_assigned": false}), "the closed account's job is gone");
    pw_refused(
        &bearer(&app, "GET", "/api/users/info", &admin_token(&app)).await,
        403,
        "The built-in administrator has no account; sign in as a user for this",
    );
}

/// A multipart upload of a tiny audio file, as httpx writes it.
fn audio_form() -> (String, String) {
    let boundary = "9b1c1d4e5f60718293a4b5c6d7e8f901";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"audio_file\"; filename=\"a.aac\"\r\nContent-Type: audio/aac\r\n\r\nxyz\r\n--{boundary}--\r\n"
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn refusals_credentials_and_cross_site_cookies() {
    let app = app(None, false).await;
    create_user(&app, "ada", false).await;
    let session = login(&app, "ada@example.org", PASSWORD, "").await;
    let runner = pw_json(&bearer(&app, "POST", "/api/admins/create_runner", &admin_token(&app)).await, 200);
    let runner = runner["token"].as_str().unwrap().to_string();

    let routes = [
        ("POST", "/api/users/get_new_api_token?name=x"),
        ("DELETE", "/api/users/invalidate_token?token_id=1"),
        ("DELETE", "/api/users/invalidate_all_tokens"),
        ("DELETE", "/api/users/logout"),
        ("GET", "/api/users/get_all_token_info"),
        ("GET", "/api/users/info"),
        ("POST", "/api/users/accept_tos?tos_id=1&tos_version=1"),
        ("DELETE", "/api/users/delete"),
        ("GET", "/api/local-account/resend_activation_email"),
        ("POST", "/api/local-account/change_user_email"),
        ("POST", "/api/local-account/change_user_password"),
    ];
    for (method, path) in routes {
        let anonymous = send(&app, method, path, &[], "").await;
        pw_refused(&anonymous, 401, "Not authenticated");
        pw_refused(&bearer(&app, method, path, &runner).await, 401, "Could not validate token");
        pw_refused(&bearer(&app, method, path, "cvt_nope").await, 401, "Could not validate token");
        let stale = send(&app, method, path, &[("cookie", "token=cvs_stale")], "").await;
        pw_refused(&stale, 401, "Could not validate token");
    }

    // A change made with the cookie alone must come from this site; a bearer token may come from anywhere.
    let origin = app.url("");
    let cookie = format!("token={session}");
    let evil = [("cookie", cookie.as_str()), ("origin", "http://evil.example")];
    let create = "/api/users/get_new_api_token?name=stolen";
    let refused = pw_json(&send(&app, "POST", create, &evil, "").await, 403);
    assert!(refused["detail"].as_str().unwrap().starts_with("cross-site request refused"), "{refused}");
    let fetch_metadata = [("cookie", cookie.as_str()), ("sec-fetch-site", "cross-site")];
    assert_eq!(send(&app, "DELETE", "/api/users/logout", &fetch_metadata, "").await.status, 403);
    let resend = send(&app, "GET", "/api/local-account/resend_activation_email", &evil, "").await;
    assert_eq!(resend.status, 403, "a GET that sends mail is a change: {}", resend.text());
    assert_eq!(pw_json(&send(&app, "GET", "/api/users/info", &evil, "").await, 200)["email"], "ada@example.org");
    let auth = format!("Bearer {session}");
    let with_bearer = [("authorization", auth.as_str()), ("origin", "http://evil.example")];
    assert!(
        pw_json(&send(&app, "POST", create, &with_bearer, "").await, 200).is_string(),
        "the bearer is not a cookie"
    );
    let same_site = [("cookie", cookie.as_str()), ("origin", origin.as_str())];
    assert!(pw_json(&send(&app, "POST", create, &same_site, "").await, 200).is_string());
    let listed = pw_json(&bearer(&app, "GET", "/api/users/get_all_token_info", &session).await, 200);
    let names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names.iter().filter(|name| **name == "stolen").count(), 2, "only the two allowed: {names:?}");
    assert_eq!(pw_json(&bearer(&app, "GET", "/api/users/info", &session).await, 200)["email"], "ada@example.org");
    // Job routes read the cookie through the same check.
    let abort = send(
        &app,
        "POST",
        "/api/jobs/abort",
        &[("cookie", cookie.as_str()), ("origin", "http://evil.example"), ("content-type", "application/json")],
        "[]",
    )
    .await;
    assert_eq!(abort.status, 403, "{}", abort.text());

    // Routes and methods Project-W does not have.
    pw_refused(&bearer(&app, "GET", "/api/users/logout", &session).await, 405, "Method Not Allowed");
    pw_refused(&bearer(&app, "GET", "/api/users/nothing", &session).await, 404, "Not Found");
    pw_refused(&send(&app, "GET", "/api/local-account/login", &[], "").await, 405, "Method Not Allowed");
}

#[tokio::test]
async fn oidc_and_ldap_answer_as_an_instance_without_providers() {
    let app = app(None, false).await;
    create_user(&app, "ada", false).await;
    let form = [("content-type", FORM)];
    for (method, path) in [
        ("GET", "/api/oidc/login/google"),
        ("GET", "/api/oidc/auth/google?code=x&state=y"),
        ("POST", "/api/ldap/login/corporate"),
        ("GET", "/api/ldap/login/corporate"),
    ] {
        let body = "username=ada%40example.org&password=Password-1234";
        pw_refused(&send(&app, method, path, &form, body).await, 404, "Not Found");
    }
    let settings = pw_json(&send(&app, "GET", "/api/auth_settings", &[], "").await, 200);
    assert_eq!((settings["oidc_providers"].clone(), settings["ldap_providers"].clone()), (json!({}), json!({})));
}
