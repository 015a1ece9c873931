//! Spin's HTTP routing: exact routes beat wildcards (`/prefix/...`), the longest prefix wins, literal
//! segments beat `:name` parameters, and an unmatched request is a 404.

use anyhow::{Result, bail};

/// One segment of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed `route` from spin.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    /// The route as written, e.g. `/api/v1/...`.
    pub raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

impl RoutePattern {
    /// Parses a route: it starts with `/`; a trailing `/...` makes it a wildcard; `:name` segments capture.
    pub fn parse(route: &str) -> Result<RoutePattern> {
        if !route.starts_with('/') {
            bail!("route `{route}` must start with `/`");
        }
        let (prefix, wildcard) = match route.strip_suffix("/...") {
            Some(prefix) => (prefix, true),
            None if route.contains("...") => bail!("route `{route}`: `...` is only allowed as the last segment"),
            None => (route, false),
        };
        let mut segments = Vec::new();
        for part in prefix.split('/').filter(|s| !s.is_empty()) {
            segments.push(match part.strip_prefix(':') {
                Some("") => bail!("route `{route}`: a `:` segment needs a name"),
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal(part.to_string()),
            });
        }
        Ok(RoutePattern { raw: route.to_string(), segments, wildcard })
    }

    /// The component route without the wildcard (`/api/v1/...` → `/api/v1`).
    pub fn component_route(&self) -> &str {
        self.raw.strip_suffix("/...").unwrap_or(&self.raw)
    }

    /// Matches a request path; on success the captured parameters and the path info (the rest after a
    /// wildcard's prefix, empty for an exact route).
    fn matches(&self, path: &str) -> Option<(Vec<(String, String)>, String)> {
        let mut rest = path;
        let mut params = Vec::new();
        for segment in &self.segments {
            let trimmed = rest.strip_prefix('/')?;
            let end = trimmed.find('/').unwrap_or(trimmed.len());
            let (actual, remainder) = trimmed.split_at(end);
            match segment {
                Segment::Literal(literal) if literal == actual => {}
                Segment::Param(name) if !actual.is_empty() => params.push((name.clone(), actual.to_string())),
                _ => return None,
            }
            rest = remainder;
        }
        let matched =
            if self.wildcard { rest.is_empty() || rest.starts_with('/') } else { rest.is_empty() || rest == "/" };
        matched.then(|| (params, if self.wildcard { rest.to_string() } else { String::new() }))
    }

    /// Specificity: exact over wildcard, then more segments, then more literals.
    fn rank(&self) -> (bool, usize, usize) {
        let literals = self.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        (!self.wildcard, self.segments.len(), literals)
    }
}

/// The result of routing a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a, T> {
    pub target: &'a T,
    pub pattern: &'a RoutePattern,
    pub params: Vec<(String, String)>,
    pub path_info: String,
}

/// A route table over targets of type `T` (component indices in the host).
#[derive(Debug)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
}

impl<T> Router<T> {
    /// Builds a table; two triggers with the same route are an error, as in Spin.
    pub fn new(routes: Vec<(RoutePattern, T)>) -> Result<Router<T>> {
        for (i, (a, _)) in routes.iter().enumerate() {
            if routes[..i].iter().any(|(b, _)| b.segments == a.segments && b.wildcard == a.wildcard) {
                bail!("duplicate route `{}`", a.raw);
            }
        }
        Ok(Router { routes })
    }

    /// The most specific route matching `path`, if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_, T>> {
        self.routes
            .iter()
            .filter_map(|(pattern, target)| pattern.matches(path).map(|m| (pattern, target, m)))
            .max_by_key(|(pattern, _, _)| pattern.rank())
            .map(|(pattern, target, (params, path_info))| RouteMatch { target, pattern, params, path_info })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router<&'static str> {
        let routes = [
            "/api/...",
            "/api/v1/...",
            "/api/v1/health",
            "/api/v1/users/:id",
            "/api/v1/users/me",
            "/...",
            "/files/:name/...",
        ];
        Router::new(routes.iter().map(|r| (RoutePattern::parse(r).unwrap(), *r)).collect()).unwrap()
    }

    #[test]
    fn spin_route_rules() {
        let router = router();
        let cases = [
            ("/api/v1/health", "/api/v1/health", ""),
            ("/api/v1/health/", "/api/v1/health", ""),
            ("/api/v1/healthz", "/api/v1/...", "/healthz"),
            ("/api/v1/health/deep", "/api/v1/...", "/health/deep"),
            ("/api/v1", "/api/v1/...", ""),
            ("/api/v2/x", "/api/...", "/v2/x"),
            ("/api", "/api/...", ""),
            ("/apix", "/...", "/apix"),
            ("/api/v1/users/me", "/api/v1/users/me", ""),
            ("/api/v1/users/7", "/api/v1/users/:id", ""),
            ("/api/v1/users/7/tokens", "/api/v1/...", "/users/7/tokens"),
            ("/files/a.txt/raw/x", "/files/:name/...", "/raw/x"),
            ("/", "/...", "/"),
        ];
        for (path, route, info) in cases {
            let found = router.route(path).unwrap_or_else(|| panic!("no route for {path}"));
            assert_eq!((*found.target, found.path_info.as_str()), (route, info), "{path}");
        }
        assert_eq!(router.route("/api/v1/users/42").unwrap().params, [("id".to_string(), "42".to_string())]);
        assert_eq!(router.route("/files/a.txt/raw").unwrap().pattern.component_route(), "/files/:name");
    }

    #[test]
    fn no_match_is_none_and_duplicates_are_refused() {
        let only = Router::new(vec![(RoutePattern::parse("/a").unwrap(), 1)]).unwrap();
        assert!(only.route("/b").is_none());
        assert!(only.route("/a/b").is_none());
        let dup = vec![(RoutePattern::parse("/a/...").unwrap(), 1), (RoutePattern::parse("/a/...").unwrap(), 2)];
        assert!(Router::new(dup).is_err());
        for bad in ["a", "/a/.../b", "/:"] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad}");
        }
    }
}
