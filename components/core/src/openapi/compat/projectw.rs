//! Project-W's surface (component `projectw` and its streamed routes, `docs/projectw.md`), as Project-W's own
//! FastAPI document has it: operation ids by router, `{"detail"}` errors and FastAPI's 422 lists. Answers are
//! the `projectw` services' types where a handler answers one; the bodies that `compat::projectw` reads into
//! private types are written here.

use super::{Head, Operation, array, boolean, described, document as assemble, int, nullable, object, op, string};
use crate::compat::projectw::accounts::{LOGIN_SUCCESS, SIGNUP_SUCCESS, TOKEN_COOKIE, TokenInfo, UserInfo};
use crate::compat::projectw::settings::JobSettings;
use crate::openapi::schemas::Schemas;
use crate::projectw::TRANSCRIPT_TYPES;
use crate::projectw::banners::{Banner, BannerInput};
use crate::projectw::jobs::JobInfo;
use crate::projectw::notify::{Announcement, Sent};
use crate::projectw::retention::Retained;
use crate::projectw::runners::{Beat, CreatedRunner, HeldJob, Registered, RunnerInfo};
use serde_json::{Value as Json, json};

const DESCRIPTION: &str = "Project-W's API (v0.6.0's wire, SPEC §9), served under `/api` by component `projectw` \
    (and its streamed routes), so that Project-W's runner and scripted clients work unchanged (docs/projectw.md). As in \
    Project-W, a FastAPI application: every JSON answer has `Content-Type: application/json` exactly; errors are \
    `{\"detail\": \"<message>\"}`, validation errors FastAPI's 422 `{\"detail\": [{\"type\", \"loc\", \"msg\", \"input\", \
    \"ctx\"?}]}`; 401s carry `WWW-Authenticate: Bearer`. Routes that answer a string answer a JSON string literal \
    (`\"Success\"`). Times are ISO 8601 in UTC with `Z`. `/api/oidc/...` and `/api/ldap/...` have no operations: \
    Project-W mounts them only when a provider is configured, and none is.";
const POST_ALIAS: &str = "(`POST` is Conveyor's alias of Project-W's `DELETE`.)";

/// The document.
pub fn document() -> Json {
    let mut s = Schemas::new();
    let table = Table::new(&mut s);
    let operations = [
        table.general(&mut s),
        table.admins(&mut s),
        table.runners(&mut s),
        table.jobs(&mut s),
        table.local_account(),
        table.users(&mut s),
    ]
    .concat();
    let head = Head { title: "Conveyor: Project-W surface", description: DESCRIPTION, security_schemes: schemes() };
    assemble(head, s, operations)
}

fn schemes() -> Json {
    json!({
        "runnerToken": {"type": "http", "scheme": "bearer",
            "description": "A runner's token, `<worker id>:<secret>`, as `POST /api/admins/create_runner` answered it."},
        "userToken": {"type": "http", "scheme": "bearer",
            "description": "A user's Conveyor credential: a session (Project-W's or Conveyor's login) or an API token (`/api/users/get_new_api_token`, `/api/v1/tokens`), or the administrator token on admin routes."},
        "tokenCookie": {"type": "apiKey", "in": "cookie", "name": TOKEN_COOKIE,
            "description": "The session `POST /api/local-account/login` sets. A change made with a cookie alone from another site is refused (403)."},
        "sessionCookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE,
            "description": "Conveyor's session cookie."},
    })
}

fn runner() -> Vec<Json> {
    vec![json!({"runnerToken": []})]
}

fn user() -> Vec<Json> {
    vec![json!({"userToken": []}), json!({"tokenCookie": []}), json!({"sessionCookie": []})]
}

fn constant(text: &str) -> Json {
    json!({"const": text})
}

const UNAUTHENTICATED: (u16, &str) = (401, "`Not authenticated` (no credential) or `Could not validate token`");
const USER_403: (u16, &str) =
    (403, "The built-in administrator has no account, a disabled account, or a cross-site change made with a cookie");
const ADMIN_403: (u16, &str) = (403, "`Not enough permissions`");
const RUNNER_401: (u16, &str) = (401, "`Not authenticated`, or `No runner with that token exists!`");
const OFFLINE: (u16, &str) =
    (403, "`This runner is currently not registered as online!` (or another runner's session)");
const INVALID: (u16, &str) = (422, "Invalid parameters or body (FastAPI's list)");

/// The error bodies every operation shares.
struct Table {
    detail: Json,
    invalid: Json,
    settings: Json,
}

impl Table {
    fn new(s: &mut Schemas) -> Self {
        let detail = s.named(
            "ErrorResponse",
            described(object(json!({"detail": string()}), &["detail"]), "Project-W's error body."),
        );
        let error = s.named("ValidationError", described(object(json!({"type": string(),
            "loc": array(json!({"anyOf": [string(), int()]})), "msg": string(), "input": {}, "ctx": {"type": "object"}}),
            &["type", "loc", "msg", "input"]), "One of FastAPI's validation errors."));
        let invalid = s.named(
            "HTTPValidationError",
            described(object(json!({"detail": array(error)}), &["detail"]), "FastAPI's 422."),
        );
        // One schema for the settings read and answered: absent keys take Project-W's defaults.
        let settings = s.request::<JobSettings>();
        Self { detail, invalid, settings }
    }

    /// Finishes an operation: its errors (422 in FastAPI's list), and `default` for any other.
    fn errors(&self, mut operation: Operation, errors: &[(u16, &str)]) -> Operation {
        for (status, description) in errors {
            let schema = if *status == 422 { &self.invalid } else { &self.detail };
            operation = operation.errors(schema, &[(*status, *description)]);
        }
        let any = json!({"anyOf": [self.detail, self.invalid]});
        operation.json(
            "default",
            "Any other error: `{\"detail\": \"...\"}` (404 `Not Found`, 405 `Method Not Allowed`, \
            413, 429 with `Retry-After`, 500 `Internal Server Error`)",
            any,
        )
    }

    fn general(&self, s: &mut Schemas) -> Vec<Operation> {
        let banner = s.response::<Banner>();
        let about = s.named("AboutResponse", object(json!({
            "description": string(), "source_code": string(), "version": string(), "git_hash": string(),
            "imprint": {"type": "null"},
            "terms_of_services": described(json!({"type": "object"}), "Always empty: Conveyor has no terms of service."),
            "job_retention_in_days": described(nullable("integer"), "The variable `job_retention_days`; null keeps jobs forever."),
            "site_banners": described(array(banner), "Most urgent first")}),
            &["description", "source_code", "version", "git_hash", "imprint", "terms_of_services", "job_retention_in_days", "site_banners"]));
        let settings = s.named("AuthSettings", object(json!({
            "local_account": object(json!({"mode": {"enum": ["enabled", "no_signup"]},
                "allowed_email_domains": described(array(string()), "Always empty"), "allow_creation_of_api_tokens": boolean()}),
                &["mode", "allowed_email_domains", "allow_creation_of_api_tokens"]),
            "oidc_providers": described(json!({"type": "object"}), "Always empty"),
            "ldap_providers": described(json!({"type": "object"}), "Always empty")}),
            &["local_account", "oidc_providers", "ldap_providers"]));
        vec![
            self.errors(
                op("GET", "/api/about", "about", "general", "About this instance", "anyone").security(&[]).json(
                    "200",
                    "Successful Response",
                    about,
                ),
                &[],
            ),
            self.errors(
                op("GET", "/api/auth_settings", "auth_settings", "general", "How users sign in here", "anyone")
                    .security(&[])
                    .json("200", "Successful Response", settings),
                &[],
            ),
        ]
    }

    fn admins(&self, s: &mut Schemas) -> Vec<Operation> {
        let admin = |method, pattern, id: &str, summary: &str| {
            op(method, pattern, id, "admins", summary, "administrators").security(&[&user()])
        };
        let errors = [UNAUTHENTICATED, ADMIN_403, INVALID];
        let mut operations = vec![self.errors(
            admin("POST", "/api/admins/create_runner", "admins_create_runner", "Create a runner").json(
                "200",
                "The runner's id and token (`<worker id>:<secret>`, shown once)",
                s.response::<CreatedRunner>(),
            ),
            &errors[..2],
        )];
        for method in ["DELETE", "POST"] {
            let id = format!("admins_invalidate_runner_{}", method.to_ascii_lowercase());
            let operation = admin(method, "/api/admins/invalidate_runner", &id, "Invalidate a runner")
                .query("runner_id", true, int(), "The runner's id")
                .note("A job it held returns to the queue. Answers `If a runner with id <id> existed it was successfully invalidated and deleted`.")
                .json("200", "Successful Response", string());
            operations
                .push(self.errors(if method == "POST" { operation.note(POST_ALIAS) } else { operation }, &errors));
        }
        operations.push(
            self.errors(
                admin("POST", "/api/admins/add_site_banner", "admins_add_site_banner", "Add a site banner")
                    .body("application/json", s.request::<BannerInput>())
                    .json("200", "The banner's id", int()),
                &errors,
            ),
        );
        for method in ["DELETE", "POST"] {
            let id = format!("admins_delete_site_banner_{}", method.to_ascii_lowercase());
            let operation = admin(method, "/api/admins/delete_site_banner", &id, "Delete a site banner")
                .query("banner_id", true, int(), "The banner's id")
                .note("An unknown id answers `null` too.")
                .json("200", "Successful Response", json!({"type": "null"}));
            operations
                .push(self.errors(if method == "POST" { operation.note(POST_ALIAS) } else { operation }, &errors));
        }
        operations.push(
            self.errors(
                admin(
                    "POST",
                    "/api/admins/send_email_to_all_users",
                    "admins_send_email_to_all_users",
                    "E-mail every user",
                )
                .note("Queued for every active user with a verified address; sent by the `send-mail` tick.")
                .body("application/json", s.request::<Announcement>())
                .json("200", "Successful Response", json!({"type": "null"})),
                &errors,
            ),
        );
        let tick = |pattern, id: &str, summary: &str, counts: Json| {
            let anyone = [user(), vec![json!({})]].concat();
            self.errors(
                op(
                    "POST",
                    pattern,
                    id,
                    "admins",
                    summary,
                    "anyone (a tick, Conveyor's addition: it does only what is due)",
                )
                .security(&[&anyone])
                .note("Callers with administrator rights get the counts; anyone else (a wrong credential too) 204.")
                .json("200", "What the tick did", counts)
                .answer("204", "Done (callers without administrator rights)", None),
                &[],
            )
        };
        operations.push(tick(
            "/api/admins/run-retention",
            "admins_run_retention",
            "Retention tick",
            s.response::<Retained>(),
        ));
        operations.push(tick("/api/admins/send-mail", "admins_send_mail", "Mail tick", s.response::<Sent>()));
        operations
    }

    fn runners(&self, s: &mut Schemas) -> Vec<Operation> {
        let online = |method, pattern, id: &str, summary: &str| {
            op(method, pattern, id, "runners", summary, "the online runner").security(&[&runner()]).query(
                "session_token",
                true,
                string(),
                "The session `register` answered.",
            )
        };
        let no_job = (400, "The runner holds no job");
        let online_errors = [RUNNER_401, OFFLINE, (422, "No `session_token`"), no_job];
        let transcript = object(
            json!({"as_txt": string(), "as_srt": string(), "as_tsv": string(), "as_vtt": string(),
            "as_json": {"type": "object"}}),
            &["as_txt", "as_srt", "as_tsv", "as_vtt", "as_json"],
        );
        let result = described(
            object(
                json!({"error_msg": nullable("string"), "transcript": {"anyOf": [transcript, {"type": "null"}]}}),
                &[],
            ),
            "`RunnerSubmitResultRequest`: a transcript (it wins when both are sent) or an error message; neither is a 422.",
        );
        vec![
            self.errors(op("POST", "/api/runners/register", "runners_register", "runners", "Register a runner as online", "a runner")
                .security(&[&runner()])
                .note("`name` and `git_hash` are at most 40 characters, `priority` above 0 (422 otherwise).")
                .body("application/json", s.request::<RunnerInfo>())
                .json("200", "The runner's id and session", s.response::<Registered>()),
                &[RUNNER_401, (403, "The runner is already online"), INVALID]),
            self.errors(online("POST", "/api/runners/heartbeat", "runners_heartbeat", "A heartbeat with the job's progress")
                .body("application/json", object(json!({"progress": {"type": "number", "minimum": 0, "maximum": 100, "default": 0}}), &[]))
                .json("200", "Whether to abort, and whether a job is held", s.response::<Beat>()), &online_errors[..3]),
            self.errors(online("GET", "/api/runners/retrieve_job_info", "runners_retrieve_job_info", "The job the runner holds")
                .json("200", "The job's id and settings", s.response::<HeldJob>()), &online_errors),
            self.errors(online("POST", "/api/runners/retrieve_job_audio", "runners_retrieve_job_audio", "The audio of the job the runner holds")
                .note("Streamed; the content type is literally `audio/`, as Project-W sends it. An empty file for a job aborted after it was handed over.")
                .answer("200", "The audio", Some(("audio/", json!({"type": "string", "contentMediaType": "application/octet-stream"})))),
                &online_errors),
            self.errors(online("POST", "/api/runners/submit_job_result", "runners_submit_job_result", "The job's transcript or error")
                .body("application/json", result).json("200", "Successful Response", constant("Success")),
                &[RUNNER_401, OFFLINE, (422, "No `session_token`, or neither field"), (400, "The runner is not processing a job")]),
            self.errors(op("POST", "/api/runners/unregister", "runners_unregister", "runners", "Go offline", "a runner (no session token needed)")
                .security(&[&runner()]).note("A running job returns to the queue.")
                .json("200", "Successful Response", constant("Success")), &[RUNNER_401]),
        ]
    }

    fn jobs(&self, s: &mut Schemas) -> Vec<Operation> {
        let job = |method, pattern, id: &str, summary: &str| {
            op(method, pattern, id, "jobs", summary, "users (their own jobs)").security(&[&user()])
        };
        let filters = |operation: Operation| {
            operation.query("exclude_finished", true, boolean(), "Leave out finished jobs").query(
                "exclude_downloaded",
                true,
                boolean(),
                "Leave out downloaded jobs",
            )
        };
        let errors = [UNAUTHENTICATED, USER_403, INVALID];
        let ids = described(array(int()), "Job ids");
        let audio = json!({"type": "string", "contentMediaType": "application/octet-stream",
            "description": "The file, with a filename and a content type starting with `audio` or `video`"});
        let mut operations =
            vec![
                self.errors(
                    job("POST", "/api/jobs/submit_job", "jobs_submit_job", "Submit an audio file as a job")
                        .note("Streamed: the file is stored as it arrives.")
                        .query(
                            "job_settings_id",
                            false,
                            int(),
                            "Settings saved by `submit_settings`; the caller's defaults when absent",
                        )
                        .body("multipart/form-data", object(json!({"audio_file": audio}), &["audio_file"]))
                        .json("200", "The job's id", int()),
                    &[
                        UNAUTHENTICATED,
                        USER_403,
                        (400, "`There was an error parsing the body`"),
                        (413, "Over `max_upload_bytes` (1 GiB by default)"),
                        (415, "`The provided file is not an audio or video file but is of type <ct>`"),
                        (422, "No `audio_file` part, or not a form"),
                    ],
                ),
                self.errors(
                    job("GET", "/api/jobs/info", "jobs_info", "The caller's jobs among the ids")
                        .query("job_ids", true, array(int()), "Job ids (repeat the parameter)")
                        .json("200", "Successful Response", array(s.response::<JobInfo>())),
                    &errors,
                ),
                self.errors(
                    filters(
                        job("GET", "/api/jobs/get", "jobs_get", "Job ids in a window of the caller's jobs")
                            .note("Both indexes are inclusive.")
                            .query("start_index", true, json!({"type": "integer", "minimum": 0}), "First position")
                            .query("end_index", true, json!({"type": "integer", "minimum": 0}), "Last position")
                            .query("sort_key", true, json!({"enum": ["creation_time", "filename"]}), "Order")
                            .query("descending", true, boolean(), "Newest or last name first"),
                    )
                    .json("200", "Successful Response", array(int())),
                    &errors,
                ),
                self.errors(
                    filters(job("GET", "/api/jobs/count", "jobs_count", "How many jobs the caller has")).json(
                        "200",
                        "Successful Response",
                        int(),
                    ),
                    &errors,
                ),
                self.errors(
                    job("POST", "/api/jobs/abort", "jobs_abort", "Abort jobs")
                        .body("application/json", ids.clone())
                        .json("200", "Successful Response", constant("Success")),
                    &[UNAUTHENTICATED, USER_403, (400, "A job is not running (nothing aborted)"), INVALID],
                ),
            ];
        for method in ["DELETE", "POST"] {
            let id = format!("jobs_delete_{}", method.to_ascii_lowercase());
            let operation = job(method, "/api/jobs/delete", &id, "Delete finished jobs")
                .body("application/json", ids.clone())
                .json("200", "Successful Response", constant("Success"));
            operations.push(self.errors(
                if method == "POST" { operation.note(POST_ALIAS) } else { operation },
                &[UNAUTHENTICATED, USER_403, (400, "A job has not finished (nothing deleted)"), INVALID],
            ));
        }
        operations.extend([
            self.errors(job("GET", "/api/jobs/download_transcript", "jobs_download_transcript", "A finished job's transcript")
                .note("Marks the job `downloaded` (a change, though a GET).")
                .query("job_id", true, int(), "The job").query("transcript_type", true, json!({"enum": TRANSCRIPT_TYPES}), "Which transcript")
                .json("200", "The transcript as a JSON string (`as_json`: its JSON text)", string()),
                &[UNAUTHENTICATED, USER_403, (400, "No such job of the caller, or not finished"), INVALID]),
            self.errors(job("GET", "/api/jobs/events", "jobs_events", "Server-Sent Events of the caller's jobs")
                .note("Streamed (component `projectw-events`).").request_header("Last-Event-ID", "Resume after this event")
                .answer("200", "The stream", Some(("text/event-stream", described(string(),
                    "`retry: 1000`, then `id: <event id>\\nevent: job_created|job_updated|job_deleted\\ndata: <job id>\\n\\n` per event, \
                    `: keepalive` comments; the stream ends within `event_stream_seconds` (25 s at most)")))),
                &errors[..2]),
            self.errors(job("GET", "/api/jobs/default_settings", "jobs_default_settings", "The caller's default job settings")
                .json("200", "Their saved defaults, or Project-W's", self.settings.clone()), &errors[..2]),
            self.errors(job("POST", "/api/jobs/submit_settings", "jobs_submit_settings", "Save job settings")
                .note("Project-W's constraints and cross-field rules are checked (422).")
                .query("is_new_default", false, boolean(), "Make them the caller's defaults")
                .body("application/json", self.settings.clone()).optional_body("Absent keys (or no body) take Project-W's defaults.")
                .json("200", "The settings' id", int()), &errors),
        ]);
        operations
    }

    fn local_account(&self) -> Vec<Operation> {
        let password = json!({"type": "string", "format": "password"});
        let new_password = json!({"type": "string", "format": "password", "minLength": 12,
            "description": "At least 12 characters with a lowercase and an uppercase ASCII letter, a digit and another character"});
        let current = described(password.clone(), "The current password");
        let form = described(
            object(
                json!({"grant_type": {"type": "string", "pattern": "^password$"},
            "username": described(string(), "The email address"), "password": password,
            "scope": described(string(), "Empty, or `admin` for an administrator's rights"), "client_id": string(), "client_secret": string()}),
                &["username", "password"],
            ),
            "FastAPI's `OAuth2PasswordRequestForm`.",
        );
        let account = |method, pattern, id: &str, summary: &str, who: &str| {
            op(method, pattern, id, "local-account", summary, who)
        };
        let confirmation =
            [UNAUTHENTICATED, (403, "`Confirmation password invalid`, or as on every user route"), INVALID];
        vec![
            self.errors(
                account("POST", "/api/local-account/login", "local_account_login", "Sign in", "anyone")
                    .security(&[])
                    .body("application/x-www-form-urlencoded", form.clone())
                    .body("multipart/form-data", form)
                    .json("200", "Signed in", constant(LOGIN_SUCCESS))
                    .header(
                        "Set-Cookie",
                        "`token=<session>; HttpOnly; Max-Age=604800; Path=/; SameSite=lax` (+ `Secure` on https)",
                    ),
                &[
                    (400, "An unsupported scope, `scope=admin` for a non-administrator, or a broken multipart form"),
                    (401, "Wrong email or password, or `Provided username is not a valid email address`"),
                    (403, "The account is not activated or is disabled"),
                    (422, "No `username` or `password`, or a `grant_type` other than `password`"),
                ],
            ),
            self.errors(
                account(
                    "POST",
                    "/api/local-account/signup",
                    "local_account_signup",
                    "Sign up",
                    "anyone, when `allow_signup` is `true`",
                )
                .security(&[])
                .note("A registered address answers the same (nothing is created).")
                .body(
                    "application/json",
                    object(json!({"email": string(), "password": new_password.clone()}), &["email", "password"]),
                )
                .json("200", "Signed up", constant(SIGNUP_SUCCESS)),
                &[(405, "`Signup of new local accounts is disabled on this server`"), INVALID],
            ),
            self.errors(
                account(
                    "POST",
                    "/api/local-account/activate",
                    "local_account_activate",
                    "Activate an account, or confirm an email change",
                    "the holder of the token",
                )
                .security(&[])
                .query("token", true, string(), "The token from the email")
                .json("200", "Successful Response", constant("Success")),
                &[
                    (400, "The new address was taken meanwhile"),
                    (401, "`Could not validate account activation token`"),
                    INVALID,
                ],
            ),
            self.errors(
                account(
                    "GET",
                    "/api/local-account/resend_activation_email",
                    "local_account_resend_activation_email",
                    "Send the activation email again",
                    "a signed-in user not yet activated",
                )
                .security(&[&user()])
                .note("Sends an email (a change, though a GET).")
                .json("200", "Successful Response", string()),
                &[UNAUTHENTICATED, USER_403, (400, "`This user is already verified`")],
            ),
            self.errors(
                account(
                    "GET",
                    "/api/local-account/request_password_reset",
                    "local_account_request_password_reset",
                    "Ask for a password reset email",
                    "anyone",
                )
                .security(&[])
                .note("The same answer for every address.")
                .query("email", true, string(), "The account's address")
                .json("200", "Successful Response", string()),
                &[(400, "`The provided email is not a valid email address`"), INVALID],
            ),
            self.errors(
                account(
                    "POST",
                    "/api/local-account/reset_password",
                    "local_account_reset_password",
                    "Set a new password with a reset token",
                    "the holder of a reset token",
                )
                .security(&[])
                .body(
                    "application/json",
                    object(
                        json!({"token": string(), "new_password": new_password.clone()}),
                        &["token", "new_password"],
                    ),
                )
                .json("200", "Successful Response", constant("Success")),
                &[(401, "`Could not validate password reset token`"), INVALID],
            ),
            self.errors(
                account(
                    "POST",
                    "/api/local-account/change_user_email",
                    "local_account_change_user_email",
                    "Change the caller's email address",
                    "a signed-in user",
                )
                .security(&[&user()])
                .note("A confirmation goes to the new address.")
                .body(
                    "application/json",
                    object(json!({"new_email": string(), "password": current.clone()}), &["new_email", "password"]),
                )
                .json("200", "Successful Response", string()),
                &confirmation,
            ),
            self.errors(
                account(
                    "POST",
                    "/api/local-account/change_user_password",
                    "local_account_change_user_password",
                    "Change the caller's password",
                    "a signed-in user",
                )
                .security(&[&user()])
                .body(
                    "application/json",
                    object(json!({"new_password": new_password, "password": current}), &["new_password", "password"]),
                )
                .json("200", "Successful Response", constant("Successfully updated user password")),
                &confirmation,
            ),
        ]
    }

    fn users(&self, s: &mut Schemas) -> Vec<Operation> {
        let signed_in = |method, pattern, id: &str, summary: &str| {
            op(method, pattern, id, "users", summary, "a signed-in user").security(&[&user()])
        };
        let errors = [UNAUTHENTICATED, USER_403, INVALID];
        vec![
            self.errors(
                signed_in("POST", "/api/users/get_new_api_token", "users_get_new_api_token", "Create an API token")
                    .query("name", true, string(), "The token's name")
                    .json("200", "The token", string()),
                &[UNAUTHENTICATED, USER_403, (400, "The name is taken or invalid, or too many tokens"), INVALID],
            ),
            self.errors(
                signed_in(
                    "DELETE",
                    "/api/users/invalidate_token",
                    "users_invalidate_token",
                    "Revoke a token or session",
                )
                .note("An id that is not the caller's changes nothing and answers the same.")
                .query("token_id", true, int(), "The token's id")
                .json("200", "Successful Response", constant("Success")),
                &errors,
            ),
            self.errors(
                signed_in(
                    "DELETE",
                    "/api/users/invalidate_all_tokens",
                    "users_invalidate_all_tokens",
                    "Revoke every token and session",
                )
                .json("200", "Successful Response", constant("Success")),
                &errors[..2],
            ),
            self.errors(
                signed_in("DELETE", "/api/users/logout", "users_logout", "Revoke the credential in use")
                    .json("200", "Successful Response", constant("Success"))
                    .header("Set-Cookie", "`token=\"\"; HttpOnly; Max-Age=0; Path=/; SameSite=lax`, on refusals too"),
                &errors[..2],
            ),
            self.errors(
                signed_in(
                    "GET",
                    "/api/users/get_all_token_info",
                    "users_get_all_token_info",
                    "The caller's tokens and sessions",
                )
                .json("200", "Most recently used first", array(s.response::<TokenInfo>())),
                &errors[..2],
            ),
            self.errors(
                signed_in("GET", "/api/users/info", "users_info", "The caller").json(
                    "200",
                    "Successful Response",
                    s.response::<UserInfo>(),
                ),
                &errors[..2],
            ),
            self.errors(
                signed_in(
                    "POST",
                    "/api/users/accept_tos",
                    "users_accept_tos",
                    "Accept terms of service (there are none)",
                )
                .query("tos_id", true, int(), "The terms' id")
                .query("tos_version", true, int(), "Their version"),
                &[
                    UNAUTHENTICATED,
                    USER_403,
                    (400, "`No term of service found with id <id> and version <v>`: every term is unknown"),
                    INVALID,
                ],
            ),
            self.errors(
                signed_in("DELETE", "/api/users/delete", "users_delete", "Close the caller's account")
                    .note("Its jobs, settings, tokens and sessions go with it.")
                    .json("200", "Successful Response", constant("Success")),
                &errors[..2],
            ),
        ]
    }
}
