//! The values the state machine passes around: keys, fingerprints, outcomes, attempts and the
//! answers of `begin`.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use quorate_fencing::FencingToken;
use sha2::{Digest, Sha256};

use crate::error::{InvalidConfig, InvalidKey};

/// The longest idempotency key accepted, in bytes (the IETF draft and Stripe both cap keys at
/// 255 characters).
pub const MAX_KEY_LEN: usize = 255;

/// The longest scope accepted, in bytes.
pub const MAX_SCOPE_LEN: usize = 255;

/// The longest recovery-point phase name accepted, in bytes.
pub const MAX_PHASE_LEN: usize = 255;

/// Checks a `(scope, key)` pair against the limits every store enforces.
///
/// The key must be 1 to [`MAX_KEY_LEN`] bytes; the scope (the caller's identity: tenant,
/// principal, route) may be empty, for a single-tenant service, and at most [`MAX_SCOPE_LEN`]
/// bytes.
///
/// # Errors
///
/// [`InvalidKey`] naming the violated limit.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::{InvalidKey, check_key};
///
/// assert_eq!(check_key("tenant-1", "order-42"), Ok(()));
/// assert_eq!(check_key("tenant-1", ""), Err(InvalidKey::Empty));
/// assert!(check_key("tenant-1", &"k".repeat(256)).is_err());
/// ```
pub fn check_key(scope: &str, key: &str) -> Result<(), InvalidKey> {
    if key.is_empty() {
        return Err(InvalidKey::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(InvalidKey::TooLong {
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    if scope.len() > MAX_SCOPE_LEN {
        return Err(InvalidKey::ScopeTooLong {
            len: scope.len(),
            max: MAX_SCOPE_LEN,
        });
    }
    Ok(())
}

/// A collision-resistant digest (SHA-256) of the canonical form of a request.
///
/// A store keeps the fingerprint of the request that first used a key; a later request with the
/// same key but a different fingerprint is refused ([`Begin::FingerprintMismatch`]) instead of
/// being answered with another request's response. Fingerprint the whole request with
/// [`of`](Self::of), or a caller-chosen subset of named fields with
/// [`builder`](Self::builder) (leave out fields that legitimately vary between retries, such as a
/// client timestamp).
///
/// # Examples
///
/// ```
/// use quorate_idempotency::Fingerprint;
///
/// let a = Fingerprint::builder().field("amount", b"100").field("currency", b"EUR").finish();
/// let b = Fingerprint::builder().field("amount", b"100").field("currency", b"EUR").finish();
/// let c = Fingerprint::builder().field("amount", b"1000").field("currency", b"EUR").finish();
/// assert_eq!(a, b);
/// assert_ne!(a, c);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a whole request given as one canonical byte string.
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_idempotency::Fingerprint;
    /// assert_eq!(Fingerprint::of(b"body"), Fingerprint::of(b"body"));
    /// assert_ne!(Fingerprint::of(b"body"), Fingerprint::of(b"bodz"));
    /// ```
    #[must_use]
    pub fn of(request: &[u8]) -> Self {
        Self::builder().field("request", request).finish()
    }

    /// A builder hashing named fields in order; each name and value is length-prefixed, so
    /// no two different field lists hash the same input.
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_idempotency::Fingerprint;
    /// let ab = Fingerprint::builder().field("x", b"ab").field("y", b"").finish();
    /// let a_b = Fingerprint::builder().field("x", b"a").field("y", b"b").finish();
    /// assert_ne!(ab, a_b);
    /// ```
    #[must_use]
    pub fn builder() -> FingerprintBuilder {
        let mut hasher = Sha256::new();
        hasher.update(b"quorate-idempotency/fingerprint/v1");
        FingerprintBuilder(hasher)
    }

    /// The canonical fingerprint of an HTTP request: method, path (with query) and full body.
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_idempotency::Fingerprint;
    /// let a = Fingerprint::http("POST", "/charges", b"{\"amount\":100}");
    /// assert_ne!(a, Fingerprint::http("POST", "/refunds", b"{\"amount\":100}"));
    /// ```
    #[must_use]
    pub fn http(method: &str, path: &str, body: &[u8]) -> Self {
        Self::builder()
            .field("method", method.as_bytes())
            .field("path", path.as_bytes())
            .field("body", body)
            .finish()
    }

    /// A fingerprint from its 32 raw bytes (as stored).
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_idempotency::Fingerprint;
    /// let fp = Fingerprint::of(b"x");
    /// assert_eq!(Fingerprint::from_bytes(*fp.as_bytes()), fp);
    /// ```
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(quorate_idempotency::Fingerprint::of(b"x").as_bytes().len(), 32);
    /// ```
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Hashes named request fields into a [`Fingerprint`]; from [`Fingerprint::builder`].
///
/// # Examples
///
/// ```
/// use quorate_idempotency::Fingerprint;
/// let fp = Fingerprint::builder().field("account", b"acct_1").finish();
/// assert_eq!(fp.to_string().len(), 64);
/// ```
#[derive(Debug, Clone)]
pub struct FingerprintBuilder(Sha256);

impl FingerprintBuilder {
    /// Adds one named field.
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_idempotency::Fingerprint;
    /// let fp = Fingerprint::builder().field("a", b"1").field("b", b"2").finish();
    /// assert_ne!(fp, Fingerprint::builder().field("b", b"2").field("a", b"1").finish());
    /// ```
    #[must_use]
    pub fn field(mut self, name: &str, value: &[u8]) -> Self {
        self.0.update((name.len() as u64).to_le_bytes());
        self.0.update(name.as_bytes());
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value);
        self
    }

    /// The fingerprint of the fields added so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_idempotency::Fingerprint;
    /// assert_eq!(Fingerprint::builder().finish(), Fingerprint::builder().finish());
    /// ```
    #[must_use]
    pub fn finish(self) -> Fingerprint {
        Fingerprint(self.0.finalize().into())
    }
}

/// How an attempt ended, given to [`IdempotencyStore::complete`](crate::IdempotencyStore::complete).
///
/// # Examples
///
/// ```
/// use quorate_idempotency::Outcome;
/// let done = Outcome::Succeeded("charged".into());
/// assert!(done.is_terminal());
/// assert!(!Outcome::FailedRetryable.is_terminal());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The operation succeeded; the response is stored and replayed byte for byte.
    Succeeded(Bytes),
    /// The operation was rejected for good (a business rule, validation); the response is stored
    /// and replayed byte for byte.
    FailedFinal(Bytes),
    /// The attempt failed before any effect committed; the key is released and the next
    /// `begin` executes again (resuming after the last recovery point).
    FailedRetryable,
}

impl Outcome {
    /// Whether this outcome is stored for replay.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(quorate_idempotency::Outcome::FailedFinal("no".into()).is_terminal());
    /// ```
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Self::FailedRetryable)
    }

    pub(crate) fn response_len(&self) -> usize {
        match self {
            Self::Succeeded(b) | Self::FailedFinal(b) => b.len(),
            Self::FailedRetryable => 0,
        }
    }
}

/// Which terminal state a replayed response comes from.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::Terminal;
/// assert_ne!(Terminal::Succeeded, Terminal::FailedFinal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Terminal {
    /// The operation succeeded.
    Succeeded,
    /// The operation was rejected for good.
    FailedFinal,
}

/// A stored response, replayed for a retried request.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, MemoryStore, Outcome, Terminal};
///
/// # fn main() -> Result<(), quorate_idempotency::StoreError> {
/// let store = MemoryStore::new();
/// let fp = Fingerprint::of(b"req");
/// if let Begin::Execute(attempt) = store.begin("", "k", &fp)? {
///     store.complete(&attempt, Outcome::Succeeded("ok".into()))?;
/// }
/// let Begin::Replay(stored) = store.begin("", "k", &fp)? else { unreachable!() };
/// assert_eq!(stored.terminal, Terminal::Succeeded);
/// assert_eq!(stored.response, "ok");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stored {
    /// Whether the operation succeeded or failed for good.
    pub terminal: Terminal,
    /// The response bytes, exactly as given to `complete`.
    pub response: Bytes,
    /// The attempt that completed the key.
    pub epoch: FencingToken,
}

impl Stored {
    pub(crate) fn new(terminal: Terminal, response: Bytes, epoch: FencingToken) -> Self {
        Self {
            terminal,
            response,
            epoch,
        }
    }
}

/// The last phase an attempt recorded, with its data; a takeover resumes after it.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::RecoveryPoint;
/// let p = RecoveryPoint::new("charged", "ch_123");
/// assert_eq!(p.phase(), "charged");
/// assert_eq!(p.data(), "ch_123");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecoveryPoint {
    phase: String,
    data: Bytes,
}

impl RecoveryPoint {
    /// A recovery point (as read back from a store).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = quorate_idempotency::RecoveryPoint::new("started", "");
    /// assert!(p.data().is_empty());
    /// ```
    pub fn new(phase: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Self {
            phase: phase.into(),
            data: data.into(),
        }
    }

    /// The phase name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(quorate_idempotency::RecoveryPoint::new("a", "").phase(), "a");
    /// ```
    #[must_use]
    pub fn phase(&self) -> &str {
        &self.phase
    }

    /// The data recorded with the phase (for example the id of the effect it produced).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(quorate_idempotency::RecoveryPoint::new("a", "d").data(), "d");
    /// ```
    #[must_use]
    pub fn data(&self) -> &Bytes {
        &self.data
    }
}

/// The right to execute a key's operation once: the key, the attempt epoch (a fencing token: a
/// takeover gets a higher one, and the store refuses checkpoints and completions from lower
/// ones) and the recovery point to resume after, if an earlier attempt recorded one.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, MemoryStore};
///
/// # fn main() -> Result<(), quorate_idempotency::StoreError> {
/// let store = MemoryStore::new();
/// let Begin::Execute(attempt) = store.begin("tenant", "k", &Fingerprint::of(b"r"))? else {
///     unreachable!()
/// };
/// assert_eq!((attempt.scope(), attempt.key()), ("tenant", "k"));
/// assert!(attempt.epoch().get() >= 1); // a new record's first epoch is its creation time
/// assert!(attempt.recovery().is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attempt {
    /// The scope followed by the key, in one allocation.
    scope_key: Box<str>,
    scope_len: usize,
    epoch: FencingToken,
    recovery: Option<RecoveryPoint>,
}

impl Attempt {
    pub(crate) fn new(
        scope: &str,
        key: &str,
        epoch: FencingToken,
        recovery: Option<RecoveryPoint>,
    ) -> Self {
        let mut scope_key = String::with_capacity(scope.len() + key.len());
        scope_key.push_str(scope);
        scope_key.push_str(key);
        Self {
            scope_key: scope_key.into_boxed_str(),
            scope_len: scope.len(),
            epoch,
            recovery,
        }
    }

    /// An attempt handle for `(scope, key)` at `epoch`, for a worker that persisted its attempt
    /// elsewhere (the store still checks the epoch on every call).
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_fencing::FencingToken;
    /// let a = quorate_idempotency::Attempt::resume("s", "k", FencingToken::new(3), None);
    /// assert_eq!(a.epoch(), FencingToken::new(3));
    /// ```
    #[must_use]
    pub fn resume(
        scope: &str,
        key: &str,
        epoch: FencingToken,
        recovery: Option<RecoveryPoint>,
    ) -> Self {
        Self::new(scope, key, epoch, recovery)
    }

    /// The scope.
    ///
    /// # Examples
    ///
    /// ```
    /// # use quorate_fencing::FencingToken;
    /// assert_eq!(quorate_idempotency::Attempt::resume("s", "k", FencingToken::new(1), None).scope(), "s");
    /// ```
    #[must_use]
    pub fn scope(&self) -> &str {
        self.scope_key.get(..self.scope_len).unwrap_or_default()
    }

    /// The key.
    ///
    /// # Examples
    ///
    /// ```
    /// # use quorate_fencing::FencingToken;
    /// assert_eq!(quorate_idempotency::Attempt::resume("s", "k", FencingToken::new(1), None).key(), "k");
    /// ```
    #[must_use]
    pub fn key(&self) -> &str {
        self.scope_key.get(self.scope_len..).unwrap_or_default()
    }

    /// The attempt epoch: a new record's first attempt gets the record's creation time in
    /// nanoseconds (wall clock; the database clock on PostgreSQL), each takeover or retry after
    /// a release one more. So epochs of one key only grow, even across a reaped record.
    ///
    /// # Examples
    ///
    /// ```
    /// # use quorate_fencing::FencingToken;
    /// let a = quorate_idempotency::Attempt::resume("s", "k", FencingToken::new(2), None);
    /// assert_eq!(a.epoch().get(), 2);
    /// ```
    #[must_use]
    pub fn epoch(&self) -> FencingToken {
        self.epoch
    }

    /// The last recovery point of an earlier attempt: resume after this phase.
    ///
    /// # Examples
    ///
    /// ```
    /// # use quorate_fencing::FencingToken;
    /// use quorate_idempotency::{Attempt, RecoveryPoint};
    /// let a = Attempt::resume("s", "k", FencingToken::new(2), Some(RecoveryPoint::new("p", "")));
    /// assert_eq!(a.recovery().map(RecoveryPoint::phase), Some("p"));
    /// ```
    #[must_use]
    pub fn recovery(&self) -> Option<&RecoveryPoint> {
        self.recovery.as_ref()
    }
}

/// The answer of [`IdempotencyStore::begin`](crate::IdempotencyStore::begin): exactly one of
/// four.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, MemoryStore};
///
/// # fn main() -> Result<(), quorate_idempotency::StoreError> {
/// let store = MemoryStore::new();
/// assert!(matches!(store.begin("", "k", &Fingerprint::of(b"a"))?, Begin::Execute(_)));
/// assert!(matches!(store.begin("", "k", &Fingerprint::of(b"a"))?, Begin::InProgress { .. }));
/// assert!(matches!(store.begin("", "k", &Fingerprint::of(b"b"))?, Begin::FingerprintMismatch));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[must_use]
pub enum Begin {
    /// Run the operation: the key is locked for this attempt until the lock ttl passes.
    Execute(Attempt),
    /// The key completed: answer with the stored response.
    Replay(Stored),
    /// Another attempt holds the key; nothing was recorded. Retry after the hint (the time left
    /// on that attempt's lock).
    InProgress {
        /// The time left on the current attempt's lock.
        retry_after: Duration,
    },
    /// The key was used with a different request; the stored record is untouched.
    FingerprintMismatch,
}

/// The state of a stored key, as [`IdempotencyStore::get`](crate::IdempotencyStore::get)
/// reports it.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::State;
/// assert_ne!(State::InProgress, State::Succeeded);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum State {
    /// An attempt holds the key (its lock may have expired).
    InProgress,
    /// Completed successfully; the response is stored.
    Succeeded,
    /// Released by a retryable failure; the next begin executes.
    FailedRetryable,
    /// Rejected for good; the response is stored.
    FailedFinal,
}

// The codes are the stored form; only the database backends read and write them.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
impl State {
    pub(crate) fn code(self) -> i64 {
        match self {
            Self::InProgress => 0,
            Self::Succeeded => 1,
            Self::FailedRetryable => 2,
            Self::FailedFinal => 3,
        }
    }

    pub(crate) fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::InProgress,
            1 => Self::Succeeded,
            2 => Self::FailedRetryable,
            3 => Self::FailedFinal,
            _ => return None,
        })
    }
}

/// A stored record, as [`IdempotencyStore::get`](crate::IdempotencyStore::get) reports it.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, MemoryStore, State};
///
/// # fn main() -> Result<(), quorate_idempotency::StoreError> {
/// let store = MemoryStore::new();
/// let _ = store.begin("", "k", &Fingerprint::of(b"a"))?;
/// let record = store.get("", "k")?.expect("stored");
/// assert_eq!(record.state, State::InProgress);
/// assert!(record.epoch.get() >= 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Record {
    /// The fingerprint of the request that owns the key.
    pub fingerprint: Fingerprint,
    /// The latest attempt epoch.
    pub epoch: FencingToken,
    /// The state.
    pub state: State,
    /// The stored response (terminal states only).
    pub response: Option<Bytes>,
    /// The last recovery point (in progress or released only).
    pub recovery: Option<RecoveryPoint>,
}

/// Lock ttl, retention and response-size limit, shared by every store.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use quorate_idempotency::StoreConfig;
///
/// # fn main() -> Result<(), quorate_idempotency::InvalidConfig> {
/// let config = StoreConfig::new(Duration::from_secs(30), Duration::from_secs(86_400), 1 << 20)?;
/// assert_eq!(config.lock_ttl(), Duration::from_secs(30));
/// assert!(StoreConfig::new(Duration::ZERO, Duration::from_secs(1), 1).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "RawStoreConfig"))]
#[non_exhaustive]
pub struct StoreConfig {
    lock_ttl: Duration,
    retention: Duration,
    max_response_bytes: usize,
}

/// The longest lock ttl or retention accepted: 100 years, so deadlines in nanoseconds never
/// overflow an `i64` column.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

impl StoreConfig {
    /// A validated configuration.
    ///
    /// - `lock_ttl`: how long an attempt holds its key before another may take it over (a
    ///   crashed worker's key is free again after this); checkpoints renew it.
    /// - `retention`: how long a record is kept (and replayed), counted from the begin that
    ///   created it (or took it over), as Stripe counts its 24 hours from a key's first use;
    ///   after it a key is treated as missing and the reaper may delete it. Completion does not
    ///   move it, so a completion never rewrites the expiry index.
    /// - `max_response_bytes`: the largest response (and recovery-point data) stored.
    ///
    /// # Errors
    ///
    /// [`InvalidConfig`] when a duration is zero or over 100 years, or the size limit is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = quorate_idempotency::StoreConfig::new(Duration::from_secs(5), Duration::from_secs(60), 1024);
    /// assert!(c.is_ok());
    /// ```
    pub fn new(
        lock_ttl: Duration,
        retention: Duration,
        max_response_bytes: usize,
    ) -> Result<Self, InvalidConfig> {
        if lock_ttl.is_zero() || lock_ttl > MAX_DURATION {
            return Err(InvalidConfig::LockTtl(lock_ttl));
        }
        if retention.is_zero() || retention > MAX_DURATION {
            return Err(InvalidConfig::Retention(retention));
        }
        if max_response_bytes == 0 {
            return Err(InvalidConfig::MaxResponseBytes);
        }
        Ok(Self {
            lock_ttl,
            retention,
            max_response_bytes,
        })
    }

    /// How long an attempt holds its key.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(quorate_idempotency::StoreConfig::default().lock_ttl(), Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn lock_ttl(&self) -> Duration {
        self.lock_ttl
    }

    /// How long terminal records are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(quorate_idempotency::StoreConfig::default().retention(), Duration::from_secs(86_400));
    /// ```
    #[must_use]
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// The largest response stored, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(quorate_idempotency::StoreConfig::default().max_response_bytes(), 1 << 20);
    /// ```
    #[must_use]
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// Refuses a stored payload (response or recovery data) over the size limit, before any
    /// backend writes it.
    pub(crate) fn check_size(&self, len: usize) -> Result<(), crate::StoreError> {
        let max = self.max_response_bytes;
        if len > max {
            return Err(crate::StoreError::ResponseTooLarge { len, max });
        }
        Ok(())
    }

    pub(crate) fn lock_ttl_nanos(&self) -> u64 {
        nanos(self.lock_ttl)
    }

    pub(crate) fn retention_nanos(&self) -> u64 {
        nanos(self.retention)
    }
}

/// The unvalidated form a deserialized [`StoreConfig`] passes through [`StoreConfig::new`].
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct RawStoreConfig {
    lock_ttl: Duration,
    retention: Duration,
    max_response_bytes: usize,
}

#[cfg(feature = "serde")]
impl TryFrom<RawStoreConfig> for StoreConfig {
    type Error = InvalidConfig;

    fn try_from(raw: RawStoreConfig) -> Result<Self, InvalidConfig> {
        Self::new(raw.lock_ttl, raw.retention, raw.max_response_bytes)
    }
}

impl Default for StoreConfig {
    /// Lock ttl 30 s, retention 24 h (Stripe's), responses up to 1 MiB.
    fn default() -> Self {
        Self {
            lock_ttl: Duration::from_secs(30),
            retention: Duration::from_secs(86_400),
            max_response_bytes: 1 << 20,
        }
    }
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
