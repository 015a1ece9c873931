//! The outbound allow-list with templates, through the real host: a component may reach the origin its
//! `allowed_outbound_hosts` template resolves to (tests/fixture/outbound.toml), and nothing else — another
//! port, another host, or anything at all when the variable is empty; a value that is no origin stops the
//! host at start-up. The application's notifying components reach `notify_origin` only.

use conveyor_tests::{Hook, Receiver, TempDir, TestHost, app_manifest, repo_root};
use serde_json::json;

fn manifest() -> std::path::PathBuf {
    repo_root().join("tests/fixture/outbound.toml")
}

async fn fixture(variables: &[(&str, &str)]) -> TestHost {
    let variables: Vec<(String, String)> = variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    TestHost::start_with(manifest(), move |options| options.variables.extend(variables)).await
}

/// Asks the fixture (under `prefix`) to GET `url`: whether the request went out.
async fn reaches(app: &TestHost, prefix: &str, url: &str) -> bool {
    let response = app.get(&format!("{prefix}/fixture/outbound?url={url}")).await;
    match response.status {
        200 => true,
        502 => false,
        other => panic!("unexpected {other}: {}", response.text()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_reaches_the_origin_its_template_resolves_to_and_nothing_else() {
    let allowed = Receiver::start().await;
    let other = Receiver::start().await;
    let origin = allowed.url("");
    let port = origin.rsplit_once(':').unwrap().1.to_string();
    let app = fixture(&[("hook_origin", &origin), ("hook_port", &port)]).await;

    for prefix in ["", "/port"] {
        assert!(reaches(&app, prefix, &allowed.url("/in")).await, "{prefix}: the resolved origin is refused");
        assert!(!reaches(&app, prefix, &other.url("/out")).await, "{prefix}: another port is reached");
        let by_name = allowed.url("/by-name").replace("127.0.0.1", "localhost");
        assert!(!reaches(&app, prefix, &by_name).await, "{prefix}: another host name is reached");
        let https = allowed.url("/tls").replace("http://", "https://");
        assert!(!reaches(&app, prefix, &https).await, "{prefix}: another scheme is reached");
    }
    assert_eq!(allowed.seen("/in").len(), 2);
    assert!(other.all().is_empty(), "a refused request reached its host");
    assert!(allowed.seen("/by-name").is_empty() && allowed.seen("/tls").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_that_resolves_to_nothing_allows_nothing() {
    let receiver = Receiver::start().await;
    let app = fixture(&[("hook_origin", "")]).await;
    assert!(!reaches(&app, "", &receiver.url("/x")).await);
    assert!(receiver.all().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_that_resolves_to_no_origin_stops_the_host_naming_the_key() {
    let data = TempDir::new("outbound-bad");
    let mut options = conveyor::HostOptions::new(manifest(), data.path());
    options.cache_dir = Some(conveyor_tests::shared_cache_dir());
    options.variables.insert("hook_origin".into(), "http://127.0.0.1:9/with/a/path".into());
    conveyor_tests::ensure_built();
    let error = match conveyor::start(options).await {
        Ok(_) => panic!("the host started with an origin that has a path"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("key `component.origin.allowed_outbound_hosts`"), "{error}");
    assert!(error.contains("`{{ hook_origin }}`: `http://127.0.0.1:9/with/a/path`"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_account_hook_is_reached_only_at_notify_origin() {
    let hook = Hook::start().await;
    let elsewhere = Receiver::start().await;
    let signup = |name: &str| json!({"username": name, "email": format!("{name}@example.org"), "password": "correct horse battery"});
    let start = |origin: String| {
        let url = hook.url.clone();
        TestHost::start_with(app_manifest(), move |options| {
            options.variables.insert("allow_signup".into(), "true".into());
            options.variables.insert("notify_url".into(), url);
            options.variables.insert("notify_origin".into(), origin);
        })
    };

    // notify_origin names another origin than notify_url's: the event is not delivered.
    let app = start(elsewhere.url("")).await;
    let created = app.post_json("/api/v1/auth/signup", &signup("ada"), None).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(hook.events().is_empty(), "the hook was reached outside notify_origin");

    // notify_origin is notify_url's origin: it is.
    let app = start(hook.url.trim_end_matches("/events").to_string()).await;
    let created = app.post_json("/api/v1/auth/signup", &signup("bob"), None).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(hook.events().len(), 1, "{:?}", hook.events());
}
