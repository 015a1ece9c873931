//! The peer: beanstalkd (a C in-memory queue with a write-ahead binlog) driven by the same load generator,
//! reserve → delete with the same worker count, over its text protocol. Skipped with a note when the
//! `beanstalkd` binary is not installed.

use crate::scenarios::{Holders, Plan, drive};
use crate::stats::{Summary, rss_mib};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// One protocol connection.
struct Conn {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Conn {
    async fn open(port: u16) -> Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream: BufReader::new(stream), line: String::new() })
    }

    /// Reads one reply line (without `\r\n`).
    async fn reply(&mut self) -> Result<&str> {
        self.line.clear();
        if self.stream.read_line(&mut self.line).await? == 0 {
            bail!("beanstalkd closed the connection");
        }
        Ok(self.line.trim_end())
    }

    /// `reserve-with-timeout`: answers the job id (the body is read and dropped), None on timeout.
    async fn reserve(&mut self) -> Result<Option<u64>> {
        self.stream.get_mut().write_all(b"reserve-with-timeout 1\r\n").await?;
        let reply = self.reply().await?.to_string();
        let mut words = reply.split(' ');
        match words.next() {
            Some("RESERVED") => {
                let id: u64 = words.next().context("job id")?.parse()?;
                let bytes: usize = words.next().context("job size")?.parse()?;
                let mut body = vec![0u8; bytes + 2];
                self.stream.read_exact(&mut body).await?;
                Ok(Some(id))
            }
            Some("TIMED_OUT") => Ok(None),
            _ => bail!("reserve answered {reply}"),
        }
    }

    async fn delete(&mut self, id: u64) -> Result<()> {
        self.stream.get_mut().write_all(format!("delete {id}\r\n").as_bytes()).await?;
        match self.reply().await? {
            "DELETED" => Ok(()),
            other => bail!("delete answered {other}"),
        }
    }
}

/// A beanstalkd process on a free loopback port with its binlog in `dir`; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("beanstalkd")
        .args(["-l", "127.0.0.1", "-p", &port.to_string(), "-b"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start beanstalkd")?;
    Ok(Server { child, port })
}

/// Whether the `beanstalkd` binary is installed.
pub fn installed() -> bool {
    Command::new("beanstalkd").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Preloads `jobs` jobs (pipelined puts), then runs `workers` loops of reserve → delete.
pub async fn run(dir: &Path, workers: usize, jobs: usize, plan: Plan) -> Result<Summary> {
    let server = start(dir)?;
    let port = server.port;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut loader = loop {
        match Conn::open(port).await {
            Ok(conn) => break conn,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(error) => return Err(error),
        }
    };
    for chunk in 0..jobs.div_ceil(1000) {
        let n = (jobs - chunk * 1000).min(1000);
        let mut batch = Vec::new();
        for i in 0..n {
            let body = format!("{{\"recipe\":\"peer-{chunk}-{i}\"}}");
            batch.extend_from_slice(format!("put 0 0 3600 {}\r\n{body}\r\n", body.len()).as_bytes());
        }
        loader.stream.get_mut().write_all(&batch).await?;
        for _ in 0..n {
            let reply = loader.reply().await?;
            if !reply.starts_with("INSERTED") {
                bail!("put answered {reply}");
            }
        }
    }
    let mut conns = Vec::new();
    for _ in 0..workers {
        conns.push(Arc::new(Mutex::new(Conn::open(port).await?)));
    }
    let conns = Arc::new(conns);
    let holders = Arc::new(Holders::default());
    let check = holders.clone();
    let recorder = drive(plan, workers, move |index| {
        let (conns, holders) = (conns.clone(), holders.clone());
        async move {
            let mut conn = conns[index].lock().await;
            let id = match conn.reserve().await {
                Ok(Some(id)) => id,
                Ok(None) => {
                    eprintln!("bench: beanstalkd reserve timed out");
                    return Err(0);
                }
                Err(error) => {
                    eprintln!("bench: beanstalkd reserve: {error}");
                    return Err(0);
                }
            };
            holders.take(id as i64, index);
            holders.give_back(id as i64);
            if let Err(error) = conn.delete(id).await {
                eprintln!("bench: beanstalkd delete: {error}");
                return Err(0);
            }
            Ok(1)
        }
    })
    .await;
    drop(server);
    anyhow::ensure!(check.violations() == 0, "beanstalkd handed a job to two workers at once");
    let name = format!("peer: beanstalkd reserve+delete ({workers})");
    Ok(recorder.summary(&name, "cycles/s", plan.duration.as_secs_f64(), rss_mib()))
}
