//! Seed Scheduler's surface (component `scheduler`, `docs/scheduler.md`): DRF's shapes (`compat::seed`
//! builds them with `json!` from the native resources), one operation per route of the component's table,
//! including the methods a path does not serve, which the table routes to DRF's 405.

use super::{Head, Operation, array, boolean, described, document as assemble, int, nullable, object, op, string};
use crate::openapi::schemas::Schemas;
use serde_json::{Value as Json, json};

const TAG: &str = "Seed Scheduler";
const DESCRIPTION: &str = "Seed Scheduler's REST API (SPEC §9), served by component `scheduler` so that \
    `SchedulerApiClient` of `seed-services-client` works unchanged (docs/scheduler.md). A Seed schedule is a native \
    webhook schedule. Shapes and errors are Django REST framework's: `{\"detail\": \"...\"}`, or \
    `{\"<field>\": [\"<message>\", ...]}` for a 400 validation error. Every path is also served with the trailing \
    slash Seed's clients send (`/api/v1/schedule/`). A method a path does not serve is DRF's 405 \
    `{\"detail\": \"Method \\\"X\\\" not allowed.\"}`, answered after authentication; those operations are listed \
    too, because the component declares them.";

/// The paths of the component's table (`components/scheduler/src/lib.rs`); each routes every one of [`METHODS`].
const PATHS: [&str; 11] = [
    "/api/v1/user/token",
    "/api/v1/user",
    "/api/v1/user/:id",
    "/api/v1/group",
    "/api/v1/group/:id",
    "/api/v1/schedule",
    "/api/v1/schedule/:id",
    "/api/v1/failed-tasks",
    "/api/v1/failed-tasks/:id",
    "/api/health",
    "/api/metrics",
];
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The document: the served operations, and a 405 operation for every other method of each path.
pub fn document() -> Json {
    let mut s = Schemas::new();
    let table = Table::new(&mut s);
    let mut served = table.served(&mut s);
    let mut operations = Vec::new();
    for pattern in PATHS {
        for method in METHODS {
            let found = served.iter().position(|operation| operation.method == method && operation.pattern == pattern);
            operations.push(match found {
                Some(index) => served.remove(index),
                None => table.not_allowed(method, pattern),
            });
        }
    }
    assert!(served.is_empty(), "operations on paths the table does not route");
    let head =
        Head { title: "Conveyor: Seed Scheduler surface", description: DESCRIPTION, security_schemes: schemes() };
    assemble(head, s, operations)
}

fn schemes() -> Json {
    json!({
        "token": {"type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Token <key>` (Seed's spelling): a Conveyor API token, session token or the administrator token."},
        "bearer": {"type": "http", "scheme": "bearer", "description": "The same credentials as `Bearer <key>`."},
        "sessionCookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE,
            "description": "Conveyor's session cookie (a change made with it alone from another site is refused)."},
    })
}

fn signed_in() -> Vec<Json> {
    vec![json!({"token": []}), json!({"bearer": []}), json!({"sessionCookie": []})]
}

/// DRF's words for an error status.
fn error_words(status: u16) -> &'static str {
    match status {
        400 => "Invalid body: messages by field, or `detail` for malformed JSON",
        401 => {
            "`Authentication credentials were not provided.` or `Invalid token.` (`WWW-Authenticate: Basic realm=\"api\"`)"
        }
        403 => "`You do not have permission to perform this action.`",
        404 => "`Not found.`",
        405 => "`Method \"X\" not allowed.`",
        _ => "`Unsupported media type in request.`",
    }
}

/// The error bodies every operation shares.
struct Table {
    detail: Json,
    invalid: Json,
}

impl Table {
    fn new(s: &mut Schemas) -> Self {
        let detail =
            s.named("Detail", described(object(json!({"detail": string()}), &["detail"]), "DRF's error body."));
        let fields = s.named(
            "FieldErrors",
            json!({"type": "object", "additionalProperties": array(string()),
            "description": "DRF's validation error: messages by field (`non_field_errors` for the body as a whole)."}),
        );
        Self { detail: detail.clone(), invalid: json!({"anyOf": [fields, detail]}) }
    }

    /// Every route starts so: signed in, under the surface's tag.
    fn op(&self, method: &'static str, pattern: &'static str, id: &str, summary: &str, who: &str) -> Operation {
        op(method, pattern, id, TAG, summary, who).security(&[&signed_in()])
    }

    /// Finishes an operation with its errors and `default` for the rest.
    fn errors(&self, mut operation: Operation, statuses: &[u16]) -> Operation {
        for status in statuses {
            let schema = if *status == 400 { &self.invalid } else { &self.detail };
            operation = operation.errors(schema, &[(*status, error_words(*status))]);
        }
        operation.json(
            "default",
            "Any other error (`{\"detail\"}`: 413, 429 with `Retry-After`, 500)",
            self.detail.clone(),
        )
    }

    /// A method `pattern` does not serve: DRF's 405, after authentication.
    fn not_allowed(&self, method: &'static str, pattern: &'static str) -> Operation {
        let slug: String = pattern
            .trim_start_matches('/')
            .chars()
            .filter(|c| *c != ':')
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let id = format!("seed_{}_{slug}_not_allowed", method.to_ascii_lowercase());
        let operation = op(
            method,
            pattern,
            &id,
            "Seed Scheduler: not allowed",
            &format!("Not allowed ({method})"),
            "anyone signed in",
        )
        .security(&[&signed_in()])
        .note("DRF's 405 for a method this path does not serve, answered after authentication (401 first).")
        .json("405", &format!("`Method \"{method}\" not allowed.`"), self.detail.clone());
        self.errors(operation, &[401])
    }

    fn served(&self, s: &mut Schemas) -> Vec<Operation> {
        [self.accounts(s), self.schedules(s), self.failures(s), self.service(s)].concat()
    }

    fn accounts(&self, s: &mut Schemas) -> Vec<Operation> {
        let user = s.named(
            "User",
            described(
                object(
                    json!({"url": string(), "username": string(), "email": string(),
            "groups": described(array(string()), "Group URLs")}),
                    &["url", "username", "email", "groups"],
                ),
                "A user.",
            ),
        );
        let group = s.named(
            "Group",
            described(object(json!({"url": string(), "name": string()}), &["url", "name"]), "A group."),
        );
        let users = page(s, "UserPage", user.clone());
        let groups = page(s, "GroupPage", group.clone());
        let id =
            |operation: Operation| operation.path("id", "The id (a positive integer; anything else is a 404)", int());
        vec![
            self.errors(self.op("POST", "/api/v1/user/token", "seed_user_token", "A new API token for the user with an email address",
                "administrators (403 for anyone else, before the body is judged)")
                .note("The user is found by email (case-insensitive) or created; a new token named `seed-scheduler` is issued every time.")
                .body("application/json", object(json!({"email": string()}), &["email"]))
                .json("201", "Created", object(json!({"token": string()}), &["token"])), &[400, 401, 403, 415]),
            self.errors(paged(self.op("GET", "/api/v1/user", "seed_users", "Every user", "administrators"))
                .json("200", "A page of users", users), &[400, 401, 403]),
            self.errors(id(self.op("GET", "/api/v1/user/:id", "seed_user", "A user", "administrators, or the user themselves"))
                .json("200", "The user", user), &[401, 403, 404]),
            self.errors(paged(self.op("GET", "/api/v1/group", "seed_groups", "Every group", "anyone signed in"))
                .json("200", "A page of groups", groups), &[400, 401, 403]),
            self.errors(id(self.op("GET", "/api/v1/group/:id", "seed_group", "A group", "anyone signed in"))
                .json("200", "The group", group), &[401, 403, 404]),
        ]
    }

    fn schedules(&self, s: &mut Schemas) -> Vec<Operation> {
        let schedule = s.named("Schedule", described(object(json!({
            "url": string(), "id": {"type": "string", "format": "uuid"},
            "frequency": {"type": "null", "description": "Not stored: always null."},
            "cron_definition": nullable("string"), "interval_definition": nullable("string"),
            "endpoint": nullable("string"), "payload": {"description": "Any JSON value (an object by default)."},
            "auth_token": {"type": "null", "description": "Write-only: always shown as null."},
            "next_send_at": described(nullable("string"), "The next firing (`2019-12-05T08:58:15Z`); null while disabled."),
            "enabled": boolean(), "created_at": nullable("string"),
            "created_by": described(nullable("string"), "The owner's user URL; null for the built-in administrator."),
            "updated_at": nullable("string"), "updated_by": described(nullable("string"), "The owner, as `created_by`.")}),
            &["url", "id", "frequency", "cron_definition", "interval_definition", "endpoint", "payload", "auth_token",
              "next_send_at", "enabled", "created_at", "created_by", "updated_at", "updated_by"]),
            "A schedule (Seed's 14 fields)."));
        let write = s.named("ScheduleWrite", described(object(json!({
            "endpoint": described(string(), "An absolute http(s) URL."),
            "cron_definition": described(nullable("string"), "5 fields or `@daily`…; exactly one of the two definitions."),
            "interval_definition": described(nullable("string"), "`<n> days|hours|minutes|seconds`."),
            "payload": {"description": "Any JSON value; null = `{}`."},
            "auth_token": described(nullable("string"), "Sent as `Authorization: Token <auth_token>` with each delivery."),
            "enabled": {"type": ["boolean", "string", "integer"], "description": "DRF's booleans (`true`, `\"yes\"`, `1`, …)."}}), &[]),
            "The members a body may state; read-only and unknown keys are ignored, `null` clears a member."));
        let schedules = page(s, "SchedulePage", schedule.clone());
        let id =
            |operation: Operation| operation.path("id", "The schedule's id (a UUID; anything else is a 404)", string());
        let change = &[400, 401, 403, 404, 415];
        vec![
            self.errors(
                paged(
                    self.op(
                        "GET",
                        "/api/v1/schedule",
                        "seed_schedules",
                        "The caller's webhook schedules",
                        "anyone signed in (every schedule for administrators)",
                    )
                    .note("Task schedules (native only) are not listed."),
                )
                .json("200", "A page of schedules", schedules),
                &[400, 401, 403],
            ),
            self.errors(
                self.op(
                    "POST",
                    "/api/v1/schedule",
                    "seed_schedule_create",
                    "Create a webhook schedule",
                    "anyone signed in",
                )
                .note("`endpoint` is required.")
                .body("application/json", write.clone())
                .json("201", "Created", schedule.clone())
                .header("Location", "The schedule's URL."),
                &[400, 401, 403, 415],
            ),
            self.errors(
                id(self.op(
                    "GET",
                    "/api/v1/schedule/:id",
                    "seed_schedule",
                    "A schedule",
                    "its owner, or administrators",
                ))
                .json("200", "The schedule", schedule.clone()),
                &[401, 403, 404],
            ),
            self.errors(
                id(self.op(
                    "PUT",
                    "/api/v1/schedule/:id",
                    "seed_schedule_replace",
                    "Replace a schedule",
                    "its owner, or administrators",
                ))
                .note("`endpoint` is required; members left out keep their values (DRF's update).")
                .body("application/json", write.clone())
                .json("200", "The schedule", schedule.clone()),
                change,
            ),
            self.errors(
                id(self.op(
                    "PATCH",
                    "/api/v1/schedule/:id",
                    "seed_schedule_update",
                    "Change a schedule",
                    "its owner, or administrators",
                ))
                .note("Only the members named change.")
                .body("application/json", write)
                .json("200", "The schedule", schedule),
                change,
            ),
            self.errors(
                id(self.op(
                    "DELETE",
                    "/api/v1/schedule/:id",
                    "seed_schedule_delete",
                    "Delete a schedule",
                    "its owner, or administrators",
                ))
                .answer("204", "Deleted", None),
                &[401, 403, 404],
            ),
        ]
    }

    fn failures(&self, s: &mut Schemas) -> Vec<Operation> {
        let failure = s.named("Failure", described(object(json!({
            "url": string(), "id": int(), "schedule": described(nullable("string"), "The schedule's URL."),
            "task_id": {"type": "string", "format": "uuid", "description": "`00000000-0000-4000-8000-<id as 12 hex digits>`."},
            "initiated_at": nullable("string"), "reason": nullable("string")}),
            &["url", "id", "schedule", "task_id", "initiated_at", "reason"]), "A failed delivery of one of the caller's schedules."));
        let failures = page(s, "FailurePage", failure.clone());
        vec![
            self.errors(
                paged(
                    self.op(
                        "GET",
                        "/api/v1/failed-tasks",
                        "seed_failures",
                        "Failed deliveries of the caller's schedules",
                        "anyone signed in (every failure for administrators)",
                    )
                    .note("Failures of the caller's task schedules too."),
                )
                .json("200", "A page of failures", failures),
                &[400, 401, 403],
            ),
            self.errors(
                self.op(
                    "POST",
                    "/api/v1/failed-tasks",
                    "seed_failures_requeue",
                    "Replay the caller's failures now",
                    "anyone signed in (every failure for administrators)",
                )
                .body("application/json", json!({}))
                .optional_body("Any body is accepted (the client sends `null`).")
                .json(
                    "201",
                    "Requeued",
                    object(json!({"requeued_failed_tasks": {"const": true}}), &["requeued_failed_tasks"]),
                ),
                &[401, 403],
            ),
            self.errors(
                self.op(
                    "GET",
                    "/api/v1/failed-tasks/:id",
                    "seed_failure",
                    "A failed delivery",
                    "anyone signed in (of the caller's schedules; any for administrators)",
                )
                .path("id", "The id (a positive integer; anything else is a 404)", int())
                .json("200", "The failure", failure),
                &[401, 403, 404],
            ),
        ]
    }

    fn service(&self, s: &mut Schemas) -> Vec<Operation> {
        let health = s.named(
            "Health",
            described(
                object(
                    json!({"up": boolean(), "result": object(json!({
            "database": {"enum": ["Accessible", "Inaccessible"]}, "version": string()}), &["database", "version"])}),
                    &["up", "result"],
                ),
                "`/api/health/`.",
            ),
        );
        vec![
            self.errors(
                self.op("GET", "/api/health", "seed_health", "Health of the database", "anyone signed in")
                    .json("200", "Up", health.clone())
                    .json("503", "The database is not reachable", health),
                &[401, 403],
            ),
            self.errors(
                self.op("GET", "/api/metrics", "seed_metrics", "Metrics available (none)", "anyone signed in")
                    .note("Conveyor's Prometheus metrics are at `GET /metrics`.")
                    .json(
                        "200",
                        "None",
                        object(
                            json!({"metrics_available": described(array(string()), "Always empty")}),
                            &["metrics_available"],
                        ),
                    ),
                &[401, 403],
            ),
            self.errors(
                self.op(
                    "POST",
                    "/api/metrics",
                    "seed_metrics_initiate",
                    "Start sending metrics (does nothing)",
                    "anyone signed in",
                )
                .json(
                    "201",
                    "Accepted",
                    object(json!({"scheduled_metrics_initiated": {"const": true}}), &["scheduled_metrics_initiated"]),
                ),
                &[401, 403],
            ),
        ]
    }
}

/// Seed's page parameters.
fn paged(operation: Operation) -> Operation {
    operation
        .query(
            "limit",
            false,
            json!({"type": "integer", "minimum": 1, "maximum": 1000}),
            "Rows per page (default 1000, Seed's `PAGE_SIZE`).",
        )
        .query("offset", false, json!({"type": "integer", "minimum": 0}), "Rows to skip.")
        .query("cursor", false, string(), "Seed's; ignored and kept in the links.")
}

/// A page `name` of `item`s (absolute links, newest first).
fn page(s: &mut Schemas, name: &str, item: Json) -> Json {
    s.named(
        name,
        object(
            json!({"count": int(), "next": nullable("string"), "previous": nullable("string"),
        "results": array(item)}),
            &["count", "next", "previous", "results"],
        ),
    )
}
