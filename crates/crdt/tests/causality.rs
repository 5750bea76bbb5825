//! Causal behaviour: out-of-order deltas, removes that arrive before the adds they observed,
//! add-wins / remove-wins / reset-remove semantics, dot-cloud compaction.

use quorate_crdt::{Crdt, DeltaCrdt, EwFlag, MvReg, OrMap, OrSet, RwSet};

#[test]
fn remove_arriving_before_its_add_is_applied_when_the_add_arrives() {
    let mut a = OrSet::<&str, u8>::new();
    let add = a.add(1, "x").unwrap();
    let rm = a.remove(&"x");
    let mut b = OrSet::<&str, u8>::new();
    b.try_join_delta(&rm).unwrap(); // remove first
    assert!(!b.contains(&"x"));
    b.try_join_delta(&add).unwrap(); // the add it observed arrives late
    assert!(!b.contains(&"x"), "observed add must stay removed");
    assert_eq!(a, b);
}

#[test]
fn out_of_order_deltas_fill_the_cloud_then_compact() {
    let mut a = OrSet::<u32, u8>::new();
    let deltas: Vec<_> = (0..5).map(|i| a.add(1, i).unwrap()).collect();
    let mut b = OrSet::<u32, u8>::new();
    for i in [4, 2, 0] {
        b.try_join_delta(&deltas[i]).unwrap();
    }
    assert_eq!(b.context().cloud_len(), 2, "dots 3 and 5 wait in the cloud");
    assert_eq!(b.context().version_vector().get(&1), 1);
    for i in [3, 1, 1, 4] {
        b.try_join_delta(&deltas[i]).unwrap();
    }
    assert_eq!(b.context().cloud_len(), 0, "compacted after the gap closed");
    assert_eq!(b.context().version_vector().get(&1), 5);
    assert_eq!(a, b);
}

#[test]
fn add_wins_over_concurrent_remove() {
    let mut a = OrSet::<u32, u8>::new();
    a.add(1, 7).unwrap();
    let mut b = a.clone();
    let rm = b.remove(&7);
    let add = a.add(1, 7).unwrap();
    let mut c = OrSet::new();
    c.join(&a);
    c.join_delta(&rm);
    assert!(c.contains(&7));
    let mut d = b.clone();
    d.join_delta(&add);
    assert!(d.contains(&7));
    assert_eq!(c, d);
}

#[test]
fn concurrent_adds_keep_both_dots_until_a_remove_sees_them() {
    let mut a = OrSet::<u32, u8>::new();
    let mut b = OrSet::<u32, u8>::new();
    a.add(1, 7).unwrap();
    b.add(2, 7).unwrap();
    a.join(&b);
    assert_eq!(a.as_causal().store().get(&7).map(|s| s.len()), Some(2));
    a.remove(&7);
    b.join(&a);
    assert!(!b.contains(&7));
}

#[test]
fn remove_wins_over_concurrent_add() {
    let mut a = RwSet::<u32, u8>::new();
    a.add(1, 7).unwrap();
    let mut b = a.clone();
    b.remove(2, 7).unwrap();
    a.add(1, 7).unwrap();
    a.join(&b);
    assert!(!a.contains(&7));
    a.add(1, 7).unwrap(); // an add that has seen the remove brings it back
    assert!(a.contains(&7));
}

#[test]
fn mv_register_keeps_concurrent_values_and_a_later_write_supersedes() {
    let mut a = MvReg::<u32, u8>::new();
    let mut b = MvReg::<u32, u8>::new();
    a.write(1, 1).unwrap();
    b.write(2, 2).unwrap();
    let mut c = a.clone();
    c.join(&b);
    assert_eq!(c.values().copied().collect::<Vec<_>>(), [1, 2]);
    c.write(3, 3).unwrap();
    a.join(&c);
    assert_eq!(a.values().copied().collect::<Vec<_>>(), [3]);
}

#[test]
fn enable_wins_flag() {
    let mut a = EwFlag::<u8>::new();
    a.enable(1).unwrap();
    let mut b = a.clone();
    b.disable();
    a.enable(1).unwrap();
    b.join(&a);
    assert!(b.is_enabled());
    b.disable();
    a.join(&b);
    assert!(!a.is_enabled());
}

#[test]
fn or_map_remove_resets_only_what_it_observed() {
    type Profile = OrMap<String, OrSet<String, u8>, u8>;
    let mut a = Profile::new();
    a.update("tags".into(), |s| s.add_delta(1, "rust".into()))
        .unwrap();
    let mut b = a.clone();
    let rm = b.remove(&"tags".to_string());
    // Concurrently, a adds another tag.
    let upd = a
        .update("tags".into(), |s| s.add_delta(1, "crdt".into()))
        .unwrap();
    a.join_delta(&rm);
    b.join_delta(&upd);
    assert_eq!(a, b);
    let tags = a.get(&"tags".to_string()).unwrap();
    assert_eq!(
        tags.iter().cloned().collect::<Vec<_>>(),
        ["crdt".to_string()]
    );
}

#[test]
fn nested_or_map_update_delta_is_key_scoped() {
    let mut m = OrMap::<u32, MvReg<u32, u8>, u8>::new();
    for k in 0..100 {
        m.update(k, |r| r.write_delta(1, k)).unwrap();
    }
    let d = m.update_delta(5, |r| r.write_delta(1, 500)).unwrap();
    assert_eq!(d.store().len(), 1, "delta names only the key it touches");
    assert!(!d.is_full());
    let mut other = m.clone();
    other.join_delta(&d);
    assert_eq!(
        other.get(&5).unwrap().values().copied().collect::<Vec<_>>(),
        [500]
    );
    assert_eq!(other.len(), 100);
}

#[test]
fn delta_since_sends_only_missing_entries_and_removals() {
    let mut a = OrSet::<u32, u8>::new();
    for i in 0..50 {
        a.add(1, i).unwrap();
    }
    let mut b = a.clone();
    a.add(1, 100).unwrap();
    a.remove(&3);
    let d = a.delta_since(&b.summary());
    assert_eq!(
        d.store().len(),
        1,
        "only the new element travels with its key"
    );
    b.try_join_delta(&d).unwrap();
    assert_eq!(a, b);
    assert!(!b.contains(&3));
}

#[test]
fn clear_keeps_concurrent_adds() {
    let mut a = OrSet::<u32, u8>::new();
    a.add(1, 1).unwrap();
    a.add(1, 2).unwrap();
    let mut b = a.clone();
    let clear = b.clear();
    let add = a.add(1, 3).unwrap();
    b.join_delta(&add);
    a.join_delta(&clear);
    assert_eq!(a, b);
    assert_eq!(a.iter().copied().collect::<Vec<_>>(), [3]);
}

#[test]
fn large_merges_agree_with_delta_by_delta_application() {
    // Large enough to take the bulk-rebuild path of the map join.
    let mut a = OrSet::<u32, u8>::new();
    let mut b = OrSet::<u32, u8>::new();
    let mut b_deltas = Vec::new();
    for x in 0..600 {
        a.add(1, x).unwrap();
    }
    for x in 300..1500 {
        b_deltas.push(b.add(2, x).unwrap());
    }
    for x in (300..1500).step_by(3) {
        b_deltas.push(b.remove(&x));
    }
    let mut full = a.clone();
    full.join(&b);
    let mut by_delta = a.clone();
    for d in &b_deltas {
        by_delta.join_delta(d);
    }
    assert_eq!(full, by_delta);
    let expected: Vec<u32> = (0..1500)
        .filter(|x| *x < 600 || (x - 300) % 3 != 0)
        .collect();
    assert_eq!(full.iter().copied().collect::<Vec<_>>(), expected);
    let mut other_way = b.clone();
    other_way.join(&a);
    assert_eq!(other_way, full);
    assert!(full.validate().is_ok());
}
