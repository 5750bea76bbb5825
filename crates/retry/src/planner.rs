//! The sans-IO retry planner: the one place where retry decisions are made.
//!
//! The planner does no I/O, reads no clock and never sleeps. The caller tells it when an
//! attempt starts and how it ended, with the current time; it answers "retry after `d`" or
//! "give up, because …". The executors ([`Retry`](crate::Retry)) are thin loops around it, and
//! anything else (an event loop, a state machine in a simulator, a test) can drive it the same
//! way.
//!
//! # Deadlines
//!
//! A request has at most one deadline: the policy's own (`start + deadline`) or one propagated
//! from upstream ([`RetryPlanner::with_deadline_at`]), whichever is earlier. The planner never
//! schedules a sleep that ends past it, and since an attempt takes time too, it gives up at
//! once when `now + delay + attempt time` would pass it: a retry that cannot finish in time is
//! pure extra load. The attempt time is the policy's [`attempt_timeout`](RetryPolicy::with_attempt_timeout)
//! when set (an upper bound), otherwise the longest attempt seen so far.
//!
//! # Server pushback
//!
//! A failure may carry the server's pushback ([`Classification::retry_after`]: HTTP
//! `Retry-After`, gRPC `grpc-retry-pushback-ms`). The planner follows gRFC A6 ("retry in *n*
//! ms; if this attempt also fails, retry delay will reset to initial backoff") and RFC 9110's
//! `Retry-After`: the retry is scheduled after exactly the pushback, so it never starts before
//! the time the server named, and the pushback is neither jittered nor clamped to the
//! backoff's cap (a server that says "13 s" is not retried after a 1 s cap). The backoff then
//! starts over: the next failure without pushback waits the schedule's first delay. The
//! deadline still rules: when the pushback plus the attempt time would end past it, the
//! planner gives up at once with [`GiveUpReason::DeadlineExceeded`] instead of sleeping. The
//! attempt limit and the budget apply as to any retry.
//!
//! Where we differ on purpose: a negative or unparseable `grpc-retry-pushback-ms` means "do
//! not retry" in gRFC A6; callers express that by classifying the failure as
//! [`OutcomeClass::Fatal`]. Without a deadline a pushback is honoured however long it is, so
//! set a deadline to bound the wait.

use core::time::Duration;

use rand::Rng;

use crate::backoff::{Backoff, BackoffState};
use crate::budget::{Grant, RetryBudget, RetryCost};
use crate::error::{ConfigError, nanos};
use crate::outcome::{Classification, Idempotency, OutcomeClass};

/// How a request is retried: backoff, attempt limit, deadline, attempt timeout, idempotency.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{Backoff, Idempotency, Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::new(
///     Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1))?
///         .with_jitter(Jitter::Full),
/// )
/// .with_max_attempts(5)?
/// .with_deadline(Duration::from_secs(3))?
/// .with_idempotency(Idempotency::Keyed);
/// assert_eq!(policy.max_attempts(), 5);
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "PolicyRepr"))]
pub struct RetryPolicy {
    backoff: Backoff,
    max_attempts: u32,
    deadline_nanos: Option<u64>,
    attempt_timeout_nanos: Option<u64>,
    idempotency: Idempotency,
}

/// The deserialized form of a [`RetryPolicy`], validated by `TryFrom`.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct PolicyRepr {
    backoff: Backoff,
    max_attempts: u32,
    deadline_nanos: Option<u64>,
    attempt_timeout_nanos: Option<u64>,
    idempotency: Idempotency,
}

#[cfg(feature = "serde")]
impl TryFrom<PolicyRepr> for RetryPolicy {
    type Error = ConfigError;
    fn try_from(r: PolicyRepr) -> Result<Self, ConfigError> {
        let mut p = Self::new(r.backoff)
            .with_max_attempts(r.max_attempts)?
            .with_idempotency(r.idempotency);
        p.deadline_nanos = r.deadline_nanos;
        p.attempt_timeout_nanos = r.attempt_timeout_nanos;
        Ok(p)
    }
}

impl RetryPolicy {
    /// A policy with `backoff`, at most 3 attempts, no deadline, not idempotent.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::from_millis(1))?);
    /// assert_eq!(p.max_attempts(), 3);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            max_attempts: 3,
            deadline_nanos: None,
            attempt_timeout_nanos: None,
            idempotency: Idempotency::NotIdempotent,
        }
    }

    /// Limits the number of attempts, the first one included.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] if `n` is 0.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let p = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// assert!(p.with_max_attempts(0).is_err());
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub const fn with_max_attempts(mut self, n: u32) -> Result<Self, ConfigError> {
        if n == 0 {
            return Err(ConfigError::Zero {
                what: "max_attempts",
            });
        }
        self.max_attempts = n;
        Ok(self)
    }

    /// Gives the whole request (all attempts and sleeps) at most `d` from its first attempt.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DurationTooLarge`] if `d` does not fit in 64-bit nanoseconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let p = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let p = p.with_deadline(Duration::from_secs(2))?;
    /// assert_eq!(p.deadline(), Some(Duration::from_secs(2)));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn with_deadline(mut self, d: Duration) -> Result<Self, ConfigError> {
        self.deadline_nanos = Some(nanos(d)?);
        Ok(self)
    }

    /// The longest one attempt may take; the planner reserves this much before the deadline
    /// for every retry it schedules (and executors can pass it to the operation as a timeout).
    ///
    /// # Errors
    ///
    /// [`ConfigError::DurationTooLarge`] if `d` does not fit in 64-bit nanoseconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let p = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let p = p.with_attempt_timeout(Duration::from_millis(200))?;
    /// assert_eq!(p.attempt_timeout(), Some(Duration::from_millis(200)));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn with_attempt_timeout(mut self, d: Duration) -> Result<Self, ConfigError> {
        self.attempt_timeout_nanos = Some(nanos(d)?);
        Ok(self)
    }

    /// Declares whether the operation may be repeated after an ambiguous outcome.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::Idempotency;
    /// # let p = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// assert_eq!(p.with_idempotency(Idempotency::Idempotent).idempotency(), Idempotency::Idempotent);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn with_idempotency(mut self, i: Idempotency) -> Self {
        self.idempotency = i;
        self
    }

    /// The backoff schedule.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let b = quorate_retry::Backoff::constant(Duration::ZERO)?;
    /// assert_eq!(quorate_retry::RetryPolicy::new(b).backoff(), &b);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The attempt limit (first attempt included).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let p = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// assert_eq!(p.max_attempts(), 3);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The overall deadline, if any.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let p = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// assert_eq!(p.deadline(), None);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline_nanos.map(Duration::from_nanos)
    }

    /// The per-attempt timeout, if any.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let p = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// assert_eq!(p.attempt_timeout(), None);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout_nanos.map(Duration::from_nanos)
    }

    /// The idempotency declaration.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let p = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// assert_eq!(p.idempotency(), quorate_retry::Idempotency::NotIdempotent);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn idempotency(&self) -> Idempotency {
        self.idempotency
    }
}

/// Why the planner stopped retrying.
///
/// ```
/// assert_eq!(quorate_retry::GiveUpReason::Fatal.to_string(), "the failure is not retryable");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The failure was [`Fatal`](OutcomeClass::Fatal).
    #[error("the failure is not retryable")]
    Fatal,
    /// The outcome was ambiguous and the operation is neither idempotent nor keyed.
    #[error("the outcome is ambiguous and the operation is not idempotent")]
    Ambiguous,
    /// The attempt limit was reached.
    #[error("attempts exhausted")]
    AttemptsExhausted,
    /// The next attempt could not finish before the deadline (or the deadline has passed).
    #[error("the next attempt cannot finish before the deadline")]
    DeadlineExceeded,
    /// The retry budget refused the retry.
    #[error("retry budget exhausted")]
    BudgetExhausted,
    /// The budget shed the request locally before its first attempt (adaptive throttling).
    #[error("request shed locally by the retry budget")]
    Shed,
    /// The circuit breaker refused the attempt (open, or half-open with its probes in use).
    #[error("circuit breaker is open")]
    CircuitOpen,
}

/// The planner's answer to a failed attempt.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::Decision;
/// let d = Decision::RetryAfter(Duration::from_millis(5));
/// assert_eq!(d.delay(), Some(Duration::from_millis(5)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Decision {
    /// Sleep this long, then start the next attempt.
    RetryAfter(Duration),
    /// Stop; the request failed.
    GiveUp(GiveUpReason),
}

impl Decision {
    /// The delay, when the decision is to retry.
    ///
    /// ```
    /// use quorate_retry::{Decision, GiveUpReason};
    /// assert_eq!(Decision::GiveUp(GiveUpReason::Fatal).delay(), None);
    /// ```
    #[must_use]
    pub const fn delay(&self) -> Option<Duration> {
        match self {
            Self::RetryAfter(d) => Some(*d),
            Self::GiveUp(_) => None,
        }
    }
}

/// What the planner knows about the attempt that is starting.
///
/// ```
/// # use std::time::Duration;
/// use quorate_retry::{Backoff, RetryPlanner, RetryPolicy};
/// let policy = RetryPolicy::new(Backoff::constant(Duration::ZERO)?).with_deadline(Duration::from_secs(1))?;
/// let mut planner = RetryPlanner::new(&policy);
/// let a = planner.begin_attempt(0).expect("first attempt");
/// assert_eq!((a.number, a.deadline_nanos), (1, Some(1_000_000_000)));
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AttemptInfo {
    /// 1 for the first attempt.
    pub number: u32,
    /// The request's deadline (monotonic nanoseconds), to pass on as this attempt's timeout.
    pub deadline_nanos: Option<u64>,
}

/// The sans-IO retry state machine for one logical request.
///
/// Drive it with [`begin_attempt`](Self::begin_attempt) before each attempt, then
/// [`on_success`](Self::on_success) or [`on_failure`](Self::on_failure) after it, passing the
/// current monotonic time each time.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{Backoff, Decision, FastRng, OutcomeClass, RetryPlanner, RetryPolicy};
///
/// let policy = RetryPolicy::new(Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1))?)
///     .with_max_attempts(3)?;
/// let mut planner = RetryPlanner::new(&policy);
/// let mut rng = FastRng::seed_from_u64(0);
/// let ms = 1_000_000;
///
/// planner.begin_attempt(0).expect("first attempt is admitted");
/// let d = planner.on_failure(2 * ms, OutcomeClass::Transient.into(), &mut rng);
/// assert_eq!(d, Decision::RetryAfter(Duration::from_millis(10)));
/// planner.begin_attempt(12 * ms).expect("second attempt");
/// let d = planner.on_failure(14 * ms, OutcomeClass::Transient.into(), &mut rng);
/// assert_eq!(d, Decision::RetryAfter(Duration::from_millis(20)));
/// planner.begin_attempt(34 * ms).expect("third attempt");
/// let d = planner.on_failure(36 * ms, OutcomeClass::Transient.into(), &mut rng);
/// assert_eq!(d.delay(), None); // three attempts made
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RetryPlanner<'a> {
    policy: &'a RetryPolicy,
    budget: Option<&'a dyn RetryBudget>,
    backoff: BackoffState,
    attempts: u32,
    deadline: Option<u64>,
    outer_deadline: Option<u64>,
    attempt_started: u64,
    longest_attempt: u64,
    grant: Option<Grant>,
}

impl<'a> RetryPlanner<'a> {
    /// A planner for one request under `policy`, without a budget.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let planner = quorate_retry::RetryPlanner::new(&policy);
    /// assert_eq!(planner.attempts(), 0);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn new(policy: &'a RetryPolicy) -> Self {
        Self {
            policy,
            budget: None,
            backoff: BackoffState::new(),
            attempts: 0,
            deadline: None,
            outer_deadline: None,
            attempt_started: 0,
            longest_attempt: 0,
            grant: None,
        }
    }

    /// Spends retries from (and reports outcomes to) `budget`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let budget = quorate_retry::RetryQuota::standard();
    /// let planner = quorate_retry::RetryPlanner::new(&policy).with_budget(&budget);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_budget(mut self, budget: &'a dyn RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Adds a deadline propagated from upstream (absolute, monotonic nanoseconds); the earlier
    /// of it and the policy's deadline applies.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let mut p = quorate_retry::RetryPlanner::new(&policy).with_deadline_at(500);
    /// assert_eq!(p.begin_attempt(0)?.deadline_nanos, Some(500));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn with_deadline_at(mut self, deadline_nanos: u64) -> Self {
        self.outer_deadline = Some(deadline_nanos);
        self
    }

    /// Attempts started so far.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let mut p = quorate_retry::RetryPlanner::new(&policy);
    /// p.begin_attempt(0)?;
    /// assert_eq!(p.attempts(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The request's deadline (absolute monotonic nanoseconds), once the first attempt began.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// assert_eq!(quorate_retry::RetryPlanner::new(&policy).deadline_nanos(), None);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn deadline_nanos(&self) -> Option<u64> {
        if self.attempts == 0 {
            self.outer_deadline
        } else {
            self.deadline
        }
    }

    /// Starts an attempt at `now`.
    ///
    /// The first call registers the request with the budget (which may shed it) and fixes the
    /// deadline.
    ///
    /// # Errors
    ///
    /// [`GiveUpReason::Shed`] if the budget sheds the request, [`GiveUpReason::DeadlineExceeded`]
    /// if the deadline has already passed.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let mut p = quorate_retry::RetryPlanner::new(&policy).with_deadline_at(10);
    /// assert!(p.begin_attempt(20).is_err());
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn begin_attempt(&mut self, now: u64) -> Result<AttemptInfo, GiveUpReason> {
        if self.attempts == 0 {
            let own = self.policy.deadline_nanos.map(|d| now.saturating_add(d));
            self.deadline = match (own, self.outer_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if self.deadline.is_some_and(|d| now >= d) {
                return Err(GiveUpReason::DeadlineExceeded);
            }
            if let Some(b) = self.budget
                && !b.on_request(now)
            {
                return Err(GiveUpReason::Shed);
            }
        } else if self.deadline.is_some_and(|d| now >= d) {
            return Err(GiveUpReason::DeadlineExceeded);
        }
        self.attempts = self.attempts.saturating_add(1);
        self.attempt_started = now;
        Ok(AttemptInfo {
            number: self.attempts,
            deadline_nanos: self.deadline,
        })
    }

    /// The current attempt succeeded at `now`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let policy = quorate_retry::RetryPolicy::new(quorate_retry::Backoff::constant(Duration::ZERO)?);
    /// let mut p = quorate_retry::RetryPlanner::new(&policy);
    /// p.begin_attempt(0)?;
    /// p.on_success(10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_success(&mut self, now: u64) {
        if let Some(b) = self.budget {
            b.on_success(now, self.grant);
        }
        self.grant = None;
    }

    /// The current attempt failed at `now` with `outcome`: retry after a delay, or give up.
    ///
    /// The checks run cheapest-and-final first: fatal, ambiguous-but-not-idempotent, attempt
    /// limit, deadline, and only then the budget, so no budget is spent on a retry that would
    /// not happen anyway. [`NotSent`](OutcomeClass::NotSent) failures spend no budget.
    ///
    /// The delay is the next backoff draw, or, when the failure carries server pushback
    /// ([`Classification::retry_after`]), exactly that pushback, uncapped, after which the
    /// backoff restarts from its first delay (gRFC A6). A retry whose delay plus attempt time
    /// would end past the deadline is refused with [`GiveUpReason::DeadlineExceeded`]; without
    /// a deadline a pushback is honoured however long it is.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_retry::*;
    /// let policy = RetryPolicy::new(Backoff::constant(Duration::from_millis(10))?);
    /// let mut p = RetryPlanner::new(&policy);
    /// p.begin_attempt(0)?;
    /// let d = p.on_failure(1, OutcomeClass::Timeout.into(), &mut ThreadLocalRng);
    /// assert_eq!(d, Decision::GiveUp(GiveUpReason::Ambiguous)); // not idempotent
    ///
    /// // The server says "Retry-After: 13": 13 s it is, above the 10 ms cap.
    /// let mut p = RetryPlanner::new(&policy);
    /// p.begin_attempt(0)?;
    /// let busy = Classification::new(OutcomeClass::Throttled).with_retry_after(Duration::from_secs(13));
    /// assert_eq!(p.on_failure(1, busy, &mut ThreadLocalRng), Decision::RetryAfter(Duration::from_secs(13)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_failure<R: Rng + ?Sized>(
        &mut self,
        now: u64,
        outcome: Classification,
        rng: &mut R,
    ) -> Decision {
        let class = outcome.class;
        if class != OutcomeClass::NotSent {
            // A new acquisition (or none) replaces the previous one. An unsent attempt keeps
            // it: its re-send is still the retry that grant paid for, and the AWS quota
            // refunds the last acquisition when the call finally succeeds.
            self.grant = None;
        }
        self.longest_attempt = self
            .longest_attempt
            .max(now.saturating_sub(self.attempt_started));
        let room = match self.budget {
            Some(b) if class != OutcomeClass::NotSent => b.on_failure(now, class),
            _ => true,
        };
        if class == OutcomeClass::Fatal {
            return Decision::GiveUp(GiveUpReason::Fatal);
        }
        if class.is_ambiguous() && !self.policy.idempotency.retries_ambiguous() {
            return Decision::GiveUp(GiveUpReason::Ambiguous);
        }
        if self.attempts >= self.policy.max_attempts {
            return Decision::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        let delay = match outcome.retry_after {
            // gRFC A6: retry after exactly the pushback, never earlier (RFC 9110's Retry-After)
            // and not clamped to the cap; the retry after this one, if it fails without
            // pushback, starts the backoff again from its first delay. No draw, no jitter.
            Some(after) => {
                self.backoff = BackoffState::new();
                // Past u64 nanoseconds is past every deadline; without one it is still honoured.
                u64::try_from(after.as_nanos()).unwrap_or(u64::MAX)
            }
            None => self.policy.backoff.next_delay_nanos(&mut self.backoff, rng),
        };
        if let Some(deadline) = self.deadline {
            let attempt = self
                .policy
                .attempt_timeout_nanos
                .unwrap_or(self.longest_attempt);
            // An end past u64::MAX is past every deadline (a saturated deadline included).
            let finish = now.checked_add(delay).and_then(|t| t.checked_add(attempt));
            if now >= deadline || finish.is_none_or(|f| f > deadline) {
                return Decision::GiveUp(GiveUpReason::DeadlineExceeded);
            }
        }
        if class != OutcomeClass::NotSent
            && let Some(b) = self.budget
        {
            if !room {
                return Decision::GiveUp(GiveUpReason::BudgetExhausted);
            }
            match b.try_withdraw(now, RetryCost::for_class(class)) {
                Some(g) => self.grant = Some(g),
                None => return Decision::GiveUp(GiveUpReason::BudgetExhausted),
            }
        }
        Decision::RetryAfter(match outcome.retry_after {
            Some(after) => after,
            None => Duration::from_nanos(delay),
        })
    }
}
