//! Per-request store data: WASI contexts, the resource table, memory limits, what the component was
//! granted in spin.toml and the process-wide services. The interfaces' glue lives with each interface
//! (`sqlite`, `kv`, `variables`, `outbound`).

use crate::grants::ComponentGrants;
use crate::outbound::OutboundHooks;
use crate::services::Services;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The data of one request's Store.
pub struct State {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHooks,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub component: Arc<ComponentGrants>,
    pub services: Arc<Services>,
    /// The request's deadline: the guest's SQLite statements are interrupted there.
    pub deadline: Instant,
}

impl State {
    /// Fresh state for one request of `component`, due by `deadline`.
    pub fn new(
        component: Arc<ComponentGrants>,
        services: Arc<Services>,
        memory_limit: usize,
        deadline: Instant,
    ) -> State {
        let mut wasi = WasiCtx::builder();
        wasi.wall_clock(services.clock.clone()).inherit_stderr();
        for (key, value) in &component.environment {
            wasi.env(key, value);
        }
        State {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks { component: component.id.clone(), policy: component.outbound.clone() },
            table: ResourceTable::new(),
            limits: wasmtime::StoreLimitsBuilder::new().memory_size(memory_limit).instances(64).build(),
            component,
            services,
            deadline,
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}
