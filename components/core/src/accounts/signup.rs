//! Getting into an account without a session: sign-up and activation, password reset, email-change
//! confirmation, and the administrators' list of pending activations. None of these tells an anonymous
//! caller whether an email address is registered.

use super::{Listing, Notifier, Settings, account_key, duplicate, invalid_code, new_code};
use crate::auth::{self, Principal};
use crate::db::{self, Db};
use crate::domain::accounts::{self as rules, Checks, Ref};
use crate::error::ApiError;
use crate::platform::Kv;
use crate::secrets;
use crate::store::codes::{self, Purpose};
use crate::store::tokens::{self, TokenKind};
use crate::store::users::{self, NewUser, User};
use crate::throttle::{self, Limit};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Password-reset requests per client address: 10 per 15 minutes (keeps the notification hook from being
/// used to flood mailboxes).
pub const RESETS_PER_ADDRESS: Limit = Limit { max_failures: 10, window: 15 * 60 };

/// `POST /auth/signup`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SignupInput {
    #[cfg_attr(test, schemars(length(min = 3, max = 40), regex(pattern = r"^[A-Za-z0-9_.-]+$")))]
    pub username: String,
    pub email: String,
    #[cfg_attr(test, schemars(length(min = 8, max = 1024)))]
    pub password: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
}

/// `POST /auth/activate`, `POST /auth/confirm-email`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub token: String,
}

/// `POST /auth/password-reset`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetRequestInput {
    pub email: String,
}

/// `POST /auth/password-reset/confirm`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmInput {
    pub token: String,
    pub new_password: String,
}

/// The answer to a sign-up, the same whether or not the address was already registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct SignupReceipt {
    pub username: String,
    pub email: String,
    /// Always false: the account needs activation first.
    pub verified: bool,
    pub detail: &'static str,
}

/// Registers an unverified user when [`Settings::allow_signup`] (else 403) and sends the activation token
/// to the notifier. A taken username is a 409; an email that already has an account answers exactly like a
/// success (nothing is created; the notifier is told `user.signup_existing`), so sign-up never reveals
/// whether an address is registered.
pub fn signup(
    db: &dyn Db,
    settings: &Settings,
    notifier: &dyn Notifier,
    input: &SignupInput,
    now: i64,
) -> Result<SignupReceipt, ApiError> {
    register(db, settings, notifier, Some(&input.username), input, now)
}

/// `POST /local-account/signup` (Project-W): an email address and a password.
#[derive(Debug, Clone, Deserialize)]
pub struct EmailSignupInput {
    pub email: String,
    pub password: String,
}

/// [`signup`] without a username: the account gets the first free one made from the address's local part
/// (`ada.l@example.org` → `ada.l`, then `ada.l-2`, …), so a sign-up never fails on a username. Everything
/// else is [`signup`]'s, a registered address answering like a new one included.
pub fn signup_by_email(
    db: &dyn Db,
    settings: &Settings,
    notifier: &dyn Notifier,
    input: &EmailSignupInput,
    now: i64,
) -> Result<SignupReceipt, ApiError> {
    let full = SignupInput {
        username: username_from_email(&input.email),
        email: input.email.clone(),
        password: input.password.clone(),
        first_name: String::new(),
        last_name: String::new(),
    };
    register(db, settings, notifier, None, &full, now)
}

/// The stem of the usernames [`signup_by_email`] tries: the local part's characters a username may hold,
/// at most 30 of them, prefixed with `user-` when fewer than 3 or all digits.
fn username_from_email(email: &str) -> String {
    let local = email.rsplit_once('@').map_or(email, |(local, _)| local);
    let stem: String =
        local.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')).take(30).collect();
    if stem.len() < 3 || stem.chars().all(|c| c.is_ascii_digit()) {
        format!("user-{stem}").trim_end_matches('-').to_string()
    } else {
        stem
    }
}

/// The first username of `stem`, `stem-2` … `stem-99` nobody has, else `stem-` and 8 random hex digits.
fn free_username(db: &dyn Db, stem: &str) -> Result<String, ApiError> {
    for n in 1..100 {
        let candidate = if n == 1 { stem.to_string() } else { format!("{stem}-{n}") };
        if !users::username_taken(db, &candidate, None)? {
            return Ok(candidate);
        }
    }
    let random = secrets::new_token("")?;
    let suffix: String = secrets::hex(&secrets::sha256(&random)[..4]);
    Ok(format!("{stem}-{suffix}"))
}

/// Sign-up with the username given (`Some`: a taken one is a 409) or chosen ([`free_username`] of
/// `input.username`).
fn register(
    db: &dyn Db,
    settings: &Settings,
    notifier: &dyn Notifier,
    given: Option<&str>,
    input: &SignupInput,
    now: i64,
) -> Result<SignupReceipt, ApiError> {
    if !settings.allow_signup {
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
    let (created, username) = db::transaction(db, || {
        let username = match given {
            Some(username) if users::username_taken(db, username, None)? => {
                return Err(duplicate("username", "the username is taken"));
            }
            Some(username) => username.to_string(),
            None => free_username(db, &input.username)?,
        };
        let new = NewUser {
            username: &username,
            email: &input.email,
            first_name: &input.first_name,
            last_name: &input.last_name,
            password_hash: Some(&hash),
            active: true,
            admin: false,
            verified: false,
            created_at: now,
        };
        let Some(user) = users::insert(db, &new)? else { return Ok((None, username)) };
        let hashed = secrets::sha256(&code);
        codes::replace(db, &new_code(user.id, Purpose::Activation, &hashed, Some(&code), None, now))?;
        Ok((Some(user), username))
    })?;
    notifier.notify(&match created {
        Some(user) => {
            json!({"event": "user.activation", "email": user.email, "username": user.username, "token": code})
        }
        None => json!({"event": "user.signup_existing", "email": input.email}),
    });
    Ok(SignupReceipt {
        username,
        email: input.email.clone(),
        verified: false,
        detail: "account created; activate it with the token sent to your email address",
    })
}

/// Sends the signed-in caller a new activation token (`user.activation`; earlier ones stop working), for an
/// account that is not activated yet (409 `already_verified` otherwise).
pub fn resend_activation(
    db: &dyn Db,
    principal: &Principal,
    notifier: &dyn Notifier,
    now: i64,
) -> Result<(), ApiError> {
    let me = auth::require_user(principal)?;
    let user = users::find(db, &Ref::Id(me.id))?.ok_or_else(super::user_not_found)?;
    if user.verified {
        return Err(ApiError::conflict("already_verified", "the account is already activated"));
    }
    let code = secrets::new_token(secrets::ACTIVATION_PREFIX)?;
    let hashed = secrets::sha256(&code);
    codes::replace(db, &new_code(user.id, Purpose::Activation, &hashed, Some(&code), None, now))?;
    notifier
        .notify(&json!({"event": "user.activation", "email": user.email, "username": user.username, "token": code}));
    Ok(())
}

/// Activates (verifies) the account an activation token belongs to. 400 `invalid_token` when the token is
/// unknown, used or expired.
pub fn activate(db: &dyn Db, token: &str, now: i64) -> Result<User, ApiError> {
    db::transaction(db, || {
        let (user_id, _) =
            codes::consume(db, Purpose::Activation, &secrets::sha256(token), now)?.ok_or_else(invalid_code)?;
        let changes = users::Changes { verified: Some(true), ..Default::default() };
        users::update(db, user_id, &changes)?.ok_or_else(invalid_code)
    })
}

/// Starts a password reset. Always succeeds (202) whether or not the address has an account: an active
/// account gets a reset token through the notifier (`user.password_reset`); an unknown or disabled address
/// only produces `user.password_reset_unknown`. Limited per client address (`client_addr`, `ip:port`).
pub fn request_password_reset(
    db: &dyn Db,
    kv: &dyn Kv,
    client_addr: Option<&str>,
    notifier: &dyn Notifier,
    input: &ResetRequestInput,
    now: i64,
) -> Result<(), ApiError> {
    Checks::new().check("email", rules::email(&input.email)).finish()?;
    if let Some(address) = client_addr {
        let key = format!("reset:addr:{}", throttle::client_host(address));
        throttle::check(kv, &key, RESETS_PER_ADDRESS, now)?;
        throttle::record_failure(kv, &key, RESETS_PER_ADDRESS, now)?;
    }
    match users::find_by_email(db, &input.email)?.filter(|user| user.active) {
        Some(user) => {
            let code = secrets::new_token(secrets::RESET_PREFIX)?;
            let hashed = secrets::sha256(&code);
            codes::replace(db, &new_code(user.id, Purpose::PasswordReset, &hashed, None, None, now))?;
            notifier.notify(
                &json!({"event": "user.password_reset", "email": user.email, "username": user.username, "token": code}),
            );
        }
        None => notifier.notify(&json!({"event": "user.password_reset_unknown", "email": input.email})),
    }
    Ok(())
}

/// Sets a new password with a reset token. Proving control of the address also verifies the account;
/// every login session of the account ends and its failed-login counter is cleared. 400 `invalid_token`
/// for an unknown, used or expired token.
pub fn confirm_password_reset(db: &dyn Db, kv: &dyn Kv, input: &ResetConfirmInput, now: i64) -> Result<(), ApiError> {
    Checks::new().check("new_password", rules::password(&input.new_password)).finish()?;
    let hash = secrets::hash_password(&input.new_password)?;
    let user_id = db::transaction(db, || {
        let (user_id, _) = codes::consume(db, Purpose::PasswordReset, &secrets::sha256(&input.token), now)?
            .ok_or_else(invalid_code)?;
        let changes = users::Changes { password_hash: Some(hash.clone()), verified: Some(true), ..Default::default() };
        users::update(db, user_id, &changes)?.ok_or_else(invalid_code)?;
        codes::delete_for(db, user_id, Purpose::Activation)?;
        tokens::delete_all(db, user_id, TokenKind::Session, None)?;
        Ok::<_, ApiError>(user_id)
    })?;
    throttle::clear(kv, &account_key(user_id))
}

/// Applies a confirmed email change (the token went to the new address). 409 when the address was taken
/// in the meantime; 400 `invalid_token` for an unknown, used or expired token.
pub fn confirm_email(db: &dyn Db, token: &str, now: i64) -> Result<User, ApiError> {
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
pub fn list_activations(
    db: &dyn Db,
    principal: &Principal,
    pairs: &[(String, String)],
    now: i64,
) -> Result<Listing, ApiError> {
    auth::require_admin(principal)?;
    Listing::run(db, &codes::ACTIVATIONS, &codes::activations_scope(now), pairs)
}
