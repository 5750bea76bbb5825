//! Version vector behaviour: absent == 0, the four relations, inline storage, iteration.

use core::cmp::Ordering;

use quorate_clocks::{Causality, CounterOverflow, Dot, VersionVector};

fn vv(entries: &[(u32, u64)]) -> VersionVector<u32> {
    entries.iter().copied().collect()
}

#[test]
fn absent_equals_zero() {
    // The `vclock` crate treats {a: 0} as greater than {}; here they are the same vector.
    let with_zero = vv(&[(1, 0)]);
    assert_eq!(with_zero, VersionVector::new());
    assert_eq!(with_zero.compare(&VersionVector::new()), Causality::Equal);
    let mut v = vv(&[(1, 3)]);
    v.set(1, 0);
    assert_eq!(v, VersionVector::new());
    assert_eq!(v.get(&9), 0);
}

#[test]
fn the_four_relations() {
    let a = vv(&[(1, 1), (2, 2)]);
    let b = vv(&[(1, 1), (2, 3)]);
    let c = vv(&[(1, 2), (2, 1)]);
    let d = vv(&[(1, 1), (2, 2), (3, 1)]);
    assert_eq!(a.compare(&a), Causality::Equal);
    assert_eq!(a.compare(&b), Causality::Before);
    assert_eq!(b.compare(&a), Causality::After);
    assert_eq!(a.compare(&c), Causality::Concurrent);
    assert_eq!(a.compare(&d), Causality::Before);
    assert_eq!(d.compare(&b), Causality::Concurrent);
    assert_eq!(a.partial_cmp(&b), Some(Ordering::Less));
    assert_eq!(a.partial_cmp(&c), None);
    assert!(a < b);
    assert!(b > a);
    assert!(a <= a.clone());
    let (lt, gt, le) = (a < c, a > c, a <= c);
    assert!(
        !lt && !gt && !le,
        "concurrent vectors are neither <, > nor <="
    );
    assert!(b.dominates(&a) && b.descends(&a) && a.descends(&a) && !a.dominates(&b));
    // Strict, as Riak's vclock:dominates/2: an equal vector does not dominate.
    assert!(!a.dominates(&a) && !a.dominates(&a.clone()));
    assert!(!c.dominates(&a) && !a.dominates(&c));
    // An actor only `other` has makes `self` not dominate, even when `self` is longer.
    assert!(!vv(&[(1, 5), (2, 5)]).dominates(&vv(&[(3, 1)])));
    assert!(!vv(&[(1, 5), (2, 5)]).descends(&vv(&[(3, 1)])));
}

#[test]
fn increment_observe_contains() {
    let mut v = VersionVector::new();
    assert_eq!(v.increment(4u32), Ok(Dot::new(4, 1)));
    assert_eq!(v.increment(4), Ok(Dot::new(4, 2)));
    v.observe(&Dot::new(2, 7));
    v.observe(&Dot::new(2, 3));
    v.observe(&Dot::new(9, 0));
    assert_eq!(v.iter().collect::<Vec<_>>(), [(&2, 7), (&4, 2)]);
    assert!(v.contains(&Dot::new(2, 7)) && !v.contains(&Dot::new(2, 8)));
    assert!(v.contains(&Dot::new(5, 0)));
    v.set(4, u64::MAX);
    assert_eq!(v.increment(4), Err(CounterOverflow));
    assert_eq!(v.get(&4), u64::MAX);
    assert_eq!(v.remove(&4), u64::MAX);
    assert_eq!(v.len(), 1);
}

#[test]
fn merge_glb() {
    let mut a = vv(&[(1, 5), (3, 1)]);
    let b = vv(&[(1, 2), (2, 4), (4, 4)]);
    a.merge(&b);
    assert_eq!(a, vv(&[(1, 5), (2, 4), (3, 1), (4, 4)]));
    assert_eq!(a.glb(&b), vv(&[(1, 2), (2, 4), (4, 4)]));
    assert_eq!(vv(&[(1, 1)]).glb(&vv(&[(2, 1)])), VersionVector::new());
}

#[test]
fn stays_inline_up_to_eight_actors_then_spills() {
    let mut v = VersionVector::new();
    for a in (0..8u32).rev() {
        v.increment(a).unwrap();
    }
    assert!(!v.spilled());
    assert_eq!(
        v.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    v.increment(100).unwrap();
    assert!(v.spilled());
    assert_eq!(v.len(), 9);
    // Large vectors built by merge stay sorted.
    let mut big: VersionVector<u32> = (0..200).step_by(2).map(|a| (a, 1)).collect();
    big.merge(&(1..200).step_by(2).map(|a| (a, 2)).collect());
    assert_eq!(big.len(), 200);
    assert!(big.iter().zip(big.iter().skip(1)).all(|(x, y)| x.0 < y.0));
    let cleared = {
        let mut c = big.clone();
        c.clear();
        c
    };
    assert!(cleared.is_empty());
}

#[test]
fn collections_traits() {
    let v: VersionVector<&str> = [("b", 1), ("a", 2), ("b", 3), ("c", 0)]
        .into_iter()
        .collect();
    assert_eq!(format!("{v:?}"), r#"{"a": 2, "b": 3}"#);
    let mut w = v.clone();
    w.extend([("a", 1), ("d", 4)]);
    assert_eq!(w.get(&"a"), 2);
    assert_eq!(w.get(&"d"), 4);
    let mut n = 0;
    for (_actor, counter) in &w {
        n += counter;
    }
    assert_eq!(n, 9);
    let from_dots: VersionVector<&str> = [Dot::new("x", 2), Dot::new("x", 1)].into_iter().collect();
    assert_eq!(from_dots.get(&"x"), 2);
    assert_eq!(from_dots.dots().collect::<Vec<_>>(), [Dot::new("x", 2)]);
    let mut r = w.clone();
    r.retain(|a, _| *a != "a");
    assert_eq!(r.get(&"a"), 0);
    assert_eq!(w.iter().next_back(), Some((&"d", 4)));
    assert_eq!(Causality::After.reverse(), Causality::Before);
}

#[test]
fn string_actors_drop_cleanly() {
    // Exercises the inline buffer's drop paths with an allocating actor type.
    let mut v: VersionVector<String> = VersionVector::new();
    for i in 0..12 {
        v.increment(format!("actor-{i:02}")).unwrap();
    }
    let mut small: VersionVector<String> = VersionVector::new();
    for i in 0..5 {
        small.increment(format!("n{i}")).unwrap();
    }
    small.remove(&"n2".to_string());
    let c = small.clone();
    drop(small);
    assert_eq!(c.len(), 4);
    v.merge(&c);
    assert_eq!(v.len(), 16);
}

/// Riak's vclock.erl `example_test`, restated: fresh vectors, increments, a merge, and which
/// of them descend from which.
#[test]
fn riak_vclock_example() {
    let fresh: VersionVector<char> = VersionVector::new();
    let mut a1 = fresh.clone();
    a1.increment('a').unwrap();
    let mut b1 = fresh.clone();
    b1.increment('b').unwrap();
    assert!(a1.descends(&fresh));
    assert!(b1.descends(&fresh));
    assert!(!a1.descends(&b1));
    let mut a2 = a1.clone();
    a2.increment('a').unwrap();
    let mut c = a2.clone();
    c.merge(&b1);
    let mut c1 = c.clone();
    c1.increment('c').unwrap();
    assert!(c1.descends(&a2));
    assert!(c1.descends(&b1));
    assert!(!b1.descends(&c1));
    assert!(!b1.descends(&a1));
}

/// Riak's vclock:dominates/2 is strict (`descends(A, B) andalso not descends(B, A)`),
/// vclock:descends/2 is not; the fresh vector descends from itself but does not dominate it.
#[test]
fn riak_dominates_is_strict_descends_is_not() {
    let fresh: VersionVector<char> = VersionVector::new();
    assert!(fresh.descends(&fresh) && !fresh.dominates(&fresh));
    let mut a = fresh.clone();
    a.increment('a').unwrap();
    assert!(a.dominates(&fresh) && !fresh.dominates(&a));
    let same = a.clone();
    assert!(a.descends(&same) && same.descends(&a));
    assert!(!a.dominates(&same) && !same.dominates(&a));
    let mut b = fresh.clone();
    b.increment('b').unwrap();
    // Concurrent: neither descends, neither dominates.
    assert!(!a.descends(&b) && !b.descends(&a) && !a.dominates(&b) && !b.dominates(&a));
    // Same length, one counter larger.
    let mut a2 = a.clone();
    a2.increment('a').unwrap();
    assert!(a2.dominates(&a) && !a.dominates(&a2));
}
