//! The components' route tables served natively: a [`Platform`] over a SQLite file, an in-memory key-value
//! store, fixed variables and an outbound HTTP that accepts every delivery; and the surfaces (route tables
//! with their error envelopes) that one OpenAPI document describes.

use conveyor_core::connection::NativeDb;
use conveyor_core::db::{Db, DbError};
use conveyor_core::platform::{Kv, MemoryKv, Platform};
use conveyor_core::{ApiError, Request, Response, Router};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The administrator token of [`Native`]'s variables.
pub const ADMIN_TOKEN: &str = "root-secret";

/// One test's platform: its own database file under the temp dir, removed on drop.
pub struct Native {
    path: PathBuf,
    kv: Arc<MemoryKv>,
    variables: HashMap<&'static str, &'static str>,
}

impl Native {
    pub fn new(label: &str) -> Native {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("conveyor-fuzz-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let variables = HashMap::from([
            ("admin_token", ADMIN_TOKEN),
            ("allow_signup", "true"),
            ("open_worker_registration", "true"),
            // Project-W's event stream ends after a second, so a generated request to it cannot hang a case.
            ("event_stream_seconds", "1"),
            ("notify_url", "http://notify.example/hook"),
        ]);
        Native { path: dir.join("db.sqlite"), kv: Arc::default(), variables }
    }
}

impl Drop for Native {
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

impl Platform for Native {
    fn open_db(&self) -> Result<Box<dyn Db>, DbError> {
        Ok(Box::new(NativeDb::open(&self.path)?))
    }
    fn open_kv(&self) -> Result<Box<dyn Kv>, ApiError> {
        Ok(Box::new(SharedKv(self.kv.clone())))
    }
    fn variable(&self, name: &str) -> Option<String> {
        self.variables.get(name).map(|value| value.to_string())
    }
    fn post_json(&self, _url: &str, _body: &serde_json::Value) -> Result<u16, ApiError> {
        Ok(200)
    }
}

/// A surface's error envelope (`Response::error`, or a compat surface's own).
pub type OnError = fn(&ApiError) -> Response;

/// The route tables one OpenAPI document describes, each with the error envelope of its surface.
pub struct Surface {
    tables: Vec<(Router, OnError)>,
}

impl Surface {
    pub fn new(tables: Vec<(Router, OnError)>) -> Surface {
        Surface { tables }
    }

    /// Serves a request as the host would: by the table that has a route for its path (as spin.toml's routes
    /// send each prefix to one component), else by the first table (its 404).
    pub fn send(&self, platform: &Native, request: Request) -> Response {
        let (router, on_error) = self
            .tables
            .iter()
            .find(|(router, _)| router.routes().any(|(_, pattern)| path_matches(pattern, &request.path)))
            .unwrap_or(&self.tables[0]);
        router.handle_mapped(platform, request, *on_error)
    }
}

/// Whether `path` has a route pattern's shape: as many segments, the literal ones equal.
fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let path: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    pattern.len() == path.len() && pattern.iter().zip(&path).all(|(p, s)| p.starts_with(':') || p == s)
}
