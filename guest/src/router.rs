//! A tiny router: a request's method and path against patterns such as
//! `/items/{id}`, tried in order, and the answer when none fits (404, or 405
//! with the `allow` header when the path fits under another method).
//!
//! ```
//! use edgekit::router::{Miss, Router};
//!
//! let mut route = Router::new("DELETE", "/items/7");
//! assert!(route.at("GET", "/health").is_none());
//! let id = route.at("GET", "/items/{id}").map(|params| params.get("id"));
//! assert_eq!(id, None);
//! assert_eq!(route.miss(), Miss::MethodNotAllowed { allow: "GET".into() });
//! ```
//!
//! A `{name}` segment matches one non-empty segment; other segments match
//! themselves. A trailing slash is a segment of its own (`/items/` is not
//! `/items`); leading slashes count as one. Nothing is allocated unless a pattern fits the path under
//! another method.

use alloc::string::String;

use crate::response::Response;

/// The most `{param}` segments one pattern may have.
pub const MAX_PARAMS: usize = 4;

/// Tries one request against patterns, in the order the handler asks.
#[derive(Debug)]
pub struct Router<'r> {
    method: &'r str,
    path: &'r str,
    allow: String,
}

/// What the router answers when no pattern fitted: `Response::from(miss)`
/// (or `miss.into()`) answers it, 404, or 405 with `allow`; a handler that
/// wants other bodies reads [`Miss::status`] and [`Miss::allow`].
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No pattern fits the path: 404.
    NotFound,
    /// A pattern fits the path under other methods, listed for `allow`: 405.
    MethodNotAllowed {
        /// The methods that would have matched, as `allow` lists them
        /// (`GET, POST`), in the order the handler tried them.
        allow: String,
    },
}

impl Miss {
    /// 404 or 405.
    pub fn status(&self) -> u16 {
        match self {
            Miss::NotFound => 404,
            Miss::MethodNotAllowed { .. } => 405,
        }
    }

    /// The `allow` header's value, for a 405.
    pub fn allow(&self) -> Option<&str> {
        match self {
            Miss::NotFound => None,
            Miss::MethodNotAllowed { allow } => Some(allow),
        }
    }
}

/// The answer to a miss: 404 `{"error":"no such route"}`, or 405
/// `{"error":"method not allowed"}` with the `allow` header.
impl From<Miss> for Response {
    #[inline]
    fn from(miss: Miss) -> Response {
        match miss {
            Miss::NotFound => Response::error(404, "no such route"),
            Miss::MethodNotAllowed { allow } => Response::error(405, "method not allowed").header("allow", allow),
        }
    }
}

/// The `{param}` segments of a pattern that fitted, by name.
#[derive(Clone, Copy, Debug)]
pub struct Params<'p, 'r> {
    found: [(&'p str, &'r str); MAX_PARAMS],
    len: usize,
}

impl<'p, 'r> Params<'p, 'r> {
    /// The segment `{name}` matched, or `""` when the pattern has no such
    /// parameter.
    pub fn get(&self, name: &str) -> &'r str {
        self.found[..self.len].iter().find(|(n, _)| *n == name).map_or("", |(_, value)| value)
    }
}

impl<'r> Router<'r> {
    /// A router for a request's method (`"GET"`) and path (without the
    /// query).
    pub fn new(method: &'r str, path: &'r str) -> Router<'r> {
        Router { method, path, allow: String::new() }
    }

    /// The parameters when `method` and `pattern` fit the request. A
    /// pattern that fits the path under another method is remembered for
    /// [`Router::miss`].
    pub fn at<'p>(&mut self, method: &str, pattern: &'p str) -> Option<Params<'p, 'r>> {
        let params = fit(pattern, self.path)?;
        if method == self.method {
            return Some(params);
        }
        if !self.allow.split(',').any(|m| m.trim_start() == method) {
            if !self.allow.is_empty() {
                self.allow.push_str(", ");
            }
            self.allow.push_str(method);
        }
        None
    }

    /// What to answer when no pattern fitted: 405 with the methods that fit
    /// the path, or 404.
    pub fn miss(self) -> Miss {
        if self.allow.is_empty() { Miss::NotFound } else { Miss::MethodNotAllowed { allow: self.allow } }
    }
}

/// The parameters when `pattern` fits `path` segment by segment.
fn fit<'p, 'r>(pattern: &'p str, path: &'r str) -> Option<Params<'p, 'r>> {
    let mut params = Params { found: [("", ""); MAX_PARAMS], len: 0 };
    let mut wanted = pattern.strip_prefix('/')?.split('/');
    // Leading slashes are one, as `//items` reaches `/items` on most servers.
    let mut given = path.trim_start_matches('/').split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(want), Some(got)) => {
                if let Some(name) = want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if got.is_empty() || params.len == MAX_PARAMS {
                        return None;
                    }
                    params.found[params.len] = (name, got);
                    params.len += 1;
                } else if want != got {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_literal_and_param_segments() {
        let mut route = Router::new("GET", "/items/42");
        assert!(route.at("GET", "/items").is_none());
        let params = route.at("GET", "/items/{id}").unwrap();
        assert_eq!(params.get("id"), "42");
        assert_eq!(params.get("other"), "");
    }

    #[test]
    fn a_param_needs_a_non_empty_segment() {
        let mut route = Router::new("GET", "/items/");
        assert!(route.at("GET", "/items/{id}").is_none());
        assert!(route.at("GET", "/items").is_none());
        assert_eq!(route.miss(), Miss::NotFound);
    }

    #[test]
    fn several_params() {
        let mut route = Router::new("PUT", "/a/1/b/2");
        let params = route.at("PUT", "/a/{x}/b/{y}").unwrap();
        assert_eq!((params.get("x"), params.get("y")), ("1", "2"));
    }

    #[test]
    fn other_methods_on_a_fitting_path_are_a_405_in_order() {
        let mut route = Router::new("DELETE", "/items");
        assert!(route.at("GET", "/items").is_none());
        assert!(route.at("POST", "/items").is_none());
        assert!(route.at("GET", "/items").is_none());
        assert!(route.at("GET", "/health").is_none());
        let miss = route.miss();
        assert_eq!(miss.status(), 405);
        assert_eq!(miss.allow(), Some("GET, POST"));
    }

    #[test]
    fn no_fitting_path_is_a_404() {
        let mut route = Router::new("GET", "/nope");
        assert!(route.at("GET", "/health").is_none());
        let miss = route.miss();
        assert_eq!((miss.status(), miss.allow()), (404, None));
    }

    #[test]
    fn misses_answer_json() {
        let response = Response::from(Miss::NotFound);
        assert_eq!((response.status(), response.body_bytes()), (404, Some(&br#"{"error":"no such route"}"#[..])));
        let response = Response::from(Miss::MethodNotAllowed { allow: "GET, POST".into() });
        assert_eq!(response.status(), 405);
        assert_eq!(response.body_bytes(), Some(&br#"{"error":"method not allowed"}"#[..]));
        let allow = response.headers().find(|(name, _)| *name == "allow").map(|(_, value)| value);
        assert_eq!(allow, Some(&b"GET, POST"[..]));
    }

    #[test]
    fn paths_must_be_exact() {
        let mut route = Router::new("GET", "//health");
        assert!(route.at("GET", "/health").is_some());
        let mut route = Router::new("GET", "/health/x");
        assert!(route.at("GET", "/health").is_none());
        let mut route = Router::new("GET", "/");
        assert!(route.at("GET", "/").is_some());
    }
}
