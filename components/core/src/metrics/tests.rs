//! The counters against real SQLite: every kind of work moves exactly its counters, the gauges always
//! equal a count of the task rows, and the exposition shows them.

use super::*;
use crate::db::Db;
use crate::domain::task::{BatchReleaseItem, TaskSpec};
use crate::store::metrics::{TaskGauges, projects};
use crate::tasks::fixtures::{Fx, T0};

/// The counters of project `name`.
fn counters(fx: &Fx, name: &str) -> ProjectCounters {
    projects(&fx.db).unwrap().into_iter().find(|p| p.name == name).expect("the project")
}

/// The task rows of a project counted by status, to check the gauges against.
fn counted(fx: &Fx, project: i64) -> TaskGauges {
    let n = |status: &str| {
        let rows = fx
            .db
            .execute(
                "SELECT COUNT(*) AS n FROM tasks WHERE project = ? AND status = ?",
                &[project.into(), status.into()],
            )
            .unwrap();
        rows.first().unwrap().int("n").unwrap()
    };
    TaskGauges {
        new: n("new"),
        assigned: n("assigned"),
        closed: n("closed"),
        failed: n("failed"),
        cancelled: n("cancelled"),
    }
}

/// `(submits, claims, lease_expiries, ok, fail, skip)`.
fn moved(c: &ProjectCounters) -> (i64, i64, i64, i64, i64, i64) {
    (c.submits, c.claims, c.lease_expiries, c.releases_ok, c.releases_fail, c.releases_skip)
}

#[test]
fn each_kind_of_work_moves_exactly_its_counters_and_the_gauges_match_the_rows() {
    let fx = Fx::new();
    let next = fx.project("next");
    let p = fx.project_with("p", |input| input.chain = Some(next.id));
    let (w1, w2) = (fx.worker("w1"), fx.worker("w2"));
    let check = |expected: (i64, i64, i64, i64, i64, i64), why: &str| {
        let c = counters(&fx, "p");
        assert_eq!(moved(&c), expected, "{why}");
        assert_eq!(c.tasks, counted(&fx, p.id), "{why}: gauges = rows");
    };
    check((0, 0, 0, 0, 0, 0), "fresh");

    let retried = TaskSpec { max_retries: Some(2), ..Fx::spec("a") };
    let a = fx.submit_spec(&p, retried);
    crate::tasks::bulk_submit(&fx.db, &fx.kv, &p, &[Fx::spec("b"), Fx::spec("c"), Fx::spec("d")], T0).unwrap();
    check((4, 0, 0, 0, 0, 0), "one submit and a bulk of three");

    assert_eq!(fx.claim_in(w1, &p, T0).unwrap().id, a.id);
    check((4, 1, 0, 0, 0, 0), "a claim");
    fx.release(w1, a.id, 1, None, Some("boom"));
    check((4, 1, 0, 0, 1, 0), "a failure that returns the task");
    fx.claim_in(w1, &p, T0).unwrap();
    fx.release(w1, a.id, 2, None, None);
    check((4, 2, 0, 0, 1, 1), "a skip");
    fx.claim_in(w1, &p, T0).unwrap();
    fx.release(w1, a.id, 1, None, None);
    assert_eq!(fx.task(a.id).status.as_str(), "failed");
    check((4, 3, 0, 0, 2, 1), "a failure that fails the task");

    let b = fx.claim_in(w1, &p, T0).unwrap();
    let taken = fx.claim_in(w2, &p, T0 + 3601).unwrap();
    assert_eq!(taken.id, b.id, "the expired lease is taken over");
    check((4, 5, 1, 0, 2, 1), "a claim of an expired lease");
    let request = crate::domain::task::ReleaseRequest { result: 0, verification: None, output: None };
    assert!(crate::tasks::release(&fx.db, w1, b.id, &request, T0).is_err(), "w1 lost it");
    check((4, 5, 1, 0, 2, 1), "a refused release counts nothing");

    fx.release(w2, b.id, 0, None, Some("done"));
    check((4, 5, 1, 1, 2, 1), "a release that closes");
    assert_eq!(moved(&counters(&fx, "next")).0, 1, "the chained copy is a submit of the chained project");

    let quorum = fx.submit_spec(&p, TaskSpec { verification_count: Some(2), priority: Some(9), ..Fx::spec("q") });
    fx.claim_in(w1, &p, T0).unwrap();
    fx.release(w1, quorum.id, 0, Some(7), None);
    check((5, 6, 1, 2, 2, 1), "a vote short of the quorum is an ok release");
    fx.claim_in(w2, &p, T0).unwrap();
    fx.release(w2, quorum.id, 0, Some(7), None);
    assert_eq!(fx.task(quorum.id).status.as_str(), "closed");
    check((5, 7, 1, 3, 2, 1), "the vote that closes");

    let claimed: Vec<i64> = (0..2).map(|_| fx.claim_in(w1, &p, T0).unwrap().id).collect();
    let items: Vec<BatchReleaseItem> = claimed
        .iter()
        .map(|id| BatchReleaseItem { id: *id, result: 2, verification: None, output: None })
        .chain([BatchReleaseItem { id: quorum.id, result: 0, verification: None, output: None }])
        .collect();
    crate::tasks::release_many(&fx.db, w1, &items, T0).unwrap();
    check((5, 9, 1, 3, 2, 3), "a batch: two skips and one refused item");

    fx.claim_in(w1, &p, T0).unwrap();
    crate::tasks::cancel(&fx.db, claimed[1], T0).unwrap();
    crate::tasks::retry(&fx.db, a.id, T0).unwrap();
    crate::projects::reclaim_assigned(&fx.db, p.id, T0).unwrap();
    check((5, 10, 1, 3, 2, 3), "cancel, retry and reclaim are no releases");

    crate::projects::hard_reset(&fx.db, p.id).unwrap();
    check((5, 10, 1, 3, 2, 3), "deleting the tasks keeps the counters");
    assert_eq!(counters(&fx, "p").tasks, TaskGauges::default());
}

#[test]
fn active_workers_are_those_seen_in_the_last_five_minutes() {
    let fx = Fx::new();
    let (old, recent, _never) = (fx.worker("old"), fx.worker("recent"), fx.worker("never"));
    let now = T0 + 10_000;
    crate::store::workers::touch_seen(&fx.db, old, now - ACTIVE_WINDOW - 1, 60).unwrap();
    crate::store::workers::touch_seen(&fx.db, recent, now - ACTIVE_WINDOW, 60).unwrap();
    let text = render(&fx.db, now).unwrap();
    assert!(text.contains("\nconveyor_workers 3\n"), "{text}");
    assert!(text.contains("\nconveyor_workers_active 1\n"), "{text}");
    // Seen again within the minute: not rewritten.
    crate::store::workers::touch_seen(&fx.db, recent, now - ACTIVE_WINDOW + 30, 60).unwrap();
    let seen = fx.db.execute("SELECT last_seen_at FROM workers WHERE id = ?", &[recent.into()]).unwrap();
    assert_eq!(seen.first().unwrap().int("last_seen_at").unwrap(), now - ACTIVE_WINDOW);
}

#[test]
fn authenticating_a_worker_records_that_it_was_seen() {
    let fx = Fx::new();
    let input = crate::domain::worker::WorkerInput { alias: "w".into(), ..Default::default() };
    let created = crate::workers::register(&fx.db, &input, T0).unwrap();
    crate::workers::authenticate(&fx.db, created.worker.id, &created.secret).unwrap();
    let text = render(&fx.db, crate::clock::now()).unwrap();
    assert!(text.contains("\nconveyor_workers_active 1\n"), "{text}");
    assert!(crate::workers::authenticate(&fx.db, created.worker.id, "wrong").is_err());
}

#[test]
fn the_exposition_shows_projects_with_escaped_names_and_no_http_series_without_the_hosts_table() {
    let fx = Fx::new();
    let p = fx.project("a\"b");
    fx.submit(&p, "r", 0);
    let text = render(&fx.db, T0).unwrap();
    for line in [
        "# TYPE conveyor_tasks gauge",
        "conveyor_tasks{project=\"a\\\"b\",status=\"new\"} 1",
        "conveyor_tasks{project=\"a\\\"b\",status=\"cancelled\"} 0",
        "# TYPE conveyor_task_submits_total counter",
        "conveyor_task_submits_total{project=\"a\\\"b\"} 1",
        "conveyor_task_releases_total{project=\"a\\\"b\",result=\"skip\"} 0",
        "conveyor_task_lease_expiries_total{project=\"a\\\"b\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
    }
    assert!(!text.contains("conveyor_http"), "no host table, no HTTP series: {text}");
}

#[test]
fn the_hosts_request_rows_become_a_counter_and_a_histogram() {
    let fx = Fx::new();
    fx.db
        .execute(
            &format!(
                "CREATE TABLE {} (component TEXT, method TEXT, status_class TEXT, le TEXT, requests INTEGER, \
                 micros INTEGER, PRIMARY KEY (component, method, status_class, le))",
                crate::store::metrics::HTTP_TABLE
            ),
            &[],
        )
        .unwrap();
    for (le, requests, micros) in [("0.005", 3i64, 6000i64), ("0.1", 1, 50_000), ("+Inf", 1, 20_000_000)] {
        fx.db
            .execute(
                &format!("INSERT INTO {} VALUES ('tasks', 'POST', '2xx', ?, ?, ?)", crate::store::metrics::HTTP_TABLE),
                &[le.into(), requests.into(), micros.into()],
            )
            .unwrap();
    }
    let text = render(&fx.db, T0).unwrap();
    let labels = "component=\"tasks\",method=\"POST\",status=\"2xx\"";
    for line in [
        format!("conveyor_http_requests_total{{{labels}}} 5"),
        format!("conveyor_http_request_duration_seconds_bucket{{{labels},le=\"0.005\"}} 3"),
        format!("conveyor_http_request_duration_seconds_bucket{{{labels},le=\"0.1\"}} 4"),
        format!("conveyor_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 5"),
        format!("conveyor_http_request_duration_seconds_sum{{{labels}}} 20.056"),
        format!("conveyor_http_request_duration_seconds_count{{{labels}}} 5"),
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in\n{text}");
    }
}
