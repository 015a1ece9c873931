//! `project_user_grants` and `project_group_grants`: the role bits people and groups hold on a project.

use crate::db::{Db, DbError};
use crate::domain::project::{Grants, GroupGrant, UserGrant};
use crate::domain::roles;

/// Sets a user's role (1–31) on a project, replacing any previous grant.
pub fn set_user(db: &dyn Db, project: i64, user: i64, role: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO project_user_grants (project_id, user_id, role) VALUES (?, ?, ?) \
         ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        &[project.into(), user.into(), role.into()],
    )?;
    Ok(())
}

/// Removes a user's grant; false when there was none.
pub fn delete_user(db: &dyn Db, project: i64, user: i64) -> Result<bool, DbError> {
    let rows = db.execute(
        "DELETE FROM project_user_grants WHERE project_id = ? AND user_id = ? RETURNING role",
        &[project.into(), user.into()],
    )?;
    Ok(!rows.rows.is_empty())
}

/// Sets a group's role (1–31) on a project, replacing any previous grant.
pub fn set_group(db: &dyn Db, project: i64, group: i64, role: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO project_group_grants (project_id, group_id, role) VALUES (?, ?, ?) \
         ON CONFLICT (project_id, group_id) DO UPDATE SET role = excluded.role",
        &[project.into(), group.into(), role.into()],
    )?;
    Ok(())
}

/// Removes a group's grant; false when there was none.
pub fn delete_group(db: &dyn Db, project: i64, group: i64) -> Result<bool, DbError> {
    let rows = db.execute(
        "DELETE FROM project_group_grants WHERE project_id = ? AND group_id = ? RETURNING role",
        &[project.into(), group.into()],
    )?;
    Ok(!rows.rows.is_empty())
}

/// Every grant on a project, users by username and groups by name.
pub fn of_project(db: &dyn Db, project: i64) -> Result<Grants, DbError> {
    let users = db.execute(
        "SELECT g.user_id, u.username, g.role FROM project_user_grants g JOIN users u ON u.id = g.user_id \
         WHERE g.project_id = ? ORDER BY u.username",
        &[project.into()],
    )?;
    let groups = db.execute(
        "SELECT g.group_id, ug.name, g.role FROM project_group_grants g JOIN user_groups ug ON ug.id = g.group_id \
         WHERE g.project_id = ? ORDER BY ug.name",
        &[project.into()],
    )?;
    Ok(Grants {
        users: users.map_all(|row| {
            Ok(UserGrant {
                user: row.int("user_id")?,
                username: row.text("username")?,
                role: row.int("role")?,
                preset: roles::preset_name(row.int("role")?),
            })
        })?,
        groups: groups.map_all(|row| {
            Ok(GroupGrant {
                group: row.int("group_id")?,
                name: row.text("name")?,
                role: row.int("role")?,
                preset: roles::preset_name(row.int("role")?),
            })
        })?,
    })
}

/// A user's own grant (0 when none) and the grants of their active groups, for
/// `auth::Principal::project_role`.
pub fn of_user(db: &dyn Db, project: i64, user: i64) -> Result<(i64, Vec<i64>), DbError> {
    let own = db
        .execute(
            "SELECT role FROM project_user_grants WHERE project_id = ? AND user_id = ?",
            &[project.into(), user.into()],
        )?
        .map_first(|row| row.int("role"))?
        .unwrap_or(0);
    let groups = db.execute(
        "SELECT g.role FROM project_group_grants g JOIN group_members m ON m.group_id = g.group_id \
         JOIN user_groups ug ON ug.id = g.group_id WHERE g.project_id = ? AND m.user_id = ? AND ug.active = 1",
        &[project.into(), user.into()],
    )?;
    Ok((own, groups.map_all(|row| row.int("role"))?))
}

/// A user's role on a project: the OR of their grant and their active groups' grants (admins not included).
pub fn user_role(db: &dyn Db, project: i64, user: i64) -> Result<i64, DbError> {
    let (own, groups) = of_user(db, project, user)?;
    Ok(roles::combine(own, &groups))
}
