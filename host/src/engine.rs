//! The wasmtime engine: its configuration (pooling allocator, epoch interruption) and the limits that
//! shape it.

use anyhow::Result;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Epoch ticks a guest computes before it yields its executor thread (and its deadline is checked).
pub const YIELD_EVERY: u64 = 1;

/// Bytes of each linear memory and table kept mapped between instances (see `engine`).
const MEMORY_KEEP_RESIDENT: usize = 4 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;
/// Decommits of what lies beyond are batched, each batch one round of TLB shootdowns.
const DECOMMIT_BATCH: usize = 16;

/// Limits that protect the host from a guest or a client.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock time a request may take, from its arrival, where its component sets none
    /// (`request_timeout_seconds`): still waiting for an instance then, it is answered 503; waiting for
    /// its guest's answer, 504; a response still streaming is cut.
    pub request_timeout: Duration,
    /// Largest request body accepted (413 beyond) where a component sets none (`max_request_body`).
    pub max_body: usize,
    /// Linear memory per instance.
    pub max_memory: usize,
    /// Instances alive at once, of all components; further requests wait for a slot, until their request
    /// timeout. A component may cap its own below this (`max_instances`).
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(30),
            max_body: 16 << 20,
            max_memory: 256 << 20,
            max_instances: 2048,
        }
    }
}

/// An engine for `limits`.
pub fn engine(limits: &Limits) -> Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(limits.max_instances)
        .total_core_instances(limits.max_instances * 8)
        .total_memories(limits.max_instances * 2)
        .total_tables(limits.max_instances * 4)
        .total_stacks(limits.max_instances)
        .max_memory_size(limits.max_memory)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        // Reset a finished instance's memory in place (only the pages it dirtied, found with PAGEMAP_SCAN
        // where the kernel has it) instead of unmapping it: no page faults on reuse, no TLB shootdowns.
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto)
        .decommit_batch_size(DECOMMIT_BATCH);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(wasmtime::OptLevel::Speed)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Ok(Engine::new(&config)?)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread of its own, until the engine is gone.
pub fn start_epoch_ticker(engine: &Engine) {
    let ticker = engine.weak();
    std::thread::spawn(move || {
        while let Some(engine) = ticker.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    });
}
