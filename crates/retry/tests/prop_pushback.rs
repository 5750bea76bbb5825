//! Server pushback over random schedules: no retry ever starts before a received pushback
//! expires, no sleep ends past the deadline, and every decision matches a literal model of
//! gRFC A6 (retry after exactly the pushback, then restart the backoff) with our deadline rule.

use std::time::Duration;

use proptest::prelude::*;
use quorate_clocks::{ManualClock, MonotonicClock};
use quorate_retry::{
    Backoff, BackoffState, Classification, Decision, FastRng, GiveUpReason, Idempotency, Jitter,
    OutcomeClass, Retry, RetryPlanner, RetryPolicy,
};

const MS: u64 = 1_000_000;

fn class() -> impl Strategy<Value = OutcomeClass> {
    prop_oneof![
        Just(OutcomeClass::NotSent),
        Just(OutcomeClass::Throttled),
        Just(OutcomeClass::Transient),
        Just(OutcomeClass::Timeout),
        Just(OutcomeClass::Ambiguous),
    ]
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

/// One step of a schedule: how the attempt ends, the server's pushback (ms, often above the
/// cap) and how long the attempt took (ms).
type Step = (OutcomeClass, Option<u64>, u64);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (
            class(),
            proptest::option::weighted(0.5, 0u64..20_000),
            0u64..300,
        ),
        1..40,
    )
}

#[allow(clippy::too_many_arguments)]
fn policy(
    base_ms: u64,
    cap_ms: u64,
    jitter: Jitter,
    max_attempts: u32,
    deadline_ms: Option<u64>,
    timeout_ms: Option<u64>,
) -> RetryPolicy {
    let mut p = RetryPolicy::new(
        Backoff::exponential(
            Duration::from_millis(base_ms),
            2.0,
            Duration::from_millis(cap_ms.max(base_ms)),
        )
        .unwrap()
        .with_jitter(jitter),
    )
    .with_max_attempts(max_attempts)
    .unwrap()
    .with_idempotency(Idempotency::Keyed);
    if let Some(d) = deadline_ms {
        p = p.with_deadline(Duration::from_millis(d)).unwrap();
    }
    if let Some(t) = timeout_ms {
        p = p.with_attempt_timeout(Duration::from_millis(t)).unwrap();
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The planner against a literal model: attempt limit first, then the delay (exactly the
    /// pushback and a fresh backoff, or the next draw), then the deadline with the attempt time
    /// reserved (the timeout, else the longest attempt so far).
    #[test]
    fn planner_matches_the_pushback_model(
        base_ms in 1u64..100,
        cap_ms in 1u64..2_000,
        jitter in jitter(),
        max_attempts in 1u32..30,
        deadline_ms in proptest::option::of(1u64..60_000),
        timeout_ms in proptest::option::of(0u64..300),
        schedule in steps(),
        seed in any::<u64>(),
    ) {
        let pol = policy(base_ms, cap_ms, jitter, max_attempts, deadline_ms, timeout_ms);
        let mut rng = FastRng::seed_from_u64(seed);
        let mut p = RetryPlanner::new(&pol);
        // The model's own state and an identical random stream.
        let mut m_rng = FastRng::seed_from_u64(seed);
        let mut m_state = BackoffState::new();
        let mut m_attempts = 0u32;
        let mut longest = 0u64;
        let start = 1_000 * MS;
        let deadline = deadline_ms.map(|d| start + d * MS);
        let mut now = start;
        // When the last pushback expires: no attempt may start before it.
        let mut not_before = 0u64;
        for (class, push_ms, took_ms) in schedule {
            match p.begin_attempt(now) {
                Ok(info) => {
                    prop_assert!(now >= not_before, "attempt at {now} before the pushback expired at {not_before}");
                    prop_assert_eq!(info.deadline_nanos, deadline);
                    m_attempts += 1;
                }
                Err(r) => {
                    prop_assert_eq!(r, GiveUpReason::DeadlineExceeded);
                    prop_assert!(deadline.is_some_and(|d| now >= d));
                    break;
                }
            }
            let took = took_ms.min(timeout_ms.unwrap_or(u64::MAX)) * MS;
            let failed_at = now + took;
            longest = longest.max(took);
            let mut c = Classification::new(class);
            if let Some(ms) = push_ms {
                c = c.with_retry_after(Duration::from_millis(ms));
            }
            let got = p.on_failure(failed_at, c, &mut rng);
            let expected = if m_attempts >= max_attempts {
                Decision::GiveUp(GiveUpReason::AttemptsExhausted)
            } else {
                let delay = match push_ms {
                    Some(ms) => {
                        m_state = BackoffState::new();
                        ms * MS
                    }
                    None => pol.backoff().next_delay_nanos(&mut m_state, &mut m_rng),
                };
                let reserve = timeout_ms.map_or(longest, |t| t * MS);
                match deadline {
                    Some(d) if failed_at + delay + reserve > d => {
                        Decision::GiveUp(GiveUpReason::DeadlineExceeded)
                    }
                    _ => Decision::RetryAfter(Duration::from_nanos(delay)),
                }
            };
            prop_assert_eq!(got, expected);
            match got {
                Decision::RetryAfter(d) => {
                    let d = u64::try_from(d.as_nanos()).unwrap();
                    if let Some(ms) = push_ms {
                        not_before = failed_at + ms * MS;
                        prop_assert!(failed_at + d >= not_before);
                    }
                    if let Some(dl) = deadline {
                        prop_assert!(failed_at + d <= dl, "sleep ends past the deadline");
                    }
                    now = failed_at + d;
                }
                Decision::GiveUp(_) => break,
            }
        }
    }

    /// End to end through the executor on a manual clock: every attempt starts no earlier than
    /// the pushback received before it, every sleep (and the attempt timeout after it) ends by
    /// the deadline, and a pushback that cannot fit ends the request at once, without a sleep.
    #[test]
    fn executor_honours_pushback_and_deadline(
        base_ms in 1u64..100,
        cap_ms in 1u64..2_000,
        jitter in jitter(),
        deadline_ms in 1u64..60_000,
        timeout_ms in 1u64..300,
        schedule in steps(),
    ) {
        let pol = policy(base_ms, cap_ms, jitter, 1_000, Some(deadline_ms), Some(timeout_ms));
        let clock = ManualClock::new(0);
        clock.advance(Duration::from_millis(5)); // not at the origin of time
        let deadline = clock.now_nanos() + deadline_ms * MS;
        let mut i = 0usize;
        // (when the last attempt ended, its pushback)
        let mut last: Option<(u64, Option<u64>)> = None;
        let mut violation = None;
        let result: Result<(), _> = Retry::new(&pol, &clock, &clock).run(|_| {
            let t = clock.now_nanos();
            if let Some((ended, push)) = last {
                if let Some(ms) = push && t < ended + ms * MS {
                    violation.get_or_insert(format!("attempt at {t} before {}", ended + ms * MS));
                }
                if t + timeout_ms * MS > deadline {
                    violation.get_or_insert(format!("retry at {t} cannot finish by {deadline}"));
                }
            }
            let (class, push_ms, took_ms) = schedule[i % schedule.len()];
            i += 1;
            clock.advance(Duration::from_millis(took_ms.min(timeout_ms)));
            last = Some((clock.now_nanos(), push_ms));
            let mut c = Classification::new(class);
            if let Some(ms) = push_ms {
                c = c.with_retry_after(Duration::from_millis(ms));
            }
            Err(c)
        });
        prop_assert_eq!(violation, None);
        let err = result.unwrap_err();
        // Giving up never slept first: the clock stands where the last attempt ended.
        let (ended, push) = last.unwrap();
        prop_assert_eq!(clock.now_nanos(), ended);
        match err.reason {
            GiveUpReason::DeadlineExceeded => {
                if let Some(ms) = push {
                    prop_assert!(ended + ms * MS + timeout_ms * MS > deadline);
                }
            }
            // Only a schedule of instant attempts and zero delays gets through 1000 attempts.
            GiveUpReason::AttemptsExhausted => prop_assert_eq!(err.attempts, 1_000),
            other => prop_assert!(false, "gave up with {other:?}"),
        }
    }
}
