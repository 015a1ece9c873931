//! Headless Chromium for the tests: Debian's `chromium`, installed with apt-get when missing (the tests run as
//! root, in CI too; a failed installation fails the test with what to do), run once per page with
//! `--dump-dom`.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The Chromium binary, installed first when missing (once per test process; apt-get waits for a lock that
/// another test process holds).
pub fn chromium() -> &'static Path {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        if Path::new(CHROMIUM).exists() {
            return Ok(());
        }
        apt_get(&["update"])?;
        apt_get(&["install", "-y", "chromium"])?;
        if Path::new(CHROMIUM).exists() { Ok(()) } else { Err(format!("apt-get installed no {CHROMIUM}")) }
    });
    if let Err(error) = installed {
        panic!(
            "these tests need headless Chromium at {CHROMIUM}, and installing it failed: {error}\n\
             Install it yourself (`sudo apt-get install chromium` on Debian or Ubuntu) or run the tests as root."
        );
    }
    Path::new(CHROMIUM)
}

fn apt_get(args: &[&str]) -> Result<(), String> {
    let output = Command::new("apt-get")
        .args(["-o", "DPkg::Lock::Timeout=600", "-q"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|error| format!("cannot run apt-get: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`apt-get {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// What Chromium made of a page: the DOM after its scripts ran, and its log (console messages and
/// Content-Security-Policy refusals).
pub struct Rendered {
    pub dom: String,
    pub log: String,
}

impl Rendered {
    /// The URLs the page's Content-Security-Policy refused to load: Chromium logs each refusal as
    /// "Loading the image 'URL' violates the following Content Security Policy directive ..." (older
    /// versions: "Refused to load the image 'URL' because it violates ...").
    pub fn refused(&self) -> Vec<String> {
        self.log
            .lines()
            .filter(|line| line.contains("Content Security Policy"))
            .map(|line| line.split('\'').nth(1).unwrap_or(line).to_string())
            .collect()
    }
}

/// Loads `url` in a fresh headless Chromium that cannot resolve any host but 127.0.0.1 (so nothing from
/// outside can load even if a page asked for it), lets its scripts run for up to `budget` of virtual time,
/// and returns the DOM it ends with.
pub async fn render(url: &str, budget: Duration) -> Rendered {
    let binary = tokio::task::spawn_blocking(|| chromium().to_path_buf()).await.expect("installing Chromium");
    let profile = conveyor_tests::TempDir::new("chromium");
    let mut command = tokio::process::Command::new(binary);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().join("profile").display()))
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg("--dump-dom")
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .unwrap_or_else(|_| panic!("Chromium did not finish rendering {url} within 180 s"))
        .unwrap_or_else(|error| panic!("cannot run Chromium: {error}"));
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "Chromium failed on {url} ({}): {log}", output.status);
    Rendered { dom: String::from_utf8_lossy(&output.stdout).into_owned(), log }
}
