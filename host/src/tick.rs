//! `[[application.tool.conveyor.tick]]`: the host POSTs to a route every `every_seconds`, as an external cron
//! does where the application runs on Spin. The request takes the path of one that came over HTTP
//! (`Runtime::handle`: same router, component, limits and Spin headers), from the host itself: no
//! credentials, client address 127.0.0.1, no `Origin` or `Sec-Fetch-Site`.

use crate::manifest::Tick;
use crate::runtime::Runtime;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Where a tick's request comes from: the host itself.
const FROM: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// The most of a failed answer's body that is logged.
const LOGGED_BODY: usize = 200;

/// A host's tick tasks, one per tick.
pub struct Ticks {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Ticks {
    /// Starts a task per tick; `host` is the address the host serves on (the requests' `Host`).
    pub fn start(runtime: &Arc<Runtime>, ticks: &[Tick], host: SocketAddr) -> Ticks {
        let (stop, stopped) = watch::channel(false);
        let tasks =
            ticks.iter().map(|tick| tokio::spawn(run(runtime.clone(), tick.clone(), host, stopped.clone()))).collect();
        Ticks { stop, tasks }
    }

    /// Fires no more ticks, and waits for the requests in flight (each ends within the request timeout).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Calls the tick's route on every beat, one call at a time, until `stopped` (or its sender is dropped).
async fn run(runtime: Arc<Runtime>, tick: Tick, host: SocketAddr, mut stopped: watch::Receiver<bool>) {
    let period = tick.period();
    let mut beat = Instant::now() + period;
    let mut streak = Streak::default();
    loop {
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stopped| *stopped) => return,
            () = tokio::time::sleep_until(beat) => {}
        }
        let outcome = call(&runtime, &tick.route, host).await;
        if let Some(line) = streak.record(outcome) {
            eprintln!("conveyor: tick POST {}: {line}", tick.route);
        }
        // Beats that passed while the call ran are skipped, so calls never pile up behind a slow route.
        let now = Instant::now();
        while beat <= now {
            beat += period;
        }
    }
}

/// Sends `POST route` with an empty body as a client of this host would, and reads the whole answer.
async fn call(runtime: &Runtime, route: &str, host: SocketAddr) -> Result<(), String> {
    let request = http::Request::post(route)
        .header(http::header::HOST, host.to_string())
        .header(http::header::CONTENT_LENGTH, "0")
        .header(http::header::USER_AGENT, "conveyor-tick")
        .body(Full::new(Bytes::new()))
        .map_err(|error| format!("cannot make the request: {error}"))?;
    let response = runtime.handle(request, FROM).await;
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => return Err(format!("answered {status}, then its body failed: {error}")),
    };
    if status.is_success() { Ok(()) } else { Err(format!("answered {status}: {}", excerpt(&body))) }
}

/// The start of a body, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(LOGGED_BODY) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

/// A run of failed calls: only its first failure is logged (not one line a second), and its end.
#[derive(Debug, Default)]
struct Streak {
    failures: u64,
}

impl Streak {
    /// The line to log for this call's outcome, if any.
    fn record(&mut self, outcome: Result<(), String>) -> Option<String> {
        match outcome {
            Ok(()) if self.failures == 0 => None,
            Ok(()) => {
                let failures = std::mem::take(&mut self.failures);
                Some(format!("succeeds again after {failures} failed call(s)"))
            }
            Err(error) => {
                self.failures += 1;
                (self.failures == 1).then(|| format!("{error} (not logged again until a call succeeds)"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_streak_is_logged_once_and_its_end_once() {
        let mut streak = Streak::default();
        assert_eq!(streak.record(Ok(())), None);
        let first = streak.record(Err("answered 500 Internal Server Error: boom".into())).unwrap();
        assert!(first.starts_with("answered 500 Internal Server Error: boom"), "{first}");
        assert_eq!(streak.record(Err("answered 500 Internal Server Error: boom".into())), None);
        assert_eq!(streak.record(Err("answered 504 Gateway Timeout: slow".into())), None);
        assert_eq!(streak.record(Ok(())).unwrap(), "succeeds again after 3 failed call(s)");
        assert_eq!(streak.record(Ok(())), None);
        assert!(streak.record(Err("answered 404 Not Found".into())).is_some(), "a new streak is logged");
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt(b"{\"detail\":\n  \"x\"}"), "{\"detail\": \"x\"}");
        let long = excerpt("é".repeat(500).as_bytes());
        assert_eq!(long.chars().count(), LOGGED_BODY + 1);
        assert!(long.ends_with('…'));
    }
}
