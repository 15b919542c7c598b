//! `[[route]]`: the project's app, several components behind one address.
//! Each route sends a path, or every path under a prefix, to one
//! component of either WASI line, optionally behind a middleware (served
//! as the composition `<middleware>+<component>`, which `dist` builds),
//! with the limits and grants `serve`'s flags give one component:
//!
//! ```toml
//! [[route]]
//! path = "/"                 # this path only
//! component = "edge-fn"
//!
//! [[route]]
//! path = "/api/..."          # /api and every path under it
//! component = "http-api"
//! middleware = "middleware"  # served as middleware+http-api
//! # strip-prefix = true      # the component sees /items for /api/items
//!
//! [[route]]
//! path = "/..."              # every path no other route takes
//! component = "edge-fn-p3"
//! deadline-ms = 2000
//! ```
//!
//! A request goes to the route of its path (an exact path first, then the
//! longest prefix), and one no route takes gets the host's 404. Parsing
//! ([`check_syntax`], run by `project::parse`) refuses a malformed path and
//! a path two routes claim; [`check`] refuses what needs the components to
//! tell: a component the project does not have, a middleware that is not
//! one, a route to a middleware alone, parts of two WASI lines.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU64;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::{Composition, Project};
use crate::wit::{Pins, Surface};
use crate::workspace;

/// One `[[route]]`.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Route {
    /// `/x` (this path only), `/x/...` (`/x` and every path under it), or
    /// `/...` (every path).
    pub path: RoutePath,
    /// A component of the project (a dist artifact's name: `edge-fn`,
    /// `edge-fn-p3`), or a composition the project lists
    /// (`middleware+http-api`).
    pub component: String,
    /// A middleware component to put in front of `component`.
    pub middleware: Option<String>,
    /// Whether the component sees the path after the route's prefix (`/items`
    /// for `/api/items` on `/api/...`), the default, or the whole path.
    /// Only a prefix route has a prefix to strip.
    pub strip_prefix: Option<bool>,
    // The same knobs as `serve`'s flags (`flags::ServeOptions`); each one
    // set here replaces the flag's value for this route.
    pub deadline_ms: Option<NonZeroU64>,
    pub memory_mib: Option<NonZeroU64>,
    pub instances: Option<NonZeroU64>,
    pub reuse: Option<NonZeroU64>,
    pub concurrent: Option<NonZeroU64>,
    /// Hosts the component may send outbound requests to.
    pub allow_hosts: Option<Vec<String>>,
    /// The `wasi:config` variables it may read.
    pub config: Option<BTreeMap<String, String>>,
    /// Link all of WASI of its line (`serve --cli`).
    pub cli: Option<bool>,
    /// Environment variables, with `cli = true` (`serve --env`).
    pub env: Option<BTreeMap<String, String>>,
    /// The `wasi:keyvalue` store: a database file, relative to the
    /// project's root, or `memory` (`serve --kv`). Routes naming the same
    /// file share it.
    pub kv: Option<String>,
    /// Buckets it may open besides `default` (`serve --kv-bucket`).
    pub kv_buckets: Option<Vec<String>>,
}

impl Route {
    /// The dist artifact the route serves: the component, or
    /// `<middleware>+<component>`.
    pub fn artifact(&self) -> String {
        match &self.middleware {
            Some(middleware) => format!("{middleware}+{}", self.component),
            None => self.component.clone(),
        }
    }

    /// Whether the component sees the path after the prefix (prefix routes
    /// only; an exact route's component sees its one path).
    pub fn strips(&self) -> bool {
        matches!(self.path, RoutePath::Prefix(_)) && self.strip_prefix.unwrap_or(true)
    }

    /// The composition this route needs `dist` to make, if it has a
    /// middleware.
    pub fn composition(&self) -> Option<Composition> {
        let middleware = self.middleware.clone()?;
        Some(Composition { middleware, handler: self.component.clone() })
    }
}

/// Which paths a route takes.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(try_from = "String")]
pub enum RoutePath {
    /// This path only (`/`, `/health`).
    Exact(String),
    /// The prefix and every path under it, on `/` boundaries: `/api` takes
    /// `/api` and `/api/items`, not `/apis`. Empty for `/...`, every path.
    Prefix(String),
}

impl fmt::Display for RoutePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoutePath::Exact(path) => f.write_str(path),
            RoutePath::Prefix(prefix) => write!(f, "{prefix}/..."),
        }
    }
}

impl TryFrom<String> for RoutePath {
    type Error = String;

    fn try_from(text: String) -> Result<RoutePath, String> {
        RoutePath::parse(&text)
    }
}

impl RoutePath {
    /// `/x`, `/x/...` or `/...`; anything else is an error saying how to
    /// write it.
    pub fn parse(text: &str) -> Result<RoutePath, String> {
        let how = "write `/x` for that path only, `/x/...` for it and every path under it, `/...` for every path";
        if !text.starts_with('/') {
            return Err(format!("route path `{text}` must start with `/`: {how}"));
        }
        let (path, prefix) = match text.strip_suffix("/...") {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        if path.ends_with('/') && path != "/" || (prefix && path == "/") {
            return Err(format!("route path `{text}` ends with `/`: {how}"));
        }
        if path.len() > 1 {
            for segment in path[1..].split('/') {
                let why = if segment.is_empty() {
                    Some("has an empty segment (`//`)")
                } else if segment == "." || segment == ".." {
                    Some("has a `.` or `..` segment, which a client's path never keeps")
                } else if segment == "..." {
                    Some("has `...` before its end; `/...` goes last and means 'and every path under it'")
                } else if segment.contains(['*', '{', '}']) {
                    Some(
                        "has a wildcard or parameter: a route takes a path or a prefix, and the component matches the rest",
                    )
                } else if segment.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#')) {
                    Some("has a space, a control character, `?` or `#`")
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(format!("route path `{text}` {why}: {how}"));
                }
            }
        }
        let path = if path == "/" && !prefix { "/" } else { path };
        Ok(match prefix {
            true => RoutePath::Prefix(path.to_string()),
            false => RoutePath::Exact(path.to_string()),
        })
    }
}

/// How a route is named in errors: its place in the file and its path.
fn named(index: usize, route: &Route) -> String {
    format!("[[route]] {} (path = \"{}\")", index + 1, route.path)
}

/// What `project::parse` checks of the routes alone: a path two routes
/// claim (one of them would never be reached), `strip-prefix` on an exact
/// path, `env` without `cli`, `kv-buckets` without `kv`. Nested prefixes
/// (`/api/...` and `/api/admin/...`) are not an overlap: the longest
/// prefix takes a path, as in Spin, and an exact path beats any prefix.
pub fn check_syntax(file: &Path, routes: &[Route]) -> Result<()> {
    for (i, route) in routes.iter().enumerate() {
        if let Some(first) = routes[..i].iter().position(|r| r.path == route.path) {
            bail!(
                "{}: {} takes the same paths as {}: a request could go to either; remove one, or give it \
                 another path",
                file.display(),
                named(i, route),
                named(first, &routes[first])
            );
        }
        let fix = |why: &str| anyhow::anyhow!("{}: {}: {why}", file.display(), named(i, route));
        if matches!(route.path, RoutePath::Exact(_)) && route.strip_prefix.is_some() {
            return Err(fix("strip-prefix applies to a prefix route (`/x/...`); an exact path has none to strip: \
                 remove it"));
        }
        if route.env.is_some() && route.cli != Some(true) {
            return Err(fix("env needs cli = true (the environment is read through wasi:cli)"));
        }
        if route.kv_buckets.is_some() && route.kv.is_none() {
            return Err(fix("kv-buckets needs kv, the store they live in (a file, or \"memory\")"));
        }
        if route.component.is_empty() || route.middleware.as_deref() == Some("") {
            return Err(fix("name a component"));
        }
        if route.middleware.is_some() && route.component.contains('+') {
            return Err(fix(
                "component is a composition already; name its handler as component and its middleware as middleware",
            ));
        }
    }
    Ok(())
}

/// Checks every route against the project's components (see the module
/// doc); errors name the file, the route and why.
pub fn check(project: &Project) -> Result<()> {
    let file = project.root.join(super::FILE);
    // A route serves an artifact: a component's build of one line.
    let names = workspace::artifact_names(&project.root)?;
    for (i, route) in project.file.route.iter().enumerate() {
        let fail = |why: String| anyhow::anyhow!("{}: {}: {why}", file.display(), named(i, route));
        let exists = |name: &str| -> Result<()> {
            if names.iter().any(|n| n == name) {
                return Ok(());
            }
            Err(fail(format!(
                "the project has no component `{name}` (components: {}); fix the name, or make it with `{}`",
                names.join(", "),
                crate::tool::cmd(&format!("new {name} --template <template>"))
            )))
        };
        if route.middleware.is_none() && route.component.contains('+') {
            if project.file.composition.iter().any(|c| c.name() == route.component) {
                continue;
            }
            let listed: Vec<String> = project.file.composition.iter().map(Composition::name).collect();
            let (middleware, handler) = route.component.split_once('+').unwrap_or_default();
            return Err(fail(format!(
                "no [[composition]] makes `{}` (compositions: {}); write component = \"{handler}\" with \
                 middleware = \"{middleware}\", and dist makes it for the route",
                route.component,
                if listed.is_empty() { "none".to_string() } else { listed.join(", ") }
            )));
        }
        exists(&route.component)?;
        let handler = Http::of(project, &route.component)?;
        match (&route.middleware, handler) {
            (_, Http::None) => {
                return Err(fail(format!(
                    "`{}` exports no wasi:http handler, so it cannot answer requests; route to an http component",
                    route.component
                )));
            }
            (_, Http::Middleware(_)) => {
                return Err(fail(format!(
                    "`{}` is a middleware (it imports the next handler): it serves only in front of a \
                     component; write middleware = \"{}\" and name the component it fronts",
                    route.component, route.component
                )));
            }
            (None, Http::Handler(_)) => {}
            (Some(middleware), Http::Handler(line)) => {
                exists(middleware)?;
                match Http::of(project, middleware)? {
                    Http::Middleware(own) if own == line => {}
                    Http::Middleware(own) => {
                        return Err(fail(format!(
                            "middleware `{middleware}` is on WASI {own} and `{}` on WASI {line}: a middleware \
                             composes only with a component of its own line",
                            route.component
                        )));
                    }
                    _ => {
                        return Err(fail(format!(
                            "`{middleware}` is not a middleware: a middleware imports and exports a wasi:http \
                             handler interface (the next handler); name one, or drop `middleware`"
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// What a component's world makes of it, with its WASI line (`0.2`, `0.3`).
enum Http {
    None,
    Handler(String),
    Middleware(String),
}

impl Http {
    fn of(project: &Project, name: &str) -> Result<Http> {
        let component = workspace::component_of(&project.root, name)?
            .with_context(|| format!("no component of the project builds `{name}`"))?;
        let wit = Pins::load(&project.pins_dir())?.component(&component.wit_dir())?;
        let world = wit.world(&component.builds[0].world, &component.manifest)?;
        let surface = Surface::of(&wit.resolve, world);
        let handler = surface.exports.iter().find_map(|export| {
            let (interface, version) = export.rsplit_once('@')?;
            let is_handler = interface == "wasi:http/incoming-handler" || interface == "wasi:http/handler";
            is_handler.then(|| (export.clone(), version.rsplit_once('.').map_or(version, |(line, _)| line).to_string()))
        });
        Ok(match handler {
            None => Http::None,
            Some((export, line)) if surface.imports.contains(&export) => Http::Middleware(line),
            Some((_, line)) => Http::Handler(line),
        })
    }
}

/// The compositions the routes need: each middleware in front of its
/// component, once, in the order the routes name them.
pub fn compositions(routes: &[Route]) -> Vec<Composition> {
    let mut all: Vec<Composition> = Vec::new();
    for composition in routes.iter().filter_map(Route::composition) {
        if !all.contains(&composition) {
            all.push(composition);
        }
    }
    all
}

/// The file a route's `kv` names, resolved against the project's root
/// (`memory` stays `memory`).
pub fn kv_store(project_root: &Path, kv: &str) -> String {
    match kv {
        "memory" => kv.to_string(),
        path => project_root.join(path).display().to_string(),
    }
}

/// The routes of the project file's text, for tests and tools that hold
/// only the text.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Route>> {
    Ok(super::parse(path, text)?.route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Result<RoutePath, String> {
        RoutePath::parse(text)
    }

    #[test]
    fn paths_are_exact_prefixes_or_everything() {
        assert_eq!(path("/"), Ok(RoutePath::Exact("/".into())));
        assert_eq!(path("/health"), Ok(RoutePath::Exact("/health".into())));
        assert_eq!(path("/api/..."), Ok(RoutePath::Prefix("/api".into())));
        assert_eq!(path("/api/v1/..."), Ok(RoutePath::Prefix("/api/v1".into())));
        assert_eq!(path("/..."), Ok(RoutePath::Prefix("".into())));
        for (bad, says) in [
            ("api", "must start with `/`"),
            ("/api/", "ends with `/`"),
            ("//...", "ends with `/`"),
            ("/a//b", "empty segment"),
            ("/a/../b", "`..`"),
            ("/a/.../b", "`...` before its end"),
            ("/api/*", "wildcard"),
            ("/items/{id}", "wildcard"),
            ("/a b", "space"),
            ("/a?b", "`?`"),
        ] {
            let e = path(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains("`/x/...` for it and every path under it"), "{bad}: {e}");
        }
        for text in ["/", "/health", "/api/...", "/..."] {
            assert_eq!(path(text).unwrap().to_string(), text);
        }
    }

    fn file(routes: &str) -> Result<Vec<Route>> {
        parse(Path::new("/p/edgekit.toml"), routes)
    }

    #[test]
    fn the_file_spells_routes_in_kebab_case_and_refuses_unknown_keys() {
        let routes = file(
            r#"
            [[route]]
            path = "/api/..."
            component = "http-api"
            middleware = "middleware"
            strip-prefix = false
            deadline-ms = 500
            allow-hosts = ["127.0.0.1"]
            config = { upstream = "http://127.0.0.1:9" }
            kv = "memory"
            kv-buckets = ["orders"]
            "#,
        )
        .unwrap();
        assert_eq!(routes[0].artifact(), "middleware+http-api");
        assert!(!routes[0].strips());
        assert_eq!(routes[0].deadline_ms.map(NonZeroU64::get), Some(500));
        assert_eq!(
            compositions(&routes),
            [Composition { middleware: "middleware".into(), handler: "http-api".into() }]
        );

        let e = format!("{:#}", file("[[route]]\npath = \"/\"\ncomponent = \"edge-fn\"\nstrip = true\n").unwrap_err());
        assert!(e.contains("/p/edgekit.toml") && e.contains("unknown field `strip`"), "{e}");
        let e = format!("{:#}", file("[[route]]\npath = \"/api/\"\ncomponent = \"x\"\n").unwrap_err());
        assert!(e.contains("line 2") && e.contains("ends with `/`"), "{e}");
        let e = format!("{:#}", file("[[route]]\npath = \"/\"\ncomponent = \"x\"\ninstances = 0\n").unwrap_err());
        assert!(e.contains("instances") && e.contains("nonzero"), "{e}");
    }

    #[test]
    fn a_path_two_routes_claim_is_refused_and_nested_prefixes_are_not() {
        let e = file(
            "[[route]]\npath = \"/api/...\"\ncomponent = \"a\"\n\n[[route]]\npath = \"/api/...\"\ncomponent = \"b\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/p/edgekit.toml: [[route]] 2 (path = \"/api/...\") takes the same paths as [[route]] 1"),
            "{e}"
        );
        let nested = "[[route]]\npath = \"/api/...\"\ncomponent = \"a\"\n\n[[route]]\npath = \"/api/admin/...\"\n\
                      component = \"b\"\n\n[[route]]\npath = \"/api\"\ncomponent = \"c\"\n";
        assert_eq!(file(nested).unwrap().len(), 3);
        let e = file("[[route]]\npath = \"/\"\ncomponent = \"a\"\nstrip-prefix = false\n").unwrap_err().to_string();
        assert!(e.contains("[[route]] 1 (path = \"/\"): strip-prefix applies to a prefix route"), "{e}");
        let e = file("[[route]]\npath = \"/...\"\ncomponent = \"a\"\nkv-buckets = [\"b\"]\n").unwrap_err().to_string();
        assert!(e.contains("kv-buckets needs kv"), "{e}");
    }

    #[test]
    fn routes_are_checked_against_the_components() {
        let mut project = Project::load(&crate::workspace::root()).unwrap();
        check(&project).expect("the example app of edgekit.toml");
        let mut refused = |route: &str| {
            project.file.route = file(&format!("[[route]]\npath = \"/x/...\"\n{route}")).unwrap();
            format!("{:#}", check(&project).unwrap_err())
        };
        let e = refused("component = \"nope\"\n");
        assert!(
            e.contains("edgekit.toml: [[route]] 1 (path = \"/x/...\"): the project has no component `nope`"),
            "{e}"
        );
        let e = refused("component = \"http-api\"\nmiddleware = \"edge-fn\"\n");
        assert!(e.contains("`edge-fn` is not a middleware"), "{e}");
        let e = refused("component = \"middleware\"\n");
        assert!(e.contains("`middleware` is a middleware (it imports the next handler)"), "{e}");
        let e = refused("component = \"http-api\"\nmiddleware = \"middleware-p3\"\n");
        assert!(e.contains("middleware `middleware-p3` is on WASI 0.3 and `http-api` on WASI 0.2"), "{e}");
        let e = refused("component = \"greeter\"\n");
        assert!(e.contains("exports no wasi:http handler"), "{e}");
        let e = refused("component = \"middleware+edge-fn\"\n");
        assert!(e.contains("no [[composition]] makes `middleware+edge-fn`"), "{e}");
        assert!(e.contains("write component = \"edge-fn\" with middleware = \"middleware\""), "{e}");
        let ok =
            ["component = \"middleware-p3+http-api-p3\"\n", "component = \"edge-fn\"\nmiddleware = \"middleware\"\n"];
        for route in ok {
            project.file.route = file(&format!("[[route]]\npath = \"/x/...\"\n{route}")).unwrap();
            check(&project).unwrap_or_else(|e| panic!("{route}: {e:#}"));
        }
    }
}
