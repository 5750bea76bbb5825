//! Retries that cannot cause a retry storm: backoff with capped jitter, lock-free retry
//! budgets, a deadline-aware sans-IO retry planner, outcome classes and a circuit breaker.
//!
//! A retry is extra load sent exactly when a dependency is least able to take it. Naive retry
//! loops turn a brief overload into a sustained one (a *retry storm*): synchronized clients
//! retry in lock step, every layer multiplies attempts, timeouts are retried although the first
//! attempt may have succeeded, and sleeps run past the caller's deadline. This crate attacks
//! each cause: jitter that breaks lock step and never exceeds its cap, budgets that bound
//! retries to a share of the traffic, outcome classes that refuse to repeat a non-idempotent
//! operation after an ambiguous failure, a planner that never plans past the deadline, and a
//! breaker that stops calling a dependency that is down or too slow.
//!
//! # Which type when
//!
//! | need | use |
//! |---|---|
//! | just retry a call | [`retry`] (or [`retry_async`] with `tokio`) with a [`RetryPolicy`] |
//! | choose the delays | [`Backoff`]: constant, linear, exponential; [`Jitter`]: none, full, equal, decorrelated |
//! | bound retries across all callers | a [`RetryBudget`]: [`WindowedBudget`] (Finagle/tower), [`GrpcThrottle`] (gRFC A6), [`RetryQuota`] (AWS SDK), [`AdaptiveThrottle`] (Google SRE) |
//! | say what an error means | implement [`Classify`] → [`OutcomeClass`] |
//! | drive retries from your own loop or state machine | [`RetryPlanner`] (sans-IO) |
//! | control time and sleeping | [`Retry`] with any [`quorate_clocks::MonotonicClock`] and [`Sleeper`] |
//! | stop calling a dead (or slow) dependency | [`CircuitBreaker`], alone or in [`Retry::with_breaker`]; slow-call rate with [`BreakerConfig::with_slow_calls`] |
//! | see why it matters | [`sim`] and `examples/retry_storm.rs` |
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use quorate_clocks::ManualClock;
//! use quorate_retry::{Backoff, Idempotency, Jitter, OutcomeClass, Retry, RetryPolicy, WindowedBudget};
//!
//! // One budget per dependency, shared by every caller: 20% retries, 10/s reserve.
//! let budget = WindowedBudget::new(Duration::from_secs(10), 10, 0.2)?;
//! let policy = RetryPolicy::new(
//!     Backoff::exponential(Duration::from_millis(20), 2.0, Duration::from_secs(1))?.with_jitter(Jitter::Full),
//! )
//! .with_max_attempts(4)?
//! .with_deadline(Duration::from_secs(2))?
//! .with_idempotency(Idempotency::Keyed);
//!
//! let clock = ManualClock::new(0); // simulated time: sleeping advances it
//! let result = Retry::new(&policy, &clock, &clock).with_budget(&budget).run(|attempt| {
//!     if attempt.number < 3 { Err(OutcomeClass::Timeout) } else { Ok("written") }
//! });
//! assert_eq!(result.ok(), Some("written"));
//! # Ok::<(), quorate_retry::ConfigError>(())
//! ```
//!
//! # Design
//!
//! **Jitter, capped.** Clients that failed together and back off on the same schedule retry
//! together; exponential growth alone only spaces out the synchronized waves. The jitter modes
//! are the ones Marc Brooker compared in "Exponential Backoff And Jitter" (AWS Architecture
//! Blog): *full* (a uniform draw below the exponential delay, the least total work), *equal*
//! (keep half, randomise half) and *decorrelated* (a uniform draw between the base and three
//! times the previous sleep). The cap is applied last and is absolute: no mode ever returns a
//! delay above it, unlike crates that add jitter after capping.
//!
//! **Budgets, not attempt limits.** "Up to three retries" quadruples the load on a dependency
//! exactly when it is failing, and nested layers multiply: five layers of three retries send
//! 4^5 = 1024 requests for one. A budget caps retries as a share of recent traffic (or of
//! recent successes), shared by every caller of the dependency, so occasional failures are
//! always retried while a wholesale outage adds only a bounded fraction of load. The four
//! budgets reproduce four published designs:
//!
//! | type | anchor | rule |
//! |---|---|---|
//! | [`WindowedBudget`] | Finagle `RetryBudget`, tower `TpsBudget` | retries over the last `ttl` ≤ `percent` × requests over the last `ttl` + `min_per_sec` × `ttl` (whole seconds), exactly |
//! | [`GrpcThrottle`] | gRFC A6 `retryThrottling` | a failure costs 1 token, a success earns `token_ratio`; retry only while tokens > `max_tokens / 2` |
//! | [`RetryQuota`] | AWS SDKs, standard retry mode | a retry costs 5 (10 after a timeout) from 500; a first-try success refills 1; a successful retry refunds its cost |
//! | [`AdaptiveThrottle`] | *Site Reliability Engineering*, "Handling Overload" | shed each request locally with probability `max(0, (requests − K·accepts) / (requests + 1))` |
//!
//! Every budget keeps integer fixed-point accounting in atomics and changes it only by
//! compare-and-swap, so the check and the charge of a grant are one indivisible step. The
//! windowed budget is exact where tower's truncates (at 0.6, ten requests fund six retries,
//! not ten) and reads no clock and takes no lock.
//!
//! **Outcome classes.** A timeout does not mean the operation failed; it means we do not know.
//! The planner retries ambiguous outcomes ([`OutcomeClass::Timeout`],
//! [`OutcomeClass::Ambiguous`]) only for operations declared [`Idempotency::Idempotent`] or
//! [`Idempotency::Keyed`]; requests that were never sent are retried for free, without
//! spending budget.
//!
//! **Deadlines.** A retry that cannot finish before the caller gives up is pure extra load. The
//! [`RetryPlanner`] reserves the expected attempt time (the attempt timeout, or the longest
//! attempt so far) before the deadline, and gives up the moment the next attempt cannot
//! complete in time, instead of sleeping until the deadline.
//!
//! **Server pushback is a floor.** When the server says when to come back (`Retry-After`,
//! `grpc-retry-pushback-ms`), the planner retries after exactly that delay, never earlier and
//! never clamped to the backoff cap, then restarts the backoff (gRFC A6); if that time plus
//! the attempt passes the deadline it gives up at once. Where we differ on purpose: gRFC A6's
//! "do not retry" pushback (a negative or unparseable `grpc-retry-pushback-ms`) is expressed
//! by classifying the failure [`OutcomeClass::Fatal`], and without a deadline a pushback is
//! honoured however long it is.
//!
//! # Features
//!
//! | feature | adds |
//! |---|---|
//! | `serde` | `Serialize`/`Deserialize` for policies and classes (validated on deserialize) |
//! | `tokio` | [`retry_async`] and [`Retry::run_async`], sleeping with `tokio::time` (only tokio's `time` feature) |
//!
//! # Guarantees and assumptions
//!
//! - A backoff delay never exceeds [`Backoff::cap`], whatever the jitter; delays are integer
//!   nanoseconds, drawn without reading a clock or allocating. The planner waits longer than
//!   the cap only when the server's pushback says so, and never retries before a pushback
//!   expires.
//! - A budget never grants more retries than its accounting allows, under any interleaving of
//!   threads (each grant is one compare-and-swap on the balance; checked with loom and a
//!   16-thread stress test). Budgets never lock.
//! - The planner never returns a delay whose end, plus the expected attempt time, passes the
//!   deadline; ambiguous outcomes are retried only for idempotent or keyed operations.
//! - Time comes only from a [`quorate_clocks::MonotonicClock`] or a caller-supplied `now`
//!   (nanoseconds, never decreasing for one caller); nothing here calls `Instant::now()`.
//! - Randomness is injected ([`rand::Rng`]); the default [`ThreadLocalRng`] is fast, not
//!   cryptographic. Seeded runs ([`FastRng`]) are replayable.
//!
//! # Examples to copy
//!
//! Runnable programs under 80 lines in the repository's `examples/examples/`:
//!
//! - [`retry_budget.rs`](https://github.com/quorate-rs/quorate/blob/main/examples/examples/retry_budget.rs): retries with a budget and a deadline (`cargo run -p quorate-examples --example retry_budget`)
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod backoff;
mod breaker;
mod budget;
mod error;
mod executor;
mod fastdiv;
mod outcome;
mod planner;
mod rng;
pub mod sim;
mod sync;

pub use backoff::{Backoff, BackoffState, Delays, Jitter};
pub use breaker::{
    BreakerConfig, BreakerGate, BreakerOpen, BreakerState, BreakerStats, CircuitBreaker, Permit,
    Transition, TripRule,
};
pub use budget::{
    AdaptiveThrottle, Grant, GrpcThrottle, RetryBudget, RetryCost, RetryQuota, WindowedBudget,
};
pub use error::ConfigError;
#[cfg(feature = "tokio")]
pub use executor::retry_async;
pub use executor::{Retry, RetryError, Sleeper, ThreadSleeper, retry};
pub use outcome::{Classification, Classify, Idempotency, OutcomeClass};
pub use planner::{AttemptInfo, Decision, GiveUpReason, RetryPlanner, RetryPolicy};
pub use rng::{FastRng, ThreadLocalRng};
