//! Account services (SPEC §2): sign-up, activation, password reset, login/logout, password and email
//! change, named tokens, users and groups. The `accounts` component, the JSON-RPC endpoint and the
//! compatibility surfaces all call these functions, so the rules (who may do what, what is validated,
//! what is never revealed) live in one place. Decisions: `docs/accounts.md`.
//!
//! Every function takes the request's [`Ctx`] (database, key-value store, variables, outbound HTTP) and,
//! where access matters, the caller's [`Principal`]; it checks access itself, validates before writing,
//! and writes in one transaction.

use crate::auth::{self, Principal, UserPrincipal};
use crate::clock;
use crate::db::{self, Db};
use crate::domain::accounts::{self as rules, CODE_TTL, Checks, Ref, SESSION_TTL};
use crate::error::ApiError;
use crate::http::Request;
use crate::query::{self, Page, Query, Resource, Scope};
use crate::router::Ctx;
use crate::secrets;
use crate::store::codes::{self, NewCode, Purpose};
use crate::store::groups::{self, Group};
use crate::store::tokens::{self, NewToken, Token, TokenKind};
use crate::store::users::{self, NewUser, User};
use crate::throttle::{self, Limit};
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// A user may hold at most this many named tokens.
pub const MAX_TOKENS_PER_USER: i64 = 100;
/// Password-reset requests per client address: 10 per 15 minutes (keeps the notification hook from being
/// used to flood mailboxes).
pub const RESETS_PER_ADDRESS: Limit = Limit { max_failures: 10, window: 15 * 60 };

// ----- request bodies (unknown fields are refused with 422) -----

/// `POST /auth/signup`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupInput {
    pub username: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
}

/// `POST /auth/activate`, `POST /auth/confirm-email`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub token: String,
}

/// `POST /auth/password-reset`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestInput {
    pub email: String,
}

/// `POST /auth/password-reset/confirm`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmInput {
    pub token: String,
    pub new_password: String,
}

/// `POST /auth/login`: `username` (which may also hold an email address) or `email`, and `password`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub password: String,
}

/// `PUT /me/password`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeInput {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /tokens`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    pub name: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub admin: bool,
}

/// `POST /users` (administrators). Users created this way are verified and active unless told otherwise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    pub username: String,
    pub email: String,
    /// Optional: without one the user cannot log in until a password reset (or an admin) sets one.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub verified: Option<bool>,
}

/// `PATCH /users/{user}`: users may change their names and email; administrators everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub active: Option<bool>,
    pub admin: Option<bool>,
    pub verified: Option<bool>,
    pub password: Option<String>,
}

/// `POST /groups`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroupInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub active: Option<bool>,
}

/// `PATCH /groups/{group}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

// ----- results -----

/// A new login session: the bearer token (also set as the session cookie) and when it expires.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub expires_at: i64,
    pub user: User,
}

impl Session {
    /// `{"token", "expires_at", "user"}`.
    pub fn to_json(&self) -> Json {
        json!({"token": self.token, "expires_at": self.expires_at, "user": self.user})
    }
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub token: Token,
    pub secret: String,
}

impl CreatedToken {
    /// The token's fields plus `"token": <secret>`.
    pub fn to_json(&self) -> Json {
        let mut value = json!(self.token);
        value["token"] = json!(self.secret);
        value
    }
}

/// One page of a collection with the query that produced it.
#[derive(Debug, Clone)]
pub struct Listing {
    pub page: Page,
    pub query: Query,
}

impl Listing {
    /// Checks nothing: parses `pairs` for `resource` and runs the query in `scope`.
    fn run(db: &dyn Db, resource: &Resource, scope: &Scope, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
        let query = query::parse(resource, pairs, &[])?;
        let page = query::run(db, resource, scope, &query)?;
        Ok(Listing { page, query })
    }

    /// The `{"count","next","previous","results"}` envelope, links relative to `request`.
    pub fn to_json(&self, request: &Request) -> Json {
        query::page_json(&self.page, &self.query, request)
    }
}

/// The outcome of a user update: the user as stored, and the address awaiting confirmation when a user
/// changed their own email.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub user: User,
    pub pending_email: Option<String>,
}

impl UserUpdate {
    /// The user, plus `"pending_email"` when an email change awaits confirmation.
    pub fn to_json(&self) -> Json {
        let mut value = json!(self.user);
        if let Some(email) = &self.pending_email {
            value["pending_email"] = json!(email);
        }
        value
    }
}

// ----- sign-up, activation, password reset -----

/// Registers an unverified user when the `allow_signup` variable is `true` (else 403) and sends the
/// activation token to the notification hook. A taken username is a 409; an email that already has an
/// account answers exactly like a success (nothing is created; the hook is told `user.signup_existing`),
/// so sign-up never reveals whether an address is registered.
pub fn signup(ctx: &Ctx, input: &SignupInput) -> Result<Json, ApiError> {
    if ctx.variable("allow_signup").as_deref() != Some("true") {
        return Err(ApiError::Forbidden("sign-up is disabled on this server".into()));
    }
    Checks::new()
        .check("username", rules::username(&input.username))
        .check("email", rules::email(&input.email))
        .check("password", rules::password(&input.password))
        .check("first_name", rules::text(&input.first_name))
        .check("last_name", rules::text(&input.last_name))
        .finish()?;
    // Hash first: the work is the same whether or not the address is registered.
    let hash = secrets::hash_password(&input.password)?;
    let code = secrets::new_token(secrets::ACTIVATION_PREFIX)?;
    let db = ctx.db()?;
    let now = clock::now();
    let created = db::transaction(db, || {
        if users::username_taken(db, &input.username, None)? {
            return Err(duplicate("username", "the username is taken"));
        }
        let new = NewUser {
            username: &input.username,
            email: &input.email,
            first_name: &input.first_name,
            last_name: &input.last_name,
            password_hash: Some(&hash),
            active: true,
            admin: false,
            verified: false,
            created_at: now,
        };
        let Some(user) = users::insert(db, &new)? else { return Ok(None) };
        let hashed = secrets::sha256(&code);
        codes::replace(db, &new_code(user.id, Purpose::Activation, &hashed, Some(&code), None, now))?;
        Ok(Some(user))
    })?;
    match created {
        Some(user) => notify(
            ctx,
            json!({"event": "user.activation", "email": user.email, "username": user.username, "token": code}),
        ),
        None => notify(ctx, json!({"event": "user.signup_existing", "email": input.email})),
    }
    Ok(json!({
        "username": input.username,
        "email": input.email,
        "verified": false,
        "detail": "account created; activate it with the token sent to your email address",
    }))
}

/// Activates (verifies) the account an activation token belongs to. 400 `invalid_token` when the token is
/// unknown, used or expired.
pub fn activate(ctx: &Ctx, token: &str) -> Result<User, ApiError> {
    let db = ctx.db()?;
    let now = clock::now();
    db::transaction(db, || {
        let (user_id, _) =
            codes::consume(db, Purpose::Activation, &secrets::sha256(token), now)?.ok_or_else(invalid_code)?;
        let changes = users::Changes { verified: Some(true), ..Default::default() };
        users::update(db, user_id, &changes)?.ok_or_else(invalid_code)
    })
}

/// Starts a password reset. Always succeeds (202) whether or not the address has an account: an active
/// account gets a reset token through the hook (`user.password_reset`); an unknown or disabled address
/// only produces `user.password_reset_unknown`. Limited per client address.
pub fn request_password_reset(ctx: &Ctx, input: &ResetRequestInput) -> Result<(), ApiError> {
    Checks::new().check("email", rules::email(&input.email)).finish()?;
    let now = clock::now();
    if let Some(address) = &ctx.request.client_addr {
        let kv = ctx.kv()?;
        let key = format!("reset:addr:{}", throttle::client_host(address));
        throttle::check(kv.as_ref(), &key, RESETS_PER_ADDRESS, now)?;
        throttle::record_failure(kv.as_ref(), &key, RESETS_PER_ADDRESS, now)?;
    }
    let db = ctx.db()?;
    match users::find_by_email(db, &input.email)?.filter(|user| user.active) {
        Some(user) => {
            let code = secrets::new_token(secrets::RESET_PREFIX)?;
            let hashed = secrets::sha256(&code);
            codes::replace(db, &new_code(user.id, Purpose::PasswordReset, &hashed, None, None, now))?;
            notify(
                ctx,
                json!({"event": "user.password_reset", "email": user.email, "username": user.username, "token": code}),
            );
        }
        None => notify(ctx, json!({"event": "user.password_reset_unknown", "email": input.email})),
    }
    Ok(())
}

/// Sets a new password with a reset token. Proving control of the address also verifies the account;
/// every login session of the account ends. 400 `invalid_token` for an unknown, used or expired token.
pub fn confirm_password_reset(ctx: &Ctx, input: &ResetConfirmInput) -> Result<(), ApiError> {
    Checks::new().check("new_password", rules::password(&input.new_password)).finish()?;
    let hash = secrets::hash_password(&input.new_password)?;
    let db = ctx.db()?;
    let now = clock::now();
    let user_id = db::transaction(db, || {
        let (user_id, _) = codes::consume(db, Purpose::PasswordReset, &secrets::sha256(&input.token), now)?
            .ok_or_else(invalid_code)?;
        let changes = users::Changes { password_hash: Some(hash.clone()), verified: Some(true), ..Default::default() };
        users::update(db, user_id, &changes)?.ok_or_else(invalid_code)?;
        codes::delete_for(db, user_id, Purpose::Activation)?;
        tokens::delete_all(db, user_id, TokenKind::Session, None)?;
        Ok::<_, ApiError>(user_id)
    })?;
    throttle::clear(ctx.kv()?.as_ref(), &account_key(user_id))
}

/// Applies a confirmed email change (the token went to the new address). 409 when the address was taken
/// in the meantime; 400 `invalid_token` for an unknown, used or expired token.
pub fn confirm_email(ctx: &Ctx, token: &str) -> Result<User, ApiError> {
    let db = ctx.db()?;
    let now = clock::now();
    db::transaction(db, || {
        let (user_id, email) =
            codes::consume(db, Purpose::EmailChange, &secrets::sha256(token), now)?.ok_or_else(invalid_code)?;
        let email = email.ok_or_else(invalid_code)?;
        if users::email_taken(db, &email, Some(user_id))? {
            return Err(duplicate("email", "the email address is already in use"));
        }
        let changes = users::Changes { email: Some(email), verified: Some(true), ..Default::default() };
        users::update(db, user_id, &changes)?.ok_or_else(invalid_code)
    })
}

/// Pending activations with their tokens (administrators), for servers without a notification hook.
/// Access is checked before the query is parsed, as for every listing here.
pub fn list_activations(ctx: &Ctx, principal: &Principal, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    auth::require_admin(principal)?;
    Listing::run(ctx.db()?, &codes::ACTIVATIONS, &codes::activations_scope(clock::now()), pairs)
}

// ----- login, logout, password change -----

/// Logs in with a username or email and a password and opens a 7-day session. Wrong credentials of any
/// kind are the same 401 (an unknown account costs a password verification too); a correct password on a
/// disabled or not yet activated account is a 403. Failures are throttled per account and per client
/// address (429 with Retry-After), checked before the password is.
pub fn login(ctx: &Ctx, input: &LoginInput) -> Result<Session, ApiError> {
    let identifier = match (&input.username, &input.email) {
        (Some(name), None) => name.trim(),
        (None, Some(email)) => email.trim(),
        _ => return Err(ApiError::invalid_field("username", "give exactly one of `username` and `email`")),
    };
    let db = ctx.db()?;
    let kv = ctx.kv()?;
    let now = clock::now();
    let candidate = if identifier.is_empty() { None } else { users::find_for_login(db, identifier)? };
    let account = match &candidate {
        Some((user, _)) => account_key(user.id),
        None => format!("login:name:{}", hex(&secrets::sha256(&identifier.to_lowercase())[..16])),
    };
    let address = ctx.request.client_addr.as_deref().map(|addr| format!("login:addr:{}", throttle::client_host(addr)));
    throttle::check(kv.as_ref(), &account, throttle::PER_ACCOUNT, now)?;
    if let Some(address) = &address {
        throttle::check(kv.as_ref(), address, throttle::PER_ADDRESS, now)?;
    }
    let verified = match &candidate {
        Some((_, Some(hash))) => secrets::verify_password(&input.password, hash),
        _ => {
            secrets::verify_dummy(&input.password);
            false
        }
    };
    let user = match candidate {
        Some((user, _)) if verified => user,
        _ => {
            throttle::record_failure(kv.as_ref(), &account, throttle::PER_ACCOUNT, now)?;
            if let Some(address) = &address {
                throttle::record_failure(kv.as_ref(), address, throttle::PER_ADDRESS, now)?;
            }
            return Err(ApiError::Unauthorized("invalid username, email or password".into()));
        }
    };
    throttle::clear(kv.as_ref(), &account)?;
    if !user.active {
        return Err(ApiError::Forbidden("this account is disabled".into()));
    }
    if !user.verified {
        return Err(ApiError::Forbidden("this account is not activated yet".into()));
    }
    let secret = secrets::new_token(secrets::SESSION_PREFIX)?;
    let expires_at = now + SESSION_TTL;
    db::transaction(db, || {
        tokens::purge_expired_sessions(db, user.id, now)?;
        let hash = secrets::sha256(&secret);
        let session = NewToken {
            user_id: user.id,
            kind: TokenKind::Session,
            name: "session",
            prefix: &secrets::visible_prefix(&secret),
            secret_hash: &hash,
            admin: false,
            created_at: now,
            expires_at: Some(expires_at),
        };
        tokens::insert(db, &session)?;
        users::record_login(db, user.id, now)?;
        Ok::<_, ApiError>(())
    })?;
    let user = User { last_login: Some(now), ..user };
    Ok(Session { token: secret, expires_at, user })
}

/// Ends the session the request authenticated with (a named token stays valid: revoke it with
/// [`revoke_token`]). 401 for anonymous callers.
pub fn logout(ctx: &Ctx, principal: &Principal) -> Result<(), ApiError> {
    auth::require_signed_in(principal)?;
    if let Principal::User(user) = principal
        && user.token_kind == TokenKind::Session
    {
        tokens::delete(ctx.db()?, user.id, user.token_id, TokenKind::Session)?;
    }
    Ok(())
}

/// Changes the caller's password after checking the current one (wrong → 422 on `current_password`,
/// throttled like logins). Every other session of the user ends.
pub fn change_password(ctx: &Ctx, principal: &Principal, input: &PasswordChangeInput) -> Result<(), ApiError> {
    let me = auth::require_user(principal)?;
    Checks::new().check("new_password", rules::password(&input.new_password)).finish()?;
    let db = ctx.db()?;
    let kv = ctx.kv()?;
    let now = clock::now();
    let key = account_key(me.id);
    throttle::check(kv.as_ref(), &key, throttle::PER_ACCOUNT, now)?;
    let matches = match users::password_hash(db, me.id)? {
        Some(hash) => secrets::verify_password(&input.current_password, &hash),
        None => {
            secrets::verify_dummy(&input.current_password);
            false
        }
    };
    if !matches {
        throttle::record_failure(kv.as_ref(), &key, throttle::PER_ACCOUNT, now)?;
        return Err(ApiError::invalid_field("current_password", "is not correct"));
    }
    let hash = secrets::hash_password(&input.new_password)?;
    let keep = (me.token_kind == TokenKind::Session).then_some(me.token_id);
    db::transaction(db, || {
        let changes = users::Changes { password_hash: Some(hash.clone()), ..Default::default() };
        users::update(db, me.id, &changes)?;
        tokens::delete_all(db, me.id, TokenKind::Session, keep)?;
        Ok::<_, ApiError>(())
    })?;
    throttle::clear(kv.as_ref(), &key)
}

/// `GET /me`: the caller's account with its groups and how the request authenticated; the built-in
/// administrator gets `{"builtin": true, "admin": true, ...}`.
pub fn me(ctx: &Ctx, principal: &Principal) -> Result<Json, ApiError> {
    match principal {
        Principal::Anonymous => Err(ApiError::Unauthorized("authentication required".into())),
        Principal::Admin => Ok(json!({"id": null, "username": null, "admin": true, "builtin": true})),
        Principal::User(me) => {
            let db = ctx.db()?;
            let user = users::find(db, &Ref::Id(me.id))?
                .ok_or_else(|| ApiError::Unauthorized("the account is gone".into()))?;
            let mut value = json!(user);
            value["groups"] = json!(groups::of_user(db, me.id)?);
            value["credential"] = json!({
                "kind": match me.token_kind { TokenKind::Session => "session", TokenKind::Api => "token" },
                "id": me.token_id,
                "admin": me.admin,
            });
            Ok(value)
        }
    }
}

// ----- named tokens -----

/// Creates a named token for the caller and returns its secret (shown this once). `admin` scope only
/// for callers with admin rights (403 otherwise); `expires_at` must lie in the future.
pub fn create_token(ctx: &Ctx, principal: &Principal, input: &TokenInput) -> Result<CreatedToken, ApiError> {
    let me = auth::require_user(principal)?;
    let now = clock::now();
    let expiry = match input.expires_at {
        Some(at) if at <= now => Err("must lie in the future".to_string()),
        _ => Ok(()),
    };
    Checks::new().check("name", rules::token_name(&input.name)).check("expires_at", expiry).finish()?;
    if input.admin && !me.admin {
        return Err(ApiError::Forbidden("only administrators can create admin-scoped tokens".into()));
    }
    let secret = secrets::new_token(secrets::API_TOKEN_PREFIX)?;
    let hash = secrets::sha256(&secret);
    let db = ctx.db()?;
    let token = db::transaction(db, || {
        if tokens::count(db, me.id, TokenKind::Api)? >= MAX_TOKENS_PER_USER {
            return Err(ApiError::conflict(
                "limit_reached",
                format!("a user may hold at most {MAX_TOKENS_PER_USER} tokens; revoke one first"),
            ));
        }
        let new = NewToken {
            user_id: me.id,
            kind: TokenKind::Api,
            name: input.name.trim(),
            prefix: &secrets::visible_prefix(&secret),
            secret_hash: &hash,
            admin: input.admin,
            created_at: now,
            expires_at: input.expires_at,
        };
        Ok(tokens::insert(db, &new)?)
    })?;
    Ok(CreatedToken { token, secret })
}

/// The caller's named tokens (query language).
pub fn list_tokens(ctx: &Ctx, principal: &Principal, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    let me = auth::require_user(principal)?;
    Listing::run(ctx.db()?, &tokens::RESOURCE, &tokens::scope(me.id), pairs)
}

/// One of the caller's named tokens; another user's token is a 404.
pub fn get_token(ctx: &Ctx, principal: &Principal, id: i64) -> Result<Token, ApiError> {
    let me = auth::require_user(principal)?;
    tokens::get(ctx.db()?, me.id, id)?.ok_or_else(token_not_found)
}

/// Revokes one of the caller's named tokens at once; another user's token is a 404.
pub fn revoke_token(ctx: &Ctx, principal: &Principal, id: i64) -> Result<(), ApiError> {
    let me = auth::require_user(principal)?;
    if tokens::delete(ctx.db()?, me.id, id, TokenKind::Api)? { Ok(()) } else { Err(token_not_found()) }
}

/// Revokes every named token of the caller; returns how many.
pub fn revoke_all_tokens(ctx: &Ctx, principal: &Principal) -> Result<i64, ApiError> {
    let me = auth::require_user(principal)?;
    Ok(tokens::delete_all(ctx.db()?, me.id, TokenKind::Api, None)?)
}

// ----- users -----

/// All users (administrators; query language).
pub fn list_users(ctx: &Ctx, principal: &Principal, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    auth::require_admin(principal)?;
    Listing::run(ctx.db()?, &users::RESOURCE, &Scope::default(), pairs)
}

/// A user by id or username: administrators any (404 when missing), users only themselves (403 for
/// anyone else, whether or not they exist).
pub fn get_user(ctx: &Ctx, principal: &Principal, user: &Ref) -> Result<User, ApiError> {
    target_user(ctx.db()?, principal, user)
}

/// Creates a user (administrators): verified and active unless told otherwise. 409 `duplicate` when the
/// username or email is taken.
pub fn create_user(ctx: &Ctx, principal: &Principal, input: &NewUserInput) -> Result<User, ApiError> {
    auth::require_admin(principal)?;
    let password = input.password.as_deref().map(rules::password).unwrap_or(Ok(()));
    Checks::new()
        .check("username", rules::username(&input.username))
        .check("email", rules::email(&input.email))
        .check("password", password)
        .check("first_name", rules::text(&input.first_name))
        .check("last_name", rules::text(&input.last_name))
        .finish()?;
    let hash = input.password.as_deref().map(secrets::hash_password).transpose()?;
    let db = ctx.db()?;
    let new = NewUser {
        username: &input.username,
        email: &input.email,
        first_name: &input.first_name,
        last_name: &input.last_name,
        password_hash: hash.as_deref(),
        active: input.active.unwrap_or(true),
        admin: input.admin,
        verified: input.verified.unwrap_or(true),
        created_at: clock::now(),
    };
    db::transaction(db, || match users::insert(db, &new)? {
        Some(user) => Ok(user),
        None if users::username_taken(db, &input.username, None)? => {
            Err(duplicate("username", "the username is taken"))
        }
        None => Err(duplicate("email", "the email address is already in use")),
    })
}

/// Updates a user. Users may change their own first/last name directly and their email through a
/// confirmation sent to the new address (`pending_email`); administrators may change every field of
/// anyone, except deactivating themselves (409). A new password ends the user's sessions.
pub fn update_user(ctx: &Ctx, principal: &Principal, user: &Ref, patch: &UserPatch) -> Result<UserUpdate, ApiError> {
    let db = ctx.db()?;
    let target = target_user(db, principal, user)?;
    let admin = principal.is_admin();
    if !admin {
        let admin_only = [
            ("username", patch.username.is_some()),
            ("active", patch.active.is_some()),
            ("admin", patch.admin.is_some()),
            ("verified", patch.verified.is_some()),
            ("password", patch.password.is_some()),
        ];
        if let Some((field, _)) = admin_only.iter().find(|(_, given)| *given) {
            let hint = if *field == "password" { "; use PUT /api/v1/me/password" } else { "" };
            return Err(ApiError::Forbidden(format!("only administrators may change `{field}`{hint}")));
        }
    }
    let mut checks = Checks::new();
    if let Some(username) = &patch.username {
        checks.check("username", rules::username(username));
    }
    if let Some(email) = &patch.email {
        checks.check("email", rules::email(email));
    }
    if let Some(password) = &patch.password {
        checks.check("password", rules::password(password));
    }
    for (field, value) in [("first_name", &patch.first_name), ("last_name", &patch.last_name)] {
        if let Some(value) = value {
            checks.check(field, rules::text(value));
        }
    }
    checks.finish()?;
    let is_self = principal.user().is_some_and(|me| me.id == target.id);
    if is_self && patch.active == Some(false) {
        return Err(ApiError::conflict("conflict", "you cannot deactivate your own account"));
    }
    let email_changes = patch.email.as_ref().filter(|email| !email.eq_ignore_ascii_case(&target.email));
    let pending_email = if admin { None } else { email_changes.cloned() };
    let hash = patch.password.as_deref().map(secrets::hash_password).transpose()?;
    let changes = users::Changes {
        username: patch.username.clone(),
        email: if admin { patch.email.clone() } else { None },
        first_name: patch.first_name.clone(),
        last_name: patch.last_name.clone(),
        active: patch.active,
        admin: patch.admin,
        verified: patch.verified,
        password_hash: hash,
    };
    let now = clock::now();
    let code = secrets::new_token(secrets::EMAIL_CHANGE_PREFIX)?;
    let updated = db::transaction(db, || {
        if let Some(username) = &changes.username
            && users::username_taken(db, username, Some(target.id))?
        {
            return Err(duplicate("username", "the username is taken"));
        }
        if let Some(email) = &changes.email
            && users::email_taken(db, email, Some(target.id))?
        {
            return Err(duplicate("email", "the email address is already in use"));
        }
        let updated = users::update(db, target.id, &changes)?.ok_or_else(user_not_found)?;
        if changes.password_hash.is_some() {
            let keep = principal.user().filter(|me| me.id == target.id && me.token_kind == TokenKind::Session);
            tokens::delete_all(db, target.id, TokenKind::Session, keep.map(|me| me.token_id))?;
        }
        if let Some(email) = &pending_email {
            let hashed = secrets::sha256(&code);
            codes::replace(db, &new_code(target.id, Purpose::EmailChange, &hashed, None, Some(email), now))?;
        }
        Ok(updated)
    })?;
    if let Some(email) = &pending_email {
        notify(ctx, json!({"event": "user.email_change", "email": email, "username": updated.username, "token": code}));
    }
    Ok(UserUpdate { user: updated, pending_email })
}

/// Deletes a user with their tokens, codes and memberships (administrators). Deleting yourself is a 409.
pub fn delete_user(ctx: &Ctx, principal: &Principal, user: &Ref) -> Result<(), ApiError> {
    auth::require_admin(principal)?;
    let db = ctx.db()?;
    let target = users::find(db, user)?.ok_or_else(user_not_found)?;
    if principal.user().is_some_and(|me| me.id == target.id) {
        return Err(ApiError::conflict("conflict", "you cannot delete your own account"));
    }
    if users::delete(db, target.id)? { Ok(()) } else { Err(user_not_found()) }
}

// ----- groups -----

/// All groups with their members (any signed-in caller; query language).
pub fn list_groups(ctx: &Ctx, principal: &Principal, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    auth::require_signed_in(principal)?;
    let query = query::parse(&groups::RESOURCE, pairs, &[])?;
    let page = groups::list(ctx.db()?, &query)?;
    Ok(Listing { page, query })
}

/// A group by id or name (any signed-in caller).
pub fn get_group(ctx: &Ctx, principal: &Principal, group: &Ref) -> Result<Group, ApiError> {
    auth::require_signed_in(principal)?;
    groups::find(ctx.db()?, group)?.ok_or_else(group_not_found)
}

/// Creates a group (administrators); 409 `duplicate` when the name is taken.
pub fn create_group(ctx: &Ctx, principal: &Principal, input: &NewGroupInput) -> Result<Group, ApiError> {
    auth::require_admin(principal)?;
    Checks::new()
        .check("name", rules::group_name(&input.name))
        .check("description", rules::text(&input.description))
        .finish()?;
    let active = input.active.unwrap_or(true);
    groups::insert(ctx.db()?, &input.name, &input.description, active, clock::now())?
        .ok_or_else(|| duplicate("name", "the group name is taken"))
}

/// Renames, describes or (de)activates a group (administrators).
pub fn update_group(ctx: &Ctx, principal: &Principal, group: &Ref, patch: &GroupPatch) -> Result<Group, ApiError> {
    auth::require_admin(principal)?;
    let mut checks = Checks::new();
    if let Some(name) = &patch.name {
        checks.check("name", rules::group_name(name));
    }
    if let Some(description) = &patch.description {
        checks.check("description", rules::text(description));
    }
    checks.finish()?;
    let db = ctx.db()?;
    db::transaction(db, || {
        let target = groups::find(db, group)?.ok_or_else(group_not_found)?;
        if let Some(name) = &patch.name
            && groups::name_taken(db, name, Some(target.id))?
        {
            return Err(duplicate("name", "the group name is taken"));
        }
        groups::update(db, target.id, patch.name.as_deref(), patch.description.as_deref(), patch.active)?
            .ok_or_else(group_not_found)
    })
}

/// Deletes a group and its memberships (administrators).
pub fn delete_group(ctx: &Ctx, principal: &Principal, group: &Ref) -> Result<(), ApiError> {
    auth::require_admin(principal)?;
    let db = ctx.db()?;
    let target = groups::find(db, group)?.ok_or_else(group_not_found)?;
    if groups::delete(db, target.id)? { Ok(()) } else { Err(group_not_found()) }
}

/// Adds a user to a group (administrators). Returns the group and whether the user was newly added
/// (false: already a member — RhodeCode's `success: false`).
pub fn add_member(ctx: &Ctx, principal: &Principal, group: &Ref, user: &Ref) -> Result<(Group, bool), ApiError> {
    auth::require_admin(principal)?;
    let db = ctx.db()?;
    db::transaction(db, || {
        let target = groups::find(db, group)?.ok_or_else(group_not_found)?;
        let member = users::find(db, user)?.ok_or_else(user_not_found)?;
        let added = groups::add_member(db, target.id, member.id)?;
        let group = groups::find(db, &Ref::Id(target.id))?.ok_or_else(group_not_found)?;
        Ok((group, added))
    })
}

/// Removes a user from a group (administrators); 404 when they are not a member.
pub fn remove_member(ctx: &Ctx, principal: &Principal, group: &Ref, user: &Ref) -> Result<(), ApiError> {
    auth::require_admin(principal)?;
    let db = ctx.db()?;
    let target = groups::find(db, group)?.ok_or_else(group_not_found)?;
    let member = users::find(db, user)?.ok_or_else(user_not_found)?;
    if groups::remove_member(db, target.id, member.id)? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("user `{}` is not a member of group `{}`", member.username, target.name)))
    }
}

// ----- helpers -----

/// The user a request may read or change: administrators anyone (404 when missing), users themselves only
/// (403 for any other reference, so the answer says nothing about whether that user exists).
fn target_user(db: &dyn Db, principal: &Principal, user: &Ref) -> Result<User, ApiError> {
    auth::require_signed_in(principal)?;
    if principal.is_admin() {
        return users::find(db, user)?.ok_or_else(user_not_found);
    }
    let me: &UserPrincipal = auth::require_user(principal)?;
    let is_me = match user {
        Ref::Id(id) => *id == me.id,
        Ref::Name(name) => name.eq_ignore_ascii_case(&me.username),
    };
    if !is_me {
        return Err(ApiError::Forbidden("you may only access your own account".into()));
    }
    users::find(db, &Ref::Id(me.id))?.ok_or_else(user_not_found)
}

fn new_code<'a>(
    user_id: i64,
    purpose: Purpose,
    secret_hash: &'a [u8],
    readable: Option<&'a str>,
    email: Option<&'a str>,
    now: i64,
) -> NewCode<'a> {
    NewCode { user_id, purpose, secret_hash, readable, email, created_at: now, expires_at: now + CODE_TTL }
}

/// The throttle key of an account's failed password checks.
fn account_key(user_id: i64) -> String {
    format!("login:user:{user_id}")
}

/// Sends an event to the `notify_url` hook when one is configured. Delivery failures are logged (never
/// the token) and do not fail the request: administrators can still read pending activations.
fn notify(ctx: &Ctx, event: Json) {
    let Some(url) = ctx.variable("notify_url") else { return };
    let name = event["event"].as_str().unwrap_or("?").to_string();
    match ctx.post_json(&url, &event) {
        Ok(status) if (200..300).contains(&status) => {}
        Ok(status) => eprintln!("conveyor: the notification hook answered {status} to `{name}`"),
        Err(error) => eprintln!("conveyor: the notification hook failed for `{name}`: {error:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn duplicate(field: &str, message: &str) -> ApiError {
    ApiError::conflict("duplicate", format!("{message} (`{field}`)"))
}

fn invalid_code() -> ApiError {
    ApiError::bad_request("invalid_token", "the token is invalid, used or expired")
}

fn user_not_found() -> ApiError {
    ApiError::NotFound("no such user".into())
}

fn group_not_found() -> ApiError {
    ApiError::NotFound("no such group".into())
}

fn token_not_found() -> ApiError {
    ApiError::NotFound("no such token".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Request;
    use crate::testing::TestPlatform;

    fn ctx(platform: &TestPlatform) -> Ctx<'_> {
        Ctx::new(platform, Request { client_addr: Some("10.0.0.7:4000".into()), ..Request::default() })
    }

    fn platform(label: &str) -> TestPlatform {
        let mut platform = TestPlatform::new(label);
        platform.variables.insert("allow_signup".into(), "true".into());
        platform.variables.insert("notify_url".into(), "http://hook.test/events".into());
        platform
    }

    fn signup_input(username: &str, email: &str) -> SignupInput {
        SignupInput {
            username: username.into(),
            email: email.into(),
            password: "correct horse".into(),
            first_name: String::new(),
            last_name: String::new(),
        }
    }

    fn login_input(username: &str, password: &str) -> LoginInput {
        LoginInput { username: Some(username.into()), email: None, password: password.into() }
    }

    fn last_post(platform: &TestPlatform) -> Json {
        platform.posts.lock().unwrap().last().expect("a hook call").1.clone()
    }

    #[test]
    fn signup_activation_and_login() {
        let platform = platform("signup");
        let ctx = ctx(&platform);
        let receipt = signup(&ctx, &signup_input("ada", "ada@example.org")).unwrap();
        assert_eq!(receipt["verified"], false);
        let event = last_post(&platform);
        assert_eq!(
            (event["event"].as_str(), event["email"].as_str()),
            (Some("user.activation"), Some("ada@example.org"))
        );
        let token = event["token"].as_str().unwrap().to_string();
        assert!(token.starts_with("cva_"));

        let early = login(&ctx, &login_input("ada", "correct horse")).unwrap_err();
        assert_eq!((early.status(), early.to_string().as_str()), (403, "this account is not activated yet"));

        let pending = list_activations(&ctx, &Principal::Admin, &[]).unwrap().page;
        assert_eq!(pending.results[0]["token"], token.as_str(), "admins can read pending activations");

        let user = activate(&ctx, &token).unwrap();
        assert!(user.verified);
        assert_eq!(activate(&ctx, &token).unwrap_err().code(), "invalid_token", "a code works once");

        let before = clock::now();
        let session = login(&ctx, &login_input("ADA@example.org", "correct horse")).unwrap();
        let after = clock::now();
        assert!(session.token.starts_with("cvs_"));
        // The clock may tick between the calls: the expiry is TTL after some instant within the login.
        assert!((before + SESSION_TTL..=after + SESSION_TTL).contains(&session.expires_at), "{}", session.expires_at);
        let principal = auth::authenticate_token(&ctx, &session.token).unwrap();
        assert_eq!(principal.user().unwrap().username, "ada");
    }

    #[test]
    fn signup_never_reveals_a_registered_email() {
        let platform = platform("enumeration");
        let ctx = ctx(&platform);
        let first = signup(&ctx, &signup_input("ada", "ada@example.org")).unwrap();
        let again = signup(&ctx, &signup_input("mallory", "ADA@example.org")).unwrap();
        let fresh = signup(&ctx, &signup_input("bob", "bob@example.org")).unwrap();
        for body in [&first, &again, &fresh] {
            let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["detail", "email", "username", "verified"]);
            assert_eq!(body["detail"], first["detail"]);
        }
        assert_eq!(last_post(&platform)["event"], "user.activation");
        let posts = platform.posts.lock().unwrap();
        assert_eq!(posts[1].1, json!({"event": "user.signup_existing", "email": "ADA@example.org"}));
        drop(posts);
        let db = ctx.db().unwrap();
        assert!(users::find(db, &Ref::Name("mallory".into())).unwrap().is_none(), "nothing was created");
        let taken = signup(&ctx, &signup_input("ADA", "new@example.org")).unwrap_err();
        assert_eq!((taken.status(), taken.code()), (409, "duplicate"));
    }

    #[test]
    fn signup_is_off_unless_enabled() {
        let mut platform = platform("signup-off");
        platform.variables.remove("allow_signup");
        let error = signup(&ctx(&platform), &signup_input("ada", "ada@example.org")).unwrap_err();
        assert_eq!(error.status(), 403);
    }

    #[test]
    fn password_reset_answers_alike_and_works_once() {
        let platform = platform("reset");
        let ctx = ctx(&platform);
        let admin = Principal::Admin;
        let input = NewUserInput {
            username: "ada".into(),
            email: "ada@example.org".into(),
            password: Some("old password".into()),
            first_name: String::new(),
            last_name: String::new(),
            active: None,
            admin: false,
            verified: None,
        };
        create_user(&ctx, &admin, &input).unwrap();
        let old_session = login(&ctx, &login_input("ada", "old password")).unwrap();

        request_password_reset(&ctx, &ResetRequestInput { email: "nobody@example.org".into() }).unwrap();
        assert_eq!(
            last_post(&platform),
            json!({"event": "user.password_reset_unknown", "email": "nobody@example.org"})
        );
        request_password_reset(&ctx, &ResetRequestInput { email: "ada@example.org".into() }).unwrap();
        let token = last_post(&platform)["token"].as_str().unwrap().to_string();

        let short = ResetConfirmInput { token: token.clone(), new_password: "short".into() };
        assert_eq!(confirm_password_reset(&ctx, &short).unwrap_err().code(), "validation_failed");
        let good = ResetConfirmInput { token: token.clone(), new_password: "new password".into() };
        confirm_password_reset(&ctx, &good).unwrap();
        assert_eq!(confirm_password_reset(&ctx, &good).unwrap_err().code(), "invalid_token");
        assert_eq!(auth::authenticate_token(&ctx, &old_session.token).unwrap_err().status(), 401, "sessions ended");
        assert_eq!(login(&ctx, &login_input("ada", "old password")).unwrap_err().status(), 401);
        login(&ctx, &login_input("ada", "new password")).unwrap();
    }

    #[test]
    fn failed_logins_are_throttled_per_account_without_revealing_it() {
        let platform = platform("throttle");
        let ctx = ctx(&platform);
        let input = NewUserInput {
            username: "ada".into(),
            email: "ada@example.org".into(),
            password: Some("correct horse".into()),
            first_name: String::new(),
            last_name: String::new(),
            active: None,
            admin: false,
            verified: None,
        };
        create_user(&ctx, &Principal::Admin, &input).unwrap();
        for name in ["ada", "ghost"] {
            for _ in 0..throttle::PER_ACCOUNT.max_failures {
                assert_eq!(login(&ctx, &login_input(name, "wrong password")).unwrap_err().status(), 401, "{name}");
            }
            let blocked = login(&ctx, &login_input(name, "correct horse")).unwrap_err();
            assert!(
                matches!(blocked, ApiError::TooManyRequests { retry_after } if retry_after > 800.0),
                "{name}: {blocked:?}"
            );
        }
        let other = ApiError::invalid_field("username", "give exactly one of `username` and `email`");
        let both = LoginInput { username: Some("a".into()), email: Some("b@c.de".into()), password: "x".into() };
        assert_eq!(login(&ctx, &both).unwrap_err(), other);
    }

    #[test]
    fn users_may_only_touch_themselves_and_change_email_by_confirmation() {
        let platform = platform("self");
        let ctx = ctx(&platform);
        let make = |name: &str| NewUserInput {
            username: name.into(),
            email: format!("{name}@example.org"),
            password: Some("correct horse".into()),
            first_name: String::new(),
            last_name: String::new(),
            active: None,
            admin: false,
            verified: None,
        };
        let ada = create_user(&ctx, &Principal::Admin, &make("ada")).unwrap();
        let bob = create_user(&ctx, &Principal::Admin, &make("bob")).unwrap();
        let session = login(&ctx, &login_input("ada", "correct horse")).unwrap();
        let me = auth::authenticate_token(&ctx, &session.token).unwrap();

        assert_eq!(get_user(&ctx, &me, &Ref::Name("ADA".into())).unwrap().id, ada.id);
        assert_eq!(get_user(&ctx, &me, &Ref::Id(bob.id)).unwrap_err().status(), 403);
        assert_eq!(get_user(&ctx, &me, &Ref::Name("nobody".into())).unwrap_err().status(), 403);
        let promote = UserPatch { admin: Some(true), ..Default::default() };
        assert_eq!(update_user(&ctx, &me, &Ref::Id(ada.id), &promote).unwrap_err().status(), 403);

        let patch =
            UserPatch { first_name: Some("Ada".into()), email: Some("bob@example.org".into()), ..Default::default() };
        let update = update_user(&ctx, &me, &Ref::Id(ada.id), &patch).unwrap();
        assert_eq!((update.user.first_name.as_str(), update.user.email.as_str()), ("Ada", "ada@example.org"));
        assert_eq!(update.to_json()["pending_email"], "bob@example.org", "a taken address answers the same");
        let token = last_post(&platform)["token"].as_str().unwrap().to_string();
        assert_eq!(confirm_email(&ctx, &token).unwrap_err().status(), 409, "only the address owner sees the clash");

        let patch = UserPatch { email: Some("ada@new.example.org".into()), ..Default::default() };
        update_user(&ctx, &me, &Ref::Id(ada.id), &patch).unwrap();
        let token = last_post(&platform)["token"].as_str().unwrap().to_string();
        assert_eq!(confirm_email(&ctx, &token).unwrap().email, "ada@new.example.org");

        let root = auth::authenticate_token(&ctx, "root-secret").unwrap();
        assert_eq!(delete_user(&ctx, &me, &Ref::Id(bob.id)).unwrap_err().status(), 403);
        delete_user(&ctx, &root, &Ref::Id(bob.id)).unwrap();
        assert_eq!(delete_user(&ctx, &root, &Ref::Id(bob.id)).unwrap_err().status(), 404);
    }
}
