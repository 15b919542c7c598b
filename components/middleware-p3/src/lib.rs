//! The WASI 0.3 middleware template: cross-cutting behaviour in front of any
//! `wasi:http@0.3.0` handler, on both the request and the response.
//!
//! It exports `wasi:http/handler` and imports another one, the next handler;
//! `cargo xtask dist` composes the two into one component (see compose.toml).
//! In 0.3 a handler takes a request and returns a response, so for each
//! request it:
//!
//! - answers a CORS preflight (`OPTIONS` with `origin` and
//!   `access-control-request-method`) itself, 204 with the CORS headers;
//! - answers 401 with `www-authenticate: Bearer` unless the request carries
//!   `authorization: Bearer <TOKEN>`;
//! - otherwise passes the request on with `x-request-id` set, and adds
//!   `x-request-id`, `access-control-allow-origin` and
//!   `access-control-expose-headers` to the response the next handler gives.
//!
//! The request id is the request's own `x-request-id` when it is valid, or a
//! fresh one from `wasi:random`. It lives in the one call it belongs to:
//! 0.3 hosts reuse an instance for many requests, some at once, so nothing
//! here is kept in a `static`.
//!
//! Bodies are never copied: the request's and the response's body streams
//! are handed on as they are, inside rebuilt messages (a message's headers
//! cannot be changed once it exists).

// `no_std` where `dist` builds it (wasm32-unknown-unknown): a panic (none is
// expected) traps without formatting a message, which leaves `core::fmt` out
// of the artifact (docs/templates.md, "middleware-p3"). Elsewhere std, whose
// libc the stock `cargo build --release --target wasm32-wasip2` relies on.
#![cfg_attr(all(target_arch = "wasm32", target_os = "unknown"), no_std)]
extern crate alloc;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Waker};

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

// A free-list allocator of about 1 KB instead of std's dlmalloc (about 7 KB).
// See docs/size.md, "The allocator", for the trade; under 0.3's instance
// reuse the heap lives as long as the instance, which the host bounds.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: a component instance is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

wit_bindgen::generate!({ path: "wit", world: "middleware-p3", generate_all });

use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Method, Request, Response};
use wit_bindgen::{FutureReader, FutureWriter};

/// The bearer token requests must carry. An example value: replace it (see
/// docs/templates.md, "middleware-p3", for where a real deployment keeps its secret).
const TOKEN: &[u8] = b"edgekit-example-token";
/// The origins CORS allows.
const ALLOW_ORIGIN: &[u8] = b"*";

struct Middleware;

impl Guest for Middleware {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let headers = request.get_headers();
        let first = |name: &str| headers.get(name).into_iter().next();
        let request_id = first("x-request-id").filter(|id| valid_id(id)).unwrap_or_else(fresh_id);
        let preflight = matches!(request.get_method(), Method::Options)
            && first("origin").is_some()
            && first("access-control-request-method").is_some();
        if preflight {
            let headers: &[(&str, &[u8])] = &[
                ("access-control-allow-origin", ALLOW_ORIGIN),
                ("access-control-allow-methods", b"GET, POST, PUT, DELETE, OPTIONS"),
                ("access-control-allow-headers", b"authorization, content-type"),
                ("access-control-max-age", b"600"),
                ("x-request-id", &request_id),
            ];
            return Ok(respond(204, headers, b""));
        }
        let authorized = first("authorization").is_some_and(|value| bearer_matches(&value));
        if !authorized {
            let headers: &[(&str, &[u8])] = &[
                ("www-authenticate", b"Bearer"),
                ("content-type", b"application/json"),
                ("access-control-allow-origin", ALLOW_ORIGIN),
                ("x-request-id", &request_id),
            ];
            return Ok(respond(401, headers, b"{\"error\":\"missing or invalid bearer token\"}"));
        }

        // The request passed on carries the id, so the handler can log it.
        // `get-headers` gives an immutable view: copy it, change the copy.
        let passed_on = headers.clone();
        drop(headers);
        let _ = passed_on.set("x-request-id", core::slice::from_ref(&request_id));
        let response = wasi::http::handler::handle(with_headers(request, passed_on)).await?;

        let headers = response.get_headers().clone();
        let _ = headers.set("x-request-id", &[request_id]);
        let _ = headers.set("access-control-allow-origin", &[ALLOW_ORIGIN.to_vec()]);
        let _ = headers.set("access-control-expose-headers", &[b"x-request-id".to_vec()]);
        Ok(response_with_headers(response, headers))
    }
}

/// `request` with `headers` instead of its own: the same method, target,
/// options and body stream.
fn with_headers(request: Request, headers: Fields) -> Request {
    let method = request.get_method();
    let path = request.get_path_with_query();
    let scheme = request.get_scheme();
    let authority = request.get_authority();
    // A mutable copy; the view `get-options` returns must go before its request.
    let options = request.get_options().map(|options| options.clone());
    let (result_tx, result_rx) = wit_future::new(|| Ok(()));
    let (body, trailers) = Request::consume_body(request, result_rx);
    let (request, transmitted) = Request::new(headers, Some(body), trailers, options);
    let _ = request.set_method(&method);
    let _ = request.set_path_with_query(path.as_deref());
    let _ = request.set_scheme(scheme.as_ref());
    let _ = request.set_authority(authority.as_deref());
    forward(transmitted, result_tx);
    request
}

/// `response` with `headers` instead of its own: the same status and body stream.
fn response_with_headers(response: Response, headers: Fields) -> Response {
    let status = response.get_status_code();
    let (result_tx, result_rx) = wit_future::new(|| Ok(()));
    let (body, trailers) = Response::consume_body(response, result_rx);
    let (response, transmitted) = Response::new(headers, Some(body), trailers);
    let _ = response.set_status_code(status);
    forward(transmitted, result_tx);
    response
}

/// Tells the producer of a body whether it went through: what the rebuilt
/// message's consumer reports is passed back to the original's.
fn forward(transmitted: FutureReader<Result<(), ErrorCode>>, result: FutureWriter<Result<(), ErrorCode>>) {
    detach(async move {
        let _ = result.write(transmitted.await).await;
    });
}

/// A response the middleware makes itself; the body is written after the
/// handler has returned it, as the host reads it.
fn respond(status: u16, headers: &[(&str, &[u8])], body: &'static [u8]) -> Response {
    let fields = Fields::new();
    for (name, value) in headers {
        let _ = fields.append(name, value);
    }
    let contents = (!body.is_empty()).then(|| {
        let (mut writer, reader) = wit_stream::new();
        detach(async move {
            writer.write_all(body.to_vec()).await;
        });
        reader
    });
    // Dropping the writer sends its default, "no trailers", once the host reads.
    let (_, trailers) = wit_future::new(|| Ok(None));
    let (response, _) = Response::new(fields, contents, trailers);
    let _ = response.set_status_code(status);
    response
}

/// Runs `future` after the handler has returned, as part of the same call:
/// the host keeps the call alive until every stream and future operation the
/// future waits on has completed, and each completion polls it again. A few
/// lines instead of wit-bindgen's `async-spawn` executor and the `futures`
/// crate it brings (docs/templates.md, "middleware-p3").
///
/// It suits futures that wait on WASI streams and futures, as these do. A
/// future that wakes itself while it is being polled (`yield_async`) would
/// stall here, since the wake finds it taken; for general background work
/// use `wit_bindgen::spawn_local` (the `async-spawn` feature) instead.
fn detach(future: impl Future<Output = ()> + 'static) {
    struct Task(Cell<Option<Pin<Box<dyn Future<Output = ()>>>>>);
    // SAFETY: a component instance is single-threaded; the waker never
    // leaves it.
    unsafe impl Send for Task {}
    unsafe impl Sync for Task {}
    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            // Taken out while it is polled: a wake from inside the poll finds
            // nothing here (see above).
            let Some(mut future) = self.0.take() else { return };
            let waker = Waker::from(self.clone());
            if future.as_mut().poll(&mut Context::from_waker(&waker)).is_pending() {
                self.0.set(Some(future));
            }
        }
    }
    Arc::new(Task(Cell::new(Some(Box::pin(future))))).wake();
}

/// `Bearer <TOKEN>`, the scheme case-insensitive, compared in constant time.
fn bearer_matches(value: &[u8]) -> bool {
    let Some((scheme, token)) = value.split_at_checked(7) else { return false };
    if !scheme.eq_ignore_ascii_case(b"bearer ") || token.len() != TOKEN.len() {
        return false;
    }
    token.iter().zip(TOKEN).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

/// A request id worth echoing: 1 to 64 visible ASCII characters.
fn valid_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
}

/// 16 hex digits from `wasi:random`.
fn fresh_id() -> Vec<u8> {
    let mut n = wasi::random::random::get_random_u64();
    let mut id = vec![0u8; 16];
    for digit in id.iter_mut().rev() {
        *digit = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
    }
    id
}

export!(Middleware);
