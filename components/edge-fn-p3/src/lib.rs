//! The edge-fn-p3 template: the smallest useful WASI 0.3 `wasi:http` handler.
//!
//! It answers every request with `200 OK`, `content-type: text/plain` and the
//! body `hello from the edge\n`, as edge-fn does on WASI 0.2. It imports only
//! `wasi:http/types`, so it runs on hosts that offer nothing but the
//! `wasi:http/service` world.
//!
//! On 0.3 a handler is an `async fn` that takes the request and returns the
//! response. The body is a `stream<u8>` the host reads only after `handle`
//! returns, and a stream write completes only when the reader takes the
//! bytes, so the body is written by a task that outlives `handle`
//! ([`detach`]).
//!
//! The crate is `no_std` (it needs nothing from std: no I/O, clocks or
//! environment) so that it can say what a panic does: trap at once. std's
//! panic handler formats the message even with `panic = "abort"`, which
//! links about 3 KB of `core::fmt` for the asserts inside wit-bindgen's
//! async runtime (docs/size.md, "WASI 0.3 and async").
#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Waker};

// A free-list allocator of about 500 bytes instead of dlmalloc (about 7 KB).
// A 0.3 host reuses an instance for many requests, so the heap outlives a
// request: the free list hands freed blocks to the next one. See
// docs/size.md, "The allocator", for the trade.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: a component instance is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// A panic traps: the host answers 500 for the requests in flight in this
/// instance and discards it.
#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// The stock build without edgekit, `cargo build --release --target
/// wasm32-wasip2`, expects libc to provide `cabi_realloc` (the function the
/// host calls to give the component memory for strings and lists), and a
/// `no_std` crate links no libc. On `wasm32-unknown-unknown`, edgekit's
/// target, wit-bindgen provides it.
#[cfg(all(target_arch = "wasm32", target_env = "p2", not(test)))]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a valid alignment, and `old` is a
    // block of `old_len` bytes this allocator handed out, when not empty.
    let new = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(old, Layout::from_size_align_unchecked(old_len, align), new_len)
        }
    };
    if new.is_null() {
        core::arch::wasm32::unreachable();
    }
    new
}

wit_bindgen::generate!({ path: "wit", world: "edge-fn-p3", generate_all });

use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Request, Response};

const BODY: &[u8] = b"hello from the edge\n";

struct EdgeFnP3;

impl Guest for EdgeFnP3 {
    async fn handle(_request: Request) -> Result<Response, ErrorCode> {
        let headers = Fields::new();
        // `append` fails only for forbidden or malformed headers, and
        // `content-type: text/plain` is neither.
        let _ = headers.append("content-type", b"text/plain");
        let (mut body, contents) = wit_stream::new();
        // No trailers: the writer, dropped unwritten, sends its default.
        let (_, trailers) = wit_future::new(|| Ok(None));
        let (response, _) = Response::new(headers, Some(contents), trailers);
        detach(async move {
            // One write: the host takes a body this small whole. If the
            // client has gone, there is nothing left to do.
            let _ = body.write(BODY.to_vec()).await;
        });
        Ok(response)
    }
}

/// Runs `future` to completion after `handle` returns, without an executor:
/// it is polled here once, then each time the host wakes it (the waker owns
/// it). Its waits count as the task's, so the host keeps the task alive
/// until it ends. wit-bindgen's `spawn_local` does the same with more
/// machinery (the `async-spawn` feature and the `futures` crate, about 3 KB more).
///
/// It suits futures that wait on WASI streams and futures, as this one does.
/// A future that wakes itself while it is being polled (`yield_async`) would
/// stall here, since the wake finds it taken; for general background work
/// use `wit_bindgen::spawn_local` (the `async-spawn` feature) instead.
fn detach<F: Future<Output = ()> + 'static>(future: F) {
    Arc::new(Detached(Cell::new(Some(Box::pin(future))))).wake();
}

struct Detached<F>(Cell<Option<Pin<Box<F>>>>);

// SAFETY: a component instance is single-threaded; `Wake` asks for these.
unsafe impl<F> Send for Detached<F> {}
unsafe impl<F> Sync for Detached<F> {}

impl<F: Future<Output = ()> + 'static> Wake for Detached<F> {
    fn wake(self: Arc<Self>) {
        if let Some(mut future) = self.0.take() {
            let waker = Waker::from(self.clone());
            if future.as_mut().poll(&mut Context::from_waker(&waker)).is_pending() {
                self.0.set(Some(future));
            }
        }
    }
}

export!(EdgeFnP3);
