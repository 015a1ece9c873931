//! What a guest's statement may do to a pooled connection, and for how long it may run.
//!
//! Every connection of a pool carries an authorizer and a progress handler ([`install`]) that act only
//! while a guest's statement runs on the current thread ([`as_guest`]); the host's own statements are
//! unaffected. Pooled connections outlive the guest that used them, so a guest may not change them:
//! `ATTACH`/`DETACH`, `TEMP` objects and `PRAGMA`s that set connection state are refused, except the
//! settings every pooled connection already has (a Spin app commonly sets them) and database-wide values
//! stored in the file itself (`user_version`, `application_id`). Queries of pragmas are allowed. A guest's
//! statement still running at its request's deadline is interrupted.
//!
//! The same authorizer tells which statements open a transaction, as SQLite classifies them at prepare
//! time (`BEGIN` in any form, a `SAVEPOINT` outside a transaction), whatever their text looks like.

use rusqlite::hooks::{AuthAction, AuthContext, Authorization, TransactionOperation};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

/// Statement texts whose [`Kind`] is remembered, per pool (guests choose the texts: the memory is bounded).
const KINDS_KEPT: usize = 4096;

/// Virtual machine steps between two looks at the deadline.
const PROGRESS_STEPS: i32 = 1000;

/// Pragmas that take a name or a number to look at, not a setting.
const QUERY_PRAGMAS: [&str; 10] = [
    "table_info",
    "table_xinfo",
    "table_list",
    "index_info",
    "index_xinfo",
    "index_list",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
];

/// Database-wide values kept in the file itself, which any connection sees alike.
const DATABASE_PRAGMAS: [&str; 2] = ["user_version", "application_id"];

/// Settings a guest may restate: each pooled connection has exactly these (see `connect`).
const HOUSE_SETTINGS: [(&str, &[&str]); 4] = [
    ("foreign_keys", &["on", "1", "true", "yes"]),
    ("synchronous", &["normal", "1"]),
    ("busy_timeout", &["5000"]),
    ("journal_mode", &["wal"]),
];

/// The guest statement running on this thread, if any.
struct Scope {
    deadline: Option<Instant>,
    /// Why the authorizer refused something, for the guest's error.
    refused: Option<String>,
    /// Whether a statement prepared meanwhile opens a transaction.
    begins: bool,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Why a guest's statement failed, when the host stopped it.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The authorizer refused part of it (the reason says which part).
    Refused(String),
    /// It ran past its deadline.
    Deadline,
}

/// Runs `work` as a guest's statement on this thread: under the guest policy, interrupted at `deadline`.
/// Answers why the host stopped it, if it did.
pub fn as_guest<T>(deadline: Option<Instant>, work: impl FnOnce() -> T) -> (T, Option<Stopped>) {
    /// Ends the scope even if `work` panics (the writer thread goes on after a panicking job).
    struct Ends;
    impl Drop for Ends {
        fn drop(&mut self) {
            SCOPE.with(|scope| scope.borrow_mut().take());
        }
    }
    SCOPE.with(|scope| *scope.borrow_mut() = Some(Scope { deadline, refused: None, begins: false }));
    let ends = Ends;
    let result = work();
    let scope = SCOPE.with(|scope| scope.borrow_mut().take());
    drop(ends);
    let stopped = scope.and_then(|scope| match scope.refused {
        Some(reason) => Some(Stopped::Refused(reason)),
        None => scope.deadline.filter(|deadline| Instant::now() >= *deadline).map(|_| Stopped::Deadline),
    });
    (result, stopped)
}

/// Installs the guest policy's hooks on a pool's connection.
pub(super) fn install(connection: &rusqlite::Connection) {
    connection.authorizer(Some(authorize));
    connection.progress_handler(PROGRESS_STEPS, Some(past_deadline));
}

fn past_deadline() -> bool {
    SCOPE.with(|scope| {
        scope.borrow().as_ref().and_then(|scope| scope.deadline).is_some_and(|deadline| Instant::now() >= deadline)
    })
}

fn authorize(context: AuthContext<'_>) -> Authorization {
    SCOPE.with(|scope| {
        let mut scope = scope.borrow_mut();
        let Some(scope) = scope.as_mut() else { return Authorization::Allow };
        if let AuthAction::Transaction { operation: TransactionOperation::Begin }
        | AuthAction::Savepoint { operation: TransactionOperation::Begin, .. } = context.action
        {
            scope.begins = true;
        }
        match refusal(&context) {
            Some(reason) => {
                scope.refused.get_or_insert(reason);
                Authorization::Deny
            }
            None => Authorization::Allow,
        }
    })
}

/// Why a guest may not do what `context` describes, if it may not.
fn refusal(context: &AuthContext<'_>) -> Option<String> {
    let state = "guests may not change the host's shared connections (see docs/host-isolation.md)";
    let temporary = || format!("TEMP tables, indexes, triggers and views are refused: {state}");
    match &context.action {
        // Anything but reading in the connection's own `temp` schema (`CREATE TABLE temp.t …`) creates in it.
        AuthAction::Read { .. } => None,
        _ if context.database_name.is_some_and(|name| name.eq_ignore_ascii_case("temp")) => Some(temporary()),
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            Some(format!("ATTACH and DETACH are refused: {state}"))
        }
        AuthAction::CreateTempTable { .. }
        | AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateTempView { .. } => Some(temporary()),
        AuthAction::Pragma { pragma_name, pragma_value: Some(value) } if !pragma_allowed(pragma_name, value) => {
            Some(format!("PRAGMA {pragma_name} = {value} is refused: {state}"))
        }
        _ => None,
    }
}

/// Whether a guest may run `PRAGMA name = value` (or `PRAGMA name(value)`).
fn pragma_allowed(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let value = value.trim_matches(|c| c == '\'' || c == '"').to_ascii_lowercase();
    QUERY_PRAGMAS.contains(&name.as_str())
        || DATABASE_PRAGMAS.contains(&name.as_str())
        || HOUSE_SETTINGS.iter().any(|(setting, values)| *setting == name && values.contains(&value.as_str()))
}

/// What a statement does, as far as where it must run is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads only: runs on any reader.
    Read,
    /// May write: runs on the writer.
    Write,
    /// Opens a transaction (outside one): the writer, for the guest alone, until it ends.
    Begin,
}

/// The [`Kind`]s of the statement texts guests ran, so that only a text's first run costs a prepare of
/// its own (a cached statement does not call the authorizer again).
#[derive(Default)]
pub(super) struct Kinds(RwLock<HashMap<String, Kind>>);

impl Kinds {
    /// The kind of `sql`, prepared (uncached, under the guest policy) on `connection` if not known yet.
    pub(super) fn of(&self, connection: &rusqlite::Connection, sql: &str) -> rusqlite::Result<Kind> {
        if let Some(kind) = self.0.read().ok().and_then(|kinds| kinds.get(sql).copied()) {
            return Ok(kind);
        }
        let prepared = connection.prepare(sql).map(|statement| statement.readonly());
        let begins =
            SCOPE.with(|scope| scope.borrow_mut().as_mut().is_some_and(|scope| std::mem::take(&mut scope.begins)));
        let kind = match prepared? {
            _ if begins => Kind::Begin,
            true => Kind::Read,
            false => Kind::Write,
        };
        if let Ok(mut kinds) = self.0.write()
            && kinds.len() < KINDS_KEPT
        {
            kinds.insert(sql.to_string(), kind);
        }
        Ok(kind)
    }
}
