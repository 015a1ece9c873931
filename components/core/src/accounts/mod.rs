//! Account services (SPEC §2): sign-up, activation, password reset, login/logout, password and email
//! change, named tokens, users and groups. The `accounts` component, the JSON-RPC endpoint and the
//! compatibility surfaces all call these functions, so the rules (who may do what, what is validated,
//! what is never revealed) live in one place. Decisions: `docs/accounts.md`.
//!
//! One style, as in `projects` and `tasks`: every service takes explicit inputs — the caller's
//! [`Principal`](crate::auth::Principal) where access matters, the database (`&dyn Db`), the time (`now`),
//! and only what it needs besides (the key-value store for throttles, the client address, the [`Settings`],
//! a [`Notifier`]). It checks access itself, validates before writing, writes in one transaction and
//! returns a typed result; errors are [`ApiError`]s, which `error`/`http` map to HTTP.

mod groups;
mod sessions;
mod settings;
mod signup;
#[cfg(test)]
mod tests;
mod tokens;
mod users;

pub use groups::{GroupPatch, NewGroupInput, add_member, create_group, delete_group, get_group, list_groups};
pub use groups::{remove_member, update_group};
pub use sessions::{Credential, LoginInput, Me, PasswordChangeInput, Session, change_password, login, logout, me};
pub use sessions::{SessionScope, login_scoped};
pub use settings::{Hook, Notifier, Settings};
pub use signup::{EmailSignupInput, resend_activation, signup_by_email};
pub use signup::{RESETS_PER_ADDRESS, ResetConfirmInput, ResetRequestInput, SignupInput, SignupReceipt, TokenBody};
pub use signup::{activate, confirm_email, confirm_password_reset, list_activations, request_password_reset, signup};
pub use tokens::{CreatedToken, MAX_TOKENS_PER_USER, TokenInput, create_token, get_token, list_tokens};
pub use tokens::{CredentialInfo, list_credentials, revoke_all_credentials, revoke_credential};
pub use tokens::{create_token_for, revoke_all_tokens, revoke_token, token_not_found};
pub use users::{EmailChangeInput, change_email, delete_own_account, find_user_by_email, update_user};
pub use users::{NewUserInput, UserPatch, UserUpdate, create_user, delete_user, get_user, list_users, set_admin};

use crate::domain::accounts::CODE_TTL;
use crate::error::ApiError;
use crate::query::Listing;
use crate::store::codes::{NewCode, Purpose};

/// An account code of `purpose` for `user_id`, issued `now` and valid for [`CODE_TTL`].
fn new_code<'a>(
    user_id: i64,
    purpose: Purpose,
    secret_hash: &'a [u8],
    readable: Option<&'a str>,
    email: Option<&'a str>,
    now: i64,
) -> NewCode<'a> {
    NewCode { user_id, purpose, secret_hash, readable, email, created_at: now, expires_at: now + CODE_TTL }
}

/// The throttle key of an account's failed password checks.
fn account_key(user_id: i64) -> String {
    format!("login:user:{user_id}")
}

fn duplicate(field: &str, message: &str) -> ApiError {
    ApiError::conflict("duplicate", format!("{message} (`{field}`)"))
}

/// The field a `duplicate` conflict of these services names (`username`, `email`, `name`), if it is one.
pub fn duplicate_field(error: &ApiError) -> Option<&str> {
    match error {
        ApiError::Conflict { code: "duplicate", detail } => {
            detail.strip_suffix("`)")?.rsplit_once("(`").map(|(_, f)| f)
        }
        _ => None,
    }
}

fn invalid_code() -> ApiError {
    ApiError::bad_request("invalid_token", "the token is invalid, used or expired")
}

fn user_not_found() -> ApiError {
    ApiError::NotFound("no such user".into())
}

fn group_not_found() -> ApiError {
    ApiError::NotFound("no such group".into())
}
