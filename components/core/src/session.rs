//! The login session at the HTTP edge: the cookie a login sets and the logout that clears it. The
//! `accounts` and `tracker` components both use these, so the two surfaces set and end sessions alike.

use crate::accounts::{self, Session};
use crate::auth::{self, SESSION_COOKIE};
use crate::domain::accounts::SESSION_TTL;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::router::Ctx;

/// The `Set-Cookie` value carrying a new login session.
pub fn cookie(request: &Request, session: &Session) -> String {
    set_cookie(&session.token, SESSION_TTL, request.is_https())
}

/// Ends the session the request authenticated with (204) and always clears the cookie, even when the
/// presented credential was refused; errors are answered with `on_error` (the surface's own envelope).
pub fn logout(ctx: &Ctx, on_error: fn(&ApiError) -> Response) -> Response {
    let outcome = auth::authenticate(ctx).and_then(|principal| accounts::logout(ctx.db()?, &principal));
    let response = match outcome {
        Ok(()) => Response::no_content(),
        Err(error) => on_error(&error),
    };
    response.with_header("set-cookie", set_cookie("", 0, ctx.request.is_https()))
}

/// HttpOnly, SameSite=Lax, Path=/, `Secure` on https; `max_age` 0 removes the cookie.
fn set_cookie(token: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}
