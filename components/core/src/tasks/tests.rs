use super::*;
use crate::connection::NativeDb;
use crate::db::Db;
use crate::domain::accounts::Ref;
use crate::domain::task::{Extend, TaskStatus, hash_unique_string};
use crate::tasks;
use crate::tasks::fixtures::{Fx, T0};
use serde_json::json;

fn spec(recipe: &str) -> TaskSpec {
    Fx::spec(recipe)
}

fn conflict_code(error: ApiError) -> &'static str {
    assert_eq!(error.status(), 409, "{error:?}");
    error.code()
}

// ----------------------------------------------------------------------------------------------------------
// Submit

#[test]
fn submit_stores_every_field_with_defaults() {
    let fx = Fx::new();
    let project = fx.project("render");
    let task = fx.submit(&project, "frame 1", 7);
    assert_eq!(task.project, project.id);
    assert_eq!(task.status, TaskStatus::New);
    assert_eq!((task.priority, task.recipe.as_str(), task.hash64), (7, "frame 1", 0));
    assert_eq!((task.max_retries, task.retries, task.max_assign_time, task.verification_count), (3, 0, 0, 0));
    assert_eq!((task.assignee, task.assign_time, task.lease_expires_at, task.claims), (None, None, None, 0));
    assert_eq!((task.progress, task.result.as_deref(), task.closed_at), (0, None, None));
    assert_eq!((task.created_at, task.updated_at), (T0, T0));
    assert_eq!(fx.task(task.id), task);
    let json = serde_json::to_value(&task).unwrap();
    assert_eq!(json["status"], "new");
    assert_eq!(json.as_object().unwrap().len(), 19, "every SPEC §4 field: {json}");
    assert_eq!(fx.reload(&project).new, 1);
}

#[test]
fn unknown_projects_and_tasks_are_404() {
    let fx = Fx::new();
    let missing = crate::projects::resolve(&fx.db, &Ref::Id(999)).unwrap_err();
    assert_eq!((missing.status(), missing.to_string()), (404, "project not found".to_string()));
    let by_name = crate::projects::resolve(&fx.db, &Ref::Name("nope".into())).unwrap_err();
    assert_eq!(by_name.status(), 404);
    // A project deleted between resolving and inserting: the foreign key answers 404, nothing is written.
    let project = fx.project("gone");
    crate::projects::delete(&fx.db, project.id).unwrap();
    assert_eq!(tasks::submit(&fx.db, &fx.kv, &project, &spec("x"), T0).unwrap_err().status(), 404);
    let bulk = tasks::bulk_submit(&fx.db, &fx.kv, &project, &[spec("a"), spec("b")], T0).unwrap_err();
    assert_eq!(bulk.status(), 404);
    assert_eq!(fx.count_tasks(None), 0);
    assert_eq!(tasks::get(&fx.db, 5).unwrap_err().status(), 404);
    assert_eq!(tasks::result(&fx.db, 5).unwrap_err().status(), 404);
}

#[test]
fn invalid_submits_are_refused_and_write_nothing() {
    let fx = Fx::new();
    let project = fx.project("p");
    let cases: Vec<(TaskSpec, u16, &str)> = vec![
        (TaskSpec { priority: Some(i64::from(i32::MAX) + 1), ..spec("x") }, 422, "priority"),
        (TaskSpec { max_retries: Some(-1), ..spec("x") }, 422, "max_retries"),
        (TaskSpec { max_assign_time: Some(-5), ..spec("x") }, 422, "max_assign_time"),
        (spec(&"r".repeat((1 << 20) + 1)), 422, "recipe"),
        (TaskSpec { hash64: Some(3), unique_string: Some("u".into()), ..spec("x") }, 400, "conflicting_fields"),
    ];
    for (spec, status, what) in cases {
        let error = tasks::submit(&fx.db, &fx.kv, &project, &spec, T0).unwrap_err();
        assert_eq!(error.status(), status, "{what}: {error:?}");
        if let ApiError::Validation { errors, .. } = &error {
            assert_eq!(errors[0].field, what);
        } else {
            assert_eq!(error.code(), what);
        }
    }
    assert_eq!(fx.count_tasks(None), 0);
}

#[test]
fn duplicates_of_open_tasks_are_409_and_allowed_again_after_close_or_cancel() {
    let fx = Fx::new();
    let (project, other) = (fx.project("p"), fx.project("q"));
    let worker = fx.worker("w");
    let hashed = |h: i64| TaskSpec { hash64: Some(h), ..spec("x") };
    let first = fx.submit_spec(&project, hashed(42));
    let error = tasks::submit(&fx.db, &fx.kv, &project, &hashed(42), T0).unwrap_err();
    assert_eq!(conflict_code(error), "duplicate");
    // Another project, and hash 0, never collide.
    fx.submit_spec(&other, hashed(42));
    fx.submit_spec(&project, hashed(0));
    fx.submit_spec(&project, hashed(0));
    // unique_string hashes into hash64 and dedupes the same way.
    let named = TaskSpec { unique_string: Some("job-1".into()), ..spec("x") };
    assert_eq!(fx.submit_spec(&project, named.clone()).hash64, hash_unique_string("job-1"));
    assert_eq!(conflict_code(tasks::submit(&fx.db, &fx.kv, &project, &named, T0).unwrap_err()), "duplicate");
    let same_hash = TaskSpec { hash64: Some(hash_unique_string("job-1")), ..spec("y") };
    assert_eq!(conflict_code(tasks::submit(&fx.db, &fx.kv, &project, &same_hash, T0).unwrap_err()), "duplicate");

    // Failed tasks are still open: they block.
    let failing =
        fx.submit_spec(&project, TaskSpec { hash64: Some(7), max_retries: Some(0), priority: Some(50), ..spec("f") });
    assert_eq!(fx.claim_in(worker, &project, T0).unwrap().id, failing.id);
    fx.release(worker, failing.id, 1, None, None);
    assert_eq!(fx.task(failing.id).status, TaskStatus::Failed);
    assert_eq!(conflict_code(tasks::submit(&fx.db, &fx.kv, &project, &hashed(7), T0).unwrap_err()), "duplicate");

    // Closed: allowed again.
    tasks::set_priority(&fx.db, first.id, 100, T0).unwrap();
    let claimed = fx.claim_in(worker, &project, T0).unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(fx.release(worker, first.id, 0, None, Some("done")).status, TaskStatus::Closed);
    let again = fx.submit_spec(&project, hashed(42));
    assert_ne!(again.id, first.id);
    // Cancelled: allowed again.
    tasks::cancel(&fx.db, again.id, T0).unwrap();
    fx.submit_spec(&project, hashed(42));
}

#[test]
fn bulk_reports_duplicates_by_index_and_ids_per_item() {
    let fx = Fx::new();
    let project = fx.project("p");
    let open = fx.submit_spec(&project, TaskSpec { hash64: Some(5), ..spec("existing") });
    let items = vec![
        TaskSpec { hash64: Some(1), ..spec("a") },
        TaskSpec { hash64: Some(5), ..spec("dup of open") },
        spec("b"),
        TaskSpec { hash64: Some(1), ..spec("dup of item 0") },
        TaskSpec { unique_string: Some("u".into()), ..spec("c") },
        spec("d"),
    ];
    let result = tasks::bulk_submit(&fx.db, &fx.kv, &project, &items, T0).unwrap();
    assert_eq!(result.created, 4);
    assert_eq!(result.duplicates, [1, 3]);
    assert_eq!(result.ids.len(), items.len());
    assert_eq!((result.ids[1], result.ids[3]), (None, None));
    for (index, id) in result.ids.iter().enumerate() {
        if let Some(id) = id {
            assert_eq!(fx.task(*id).recipe, items[index].recipe, "item {index}");
            assert!(*id > open.id);
        }
    }
    let created: Vec<i64> = result.ids.iter().flatten().copied().collect();
    assert!(created.windows(2).all(|w| w[0] < w[1]), "ids follow item order: {created:?}");
    assert_eq!(fx.count_tasks(Some(project.id)), 5);
    assert_eq!(serde_json::to_value(&result).unwrap()["ids"][1], serde_json::Value::Null);
}

#[test]
fn an_invalid_item_rejects_the_whole_bulk() {
    let fx = Fx::new();
    let project = fx.project("p");
    let mut items: Vec<TaskSpec> = (0..50).map(|i| spec(&format!("t{i}"))).collect();
    items[37].priority = Some(i64::MAX);
    items[41].max_retries = Some(-1);
    match tasks::bulk_submit(&fx.db, &fx.kv, &project, &items, T0) {
        Err(ApiError::Validation { errors, .. }) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["tasks[37].priority", "tasks[41].max_retries"]);
        }
        other => panic!("{other:?}"),
    }
    // Both hashes on one item is also a 422 for the bulk (the whole request is rejected).
    let both = vec![spec("a"), TaskSpec { hash64: Some(1), unique_string: Some("x".into()), ..spec("b") }];
    assert_eq!(tasks::bulk_submit(&fx.db, &fx.kv, &project, &both, T0).unwrap_err().status(), 422);
    let too_many = vec![spec("x"); 10_001];
    assert_eq!(tasks::bulk_submit(&fx.db, &fx.kv, &project, &too_many, T0).unwrap_err().status(), 422);
    assert_eq!(fx.count_tasks(None), 0, "nothing was written");
    let empty = tasks::bulk_submit(&fx.db, &fx.kv, &project, &[], T0).unwrap();
    assert_eq!((empty.created, empty.ids.len()), (0, 0));
}

#[test]
fn a_bulk_of_ten_thousand_is_one_transaction() {
    let fx = Fx::new();
    let project = fx.project("big");
    fx.submit_spec(&project, TaskSpec { hash64: Some(9_999), ..spec("already there") });
    let items: Vec<TaskSpec> = (0..10_000)
        .map(|i| TaskSpec { hash64: Some(i + 1), priority: Some(i % 7), ..spec(&format!("t{i}")) })
        .collect();
    let started = std::time::Instant::now();
    let result = tasks::bulk_submit(&fx.db, &fx.kv, &project, &items, T0).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(result.created, 9_999);
    assert_eq!(result.duplicates, [9_998], "hash 9999 was open already");
    assert_eq!(fx.count_tasks(Some(project.id)), 10_000);
    let distinct: std::collections::HashSet<i64> = result.ids.iter().flatten().copied().collect();
    assert_eq!(distinct.len(), 9_999);
    assert_eq!(fx.task(result.ids[1234].unwrap()).recipe, "t1234");
    eprintln!("bulk of 10,000: {elapsed:?}");
    // A failing bulk inside the same project leaves the 10,000 untouched and adds nothing.
    let mut bad = items.clone();
    bad[9_999].recipe = "x".repeat((1 << 20) + 1);
    assert!(tasks::bulk_submit(&fx.db, &fx.kv, &project, &bad, T0).is_err());
    assert_eq!(fx.count_tasks(Some(project.id)), 10_000);
}

// ----------------------------------------------------------------------------------------------------------
// Claim

#[test]
fn claims_go_by_priority_then_fifo() {
    let fx = Fx::new();
    let project = fx.project("p");
    let worker = fx.worker("w");
    let low = fx.submit(&project, "low", 1);
    let high_a = fx.submit(&project, "high a", 5);
    let mid = fx.submit(&project, "mid", 3);
    let high_b = fx.submit(&project, "high b", 5);
    let negative = fx.submit(&project, "negative", -10);
    let order: Vec<i64> = std::iter::from_fn(|| fx.claim_in(worker, &project, T0).map(|t| t.id)).collect();
    assert_eq!(order, [high_a.id, high_b.id, mid.id, low.id, negative.id]);
    assert!(fx.claim_in(worker, &project, T0).is_none(), "nothing claimable → None (204)");
}

#[test]
fn a_claim_sets_the_lease_and_counts() {
    let fx = Fx::new();
    let project = fx.project("p");
    let worker = fx.worker("w");
    let default_lease = fx.submit(&project, "a", 2);
    let short = fx.submit_spec(&project, TaskSpec { max_assign_time: Some(90), ..spec("b") });
    let claimed = fx.claim_in(worker, &project, T0 + 5).unwrap();
    assert_eq!(claimed.id, default_lease.id);
    assert_eq!(claimed.status, TaskStatus::Assigned);
    assert_eq!((claimed.assignee, claimed.assign_time), (Some(worker), Some(T0 + 5)));
    assert_eq!(claimed.lease_expires_at, Some(T0 + 5 + 3600), "max_assign_time 0 = 3600");
    assert_eq!((claimed.claims, claimed.updated_at), (1, T0 + 5));
    let claimed = fx.claim_in(worker, &project, T0 + 5).unwrap();
    assert_eq!((claimed.id, claimed.lease_expires_at), (short.id, Some(T0 + 95)));
    assert_eq!(fx.reload(&project).assigned, 2);
}

#[test]
fn cross_project_claims_order_by_project_priority_then_task_priority_then_id() {
    let fx = Fx::new();
    let low = fx.project_with("low", |p| p.priority = Some(1));
    let b = fx.project_with("b", |p| p.priority = Some(10));
    let c = fx.project_with("c", |p| p.priority = Some(10));
    let worker = fx.worker("w");
    let low_urgent = fx.submit(&low, "low project, urgent task", 100);
    let b1 = fx.submit(&b, "b p1", 1);
    let c5 = fx.submit(&c, "c p5", 5);
    let b5 = fx.submit(&b, "b p5 (newer than c p5)", 5);
    let c1 = fx.submit(&c, "c p1 (newer than b p1)", 1);
    let order: Vec<i64> = std::iter::from_fn(|| fx.claim_any(worker, T0).map(|t| t.id)).collect();
    assert_eq!(order, [c5.id, b5.id, b1.id, c1.id, low_urgent.id]);
}

#[test]
fn claim_scopes_limit_the_projects() {
    let fx = Fx::new();
    let (a, b) = (fx.project("a"), fx.project("b"));
    let worker = fx.worker("w");
    fx.submit(&a, "a", 1);
    let in_b = fx.submit(&b, "b", 0);
    let scope = Scope { sql: "p.id = ?".into(), params: vec![b.id.into()] };
    let claimed = tasks::claim(&fx.db, &fx.kv, worker, ClaimTarget::Any(&scope), T0).unwrap().unwrap();
    assert_eq!(claimed.id, in_b.id);
    assert!(tasks::claim(&fx.db, &fx.kv, worker, ClaimTarget::Any(&scope), T0).unwrap().is_none());
}

#[test]
fn an_expired_lease_is_claimable_and_the_old_holder_is_refused() {
    let fx = Fx::new();
    let project = fx.project("p");
    let (first, second) = (fx.worker("first"), fx.worker("second"));
    let task = fx.submit_spec(&project, TaskSpec { max_assign_time: Some(60), ..spec("slow") });
    assert_eq!(fx.claim_in(first, &project, T0).unwrap().lease_expires_at, Some(T0 + 60));
    assert!(fx.claim_in(second, &project, T0 + 59).is_none(), "lease still valid");
    let taken = fx.claim_in(second, &project, T0 + 60).unwrap();
    assert_eq!((taken.id, taken.assignee, taken.claims), (task.id, Some(second), 2));
    assert_eq!(taken.lease_expires_at, Some(T0 + 120));
    let late = tasks::release(
        &fx.db,
        first,
        task.id,
        &ReleaseRequest { result: 0, verification: None, output: None },
        T0 + 61,
    );
    assert_eq!(conflict_code(late.unwrap_err()), "not_assignee");
    let beat = tasks::heartbeat(&fx.db, first, task.id, &HeartbeatRequest::default(), T0 + 61);
    assert_eq!(conflict_code(beat.unwrap_err()), "not_assignee");
    assert_eq!(fx.task(task.id).assignee, Some(second));
    // An expired lease the holder still has (nobody re-claimed) may still be released by it.
    let third = fx.worker("third");
    let other = fx.submit_spec(&project, TaskSpec { max_assign_time: Some(10), ..spec("other") });
    fx.claim_in(third, &project, T0).unwrap();
    let request = ReleaseRequest { result: 0, verification: None, output: None };
    assert_eq!(tasks::release(&fx.db, third, other.id, &request, T0 + 500).unwrap().status, TaskStatus::Closed);
}

#[test]
fn paused_projects_and_workers_claim_nothing() {
    let fx = Fx::new();
    let project = fx.project("p");
    let (worker, idle) = (fx.worker("w"), fx.worker("idle"));
    let task = fx.submit(&project, "t", 0);
    crate::projects::set_paused(&fx.db, project.id, true, T0).unwrap();
    assert!(fx.claim_in(worker, &project, T0).is_none());
    assert!(fx.claim_any(worker, T0).is_none());
    crate::projects::set_paused(&fx.db, project.id, false, T0).unwrap();
    crate::workers::set_paused(&fx.db, idle, true, T0).unwrap();
    assert!(fx.claim_in(idle, &project, T0).is_none());
    assert!(fx.claim_any(idle, T0).is_none());
    assert_eq!(fx.claim_any(worker, T0).unwrap().id, task.id);
    // Submits to a paused project are accepted.
    crate::projects::set_paused(&fx.db, project.id, true, T0).unwrap();
    fx.submit(&project, "while paused", 0);
}

#[test]
fn both_claim_forms_use_the_partial_claim_index() {
    let fx = Fx::new();
    let project = fx.project("p");
    let one = crate::store::tasks::ClaimFrom { project: Some(project.id), ..Default::default() };
    for from in [crate::store::tasks::ClaimFrom::default(), one] {
        let (sql, params) = crate::store::tasks::claim_statement(1, &from, 1, T0);
        let plan = fx.db.execute(&format!("EXPLAIN QUERY PLAN {sql}"), &params).unwrap();
        let steps: Vec<String> = plan.iter().map(|row| row.text("detail").unwrap()).collect();
        assert!(steps.iter().any(|s| s.contains("tasks_claim")), "{steps:#?}");
        assert!(
            !steps.iter().any(|s| s.contains("SCAN t") && !s.contains("INDEX")),
            "no full scan of tasks: {steps:#?}"
        );
    }
}

// ----------------------------------------------------------------------------------------------------------
// Heartbeat and release

#[test]
fn heartbeats_report_progress_extend_leases_and_signal_abort() {
    let fx = Fx::new();
    let project = fx.project("p");
    let (worker, other) = (fx.worker("w"), fx.worker("o"));
    let task = fx.submit_spec(&project, TaskSpec { max_assign_time: Some(100), ..spec("t") });
    fx.claim_in(worker, &project, T0).unwrap();
    let beat = |request: HeartbeatRequest, now: i64| tasks::heartbeat(&fx.db, worker, task.id, &request, now);
    let plain = beat(HeartbeatRequest { progress: Some(40), extend: None }, T0 + 10).unwrap();
    assert_eq!(plain, Heartbeat { lease_expires_at: Some(T0 + 100), abort: false }, "no extend keeps the lease");
    assert_eq!(fx.task(task.id).progress, 40);
    let renewed = beat(HeartbeatRequest { progress: None, extend: Some(Extend::Flag(true)) }, T0 + 50).unwrap();
    assert_eq!(renewed.lease_expires_at, Some(T0 + 150), "true = now + the task's lease");
    let longer = beat(HeartbeatRequest { progress: None, extend: Some(Extend::Seconds(500)) }, T0 + 60).unwrap();
    assert_eq!(longer.lease_expires_at, Some(T0 + 560));
    let shorter = beat(HeartbeatRequest { progress: None, extend: Some(Extend::Seconds(5)) }, T0 + 70).unwrap();
    assert_eq!(shorter.lease_expires_at, Some(T0 + 560), "never shortened");
    assert_eq!(fx.task(task.id).progress, 40, "absent progress keeps it");
    assert_eq!(beat(HeartbeatRequest { progress: Some(101), extend: None }, T0).unwrap_err().status(), 422);
    assert_eq!(
        beat(HeartbeatRequest { progress: None, extend: Some(Extend::Seconds(0)) }, T0).unwrap_err().status(),
        422
    );
    let stranger = tasks::heartbeat(&fx.db, other, task.id, &HeartbeatRequest::default(), T0);
    assert_eq!(conflict_code(stranger.unwrap_err()), "not_assignee");
    assert_eq!(tasks::heartbeat(&fx.db, worker, 999, &HeartbeatRequest::default(), T0).unwrap_err().status(), 404);

    tasks::cancel(&fx.db, task.id, T0 + 80).unwrap();
    let aborted = beat(HeartbeatRequest { progress: Some(90), extend: Some(Extend::Flag(true)) }, T0 + 81).unwrap();
    assert!(aborted.abort);
    assert_eq!(fx.task(task.id).progress, 40, "a cancelled task no longer changes");
    let release =
        tasks::release(&fx.db, worker, task.id, &ReleaseRequest { result: 0, verification: None, output: None }, T0);
    assert_eq!(conflict_code(release.unwrap_err()), "invalid_transition");
}

#[test]
fn release_ok_closes_and_keeps_the_output() {
    let fx = Fx::new();
    let project = fx.project("p");
    let worker = fx.worker("w");
    for verification_count in [0, 1] {
        let task = fx.submit_spec(&project, TaskSpec { verification_count: Some(verification_count), ..spec("t") });
        fx.claim_in(worker, &project, T0).unwrap();
        let released = fx.release(worker, task.id, 0, Some(3), Some("the output"));
        assert_eq!(
            released,
            Released { updated: true, status: TaskStatus::Closed },
            "count {verification_count} means 1"
        );
        let task = fx.task(task.id);
        assert_eq!((task.result.as_deref(), task.closed_at, task.progress), (Some("the output"), Some(T0), 100));
        assert_eq!((task.assignee, task.lease_expires_at), (Some(worker), None));
    }
    assert_eq!(crate::workers::get(&fx.db, worker).unwrap().closed_task_count, 2);
    assert_eq!(tasks::result(&fx.db, fx.count_tasks(None)).unwrap().1.as_deref(), Some("the output"));
    let bad = ReleaseRequest { result: 3, verification: None, output: None };
    assert_eq!(tasks::release(&fx.db, worker, 1, &bad, T0).unwrap_err().status(), 422);
    let huge = ReleaseRequest { result: 0, verification: None, output: Some("x".repeat((1 << 20) + 1)) };
    assert_eq!(tasks::release(&fx.db, worker, 1, &huge, T0).unwrap_err().status(), 422);
    let closed = ReleaseRequest { result: 0, verification: None, output: None };
    assert_eq!(conflict_code(tasks::release(&fx.db, worker, 1, &closed, T0).unwrap_err()), "invalid_transition");
    assert_eq!(tasks::release(&fx.db, worker, 999, &closed, T0).unwrap_err().status(), 404);
}

#[test]
fn release_fail_retries_until_max_retries_then_fails() {
    let fx = Fx::new();
    let project = fx.project("p");
    let worker = fx.worker("w");
    let task = fx.submit_spec(&project, TaskSpec { max_retries: Some(2), ..spec("t") });
    fx.claim_in(worker, &project, T0).unwrap();
    assert_eq!(fx.release(worker, task.id, 1, None, Some("boom 1")).status, TaskStatus::New);
    let after_one = fx.task(task.id);
    assert_eq!((after_one.retries, after_one.assignee, after_one.lease_expires_at), (1, None, None));
    assert_eq!(after_one.result.as_deref(), Some("boom 1"), "a failure's output is kept for diagnosis");
    fx.claim_in(worker, &project, T0).unwrap();
    assert_eq!(fx.release(worker, task.id, 1, None, None).status, TaskStatus::Failed);
    let failed = fx.task(task.id);
    assert_eq!((failed.retries, failed.status, failed.result.as_deref()), (2, TaskStatus::Failed, Some("boom 1")));
    assert!(fx.claim_in(worker, &project, T0).is_none(), "failed tasks are not claimable");
    assert_eq!(fx.reload(&project).failed, 1);
    // retry: failed → new, retries 0.
    let retried = tasks::retry(&fx.db, task.id, T0).unwrap();
    assert_eq!((retried.status, retried.retries), (TaskStatus::New, 0));
    // max_retries 0: the first failure fails the task.
    let fragile = fx.submit_spec(&project, TaskSpec { max_retries: Some(0), priority: Some(9), ..spec("f") });
    fx.claim_in(worker, &project, T0).unwrap();
    assert_eq!(fx.release(worker, fragile.id, 1, None, None).status, TaskStatus::Failed);
}

#[test]
fn release_skip_returns_the_task_untouched() {
    let fx = Fx::new();
    let project = fx.project("p");
    let (worker, next) = (fx.worker("w"), fx.worker("n"));
    let task = fx.submit(&project, "t", 0);
    fx.claim_in(worker, &project, T0).unwrap();
    tasks::heartbeat(&fx.db, worker, task.id, &HeartbeatRequest { progress: Some(50), extend: None }, T0).unwrap();
    assert_eq!(fx.release(worker, task.id, 2, None, None), Released { updated: true, status: TaskStatus::New });
    let skipped = fx.task(task.id);
    assert_eq!((skipped.retries, skipped.assignee, skipped.progress, skipped.claims), (0, None, 0, 1));
    assert_eq!(fx.claim_in(next, &project, T0).unwrap().id, task.id);
}

#[test]
fn verification_needs_a_quorum_of_distinct_workers() {
    let fx = Fx::new();
    let project = fx.project("p");
    let (w1, w2, w3) = (fx.worker("w1"), fx.worker("w2"), fx.worker("w3"));
    let task = fx.submit_spec(&project, TaskSpec { verification_count: Some(2), ..spec("verify me") });

    assert_eq!(fx.claim_in(w1, &project, T0).unwrap().id, task.id);
    assert_eq!(
        fx.release(w1, task.id, 0, Some(7), Some("w1 says 7")),
        Released { updated: true, status: TaskStatus::New }
    );
    assert_eq!(fx.task(task.id).status, TaskStatus::New);
    assert!(fx.claim_in(w1, &project, T0).is_none(), "w1 already verified it");
    assert!(fx.claim_any(w1, T0).is_none());

    assert_eq!(fx.claim_in(w2, &project, T0).unwrap().id, task.id);
    assert_eq!(fx.release(w2, task.id, 0, Some(8), Some("w2 says 8")).status, TaskStatus::New, "7 and 8: no quorum");
    assert!(fx.claim_in(w2, &project, T0).is_none());

    assert_eq!(fx.claim_in(w3, &project, T0).unwrap().id, task.id);
    assert_eq!(fx.release(w3, task.id, 0, Some(7), Some("w3 says 7")).status, TaskStatus::Closed);
    let closed = fx.task(task.id);
    assert_eq!((closed.status, closed.result.as_deref(), closed.claims), (TaskStatus::Closed, Some("w3 says 7"), 3));
    assert_eq!(crate::store::tasks::votes(&fx.db, task.id).unwrap(), [(7, 2), (8, 1)].into_iter().collect());
    let count = |w: i64| crate::workers::get(&fx.db, w).unwrap().closed_task_count;
    assert_eq!((count(w1), count(w2), count(w3)), (1, 0, 1), "the agreeing workers are credited");
    // A verification FAIL or SKIP records no vote.
    let other = fx.submit_spec(&project, TaskSpec { verification_count: Some(2), ..spec("other") });
    fx.claim_in(w1, &project, T0).unwrap();
    fx.release(w1, other.id, 2, Some(1), None);
    assert!(crate::store::tasks::votes(&fx.db, other.id).unwrap().is_empty());
    assert_eq!(fx.claim_in(w1, &project, T0).unwrap().id, other.id, "after a skip the worker may take it again");
}

#[test]
fn closing_a_task_chains_a_copy_and_skips_a_duplicate() {
    let fx = Fx::new();
    let next = fx.project("next");
    let first = fx.project_with("first", |p| p.chain = Some(next.id));
    let worker = fx.worker("w");
    let spec = TaskSpec {
        priority: Some(4),
        hash64: Some(77),
        max_retries: Some(5),
        max_assign_time: Some(30),
        verification_count: Some(0),
        ..spec("stage 1")
    };
    let task = fx.submit_spec(&first, spec.clone());
    fx.claim_in(worker, &first, T0).unwrap();
    fx.release(worker, task.id, 1, None, None); // a failure first: the copy must still start with retries 0
    fx.claim_in(worker, &first, T0).unwrap();
    assert_eq!(fx.release(worker, task.id, 0, None, Some("out")).status, TaskStatus::Closed);
    let copies = fx.db.execute("SELECT id FROM tasks WHERE project = ?", &[next.id.into()]).unwrap();
    assert_eq!(copies.rows.len(), 1);
    let copy = fx.task(copies.first().unwrap().int("id").unwrap());
    assert_eq!((copy.recipe.as_str(), copy.priority, copy.hash64), ("stage 1", 4, 77));
    assert_eq!((copy.max_retries, copy.max_assign_time, copy.verification_count, copy.retries), (5, 30, 0, 0));
    assert_eq!((copy.status, copy.result.as_deref()), (TaskStatus::New, None));

    // The same hash again: the copy would duplicate the open task in `next` and is skipped.
    let again = fx.submit_spec(&first, spec);
    fx.claim_in(worker, &first, T0).unwrap();
    assert_eq!(fx.release(worker, again.id, 0, None, None).status, TaskStatus::Closed);
    assert_eq!(fx.count_tasks(Some(next.id)), 1);
    // Tasks without a hash always chain.
    let plain = fx.submit(&first, "plain", 0);
    fx.claim_in(worker, &first, T0).unwrap();
    fx.release(worker, plain.id, 0, None, None);
    assert_eq!(fx.count_tasks(Some(next.id)), 2);
    // The chained project's own chain fires only when its copies close.
    assert_eq!(fx.reload(&next).new, 2);
}

// ----------------------------------------------------------------------------------------------------------
// Control actions

#[test]
fn cancel_retry_and_set_priority_follow_the_machine() {
    let fx = Fx::new();
    let project = fx.project("p");
    let worker = fx.worker("w");
    let new = fx.submit(&project, "new", 0);
    let cancelled = tasks::cancel(&fx.db, new.id, T0 + 1).unwrap();
    assert_eq!((cancelled.status, cancelled.updated_at), (TaskStatus::Cancelled, T0 + 1));
    assert_eq!(conflict_code(tasks::cancel(&fx.db, new.id, T0).unwrap_err()), "invalid_transition");
    assert_eq!(conflict_code(tasks::retry(&fx.db, new.id, T0).unwrap_err()), "invalid_transition");
    assert_eq!(conflict_code(tasks::set_priority(&fx.db, new.id, 1, T0).unwrap_err()), "invalid_transition");

    let assigned = fx.submit(&project, "assigned", 0);
    fx.claim_in(worker, &project, T0).unwrap();
    assert_eq!(conflict_code(tasks::retry(&fx.db, assigned.id, T0).unwrap_err()), "invalid_transition");
    assert_eq!(tasks::set_priority(&fx.db, assigned.id, -3, T0).unwrap().priority, -3);
    let cancelled = tasks::cancel(&fx.db, assigned.id, T0).unwrap();
    assert_eq!(cancelled.assignee, Some(worker), "kept so the heartbeat can abort");

    let closed = fx.submit(&project, "closed", 0);
    fx.claim_in(worker, &project, T0).unwrap();
    fx.release(worker, closed.id, 0, None, None);
    assert_eq!(conflict_code(tasks::cancel(&fx.db, closed.id, T0).unwrap_err()), "invalid_transition");
    assert_eq!(conflict_code(tasks::set_priority(&fx.db, closed.id, 1, T0).unwrap_err()), "invalid_transition");

    let failed = fx.submit_spec(&project, TaskSpec { max_retries: Some(0), ..spec("failed") });
    fx.claim_in(worker, &project, T0).unwrap();
    fx.release(worker, failed.id, 1, None, None);
    assert_eq!(tasks::set_priority(&fx.db, failed.id, 8, T0).unwrap().priority, 8);
    assert_eq!(tasks::cancel(&fx.db, failed.id, T0).unwrap().status, TaskStatus::Cancelled);

    let open = fx.submit(&project, "open", 0);
    let error = tasks::set_priority(&fx.db, open.id, i64::from(i32::MIN) - 1, T0).unwrap_err();
    assert_eq!(error.status(), 422);
    assert_eq!(tasks::cancel(&fx.db, 999, T0).unwrap_err().status(), 404);
    assert_eq!(tasks::retry(&fx.db, 999, T0).unwrap_err().status(), 404);
}

#[test]
fn task_actions_parse_and_run() {
    let fx = Fx::new();
    let project = fx.project("p");
    let task = fx.submit(&project, "t", 0);
    assert_eq!(Action::parse("explode", &json!({})).unwrap(), None);
    assert_eq!(Action::parse("cancel", &json!(null)).unwrap(), Some(Action::Cancel));
    assert_eq!(Action::parse("cancel", &json!({"force": true})).unwrap_err().code(), "unknown_field");
    assert_eq!(Action::parse("set_priority", &json!({})).unwrap_err().status(), 422);
    assert_eq!(Action::parse("set_priority", &json!([1])).unwrap_err().status(), 422);
    let action = Action::parse("set_priority", &json!({"priority": 12})).unwrap().unwrap();
    assert_eq!(action.required_role(), roles::EDIT);
    assert_eq!(action.run(&fx.db, task.id, T0).unwrap()["priority"], 12);
    assert_eq!(Action::Cancel.run(&fx.db, task.id, T0).unwrap()["status"], "cancelled");
}

// ----------------------------------------------------------------------------------------------------------
// Rate limits

#[test]
fn submit_rate_admits_a_big_bulk_once_then_429_then_again_later() {
    let fx = Fx::new();
    let project = fx.project_with("limited", |p| p.submit_rate = Some(5.0));
    let items: Vec<TaskSpec> = (0..20).map(|i| spec(&format!("t{i}"))).collect();
    assert_eq!(tasks::bulk_submit(&fx.db, &fx.kv, &project, &items, T0).unwrap().created, 20, "20 > capacity 5");
    match tasks::submit(&fx.db, &fx.kv, &project, &spec("one more"), T0 + 1) {
        Err(ApiError::TooManyRequests { retry_after }) => assert_eq!(retry_after, 3.0, "debt 15 at 5/s"),
        other => panic!("{other:?}"),
    }
    assert!(tasks::bulk_submit(&fx.db, &fx.kv, &project, &items, T0 + 3).is_err(), "still in debt at T0+3");
    assert_eq!(fx.count_tasks(Some(project.id)), 20, "refused requests write nothing");
    assert_eq!(tasks::bulk_submit(&fx.db, &fx.kv, &project, &items, T0 + 4).unwrap().created, 20);
    // Unlimited projects never refuse.
    let free = fx.project("free");
    for _ in 0..3 {
        tasks::bulk_submit(&fx.db, &fx.kv, &free, &items, T0).unwrap();
    }
}

#[test]
fn assign_rate_limits_claims_per_project() {
    let fx = Fx::new();
    let limited = fx.project_with("limited", |p| {
        p.assign_rate = Some(1.0);
        p.priority = Some(10);
    });
    let other = fx.project("other");
    let worker = fx.worker("w");
    for i in 0..3 {
        fx.submit(&limited, &format!("l{i}"), 0);
        fx.submit(&other, &format!("o{i}"), 0);
    }
    assert_eq!(fx.claim_in(worker, &limited, T0).unwrap().project, limited.id);
    let limited_again = tasks::claim(&fx.db, &fx.kv, worker, ClaimTarget::Project(&limited), T0);
    assert!(matches!(limited_again, Err(ApiError::TooManyRequests { retry_after }) if retry_after == 1.0));
    // Across projects the limited one (higher priority) is skipped while in debt.
    assert_eq!(fx.claim_any(worker, T0).unwrap().project, other.id);
    assert_eq!(fx.claim_any(worker, T0 + 1).unwrap().project, limited.id, "repaid after a second");
    assert_eq!(fx.claim_any(worker, T0 + 1).unwrap().project, other.id);
    assert_eq!(fx.reload(&limited).assigned, 2);
    // An empty claim costs nothing: claiming again and again from an empty limited project never hits 429.
    let empty = fx.project_with("empty", |p| p.assign_rate = Some(1.0));
    for _ in 0..3 {
        assert!(tasks::claim(&fx.db, &fx.kv, worker, ClaimTarget::Project(&empty), T0).unwrap().is_none());
    }
}

// ----------------------------------------------------------------------------------------------------------
// Concurrency: many connections on one file, as many hosts sharing one database.

#[test]
fn concurrent_claimers_never_share_a_task() {
    let platform = crate::testing::TestPlatform::new("claims");
    let path = platform.path.clone();
    const TASKS: usize = 400;
    const THREADS: usize = 6;
    let (projects, workers) = {
        let db = NativeDb::open(&path).unwrap();
        let kv = crate::platform::MemoryKv::default();
        let fx_project = |name: &str, priority: i64| {
            let input = crate::domain::project::ProjectInput {
                name: name.into(),
                priority: Some(priority),
                ..Default::default()
            };
            crate::projects::create(&db, None, &input, T0).unwrap()
        };
        let projects = [fx_project("a", 1), fx_project("b", 2)];
        for (i, project) in (0..TASKS).zip(projects.iter().cycle()) {
            let spec = TaskSpec { priority: Some((i % 5) as i64), ..spec(&format!("t{i}")) };
            tasks::submit(&db, &kv, project, &spec, T0).unwrap();
        }
        let workers: Vec<i64> = (0..THREADS)
            .map(|i| {
                let input = crate::domain::worker::WorkerInput { alias: format!("w{i}"), ..Default::default() };
                crate::workers::register(&db, &input, T0).unwrap().worker.id
            })
            .collect();
        (projects.map(|p| p.id), workers)
    };
    let threads: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(i, worker)| {
            let path = path.clone();
            std::thread::spawn(move || {
                let db = NativeDb::open(&path).unwrap();
                let kv = crate::platform::MemoryKv::default();
                let mut claimed = Vec::new();
                loop {
                    // Half the threads claim across projects, half from one project then the other.
                    let task = if i % 2 == 0 {
                        tasks::claim(&db, &kv, worker, ClaimTarget::Any(&Scope::default()), T0).unwrap()
                    } else {
                        let from = crate::store::tasks::ClaimFrom {
                            project: Some(projects[i % projects.len()]),
                            ..Default::default()
                        };
                        crate::store::tasks::claim(&db, worker, &from, T0).unwrap().or_else(|| {
                            tasks::claim(&db, &kv, worker, ClaimTarget::Any(&Scope::default()), T0).unwrap()
                        })
                    };
                    match task {
                        Some(task) => {
                            assert_eq!(task.assignee, Some(worker));
                            claimed.push(task.id);
                        }
                        None => return claimed,
                    }
                }
            })
        })
        .collect();
    let mut all: Vec<i64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((total, all.len()), (TASKS, TASKS), "every task claimed exactly once");
    let db = NativeDb::open(&path).unwrap();
    let rows = db.execute("SELECT COUNT(*) AS n FROM tasks WHERE status = 'assigned' AND claims = 1", &[]).unwrap();
    assert_eq!(rows.first().unwrap().int("n").unwrap(), TASKS as i64);
    drop(db);
}

// ----------------------------------------------------------------------------------------------------------
// Batch claim and release

#[test]
fn batch_claims_take_tasks_in_claim_order_and_batch_releases_answer_per_item() {
    let fx = Fx::new();
    let (low, high) = (fx.project("low"), fx.project_with("high", |p| p.priority = Some(5)));
    let worker = fx.worker("w");
    let other = fx.worker("o");
    let submitted: Vec<Task> = [(&low, 1), (&low, 9), (&high, 0), (&low, 9), (&high, 3)]
        .iter()
        .map(|(p, prio)| fx.submit(p, "t", *prio))
        .collect();
    let ids = |tasks: &[Task]| tasks.iter().map(|t| t.id).collect::<Vec<_>>();

    let from_low = tasks::claim_many(&fx.db, &fx.kv, worker, ClaimTarget::Project(&low), 2, T0).unwrap();
    assert_eq!(ids(&from_low), vec![submitted[1].id, submitted[3].id], "priority, then id");
    let any = tasks::claim_many(&fx.db, &fx.kv, worker, ClaimTarget::Any(&Scope::default()), 100, T0).unwrap();
    assert_eq!(ids(&any), vec![submitted[4].id, submitted[2].id, submitted[0].id], "project priority first");
    assert!(any.iter().chain(&from_low).all(|t| t.assignee == Some(worker) && t.status == TaskStatus::Assigned));
    assert!(tasks::claim_many(&fx.db, &fx.kv, worker, ClaimTarget::Any(&Scope::default()), 5, T0).unwrap().is_empty());
    for max in [0, 101] {
        let refused = tasks::claim_many(&fx.db, &fx.kv, worker, ClaimTarget::Project(&low), max, T0).unwrap_err();
        assert_eq!(refused.status(), 422, "max {max}");
    }

    let item = |id: i64, result: i64| BatchReleaseItem { id, result, verification: None, output: None };
    let foreign = fx.submit(&low, "someone else's", 0);
    fx.claim_in(other, &low, T0).unwrap();
    let answers = tasks::release_many(
        &fx.db,
        worker,
        &[item(submitted[1].id, 0), item(foreign.id, 0), item(submitted[3].id, 1), item(999_999, 0)],
        T0 + 1,
    )
    .unwrap();
    let shapes: Vec<(i64, bool, Option<TaskStatus>)> = answers.iter().map(|a| (a.id, a.updated, a.status)).collect();
    assert_eq!(
        shapes,
        vec![
            (submitted[1].id, true, Some(TaskStatus::Closed)),
            (foreign.id, false, None),
            (submitted[3].id, true, Some(TaskStatus::New)),
            (999_999, false, None),
        ]
    );
    assert_eq!(fx.task(foreign.id).assignee, Some(other), "an item the caller does not hold changes nothing");

    let invalid = tasks::release_many(&fx.db, worker, &[item(submitted[0].id, 0), item(submitted[2].id, 7)], T0);
    assert_eq!(invalid.unwrap_err().status(), 422);
    assert_eq!(fx.task(submitted[0].id).status, TaskStatus::Assigned, "an invalid item refuses the whole batch");
    assert_eq!(tasks::release_many(&fx.db, worker, &[], T0).unwrap_err().status(), 422);
}

/// A batch release changes the database exactly as the same releases made one by one, in order: plain OKs
/// (closed together in one statement), a quorum vote, a fail, a skip, repeated ids, tasks not held, and the
/// chained copies and worker credits that closing makes.
#[test]
fn a_batch_release_changes_what_the_same_single_releases_change() {
    let items = |ids: &[i64]| {
        let item = |id: i64, result: i64, verification: Option<i64>, output: Option<&str>| BatchReleaseItem {
            id,
            result,
            verification,
            output: output.map(String::from),
        };
        vec![
            item(ids[0], 0, None, Some("first")),
            item(ids[1], 0, Some(3), None),
            item(ids[2], 0, Some(7), Some("a vote")),
            item(ids[3], 1, None, Some("failed once")),
            item(ids[0], 0, None, Some("repeated")),
            item(ids[4], 2, None, None),
            item(ids[5], 0, None, Some("not mine")),
            item(ids[3], 0, None, None),
            item(999_999, 0, None, None),
        ]
    };
    let run = |batch: bool| {
        let fx = Fx::new();
        let next = fx.project("next");
        let project = fx.project_with("first", |p| p.chain = Some(next.id));
        let (worker, other) = (fx.worker("w"), fx.worker("o"));
        let mut ids: Vec<i64> = (0..5)
            .map(|i| {
                let quorum = if i == 2 { Some(2) } else { None };
                fx.submit_spec(&project, TaskSpec { verification_count: quorum, ..Fx::spec(&format!("t{i}")) }).id
            })
            .collect();
        for _ in 0..5 {
            fx.claim_in(worker, &project, T0).unwrap();
        }
        ids.push(fx.submit(&project, "another's", 0).id);
        fx.claim_in(other, &project, T0).unwrap();
        let answers: Vec<(i64, bool, Option<TaskStatus>)> = if batch {
            let answers = tasks::release_many(&fx.db, worker, &items(&ids), T0 + 1).unwrap();
            answers.iter().map(|a| (a.id, a.updated, a.status)).collect()
        } else {
            items(&ids)
                .iter()
                .map(|item| match tasks::release(&fx.db, worker, item.id, &item.request(), T0 + 1) {
                    Ok(released) => (item.id, true, Some(released.status)),
                    Err(_) => (item.id, false, None),
                })
                .collect()
        };
        let dump = |sql: &str| fx.db.execute(sql, &[]).unwrap().rows;
        let state = [
            dump("SELECT * FROM tasks ORDER BY id"),
            // (Each run's workers have secrets of their own.)
            dump("SELECT id, alias, paused, closed_task_count, updated_at FROM workers ORDER BY id"),
            dump("SELECT * FROM task_verifications ORDER BY task, worker"),
            dump("SELECT * FROM projects ORDER BY id"),
        ];
        (answers, state)
    };
    let (batch_answers, batch_state) = run(true);
    let (single_answers, single_state) = run(false);
    assert_eq!(batch_answers, single_answers);
    assert_eq!(batch_state, single_state);
    let updated: Vec<bool> = batch_answers.iter().map(|(_, updated, _)| *updated).collect();
    assert_eq!(updated, [true, true, true, true, false, true, false, false, false], "{batch_answers:?}");
    assert_eq!(batch_state[0].len(), 8, "the two closed tasks chained a copy each: {:?}", batch_state[0]);
}

#[test]
fn sixteen_concurrent_batch_claimers_never_share_a_task() {
    let platform = crate::testing::TestPlatform::new("batch-claims");
    let path = platform.path.clone();
    const TASKS: usize = 1_200;
    const THREADS: usize = 16;
    let (project, workers) = {
        let db = NativeDb::open(&path).unwrap();
        let kv = crate::platform::MemoryKv::default();
        let input = crate::domain::project::ProjectInput { name: "batch".into(), ..Default::default() };
        let project = crate::projects::create(&db, None, &input, T0).unwrap();
        let specs: Vec<TaskSpec> = (0..TASKS).map(|i| spec(&format!("t{i}"))).collect();
        tasks::bulk_submit(&db, &kv, &project, &specs, T0).unwrap();
        let workers: Vec<i64> = (0..THREADS)
            .map(|i| {
                let input = crate::domain::worker::WorkerInput { alias: format!("w{i}"), ..Default::default() };
                crate::workers::register(&db, &input, T0).unwrap().worker.id
            })
            .collect();
        (project, workers)
    };
    let threads: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(i, worker)| {
            let (path, project) = (path.clone(), project.clone());
            std::thread::spawn(move || {
                let db = NativeDb::open(&path).unwrap();
                let kv = crate::platform::MemoryKv::default();
                let scope = Scope::default();
                let mut claimed = Vec::new();
                loop {
                    // Half claim from the project, half across projects; batches of 1 to 50.
                    let target = if i % 2 == 0 { ClaimTarget::Project(&project) } else { ClaimTarget::Any(&scope) };
                    let batch = tasks::claim_many(&db, &kv, worker, target, 1 + (i * 7) % 50, T0).unwrap();
                    if batch.is_empty() {
                        return claimed;
                    }
                    assert!(batch.iter().all(|task| task.assignee == Some(worker)));
                    claimed.extend(batch.iter().map(|task| task.id));
                }
            })
        })
        .collect();
    let mut all: Vec<i64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((total, all.len()), (TASKS, TASKS), "every task claimed exactly once");
    let db = NativeDb::open(&path).unwrap();
    let rows = db.execute("SELECT COUNT(*) AS n FROM tasks WHERE status = 'assigned' AND claims = 1", &[]).unwrap();
    assert_eq!(rows.first().unwrap().int("n").unwrap(), TASKS as i64);
}
