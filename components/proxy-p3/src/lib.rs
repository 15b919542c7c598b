//! The WASI 0.3 proxy template: a reverse proxy over `wasi:http@0.3.0`.
//!
//! Every request is sent through `wasi:http/client` to the upstream origin
//! the host configures at run time through `wasi:config`: `upstream`
//! (`http://127.0.0.1:8080`) and optionally `timeout_ms`, how long to wait
//! for the upstream's response head (default 10000). Hop-by-hop headers (and
//! those `connection` names) are dropped both ways; `x-forwarded-host` and
//! `x-forwarded-proto` are added. Both bodies are handed on as streams, never
//! held. An upstream that cannot be reached or fails is answered 502, one
//! that is too slow 504, a missing configuration 500.
//!
//! The timeout is a race: the call to the upstream and
//! `monotonic-clock.wait-for` run at once, and whichever finishes first
//! decides; the loser is cancelled. In WASI 0.2 that took a pollable per
//! side and a blocking `poll` loop; here it is one `poll_fn`.

// `no_std` where `dist` builds it (wasm32-unknown-unknown): a panic (none is
// expected) traps without formatting a message, which leaves `core::fmt` out
// of the artifact (docs/templates.md, "middleware-p3"). Elsewhere std, whose
// libc the stock `cargo build --release --target wasm32-wasip2` relies on.
#![cfg_attr(all(target_arch = "wasm32", target_os = "unknown"), no_std)]
extern crate alloc;

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::cell::Cell;
use core::future::{Future, poll_fn};
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};

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

wit_bindgen::generate!({ path: "wit", world: "proxy-p3", generate_all });

use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Request, Response, Scheme};
use wit_bindgen::{FutureReader, FutureWriter};

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

struct Proxy;

impl Guest for Proxy {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let config = |key: &str| wasi::config::store::get(key).ok().flatten();
        let Some((scheme, authority)) = config("upstream").as_deref().and_then(parse_origin) else {
            return Ok(error(500, b"proxy: no valid `upstream` in the host's configuration\n"));
        };
        let timeout_ms = config("timeout_ms").and_then(|t| t.parse::<u64>().ok()).unwrap_or(10_000);

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
        let (body, trailers) = Request::consume_body(request, result_rx);
        let (outgoing, transmitted) = Request::new(headers, Some(body), trailers, None);
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
            Some(Err(e)) => return Ok(upstream_error(e)),
            None => return Ok(error(504, b"proxy: the upstream did not answer in time\n")),
        };
        // The response body comes back as the stream the upstream sends.
        let headers = forwarded(&response.get_headers().copy_all());
        let status = response.get_status_code();
        let (result_tx, result_rx) = wit_future::new(|| Ok(()));
        let (body, trailers) = Response::consume_body(response, result_rx);
        let (reply, transmitted) = Response::new(headers, Some(body), trailers);
        let _ = reply.set_status_code(status);
        forward(transmitted, result_tx);
        Ok(reply)
    }
}

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

fn upstream_error(e: ErrorCode) -> Response {
    match e {
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            error(504, b"proxy: the upstream did not answer in time\n")
        }
        _ => error(502, b"proxy: the upstream could not be reached or failed\n"),
    }
}

/// A plain-text error response; the body is written as the host reads it.
fn error(status: u16, message: &'static [u8]) -> Response {
    let headers = Fields::new();
    let _ = headers.append("content-type", b"text/plain");
    let (mut writer, contents) = wit_stream::new();
    detach(async move {
        writer.write_all(message.to_vec()).await;
    });
    // Dropping the writer sends its default, "no trailers", once the host reads.
    let (_, trailers) = wit_future::new(|| Ok(None));
    let (response, _) = Response::new(headers, Some(contents), trailers);
    let _ = response.set_status_code(status);
    response
}

/// Tells the producer of a body whether it went through: what the new
/// message's consumer reports is passed back to the original's.
fn forward(transmitted: FutureReader<Result<(), ErrorCode>>, result: FutureWriter<Result<(), ErrorCode>>) {
    detach(async move {
        let _ = result.write(transmitted.await).await;
    });
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

export!(Proxy);
