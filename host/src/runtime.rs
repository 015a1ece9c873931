//! The engine, the components of a manifest compiled once (and cached on disk), pre-instantiated, and
//! the dispatch of one HTTP request to a fresh instance in a fresh Store.

use crate::manifest::{self, App};
use crate::outbound::OutboundPolicy;
use crate::router::{RoutePattern, Router};
use crate::state::{ComponentGrants, Services, State};
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// How often the epoch advances; request time limits are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each linear memory and table kept mapped between instances (see `engine`).
const MEMORY_KEEP_RESIDENT: usize = 4 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;
/// Decommits of what lies beyond are batched, each batch one round of TLB shootdowns.
const DECOMMIT_BATCH: usize = 16;

/// Limits that protect the host from a guest or a client.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock time a request may take before it is answered 504.
    pub request_timeout: Duration,
    /// Largest request body accepted (413 beyond).
    pub max_body: usize,
    /// Linear memory per instance.
    pub max_memory: usize,
    /// Instances alive at once; further requests wait for a slot.
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(30),
            max_body: 16 << 20,
            max_memory: 256 << 20,
            max_instances: 128,
        }
    }
}

/// Counts of how components were loaded at start-up.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub compiled: AtomicUsize,
    pub loaded_from_cache: AtomicUsize,
}

struct LoadedComponent {
    pre: ProxyPre<State>,
    grants: Arc<ComponentGrants>,
}

/// A response produced by the host itself or by a guest.
pub type HostResponse = http::Response<http_body_util::combinators::UnsyncBoxBody<Bytes, anyhow::Error>>;

/// The loaded application.
pub struct Runtime {
    engine: Engine,
    components: Vec<LoadedComponent>,
    router: Router<usize>,
    services: Arc<Services>,
    limits: Limits,
    slots: tokio::sync::Semaphore,
    pub cache_stats: CacheStats,
}

/// Everything the runtime needs besides the manifest.
pub struct RuntimeConfig {
    pub data_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub limits: Limits,
    /// Values of the application's variables, already resolved (see `variables`).
    pub variables: HashMap<String, String>,
}

impl Runtime {
    /// Compiles (or loads from cache) every component and prepares the routes.
    pub fn new(app: &App, config: RuntimeConfig) -> Result<Runtime> {
        let engine = engine(&config.limits)?;
        let services = Arc::new(open_services(&config.data_dir)?);
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::bindings::Host_::add_to_linker::<_, wasmtime::component::HasSelf<State>>(&mut linker, |s| s)?;

        std::fs::create_dir_all(&config.cache_dir)
            .with_context(|| format!("{}: cannot create cache directory", config.cache_dir.display()))?;
        let cache_stats = CacheStats::default();
        let mut components = Vec::new();
        let mut index_of = HashMap::new();
        for (id, component) in &app.manifest.component {
            let path = app.source(component);
            let compiled = load_component(&engine, &path, &config.cache_dir, &cache_stats)
                .with_context(|| format!("{}: component `{id}`", app.path.display()))?;
            let pre =
                linker.instantiate_pre(&compiled).and_then(ProxyPre::new).map_err(anyhow::Error::from).with_context(
                    || format!("{}: component `{id}` imports something this host does not provide", app.path.display()),
                )?;
            let grants = grants(id, component, &config.variables, &app.manifest.variables)
                .with_context(|| format!("{}: component `{id}`", app.path.display()))?;
            index_of.insert(id.clone(), components.len());
            components.push(LoadedComponent { pre, grants: Arc::new(grants) });
        }
        let routes = app
            .manifest
            .trigger
            .http
            .iter()
            .map(|t| Ok((RoutePattern::parse(&t.route)?, index_of[&t.component])))
            .collect::<Result<Vec<_>>>()?;
        let router = Router::new(routes).with_context(|| format!("{}: key `trigger.http`", app.path.display()))?;

        let ticker = engine.weak();
        std::thread::spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
        let slots = tokio::sync::Semaphore::new(config.limits.max_instances as usize);
        Ok(Runtime { engine, components, router, services, limits: config.limits, slots, cache_stats })
    }

    /// The guest-visible clock (tests move it forward).
    pub fn clock(&self) -> &crate::state::Clock {
        &self.services.clock
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Routes a request with a fully read body to its component and returns the guest's response.
    pub async fn handle(&self, request: http::Request<Bytes>, client: std::net::SocketAddr) -> HostResponse {
        let path = request.uri().path().to_string();
        let Some(found) = self.router.route(&path) else {
            return error_response(404, "not_found", &format!("no route for {path}"));
        };
        let component = &self.components[*found.target];
        let request = with_spin_headers(request, &found, client);
        let Ok(_slot) = self.slots.acquire().await else {
            return error_response(503, "unavailable", "the host is shutting down");
        };
        match tokio::time::timeout(self.limits.request_timeout, self.call(component, request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(Failure::Interrupted)) | Err(_) => timeout_response(),
            Ok(Err(Failure::Other(error))) => {
                eprintln!("conveyor: component `{}` failed: {error:?}", component.grants.id);
                error_response(500, "internal_error", "internal error")
            }
        }
    }

    async fn call(&self, component: &LoadedComponent, request: http::Request<Bytes>) -> Result<HostResponse, Failure> {
        let state = State::new(component.grants.clone(), self.services.clone(), self.limits.max_memory);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(ticks(self.limits.request_timeout));
        store.epoch_deadline_trap();

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request =
            request.map(|body| Full::new(body).map_err(|never| -> wasmtime_wasi_http::Error { match never {} }));
        let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let proxy = component.pre.instantiate_async(&mut store).await?;
        let task = tokio::task::spawn(async move {
            proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
        });
        let mut guard = AbortOnDrop(Some(task));
        match receiver.await {
            Ok(Ok(response)) => {
                // The guest may still be streaming the body: let its task run to completion.
                guard.0 = None;
                Ok(response.map(|body| body.map_err(anyhow::Error::from).boxed_unsync()))
            }
            Ok(Err(code)) => Err(Failure::Other(anyhow::anyhow!("guest answered with error code {code:?}"))),
            Err(_) => {
                let Some(task) = guard.0.as_mut() else {
                    return Err(Failure::Other(anyhow::anyhow!("guest task missing")));
                };
                match task.await {
                    Ok(Ok(())) => Err(Failure::Other(anyhow::anyhow!("guest returned without setting a response"))),
                    Ok(Err(error)) => Err(error.into()),
                    Err(join) => Err(Failure::Other(anyhow::anyhow!("guest task failed: {join}"))),
                }
            }
        }
    }
}

/// Why a guest call produced no response.
enum Failure {
    /// The guest ran past its epoch deadline.
    Interrupted,
    Other(anyhow::Error),
}

impl From<wasmtime::Error> for Failure {
    fn from(error: wasmtime::Error) -> Self {
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            Failure::Interrupted
        } else {
            Failure::Other(error.into())
        }
    }
}

/// Aborts the guest task if the request is abandoned (timeout, client gone).
struct AbortOnDrop(Option<tokio::task::JoinHandle<wasmtime::Result<()>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

fn ticks(duration: Duration) -> u64 {
    (duration.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

fn engine(limits: &Limits) -> Result<Engine> {
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

fn open_services(data_dir: &Path) -> Result<Services> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("{}: cannot create data directory", data_dir.display()))?;
    let db = crate::pool::SqlitePool::open(&data_dir.join("sqlite_db.db"), "")?;
    let kv = crate::pool::SqlitePool::open(&data_dir.join("sqlite_key_value.db"), crate::kv::SCHEMA)?;
    Ok(Services {
        databases: HashMap::from([("default".to_string(), db)]),
        kv_stores: HashMap::from([("default".to_string(), kv)]),
        clock: Default::default(),
    })
}

/// The cache file for a component: keyed by the wasm's hash and the engine's compatibility hash, so a
/// rebuilt component or another wasmtime never loads a stale artifact.
fn cache_path(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = Sha256::digest(wasm);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    cache_dir.join(format!("{hex}-{:016x}.cwasm", hasher.finish()))
}

fn load_component(engine: &Engine, path: &Path, cache_dir: &Path, stats: &CacheStats) -> Result<Component> {
    let wasm = std::fs::read(path)
        .with_context(|| format!("source `{}` cannot be read (run `conveyor build`)", path.display()))?;
    let cached = cache_path(engine, &wasm, cache_dir);
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same engine configuration (the
        // name carries the engine's compatibility hash), in a directory only this host writes.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &cached) };
        if let Ok(component) = loaded {
            stats.loaded_from_cache.fetch_add(1, Ordering::SeqCst);
            return Ok(component);
        }
    }
    let component = Component::new(engine, &wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("source `{}` is not a valid component", path.display()))?;
    // Unique per writer: several hosts (threads or processes) may compile the same component at once.
    static WRITERS: AtomicUsize = AtomicUsize::new(0);
    let temporary =
        cached.with_extension(format!("tmp-{}-{}", std::process::id(), WRITERS.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&temporary, component.serialize()?)?;
    std::fs::rename(&temporary, &cached)?;
    stats.compiled.fetch_add(1, Ordering::SeqCst);
    Ok(component)
}

fn grants(
    id: &str,
    component: &manifest::Component,
    values: &HashMap<String, String>,
    declared: &BTreeMap<String, manifest::Variable>,
) -> Result<ComponentGrants> {
    let mut variables = HashMap::new();
    for (name, template) in &component.variables {
        let expanded = manifest::expand_template(template, |reference| {
            values
                .get(reference)
                .cloned()
                .or_else(|| declared.get(reference).and_then(|v| v.default.clone()))
                .unwrap_or_default()
        })?;
        variables.insert(name.clone(), expanded);
    }
    Ok(ComponentGrants {
        id: id.to_string(),
        sqlite_databases: component.sqlite_databases.clone(),
        key_value_stores: component.key_value_stores.clone(),
        outbound: OutboundPolicy::parse(&component.allowed_outbound_hosts)?,
        variables,
        environment: component.environment.clone(),
    })
}

/// Replaces any client-sent `spin-*` headers with the ones Spin sets.
fn with_spin_headers(
    request: http::Request<Bytes>,
    found: &crate::router::RouteMatch<'_, usize>,
    client: std::net::SocketAddr,
) -> http::Request<Bytes> {
    let (mut parts, body) = request.into_parts();
    let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let stale: Vec<_> = parts.headers.keys().filter(|k| k.as_str().starts_with("spin-")).cloned().collect();
    for name in stale {
        parts.headers.remove(name);
    }
    let mut set = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(name), http::HeaderValue::try_from(value)) {
            parts.headers.insert(name, value);
        }
    };
    set("spin-full-url", &format!("http://{host}{path_and_query}"));
    set("spin-path-info", &found.path_info);
    set("spin-matched-route", &found.pattern.raw);
    set("spin-raw-component-route", &found.pattern.raw);
    set("spin-component-route", found.pattern.component_route());
    set("spin-base-path", "/");
    set("spin-client-addr", &client.to_string());
    for (name, value) in &found.params {
        set(&format!("spin-path-match-{}", name.to_ascii_lowercase()), value);
    }
    if parts.uri.authority().is_none()
        && let Ok(uri) =
            http::Uri::builder().scheme("http").authority(host.as_str()).path_and_query(path_and_query).build()
    {
        parts.uri = uri;
    }
    http::Request::from_parts(parts, body)
}

/// A JSON error produced by the host itself (SPEC §1's body).
pub fn error_response(status: u16, code: &str, detail: &str) -> HostResponse {
    let body = serde_json::json!({ "detail": detail, "code": code }).to_string();
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed_unsync())
        .expect("static response parts are valid")
}

fn timeout_response() -> HostResponse {
    error_response(504, "timeout", "the request took too long")
}
