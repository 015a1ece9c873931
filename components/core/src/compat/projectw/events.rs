//! `/api/jobs/events` on the wire: Server-Sent Events as Project-W sends them (`event: <name>\ndata: <job
//! id>\n\n`), plus what makes a stream resumable and bounded: an `id:` per event (clients that ignore it are
//! unaffected), `retry:` so an `EventSource` reconnects promptly when the stream ends, and keepalive comments.
//! The pacing of a stream ([`Pacing`]) is pure, so its bounds are tested natively.

use crate::http::Response;
use crate::projectw::events::Event;
use std::time::Duration;

/// The content type, as Starlette's `StreamingResponse(media_type="text/event-stream")` sends it.
pub const CONTENT_TYPE: &str = "text/event-stream; charset=utf-8";

/// How soon a client reconnects after a stream ends.
pub const RETRY: Duration = Duration::from_secs(1);

/// How long a stream lasts when the variable `event_stream_seconds` does not say (and the most it may say):
/// below the host's request timeout (30 s on `conveyor up`), which would cut the stream otherwise.
pub const MAX_STREAM: Duration = Duration::from_secs(25);

/// How often a stream looks for new events.
pub const POLL: Duration = Duration::from_millis(500);

/// Silence after which a stream sends a keepalive comment (proxies keep the connection, and a stream whose
/// client went away finds out at the write).
pub const KEEPALIVE: Duration = Duration::from_secs(10);

/// The head of a stream.
pub fn head() -> Response {
    Response::raw(200, CONTENT_TYPE, Vec::new())
        .with_header("cache-control", "no-cache")
        .with_header("x-accel-buffering", "no")
}

/// The first thing a stream sends: the reconnection delay (no event is dispatched for it).
pub fn retry() -> String {
    format!("retry: {}\n\n", RETRY.as_millis())
}

/// One event: its id, Project-W's event name, and the job id as data.
pub fn message(event: &Event) -> String {
    format!("id: {}\nevent: {}\ndata: {}\n\n", event.id, event.kind.name(), event.job)
}

/// A comment line, which `EventSource` ignores.
pub const KEEPALIVE_LINE: &str = ": keepalive\n\n";

/// The id a reconnecting client resumes after (`Last-Event-ID`); anything but a whole number is none.
pub fn last_event_id(header: Option<&str>) -> Option<i64> {
    header?.trim().parse().ok()
}

/// A stream's length from the variable `event_stream_seconds`: whole seconds from 1 to [`MAX_STREAM`]'s;
/// unset or anything else is [`MAX_STREAM`].
pub fn stream_length(variable: Option<&str>) -> Duration {
    variable
        .and_then(|value| value.trim().parse::<u64>().ok())
        .filter(|seconds| (1..=MAX_STREAM.as_secs()).contains(seconds))
        .map_or(MAX_STREAM, Duration::from_secs)
}

/// What a stream does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait [`POLL`], then look for events again.
    Wait,
    /// Send [`KEEPALIVE_LINE`], then wait.
    Keepalive,
    /// End the stream (the client reconnects after [`RETRY`]).
    End,
}

/// When a stream of `length` sends keepalives and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    pub length: Duration,
}

impl Pacing {
    /// After looking for events, `elapsed` since the stream began and `silent` since it last sent anything:
    /// it ends when another wait would take it past its length, so it never runs longer.
    pub fn next(&self, elapsed: Duration, silent: Duration) -> Next {
        if elapsed + POLL > self.length {
            Next::End
        } else if silent >= KEEPALIVE {
            Next::Keepalive
        } else {
            Next::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projectw::events::Kind;

    #[test]
    fn messages_are_project_w_events_with_ids() {
        let event = Event { id: 41, job: 7, kind: Kind::Updated };
        assert_eq!(message(&event), "id: 41\nevent: job_updated\ndata: 7\n\n");
        let created = Event { id: 1, job: 12, kind: Kind::Created };
        let deleted = Event { id: 2, job: 12, kind: Kind::Deleted };
        assert_eq!(
            message(&created) + &message(&deleted),
            concat!("id: 1\nevent: job_created\ndata: 12\n\n", "id: 2\nevent: job_deleted\ndata: 12\n\n")
        );
        assert_eq!(retry(), "retry: 1000\n\n");
        assert!(KEEPALIVE_LINE.starts_with(':') && KEEPALIVE_LINE.ends_with("\n\n"));
        let head = head();
        assert_eq!(head.status, 200);
        assert!(head.headers.contains(&("content-type".into(), CONTENT_TYPE.into())), "{:?}", head.headers);
        assert!(head.headers.contains(&("cache-control".into(), "no-cache".into())));
    }

    #[test]
    fn last_event_ids_and_stream_lengths_are_read_strictly() {
        assert_eq!(last_event_id(Some(" 42 ")), Some(42));
        for bad in [None, Some(""), Some("abc"), Some("4.2"), Some("42x")] {
            assert_eq!(last_event_id(bad), None, "{bad:?}");
        }
        assert_eq!(stream_length(Some("3")), Duration::from_secs(3));
        for other in [None, Some(""), Some("0"), Some("26"), Some("-1"), Some("ten")] {
            assert_eq!(stream_length(other), MAX_STREAM, "{other:?}");
        }
    }

    /// Simulates a silent stream polling every [`POLL`]: keepalives every [`KEEPALIVE`] of silence, and
    /// the end before the length, never after.
    #[test]
    fn a_silent_stream_keeps_alive_and_ends_within_its_length() {
        for length in [Duration::from_secs(1), Duration::from_secs(3), MAX_STREAM] {
            let pacing = Pacing { length };
            let (mut elapsed, mut last_write, mut keepalives) = (Duration::ZERO, Duration::ZERO, Vec::new());
            loop {
                match pacing.next(elapsed, elapsed - last_write) {
                    Next::End => break,
                    Next::Keepalive => {
                        keepalives.push(elapsed);
                        last_write = elapsed;
                    }
                    Next::Wait => {}
                }
                elapsed += POLL;
            }
            assert!(elapsed <= length, "{length:?}: ended at {elapsed:?}");
            assert!(elapsed + POLL > length, "{length:?}: ended early at {elapsed:?}");
            let expected: Vec<Duration> = (1..).map(|n| KEEPALIVE * n).take_while(|at| *at + POLL <= length).collect();
            assert_eq!(keepalives, expected, "{length:?}");
        }
    }
}
