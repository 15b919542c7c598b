//! The middleware template: cross-cutting behaviour in front of any
//! `wasi:http` handler, one source for both WASI lines (middleware on 0.2,
//! middleware-p3 on 0.3).
//!
//! It exports the line's handler interface and imports another one, the
//! next handler; `cargo xtask dist` composes the two into one component (see
//! compose.toml). For each request it logs one line on stderr and:
//!
//! - answers a CORS preflight (`OPTIONS` with `origin` and
//!   `access-control-request-method`) itself, 204 with the CORS headers;
//! - answers 401 with `www-authenticate: Bearer` unless the request carries
//!   `authorization: Bearer <TOKEN>`;
//! - otherwise passes the request to the next handler.
//!
//! Responses it makes itself carry `x-request-id`: the request's own, or a
//! fresh one from `wasi:random`.
//!
//! The lines differ in one statement, the `edgekit::on_p3!` block in
//! `handle`. In WASI 0.2 a guest cannot create a request or a
//! response-outparam: the middleware passes the request on as it came, the
//! next handler answers the client itself, and awaiting `next` does not
//! return. In 0.3 a handler takes a request and returns a response: the
//! middleware passes the request on with `x-request-id` set, and adds
//! `x-request-id` and the CORS headers to the response that comes back.
//! Bodies are handed on as the streams they are, never copied (see
//! docs/templates.md, "middleware"). The request id lives in the one call
//! it belongs to: 0.3 hosts reuse an instance for many requests, some at
//! once, so nothing here is kept in a `static`.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;

use edgekit::http::{ErrorCode, Request, Response};

/// The bearer token requests must carry. An example value: replace it (see
/// docs/templates.md, "middleware", for where a real deployment keeps its secret).
const TOKEN: &[u8] = b"edgekit-example-token";
/// The origins CORS allows.
const ALLOW_ORIGIN: &str = "*";

#[edgekit::handler(next)]
async fn handle(request: Request) -> Result<Response, ErrorCode> {
    edgekit::info!(request.method(), " ", request.path());
    let request_id = request.header("x-request-id").filter(|id| valid_id(id)).unwrap_or_else(fresh_id);
    let preflight = request.method() == "OPTIONS"
        && request.header("origin").is_some()
        && request.header("access-control-request-method").is_some();
    let response = if preflight {
        Response::new(204)
            .header("access-control-allow-origin", ALLOW_ORIGIN)
            .header("access-control-allow-methods", "GET, POST, PUT, DELETE, OPTIONS")
            .header("access-control-allow-headers", "authorization, content-type")
            .header("access-control-max-age", "600")
    } else if !request.header("authorization").is_some_and(|value| bearer_matches(&value)) {
        Response::json(401, r#"{"error":"missing or invalid bearer token"}"#)
            .header("www-authenticate", "Bearer")
            .header("access-control-allow-origin", ALLOW_ORIGIN)
    } else {
        // The request passed on carries the id, so the handler behind can
        // log it: on 0.3, where a guest can make a request.
        edgekit::on_p3! {
            let request = request.set_header("x-request-id", request_id.clone());
        }
        // On 0.2 the next handler answers the client itself, and awaiting
        // `next` does not return. On 0.3 its response comes back, and
        // leaves with the id and the CORS headers, its errors too.
        let response = edgekit::http::next(request).await?;
        return Ok(response
            .set_header("x-request-id", request_id)
            .set_header("access-control-allow-origin", ALLOW_ORIGIN)
            .set_header("access-control-expose-headers", "x-request-id"));
    };
    Ok(response.header("x-request-id", request_id))
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
    let mut n = edgekit::wasi::random::random::get_random_u64();
    let mut id = alloc::vec![0u8; 16];
    for digit in id.iter_mut().rev() {
        *digit = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
    }
    id
}
