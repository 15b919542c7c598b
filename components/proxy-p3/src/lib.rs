//! The proxy template: a reverse proxy over `wasi:http`, one source for
//! both WASI lines (proxy on 0.2, proxy-p3 on 0.3).
//!
//! Every request is logged on stderr and forwarded to the upstream origin
//! the host configures at run time through `wasi:config`: `upstream`
//! (`http://127.0.0.1:8080`) and optionally `timeout_ms` (default 10000).
//! Hop-by-hop headers (and those `connection` names) are dropped both ways;
//! `x-forwarded-host` and `x-forwarded-proto` are added. Both bodies stream
//! through, never held. An upstream that cannot be reached or fails is
//! answered 502, one that is too slow 504, a missing configuration 500.
//!
//! The lines differ in the exchange with the upstream, `handle` (one in
//! each of the `edgekit::on_p2!` and `edgekit::on_p3!` blocks below); the
//! rest is shared. WASI 0.2 sends through `wasi:http/outgoing-handler`,
//! pipes both bodies with blocking splices, and leaves the timeout to the
//! host (`connect-timeout` and `first-byte-timeout`); its handler answers
//! through the `response-outparam` itself, as the response body streams
//! after the handler has set it. WASI 0.3 sends through
//! `wasi:http/client`, hands both bodies on as the streams they are, and
//! races the upstream's response head against
//! `monotonic-clock.wait-for`, the loser cancelled.
#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use edgekit::http::{Request, Response};
use edgekit::wasi;
use edgekit::wasi::http::types::{ErrorCode, Fields, Scheme};

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

/// The upstream's scheme and authority, and how long to wait for it in
/// milliseconds, from the host's `wasi:config`; `None` without a valid
/// `upstream`.
#[inline(always)]
fn upstream() -> Option<(Scheme, String, u64)> {
    let config = |key: &str| wasi::config::store::get(key).ok().flatten();
    let (scheme, authority) = config("upstream").as_deref().and_then(parse_origin)?;
    let timeout_ms = config("timeout_ms").and_then(|t| t.parse::<u64>().ok()).unwrap_or(10_000);
    Some((scheme, authority, timeout_ms))
}

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

/// The request's headers to send upstream: [`forwarded`], and where the
/// client sent the request (`x-forwarded-host`, `x-forwarded-proto`).
#[inline(always)]
fn upstream_headers(entries: &[(String, Vec<u8>)], authority: Option<String>, scheme: Option<Scheme>) -> Fields {
    let headers = forwarded(entries);
    if let Some(host) = authority {
        let _ = headers.append("x-forwarded-host", host.as_bytes());
    }
    let proto: &[u8] = match scheme {
        Some(Scheme::Https) => b"https",
        _ => b"http",
    };
    let _ = headers.append("x-forwarded-proto", proto);
    headers
}

/// The answers to a failure: 500 without a valid `upstream`, 504 when the
/// upstream is too slow, 502 when it fails otherwise.
const MISCONFIGURED: &str = "proxy: no valid `upstream` in the host's configuration\n";
const TOO_SLOW: &str = "proxy: the upstream did not answer in time\n";
const FAILED: &str = "proxy: the upstream could not be reached or failed\n";

/// Whether the upstream failed by taking too long (504), not otherwise (502).
fn timed_out(e: &ErrorCode) -> bool {
    matches!(e, ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout)
}

edgekit::on_p2! {
    use edgekit::p2::{finish, respond, set_response};
    use wasi::http::types::{IncomingRequest, OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam};
    use wasi::io::streams::{InputStream, OutputStream, StreamError};

    /// Takes the WASI request and `out` as they are: the response body
    /// streams after the response is set, which a handler's `Response`
    /// cannot do on 0.2.
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let request = Request::new(request);
        edgekit::info!(request.method(), " ", request.path());
        let request = request.into_wasi();
        let Some((scheme, authority, timeout_ms)) = upstream() else { return error(out, 500, MISCONFIGURED) };

        let headers = upstream_headers(&request.headers().entries(), request.authority(), request.scheme());
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
        set_response(out, reply);
        // The response body, streamed back.
        if let (Ok(body), Ok(sink)) = (response.consume(), reply_body.write()) {
            if let Ok(source) = body.stream() {
                pipe(&source, &sink);
            }
            drop(sink);
        }
        finish(reply_body);
    }

    edgekit::export_handler!(raw handle);

    fn upstream_error(out: ResponseOutparam, e: ErrorCode) {
        match timed_out(&e) {
            true => error(out, 504, TOO_SLOW),
            false => error(out, 502, FAILED),
        }
    }

    fn error(out: ResponseOutparam, status: u16, message: &'static str) {
        respond(out, Response::text(status, message));
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
}

edgekit::on_p3! {
    use core::future::{Future, poll_fn};
    use core::pin::pin;
    use core::task::Poll;
    use edgekit::p3::{pass_request_on, pass_response_on};
    use wasi::http::types;

    async fn handle(request: Request) -> types::Response {
        edgekit::info!(request.method(), " ", request.path());
        let request = request.into_wasi();
        let Some((scheme, authority, timeout_ms)) = upstream() else { return error(500, MISCONFIGURED) };

        let headers = upstream_headers(&request.get_headers().copy_all(), request.get_authority(), request.get_scheme());
        // The request body goes upstream as the stream it arrived as.
        let outgoing = pass_request_on(request, headers);
        let _ = outgoing.set_scheme(Some(&scheme));
        let _ = outgoing.set_authority(Some(&authority));

        // The race: the upstream's answer against the clock.
        let mut upstream = pin!(wasi::http::client::send(outgoing));
        let mut deadline = pin!(wasi::clocks::monotonic_clock::wait_for(timeout_ms.saturating_mul(1_000_000)));
        let answer = poll_fn(|cx| match upstream.as_mut().poll(cx) {
            Poll::Ready(answer) => Poll::Ready(Some(answer)),
            Poll::Pending => deadline.as_mut().poll(cx).map(|()| None),
        })
        .await;
        let response = match answer {
            Some(Ok(response)) => response,
            Some(Err(e)) if timed_out(&e) => return error(504, TOO_SLOW),
            Some(Err(_)) => return error(502, FAILED),
            None => return error(504, TOO_SLOW),
        };
        // The response body comes back as the stream the upstream sends.
        let headers = forwarded(&response.get_headers().copy_all());
        pass_response_on(response, headers)
    }

    edgekit::export_handler!(handle);

    fn error(status: u16, message: &'static str) -> types::Response {
        Response::text(status, message).into_wasi()
    }
}
