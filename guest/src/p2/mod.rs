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

use alloc::borrow::Cow;
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

use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::{OutputStream, StreamError};

/// The most bytes one `blocking-write-and-flush` takes.
const CHUNK: usize = 4096;

/// A request as the handler gets it: method, path, query and headers to
/// read, and the body to read once, under a limit.
#[derive(Debug)]
pub struct Request {
    inner: IncomingRequest,
    method: Cow<'static, str>,
    target: String,
}

impl Request {
    /// Wraps the WASI request.
    pub fn new(inner: IncomingRequest) -> Request {
        let method = method_of(&inner);
        let target = inner.path_with_query().unwrap_or_default();
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
    // A new response is 200 already: a handler that answers only 200 never
    // links `set-status-code`. It fails only for a status outside 100..=999.
    if response.status != 200 {
        let _ = outgoing.set_status_code(response.status);
    }
    let Ok(body) = outgoing.body() else { return };
    ResponseOutparam::set(out, Ok(outgoing));
    // A 0.3 stream cannot reach a 0.2 response: on this line a body is bytes.
    let bytes = response.body_bytes().unwrap_or_default();
    if !bytes.is_empty() {
        let Ok(stream) = body.write() else { return };
        for chunk in bytes.chunks(CHUNK) {
            if !write(&stream, chunk) {
                return;
            }
        }
    }
    finish(body);
}

/// Ends `body` (no trailers): `OutgoingBody::finish(body, None)`, without
/// reading its error.
///
/// The generated `finish` lifts any `error-code` the host returns, a
/// 39-case variant: about 1.3 KB of code for an error nothing can act on
/// once the response is on its way (the host has the status and headers,
/// and ends the body as it can). This calls the same import and leaves the
/// result unread. Its only errors are a body shorter or longer than a
/// declared `content-length` (no strings); an error with strings would
/// leave them in the heap, which on 0.2 lives for one request.
pub fn finish(body: OutgoingBody) {
    let mut result = abi::Result40([0; 5]);
    // SAFETY: the import takes the body's handle (owned: the host takes it),
    // `none` for the trailers, and 40 bytes 8-aligned for the result.
    unsafe { abi::finish(body.take_handle() as i32, 0, 0, result.0.as_mut_ptr().cast()) };
}

/// The method of `request` by its name, read straight from the import: the
/// generated `method()` lifts it into the `Method` enum, which would then be
/// matched back into the same names.
fn method_of(request: &IncomingRequest) -> Cow<'static, str> {
    let mut method = abi::Method { case: 0, ptr: core::ptr::null_mut(), len: 0 };
    // SAFETY: the request's handle, borrowed, and room for a `method`.
    unsafe { abi::method(request.handle() as i32, &mut method) };
    match abi::standard(method.case) {
        Some(name) => Cow::Borrowed(name),
        // SAFETY: case 9, `other(string)`: `len` bytes of UTF-8 at `ptr`,
        // which the host allocated through `cabi_realloc` for us to own.
        None => Cow::Owned(unsafe { String::from_raw_parts(method.ptr, method.len, method.len) }),
    }
}

/// The imports the library calls without wit-bindgen's lifting.
mod abi {
    /// The names of the cases of `method` without a payload (0 to 8), one
    /// after the other, and where each starts; case 9 is `other(string)`.
    const NAMES: &str = "GETHEADPOSTPUTDELETECONNECTOPTIONSTRACEPATCH";
    const STARTS: [u8; 10] = [0, 3, 7, 11, 14, 20, 27, 34, 39, 44];

    /// The name of case `case`, if it has no payload.
    pub(super) fn standard(case: u8) -> Option<&'static str> {
        let case = usize::from(case);
        let (start, end) = (*STARTS.get(case)?, *STARTS.get(case + 1)?);
        NAMES.get(usize::from(start)..usize::from(end))
    }

    /// `result<_, stream-error>`: its case (1 for err), then the error.
    #[repr(C)]
    pub(super) struct WriteResult {
        pub(super) case: u8,
        pub(super) error: StreamError,
    }

    /// `stream-error`: `last-operation-failed` (0) with its `error`
    /// handle, or `closed` (1).
    #[repr(C)]
    pub(super) struct StreamError {
        pub(super) case: u8,
        pub(super) handle: u32,
    }

    /// `method`: its case, then the string of `other`.
    #[repr(C)]
    pub(super) struct Method {
        pub(super) case: u8,
        pub(super) ptr: *mut u8,
        pub(super) len: usize,
    }

    /// `result<_, error-code>`: 40 bytes, 8-aligned.
    pub(super) struct Result40(pub(super) [u64; 5]);

    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "wasi:http/types@0.2.12")]
    unsafe extern "C" {
        /// `[static]outgoing-body.finish`: body, `option<trailers>` (case,
        /// handle), where to write the result.
        #[link_name = "[static]outgoing-body.finish"]
        pub(super) fn finish(body: i32, trailers_case: i32, trailers: i32, result: *mut u8);

        /// `[method]incoming-request.method`: request, where to write it.
        #[link_name = "[method]incoming-request.method"]
        pub(super) fn method(request: i32, method: *mut Method);
    }

    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "wasi:io/streams@0.2.12")]
    unsafe extern "C" {
        /// `[method]output-stream.blocking-write-and-flush`: stream, bytes,
        /// where to write the result.
        #[link_name = "[method]output-stream.blocking-write-and-flush"]
        pub(super) fn write(stream: i32, ptr: *const u8, len: usize, result: *mut WriteResult);
    }

    /// Only a component has the import; a host build never calls it.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) unsafe fn finish(_: i32, _: i32, _: i32, _: *mut u8) {
        unreachable!("wasi:http exists only in a component")
    }

    /// Only a component has the import; a host build never calls it.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) unsafe fn write(_: i32, _: *const u8, _: usize, _: *mut WriteResult) {
        unreachable!("wasi:io exists only in a component")
    }

    /// Only a component has the import; a host build never calls it.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) unsafe fn method(_: i32, _: *mut Method) {
        unreachable!("wasi:http exists only in a component")
    }
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
pub(crate) fn write_stderr(line: &[u8]) {
    // One call: a line is at most `log::MAX_LINE`, the 4,096 bytes a call takes.
    write(&wasi::cli::stderr::get_stderr(), line);
}

/// `blocking-write-and-flush` of at most [`CHUNK`] bytes; says whether it
/// went through. The generated call lifts the error into a `StreamError`
/// the library would only drop.
fn write(stream: &OutputStream, bytes: &[u8]) -> bool {
    let mut result = abi::WriteResult { case: 0, error: abi::StreamError { case: 0, handle: 0 } };
    // SAFETY: the stream's handle, borrowed; the bytes, which the host
    // copies; room for a `result<_, stream-error>`.
    unsafe { abi::write(stream.handle() as i32, bytes.as_ptr(), bytes.len(), &mut result) };
    if result.case != 0 && result.error.case == 0 {
        // `last-operation-failed(error)`: the error is ours to drop.
        // SAFETY: the host handed over an owned `error` handle.
        drop(unsafe { wasi::io::error::Error::from_handle(result.error.handle) });
    }
    result.case == 0
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
