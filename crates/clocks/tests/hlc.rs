//! Behaviour of the hybrid logical clock: the paper's rules, policies, jumps, restart safety.

use std::time::Duration;

use quorate_clocks::{
    HlcConfig, HlcConfigError, HybridClock, LOGICAL_MASK, ManualClock, NowError, OffsetPolicy,
    OverflowPolicy, RecvError, TICK_NANOS, Timestamp,
};

const BASE: u64 = 1_700_000_000_000_000_000 & !LOGICAL_MASK;

fn clock() -> (ManualClock, HybridClock<ManualClock>) {
    let wall = ManualClock::new(BASE);
    (wall.clone(), HybridClock::new(wall))
}

fn ts(physical: u64, logical: u16) -> Timestamp {
    Timestamp::from_parts(physical, logical)
}

#[test]
fn now_counts_within_a_tick_and_resets_on_a_new_tick() {
    let (wall, c) = clock();
    assert_eq!(c.now(), ts(BASE, 0));
    assert_eq!(c.now(), ts(BASE, 1));
    wall.advance_nanos(TICK_NANOS - 1); // still the same tick
    assert_eq!(c.now(), ts(BASE, 2));
    wall.advance_nanos(1);
    assert_eq!(c.now(), ts(BASE + TICK_NANOS, 0));
}

#[test]
fn now_never_decreases_when_the_wall_clock_steps_back() {
    let (wall, c) = clock();
    let a = c.now();
    wall.step_back(Duration::from_secs(5));
    let b = c.now();
    let d = c.now();
    assert!(a < b && b < d);
    assert_eq!(b.physical_nanos(), a.physical_nanos());
}

#[test]
fn recv_follows_the_paper_in_every_case() {
    let (wall, c) = clock();
    // Remote ahead of local state and wall: take the remote's tick, its counter + 1.
    let r = ts(BASE + 3 * TICK_NANOS, 7);
    assert_eq!(c.recv(r).unwrap(), ts(BASE + 3 * TICK_NANOS, 8));
    // Local ahead: local counter + 1.
    assert_eq!(c.recv(ts(BASE, 50)).unwrap(), ts(BASE + 3 * TICK_NANOS, 9));
    // Same tick on both sides: max counter + 1.
    assert_eq!(
        c.recv(ts(BASE + 3 * TICK_NANOS, 20)).unwrap(),
        ts(BASE + 3 * TICK_NANOS, 21)
    );
    // Wall clock ahead of both: wall tick, counter 0.
    wall.advance_nanos(10 * TICK_NANOS);
    assert_eq!(
        c.recv(ts(BASE, 999)).unwrap(),
        ts(BASE + 10 * TICK_NANOS, 0)
    );
}

#[test]
fn offset_limit_is_inclusive_and_only_checks_the_future() {
    let (_, c) = clock();
    let limit = c.config().max_offset.as_nanos() as u64;
    let at_limit = ts(BASE + limit, 0);
    assert_eq!(at_limit.physical_nanos(), BASE + (limit & !LOGICAL_MASK));
    assert!(c.recv(at_limit).is_ok());

    let (_, c) = clock();
    let before = c.now();
    let beyond = ts(BASE + limit + TICK_NANOS, 0);
    match c.recv(beyond) {
        Err(RecvError::RemoteTooFarAhead {
            remote,
            local_nanos,
            max_offset,
        }) => {
            assert_eq!((remote, local_nanos), (beyond, BASE));
            assert_eq!(max_offset, c.config().max_offset);
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    assert_eq!(
        c.observe(beyond),
        Err(RecvError::RemoteTooFarAhead {
            remote: beyond,
            local_nanos: BASE,
            max_offset: c.config().max_offset,
        })
    );
    assert_eq!(c.last(), Some(before), "state untouched by rejections");
    assert_eq!(c.stats().offset_rejected, 2);
    // A remote far in the past is fine.
    assert!(c.recv(ts(BASE - 1_000_000_000_000, 0)).is_ok());
}

#[test]
fn offset_policy_is_per_clock() {
    let wall = ManualClock::new(BASE);
    let mut cfg = HlcConfig::default();
    cfg.offset_policy = OffsetPolicy::AcceptAndCount;
    cfg.max_offset = Duration::from_millis(1);
    let lenient = HybridClock::with_config(wall.clone(), cfg).unwrap();
    let strict = HybridClock::new(wall);
    let far = ts(BASE + 2_000_000_000, 0);
    assert!(strict.recv(far).is_err());
    let t = lenient.recv(far).unwrap();
    assert!(t > far);
    assert_eq!(lenient.stats().offset_accepted, 1);
    assert_eq!(strict.stats().offset_accepted, 0);
}

#[test]
fn observe_only_advances_when_remote_is_ahead() {
    let (_, c) = clock();
    let a = c.now();
    c.observe(ts(BASE - TICK_NANOS, 5)).unwrap();
    assert_eq!(c.last(), Some(a), "older remote leaves the state alone");
    let r = ts(BASE + 2 * TICK_NANOS, 3);
    c.observe(r).unwrap();
    assert_eq!(c.last(), Some(r));
    assert_eq!(c.now(), ts(BASE + 2 * TICK_NANOS, 4));
}

#[test]
fn counter_overflow_carries_in_now_and_errors_in_try_now() {
    let (_, c) = clock();
    c.restore(ts(BASE, u16::MAX - 1));
    assert_eq!(c.try_now(), Ok(ts(BASE, u16::MAX)));
    assert_eq!(c.try_now(), Err(NowError::CounterOverflow));
    assert_eq!(c.last(), Some(ts(BASE, u16::MAX)));
    assert_eq!(c.stats().carries, 0);
    let carried = c.now();
    assert_eq!(carried, ts(BASE + TICK_NANOS, 0));
    assert_eq!(c.stats().carries, 1);
}

#[test]
fn recv_overflow_policy() {
    let wall = ManualClock::new(BASE);
    let mut cfg = HlcConfig::default();
    cfg.overflow_policy = OverflowPolicy::Error;
    let strict = HybridClock::with_config(wall.clone(), cfg).unwrap();
    let full = ts(BASE, u16::MAX);
    assert_eq!(strict.recv(full), Err(RecvError::CounterOverflow));
    assert_eq!(strict.last(), None, "untouched");

    let carry = HybridClock::new(wall);
    assert_eq!(carry.recv(full).unwrap(), ts(BASE + TICK_NANOS, 0));
    assert_eq!(carry.stats().carries, 1);
}

#[test]
fn monotonic_jump_detection_counts_forward_and_backward_jumps() {
    let machine = ManualClock::new(BASE);
    let c = HybridClock::new(machine.clone())
        .with_jump_detection(machine.clone(), Duration::from_millis(100))
        .unwrap();
    c.now();
    machine.advance(Duration::from_secs(3600)); // real time passing is not a jump
    c.now();
    assert_eq!(
        (c.stats().mono_forward_jumps, c.stats().mono_backward_jumps),
        (0, 0)
    );
    machine.set(BASE + 7_200_000_000_000 + 3_600_000_000_000); // stepped 2 h ahead
    c.now();
    assert_eq!(c.stats().mono_forward_jumps, 1);
    let before = c.now();
    machine.step_back(Duration::from_secs(10));
    let after = c.now();
    assert!(after > before);
    assert_eq!(c.stats().mono_backward_jumps, 1);
    // Small slews below the threshold are not jumps.
    machine.advance(Duration::from_secs(20));
    machine.step_back(Duration::from_millis(50));
    c.now();
    assert_eq!(
        (c.stats().mono_forward_jumps, c.stats().mono_backward_jumps),
        (1, 1)
    );
}

#[test]
fn invalid_configuration_is_an_error_at_construction() {
    let mut cfg = HlcConfig::default();
    cfg.max_offset = Duration::from_secs(u64::MAX);
    assert_eq!(
        HybridClock::with_config(ManualClock::new(0), cfg).err(),
        Some(HlcConfigError::MaxOffsetTooLarge)
    );
    let c = HybridClock::new(ManualClock::new(0));
    assert_eq!(
        c.with_jump_detection(ManualClock::new(0), Duration::ZERO)
            .err(),
        Some(HlcConfigError::InvalidJumpThreshold)
    );
}

#[test]
fn restart_with_a_stepped_back_clock_never_reissues_old_stamps() {
    let wall = ManualClock::new(BASE);
    let before_crash = HybridClock::new(wall.clone());
    let bound = before_crash.upper_bound_for(Duration::from_secs(1));
    before_crash.extend_upper_bound(bound); // (after persisting it)
    let mut issued = Vec::new();
    for _ in 0..1000 {
        wall.advance_nanos(12_345);
        issued.push(before_crash.now());
    }
    let max_issued = *issued.iter().max().unwrap();
    assert!(max_issued <= bound);

    // Crash; the machine comes back with its clock 10 s behind.
    wall.set(BASE - 10_000_000_000);
    let after = HybridClock::new(wall.clone());
    after.restore(bound);
    let first = after.now();
    assert!(first > max_issued);
    assert!(first > bound);
}

#[test]
fn the_wall_clock_is_capped_at_the_persisted_bound() {
    let (wall, c) = clock();
    let bound = c.upper_bound_for(Duration::from_millis(1));
    c.extend_upper_bound(bound);
    wall.advance(Duration::from_secs(1)); // far past the bound
    let t = c.now();
    assert!(t <= bound, "{t} must not pass {bound}");
    assert_eq!(t.physical_nanos(), bound.physical_nanos());
    // A stamp capped at the bound because the wall clock passed it is an overrun (CockroachDB
    // treats a wall time above the persisted bound as fatal).
    assert_eq!(c.stats().bound_overruns, 1);
    // Stamps keep coming from the counter; try_now refuses to pass the bound.
    c.restore(bound);
    assert_eq!(c.try_now(), Err(NowError::UpperBoundReached));
    let over = c.now();
    assert!(over > bound);
    assert_eq!(c.stats().bound_overruns, 2);
    // Remote stamps above the bound are refused until it is extended.
    let remote = Timestamp::from_u64(bound.as_u64() + 1);
    assert!(matches!(
        c.recv(remote),
        Err(RecvError::AboveUpperBound { .. })
    ));
    let next = c.upper_bound_for(Duration::from_secs(10));
    c.extend_upper_bound(next);
    assert!(c.recv(remote).is_ok());
    // Bounds never go down.
    c.extend_upper_bound(bound);
    assert_eq!(c.upper_bound(), Some(next));
}

#[test]
fn many_threads_never_see_duplicates_or_regressions() {
    use std::sync::Arc;
    let c = Arc::new(HybridClock::new(quorate_clocks::SystemClock));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || {
                let mut out = Vec::with_capacity(20_000);
                for i in 0..20_000u64 {
                    out.push(if i % 3 == 0 {
                        c.recv(c.now()).unwrap()
                    } else {
                        c.now()
                    });
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let v = h.join().unwrap();
        assert!(v.windows(2).all(|w| w[0] < w[1]), "per-thread order");
        all.extend(v);
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "no duplicates");
}

#[test]
fn timestamp_layout() {
    assert_eq!(size_of::<Option<Timestamp>>(), 8);
    assert_eq!(Timestamp::default(), Timestamp::ZERO);
    assert_eq!(Timestamp::ZERO.as_u64(), 1);
    assert!(Timestamp::ZERO < Timestamp::from_u64(2));
    assert_eq!(Timestamp::from_u64(0), Timestamp::ZERO);
    let t = Timestamp::from_parts(BASE + 12_345, 77);
    let p = BASE + (12_345 & !LOGICAL_MASK);
    assert_eq!(
        t.to_string(),
        format!("{}.{:09},77", p / 1_000_000_000, p % 1_000_000_000)
    );
}

#[test]
fn the_end_of_the_range_never_wraps() {
    let limit = u64::MAX - (1 << 40);
    let c = HybridClock::new(ManualClock::new(BASE));
    c.restore(Timestamp::MAX); // capped at the limit
    assert_eq!(c.last(), Some(Timestamp::from_u64(limit)));
    let mut last = c.now();
    assert_eq!(last.as_u64(), limit + 1);
    // From here on the checked compare-and-swap path issues the stamps.
    for _ in 0..1000 {
        let t = c.now();
        assert!(t > last);
        last = t;
    }
    // The reserved range is never accepted from a peer, whatever the offset policy.
    let mut cfg = HlcConfig::default();
    cfg.offset_policy = OffsetPolicy::AcceptAndCount;
    let lenient = HybridClock::with_config(ManualClock::new(BASE), cfg).unwrap();
    assert!(matches!(
        lenient.recv(Timestamp::MAX),
        Err(RecvError::RemoteTooFarAhead { .. })
    ));
    assert!(lenient.observe(Timestamp::from_u64(limit + 1)).is_err());
    assert!(lenient.observe(Timestamp::from_u64(limit)).is_ok());
    // A wall clock beyond the limit is capped too.
    let broken = HybridClock::new(ManualClock::new(u64::MAX));
    let a = broken.now();
    assert!(a.as_u64() <= limit && broken.now() > a);
}
