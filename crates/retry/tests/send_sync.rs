//! Compile-time checks: public types are Send + Sync, traits stay object safe.

use quorate_retry::*;

fn send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Backoff>();
    send_sync::<BackoffState>();
    send_sync::<Jitter>();
    send_sync::<FastRng>();
    send_sync::<ThreadLocalRng>();
    send_sync::<WindowedBudget>();
    send_sync::<GrpcThrottle>();
    send_sync::<RetryQuota>();
    send_sync::<AdaptiveThrottle>();
    send_sync::<Grant>();
    send_sync::<RetryPolicy>();
    send_sync::<RetryPlanner<'static>>();
    send_sync::<Decision>();
    send_sync::<GiveUpReason>();
    send_sync::<OutcomeClass>();
    send_sync::<Classification>();
    send_sync::<Idempotency>();
    send_sync::<RetryError<std::io::Error>>();
    send_sync::<ConfigError>();
    send_sync::<CircuitBreaker<quorate_clocks::ManualClock>>();
    send_sync::<BreakerConfig>();
    send_sync::<BreakerStats>();
    send_sync::<Permit>();
    send_sync::<Box<dyn RetryBudget>>();
    send_sync::<sim::StormResult>();
}

#[test]
fn traits_are_object_safe() {
    let _: Option<&dyn RetryBudget> = None;
    let _: Option<&dyn Classify> = None;
    let _: Option<&dyn Sleeper> = None;
}

#[test]
fn errors_are_static_errors() {
    fn err<E: std::error::Error + Send + Sync + 'static>() {}
    err::<ConfigError>();
    err::<GiveUpReason>();
    err::<BreakerOpen>();
    err::<RetryError<std::io::Error>>();
}

#[cfg(feature = "tokio")]
#[test]
fn async_retry_future_is_send() {
    fn send<T: Send>(_: &T) {}
    let policy = RetryPolicy::new(Backoff::constant(std::time::Duration::from_millis(1)).unwrap());
    let budget = RetryQuota::standard();
    let clock = quorate_clocks::SystemClock;
    let retry = Retry::new(&policy, &clock, &ThreadSleeper).with_budget(&budget);
    let fut = retry.run_async(|_| async { Ok::<_, OutcomeClass>(1) });
    send(&fut);
    let fut2 = retry_async(&policy, |_| async { Ok::<_, OutcomeClass>(1) });
    send(&fut2);
}
