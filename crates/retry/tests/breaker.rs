//! Circuit breaker: trip rules, half-open probes, backing-off open interval, observability.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use quorate_clocks::ManualClock;
use quorate_retry::{
    BreakerConfig, BreakerOpen, BreakerState, CircuitBreaker, ConfigError, Transition, TripRule,
};

const S: Duration = Duration::from_secs(1);

fn consecutive(n: u32, probes: u32) -> (ManualClock, CircuitBreaker<ManualClock>) {
    let clock = ManualClock::new(0);
    let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(n), S, 8 * S, probes).unwrap();
    (clock.clone(), CircuitBreaker::new(cfg, clock))
}

fn fail(b: &CircuitBreaker<ManualClock>) {
    let p = b.try_acquire().expect("admitted");
    b.on_failure(p);
}

fn ok(b: &CircuitBreaker<ManualClock>) {
    let p = b.try_acquire().expect("admitted");
    b.on_success(p);
}

#[test]
fn trips_on_consecutive_failures_only() {
    let (_c, b) = consecutive(3, 1);
    fail(&b);
    fail(&b);
    ok(&b); // resets the run
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.try_acquire(), Err(BreakerOpen));
    assert_eq!(b.stats().rejected, 1);
}

#[test]
fn half_open_admits_a_bounded_number_of_probes() {
    let (clock, b) = consecutive(1, 2);
    fail(&b);
    clock.advance(S);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    assert!(p1.is_probe() && p2.is_probe());
    assert_eq!(b.try_acquire(), Err(BreakerOpen), "only two probes");
    b.on_success(p1);
    assert_eq!(b.state(), BreakerState::HalfOpen, "all probes must succeed");
    b.on_success(p2);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn open_interval_backs_off_and_resets_on_close() {
    let (clock, b) = consecutive(1, 1);
    fail(&b); // open for 1 s
    for expected in [1u64, 2, 4, 8, 8] {
        clock.advance(Duration::from_secs(expected) - Duration::from_nanos(1));
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "still open just before {expected} s"
        );
        clock.advance(Duration::from_nanos(1));
        fail(&b); // the probe fails: open again, twice as long (capped at 8 s)
    }
    clock.advance(8 * S);
    ok(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b);
    clock.advance(S);
    assert_eq!(
        b.state(),
        BreakerState::HalfOpen,
        "interval back to the base after closing"
    );
}

#[test]
fn failure_rate_needs_minimum_throughput() {
    let clock = ManualClock::new(0);
    let rule = TripRule::failure_rate(0.5, Duration::from_secs(10), 10).unwrap();
    let b = CircuitBreaker::new(
        BreakerConfig::new(rule, S, 8 * S, 1).unwrap(),
        clock.clone(),
    );
    for _ in 0..9 {
        fail(&b);
    }
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "9 calls < min throughput 10"
    );
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn failure_rate_is_over_a_sliding_window() {
    let clock = ManualClock::new(0);
    let rule = TripRule::failure_rate(0.5, Duration::from_secs(10), 10).unwrap();
    let b = CircuitBreaker::new(
        BreakerConfig::new(rule, S, 8 * S, 1).unwrap(),
        clock.clone(),
    );
    // 20 successes then, 11 s later (successes aged out), 4 failures + 6 successes = 40%.
    for _ in 0..20 {
        ok(&b);
    }
    clock.advance(Duration::from_secs(11));
    for _ in 0..6 {
        ok(&b);
    }
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b); // 5 / 11 = 45%
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b); // 6 / 12 = 50%
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn transitions_are_observable() {
    let log: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = Arc::clone(&log);
    let clock = ManualClock::new(0);
    let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), S, 8 * S, 1).unwrap();
    let b = CircuitBreaker::new(cfg, clock.clone())
        .on_transition(move |t| sink.lock().unwrap().push(t));
    fail(&b);
    clock.advance(S);
    ok(&b);
    let seen: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|t| (t.from, t.to, t.at_nanos))
        .collect();
    assert_eq!(
        seen,
        [
            (BreakerState::Closed, BreakerState::Open, 0),
            (BreakerState::Open, BreakerState::HalfOpen, 1_000_000_000),
            (BreakerState::HalfOpen, BreakerState::Closed, 1_000_000_000),
        ]
    );
    let s = b.stats();
    assert_eq!((s.opened, s.half_opened, s.closed), (1, 1, 1));
}

#[test]
fn stale_permits_are_ignored() {
    let (clock, b) = consecutive(1, 1);
    let old = b.try_acquire().unwrap();
    fail(&b); // opens
    clock.advance(S);
    let probe = b.try_acquire().unwrap();
    b.on_failure(old); // news from before the trip must not count against the probe round
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.on_success(probe);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn breaker_configuration_errors() {
    assert_eq!(
        BreakerConfig::new(TripRule::ConsecutiveFailures(1), 2 * S, S, 1),
        Err(ConfigError::BaseExceedsCap)
    );
    assert!(BreakerConfig::new(TripRule::ConsecutiveFailures(1), S, S, 0).is_err());
    assert!(BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::ZERO, S, 1).is_err());
    assert!(TripRule::failure_rate(f64::NAN, S, 1).is_err());
    assert!(TripRule::failure_rate(0.0, S, 1).is_err());
    assert!(TripRule::failure_rate(0.5, S, 0).is_err());
}

#[test]
fn hand_built_rules_are_validated_too() {
    let bad = [
        TripRule::FailureRate {
            threshold_ppm: 0,
            window_nanos: 1_000_000_000,
            min_calls: 5,
        },
        TripRule::FailureRate {
            threshold_ppm: 1_000_001,
            window_nanos: 1_000_000_000,
            min_calls: 5,
        },
        TripRule::FailureRate {
            threshold_ppm: 500_000,
            window_nanos: 9,
            min_calls: 5,
        },
        TripRule::FailureRate {
            threshold_ppm: 500_000,
            window_nanos: 1_000_000_000,
            min_calls: 0,
        },
    ];
    for rule in bad {
        assert!(BreakerConfig::new(rule, S, S, 1).is_err(), "{rule:?}");
    }
}
