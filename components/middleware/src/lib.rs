//! The middleware template: cross-cutting behaviour in front of any
//! `wasi:http` handler.
//!
//! It exports `wasi:http/incoming-handler` and imports another one, the next
//! handler; `cargo xtask dist` composes the two into one component (see
//! compose.toml). For each request it:
//!
//! - answers a CORS preflight (`OPTIONS` with `origin` and
//!   `access-control-request-method`) itself, 204 with the CORS headers;
//! - answers 401 with `www-authenticate: Bearer` unless the request carries
//!   `authorization: Bearer <TOKEN>`;
//! - otherwise hands the request, untouched, to the next handler.
//!
//! Responses it makes itself carry `x-request-id`: the request's own, or a
//! fresh one from `wasi:random`. In WASI 0.2 a guest cannot create a request
//! or a response-outparam, so middleware cannot change what it passes on or
//! what the next handler answers; headers on passed-through responses belong
//! to the host or to WASI 0.3's `wasi:http/handler` (see docs/templates.md, "middleware").

// A free-list allocator of about 1 KB instead of std's dlmalloc (about 7 KB).
// Edge hosts make a fresh instance per request, so the heap lives for one
// request; see docs/size.md, "The allocator", for the trade.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: a component instance is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

wit_bindgen::generate!({ path: "wit", world: "middleware", generate_all });

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::OutputStream;

/// The bearer token requests must carry. An example value: replace it (see
/// docs/templates.md, "middleware", for where a real deployment keeps its secret).
const TOKEN: &[u8] = b"edgekit-example-token";
/// The origins CORS allows.
const ALLOW_ORIGIN: &[u8] = b"*";

struct Middleware;

impl Guest for Middleware {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let headers = request.headers();
        let first = |name: &str| headers.get(name).into_iter().next();
        let request_id = first("x-request-id").filter(|id| valid_id(id)).unwrap_or_else(fresh_id);
        let preflight = matches!(request.method(), Method::Options)
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
            return respond(out, 204, headers, b"");
        }
        let authorized = first("authorization").is_some_and(|value| bearer_matches(&value));
        if !authorized {
            let headers: &[(&str, &[u8])] = &[
                ("www-authenticate", b"Bearer"),
                ("content-type", b"application/json"),
                ("access-control-allow-origin", ALLOW_ORIGIN),
                ("x-request-id", &request_id),
            ];
            return respond(out, 401, headers, b"{\"error\":\"missing or invalid bearer token\"}");
        }
        // The headers are a child of the request: drop them before handing
        // the request on.
        drop(headers);
        wasi::http::incoming_handler::handle(request, out);
    }
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

/// Sends a response the middleware makes itself. Each step fails only if the
/// host has already given up on the request; returning then drops `out`.
fn respond(out: ResponseOutparam, status: u16, headers: &[(&str, &[u8])], body: &[u8]) {
    let fields = Fields::new();
    for (name, value) in headers {
        let _ = fields.append(name, value);
    }
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else { return };
    ResponseOutparam::set(out, Ok(response));
    let Ok(stream) = outgoing.write() else { return };
    if write_all(&stream, body).is_err() {
        return;
    }
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}

/// Writes all of `bytes`: `blocking-write-and-flush` takes at most 4,096
/// bytes a call, so a longer body goes in chunks. Fails if the host has
/// given up on the stream.
fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), ()> {
    for chunk in bytes.chunks(4096) {
        stream.blocking_write_and_flush(chunk).map_err(|_| ())?;
    }
    Ok(())
}

export!(Middleware);
