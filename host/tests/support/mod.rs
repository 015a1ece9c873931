//! What the host's integration tests share: a real host serving one of the fixture manifests
//! (`tests/fixture/<name>.toml`, all on the fixture component) on a tokio runtime of its own, and raw HTTP/1.1
//! connections to it, so that each test decides when each byte is sent and read.
#![allow(dead_code, reason = "each test binary uses a part")]

use conveyor::HostOptions;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a test waits for bytes that must come (a host that buffered would never send them).
pub const WAIT: Duration = Duration::from_secs(20);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent")
}

/// `tests/fixture/<fixture>.toml`.
pub fn manifest(fixture: &str) -> PathBuf {
    repo().join(format!("tests/fixture/{fixture}.toml"))
}

/// Builds the fixture component once per test binary (every fixture manifest builds the same one).
pub fn build_fixture(fixture: &str) {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let app = conveyor::manifest::App::load(&manifest(fixture)).map_err(|e| format!("{e:#}"))?;
        conveyor::build::build(&app).map_err(|e| format!("{e:#}"))
    });
    if let Err(error) = built {
        panic!("building the fixture failed: {error}");
    }
}

/// An empty directory for one test.
pub fn scratch(fixture: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{fixture}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A host serving a fixture manifest on a tokio runtime of its own; the test thread talks to it with
/// blocking sockets.
pub struct Host {
    runtime: Option<tokio::runtime::Runtime>,
    _host: conveyor::RunningHost,
    pub addr: SocketAddr,
    data: PathBuf,
}

impl Host {
    /// A host serving `tests/fixture/<fixture>.toml`, its data in a directory of its own for test `name`.
    pub fn start(fixture: &str, name: &str, configure: impl FnOnce(&mut HostOptions)) -> Host {
        Host::try_start(fixture, name, configure).expect("the host starts")
    }

    pub fn try_start(fixture: &str, name: &str, configure: impl FnOnce(&mut HostOptions)) -> anyhow::Result<Host> {
        build_fixture(fixture);
        let data = scratch(fixture, name);
        let mut options = HostOptions::new(manifest(fixture), &data);
        options.cache_dir = Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{fixture}-cache")));
        configure(&mut options);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let host = runtime.block_on(conveyor::start(options))?;
        Ok(Host { runtime: Some(runtime), addr: host.addr, _host: host, data })
    }

    pub fn connect(&self) -> Conn {
        Conn::open(self.addr)
    }

    /// `method path` with `body` (and its length), on a connection of its own: the status and the raw
    /// response.
    pub fn exchange(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut conn = self.connect();
        conn.send(format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n").as_bytes());
        conn.send(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        conn.send(body);
        assert!(conn.read_to_end(), "the host closes the connection after its answer");
        (conn.status(), conn.text())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// A raw HTTP/1.1 connection: what the test sends, and everything the host has sent so far.
pub struct Conn {
    pub stream: TcpStream,
    pub received: Vec<u8>,
    /// Where the next [`Conn::wait_for`] starts looking.
    seen: usize,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Conn { stream, received: Vec::new(), seen: 0 }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// A `POST path` whose body follows in chunks ([`Conn::chunk`], [`Conn::end`]).
    pub fn post_chunked(addr: SocketAddr, path: &str) -> Conn {
        let mut conn = Conn::open(addr);
        conn.send(format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes());
        conn
    }

    pub fn chunk(&mut self, data: &[u8]) {
        let mut frame = format!("{:x}\r\n", data.len()).into_bytes();
        frame.extend_from_slice(data);
        frame.extend_from_slice(b"\r\n");
        self.send(&frame);
    }

    pub fn end(&mut self) {
        self.send(b"0\r\n\r\n");
    }

    /// Reads once, waiting at most the read timeout: false when nothing more can come (closed, reset) or
    /// nothing came in time.
    pub fn read_some(&mut self) -> bool {
        let mut buffer = [0; 64 << 10];
        match self.stream.read(&mut buffer) {
            Ok(0) => false,
            Ok(n) => {
                self.received.extend_from_slice(&buffer[..n]);
                true
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => false,
        }
    }

    /// Reads until `needle` has arrived after what earlier calls found; fails if it does not come.
    pub fn wait_for(&mut self, needle: &str) {
        loop {
            let found = self.received[self.seen..].windows(needle.len()).position(|w| w == needle.as_bytes());
            if let Some(at) = found {
                self.seen += at + needle.len();
                return;
            }
            assert!(self.read_some(), "`{needle}` never came; received so far:\n{}", self.text());
        }
    }

    /// Reads until the host closes the connection (true), or nothing comes for the read timeout (false).
    pub fn read_to_end(&mut self) -> bool {
        loop {
            let mut buffer = [0; 64 << 10];
            match self.stream.read(&mut buffer) {
                Ok(0) => return true,
                Ok(n) => self.received.extend_from_slice(&buffer[..n]),
                Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
                Err(_) => return true,
            }
        }
    }

    pub fn status(&self) -> u16 {
        let text = self.text();
        let line = text.lines().next().unwrap_or("");
        line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {text}"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }
}
