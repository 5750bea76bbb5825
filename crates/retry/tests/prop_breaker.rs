//! The count-based failure-rate breaker against a model of resilience4j's `COUNT_BASED`
//! window: a queue of the last N outcomes.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use quorate_clocks::ManualClock;
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
