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
/// next attempt would pass is still honoured, and a pushback of `Duration::MAX` is clamped
/// to the cap.
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
    let mut p = RetryPlanner::new(&pol);
    let info = p.begin_attempt(start).unwrap();
    assert_eq!(info.deadline_nanos, Some(u64::MAX));
    let d = fail(
        &mut p,
        start + MS,
        Classification::new(OutcomeClass::Throttled).with_retry_after(Duration::MAX),
    );
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
/// `random(0, initialBackoff)`; Brooker's simulator starts at `base * 2^0`.
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
