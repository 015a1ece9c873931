//! Who is calling, people OR workers (SPEC §2, §5). What they may then do is `policy`'s to decide.
//!
//! Worker credentials: headers `X-Worker-ID` + `X-Secret` (task_tracker; names case-insensitive) or
//! `Authorization: Worker <id>:<secret>`. A worker credential that is presented but wrong, incomplete or
//! malformed is a 401 — never a silent fall-back to anonymous. Worker credentials take precedence over a
//! user credential sent alongside. Without a worker credential, [`auth::authenticate`] decides (bearer /
//! `Token` / session cookie / the built-in administrator / anonymous).

use crate::auth::{self, Principal};
use crate::domain::worker::Worker;
use crate::error::ApiError;
use crate::router::Ctx;
use crate::workers;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// A worker that presented valid credentials.
    Worker(Worker),
    /// A user, the built-in administrator, or an anonymous caller.
    Person(Principal),
}

impl Caller {
    /// The worker, when the caller is one.
    pub fn worker(&self) -> Option<&Worker> {
        match self {
            Caller::Worker(worker) => Some(worker),
            Caller::Person(_) => None,
        }
    }

    /// The person (user, built-in administrator or anonymous), when the caller is not a worker.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Person(principal) => Some(principal),
            Caller::Worker(_) => None,
        }
    }

    /// Administrator rights (never for a worker).
    pub fn is_admin(&self) -> bool {
        self.principal().is_some_and(Principal::is_admin)
    }

    /// Whether no credential at all was presented.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Caller::Person(Principal::Anonymous))
    }
}

const WORKER_SCHEME: &str = "worker";

fn bad_worker_credentials(detail: &str) -> ApiError {
    ApiError::Unauthorized(detail.to_string())
}

/// The worker credential the request presents, if any: `(id, secret)`. Malformed or incomplete → 401.
pub fn presented_worker(ctx: &Ctx) -> Result<Option<(i64, String)>, ApiError> {
    let request = &ctx.request;
    let (id, secret) = (request.header("x-worker-id"), request.header("x-secret"));
    let (id, secret) = match (id, secret) {
        (Some(id), Some(secret)) => (id.trim().to_string(), secret.trim().to_string()),
        (Some(_), None) | (None, Some(_)) => {
            return Err(bad_worker_credentials("worker credentials need both X-Worker-ID and X-Secret"));
        }
        (None, None) => {
            let Some(header) = request.header("authorization") else { return Ok(None) };
            let header = header.trim();
            let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
            if !scheme.eq_ignore_ascii_case(WORKER_SCHEME) {
                return Ok(None);
            }
            let (id, secret) = rest
                .trim()
                .split_once(':')
                .ok_or_else(|| bad_worker_credentials("use `Authorization: Worker <id>:<secret>`"))?;
            (id.trim().to_string(), secret.trim().to_string())
        }
    };
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| bad_worker_credentials("invalid worker credentials"))?;
    if secret.is_empty() {
        return Err(bad_worker_credentials("invalid worker credentials"));
    }
    Ok(Some((id, secret)))
}

/// The caller of this request (see the module docs).
pub fn authenticate(ctx: &Ctx) -> Result<Caller, ApiError> {
    match presented_worker(ctx)? {
        Some((id, secret)) => Ok(Caller::Worker(workers::authenticate(ctx.db()?, id, &secret)?)),
        None => Ok(Caller::Person(auth::authenticate(ctx)?)),
    }
}

/// The caller as a person, without reading worker credentials: for the few compat routes whose original
/// never read them and whose clients send placeholders there (`X-Worker-Id: None`; `docs/tracker.md`).
pub fn authenticate_person(ctx: &Ctx) -> Result<Caller, ApiError> {
    Ok(Caller::Person(auth::authenticate(ctx)?))
}

/// The worker: 401 for an anonymous caller, 403 for a person.
pub fn require_worker(caller: &Caller) -> Result<&Worker, ApiError> {
    match caller {
        Caller::Worker(worker) => Ok(worker),
        Caller::Person(Principal::Anonymous) => Err(ApiError::Unauthorized("worker credentials required".into())),
        Caller::Person(_) => Err(ApiError::Forbidden("this route is for workers (X-Worker-ID + X-Secret)".into())),
    }
}

/// The person: 401 for anonymous callers, 403 for a worker. (Anonymous is returned as an error here;
/// use [`Caller::principal`] to accept anonymous people.)
pub fn require_person(caller: &Caller) -> Result<&Principal, ApiError> {
    match caller {
        Caller::Person(Principal::Anonymous) => Err(ApiError::Unauthorized("authentication required".into())),
        Caller::Person(principal) => Ok(principal),
        Caller::Worker(_) => Err(ApiError::Forbidden("workers cannot do this; use a user token".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::worker::WorkerInput;
    use crate::http::Request;
    use crate::platform::Platform;
    use crate::testing::TestPlatform;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request { headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Request::default() }
    }

    fn caller(platform: &TestPlatform, headers: &[(&str, &str)]) -> Result<Caller, ApiError> {
        authenticate(&Ctx::new(platform, request(headers)))
    }

    fn register(platform: &TestPlatform) -> (i64, String) {
        let db = platform.open_db().unwrap();
        let input = WorkerInput { alias: "w".into(), ..WorkerInput::default() };
        let created = workers::register(db.as_ref(), &input, 1).unwrap();
        (created.worker.id, created.secret)
    }

    #[test]
    fn worker_credentials_in_both_styles() {
        let platform = TestPlatform::new("caller-styles");
        let (id, secret) = register(&platform);
        let id_text = id.to_string();
        let by_headers = caller(&platform, &[("X-Worker-ID", &id_text), ("x-secret", &secret)]).unwrap();
        assert_eq!(by_headers.worker().map(|w| w.id), Some(id));
        let header = format!("Worker {id}:{secret}");
        let by_authorization = caller(&platform, &[("authorization", &header)]).unwrap();
        assert_eq!(by_authorization.worker().map(|w| w.id), Some(id));
        assert!(!by_authorization.is_admin());
        assert_eq!(caller(&platform, &[]).unwrap(), Caller::Person(Principal::Anonymous));
        let admin = caller(&platform, &[("authorization", "Bearer root-secret")]).unwrap();
        assert!(admin.is_admin());
    }

    #[test]
    fn wrong_or_partial_worker_credentials_are_401() {
        let platform = TestPlatform::new("caller-bad");
        let (id, secret) = register(&platform);
        let id_text = id.to_string();
        let wrong = format!("{secret}x");
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![("x-worker-id", &id_text), ("x-secret", &wrong)],
            vec![("x-worker-id", "999"), ("x-secret", &secret)],
            vec![("x-worker-id", "abc"), ("x-secret", &secret)],
            vec![("x-worker-id", &id_text)],
            vec![("x-secret", &secret)],
            vec![("x-worker-id", &id_text), ("x-secret", "")],
            vec![("authorization", "Worker nothing")],
            vec![("authorization", "worker 1:")],
        ];
        for headers in cases {
            let error = caller(&platform, &headers).unwrap_err();
            assert_eq!(error.status(), 401, "{headers:?}");
        }
    }

    #[test]
    fn routes_for_one_kind_of_caller_refuse_the_other() {
        let platform = TestPlatform::new("caller-kinds");
        let (id, _) = register(&platform);
        let worker = Caller::Worker(workers::get(platform.open_db().unwrap().as_ref(), id).unwrap());
        let person = Caller::Person(Principal::Admin);
        let anonymous = Caller::Person(Principal::Anonymous);
        assert_eq!(require_worker(&person).unwrap_err().status(), 403);
        assert_eq!(require_worker(&anonymous).unwrap_err().status(), 401);
        assert!(require_worker(&worker).is_ok());
        assert_eq!(require_person(&worker).unwrap_err().status(), 403);
        assert_eq!(require_person(&anonymous).unwrap_err().status(), 401);
        assert!(require_person(&person).is_ok());
    }
}
