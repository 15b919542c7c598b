//! WASI 0.2.12: `wasi:http/proxy`. The handler is a plain `fn`; the host
//! makes an instance per request, and the library writes the body in the
//! 4,096-byte chunks a 0.2 stream takes per call.
//!
//! ```no_run
//! use edgekit::http::{Request, Response};
//!
//! fn handle(request: Request) -> Response {
//!     match request.body(4096) {
//!         Ok(body) => Response::text(200, body),
//!         Err(error) => Response::text(error.status(), "too large or unreadable\n"),
//!     }
//! }
//!
//! edgekit::handler!(handle);
//! ```

use alloc::string::String;
use alloc::vec::Vec;

pub use crate::request::BodyError;
use crate::request::{declared_too_large, split_target};
pub use crate::response::Response;

/// The bindings of the 0.2 world (`wit/p2/guest.wit`): `wasi:http/proxy`,
/// the next handler a middleware calls, `wasi:config/store` and
/// `wasi:keyvalue` (`store`, `atomics`, `batch`).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/p2",
        world: "p2",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_p2",
    });
}

pub use bindings::wasi;

use wasi::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::{OutputStream, StreamError};

/// The most bytes one `blocking-write-and-flush` takes.
const CHUNK: usize = 4096;

/// A request as the handler gets it: method, path, query and headers to
/// read, and the body to read once, under a limit.
#[derive(Debug)]
pub struct Request {
    inner: IncomingRequest,
    method: Method,
    target: String,
}

impl Request {
    /// Wraps the WASI request.
    pub fn new(inner: IncomingRequest) -> Request {
        let method = inner.method();
        let target = inner.path_with_query().unwrap_or_default();
        Request { inner, method, target }
    }

    /// The method, as the request line spells it (`GET`).
    pub fn method(&self) -> &str {
        match &self.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other(other) => other,
        }
    }

    /// The path, without the query (`/items/7`).
    pub fn path(&self) -> &str {
        split_target(&self.target).0
    }

    /// The query, without the `?` (`""` when there is none).
    pub fn query(&self) -> &str {
        split_target(&self.target).1
    }

    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.inner.headers().get(name).into_iter().next()
    }

    /// The headers, immutable (clone them to change them).
    pub fn headers(&self) -> Fields {
        self.inner.headers()
    }

    /// The WASI request, to pass on or to read in ways this type does not.
    pub fn into_wasi(self) -> IncomingRequest {
        self.inner
    }

    /// Reads the whole body, refusing one longer than `limit` bytes: first
    /// by its declared `content-length`, then by counting what arrives.
    pub fn body(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        for value in self.inner.headers().get("content-length") {
            if declared_too_large(&value, limit) {
                return Err(BodyError::TooLarge);
            }
        }
        let body = self.inner.consume().map_err(|()| BodyError::Unreadable)?;
        let stream = body.stream().map_err(|()| BodyError::Unreadable)?;
        let mut bytes = Vec::new();
        loop {
            // Ask for one byte more than the limit allows, to notice going over it.
            match stream.blocking_read((limit + 1 - bytes.len()) as u64) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => return Err(BodyError::Unreadable),
            }
            if bytes.len() > limit {
                return Err(BodyError::TooLarge);
            }
        }
        Ok(bytes)
    }
}

/// Sends `response` through `out`: headers, status, then the body in
/// chunks. Each step fails only if the host has already given up on the
/// request; the rest is skipped then (the host answers 500 when `out` was
/// never set, and cuts the body off when it was).
pub fn respond(out: ResponseOutparam, response: Response) {
    let headers = Fields::new();
    for (name, value) in &response.headers {
        // Fails only for forbidden or malformed headers; a handler's
        // headers are its own to get right.
        let _ = headers.append(name, value);
    }
    let outgoing = OutgoingResponse::new(headers);
    // Fails only for a status outside 100..=999.
    let _ = outgoing.set_status_code(response.status);
    let Ok(body) = outgoing.body() else { return };
    ResponseOutparam::set(out, Ok(outgoing));
    // A 0.3 stream cannot reach a 0.2 response: on this line a body is bytes.
    let bytes = response.body_bytes().unwrap_or_default();
    if !bytes.is_empty() {
        let Ok(stream) = body.write() else { return };
        if write_all(&stream, bytes).is_err() {
            return;
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

/// Writes all of `bytes` to `stream`, in the chunks a 0.2 stream takes per
/// call. Fails if the host has given up on the stream.
pub fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), StreamError> {
    for chunk in bytes.chunks(CHUNK) {
        stream.blocking_write_and_flush(chunk)?;
    }
    Ok(())
}

/// One log line to `wasi:cli/stderr`, written before the handler goes on.
pub(crate) fn write_stderr(line: Vec<u8>) {
    let _ = write_all(&wasi::cli::stderr::get_stderr(), &line);
}

/// Exports `handle` as the component's `wasi:http/incoming-handler@0.2.12`:
/// `fn handle(request: Request) -> Response`.
///
/// `handler!(raw handle)` exports `fn handle(request: IncomingRequest, out:
/// ResponseOutparam)` as it is, for a handler that passes `out` on (a
/// middleware calling the next handler).
#[cfg(not(feature = "p3"))]
#[macro_export]
macro_rules! handler {
    (raw $handle:path) => {
        struct __EdgekitHandler;

        impl $crate::p2::bindings::exports::wasi::http::incoming_handler::Guest for __EdgekitHandler {
            fn handle(
                request: $crate::p2::wasi::http::types::IncomingRequest,
                out: $crate::p2::wasi::http::types::ResponseOutparam,
            ) {
                $handle(request, out)
            }
        }

        $crate::p2::bindings::__export_p2!(__EdgekitHandler with_types_in $crate::p2::bindings);
    };
    ($handle:path) => {
        $crate::handler!(raw __edgekit_handle);

        fn __edgekit_handle(
            request: $crate::p2::wasi::http::types::IncomingRequest,
            out: $crate::p2::wasi::http::types::ResponseOutparam,
        ) {
            $crate::p2::respond(out, $handle($crate::p2::Request::new(request)))
        }
    };
}
