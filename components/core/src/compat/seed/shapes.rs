//! Seed Scheduler's resources, built from the native JSON of the same things (a schedule as
//! `GET /schedules/{id}` shows it or a row of `/schedules`, a failure row, a user, a group). Links are
//! absolute, on the scheme and host the client used (`base`, e.g. `http://host:3000`).

use serde_json::{Map, Value as Json, json};

/// The versioned root of the surface, under `base`.
pub fn api_root(base: &str) -> String {
    format!("{}/api/v1", base.trim_end_matches('/'))
}

/// `…/api/v1/schedule/<uuid>/`.
pub fn schedule_url(base: &str, id: &str) -> String {
    format!("{}/schedule/{id}/", api_root(base))
}

/// `…/api/v1/user/<id>/`.
pub fn user_url(base: &str, id: i64) -> String {
    format!("{}/user/{id}/", api_root(base))
}

/// `…/api/v1/group/<id>/`.
pub fn group_url(base: &str, id: i64) -> String {
    format!("{}/group/{id}/", api_root(base))
}

/// `…/api/v1/failed-tasks/<id>/`.
pub fn failure_url(base: &str, id: i64) -> String {
    format!("{}/failed-tasks/{id}/", api_root(base))
}

/// DRF's datetime of Unix seconds: ISO 8601 in UTC with `Z` (`2019-12-05T08:58:15Z`; whole seconds, so no
/// fraction, as DRF leaves out zero microseconds).
pub fn datetime(seconds: i64) -> Json {
    match chrono::DateTime::from_timestamp(seconds, 0) {
        Some(at) => Json::String(at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        None => Json::Null,
    }
}

/// Whether a native schedule is one this surface shows: it delivers to an endpoint (task schedules are
/// native only).
pub fn is_webhook(native: &Json) -> bool {
    native.get("endpoint").is_some_and(|endpoint| !endpoint.is_null())
}

/// A schedule (the 14 fields of Seed Scheduler's serializer). `auth_token` is write-only in Conveyor and
/// shows as null; `frequency` is always null; `next_send_at` is the next firing (null while disabled);
/// `created_by` and `updated_by` are the owner (null for the built-in administrator).
pub fn schedule(base: &str, native: &Json) -> Json {
    let id = native["id"].as_str().unwrap_or_default();
    let owner = native["owner"].as_i64().map(|owner| Json::String(user_url(base, owner))).unwrap_or(Json::Null);
    let enabled = native["enabled"].as_bool().unwrap_or(false);
    let next = if enabled { native["next_run_at"].as_i64().map_or(Json::Null, datetime) } else { Json::Null };
    json!({
        "url": schedule_url(base, id),
        "id": id,
        "frequency": null,
        "cron_definition": native["cron_definition"],
        "interval_definition": native["interval_definition"],
        "endpoint": native["endpoint"],
        "payload": native["payload"],
        "auth_token": null,
        "next_send_at": next,
        "enabled": enabled,
        "created_at": native["created_at"].as_i64().map_or(Json::Null, datetime),
        "created_by": owner,
        "updated_at": native["updated_at"].as_i64().map_or(Json::Null, datetime),
        "updated_by": owner,
    })
}

/// A failed task from a native failure row. `task_id` is a UUID made from the failure's id
/// (`00000000-0000-4000-8000-<id as 12 hex digits>`): stable for the record, new when a replay fails again.
pub fn failure(base: &str, native: &Json) -> Json {
    let id = native["id"].as_i64().unwrap_or_default();
    let schedule = native["schedule"].as_str().map_or(Json::Null, |s| Json::String(schedule_url(base, s)));
    json!({
        "url": failure_url(base, id),
        "id": id,
        "schedule": schedule,
        "task_id": task_id(id),
        "initiated_at": native["occurrence_at"].as_i64().map_or(Json::Null, datetime),
        "reason": native["error"],
    })
}

/// The UUID-shaped `task_id` of failure `id`.
pub fn task_id(id: i64) -> String {
    format!("00000000-0000-4000-8000-{:012x}", id & 0xffff_ffff_ffff)
}

/// A user (`url`, `username`, `email`, `groups` as links) from the native user and the ids of its groups.
pub fn user(base: &str, native: &Json, groups: &[i64]) -> Json {
    let id = native["id"].as_i64().unwrap_or_default();
    let groups: Vec<String> = groups.iter().map(|group| group_url(base, *group)).collect();
    json!({"url": user_url(base, id), "username": native["username"], "email": native["email"], "groups": groups})
}

/// A group (`url`, `name`) from the native group.
pub fn group(base: &str, native: &Json) -> Json {
    json!({"url": group_url(base, native["id"].as_i64().unwrap_or_default()), "name": native["name"]})
}

/// The ids of the groups, among native groups (with `members`), that user `user` belongs to.
pub fn groups_of(user: i64, groups: &[Map<String, Json>]) -> Vec<i64> {
    groups
        .iter()
        .filter(|group| {
            group["members"].as_array().is_some_and(|members| members.iter().any(|m| m["id"].as_i64() == Some(user)))
        })
        .filter_map(|group| group["id"].as_i64())
        .collect()
}

/// A native page (`{count, next, previous, results}`, links already absolute on the client's host and
/// keeping its parameters) with its results replaced by Seed Scheduler's resources.
pub fn page(native: Json, results: Vec<Json>) -> Json {
    let mut page = native;
    page["results"] = Json::Array(results);
    page
}

/// `GET /api/health/`.
pub fn health(database_up: bool) -> Json {
    let database = if database_up { "Accessible" } else { "Inaccessible" };
    json!({"up": database_up, "result": {"database": database, "version": env!("CARGO_PKG_VERSION")}})
}

/// `GET /api/metrics/`: Conveyor sends no metrics to a metrics service, so none are available here (its
/// Prometheus metrics are at `GET /metrics`).
pub fn metrics_available() -> Json {
    json!({"metrics_available": []})
}

/// `POST /api/metrics/`: accepted and nothing to do.
pub fn metrics_initiated() -> Json {
    json!({"scheduled_metrics_initiated": true})
}

/// `POST /failed-tasks/`.
pub fn requeued() -> Json {
    json!({"requeued_failed_tasks": true})
}
