//! Bounded-uncertainty time in the style of Spanner's TrueTime and AWS ClockBound.

use std::sync::Mutex;
use std::time::Duration;

use crate::time::{MonotonicClock, SystemClock, WallClock};

/// How trustworthy an [`UncertainClock`] reading is.
///
/// ```
/// use quorate_clocks::{ClockStatus, ManualClock, UncertainClock};
/// let clock = UncertainClock::new(ManualClock::new(0), ManualClock::new(0), 50_000)?;
/// assert_eq!(clock.now().status, ClockStatus::Unknown);
/// # Ok::<(), quorate_clocks::UncertainClockError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ClockStatus {
    /// Never synchronised, the last synchronisation is older than the clock's `void_after`,
    /// or the monotonic clock reads earlier than the last sync point: the interval is
    /// unbounded (`[0, u64::MAX]`).
    #[default]
    Unknown,
    /// Synchronised recently (within the free-running threshold).
    Synchronized,
    /// The last synchronisation is older than the threshold: the bound still holds if the drift
    /// assumption does, but it is growing and the sync source may be gone.
    FreeRunning,
}

/// A time interval that contains true time, in nanoseconds since the Unix epoch.
///
/// ```
/// use quorate_clocks::TimeInterval;
/// let i = TimeInterval::new(10, 20);
/// assert!(i.contains(15) && !i.contains(21));
/// assert_eq!(i.width(), 10);
/// ```
///
/// With the `serde` feature, deserializing an interval whose `earliest` is after its `latest`
/// fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "RawInterval"))]
pub struct TimeInterval {
    /// True time is at or after this.
    pub earliest: u64,
    /// True time is at or before this.
    pub latest: u64,
}

impl TimeInterval {
    /// The interval `[earliest, latest]` (the ends are swapped if given in the wrong order).
    ///
    /// ```
    /// assert_eq!(quorate_clocks::TimeInterval::new(5, 1).earliest, 1);
    /// ```
    pub const fn new(earliest: u64, latest: u64) -> Self {
        if earliest <= latest {
            Self { earliest, latest }
        } else {
            Self {
                earliest: latest,
                latest: earliest,
            }
        }
    }

    /// `latest - earliest` (0 for a hand-built interval with the ends reversed).
    ///
    /// ```
    /// assert_eq!(quorate_clocks::TimeInterval::new(1, 4).width(), 3);
    /// ```
    pub const fn width(self) -> u64 {
        self.latest.saturating_sub(self.earliest)
    }

    /// Whether `t` lies within the interval (inclusive).
    ///
    /// ```
    /// assert!(quorate_clocks::TimeInterval::new(1, 4).contains(4));
    /// ```
    pub const fn contains(self, t: u64) -> bool {
        self.earliest <= t && t <= self.latest
    }
}

/// The unvalidated serde form of [`TimeInterval`].
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct RawInterval {
    earliest: u64,
    latest: u64,
}

#[cfg(feature = "serde")]
impl TryFrom<RawInterval> for TimeInterval {
    type Error = &'static str;
    fn try_from(r: RawInterval) -> Result<Self, Self::Error> {
        if r.earliest > r.latest {
            return Err("interval earliest is after latest");
        }
        Ok(Self {
            earliest: r.earliest,
            latest: r.latest,
        })
    }
}

/// A reading of an [`UncertainClock`].
///
/// ```
/// use quorate_clocks::{ManualClock, UncertainClock};
/// let clock = UncertainClock::new(ManualClock::new(1_000_000), ManualClock::new(0), 0)?;
/// clock.sync(1_000);
/// let r = clock.now();
/// assert_eq!((r.interval.earliest, r.interval.latest), (999_000, 1_001_000));
/// # Ok::<(), quorate_clocks::UncertainClockError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UncertainTime {
    /// The interval containing true time.
    pub interval: TimeInterval,
    /// How it was obtained.
    pub status: ClockStatus,
}

/// The reading when nothing is known: the whole range.
const UNKNOWN: UncertainTime = UncertainTime {
    interval: TimeInterval {
        earliest: 0,
        latest: u64::MAX,
    },
    status: ClockStatus::Unknown,
};

#[derive(Debug, Clone, Copy)]
struct SyncPoint {
    mono: u64,
    error: u64,
}

/// A wall clock with an error bound: `now()` returns `[earliest, latest]` plus a status.
///
/// Feed it the error bound of each synchronisation ([`sync`](Self::sync), for example from
/// chrony's or ClockBound's reported root dispersion + delay / 2); between syncs the bound grows
/// by `max_drift_ppb` per elapsed second, measured on the monotonic clock. After
/// `free_running_after` (default 60 s) without a sync the status becomes
/// [`ClockStatus::FreeRunning`], and after `void_after` (default: never) it returns to
/// [`ClockStatus::Unknown`].
///
/// # ClockBound semantics
///
/// The rules follow AWS ClockBound's reader (`ClockErrorBound::compute_bound_at`):
///
/// - the status is `Synchronized` up to `free_running_after` after the last sync (ClockBound's
///   5 s restart grace period), `FreeRunning` from then until `void_after`, and `Unknown`
///   from `void_after` on (both limits inclusive, as in ClockBound);
/// - a drift bound of 10^9 ppb (100%) or more is refused when the clock is built
///   ([`UncertainClockError::DriftTooLarge`]; ClockBound reports the segment malformed);
/// - a monotonic reading more than 1 µs earlier than the last sync point is a causality
///   breach: [`try_now`](Self::try_now) returns [`UncertainClockError::CausalityBreach`]
///   (within 1 µs the elapsed time counts as 0, ClockBound's allowance for coarse clocks).
///
/// Deliberate differences: the drift term is rounded up, not truncated, so the interval never
/// narrows below the true bound; and where ClockBound still returns the drift-widened interval
/// beside an `Unknown` status (void bound, or `now` after a causality breach), this clock
/// returns the unbounded interval, so [`after`](Self::after), [`before`](Self::before) and
/// commit-wait can never act on a bound that is no longer trusted.
///
/// A wall-clock reading is only as good as its last synchronisation: right after an NTP/PTP
/// exchange the error is the bound the synchronisation source reports; afterwards the local
/// oscillator drifts, so the error grows by at most `max_drift_ppb` nanoseconds per second of
/// elapsed (monotonic) time. [`UncertainClock::now`] returns the interval `[earliest, latest]`
/// that contains true time under those assumptions. Code that must never act "too early" (a
/// lease holder checking its lease, a transaction waiting out commit-wait) uses the pessimistic
/// end of the interval instead of a point reading.
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::{ClockStatus, ManualClock, UncertainClock};
/// let machine = ManualClock::new(1_000_000_000_000);
/// // 50 ppm worst-case oscillator drift (50_000 ppb).
/// let clock = UncertainClock::new(machine.clone(), machine.clone(), 50_000)?
///     .void_after(Duration::from_secs(600));
/// clock.sync(200_000); // synchronised to within 200 µs
/// machine.advance(Duration::from_secs(10));
/// let r = clock.now();
/// assert_eq!(r.status, ClockStatus::Synchronized);
/// assert_eq!(r.interval.latest - 1_010_000_000_000, 200_000 + 500_000); // + 10 s * 50 ppm
/// assert!(clock.after(1_000_000_000_000));
/// machine.advance(Duration::from_secs(600)); // no sync for 10 minutes: the bound is void
/// assert_eq!(clock.now().status, ClockStatus::Unknown);
/// # Ok::<(), quorate_clocks::UncertainClockError>(())
/// ```
#[derive(Debug)]
pub struct UncertainClock<W = SystemClock, M = SystemClock> {
    wall: W,
    mono: M,
    max_drift_ppb: u64,
    free_running_after: u64,
    /// `None`: never.
    void_after: Option<u64>,
    last_sync: Mutex<Option<SyncPoint>>,
}

/// Monotonic readings up to this much before the sync point count as the sync point itself
/// (ClockBound's 1 µs allowance for coarse monotonic clocks); earlier ones are a breach.
const CAUSALITY_BLUR_NANOS: u64 = 1_000;

/// Why an [`UncertainClock`] could not be built or read.
///
/// ```
/// use quorate_clocks::{SystemClock, UncertainClock, UncertainClockError};
/// let err = UncertainClock::new(SystemClock, SystemClock, 1_000_000_000).err();
/// assert_eq!(err, Some(UncertainClockError::DriftTooLarge { max_drift_ppb: 1_000_000_000 }));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum UncertainClockError {
    /// The drift bound is 10^9 ppb (100%) or more: the error would grow at least as fast as
    /// the clock, so no instant could ever be certainly past (from
    /// [`UncertainClock::new`]).
    #[error("drift bound of {max_drift_ppb} ppb is not below 10^9 ppb")]
    DriftTooLarge {
        /// The refused bound.
        max_drift_ppb: u64,
    },
    /// The monotonic clock reads more than 1 µs earlier than at the last sync: the elapsed
    /// time, and so the drift term, is unknown (from [`UncertainClock::try_now`]).
    #[error(
        "monotonic clock at {mono_nanos} ns is before the last sync point at {sync_mono_nanos} ns"
    )]
    CausalityBreach {
        /// The monotonic reading recorded by the last sync.
        sync_mono_nanos: u64,
        /// The current monotonic reading.
        mono_nanos: u64,
    },
}

impl<W: WallClock, M: MonotonicClock> UncertainClock<W, M> {
    /// An unsynchronised clock reading `wall`, measuring elapsed time on `mono`, assuming the
    /// local oscillator drifts by at most `max_drift_ppb` parts per billion.
    ///
    /// ```
    /// let clock = quorate_clocks::UncertainClock::new(
    ///     quorate_clocks::SystemClock, quorate_clocks::BootClock, 100_000)?;
    /// assert_eq!(clock.max_drift_ppb(), 100_000);
    /// # Ok::<(), quorate_clocks::UncertainClockError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`UncertainClockError::DriftTooLarge`] when `max_drift_ppb` is 10^9 (100%) or more, as
    /// ClockBound refuses such a segment as malformed.
    pub fn new(wall: W, mono: M, max_drift_ppb: u64) -> Result<Self, UncertainClockError> {
        if max_drift_ppb >= 1_000_000_000 {
            return Err(UncertainClockError::DriftTooLarge { max_drift_ppb });
        }
        Ok(Self {
            wall,
            mono,
            max_drift_ppb,
            free_running_after: 60_000_000_000,
            void_after: None,
            last_sync: Mutex::new(None),
        })
    }

    /// Sets how long after the last sync the status turns [`ClockStatus::FreeRunning`]
    /// (default 60 s; ClockBound uses 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let clock = quorate_clocks::UncertainClock::new(
    ///     quorate_clocks::SystemClock, quorate_clocks::SystemClock, 0)?
    ///     .free_running_after(Duration::from_secs(5));
    /// # Ok::<(), quorate_clocks::UncertainClockError>(())
    /// ```
    #[must_use]
    pub fn free_running_after(mut self, d: Duration) -> Self {
        self.free_running_after = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self
    }

    /// Sets how long after the last sync its bound becomes void: from then on (inclusive)
    /// the status is [`ClockStatus::Unknown`] and the interval unbounded, until the next
    /// [`sync`](Self::sync). ClockBound's `void_after`. Default: never.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{ClockStatus, ManualClock, UncertainClock};
    /// let m = ManualClock::new(1 << 40);
    /// let clock = UncertainClock::new(m.clone(), m.clone(), 1_000)?
    ///     .void_after(Duration::from_secs(5));
    /// clock.sync(10_000);
    /// m.advance(Duration::from_secs(5));
    /// assert_eq!(clock.now().status, ClockStatus::Unknown);
    /// clock.sync(10_000);
    /// assert_eq!(clock.now().status, ClockStatus::Synchronized);
    /// # Ok::<(), quorate_clocks::UncertainClockError>(())
    /// ```
    #[must_use]
    pub fn void_after(mut self, d: Duration) -> Self {
        self.void_after = Some(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self
    }

    /// The configured drift bound.
    ///
    /// ```
    /// let c = quorate_clocks::UncertainClock::new(quorate_clocks::SystemClock, quorate_clocks::SystemClock, 7)?;
    /// assert_eq!(c.max_drift_ppb(), 7);
    /// # Ok::<(), quorate_clocks::UncertainClockError>(())
    /// ```
    pub fn max_drift_ppb(&self) -> u64 {
        self.max_drift_ppb
    }

    /// Records a synchronisation now: the wall clock is within `error_bound_ns` of true time.
    ///
    /// ```
    /// use quorate_clocks::{ClockStatus, SystemClock, UncertainClock};
    /// let clock = UncertainClock::new(SystemClock, SystemClock, 0)?;
    /// clock.sync(1_000_000);
    /// assert_eq!(clock.now().status, ClockStatus::Synchronized);
    /// # Ok::<(), quorate_clocks::UncertainClockError>(())
    /// ```
    pub fn sync(&self, error_bound_ns: u64) {
        let point = SyncPoint {
            mono: self.mono.now_nanos(),
            error: error_bound_ns,
        };
        *self.last_sync.lock().unwrap_or_else(|e| e.into_inner()) = Some(point);
    }

    /// The current uncertainty interval and status.
    ///
    /// The interval is `[t - e, t + e]` for the wall reading `t`, where `e` is the error bound
    /// of the last sync plus `max_drift_ppb * elapsed / 10^9` rounded up (so the interval
    /// never narrows below the true bound), saturating at 0 and `u64::MAX`. Never synchronised,
    /// void, or after a causality breach (see [`try_now`](Self::try_now)): status
    /// [`ClockStatus::Unknown`] and the unbounded interval, never a silently narrow one.
    ///
    /// ```
    /// use quorate_clocks::{SystemClock, UncertainClock};
    /// let clock = UncertainClock::new(SystemClock, SystemClock, 0)?;
    /// clock.sync(0);
    /// assert_eq!(clock.now().interval.width(), 0);
    /// # Ok::<(), quorate_clocks::UncertainClockError>(())
    /// ```
    pub fn now(&self) -> UncertainTime {
        self.try_now().unwrap_or(UNKNOWN)
    }

    /// Like [`now`](Self::now), but a monotonic reading more than 1 µs earlier than the last
    /// sync point is an error instead of an `Unknown` reading.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
    /// use quorate_clocks::{ManualClock, MonotonicClock, UncertainClock, UncertainClockError};
    /// // A monotonic source that misbehaves.
    /// struct Mono(AtomicU64);
    /// impl MonotonicClock for Mono {
    ///     fn now_nanos(&self) -> u64 { self.0.load(Ordering::Relaxed) }
    /// }
    /// let mono = Arc::new(Mono(AtomicU64::new(5_000_000_000)));
    /// let clock = UncertainClock::new(ManualClock::new(1 << 40), mono.clone(), 1_000)?;
    /// clock.sync(10_000);
    /// assert!(clock.try_now().is_ok());
    /// mono.0.store(1_000_000_000, Ordering::Relaxed); // 4 s before the sync point
    /// assert_eq!(
    ///     clock.try_now(),
    ///     Err(UncertainClockError::CausalityBreach {
    ///         sync_mono_nanos: 5_000_000_000,
    ///         mono_nanos: 1_000_000_000,
    ///     })
    /// );
    /// # Ok::<(), UncertainClockError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`UncertainClockError::CausalityBreach`] when the monotonic clock reads more than 1 µs
    /// before the last sync point (a monotonic source that went back, or a sync recorded
    /// from a different clock).
    pub fn try_now(&self) -> Result<UncertainTime, UncertainClockError> {
        let sync = *self.last_sync.lock().unwrap_or_else(|e| e.into_inner());
        // Wall first, then monotonic (as ClockBound): a delay between the two reads only
        // makes the bound more pessimistic.
        let wall = self.wall.now_unix_nanos();
        let Some(sync) = sync else {
            return Ok(UNKNOWN);
        };
        let mono = self.mono.now_nanos();
        let elapsed = match mono.checked_sub(sync.mono) {
            Some(e) => e,
            None if sync.mono - mono <= CAUSALITY_BLUR_NANOS => 0,
            None => {
                return Err(UncertainClockError::CausalityBreach {
                    sync_mono_nanos: sync.mono,
                    mono_nanos: mono,
                });
            }
        };
        if self.void_after.is_some_and(|v| elapsed >= v) {
            return Ok(UNKNOWN);
        }
        // Rounded up: the interval must widen, never narrow, by the sub-nanosecond remainder.
        let drift = u64::try_from(
            (u128::from(elapsed) * u128::from(self.max_drift_ppb)).div_ceil(1_000_000_000),
        )
        .unwrap_or(u64::MAX);
        let error = sync.error.saturating_add(drift);
        let status = if elapsed >= self.free_running_after {
            ClockStatus::FreeRunning
        } else {
            ClockStatus::Synchronized
        };
        Ok(UncertainTime {
            interval: TimeInterval::new(wall.saturating_sub(error), wall.saturating_add(error)),
            status,
        })
    }

    /// Whether instant `t` (ns since the epoch) has certainly passed: `earliest > t`.
    ///
    /// ```
    /// use quorate_clocks::{ManualClock, UncertainClock};
    /// let m = ManualClock::new(1_000);
    /// let clock = UncertainClock::new(m.clone(), m, 0)?;
    /// clock.sync(10);
    /// assert!(clock.after(989) && !clock.after(990));
    /// # Ok::<(), quorate_clocks::UncertainClockError>(())
    /// ```
    pub fn after(&self, t: u64) -> bool {
        self.now().interval.earliest > t
    }

    /// Whether instant `t` has certainly not arrived yet: `latest < t`.
    ///
    /// ```
    /// use quorate_clocks::{ManualClock, UncertainClock};
    /// let m = ManualClock::new(1_000);
    /// let clock = UncertainClock::new(m.clone(), m, 0)?;
    /// clock.sync(10);
    /// assert!(clock.before(1_011) && !clock.before(1_010));
    /// # Ok::<(), quorate_clocks::UncertainClockError>(())
    /// ```
    pub fn before(&self, t: u64) -> bool {
        self.now().interval.latest < t
    }

    /// Commit-wait: blocks (with `std::thread::sleep`) until `t` has certainly passed, and
    /// returns how long it waited.
    ///
    /// Spanner's rule: a transaction stamped `t` must not become visible before `t` is in the
    /// past everywhere, so the writer waits until `after(t)`.
    ///
    /// ```
    /// use quorate_clocks::{SystemClock, UncertainClock, WallClock};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let clock = UncertainClock::new(SystemClock, SystemClock, 0)?;
    /// clock.sync(100_000); // 100 µs
    /// let t = SystemClock.now_unix_nanos();
    /// clock.commit_wait(t)?;
    /// assert!(clock.after(t));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CommitWaitError::Unsynchronized`] when the clock was never synchronised or its bound
    /// is void (the wait would be unbounded); [`CommitWaitError::CausalityBreach`] when the
    /// monotonic clock reads before the last sync point.
    pub fn commit_wait(&self, t: u64) -> Result<Duration, CommitWaitError> {
        self.commit_wait_with(t, std::thread::sleep)
    }

    /// [`commit_wait`](Self::commit_wait) with an injected sleep function (for simulations,
    /// where sleeping means advancing a [`ManualClock`](crate::ManualClock)).
    ///
    /// ```
    /// use quorate_clocks::{ManualClock, UncertainClock};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let m = ManualClock::new(1_000_000);
    /// let clock = UncertainClock::new(m.clone(), m.clone(), 0)?;
    /// clock.sync(500);
    /// let waited = clock.commit_wait_with(1_000_000, |d| m.advance(d))?;
    /// assert_eq!(waited.as_nanos(), 501);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`commit_wait`](Self::commit_wait). The drift bound is below 10^9 ppb by
    /// construction, so `earliest` always advances while waiting.
    pub fn commit_wait_with(
        &self,
        t: u64,
        mut sleep: impl FnMut(Duration),
    ) -> Result<Duration, CommitWaitError> {
        let start = self.mono.now_nanos();
        loop {
            let r = self.try_now().map_err(|e| match e {
                UncertainClockError::CausalityBreach {
                    sync_mono_nanos,
                    mono_nanos,
                } => CommitWaitError::CausalityBreach {
                    sync_mono_nanos,
                    mono_nanos,
                },
                UncertainClockError::DriftTooLarge { .. } => CommitWaitError::Unsynchronized,
            })?;
            if r.status == ClockStatus::Unknown {
                return Err(CommitWaitError::Unsynchronized);
            }
            if r.interval.earliest > t {
                return Ok(Duration::from_nanos(
                    self.mono.now_nanos().saturating_sub(start),
                ));
            }
            // While waiting, `earliest` advances by only `1 - drift` ns per ns (the error bound
            // grows by `drift`): sleep for the whole distance at that rate, not just the gap,
            // or the loop degenerates into ever smaller sleeps. `new` guarantees drift < 10^9.
            let rate = 1_000_000_000u64.saturating_sub(self.max_drift_ppb).max(1);
            let gap = u128::from(t - r.interval.earliest) + 1;
            let nanos = (gap * 1_000_000_000).div_ceil(u128::from(rate));
            sleep(Duration::from_nanos(
                u64::try_from(nanos).unwrap_or(u64::MAX),
            ));
        }
    }
}

/// Why [`UncertainClock::commit_wait`] could not wait.
///
/// ```
/// use quorate_clocks::{CommitWaitError, SystemClock, UncertainClock};
/// let clock = UncertainClock::new(SystemClock, SystemClock, 0)?;
/// assert_eq!(clock.commit_wait(0), Err(CommitWaitError::Unsynchronized));
/// # Ok::<(), quorate_clocks::UncertainClockError>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommitWaitError {
    /// The clock has never been synchronised, or its last sync is void (older than
    /// `void_after`), so no instant is certainly past.
    #[error("clock not synchronised")]
    Unsynchronized,
    /// The monotonic clock reads before the last sync point (see
    /// [`UncertainClockError::CausalityBreach`]).
    #[error(
        "monotonic clock at {mono_nanos} ns is before the last sync point at {sync_mono_nanos} ns"
    )]
    CausalityBreach {
        /// The monotonic reading recorded by the last sync.
        sync_mono_nanos: u64,
        /// The current monotonic reading.
        mono_nanos: u64,
    },
}
