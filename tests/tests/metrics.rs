//! `GET /metrics` through the real host (docs/metrics.md): exact counts after submits, claims, releases and
//! an expired lease; text that a strict parser of Prometheus' format accepts; counters that survive a restart
//! on the same data directory and add up over two host processes; and who may read it.

use conveyor_tests::our_host_only;
use conveyor_tests::{ChildHost, Http, TestHost, TestResponse, Who, app_manifest};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// The scrapers' token the test hosts are given.
const SCRAPER_TOKEN: &str = "scrape-me-0123456789";

// ----- harness -----

async fn post(http: &Http, who: &Who, path: &str, body: Value) -> TestResponse {
    http.send_as(who, "POST", path, &[("content-type", "application/json")], body.to_string()).await
}

#[track_caller]
fn expect(response: &TestResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "{}", response.text());
    if response.body.is_empty() { Value::Null } else { response.json() }
}

fn admin(app: &TestHost) -> Who {
    Who::Bearer(app.admin_token())
}

fn scraper() -> Who {
    Who::Bearer(SCRAPER_TOKEN.into())
}

/// A host with the scrapers' token, on `data` (a restart) or a fresh data directory.
async fn start(data: Option<conveyor_tests::TempDir>) -> TestHost {
    let data = data.unwrap_or_else(|| conveyor_tests::TempDir::new("host"));
    TestHost::start_on(app_manifest(), data, |options| {
        options.variables.insert("metrics_token".into(), SCRAPER_TOKEN.into());
    })
    .await
}

async fn worker(http: &Http, alias: &str) -> Who {
    let created = expect(&post(http, &Who::Anonymous, "/api/v1/workers", json!({"alias": alias})).await, 201);
    Who::Worker(created["id"].as_i64().unwrap(), created["secret"].as_str().unwrap().to_string())
}

/// Claims from `project` and returns the task's id.
async fn claimed(http: &Http, worker: &Who, project: i64) -> i64 {
    let task = expect(&post(http, worker, "/api/v1/tasks/claim", json!({"project": project})).await, 200);
    task["id"].as_i64().unwrap()
}

async fn release(http: &Http, worker: &Who, task: i64, result: i64) {
    expect(&post(http, worker, &format!("/api/v1/tasks/{task}/release"), json!({"result": result})).await, 200);
}

/// Reads and strictly parses `/metrics` as `who`.
async fn scrape(http: &Http, who: &Who) -> Samples {
    let response = http.send_as(who, "GET", "/metrics", &[], String::new()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    parse(&response.text()).unwrap_or_else(|error| panic!("{error}\n{}", response.text()))
}

/// Scrapes until `ready` holds (the host flushes its request counts every second), at most 10 s.
async fn scrape_until(http: &Http, who: &Who, ready: impl Fn(&Samples) -> bool) -> Samples {
    let started = Instant::now();
    loop {
        let samples = scrape(http, who).await;
        if ready(&samples) || started.elapsed() > Duration::from_secs(10) {
            return samples;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ----- a strict parser of the text format (version 0.0.4) -----

/// Every sample: (name, labels sorted by name) → value.
/// A sample's labels, as `(name, value)` pairs.
type Labels = Vec<(String, String)>;

#[derive(Debug, Default)]
struct Samples(BTreeMap<(String, Labels), f64>);

impl Samples {
    /// The value of a series; `labels` in any order.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut labels: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        labels.sort();
        self.0.get(&(name.to_string(), labels)).copied()
    }

    #[track_caller]
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| panic!("no sample {name}{labels:?} in {:#?}", self.0.keys()))
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `{a="x",b="y"}` (after the name) into labels and the rest of the line.
fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
    let Some(mut rest) = text.strip_prefix('{') else { return Ok((Vec::new(), text)) };
    let mut labels = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after) = rest.split_once("=\"").ok_or("a label without =\"")?;
        if !valid_name(name) || name.starts_with("__") {
            return Err(format!("bad label name `{name}`"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    other => return Err(format!("bad escape \\{other}")),
                },
                (_, '\n') => return Err("a raw line feed in a label value".into()),
                (_, c) => value.push(c),
            }
        };
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label `{name}` twice"));
        }
        labels.push((name.to_string(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse().map_err(|_| format!("bad value `{text}`")),
    }
}

/// Parses an exposition as `promtool check metrics` would judge it: HELP then TYPE once per family, before
/// its samples, which are contiguous; counters end in `_total`; histograms' buckets carry `le`, are
/// cumulative and end in `+Inf` equal to `_count`; no series twice; the text ends with a line feed.
fn parse(text: &str) -> Result<Samples, String> {
    if !text.ends_with('\n') {
        return Err("the text does not end with a line feed".into());
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = HashSet::new();
    let mut finished = HashSet::new();
    let mut current: Option<String> = None;
    let mut samples = Samples::default();
    let mut buckets: BTreeMap<(String, Labels), Vec<(f64, f64)>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (keyword, name, rest) = (words.next(), words.next().unwrap_or(""), words.next().unwrap_or(""));
            if !valid_name(name) {
                return Err(format!("bad family name in `{line}`"));
            }
            if current.as_deref() != Some(name) {
                if let Some(done) = current.replace(name.to_string()) {
                    finished.insert(done);
                }
                if finished.contains(name) {
                    return Err(format!("family {name} appears twice"));
                }
            }
            match keyword {
                Some("HELP") if helped.insert(name.to_string()) && !types.contains_key(name) => {
                    if rest.is_empty() {
                        return Err(format!("{name} has an empty HELP"));
                    }
                }
                Some("TYPE") if !types.contains_key(name) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest) {
                        return Err(format!("{name} has type `{rest}`"));
                    }
                    if rest == "counter" && !name.ends_with("_total") {
                        return Err(format!("counter {name} does not end in _total"));
                    }
                    types.insert(name.to_string(), rest.to_string());
                }
                _ => return Err(format!("unexpected `{line}`")),
            }
            continue;
        }
        let end = line.find(['{', ' ']).ok_or_else(|| format!("no value in `{line}`"))?;
        let name = &line[..end];
        let (mut labels, rest) = parse_labels(&line[end..])?;
        let value = parse_value(rest.strip_prefix(' ').ok_or_else(|| format!("no value in `{line}`"))?)?;
        let family = current.clone().ok_or_else(|| format!("`{line}` before any TYPE"))?;
        let kind = types.get(&family).ok_or_else(|| format!("{family} has no TYPE"))?;
        if !helped.contains(&family) {
            return Err(format!("{family} has no HELP"));
        }
        let suffix = name.strip_prefix(family.as_str()).ok_or_else(|| format!("{name} outside its family {family}"))?;
        match (kind.as_str(), suffix) {
            ("histogram", "_bucket") => {
                let position = labels.iter().position(|(n, _)| n == "le").ok_or("a bucket without le")?;
                let (_, le) = labels.remove(position);
                labels.sort();
                buckets.entry((family.clone(), labels.clone())).or_default().push((parse_value(&le)?, value));
                labels.push(("le".into(), le));
            }
            ("histogram", "_sum" | "_count") => {}
            (_, "") if kind != "histogram" => {}
            _ => return Err(format!("sample {name} in {kind} family {family}")),
        }
        labels.sort();
        if samples.0.insert((name.to_string(), labels), value).is_some() {
            return Err(format!("series `{line}` twice"));
        }
    }
    for ((family, labels), series) in &buckets {
        let bounds: Vec<f64> = series.iter().map(|(le, _)| *le).collect();
        if !bounds.windows(2).all(|w| w[0] < w[1]) || bounds.last() != Some(&f64::INFINITY) {
            return Err(format!("{family}{labels:?}: buckets {bounds:?} do not ascend to +Inf"));
        }
        if !series.windows(2).all(|w| w[0].1 <= w[1].1) {
            return Err(format!("{family}{labels:?}: buckets are not cumulative"));
        }
        let count = samples.0.get(&(format!("{family}_count"), labels.clone()));
        if count != series.last().map(|(_, n)| n) || !samples.0.contains_key(&(format!("{family}_sum"), labels.clone()))
        {
            return Err(format!("{family}{labels:?}: +Inf bucket ≠ _count, or no _sum"));
        }
    }
    Ok(samples)
}

#[test]
fn the_parser_refuses_what_prometheus_refuses() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\n";
    assert_eq!(parse(good).unwrap().value("a_total", &[("x", "q\"\\\n")]), 1.0);
    for bad in [
        "# HELP a A.\n# TYPE a counter\na 1\n",
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1",
        "# TYPE a gauge\na 1\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",
        "# HELP a A.\n# TYPE a gauge\na one\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
        "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\n# HELP a A.\n",
    ] {
        assert!(parse(bad).is_err(), "accepted:\n{bad}");
    }
}

// ----- the tests -----

#[tokio::test(flavor = "multi_thread")]
async fn counts_are_exact_after_the_work_and_survive_a_restart() {
    our_host_only!("moves our host's test clock");
    let app = start(None).await;
    let admin = admin(&app);
    let created = expect(&post(&app, &admin, "/api/v1/projects", json!({"name": "metered \"q\""})).await, 201);
    let p = created["id"].as_i64().unwrap();
    let project = [("project", "metered \"q\"")];
    for recipe in ["a", "b", "c"] {
        let task = json!({"project": p, "recipe": recipe, "max_assign_time": 10});
        expect(&post(&app, &admin, "/api/v1/tasks", task).await, 201);
    }
    let bulk = json!({"project": p, "tasks": [{"recipe": "d"}, {"recipe": "e"}]});
    expect(&post(&app, &admin, "/api/v1/tasks/bulk", bulk).await, 201);
    let (w1, w2) = (worker(&app, "w1").await, worker(&app, "w2").await);

    let first = claimed(&app, &w1, p).await;
    release(&app, &w1, first, 0).await;
    let second = claimed(&app, &w1, p).await;
    release(&app, &w1, second, 1).await;
    assert_eq!(claimed(&app, &w1, p).await, second, "back to new after a failure");
    release(&app, &w1, second, 2).await;
    assert_eq!(claimed(&app, &w1, p).await, second);
    app.ours().runtime.clock().advance(11);
    assert_eq!(claimed(&app, &w2, p).await, second, "the expired lease is taken over");
    let cancel = json!({"jsonrpc": "2.0", "method": "cancel", "params": {}, "id": 1});
    expect(&post(&app, &admin, "/api/v1/tasks/5", cancel).await, 200);

    let check = |samples: &Samples, why: &str| {
        for (status, n) in [("new", 2.0), ("assigned", 1.0), ("closed", 1.0), ("failed", 0.0), ("cancelled", 1.0)] {
            let labels = [project[0], ("status", status)];
            assert_eq!(samples.value("conveyor_tasks", &labels), n, "{why}: {status}");
        }
        assert_eq!(samples.value("conveyor_task_submits_total", &project), 5.0, "{why}");
        assert_eq!(samples.value("conveyor_task_claims_total", &project), 5.0, "{why}");
        assert_eq!(samples.value("conveyor_task_lease_expiries_total", &project), 1.0, "{why}");
        for result in ["ok", "fail", "skip"] {
            let labels = [project[0], ("result", result)];
            assert_eq!(samples.value("conveyor_task_releases_total", &labels), 1.0, "{why}: {result}");
        }
        assert_eq!(samples.value("conveyor_workers", &[]), 2.0, "{why}");
    };
    // 3 submits, a bulk, 5 claims, 3 releases and a cancel: 13 POSTs answered 2xx by `tasks`.
    let tasks_ok = [("component", "tasks"), ("method", "POST"), ("status", "2xx")];
    let samples =
        scrape_until(&app, &scraper(), |s| s.get("conveyor_http_requests_total", &tasks_ok) == Some(13.0)).await;
    check(&samples, "before the restart");
    assert_eq!(samples.value("conveyor_workers_active", &[]), 2.0);
    assert_eq!(samples.value("conveyor_http_requests_total", &tasks_ok), 13.0);
    assert_eq!(samples.value("conveyor_http_request_duration_seconds_count", &tasks_ok), 13.0);
    let sum = samples.value("conveyor_http_request_duration_seconds_sum", &tasks_ok);
    assert!(sum > 0.0 && sum < 13.0 * 30.0, "{sum}");
    let created_ok = [("component", "projects"), ("method", "POST"), ("status", "2xx")];
    assert_eq!(samples.value("conveyor_http_requests_total", &created_ok), 1.0);

    let data = app.stop().await;
    let app = start(Some(data)).await;
    let samples = scrape(&app, &scraper()).await;
    check(&samples, "after the restart");
    assert_eq!(samples.value("conveyor_http_requests_total", &tasks_ok), 13.0, "flushed at shutdown, kept");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn request_counts_of_two_host_processes_on_one_database_add_up() {
    our_host_only!("runs a second process of our host on the data directory");
    let app = start(None).await;
    let child = ChildHost::spawn(app.data.path());
    let other = Http::new(child.url.clone());
    for _ in 0..5 {
        expect(&app.get("/api/v1/health").await, 200);
    }
    for _ in 0..7 {
        expect(&other.get("/api/v1/health").await, 200);
    }
    let health = [("component", "meta"), ("method", "GET"), ("status", "2xx")];
    let samples =
        scrape_until(&app, &admin(&app), |s| s.get("conveyor_http_requests_total", &health) == Some(12.0)).await;
    assert_eq!(samples.value("conveyor_http_requests_total", &health), 12.0);
    let buckets = samples
        .value("conveyor_http_request_duration_seconds_bucket", &[health[0], health[1], health[2], ("le", "+Inf")]);
    assert_eq!(buckets, 12.0);
}

/// Not a test on its own: the entry point of the second host process that
/// `request_counts_of_two_host_processes_on_one_database_add_up` starts (returns at once otherwise).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "entry point of a child host process, started by another test"]
async fn child_host_entry() {
    conveyor_tests::child_host_main().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_scrapers_token_and_administrators_may_read_the_metrics() {
    let app = start(None).await;
    let admin = admin(&app);
    let anonymous = app.get("/metrics").await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    assert_eq!(anonymous.json()["code"], "unauthorized");
    let wrong = app.send_as(&Who::Bearer("not-the-token".into()), "GET", "/metrics", &[], String::new()).await;
    assert_eq!(wrong.status, 401, "{}", wrong.text());

    let body = json!({"username": "ada", "email": "ada@example.org", "password": "correct horse"});
    expect(&post(&app, &admin, "/api/v1/users", body).await, 201);
    let login = json!({"username": "ada", "password": "correct horse"});
    let session = expect(&post(&app, &Who::Anonymous, "/api/v1/auth/login", login).await, 200);
    let user = Who::Bearer(session["token"].as_str().unwrap().to_string());
    let refused = app.send_as(&user, "GET", "/metrics", &[], String::new()).await;
    assert_eq!((refused.status, refused.json()["code"].as_str()), (403, Some("forbidden")), "{}", refused.text());
    let worker = worker(&app, "unrelated").await;
    let refused = app.send_as(&worker, "GET", "/metrics", &[], String::new()).await;
    assert_eq!((refused.status, refused.json()["code"].as_str()), (403, Some("forbidden")), "{}", refused.text());
    let token_in_a_header = [("authorization", format!("Token {SCRAPER_TOKEN}"))];
    let headers: Vec<(&str, &str)> = token_in_a_header.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(app.send("GET", "/metrics", &headers, "").await.status, 401, "only as a bearer token");

    // An administrator user, the built-in administrator and the scraper read it.
    let promote = app
        .send_as(
            &admin,
            "PATCH",
            "/api/v1/users/ada",
            &[("content-type", "application/json")],
            json!({"admin": true}).to_string(),
        )
        .await;
    expect(&promote, 200);
    let session = expect(
        &post(&app, &Who::Anonymous, "/api/v1/auth/login", json!({"username": "ada", "password": "correct horse"}))
            .await,
        200,
    );
    let administrator = Who::Bearer(session["token"].as_str().unwrap().to_string());
    for who in [&administrator, &admin, &scraper()] {
        assert_eq!(scrape(&app, who).await.value("conveyor_workers", &[]), 1.0);
    }
    let post_metrics = app.send_as(&admin, "POST", "/metrics", &[], String::new()).await;
    assert_eq!(post_metrics.status, 405, "{}", post_metrics.text());
}
