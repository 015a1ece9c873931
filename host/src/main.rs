//! `conveyor`: build and serve the Conveyor Spin application locally.

use anyhow::Result;
use clap::{Parser, Subcommand};
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
        /// Seconds a request may run before it is answered 504.
        #[arg(long, default_value_t = 30)]
        request_timeout: u64,
        /// Spin's runtime-config TOML: where each `sqlite_database` and `key_value_store` label lives.
        #[arg(long)]
        runtime_config_file: Option<PathBuf>,
    },
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
        Commands::Up { build, listen, data_dir, manifest, request_timeout, runtime_config_file } => {
            if build {
                conveyor::build::build(&App::load(&manifest)?)?;
            }
            let mut options = conveyor::HostOptions::new(manifest, data_dir);
            options.listen = listen;
            options.limits.request_timeout = std::time::Duration::from_secs(request_timeout);
            options.runtime_config = runtime_config_file;
            tokio::runtime::Runtime::new()?.block_on(serve(options))
        }
    }
}

async fn serve(options: conveyor::HostOptions) -> Result<()> {
    let host = conveyor::start(options).await?;
    println!("Serving {}", host.url());
    if let Some(token) = &host.admin_token {
        println!("Admin token: {token}");
    }
    shutdown_signal().await;
    eprintln!("conveyor: shutting down, finishing in-flight requests");
    host.stop().await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
