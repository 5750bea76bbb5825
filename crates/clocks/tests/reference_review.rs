//! Cases from an adversarial review against the anchors' reference behaviour: the HLC rules of
//! Kulkarni et al. 2014 and CockroachDB's `UpdateAndCheckMaxOffset`, ClockBound's interval
//! arithmetic, Riak's `dvvset:sync` and `vclock:prune`, and the version-vector invariants
//! (absent == 0, `Hash` consistent with `Eq`) at the inline/heap boundary.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use quorate_clocks::{
    ClockStatus, DvvSet, HlcConfig, HybridClock, Lamport, LamportClock, ManualClock, PruningPolicy,
    RecvError, TimeInterval, Timestamp, UncertainClock, VersionVector, decode_exact, encode_to_vec,
};

const T0: u64 = 1_700_000_000_000_000_000 & !0xFFFF;
const TICK: u64 = 1 << 16;

// ---------------------------------------------------------------- uncertainty intervals

/// The drift term `elapsed * ppb / 10^9` must round up: rounding it down makes `earliest`
/// too late and `latest` too early by up to 1 ns, so the interval may miss true time.
#[test]
fn drift_rounds_the_interval_outward() {
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m.clone(), 1).unwrap();
    c.sync(0);
    m.advance_nanos(1); // 1 ns at 1 ppb: 10^-9 ns of drift, which must count as 1 ns
    assert_eq!(c.now().interval, TimeInterval::new(T0, T0 + 2));

    let c = UncertainClock::new(m.clone(), m.clone(), 999_999_999).unwrap();
    c.sync(0);
    m.advance_nanos(3); // 2.999999997 ns -> 3
    let w = T0 + 4;
    assert_eq!(c.now().interval, TimeInterval::new(w - 3, w + 3));

    // Exact products are not rounded.
    let c = UncertainClock::new(m.clone(), m.clone(), 1).unwrap();
    c.sync(10);
    m.advance(Duration::from_secs(1));
    let w = T0 + 4 + 1_000_000_000;
    assert_eq!(c.now().interval, TimeInterval::new(w - 11, w + 11));
}

#[test]
fn drift_zero_and_huge_saturate_without_overflow() {
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m.clone(), 0).unwrap();
    c.sync(5);
    m.advance_nanos(u64::MAX / 2);
    let w = T0.saturating_add(u64::MAX / 2);
    assert_eq!(
        c.now().interval,
        TimeInterval::new(w - 5, w.saturating_add(5))
    );

    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m.clone(), 999_999_999).unwrap();
    c.sync(u64::MAX - 1);
    m.advance_nanos(u64::MAX);
    let r = c.now();
    assert_eq!(r.interval, TimeInterval::new(0, u64::MAX));
    assert_eq!(r.status, ClockStatus::FreeRunning);
    assert!(!c.after(0) && !c.before(u64::MAX));
}

#[test]
fn after_and_before_are_strict() {
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m, 0).unwrap();
    c.sync(100);
    // after(t) == t < earliest; before(t) == t > latest.
    assert!(c.after(T0 - 101));
    assert!(!c.after(T0 - 100));
    assert!(c.before(T0 + 101));
    assert!(!c.before(T0 + 100));
}

// ---------------------------------------------------------------- Lamport overflow

#[test]
fn lamport_overflow_is_an_error_on_every_path() {
    let mut l = Lamport::new();
    assert_eq!(l.recv(u64::MAX - 1), Ok(u64::MAX));
    assert!(l.tick().is_err());
    assert!(l.recv(0).is_err());
    assert_eq!(l.get(), u64::MAX);
    let mut l = Lamport::new();
    assert!(l.recv(u64::MAX).is_err());
    assert_eq!(l.get(), 0, "a failed recv leaves the clock untouched");
    l.observe(u64::MAX);
    assert!(l.tick().is_err());
    assert_eq!(l.get(), u64::MAX);

    let c = LamportClock::new();
    assert!(c.recv(u64::MAX).is_err());
    assert_eq!(c.get(), 0);
    assert_eq!(c.recv(u64::MAX - 1), Ok(u64::MAX));
    assert!(c.tick().is_err());
    assert!(c.recv(5).is_err());
    assert_eq!(c.get(), u64::MAX);
    let c = LamportClock::new();
    c.observe(u64::MAX);
    assert!(c.tick().is_err());
    assert_eq!(c.get(), u64::MAX);
    let c = LamportClock::at(u64::MAX - (1 << 40) - 1);
    assert_eq!(c.tick(), Ok(u64::MAX - (1 << 40)));
    assert_eq!(c.tick(), Ok(u64::MAX - (1 << 40) + 1));
}

// ---------------------------------------------------------------- HLC rules

fn clock_at(wall: u64, max_offset: Duration) -> (ManualClock, HybridClock<ManualClock>) {
    let m = ManualClock::new(wall);
    let mut cfg = HlcConfig::default();
    cfg.max_offset = max_offset;
    (m.clone(), HybridClock::with_config(m, cfg).unwrap())
}

fn parts(t: Timestamp) -> (u64, u16) {
    (t.physical_nanos(), t.logical())
}

/// The receive rule of the paper, case by case: l' = max(l, l_m, pt); c' = max(c, c_m) + 1
/// when l' == l == l_m, c + 1 when only l == l', c_m + 1 when only l_m == l', else 0.
#[test]
fn recv_follows_the_papers_three_cases() {
    let max = Duration::from_secs(1);
    // pt strictly the max: counter resets, whatever the counters were.
    let (_, c) = clock_at(T0 + 10 * TICK + 5, max);
    c.restore(Timestamp::from_parts(T0, 40));
    let t = c.recv(Timestamp::from_parts(T0 + 3 * TICK, 70)).unwrap();
    assert_eq!(parts(t), (T0 + 10 * TICK, 0));
    // pt ties with l_m (and beats l): c_m + 1.
    let (_, c) = clock_at(T0 + 10 * TICK, max);
    c.restore(Timestamp::from_parts(T0, 40));
    let t = c.recv(Timestamp::from_parts(T0 + 10 * TICK, 70)).unwrap();
    assert_eq!(parts(t), (T0 + 10 * TICK, 71));
    // pt ties with l (and beats l_m): c + 1.
    let (_, c) = clock_at(T0 + 10 * TICK, max);
    c.restore(Timestamp::from_parts(T0 + 10 * TICK, 40));
    let t = c.recv(Timestamp::from_parts(T0, 70)).unwrap();
    assert_eq!(parts(t), (T0 + 10 * TICK, 41));
    // all three equal: max(c, c_m) + 1, both ways round.
    let (_, c) = clock_at(T0, max);
    c.restore(Timestamp::from_parts(T0, 40));
    assert_eq!(
        parts(c.recv(Timestamp::from_parts(T0, 70)).unwrap()),
        (T0, 71)
    );
    let (_, c) = clock_at(T0, max);
    c.restore(Timestamp::from_parts(T0, 90));
    assert_eq!(
        parts(c.recv(Timestamp::from_parts(T0, 70)).unwrap()),
        (T0, 91)
    );
    // l_m the max: c_m + 1; l the max: c + 1.
    let (_, c) = clock_at(T0, max);
    c.restore(Timestamp::from_parts(T0 + TICK, 3));
    assert_eq!(
        parts(c.recv(Timestamp::from_parts(T0 + 2 * TICK, 8)).unwrap()),
        (T0 + 2 * TICK, 9)
    );
    let (_, c) = clock_at(T0, max);
    c.restore(Timestamp::from_parts(T0 + 2 * TICK, 3));
    assert_eq!(
        parts(c.recv(Timestamp::from_parts(T0 + TICK, 8)).unwrap()),
        (T0 + 2 * TICK, 4)
    );
}

/// Send / local rule: l' = max(l, pt); c' = c + 1 when l' == l else 0, through a wall clock
/// stepping back by a large amount.
#[test]
fn send_rule_through_a_large_backward_step() {
    let (m, c) = clock_at(T0 + 100 * TICK, Duration::from_secs(1));
    assert_eq!(parts(c.now()), (T0 + 100 * TICK, 0));
    m.step_back(Duration::from_secs(3600));
    assert_eq!(parts(c.now()), (T0 + 100 * TICK, 1));
    assert_eq!(parts(c.now()), (T0 + 100 * TICK, 2));
    m.set(T0 + 100 * TICK + 3);
    assert_eq!(parts(c.now()), (T0 + 100 * TICK, 3));
    m.set(T0 + 101 * TICK);
    assert_eq!(parts(c.now()), (T0 + 101 * TICK, 0));
}

/// CockroachDB's `UpdateAndCheckMaxOffset` / uhlc's delta: a remote physical time more than
/// `max_offset` ahead of local physical time is an error and leaves the clock untouched;
/// exactly `max_offset` ahead is accepted; max offset 0 accepts nothing ahead of the wall.
#[test]
fn max_offset_is_inclusive_and_leaves_state_untouched() {
    for max in [0, TICK, 7 * TICK] {
        let (_, c) = clock_at(T0, Duration::from_nanos(max));
        let first = c.now();
        let at_limit = Timestamp::from_parts(T0 + max, 9);
        let beyond = Timestamp::from_parts(T0 + max + TICK, 0);
        for r in [c.recv(beyond).map(|_| ()), c.observe(beyond)] {
            assert!(
                matches!(r, Err(RecvError::RemoteTooFarAhead { .. })),
                "{max}: {r:?}"
            );
        }
        assert_eq!(c.last(), Some(first), "state untouched");
        assert_eq!(c.stats().offset_rejected, 2);
        c.observe(at_limit).unwrap();
        assert_eq!(
            c.last(),
            Some(at_limit),
            "observe advances exactly to the remote"
        );
        let t = c.recv(at_limit).unwrap();
        assert_eq!(parts(t), (T0 + max, 10));
    }
}

/// `observe` is CockroachDB's `Clock.Update`: forward the state to the remote, issue nothing.
#[test]
fn observe_forwards_without_ticking() {
    let (_, c) = clock_at(T0, Duration::from_secs(1));
    let r = Timestamp::from_parts(T0 + 4 * TICK, 12);
    c.observe(r).unwrap();
    assert_eq!(c.last(), Some(r));
    c.observe(r).unwrap();
    c.observe(Timestamp::from_parts(T0, 1)).unwrap();
    assert_eq!(c.last(), Some(r));
    assert_eq!(parts(c.now()), (T0 + 4 * TICK, 13));
}

#[test]
fn remote_stamps_in_the_reserved_headroom_are_rejected() {
    let mut cfg = HlcConfig::default();
    cfg.offset_policy = quorate_clocks::OffsetPolicy::AcceptAndCount;
    let c = HybridClock::with_config(ManualClock::new(T0), cfg).unwrap();
    let before = c.now();
    for raw in [u64::MAX, u64::MAX - (1 << 40) + 1] {
        let r = Timestamp::from_u64(raw);
        assert!(c.recv(r).is_err());
        assert!(c.observe(r).is_err());
    }
    assert_eq!(c.last(), Some(before));
    assert!(c.now() > before);
}

// ---------------------------------------------------------------- DVVSet (Riak dvvset.erl)

/// Riak: when neither clock is less, the anonymous values are `sets:from_list(V1 ++ V2)`: a
/// set, so a value present twice on either side is kept once.
#[test]
fn dvvset_sync_keeps_each_concurrent_anonymous_value_once() {
    let a: DvvSet<&str, u32> = DvvSet::new_many(vec![1, 1, 2]);
    let b: DvvSet<&str, u32> = DvvSet::new_many(vec![2, 3, 3]);
    let s = a.sync(&b);
    let mut vals: Vec<u32> = s.values().into_iter().copied().collect();
    vals.sort_unstable();
    assert_eq!(vals, [1, 2, 3]);
    assert_eq!(s.size(), 3);
    // Same when one side is empty (nothing is less than an equal clock).
    let e: DvvSet<&str, u32> = DvvSet::new_many(vec![]);
    assert_eq!(a.sync(&e).size(), 2);
    assert_eq!(e.sync(&a).size(), 2);
}

// ---------------------------------------------------------------- pruning (Riak vclock:prune)

/// Riak compares `(Now - HeadTime) < young_vclock` on signed integers: an entry stamped in the
/// future (a clock stepped back) is younger than any `young`, even 0, and protects the vector.
#[test]
fn prune_treats_future_timestamps_as_young() {
    let p = PruningPolicy::new(1, 1, Duration::ZERO, Duration::ZERO).unwrap();
    let mut v: VersionVector<u32> = (1..=4).map(|a| (a, 1)).collect();
    let now = 1_000_000_000;
    assert_eq!(p.prune(&mut v, |_| now + 5, now), 0);
    assert_eq!(v.len(), 4);
    // At exactly `now` the age is 0, not below young = 0: prune down to small.
    assert_eq!(p.prune(&mut v, |_| now, now), 3);
    assert_eq!(v.len(), 1);
    // The oldest go first, ties broken by actor; a future-stamped head stops the loop.
    let mut v: VersionVector<u32> = (1..=4).map(|a| (a, 1)).collect();
    let t = |a: &u32| match a {
        1 => now - 10,
        2 => now + 10,
        _ => now - 20,
    };
    assert_eq!(p.prune(&mut v, t, now), 3);
    assert_eq!(v.iter().map(|(a, _)| *a).collect::<Vec<_>>(), [2]);
    let mut s: DvvSet<u32, u8> = DvvSet::with_context(&(1..=4).map(|a| (a, 1)).collect(), 0);
    assert_eq!(p.prune_dvvset(&mut s, |_| now + 1, now), 0);
}

// ---------------------------------------------------------------- version vectors

fn hash_of<T: Hash>(t: &T) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

/// At the 8/9 actor boundary: zeros are never stored by any constructor, and vectors equal as
/// values hash equally however they were built (inline or spilled to the heap).
#[test]
fn no_zero_entries_and_hash_matches_eq_at_the_inline_boundary() {
    for n in [0u32, 1, 7, 8, 9, 16] {
        let direct: VersionVector<u32> = (0..n).map(|a| (a, u64::from(a) + 1)).collect();
        // Built through a spill: 9+ entries, then removals.
        let mut spilled: VersionVector<u32> = (0..n + 9).map(|a| (a, u64::from(a) + 1)).collect();
        for a in n..n + 9 {
            spilled.remove(&a);
        }
        // With zeros mixed in, through every constructor.
        let zeros: VersionVector<u32> = (0..n + 9)
            .map(|a| (a, if a < n { u64::from(a) + 1 } else { 0 }))
            .collect();
        let mut set = VersionVector::new();
        let mut ext = VersionVector::new();
        for a in 0..n + 9 {
            let c = if a < n { u64::from(a) + 1 } else { 0 };
            set.set(a, c);
            ext.extend([(a, c)]);
        }
        let glb = direct.glb(&(0..n + 9).map(|a| (a, u64::MAX)).collect());
        for v in [&spilled, &zeros, &set, &ext, &glb] {
            assert_eq!(v, &direct, "n = {n}");
            assert_eq!(hash_of(v), hash_of(&direct), "n = {n}");
            assert_eq!(v.partial_cmp(&direct), Some(core::cmp::Ordering::Equal));
            assert!(v.iter().all(|(_, c)| c > 0));
            assert_eq!(v.len(), n as usize);
        }
        let bytes = encode_to_vec(&direct);
        assert_eq!(
            decode_exact::<VersionVector<u32>>(&bytes),
            Ok(direct.clone())
        );
        // glb with a disjoint vector is empty, never a vector of zeros.
        let other: VersionVector<u32> = (100..100 + n).map(|a| (a, 1)).collect();
        assert!(direct.glb(&other).is_empty());
        // Merge is the least upper bound at this size too.
        let mut m = direct.clone();
        m.merge(&other);
        assert!(m >= direct && m >= other);
        assert_eq!(m.len(), 2 * n as usize);
    }
}

#[test]
fn a_zero_entry_never_decodes() {
    // version 1, one entry: actor 3, counter 0.
    assert!(decode_exact::<VersionVector<u32>>(&[1, 1, 3, 0]).is_err());
    assert_eq!(
        decode_exact::<VersionVector<u32>>(&[1, 1, 3, 1]),
        Ok([(3u32, 1u64)].into_iter().collect())
    );
}

/// Riak's `reconcile/2` and the anonymous branch of `lww/2` rebuild the set with
/// `new(join(C), [V])`, and `join/1` keeps every entry, counter 0 included (`equal_test` and
/// `size_test` build such entries): the histories must come back entry for entry.
#[test]
fn dvvset_reconcile_and_lww_keep_every_entry_of_the_history() {
    let a: DvvSet<&str, &str> = DvvSet::from_parts(
        vec![
            ("a", 4, vec!["v5", "v0"]),
            ("b", 0, vec![]),
            ("c", 1, vec!["v3"]),
        ],
        vec!["v9"],
    )
    .unwrap();
    let hist = |v| {
        DvvSet::from_parts(
            vec![("a", 4, vec![]), ("b", 0, vec![]), ("c", 1, vec![])],
            vec![v],
        )
        .unwrap()
    };
    let r = a.reconcile(|vs| *vs.into_iter().max().unwrap());
    assert_eq!(r, hist("v9"));
    // Riak's equal/2 also compares the number of values per entry: not equal to `a`.
    assert!(!r.equal(&a));
    assert!(r.equal(&hist("other")));
    let l = a.lww(|x, y| x <= y);
    assert_eq!(l, hist("v9"));
    assert!(!l.equal(&a));
    assert_eq!(a.ids().copied().collect::<Vec<_>>(), ["a", "b", "c"]);
}

/// A stamp issued above the persisted upper bound is counted whichever path issued it.
#[test]
fn bound_overruns_are_counted_by_recv_as_by_now() {
    let (_, c) = clock_at(T0, Duration::from_secs(1));
    let b = c.upper_bound_for(Duration::from_secs(1));
    c.extend_upper_bound(b);
    c.restore(b);
    let t = c.recv(Timestamp::from_parts(T0, 0)).unwrap();
    assert!(t > b);
    assert_eq!(c.stats().bound_overruns, 1);
    assert!(c.now() > t);
    assert_eq!(c.stats().bound_overruns, 2);
}

// ---------------------------------------------------------------- codecs

/// A count is always bounded by the remaining input, even when a caller passes a minimum item
/// size of 0 (which would make the check vacuous and let a 10-byte varint size an allocation).
#[test]
fn get_len_bounds_the_count_even_for_a_zero_item_size() {
    use quorate_clocks::{DecodeError, get_len, put_varint};
    let mut buf = Vec::new();
    put_varint(&mut buf, u64::MAX);
    assert!(matches!(
        get_len(&mut &buf[..], 0),
        Err(DecodeError::LengthTooLarge { .. })
    ));
    assert_eq!(get_len(&mut &[2, 7, 7][..], 0), Ok(2));
    assert!(get_len(&mut &[3, 7, 7][..], 0).is_err());
}

/// `offset_accepted` counts stamps actually accepted: one refused for passing the persisted
/// upper bound is not counted.
#[test]
fn a_stamp_refused_for_the_bound_is_not_counted_as_accepted() {
    let mut cfg = HlcConfig::default();
    cfg.offset_policy = quorate_clocks::OffsetPolicy::AcceptAndCount;
    let c = HybridClock::with_config(ManualClock::new(T0), cfg).unwrap();
    c.extend_upper_bound(c.upper_bound_for(Duration::from_secs(1)));
    let far = Timestamp::from_parts(T0 + 5_000_000_000, 0);
    assert!(matches!(
        c.observe(far),
        Err(RecvError::AboveUpperBound { .. })
    ));
    assert_eq!(c.stats().offset_accepted, 0);
    let near_far = Timestamp::from_parts(T0 + 600_000_000, 0);
    c.observe(near_far).unwrap();
    assert_eq!(c.stats().offset_accepted, 1);
}

// ---------------------------------------------------------------- interval invariants

/// `earliest <= latest` holds for every interval a peer can send: deserializing a reversed
/// one fails, and `width` of a hand-built reversed one does not panic.
#[cfg(feature = "serde")]
#[test]
fn reversed_intervals_never_deserialize_or_panic() {
    let bad = TimeInterval {
        earliest: 5,
        latest: 1,
    };
    assert_eq!(bad.width(), 0);
    assert!(!bad.contains(3));
    let ok: TimeInterval = serde_json::from_str(r#"{"earliest":1,"latest":5}"#).unwrap();
    assert_eq!(ok, TimeInterval::new(1, 5));
    assert!(serde_json::from_str::<TimeInterval>(r#"{"earliest":5,"latest":1}"#).is_err());
}

/// A deserialized pruning policy is validated like `PruningPolicy::new`.
#[cfg(feature = "serde")]
#[test]
fn pruning_policies_deserialize_through_validation() {
    let p = PruningPolicy::default();
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<PruningPolicy>(&json).unwrap(), p);
    // big < small is valid (as in Riak); old < young is not, and deserializing checks it.
    let low_big = json.replace("\"big\":50", "\"big\":3");
    assert_ne!(low_big, json);
    assert_eq!(
        serde_json::from_str::<PruningPolicy>(&low_big)
            .unwrap()
            .big(),
        3
    );
    let bad = json.replace("\"old\":{\"secs\":86400", "\"old\":{\"secs\":1");
    assert_ne!(bad, json);
    assert!(serde_json::from_str::<PruningPolicy>(&bad).is_err());
}

/// With a drift bound of 100% or more the error grows at least as fast as the wall clock, so
/// `earliest` never advances and commit-wait could never end: such a clock cannot be built
/// (ClockBound refuses the segment as malformed).
#[test]
fn commit_wait_with_a_drift_of_one_second_per_second_fails_instead_of_hanging() {
    use quorate_clocks::UncertainClockError;
    for ppb in [1_000_000_000, 2_000_000_000, u64::MAX] {
        let m = ManualClock::new(T0);
        assert_eq!(
            UncertainClock::new(m.clone(), m, ppb).err(),
            Some(UncertainClockError::DriftTooLarge { max_drift_ppb: ppb })
        );
    }
    // Just under 100% the wait ends.
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m.clone(), 500_000_000).unwrap();
    c.sync(10);
    let mut sleeps = 0;
    let waited = c.commit_wait_with(T0 + 5, |d| {
        sleeps += 1;
        m.advance(d);
    });
    assert!(c.after(T0 + 5));
    // Gap 16 ns at half speed: one sleep of 32 ns, not a series of ever smaller ones.
    assert_eq!((waited, sleeps), (Ok(Duration::from_nanos(32)), 1));
    // At 999,999,999 ppb `earliest` advances 1 ns per second: the sleep covers it at once.
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m.clone(), 999_999_999).unwrap();
    c.sync(0);
    let mut sleeps = 0;
    c.commit_wait_with(T0 + 2, |d| {
        sleeps += 1;
        assert!(sleeps < 10, "commit-wait degenerates");
        m.advance(d);
    })
    .unwrap();
    assert!(c.after(T0 + 2));
}
