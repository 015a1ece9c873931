//! `user_groups` and `group_members`: groups of users (RhodeCode's user groups).

use crate::db::{Db, DbError, Row};
use crate::domain::accounts::Ref;
use crate::error::ApiError;
use crate::query::{self, Field, Kind, Page, Query, Resource, Scope};
use serde::Serialize;

/// A member as a group lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Member {
    pub id: i64,
    pub username: String,
}

/// A group with its members (ordered by user id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub active: bool,
    pub created_at: i64,
    pub members: Vec<Member>,
}

/// The members of group `g.id` as a JSON array text, ordered by user id.
const MEMBERS_SQL: &str = "SELECT json_group_array(json_object('id', id, 'username', username)) FROM \
     (SELECT u.id AS id, u.username AS username FROM group_members m JOIN users u ON u.id = m.user_id \
      WHERE m.group_id = g.id ORDER BY u.id)";

/// The `/groups` collection; the same fields, in the same order, as [`Group`]. `members` can be selected
/// but not filtered; [`list`] turns its JSON text into an array.
pub const FIELDS: &[Field] = &[
    Field { name: "id", sql: "g.id", kind: Kind::Int, filter: true },
    Field { name: "name", sql: "g.name", kind: Kind::Text, filter: true },
    Field { name: "description", sql: "g.description", kind: Kind::Text, filter: true },
    Field { name: "active", sql: "g.active", kind: Kind::Bool, filter: true },
    Field { name: "created_at", sql: "g.created_at", kind: Kind::Int, filter: true },
    Field { name: "members", sql: MEMBERS_SQL, kind: Kind::Text, filter: false },
];

/// `/groups`.
pub const RESOURCE: Resource = Resource { from: "user_groups g", fields: FIELDS };

fn from_row(row: &Row<'_>) -> Result<Group, DbError> {
    Ok(Group {
        id: row.int("id")?,
        name: row.text("name")?,
        description: row.text("description")?,
        active: row.bool("active")?,
        created_at: row.int("created_at")?,
        members: serde_json::from_str(&row.text("members")?).unwrap_or_default(),
    })
}

fn select(filter: &str) -> String {
    format!(
        "SELECT g.id AS id, g.name AS name, g.description AS description, g.active AS active, \
         g.created_at AS created_at, ({MEMBERS_SQL}) AS members FROM user_groups g WHERE {filter}"
    )
}

/// A group by id or name (case-insensitive).
pub fn find(db: &dyn Db, group: &Ref) -> Result<Option<Group>, DbError> {
    let rows = match group {
        Ref::Id(id) => db.execute(&select("g.id = ?"), &[(*id).into()])?,
        Ref::Name(name) => db.execute(&select("g.name = ?"), &[name.as_str().into()])?,
    };
    rows.map_first(from_row)
}

/// A page of groups for the query language, `members` as arrays.
pub fn list(db: &dyn Db, query: &Query) -> Result<Page, ApiError> {
    let mut page = query::run(db, &RESOURCE, &Scope::default(), query)?;
    for row in &mut page.results {
        if let Some(serde_json::Value::String(text)) = row.get("members") {
            let members = serde_json::from_str(text).unwrap_or_else(|_| serde_json::json!([]));
            row.insert("members".into(), members);
        }
    }
    Ok(page)
}

/// Inserts a group; `None` when the name is taken (case-insensitively).
pub fn insert(db: &dyn Db, name: &str, description: &str, active: bool, now: i64) -> Result<Option<Group>, DbError> {
    let rows = db.execute(
        "INSERT INTO user_groups (name, description, active, created_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT DO NOTHING RETURNING id",
        &[name.into(), description.into(), active.into(), now.into()],
    )?;
    match rows.first() {
        Some(row) => find(db, &Ref::Id(row.int("id")?)),
        None => Ok(None),
    }
}

/// Whether another group than `except` has this name.
pub fn name_taken(db: &dyn Db, name: &str, except: Option<i64>) -> Result<bool, DbError> {
    let rows = db.execute("SELECT 1 FROM user_groups WHERE name = ? AND id IS NOT ?", &[name.into(), except.into()])?;
    Ok(!rows.rows.is_empty())
}

/// Changes name, description and/or active; `None` when there is no such group. A taken name fails with
/// [`DbError::Unique`].
pub fn update(
    db: &dyn Db,
    id: i64,
    name: Option<&str>,
    description: Option<&str>,
    active: Option<bool>,
) -> Result<Option<Group>, DbError> {
    let rows = db.execute(
        "UPDATE user_groups SET name = coalesce(?, name), description = coalesce(?, description), \
         active = coalesce(?, active) WHERE id = ? RETURNING id",
        &[name.into(), description.into(), active.into(), id.into()],
    )?;
    if rows.rows.is_empty() { Ok(None) } else { find(db, &Ref::Id(id)) }
}

/// Deletes a group and its memberships; false when there was none.
pub fn delete(db: &dyn Db, id: i64) -> Result<bool, DbError> {
    Ok(!db.execute("DELETE FROM user_groups WHERE id = ? RETURNING id", &[id.into()])?.rows.is_empty())
}

/// Adds a member; false when they already were one.
pub fn add_member(db: &dyn Db, group_id: i64, user_id: i64) -> Result<bool, DbError> {
    let rows = db.execute(
        "INSERT INTO group_members (group_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING user_id",
        &[group_id.into(), user_id.into()],
    )?;
    Ok(!rows.rows.is_empty())
}

/// Removes a member; false when they were not one.
pub fn remove_member(db: &dyn Db, group_id: i64, user_id: i64) -> Result<bool, DbError> {
    let rows = db.execute(
        "DELETE FROM group_members WHERE group_id = ? AND user_id = ? RETURNING user_id",
        &[group_id.into(), user_id.into()],
    )?;
    Ok(!rows.rows.is_empty())
}

/// The groups a user belongs to, as `{id, name, active}`, ordered by id.
pub fn of_user(db: &dyn Db, user_id: i64) -> Result<Vec<serde_json::Value>, DbError> {
    let rows = db.execute(
        "SELECT g.id AS id, g.name AS name, g.active AS active FROM group_members m \
         JOIN user_groups g ON g.id = m.group_id WHERE m.user_id = ? ORDER BY g.id",
        &[user_id.into()],
    )?;
    rows.map_all(|row| {
        Ok(serde_json::json!({"id": row.int("id")?, "name": row.text("name")?, "active": row.bool("active")?}))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NativeDb;
    use crate::store::users;

    fn user(db: &dyn Db, name: &str) -> i64 {
        let new = users::NewUser {
            username: name,
            email: &format!("{name}@example.org"),
            first_name: "",
            last_name: "",
            password_hash: None,
            active: true,
            admin: false,
            verified: true,
            created_at: 1,
        };
        users::insert(db, &new).unwrap().unwrap().id
    }

    #[test]
    fn groups_hold_members_in_id_order() {
        let db = NativeDb::memory().unwrap();
        let (ada, bob) = (user(&db, "ada"), user(&db, "bob"));
        let ops = insert(&db, "ops", "", true, 5).unwrap().unwrap();
        assert!(insert(&db, "OPS", "", true, 5).unwrap().is_none());
        assert!(add_member(&db, ops.id, bob).unwrap());
        assert!(add_member(&db, ops.id, ada).unwrap());
        assert!(!add_member(&db, ops.id, ada).unwrap(), "already a member");
        let found = find(&db, &Ref::Name("Ops".into())).unwrap().unwrap();
        let members: Vec<&str> = found.members.iter().map(|m| m.username.as_str()).collect();
        assert_eq!(members, ["ada", "bob"]);
        assert_eq!(of_user(&db, ada).unwrap(), vec![serde_json::json!({"id": ops.id, "name": "ops", "active": true})]);
        assert!(remove_member(&db, ops.id, ada).unwrap());
        assert!(!remove_member(&db, ops.id, ada).unwrap());
        let renamed = update(&db, ops.id, Some("sre"), None, Some(false)).unwrap().unwrap();
        assert_eq!((renamed.name.as_str(), renamed.active, renamed.members.len()), ("sre", false, 1));
        assert_eq!(update(&db, 999, Some("x"), None, None).unwrap(), None);
        users::delete(&db, bob).unwrap();
        assert!(find(&db, &Ref::Id(ops.id)).unwrap().unwrap().members.is_empty(), "memberships cascade");
        assert!(delete(&db, ops.id).unwrap());
        assert_eq!(find(&db, &Ref::Id(ops.id)).unwrap(), None);
    }

    #[test]
    fn the_collection_renders_members_as_arrays() {
        let db = NativeDb::memory().unwrap();
        let ada = user(&db, "ada");
        let ops = insert(&db, "ops", "on call", true, 5).unwrap().unwrap();
        insert(&db, "empty", "", true, 6).unwrap().unwrap();
        add_member(&db, ops.id, ada).unwrap();
        let query = query::parse(&RESOURCE, &[], &[]).unwrap();
        let page = list(&db, &query).unwrap();
        assert_eq!(page.count, 2);
        let first = serde_json::Value::Object(page.results[0].clone());
        assert_eq!(first, serde_json::to_value(find(&db, &Ref::Id(ops.id)).unwrap().unwrap()).unwrap());
        assert_eq!(page.results[1]["members"], serde_json::json!([]));
    }
}
