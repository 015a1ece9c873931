//! The operation table of the native API (SPEC §1–§8): one row per route of the components meta, accounts,
//! tasks, projects, workers, schedules and rpc (`/api/v1/rpc` only). Bodies and answers are the types the
//! handlers read and answer; shapes a handler builds with `json!` are written here, next to a note of the
//! handler that builds them.

use super::schemas::Schemas;
use super::table::{Access, Op, op};
use crate::accounts::{
    CreatedToken, GroupPatch, LoginInput, Me, NewGroupInput, NewUserInput, PasswordChangeInput, ResetConfirmInput,
    ResetRequestInput, Session, SignupInput, SignupReceipt, TokenBody, TokenInput, UserPatch, UserUpdate,
};
use crate::domain::project::{
    AccessRequest, Assignee, Grants, GroupGrant, Project, ProjectInput, ProjectPatch, UserGrant, WorkerAccess,
};
use crate::domain::roles::GrantRequest;
use crate::domain::schedule::{Schedule, ScheduleInput};
use crate::domain::task::{
    BatchReleaseItem, BulkResult, BulkSubmitRequest, ClaimRequest, Heartbeat, HeartbeatRequest, ItemReleased,
    ReleaseRequest, Released, SubmitRequest, Task,
};
use crate::domain::worker::{LogInput, LogRecord, Worker, WorkerInput, WorkerPatch, WorkerSecret, WorkerStat};
use crate::rpc::methods::METHODS;
use crate::schedules::Firing;
use crate::store::groups::Group;
use crate::store::tokens::Token;
use crate::store::users::User;
use Access::{Caller, OptionalCaller, OptionalPerson, Person, Public, Worker as WorkerOnly};
use serde_json::{Value as Json, json};

/// Every native operation, in the routers' order.
pub fn operations(s: &mut Schemas) -> Vec<Op> {
    [meta(s), accounts(s), tasks(s), projects(s), workers(s), schedules(s), rpc(s), docs(), metrics()]
        .into_iter()
        .flatten()
        .collect()
}

/// The control actions of each resource and the schema of their params, also checked against the
/// services' parsers by the tests.
pub fn control_actions() -> [(&'static str, Vec<(&'static str, Json)>); 4] {
    let none = json!({"type": ["object", "null"], "additionalProperties": false});
    let worker = json!({"type": "object", "required": ["worker"], "properties": {"worker": {"type": "integer"}},
        "additionalProperties": false});
    let priority = json!({"type": "object", "required": ["priority"],
        "properties": {"priority": {"type": "integer", "minimum": i32::MIN, "maximum": i32::MAX}},
        "additionalProperties": false});
    let plain = |names: &[&'static str]| names.iter().map(|name| (*name, none.clone())).collect::<Vec<_>>();
    let mut projects = plain(&["pause", "resume", "reset_failed", "reclaim_assigned", "hard_reset"]);
    projects.extend([("accept_request", worker.clone()), ("reject_request", worker)]);
    let mut tasks = plain(&["cancel", "retry"]);
    tasks.push(("set_priority", priority));
    [
        ("tasks", tasks),
        ("projects", projects),
        ("workers", plain(&["pause", "unpause", "rotate_secret"])),
        ("schedules", plain(&["run_now", "enable", "disable", "requeue"])),
    ]
}

fn actions(resource: &str) -> Vec<(&'static str, Json)> {
    control_actions().into_iter().find(|(name, _)| *name == resource).map(|(_, methods)| methods).unwrap_or_default()
}

/// An integer path parameter (a non-integer one names nothing: 404).
fn integer() -> Json {
    json!({"type": "integer", "format": "int64"})
}

fn meta(s: &mut Schemas) -> Vec<Op> {
    // components/meta builds these three with `json!`.
    let versions = s.named(
        "ApiVersions",
        json!({"type": "object", "required": ["api_versions"], "properties": {"api_versions": {
            "type": "object", "required": ["v1"], "properties": {"v1": {"type": "string"}}}}}),
    );
    let root = s.named(
        "ApiRoot",
        json!({"type": "object", "required": ["api_version", "links"], "properties": {
            "api_version": {"const": "v1"},
            "links": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "The URL of each collection under /api/v1."}}}),
    );
    let health = s.named(
        "Health",
        json!({"type": "object", "required": ["up", "result"], "properties": {
            "up": {"type": "boolean"},
            "result": {"type": "object", "required": ["database", "version"], "properties": {
                "database": {"enum": ["up", "down"]}, "version": {"type": "string"}}}}}),
    );
    let anyone = "anyone (public by design).";
    vec![
        op("GET", "/api", "apiVersions", "meta", "The API versions", Public, anyone)
            .answers(200, "The versions and their base paths.", versions)
            .no_database(),
        op("GET", "/api/v1", "apiRoot", "meta", "Links to every v1 collection", Public, anyone)
            .answers(200, "The discoverable root.", root)
            .no_database(),
        op("GET", "/api/v1/health", "health", "meta", "Health of the host and its database", Public, anyone)
            .answers(200, "Up: the database answered.", health.clone())
            .answers(503, "Down: the database could not be opened or queried.", health),
    ]
}

/// Component `apidocs`: the documents and their pages, public and without a database.
fn docs() -> Vec<Op> {
    let anyone = "anyone (public by design).";
    let document = json!({"type": "object", "required": ["openapi", "info", "paths"],
        "description": "An OpenAPI 3.1 document."});
    let html = "text/html";
    vec![
        op("GET", "/api/v1/openapi.json", "openapiNative", "docs", "This document", Public, anyone)
            .answers(200, "The native API's OpenAPI 3.1 document.", document.clone())
            .no_database(),
        op(
            "GET",
            "/api/v1/openapi/:file",
            "openapiSurface",
            "docs",
            "A wire-compatible surface's document",
            Public,
            anyone,
        )
        .answers(200, "`tracker.json`, `seed-scheduler.json`, `project-w.json` or `rhodecode.json`.", document)
        .no_database(),
        op("GET", "/docs", "swaggerUi", "docs", "Swagger UI over every document", Public, anyone)
            .answer(200, "The page.", html, None)
            .no_database(),
        op("GET", "/redoc", "redoc", "docs", "Redoc over one document", Public, anyone)
            .query("doc", "The document: `native` (default) or a surface's name.", json!({"type": "string"}))
            .answer(200, "The page.", html, None)
            .errors(&[404])
            .no_database(),
        op(
            "GET",
            "/docs/assets/:revision/:name",
            "docsAsset",
            "docs",
            "A page's script, style or licence",
            Public,
            anyone,
        )
        .answer(200, "The asset, cached for a year (its URL changes with its content).", "text/*", None)
        .no_database(),
    ]
}

/// Component `metrics`: Prometheus' text format (docs/metrics.md).
fn metrics() -> Vec<Op> {
    vec![
        op(
            "GET",
            "/metrics",
            "metrics",
            "metrics",
            "Prometheus metrics",
            Person,
            "an administrator, or `Authorization: Bearer <metrics_token>` (the scrapers' token, a variable).",
        )
        .answer(
            200,
            "Text exposition format 0.0.4: task gauges and counters by project, workers, and (on Conveyor's own \
             host) HTTP request counts and latency histograms.",
            "text/plain",
            Some(json!({"type": "string"})),
        ),
    ]
}

fn accounts(s: &mut Schemas) -> Vec<Op> {
    let user = s.response::<User>();
    let group = s.response::<Group>();
    let public = "anyone (public by design).";
    let signed_in = "any signed-in user (bearer or `Token` token, or the session cookie).";
    let admin = "administrators (a user with admin rights through an admin-scoped token or a session, or the \
                 built-in administrator's `admin_token`).";
    let self_or_admin = "administrators, or the user themself (names and email only).";
    let own = "a signed-in user, for their own tokens (not the built-in administrator, which has no account).";
    let reset_sent = s.named(
        "ResetRequested",
        json!({"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}),
    );
    vec![
        op("POST", "/api/v1/auth/signup", "signup", "accounts", "Sign up (when `allow_signup` is true)", Public, public)
            .body(s.request::<SignupInput>())
            .answers(201, "The new, unverified account; the activation token goes to the hook.", s.response::<SignupReceipt>())
            .errors(&[403, 409, 429]),
        op("POST", "/api/v1/auth/activate", "activate", "accounts", "Activate an account with its token", Public, public)
            .body(s.request::<TokenBody>())
            .answers(200, "The activated user.", user.clone()),
        op("POST", "/api/v1/auth/password-reset", "requestPasswordReset", "accounts", "Ask for a password reset", Public, public)
            .body(s.request::<ResetRequestInput>())
            .answers(202, "Always (no account enumeration).", reset_sent)
            .errors(&[429]),
        op("POST", "/api/v1/auth/password-reset/confirm", "confirmPasswordReset", "accounts", "Set a new password with a reset token", Public, public)
            .body(s.request::<ResetConfirmInput>())
            .empty(204, "The password was changed; every session of the user ended."),
        op("POST", "/api/v1/auth/confirm-email", "confirmEmail", "accounts", "Confirm a changed email address", Public, public)
            .body(s.request::<TokenBody>())
            .answers(200, "The user with the new address.", user.clone())
            .errors(&[409]),
        op("POST", "/api/v1/auth/login", "login", "accounts", "Log in: a session token and cookie", Public, public)
            .body(s.request::<LoginInput>())
            .answers(200, "The session; the same token is set as the `conveyor_session` cookie.", s.response::<Session>())
            .header("Set-Cookie", "`conveyor_session=<token>; Path=/; Max-Age=…; HttpOnly; SameSite=Lax`")
            .errors(&[401, 403, 429]),
        op("POST", "/api/v1/auth/logout", "logout", "accounts", "Log out: end the session", Person, signed_in)
            .empty(204, "The session ended; the cookie is cleared.")
            .header("Set-Cookie", "Clears `conveyor_session` (also on an error)."),
        op("GET", "/api/v1/auth/activations", "listActivations", "accounts", "Pending activation tokens", Person, admin)
            .listing(s, "Activation", &crate::store::codes::ACTIVATIONS, &[]),
        op("GET", "/api/v1/me", "me", "accounts", "The caller: account, groups and credential", Person, signed_in)
            .answers(200, "The account (or the built-in administrator).", s.response::<Me>()),
        op("PUT", "/api/v1/me/password", "changePassword", "accounts", "Change my password", Person, own)
            .body(s.request::<PasswordChangeInput>())
            .empty(204, "Changed; every other session ended.")
            .errors(&[429]),
        op("GET", "/api/v1/tokens", "listTokens", "accounts", "My API tokens", Person, own)
            .listing(s, "Token", &crate::store::tokens::RESOURCE, &[]),
        op("POST", "/api/v1/tokens", "createToken", "accounts", "Create an API token (its secret is shown once)", Person, own)
            .body(s.request::<TokenInput>())
            .answers(201, "The token, with its secret in `token`.", s.response::<CreatedToken>())
            .errors(&[409]),
        op("DELETE", "/api/v1/tokens", "revokeAllTokens", "accounts", "Revoke all my API tokens", Person, own).answers(
            200,
            "How many were revoked.",
            s.named(
                "Revoked",
                json!({"type": "object", "required": ["revoked"], "properties": {"revoked": {"type": "integer", "minimum": 0}}}),
            ),
        ),
        op("GET", "/api/v1/tokens/:id", "getToken", "accounts", "One of my API tokens", Person, own)
            .path_type("id", integer())
            .answers(200, "The token (never its secret).", s.response::<Token>()),
        op("DELETE", "/api/v1/tokens/:id", "revokeToken", "accounts", "Revoke one of my API tokens", Person, own)
            .path_type("id", integer())
            .empty(204, "Revoked."),
        op("GET", "/api/v1/users", "listUsers", "accounts", "Users", Person, admin)
            .listing(s, "User", &crate::store::users::RESOURCE, &[]),
        op("POST", "/api/v1/users", "createUser", "accounts", "Create a user", Person, admin)
            .body(s.request::<NewUserInput>())
            .answers(201, "The user.", user.clone())
            .errors(&[409]),
        op("GET", "/api/v1/users/:user", "getUser", "accounts", "A user by id or username", Person, self_or_admin)
            .answers(200, "The user.", user.clone()),
        op("PATCH", "/api/v1/users/:user", "updateUser", "accounts", "Change a user", Person, self_or_admin)
            .body(s.request::<UserPatch>())
            .answers(200, "The user; `pending_email` while a new address awaits confirmation.", s.response::<UserUpdate>())
            .errors(&[409, 429]),
        op("DELETE", "/api/v1/users/:user", "deleteUser", "accounts", "Delete a user", Person, admin)
            .empty(204, "Deleted.")
            .errors(&[409]),
        op("GET", "/api/v1/groups", "listGroups", "accounts", "User groups", Person, signed_in)
            .listing(s, "Group", &crate::store::groups::RESOURCE, &["members"]),
        op("POST", "/api/v1/groups", "createGroup", "accounts", "Create a user group", Person, admin)
            .body(s.request::<NewGroupInput>())
            .answers(201, "The group.", group.clone())
            .errors(&[409]),
        op("GET", "/api/v1/groups/:group", "getGroup", "accounts", "A group by id or name", Person, signed_in)
            .answers(200, "The group and its members.", group.clone()),
        op("PATCH", "/api/v1/groups/:group", "updateGroup", "accounts", "Change a group", Person, admin)
            .body(s.request::<GroupPatch>())
            .answers(200, "The group.", group.clone())
            .errors(&[409]),
        op("DELETE", "/api/v1/groups/:group", "deleteGroup", "accounts", "Delete a group", Person, admin)
            .empty(204, "Deleted."),
        op("PUT", "/api/v1/groups/:group/members/:user", "addGroupMember", "accounts", "Add a user to a group", Person, admin)
            .answers(201, "Added; the group.", group.clone())
            .answers(200, "Already a member; the group.", group),
        op("DELETE", "/api/v1/groups/:group/members/:user", "removeGroupMember", "accounts", "Remove a user from a group", Person, admin)
            .empty(204, "Removed."),
    ]
}

fn tasks(s: &mut Schemas) -> Vec<Op> {
    let task = s.response::<Task>();
    let readers = "anyone for tasks of public projects; READ on the project (people) or an accepted grant \
                   (workers) for private ones; hidden ones answer 404 without.";
    let submitters = "people with EDIT on the project, or workers with an accepted SUBMIT grant.";
    let assignee = "the worker holding the task (its assignee).";
    let workers =
        "workers (a worker claims from public projects, and from private ones with an accepted ASSIGN grant).";
    // components/tasks answers a refused release with `json!` (SPEC §4: `"updated": false`).
    let refused = s.named(
        "ReleaseRefused",
        json!({"type": "object", "required": ["updated", "detail", "code"], "properties": {
            "updated": {"const": false}, "detail": {"type": "string"}, "code": {"type": "string"}}}),
    );
    let batch = json!({"type": "array", "minItems": 1, "maxItems": crate::domain::task::MAX_BATCH,
        "items": s.request::<BatchReleaseItem>()});
    vec![
        op("GET", "/api/v1/tasks", "listTasks", "tasks", "Tasks", OptionalCaller, readers).listing(
            s,
            "Task",
            &crate::tasks::RESOURCE,
            &[],
        ),
        op("POST", "/api/v1/tasks", "submitTask", "tasks", "Submit a task", Caller, submitters)
            .body(s.request::<SubmitRequest>())
            .answers(201, "The new task.", task.clone())
            .errors(&[404, 409, 429]),
        op(
            "POST",
            "/api/v1/tasks/bulk",
            "bulkSubmitTasks",
            "tasks",
            "Submit up to 10,000 tasks at once",
            Caller,
            submitters,
        )
        .body(s.request::<BulkSubmitRequest>())
        .answers(201, "Per item: created ids, duplicates skipped.", s.response::<BulkResult>())
        .errors(&[404, 429]),
        op("POST", "/api/v1/tasks/claim", "claimTasks", "tasks", "Claim the next task(s)", WorkerOnly, workers)
            .optional_body(s.request::<ClaimRequest>())
            .answers(
                200,
                "The claimed task; with `max`, a list of claimed tasks.",
                json!({"oneOf": [task.clone(), {"type": "array", "items": task.clone()}]}),
            )
            .empty(204, "Nothing claimable (after `wait` seconds).")
            .errors(&[404, 429]),
        op(
            "POST",
            "/api/v1/tasks/release",
            "releaseTasks",
            "tasks",
            "Release up to 100 held tasks at once",
            WorkerOnly,
            assignee,
        )
        .body(batch)
        .answers(
            200,
            "Per item: applied, or `updated: false` for a task not held.",
            json!({"type": "array", "items": s.response::<ItemReleased>()}),
        ),
        op("GET", "/api/v1/tasks/:id", "getTask", "tasks", "A task", OptionalCaller, readers)
            .path_type("id", integer())
            .answers(200, "The task.", task.clone()),
        op(
            "POST",
            "/api/v1/tasks/:id",
            "controlTask",
            "tasks",
            "Control actions: cancel, retry, set_priority",
            Person,
            "people with EDIT on the task's project.",
        )
        .path_type("id", integer())
        .control(s, &actions("tasks"))
        .errors(&[429])
        .no_plain_401(),
        op(
            "GET",
            "/api/v1/tasks/:id/result",
            "getTaskResult",
            "tasks",
            "A task's result as a file",
            OptionalCaller,
            readers,
        )
        .path_type("id", integer())
        .query("inline", "Show in place (no Content-Disposition).", json!({"type": "boolean"}))
        .answer(200, "The raw result.", "text/plain; charset=utf-8", Some(json!({"type": "string"})))
        .header("Content-Disposition", "`attachment; filename=\"task-<id>-result.txt\"` unless `inline`.")
        .errors(&[400]),
        op(
            "POST",
            "/api/v1/tasks/:id/heartbeat",
            "heartbeatTask",
            "tasks",
            "Report progress, extend the lease",
            WorkerOnly,
            assignee,
        )
        .path_type("id", integer())
        .optional_body(s.request::<HeartbeatRequest>())
        .answers(200, "The lease and whether to abort.", s.response::<Heartbeat>())
        .errors(&[409]),
        op(
            "POST",
            "/api/v1/tasks/:id/release",
            "releaseTask",
            "tasks",
            "Release a held task with its result",
            WorkerOnly,
            assignee,
        )
        .path_type("id", integer())
        .body(s.request::<ReleaseRequest>())
        .answers(200, "Applied: the task's new status.", s.response::<Released>())
        .answers(409, "Not applied: the task is not held by this worker.", refused),
    ]
}

fn projects(s: &mut Schemas) -> Vec<Op> {
    let project = s.response::<Project>();
    let readers = "anyone for public projects; READ (people) or an accepted grant (workers) for private ones; \
                   hidden ones answer 404 without.";
    let managers = "people with MANAGE_ACCESS on the project.";
    // components/projects builds the secret's answer and reads its body with `json!`/a private struct.
    let secret = s.named(
        "ProjectSecret",
        json!({"type": "object", "required": ["project", "secret"], "properties": {
            "project": {"type": "integer"}, "secret": {"description": "Any JSON value; null when unset."}}}),
    );
    let secret_body = json!({"type": "object", "required": ["secret"], "properties": {"secret": {}},
        "additionalProperties": false});
    // core's operations::set_grant answers this after a removal (role 0).
    let removed = s.named(
        "RemovedGrant",
        json!({"type": "object", "required": ["role", "preset"], "properties": {
            "user": {"type": "integer"}, "group": {"type": "integer"},
            "role": {"const": 0}, "preset": {"const": "none"}}}),
    );
    let user_grant = s.response::<UserGrant>();
    let group_grant = s.response::<GroupGrant>();
    let grant = s.request::<GrantRequest>();
    let mut ops = vec![
        op("GET", "/api/v1/projects", "listProjects", "projects", "Projects", OptionalCaller, readers).listing(
            s,
            "Project",
            &crate::projects::RESOURCE,
            &[],
        ),
        op(
            "POST",
            "/api/v1/projects",
            "createProject",
            "projects",
            "Create a project",
            Person,
            "any signed-in person (the creator gets `admin` on it).",
        )
        .body(s.request::<ProjectInput>())
        .answers(201, "The project.", project.clone())
        .errors(&[409]),
        op(
            "GET",
            "/api/v1/projects/:project",
            "getProject",
            "projects",
            "A project by id or name",
            OptionalCaller,
            readers,
        )
        .answers(200, "The project and its task counters.", project.clone()),
        op(
            "PATCH",
            "/api/v1/projects/:project",
            "updateProject",
            "projects",
            "Change a project",
            Person,
            "people with EDIT on the project.",
        )
        .body(s.request::<ProjectPatch>())
        .answers(200, "The project.", project.clone())
        .errors(&[409]),
        op(
            "DELETE",
            "/api/v1/projects/:project",
            "deleteProject",
            "projects",
            "Delete a project and its tasks",
            Person,
            "people with the `admin` preset (every role) on the project.",
        )
        .empty(204, "Deleted."),
        op(
            "POST",
            "/api/v1/projects/:project",
            "controlProject",
            "projects",
            "Control actions on a project",
            Person,
            "MAINTENANCE on the project (`pause`/`resume`: EDIT; `accept_request`/`reject_request`: MANAGE_ACCESS).",
        )
        .control(s, &actions("projects")),
        op(
            "GET",
            "/api/v1/projects/:project/assignees",
            "listAssignees",
            "projects",
            "Open tasks per worker",
            OptionalCaller,
            readers,
        )
        .answers(
            200,
            "One row per worker holding tasks.",
            json!({"type": "array", "items": s.response::<Assignee>()}),
        ),
        op(
            "GET",
            "/api/v1/projects/:project/secret",
            "getProjectSecret",
            "projects",
            "The project's secret for workers",
            Caller,
            "people with SECRET on the project, or a worker with an accepted grant.",
        )
        .answers(200, "The secret.", secret.clone()),
        op(
            "PUT",
            "/api/v1/projects/:project/secret",
            "putProjectSecret",
            "projects",
            "Set the project's secret",
            Person,
            "people with SECRET on the project.",
        )
        .body(secret_body)
        .answers(200, "The stored secret (`null` cleared it).", secret),
        op(
            "GET",
            "/api/v1/projects/:project/grants",
            "listGrants",
            "projects",
            "Every grant on a project",
            Person,
            managers,
        )
        .answers(200, "Grants to users and to groups.", s.response::<Grants>()),
    ];
    let grantees = [
        (
            "/api/v1/projects/:project/grants/users/:user",
            ["getUserGrant", "putUserGrant", "deleteUserGrant"],
            user_grant,
        ),
        (
            "/api/v1/projects/:project/grants/groups/:group",
            ["getGroupGrant", "putGroupGrant", "deleteGroupGrant"],
            group_grant,
        ),
    ];
    for (path, [get, put, delete], schema) in grantees {
        ops.extend([
            op("GET", path, get, "projects", "A grant on a project", Person, managers).answers(
                200,
                "The grant.",
                schema.clone(),
            ),
            op("PUT", path, put, "projects", "Set a grant (`role` bitmask or `perm` preset)", Person, managers)
                .body(grant.clone())
                .answers(200, "The grant (`role: 0` once removed).", json!({"anyOf": [schema, removed.clone()]})),
            op("DELETE", path, delete, "projects", "Remove a grant", Person, managers).empty(204, "Removed."),
        ]);
    }
    ops.extend([
        op(
            "POST",
            "/api/v1/projects/:project/access-requests",
            "requestAccess",
            "projects",
            "Ask for ASSIGN and/or SUBMIT",
            WorkerOnly,
            "workers (any project: a hidden one the worker may not read, and a missing one, answer 202 alike).",
        )
        .body(s.request::<AccessRequest>())
        .answers(201, "The access row (pending, or already accepted).", s.response::<WorkerAccess>())
        .answers(
            202,
            "Taken, nothing more: a hidden project the worker may not read (the request is recorded) or a \
             missing one (nothing is), indistinguishably.",
            json!({"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}),
        ),
        op(
            "GET",
            "/api/v1/projects/:project/access-requests",
            "listAccessRequests",
            "projects",
            "Workers' access requests",
            Person,
            managers,
        )
        .answers(
            200,
            "Every request, pending and accepted.",
            json!({"type": "array", "items": s.response::<WorkerAccess>()}),
        ),
    ]);
    ops
}

fn workers(s: &mut Schemas) -> Vec<Op> {
    let worker = s.response::<Worker>();
    let people = "signed-in people (not workers): the workers they may see (docs/tasks.md, \"Who sees a worker\").";
    vec![
        op("GET", "/api/v1/workers", "listWorkers", "workers", "Workers", Person, people).listing(
            s,
            "Worker",
            &crate::workers::RESOURCE,
            &["tags", "meta"],
        ),
        op(
            "POST",
            "/api/v1/workers",
            "registerWorker",
            "workers",
            "Register a worker (its secret is shown once)",
            OptionalPerson,
            "anyone while `open_worker_registration` is not `false`; then administrators.",
        )
        .body(s.request::<WorkerInput>())
        .answers(201, "The worker with its secret.", s.response::<WorkerSecret>())
        .errors(&[403]),
        op(
            "GET",
            "/api/v1/workers/stats",
            "workerStats",
            "workers",
            "Closed tasks per worker",
            Caller,
            "signed-in people (the workers they may see: docs/tasks.md, \"Who sees a worker\") and workers (themselves).",
        )
        .answers(200, "One row per worker.", json!({"type": "array", "items": s.response::<WorkerStat>()})),
        op(
            "GET",
            "/api/v1/workers/:id",
            "getWorker",
            "workers",
            "A worker",
            Caller,
            "the worker itself, administrators, members of a project it asked to join (404 for anyone else).",
        )
        .path_type("id", integer())
        .answers(200, "The worker (never its secret).", worker.clone()),
        op(
            "PATCH",
            "/api/v1/workers/:id",
            "updateWorker",
            "workers",
            "Change a worker's alias, tags, meta",
            Caller,
            "the worker itself or an administrator.",
        )
        .path_type("id", integer())
        .body(s.request::<WorkerPatch>())
        .answers(200, "The worker.", worker)
        .errors(&[409]),
        op(
            "POST",
            "/api/v1/workers/:id",
            "controlWorker",
            "workers",
            "Control actions: pause, unpause, rotate_secret",
            Caller,
            "administrators (`pause`, `unpause`); the worker itself or an administrator (`rotate_secret`).",
        )
        .path_type("id", integer())
        .control(s, &actions("workers")),
        op(
            "GET",
            "/api/v1/logs",
            "listLogs",
            "workers",
            "Log entries",
            Person,
            "signed-in people: administrators every entry, others those of projects they may read.",
        )
        .listing(s, "Log", &crate::logs::RESOURCE, &["data"]),
        op(
            "POST",
            "/api/v1/logs",
            "appendLog",
            "workers",
            "Append a log entry",
            WorkerOnly,
            "workers (under a project: one the worker may read).",
        )
        .body(s.request::<LogInput>())
        .answers(201, "The entry.", s.response::<LogRecord>()),
    ]
}

fn schedules(s: &mut Schemas) -> Vec<Op> {
    let schedule = s.response::<Schedule>();
    let owner = "the schedule's owner or an administrator.";
    let uuid = json!({"type": "string"});
    let firing = s.response::<Firing>();
    vec![
        op(
            "GET",
            "/api/v1/schedules",
            "listSchedules",
            "schedules",
            "My schedules (all, for administrators)",
            Person,
            "signed-in people.",
        )
        .listing(s, "Schedule", &crate::schedules::RESOURCE, &["payload"]),
        op(
            "POST",
            "/api/v1/schedules",
            "createSchedule",
            "schedules",
            "Create a schedule",
            Person,
            "signed-in people (a task action needs EDIT on its project).",
        )
        .body(s.request::<ScheduleInput>())
        .answers(201, "The schedule.", schedule.clone())
        // A task action's project that the caller cannot see is absent.
        .errors(&[404]),
        op(
            "POST",
            "/api/v1/schedules/run-due",
            "runDueSchedules",
            "schedules",
            "Fire every due occurrence",
            OptionalPerson,
            "anyone (public by design: it only does what is due, once); administrators get the counts.",
        )
        .answers(200, "What was done (administrators).", firing.clone())
        .empty(204, "Done (anyone else).")
        .never_refuses_credentials(),
        op(
            "POST",
            "/api/v1/schedules/deliver-due",
            "deliverDueSchedules",
            "schedules",
            "Send due webhook deliveries",
            OptionalPerson,
            "anyone (public by design: it only sends what is due); administrators get the counts.",
        )
        .answers(200, "What was done (administrators).", firing)
        .empty(204, "Done (anyone else).")
        .never_refuses_credentials(),
        op("GET", "/api/v1/schedules/:id", "getSchedule", "schedules", "A schedule", Person, owner)
            .path_type("id", uuid.clone())
            .answers(200, "The schedule.", schedule.clone()),
        op(
            "PATCH",
            "/api/v1/schedules/:id",
            "updateSchedule",
            "schedules",
            "Change a schedule (`null` removes a member)",
            Person,
            owner,
        )
        .path_type("id", uuid.clone())
        .body(s.request::<ScheduleInput>())
        .answers(200, "The schedule.", schedule),
        op("DELETE", "/api/v1/schedules/:id", "deleteSchedule", "schedules", "Delete a schedule", Person, owner)
            .path_type("id", uuid.clone())
            .empty(204, "Deleted."),
        op(
            "POST",
            "/api/v1/schedules/:id",
            "controlSchedule",
            "schedules",
            "Control actions: run_now, enable, disable, requeue",
            Person,
            owner,
        )
        .path_type("id", uuid.clone())
        .control(s, &actions("schedules"))
        .errors(&[429])
        .no_plain_401(),
        op(
            "GET",
            "/api/v1/schedules/:id/failures",
            "listScheduleFailures",
            "schedules",
            "A schedule's failed deliveries",
            Person,
            owner,
        )
        .path_type("id", uuid)
        .listing(s, "ScheduleFailure", &crate::schedules::FAILURES, &[]),
    ]
}

fn rpc(s: &mut Schemas) -> Vec<Op> {
    let mut calls: Vec<Json> = METHODS
        .iter()
        .map(|method| {
            let properties: serde_json::Map<String, Json> = method
                .params
                .iter()
                .map(|param| (param.name.to_string(), crate::rpc::openrpc::param_schema(param.kind)))
                .collect();
            let required: Vec<&str> = method.params.iter().filter(|p| p.required).map(|p| p.name).collect();
            rpc_call(method.name, json!({"type": "object", "properties": properties, "required": required}))
        })
        .collect();
    calls.push(rpc_call(crate::rpc::DISCOVER, json!({"type": ["object", "null"]})));
    let call = s.named("RpcCall", json!({"oneOf": calls}));
    let batch = json!({"type": "array", "minItems": 1, "maxItems": crate::rpc::MAX_BATCH, "items": call.clone()});
    let answer = s.json_rpc_answer();
    vec![
        op(
            "POST",
            "/api/v1/rpc",
            "rpc",
            "rpc",
            "JSON-RPC 2.0 over the same services",
            OptionalCaller,
            "anyone may call; each method checks the caller as its native route does.",
        )
        .rpc_body(json!({"oneOf": [call, batch]}))
        .answers(
            200,
            "The answer, or one per call of a batch.",
            json!({"oneOf": [answer.clone(), {"type": "array", "items": answer}]}),
        )
        .empty(204, "Only notifications were sent.")
        .errors(&[403, 404, 429, 501]),
    ]
}

/// One JSON-RPC 2.0 call of `method` (object params only; no `id` = a notification).
fn rpc_call(method: &str, params: Json) -> Json {
    json!({"type": "object", "required": ["jsonrpc", "method"], "properties": {
        "jsonrpc": {"const": "2.0"}, "method": {"const": method}, "params": params,
        "id": {"type": ["integer", "string", "null"]}}})
}
