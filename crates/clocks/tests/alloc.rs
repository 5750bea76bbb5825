//! Zero-allocation claims, checked with a counting global allocator.
//!
//! The allocator counts per thread (a const-initialised thread-local), so allocations by the
//! test harness on other threads cannot interfere; the file holds a single test.

use quorate_testkit::{CountingAllocator, allocations};

use quorate_clocks::{
    Dot, Encode, HybridClock, Lamport, LamportClock, ManualClock, SystemClock, Timestamp,
    UncertainClock, VersionVector, WallClock,
};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn hot_paths_do_not_allocate() {
    // Warm up lazily initialised statics (the monotonic origin) outside the measurement.
    let _ = quorate_clocks::MonotonicClock::now_nanos(&SystemClock);
    let manual = ManualClock::new(1 << 50);
    let sys = HybridClock::new(SystemClock);
    let man = HybridClock::new(manual.clone());

    let (n, _) = allocations(|| {
        for _ in 0..1000 {
            let t = sys.now();
            sys.recv(t).unwrap();
            sys.observe(t).unwrap();
            sys.observe(Timestamp::from_u64(t.as_u64() + 1)).unwrap();
            let _ = sys.try_now();
            man.now();
            manual.advance_nanos(100_000);
            man.recv(man.now()).unwrap();
        }
        sys.stats()
    });
    assert_eq!(n, 0, "HybridClock allocated");

    let lc = LamportClock::new();
    let (n, _) = allocations(|| {
        let mut plain = Lamport::new();
        for i in 0..1000 {
            lc.tick().unwrap();
            lc.recv(i).unwrap();
            lc.observe(i * 3);
            plain.tick().unwrap();
            plain.recv(i).unwrap();
            plain.observe(i);
        }
        plain
    });
    assert_eq!(n, 0, "Lamport clocks allocated");

    let (n, _) = allocations(|| {
        let mut a: VersionVector<u64> = VersionVector::new();
        let mut b: VersionVector<u64> = [(7, 1), (3, 2), (5, 5)].into_iter().collect();
        for actor in [9u64, 1, 4, 2] {
            a.increment(actor).unwrap();
        }
        a.observe(&Dot::new(6, 3));
        b.set(5, 7);
        let c = a.clone();
        a.merge(&b); // 8 distinct actors: still inline
        assert_eq!(a.len(), 8);
        assert!(!a.spilled());
        let rel = (a.compare(&b), a.dominates(&c), c.partial_cmp(&b), a.glb(&b));
        a.remove(&9);
        a.set(9, 4);
        let total: u64 = a.iter().map(|(_, n)| n).sum();
        let mut buf = [0u8; 64];
        let mut slice = &mut buf[..];
        a.encode(&mut slice);
        (rel, total, a.contains(&Dot::new(1, 1)), a.get(&2))
    });
    assert_eq!(n, 0, "version vectors of <= 8 actors allocated");

    // Control: the counter works (a ninth actor spills to the heap).
    let (n, _) = allocations(|| {
        let v: VersionVector<u64> = (0..9).map(|a| (a, 1)).collect();
        v
    });
    assert!(n > 0, "the counting allocator must see the spill");

    let uc = UncertainClock::new(SystemClock, SystemClock, 50_000).unwrap();
    uc.sync(1_000_000);
    let (n, _) = allocations(|| {
        (
            uc.now(),
            uc.after(SystemClock.now_unix_nanos() - 10_000_000),
        )
    });
    assert_eq!(n, 0, "UncertainClock::now allocated");
}
