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
//! it decides as resilience4j does, once `min(min_calls, probes)` probes have completed: it
//! reopens if their failure rate (or slow-call rate) is at or above its threshold and closes
//! otherwise. Each reopening doubles the open interval (up to a maximum), so a dependency that
//! stays down is probed less and less often. Every transition is counted and can be observed
//! with a callback.
//!
//! # Slow calls
//!
//! A dependency that answers, but slowly, is as unhealthy as one that fails: callers pile up
//! behind it. With [`BreakerConfig::with_slow_calls`] a failure-rate breaker also keeps
//! resilience4j's *slow-call rate*: a call that took longer than the duration threshold
//! (from [`CircuitBreaker::try_acquire`] to its outcome, on the breaker's clock) counts as slow
//! whether it succeeded or failed, and the breaker opens when, once the window holds the
//! minimum number of calls, either the failure rate or the slow-call rate is at or above its
//! own threshold. Half-open probes are judged by the same two rates. As in resilience4j
//! (`slowCallDurationThreshold`, `slowCallRateThreshold`), "slower than" is strict: a call
//! of exactly the threshold is not slow. Where we differ on purpose: resilience4j tracks slow
//! calls by default (60 s, 100%); here they are off until configured, and they need a
//! failure-rate rule (a window of calls), not [`TripRule::ConsecutiveFailures`].

use core::fmt;
use core::num::NonZeroU64;
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

/// The largest count-based window (its outcomes are kept one bit each, two with slow calls: 128 or 256 KiB).
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
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    slow: Option<SlowCalls>,
}

/// resilience4j's slow-call rule: calls slower than `nanos` count as slow; the breaker opens
/// when their share reaches `threshold_ppm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct SlowCalls {
    /// A call strictly longer than this is slow (at least 1 ns).
    nanos: u64,
    /// Slow-call rate threshold in parts per million (1 to 1 000 000).
    threshold_ppm: u32,
}

/// The deserialized form of a [`BreakerConfig`], validated by `TryFrom`.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct ConfigRepr {
    rule: TripRule,
    open_base: u64,
    open_max: u64,
    probes: u32,
    #[serde(default)]
    slow: Option<SlowCalls>,
}

#[cfg(feature = "serde")]
impl TryFrom<ConfigRepr> for BreakerConfig {
    type Error = ConfigError;
    fn try_from(r: ConfigRepr) -> Result<Self, ConfigError> {
        let cfg = Self::new(
            r.rule,
            Duration::from_nanos(r.open_base),
            Duration::from_nanos(r.open_max),
            r.probes,
        )?;
        match r.slow {
            None => Ok(cfg),
            Some(s) => cfg.with_slow_calls_ppm(s.nanos, s.threshold_ppm),
        }
    }
}

impl BreakerConfig {
    /// Trip by `rule`; stay open `open_base` at first, doubling on each failed probe round up to
    /// `open_max`; allow `probes` concurrent half-open probes. Under
    /// [`TripRule::ConsecutiveFailures`] all probes must succeed (the first failure reopens);
    /// under the failure-rate rules the breaker decides once `min(min_calls, probes)` probes
    /// have completed (all of them when `min_calls >= probes`), reopening if their failure rate
    /// (or slow-call rate) is at or above its threshold: resilience4j's
    /// `permittedNumberOfCallsInHalfOpenState`, whose window takes the smaller of the two as
    /// its minimum number of calls.
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
            slow: None,
        })
    }

    /// Also opens on resilience4j's slow-call rate: a call that takes longer than
    /// `slower_than` counts as slow, succeeded or failed, and the breaker opens when the
    /// share of slow calls in the window reaches `threshold` (0 < threshold ≤ 1) once the
    /// window holds its minimum number of calls, beside (not instead of) the failure-rate
    /// test. Half-open probes are judged by both rates as well (`slowCallDurationThreshold`
    /// and `slowCallRateThreshold`). A call's duration runs from its
    /// [`try_acquire`](CircuitBreaker::try_acquire) to its outcome, on the breaker's clock, and
    /// "longer than" is strict: a call of exactly `slower_than` is not slow.
    ///
    /// Where we differ on purpose: resilience4j tracks slow calls by default (60 s, 100%);
    /// here they are off until this is called, and they need a failure-rate rule (a window of
    /// calls), not [`TripRule::ConsecutiveFailures`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for a zero duration (resilience4j: at least 1 ns);
    /// [`ConfigError::OutOfRange`] for a NaN or out-of-range threshold;
    /// [`ConfigError::Unsupported`] when the trip rule is [`TripRule::ConsecutiveFailures`] (a
    /// slow-call rate needs a window of calls); [`ConfigError::DurationTooLarge`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::ManualClock;
    /// use quorate_retry::{BreakerConfig, BreakerState, CircuitBreaker, TripRule};
    ///
    /// // Open when half of the last 4 calls failed, or when half of them took over 2 s.
    /// let rule = TripRule::failure_rate_count(0.5, 4, 4)?;
    /// let cfg = BreakerConfig::new(rule, Duration::from_secs(5), Duration::from_secs(60), 1)?
    ///     .with_slow_calls(Duration::from_secs(2), 0.5)?;
    /// let clock = ManualClock::new(0);
    /// let breaker = CircuitBreaker::new(cfg, clock.clone());
    /// for took in [3, 0, 3, 0] {
    ///     let permit = breaker.try_acquire()?;
    ///     clock.advance(Duration::from_secs(took));
    ///     breaker.on_success(permit); // every call succeeded...
    /// }
    /// assert_eq!(breaker.state(), BreakerState::Open); // ...but half of them were slow
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_slow_calls(
        self,
        slower_than: Duration,
        threshold: f64,
    ) -> Result<Self, ConfigError> {
        let t = crate::error::fixed(threshold, 0.0, 1.0, 1e6, "slow call rate threshold")?;
        self.with_slow_calls_ppm(nanos(slower_than)?, u32::try_from(t).unwrap_or(0))
    }

    fn with_slow_calls_ppm(mut self, nanos: u64, threshold_ppm: u32) -> Result<Self, ConfigError> {
        if nanos == 0 {
            return Err(ConfigError::Zero {
                what: "slow call duration",
            });
        }
        if threshold_ppm == 0 || threshold_ppm > 1_000_000 {
            return Err(ConfigError::OutOfRange {
                what: "slow call rate threshold",
            });
        }
        if let TripRule::ConsecutiveFailures(_) = self.rule {
            return Err(ConfigError::Unsupported {
                what: "slow-call tracking with a consecutive-failures rule",
            });
        }
        self.slow = Some(SlowCalls {
            nanos,
            threshold_ppm,
        });
        Ok(self)
    }

    /// The slow-call duration threshold, when slow calls are tracked.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use quorate_retry::{BreakerConfig, TripRule};
    /// let cfg = BreakerConfig::new(TripRule::failure_rate_count(0.5, 10, 10)?, Duration::from_secs(1), Duration::from_secs(1), 1)?;
    /// assert_eq!(cfg.slow_call_duration(), None);
    /// let cfg = cfg.with_slow_calls(Duration::from_secs(4), 0.5)?;
    /// assert_eq!(cfg.slow_call_duration(), Some(Duration::from_secs(4)));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn slow_call_duration(&self) -> Option<Duration> {
        self.slow.map(|s| Duration::from_nanos(s.nanos))
    }

    /// The slow-call rate threshold (0 < t ≤ 1), when slow calls are tracked.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use quorate_retry::{BreakerConfig, TripRule};
    /// let cfg = BreakerConfig::new(TripRule::failure_rate_count(0.5, 10, 10)?, Duration::from_secs(1), Duration::from_secs(1), 1)?
    ///     .with_slow_calls(Duration::from_secs(4), 0.25)?;
    /// assert_eq!(cfg.slow_call_rate_threshold(), Some(0.25));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn slow_call_rate_threshold(&self) -> Option<f64> {
        self.slow.map(|s| f64::from(s.threshold_ppm) / 1e6)
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
    /// Calls recorded as slow (slower than the configured slow-call duration, succeeded or
    /// failed); always 0 when slow calls are not tracked.
    pub slow_calls: u64,
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
    /// `generation << 2 | 2 | probe`: never zero, so `Result<Permit, BreakerOpen>` stays two
    /// words and is returned in registers.
    tag: NonZeroU64,
    /// When the call was admitted (the breaker's clock): the start of its duration.
    started: u64,
}

/// Generations wrap at 2^62 so that they fit in a permit's tag beside its two flag bits.
const GENERATION_MASK: u64 = u64::MAX >> 2;

impl Permit {
    fn new(generation: u64, probe: bool, started: u64) -> Self {
        Self {
            // Bit 1 is always set, so the value is never zero.
            tag: NonZeroU64::new(generation << 2 | 2 | u64::from(probe)).unwrap_or(NonZeroU64::MAX),
            started,
        }
    }

    /// The breaker generation the permit was issued in.
    const fn generation(&self) -> u64 {
        self.tag.get() >> 2
    }
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
        self.tag.get() & 1 == 1
    }
}

const BUCKETS: usize = 10;

/// The outcomes of the last `cap` calls, one bit each, and whether each was slow, one bit
/// each, when slow calls are tracked.
#[derive(Debug, Default)]
struct CallRing {
    bits: Vec<u64>,
    /// Empty unless slow calls are tracked.
    slow_bits: Vec<u64>,
    cap: u32,
    len: u32,
    next: u32,
    fails: u32,
    slows: u32,
}

/// Sets bit `bit` of `w` to `on`; returns the bit it replaced.
fn replace_bit(w: &mut u64, bit: u32, on: bool) -> bool {
    let old = *w >> bit & 1 == 1;
    *w = (*w & !(1 << bit)) | (u64::from(on) << bit);
    old
}

impl CallRing {
    fn new(cap: u32, track_slow: bool) -> Self {
        let words = cap.div_ceil(64) as usize;
        Self {
            bits: vec![0; words],
            slow_bits: if track_slow {
                vec![0; words]
            } else {
                Vec::new()
            },
            cap,
            len: 0,
            next: 0,
            fails: 0,
            slows: 0,
        }
    }

    /// Records one outcome, evicting the oldest once full; returns `(calls, failures, slow)`.
    #[inline]
    fn push(&mut self, failed: bool, slow: bool) -> (u32, u32, u32) {
        let (word, bit) = ((self.next / 64) as usize, self.next % 64);
        if let Some(w) = self.bits.get_mut(word) {
            // A slot not yet used (or cleared) holds 0, so evicting it subtracts nothing.
            if replace_bit(w, bit, failed) {
                self.fails -= 1;
            }
            self.fails += u32::from(failed);
            if let Some(w) = self.slow_bits.get_mut(word) {
                if replace_bit(w, bit, slow) {
                    self.slows -= 1;
                }
                self.slows += u32::from(slow);
            }
            self.len = (self.len + 1).min(self.cap);
            self.next = if self.next + 1 == self.cap {
                0
            } else {
                self.next + 1
            };
        }
        (self.len, self.fails, self.slows)
    }

    fn clear(&mut self) {
        self.bits.fill(0);
        self.slow_bits.fill(0);
        (self.len, self.next, self.fails, self.slows) = (0, 0, 0, 0);
    }
}

/// Empty time buckets: (window number, calls, failures).
const NO_BUCKETS: [(u64, u32, u32); BUCKETS] = [(u64::MAX, 0, 0); BUCKETS];

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    /// Bumped on every transition: outcomes of permits from an earlier state are ignored.
    generation: u64,
    consecutive: u32,
    /// (bucket window number, calls, failures, slow calls).
    buckets: [(u64, u32, u32); BUCKETS],
    /// Slow calls per time bucket (kept apart so that a breaker without slow-call tracking
    /// scans the same 16-byte buckets as before).
    slow_buckets: [u32; BUCKETS],
    /// The count-based window: one bit per call (1 = failed), one more (1 = slow) when slow
    /// calls are tracked, a ring.
    ring: CallRing,
    open_until: u64,
    open_interval: u64,
    probes_out: u32,
    probes_ok: u32,
    probes_failed: u32,
    probes_slow: u32,
    stats: BreakerStats,
}

impl Inner {
    /// Counts a call in the slow count of time bucket `i` (window number `w`); returns the
    /// slow calls in the live buckets. Out of line (and marked cold) so that a breaker without
    /// slow-call tracking runs the same instructions as before it existed.
    #[cold]
    fn slow_windowed(&mut self, i: usize, w: u64, slow: bool) -> u64 {
        if let Some(s) = self.slow_buckets.get_mut(i) {
            *s = s.saturating_add(u32::from(slow));
        }
        self.buckets
            .iter()
            .zip(self.slow_buckets)
            .filter(|(b, _)| b.0 != u64::MAX && w.wrapping_sub(b.0) < BUCKETS as u64)
            .map(|(_, s)| u64::from(s))
            .sum()
    }
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
                buckets: NO_BUCKETS,
                slow_buckets: [0; BUCKETS],
                ring: match config.rule {
                    TripRule::FailureRateCount { window_calls, .. } => {
                        CallRing::new(window_calls, config.slow.is_some())
                    }
                    _ => CallRing::default(),
                },
                open_until: 0,
                open_interval: config.open_base,
                probes_out: 0,
                probes_ok: 0,
                probes_failed: 0,
                probes_slow: 0,
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
        g.generation = g.generation.wrapping_add(1) & GENERATION_MASK;
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
                g.probes_slow = 0;
            }
            BreakerState::Closed => {
                g.stats.closed += 1;
                g.consecutive = 0;
                g.buckets = NO_BUCKETS;
                g.slow_buckets = [0; BUCKETS];
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
            BreakerState::Closed => Ok(Permit::new(g.generation, false, now)),
            BreakerState::HalfOpen if g.probes_out < self.config.probes => {
                g.probes_out += 1;
                Ok(Permit::new(g.generation, true, now))
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
        if permit.is_probe()
            && permit.generation() == g.generation
            && g.state == BreakerState::HalfOpen
        {
            g.probes_out = g.probes_out.saturating_sub(1);
        }
    }

    /// Whether `calls` outcomes with `fails` failures and `slow` slow calls reach a threshold:
    /// the failure rate `threshold_ppm`, or the slow-call rate when slow calls are tracked.
    fn rates_reached(&self, calls: u64, fails: u64, slow: u64, threshold_ppm: u32) -> bool {
        fails * 1_000_000 >= calls * u64::from(threshold_ppm)
            || self
                .config
                .slow
                .is_some_and(|s| slow * 1_000_000 >= calls * u64::from(s.threshold_ppm))
    }

    fn record(&self, permit: Permit, failed: bool) {
        let now = self.clock.now_nanos();
        let mut g = lock(&self.inner);
        if permit.generation() != g.generation {
            return; // a call admitted under an earlier state: its news is stale
        }
        // resilience4j: slower than the threshold (strictly) is slow, whatever the outcome.
        let slow = match self.config.slow {
            None => false,
            Some(s) => {
                let slow = now.saturating_sub(permit.started) > s.nanos;
                g.stats.slow_calls += u64::from(slow);
                slow
            }
        };
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
                        let i = (w % BUCKETS as u64) as usize;
                        let inner: &mut Inner = &mut g;
                        let b = &mut inner.buckets[i];
                        if b.0 != w {
                            *b = (w, 0, 0);
                            inner.slow_buckets[i] = 0;
                        }
                        b.1 = b.1.saturating_add(1);
                        b.2 = b.2.saturating_add(u32::from(failed));
                        let (calls, fails) = inner
                            .buckets
                            .iter()
                            .filter(|b| b.0 != u64::MAX && w.wrapping_sub(b.0) < BUCKETS as u64)
                            .fold((0u64, 0u64), |(c, f), b| {
                                (c + u64::from(b.1), f + u64::from(b.2))
                            });
                        let slows = if self.config.slow.is_some() {
                            inner.slow_windowed(i, w, slow)
                        } else {
                            0
                        };
                        calls >= u64::from(min_calls)
                            && self.rates_reached(calls, fails, slows, threshold_ppm)
                    }
                    TripRule::FailureRateCount {
                        threshold_ppm,
                        window_calls,
                        min_calls,
                    } => {
                        let (calls, fails, slows) = g.ring.push(failed, slow);
                        calls >= min_calls.min(window_calls)
                            && self.rates_reached(
                                u64::from(calls),
                                u64::from(fails),
                                u64::from(slows),
                                threshold_ppm,
                            )
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
                g.probes_slow = g.probes_slow.saturating_add(u32::from(slow));
                let reopen = match self.config.rule {
                    // Any failed probe reopens at once; all probes succeeding closes.
                    TripRule::ConsecutiveFailures(_) => {
                        if failed {
                            Some(true)
                        } else {
                            (g.probes_ok >= self.config.probes).then_some(false)
                        }
                    }
                    // resilience4j: the permitted calls form a count-based window whose
                    // minimum is min(min_calls, probes); once that many have completed it
                    // reopens when either rate is at or above its threshold, else closes.
                    TripRule::FailureRate {
                        threshold_ppm,
                        min_calls,
                        ..
                    }
                    | TripRule::FailureRateCount {
                        threshold_ppm,
                        min_calls,
                        ..
                    } => {
                        let done = u64::from(g.probes_ok) + u64::from(g.probes_failed);
                        let needed = min_calls.min(self.config.probes);
                        (done >= u64::from(needed)).then(|| {
                            self.rates_reached(
                                done,
                                u64::from(g.probes_failed),
                                u64::from(g.probes_slow),
                                threshold_ppm,
                            )
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
