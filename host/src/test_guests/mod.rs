//! Misbehaving wasi:http guests for the limit tests: they loop forever, trap,
//! or grow memory without end, either before setting a response (the status
//! says why) or after setting it and writing part of the body (the status
//! went out already, so the response must be cut off instead); and one that
//! writes to stderr, for the guest log tests ([`logs`]).
//!
//! They are not templates, so they do not live under `components/` (which
//! `dist` ships). Each is WAT assembled in process by the `wat` crate: a
//! component that imports what `handle` needs (the two resource types it
//! takes, or the few `wasi:http/types` and `wasi:io/streams` functions that
//! set a response and write to its body) and lifts one core function as
//! `wasi:http/incoming-handler@0.2.12#handle`. No cargo build, no toolchain,
//! nothing to keep in sync.
//!
//! The WASI 0.3 ones ([`p3`]) are a core module in WAT that lifts `handle`
//! asynchronously, turned into a component by wit-component against the
//! vendored 0.3 WIT (`wit/p3/deps/`), as `dist` componentizes a guest.

use anyhow::{Context, Result};

/// A wasi:http component whose `handle` runs the core wasm `body` (the
/// instructions of a `(func (param i32 i32))` with a 1-page memory).
pub fn handler(body: &str) -> Result<Vec<u8>> {
    let text = format!(
        r#"(component
  (import "wasi:http/types@0.2.12" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))))
  (alias export $types "incoming-request" (type $request))
  (alias export $types "response-outparam" (type $outparam))
  (core module $m
    (memory 1)
    (func (export "handle") (param i32 i32) {body}))
  (core instance $i (instantiate $m))
  (func $handle (param "request" (own $request)) (param "response-out" (own $outparam))
    (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.12" (instance $handler)))"#
    );
    wat::parse_str(&text).with_context(|| format!("test guest WAT does not assemble:\n{text}"))
}

/// Never returns: only the deadline stops it.
pub fn loops() -> Result<Vec<u8>> {
    handler("(loop $again (br $again))")
}

/// Traps at once, as a Rust panic does in a `panic = "abort"` guest.
pub fn traps() -> Result<Vec<u8>> {
    handler("unreachable")
}

/// Grows its memory by `mib` MiB, trapping if the growth is refused, then
/// returns without a response.
pub fn allocates(mib: u32) -> Result<Vec<u8>> {
    handler(&format!(
        "(if (i32.eq (memory.grow (i32.const {pages})) (i32.const -1)) (then unreachable))",
        pages = mib * 16
    ))
}

/// The body chunk [`responds_then`] writes before misbehaving.
pub const PARTIAL_BODY: &str = "the first part of the body\n";

/// A wasi:http component whose `handle` sets a 200 response (no
/// content-length, so it goes out chunked), writes and flushes
/// [`PARTIAL_BODY`], and then runs the core wasm `after` (instructions in a
/// function with a 1-page memory, which must not return normally), never
/// finishing the body.
pub fn responds_then(after: &str) -> Result<Vec<u8>> {
    // The core signatures are the canonical ABI's lowering: results wider
    // than one value go through a pointer into memory (at 0 here), and
    // `set`'s `result<outgoing-response, error-code>` flattens to nine
    // values.
    let text = format!(
        r#"(component
  (import "wasi:io/error@0.2.12" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))
  (import "wasi:io/streams@0.2.12" (instance $streams
    (alias outer 1 $error (type $outer-error))
    (export "error" (type $error (eq $outer-error)))
    (export "output-stream" (type $output-stream (sub resource)))
    (type $stream-error-type (variant (case "last-operation-failed" (own $error)) (case "closed")))
    (export "stream-error" (type $stream-error (eq $stream-error-type)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $output-stream)) (param "contents" (list u8)) (result (result (error $stream-error)))))))
  (alias export $streams "output-stream" (type $output-stream))
  (import "wasi:http/types@0.2.12" (instance $types
    (alias outer 1 $output-stream (type $outer-output-stream))
    (export "output-stream" (type $output-stream (eq $outer-output-stream)))
    (export "fields" (type $fields (sub resource)))
    (export "incoming-request" (type (sub resource)))
    (export "outgoing-response" (type $outgoing-response (sub resource)))
    (export "outgoing-body" (type $outgoing-body (sub resource)))
    (export "response-outparam" (type $response-outparam (sub resource)))
    (type $dns-error-payload-type (record (field "rcode" (option string)) (field "info-code" (option u16))))
    (export "DNS-error-payload" (type $dns-error-payload (eq $dns-error-payload-type)))
    (type $tls-alert-received-payload-type
      (record (field "alert-id" (option u8)) (field "alert-message" (option string))))
    (export "TLS-alert-received-payload" (type $tls-alert-received-payload (eq $tls-alert-received-payload-type)))
    (type $field-size-payload-type (record (field "field-name" (option string)) (field "field-size" (option u32))))
    (export "field-size-payload" (type $field-size-payload (eq $field-size-payload-type)))
    (type $error-code-type (variant
      (case "DNS-timeout")
      (case "DNS-error" $dns-error-payload)
      (case "destination-not-found")
      (case "destination-unavailable")
      (case "destination-IP-prohibited")
      (case "destination-IP-unroutable")
      (case "connection-refused")
      (case "connection-terminated")
      (case "connection-timeout")
      (case "connection-read-timeout")
      (case "connection-write-timeout")
      (case "connection-limit-reached")
      (case "TLS-protocol-error")
      (case "TLS-certificate-error")
      (case "TLS-alert-received" $tls-alert-received-payload)
      (case "HTTP-request-denied")
      (case "HTTP-request-length-required")
      (case "HTTP-request-body-size" (option u64))
      (case "HTTP-request-method-invalid")
      (case "HTTP-request-URI-invalid")
      (case "HTTP-request-URI-too-long")
      (case "HTTP-request-header-section-size" (option u32))
      (case "HTTP-request-header-size" (option $field-size-payload))
      (case "HTTP-request-trailer-section-size" (option u32))
      (case "HTTP-request-trailer-size" $field-size-payload)
      (case "HTTP-response-incomplete")
      (case "HTTP-response-header-section-size" (option u32))
      (case "HTTP-response-header-size" $field-size-payload)
      (case "HTTP-response-body-size" (option u64))
      (case "HTTP-response-trailer-section-size" (option u32))
      (case "HTTP-response-trailer-size" $field-size-payload)
      (case "HTTP-response-transfer-coding" (option string))
      (case "HTTP-response-content-coding" (option string))
      (case "HTTP-response-timeout")
      (case "HTTP-upgrade-failed")
      (case "HTTP-protocol-error")
      (case "loop-detected")
      (case "configuration-error")
      (case "internal-error" (option string))))
    (export "error-code" (type $error-code (eq $error-code-type)))
    (export "[constructor]fields" (func (result (own $fields))))
    (export "[constructor]outgoing-response" (func (param "headers" (own $fields)) (result (own $outgoing-response))))
    (export "[method]outgoing-response.body"
      (func (param "self" (borrow $outgoing-response)) (result (result (own $outgoing-body)))))
    (export "[method]outgoing-body.write"
      (func (param "self" (borrow $outgoing-body)) (result (result (own $output-stream)))))
    (export "[static]response-outparam.set"
      (func (param "param" (own $response-outparam)) (param "response" (result (own $outgoing-response) (error $error-code)))))))
  (alias export $types "incoming-request" (type $request))
  (alias export $types "response-outparam" (type $outparam))
  (core module $memory (memory (export "memory") 1))
  (core instance $memory (instantiate $memory))
  (core func $fields (canon lower (func $types "[constructor]fields")))
  (core func $response (canon lower (func $types "[constructor]outgoing-response")))
  (core func $body (canon lower (func $types "[method]outgoing-response.body") (memory (core memory $memory "memory"))))
  (core func $write (canon lower (func $types "[method]outgoing-body.write") (memory (core memory $memory "memory"))))
  (core func $set (canon lower (func $types "[static]response-outparam.set") (memory (core memory $memory "memory"))))
  (core func $write-and-flush
    (canon lower (func $streams "[method]output-stream.blocking-write-and-flush") (memory (core memory $memory "memory"))))
  (core module $m
    (import "env" "memory" (memory 1))
    (import "http" "fields" (func $fields (result i32)))
    (import "http" "response" (func $response (param i32) (result i32)))
    (import "http" "body" (func $body (param i32 i32)))
    (import "http" "write" (func $write (param i32 i32)))
    (import "http" "set" (func $set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
    (import "http" "write-and-flush" (func $write-and-flush (param i32 i32 i32 i32)))
    (data (i32.const 64) "{body}")
    (func (export "handle") (param $request i32) (param $out i32)
      (local $response i32) (local $stream i32)
      (local.set $response (call $response (call $fields)))
      (call $body (local.get $response) (i32.const 0))
      (call $write (i32.load offset=4 (i32.const 0)) (i32.const 0))
      (local.set $stream (i32.load offset=4 (i32.const 0)))
      (call $set (local.get $out) (i32.const 0) (local.get $response)
        (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
      (call $write-and-flush (local.get $stream) (i32.const 64) (i32.const {len}) (i32.const 0))
      {after}))
  (core instance $i (instantiate $m
    (with "env" (instance $memory))
    (with "http" (instance
      (export "fields" (func $fields))
      (export "response" (func $response))
      (export "body" (func $body))
      (export "write" (func $write))
      (export "set" (func $set))
      (export "write-and-flush" (func $write-and-flush))))))
  (func $handle (param "request" (own $request)) (param "response-out" (own $outparam))
    (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.12" (instance $handler)))"#,
        body = PARTIAL_BODY.escape_default(),
        len = PARTIAL_BODY.len(),
    );
    wat::parse_str(&text).with_context(|| format!("test guest WAT does not assemble:\n{text}"))
}

/// Sets its response, writes part of the body, then traps.
pub fn traps_after_responding() -> Result<Vec<u8>> {
    responds_then("unreachable")
}

/// Sets its response, writes part of the body, then grows its memory by
/// 1 MiB at a time until the memory limit traps it.
pub fn allocates_after_responding() -> Result<Vec<u8>> {
    responds_then("(loop $more (drop (memory.grow (i32.const 16))) (br $more))")
}

/// Sets its response, writes part of the body, then loops until the deadline
/// stops it.
pub fn loops_after_responding() -> Result<Vec<u8>> {
    responds_then("(loop $again (br $again))")
}

/// A wasi:http component whose `handle` writes `text` to `wasi:cli/stderr`
/// `times` times (one `blocking-write-and-flush` each, so `text` must be at
/// most 4,096 bytes), then returns without setting a response (500): a
/// guest that logs, for the guest log tests.
pub fn logs(text: &str, times: u32) -> Result<Vec<u8>> {
    anyhow::ensure!(text.len() <= 4096, "a test guest writes at most 4,096 bytes at once");
    let text = format!(
        r#"(component
  (import "wasi:io/error@0.2.12" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))
  (import "wasi:io/streams@0.2.12" (instance $streams
    (alias outer 1 $error (type $outer-error))
    (export "error" (type $error (eq $outer-error)))
    (export "output-stream" (type $output-stream (sub resource)))
    (type $stream-error-type (variant (case "last-operation-failed" (own $error)) (case "closed")))
    (export "stream-error" (type $stream-error (eq $stream-error-type)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $output-stream)) (param "contents" (list u8)) (result (result (error $stream-error)))))))
  (alias export $streams "output-stream" (type $output-stream))
  (import "wasi:cli/stderr@0.2.12" (instance $stderr
    (alias outer 1 $output-stream (type $outer-output-stream))
    (export "output-stream" (type $output-stream (eq $outer-output-stream)))
    (export "get-stderr" (func (result (own $output-stream))))))
  (import "wasi:http/types@0.2.12" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))))
  (alias export $types "incoming-request" (type $request))
  (alias export $types "response-outparam" (type $outparam))
  (core module $memory (memory (export "memory") 1))
  (core instance $memory (instantiate $memory))
  (core func $get-stderr (canon lower (func $stderr "get-stderr")))
  (core func $write-and-flush
    (canon lower (func $streams "[method]output-stream.blocking-write-and-flush") (memory (core memory $memory "memory"))))
  (core module $m
    (import "env" "memory" (memory 1))
    (import "cli" "get-stderr" (func $get-stderr (result i32)))
    (import "cli" "write-and-flush" (func $write-and-flush (param i32 i32 i32 i32)))
    (data (i32.const 64) "{data}")
    (func (export "handle") (param $request i32) (param $out i32)
      (local $stream i32) (local $left i32)
      (local.set $stream (call $get-stderr))
      (local.set $left (i32.const {times}))
      (block $done
        (loop $again
          (br_if $done (i32.eqz (local.get $left)))
          (call $write-and-flush (local.get $stream) (i32.const 64) (i32.const {len}) (i32.const 0))
          (local.set $left (i32.sub (local.get $left) (i32.const 1)))
          (br $again)))))
  (core instance $i (instantiate $m
    (with "env" (instance $memory))
    (with "cli" (instance
      (export "get-stderr" (func $get-stderr))
      (export "write-and-flush" (func $write-and-flush))))))
  (func $handle (param "request" (own $request)) (param "response-out" (own $outparam))
    (canon lift (core func $i "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.12" (instance $handler)))"#,
        data = text.escape_default(),
        len = text.len(),
    );
    wat::parse_str(&text).with_context(|| format!("test guest WAT does not assemble:\n{text}"))
}

/// WASI 0.3 guests: `wasi:http/handler@0.3.0#handle` lifted asynchronously
/// (callback form). Most misbehave before they return a response; two
/// stand beside a guest written on the guest library in a composition, to
/// test what its 0.3 runtime does when called: [`p3::cancels_the_next`]
/// in front of it, [`p3::error_codes`] behind it.
pub mod p3 {
    use anyhow::{Context, Result};
    use wasmtime_wasi_http::p3::bindings::http::types::{
        DnsErrorPayload, ErrorCode, FieldSizePayload, TlsAlertReceivedPayload,
    };
    use wit_component::{ComponentEncoder, StringEncoding};
    use wit_parser::Resolve;

    const HANDLE: &str = "wasi:http/handler@0.3.0#handle";

    /// A bump allocator for the host's `cabi_realloc` calls: 8-byte aligned
    /// blocks from 32 KiB up, starting over there at 64 KiB (a test guest's
    /// few calls never hold that much at once).
    const REALLOC: &str = r#"  (global $heap (mut i32) (i32.const 32768))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $at i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get 3)) (i32.const 65536))
      (then (global.set $heap (i32.const 32768))))
    (local.set $at (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (local.get $at) (local.get 3)) (i32.const 7)) (i32.const -8)))
    (local.get $at))"#;

    /// A 0.3 wasi:http component whose `handle` runs the core wasm `body`
    /// (the instructions of a `(func (param i32) (result i32))` with a
    /// 1-page memory; it must not return normally).
    pub fn handler(body: &str) -> Result<Vec<u8>> {
        let text = format!(
            r#"(module
  (memory (export "memory") 1)
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) unreachable)
  (func (export "[async-lift]{HANDLE}") (param i32) (result i32) {body} unreachable)
  (func (export "[callback][async-lift]{HANDLE}") (param i32 i32 i32) (result i32) unreachable))"#
        );
        componentize(&text, "export wasi:http/handler@0.3.0;")
    }

    /// The core module in WAT `text` as a component of the world whose
    /// body is `world`, against the vendored WASI 0.3 WIT, as `dist`
    /// componentizes a guest.
    fn componentize(text: &str, world: &str) -> Result<Vec<u8>> {
        let mut module = wat::parse_str(text).with_context(|| format!("test guest WAT does not assemble:\n{text}"))?;
        let deps = crate::root().join("wit").join("p3").join("deps");
        let mut resolve = Resolve::default();
        // Each dependency before the packages that use it.
        for package in ["clocks", "random", "filesystem", "sockets", "cli", "http"] {
            let file = deps.join(format!("{package}.wit"));
            resolve
                .push_file(&file)
                .with_context(|| format!("cannot read the vendored WASI 0.3 WIT {}", file.display()))?;
        }
        let package = resolve
            .push_str("test-guest.wit", &format!("package edgekit:test-guests;\nworld guest {{ {world} }}\n"))?;
        let world = resolve.select_world(&[package], Some("guest"))?;
        wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8, false)?;
        ComponentEncoder::default()
            .validate(true)
            .module(&module)?
            .encode()
            .context("cannot componentize the 0.3 test guest")
    }

    /// Never returns: only the deadline stops it.
    pub fn loops() -> Result<Vec<u8>> {
        handler("(loop $again (br $again))")
    }

    /// Traps at once.
    pub fn traps() -> Result<Vec<u8>> {
        handler("unreachable")
    }

    /// Grows its memory by `mib` MiB, trapping either way: at the refused
    /// growth, or after it.
    pub fn allocates(mib: u32) -> Result<Vec<u8>> {
        handler(&format!("(drop (memory.grow (i32.const {pages})))", pages = mib * 16))
    }

    /// What [`cancels_the_next`] answers for a request it cancelled.
    pub const CANCELLED: ErrorCode = ErrorCode::ConnectionTerminated;

    /// A middleware (it imports the next `wasi:http/handler` and exports
    /// its own) that cancels every request the next handler does not answer
    /// at once: it calls the next handler's `handle` asynchronously, and
    /// when the call comes back started but not returned (the handler
    /// waits, say, for a request body), cancels the subtask
    /// (`subtask.cancel`, waiting for the handler to end) and answers
    /// `err(connection-terminated)` ([`CANCELLED`]). Answers the next
    /// handler gave, at once or before the cancel took, it passes on (an
    /// error as its case alone). The way a 0.3 handler gets cancelled in
    /// wasmtime 48, whose host-side calls are never cancelled (a caller
    /// dropping its future leaves the guest task running).
    pub fn cancels_the_next() -> Result<Vec<u8>> {
        // The canonical ABI: `handle` lowered asynchronously takes the
        // request and where to write its `result<response, error-code>`
        // (the case at 0, the response handle or the error's case at 8),
        // and returns the subtask's state in its low 4 bits (1 started,
        // 2 returned) and its handle above them. `subtask.cancel` returns
        // the state it ended in: 2 returned first, 3 or 4 cancelled.
        let text = format!(
            r#"(module
  (import "wasi:http/handler@0.3.0" "[async-lower]handle" (func $handle (param i32 i32) (result i32)))
  (import "$root" "[subtask-cancel]" (func $subtask-cancel (param i32) (result i32)))
  (import "$root" "[subtask-drop]" (func $subtask-drop (param i32)))
  (import "[export]wasi:http/handler@0.3.0" "[task-return]handle"
    (func $task-return (param i32 i32 i32 i64 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  ;; Each call's result slot, in turn from 1 KiB to 32 KiB; realloc's
  ;; blocks, in turn from 32 KiB to 64 KiB.
  (global $slot (mut i32) (i32.const 1024))
{REALLOC}
  ;; Passes on the answer written at `slot`.
  (func $pass-on (param $slot i32)
    (if (i32.eqz (i32.load8_u (local.get $slot)))
      (then (call $task-return (i32.const 0) (i32.load offset=8 (local.get $slot))
        (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (else (call $task-return (i32.const 1) (i32.load8_u offset=8 (local.get $slot))
        (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))))
  (func (export "[async-lift]{HANDLE}") (param $request i32) (result i32)
    (local $slot i32) (local $status i32) (local $subtask i32)
    (local.set $slot (global.get $slot))
    (global.set $slot (i32.add (global.get $slot) (i32.const 64)))
    (if (i32.ge_u (global.get $slot) (i32.const 32768)) (then (global.set $slot (i32.const 1024))))
    (local.set $status (call $handle (local.get $request) (local.get $slot)))
    (if (i32.eq (i32.and (local.get $status) (i32.const 15)) (i32.const 2))
      (then (call $pass-on (local.get $slot)) (return (i32.const 0))))
    (local.set $subtask (i32.shr_u (local.get $status) (i32.const 4)))
    (if (i32.eq (call $subtask-cancel (local.get $subtask)) (i32.const 2))
      (then (call $pass-on (local.get $slot)))
      (else (call $task-return (i32.const 1) (i32.const {terminated})
        (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))
    (call $subtask-drop (local.get $subtask))
    (i32.const 0))
  (func (export "[callback][async-lift]{HANDLE}") (param i32 i32 i32) (result i32) unreachable))"#,
            // `connection-terminated`'s case in `error-code`.
            terminated = 7,
        );
        componentize(&text, "import wasi:http/handler@0.3.0;\n  export wasi:http/handler@0.3.0;")
    }

    /// A handler that answers `GET /<n>` with the n-th of the error codes
    /// it returns with it: an `error-code` of each shape of payload the
    /// canonical ABI flattens differently (none; an optional string and
    /// number; a number then a string; a 64-bit number; an optional record
    /// of a string and a number; a record of numbers only; a string), each
    /// returned with `task.return` as its flat values. Behind a middleware
    /// on the guest library, what the host reads back is what the library's
    /// own lowering made of them.
    pub fn error_codes() -> Result<(Vec<u8>, Vec<ErrorCode>)> {
        // The strings, in the data at 0.
        let mut data = String::new();
        let mut place = |s: &str| -> (i64, i64) {
            let here = (data.len() as i64, s.len() as i64);
            data.push_str(s);
            here
        };
        let [servfail, handshake, big, br, boom] = ["servfail", "handshake", "x-big", "br", "boom"].map(&mut place);
        let string = |s: &str| Some(s.to_string());
        // The error's case and the six payload slots after it (the second
        // is 64 bits wide), as `task.return` takes them after `err`'s case.
        let returns: Vec<(ErrorCode, [i64; 7])> = vec![
            (ErrorCode::DnsTimeout, [0, 0, 0, 0, 0, 0, 0]),
            (
                ErrorCode::DnsError(DnsErrorPayload { rcode: string("servfail"), info_code: Some(7) }),
                [1, 1, servfail.0, servfail.1, 1, 7, 0],
            ),
            (
                ErrorCode::TlsAlertReceived(TlsAlertReceivedPayload {
                    alert_id: Some(40),
                    alert_message: string("handshake"),
                }),
                [14, 1, 40, 1, handshake.0, handshake.1, 0],
            ),
            (ErrorCode::HttpRequestBodySize(Some(1 << 40)), [17, 1, 1 << 40, 0, 0, 0, 0]),
            (
                ErrorCode::HttpRequestHeaderSize(Some(FieldSizePayload {
                    field_name: string("x-big"),
                    field_size: Some(9000),
                })),
                [22, 1, 1, big.0, big.1, 1, 9000],
            ),
            (ErrorCode::HttpRequestHeaderSize(None), [22, 0, 0, 0, 0, 0, 0]),
            (
                ErrorCode::HttpRequestTrailerSize(FieldSizePayload { field_name: None, field_size: Some(5) }),
                [24, 0, 0, 0, 1, 5, 0],
            ),
            (ErrorCode::HttpResponseHeaderSectionSize(Some(u32::MAX)), [26, 1, u32::MAX.into(), 0, 0, 0, 0]),
            (ErrorCode::HttpResponseContentCoding(string("br")), [32, 1, br.0, br.1, 0, 0, 0]),
            (ErrorCode::ConfigurationError, [37, 0, 0, 0, 0, 0, 0]),
            (ErrorCode::InternalError(string("boom")), [38, 1, boom.0, boom.1, 0, 0, 0]),
            (ErrorCode::InternalError(None), [38, 0, 0, 0, 0, 0, 0]),
        ];
        let cases: String = returns
            .iter()
            .enumerate()
            .map(|(i, (_, [case, s0, s1, s2, s3, s4, s5]))| {
                format!(
                    "\n    (if (i32.eq (local.get $n) (i32.const {i})) (then (call $task-return (i32.const 1) \
                     (i32.const {case}) (i32.const {s0}) (i64.const {s1}) (i32.const {s2}) (i32.const {s3}) \
                     (i32.const {s4}) (i32.const {s5})) (return (i32.const 0))))"
                )
            })
            .collect();
        // `get-path-with-query` writes `option<string>` where it is told
        // (present at 0, the string's address at 4 and length at 8), the
        // string in a block of `cabi_realloc`'s.
        let text = format!(
            r#"(module
  (import "wasi:http/types@0.3.0" "[method]request.get-path-with-query" (func $path (param i32 i32)))
  (import "wasi:http/types@0.3.0" "[resource-drop]request" (func $drop-request (param i32)))
  (import "[export]wasi:http/handler@0.3.0" "[task-return]handle"
    (func $task-return (param i32 i32 i32 i64 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{data}")
{REALLOC}
  (func (export "[async-lift]{HANDLE}") (param $request i32) (result i32)
    (local $at i32) (local $end i32) (local $n i32)
    (call $path (local.get $request) (i32.const 1024))
    (call $drop-request (local.get $request))
    ;; The decimal number after the path's `/`.
    (local.set $at (i32.add (i32.load (i32.const 1028)) (i32.const 1)))
    (local.set $end (i32.add (i32.load (i32.const 1028)) (i32.load (i32.const 1032))))
    (block $done
      (loop $digit
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10))
          (i32.sub (i32.load8_u (local.get $at)) (i32.const 48))))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $digit))){cases}
    unreachable)
  (func (export "[callback][async-lift]{HANDLE}") (param i32 i32 i32) (result i32) unreachable))"#
        );
        let component = componentize(&text, "export wasi:http/handler@0.3.0;")?;
        Ok((component, returns.into_iter().map(|(code, _)| code).collect()))
    }
}

/// Guests that trap inside named functions, shipped as `dist` ships a
/// component: the core module's name section set aside (as a names file
/// holds it) and stripped before componentizing. For the tests of
/// [`crate::trap`] and [`crate::profile`].
pub mod named;
