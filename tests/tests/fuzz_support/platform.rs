//! The components' route tables served natively: core's [`TestPlatform`] (a SQLite file, an in-memory
//! key-value store) with the variables the surfaces read and an outbound HTTP that accepts every delivery;
//! and the surfaces (route tables with their error envelopes) that one OpenAPI document describes.

use conveyor_core::db::{Db, DbError};
use conveyor_core::platform::{Kv, Platform};
use conveyor_core::testing::TestPlatform;
use conveyor_core::{ApiError, Request, Response, Router};

/// The administrator token of [`TestPlatform`]'s variables.
pub const ADMIN_TOKEN: &str = "root-secret";

/// One test's platform: its own database file under the temp dir, removed on drop.
pub struct Native(TestPlatform);

impl Native {
    pub fn new(label: &str) -> Native {
        let mut platform = TestPlatform::new(label);
        for (name, value) in [
            ("allow_signup", "true"),
            ("open_worker_registration", "true"),
            // Project-W's event stream ends after a second, so a generated request to it cannot hang a case.
            ("event_stream_seconds", "1"),
            ("notify_url", "http://notify.example/hook"),
        ] {
            platform.variables.insert(name.into(), value.into());
        }
        assert_eq!(platform.variable("admin_token").as_deref(), Some(ADMIN_TOKEN));
        Native(platform)
    }
}

impl Platform for Native {
    fn open_db(&self) -> Result<Box<dyn Db>, DbError> {
        self.0.open_db()
    }
    fn open_kv(&self) -> Result<Box<dyn Kv>, ApiError> {
        self.0.open_kv()
    }
    fn variable(&self, name: &str) -> Option<String> {
        self.0.variable(name)
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
