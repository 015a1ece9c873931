//! Opening a connection to the shared database: Spin's sqlite in wasm, rusqlite natively (tests, benches).
//! Every open sets the per-connection PRAGMAs and applies pending migrations ([`prepare`]).

use crate::db::{Db, DbError};

/// PRAGMAs every connection needs: Spin opens a fresh connection with defaults.
const CONNECTION_PRAGMAS: [&str; 3] =
    ["PRAGMA busy_timeout = 5000", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON"];

/// Reads what [`CONNECTION_PRAGMAS`] set, and the schema version, in one statement.
const CONNECTION_STATE: &str = "SELECT (SELECT timeout FROM pragma_busy_timeout) >= 5000 \
     AND (SELECT synchronous FROM pragma_synchronous) = 1 AND (SELECT foreign_keys FROM pragma_foreign_keys) = 1 \
     AS prepared, (SELECT user_version FROM pragma_user_version) AS version";

/// Applies the per-connection PRAGMAs and any pending migrations. A host that pools connections hands
/// out ones already prepared: then this is a single read.
pub fn prepare(db: &dyn Db) -> Result<(), DbError> {
    let state = db.execute(CONNECTION_STATE, &[])?;
    let (prepared, version) = match state.first() {
        Some(row) => (row.bool("prepared")?, row.int("version")?),
        None => (false, 0),
    };
    if !prepared {
        for pragma in CONNECTION_PRAGMAS {
            db.execute(pragma, &[])?;
        }
    }
    if version < crate::migrate::latest_version() {
        crate::migrate::migrate(db)?;
    }
    Ok(())
}

#[cfg(target_arch = "wasm32")]
pub use spin_db::SpinDb;

#[cfg(target_arch = "wasm32")]
mod spin_db {
    use crate::db::{Db, DbError, Rows, Value};
    use spin_sdk::sqlite;

    /// The Spin `fermyon:spin/sqlite@2.0.0` connection to the `default` database.
    pub struct SpinDb(sqlite::Connection);

    impl SpinDb {
        /// Opens the `default` database, sets PRAGMAs and migrates.
        pub fn open() -> Result<Self, DbError> {
            let connection = sqlite::Connection::open_default().map_err(|e| match e {
                sqlite::Error::AccessDenied | sqlite::Error::NoSuchDatabase => DbError::Unavailable(e.to_string()),
                other => DbError::Other(other.to_string()),
            })?;
            let db = SpinDb(connection);
            super::prepare(&db)?;
            Ok(db)
        }
    }

    impl Db for SpinDb {
        fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
            let params: Vec<sqlite::Value> = params.iter().map(to_spin).collect();
            let result = self.0.execute(sql, &params).map_err(|e| match e {
                sqlite::Error::Io(message) => DbError::from_message(message),
                other => DbError::Other(other.to_string()),
            })?;
            Ok(Rows {
                columns: result.columns,
                rows: result.rows.into_iter().map(|row| row.values.into_iter().map(from_spin).collect()).collect(),
            })
        }
    }

    fn to_spin(value: &Value) -> sqlite::Value {
        match value {
            Value::Null => sqlite::Value::Null,
            Value::Integer(v) => sqlite::Value::Integer(*v),
            Value::Real(v) => sqlite::Value::Real(*v),
            Value::Text(v) => sqlite::Value::Text(v.clone()),
            Value::Blob(v) => sqlite::Value::Blob(v.clone()),
        }
    }

    fn from_spin(value: sqlite::Value) -> Value {
        match value {
            sqlite::Value::Null => Value::Null,
            sqlite::Value::Integer(v) => Value::Integer(v),
            sqlite::Value::Real(v) => Value::Real(v),
            sqlite::Value::Text(v) => Value::Text(v),
            sqlite::Value::Blob(v) => Value::Blob(v),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::NativeDb;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use crate::db::{Db, DbError, Rows, Value};
    use rusqlite::types::ValueRef;
    use std::time::{Duration, Instant};

    /// A rusqlite connection: used by native tests and the benchmark floor.
    pub struct NativeDb(pub(crate) rusqlite::Connection);

    impl NativeDb {
        /// Opens (creating) a database file in WAL mode, sets PRAGMAs and migrates.
        pub fn open(path: &std::path::Path) -> Result<Self, DbError> {
            let connection = rusqlite::Connection::open(path).map_err(|e| DbError::Unavailable(e.to_string()))?;
            connection.busy_timeout(BUSY_TIMEOUT).map_err(|e| DbError::Other(e.to_string()))?;
            switch_to_wal(&connection)?;
            let db = NativeDb(connection);
            super::prepare(&db)?;
            Ok(db)
        }

        /// A private in-memory database, migrated.
        pub fn memory() -> Result<Self, DbError> {
            let db = NativeDb(rusqlite::Connection::open_in_memory().map_err(|e| DbError::Other(e.to_string()))?);
            super::prepare(&db)?;
            Ok(db)
        }
    }

    /// How long a native connection waits for a lock, as `prepare` sets it.
    const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

    /// Puts the file in WAL mode, once: a file already in WAL is only read. Changing the mode needs a lock
    /// that SQLite does not wait for (the busy handler is not called), so openers racing on a new file retry
    /// for up to the busy timeout; one that switched mode under another's reads made those fail at once.
    fn switch_to_wal(connection: &rusqlite::Connection) -> Result<(), DbError> {
        let deadline = Instant::now() + BUSY_TIMEOUT;
        let other = |e: rusqlite::Error| DbError::Other(e.to_string());
        loop {
            let mode: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0)).map_err(other)?;
            if mode.eq_ignore_ascii_case("wal") {
                return Ok(());
            }
            match connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0)) {
                Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
                Ok(mode) => return Err(DbError::Other(format!("the database stays in journal mode `{mode}`"))),
                Err(rusqlite::Error::SqliteFailure(failure, _))
                    if failure.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(error) => return Err(other(error)),
            }
        }
    }

    impl Db for NativeDb {
        fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
            let error = |e: rusqlite::Error| match e.sqlite_error() {
                Some(failure) => DbError::from_code(failure.extended_code, e.to_string()),
                None => DbError::Other(e.to_string()),
            };
            let mut statement = self.0.prepare_cached(sql).map_err(error)?;
            let columns: Vec<String> = statement.column_names().into_iter().map(String::from).collect();
            let params = rusqlite::params_from_iter(params.iter().map(to_sql));
            let mut cursor = statement.query(params).map_err(error)?;
            let mut rows = Vec::new();
            while let Some(row) = cursor.next().map_err(error)? {
                let values = (0..columns.len())
                    .map(|i| row.get_ref(i).map(from_ref))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(error)?;
                rows.push(values);
            }
            Ok(Rows { columns, rows })
        }
    }

    fn to_sql(value: &Value) -> rusqlite::types::Value {
        match value {
            Value::Null => rusqlite::types::Value::Null,
            Value::Integer(v) => rusqlite::types::Value::Integer(*v),
            Value::Real(v) => rusqlite::types::Value::Real(*v),
            Value::Text(v) => rusqlite::types::Value::Text(v.clone()),
            Value::Blob(v) => rusqlite::types::Value::Blob(v.clone()),
        }
    }

    fn from_ref(value: ValueRef<'_>) -> Value {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Integer(v),
            ValueRef::Real(v) => Value::Real(v),
            ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
            ValueRef::Blob(v) => Value::Blob(v.to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Rows, Value};
    use std::cell::RefCell;

    /// Records every statement it passes on.
    struct Counting<'a>(&'a dyn Db, RefCell<Vec<String>>);

    impl Db for Counting<'_> {
        fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
            self.1.borrow_mut().push(sql.to_string());
            self.0.execute(sql, params)
        }
    }

    #[test]
    fn a_prepared_connection_costs_one_statement_and_a_fresh_one_gets_every_pragma() {
        let platform = crate::testing::TestPlatform::new("prepare");
        let path = &platform.path;
        drop(NativeDb::open(path).unwrap());

        // A fresh connection to a migrated file: SQLite's defaults (this build turns foreign keys on by
        // default, so that alone cannot tell a prepared connection).
        let raw = NativeDb(rusqlite::Connection::open(path).unwrap());
        let fresh = Counting(&raw, RefCell::default());
        prepare(&fresh).unwrap();
        let statements = fresh.1.borrow().clone();
        for pragma in CONNECTION_PRAGMAS {
            assert!(statements.iter().any(|s| s == pragma), "{pragma} missing from {statements:?}");
        }
        for (pragma, value) in [("busy_timeout", 5000), ("synchronous", 1), ("foreign_keys", 1)] {
            let rows = raw.execute(&format!("PRAGMA {pragma}"), &[]).unwrap();
            assert_eq!(rows.rows, vec![vec![Value::Integer(value)]], "{pragma}");
        }

        let again = Counting(&raw, RefCell::default());
        prepare(&again).unwrap();
        assert_eq!(*again.1.borrow(), [CONNECTION_STATE], "a prepared connection is only read");
    }

    #[test]
    fn constraint_failures_are_told_apart_by_extended_code_natively_and_by_message_in_wasm() {
        let db = NativeDb::memory().unwrap();
        db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT UNIQUE CHECK (name <> ''))", &[]).unwrap();
        db.execute("CREATE TABLE child (parent INTEGER NOT NULL REFERENCES parent(id))", &[]).unwrap();
        db.execute("INSERT INTO parent VALUES (1, 'a')", &[]).unwrap();
        let kind = |error: &DbError| match error {
            DbError::Unavailable(_) => "unavailable",
            DbError::Unique(_) => "unique",
            DbError::ForeignKey(_) => "foreign key",
            DbError::Constraint(_) => "constraint",
            DbError::Storage { .. } => "storage",
            DbError::Other(_) => "other",
        };
        let cases = [
            ("INSERT INTO parent VALUES (2, 'a')", "unique"),
            ("INSERT INTO parent VALUES (1, 'b')", "unique"),
            ("INSERT INTO child VALUES (9)", "foreign key"),
            ("INSERT INTO parent VALUES (3, '')", "constraint"),
            ("INSERT INTO nowhere VALUES (1)", "other"),
        ];
        for (sql, expected) in cases {
            let native = db.execute(sql, &[]).unwrap_err();
            assert_eq!(kind(&native), expected, "{sql}: {native:?}");
            // What a Spin host sends the guest is the same error as text.
            let (DbError::Unique(m) | DbError::ForeignKey(m) | DbError::Constraint(m) | DbError::Other(m)) = &native
            else {
                panic!("{native:?}")
            };
            assert_eq!(DbError::from_message(m.clone()), native, "{sql}");
        }
    }

    #[test]
    fn a_connection_that_lost_a_setting_is_prepared_again() {
        for pragma in ["PRAGMA foreign_keys = OFF", "PRAGMA synchronous = FULL", "PRAGMA busy_timeout = 0"] {
            let db = NativeDb::memory().unwrap();
            db.execute(pragma, &[]).unwrap();
            let counting = Counting(&db, RefCell::default());
            prepare(&counting).unwrap();
            assert_eq!(counting.1.borrow().len(), 1 + CONNECTION_PRAGMAS.len(), "after {pragma}");
        }
    }
}
