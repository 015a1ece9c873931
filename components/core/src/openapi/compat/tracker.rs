//! task_tracker's surface (component `tracker`, `docs/tracker.md`): its envelope, its request bodies (the
//! types of `compat::tracker`) and the `content` each handler builds with `json!`, one operation per route.

use super::{Head, Operation, array, boolean, described, document as assemble, int, nullable, object, op, string};
use crate::compat::tracker::{
    AccessBody, BulkBody, CredentialsBody, GitPush, LogBody, LogQueryBody, ProjectBody, ReleaseBody, RoleBody,
    SecretBody, SetPausedBody, WebhookSecretBody, WorkerBody,
};
use crate::openapi::schemas::Schemas;
use serde_json::{Value as Json, json};

const TAG: &str = "task_tracker";
const DESCRIPTION: &str = "task_tracker's API (SPEC §9), served at the root path by component `tracker` so that \
    task_tracker's workers and scripts run unchanged (docs/tracker.md). Every answer is task_tracker's envelope \
    `{\"ok\", \"message\", \"content\"}`: an empty `message` and an absent `content` are left out. Errors are \
    `{\"ok\": false, \"message\", \"code\"}` (`code` is Conveyor's machine code); task_tracker had no 409, 415 or \
    422, so those answer 400. Bodies are read as JSON whatever their `Content-Type` (task_tracker's Python client \
    sends none), unknown fields are ignored and an empty body reads as `{}`.";
const EMPTY_BODY: &str = "Read as JSON whatever the `Content-Type`; an empty body is `{}`.";

/// The document.
pub fn document() -> Json {
    let mut s = Schemas::new();
    let operations = Table::new(&mut s).operations(&mut s);
    let head = Head { title: "Conveyor: task_tracker surface", description: DESCRIPTION, security_schemes: schemes() };
    assemble(head, s, operations)
}

fn schemes() -> Json {
    json!({
        "workerId": {"type": "apiKey", "in": "header", "name": "X-Worker-ID",
            "description": "A worker's id; always sent with `X-Secret` (task_tracker's worker credentials)."},
        "workerSecret": {"type": "apiKey", "in": "header", "name": "X-Secret",
            "description": "The worker's secret (base64), shown once by `/worker/create`."},
        "workerAuthorization": {"type": "apiKey", "in": "header", "name": "Authorization",
            "description": "Conveyor's other spelling of worker credentials: `Worker <id>:<secret>`."},
        "bearer": {"type": "http", "scheme": "bearer",
            "description": "A manager (Conveyor user): an API token, a session token, or the administrator token."},
        "token": {"type": "apiKey", "in": "header", "name": "Authorization",
            "description": "The same credentials as `bearer`, as `Token <key>`."},
        "sessionCookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE,
            "description": "The session `/login` sets. A change made with the cookie alone from another site is refused (403)."},
    })
}

fn worker() -> Vec<Json> {
    vec![json!({"workerId": [], "workerSecret": []}), json!({"workerAuthorization": []})]
}

fn person() -> Vec<Json> {
    vec![json!({"bearer": []}), json!({"token": []}), json!({"sessionCookie": []})]
}

fn anyone() -> Vec<Json> {
    vec![json!({})]
}

/// task_tracker's words for an error status.
fn error_words(status: u16) -> &'static str {
    match status {
        400 => "Invalid body or fields (task_tracker's 400; Conveyor's 409, 415 and 422 answer 400 too)",
        401 => "Missing or wrong credentials",
        403 => "Not allowed",
        404 => "Not found, or hidden from the caller",
        413 => "Body too large",
        _ => "Rate limited (`rate_limit_delay`, `Retry-After`)",
    }
}

/// The shapes every operation shares: the error envelope and the plain success.
struct Table {
    error: Json,
    ok: Json,
}

impl Table {
    fn new(s: &mut Schemas) -> Self {
        let error = s.named(
            "Error",
            json!({"type": "object", "description": "An error in task_tracker's envelope.",
                "required": ["ok", "message", "code"], "properties": {
                "ok": {"const": false},
                "message": {"type": "string", "description": "What went wrong."},
                "code": {"type": "string", "description": "Conveyor's machine code of the error (an addition task_tracker's clients ignore)."},
                "rate_limit_delay": {"type": "number", "description": "Seconds to wait (429 only; `Retry-After` says the same)."}}}),
        );
        let ok = s.named(
            "Ok",
            described(
                object(json!({"ok": boolean(), "message": string()}), &["ok"]),
                "A plain success: `{\"ok\": true}`.",
            ),
        );
        Self { error, ok }
    }

    /// Finishes an operation: its success answer, its errors, and `default` for any other error.
    fn done(&self, operation: Operation, success: Json, statuses: &[u16]) -> Operation {
        let listed: Vec<(u16, &str)> = statuses.iter().map(|status| (*status, error_words(*status))).collect();
        operation.json("200", "Done", success).errors(&self.error, &listed).json(
            "default",
            "Any other error, in the same envelope",
            self.error.clone(),
        )
    }

    /// [`Table::done`] with the plain success.
    fn ok(&self, operation: Operation, statuses: &[u16]) -> Operation {
        self.done(operation, self.ok.clone(), statuses)
    }

    fn operations(&self, s: &mut Schemas) -> Vec<Operation> {
        [self.workers(s), self.tasks(s), self.projects(s), self.maintenance(s), self.accounts(s)].concat()
    }

    fn workers(&self, s: &mut Schemas) -> Vec<Operation> {
        let index = envelope(
            s,
            "IndexAnswer",
            object(
                json!({"name": {"const": "task_tracker"}, "version": string(),
            "server": string()}),
                &["name", "version", "server"],
            ),
        );
        let fields =
            json!({"id": int(), "created": described(int(), "Unix seconds"), "alias": string(), "paused": boolean()});
        let mut new_fields = fields.clone();
        new_fields["secret"] = described(string(), "32 random bytes, base64; shown this once");
        let worker_schema = s.named("Worker", object(fields, &["id", "created", "alias", "paused"]));
        let new_worker = s.named("NewWorker", object(new_fields, &["id", "created", "alias", "paused", "secret"]));
        let created = envelope(s, "WorkerCreated", object(json!({"worker": new_worker}), &["worker"]));
        let answer = envelope(s, "WorkerAnswer", object(json!({"worker": worker_schema}), &["worker"]));
        let stat = object(
            json!({"id": int(), "alias": string(), "closed_task_count": int(), "paused": boolean()}),
            &["id", "alias", "closed_task_count", "paused"],
        );
        let stats = envelope(s, "WorkerStats", object(json!({"stats": array(stat)}), &["stats"]));
        let worker_body = s.request::<WorkerBody>();
        vec![
            self.done(op("GET", "/", "tracker_index", TAG, "task_tracker's name and the version of its API served", "anyone")
                .security(&[]), index, &[]),
            self.done(body(op("POST", "/worker/create", "tracker_worker_create", TAG, "Register a worker",
                "anyone (an administrator when the server sets `open_worker_registration` to `false`); the worker headers are not read here")
                .security(&[&person(), &anyone()]), worker_body.clone()), created, &[400, 401, 403, 429]),
            self.ok(body(op("POST", "/worker/update", "tracker_worker_update", TAG, "Change the calling worker's alias", "the worker")
                .security(&[&worker()]), worker_body), &[400, 401, 403]),
            self.done(op("GET", "/worker/get/:id", "tracker_worker_get", TAG, "A worker", "the worker itself, administrators, members of a project it asked to join")
                .security(&[&worker(), &person()]).path("id", "Worker id", int()), answer, &[401, 403, 404]),
            self.ok(body(op("POST", "/worker/set_paused", "tracker_worker_set_paused", TAG, "Pause or unpause a worker",
                "administrators").security(&[&person()]), s.request::<SetPausedBody>()), &[400, 401, 403, 404]),
            self.done(op("GET", "/worker/stats", "tracker_worker_stats", TAG, "Every worker's closed-task count",
                "workers, signed-in managers").security(&[&worker(), &person()]), stats, &[401, 403]),
        ]
    }

    fn tasks(&self, s: &mut Schemas) -> Vec<Operation> {
        let project = project_schema(s);
        let task = s.named("Task", described(object(json!({
            "id": int(), "priority": int(), "assignee": described(int(), "The worker holding it; 0 when none"),
            "retries": int(), "max_retries": int(),
            "status": {"enum": [1, 2, 3, 4], "description": "1 new (also while assigned), 2 failed, 3 closed, 4 cancelled"},
            "recipe": string(), "max_assign_time": int(), "assign_time": described(int(), "Unix seconds; 0 when unassigned"),
            "verification_count": int(), "project": project}),
            &["id", "priority", "assignee", "retries", "max_retries", "status", "recipe", "max_assign_time", "assign_time",
              "verification_count", "project"]), "A task as task_tracker shows it, with its project."));
        let claimed = s.named("Claimed", described(object(json!({"ok": boolean(), "message": string(),
            "content": object(json!({"task": task}), &["task"])}), &["ok"]),
            "A claim: `content` only when a task was claimed; nothing claimable is `{\"ok\": false, \"message\": \"No task available\"}`."));
        let released = envelope(s, "Released", object(json!({"updated": boolean()}), &["updated"]));
        let log_row = object(
            json!({
            "level": described(nullable("integer"), "logrus: 2 error, 3 warn, 4 info, 5 debug, 6 trace"),
            "message": nullable("string"), "data": described(nullable("string"), "The entry's scope"),
            "timestamp": nullable("integer"), "worker": nullable("integer"), "project": nullable("integer")}),
            &["level", "message", "data", "timestamp", "worker", "project"],
        );
        let logs = envelope(s, "Logs", object(json!({"logs": array(log_row)}), &["logs"]));
        let submit = &[400, 401, 403, 404, 413, 429];
        vec![
            self.ok(body(op("POST", "/task/submit", "tracker_task_submit", TAG, "Submit a task", "workers with SUBMIT, managers with EDIT")
                .security(&[&worker(), &person()])
                .note("`hash64` is also read as `hash_u64` (task_tracker's code); 0 and \"\" mean no dedupe key."),
                s.request::<crate::compat::tracker::SubmitBody>()), submit),
            self.ok(body(op("POST", "/task/bulk_submit", "tracker_task_bulk_submit", TAG, "Submit tasks of one project in one transaction",
                "workers with SUBMIT, managers with EDIT").security(&[&worker(), &person()])
                .note("1 or more tasks, all for one project; duplicates of an open task or of an earlier item are skipped."),
                s.request::<BulkBody>()), submit),
            self.done(op("GET", "/task/get/:project", "tracker_task_get", TAG, "Claim the next task of a project",
                "workers (ASSIGN on private or hidden projects)").security(&[&worker()]).path("project", "Project id", int()),
                claimed, &[401, 403, 404, 429]),
            self.done(body(op("POST", "/task/release", "tracker_task_release", TAG, "Release a claimed task", "the assignee")
                .security(&[&worker()])
                .note("`result` 0 OK, 1 FAIL, 2 SKIP. `updated` is task_tracker's (docs/tracker.md); a release the worker may not make is `updated: false` with the reason in `message`."),
                s.request::<ReleaseBody>()), released, &[400, 401, 403, 404]),
            self.ok(body(op("POST", "/log/:level", "tracker_log", TAG, "File a log entry", "workers").security(&[&worker()])
                .path("level", "Log level (any other is a 404)", json!({"enum": ["trace", "debug", "info", "warn", "error"]})),
                s.request::<LogBody>()), &[400, 401, 403, 404]),
            self.done(body(op("POST", "/logs", "tracker_logs", TAG, "Read log entries",
                "signed-in managers (administrators every entry, others those of projects they may read)").security(&[&person()])
                .note("`level` is a logrus number 0–6 (0 and 1 read as error; absent = every level), `since` Unix seconds."),
                s.request::<LogQueryBody>()), logs, &[400, 401, 403]),
        ]
    }

    fn projects(&self, s: &mut Schemas) -> Vec<Operation> {
        let project = project_schema(s);
        let readers = || [worker(), person(), anyone()].concat();
        let answer = envelope(s, "ProjectAnswer", object(json!({"project": project}), &["project"]));
        let list = envelope(s, "ProjectList", object(json!({"projects": array(project.clone())}), &["projects"]));
        let secret = envelope(
            s,
            "SecretAnswer",
            object(
                json!({"secret": described(string(),
            "\"\" when unset; a non-string value set natively is its JSON text")}),
                &["secret"],
            ),
        );
        let webhook =
            envelope(s, "WebhookSecretAnswer", object(json!({"webhook_secret": string()}), &["webhook_secret"]));
        let created = envelope(s, "ProjectCreated", object(json!({"id": int()}), &["id"]));
        let project_body = s.request::<ProjectBody>();
        let snapshot = described(
            object(
                json!({
            "new_task_count": described(int(), "New and assigned tasks (task_tracker's status 1)"),
            "failed_task_count": int(), "closed_task_count": int(), "worker_access_count": int(),
            "awaiting_verification_count": int(), "assigned_task_count": int(), "active_workers": int(),
            "timestamp": described(int(), "Unix seconds")}),
                &[
                    "new_task_count",
                    "failed_task_count",
                    "closed_task_count",
                    "worker_access_count",
                    "awaiting_verification_count",
                    "assigned_task_count",
                    "active_workers",
                    "timestamp",
                ],
            ),
            "One snapshot, taken now (Conveyor keeps no history)",
        );
        let monitoring = envelope(s, "Monitoring", object(json!({"snapshots": array(snapshot)}), &["snapshots"]));
        let assignees = envelope(
            s,
            "Assignees",
            object(
                json!({"assignees": array(object(json!({
            "assignee": described(string(), "The worker's alias"), "worker": int(), "task_count": int()}),
            &["assignee", "worker", "task_count"]))}),
                &["assignees"],
            ),
        );
        let read = &[401, 403, 404];
        let change = &[400, 401, 403, 404];
        let id = |operation: Operation| {
            operation.path("id", "Project id (a positive integer; anything else is a 404)", int())
        };
        vec![
            self.ok(
                body(
                    op(
                        "POST",
                        "/project/request_access",
                        "tracker_project_request_access",
                        TAG,
                        "Ask for access to a project",
                        "workers",
                    )
                    .security(&[&worker()]),
                    s.request::<AccessBody>(),
                ),
                change,
            ),
            self.done(
                id(op(
                    "GET",
                    "/project/get/:id",
                    "tracker_project_get",
                    TAG,
                    "A project",
                    "those who may read it (anyone for a public project)",
                )
                .security(&[&readers()])),
                answer,
                read,
            ),
            self.done(
                op("GET", "/project/list", "tracker_project_list", TAG, "The projects the caller may read", "anyone")
                    .security(&[&readers()]),
                list,
                &[401],
            ),
            self.done(
                id(op(
                    "GET",
                    "/project/secret/:id",
                    "tracker_project_secret_get",
                    TAG,
                    "A project's secret",
                    "workers with an accepted access grant, managers with SECRET",
                )
                .security(&[&worker(), &person()])),
                secret,
                read,
            ),
            self.ok(
                body(
                    id(op(
                        "POST",
                        "/project/secret/:id",
                        "tracker_project_secret_set",
                        TAG,
                        "Set a project's secret",
                        "managers with SECRET",
                    )
                    .security(&[&person()])),
                    s.request::<SecretBody>(),
                ),
                change,
            ),
            self.done(
                id(op(
                    "GET",
                    "/project/webhook_secret/:id",
                    "tracker_webhook_secret_get",
                    TAG,
                    "A project's webhook secret",
                    "managers with SECRET",
                )
                .security(&[&person()])),
                webhook,
                read,
            ),
            self.ok(
                body(
                    id(op(
                        "POST",
                        "/project/webhook_secret/:id",
                        "tracker_webhook_secret_set",
                        TAG,
                        "Set a project's webhook secret",
                        "managers with SECRET",
                    )
                    .security(&[&person()])),
                    s.request::<WebhookSecretBody>(),
                ),
                change,
            ),
            self.done(
                body(
                    op(
                        "POST",
                        "/project/create",
                        "tracker_project_create",
                        TAG,
                        "Create a project",
                        "signed-in managers (the creator gets every role)",
                    )
                    .security(&[&person()])
                    .note("`public` and `hidden` together are a 400; both false is private."),
                    project_body.clone(),
                ),
                created,
                &[400, 401, 403],
            ),
            self.ok(
                body(
                    id(op(
                        "POST",
                        "/project/update/:id",
                        "tracker_project_update",
                        TAG,
                        "Change a project (every field)",
                        "managers with EDIT (and MANAGE_ACCESS to change the visibility)",
                    )
                    .security(&[&person()])
                    .note("`paused`, `assign_rate` and `submit_rate` stay as they are when absent.")),
                    project_body,
                ),
                change,
            ),
            self.done(
                id(op(
                    "GET",
                    "/project/monitoring-between/:id",
                    "tracker_project_monitoring_between",
                    TAG,
                    "Monitoring snapshots (one, taken now)",
                    "those who may read the project",
                )
                .security(&[&readers()])
                .note("task_tracker's `from`/`to` query parameters are not read.")),
                monitoring.clone(),
                read,
            ),
            self.done(
                id(op(
                    "GET",
                    "/project/monitoring/:id",
                    "tracker_project_monitoring",
                    TAG,
                    "Monitoring snapshots (one, taken now)",
                    "those who may read the project",
                )
                .security(&[&readers()])),
                monitoring,
                read,
            ),
            self.done(
                id(op(
                    "GET",
                    "/project/assignees/:id",
                    "tracker_project_assignees",
                    TAG,
                    "Workers holding tasks of the project",
                    "those who may read the project",
                )
                .security(&[&readers()])),
                assignees,
                read,
            ),
        ]
    }

    fn maintenance(&self, s: &mut Schemas) -> Vec<Operation> {
        let access = envelope(
            s,
            "AccessList",
            object(
                json!({"accesses": array(object(json!({
            "worker": object(json!({"id": int(), "alias": string()}), &["id", "alias"]), "project": int(),
            "assign": boolean(), "submit": boolean(), "request": described(boolean(), "true while pending")}),
            &["worker", "project", "assign", "submit", "request"]))}),
                &["accesses"],
            ),
        );
        let affected = envelope(s, "Affected", object(json!({"affected_tasks": int()}), &["affected_tasks"]));
        let pushed = s.named("Pushed", described(object(json!({"ok": boolean(), "message": string(),
            "content": object(json!({"project": int(), "version": string()}), &["project", "version"])}), &["ok"]),
            "A push to the default branch: the project's new version. Other pushes answer `{\"ok\": true, \"message\"}` without `content`."));
        let id = |operation: Operation| {
            operation.path("id", "Project id (a positive integer; anything else is a 404)", int())
        };
        let managers = "managers with MANAGE_ACCESS";
        let mut operations = vec![
            self.done(
                id(op(
                    "GET",
                    "/project/access_list/:id",
                    "tracker_project_access_list",
                    TAG,
                    "Workers' access grants and requests",
                    managers,
                )
                .security(&[&person()])),
                access,
                &[401, 403, 404],
            ),
        ];
        for (pattern, id_name, summary) in [
            ("/project/accept_request/:id/:wid", "tracker_project_accept_request", "Accept a worker's access request"),
            ("/project/reject_request/:id/:wid", "tracker_project_reject_request", "Reject a worker's access request"),
        ] {
            operations.push(self.ok(
                id(op("POST", pattern, id_name, TAG, summary, managers).security(&[&person()])).path(
                    "wid",
                    "Worker id",
                    int(),
                ),
                &[400, 401, 403, 404],
            ));
        }
        for (pattern, id_name, summary) in [
            ("/project/reset_failed_tasks/:id", "tracker_project_reset_failed", "Make failed tasks new again"),
            ("/project/hard_reset/:id", "tracker_project_hard_reset", "Delete every task of the project"),
            ("/project/reclaim_assigned_tasks/:id", "tracker_project_reclaim_assigned", "Take assigned tasks back"),
        ] {
            operations.push(self.done(
                id(op("POST", pattern, id_name, TAG, summary, "managers with MAINTENANCE").security(&[&person()])),
                affected.clone(),
                &[401, 403, 404],
            ));
        }
        operations.push(self.done(body(op("POST", "/git/receivehook", "tracker_git_receivehook", TAG,
            "A Gogs/Gitea/GitHub push event", "signed with the project's webhook secret (no other credentials)")
            .security(&[])
            .note("The project is the one whose `git_repo` equals `repository.full_name`. Signature: HMAC-SHA256 of the raw body, hex.")
            .request_header("X-Hub-Signature-256", "`sha256=<hex>`").request_header("X-Gogs-Signature", "`<hex>`"),
            s.request::<GitPush>()), pushed, &[400, 403, 404]));
        operations
    }

    fn accounts(&self, s: &mut Schemas) -> Vec<Operation> {
        let manager = s.named(
            "Manager",
            described(
                object(
                    json!({"id": int(), "username": string(),
            "website_admin": boolean(), "register_time": described(int(), "Unix seconds")}),
                    &["id", "username", "website_admin", "register_time"],
                ),
                "A manager (a Conveyor user).",
            ),
        );
        let logged_in = envelope(s, "LoggedIn", object(json!({"manager": manager.clone()}), &["manager"]));
        let account = s.named("Account", described(object(json!({"ok": boolean(), "message": string(),
            "content": object(json!({"logged_in": boolean(), "manager": described(object(json!({"id": int(),
                "username": string(), "website_admin": boolean(), "register_time": int()}), &["id", "username", "website_admin"]),
                "The manager (the built-in administrator has no `register_time`); absent when not signed in")}), &["logged_in"])}),
            &["ok", "content"]), "`/account`: HTTP 200 signed in or not (`ok: false` when not)."));
        let managers = envelope(s, "Managers", object(json!({"managers": array(manager)}), &["managers"]));
        let project_managers = envelope(
            s,
            "ProjectManagers",
            object(
                json!({"managers": array(object(json!({
            "manager": object(json!({"id": int(), "username": string()}), &["id", "username"]),
            "role": described(int(), "Conveyor's role bitmask")}), &["manager", "role"]))}),
                &["managers"],
            ),
        );
        let credentials = s.request::<CredentialsBody>();
        let mut operations = vec![
            self.ok(body(op("POST", "/register", "tracker_register", TAG, "Sign up as a manager",
                "anyone, when the server sets `allow_signup` to `true` (the account must be activated before `/login`)")
                .security(&[]).note("Needs `username`, `password` and `email`; `message` says what happens next."),
                credentials.clone()), &[400, 403, 429]),
            self.errors_only(body(op("POST", "/login", "tracker_login", TAG, "Sign in as a manager", "anyone").security(&[]), credentials)
                .json("200", "Signed in; the session is the `conveyor_session` cookie", logged_in)
                .header("Set-Cookie", "`conveyor_session=<token>; Path=/; Max-Age=…; HttpOnly; SameSite=Lax`"),
                &[400, 401, 403, 429]),
            self.errors_only(op("GET", "/logout", "tracker_logout", TAG, "End the session", "a signed-in manager")
                .security(&[&person()]).answer("204", "Signed out; the cookie is cleared", None)
                .header("Set-Cookie", "`conveyor_session=; …; Max-Age=0`"), &[401]),
            self.done(op("GET", "/account", "tracker_account", TAG, "The signed-in manager",
                "anyone (anonymous: `ok: false`, `logged_in: false`)").security(&[&person(), &anyone()]), account, &[401]),
            self.done(op("GET", "/manager/list", "tracker_manager_list", TAG, "Every manager", "administrators")
                .security(&[&person()]), managers, &[401, 403]),
            self.done(op("GET", "/manager/list_for_project/:id", "tracker_manager_list_for_project", TAG,
                "Managers with a role on a project", "managers with MANAGE_ACCESS").security(&[&person()])
                .path("id", "Project id", int()), project_managers, &[401, 403, 404]),
        ];
        for (pattern, id_name, summary) in [
            ("/manager/promote/:id", "tracker_manager_promote", "Make a user an administrator"),
            ("/manager/demote/:id", "tracker_manager_demote", "Take a user's administrator rights"),
        ] {
            operations.push(
                self.errors_only(
                    op("GET", pattern, id_name, TAG, summary, "administrators, not on themselves")
                        .security(&[&person()])
                        .path("id", "User id", int())
                        .answer("204", "Done", None),
                    &[400, 401, 403, 404],
                ),
            );
        }
        operations.push(
            self.ok(
                body(
                    op(
                        "POST",
                        "/manager/set_role_for_project/:id",
                        "tracker_manager_set_role",
                        TAG,
                        "Set a user's role on a project",
                        "managers with MANAGE_ACCESS",
                    )
                    .security(&[&person()])
                    .path("id", "Project id", int())
                    .note("`manager` is a user id; `role` a role bitmask, 0 removes the grant."),
                    s.request::<RoleBody>(),
                ),
                &[400, 401, 403, 404],
            ),
        );
        operations
    }

    /// Errors and `default` for an operation whose success is already stated.
    fn errors_only(&self, operation: Operation, statuses: &[u16]) -> Operation {
        let listed: Vec<(u16, &str)> = statuses.iter().map(|status| (*status, error_words(*status))).collect();
        operation.errors(&self.error, &listed).json(
            "default",
            "Any other error, in the same envelope",
            self.error.clone(),
        )
    }
}

/// A body read as task_tracker reads it (any content type, empty = `{}`).
fn body(operation: Operation, schema: Json) -> Operation {
    operation.body("application/json", schema).optional_body(EMPTY_BODY)
}

/// An envelope `name` whose `content` is `content`.
fn envelope(s: &mut Schemas, name: &str, content: Json) -> Json {
    s.named(name, object(json!({"ok": boolean(), "message": string(), "content": content}), &["ok", "content"]))
}

/// A project as task_tracker shows it (`compat::tracker::project`).
fn project_schema(s: &mut Schemas) -> Json {
    s.named(
        "Project",
        described(
            object(
                json!({
        "id": int(), "priority": int(), "name": string(), "clone_url": string(), "git_repo": string(),
        "version": string(), "motd": string(),
        "public": described(boolean(), "`public`/`hidden` encode the visibility; both false = private"),
        "hidden": boolean(), "chain": described(int(), "The project failed tasks chain to; 0 = none"),
        "paused": boolean(), "assign_rate": json!({"type": "number"}), "submit_rate": json!({"type": "number"})}),
                &[
                    "id",
                    "priority",
                    "name",
                    "clone_url",
                    "git_repo",
                    "version",
                    "motd",
                    "public",
                    "hidden",
                    "chain",
                    "paused",
                    "assign_rate",
                    "submit_rate",
                ],
            ),
            "A project as task_tracker shows it.",
        ),
    )
}
