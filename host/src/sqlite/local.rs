//! Today's SQLite backend: a database is a file (or an in-memory database) served by a [`SqlitePool`]
//! in this process.

use super::{Error, QueryResult, RowResult, SqliteBackend, SqliteConnection, Value};
use crate::BoxFuture;
use crate::pool::{SqlitePool, Transaction, may_write, opens_transaction};
use rusqlite::types::ValueRef;
use std::sync::Arc;

/// A database served by a pool of this process.
pub struct LocalDatabase(pub Arc<SqlitePool>);

impl SqliteBackend for LocalDatabase {
    fn connect(&self) -> Result<Box<dyn SqliteConnection>, Error> {
        let reader = self.0.acquire().map_err(io_error)?;
        Ok(Box::new(LocalConnection { pool: self.0.clone(), reader: Some(reader), transaction: None }))
    }
}

/// A guest connection. Its reads run on a pooled connection it holds for its whole life; each write
/// outside a transaction goes to the pool's writer and is committed before `execute` returns; a
/// transaction (`BEGIN` … `COMMIT`) has the writer to itself and runs every statement there, as Spin's
/// one connection would.
struct LocalConnection {
    pool: Arc<SqlitePool>,
    reader: Option<rusqlite::Connection>,
    transaction: Option<Transaction>,
}

impl Drop for LocalConnection {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            self.pool.release(reader);
        }
    }
}

impl SqliteConnection for LocalConnection {
    fn execute(&mut self, statement: String, parameters: Vec<Value>) -> BoxFuture<'_, Result<QueryResult, Error>> {
        Box::pin(async move {
            let Some(reader) = &self.reader else {
                return Err(Error::InvalidConnection);
            };
            if self.transaction.is_none() && !opens_transaction(&statement) {
                if !may_write(reader, &statement) {
                    return run(reader, &statement, parameters).map_err(io_error);
                }
                let written = self.pool.write(move |writer| run(writer, &statement, parameters)).await;
                return written.map_err(io_error);
            }
            let mut transaction = match self.transaction.take() {
                Some(transaction) => transaction,
                None => self.pool.transaction().map_err(io_error)?,
            };
            let (result, still_open) =
                transaction.run(move |writer| run(writer, &statement, parameters)).await.map_err(io_error)?;
            if still_open {
                self.transaction = Some(transaction);
            }
            result.map_err(io_error)
        })
    }
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
