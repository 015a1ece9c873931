//! The `fermyon:spin/sqlite` glue: a component may open only the databases spin.toml grants it
//! (`access-denied` otherwise, as in Spin); everything else is the backend's.

use super::{Error, QueryResult, SqliteConnection, Value};
use crate::bindings::sqlite;
use crate::state::State;
use wasmtime::component::Resource;

/// An open guest connection.
pub struct Connection(Box<dyn SqliteConnection>);

impl sqlite::Host for State {}

impl sqlite::HostConnection for State {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if !self.component.sqlite_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(backend) = self.services.databases.get(&database) else {
            return Ok(Err(Error::NoSuchDatabase));
        };
        match backend.connect_until(Some(self.deadline)) {
            Ok(connection) => Ok(Ok(self.table.push(Connection(connection))?)),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn execute(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        Ok(self.table.get_mut(&handle)?.0.execute(statement, parameters).await)
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
