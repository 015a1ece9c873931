//! What a handler may reach besides its request: the database, the key-value store and variables.
//! Spin provides them in wasm; tests and benches provide native ones.

use crate::db::{Db, DbError};
use crate::error::ApiError;

/// The key-value store: loss-tolerant state only (rate-limit buckets, throttles, caches).
pub trait Kv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), ApiError>;
    fn delete(&self, key: &str) -> Result<(), ApiError>;
}

/// The services of the platform a component runs on.
pub trait Platform {
    /// Opens the `default` database (PRAGMAs set, migrated).
    fn open_db(&self) -> Result<Box<dyn Db>, DbError>;
    /// Opens the `default` key-value store.
    fn open_kv(&self) -> Result<Box<dyn Kv>, ApiError>;
    /// An application variable; `None` when undefined or empty.
    fn variable(&self, name: &str) -> Option<String>;
    /// POSTs a JSON document to `url` (outbound HTTP, limited by the component's `allowed_outbound_hosts`)
    /// and returns the response status. Platforms without outbound HTTP refuse with 503.
    fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<u16, ApiError> {
        let _ = (url, body);
        Err(ApiError::Unavailable("outbound HTTP is not available".into()))
    }
}

/// An in-memory key-value store for native tests.
#[derive(Default)]
pub struct MemoryKv(std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>);

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(self.0.lock().map_err(ApiError::internal)?.get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
        self.0.lock().map_err(ApiError::internal)?.insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.0.lock().map_err(ApiError::internal)?.remove(key);
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
pub use spin_platform::SpinPlatform;

#[cfg(target_arch = "wasm32")]
mod spin_platform {
    use super::{Kv, Platform};
    use crate::connection::SpinDb;
    use crate::db::{Db, DbError};
    use crate::error::ApiError;
    use spin_sdk::key_value::Store;

    /// Spin's sqlite, key-value and variables interfaces.
    pub struct SpinPlatform;

    struct SpinKv(Store);

    impl Kv for SpinKv {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
            self.0.get(key).map_err(ApiError::internal)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), ApiError> {
            self.0.set(key, value).map_err(ApiError::internal)
        }
        fn delete(&self, key: &str) -> Result<(), ApiError> {
            self.0.delete(key).map_err(ApiError::internal)
        }
    }

    impl Platform for SpinPlatform {
        fn open_db(&self) -> Result<Box<dyn Db>, DbError> {
            Ok(Box::new(SpinDb::open()?))
        }
        fn open_kv(&self) -> Result<Box<dyn Kv>, ApiError> {
            Ok(Box::new(SpinKv(Store::open_default().map_err(ApiError::internal)?)))
        }
        fn variable(&self, name: &str) -> Option<String> {
            spin_sdk::variables::get(name).ok().filter(|v| !v.is_empty())
        }
        fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<u16, ApiError> {
            let request =
                spin_sdk::http::Request::post(url, body.to_string()).header("content-type", "application/json").build();
            // Handlers are synchronous: drive the outbound request on Spin's executor until it answers.
            let response: spin_sdk::http::Response =
                spin_sdk::http::run(spin_sdk::http::send(request)).map_err(ApiError::internal)?;
            Ok(*response.status())
        }
    }
}
