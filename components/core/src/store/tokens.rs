//! `api_tokens`: named API tokens (`kind = 'api'`) and login sessions (`kind = 'session'`). Only the
//! SHA-256 of a secret is stored; [`Token`], which the API renders, carries neither secret nor hash.

use crate::db::{Db, DbError, Row, Value};
use crate::query::{Field, Kind, Resource, Scope};
use serde::Serialize;

/// What a token row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A named API token the user created.
    Api,
    /// A login session (cookie or the token returned by login).
    Session,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Session => "session",
        }
    }
}

/// A named token as the API shows it (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub admin: bool,
}

/// The `/tokens` collection; the same fields, in the same order, as [`Token`].
pub const FIELDS: &[Field] = &[
    Field { name: "id", sql: "id", kind: Kind::Int, filter: true },
    Field { name: "name", sql: "name", kind: Kind::Text, filter: true },
    Field { name: "prefix", sql: "prefix", kind: Kind::Text, filter: true },
    Field { name: "created_at", sql: "created_at", kind: Kind::Int, filter: true },
    Field { name: "last_used_at", sql: "last_used_at", kind: Kind::Int, filter: true },
    Field { name: "expires_at", sql: "expires_at", kind: Kind::Int, filter: true },
    Field { name: "admin", sql: "admin", kind: Kind::Bool, filter: true },
];

/// `/tokens`.
pub const RESOURCE: Resource = Resource { from: "api_tokens", fields: FIELDS };

/// The scope of `/tokens`: one user's named tokens.
pub fn scope(user_id: i64) -> Scope {
    Scope { sql: "user_id = ? AND kind = 'api'".into(), params: vec![user_id.into()] }
}

const COLUMNS: &str = "id, name, prefix, created_at, last_used_at, expires_at, admin";

fn from_row(row: &Row<'_>) -> Result<Token, DbError> {
    Ok(Token {
        id: row.int("id")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        created_at: row.int("created_at")?,
        last_used_at: row.opt_int("last_used_at")?,
        expires_at: row.opt_int("expires_at")?,
        admin: row.bool("admin")?,
    })
}

/// A token to insert.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub user_id: i64,
    pub kind: TokenKind,
    pub name: &'a str,
    pub prefix: &'a str,
    pub secret_hash: &'a [u8],
    pub admin: bool,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// Inserts a token.
pub fn insert(db: &dyn Db, token: &NewToken<'_>) -> Result<Token, DbError> {
    let rows = db.execute(
        &format!(
            "INSERT INTO api_tokens (user_id, kind, name, prefix, secret_hash, admin, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        ),
        &[
            token.user_id.into(),
            token.kind.as_str().into(),
            token.name.into(),
            token.prefix.into(),
            Value::Blob(token.secret_hash.to_vec()),
            token.admin.into(),
            token.created_at.into(),
            token.expires_at.into(),
        ],
    )?;
    rows.map_first(from_row)?.ok_or_else(|| DbError::Other("INSERT returned no row".into()))
}

/// How many tokens of `kind` a user has.
pub fn count(db: &dyn Db, user_id: i64, kind: TokenKind) -> Result<i64, DbError> {
    let rows = db.execute(
        "SELECT COUNT(*) AS n FROM api_tokens WHERE user_id = ? AND kind = ?",
        &[user_id.into(), kind.as_str().into()],
    )?;
    Ok(rows.map_first(|row| row.int("n"))?.unwrap_or(0))
}

/// One of a user's named tokens.
pub fn get(db: &dyn Db, user_id: i64, id: i64) -> Result<Option<Token>, DbError> {
    let rows = db.execute(
        &format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ? AND user_id = ? AND kind = 'api'"),
        &[id.into(), user_id.into()],
    )?;
    rows.map_first(from_row)
}

/// Every unexpired credential of a user, named tokens and sessions alike, with its kind: the most recently
/// used first (a credential never used counts from its creation), then the newest.
pub fn credentials_of(db: &dyn Db, user_id: i64, now: i64) -> Result<Vec<(Token, TokenKind)>, DbError> {
    let rows = db.execute(
        &format!(
            "SELECT {COLUMNS}, kind FROM api_tokens WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?) \
             ORDER BY COALESCE(last_used_at, created_at) DESC, id DESC"
        ),
        &[user_id.into(), now.into()],
    )?;
    rows.map_all(|row| {
        let kind = if row.text("kind")? == "session" { TokenKind::Session } else { TokenKind::Api };
        Ok((from_row(row)?, kind))
    })
}

/// A presented secret's token row joined with its user: everything authentication decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub token_id: i64,
    pub kind: TokenKind,
    /// The token was issued with admin scope.
    pub token_admin: bool,
    pub secret_hash: Vec<u8>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub user_id: i64,
    pub username: String,
    pub user_admin: bool,
    pub user_active: bool,
}

/// The token whose secret hashes to `secret_hash`, with its user.
pub fn lookup(db: &dyn Db, secret_hash: &[u8]) -> Result<Option<Credential>, DbError> {
    let rows = db.execute(
        "SELECT t.id AS token_id, t.kind AS kind, t.admin AS token_admin, t.secret_hash AS secret_hash, \
         t.expires_at AS expires_at, t.last_used_at AS last_used_at, u.id AS user_id, u.username AS username, \
         u.admin AS user_admin, u.active AS user_active \
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.secret_hash = ?",
        &[Value::Blob(secret_hash.to_vec())],
    )?;
    rows.map_first(|row| {
        Ok(Credential {
            token_id: row.int("token_id")?,
            kind: if row.text("kind")? == "session" { TokenKind::Session } else { TokenKind::Api },
            token_admin: row.bool("token_admin")?,
            secret_hash: row.blob("secret_hash")?,
            expires_at: row.opt_int("expires_at")?,
            last_used_at: row.opt_int("last_used_at")?,
            user_id: row.int("user_id")?,
            username: row.text("username")?,
            user_admin: row.bool("user_admin")?,
            user_active: row.bool("user_active")?,
        })
    })
}

/// Sets `last_used_at = now` unless it was set less than `granularity` seconds ago (guarded in SQL, so
/// concurrent requests write at most once per interval).
pub fn touch(db: &dyn Db, id: i64, now: i64, granularity: i64) -> Result<(), DbError> {
    db.execute(
        "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
        &[now.into(), id.into(), (now - granularity).into()],
    )?;
    Ok(())
}

/// Deletes one token of a user; false when the user has no such token of that kind.
pub fn delete(db: &dyn Db, user_id: i64, id: i64, kind: TokenKind) -> Result<bool, DbError> {
    let rows = db.execute(
        "DELETE FROM api_tokens WHERE id = ? AND user_id = ? AND kind = ? RETURNING id",
        &[id.into(), user_id.into(), kind.as_str().into()],
    )?;
    Ok(!rows.rows.is_empty())
}

/// Deletes every token of `kind` a user has, except `keep`; returns how many went.
pub fn delete_all(db: &dyn Db, user_id: i64, kind: TokenKind, keep: Option<i64>) -> Result<i64, DbError> {
    let rows = db.execute(
        "DELETE FROM api_tokens WHERE user_id = ? AND kind = ? AND id IS NOT ? RETURNING id",
        &[user_id.into(), kind.as_str().into(), keep.into()],
    )?;
    Ok(rows.rows.len() as i64)
}

/// Deletes a user's sessions that expired (housekeeping at login).
pub fn purge_expired_sessions(db: &dyn Db, user_id: i64, now: i64) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM api_tokens WHERE user_id = ? AND kind = 'session' AND expires_at <= ?",
        &[user_id.into(), now.into()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NativeDb;
    use crate::store::users;

    fn setup() -> (NativeDb, i64) {
        let db = NativeDb::memory().unwrap();
        let new = users::NewUser {
            username: "ada",
            email: "ada@example.org",
            first_name: "",
            last_name: "",
            password_hash: None,
            active: true,
            admin: true,
            verified: true,
            created_at: 1,
        };
        let id = users::insert(&db, &new).unwrap().unwrap().id;
        (db, id)
    }

    fn new_token(user_id: i64, kind: TokenKind, hash: &[u8]) -> NewToken<'_> {
        NewToken {
            user_id,
            kind,
            name: "ci",
            prefix: "cvt_abcd",
            secret_hash: hash,
            admin: true,
            created_at: 10,
            expires_at: None,
        }
    }

    #[test]
    fn lookup_touch_and_delete() {
        let (db, ada) = setup();
        let token = insert(&db, &new_token(ada, TokenKind::Api, b"hash-1")).unwrap();
        let session = insert(&db, &new_token(ada, TokenKind::Session, b"hash-2")).unwrap();
        let found = lookup(&db, b"hash-1").unwrap().unwrap();
        assert_eq!(
            (found.token_id, found.kind, found.username.as_str(), found.user_admin),
            (token.id, TokenKind::Api, "ada", true)
        );
        assert_eq!(found.secret_hash, b"hash-1");
        assert_eq!(lookup(&db, b"hash-2").unwrap().unwrap().kind, TokenKind::Session);
        assert_eq!(lookup(&db, b"nope").unwrap(), None);

        touch(&db, token.id, 100, 60).unwrap();
        touch(&db, token.id, 130, 60).unwrap();
        assert_eq!(get(&db, ada, token.id).unwrap().unwrap().last_used_at, Some(100), "at most once a minute");
        touch(&db, token.id, 160, 60).unwrap();
        assert_eq!(get(&db, ada, token.id).unwrap().unwrap().last_used_at, Some(160));

        assert_eq!(get(&db, ada, session.id).unwrap(), None, "sessions are not named tokens");
        assert_eq!(get(&db, ada + 1, token.id).unwrap(), None, "another user's token");
        assert_eq!(count(&db, ada, TokenKind::Api).unwrap(), 1);
        assert!(!delete(&db, ada, session.id, TokenKind::Api).unwrap());
        assert!(delete(&db, ada, token.id, TokenKind::Api).unwrap());
        assert!(!delete(&db, ada, token.id, TokenKind::Api).unwrap());
    }

    #[test]
    fn credentials_of_a_user_are_every_unexpired_kind_most_recently_used_first() {
        let (db, ada) = setup();
        let old = insert(&db, &new_token(ada, TokenKind::Api, b"c1")).unwrap();
        let session = insert(&db, &new_token(ada, TokenKind::Session, b"c2")).unwrap();
        let mut expired = new_token(ada, TokenKind::Session, b"c3");
        expired.expires_at = Some(100);
        insert(&db, &expired).unwrap();
        touch(&db, old.id, 500, 60).unwrap();
        let listed = credentials_of(&db, ada, 100).unwrap();
        let ids: Vec<(i64, TokenKind)> = listed.iter().map(|(token, kind)| (token.id, *kind)).collect();
        assert_eq!(ids, vec![(old.id, TokenKind::Api), (session.id, TokenKind::Session)]);
        assert_eq!(credentials_of(&db, ada + 1, 100).unwrap(), vec![]);
    }

    #[test]
    fn bulk_deletes_keep_what_they_are_told() {
        let (db, ada) = setup();
        let first = insert(&db, &new_token(ada, TokenKind::Session, b"s1")).unwrap();
        insert(&db, &new_token(ada, TokenKind::Session, b"s2")).unwrap();
        let mut expired = new_token(ada, TokenKind::Session, b"s3");
        expired.expires_at = Some(50);
        insert(&db, &expired).unwrap();
        insert(&db, &new_token(ada, TokenKind::Api, b"a1")).unwrap();
        purge_expired_sessions(&db, ada, 50).unwrap();
        assert_eq!(lookup(&db, b"s3").unwrap(), None);
        assert_eq!(delete_all(&db, ada, TokenKind::Session, Some(first.id)).unwrap(), 1);
        assert!(lookup(&db, b"s1").unwrap().is_some());
        assert!(lookup(&db, b"a1").unwrap().is_some());
        assert_eq!(delete_all(&db, ada, TokenKind::Api, None).unwrap(), 1);
        users::delete(&db, ada).unwrap();
        assert_eq!(lookup(&db, b"s1").unwrap(), None, "tokens go with their user");
    }
}
