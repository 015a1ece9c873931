//! Named API tokens (`cvt_…`): a user creates, lists, reads and revokes their own; another user's token is
//! always a 404.

use super::Listing;
use crate::auth::{self, Principal};
use crate::db::{self, Db};
use crate::domain::accounts::{self as rules, Checks, Ref};
use crate::error::ApiError;
use crate::secrets;
use crate::store::tokens::{self, NewToken, Token, TokenKind};
use crate::store::users;
use serde::{Deserialize, Serialize};

/// A user may hold at most this many named tokens.
pub const MAX_TOKENS_PER_USER: i64 = 100;

/// `POST /tokens`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    pub name: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub admin: bool,
}

/// A token just created: its fields plus `"token": <secret>`, the only time the secret is shown.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: Token,
    #[serde(rename = "token")]
    pub secret: String,
}

/// Creates a named token for the caller and returns its secret (shown this once). `admin` scope only
/// for callers with admin rights (403 otherwise); `expires_at` must lie after `now`.
pub fn create_token(
    db: &dyn Db,
    principal: &Principal,
    input: &TokenInput,
    now: i64,
) -> Result<CreatedToken, ApiError> {
    let me = auth::require_user(principal)?;
    issue(db, me.id, me.admin, input, now)
}

/// Creates a named token for another user (administrators; Seed Scheduler's `POST /user/token/`), with the
/// rules of [`create_token`] as if that user asked: `admin` scope only when they are an administrator.
pub fn create_token_for(
    db: &dyn Db,
    principal: &Principal,
    user: &Ref,
    input: &TokenInput,
    now: i64,
) -> Result<CreatedToken, ApiError> {
    auth::require_admin(principal)?;
    let owner = users::find(db, user)?.ok_or_else(super::user_not_found)?;
    issue(db, owner.id, owner.admin, input, now)
}

fn issue(db: &dyn Db, user_id: i64, user_admin: bool, input: &TokenInput, now: i64) -> Result<CreatedToken, ApiError> {
    let expiry = match input.expires_at {
        Some(at) if at <= now => Err("must lie in the future".to_string()),
        _ => Ok(()),
    };
    Checks::new().check("name", rules::token_name(&input.name)).check("expires_at", expiry).finish()?;
    if input.admin && !user_admin {
        return Err(ApiError::Forbidden("only administrators can create admin-scoped tokens".into()));
    }
    let secret = secrets::new_token(secrets::API_TOKEN_PREFIX)?;
    let hash = secrets::sha256(&secret);
    let token = db::transaction(db, || {
        if tokens::count(db, user_id, TokenKind::Api)? >= MAX_TOKENS_PER_USER {
            return Err(ApiError::conflict(
                "limit_reached",
                format!("a user may hold at most {MAX_TOKENS_PER_USER} tokens; revoke one first"),
            ));
        }
        let new = NewToken {
            user_id,
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
pub fn list_tokens(db: &dyn Db, principal: &Principal, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    let me = auth::require_user(principal)?;
    Listing::run(db, &tokens::RESOURCE, &tokens::scope(me.id), pairs)
}

/// One of the caller's named tokens; another user's token is a 404.
pub fn get_token(db: &dyn Db, principal: &Principal, id: i64) -> Result<Token, ApiError> {
    let me = auth::require_user(principal)?;
    tokens::get(db, me.id, id)?.ok_or_else(token_not_found)
}

/// Revokes one of the caller's named tokens at once; another user's token is a 404.
pub fn revoke_token(db: &dyn Db, principal: &Principal, id: i64) -> Result<(), ApiError> {
    let me = auth::require_user(principal)?;
    if tokens::delete(db, me.id, id, TokenKind::Api)? { Ok(()) } else { Err(token_not_found()) }
}

/// Revokes every named token of the caller; returns how many.
pub fn revoke_all_tokens(db: &dyn Db, principal: &Principal) -> Result<i64, ApiError> {
    let me = auth::require_user(principal)?;
    Ok(tokens::delete_all(db, me.id, TokenKind::Api, None)?)
}

/// One of a user's credentials as Project-W lists them: a named token or a login session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct CredentialInfo {
    /// The row; its `admin` is the effective right (the scope, held by an administrator's account).
    #[serde(flatten)]
    pub token: Token,
    /// A login session rather than a named token.
    pub session: bool,
}

/// Every unexpired credential of the caller, named tokens and sessions alike (Project-W lists both), the
/// most recently used first.
pub fn list_credentials(db: &dyn Db, principal: &Principal, now: i64) -> Result<Vec<CredentialInfo>, ApiError> {
    let me = auth::require_user(principal)?;
    let user_admin = users::find(db, &Ref::Id(me.id))?.is_some_and(|user| user.admin);
    let listed = tokens::credentials_of(db, me.id, now)?;
    Ok(listed
        .into_iter()
        .map(|(token, kind)| CredentialInfo {
            token: Token { admin: token.admin && user_admin, ..token },
            session: kind == TokenKind::Session,
        })
        .collect())
}

/// Revokes one of the caller's credentials, a named token or a login session (Project-W's token ids cover
/// both); another user's, or a missing one, is a 404.
pub fn revoke_credential(db: &dyn Db, principal: &Principal, id: i64) -> Result<(), ApiError> {
    let me = auth::require_user(principal)?;
    let revoked = tokens::delete(db, me.id, id, TokenKind::Api)? || tokens::delete(db, me.id, id, TokenKind::Session)?;
    if revoked { Ok(()) } else { Err(token_not_found()) }
}

/// Revokes every credential of the caller, sessions included (the one in use too); returns how many.
pub fn revoke_all_credentials(db: &dyn Db, principal: &Principal) -> Result<i64, ApiError> {
    let me = auth::require_user(principal)?;
    db::transaction(db, || {
        let named = tokens::delete_all(db, me.id, TokenKind::Api, None)?;
        Ok(named + tokens::delete_all(db, me.id, TokenKind::Session, None)?)
    })
}

/// 404 for a token that is not the caller's (or does not exist).
pub fn token_not_found() -> ApiError {
    ApiError::NotFound("no such token".into())
}
