//! Conveyor's core: everything the components share. Builds for `wasm32-wasip2` (inside components)
//! and natively (fast tests against real SQLite, benchmarks).

pub mod clock;
pub mod db;
pub mod error;
pub mod http;
pub mod migrate;
pub mod platform;
pub mod query;
pub mod router;

pub use error::ApiError;
pub use http::{Request, Response};
pub use router::{Ctx, Router, route};
