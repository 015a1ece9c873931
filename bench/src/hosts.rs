//! Our host and real Spin side by side (`--spin-bin`): each serves the same built app on a fresh data
//! directory and runs the same scenarios at the same concurrency (health, single submit, claim → release),
//! then a bare spin-sdk component (the test fixture) on the same database: one SQLite read that needs no
//! table (`GET /fixture/sqlite`), the most a request on this database can do on that host and the ceiling the
//! app's figures are compared to, and a read of the schema table (`GET /fixture/schema`); then the first read
//! again on a database with no schema, what the host allows a request when no schema has to be parsed (on
//! Spin every connection parses the whole schema on its first statement, docs/spin.md).

use crate::client::{Api, Auth};
use crate::scenarios::{self, Holders, Plan};
use crate::stats::Summary;
use anyhow::{Context, Result, ensure};
use conveyor_tests::SpinUp;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which host serves a pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Host {
    Ours,
    Spin,
}

impl Host {
    /// The name the table and `latest.json` give it.
    pub fn name(self) -> &'static str {
        match self {
            Host::Ours => "conveyor up",
            Host::Spin => "spin up",
        }
    }
}

/// A host serving one manifest on a fresh directory: ours in this process, or a `spin up` child.
enum Serving {
    Ours(conveyor::RunningHost),
    Spin(SpinUp),
}

impl Serving {
    async fn start(host: Host, spin: &Path, manifest: PathBuf, dir: &Path, cache: &Path) -> Result<(Serving, Api)> {
        std::fs::create_dir_all(dir)?;
        Ok(match host {
            Host::Ours => {
                let mut options = conveyor::HostOptions::new(manifest, dir);
                options.cache_dir = Some(cache.to_path_buf());
                let running = conveyor::start(options).await?;
                let api = Api::new(running.url(), running.admin_token.clone().unwrap_or_default());
                (Serving::Ours(running), api)
            }
            Host::Spin => {
                let up = SpinUp::start(spin, &manifest, dir, &HashMap::new()).await?;
                let api = Api::new(up.url.clone(), up.admin_token.clone());
                (Serving::Spin(up), api)
            }
        })
    }

    async fn stop(self) -> Result<()> {
        match self {
            Serving::Ours(running) => running.stop().await,
            Serving::Spin(up) => {
                up.stop();
                Ok(())
            }
        }
    }
}

/// One host's pass: the app's scenarios with `concurrency` clients and workers, then the bare read; checks
/// none lost, none held twice, no errors. Answers the summaries in a fixed order.
pub async fn pass(
    host: Host,
    spin: &Path,
    repo: &Path,
    dir: &Path,
    plan: Plan,
    concurrency: usize,
    preload: usize,
) -> Result<Vec<Summary>> {
    let cache = repo.join("target/bench-cache");
    let (serving, api) = Serving::start(host, spin, repo.join("spin.toml"), &dir.join("app"), &cache).await?;
    let api = Arc::new(api);
    let mut results = vec![scenarios::overhead(api.clone(), plan, concurrency).await];
    let project = api.create_project("hosts-single", 0).await?;
    let (single, mut submitted) = scenarios::submit_single(api.clone(), project, plan, concurrency).await;
    results.push(single);
    let mut workers = Vec::new();
    for i in 0..concurrency {
        workers.push(api.register_worker(&format!("hosts-{i}")).await?);
    }
    let project = api.create_project("hosts-cycle", 0).await?;
    api.preload(project, preload, "hosts").await?;
    submitted += preload as u64;
    let holders = Arc::new(Holders::default());
    let name = format!("cycle: claim+release ({concurrency} workers)");
    results.push(scenarios::cycles(api.clone(), Arc::new(workers), project, plan, holders.clone(), &name).await);
    let stored = api.count("").await?;
    serving.stop().await?;
    ensure!(stored == submitted as i64, "{}: {submitted} submitted, {stored} stored", host.name());
    ensure!(holders.violations() == 0, "{}: {} tasks held twice", host.name(), holders.violations());

    // The fixture on the app's database: its schema is the app's.
    let fixture = repo.join("tests/fixture/spin.toml");
    let (serving, api) = Serving::start(host, spin, fixture.clone(), &dir.join("app"), &cache).await?;
    let api = Arc::new(api);
    let bare = "bare component: one SQLite read";
    results.push(scenarios::gets(api.clone(), "/fixture/sqlite", bare, plan, concurrency).await);
    let schema = "bare component: one read, app's schema";
    results.push(scenarios::gets(api, "/fixture/schema", schema, plan, concurrency).await);
    serving.stop().await?;

    // The same read on a database with no schema: what the host itself allows a request.
    let (serving, api) = Serving::start(host, spin, fixture, &dir.join("empty"), &cache).await?;
    let (status, answer) = api.send("GET", "/fixture/schema", Auth::None, None).await?;
    let answer = String::from_utf8_lossy(&answer);
    let objects: String = answer.chars().filter(char::is_ascii_digit).collect();
    // Our host keeps its HTTP request counts in one table of its own there (docs/metrics.md).
    let own = if host == Host::Ours { 1 } else { 0 };
    ensure!(
        status == 200 && objects.parse() == Ok(own),
        "{}: the empty database answered {status} {answer}",
        host.name()
    );
    let empty = "bare component: one read, empty database";
    results.push(scenarios::gets(Arc::new(api), "/fixture/sqlite", empty, plan, concurrency).await);
    serving.stop().await?;
    for summary in &results {
        ensure!(summary.errors == 0, "{} on {}: {} errors", summary.scenario, host.name(), summary.errors);
    }
    Ok(results)
}

/// Builds the test fixture's component (the bare read), as the harness does.
pub fn build_fixture(repo: &Path) -> Result<()> {
    let fixture = conveyor::manifest::App::load(&repo.join("tests/fixture/spin.toml"))?;
    conveyor::build::build(&fixture).context("building the test fixture")
}

/// Prints the passes side by side with ours ÷ Spin.
pub fn print(ours: &[Summary], spin: &[Summary]) {
    println!(
        "{:<40} {:>14} {:>14} {:>9} {:>10} {:>10}",
        "hosts, same app", "conveyor up", "spin up", "ratio", "p99 ours", "p99 spin"
    );
    for (a, b) in ours.iter().zip(spin) {
        let ratio = if b.throughput > 0.0 { a.throughput / b.throughput } else { f64::NAN };
        println!(
            "{:<40} {:>14.0} {:>14.0} {:>8.1}x {:>10.2} {:>10.2}",
            a.scenario, a.throughput, b.throughput, ratio, a.p99_ms, b.p99_ms
        );
    }
}

/// The share of the ceiling (the bare read's requests per second) that a scenario's requests reach on one
/// host: a cycle is two requests.
pub fn of_ceiling(results: &[Summary]) -> Vec<(String, f64)> {
    let Some(ceiling) =
        results.iter().find(|r| r.scenario.starts_with("bare component: one SQLite")).map(|r| r.throughput)
    else {
        return Vec::new();
    };
    let requests = |r: &Summary| if r.scenario.starts_with("cycle") { 2.0 } else { 1.0 } * r.throughput;
    results
        .iter()
        .filter(|r| !r.scenario.starts_with("bare") && ceiling > 0.0)
        .map(|r| (r.scenario.clone(), requests(r) / ceiling))
        .collect()
}
