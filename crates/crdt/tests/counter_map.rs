//! Counters nested in an OR-map (Riak DT's map with its embedded counter, Akka's
//! `PNCounterMap`), with reset-remove: a remove forgets exactly the increments it observed and
//! concurrent increments survive.

use quorate_clocks::CounterOverflow;
use quorate_crdt::laws::check_mutator;
use quorate_crdt::{Crdt, DeltaCrdt, GCounter, OrMap, PnCounter};

type Views = OrMap<&'static str, GCounter<u8>, u8>;
type Stock = OrMap<&'static str, PnCounter<u8>, u8>;

fn views(m: &Views, k: &'static str) -> Option<u128> {
    m.get(&k).map(|c| c.value())
}

fn stock(m: &Stock, k: &'static str) -> Option<i128> {
    m.get(&k).map(|c| c.value())
}

#[test]
fn increments_add_up_per_key_and_merge() {
    // Akka's PNCounterMap documentation example: increment and decrement by key.
    let mut a = Stock::new();
    let mut b = Stock::new();
    a.increment("a", 1, 7).unwrap();
    a.decrement("b", 1, 2).unwrap();
    b.increment("c", 2, 1).unwrap();
    a.join(&b);
    assert_eq!(
        (stock(&a, "a"), stock(&a, "b"), stock(&a, "c")),
        (Some(7), Some(-2), Some(1))
    );
    b.join(&a);
    assert_eq!(a, b);
}

#[test]
fn remove_forgets_observed_increments_and_concurrent_ones_survive() {
    let mut a = Views::new();
    a.increment("k", 1, 5).unwrap();
    a.increment("k", 2, 3).unwrap();
    let mut b = a.clone();
    // b removes everything it observed (8); a, concurrently, adds 2 as actor 1 and 4 as actor 3.
    let rm = b.remove(&"k");
    a.increment("k", 1, 2).unwrap();
    a.increment("k", 3, 4).unwrap();
    let mut ab = a.clone();
    ab.try_join(&b).unwrap();
    // Only the concurrent increments survive, including actor 1's, whose earlier 5 is forgotten.
    assert_eq!(views(&ab, "k"), Some(6));
    assert_eq!(ab.get(&"k").map(|c| c.get(&1)), Some(2));
    let mut ad = a.clone();
    ad.try_join_delta(&rm).unwrap();
    assert_eq!(ad, ab);
    // A remove that observed everything empties the key.
    let mut all = ab.clone();
    all.remove(&"k");
    assert!(!all.contains_key(&"k"));
    ab.join(&all);
    assert_eq!(views(&ab, "k"), None);
}

#[test]
fn a_removed_key_starts_again_from_zero() {
    let mut m = Stock::new();
    m.increment("k", 1, 10).unwrap();
    m.remove(&"k");
    m.decrement("k", 1, 1).unwrap();
    assert_eq!(stock(&m, "k"), Some(-1));
}

#[test]
fn deltas_reproduce_their_mutations() {
    let mut m = Stock::new();
    let before = m.clone();
    let d = m.increment("x", 1, 3).unwrap();
    check_mutator(&before, &m, &d).unwrap();
    let before = m.clone();
    let d = m.decrement("x", 2, 1).unwrap();
    check_mutator(&before, &m, &d).unwrap();
    let before = m.clone();
    let d = m.remove_delta(&"x");
    m.join_delta(&d);
    check_mutator(&before, &m, &d).unwrap();
    assert!(m.is_empty());
}

#[test]
fn overflow_is_a_typed_error_and_changes_nothing() {
    let mut m = Views::new();
    m.increment("k", 1, u64::MAX - 1).unwrap();
    let before = m.clone();
    assert_eq!(m.increment("k", 1, 2), Err(CounterOverflow));
    assert_eq!(m, before);
    // Another actor's entry and another key are independent.
    m.increment("k", 2, u64::MAX).unwrap();
    m.increment("j", 1, 5).unwrap();
    assert_eq!(views(&m, "k"), Some(2 * u128::from(u64::MAX) - 1));
    let mut p = Stock::new();
    p.decrement("k", 1, u64::MAX).unwrap();
    assert_eq!(p.decrement("k", 1, 1), Err(CounterOverflow));
    p.increment("k", 1, u64::MAX).unwrap();
    assert_eq!(stock(&p, "k"), Some(0));
    assert!(
        p.contains_key(&"k"),
        "a key stays present while its changes survive"
    );
}

#[test]
fn delta_since_catches_a_peer_up() {
    let mut a = Stock::new();
    let mut b = Stock::new();
    a.increment("x", 1, 2).unwrap();
    b.try_join(&a).unwrap();
    a.decrement("x", 1, 5).unwrap();
    a.remove(&"x");
    a.increment("y", 1, 1).unwrap();
    b.try_join_delta(&a.delta_since(&b.summary())).unwrap();
    assert_eq!(a, b);
    assert_eq!((stock(&b, "x"), stock(&b, "y")), (None, Some(1)));
}
