//! The components of a manifest compiled once (see `cache`), pre-instantiated, and the dispatch of one
//! HTTP request to a fresh instance in a fresh Store. Bodies stream both ways (`body`); an instance and its
//! slot live until the guest has finished, body included. A slot is one of the host's `max_instances` and,
//! for a component that caps its own (`tool.conveyor.max_instances`), one of its; a request waits for both
//! at most until its request timeout (the component's `request_timeout_seconds`, else the host's), which
//! counts from its arrival.

use crate::body::{CutResponse, LimitedBody, Overflow, Stopped};
use crate::cache::{CacheStats, load_component};
use crate::engine::{Limits, YIELD_EVERY, engine, start_epoch_ticker};
use crate::grants::ComponentGrants;
use crate::manifest::App;
use crate::metrics::RequestMetrics;
use crate::router::{RoutePattern, Router};
use crate::runtime_config::Stores;
use crate::services::Services;
use crate::sqlite::SqliteBackend;
use crate::state::State;
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// A request body declared this long or shorter is read whole before its request takes an instance slot
/// (every JSON body of the API is far below it); a longer or chunked one streams to its guest.
const READ_AHEAD: u64 = 64 << 10;

struct LoadedComponent {
    pre: ProxyPre<State>,
    grants: Arc<ComponentGrants>,
    /// Largest request body, in bytes: the component's `max_request_body`, else the host's.
    max_body: u64,
    /// The component's own instance slots, if it caps them (`max_instances`); taken before the host's.
    slots: Option<Arc<Semaphore>>,
    /// The component's `request_timeout_seconds`, else the host's.
    request_timeout: Duration,
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
    /// One permit per live instance of any component, held until the guest has finished (its response body
    /// included).
    slots: Arc<Semaphore>,
    /// One permit per request holding a slot while its body is still arriving: half of `slots`, so that slow
    /// senders cannot hold them all.
    arriving: Arc<Semaphore>,
    /// Requests that came over HTTP, counted until the flusher adds them to the database (`metrics`).
    requests: Arc<RequestMetrics>,
    pub cache_stats: CacheStats,
}

/// Everything the runtime needs besides the manifest.
pub struct RuntimeOptions {
    /// Where each database and key-value store lives.
    pub stores: Stores,
    pub cache_dir: PathBuf,
    pub limits: Limits,
    /// Values of the application's variables, already resolved (see `variables`).
    pub variables: HashMap<String, String>,
}

impl Runtime {
    /// Compiles (or loads from cache) every component and prepares the routes.
    pub fn new(app: &App, config: RuntimeOptions) -> Result<Runtime> {
        let engine = engine(&config.limits)?;
        let services = Arc::new(Services::open(&config.stores)?);
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
            let grants = ComponentGrants::new(id, component, &config.variables, &app.manifest)
                .with_context(|| format!("{}: component `{id}`", app.path.display()))?;
            services.check(&grants, &app.path)?;
            if let Some(cap) = grants.max_instances
                && cap > config.limits.max_instances
            {
                anyhow::bail!(
                    "{}: component `{id}`: key `component.{id}.tool.conveyor.{}`: {cap} is more than the host's \
                     max_instances ({})",
                    app.path.display(),
                    crate::manifest::Setting::MaxInstances.key(),
                    config.limits.max_instances
                );
            }
            let path = app.source(component);
            let compiled = load_component(&engine, &path, &config.cache_dir, &cache_stats)
                .with_context(|| format!("{}: component `{id}`", app.path.display()))?;
            let pre =
                linker.instantiate_pre(&compiled).and_then(ProxyPre::new).map_err(anyhow::Error::from).with_context(
                    || format!("{}: component `{id}` imports something this host does not provide", app.path.display()),
                )?;
            index_of.insert(id.clone(), components.len());
            let max_body = grants.max_request_body.unwrap_or(config.limits.max_body as u64);
            let slots = grants.max_instances.map(|cap| Arc::new(Semaphore::new(cap as usize)));
            let request_timeout = grants.request_timeout.unwrap_or(config.limits.request_timeout);
            components.push(LoadedComponent { pre, grants: Arc::new(grants), max_body, slots, request_timeout });
        }
        let routes = app
            .manifest
            .trigger
            .http
            .iter()
            .map(|t| Ok((RoutePattern::parse(&t.route)?, index_of[&t.component])))
            .collect::<Result<Vec<_>>>()?;
        let router = Router::new(routes).with_context(|| format!("{}: key `trigger.http`", app.path.display()))?;

        start_epoch_ticker(&engine);
        let slots = Arc::new(Semaphore::new(config.limits.max_instances as usize));
        let arriving = Arc::new(Semaphore::new((config.limits.max_instances as usize / 2).max(1)));
        let requests = Arc::new(RequestMetrics::new(components.iter().map(|c| c.grants.id.clone()).collect()));
        Ok(Runtime {
            engine,
            components,
            router,
            services,
            limits: config.limits,
            slots,
            arriving,
            requests,
            cache_stats,
        })
    }

    /// The guest-visible clock (tests move it forward).
    pub fn clock(&self) -> &crate::clock::Clock {
        &self.services.clock
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The HTTP requests counted and not yet flushed.
    pub(crate) fn requests(&self) -> &Arc<RequestMetrics> {
        &self.requests
    }

    /// The database a label names, if the runtime config has it.
    pub(crate) fn database(&self, label: &str) -> Option<Arc<dyn SqliteBackend>> {
        self.services.databases.get(label).cloned()
    }

    /// [`Runtime::handle`] for a request that came over HTTP: it is also counted in the request metrics
    /// (component, method, status class, and the time until its response head).
    pub async fn handle_http<B>(&self, request: http::Request<B>, client: std::net::SocketAddr) -> HostResponse
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let arrived = Instant::now();
        let method = request.method().clone();
        let (component, response) = self.dispatch(request, client).await;
        self.requests.record(component, &method, response.status().as_u16(), arrived.elapsed());
        response
    }

    /// Routes a request to its component and returns the guest's response. The request body goes to the
    /// guest as it arrives, counted against the component's limit: over it, the answer is 413 if the guest
    /// has not answered yet, and the guest's response is cut otherwise. The component's request timeout
    /// counts from now: a request still waiting for a slot then is 503, one whose guest has not answered 504.
    pub async fn handle<B>(&self, request: http::Request<B>, client: std::net::SocketAddr) -> HostResponse
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.dispatch(request, client).await.1
    }

    /// [`Runtime::handle`], also saying which component (by index) the request was routed to.
    async fn dispatch<B>(
        &self,
        request: http::Request<B>,
        client: std::net::SocketAddr,
    ) -> (Option<usize>, HostResponse)
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let arrived = Instant::now();
        let path = request.uri().path().to_string();
        let Some(found) = self.router.route(&path) else {
            return (None, error_response(404, "not_found", &format!("no route for {path}")));
        };
        let index = *found.target;
        (Some(index), self.routed(index, &found, request, client, arrived).await)
    }

    /// Serves a request routed to component `index` (see [`Runtime::handle`]).
    async fn routed<B>(
        &self,
        index: usize,
        found: &crate::router::RouteMatch<'_, usize>,
        request: http::Request<B>,
        client: std::net::SocketAddr,
        arrived: Instant,
    ) -> HostResponse
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let deadline = arrived;
        let component = &self.components[index];
        let deadline = deadline + component.request_timeout;
        let limit = component.max_body;
        let declared =
            request.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit) {
            return too_large(limit);
        }
        let (mut parts, body) = request.into_parts();
        set_spin_headers(&mut parts, found, client);
        let overflow = Arc::new(Overflow::default());
        let mut body = LimitedBody::new(body, limit, overflow.clone());
        // A client that sends its body slowly must not hold an instance meanwhile: a small declared body is
        // read whole before the request takes a slot, and at most half the host's slots may wait on bodies
        // still arriving (chunked or large ones, which stream to their guest).
        if declared.is_some_and(|length| length <= READ_AHEAD) {
            if tokio::time::timeout_at(deadline, body.read_ahead()).await.is_err() {
                return error_response(
                    408,
                    "request_timeout",
                    "the request body did not arrive within the request timeout",
                );
            }
        } else if body.still_arriving() {
            match tokio::time::timeout_at(deadline, self.arriving.clone().acquire_owned()).await {
                Ok(Ok(permit)) => body.hold_while_arriving(permit),
                Ok(Err(_)) => return error_response(503, "unavailable", "the host is shutting down"),
                Err(_) => return busy_response(),
            }
        }
        let request = http::Request::from_parts(parts, body);
        let slot = match Slot::take(component.slots.as_ref(), &self.slots, deadline).await {
            Ok(slot) => slot,
            Err(NoSlot::InTime) => return busy_response(),
            Err(NoSlot::Closed) => return error_response(503, "unavailable", "the host is shutting down"),
        };
        let call = self.call(component, request, slot, overflow, deadline);
        match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(response)) => response,
            Ok(Err(Failure::Interrupted)) | Err(_) => timeout_response(),
            Ok(Err(Failure::Other(error))) => {
                eprintln!("conveyor: component `{}` failed: {error:?}", component.grants.id);
                error_response(500, "internal_error", "internal error")
            }
        }
    }

    /// Runs the guest on a task of its own that owns the Store and the slot, so both live until the guest
    /// has finished, after its response head (a body still streaming, or a client reading slowly, keeps
    /// them) and never past the request's deadline; returns once the guest has answered.
    async fn call(
        &self,
        component: &LoadedComponent,
        request: http::Request<LimitedBody>,
        slot: Slot,
        overflow: Arc<Overflow>,
        deadline: Instant,
    ) -> Result<HostResponse, Failure> {
        let state =
            State::new(component.grants.clone(), self.services.clone(), self.limits.max_memory, deadline.into_std());
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        yield_until(&mut store, deadline.into_std());

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let proxy = component.pre.instantiate_async(&mut store).await?;
        let stopped = Arc::new(Stopped::default());
        let task = tokio::task::spawn({
            let stopped = stopped.clone();
            async move {
                let handled = proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam);
                // The epoch deadline stops a guest that computes; this one stops a guest blocked in a host call.
                let handled =
                    tokio::time::timeout_at(deadline, handled).await.unwrap_or_else(|_| Err(Trap::Interrupt.into()));
                if handled.is_err() {
                    // Dropping the Store ends a response body the guest was still writing as if it were complete.
                    stopped.signal();
                }
                // The instance goes back to the pool before its slot goes to another request.
                drop(store);
                drop(slot);
                handled
            }
        });
        let mut guard = AbortOnDrop(Some(task));
        let limit = component.max_body;
        let answered = tokio::select! {
            biased;
            // The request body went over the limit before the guest answered (a guest that answers because
            // of it answers after this is set).
            () = overflow.wait() => return Ok(too_large(limit)),
            answered = receiver => answered,
        };
        match answered {
            Ok(Ok(response)) => {
                // The guest may still be streaming the body: let its task run to completion.
                guard.0 = None;
                Ok(response
                    .map(|body| body.map_err(anyhow::Error::from).boxed_unsync())
                    .map(|body| CutResponse::new(body, overflow, limit, stopped).boxed_unsync()))
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

/// A guest that computes gives its executor thread back every epoch tick, so that a few spinning guests
/// cannot stop the others (nor the server) on a runtime with few threads; past `deadline` it traps.
fn yield_until(store: &mut Store<State>, deadline: std::time::Instant) {
    store.set_epoch_deadline(YIELD_EVERY);
    store.epoch_deadline_callback(move |_| {
        if std::time::Instant::now() >= deadline {
            return Err(Trap::Interrupt.into());
        }
        Ok(UpdateDeadline::Yield(YIELD_EVERY))
    });
}

/// The instance slots one request holds until its guest has finished: its component's, if the component
/// caps its instances, and the host's.
struct Slot {
    _component: Option<OwnedSemaphorePermit>,
    _host: OwnedSemaphorePermit,
}

/// Why a request got no slot.
#[derive(Debug, PartialEq, Eq)]
enum NoSlot {
    /// None became free before the request's deadline.
    InTime,
    /// The host is shutting down.
    Closed,
}

impl Slot {
    /// Waits until `deadline` for a slot of the component (if it has its own), then one of the host's: a
    /// request queued behind its component's busy instances holds none of the host's meanwhile. A request
    /// that gives up leaves nothing behind (the semaphore forgets a dropped waiter).
    async fn take(
        component: Option<&Arc<Semaphore>>,
        host: &Arc<Semaphore>,
        deadline: Instant,
    ) -> Result<Slot, NoSlot> {
        let take = async {
            let component = match component {
                Some(slots) => Some(slots.clone().acquire_owned().await.map_err(|_| NoSlot::Closed)?),
                None => None,
            };
            let host = host.clone().acquire_owned().await.map_err(|_| NoSlot::Closed)?;
            Ok(Slot { _component: component, _host: host })
        };
        tokio::time::timeout_at(deadline, take).await.unwrap_or(Err(NoSlot::InTime))
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

/// Replaces any client-sent `spin-*` headers with the ones Spin sets.
fn set_spin_headers(
    parts: &mut http::request::Parts,
    found: &crate::router::RouteMatch<'_, usize>,
    client: std::net::SocketAddr,
) {
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

fn too_large(limit: u64) -> HostResponse {
    error_response(413, "payload_too_large", &format!("request body is larger than {limit} bytes"))
}

fn busy_response() -> HostResponse {
    error_response(503, "unavailable", "the server is busy: no instance became free within the request timeout")
}

fn timeout_response() -> HostResponse {
    error_response(504, "timeout", "the request took too long")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deadline `ms` milliseconds from now.
    fn after(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[tokio::test]
    async fn a_request_waits_for_its_components_slot_until_its_deadline_and_holds_none_of_the_hosts() {
        let component = Arc::new(Semaphore::new(2));
        let host = Arc::new(Semaphore::new(4));
        let first = Slot::take(Some(&component), &host, after(1000)).await.unwrap();
        let second = Slot::take(Some(&component), &host, after(1000)).await.unwrap();
        assert_eq!((component.available_permits(), host.available_permits()), (0, 2));

        // The component's slots are taken: a third waits until its deadline, holding none of the host's.
        let started = Instant::now();
        let third = tokio::spawn({
            let (component, host) = (component.clone(), host.clone());
            async move { Slot::take(Some(&component), &host, after(600)).await.err() }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(host.available_permits(), 2, "a waiting request holds no slot of the host's");
        let other = Slot::take(None, &host, after(1000)).await.expect("another component is served");
        assert!(started.elapsed() < Duration::from_millis(400), "at once: {:?}", started.elapsed());
        assert_eq!(third.await.unwrap(), Some(NoSlot::InTime));
        assert!(started.elapsed() >= Duration::from_millis(600), "{:?}", started.elapsed());
        drop(other);

        // Once one finishes, the next request gets its slot: the one that gave up left no waiter behind.
        drop(first);
        let fourth = Slot::take(Some(&component), &host, after(1000)).await.unwrap();
        assert_eq!((component.available_permits(), host.available_permits()), (0, 2));
        drop((second, fourth));
        assert_eq!((component.available_permits(), host.available_permits()), (2, 4));
    }

    #[tokio::test]
    async fn a_request_that_got_its_components_slot_but_none_of_the_hosts_gives_it_back() {
        let component = Arc::new(Semaphore::new(2));
        let host = Arc::new(Semaphore::new(1));
        let held = Slot::take(None, &host, after(1000)).await.unwrap();
        let waited = Slot::take(Some(&component), &host, after(300)).await;
        assert_eq!(waited.err(), Some(NoSlot::InTime));
        assert_eq!((component.available_permits(), host.available_permits()), (2, 0));
        drop(held);
        host.close();
        let closed = Slot::take(Some(&component), &host, after(1000)).await;
        assert_eq!(closed.err(), Some(NoSlot::Closed));
        assert_eq!(component.available_permits(), 2);
    }
}
