//! `GET /api/jobs/events`: Server-Sent Events of the caller's jobs (`job_created`, `job_updated`,
//! `job_deleted`), read from the rows the database's triggers write. A stream starts after the newest event
//! (or after the client's `Last-Event-ID`), polls every 500 ms, sends a keepalive comment after 10 s of
//! silence, and ends within `event_stream_seconds` (25 s at most), after which the client reconnects with
//! its `Last-Event-ID` and misses nothing.

use crate::caller;
use conveyor_core::compat::projectw::events::{self as sse, KEEPALIVE_LINE, Next, POLL, Pacing};
use conveyor_core::http::{BodySource, ResponseWriter};
use conveyor_core::projectw::events;
use conveyor_core::{ApiError, Ctx, Response};
use std::time::Instant;

/// The most events one poll reads (a backlog is sent in several writes without waiting between them).
const BATCH: i64 = 200;

/// `GET /api/jobs/events` → `text/event-stream`, for a signed-in user (401/403 as the other job routes).
pub fn events(ctx: &Ctx, _: &mut dyn BodySource, out: &mut dyn ResponseWriter) -> Result<Option<Response>, ApiError> {
    let owner = match caller::user(ctx) {
        Ok(owner) => owner,
        Err(refusal) => return Ok(Some(refusal.response())),
    };
    let pacing = Pacing { length: sse::stream_length(ctx.variable("event_stream_seconds").as_deref()) };
    let db = ctx.db()?;
    let mut after = events::start(db, sse::last_event_id(ctx.request.header("last-event-id")))?;
    let began = Instant::now();
    out.head(&sse::head())?;
    out.write(sse::retry().as_bytes())?;
    let mut last_write = Instant::now();
    loop {
        let batch = events::since(db, owner, after, BATCH)?;
        if let Some(last) = batch.last() {
            after = last.id;
            out.write(batch.iter().map(sse::message).collect::<String>().as_bytes())?;
            last_write = Instant::now();
        }
        match pacing.next(began.elapsed(), last_write.elapsed()) {
            Next::End => return Ok(None),
            // More may be waiting: read on at once.
            _ if batch.len() as i64 == BATCH => continue,
            Next::Keepalive => {
                out.write(KEEPALIVE_LINE.as_bytes())?;
                last_write = Instant::now();
            }
            Next::Wait => {}
        }
        // Sleeping is a wait on wasi's monotonic clock: the host runs other requests meanwhile.
        std::thread::sleep(POLL);
    }
}
