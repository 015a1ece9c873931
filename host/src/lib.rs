//! Conveyor's native Spin-compatible host: reads `spin.toml`, builds the components, compiles them once,
//! routes HTTP requests as Spin does and implements Spin's sqlite, key-value and variables interfaces.

pub mod bindings;
pub mod build;
pub mod host;
pub mod kv;
pub mod manifest;
pub mod outbound;
pub mod pool;
pub mod router;
pub mod runtime;
pub mod server;
pub mod sqlite;
pub mod state;
pub mod variables;

pub use host::{HostOptions, RunningHost, start};
pub use runtime::Limits;
