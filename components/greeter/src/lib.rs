//! The greeter template: a pure function behind a WIT interface.
//!
//! It exports `edgekit:greeter/api` and imports nothing, so any component host
//! can run it without granting a single capability.

// A free-list allocator of about 1 KB instead of std's dlmalloc (about 7 KB).
// Edge hosts make a fresh instance per request, so the heap lives for one
// request; see docs/size.md, "The allocator", for the trade.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: a component instance is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

wit_bindgen::generate!({ path: "wit", world: "greeter" });

use exports::edgekit::greeter::api::{Guest, Name};

struct Greeter;

impl Guest for Greeter {
    fn greet(n: Name) -> String {
        // Built by appending rather than with `format!`, which would pull
        // about 5 KB of formatting machinery into the component.
        let mut greeting = String::from("Hello, ");
        greeting.push_str(&n.first);
        greeting.push(' ');
        greeting.push_str(&n.last);
        greeting
    }
}

export!(Greeter);
