//! The HTTP scenarios. Each runs its loops for a warm-up (not recorded) and then a fixed measured duration.

use crate::client::{Api, Auth, Worker};
use crate::stats::{Recorder, Summary, rss_mib};
use anyhow::Result;
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long to warm up and measure.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub warmup: Duration,
    pub duration: Duration,
}

/// The outcome of one operation: units done, or the failing HTTP status (0 = transport error).
pub type Outcome = Result<u64, u16>;

/// Runs `concurrency` loops of `op` for the plan; answers the recorder.
pub async fn drive<F, Fut>(plan: Plan, concurrency: usize, op: F) -> Arc<Recorder>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let recorder = Arc::new(Recorder::default());
    let op = Arc::new(op);
    let start = Instant::now();
    let (measure_from, end) = (start + plan.warmup, start + plan.warmup + plan.duration);
    let loops: Vec<_> = (0..concurrency)
        .map(|index| {
            let (op, recorder) = (op.clone(), recorder.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    let began = Instant::now();
                    let outcome = op(index).await;
                    if began < measure_from {
                        continue;
                    }
                    match outcome {
                        Ok(units) => recorder.ok(began.elapsed(), units),
                        Err(status) => recorder.error(status),
                    }
                }
            })
        })
        .collect();
    for handle in loops {
        let _ = handle.await;
    }
    recorder
}

fn status_of(result: &Result<(u16, bytes::Bytes)>) -> u16 {
    result.as_ref().map_or(0, |(status, _)| *status)
}

/// Who holds which task right now, to catch a task held by two workers at once.
#[derive(Default)]
pub struct Holders {
    held: Mutex<HashMap<i64, usize>>,
    pub violations: AtomicU64,
    pub cycles: AtomicU64,
}

impl Holders {
    /// Tasks seen held by two workers at once so far.
    pub fn violations(&self) -> u64 {
        self.violations.load(Ordering::SeqCst)
    }

    pub(crate) fn take(&self, task: i64, worker: usize) {
        if let Some(other) = self.held.lock().expect("holders").insert(task, worker)
            && other != worker
        {
            self.violations.fetch_add(1, Ordering::SeqCst);
        }
    }
    pub(crate) fn give_back(&self, task: i64) {
        self.held.lock().expect("holders").remove(&task);
    }
}

/// One claim → release OK cycle; `project` None claims across projects.
pub async fn cycle(api: &Api, worker: &Worker, index: usize, project: Option<i64>, holders: &Holders) -> Outcome {
    let body = match project {
        Some(project) => json!({ "project": project }),
        None => json!({}),
    };
    let claimed = api.send("POST", "/api/v1/tasks/claim", Auth::Worker(worker), Some(&body)).await;
    let bytes = match claimed {
        Ok((200, bytes)) => bytes,
        other => return Err(status_of(&other)),
    };
    let task: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| 0u16)?;
    let id = task["id"].as_i64().ok_or(0u16)?;
    holders.take(id, index);
    let released = api
        .send("POST", &format!("/api/v1/tasks/{id}/release"), Auth::Worker(worker), Some(&json!({ "result": 0 })))
        .await;
    holders.give_back(id);
    match released {
        Ok((200, _)) => {
            holders.cycles.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        }
        other => Err(status_of(&other)),
    }
}

/// `GET /api/v1/health`: the host + wasm floor for one request.
pub async fn overhead(api: Arc<Api>, plan: Plan, concurrency: usize) -> Summary {
    gets(api, "/api/v1/health", "overhead: GET /health", plan, concurrency).await
}

/// Anonymous `GET path` in a loop, each answering 200.
pub async fn gets(api: Arc<Api>, path: &'static str, name: &str, plan: Plan, concurrency: usize) -> Summary {
    let recorder = drive(plan, concurrency, move |_| {
        let api = api.clone();
        async move {
            match api.send("GET", path, Auth::None, None).await {
                Ok((200, _)) => Ok(1),
                other => Err(status_of(&other)),
            }
        }
    })
    .await;
    recorder.summary(name, "req/s", plan.duration.as_secs_f64(), rss_mib())
}

/// Single-task submits; answers the summary and how many were created.
pub async fn submit_single(api: Arc<Api>, project: i64, plan: Plan, concurrency: usize) -> (Summary, u64) {
    let created = Arc::new(AtomicU64::new(0));
    let counter = created.clone();
    let recorder = drive(plan, concurrency, move |index| {
        let (api, counter) = (api.clone(), counter.clone());
        async move {
            let n = counter.load(Ordering::Relaxed);
            let body = json!({ "project": project, "recipe": format!("single-{index}-{n}") });
            match api.send("POST", "/api/v1/tasks", Auth::Admin, Some(&body)).await {
                Ok((201, _)) => {
                    counter.fetch_add(1, Ordering::SeqCst);
                    Ok(1)
                }
                other => Err(status_of(&other)),
            }
        }
    })
    .await;
    (
        recorder.summary("submit: single", "tasks/s", plan.duration.as_secs_f64(), rss_mib()),
        created.load(Ordering::SeqCst),
    )
}

/// Bulk submits of 1,000 tasks; answers the summary and how many were created.
pub async fn submit_bulk(api: Arc<Api>, project: i64, plan: Plan, concurrency: usize) -> (Summary, u64) {
    let created = Arc::new(AtomicU64::new(0));
    let counter = created.clone();
    let recorder = drive(plan, concurrency, move |index| {
        let (api, counter) = (api.clone(), counter.clone());
        async move {
            let n = counter.load(Ordering::Relaxed);
            let tasks: Vec<_> = (0..1000).map(|i| json!({ "recipe": format!("bulk-{index}-{n}-{i}") })).collect();
            let body = json!({ "project": project, "tasks": tasks });
            match api.send("POST", "/api/v1/tasks/bulk", Auth::Admin, Some(&body)).await {
                Ok((200 | 201, _)) => {
                    counter.fetch_add(1000, Ordering::SeqCst);
                    Ok(1000)
                }
                other => Err(status_of(&other)),
            }
        }
    })
    .await;
    (
        recorder.summary("submit: bulk x1000", "tasks/s", plan.duration.as_secs_f64(), rss_mib()),
        created.load(Ordering::SeqCst),
    )
}

/// Workers looping claim → release on one project (`name` says how many).
pub async fn cycles(
    api: Arc<Api>,
    workers: Arc<Vec<Worker>>,
    project: i64,
    plan: Plan,
    holders: Arc<Holders>,
    name: &str,
) -> Summary {
    let recorder = drive(plan, workers.len(), move |index| {
        let (api, workers, holders) = (api.clone(), workers.clone(), holders.clone());
        async move { cycle(&api, &workers[index], index, Some(project), &holders).await }
    })
    .await;
    recorder.summary(name, "cycles/s", plan.duration.as_secs_f64(), rss_mib())
}

/// One batch cycle: claim up to `max` tasks in one request, release them all OK in one request. Every
/// item must come back `updated`; the units are the tasks released.
pub async fn batch_cycle(
    api: &Api,
    worker: &Worker,
    index: usize,
    project: i64,
    max: usize,
    holders: &Holders,
) -> Outcome {
    let body = json!({ "project": project, "max": max });
    let claimed = api.send("POST", "/api/v1/tasks/claim", Auth::Worker(worker), Some(&body)).await;
    let bytes = match claimed {
        Ok((200, bytes)) => bytes,
        other => return Err(status_of(&other)),
    };
    let tasks: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|_| 0u16)?;
    let ids: Vec<i64> = tasks.iter().map(|task| task["id"].as_i64().ok_or(0u16)).collect::<Result<_, _>>()?;
    for id in &ids {
        holders.take(*id, index);
    }
    let items: Vec<_> = ids.iter().map(|id| json!({ "id": id, "result": 0 })).collect();
    let released = api.send("POST", "/api/v1/tasks/release", Auth::Worker(worker), Some(&json!(items))).await;
    for id in &ids {
        holders.give_back(*id);
    }
    let bytes = match released {
        Ok((200, bytes)) => bytes,
        other => return Err(status_of(&other)),
    };
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|_| 0u16)?;
    if answers.len() != ids.len() || answers.iter().any(|a| a["updated"] != json!(true)) {
        return Err(0);
    }
    holders.cycles.fetch_add(ids.len() as u64, Ordering::SeqCst);
    Ok(ids.len() as u64)
}

/// Workers looping batch claim of `max` → batch release on one project.
pub async fn batch_cycles(
    api: Arc<Api>,
    workers: Arc<Vec<Worker>>,
    project: i64,
    max: usize,
    plan: Plan,
    holders: Arc<Holders>,
) -> Summary {
    let count = workers.len();
    let recorder = drive(plan, count, move |index| {
        let (api, workers, holders) = (api.clone(), workers.clone(), holders.clone());
        async move { batch_cycle(&api, &workers[index], index, project, max, &holders).await }
    })
    .await;
    let name = format!("batch: claim {max}+release {max} ({} workers)", count);
    recorder.summary(&name, "tasks/s", plan.duration.as_secs_f64(), rss_mib())
}

/// Submitters, cross-project workers and a reader together on several projects.
pub async fn mixed(
    api: Arc<Api>,
    workers: Arc<Vec<Worker>>,
    projects: Arc<Vec<i64>>,
    plan: Plan,
    holders: Arc<Holders>,
) -> (Vec<Summary>, u64) {
    let submitted = Arc::new(AtomicU64::new(0));
    let seconds = plan.duration.as_secs_f64();
    let submit = {
        let (api, projects, submitted) = (api.clone(), projects.clone(), submitted.clone());
        drive(plan, 2, move |index| {
            let (api, projects, submitted) = (api.clone(), projects.clone(), submitted.clone());
            async move {
                let n = submitted.load(Ordering::Relaxed);
                let project = projects[(n as usize + index) % projects.len()];
                let body = json!({ "project": project, "recipe": format!("mixed-{index}-{n}"), "priority": n % 3 });
                match api.send("POST", "/api/v1/tasks", Auth::Admin, Some(&body)).await {
                    Ok((201, _)) => {
                        submitted.fetch_add(1, Ordering::SeqCst);
                        Ok(1)
                    }
                    other => Err(status_of(&other)),
                }
            }
        })
    };
    let work = {
        let (api, workers, holders) = (api.clone(), workers.clone(), holders.clone());
        drive(plan, workers.len(), move |index| {
            let (api, workers, holders) = (api.clone(), workers.clone(), holders.clone());
            async move { cycle(&api, &workers[index], index, None, &holders).await }
        })
    };
    let read = {
        let (api, projects) = (api.clone(), projects.clone());
        drive(plan, 1, move |_| {
            let (api, projects) = (api.clone(), projects.clone());
            async move {
                let path = format!("/api/v1/tasks?project={}&status=new&order=-priority&limit=20", projects[0]);
                match api.send("GET", &path, Auth::Admin, None).await {
                    Ok((200, _)) => Ok(1),
                    other => Err(status_of(&other)),
                }
            }
        })
    };
    let (submit, work, read) = tokio::join!(submit, work, read);
    let rss = rss_mib();
    let summaries = vec![
        work.summary("mixed: claim+release (4 projects)", "cycles/s", seconds, rss),
        submit.summary("mixed: submit", "tasks/s", seconds, rss),
        read.summary("mixed: GET /tasks", "req/s", seconds, rss),
    ];
    (summaries, submitted.load(Ordering::SeqCst))
}
