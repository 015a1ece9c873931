//! `/api/jobs/*`: the jobs a user submits, sees, aborts, deletes and downloads. A user sees only their own.

use crate::caller;
use conveyor_core::clock;
use conveyor_core::compat::projectw::settings::JobSettings;
use conveyor_core::compat::projectw::wire::{self, Refusal};
use conveyor_core::compat::projectw::{bodies, upload};
use conveyor_core::http::{BodySource, ResponseWriter};
use conveyor_core::projectw::jobs::{self, JobFilter, Upload};
use conveyor_core::{ApiError, Ctx, Response};
use serde_json::Value as Json;

/// `POST /api/jobs/submit_job[?job_settings_id=]`, multipart with the file in `audio_file` → the job id. The
/// body streams: the file is stored chunk by chunk as it arrives, up to `max_upload_bytes` (413 above).
pub fn submit_job(
    ctx: &Ctx,
    body: &mut dyn BodySource,
    _: &mut dyn ResponseWriter,
) -> Result<Option<Response>, ApiError> {
    Ok(Some(submit(ctx, body).unwrap_or_else(|refusal| refusal.response())))
}

fn submit(ctx: &Ctx, body: &mut dyn BodySource) -> Result<Response, Refusal> {
    let owner = caller::user(ctx)?;
    let pairs = ctx.request.query_pairs();
    let settings_id = if pairs.iter().any(|(key, _)| key == "job_settings_id") {
        Some(wire::query_int(&pairs, "job_settings_id")?)
    } else {
        None
    };
    let boundary = upload::boundary(ctx.request.header("content-type").unwrap_or_default())?;
    let limit = upload::limit(ctx.variable("max_upload_bytes").as_deref());
    let (db, now) = (ctx.db()?, clock::now());
    let mut upload = Upload::begin(db, owner, now)?;
    match upload::receive(db, body, &boundary, &mut upload, limit) {
        Ok(file_name) => {
            let defaults = JobSettings::default().to_text();
            let kv = ctx.kv()?;
            let id = jobs::submit(db, kv.as_ref(), owner, &file_name, upload, settings_id, &defaults, now)?;
            Ok(wire::ok(&id))
        }
        Err(refusal) => {
            upload.discard(db)?;
            Err(refusal)
        }
    }
}

fn filter(pairs: &[(String, String)]) -> Result<JobFilter, Refusal> {
    Ok(JobFilter {
        exclude_finished: wire::query_bool(pairs, "exclude_finished")?,
        exclude_downloaded: wire::query_bool(pairs, "exclude_downloaded")?,
    })
}

/// `GET /api/jobs/info?job_ids=1&job_ids=2` → the caller's jobs among them.
pub fn info(ctx: &Ctx) -> Result<Response, Refusal> {
    let owner = caller::user(ctx)?;
    let pairs = ctx.request.query_pairs();
    let mut ids = Vec::new();
    for (index, (_, value)) in pairs.iter().filter(|(key, _)| key == "job_ids").enumerate() {
        let id = value.trim().parse().map_err(|_| {
            Refusal::invalid(
                "int_parsing",
                &["query", "job_ids", &index.to_string()],
                "Input should be a valid integer, unable to parse string as an integer",
                Json::String(value.clone()),
            )
        })?;
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(Refusal::missing(&["query", "job_ids"]));
    }
    Ok(wire::ok(&jobs::info(ctx.db()?, owner, &ids, clock::now())?))
}

/// `GET /api/jobs/get?start_index&end_index&sort_key&descending&exclude_finished&exclude_downloaded` → ids.
pub fn get(ctx: &Ctx) -> Result<Response, Refusal> {
    let owner = caller::user(ctx)?;
    let pairs = ctx.request.query_pairs();
    let start = bodies::index("start_index", wire::query_int(&pairs, "start_index")?)?;
    let end = bodies::index("end_index", wire::query_int(&pairs, "end_index")?)?;
    let by_file_name = bodies::sort_by_file_name(&wire::query_param(&pairs, "sort_key")?)?;
    let descending = wire::query_bool(&pairs, "descending")?;
    let filter = filter(&pairs)?;
    Ok(wire::ok(&jobs::window(ctx.db()?, owner, filter, by_file_name, descending, start, end)?))
}

/// `GET /api/jobs/count?exclude_finished&exclude_downloaded` → an integer.
pub fn count(ctx: &Ctx) -> Result<Response, Refusal> {
    let owner = caller::user(ctx)?;
    let filter = filter(&ctx.request.query_pairs())?;
    Ok(wire::ok(&jobs::count(ctx.db()?, owner, filter)?))
}

/// `POST /api/jobs/abort` `[ids]` → `"Success"`.
pub fn abort(ctx: &Ctx) -> Result<Response, Refusal> {
    let owner = caller::user(ctx)?;
    let ids = wire::id_list(&ctx.request.body)?;
    jobs::abort(ctx.db()?, owner, &ids, clock::now())?;
    Ok(wire::success())
}

/// `DELETE /api/jobs/delete` `[ids]` → `"Success"`.
pub fn delete(ctx: &Ctx) -> Result<Response, Refusal> {
    let owner = caller::user(ctx)?;
    let ids = wire::id_list(&ctx.request.body)?;
    jobs::delete(ctx.db()?, owner, &ids, clock::now())?;
    Ok(wire::success())
}

/// `GET /api/jobs/download_transcript?job_id&transcript_type` → the transcript as a JSON string.
pub fn download_transcript(ctx: &Ctx) -> Result<Response, Refusal> {
    let owner = caller::user(ctx)?;
    let pairs = ctx.request.query_pairs();
    let job = wire::query_int(&pairs, "job_id")?;
    let kind = wire::query_param(&pairs, "transcript_type")?;
    Ok(wire::ok(&jobs::download(ctx.db()?, owner, job, bodies::transcript_type(&kind)?)?))
}

/// `GET /api/jobs/default_settings` → the caller's default settings, or Project-W's.
pub fn default_settings(ctx: &Ctx) -> Result<Response, Refusal> {
    let owner = caller::user(ctx)?;
    match jobs::default_settings(ctx.db()?, owner)? {
        Some(saved) => Ok(wire::ok(&saved)),
        None => Ok(wire::ok(&JobSettings::default())),
    }
}

/// `POST /api/jobs/submit_settings[?is_new_default=]` `JobSettingsRequest` → the settings id.
pub fn submit_settings(ctx: &Ctx) -> Result<Response, Refusal> {
    let owner = caller::user(ctx)?;
    let pairs = ctx.request.query_pairs();
    let is_default = if pairs.iter().any(|(key, _)| key == "is_new_default") {
        wire::query_bool(&pairs, "is_new_default")?
    } else {
        false
    };
    let settings = JobSettings::from_request(&ctx.request.body)?;
    Ok(wire::ok(&jobs::save_settings(ctx.db()?, owner, &settings.to_text(), is_default, clock::now())?))
}
