//! Uncertainty intervals: growth with drift, status transitions, after/before, commit-wait.

use std::time::Duration;

use quorate_clocks::{ClockStatus, CommitWaitError, ManualClock, TimeInterval, UncertainClock};

const T0: u64 = 1_700_000_000_000_000_000;

#[test]
fn unknown_before_the_first_sync() {
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m, 10_000).unwrap();
    let r = c.now();
    assert_eq!(r.status, ClockStatus::Unknown);
    assert_eq!(r.interval, TimeInterval::new(0, u64::MAX));
    assert!(!c.after(0) && !c.before(u64::MAX));
    assert_eq!(c.commit_wait(0), Err(CommitWaitError::Unsynchronized));
}

#[test]
fn error_grows_with_drift_and_status_turns_free_running() {
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m.clone(), 100_000)
        .unwrap() // 100 ppm
        .free_running_after(Duration::from_secs(30));
    c.sync(1_000_000); // 1 ms
    let r = c.now();
    assert_eq!(r.status, ClockStatus::Synchronized);
    assert_eq!(
        r.interval,
        TimeInterval::new(T0 - 1_000_000, T0 + 1_000_000)
    );
    m.advance(Duration::from_secs(20)); // + 2 ms of drift
    let r = c.now();
    assert_eq!(r.interval.width(), 2 * 3_000_000);
    assert!(r.interval.contains(T0 + 20_000_000_000));
    m.advance(Duration::from_secs(20));
    assert_eq!(c.now().status, ClockStatus::FreeRunning);
    // A wall-clock step does not reset the error; a sync does.
    m.set(T0);
    assert_eq!(c.now().interval.width(), 2 * 5_000_000);
    c.sync(0);
    assert_eq!(c.now().interval.width(), 0);
    assert_eq!(c.now().status, ClockStatus::Synchronized);
}

#[test]
fn after_before_and_commit_wait() {
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m.clone(), 0).unwrap();
    c.sync(1_000);
    assert!(c.after(T0 - 1_001) && !c.after(T0 - 1_000));
    assert!(c.before(T0 + 1_001) && !c.before(T0 + 1_000));
    let mut sleeps = 0;
    let waited = c
        .commit_wait_with(T0 + 5_000, |d| {
            sleeps += 1;
            m.advance(d);
        })
        .unwrap();
    assert!(c.after(T0 + 5_000));
    assert_eq!(waited, Duration::from_nanos(6_001));
    assert_eq!(sleeps, 1);
    // Already past: no wait.
    assert_eq!(
        c.commit_wait_with(0, |_| panic!("must not sleep")),
        Ok(Duration::ZERO)
    );
}

// ------------------------------------------------- AWS ClockBound's reader tests, restated
//
// ClockBound's `t_lib` tests build a segment with a 10 µs bound, a 1 ppm (1,000 ppb) drift,
// `as_of` at monotonic 0 and a given `void_after`, then read it at a (real, mono) pair. Here
// the segment is a sync of 10 µs at monotonic 0, the 5 s grace period is `free_running_after`
// and `void_after` is the clock's setting.

mod clockbound {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use proptest::prelude::*;
    use quorate_clocks::{
        ClockStatus, CommitWaitError, ManualClock, MonotonicClock, TimeInterval, UncertainClock,
        UncertainClockError,
    };

    const S: u64 = 1_000_000_000;

    /// A monotonic clock the test sets freely (also backwards, to provoke a breach).
    #[derive(Debug, Default)]
    struct Mono(AtomicU64);

    impl MonotonicClock for Mono {
        fn now_nanos(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    type Clock = UncertainClock<ManualClock, Arc<Mono>>;

    /// A clock synced at monotonic `as_of` with a 10 µs bound and 1 ppm drift.
    fn segment(as_of: u64, void_after: u64) -> (ManualClock, Arc<Mono>, Clock) {
        let real = ManualClock::new(as_of);
        let mono = Arc::new(Mono(AtomicU64::new(as_of)));
        let c = UncertainClock::new(real.clone(), mono.clone(), 1_000)
            .unwrap()
            .free_running_after(Duration::from_secs(5))
            .void_after(Duration::from_nanos(void_after - as_of));
        c.sync(10_000);
        (real, mono, c)
    }

    fn read_at(
        real: &ManualClock,
        mono: &Mono,
        c: &Clock,
        r: u64,
        m: u64,
    ) -> Result<(TimeInterval, ClockStatus), UncertainClockError> {
        real.set(r);
        mono.0.store(m, Ordering::Relaxed);
        c.try_now().map(|t| (t.interval, t.status))
    }

    #[test]
    fn compute_bound_ok() {
        // 2 s after the sync: 10 µs + 2 µs of drift around the real reading.
        let (real, mono, c) = segment(0, 10 * S);
        let got = read_at(&real, &mono, &c, 2 * S, 2 * S).unwrap();
        assert_eq!(
            got,
            (
                TimeInterval::new(2 * S - 12_000, 2 * S + 12_000),
                ClockStatus::Synchronized
            )
        );
    }

    #[test]
    fn compute_bound_ok_when_real_ahead() {
        // The realtime clock far ahead of the monotonic one: drift counts monotonic time (4 s).
        let (real, mono, c) = segment(0, 10 * S);
        let got = read_at(&real, &mono, &c, 20 * S, 4 * S).unwrap();
        assert_eq!(
            got,
            (
                TimeInterval::new(20 * S - 14_000, 20 * S + 14_000),
                ClockStatus::Synchronized
            )
        );
    }

    #[test]
    fn compute_bound_force_free_running_status() {
        // Past the 5 s grace period, before void_after: free running.
        let (real, mono, c) = segment(0, 100 * S);
        let got = read_at(&real, &mono, &c, 8 * S, 8 * S).unwrap();
        assert_eq!(
            got,
            (
                TimeInterval::new(8 * S - 18_000, 8 * S + 18_000),
                ClockStatus::FreeRunning
            )
        );
    }

    #[test]
    fn compute_bound_unknown_status_if_expired() {
        // Past void_after: Unknown. ClockBound still reports the widened interval (10 s of
        // drift, 20 µs); we report the unbounded one so nothing acts on a void bound.
        let (real, mono, c) = segment(0, 5 * S);
        let got = read_at(&real, &mono, &c, 10 * S, 10 * S).unwrap();
        assert_eq!(got, (TimeInterval::new(0, u64::MAX), ClockStatus::Unknown));
        assert!(!c.after(0) && !c.before(u64::MAX));
        assert_eq!(
            c.commit_wait_with(0, |_| {}),
            Err(CommitWaitError::Unsynchronized)
        );
        // void_after is inclusive, as ClockBound's `mono < void_after` test.
        assert_eq!(
            read_at(&real, &mono, &c, 5 * S, 5 * S).unwrap().1,
            ClockStatus::Unknown
        );
        assert_eq!(
            read_at(&real, &mono, &c, 5 * S, 5 * S - 1).unwrap().1,
            ClockStatus::Synchronized
        );
        // A new sync makes the clock usable again.
        mono.0.store(10 * S, Ordering::Relaxed);
        c.sync(10_000);
        assert_eq!(
            read_at(&real, &mono, &c, 10 * S, 11 * S).unwrap().1,
            ClockStatus::Synchronized
        );
    }

    #[test]
    fn compute_bound_bad_drift() {
        // ClockBound refuses 2e9 ppb when reading; we refuse it when building.
        let m = ManualClock::new(5 * S);
        assert_eq!(
            UncertainClock::new(m.clone(), m.clone(), 2_000_000_000).err(),
            Some(UncertainClockError::DriftTooLarge {
                max_drift_ppb: 2_000_000_000
            })
        );
        assert!(UncertainClock::new(m.clone(), m, 999_999_999).is_ok());
    }

    #[test]
    fn compute_bound_causality_break() {
        // Synced at monotonic 5 s, read at 1 s: a typed error, never a narrow interval.
        let (real, mono, c) = segment(5 * S, 10 * S);
        assert_eq!(
            read_at(&real, &mono, &c, S, S),
            Err(UncertainClockError::CausalityBreach {
                sync_mono_nanos: 5 * S,
                mono_nanos: S
            })
        );
        // `now` reports Unknown and the unbounded interval instead.
        let r = c.now();
        assert_eq!(
            (r.interval, r.status),
            (TimeInterval::new(0, u64::MAX), ClockStatus::Unknown)
        );
        assert!(!c.after(0));
        assert_eq!(
            c.commit_wait_with(0, |_| {}),
            Err(CommitWaitError::CausalityBreach {
                sync_mono_nanos: 5 * S,
                mono_nanos: S
            })
        );
        // Within ClockBound's 1 µs blur the elapsed time counts as zero.
        let got = read_at(&real, &mono, &c, S, 5 * S - 1_000).unwrap();
        assert_eq!(
            got,
            (
                TimeInterval::new(S - 10_000, S + 10_000),
                ClockStatus::Synchronized
            )
        );
        assert!(read_at(&real, &mono, &c, S, 5 * S - 1_001).is_err());
    }

    proptest! {
        /// For any monotonic reading relative to the sync point: either a typed breach (more
        /// than 1 µs before it), or an interval at least as wide as the synced bound plus the
        /// drift (rounded up), around the wall reading, with the status the thresholds give.
        #[test]
        fn readings_are_never_silently_narrow(
            as_of in 1_000_000u64..1_000 * S,
            delta in -(10 * S as i64)..(200 * S as i64),
            ppb in 0u64..1_000_000_000,
            bound in 0u64..1_000_000_000,
            wall in 1u64 << 50..1u64 << 62,
        ) {
            let real = ManualClock::new(wall);
            let mono = Arc::new(Mono(AtomicU64::new(as_of)));
            let c = UncertainClock::new(real, mono.clone(), ppb)
                .unwrap()
                .free_running_after(Duration::from_secs(5))
                .void_after(Duration::from_secs(100));
            c.sync(bound);
            let m = as_of.saturating_add_signed(delta);
            mono.0.store(m, Ordering::Relaxed);
            match c.try_now() {
                Err(e) => {
                    prop_assert!(m + 1_000 < as_of);
                    prop_assert_eq!(e, UncertainClockError::CausalityBreach { sync_mono_nanos: as_of, mono_nanos: m });
                    prop_assert_eq!(c.now().status, ClockStatus::Unknown);
                    prop_assert_eq!(c.now().interval, TimeInterval::new(0, u64::MAX));
                }
                Ok(r) => {
                    prop_assert!(m + 1_000 >= as_of);
                    let elapsed = m.saturating_sub(as_of);
                    let drift = (u128::from(elapsed) * u128::from(ppb)).div_ceil(1_000_000_000) as u64;
                    let status = if elapsed >= 100 * S {
                        ClockStatus::Unknown
                    } else if elapsed >= 5 * S {
                        ClockStatus::FreeRunning
                    } else {
                        ClockStatus::Synchronized
                    };
                    prop_assert_eq!(r.status, status);
                    if status == ClockStatus::Unknown {
                        prop_assert_eq!(r.interval, TimeInterval::new(0, u64::MAX));
                    } else {
                        prop_assert_eq!(r.interval, TimeInterval::new(wall - bound - drift, wall + bound + drift));
                    }
                }
            }
        }
    }
}
