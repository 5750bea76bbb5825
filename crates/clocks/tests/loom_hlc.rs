//! Loom models: concurrent `now` / `recv` / `observe` on one HLC (and ticks on one Lamport
//! clock) never yield duplicate or per-thread decreasing values, under every interleaving.
#![cfg(quorate_loom)]

use loom::sync::Arc;
use loom::thread;
use quorate_clocks::{HybridClock, LamportClock, ManualClock, Timestamp};

const BASE: u64 = 1 << 40;

/// Counts explored interleavings, to prove the models really branch.
static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn hlc_now_recv_observe_unique_and_monotonic() {
    RUNS.store(0, std::sync::atomic::Ordering::SeqCst);
    loom::model(|| {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let wall = ManualClock::new(BASE);
        let clock = Arc::new(HybridClock::new(wall.clone()));
        let remote = Timestamp::from_parts(BASE + (3 << 16), 5);

        let c1 = Arc::clone(&clock);
        let t1 = thread::spawn(move || {
            let a = c1.now();
            let b = c1.recv(remote).unwrap();
            vec![a, b]
        });
        let c2 = Arc::clone(&clock);
        let w2 = wall.clone();
        let t2 = thread::spawn(move || {
            let a = c2.now();
            w2.advance_nanos(1 << 16);
            c2.observe(Timestamp::from_parts(BASE + (1 << 16), 9))
                .unwrap();
            let b = c2.now();
            vec![a, b]
        });
        let mut all = Vec::new();
        for h in [t1, t2] {
            let v = h.join().unwrap();
            assert!(v[0] < v[1], "per-thread order: {v:?}");
            all.extend(v);
        }
        assert!(all.iter().any(|t| *t > remote));
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "duplicate stamp");
    });
    let runs = RUNS.load(std::sync::atomic::Ordering::SeqCst);
    assert!(runs > 10, "loom explored only {runs} interleavings");
}

#[test]
fn hlc_counter_path_unique() {
    loom::model(|| {
        let clock = Arc::new(HybridClock::new(ManualClock::new(BASE)));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let c = Arc::clone(&clock);
                thread::spawn(move || {
                    let a = c.now();
                    let b = c.now();
                    assert!(a < b);
                    [a, b]
                })
            })
            .collect();
        let mut all: Vec<Timestamp> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 4);
    });
}

#[test]
fn lamport_ticks_unique() {
    loom::model(|| {
        let clock = Arc::new(LamportClock::new());
        let c = Arc::clone(&clock);
        let t = thread::spawn(move || [c.tick().unwrap(), c.recv(1).unwrap()]);
        let mine = [clock.tick().unwrap(), clock.tick().unwrap()];
        let theirs = t.join().unwrap();
        assert!(mine[0] < mine[1] && theirs[0] < theirs[1]);
        let mut all = vec![mine[0], mine[1], theirs[0], theirs[1]];
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4);
    });
}

/// A tick racing a jump of the clock to `u64::MAX` (a peer's stamp at the top of the range)
/// must fail with an overflow error, never wrap the shared counter to 0.
#[test]
fn lamport_tick_never_wraps_past_a_concurrent_jump() {
    for jump in [0u8, 1] {
        loom::model(move || {
            let clock = Arc::new(LamportClock::new());
            let c = Arc::clone(&clock);
            let t = thread::spawn(move || {
                if jump == 0 {
                    c.observe(u64::MAX);
                } else {
                    assert_eq!(c.recv(u64::MAX - 1), Ok(u64::MAX));
                }
            });
            let mine = clock.tick();
            t.join().unwrap();
            assert!(matches!(mine, Ok(1) | Err(_)), "tick returned {mine:?}");
            assert_eq!(clock.get(), u64::MAX, "the counter wrapped");
            assert!(clock.tick().is_err());
        });
    }
}
