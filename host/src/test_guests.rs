//! Misbehaving wasi:http guests for the limit tests: they loop forever, trap,
//! or grow memory without end, before setting a response (a failure after
//! the response headers went out could not change the status).
//!
//! They are not templates, so they do not live under `components/` (which
//! `dist` ships). Each is a few lines of WAT: a component that imports the two
//! resource types `handle` takes, lifts one core function as
//! `wasi:http/incoming-handler@0.2.12#handle`, and is assembled in process by
//! the `wat` crate. No cargo build, no toolchain, nothing to keep in sync.

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
