//! Per-request store data: WASI contexts, the resource table, memory limits, and what the component
//! was granted in spin.toml. Also the `fermyon:spin/variables` host implementation.

use crate::bindings::variables::{self, Error as VariableError};
use crate::outbound::OutboundPolicy;
use crate::pool::SqlitePool;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What one component was granted: databases, stores, outbound hosts, resolved variables, environment.
#[derive(Debug, Default)]
pub struct ComponentGrants {
    pub id: String,
    pub sqlite_databases: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub outbound: OutboundPolicy,
    pub variables: HashMap<String, String>,
    pub environment: BTreeMap<String, String>,
}

/// Process-wide services shared by every request.
pub struct Services {
    pub databases: HashMap<String, Arc<SqlitePool>>,
    pub kv_stores: HashMap<String, Arc<SqlitePool>>,
    pub clock: Clock,
}

/// The wall clock guests see: the system clock plus an offset tests can move forward.
#[derive(Clone, Default)]
pub struct Clock(Arc<AtomicI64>);

impl Clock {
    /// Shifts guest time by `seconds` (tests expire leases this way).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl wasmtime_wasi::HostWallClock for Clock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        let system = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let offset = self.0.load(Ordering::SeqCst);
        if offset >= 0 {
            system + Duration::from_secs(offset as u64)
        } else {
            system.saturating_sub(Duration::from_secs(offset.unsigned_abs()))
        }
    }
}

/// Decides which outgoing wasi-http requests a component may make.
pub struct OutboundHooks(Arc<ComponentGrants>);

impl wasmtime_wasi_http::WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https");
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or(if scheme == "http" { 80 } else { 443 });
        if self.0.outbound.allows(scheme, host, port) {
            return Box::new(async move {
                let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
                drop(fut);
                Ok((
                    response.map(http_body_util::BodyExt::boxed_unsync),
                    Box::new(io) as Box<dyn Future<Output = _> + Send>,
                ))
            });
        }
        eprintln!("conveyor: component `{}` denied outbound request to {scheme}://{host}:{port}", self.0.id);
        Box::new(async { Err(wasmtime_wasi_http::p2::bindings::http::types::ErrorCode::HttpRequestDenied.into()) })
    }
}

/// The data of one request's Store.
pub struct State {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHooks,
    pub table: ResourceTable,
    pub limits: StoreLimits,
    pub component: Arc<ComponentGrants>,
    pub services: Arc<Services>,
}

impl State {
    /// Fresh state for one request of `component`.
    pub fn new(component: Arc<ComponentGrants>, services: Arc<Services>, memory_limit: usize) -> State {
        let mut wasi = WasiCtx::builder();
        wasi.wall_clock(services.clock.clone()).inherit_stderr();
        for (key, value) in &component.environment {
            wasi.env(key, value);
        }
        State {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks(component.clone()),
            table: ResourceTable::new(),
            limits: wasmtime::StoreLimitsBuilder::new().memory_size(memory_limit).instances(64).build(),
            component,
            services,
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

impl variables::Host for State {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, VariableError>> {
        if crate::manifest::check_variable_name(&name).is_err() {
            return Ok(Err(VariableError::InvalidName(name)));
        }
        Ok(self.component.variables.get(&name).cloned().ok_or(VariableError::Undefined(name)))
    }
}
