//! `[[application.tool.conveyor.tick]]`, on the fixture component (tests/fixture/tick.toml): with nothing
//! else running, the host calls each tick's route about every second as a client of its own would; a route
//! slower than its period is never called twice at once; stopping the host stops the ticks; a failing route
//! is logged once, not every second.

use bytes::Bytes;
use conveyor::HostOptions;
use conveyor::runtime::Runtime;
use http_body_util::{BodyExt, Full};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent")
}

fn manifest() -> PathBuf {
    repo().join("tests/fixture/tick.toml")
}

/// Builds the fixture component once per test binary.
fn build_fixture() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let app = conveyor::manifest::App::load(&manifest()).map_err(|e| format!("{e:#}"))?;
        conveyor::build::build(&app).map_err(|e| format!("{e:#}"))
    });
    if let Err(error) = built {
        panic!("building the fixture failed: {error}");
    }
}

/// An empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tick-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the fixture stored under `key`, asked of the runtime directly: no client talks to the host.
async fn stored(runtime: &Runtime, key: &str) -> String {
    let request = http::Request::get(format!("/fixture/stored/{key}")).body(Full::new(Bytes::new())).unwrap();
    let response = runtime.handle(request, "127.0.0.1:1".parse().unwrap()).await;
    assert_eq!(response.status(), 200, "reading `{key}`");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// A count the fixture keeps (0 before the first call).
async fn calls(runtime: &Runtime, key: &str) -> u64 {
    stored(runtime, key).await.parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn ticks_call_their_routes_about_every_second_one_at_a_time_until_the_host_stops() {
    build_fixture();
    let data = scratch("in-process");
    let mut options = HostOptions::new(manifest(), &data);
    options.cache_dir = Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("tick-cache"));
    let host = conveyor::start(options).await.expect("the host starts");
    let runtime = host.runtime.clone();

    tokio::time::sleep(Duration::from_millis(5500)).await;
    let ticks = calls(&runtime, "tick-calls").await;
    assert!((3..=7).contains(&ticks), "about one call a second: {ticks} calls in 5.5 s");
    let request = stored(&runtime, "tick-request").await;
    let expected = format!(
        "POST body=0 client=127.0.0.1:0 url=http://{}/fixture/tick route=/fixture/... credentials=[]",
        host.addr
    );
    assert_eq!(request, expected, "an empty POST from the host itself, with Spin's headers and no credentials");

    // The slow route takes 2.5 s on a 1 s period: the beats that come while it runs are skipped.
    assert_eq!(stored(&runtime, "slow-overlap").await, "", "the slow route was never called twice at once");
    let slow = calls(&runtime, "slow-calls").await;
    assert!((2..=3).contains(&slow), "the slow route is still called, one call after another: {slow} calls");

    host.stop().await.unwrap();
    let at_stop = (calls(&runtime, "tick-calls").await, calls(&runtime, "slow-calls").await);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = (calls(&runtime, "tick-calls").await, calls(&runtime, "slow-calls").await);
    assert_eq!(later, at_stop, "no tick fires once the host has stopped");
    assert_eq!(stored(&runtime, "slow-overlap").await, "");
    let _ = std::fs::remove_dir_all(&data);
}

#[cfg(unix)]
#[test]
fn a_failing_tick_is_logged_once_not_every_second_and_sigterm_stops_the_host() {
    build_fixture();
    let data = scratch("binary");
    let mut child = Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(manifest())
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut serving = String::new();
    stdout.read_line(&mut serving).unwrap();
    assert!(serving.starts_with("Serving http://127.0.0.1:"), "{serving}");

    std::thread::sleep(Duration::from_millis(4500));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0), "exits 0 on SIGTERM");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();

    let failures: Vec<&str> = stderr.lines().filter(|line| line.contains("tick POST /fixture/failing-tick")).collect();
    assert_eq!(failures.len(), 1, "one line for the whole streak of failures:\n{stderr}");
    assert!(failures[0].contains("answered 500") && failures[0].contains("fails on purpose"), "{}", failures[0]);
    assert!(
        !stderr.contains("tick POST /fixture/tick") && !stderr.contains("slow-tick"),
        "successes are quiet:\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&data);
}
