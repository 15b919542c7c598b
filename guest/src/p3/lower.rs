//! Values handed to the host by hand, where wit-bindgen's generated code
//! would link more than a handler needs: the result of `handle` (its
//! `task.return`, which wit-bindgen generates only inside its own
//! executor) and a trailers future that only ever says "no trailers".
//!
//! Both follow the canonical ABI for `wasi:http@0.3.0` exactly; the
//! component tests in `host/` run every path through wasmtime.

use alloc::string::String;

use super::bindings::wit_future::FuturePayload;
use super::wasi::http::types::{ErrorCode, FieldSizePayload, Response, Trailers};
use wit_bindgen::rt::async_support::{FutureReader, FutureVtable, future_new};

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

/// Returns `handle`'s result to the host.
pub(super) fn task_return(result: Result<Response, ErrorCode>) {
    let mut flat = Flat::default();
    match &result {
        Ok(response) => flat.error = response.take_handle() as i32,
        Err(error) => {
            flat.case = 1;
            flat.error = error_case(&mut flat, error);
        }
    }
    let Flat { case, error, slots: [s0, s2, s3, s4, s5], wide } = flat;
    // SAFETY: the arguments are the flat form above; strings stay alive in
    // `result` until the call returns, and the host copies them.
    unsafe { abi::task_return(case, error, s0, wide, s2, s3, s4, s5) };
    drop(result);
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

/// What `Response::new` takes for the trailers.
type TrailersResult = Result<Option<Trailers>, ErrorCode>;

/// The vtable wit-bindgen generates for it, read at compile time only.
const GENERATED: &FutureVtable<TrailersResult> = <TrailersResult as FuturePayload>::VTABLE;

/// A trailers future that resolves to `ok(none)`: the generated vtable's
/// intrinsics, with a `lower` for that one value (see `super::no_trailers`).
pub(super) fn no_trailers() -> FutureReader<TrailersResult> {
    static VTABLE: FutureVtable<TrailersResult> = FutureVtable {
        lower: lower_no_trailers,
        dealloc_lists: |_| {},
        // Called only to give back a value the host did not take, which can
        // only be the `ok(none)` written.
        lift: |_| Ok(None),
        ..*GENERATED
    };
    // SAFETY: `VTABLE` is the generated one for this payload type, with
    // `lower` and `lift` exact for the one value written.
    let (_writer, reader) = unsafe { future_new(|| Ok(None), &VTABLE) };
    // The writer, dropped unwritten, sends the default, `ok(none)`.
    reader
}

/// Lowers `ok(none)`: a variant's payload sits at the variant's alignment
/// (here that of `error-code`), and both discriminants are 0.
unsafe fn lower_no_trailers(value: TrailersResult, dst: *mut u8) {
    // Only `ok(none)` is ever written (see `no_trailers`).
    if !matches!(value, Ok(None)) {
        unreachable!();
    }
    const PAYLOAD: usize = GENERATED.layout.align();
    // SAFETY: `dst` points at `layout.size()` bytes for this payload type.
    unsafe {
        *dst = 0;
        *dst.add(PAYLOAD) = 0;
    }
}

mod abi {
    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "[export]wasi:http/handler@0.3.0")]
    unsafe extern "C" {
        /// `task.return` for `handle`: `result<response, error-code>`, flat.
        #[link_name = "[task-return]handle"]
        pub fn task_return(case: i32, error: i32, s0: i32, s1: i64, s2: i32, s3: i32, s4: i32, s5: i32);
    }

    /// Only a component has `task.return`; a host build never calls it.
    #[cfg(not(target_arch = "wasm32"))]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn task_return(_: i32, _: i32, _: i32, _: i64, _: i32, _: i32, _: i32, _: i32) {
        unreachable!("task.return exists only in a component")
    }
}
