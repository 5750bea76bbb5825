//! Zero-allocation claims, checked with a counting global allocator.
//!
//! The allocator counts per thread (a const-initialised thread-local), so allocations by the
//! test harness on other threads cannot interfere; the file holds a single test.

use quorate_testkit::{CountingAllocator, allocations};

use quorate_crdt::{CausalContext, Crdt, EwFlag, GCounter, OrSet, PnCounter};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn reads_and_steady_state_merges_do_not_allocate() {
    let mut g = GCounter::<u64>::new();
    let mut p = PnCounter::<u64>::new();
    for a in 0..128 {
        g.increment(a, u64::MAX).unwrap();
        p.increment(a, 3).unwrap();
        p.decrement(a, u64::MAX).unwrap();
    }
    let (n, v) = allocations(|| g.value());
    assert_eq!((n, v), (0, 128 * u128::from(u64::MAX)));
    let (n, _) = allocations(|| p.value());
    assert_eq!(n, 0, "PN-counter read allocated");

    // Merging a counter whose actors we already know updates entries in place.
    let mut other = g.clone();
    other.join(&g);
    let (n, _) = allocations(|| other.join(&g));
    assert_eq!(n, 0, "steady-state counter merge allocated");

    // Constructors and queries of empty values do not allocate.
    let (n, _) = allocations(|| {
        let s = OrSet::<u64, u64>::new();
        let f = EwFlag::<u64>::new();
        let c = CausalContext::<u64>::new();
        (s.is_empty(), f.is_enabled(), c.is_empty())
    });
    assert_eq!(n, 0);

    // Joining an identical OR-set (the dominant case in anti-entropy) does not allocate.
    let mut s = OrSet::<u64, u64>::new();
    for x in 0..1_000 {
        s.add(1, x).unwrap();
    }
    let t = s.clone();
    let (n, _) = allocations(|| s.join(&t));
    assert_eq!(n, 0, "joining an identical OR-set allocated");
}
