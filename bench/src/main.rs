//! `conveyor-bench`: starts a fresh release host on a temporary data directory, runs every scenario for a
//! fixed duration after warm-up, checks correctness, and writes `bench/results/latest.json` plus a table.
//! Figures are ratios measured in one run on one machine; see bench/README.md.

mod client;
mod floor;
mod hosts;
mod peer;
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
    /// Tasks preloaded for each native floor run (a thread loops faster than the HTTP cycle).
    #[arg(long, default_value_t = 200_000)]
    floor_preload: usize,
    /// Tasks preloaded for the batch cycle (it drains ~40,000 a second; a drained project shows as errors).
    #[arg(long, default_value_t = 1_000_000)]
    batch_preload: usize,
    /// Tasks per batch claim and release in the batch cycle.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Workers in the low-concurrency cycle (its p99 is a target).
    #[arg(long, default_value_t = 4)]
    few_workers: usize,
    /// Tasks the data directory holds (topped up with bulks) before the restart is measured.
    #[arg(long, default_value_t = 1_000_000)]
    restart_tasks: usize,
    #[arg(long)]
    out: Option<PathBuf>,
    /// A `spin` binary (Spin 4.0.2): also serve the app on it and on our host, fresh, side by side.
    #[arg(long)]
    spin_bin: Option<PathBuf>,
    /// Clients and workers in the host comparison.
    #[arg(long, default_value_t = 16)]
    spin_concurrency: usize,
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
    /// The cycle with `--few-workers` workers.
    Cycle4,
    Batch,
    Mixed,
    Floor,
    /// Stop the host and start it again on the same data directory and compile cache.
    Restart,
    /// beanstalkd, reserve → delete with the same workers (skipped when not installed).
    Peer,
    /// Our host and `spin up` side by side (skipped without `--spin-bin`).
    Hosts,
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
    let result = runtime.block_on(run(&args, &data));
    let _ = std::fs::remove_dir_all(&data);
    result
}

async fn run(args: &Args, data: &std::path::Path) -> Result<()> {
    let host = conveyor::start(host_options(data)).await?;
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
        let name = format!("cycle: claim+release ({} workers)", workers.len());
        results.push(scenarios::cycles(api.clone(), workers.clone(), project, plan, holders.clone(), &name).await);
    }
    if args.runs(Scenario::Cycle4) {
        let project = api.create_project("bench-cycle-few", 0).await?;
        api.preload(project, args.preload, "few").await?;
        submitted += args.preload as u64;
        let few = Arc::new(workers[..args.few_workers.min(workers.len())].to_vec());
        let name = format!("cycle: claim+release ({} workers)", few.len());
        results.push(scenarios::cycles(api.clone(), few, project, plan, holders.clone(), &name).await);
    }
    if args.runs(Scenario::Batch) {
        let project = api.create_project("bench-batch", 0).await?;
        api.preload(project, args.batch_preload, "batch").await?;
        submitted += args.batch_preload as u64;
        results.push(
            scenarios::batch_cycles(api.clone(), workers.clone(), project, args.batch, plan, holders.clone()).await,
        );
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
    let mut restart = None;
    let checked = submitted;
    if args.runs(Scenario::Restart) {
        // Top the data directory up to `restart_tasks` tasks, stop, start again on the same directory and
        // compile cache, and time the first 200 of a health check and of a task listing.
        if (all as usize) < args.restart_tasks {
            let project = api.create_project("bench-restart", 0).await?;
            let missing = args.restart_tasks - all as usize;
            api.preload(project, missing, "restart").await?;
            submitted += missing as u64;
        }
        let before = api.count("").await?;
        host.stop().await?;
        let began = std::time::Instant::now();
        let host = conveyor::start(host_options(data)).await?;
        let api = Api::new(host.url(), host.admin_token.clone().context("admin token")?);
        let health = first_ok(&api, "/api/v1/health", client::Auth::None, began).await?;
        let listing = first_ok(&api, "/api/v1/tasks?limit=1", client::Auth::Admin, began).await?;
        let after = api.count("").await?;
        let metrics = time_metrics(&api).await?;
        host.stop().await?;
        ensure!(
            after == before && after == submitted as i64,
            "restart: {submitted} submitted, {before} before, {after} after"
        );
        eprintln!(
            "bench: restart with {after} tasks: health 200 at {health:.0} ms, task listing 200 at {listing:.0} ms; \
             GET /metrics p50 {:.2} ms, max {:.2} ms",
            metrics.0, metrics.1
        );
        restart = Some(json!({ "tasks": after, "first_health_200_ms": health, "first_listing_200_ms": listing,
            "both_ms": health.max(listing), "metrics_p50_ms": metrics.0, "metrics_max_ms": metrics.1 }));
    } else {
        host.stop().await?;
    }

    if args.runs(Scenario::Floor) {
        // The floor at the workers' concurrency (the ratio's denominator), then with one thread: with no
        // lock contention at all, the SQL's own cost.
        for threads in [args.workers, 1] {
            let floor_dir = data.join(format!("floor-{threads}"));
            std::fs::create_dir_all(&floor_dir)?;
            results.push(floor::run(&floor_dir, threads, args.floor_preload, None, plan.warmup, plan.duration)?);
            let _ = std::fs::remove_dir_all(&floor_dir);
        }
    }
    if args.runs(Scenario::Batch) && args.runs(Scenario::Floor) {
        // The batch's SQL natively on one thread: what the one writer can do at most for the batch cycle.
        let floor_dir = data.join("floor-batch");
        std::fs::create_dir_all(&floor_dir)?;
        // One thread claims ~80,000 a second on a quiet machine: preload for the whole run.
        let preload = args.batch_preload.max(2_000_000);
        results.push(floor::run(&floor_dir, 1, preload, Some(args.batch), plan.warmup, plan.duration)?);
        let _ = std::fs::remove_dir_all(&floor_dir);
    }
    let _ = std::fs::remove_dir_all(data.join("host"));
    let mut peer_note = None;
    if args.runs(Scenario::Peer) {
        if peer::installed() {
            let dir = data.join("beanstalkd");
            std::fs::create_dir_all(&dir)?;
            let jobs = args.preload.max(1_500_000);
            results.push(peer::run(&dir, args.workers, jobs, plan).await?);
        } else {
            let note = "beanstalkd is not installed: peer scenario skipped (apt-get install beanstalkd)";
            eprintln!("bench: {note}");
            peer_note = Some(note);
        }
    }

    let mut hosts = None;
    if args.runs(Scenario::Hosts) {
        match &args.spin_bin {
            Some(spin) => {
                hosts::build_fixture(&repo())?;
                // Our host runs the cycle at ~5,000/s: twice the cycle's preload lasts the whole pass.
                let (n, preload) = (args.spin_concurrency, 2 * args.preload);
                let ours = hosts::pass(hosts::Host::Ours, spin, &repo(), &data.join("ours"), plan, n, preload).await?;
                let on_spin =
                    hosts::pass(hosts::Host::Spin, spin, &repo(), &data.join("spin"), plan, n, preload).await?;
                hosts = Some((ours, on_spin));
            }
            None => eprintln!("bench: no --spin-bin: the host comparison is skipped"),
        }
    }

    let find = |prefix: &str| results.iter().find(|r| r.scenario.starts_with(prefix));
    let cycle = find(&format!("cycle: claim+release ({} workers)", args.workers));
    let few = find(&format!("cycle: claim+release ({} workers)", args.few_workers));
    let (single, bulk, floor, batch) = (find("submit: single"), find("submit: bulk"), find("floor"), find("batch"));
    let (health, beanstalkd) = (find("overhead"), find("peer"));
    let over = |a: Option<&Summary>, b: Option<&Summary>| {
        a.zip(b).filter(|(_, b)| b.throughput > 0.0).map(|(a, b)| a.throughput / b.throughput)
    };
    let (ratio, peer_ratio) = (over(cycle, floor), over(cycle, beanstalkd));
    let batch_ratio = over(batch, find("floor: native batch"));
    // A target whose scenario did not run has a null value and is not met.
    let target = |name: &str, value: Option<f64>, unit: &str, goal: &str, met: fn(f64) -> bool| json!({ "name": name, "value": value, "unit": unit, "goal": goal, "met": value.is_some_and(met) });
    let restart_ms = restart.as_ref().and_then(|r| r["both_ms"].as_f64());
    let mut targets = json!([
        target(
            &format!("cycle, {} workers, claim + release", args.workers),
            cycle.map(|c| c.throughput),
            "cycles/s",
            ">= 2000",
            |v| v >= 2000.0
        ),
        target(&format!("cycle, {} workers, p99", args.few_workers), few.map(|c| c.p99_ms), "ms", "<= 10", |v| v
            <= 10.0),
        target(
            &format!("batch cycle, {} workers, claim {} + release {}", args.workers, args.batch, args.batch),
            batch.map(|b| b.throughput),
            "tasks/s",
            ">= 25000",
            |v| v >= 25_000.0
        ),
        target("overhead GET /api/v1/health", health.map(|h| h.throughput), "req/s", ">= 9000", |v| v >= 9000.0),
        target("cycle / native floor", ratio, "ratio", ">= 0.5", |v| v >= 0.5),
        target(
            &format!(
                "restart with {} tasks: first 200",
                restart.as_ref().map_or(0, |r| r["tasks"].as_i64().unwrap_or(0))
            ),
            restart_ms,
            "ms",
            "<= 1000",
            |v| v <= 1000.0
        ),
        target("bulk x1000", bulk.map(|b| b.throughput), "tasks/s", ">= 50000", |v| v >= 50_000.0),
        target("submit single", single.map(|s| s.throughput), "tasks/s", ">= 3000", |v| v >= 3000.0),
    ]);
    if let Some((_, on_spin)) = &hosts {
        let n = args.spin_concurrency;
        let find = |prefix: &str| on_spin.iter().find(|r| r.scenario.starts_with(prefix));
        let cycle = find("cycle");
        let spin_targets = [
            target(&format!("spin up: cycle, {n} workers"), cycle.map(|c| c.throughput), "cycles/s", ">= 700", |v| {
                v >= 700.0
            }),
            target(&format!("spin up: cycle, {n} workers, p99"), cycle.map(|c| c.p99_ms), "ms", "<= 100", |v| {
                v <= 100.0
            }),
            target("spin up: submit single", find("submit: single").map(|s| s.throughput), "tasks/s", ">= 1500", |v| {
                v >= 1500.0
            }),
            target("spin up: GET /api/v1/health", find("overhead").map(|h| h.throughput), "req/s", ">= 2000", |v| {
                v >= 2000.0
            }),
        ];
        targets.as_array_mut().expect("a list").extend(spin_targets);
    }
    let correctness = json!({
        "submitted": checked, "stored": all, "by_status_sum": by_status.iter().sum::<i64>(), "closed": closed,
        "cycles_completed": holders.cycles.load(Ordering::SeqCst), "held_twice": violations, "server_errors": server_errors,
    });
    print_table(&results, [ratio, batch_ratio, peer_ratio], &targets, &correctness);
    let hosts = hosts.map(|(ours, on_spin)| {
        hosts::print(&ours, &on_spin);
        for (scenario, share) in hosts::of_ceiling(&on_spin) {
            println!("spin up: {scenario}: {share:.2} of the bare read's requests/s");
        }
        json!({ "concurrency": args.spin_concurrency, "conveyor_up": ours, "spin_up": on_spin,
            "conveyor_up_of_ceiling": hosts::of_ceiling(&ours), "spin_up_of_ceiling": hosts::of_ceiling(&on_spin) })
    });
    let report = json!({
        "machine": { "cores": std::thread::available_parallelism().map_or(0, |n| n.get()) },
        "plan": { "warmup_s": args.warmup, "duration_s": args.duration, "workers": args.workers, "clients": args.clients },
        "results": results, "cycle_over_floor": ratio, "cycle_over_beanstalkd": peer_ratio, "batch_over_native_batch": batch_ratio, "peer_note": peer_note,
        "restart": restart, "targets": targets, "correctness": correctness, "hosts": hosts,
    });
    let out = args.out.clone().unwrap_or_else(|| repo().join("bench/results/latest.json"));
    std::fs::create_dir_all(out.parent().context("output has a directory")?)?;
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    eprintln!("bench: wrote {}", out.display());

    ensure!(all == checked as i64, "tasks lost or invented: submitted {checked}, stored {all}");
    ensure!(by_status.iter().sum::<i64>() == all, "statuses do not add up to the total");
    ensure!(violations == 0, "{violations} tasks were held by two workers at once");
    ensure!(server_errors == 0, "{server_errors} responses were 5xx");
    // An error is a refused or empty claim: a drained preload would understate the throughput.
    if let Some(r) = results.iter().find(|r| r.errors > 0) {
        anyhow::bail!("{}: {} errors (a drained preload?)", r.scenario, r.errors);
    }
    Ok(())
}

/// The host's options: a data directory under `data`, the shared compile cache.
fn host_options(data: &std::path::Path) -> conveyor::HostOptions {
    let mut options = conveyor::HostOptions::new(repo().join("spin.toml"), data.join("host"));
    options.cache_dir = Some(repo().join("target/bench-cache"));
    options
}

/// Polls `path` until it answers 200; answers the milliseconds since `began` (the start call).
async fn first_ok(api: &Api, path: &str, auth: client::Auth<'_>, began: std::time::Instant) -> Result<f64> {
    loop {
        if let Ok((200, _)) = api.send("GET", path, auth, None).await {
            return Ok(began.elapsed().as_secs_f64() * 1000.0);
        }
        ensure!(began.elapsed() < Duration::from_secs(60), "{path} never answered 200 after the restart");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// `GET /metrics` (as the administrator) on the restarted host's database, 50 times one after another:
/// the median and the slowest, in milliseconds.
async fn time_metrics(api: &Api) -> Result<(f64, f64)> {
    let mut times = Vec::with_capacity(50);
    for _ in 0..50 {
        let began = std::time::Instant::now();
        let (status, body) = api.send("GET", "/metrics", client::Auth::Admin, None).await?;
        ensure!(status == 200, "GET /metrics answered {status}: {}", String::from_utf8_lossy(&body));
        times.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], times[times.len() - 1]))
}

async fn status_counts(api: &Api) -> Result<Vec<i64>> {
    let mut counts = Vec::new();
    for status in ["new", "assigned", "closed", "failed", "cancelled"] {
        counts.push(api.count(&format!("status={status}")).await?);
    }
    Ok(counts)
}

fn print_table(
    results: &[Summary],
    [ratio, batch_ratio, peer_ratio]: [Option<f64>; 3],
    targets: &serde_json::Value,
    correctness: &serde_json::Value,
) {
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
    if let Some(ratio) = batch_ratio {
        println!("batch / native batch (1 thread) = {ratio:.3}");
    }
    if let Some(ratio) = peer_ratio {
        println!("cycle / beanstalkd = {ratio:.3}");
    }
    for t in targets.as_array().into_iter().flatten() {
        println!(
            "target {:<48} {:>12} {:<8} goal {:<8} met {}",
            t["name"].as_str().unwrap_or(""),
            t["value"].as_f64().map_or("-".into(), |v| format!("{v:.2}")),
            t["unit"].as_str().unwrap_or(""),
            t["goal"].as_str().unwrap_or(""),
            t["met"]
        );
    }
    println!("correctness: {correctness}");
}
