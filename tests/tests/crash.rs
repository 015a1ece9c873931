//! Crashes and storage failures (issue 17): a host process SIGKILLed again and again while submitters and
//! workers run, restarted on the same data directory each time, loses no acknowledged submit or release,
//! never lets two workers hold one task, keeps an intact database and answers again within a second; a full
//! disk answers 503 and loses nothing; a data directory it cannot write stops the host at start-up.
//!
//! `CONVEYOR_CRASH_ROUNDS` sets the number of kills (default 20), `CONVEYOR_CRASH_SEED` replays a run's
//! random timings (docs/reliability.md).

use conveyor_tests::our_host_only;
use conveyor_tests::{ChildHost, Http, TempDir, TestResponse, Who, assert_no_leaks, ensure_built};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The lease of every task (seconds): short, so that tasks a killed host left assigned are claimed again.
const LEASE: i64 = 2;
/// How long a restarted host may take to answer.
const RESTART_LIMIT: Duration = Duration::from_secs(1);
const SUBMITTERS: usize = 2;
const WORKERS: usize = 4;

// ----- requests -----

/// Sends a request as `who`; `None` when no complete answer arrived (the host was killed).
async fn send(http: &Http, who: &Who, method: &str, path: &str, body: Option<Value>) -> Option<TestResponse> {
    let mut headers = who.headers();
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let response = http.try_send(method, path, &headers, body).await.ok()?;
    assert_no_leaks(&response.text());
    Some(response)
}

/// Sends a request the host must answer with `status`; returns the JSON body.
#[track_caller]
fn expect(response: Option<TestResponse>, status: u16) -> Value {
    let response = response.expect("the host answers");
    assert_eq!(response.status, status, "{}", response.text());
    if response.body.is_empty() { Value::Null } else { response.json() }
}

/// Polls the health route until it answers 200; how long that took from `since`.
async fn answers_since(http: &Http, since: Instant) -> Duration {
    loop {
        if let Some(response) = send(http, &Who::Anonymous, "GET", "/api/v1/health", None).await
            && response.status == 200
        {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(30), "the host never answered");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The administrator's token the host generated in its data directory.
fn admin(data: &Path) -> Who {
    let token = std::fs::read_to_string(data.join("admin_token")).expect("the host wrote its admin token");
    Who::Bearer(token.trim().to_string())
}

/// A project, and `workers` workers allowed to claim from it.
async fn project_with_workers(http: &Http, admin: &Who, workers: usize) -> (i64, Vec<Who>) {
    let project = expect(send(http, admin, "POST", "/api/v1/projects", Some(json!({"name": "crash"}))).await, 201);
    let project = project["id"].as_i64().unwrap();
    let mut registered = Vec::new();
    for i in 0..workers {
        let body = json!({"alias": format!("w{i}")});
        let worker = expect(send(http, &Who::Anonymous, "POST", "/api/v1/workers", Some(body)).await, 201);
        let worker = Who::Worker(worker["id"].as_i64().unwrap(), worker["secret"].as_str().unwrap().to_string());
        let path = format!("/api/v1/projects/{project}/access-requests");
        let asked = send(http, &worker, "POST", &path, Some(json!({"assign": true, "submit": false}))).await;
        assert!(matches!(asked.as_ref().map(|r| r.status), Some(200 | 201)), "{:?}", asked.map(|r| r.text()));
        let accept =
            json!({"jsonrpc": "2.0", "method": "accept_request", "params": {"worker": worker.worker_id()}, "id": 1});
        expect(send(http, admin, "POST", &format!("/api/v1/projects/{project}"), Some(accept)).await, 200);
        registered.push(worker);
    }
    (project, registered)
}

/// Submits a task; its id once the host acknowledged it, `None` when no answer arrived.
async fn submit(http: &Http, who: &Who, project: i64, recipe: String) -> Option<Result<i64, TestResponse>> {
    let body = json!({"project": project, "recipe": recipe, "max_assign_time": LEASE});
    let response = send(http, who, "POST", "/api/v1/tasks", Some(body)).await?;
    Some(if response.status == 201 { Ok(response.json()["id"].as_i64().unwrap()) } else { Err(response) })
}

// ----- what the clients saw -----

/// A claim the host acknowledged.
#[derive(Debug, Clone)]
struct Claim {
    task: i64,
    worker: i64,
    assign_time: i64,
    lease_expires_at: i64,
    acknowledged: Instant,
}

/// How a release ended, as its worker saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Released,
    Refused,
    /// No answer: the host was killed while it was under way.
    Unknown,
}

#[derive(Debug, Clone)]
struct Release {
    task: i64,
    worker: i64,
    sent: Instant,
    outcome: Outcome,
}

/// Everything acknowledged (or left open by a kill) over all rounds.
#[derive(Default)]
struct Record {
    submits: Vec<i64>,
    claims: Vec<Claim>,
    releases: Vec<Release>,
}

/// A small deterministic generator for the run's timings (replayable with `CONVEYOR_CRASH_SEED`).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

// ----- the load -----

/// Submits tasks until stopped or the host is gone.
async fn submitter(http: Http, admin: Who, project: i64, record: Arc<Mutex<Record>>, stop: Arc<AtomicBool>) {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        match submit(&http, &admin, project, format!("recipe {n}")).await {
            None => return,
            Some(Ok(id)) => record.lock().unwrap().submits.push(id),
            Some(Err(response)) => panic!("a submit answered {}: {}", response.status, response.text()),
        }
    }
}

/// Claims and releases (or, one time in six, abandons) tasks until stopped or the host is gone.
async fn worker(http: Http, me: Who, project: i64, mut rng: Rng, record: Arc<Mutex<Record>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let Some(response) = send(&http, &me, "POST", "/api/v1/tasks/claim", Some(json!({"project": project}))).await
        else {
            return;
        };
        if response.status == 204 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        assert_eq!(response.status, 200, "a claim answered {}", response.text());
        let acknowledged = Instant::now();
        let task = response.json();
        let claim = Claim {
            task: task["id"].as_i64().unwrap(),
            worker: me.worker_id(),
            assign_time: task["assign_time"].as_i64().unwrap(),
            lease_expires_at: task["lease_expires_at"].as_i64().unwrap(),
            acknowledged,
        };
        assert_eq!(task["assignee"].as_i64(), Some(claim.worker), "{task}");
        record.lock().unwrap().claims.push(claim.clone());
        if rng.below(6) == 0 {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(40))).await;
        let sent = Instant::now();
        let path = format!("/api/v1/tasks/{}/release", claim.task);
        let response = send(&http, &me, "POST", &path, Some(json!({"result": 0}))).await;
        let outcome = match response.as_ref().map(|r| (r.status, r.json()["updated"].as_bool())) {
            None => Outcome::Unknown,
            Some((200, Some(true))) => Outcome::Released,
            Some((409, Some(false))) => Outcome::Refused,
            Some(_) => panic!("a release answered {}", response.unwrap().text()),
        };
        record.lock().unwrap().releases.push(Release { task: claim.task, worker: claim.worker, sent, outcome });
        if outcome == Outcome::Unknown {
            return;
        }
    }
}

// ----- the checks -----

/// `PRAGMA integrity_check` on the data directory's database, read-only (a killed host's WAL stays for the
/// next host to recover).
fn assert_intact(data: &Path) {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db = rusqlite::Connection::open_with_flags(data.join("sqlite_db.db"), flags).unwrap();
    let verdict: String = db.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(verdict, "ok");
}

/// Every task's status in the data directory's database.
fn statuses(data: &Path) -> HashMap<i64, String> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db = rusqlite::Connection::open_with_flags(data.join("sqlite_db.db"), flags).unwrap();
    let mut statement = db.prepare("SELECT id, status FROM tasks").unwrap();
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Two acknowledged holds of one task that overlapped: the later claim came before the earlier lease expired
/// and without its holder having released the task first; or a release that succeeded although another
/// worker's claim of the task had been acknowledged since the releaser's.
fn overlapping_holds(claims: &[Claim], releases: &[Release]) -> Vec<String> {
    let mut by_task: HashMap<i64, Vec<&Claim>> = HashMap::new();
    for claim in claims {
        by_task.entry(claim.task).or_default().push(claim);
    }
    let mut releases_of: HashMap<i64, Vec<&Release>> = HashMap::new();
    for release in releases {
        releases_of.entry(release.task).or_default().push(release);
    }
    let mut overlaps = Vec::new();
    for held in by_task.values_mut() {
        held.sort_by_key(|claim| (claim.assign_time, claim.acknowledged));
        for pair in held.windows(2) {
            let (earlier, later) = (pair[0], pair[1]);
            let expired = later.assign_time >= earlier.lease_expires_at;
            let released_first = releases_of.get(&earlier.task).into_iter().flatten().any(|release| {
                release.worker == earlier.worker
                    && release.outcome != Outcome::Refused
                    && (earlier.acknowledged..later.acknowledged).contains(&release.sent)
            });
            if !expired && !released_first {
                overlaps.push(format!("{later:?} while {earlier:?} held the task"));
            }
        }
    }
    for release in releases.iter().filter(|release| release.outcome == Outcome::Released) {
        let holder = by_task
            .get(&release.task)
            .into_iter()
            .flatten()
            .filter(|claim| claim.acknowledged <= release.sent)
            .max_by_key(|claim| (claim.assign_time, claim.acknowledged));
        if holder.is_none_or(|claim| claim.worker != release.worker) {
            overlaps.push(format!("{release:?} succeeded, but the task's latest claim was {holder:?}"));
        }
    }
    overlaps
}

fn seed() -> u64 {
    let from_env = std::env::var("CONVEYOR_CRASH_SEED").ok().map(|s| s.parse().expect("CONVEYOR_CRASH_SEED: a number"));
    from_env.unwrap_or_else(|| std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_nanos() as u64 | 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_killed_under_load_loses_no_acknowledged_write_and_restarts_within_a_second() {
    our_host_only!("kills and restarts our host's processes");
    ensure_built();
    let rounds: usize =
        std::env::var("CONVEYOR_CRASH_ROUNDS").map_or(20, |r| r.parse().expect("CONVEYOR_CRASH_ROUNDS: a number"));
    let seed = seed();
    eprintln!("crash run: {rounds} rounds, CONVEYOR_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let data = TempDir::new("crash");
    let began = Instant::now();

    let first = ChildHost::spawn(data.path());
    let http = Http::new(first.url.clone());
    answers_since(&http, began).await;
    let admin = admin(data.path());
    let (project, workers) = project_with_workers(&http, &admin, WORKERS).await;
    drop(first);

    let record = Arc::new(Mutex::new(Record::default()));
    let mut restarts = Vec::new();
    for round in 0..=rounds {
        let spawned = Instant::now();
        let child = ChildHost::spawn(data.path());
        let http = Http::new(child.url.clone());
        restarts.push(answers_since(&http, spawned).await);
        if round == rounds {
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = Vec::new();
        for _ in 0..SUBMITTERS {
            let (record, stop) = (record.clone(), stop.clone());
            load.push(tokio::spawn(submitter(http.clone(), admin.clone(), project, record, stop)));
        }
        for me in &workers {
            let (record, stop, rng) = (record.clone(), stop.clone(), Rng(rng.below(u64::MAX) | 1));
            load.push(tokio::spawn(worker(http.clone(), me.clone(), project, rng, record, stop)));
        }
        tokio::time::sleep(Duration::from_millis(200 + rng.below(1300))).await;
        drop(child); // SIGKILL, then reaped
        stop.store(true, Ordering::SeqCst);
        for task in load {
            task.await.expect("a client of the load panicked");
        }
        assert_intact(data.path());
    }

    let record = record.lock().unwrap();
    let statuses = statuses(data.path());
    let lost: Vec<_> = record.submits.iter().filter(|id| !statuses.contains_key(id)).collect();
    assert!(lost.is_empty(), "acknowledged submits lost: {lost:?}");
    let released = record.releases.iter().filter(|release| release.outcome == Outcome::Released);
    let reopened: Vec<_> =
        released.filter(|release| statuses.get(&release.task).map(String::as_str) != Some("closed")).collect();
    assert!(reopened.is_empty(), "acknowledged releases undone: {reopened:?}");
    let overlaps = overlapping_holds(&record.claims, &record.releases);
    assert!(overlaps.is_empty(), "tasks held by two workers at once:\n{}", overlaps.join("\n"));
    assert_intact(data.path());

    let count = |outcome| record.releases.iter().filter(|release| release.outcome == outcome).count();
    let (released, refused, unknown) = (count(Outcome::Released), count(Outcome::Refused), count(Outcome::Unknown));
    let reclaimed =
        record.claims.len() - HashMap::<i64, ()>::from_iter(record.claims.iter().map(|c| (c.task, ()))).len();
    let mut sorted = restarts.clone();
    sorted.sort();
    eprintln!(
        "crash run: {rounds} kills in {:?}; {} submits, {} claims ({reclaimed} of tasks claimed before), \
         releases {released} acknowledged / {refused} refused / {unknown} cut off; restart to first answer: \
         min {:?}, median {:?}, max {:?}",
        began.elapsed(),
        record.submits.len(),
        record.claims.len(),
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    );
    assert!(record.submits.len() > rounds && released > rounds, "the load did too little to tell anything");
    let slow: Vec<_> = restarts.iter().filter(|time| **time > RESTART_LIMIT).collect();
    assert!(slow.is_empty(), "restarts slower than {RESTART_LIMIT:?}: {slow:?} (all: {restarts:?})");
}

#[test]
fn the_overlap_check_finds_two_holders_and_a_stale_release() {
    our_host_only!("kills and restarts our host's processes");
    let t0 = Instant::now();
    let at = |ms| t0 + Duration::from_millis(ms);
    let claim = |worker, assign_time, acknowledged| Claim {
        task: 1,
        worker,
        assign_time,
        lease_expires_at: assign_time + LEASE,
        acknowledged: at(acknowledged),
    };
    let release = |worker, sent, outcome| Release { task: 1, worker, sent: at(sent), outcome };
    // Released, then claimed again; or expired, then claimed again: one holder at a time.
    assert!(overlapping_holds(&[claim(1, 100, 0), claim(2, 100, 20)], &[release(1, 10, Outcome::Released)]).is_empty());
    assert!(overlapping_holds(&[claim(1, 100, 0), claim(2, 100, 20)], &[release(1, 10, Outcome::Unknown)]).is_empty());
    assert!(overlapping_holds(&[claim(1, 100, 0), claim(2, 102, 2000)], &[]).is_empty());
    // Claimed by another while the lease ran, with no release (or a refused one, or one sent too late).
    assert_eq!(overlapping_holds(&[claim(1, 100, 0), claim(2, 101, 1000)], &[]).len(), 1);
    assert_eq!(overlapping_holds(&[claim(1, 100, 0), claim(2, 101, 9)], &[release(1, 5, Outcome::Refused)]).len(), 1);
    assert_eq!(overlapping_holds(&[claim(1, 100, 0), claim(2, 101, 9)], &[release(1, 10, Outcome::Unknown)]).len(), 1);
    // A release that succeeded after another worker's claim was acknowledged.
    let stale = overlapping_holds(&[claim(1, 100, 0), claim(2, 102, 2000)], &[release(1, 2100, Outcome::Released)]);
    assert_eq!(stale.len(), 1, "{stale:?}");
}

/// Not a test on its own: the entry point of the host processes the tests here start and kill.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "entry point of a child host process, started by another test"]
async fn child_host_entry() {
    conveyor_tests::child_host_main().await;
}

/// The size of the largest file in `dir`.
fn largest_file(dir: &Path) -> u64 {
    let sizes = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().metadata().unwrap().len());
    sizes.max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_answers_503_and_loses_no_acknowledged_submit() {
    our_host_only!("kills and restarts our host's processes");
    ensure_built();
    let data = TempDir::new("full");
    let setup = ChildHost::spawn(data.path());
    let http = Http::new(setup.url.clone());
    answers_since(&http, Instant::now()).await;
    let admin = admin(data.path());
    let (project, _) = project_with_workers(&http, &admin, 0).await;
    drop(setup);

    // No file may grow more than 256 KiB past the largest one now: the disk fills after a few dozen submits.
    let full = ChildHost::spawn_with_file_limit(data.path(), largest_file(data.path()) + 256 * 1024);
    let http = Http::new(full.url.clone());
    answers_since(&http, Instant::now()).await;
    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for n in 0..2000 {
        match submit(&http, &admin, project, format!("{n:08}").repeat(2048)).await.expect("the host answers") {
            Ok(id) => acknowledged.push(id),
            Err(response) => {
                let body = expect(Some(response), 503);
                assert_eq!(body["code"], "unavailable", "{body}");
                let detail = body["detail"].as_str().unwrap();
                assert!(detail.contains("disk is full") || detail.contains("cannot read or write"), "{detail}");
                refused += 1;
                if refused == 10 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused, 10, "the disk never filled ({} submits acknowledged)", acknowledged.len());
    assert!(!acknowledged.is_empty(), "not one submit fit");
    // Reads still work on a full disk.
    let last = acknowledged.last().unwrap();
    expect(send(&http, &admin, "GET", &format!("/api/v1/tasks/{last}"), None).await, 200);
    drop(full);

    // With room again, everything acknowledged is there, intact, and the host writes again.
    let restarted = ChildHost::spawn(data.path());
    let http = Http::new(restarted.url.clone());
    answers_since(&http, Instant::now()).await;
    let statuses = statuses(data.path());
    let lost: Vec<_> = acknowledged.iter().filter(|id| !statuses.contains_key(id)).collect();
    assert!(lost.is_empty(), "acknowledged submits lost on a full disk: {lost:?}");
    assert_intact(data.path());
    assert!(submit(&http, &admin, project, "after".into()).await.unwrap().is_ok());
    eprintln!("full disk: {} submits acknowledged, then 10 answered 503", acknowledged.len());
}

/// Makes a directory or file unwritable even for root (`chattr +i`; a plain `chmod` for anyone else) until
/// dropped; `None` where this file system cannot (no immutable files, e.g. overlayfs, or no
/// CAP_LINUX_IMMUTABLE), after undoing what it tried.
struct Unwritable<'a>(&'a Path);

impl<'a> Unwritable<'a> {
    fn new(dir: &'a Path) -> Option<Unwritable<'a>> {
        use std::os::unix::fs::PermissionsExt;
        let guard = Unwritable(dir);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        if guard.writable() {
            // Root ignores permission bits; an immutable directory stops it too.
            let _ = std::process::Command::new("chattr").arg("+i").arg(dir).status();
        }
        if guard.writable() {
            eprintln!(
                "cannot make {} read-only here (needs `chattr +i` as root, or a user): case skipped",
                dir.display()
            );
            return None;
        }
        Some(guard)
    }

    /// Whether a file can be created in the directory, or the file opened for writing.
    fn writable(&self) -> bool {
        if !self.0.is_dir() {
            return std::fs::OpenOptions::new().append(true).open(self.0).is_ok();
        }
        let probe = self.0.join("probe");
        std::fs::write(&probe, "").and_then(|_| std::fs::remove_file(&probe)).is_ok()
    }
}

impl Drop for Unwritable<'_> {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::process::Command::new("chattr").arg("-i").arg(self.0).stderr(std::process::Stdio::null()).status();
        let _ = std::fs::set_permissions(self.0, std::fs::Permissions::from_mode(0o755));
    }
}

/// Starting on `data`, which must fail; the error's full text.
async fn start_fails(data: &Path) -> String {
    let mut options = conveyor::HostOptions::new(conveyor_tests::app_manifest(), data);
    options.cache_dir = Some(conveyor_tests::shared_cache_dir());
    options.ticks = false;
    match conveyor::start(options).await {
        Ok(host) => panic!("a host started on {} at {}", data.display(), host.url()),
        Err(error) => {
            eprintln!("start-up refused: {error:#}");
            format!("{error:#}")
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_that_cannot_be_written_stops_the_host_at_start_up_naming_it() {
    our_host_only!("kills and restarts our host's processes");
    ensure_built();
    // A data directory with a database in it, as a previous run left it.
    let used = TempDir::new("readonly");
    let previous = ChildHost::spawn(used.path());
    answers_since(&Http::new(previous.url.clone()), Instant::now()).await;
    drop(previous);
    let before = std::fs::read(used.path().join("sqlite_db.db")).unwrap();
    if let Some(_unwritable) = Unwritable::new(used.path()) {
        let error = start_fails(used.path()).await;
        assert!(error.contains(&used.path().display().to_string()), "names the directory: {error}");
        assert!(error.contains("not writable"), "{error}");
    }
    assert_eq!(std::fs::read(used.path().join("sqlite_db.db")).unwrap(), before, "the database is untouched");
    // A database file that cannot be written, in a directory that can.
    let database = used.path().join("sqlite_db.db");
    if let Some(_unwritable) = Unwritable::new(&database) {
        let error = start_fails(used.path()).await;
        assert!(error.contains(&database.display().to_string()), "names the file: {error}");
        assert!(error.contains("cannot be opened for writing"), "{error}");
    }

    // A new data directory that cannot be written, and one that cannot be created (its parent is a file: this
    // case needs no privilege, so it runs everywhere).
    let fresh = TempDir::new("readonly-fresh");
    if let Some(_unwritable) = Unwritable::new(fresh.path()) {
        let error = start_fails(fresh.path()).await;
        assert!(error.contains(&fresh.path().display().to_string()), "names the directory: {error}");
    }
    let file = fresh.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let error = start_fails(&file.join("data")).await;
    assert!(error.contains(&file.join("data").display().to_string()), "names the directory: {error}");
}
