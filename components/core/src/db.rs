//! The database seam: the `Db` trait, SQLite values and rows read strictly by column, `DbError` with the
//! constraint violations services tell apart, and transactions. Its implementations (Spin's sqlite in
//! wasm, rusqlite natively) are in `connection`.

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
    /// The database cannot keep or read its files now: its disk is full (`full`), an I/O error, or the
    /// file turned read-only. Nothing the statement would have written stays; retrying later may work.
    #[error("database storage failure: {cause}")]
    Storage { full: bool, cause: String },
    #[error("database error: {0}")]
    Other(String),
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(_) => ApiError::Unavailable("the database is unavailable".into()),
            DbError::Storage { full, cause } => {
                // The operator needs the cause (which file, which error); the client gets a 503 without it.
                eprintln!("conveyor: database storage failure: {cause}");
                let why =
                    if full { "the database's disk is full" } else { "the database cannot read or write its files" };
                ApiError::Unavailable(format!("{why}; the request changed nothing, try again later"))
            }
            DbError::Unique(cause)
            | DbError::ForeignKey(cause)
            | DbError::Constraint(cause)
            | DbError::Other(cause) => ApiError::Internal(cause),
        }
    }
}

/// SQLite's (extended) result codes for the failures that services tell apart.
mod codes {
    pub const READONLY: i32 = 8;
    pub const IOERR: i32 = 10;
    pub const FULL: i32 = 13;
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
            code if code & 0xff == codes::FULL => DbError::Storage { full: true, cause: message },
            code if [codes::IOERR, codes::READONLY].contains(&(code & 0xff)) => {
                DbError::Storage { full: false, cause: message }
            }
            _ => DbError::Other(message),
        }
    }

    /// Classifies a failure known only by its message. Spin's sqlite interface reports every statement
    /// error as text (`io(string)`), so in wasm SQLite's fixed message for each extended code is all there
    /// is: "UNIQUE constraint failed: …" (also for a PRIMARY KEY), "FOREIGN KEY constraint failed", and
    /// "`<KIND>` constraint failed" for the others; "database or disk is full", "disk I/O error" and
    /// "attempt to write a readonly database" (possibly after the host's own words) for storage failures.
    pub fn from_message(message: String) -> DbError {
        let code = if message.starts_with("UNIQUE constraint failed") {
            codes::CONSTRAINT_UNIQUE
        } else if message.starts_with("FOREIGN KEY constraint failed") {
            codes::CONSTRAINT_FOREIGNKEY
        } else if message.contains("constraint failed") {
            codes::CONSTRAINT
        } else if message.contains("database or disk is full") {
            codes::FULL
        } else if message.contains("disk I/O error") {
            codes::IOERR
        } else if message.contains("attempt to write a readonly database") {
            codes::READONLY
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

/// Runs `work` inside `BEGIN IMMEDIATE … COMMIT`, rolling back when it fails. Called inside another
/// transaction (a service composed of services that each keep their writes together), it runs as a
/// savepoint of that transaction instead: its writes commit or roll back with the outer one, and its own
/// failure undoes only its own writes.
pub fn transaction<T, E: From<DbError>>(db: &dyn Db, work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let (commit, rollback): (&str, &[&str]) = match db.execute("BEGIN IMMEDIATE", &[]) {
        Ok(_) => ("COMMIT", &["ROLLBACK"]),
        // SQLite's fixed message; SQLite keeps the outer transaction open.
        Err(DbError::Other(message)) if message.contains("cannot start a transaction within a transaction") => {
            db.execute("SAVEPOINT nested", &[])?;
            ("RELEASE nested", &["ROLLBACK TO nested", "RELEASE nested"])
        }
        Err(error) => return Err(error.into()),
    };
    let undo = || {
        for statement in rollback {
            let _ = db.execute(statement, &[]);
        }
    };
    match work() {
        Ok(value) => {
            if let Err(error) = db.execute(commit, &[]) {
                undo();
                return Err(error.into());
            }
            Ok(value)
        }
        Err(error) => {
            undo();
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_inside_a_transaction_is_a_savepoint_of_it() {
        let db = crate::connection::NativeDb::memory().unwrap();
        db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
        let count = || db.execute("SELECT COUNT(*) AS n FROM t", &[]).unwrap().map_first(|r| r.int("n")).unwrap();
        let insert = |x: i64| db.execute("INSERT INTO t VALUES (?)", &[x.into()]).map(|_| ());
        let outer: Result<(), DbError> = transaction(&db, || {
            insert(1)?;
            let failed: Result<(), DbError> = transaction(&db, || {
                insert(2)?;
                Err(DbError::Other("inner fails".into()))
            });
            assert!(failed.is_err());
            transaction(&db, || insert(3))?;
            Ok(())
        });
        outer.unwrap();
        assert_eq!(count(), Some(2), "the failed inner one undid only its own write");
        let rolled_back: Result<(), DbError> = transaction(&db, || {
            transaction(&db, || insert(4))?;
            Err(DbError::Other("outer fails".into()))
        });
        assert!(rolled_back.is_err());
        assert_eq!(count(), Some(2), "an inner one that succeeded goes with the outer rollback");
    }

    #[test]
    fn a_full_disk_or_an_io_error_is_a_503_that_names_no_sql() {
        let cases = [
            (DbError::from_code(13, "database or disk is full".into()), true),
            (DbError::from_code(778, "disk I/O error".into()), false),
            (DbError::from_code(8, "attempt to write a readonly database".into()), false),
            (DbError::from_message("cannot commit: database or disk is full".into()), true),
            (
                DbError::from_message(
                    "the write was rolled back with the writes committed alongside it: disk I/O error".into(),
                ),
                false,
            ),
            (DbError::from_message("attempt to write a readonly database".into()), false),
        ];
        for (error, full) in cases {
            assert!(matches!(&error, DbError::Storage { full: f, .. } if *f == full), "{error:?}");
            let api = ApiError::from(error);
            assert_eq!((api.status(), api.code()), (503, "unavailable"));
            let detail = api.body().detail;
            assert!(detail.contains(if full { "disk is full" } else { "cannot read or write" }), "{detail}");
            assert!(!detail.contains("I/O") && !detail.contains("commit"), "no cause in the answer: {detail}");
        }
        assert!(matches!(DbError::from_message("no such table: x".into()), DbError::Other(_)));
    }

    #[test]
    fn row_access_fails_loudly_on_a_missing_column_or_another_type() {
        let rows = Rows {
            columns: vec!["n".into(), "s".into(), "nothing".into(), "r".into()],
            rows: vec![vec![Value::Integer(7), Value::Text("x".into()), Value::Null, Value::Real(1.5)]],
        };
        let row = rows.first().unwrap();
        assert_eq!((row.int("n").unwrap(), row.text("s").unwrap()), (7, "x".to_string()));
        assert_eq!((row.opt_int("nothing").unwrap(), row.opt_text("nothing").unwrap()), (None, None));
        assert_eq!((row.real("r").unwrap(), row.real("n").unwrap()), (1.5, 7.0));
        let failures = [
            row.int("missing").unwrap_err(),
            row.int("s").unwrap_err(),
            row.int("nothing").unwrap_err(),
            row.int("r").unwrap_err(),
            row.text("n").unwrap_err(),
            row.text("nothing").unwrap_err(),
            row.opt_text("n").unwrap_err(),
            row.blob("s").unwrap_err(),
        ];
        for failure in failures {
            assert!(matches!(&failure, DbError::Other(m) if m.contains("column")), "{failure:?}");
        }
        assert_eq!(rows.map_all(|row| row.int("n")).unwrap(), [7]);
        assert!(rows.map_first(|row| row.text("n")).is_err());
    }
}
