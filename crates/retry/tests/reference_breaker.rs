//! The circuit breaker checked against resilience4j's documented semantics for a
//! failure-rate breaker: in half-open, the permitted calls all complete before the breaker
//! decides, and it reopens only if their failure rate is at or above the threshold.

use std::time::Duration;

use quorate_clocks::ManualClock;
use quorate_retry::{BreakerConfig, BreakerState, CircuitBreaker, TripRule};

const S: Duration = Duration::from_secs(1);

fn rate_breaker(probes: u32) -> (ManualClock, CircuitBreaker<ManualClock>) {
    let clock = ManualClock::new(0);
    let rule = TripRule::failure_rate(0.5, Duration::from_secs(10), 4).unwrap();
    let cfg = BreakerConfig::new(rule, S, 8 * S, probes).unwrap();
    (clock.clone(), CircuitBreaker::new(cfg, clock))
}

fn trip(clock: &ManualClock, b: &CircuitBreaker<ManualClock>) {
    for _ in 0..4 {
        let p = b.try_acquire().unwrap();
        b.on_failure(p);
    }
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(S);
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

/// resilience4j: "If the failure rate is then below the threshold, the state changes back to
/// closed": one failure out of four probes is 25% < 50%.
#[test]
fn half_open_closes_when_the_probe_failure_rate_is_below_the_threshold() {
    let (clock, b) = rate_breaker(4);
    trip(&clock, &b);
    let probes: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err(), "only 4 permitted calls");
    let mut it = probes.into_iter();
    b.on_failure(it.next().unwrap());
    assert_eq!(
        b.state(),
        BreakerState::HalfOpen,
        "no decision before all permitted calls complete"
    );
    for p in it {
        b.on_success(p);
    }
    assert_eq!(b.state(), BreakerState::Closed);
}

/// resilience4j: "If the failure rate ... is then equal or greater than the configured
/// threshold, the state changes back to open": two failures of four is 50%.
#[test]
fn half_open_reopens_when_the_probe_failure_rate_reaches_the_threshold() {
    let (clock, b) = rate_breaker(4);
    trip(&clock, &b);
    let probes: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    let mut it = probes.into_iter();
    b.on_failure(it.next().unwrap());
    b.on_success(it.next().unwrap());
    b.on_failure(it.next().unwrap());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.on_success(it.next().unwrap());
    assert_eq!(b.state(), BreakerState::Open);
    let s = b.stats();
    assert_eq!((s.opened, s.half_opened, s.closed), (2, 1, 0));
    // The open interval backed off to 2 s.
    clock.advance(S);
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(S);
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

/// With one permitted call the rule degenerates to "the probe decides", as before.
#[test]
fn a_single_probe_decides_alone() {
    let (clock, b) = rate_breaker(1);
    trip(&clock, &b);
    let p = b.try_acquire().unwrap();
    b.on_failure(p);
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(2 * S);
    let p = b.try_acquire().unwrap();
    b.on_success(p);
    assert_eq!(b.state(), BreakerState::Closed);
}

fn count_breaker(window: u32, min_calls: u32) -> CircuitBreaker<ManualClock> {
    let rule = TripRule::failure_rate_count(0.5, window, min_calls).unwrap();
    CircuitBreaker::new(
        BreakerConfig::new(rule, S, 8 * S, 1).unwrap(),
        ManualClock::new(0),
    )
}

fn call(b: &CircuitBreaker<ManualClock>, failed: bool) {
    let p = b.try_acquire().expect("admitted");
    if failed {
        b.on_failure(p);
    } else {
        b.on_success(p);
    }
}

/// resilience4j's default window is count-based: the failure rate of the last N calls,
/// whenever they happened.
#[test]
fn count_based_window_covers_the_last_n_calls() {
    let b = count_breaker(4, 4);
    for failed in [true, false, false, false] {
        call(&b, failed); // F S S S: 25%
    }
    assert_eq!(b.state(), BreakerState::Closed);
    call(&b, true); // S S S F: the first failure slid out, 25%
    assert_eq!(b.state(), BreakerState::Closed);
    call(&b, true); // S S F F: 50%
    assert_eq!(b.state(), BreakerState::Open);
}

/// Fewer calls than `min_calls` never trip, however many fail.
#[test]
fn count_based_window_needs_minimum_calls() {
    let b = count_breaker(10, 5);
    for _ in 0..4 {
        call(&b, true);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    call(&b, true);
    assert_eq!(b.state(), BreakerState::Open);
}

/// resilience4j caps `minimumNumberOfCalls` at the size of a count-based window (a window of
/// 4 can never hold 10 calls).
#[test]
fn count_based_min_calls_is_capped_at_the_window() {
    let b = count_breaker(4, 10);
    for _ in 0..4 {
        call(&b, true);
    }
    assert_eq!(b.state(), BreakerState::Open);
}

/// Time does not age a count-based window, and closing resets it.
#[test]
fn count_based_window_ignores_time_and_resets_on_close() {
    let clock = ManualClock::new(0);
    let rule = TripRule::failure_rate_count(0.5, 4, 4).unwrap();
    let b = CircuitBreaker::new(
        BreakerConfig::new(rule, S, 8 * S, 1).unwrap(),
        clock.clone(),
    );
    call(&b, true);
    call(&b, true);
    clock.advance(Duration::from_secs(3600));
    call(&b, false);
    call(&b, true); // F F S F: 75%
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(S);
    call(&b, false); // the probe succeeds: closed, window empty
    assert_eq!(b.state(), BreakerState::Closed);
    for failed in [true, true, false] {
        call(&b, failed);
    }
    assert_eq!(b.state(), BreakerState::Closed, "3 calls < 4");
}

#[test]
fn count_based_configuration_errors() {
    assert!(TripRule::failure_rate_count(0.5, 0, 1).is_err());
    assert!(TripRule::failure_rate_count(0.5, 10, 0).is_err());
    assert!(TripRule::failure_rate_count(0.0, 10, 1).is_err());
    assert!(TripRule::failure_rate_count(f64::NAN, 10, 1).is_err());
    assert!(TripRule::failure_rate_count(1.01, 10, 1).is_err());
    assert!(TripRule::failure_rate_count(1.0, 1 << 20, 1).is_ok());
    assert!(TripRule::failure_rate_count(1.0, (1 << 20) + 1, 1).is_err());
    // A hand-built rule is validated by the config too (it sizes an allocation).
    let huge = TripRule::FailureRateCount {
        threshold_ppm: 500_000,
        window_calls: u32::MAX,
        min_calls: 1,
    };
    assert!(BreakerConfig::new(huge, S, S, 1).is_err());
}
