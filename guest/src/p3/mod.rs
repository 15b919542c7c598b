//! WASI 0.3.0: `wasi:http/service`. The handler is an `async fn`, run by
//! this crate's executor ([`rt`]); a body is a `stream<u8>` the host reads
//! after the handler has returned, written by a task that outlives it.
//!
//! ```no_run
//! use edgekit::http::{Request, Response};
//!
//! #[edgekit::handler]
//! async fn handle(request: Request) -> Response {
//!     match request.body(4096).await {
//!         Ok(body) => Response::text(200, body),
//!         Err(error) => error.into(),
//!     }
//! }
//! ```

mod body;
mod lower;
mod message;
pub mod rt;

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;

use crate::Bytes;
pub use crate::request::BodyError;
use crate::request::{declared_too_large, split_target};
use crate::response::Body;
pub use crate::response::Response;
pub use rt::spawn;

/// The bindings of the 0.3 world (`wit/p3/guest.wit`): `wasi:http/service`,
/// the next handler a middleware calls, `wasi:config/store` and
/// `wasi:keyvalue` (`store`, `atomics`, `batch`; plain calls, as on 0.2).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/p3",
        world: "p3",
        generate_all,
    });
}

pub use bindings::wasi;
pub use bindings::{wit_future, wit_stream};
pub use wit_bindgen::{FutureReader, FutureWriter, StreamReader, StreamResult, StreamWriter};

pub use wasi::http::types::ErrorCode;
use wasi::http::types::{self, Fields, Trailers};

/// A response body read from elsewhere (another response, an upstream),
/// passed on as it arrives: the stream and the future of its trailers.
#[derive(Debug)]
pub struct BodyStream {
    contents: StreamReader<u8>,
    trailers: FutureReader<Result<Option<Trailers>, ErrorCode>>,
}

/// A response passed on ([`Response::from_wasi`]): its own headers, and
/// what makes the new WASI response, given its headers, around the
/// original's body and passes what the new one's consumer reports back to
/// the original's producer. A boxed closure, so that a component that
/// passes no response on links none of it (the forwarding, and the lifting
/// and lowering of that report's `result<_, error-code>`, 2.8 KB).
pub(crate) struct Passed {
    /// The original's headers, a mutable copy: the `Response`'s own are
    /// added to them, and [`Response::set_header`] deletes from them.
    pub(crate) headers: Fields,
    make: Box<dyn FnOnce(Fields) -> types::Response>,
}

impl core::fmt::Debug for Passed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Passed")
    }
}

impl Response {
    /// `status` with the body and trailers of another message, say an
    /// upstream response's (from [`types::Response::consume_body`]).
    pub fn stream(
        status: u16,
        contents: StreamReader<u8>,
        trailers: FutureReader<Result<Option<Trailers>, ErrorCode>>,
    ) -> Response {
        let mut response = Response::new(status);
        response.body = Body::Stream(BodyStream { contents, trailers });
        response
    }

    /// A WASI response as a `Response`, to pass on, changed or not: its
    /// status, its headers, and its body handed on as the stream it is,
    /// never read; what the new response's consumer reports about the body
    /// goes back to this one's producer. Its headers stay a WASI `fields`
    /// (not listed in [`Response::headers`]): those added here join them,
    /// and [`Response::set_header`] replaces any of them.
    pub fn from_wasi(response: types::Response) -> Response {
        let status = response.get_status_code();
        // A mutable copy; the view `get-headers` returns must go before its response.
        let headers = response.get_headers().clone();
        let make = Box::new(move |headers| passed_on(response, headers, status));
        let mut passed = Response::new(status);
        passed.body = Body::Passed(Passed { headers, make });
        passed
    }

    /// The WASI response: headers set, and the body written by a task of its
    /// own once the host reads it (a stream write completes only when the
    /// reader takes the bytes, and the host reads after `handle` returns).
    pub fn into_wasi(self) -> types::Response {
        let Response { status, headers: added, body } = self;
        let (contents, trailers) = match body {
            Body::Passed(Passed { headers, make }) => return make(with(headers, added)),
            Body::Stream(stream) => (Some(stream.contents), stream.trailers),
            Body::Bytes(bytes) if bytes.is_empty() => (None, no_trailers()),
            Body::Bytes(bytes) => (Some(body::stream_of(bytes)), no_trailers()),
        };
        let (response, _) = types::Response::new(with(Fields::new(), added), contents, trailers);
        with_status(response, status)
    }
}

/// `fields` with `added` appended.
fn with(fields: Fields, added: Vec<(crate::HeaderName, Bytes)>) -> Fields {
    for (name, value) in &added {
        // Fails only for forbidden or malformed headers; a handler's
        // headers are its own to get right.
        let _ = fields.append(name.as_str(), value);
    }
    fields
}

/// `response` with `status`.
fn with_status(response: types::Response, status: u16) -> types::Response {
    // A new response is 200 already: a handler that answers only 200 never
    // links `set-status-code`. It fails only for a status outside 100..=999.
    if status != 200 {
        let _ = response.set_status_code(status);
    }
    response
}

/// A request as the handler gets it: method, path, query and headers to
/// read, and the body to read once, under a limit.
#[derive(Debug)]
pub struct Request {
    inner: types::Request,
    method: Cow<'static, str>,
    target: String,
}

impl Request {
    /// Wraps the WASI request.
    pub fn new(inner: types::Request) -> Request {
        let method = message::method(&inner).name();
        let target = inner.get_path_with_query().unwrap_or_default();
        Request { inner, method, target }
    }

    /// The method, as the request line spells it (`GET`).
    pub fn method(&self) -> &str {
        &self.method
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
        let fields = self.inner.get_headers();
        // SAFETY: the import's own signature, and the fields' handle, borrowed.
        unsafe { crate::request::first_value(message::fields_get, fields.handle(), name) }
    }

    /// The headers, immutable (clone them to change them).
    pub fn headers(&self) -> Fields {
        self.inner.get_headers()
    }

    /// The WASI request, to pass on or to read in ways this type does not.
    pub fn into_wasi(self) -> types::Request {
        self.inner
    }

    /// The request with the header `name` set to `value` (any of that name
    /// replaced), to pass on. A 0.3 request's headers cannot change once it
    /// exists: this is a new request with the same method, target, options
    /// and body stream, never read; what its consumer reports about the
    /// body goes back to the client's side.
    pub fn set_header(self, name: &str, value: impl Into<Bytes>) -> Request {
        let Request { inner, method, target } = self;
        let headers = inner.get_headers().clone();
        let _ = headers.set(name, &[value.into().into_vec()]);
        Request { inner: pass_request_on(inner, headers), method, target }
    }

    /// Reads the whole body, refusing one longer than `limit` bytes: first
    /// by its declared `content-length`, then by counting what arrives. The
    /// reads are asynchronous: while this request waits for its body, the
    /// instance serves others.
    pub async fn body(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        // A request has one `content-length` (hosts refuse more, as HTTP
        // says they must).
        if let Some(value) = self.header("content-length")
            && declared_too_large(&value, limit)
        {
            return Err(BodyError::TooLarge { limit });
        }
        // `res` tells the host how handling the body went; dropping the
        // writer unwritten sends its default, `ok`.
        let (_res, res) = wit_future::new(|| Ok(()));
        let (mut stream, trailers) = types::Request::consume_body(self.inner, res);
        // One byte more than the limit allows, to notice going over it.
        let mut bytes = Vec::with_capacity(limit + 1);
        loop {
            if bytes.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            let (result, read) = stream.read(bytes).await;
            bytes = read;
            match result {
                StreamResult::Complete(_) => {}
                StreamResult::Dropped | StreamResult::Cancelled => break,
            }
        }
        // The stream ended: the trailers future says whether it ended well.
        match trailers.await {
            Ok(_) => Ok(bytes),
            Err(_) => Err(BodyError::Unreadable),
        }
    }
}

/// What a handler may return: a [`Response`], a WASI response, or either in
/// a `Result` whose error the host turns into its own error response.
pub trait IntoResult {
    /// Returns the value to the host (`task.return`).
    #[doc(hidden)]
    fn task_return(self);
}

impl IntoResult for Response {
    fn task_return(self) {
        lower::return_ok(self.into_wasi());
    }
}

impl IntoResult for types::Response {
    fn task_return(self) {
        lower::return_ok(self);
    }
}

/// Only a handler that can fail links the lowering of `error-code`.
impl<R: IntoResult> IntoResult for Result<R, ErrorCode> {
    fn task_return(self) {
        match self {
            Ok(response) => response.task_return(),
            Err(error) => lower::return_error(error),
        }
    }
}

/// `request` passed on with `headers` instead of its own: a new request
/// with the same method, target, scheme, authority, options and body
/// stream, never read (a 0.3 message's headers cannot change once it
/// exists). What its consumer reports about the body goes back to the
/// body's producer. The report is copied as it was read, so no lifting and
/// lowering of an `error-code` is linked.
pub fn pass_request_on(request: types::Request, headers: Fields) -> types::Request {
    let method = message::method(&request);
    let path = request.get_path_with_query();
    let scheme = request.get_scheme();
    let authority = request.get_authority();
    // A mutable copy; the view `get-options` returns must go before its request.
    let options = request.get_options().map(|options| options.clone());
    let body = message::request_body(request);
    let passed = message::request_around(headers, body, options);
    message::set_method(&passed, method);
    let _ = passed.set_path_with_query(path.as_deref());
    let _ = passed.set_scheme(scheme.as_ref());
    let _ = passed.set_authority(authority.as_deref());
    passed
}

/// `response` passed on with `headers` instead of its own: a new response
/// with the same status and body stream, never read; what its consumer
/// reports about the body goes back to the body's producer, as for
/// [`pass_request_on`].
pub fn pass_response_on(response: types::Response, headers: Fields) -> types::Response {
    let status = response.get_status_code();
    passed_on(response, headers, status)
}

/// [`pass_response_on`] for a caller that has read the status already.
fn passed_on(response: types::Response, headers: Fields, status: u16) -> types::Response {
    let body = message::response_body(response);
    with_status(message::response_around(headers, body), status)
}

/// A middleware's call of the next handler (the `wasi:http/handler` it
/// imports): `request` passed on, and the next handler's response, its
/// body handed on as the stream it is ([`Response::from_wasi`]), to change
/// and pass on in turn. Its error, if it answers with one.
pub async fn next(request: Request) -> Result<Response, ErrorCode> {
    let response = wasi::http::handler::handle(request.into_wasi()).await?;
    Ok(Response::from_wasi(response))
}

/// Runs one call of the exported `handle`: `handler` on the request, its
/// answer returned to the host, then the body writers to their end.
#[doc(hidden)]
pub fn serve<F, R>(request: u32, handler: fn(Request) -> F) -> u32
where
    F: Future<Output = R> + 'static,
    R: IntoResult,
{
    // SAFETY: the host passes an owned `request` handle.
    let request = unsafe { types::Request::from_handle(request) };
    rt::start(async move {
        let unreturned = lower::Unreturned;
        handler(Request::new(request)).await.task_return();
        unreturned.returned();
    })
}

/// Exports `handle` as the component's `wasi:http/handler@0.3.0`:
/// `async fn handle(request: Request) -> impl IntoResult`. What
/// `#[edgekit::handler]` writes on 0.3, and what code without it may call.
///
/// `export_handler!(next handle)` is the same on 0.3 (a handler may
/// call [`next`] either way); it exists so that one middleware source
/// exports its handler the same way on both lines.
#[macro_export]
macro_rules! export_handler {
    (next $handle:path) => {
        $crate::export_handler!($handle);
    };
    ($handle:path) => {
        #[unsafe(export_name = "[async-lift]wasi:http/handler@0.3.0#handle")]
        unsafe extern "C" fn __edgekit_handle(request: u32) -> u32 {
            $crate::p3::serve(request, |request| $handle(request))
        }

        #[unsafe(export_name = "[callback][async-lift]wasi:http/handler@0.3.0#handle")]
        unsafe extern "C" fn __edgekit_callback(event: u32, waitable: u32, code: u32) -> u32 {
            // SAFETY: the host calls it for tasks `serve` started.
            unsafe { $crate::p3::rt::callback(event, waitable, code) }
        }
    };
}

/// A trailers future that resolves to "no trailers", `ok(none)`.
///
/// wit-bindgen's own `wit_future::new(|| Ok(None))` works too, but its
/// vtable lowers and lifts any `result<option<trailers>, error-code>`, 2.9 KB
/// of code for a 40-case variant a handler without trailers never sends;
/// this one keeps the generated intrinsics and lowers `ok(none)` alone.
pub fn no_trailers() -> FutureReader<Result<Option<Trailers>, ErrorCode>> {
    body::no_trailers()
}

/// One log line to `wasi:cli/stderr`: a stream of its own, written by a
/// task of its own, so the handler never waits for it.
pub(crate) fn write_stderr(line: Vec<u8>) {
    // The future says whether the host took it all; a log line is not
    // worth waiting for.
    drop(wasi::cli::stderr::write_via_stream(body::stream_of(line.into())));
}
