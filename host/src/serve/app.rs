//! An app: several components behind one address. Each request goes to the
//! route of its path, an exact path first, then the longest prefix (on `/`
//! boundaries: `/api` takes `/api` and `/api/items`, not `/apis`), and a
//! path no route takes gets the host's 404. A prefix route's component sees
//! the path after the prefix (`/items?limit=2` for `/api/items?limit=2`),
//! unless the route keeps it whole.
//!
//! Each route has its own [`Handlers`]: its own component, limits and
//! grants, and so its own instances (a 0.2 and a 0.3 component side by
//! side, each on its line's terms), and its own watch channel under `dev`,
//! which swaps one route's component while the others go on serving. The
//! access log names the route and its component.
//!
//! The routes are the project file's `[[route]]`s (xtask's
//! `project/routes.rs` declares and checks them; the run wing builds an
//! [`App`] from them); the syntax of a path is the same: `/x`, `/x/...`,
//! `/...`.

use std::sync::Arc;

use anyhow::{Result, bail};

use super::Handlers;
use crate::Engines;
use crate::http::{Handler, Limits};

/// Which paths a route takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// This path only.
    Exact(String),
    /// The prefix and every path under it; empty for every path.
    Prefix(String),
}

impl Pattern {
    /// `/x` (exact), `/x/...` (prefix) or `/...` (every path).
    pub fn parse(text: &str) -> Result<Pattern> {
        if !text.starts_with('/') {
            bail!("route path `{text}` must start with `/`: write /x, /x/... or /...");
        }
        Ok(match text.strip_suffix("/...") {
            Some(prefix) => Pattern::Prefix(prefix.to_string()),
            None => Pattern::Exact(text.to_string()),
        })
    }

    /// Lower first: exact paths, then prefixes, longest first.
    fn precedence(&self) -> (u8, usize) {
        match self {
            Pattern::Exact(_) => (0, 0),
            Pattern::Prefix(prefix) => (1, usize::MAX - prefix.len()),
        }
    }

    /// If this pattern takes `path`, how many bytes of it are the prefix.
    fn takes(&self, path: &str) -> Option<usize> {
        match self {
            Pattern::Exact(exact) => (path == exact).then_some(0),
            Pattern::Prefix(prefix) => {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/') || prefix.is_empty()).then_some(prefix.len())
            }
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Exact(path) => f.write_str(path),
            Pattern::Prefix(prefix) => write!(f, "{prefix}/..."),
        }
    }
}

/// One route: its paths, whether its component sees them without the
/// prefix, and the handler(s) serving them.
pub struct Route {
    pattern: Pattern,
    strip: bool,
    handlers: Handlers,
    /// `/api/... middleware+http-api`, for the access log.
    label: Arc<str>,
}

impl Route {
    /// `pattern` to `handlers` (one handler, or `dev`'s latest), whose
    /// component is `component` in the log. A prefix route strips its
    /// prefix until told otherwise ([`Route::keep_prefix`]).
    pub fn new(pattern: Pattern, handlers: impl Into<Handlers>, component: &str) -> Route {
        let label = format!("{pattern} {component}").into();
        let strip = matches!(pattern, Pattern::Prefix(_));
        Route { pattern, strip, handlers: handlers.into(), label }
    }

    /// The same route, its component seeing each path whole.
    pub fn keep_prefix(self) -> Route {
        Route { strip: false, ..self }
    }

    /// The handler serving a request that starts now.
    pub fn current(&self) -> Handler {
        self.handlers.current()
    }
}

/// Routes to the components of an app.
pub struct App {
    /// Exact paths first, then prefixes, longest first: the first that takes
    /// a path is its route.
    routes: Vec<Route>,
    /// The patterns in the order given, for the 404's text.
    listed: String,
}

impl App {
    /// An app of `routes`; a pattern given twice, or a route whose handlers
    /// are an app, is refused.
    pub fn new(mut routes: Vec<Route>) -> Result<App> {
        for (i, route) in routes.iter().enumerate() {
            if routes[..i].iter().any(|r| r.pattern == route.pattern) {
                bail!("two routes take {}: a request could go to either", route.pattern);
            }
            if matches!(route.handlers, Handlers::App(_)) {
                bail!("route {} is an app of its own: give it a component's handler", route.pattern);
            }
        }
        let listed: Vec<String> = routes.iter().map(|r| r.pattern.to_string()).collect();
        routes.sort_by_key(|route| route.pattern.precedence());
        Ok(App { routes, listed: listed.join(", ") })
    }

    /// The route that takes `path`, and how many bytes of it are its prefix.
    pub fn route(&self, path: &str) -> Option<(&Route, usize)> {
        self.routes.iter().find_map(|route| route.pattern.takes(path).map(|prefix| (route, prefix)))
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Each request to a path no route takes gets this text with its 404.
    fn not_found(&self, path: &str) -> String {
        format!("no route takes {path}; this app's routes: {}\n", self.listed)
    }
}

/// Where a request goes: to a handler (with the request as the component
/// sees it, and the route's name for the log), or nowhere (the 404's text).
// `To` is what nearly every request gets, moved once: boxing it would cost
// an allocation per request to spare a 404 some bytes.
#[allow(clippy::large_enum_variant)]
pub(super) enum Routed<B> {
    To { handler: Handler, request: hyper::Request<B>, route: Option<Arc<str>> },
    Nowhere(String),
}

impl Handlers {
    /// The handler a request starting now goes to: the one handler, or the
    /// route of its path in an app (its prefix stripped if the route says
    /// so).
    pub(super) fn route<B>(&self, request: hyper::Request<B>) -> Routed<B> {
        let Handlers::App(app) = self else {
            return Routed::To { handler: self.current(), request, route: None };
        };
        let Some((route, prefix)) = app.route(request.uri().path()) else {
            return Routed::Nowhere(app.not_found(request.uri().path()));
        };
        let request = if route.strip && prefix > 0 { strip(request, prefix) } else { request };
        Routed::To { handler: route.current(), request, route: Some(route.label.clone()) }
    }
}

/// `request` with the first `prefix` bytes of its path taken off (`/` if
/// nothing is left), its query kept.
fn strip<B>(request: hyper::Request<B>, prefix: usize) -> hyper::Request<B> {
    let (mut parts, body) = request.into_parts();
    let rest = &parts.uri.path()[prefix..];
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match parts.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    // A suffix of a valid path, and its valid query, make a valid one.
    uri.path_and_query = path_and_query.parse().ok();
    parts.uri = hyper::Uri::from_parts(uri).unwrap_or_default();
    hyper::Request::from_parts(parts, body)
}

/// The engines for serving an app whose routes have `limits`: each pooling
/// allocator holds every route's instances, each up to the largest memory
/// limit (each instance still gets only its own route's).
pub fn engines<'a>(limits: impl IntoIterator<Item = &'a Limits>) -> Result<Engines> {
    let mut pooled = Limits { instances: 0, memory: 0, ..Limits::default() };
    for limits in limits {
        pooled.instances = pooled.instances.saturating_add(limits.instances);
        pooled.memory = pooled.memory.max(limits.memory);
    }
    if pooled.instances == 0 {
        bail!("an app needs at least one route");
    }
    Ok(super::engines(&pooled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_paths_beat_prefixes_and_longer_prefixes_beat_shorter() {
        let pattern = |text: &str| Pattern::parse(text).unwrap();
        let takes = |text: &str, path: &str| pattern(text).takes(path);
        assert_eq!(takes("/", "/"), Some(0));
        assert_eq!(takes("/", "/x"), None);
        assert_eq!(takes("/api/...", "/api"), Some(4));
        assert_eq!(takes("/api/...", "/api/items"), Some(4));
        assert_eq!(takes("/api/...", "/apis"), None);
        assert_eq!(takes("/...", "/anything/at/all"), Some(0));
        assert_eq!(takes("/...", "*"), Some(0));
        assert!(Pattern::parse("api").is_err());

        let mut patterns = [pattern("/..."), pattern("/api/..."), pattern("/api/admin/..."), pattern("/api")];
        // The order App::new sorts routes in.
        patterns.sort_by_key(Pattern::precedence);
        let first = |path: &str| patterns.iter().find(|p| p.takes(path).is_some()).unwrap().to_string();
        assert_eq!(first("/api"), "/api");
        assert_eq!(first("/api/items"), "/api/...");
        assert_eq!(first("/api/admin/users"), "/api/admin/...");
        assert_eq!(first("/kv/a"), "/...");
    }

    #[test]
    fn stripping_keeps_the_query_and_leaves_at_least_a_slash() {
        let path = |uri: &str, prefix| strip(hyper::Request::get(uri).body(()).unwrap(), prefix).uri().to_string();
        assert_eq!(path("/api/items?limit=2", 4), "/items?limit=2");
        assert_eq!(path("/api", 4), "/");
        assert_eq!(path("/api?x=1", 4), "/?x=1");
    }
}
