//! The JSON-RPC methods (SPEC §6): each one parses its params and calls the service (or [`operations`]
//! function) of the matching native route, so it enforces exactly that route's permissions and answers the
//! same JSON. The table also describes each method for `rpc.discover`.

use crate::accounts::{self, GroupPatch, Hook, NewGroupInput, NewUserInput, Settings, UserPatch};
use crate::auth::Principal;
use crate::caller::Caller;
use crate::control::{action_params, to_json, unknown_method};
use crate::domain::accounts::Ref;
use crate::domain::project::{ProjectInput, ProjectPatch};
use crate::domain::roles::GrantRequest;
use crate::domain::task::SubmitRequest;
use crate::error::ApiError;
use crate::operations::{self, Grantee};
use crate::query::Listing;
use crate::router::Ctx;
use crate::{clock, policy, projects, tasks};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json, json};

/// What a method runs with: the request (database, store, settings) and its authenticated caller.
pub struct Env<'a, 'r> {
    pub ctx: &'a Ctx<'r>,
    pub caller: &'a Caller,
}

/// A parameter's JSON type, as `rpc.discover` states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// An id (integer) or a name (string).
    Reference,
    String,
    Integer,
    Number,
    Boolean,
    /// Any JSON value.
    Any,
    /// The query language's parameters as an object (`{"status": "new", "order": "-id"}`).
    Query,
}

/// One named parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Type,
    pub required: bool,
}

const fn required(name: &'static str, kind: Type) -> Param {
    Param { name, kind, required: true }
}

const fn optional(name: &'static str, kind: Type) -> Param {
    Param { name, kind, required: false }
}

/// One method: its name, what it does, its params, the schema name of its result, and how it runs.
pub struct Method {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [Param],
    /// A schema of `rpc.discover`'s components (`User`, `Page`, ...), or `null`.
    pub result: &'static str,
    run: fn(&Env, &Json) -> Result<Json, ApiError>,
}

const USER: Param = required("user", Type::Reference);
const GROUP: Param = required("group", Type::Reference);
const PROJECT: Param = required("project", Type::Reference);
const TASK: Param = required("task", Type::Integer);
const QUERY: Param = optional("query", Type::Query);
const PERM: Param = required("perm", Type::String);

const USER_FIELDS: [Param; 6] = [
    optional("first_name", Type::String),
    optional("last_name", Type::String),
    optional("active", Type::Boolean),
    optional("admin", Type::Boolean),
    optional("verified", Type::Boolean),
    optional("password", Type::String),
];

const PROJECT_FIELDS: [Param; 11] = [
    optional("description", Type::String),
    optional("motd", Type::String),
    optional("visibility", Type::String),
    optional("priority", Type::Integer),
    optional("paused", Type::Boolean),
    optional("chain", Type::Integer),
    optional("assign_rate", Type::Number),
    optional("submit_rate", Type::Number),
    optional("version", Type::String),
    optional("clone_url", Type::String),
    optional("git_repo", Type::String),
];

/// Every method, in the order `rpc.discover` lists them.
pub const METHODS: &[Method] = &[
    Method { name: "get_user", summary: "A user by id or username.", params: &[USER], result: "User", run: get_user },
    Method { name: "get_users", summary: "Users (administrators).", params: &[QUERY], result: "Page", run: get_users },
    Method {
        name: "create_user",
        summary: "Creates a user (administrators).",
        params: &concat::<8>(&[required("username", Type::String), required("email", Type::String)], &USER_FIELDS),
        result: "User",
        run: create_user,
    },
    Method {
        name: "update_user",
        summary: "Changes a user (administrators; users their own names and email).",
        params: &concat::<9>(
            &[USER, optional("username", Type::String), optional("email", Type::String)],
            &USER_FIELDS,
        ),
        result: "User",
        run: update_user,
    },
    Method { name: "delete_user", summary: "Deletes a user.", params: &[USER], result: "null", run: delete_user },
    Method {
        name: "get_users_group",
        summary: "A group by id or name.",
        params: &[GROUP],
        result: "Group",
        run: get_group,
    },
    Method { name: "get_users_groups", summary: "Groups.", params: &[QUERY], result: "Page", run: get_groups },
    Method {
        name: "create_users_group",
        summary: "Creates a group (administrators).",
        params: &[
            required("name", Type::String),
            optional("description", Type::String),
            optional("active", Type::Boolean),
        ],
        result: "Group",
        run: create_group,
    },
    Method {
        name: "update_users_group",
        summary: "Renames, describes or (de)activates a group (administrators).",
        params: &[
            GROUP,
            optional("name", Type::String),
            optional("description", Type::String),
            optional("active", Type::Boolean),
        ],
        result: "Group",
        run: update_group,
    },
    Method {
        name: "delete_users_group",
        summary: "Deletes a group (administrators).",
        params: &[GROUP],
        result: "null",
        run: delete_group,
    },
    Method {
        name: "add_user_to_users_group",
        summary: "Adds a user to a group (administrators); `added` is false when they already were a member.",
        params: &[GROUP, USER],
        result: "Membership",
        run: add_member,
    },
    Method {
        name: "remove_user_from_users_group",
        summary: "Removes a user from a group (administrators).",
        params: &[GROUP, USER],
        result: "null",
        run: remove_member,
    },
    Method {
        name: "get_project",
        summary: "A project by id or name.",
        params: &[PROJECT],
        result: "Project",
        run: get_project,
    },
    Method {
        name: "get_projects",
        summary: "The projects the caller may read.",
        params: &[QUERY],
        result: "Page",
        run: get_projects,
    },
    Method {
        name: "create_project",
        summary: "Creates a project; its creator gets `admin` on it.",
        params: &concat::<12>(&[required("name", Type::String)], &PROJECT_FIELDS),
        result: "Project",
        run: create_project,
    },
    Method {
        name: "update_project",
        summary: "Changes a project (EDIT; MANAGE_ACCESS to change its visibility).",
        params: &concat::<13>(&[PROJECT, optional("name", Type::String)], &PROJECT_FIELDS),
        result: "Project",
        run: update_project,
    },
    Method {
        name: "delete_project",
        summary: "Deletes a project with its tasks (admin on it).",
        params: &[PROJECT],
        result: "null",
        run: delete_project,
    },
    Method {
        name: "grant_user_permission",
        summary: "Sets a user's role on a project: perm `project.none|read|write|admin` (MANAGE_ACCESS).",
        params: &[PROJECT, USER, PERM],
        result: "Grant",
        run: grant_user,
    },
    Method {
        name: "revoke_user_permission",
        summary: "Removes a user's grant on a project (MANAGE_ACCESS).",
        params: &[PROJECT, USER],
        result: "null",
        run: revoke_user,
    },
    Method {
        name: "grant_users_group_permission",
        summary: "Sets a group's role on a project: perm `project.none|read|write|admin` (MANAGE_ACCESS).",
        params: &[PROJECT, GROUP, PERM],
        result: "Grant",
        run: grant_group,
    },
    Method {
        name: "revoke_users_group_permission",
        summary: "Removes a group's grant on a project (MANAGE_ACCESS).",
        params: &[PROJECT, GROUP],
        result: "null",
        run: revoke_group,
    },
    Method {
        name: "submit_task",
        summary: "Submits a task (EDIT on the project, or a worker's accepted submit grant).",
        params: &[
            PROJECT,
            required("recipe", Type::String),
            optional("priority", Type::Integer),
            optional("max_retries", Type::Integer),
            optional("max_assign_time", Type::Integer),
            optional("hash64", Type::Integer),
            optional("unique_string", Type::String),
            optional("verification_count", Type::Integer),
        ],
        result: "Task",
        run: submit_task,
    },
    Method { name: "get_task", summary: "A task.", params: &[TASK], result: "Task", run: get_task },
    Method {
        name: "cancel_task",
        summary: "Cancels a task (EDIT on its project).",
        params: &[TASK],
        result: "Task",
        run: cancel_task,
    },
];

/// `head` followed by `tail`, as one array of `N` params (checked at compile time).
const fn concat<const N: usize>(head: &[Param], tail: &[Param]) -> [Param; N] {
    assert!(head.len() + tail.len() == N);
    let mut out = [required("", Type::Any); N];
    let mut i = 0;
    while i < N {
        out[i] = if i < head.len() { head[i] } else { tail[i - head.len()] };
        i += 1;
    }
    out
}

/// Runs `method` with `params` (an object); an unknown method is [`unknown_method`] (-32601).
pub fn call(env: &Env, method: &str, params: &Json) -> Result<Json, ApiError> {
    let found = METHODS.iter().find(|m| m.name == method).ok_or_else(|| unknown_method(method))?;
    (found.run)(env, params)
}

// ----- params -----

/// Takes the reference named `key` (an id or a name) out of `params`.
fn take_ref(params: &mut Map<String, Json>, key: &str) -> Result<Ref, ApiError> {
    match params.remove(key) {
        Some(Json::Number(number)) => {
            number.as_i64().map(Ref::Id).ok_or_else(|| ApiError::invalid_field(key, "must be an integer id or a name"))
        }
        Some(Json::String(name)) if !name.is_empty() => Ok(Ref::parse(&name)),
        Some(_) => Err(ApiError::invalid_field(key, "must be an integer id or a name")),
        None => Err(ApiError::invalid_field(key, "is required")),
    }
}

/// `params` as an object (a method's params are always one; see `control::parse_call`).
fn object(params: &Json) -> Map<String, Json> {
    params.as_object().cloned().unwrap_or_default()
}

/// The references named `keys`, then the rest of the params as `T` (unknown fields refused).
fn split<T: DeserializeOwned, const N: usize>(params: &Json, keys: [&str; N]) -> Result<([Ref; N], T), ApiError> {
    let mut rest = object(params);
    let mut refs = Vec::with_capacity(N);
    for key in keys {
        refs.push(take_ref(&mut rest, key)?);
    }
    let refs = refs.try_into().unwrap_or_else(|_| unreachable!("one reference per key"));
    Ok((refs, action_params(&Json::Object(rest))?))
}

/// Params that hold only the references `keys`.
fn refs<const N: usize>(params: &Json, keys: [&str; N]) -> Result<[Ref; N], ApiError> {
    Ok(split::<crate::control::NoParams, N>(params, keys)?.0)
}

/// `{"query": {...}}` → the query language's pairs; arrays repeat a parameter.
fn query_pairs(params: &Json) -> Result<Vec<(String, String)>, ApiError> {
    let mut rest = object(params);
    let query = rest.remove("query").unwrap_or(Json::Null);
    if let Some(extra) = rest.keys().next() {
        return Err(ApiError::UnknownField(extra.clone()));
    }
    let scalar = |key: &str, value: &Json| match value {
        Json::String(text) => Ok(text.clone()),
        Json::Number(_) | Json::Bool(_) => Ok(value.to_string()),
        _ => Err(ApiError::invalid_field(format!("query.{key}"), "must be a string, a number, a boolean or an array")),
    };
    let mut pairs = Vec::new();
    match query {
        Json::Null => {}
        Json::Object(query) => {
            for (key, value) in &query {
                match value {
                    Json::Array(values) => {
                        for value in values {
                            pairs.push((key.clone(), scalar(key, value)?));
                        }
                    }
                    value => pairs.push((key.clone(), scalar(key, value)?)),
                }
            }
        }
        _ => return Err(ApiError::invalid_field("query", "must be an object of query parameters")),
    }
    Ok(pairs)
}

/// A page without links (there is no URL to page through): `{"count", "results"}`.
fn page(listing: Listing) -> Json {
    json!({"count": listing.page.count, "results": listing.page.results})
}

/// The person calling an account method: workers have no account rights.
fn person<'a>(env: &'a Env) -> Result<&'a Principal, ApiError> {
    env.caller.principal().ok_or_else(|| ApiError::Forbidden("workers cannot do this; use a user token".into()))
}

// ----- users and groups -----

fn get_user(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let [user] = refs(params, ["user"])?;
    to_json(&accounts::get_user(env.ctx.db()?, person(env)?, &user)?)
}

fn get_users(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let pairs = query_pairs(params)?;
    Ok(page(accounts::list_users(env.ctx.db()?, person(env)?, &pairs)?))
}

fn create_user(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let input: NewUserInput = action_params(params)?;
    to_json(&accounts::create_user(env.ctx.db()?, person(env)?, &input, clock::now())?)
}

fn update_user(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let ([user], patch): (_, UserPatch) = split(params, ["user"])?;
    let hook = Hook::new(env.ctx, &Settings::from_ctx(env.ctx));
    to_json(&accounts::update_user(env.ctx.db()?, person(env)?, &user, &patch, &hook, clock::now())?)
}

fn delete_user(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let [user] = refs(params, ["user"])?;
    accounts::delete_user(env.ctx.db()?, person(env)?, &user)?;
    Ok(Json::Null)
}

fn get_group(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let [group] = refs(params, ["group"])?;
    to_json(&accounts::get_group(env.ctx.db()?, person(env)?, &group)?)
}

fn get_groups(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let pairs = query_pairs(params)?;
    Ok(page(accounts::list_groups(env.ctx.db()?, person(env)?, &pairs)?))
}

fn create_group(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let input: NewGroupInput = action_params(params)?;
    to_json(&accounts::create_group(env.ctx.db()?, person(env)?, &input, clock::now())?)
}

fn update_group(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let ([group], patch): (_, GroupPatch) = split(params, ["group"])?;
    to_json(&accounts::update_group(env.ctx.db()?, person(env)?, &group, &patch)?)
}

fn delete_group(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let [group] = refs(params, ["group"])?;
    accounts::delete_group(env.ctx.db()?, person(env)?, &group)?;
    Ok(Json::Null)
}

fn add_member(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let [group, user] = refs(params, ["group", "user"])?;
    let (group, added) = accounts::add_member(env.ctx.db()?, person(env)?, &group, &user)?;
    Ok(json!({"group": group, "added": added}))
}

fn remove_member(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let [group, user] = refs(params, ["group", "user"])?;
    accounts::remove_member(env.ctx.db()?, person(env)?, &group, &user)?;
    Ok(Json::Null)
}

// ----- projects and grants -----

fn get_project(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let [project] = refs(params, ["project"])?;
    to_json(&policy::readable_project(env.ctx.db()?, env.caller, &project)?)
}

fn get_projects(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let pairs = query_pairs(params)?;
    let scope = policy::read_scope(env.caller);
    Ok(page(Listing::run(env.ctx.db()?, &projects::RESOURCE, &scope, &pairs)?))
}

fn create_project(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let input: ProjectInput = action_params(params)?;
    to_json(&operations::create_project(env.ctx.db()?, env.caller, &input, clock::now())?)
}

fn update_project(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let ([project], patch): (_, ProjectPatch) = split(params, ["project"])?;
    to_json(&operations::update_project(env.ctx.db()?, env.caller, &project, &patch, clock::now())?)
}

fn delete_project(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let [project] = refs(params, ["project"])?;
    operations::delete_project(env.ctx.db()?, env.caller, &project)?;
    Ok(Json::Null)
}

fn set_grant(env: &Env, params: &Json, key: &str, grantee: fn(Ref) -> Grantee) -> Result<Json, ApiError> {
    let ([project, subject], request): (_, GrantRequest) = split(params, ["project", key])?;
    if request.perm.is_none() {
        return Err(ApiError::invalid_field("perm", "is required: project.none|read|write|admin"));
    }
    let role = request.role()?;
    operations::set_grant(env.ctx.db()?, env.caller, &project, &grantee(subject), role)
}

fn revoke_grant(env: &Env, params: &Json, key: &str, grantee: fn(Ref) -> Grantee) -> Result<Json, ApiError> {
    let [project, subject] = refs(params, ["project", key])?;
    operations::revoke_grant(env.ctx.db()?, env.caller, &project, &grantee(subject))?;
    Ok(Json::Null)
}

fn grant_user(env: &Env, params: &Json) -> Result<Json, ApiError> {
    set_grant(env, params, "user", Grantee::User)
}

fn revoke_user(env: &Env, params: &Json) -> Result<Json, ApiError> {
    revoke_grant(env, params, "user", Grantee::User)
}

fn grant_group(env: &Env, params: &Json) -> Result<Json, ApiError> {
    set_grant(env, params, "group", Grantee::Group)
}

fn revoke_group(env: &Env, params: &Json) -> Result<Json, ApiError> {
    revoke_grant(env, params, "group", Grantee::Group)
}

// ----- tasks -----

fn task_id(params: &Json) -> Result<i64, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TaskParam {
        task: i64,
    }
    Ok(action_params::<TaskParam>(params)?.task)
}

fn submit_task(env: &Env, params: &Json) -> Result<Json, ApiError> {
    let request: SubmitRequest = action_params(params)?;
    let kv = env.ctx.kv()?;
    to_json(&operations::submit_task(env.ctx.db()?, kv.as_ref(), env.caller, &request, clock::now())?)
}

fn get_task(env: &Env, params: &Json) -> Result<Json, ApiError> {
    to_json(&operations::read_task(env.ctx.db()?, env.caller, task_id(params)?)?)
}

fn cancel_task(env: &Env, params: &Json) -> Result<Json, ApiError> {
    operations::task_action(env.ctx.db()?, env.caller, task_id(params)?, tasks::Action::Cancel, clock::now())
}
