//! Test support: a native [`Platform`] over a SQLite file, an in-memory key-value store and fixed
//! variables.

use crate::connection::NativeDb;
use crate::db::{Db, DbError};
use crate::error::ApiError;
use crate::platform::{Kv, MemoryKv, Platform};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A platform for one test: its own database file, key-value store and variables.
pub struct TestPlatform {
    pub path: PathBuf,
    pub kv: Arc<MemoryKv>,
    pub variables: HashMap<String, String>,
}

impl TestPlatform {
    /// A fresh database (file under the temp dir) with `admin_token = "root-secret"`.
    pub fn new(label: &str) -> TestPlatform {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("conveyor-core-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let variables = HashMap::from([("admin_token".to_string(), "root-secret".to_string())]);
        TestPlatform { path: dir.join("db.sqlite"), kv: Arc::default(), variables }
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

struct SharedKv(Arc<MemoryKv>);

impl Kv for SharedKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
        self.0.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.0.delete(key)
    }
}

impl Platform for TestPlatform {
    fn open_db(&self) -> Result<Box<dyn Db>, DbError> {
        Ok(Box::new(NativeDb::open(&self.path)?))
    }
    fn open_kv(&self) -> Result<Box<dyn Kv>, ApiError> {
        Ok(Box::new(SharedKv(self.kv.clone())))
    }
    fn variable(&self, name: &str) -> Option<String> {
        self.variables.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// A database that passes every statement on to `.0` and records its text in `.1`.
pub struct Recording<'a>(pub &'a dyn Db, pub RefCell<Vec<String>>);

impl<'a> Recording<'a> {
    pub fn new(db: &'a dyn Db) -> Self {
        Recording(db, RefCell::default())
    }
}

impl Db for Recording<'_> {
    fn execute(&self, sql: &str, params: &[crate::db::Value]) -> Result<crate::db::Rows, DbError> {
        self.1.borrow_mut().push(sql.to_string());
        self.0.execute(sql, params)
    }
}

/// The names of the triggers in `connection`'s schema that `filter` (SQL over `sqlite_schema`) selects, sorted.
pub fn trigger_names(connection: &rusqlite::Connection, filter: &str) -> Vec<String> {
    let sql = format!("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND {filter} ORDER BY name");
    let mut statement = connection.prepare(&sql).unwrap();
    statement.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}
