//! The host side of `fermyon:spin/sqlite@2.0.0`: database `default` is `<data-dir>/sqlite_db.db`.
//! A component may open only the databases spin.toml grants it (`access-denied` otherwise, as in Spin).

use crate::bindings::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::pool::{SqlitePool, Transaction};
use crate::state::State;
use rusqlite::types::ValueRef;
use std::sync::Arc;
use wasmtime::component::Resource;

/// An open guest connection. Its reads run on a pooled connection it holds for its whole life; each
/// write outside a transaction goes to the pool's writer and is committed before `execute` returns; a
/// transaction (`BEGIN` … `COMMIT`) has the writer to itself and runs every statement there, as Spin's
/// one connection would.
pub struct Connection {
    pool: Arc<SqlitePool>,
    reader: Option<rusqlite::Connection>,
    transaction: Option<Transaction>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            self.pool.release(reader);
        }
    }
}

impl sqlite::Host for State {}

impl sqlite::HostConnection for State {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if !self.component.sqlite_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(pool) = self.services.databases.get(&database).cloned() else {
            return Ok(Err(Error::NoSuchDatabase));
        };
        match pool.acquire() {
            Ok(reader) => Ok(Ok(self.table.push(Connection { pool, reader: Some(reader), transaction: None })?)),
            Err(error) => Ok(Err(Error::Io(error.to_string()))),
        }
    }

    async fn execute(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let guest = self.table.get_mut(&handle)?;
        let Some(reader) = &guest.reader else {
            return Ok(Err(Error::InvalidConnection));
        };
        if guest.transaction.is_none() && !crate::pool::opens_transaction(&statement) {
            if !crate::pool::may_write(reader, &statement) {
                return Ok(run(reader, &statement, parameters).map_err(io_error));
            }
            let pool = guest.pool.clone();
            let written = pool.write(move |writer| run(writer, &statement, parameters)).await;
            return Ok(written.map_err(io_error));
        }
        let transaction = match guest.transaction.take() {
            Some(transaction) => transaction,
            None => match guest.pool.transaction() {
                Ok(transaction) => transaction,
                Err(error) => return Ok(Err(io_error(error))),
            },
        };
        match transaction.run(move |writer| run(writer, &statement, parameters)).await {
            Ok((result, still_open)) => {
                if still_open {
                    self.table.get_mut(&handle)?.transaction = Some(transaction);
                }
                Ok(result.map_err(io_error))
            }
            Err(error) => Ok(Err(io_error(error))),
        }
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
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
