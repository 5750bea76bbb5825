//! Counters: checked overflow, reads that never wrap, actor retirement.

use quorate_clocks::CounterOverflow;
use quorate_crdt::{Crdt, DeltaCrdt, GCounter, PnCounter, RetireError};

#[test]
fn increment_overflow_is_a_typed_error_and_changes_nothing() {
    let mut c = GCounter::<u8>::new();
    c.increment(1, u64::MAX - 1).unwrap();
    let before = c.clone();
    assert_eq!(c.increment(1, 2), Err(CounterOverflow));
    assert_eq!(c, before);
    let mut p = PnCounter::<u8>::new();
    p.decrement(1, u64::MAX).unwrap();
    assert_eq!(p.decrement(1, 1), Err(CounterOverflow));
    assert_eq!(p.value(), -i128::from(u64::MAX));
}

#[test]
fn value_never_wraps_across_many_saturated_actors() {
    let mut c = GCounter::<u32>::new();
    let mut p = PnCounter::<u32>::new();
    for a in 0..200 {
        c.increment(a, u64::MAX).unwrap();
        p.increment(a, u64::MAX).unwrap();
    }
    assert_eq!(c.value(), 200 * u128::from(u64::MAX));
    assert_eq!(p.value(), 200 * i128::from(u64::MAX));
}

#[test]
fn merge_takes_per_actor_maximum() {
    let mut a = PnCounter::<u8>::new();
    let mut b = PnCounter::<u8>::new();
    a.increment(1, 5).unwrap();
    b.join(&a);
    b.increment(1, 2).unwrap();
    b.decrement(2, 3).unwrap();
    a.join(&b);
    a.join(&b);
    assert_eq!(a.value(), 4);
    assert_eq!(a, b);
}

#[test]
fn delta_since_sends_only_newer_entries() {
    let mut a = GCounter::<u8>::new();
    for actor in 0..10 {
        a.increment(actor, 1).unwrap();
    }
    let mut b = a.clone();
    a.increment(3, 1).unwrap();
    let d = a.delta_since(&b.summary());
    assert_eq!(d.actors(), 1);
    b.join_delta(&d);
    assert_eq!(a, b);
}

#[test]
fn retiring_an_actor_folds_its_count_and_ignores_stale_entries() {
    let mut a = GCounter::<u8>::new();
    a.increment(1, 10).unwrap();
    a.increment(9, 5).unwrap();
    let stale = a.clone(); // still holds actor 9's entry
    a.retire(&9, &1).unwrap();
    assert_eq!(a.value(), 15);
    assert_eq!(a.actors(), 1);
    a.join(&stale);
    assert_eq!(
        a.value(),
        15,
        "stale entry of a retired actor is not counted twice"
    );
    let mut b = stale.clone();
    b.join(&a);
    assert_eq!(b.value(), 15);
    assert_eq!(b.actors(), 1);
    assert_eq!(a, b);
    assert_eq!(a.retire(&1, &1), Err(RetireError::SameActor));
}

#[test]
fn retiring_into_a_saturated_entry_is_an_error() {
    let mut p = PnCounter::<u8>::new();
    p.increment(1, u64::MAX).unwrap();
    p.increment(2, 1).unwrap();
    let before = p.clone();
    assert_eq!(p.retire(&2, &1), Err(RetireError::Overflow));
    assert_eq!(p, before);
}
