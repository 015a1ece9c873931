use super::*;
use crate::domain::project::{AccessStatus, Visibility};
use crate::policy::{require_role, require_visible};
use crate::query::{Scope, parse, run};
use crate::store::projects::{claim_scope_worker, read_scope_anonymous, read_scope_user, read_scope_worker};
use crate::tasks::fixtures::{Fx, T0};
use crate::tasks::{self, ClaimTarget};

fn input(name: &str) -> ProjectInput {
    ProjectInput { name: name.into(), ..ProjectInput::default() }
}

fn names_in(fx: &Fx, scope: &Scope) -> Vec<String> {
    let query = parse(&RESOURCE, &[], &[]).unwrap();
    let page = run(&fx.db, &RESOURCE, scope, &query).unwrap();
    page.results.iter().map(|row| row["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn create_validates_gives_the_creator_admin_and_refuses_taken_names() {
    let fx = Fx::new();
    let ada = fx.user("ada");
    let project = create(&fx.db, Some(ada), &input("Render"), T0).unwrap();
    assert_eq!((project.name.as_str(), project.visibility, project.paused), ("Render", Visibility::Public, false));
    assert_eq!((project.created_at, project.new, project.chain), (T0, 0, None));
    assert_eq!(grants_store::user_role(&fx.db, project.id, ada).unwrap(), roles::ALL);
    let json = serde_json::to_value(&project).unwrap();
    assert!(json.get("secret").is_none() && json.get("webhook_secret").is_none());
    assert_eq!(json.as_object().unwrap().len(), 18, "SPEC §3 fields and counters: {json}");

    let taken = create(&fx.db, None, &input("render"), T0).unwrap_err();
    assert_eq!((taken.status(), taken.code()), (409, "duplicate"), "names are unique case-insensitively");
    for bad in [input("12"), input(""), ProjectInput { priority: Some(1 << 40), ..input("x") }] {
        assert_eq!(create(&fx.db, None, &bad, T0).unwrap_err().status(), 422, "{bad:?}");
    }
    let missing_chain = create(&fx.db, None, &ProjectInput { chain: Some(999), ..input("x") }, T0).unwrap_err();
    assert!(matches!(&missing_chain, ApiError::Validation { errors, .. } if errors[0].field == "chain"));
    assert_eq!(resolve(&fx.db, &Ref::Name("RENDER".into())).unwrap().id, project.id);
    assert_eq!(resolve(&fx.db, &Ref::parse(&project.id.to_string())).unwrap().id, project.id);
}

#[test]
fn patches_keep_absent_fields_and_refuse_cycles_and_taken_names() {
    let fx = Fx::new();
    let a = fx.project_with("a", |p| p.motd = Some("hello".into()));
    let b = fx.project("b");
    let c = fx.project("c");
    let patch: ProjectPatch = serde_json::from_str(r#"{"priority": 5, "visibility": "private", "chain": 2}"#).unwrap();
    let updated = update(&fx.db, a.id, &patch, T0 + 1).unwrap();
    assert_eq!((updated.priority, updated.visibility, updated.chain), (5, Visibility::Private, Some(b.id)));
    assert_eq!(updated.motd, "hello", "absent fields stay");
    update(&fx.db, b.id, &serde_json::from_str(&format!(r#"{{"chain": {}}}"#, c.id)).unwrap(), T0).unwrap();
    // a → b → c; c → a would close a cycle, and nothing may chain into itself.
    for (project, chain) in [(c.id, a.id), (a.id, a.id)] {
        let patch: ProjectPatch = serde_json::from_str(&format!(r#"{{"chain": {chain}}}"#)).unwrap();
        let error = update(&fx.db, project, &patch, T0).unwrap_err();
        assert!(matches!(&error, ApiError::Validation { errors, .. } if errors[0].field == "chain"), "{error:?}");
    }
    let unchain: ProjectPatch = serde_json::from_str(r#"{"chain": null}"#).unwrap();
    assert_eq!(update(&fx.db, a.id, &unchain, T0).unwrap().chain, None);
    let rename: ProjectPatch = serde_json::from_str(r#"{"name": "B"}"#).unwrap();
    assert_eq!(update(&fx.db, a.id, &rename, T0).unwrap_err().code(), "duplicate");
    let recase: ProjectPatch = serde_json::from_str(r#"{"name": "A"}"#).unwrap();
    assert_eq!(update(&fx.db, a.id, &recase, T0).unwrap().name, "A", "renaming to another case of itself");
    assert_eq!(update(&fx.db, 999, &recase, T0).unwrap_err().status(), 404);
    let bad: ProjectPatch = serde_json::from_str(r#"{"submit_rate": -1}"#).unwrap();
    assert_eq!(update(&fx.db, a.id, &bad, T0).unwrap_err().status(), 422);
}

#[test]
fn deleting_a_project_removes_its_tasks_and_unsets_chains_into_it() {
    let fx = Fx::new();
    let target = fx.project("target");
    let source = fx.project_with("source", |p| p.chain = Some(target.id));
    fx.submit(&target, "t", 0);
    let worker = fx.worker("w");
    project_access(&fx, target.id, worker);
    delete(&fx.db, target.id).unwrap();
    assert_eq!(fx.count_tasks(None), 0);
    assert_eq!(fx.reload(&source).chain, None);
    assert!(access_store::get(&fx.db, target.id, worker).unwrap().is_none());
    assert_eq!(delete(&fx.db, target.id).unwrap_err().status(), 404);
}

fn project_access(fx: &Fx, project: i64, worker: i64) {
    request_access(&fx.db, project, worker, &AccessRequest { assign: true, submit: false }, T0).unwrap();
    accept_request(&fx.db, project, worker, T0).unwrap();
}

#[test]
fn roles_are_the_or_of_user_and_active_group_grants() {
    let fx = Fx::new();
    let project = fx.project("p");
    let (ada, bob) = (fx.user("ada"), fx.user("bob"));
    let editors = fx.group("editors", &[ada, bob], true);
    let retired = fx.group("retired", &[ada], false);
    set_user_grant(&fx.db, project.id, ada, roles::READ).unwrap();
    set_group_grant(&fx.db, project.id, editors, roles::EDIT | roles::READ).unwrap();
    let grants = set_group_grant(&fx.db, project.id, retired, roles::ALL).unwrap();
    assert_eq!(grants.users.len(), 1);
    assert_eq!(grants.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["editors", "retired"]);
    assert_eq!(grants.users[0].preset, Some("read"));
    assert_eq!(
        grants_store::user_role(&fx.db, project.id, ada).unwrap(),
        roles::READ | roles::EDIT,
        "inactive groups grant nothing"
    );
    assert_eq!(grants_store::user_role(&fx.db, project.id, bob).unwrap(), roles::READ | roles::EDIT);
    let (own, groups) = grants_store::of_user(&fx.db, project.id, ada).unwrap();
    assert_eq!((own, groups), (roles::READ, vec![roles::READ | roles::EDIT]));
    // Replacing, removing with 0 and deleting.
    set_user_grant(&fx.db, project.id, ada, roles::MAINTENANCE).unwrap();
    assert_eq!(
        grants_store::user_role(&fx.db, project.id, ada).unwrap(),
        roles::MAINTENANCE | roles::READ | roles::EDIT
    );
    assert!(set_user_grant(&fx.db, project.id, ada, 0).unwrap().users.is_empty());
    assert_eq!(delete_user_grant(&fx.db, project.id, ada).unwrap_err().status(), 404);
    delete_group_grant(&fx.db, project.id, editors).unwrap();
    assert_eq!(grants_store::user_role(&fx.db, project.id, bob).unwrap(), 0);
    assert_eq!(set_user_grant(&fx.db, project.id, bob, 32).unwrap_err().status(), 422);
    assert_eq!(set_user_grant(&fx.db, project.id, bob, -1).unwrap_err().status(), 422);
    assert_eq!(set_user_grant(&fx.db, project.id, 999, roles::READ).unwrap_err().status(), 404);
    assert_eq!(set_group_grant(&fx.db, project.id, 999, roles::READ).unwrap_err().status(), 404);
}

#[test]
fn visibility_scopes_for_users_workers_and_anonymous_callers() {
    let fx = Fx::new();
    fx.project("public");
    let private = fx.project_with("private", |p| p.visibility = Some(Visibility::Private));
    let hidden = fx.project_with("hidden", |p| p.visibility = Some(Visibility::Hidden));
    let (reader, group_reader, stranger) = (fx.user("reader"), fx.user("grouped"), fx.user("stranger"));
    set_user_grant(&fx.db, hidden.id, reader, roles::READ).unwrap();
    set_user_grant(&fx.db, private.id, reader, roles::EDIT).unwrap(); // EDIT without READ does not read
    let group = fx.group("team", &[group_reader], true);
    set_group_grant(&fx.db, private.id, group, roles::READ).unwrap();
    assert_eq!(names_in(&fx, &read_scope_anonymous()), ["public"]);
    assert_eq!(names_in(&fx, &read_scope_user(stranger)), ["public"]);
    assert_eq!(names_in(&fx, &read_scope_user(reader)), ["public", "hidden"]);
    assert_eq!(names_in(&fx, &read_scope_user(group_reader)), ["public", "private"]);
    assert_eq!(names_in(&fx, &Scope::default()).len(), 3, "admins: no scope");

    let (assigner, submitter, pending) = (fx.worker("assigner"), fx.worker("submitter"), fx.worker("pending"));
    request_access(&fx.db, hidden.id, assigner, &AccessRequest { assign: true, submit: false }, T0).unwrap();
    accept_request(&fx.db, hidden.id, assigner, T0).unwrap();
    request_access(&fx.db, private.id, submitter, &AccessRequest { assign: false, submit: true }, T0).unwrap();
    accept_request(&fx.db, private.id, submitter, T0).unwrap();
    request_access(&fx.db, private.id, pending, &AccessRequest { assign: true, submit: true }, T0).unwrap();
    assert_eq!(names_in(&fx, &read_scope_worker(assigner)), ["public", "hidden"]);
    assert_eq!(names_in(&fx, &read_scope_worker(submitter)), ["public", "private"]);
    assert_eq!(names_in(&fx, &read_scope_worker(pending)), ["public"], "a pending request reads nothing");
    assert_eq!(names_in(&fx, &claim_scope_worker(assigner)), ["public", "hidden"]);
    assert_eq!(names_in(&fx, &claim_scope_worker(submitter)), ["public"], "SUBMIT alone does not claim");
    assert!(store::in_scope(&fx.db, hidden.id, &claim_scope_worker(assigner)).unwrap());
    assert!(!store::in_scope(&fx.db, hidden.id, &claim_scope_worker(pending)).unwrap());

    // Claims honour the scope: the private task is invisible to the pending worker until accepted.
    let task = fx.submit(&private, "secret work", 0);
    let claim =
        |worker: i64| tasks::claim(&fx.db, &fx.kv, worker, ClaimTarget::Any(&claim_scope_worker(worker)), T0).unwrap();
    assert!(claim(pending).is_none());
    accept_request(&fx.db, private.id, pending, T0).unwrap();
    assert_eq!(claim(pending).unwrap().id, task.id);
    // Task listings follow the project scope.
    let scope = tasks::scope_of_projects(&read_scope_user(stranger));
    let query = parse(&tasks::RESOURCE, &[], &[]).unwrap();
    assert_eq!(run(&fx.db, &tasks::RESOURCE, &scope, &query).unwrap().count, 0);
    let scope = tasks::scope_of_projects(&read_scope_user(group_reader));
    assert_eq!(run(&fx.db, &tasks::RESOURCE, &scope, &query).unwrap().count, 1);
}

#[test]
fn hidden_projects_answer_404_and_private_ones_403() {
    let fx = Fx::new();
    let private = fx.project_with("private", |p| p.visibility = Some(Visibility::Private));
    let hidden = fx.project_with("hidden", |p| p.visibility = Some(Visibility::Hidden));
    let public = fx.project("public");
    assert!(require_visible(&public, false).is_ok());
    assert_eq!(require_visible(&private, false).unwrap_err().status(), 403);
    assert_eq!(require_visible(&hidden, false).unwrap_err().status(), 404);
    assert!(require_visible(&hidden, true).is_ok());
    assert_eq!(require_role(&hidden, 0, roles::MAINTENANCE).unwrap_err().status(), 404);
    assert_eq!(require_role(&hidden, roles::READ, roles::MAINTENANCE).unwrap_err().status(), 403);
    assert_eq!(require_role(&public, roles::READ, roles::EDIT).unwrap_err().status(), 403);
    assert!(require_role(&private, roles::ALL, roles::MAINTENANCE).is_ok());
}

#[test]
fn worker_access_requests_move_from_pending_to_accepted_or_gone() {
    let fx = Fx::new();
    let project = fx.project("p");
    let worker = fx.worker("w");
    let none = AccessRequest { assign: false, submit: false };
    assert_eq!(request_access(&fx.db, project.id, worker, &none, T0).unwrap_err().status(), 422);
    assert_eq!(
        request_access(&fx.db, 999, worker, &AccessRequest { assign: true, submit: false }, T0).unwrap_err().status(),
        404
    );
    let asked = request_access(&fx.db, project.id, worker, &AccessRequest { assign: true, submit: false }, T0).unwrap();
    assert_eq!(
        (asked.status, asked.assign, asked.submit, asked.alias.as_str()),
        (AccessStatus::Pending, true, false, "w")
    );
    assert!(!asked.accepted() && !asked.may_assign());
    let changed =
        request_access(&fx.db, project.id, worker, &AccessRequest { assign: true, submit: true }, T0 + 1).unwrap();
    assert_eq!((changed.submit, changed.requested_at), (true, T0 + 1), "a pending request is replaced");
    let accepted = accept_request(&fx.db, project.id, worker, T0 + 2).unwrap();
    assert_eq!((accepted.status, accepted.decided_at), (AccessStatus::Accepted, Some(T0 + 2)));
    assert!(accepted.may_assign() && accepted.may_submit());
    assert_eq!(accept_request(&fx.db, project.id, worker, T0).unwrap_err().code(), "already_accepted");
    // Asking again for no more than was granted is answered with the grant; asking for more is a conflict.
    let same = request_access(&fx.db, project.id, worker, &AccessRequest { assign: true, submit: false }, T0).unwrap();
    assert_eq!(same.status, AccessStatus::Accepted);
    let other = fx.worker("other");
    request_access(&fx.db, project.id, other, &AccessRequest { assign: true, submit: false }, T0).unwrap();
    accept_request(&fx.db, project.id, other, T0).unwrap();
    let more =
        request_access(&fx.db, project.id, other, &AccessRequest { assign: true, submit: true }, T0).unwrap_err();
    assert_eq!((more.status(), more.code()), (409, "already_granted"));
    let listed = access_requests(&fx.db, project.id).unwrap();
    assert_eq!(listed.iter().map(|a| a.worker).collect::<Vec<_>>(), [worker, other]);
    reject_request(&fx.db, project.id, other).unwrap();
    assert!(worker_access(&fx.db, project.id, other).unwrap().is_none());
    assert_eq!(reject_request(&fx.db, project.id, other).unwrap_err().status(), 404);
    assert_eq!(accept_request(&fx.db, project.id, other, T0).unwrap_err().status(), 404);
}

#[test]
fn secrets_are_opaque_json_and_never_part_of_the_project() {
    let fx = Fx::new();
    let project = fx.project("p");
    assert_eq!(secret(&fx.db, project.id, SecretKind::Secret).unwrap(), serde_json::Value::Null);
    let value = serde_json::json!({"token": "s3cr3t", "n": [1, 2]});
    set_secret(&fx.db, project.id, SecretKind::Secret, &value, T0).unwrap();
    assert_eq!(secret(&fx.db, project.id, SecretKind::Secret).unwrap(), value);
    assert_eq!(secret(&fx.db, project.id, SecretKind::Webhook).unwrap(), serde_json::Value::Null);
    set_secret(&fx.db, project.id, SecretKind::Webhook, &serde_json::json!("hook"), T0).unwrap();
    assert_eq!(secret(&fx.db, project.id, SecretKind::Webhook).unwrap(), "hook");
    assert!(!serde_json::to_string(&fx.reload(&project)).unwrap().contains("s3cr3t"));
    let query = parse(&RESOURCE, &[], &[]).unwrap();
    let listed = serde_json::to_string(&run(&fx.db, &RESOURCE, &Scope::default(), &query).unwrap().results).unwrap();
    assert!(!listed.contains("s3cr3t") && !listed.contains("hook"));
    set_secret(&fx.db, project.id, SecretKind::Secret, &serde_json::Value::Null, T0).unwrap();
    assert_eq!(secret(&fx.db, project.id, SecretKind::Secret).unwrap(), serde_json::Value::Null);
    assert_eq!(secret(&fx.db, 999, SecretKind::Secret).unwrap_err().status(), 404);
    assert_eq!(set_secret(&fx.db, 999, SecretKind::Secret, &value, T0).unwrap_err().status(), 404);
}

#[test]
fn control_actions_move_tasks_in_bulk_and_report_assignees() {
    let fx = Fx::new();
    let project = fx.project("p");
    let other = fx.project("other");
    let (w1, w2) = (fx.worker("w1"), fx.worker("w2"));
    for i in 0..6 {
        fx.submit_spec(&project, crate::domain::task::TaskSpec { max_retries: Some(0), ..Fx::spec(&format!("t{i}")) });
    }
    let untouched = fx.submit(&other, "other", 0);
    // Two fail, three are held (two by w1), one stays new.
    for _ in 0..2 {
        let task = fx.claim_in(w1, &project, T0).unwrap();
        fx.release(w1, task.id, 1, None, None);
    }
    fx.claim_in(w1, &project, T0).unwrap();
    fx.claim_in(w1, &project, T0).unwrap();
    fx.claim_in(w2, &project, T0).unwrap();
    let counted = fx.reload(&project);
    assert_eq!((counted.new, counted.assigned, counted.failed, counted.closed), (1, 3, 2, 0));
    let assignees = assignees(&fx.db, project.id).unwrap();
    assert_eq!(assignees.iter().map(|a| (a.alias.as_str(), a.tasks)).collect::<Vec<_>>(), [("w1", 2), ("w2", 1)]);

    let run = |method: &str| {
        let action = Action::parse(method, &serde_json::Value::Null).unwrap().unwrap();
        action.run(&fx.db, project.id, T0).unwrap()
    };
    assert_eq!(run("reset_failed"), serde_json::json!({"reset": 2}));
    assert_eq!(run("reclaim_assigned"), serde_json::json!({"reclaimed": 3}));
    let counted = fx.reload(&project);
    assert_eq!((counted.new, counted.assigned, counted.failed), (6, 0, 0));
    assert!(
        fx.db
            .execute(
                "SELECT 1 FROM tasks WHERE project = ? AND (retries <> 0 OR assignee IS NOT NULL)",
                &[project.id.into()]
            )
            .unwrap()
            .rows
            .is_empty()
    );
    assert_eq!(run("pause")["paused"], true);
    assert_eq!(run("pause")["paused"], true, "pausing twice sets the same state");
    assert_eq!(run("resume")["paused"], false);
    assert_eq!(run("hard_reset"), serde_json::json!({"deleted": 6}));
    assert_eq!(fx.count_tasks(Some(project.id)), 0);
    assert_eq!(fx.task(untouched.id).status, crate::domain::task::TaskStatus::New, "other projects untouched");
    assert_eq!(reset_failed(&fx.db, 999, T0).unwrap_err().status(), 404);
    assert_eq!(set_paused(&fx.db, 999, true, T0).unwrap_err().status(), 404);
}

#[test]
fn project_actions_parse_with_their_roles() {
    use serde_json::json;
    let cases = [
        ("pause", json!({}), Action::Pause, roles::EDIT),
        ("resume", json!(null), Action::Resume, roles::EDIT),
        ("reset_failed", json!({}), Action::ResetFailed, roles::MAINTENANCE),
        ("reclaim_assigned", json!({}), Action::ReclaimAssigned, roles::MAINTENANCE),
        ("hard_reset", json!({}), Action::HardReset, roles::MAINTENANCE),
        ("accept_request", json!({"worker": 3}), Action::AcceptRequest { worker: 3 }, roles::MANAGE_ACCESS),
        ("reject_request", json!({"worker": 4}), Action::RejectRequest { worker: 4 }, roles::MANAGE_ACCESS),
    ];
    for (method, params, action, role) in cases {
        let parsed = Action::parse(method, &params).unwrap().unwrap();
        assert_eq!((parsed, parsed.required_role()), (action, role), "{method}");
    }
    assert_eq!(Action::parse("destroy", &json!({})).unwrap(), None);
    assert_eq!(Action::parse("accept_request", &json!({})).unwrap_err().status(), 422);
    assert_eq!(Action::parse("accept_request", &json!({"worker": "x"})).unwrap_err().status(), 422);
    assert_eq!(Action::parse("pause", &json!({"now": true})).unwrap_err().code(), "unknown_field");
}
