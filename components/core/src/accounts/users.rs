//! User accounts: administrators list, create, change and delete users; a user reads and changes their own
//! account (names directly, email through a confirmation sent to the new address).

use super::{Listing, Notifier, duplicate, new_code, user_not_found};
use crate::auth::{self, Principal, UserPrincipal};
use crate::db::{self, Db};
use crate::domain::accounts::{self as rules, Checks, Ref};
use crate::error::ApiError;
use crate::platform::Kv;
use crate::query::Scope;
use crate::secrets;
use crate::store::codes::{self, Purpose};
use crate::store::tokens::{self, TokenKind};
use crate::store::users::{self, NewUser, User};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `POST /users` (administrators). Users created this way are verified and active unless told otherwise.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUserInput {
    pub username: String,
    pub email: String,
    /// Optional: without one the user cannot log in until a password reset (or an admin) sets one.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub verified: Option<bool>,
}

/// `PATCH /users/{user}`: users may change their names and email; administrators everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub active: Option<bool>,
    pub admin: Option<bool>,
    pub verified: Option<bool>,
    pub password: Option<String>,
}

/// A user changing their own email address, confirmed with their password (Project-W's
/// `change_user_email`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeInput {
    pub current_password: String,
    pub new_email: String,
}

/// The outcome of a user update: the user as stored, plus `pending_email` when a user changed their own
/// email and the new address awaits confirmation.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct UserUpdate {
    #[serde(flatten)]
    pub user: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<String>,
}

/// All users (administrators; query language).
pub fn list_users(db: &dyn Db, principal: &Principal, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    auth::require_admin(principal)?;
    Listing::run(db, &users::RESOURCE, &Scope::default(), pairs)
}

/// A user by id or username: administrators any (404 when missing), users only themselves (403 for
/// anyone else, whether or not they exist).
pub fn get_user(db: &dyn Db, principal: &Principal, user: &Ref) -> Result<User, ApiError> {
    target_user(db, principal, user)
}

/// The user with this email address, if any (administrators; case-insensitive, as addresses are unique):
/// Seed Scheduler's `POST /user/token/` finds its user by email.
pub fn find_user_by_email(db: &dyn Db, principal: &Principal, email: &str) -> Result<Option<User>, ApiError> {
    auth::require_admin(principal)?;
    Ok(users::find_by_email(db, email)?)
}

/// Creates a user (administrators): verified and active unless told otherwise. 409 `duplicate` when the
/// username or email is taken.
pub fn create_user(db: &dyn Db, principal: &Principal, input: &NewUserInput, now: i64) -> Result<User, ApiError> {
    auth::require_admin(principal)?;
    let password = input.password.as_deref().map(rules::password).unwrap_or(Ok(()));
    Checks::new()
        .check("username", rules::username(&input.username))
        .check("email", rules::email(&input.email))
        .check("password", password)
        .check("first_name", rules::text(&input.first_name))
        .check("last_name", rules::text(&input.last_name))
        .finish()?;
    let hash = input.password.as_deref().map(secrets::hash_password).transpose()?;
    let new = NewUser {
        username: &input.username,
        email: &input.email,
        first_name: &input.first_name,
        last_name: &input.last_name,
        password_hash: hash.as_deref(),
        active: input.active.unwrap_or(true),
        admin: input.admin,
        verified: input.verified.unwrap_or(true),
        created_at: now,
    };
    db::transaction(db, || match users::insert(db, &new)? {
        Some(user) => Ok(user),
        None if users::username_taken(db, &input.username, None)? => {
            Err(duplicate("username", "the username is taken"))
        }
        None => Err(duplicate("email", "the email address is already in use")),
    })
}

/// Updates a user. Users may change their own first/last name directly and their email through a
/// confirmation token sent to the new address by the notifier (`pending_email`); administrators may change
/// every field of anyone, except deactivating themselves (409). A new password ends the user's sessions.
pub fn update_user(
    db: &dyn Db,
    principal: &Principal,
    user: &Ref,
    patch: &UserPatch,
    notifier: &dyn Notifier,
    now: i64,
) -> Result<UserUpdate, ApiError> {
    let target = target_user(db, principal, user)?;
    let admin = principal.is_admin();
    if !admin {
        let admin_only = [
            ("username", patch.username.is_some()),
            ("active", patch.active.is_some()),
            ("admin", patch.admin.is_some()),
            ("verified", patch.verified.is_some()),
            ("password", patch.password.is_some()),
        ];
        if let Some((field, _)) = admin_only.iter().find(|(_, given)| *given) {
            let hint = if *field == "password" { "; use PUT /api/v1/me/password" } else { "" };
            return Err(ApiError::Forbidden(format!("only administrators may change `{field}`{hint}")));
        }
    }
    let mut checks = Checks::new();
    if let Some(username) = &patch.username {
        checks.check("username", rules::username(username));
    }
    if let Some(email) = &patch.email {
        checks.check("email", rules::email(email));
    }
    if let Some(password) = &patch.password {
        checks.check("password", rules::password(password));
    }
    for (field, value) in [("first_name", &patch.first_name), ("last_name", &patch.last_name)] {
        if let Some(value) = value {
            checks.check(field, rules::text(value));
        }
    }
    checks.finish()?;
    let is_self = principal.user().is_some_and(|me| me.id == target.id);
    if is_self && patch.active == Some(false) {
        return Err(ApiError::conflict("conflict", "you cannot deactivate your own account"));
    }
    let email_changes = patch.email.as_ref().filter(|email| !email.eq_ignore_ascii_case(&target.email));
    let pending_email = if admin { None } else { email_changes.cloned() };
    let hash = patch.password.as_deref().map(secrets::hash_password).transpose()?;
    let changes = users::Changes {
        username: patch.username.clone(),
        email: if admin { patch.email.clone() } else { None },
        first_name: patch.first_name.clone(),
        last_name: patch.last_name.clone(),
        active: patch.active,
        admin: patch.admin,
        verified: patch.verified,
        password_hash: hash,
    };
    let code = secrets::new_token(secrets::EMAIL_CHANGE_PREFIX)?;
    let updated = db::transaction(db, || {
        if let Some(username) = &changes.username
            && users::username_taken(db, username, Some(target.id))?
        {
            return Err(duplicate("username", "the username is taken"));
        }
        if let Some(email) = &changes.email
            && users::email_taken(db, email, Some(target.id))?
        {
            return Err(duplicate("email", "the email address is already in use"));
        }
        let updated = users::update(db, target.id, &changes)?.ok_or_else(user_not_found)?;
        if changes.password_hash.is_some() {
            let keep = principal.user().filter(|me| me.id == target.id && me.token_kind == TokenKind::Session);
            tokens::delete_all(db, target.id, TokenKind::Session, keep.map(|me| me.token_id))?;
        }
        if let Some(email) = &pending_email {
            let hashed = secrets::sha256(&code);
            codes::replace(db, &new_code(target.id, Purpose::EmailChange, &hashed, None, Some(email), now))?;
        }
        Ok(updated)
    })?;
    if let Some(email) = &pending_email {
        notifier.notify(
            &json!({"event": "user.email_change", "email": email, "username": updated.username, "token": code}),
        );
    }
    Ok(UserUpdate { user: updated, pending_email })
}

/// Changes the caller's own email address once their password is confirmed (wrong → 422 on
/// `current_password`, throttled like logins), as [`update_user`] changes it: through a confirmation token
/// sent to the new address, which answers alike whether or not that address is taken.
pub fn change_email(
    db: &dyn Db,
    kv: &dyn Kv,
    principal: &Principal,
    input: &EmailChangeInput,
    notifier: &dyn Notifier,
    now: i64,
) -> Result<UserUpdate, ApiError> {
    let me = auth::require_user(principal)?;
    Checks::new().check("new_email", rules::email(&input.new_email)).finish()?;
    super::sessions::confirm_password(db, kv, me.id, &input.current_password, "current_password", now)?;
    let patch = UserPatch { email: Some(input.new_email.clone()), ..UserPatch::default() };
    update_user(db, principal, &Ref::Id(me.id), &patch, notifier, now)
}

/// Makes a user an administrator or not (task_tracker's `/manager/promote` and `/manager/demote`):
/// administrators only, and nobody changes their own rights (403).
pub fn set_admin(db: &dyn Db, principal: &Principal, user: i64, admin: bool, now: i64) -> Result<User, ApiError> {
    if principal.user().is_some_and(|me| me.id == user) {
        return Err(ApiError::Forbidden("managers cannot change their own rights".into()));
    }
    let patch = UserPatch { admin: Some(admin), ..UserPatch::default() };
    Ok(update_user(db, principal, &Ref::Id(user), &patch, &NoEvents, now)?.user)
}

/// The notifier of updates that send no event (only an email change does).
struct NoEvents;

impl Notifier for NoEvents {
    fn notify(&self, _: &serde_json::Value) {}
}

/// Deletes a user with their tokens, codes and memberships (administrators). Deleting yourself is a 409.
pub fn delete_user(db: &dyn Db, principal: &Principal, user: &Ref) -> Result<(), ApiError> {
    auth::require_admin(principal)?;
    let target = users::find(db, user)?.ok_or_else(user_not_found)?;
    if principal.user().is_some_and(|me| me.id == target.id) {
        return Err(ApiError::conflict("conflict", "you cannot delete your own account"));
    }
    if users::delete(db, target.id)? { Ok(()) } else { Err(user_not_found()) }
}

/// Deletes the caller's own account with their tokens, sessions, codes and memberships (Project-W's
/// `/users/delete`): any user may close their account; the built-in administrator has none (403).
pub fn delete_own_account(db: &dyn Db, principal: &Principal) -> Result<(), ApiError> {
    let me = auth::require_user(principal)?;
    if users::delete(db, me.id)? { Ok(()) } else { Err(user_not_found()) }
}

/// The user a request may read or change: administrators anyone (404 when missing), users themselves only
/// (403 for any other reference, so the answer says nothing about whether that user exists).
fn target_user(db: &dyn Db, principal: &Principal, user: &Ref) -> Result<User, ApiError> {
    auth::require_signed_in(principal)?;
    if principal.is_admin() {
        return users::find(db, user)?.ok_or_else(user_not_found);
    }
    let me: &UserPrincipal = auth::require_user(principal)?;
    let is_me = match user {
        Ref::Id(id) => *id == me.id,
        Ref::Name(name) => name.eq_ignore_ascii_case(&me.username),
    };
    if !is_me {
        return Err(ApiError::Forbidden("you may only access your own account".into()));
    }
    users::find(db, &Ref::Id(me.id))?.ok_or_else(user_not_found)
}
