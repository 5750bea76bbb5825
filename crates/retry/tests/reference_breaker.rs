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
