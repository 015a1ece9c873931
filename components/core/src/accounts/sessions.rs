//! Signed-in life: login (with its throttles), logout, password change and `GET /me`.

use super::account_key;
use crate::auth::{self, Principal};
use crate::db::{self, Db};
use crate::domain::accounts::{self as rules, Checks, Ref, SESSION_TTL};
use crate::error::ApiError;
use crate::platform::Kv;
use crate::secrets;
use crate::store::groups;
use crate::store::tokens::{self, NewToken, TokenKind};
use crate::store::users::{self, User};
use crate::throttle;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// `POST /auth/login`: `username` (which may also hold an email address) or `email`, and `password`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
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
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeInput {
    pub current_password: String,
    pub new_password: String,
}

/// A new login session: the bearer token (also set as the session cookie), when it expires, and the user.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Session {
    pub token: String,
    pub expires_at: i64,
    pub user: User,
}

/// `GET /me`: who the caller is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Me {
    /// The built-in administrator, who has no account: `{"id": null, "username": null, "admin": true,
    /// "builtin": true}`.
    Builtin { id: Option<i64>, username: Option<String>, admin: bool, builtin: bool },
    /// A user: the account, its groups and the credential the request authenticated with.
    User {
        #[serde(flatten)]
        user: User,
        groups: Vec<Json>,
        credential: Credential,
    },
}

/// The credential a request authenticated with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Credential {
    /// `session` or `token`.
    pub kind: &'static str,
    pub id: i64,
    /// Effective admin rights.
    pub admin: bool,
}

/// The rights a new session carries (its `admin` flag, the admin scope a named token has too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionScope {
    /// The account's own rights, administrator rights included when it has them: Conveyor's login.
    Account,
    /// A user's rights only, even for an administrator: Project-W's login without `scope=admin`.
    User,
    /// Administrator rights, refused (400 `not_admin`) to an account without them: Project-W's
    /// `scope=admin`.
    Admin,
}

/// Logs in with a username or email and a password and opens a 7-day session. Wrong credentials of any
/// kind are the same 401 (an unknown account costs a password verification too); a correct password on a
/// disabled or not yet activated account is a 403. Failures are throttled per account and per client
/// address (`client_addr`, `ip:port`; 429 with Retry-After), checked before the password is.
pub fn login(
    db: &dyn Db,
    kv: &dyn Kv,
    client_addr: Option<&str>,
    input: &LoginInput,
    now: i64,
) -> Result<Session, ApiError> {
    login_scoped(db, kv, client_addr, input, SessionScope::Account, "session", now)
}

/// [`login`] opening a session of `scope` listed under `name` (Project-W names a session after the
/// client's `User-Agent`; at most 100 characters are kept). [`SessionScope::Admin`] for an account without
/// administrator rights is a 400 `not_admin`, answered only to someone who knows the password.
pub fn login_scoped(
    db: &dyn Db,
    kv: &dyn Kv,
    client_addr: Option<&str>,
    input: &LoginInput,
    scope: SessionScope,
    name: &str,
    now: i64,
) -> Result<Session, ApiError> {
    let identifier = match (&input.username, &input.email) {
        (Some(name), None) => name.trim(),
        (None, Some(email)) => email.trim(),
        _ => return Err(ApiError::invalid_field("username", "give exactly one of `username` and `email`")),
    };
    let candidate = if identifier.is_empty() { None } else { users::find_for_login(db, identifier)? };
    let account = match &candidate {
        Some((user, _)) => account_key(user.id),
        None => format!("login:name:{}", secrets::hex(&secrets::sha256(&identifier.to_lowercase())[..16])),
    };
    let address = client_addr.map(|addr| format!("login:addr:{}", throttle::client_host(addr)));
    throttle::check(kv, &account, throttle::PER_ACCOUNT, now)?;
    if let Some(address) = &address {
        throttle::check(kv, address, throttle::PER_ADDRESS, now)?;
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
            throttle::record_failure(kv, &account, throttle::PER_ACCOUNT, now)?;
            if let Some(address) = &address {
                throttle::record_failure(kv, address, throttle::PER_ADDRESS, now)?;
            }
            return Err(ApiError::Unauthorized("invalid username, email or password".into()));
        }
    };
    throttle::clear(kv, &account)?;
    if !user.active {
        return Err(ApiError::Forbidden("this account is disabled".into()));
    }
    if !user.verified {
        return Err(ApiError::Forbidden("this account is not activated yet".into()));
    }
    if scope == SessionScope::Admin && !user.admin {
        return Err(ApiError::bad_request("not_admin", "an admin-scoped session needs an administrator's account"));
    }
    let name: String = name.trim().chars().filter(|c| !c.is_control()).take(rules::NAME_MAX).collect();
    let name = if name.is_empty() { "session" } else { name.as_str() };
    let secret = secrets::new_token(secrets::SESSION_PREFIX)?;
    let expires_at = now + SESSION_TTL;
    db::transaction(db, || {
        tokens::purge_expired_sessions(db, user.id, now)?;
        let hash = secrets::sha256(&secret);
        let session = NewToken {
            user_id: user.id,
            kind: TokenKind::Session,
            name,
            prefix: &secrets::visible_prefix(&secret),
            secret_hash: &hash,
            admin: scope != SessionScope::User,
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
/// [`revoke_token`](super::revoke_token)). 401 for anonymous callers.
pub fn logout(db: &dyn Db, principal: &Principal) -> Result<(), ApiError> {
    auth::require_signed_in(principal)?;
    if let Principal::User(user) = principal
        && user.token_kind == TokenKind::Session
    {
        tokens::delete(db, user.id, user.token_id, TokenKind::Session)?;
    }
    Ok(())
}

/// Changes the caller's password after checking the current one (wrong → 422 on `current_password`,
/// throttled like logins). Every other session of the user ends.
pub fn change_password(
    db: &dyn Db,
    kv: &dyn Kv,
    principal: &Principal,
    input: &PasswordChangeInput,
    now: i64,
) -> Result<(), ApiError> {
    let me = auth::require_user(principal)?;
    Checks::new().check("new_password", rules::password(&input.new_password)).finish()?;
    confirm_password(db, kv, me.id, &input.current_password, "current_password", now)?;
    let hash = secrets::hash_password(&input.new_password)?;
    let keep = (me.token_kind == TokenKind::Session).then_some(me.token_id);
    db::transaction(db, || {
        let changes = users::Changes { password_hash: Some(hash.clone()), ..Default::default() };
        users::update(db, me.id, &changes)?;
        tokens::delete_all(db, me.id, TokenKind::Session, keep)?;
        Ok::<_, ApiError>(())
    })
}

/// Checks a signed-in user's own password before a change they make (422 on `field` when wrong). Failures
/// count against the account like failed logins, and the check is refused while the account is locked.
pub(super) fn confirm_password(
    db: &dyn Db,
    kv: &dyn Kv,
    user_id: i64,
    password: &str,
    field: &str,
    now: i64,
) -> Result<(), ApiError> {
    let key = account_key(user_id);
    throttle::check(kv, &key, throttle::PER_ACCOUNT, now)?;
    let matches = match users::password_hash(db, user_id)? {
        Some(hash) => secrets::verify_password(password, &hash),
        None => {
            secrets::verify_dummy(password);
            false
        }
    };
    if !matches {
        throttle::record_failure(kv, &key, throttle::PER_ACCOUNT, now)?;
        return Err(ApiError::invalid_field(field, "is not correct"));
    }
    throttle::clear(kv, &key)
}

/// The caller's account with its groups and how the request authenticated; the built-in administrator is
/// [`Me::Builtin`]. 401 for anonymous callers and for a user whose account is gone.
pub fn me(db: &dyn Db, principal: &Principal) -> Result<Me, ApiError> {
    match principal {
        Principal::Anonymous => Err(ApiError::Unauthorized("authentication required".into())),
        Principal::Admin => Ok(Me::Builtin { id: None, username: None, admin: true, builtin: true }),
        Principal::User(me) => {
            let user = users::find(db, &Ref::Id(me.id))?
                .ok_or_else(|| ApiError::Unauthorized("the account is gone".into()))?;
            let kind = match me.token_kind {
                TokenKind::Session => "session",
                TokenKind::Api => "token",
            };
            Ok(Me::User {
                user,
                groups: groups::of_user(db, me.id)?,
                credential: Credential { kind, id: me.token_id, admin: me.admin },
            })
        }
    }
}
