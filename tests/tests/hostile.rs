//! Hostile clients against the real host (the fixture application), over raw TCP: request heads dribbled
//! byte by byte, oversized heads, request bodies that never end, idle connections by the hundred. Each
//! attack meets its limit (docs/limits.md) while a prober, a new client every few milliseconds, keeps being
//! answered; the prober's latencies are printed (`--nocapture`) next to an undisturbed baseline.

use conveyor_tests::our_host_only;
use conveyor_tests::{ChildHost, TempDir, TestHost, fixture_manifest};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

/// What the prober asks the fixture for: a request through a guest.
const PROBE: &str = "/fixture/echo";

/// What the prober asks the application for (the measurement by hand): a request through a guest and the
/// database.
const APP_PROBE: &str = "/api/v1/health";

/// The slowest answer the prober accepts while an attack runs (undisturbed, it is a few milliseconds; the
/// margin is for a loaded 2-core CI machine, not for the attack).
const SLOWEST_PROBE: Duration = Duration::from_secs(1);

async fn fixture(configure: impl FnOnce(&mut conveyor::HostOptions)) -> TestHost {
    TestHost::start_with(fixture_manifest(), configure).await
}

/// `GET path` on a new connection: its status and how long the answer took, connecting included.
async fn probe(addr: SocketAddr, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("the prober connects");
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("the prober writes");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    (status(&answer), started.elapsed())
}

/// The status code of a raw HTTP response (0 if there is none).
fn status(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    text.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)?.parse().ok()).unwrap_or(0)
}

/// Probes every 20 ms, in the background, until [`Prober::finish`].
struct Prober {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Duration>>,
}

impl Prober {
    fn start(addr: SocketAddr, path: &'static str) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let (status, latency) = probe(addr, path).await;
                    assert_eq!(status, 200, "a probe during the attack was not answered");
                    latencies.push(latency);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                latencies
            }
        });
        Prober { stop, task }
    }

    /// Stops probing; checks that every probe was answered in time and prints their latencies.
    async fn finish(self, attack: &str, baseline: &[Duration]) {
        self.stop.store(true, Ordering::SeqCst);
        let latencies = self.task.await.expect("the prober ran");
        assert!(latencies.len() >= 5, "{attack}: only {} probes", latencies.len());
        println!("{attack}: baseline {} / under attack {}", summary(baseline), summary(&latencies));
        let slowest = latencies.iter().max().copied().unwrap_or_default();
        assert!(slowest < SLOWEST_PROBE, "{attack}: a probe took {slowest:?}");
    }
}

/// The prober's latencies with no attack running.
async fn baseline(addr: SocketAddr, path: &str) -> Vec<Duration> {
    let mut latencies = Vec::new();
    for _ in 0..30 {
        let (status, latency) = probe(addr, path).await;
        assert_eq!(status, 200);
        latencies.push(latency);
    }
    latencies
}

/// `p50 … p99 … max …` of `latencies`.
fn summary(latencies: &[Duration]) -> String {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    format!("n={} p50={:?} p99={:?} max={:?}", sorted.len(), at(0.5), at(0.99), at(1.0))
}

/// Whether the host closes `stream` (end of stream or reset, after any answer) within `wait`; what it sent.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), wait: Duration) -> (bool, Vec<u8>) {
    closed_by(stream, tokio::time::Instant::now() + wait).await
}

/// [`closed_within`] by `deadline` (a stream already closed shows it even past the deadline).
async fn closed_by(stream: &mut (impl AsyncRead + Unpin), deadline: tokio::time::Instant) -> (bool, Vec<u8>) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return (false, received),
            Ok(Ok(0)) | Ok(Err(_)) => return (true, received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Sends `head` whole on a new connection and returns the answer's status once the host has closed it.
async fn send_head(addr: SocketAddr, head: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(head.as_bytes()).await;
    let (closed, answer) = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(closed, "the host kept the connection");
    status(&answer)
}

/// A request head with `fields` header fields (Host and Connection included) and one of them `padding`
/// bytes long.
fn head_with(fields: usize, padding: usize) -> String {
    let mut head =
        format!("GET {PROBE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Padding: {}\r\n", "p".repeat(padding));
    for n in 3..fields {
        head.push_str(&format!("X-Field-{n}: {n}\r\n"));
    }
    head + "\r\n"
}

#[tokio::test(flavor = "multi_thread")]
async fn heads_dribbled_byte_by_byte_are_cut_at_the_header_timeout_while_others_are_answered() {
    our_host_only!("about our host's connection limits");
    let app = fixture(|o| o.connections.header_timeout = Duration::from_secs(1)).await;
    let addr = app.ours().addr;
    let baseline = baseline(addr, PROBE).await;

    // A head completed within the timeout, however slowly, is answered.
    let mut patient = TcpStream::connect(addr).await.unwrap();
    for piece in [format!("GET {PROBE} HTTP/1.1\r\n"), "Host: x\r\n".into(), "Connection: close\r\n\r\n".into()] {
        patient.write_all(piece.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, answer) = closed_within(&mut patient, Duration::from_secs(5)).await;
    assert_eq!(status(&answer), 200, "{}", String::from_utf8_lossy(&answer));

    let prober = Prober::start(addr, PROBE);
    let started = Instant::now();
    let slow_head = format!("GET {PROBE} HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n", "s".repeat(1000));
    let dribblers: Vec<_> = (0..200)
        .map(|_| {
            let slow_head = slow_head.clone();
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                for byte in slow_head.as_bytes() {
                    if stream.write_all(&[*byte]).await.is_err() {
                        return true; // cut
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                false // the whole head went through
            })
        })
        .collect();
    for dribbler in dribblers {
        assert!(dribbler.await.unwrap(), "a head dribbled over a minute was not cut");
    }
    let cut_after = started.elapsed();
    prober.finish("200 heads dribbled byte by byte", &baseline).await;
    println!("the 200 dribbled heads were all cut after {cut_after:?}");
    assert!(cut_after < Duration::from_secs(5), "the dribbled heads were cut only after {cut_after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_at_the_header_timeout() {
    our_host_only!("about our host's connection limits");
    let app = fixture(|o| o.connections.header_timeout = Duration::from_secs(1)).await;
    let mut stream = TcpStream::connect(app.ours().addr).await.unwrap();
    stream.write_all(format!("GET {PROBE} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).await.unwrap();
    assert_eq!(status(&buffer[..n]), 200);
    let idle_since = Instant::now();
    let (closed, _) = closed_within(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "an idle keep-alive connection stayed open");
    let idle = idle_since.elapsed();
    assert!(idle >= Duration::from_millis(900), "closed after only {idle:?} idle");

    // A connection that never sends anything is closed too.
    let mut silent = TcpStream::connect(app.ours().addr).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await.0, "a silent connection stayed open");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_request_heads_are_431_under_the_defaults_and_the_configured_limits() {
    our_host_only!("about our host's connection limits");
    let app = fixture(|_| {}).await;
    let addr = app.ours().addr;
    // Defaults: 32 KiB of head, 100 fields.
    assert_eq!(send_head(addr, &head_with(3, 30 << 10)).await, 200);
    assert_eq!(send_head(addr, &head_with(3, 40 << 10)).await, 431);
    assert_eq!(send_head(addr, &head_with(3, 1 << 20)).await, 431);
    assert_eq!(send_head(addr, &head_with(100, 10)).await, 200);
    assert_eq!(send_head(addr, &head_with(101, 10)).await, 431);

    let app = fixture(|o| {
        o.connections.max_header_bytes = 2048;
        o.connections.max_headers = 10;
    })
    .await;
    let addr = app.ours().addr;
    assert_eq!(send_head(addr, &head_with(3, 1500)).await, 200);
    assert_eq!(send_head(addr, &head_with(3, 2100)).await, 431);
    assert_eq!(send_head(addr, &head_with(10, 10)).await, 200);
    assert_eq!(send_head(addr, &head_with(11, 10)).await, 431);
    // The host goes on answering.
    assert_eq!(probe(addr, PROBE).await.0, 200);
}

/// Opens a connection and starts a chunked request body that never ends (a chunk every 50 ms); returns
/// the connection's read half and the task that writes the body.
async fn endless_body(addr: SocketAddr, path: &str) -> (OwnedReadHalf, tokio::task::JoinHandle<()>) {
    let (reader, mut writer) = TcpStream::connect(addr).await.unwrap().into_split();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    writer.write_all(head.as_bytes()).await.unwrap();
    let task = tokio::spawn(async move {
        while writer.write_all(b"10\r\n0123456789abcdef\r\n").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (reader, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn request_bodies_that_never_end_are_cut_at_the_request_timeout_while_others_are_answered() {
    our_host_only!("about our host's connection limits");
    let app = fixture(|o| o.limits.request_timeout = Duration::from_secs(1)).await;
    let addr = app.ours().addr;
    let baseline = baseline(addr, PROBE).await;
    let prober = Prober::start(addr, PROBE);
    let started = Instant::now();
    // A guest reading the body (cut at its request timeout), and no guest at all (an unknown route,
    // answered at once, the rest of the body not read).
    let mut attackers = Vec::new();
    for n in 0..20 {
        let (path, expected) = if n % 2 == 0 { ("/fixture/count", 504) } else { ("/nowhere", 404) };
        attackers.push((path, expected, endless_body(addr, path).await));
    }
    for (path, expected, (mut reader, writer)) in attackers {
        let (closed, answer) = closed_within(&mut reader, Duration::from_secs(10)).await;
        assert!(closed, "{path}: the connection of a body that never ends stayed open");
        assert_eq!(status(&answer), expected, "{path}: {}", String::from_utf8_lossy(&answer));
        writer.abort();
    }
    let cut_after = started.elapsed();
    prober.finish("20 request bodies that never end", &baseline).await;
    println!("the 20 endless bodies were all cut after {cut_after:?}");
    assert!(cut_after < Duration::from_secs(5), "the endless bodies were cut only after {cut_after:?}");
}

/// Opens a connection and starts a request whose body declares `length` bytes and dribbles them a byte
/// every 100 ms; returns the connection's read half and the task that writes the body.
async fn dribbled_body(addr: SocketAddr, path: &str, length: usize) -> (OwnedReadHalf, tokio::task::JoinHandle<()>) {
    let (reader, mut writer) = TcpStream::connect(addr).await.unwrap().into_split();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
    writer.write_all(head.as_bytes()).await.unwrap();
    let task = tokio::spawn(async move {
        for _ in 0..length {
            if writer.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (reader, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_senders_cannot_hold_every_instance_slot() {
    our_host_only!("about our host's connection limits");
    // 8 instance slots; 3 s to send a request. 16 small bodies dribbled a byte at a time would each hold a
    // slot while their guest waited for the rest, and 8 endless chunked ones too: the prober would get none.
    let app = fixture(|o| {
        o.limits.max_instances = 8;
        o.limits.request_timeout = Duration::from_secs(3);
    })
    .await;
    let addr = app.ours().addr;
    let baseline = baseline(addr, PROBE).await;
    let mut attackers = Vec::new();
    for _ in 0..16 {
        attackers.push(("dribbled", 408, dribbled_body(addr, "/fixture/count", 1000).await));
    }
    for _ in 0..8 {
        attackers.push(("endless", 504, endless_body(addr, "/fixture/count").await));
    }
    let prober = Prober::start(addr, PROBE);
    tokio::time::sleep(Duration::from_secs(2)).await;
    prober.finish("16 dribbled bodies and 8 endless ones on 8 slots", &baseline).await;
    let mut answers = std::collections::BTreeMap::<(&str, u16), usize>::new();
    for (kind, expected, (mut reader, writer)) in attackers {
        let (closed, answer) = closed_within(&mut reader, Duration::from_secs(10)).await;
        assert!(closed, "{kind}: the connection stayed open past the request timeout");
        let status = status(&answer);
        // A small body never reaches a guest before it has arrived (408); an endless one either holds one of
        // the half of the slots that bodies still arriving may hold (504) or waits for one (503, or 504 when
        // one frees just before its own deadline).
        assert!(
            status == expected || (kind == "endless" && status == 503),
            "{kind}: {}",
            String::from_utf8_lossy(&answer)
        );
        *answers.entry((kind, status)).or_default() += 1;
        writer.abort();
    }
    println!("the slow senders' answers: {answers:?}");
}

/// Opens `count` connections that send nothing.
async fn idle_connections(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(TcpStream::connect(addr).await.expect("an idle connection is accepted"));
    }
    idle
}

/// How many of `connections` the host has not closed (given `wait` in all to show it).
async fn still_open(connections: &mut [TcpStream], wait: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + wait;
    let mut open = 0;
    for stream in connections {
        if !closed_by(stream, deadline).await.0 {
            open += 1;
        }
    }
    open
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_beyond_the_cap_make_way_for_new_clients() {
    our_host_only!("about our host's connection limits");
    let cap = 100;
    let app = fixture(|o| {
        o.connections.max_connections = cap;
        o.connections.header_timeout = Duration::from_secs(60);
    })
    .await;
    let addr = app.ours().addr;
    let baseline = baseline(addr, PROBE).await;
    let prober = Prober::start(addr, PROBE);
    let mut idle = idle_connections(addr, 3 * cap).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    prober.finish(&format!("{} idle connections, cap {cap}", 3 * cap), &baseline).await;
    let open = still_open(&mut idle, Duration::from_millis(200)).await;
    assert!(open <= cap, "{open} idle connections open, over the cap of {cap}");
    assert!(open >= cap / 2, "only {open} idle connections open: the host closed more than it needed");
}

/// A connection left idle after one request answered (a keep-alive connection its client keeps).
async fn kept_alive(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("a keep-alive connection is accepted");
    let head = format!("GET {APP_PROBE} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("the request is sent");
    let mut answer = [0u8; 4096];
    let n = stream.read(&mut answer).await.expect("the answer arrives");
    assert_eq!(status(&answer[..n]), 200);
    stream
}

/// By hand: `CONVEYOR_HOSTILE_IDLE=10000 cargo test --test hostile -- --ignored --nocapture`. Idle
/// connections against a host in another process (the two ends of 10,000 connections would not fit under
/// one process's open-files limit) under the default limits, or against `CONVEYOR_HOSTILE_URL`'s host
/// (e.g. `conveyor up --max-connections 12000`); prints the prober's latencies and how many stayed open.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn measure_many_idle_connections() {
    our_host_only!("about our host's connection limits");
    let count = std::env::var("CONVEYOR_HOSTILE_IDLE").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let data = TempDir::new("hostile-child");
    conveyor_tests::ensure_built();
    let (_child, url) = match std::env::var("CONVEYOR_HOSTILE_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let child = ChildHost::spawn(data.path());
            let url = child.url.clone();
            (Some(child), url)
        }
    };
    let addr: SocketAddr = url.trim_start_matches("http://").parse().expect("host:port");
    let baseline = baseline(addr, APP_PROBE).await;
    let prober = Prober::start(addr, APP_PROBE);
    let started = Instant::now();
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(kept_alive(addr).await);
    }
    println!("{count} idle keep-alive connections opened in {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    prober.finish(&format!("{count} idle keep-alive connections"), &baseline).await;
    let open = still_open(&mut idle, Duration::from_millis(100)).await;
    println!("{open} of the {count} idle connections still open");
}

#[tokio::test]
#[ignore]
async fn child_host_entry() {
    conveyor_tests::child_host_main().await;
}
