//! `users`: accounts. The password hash is a separate read ([`password_hash`], [`find_for_login`]) so that
//! [`User`], which the API renders, cannot carry it.

use crate::db::{Db, DbError, Row, Value};
use crate::domain::accounts::Ref;
use crate::query::{Field, Kind, Resource};
use serde::Serialize;

/// A user as the API shows it (SPEC §2). Never holds the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub active: bool,
    pub admin: bool,
    pub verified: bool,
    pub created_at: i64,
    pub last_login: Option<i64>,
}

/// The `/users` collection for the query language; the same fields, in the same order, as [`User`].
pub const FIELDS: &[Field] = &[
    Field { name: "id", sql: "id", kind: Kind::Int, filter: true },
    Field { name: "username", sql: "username", kind: Kind::Text, filter: true },
    Field { name: "email", sql: "email", kind: Kind::Text, filter: true },
    Field { name: "first_name", sql: "first_name", kind: Kind::Text, filter: true },
    Field { name: "last_name", sql: "last_name", kind: Kind::Text, filter: true },
    Field { name: "active", sql: "active", kind: Kind::Bool, filter: true },
    Field { name: "admin", sql: "admin", kind: Kind::Bool, filter: true },
    Field { name: "verified", sql: "verified", kind: Kind::Bool, filter: true },
    Field { name: "created_at", sql: "created_at", kind: Kind::Int, filter: true },
    Field { name: "last_login", sql: "last_login", kind: Kind::Int, filter: true },
];

/// `/users`.
pub const RESOURCE: Resource = Resource { from: "users", fields: FIELDS };

const COLUMNS: &str = "id, username, email, first_name, last_name, active, admin, verified, created_at, last_login";

fn from_row(row: &Row<'_>) -> Result<User, DbError> {
    Ok(User {
        id: row.int("id")?,
        username: row.text("username")?,
        email: row.text("email")?,
        first_name: row.text("first_name")?,
        last_name: row.text("last_name")?,
        active: row.bool("active")?,
        admin: row.bool("admin")?,
        verified: row.bool("verified")?,
        created_at: row.int("created_at")?,
        last_login: row.opt_int("last_login")?,
    })
}

fn one(db: &dyn Db, sql: &str, params: &[Value]) -> Result<Option<User>, DbError> {
    db.execute(sql, params)?.map_first(from_row)
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    /// argon2id PHC string; `None` = no password login.
    pub password_hash: Option<&'a str>,
    pub active: bool,
    pub admin: bool,
    pub verified: bool,
    pub created_at: i64,
}

/// Inserts a user; `None` when the username or the email is taken (case-insensitively).
pub fn insert(db: &dyn Db, user: &NewUser<'_>) -> Result<Option<User>, DbError> {
    let sql = format!(
        "INSERT INTO users (username, email, first_name, last_name, password, active, admin, verified, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    );
    let params = [
        user.username.into(),
        user.email.into(),
        user.first_name.into(),
        user.last_name.into(),
        user.password_hash.into(),
        user.active.into(),
        user.admin.into(),
        user.verified.into(),
        user.created_at.into(),
    ];
    one(db, &sql, &params)
}

/// A user by id or username (case-insensitive).
pub fn find(db: &dyn Db, user: &Ref) -> Result<Option<User>, DbError> {
    match user {
        Ref::Id(id) => one(db, &format!("SELECT {COLUMNS} FROM users WHERE id = ?"), &[(*id).into()]),
        Ref::Name(name) => one(db, &format!("SELECT {COLUMNS} FROM users WHERE username = ?"), &[name.as_str().into()]),
    }
}

/// A user by email (case-insensitive).
pub fn find_by_email(db: &dyn Db, email: &str) -> Result<Option<User>, DbError> {
    one(db, &format!("SELECT {COLUMNS} FROM users WHERE email = ?"), &[email.into()])
}

/// The account a login names (by email when the identifier holds `@`, else by username) with its
/// password hash.
pub fn find_for_login(db: &dyn Db, identifier: &str) -> Result<Option<(User, Option<String>)>, DbError> {
    let column = if identifier.contains('@') { "email" } else { "username" };
    let rows =
        db.execute(&format!("SELECT {COLUMNS}, password FROM users WHERE {column} = ?"), &[identifier.into()])?;
    rows.map_first(|row| Ok((from_row(row)?, row.opt_text("password")?)))
}

/// The stored password hash of a user (`None`: no such user or no password).
pub fn password_hash(db: &dyn Db, id: i64) -> Result<Option<String>, DbError> {
    Ok(db
        .execute("SELECT password FROM users WHERE id = ?", &[id.into()])?
        .map_first(|row| row.opt_text("password"))?
        .flatten())
}

/// Whether another user than `except` has this username.
pub fn username_taken(db: &dyn Db, username: &str, except: Option<i64>) -> Result<bool, DbError> {
    let rows =
        db.execute("SELECT 1 FROM users WHERE username = ? AND id IS NOT ?", &[username.into(), except.into()])?;
    Ok(!rows.rows.is_empty())
}

/// Whether another user than `except` has this email.
pub fn email_taken(db: &dyn Db, email: &str, except: Option<i64>) -> Result<bool, DbError> {
    let rows = db.execute("SELECT 1 FROM users WHERE email = ? AND id IS NOT ?", &[email.into(), except.into()])?;
    Ok(!rows.rows.is_empty())
}

/// Columns to change; `None` leaves a column as it is.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub active: Option<bool>,
    pub admin: Option<bool>,
    pub verified: Option<bool>,
    pub password_hash: Option<String>,
}

/// Applies `changes` and returns the updated user (`None`: no such user). A taken username or email
/// fails with [`DbError::Unique`].
pub fn update(db: &dyn Db, id: i64, changes: &Changes) -> Result<Option<User>, DbError> {
    let mut sets: Vec<&str> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut set = |column: &'static str, value: Option<Value>| {
        if let Some(value) = value {
            sets.push(column);
            params.push(value);
        }
    };
    set("username", changes.username.clone().map(Value::from));
    set("email", changes.email.clone().map(Value::from));
    set("first_name", changes.first_name.clone().map(Value::from));
    set("last_name", changes.last_name.clone().map(Value::from));
    set("active", changes.active.map(Value::from));
    set("admin", changes.admin.map(Value::from));
    set("verified", changes.verified.map(Value::from));
    set("password", changes.password_hash.clone().map(Value::from));
    if sets.is_empty() {
        return find(db, &Ref::Id(id));
    }
    let assignments: Vec<String> = sets.iter().map(|column| format!("{column} = ?")).collect();
    params.push(id.into());
    let sql = format!("UPDATE users SET {} WHERE id = ? RETURNING {COLUMNS}", assignments.join(", "));
    one(db, &sql, &params)
}

/// Records a successful login.
pub fn record_login(db: &dyn Db, id: i64, now: i64) -> Result<(), DbError> {
    db.execute("UPDATE users SET last_login = ? WHERE id = ?", &[now.into(), id.into()])?;
    Ok(())
}

/// Deletes a user (tokens, codes and memberships go with it); false when there was none.
pub fn delete(db: &dyn Db, id: i64) -> Result<bool, DbError> {
    Ok(!db.execute("DELETE FROM users WHERE id = ? RETURNING id", &[id.into()])?.rows.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NativeDb;

    fn new_user<'a>(username: &'a str, email: &'a str) -> NewUser<'a> {
        NewUser {
            username,
            email,
            first_name: "",
            last_name: "",
            password_hash: Some("$argon2id$fake"),
            active: true,
            admin: false,
            verified: true,
            created_at: 1000,
        }
    }

    #[test]
    fn insert_find_and_conflicts() {
        let db = NativeDb::memory().unwrap();
        let ada = insert(&db, &new_user("ada", "ada@example.org")).unwrap().unwrap();
        assert_eq!((ada.username.as_str(), ada.active, ada.verified, ada.last_login), ("ada", true, true, None));
        assert!(insert(&db, &new_user("ADA", "other@example.org")).unwrap().is_none(), "usernames ignore case");
        assert!(insert(&db, &new_user("bob", "Ada@Example.org")).unwrap().is_none(), "emails ignore case");
        assert_eq!(find(&db, &Ref::Id(ada.id)).unwrap(), Some(ada.clone()));
        assert_eq!(find(&db, &Ref::Name("Ada".into())).unwrap(), Some(ada.clone()));
        assert_eq!(find(&db, &Ref::Id(999)).unwrap(), None);
        assert_eq!(find_by_email(&db, "ADA@example.org").unwrap(), Some(ada.clone()));
        assert!(username_taken(&db, "ada", None).unwrap());
        assert!(!username_taken(&db, "ada", Some(ada.id)).unwrap());
        assert!(email_taken(&db, "ada@example.org", None).unwrap());
        let (found, hash) = find_for_login(&db, "ada@example.org").unwrap().unwrap();
        assert_eq!((found.id, hash.as_deref()), (ada.id, Some("$argon2id$fake")));
        assert_eq!(find_for_login(&db, "ADA").unwrap().unwrap().0.id, ada.id);
        assert_eq!(password_hash(&db, ada.id).unwrap().as_deref(), Some("$argon2id$fake"));
    }

    #[test]
    fn updates_change_only_what_they_name() {
        let db = NativeDb::memory().unwrap();
        let ada = insert(&db, &new_user("ada", "ada@example.org")).unwrap().unwrap();
        insert(&db, &new_user("bob", "bob@example.org")).unwrap().unwrap();
        let changes = Changes { first_name: Some("Ada".into()), admin: Some(true), ..Changes::default() };
        let updated = update(&db, ada.id, &changes).unwrap().unwrap();
        assert_eq!(
            (updated.first_name.as_str(), updated.admin, updated.email.as_str()),
            ("Ada", true, "ada@example.org")
        );
        assert_eq!(update(&db, ada.id, &Changes::default()).unwrap(), Some(updated));
        let clash = Changes { email: Some("BOB@example.org".into()), ..Changes::default() };
        assert!(matches!(update(&db, ada.id, &clash), Err(DbError::Unique(_))));
        assert_eq!(update(&db, 999, &changes).unwrap(), None);
        record_login(&db, ada.id, 77).unwrap();
        assert_eq!(find(&db, &Ref::Id(ada.id)).unwrap().unwrap().last_login, Some(77));
        assert!(delete(&db, ada.id).unwrap());
        assert!(!delete(&db, ada.id).unwrap());
    }

    #[test]
    fn the_resource_renders_what_a_user_serialises_to() {
        let names: Vec<&str> = FIELDS.iter().map(|field| field.name).collect();
        let db = NativeDb::memory().unwrap();
        let ada = insert(&db, &new_user("ada", "ada@example.org")).unwrap().unwrap();
        let json = serde_json::to_value(&ada).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert!(!names.contains(&"password"));
    }
}
