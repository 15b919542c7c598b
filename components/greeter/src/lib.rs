//! The greeter template: a pure function behind a WIT interface.
//!
//! It exports `edgekit:greeter/api` and imports nothing, so any component host
//! can run it without granting a single capability.

// A free-list allocator of about 1 KB instead of std's dlmalloc (about 7 KB),
// started with what the initial memory has free above the linker's
// `__heap_base`, so a fresh instance's first call does not grow memory (the
// grow was most of that call's cost: bench, greeter, 10.7 -> 5.9 µs; +57 B).
// Edge hosts make a fresh instance per request, so the heap lives for one
// request; see docs/size.md, "The allocator", for the trade.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: FreeList =
    FreeList { list: lol_alloc::FreeListAllocator::new(), started: core::cell::Cell::new(false) };

#[cfg(target_arch = "wasm32")]
struct FreeList {
    list: lol_alloc::FreeListAllocator,
    started: core::cell::Cell<bool>,
}

// SAFETY: a component instance is single-threaded.
#[cfg(target_arch = "wasm32")]
unsafe impl Sync for FreeList {}

// SAFETY: blocks come from lol_alloc's free list; the block handed to it at
// the start is memory nothing else uses (above `__heap_base`, 16-byte
// aligned, up to the memory's end).
#[cfg(target_arch = "wasm32")]
unsafe impl core::alloc::GlobalAlloc for FreeList {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        unsafe extern "C" {
            static __heap_base: u8;
        }
        if !self.started.replace(true) {
            let base = core::ptr::addr_of!(__heap_base) as usize;
            let end = core::arch::wasm32::memory_size(0) * 65536;
            if end > base {
                // SAFETY: freeing a block the list has never seen hands it over.
                unsafe {
                    self.list.dealloc(base as *mut u8, core::alloc::Layout::from_size_align_unchecked(end - base, 8))
                };
            }
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { self.list.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.list.dealloc(ptr, layout) }
    }
}

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
