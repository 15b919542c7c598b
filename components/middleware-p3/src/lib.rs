//! The WASI 0.3 middleware template: cross-cutting behaviour in front of any
//! `wasi:http@0.3.0` handler, on both the request and the response.
//!
//! It exports `wasi:http/handler` and imports another one, the next handler;
//! `cargo xtask dist` composes the two into one component (see compose.toml).
//! For each request it logs one line on stderr, then:
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
#![no_std]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use edgekit::http::{Request, Response};
use edgekit::p3::wasi::http::types::{self, ErrorCode, Fields};
use edgekit::p3::{FutureReader, FutureWriter, spawn, wasi, wit_future};

/// The bearer token requests must carry. An example value: replace it (see
/// docs/templates.md, "middleware-p3", for where a real deployment keeps its secret).
const TOKEN: &[u8] = b"edgekit-example-token";
/// The origins CORS allows.
const ALLOW_ORIGIN: &[u8] = b"*";

async fn handle(request: Request) -> Result<types::Response, ErrorCode> {
    edgekit::info!(request.method(), " ", request.path());
    let request_id = request.header("x-request-id").filter(|id| valid_id(id)).unwrap_or_else(fresh_id);
    let preflight = request.method() == "OPTIONS"
        && request.header("origin").is_some()
        && request.header("access-control-request-method").is_some();
    if preflight {
        let response = Response::new(204)
            .header("access-control-allow-origin", ALLOW_ORIGIN)
            .header("access-control-allow-methods", "GET, POST, PUT, DELETE, OPTIONS")
            .header("access-control-allow-headers", "authorization, content-type")
            .header("access-control-max-age", "600")
            .header("x-request-id", request_id);
        return Ok(response.into_wasi());
    }
    if !request.header("authorization").is_some_and(|value| bearer_matches(&value)) {
        let response = Response::new(401)
            .header("www-authenticate", "Bearer")
            .header("content-type", "application/json")
            .header("access-control-allow-origin", ALLOW_ORIGIN)
            .header("x-request-id", request_id)
            .body("{\"error\":\"missing or invalid bearer token\"}");
        return Ok(response.into_wasi());
    }

    // The request passed on carries the id, so the handler can log it.
    // `headers` is an immutable view: copy it, change the copy.
    let passed_on = request.headers().clone();
    let _ = passed_on.set("x-request-id", core::slice::from_ref(&request_id));
    let response = wasi::http::handler::handle(with_headers(request.into_wasi(), passed_on)).await?;

    let headers = response.get_headers().clone();
    let _ = headers.set("x-request-id", &[request_id]);
    let _ = headers.set("access-control-allow-origin", &[ALLOW_ORIGIN.to_vec()]);
    let _ = headers.set("access-control-expose-headers", &[b"x-request-id".to_vec()]);
    Ok(response_with_headers(response, headers))
}

edgekit::handler!(handle);

/// `request` with `headers` instead of its own: the same method, target,
/// options and body stream.
fn with_headers(request: types::Request, headers: Fields) -> types::Request {
    let method = request.get_method();
    let path = request.get_path_with_query();
    let scheme = request.get_scheme();
    let authority = request.get_authority();
    // A mutable copy; the view `get-options` returns must go before its request.
    let options = request.get_options().map(|options| options.clone());
    let (result_tx, result_rx) = wit_future::new(|| Ok(()));
    let (body, trailers) = types::Request::consume_body(request, result_rx);
    let (request, transmitted) = types::Request::new(headers, Some(body), trailers, options);
    let _ = request.set_method(&method);
    let _ = request.set_path_with_query(path.as_deref());
    let _ = request.set_scheme(scheme.as_ref());
    let _ = request.set_authority(authority.as_deref());
    forward(transmitted, result_tx);
    request
}

/// `response` with `headers` instead of its own: the same status and body stream.
fn response_with_headers(response: types::Response, headers: Fields) -> types::Response {
    let status = response.get_status_code();
    let (result_tx, result_rx) = wit_future::new(|| Ok(()));
    let (body, trailers) = types::Response::consume_body(response, result_rx);
    let (response, transmitted) = types::Response::new(headers, Some(body), trailers);
    let _ = response.set_status_code(status);
    forward(transmitted, result_tx);
    response
}

/// Tells the producer of a body whether it went through: what the rebuilt
/// message's consumer reports is passed back to the original's.
fn forward(transmitted: FutureReader<Result<(), ErrorCode>>, result: FutureWriter<Result<(), ErrorCode>>) {
    spawn(async move {
        let _ = result.write(transmitted.await).await;
    });
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
