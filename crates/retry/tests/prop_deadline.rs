//! With a manual clock, sleeps plus modelled attempt time never pass the deadline, whatever
//! the backoff, jitter, attempt durations and failure classes.

use std::time::Duration;

use proptest::prelude::*;
use quorate_clocks::{ManualClock, MonotonicClock};
use quorate_retry::{Backoff, Idempotency, Jitter, OutcomeClass, Retry, RetryPolicy};

fn class() -> impl Strategy<Value = OutcomeClass> {
    prop_oneof![
        Just(OutcomeClass::NotSent),
        Just(OutcomeClass::Throttled),
        Just(OutcomeClass::Transient),
        Just(OutcomeClass::Timeout),
        Just(OutcomeClass::Ambiguous),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn retries_never_run_past_the_deadline(
        base_ms in 1u64..200,
        cap_ms in 200u64..3000,
        jitter in prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)],
        deadline_ms in 1u64..10_000,
        timeout_ms in 1u64..500,
        // Each attempt takes up to its timeout (the modelled attempt time).
        durations in proptest::collection::vec(0u64..500, 1..50),
        classes in proptest::collection::vec(class(), 1..50),
    ) {
        let policy = RetryPolicy::new(
            Backoff::exponential(Duration::from_millis(base_ms), 2.0, Duration::from_millis(cap_ms)).unwrap().with_jitter(jitter),
        )
        .with_max_attempts(1000).unwrap()
        .with_deadline(Duration::from_millis(deadline_ms)).unwrap()
        .with_attempt_timeout(Duration::from_millis(timeout_ms)).unwrap()
        .with_idempotency(Idempotency::Keyed);
        let clock = ManualClock::new(1_000_000_000);
        let start = clock.now_nanos();
        let deadline = start + deadline_ms * 1_000_000;
        let mut attempts = 0usize;
        let result: Result<(), _> = Retry::new(&policy, &clock, &clock).run(|info| {
            // Every attempt starts before the deadline, and the planner passed it on.
            assert!(clock.now_nanos() < deadline);
            assert_eq!(info.deadline_nanos, Some(deadline));
            let d = durations[attempts % durations.len()].min(timeout_ms);
            let c = classes[attempts % classes.len()];
            attempts += 1;
            clock.advance(Duration::from_millis(d));
            Err(c)
        });
        prop_assert!(result.is_err());
        // The first attempt ran unconditionally; every later one was only scheduled if it could
        // finish (modelled attempt time = the timeout) before the deadline.
        if attempts > 1 {
            prop_assert!(clock.now_nanos() <= deadline, "ran until {} past deadline {}", clock.now_nanos(), deadline);
        }
    }
}

proptest! {
    /// The planner's delay stays within the cap unless the server pushed back (then it is
    /// exactly the pushback), and the delay plus the modelled attempt time fits before the
    /// deadline.
    #[test]
    fn planner_delays_respect_cap_and_deadline(
        cap_ms in 1u64..2000,
        deadline_ms in 1u64..5000,
        attempt_ms in 0u64..300,
        steps in proptest::collection::vec((class(), proptest::option::of(0u64..100_000), 0u64..400), 1..40),
        seed in any::<u64>(),
    ) {
        use quorate_retry::{Classification, Decision, FastRng, RetryPlanner};
        let policy = RetryPolicy::new(
            Backoff::exponential(Duration::from_millis(1), 3.0, Duration::from_millis(cap_ms)).unwrap().with_jitter(Jitter::Full),
        )
        .with_max_attempts(100).unwrap()
        .with_deadline(Duration::from_millis(deadline_ms)).unwrap()
        .with_attempt_timeout(Duration::from_millis(attempt_ms)).unwrap()
        .with_idempotency(Idempotency::Idempotent);
        let mut rng = FastRng::seed_from_u64(seed);
        let mut p = RetryPlanner::new(&policy);
        let mut now = 0u64;
        let deadline = deadline_ms * 1_000_000;
        for (class, push_ms, took_ms) in steps {
            if p.begin_attempt(now).is_err() {
                break;
            }
            now += took_ms.min(attempt_ms) * 1_000_000;
            let mut c = Classification::new(class);
            if let Some(ms) = push_ms {
                c = c.with_retry_after(Duration::from_millis(ms));
            }
            match p.on_failure(now, c, &mut rng) {
                Decision::RetryAfter(d) => {
                    match push_ms {
                        Some(ms) => prop_assert_eq!(d, Duration::from_millis(ms)),
                        None => prop_assert!(d <= Duration::from_millis(cap_ms)),
                    }
                    let d = d.as_nanos() as u64;
                    prop_assert!(now + d + attempt_ms * 1_000_000 <= deadline);
                    now += d;
                }
                Decision::GiveUp(_) => break,
            }
        }
    }
}
