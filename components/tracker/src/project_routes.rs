//! Routes of `/project/*` and the git receive hook: reading, access requests, secrets, and the managers'
//! project administration.

use super::{all_rows, body, id_param, path_project};
use conveyor_core::caller;
use conveyor_core::compat::tracker::{self as wire, GitPush};
use conveyor_core::db::Db;
use conveyor_core::domain::accounts::Ref;
use conveyor_core::domain::project::AccessRequest;
use conveyor_core::domain::roles;
use conveyor_core::projects::{self, SecretKind};
use conveyor_core::{ApiError, Ctx, Response, clock};
use conveyor_core::{operations, policy};
use serde_json::{Value as Json, json};

pub(crate) fn project_get(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let db = ctx.db()?;
    let project = policy::readable_project(db, &caller, &Ref::Id(id_param(ctx, "id", "project")?))?;
    Ok(wire::ok(json!({"project": wire::project(&project)})))
}

pub(crate) fn project_list(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let db = ctx.db()?;
    let rows = all_rows(db, &projects::RESOURCE, &policy::read_scope(&caller), &[])?;
    let mut list = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(id) = row.get("id").and_then(Json::as_i64) {
            list.push(wire::project(&projects::get(db, id)?));
        }
    }
    Ok(wire::ok(json!({"projects": list})))
}

pub(crate) fn project_request_access(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let worker = caller::require_worker(&caller)?;
    let request: wire::AccessBody = body(ctx)?;
    let db = ctx.db()?;
    let ask = AccessRequest { assign: request.assign, submit: request.submit };
    // A missing project and a hidden one answer alike (`policy::blind_access_request`): ok, nothing more.
    operations::request_access(db, worker, &Ref::Id(request.project), &ask, clock::now())?;
    Ok(wire::ok_empty())
}

pub(crate) fn project_secret_get(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::may_read_secret(db, &caller, &project)?;
    let secret = projects::secret(db, project.id, SecretKind::Secret)?;
    Ok(wire::ok(json!({"secret": wire::secret_text(&secret)})))
}

pub(crate) fn project_secret_set(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::SECRET)?;
    let request: wire::SecretBody = body(ctx)?;
    projects::set_secret(db, project.id, SecretKind::Secret, &Json::String(request.secret), clock::now())?;
    Ok(wire::ok_empty())
}

pub(crate) fn webhook_secret_get(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::SECRET)?;
    let secret = projects::secret(db, project.id, SecretKind::Webhook)?;
    Ok(wire::ok(json!({"webhook_secret": wire::secret_text(&secret)})))
}

pub(crate) fn webhook_secret_set(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::SECRET)?;
    let request: wire::WebhookSecretBody = body(ctx)?;
    let value = Json::String(request.webhook_secret);
    projects::set_secret(db, project.id, SecretKind::Webhook, &value, clock::now())?;
    Ok(wire::ok_empty())
}

// ----- /project (managers) -----

pub(crate) fn project_create(ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = caller::authenticate(ctx)?;
    let principal = caller::require_person(&caller)?;
    let request: wire::ProjectBody = body(ctx)?;
    let creator = principal.user().map(|user| user.id);
    let input = request.input()?;
    policy::may_chain_to(ctx.db()?, &caller, &input.fields())?;
    let project = projects::create(ctx.db()?, creator, &input, clock::now())?;
    Ok(wire::ok(json!({"id": project.id})))
}

pub(crate) fn project_update(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    let request: wire::ProjectBody = body(ctx)?;
    let patch = request.patch()?;
    policy::may_edit(db, &caller, &project, patch.visibility)?;
    if patch.chain.is_some() {
        policy::may_chain_to(db, &caller, &patch.apply(&project.fields()))?;
    }
    projects::update(db, project.id, &patch, clock::now())?;
    Ok(wire::ok_empty())
}

/// Conveyor keeps no monitoring history: both monitoring routes answer one snapshot taken now (READ).
pub(crate) fn project_monitoring(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::require_read(db, &caller, &project)?;
    let assigned = projects::assignees(db, project.id)?;
    let snapshot = json!({
        "new_task_count": project.new + project.assigned,
        "failed_task_count": project.failed,
        "closed_task_count": project.closed,
        "worker_access_count": projects::access_requests(db, project.id)?.iter().filter(|a| a.accepted()).count(),
        "awaiting_verification_count": 0,
        "assigned_task_count": project.assigned,
        "active_workers": assigned.len(),
        "timestamp": clock::now(),
    });
    Ok(wire::ok(json!({"snapshots": [snapshot]})))
}

pub(crate) fn project_assignees(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::require_read(db, &caller, &project)?;
    Ok(wire::ok(wire::assignees(&projects::assignees(db, project.id)?)))
}

pub(crate) fn project_access_list(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    Ok(wire::ok(wire::access_list(&projects::access_requests(db, project.id)?)))
}

pub(crate) fn project_accept_request(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    projects::accept_request(db, project.id, id_param(ctx, "wid", "worker")?, clock::now())?;
    Ok(wire::ok_empty())
}

pub(crate) fn project_reject_request(ctx: &Ctx) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MANAGE_ACCESS)?;
    projects::reject_request(db, project.id, id_param(ctx, "wid", "worker")?)?;
    Ok(wire::ok_empty())
}

pub(crate) fn maintenance(
    ctx: &Ctx,
    run: fn(&dyn Db, i64, i64) -> Result<i64, ApiError>,
) -> Result<Response, ApiError> {
    let (caller, db, project) = path_project(ctx)?;
    policy::authorize(db, &caller, &project, roles::MAINTENANCE)?;
    Ok(wire::ok(json!({"affected_tasks": run(db, project.id, clock::now())?})))
}

pub(crate) fn project_reset_failed(ctx: &Ctx) -> Result<Response, ApiError> {
    maintenance(ctx, projects::reset_failed)
}

pub(crate) fn project_reclaim_assigned(ctx: &Ctx) -> Result<Response, ApiError> {
    maintenance(ctx, projects::reclaim_assigned)
}

pub(crate) fn project_hard_reset(ctx: &Ctx) -> Result<Response, ApiError> {
    maintenance(ctx, |db, project, _| projects::hard_reset(db, project))
}

// ----- /git/receivehook -----

/// A push event signed with the project's webhook secret (`X-Hub-Signature-256` or `X-Gogs-Signature`,
/// HMAC-SHA256 of the body). The project is the one whose `git_repo` is the repository's `full_name`. A
/// push to the default branch sets the project's version to `after`; other pushes change nothing.
pub(crate) fn git_receivehook(ctx: &Ctx) -> Result<Response, ApiError> {
    let push: GitPush = body(ctx)?;
    let db = ctx.db()?;
    let missing = || ApiError::NotFound(format!("no project has git_repo `{}`", push.repository.full_name));
    let project = if push.repository.full_name.is_empty() {
        None
    } else {
        projects::find_by_git_repo(db, &push.repository.full_name)?
    };
    let project = project.ok_or_else(missing)?;
    let secret = wire::secret_text(&projects::secret(db, project.id, SecretKind::Webhook)?);
    let signature = ctx.request.header("x-hub-signature-256").or_else(|| ctx.request.header("x-gogs-signature"));
    if !signature.is_some_and(|signature| wire::signature_valid(&secret, &ctx.request.body, signature)) {
        return Err(ApiError::Forbidden("signature does not match".into()));
    }
    if !push.to_default_branch() {
        return Ok(wire::envelope(200, true, "not a push to the default branch; nothing changed", Json::Null));
    }
    let patch =
        conveyor_core::domain::project::ProjectPatch { version: Some(push.after.clone()), ..Default::default() };
    let project = projects::update(db, project.id, &patch, clock::now())?;
    Ok(wire::ok(json!({"project": project.id, "version": project.version})))
}
