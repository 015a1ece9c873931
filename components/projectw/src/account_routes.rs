//! `/api/local-account/*`: signing in and looking after a local account, over Conveyor's account services.
//! Project-W's login answers the session only as the `token` cookie; every other shape is Project-W's too.

use crate::caller;
use conveyor_core::accounts::{self, Hook, LoginInput, ResetRequestInput, Settings};
use conveyor_core::clock;
use conveyor_core::compat::projectw::accounts as pw;
use conveyor_core::compat::projectw::wire::{self, Refusal};
use conveyor_core::{Ctx, Response};

/// `POST /api/local-account/login` (OAuth2 password form; `scope=admin` for administrator rights) →
/// `"Success. Returning your login token as a cookie"` with `Set-Cookie: token=…`.
pub fn login(ctx: &Ctx) -> Result<Response, Refusal> {
    let form = pw::login_form(ctx.request.header("content-type"), &ctx.request.body)?;
    let email = pw::login_email(&form.username)?;
    let scope = pw::session_scope(&form.scope)?;
    let device = ctx.request.header("user-agent").unwrap_or("Unknown device");
    let input = LoginInput { username: None, email: Some(email), password: form.password };
    let (db, kv, client) = (ctx.db()?, ctx.kv()?, ctx.request.client_addr.as_deref());
    match accounts::login_scoped(db, kv.as_ref(), client, &input, scope, device, clock::now()) {
        Ok(session) => Ok(wire::ok(&pw::LOGIN_SUCCESS)
            .with_header("set-cookie", pw::token_cookie(&session.token, ctx.request.is_https()))),
        Err(error) => Ok(pw::refused(error, pw::login_refusal)),
    }
}

/// `POST /api/local-account/signup` `{"email", "password"}` (when the `allow_signup` variable is `true`).
pub fn signup(ctx: &Ctx) -> Result<Response, Refusal> {
    let input = pw::signup_body(&ctx.request.body)?;
    let settings = Settings::from_ctx(ctx);
    accounts::signup_by_email(ctx.db()?, &settings, &Hook::new(ctx, &settings), &input, clock::now())
        .map_err(pw::signup_refusal)?;
    Ok(wire::ok(&pw::SIGNUP_SUCCESS))
}

/// `POST /api/local-account/activate?token=` → `"Success"` (an activation, or a confirmed email change).
pub fn activate(ctx: &Ctx) -> Result<Response, Refusal> {
    let token = wire::query_param(&ctx.request.query_pairs(), "token")?;
    pw::activate(ctx.db()?, &token, clock::now())?;
    Ok(wire::success())
}

/// `GET /api/local-account/resend_activation_email` (signed in, not yet activated).
pub fn resend_activation_email(ctx: &Ctx) -> Result<Response, Refusal> {
    let principal = caller::account(ctx)?;
    let hook = Hook::new(ctx, &Settings::from_ctx(ctx));
    accounts::resend_activation(ctx.db()?, &principal, &hook, clock::now()).map_err(pw::resend_refusal)?;
    Ok(wire::ok(&"A new account activation email for this user will be sent shortly"))
}

/// `GET /api/local-account/request_password_reset?email=` → the same answer for every address.
pub fn request_password_reset(ctx: &Ctx) -> Result<Response, Refusal> {
    let email = wire::query_param(&ctx.request.query_pairs(), "email")?;
    pw::reset_email(&email)?;
    let hook = Hook::new(ctx, &Settings::from_ctx(ctx));
    let input = ResetRequestInput { email: email.trim().to_string() };
    let (db, kv, client) = (ctx.db()?, ctx.kv()?, ctx.request.client_addr.as_deref());
    match accounts::request_password_reset(db, kv.as_ref(), client, &hook, &input, clock::now()) {
        Ok(()) => Ok(wire::ok(&pw::reset_requested(&email))),
        Err(error) => Ok(pw::refused(error, Refusal::from)),
    }
}

/// `POST /api/local-account/reset_password` `{"token", "new_password"}` → `"Success"`.
pub fn reset_password(ctx: &Ctx) -> Result<Response, Refusal> {
    let input = pw::reset_body(&ctx.request.body)?;
    accounts::confirm_password_reset(ctx.db()?, ctx.kv()?.as_ref(), &input, clock::now()).map_err(pw::reset_refusal)?;
    Ok(wire::success())
}

/// `POST /api/local-account/change_user_email` `{"new_email", "password"}`: a confirmation goes to the new
/// address.
pub fn change_user_email(ctx: &Ctx) -> Result<Response, Refusal> {
    let principal = caller::account(ctx)?;
    let input = pw::email_change_body(&ctx.request.body)?;
    let hook = Hook::new(ctx, &Settings::from_ctx(ctx));
    match accounts::change_email(ctx.db()?, ctx.kv()?.as_ref(), &principal, &input, &hook, clock::now()) {
        Ok(_) => Ok(wire::ok(&pw::EMAIL_CHANGE_REQUESTED)),
        Err(error) => Ok(pw::refused(error, pw::confirmed_change_refusal)),
    }
}

/// `POST /api/local-account/change_user_password` `{"new_password", "password"}`: the user's other sessions
/// end.
pub fn change_user_password(ctx: &Ctx) -> Result<Response, Refusal> {
    let principal = caller::account(ctx)?;
    let input = pw::password_change_body(&ctx.request.body)?;
    match accounts::change_password(ctx.db()?, ctx.kv()?.as_ref(), &principal, &input, clock::now()) {
        Ok(()) => Ok(wire::ok(&"Successfully updated user password")),
        Err(error) => Ok(pw::refused(error, pw::confirmed_change_refusal)),
    }
}
