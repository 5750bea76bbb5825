//! Time sources: the only place in quorate that reads the system clock.
//!
//! Everything else takes a [`WallClock`] or a [`MonotonicClock`], so timeouts, leases, TTLs and
//! timestamps can be driven by a [`ManualClock`] in tests and simulations.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time: nanoseconds since the Unix epoch.
///
/// Wall time is human time. It can jump backwards or forwards when the system clock is
/// stepped, so use it as data (timestamps, expiry dates), never to measure durations.
/// Object safe; implemented for `&T`, `Arc<T>` and `Box<T>`.
///
/// ```
/// use quorate_clocks::{ManualClock, WallClock};
/// fn stamp(clock: &dyn WallClock) -> u64 { clock.now_unix_nanos() }
/// assert_eq!(stamp(&ManualClock::new(42)), 42);
/// ```
pub trait WallClock: Send + Sync {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    fn now_unix_nanos(&self) -> u64;
}

/// A source of monotonic time: nanoseconds since an arbitrary fixed origin, never decreasing.
///
/// Use it for durations, timeouts and backoff. Readings from different processes or machines
/// are not comparable. Object safe; implemented for `&T`, `Arc<T>` and `Box<T>`.
///
/// ```
/// use quorate_clocks::{MonotonicClock, SystemClock};
/// let a = SystemClock.now_nanos();
/// let b = SystemClock.now_nanos();
/// assert!(b >= a);
/// ```
pub trait MonotonicClock: Send + Sync {
    /// Nanoseconds since this clock's origin.
    fn now_nanos(&self) -> u64;
}

macro_rules! forward_clock_impls {
    ($($ptr:ty),*) => {$(
        impl<T: WallClock + ?Sized> WallClock for $ptr {
            #[inline]
            fn now_unix_nanos(&self) -> u64 {
                (**self).now_unix_nanos()
            }
        }
        impl<T: MonotonicClock + ?Sized> MonotonicClock for $ptr {
            #[inline]
            fn now_nanos(&self) -> u64 {
                (**self).now_nanos()
            }
        }
    )*};
}
forward_clock_impls!(&T, Arc<T>, Box<T>);

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The operating system's clocks: `SystemTime` for wall time, `Instant` for monotonic time.
///
/// The default choice. Wall readings before 1970 read as 0; monotonic readings count from the
/// first monotonic reading in the process.
///
/// ```
/// use quorate_clocks::{SystemClock, WallClock};
/// assert!(SystemClock.now_unix_nanos() > 1_600_000_000_000_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SystemClock;

impl WallClock for SystemClock {
    #[inline]
    fn now_unix_nanos(&self) -> u64 {
        // On Linux read CLOCK_REALTIME directly (what `SystemTime::now` reads): it skips
        // `duration_since`'s checked conversion, about 10 ns of a 20 ns read.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(ns) = clock_gettime_nanos(libc::CLOCK_REALTIME) {
            return ns;
        }
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            // u64 arithmetic (saturating in the year 2554) instead of a u128 round trip.
            Ok(d) => d
                .as_secs()
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::from(d.subsec_nanos())),
            Err(_) => 0,
        }
    }
}

fn process_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl MonotonicClock for SystemClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        duration_nanos(process_origin().elapsed())
    }
}

/// A monotonic clock that keeps counting while the machine is suspended.
///
/// On Linux and Android it reads `CLOCK_BOOTTIME` (nanoseconds since boot, including
/// suspend), so a lease or timeout measured across a laptop sleep or a VM pause sees the real
/// elapsed time; `Instant` (`CLOCK_MONOTONIC`) stops during suspend and would make a lease look
/// younger than it is. On other platforms it falls back to `Instant`.
///
/// ```
/// use quorate_clocks::{BootClock, MonotonicClock};
/// let a = BootClock.now_nanos();
/// let b = BootClock.now_nanos();
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BootClock;

#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn clock_gettime_nanos(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` only writes one `timespec` through the pointer, which points to
    // a live, properly aligned local; no other memory is touched.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(clock, &raw mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

impl MonotonicClock for BootClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(ns) = clock_gettime_nanos(libc::CLOCK_BOOTTIME) {
            return ns;
        }
        SystemClock.now_nanos()
    }
}

/// A cheap, coarse wall clock: millisecond-grained, not nanosecond.
///
/// On Linux it reads `CLOCK_REALTIME_COARSE`, which costs a few nanoseconds but only advances
/// once per kernel tick (1 to 10 ms depending on the kernel's `HZ`); elsewhere it reads
/// `SystemTime` and rounds down to the millisecond. Opt in when timestamp throughput matters
/// more than resolution, for example as the physical source of a
/// [`HybridClock`](crate::HybridClock) that stamps millions of events per second (the logical
/// counter orders events within a tick).
///
/// ```
/// use quorate_clocks::{CoarseClock, SystemClock, WallClock};
/// let coarse = CoarseClock.now_unix_nanos();
/// let fine = SystemClock.now_unix_nanos();
/// assert!(coarse <= fine + 1_000_000);
/// assert!(fine - coarse < 1_000_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CoarseClock;

impl WallClock for CoarseClock {
    #[inline]
    fn now_unix_nanos(&self) -> u64 {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(ns) = clock_gettime_nanos(libc::CLOCK_REALTIME_COARSE) {
            return ns;
        }
        let ns = SystemClock.now_unix_nanos();
        ns - ns % 1_000_000
    }
}

#[derive(Debug, Default)]
struct ManualInner {
    wall: AtomicU64,
    mono: AtomicU64,
}

/// A clock you drive by hand, for tests and simulations.
///
/// It implements both [`WallClock`] and [`MonotonicClock`] and models one machine: `advance`
/// moves both readings forward, while `set` and `step_back` move only the wall reading (like
/// an operator or NTP stepping the system clock), so the monotonic reading never decreases.
/// Clones share one time and it is safe to use from many threads.
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::{ManualClock, MonotonicClock, WallClock};
/// let clock = ManualClock::new(1_000);
/// let shared = clock.clone();
/// clock.advance(Duration::from_nanos(500));
/// assert_eq!(shared.now_unix_nanos(), 1_500);
/// clock.step_back(Duration::from_nanos(200));
/// assert_eq!(shared.now_unix_nanos(), 1_300);
/// assert_eq!(shared.now_nanos(), 500); // monotonic: only the advance counted
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

impl ManualClock {
    /// A clock whose wall reading starts at `start_ns` and whose monotonic reading starts at 0.
    ///
    /// ```
    /// use quorate_clocks::{ManualClock, WallClock};
    /// assert_eq!(ManualClock::new(7).now_unix_nanos(), 7);
    /// ```
    pub fn new(start_ns: u64) -> Self {
        Self {
            inner: Arc::new(ManualInner {
                wall: AtomicU64::new(start_ns),
                mono: AtomicU64::new(0),
            }),
        }
    }

    /// Sets the wall reading to `ns` (forwards or backwards); the monotonic reading is
    /// unchanged.
    ///
    /// ```
    /// use quorate_clocks::{ManualClock, WallClock};
    /// let c = ManualClock::new(10);
    /// c.set(3);
    /// assert_eq!(c.now_unix_nanos(), 3);
    /// ```
    pub fn set(&self, ns: u64) {
        self.inner.wall.store(ns, Ordering::SeqCst);
    }

    /// Moves both readings forward by `d` (saturating).
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{ManualClock, MonotonicClock};
    /// let c = ManualClock::new(0);
    /// c.advance(Duration::from_millis(1));
    /// assert_eq!(c.now_nanos(), 1_000_000);
    /// ```
    pub fn advance(&self, d: Duration) {
        self.advance_nanos(duration_nanos(d));
    }

    /// Moves both readings forward by `ns` nanoseconds (saturating).
    ///
    /// ```
    /// use quorate_clocks::{ManualClock, WallClock};
    /// let c = ManualClock::new(0);
    /// c.advance_nanos(5);
    /// assert_eq!(c.now_unix_nanos(), 5);
    /// ```
    pub fn advance_nanos(&self, ns: u64) {
        saturating_add(&self.inner.wall, ns);
        saturating_add(&self.inner.mono, ns);
    }

    /// Moves the wall reading back by `d` (saturating at 0); the monotonic reading is
    /// unchanged.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_clocks::{ManualClock, WallClock};
    /// let c = ManualClock::new(100);
    /// c.step_back(Duration::from_nanos(30));
    /// assert_eq!(c.now_unix_nanos(), 70);
    /// ```
    pub fn step_back(&self, d: Duration) {
        let ns = duration_nanos(d);
        let _ = self
            .inner
            .wall
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                Some(w.saturating_sub(ns))
            });
    }
}

fn saturating_add(a: &AtomicU64, ns: u64) {
    let _ = a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
        Some(w.saturating_add(ns))
    });
}

impl WallClock for ManualClock {
    #[inline]
    fn now_unix_nanos(&self) -> u64 {
        self.inner.wall.load(Ordering::SeqCst)
    }
}

impl MonotonicClock for ManualClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.inner.mono.load(Ordering::SeqCst)
    }
}
