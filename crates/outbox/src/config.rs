//! Configuration: relay, backpressure, poison policy, inbox retention.

use std::collections::HashMap;
use std::time::Duration;

use quorate_retry::{Backoff, Jitter};

use crate::error::ConfigError;

/// What happens to an ordering key once one of its messages is dead-lettered.
///
/// ```
/// assert_eq!(quorate_outbox::PoisonPolicy::default(), quorate_outbox::PoisonPolicy::Strict);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PoisonPolicy {
    /// Hold the key: none of its later messages is published until an operator calls
    /// [`RelayStore::release_key`](crate::RelayStore::release_key). Order is never broken.
    #[default]
    Strict,
    /// Skip ahead: later messages of the key keep flowing; the consumer sees a gap.
    Lenient,
}

/// The poison policy per ordering key: a default and per-key overrides.
///
/// ```
/// use quorate_outbox::{PoisonPolicies, PoisonPolicy};
/// let p = PoisonPolicies::new(PoisonPolicy::Lenient).with_key("ledger-1", PoisonPolicy::Strict);
/// assert_eq!(p.for_key("ledger-1"), PoisonPolicy::Strict);
/// assert_eq!(p.for_key("other"), PoisonPolicy::Lenient);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoisonPolicies {
    default: PoisonPolicy,
    keys: HashMap<String, PoisonPolicy>,
}

impl PoisonPolicies {
    /// Every key gets `default`.
    #[must_use]
    pub fn new(default: PoisonPolicy) -> Self {
        Self {
            default,
            keys: HashMap::new(),
        }
    }
    /// `key` gets `policy`.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>, policy: PoisonPolicy) -> Self {
        self.keys.insert(key.into(), policy);
        self
    }
    /// The policy of `key`.
    #[must_use]
    pub fn for_key(&self, key: &str) -> PoisonPolicy {
        self.keys.get(key).copied().unwrap_or(self.default)
    }
}

/// Relay settings. Build with [`RelayConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// let config = quorate_outbox::RelayConfig::builder()
///     .batch_size(100)
///     .claim_timeout(Duration::from_secs(30))
///     .max_attempts(10)
///     .build()?;
/// assert_eq!(config.batch_size(), 100);
/// # Ok::<(), quorate_outbox::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RelayConfig {
    pub(crate) relay_id: String,
    pub(crate) batch_size: usize,
    pub(crate) claim_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) crash_limit: u32,
    pub(crate) backoff: Backoff,
    pub(crate) poison: PoisonPolicies,
    pub(crate) seed: Option<u64>,
}

impl RelayConfig {
    /// A builder with the defaults: batch 100, claim timeout 30 s, poll every 1 s, 10 attempts,
    /// crash limit 3, exponential backoff 100 ms × 2 capped at 60 s with full jitter, strict
    /// poison policy, relay id `relay`.
    #[must_use]
    pub fn builder() -> RelayConfigBuilder {
        RelayConfigBuilder {
            config: Self::default(),
        }
    }
    /// Messages claimed per batch.
    #[must_use]
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// How long a claim lasts before another relay may take the key.
    #[must_use]
    pub fn claim_timeout(&self) -> Duration {
        self.claim_timeout
    }
    /// Maximum failed attempts before dead-lettering.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
    /// The relay's id as stored in claims.
    #[must_use]
    pub fn relay_id(&self) -> &str {
        &self.relay_id
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        let backoff = default_backoff();
        Self {
            relay_id: "relay".to_owned(),
            batch_size: 100,
            claim_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            max_attempts: 10,
            crash_limit: 3,
            backoff,
            poison: PoisonPolicies::default(),
            seed: None,
        }
    }
}

fn default_backoff() -> Backoff {
    match Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(60)) {
        Ok(b) => b.with_jitter(Jitter::Full),
        // The constants above are valid; this arm exists only because the constructor is fallible.
        Err(_) => match Backoff::constant(Duration::from_secs(1)) {
            Ok(b) => b,
            Err(_) => unreachable!("a constant 1 s backoff is valid"),
        },
    }
}

/// Builder of [`RelayConfig`].
///
/// ```
/// let b = quorate_outbox::RelayConfig::builder().relay_id("relay-a");
/// assert_eq!(b.build()?.relay_id(), "relay-a");
/// # Ok::<(), quorate_outbox::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RelayConfigBuilder {
    config: RelayConfig,
}

impl RelayConfigBuilder {
    /// The id stored in claims (make it unique per relay process).
    #[must_use]
    pub fn relay_id(mut self, id: impl Into<String>) -> Self {
        self.config.relay_id = id.into();
        self
    }
    /// Messages claimed per batch.
    #[must_use]
    pub fn batch_size(mut self, n: usize) -> Self {
        self.config.batch_size = n;
        self
    }
    /// How long a claim lasts; a crashed relay's keys are taken over after it.
    #[must_use]
    pub fn claim_timeout(mut self, d: Duration) -> Self {
        self.config.claim_timeout = d;
        self
    }
    /// The longest sleep between polls when no wake-up hint arrives.
    #[must_use]
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.config.poll_interval = d;
        self
    }
    /// Failed attempts before a message is dead-lettered.
    #[must_use]
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = n;
        self
    }
    /// Unfinished attempts (relay deaths while publishing) before a message is dead-lettered.
    #[must_use]
    pub fn crash_limit(mut self, n: u32) -> Self {
        self.config.crash_limit = n;
        self
    }
    /// The retry delays between failed attempts.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }
    /// The poison policy per key.
    #[must_use]
    pub fn poison(mut self, poison: PoisonPolicies) -> Self {
        self.config.poison = poison;
        self
    }
    /// Seeds the jitter (replayable runs); otherwise seeded from the thread RNG.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }
    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for a zero batch size, claim timeout, poll interval, maximum
    /// attempts or crash limit.
    pub fn build(self) -> Result<RelayConfig, ConfigError> {
        let c = self.config;
        if c.batch_size == 0 {
            return Err(ConfigError::Zero("batch size"));
        }
        if c.claim_timeout.is_zero() {
            return Err(ConfigError::Zero("claim timeout"));
        }
        if c.poll_interval.is_zero() {
            return Err(ConfigError::Zero("poll interval"));
        }
        if c.max_attempts == 0 {
            return Err(ConfigError::Zero("max attempts"));
        }
        if c.crash_limit == 0 {
            return Err(ConfigError::Zero("crash limit"));
        }
        Ok(c)
    }
}

/// Backpressure: enqueue fails above `high` pending messages until the count falls to `low`,
/// at once or (with [`Backpressure::wait_up_to`]) after waiting up to a timeout for it.
///
/// The count is taken inside the enqueuing transaction at most every `recount` (and whenever
/// the local estimate reaches `high`), so the check costs a cheap count now and then, not one
/// per message.
///
/// ```
/// use std::time::Duration;
/// let bp = quorate_outbox::Backpressure::new(10_000, 8_000, Duration::from_millis(100))?
///     .wait_up_to(Duration::from_millis(500));
/// assert_eq!(bp.high_water(), 10_000);
/// assert_eq!(bp.max_wait(), Duration::from_millis(500));
/// assert!(quorate_outbox::Backpressure::new(5, 5, Duration::from_millis(1)).is_err());
/// # Ok::<(), quorate_outbox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Backpressure {
    pub(crate) high: u64,
    pub(crate) low: u64,
    pub(crate) recount: Duration,
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) wait: Duration,
}

impl Backpressure {
    /// High- and low-water marks and the recount interval.
    ///
    /// # Errors
    ///
    /// [`ConfigError::WaterMarks`] unless `low < high`; [`ConfigError::Zero`] for `high == 0`.
    pub fn new(high: u64, low: u64, recount: Duration) -> Result<Self, ConfigError> {
        if high == 0 {
            return Err(ConfigError::Zero("high-water mark"));
        }
        if low >= high {
            return Err(ConfigError::WaterMarks { low, high });
        }
        Ok(Self {
            high,
            low,
            recount,
            wait: Duration::ZERO,
        })
    }
    /// Makes a throttled enqueue wait up to `max` (default zero: fail at once), counting
    /// again every `recount` (at least every millisecond, at most every 50 ms), and go ahead as
    /// soon as the count is at or below the low-water mark; after `max` it fails with
    /// [`EnqueueError::Backpressure`](crate::EnqueueError::Backpressure) as before.
    ///
    /// The wait blocks the calling thread (the asynchronous PostgreSQL enqueue sleeps on tokio
    /// instead) inside the caller's transaction, so the count must be able to change there:
    /// on PostgreSQL at `READ COMMITTED` (the default) each count sees the relays' progress,
    /// and the memory store counts live; on SQLite a transaction reads one snapshot and holds
    /// the only write lock once it has written, so waiting there cannot succeed: keep `max` at
    /// zero and retry the transaction later.
    ///
    /// ```
    /// use std::time::Duration;
    /// let bp = quorate_outbox::Backpressure::new(100, 50, Duration::from_millis(10))?
    ///     .wait_up_to(Duration::from_secs(1));
    /// assert_eq!(bp.max_wait(), Duration::from_secs(1));
    /// # Ok::<(), quorate_outbox::ConfigError>(())
    /// ```
    #[must_use]
    pub fn wait_up_to(mut self, max: Duration) -> Self {
        self.wait = max;
        self
    }
    /// How long a throttled enqueue waits before failing.
    #[must_use]
    pub fn max_wait(&self) -> Duration {
        self.wait
    }
    /// The interval between counts while waiting.
    pub(crate) fn poll(&self) -> Duration {
        self.recount
            .clamp(Duration::from_millis(1), Duration::from_millis(50))
    }
    /// The high-water mark.
    #[must_use]
    pub fn high_water(&self) -> u64 {
        self.high
    }
    /// The low-water mark.
    #[must_use]
    pub fn low_water(&self) -> u64 {
        self.low
    }
}

/// Inbox settings: how long dedup marks are kept, checked against how long the broker may
/// still redeliver a message.
///
/// ```
/// use std::time::Duration;
/// let c = quorate_outbox::InboxConfig::new(Duration::from_secs(7 * 86_400), Duration::from_secs(86_400))?;
/// assert_eq!(c.retention(), Duration::from_secs(7 * 86_400));
/// # Ok::<(), quorate_outbox::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InboxConfig {
    pub(crate) retention: Duration,
    pub(crate) horizon: Duration,
}

impl InboxConfig {
    /// `retention` of marks; `redelivery_horizon` is the longest a duplicate can arrive after
    /// the first delivery (broker redelivery window, outbox claim timeout plus retries...).
    ///
    /// # Errors
    ///
    /// [`ConfigError::RetentionTooShort`] unless `retention > redelivery_horizon`.
    pub fn new(retention: Duration, redelivery_horizon: Duration) -> Result<Self, ConfigError> {
        if retention <= redelivery_horizon {
            return Err(ConfigError::RetentionTooShort {
                retention_ms: millis(retention),
                horizon_ms: millis(redelivery_horizon),
            });
        }
        Ok(Self {
            retention,
            horizon: redelivery_horizon,
        })
    }
    /// How long marks are kept.
    #[must_use]
    pub fn retention(&self) -> Duration {
        self.retention
    }
    /// The redelivery horizon the retention was checked against.
    #[must_use]
    pub fn redelivery_horizon(&self) -> Duration {
        self.horizon
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn millis_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
