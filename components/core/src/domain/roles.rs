//! Project roles (SPEC §2): a bitmask as in task_tracker, with RhodeCode's presets. Grants go to users
//! and to groups; a user's role on a project is the OR of their own grant and their groups' grants.
//! Administrators bypass roles altogether (see `auth::Principal::project_role`).

/// May read the project and its tasks.
pub const READ: i64 = 1;
/// May submit and edit tasks, pause and resume the project.
pub const EDIT: i64 = 2;
/// May grant and revoke roles and accept worker access requests.
pub const MANAGE_ACCESS: i64 = 4;
/// May read and write the project secret.
pub const SECRET: i64 = 8;
/// May run maintenance actions (reset failed, reclaim assigned, hard reset).
pub const MAINTENANCE: i64 = 16;
/// Every role bit.
pub const ALL: i64 = READ | EDIT | MANAGE_ACCESS | SECRET | MAINTENANCE;

/// RhodeCode's presets (`project.none|read|write|admin`) and their bitmasks.
pub const PRESETS: [(&str, i64); 4] =
    [("none", 0), ("read", READ), ("write", READ | EDIT | MAINTENANCE), ("admin", ALL)];

/// The bitmask of a preset name (`none`, `read`, `write`, `admin`).
pub fn preset(name: &str) -> Option<i64> {
    PRESETS.iter().find(|(preset, _)| *preset == name).map(|(_, mask)| *mask)
}

/// The preset name of a bitmask, when it equals one.
pub fn preset_name(mask: i64) -> Option<&'static str> {
    PRESETS.iter().find(|(_, preset)| *preset == mask).map(|(name, _)| *name)
}

/// A grant as a request states it: exactly one of `role` (a bitmask) or `perm` (a preset name: `none`,
/// `read`, `write`, `admin`, with RhodeCode's `project.` or `repository.` prefix allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    #[serde(default)]
    pub role: Option<i64>,
    #[serde(default)]
    pub perm: Option<String>,
}

impl GrantRequest {
    /// The role bitmask asked for (its bits are validated where it is set); 422 naming the field otherwise.
    pub fn role(&self) -> Result<i64, crate::error::ApiError> {
        use crate::error::ApiError;
        match (&self.role, &self.perm) {
            (Some(role), None) => Ok(*role),
            (None, Some(perm)) => {
                let name = ["project.", "repository."].iter().find_map(|p| perm.strip_prefix(p)).unwrap_or(perm);
                preset(name).ok_or_else(|| ApiError::invalid_field("perm", "must be one of none, read, write, admin"))
            }
            _ => Err(ApiError::invalid_field("role", "give exactly one of `role` (0-31) or `perm`")),
        }
    }
}

/// Whether `mask` holds only defined role bits.
pub fn is_valid(mask: i64) -> bool {
    mask & !ALL == 0 && mask >= 0
}

/// A user's role on a project: the OR of their own grant (0 when none) and the grants of every group
/// they belong to. Undefined bits are dropped.
pub fn combine(user_grant: i64, group_grants: &[i64]) -> i64 {
    group_grants.iter().fold(user_grant, |role, grant| role | grant) & ALL
}

/// Whether `role` includes every bit of `needed`.
pub fn has(role: i64, needed: i64) -> bool {
    role & needed == needed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_spec() {
        assert_eq!(preset("none"), Some(0));
        assert_eq!(preset("read"), Some(1));
        assert_eq!(preset("write"), Some(1 | 2 | 16));
        assert_eq!(preset("admin"), Some(31));
        assert_eq!(preset("owner"), None);
        assert_eq!(preset_name(19), Some("write"));
        assert_eq!(preset_name(3), None);
    }

    #[test]
    fn user_and_group_grants_are_ored() {
        assert_eq!(combine(0, &[]), 0);
        assert_eq!(combine(READ, &[]), READ);
        assert_eq!(combine(READ, &[EDIT, SECRET]), READ | EDIT | SECRET);
        assert_eq!(combine(0, &[READ, READ | MAINTENANCE]), READ | MAINTENANCE);
        assert_eq!(combine(64 | READ, &[128]), READ, "undefined bits are dropped");
        assert!(has(combine(READ, &[EDIT]), READ | EDIT));
        assert!(!has(READ, READ | EDIT));
        assert!(has(ALL, MANAGE_ACCESS));
        assert!(is_valid(31) && is_valid(0) && !is_valid(32) && !is_valid(-1));
    }
}
