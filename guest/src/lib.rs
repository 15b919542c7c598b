//! Write a wasi:http handler, not its plumbing.
//!
//! `edgekit` is the guest library edgekit's http templates are written on.
//! A handler is a function from a [`http::Request`] to a [`http::Response`];
//! [`handler!`] exports it as the component's `wasi:http` handler (here on
//! 0.3; [`p2`] and [`p3`] each have an example that compiles for its line):
//!
//! ```ignore
//! use edgekit::http::{Request, Response};
//!
//! async fn handle(request: Request) -> Response {
//!     edgekit::info!(request.method(), " ", request.path());
//!     Response::text(200, "hello from the edge\n")
//! }
//!
//! edgekit::handler!(handle);
//! ```
//!
//! # Two WASI lines, the same names
//!
//! Enable exactly one line:
//!
//! - `p3`, WASI 0.3.0 (`wasi:http/service`): the handler is an `async fn`;
//!   the library runs it on a small executor of its own ([`p3::spawn`] runs
//!   more futures on it), and writes response bodies after the handler
//!   returns.
//! - `p2`, WASI 0.2.12 (`wasi:http/proxy`): the handler is a plain `fn`;
//!   the library writes the body in the 4,096-byte chunks 0.2 streams take.
//!
//! [`http`] is the line's module under a name that does not change:
//! `Request`, `Response`, `BodyError`, and `Request::body` (a `fn` on 0.2,
//! an `async fn` on 0.3). [`router`], [`log`] and [`json`] are the same on
//! both lines.
//! The raw bindings of the line are in [`p2::wasi`] or [`p3::wasi`], for what
//! the library does not wrap (outgoing requests, streaming, `wasi:config`,
//! `wasi:keyvalue`).
//!
//! # What it costs
//!
//! Nothing a handler does not call: the bindings cover the whole
//! `wasi:http` world of the line, and wit-component keeps only the imports
//! the compiled code uses. The hello handler of each line is a few hundred
//! bytes of handler on top of the WASI calls it makes.
//!
//! # Plumbing it owns (features)
//!
//! - `alloc` (default): a small global allocator instead of dlmalloc (about
//!   7 KB): on 0.2 an arena for the request (about 250 bytes; a 0.2
//!   handler runs to its end before its instance serves anything else, and
//!   the arena is all free again when its last block is), on 0.3 lol_alloc's
//!   free list (about 500 bytes), as a 0.3 instance serves many requests at
//!   once.
//! - `panic-trap` (default): a panic traps at once, without formatting its
//!   message, so `core::fmt` is not linked for the asserts in the bindings.
//!   This needs a `#![no_std]` crate (std brings its own panic handler);
//!   turn it off in a crate that uses std.
//! - on `wasm32-wasip2` (the stock `cargo build --target wasm32-wasip2`),
//!   the `cabi_realloc` that libc would provide to a std crate.
#![no_std]

extern crate alloc;

#[cfg(not(any(feature = "p2", feature = "p3")))]
compile_error!("enable one WASI line: features = [\"p2\"] (WASI 0.2.12) or [\"p3\"] (WASI 0.3.0)");

#[cfg(all(feature = "p2", feature = "p3"))]
compile_error!(
    "edgekit: the features `p2` and `p3` are both on, and a component targets one WASI line. \
     Enable exactly one: features = [\"p2\"] for WASI 0.2.12 or [\"p3\"] for WASI 0.3.0. \
     If your manifest names only one, another crate in the build turns on the other \
     (cargo unifies a crate's features): build each line on its own"
);

// The allocator, the 0.3 executor and the library's globals are shared
// without locks because a component instance runs one thread. Wasm threads
// (shared memory, the `atomics` target feature) would break that.
#[cfg(target_feature = "atomics")]
compile_error!(
    "edgekit: this target has the `atomics` feature (Wasm threads and shared memory), but the library's \
     allocator, 0.3 executor and globals are `Sync` only because a component instance runs one thread. \
     Build without `-C target-feature=+atomics`"
);

#[cfg(any(test, all(target_arch = "wasm32", feature = "alloc", not(feature = "p3"))))]
mod arena;
mod bytes;
mod plumbing;
mod request;
mod response;

pub mod json;
pub mod log;
pub mod query;
pub mod router;

#[cfg(feature = "p2")]
pub mod p2;
#[cfg(feature = "p3")]
pub mod p3;

pub use bytes::{Bytes, HeaderName};
pub use response::Response;

/// The module of the line this crate was built for: [`p3`] when the `p3`
/// feature is on, [`p2`] otherwise.
#[cfg(all(feature = "p2", not(feature = "p3")))]
use p2 as line;
#[cfg(feature = "p3")]
use p3 as line;

/// The raw WASI bindings of the line this crate was built for (the same
/// path on both lines: `edgekit::wasi::keyvalue::store`,
/// `edgekit::wasi::config::store`, `edgekit::wasi::random::random`), for
/// what the library does not wrap.
pub use line::wasi;

/// The tokens inside, compiled on WASI 0.3 only: for the few lines of a
/// source built for both lines that 0.2 cannot do (a middleware changing
/// the request it passes on and the response that comes back). Statements
/// or items; a `let` inside binds for the code after it.
///
/// ```ignore
/// edgekit::on_p3! {
///     let response = response.set_header("x-request-id", id);
/// }
/// ```
#[cfg(feature = "p3")]
#[macro_export]
macro_rules! on_p3 {
    ($($tokens:tt)*) => { $($tokens)* };
}

/// The tokens inside, compiled on WASI 0.3 only (here, on 0.2: nothing).
#[cfg(not(feature = "p3"))]
#[macro_export]
macro_rules! on_p3 {
    ($($tokens:tt)*) => {};
}

/// The tokens inside, compiled on WASI 0.2 only: the counterpart of
/// [`on_p3!`].
#[cfg(not(feature = "p3"))]
#[macro_export]
macro_rules! on_p2 {
    ($($tokens:tt)*) => { $($tokens)* };
}

/// The tokens inside, compiled on WASI 0.2 only (here, on 0.3: nothing).
#[cfg(feature = "p3")]
#[macro_export]
macro_rules! on_p2 {
    ($($tokens:tt)*) => {};
}

/// Requests and responses of the line this crate was built for, under the
/// same names on both: [`p3`] when the `p3` feature is on, [`p2`] otherwise.
pub mod http {
    pub use crate::line::{BodyError, ErrorCode, IntoResult, Request, next};
    pub use crate::response::Response;
}
