//! The two things every 0.3 response sends, written with the canonical
//! built-ins wit-bindgen generates (its vtables' intrinsics) and this
//! crate's executor, instead of wit-bindgen's generic stream and future
//! writers: a body of bytes in memory, and trailers that say "none".
//!
//! wit-bindgen's writers work for any payload and any use; for these two
//! they link about 4.5 KB (a `write_all` state machine, two
//! `poll_complete` instances, the deferred write a dropped future writer
//! starts, and their destructors). Here a write is a loop over
//! `stream.write` that waits on the task's waitable set when the host has
//! not read yet (docs/size.md, "WASI 0.3 and async").

use wit_bindgen::rt::async_support::{FutureReader, FutureVtable, StreamReader, StreamVtable};

use super::bindings::wit_future::FuturePayload;
use super::bindings::wit_stream::StreamPayload;
use super::rt::{spawn, wait};
use super::wasi::http::types::{ErrorCode, Trailers};
use crate::Bytes;

/// What a stream or future operation returns when it has to wait.
pub(super) const BLOCKED: u32 = u32::MAX;
/// The low bits of a finished operation's code: it went through (the rest
/// of the code is how many items it moved).
pub(super) const COMPLETED: u32 = 0;

/// A stream whose reader gets `bytes`, written by a task of its own.
pub(crate) fn stream_of(bytes: Bytes) -> StreamReader<u8> {
    let vtable: &'static StreamVtable<u8> = <u8 as StreamPayload>::VTABLE;
    // SAFETY: a plain canonical built-in; it returns two handles we own.
    let handles = unsafe { (vtable.new)() };
    spawn(write(Writable { handle: (handles >> 32) as u32, pending: false, vtable, bytes }));
    StreamReader::new(handles as u32, vtable)
}

/// Writes `bytes` to `writer` to the end, or until the reader goes away.
async fn write(mut writer: Writable) {
    let mut at = 0;
    while at < writer.bytes.len() {
        let rest = &writer.bytes[at..];
        // SAFETY: the bytes stay alive, where they are, in `writer` until
        // the write completes or `Writable`'s drop cancels it.
        let mut code = unsafe { (writer.vtable.start_write)(writer.handle, rest.as_ptr(), rest.len()) };
        if code == BLOCKED {
            writer.pending = true;
            code = wait(writer.handle).await;
            writer.pending = false;
        }
        at += (code >> 4) as usize;
        if code & 0xf != COMPLETED {
            // The reader has gone (or the write was cancelled): stop.
            break;
        }
    }
}

/// The writable end of a `stream<u8>` and the bytes for it: dropped, it
/// cancels a write in progress before the bytes are freed (so the host never
/// copies from freed memory), then closes.
struct Writable {
    handle: u32,
    pending: bool,
    vtable: &'static StreamVtable<u8>,
    bytes: Bytes,
}

impl Drop for Writable {
    fn drop(&mut self) {
        // SAFETY: the handle is ours; cancelling is allowed only while a
        // write is in progress, which `pending` says.
        unsafe {
            if self.pending {
                (self.vtable.cancel_write)(self.handle);
            }
            (self.vtable.drop_writable)(self.handle);
        }
    }
}

/// What `Response::new` takes for the trailers.
type TrailersResult = Result<Option<Trailers>, ErrorCode>;

/// The vtable wit-bindgen generates for it, read at compile time only: its
/// intrinsics are copied into `VTABLE` below, and its `lower` and `lift` for
/// any `result<option<trailers>, error-code>` (2.9 KB, `error-code` being
/// a 40-case variant) are never linked.
pub(super) const GENERATED: &FutureVtable<TrailersResult> = <TrailersResult as FuturePayload>::VTABLE;

/// A lowered future payload: room for any of this crate's, aligned as any is.
#[repr(align(8))]
pub(super) struct Lowered(pub(super) [u8; 64]);
/// Zeros, which lowered are both `ok(none)` of the trailers (two
/// discriminants 0) and `ok` of a body's report (the case 0, no payload):
/// the value of a future written from here and never read back.
pub(super) static ZEROS: Lowered = Lowered([0; 64]);
const _: () = assert!(GENERATED.layout.size() <= 64 && GENERATED.layout.align() <= 8);

/// A trailers future that resolves to "no trailers", `ok(none)`, the value
/// every response without trailers sends.
pub(crate) fn no_trailers() -> FutureReader<TrailersResult> {
    static VTABLE: FutureVtable<TrailersResult> = FutureVtable {
        // Never called: this future is only ever written here, raw, and
        // read by the host.
        lower: |_, _| {},
        dealloc_lists: |_| {},
        lift: |_| Ok(None),
        ..*GENERATED
    };
    // SAFETY: plain canonical built-ins on handles this function owns; the
    // buffer is static, so a write the host completes later reads valid memory.
    unsafe {
        let handles = (VTABLE.new)();
        let writer = (handles >> 32) as u32;
        if (VTABLE.start_write)(writer, ZEROS.0.as_ptr()) == BLOCKED {
            // The host reads the trailers after the body: wait for it in a
            // task of its own, then close.
            spawn(async move {
                wait(writer).await;
                (VTABLE.drop_writable)(writer);
            });
        } else {
            (VTABLE.drop_writable)(writer);
        }
        FutureReader::new(handles as u32, &VTABLE)
    }
}
