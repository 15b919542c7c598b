//! The allocator on 0.2: an arena that lives as long as the request.
//!
//! A 0.2 handler runs to its end before the instance serves anything else
//! (and most 0.2 hosts make an instance per request), so the heap of a
//! request can be an arena: blocks are cut one after the other, first from
//! the initial memory above `__heap_base`, then from pages taken with
//! `memory.grow` (a fresh instance's first request that fits in the first
//! region never grows memory, which is most of its cost), and when the last
//! live block is freed the whole arena is free again; a block freed at the top of the arena is
//! freed at once. The price: a block freed under live ones (a vector's old
//! block, once it has grown into a new one) stays used until they are
//! freed too, which a one-request heap hardly notices.
//!
//! About 250 bytes of code against lol_alloc's free list, about 460 (and
//! the free list is still the allocator on 0.3, where an instance serves
//! many requests at once and the live blocks may never all be freed).
//! docs/size.md, "The allocator", has the trade.

/// Bytes in a WebAssembly page.
const PAGE: usize = 65536;

/// The arena's bookkeeping, in addresses: the start of the region it cuts
/// from, the first free byte, the end of the memory it owns, and how many
/// blocks are live.
pub(crate) struct Arena {
    base: usize,
    next: usize,
    end: usize,
    live: usize,
}

impl Arena {
    /// An arena that owns no memory yet.
    pub(crate) const fn new() -> Arena {
        Arena { base: 0, next: 0, end: 0, live: 0 }
    }

    /// The address of a new block of `size` bytes aligned to `align` (a
    /// power of two), or `None` when memory cannot grow.
    /// `grow(pages)` grows memory and returns its old size in pages, or
    /// `usize::MAX` when it cannot, as `memory.grow` does.
    pub(crate) fn alloc(&mut self, size: usize, align: usize, grow: impl FnOnce(usize) -> usize) -> Option<usize> {
        // A layout's size and alignment add up to at most 2 GiB, and an
        // address plus a size may pass 4 GiB: that sum is done in 64 bits.
        let mut at = align_up(self.next, align);
        if at as u64 + size as u64 > self.end as u64 {
            // Enough pages for the block wherever the region goes on.
            let pages = (size + align) / PAGE + 1;
            let old = grow(pages);
            if old == usize::MAX {
                return None;
            }
            if old * PAGE != self.end {
                // Memory grew under someone else (or this is the first
                // block): a new region starts at the new pages.
                self.base = old * PAGE;
                at = align_up(self.base, align);
            }
            self.end = (old + pages) * PAGE;
        }
        self.next = at + size;
        self.live += 1;
        Some(at)
    }

    /// Frees the block of `size` bytes at `at`.
    pub(crate) fn free(&mut self, at: usize, size: usize) {
        self.live -= 1;
        if self.live == 0 {
            self.next = self.base;
        } else if at + size == self.next {
            self.next = at;
        }
    }
}

/// `at` rounded up to a multiple of `align`, a power of two.
fn align_up(at: usize, align: usize) -> usize {
    (at + align - 1) & !(align - 1)
}

/// The global allocator: the arena behind a cell, as a component instance
/// is single-threaded.
#[cfg(target_arch = "wasm32")]
pub(crate) struct Global(core::cell::UnsafeCell<Arena>);

#[cfg(target_arch = "wasm32")]
impl Global {
    /// An arena that owns no memory yet.
    pub(crate) const fn new() -> Global {
        Global(core::cell::UnsafeCell::new(Arena::new()))
    }

    /// The arena.
    #[allow(clippy::mut_from_ref)]
    fn arena(&self) -> &mut Arena {
        // SAFETY: an instance runs one thread, and the allocator's methods
        // do not call each other while they hold the arena.
        unsafe { &mut *self.0.get() }
    }
}

// SAFETY: without Wasm threads (the `atomics` target feature, refused at
// compile time in lib.rs) a component instance runs one thread, so no
// other thread can reach the arena.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for Global {}

#[cfg(target_arch = "wasm32")]
// SAFETY: blocks are cut from memory the arena owns and does not hand out
// twice while they are live; a block freed goes back only to the top.
unsafe impl core::alloc::GlobalAlloc for Global {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        unsafe extern "C" {
            static __heap_base: u8;
        }
        let arena = self.arena();
        // The first block: the arena starts with what the initial memory
        // has free above the linker's heap base (stack and data are below).
        if arena.end == 0 {
            let base = core::ptr::addr_of!(__heap_base) as usize;
            let end = core::arch::wasm32::memory_size(0) * PAGE;
            *arena = Arena { base, next: base, end, live: 0 };
        }
        let grow = |pages| core::arch::wasm32::memory_grow(0, pages);
        match arena.alloc(layout.size(), layout.align(), grow) {
            Some(at) => at as *mut u8,
            None => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        self.arena().free(ptr as usize, layout.size());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory of `pages` pages that grows by what is asked.
    fn memory(pages: &mut usize) -> impl FnMut(usize) -> usize + '_ {
        move |more| {
            let old = *pages;
            *pages += more;
            old
        }
    }

    #[test]
    fn blocks_are_cut_in_order_and_aligned() {
        let mut pages = 17;
        let mut arena = Arena::new();
        let a = arena.alloc(3, 1, memory(&mut pages)).unwrap();
        assert_eq!(a, 17 * PAGE);
        let b = arena.alloc(8, 8, memory(&mut pages)).unwrap();
        assert_eq!(b, a + 8);
        assert_eq!(pages, 18, "both fit in the first page taken");
    }

    #[test]
    fn freeing_the_last_live_block_frees_the_arena() {
        let mut pages = 1;
        let mut arena = Arena::new();
        let a = arena.alloc(100, 4, memory(&mut pages)).unwrap();
        let b = arena.alloc(100, 4, memory(&mut pages)).unwrap();
        arena.free(a, 100);
        assert_eq!(arena.alloc(4, 4, memory(&mut pages)).unwrap(), b + 100, "a block under a live one stays used");
        arena.free(b, 100);
        arena.free(b + 100, 4);
        assert_eq!(arena.alloc(4, 4, memory(&mut pages)).unwrap(), a, "nothing live: the arena starts over");
        assert_eq!(pages, 2);
    }

    #[test]
    fn the_top_block_is_freed_in_place() {
        let mut pages = 1;
        let mut arena = Arena::new();
        let a = arena.alloc(10, 1, memory(&mut pages)).unwrap();
        let b = arena.alloc(10, 1, memory(&mut pages)).unwrap();
        arena.free(b, 10);
        assert_eq!(arena.alloc(1, 1, memory(&mut pages)).unwrap(), b);
        assert_eq!(b, a + 10);
    }

    #[test]
    fn a_large_block_takes_enough_pages_and_growth_elsewhere_starts_a_region() {
        let mut pages = 1;
        let mut arena = Arena::new();
        let a = arena.alloc(3 * PAGE, 8, memory(&mut pages)).unwrap();
        assert_eq!(a, PAGE);
        assert!(pages >= 4);
        pages += 1; // memory grown by someone else
        let b = arena.alloc(2 * PAGE, 8, memory(&mut pages)).unwrap();
        assert!(b >= a + 3 * PAGE + PAGE, "the new region starts past the foreign page");
        assert!(arena.alloc(1, 1, |_| usize::MAX).is_some(), "room left in the region taken");
        assert_eq!(arena.alloc(2 * PAGE, 1, |_| usize::MAX), None, "no memory: no block");
    }
}
