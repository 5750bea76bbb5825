//! The circuit breaker checked against resilience4j's documented semantics for a
//! failure-rate breaker: in half-open, the permitted calls (or `minimumNumberOfCalls` of them,
//! if fewer) complete before the breaker decides, and it reopens only if their failure rate or
//! slow-call rate is at or above its threshold. The slow-call cases restate resilience4j's
//! `CircuitBreakerStateMachineTest` and `CircuitBreakerConfigTest` in our words.

use std::time::Duration;

use quorate_clocks::ManualClock;
use quorate_retry::{BreakerConfig, BreakerState, CircuitBreaker, ConfigError, TripRule};

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

/// resilience4j's state-machine test setup: a 20 s time window with at least 5 calls, 50%
/// failure rate, calls slower than 4 s are slow, 50% slow-call rate, 4 permitted calls in
/// half-open, 5 s open.
fn r4j_breaker() -> (ManualClock, CircuitBreaker<ManualClock>) {
    let clock = ManualClock::new(0);
    let rule = TripRule::failure_rate(0.5, Duration::from_secs(20), 5).unwrap();
    let cfg = BreakerConfig::new(rule, 5 * S, 60 * S, 4)
        .unwrap()
        .with_slow_calls(4 * S, 0.5)
        .unwrap();
    (clock.clone(), CircuitBreaker::new(cfg, clock))
}

/// One call that takes `took` and then succeeds or fails.
fn timed(clock: &ManualClock, b: &CircuitBreaker<ManualClock>, took: Duration, failed: bool) {
    let p = b.try_acquire().expect("admitted");
    clock.advance(took);
    if failed {
        b.on_failure(p);
    } else {
        b.on_success(p);
    }
}

const MS100: Duration = Duration::from_millis(100);

/// resilience4j `shouldOpenAfterSlowCallRateThresholdExceeded`: slow failure, slow success,
/// fast failure, fast success, slow success: 3 of 5 calls slow (60% >= 50%) opens the
/// breaker although the failure rate is only 40%. A slow call counts as slow whether it
/// succeeded or failed.
#[test]
fn slow_call_rate_opens_the_breaker() {
    let (clock, b) = r4j_breaker();
    timed(&clock, &b, 5 * S, true);
    timed(&clock, &b, 5 * S, false);
    timed(&clock, &b, MS100, true);
    timed(&clock, &b, MS100, false);
    assert_eq!(b.state(), BreakerState::Closed, "4 calls < minimum of 5");
    assert_eq!(b.stats().slow_calls, 2);
    timed(&clock, &b, 5 * S, false);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.stats().slow_calls, 3);
}

/// The same five calls without slow-call tracking: 40% failures keep it closed.
#[test]
fn without_slow_call_tracking_the_same_calls_do_not_trip() {
    let clock = ManualClock::new(0);
    let rule = TripRule::failure_rate(0.5, Duration::from_secs(20), 5).unwrap();
    let b = CircuitBreaker::new(
        BreakerConfig::new(rule, 5 * S, 60 * S, 4).unwrap(),
        clock.clone(),
    );
    for (took, failed) in [
        (5 * S, true),
        (5 * S, false),
        (MS100, true),
        (MS100, false),
        (5 * S, false),
    ] {
        timed(&clock, &b, took, failed);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.stats().slow_calls, 0);
}

/// resilience4j counts a call as slow when its duration is greater than
/// `slowCallDurationThreshold`: exactly 4 s is not slow, 4 s and 1 ns is.
#[test]
fn a_call_of_exactly_the_threshold_is_not_slow() {
    let (clock, b) = r4j_breaker();
    for _ in 0..10 {
        timed(&clock, &b, 4 * S, false);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.stats().slow_calls, 0);
    let (clock, b) = r4j_breaker();
    for _ in 0..5 {
        timed(&clock, &b, 4 * S + Duration::from_nanos(1), false);
    }
    assert_eq!(b.state(), BreakerState::Open);
}

/// Below the minimum number of calls neither rate is computed: four slow calls of four
/// recorded do not open it (resilience4j returns "below minimum calls").
#[test]
fn slow_calls_below_the_minimum_do_not_trip() {
    let (clock, b) = r4j_breaker();
    for _ in 0..4 {
        timed(&clock, &b, 5 * S, false);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    timed(&clock, &b, MS100, false); // fifth call, fast: 4 of 5 slow
    assert_eq!(b.state(), BreakerState::Open);
}

/// Slow calls age out of a time-based window like failures do.
#[test]
fn slow_calls_leave_the_time_window() {
    let (clock, b) = r4j_breaker();
    timed(&clock, &b, 5 * S, false);
    timed(&clock, &b, 5 * S, false);
    clock.advance(30 * S); // both slow calls are now older than the 20 s window
    for _ in 0..3 {
        timed(&clock, &b, MS100, false);
    }
    assert_eq!(b.state(), BreakerState::Closed, "3 calls in the window < 5");
    for _ in 0..2 {
        timed(&clock, &b, 5 * S, false);
    }
    assert_eq!(b.state(), BreakerState::Closed, "2 of 5 slow: 40%");
    timed(&clock, &b, 5 * S, false);
    assert_eq!(b.state(), BreakerState::Open, "3 of 6 slow: 50%");
}

fn trip_r4j(clock: &ManualClock, b: &CircuitBreaker<ManualClock>) {
    for _ in 0..5 {
        timed(clock, b, Duration::ZERO, true);
    }
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(5 * S);
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

/// resilience4j `shouldTransitionBackToOpenStateWhenSlowCallRateIsAboveThreshold`: in
/// half-open, three slow successes and one fast one (1 s): no failures, but 75% slow reopens.
#[test]
fn half_open_reopens_on_the_slow_call_rate() {
    let (clock, b) = r4j_breaker();
    trip_r4j(&clock, &b);
    for _ in 0..3 {
        timed(&clock, &b, 5 * S, false);
    }
    assert_eq!(b.state(), BreakerState::HalfOpen, "3 of 4 permitted calls");
    timed(&clock, &b, S, false);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.stats().slow_calls, 3);
    let s = b.stats();
    assert_eq!((s.opened, s.half_opened, s.closed), (2, 1, 0));
}

/// resilience4j `shouldTransitionBackToClosedStateWhenFailureIsBelowThreshold`, with a slow
/// probe: one failure and one slow call of four probes are both 25%, below 50%: closed.
#[test]
fn half_open_closes_when_both_rates_are_below_their_thresholds() {
    let (clock, b) = r4j_breaker();
    trip_r4j(&clock, &b);
    timed(&clock, &b, Duration::ZERO, true);
    timed(&clock, &b, 5 * S, false);
    timed(&clock, &b, Duration::ZERO, false);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    timed(&clock, &b, Duration::ZERO, false);
    assert_eq!(b.state(), BreakerState::Closed);
}

/// resilience4j's half-open window takes `min(minimumNumberOfCalls, permitted calls)` as its
/// minimum: with a minimum of 2 and 4 permitted calls, two failed probes decide at once.
#[test]
fn half_open_decides_after_min_calls_when_fewer_than_the_probes() {
    let clock = ManualClock::new(0);
    let rule = TripRule::failure_rate_count(0.5, 10, 2).unwrap();
    let b = CircuitBreaker::new(
        BreakerConfig::new(rule, S, 8 * S, 4).unwrap(),
        clock.clone(),
    );
    call(&b, true);
    call(&b, true);
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(S);
    call(&b, true);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    call(&b, false);
    assert_eq!(b.state(), BreakerState::Open, "1 failure of 2 is 50%");
    clock.advance(2 * S);
    call(&b, false);
    call(&b, false);
    assert_eq!(b.state(), BreakerState::Closed, "0 of 2");
}

/// The count-based window holds the slow flags of its last N calls too.
#[test]
fn count_based_window_tracks_the_slow_call_rate() {
    let clock = ManualClock::new(0);
    let rule = TripRule::failure_rate_count(0.5, 4, 4).unwrap();
    let b = CircuitBreaker::new(
        BreakerConfig::new(rule, S, 8 * S, 1)
            .unwrap()
            .with_slow_calls(2 * S, 0.5)
            .unwrap(),
        clock.clone(),
    );
    for took in [3, 0, 0, 0] {
        timed(&clock, &b, took * S, false); // slow, fast, fast, fast: 25%
    }
    assert_eq!(b.state(), BreakerState::Closed);
    timed(&clock, &b, 3 * S, false); // the first slow call slid out: still 25%
    assert_eq!(b.state(), BreakerState::Closed);
    timed(&clock, &b, 3 * S, false); // fast, fast, slow, slow: 50%
    assert_eq!(b.state(), BreakerState::Open);
}

/// resilience4j `CircuitBreakerConfigTest`: a zero slow-call duration, a zero slow-call rate
/// and a rate above 100% are rejected; so is a slow-call rule without a window of calls.
#[test]
fn slow_call_configuration_errors() {
    let rule = TripRule::failure_rate_count(0.5, 10, 10).unwrap();
    let cfg = BreakerConfig::new(rule, S, S, 1).unwrap();
    assert_eq!(
        cfg.with_slow_calls(Duration::ZERO, 0.5),
        Err(ConfigError::Zero {
            what: "slow call duration"
        })
    );
    assert!(cfg.with_slow_calls(Duration::from_nanos(1), 0.5).is_ok());
    for bad in [0.0, -0.1, 1.01, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            cfg.with_slow_calls(S, bad),
            Err(ConfigError::OutOfRange { .. })
        ));
    }
    assert!(cfg.with_slow_calls(S, 1.0).is_ok());
    assert!(cfg.with_slow_calls(S, 1e-6).is_ok());
    assert!(cfg.with_slow_calls(Duration::MAX, 0.5).is_err());
    let consecutive = BreakerConfig::new(TripRule::ConsecutiveFailures(3), S, S, 1).unwrap();
    let err = consecutive.with_slow_calls(S, 0.5).unwrap_err();
    assert!(matches!(err, ConfigError::Unsupported { .. }));
    assert_eq!(
        err.to_string(),
        "slow-call tracking with a consecutive-failures rule is not supported"
    );
    assert_eq!(cfg.slow_call_duration(), None);
    let slow = cfg.with_slow_calls(4 * S, 0.5).unwrap();
    assert_eq!(slow.slow_call_duration(), Some(4 * S));
    assert_eq!(slow.slow_call_rate_threshold(), Some(0.5));
}
