//! A component's route table: method + path pattern (`:name` segments) → handler. Trailing slashes are
//! ignored; a path that matches with another method answers 405, no match 404 (SPEC §1 errors).

use crate::db::Db;
use crate::error::ApiError;
use crate::http::{BODY_LIMIT, Request, Response};
use crate::platform::{Kv, Platform};
use crate::query::{Listing, Resource, Scope};
use std::cell::OnceCell;

/// What a handler gets: the request, its path parameters and the platform's services.
pub struct Ctx<'a> {
    pub request: Request,
    params: Vec<(&'static str, String)>,
    platform: &'a dyn Platform,
    body_limit: usize,
    changes_state: bool,
    db: OnceCell<Box<dyn Db>>,
}

impl<'a> Ctx<'a> {
    /// A context for `request` with no path parameters (tests, adapters).
    pub fn new(platform: &'a dyn Platform, request: Request) -> Self {
        let changes_state = request.is_unsafe_method();
        Self { request, params: Vec::new(), platform, body_limit: BODY_LIMIT, changes_state, db: OnceCell::new() }
    }

    /// A path parameter by name (`:name` in the pattern).
    pub fn param(&self, name: &str) -> &str {
        self.params.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v.as_str())
    }

    /// Whether this request changes state: any method but GET, HEAD and OPTIONS, or a route marked with
    /// [`Route::changes_state`] (the few seed routes that change state on GET).
    pub fn changes_state(&self) -> bool {
        self.changes_state
    }

    /// The body as JSON within the route's body limit.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        self.request.json(self.body_limit)
    }

    /// The database, opened on first use for this request.
    /// The collection query this request's query string asks of `resource`, run in `scope`.
    pub fn listing(&self, resource: &Resource, scope: &Scope) -> Result<Listing, ApiError> {
        Listing::run(self.db()?, resource, scope, &self.request.query_pairs())
    }

    pub fn db(&self) -> Result<&dyn Db, ApiError> {
        if let Some(db) = self.db.get() {
            return Ok(db.as_ref());
        }
        let db = self.platform.open_db()?;
        Ok(self.db.get_or_init(|| db).as_ref())
    }

    /// The key-value store.
    pub fn kv(&self) -> Result<Box<dyn Kv>, ApiError> {
        self.platform.open_kv()
    }

    /// An application variable.
    pub fn variable(&self, name: &str) -> Option<String> {
        self.platform.variable(name)
    }

    /// POSTs JSON to `url` through the platform's outbound HTTP; returns the response status.
    pub fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<u16, ApiError> {
        self.platform.post_json(url, body)
    }
}

/// A route handler.
pub type Handler = fn(&Ctx) -> Result<Response, ApiError>;

/// One entry of a route table.
pub struct Route {
    method: &'static str,
    segments: Vec<&'static str>,
    handler: Handler,
    body_limit: usize,
    changes_state: bool,
}

/// A route with the default body limit.
pub fn route(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
    let changes_state = !matches!(method, "GET" | "HEAD" | "OPTIONS");
    Route { method, segments: split(pattern).collect(), handler, body_limit: BODY_LIMIT, changes_state }
}

impl Route {
    /// Overrides the body limit (bulk routes).
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// Marks a GET route that changes state (a seed system's design), so that a session cookie sent to it
    /// from another site is refused as for any other change ([`Ctx::changes_state`]).
    pub fn changes_state(mut self) -> Self {
        self.changes_state = true;
        self
    }

    fn matches(&self, path: &[&str]) -> Option<Vec<(&'static str, String)>> {
        if path.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (pattern, actual) in self.segments.iter().zip(path) {
            match pattern.strip_prefix(':') {
                Some(name) => params.push((name, percent_decode(actual))),
                None if pattern == actual => {}
                None => return None,
            }
        }
        Some(params)
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn percent_decode(segment: &str) -> String {
    form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| segment.to_string(), |(_, v)| v.into_owned())
}

/// A component's route table.
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(routes: Vec<Route>) -> Self {
        Self { routes }
    }

    /// Dispatches a request, turning every error into SPEC §1's error response.
    pub fn handle(&self, platform: &dyn Platform, request: Request) -> Response {
        self.handle_mapped(platform, request, Response::error)
    }

    /// Dispatches a request, answering every error (including 404/405/413 of the table itself) with
    /// `on_error`: the wire-compatible surfaces render errors in their own envelope.
    pub fn handle_mapped(
        &self,
        platform: &dyn Platform,
        request: Request,
        on_error: fn(&ApiError) -> Response,
    ) -> Response {
        let path: Vec<&str> = split(&request.path).collect();
        let mut path_matched = false;
        for route in &self.routes {
            let Some(params) = route.matches(&path) else { continue };
            path_matched = true;
            let method_matches = route.method == request.method || (route.method == "GET" && request.method == "HEAD");
            if !method_matches {
                continue;
            }
            if request.body.len() > route.body_limit {
                return on_error(&ApiError::PayloadTooLarge { limit: route.body_limit });
            }
            let (handler, body_limit, changes_state) = (route.handler, route.body_limit, route.changes_state);
            let ctx = Ctx { params, body_limit, changes_state, ..Ctx::new(platform, request) };
            return handler(&ctx).unwrap_or_else(|error| on_error(&error));
        }
        on_error(&if path_matched {
            ApiError::MethodNotAllowed
        } else {
            ApiError::NotFound(format!("no route for {}", request.path))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbError;

    struct NoPlatform;
    impl Platform for NoPlatform {
        fn open_db(&self) -> Result<Box<dyn Db>, DbError> {
            Err(DbError::Unavailable("none".into()))
        }
        fn open_kv(&self) -> Result<Box<dyn Kv>, ApiError> {
            Err(ApiError::Unavailable("none".into()))
        }
        fn variable(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn echo(ctx: &Ctx) -> Result<Response, ApiError> {
        Ok(Response::ok(&serde_json::json!({"user": ctx.param("user")})))
    }
    fn database(ctx: &Ctx) -> Result<Response, ApiError> {
        ctx.db()?;
        Ok(Response::no_content())
    }

    fn call(method: &str, path: &str, body: usize) -> Response {
        let router = Router::new(vec![
            route("GET", "/api/v1/users/:user", echo),
            route("POST", "/api/v1/db", database).body_limit(4),
        ]);
        let request =
            Request { method: method.into(), path: path.into(), body: vec![b'x'; body], ..Request::default() };
        router.handle(&NoPlatform, request)
    }

    #[test]
    fn routes_match_params_methods_and_limits() {
        let cases = [
            ("GET", "/api/v1/users/ada", 0, 200),
            ("GET", "/api/v1/users/ada/", 0, 200),
            ("HEAD", "/api/v1/users/ada", 0, 200),
            ("DELETE", "/api/v1/users/ada", 0, 405),
            ("GET", "/api/v1/users", 0, 404),
            ("GET", "/api/v1/users/ada/tokens", 0, 404),
            ("POST", "/api/v1/db", 5, 413),
            ("POST", "/api/v1/db", 4, 503),
        ];
        for (method, path, body, status) in cases {
            assert_eq!(call(method, path, body).status, status, "{method} {path}");
        }
        let body: serde_json::Value = serde_json::from_slice(&call("GET", "/api/v1/users/a%20b", 0).body).unwrap();
        assert_eq!(body["user"], "a b");
    }
}
