//! Who is calling (SPEC §2 "Credentials accepted"): every handler gets a [`Principal`] from
//! [`authenticate`] and checks it with [`require_user`], [`require_signed_in`], [`require_admin`] or a
//! project role ([`Principal::project_role`]).
//!
//! Credentials: `Authorization: Bearer <token>`, `Authorization: Token <token>` (Seed Scheduler), or the
//! `conveyor_session` cookie; the header wins when both are present. The `admin_token` variable, when set,
//! makes its holder the built-in administrator. Anything else is looked up by SHA-256 in `api_tokens`. A
//! credential that is presented but invalid, expired, revoked or belongs to a disabled account is a 401 —
//! never a silent fall-back to anonymous.

use crate::clock;
use crate::domain::accounts::LAST_USED_GRANULARITY;
use crate::domain::roles;
use crate::error::ApiError;
use crate::router::Ctx;
use crate::secrets;
use crate::store::tokens::{self, TokenKind};

/// The login session cookie (set and cleared by [`session`](crate::session)).
pub const SESSION_COOKIE: &str = "conveyor_session";

/// The caller of a request.
///
/// The next issue adds a `Worker` variant (machine identities, SPEC §5); handlers match on the variants
/// they accept and treat the rest through the `require_*` helpers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credential was presented.
    Anonymous,
    /// The built-in administrator (the `admin_token` variable). Not a user: it has no id, tokens or groups.
    Admin,
    /// A user, through a session or a named API token.
    User(UserPrincipal),
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrincipal {
    pub id: i64,
    pub username: String,
    /// Effective admin rights: the user is an admin AND the credential carries admin scope (every session
    /// of Conveyor's login does; Project-W's login only with `scope=admin`; a named token when issued with it).
    pub admin: bool,
    /// The token row the request authenticated with.
    pub token_id: i64,
    pub token_kind: TokenKind,
}

impl Principal {
    /// Whether the caller has administrator rights (built-in, or a user with effective admin).
    pub fn is_admin(&self) -> bool {
        match self {
            Principal::Admin => true,
            Principal::User(user) => user.admin,
            Principal::Anonymous => false,
        }
    }

    /// The user, when the caller is one.
    pub fn user(&self) -> Option<&UserPrincipal> {
        match self {
            Principal::User(user) => Some(user),
            _ => None,
        }
    }

    /// The caller's role on a project given their own grant and their active groups' grants (0 = none):
    /// administrators have every role; anonymous callers none.
    pub fn project_role(&self, user_grant: i64, group_grants: &[i64]) -> i64 {
        match self {
            _ if self.is_admin() => roles::ALL,
            Principal::User(_) => roles::combine(user_grant, group_grants),
            _ => 0,
        }
    }
}

/// The token a request presents, if any: the `Authorization` header (`Bearer` or `Token`) or else the
/// session cookie. A malformed header or another scheme is a 401; the cookie on a state-changing request
/// ([`Ctx::changes_state`]) from another site ([`Request::is_cross_site`](crate::http::Request::is_cross_site))
/// is a 403.
pub fn presented_token(ctx: &Ctx) -> Result<Option<String>, ApiError> {
    presented_token_in(ctx, &[SESSION_COOKIE])
}

/// [`presented_token`] for a surface whose clients carry their session in other cookies too (Project-W's
/// `token`): the first of `cookies` the request carries is the credential, and it passes the same
/// cross-site check as the session cookie. The header still wins over any cookie.
pub fn presented_token_in(ctx: &Ctx, cookies: &[&str]) -> Result<Option<String>, ApiError> {
    if let Some(header) = ctx.request.header("authorization") {
        let (scheme, token) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")) {
            return Err(ApiError::Unauthorized("unsupported authorization scheme; use Bearer or Token".into()));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(ApiError::Unauthorized("the authorization header carries no token".into()));
        }
        return Ok(Some(token.to_string()));
    }
    let cookie = cookies.iter().find_map(|name| ctx.request.cookie(name).map(str::trim).filter(|t| !t.is_empty()));
    let Some(token) = cookie else {
        return Ok(None);
    };
    // A browser sends the cookie with requests other sites make it send: a change made with the cookie alone
    // must come from this site (tokens in headers are never sent by a browser on its own).
    if ctx.changes_state() && ctx.request.is_cross_site() {
        return Err(ApiError::Forbidden(
            "cross-site request refused: a change made with the session cookie must come from this site".into(),
        ));
    }
    Ok(Some(token.to_string()))
}

/// The caller of this request (see the module docs).
pub fn authenticate(ctx: &Ctx) -> Result<Principal, ApiError> {
    authenticate_with_cookies(ctx, &[SESSION_COOKIE])
}

/// [`authenticate`] reading the session from the first of `cookies` present ([`presented_token_in`]).
pub fn authenticate_with_cookies(ctx: &Ctx, cookies: &[&str]) -> Result<Principal, ApiError> {
    match presented_token_in(ctx, cookies)? {
        None => Ok(Principal::Anonymous),
        Some(token) => authenticate_token(ctx, &token),
    }
}

/// The principal a token string stands for (also used for the legacy RPC `api_key`). Updates the token's
/// `last_used_at` at most once a minute.
pub fn authenticate_token(ctx: &Ctx, token: &str) -> Result<Principal, ApiError> {
    if let Some(admin_token) = ctx.variable("admin_token")
        && secrets::secrets_equal(token, &admin_token)
    {
        return Ok(Principal::Admin);
    }
    let hash = secrets::sha256(token);
    let db = ctx.db()?;
    let invalid = || ApiError::Unauthorized("invalid or revoked token".into());
    let credential = tokens::lookup(db, &hash)?.ok_or_else(invalid)?;
    if !secrets::constant_time_eq(&credential.secret_hash, &hash) {
        return Err(invalid());
    }
    let now = clock::now();
    if credential.expires_at.is_some_and(|expires_at| expires_at <= now) {
        return Err(ApiError::Unauthorized(match credential.kind {
            TokenKind::Session => "the session has expired; log in again".into(),
            TokenKind::Api => "the token has expired".into(),
        }));
    }
    if !credential.user_active {
        return Err(ApiError::Unauthorized("the account is disabled".into()));
    }
    if credential.last_used_at.is_none_or(|used| used <= now - LAST_USED_GRANULARITY) {
        tokens::touch(db, credential.token_id, now, LAST_USED_GRANULARITY)?;
    }
    // A credential's `admin` flag is its admin scope: Conveyor's login sessions carry it, Project-W's carry it
    // only when asked for (`scope=admin`), named tokens when created with it.
    let admin = credential.user_admin && credential.token_admin;
    Ok(Principal::User(UserPrincipal {
        id: credential.user_id,
        username: credential.username,
        admin,
        token_id: credential.token_id,
        token_kind: credential.kind,
    }))
}

/// The signed-in user: 401 for anonymous callers, 403 for the built-in administrator (who has no account).
pub fn require_user(principal: &Principal) -> Result<&UserPrincipal, ApiError> {
    match principal {
        Principal::User(user) => Ok(user),
        Principal::Admin => Err(ApiError::Forbidden(
            "the built-in administrator has no user account; sign in as a user for this".into(),
        )),
        Principal::Anonymous => Err(not_signed_in()),
    }
}

/// Any authenticated caller (a user or the built-in administrator); 401 for anonymous callers.
pub fn require_signed_in(principal: &Principal) -> Result<(), ApiError> {
    match principal {
        Principal::Anonymous => Err(not_signed_in()),
        _ => Ok(()),
    }
}

/// Administrator rights: 401 for anonymous callers, 403 for users without (effective) admin.
pub fn require_admin(principal: &Principal) -> Result<(), ApiError> {
    require_signed_in(principal)?;
    if principal.is_admin() { Ok(()) } else { Err(ApiError::Forbidden("administrator rights required".into())) }
}

/// A user as the principal of work done for them without a request of theirs (a schedule firing): their own
/// grants, and administrator rights when their account has them. It carries no credential (`token_id` 0);
/// a disabled or deleted account is a 403.
pub fn on_behalf_of(db: &dyn crate::db::Db, user: i64) -> Result<Principal, ApiError> {
    let found = crate::store::users::find(db, &crate::domain::accounts::Ref::Id(user))?;
    match found {
        Some(found) if found.active => Ok(Principal::User(UserPrincipal {
            id: found.id,
            username: found.username,
            admin: found.admin,
            token_id: 0,
            token_kind: TokenKind::Api,
        })),
        _ => Err(ApiError::Forbidden(format!("the account of user {user} is disabled or gone"))),
    }
}

/// 403 unless `role` includes every bit of `needed`.
pub fn require_role(role: i64, needed: i64) -> Result<(), ApiError> {
    if roles::has(role, needed) { Ok(()) } else { Err(ApiError::Forbidden("insufficient project role".into())) }
}

fn not_signed_in() -> ApiError {
    ApiError::Unauthorized("authentication required".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Request;
    use crate::platform::Platform;
    use crate::store::users;
    use crate::testing::TestPlatform;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request { headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Request::default() }
    }

    fn seed(platform: &TestPlatform, admin: bool, active: bool) -> (i64, String, String) {
        let db = platform.open_db().unwrap();
        let new = users::NewUser {
            username: "ada",
            email: "ada@example.org",
            first_name: "",
            last_name: "",
            password_hash: None,
            active,
            admin,
            verified: true,
            created_at: 1,
        };
        let id = users::insert(db.as_ref(), &new).unwrap().unwrap().id;
        let mut secrets = Vec::new();
        // A named token without admin scope, and a session with it (as Conveyor's login opens one).
        for (kind, scoped) in [(TokenKind::Api, false), (TokenKind::Session, true)] {
            let secret = secrets::new_token(secrets::API_TOKEN_PREFIX).unwrap();
            let hash = secrets::sha256(&secret);
            let token = tokens::NewToken {
                user_id: id,
                kind,
                name: "t",
                prefix: &secrets::visible_prefix(&secret),
                secret_hash: &hash,
                admin: scoped,
                created_at: 1,
                expires_at: None,
            };
            tokens::insert(db.as_ref(), &token).unwrap();
            secrets.push(secret);
        }
        let session = secrets.pop().unwrap();
        (id, secrets.pop().unwrap(), session)
    }

    fn principal(platform: &TestPlatform, headers: &[(&str, &str)]) -> Result<Principal, ApiError> {
        authenticate(&Ctx::new(platform, request(headers)))
    }

    #[test]
    fn credentials_resolve_to_principals() {
        let platform = TestPlatform::new("resolve");
        let (id, api, session) = seed(&platform, true, true);
        assert_eq!(principal(&platform, &[]), Ok(Principal::Anonymous));
        assert_eq!(principal(&platform, &[("authorization", "Bearer root-secret")]), Ok(Principal::Admin));
        assert_eq!(principal(&platform, &[("authorization", "token root-secret")]), Ok(Principal::Admin));

        let by_token = principal(&platform, &[("authorization", &format!("Token {api}"))]).unwrap();
        let user = by_token.user().unwrap();
        assert_eq!((user.id, user.username.as_str(), user.admin, user.token_kind), (id, "ada", false, TokenKind::Api));
        assert!(!by_token.is_admin(), "an admin's token without admin scope has no admin rights");

        let cookie = format!("theme=dark; {SESSION_COOKIE}={session}");
        let by_cookie = principal(&platform, &[("cookie", &cookie)]).unwrap();
        assert!(by_cookie.is_admin(), "a session carries the user's own rights");
        assert_eq!(by_cookie.user().unwrap().token_kind, TokenKind::Session);

        let header_wins = principal(&platform, &[("authorization", &format!("Bearer {api}")), ("cookie", &cookie)]);
        assert_eq!(header_wins.unwrap().user().unwrap().token_kind, TokenKind::Api);
    }

    #[test]
    fn a_session_without_admin_scope_has_a_users_rights_only() {
        let platform = TestPlatform::new("unscoped-session");
        let (_, _, session) = seed(&platform, true, true);
        let db = platform.open_db().unwrap();
        db.execute("UPDATE api_tokens SET admin = 0 WHERE kind = 'session'", &[]).unwrap();
        let cookie = format!("{SESSION_COOKIE}={session}");
        let unscoped = principal(&platform, &[("cookie", &cookie)]).unwrap();
        assert!(!unscoped.is_admin(), "an administrator's session opened without admin scope");
        db.execute("UPDATE users SET admin = 0", &[]).unwrap();
        db.execute("UPDATE api_tokens SET admin = 1 WHERE kind = 'session'", &[]).unwrap();
        let scoped = principal(&platform, &[("cookie", &cookie)]).unwrap();
        assert!(!scoped.is_admin(), "admin scope never exceeds the account's rights");
    }

    #[test]
    fn another_session_cookie_goes_through_the_same_checks() {
        let platform = TestPlatform::new("other-cookie");
        let (_, api, session) = seed(&platform, false, true);
        let with = |method: &str, headers: &[(&str, &str)]| {
            let request = Request { method: method.into(), ..request(headers) };
            authenticate_with_cookies(&Ctx::new(&platform, request), &["token", SESSION_COOKIE])
        };
        let cookie = format!("token={session}");
        let by_token_cookie = with("POST", &[("cookie", &cookie)]).unwrap();
        assert_eq!(by_token_cookie.user().unwrap().token_kind, TokenKind::Session);
        assert_eq!(principal(&platform, &[("cookie", &cookie)]), Ok(Principal::Anonymous), "only where asked for");
        let first = format!("token={session}; {SESSION_COOKIE}=garbage");
        assert!(with("GET", &[("cookie", &first)]).is_ok(), "the first cookie named is the credential");
        let cross = [("cookie", cookie.as_str()), ("origin", "http://evil.example"), ("host", "conveyor.example")];
        assert_eq!(with("POST", &cross).unwrap_err().status(), 403, "a cross-site change with the cookie alone");
        assert!(with("GET", &cross).is_ok(), "reads are not changes");
        let bearer = format!("Bearer {api}");
        let mut with_header = cross.to_vec();
        with_header.push(("authorization", &bearer));
        let header_wins = with("POST", &with_header).unwrap();
        assert_eq!(header_wins.user().unwrap().token_kind, TokenKind::Api, "the header wins and is never cross-site");
        assert_eq!(with("GET", &[("cookie", "token=garbage")]).unwrap_err().status(), 401);
    }

    #[test]
    fn bad_credentials_are_401_never_anonymous() {
        let platform = TestPlatform::new("bad");
        let (_, api, _) = seed(&platform, false, true);
        for header in ["Bearer nope", "Basic YWRhOnB3", "Bearer", "Bearer   ", "Worker 1:x", &format!("Bearer {api}x")]
        {
            let error = principal(&platform, &[("authorization", header)]).unwrap_err();
            assert_eq!(error.status(), 401, "{header}");
        }
        let cookie = format!("{SESSION_COOKIE}=garbage");
        assert_eq!(principal(&platform, &[("cookie", &cookie)]).unwrap_err().status(), 401);
        assert_eq!(principal(&platform, &[("cookie", "other=1")]), Ok(Principal::Anonymous));
    }

    #[test]
    fn expired_tokens_and_disabled_accounts_are_refused() {
        let platform = TestPlatform::new("expired");
        let (id, api, _) = seed(&platform, false, true);
        let db = platform.open_db().unwrap();
        let bearer = format!("Bearer {api}");
        db.execute("UPDATE api_tokens SET expires_at = ? WHERE kind = 'api'", &[(clock::now() - 1).into()]).unwrap();
        let expired = principal(&platform, &[("authorization", &bearer)]).unwrap_err();
        assert_eq!(expired, ApiError::Unauthorized("the token has expired".into()));
        db.execute("UPDATE api_tokens SET expires_at = NULL", &[]).unwrap();
        assert!(principal(&platform, &[("authorization", &bearer)]).is_ok());
        users::update(db.as_ref(), id, &users::Changes { active: Some(false), ..Default::default() }).unwrap();
        assert_eq!(principal(&platform, &[("authorization", &bearer)]).unwrap_err().status(), 401);
    }

    #[test]
    fn an_empty_admin_token_matches_nothing() {
        let mut platform = TestPlatform::new("empty-admin");
        platform.variables.insert("admin_token".into(), String::new());
        assert_eq!(principal(&platform, &[("authorization", "Bearer root-secret")]).unwrap_err().status(), 401);
    }

    #[test]
    fn last_used_is_recorded() {
        let platform = TestPlatform::new("last-used");
        let (id, api, _) = seed(&platform, false, true);
        principal(&platform, &[("authorization", &format!("Bearer {api}"))]).unwrap();
        let db = platform.open_db().unwrap();
        let token = tokens::get(db.as_ref(), id, 1).unwrap().unwrap();
        let used = token.last_used_at.expect("recorded");
        assert!((clock::now() - used).abs() < 5);
    }

    #[test]
    fn role_checks() {
        let user = Principal::User(UserPrincipal {
            id: 1,
            username: "ada".into(),
            admin: false,
            token_id: 1,
            token_kind: TokenKind::Session,
        });
        assert_eq!(require_admin(&Principal::Anonymous).unwrap_err().status(), 401);
        assert_eq!(require_admin(&user).unwrap_err().status(), 403);
        assert!(require_admin(&Principal::Admin).is_ok());
        assert_eq!(require_user(&Principal::Admin).unwrap_err().status(), 403);
        assert_eq!(require_user(&Principal::Anonymous).unwrap_err().status(), 401);
        assert!(require_signed_in(&Principal::Admin).is_ok());
        assert_eq!(user.project_role(roles::READ, &[roles::EDIT]), roles::READ | roles::EDIT);
        assert_eq!(Principal::Admin.project_role(0, &[]), roles::ALL);
        assert_eq!(Principal::Anonymous.project_role(roles::ALL, &[]), 0);
        assert!(require_role(roles::ALL, roles::SECRET).is_ok());
        assert_eq!(require_role(roles::READ, roles::EDIT).unwrap_err().status(), 403);
    }
}
