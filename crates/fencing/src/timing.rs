//! Lease timing that stays safe under bounded clock drift and any clock offset.
//!
//! A holder and a grantor never compare clock *readings*: each measures a *duration* on its own
//! monotonic clock. Offsets between the clocks therefore do not matter; only their rates do, and
//! a rate is assumed to be within `1 ± d` of real time, `d` the drift bound.
//!
//! - The **holder** reads its clock *before* it sends the acquire (or renew) request, at `s`, and
//!   treats the lease as expired at `s + ttl·(1 − d) − margin` on that clock.
//! - The **grantor** grants at some real time no earlier than the request was sent, and grants
//!   the resource again only after `ttl·(1 + d) + grace` has passed on *its* clock.
//!
//! In real time the holder's window lasts at most `(ttl·(1 − d) − margin) / (1 − d) ≤ ttl` from
//! a moment *before* the grant, and the grantor's hold lasts at least
//! `(ttl·(1 + d) + grace) / (1 + d) ≥ ttl` from the grant: the holder always stops believing it
//! holds the lease before anyone else can be granted it. `margin` and `grace` make the gap
//! strictly positive and cover what the model leaves out (the time between the holder's check and
//! its write reaching the resource, scheduling delay). The fencing token covers what no timing
//! can: a holder that checked in time and then paused before writing.

use std::time::Duration;

/// One part per billion, the unit of [`LeaseTiming::max_drift_ppb`].
pub const PPB: u64 = 1_000_000_000;

/// The lease duration and the bounds that turn it into a holder's window and a grantor's hold.
///
/// ```
/// use std::time::Duration;
/// use quorate_fencing::LeaseTiming;
/// # fn main() -> Result<(), quorate_fencing::InvalidTiming> {
/// let timing = LeaseTiming::new(Duration::from_secs(10))?
///     .with_max_drift_ppb(1_000_000)? // 0.1 %
///     .with_margin(Duration::from_millis(100))?
///     .with_grace(Duration::from_millis(100))?;
/// // The holder acts for at most 10 s · 0.999 − 100 ms …
/// assert_eq!(timing.holder_window(), Duration::from_millis(9_890));
/// // … the grantor waits at least 10 s · 1.001 + 100 ms.
/// assert_eq!(timing.grantor_hold(), Duration::from_millis(10_110));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "RawTiming"))]
#[non_exhaustive]
pub struct LeaseTiming {
    /// The nominal lease duration.
    pub ttl: Duration,
    /// The bound on either clock's rate error, in parts per billion (`1_000_000` is 0.1 %).
    pub max_drift_ppb: u64,
    /// Subtracted from the holder's window.
    pub margin: Duration,
    /// Added to the grantor's hold.
    pub grace: Duration,
}

/// A lease timing that cannot be made safe.
///
/// ```
/// use std::time::Duration;
/// use quorate_fencing::{InvalidTiming, LeaseTiming};
/// assert_eq!(LeaseTiming::new(Duration::ZERO), Err(InvalidTiming::ZeroTtl));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidTiming {
    /// The ttl is zero.
    #[error("the lease ttl is zero")]
    ZeroTtl,
    /// The drift bound is not below one half (500 000 000 ppb).
    #[error("drift bound of {0} ppb is not below 500000000 ppb")]
    DriftTooLarge(u64),
    /// `ttl · (1 − d) − margin` is not positive: the holder could never act.
    #[error("no safe window: ttl shrunk by the drift bound does not exceed the margin")]
    NoSafeWindow,
    /// `ttl · (1 + d) + grace` does not fit in a `Duration` of `u64` nanoseconds.
    #[error("the grantor's hold overflows")]
    HoldOverflow,
}

/// The wire shape of [`LeaseTiming`]; deserialization validates it.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct RawTiming {
    ttl: Duration,
    max_drift_ppb: u64,
    margin: Duration,
    grace: Duration,
}

#[cfg(feature = "serde")]
impl TryFrom<RawTiming> for LeaseTiming {
    type Error = InvalidTiming;
    fn try_from(r: RawTiming) -> Result<Self, InvalidTiming> {
        Self {
            ttl: r.ttl,
            max_drift_ppb: r.max_drift_ppb,
            margin: r.margin,
            grace: r.grace,
        }
        .validated()
    }
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}

fn from_nanos(n: u128) -> Option<Duration> {
    u64::try_from(n).ok().map(Duration::from_nanos)
}

impl LeaseTiming {
    /// Default drift bound: 0.1 % (1 000 000 ppb), ten times what NTP-disciplined clocks show.
    pub const DEFAULT_MAX_DRIFT_PPB: u64 = 1_000_000;

    /// A timing with `ttl`, the default drift bound, margin `ttl / 20` and grace `ttl / 20`.
    ///
    /// # Errors
    ///
    /// [`InvalidTiming::ZeroTtl`] for a zero ttl, [`InvalidTiming::HoldOverflow`] for a ttl whose
    /// hold does not fit in `u64` nanoseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::LeaseTiming;
    /// let t = LeaseTiming::new(Duration::from_secs(2)).unwrap();
    /// assert_eq!(t.margin, Duration::from_millis(100));
    /// assert!(t.holder_window() < t.ttl && t.ttl < t.grantor_hold());
    /// ```
    pub fn new(ttl: Duration) -> Result<Self, InvalidTiming> {
        if ttl.is_zero() {
            return Err(InvalidTiming::ZeroTtl);
        }
        Self {
            ttl,
            max_drift_ppb: Self::DEFAULT_MAX_DRIFT_PPB,
            margin: ttl / 20,
            grace: ttl / 20,
        }
        .validated()
    }

    /// The same timing with drift bound `ppb`.
    ///
    /// # Errors
    ///
    /// [`InvalidTiming`] when the bound is not below half or leaves no window or overflows.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::LeaseTiming;
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// assert!(t.with_max_drift_ppb(600_000_000).is_err());
    /// ```
    pub fn with_max_drift_ppb(self, ppb: u64) -> Result<Self, InvalidTiming> {
        Self {
            max_drift_ppb: ppb,
            ..self
        }
        .validated()
    }

    /// The same timing with holder margin `margin`.
    ///
    /// # Errors
    ///
    /// [`InvalidTiming::NoSafeWindow`] when the margin eats the whole window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::LeaseTiming;
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// assert!(t.with_margin(Duration::from_secs(1)).is_err());
    /// ```
    pub fn with_margin(self, margin: Duration) -> Result<Self, InvalidTiming> {
        Self { margin, ..self }.validated()
    }

    /// The same timing with grantor grace `grace`.
    ///
    /// # Errors
    ///
    /// [`InvalidTiming::HoldOverflow`] when the hold no longer fits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::LeaseTiming;
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// assert_eq!(t.with_grace(Duration::ZERO).unwrap().grace, Duration::ZERO);
    /// ```
    pub fn with_grace(self, grace: Duration) -> Result<Self, InvalidTiming> {
        Self { grace, ..self }.validated()
    }

    /// Checks a timing built field by field (for example deserialized).
    ///
    /// # Errors
    ///
    /// The first [`InvalidTiming`] the timing violates.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::LeaseTiming;
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// assert_eq!(t.validated(), Ok(t));
    /// ```
    pub fn validated(self) -> Result<Self, InvalidTiming> {
        if self.ttl.is_zero() {
            return Err(InvalidTiming::ZeroTtl);
        }
        if self.max_drift_ppb >= PPB / 2 {
            return Err(InvalidTiming::DriftTooLarge(self.max_drift_ppb));
        }
        let shrunk = nanos(self.ttl) * u128::from(PPB - self.max_drift_ppb) / u128::from(PPB);
        if shrunk <= nanos(self.margin) {
            return Err(InvalidTiming::NoSafeWindow);
        }
        if self.checked_hold().is_none() {
            return Err(InvalidTiming::HoldOverflow);
        }
        Ok(self)
    }

    fn checked_hold(&self) -> Option<Duration> {
        let num = nanos(self.ttl) * u128::from(PPB + self.max_drift_ppb);
        // Rounded up: the grantor never waits less than the formula says.
        let grown = num.div_ceil(u128::from(PPB));
        from_nanos(grown.checked_add(nanos(self.grace))?)
    }

    /// How long the holder may act, on its own monotonic clock, from the moment it read the clock
    /// before sending the request: `ttl · (1 − d) − margin`, rounded down.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::LeaseTiming;
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap()
    ///     .with_max_drift_ppb(0).unwrap()
    ///     .with_margin(Duration::from_millis(10)).unwrap();
    /// assert_eq!(t.holder_window(), Duration::from_millis(990));
    /// ```
    #[must_use]
    pub fn holder_window(&self) -> Duration {
        let shrunk =
            nanos(self.ttl) * u128::from(PPB - self.max_drift_ppb.min(PPB)) / u128::from(PPB);
        from_nanos(shrunk.saturating_sub(nanos(self.margin))).unwrap_or(Duration::MAX)
    }

    /// How long the grantor keeps the lease, on its own clock, from the grant (or renewal):
    /// `ttl · (1 + d) + grace`, rounded up.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::LeaseTiming;
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap()
    ///     .with_max_drift_ppb(0).unwrap()
    ///     .with_grace(Duration::from_millis(10)).unwrap();
    /// assert_eq!(t.grantor_hold(), Duration::from_millis(1_010));
    /// ```
    #[must_use]
    pub fn grantor_hold(&self) -> Duration {
        self.checked_hold().unwrap_or(Duration::MAX)
    }

    /// The holder's deadline, in nanoseconds of its monotonic clock, for a request whose timer
    /// started at `started_ns` (saturating).
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::LeaseTiming;
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// assert_eq!(t.holder_deadline_ns(100), 100 + t.holder_window().as_nanos() as u64);
    /// ```
    #[must_use]
    pub fn holder_deadline_ns(&self, started_ns: u64) -> u64 {
        let w = u64::try_from(self.holder_window().as_nanos()).unwrap_or(u64::MAX);
        started_ns.saturating_add(w)
    }

    /// The grantor's expiry, in nanoseconds of its clock, for a grant made at `granted_ns`
    /// (saturating).
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::LeaseTiming;
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// assert!(t.grantor_expiry_ns(0) > t.holder_deadline_ns(0));
    /// ```
    #[must_use]
    pub fn grantor_expiry_ns(&self, granted_ns: u64) -> u64 {
        let h = u64::try_from(self.grantor_hold().as_nanos()).unwrap_or(u64::MAX);
        granted_ns.saturating_add(h)
    }
}
