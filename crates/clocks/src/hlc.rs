//! The hybrid logical clock (Kulkarni, Demirbas et al., 2014).

use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::time::Duration;

use crate::sync::{AtomicBool, AtomicU64, Ordering};
use crate::time::{MonotonicClock, SystemClock, WallClock};
use crate::timestamp::{LOGICAL_MASK, Timestamp};

/// The largest raw value the state reaches other than by counting: remote stamps above it are
/// rejected, restored values and wall-clock readings are capped at it. About 2^64 - 2^40 ns
/// (18 minutes before the end of the range in the year 2554). The 2^40 values above it are
/// headroom for the speculative `fetch_add` in `now`: once any thread sees the state past the
/// limit it sets `saturated` and every later stamp uses a checked compare-and-swap, so the
/// counter cannot wrap unless 2^40 `fetch_add`s race past that flag.
const FETCH_ADD_LIMIT: u64 = u64::MAX - (1 << 40);

/// Keeps the hot atomic alone on its cache line (128 bytes covers adjacent-line prefetch).
#[derive(Debug)]
#[repr(align(128))]
struct CachePadded<T>(T);

impl<T> core::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What a clock does with a remote stamp too far ahead of its wall clock.
///
/// ```
/// use quorate_clocks::{HlcConfig, OffsetPolicy};
/// let mut cfg = HlcConfig::default();
/// cfg.offset_policy = OffsetPolicy::AcceptAndCount;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OffsetPolicy {
    /// Return [`RecvError::RemoteTooFarAhead`] and leave the clock untouched.
    #[default]
    Reject,
    /// Accept the stamp (the local clock jumps ahead) and count it in
    /// [`HlcStats::offset_accepted`].
    AcceptAndCount,
}

/// What `recv` does when the logical counter is full.
///
/// ```
/// use quorate_clocks::{HlcConfig, OverflowPolicy};
/// let mut cfg = HlcConfig::default();
/// cfg.overflow_policy = OverflowPolicy::Error;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OverflowPolicy {
    /// Carry into the physical part (one tick, about 65.5 µs, ahead) and count it.
    #[default]
    Carry,
    /// Return an error and leave the clock untouched.
    Error,
}

/// Configuration of one [`HybridClock`].
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::{HlcConfig, HybridClock, ManualClock};
/// let mut cfg = HlcConfig::default();
/// cfg.max_offset = Duration::from_millis(250);
/// let clock = HybridClock::with_config(ManualClock::new(1 << 40), cfg)?;
/// # Ok::<(), quorate_clocks::HlcConfigError>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HlcConfig {
    /// How far ahead of the local wall clock a remote stamp may be (inclusive). Default
    /// 500 ms. Must be below 2^62 ns (about 146 years). Zero is a real limit (nothing ahead
    /// of the wall clock is accepted, as with uhlc's `delta` of 0), not CockroachDB's "0
    /// disables the check": to accept every offset use [`OffsetPolicy::AcceptAndCount`].
    pub max_offset: Duration,
    /// What to do with remote stamps beyond `max_offset`. Default: reject.
    pub offset_policy: OffsetPolicy,
    /// What `recv` does on counter overflow. Default: carry.
    pub overflow_policy: OverflowPolicy,
}

impl Default for HlcConfig {
    fn default() -> Self {
        Self {
            max_offset: Duration::from_millis(500),
            offset_policy: OffsetPolicy::Reject,
            overflow_policy: OverflowPolicy::Carry,
        }
    }
}

/// An invalid [`HlcConfig`] or jump-detection setting.
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::{HlcConfig, HlcConfigError, HybridClock, SystemClock};
/// let mut cfg = HlcConfig::default();
/// cfg.max_offset = Duration::MAX;
/// assert_eq!(HybridClock::with_config(SystemClock, cfg).err(), Some(HlcConfigError::MaxOffsetTooLarge));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HlcConfigError {
    /// `max_offset` is 2^62 ns or more.
    #[error("max offset too large")]
    MaxOffsetTooLarge,
    /// The jump threshold is zero or 2^62 ns or more.
    #[error("jump threshold must be positive and below 2^62 ns")]
    InvalidJumpThreshold,
}

/// Why `recv` or `observe` refused a remote timestamp. The clock is left untouched.
///
/// ```
/// use quorate_clocks::{HybridClock, ManualClock, RecvError, Timestamp};
/// let clock = HybridClock::new(ManualClock::new(1_000_000_000_000));
/// let far = Timestamp::from_parts(9_000_000_000_000, 0);
/// assert!(matches!(clock.recv(far), Err(RecvError::RemoteTooFarAhead { .. })));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The remote physical time is more than `max_offset` ahead of the local wall clock.
    #[error(
        "remote timestamp {remote} is more than {max_offset:?} ahead of local time {local_nanos}"
    )]
    RemoteTooFarAhead {
        /// The rejected remote stamp.
        remote: Timestamp,
        /// The local wall-clock reading, ns since the epoch.
        local_nanos: u64,
        /// The configured limit.
        max_offset: Duration,
    },
    /// The logical counter is full and the policy is [`OverflowPolicy::Error`].
    #[error("logical counter overflow")]
    CounterOverflow,
    /// The remote stamp is above the persisted upper bound; extend the bound first.
    #[error("remote timestamp {remote} is above the persisted upper bound {bound}")]
    AboveUpperBound {
        /// The rejected remote stamp.
        remote: Timestamp,
        /// The current bound.
        bound: Timestamp,
    },
}

/// Why [`HybridClock::try_now`] issued no stamp. The clock is left untouched.
///
/// ```
/// use quorate_clocks::{HybridClock, ManualClock, NowError, Timestamp};
/// let clock = HybridClock::new(ManualClock::new(0));
/// clock.restore(Timestamp::from_parts(0, u16::MAX));
/// assert_eq!(clock.try_now(), Err(NowError::CounterOverflow));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NowError {
    /// The logical counter is full within the current tick.
    #[error("logical counter overflow")]
    CounterOverflow,
    /// The next stamp would pass the persisted upper bound.
    #[error("persisted upper bound reached")]
    UpperBoundReached,
}

/// Counters of unusual events seen by one [`HybridClock`].
///
/// ```
/// let stats = quorate_clocks::HybridClock::new(quorate_clocks::SystemClock).stats();
/// assert_eq!(stats.carries, 0);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HlcStats {
    /// Counter overflows carried into the physical part.
    pub carries: u64,
    /// Remote stamps rejected for being too far ahead.
    pub offset_rejected: u64,
    /// Remote stamps beyond the limit that were accepted ([`OffsetPolicy::AcceptAndCount`]).
    pub offset_accepted: u64,
    /// Forward wall-clock jumps detected (needs [`HybridClock::with_jump_detection`]).
    pub forward_jumps: u64,
    /// Backward wall-clock jumps detected (needs [`HybridClock::with_jump_detection`]).
    pub backward_jumps: u64,
    /// Stamps `now` or `recv` issued above the persisted upper bound (extend the bound
    /// earlier).
    pub bound_overruns: u64,
}

#[derive(Debug, Default)]
struct Counters {
    carries: StdAtomicU64,
    offset_rejected: StdAtomicU64,
    offset_accepted: StdAtomicU64,
    forward_jumps: StdAtomicU64,
    backward_jumps: StdAtomicU64,
    bound_overruns: StdAtomicU64,
}

fn bump(c: &StdAtomicU64) {
    c.fetch_add(1, StdOrdering::Relaxed);
}

struct JumpDetector {
    mono: Box<dyn MonotonicClock>,
    threshold: u64,
    /// `(wall, mono)` at the last check; `None` before the first.
    last: std::sync::Mutex<Option<(u64, u64)>>,
}

impl core::fmt::Debug for JumpDetector {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JumpDetector")
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

/// A lock-free hybrid logical clock.
///
/// Share one per process (or per node) behind an `Arc` or a `static`; every method takes
/// `&self`. Stamp local events and outgoing messages with [`now`](Self::now); on receiving a
/// message call [`recv`](Self::recv) (the paper's rule: returns a stamp for the receive event,
/// greater than the message's) or [`observe`](Self::observe) (just make later stamps greater
/// than the message's; a single atomic load when the message is not ahead). The design and
/// the policies are described below.
///
/// A hybrid logical clock issues [`Timestamp`]s that (1) respect causality like a Lamport clock
/// (a stamp issued after receiving a message is greater than the message's stamp) and (2) stay
/// close to physical time: the physical part is the maximum wall-clock reading seen by any
/// node in the causal past, and never runs ahead of it by more than the peers' clock offset.
///
/// # Design
///
/// The whole state is one `AtomicU64`, alone on its cache line, holding the last issued (or
/// observed) timestamp. Issuing a stamp is `max(wall_tick, last + 1)`. `now` speculates that
/// the wall clock is still within the state's tick (true for all but one stamp per 65.5 µs
/// under load) and takes `last + 1` with a single `fetch_add`: no read-then-write, no retry
/// loop, so under contention each stamp costs one cache-line transfer rather than a storm of
/// failed compare-and-swaps. When the wall clock has moved past the state, one
/// compare-and-swap installs the new tick with counter 0 (the speculatively taken value is
/// skipped; stamps need not be dense). The receive rule of the paper, `l' = max(l, l_m, pt)`
/// with the counter rules, is exactly `max(wall_tick, max(last, remote) + 1)` on the packed word.
///
/// The node id is not in the word: it never changes, so it joins the timestamp only when a
/// cross-node total order is needed ([`NodeTimestamp`](crate::NodeTimestamp)).
///
/// # Policies
///
/// - **Maximum offset, per clock**: a remote stamp whose physical part is more than
///   `max_offset` ahead of the local wall clock is a sign of a broken clock somewhere. With
///   [`OffsetPolicy::Reject`] (the default) `recv`/`observe` return
///   [`RecvError::RemoteTooFarAhead`] and leave the state untouched; with
///   [`OffsetPolicy::AcceptAndCount`] they accept it and count it in [`HlcStats`]. The limit is
///   inclusive (exactly `max_offset` ahead is accepted) and only the future side is checked.
/// - **Counter overflow**: after 65,535 stamps within one 65.5 µs tick the counter is full.
///   [`HybridClock::now`] carries into the physical part (the clock runs one tick ahead of the
///   wall, counted in [`HlcStats::carries`]); it cannot happen faster than one tick per 65,536
///   stamps, which is far more than one atomic can issue in a tick. [`HybridClock::try_now`]
///   and, with [`OverflowPolicy::Error`], `recv`, return an error instead. Nothing ever wraps
///   or panics.
/// - **Clock jumps**: with [`HybridClock::with_jump_detection`], every time the wall clock
///   overtakes the state (at most once per tick under load) or falls behind it by more than the
///   threshold, its progress is compared with a monotonic clock; disagreements larger than the
///   threshold count as forward or backward jumps in [`HlcStats`]. Stamps stay monotonic
///   through backward jumps either way (the state simply runs ahead until the wall catches up).
/// - **Restart safety**: a restarted process has lost its state; if its wall clock was stepped
///   back meanwhile it could issue stamps below ones it issued before. Persist an upper bound
///   ([`HybridClock::upper_bound_for`], then [`HybridClock::extend_upper_bound`] once it is
///   durable) and call [`HybridClock::restore`] with it after a restart. The clock never lets
///   its physical part pass the persisted bound on its own (the wall reading is capped).
///
/// ```
/// use quorate_clocks::{HybridClock, ManualClock};
/// # fn main() -> Result<(), quorate_clocks::RecvError> {
/// let wall = ManualClock::new(1_700_000_000_000_000_000);
/// let clock = HybridClock::new(wall.clone());
/// let a = clock.now();
/// let b = clock.now(); // same tick: the logical counter orders them
/// assert!(b > a && b.physical_nanos() == a.physical_nanos());
/// let remote = clock.now();
/// let c = clock.recv(remote)?;
/// assert!(c > remote);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct HybridClock<W = SystemClock> {
    /// Raw value of the last issued or observed stamp; 0 before the first. Alone on its cache
    /// line: it is the only field written on the hot path.
    state: CachePadded<AtomicU64>,
    /// Set once the state has reached [`FETCH_ADD_LIMIT`]; from then on `now` uses checked
    /// compare-and-swap instead of `fetch_add`. Read-mostly.
    saturated: AtomicBool,
    /// Raw upper bound (see restart safety); `u64::MAX` when none.
    bound: AtomicU64,
    max_offset: u64,
    config: HlcConfig,
    wall: W,
    counters: Counters,
    jumps: Option<JumpDetector>,
}

impl<W: WallClock> HybridClock<W> {
    /// A clock reading `wall`, with the default [`HlcConfig`] (500 ms maximum offset,
    /// rejecting, carrying).
    ///
    /// ```
    /// let clock = quorate_clocks::HybridClock::new(quorate_clocks::SystemClock);
    /// assert!(clock.now() < clock.now());
    /// ```
    pub fn new(wall: W) -> Self {
        Self::build(wall, HlcConfig::default())
    }

    /// A clock with a custom configuration.
    ///
    /// ```
    /// use quorate_clocks::{HlcConfig, HybridClock, SystemClock};
    /// let clock = HybridClock::with_config(SystemClock, HlcConfig::default())?;
    /// # Ok::<(), quorate_clocks::HlcConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`HlcConfigError::MaxOffsetTooLarge`] when `max_offset` is 2^62 ns or more.
    pub fn with_config(wall: W, config: HlcConfig) -> Result<Self, HlcConfigError> {
        if config.max_offset.as_nanos() >= 1 << 62 {
            return Err(HlcConfigError::MaxOffsetTooLarge);
        }
        Ok(Self::build(wall, config))
    }

    fn build(wall: W, config: HlcConfig) -> Self {
        Self {
            state: CachePadded(AtomicU64::new(0)),
            saturated: AtomicBool::new(false),
            bound: AtomicU64::new(u64::MAX),
            max_offset: u64::try_from(config.max_offset.as_nanos()).unwrap_or(u64::MAX),
            config,
            wall,
            counters: Counters::default(),
            jumps: None,
        }
    }

    /// Enables clock-jump detection against the monotonic clock `mono`: wall-clock progress
    /// that differs from monotonic progress by more than `threshold` counts as a jump.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{HybridClock, ManualClock};
    /// let machine = ManualClock::new(1 << 40);
    /// let clock = HybridClock::new(machine.clone())
    ///     .with_jump_detection(machine.clone(), Duration::from_millis(100))?;
    /// clock.now();
    /// machine.set((1 << 40) + 10_000_000_000); // someone steps the wall clock 10 s ahead
    /// clock.now();
    /// assert_eq!(clock.stats().forward_jumps, 1);
    /// # Ok::<(), quorate_clocks::HlcConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`HlcConfigError::InvalidJumpThreshold`] when `threshold` is zero or 2^62 ns or more.
    pub fn with_jump_detection(
        mut self,
        mono: impl MonotonicClock + 'static,
        threshold: Duration,
    ) -> Result<Self, HlcConfigError> {
        let t = threshold.as_nanos();
        if t == 0 || t >= 1 << 62 {
            return Err(HlcConfigError::InvalidJumpThreshold);
        }
        self.jumps = Some(JumpDetector {
            mono: Box::new(mono),
            threshold: t as u64,
            last: std::sync::Mutex::new(None),
        });
        Ok(self)
    }

    /// The configuration.
    ///
    /// ```
    /// let clock = quorate_clocks::HybridClock::new(quorate_clocks::SystemClock);
    /// assert_eq!(clock.config().max_offset.as_millis(), 500);
    /// ```
    pub fn config(&self) -> &HlcConfig {
        &self.config
    }

    /// The wall clock this clock reads.
    ///
    /// ```
    /// use quorate_clocks::{HybridClock, ManualClock, WallClock};
    /// let clock = HybridClock::new(ManualClock::new(5));
    /// assert_eq!(clock.wall_clock().now_unix_nanos(), 5);
    /// ```
    pub fn wall_clock(&self) -> &W {
        &self.wall
    }

    /// Issues a new timestamp, greater than every stamp this clock issued or observed before.
    ///
    /// Lock-free: one wall-clock read plus one `fetch_add`, and on the first stamp of a new
    /// tick one compare-and-swap. On counter overflow it carries into the physical part and counts it in
    /// [`HlcStats::carries`]; use [`try_now`](Self::try_now) to get an error instead.
    ///
    /// ```
    /// use quorate_clocks::{HybridClock, ManualClock};
    /// let clock = HybridClock::new(ManualClock::new(1 << 30));
    /// let a = clock.now();
    /// assert_eq!((a.physical_nanos(), a.logical()), (1 << 30, 0));
    /// assert_eq!(clock.now().logical(), 1);
    /// ```
    #[inline]
    pub fn now(&self) -> Timestamp {
        let wall = self.wall.now_unix_nanos();
        let bound = self.bound.load(Ordering::Relaxed);
        let pt = wall.min(bound).min(FETCH_ADD_LIMIT) & !LOGICAL_MASK;
        if !self.saturated.load(Ordering::Relaxed) {
            // Speculate that the wall clock is still within the state's tick (true for all but
            // one stamp per 65.5 µs under load): one `fetch_add` takes the next counter value
            // and the cache line is acquired once, not read and then written.
            let prev = self.state.fetch_add(1, Ordering::AcqRel);
            if prev >= FETCH_ADD_LIMIT {
                self.saturate();
            }
            let next = prev.wrapping_add(1);
            if next > pt {
                return self.issued(next, pt, wall, bound);
            }
            // The wall clock has moved past the state: install the new tick, unless another
            // thread moved the state meanwhile (then `next` is simply skipped).
            if self
                .state
                .compare_exchange(next, pt, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.check_jump(wall);
                return Timestamp::from_u64(pt);
            }
        }
        self.now_slow(wall, pt, bound)
    }

    /// Bookkeeping for a stamp taken from the counter.
    #[inline]
    fn issued(&self, next: u64, pt: u64, wall: u64, bound: u64) -> Timestamp {
        if next & LOGICAL_MASK == 0 {
            bump(&self.counters.carries);
        }
        if next > bound {
            bump(&self.counters.bound_overruns);
        }
        if next - pt > self.backward_threshold() {
            self.check_jump(wall);
        }
        Timestamp::from_u64(next)
    }

    #[cold]
    fn saturate(&self) {
        self.saturated.store(true, Ordering::Release);
    }

    /// The compare-and-swap loop: after a lost race in `now`, or near the end of the range.
    #[cold]
    fn now_slow(&self, wall: u64, pt: u64, bound: u64) -> Timestamp {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let next = if pt > cur {
                pt
            } else {
                // Saturates at `u64::MAX` (year 2554; unreachable while the limit holds).
                cur.saturating_add(1)
            };
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == pt => {
                    self.check_jump(wall);
                    return Timestamp::from_u64(pt);
                }
                Ok(_) => {
                    if next >= FETCH_ADD_LIMIT {
                        self.saturate();
                    }
                    return self.issued(next, pt, wall, bound);
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Like [`now`](Self::now), but returns an error instead of carrying into the physical
    /// part or passing the persisted upper bound.
    ///
    /// ```
    /// use quorate_clocks::{HybridClock, ManualClock};
    /// let clock = HybridClock::new(ManualClock::new(1 << 30));
    /// assert!(clock.try_now()? < clock.try_now()?);
    /// # Ok::<(), quorate_clocks::NowError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`NowError::CounterOverflow`] when the counter of the current tick is full;
    /// [`NowError::UpperBoundReached`] when the next stamp would pass the upper bound.
    pub fn try_now(&self) -> Result<Timestamp, NowError> {
        let wall = self.wall.now_unix_nanos();
        let bound = self.bound.load(Ordering::Relaxed);
        let pt = wall.min(bound).min(FETCH_ADD_LIMIT) & !LOGICAL_MASK;
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let next = if pt > cur {
                pt
            } else if cur >= bound {
                return Err(NowError::UpperBoundReached);
            } else if cur & LOGICAL_MASK == LOGICAL_MASK {
                return Err(NowError::CounterOverflow);
            } else {
                cur.checked_add(1).ok_or(NowError::CounterOverflow)?
            };
            if next > bound {
                return Err(NowError::UpperBoundReached);
            }
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if next == pt {
                        self.check_jump(wall);
                    }
                    return Ok(Timestamp::from_u64(next));
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Receives a remote timestamp and issues the stamp of the receive event (the paper's
    /// rule): greater than `remote`, than every stamp issued before, and at least the local
    /// wall-clock tick.
    ///
    /// ```
    /// use quorate_clocks::{HybridClock, ManualClock, Timestamp};
    /// let clock = HybridClock::new(ManualClock::new(1 << 30));
    /// let remote = Timestamp::from_parts((1 << 30) + (5 << 16), 7); // a bit ahead of us
    /// let t = clock.recv(remote)?;
    /// assert_eq!((t.physical_nanos(), t.logical()), (remote.physical_nanos(), 8));
    /// # Ok::<(), quorate_clocks::RecvError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecvError::RemoteTooFarAhead`] when `remote` is more than `max_offset` ahead and the
    /// policy rejects (or, under any policy, lies in the reserved last 2^40 ns of the range); [`RecvError::CounterOverflow`] on overflow with
    /// [`OverflowPolicy::Error`]; [`RecvError::AboveUpperBound`] when `remote` is above the
    /// persisted upper bound. In every error case the clock is unchanged.
    pub fn recv(&self, remote: Timestamp) -> Result<Timestamp, RecvError> {
        let wall = self.wall.now_unix_nanos();
        self.check_remote(remote, wall)?;
        let bound = self.bound.load(Ordering::Relaxed);
        let pt = wall.min(bound).min(FETCH_ADD_LIMIT) & !LOGICAL_MASK;
        let r = remote.as_u64();
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let base = cur.max(r);
            let next = if pt > base {
                pt
            } else if base & LOGICAL_MASK == LOGICAL_MASK
                && self.config.overflow_policy == OverflowPolicy::Error
            {
                return Err(RecvError::CounterOverflow);
            } else {
                base.saturating_add(1)
            };
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if next & LOGICAL_MASK == 0 && next != pt {
                        bump(&self.counters.carries);
                    }
                    if next > bound {
                        bump(&self.counters.bound_overruns);
                    }
                    if next == pt || cur.wrapping_sub(pt) > self.backward_threshold() {
                        self.check_jump(wall);
                    }
                    return Ok(Timestamp::from_u64(next));
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Makes every later stamp greater than `remote`, without issuing a stamp.
    ///
    /// Use it when a message's timestamp must be respected but the receive itself needs no
    /// stamp (the "update" of other HLC libraries). When `remote` is not ahead of the clock
    /// this is a single atomic load: no wall-clock read, no CAS.
    ///
    /// ```
    /// use quorate_clocks::{HybridClock, ManualClock, Timestamp};
    /// let clock = HybridClock::new(ManualClock::new(1 << 30));
    /// let remote = Timestamp::from_parts((1 << 30) + (9 << 16), 3);
    /// clock.observe(remote)?;
    /// assert!(clock.now() > remote);
    /// # Ok::<(), quorate_clocks::RecvError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), except that it never overflows the counter (it issues no
    /// stamp), and that the checks run only when `remote` is ahead of the clock's state: a
    /// remote stamp at or below the last stamp issued or observed changes nothing and is
    /// accepted without reading the wall clock (so, unlike CockroachDB's
    /// `UpdateAndCheckMaxOffset`, it is not reported even when the state itself runs more
    /// than `max_offset` ahead of the wall, for example after a backward step). The clock is
    /// unchanged on error.
    #[inline]
    pub fn observe(&self, remote: Timestamp) -> Result<(), RecvError> {
        if remote.as_u64() <= self.state.load(Ordering::Acquire) {
            return Ok(());
        }
        self.observe_slow(remote)
    }

    #[cold]
    fn observe_slow(&self, remote: Timestamp) -> Result<(), RecvError> {
        let wall = self.wall.now_unix_nanos();
        self.check_remote(remote, wall)?;
        self.state.fetch_max(remote.as_u64(), Ordering::AcqRel);
        Ok(())
    }

    fn check_remote(&self, remote: Timestamp, wall: u64) -> Result<(), RecvError> {
        if remote.as_u64() > FETCH_ADD_LIMIT {
            // The last 2^40 ns of the range are headroom, never accepted from outside.
            bump(&self.counters.offset_rejected);
            return Err(RecvError::RemoteTooFarAhead {
                remote,
                local_nanos: wall,
                max_offset: self.config.max_offset,
            });
        }
        let too_far = remote.physical_nanos().saturating_sub(wall) > self.max_offset;
        if too_far && self.config.offset_policy == OffsetPolicy::Reject {
            bump(&self.counters.offset_rejected);
            return Err(RecvError::RemoteTooFarAhead {
                remote,
                local_nanos: wall,
                max_offset: self.config.max_offset,
            });
        }
        let bound = self.bound.load(Ordering::Relaxed);
        if remote.as_u64() > bound {
            return Err(RecvError::AboveUpperBound {
                remote,
                bound: Timestamp::from_u64(bound),
            });
        }
        if too_far {
            // Counted only once the stamp is known to be accepted.
            bump(&self.counters.offset_accepted);
        }
        Ok(())
    }

    #[inline]
    fn backward_threshold(&self) -> u64 {
        match &self.jumps {
            Some(j) => j.threshold,
            None => u64::MAX,
        }
    }

    #[cold]
    fn check_jump(&self, wall: u64) {
        let Some(det) = &self.jumps else { return };
        let mono = det.mono.now_nanos();
        let Ok(mut last) = det.last.try_lock() else {
            return;
        };
        if let Some((w0, m0)) = *last {
            let dw = i128::from(wall) - i128::from(w0);
            let dm = i128::from(mono) - i128::from(m0);
            let t = i128::from(det.threshold);
            if dw - dm > t {
                bump(&self.counters.forward_jumps);
            } else if dm - dw > t {
                bump(&self.counters.backward_jumps);
            }
        }
        *last = Some((wall, mono));
    }

    /// The last stamp issued or observed, without issuing one; `None` before the first.
    ///
    /// ```
    /// use quorate_clocks::{HybridClock, ManualClock};
    /// let clock = HybridClock::new(ManualClock::new(1 << 30));
    /// assert_eq!(clock.last(), None);
    /// let t = clock.now();
    /// assert_eq!(clock.last(), Some(t));
    /// ```
    pub fn last(&self) -> Option<Timestamp> {
        Timestamp::try_from_u64(self.state.load(Ordering::Acquire))
    }

    /// Counters of carries, offset violations, clock jumps and bound overruns.
    ///
    /// ```
    /// use quorate_clocks::{HlcConfig, HybridClock, ManualClock, OffsetPolicy, Timestamp};
    /// let mut cfg = HlcConfig::default();
    /// cfg.offset_policy = OffsetPolicy::AcceptAndCount;
    /// let clock = HybridClock::with_config(ManualClock::new(1 << 30), cfg)?;
    /// clock.observe(Timestamp::from_parts(1 << 50, 0)).unwrap();
    /// assert_eq!(clock.stats().offset_accepted, 1);
    /// # Ok::<(), quorate_clocks::HlcConfigError>(())
    /// ```
    pub fn stats(&self) -> HlcStats {
        let c = &self.counters;
        let get = |a: &StdAtomicU64| a.load(StdOrdering::Relaxed);
        HlcStats {
            carries: get(&c.carries),
            offset_rejected: get(&c.offset_rejected),
            offset_accepted: get(&c.offset_accepted),
            forward_jumps: get(&c.forward_jumps),
            backward_jumps: get(&c.backward_jumps),
            bound_overruns: get(&c.bound_overruns),
        }
    }

    /// After a restart: raises the clock to at least `persisted` (the upper bound persisted
    /// before the restart, or any stamp known to have been issued), so no later stamp is at or
    /// below it. Never lowers the clock. Values in the last 2^40 ns of the range (the year
    /// 2554) are capped.
    ///
    /// ```
    /// use quorate_clocks::{HybridClock, ManualClock, Timestamp};
    /// // Before the crash the node persisted this bound ...
    /// let persisted = Timestamp::from_parts(5 << 30, u16::MAX);
    /// // ... and restarts with its wall clock stepped back.
    /// let clock = HybridClock::new(ManualClock::new(1 << 30));
    /// clock.restore(persisted);
    /// assert!(clock.now() > persisted);
    /// ```
    pub fn restore(&self, persisted: Timestamp) {
        self.state
            .fetch_max(persisted.as_u64().min(FETCH_ADD_LIMIT), Ordering::AcqRel);
    }

    /// A candidate upper bound to persist: `window` beyond the later of the clock's state and
    /// the wall clock, with a full counter. Persist it durably, then pass it to
    /// [`extend_upper_bound`](Self::extend_upper_bound).
    ///
    /// Persist a new bound well before the wall clock reaches the current one (for example
    /// every `window / 2`): past the bound the clock stops following the wall clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{HybridClock, ManualClock};
    /// let clock = HybridClock::new(ManualClock::new(1 << 30));
    /// let bound = clock.upper_bound_for(Duration::from_secs(10));
    /// // write `bound.to_be_bytes()` to disk and fsync, then:
    /// clock.extend_upper_bound(bound);
    /// assert_eq!(clock.upper_bound(), Some(bound));
    /// assert!(clock.now() < bound);
    /// ```
    pub fn upper_bound_for(&self, window: Duration) -> Timestamp {
        let wall = self.wall.now_unix_nanos();
        let cur = self.state.load(Ordering::Acquire);
        let w = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        let base = cur.max(wall).saturating_add(w);
        Timestamp::from_u64(base | LOGICAL_MASK)
    }

    /// Raises the upper bound to `persisted` (never lowers it). Call only once `persisted` is
    /// durable.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{HybridClock, ManualClock};
    /// let clock = HybridClock::new(ManualClock::new(1 << 30));
    /// let b = clock.upper_bound_for(Duration::from_secs(1));
    /// clock.extend_upper_bound(b);
    /// assert_eq!(clock.upper_bound(), Some(b));
    /// ```
    pub fn extend_upper_bound(&self, persisted: Timestamp) {
        let p = persisted.as_u64();
        let mut cur = self.bound.load(Ordering::Acquire);
        loop {
            // `u64::MAX` means "no bound yet": the first bound always installs.
            if cur != u64::MAX && p <= cur {
                return;
            }
            match self
                .bound
                .compare_exchange_weak(cur, p, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The current persisted upper bound, if one was set.
    ///
    /// ```
    /// let clock = quorate_clocks::HybridClock::new(quorate_clocks::SystemClock);
    /// assert_eq!(clock.upper_bound(), None);
    /// ```
    pub fn upper_bound(&self) -> Option<Timestamp> {
        match self.bound.load(Ordering::Acquire) {
            u64::MAX => None,
            b => Timestamp::try_from_u64(b),
        }
    }
}
