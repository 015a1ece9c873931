//! The `conveyor` binary: bad manifests are one-line errors naming the file and the key, with a
//! non-zero exit; `up` serves, prints its URL and admin token, and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn conveyor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_conveyor"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const VALID: &str = r#"spin_manifest_version = 2
[application]
name = "t"
[variables]
greeting = { default = "hi" }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "c.wasm"
variables = { g = "{{ greeting }}" }
"#;

/// Runs `conveyor up` on a manifest that must fail, returning stderr.
fn failing_up(name: &str, manifest: &str) -> String {
    let dir = scratch(name);
    std::fs::write(dir.join("spin.toml"), manifest).unwrap();
    let output = conveyor()
        .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(dir.join("spin.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{name}: must exit 1");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: one line: {stderr}");
    assert!(stderr.contains("spin.toml"), "{name}: names the file: {stderr}");
    stderr
}

#[test]
fn bad_manifests_fail_with_one_line_naming_file_and_key() {
    let cases = [
        ("malformed", "spin_manifest_version = = 2".to_string(), "line 1"),
        ("unknown-component", VALID.replace("component = \"c\"", "component = \"x\""), "trigger.http[0].component"),
        ("unknown-variable", VALID.replace("{{ greeting }}", "{{ nope }}"), "component.c.variables.g"),
        ("unsupported-key", VALID.replace("[component.c]", "[component.c]\nfiles = []"), "files"),
        ("missing-wasm", VALID.to_string(), "component `c`"),
    ];
    for (name, manifest, key) in cases {
        let stderr = failing_up(name, &manifest);
        assert!(stderr.contains(key), "{name}: names `{key}`: {stderr}");
    }
    let missing = failing_up("missing-wasm-path", VALID);
    assert!(missing.contains("c.wasm") && missing.contains("conveyor build"), "{missing}");
}

#[test]
fn a_missing_manifest_is_an_error() {
    let output = conveyor().args(["build", "--manifest", "/nonexistent/spin.toml"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/spin.toml"));
}

#[cfg(unix)]
#[test]
fn up_serves_prints_url_and_token_and_exits_zero_on_sigterm() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = scratch("up");
    let mut child = conveyor()
        .args(["up", "--build", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(repo.join("spin.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let token = lines.next().unwrap().unwrap();
    assert!(url.starts_with("Serving http://127.0.0.1:"), "{url}");
    let token = token.strip_prefix("Admin token: ").expect("the admin token is printed");
    let stored = std::fs::read_to_string(dir.join("data/admin_token")).unwrap();
    assert_eq!(token, stored.trim(), "the printed token is the stored one");

    let addr = url.trim_start_matches("Serving http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    use std::io::{Read, Write};
    stream.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
