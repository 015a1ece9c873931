//! `conveyor-bench`: starts a fresh release host on a temporary data directory, runs every scenario for a
//! fixed duration after warm-up, checks correctness, and writes `bench/results/latest.json` plus a table.
//! Figures are ratios measured in one run on one machine; see bench/README.md.

mod client;
mod floor;
mod scenarios;
mod stats;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use client::Api;
use scenarios::{Holders, Plan};
use serde_json::json;
use stats::Summary;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "Conveyor load benchmark")]
struct Args {
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Warm-up seconds per scenario (not recorded).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent workers in the cycle, mixed and floor scenarios.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// Concurrent clients in the overhead and submit scenarios.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Tasks preloaded for the cycle and floor scenarios.
    #[arg(long, default_value_t = 60_000)]
    preload: usize,
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only these scenarios (comma-separated), e.g. to profile one; the default runs all.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
}

/// The scenarios, as `--only` names them.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Scenario {
    Overhead,
    Single,
    Bulk,
    Cycle,
    Mixed,
    Floor,
}

impl Args {
    fn runs(&self, scenario: Scenario) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ has a parent").to_path_buf()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let manifest = repo().join("spin.toml");
    conveyor::build::build(&conveyor::manifest::App::load(&manifest)?)?;
    let data = repo().join("target/bench-data").join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(run(&args, manifest, &data));
    let _ = std::fs::remove_dir_all(&data);
    result
}

async fn run(args: &Args, manifest: PathBuf, data: &std::path::Path) -> Result<()> {
    let mut options = conveyor::HostOptions::new(manifest, data.join("host"));
    options.cache_dir = Some(repo().join("target/bench-cache"));
    let host = conveyor::start(options).await?;
    let api = Arc::new(Api::new(host.url(), host.admin_token.clone().context("the app declares admin_token")?));
    let plan = Plan { warmup: Duration::from_secs(args.warmup), duration: Duration::from_secs(args.duration) };
    eprintln!("bench: host at {}; {:?} per scenario", host.url(), plan);

    let mut submitted: u64 = 0;
    let mut results: Vec<Summary> = Vec::new();
    if args.runs(Scenario::Overhead) {
        results.push(scenarios::overhead(api.clone(), plan, args.clients).await);
    }
    if args.runs(Scenario::Single) {
        let project = api.create_project("bench-single", 0).await?;
        let (summary, created) = scenarios::submit_single(api.clone(), project, plan, args.clients).await;
        results.push(summary);
        submitted += created;
    }
    if args.runs(Scenario::Bulk) {
        let project = api.create_project("bench-bulk", 0).await?;
        let (summary, created) = scenarios::submit_bulk(api.clone(), project, plan, 2).await;
        results.push(summary);
        submitted += created;
    }

    let mut workers = Vec::new();
    for i in 0..args.workers {
        workers.push(api.register_worker(&format!("bench-{i}")).await?);
    }
    let workers = Arc::new(workers);
    let holders = Arc::new(Holders::default());
    if args.runs(Scenario::Cycle) {
        let project = api.create_project("bench-cycle", 0).await?;
        api.preload(project, args.preload, "cycle").await?;
        submitted += args.preload as u64;
        results.push(scenarios::cycles(api.clone(), workers.clone(), project, plan, holders.clone()).await);
    }
    if args.runs(Scenario::Mixed) {
        let mut projects = Vec::new();
        for (i, priority) in [3, 2, 1, 0].iter().enumerate() {
            let project = api.create_project(&format!("bench-mixed-{i}"), *priority).await?;
            api.preload(project, args.preload / 4, &format!("mixed{i}")).await?;
            submitted += (args.preload / 4) as u64;
            projects.push(project);
        }
        let (summaries, created) =
            scenarios::mixed(api.clone(), workers.clone(), Arc::new(projects), plan, holders.clone()).await;
        results.extend(summaries);
        submitted += created;
    }

    // Correctness over everything the host did: none lost, none held twice, no 5xx.
    let all = api.count("").await?;
    let by_status: Vec<i64> = status_counts(&api).await?;
    let closed = api.count("status=closed").await?;
    let violations = holders.violations.load(Ordering::SeqCst);
    let server_errors: u64 = results.iter().map(|r| r.server_errors).sum();
    host.stop().await?;

    if args.runs(Scenario::Floor) {
        // The floor at the workers' concurrency (the ratio's denominator), then with one thread: with no
        // lock contention at all, the SQL's own cost.
        for threads in [args.workers, 1] {
            let floor_dir = data.join(format!("floor-{threads}"));
            std::fs::create_dir_all(&floor_dir)?;
            results.push(floor::run(&floor_dir, threads, args.preload, plan.warmup, plan.duration)?);
        }
    }

    let find = |prefix: &str| results.iter().find(|r| r.scenario.starts_with(prefix));
    let (cycle, single, bulk, floor) = (find("cycle"), find("submit: single"), find("submit: bulk"), find("floor"));
    let ratio = cycle.zip(floor).map(|(cycle, floor)| cycle.throughput / floor.throughput.max(f64::MIN_POSITIVE));
    // A target whose scenario did not run is null.
    let targets = json!({
        "cycle >= 2000/s": cycle.map(|c| c.throughput >= 2000.0),
        "cycle p99 <= 10 ms": cycle.map(|c| c.p99_ms <= 10.0),
        "submit single >= 3000/s": single.map(|s| s.throughput >= 3000.0),
        "bulk >= 50000 tasks/s": bulk.map(|b| b.throughput >= 50_000.0),
        "cycle / floor >= 0.25": ratio.map(|r| r >= 0.25),
    });
    let correctness = json!({
        "submitted": submitted, "stored": all, "by_status_sum": by_status.iter().sum::<i64>(), "closed": closed,
        "cycles_completed": holders.cycles.load(Ordering::SeqCst), "held_twice": violations, "server_errors": server_errors,
    });
    print_table(&results, ratio, &targets, &correctness);
    let report = json!({
        "machine": { "cores": std::thread::available_parallelism().map_or(0, |n| n.get()) },
        "plan": { "warmup_s": args.warmup, "duration_s": args.duration, "workers": args.workers, "clients": args.clients },
        "results": results, "cycle_over_floor": ratio, "targets": targets, "correctness": correctness,
    });
    let out = args.out.clone().unwrap_or_else(|| repo().join("bench/results/latest.json"));
    std::fs::create_dir_all(out.parent().context("output has a directory")?)?;
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("bench: wrote {}", out.display());

    ensure!(all == submitted as i64, "tasks lost or invented: submitted {submitted}, stored {all}");
    ensure!(by_status.iter().sum::<i64>() == all, "statuses do not add up to the total");
    ensure!(violations == 0, "{violations} tasks were held by two workers at once");
    ensure!(server_errors == 0, "{server_errors} responses were 5xx");
    Ok(())
}

async fn status_counts(api: &Api) -> Result<Vec<i64>> {
    let mut counts = Vec::new();
    for status in ["new", "assigned", "closed", "failed", "cancelled"] {
        counts.push(api.count(&format!("status={status}")).await?);
    }
    Ok(counts)
}

fn print_table(results: &[Summary], ratio: Option<f64>, targets: &serde_json::Value, correctness: &serde_json::Value) {
    println!(
        "{:<36} {:>12} {:<9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8}",
        "scenario", "throughput", "unit", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "RSS MiB"
    );
    for r in results {
        println!(
            "{:<36} {:>12.0} {:<9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>8.0}",
            r.scenario, r.throughput, r.unit, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.errors, r.rss_mib
        );
    }
    if let Some(ratio) = ratio {
        println!("cycle / floor = {ratio:.3}");
    }
    println!("targets: {targets}");
    println!("correctness: {correctness}");
}
