//! Who calls, as Project-W tells it: a runner by its bearer token (and, once registered, its session token),
//! a user by their Conveyor credential (`Authorization: Bearer`, else the `token` cookie of Project-W's login
//! or Conveyor's session cookie, through core's one cross-site check), an administrator by administrator
//! rights. Refusals carry Project-W's details.

use conveyor_core::auth::{self, Principal};
use conveyor_core::compat::projectw::accounts::SESSION_COOKIES;
use conveyor_core::compat::projectw::wire::{self, Refusal};
use conveyor_core::projectw::runners::{self, RunnerRow};
use conveyor_core::{ApiError, Ctx};

fn not_authenticated() -> Refusal {
    Refusal::new(401, "Not authenticated")
}

/// The bearer token of the `Authorization` header (the only credential Project-W's runners send).
fn bearer(ctx: &Ctx) -> Result<String, Refusal> {
    let header = ctx.request.header("authorization").ok_or_else(not_authenticated)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or_else(not_authenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(not_authenticated());
    }
    Ok(token.trim().to_string())
}

/// The runner whose token this is (401 otherwise).
pub fn runner(ctx: &Ctx) -> Result<RunnerRow, Refusal> {
    let token = bearer(ctx)?;
    Ok(runners::authenticate(ctx.db()?, &token)?)
}

/// The runner, online with the `session_token` of the query (422 without one, 403 when it is not its own).
pub fn online_runner(ctx: &Ctx, now: i64) -> Result<RunnerRow, Refusal> {
    let runner = runner(ctx)?;
    let session = wire::query_param(&ctx.request.query_pairs(), "session_token")?;
    runners::require_session(&runner, &session, now)?;
    Ok(runner)
}

fn person(ctx: &Ctx) -> Result<Principal, Refusal> {
    match auth::authenticate_with_cookies(ctx, SESSION_COOKIES) {
        Ok(Principal::Anonymous) => Err(not_authenticated()),
        Ok(principal) => Ok(principal),
        Err(ApiError::Unauthorized(_)) => Err(Refusal::new(401, "Could not validate token")),
        Err(other) => Err(other.into()),
    }
}

/// The signed-in user's id (the built-in administrator has no jobs: 403).
pub fn user(ctx: &Ctx) -> Result<i64, Refusal> {
    let principal = account(ctx)?;
    Ok(auth::require_user(&principal)?.id)
}

/// The signed-in user as the account services take them (the built-in administrator has no account: 403).
pub fn account(ctx: &Ctx) -> Result<Principal, Refusal> {
    match person(ctx)? {
        principal @ Principal::User(_) => Ok(principal),
        _ => Err(Refusal::new(403, "The built-in administrator has no account; sign in as a user for this")),
    }
}

/// A caller with administrator rights (Project-W: an admin-scoped token).
pub fn admin(ctx: &Ctx) -> Result<(), Refusal> {
    if person(ctx)?.is_admin() { Ok(()) } else { Err(Refusal::new(403, "Not enough permissions")) }
}
