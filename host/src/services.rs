//! The process-wide services every request shares: the backend of each database and store label (opened
//! from the runtime config's [`Stores`]) and the guest clock.

use crate::clock::Clock;
use crate::grants::ComponentGrants;
use crate::kv::KeyValueStore;
use crate::kv::sqlite::{SCHEMA, SqliteStore};
use crate::pool::SqlitePool;
use crate::runtime_config::{Location, Stores};
use crate::sqlite::SqliteBackend;
use crate::sqlite::local::LocalDatabase;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Process-wide services shared by every request.
pub struct Services {
    pub databases: HashMap<String, Arc<dyn SqliteBackend>>,
    pub kv_stores: HashMap<String, Arc<dyn KeyValueStore>>,
    pub clock: Clock,
}

impl Services {
    /// Opens every database and store of `stores`; labels on one file share its pool (and its writer).
    pub fn open(stores: &Stores) -> Result<Services> {
        let mut pools = Pools::default();
        let mut databases: HashMap<String, Arc<dyn SqliteBackend>> = HashMap::new();
        for (label, location) in &stores.sqlite_databases {
            databases.insert(label.clone(), Arc::new(LocalDatabase(pools.open(location, "")?)));
        }
        let mut kv_stores: HashMap<String, Arc<dyn KeyValueStore>> = HashMap::new();
        for (label, location) in &stores.key_value_stores {
            let pool = pools.open(location, SCHEMA)?;
            kv_stores.insert(label.clone(), Arc::new(SqliteStore { label: label.clone(), pool }));
        }
        Ok(Services { databases, kv_stores, clock: Clock::default() })
    }

    /// Fails naming spin.toml and the key if `grants` names a database or store that is not defined.
    pub fn check(&self, grants: &ComponentGrants, manifest: &Path) -> Result<()> {
        let undefined = |labels: &[String], defined: &dyn Fn(&str) -> bool, key: &str, what: &str| {
            let Some(label) = labels.iter().find(|label| !defined(label)) else { return Ok(()) };
            bail!(
                "{}: key `component.{}.{key}`: {what} `{label}` is neither `default` nor defined in the runtime config",
                manifest.display(),
                grants.id
            )
        };
        undefined(&grants.sqlite_databases, &|l| self.databases.contains_key(l), "sqlite_databases", "database")?;
        undefined(&grants.key_value_stores, &|l| self.kv_stores.contains_key(l), "key_value_stores", "store")
    }
}

/// The pools opened so far, one per file.
#[derive(Default)]
struct Pools(HashMap<Location, Arc<SqlitePool>>);

impl Pools {
    /// The pool of `location`, opened with `schema` (or, if open already, given `schema` now).
    fn open(&mut self, location: &Location, schema: &str) -> Result<Arc<SqlitePool>> {
        if let Some(pool) = self.0.get(location) {
            if !schema.is_empty() {
                pool.read(|connection| connection.execute_batch(schema)).context("creating schema")?;
            }
            return Ok(pool.clone());
        }
        let path = match location {
            Location::File(path) => {
                if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("{}: cannot create data directory", dir.display()))?;
                }
                check_writable(path)?;
                path.clone()
            }
            Location::Memory => memory_database(),
        };
        let pool = SqlitePool::open(&path, schema)?;
        self.0.insert(location.clone(), pool.clone());
        Ok(pool)
    }
}

/// Fails naming the path when the database file or its directory (where SQLite keeps the WAL and the
/// shared-memory index) cannot be written: a read-only mount, an immutable directory, missing permissions.
/// Without this the host would start on a database it can only read and fail every write.
fn check_writable(database: &Path) -> Result<()> {
    let dir = database.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let probe = dir.join(format!(".conveyor-write-check-{}", std::process::id()));
    std::fs::File::create(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| anyhow::anyhow!("{}: the data directory is not writable ({e})", dir.display()))?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(database)
        .map_err(|e| anyhow::anyhow!("{}: the database cannot be opened for writing ({e})", database.display()))?;
    Ok(())
}

/// A name for a new in-memory database that every connection of this process opening it shares
/// (SQLite's `memdb` VFS; a plain `:memory:` would be private to each connection).
fn memory_database() -> PathBuf {
    static DATABASES: AtomicUsize = AtomicUsize::new(0);
    let n = DATABASES.fetch_add(1, Ordering::SeqCst);
    PathBuf::from(format!("file:/conveyor-memory-{}-{n}?vfs=memdb", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_in_memory_database_is_shared_by_the_pools_connections_and_private_to_its_label() {
        let memory = || SqlitePool::open(&memory_database(), "CREATE TABLE t (x)").unwrap();
        let (one, other) = (memory(), memory());
        one.write(|c| c.execute("INSERT INTO t VALUES (1)", [])).await.unwrap();
        let count =
            |pool: &SqlitePool| pool.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)));
        assert_eq!(count(&one).unwrap(), 1, "a reader sees the writer's row");
        assert_eq!(count(&other).unwrap(), 0, "another in-memory database is another database");
    }

    #[test]
    fn a_granted_label_that_is_not_configured_names_spin_toml_and_the_key() {
        let stores = Stores {
            sqlite_databases: BTreeMap::from([("default".to_string(), Location::Memory)]),
            key_value_stores: BTreeMap::from([("default".to_string(), Location::Memory)]),
        };
        let services = Services::open(&stores).unwrap();
        let manifest = crate::manifest::parse(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n[component.c]\nsource = \"c.wasm\"\n\
             sqlite_databases = [\"default\", \"other\"]",
        )
        .unwrap();
        let grants = ComponentGrants::new("c", &manifest.component["c"], &HashMap::new(), &manifest).unwrap();
        let error = services.check(&grants, Path::new("app/spin.toml")).unwrap_err().to_string();
        assert!(error.starts_with("app/spin.toml: key `component.c.sqlite_databases`: database `other`"), "{error}");
    }
}
