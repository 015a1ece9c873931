//! RhodeCode's methods over Conveyor's services: users, user groups, repositories (projects) and their
//! permissions. Each calls the same service (or `operations` function) as the native route, so it enforces
//! that route's permissions. Method names are RhodeCode's (`users_group`, arg `usersgroupid`) and
//! Kallithea's (`user_group`, arg `usergroupid`).

use super::args::Args;
use super::{message, shapes};
use crate::accounts::{self, GroupPatch, Hook, NewGroupInput, NewUserInput, Settings, UserPatch};
use crate::auth::Principal;
use crate::caller::Caller;
use crate::control::to_json;
use crate::db::Db;
use crate::domain::accounts::Ref;
use crate::domain::project::{ProjectInput, ProjectPatch, Visibility};
use crate::domain::roles::GrantRequest;
use crate::error::ApiError;
use crate::operations::{self, Grantee};
use crate::query::{self, Listing};
use crate::router::Ctx;
use crate::{clock, policy, projects};
use serde_json::{Value as Json, json};

/// Which generation's names a method was called by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// `users_group` methods, arg `usersgroupid`, result key `users_group`.
    RhodeCode,
    /// `user_group` methods, arg `usergroupid`, result key `user_group`.
    Kallithea,
}

impl Dialect {
    fn group_arg(self) -> &'static str {
        match self {
            Dialect::RhodeCode => "usersgroupid",
            Dialect::Kallithea => "usergroupid",
        }
    }

    fn group_key(self) -> &'static str {
        match self {
            Dialect::RhodeCode => "users_group",
            Dialect::Kallithea => "user_group",
        }
    }
}

/// One call: the request, its caller, the arguments and the names it was made with.
struct Call<'a, 'r> {
    ctx: &'a Ctx<'r>,
    caller: &'a Caller,
    args: Args,
    dialect: Dialect,
}

type Outcome = Result<Json, String>;

impl Call<'_, '_> {
    fn db(&self) -> Result<&dyn Db, String> {
        self.ctx.db().map_err(|error| message(&error))
    }

    fn principal(&self) -> &Principal {
        self.caller.principal().unwrap_or(&Principal::Anonymous)
    }

    fn group_ref(&self) -> Result<Ref, String> {
        self.args.reference(self.dialect.group_arg())
    }
}

type Handler = fn(&Call) -> Outcome;

/// Every method by name, with the names it answers to.
const METHODS: &[(&str, Dialect, Handler)] = &[
    ("get_user", Dialect::RhodeCode, get_user),
    ("get_users", Dialect::RhodeCode, get_users),
    ("create_user", Dialect::RhodeCode, create_user),
    ("update_user", Dialect::RhodeCode, update_user),
    ("delete_user", Dialect::RhodeCode, delete_user),
    ("get_users_group", Dialect::RhodeCode, get_group),
    ("get_user_group", Dialect::Kallithea, get_group),
    ("get_users_groups", Dialect::RhodeCode, get_groups),
    ("get_user_groups", Dialect::Kallithea, get_groups),
    ("create_users_group", Dialect::RhodeCode, create_group),
    ("create_user_group", Dialect::Kallithea, create_group),
    ("update_users_group", Dialect::RhodeCode, update_group),
    ("update_user_group", Dialect::Kallithea, update_group),
    ("delete_users_group", Dialect::RhodeCode, delete_group),
    ("delete_user_group", Dialect::Kallithea, delete_group),
    ("add_user_to_users_group", Dialect::RhodeCode, add_member),
    ("add_user_to_user_group", Dialect::Kallithea, add_member),
    ("remove_user_from_users_group", Dialect::RhodeCode, remove_member),
    ("remove_user_from_user_group", Dialect::Kallithea, remove_member),
    ("get_repo", Dialect::RhodeCode, get_repo),
    ("get_repos", Dialect::RhodeCode, get_repos),
    ("create_repo", Dialect::RhodeCode, create_repo),
    ("update_repo", Dialect::RhodeCode, update_repo),
    ("delete_repo", Dialect::RhodeCode, delete_repo),
    ("grant_user_permission", Dialect::RhodeCode, grant_user),
    ("revoke_user_permission", Dialect::RhodeCode, revoke_user),
    ("grant_users_group_permission", Dialect::RhodeCode, grant_group),
    ("grant_user_group_permission", Dialect::Kallithea, grant_group),
    ("revoke_users_group_permission", Dialect::RhodeCode, revoke_group),
    ("revoke_user_group_permission", Dialect::Kallithea, revoke_group),
];

/// Every method's name, in the table's order (the OpenAPI document lists them).
pub fn names() -> impl Iterator<Item = &'static str> {
    METHODS.iter().map(|(name, _, _)| *name)
}

/// RhodeCode's and Kallithea's methods that work on version control (or the server's network), which
/// Conveyor does not have: each answers an error saying so.
pub const UNSUPPORTED: &[&str] = &[
    "pull",
    "rescan_repos",
    "invalidate_cache",
    "lock",
    "get_locks",
    "get_repo_nodes",
    "fork_repo",
    "create_gist",
    "get_gist",
    "get_gists",
    "delete_gist",
    "get_changesets",
    "get_changeset",
    "get_pullrequest",
    "comment_pullrequest",
    "edit_reviewers",
    "show_ip",
    "get_ip",
    "get_server_info",
];

/// Runs `method` for `caller`.
pub fn call(ctx: &Ctx, caller: &Caller, method: &str, args: Args) -> Outcome {
    if method.starts_with('_') {
        return Err("Method not allowed".into());
    }
    if UNSUPPORTED.contains(&method) {
        return Err(format!("`{method}` is not supported: Conveyor projects are not version-control repositories"));
    }
    let (_, dialect, handler) =
        METHODS.iter().find(|(name, ..)| *name == method).ok_or_else(|| format!("No such method: {method}"))?;
    handler(&Call { ctx, caller, args, dialect: *dialect })
}

// ----- errors -----

/// `error`, with RhodeCode's "does not exist" words when it is a 404 about `what` (named as given).
fn missing(error: ApiError, what: &str, given: &Ref) -> String {
    match error {
        ApiError::NotFound(_) => format!("{what} `{given}` does not exist"),
        other => message(&other),
    }
}

/// A 404 from a service that resolves a project and a user or group: which one was missing.
fn missing_of_grant(error: ApiError, repo: &Ref, grantee: (&str, &Ref)) -> String {
    match &error {
        ApiError::NotFound(detail) if detail.starts_with("user ") || detail.starts_with("group ") => {
            missing(error, grantee.0, grantee.1)
        }
        _ => missing(error, "repository", repo),
    }
}

/// RhodeCode's `get_*`: the shaped thing, or `null` when it is missing (or hidden from the caller).
fn found_or_null<T>(found: Result<T, ApiError>, shape: impl FnOnce(T) -> Outcome) -> Outcome {
    match found {
        Ok(found) => shape(found),
        Err(ApiError::NotFound(_)) => Ok(Json::Null),
        Err(other) => Err(message(&other)),
    }
}

/// A 409 `duplicate` as RhodeCode words it (``user `x` already exist``).
fn duplicate(error: ApiError, what: &str, given: &str) -> String {
    match error {
        ApiError::Conflict { code: "duplicate", .. } => format!("{what} `{given}` already exist"),
        other => message(&other),
    }
}

fn json_of(value: &impl serde::Serialize) -> Result<Json, String> {
    to_json(value).map_err(|error| message(&error))
}

/// Conveyor has no external (LDAP) accounts: `ldap_dn`, `extern_name` and a non-internal `extern_type` are
/// refused rather than dropped.
fn no_external_accounts(args: &Args) -> Result<(), String> {
    let external = args.opt_string("ldap_dn")?.is_some_and(|dn| !dn.is_empty())
        || args.opt_string("extern_name")?.is_some_and(|name| !name.is_empty())
        || args.opt_string("extern_type")?.is_some_and(|kind| !kind.is_empty() && kind != "internal");
    if external {
        Err("external accounts (`ldap_dn`, `extern_type`, `extern_name`) are not supported".into())
    } else {
        Ok(())
    }
}

/// Arguments that RhodeCode scripts send about version control, accepted and ignored (documented).
const VCS_ARGS: [&str; 6] =
    ["repo_type", "landing_rev", "enable_statistics", "enable_locking", "enable_downloads", "copy_permissions"];

// ----- users -----

fn user_object(native: &impl serde::Serialize) -> Result<Json, String> {
    Ok(shapes::user(&json_of(native)?))
}

fn get_user(call: &Call) -> Outcome {
    call.args.only(&["userid"])?;
    let user = match call.args.opt_reference("userid")? {
        Some(user) => user,
        None => match call.principal().user() {
            Some(me) => Ref::Id(me.id),
            None => return Err("Missing non optional `userid` arg in JSON DATA".into()),
        },
    };
    found_or_null(accounts::get_user(call.db()?, call.principal(), &user), |found| user_object(&found))
}

fn get_users(call: &Call) -> Outcome {
    call.args.only(&[])?;
    let db = call.db()?;
    let rows =
        query::all_pages(&[], |pairs| accounts::list_users(db, call.principal(), pairs)).map_err(|e| message(&e))?;
    Ok(rows.into_iter().map(|row| shapes::user(&Json::Object(row))).collect())
}

const USER_ARGS: [&str; 10] = [
    "username",
    "email",
    "password",
    "firstname",
    "lastname",
    "active",
    "admin",
    "ldap_dn",
    "extern_type",
    "extern_name",
];

fn create_user(call: &Call) -> Outcome {
    let args = &call.args;
    args.only(&USER_ARGS)?;
    no_external_accounts(args)?;
    let input = NewUserInput {
        username: args.string("username")?,
        email: args.string("email")?,
        password: args.opt_string("password")?.filter(|password| !password.is_empty()),
        first_name: args.opt_string("firstname")?.unwrap_or_default(),
        last_name: args.opt_string("lastname")?.unwrap_or_default(),
        active: args.opt_bool("active")?,
        admin: args.opt_bool("admin")?.unwrap_or(false),
        verified: None,
    };
    let created = accounts::create_user(call.db()?, call.principal(), &input, clock::now()).map_err(|error| {
        match accounts::duplicate_field(&error) {
            Some("email") => format!("email `{}` already exist", input.email),
            _ => duplicate(error, "user", &input.username),
        }
    })?;
    Ok(json!({"msg": format!("created new user `{}`", created.username), "user": user_object(&created)?}))
}

fn update_user(call: &Call) -> Outcome {
    let args = &call.args;
    let mut known = USER_ARGS.to_vec();
    known.push("userid");
    args.only(&known)?;
    no_external_accounts(args)?;
    let user = args.reference("userid")?;
    let patch = UserPatch {
        username: args.opt_string("username")?,
        email: args.opt_string("email")?,
        first_name: args.opt_string("firstname")?,
        last_name: args.opt_string("lastname")?,
        active: args.opt_bool("active")?,
        admin: args.opt_bool("admin")?,
        verified: None,
        password: args.opt_string("password")?,
    };
    let hook = Hook::new(call.ctx, &Settings::from_ctx(call.ctx));
    let updated = accounts::update_user(call.db()?, call.principal(), &user, &patch, &hook, clock::now())
        .map_err(|error| missing(error, "user", &user))?;
    let msg = format!("updated user ID:{} {}", updated.user.id, updated.user.username);
    Ok(json!({"msg": msg, "user": user_object(&updated.user)?}))
}

fn delete_user(call: &Call) -> Outcome {
    call.args.only(&["userid"])?;
    let user = call.args.reference("userid")?;
    let db = call.db()?;
    let found = accounts::get_user(db, call.principal(), &user).map_err(|error| missing(error, "user", &user))?;
    accounts::delete_user(db, call.principal(), &Ref::Id(found.id)).map_err(|e| missing(e, "user", &user))?;
    Ok(json!({"msg": format!("deleted user ID:{} {}", found.id, found.username), "user": null}))
}

// ----- user groups -----

/// A group's members as user objects: in full for administrators (who may read every user), by id and
/// name for everyone else (what the native group shows them).
fn member_objects(call: &Call, native_group: &Json) -> Result<Vec<Json>, String> {
    let members = native_group["members"].as_array().cloned().unwrap_or_default();
    if !call.principal().is_admin() {
        return Ok(members.iter().map(|m| json!({"user_id": m["id"], "username": m["username"]})).collect());
    }
    let ids: Vec<String> = members.iter().map(|member| member["id"].to_string()).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Every member in one query: the native user rows, in the group's order.
    let filter = [("id__in".to_string(), ids.join(","))];
    let db = call.db()?;
    let rows = query::all_pages(&filter, |pairs| accounts::list_users(db, call.principal(), pairs))
        .map_err(|e| message(&e))?;
    Ok(rows.into_iter().map(|row| shapes::user(&Json::Object(row))).collect())
}

fn group_object(call: &Call, group: &impl serde::Serialize) -> Outcome {
    let native = json_of(group)?;
    Ok(shapes::group(&native, member_objects(call, &native)?))
}

fn get_group(call: &Call) -> Outcome {
    call.args.only(&[call.dialect.group_arg()])?;
    let found = accounts::get_group(call.db()?, call.principal(), &call.group_ref()?);
    found_or_null(found, |group| group_object(call, &group))
}

fn get_groups(call: &Call) -> Outcome {
    call.args.only(&[])?;
    let db = call.db()?;
    let rows =
        query::all_pages(&[], |pairs| accounts::list_groups(db, call.principal(), pairs)).map_err(|e| message(&e))?;
    rows.into_iter().map(|row| group_object(call, &Json::Object(row))).collect()
}

/// Conveyor's groups have no owner: `owner` is refused rather than dropped.
fn no_owner(args: &Args) -> Result<(), String> {
    match args.opt_reference("owner")? {
        Some(_) => Err("`owner` is not supported: Conveyor's user groups have no owner".into()),
        None => Ok(()),
    }
}

fn create_group(call: &Call) -> Outcome {
    let args = &call.args;
    args.only(&["group_name", "description", "owner", "active"])?;
    no_owner(args)?;
    let input = NewGroupInput {
        name: args.string("group_name")?,
        description: args.opt_string("description")?.unwrap_or_default(),
        active: args.opt_bool("active")?,
    };
    let created = accounts::create_group(call.db()?, call.principal(), &input, clock::now())
        .map_err(|error| duplicate(error, "user group", &input.name))?;
    let msg = format!("created new user group `{}`", created.name);
    Ok(json!({"msg": msg, call.dialect.group_key(): group_object(call, &created)?}))
}

fn update_group(call: &Call) -> Outcome {
    let args = &call.args;
    args.only(&[call.dialect.group_arg(), "group_name", "description", "owner", "active"])?;
    no_owner(args)?;
    let group = call.group_ref()?;
    let patch = GroupPatch {
        name: args.opt_string("group_name")?,
        description: args.opt_string("description")?,
        active: args.opt_bool("active")?,
    };
    let updated =
        accounts::update_group(call.db()?, call.principal(), &group, &patch).map_err(|error| match &error {
            ApiError::Conflict { .. } => duplicate(error, "user group", patch.name.as_deref().unwrap_or_default()),
            _ => missing(error, "user group", &group),
        })?;
    let msg = format!("updated user group ID:{} {}", updated.id, updated.name);
    Ok(json!({"msg": msg, call.dialect.group_key(): group_object(call, &updated)?}))
}

fn delete_group(call: &Call) -> Outcome {
    call.args.only(&[call.dialect.group_arg()])?;
    let group = call.group_ref()?;
    let db = call.db()?;
    let found = accounts::get_group(db, call.principal(), &group).map_err(|e| missing(e, "user group", &group))?;
    accounts::delete_group(db, call.principal(), &Ref::Id(found.id)).map_err(|e| missing(e, "user group", &group))?;
    Ok(json!({"msg": format!("deleted user group ID:{} {}", found.id, found.name), call.dialect.group_key(): null}))
}

/// The group and user of a membership call; a 404 names whichever of the two is missing.
fn membership(call: &Call) -> Result<(Ref, Ref), String> {
    call.args.only(&[call.dialect.group_arg(), "userid"])?;
    Ok((call.group_ref()?, call.args.reference("userid")?))
}

fn missing_of_membership(error: ApiError, group: &Ref, user: &Ref) -> String {
    match &error {
        ApiError::NotFound(detail) if detail.contains("user") && !detail.contains("group") => {
            missing(error, "user", user)
        }
        _ => missing(error, "user group", group),
    }
}

fn add_member(call: &Call) -> Outcome {
    let (group, user) = membership(call)?;
    let (found, added) = accounts::add_member(call.db()?, call.principal(), &group, &user)
        .map_err(|error| missing_of_membership(error, &group, &user))?;
    if !added {
        return Ok(json!({"success": false, "msg": "User is already in that group"}));
    }
    Ok(json!({"success": true, "msg": format!("added member `{user}` to user group `{}`", found.name)}))
}

fn remove_member(call: &Call) -> Outcome {
    let (group, user) = membership(call)?;
    match accounts::remove_member(call.db()?, call.principal(), &group, &user) {
        Ok(()) => Ok(json!({"success": true, "msg": format!("removed member `{user}` from user group `{group}`")})),
        Err(ApiError::NotFound(detail)) if detail.contains("is not a member") => {
            Ok(json!({"success": false, "msg": "User wasn't in group"}))
        }
        Err(error) => Err(missing_of_membership(error, &group, &user)),
    }
}

// ----- repositories (projects) -----

fn get_repo(call: &Call) -> Outcome {
    call.args.only(&["repoid"])?;
    let repo = call.args.reference("repoid")?;
    let db = call.db()?;
    found_or_null(policy::readable_project(db, call.caller, &repo), |project| {
        let mut object = shapes::repo(&json_of(&project)?);
        // Grants are shown to those who may manage them, as on `GET /projects/{p}/grants`.
        if let Ok(grants) = operations::grants(db, call.caller, &Ref::Id(project.id)) {
            object["members"] = json!(shapes::members(&grants));
        }
        Ok(object)
    })
}

fn get_repos(call: &Call) -> Outcome {
    call.args.only(&[])?;
    let db = call.db()?;
    let scope = policy::read_scope(call.caller);
    let rows =
        query::all_pages(&[], |pairs| Listing::run(db, &projects::RESOURCE, &scope, pairs)).map_err(|e| message(&e))?;
    Ok(rows.into_iter().map(|row| shapes::repo(&Json::Object(row))).collect())
}

fn visibility(private: Option<bool>) -> Option<Visibility> {
    private.map(|private| if private { Visibility::Private } else { Visibility::Public })
}

fn create_repo(call: &Call) -> Outcome {
    let args = &call.args;
    let mut known = vec!["repo_name", "owner", "description", "private", "clone_uri"];
    known.extend(VCS_ARGS);
    args.only(&known)?;
    let name = args.string("repo_name")?;
    let input = ProjectInput {
        name: name.clone(),
        description: args.opt_string("description")?,
        visibility: visibility(args.opt_bool("private")?),
        clone_url: args.opt_string("clone_uri")?,
        ..ProjectInput::default()
    };
    let db = call.db()?;
    let owner = args.opt_reference("owner")?;
    let created = match &owner {
        Some(owner) => operations::create_project_for(db, call.caller, owner, &input, clock::now()),
        None => operations::create_project(db, call.caller, &input, clock::now()),
    };
    let created = created.map_err(|error| match (&error, &owner) {
        (ApiError::Forbidden(_), Some(owner)) => {
            format!("Only RhodeCode admin can specify `owner` param (not `{owner}`)")
        }
        (ApiError::NotFound(_), Some(owner)) => missing(error, "user", owner),
        _ => duplicate(error, "repo", &name),
    })?;
    let msg = format!("Created new repository `{}`", created.name);
    Ok(json!({"msg": msg, "success": true, "repo": shapes::repo(&json_of(&created)?)}))
}

fn update_repo(call: &Call) -> Outcome {
    let args = &call.args;
    let mut known = vec!["repoid", "name", "owner", "group", "description", "private", "clone_uri"];
    known.extend(VCS_ARGS);
    args.only(&known)?;
    for unsupported in ["owner", "group"] {
        if args.opt_reference(unsupported)?.is_some() {
            return Err(format!("`{unsupported}` is not supported by update_repo: use the grants instead"));
        }
    }
    let repo = args.reference("repoid")?;
    let db = call.db()?;
    let project = policy::readable_project(db, call.caller, &repo).map_err(|e| missing(e, "repository", &repo))?;
    // `private` only changes whether the project is public: a hidden project stays hidden when told private.
    let new_visibility = visibility(args.opt_bool("private")?)
        .filter(|wanted| (*wanted == Visibility::Public) != (project.visibility == Visibility::Public));
    let patch = ProjectPatch {
        name: args.opt_string("name")?,
        description: args.opt_string("description")?,
        visibility: new_visibility,
        clone_url: args.opt_string("clone_uri")?,
        ..ProjectPatch::default()
    };
    let updated = operations::update_project(db, call.caller, &Ref::Id(project.id), &patch, clock::now()).map_err(
        |error| match (&error, &patch.name) {
            (ApiError::Conflict { .. }, Some(name)) => format!("repo `{name}` already exist"),
            _ => missing(error, "repository", &repo),
        },
    )?;
    let msg = format!("updated repo ID:{} {}", updated.id, updated.name);
    Ok(json!({"msg": msg, "repository": shapes::repo(&json_of(&updated)?)}))
}

fn delete_repo(call: &Call) -> Outcome {
    call.args.only(&["repoid", "forks"])?;
    let repo = call.args.reference("repoid")?;
    let db = call.db()?;
    let project = policy::readable_project(db, call.caller, &repo).map_err(|e| missing(e, "repository", &repo))?;
    operations::delete_project(db, call.caller, &Ref::Id(project.id)).map_err(|e| missing(e, "repository", &repo))?;
    Ok(json!({"msg": format!("Deleted repository `{}`", project.name), "success": true}))
}

// ----- permissions -----

/// Sets (or with `perm` absent, removes) a grant; answers RhodeCode's message.
fn set_grant(call: &Call, key: &str, label: &str, grantee: fn(Ref) -> Grantee, perm: Option<&str>) -> Outcome {
    let repo = call.args.reference("repoid")?;
    let subject = call.args.reference(key)?;
    let role = match perm {
        Some(perm) => GrantRequest { role: None, perm: Some(perm.to_string()) }
            .role()
            .map_err(|_| format!("permission `{perm}` does not exist"))?,
        None => 0,
    };
    operations::set_grant(call.db()?, call.caller, &repo, &grantee(subject.clone()), role)
        .map_err(|error| missing_of_grant(error, &repo, (label, &subject)))?;
    let msg = match perm {
        Some(perm) => format!("Granted perm: `{perm}` for {label}: `{subject}` in repo: `{repo}`"),
        None => format!("Revoked perm for {label}: `{subject}` in repo: `{repo}`"),
    };
    Ok(json!({"msg": msg, "success": true}))
}

fn grant_user(call: &Call) -> Outcome {
    call.args.only(&["repoid", "userid", "perm"])?;
    let perm = call.args.string("perm")?;
    set_grant(call, "userid", "user", Grantee::User, Some(&perm))
}

fn revoke_user(call: &Call) -> Outcome {
    call.args.only(&["repoid", "userid"])?;
    set_grant(call, "userid", "user", Grantee::User, None)
}

fn grant_group(call: &Call) -> Outcome {
    let key = call.dialect.group_arg();
    call.args.only(&["repoid", key, "perm"])?;
    let perm = call.args.string("perm")?;
    set_grant(call, key, "user group", Grantee::Group, Some(&perm))
}

fn revoke_group(call: &Call) -> Outcome {
    let key = call.dialect.group_arg();
    call.args.only(&["repoid", key])?;
    set_grant(call, key, "user group", Grantee::Group, None)
}
