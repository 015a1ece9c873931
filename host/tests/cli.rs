//! The `conveyor` binary: bad manifests are one-line errors naming the file and the key, with a
//! non-zero exit; relative paths resolve against the manifest's directory however the manifest is named;
//! `up` run as the README runs it serves, prints its URL and admin token, and exits 0 on SIGTERM, also when
//! its standard output cannot be written.

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
        (
            "tick-unknown-key",
            format!("{VALID}[application.tool.conveyor]\ncron = \"*\"\n"),
            "application.tool.conveyor.cron",
        ),
        (
            "tick-unserved-route",
            VALID.replace("route = \"/...\"", "route = \"/api/...\"")
                + "[[application.tool.conveyor.tick]]\nroute = \"/other\"\nevery_seconds = 1\n",
            "application.tool.conveyor.tick[0].route",
        ),
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

/// A manifest whose one component's build command records the directory it ran in, in `$RAN_IN`.
const RECORDS_WORKDIR: &str = r#"spin_manifest_version = 2
[application]
name = "t"
[component.c]
source = "c.wasm"
[component.c.build]
command = "pwd > \"$RAN_IN\""
"#;

/// Where `conveyor build`, run in `cwd` with `--manifest <manifest>`, ran the build command.
fn build_ran_in(cwd: &Path, manifest: &Path) -> PathBuf {
    let record = cwd.join("ran-in.txt");
    let output = conveyor()
        .current_dir(cwd)
        .env("RAN_IN", &record)
        .arg("build")
        .arg("--manifest")
        .arg(manifest)
        .output()
        .unwrap();
    assert!(output.status.success(), "{manifest:?} in {cwd:?}: {}", String::from_utf8_lossy(&output.stderr));
    let recorded = std::fs::read_to_string(&record).unwrap();
    std::fs::remove_file(&record).unwrap();
    PathBuf::from(recorded.trim())
}

#[test]
fn build_runs_in_the_manifest_directory_however_the_manifest_path_is_given() {
    let root = scratch("manifest-paths").canonicalize().unwrap();
    let app = root.join("sub/dir");
    std::fs::create_dir_all(app.join("w")).unwrap();
    std::fs::write(app.join("spin.toml"), RECORDS_WORKDIR).unwrap();
    let cases: [(&Path, PathBuf); 4] = [
        (&app, PathBuf::from("spin.toml")),
        (&app, PathBuf::from("./spin.toml")),
        (&root, PathBuf::from("sub/dir/spin.toml")),
        (&root, app.join("spin.toml")),
    ];
    for (cwd, manifest) in &cases {
        assert_eq!(build_ran_in(cwd, manifest), app, "{manifest:?} in {cwd:?}");
    }
    // `workdir` is relative to the manifest's directory, as in `spin build`.
    let with_workdir = RECORDS_WORKDIR.replace("command = ", "workdir = \"w\"\ncommand = ");
    std::fs::write(app.join("spin.toml"), with_workdir).unwrap();
    for (cwd, manifest) in &cases {
        assert_eq!(build_ran_in(cwd, manifest), app.join("w"), "{manifest:?} in {cwd:?} with workdir");
    }
}

/// The README's first command, as a newcomer runs it: in the repository root, with the default (relative)
/// manifest, so the build commands and the components' `source` resolve against an empty parent path.
#[cfg(unix)]
#[test]
fn up_as_the_readme_runs_it_serves_prints_url_and_token_and_exits_zero_on_sigterm() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let data_dir = format!("target/cli-readme-data-{}", std::process::id());
    let _ = std::fs::remove_dir_all(repo.join(&data_dir));
    let mut child = conveyor()
        .current_dir(repo)
        .args(["up", "--build", "--listen", "127.0.0.1:0", "--data-dir", &data_dir])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().expect("`up` printed its URL before exiting").unwrap();
    let token = lines.next().unwrap().unwrap();
    assert!(url.starts_with("Serving http://127.0.0.1:"), "{url}");
    let token = token.strip_prefix("Admin token: ").expect("the admin token is printed");
    let stored = std::fs::read_to_string(repo.join(&data_dir).join("admin_token")).unwrap();
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
    let _ = std::fs::remove_dir_all(repo.join(&data_dir));
}

/// Runs `conveyor up` with a runtime-config file, on `manifest`, that must fail; returns stderr.
fn failing_up_with_runtime_config(name: &str, manifest: &str, runtime_config: &str) -> String {
    let dir = scratch(name);
    std::fs::write(dir.join("spin.toml"), manifest).unwrap();
    std::fs::write(dir.join("runtime.toml"), runtime_config).unwrap();
    let output = conveyor()
        .args(["up", "--listen", "127.0.0.1:0", "--runtime-config-file", "runtime.toml", "--manifest", "spin.toml"])
        .args(["--data-dir", "data"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{name}: must exit 1");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: one line: {stderr}");
    stderr
}

#[test]
fn bad_runtime_configs_and_undefined_labels_fail_with_one_line_naming_file_and_key() {
    let libsql = "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://x\"\ntoken = \"t\"";
    let stderr = failing_up_with_runtime_config("runtime-libsql", VALID, libsql);
    let expected = "runtime.toml: key `sqlite_database.default.type`: backend `libsql` is not supported by this host";
    assert!(stderr.contains(expected), "{stderr}");

    let granted = VALID.replace("[component.c]", "[component.c]\nkey_value_stores = [\"default\", \"cache\"]");
    let stderr = failing_up_with_runtime_config("runtime-undefined", &granted, "");
    assert!(stderr.contains("spin.toml: key `component.c.key_value_stores`: store `cache`"), "{stderr}");

    let defined = "[key_value_store.cache]\ntype = \"spin\"\npath = \"cache.db\"";
    let stderr = failing_up_with_runtime_config("runtime-defined", &granted, defined);
    assert!(stderr.contains("component `c`") && stderr.contains("c.wasm"), "gets as far as the wasm: {stderr}");
}

#[cfg(unix)]
#[test]
fn up_with_a_runtime_config_keeps_the_database_and_store_where_it_says() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = scratch("runtime-config");
    let database = dir.join("elsewhere/app.db");
    let runtime_config = format!(
        "[sqlite_database.default]\ntype = \"spin\"\npath = {database:?}\n\
         [key_value_store.default]\ntype = \"spin\"\npath = \"kv/store.db\"\n"
    );
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("config/runtime.toml"), runtime_config).unwrap();
    let mut child = conveyor()
        .current_dir(&dir)
        .args(["up", "--build", "--listen", "127.0.0.1:0", "--data-dir", "data"])
        .args(["--runtime-config-file", "config/runtime.toml", "--manifest"])
        .arg(repo.join("spin.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let addr = url.strip_prefix("Serving http://").expect("the host serves").to_string();

    let response = raw_get(&addr, "/api/v1/health");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""database":"up""#), "{response}");

    assert!(database.exists(), "the database is where the runtime config puts it");
    assert!(dir.join("config/kv/store.db").exists(), "a relative store path is relative to the runtime config");
    assert!(!dir.join("data/sqlite_db.db").exists() && !dir.join("data/sqlite_key_value.db").exists());

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "exits 0 on SIGTERM");
}

/// A supervisor may close the host's standard output once it has read the URL; the host must go on serving
/// and still stop cleanly. Standard output here is a pipe whose reading end is already closed, so every write
/// to it fails with a broken pipe.
#[cfg(unix)]
#[test]
fn up_with_an_unwritable_stdout_serves_and_exits_zero_on_sigterm() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = scratch("unwritable-stdout");
    let (reader, unwritable) = std::io::pipe().unwrap();
    drop(reader);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = conveyor()
        .current_dir(&dir)
        .args(["up", "--build", "--listen", &addr, "--data-dir", "data", "--manifest"])
        .arg(repo.join("spin.toml"))
        .stdout(unwritable)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the host exited before serving");
        assert!(std::time::Instant::now() < deadline, "the host never served");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(dir.join("data/admin_token").exists(), "the first start wrote the admin token it could not print");

    let response = raw_get(&addr, "/api/v1/health");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "exits 0 on SIGTERM");
}

/// The whole raw HTTP/1.1 response to `GET path` from `addr`.
fn raw_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
