//! Stress: two threads each take two million HLC stamps; there must be zero duplicates and
//! each thread's stamps must be strictly increasing.
//!
//! Kept fast enough for debug builds: the hot loop only stores raw `u64`s into a
//! pre-allocated vector, and the duplicate check is one sort of four million integers.

use std::sync::{Arc, Barrier};

use quorate_clocks::{CoarseClock, HybridClock, SystemClock, WallClock};

const PER_THREAD: usize = 2_000_000;

fn stamp_concurrently<W: WallClock + 'static>(clock: HybridClock<W>, mix: bool) -> Vec<u64> {
    let clock = Arc::new(clock);
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let clock = Arc::clone(&clock);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut out = Vec::with_capacity(PER_THREAD);
                barrier.wait();
                for i in 0..PER_THREAD {
                    let s = if mix && i % 64 == 63 {
                        // Occasionally receive our own latest stamp or observe it.
                        let last = clock.now();
                        if t == 0 {
                            clock.recv(last).unwrap_or(last)
                        } else {
                            let _ = clock.observe(last);
                            clock.now()
                        }
                    } else {
                        clock.now()
                    };
                    out.push(s.as_u64());
                }
                out
            })
        })
        .collect();
    let mut all = Vec::with_capacity(2 * PER_THREAD);
    for h in handles {
        let v = h.join().expect("thread");
        assert!(
            v.windows(2).all(|w| w[0] < w[1]),
            "a thread saw a non-increasing stamp"
        );
        all.extend(v);
    }
    all
}

fn assert_unique(mut all: Vec<u64>) {
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "{} duplicate stamps", n - all.len());
}

#[test]
fn two_threads_two_million_stamps_each_no_duplicates() {
    assert_unique(stamp_concurrently(HybridClock::new(SystemClock), false));
}

#[test]
fn coarse_clock_with_recv_and_observe_no_duplicates() {
    // A millisecond-grained clock makes the logical counter do most of the work (and carry).
    assert_unique(stamp_concurrently(HybridClock::new(CoarseClock), true));
}
