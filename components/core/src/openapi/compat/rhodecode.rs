//! RhodeCode's legacy envelope (`POST /_admin/api` of component `rpc`, `docs/rpc.md`): one operation carries
//! every method; the result objects are `compat::rhodecode::shapes`' (built with `json!`).

use super::{Head, array, described, document as assemble, nullable, object, op};
use crate::openapi::schemas::Schemas;
use serde_json::{Value as Json, json};

const DESCRIPTION: &str = "RhodeCode's legacy JSON-RPC API (SPEC §6), as RhodeCode 1.7 and Kallithea speak it, at \
    `POST /_admin/api` (component `rpc`; docs/rpc.md), so RhodeCode and Kallithea API scripts work unchanged with \
    Conveyor projects in the place of repositories. One operation carries every method: the request is \
    `{\"id\", \"api_key\", \"method\", \"args\"}` and the answer is **always HTTP 200** `{\"id\", \"result\", \"error\"}`, \
    `error` a string and `result` null on error, the request's `id` echoed verbatim once it was read. The credential \
    is the body's `api_key` (any Conveyor API token, session token or the administrator token): OpenAPI has no \
    security scheme for a key in a body, so this operation declares none. Conveyor's own JSON-RPC 2.0 endpoint, \
    `POST /api/v1/rpc`, is in the native document.";

/// The document.
pub fn document() -> Json {
    let mut s = Schemas::new();
    let request = s.named("Request", described(object(json!({
        "id": {"description": "Any JSON value; echoed in the answer (Kallithea's client sends a random integer)."},
        "api_key": {"type": "string", "description": "The credential: a Conveyor API token, session token or the administrator token. A wrong one is `Invalid API KEY`."},
        "method": {"type": "string", "description": "The method's name (RhodeCode's `users_group` or Kallithea's `user_group` spellings).",
            "examples": crate::compat::rhodecode::method_names().collect::<Vec<_>>()},
        "args": {"description": "The method's arguments by name. Anything but an object reads as no arguments; ids accept integers or strings, booleans `true/false` or the strings and numbers RhodeCode's `str2bool` reads."}}),
        &["id", "api_key", "method", "args"]),
        "A call. Members are read in RhodeCode's order (`api_key`, `id`, `method`, `args`); a missing one is the error ``Incorrect JSON query missing 'x'``."));
    let answer = s.named("Answer", described(object(json!({
        "id": {"description": "The request's `id` verbatim; null when it could not be read."},
        "result": {"description": "The method's result (see `User`, `UserGroup`, `Repo` and the method table in docs/rpc.md); null on error, and for `get_*` of something missing."},
        "error": described(nullable("string"), "null on success; RhodeCode's words on error (`Invalid API KEY`, ``Missing non optional `x` arg in JSON DATA``, `No such method: x`, …).")}),
        &["id", "result", "error"]), "The answer, always HTTP 200."));
    results(&mut s);
    let operation = op("POST", "/_admin/api", "rhodecode_api", "RhodeCode", "Call a RhodeCode API method",
        "anyone holding a Conveyor credential, sent as `api_key`; each method enforces its native route's permissions (docs/rpc.md lists the methods, their arguments and results)")
        .note("Any content type is accepted and the body is read as JSON: RhodeCode's and Kallithea's clients send `text/plain`. \
            Errors are answered in the envelope with HTTP 200, including a malformed body (`JSON parse error ERR:…`), an empty one \
            (`Content-Length is 0`) and one over 1 MiB.")
        .security(&[])
        .body("text/plain", json!({"type": "string", "contentMediaType": "application/json", "contentSchema": request,
            "description": "The call as JSON text (what `kallithea-api` sends)."}))
        .body("application/json", request)
        .json("200", "The answer, success or error", answer)
        .json("default", "Never from the component: only a body over 16 MiB (413) or the host's own refusals, in Conveyor's native error body (SPEC §1: `{\"detail\", \"code\"}`)", json!({}));
    let head = Head { title: "Conveyor: RhodeCode surface", description: DESCRIPTION, security_schemes: json!({}) };
    assemble(head, s, vec![operation])
}

/// The result objects, for reading (`result` itself is one per method).
fn results(s: &mut Schemas) {
    let (int, string, boolean, none) =
        (json!({"type": "integer"}), json!({"type": "string"}), json!({"type": "boolean"}), json!({"type": "null"}));
    let user = s.named("User", described(object(json!({
        "user_id": int, "username": string, "firstname": string, "lastname": string, "email": string,
        "emails": described(array(json!({})), "Always empty"),
        "api_key": described(none.clone(), "Conveyor keeps only hashes of tokens."), "active": boolean, "admin": boolean,
        "ldap_dn": none, "last_login": described(nullable("string"), "`YYYY-MM-DDTHH:MM:SS`, UTC"),
        "ip_addresses": described(array(json!({})), "Always empty")}),
        &["user_id", "username", "firstname", "lastname", "email", "emails", "api_key", "active", "admin", "ldap_dn",
          "last_login", "ip_addresses"]), "A user object (`get_user`, `get_users`, group members for administrators)."));
    let short_user = object(json!({"user_id": int, "username": string}), &["user_id", "username"]);
    s.named("UserGroup", described(object(json!({
        "users_group_id": int, "group_name": string, "group_description": string, "active": boolean, "owner": none,
        "members": described(array(json!({"anyOf": [user, short_user]})), "Full user objects for administrators, `{user_id, username}` for everyone else")}),
        &["users_group_id", "group_name", "group_description", "active", "owner", "members"]), "A user group object."));
    let member = |kind: &str, id: &str| {
        object(
            json!({"type": {"const": kind}, "name": string, (id): int, "permission": string}),
            &["type", "name", id, "permission"],
        )
    };
    s.named("Repo", described(object(json!({
        "repo_id": int, "repo_name": string, "repo_type": {"const": crate::compat::rhodecode::shapes::REPO_TYPE},
        "clone_uri": nullable("string"), "private": boolean, "created_on": nullable("string"), "description": string,
        "landing_rev": none, "owner": none, "fork_of": none, "enable_statistics": boolean, "enable_downloads": boolean,
        "enable_locking": boolean,
        "members": described(array(json!({"anyOf": [member("user", "user_id"), member("users_group", "users_group_id")]})),
            "`get_repo` only, for callers who may manage access")}),
        &["repo_id", "repo_name", "repo_type", "clone_uri", "private", "created_on", "description", "landing_rev", "owner",
          "fork_of", "enable_statistics", "enable_downloads", "enable_locking"]), "A repository object (a Conveyor project)."));
}
