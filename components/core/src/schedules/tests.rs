use super::*;
use crate::auth::UserPrincipal;
use crate::domain::roles;
use crate::store::tokens::TokenKind;
use crate::tasks::fixtures::{Fx, T0};
use serde_json::json;
use std::cell::RefCell;

/// Records what it was asked to send and answers from a script (then 200 for everything after it).
#[derive(Default)]
struct FakeCourier {
    sent: RefCell<Vec<Post>>,
    script: RefCell<Vec<Answer>>,
}

impl FakeCourier {
    fn answering(answers: Vec<Answer>) -> Self {
        FakeCourier { script: RefCell::new(answers), ..Self::default() }
    }
}

impl Courier for FakeCourier {
    fn deadline(&self) -> Duration {
        Duration::from_secs(30)
    }

    fn deliver(&self, posts: &[Post], answered: &mut dyn FnMut(usize, Answer)) {
        self.sent.borrow_mut().extend_from_slice(posts);
        for index in 0..posts.len() {
            let answer = {
                let mut script = self.script.borrow_mut();
                if script.is_empty() {
                    Answer::Status { status: 200, excerpt: String::new() }
                } else {
                    script.remove(0)
                }
            };
            answered(index, answer);
        }
    }
}

/// Fires what is due at `now`, then delivers what is due, as the two ticks do; the sum of both.
fn tick(fx: &Fx, courier: &FakeCourier, now: i64) -> Firing {
    let fired = run_due(&fx.db, &fx.kv, now).unwrap();
    let sent = deliver_due(&fx.db, courier, &|| now).unwrap();
    Firing { fired: fired.fired, ..sent }
}

const OPEN: Endpoints = Endpoints { allow_private: false };

fn person(id: i64, name: &str) -> Caller {
    Caller::Person(Principal::User(UserPrincipal {
        id,
        username: name.into(),
        admin: false,
        token_id: 1,
        token_kind: TokenKind::Api,
    }))
}

fn input(value: Json) -> ScheduleInput {
    serde_json::from_value(value).unwrap()
}

fn webhook(every: &str) -> ScheduleInput {
    input(
        json!({"interval_definition": every, "endpoint": "https://hooks.example/in", "payload": {"n": 1}, "auth_token": "s3cret"}),
    )
}

fn failures_of(fx: &Fx, caller: &Caller, id: &str) -> Vec<Json> {
    failures(&fx.db, caller, id, &[]).unwrap().page.results.into_iter().map(Json::Object).collect()
}

#[test]
fn owners_see_and_change_their_schedules_and_nobody_else_does() {
    let fx = Fx::new();
    let (ada, bob) = (fx.user("ada"), fx.user("bob"));
    let (ada, bob) = (person(ada, "ada"), person(bob, "bob"));
    let created = create(&fx.db, &ada, &webhook("1 minutes"), OPEN, T0).unwrap();
    assert_eq!((created.next_run_at, created.enabled, created.last_run_at), (T0 + 60, true, None));
    assert_eq!(created.id.len(), 36);
    let shown = serde_json::to_value(&created).unwrap();
    assert!(shown.get("auth_token").is_none() && !shown.to_string().contains("s3cret"), "write-only: {shown}");

    assert_eq!(get(&fx.db, &bob, &created.id).unwrap_err().status(), 404);
    assert_eq!(delete(&fx.db, &bob, &created.id).unwrap_err().status(), 404);
    let patch = json!({"name": "mine now"}).as_object().unwrap().clone();
    assert_eq!(update(&fx.db, &bob, &created.id, &patch, OPEN, T0).unwrap_err().status(), 404);
    assert_eq!(list(&fx.db, &bob, &[]).unwrap().page.count, 0);
    assert_eq!(list(&fx.db, &ada, &[]).unwrap().page.results[0]["payload"], json!({"n": 1}), "JSON, not text");
    assert_eq!(list(&fx.db, &Caller::Person(Principal::Admin), &[]).unwrap().page.count, 1);
    assert_eq!(
        create(&fx.db, &Caller::Person(Principal::Anonymous), &webhook("1 minutes"), OPEN, T0).unwrap_err().status(),
        401
    );
    let worker = Caller::Worker(crate::workers::get(&fx.db, fx.worker("w")).unwrap());
    assert_eq!(create(&fx.db, &worker, &webhook("1 minutes"), OPEN, T0).unwrap_err().status(), 403);
    assert_eq!(list(&fx.db, &worker, &[]).unwrap_err().status(), 403);

    delete(&fx.db, &ada, &created.id).unwrap();
    assert_eq!(get(&fx.db, &ada, &created.id).unwrap_err().status(), 404);
}

#[test]
fn editing_the_definition_moves_next_run_at_and_other_edits_do_not() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    let created = create(&fx.db, &ada, &webhook("1 hours"), OPEN, T0).unwrap();
    let patch = |value: Json| value.as_object().unwrap().clone();
    let renamed = update(&fx.db, &ada, &created.id, &patch(json!({"name": "x"})), OPEN, T0 + 100).unwrap();
    assert_eq!(renamed.next_run_at, T0 + 3600, "a rename keeps the time");
    let moved =
        update(&fx.db, &ada, &created.id, &patch(json!({"interval_definition": "5 minutes"})), OPEN, T0 + 100).unwrap();
    assert_eq!(moved.next_run_at, T0 + 100 + 300, "Seed Scheduler's bug is not copied");
    let to_cron = patch(json!({"cron_definition": "0 * * * *", "interval_definition": null}));
    let hourly = update(&fx.db, &ada, &created.id, &to_cron, OPEN, T0 + 100).unwrap();
    assert_eq!(hourly.next_run_at % 3600, 0);
    let refused = update(&fx.db, &ada, &created.id, &patch(json!({"interval_definition": "1 minutes"})), OPEN, T0);
    let refused = refused.unwrap_err();
    assert!(matches!(&refused, ApiError::Validation { errors, .. } if errors[0].field == "cron_definition"));
    assert_eq!(
        update(&fx.db, &ada, &created.id, &patch(json!({"next_run_at": 1})), OPEN, T0).unwrap_err().status(),
        422
    );
}

#[test]
fn every_occurrence_fires_once_and_missed_ones_coalesce() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    let schedule = create(&fx.db, &ada, &webhook("1 minutes"), OPEN, T0).unwrap();
    let courier = FakeCourier::default();
    assert_eq!(tick(&fx, &courier, T0 + 59), Firing::default(), "not yet due");
    let first = tick(&fx, &courier, T0 + 60);
    assert_eq!((first.fired, first.delivered), (1, 1));
    assert_eq!(tick(&fx, &courier, T0 + 60), Firing::default(), "a second caller finds nothing");
    let sent = courier.sent.borrow().clone();
    assert_eq!(sent.len(), 1);
    let headers = vec![
        (SCHEDULE_HEADER.to_string(), schedule.id.clone()),
        (OCCURRENCE_HEADER.to_string(), (T0 + 60).to_string()),
        (TRIGGER_HEADER.to_string(), "schedule".to_string()),
        ("authorization".to_string(), "Token s3cret".to_string()),
    ];
    assert_eq!(sent[0], Post { url: "https://hooks.example/in".into(), headers, body: r#"{"n":1}"#.into() });
    assert_eq!(get(&fx.db, &ada, &schedule.id).unwrap().last_run_at, Some(T0 + 60));

    // Nobody called for an hour: one firing, and the phase is kept.
    let late = tick(&fx, &courier, T0 + 60 + 3600 + 30);
    assert_eq!(late.fired, 1);
    assert_eq!(get(&fx.db, &ada, &schedule.id).unwrap().next_run_at, T0 + 60 + 3660);

    // Disabled schedules do not fire; enabling starts from now, not from the missed time.
    let disabled = Action::Disable.run(&fx.db, &fx.kv, &ada, &schedule.id, T0 + 4000).unwrap();
    assert_eq!(disabled["enabled"], false);
    assert_eq!(tick(&fx, &courier, T0 + 9000).fired, 0);
    let enabled = Action::Enable.run(&fx.db, &fx.kv, &ada, &schedule.id, T0 + 9000).unwrap();
    assert_eq!(enabled["next_run_at"], T0 + 9060);
}

#[test]
fn task_schedules_submit_with_the_owners_rights_at_firing_time() {
    let fx = Fx::new();
    let ada_id = fx.user("ada");
    let ada = person(ada_id, "ada");
    let render = fx.project_with("render", |p| p.visibility = Some(crate::domain::project::Visibility::Private));
    let body = json!({"interval_definition": "1 minutes", "project": "render", "recipe": "frame", "priority": 4});
    assert_eq!(create(&fx.db, &ada, &input(body.clone()), OPEN, T0).unwrap_err().status(), 403, "no EDIT on render");
    crate::projects::set_user_grant(&fx.db, render.id, ada_id, roles::READ | roles::EDIT).unwrap();
    let schedule = create(&fx.db, &ada, &input(body), OPEN, T0).unwrap();
    assert_eq!(schedule.project, Some(render.id));

    let courier = FakeCourier::default();
    assert_eq!(tick(&fx, &courier, T0 + 60).fired, 1);
    assert_eq!(fx.count_tasks(Some(render.id)), 1);
    let task = crate::tasks::get(&fx.db, 1).unwrap();
    assert_eq!((task.recipe.as_str(), task.priority), ("frame", 4));
    assert!(courier.sent.borrow().is_empty(), "a task schedule posts nothing");

    // Ada loses EDIT: the next occurrence is refused and recorded, and requeue submits it once she has it back.
    crate::projects::set_user_grant(&fx.db, render.id, ada_id, roles::READ).unwrap();
    assert_eq!(tick(&fx, &courier, T0 + 120).fired, 1);
    assert_eq!(fx.count_tasks(Some(render.id)), 1);
    let recorded = failures_of(&fx, &ada, &schedule.id);
    assert_eq!(
        (recorded.len(), &recorded[0]["status"], &recorded[0]["occurrence_at"]),
        (1, &json!(403), &json!(T0 + 120))
    );
    crate::projects::set_user_grant(&fx.db, render.id, ada_id, roles::READ | roles::EDIT).unwrap();
    let requeued = Action::Requeue.run(&fx.db, &fx.kv, &ada, &schedule.id, T0 + 130).unwrap();
    assert_eq!(requeued, json!({"requeued": 1}));
    assert_eq!(fx.count_tasks(Some(render.id)), 2);
    assert!(failures_of(&fx, &ada, &schedule.id).is_empty());
}

#[test]
fn failed_deliveries_retry_with_backoff_then_become_failures_that_requeue_replays() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    let schedule = create(&fx.db, &ada, &webhook("1 days"), OPEN, T0).unwrap();
    let mut script = vec![Answer::Failed("timed out".into())];
    script.extend((0..RETRIES).map(|_| Answer::Status { status: 503, excerpt: "busy".into() }));
    let courier = FakeCourier::answering(script);
    let due = T0 + 86_400;
    let first = tick(&fx, &courier, due);
    assert_eq!((first.fired, first.retried), (1, 1));
    let mut now = due;
    let mut waits = Vec::new();
    for attempt in 1..=RETRIES {
        // Nothing is sent again before the backoff has passed.
        let pending = fx.db.execute("SELECT due_at FROM schedule_deliveries", &[]).unwrap();
        let due_at = pending.first().unwrap().int("due_at").unwrap();
        waits.push(due_at - now);
        assert_eq!(tick(&fx, &courier, due_at - 1), Firing::default(), "attempt {attempt}");
        now = due_at;
        let firing = tick(&fx, &courier, now);
        let expected = if attempt == RETRIES { (0, 1) } else { (1, 0) };
        assert_eq!((firing.retried, firing.failed), expected, "attempt {attempt}");
    }
    assert_eq!(courier.sent.borrow().len() as i64, RETRIES + 1);
    for (attempt, wait) in waits.iter().enumerate() {
        let ceiling = (1_i64 << (attempt + 1)).min(BACKOFF_CAP);
        assert!((ceiling / 2..=ceiling).contains(wait) || *wait == 1, "wait {wait} after attempt {}", attempt + 1);
    }
    let recorded = failures_of(&fx, &ada, &schedule.id);
    assert_eq!(recorded.len(), 1);
    assert_eq!((&recorded[0]["attempts"], &recorded[0]["status"]), (&json!(RETRIES + 1), &json!(503)));
    assert_eq!(recorded[0]["error"], "HTTP 503: busy");
    assert_eq!(get(&fx.db, &ada, &schedule.id).unwrap().last_run_at, None);

    // Requeue: delivered again at the next run (the courier now answers 200).
    assert_eq!(requeue_mine(&fx.db, &fx.kv, &ada, now).unwrap(), 1);
    assert!(failures_of(&fx, &ada, &schedule.id).is_empty());
    assert_eq!(tick(&fx, &courier, now).delivered, 1);
    assert_eq!(get(&fx.db, &ada, &schedule.id).unwrap().last_run_at, Some(now));
}

#[test]
fn run_now_fires_without_moving_the_schedule_and_a_vanished_owner_is_refused() {
    let fx = Fx::new();
    let ada_id = fx.user("ada");
    let ada = person(ada_id, "ada");
    let schedule = create(&fx.db, &ada, &webhook("1 hours"), OPEN, T0).unwrap();
    let after = Action::RunNow.run(&fx.db, &fx.kv, &ada, &schedule.id, T0 + 5).unwrap();
    assert_eq!(after["next_run_at"], T0 + 3600);
    let courier = FakeCourier::default();
    assert_eq!(tick(&fx, &courier, T0 + 5).delivered, 1);
    assert!(Action::parse("explode", &json!({})).unwrap().is_none());
    assert_eq!(Action::parse("run_now", &json!({"x": 1})).unwrap_err().status(), 422);

    let project = fx.project("render");
    crate::projects::set_user_grant(&fx.db, project.id, ada_id, roles::ALL).unwrap();
    let body = json!({"interval_definition": "1 minutes", "project": project.id, "recipe": "r"});
    let task_schedule = create(&fx.db, &ada, &input(body), OPEN, T0).unwrap();
    fx.db.execute("UPDATE users SET active = 0 WHERE id = ?", &[ada_id.into()]).unwrap();
    assert_eq!(tick(&fx, &courier, T0 + 60).fired, 1);
    let admin = Caller::Person(Principal::Admin);
    assert_eq!(failures_of(&fx, &admin, &task_schedule.id)[0]["status"], 403, "the owner's account is disabled");
    assert_eq!(fx.count_tasks(Some(project.id)), 0);
}

#[test]
fn the_delivery_timeout_variable_is_bounded() {
    assert_eq!(delivery_timeout(None), DELIVERY_TIMEOUT);
    assert_eq!(delivery_timeout(Some(" 5 ")), Duration::from_secs(5));
    for bad in ["0", "301", "-3", "soon", ""] {
        assert_eq!(delivery_timeout(Some(bad)), DELIVERY_TIMEOUT, "{bad}");
    }
}

#[test]
fn private_endpoints_and_impossible_dates_are_refused_as_input() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    let private = input(json!({"interval_definition": "1 minutes", "endpoint": "http://169.254.169.254/latest"}));
    let refused = create(&fx.db, &ada, &private, OPEN, T0).unwrap_err();
    assert!(matches!(&refused, ApiError::Validation { errors, .. } if errors[0].field == "endpoint"), "{refused:?}");
    assert!(create(&fx.db, &ada, &private, Endpoints { allow_private: true }, T0).is_ok());
    let never = input(json!({"cron_definition": "0 0 30 2 *", "endpoint": "https://example.org/"}));
    let refused = create(&fx.db, &ada, &never, OPEN, T0).unwrap_err();
    assert!(
        matches!(&refused, ApiError::Validation { errors, .. } if errors[0].field == "cron_definition"),
        "{refused:?}"
    );
}

#[test]
fn an_edit_never_writes_back_a_next_run_at_that_a_firing_moved() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    let schedule = create(&fx.db, &ada, &webhook("1 minutes"), OPEN, T0).unwrap();
    let stale = get(&fx.db, &ada, &schedule.id).unwrap();
    assert_eq!(tick(&fx, &FakeCourier::default(), T0 + 60).fired, 1);
    // The edit read the schedule before the firing, and writes after it.
    let spec = stale.to_input().validate().unwrap();
    store::update(&fx.db, &schedule.id, &spec, None, None, T0 + 61).unwrap();
    assert_eq!(get(&fx.db, &ada, &schedule.id).unwrap().next_run_at, T0 + 120, "the occurrence does not fire twice");
    assert_eq!(tick(&fx, &FakeCourier::default(), T0 + 61).fired, 0);
}

#[test]
fn a_broken_schedule_is_disabled_and_never_stops_the_others() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    let broken = create(&fx.db, &ada, &webhook("1 minutes"), OPEN, T0).unwrap();
    let fine = create(&fx.db, &ada, &webhook("1 minutes"), OPEN, T0).unwrap();
    fx.db
        .execute("UPDATE schedules SET interval_definition = 'whenever' WHERE id = ?", &[broken.id.clone().into()])
        .unwrap();
    let courier = FakeCourier::default();
    let firing = tick(&fx, &courier, T0 + 60);
    assert_eq!((firing.fired, firing.delivered), (1, 1), "the other schedule fired");
    let broken_now = get(&fx.db, &ada, &broken.id).unwrap();
    assert!(!broken_now.enabled);
    assert!(failures_of(&fx, &ada, &broken.id)[0]["error"].as_str().unwrap().contains("disabled"));
    assert_eq!(get(&fx.db, &ada, &fine.id).unwrap().last_run_at, Some(T0 + 60));
}

#[test]
fn a_claim_whose_caller_died_after_the_last_attempt_becomes_a_failure_unsent() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    let schedule = create(&fx.db, &ada, &webhook("1 days"), OPEN, T0).unwrap();
    run_due(&fx.db, &fx.kv, T0 + 86_400).unwrap();
    fx.db
        .execute("UPDATE schedule_deliveries SET attempts = ?, claimed_until = ?", &[(RETRIES + 1).into(), T0.into()])
        .unwrap();
    let courier = FakeCourier::default();
    let firing = deliver_due(&fx.db, &courier, &|| T0 + 86_400).unwrap();
    assert_eq!(firing.failed, 1);
    assert!(courier.sent.borrow().is_empty(), "nothing past the last attempt is sent");
    assert_eq!(failures_of(&fx, &ada, &schedule.id)[0]["error"], "no answer was recorded for the last attempt");
}

#[test]
fn an_outcome_is_recorded_only_by_the_claim_that_holds_the_delivery() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    create(&fx.db, &ada, &webhook("1 days"), OPEN, T0).unwrap();
    run_due(&fx.db, &fx.kv, T0 + 86_400).unwrap();
    let first = store::claim_deliveries(&fx.db, T0 + 86_400, 10, 10).unwrap().remove(0);
    // The first claim lapses and a second caller takes the delivery over.
    let second = store::claim_deliveries(&fx.db, T0 + 86_400 + 11, 10, 10).unwrap().remove(0);
    assert_eq!((first.attempts, second.attempts), (1, 2));
    store::retry_delivery(&fx.db, &first, T0, Some(500), "late").unwrap();
    assert!(store::claim_deliveries(&fx.db, T0 + 86_400 + 12, 10, 10).unwrap().is_empty(), "still held by the second");
    store::delivered(&fx.db, &first, T0 + 86_400 + 12).unwrap();
    assert_eq!(
        fx.db.execute("SELECT id FROM schedule_deliveries", &[]).unwrap().rows.len(),
        1,
        "not the first's to end"
    );
    store::delivered(&fx.db, &second, T0 + 86_400 + 12).unwrap();
    assert!(fx.db.execute("SELECT id FROM schedule_deliveries", &[]).unwrap().rows.is_empty());
}
