//! The count-based failure-rate breaker against a model of resilience4j's `COUNT_BASED`
//! window: a queue of the last N outcomes.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use quorate_clocks::{ManualClock, MonotonicClock};
use quorate_retry::{BreakerConfig, BreakerState, CircuitBreaker, TripRule};

proptest! {
    #[test]
    fn count_window_trips_exactly_when_the_model_does(
        window in 1u32..20,
        min_calls in 1u32..30,
        threshold_pct in 1u32..=100,
        outcomes in proptest::collection::vec(any::<bool>(), 1..200),
    ) {
        let rule = TripRule::failure_rate_count(f64::from(threshold_pct) / 100.0, window, min_calls).unwrap();
        let s = Duration::from_secs(1);
        let b = CircuitBreaker::new(BreakerConfig::new(rule, s, s, 1).unwrap(), ManualClock::new(0));
        let mut model: VecDeque<bool> = VecDeque::new();
        for failed in outcomes {
            let p = b.try_acquire().unwrap();
            if failed { b.on_failure(p) } else { b.on_success(p) }
            model.push_back(failed);
            if model.len() > window as usize {
                model.pop_front();
            }
            let calls = model.len() as u64;
            let fails = model.iter().filter(|f| **f).count() as u64;
            let trip = calls >= u64::from(min_calls.min(window))
                && fails * 100 >= calls * u64::from(threshold_pct);
            prop_assert_eq!(b.state() == BreakerState::Open, trip);
            if trip {
                break;
            }
        }
    }
}

proptest! {
    /// With slow-call tracking, the count-based breaker trips exactly when the model's window
    /// of the last N (failed, slow) outcomes reaches either threshold, a call being slow when
    /// it took strictly longer than the duration threshold (resilience4j's rule).
    #[test]
    fn count_window_with_slow_calls_trips_exactly_when_the_model_does(
        window in 1u32..20,
        min_calls in 1u32..30,
        threshold_pct in 1u32..=100,
        slow_pct in 1u32..=100,
        slow_ms in 1u64..50,
        calls in proptest::collection::vec((any::<bool>(), 0u64..100), 1..200),
    ) {
        let rule = TripRule::failure_rate_count(f64::from(threshold_pct) / 100.0, window, min_calls).unwrap();
        let s = Duration::from_secs(1);
        let cfg = BreakerConfig::new(rule, s, s, 1)
            .unwrap()
            .with_slow_calls(Duration::from_millis(slow_ms), f64::from(slow_pct) / 100.0)
            .unwrap();
        let clock = ManualClock::new(0);
        let b = CircuitBreaker::new(cfg, clock.clone());
        let mut model: VecDeque<(bool, bool)> = VecDeque::new();
        for (failed, took_ms) in calls {
            let p = b.try_acquire().unwrap();
            clock.advance(Duration::from_millis(took_ms));
            if failed { b.on_failure(p) } else { b.on_success(p) }
            model.push_back((failed, took_ms > slow_ms));
            if model.len() > window as usize {
                model.pop_front();
            }
            let n = model.len() as u64;
            let fails = model.iter().filter(|c| c.0).count() as u64;
            let slow = model.iter().filter(|c| c.1).count() as u64;
            let trip = n >= u64::from(min_calls.min(window))
                && (fails * 100 >= n * u64::from(threshold_pct)
                    || slow * 100 >= n * u64::from(slow_pct));
            prop_assert_eq!(b.state() == BreakerState::Open, trip);
            if trip {
                break;
            }
        }
    }
}

proptest! {
    /// The time-based window with slow calls against a literal model: every recorded call is
    /// kept with its ten-bucket window number, and the rates are taken over the calls whose
    /// bucket is among the last ten. Gaps of any length between calls exercise bucket reuse.
    #[test]
    fn time_window_with_slow_calls_trips_exactly_when_the_model_does(
        window_ms in 10u64..2_000,
        min_calls in 1u32..20,
        threshold_pct in 1u32..=100,
        slow_pct in 1u32..=100,
        slow_ms in 1u64..50,
        calls in proptest::collection::vec((any::<bool>(), 0u64..100, 0u64..500), 1..200),
    ) {
        let rule = TripRule::failure_rate(
            f64::from(threshold_pct) / 100.0,
            Duration::from_millis(window_ms),
            min_calls,
        )
        .unwrap();
        let s = Duration::from_secs(1);
        let cfg = BreakerConfig::new(rule, s, s, 1)
            .unwrap()
            .with_slow_calls(Duration::from_millis(slow_ms), f64::from(slow_pct) / 100.0)
            .unwrap();
        let clock = ManualClock::new(0);
        let b = CircuitBreaker::new(cfg, clock.clone());
        let width = window_ms * 1_000_000 / 10;
        // (bucket number, failed, slow) of every call so far.
        let mut model: Vec<(u64, bool, bool)> = Vec::new();
        for (failed, took_ms, gap_ms) in calls {
            clock.advance(Duration::from_millis(gap_ms));
            let p = b.try_acquire().unwrap();
            clock.advance(Duration::from_millis(took_ms));
            if failed { b.on_failure(p) } else { b.on_success(p) }
            let w = clock.now_nanos() / width;
            model.push((w, failed, took_ms > slow_ms));
            let live: Vec<_> = model.iter().filter(|c| w - c.0 < 10).collect();
            let n = live.len() as u64;
            let fails = live.iter().filter(|c| c.1).count() as u64;
            let slow = live.iter().filter(|c| c.2).count() as u64;
            let trip = n >= u64::from(min_calls)
                && (fails * 100 >= n * u64::from(threshold_pct)
                    || slow * 100 >= n * u64::from(slow_pct));
            prop_assert_eq!(b.state() == BreakerState::Open, trip);
            if trip {
                break;
            }
        }
    }
}
