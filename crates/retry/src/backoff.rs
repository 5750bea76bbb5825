//! Delay schedules: constant, linear and exponential growth, with the four jitter modes of
//! Marc Brooker's "Exponential Backoff And Jitter" (AWS Architecture Blog).
//!
//! # Why jitter, and why the cap is absolute
//!
//! Clients that fail together and back off by the same schedule retry together: exponential
//! backoff alone spreads retries out in time but keeps them in lock step. Jitter breaks the
//! lock step. Brooker's study found "full" jitter (a uniform draw below the exponential delay)
//! does the least work, "decorrelated" jitter finishes a little sooner, and "equal" jitter
//! (keep half, randomise half) sits between. Whatever the mode, the cap is a promise to the
//! operator: no delay produced here is ever above it (some peers jitter *after* capping and
//! overshoot by up to 2x).
//!
//! Everything is integer nanoseconds: no floating point on the hot path, no clock read, no
//! allocation. Randomness comes from the caller (any [`rand::Rng`]), defaulting to
//! [`ThreadLocalRng`](crate::ThreadLocalRng).

use core::time::Duration;

use rand::Rng;

use crate::error::{ConfigError, nanos};

/// Fractional bits of the fixed-point growth factor and of the running delay.
const FRAC_BITS: u32 = 32;

/// How a jittered delay is drawn from the un-jittered delay `d` of the current attempt.
///
/// The definitions follow Brooker's "Exponential Backoff And Jitter" exactly; every mode stays
/// at or below the cap.
///
/// ```
/// use quorate_retry::Jitter;
/// assert_eq!(Jitter::default(), Jitter::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Jitter {
    /// `sleep = d`: no randomness (clients that failed together retry together).
    #[default]
    None,
    /// `sleep = random_between(0, d)`: the least total work in Brooker's study.
    ///
    /// The AWS SDKs' standard mode draws `min(rand(0, 1) * 2^i, 20)` seconds instead: it
    /// jitters *before* capping, so once `2^i` passes 20 s its delays pile up at the cap. Full
    /// jitter on `Backoff::exponential(1 s, 2.0, 20 s)` keeps the same bounds (never above
    /// `min(2^i, 20)` s) but stays uniform under the cap, as Brooker defines it.
    Full,
    /// `sleep = d/2 + random_between(0, d/2)`: never shorter than half the delay.
    Equal,
    /// `sleep = min(cap, random_between(base, previous_sleep * 3))`, starting from
    /// `previous_sleep = base`. This mode defines its own growth; the growth curve is ignored.
    Decorrelated,
}

/// The growth curve of the un-jittered delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
enum Growth {
    Constant,
    /// Nanoseconds added per attempt.
    Linear(u64),
    /// Growth factor in 32.32 fixed point.
    Exponential(u64),
}

/// A validated delay schedule: base, cap, growth curve and jitter mode.
///
/// The `n`-th retry (counting from 0) waits, before jitter, `base` (constant),
/// `base + n * step` (linear) or `base * factor^n` (exponential), never more than `cap`. So
/// the first retry waits `base` (before jitter), the convention of backon (its first delay is
/// `min_delay`), of the AWS SDKs' standard mode (`rand(0, 1) * 2^0` s), of gRFC A6 (the first
/// retry at `random(0, initialBackoff)`). Brooker's simulator counts its exponent from the
/// first failure (`base * 2^1` first); the [`sim`](crate::sim) module gets its schedule by
/// passing `2 * base` here. Build
/// one with [`Backoff::constant`], [`Backoff::linear`] or [`Backoff::exponential`], pick a
/// jitter with [`Backoff::with_jitter`], and draw delays with [`Backoff::next_delay`] on a
/// per-request [`BackoffState`] (or iterate with [`Backoff::delays`]).
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{Backoff, Jitter, FastRng};
///
/// let backoff = Backoff::exponential(Duration::from_millis(5), 2.0, Duration::from_secs(2))?
///     .with_jitter(Jitter::Full);
/// let mut rng = FastRng::seed_from_u64(1);
/// for d in backoff.delays(&mut rng).take(20) {
///     assert!(d <= Duration::from_secs(2));
/// }
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "BackoffRepr", into = "BackoffRepr")
)]
pub struct Backoff {
    base: u64,
    cap: u64,
    growth: Growth,
    jitter: Jitter,
}

/// The serialized form of a [`Backoff`], validated on deserialize.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct BackoffRepr {
    base_nanos: u64,
    cap_nanos: u64,
    growth: Growth,
    jitter: Jitter,
}

#[cfg(feature = "serde")]
impl From<Backoff> for BackoffRepr {
    fn from(b: Backoff) -> Self {
        Self {
            base_nanos: b.base,
            cap_nanos: b.cap,
            growth: b.growth,
            jitter: b.jitter,
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<BackoffRepr> for Backoff {
    type Error = ConfigError;
    fn try_from(r: BackoffRepr) -> Result<Self, ConfigError> {
        if r.base_nanos > r.cap_nanos {
            return Err(ConfigError::BaseExceedsCap);
        }
        if let Growth::Exponential(f) = r.growth
            && !(1u64 << FRAC_BITS..=1000u64 << FRAC_BITS).contains(&f)
        {
            return Err(ConfigError::InvalidFactor);
        }
        Ok(Self {
            base: r.base_nanos,
            cap: r.cap_nanos,
            growth: r.growth,
            jitter: r.jitter,
        })
    }
}

/// The per-request progress through a [`Backoff`] schedule.
///
/// Keep one per logical request (it is two words and `Copy`); [`Backoff::next_delay`] advances
/// it. [`BackoffState::default`] is the state before the first retry.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{Backoff, BackoffState, FastRng};
///
/// let b = Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1))?;
/// let mut state = BackoffState::default();
/// let mut rng = FastRng::seed_from_u64(0);
/// assert_eq!(b.next_delay(&mut state, &mut rng), Duration::from_millis(10));
/// assert_eq!(b.next_delay(&mut state, &mut rng), Duration::from_millis(20));
/// assert_eq!(state.retries(), 2);
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BackoffState {
    retries: u32,
    /// The un-jittered delay of the next retry in 32.32 fixed point (0 = not started).
    raw: u128,
    /// The previous sleep (decorrelated jitter), 0 = not started.
    prev: u64,
}

impl BackoffState {
    /// The state before the first retry (same as [`BackoffState::default`]).
    ///
    /// ```
    /// assert_eq!(quorate_retry::BackoffState::new(), Default::default());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            retries: 0,
            raw: 0,
            prev: 0,
        }
    }

    /// How many delays have been drawn so far.
    ///
    /// ```
    /// assert_eq!(quorate_retry::BackoffState::default().retries(), 0);
    /// ```
    #[must_use]
    pub const fn retries(&self) -> u32 {
        self.retries
    }
}

impl Backoff {
    /// The same delay before every retry.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DurationTooLarge`] if `delay` does not fit in 64-bit nanoseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_retry::{Backoff, FastRng};
    /// let b = Backoff::constant(Duration::from_millis(50))?;
    /// let mut rng = FastRng::seed_from_u64(0);
    /// assert!(b.delays(&mut rng).take(3).all(|d| d == Duration::from_millis(50)));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn constant(delay: Duration) -> Result<Self, ConfigError> {
        let d = nanos(delay)?;
        Ok(Self {
            base: d,
            cap: d,
            growth: Growth::Constant,
            jitter: Jitter::None,
        })
    }

    /// `base + n * step`, capped at `cap`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::BaseExceedsCap`] if `base > cap`, [`ConfigError::DurationTooLarge`] if a
    /// duration does not fit in 64-bit nanoseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_retry::{Backoff, FastRng};
    /// let ms = Duration::from_millis;
    /// let b = Backoff::linear(ms(10), ms(10), ms(25))?;
    /// let got: Vec<_> = b.delays(&mut FastRng::seed_from_u64(0)).take(4).collect();
    /// assert_eq!(got, [ms(10), ms(20), ms(25), ms(25)]);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn linear(base: Duration, step: Duration, cap: Duration) -> Result<Self, ConfigError> {
        let (base, step, cap) = (nanos(base)?, nanos(step)?, nanos(cap)?);
        if base > cap {
            return Err(ConfigError::BaseExceedsCap);
        }
        Ok(Self {
            base,
            cap,
            growth: Growth::Linear(step),
            jitter: Jitter::None,
        })
    }

    /// `base * factor^n`, capped at `cap` (the factor multiplies; it is never `base^n`).
    ///
    /// The factor is held in 32.32 fixed point, so integral and dyadic factors (2, 1.5, 1.25)
    /// are exact and others are within 2^-32 relative per step.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidFactor`] if `factor` is NaN, below 1 or above 1000;
    /// [`ConfigError::BaseExceedsCap`] if `base > cap`; [`ConfigError::DurationTooLarge`] if a
    /// duration does not fit in 64-bit nanoseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_retry::{Backoff, FastRng};
    /// let ms = Duration::from_millis;
    /// let b = Backoff::exponential(ms(5), 3.0, ms(100))?;
    /// let got: Vec<_> = b.delays(&mut FastRng::seed_from_u64(0)).take(5).collect();
    /// assert_eq!(got, [ms(5), ms(15), ms(45), ms(100), ms(100)]);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn exponential(base: Duration, factor: f64, cap: Duration) -> Result<Self, ConfigError> {
        if !factor.is_finite() || !(1.0..=1000.0).contains(&factor) {
            return Err(ConfigError::InvalidFactor);
        }
        let (base, cap) = (nanos(base)?, nanos(cap)?);
        if base > cap {
            return Err(ConfigError::BaseExceedsCap);
        }
        // In [2^32, 1000 * 2^32]: the cast is exact in range.
        let f = (factor * f64::from(1u32 << 16) * f64::from(1u32 << 16)).round() as u64;
        Ok(Self {
            base,
            cap,
            growth: Growth::Exponential(f),
            jitter: Jitter::None,
        })
    }

    /// The same schedule with another jitter mode.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_retry::{Backoff, Jitter};
    /// let b = Backoff::constant(Duration::from_millis(1))?.with_jitter(Jitter::Full);
    /// assert_eq!(b.jitter(), Jitter::Full);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The jitter mode.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let b = quorate_retry::Backoff::constant(Duration::ZERO)?;
    /// assert_eq!(b.jitter(), quorate_retry::Jitter::None);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The base (first, minimum un-jittered) delay.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = quorate_retry::Backoff::constant(Duration::from_millis(3))?;
    /// assert_eq!(b.base(), Duration::from_millis(3));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn base(&self) -> Duration {
        Duration::from_nanos(self.base)
    }

    /// The cap: no delay, jittered or not, ever exceeds it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = quorate_retry::Backoff::constant(Duration::from_millis(3))?;
    /// assert_eq!(b.cap(), Duration::from_millis(3));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn cap(&self) -> Duration {
        Duration::from_nanos(self.cap)
    }

    /// The un-jittered delay of the next retry, advancing the growth curve.
    #[inline]
    fn advance_raw(&self, state: &mut BackoffState) -> u64 {
        let cap_fp = u128::from(self.cap) << FRAC_BITS;
        let cur = if state.retries == 0 {
            u128::from(self.base) << FRAC_BITS
        } else {
            state.raw
        };
        let next = match self.growth {
            Growth::Constant => cur,
            Growth::Linear(step) => cur.saturating_add(u128::from(step) << FRAC_BITS),
            // cur < 2^96 and f < 2^42 can overflow u128; an overflowing product is far above
            // the cap (which is below 2^96), so it saturates there.
            Growth::Exponential(f) => cur
                .checked_mul(u128::from(f))
                .map_or(cap_fp, |p| p >> FRAC_BITS),
        };
        state.raw = next.min(cap_fp);
        state.retries = state.retries.saturating_add(1);
        // cur <= cap * 2^32, so the shifted value fits in u64.
        u64::try_from(cur.min(cap_fp) >> FRAC_BITS).unwrap_or(self.cap)
    }

    /// The next delay in nanoseconds; see [`Backoff::next_delay`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_retry::{Backoff, BackoffState, FastRng};
    /// let b = Backoff::constant(Duration::from_nanos(7))?;
    /// let mut s = BackoffState::default();
    /// assert_eq!(b.next_delay_nanos(&mut s, &mut FastRng::seed_from_u64(0)), 7);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[inline]
    pub fn next_delay_nanos<R: Rng + ?Sized>(&self, state: &mut BackoffState, rng: &mut R) -> u64 {
        match self.jitter {
            Jitter::None => self.advance_raw(state),
            Jitter::Full => {
                let d = self.advance_raw(state);
                rng.random_range(0..=d)
            }
            Jitter::Equal => {
                let d = self.advance_raw(state);
                let half = d / 2;
                half + rng.random_range(0..=d - half)
            }
            Jitter::Decorrelated => {
                let prev = if state.retries == 0 {
                    self.base
                } else {
                    state.prev
                };
                let hi = prev.saturating_mul(3).max(self.base);
                let sleep = rng.random_range(self.base..=hi).min(self.cap);
                state.prev = sleep;
                state.retries = state.retries.saturating_add(1);
                sleep
            }
        }
    }

    /// Draws the delay before the next retry and advances `state`.
    ///
    /// Never above [`Backoff::cap`]; reads no clock and allocates nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_retry::{Backoff, BackoffState, Jitter, FastRng};
    /// let b = Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(1))?
    ///     .with_jitter(Jitter::Equal);
    /// let mut s = BackoffState::default();
    /// let d = b.next_delay(&mut s, &mut FastRng::seed_from_u64(3));
    /// assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[inline]
    pub fn next_delay<R: Rng + ?Sized>(&self, state: &mut BackoffState, rng: &mut R) -> Duration {
        Duration::from_nanos(self.next_delay_nanos(state, rng))
    }

    /// An endless iterator of delays drawn with `rng` from a fresh state.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_retry::{Backoff, ThreadLocalRng};
    /// let b = Backoff::constant(Duration::from_millis(1))?;
    /// assert_eq!(b.delays(ThreadLocalRng).take(3).count(), 3);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    pub fn delays<R: Rng>(&self, rng: R) -> Delays<R> {
        Delays {
            backoff: *self,
            state: BackoffState::default(),
            rng,
        }
    }
}

/// An endless iterator over the delays of a [`Backoff`], from [`Backoff::delays`].
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{Backoff, FastRng};
/// let mut it = Backoff::constant(Duration::from_millis(1))?.delays(FastRng::seed_from_u64(0));
/// assert_eq!(it.next(), Some(Duration::from_millis(1)));
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Delays<R> {
    backoff: Backoff,
    state: BackoffState,
    rng: R,
}

impl<R: Rng> Iterator for Delays<R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.backoff.next_delay(&mut self.state, &mut self.rng))
    }
}
