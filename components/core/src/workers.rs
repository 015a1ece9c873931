//! Worker services (SPEC §5): registration (the secret is shown once and stored as SHA-256), credential
//! checks in constant time, pause/unpause, secret rotation, stats. Secrets and hashing come from
//! [`crate::secrets`]; the secret format is task_tracker's: 32 random bytes, standard base64 with padding.

use crate::control::{NoParams, action_params, to_json};
use crate::db::Db;
use crate::domain::accounts::LAST_USED_GRANULARITY;
use crate::domain::worker::{Worker, WorkerInput, WorkerPatch, WorkerSecret, WorkerStat};
use crate::error::ApiError;
use crate::query::{Page, Scope};
use crate::secrets;
use crate::store::workers as store;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value as Json;

pub use crate::store::workers::RESOURCE;

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("worker {id} not found"))
}

/// A new worker secret: 32 random bytes, base64 (standard alphabet, padded).
fn new_secret() -> Result<String, ApiError> {
    Ok(STANDARD.encode(secrets::random_bytes::<32>()?))
}

/// Registers a worker; the answer carries its secret, which is never shown again.
pub fn register(db: &dyn Db, input: &WorkerInput, now: i64) -> Result<WorkerSecret, ApiError> {
    let fields = input.validate()?;
    let secret = new_secret()?;
    let worker = store::insert(db, &fields, &secrets::sha256(&secret), now)?;
    Ok(WorkerSecret { worker, secret })
}

/// The worker whose id and secret these are; 401 otherwise (the same answer for an unknown id and a wrong
/// secret, compared in constant time). Records that the worker was seen (`last_seen_at`, read by
/// `GET /metrics`) at most once a minute, as a token's `last_used_at` (`auth::authenticate_token`), at the
/// guests' clock.
pub fn authenticate(db: &dyn Db, id: i64, secret: &str) -> Result<Worker, ApiError> {
    let presented = secrets::sha256(secret);
    match store::credential(db, id)? {
        Some(found) if secrets::constant_time_eq(&found.secret_hash, &presented) => {
            let now = crate::clock::now();
            if found.last_seen_at.is_none_or(|seen| seen <= now - LAST_USED_GRANULARITY) {
                store::touch_seen(db, id, now, LAST_USED_GRANULARITY)?;
            }
            Ok(found.worker)
        }
        _ => Err(ApiError::Unauthorized("invalid worker credentials".into())),
    }
}

/// A worker by id; 404 when there is none.
pub fn get(db: &dyn Db, id: i64) -> Result<Worker, ApiError> {
    store::get(db, id)?.ok_or_else(|| not_found(id))
}

/// Applies a patch (alias, tags, meta).
pub fn update(db: &dyn Db, id: i64, patch: &WorkerPatch, now: i64) -> Result<Worker, ApiError> {
    let changes = patch.validate()?;
    store::update(db, id, &changes, now)?.ok_or_else(|| not_found(id))
}

/// Pauses (or unpauses) a worker: a paused worker claims nothing. Sets the desired state: repeating it is
/// not an error.
pub fn set_paused(db: &dyn Db, id: i64, paused: bool, now: i64) -> Result<Worker, ApiError> {
    store::set_paused(db, id, paused, now)?.ok_or_else(|| not_found(id))
}

/// Replaces the secret; the old one stops working at once. The answer carries the new secret, once.
pub fn rotate_secret(db: &dyn Db, id: i64, now: i64) -> Result<WorkerSecret, ApiError> {
    let secret = new_secret()?;
    let worker = store::set_secret_hash(db, id, &secrets::sha256(&secret), now)?.ok_or_else(|| not_found(id))?;
    Ok(WorkerSecret { worker, secret })
}

/// `GET /workers/stats` over the workers within `scope` (`policy::workers_scope`).
pub fn stats(db: &dyn Db, scope: &Scope) -> Result<Vec<WorkerStat>, ApiError> {
    Ok(store::stats(db, scope)?)
}

/// A worker by id if it is within `scope`; 404 otherwise, the same answer as for a worker that does not
/// exist, so ids outside the caller's scope reveal nothing.
pub fn get_in_scope(db: &dyn Db, id: i64, scope: &Scope) -> Result<Worker, ApiError> {
    if !store::in_scope(db, id, scope)? {
        return Err(not_found(id));
    }
    get(db, id)
}

/// Turns JSON-text columns of a collection page (`tags`, `meta` of `/workers`; `data` of `/logs`) into JSON.
pub fn decode_json_fields(page: &mut Page, fields: &[&str]) {
    for row in &mut page.results {
        for field in fields {
            if let Some(Json::String(text)) = row.get(*field)
                && let Ok(value) = serde_json::from_str::<Json>(text)
            {
                row.insert((*field).to_string(), value);
            }
        }
    }
}

/// A control action on `/workers/{id}` (SPEC §5), parsed from a JSON-RPC call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Unpause,
    RotateSecret,
}

impl Action {
    /// `Ok(None)` for an unknown method (JSON-RPC -32601); Err for invalid params (-32602).
    pub fn parse(method: &str, params: &Json) -> Result<Option<Self>, ApiError> {
        let action = match method {
            "pause" => Self::Pause,
            "unpause" => Self::Unpause,
            "rotate_secret" => Self::RotateSecret,
            _ => return Ok(None),
        };
        action_params::<NoParams>(params)?;
        Ok(Some(action))
    }

    /// Whether only an administrator may run it (pause/unpause); `rotate_secret` is also allowed to the
    /// worker itself.
    pub fn admin_only(self) -> bool {
        !matches!(self, Self::RotateSecret)
    }

    /// Runs the action; the JSON-RPC `result`.
    pub fn run(self, db: &dyn Db, id: i64, now: i64) -> Result<Json, ApiError> {
        match self {
            Self::Pause => to_json(&set_paused(db, id, true, now)?),
            Self::Unpause => to_json(&set_paused(db, id, false, now)?),
            Self::RotateSecret => to_json(&rotate_secret(db, id, now)?),
        }
    }
}

#[cfg(test)]
mod tests;
