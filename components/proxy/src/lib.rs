//! The proxy template: a reverse proxy over `wasi:http`.
//!
//! Every request is forwarded through `wasi:http/outgoing-handler` to the
//! upstream origin the host configures at run time through `wasi:config`:
//! `upstream` (`http://127.0.0.1:8080`) and optionally `timeout_ms`, the time
//! to wait for the upstream's first byte (default 10000). Hop-by-hop headers
//! (and those `connection` names) are dropped both ways; `x-forwarded-host`
//! and `x-forwarded-proto` are added. Bodies stream both ways without being
//! held in memory. An upstream that cannot be reached or fails is answered
//! 502, one that is too slow 504, a missing configuration 500. Each request
//! logs one line on stderr.
#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use edgekit::http::{Request, Response};
use edgekit::p2::{finish, respond, wasi};
use wasi::http::types::{
    ErrorCode, Fields, IncomingRequest, OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam, Scheme,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

/// Headers that describe one connection, not the message: never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Takes the WASI request and `out` as they are: both bodies stream.
fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let request = Request::new(request);
    edgekit::info!(request.method(), " ", request.path());
    let request = request.into_wasi();

    let config = |key: &str| wasi::config::store::get(key).ok().flatten();
    let Some((scheme, authority)) = config("upstream").as_deref().and_then(parse_origin) else {
        return error(out, 500, "proxy: no valid `upstream` in the host's configuration\n");
    };
    let timeout_ms = config("timeout_ms").and_then(|t| t.parse::<u64>().ok()).unwrap_or(10_000);

    let headers = forwarded(&request.headers().entries());
    if let Some(host) = request.authority() {
        let _ = headers.append("x-forwarded-host", host.as_bytes());
    }
    let proto: &[u8] = match request.scheme() {
        Some(Scheme::Https) => b"https",
        _ => b"http",
    };
    let _ = headers.append("x-forwarded-proto", proto);
    let outgoing = OutgoingRequest::new(headers);
    let _ = outgoing.set_method(&request.method());
    let _ = outgoing.set_path_with_query(request.path_with_query().as_deref());
    let _ = outgoing.set_scheme(Some(&scheme));
    let _ = outgoing.set_authority(Some(&authority));
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(timeout_ms * 1_000_000));
    let _ = options.set_first_byte_timeout(Some(timeout_ms * 1_000_000));

    let Ok(upstream_body) = outgoing.body() else { return error(out, 502, "proxy: bad request\n") };
    let future = match wasi::http::outgoing_handler::handle(outgoing, Some(options)) {
        Ok(future) => future,
        Err(e) => return upstream_error(out, e),
    };
    // The request body, streamed to the upstream.
    if let (Ok(body), Ok(sink)) = (request.consume(), upstream_body.write()) {
        if let Ok(source) = body.stream() {
            pipe(&source, &sink);
        }
        drop(sink);
    }
    finish(upstream_body);

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return upstream_error(out, e),
        _ => return error(out, 502, "proxy: the upstream failed\n"),
    };
    let reply = OutgoingResponse::new(forwarded(&response.headers().entries()));
    let _ = reply.set_status_code(response.status());
    let Ok(reply_body) = reply.body() else { return };
    ResponseOutparam::set(out, Ok(reply));
    // The response body, streamed back.
    if let (Ok(body), Ok(sink)) = (response.consume(), reply_body.write()) {
        if let Ok(source) = body.stream() {
            pipe(&source, &sink);
        }
        drop(sink);
    }
    finish(reply_body);
}

edgekit::handler!(raw handle);

/// `http://host:port` or `https://host` as scheme and authority.
fn parse_origin(origin: &str) -> Option<(Scheme, String)> {
    let (scheme, rest) = if let Some(rest) = origin.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        (Scheme::Https, origin.strip_prefix("https://")?)
    };
    let authority = rest.trim_end_matches('/');
    (!authority.is_empty() && !authority.contains('/')).then(|| (scheme, String::from(authority)))
}

/// The headers to pass on: all but hop-by-hop ones and those `connection`
/// lists.
fn forwarded(entries: &[(String, Vec<u8>)]) -> Fields {
    let mut listed: Vec<String> = Vec::new();
    for (name, value) in entries {
        if name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(value);
            listed.extend(value.split(',').map(|n| n.trim().to_ascii_lowercase()));
        }
    }
    let fields = Fields::new();
    for (name, value) in entries {
        let lower = name.to_ascii_lowercase();
        if !HOP_BY_HOP.contains(&lower.as_str()) && !listed.contains(&lower) {
            let _ = fields.append(name, value);
        }
    }
    fields
}

/// Copies `source` to `sink` until the source ends or either side fails.
fn pipe(source: &InputStream, sink: &OutputStream) {
    loop {
        match sink.blocking_splice(source, 64 * 1024) {
            Ok(_) => {}
            Err(StreamError::Closed) => {
                let _ = sink.blocking_flush();
                return;
            }
            Err(StreamError::LastOperationFailed(_)) => return,
        }
    }
}

fn upstream_error(out: ResponseOutparam, e: ErrorCode) {
    match e {
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            error(out, 504, "proxy: the upstream did not answer in time\n")
        }
        _ => error(out, 502, "proxy: the upstream could not be reached or failed\n"),
    }
}

fn error(out: ResponseOutparam, status: u16, message: &'static str) {
    respond(out, Response::text(status, message));
}
