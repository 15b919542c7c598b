//! The WASI 0.3 proxy template: a reverse proxy over `wasi:http@0.3.0`.
//!
//! Every request is logged on stderr and sent through `wasi:http/client` to
//! the upstream origin the host configures at run time through
//! `wasi:config`: `upstream` (`http://127.0.0.1:8080`) and optionally
//! `timeout_ms`, how long to wait for the upstream's response head (default
//! 10000). Hop-by-hop headers (and those `connection` names) are dropped
//! both ways; `x-forwarded-host` and `x-forwarded-proto` are added. Both
//! bodies are handed on as streams, never held. An upstream that cannot be
//! reached or fails is answered 502, one that is too slow 504, a missing
//! configuration 500.
//!
//! The timeout is a race: the call to the upstream and
//! `monotonic-clock.wait-for` run at once, and whichever finishes first
//! decides; the loser is cancelled.
#![no_std]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;
use edgekit::http::{Request, Response};
use edgekit::p3::wasi::http::types::{self, ErrorCode, Fields, Scheme};
use edgekit::p3::{FutureReader, FutureWriter, spawn, wasi, wit_future};

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

async fn handle(request: Request) -> types::Response {
    edgekit::info!(request.method(), " ", request.path());
    let config = |key: &str| wasi::config::store::get(key).ok().flatten();
    let Some((scheme, authority)) = config("upstream").as_deref().and_then(parse_origin) else {
        return error(500, "proxy: no valid `upstream` in the host's configuration\n");
    };
    let timeout_ms = config("timeout_ms").and_then(|t| t.parse::<u64>().ok()).unwrap_or(10_000);

    let request = request.into_wasi();
    let headers = forwarded(&request.get_headers().copy_all());
    if let Some(host) = request.get_authority() {
        let _ = headers.append("x-forwarded-host", host.as_bytes());
    }
    let proto: &[u8] = match request.get_scheme() {
        Some(Scheme::Https) => b"https",
        _ => b"http",
    };
    let _ = headers.append("x-forwarded-proto", proto);
    let method = request.get_method();
    let path = request.get_path_with_query();
    // The request body goes upstream as the stream it arrived as.
    let (result_tx, result_rx) = wit_future::new(|| Ok(()));
    let (body, trailers) = types::Request::consume_body(request, result_rx);
    let (outgoing, transmitted) = types::Request::new(headers, Some(body), trailers, None);
    let _ = outgoing.set_method(&method);
    let _ = outgoing.set_path_with_query(path.as_deref());
    let _ = outgoing.set_scheme(Some(&scheme));
    let _ = outgoing.set_authority(Some(&authority));
    forward(transmitted, result_tx);

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
        Some(Err(e)) => return upstream_error(e),
        None => return error(504, "proxy: the upstream did not answer in time\n"),
    };
    // The response body comes back as the stream the upstream sends.
    let headers = forwarded(&response.get_headers().copy_all());
    let status = response.get_status_code();
    let (result_tx, result_rx) = wit_future::new(|| Ok(()));
    let (body, trailers) = types::Response::consume_body(response, result_rx);
    let (reply, transmitted) = types::Response::new(headers, Some(body), trailers);
    let _ = reply.set_status_code(status);
    forward(transmitted, result_tx);
    reply
}

edgekit::handler!(handle);

/// `http://host:port` or `https://host` as scheme and authority.
fn parse_origin(origin: &str) -> Option<(Scheme, String)> {
    let (scheme, rest) = if let Some(rest) = origin.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        (Scheme::Https, origin.strip_prefix("https://")?)
    };
    let authority = rest.trim_end_matches('/');
    (!authority.is_empty() && !authority.contains('/')).then(|| (scheme, authority.to_string()))
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

fn upstream_error(e: ErrorCode) -> types::Response {
    match e {
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            error(504, "proxy: the upstream did not answer in time\n")
        }
        _ => error(502, "proxy: the upstream could not be reached or failed\n"),
    }
}

/// A plain-text error response.
fn error(status: u16, message: &'static str) -> types::Response {
    Response::text(status, message).into_wasi()
}

/// Tells the producer of a body whether it went through: what the new
/// message's consumer reports is passed back to the original's.
fn forward(transmitted: FutureReader<Result<(), ErrorCode>>, result: FutureWriter<Result<(), ErrorCode>>) {
    spawn(async move {
        let _ = result.write(transmitted.await).await;
    });
}
