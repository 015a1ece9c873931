//! The floor: the same claim and release service calls the tasks component makes, run natively through
//! core's rusqlite `Db` with the same concurrency — no HTTP, no wasm.

use crate::stats::{Recorder, Summary, rss_mib};
use anyhow::{Result, anyhow};
use conveyor_core::connection::NativeDb;
use conveyor_core::domain::task::{BatchReleaseItem, ReleaseRequest, TaskSpec};
use conveyor_core::platform::MemoryKv;
use conveyor_core::tasks::{self, ClaimTarget};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn now() -> i64 {
    conveyor_core::clock::now()
}

/// Prepares a project, `workers` workers and `preload` tasks in a fresh database file; answers ids.
fn prepare(path: &Path, workers: usize, preload: usize) -> Result<(i64, Vec<i64>)> {
    let db = NativeDb::open(path).map_err(|e| anyhow!("{e}"))?;
    let input = serde_json::from_value(serde_json::json!({ "name": "floor", "visibility": "public" }))?;
    let project = conveyor_core::projects::create(&db, None, &input, now()).map_err(|e| anyhow!("{e}"))?;
    let mut ids = Vec::new();
    for i in 0..workers {
        let input = serde_json::from_value(serde_json::json!({ "alias": format!("floor-{i}") }))?;
        let worker = conveyor_core::workers::register(&db, &input, now()).map_err(|e| anyhow!("{e}"))?;
        ids.push(worker.worker.id);
    }
    let kv = MemoryKv::default();
    for chunk in 0..preload.div_ceil(1000) {
        let specs: Vec<TaskSpec> = (0..1000)
            .map(|i| serde_json::from_value(serde_json::json!({ "recipe": format!("floor-{chunk}-{i}") })))
            .collect::<Result<_, _>>()?;
        tasks::bulk_submit(&db, &kv, &project, &specs, now()).map_err(|e| anyhow!("{e}"))?;
    }
    Ok((project.id, ids))
}

/// Runs `workers` threads looping claim → release OK for the plan's duration after warm-up; with `batch`,
/// claims that many at once and releases them in one batch (units: tasks).
pub fn run(
    dir: &Path,
    workers: usize,
    preload: usize,
    batch: Option<usize>,
    warmup: Duration,
    duration: Duration,
) -> Result<Summary> {
    let path = dir.join("floor.db");
    let (project_id, worker_ids) = prepare(&path, workers, preload)?;
    let recorder = Arc::new(Recorder::default());
    let start = Instant::now();
    let (measure_from, end) = (start + warmup, start + warmup + duration);
    let threads: Vec<_> = worker_ids
        .into_iter()
        .map(|worker| {
            let (recorder, path) = (recorder.clone(), path.clone());
            std::thread::spawn(move || -> Result<()> {
                let db = NativeDb::open(&path).map_err(|e| anyhow!("{e}"))?;
                let kv = MemoryKv::default();
                let project = conveyor_core::projects::get(&db, project_id).map_err(|e| anyhow!("{e}"))?;
                let release = ReleaseRequest { result: 0, verification: None, output: None };
                while Instant::now() < end {
                    let began = Instant::now();
                    let target = ClaimTarget::Project(&project);
                    let outcome = match batch {
                        None => match tasks::claim(&db, &kv, worker, target, now()) {
                            Ok(Some(task)) => tasks::release(&db, worker, task.id, &release, now()).map(|_| 1),
                            Ok(None) => Err(conveyor_core::ApiError::NotFound("drained".into())),
                            Err(error) => Err(error),
                        },
                        Some(max) => match tasks::claim_many(&db, &kv, worker, target, max, now()) {
                            Ok(claimed) if claimed.is_empty() => {
                                Err(conveyor_core::ApiError::NotFound("drained".into()))
                            }
                            Ok(claimed) => {
                                let items: Vec<BatchReleaseItem> = claimed
                                    .iter()
                                    .map(|task| BatchReleaseItem {
                                        id: task.id,
                                        result: 0,
                                        verification: None,
                                        output: None,
                                    })
                                    .collect();
                                tasks::release_many(&db, worker, &items, now()).map(|answers| answers.len() as u64)
                            }
                            Err(error) => Err(error),
                        },
                    };
                    if began >= measure_from {
                        match outcome {
                            Ok(units) => recorder.ok(began.elapsed(), units),
                            // A lock the floor's connection did not get in time: its own retry.
                            Err(conveyor_core::ApiError::Internal(m)) if m.contains("locked") || m.contains("busy") => {
                                recorder.busy()
                            }
                            Err(error) => recorder.error(error.status()),
                        }
                    }
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| anyhow!("a floor thread panicked"))??;
    }
    let threads = format!("{workers} thread{}", if workers == 1 { "" } else { "s" });
    Ok(match batch {
        None => recorder.summary(
            &format!("floor: native claim+release, {threads}"),
            "cycles/s",
            duration.as_secs_f64(),
            rss_mib(),
        ),
        Some(max) => recorder.summary(
            &format!("floor: native batch {max}+{max}, {threads}"),
            "tasks/s",
            duration.as_secs_f64(),
            rss_mib(),
        ),
    })
}
