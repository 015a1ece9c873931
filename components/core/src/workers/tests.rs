use super::*;
use crate::db::Db;
use crate::domain::worker::{LogInput, LogLevel};
use crate::query::{Scope, parse, run};
use crate::store::logs::Retention;
use crate::tasks::fixtures::{Fx, T0};
use serde_json::json;

fn register_alias(fx: &Fx, alias: &str) -> WorkerSecret {
    register(&fx.db, &WorkerInput { alias: alias.into(), ..WorkerInput::default() }, T0).unwrap()
}

#[test]
fn registration_shows_the_secret_once_and_stores_only_its_hash() {
    let fx = Fx::new();
    let input = WorkerInput { alias: "gpu-1".into(), tags: Some(vec!["gpu".into()]), meta: Some(json!({"cores": 8})) };
    let created = register(&fx.db, &input, T0).unwrap();
    assert_eq!(STANDARD.decode(&created.secret).unwrap().len(), 32, "32 random bytes, base64");
    assert_eq!(created.secret.len(), 44);
    let json = serde_json::to_value(&created).unwrap();
    assert_eq!((json["id"].as_i64(), json["alias"].as_str()), (Some(created.worker.id), Some("gpu-1")));
    assert_eq!((&json["tags"], &json["meta"], &json["paused"]), (&json!(["gpu"]), &json!({"cores": 8}), &json!(false)));
    assert_eq!(json["secret"], created.secret.as_str());
    let stored = fx.db.execute("SELECT secret_hash FROM workers WHERE id = ?", &[created.worker.id.into()]).unwrap();
    assert_eq!(
        stored.first().unwrap().value("secret_hash").unwrap(),
        &crate::db::Value::Blob(secrets::sha256(&created.secret))
    );
    assert!(!serde_json::to_string(&get(&fx.db, created.worker.id).unwrap()).unwrap().contains(&created.secret));
    assert_ne!(register_alias(&fx, "gpu-1").secret, created.secret, "aliases may repeat; secrets never");
    let reserved = register(&fx.db, &WorkerInput { alias: "unassigned".into(), ..WorkerInput::default() }, T0);
    assert_eq!(reserved.unwrap_err().status(), 422);
}

#[test]
fn credentials_are_checked_and_rotation_revokes_the_old_secret() {
    let fx = Fx::new();
    let created = register_alias(&fx, "w");
    let id = created.worker.id;
    assert_eq!(authenticate(&fx.db, id, &created.secret).unwrap().id, id);
    for (id, secret) in [(id, "wrong"), (id, ""), (999, created.secret.as_str())] {
        let error = authenticate(&fx.db, id, secret).unwrap_err();
        assert_eq!((error.status(), error.to_string()), (401, "invalid worker credentials".to_string()));
    }
    let rotated = rotate_secret(&fx.db, id, T0 + 5).unwrap();
    assert_ne!(rotated.secret, created.secret);
    assert_eq!(rotated.worker.updated_at, T0 + 5);
    assert_eq!(authenticate(&fx.db, id, &created.secret).unwrap_err().status(), 401);
    assert_eq!(authenticate(&fx.db, id, &rotated.secret).unwrap().id, id);
    assert_eq!(rotate_secret(&fx.db, 999, T0).unwrap_err().status(), 404);
    let via_action = Action::RotateSecret.run(&fx.db, id, T0).unwrap();
    assert_eq!(authenticate(&fx.db, id, via_action["secret"].as_str().unwrap()).unwrap().id, id);
}

#[test]
fn patches_pauses_and_stats() {
    let fx = Fx::new();
    let a = register_alias(&fx, "a").worker.id;
    let b = register_alias(&fx, "b").worker.id;
    let patch = WorkerPatch { alias: Some("renamed".into()), tags: Some(vec!["x".into()]), meta: None };
    let updated = update(&fx.db, a, &patch, T0 + 1).unwrap();
    assert_eq!(
        (updated.alias.as_str(), updated.tags.clone(), updated.meta.clone()),
        ("renamed", vec!["x".to_string()], json!({}))
    );
    let meta_only = WorkerPatch { meta: Some(json!({"k": 1})), ..WorkerPatch::default() };
    let updated = update(&fx.db, a, &meta_only, T0 + 2).unwrap();
    assert_eq!((updated.alias.as_str(), updated.meta), ("renamed", json!({"k": 1})), "absent fields stay");
    assert_eq!(
        update(&fx.db, a, &WorkerPatch { alias: Some(String::new()), ..WorkerPatch::default() }, T0)
            .unwrap_err()
            .status(),
        422
    );
    assert_eq!(update(&fx.db, 999, &meta_only, T0).unwrap_err().status(), 404);

    assert!(Action::parse("pause", &json!({})).unwrap().unwrap().admin_only());
    assert!(!Action::parse("rotate_secret", &json!(null)).unwrap().unwrap().admin_only());
    assert_eq!(Action::parse("fly", &json!({})).unwrap(), None);
    assert_eq!(Action::Pause.run(&fx.db, b, T0).unwrap()["paused"], true);
    assert!(get(&fx.db, b).unwrap().paused);
    assert_eq!(Action::Unpause.run(&fx.db, b, T0).unwrap()["paused"], false);

    // b closes two tasks, a one: stats list the most productive first.
    let project = fx.project("p");
    for (worker, n) in [(b, 2), (a, 1)] {
        for i in 0..n {
            let task = fx.submit(&project, &format!("{worker}-{i}"), 0);
            assert_eq!(fx.claim_in(worker, &project, T0).unwrap().id, task.id);
            fx.release(worker, task.id, 0, None, None);
        }
    }
    set_paused(&fx.db, a, true, T0).unwrap();
    let stats = stats(&fx.db, &Scope::default()).unwrap();
    let rows: Vec<(&str, i64, bool)> =
        stats.iter().map(|s| (s.alias.as_str(), s.closed_task_count, s.paused)).collect();
    assert_eq!(rows, [("b", 2, false), ("renamed", 1, true)]);
}

#[test]
fn worker_pages_decode_their_json_columns() {
    let fx = Fx::new();
    register(
        &fx.db,
        &WorkerInput { alias: "w".into(), tags: Some(vec!["a".into(), "b".into()]), meta: Some(json!({"x": 1})) },
        T0,
    )
    .unwrap();
    let pairs = vec![("tags__contains".to_string(), "\"b\"".to_string())];
    let query = parse(&RESOURCE, &pairs, &[]).unwrap();
    let mut page = run(&fx.db, &RESOURCE, &Scope::default(), &query).unwrap();
    assert_eq!(page.results[0]["tags"], "[\"a\",\"b\"]");
    decode_json_fields(&mut page, &["tags", "meta"]);
    assert_eq!((&page.results[0]["tags"], &page.results[0]["meta"]), (&json!(["a", "b"]), &json!({"x": 1})));
}

#[test]
fn logs_keep_the_newest_rows_per_project() {
    let fx = Fx::new();
    let (p, q) = (fx.project("p"), fx.project("q"));
    let worker = register_alias(&fx, "w").worker.id;
    let entry = |project: Option<i64>, n: i64| LogInput {
        level: LogLevel::Info,
        scope: Some("s".into()),
        message: format!("m{n}"),
        data: Some(json!({"n": n})),
        timestamp: None,
        project,
    };
    let keep = |n| Retention { per_project: n, per_worker: n };
    for n in 0..12 {
        crate::store::logs::append(&fx.db, Some(worker), &entry(Some(p.id), n), T0 + n, keep(5)).unwrap();
    }
    for n in 0..3 {
        crate::store::logs::append(&fx.db, Some(worker), &entry(Some(q.id), n), T0, keep(5)).unwrap();
        crate::store::logs::append(&fx.db, None, &entry(None, n), T0, keep(2)).unwrap();
    }
    assert_eq!(crate::store::logs::count(&fx.db, Some(p.id)).unwrap(), 5);
    assert_eq!(crate::store::logs::count(&fx.db, Some(q.id)).unwrap(), 3, "other projects are not trimmed");
    assert_eq!(crate::store::logs::count(&fx.db, None).unwrap(), 2);
    let kept = fx.db.execute("SELECT message FROM logs WHERE project = ? ORDER BY id", &[p.id.into()]).unwrap();
    let kept: Vec<String> = kept.iter().map(|row| row.text("message").unwrap()).collect();
    assert_eq!(kept, ["m7", "m8", "m9", "m10", "m11"], "the newest five");

    let record =
        crate::logs::append(&fx.db, Some(worker), &LogInput { timestamp: Some(42), ..entry(Some(q.id), 99) }, T0)
            .unwrap();
    assert_eq!(
        (record.timestamp, record.worker, record.level, record.data.clone()),
        (42, Some(worker), LogLevel::Info, Some(json!({"n": 99})))
    );
    let unknown = crate::logs::append(&fx.db, Some(worker), &entry(Some(999), 0), T0).unwrap_err();
    assert!(matches!(&unknown, crate::error::ApiError::Validation { errors, .. } if errors[0].field == "project"));
    let bad = LogInput { timestamp: Some(-1), ..entry(None, 0) };
    assert_eq!(crate::logs::append(&fx.db, None, &bad, T0).unwrap_err().status(), 422);

    let pairs = vec![("level".to_string(), "info".to_string()), ("project".to_string(), q.id.to_string())];
    let query = parse(&crate::logs::RESOURCE, &pairs, &[]).unwrap();
    let mut page = run(&fx.db, &crate::logs::RESOURCE, &Scope::default(), &query).unwrap();
    assert_eq!(page.count, 4);
    crate::logs::decode_page(&mut page);
    assert_eq!(page.results[3]["data"], json!({"n": 99}));
    let bad_filter = vec![("level__gt".to_string(), "x".to_string()), ("nope".to_string(), "1".to_string())];
    assert!(parse(&crate::logs::RESOURCE, &bad_filter, &[]).is_err());
}

#[test]
fn log_retention_is_one_indexed_range() {
    let fx = Fx::new();
    let plan = fx
        .db
        .execute("EXPLAIN QUERY PLAN DELETE FROM logs WHERE project IS ? AND seq <= ?", &[1.into(), 10.into()])
        .unwrap();
    let steps: Vec<String> = plan.iter().map(|row| row.text("detail").unwrap()).collect();
    assert!(steps.iter().any(|s| s.contains("logs_by_project_seq")), "{steps:?}");
    let plan = fx
        .db
        .execute("EXPLAIN QUERY PLAN SELECT MAX(seq) FROM logs WHERE project IS ?", &[crate::db::Value::Null])
        .unwrap();
    let steps: Vec<String> = plan.iter().map(|row| row.text("detail").unwrap()).collect();
    assert!(steps.iter().any(|s| s.contains("logs_by_project_seq")), "{steps:?}");
}

#[test]
fn a_flooding_worker_evicts_only_its_own_log_entries() {
    let fx = Fx::new();
    let p = fx.project("flooded");
    let (quiet, noisy) = (register_alias(&fx, "quiet").worker.id, register_alias(&fx, "noisy").worker.id);
    let entry = |n: i64| LogInput {
        level: LogLevel::Info,
        scope: None,
        message: format!("m{n}"),
        data: None,
        timestamp: None,
        project: Some(p.id),
    };
    let retention = Retention { per_project: 10, per_worker: 3 };
    for n in 0..2 {
        crate::logs::append_within(&fx.db, Some(quiet), &entry(n), T0, retention).unwrap();
    }
    crate::logs::append_within(&fx.db, None, &entry(100), T0, retention).unwrap();
    for n in 0..50 {
        crate::logs::append_within(&fx.db, Some(noisy), &entry(200 + n), T0, retention).unwrap();
    }
    let kept = fx.db.execute("SELECT message FROM logs WHERE project = ? ORDER BY id", &[p.id.into()]).unwrap();
    let kept: Vec<String> = kept.iter().map(|row| row.text("message").unwrap()).collect();
    assert_eq!(
        kept,
        ["m0", "m1", "m100", "m247", "m248", "m249"],
        "the others' entries stay; the flooder keeps its newest 3"
    );
    // The project limit still applies once enough workers write.
    for worker in 0..4 {
        let id = register_alias(&fx, &format!("w{worker}")).worker.id;
        for n in 0..3 {
            crate::logs::append_within(&fx.db, Some(id), &entry(300 + n), T0, retention).unwrap();
        }
    }
    assert_eq!(crate::store::logs::count(&fx.db, Some(p.id)).unwrap(), 10);
    const { assert!(crate::logs::RETENTION.per_worker * 10 <= crate::logs::RETENTION.per_project) };
}
