//! Riak-style pruning by size and age.

use std::time::Duration;

use quorate_clocks::{DvvSet, InvalidPruningPolicy, PruningPolicy, VersionVector};

const S: u64 = 1_000_000_000;

fn policy(small: usize, big: usize, young: u64, old: u64) -> PruningPolicy {
    PruningPolicy::new(
        small,
        big,
        Duration::from_secs(young),
        Duration::from_secs(old),
    )
    .unwrap()
}

fn vv(n: u32) -> VersionVector<u32> {
    (1..=n).map(|a| (a, 1)).collect()
}

#[test]
fn small_vectors_are_never_pruned() {
    let mut v = vv(3);
    assert_eq!(policy(3, 3, 0, 0).prune(&mut v, |_| 0, 1_000 * S), 0);
    assert_eq!(v.len(), 3);
}

#[test]
fn a_young_oldest_entry_protects_the_vector() {
    let mut v = vv(10);
    // All entries updated 5 s ago; young = 20 s.
    assert_eq!(
        policy(1, 2, 20, 100).prune(&mut v, |_| 995 * S, 1_000 * S),
        0
    );
}

#[test]
fn big_vectors_lose_their_oldest_entries_down_to_big() {
    let mut v = vv(10);
    // actor a last updated at a seconds; now 1000 s; young 20 s, old 10^6 s.
    let removed = policy(2, 6, 20, 1_000_000).prune(&mut v, |a| u64::from(*a) * S, 1_000 * S);
    assert_eq!(removed, 4);
    assert_eq!(
        v.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        [5, 6, 7, 8, 9, 10]
    );
}

#[test]
fn old_entries_go_even_when_not_big() {
    let mut v = vv(6);
    // actors 1..=3 are two days old, 4..=6 are fresh-ish (30 s).
    let t = |a: &u32| if *a <= 3 { 0 } else { 172_770 * S };
    let removed = policy(2, 50, 20, 86_400).prune(&mut v, t, 172_800 * S);
    assert_eq!(removed, 3);
    assert_eq!(v.len(), 3);
    // ... but never below `small`.
    let mut v = vv(6);
    assert_eq!(policy(5, 50, 0, 1).prune(&mut v, |_| 0, 172_800 * S), 1);
}

#[test]
fn ties_in_age_break_by_actor() {
    let mut v = vv(4);
    assert_eq!(policy(2, 2, 0, 1_000).prune(&mut v, |_| 0, 10 * S), 2);
    assert_eq!(v.iter().map(|(a, _)| *a).collect::<Vec<_>>(), [3, 4]);
}

#[test]
fn pruning_a_dvvset_keeps_every_value() {
    let s0 = DvvSet::new("x").update(&1u32).unwrap();
    let s1 = DvvSet::new("y").update_with(&s0, &2).unwrap();
    let mut s2 = DvvSet::new("z").update_with(&s1, &3).unwrap();
    let before: Vec<&str> = {
        let mut v: Vec<&str> = s2.values().into_iter().copied().collect();
        v.sort_unstable();
        v
    };
    assert_eq!(
        policy(1, 1, 0, 0).prune_dvvset(&mut s2, |a| u64::from(*a), 100),
        2
    );
    let mut after: Vec<&str> = s2.values().into_iter().copied().collect();
    after.sort_unstable();
    assert_eq!(before, after);
    assert_eq!(s2.ids().copied().collect::<Vec<_>>(), [3]);
}

#[test]
fn contradictory_policies_are_rejected() {
    let s = Duration::from_secs(1);
    // Riak accepts big < small; see `big_below_small_prunes_down_to_small`.
    assert!(PruningPolicy::new(5, 4, s, s).is_ok());
    assert_eq!(
        PruningPolicy::new(1, 4, s, Duration::ZERO),
        Err(InvalidPruningPolicy::OldBelowYoung)
    );
    let d = PruningPolicy::default();
    assert_eq!(
        (d.small(), d.big(), d.young().as_secs(), d.old().as_secs()),
        (50, 50, 20, 86_400)
    );
}

/// Riak's `vclock:prune/3` takes any `small_vclock` and `big_vclock`. With big < small the
/// `small` rule is checked first, so a vector is trimmed to exactly `small` entries (oldest
/// first) as long as its oldest entry is not young, and left alone when it is.
#[test]
fn big_below_small_prunes_down_to_small() {
    let p = policy(4, 1, 10, 1_000);
    let mut v = vv(7); // actors 1..=7, actor a last updated at a seconds
    let s = 1_000_000_000;
    // Now is 100 s: every entry is 93..99 s old, not young, none old.
    let removed = p.prune(&mut v, |a| u64::from(*a) * s, 100 * s);
    assert_eq!(removed, 3);
    assert_eq!(v.iter().map(|(a, _)| *a).collect::<Vec<_>>(), [4, 5, 6, 7]);
    // A young oldest entry still protects the whole vector.
    let mut v = vv(7);
    assert_eq!(p.prune(&mut v, |a| u64::from(*a) * s, 5 * s), 0);
    assert_eq!(v.len(), 7);
    // At or below small nothing goes, however low big is.
    let mut v = vv(4);
    assert_eq!(p.prune(&mut v, |_| 0, 1_000_000 * s), 0);
}
