//! The edge-fn template: the smallest useful `wasi:http` handler.
//!
//! It answers every request with `200 OK`, `content-type: text/plain` and the
//! body `hello from the edge\n`. It imports only the `wasi:http` and `wasi:io`
//! interfaces the handler touches, so it runs on hosts that offer nothing but
//! the `wasi:http/proxy` world.

// A free-list allocator of about 1 KB instead of std's dlmalloc (about 7 KB).
// Edge hosts make a fresh instance per request, so the heap lives for one
// request; see docs/size.md, "The allocator", for the trade.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: a component instance is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

wit_bindgen::generate!({ path: "wit", world: "edge-fn", generate_all });

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::OutputStream;

const BODY: &[u8] = b"hello from the edge\n";

struct EdgeFn;

impl Guest for EdgeFn {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let headers = Fields::new();
        // `append` fails only for forbidden or malformed headers, and
        // `content-type: text/plain` is neither.
        let _ = headers.append("content-type", b"text/plain");
        let response = OutgoingResponse::new(headers);
        // Each step below fails only if the host has already given up on the
        // request; returning then drops `out`, and the host answers 500.
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(out, Ok(response));
        let Ok(stream) = body.write() else { return };
        if write_all(&stream, BODY).is_err() {
            return;
        }
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
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

export!(EdgeFn);
