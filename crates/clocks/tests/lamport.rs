//! Lamport clocks, plain and atomic: tick, receive, observe, overflow.

use std::sync::Arc;

use quorate_clocks::{CounterOverflow, Lamport, LamportClock};

#[test]
fn plain_rules() {
    let mut c = Lamport::new();
    assert_eq!(c.tick(), Ok(1));
    assert_eq!(c.recv(10), Ok(11));
    assert_eq!(c.recv(3), Ok(12));
    c.observe(20);
    assert_eq!(c.get(), 20);
    c.observe(5);
    assert_eq!(c.get(), 20);
}

#[test]
fn plain_overflow_is_an_error_not_a_wrap() {
    let mut c = Lamport::at(u64::MAX - 1);
    assert_eq!(c.tick(), Ok(u64::MAX));
    assert_eq!(c.tick(), Err(CounterOverflow));
    assert_eq!(c.get(), u64::MAX);
    let mut d = Lamport::new();
    assert_eq!(d.recv(u64::MAX), Err(CounterOverflow));
    assert_eq!(d.get(), 0);
}

#[test]
fn atomic_rules_and_overflow() {
    let c = LamportClock::new();
    assert_eq!(c.tick(), Ok(1));
    assert_eq!(c.recv(10), Ok(11));
    c.observe(30);
    assert_eq!(c.tick(), Ok(31));
    let full = LamportClock::at(u64::MAX - 1);
    assert_eq!(full.tick(), Ok(u64::MAX));
    assert_eq!(full.tick(), Err(CounterOverflow));
    assert_eq!(full.recv(0), Err(CounterOverflow));
    assert_eq!(full.get(), u64::MAX);
    // Near the limit the checked path is used and still counts by one.
    let near = LamportClock::at(u64::MAX - (1 << 40));
    assert_eq!(near.tick(), Ok(u64::MAX - (1 << 40) + 1));
}

#[test]
fn atomic_ticks_are_unique_across_threads() {
    let c = Arc::new(LamportClock::new());
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || (0..10_000).map(|_| c.tick().unwrap()).collect::<Vec<_>>())
        })
        .collect();
    let mut all: Vec<u64> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=40_000).collect::<Vec<_>>());
}
