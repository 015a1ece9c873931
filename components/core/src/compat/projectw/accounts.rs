//! Project-W's accounts on Conveyor's (docs/projectw.md, "Accounts and sign-in"): the OAuth2 password form
//! of `/local-account/login` and its scope, Project-W's password rule, the bodies of the account routes,
//! the `token` cookie, the answers of `/users/*`, and how the account services' errors read on Project-W's
//! wire. Every rule is the account services' (`crate::accounts`); here are only shapes.

use super::multipart;
use super::wire::{self, Refusal};
use crate::accounts::{self, CredentialInfo, EmailChangeInput, EmailSignupInput, PasswordChangeInput};
use crate::accounts::{ResetConfirmInput, SessionScope};
use crate::auth::SESSION_COOKIE;
use crate::db::Db;
use crate::domain::accounts::{self as rules, SESSION_TTL};
use crate::error::ApiError;
use crate::http::Response;
use crate::store::users::User;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

/// Project-W's session cookie.
pub const TOKEN_COOKIE: &str = "token";

/// The cookies a Project-W user route takes a session from, in this order (`Authorization` wins over both):
/// Project-W's own, then Conveyor's.
pub const SESSION_COOKIES: &[&str] = &[TOKEN_COOKIE, SESSION_COOKIE];

/// `/local-account/login`'s answer (the token itself is only in the cookie).
pub const LOGIN_SUCCESS: &str = "Success. Returning your login token as a cookie";

/// Project-W's rule for new passwords (`PasswordValidated`), as its validator words it.
pub const PASSWORD_RULE: &str = "The password needs to have at least one lowercase letter, uppercase letter, number, special character and at least 12 characters in total";

/// The `Set-Cookie` of a login: the session for as long as it lives, `HttpOnly` (Project-W's is not: its
/// web client never reads the cookie), `Secure` on https.
pub fn token_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{TOKEN_COOKIE}={token}; HttpOnly; Max-Age={SESSION_TTL}; Path=/; SameSite=lax{secure}")
}

/// The `Set-Cookie` of a logout: the cookie emptied and expired.
pub fn cleared_token_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{TOKEN_COOKIE}=\"\"; HttpOnly; Max-Age=0; Path=/; SameSite=lax{secure}")
}

/// The fields of `/local-account/login`'s OAuth2 password form that matter (`grant_type` is checked,
/// `client_id` and `client_secret` are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginForm {
    /// The email address.
    pub username: String,
    pub password: String,
    /// Space-separated scopes: none, or `admin`.
    pub scope: String,
}

/// Reads the login form as FastAPI's `OAuth2PasswordRequestForm` does: urlencoded or multipart fields (the
/// last of a repeated one wins, an empty one counts as absent), 422 for a missing `username` or `password`
/// or a `grant_type` other than `password`; a body of another type is an empty form. 400 for a multipart
/// body that does not parse.
pub fn login_form(content_type: Option<&str>, body: &[u8]) -> Result<LoginForm, Refusal> {
    let fields = form_fields(content_type.unwrap_or_default(), body)?;
    let value =
        |name: &str| fields.iter().rev().find(|(key, _)| key == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let mut errors = Vec::new();
    if let Some(grant) = value("grant_type").filter(|grant| grant != "password") {
        errors.push(json!({"type": "string_pattern_mismatch", "loc": ["body", "grant_type"],
            "msg": "String should match pattern '^password$'", "input": grant, "ctx": {"pattern": "^password$"}}));
    }
    let (username, password) = (value("username"), value("password"));
    for (name, given) in [("username", &username), ("password", &password)] {
        if given.is_none() {
            errors.push(missing(&["body", name]));
        }
    }
    match (username, password) {
        (Some(username), Some(password)) if errors.is_empty() => {
            Ok(LoginForm { username, password, scope: value("scope").unwrap_or_default() })
        }
        _ => Err(Refusal::unprocessable(errors)),
    }
}

fn form_fields(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Ok(form_urlencoded::parse(body).into_owned().collect()),
        "multipart/form-data" => {
            let unparsable = || Refusal::bad_request("There was an error parsing the body");
            let boundary = multipart::boundary(content_type).map_err(|_| unparsable())?;
            let parts = multipart::parse(body, &boundary).map_err(|_| unparsable())?;
            Ok(parts
                .into_iter()
                .filter(|(head, _)| head.filename.is_none())
                .map(|(head, data)| (head.name, String::from_utf8_lossy(&data).into_owned()))
                .collect())
        }
        _ => Ok(Vec::new()),
    }
}

fn missing(loc: &[&str]) -> Json {
    json!({"type": "missing", "loc": loc, "msg": "Field required", "input": null})
}

/// The login's `username` as an email address (401 otherwise, as Project-W answers).
pub fn login_email(username: &str) -> Result<String, Refusal> {
    let email = username.trim();
    rules::email(email).map_err(|_| Refusal::new(401, "Provided username is not a valid email address"))?;
    Ok(email.to_string())
}

/// The session a login's `scope` asks for: none is a user's rights, `admin` an administrator's; anything
/// else is a 400.
pub fn session_scope(scope: &str) -> Result<SessionScope, Refusal> {
    let mut wanted = SessionScope::User;
    for scope in scope.split_whitespace() {
        if scope != "admin" {
            return Err(Refusal::bad_request("We don't support that token permission scope"));
        }
        wanted = SessionScope::Admin;
    }
    Ok(wanted)
}

/// A login's refusal: wrong credentials are Project-W's one 401, admin scope for a non-administrator its
/// 400; a disabled or not yet activated account (403) and a throttled client (429) keep Conveyor's detail.
pub fn login_refusal(error: ApiError) -> Refusal {
    match &error {
        ApiError::Unauthorized(_) => Refusal::new(401, "Incorrect username or password"),
        ApiError::BadRequest { code: "not_admin", .. } => Refusal::bad_request("Your user isn't an admin"),
        _ => error.into(),
    }
}

/// Whether a new password follows Project-W's rule: at least 12 characters with an ASCII lowercase and
/// uppercase letter, an ASCII digit and any other character — exactly what its regular expression
/// `^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[^a-zA-Z0-9]).{12,}$` accepts under Python's `re.match` (no line
/// breaks, but one final `\n`, which then counts as the special character).
pub fn follows_password_rule(password: &str) -> bool {
    let line = password.strip_suffix('\n').unwrap_or(password);
    if line.contains('\n') {
        return false;
    }
    let has = |test: fn(&char) -> bool| line.chars().any(|c| test(&c));
    line.chars().count() >= 12
        && has(char::is_ascii_uppercase)
        && has(char::is_ascii_lowercase)
        && has(char::is_ascii_digit)
        && (has(|c| !c.is_ascii_alphanumeric()) || line.len() < password.len())
}

/// The 422 entry of a password against Project-W's rule (the password itself is never echoed: `input` is
/// null).
fn password_error(field: &str) -> Json {
    json!({"type": "value_error", "loc": ["body", field], "msg": format!("Value error, {PASSWORD_RULE}"),
        "input": null, "ctx": {"error": {}}})
}

fn email_error(field: &str, input: &str) -> Json {
    json!({"type": "value_error", "loc": ["body", field], "msg": "Value error, The email address is not valid.",
        "input": input, "ctx": {"error": {}}})
}

/// 422 listing every failed check, in field order.
fn checked(errors: Vec<Json>) -> Result<(), Refusal> {
    if errors.is_empty() { Ok(()) } else { Err(Refusal::unprocessable(errors)) }
}

#[derive(Deserialize)]
struct SignupBody {
    email: String,
    password: String,
}

/// `/local-account/signup`'s `{"email", "password"}`: a valid address and a password of Project-W's rule.
pub fn signup_body(bytes: &[u8]) -> Result<EmailSignupInput, Refusal> {
    let body: SignupBody = wire::body(bytes)?;
    let email = body.email.trim().to_string();
    let mut errors = Vec::new();
    if rules::email(&email).is_err() {
        errors.push(email_error("email", &body.email));
    }
    if !follows_password_rule(&body.password) {
        errors.push(password_error("password"));
    }
    checked(errors)?;
    Ok(EmailSignupInput { email, password: body.password })
}

/// A sign-up's answer, the same whether or not the address was registered (Project-W's names the new id,
/// which would tell).
pub const SIGNUP_SUCCESS: &str = "Successfully created user. The activation email will be sent shortly.";

/// A sign-up's refusal: sign-up switched off is Project-W's 405.
pub fn signup_refusal(error: ApiError) -> Refusal {
    match error {
        ApiError::Forbidden(_) => Refusal::new(405, "Signup of new local accounts is disabled on this server"),
        other => other.into(),
    }
}

/// `/local-account/activate?token=`: Project-W sends one link for both, so the token is an activation
/// token, or else the confirmation of an email change. 401 for a token that is neither (unknown, used or
/// expired); 400 when the new address was taken meanwhile.
pub fn activate(db: &dyn Db, token: &str, now: i64) -> Result<(), Refusal> {
    let invalid = |error: &ApiError| matches!(error, ApiError::BadRequest { code: "invalid_token", .. });
    let outcome = match accounts::activate(db, token, now) {
        Err(error) if invalid(&error) => accounts::confirm_email(db, token, now),
        activated => activated,
    };
    match outcome {
        Ok(_) => Ok(()),
        Err(error) if invalid(&error) => Err(Refusal::new(401, "Could not validate account activation token")),
        Err(ApiError::Conflict { detail, .. }) => Err(Refusal::bad_request(detail)),
        Err(other) => Err(other.into()),
    }
}

/// The address of `/local-account/request_password_reset?email=` (400 when it is none).
pub fn reset_email(email: &str) -> Result<(), Refusal> {
    rules::email(email.trim()).map_err(|_| Refusal::bad_request("The provided email is not a valid email address"))
}

/// What `/local-account/request_password_reset` answers for every address.
pub fn reset_requested(email: &str) -> String {
    format!(
        "If a local Project-W account with the address {email} exists then a password reset email will be sent shortly."
    )
}

#[derive(Deserialize)]
struct ResetBody {
    token: String,
    new_password: String,
}

/// `/local-account/reset_password`'s `{"token", "new_password"}`.
pub fn reset_body(bytes: &[u8]) -> Result<ResetConfirmInput, Refusal> {
    let body: ResetBody = wire::body(bytes)?;
    checked(if follows_password_rule(&body.new_password) { vec![] } else { vec![password_error("new_password")] })?;
    Ok(ResetConfirmInput { token: body.token, new_password: body.new_password })
}

/// A password reset's refusal: an unknown, used or expired token is Project-W's 401.
pub fn reset_refusal(error: ApiError) -> Refusal {
    match error {
        ApiError::BadRequest { code: "invalid_token", .. } => {
            Refusal::new(401, "Could not validate password reset token")
        }
        other => other.into(),
    }
}

#[derive(Deserialize)]
struct EmailChangeBody {
    new_email: String,
    password: String,
}

/// `/local-account/change_user_email`'s `{"new_email", "password"}` (the password is the current one).
pub fn email_change_body(bytes: &[u8]) -> Result<EmailChangeInput, Refusal> {
    let body: EmailChangeBody = wire::body(bytes)?;
    let new_email = body.new_email.trim().to_string();
    checked(if rules::email(&new_email).is_ok() { vec![] } else { vec![email_error("new_email", &body.new_email)] })?;
    Ok(EmailChangeInput { current_password: body.password, new_email })
}

/// `/local-account/change_user_email`'s answer (a taken address answers alike: only its owner learns of
/// the clash).
pub const EMAIL_CHANGE_REQUESTED: &str = "Successfully requested email address change. An email confirmation email will be sent to you shortly. Please click on the link in that email to complete the email changing process.";

#[derive(Deserialize)]
struct PasswordChangeBody {
    new_password: String,
    password: String,
}

/// `/local-account/change_user_password`'s `{"new_password", "password"}` (the password is the current
/// one).
pub fn password_change_body(bytes: &[u8]) -> Result<PasswordChangeInput, Refusal> {
    let body: PasswordChangeBody = wire::body(bytes)?;
    checked(if follows_password_rule(&body.new_password) { vec![] } else { vec![password_error("new_password")] })?;
    Ok(PasswordChangeInput { current_password: body.password, new_password: body.new_password })
}

/// The refusal of a change confirmed with the current password: a wrong one is Project-W's 403.
pub fn confirmed_change_refusal(error: ApiError) -> Refusal {
    match &error {
        ApiError::Validation { errors, .. } if errors.iter().any(|e| e.field == "current_password") => {
            Refusal::new(403, "Confirmation password invalid")
        }
        _ => error.into(),
    }
}

/// A refusal as an answer, with the `Retry-After` of a throttled request (the only header a Conveyor error
/// adds that Project-W's shape does not carry).
pub fn refused(error: ApiError, refusal: impl FnOnce(ApiError) -> Refusal) -> Response {
    let retry_after = error.headers().into_iter().find(|(name, _)| *name == "retry-after");
    let response = refusal(error).response();
    match retry_after {
        Some((name, value)) => response.with_header(name, value),
        None => response,
    }
}

/// `/local-account/resend_activation_email`'s refusal: an activated account is Project-W's 400.
pub fn resend_refusal(error: ApiError) -> Refusal {
    match error {
        ApiError::Conflict { code: "already_verified", .. } => Refusal::bad_request("This user is already verified"),
        other => other.into(),
    }
}

/// `UserResponse` of `/users/info`: every Conveyor user is a local account of the provider `project-W`;
/// Conveyor has no terms of service, so none are accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct UserInfo {
    pub id: i64,
    pub email: String,
    pub accepted_tos: Map<String, Json>,
    pub provider_name: &'static str,
    pub user_type: &'static str,
    pub is_verified: bool,
}

impl From<&User> for UserInfo {
    fn from(user: &User) -> Self {
        UserInfo {
            id: user.id,
            email: user.email.clone(),
            accepted_tos: Map::new(),
            provider_name: "project-W",
            user_type: "local",
            is_verified: user.verified,
        }
    }
}

/// `/users/accept_tos`'s refusal: Conveyor has no terms, so every id and version is unknown.
pub fn unknown_terms(id: i64, version: i64) -> Refusal {
    Refusal::bad_request(format!("No term of service found with id {id} and version {version}"))
}

/// `TokenInfoResponse` of `/users/get_all_token_info`: `explicit` for a named token (a session is not),
/// `admin_privileges` the effective right, times as ISO 8601; `last_usage` of a credential never used is its
/// creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub admin_privileges: bool,
    pub explicit: bool,
    pub expires_at: Option<String>,
    pub last_usage: String,
}

impl From<&CredentialInfo> for TokenInfo {
    fn from(credential: &CredentialInfo) -> Self {
        let token = &credential.token;
        TokenInfo {
            id: token.id,
            name: token.name.clone(),
            admin_privileges: token.admin,
            explicit: !credential.session,
            expires_at: token.expires_at.map(crate::projectw::jobs::timestamp),
            last_usage: crate::projectw::jobs::timestamp(token.last_used_at.unwrap_or(token.created_at)),
        }
    }
}

/// `/users/get_new_api_token?name=`'s refusal: the name is a query parameter, so an invalid one is a 422 on
/// `["query", "name"]`.
pub fn new_token_refusal(error: ApiError, name: &str) -> Refusal {
    match &error {
        ApiError::Validation { errors, .. } if errors.iter().any(|e| e.field == "name") => {
            let message = errors.iter().find(|e| e.field == "name").map_or("", |e| e.message.as_str());
            Refusal::invalid("value_error", &["query", "name"], format!("Value error, the name {message}"), json!(name))
        }
        _ => error.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn refusal_detail(refusal: Refusal) -> Json {
        refusal.detail
    }

    #[test]
    fn the_login_form_reads_like_oauth2_password_request_form() {
        let body = b"grant_type=password&username=ada%40example.org&password=p%26ss+word&scope=admin&client_id=x";
        let form = login_form(FORM, body).unwrap();
        assert_eq!(
            form,
            LoginForm { username: "ada@example.org".into(), password: "p&ss word".into(), scope: "admin".into() }
        );
        let repeated = login_form(FORM, b"username=a@b.cd&username=ada@example.org&password=x&scope=").unwrap();
        assert_eq!((repeated.username.as_str(), repeated.scope.as_str()), ("ada@example.org", ""), "the last wins");
        assert!(login_form(FORM, b"username=a@b.cd&password=x&grant_type=").is_ok(), "an empty grant_type is none");

        let both_missing = login_form(FORM, b"username=&scope=admin").unwrap_err();
        assert_eq!(both_missing.status, 422);
        assert_eq!(
            refusal_detail(both_missing),
            json!([
                {"type": "missing", "loc": ["body", "username"], "msg": "Field required", "input": null},
                {"type": "missing", "loc": ["body", "password"], "msg": "Field required", "input": null},
            ])
        );
        let json_body = login_form(Some("application/json"), br#"{"username":"a@b.cd","password":"x"}"#);
        assert_eq!(json_body.unwrap_err().status, 422, "JSON is no form");
        assert_eq!(login_form(None, b"username=a@b.cd&password=x").unwrap_err().status, 422);
        let grant = login_form(FORM, b"grant_type=client_credentials&username=a@b.cd&password=x").unwrap_err();
        assert_eq!(grant.detail[0]["type"], "string_pattern_mismatch");
        assert_eq!(grant.detail[0]["ctx"], json!({"pattern": "^password$"}));
    }

    #[test]
    fn the_login_form_may_be_multipart() {
        let boundary = "b0undary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nada@example.org\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nsecret\r\n--{boundary}--\r\n"
        );
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let form = login_form(Some(&content_type), body.as_bytes()).unwrap();
        assert_eq!((form.username.as_str(), form.password.as_str()), ("ada@example.org", "secret"));
        let broken = login_form(Some(&content_type), b"--nope").unwrap_err();
        assert_eq!((broken.status, broken.detail), (400, json!("There was an error parsing the body")));
    }

    #[test]
    fn scopes_and_usernames_refuse_as_project_w() {
        assert_eq!(session_scope("").unwrap(), SessionScope::User);
        assert_eq!(session_scope(" admin ").unwrap(), SessionScope::Admin);
        let other = session_scope("admin openid").unwrap_err();
        assert_eq!((other.status, other.detail), (400, json!("We don't support that token permission scope")));
        assert_eq!(login_email(" ada@example.org ").unwrap(), "ada@example.org");
        let bad = login_email("ada").unwrap_err();
        assert_eq!((bad.status, bad.detail), (401, json!("Provided username is not a valid email address")));
        assert_eq!(login_refusal(ApiError::Unauthorized("x".into())).detail, json!("Incorrect username or password"));
        let not_admin = login_refusal(ApiError::bad_request("not_admin", "x"));
        assert_eq!((not_admin.status, not_admin.detail), (400, json!("Your user isn't an admin")));
    }

    #[test]
    fn the_password_rule_is_project_ws_regular_expression() {
        for good in ["Password-1234", "aB3$aB3$aB3$", "Ünïcödé-Pässw0rd", "Abcdefghijk1\n", "Abcdefghij1 "] {
            assert!(follows_password_rule(good), "{good:?}");
        }
        for bad in [
            "",
            "Pass-1234",     // 9 characters
            "password-1234", // no uppercase
            "PASSWORD-1234", // no lowercase
            "Password-abcd", // no digit
            "Password12345", // no special character
            "Password-123\nx",
            "Abcdefghijk1\n\n",
            "Ab1-\nAb1-Ab1-Ab1-",
            "Ábcdefghijk1-", // Á is no ASCII uppercase
        ] {
            assert!(!follows_password_rule(bad), "{bad:?}");
        }
        assert!(!follows_password_rule("Abcdefghij1\n"), "11 characters before the final line break");
    }

    #[test]
    fn bodies_list_every_failure_like_fastapi() {
        let refused = signup_body(br#"{"email":"nope","password":"short"}"#).unwrap_err();
        assert_eq!(refused.status, 422);
        assert_eq!(
            refused.detail,
            json!([
                {"type": "value_error", "loc": ["body", "email"], "msg": "Value error, The email address is not valid.",
                    "input": "nope", "ctx": {"error": {}}},
                {"type": "value_error", "loc": ["body", "password"], "msg": format!("Value error, {PASSWORD_RULE}"),
                    "input": null, "ctx": {"error": {}}},
            ])
        );
        let good = signup_body(br#"{"email":" ada@example.org","password":"Password-1234","extra":1}"#).unwrap();
        assert_eq!((good.email.as_str(), good.password.as_str()), ("ada@example.org", "Password-1234"));
        assert_eq!(
            signup_body(br#"{"email":"ada@example.org"}"#).unwrap_err(),
            Refusal::missing(&["body", "password"])
        );
        assert_eq!(signup_body(b"").unwrap_err(), Refusal::missing(&["body"]));
        assert_eq!(signup_body(b"{").unwrap_err().status, 422);
        assert_eq!(
            reset_body(br#"{"token":"t","new_password":"weak"}"#).unwrap_err().detail[0]["loc"][1],
            "new_password"
        );
        let change = password_change_body(br#"{"new_password":"Password-1234","password":"old"}"#).unwrap();
        assert_eq!(change.current_password, "old");
        let email = email_change_body(br#"{"new_email":"x","password":"old"}"#).unwrap_err();
        assert_eq!(email.detail[0]["loc"], json!(["body", "new_email"]));
        assert_eq!(
            email_change_body(br#"{"new_email":"a@b.cd"}"#).unwrap_err(),
            Refusal::missing(&["body", "password"])
        );
    }

    #[test]
    fn cookies_and_shapes() {
        assert_eq!(token_cookie("cvs_x", false), "token=cvs_x; HttpOnly; Max-Age=604800; Path=/; SameSite=lax");
        assert!(token_cookie("cvs_x", true).ends_with("; Secure"));
        assert_eq!(cleared_token_cookie(false), "token=\"\"; HttpOnly; Max-Age=0; Path=/; SameSite=lax");
        let throttled = refused(ApiError::TooManyRequests { retry_after: 12.5 }, login_refusal);
        assert_eq!(throttled.status, 429);
        assert!(throttled.headers.contains(&("retry-after".into(), "13".into())));
        let wrong = confirmed_change_refusal(ApiError::invalid_field("current_password", "is not correct"));
        assert_eq!((wrong.status, wrong.detail), (403, json!("Confirmation password invalid")));
        let named = new_token_refusal(ApiError::invalid_field("name", "must not be blank"), " ");
        assert_eq!(named.detail[0]["loc"], json!(["query", "name"]));
        let closed = signup_refusal(ApiError::Forbidden("off".into()));
        assert_eq!(closed.status, 405);
    }
}
