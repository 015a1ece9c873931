//! Conveyor's core: everything the components share. Builds for `wasm32-wasip2` (inside components)
//! and natively (fast tests against real SQLite, benchmarks).

pub mod accounts;
pub mod auth;
pub mod caller;
pub mod clock;
pub mod compat;
pub mod connection;
pub mod control;
pub mod db;
pub mod domain;
#[cfg(target_arch = "wasm32")]
pub mod entry;
pub mod error;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod migrate;
#[cfg(test)]
mod openapi;
pub mod operations;
pub mod outbound;
pub mod platform;
pub mod policy;
pub mod projects;
pub mod projectw;
pub mod query;
pub mod ratelimit;
pub mod router;
pub mod rpc;
pub mod schedules;
pub mod secrets;
pub mod session;
pub mod store;
pub mod tasks;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod throttle;
pub mod workers;

pub use error::ApiError;
pub use http::{Request, Response};
pub use router::{Ctx, Router, route};
