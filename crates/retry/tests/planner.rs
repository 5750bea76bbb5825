//! The sans-IO planner: outcome classes, idempotency, deadlines, pushback, budgets.

use std::time::Duration;

use quorate_retry::{
    Backoff, Classification, Decision, FastRng, GiveUpReason, GrpcThrottle, Idempotency,
    OutcomeClass, RetryBudget, RetryPlanner, RetryPolicy, RetryQuota, WindowedBudget,
};

const MS: u64 = 1_000_000;

fn policy(delay_ms: u64, attempts: u32) -> RetryPolicy {
    RetryPolicy::new(Backoff::constant(Duration::from_millis(delay_ms)).unwrap())
        .with_max_attempts(attempts)
        .unwrap()
}

fn fail(p: &mut RetryPlanner<'_>, now: u64, c: impl Into<Classification>) -> Decision {
    p.on_failure(now, c.into(), &mut FastRng::seed_from_u64(0))
}

#[test]
fn fatal_is_never_retried() {
    let pol = policy(1, 10);
    let mut p = RetryPlanner::new(&pol);
    p.begin_attempt(0).unwrap();
    assert_eq!(
        fail(&mut p, 1, OutcomeClass::Fatal),
        Decision::GiveUp(GiveUpReason::Fatal)
    );
}

#[test]
fn ambiguous_outcomes_need_idempotency_or_a_key() {
    for class in [OutcomeClass::Timeout, OutcomeClass::Ambiguous] {
        for (idem, retried) in [
            (Idempotency::NotIdempotent, false),
            (Idempotency::Idempotent, true),
            (Idempotency::Keyed, true),
        ] {
            let pol = policy(1, 10).with_idempotency(idem);
            let mut p = RetryPlanner::new(&pol);
            p.begin_attempt(0).unwrap();
            let d = fail(&mut p, 1, class);
            assert_eq!(d.delay().is_some(), retried, "{class:?} {idem:?}");
            if !retried {
                assert_eq!(d, Decision::GiveUp(GiveUpReason::Ambiguous));
            }
        }
    }
    // Unambiguous classes are retried even when not idempotent.
    for class in [
        OutcomeClass::NotSent,
        OutcomeClass::Throttled,
        OutcomeClass::Transient,
    ] {
        let pol = policy(1, 10);
        let mut p = RetryPlanner::new(&pol);
        p.begin_attempt(0).unwrap();
        assert!(fail(&mut p, 1, class).delay().is_some(), "{class:?}");
    }
}

#[test]
fn attempts_are_limited() {
    let pol = policy(1, 3);
    let mut p = RetryPlanner::new(&pol);
    let mut now = 0;
    for i in 1..=3 {
        assert_eq!(p.begin_attempt(now).unwrap().number, i);
        now += MS;
        let d = fail(&mut p, now, OutcomeClass::Transient);
        if i < 3 {
            now += d.delay().unwrap().as_nanos() as u64;
        } else {
            assert_eq!(d, Decision::GiveUp(GiveUpReason::AttemptsExhausted));
        }
    }
}

#[test]
fn gives_up_at_once_when_the_next_attempt_cannot_finish() {
    // Deadline 100 ms, attempts take 30 ms, backoff 20 ms.
    let pol = policy(20, 100)
        .with_deadline(Duration::from_millis(100))
        .unwrap();
    let mut p = RetryPlanner::new(&pol);
    p.begin_attempt(0).unwrap();
    // Ends at 30, retry at 50, would end at 80 <= 100: retry.
    assert_eq!(
        fail(&mut p, 30 * MS, OutcomeClass::Transient).delay(),
        Some(Duration::from_millis(20))
    );
    p.begin_attempt(50 * MS).unwrap();
    // Ends at 80, retry at 100 would end at 130 > 100: give up now, not at 100.
    assert_eq!(
        fail(&mut p, 80 * MS, OutcomeClass::Transient),
        Decision::GiveUp(GiveUpReason::DeadlineExceeded)
    );
}

#[test]
fn attempt_timeout_is_reserved_before_the_deadline() {
    let pol = policy(10, 100)
        .with_deadline(Duration::from_millis(100))
        .unwrap()
        .with_attempt_timeout(Duration::from_millis(50))
        .unwrap();
    let mut p = RetryPlanner::new(&pol);
    p.begin_attempt(0).unwrap();
    // A fast failure at 1 ms: retry at 11, may run until 61 <= 100.
    assert!(fail(&mut p, MS, OutcomeClass::Transient).delay().is_some());
    p.begin_attempt(11 * MS).unwrap();
    // Fails at 45: retry at 55 could run until 105 > 100.
    assert_eq!(
        fail(&mut p, 45 * MS, OutcomeClass::Transient),
        Decision::GiveUp(GiveUpReason::DeadlineExceeded)
    );
}

#[test]
fn propagated_deadline_wins_when_earlier() {
    let pol = policy(10, 100)
        .with_deadline(Duration::from_secs(10))
        .unwrap();
    let mut p = RetryPlanner::new(&pol).with_deadline_at(25 * MS);
    assert_eq!(p.begin_attempt(0).unwrap().deadline_nanos, Some(25 * MS));
    assert_eq!(
        fail(&mut p, 10 * MS, OutcomeClass::Transient),
        Decision::GiveUp(GiveUpReason::DeadlineExceeded)
    );
    let mut late = RetryPlanner::new(&pol).with_deadline_at(5);
    assert_eq!(late.begin_attempt(5), Err(GiveUpReason::DeadlineExceeded));
}

#[test]
fn pushback_is_honoured_exactly_past_the_cap_and_gives_up_at_the_deadline() {
    let pol = RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1)).unwrap(),
    )
    .with_max_attempts(10)
    .unwrap()
    .with_deadline(Duration::from_secs(5))
    .unwrap();
    let mut p = RetryPlanner::new(&pol);
    p.begin_attempt(0).unwrap();
    let push = |d| Classification::new(OutcomeClass::Throttled).with_retry_after(d);
    // Pushback longer than the backoff delay: exactly the pushback.
    assert_eq!(
        fail(&mut p, 0, push(Duration::from_millis(300))).delay(),
        Some(Duration::from_millis(300))
    );
    p.begin_attempt(300 * MS).unwrap();
    // Pushback of 3 s, three times the 1 s cap: honoured, not clamped.
    assert_eq!(
        fail(&mut p, 300 * MS, push(Duration::from_secs(3))).delay(),
        Some(Duration::from_secs(3))
    );
    p.begin_attempt(3300 * MS).unwrap();
    // Pushback of an hour with 1.7 s left: give up at once rather than retry early.
    assert_eq!(
        fail(&mut p, 3300 * MS, push(Duration::from_secs(3600))),
        Decision::GiveUp(GiveUpReason::DeadlineExceeded)
    );
    // Near the deadline a 1 s pushback does not fit either.
    let mut p = RetryPlanner::new(&pol);
    p.begin_attempt(0).unwrap();
    assert_eq!(
        fail(&mut p, 4500 * MS, push(Duration::from_secs(1))),
        Decision::GiveUp(GiveUpReason::DeadlineExceeded)
    );
    // The pushback plus the modelled attempt (the 500 ms the first one took) must fit too:
    // 4.5 s + 0.4 s + 0.5 s > 5 s, while 4.5 s + 0.0 s + 0.5 s = 5 s fits.
    let mut p = RetryPlanner::new(&pol).with_deadline_at(5000 * MS);
    p.begin_attempt(4000 * MS).unwrap();
    let mut q = p;
    assert_eq!(
        fail(&mut p, 4500 * MS, push(Duration::from_millis(400))),
        Decision::GiveUp(GiveUpReason::DeadlineExceeded)
    );
    assert_eq!(
        fail(&mut q, 4500 * MS, push(Duration::ZERO)),
        Decision::RetryAfter(Duration::ZERO)
    );
}

#[test]
fn not_sent_spends_no_budget() {
    let q = RetryQuota::new(5, 5, 5, 1).unwrap();
    let pol = policy(1, 100);
    let mut p = RetryPlanner::new(&pol).with_budget(&q);
    p.begin_attempt(0).unwrap();
    for i in 0..20 {
        assert!(fail(&mut p, i, OutcomeClass::NotSent).delay().is_some());
        p.begin_attempt(i).unwrap();
    }
    assert_eq!(q.available(), 5);
    assert!(fail(&mut p, 30, OutcomeClass::Transient).delay().is_some());
    assert_eq!(q.available(), 0);
    p.begin_attempt(31).unwrap();
    assert_eq!(
        fail(&mut p, 32, OutcomeClass::Transient),
        Decision::GiveUp(GiveUpReason::BudgetExhausted)
    );
}

#[test]
fn no_budget_is_spent_on_retries_that_would_not_happen() {
    let q = RetryQuota::standard();
    let pol = policy(1, 1); // one attempt only
    let mut p = RetryPlanner::new(&pol).with_budget(&q);
    p.begin_attempt(0).unwrap();
    assert_eq!(
        fail(&mut p, 1, OutcomeClass::Transient),
        Decision::GiveUp(GiveUpReason::AttemptsExhausted)
    );
    let mut p = RetryPlanner::new(&pol).with_budget(&q);
    p.begin_attempt(0).unwrap();
    assert_eq!(
        fail(&mut p, 1, OutcomeClass::Timeout),
        Decision::GiveUp(GiveUpReason::Ambiguous)
    );
    assert_eq!(q.available(), 500);
}

#[test]
fn successful_retry_refunds_the_quota_and_first_try_success_refills() {
    let q = RetryQuota::new(20, 5, 10, 1).unwrap();
    let pol = policy(1, 5).with_idempotency(Idempotency::Idempotent);
    let mut p = RetryPlanner::new(&pol).with_budget(&q);
    p.begin_attempt(0).unwrap();
    assert!(fail(&mut p, 1, OutcomeClass::Timeout).delay().is_some());
    assert_eq!(q.available(), 10);
    p.begin_attempt(2).unwrap();
    p.on_success(3);
    assert_eq!(q.available(), 20);
}

#[test]
fn failures_feed_the_grpc_throttle_even_when_not_retried() {
    let t = GrpcThrottle::new(10.0, 1.0).unwrap();
    let pol = policy(1, 1);
    for _ in 0..3 {
        let mut p = RetryPlanner::new(&pol).with_budget(&t);
        p.begin_attempt(0).unwrap();
        let _ = fail(&mut p, 1, OutcomeClass::Transient);
    }
    assert_eq!(t.milli_tokens(), 7000);
}

#[test]
fn windowed_budget_bounds_retries_across_requests() {
    let b = WindowedBudget::new(Duration::from_secs(10), 0, 0.1).unwrap();
    let pol = policy(1, 10);
    let mut retries = 0;
    for i in 0..1000u64 {
        let mut p = RetryPlanner::new(&pol).with_budget(&b);
        let mut now = i * MS;
        p.begin_attempt(now).unwrap();
        loop {
            now += 1;
            match fail(&mut p, now, OutcomeClass::Transient) {
                Decision::RetryAfter(_) => {
                    retries += 1;
                    p.begin_attempt(now).unwrap();
                }
                Decision::GiveUp(r) => {
                    assert!(matches!(
                        r,
                        GiveUpReason::BudgetExhausted | GiveUpReason::AttemptsExhausted
                    ));
                    break;
                }
            }
        }
    }
    assert_eq!(retries, 100, "10% of 1000 requests");
}

#[test]
fn budget_trait_object_in_planner() {
    let q: Box<dyn RetryBudget> = Box::new(RetryQuota::standard());
    let pol = policy(1, 2);
    let mut p = RetryPlanner::new(&pol).with_budget(q.as_ref());
    p.begin_attempt(0).unwrap();
    assert!(fail(&mut p, 0, OutcomeClass::Throttled).delay().is_some());
}
