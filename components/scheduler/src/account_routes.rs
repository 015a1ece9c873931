//! `/api/v1/user/`, `/api/v1/group/` and `POST /api/v1/user/token/`, through the `accounts` services, which
//! check access themselves (users: administrators, or a user themselves; groups: anyone signed in; tokens
//! for others: administrators).

use super::{base, path_id, person, seed_page};
use conveyor_core::accounts::{self, NewUserInput, TokenInput};
use conveyor_core::auth::Principal;
use conveyor_core::compat::seed as wire;
use conveyor_core::db::Db;
use conveyor_core::domain::accounts::Ref;
use conveyor_core::http::BODY_LIMIT;
use conveyor_core::query;
use conveyor_core::{ApiError, Ctx, Response, clock};
use serde_json::{Map, Value as Json, json};

/// Every group with its members (to give each user its `groups`).
fn all_groups(db: &dyn Db, principal: &Principal) -> Result<Vec<Map<String, Json>>, ApiError> {
    query::all_pages(&[], |pairs| accounts::list_groups(db, principal, pairs))
}

pub(crate) fn list_users(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = person(ctx)?;
    let db = ctx.db()?;
    let listing = accounts::list_users(db, &principal, &wire::page_query(&ctx.request, "-id", &[]))?;
    let groups = all_groups(db, &principal)?;
    Ok(seed_page(ctx, &listing, |row| {
        wire::user(base(ctx), row, &wire::groups_of(row["id"].as_i64().unwrap_or_default(), &groups))
    }))
}

pub(crate) fn get_user(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = person(ctx)?;
    let db = ctx.db()?;
    let user = accounts::get_user(db, &principal, &Ref::Id(path_id(ctx, "id")?))?;
    let groups = wire::groups_of(user.id, &all_groups(db, &principal)?);
    let native = serde_json::to_value(&user).map_err(ApiError::internal)?;
    Ok(wire::answer(200, &wire::user(base(ctx), &native, &groups)))
}

pub(crate) fn list_groups(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = person(ctx)?;
    let listing = accounts::list_groups(ctx.db()?, &principal, &wire::page_query(&ctx.request, "-id", &[]))?;
    Ok(seed_page(ctx, &listing, |row| wire::group(base(ctx), row)))
}

pub(crate) fn get_group(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = person(ctx)?;
    let group = accounts::get_group(ctx.db()?, &principal, &Ref::Id(path_id(ctx, "id")?))?;
    let native = serde_json::to_value(&group).map_err(ApiError::internal)?;
    Ok(wire::answer(200, &wire::group(base(ctx), &native)))
}

/// Finds the user with the email (or creates one), and issues a new API token for them, named
/// [`wire::TOKEN_NAME`]. Administrators only: the lookup refuses anyone else before the body is judged.
pub(crate) fn user_token(ctx: &Ctx) -> Result<Response, ApiError> {
    let principal = person(ctx)?;
    let db = ctx.db()?;
    let now = clock::now();
    let email = wire::token_email(&wire::json_body(&ctx.request, BODY_LIMIT)?);
    let found = accounts::find_user_by_email(db, &principal, email.as_deref().unwrap_or_default())?;
    let email = email?;
    let user = match found {
        Some(user) => user.id,
        None => new_user(db, &principal, &email, now)?,
    };
    let input = TokenInput { name: wire::TOKEN_NAME.into(), expires_at: None, admin: false };
    let token = accounts::create_token_for(db, &principal, &Ref::Id(user), &input, now)?;
    Ok(wire::answer(201, &json!({"token": token.secret})))
}

/// Creates the user of `email` under the first free username [`wire::usernames_for`] offers; one created
/// meanwhile by another request is found instead.
fn new_user(db: &dyn Db, principal: &Principal, email: &str, now: i64) -> Result<i64, ApiError> {
    for username in wire::usernames_for(email) {
        let input = NewUserInput {
            username,
            email: email.to_string(),
            password: None,
            first_name: String::new(),
            last_name: String::new(),
            active: None,
            admin: false,
            verified: None,
        };
        match accounts::create_user(db, principal, &input, now) {
            Ok(user) => return Ok(user.id),
            Err(error) => match accounts::duplicate_field(&error) {
                Some("username") => continue,
                Some("email") => {
                    let found = accounts::find_user_by_email(db, principal, email)?;
                    return found.map(|user| user.id).ok_or(error);
                }
                _ => return Err(error),
            },
        }
    }
    Err(ApiError::conflict("duplicate", "every username derived from this address is taken"))
}
