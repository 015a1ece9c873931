//! Which triggers each of the queue's writes carries. SQLite compiles into a statement every trigger the
//! statement could fire, when the statement is prepared, and Spin prepares every statement again on each
//! request (docs/spin.md, "What the triggers cost a write"). So a trigger should listen to a column that only
//! the changes it follows set: these tests pin that down for the statements the store really runs.

use crate::connection::NativeDb;
use crate::db::Db;
use crate::domain::task::{ReleaseRequest, TaskStatus};
use crate::tasks::fixtures::{Fx, T0};
use crate::testing::{Recording, trigger_names};

/// The one statement `work` ran on `recording`.
fn only(recording: &Recording, work: impl FnOnce(&dyn Db)) -> String {
    recording.1.borrow_mut().clear();
    work(recording);
    let statements = recording.1.take();
    assert_eq!(statements.len(), 1, "{statements:?}");
    statements.into_iter().next().unwrap()
}

/// The triggers compiled into `sql`: those without which its program is shorter. Each is dropped inside a
/// savepoint and restored.
fn compiled_into(db: &NativeDb, sql: &str) -> Vec<String> {
    let connection = &db.0;
    // Unbound parameters are NULL, which is all EXPLAIN needs.
    let length = || {
        let mut explain = connection.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let mut steps = explain.raw_query();
        std::iter::from_fn(|| steps.next().unwrap().map(drop)).count()
    };
    let all = length();
    trigger_names(connection, "1")
        .into_iter()
        .filter(|name| {
            connection.execute_batch(&format!("SAVEPOINT probe; DROP TRIGGER {name}")).unwrap();
            let shorter = length() < all;
            connection.execute_batch("ROLLBACK TO probe; RELEASE probe").unwrap();
            shorter
        })
        .collect()
}

#[test]
fn a_claim_or_a_release_carries_only_the_triggers_it_can_fire() {
    let fx = Fx::new();
    let project = fx.project("render");
    let worker = fx.worker("w1");
    for recipe in ["a", "b", "c"] {
        fx.submit(&project, recipe, 0);
    }
    let recording = Recording::new(&fx.db);
    let claim =
        |db: &dyn Db| drop(crate::tasks::claim(db, &fx.kv, worker, crate::tasks::ClaimTarget::Project(&project), T0));
    let release = |result: i64| {
        let task = fx.claim_in(worker, &project, T0).expect("a task to claim");
        let request = ReleaseRequest { result, verification: None, output: None };
        only(&recording, |db| assert!(crate::tasks::release(db, worker, task.id, &request, T0).unwrap().updated))
    };
    let counters = ["projectw_event_task_updated", "tasks_counted_on_status"];
    let with = |more: &[&str]| {
        let mut names: Vec<String> = counters.iter().chain(more).map(|name| name.to_string()).collect();
        names.sort();
        names
    };

    let claimed = only(&recording, claim);
    assert_eq!(compiled_into(&fx.db, &claimed), with(&["tasks_counted_on_takeover"]), "a claim");
    // Closing chains a copy: the copy's insert is counted.
    let closing = ["tasks_closed", "tasks_counted_on_insert"];
    assert_eq!(compiled_into(&fx.db, &release(0)), with(&closing), "an OK release closes");
    assert_eq!(compiled_into(&fx.db, &release(1)), with(&[]), "a failed release never closes");
    assert_eq!(compiled_into(&fx.db, &release(2)), with(&[]), "a skip never closes");

    let task = fx.submit(&project, "d", 0);
    let cancelled =
        only(&recording, |db| assert_eq!(crate::tasks::cancel(db, task.id, T0).unwrap().status, TaskStatus::Cancelled));
    // Cancelling finishes a Project-W job: the job's own triggers (its event, its owner's mail) come along.
    let aborting = ["projectw_event_job_updated", "projectw_mail_on_finish", "projectw_task_cancelled"];
    assert_eq!(compiled_into(&fx.db, &cancelled), with(&aborting), "a cancel");
}
