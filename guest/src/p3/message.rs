//! Messages passed on without being read (a middleware's request and the
//! response that comes back, a proxy's): the body taken out of a request or
//! response as bare handles (its stream, its trailers' future, and the
//! writer of the future that tells its producer how the body went), and a
//! new message made around them whose consumer's report is passed back.
//!
//! All of it on the imports and canonical built-ins themselves, with
//! handles, as `body.rs` writes bodies: through wit-bindgen's generated
//! calls, the futures' readers and writers would link the lifting and
//! lowering of `result<option<trailers>, error-code>` and of
//! `result<_, error-code>` (about 2.8 KB each) and wit-bindgen's generic
//! future read and write, though a message passed on never looks inside
//! either: the report is copied as the bytes it was read as. A request's
//! method is read the same way ([`method`]): named for the handler, or set
//! on the request passed on as it was read, so neither the lifting nor the
//! lowering of the `method` variant is linked (about 250 to 300 bytes of
//! every 0.3 template).

use alloc::borrow::Cow;
use alloc::string::String;

use super::bindings::wit_future::FuturePayload;
use super::bindings::wit_stream::StreamPayload;
use super::body::{BLOCKED, COMPLETED, GENERATED, Lowered, ZEROS};
use super::rt::{spawn, wait};
use super::wasi::http::types::{self, ErrorCode, Fields, RequestOptions};

/// A body's report to its producer: it went through, or why not.
type Report = Result<(), ErrorCode>;

/// The built-ins of `future<result<_, error-code>>`, read at compile time
/// (its `lower` and `lift` are never linked; `dealloc_lists` is).
const REPORT: &wit_bindgen::rt::async_support::FutureVtable<Report> = <Report as FuturePayload>::VTABLE;
/// The built-ins of `stream<u8>`, only to close one.
const CONTENTS: &wit_bindgen::rt::async_support::StreamVtable<u8> = <u8 as StreamPayload>::VTABLE;

/// The low bits of a cancelled operation's code.
const CANCELLED: u32 = 2;

/// The body of a message taken out of it, as handles this crate owns.
/// Dropped unused, it closes them all, and reports "ok" to the body's
/// producer (a future's writer may not go unwritten).
pub(crate) struct Body {
    contents: u32,
    trailers: u32,
    /// The writer of the report the original message's producer reads.
    report: u32,
}

impl Drop for Body {
    fn drop(&mut self) {
        // SAFETY: the handles are ours; closing an end is always allowed.
        unsafe {
            (CONTENTS.drop_readable)(self.contents);
            // The trailers' built-ins, only to close the future.
            (GENERATED.drop_readable)(self.trailers);
        }
        report_ok(self.report);
    }
}

impl Body {
    /// The handles, given up.
    fn into_handles(self) -> (u32, u32, u32) {
        let handles = (self.contents, self.trailers, self.report);
        core::mem::forget(self);
        handles
    }
}

/// The body of `response`, which it consumes.
pub(crate) fn response_body(response: types::Response) -> Body {
    // SAFETY: the response's handle, owned (the host takes it); a new
    // report future whose reader goes to the host; room for two handles.
    unsafe {
        let (report, res) = new_report();
        let mut ret = [0u32; 2];
        abi::response_consume_body(response.take_handle() as i32, res as i32, ret.as_mut_ptr());
        Body { contents: ret[0], trailers: ret[1], report }
    }
}

/// The body of `request`, which it consumes.
pub(crate) fn request_body(request: types::Request) -> Body {
    // SAFETY: as in `response_body`.
    unsafe {
        let (report, res) = new_report();
        let mut ret = [0u32; 2];
        abi::request_consume_body(request.take_handle() as i32, res as i32, ret.as_mut_ptr());
        Body { contents: ret[0], trailers: ret[1], report }
    }
}

/// A new response with `headers` around `body`; what its consumer reports
/// goes back to the body's producer.
pub(crate) fn response_around(headers: Fields, body: Body) -> types::Response {
    let (contents, trailers, report) = body.into_handles();
    let mut ret = [0u32; 2];
    // SAFETY: owned handles, given to the host; room for two handles back.
    let response = unsafe {
        abi::response_new(headers.take_handle() as i32, 1, contents as i32, trailers as i32, ret.as_mut_ptr());
        types::Response::from_handle(ret[0])
    };
    forward(ret[1], report);
    response
}

/// A new request with `headers` and `options` around `body`; what its
/// consumer reports goes back to the body's producer.
pub(crate) fn request_around(headers: Fields, body: Body, options: Option<RequestOptions>) -> types::Request {
    let (contents, trailers, report) = body.into_handles();
    let (has_options, options) = match options {
        Some(options) => (1, options.take_handle() as i32),
        None => (0, 0),
    };
    let mut ret = [0u32; 2];
    // SAFETY: as in `response_around`.
    let request = unsafe {
        abi::request_new(
            headers.take_handle() as i32,
            1,
            contents as i32,
            trailers as i32,
            has_options,
            options,
            ret.as_mut_ptr(),
        );
        types::Request::from_handle(ret[0])
    };
    forward(ret[1], report);
    request
}

/// A new report future: (its writer, its reader).
unsafe fn new_report() -> (u32, u32) {
    // SAFETY: a plain canonical built-in; both handles are the caller's.
    let handles = unsafe { (REPORT.new)() };
    ((handles >> 32) as u32, handles as u32)
}

/// Reads what `reported` says and writes it to `report`, as the bytes it
/// was read as, in a task of its own.
fn forward(reported: u32, report: u32) {
    spawn(async move {
        let mut ends = Ends { reported, report: Some(report), reading: false, writing: false, value: Lowered([0; 64]) };
        let at = ends.value.0.as_mut_ptr();
        // SAFETY: `value` stays where it is in `ends` (the future is
        // pinned) until the operations on it complete or `Ends` cancels them.
        let mut code = unsafe { (REPORT.start_read)(reported, at) };
        if code == BLOCKED {
            ends.reading = true;
            code = wait(reported).await;
            ends.reading = false;
        }
        if code & 0xf != COMPLETED {
            // The new message went without a report: `Ends` passes on the
            // default as it closes.
            return;
        }
        // SAFETY: as above; the value read is a valid lowered report.
        code = unsafe { (REPORT.start_write)(report, at) };
        if code == BLOCKED {
            ends.writing = true;
            wait(report).await;
            ends.writing = false;
        }
        // Written (or its reader gone): the writer may close.
        if let Some(report) = ends.report.take() {
            // SAFETY: the handle is ours, its write over.
            unsafe { (REPORT.drop_writable)(report) };
        }
        // The lists in the value (an error's strings) were allocated here by
        // the read, and copied by the write's reader, if any: ours to free.
        // SAFETY: the value is a lowered report no one else reads now.
        unsafe { (REPORT.dealloc_lists)(at) };
    });
}

/// Writes "ok" to the report future `report` and closes it: what a body's
/// producer learns when nothing else is to be said (a future's writer may
/// not be dropped unwritten). If the reader is not reading yet, a task of
/// its own waits for it; where no task can run any more (the call torn
/// down), the write stays pending until the instance ends, from a static
/// buffer, and the handle with it.
fn report_ok(report: u32) {
    // SAFETY: the handle is ours; the buffer is static, so a write the
    // host completes later reads valid memory.
    unsafe {
        if (REPORT.start_write)(report, ZEROS.0.as_ptr()) == BLOCKED {
            spawn(async move {
                wait(report).await;
                (REPORT.drop_writable)(report);
            });
        } else {
            (REPORT.drop_writable)(report);
        }
    }
}

const _: () = assert!(REPORT.layout.size() <= 64 && REPORT.layout.align() <= 8);

/// The two report futures being forwarded, and the value between them:
/// dropped before the end, they cancel an operation in progress (so the
/// host never writes to or reads from freed memory), report "ok" if
/// nothing was reported yet, and close.
struct Ends {
    reported: u32,
    /// The writer, until it is written and closed.
    report: Option<u32>,
    reading: bool,
    writing: bool,
    value: Lowered,
}

impl Drop for Ends {
    fn drop(&mut self) {
        // SAFETY: the handles are ours; cancelling is allowed only while an
        // operation is in progress, which the flags say.
        unsafe {
            if self.reading {
                (REPORT.cancel_read)(self.reported);
            }
            (REPORT.drop_readable)(self.reported);
            if let Some(report) = self.report.take() {
                // A write in progress, cancelled, may have gone through
                // first (or found its reader gone): then the writer only
                // closes.
                if self.writing && (REPORT.cancel_write)(report) & 0xf != CANCELLED {
                    (REPORT.drop_writable)(report);
                } else {
                    report_ok(report);
                }
            }
        }
    }
}

pub(crate) use abi::fields_get;

/// A request's method as it was lowered ([`method`]): passed on to a new
/// request as it was read ([`set_method`]), or named ([`Method::name`]).
pub(crate) use abi::Method;

impl Method {
    /// The method by its name, as the request line spells it (`GET`).
    pub(crate) fn name(self) -> Cow<'static, str> {
        match standard(self.case) {
            Some(name) => Cow::Borrowed(name),
            // SAFETY: case 9, `other(string)`: `len` bytes of UTF-8 at
            // `ptr`, which the host allocated through `cabi_realloc` for us
            // to own.
            None => Cow::Owned(unsafe { String::from_raw_parts(self.ptr, self.len, self.len) }),
        }
    }
}

/// The name of case `case` of `method`, if it has no payload: the lookup
/// the 0.2 line's `abi::standard` makes, in the one table of names. Each
/// line keeps its own three lines of it: one shared function moved some of
/// the 0.2 templates' bytes (by one to six, measured), as code moved between
/// modules can.
fn standard(case: u8) -> Option<&'static str> {
    use crate::request::{METHOD_NAMES as NAMES, METHOD_STARTS as STARTS};
    let case = usize::from(case);
    let (start, end) = (*STARTS.get(case)?, *STARTS.get(case + 1)?);
    NAMES.get(usize::from(start)..usize::from(end))
}

/// The method of `request`, read straight from the import: the generated
/// `get_method` lifts it into the `Method` enum, which the library would
/// then match back into names, or lower again to pass it on.
pub(crate) fn method(request: &types::Request) -> Method {
    let mut method = Method { case: 0, ptr: core::ptr::null_mut(), len: 0 };
    // SAFETY: the request's handle, borrowed, and room for a `method`.
    unsafe { abi::get_method(request.handle() as i32, &mut method) };
    method
}

/// Sets `method`, as [`method`] read it, on `request`, lowered as it was
/// read; `other`'s string is freed once the host has copied it.
pub(crate) fn set_method(request: &types::Request, method: Method) {
    // SAFETY: the request's handle, borrowed; the case and the string of
    // `other` (a null pointer and 0 for the others), flat.
    unsafe { abi::set_method(request.handle() as i32, i32::from(method.case), method.ptr as i32, method.len as i32) };
    drop(method.name());
}

/// The imports this module calls without wit-bindgen's lifting.
mod abi {
    use crate::request::List;

    /// `method`: its case, then the string of `other` (case 9).
    #[repr(C)]
    pub(crate) struct Method {
        pub(super) case: u8,
        pub(super) ptr: *mut u8,
        pub(super) len: usize,
    }

    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "wasi:http/types@0.3.0")]
    unsafe extern "C" {
        /// `[static]response.consume-body`: the response, the report's
        /// reader; the stream and the trailers' future written back.
        #[link_name = "[static]response.consume-body"]
        pub(super) fn response_consume_body(response: i32, res: i32, ret: *mut u32);
        /// `[static]request.consume-body`, the same for a request.
        #[link_name = "[static]request.consume-body"]
        pub(super) fn request_consume_body(request: i32, res: i32, ret: *mut u32);
        /// `[static]response.new`: headers, `option<stream<u8>>` (case,
        /// handle), the trailers' future; the response and its report's
        /// future written back.
        #[link_name = "[static]response.new"]
        pub(super) fn response_new(headers: i32, has_contents: i32, contents: i32, trailers: i32, ret: *mut u32);
        /// `[static]request.new`: as `response.new`, then
        /// `option<request-options>` (case, handle).
        /// `[method]fields.get`: fields, name, where to write the list of
        /// values.
        #[link_name = "[method]fields.get"]
        pub(crate) fn fields_get(fields: u32, name: *const u8, name_len: usize, values: *mut List);
        /// `[method]request.get-method`: request, where to write it.
        #[link_name = "[method]request.get-method"]
        pub(super) fn get_method(request: i32, method: *mut Method);
        /// `[method]request.set-method`: request, the method flat.
        #[link_name = "[method]request.set-method"]
        pub(super) fn set_method(request: i32, case: i32, ptr: i32, len: i32) -> i32;
        #[link_name = "[static]request.new"]
        pub(super) fn request_new(
            headers: i32,
            has_contents: i32,
            contents: i32,
            trailers: i32,
            has_options: i32,
            options: i32,
            ret: *mut u32,
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) use host::*;

    /// Only a component has the imports; a host build never calls them.
    #[cfg(not(target_arch = "wasm32"))]
    mod host {
        pub(in super::super) unsafe fn response_consume_body(_: i32, _: i32, _: *mut u32) {
            unreachable!("wasi:http exists only in a component")
        }
        pub(in super::super) unsafe fn request_consume_body(_: i32, _: i32, _: *mut u32) {
            unreachable!("wasi:http exists only in a component")
        }
        pub(in super::super) unsafe fn response_new(_: i32, _: i32, _: i32, _: i32, _: *mut u32) {
            unreachable!("wasi:http exists only in a component")
        }
        pub(in super::super) unsafe fn get_method(_: i32, _: *mut super::Method) {
            unreachable!("wasi:http exists only in a component")
        }
        pub(in super::super) unsafe fn set_method(_: i32, _: i32, _: i32, _: i32) -> i32 {
            unreachable!("wasi:http exists only in a component")
        }
        pub(crate) unsafe extern "C" fn fields_get(_: u32, _: *const u8, _: usize, _: *mut super::List) {
            unreachable!("wasi:http exists only in a component")
        }
        #[allow(clippy::too_many_arguments)]
        pub(in super::super) unsafe fn request_new(_: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: *mut u32) {
            unreachable!("wasi:http exists only in a component")
        }
    }
}
