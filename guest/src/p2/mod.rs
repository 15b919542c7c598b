//! WASI 0.2.12: `wasi:http/proxy`. The handler is the same `async fn` as
//! on 0.3; a 0.2 host makes an instance per request and every WASI call
//! here blocks, so `#[edgekit::handler]` compiles it as a plain `fn`
//! ([`Now`], [`Done`]), and the library writes the body in the 4,096-byte
//! chunks a 0.2 stream takes per call.
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

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::future::{Future, IntoFuture, Pending, Ready};
use core::pin::pin;
use core::task::{Context, Poll, Waker};

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

pub use wasi::http::types::ErrorCode;
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
    /// The handle of the request's `response-outparam`, for [`next`] to pass
    /// on, in a middleware's handler; 0 elsewhere. A bare handle: the
    /// library, not the request, owns it (no drop to link).
    out: u32,
}

impl Request {
    /// Wraps the WASI request.
    pub fn new(inner: IncomingRequest) -> Request {
        let method = method_of(&inner);
        let target = inner.path_with_query().unwrap_or_default();
        Request { inner, method, target, out: 0 }
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
        first_value(&self.inner.headers(), name)
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
    /// Awaited as on 0.3; on 0.2 the reads block, and the value is there
    /// when it returns ([`Done`]).
    pub fn body(self, limit: usize) -> Done<Result<Vec<u8>, BodyError>> {
        Done(self.read_body(limit))
    }

    fn read_body(self, limit: usize) -> Result<Vec<u8>, BodyError> {
        // A request has one `content-length` (hosts refuse more, as HTTP
        // says they must).
        if let Some(value) = self.header("content-length")
            && declared_too_large(&value, limit)
        {
            return Err(BodyError::TooLarge { limit });
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
                return Err(BodyError::TooLarge { limit });
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
        let _ = headers.append(name.as_str(), value);
    }
    let outgoing = OutgoingResponse::new(headers);
    // A new response is 200 already: a handler that answers only 200 never
    // links `set-status-code`. It fails only for a status outside 100..=999.
    if response.status != 200 {
        let _ = outgoing.set_status_code(response.status);
    }
    let Ok(body) = outgoing.body() else { return };
    set_response(out, outgoing);
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

/// Sets `out` to `response`: `ResponseOutparam::set(out, Ok(response))`,
/// calling the same import without the lowering of every `error-code`
/// that the generated call links wherever it is not inlined (about 1 KB:
/// the proxy template sets its response in two places).
pub fn set_response(out: ResponseOutparam, response: OutgoingResponse) {
    // SAFETY: both handles owned (the host takes them); `ok` is case 0 with
    // the response in the first slot, the error's slots unused.
    unsafe { abi::set(out.take_handle() as i32, 0, response.take_handle() as i32, 0, 0, 0, 0, 0, 0) };
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

/// The first of the values of `name` in `fields` (see
/// [`crate::request::first_value`]).
fn first_value(fields: &Fields, name: &str) -> Option<Vec<u8>> {
    // SAFETY: the import's own signature, and the fields' handle, borrowed.
    unsafe { crate::request::first_value(abi::fields_get, fields.handle(), name) }
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
    use crate::request::{METHOD_NAMES as NAMES, METHOD_STARTS as STARTS};

    /// The name of case `case` of `method`, if it has no payload.
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

    use crate::request::List;

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

        /// `[static]response-outparam.set`: the outparam, then
        /// `result<outgoing-response, error-code>` flat (its case, then
        /// seven slots joined over both cases, the third 64 bits wide).
        #[link_name = "[static]response-outparam.set"]
        pub(super) fn set(out: i32, case: i32, s0: i32, s1: i32, s2: i64, s3: i32, s4: i32, s5: i32, s6: i32);

        /// `[method]fields.get`: fields, name, where to write the list of
        /// values.
        #[link_name = "[method]fields.get"]
        pub(super) fn fields_get(fields: u32, name: *const u8, name_len: usize, values: *mut List);
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

    /// Only a component has the import; a host build never calls it.
    #[cfg(not(target_arch = "wasm32"))]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn set(_: i32, _: i32, _: i32, _: i32, _: i64, _: i32, _: i32, _: i32, _: i32) {
        unreachable!("wasi:http exists only in a component")
    }

    /// Only a component has the import; a host build never calls it.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) unsafe extern "C" fn fields_get(_: u32, _: *const u8, _: usize, _: *mut List) {
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

/// What a handler may return: a [`Response`], or a `Result` whose error
/// the host answers for (`response-outparam.set` with the `error-code`).
pub trait IntoResult {
    /// Sends the answer through `out`.
    #[doc(hidden)]
    fn respond(self, out: ResponseOutparam);
}

impl IntoResult for Response {
    fn respond(self, out: ResponseOutparam) {
        respond(out, self);
    }
}

/// Only a handler that can fail links the lowering of `error-code`.
impl<R: IntoResult> IntoResult for Result<R, ErrorCode> {
    fn respond(self, out: ResponseOutparam) {
        match self {
            Ok(response) => response.respond(out),
            Err(error) => ResponseOutparam::set(out, Err(error)),
        }
    }
}

/// Runs one call of the exported `handle`: `handler` on the request, to its
/// end, and its answer sent through `out`.
///
/// A 0.2 handler never waits for an event: every WASI call blocks, so its
/// future is ready when first polled, and the library polls it once, with a
/// waker that does nothing. A future that is not ready then (one that waits
/// for a wake-up, which nothing on 0.2 sends) panics, which traps. One poll,
/// not a loop: the compiler can then drop the states the handler's future
/// would resume from (25 bytes of http-api, 24 of kv-api).
#[doc(hidden)]
pub fn serve<F, R>(request: IncomingRequest, out: ResponseOutparam, handler: fn(Request) -> F)
where
    F: Future<Output = R>,
    R: IntoResult,
{
    run(handler(Request::new(request))).respond(out);
}

/// Runs `future` to its end where it stands (see [`serve`]), in one poll.
#[inline(always)]
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(answer) => answer,
        // Nothing on 0.2 would wake it: every WASI call here blocks.
        Poll::Pending => panic!("a 0.2 handler waited for something that never comes"),
    }
}

/// A value that is there at once, as what an `async` call gives on 0.3:
/// what the library's 0.2 calls that a handler awaits return
/// ([`Request::body`]), and what a `#[edgekit::maybe_async]` function's 0.2
/// copy returns. A handler's 0.2 copy takes the value with [`Now::now`];
/// any other code may `.await` it.
#[must_use = "await it: it holds the value"]
pub struct Done<T>(pub T);

impl<T> IntoFuture for Done<T> {
    type Output = T;
    type IntoFuture = Ready<T>;

    fn into_future(self) -> Ready<T> {
        core::future::ready(self.0)
    }
}

/// What `e.await` becomes in the 0.2 copy of an `async fn` that
/// `#[edgekit::handler]` or `#[edgekit::maybe_async]` makes, a plain `fn`:
/// `Now::now(e)`, the value, with no future to run. The awaits of futures
/// made inside it (`async` blocks, closures) stay theirs:
///
/// ```
/// use edgekit::p2::{Done, Now};
///
/// #[edgekit::maybe_async]
/// async fn double(n: u32) -> u32 {
///     let later = async move { Done(n).await };
///     drop(later);
///     Done(n).await * 2
/// }
///
/// // On 0.2, a plain `fn` whose value is there at once.
/// assert_eq!(double(21).now(), 42);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is awaited in the WASI 0.2 copy of an `async fn`, where nothing can wait",
    label = "not ready at once on WASI 0.2",
    note = "on 0.2 an awaited call must give its value at once: one of the library's, or an `async fn` \
            marked `#[edgekit::maybe_async]`"
)]
pub trait Now {
    /// The value.
    type Output;

    /// The value, now.
    fn now(self) -> Self::Output;
}

impl<T> Now for Done<T> {
    type Output = T;

    #[inline(always)]
    fn now(self) -> T {
        self.0
    }
}

/// [`serve`] for a plain `fn` handler: the 0.2 copy `#[edgekit::handler]`
/// makes of an `async fn`, with no future to run.
#[doc(hidden)]
pub fn serve_sync<R: IntoResult>(request: IncomingRequest, out: ResponseOutparam, handler: fn(Request) -> R) {
    handler(Request::new(request)).respond(out);
}

/// `next(request).await?` in a handler that returns `Result<_, ErrorCode>`,
/// as on 0.3: on 0.2 `next` cannot fail, and its error type says so, so
/// that the handler links no lowering of an `error-code` it never returns.
impl From<Infallible> for ErrorCode {
    fn from(never: Infallible) -> ErrorCode {
        match never {}
    }
}

/// [`serve`] for a middleware (`#[edgekit::handler(next)]`): the request
/// carries `out`, for [`next`] to pass on. The handler's answer is sent
/// through `out` unless it passed the request on, and then it has no answer:
/// awaiting [`next`] does not return on 0.2 (the handler's future waits for
/// ever, and is dropped).
#[doc(hidden)]
pub fn serve_middleware<F, R>(request: IncomingRequest, out: ResponseOutparam, handler: fn(Request) -> F)
where
    F: Future<Output = R>,
    R: IntoResult,
{
    let mut request = Request::new(request);
    request.out = out.take_handle();
    let out = request.out;
    let mut future = pin!(handler(request));
    if let Poll::Ready(answer) = future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        // SAFETY: the handle `serve_middleware` was given; the handler
        // answered without passing the request on.
        answer.respond(unsafe { ResponseOutparam::from_handle(out) });
    }
}

/// A middleware's call of the next handler (the `wasi:http/incoming-handler`
/// it imports), with the request as it came. Only in a handler exported
/// with `#[edgekit::handler(next)]`: anywhere else it panics.
///
/// On 0.2 the next handler answers the client itself, through the
/// `response-outparam` this request came with: a guest can neither build a
/// request to pass on nor read the answer. So the next handler runs when
/// `next` is called, and awaiting `next` does not return: the handler ends
/// there (the code after it, which would change the answer, is for 0.3,
/// whose `next` returns the next handler's response). A handler that calls
/// `next` must await it.
pub fn next(request: Request) -> Pending<Result<Response, Infallible>> {
    if request.out == 0 {
        panic!("edgekit::http::next: export the handler with `#[edgekit::handler(next)]`");
    }
    // SAFETY: the handle `serve_middleware` was given, passed on once: the
    // request is consumed, and `serve_middleware` sends nothing through it
    // once the handler waits here.
    let out = unsafe { ResponseOutparam::from_handle(request.out) };
    wasi::http::incoming_handler::handle(request.into_wasi(), out);
    core::future::pending()
}

/// Exports `handle` as the component's `wasi:http/incoming-handler@0.2.12`:
/// `async fn handle(request: Request) -> impl IntoResult`, polled once.
/// What `#[edgekit::handler]` writes, and what code without it may call.
///
/// `export_handler!(sync handle)` exports a plain `fn` (the 0.2 copy
/// `#[edgekit::handler]` makes); `export_handler!(next handle)` a
/// middleware's `async fn`, which may pass the request on with [`next`];
/// `export_handler!(raw handle)` a `fn handle(request: IncomingRequest,
/// out: ResponseOutparam)` as it is, for code on the raw bindings.
#[cfg(not(feature = "p3"))]
#[macro_export]
macro_rules! export_handler {
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
    (sync $handle:path) => {
        $crate::export_handler!(raw __edgekit_handle);

        fn __edgekit_handle(
            request: $crate::p2::wasi::http::types::IncomingRequest,
            out: $crate::p2::wasi::http::types::ResponseOutparam,
        ) {
            $crate::p2::serve_sync(request, out, |request| $handle(request))
        }
    };
    (next $handle:path) => {
        $crate::export_handler!(raw __edgekit_handle);

        fn __edgekit_handle(
            request: $crate::p2::wasi::http::types::IncomingRequest,
            out: $crate::p2::wasi::http::types::ResponseOutparam,
        ) {
            $crate::p2::serve_middleware(request, out, |request| $handle(request))
        }
    };
    ($handle:path) => {
        $crate::export_handler!(raw __edgekit_handle);

        fn __edgekit_handle(
            request: $crate::p2::wasi::http::types::IncomingRequest,
            out: $crate::p2::wasi::http::types::ResponseOutparam,
        ) {
            $crate::p2::serve(request, out, |request| $handle(request))
        }
    };
}
