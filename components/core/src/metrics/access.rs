//! Who may read `GET /metrics`: a scraper presenting the Spin variable `metrics_token` (when non-empty) as
//! `Authorization: Bearer`, or an administrator (the built-in one, or a user credential with administrator
//! rights). Anyone else authenticated is refused (403, workers included); no credential, or a wrong one, is 401.

use crate::auth;
use crate::caller;
use crate::error::ApiError;
use crate::router::Ctx;
use crate::secrets;

/// The variable naming the scrapers' token.
pub const TOKEN_VARIABLE: &str = "metrics_token";

/// Ok when the caller may read the metrics (see the module docs).
pub fn authorize(ctx: &Ctx) -> Result<(), ApiError> {
    if let Some(expected) = ctx.variable(TOKEN_VARIABLE).filter(|token| !token.is_empty())
        && bearer(ctx).is_some_and(|presented| secrets::secrets_equal(presented, &expected))
    {
        return Ok(());
    }
    let caller = caller::authenticate(ctx)?;
    let principal = caller::require_person(&caller).map_err(|error| match error {
        ApiError::Unauthorized(_) => {
            ApiError::Unauthorized("authentication required: the metrics token or an administrator's credential".into())
        }
        other => other,
    })?;
    auth::require_admin(principal)
}

/// The token of an `Authorization: Bearer` header.
fn bearer<'a>(ctx: &'a Ctx) -> Option<&'a str> {
    let (scheme, token) = ctx.request.header("authorization")?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
