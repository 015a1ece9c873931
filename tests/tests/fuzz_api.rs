//! Property-based fuzzing of the native API from its own OpenAPI document (issue 16): Schemathesis, installed
//! by this test into a virtual environment under `target/`, generates requests from the document
//! `GET /api/v1/openapi.json` serves (`docs/openapi/native.json`) against a freshly started host with a seeded dataset, once as the
//! administrator and once as a worker. Every answer must be no 5xx and must match the document (status code,
//! content type, body schema). A failure prints Schemathesis' report, which names the operation and the
//! `curl` that reproduces it; each one fixed gets a regression test in the component's own test file.

mod pw_support;

use conveyor_tests::{TestHost, repo_root};
use pw_support::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

/// Pinned, so that a run is reproducible and a new release's checks arrive by a deliberate change.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// The checks that make "contradicts the document" concrete. `no_server_error` is ours
/// (`tests/fuzz/conveyor_checks.py`): Schemathesis' `not_a_server_error` less SPEC §1.2's 501.
const CHECKS: &str = "no_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";
/// Each run's time budget, in seconds; the whole test stays within a few minutes.
const MAX_SECONDS: &str = "90";
/// Fixed so that a failure seen in CI reproduces locally.
const SEED: &str = "20261202";

/// The `st` executable of a virtual environment kept in `target/tools/`, created on first use.
fn schemathesis() -> PathBuf {
    let venv = repo_root().join("target/tools").join(SCHEMATHESIS.replace("==", "-"));
    let st = venv.join("bin/st");
    if st.exists() {
        return st;
    }
    let run = |command: &mut Command| {
        let output = command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
        assert!(
            output.status.success(),
            "{command:?} failed (Schemathesis needs python3 with venv and access to PyPI):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check", SCHEMATHESIS]));
    st
}

/// Runs Schemathesis against the host with `headers` on every request; panics with its report on failure.
/// `config` is a schemathesis.toml; empty for none.
async fn fuzz(app: &TestHost, label: &str, headers: &[String], filters: &[&str], config: &str) {
    let st = schemathesis();
    let report = repo_root().join("target/test-data").join(format!("schemathesis-{label}"));
    std::fs::create_dir_all(&report).expect("the report directory");
    let config_file = report.join("schemathesis.toml");
    std::fs::write(&config_file, config).expect("writing the config");
    let mut command = tokio::process::Command::new(st);
    command
        // Schemathesis keeps its cache (`.schemathesis/`) in its working directory: under target/, not the tree.
        .current_dir(&report)
        .env("PYTHONPATH", repo_root().join("tests/fuzz"))
        .env("SCHEMATHESIS_HOOKS", "conveyor_checks")
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(repo_root().join("docs/openapi/native.json"))
        .args(["--url", &app.url("")])
        // One worker: CPython 3.11's `ast.parse` is not thread-safe ("AST constructor recursion depth
        // mismatch"), and Hypothesis parses lambdas while Schemathesis' threads generate cases.
        .args(["--checks", CHECKS, "--max-time", MAX_SECONDS, "--seed", SEED, "--workers", "1"])
        .args(["--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all"])
        .args(["--request-timeout", "30", "--no-color"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report)
        .args(filters);
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command.output().await.expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "Schemathesis ({label}) found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A run that tested nothing would pass too: make sure it reached the API.
    assert!(!stdout.contains("No operations"), "Schemathesis ({label}) tested nothing:\n{stdout}");
}

/// A dataset for the generated requests to meet: users, a token, groups, projects of each visibility, tasks in
/// several states, a worker and a schedule.
async fn seed(app: &TestHost) -> Worker {
    let (_, alice) = user(app, "alice").await;
    user(app, "bob").await;
    let admin = admin(app);
    expect(&call(app, "POST", "/api/v1/groups", &admin, Some(json!({"name": "crew"}))).await, 201);
    for (name, visibility) in [("render", "public"), ("secret", "private"), ("ghost", "hidden")] {
        project(app, &alice, name, visibility).await;
    }
    for n in 0..20 {
        let body = json!({"project": "render", "recipe": format!("frame {n}"), "priority": n % 3});
        expect(&call(app, "POST", "/api/v1/tasks", &alice, Some(body)).await, 201);
    }
    let worker = worker(app, "fuzzer").await;
    let claimed = call(app, "POST", "/api/v1/tasks/claim", &worker.who(), Some(json!({"project": "render"}))).await;
    let task = expect(&claimed, 200);
    let release = json!({"result": 0, "output": "done"});
    let path = format!("/api/v1/tasks/{}/release", task["id"]);
    expect(&call(app, "POST", &path, &worker.who(), Some(release)).await, 200);
    let schedule = json!({"name": "nightly", "cron_definition": "0 3 * * *", "project": "render", "recipe": "r"});
    expect(&call(app, "POST", "/api/v1/schedules", &alice, Some(schedule)).await, 201);
    worker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_get_a_5xx_or_an_answer_that_contradicts_the_document() {
    let app = TestHost::start().await;
    let worker = seed(&app).await;
    let admin = bearer(&admin(&app));
    // Path parameters that name the seeded data, so that requests reach past the 404 of a random name.
    let seeded = "[parameters]\n\"path.project\" = \"render\"\n\"path.user\" = \"alice\"\n\"path.group\" = \"crew\"\n";
    fuzz(&app, "admin", &[format!("Authorization: Bearer {admin}")], &[], seeded).await;
    let as_worker = [format!("X-Worker-ID: {}", worker.id), format!("X-Secret: {}", worker.secret)];
    fuzz(&app, "worker", &as_worker, &["--include-tag", "tasks", "--include-tag", "workers"], "").await;
    let health = app.get("/api/v1/health").await;
    assert_eq!(health.status, 200, "the host still answers after the fuzzing: {}", health.text());
}
