//! A counting global allocator for zero-allocation tests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // Const-initialised, so reading or bumping it never allocates (no lazy init, no destructor).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// A global allocator that forwards to [`System`] and counts, per thread, every allocation and
/// reallocation.
///
/// Zero-allocation claims ("merging two vectors of 8 actors never touches the heap") are
/// checked by installing it as the test binary's `#[global_allocator]` and measuring a closure
/// with [`allocations`]. The count is per thread, so the test harness's own threads and other
/// tests running in parallel cannot disturb a measurement.
///
/// ```rust,standalone_crate
/// use quorate_testkit::{CountingAllocator, allocations};
///
/// #[global_allocator]
/// static GLOBAL: CountingAllocator = CountingAllocator;
///
/// let (n, sum) = allocations(|| (1..=10u32).sum::<u32>());
/// assert_eq!((n, sum), (0, 55));
/// let (n, v) = allocations(|| vec![1u8; 16]);
/// assert_eq!((n, v.len()), (1, 16));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

#[allow(unsafe_code)]
// SAFETY: every method forwards its arguments unchanged to the system allocator, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; counting touches only a
// const-initialised thread-local `Cell`, which never allocates. `try_with` skips the count
// while the thread's locals are being torn down instead of panicking inside the allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, hence from `System`, with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// How many allocations and reallocations this thread has made through [`CountingAllocator`].
///
/// Always 0 when `CountingAllocator` is not the global allocator.
///
/// ```rust,standalone_crate
/// use quorate_testkit::{CountingAllocator, allocation_count};
///
/// #[global_allocator]
/// static GLOBAL: CountingAllocator = CountingAllocator;
///
/// let before = allocation_count();
/// let s = String::from("heap");
/// assert_eq!(allocation_count() - before, 1);
/// # drop(s);
/// ```
#[must_use]
pub fn allocation_count() -> u64 {
    ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

/// Runs `f` and returns how many allocations it made on this thread, with its result.
///
/// The result goes through [`std::hint::black_box`] so the compiler cannot drop the work.
///
/// ```rust,standalone_crate
/// use quorate_testkit::{CountingAllocator, allocations};
///
/// #[global_allocator]
/// static GLOBAL: CountingAllocator = CountingAllocator;
///
/// let (n, _) = allocations(|| [3u64, 1, 2].iter().max().copied());
/// assert_eq!(n, 0);
/// ```
pub fn allocations<R>(f: impl FnOnce() -> R) -> (u64, R) {
    let before = allocation_count();
    let r = std::hint::black_box(f());
    (allocation_count() - before, r)
}
