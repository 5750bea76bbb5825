//! Uncertainty intervals: growth with drift, status transitions, after/before, commit-wait.

use std::time::Duration;

use quorate_clocks::{ClockStatus, CommitWaitError, ManualClock, TimeInterval, UncertainClock};

const T0: u64 = 1_700_000_000_000_000_000;

#[test]
fn unknown_before_the_first_sync() {
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m, 10_000);
    let r = c.now();
    assert_eq!(r.status, ClockStatus::Unknown);
    assert_eq!(r.interval, TimeInterval::new(0, u64::MAX));
    assert!(!c.after(0) && !c.before(u64::MAX));
    assert_eq!(c.commit_wait(0), Err(CommitWaitError::Unsynchronized));
}

#[test]
fn error_grows_with_drift_and_status_turns_free_running() {
    let m = ManualClock::new(T0);
    let c = UncertainClock::new(m.clone(), m.clone(), 100_000) // 100 ppm
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
    let c = UncertainClock::new(m.clone(), m.clone(), 0);
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
