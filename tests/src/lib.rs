//! The integration-test harness: builds the wasm components once per test binary (through the host's
//! own `conveyor build`), starts real hosts on 127.0.0.1:0 with temporary data directories, and talks
//! HTTP to them.

use bytes::Bytes;
use conveyor::{HostOptions, RunningHost};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

mod receiver;
pub mod spin;
pub use receiver::{Behaviour, Hook, Receiver, Seen};
pub use spin::SpinUp;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The application manifest.
pub fn app_manifest() -> PathBuf {
    repo_root().join("spin.toml")
}

/// The fixture application's manifest.
pub fn fixture_manifest() -> PathBuf {
    repo_root().join("tests/fixture/spin.toml")
}

/// Builds the application's and the fixture's components once per test process.
pub fn ensure_built() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        for manifest in [app_manifest(), fixture_manifest()] {
            let app = conveyor::manifest::App::load(&manifest).map_err(|e| format!("{e:#}"))?;
            conveyor::build::build(&app).map_err(|e| format!("{e:#}"))?;
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("building the components failed: {error}");
    }
}

/// A directory under `target/` that is removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = repo_root().join("target/test-data").join(format!("{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The compile cache shared by all tests, so each component is compiled once per run.
pub fn shared_cache_dir() -> PathBuf {
    repo_root().join("target/test-cache")
}

/// A response as the tests see it.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Who a request is sent as.
#[derive(Clone, Debug)]
pub enum Who {
    Anonymous,
    /// A bearer token (a user's session or the built-in administrator's token).
    Bearer(String),
    /// A session cookie (task_tracker's managers).
    Cookie(String),
    /// A worker's id and secret.
    Worker(i64, String),
}

impl Who {
    /// The worker's id; panics for anyone else.
    pub fn worker_id(&self) -> i64 {
        match self {
            Who::Worker(id, _) => *id,
            other => panic!("not a worker: {other:?}"),
        }
    }

    /// The credential headers. A worker's go as `X-Worker-ID` and `X-Secret` in odd letter case, since
    /// header names are case-insensitive.
    pub fn headers(&self) -> Vec<(String, String)> {
        match self {
            Who::Anonymous => Vec::new(),
            Who::Bearer(token) => vec![("authorization".into(), format!("Bearer {token}"))],
            Who::Cookie(token) => vec![("cookie".into(), format!("conveyor_session={token}"))],
            Who::Worker(id, secret) => {
                vec![("X-Worker-ID".into(), id.to_string()), ("x-SECRET".into(), secret.clone())]
            }
        }
    }
}

/// Fails when a response body shows SQL, the database or a stored secret hash.
#[track_caller]
pub fn assert_no_leaks(text: &str) {
    for forbidden in ["SELECT ", "INSERT ", "UPDATE ", "sqlite", "secret_hash"] {
        assert!(!text.contains(forbidden), "response leaks `{forbidden}`: {text}");
    }
}

/// An HTTP client bound to one host's base URL. Cheap to clone.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    pub fn new(base: String) -> Http {
        Http { base, client: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http() }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with the given headers and body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> TestResponse {
        self.try_send(method, path, headers, body).await.expect("the host answers")
    }

    /// Sends a request; an error when no complete answer arrives (the host is gone, or was killed
    /// mid-answer).
    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> anyhow::Result<TestResponse> {
        let mut request = http::Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into()))?;
        let response = self.client.request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(TestResponse { status: parts.status.as_u16(), headers: parts.headers, body })
    }

    /// Sends as `who` with `extra` headers, and checks that the answer leaks nothing ([`assert_no_leaks`]).
    pub async fn send_as(
        &self,
        who: &Who,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: String,
    ) -> TestResponse {
        let mut headers = who.headers();
        headers.extend(extra.iter().map(|(name, value)| (name.to_string(), value.to_string())));
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let response = self.send(method, path, &headers, body).await;
        assert_no_leaks(&response.text());
        response
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send("GET", path, &[], Bytes::new()).await
    }

    /// POSTs JSON, optionally with a bearer token.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value, token: Option<&str>) -> TestResponse {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth));
        }
        self.send("POST", path, &headers, body.to_string()).await
    }
}

/// The host serving a [`TestHost`]: ours, or a real `spin up` when [`spin::SPIN_BINARY`] is set.
pub enum Served {
    Ours(RunningHost),
    Spin(SpinUp),
}

/// A running host with its data directory and an HTTP client (`Deref`s to [`Http`]).
pub struct TestHost {
    pub served: Served,
    pub data: TempDir,
    pub http: Http,
}

impl std::ops::Deref for TestHost {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl TestHost {
    /// The Conveyor application on a fresh data directory.
    pub async fn start() -> TestHost {
        Self::start_with(app_manifest(), |_| {}).await
    }

    /// Any manifest, with options adjusted by `configure`.
    pub async fn start_with(manifest: PathBuf, configure: impl FnOnce(&mut HostOptions)) -> TestHost {
        Self::start_on(manifest, TempDir::new("host"), configure).await
    }

    /// Like [`TestHost::start_with`], on an existing data directory (a restart).
    ///
    /// On Spin only the variables may be configured: a test that sets our host's own options (limits, cache,
    /// ticks, runtime config) is about our host and says so with [`our_host_only!`].
    pub async fn start_on(manifest: PathBuf, data: TempDir, configure: impl FnOnce(&mut HostOptions)) -> TestHost {
        ensure_built();
        let mut options = HostOptions::new(manifest, data.path());
        options.cache_dir = Some(shared_cache_dir());
        // Tests call tick routes (run-due) themselves, at the times they set; a test of the ticks turns them on.
        options.ticks = false;
        let defaults = host_only_options(&options);
        configure(&mut options);
        allow_notify_origin(&mut options);
        let served = match spin::spin_binary() {
            None => Served::Ours(conveyor::start(options).await.expect("the host starts")),
            Some(spin) => {
                assert_eq!(
                    host_only_options(&options),
                    defaults,
                    "on Spin only variables apply: mark the test our_host_only!"
                );
                let up = SpinUp::start(&spin, &options.manifest, data.path(), &options.variables).await;
                Served::Spin(up.expect("spin up serves"))
            }
        };
        let http = Http::new(match &served {
            Served::Ours(host) => host.url(),
            Served::Spin(up) => up.url.clone(),
        });
        TestHost { served, data, http }
    }

    /// The built-in administrator's token.
    pub fn admin_token(&self) -> String {
        match &self.served {
            Served::Ours(host) => host.admin_token.clone().expect("the app declares admin_token"),
            Served::Spin(up) => up.admin_token.clone(),
        }
    }

    /// Our host, for a test about it (its clock, pool or cache); such a test starts with [`our_host_only!`].
    pub fn ours(&self) -> &RunningHost {
        match &self.served {
            Served::Ours(host) => host,
            Served::Spin(_) => panic!("this test needs our host: start it with our_host_only!"),
        }
    }

    /// Stops the host and hands back its data directory (to start again on it).
    pub async fn stop(self) -> TempDir {
        match self.served {
            Served::Ours(host) => host.stop().await.expect("the host stops cleanly"),
            Served::Spin(up) => up.stop(),
        }
        self.data
    }
}

/// What of `options` only our host reads, to compare.
fn host_only_options(options: &HostOptions) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {}",
        options.limits, options.connections, options.cache_dir, options.runtime_config, options.ticks
    )
}

/// Returns early, saying so, from a test about our host itself (its flags, pool, clock, cache or errors)
/// when the suites run on Spin (`CONVEYOR_TEST_SPIN`).
#[macro_export]
macro_rules! our_host_only {
    ($why:expr) => {
        if $crate::spin::spin_binary().is_some() {
            eprintln!("skipped on Spin: {}", $why);
            return;
        }
    };
}

/// Where a test gives `notify_url` and not `notify_origin`, sets `notify_origin` to the URL's origin, as an
/// operator does: the components that notify may reach that origin only (spin.toml).
fn allow_notify_origin(options: &mut HostOptions) {
    if options.variables.contains_key("notify_origin") {
        return;
    }
    let Some(url) = options.variables.get("notify_url") else { return };
    let uri: http::Uri = url.parse().expect("notify_url is a URL");
    let origin = format!("{}://{}", uri.scheme_str().expect("a scheme"), uri.authority().expect("a host"));
    options.variables.insert("notify_origin".into(), origin);
}

/// The environment variable that turns a re-executed test binary into a child host.
const CHILD_HOST_DATA: &str = "CONVEYOR_CHILD_HOST_DATA";
const CHILD_HOST_URL: &str = "CONVEYOR_CHILD_HOST_URL=";
/// The arguments that make a test binary run only its `child_host_entry` test.
const CHILD_HOST_ARGS: [&str; 5] = ["--exact", "child_host_entry", "--ignored", "--nocapture", "--test-threads=1"];

/// A host serving from a separate process: the current test binary re-executed to run only its ignored
/// `child_host_entry` test (see [`child_host_main`]). Killed when dropped.
pub struct ChildHost {
    child: std::process::Child,
    pub url: String,
}

impl ChildHost {
    /// Starts a host process on `data_dir` (already built components, shared compile cache).
    pub fn spawn(data_dir: &Path) -> ChildHost {
        let mut command = std::process::Command::new(std::env::current_exe().expect("the test binary"));
        command.args(CHILD_HOST_ARGS);
        Self::launch(command, data_dir)
    }

    /// Like [`ChildHost::spawn`], but no file the process writes may grow beyond `bytes` (`ulimit -f`, with
    /// `SIGXFSZ` ignored so that a write past it fails instead of killing the process): a full disk.
    pub fn spawn_with_file_limit(data_dir: &Path, bytes: u64) -> ChildHost {
        let blocks = bytes.div_ceil(512);
        let mut command = std::process::Command::new("sh");
        command
            .args(["-c", &format!("trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" \"$@\"")])
            .arg(std::env::current_exe().expect("the test binary"))
            .args(CHILD_HOST_ARGS);
        Self::launch(command, data_dir)
    }

    fn launch(mut command: std::process::Command, data_dir: &Path) -> ChildHost {
        use std::io::BufRead;
        let mut child = command
            .env(CHILD_HOST_DATA, data_dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the child host process starts");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let url = stdout
            .lines()
            .map_while(Result::ok)
            // libtest prints `test child_host_entry ... ` without a newline, so the marker may follow it.
            .find_map(|line| line.split_once(CHILD_HOST_URL).map(|(_, url)| url.trim().to_string()))
            .expect("the child host prints its URL");
        ChildHost { child, url }
    }
}

impl Drop for ChildHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a test binary's ignored `child_host_entry` test: when started by [`ChildHost::spawn`], serve
/// the application on the given data directory until killed; otherwise return at once.
pub async fn child_host_main() {
    let Some(data_dir) = std::env::var_os(CHILD_HOST_DATA) else { return };
    let mut options = HostOptions::new(app_manifest(), PathBuf::from(data_dir));
    options.cache_dir = Some(shared_cache_dir());
    options.ticks = false;
    let host = conveyor::start(options).await.expect("the child host starts");
    println!("{CHILD_HOST_URL}{}", host.url());
    std::future::pending::<()>().await;
}
