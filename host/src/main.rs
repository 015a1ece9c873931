//! `conveyor`: build and serve the Conveyor Spin application locally.

use anyhow::Result;
use clap::{Parser, Subcommand};
use conveyor::ConnectionLimits;
use conveyor::manifest::App;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "conveyor", version, about = "Build and serve Conveyor's Spin components locally")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run every component's build command from spin.toml (like `spin build`).
    Build {
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
    },
    /// Serve the application (like `spin up`).
    Up {
        /// Build the components first.
        #[arg(long)]
        build: bool,
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: std::net::SocketAddr,
        /// Where the database, key-value store, admin token and compile cache live.
        #[arg(long, default_value = ".conveyor")]
        data_dir: PathBuf,
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        /// Seconds a request may take, waiting for an instance included (503 then, 504 once running), for
        /// components that set no `[component.<id>.tool.conveyor] request_timeout_seconds`.
        #[arg(long, default_value_t = 30)]
        request_timeout: u64,
        /// Largest request body in bytes (413 beyond), for components that set no
        /// `[component.<id>.tool.conveyor] max_request_body`.
        #[arg(long, default_value_t = conveyor::Limits::default().max_body)]
        max_request_body: usize,
        #[command(flatten)]
        connections: ConnectionFlags,
        /// Spin's runtime-config TOML: where each `sqlite_database` and `key_value_store` label lives.
        #[arg(long)]
        runtime_config_file: Option<PathBuf>,
    },
}

/// What a client connection may do (docs/limits.md).
#[derive(clap::Args)]
struct ConnectionFlags {
    /// Seconds a client has to send a complete request head, from connecting or from its previous
    /// response (so also how long an idle keep-alive connection stays open).
    #[arg(long, default_value_t = ConnectionLimits::default().header_timeout.as_secs())]
    header_timeout: u64,
    /// Largest request head (request line and headers) in bytes: 431 beyond.
    #[arg(long, default_value_t = ConnectionLimits::default().max_header_bytes)]
    max_header_bytes: usize,
    /// Most header fields in one request: 431 beyond.
    #[arg(long, default_value_t = ConnectionLimits::default().max_headers)]
    max_headers: usize,
    /// Connections open at once; at the cap, a new connection closes the longest-idle one.
    #[arg(long, default_value_t = ConnectionLimits::default().max_connections)]
    max_connections: usize,
}

impl ConnectionFlags {
    fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout),
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_connections: self.max_connections,
        }
    }
}

fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("conveyor: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Commands::Build { manifest } => conveyor::build::build(&App::load(&manifest)?),
        Commands::Up {
            build,
            listen,
            data_dir,
            manifest,
            request_timeout,
            max_request_body,
            connections,
            runtime_config_file,
        } => {
            if build {
                conveyor::build::build(&App::load(&manifest)?)?;
            }
            let mut options = conveyor::HostOptions::new(manifest, data_dir);
            options.listen = listen;
            options.limits.request_timeout = std::time::Duration::from_secs(request_timeout);
            options.limits.max_body = max_request_body;
            options.connections = connections.limits();
            options.runtime_config = runtime_config_file;
            tokio::runtime::Runtime::new()?.block_on(serve(options))
        }
    }
}

async fn serve(options: conveyor::HostOptions) -> Result<()> {
    // Listen for the stop signals before the URL is printed: a signal sent as soon as a supervisor (or a
    // test) reads the URL must stop the host cleanly, not meet the default action and kill it.
    let stop = StopSignals::listen()?;
    let host = conveyor::start(options).await?;
    announce(&host);
    stop.received().await;
    eprintln!("conveyor: shutting down, finishing in-flight requests");
    host.stop().await
}

/// Prints the URL and, on first start, the admin token. A supervisor may close our standard output once it
/// has read what it needs; the host goes on serving, so a failed write is not an error (`println!` would panic).
fn announce(host: &conveyor::RunningHost) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Serving {}", host.url());
    if let Some(token) = &host.admin_token {
        let _ = writeln!(out, "Admin token: {token}");
    }
    let _ = out.flush();
}

/// SIGINT and SIGTERM, listened for from creation on.
#[cfg(unix)]
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignals {
    fn listen() -> Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    async fn received(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Ctrl-C, where there are no Unix signals.
#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn listen() -> Result<StopSignals> {
        Ok(StopSignals)
    }

    async fn received(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
