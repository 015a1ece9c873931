use super::*;
use crate::domain::project::Visibility;
use crate::secrets;

#[test]
fn submit_accepts_both_hash_names_and_ignores_unknown_fields() {
    let a: SubmitBody = body(br#"{"project": 1, "recipe": "r", "hash_u64": 7, "extra": true}"#).unwrap();
    let b: SubmitBody = body(br#"{"project": 1, "recipe": "r", "hash64": 7}"#).unwrap();
    assert_eq!((a.spec().hash64, b.spec().hash64), (Some(7), Some(7)));
    let empty: SubmitBody = body(b"  ").unwrap();
    assert_eq!(empty.project, 0);
    assert_eq!(body::<SubmitBody>(b"{nope").unwrap_err().status(), 400);
}

#[test]
fn updated_is_whether_an_ok_closed_and_always_true_for_fail_and_skip() {
    let answer = |result, status| {
        let response = release_answer(result, &Released { updated: true, status });
        serde_json::from_slice::<Json>(&response.body).unwrap()
    };
    let updated = json!({"ok": true, "content": {"updated": true}});
    assert_eq!(answer(0, TaskStatus::Closed), updated);
    assert_eq!(answer(0, TaskStatus::New), json!({"ok": true, "message": NOT_CLOSED, "content": {"updated": false}}));
    for status in [TaskStatus::New, TaskStatus::Failed] {
        assert_eq!(answer(1, status), updated, "FAIL to {status}");
    }
    assert_eq!(answer(2, TaskStatus::New), updated, "SKIP");
}

#[test]
fn bulk_needs_one_project() {
    let one: BulkBody =
        body(br#"{"requests": [{"project": 2, "recipe": "a"}, {"project": 2, "recipe": "b"}]}"#).unwrap();
    assert_eq!(one.project_and_specs().unwrap().0, 2);
    let two: BulkBody =
        body(br#"{"requests": [{"project": 2, "recipe": "a"}, {"project": 3, "recipe": "b"}]}"#).unwrap();
    assert_eq!(two.project_and_specs().unwrap_err().status(), 400);
    assert_eq!(BulkBody::default().project_and_specs().unwrap_err().status(), 400);
}

#[test]
fn errors_use_the_envelope_and_task_tracker_statuses() {
    let response = error(&ApiError::TooManyRequests { retry_after: 2.0 });
    assert_eq!(response.status, 429);
    let body: Json = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        json!({"ok": false, "message": "rate limit exceeded", "code": "rate_limited", "rate_limit_delay": 2.0})
    );
    assert_eq!(error(&ApiError::conflict("duplicate", "dup")).status, 400);
    assert_eq!(error(&ApiError::invalid_field("recipe", "bad")).status, 400);
    assert_eq!(error(&ApiError::Forbidden("no".into())).status, 403);
    let ok: Json = serde_json::from_slice(&ok_empty().body).unwrap();
    assert_eq!(ok, json!({"ok": true}));
}

#[test]
fn statuses_and_visibility() {
    assert_eq!(status_code(TaskStatus::New), 1);
    assert_eq!(status_code(TaskStatus::Assigned), 1);
    assert_eq!(status_code(TaskStatus::Failed), 2);
    let both = ProjectBody { public: true, hidden: true, ..ProjectBody::default() };
    assert_eq!(both.visibility().unwrap_err().status(), 400);
    assert_eq!(ProjectBody::default().visibility().unwrap(), Visibility::Private);
}

#[test]
fn webhook_signatures_and_branches() {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let good = format!("sha256={}", secrets::hex(&secrets::hmac_sha256(b"s3cret", body)));
    assert!(signature_valid("s3cret", body, &good));
    assert!(signature_valid("s3cret", body, good.trim_start_matches("sha256=")));
    assert!(!signature_valid("other", body, &good));
    assert!(!signature_valid("", body, &good));
    assert!(!signature_valid("s3cret", body, "sha256=00"));
    let push = GitPush {
        reference: "refs/heads/main".into(),
        repository: GitRepository { default_branch: "main".into(), ..GitRepository::default() },
        ..GitPush::default()
    };
    assert!(push.to_default_branch());
    let legacy = GitPush { reference: "refs/heads/master".into(), ..GitPush::default() };
    assert!(legacy.to_default_branch());
    let feature = GitPush { reference: "refs/heads/feature".into(), ..push };
    assert!(!feature.to_default_branch());
}
