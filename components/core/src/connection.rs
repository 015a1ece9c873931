//! Opening a connection to the shared database: Spin's sqlite in wasm, rusqlite natively (tests, benches).
//! Every open sets the per-connection PRAGMAs and applies pending migrations ([`prepare`]).

use crate::db::{Db, DbError};
use std::cell::RefCell;

/// A setting every connection needs: Spin opens a fresh connection with SQLite's defaults for each request.
struct Setting {
    /// The PRAGMA's name, as [`CONNECTION_STATE`] reads it.
    name: &'static str,
    wanted: i64,
    statement: &'static str,
    /// Whether only a write depends on it, so it can wait for the connection's first write ([`Deferred`]).
    writes_only: bool,
}

const CONNECTION_SETTINGS: [Setting; 3] = [
    Setting { name: "busy_timeout", wanted: 5000, statement: "PRAGMA busy_timeout = 5000", writes_only: false },
    Setting { name: "synchronous", wanted: 1, statement: "PRAGMA synchronous = NORMAL", writes_only: true },
    Setting { name: "foreign_keys", wanted: 1, statement: "PRAGMA foreign_keys = ON", writes_only: true },
];

/// Reads the settings of [`CONNECTION_SETTINGS`], the file's journal mode and the schema version in one
/// statement.
const CONNECTION_STATE: &str = "SELECT (SELECT timeout FROM pragma_busy_timeout) AS busy_timeout, \
     (SELECT synchronous FROM pragma_synchronous) AS synchronous, \
     (SELECT foreign_keys FROM pragma_foreign_keys) AS foreign_keys, \
     (SELECT journal_mode FROM pragma_journal_mode) AS journal_mode, \
     (SELECT user_version FROM pragma_user_version) AS version";

/// Puts the file in WAL mode (kept in the file): readers never wait for the writer, and a commit appends
/// to the log instead of rewriting pages. Spin creates the file in rollback-journal mode.
const WAL: &str = "PRAGMA journal_mode = WAL";

/// Brings a connection to what the app needs with the fewest statements: one read, then only the settings
/// that differ, the switch to WAL while the file is not in it (the first request on a new file, before its
/// first migration), and pending migrations. A setting only writes depend on is left to [`Deferred`], so a
/// read-only request on a fresh Spin connection (which already waits 5 s for locks and enforces foreign keys,
/// but syncs `FULL`) runs this one statement. A host that pools prepared connections pays the read alone.
pub fn prepare(db: &dyn Db) -> Result<Deferred, DbError> {
    let state = db.execute(CONNECTION_STATE, &[])?;
    let row = state.first().ok_or_else(|| DbError::Other("the connection state read returned no row".into()))?;
    let mut deferred = Vec::new();
    for setting in &CONNECTION_SETTINGS {
        if row.int(setting.name)? == setting.wanted {
            continue;
        }
        match setting.writes_only {
            true => deferred.push(setting.statement),
            false => drop(db.execute(setting.statement, &[])?),
        }
    }
    let deferred = Deferred(RefCell::new(deferred));
    if row.text("journal_mode")?.eq_ignore_ascii_case("delete") {
        switch_to_wal(db)?;
    }
    if row.int("version")? < crate::migrate::latest_version() {
        deferred.apply(db)?;
        crate::migrate::migrate(db)?;
    }
    Ok(deferred)
}

/// The settings [`prepare`] found missing that only writes depend on, run just before the connection's
/// first statement that may write.
pub struct Deferred(RefCell<Vec<&'static str>>);

impl Deferred {
    /// Runs what is still pending on `db` when `sql` may write; a read leaves it pending. With nothing
    /// pending (our host's connections, and a Spin connection after its first write) `sql` is not looked at.
    pub fn before(&self, db: &dyn Db, sql: &str) -> Result<(), DbError> {
        match self.0.borrow().is_empty() || only_reads(sql) {
            true => Ok(()),
            false => self.apply(db),
        }
    }

    /// Runs what is still pending on `db`, once.
    pub fn apply(&self, db: &dyn Db) -> Result<(), DbError> {
        self.0.take().into_iter().try_for_each(|statement| db.execute(statement, &[]).map(drop))
    }
}

/// Whether a statement can only read: its first word, after blanks and `--` comments, is `SELECT`.
/// Anything else (`BEGIN`, `WITH`, a PRAGMA, a write) counts as a possible write.
fn only_reads(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    while let Some(comment) = rest.strip_prefix("--") {
        rest = comment.split_once('\n').map_or("", |(_, after)| after).trim_start();
    }
    let word = rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap_or("");
    word.eq_ignore_ascii_case("select")
}

/// Switches a rollback-journal file to WAL. The switch needs the file to itself and SQLite does not wait
/// for that: when another connection is reading, it is left to a later open (the mode only changes speed).
fn switch_to_wal(db: &dyn Db) -> Result<(), DbError> {
    match db.execute(WAL, &[]) {
        Err(DbError::Other(message)) if message.contains("database is locked") => Ok(()),
        outcome => outcome.map(drop),
    }
}

#[cfg(target_arch = "wasm32")]
pub use spin_db::SpinDb;

#[cfg(target_arch = "wasm32")]
mod spin_db {
    use super::Deferred;
    use crate::db::{Db, DbError, Rows, Value};
    use spin_sdk::sqlite;

    /// The Spin `fermyon:spin/sqlite@2.0.0` connection to the `default` database, prepared.
    pub struct SpinDb {
        connection: Connection,
        deferred: Deferred,
    }

    /// The connection as Spin gives it.
    struct Connection(sqlite::Connection);

    impl SpinDb {
        /// Opens the `default` database, sets PRAGMAs and migrates.
        pub fn open() -> Result<Self, DbError> {
            let connection = sqlite::Connection::open_default().map_err(|e| match e {
                sqlite::Error::AccessDenied | sqlite::Error::NoSuchDatabase => DbError::Unavailable(e.to_string()),
                other => DbError::Other(other.to_string()),
            })?;
            let connection = Connection(connection);
            let deferred = super::prepare(&connection)?;
            Ok(SpinDb { connection, deferred })
        }
    }

    impl Db for SpinDb {
        fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
            self.deferred.before(&self.connection, sql)?;
            self.connection.execute(sql, params)
        }
    }

    impl Db for Connection {
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
            super::prepare(&db)?.apply(&db)?;
            Ok(db)
        }

        /// A private in-memory database, migrated.
        pub fn memory() -> Result<Self, DbError> {
            let db = NativeDb(rusqlite::Connection::open_in_memory().map_err(|e| DbError::Other(e.to_string()))?);
            super::prepare(&db)?.apply(&db)?;
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
    use crate::db::Value;
    use crate::testing::Recording;

    #[test]
    fn a_prepared_connection_costs_one_statement_and_a_fresh_one_only_what_it_lacks() {
        let platform = crate::testing::TestPlatform::new("prepare");
        let path = &platform.path;
        drop(NativeDb::open(path).unwrap());

        // A fresh connection to a migrated file, as Spin opens one for each request: rusqlite's 5 s busy
        // timeout and this build's foreign keys, SQLite's default `synchronous`.
        let raw = NativeDb(rusqlite::Connection::open(path).unwrap());
        let fresh = Recording::new(&raw);
        let deferred = prepare(&fresh).unwrap();
        assert_eq!(*fresh.1.borrow(), [CONNECTION_STATE], "a read-only request runs one statement");
        deferred.before(&fresh, "SELECT id FROM tasks").unwrap();
        assert_eq!(fresh.1.borrow().len(), 1, "a read does not need `synchronous`");
        deferred.before(&fresh, "UPDATE tasks SET priority = 1").unwrap();
        deferred.before(&fresh, "BEGIN IMMEDIATE").unwrap();
        assert_eq!(*fresh.1.borrow(), [CONNECTION_STATE, "PRAGMA synchronous = NORMAL"], "set once, before a write");
        for (pragma, value) in [("busy_timeout", 5000), ("synchronous", 1), ("foreign_keys", 1)] {
            let rows = raw.execute(&format!("PRAGMA {pragma}"), &[]).unwrap();
            assert_eq!(rows.rows, vec![vec![Value::Integer(value)]], "{pragma}");
        }

        let again = Recording::new(&raw);
        prepare(&again).unwrap().apply(&again).unwrap();
        assert_eq!(*again.1.borrow(), [CONNECTION_STATE], "a prepared connection is only read");
    }

    #[test]
    fn only_a_statement_that_starts_with_select_counts_as_a_read() {
        for read in ["SELECT 1", "  select id FROM tasks", "-- why\n  -- and how\nSELECT 1", "SELECT(1)"] {
            assert!(only_reads(read), "{read:?}");
        }
        for write in [
            "UPDATE tasks SET priority = 1",
            "BEGIN IMMEDIATE",
            "WITH t AS (SELECT 1) DELETE FROM tasks",
            "PRAGMA user_version = 3",
            "-- SELECT\nINSERT INTO tasks DEFAULT VALUES",
            "SELECTED",
            "-- only a comment",
            "",
        ] {
            assert!(!only_reads(write), "{write:?}");
        }
    }

    #[test]
    fn a_new_file_is_switched_to_wal_before_its_first_migration() {
        let platform = crate::testing::TestPlatform::new("prepare-wal");
        // What Spin creates: a new file in rollback-journal mode.
        let raw = NativeDb(rusqlite::Connection::open(&platform.path).unwrap());
        let first = Recording::new(&raw);
        prepare(&first).unwrap();
        let statements = first.1.borrow().clone();
        let wal = statements.iter().position(|s| s == WAL).expect("switched to WAL");
        let migration = statements.iter().position(|s| s.contains("CREATE TABLE")).expect("migrated");
        assert!(wal < migration, "{statements:?}");
        let mode = raw.execute("PRAGMA journal_mode", &[]).unwrap();
        assert_eq!(mode.rows, vec![vec![Value::Text("wal".into())]]);

        // The mode is the file's: the next connection finds it.
        let next = NativeDb(rusqlite::Connection::open(&platform.path).unwrap());
        let counting = Recording::new(&next);
        prepare(&counting).unwrap();
        assert!(!counting.1.borrow().iter().any(|s| s == WAL));
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
    fn a_connection_that_lost_a_setting_gets_that_one_back() {
        for (setting, lost) in CONNECTION_SETTINGS.iter().zip([
            "PRAGMA busy_timeout = 0",
            "PRAGMA synchronous = FULL",
            "PRAGMA foreign_keys = OFF",
        ]) {
            let db = NativeDb::memory().unwrap();
            db.execute(lost, &[]).unwrap();
            let counting = Recording::new(&db);
            let deferred = prepare(&counting).unwrap();
            let at_once = if setting.writes_only { 1 } else { 2 };
            assert_eq!(counting.1.borrow().len(), at_once, "after {lost}: {:?}", counting.1.borrow());
            deferred.before(&counting, "INSERT INTO projects DEFAULT VALUES").unwrap();
            assert_eq!(*counting.1.borrow(), [CONNECTION_STATE, setting.statement], "after {lost}");
        }
    }

    #[test]
    fn a_write_only_setting_waits_for_the_first_write_and_a_migration_is_one() {
        let db = NativeDb(rusqlite::Connection::open_in_memory().unwrap());
        db.execute("PRAGMA foreign_keys = OFF", &[]).unwrap();
        let counting = Recording::new(&db);
        let deferred = prepare(&counting).unwrap();
        let statements = counting.1.borrow().clone();
        let setting = statements.iter().position(|s| s == "PRAGMA foreign_keys = ON").expect("set");
        let migration = statements.iter().position(|s| s.contains("CREATE TABLE")).expect("migrated");
        assert!(setting < migration, "{statements:?}");
        deferred.before(&counting, "DELETE FROM tasks").unwrap();
        assert_eq!(counting.1.borrow().len(), statements.len(), "nothing left for the first write");
    }
}

#[cfg(test)]
mod measure {
    use super::*;
    use std::time::{Duration, Instant};

    /// The median of `runs` timings of `work`.
    fn median(runs: usize, mut work: impl FnMut() -> Duration) -> Duration {
        let mut times: Vec<Duration> = (0..runs).map(|_| work()).collect();
        times.sort();
        times[runs / 2]
    }

    fn timed<T>(work: impl FnOnce() -> T) -> (T, Duration) {
        let began = Instant::now();
        let value = work();
        (value, began.elapsed())
    }

    /// What each step of Spin's connection model costs on a migrated file: a connection opened for each
    /// request, then `prepare`'s statements, then a first query (docs/spin.md).
    #[test]
    #[ignore = "a measurement: cargo test --release -p conveyor-core --lib measure -- --ignored --nocapture"]
    fn measure_what_a_fresh_connection_costs() {
        let platform = crate::testing::TestPlatform::new("measure-open");
        drop(NativeDb::open(&platform.path).unwrap());
        let runs = 2000;
        let open = || NativeDb(rusqlite::Connection::open(&platform.path).unwrap());
        let report = |step: &str, time: Duration| eprintln!("{step:<58} {:>8.1} µs", time.as_secs_f64() * 1e6);
        report("open a connection", median(runs, || timed(open).1));
        report(
            "the state read on a fresh connection (parses the schema)",
            median(runs, || {
                let db = open();
                timed(|| db.execute(CONNECTION_STATE, &[]).unwrap()).1
            }),
        );
        let prepared = open();
        prepare(&prepared).unwrap().apply(&prepared).unwrap();
        report(
            "the state read on a prepared connection",
            median(runs, || timed(|| prepared.execute(CONNECTION_STATE, &[]).unwrap()).1),
        );
        for Setting { statement, .. } in CONNECTION_SETTINGS {
            report(
                statement,
                median(runs, || {
                    let db = open();
                    db.execute(CONNECTION_STATE, &[]).unwrap();
                    timed(|| db.execute(statement, &[]).unwrap()).1
                }),
            );
        }
        report(
            "prepare on a fresh connection, in all",
            median(runs, || {
                let db = open();
                timed(|| prepare(&db).unwrap()).1
            }),
        );
        let query = "SELECT id FROM tasks WHERE status = 'new' LIMIT 1";
        report(
            "a first task query after prepare",
            median(runs, || {
                let db = open();
                prepare(&db).unwrap();
                timed(|| db.execute(query, &[]).unwrap()).1
            }),
        );
    }

    /// What the triggers add to preparing a write on a fresh connection whose schema is already read: Spin
    /// prepares every statement again on each request, our host once per pooled connection (docs/spin.md).
    #[test]
    #[ignore = "a measurement: cargo test --release -p conveyor-core --lib measure -- --ignored --nocapture"]
    fn measure_what_the_triggers_cost_a_prepare() {
        use crate::store::tasks::{CLOSE, INSERT_COLUMNS};
        let platform = crate::testing::TestPlatform::new("measure-triggers");
        drop(NativeDb::open(&platform.path).unwrap());
        let from = crate::store::tasks::ClaimFrom { project: Some(1), ..Default::default() };
        let (claim, _) = crate::store::tasks::claim_statement(1, &from, 1, 0);
        let release =
            format!("UPDATE tasks SET {CLOSE}, result = ? WHERE id = ? AND assignee = ? AND status = 'assigned'");
        let insert = format!("INSERT INTO tasks ({INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
        let statements = [
            ("the claim's UPDATE", claim.as_str()),
            ("a release's UPDATE", release.as_str()),
            ("a task INSERT", insert.as_str()),
            ("a worker read", "SELECT id, alias FROM workers WHERE id = ?1"),
        ];
        let prepare_on = |path: &std::path::Path, sql: &str| {
            median(300, || {
                let connection = rusqlite::Connection::open(path).unwrap();
                connection.query_row("SELECT 1", [], |_| Ok(())).unwrap();
                timed(|| drop(connection.prepare(sql).unwrap())).1
            })
        };
        let triggers = |path: &std::path::Path, filter: &str| {
            crate::testing::trigger_names(&rusqlite::Connection::open(path).unwrap(), filter)
        };
        // A copy of the migrated file without the triggers `filter` selects.
        let without = |filter: &str| {
            let label: String = filter.chars().filter(char::is_ascii_alphanumeric).collect();
            let path = platform.path.with_extension(format!("without-{label}"));
            std::fs::copy(&platform.path, &path).unwrap();
            let connection = rusqlite::Connection::open(&path).unwrap();
            for name in triggers(&path, filter) {
                connection.execute_batch(&format!("DROP TRIGGER {name}")).unwrap();
            }
            path
        };
        let micros = |time: Duration| time.as_secs_f64() * 1e6;
        let bare = without("1");
        for (name, sql) in statements {
            let (with, none) = (prepare_on(&platform.path, sql), prepare_on(&bare, sql));
            eprintln!("prepare {name:<40} {:>8.1} µs, {:>8.1} µs without triggers", micros(with), micros(none));
        }
        let on_tasks = triggers(&platform.path, "tbl_name = 'tasks'");
        for name in on_tasks {
            let path = without(&format!("name = '{name}'"));
            eprintln!("prepare the claim's UPDATE without {name:<30} {:>8.1} µs", micros(prepare_on(&path, &claim)));
        }
    }
}
