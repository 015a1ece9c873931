//! `/api/runners/*`: the six calls of Project-W's runner, in the order it makes them.

use crate::caller;
use conveyor_core::clock;
use conveyor_core::compat::projectw::bodies;
use conveyor_core::compat::projectw::wire::{self, Refusal};
use conveyor_core::http::{BodySource, ResponseWriter};
use conveyor_core::projectw::runners;
use conveyor_core::{ApiError, Ctx, Response};

/// `POST /api/runners/register` → `{"id", "session_token"}`.
pub fn register(ctx: &Ctx) -> Result<Response, Refusal> {
    let runner = caller::runner(ctx)?;
    let info = bodies::register(&ctx.request.body)?;
    let registered = runners::register(ctx.db()?, ctx.kv()?.as_ref(), &runner, &info, clock::now())?;
    Ok(wire::ok(&registered))
}

/// `POST /api/runners/heartbeat?session_token=` `{"progress"}` → `{"abort", "job_assigned"}`.
pub fn heartbeat(ctx: &Ctx) -> Result<Response, Refusal> {
    let now = clock::now();
    let runner = caller::online_runner(ctx, now)?;
    let progress = bodies::heartbeat(&ctx.request.body)?;
    Ok(wire::ok(&runners::heartbeat(ctx.db()?, ctx.kv()?.as_ref(), &runner, progress, now)?))
}

/// `GET /api/runners/retrieve_job_info?session_token=` → `{"id", "settings"}`.
pub fn job_info(ctx: &Ctx) -> Result<Response, Refusal> {
    let now = clock::now();
    let runner = caller::online_runner(ctx, now)?;
    Ok(wire::ok(&runners::job_info(ctx.db()?, &runner, now)?))
}

/// `POST /api/runners/retrieve_job_audio?session_token=` → the audio, `Content-Type: audio/` as Project-W
/// sends it (the runner only reads the part before the slash), streamed chunk by chunk from storage.
pub fn job_audio(
    ctx: &Ctx,
    _: &mut dyn BodySource,
    out: &mut dyn ResponseWriter,
) -> Result<Option<Response>, ApiError> {
    let now = clock::now();
    let audio = caller::online_runner(ctx, now).and_then(|runner| Ok(runners::job_audio(ctx.db()?, &runner, now)?));
    let mut audio = match audio {
        Ok(audio) => audio,
        Err(refusal) => return Ok(Some(refusal.response())),
    };
    out.head(&Response::raw(200, "audio/", Vec::new()))?;
    while let Some(chunk) = audio.next_chunk(ctx.db()?)? {
        out.write(&chunk)?;
    }
    Ok(None)
}

/// `POST /api/runners/submit_job_result?session_token=` `{"error_msg", "transcript"}` → `"Success"`.
pub fn submit_result(ctx: &Ctx) -> Result<Response, Refusal> {
    let now = clock::now();
    let runner = caller::online_runner(ctx, now)?;
    let result = bodies::result(&ctx.request.body)?;
    runners::submit(ctx.db()?, &runner, &result, now)?;
    Ok(wire::success())
}

/// `POST /api/runners/unregister` → `"Success"` (the session token is not needed, as in Project-W).
pub fn unregister(ctx: &Ctx) -> Result<Response, Refusal> {
    let runner = caller::runner(ctx)?;
    runners::unregister(ctx.db()?, &runner, clock::now())?;
    Ok(wire::success())
}
