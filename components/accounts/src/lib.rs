//! Component `accounts` (SPEC §2): sign-up, activation, password reset, login/logout, `/me`, named tokens,
//! users and groups. A route table of thin handlers: parse the request, authenticate, call one service of
//! `conveyor_core::accounts` (which holds every rule and access check), answer. Decisions: `docs/accounts.md`.

#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

use conveyor_core::accounts::{self, GroupPatch, Hook, NewGroupInput, NewUserInput, Settings};
use conveyor_core::accounts::{TokenBody, TokenInput, UserPatch};
use conveyor_core::auth::{self, Principal};
use conveyor_core::domain::accounts::Ref;
use conveyor_core::query::Listing;
use conveyor_core::{ApiError, Ctx, Response, Router, clock, route, session};
use serde_json::json;

// ----- /auth -----

fn signup(ctx: &Ctx) -> Result<Response, ApiError> {
    let input = ctx.json()?;
    let settings = Settings::from_ctx(ctx);
    let receipt = accounts::signup(ctx.db()?, &settings, &Hook::new(ctx, &settings), &input, clock::now())?;
    Ok(Response::created(&receipt))
}

fn activate(ctx: &Ctx) -> Result<Response, ApiError> {
    let body: TokenBody = ctx.json()?;
    Ok(Response::ok(&accounts::activate(ctx.db()?, &body.token, clock::now())?))
}

fn password_reset(ctx: &Ctx) -> Result<Response, ApiError> {
    let input = ctx.json()?;
    let hook = Hook::new(ctx, &Settings::from_ctx(ctx));
    let client = ctx.request.client_addr.as_deref();
    accounts::request_password_reset(ctx.db()?, ctx.kv()?.as_ref(), client, &hook, &input, clock::now())?;
    let detail = "if the address belongs to an account, a reset token has been sent to it";
    Ok(Response::json(202, &json!({ "detail": detail })))
}

fn password_reset_confirm(ctx: &Ctx) -> Result<Response, ApiError> {
    let input = ctx.json()?;
    accounts::confirm_password_reset(ctx.db()?, ctx.kv()?.as_ref(), &input, clock::now())?;
    Ok(Response::no_content())
}

fn confirm_email(ctx: &Ctx) -> Result<Response, ApiError> {
    let body: TokenBody = ctx.json()?;
    Ok(Response::ok(&accounts::confirm_email(ctx.db()?, &body.token, clock::now())?))
}

fn login(ctx: &Ctx) -> Result<Response, ApiError> {
    let input = ctx.json()?;
    let client = ctx.request.client_addr.as_deref();
    let session = accounts::login(ctx.db()?, ctx.kv()?.as_ref(), client, &input, clock::now())?;
    Ok(Response::ok(&session).with_header("set-cookie", session::cookie(&ctx.request, &session)))
}

fn logout(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(session::logout(ctx, Response::error))
}

fn activations(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let listing = accounts::list_activations(ctx.db()?, &principal, &ctx.request.query_pairs(), clock::now())?;
    Ok(page(ctx, &listing))
}

// ----- /me -----

fn me(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    Ok(Response::ok(&accounts::me(ctx.db()?, &principal)?))
}

fn change_password(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let input = ctx.json()?;
    accounts::change_password(ctx.db()?, ctx.kv()?.as_ref(), &principal, &input, clock::now())?;
    Ok(Response::no_content())
}

// ----- /tokens -----

fn list_tokens(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    Ok(page(ctx, &accounts::list_tokens(ctx.db()?, &principal, &ctx.request.query_pairs())?))
}

fn create_token(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let input: TokenInput = ctx.json()?;
    Ok(Response::created(&accounts::create_token(ctx.db()?, &principal, &input, clock::now())?))
}

fn revoke_all_tokens(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let revoked = accounts::revoke_all_tokens(ctx.db()?, &principal)?;
    Ok(Response::ok(&json!({ "revoked": revoked })))
}

fn get_token(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    Ok(Response::ok(&accounts::get_token(ctx.db()?, &principal, token_id(ctx)?)?))
}

fn revoke_token(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    accounts::revoke_token(ctx.db()?, &principal, token_id(ctx)?)?;
    Ok(Response::no_content())
}

// ----- /users -----

fn list_users(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    Ok(page(ctx, &accounts::list_users(ctx.db()?, &principal, &ctx.request.query_pairs())?))
}

fn create_user(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let input: NewUserInput = ctx.json()?;
    Ok(Response::created(&accounts::create_user(ctx.db()?, &principal, &input, clock::now())?))
}

fn get_user(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    Ok(Response::ok(&accounts::get_user(ctx.db()?, &principal, &user_ref(ctx))?))
}

fn update_user(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let patch: UserPatch = ctx.json()?;
    let hook = Hook::new(ctx, &Settings::from_ctx(ctx));
    let update = accounts::update_user(ctx.db()?, &principal, &user_ref(ctx), &patch, &hook, clock::now())?;
    Ok(Response::ok(&update))
}

fn delete_user(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    accounts::delete_user(ctx.db()?, &principal, &user_ref(ctx))?;
    Ok(Response::no_content())
}

// ----- /groups -----

fn list_groups(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    Ok(page(ctx, &accounts::list_groups(ctx.db()?, &principal, &ctx.request.query_pairs())?))
}

fn create_group(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let input: NewGroupInput = ctx.json()?;
    Ok(Response::created(&accounts::create_group(ctx.db()?, &principal, &input, clock::now())?))
}

fn get_group(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    Ok(Response::ok(&accounts::get_group(ctx.db()?, &principal, &group_ref(ctx))?))
}

fn update_group(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let patch: GroupPatch = ctx.json()?;
    Ok(Response::ok(&accounts::update_group(ctx.db()?, &principal, &group_ref(ctx), &patch)?))
}

fn delete_group(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    accounts::delete_group(ctx.db()?, &principal, &group_ref(ctx))?;
    Ok(Response::no_content())
}

/// 201 when the user was added, 200 when they already were a member; the body is the group.
fn add_member(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    let (group, added) = accounts::add_member(ctx.db()?, &principal, &group_ref(ctx), &user_ref(ctx))?;
    Ok(Response::json(if added { 201 } else { 200 }, &group))
}

fn remove_member(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = principal(ctx)?;
    accounts::remove_member(ctx.db()?, &principal, &group_ref(ctx), &user_ref(ctx))?;
    Ok(Response::no_content())
}

// ----- helpers -----

fn principal(ctx: &Ctx) -> Result<Principal, ApiError> {
    auth::authenticate(ctx)
}

/// A listing in the query language's envelope, links relative to this request.
fn page(ctx: &Ctx, listing: &Listing) -> Response {
    Response::ok(&listing.to_json(&ctx.request))
}

fn user_ref(ctx: &Ctx) -> Ref {
    Ref::parse(ctx.param("user"))
}

fn group_ref(ctx: &Ctx) -> Ref {
    Ref::parse(ctx.param("group"))
}

/// A token id from the path; anything but an integer names no token.
fn token_id(ctx: &Ctx) -> Result<i64, ApiError> {
    ctx.param("id").parse().map_err(|_| accounts::token_not_found())
}

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
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

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    conveyor_core::entry::serve(&router(), request)
}
