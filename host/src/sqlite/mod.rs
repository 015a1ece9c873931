//! `fermyon:spin/sqlite@2.0.0`: the WIT glue (`host`) delegates to a [`SqliteBackend`] per database
//! label; today's backend is `local`, SQLite files served by this process.

mod host;
pub mod local;

pub use crate::bindings::sqlite::{Error, QueryResult, RowResult, Value};
pub use host::Connection;

use crate::BoxFuture;
use std::time::Instant;

/// The database one label names.
pub trait SqliteBackend: Send + Sync {
    /// A connection whose statements are interrupted at `deadline` (a guest's request's), if given.
    fn connect_until(&self, deadline: Option<Instant>) -> Result<Box<dyn SqliteConnection>, Error>;

    /// A connection without a deadline (the host's own).
    fn connect(&self) -> Result<Box<dyn SqliteConnection>, Error> {
        self.connect_until(None)
    }
}

/// One guest's connection.
pub trait SqliteConnection: Send {
    /// Runs one statement with its parameters.
    fn execute(&mut self, statement: String, parameters: Vec<Value>) -> BoxFuture<'_, Result<QueryResult, Error>>;
}
