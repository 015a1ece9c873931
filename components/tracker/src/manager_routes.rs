//! Routes of managers' accounts: `/register`, `/login`, `/logout`, `/account` and `/manager/*`.

use super::{body, id_param, path_project};
use conveyor_core::accounts::{self, Hook, LoginInput, Settings, SignupInput};
use conveyor_core::auth::{self, Principal};
use conveyor_core::compat::tracker as wire;
use conveyor_core::domain::accounts::Ref;
use conveyor_core::domain::roles;
use conveyor_core::policy;
use conveyor_core::projects;
use conveyor_core::{ApiError, Ctx, Response, clock, session};
use serde_json::{Value as Json, json};

/// Conveyor's sign-up (variable `allow_signup`, an email address, activation before the first login).
pub(crate) fn register(ctx: &Ctx) -> Result<Response, ApiError> {
    let request: wire::CredentialsBody = body(ctx)?;
    let input = SignupInput {
        username: request.username,
        email: request.email,
        password: request.password,
        first_name: String::new(),
        last_name: String::new(),
    };
    let settings = Settings::from_ctx(ctx);
    let receipt = accounts::signup(ctx.db()?, &settings, &Hook::new(ctx, &settings), &input, clock::now())?;
    Ok(wire::envelope(200, true, receipt.detail, Json::Null))
}

pub(crate) fn login(ctx: &Ctx) -> Result<Response, ApiError> {
    let request: wire::CredentialsBody = body(ctx)?;
    let input = LoginInput { username: Some(request.username), email: None, password: request.password };
    let client = ctx.request.client_addr.as_deref();
    let session = accounts::login(ctx.db()?, ctx.kv()?.as_ref(), client, &input, clock::now())?;
    let cookie = session::cookie(&ctx.request, &session);
    Ok(wire::ok(json!({"manager": wire::manager(&session.user)})).with_header("set-cookie", cookie))
}

/// Ends the session and clears the cookie; 204 as task_tracker.
pub(crate) fn logout(ctx: &Ctx) -> Result<Response, ApiError> {
    Ok(session::logout(ctx, wire::error))
}

/// `{logged_in, manager}`; not signed in → 200 with `ok: false, logged_in: false` (task_tracker).
pub(crate) fn account(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = auth::authenticate(ctx)?;
    match &principal {
        Principal::User(user) => {
            let me = accounts::get_user(ctx.db()?, &principal, &Ref::Id(user.id))?;
            Ok(wire::ok(json!({"logged_in": true, "manager": wire::manager(&me)})))
        }
        Principal::Admin => {
            Ok(wire::ok(json!({"logged_in": true, "manager": {"id": 0, "username": "admin", "website_admin": true}})))
        }
        Principal::Anonymous => Ok(wire::envelope(200, false, "", json!({"logged_in": false}))),
    }
}

/// Every manager (administrators, as the native `/users`).
pub(crate) fn manager_list(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = auth::authenticate(ctx)?;
    let db = ctx.db()?;
    let users = conveyor_core::query::all_pages(&[], |pairs| accounts::list_users(db, &principal, pairs))?;
    let managers: Vec<Json> = users.iter().map(wire::manager_row).collect();
    Ok(wire::ok(json!({"managers": managers})))
}

/// The users with a grant on the project and their role (MANAGE_ACCESS).
pub(crate) fn manager_list_for_project(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    let grants = projects::grants(db, project.id)?;
    let managers: Vec<Json> = grants
        .users
        .iter()
        .map(|g| json!({"manager": {"id": g.user, "username": g.username}, "role": g.role}))
        .collect();
    Ok(wire::ok(json!({"managers": managers})))
}

/// Administrators make a user an administrator (or not); nobody changes their own rights (task_tracker).
pub(crate) fn set_admin(ctx: &Ctx, admin: bool) -> Result<Response, ApiError> {
    let principal = auth::authenticate(ctx)?;
    let id = id_param(ctx, "id", "manager")?;
    accounts::set_admin(ctx.db()?, &principal, id, admin, clock::now())?;
    Ok(Response::no_content())
}

pub(crate) fn manager_promote(ctx: &Ctx) -> Result<Response, ApiError> {
    set_admin(ctx, true)
}

pub(crate) fn manager_demote(ctx: &Ctx) -> Result<Response, ApiError> {
    set_admin(ctx, false)
}

/// `{manager, role}` (MANAGE_ACCESS); role 0 removes the grant.
pub(crate) fn manager_set_role(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    let request: wire::RoleBody = body(ctx)?;
    projects::set_user_grant(db, project.id, request.manager, request.role)?;
    Ok(wire::ok_empty())
}
