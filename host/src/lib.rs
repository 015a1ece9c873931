//! Conveyor's native Spin-compatible host: reads `spin.toml`, builds the components, compiles them once,
//! routes HTTP requests as Spin does and implements Spin's sqlite, key-value and variables interfaces; it
//! also calls the routes `[[application.tool.conveyor.tick]]` names periodically (`tick`).
//!
//! Each interface (`sqlite`, `kv`, `variables`, `outbound`) keeps its WIT glue apart from a backend
//! trait; the runtime-config file (`runtime_config`) chooses the backends, `services` opens them.

mod bindings;
mod body;
pub mod build;
mod cache;
mod clock;
mod connections;
mod engine;
mod grants;
pub mod host;
mod kv;
pub mod manifest;
mod metrics;
mod outbound;
mod pool;
mod router;
pub mod runtime;
mod runtime_config;
mod server;
mod services;
mod sqlite;
mod state;
mod tick;
mod variables;

pub use cache::CacheStats;
pub use clock::Clock;
pub use connections::ConnectionLimits;
pub use engine::Limits;
pub use host::{HostOptions, RunningHost, start};

/// A boxed future, as the backend traits return them.
pub(crate) type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
