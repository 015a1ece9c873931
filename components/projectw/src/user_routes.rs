//! `/api/users/*`: a signed-in user's tokens, sessions and account, over Conveyor's account services.

use crate::caller;
use conveyor_core::accounts::{self, Me, TokenInput};
use conveyor_core::auth;
use conveyor_core::clock;
use conveyor_core::compat::projectw::accounts::{self as pw, TokenInfo, UserInfo};
use conveyor_core::compat::projectw::wire::{self, Refusal};
use conveyor_core::{ApiError, Ctx, Response};

/// `POST /api/users/get_new_api_token?name=` → a new API token (never admin, never expiring) as a JSON
/// string.
pub fn get_new_api_token(ctx: &Ctx) -> Result<Response, Refusal> {
    let principal = caller::account(ctx)?;
    let name = wire::query_param(&ctx.request.query_pairs(), "name")?;
    let input = TokenInput { name: name.clone(), expires_at: None, admin: false };
    let created = accounts::create_token(ctx.db()?, &principal, &input, clock::now())
        .map_err(|error| pw::new_token_refusal(error, &name))?;
    Ok(wire::ok(&created.secret))
}

/// `DELETE /api/users/invalidate_token?token_id=` → `"Success"`; a token that is not the caller's is left
/// alone, and the answer is the same.
pub fn invalidate_token(ctx: &Ctx) -> Result<Response, Refusal> {
    let principal = caller::account(ctx)?;
    let id = wire::query_int(&ctx.request.query_pairs(), "token_id")?;
    match accounts::revoke_credential(ctx.db()?, &principal, id) {
        Ok(()) | Err(ApiError::NotFound(_)) => Ok(wire::success()),
        Err(other) => Err(other.into()),
    }
}

/// `DELETE /api/users/invalidate_all_tokens` → `"Success"`: every token and session of the caller, this one
/// too.
pub fn invalidate_all_tokens(ctx: &Ctx) -> Result<Response, Refusal> {
    let principal = caller::account(ctx)?;
    accounts::revoke_all_credentials(ctx.db()?, &principal)?;
    Ok(wire::success())
}

/// `DELETE /api/users/logout` → `"Success"`: the credential of the request (session or API token) stops
/// working; the `token` cookie is cleared whatever the answer, so a stale one goes too.
pub fn logout(ctx: &Ctx) -> Result<Response, Refusal> {
    let outcome = caller::account(ctx).and_then(|principal| {
        let current = auth::require_user(&principal)?.token_id;
        accounts::revoke_credential(ctx.db()?, &principal, current)?;
        Ok(wire::success())
    });
    let response = outcome.unwrap_or_else(|refusal| refusal.response());
    Ok(response.with_header("set-cookie", pw::cleared_token_cookie(ctx.request.is_https())))
}

/// `GET /api/users/get_all_token_info` → the caller's unexpired tokens and sessions, the most recently used
/// first.
pub fn get_all_token_info(ctx: &Ctx) -> Result<Response, Refusal> {
    let principal = caller::account(ctx)?;
    let credentials = accounts::list_credentials(ctx.db()?, &principal, clock::now())?;
    Ok(wire::ok(&credentials.iter().map(TokenInfo::from).collect::<Vec<_>>()))
}

/// `GET /api/users/info` → `UserResponse`.
pub fn info(ctx: &Ctx) -> Result<Response, Refusal> {
    let principal = caller::account(ctx)?;
    match accounts::me(ctx.db()?, &principal)? {
        Me::User { user, .. } => Ok(wire::ok(&UserInfo::from(&user))),
        Me::Builtin { .. } => Err(Refusal::new(403, "The built-in administrator has no account")),
    }
}

/// `POST /api/users/accept_tos?tos_id=&tos_version=`: Conveyor has no terms of service, so every id and
/// version is unknown (400), as for Project-W without the term asked for.
pub fn accept_tos(ctx: &Ctx) -> Result<Response, Refusal> {
    caller::account(ctx)?;
    let pairs = ctx.request.query_pairs();
    let id = wire::query_int(&pairs, "tos_id")?;
    let version = wire::query_int(&pairs, "tos_version")?;
    Err(pw::unknown_terms(id, version))
}

/// `DELETE /api/users/delete` → `"Success"`: the caller's account goes, with their jobs (their open tasks
/// leave the queue: trigger `projectw_job_gone`), tokens and sessions.
pub fn delete(ctx: &Ctx) -> Result<Response, Refusal> {
    let principal = caller::account(ctx)?;
    accounts::delete_own_account(ctx.db()?, &principal)?;
    Ok(wire::success())
}
