//! Job events (`/api/jobs/events`): rows of `projectw_events`, written by SQLite triggers on jobs, their tasks
//! and their runners (`sql/0006_projectw_events.sql`), so that no code path can forget one and no process
//! memory holds them. A stream reads a user's rows after the id it last sent; a reconnecting client names that
//! id (`Last-Event-ID`) and misses nothing. Rows are pruned after [`KEEP_SECONDS`].

use crate::db::Db;
use crate::error::ApiError;
use crate::store::projectw as store;

/// How long events are kept (by the database's clock): a client away for longer resumes at the oldest kept.
pub const KEEP_SECONDS: i64 = 24 * 60 * 60;

/// The most events one prune deletes (the retention tick prunes again at its next call).
pub const PRUNE_BATCH: i64 = 10_000;

/// What changed: Project-W's three event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Created,
    Updated,
    Deleted,
}

impl Kind {
    /// The SSE event name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Created => "job_created",
            Kind::Updated => "job_updated",
            Kind::Deleted => "job_deleted",
        }
    }

    fn parse(text: &str) -> Option<Kind> {
        [Kind::Created, Kind::Updated, Kind::Deleted].into_iter().find(|kind| kind.name() == text)
    }
}

/// One event of a user's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The SSE id, increasing.
    pub id: i64,
    pub job: i64,
    pub kind: Kind,
}

/// `owner`'s events after the one with id `after`, oldest first, at most `limit`.
pub fn since(db: &dyn Db, owner: i64, after: i64, limit: i64) -> Result<Vec<Event>, ApiError> {
    store::events_after(db, owner, after, limit)?
        .into_iter()
        .map(|row| {
            let kind = Kind::parse(&row.kind)
                .ok_or_else(|| ApiError::internal(format!("event {} has the unknown kind `{}`", row.id, row.kind)))?;
            Ok(Event { id: row.id, job: row.job, kind })
        })
        .collect()
}

/// Where a stream starts: after the client's `Last-Event-ID`, or after the newest event for a new stream
/// (Project-W sends no history). An id beyond the newest (another database's, or made up) starts at the
/// newest, so such a client does not wait for ids to catch up.
pub fn start(db: &dyn Db, last_event_id: Option<i64>) -> Result<i64, ApiError> {
    let newest = store::newest_event(db)?;
    Ok(match last_event_id {
        Some(id) => id.clamp(0, newest),
        None => newest,
    })
}

/// Deletes events older than [`KEEP_SECONDS`] (up to [`PRUNE_BATCH`]), never the newest; answers how many.
pub fn prune(db: &dyn Db) -> Result<usize, ApiError> {
    Ok(store::prune_events(db, KEEP_SECONDS, PRUNE_BATCH)?)
}

/// Submits a job of `owner` with a byte of audio (tests).
#[cfg(test)]
pub(crate) fn submit_job(db: &dyn Db, owner: i64, name: &str, settings: &str, now: i64) -> Result<i64, ApiError> {
    let kv = crate::platform::MemoryKv::default();
    let mut upload = super::jobs::Upload::begin(db, owner, now)?;
    upload.write(db, b"x")?;
    super::jobs::submit(db, &kv, owner, name, upload, None, settings, now)
}

#[cfg(test)]
mod tests {
    use super::submit_job;
    use super::*;
    use crate::connection::NativeDb;
    use crate::db::Value;
    use crate::platform::MemoryKv;
    use crate::projectw::{jobs, runners};
    use crate::tasks;

    /// A native project (no Project-W job in it) and a worker.
    fn project_and_worker(db: &dyn Db, name: &str) -> (crate::domain::project::Project, i64) {
        let input = serde_json::from_value(serde_json::json!({"name": name})).unwrap();
        let project = crate::projects::create(db, None, &input, 0).unwrap();
        let worker = serde_json::from_value(serde_json::json!({"alias": "w"})).unwrap();
        (project, crate::workers::register(db, &worker, 0).unwrap().worker.id)
    }

    fn user(db: &dyn Db, name: &str) -> i64 {
        let rows = db
            .execute(
                "INSERT INTO users (username, email, created_at) VALUES (?, ?, 0) RETURNING id",
                &[name.into(), format!("{name}@example.org").into()],
            )
            .unwrap();
        rows.map_first(|row| row.int("id")).unwrap().unwrap()
    }

    fn kinds(events: &[Event]) -> Vec<(i64, &'static str)> {
        events.iter().map(|event| (event.job, event.kind.name())).collect()
    }

    /// A job submitted, taken by a runner, fetched, finished, downloaded and deleted writes one event per
    /// visible change, each to its owner only; a change that changes nothing writes none.
    #[test]
    fn triggers_write_an_event_per_visible_change_for_the_owner_only() {
        let db = NativeDb::memory().unwrap();
        let kv = MemoryKv::default();
        let (ada, bob) = (user(&db, "ada"), user(&db, "bob"));
        let start_ada = start(&db, None).unwrap();
        let job = submit_job(&db, ada, "a.mp3", "{}", 100).unwrap();
        let other = submit_job(&db, bob, "b.mp3", "{}", 100).unwrap();
        assert_eq!(kinds(&since(&db, ada, start_ada, 100).unwrap()), [(job, "job_created")]);
        assert_eq!(kinds(&since(&db, bob, start_ada, 100).unwrap()), [(other, "job_created")]);

        let runner = runners::create(&db, 100).unwrap();
        let row = runners::authenticate(&db, &runner.token).unwrap();
        let info: runners::RunnerInfo = serde_json::from_value(serde_json::json!({
            "name": "r", "version": "1", "git_hash": "h", "source_code_url": "u"
        }))
        .unwrap();
        let after_created = start(&db, None).unwrap();
        runners::register(&db, &kv, &row, &info, 101).unwrap();
        let row = runners::authenticate(&db, &runner.token).unwrap();
        assert_eq!(row.task, Some(job), "the oldest job goes first");
        runners::job_audio(&db, &row, 102).unwrap();
        let row = runners::authenticate(&db, &runner.token).unwrap();
        runners::heartbeat(&db, &kv, &row, 40.0, 103).unwrap();
        runners::heartbeat(&db, &kv, &row, 40.5, 104).unwrap(); // the same whole percent: nothing visible
        let transcript = runners::RunnerResult::Transcript(["t", "s", "v", "w", "{}"].map(String::from));
        runners::submit(&db, &row, &transcript, 105).unwrap();
        jobs::download(&db, ada, job, "as_txt").unwrap();
        jobs::download(&db, ada, job, "as_txt").unwrap(); // already downloaded: nothing visible
        jobs::delete(&db, ada, &[job], 106).unwrap();
        let events = since(&db, ada, after_created, 100).unwrap();
        assert_eq!(
            kinds(&events),
            [
                (job, "job_updated"), // claimed: assigned to the runner
                (job, "job_updated"), // the runner fetched the audio: in progress
                (job, "job_updated"), // progress 40
                (job, "job_updated"), // the task closed
                (job, "job_updated"), // the job row finished (runner recorded, same transaction)
                (job, "job_updated"), // downloaded
                (job, "job_deleted"),
            ]
        );
        assert!(events.windows(2).all(|pair| pair[0].id < pair[1].id), "ids increase");
        assert!(since(&db, bob, after_created, 100).unwrap().is_empty(), "nothing of ada's reaches bob");
        // A page: after the second event, two more.
        assert_eq!(since(&db, ada, events[1].id, 2).unwrap(), events[2..4].to_vec());
    }

    #[test]
    fn tasks_of_other_projects_write_no_events() {
        let db = NativeDb::memory().unwrap();
        let kv = MemoryKv::default();
        let (project, worker) = project_and_worker(&db, "other");
        let spec = serde_json::from_value(serde_json::json!({"recipe": "r"})).unwrap();
        let task = tasks::submit(&db, &kv, &project, &spec, 0).unwrap();
        tasks::claim(&db, &kv, worker, tasks::ClaimTarget::Project(&project), 1).unwrap().unwrap();
        let release = serde_json::from_value(serde_json::json!({"result": 0})).unwrap();
        tasks::release(&db, worker, task.id, &release, 2).unwrap();
        assert_eq!(store::newest_event(&db).unwrap(), 0);
    }

    #[test]
    fn streams_start_at_the_newest_event_or_after_a_known_id() {
        let db = NativeDb::memory().unwrap();
        let ada = user(&db, "ada");
        assert_eq!(start(&db, None).unwrap(), 0);
        let first = submit_job(&db, ada, "a", "{}", 0).unwrap();
        submit_job(&db, ada, "b", "{}", 0).unwrap();
        let newest = store::newest_event(&db).unwrap();
        assert_eq!(start(&db, None).unwrap(), newest);
        assert_eq!(start(&db, Some(1)).unwrap(), 1);
        assert_eq!(start(&db, Some(newest + 1000)).unwrap(), newest, "an id from elsewhere starts at the newest");
        assert_eq!(start(&db, Some(-5)).unwrap(), 0);
        assert_eq!(since(&db, ada, 0, 10).unwrap()[0].job, first);
    }

    #[test]
    fn pruning_drops_old_events_but_never_the_newest_so_ids_keep_growing() {
        let db = NativeDb::memory().unwrap();
        let ada = user(&db, "ada");
        for name in ["a", "b", "c"] {
            submit_job(&db, ada, name, "{}", 0).unwrap();
        }
        let old = Value::Integer(KEEP_SECONDS + 60);
        db.execute("UPDATE projectw_events SET created_at = unixepoch() - ?", &[old]).unwrap();
        let newest = store::newest_event(&db).unwrap();
        assert_eq!(prune(&db).unwrap(), 2);
        assert_eq!(since(&db, ada, 0, 10).unwrap().iter().map(|e| e.id).collect::<Vec<_>>(), [newest]);
        submit_job(&db, ada, "d", "{}", 0).unwrap();
        assert!(store::newest_event(&db).unwrap() > newest, "a new event gets a new id");
        assert_eq!(prune(&db).unwrap(), 1, "the old one goes once a newer one exists");
    }

    /// The cost of the tasks trigger on the queue's hot path: claim → release cycles on one thread, with the
    /// trigger and without it, alternating, on a project of ordinary tasks while Project-W jobs exist.
    /// `cargo test --release -p conveyor-core trigger_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn trigger_cost() {
        let platform = crate::testing::TestPlatform::new("trigger-cost");
        let db = NativeDb::open(&platform.path).unwrap();
        let kv = MemoryKv::default();
        let ada = user(&db, "ada");
        for i in 0..1000 {
            submit_job(&db, ada, &format!("{i}"), "{}", 0).unwrap();
        }
        let (project, worker) = project_and_worker(&db, "hot");
        let specs: Vec<_> = (0..200_000)
            .map(|i| serde_json::from_value(serde_json::json!({"recipe": format!("r{i}")})).unwrap())
            .collect();
        for chunk in specs.chunks(1000) {
            tasks::bulk_submit(&db, &kv, &project, chunk, 0).unwrap();
        }
        let trigger = db
            .execute("SELECT sql FROM sqlite_master WHERE name = 'projectw_event_task_updated'", &[])
            .unwrap()
            .map_first(|row| row.text("sql"))
            .unwrap()
            .unwrap();
        let release = serde_json::from_value(serde_json::json!({"result": 0})).unwrap();
        let cycles = |n: usize| {
            let began = std::time::Instant::now();
            for _ in 0..n {
                let task = tasks::claim(&db, &kv, worker, tasks::ClaimTarget::Project(&project), 1).unwrap().unwrap();
                tasks::release(&db, worker, task.id, &release, 2).unwrap();
            }
            began.elapsed().as_secs_f64() * 1e6 / n as f64
        };
        // One statement that fires the trigger's WHEN (a progress change of an ordinary task), alone.
        let task = tasks::submit(&db, &kv, &project, &specs[0], 0).unwrap().id;
        let updates = |n: usize| {
            let began = std::time::Instant::now();
            for i in 0..n {
                let progress = Value::Integer(i as i64 % 100);
                db.execute("UPDATE tasks SET progress = ? WHERE id = ?", &[progress, task.into()]).unwrap();
            }
            began.elapsed().as_secs_f64() * 1e6 / n as f64
        };
        cycles(2000);
        let (mut with, mut without, mut with_update, mut without_update) = (vec![], vec![], vec![], vec![]);
        for _ in 0..20 {
            with.push(cycles(2000));
            with_update.push(updates(5000));
            db.execute("DROP TRIGGER projectw_event_task_updated", &[]).unwrap();
            without.push(cycles(2000));
            without_update.push(updates(5000));
            db.execute(&trigger, &[]).unwrap();
        }
        for (name, mut rounds) in [
            ("claim+release without the trigger", without),
            ("claim+release with the trigger", with),
            ("progress UPDATE without the trigger", without_update),
            ("progress UPDATE with the trigger", with_update),
        ] {
            rounds.sort_by(f64::total_cmp);
            let (min, median) = (rounds[0], rounds[rounds.len() / 2]);
            println!("{name}: min {min:.1} µs, median {median:.1} µs (20 rounds)");
        }
    }
}
