//! What every component needs and no handler should spell out: the global
//! allocator, the panic handler, and the `cabi_realloc` and `memcmp` a stock
//! `wasm32-wasip2` build of a `no_std` crate lacks. Each is compiled for
//! wasm32 only, so a component's unit tests run on the host with std's.

/// On 0.2, an arena for the request (`arena.rs`): about 250 bytes of code.
/// A 0.2 handler runs to its end before its instance serves anything else,
/// so the heap of a request is freed when its last block is.
#[cfg(all(target_arch = "wasm32", feature = "alloc", not(feature = "p3")))]
#[global_allocator]
static ALLOCATOR: crate::arena::Global = crate::arena::Global::new();

/// On 0.3, a free-list allocator of about 1 KB instead of dlmalloc (about
/// 7 KB). A 0.3 host reuses an instance for many requests at once, and the
/// free list hands freed blocks to the next request. docs/size.md, "The
/// allocator", has the trade.
#[cfg(all(target_arch = "wasm32", feature = "alloc", feature = "p3"))]
#[global_allocator]
static ALLOCATOR: FreeList =
    FreeList { list: lol_alloc::FreeListAllocator::new(), started: core::cell::Cell::new(false) };

/// lol_alloc's free list, started with what the initial memory has free
/// above the linker's `__heap_base` (stack and data are below), as the 0.2
/// arena starts: a fresh instance's first request that fits there never
/// grows memory, which is most of what it costs (a `memory.grow` changes
/// the host's page protections, and on an instance's next use of the pool
/// slot it is undone).
#[cfg(all(target_arch = "wasm32", feature = "alloc", feature = "p3"))]
struct FreeList {
    list: lol_alloc::FreeListAllocator,
    started: core::cell::Cell<bool>,
}

// SAFETY: without Wasm threads (the `atomics` target feature, refused at
// compile time in lib.rs) an instance runs one thread, so the `Cell` is never
// touched from two at once.
#[cfg(all(target_arch = "wasm32", feature = "alloc", feature = "p3", not(target_feature = "atomics")))]
unsafe impl Sync for FreeList {}

// SAFETY: blocks come from lol_alloc's free list; the one block handed to it
// at the start is memory no one else uses: the linker puts nothing above
// `__heap_base` (16-byte aligned), and the memory's end is a page boundary.
#[cfg(all(target_arch = "wasm32", feature = "alloc", feature = "p3"))]
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

/// A panic traps at once: the host answers 500 for the requests in flight in
/// this instance and discards it. Formatting the message would link
/// `core::fmt` (about 3 KB) for the asserts inside the bindings.
#[cfg(all(target_arch = "wasm32", feature = "panic-trap"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// The stock build, `cargo build --release --target wasm32-wasip2`, expects
/// libc to provide `cabi_realloc` (the function the host calls to give the
/// component memory for strings and lists), and a `no_std` crate links no
/// libc. On `wasm32-unknown-unknown`, edgekit's target, wit-bindgen
/// provides it.
#[cfg(all(target_arch = "wasm32", target_env = "p2", feature = "panic-trap"))]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a valid alignment, and `old` is a
    // block of `old_len` bytes this allocator handed out, when not empty.
    let new = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(old, Layout::from_size_align_unchecked(old_len, align), new_len)
        }
    };
    if new.is_null() {
        core::arch::wasm32::unreachable();
    }
    new
}

/// The stock `wasm32-wasip2` build of a `no_std` crate links no libc, and
/// compiler-builtins leaves `memcmp` (and `bcmp`, its equality-only form)
/// to libc on that target: comparing byte strings would not link. On
/// `wasm32-unknown-unknown` compiler-builtins provides both. The bytes are
/// read with volatile loads so that LLVM does not turn the loop back into a
/// call to `memcmp`.
#[cfg(all(target_arch = "wasm32", target_env = "p2", feature = "panic-trap"))]
#[unsafe(no_mangle)]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, len: usize) -> i32 {
    for i in 0..len {
        // SAFETY: the caller passes two readable blocks of `len` bytes.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// `memcmp` for equality only; see [`memcmp`].
#[cfg(all(target_arch = "wasm32", target_env = "p2", feature = "panic-trap"))]
#[unsafe(no_mangle)]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, len: usize) -> i32 {
    // SAFETY: the same contract as `memcmp`.
    unsafe { memcmp(a, b, len) }
}
