//! `account_codes`: one-time codes for activation, password reset and email change. Codes are matched
//! by SHA-256 and consumed by one guarded `DELETE … RETURNING`, so a code works at most once even when
//! two requests race.

use crate::db::{Db, DbError, Value};
use crate::query::{Field, Kind, Resource, Scope};

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Activation,
    PasswordReset,
    EmailChange,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Activation => "activation",
            Purpose::PasswordReset => "password_reset",
            Purpose::EmailChange => "email_change",
        }
    }
}

/// A code to insert.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub user_id: i64,
    pub purpose: Purpose,
    pub secret_hash: &'a [u8],
    /// The readable code, kept for activations only (admins may read pending ones).
    pub readable: Option<&'a str>,
    /// The new address of an email change.
    pub email: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores a code, replacing the user's earlier codes of the same purpose (only the newest one works)
/// and purging every expired code.
pub fn replace(db: &dyn Db, code: &NewCode<'_>) -> Result<(), DbError> {
    db.execute("DELETE FROM account_codes WHERE expires_at <= ?", &[code.created_at.into()])?;
    delete_for(db, code.user_id, code.purpose)?;
    db.execute(
        "INSERT INTO account_codes (secret_hash, user_id, purpose, code, email, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            Value::Blob(code.secret_hash.to_vec()),
            code.user_id.into(),
            code.purpose.as_str().into(),
            code.readable.into(),
            code.email.into(),
            code.created_at.into(),
            code.expires_at.into(),
        ],
    )?;
    Ok(())
}

/// Consumes an unexpired code: deletes it and returns its user id and email (email changes). `None` when
/// no such code exists, it has another purpose, or it expired.
pub fn consume(
    db: &dyn Db,
    purpose: Purpose,
    secret_hash: &[u8],
    now: i64,
) -> Result<Option<(i64, Option<String>)>, DbError> {
    let rows = db.execute(
        "DELETE FROM account_codes WHERE secret_hash = ? AND purpose = ? AND expires_at > ? RETURNING user_id, email",
        &[Value::Blob(secret_hash.to_vec()), purpose.as_str().into(), now.into()],
    )?;
    rows.map_first(|row| Ok((row.int("user_id")?, row.opt_text("email")?)))
}

/// Deletes a user's codes of one purpose.
pub fn delete_for(db: &dyn Db, user_id: i64, purpose: Purpose) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM account_codes WHERE user_id = ? AND purpose = ?",
        &[user_id.into(), purpose.as_str().into()],
    )?;
    Ok(())
}

/// Pending activations for administrators (`GET /auth/activations`).
pub const ACTIVATION_FIELDS: &[Field] = &[
    Field { name: "id", sql: "c.id", kind: Kind::Int, filter: true },
    Field { name: "user", sql: "c.user_id", kind: Kind::Int, filter: true },
    Field { name: "username", sql: "u.username", kind: Kind::Text, filter: true },
    Field { name: "email", sql: "u.email", kind: Kind::Text, filter: true },
    Field { name: "token", sql: "c.code", kind: Kind::Text, filter: false },
    Field { name: "created_at", sql: "c.created_at", kind: Kind::Int, filter: true },
    Field { name: "expires_at", sql: "c.expires_at", kind: Kind::Int, filter: true },
];

/// `/auth/activations`.
pub const ACTIVATIONS: Resource =
    Resource { from: "account_codes c JOIN users u ON u.id = c.user_id", fields: ACTIVATION_FIELDS };

/// Unexpired activation codes only.
pub fn activations_scope(now: i64) -> Scope {
    Scope { sql: "c.purpose = 'activation' AND c.expires_at > ?".into(), params: vec![now.into()] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NativeDb;
    use crate::query;
    use crate::store::users;

    fn code<'a>(user_id: i64, purpose: Purpose, hash: &'a [u8], now: i64) -> NewCode<'a> {
        NewCode {
            user_id,
            purpose,
            secret_hash: hash,
            readable: Some("cva_x"),
            email: None,
            created_at: now,
            expires_at: now + 100,
        }
    }

    #[test]
    fn codes_work_once_before_they_expire_and_only_the_newest() {
        let db = NativeDb::memory().unwrap();
        let new = users::NewUser {
            username: "ada",
            email: "ada@example.org",
            first_name: "",
            last_name: "",
            password_hash: None,
            active: true,
            admin: false,
            verified: false,
            created_at: 1,
        };
        let ada = users::insert(&db, &new).unwrap().unwrap().id;
        replace(&db, &code(ada, Purpose::Activation, b"a1", 10)).unwrap();
        assert_eq!(consume(&db, Purpose::PasswordReset, b"a1", 20).unwrap(), None, "wrong purpose");
        assert_eq!(consume(&db, Purpose::Activation, b"a1", 110).unwrap(), None, "expired");
        replace(&db, &code(ada, Purpose::Activation, b"a2", 200)).unwrap();
        replace(&db, &code(ada, Purpose::Activation, b"a3", 201)).unwrap();
        assert_eq!(consume(&db, Purpose::Activation, b"a2", 202).unwrap(), None, "replaced by a newer code");

        let scope = activations_scope(202);
        let page = query::run(&db, &ACTIVATIONS, &scope, &query::parse(&ACTIVATIONS, &[], &[]).unwrap()).unwrap();
        assert_eq!(page.count, 1);
        assert_eq!(page.results[0]["username"], "ada");
        assert_eq!(page.results[0]["token"], "cva_x");

        assert_eq!(consume(&db, Purpose::Activation, b"a3", 202).unwrap(), Some((ada, None)));
        assert_eq!(consume(&db, Purpose::Activation, b"a3", 202).unwrap(), None, "used up");

        let mut change = code(ada, Purpose::EmailChange, b"e1", 300);
        change.email = Some("new@example.org");
        replace(&db, &change).unwrap();
        assert_eq!(
            consume(&db, Purpose::EmailChange, b"e1", 301).unwrap(),
            Some((ada, Some("new@example.org".into())))
        );
    }
}
