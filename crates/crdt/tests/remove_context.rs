//! Removes that carry the context the client observed (`remove_with_context`), as `crdts`'
//! `Orswot::rm` with a read context and its deferred removes: exactly the element's dots the
//! context covers are removed, including dots not received yet (dropped on arrival); other
//! elements' dots are never touched.

use proptest::prelude::*;
use quorate_clocks::{decode_exact, encode_to_vec};
use quorate_crdt::laws::random_states;
use quorate_crdt::{Crdt, DeltaCrdt, EwFlag, GCounter, MvReg, OrMap, OrSet};

#[test]
fn a_remove_ahead_of_the_add_it_saw_is_deferred_until_the_add_arrives() {
    // crdts' deferred-remove case: the remover has not seen the add its context covers.
    let mut a = OrSet::<u32, u8>::new();
    let add = a.add(1, 77).unwrap();
    let seen = a.summary();
    let mut b = OrSet::<u32, u8>::new();
    let rm = b.remove_with_context(&77, &seen);
    assert!(
        !rm.context().version_vector().descends(&seen),
        "nothing held to remove yet"
    );
    let b_pending = b.clone();
    // By delta...
    b.try_join_delta(&add).unwrap();
    assert!(!b.contains(&77));
    // ...by full state...
    let mut b2 = b_pending.clone();
    b2.try_join(&a).unwrap();
    assert!(!b2.contains(&77));
    // ...and on a third replica that gets the add first and the remove's delta later, or the
    // remover's whole state.
    let mut c = OrSet::<u32, u8>::new();
    c.try_join_delta(&add).unwrap();
    c.try_join_delta(&rm).unwrap();
    assert!(!c.contains(&77));
    let mut c2 = OrSet::<u32, u8>::new();
    c2.try_join_delta(&add).unwrap();
    c2.try_join(&b_pending).unwrap();
    assert!(!c2.contains(&77));
    // Once everyone has seen everything, no deferred remove is left: equal states encode
    // identically whatever the path.
    a.try_join_delta(&rm).unwrap();
    for x in [&b, &b2, &c, &c2] {
        assert_eq!(x, &a);
        assert_eq!(encode_to_vec(x), encode_to_vec(&a));
    }
}

#[test]
fn other_elements_are_never_touched() {
    // The client's context covers an add of "bar" that the remover has not received: removing
    // "foo" must not drop it, now or when it arrives.
    let mut a = OrSet::<&str, u8>::new();
    a.add(1, "foo").unwrap();
    let bar = a.add(1, "bar").unwrap();
    let seen = a.summary();
    let mut c = OrSet::<&str, u8>::new();
    c.remove_with_context(&"foo", &seen);
    c.try_join_delta(&bar).unwrap();
    assert!(c.contains(&"bar") && !c.contains(&"foo"));
    c.try_join(&a).unwrap();
    assert_eq!(c.iter().copied().collect::<Vec<_>>(), ["bar"]);
}

#[test]
fn adds_the_context_does_not_cover_survive() {
    let mut a = OrSet::<&str, u8>::new();
    a.add(1, "x").unwrap();
    let seen = a.summary();
    let mut b = a.clone();
    let readd = a.add(2, "x").unwrap(); // concurrent with the client's remove
    let rm = b.remove_with_context(&"x", &seen);
    assert!(!b.contains(&"x"));
    b.try_join_delta(&readd).unwrap();
    a.try_join_delta(&rm).unwrap();
    assert!(a.contains(&"x") && b.contains(&"x"), "add wins");
    assert_eq!(a, b);
}

#[test]
fn a_context_older_than_the_replica_removes_only_what_it_covers() {
    let mut a = OrSet::<u32, u8>::new();
    a.add(1, 7).unwrap();
    let seen = a.summary();
    a.add(1, 7).unwrap(); // a later add of the same element, which the client did not see
    let before = a.clone();
    let rm = a.remove_with_context(&7, &seen);
    assert!(a.contains(&7));
    assert_eq!(a.as_causal().store().get(&7).map(|s| s.len()), Some(1));
    // Nothing left to defer: this replica has seen all of `seen`.
    let mut again = before.clone();
    again.try_join_delta(&rm).unwrap();
    assert_eq!(again, a);
}

#[test]
fn or_map_remove_with_context_is_per_key_and_nested() {
    type M = OrMap<&'static str, OrSet<u32, u8>, u8>;
    let mut a = M::new();
    let d1 = a.update("k", |s| s.add_delta(1, 1)).unwrap();
    let d2 = a.update("k", |s| s.add_delta(1, 2)).unwrap();
    let dj = a.update("j", |s| s.add_delta(1, 3)).unwrap();
    let seen = a.summary();
    let d3 = a.update("k", |s| s.add_delta(2, 4)).unwrap(); // not seen by the client
    let mut b = M::new();
    b.try_join_delta(&d1).unwrap();
    let rm = b.remove_with_context(&"k", &seen);
    for d in [&d3, &dj, &d2] {
        b.try_join_delta(d).unwrap();
    }
    let k = b.get(&"k").expect("the unseen update survives");
    assert_eq!(k.iter().copied().collect::<Vec<_>>(), [4]);
    assert!(
        b.get(&"j").is_some_and(|s| s.contains(&3)),
        "other keys untouched"
    );
    a.try_join_delta(&rm).unwrap();
    assert_eq!(a, b);
    // Counters: a remove with context forgets exactly the increments the client saw.
    let mut c = OrMap::<&str, GCounter<u8>, u8>::new();
    let i1 = c.increment("v", 1, 5).unwrap();
    let seen = c.summary();
    let i2 = c.increment("v", 2, 3).unwrap();
    let mut r = OrMap::<&str, GCounter<u8>, u8>::new();
    r.remove_with_context(&"v", &seen);
    r.try_join_delta(&i2).unwrap();
    r.try_join_delta(&i1).unwrap();
    assert_eq!(r.get(&"v").map(|g| g.value()), Some(3));
}

#[test]
fn a_hand_built_wide_context_counts_as_seen() {
    // The documented rule for deltas: their context joins the replica's. Held dots of keys the
    // delta does not name stay; dots of those keys that arrive later are dropped.
    let mut a = OrMap::<u8, EwFlag<u8>, u8>::new();
    let on1 = a.update(1, |f| f.enable_delta(1)).unwrap();
    let on2 = a.update(2, |f| f.enable_delta(1)).unwrap();
    let wide = {
        let mut b = OrMap::<u8, EwFlag<u8>, u8>::new();
        b.try_join_delta(&on1).unwrap();
        b.try_join_delta(&on2).unwrap();
        // A remove of key 1 whose context is widened by hand to everything b saw.
        let narrow = b.remove_delta(&1);
        quorate_crdt::CausalDelta::new_unchecked(narrow.store().clone(), b.context().clone())
    };
    let mut holder = OrMap::<u8, EwFlag<u8>, u8>::new();
    holder.try_join_delta(&on1).unwrap();
    holder.try_join_delta(&on2).unwrap();
    holder.try_join_delta(&wide).unwrap();
    assert!(
        !holder.contains_key(&1) && holder.contains_key(&2),
        "held dots of key 2 stay"
    );
    let mut late = OrMap::<u8, EwFlag<u8>, u8>::new();
    late.try_join_delta(&on1).unwrap();
    late.try_join_delta(&wide).unwrap();
    late.try_join_delta(&on2).unwrap();
    assert!(
        !late.contains_key(&2),
        "a covered dot arriving later counts as removed"
    );
    // remove_with_context, by contrast, keeps key 2's late dot.
    let mut exact = OrMap::<u8, EwFlag<u8>, u8>::new();
    exact.try_join_delta(&on1).unwrap();
    exact.remove_with_context(&1, &a.summary());
    exact.try_join_delta(&on2).unwrap();
    assert!(!exact.contains_key(&1) && exact.contains_key(&2));
}

#[test]
fn deferred_removes_round_trip_and_validate() {
    let mut a = OrSet::<u32, u8>::new();
    a.add(1, 5).unwrap();
    let mut b = OrSet::<u32, u8>::new();
    let rm = b.remove_with_context(&5, &a.summary());
    assert!(b.validate().is_ok() && b.is_empty());
    assert_ne!(b, OrSet::new(), "the deferred remove is part of the state");
    let bytes = encode_to_vec(&b);
    assert_eq!(decode_exact::<OrSet<u32, u8>>(&bytes).unwrap(), b);
    let bytes = encode_to_vec(&rm);
    assert_eq!(
        decode_exact::<quorate_crdt::OrSetDelta<u32, u8>>(&bytes).unwrap(),
        rm
    );
    // Delta groups carry deferred removes too.
    let mut group = rm.clone();
    let add = a.add(1, 6).unwrap();
    OrSet::merge_delta(&mut group, &add);
    let mut c = OrSet::<u32, u8>::new();
    c.try_join_delta(&group).unwrap();
    c.try_join(&a).unwrap();
    assert_eq!(c.iter().copied().collect::<Vec<_>>(), [6]);
    // Registers: an MvReg nested in a map, removed with an older context, keeps the newer write.
    let mut m = OrMap::<u8, MvReg<u8, u8>, u8>::new();
    m.update(1, |r| r.write_delta(1, 10)).unwrap();
    let seen = m.summary();
    m.update(1, |r| r.write_delta(2, 20)).unwrap();
    m.remove_with_context(&1, &seen);
    assert_eq!(
        m.get(&1).map(|r| r.values().copied().collect::<Vec<_>>()),
        Some(vec![20])
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A remove with the context a client read from replica `r` has, once everything is
    /// synced, the same effect wherever it is issued: the same as `r` itself removing the
    /// element at the moment of the read.
    #[test]
    fn remove_with_context_anywhere_equals_remove_at_the_read_replica(
        seed in any::<u64>(),
        ops in 0usize..40,
        x in 0u8..6,
        at in 0usize..3,
    ) {
        let s = random_states::<OrSet<u8, u8>, u8>(&[1, 2, 3], ops, seed);
        let seen = s[0].summary();
        // Reference: replica 0 removes x itself.
        let mut reference = s.clone();
        reference[0].remove(&x);
        // Tested: replica `at` removes x with replica 0's context.
        let mut tested = s.clone();
        let ctx_seen = seen.clone();
        tested[at].remove_with_context(&x, &ctx_seen);
        let mut r_all = OrSet::<u8, u8>::new();
        for r in &reference {
            r_all.try_join(r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let mut t_all = OrSet::<u8, u8>::new();
        for r in &tested {
            t_all.try_join(r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        prop_assert_eq!(&t_all, &r_all);
        prop_assert!(t_all.validate().is_ok());
    }
}
