//! A peer value that violates an invariant is a typed error and leaves the replica unchanged.

use quorate_clocks::{Dot, decode_exact, encode_to_vec};
use quorate_crdt::{
    Causal, CausalContext, CausalDelta, Crdt, DeltaCrdt, DotFun, DotMap, DotSet, Embed, GCounter,
    MvReg, OrSet, TwoPSet, ValidationError,
};

fn replica() -> OrSet<u32, u8> {
    let mut s = OrSet::new();
    s.add(1, 10).unwrap();
    s.add(2, 20).unwrap();
    s
}

fn ctx(dots: &[(u8, u64)]) -> CausalContext<u8> {
    dots.iter().map(|&(a, c)| Dot::new(a, c)).collect()
}

fn set_of(entries: &[(u32, &[(u8, u64)])], cc: CausalContext<u8>) -> OrSet<u32, u8> {
    let store: DotMap<u32, DotSet<u8>> = entries
        .iter()
        .map(|(k, ds)| (*k, ds.iter().map(|&(a, c)| Dot::new(a, c)).collect()))
        .collect();
    OrSet::from_causal(Causal::new_unchecked(store, cc))
}

fn rejects(peer: &OrSet<u32, u8>, expected: ValidationError) {
    let mut local = replica();
    let before = local.clone();
    assert_eq!(peer.validate(), Err(expected.clone()));
    assert_eq!(local.try_join(peer), Err(expected.clone()));
    assert_eq!(local, before, "replica changed by a rejected join");
    let d = peer.to_delta();
    assert_eq!(local.try_join_delta(&d), Err(expected));
    assert_eq!(local, before, "replica changed by a rejected delta");
}

#[test]
fn dot_used_for_two_elements_is_rejected() {
    rejects(
        &set_of(&[(1, &[(3, 1)]), (2, &[(3, 1)])], ctx(&[(3, 1)])),
        ValidationError::DuplicateDot { dot: "3:1".into() },
    );
}

#[test]
fn dot_reuse_is_found_with_sparse_counters_too() {
    // Counters far apart take the hash-set path of the duplicate check, dense ones the bitmap.
    let big = 1_000_000_000u64;
    rejects(
        &set_of(
            &[(1, &[(3, big)]), (2, &[(4, 1)]), (5, &[(3, big)])],
            ctx(&[(3, big), (4, 1)]),
        ),
        ValidationError::DuplicateDot {
            dot: format!("3:{big}"),
        },
    );
    let ok = set_of(
        &[(1, &[(3, big)]), (2, &[(3, 7)])],
        ctx(&[(3, big), (3, 7)]),
    );
    assert!(ok.validate().is_ok());
    rejects(
        &set_of(&[(1, &[(3, 64)]), (2, &[(3, 64)])], ctx(&[(3, 64)])),
        ValidationError::DuplicateDot { dot: "3:64".into() },
    );
}

#[test]
fn stored_dot_outside_its_context_is_rejected() {
    rejects(
        &set_of(&[(1, &[(3, 5)])], ctx(&[(3, 1)])),
        ValidationError::DotNotInContext { dot: "3:5".into() },
    );
}

#[test]
fn empty_entry_in_a_state_is_rejected() {
    let peer = set_of(&[(1, &[])], ctx(&[(3, 1)]));
    let mut local = replica();
    let before = local.clone();
    let empty = ValidationError::EmptyEntry { key: "1".into() };
    assert_eq!(peer.validate(), Err(empty.clone()));
    assert_eq!(local.try_join(&peer), Err(empty));
    assert_eq!(local, before);
    // In a delta an empty entry is a legitimate key hint (a removal); joining it keeps the
    // replica valid and prunes the key.
    local.try_join_delta(&peer.to_delta()).unwrap();
    assert!(local.validate().is_ok());
    assert!(!local.contains(&1));
}

#[test]
fn zero_counter_dot_is_rejected() {
    rejects(
        &set_of(&[(1, &[(3, 0)])], ctx(&[(3, 1)])),
        ValidationError::ZeroCounter { actor: "3".into() },
    );
}

#[test]
fn valid_peer_is_accepted() {
    let peer = set_of(&[(7, &[(3, 1)])], ctx(&[(3, 1)]));
    let mut local = replica();
    local.try_join(&peer).unwrap();
    assert!(local.contains(&7) && local.contains(&10));
}

#[test]
fn delta_with_dot_outside_context_is_rejected() {
    let store: DotMap<u32, DotSet<u8>> =
        [(5, DotSet::single(Dot::new(9, 4)))].into_iter().collect();
    let d = CausalDelta::new_unchecked(store, ctx(&[(9, 1)]));
    let mut local = replica();
    let before = local.clone();
    assert_eq!(
        local.try_join_delta(&d),
        Err(ValidationError::DotNotInContext { dot: "9:4".into() })
    );
    assert_eq!(local, before);
}

#[test]
fn register_with_duplicate_dot_values_is_rejected_by_decoder() {
    // Build a valid register, then check the decoder refuses states that reuse a dot.
    let f: DotFun<u32, u8> = [(Dot::new(1, 1), 5)].into_iter().collect();
    let r = MvReg::from_causal(Causal::from_parts(f, ctx(&[(1, 1)])).unwrap());
    let bytes = encode_to_vec(&r);
    assert_eq!(decode_exact::<MvReg<u32, u8>>(&bytes).unwrap(), r);
    assert!(Causal::from_parts(DotFun::<u32, u8>::default(), CausalContext::new()).is_ok());
}

#[test]
fn delta_since_against_unseen_summary_is_rejected() {
    // b computes what a misses assuming a has seen (1, 1); a has not.
    let mut b = OrSet::<u32, u8>::new();
    b.add(1, 1).unwrap();
    let fake_summary = b.summary();
    let answer = b.delta_since(&fake_summary);
    let mut a = OrSet::<u32, u8>::new();
    assert_eq!(
        a.try_join_delta(&answer),
        Err(ValidationError::UnknownKeptDot { dot: "1:1".into() })
    );
    assert!(a.is_empty());
}

#[test]
fn uncompacted_context_is_rejected() {
    // A delta context built by hand is always compacted; check the validator on a decoded one.
    let cc = ctx(&[(1, 1), (1, 3)]);
    assert!(cc.validate().is_ok());
    assert_eq!(cc.cloud_len(), 1);
}

#[test]
fn counter_decoder_rejects_zero_and_unsorted_entries() {
    let mut c = GCounter::<u8>::new();
    c.increment(1, 5).unwrap();
    c.increment(2, 6).unwrap();
    let bytes = encode_to_vec(&c);
    // [version, tag, retired=0, entries=2, a1, 5, a2, 6]
    assert_eq!(bytes, [1, 1, 0, 2, 1, 5, 2, 6]);
    assert!(
        decode_exact::<GCounter<u8>>(&[1, 1, 0, 2, 1, 0, 2, 6]).is_err(),
        "zero entry"
    );
    assert!(
        decode_exact::<GCounter<u8>>(&[1, 1, 0, 2, 2, 5, 1, 6]).is_err(),
        "unsorted"
    );
    assert!(
        decode_exact::<GCounter<u8>>(&[1, 1, 1, 1, 1, 1, 5]).is_err(),
        "retired entry"
    );
}

#[test]
fn two_phase_set_live_and_removed_is_rejected() {
    // [version, tag, live={1}, removed={1}]
    assert!(decode_exact::<TwoPSet<u8>>(&[1, 4, 1, 1, 1, 1]).is_err());
    assert!(decode_exact::<TwoPSet<u8>>(&[1, 4, 1, 1, 1, 2]).is_ok());
}

#[test]
fn validation_errors_display_lowercase() {
    let n = || "x".to_string();
    for e in [
        ValidationError::DuplicateDot { dot: n() },
        ValidationError::DotCollision {
            dot: n(),
            local: n(),
            peer: n(),
        },
        ValidationError::DotNotInContext { dot: n() },
        ValidationError::ZeroCounter { actor: n() },
        ValidationError::ContextNotCompact { actor: n() },
        ValidationError::EmptyEntry { key: n() },
        ValidationError::DuplicateActor { actor: n() },
        ValidationError::LiveAndRemoved { element: n() },
        ValidationError::UnknownKeptDot { dot: n() },
        ValidationError::RetiredActor { actor: n() },
        ValidationError::InvalidRetirement { actor: n() },
        ValidationError::ConflictingRetirement { actor: n() },
    ] {
        let s = e.to_string();
        assert!(s.chars().next().is_some_and(|c| c.is_lowercase()), "{s}");
        assert!(!s.ends_with('.'), "{s}");
    }
}

#[test]
fn deferred_remove_already_covered_by_the_context_does_not_decode() {
    // A replica that removed 5 with a context it had not seen: a deferred remove.
    let mut seen_by_client = OrSet::<u32, u8>::new();
    seen_by_client.add(1, 5).unwrap();
    let mut b = OrSet::<u32, u8>::new();
    b.remove_with_context(&5, &seen_by_client.summary());
    let bytes = encode_to_vec(&b);
    // [version, tag, actors: [1], vv: [], cloud: [], retired: [], store: [],
    //  deferred: [(key 5, vv [(actor #0, 1)])]]
    assert_eq!(bytes, [1, 6, 1, 1, 0, 0, 0, 0, 1, 5, 1, 0, 1]);
    assert_eq!(decode_exact::<OrSet<u32, u8>>(&bytes).unwrap(), b);
    // The same deferred remove under a context that has seen all it covers should have been
    // applied and dropped: not canonical, rejected.
    let stale = [1, 6, 1, 1, 1, 0, 1, 0, 0, 0, 1, 5, 1, 0, 1];
    assert!(decode_exact::<OrSet<u32, u8>>(&stale).is_err());
    // Keys out of order are rejected too.
    let unsorted = [1, 6, 1, 1, 0, 0, 0, 0, 2, 5, 1, 0, 1, 4, 1, 0, 1];
    assert!(decode_exact::<OrSet<u32, u8>>(&unsorted).is_err());
    let sorted = [1, 6, 1, 1, 0, 0, 0, 0, 2, 4, 1, 0, 1, 5, 1, 0, 1];
    assert!(decode_exact::<OrSet<u32, u8>>(&sorted).is_ok());
}
