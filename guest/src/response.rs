//! [`Response`]: what a handler answers, the same type on both lines. The
//! line's module turns it into a WASI response and writes its body.

use alloc::vec::Vec;

use crate::Bytes;

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
    pub(crate) headers: Vec<(&'static str, Bytes)>,
    pub(crate) body: Body,
}

/// A response body: bytes in memory, or (on 0.3) a stream read from
/// elsewhere, passed on as it arrives.
#[derive(Debug)]
pub(crate) enum Body {
    Bytes(Bytes),
    #[cfg(feature = "p3")]
    Stream(crate::p3::BodyStream),
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

    /// `status`, one `content-type` header and `body`: the vector made at
    /// its size, with no growth to link for a response that adds nothing.
    fn with_content_type(status: u16, content_type: &'static str, body: Bytes) -> Response {
        let headers = alloc::vec![("content-type", Bytes::from(content_type))];
        Response { status, headers, body: Body::Bytes(body) }
    }

    /// Adds a header (after any of the same name).
    pub fn header(mut self, name: &'static str, value: impl Into<Bytes>) -> Response {
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
    pub fn headers(&self) -> &[(&'static str, Bytes)] {
        &self.headers
    }

    /// The body, when it is in memory (not a stream).
    pub fn body_bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Bytes(bytes) => Some(bytes),
            #[cfg(feature = "p3")]
            Body::Stream(_) => None,
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
        let headers: Vec<(&str, &[u8])> = response.headers().iter().map(|(n, v)| (*n, &**v)).collect();
        assert_eq!(headers, [("content-type", &b"text/plain"[..]), ("x-a", b"1"), ("x-a", b"2")]);
        assert_eq!(response.body_bytes(), Some(&b"hi"[..]));
        let json = Response::json(400, alloc::string::String::from("{}"));
        assert_eq!(json.headers()[0].0, "content-type");
        assert_eq!(&*json.headers()[0].1, b"application/json");
        assert_eq!(Response::new(204).body_bytes(), Some(&b""[..]));
    }
}
