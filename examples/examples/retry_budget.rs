//! Retries with a budget and a deadline, in simulated time.
//!
//! A dependency fails one call in ten; then it goes down. One budget is shared by
//! every caller: while the dependency is healthy, failures are retried; during the outage the
//! budget runs dry and callers stop adding load, and no request retries past its deadline.
//!
//! Run: `cargo run -p quorate-examples --example retry_budget`

use std::time::Duration;

use quorate_clocks::{ManualClock, MonotonicClock};
use quorate_retry::{
    Backoff, FastRng, Idempotency, Jitter, OutcomeClass, Retry, RetryPolicy, WindowedBudget,
};

/// Runs the example.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Retries may add at most 10% to the traffic, plus 1 per second.
    let budget = WindowedBudget::new(Duration::from_secs(10), 1, 0.1)?;
    let policy = RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(50), 2.0, Duration::from_secs(1))?
            .with_jitter(Jitter::Full),
    )
    .with_max_attempts(5)?
    .with_deadline(Duration::from_millis(800))?
    .with_idempotency(Idempotency::Keyed); // the server deduplicates by key
    let clock = ManualClock::new(0); // sleeping advances it: the run takes no real time
    let mut rng = FastRng::seed_from_u64(7);
    let (mut calls, mut ok, mut retries_in_outage) = (0u32, 0u32, 0u32);

    for request in 0..200u32 {
        let outage = request >= 100;
        let started = clock.now_nanos();
        let result = Retry::new(&policy, &clock, &clock)
            .with_budget(&budget)
            .run_with_rng(&mut rng, |attempt| {
                calls += 1;
                if outage && attempt.number > 1 {
                    retries_in_outage += 1;
                }
                let fails = outage || (request % 10 == 0 && attempt.number == 1);
                if fails {
                    Err(OutcomeClass::Transient)
                } else {
                    Ok(())
                }
            });
        assert!(
            clock.now_nanos() - started <= 800_000_000,
            "deadline respected"
        );
        if result.is_ok() {
            ok += 1;
        }
        clock.advance(Duration::from_millis(50)); // 20 requests per second
    }
    println!(
        "200 requests, {calls} calls, {ok} succeeded, {retries_in_outage} retries during the outage"
    );
    assert_eq!(ok, 100); // every healthy-period request succeeded thanks to retries
    // 100 outage requests: without the budget up to 400 retries; with it, a few.
    assert!(retries_in_outage < 40, "{retries_in_outage}");
    Ok(())
}
