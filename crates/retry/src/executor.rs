//! Executors: thin loops that drive the [planner](crate::RetryPlanner) with a real (or
//! manual) clock and a sleeper.

use core::fmt;
use core::time::Duration;

use quorate_clocks::MonotonicClock;
use rand::Rng;

use crate::breaker::{BreakerGate, Permit};
use crate::budget::RetryBudget;
use crate::outcome::{Classify, OutcomeClass};
use crate::planner::{AttemptInfo, Decision, GiveUpReason, RetryPlanner, RetryPolicy};
use crate::rng::ThreadLocalRng;

/// Blocks the current thread for a while; the synchronous executor's only side effect besides
/// the operation itself.
///
/// [`ThreadSleeper`] sleeps for real; [`quorate_clocks::ManualClock`] implements it by
/// advancing itself, so a test can run a whole retry loop in simulated time.
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::{ManualClock, MonotonicClock};
/// use quorate_retry::Sleeper;
///
/// let clock = ManualClock::new(0);
/// clock.sleep(Duration::from_millis(5));
/// assert_eq!(clock.now_nanos(), 5_000_000);
/// ```
pub trait Sleeper {
    /// Waits for `d`.
    fn sleep(&self, d: Duration);
}

impl<T: Sleeper + ?Sized> Sleeper for &T {
    fn sleep(&self, d: Duration) {
        (**self).sleep(d);
    }
}

/// Sleeps with [`std::thread::sleep`].
///
/// ```
/// use quorate_retry::{Sleeper, ThreadSleeper};
/// ThreadSleeper.sleep(std::time::Duration::from_nanos(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

impl Sleeper for quorate_clocks::ManualClock {
    fn sleep(&self, d: Duration) {
        self.advance(d);
    }
}

/// The error of a retried operation that never succeeded.
///
/// Carries why the executor stopped, how many attempts ran, and the last error (absent only
/// when the budget shed the request or the deadline passed before the first attempt).
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{Backoff, GiveUpReason, OutcomeClass, RetryPolicy, retry};
///
/// let policy = RetryPolicy::new(Backoff::constant(Duration::ZERO)?);
/// let err = retry(&policy, |_| Err::<(), _>(OutcomeClass::Fatal)).unwrap_err();
/// assert_eq!(err.reason, GiveUpReason::Fatal);
/// assert_eq!(err.attempts, 1);
/// assert_eq!(err.to_string(), "gave up after 1 attempt(s): the failure is not retryable");
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RetryError<E> {
    /// Why the executor stopped.
    pub reason: GiveUpReason,
    /// How many attempts ran.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<E>,
}

impl<E> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gave up after {} attempt(s): {}",
            self.attempts, self.reason
        )
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.last_error
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Retries `op` under `policy` with the system monotonic clock, real sleeps, the thread-local
/// jitter source and no budget.
///
/// `op` receives the [`AttemptInfo`] of each attempt (its number and the request deadline).
///
/// # Errors
///
/// [`RetryError`] when the planner gives up: fatal or non-idempotent ambiguous failure, attempts
/// or deadline exhausted.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{Backoff, OutcomeClass, RetryPolicy, retry};
///
/// let policy = RetryPolicy::new(Backoff::constant(Duration::from_millis(1))?).with_max_attempts(3)?;
/// let value = retry(&policy, |a| if a.number < 3 { Err(OutcomeClass::Transient) } else { Ok(42) })?;
/// assert_eq!(value, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn retry<T, E, F>(policy: &RetryPolicy, op: F) -> Result<T, RetryError<E>>
where
    E: Classify,
    F: FnMut(AttemptInfo) -> Result<T, E>,
{
    Retry::new(policy, &quorate_clocks::SystemClock, &ThreadSleeper).run(op)
}

/// A configurable retry executor: policy, time source, sleeper, optional budget and deadline.
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::{ManualClock, MonotonicClock};
/// use quorate_retry::{Backoff, OutcomeClass, Retry, RetryPolicy, RetryQuota};
///
/// let clock = ManualClock::new(0);
/// let budget = RetryQuota::standard();
/// let policy = RetryPolicy::new(Backoff::constant(Duration::from_millis(100))?).with_max_attempts(4)?;
/// let out: Result<u32, _> = Retry::new(&policy, &clock, &clock)
///     .with_budget(&budget)
///     .run(|a| if a.number < 4 { Err(OutcomeClass::Throttled) } else { Ok(a.number) });
/// assert_eq!(out.ok(), Some(4));
/// assert_eq!(clock.now_nanos(), 300_000_000); // three simulated sleeps
/// assert_eq!(budget.available(), 500 - 3 * 5 + 5); // the successful retry refunded its cost
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
pub struct Retry<'a, C: ?Sized, S: ?Sized> {
    policy: &'a RetryPolicy,
    clock: &'a C,
    sleeper: &'a S,
    budget: Option<&'a dyn RetryBudget>,
    breaker: Option<&'a dyn BreakerGate>,
    deadline_at: Option<u64>,
}

impl<C: ?Sized, S: ?Sized> fmt::Debug for Retry<'_, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", self.policy)
            .field("budget", &self.budget)
            .field("breaker", &self.breaker.is_some())
            .field("deadline_at", &self.deadline_at)
            .finish_non_exhaustive()
    }
}

impl<'a, C: MonotonicClock + ?Sized, S: ?Sized> Retry<'a, C, S> {
    /// An executor for `policy` taking time from `clock` and waiting with `sleeper`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let r = quorate_retry::Retry::new(&policy, &quorate_clocks::SystemClock, &quorate_retry::ThreadSleeper);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn new(policy: &'a RetryPolicy, clock: &'a C, sleeper: &'a S) -> Self {
        Self {
            policy,
            clock,
            sleeper,
            budget: None,
            breaker: None,
            deadline_at: None,
        }
    }

    /// Spends retries from `budget`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let budget = quorate_retry::RetryQuota::standard();
    /// let r = quorate_retry::Retry::new(&policy, &quorate_clocks::SystemClock, &quorate_retry::ThreadSleeper)
    ///     .with_budget(&budget);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_budget(mut self, budget: &'a dyn RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Honours a deadline propagated from upstream (absolute, in `clock`'s nanoseconds).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let r = quorate_retry::Retry::new(&policy, &quorate_clocks::SystemClock, &quorate_retry::ThreadSleeper)
    ///     .with_deadline_at(u64::MAX);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn with_deadline_at(mut self, deadline_nanos: u64) -> Self {
        self.deadline_at = Some(deadline_nanos);
        self
    }

    /// Guards every attempt with a circuit breaker: an attempt the breaker refuses ends the
    /// request with [`GiveUpReason::CircuitOpen`] without calling the operation. Failures of
    /// every class but [`Fatal`](OutcomeClass::Fatal) count against the dependency's health; a
    /// fatal answer (and a success) shows the dependency is up.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::ManualClock;
    /// use quorate_retry::*;
    ///
    /// let clock = ManualClock::new(0);
    /// let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(2), Duration::from_secs(5), Duration::from_secs(60), 1)?;
    /// let breaker = CircuitBreaker::new(cfg, clock.clone());
    /// let policy = RetryPolicy::new(Backoff::constant(Duration::from_millis(10))?).with_max_attempts(5)?;
    /// let retry = Retry::new(&policy, &clock, &clock).with_breaker(&breaker);
    /// let mut calls = 0;
    /// let err = retry.run(|_| { calls += 1; Err::<(), _>(OutcomeClass::Transient) }).unwrap_err();
    /// assert_eq!((err.reason, calls), (GiveUpReason::CircuitOpen, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_breaker(mut self, breaker: &'a dyn BreakerGate) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Takes a breaker permit for the next attempt, if there is a breaker.
    fn permit(&self) -> Result<Option<Permit>, GiveUpReason> {
        match self.breaker {
            Some(b) => b
                .try_acquire()
                .map(Some)
                .map_err(|_| GiveUpReason::CircuitOpen),
            None => Ok(None),
        }
    }

    /// Reports an attempt's outcome to the breaker.
    fn report(&self, permit: Option<Permit>, failure: Option<OutcomeClass>) {
        if let (Some(b), Some(p)) = (self.breaker, permit) {
            match failure {
                None | Some(OutcomeClass::Fatal) => b.on_success(p),
                Some(_) => b.on_failure(p),
            }
        }
    }

    /// Starts an attempt: breaker first (so a refused attempt touches no budget), then the
    /// planner; a permit the planner does not use is released.
    fn begin(
        &self,
        planner: &mut RetryPlanner<'a>,
    ) -> Result<(AttemptInfo, Option<Permit>), GiveUpReason> {
        let permit = self.permit()?;
        match planner.begin_attempt(self.clock.now_nanos()) {
            Ok(info) => Ok((info, permit)),
            Err(reason) => {
                if let (Some(b), Some(p)) = (self.breaker, permit) {
                    b.release(p);
                }
                Err(reason)
            }
        }
    }

    fn planner(&self) -> RetryPlanner<'a> {
        let mut p = RetryPlanner::new(self.policy);
        if let Some(b) = self.budget {
            p = p.with_budget(b);
        }
        if let Some(d) = self.deadline_at {
            p = p.with_deadline_at(d);
        }
        p
    }

    /// Runs `op` until it succeeds or the planner gives up, sleeping with the sleeper and
    /// drawing jitter from the thread-local generator.
    ///
    /// # Errors
    ///
    /// [`RetryError`] with the planner's [`GiveUpReason`] and the last error.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// let clock = quorate_clocks::ManualClock::new(0);
    /// let policy = RetryPolicy::new(Backoff::constant(Duration::from_secs(1))?).with_max_attempts(2)?;
    /// let err = Retry::new(&policy, &clock, &clock).run(|_| Err::<(), _>(OutcomeClass::Transient)).unwrap_err();
    /// assert_eq!((err.reason, err.attempts), (GiveUpReason::AttemptsExhausted, 2));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn run<T, E, F>(&self, op: F) -> Result<T, RetryError<E>>
    where
        S: Sleeper,
        E: Classify,
        F: FnMut(AttemptInfo) -> Result<T, E>,
    {
        self.run_with_rng(&mut ThreadLocalRng, op)
    }

    /// Like [`run`](Self::run), drawing jitter from `rng` (seed it to replay a run exactly).
    ///
    /// # Errors
    ///
    /// [`RetryError`] with the planner's [`GiveUpReason`] and the last error.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// use quorate_clocks::{ManualClock, MonotonicClock};
    ///
    /// let policy = RetryPolicy::new(Backoff::constant(Duration::from_secs(1))?.with_jitter(Jitter::Full))
    ///     .with_max_attempts(4)?;
    /// let replay = |seed| {
    ///     let clock = ManualClock::new(0);
    ///     let _ = Retry::new(&policy, &clock, &clock)
    ///         .run_with_rng(&mut FastRng::seed_from_u64(seed), |_| Err::<(), _>(OutcomeClass::Transient));
    ///     clock.now_nanos()
    /// };
    /// assert_eq!(replay(7), replay(7)); // same seed, same sleeps
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn run_with_rng<T, E, F, R>(&self, rng: &mut R, mut op: F) -> Result<T, RetryError<E>>
    where
        S: Sleeper,
        E: Classify,
        F: FnMut(AttemptInfo) -> Result<T, E>,
        R: Rng + ?Sized,
    {
        let mut planner = self.planner();
        let mut last_error = None;
        loop {
            let (info, permit) = match self.begin(&mut planner) {
                Ok(started) => started,
                Err(reason) => return Err(give_up(reason, &planner, last_error)),
            };
            match op(info) {
                Ok(v) => {
                    self.report(permit, None);
                    planner.on_success(self.clock.now_nanos());
                    return Ok(v);
                }
                Err(e) => {
                    let outcome = e.classify();
                    self.report(permit, Some(outcome.class));
                    let decision = planner.on_failure(self.clock.now_nanos(), outcome, rng);
                    last_error = Some(e);
                    match decision {
                        Decision::RetryAfter(d) => self.sleeper.sleep(d),
                        Decision::GiveUp(reason) => {
                            return Err(give_up(reason, &planner, last_error));
                        }
                    }
                }
            }
        }
    }

    /// Runs the async operation `op` until it succeeds or the planner gives up, sleeping with
    /// `tokio::time::sleep` (the sleeper is not used). Needs the `tokio` feature and a tokio
    /// runtime with the time driver enabled.
    ///
    /// # Errors
    ///
    /// [`RetryError`] with the planner's [`GiveUpReason`] and the last error.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # rt.block_on(async {
    /// let policy = RetryPolicy::new(Backoff::constant(Duration::from_millis(1))?).with_max_attempts(3)?;
    /// let v = Retry::new(&policy, &quorate_clocks::SystemClock, &ThreadSleeper)
    ///     .run_async(|a| async move { if a.number < 2 { Err(OutcomeClass::Transient) } else { Ok(a.number) } })
    ///     .await;
    /// assert_eq!(v.ok(), Some(2));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn run_async<T, E, F, Fut>(&self, mut op: F) -> Result<T, RetryError<E>>
    where
        E: Classify,
        F: FnMut(AttemptInfo) -> Fut,
        Fut: core::future::Future<Output = Result<T, E>>,
    {
        let mut planner = self.planner();
        let mut last_error = None;
        loop {
            let (info, permit) = match self.begin(&mut planner) {
                Ok(started) => started,
                Err(reason) => return Err(give_up(reason, &planner, last_error)),
            };
            match op(info).await {
                Ok(v) => {
                    self.report(permit, None);
                    planner.on_success(self.clock.now_nanos());
                    return Ok(v);
                }
                Err(e) => {
                    let outcome = e.classify();
                    self.report(permit, Some(outcome.class));
                    let decision =
                        planner.on_failure(self.clock.now_nanos(), outcome, &mut ThreadLocalRng);
                    last_error = Some(e);
                    match decision {
                        Decision::RetryAfter(d) => tokio::time::sleep(d).await,
                        Decision::GiveUp(reason) => {
                            return Err(give_up(reason, &planner, last_error));
                        }
                    }
                }
            }
        }
    }
}

fn give_up<E>(
    reason: GiveUpReason,
    planner: &RetryPlanner<'_>,
    last_error: Option<E>,
) -> RetryError<E> {
    RetryError {
        reason,
        attempts: planner.attempts(),
        last_error,
    }
}

/// Retries the async operation `op` under `policy` with the system monotonic clock, tokio
/// sleeps, the thread-local jitter source and no budget (the `tokio` feature).
///
/// # Errors
///
/// [`RetryError`] when the planner gives up.
///
/// ```
/// # use std::time::Duration;
/// # use quorate_retry::*;
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # rt.block_on(async {
/// let policy = RetryPolicy::new(Backoff::constant(Duration::from_millis(1))?);
/// let v = retry_async(&policy, |_| async { Ok::<_, OutcomeClass>(7) }).await;
/// assert_eq!(v.ok(), Some(7));
/// # Ok::<(), quorate_retry::ConfigError>(())
/// # }).unwrap();
/// ```
#[cfg(feature = "tokio")]
pub async fn retry_async<T, E, F, Fut>(policy: &RetryPolicy, op: F) -> Result<T, RetryError<E>>
where
    E: Classify,
    F: FnMut(AttemptInfo) -> Fut,
    Fut: core::future::Future<Output = Result<T, E>>,
{
    Retry::new(policy, &quorate_clocks::SystemClock, &ThreadSleeper)
        .run_async(op)
        .await
}
