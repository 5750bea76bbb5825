//! A dot issued for two different entries (two replicas sharing an actor id: a cloned VM, a
//! restored backup) is caught at join time, as the `crdts` crate's `Orswot::validate_merge`
//! catches a dot naming two members: a typed error naming the dot and both entries, and the
//! local replica unchanged.

use std::collections::BTreeMap;

use proptest::prelude::*;
use quorate_clocks::Dot;
use quorate_crdt::{
    Causal, CausalContext, Crdt, DeltaCrdt, DotMap, DotSet, DotStore, Embed, EwFlag, MvReg, OrMap,
    OrSet, RwSet, ValidationError,
};

fn collision(dot: &str, local: &str, peer: &str) -> ValidationError {
    ValidationError::DotCollision {
        dot: dot.into(),
        local: local.into(),
        peer: peer.into(),
    }
}

/// `local.try_join(peer)`, `try_join_owned` and `try_join_delta` of `delta` and of the full
/// state all fail with `expected`, and leave `local` as it was.
fn rejected<C: DeltaCrdt<u8>>(local: &C, peer: &C, delta: &C::Delta, expected: &ValidationError) {
    let mut x = local.clone();
    assert_eq!(x.try_join(peer).as_ref(), Err(expected));
    assert_eq!(&x, local, "a rejected join changed the replica");
    assert_eq!(x.try_join_owned(peer.clone()).as_ref(), Err(expected));
    assert_eq!(&x, local);
    assert_eq!(x.try_join_delta(delta).as_ref(), Err(expected));
    assert_eq!(&x, local, "a rejected delta changed the replica");
    assert_eq!(x.try_join_delta(&peer.to_delta()).as_ref(), Err(expected));
    assert_eq!(&x, local);
    // Each side alone is valid: only the pair is inconsistent.
    assert!(local.validate().is_ok() && peer.validate().is_ok());
}

#[test]
fn or_set_two_replicas_one_actor_two_elements() {
    // Two replicas both believe they are actor 1, and both add under dot 1:1.
    let mut a = OrSet::<&str, u8>::new();
    let mut b = OrSet::<&str, u8>::new();
    a.add(1, "x").unwrap();
    let d = b.add(1, "y").unwrap();
    rejected(&a, &b, &d, &collision("1:1", "\"x\"", "\"y\""));
    rejected(&b, &a, &a.to_delta(), &collision("1:1", "\"y\"", "\"x\""));
}

#[test]
fn collision_is_found_among_many_shared_dots() {
    // A correct history shared by both, then the clone diverges.
    let mut a = OrSet::<u32, u8>::new();
    for i in 0..500 {
        a.add(i as u8 % 3 + 1, i).unwrap();
    }
    let mut b = a.clone();
    a.add(2, 10_000).unwrap();
    let d = b.add(2, 20_000).unwrap();
    let dot = format!("2:{}", a.context().version_vector().get(&2));
    rejected(&a, &b, &d, &collision(&dot, "10000", "20000"));
}

#[test]
fn collision_is_found_when_the_retirement_records_differ() {
    // A shared history with a departed actor 9, then the clone diverges under actor 1 and only
    // `a` retires actor 9: the join cannot share the validation walk (the records differ), so
    // the stand-alone check renames `b` as the join would and walks both stores.
    let mut a = OrSet::<u32, u8>::new();
    for i in 0..50 {
        a.add(if i % 2 == 0 { 1 } else { 9 }, i).unwrap();
    }
    let mut b = a.clone();
    a.add(1, 10_000).unwrap();
    b.add(1, 20_000).unwrap();
    a.retire(&9, 1).unwrap();
    let dot = format!("1:{}", b.context().version_vector().get(&1));
    let expected = collision(&dot, "20000", "10000");
    let mut x = b.clone();
    assert_eq!(x.try_join(&a), Err(expected.clone()));
    assert_eq!(x, b, "a rejected join changed the replica");
    assert_eq!(x.try_join_owned(a.clone()), Err(expected.clone()));
    assert_eq!(x.try_join_delta(&a.to_delta()), Err(expected));
    assert_eq!(x, b);
    // Without the clash the same pair joins.
    let mut c = b.clone();
    c.remove(&20_000);
    let mut a2 = a.clone();
    a2.remove(&10_000);
    assert!(c.try_join(&a2).is_ok());
}

#[test]
fn the_same_element_under_the_same_dot_is_no_collision() {
    // crdts' validate_merge accepts a dot both sides hold for the same member.
    let mut a = OrSet::<&str, u8>::new();
    let d = a.add(1, "x").unwrap();
    let mut b = a.clone();
    b.try_join(&a).unwrap();
    b.try_join_delta(&d).unwrap();
    assert_eq!(a, b);
    // A re-delivered add of an element removed since is dropped, not a collision.
    b.remove(&"x");
    let before = b.clone();
    b.try_join_delta(&d).unwrap();
    assert_eq!(b, before);
}

#[test]
fn rw_set_collision_names_both_elements() {
    let mut a = RwSet::<u32, u8>::new();
    let mut b = RwSet::<u32, u8>::new();
    a.add(1, 7).unwrap();
    let d = b.add(1, 8).unwrap();
    rejected(&a, &b, &d, &collision("1:1", "7 = true", "8 = true"));
    // Same element, same dot, but one is an add and the other a remove.
    let mut c = RwSet::<u32, u8>::new();
    let d = c.remove(1, 7).unwrap();
    rejected(&a, &c, &d, &collision("1:1", "7 = true", "7 = false"));
}

#[test]
fn mv_reg_same_dot_two_values() {
    let mut a = MvReg::<&str, u8>::new();
    let mut b = MvReg::<&str, u8>::new();
    a.write(1, "x").unwrap();
    let d = b.write(1, "y").unwrap();
    rejected(&a, &b, &d, &collision("1:1", "\"x\"", "\"y\""));
}

#[test]
fn or_map_keys_and_nested_elements() {
    type M = OrMap<String, OrSet<u32, u8>, u8>;
    let mut a = M::new();
    let mut b = M::new();
    a.update("k".into(), |s| s.add_delta(1, 5)).unwrap();
    // Another key under the same dot.
    let d = b.update("j".into(), |s| s.add_delta(1, 5)).unwrap();
    rejected(&a, &b, &d, &collision("1:1", "\"k\" / 5", "\"j\" / 5"));
    // The same key, another nested element under the same dot.
    let mut c = M::new();
    let d = c.update("k".into(), |s| s.add_delta(1, 6)).unwrap();
    rejected(&a, &c, &d, &collision("1:1", "\"k\" / 5", "\"k\" / 6"));
    // Registers nested in a map: the same key and dot, two values.
    type R = OrMap<u8, MvReg<u8, u8>, u8>;
    let mut x = R::new();
    let mut y = R::new();
    x.update(1, |r| r.write_delta(1, 10)).unwrap();
    let d = y.update(1, |r| r.write_delta(1, 20)).unwrap();
    rejected(&x, &y, &d, &collision("1:1", "1 = 10", "1 = 20"));
}

#[test]
fn collision_is_found_in_a_large_nested_map() {
    // Few keys holding many dots: the duplicate bitmaps are not laid out in advance for so few
    // entries, and grow from hash sets as the walk meets the dots.
    type M = OrMap<u8, OrSet<u32, u8>, u8>;
    let mut a = M::new();
    for i in 0..3000u32 {
        a.update((i % 2) as u8, |s| s.add_delta(1, i)).unwrap();
    }
    let mut b = a.clone();
    a.update(0, |s| s.add_delta(1, 100_000)).unwrap();
    let d = b.update(1, |s| s.add_delta(1, 200_000)).unwrap();
    rejected(&a, &b, &d, &collision("1:3001", "0 / 100000", "1 / 200000"));
    // Without a clash the validated joins agree with the plain join.
    let mut other = a.clone();
    other.update(1, |s| s.add_delta(2, 7)).unwrap();
    let mut plain = a.clone();
    plain.join(&other);
    let mut c = a.clone();
    c.try_join(&other).unwrap();
    assert_eq!(c, plain);
    let mut c = a.clone();
    c.try_join_delta(&other.to_delta()).unwrap();
    assert_eq!(c, plain);
}

#[test]
fn a_flag_cannot_collide() {
    // An enable-wins flag has one entry: the same dot always means the same thing.
    let mut a = EwFlag::<u8>::new();
    let mut b = EwFlag::<u8>::new();
    a.enable(1).unwrap();
    b.enable(1).unwrap();
    a.try_join(&b).unwrap();
    assert!(a.is_enabled());
}

/// An OR-set built from raw entries and a context (checked only by the joins under test).
fn raw_set(entries: &[(u32, &[(u8, u64)])], cc: &[(u8, u64)]) -> OrSet<u32, u8> {
    let store: DotMap<u32, DotSet<u8>> = entries
        .iter()
        .map(|(k, ds)| (*k, ds.iter().map(|&(a, c)| Dot::new(a, c)).collect()))
        .collect();
    let cc: CausalContext<u8> = cc.iter().map(|&(a, c)| Dot::new(a, c)).collect();
    OrSet::from_causal(Causal::new_unchecked(store, cc))
}

#[test]
fn collision_is_found_with_sparse_counters_too() {
    // Counters far beyond the number of entries are kept in hash sets, not bitmaps.
    let big = 1_000_000_000u64;
    let a = raw_set(&[(1, &[(3, big)]), (2, &[(4, 1)])], &[(3, big), (4, 1)]);
    let b = raw_set(&[(2, &[(4, 1)]), (7, &[(3, big)])], &[(3, big), (4, 1)]);
    let dot = format!("3:{big}");
    rejected(&a, &b, &b.to_delta(), &collision(&dot, "1", "7"));
    rejected(&b, &a, &a.to_delta(), &collision(&dot, "7", "1"));
}

#[test]
fn collision_is_found_before_and_after_the_local_entry() {
    // The peer's entry for the shared dot comes before, or after, the local one in key order.
    let cc = [(1, 1), (1, 2)];
    let a = raw_set(&[(5, &[(1, 2)]), (6, &[(1, 1)])], &cc);
    let before = raw_set(&[(3, &[(1, 2)]), (6, &[(1, 1)])], &cc);
    let after = raw_set(&[(6, &[(1, 1)]), (9, &[(1, 2)])], &cc);
    rejected(&a, &before, &before.to_delta(), &collision("1:2", "5", "3"));
    rejected(&a, &after, &after.to_delta(), &collision("1:2", "5", "9"));
}

#[test]
fn an_invalid_peer_is_reported_as_invalid_before_any_collision() {
    // The peer both collides (1:2 under 3, held under 5 here) and stores a dot twice: the
    // validation error wins, as it would for a replica with no shared dots.
    let cc = [(1, 1), (1, 2)];
    let a = raw_set(&[(5, &[(1, 2)])], &cc);
    let dup = raw_set(&[(3, &[(1, 2)]), (8, &[(1, 1)]), (9, &[(1, 1)])], &cc);
    let expected = ValidationError::DuplicateDot { dot: "1:1".into() };
    assert_eq!(a.clone().try_join(&dup), Err(expected.clone()));
    assert_eq!(a.clone().try_join_delta(&dup.to_delta()), Err(expected));
    // A peer holding the local dot at the same place and again elsewhere is a duplicate too.
    let twice = raw_set(&[(5, &[(1, 2)]), (6, &[(1, 2)])], &cc);
    let expected = ValidationError::DuplicateDot { dot: "1:2".into() };
    assert_eq!(a.clone().try_join(&twice), Err(expected.clone()));
    assert_eq!(a.clone().try_join_delta(&twice.to_delta()), Err(expected));
    let outside = raw_set(&[(3, &[(1, 2)]), (4, &[(1, 7)])], &cc);
    let expected = ValidationError::DotNotInContext { dot: "1:7".into() };
    assert_eq!(a.clone().try_join(&outside), Err(expected));
}

/// Builds a replica from (actor, add?, element) operations.
fn replica_of(ops: &[(u8, bool, u8)]) -> OrSet<u8, u8> {
    let mut s = OrSet::new();
    for &(actor, add, x) in ops {
        if add {
            s.add(actor, x).unwrap();
        } else {
            s.remove(&x);
        }
    }
    s
}

/// Where each dot is stored.
fn owners(s: &OrSet<u8, u8>) -> BTreeMap<Dot<u8>, u8> {
    s.iter()
        .flat_map(|x| {
            let dots = s.as_causal().store().get(x).map(DotStore::dots);
            dots.into_iter().flatten().map(move |d| (d, *x))
        })
        .collect()
}

/// The replicas of `prefix` then `left` and of `prefix` then `right` (two replicas that share
/// their actor ids and a common history, then diverge), and whether some dot is stored on both
/// sides for different elements.
fn diverged(
    prefix: &[(u8, bool, u8)],
    left: &[(u8, bool, u8)],
    right: &[(u8, bool, u8)],
) -> (OrSet<u8, u8>, OrSet<u8, u8>, bool) {
    let a = replica_of(&[prefix, left].concat());
    let b = replica_of(&[prefix, right].concat());
    let (oa, ob) = (owners(&a), owners(&b));
    let clash = oa.iter().any(|(d, x)| ob.get(d).is_some_and(|y| y != x));
    (a, b, clash)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Two replicas that share actor 1 and a common prefix of operations, then diverge: the
    /// join is rejected exactly when some dot is stored on both sides for different elements,
    /// and a rejected join changes nothing.
    #[test]
    fn rejected_exactly_when_a_shared_dot_names_two_elements(
        prefix in proptest::collection::vec((Just(1u8), any::<bool>(), 0u8..4), 0..8),
        left in proptest::collection::vec((Just(1u8), any::<bool>(), 0u8..4), 0..8),
        right in proptest::collection::vec((Just(1u8), any::<bool>(), 0u8..4), 0..8),
    ) {
        let (a, b, clash) = diverged(&prefix, &left, &right);
        let mut j = a.clone();
        let res = j.try_join(&b);
        prop_assert_eq!(res.is_err(), clash, "{:?}", res);
        if let Err(e) = res {
            prop_assert!(matches!(e, ValidationError::DotCollision { .. }), "{}", e);
            prop_assert_eq!(&j, &a);
        }
        let mut j = a.clone();
        prop_assert_eq!(j.try_join_delta(&b.to_delta()).is_err(), clash);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Several actor ids, each shared by both replicas after a common prefix: every kind of
    /// join (state, state by value, full delta, catch-up delta with kept dots) is rejected
    /// exactly when a dot is stored on both sides for different elements, and otherwise gives
    /// the plain join's result.
    #[test]
    fn every_join_agrees_on_collisions_with_shared_actors(
        prefix in proptest::collection::vec((1u8..4, any::<bool>(), 0u8..6), 0..12),
        left in proptest::collection::vec((1u8..4, any::<bool>(), 0u8..6), 0..12),
        right in proptest::collection::vec((1u8..4, any::<bool>(), 0u8..6), 0..12),
    ) {
        let base = replica_of(&prefix);
        let (a, b, clash) = diverged(&prefix, &left, &right);
        let mut plain = a.clone();
        plain.join(&b);
        let catch_up = b.delta_since(&base.summary());
        let results = [
            ("state", { let mut j = a.clone(); (j.try_join(&b), j) }),
            ("owned", { let mut j = a.clone(); (j.try_join_owned(b.clone()), j) }),
            ("full delta", { let mut j = a.clone(); (j.try_join_delta(&b.to_delta()), j) }),
            ("catch-up delta", { let mut j = a.clone(); (j.try_join_delta(&catch_up), j) }),
        ];
        for (what, (res, j)) in results {
            prop_assert_eq!(res.is_err(), clash, "{}: {:?}", what, res);
            match res {
                Err(e) => {
                    prop_assert!(matches!(e, ValidationError::DotCollision { .. }), "{}: {}", what, e);
                    prop_assert_eq!(&j, &a, "{}", what);
                }
                Ok(()) => prop_assert_eq!(&j, &plain, "{}", what),
            }
        }
    }
}
