//! A circuit breaker: stop calling a dependency that keeps failing, probe it now and then,
//! resume when it answers.
//!
//! Retries and budgets deal with individual failures; a breaker deals with a dependency that
//! is down. While *closed* every call goes through and outcomes are recorded. It *opens* when
//! its trip rule fires — `n` consecutive failures, or a failure rate at or above a threshold
//! over a sliding window (of time, or of the last `n` calls, as resilience4j's time- and
//! count-based windows) that saw at least a minimum number of calls (so three failures out of
//! three calls at 3 a.m. do not trip it). While *open* calls are rejected
//! without touching the dependency. After the open interval it turns *half-open* and lets a
//! bounded number of probe calls through. Under the consecutive-failures rule the first failed
//! probe reopens it and it closes once every probe has succeeded; under the failure-rate rule
//! it decides as resilience4j does, once all the permitted probes have completed: it reopens
//! if their failure rate is at or above the threshold and closes otherwise. Each reopening
//! doubles the open interval (up to a maximum), so a dependency that stays down is probed
//! less and less often. Every transition is counted and can be observed with a
//! callback.

use core::fmt;
use core::time::Duration;

use quorate_clocks::MonotonicClock;

use crate::error::{ConfigError, nanos};
use crate::sync::{Mutex, lock};

/// The breaker's state.
///
/// ```
/// assert_eq!(quorate_retry::BreakerState::default(), quorate_retry::BreakerState::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum BreakerState {
    /// Calls flow; outcomes are recorded.
    #[default]
    Closed,
    /// Calls are rejected until the open interval ends.
    Open,
    /// A bounded number of probe calls may go through.
    HalfOpen,
}

/// When a closed breaker opens.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::TripRule;
/// let rule = TripRule::failure_rate(0.5, Duration::from_secs(10), 20)?;
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TripRule {
    /// Open after this many consecutive failures.
    ConsecutiveFailures(u32),
    /// Open when, over the last `window`, at least `min_calls` calls were recorded and the
    /// failure share is at least `threshold_ppm` parts per million.
    FailureRate {
        /// Threshold in parts per million (500 000 = 50%).
        threshold_ppm: u32,
        /// Sliding window length in nanoseconds (tracked in ten buckets).
        window_nanos: u64,
        /// Minimum throughput before the rate counts.
        min_calls: u32,
    },
    /// Open when, over the last `window_calls` calls (however long ago), at least
    /// `min(min_calls, window_calls)` calls were recorded and the failure share is at least
    /// `threshold_ppm` parts per million: resilience4j's count-based sliding window.
    FailureRateCount {
        /// Threshold in parts per million (500 000 = 50%).
        threshold_ppm: u32,
        /// How many of the most recent calls the window holds (1 to 2^20).
        window_calls: u32,
        /// Minimum throughput before the rate counts (capped at `window_calls`).
        min_calls: u32,
    },
}

/// The largest count-based window (its outcomes are kept one bit each: 128 KiB).
const MAX_WINDOW_CALLS: u32 = 1 << 20;

impl TripRule {
    /// Open when the failure share over `window` reaches `threshold` (0 < threshold ≤ 1) and the
    /// window saw at least `min_calls` calls.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] for a NaN or out-of-range threshold or a window shorter than
    /// 10 ns; [`ConfigError::Zero`] if `min_calls` is 0.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert!(quorate_retry::TripRule::failure_rate(1.5, Duration::from_secs(1), 5).is_err());
    /// ```
    pub fn failure_rate(
        threshold: f64,
        window: Duration,
        min_calls: u32,
    ) -> Result<Self, ConfigError> {
        let t = crate::error::fixed(threshold, 0.0, 1.0, 1e6, "threshold")?;
        if t == 0 {
            return Err(ConfigError::OutOfRange { what: "threshold" });
        }
        let w = nanos(window)?;
        if w < 10 {
            return Err(ConfigError::OutOfRange { what: "window" });
        }
        if min_calls == 0 {
            return Err(ConfigError::Zero { what: "min_calls" });
        }
        Ok(Self::FailureRate {
            threshold_ppm: u32::try_from(t).unwrap_or(1_000_000),
            window_nanos: w,
            min_calls,
        })
    }

    /// Open when the failure share of the last `window_calls` calls reaches `threshold`
    /// (0 < threshold ≤ 1), once at least `min(min_calls, window_calls)` calls were recorded
    /// (resilience4j's `COUNT_BASED` sliding window, which caps `minimumNumberOfCalls` at the
    /// window size the same way).
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] for a NaN or out-of-range threshold or a window above 2^20
    /// calls; [`ConfigError::Zero`] if `window_calls` or `min_calls` is 0.
    ///
    /// ```
    /// let rule = quorate_retry::TripRule::failure_rate_count(0.5, 100, 100)?;
    /// assert!(quorate_retry::TripRule::failure_rate_count(0.5, 0, 1).is_err());
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn failure_rate_count(
        threshold: f64,
        window_calls: u32,
        min_calls: u32,
    ) -> Result<Self, ConfigError> {
        let t = crate::error::fixed(threshold, 0.0, 1.0, 1e6, "threshold")?;
        if t == 0 {
            return Err(ConfigError::OutOfRange { what: "threshold" });
        }
        if window_calls == 0 {
            return Err(ConfigError::Zero {
                what: "window_calls",
            });
        }
        if window_calls > MAX_WINDOW_CALLS {
            return Err(ConfigError::OutOfRange {
                what: "window_calls",
            });
        }
        if min_calls == 0 {
            return Err(ConfigError::Zero { what: "min_calls" });
        }
        Ok(Self::FailureRateCount {
            threshold_ppm: u32::try_from(t).unwrap_or(1_000_000),
            window_calls,
            min_calls,
        })
    }
}

/// A validated breaker configuration.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{BreakerConfig, TripRule};
/// let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(5), Duration::from_secs(1), Duration::from_secs(60), 2)?;
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "ConfigRepr"))]
pub struct BreakerConfig {
    rule: TripRule,
    open_base: u64,
    open_max: u64,
    probes: u32,
}

/// The deserialized form of a [`BreakerConfig`], validated by `TryFrom`.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct ConfigRepr {
    rule: TripRule,
    open_base: u64,
    open_max: u64,
    probes: u32,
}

#[cfg(feature = "serde")]
impl TryFrom<ConfigRepr> for BreakerConfig {
    type Error = ConfigError;
    fn try_from(r: ConfigRepr) -> Result<Self, ConfigError> {
        Self::new(
            r.rule,
            Duration::from_nanos(r.open_base),
            Duration::from_nanos(r.open_max),
            r.probes,
        )
    }
}

impl BreakerConfig {
    /// Trip by `rule`; stay open `open_base` at first, doubling on each failed probe round up to
    /// `open_max`; allow `probes` concurrent half-open probes. Under
    /// [`TripRule::ConsecutiveFailures`] all probes must succeed (the first failure reopens);
    /// under [`TripRule::FailureRate`] the breaker decides once all `probes` have completed,
    /// reopening if their failure rate is at or above the threshold (resilience4j's
    /// `permittedNumberOfCallsInHalfOpenState`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::BaseExceedsCap`] if `open_base > open_max`; [`ConfigError::Zero`] for zero
    /// probes, zero consecutive failures, zero `min_calls` or a zero `open_base`;
    /// [`ConfigError::OutOfRange`] for a hand-built failure-rate rule with a threshold outside
    /// 1..=1 000 000 ppm or a window under 10 ns; [`ConfigError::DurationTooLarge`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// use quorate_retry::{BreakerConfig, TripRule};
    /// assert!(BreakerConfig::new(TripRule::ConsecutiveFailures(0), Duration::from_secs(1), Duration::from_secs(1), 1).is_err());
    /// ```
    pub fn new(
        rule: TripRule,
        open_base: Duration,
        open_max: Duration,
        probes: u32,
    ) -> Result<Self, ConfigError> {
        let (open_base, open_max) = (nanos(open_base)?, nanos(open_max)?);
        if open_base == 0 {
            return Err(ConfigError::Zero {
                what: "open interval",
            });
        }
        if open_base > open_max {
            return Err(ConfigError::BaseExceedsCap);
        }
        if probes == 0 {
            return Err(ConfigError::Zero { what: "probes" });
        }
        match rule {
            TripRule::ConsecutiveFailures(0) => {
                return Err(ConfigError::Zero {
                    what: "consecutive failures",
                });
            }
            TripRule::ConsecutiveFailures(_) => {}
            TripRule::FailureRate {
                threshold_ppm,
                window_nanos,
                min_calls,
            } => {
                if threshold_ppm == 0 || threshold_ppm > 1_000_000 || window_nanos < 10 {
                    return Err(ConfigError::OutOfRange {
                        what: "failure rate rule",
                    });
                }
                if min_calls == 0 {
                    return Err(ConfigError::Zero { what: "min_calls" });
                }
            }
            TripRule::FailureRateCount {
                threshold_ppm,
                window_calls,
                min_calls,
            } => {
                if threshold_ppm == 0
                    || threshold_ppm > 1_000_000
                    || window_calls == 0
                    || window_calls > MAX_WINDOW_CALLS
                {
                    return Err(ConfigError::OutOfRange {
                        what: "failure rate rule",
                    });
                }
                if min_calls == 0 {
                    return Err(ConfigError::Zero { what: "min_calls" });
                }
            }
        }
        Ok(Self {
            rule,
            open_base,
            open_max,
            probes,
        })
    }
}

/// A state change, reported to the transition callback and counted.
///
/// ```
/// use quorate_retry::{BreakerState, Transition};
/// let t = Transition { from: BreakerState::Closed, to: BreakerState::Open, at_nanos: 5 };
/// assert_eq!(t.to, BreakerState::Open);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Transition {
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
    /// When (monotonic nanoseconds).
    pub at_nanos: u64,
}

/// Counters of what the breaker did, for metrics.
///
/// ```
/// assert_eq!(quorate_retry::BreakerStats::default().opened, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BreakerStats {
    /// Transitions into open.
    pub opened: u64,
    /// Transitions into half-open.
    pub half_opened: u64,
    /// Transitions into closed.
    pub closed: u64,
    /// Calls rejected without reaching the dependency.
    pub rejected: u64,
}

/// The breaker refused a call (open, or half-open with every probe slot taken).
///
/// ```
/// assert_eq!(quorate_retry::BreakerOpen.to_string(), "circuit breaker is open");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, thiserror::Error)]
#[error("circuit breaker is open")]
pub struct BreakerOpen;

/// Permission for one call; report its outcome with [`CircuitBreaker::on_success`] or
/// [`CircuitBreaker::on_failure`].
///
/// ```
/// # use std::time::Duration;
/// # use quorate_retry::*;
/// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
/// let b = CircuitBreaker::new(cfg, quorate_clocks::ManualClock::new(0));
/// let permit = b.try_acquire()?;
/// assert!(!permit.is_probe());
/// b.on_success(permit);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[must_use = "report the call's outcome with on_success or on_failure"]
pub struct Permit {
    probe: bool,
    generation: u64,
}

impl Permit {
    /// Whether this call is a half-open probe.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// # let b = CircuitBreaker::new(cfg, quorate_clocks::ManualClock::new(0));
    /// assert!(!b.try_acquire()?.is_probe());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn is_probe(&self) -> bool {
        self.probe
    }
}

const BUCKETS: usize = 10;

/// The outcomes of the last `cap` calls, one bit each.
#[derive(Debug, Default)]
struct CallRing {
    bits: Vec<u64>,
    cap: u32,
    len: u32,
    next: u32,
    fails: u32,
}

impl CallRing {
    fn new(cap: u32) -> Self {
        Self {
            bits: vec![0; cap.div_ceil(64) as usize],
            cap,
            len: 0,
            next: 0,
            fails: 0,
        }
    }

    /// Records one outcome, evicting the oldest once full; returns `(calls, failures)`.
    fn push(&mut self, failed: bool) -> (u32, u32) {
        let (word, bit) = ((self.next / 64) as usize, self.next % 64);
        if let Some(w) = self.bits.get_mut(word) {
            if self.len == self.cap && *w >> bit & 1 == 1 {
                self.fails -= 1;
            }
            *w = (*w & !(1 << bit)) | (u64::from(failed) << bit);
            self.fails += u32::from(failed);
            self.len = (self.len + 1).min(self.cap);
            self.next = if self.next + 1 == self.cap {
                0
            } else {
                self.next + 1
            };
        }
        (self.len, self.fails)
    }

    fn clear(&mut self) {
        self.bits.fill(0);
        (self.len, self.next, self.fails) = (0, 0, 0);
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    /// Bumped on every transition: outcomes of permits from an earlier state are ignored.
    generation: u64,
    consecutive: u32,
    /// (bucket window number, calls, failures).
    buckets: [(u64, u32, u32); BUCKETS],
    /// The count-based window: one bit per call (1 = failed), a ring.
    ring: CallRing,
    open_until: u64,
    open_interval: u64,
    probes_out: u32,
    probes_ok: u32,
    probes_failed: u32,
    stats: BreakerStats,
}

type Observer = Box<dyn Fn(Transition) + Send + Sync>;

/// A closed / open / half-open circuit breaker taking time from a [`MonotonicClock`].
///
/// The state sits behind one short mutex (a few comparisons per call); the breaker is `Send +
/// Sync` and meant to be shared per dependency.
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::ManualClock;
/// use quorate_retry::{BreakerConfig, BreakerState, CircuitBreaker, TripRule};
///
/// let clock = ManualClock::new(0);
/// let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(2), Duration::from_secs(1), Duration::from_secs(8), 1)?;
/// let breaker = CircuitBreaker::new(cfg, clock.clone());
/// for _ in 0..2 {
///     let p = breaker.try_acquire()?;
///     breaker.on_failure(p);
/// }
/// assert_eq!(breaker.state(), BreakerState::Open);
/// assert!(breaker.try_acquire().is_err());
/// clock.advance(Duration::from_secs(1));
/// let probe = breaker.try_acquire()?; // half-open
/// breaker.on_success(probe);
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CircuitBreaker<C> {
    config: BreakerConfig,
    clock: C,
    inner: Mutex<Inner>,
    observer: Option<Observer>,
}

impl<C> fmt::Debug for CircuitBreaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("config", &self.config)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<C: MonotonicClock> CircuitBreaker<C> {
    /// A closed breaker.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// let b = CircuitBreaker::new(cfg, quorate_clocks::SystemClock);
    /// assert_eq!(b.state(), BreakerState::Closed);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn new(config: BreakerConfig, clock: C) -> Self {
        Self {
            config,
            clock,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                generation: 0,
                consecutive: 0,
                buckets: [(u64::MAX, 0, 0); BUCKETS],
                ring: match config.rule {
                    TripRule::FailureRateCount { window_calls, .. } => CallRing::new(window_calls),
                    _ => CallRing::default(),
                },
                open_until: 0,
                open_interval: config.open_base,
                probes_out: 0,
                probes_ok: 0,
                probes_failed: 0,
                stats: BreakerStats::default(),
            }),
            observer: None,
        }
    }

    /// Calls `f` on every state change (while holding the breaker's lock: keep it short and do
    /// not call back into the breaker).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use std::sync::{Arc, Mutex};
    /// # use quorate_retry::*;
    /// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let b = CircuitBreaker::new(cfg, quorate_clocks::ManualClock::new(0))
    ///     .on_transition(move |t| log.lock().unwrap().push(t.to));
    /// let p = b.try_acquire()?;
    /// b.on_failure(p);
    /// assert_eq!(*seen.lock().unwrap(), [BreakerState::Open]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn on_transition(mut self, f: impl Fn(Transition) + Send + Sync + 'static) -> Self {
        self.observer = Some(Box::new(f));
        self
    }

    /// The current state (an open breaker whose interval has passed reports half-open).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// # let b = CircuitBreaker::new(cfg, quorate_clocks::ManualClock::new(0));
    /// assert_eq!(b.state(), BreakerState::Closed);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn state(&self) -> BreakerState {
        let now = self.clock.now_nanos();
        let mut g = lock(&self.inner);
        self.tick(&mut g, now);
        g.state
    }

    /// The transition and rejection counters.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// # let b = CircuitBreaker::new(cfg, quorate_clocks::ManualClock::new(0));
    /// assert_eq!(b.stats().rejected, 0);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn stats(&self) -> BreakerStats {
        lock(&self.inner).stats
    }

    fn transition(&self, g: &mut Inner, to: BreakerState, now: u64) {
        let from = g.state;
        g.state = to;
        g.generation = g.generation.wrapping_add(1);
        match to {
            BreakerState::Open => {
                g.stats.opened += 1;
                g.open_until = now.saturating_add(g.open_interval);
            }
            BreakerState::HalfOpen => {
                g.stats.half_opened += 1;
                g.probes_out = 0;
                g.probes_ok = 0;
                g.probes_failed = 0;
            }
            BreakerState::Closed => {
                g.stats.closed += 1;
                g.consecutive = 0;
                g.buckets = [(u64::MAX, 0, 0); BUCKETS];
                g.ring.clear();
                g.open_interval = self.config.open_base;
            }
        }
        if let Some(f) = &self.observer {
            f(Transition {
                from,
                to,
                at_nanos: now,
            });
        }
    }

    fn tick(&self, g: &mut Inner, now: u64) {
        if g.state == BreakerState::Open && now >= g.open_until {
            self.transition(g, BreakerState::HalfOpen, now);
        }
    }

    /// Asks to make one call.
    ///
    /// # Errors
    ///
    /// [`BreakerOpen`] while open, or half-open with all probe slots in use.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// # let b = CircuitBreaker::new(cfg, quorate_clocks::ManualClock::new(0));
    /// let p = b.try_acquire()?;
    /// b.on_failure(p);
    /// assert_eq!(b.try_acquire(), Err(BreakerOpen));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_acquire(&self) -> Result<Permit, BreakerOpen> {
        let now = self.clock.now_nanos();
        let mut g = lock(&self.inner);
        self.tick(&mut g, now);
        match g.state {
            BreakerState::Closed => Ok(Permit {
                probe: false,
                generation: g.generation,
            }),
            BreakerState::HalfOpen if g.probes_out < self.config.probes => {
                g.probes_out += 1;
                Ok(Permit {
                    probe: true,
                    generation: g.generation,
                })
            }
            _ => {
                g.stats.rejected += 1;
                Err(BreakerOpen)
            }
        }
    }

    /// The call made under `permit` succeeded.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// # let b = CircuitBreaker::new(cfg, quorate_clocks::ManualClock::new(0));
    /// b.on_success(b.try_acquire()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_success(&self, permit: Permit) {
        self.record(permit, false);
    }

    /// The call made under `permit` failed (count only failures that say something about the
    /// dependency's health, not the caller's own errors).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// # let b = CircuitBreaker::new(cfg, quorate_clocks::ManualClock::new(0));
    /// b.on_failure(b.try_acquire()?);
    /// assert_eq!(b.state(), BreakerState::Open);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_failure(&self, permit: Permit) {
        self.record(permit, true);
    }

    /// Returns a permit whose call was never made (a half-open probe slot is freed; nothing is
    /// recorded).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use quorate_retry::*;
    /// # let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(1), Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// let clock = quorate_clocks::ManualClock::new(0);
    /// let b = CircuitBreaker::new(cfg, clock.clone());
    /// b.on_failure(b.try_acquire()?);
    /// clock.advance(Duration::from_secs(1));
    /// let probe = b.try_acquire()?;
    /// assert!(b.try_acquire().is_err()); // the only probe slot is taken
    /// b.release(probe);
    /// assert!(b.try_acquire().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(&self, permit: Permit) {
        let mut g = lock(&self.inner);
        if permit.probe && permit.generation == g.generation && g.state == BreakerState::HalfOpen {
            g.probes_out = g.probes_out.saturating_sub(1);
        }
    }

    fn record(&self, permit: Permit, failed: bool) {
        let now = self.clock.now_nanos();
        let mut g = lock(&self.inner);
        if permit.generation != g.generation {
            return; // a call admitted under an earlier state: its news is stale
        }
        match g.state {
            BreakerState::Closed => {
                g.consecutive = if failed {
                    g.consecutive.saturating_add(1)
                } else {
                    0
                };
                let trip = match self.config.rule {
                    TripRule::ConsecutiveFailures(n) => g.consecutive >= n,
                    TripRule::FailureRate {
                        threshold_ppm,
                        window_nanos,
                        min_calls,
                    } => {
                        let width = (window_nanos / BUCKETS as u64).max(1);
                        let w = now / width;
                        let b = &mut g.buckets[(w % BUCKETS as u64) as usize];
                        if b.0 != w {
                            *b = (w, 0, 0);
                        }
                        b.1 = b.1.saturating_add(1);
                        b.2 = b.2.saturating_add(u32::from(failed));
                        let (calls, fails) = g
                            .buckets
                            .iter()
                            .filter(|b| b.0 != u64::MAX && w.wrapping_sub(b.0) < BUCKETS as u64)
                            .fold((0u64, 0u64), |(c, f), b| {
                                (c + u64::from(b.1), f + u64::from(b.2))
                            });
                        calls >= u64::from(min_calls)
                            && fails * 1_000_000 >= calls * u64::from(threshold_ppm)
                    }
                    TripRule::FailureRateCount {
                        threshold_ppm,
                        window_calls,
                        min_calls,
                    } => {
                        let (calls, fails) = g.ring.push(failed);
                        calls >= min_calls.min(window_calls)
                            && u64::from(fails) * 1_000_000
                                >= u64::from(calls) * u64::from(threshold_ppm)
                    }
                };
                if trip {
                    self.transition(&mut g, BreakerState::Open, now);
                }
            }
            BreakerState::HalfOpen => {
                if failed {
                    g.probes_failed = g.probes_failed.saturating_add(1);
                } else {
                    g.probes_ok = g.probes_ok.saturating_add(1);
                }
                let reopen = match self.config.rule {
                    // Any failed probe reopens at once; all probes succeeding closes.
                    TripRule::ConsecutiveFailures(_) => {
                        if failed {
                            Some(true)
                        } else {
                            (g.probes_ok >= self.config.probes).then_some(false)
                        }
                    }
                    // resilience4j: decide once every permitted call has completed, reopening
                    // when their failure rate is at or above the threshold.
                    TripRule::FailureRate { threshold_ppm, .. }
                    | TripRule::FailureRateCount { threshold_ppm, .. } => {
                        let done = u64::from(g.probes_ok) + u64::from(g.probes_failed);
                        (done >= u64::from(self.config.probes)).then(|| {
                            u64::from(g.probes_failed) * 1_000_000
                                >= done * u64::from(threshold_ppm)
                        })
                    }
                };
                match reopen {
                    Some(true) => {
                        g.open_interval =
                            g.open_interval.saturating_mul(2).min(self.config.open_max);
                        self.transition(&mut g, BreakerState::Open, now);
                    }
                    Some(false) => self.transition(&mut g, BreakerState::Closed, now),
                    None => {}
                }
            }
            BreakerState::Open => {}
        }
    }
}

/// The circuit-breaker operations the [`Retry`](crate::Retry) executor needs, object safe so
/// one executor works with a breaker on any clock.
///
/// ```
/// # use std::time::Duration;
/// use quorate_retry::{BreakerConfig, BreakerGate, CircuitBreaker, TripRule};
/// let cfg = BreakerConfig::new(TripRule::ConsecutiveFailures(3), Duration::from_secs(1), Duration::from_secs(30), 1)?;
/// let breaker = CircuitBreaker::new(cfg, quorate_clocks::SystemClock);
/// let gate: &dyn BreakerGate = &breaker;
/// let permit = gate.try_acquire()?;
/// gate.on_success(permit);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait BreakerGate: Send + Sync {
    /// Asks to make one call.
    ///
    /// # Errors
    ///
    /// [`BreakerOpen`] when the breaker refuses the call.
    fn try_acquire(&self) -> Result<Permit, BreakerOpen>;
    /// The call made under `permit` succeeded (or failed for reasons unrelated to the
    /// dependency's health).
    fn on_success(&self, permit: Permit);
    /// The call made under `permit` failed in a way that says the dependency is unhealthy.
    fn on_failure(&self, permit: Permit);
    /// The call was never made.
    fn release(&self, permit: Permit);
}

impl<C: MonotonicClock> BreakerGate for CircuitBreaker<C> {
    fn try_acquire(&self) -> Result<Permit, BreakerOpen> {
        CircuitBreaker::try_acquire(self)
    }
    fn on_success(&self, permit: Permit) {
        CircuitBreaker::on_success(self, permit);
    }
    fn on_failure(&self, permit: Permit) {
        CircuitBreaker::on_failure(self, permit);
    }
    fn release(&self, permit: Permit) {
        CircuitBreaker::release(self, permit);
    }
}
