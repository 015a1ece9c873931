//! Request and response bodies through the real host, on the fixture component (tests/fixture/bodies.toml),
//! over raw HTTP/1.1 so that each test decides when each byte is sent: a request body reaches the guest
//! while the client is still sending it and the guest's answer reaches the client while the guest is still
//! writing it; each component's body limit comes from its `[component.<id>.tool.conveyor]` table (a
//! variable or a literal) or the host's; a body over its limit is 413 before the guest answers and a cut
//! response after; an instance streaming to a slow reader keeps its slot until it has finished; a response
//! the guest stops writing is cut, never ended as if complete.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Conn, Host, WAIT};

const FIXTURE: &str = "bodies";

fn manifest() -> PathBuf {
    support::manifest(FIXTURE)
}

fn build_fixture() {
    support::build_fixture(FIXTURE);
}

fn scratch(name: &str) -> PathBuf {
    support::scratch(FIXTURE, name)
}

#[test]
fn request_bodies_reach_the_guest_and_answers_reach_the_client_chunk_by_chunk() {
    let host = Host::start(FIXTURE, "stream", |_| {});
    let mut conn = Conn::post_chunked(host.addr, "/fixture/stream-echo");
    // The rest of the body is sent only once the guest has echoed the first chunk: a host that read the
    // whole body before calling the guest, or the guest's whole answer before sending it, would wait forever.
    conn.chunk(b"first-chunk;");
    conn.wait_for("HTTP/1.1 200");
    conn.wait_for("first-chunk;");
    conn.chunk(b"second-chunk;");
    conn.wait_for("second-chunk;");
    conn.end();
    conn.wait_for("\r\n0\r\n\r\n");

    // The same for a megabyte, in 64 KiB chunks, each sent once the previous one has come back.
    let mut conn = Conn::post_chunked(host.addr, "/fixture/stream-echo");
    for n in 0..16 {
        let marker = format!("<{n:02}>");
        let mut chunk = vec![b'.'; 64 << 10];
        chunk[..4].copy_from_slice(marker.as_bytes());
        conn.chunk(&chunk);
        conn.wait_for(&marker);
    }
    conn.end();
    conn.wait_for("\r\n0\r\n\r\n");
}

#[test]
fn each_component_has_its_own_body_limit_from_its_tool_table_or_the_host() {
    let host = Host::start(FIXTURE, "limits", |o| o.limits.max_body = 1024);
    // `fixture` sets none: the host's; `uploads` takes `{{ upload_limit }}` (4096 by default); `small` 100.
    for (prefix, limit) in [("", 1024), ("/uploads", 4096), ("/small", 100)] {
        let path = format!("{prefix}/fixture/count");
        let (status, text) = host.exchange("POST", &path, &vec![b'x'; limit]);
        assert_eq!(status, 200, "{path}: {text}");
        assert!(text.contains(&format!("{limit} bytes")), "{path}: {text}");

        // Over the limit by its declared length: answered without the body being read (none is sent).
        let mut conn = host.connect();
        let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", limit + 1);
        conn.send(head.as_bytes());
        conn.wait_for("payload_too_large");
        assert_eq!(conn.status(), 413, "{path}");
        assert!(conn.text().contains(&format!("request body is larger than {limit} bytes")), "{}", conn.text());
    }

    // The variable's value comes from the variables provider (as `SPIN_VARIABLE_UPLOAD_LIMIT` would set it).
    let host = Host::start(FIXTURE, "limits-variable", |o| {
        o.limits.max_body = 1024;
        o.variables.insert("upload_limit".into(), "10000".into());
    });
    let (status, text) = host.exchange("POST", "/uploads/fixture/count", &[b'x'; 10_000]);
    assert_eq!((status, text.contains("10000 bytes")), (200, true), "{text}");
    assert_eq!(host.exchange("POST", "/uploads/fixture/count", &[b'x'; 10_001]).0, 413);
    assert_eq!(host.exchange("POST", "/fixture/count", &[b'x'; 1025]).0, 413, "the others keep the host's");
}

#[test]
fn a_streamed_body_over_its_limit_is_413_before_the_guest_answers_and_cuts_the_answer_after() {
    let host = Host::start(FIXTURE, "over", |_| {});
    // `/count` answers once it has read the whole body: the limit (100) is passed first.
    let mut conn = Conn::post_chunked(host.addr, "/small/fixture/count");
    conn.chunk(&[b'a'; 60]);
    conn.chunk(&[b'b'; 60]);
    conn.wait_for("payload_too_large");
    assert_eq!(conn.status(), 413, "{}", conn.text());

    // `/stream-echo` has answered 200 before the limit is passed: its answer is cut, never completed.
    let mut conn = Conn::post_chunked(host.addr, "/small/fixture/stream-echo");
    conn.chunk(&[b'a'; 60]);
    conn.wait_for("HTTP/1.1 200");
    conn.wait_for(&"a".repeat(60));
    conn.chunk(&[b'b'; 60]);
    assert!(conn.read_to_end(), "the host closes the connection");
    let text = conn.text();
    assert!(!text.contains('b') && !text.ends_with("0\r\n\r\n"), "the answer is cut: {text:?}");
}

#[test]
fn an_instance_streaming_to_a_slow_reader_keeps_its_slot_until_it_has_finished() {
    let host = Host::start(FIXTURE, "slots", |o| o.limits.max_instances = 2);
    // Two guests answer at once, then stream a gigabyte each to clients that read only the head.
    let slow: Vec<Conn> = (0..2)
        .map(|_| {
            let mut conn = host.connect();
            conn.send(b"GET /fixture/stream-out?bytes=1073741824 HTTP/1.1\r\nHost: x\r\n\r\n");
            conn.wait_for("HTTP/1.1 200");
            conn
        })
        .collect();

    // Both slots are taken until those guests finish: a third request waits (it is neither served nor
    // refused for want of an instance).
    let mut third = host.connect();
    third.send(b"GET /fixture/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    third.stream.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    assert!(!third.read_some(), "answered while both instances were still streaming: {}", third.text());

    // One slow client goes away: its guest's next write fails, it returns, and its slot serves the third.
    let started = Instant::now();
    drop(slow.into_iter().next());
    third.stream.set_read_timeout(Some(WAIT)).unwrap();
    assert!(third.read_to_end());
    assert_eq!(third.status(), 200, "{}", third.text());
    assert!(third.text().contains("0 bytes"), "{}", third.text());
    assert!(started.elapsed() < WAIT);
}

#[test]
fn a_response_the_guest_stops_writing_at_its_request_timeout_is_cut_not_ended() {
    let host = Host::start(FIXTURE, "stopped", |o| o.limits.request_timeout = Duration::from_secs(2));
    // The guest answers at once, then writes until the unread connection's buffers are full, and waits.
    let mut conn = host.connect();
    conn.send(b"GET /fixture/stream-out?bytes=1073741824 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    conn.wait_for("HTTP/1.1 200");
    std::thread::sleep(Duration::from_millis(2500));
    // Its request timeout has passed and the guest is gone: what it wrote arrives, then the connection
    // closes without the last chunk, so the client cannot take the answer for complete.
    assert!(conn.read_to_end(), "the host closes the connection");
    let text = conn.text();
    assert!(text.len() < 1 << 30 && !text.ends_with("0\r\n\r\n"), "cut after {} bytes", text.len());
}

#[test]
fn a_body_limit_that_is_not_a_number_is_a_start_up_error_naming_the_component() {
    let error = Host::try_start(FIXTURE, "bad-limit", |o| {
        o.variables.insert("upload_limit".into(), "1GiB".into());
    })
    .err()
    .expect("the host refuses to start");
    let error = format!("{error:#}");
    assert!(error.contains("bodies.toml: component `uploads`"), "{error}");
    assert!(error.contains("key `component.uploads.tool.conveyor.max_request_body`"), "{error}");
    assert!(error.contains("`1GiB` is not a number of bytes") && error.contains("{{ upload_limit }}"), "{error}");

    // The same from the environment, through the binary: one line, exit 1.
    let data = scratch("bad-limit-binary");
    let output = Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(manifest())
        .arg("--data-dir")
        .arg(&data)
        .env("SPIN_VARIABLE_UPLOAD_LIMIT", "-5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("component `uploads`") && stderr.contains("`-5` is not a number of bytes"), "{stderr}");
    let _ = std::fs::remove_dir_all(&data);
}

/// VmHWM (peak resident memory), in KiB, of process `pid`.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/<pid>/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A measurement, not a check for CI: `cargo test -p conveyor --test bodies -- --ignored --nocapture`.
/// Streams 1 GiB to a guest that reads and discards it, through a `conveyor up` process, and prints that
/// process's peak RSS before and after.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "a measurement: uploads a gigabyte"]
fn measure_peak_rss_of_a_1_gib_upload() {
    build_fixture();
    let data = scratch("rss");
    let mut child = Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args(["up", "--listen", "127.0.0.1:0", "--max-request-body", "2147483648", "--request-timeout", "600"])
        .arg("--manifest")
        .arg(manifest())
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut serving = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut serving).unwrap();
    let addr: SocketAddr = serving.trim().strip_prefix("Serving http://").expect("the host serves").parse().unwrap();
    let mut warm = Conn::open(addr);
    warm.send(b"POST /fixture/count HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc");
    assert!(warm.read_to_end() && warm.text().contains("3 bytes"), "{}", warm.text());
    let before = peak_rss_kib(child.id());

    const SIZE: u64 = 1 << 30;
    let started = Instant::now();
    let mut conn = Conn::open(addr);
    conn.send(format!("POST /fixture/count HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes());
    let block = vec![b'x'; 256 << 10];
    for _ in 0..SIZE / block.len() as u64 {
        conn.send(&block);
    }
    conn.wait_for(&format!("{SIZE} bytes"));
    let elapsed = started.elapsed();
    let after = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
    println!(
        "1 GiB upload in {:.1} s: host peak RSS {} MiB before, {} MiB after",
        elapsed.as_secs_f64(),
        before / 1024,
        after / 1024
    );
    assert!(after < 256 * 1024, "a host that streams stays far below the body's size: {after} KiB");
}
