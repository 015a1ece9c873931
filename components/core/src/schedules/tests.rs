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
    fn deliver(&self, posts: &[Post]) -> Vec<Answer> {
        self.sent.borrow_mut().extend_from_slice(posts);
        posts
            .iter()
            .map(|_| {
                let mut script = self.script.borrow_mut();
                if script.is_empty() {
                    Answer::Status { status: 200, excerpt: String::new() }
                } else {
                    script.remove(0)
                }
            })
            .collect()
    }
}

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
    let created = create(&fx.db, &ada, &webhook("1 minutes"), T0).unwrap();
    assert_eq!((created.next_run_at, created.enabled, created.last_run_at), (T0 + 60, true, None));
    assert_eq!(created.id.len(), 36);
    let shown = serde_json::to_value(&created).unwrap();
    assert!(shown.get("auth_token").is_none() && !shown.to_string().contains("s3cret"), "write-only: {shown}");

    assert_eq!(get(&fx.db, &bob, &created.id).unwrap_err().status(), 404);
    assert_eq!(delete(&fx.db, &bob, &created.id).unwrap_err().status(), 404);
    let patch = json!({"name": "mine now"}).as_object().unwrap().clone();
    assert_eq!(update(&fx.db, &bob, &created.id, &patch, T0).unwrap_err().status(), 404);
    assert_eq!(list(&fx.db, &bob, &[]).unwrap().page.count, 0);
    assert_eq!(list(&fx.db, &ada, &[]).unwrap().page.results[0]["payload"], json!({"n": 1}), "JSON, not text");
    assert_eq!(list(&fx.db, &Caller::Person(Principal::Admin), &[]).unwrap().page.count, 1);
    assert_eq!(
        create(&fx.db, &Caller::Person(Principal::Anonymous), &webhook("1 minutes"), T0).unwrap_err().status(),
        401
    );
    let worker = Caller::Worker(crate::workers::get(&fx.db, fx.worker("w")).unwrap());
    assert_eq!(create(&fx.db, &worker, &webhook("1 minutes"), T0).unwrap_err().status(), 403);
    assert_eq!(list(&fx.db, &worker, &[]).unwrap_err().status(), 403);

    delete(&fx.db, &ada, &created.id).unwrap();
    assert_eq!(get(&fx.db, &ada, &created.id).unwrap_err().status(), 404);
}

#[test]
fn editing_the_definition_moves_next_run_at_and_other_edits_do_not() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    let created = create(&fx.db, &ada, &webhook("1 hours"), T0).unwrap();
    let patch = |value: Json| value.as_object().unwrap().clone();
    let renamed = update(&fx.db, &ada, &created.id, &patch(json!({"name": "x"})), T0 + 100).unwrap();
    assert_eq!(renamed.next_run_at, T0 + 3600, "a rename keeps the time");
    let moved =
        update(&fx.db, &ada, &created.id, &patch(json!({"interval_definition": "5 minutes"})), T0 + 100).unwrap();
    assert_eq!(moved.next_run_at, T0 + 100 + 300, "Seed Scheduler's bug is not copied");
    let to_cron = patch(json!({"cron_definition": "0 * * * *", "interval_definition": null}));
    let hourly = update(&fx.db, &ada, &created.id, &to_cron, T0 + 100).unwrap();
    assert_eq!(hourly.next_run_at % 3600, 0);
    let refused = update(&fx.db, &ada, &created.id, &patch(json!({"interval_definition": "1 minutes"})), T0);
    let refused = refused.unwrap_err();
    assert!(matches!(&refused, ApiError::Validation { errors, .. } if errors[0].field == "cron_definition"));
    assert_eq!(update(&fx.db, &ada, &created.id, &patch(json!({"next_run_at": 1})), T0).unwrap_err().status(), 422);
}

#[test]
fn every_occurrence_fires_once_and_missed_ones_coalesce() {
    let fx = Fx::new();
    let ada = person(fx.user("ada"), "ada");
    let schedule = create(&fx.db, &ada, &webhook("1 minutes"), T0).unwrap();
    let courier = FakeCourier::default();
    assert_eq!(run_due(&fx.db, &fx.kv, &courier, T0 + 59).unwrap(), Firing::default(), "not yet due");
    let first = run_due(&fx.db, &fx.kv, &courier, T0 + 60).unwrap();
    assert_eq!((first.fired, first.delivered), (1, 1));
    assert_eq!(run_due(&fx.db, &fx.kv, &courier, T0 + 60).unwrap(), Firing::default(), "a second caller finds nothing");
    let sent = courier.sent.borrow().clone();
    assert_eq!(sent.len(), 1);
    let headers = vec![
        (SCHEDULE_HEADER.to_string(), schedule.id.clone()),
        (OCCURRENCE_HEADER.to_string(), (T0 + 60).to_string()),
        ("authorization".to_string(), "Token s3cret".to_string()),
    ];
    assert_eq!(sent[0], Post { url: "https://hooks.example/in".into(), headers, body: r#"{"n":1}"#.into() });
    assert_eq!(get(&fx.db, &ada, &schedule.id).unwrap().last_run_at, Some(T0 + 60));

    // Nobody called for an hour: one firing, and the phase is kept.
    let late = run_due(&fx.db, &fx.kv, &courier, T0 + 60 + 3600 + 30).unwrap();
    assert_eq!(late.fired, 1);
    assert_eq!(get(&fx.db, &ada, &schedule.id).unwrap().next_run_at, T0 + 60 + 3660);

    // Disabled schedules do not fire; enabling starts from now, not from the missed time.
    let disabled = Action::Disable.run(&fx.db, &fx.kv, &ada, &schedule.id, T0 + 4000).unwrap();
    assert_eq!(disabled["enabled"], false);
    assert_eq!(run_due(&fx.db, &fx.kv, &courier, T0 + 9000).unwrap().fired, 0);
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
    assert_eq!(create(&fx.db, &ada, &input(body.clone()), T0).unwrap_err().status(), 403, "no EDIT on render");
    crate::projects::set_user_grant(&fx.db, render.id, ada_id, roles::READ | roles::EDIT).unwrap();
    let schedule = create(&fx.db, &ada, &input(body), T0).unwrap();
    assert_eq!(schedule.project, Some(render.id));

    let courier = FakeCourier::default();
    assert_eq!(run_due(&fx.db, &fx.kv, &courier, T0 + 60).unwrap().fired, 1);
    assert_eq!(fx.count_tasks(Some(render.id)), 1);
    let task = crate::tasks::get(&fx.db, 1).unwrap();
    assert_eq!((task.recipe.as_str(), task.priority), ("frame", 4));
    assert!(courier.sent.borrow().is_empty(), "a task schedule posts nothing");

    // Ada loses EDIT: the next occurrence is refused and recorded, and requeue submits it once she has it back.
    crate::projects::set_user_grant(&fx.db, render.id, ada_id, roles::READ).unwrap();
    assert_eq!(run_due(&fx.db, &fx.kv, &courier, T0 + 120).unwrap().fired, 1);
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
    let schedule = create(&fx.db, &ada, &webhook("1 days"), T0).unwrap();
    let mut script = vec![Answer::Failed("timed out".into())];
    script.extend((0..RETRIES).map(|_| Answer::Status { status: 503, excerpt: "busy".into() }));
    let courier = FakeCourier::answering(script);
    let due = T0 + 86_400;
    let first = run_due(&fx.db, &fx.kv, &courier, due).unwrap();
    assert_eq!((first.fired, first.retried), (1, 1));
    let mut now = due;
    let mut waits = Vec::new();
    for attempt in 1..=RETRIES {
        // Nothing is sent again before the backoff has passed.
        let pending = fx.db.execute("SELECT due_at FROM schedule_deliveries", &[]).unwrap();
        let due_at = pending.first().unwrap().int("due_at").unwrap();
        waits.push(due_at - now);
        assert_eq!(run_due(&fx.db, &fx.kv, &courier, due_at - 1).unwrap(), Firing::default(), "attempt {attempt}");
        now = due_at;
        let firing = run_due(&fx.db, &fx.kv, &courier, now).unwrap();
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
    assert_eq!(run_due(&fx.db, &fx.kv, &courier, now).unwrap().delivered, 1);
    assert_eq!(get(&fx.db, &ada, &schedule.id).unwrap().last_run_at, Some(now));
}

#[test]
fn run_now_fires_without_moving_the_schedule_and_a_vanished_owner_is_refused() {
    let fx = Fx::new();
    let ada_id = fx.user("ada");
    let ada = person(ada_id, "ada");
    let schedule = create(&fx.db, &ada, &webhook("1 hours"), T0).unwrap();
    let after = Action::RunNow.run(&fx.db, &fx.kv, &ada, &schedule.id, T0 + 5).unwrap();
    assert_eq!(after["next_run_at"], T0 + 3600);
    let courier = FakeCourier::default();
    assert_eq!(run_due(&fx.db, &fx.kv, &courier, T0 + 5).unwrap().delivered, 1);
    assert!(Action::parse("explode", &json!({})).unwrap().is_none());
    assert_eq!(Action::parse("run_now", &json!({"x": 1})).unwrap_err().status(), 422);

    let project = fx.project("render");
    crate::projects::set_user_grant(&fx.db, project.id, ada_id, roles::ALL).unwrap();
    let body = json!({"interval_definition": "1 minutes", "project": project.id, "recipe": "r"});
    let task_schedule = create(&fx.db, &ada, &input(body), T0).unwrap();
    fx.db.execute("UPDATE users SET active = 0 WHERE id = ?", &[ada_id.into()]).unwrap();
    assert_eq!(run_due(&fx.db, &fx.kv, &courier, T0 + 60).unwrap().fired, 1);
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
