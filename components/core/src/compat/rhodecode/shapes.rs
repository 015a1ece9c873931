//! RhodeCode's result objects (its 1.7 API, which Kallithea kept), built from Conveyor's users, groups,
//! projects and grants. Fields Conveyor has no data for are `null` or `false`, never invented.

use crate::domain::project::Grants;
use crate::domain::roles;
use serde_json::{Value as Json, json};

/// RhodeCode's `repo_type` for a Conveyor project (it is not a version-control repository).
pub const REPO_TYPE: &str = "conveyor";

/// `YYYY-MM-DDTHH:MM:SS` (UTC, no zone: RhodeCode's naive datetimes) of Unix seconds.
pub fn datetime(seconds: i64) -> String {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date of a day count (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// A user object (`get_user`, `get_users`, members) of a user as the native API shows it (`/users/{u}` or a
/// row of `/users`). `api_key` is null: Conveyor keeps only token hashes.
pub fn user(native: &Json) -> Json {
    json!({
        "user_id": native["id"],
        "username": native["username"],
        "firstname": native["first_name"],
        "lastname": native["last_name"],
        "email": native["email"],
        "emails": [],
        "api_key": null,
        "active": native["active"],
        "admin": native["admin"],
        "ldap_dn": null,
        "last_login": native["last_login"].as_i64().map(datetime),
        "ip_addresses": [],
    })
}

/// A user group object of a group as the native API shows it, with its members already shaped.
pub fn group(native: &Json, members: Vec<Json>) -> Json {
    json!({
        "users_group_id": native["id"],
        "group_name": native["name"],
        "group_description": native["description"],
        "active": native["active"],
        "owner": null,
        "members": members,
    })
}

/// A repository object of a project as the native API shows it (`/projects/{p}` or a row of `/projects`).
pub fn repo(native: &Json) -> Json {
    json!({
        "repo_id": native["id"],
        "repo_name": native["name"],
        "repo_type": REPO_TYPE,
        "clone_uri": native["clone_url"].as_str().filter(|url| !url.is_empty()),
        "private": native["visibility"] != "public",
        "created_on": native["created_at"].as_i64().map(datetime),
        "description": native["description"],
        "landing_rev": null,
        "owner": null,
        "fork_of": null,
        "enable_statistics": false,
        "enable_downloads": false,
        "enable_locking": false,
    })
}

/// RhodeCode's permission name of a role bitmask: the preset it equals, else the highest preset it holds.
pub fn perm_name(role: i64) -> String {
    let preset = roles::preset_name(role).unwrap_or(if roles::has(role, roles::EDIT) {
        "write"
    } else if roles::has(role, roles::READ) {
        "read"
    } else {
        "none"
    });
    format!("repository.{preset}")
}

/// `get_repo`'s `members`: every user and group grant, named, with its permission (Kallithea's member
/// shape, plus the ids).
pub fn members(grants: &Grants) -> Vec<Json> {
    let users = grants.users.iter().map(|grant| {
        json!({"type": "user", "name": grant.username, "user_id": grant.user, "permission": perm_name(grant.role)})
    });
    let groups = grants.groups.iter().map(|grant| {
        json!({"type": "users_group", "name": grant.name, "users_group_id": grant.group, "permission": perm_name(grant.role)})
    });
    users.chain(groups).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_civil_times() {
        assert_eq!(datetime(0), "1970-01-01T00:00:00");
        assert_eq!(datetime(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(datetime(1_700_000_000), "2023-11-14T22:13:20");
        assert_eq!(datetime(-1), "1969-12-31T23:59:59");
    }

    #[test]
    fn permission_names() {
        assert_eq!(perm_name(roles::ALL), "repository.admin");
        assert_eq!(perm_name(roles::preset("write").unwrap()), "repository.write");
        assert_eq!(perm_name(roles::READ), "repository.read");
        assert_eq!(perm_name(roles::READ | roles::EDIT), "repository.write");
        assert_eq!(perm_name(roles::SECRET), "repository.none");
    }
}
