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

/// `jump_window` while the forward-jump monitor is off: above any distance between two
/// real wall readings (which stay below 2^62 ns, the year 2116), so only backward jumps
/// (which wrap around to the top of the range) reach the cold path.
const JUMP_WINDOW_OFF: u64 = 1 << 63;

/// Keeps the hot atomics alone on their cache line (128 bytes covers adjacent-line prefetch).
#[derive(Debug)]
#[repr(align(128))]
struct CachePadded<T>(T);

/// The words written on the hot path, on one cache line: the line is taken exclusively by
/// the `fetch_add` anyway, so recording the wall reading beside it costs a plain store.
#[derive(Debug)]
struct Hot {
    /// Raw value of the last issued or observed stamp; 0 before the first.
    state: AtomicU64,
    /// The last wall-clock reading (CockroachDB's `lastPhysicalTime`); 0 before the first.
    last_wall: AtomicU64,
}

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
    /// It also sets the clock-jump tolerances, as in CockroachDB: a wall reading more than
    /// `max_offset / 10` below the previous one is a backward jump, one `max_offset / 2` or
    /// more above it a forward jump (see [`HybridClock`]).
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
    /// The forward-jump monitor needs `max_offset / 2` of at least 1 ns (CockroachDB would
    /// treat every reading as a fatal jump).
    #[error("forward-jump monitor needs a max offset of at least 2 ns")]
    ForwardJumpToleranceZero,
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
    /// With the forward-jump monitor on ([`HybridClock::set_forward_jump_check`]), the wall
    /// clock moved forward by `max_offset / 2` or more since the previous reading
    /// (CockroachDB's check, which it treats as fatal). Reported once: the reading is
    /// recorded, so the next call issues a stamp unless the clock jumps again.
    #[error("wall clock jumped forward by {jump:?}, tolerated {tolerated:?}")]
    ForwardClockJump {
        /// How far the wall clock moved since the previous reading.
        jump: Duration,
        /// `max_offset / 2`.
        tolerated: Duration,
    },
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
    /// Backward wall-clock jumps: readings more than `max_offset / 10` below the previous
    /// reading (CockroachDB's monotonicity check, `monotonicityErrorsCount`). Always on.
    pub backward_jumps: u64,
    /// Forward wall-clock jumps: readings `max_offset / 2` or more above the previous reading,
    /// counted while the forward-jump monitor is on
    /// ([`HybridClock::set_forward_jump_check`]).
    pub forward_jumps: u64,
    /// Forward jumps found by comparing wall-clock progress with a monotonic clock (needs
    /// [`HybridClock::with_jump_detection`]).
    pub mono_forward_jumps: u64,
    /// Backward jumps found by comparing wall-clock progress with a monotonic clock (needs
    /// [`HybridClock::with_jump_detection`]).
    pub mono_backward_jumps: u64,
    /// Stamps issued above the persisted upper bound, or capped at it because the wall clock
    /// had passed it (extend the bound earlier). CockroachDB treats both as fatal.
    pub bound_overruns: u64,
}

#[derive(Debug, Default)]
struct Counters {
    carries: StdAtomicU64,
    offset_rejected: StdAtomicU64,
    offset_accepted: StdAtomicU64,
    backward_jumps: StdAtomicU64,
    forward_jumps: StdAtomicU64,
    mono_forward_jumps: StdAtomicU64,
    mono_backward_jumps: StdAtomicU64,
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
/// - **Clock jumps** (CockroachDB's checks, `TestHLCMonotonicityCheck` and
///   `TestHLCPhysicalClockJump`): every wall reading (by `now`, `try_now`, `recv`, `observe`
///   when the remote stamp is ahead, or [`HybridClock::check_wall_clock`]) is compared with
///   the previous reading. One more than `max_offset / 10` below it counts in
///   [`HlcStats::backward_jumps`]; no monotonic clock is needed and the check is always on.
///   The forward-jump monitor is opt-in ([`HybridClock::set_forward_jump_check`]): a reading
///   `max_offset / 2` or more above the previous one counts in [`HlcStats::forward_jumps`]
///   and makes [`HybridClock::try_now`] return [`NowError::ForwardClockJump`] (CockroachDB
///   exits the process; here the caller decides). While it is on, call
///   [`HybridClock::check_wall_clock`] at least every `max_offset / 4` when idle, as
///   CockroachDB's monitor does. Stamps stay monotonic through backward jumps either way (the
///   state simply runs ahead until the wall catches up). Under thread races a reading may be
///   compared with a slightly later one another thread recorded; a suspected backward jump is
///   confirmed with a second reading before it counts.
/// - **Monotonic cross-check** (optional): with [`HybridClock::with_jump_detection`], every
///   time the wall clock overtakes the state (at most once per tick under load) or falls
///   behind it by more than the threshold, its progress is compared with a monotonic clock;
///   disagreements larger than the threshold count in [`HlcStats::mono_forward_jumps`] and
///   [`HlcStats::mono_backward_jumps`]. This also catches steps that happen while the clock
///   is idle.
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
    /// The stamp state and the last wall reading, alone on their cache line: the only fields
    /// written on the hot path.
    hot: CachePadded<Hot>,
    /// Set once the state has reached [`FETCH_ADD_LIMIT`]; from then on `now` uses checked
    /// compare-and-swap instead of `fetch_add`. Read-mostly.
    saturated: AtomicBool,
    /// Raw upper bound (see restart safety); `u64::MAX` when none.
    bound: AtomicU64,
    max_offset: u64,
    /// `max_offset / 10`: a reading further below the previous one is a backward jump.
    backward_tolerance: u64,
    /// `max_offset / 2`: a reading this far or further above the previous one is a forward
    /// jump while the monitor is on.
    forward_tolerance: u64,
    /// `backward_tolerance + forward_tolerance` while the forward-jump monitor is on,
    /// [`JUMP_WINDOW_OFF`] otherwise; read-mostly. `wall - last + backward_tolerance`
    /// (wrapping) at or above it sends a reading to the cold jump check.
    jump_window: AtomicU64,
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
        let max_offset = u64::try_from(config.max_offset.as_nanos()).unwrap_or(u64::MAX);
        Self {
            hot: CachePadded(Hot {
                state: AtomicU64::new(0),
                last_wall: AtomicU64::new(0),
            }),
            saturated: AtomicBool::new(false),
            bound: AtomicU64::new(u64::MAX),
            max_offset,
            backward_tolerance: max_offset / 10,
            forward_tolerance: max_offset / 2,
            jump_window: AtomicU64::new(JUMP_WINDOW_OFF),
            config,
            wall,
            counters: Counters::default(),
            jumps: None,
        }
    }

    /// Enables clock-jump detection against the monotonic clock `mono`: wall-clock progress
    /// that differs from monotonic progress by more than `threshold` counts as a jump, in
    /// [`HlcStats::mono_forward_jumps`] / [`HlcStats::mono_backward_jumps`] (independently of
    /// CockroachDB's reading-to-reading checks, which are always on).
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
    /// assert_eq!(clock.stats().mono_forward_jumps, 1);
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
    /// [`HlcStats::carries`]; use [`try_now`](Self::try_now) to get an error instead. Every
    /// reading goes through the clock-jump checks (see the type docs); jumps are counted,
    /// never fatal here.
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
            let prev = self.hot.state.fetch_add(1, Ordering::AcqRel);
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
                .hot
                .state
                .compare_exchange(next, pt, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return self.installed(pt, wall, bound);
            }
        }
        self.now_slow(wall, pt, bound)
    }

    /// Bookkeeping for a stamp taken from the counter.
    #[inline]
    fn issued(&self, next: u64, pt: u64, wall: u64, bound: u64) -> Timestamp {
        let _ = self.note_wall(wall);
        if next & LOGICAL_MASK == 0 {
            bump(&self.counters.carries);
        }
        if next.max(wall) > bound {
            bump(&self.counters.bound_overruns);
        }
        if next - pt > self.backward_threshold() {
            self.check_jump(wall);
        }
        Timestamp::from_u64(next)
    }

    /// Bookkeeping for a stamp that installed the wall clock's tick.
    #[inline]
    fn installed(&self, pt: u64, wall: u64, bound: u64) -> Timestamp {
        let _ = self.note_wall(wall);
        if wall > bound {
            bump(&self.counters.bound_overruns);
        }
        self.check_jump(wall);
        Timestamp::from_u64(pt)
    }

    #[cold]
    fn saturate(&self) {
        self.saturated.store(true, Ordering::Release);
    }

    /// The compare-and-swap loop: after a lost race in `now`, or near the end of the range.
    #[cold]
    fn now_slow(&self, wall: u64, pt: u64, bound: u64) -> Timestamp {
        let mut cur = self.hot.state.load(Ordering::Acquire);
        loop {
            let next = if pt > cur {
                pt
            } else {
                // Saturates at `u64::MAX` (year 2554; unreachable while the limit holds).
                cur.saturating_add(1)
            };
            match self.hot.state.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if next == pt => return self.installed(pt, wall, bound),
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

    /// Records the wall reading `wall` and runs CockroachDB's jump checks against the
    /// previous reading; `Err(jump)` for a forward jump while the monitor is on.
    ///
    /// Hot path: one load and (when the reading changed) one plain store on the cache line the
    /// caller's atomic operation already owns, one load of a read-mostly word, one compare.
    #[inline]
    fn note_wall(&self, wall: u64) -> Result<(), u64> {
        let last = self.hot.last_wall.load(Ordering::Relaxed);
        if last != wall {
            self.hot.last_wall.store(wall, Ordering::Relaxed);
        }
        // One compare for both checks: more than `backward_tolerance` below `last` wraps to
        // the top of the range, `forward_tolerance` or more above it reaches the window.
        if wall
            .wrapping_sub(last)
            .wrapping_add(self.backward_tolerance)
            >= self.jump_window.load(Ordering::Relaxed)
        {
            return self.wall_jump(wall, last);
        }
        Ok(())
    }

    /// The exact checks, off the hot path.
    #[cold]
    fn wall_jump(&self, wall: u64, last: u64) -> Result<(), u64> {
        if last == 0 {
            // The first reading has nothing to compare with.
            return Ok(());
        }
        if last > wall {
            if last - wall > self.backward_tolerance {
                // `last` may be a later reading another thread recorded while this one was
                // delayed between reading its clock and getting here: read again. A genuine
                // backward step is still there; a stale reading is not, and the later one is
                // put back.
                let again = self.wall.now_unix_nanos();
                if last.saturating_sub(again) > self.backward_tolerance {
                    bump(&self.counters.backward_jumps);
                } else {
                    self.hot.last_wall.fetch_max(again, Ordering::Relaxed);
                }
            }
            return Ok(());
        }
        let jump = wall - last;
        if self.jump_window.load(Ordering::Relaxed) != JUMP_WINDOW_OFF
            && jump >= self.forward_tolerance
        {
            bump(&self.counters.forward_jumps);
            return Err(jump);
        }
        Ok(())
    }

    fn forward_jump_error(&self, jump: u64) -> NowError {
        NowError::ForwardClockJump {
            jump: Duration::from_nanos(jump),
            tolerated: Duration::from_nanos(self.forward_tolerance),
        }
    }

    /// Like [`now`](Self::now), but returns an error instead of carrying into the physical
    /// part or passing the persisted upper bound, and, with the forward-jump monitor on,
    /// instead of issuing a stamp after a forward jump of the wall clock.
    ///
    /// It runs the same clock-jump checks as `now` (a backward jump counts the same way
    /// whichever of the two reads the clock), and a stamp capped at the persisted upper bound
    /// because the wall clock passed it counts in [`HlcStats::bound_overruns`] as in `now`.
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
    /// [`NowError::UpperBoundReached`] when the next stamp would pass the upper bound;
    /// [`NowError::ForwardClockJump`] when the monitor is on and the wall clock moved forward
    /// by `max_offset / 2` or more since the previous reading. The stamp state is unchanged in
    /// every error case (the wall reading is recorded, so a jump is reported once).
    pub fn try_now(&self) -> Result<Timestamp, NowError> {
        let wall = self.wall.now_unix_nanos();
        self.note_wall(wall)
            .map_err(|jump| self.forward_jump_error(jump))?;
        let bound = self.bound.load(Ordering::Relaxed);
        let pt = wall.min(bound).min(FETCH_ADD_LIMIT) & !LOGICAL_MASK;
        let mut cur = self.hot.state.load(Ordering::Acquire);
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
            match self.hot.state.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if wall > bound {
                        bump(&self.counters.bound_overruns);
                    }
                    // The same monotonic-clock checks as `now`.
                    if next == pt || next - pt > self.backward_threshold() {
                        self.check_jump(wall);
                    }
                    return Ok(Timestamp::from_u64(next));
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Reads the wall clock and runs the clock-jump checks without issuing a stamp
    /// (CockroachDB's monitor tick). With the forward-jump monitor on, call it at least every
    /// `max_offset / 4` while the clock issues no stamps (CockroachDB's refresh interval), or
    /// an idle gap looks like a forward jump. Returns the reading.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{HybridClock, ManualClock};
    /// let wall = ManualClock::new(1 << 40);
    /// let clock = HybridClock::new(wall.clone()); // max offset 500 ms
    /// clock.set_forward_jump_check(true)?;
    /// for _ in 0..10 {
    ///     wall.advance(Duration::from_millis(100)); // idle, but ticking every 100 ms
    ///     clock.check_wall_clock()?;
    /// }
    /// assert!(clock.try_now().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`NowError::ForwardClockJump`] as [`try_now`](Self::try_now).
    pub fn check_wall_clock(&self) -> Result<u64, NowError> {
        let wall = self.wall.now_unix_nanos();
        self.note_wall(wall)
            .map_err(|jump| self.forward_jump_error(jump))?;
        Ok(wall)
    }

    /// Turns CockroachDB's forward-jump monitor on or off (off by default; backward jumps are
    /// always counted). While it is on, a wall reading `max_offset / 2` or more above the
    /// previous one counts in [`HlcStats::forward_jumps`] and makes
    /// [`try_now`](Self::try_now) and [`check_wall_clock`](Self::check_wall_clock) return
    /// [`NowError::ForwardClockJump`]; [`now`](Self::now), [`recv`](Self::recv) and
    /// [`observe`](Self::observe) only count it. Turning it on reads the clock first, so the
    /// time since the last reading does not count as a jump.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{HybridClock, ManualClock, NowError};
    /// let wall = ManualClock::new(1 << 40);
    /// let clock = HybridClock::new(wall.clone()); // max offset 500 ms
    /// clock.set_forward_jump_check(true)?;
    /// wall.advance(Duration::from_millis(250)); // max_offset / 2: intolerable
    /// assert!(matches!(clock.try_now(), Err(NowError::ForwardClockJump { .. })));
    /// assert_eq!(clock.stats().forward_jumps, 1);
    /// assert!(clock.try_now().is_ok()); // reported once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`HlcConfigError::ForwardJumpToleranceZero`] when turning it on with a `max_offset`
    /// below 2 ns (CockroachDB would report every reading as a jump).
    pub fn set_forward_jump_check(&self, enabled: bool) -> Result<(), HlcConfigError> {
        if !enabled {
            self.jump_window.store(JUMP_WINDOW_OFF, Ordering::Relaxed);
            return Ok(());
        }
        if self.forward_tolerance == 0 {
            return Err(HlcConfigError::ForwardJumpToleranceZero);
        }
        let was_on = self.jump_window.load(Ordering::Relaxed) != JUMP_WINDOW_OFF;
        if !was_on {
            // Record a reading before enforcing (the monitor is still off: it cannot fail).
            let _ = self.note_wall(self.wall.now_unix_nanos());
        }
        self.jump_window.store(
            self.forward_tolerance + self.backward_tolerance,
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Whether the forward-jump monitor is on.
    ///
    /// ```
    /// let clock = quorate_clocks::HybridClock::new(quorate_clocks::SystemClock);
    /// assert!(!clock.forward_jump_check());
    /// ```
    pub fn forward_jump_check(&self) -> bool {
        self.jump_window.load(Ordering::Relaxed) != JUMP_WINDOW_OFF
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
        // Jumps are counted, not fatal, on receive.
        let _ = self.note_wall(wall);
        self.check_remote(remote, wall)?;
        let bound = self.bound.load(Ordering::Relaxed);
        let pt = wall.min(bound).min(FETCH_ADD_LIMIT) & !LOGICAL_MASK;
        let r = remote.as_u64();
        let mut cur = self.hot.state.load(Ordering::Acquire);
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
            match self.hot.state.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if next & LOGICAL_MASK == 0 && next != pt {
                        bump(&self.counters.carries);
                    }
                    if next.max(wall) > bound {
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
        if remote.as_u64() <= self.hot.state.load(Ordering::Acquire) {
            return Ok(());
        }
        self.observe_slow(remote)
    }

    #[cold]
    fn observe_slow(&self, remote: Timestamp) -> Result<(), RecvError> {
        let wall = self.wall.now_unix_nanos();
        let _ = self.note_wall(wall);
        self.check_remote(remote, wall)?;
        self.hot.state.fetch_max(remote.as_u64(), Ordering::AcqRel);
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
                bump(&self.counters.mono_forward_jumps);
            } else if dm - dw > t {
                bump(&self.counters.mono_backward_jumps);
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
        Timestamp::try_from_u64(self.hot.state.load(Ordering::Acquire))
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
            backward_jumps: get(&c.backward_jumps),
            forward_jumps: get(&c.forward_jumps),
            mono_forward_jumps: get(&c.mono_forward_jumps),
            mono_backward_jumps: get(&c.mono_backward_jumps),
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
        self.hot
            .state
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
        let cur = self.hot.state.load(Ordering::Acquire);
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
