//! Starting and stopping a host: what `conveyor up` and the integration tests both use.

use crate::connections::ConnectionLimits;
use crate::engine::Limits;
use crate::manifest::App;
use crate::metrics::flush::Flusher;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::runtime_config::Stores;
use crate::tick::Ticks;
use crate::variables::Environment;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The database the request metrics go to.
const DEFAULT_DATABASE: &str = "default";

/// How to start a host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub manifest: PathBuf,
    pub data_dir: PathBuf,
    /// Compiled-component cache; defaults to `<data-dir>/cache`.
    pub cache_dir: Option<PathBuf>,
    pub listen: SocketAddr,
    pub limits: Limits,
    /// What a client connection may do (request head time and size, connections open at once).
    pub connections: ConnectionLimits,
    /// Variable values that win over the environment (tests).
    pub variables: HashMap<String, String>,
    /// Spin's runtime-config file (`--runtime-config-file`): where each database and store lives.
    pub runtime_config: Option<PathBuf>,
    /// Whether to fire the manifest's `[[application.tool.conveyor.tick]]` routes (tests that call those
    /// routes themselves, at controlled times, turn this off).
    pub ticks: bool,
}

impl HostOptions {
    /// Options for `manifest` with a data directory, listening on an ephemeral loopback port.
    pub fn new(manifest: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> HostOptions {
        HostOptions {
            manifest: manifest.into(),
            data_dir: data_dir.into(),
            cache_dir: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            limits: Limits::default(),
            connections: ConnectionLimits::default(),
            variables: HashMap::new(),
            runtime_config: None,
            ticks: true,
        }
    }
}

/// A host serving in the background of the current tokio runtime.
pub struct RunningHost {
    pub addr: SocketAddr,
    /// The built-in administrator's token (the `admin_token` variable), if the app declares one.
    pub admin_token: Option<String>,
    pub runtime: Arc<Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
    ticks: Ticks,
    /// Adds the request metrics to the `default` database (none without one).
    flusher: Option<Flusher>,
}

impl RunningHost {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and ticking, waits for in-flight requests (ticks' too), flushes the request metrics,
    /// and returns.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.ticks.stop().await;
        let served = (&mut self.task).await;
        if let Some(flusher) = self.flusher.take() {
            flusher.stop().await;
        }
        served?
    }
}

/// Loads the manifest, resolves variables, compiles components, starts serving and ticking.
pub async fn start(options: HostOptions) -> Result<RunningHost> {
    let app = App::load(&options.manifest)?;
    let stores = match &options.runtime_config {
        Some(file) => Stores::load(file, &options.data_dir)?,
        None => Stores::defaults(&options.data_dir),
    };
    let environment = Environment { overrides: options.variables.clone() };
    let variables = crate::variables::resolve(&app.manifest, &options.data_dir, &environment)?;
    let ticks = if options.ticks { app.manifest.ticks.clone() } else { Vec::new() };
    let admin_token = variables.get(crate::variables::ADMIN_TOKEN).filter(|t| !t.is_empty()).cloned();
    let config = RuntimeOptions {
        stores,
        cache_dir: options.cache_dir.clone().unwrap_or_else(|| options.data_dir.join("cache")),
        limits: options.limits.clone(),
        variables,
    };
    let runtime = Arc::new(tokio::task::spawn_blocking(move || Runtime::new(&app, config)).await??);
    let flusher = match runtime.database(DEFAULT_DATABASE) {
        Some(database) => {
            crate::metrics::flush::create_table(database.as_ref()).await?;
            Some(Flusher::start(runtime.requests().clone(), database, crate::metrics::flush::EVERY))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let addr = listener.local_addr()?;
    let connections = fit_under_open_files(options.connections.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(crate::server::serve(runtime.clone(), listener, connections, async {
        let _ = stopped.await;
    }));
    let ticks = Ticks::start(&runtime, &ticks, addr);
    Ok(RunningHost { addr, admin_token, runtime, stop: Some(stop), task, ticks, flusher })
}

/// `limits` with the connection cap lowered, if need be, to what the open-files limit allows (raised to its
/// hard limit first).
fn fit_under_open_files(mut limits: ConnectionLimits) -> ConnectionLimits {
    let open_files = crate::connections::raise_open_files_limit();
    let cap = crate::connections::fitted_cap(limits.max_connections, open_files);
    if cap < limits.max_connections {
        eprintln!(
            "conveyor: at most {cap} connections, not {}: the open-files limit is {open_files}",
            limits.max_connections
        );
        limits.max_connections = cap;
    }
    limits
}
