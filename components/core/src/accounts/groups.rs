//! Groups of users: readable by every signed-in caller, written by administrators.

use super::{Listing, duplicate, group_not_found, user_not_found};
use crate::auth::{self, Principal};
use crate::db::{self, Db};
use crate::domain::accounts::{self as rules, Checks, Ref};
use crate::error::ApiError;
use crate::query;
use crate::store::groups::{self, Group};
use crate::store::users;
use serde::Deserialize;

/// `POST /groups`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewGroupInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub active: Option<bool>,
}

/// `PATCH /groups/{group}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

/// All groups with their members (any signed-in caller; query language).
pub fn list_groups(db: &dyn Db, principal: &Principal, pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    auth::require_signed_in(principal)?;
    let query = query::parse(&groups::RESOURCE, pairs, &[])?;
    let page = groups::list(db, &query)?;
    Ok(Listing { page, query })
}

/// A group by id or name (any signed-in caller).
pub fn get_group(db: &dyn Db, principal: &Principal, group: &Ref) -> Result<Group, ApiError> {
    auth::require_signed_in(principal)?;
    groups::find(db, group)?.ok_or_else(group_not_found)
}

/// Creates a group (administrators); 409 `duplicate` when the name is taken.
pub fn create_group(db: &dyn Db, principal: &Principal, input: &NewGroupInput, now: i64) -> Result<Group, ApiError> {
    auth::require_admin(principal)?;
    Checks::new()
        .check("name", rules::group_name(&input.name))
        .check("description", rules::text(&input.description))
        .finish()?;
    let active = input.active.unwrap_or(true);
    groups::insert(db, &input.name, &input.description, active, now)?
        .ok_or_else(|| duplicate("name", "the group name is taken"))
}

/// Renames, describes or (de)activates a group (administrators).
pub fn update_group(db: &dyn Db, principal: &Principal, group: &Ref, patch: &GroupPatch) -> Result<Group, ApiError> {
    auth::require_admin(principal)?;
    let mut checks = Checks::new();
    if let Some(name) = &patch.name {
        checks.check("name", rules::group_name(name));
    }
    if let Some(description) = &patch.description {
        checks.check("description", rules::text(description));
    }
    checks.finish()?;
    db::transaction(db, || {
        let target = groups::find(db, group)?.ok_or_else(group_not_found)?;
        if let Some(name) = &patch.name
            && groups::name_taken(db, name, Some(target.id))?
        {
            return Err(duplicate("name", "the group name is taken"));
        }
        groups::update(db, target.id, patch.name.as_deref(), patch.description.as_deref(), patch.active)?
            .ok_or_else(group_not_found)
    })
}

/// Deletes a group and its memberships (administrators).
pub fn delete_group(db: &dyn Db, principal: &Principal, group: &Ref) -> Result<(), ApiError> {
    auth::require_admin(principal)?;
    let target = groups::find(db, group)?.ok_or_else(group_not_found)?;
    if groups::delete(db, target.id)? { Ok(()) } else { Err(group_not_found()) }
}

/// Adds a user to a group (administrators). Returns the group and whether the user was newly added
/// (false: already a member — RhodeCode's `success: false`).
pub fn add_member(db: &dyn Db, principal: &Principal, group: &Ref, user: &Ref) -> Result<(Group, bool), ApiError> {
    auth::require_admin(principal)?;
    db::transaction(db, || {
        let target = groups::find(db, group)?.ok_or_else(group_not_found)?;
        let member = users::find(db, user)?.ok_or_else(user_not_found)?;
        let added = groups::add_member(db, target.id, member.id)?;
        let group = groups::find(db, &Ref::Id(target.id))?.ok_or_else(group_not_found)?;
        Ok((group, added))
    })
}

/// Removes a user from a group (administrators); 404 when they are not a member.
pub fn remove_member(db: &dyn Db, principal: &Principal, group: &Ref, user: &Ref) -> Result<(), ApiError> {
    auth::require_admin(principal)?;
    let target = groups::find(db, group)?.ok_or_else(group_not_found)?;
    let member = users::find(db, user)?.ok_or_else(user_not_found)?;
    if groups::remove_member(db, target.id, member.id)? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("user `{}` is not a member of group `{}`", member.username, target.name)))
    }
}
