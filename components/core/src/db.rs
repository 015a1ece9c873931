//! The database seam: one small trait with a Spin implementation (wasm) and a rusqlite one (native tests,
//! benches). Every open sets the per-connection PRAGMAs and applies pending migrations.

use crate::error::ApiError;

/// A SQLite value, as both Spin's interface and rusqlite carry it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(v as i64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The rows a statement returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// One row with access by column name.
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl Rows {
    /// Iterates the rows with access by column name.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row { columns: &self.columns, values })
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    /// The first row read with `read`, if there is one.
    pub fn map_first<T>(&self, read: impl FnOnce(&Row<'_>) -> Result<T, DbError>) -> Result<Option<T>, DbError> {
        self.first().map(|row| read(&row)).transpose()
    }

    /// Every row read with `read`.
    pub fn map_all<T>(&self, mut read: impl FnMut(&Row<'_>) -> Result<T, DbError>) -> Result<Vec<T>, DbError> {
        self.iter().map(|row| read(&row)).collect()
    }
}

impl Row<'_> {
    /// The value of a column. A column the statement did not return is an error, never a silent NULL.
    pub fn value(&self, column: &str) -> Result<&Value, DbError> {
        let index = self.columns.iter().position(|c| c == column);
        index.map(|i| &self.values[i]).ok_or_else(|| DbError::Other(format!("no column `{column}` in the result")))
    }

    /// An INTEGER column.
    pub fn int(&self, column: &str) -> Result<i64, DbError> {
        self.opt_int(column)?.ok_or_else(|| mistyped(column, "an integer", &Value::Null))
    }

    /// An INTEGER column that may be NULL.
    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, DbError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Integer(v) => Ok(Some(*v)),
            other => Err(mistyped(column, "an integer", other)),
        }
    }

    /// An INTEGER column holding 0 or 1.
    pub fn bool(&self, column: &str) -> Result<bool, DbError> {
        Ok(self.int(column)? != 0)
    }

    /// A REAL column (an INTEGER is read as its value: SQLite stores whole REALs compactly).
    pub fn real(&self, column: &str) -> Result<f64, DbError> {
        match self.value(column)? {
            Value::Real(v) => Ok(*v),
            Value::Integer(v) => Ok(*v as f64),
            other => Err(mistyped(column, "a real", other)),
        }
    }

    /// A TEXT column.
    pub fn text(&self, column: &str) -> Result<String, DbError> {
        self.opt_text(column)?.ok_or_else(|| mistyped(column, "text", &Value::Null))
    }

    /// A TEXT column that may be NULL.
    pub fn opt_text(&self, column: &str) -> Result<Option<String>, DbError> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            other => Err(mistyped(column, "text", other)),
        }
    }

    /// A BLOB column.
    pub fn blob(&self, column: &str) -> Result<Vec<u8>, DbError> {
        match self.value(column)? {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(mistyped(column, "a blob", other)),
        }
    }

    /// The row as a JSON object (integers, reals, text; blobs as text; NULL as null).
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.columns.iter().zip(self.values).map(|(c, v)| (c.clone(), value_to_json(v))).collect()
    }
}

fn mistyped(column: &str, expected: &str, found: &Value) -> DbError {
    let found = match found {
        Value::Null => "NULL",
        Value::Integer(_) => "an integer",
        Value::Real(_) => "a real",
        Value::Text(_) => "text",
        Value::Blob(_) => "a blob",
    };
    DbError::Other(format!("column `{column}`: expected {expected}, found {found}"))
}

/// A value as JSON.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(v) => (*v).into(),
        Value::Real(v) => (*v).into(),
        Value::Text(v) => v.clone().into(),
        Value::Blob(v) => String::from_utf8_lossy(v).into_owned().into(),
    }
}

/// Why a statement failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DbError {
    /// The component was not granted this database (Spin's `access-denied`) or it does not exist.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    #[error("unique constraint violated: {0}")]
    Unique(String),
    /// A FOREIGN KEY constraint refused the write: a referenced row is missing (or still referenced).
    #[error("foreign key constraint violated: {0}")]
    ForeignKey(String),
    /// Another constraint (CHECK, NOT NULL) refused the write.
    #[error("constraint violated: {0}")]
    Constraint(String),
    #[error("database error: {0}")]
    Other(String),
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(_) => ApiError::Unavailable("the database is unavailable".into()),
            DbError::Unique(cause)
            | DbError::ForeignKey(cause)
            | DbError::Constraint(cause)
            | DbError::Other(cause) => ApiError::Internal(cause),
        }
    }
}

/// SQLite's extended result codes for the constraint violations that services tell apart.
mod codes {
    pub const CONSTRAINT: i32 = 19;
    pub const CONSTRAINT_FOREIGNKEY: i32 = 787;
    pub const CONSTRAINT_PRIMARYKEY: i32 = 1555;
    pub const CONSTRAINT_UNIQUE: i32 = 2067;
}

impl DbError {
    /// Classifies a failure by SQLite's extended result code (the native connection has it).
    pub fn from_code(extended_code: i32, message: String) -> DbError {
        match extended_code {
            codes::CONSTRAINT_UNIQUE | codes::CONSTRAINT_PRIMARYKEY => DbError::Unique(message),
            codes::CONSTRAINT_FOREIGNKEY => DbError::ForeignKey(message),
            code if code & 0xff == codes::CONSTRAINT => DbError::Constraint(message),
            _ => DbError::Other(message),
        }
    }

    /// Classifies a failure known only by its message. Spin's sqlite interface reports every statement
    /// error as text (`io(string)`), so in wasm SQLite's fixed message for each extended code is all there
    /// is: "UNIQUE constraint failed: …" (also for a PRIMARY KEY), "FOREIGN KEY constraint failed", and
    /// "<KIND> constraint failed" for the others.
    pub fn from_message(message: String) -> DbError {
        let code = if message.starts_with("UNIQUE constraint failed") {
            codes::CONSTRAINT_UNIQUE
        } else if message.starts_with("FOREIGN KEY constraint failed") {
            codes::CONSTRAINT_FOREIGNKEY
        } else if message.contains("constraint failed") {
            codes::CONSTRAINT
        } else {
            0
        };
        DbError::from_code(code, message)
    }
}

/// A connection to the shared database.
pub trait Db {
    /// Runs one statement with bound parameters and returns its rows (empty for writes without RETURNING).
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError>;
}

/// Runs `work` inside `BEGIN IMMEDIATE … COMMIT`, rolling back when it fails.
pub fn transaction<T, E: From<DbError>>(db: &dyn Db, work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    db.execute("BEGIN IMMEDIATE", &[])?;
    match work() {
        Ok(value) => {
            if let Err(error) = db.execute("COMMIT", &[]) {
                let _ = db.execute("ROLLBACK", &[]);
                return Err(error.into());
            }
            Ok(value)
        }
        Err(error) => {
            let _ = db.execute("ROLLBACK", &[]);
            Err(error)
        }
    }
}

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
    use super::{Db, DbError, Rows, Value};
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
    use super::{Db, DbError, Rows, Value};
    use rusqlite::types::ValueRef;

    /// A rusqlite connection: used by native tests and the benchmark floor.
    pub struct NativeDb(pub(crate) rusqlite::Connection);

    impl NativeDb {
        /// Opens (creating) a database file in WAL mode, sets PRAGMAs and migrates.
        pub fn open(path: &std::path::Path) -> Result<Self, DbError> {
            let connection = rusqlite::Connection::open(path).map_err(|e| DbError::Unavailable(e.to_string()))?;
            // The busy timeout must precede the switch to WAL, which needs a lock another opener may hold.
            let other = |e: rusqlite::Error| DbError::Other(e.to_string());
            connection.busy_timeout(std::time::Duration::from_secs(5)).map_err(other)?;
            connection.pragma_update(None, "journal_mode", "WAL").map_err(other)?;
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
