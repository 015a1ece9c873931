//! The host side of `fermyon:spin/sqlite@2.0.0`: database `default` is `<data-dir>/sqlite_db.db`.
//! A component may open only the databases spin.toml grants it (`access-denied` otherwise, as in Spin).

use crate::bindings::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::pool::{SqlitePool, WriterTurn};
use crate::state::State;
use rusqlite::types::ValueRef;
use std::sync::Arc;
use wasmtime::component::Resource;

/// An open guest connection: holds a pooled connection for its whole life, so a guest's
/// `BEGIN … COMMIT` spans its `execute` calls as on Spin. While it writes it holds the pool's writer
/// turn, from its first writing statement until it is back in autocommit.
pub struct Connection {
    pool: Arc<SqlitePool>,
    connection: Option<rusqlite::Connection>,
    turn: Option<WriterTurn>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Rolls back what the guest left open before the turn (a field, dropped after this) passes on.
        if let Some(connection) = self.connection.take() {
            self.pool.release(connection);
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
            Ok(connection) => Ok(Ok(self.table.push(Connection { pool, connection: Some(connection), turn: None })?)),
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
        let Some(connection) = &guest.connection else {
            return Ok(Err(Error::InvalidConnection));
        };
        if guest.turn.is_none() && crate::pool::may_write(connection, &statement) {
            let pool = guest.pool.clone();
            let Some(turn) = pool.writer_turn().await else {
                return Ok(Err(Error::Io("database is locked".into())));
            };
            self.table.get_mut(&handle)?.turn = Some(turn);
        }
        let guest = self.table.get_mut(&handle)?;
        let Some(connection) = &guest.connection else {
            return Ok(Err(Error::InvalidConnection));
        };
        let result = run(connection, &statement, parameters);
        if connection.is_autocommit() && guest.turn.take().is_some() {
            crate::pool::after_turn().await;
        }
        Ok(result.map_err(|e| Error::Io(e.to_string())))
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
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
