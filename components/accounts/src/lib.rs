//! Component `accounts` (SPEC §2): sign-up, activation, password reset, login/logout, `/me`, named tokens,
//! users and groups. Each handler parses the request, calls `conveyor_core::accounts`, and answers; all
//! rules live there. Decisions: `docs/accounts.md`.

#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::accounts::{self, GroupPatch, NewGroupInput, NewUserInput, TokenBody, TokenInput, UserPatch};
use conveyor_core::auth::{self, Principal};
use conveyor_core::domain::accounts::{Ref, SESSION_TTL};
use conveyor_core::{ApiError, Ctx, Response, Router, route};
use serde_json::json;
use spin_sdk::http_component;

// ----- /auth -----

fn signup(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(Response::created(&accounts::signup(ctx, &ctx.json()?)?))
}

fn activate(ctx: &Ctx) -> Result<Response, ApiError> {
    let body: TokenBody = ctx.json()?;
    Ok(Response::ok(&accounts::activate(ctx, &body.token)?))
}

fn password_reset(ctx: &Ctx) -> Result<Response, ApiError> {
    accounts::request_password_reset(ctx, &ctx.json()?)?;
    let detail = "if the address belongs to an account, a reset token has been sent to it";
    Ok(Response::json(202, &json!({ "detail": detail })))
}

fn password_reset_confirm(ctx: &Ctx) -> Result<Response, ApiError> {
    accounts::confirm_password_reset(ctx, &ctx.json()?)?;
    Ok(Response::no_content())
}

fn confirm_email(ctx: &Ctx) -> Result<Response, ApiError> {
    let body: TokenBody = ctx.json()?;
    Ok(Response::ok(&accounts::confirm_email(ctx, &body.token)?))
}

fn login(ctx: &Ctx) -> Result<Response, ApiError> {
    let session = accounts::login(ctx, &ctx.json()?)?;
    let cookie = auth::session_cookie(&session.token, SESSION_TTL, is_https(ctx));
    Ok(Response::ok(&session.to_json()).with_header("set-cookie", cookie))
}

/// Ends the session and always clears the cookie, even when the presented credential was refused.
fn logout(ctx: &Ctx) -> Result<Response, ApiError> {
    let outcome = auth::authenticate(ctx).and_then(|principal| accounts::logout(ctx, &principal));
    let response = match outcome {
        Ok(()) => Response::no_content(),
        Err(error) => Response::from(error),
    };
    Ok(response.with_header("set-cookie", auth::clear_session_cookie(is_https(ctx))))
}

fn activations(ctx: &Ctx) -> Result<Response, ApiError> {
    let listing = accounts::list_activations(ctx, &principal(ctx)?, &ctx.request.query_pairs())?;
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

// ----- /me -----

fn me(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(Response::ok(&accounts::me(ctx, &principal(ctx)?)?))
}

fn change_password(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    accounts::change_password(ctx, &principal, &ctx.json()?)?;
    Ok(Response::no_content())
}

// ----- /tokens -----

fn list_tokens(ctx: &Ctx) -> Result<Response, ApiError> {
    let listing = accounts::list_tokens(ctx, &principal(ctx)?, &ctx.request.query_pairs())?;
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

fn create_token(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let input: TokenInput = ctx.json()?;
    Ok(Response::created(&accounts::create_token(ctx, &principal, &input)?.to_json()))
}

fn revoke_all_tokens(ctx: &Ctx) -> Result<Response, ApiError> {
    let revoked = accounts::revoke_all_tokens(ctx, &principal(ctx)?)?;
    Ok(Response::ok(&json!({ "revoked": revoked })))
}

fn get_token(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    Ok(Response::ok(&accounts::get_token(ctx, &principal, token_id(ctx)?)?))
}

fn revoke_token(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    accounts::revoke_token(ctx, &principal, token_id(ctx)?)?;
    Ok(Response::no_content())
}

// ----- /users -----

fn list_users(ctx: &Ctx) -> Result<Response, ApiError> {
    let listing = accounts::list_users(ctx, &principal(ctx)?, &ctx.request.query_pairs())?;
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

fn create_user(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let input: NewUserInput = ctx.json()?;
    Ok(Response::created(&accounts::create_user(ctx, &principal, &input)?))
}

fn get_user(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(Response::ok(&accounts::get_user(ctx, &principal(ctx)?, &user_ref(ctx))?))
}

fn update_user(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let patch: UserPatch = ctx.json()?;
    Ok(Response::ok(&accounts::update_user(ctx, &principal, &user_ref(ctx), &patch)?.to_json()))
}

fn delete_user(ctx: &Ctx) -> Result<Response, ApiError> {
    accounts::delete_user(ctx, &principal(ctx)?, &user_ref(ctx))?;
    Ok(Response::no_content())
}

// ----- /groups -----

fn list_groups(ctx: &Ctx) -> Result<Response, ApiError> {
    let listing = accounts::list_groups(ctx, &principal(ctx)?, &ctx.request.query_pairs())?;
    Ok(Response::ok(&listing.to_json(&ctx.request)))
}

fn create_group(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let input: NewGroupInput = ctx.json()?;
    Ok(Response::created(&accounts::create_group(ctx, &principal, &input)?))
}

fn get_group(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(Response::ok(&accounts::get_group(ctx, &principal(ctx)?, &group_ref(ctx))?))
}

fn update_group(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let patch: GroupPatch = ctx.json()?;
    Ok(Response::ok(&accounts::update_group(ctx, &principal, &group_ref(ctx), &patch)?))
}

fn delete_group(ctx: &Ctx) -> Result<Response, ApiError> {
    accounts::delete_group(ctx, &principal(ctx)?, &group_ref(ctx))?;
    Ok(Response::no_content())
}

/// 201 when the user was added, 200 when they already were a member; the body is the group.
fn add_member(ctx: &Ctx) -> Result<Response, ApiError> {
    let (group, added) = accounts::add_member(ctx, &principal(ctx)?, &group_ref(ctx), &user_ref(ctx))?;
    Ok(Response::json(if added { 201 } else { 200 }, &group))
}

fn remove_member(ctx: &Ctx) -> Result<Response, ApiError> {
    accounts::remove_member(ctx, &principal(ctx)?, &group_ref(ctx), &user_ref(ctx))?;
    Ok(Response::no_content())
}

// ----- helpers -----

fn principal(ctx: &Ctx) -> Result<Principal, ApiError> {
    auth::authenticate(ctx)
}

fn user_ref(ctx: &Ctx) -> Ref {
    Ref::parse(ctx.param("user"))
}

fn group_ref(ctx: &Ctx) -> Ref {
    Ref::parse(ctx.param("group"))
}

/// A token id from the path; anything but an integer names no token.
fn token_id(ctx: &Ctx) -> Result<i64, ApiError> {
    ctx.param("id").parse().map_err(|_| ApiError::NotFound("no such token".into()))
}

fn is_https(ctx: &Ctx) -> bool {
    ctx.request.base_url.starts_with("https://")
}

fn router() -> Router {
    Router::new(vec![
        route("POST", "/api/v1/auth/signup", signup),
        route("POST", "/api/v1/auth/activate", activate),
        route("POST", "/api/v1/auth/password-reset", password_reset),
        route("POST", "/api/v1/auth/password-reset/confirm", password_reset_confirm),
        route("POST", "/api/v1/auth/confirm-email", confirm_email),
        route("POST", "/api/v1/auth/login", login),
        route("POST", "/api/v1/auth/logout", logout),
        route("GET", "/api/v1/auth/activations", activations),
        route("GET", "/api/v1/me", me),
        route("PUT", "/api/v1/me/password", change_password),
        route("GET", "/api/v1/tokens", list_tokens),
        route("POST", "/api/v1/tokens", create_token),
        route("DELETE", "/api/v1/tokens", revoke_all_tokens),
        route("GET", "/api/v1/tokens/:id", get_token),
        route("DELETE", "/api/v1/tokens/:id", revoke_token),
        route("GET", "/api/v1/users", list_users),
        route("POST", "/api/v1/users", create_user),
        route("GET", "/api/v1/users/:user", get_user),
        route("PATCH", "/api/v1/users/:user", update_user),
        route("DELETE", "/api/v1/users/:user", delete_user),
        route("GET", "/api/v1/groups", list_groups),
        route("POST", "/api/v1/groups", create_group),
        route("GET", "/api/v1/groups/:group", get_group),
        route("PATCH", "/api/v1/groups/:group", update_group),
        route("DELETE", "/api/v1/groups/:group", delete_group),
        route("PUT", "/api/v1/groups/:group/members/:user", add_member),
        route("DELETE", "/api/v1/groups/:group/members/:user", remove_member),
    ])
}

#[http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
