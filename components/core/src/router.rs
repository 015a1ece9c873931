//! A component's route table: method + path pattern (`:name` segments) → handler. Trailing slashes are
//! ignored; a path that matches with another method answers 405, no match 404 (SPEC §1 errors).

use crate::db::Db;
use crate::error::ApiError;
use crate::http::{BODY_LIMIT, BodySource, CollectedResponse, Request, Response, ResponseWriter, WholeBody};
use crate::platform::{Kv, Platform};
use crate::query::{Listing, Resource, Scope};
use std::cell::OnceCell;

/// What a handler gets: the request, its path parameters and the platform's services.
pub struct Ctx<'a> {
    pub request: Request,
    params: Params,
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

/// A streamed route's handler: it reads the request body from `body` as it arrives (`ctx.request.body` is
/// empty), and either answers a whole [`Response`] or writes its head and body to `out` itself and answers
/// `None`. An error before the head is answered as any handler's; after it, the body is cut short.
pub type StreamedHandler = fn(&Ctx, &mut dyn BodySource, &mut dyn ResponseWriter) -> Result<Option<Response>, ApiError>;

#[derive(Clone, Copy)]
enum Action {
    Whole(Handler),
    Streamed(StreamedHandler),
}

/// A matched route's path parameters, by name.
type Params = Vec<(&'static str, String)>;

/// One entry of a route table.
pub struct Route {
    method: &'static str,
    pattern: &'static str,
    segments: Vec<&'static str>,
    action: Action,
    body_limit: usize,
    changes_state: bool,
}

/// A route with the default body limit.
pub fn route(method: &'static str, pattern: &'static str, handler: Handler) -> Route {
    Route::new(method, pattern, Action::Whole(handler), BODY_LIMIT)
}

/// A route whose request and response bodies stream (large uploads and downloads, Server-Sent Events); the
/// handler enforces its own body limit as it reads.
pub fn streamed(method: &'static str, pattern: &'static str, handler: StreamedHandler) -> Route {
    Route::new(method, pattern, Action::Streamed(handler), usize::MAX)
}

impl Route {
    fn new(method: &'static str, pattern: &'static str, action: Action, body_limit: usize) -> Self {
        let changes_state = !matches!(method, "GET" | "HEAD" | "OPTIONS");
        Self { method, pattern, segments: split(pattern).collect(), action, body_limit, changes_state }
    }

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

    fn matches(&self, path: &[&str]) -> Option<Params> {
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

    /// The table's `(method, pattern)` pairs in order, patterns as written (`:name` segments); the API
    /// documents' coverage test reads them.
    pub fn routes(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.routes.iter().map(|route| (route.method, route.pattern))
    }

    /// Dispatches a request, turning every error into SPEC §1's error response.
    pub fn handle(&self, platform: &dyn Platform, request: Request) -> Response {
        self.handle_mapped(platform, request, Response::error)
    }

    /// Dispatches a request whose body is in memory, answering every error (including 404/405/413 of the
    /// table itself) with `on_error`: the wire-compatible surfaces render errors in their own envelope.
    pub fn handle_mapped(
        &self,
        platform: &dyn Platform,
        mut request: Request,
        on_error: fn(&ApiError) -> Response,
    ) -> Response {
        let mut body = WholeBody(Some(std::mem::take(&mut request.body)));
        // Only a streamed route writes here; every other answer comes back whole, uncopied.
        let mut streamed = CollectedResponse::default();
        self.serve(platform, request, &mut body, &mut streamed, on_error)
            .or(streamed.0)
            .unwrap_or_else(|| on_error(&ApiError::internal("the handler answered nothing")))
    }

    /// Dispatches a request whose body arrives from `body`: a route of the table reads its body whole within
    /// its limit (413 above), a [`streamed`] route reads it as it arrives. Answers the response still to send
    /// (every answer but one a streamed handler wrote to `out` itself, which is `None`).
    pub fn serve(
        &self,
        platform: &dyn Platform,
        request: Request,
        body: &mut dyn BodySource,
        out: &mut dyn ResponseWriter,
        on_error: fn(&ApiError) -> Response,
    ) -> Option<Response> {
        let (route, params) = match self.find(&request) {
            Ok(found) => found,
            Err(error) => return Some(on_error(&error)),
        };
        let mut ctx = Ctx {
            params,
            body_limit: route.body_limit,
            changes_state: route.changes_state,
            ..Ctx::new(platform, request)
        };
        match route.action {
            Action::Whole(handler) => Some(match read_whole(body, route.body_limit) {
                Ok(bytes) => {
                    ctx.request.body = bytes;
                    handler(&ctx).unwrap_or_else(|error| on_error(&error))
                }
                Err(error) => on_error(&error),
            }),
            Action::Streamed(handler) => {
                let mut tracked = Tracked { out, started: false };
                match handler(&ctx, body, &mut tracked) {
                    Ok(answer) => answer,
                    Err(error) if !tracked.started => Some(on_error(&error)),
                    Err(error) => {
                        error.log_internal();
                        None
                    }
                }
            }
        }
    }

    /// The route for a request and its path parameters: 404 when no path matches, 405 when only the
    /// method does not (GET routes also answer HEAD).
    fn find(&self, request: &Request) -> Result<(&Route, Params), ApiError> {
        let path: Vec<&str> = split(&request.path).collect();
        let mut path_matched = false;
        for route in &self.routes {
            let Some(params) = route.matches(&path) else { continue };
            path_matched = true;
            if route.method == request.method || (route.method == "GET" && request.method == "HEAD") {
                return Ok((route, params));
            }
        }
        Err(if path_matched {
            ApiError::MethodNotAllowed
        } else {
            ApiError::NotFound(format!("no route for {}", request.path))
        })
    }
}

/// Sends a whole response (a client that went away is no error of ours).
pub fn send(out: &mut dyn ResponseWriter, response: Response) {
    if out.head(&response).is_ok() && !response.body.is_empty() {
        let _ = out.write(&response.body);
    }
}

/// Reads a body whole: 413 once it passes `limit`.
fn read_whole(body: &mut dyn BodySource, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next_chunk()? {
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if bytes.is_empty() {
            bytes = chunk;
        } else {
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok(bytes)
}

/// A writer that remembers whether the head was sent (after it, an error can only cut the body short).
struct Tracked<'o> {
    out: &'o mut dyn ResponseWriter,
    started: bool,
}

impl ResponseWriter for Tracked<'_> {
    fn head(&mut self, head: &Response) -> Result<(), ApiError> {
        self.started = true;
        self.out.head(head)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        self.out.write(bytes)
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

    #[test]
    fn a_table_lists_its_methods_and_patterns_as_written() {
        let router = Router::new(vec![route("GET", "/a/:id/", echo), streamed("POST", "/up", counter)]);
        assert_eq!(router.routes().collect::<Vec<_>>(), [("GET", "/a/:id/"), ("POST", "/up")]);
    }

    /// Counts the body's bytes chunk by chunk, then streams them back as a count per chunk.
    fn counter(_: &Ctx, body: &mut dyn BodySource, out: &mut dyn ResponseWriter) -> Result<Option<Response>, ApiError> {
        let mut sizes = Vec::new();
        while let Some(chunk) = body.next_chunk()? {
            sizes.push(chunk.len());
        }
        if sizes.is_empty() {
            return Err(ApiError::invalid_field("body", "empty"));
        }
        out.head(&Response::raw(200, "text/plain", ""))?;
        for size in sizes {
            out.write(format!("{size};").as_bytes())?;
        }
        Err(ApiError::internal("cut after the head: the body stands as written"))
    }

    /// A body that arrives in three pieces.
    struct Pieces(Vec<Vec<u8>>);
    impl BodySource for Pieces {
        fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
            Ok((!self.0.is_empty()).then(|| self.0.remove(0)))
        }
    }

    #[test]
    fn streamed_routes_read_and_write_as_bytes_flow_and_others_read_whole_within_their_limit() {
        let router =
            Router::new(vec![streamed("POST", "/up", counter), route("POST", "/small", database).body_limit(4)]);
        let serve = |path: &str, pieces: Vec<Vec<u8>>| {
            let request = Request { method: "POST".into(), path: path.into(), ..Request::default() };
            let mut out = CollectedResponse::default();
            let whole = router.serve(&NoPlatform, request, &mut Pieces(pieces), &mut out, Response::error);
            whole.or(out.0).unwrap()
        };
        let answer = serve("/up", vec![vec![1; 3], vec![2; 5], vec![3; 7]]);
        assert_eq!((answer.status, answer.body), (200, b"3;5;7;".to_vec()));
        assert_eq!(serve("/up", vec![]).status, 422, "an error before the head is answered");
        assert_eq!(serve("/small", vec![vec![1; 3], vec![2; 2]]).status, 413, "the limit counts every chunk");
        assert_eq!(serve("/small", vec![vec![1; 2], vec![2; 2]]).status, 503, "within the limit: the handler ran");
        assert_eq!(serve("/none", vec![]).status, 404);
    }
}
