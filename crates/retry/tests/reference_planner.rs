//! Planner and backoff behaviour checked against the references: the AWS SDK standard retry
//! mode (quota refund of the last acquisition), gRFC A6 and botocore's attempt numbering
//! (the first retry waits `base`), and edge cases at the limits of time.

use std::time::Duration;

use quorate_retry::{
    AdaptiveThrottle, Backoff, BackoffState, Classification, Decision, FastRng, GiveUpReason,
    Idempotency, Jitter, OutcomeClass, RetryBudget, RetryPlanner, RetryPolicy, RetryQuota,
};

const MS: u64 = 1_000_000;

fn fail(p: &mut RetryPlanner<'_>, now: u64, c: impl Into<Classification>) -> Decision {
    p.on_failure(now, c.into(), &mut FastRng::seed_from_u64(0))
}

/// botocore's quota refunds "whatever quota was associated with the last acquisition" when
/// the call finally succeeds. A retry that was never sent acquires nothing, so it must not
/// erase the acquisition of the retry before it: the success refunds the 5 units, and does
/// not count as a first-try success (+1).
#[test]
fn aws_refund_survives_an_unsent_retry() {
    let q = RetryQuota::standard();
    let pol = RetryPolicy::new(Backoff::constant(Duration::from_millis(1)).unwrap())
        .with_max_attempts(5)
        .unwrap();
    let mut p = RetryPlanner::new(&pol).with_budget(&q);
    p.begin_attempt(0).unwrap();
    assert!(fail(&mut p, MS, OutcomeClass::Transient).delay().is_some());
    assert_eq!(q.available(), 495);
    p.begin_attempt(2 * MS).unwrap();
    // The connection could not be opened: free to retry, no new acquisition.
    assert!(
        fail(&mut p, 3 * MS, OutcomeClass::NotSent)
            .delay()
            .is_some()
    );
    assert_eq!(q.available(), 495);
    p.begin_attempt(4 * MS).unwrap();
    p.on_success(5 * MS);
    assert_eq!(q.available(), 500, "the last acquisition (5) is refunded");
}

/// A retry after another retry refunds only the last acquisition (10 for a timeout), as
/// botocore does; the earlier 5 stays spent.
#[test]
fn aws_refund_is_the_last_acquisition_only() {
    let q = RetryQuota::standard();
    let pol = RetryPolicy::new(Backoff::constant(Duration::from_millis(1)).unwrap())
        .with_max_attempts(5)
        .unwrap()
        .with_idempotency(Idempotency::Idempotent);
    let mut p = RetryPlanner::new(&pol).with_budget(&q);
    p.begin_attempt(0).unwrap();
    assert!(fail(&mut p, MS, OutcomeClass::Transient).delay().is_some()); // -5
    p.begin_attempt(2 * MS).unwrap();
    assert!(
        fail(&mut p, 3 * MS, OutcomeClass::Timeout)
            .delay()
            .is_some()
    ); // -10
    assert_eq!(q.available(), 485);
    p.begin_attempt(4 * MS).unwrap();
    p.on_success(5 * MS);
    assert_eq!(q.available(), 495);
}

/// An empty quota means no retry: the failure is returned (AWS "retry quota exceeded").
#[test]
fn aws_empty_quota_gives_up() {
    let q = RetryQuota::new(9, 5, 9, 1).unwrap();
    let pol = RetryPolicy::new(Backoff::constant(Duration::from_millis(1)).unwrap())
        .with_max_attempts(5)
        .unwrap()
        .with_idempotency(Idempotency::Idempotent);
    let mut p = RetryPlanner::new(&pol).with_budget(&q);
    p.begin_attempt(0).unwrap();
    assert!(fail(&mut p, MS, OutcomeClass::Timeout).delay().is_some()); // 9 - 9
    assert_eq!(q.available(), 0);
    p.begin_attempt(2 * MS).unwrap();
    assert_eq!(
        fail(&mut p, 3 * MS, OutcomeClass::Transient),
        Decision::GiveUp(GiveUpReason::BudgetExhausted)
    );
    assert_eq!(q.available(), 0, "a refused retry costs nothing");
}

/// A deadline that has already passed gives up before the first attempt and before the
/// budget hears of the request (an adaptive throttle must not count it).
#[test]
fn deadline_already_passed() {
    let t = AdaptiveThrottle::new(2.0, Duration::from_secs(10))
        .unwrap()
        .with_seed(1);
    let pol = RetryPolicy::new(Backoff::constant(Duration::from_millis(1)).unwrap());
    let mut p = RetryPlanner::new(&pol)
        .with_budget(&t)
        .with_deadline_at(10 * MS);
    assert_eq!(
        p.begin_attempt(10 * MS),
        Err(GiveUpReason::DeadlineExceeded)
    );
    assert_eq!(p.attempts(), 0);
    // No request was counted: a success now gives 0 requests, 1 accept.
    t.on_success(10 * MS, None);
    assert_eq!(t.reject_probability(10 * MS), 0.0);
    // A zero policy deadline leaves no time at all.
    let pol = pol.with_deadline(Duration::ZERO).unwrap();
    let mut p = RetryPlanner::new(&pol);
    assert_eq!(p.begin_attempt(5), Err(GiveUpReason::DeadlineExceeded));
}

/// Time near the end of u64 saturates instead of wrapping: a deadline at `u64::MAX` that the
/// next attempt would pass is still honoured, and a pushback of `Duration::MAX` (which no
/// deadline can hold) gives up at once instead of being clamped or wrapping.
#[test]
fn times_near_u64_max_do_not_wrap() {
    let pol = RetryPolicy::new(
        Backoff::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(4)).unwrap(),
    )
    .with_max_attempts(10)
    .unwrap()
    .with_deadline(Duration::from_secs(3600))
    .unwrap();
    let start = u64::MAX - 10_000 * MS; // 10 s before the end of time
    let push = |d| Classification::new(OutcomeClass::Throttled).with_retry_after(d);
    let mut p = RetryPlanner::new(&pol);
    let info = p.begin_attempt(start).unwrap();
    assert_eq!(info.deadline_nanos, Some(u64::MAX));
    let mut q = p;
    assert_eq!(
        fail(&mut q, start + MS, push(Duration::MAX)),
        Decision::GiveUp(GiveUpReason::DeadlineExceeded)
    );
    let d = fail(&mut p, start + MS, push(Duration::from_secs(4)));
    assert_eq!(d, Decision::RetryAfter(Duration::from_secs(4)));
    // Keep failing: every planned sleep (plus the attempt) ends by u64::MAX, then it gives up.
    let mut now = start + MS + 4_000 * MS;
    let mut retries = 0;
    loop {
        p.begin_attempt(now).unwrap();
        now += MS;
        match fail(&mut p, now, OutcomeClass::Transient) {
            Decision::RetryAfter(d) => {
                let d = u64::try_from(d.as_nanos()).unwrap();
                now = now
                    .checked_add(d)
                    .expect("a planned sleep never passes u64::MAX");
                retries += 1;
            }
            Decision::GiveUp(r) => {
                assert_eq!(r, GiveUpReason::DeadlineExceeded);
                break;
            }
        }
    }
    assert!(retries >= 1);
}

/// The first retry waits `base`: backon's first delay is `min_delay`, botocore's first
/// standard-mode delay is `rand(0, 1) * 2^0` seconds and gRFC A6's first retry is at
/// `random(0, initialBackoff)`. (Brooker's simulator counts from the first failure and
/// waits `base * 2^1` first; [`quorate_retry::sim`] passes `2 * base` to match it.)
#[test]
fn the_first_retry_waits_base() {
    let ms = Duration::from_millis;
    let b = Backoff::exponential(ms(100), 2.0, ms(1000)).unwrap();
    let mut s = BackoffState::default();
    let mut rng = FastRng::seed_from_u64(9);
    assert_eq!(b.next_delay(&mut s, &mut rng), ms(100));
    assert_eq!(b.next_delay(&mut s, &mut rng), ms(200));
    // Full jitter draws the first retry from [0, base].
    let full = b.with_jitter(Jitter::Full);
    for seed in 0..200 {
        let mut s = BackoffState::default();
        let d = full.next_delay(&mut s, &mut FastRng::seed_from_u64(seed));
        assert!(d <= ms(100), "{d:?}");
    }
    // Decorrelated jitter draws the first retry from [base, 3 * base].
    let dec = b.with_jitter(Jitter::Decorrelated);
    for seed in 0..200 {
        let mut s = BackoffState::default();
        let d = dec.next_delay(&mut s, &mut FastRng::seed_from_u64(seed));
        assert!(d >= ms(100) && d <= ms(300), "{d:?}");
    }
}

/// The AWS SDK standard mode: `min(b * 2^i, 20 s)` with `b` uniform in [0, 1] s. Full jitter
/// on `Backoff::exponential(1 s, 2, 20 s)` never exceeds 20 s, and retry `i` stays below
/// `2^i` s.
#[test]
fn aws_standard_delays_stay_under_their_bounds() {
    let b = Backoff::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(20))
        .unwrap()
        .with_jitter(Jitter::Full);
    for seed in 0..50 {
        let mut s = BackoffState::default();
        let mut rng = FastRng::seed_from_u64(seed);
        for i in 0..40u32 {
            let d = b.next_delay(&mut s, &mut rng);
            let bound = Duration::from_secs(1u64 << i.min(20)).min(Duration::from_secs(20));
            assert!(d <= bound, "retry {i}: {d:?}");
        }
    }
}

/// Zero and huge durations: a zero schedule sleeps zero, a `u64::MAX` ns cap grows without
/// overflow, and durations beyond 64-bit nanoseconds are typed errors.
#[test]
fn zero_and_huge_durations() {
    let z = Backoff::exponential(Duration::ZERO, 2.0, Duration::ZERO).unwrap();
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let mut it = z.with_jitter(jitter).delays(FastRng::seed_from_u64(1));
        assert!(it.by_ref().take(10).all(|d| d.is_zero()), "{jitter:?}");
    }
    let max = Duration::from_nanos(u64::MAX);
    let big = Backoff::exponential(Duration::from_nanos(1), 1000.0, max).unwrap();
    let got: Vec<_> = big.delays(FastRng::seed_from_u64(1)).take(12).collect();
    assert!(got.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(got[11], max);
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let b = big.with_jitter(jitter);
        assert!(
            b.delays(FastRng::seed_from_u64(2))
                .take(50)
                .all(|d| d <= max)
        );
    }
    assert!(Backoff::constant(Duration::MAX).is_err());
    assert!(Backoff::linear(Duration::ZERO, max, max).is_ok());
    assert!(
        RetryPolicy::new(Backoff::constant(Duration::ZERO).unwrap())
            .with_deadline(Duration::MAX)
            .is_err()
    );
    for bad in [f64::NAN, f64::INFINITY, -1.0, 0.0, 0.999, 1000.001] {
        assert!(
            Backoff::exponential(Duration::ZERO, bad, Duration::ZERO).is_err(),
            "{bad}"
        );
    }
}

/// The quota budget is charged for a retry only once the planner knows it will be sent.
#[test]
fn budget_is_not_spent_when_the_deadline_rules_the_retry_out() {
    let q = RetryQuota::standard();
    let pol = RetryPolicy::new(Backoff::constant(Duration::from_millis(50)).unwrap())
        .with_max_attempts(5)
        .unwrap()
        .with_deadline(Duration::from_millis(40))
        .unwrap();
    let mut p = RetryPlanner::new(&pol).with_budget(&q);
    p.begin_attempt(0).unwrap();
    assert_eq!(
        fail(&mut p, MS, OutcomeClass::Transient),
        Decision::GiveUp(GiveUpReason::DeadlineExceeded)
    );
    assert_eq!(q.available(), 500);
    let _ = q.try_withdraw(0, quorate_retry::RetryCost::Standard);
}

fn grpc_policy(max_attempts: u32) -> RetryPolicy {
    // gRFC A6's example policy without jitter, so the delays can be read off:
    // initialBackoff 0.1 s, backoffMultiplier 2, maxBackoff 1 s.
    RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(1)).unwrap(),
    )
    .with_max_attempts(max_attempts)
    .unwrap()
}

/// gRFC A6, "Pushback: Retry in n ms": the retry is made in exactly n ms (shorter than the
/// backoff, or longer than `maxBackoff`), and "if this attempt also fails, retry delay will
/// reset to initial backoff for the following retry".
#[test]
fn grfc_a6_retry_in_n_ms_then_reset_to_initial_backoff() {
    let ms = Duration::from_millis;
    let pol = grpc_policy(10);
    let mut p = RetryPlanner::new(&pol);
    let push = |d| Classification::new(OutcomeClass::Transient).with_retry_after(d);
    let mut now = 0;
    let mut step = |p: &mut RetryPlanner<'_>, c: Classification| {
        p.begin_attempt(now).unwrap();
        now += MS;
        let d = fail(p, now, c).delay().expect("retried");
        now += u64::try_from(d.as_nanos()).unwrap();
        d
    };
    assert_eq!(step(&mut p, OutcomeClass::Transient.into()), ms(100));
    assert_eq!(step(&mut p, OutcomeClass::Transient.into()), ms(200));
    // The backoff would be 400 ms: the server's 50 ms wins, exactly.
    assert_eq!(step(&mut p, push(ms(50))), ms(50));
    // That retry failed too: back to the initial backoff.
    assert_eq!(step(&mut p, OutcomeClass::Transient.into()), ms(100));
    assert_eq!(step(&mut p, OutcomeClass::Transient.into()), ms(200));
    // 1.5 s is above maxBackoff (1 s): still exactly 1.5 s, then the reset again.
    assert_eq!(step(&mut p, push(ms(1500))), ms(1500));
    assert_eq!(step(&mut p, OutcomeClass::Transient.into()), ms(100));
    // Two pushbacks in a row: each one exactly.
    assert_eq!(step(&mut p, push(ms(7))), ms(7));
    assert_eq!(step(&mut p, push(ms(0))), ms(0));

    // With jitter the reset shows as a draw from [0, initialBackoff] again.
    let jittered = RetryPolicy::new(pol.backoff().with_jitter(Jitter::Full))
        .with_max_attempts(10)
        .unwrap();
    for seed in 0..100 {
        let mut rng = FastRng::seed_from_u64(seed);
        let mut p = RetryPlanner::new(&jittered);
        let mut now = 0;
        for _ in 0..4 {
            p.begin_attempt(now).unwrap();
            now += MS;
            let d = p.on_failure(now, OutcomeClass::Transient.into(), &mut rng);
            now += u64::try_from(d.delay().unwrap().as_nanos()).unwrap();
        }
        p.begin_attempt(now).unwrap();
        now += MS;
        assert_eq!(
            p.on_failure(now, push(ms(3000)), &mut rng).delay(),
            Some(ms(3000))
        );
        now += 3000 * MS;
        p.begin_attempt(now).unwrap();
        let d = p.on_failure(now + MS, OutcomeClass::Transient.into(), &mut rng);
        assert!(d.delay().unwrap() <= ms(100), "seed {seed}: {d:?}");
    }
}

/// gRFC A6: "If the client has already exhausted its maxAttempts, the call will not be
/// retried even if the server says to retry after a given delay."
#[test]
fn grfc_a6_pushback_does_not_add_attempts() {
    let pol = grpc_policy(2);
    let mut p = RetryPlanner::new(&pol);
    let push = Classification::new(OutcomeClass::Throttled).with_retry_after(Duration::ZERO);
    p.begin_attempt(0).unwrap();
    assert_eq!(fail(&mut p, MS, push), Decision::RetryAfter(Duration::ZERO));
    p.begin_attempt(MS).unwrap();
    assert_eq!(
        fail(&mut p, 2 * MS, push),
        Decision::GiveUp(GiveUpReason::AttemptsExhausted)
    );
}

/// RFC 9110 §10.2.3: `Retry-After: 120` asks the client to wait two minutes. The retry is
/// never earlier, whatever the backoff's cap; and when two minutes plus the attempt would
/// end past the caller's deadline, the executor gives up at once, without sleeping.
#[test]
fn rfc9110_retry_after_is_a_floor_and_a_late_one_gives_up_at_once() {
    use quorate_clocks::{ManualClock, MonotonicClock};
    use quorate_retry::Retry;

    #[derive(Debug)]
    struct ServiceUnavailable {
        retry_after_secs: u64,
    }
    impl quorate_retry::Classify for ServiceUnavailable {
        fn classify(&self) -> Classification {
            Classification::new(OutcomeClass::Transient)
                .with_retry_after(Duration::from_secs(self.retry_after_secs))
        }
    }

    let pol = grpc_policy(3).with_idempotency(Idempotency::Idempotent);
    let clock = ManualClock::new(0);
    let mut starts = Vec::new();
    let out = Retry::new(&pol, &clock, &clock).run(|a| {
        starts.push(clock.now_nanos());
        clock.advance(Duration::from_millis(20)); // the attempt takes 20 ms
        if a.number == 1 {
            Err(ServiceUnavailable {
                retry_after_secs: 120,
            })
        } else {
            Ok(a.number)
        }
    });
    assert_eq!(out.ok(), Some(2));
    // The 1 s cap did not shorten the wait: the retry started 120 s after the 503 arrived.
    assert_eq!(starts, [0, 20 * MS + 120_000 * MS]);

    // Same 503 with a 60 s deadline: no sleep at all, the request fails at once.
    let pol = pol.with_deadline(Duration::from_secs(60)).unwrap();
    let clock = ManualClock::new(0);
    let err = Retry::new(&pol, &clock, &clock)
        .run(|_| {
            clock.advance(Duration::from_millis(20));
            Err::<(), _>(ServiceUnavailable {
                retry_after_secs: 120,
            })
        })
        .unwrap_err();
    assert_eq!(err.reason, GiveUpReason::DeadlineExceeded);
    assert_eq!(err.attempts, 1);
    assert_eq!(clock.now_nanos(), 20 * MS, "gave up without sleeping");
}
