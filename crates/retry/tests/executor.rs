//! The synchronous and async executors on top of the planner.

use std::cell::Cell;
use std::time::Duration;

use quorate_clocks::{ManualClock, MonotonicClock};
use quorate_retry::{
    Backoff, GiveUpReason, Idempotency, OutcomeClass, Retry, RetryError, RetryPolicy, RetryQuota,
    Sleeper, retry,
};

#[derive(Debug, Default)]
struct RecordingSleeper {
    slept: Cell<Duration>,
    calls: Cell<u32>,
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, d: Duration) {
        self.slept.set(self.slept.get() + d);
        self.calls.set(self.calls.get() + 1);
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1)).unwrap(),
    )
    .with_max_attempts(5)
    .unwrap()
}

#[test]
fn sleeps_the_planned_delays_with_the_pluggable_sleeper() {
    let clock = ManualClock::new(0);
    let sleeper = RecordingSleeper::default();
    let out = Retry::new(&policy(), &clock, &sleeper).run(|a| {
        if a.number < 4 {
            Err(OutcomeClass::Throttled)
        } else {
            Ok(a.number)
        }
    });
    assert_eq!(out, Ok(4));
    assert_eq!(sleeper.calls.get(), 3);
    assert_eq!(sleeper.slept.get(), Duration::from_millis(10 + 20 + 40));
}

#[test]
fn returns_the_last_error_and_the_reason() {
    let clock = ManualClock::new(0);
    let err: RetryError<std::io::Error> = Retry::new(&policy(), &clock, &clock)
        .run(|a| -> Result<(), _> {
            Err(std::io::Error::new(
                if a.number < 2 {
                    std::io::ErrorKind::ConnectionRefused
                } else {
                    std::io::ErrorKind::TimedOut
                },
                "boom",
            ))
        })
        .unwrap_err();
    assert_eq!(err.reason, GiveUpReason::Ambiguous);
    assert_eq!(err.attempts, 2);
    assert_eq!(
        err.last_error.map(|e| e.kind()),
        Some(std::io::ErrorKind::TimedOut)
    );
}

#[test]
fn error_source_is_the_last_error() {
    let clock = ManualClock::new(0);
    let err = Retry::new(&policy(), &clock, &clock)
        .run(|_| -> Result<(), _> { Err(std::io::Error::other("nope")) })
        .unwrap_err();
    let src = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(src.as_deref(), Some("nope"));
    assert_eq!(
        err.to_string(),
        "gave up after 1 attempt(s): the failure is not retryable"
    );
}

#[test]
fn budget_is_shared_across_calls() {
    let clock = ManualClock::new(0);
    let q = RetryQuota::new(10, 5, 10, 1).unwrap();
    let p = policy().with_idempotency(Idempotency::Idempotent);
    let r = Retry::new(&p, &clock, &clock).with_budget(&q);
    let e = r
        .run(|_| Err::<(), _>(OutcomeClass::Transient))
        .unwrap_err();
    assert_eq!((e.reason, e.attempts), (GiveUpReason::BudgetExhausted, 3));
    let e = r
        .run(|_| Err::<(), _>(OutcomeClass::Transient))
        .unwrap_err();
    assert_eq!((e.reason, e.attempts), (GiveUpReason::BudgetExhausted, 1));
}

#[test]
fn propagated_deadline_stops_the_loop() {
    let clock = ManualClock::new(0);
    let e = Retry::new(&policy(), &clock, &clock)
        .with_deadline_at(25_000_000)
        .run(|_| Err::<(), _>(OutcomeClass::Transient))
        .unwrap_err();
    assert_eq!(e.reason, GiveUpReason::DeadlineExceeded);
    assert!(clock.now_nanos() <= 25_000_000);
}

#[test]
fn default_retry_uses_real_time() {
    let p = RetryPolicy::new(Backoff::constant(Duration::from_millis(1)).unwrap());
    let n = Cell::new(0);
    let out = retry(&p, |_| {
        n.set(n.get() + 1);
        if n.get() < 2 {
            Err(OutcomeClass::NotSent)
        } else {
            Ok("ok")
        }
    });
    assert_eq!(out, Ok("ok"));
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn async_executor_sleeps_with_tokio_time() {
    let start = tokio::time::Instant::now();
    let clock = quorate_clocks::SystemClock;
    let out = Retry::new(&policy(), &clock, &quorate_retry::ThreadSleeper)
        .run_async(|a| async move {
            if a.number < 3 {
                Err(OutcomeClass::Transient)
            } else {
                Ok(a.number)
            }
        })
        .await;
    assert_eq!(out, Ok(3));
    // Paused tokio time auto-advances through the 10 + 20 ms of sleeps.
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn async_executor_gives_up_like_the_sync_one() {
    let out =
        quorate_retry::retry_async(&policy(), |_| async { Err::<(), _>(OutcomeClass::Fatal) })
            .await;
    assert_eq!(out.unwrap_err().reason, GiveUpReason::Fatal);
}

mod with_breaker {
    use std::time::Duration;

    use quorate_clocks::ManualClock;
    use quorate_retry::{
        Backoff, BreakerConfig, BreakerState, CircuitBreaker, GiveUpReason, OutcomeClass, Retry,
        RetryPolicy, TripRule,
    };

    fn setup() -> (ManualClock, CircuitBreaker<ManualClock>, RetryPolicy) {
        let clock = ManualClock::new(0);
        let cfg = BreakerConfig::new(
            TripRule::ConsecutiveFailures(3),
            Duration::from_secs(1),
            Duration::from_secs(8),
            1,
        )
        .unwrap();
        let policy = RetryPolicy::new(Backoff::constant(Duration::from_millis(10)).unwrap())
            .with_max_attempts(10)
            .unwrap();
        (clock.clone(), CircuitBreaker::new(cfg, clock), policy)
    }

    #[test]
    fn an_open_breaker_stops_retries_without_calling_the_operation() {
        let (clock, breaker, policy) = setup();
        let retry = Retry::new(&policy, &clock, &clock).with_breaker(&breaker);
        let mut calls = 0;
        let err = retry
            .run(|_| {
                calls += 1;
                Err::<(), _>(OutcomeClass::Transient)
            })
            .unwrap_err();
        assert_eq!(
            (err.reason, err.attempts, calls),
            (GiveUpReason::CircuitOpen, 3, 3)
        );
        let mut later = 0;
        let err = retry
            .run(|_| {
                later += 1;
                Ok::<_, OutcomeClass>(())
            })
            .unwrap_err();
        assert_eq!(
            (err.reason, err.attempts, later),
            (GiveUpReason::CircuitOpen, 0, 0)
        );
    }

    #[test]
    fn a_successful_probe_closes_and_fatal_answers_count_as_healthy() {
        let (clock, breaker, policy) = setup();
        let retry = Retry::new(&policy, &clock, &clock).with_breaker(&breaker);
        let _ = retry.run(|_| Err::<(), _>(OutcomeClass::Throttled));
        assert_eq!(breaker.state(), BreakerState::Open);
        clock.advance(Duration::from_secs(1));
        // The probe gets a fatal answer: the dependency is up (the request is just invalid).
        let err = retry
            .run(|_| Err::<(), _>(OutcomeClass::Fatal))
            .unwrap_err();
        assert_eq!(err.reason, GiveUpReason::Fatal);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_permit_the_planner_cannot_use_is_released() {
        let (clock, breaker, policy) = setup();
        let retry = Retry::new(&policy, &clock, &clock).with_breaker(&breaker);
        let _ = retry.run(|_| Err::<(), _>(OutcomeClass::Transient));
        clock.advance(Duration::from_secs(1));
        // Half-open with one probe slot; the request's deadline has already passed, so the
        // planner refuses the attempt and the probe slot must be handed back.
        let late = Retry::new(&policy, &clock, &clock)
            .with_breaker(&breaker)
            .with_deadline_at(1);
        let err = late.run(|_| Ok::<_, OutcomeClass>(())).unwrap_err();
        assert_eq!(err.reason, GiveUpReason::DeadlineExceeded);
        assert!(breaker.try_acquire().is_ok(), "the probe slot was released");
    }
}
