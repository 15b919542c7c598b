//! The result of `handle` handed to the host by hand: its `task.return`,
//! which wit-bindgen generates only inside its own executor, and the
//! `task.cancel` that ends a cancelled call without one.
//!
//! Both follow the canonical ABI for `wasi:http@0.3.0` exactly. The
//! component tests in `host/` return responses through `return_ok`, and
//! `host/tests/p3_runtime.rs` returns an `error-code` of every payload shape
//! through `return_error` and reads each back in wasmtime.

use alloc::string::String;

use super::wasi::http::types::{ErrorCode, FieldSizePayload, Response};

/// The flat form of `result<response, error-code>`, as `task.return` takes
/// it: the result's case, the error's case, then six payload slots joined
/// over every case (the second is 64 bits wide for `option<u64>`).
#[derive(Default)]
struct Flat {
    case: i32,
    error: i32,
    slots: [i32; 5],
    wide: i64,
}

impl Flat {
    /// `option<string>` from slot `at`: present, pointer, length.
    fn string(&mut self, at: usize, value: &Option<String>) {
        if let Some(s) = value {
            self.put(at, 1);
            self.put(at + 1, s.as_ptr() as i64);
            self.put(at + 2, s.len() as i64);
        }
    }

    /// `option<T>` of one integer from slot `at`: present, value.
    fn number(&mut self, at: usize, value: Option<i64>) {
        if let Some(n) = value {
            self.put(at, 1);
            self.put(at + 1, n);
        }
    }

    /// `field-size-payload` from slot `at`.
    fn field_size(&mut self, at: usize, payload: &FieldSizePayload) {
        self.string(at, &payload.field_name);
        self.number(at + 3, payload.field_size.map(i64::from));
    }

    /// Slot 1 is the wide one; the others are 32 bits.
    fn put(&mut self, at: usize, value: i64) {
        match at {
            1 => self.wide = value,
            0 => self.slots[0] = value as i32,
            _ => self.slots[at - 1] = value as i32,
        }
    }
}

/// Held by the export's future until it returns its result: dropped
/// before that, it ends the task with `task.cancel`. The executor drops the
/// futures of a task its caller cancelled (the canonical ABI: a cancelled
/// task that has not returned must end with `task.cancel`). The one other
/// way a future is dropped unreturned, a task whose futures wait on nothing
/// it could ever get, traps here (`task.cancel` of a task not cancelled)
/// where it would trap on ending without a result.
pub(super) struct Unreturned;

impl Unreturned {
    /// The result went to the host: nothing to cancel.
    pub(super) fn returned(self) {
        core::mem::forget(self);
    }
}

impl Drop for Unreturned {
    fn drop(&mut self) {
        // SAFETY: the current task has not returned (see above).
        unsafe { abi::task_cancel() }
    }
}

/// Returns `ok(response)` to the host.
pub(super) fn return_ok(response: Response) {
    // SAFETY: `ok` is case 0 with the handle in the first slot; the host
    // takes ownership of the handle.
    unsafe { abi::task_return(0, response.take_handle() as i32, 0, 0, 0, 0, 0, 0) };
}

/// Returns `err(error)` to the host.
pub(super) fn return_error(error: ErrorCode) {
    let mut flat = Flat { case: 1, ..Flat::default() };
    flat.error = error_case(&mut flat, &error);
    let Flat { case, error: code, slots: [s0, s2, s3, s4, s5], wide } = flat;
    // SAFETY: the arguments are the flat form above; strings stay alive in
    // `error` until the call returns, and the host copies them.
    unsafe { abi::task_return(case, code, s0, wide, s2, s3, s4, s5) };
    drop(error);
}

/// Fills the payload slots for `error` and returns its case number.
fn error_case(flat: &mut Flat, error: &ErrorCode) -> i32 {
    use ErrorCode::*;
    let u32s = |n: &Option<u32>| n.map(i64::from);
    let u64s = |n: &Option<u64>| n.map(|n| n as i64);
    match error {
        DnsTimeout => 0,
        DnsError(payload) => {
            flat.string(0, &payload.rcode);
            flat.number(3, payload.info_code.map(i64::from));
            1
        }
        DestinationNotFound => 2,
        DestinationUnavailable => 3,
        DestinationIpProhibited => 4,
        DestinationIpUnroutable => 5,
        ConnectionRefused => 6,
        ConnectionTerminated => 7,
        ConnectionTimeout => 8,
        ConnectionReadTimeout => 9,
        ConnectionWriteTimeout => 10,
        ConnectionLimitReached => 11,
        TlsProtocolError => 12,
        TlsCertificateError => 13,
        TlsAlertReceived(payload) => {
            flat.number(0, payload.alert_id.map(i64::from));
            flat.string(2, &payload.alert_message);
            14
        }
        HttpRequestDenied => 15,
        HttpRequestLengthRequired => 16,
        HttpRequestBodySize(n) => {
            flat.number(0, u64s(n));
            17
        }
        HttpRequestMethodInvalid => 18,
        HttpRequestUriInvalid => 19,
        HttpRequestUriTooLong => 20,
        HttpRequestHeaderSectionSize(n) => {
            flat.number(0, u32s(n));
            21
        }
        HttpRequestHeaderSize(payload) => {
            if let Some(payload) = payload {
                flat.put(0, 1);
                flat.field_size(1, payload);
            }
            22
        }
        HttpRequestTrailerSectionSize(n) => {
            flat.number(0, u32s(n));
            23
        }
        HttpRequestTrailerSize(payload) => {
            flat.field_size(0, payload);
            24
        }
        HttpResponseIncomplete => 25,
        HttpResponseHeaderSectionSize(n) => {
            flat.number(0, u32s(n));
            26
        }
        HttpResponseHeaderSize(payload) => {
            flat.field_size(0, payload);
            27
        }
        HttpResponseBodySize(n) => {
            flat.number(0, u64s(n));
            28
        }
        HttpResponseTrailerSectionSize(n) => {
            flat.number(0, u32s(n));
            29
        }
        HttpResponseTrailerSize(payload) => {
            flat.field_size(0, payload);
            30
        }
        HttpResponseTransferCoding(s) => {
            flat.string(0, s);
            31
        }
        HttpResponseContentCoding(s) => {
            flat.string(0, s);
            32
        }
        HttpResponseTimeout => 33,
        HttpUpgradeFailed => 34,
        HttpProtocolError => 35,
        LoopDetected => 36,
        ConfigurationError => 37,
        InternalError(s) => {
            flat.string(0, s);
            38
        }
    }
}

mod abi {
    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "[export]wasi:http/handler@0.3.0")]
    unsafe extern "C" {
        /// `task.return` for `handle`: `result<response, error-code>`, flat.
        #[link_name = "[task-return]handle"]
        pub fn task_return(case: i32, error: i32, s0: i32, s1: i64, s2: i32, s3: i32, s4: i32, s5: i32);

        /// `task.cancel`: the current task, cancelled, ends without a result.
        #[link_name = "[task-cancel]"]
        pub fn task_cancel();
    }

    /// Only a component has `task.return`; a host build never calls it.
    #[cfg(not(target_arch = "wasm32"))]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn task_return(_: i32, _: i32, _: i32, _: i64, _: i32, _: i32, _: i32, _: i32) {
        unreachable!("task.return exists only in a component")
    }

    /// Only a component has `task.cancel`; a host build never calls it.
    #[cfg(not(target_arch = "wasm32"))]
    pub unsafe fn task_cancel() {
        unreachable!("task.cancel exists only in a component")
    }
}
