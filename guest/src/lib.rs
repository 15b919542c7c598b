//! Write a wasi:http handler, not its plumbing.
//!
//! `edgekit` is the guest library edgekit's http templates are written on.
//! A handler is an `async fn` from a [`http::Request`] to a
//! [`http::Response`], written once for both WASI lines; [`handler`]
//! (`#[edgekit::handler]`) exports it as the component's `wasi:http`
//! handler ([`p2`] and [`p3`] each have an example that compiles for its
//! line):
//!
//! ```ignore
//! use edgekit::http::{Request, Response};
//!
//! #[edgekit::handler]
//! async fn handle(request: Request) -> Response {
//!     edgekit::info!(request.method(), " ", request.path());
//!     Response::text(200, "hello from the edge\n")
//! }
//! ```
//!
//! # Two WASI lines, one source
//!
//! Enable exactly one line (both at once is a compile error that says so):
//!
//! - `p3`, WASI 0.3.0 (`wasi:http/service`): the handler runs as the
//!   `async fn` it is, on a small executor of its own ([`p3::spawn`] runs
//!   more futures on it), and response bodies are written after it returns.
//! - `p2`, WASI 0.2.12 (`wasi:http/proxy`): every WASI call blocks, so the
//!   same function never waits; `#[edgekit::handler]` compiles it as a
//!   plain `fn` there (each `.await` takes a value that is there at once,
//!   [`p2::Now`]), which costs nothing next to a handler written as one.
//!   An `async fn` the handler awaits is marked [`maybe_async`]
//!   (`#[edgekit::maybe_async]`) to be compiled the same way. Bodies are
//!   written in the 4,096-byte chunks 0.2 streams take.
//!
//! [`http`] is the line's module under a name that does not change:
//! `Request`, `Response`, `BodyError`, `ErrorCode`, and [`http::next`] for
//! a middleware (`#[edgekit::handler(next)]`). [`router`], [`log`],
//! [`json`] and [`query`] are the same on both lines, and [`wasi`] holds
//! the line's raw bindings under one path, for what the library does not
//! wrap (`wasi:config`, `wasi:keyvalue`, outgoing requests). Where a source
//! built for both lines must say something only one line can do, [`on_p3!`]
//! and [`on_p2!`] keep their tokens on that line alone.
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
//!
//! A component instance runs one thread: the library refuses a target with
//! Wasm threads (the `atomics` feature) at compile time.
#![no_std]

extern crate alloc;

#[cfg(not(any(feature = "p2", feature = "p3")))]
compile_error!(
    "edgekit: enable one WASI line: features = [\"p2\"] (WASI 0.2.12) or [\"p3\"] (WASI 0.3.0); \
     a component built for both lines picks one per build: `cargo build --features p2` (or p3)"
);

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
/// `#[edgekit::handler]`: exports an `async fn` as the component's
/// `wasi:http` handler, compiled as a plain `fn` on 0.2;
/// `#[edgekit::handler(next)]` for a middleware's, which may call
/// [`http::next`].
pub use edgekit_macros::handler;
/// `#[edgekit::maybe_async]`: an `async fn` on 0.3 that a handler awaits,
/// compiled as a plain `fn` on 0.2 as the handler is.
pub use edgekit_macros::maybe_async;
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
#[cfg(any(feature = "p2", feature = "p3"))]
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
#[cfg(any(feature = "p2", feature = "p3"))]
pub mod http {
    pub use crate::line::{BodyError, ErrorCode, IntoResult, Request, next};
    pub use crate::response::Response;
}
