//! Routes of `/log/*` and `/logs`: workers file entries, managers read them.

use super::{all_rows, body};
use conveyor_core::caller;
use conveyor_core::compat::tracker as wire;
use conveyor_core::domain::worker::LogLevel;
use conveyor_core::policy;
use conveyor_core::{ApiError, Ctx, Response, clock, logs};
use serde_json::json;

/// Workers only (task_tracker accepted anonymous logs: not copied, SPEC "Seed behaviours not to copy").
pub(crate) fn log(ctx: &Ctx) -> Result<Response, ApiError> {
    let level = ctx.param("level");
    let level = LogLevel::parse(level).ok_or_else(|| ApiError::NotFound(format!("no log level `{level}`")))?;
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let request: wire::LogBody = body(ctx)?;
    logs::append(ctx.db()?, Some(worker.id), &request.entry(level), clock::now())?;
    Ok(wire::ok_empty())
}

/// `POST /logs {level?, since}`: signed-in people; administrators every entry, others those of projects they
/// may read (task_tracker served every log to anyone: not copied).
pub(crate) fn logs_list(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    caller::require_person(&caller)?;
    let request: wire::LogQueryBody = body(ctx)?;
    let mut filters = vec![("timestamp__ge".to_string(), request.since.to_string())];
    if let Some(code) = request.level {
        let level = wire::log_level_of_code(code)
            .ok_or_else(|| ApiError::invalid_field("level", "must be a log level number from 0 to 6"))?;
        filters.push(("level".into(), level.as_str().into()));
    }
    let rows = all_rows(ctx.db()?, &logs::RESOURCE, &policy::logs_scope(&caller), &filters)?;
    Ok(wire::ok(json!({"logs": rows.iter().map(wire::log_row).collect::<Vec<_>>()})))
}
