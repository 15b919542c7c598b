//! [`Response`]: what a handler answers, the same type on both lines. The
//! line's module turns it into a WASI response and writes its body.

use alloc::string::String;
use alloc::vec::Vec;

use crate::{Bytes, HeaderName};

/// A response still to be sent: status, headers and body.
///
/// ```
/// use edgekit::http::Response;
///
/// let created = Response::json(201, r#"{"id":4}"#).header("location", "/items/4");
/// assert_eq!(created.status(), 201);
/// ```
#[derive(Debug)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(HeaderName, Bytes)>,
    pub(crate) body: Body,
}

/// A response body: bytes in memory, or (on 0.3) a stream read from
/// elsewhere, passed on as it arrives.
#[derive(Debug)]
pub(crate) enum Body {
    Bytes(Bytes),
    #[cfg(feature = "p3")]
    Stream(crate::p3::BodyStream),
    /// The body of a response passed on, and how to pass it on.
    #[cfg(feature = "p3")]
    Passed(crate::p3::Passed),
}

impl Response {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Body::Bytes(Bytes::from("")) }
    }

    /// `status` with `content-type: text/plain` and `body`.
    pub fn text(status: u16, body: impl Into<Bytes>) -> Response {
        Response::with_content_type(status, "text/plain", body.into())
    }

    /// `status` with `content-type: application/json` and `body`, which the
    /// caller has made JSON.
    pub fn json(status: u16, body: impl Into<Bytes>) -> Response {
        Response::with_content_type(status, "application/json", body.into())
    }

    /// `status` with the JSON body `{"error": message}`, the shape of every
    /// error edgekit's templates answer (a router's miss and a body refused
    /// turn into one: `Response::from(miss)`, `Response::from(error)`).
    #[inline]
    pub fn error(status: u16, message: &str) -> Response {
        let mut body = String::new();
        body.push_str("{\"error\":");
        crate::json::push_string(&mut body, message);
        body.push('}');
        Response::json(status, body)
    }

    /// `status`, one `content-type` header and `body`: the vector made at
    /// its size, with no growth to link for a response that adds nothing.
    fn with_content_type(status: u16, content_type: &'static str, body: Bytes) -> Response {
        let headers = alloc::vec![(HeaderName::from("content-type"), Bytes::from(content_type))];
        Response { status, headers, body: Body::Bytes(body) }
    }

    /// Adds a header (after any of the same name). The name is a
    /// `&'static str` or a `String` (a header copied from another message).
    pub fn header(mut self, name: impl Into<HeaderName>, value: impl Into<Bytes>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a header: removes any of the same name (in any case), then adds
    /// it.
    pub fn set_header(mut self, name: impl Into<HeaderName>, value: impl Into<Bytes>) -> Response {
        let name = name.into();
        // A response passed on keeps its headers as the WASI `fields` it
        // came with: set there.
        #[cfg(feature = "p3")]
        if let Body::Passed(passed) = &self.body {
            let _ = passed.headers.set(name.as_str(), &[value.into().into_vec()]);
            return self;
        }
        self.headers.retain(|(other, _)| !other.as_str().eq_ignore_ascii_case(name.as_str()));
        self.headers.push((name, value.into()));
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Response {
        self.body = Body::Bytes(body.into());
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(name, value)| (name.as_str(), &**value))
    }

    /// The body, when it is in memory (not a stream).
    pub fn body_bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Bytes(bytes) => Some(bytes),
            #[cfg(feature = "p3")]
            Body::Stream(_) | Body::Passed(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_status_headers_and_body() {
        let response = Response::text(200, "hi").header("x-a", "1").header("x-a", b"2".to_vec());
        assert_eq!(response.status(), 200);
        let headers: Vec<(&str, &[u8])> = response.headers().collect();
        assert_eq!(headers, [("content-type", &b"text/plain"[..]), ("x-a", b"1"), ("x-a", b"2")]);
        assert_eq!(response.body_bytes(), Some(&b"hi"[..]));
        let json = Response::json(400, alloc::string::String::from("{}"));
        assert_eq!(json.headers().next(), Some(("content-type", &b"application/json"[..])));
        assert_eq!(Response::new(204).body_bytes(), Some(&b""[..]));
    }

    #[test]
    fn owned_names_and_set_header() {
        let response = Response::new(200)
            .header(String::from("X-Id"), "1")
            .header("x-other", "2")
            .set_header("x-id", "3")
            .set_header(String::from("x-new"), "4");
        let headers: Vec<(&str, &[u8])> = response.headers().collect();
        assert_eq!(headers, [("x-other", &b"2"[..]), ("x-id", b"3"), ("x-new", b"4")]);
    }

    #[test]
    fn errors_are_json() {
        let response = Response::error(400, "bad \"x\"");
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers().next(), Some(("content-type", &b"application/json"[..])));
        assert_eq!(response.body_bytes(), Some(&br#"{"error":"bad \"x\""}"#[..]));
    }
}
