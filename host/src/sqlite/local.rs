//! Today's SQLite backend: a database is a file (or an in-memory database) served by a [`SqlitePool`]
//! in this process.

use super::{Error, QueryResult, RowResult, SqliteBackend, SqliteConnection, Value};
use crate::BoxFuture;
use crate::pool::{Kind, SqlitePool, Stopped, Transaction, as_guest};
use rusqlite::types::ValueRef;
use std::sync::Arc;
use std::time::Instant;

/// A database served by a pool of this process.
pub struct LocalDatabase(pub Arc<SqlitePool>);

impl SqliteBackend for LocalDatabase {
    fn connect_until(&self, deadline: Option<Instant>) -> Result<Box<dyn SqliteConnection>, Error> {
        Ok(Box::new(LocalConnection { pool: self.0.clone(), transaction: None, deadline }))
    }
}

/// A guest connection. It holds no pooled connection between statements (a guest sleeping with its
/// connection open costs none): each read takes a reader from the pool for its own run; each write
/// outside a transaction goes to the pool's writer and is committed before `execute` returns; a statement
/// that opens a transaction (as SQLite classifies it, see [`Kind`]) gets the writer to itself, and every
/// statement runs there until the transaction ends, as on Spin's one connection. Every statement runs under
/// the guest policy and is interrupted at the request's deadline (see `pool::guest`).
struct LocalConnection {
    pool: Arc<SqlitePool>,
    transaction: Option<Transaction>,
    deadline: Option<Instant>,
}

impl SqliteConnection for LocalConnection {
    fn execute(&mut self, statement: String, parameters: Vec<Value>) -> BoxFuture<'_, Result<QueryResult, Error>> {
        Box::pin(async move {
            if self.transaction.is_some() {
                return self.in_transaction(statement, parameters).await;
            }
            let deadline = self.deadline;
            let reader = self.pool.acquire().map_err(io_error)?;
            let kind = guest(deadline, || self.pool.kind(&reader, &statement));
            if let Ok(Kind::Read) = kind {
                let read = guest(deadline, || run(&reader, &statement, parameters));
                self.pool.release(reader);
                return read.map_err(io_error);
            }
            self.pool.release(reader);
            match kind.map_err(io_error)? {
                Kind::Write => {
                    let write =
                        move |writer: &rusqlite::Connection| guest(deadline, || run(writer, &statement, parameters));
                    self.pool.write(write).await.map_err(io_error)
                }
                // (A read ran above.)
                Kind::Begin | Kind::Read => {
                    self.transaction = Some(self.pool.transaction().map_err(io_error)?);
                    self.in_transaction(statement, parameters).await
                }
            }
        })
    }
}

impl LocalConnection {
    /// Runs a statement in the guest's transaction (opening it, if this statement is what opens it).
    async fn in_transaction(&mut self, statement: String, parameters: Vec<Value>) -> Result<QueryResult, Error> {
        let Some(mut transaction) = self.transaction.take() else {
            return Err(Error::InvalidConnection);
        };
        let deadline = self.deadline;
        let (result, still_open) = transaction
            .run(move |writer| guest(deadline, || run(writer, &statement, parameters)))
            .await
            .map_err(io_error)?;
        if still_open {
            self.transaction = Some(transaction);
        }
        result.map_err(io_error)
    }
}

/// Runs `work` as a guest statement (see [`as_guest`]); a failure the host caused says why.
fn guest<T>(deadline: Option<Instant>, work: impl FnOnce() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let (result, stopped) = as_guest(deadline, work);
    result.map_err(|error| {
        let (code, reason) = match stopped {
            Some(Stopped::Refused(reason)) => (rusqlite::ffi::SQLITE_AUTH, reason),
            Some(Stopped::Deadline) => {
                (rusqlite::ffi::SQLITE_INTERRUPT, "the statement was interrupted at the request's deadline".into())
            }
            None => return error,
        };
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(reason))
    })
}

fn io_error(error: impl std::fmt::Display) -> Error {
    Error::Io(error.to_string())
}

fn run(connection: &rusqlite::Connection, sql: &str, parameters: Vec<Value>) -> rusqlite::Result<QueryResult> {
    let mut statement = connection.prepare_cached(sql)?;
    let columns: Vec<String> = statement.column_names().into_iter().map(String::from).collect();
    let mut cursor = statement.query(rusqlite::params_from_iter(parameters.into_iter().map(to_sql)))?;
    let mut rows = Vec::new();
    while let Some(row) = cursor.next()? {
        let values = (0..columns.len()).map(|i| row.get_ref(i).map(from_sql)).collect::<rusqlite::Result<_>>()?;
        rows.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows })
}

fn to_sql(value: Value) -> rusqlite::types::Value {
    match value {
        Value::Integer(v) => rusqlite::types::Value::Integer(v),
        Value::Real(v) => rusqlite::types::Value::Real(v),
        Value::Text(v) => rusqlite::types::Value::Text(v),
        Value::Blob(v) => rusqlite::types::Value::Blob(v),
        Value::Null => rusqlite::types::Value::Null,
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Integer(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => Value::Blob(v.to_vec()),
    }
}
