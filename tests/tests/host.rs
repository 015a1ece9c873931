//! The native host, driven over HTTP: routing, Spin's headers, the Spin interfaces and their grants,
//! guest failures, limits, the compile cache and graceful shutdown.

use conveyor_tests::our_host_only;
use conveyor_tests::{TempDir, TestHost, app_manifest, fixture_manifest, shared_cache_dir};
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn fixture() -> TestHost {
    TestHost::start_with(fixture_manifest(), |_| {}).await
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_discovery_over_http() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let app = TestHost::start().await;
    let health = app.get("/api/v1/health").await;
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(health.header("content-type"), Some("application/json; charset=utf-8"));
    let body = health.json();
    assert_eq!(body["up"], true);
    assert_eq!(body["result"]["database"], "up");
    assert_eq!(body["result"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(app.get("/api/v1/health/").await.status, 200, "trailing slash is ignored");

    assert_eq!(app.get("/api").await.json(), serde_json::json!({"api_versions": {"v1": "/api/v1"}}));
    let root = app.get("/api/v1").await.json();
    assert_eq!(root["links"]["health"], app.url("/api/v1/health"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_are_json_404s() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let app = TestHost::start().await;
    for path in ["/nothing-here", "/api/v1/nothing-here", "/api/v2"] {
        let response = app.get(path).await;
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.json()["code"], "not_found", "{path}");
    }
    let wrong_method = app.send("DELETE", "/api/v1/health", &[], "").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json()["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_is_503_when_the_database_is_not_granted() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let dir = TempDir::new("manifest");
    let manifest = std::fs::read_to_string(app_manifest()).unwrap();
    let root = conveyor_tests::repo_root();
    let rewritten = manifest
        .replace("source = \"target/", &format!("source = \"{}/target/", root.display()))
        .replace("sqlite_databases = [\"default\"]\n", "");
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, rewritten).unwrap();
    let app = TestHost::start_with(path, |_| {}).await;
    let health = app.get("/api/v1/health").await;
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["result"]["database"], "down");
}

#[tokio::test(flavor = "multi_thread")]
async fn interfaces_are_limited_to_what_spin_toml_grants() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let app = fixture().await;
    assert_eq!(app.get("/fixture/sqlite").await.text(), "ok Value::Integer(42)");
    assert_eq!(app.get("/fixture/kv").await.text(), "1");
    assert_eq!(app.get("/fixture/kv").await.text(), "2", "the key-value store persists across requests");
    assert_eq!(app.get("/fixture/variable/greeting").await.text(), "hello, world");
    assert_eq!(app.get("/fixture/variable/admin_token").await.text(), "Error::Undefined(\"admin_token\")");

    let denied_db = app.get("/denied/fixture/sqlite").await;
    assert_eq!((denied_db.status, denied_db.text().as_str()), (403, "Error::AccessDenied"));
    let denied_kv = app.get("/denied/fixture/kv").await;
    assert_eq!((denied_kv.status, denied_kv.text().as_str()), (403, "Error::AccessDenied"));
    assert_eq!(app.get("/denied/fixture/variable/greeting").await.status, 404);

    let target = format!("url={}", app.url("/api/v1/health"));
    // The fixture app has no /api route, so an allowed call reaches the host and gets its 404.
    let allowed = app.get(&format!("/fixture/outbound?{target}")).await;
    assert_eq!(allowed.text(), "status 404");
    let denied = app.get(&format!("/denied/fixture/outbound?{target}")).await;
    assert_eq!(denied.status, 502);
    assert!(denied.text().contains("HttpRequestDenied"), "{}", denied.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_carry_spins_headers_and_clients_cannot_forge_them() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let app = fixture().await;
    let response = app.send("GET", "/items/42/fixture/headers?x=1", &[("spin-client-addr", "6.6.6.6:1")], "").await;
    let headers: Vec<String> = response.text().lines().map(String::from).collect();
    let port = app.ours().addr.port();
    for expected in [
        format!("spin-full-url=http://127.0.0.1:{port}/items/42/fixture/headers?x=1"),
        "spin-path-info=/headers".to_string(),
        "spin-matched-route=/items/:id/fixture/...".to_string(),
        "spin-raw-component-route=/items/:id/fixture/...".to_string(),
        "spin-component-route=/items/:id/fixture".to_string(),
        "spin-base-path=/".to_string(),
        "spin-path-match-id=42".to_string(),
    ] {
        assert!(headers.contains(&expected), "missing {expected} in {headers:?}");
    }
    let client = headers.iter().find(|h| h.starts_with("spin-client-addr=")).expect("client address");
    assert!(client.starts_with("spin-client-addr=127.0.0.1:"), "{client}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapping_guest_gets_a_500_and_the_host_keeps_serving() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let app = fixture().await;
    let trapped = app.get("/fixture/trap").await;
    assert_eq!(trapped.status, 500);
    assert_eq!(trapped.json(), serde_json::json!({"detail": "internal error", "code": "internal_error"}));
    assert_eq!(app.get("/fixture/sqlite").await.status, 200);

    let hog = app.get("/fixture/memory").await;
    assert_eq!(hog.status, 500, "an instance cannot grow past its memory cap: {}", hog.text());
    assert_eq!(app.get("/fixture/sqlite").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_past_its_time_limit_gets_a_504() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let app = TestHost::start_with(fixture_manifest(), |o| o.limits.request_timeout = Duration::from_millis(500)).await;
    let spun = app.get("/fixture/spin").await;
    assert_eq!(spun.status, 504);
    assert_eq!(spun.json()["code"], "timeout");
    let slept = app.get("/fixture/sleep").await;
    assert_eq!(slept.status, 504, "a guest blocked in a host call is timed out too");
    assert_eq!(app.get("/fixture/sqlite").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_the_limit_are_413() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let app = TestHost::start_with(fixture_manifest(), |o| o.limits.max_body = 1024).await;
    assert_eq!(app.send("POST", "/fixture/echo", &[], vec![b'x'; 1024]).await.text(), "1024 bytes");
    let huge = app.send("POST", "/fixture/echo", &[], vec![b'x'; 1025]).await;
    assert_eq!(huge.status, 413);
    assert_eq!(huge.json()["code"], "payload_too_large");
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_time_follows_the_host_clock() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let app = fixture().await;
    let before: u64 = app.get("/fixture/clock").await.text().parse().unwrap();
    app.ours().runtime.clock().advance(3600);
    let after: u64 = app.get("/fixture/clock").await.text().parse().unwrap();
    assert!((3600..3700).contains(&(after - before)), "{before} -> {after}");
}

fn cache_counts(app: &TestHost) -> (usize, usize) {
    let stats = &app.ours().runtime.cache_stats;
    (stats.compiled.load(Ordering::SeqCst), stats.loaded_from_cache.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_start_reuses_the_compile_cache() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let cache = TempDir::new("cache");
    let first = TestHost::start_with(fixture_manifest(), |o| o.cache_dir = Some(cache.path().to_path_buf())).await;
    // Both fixture components share one .wasm: it is compiled once and the second loads the artifact.
    assert_eq!(cache_counts(&first), (1, 1));
    first.stop().await;
    let second = TestHost::start_with(fixture_manifest(), |o| o.cache_dir = Some(cache.path().to_path_buf())).await;
    assert_eq!(cache_counts(&second), (0, 2));
    assert_eq!(second.get("/fixture/sqlite").await.status, 200);
    assert!(shared_cache_dir().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_finishes_in_flight_requests() {
    our_host_only!("about our host itself: its flags, limits, cache and errors");
    let app = fixture().await;
    let http = app.http.clone();
    let slow = tokio::spawn(async move { http.get("/fixture/sleep").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let addr = app.ours().addr;
    app.stop().await;
    let response = slow.await.unwrap();
    assert_eq!((response.status, response.text().as_str()), (200, "slept"));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer accepting");
}
