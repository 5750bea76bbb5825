//! Configuration errors, returned at construction so that a bad policy never reaches run time.

/// An invalid retry, budget or breaker configuration, rejected at construction.
///
/// Every constructor in this crate validates its inputs (minimum above maximum, a growth factor
/// below one, a percentage or ratio out of range, NaN) and returns this error instead of
/// misbehaving later.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{Backoff, ConfigError};
///
/// let err = Backoff::exponential(Duration::from_secs(2), 2.0, Duration::from_secs(1)).unwrap_err();
/// assert_eq!(err, ConfigError::BaseExceedsCap);
/// assert_eq!(err.to_string(), "base delay exceeds the cap");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The base (minimum) delay is larger than the cap (maximum).
    #[error("base delay exceeds the cap")]
    BaseExceedsCap,
    /// The exponential growth factor is below 1, above 1000, or not a number.
    #[error("growth factor must be a number in [1, 1000]")]
    InvalidFactor,
    /// A duration does not fit in 64-bit nanoseconds (about 584 years).
    #[error("duration does not fit in 64-bit nanoseconds")]
    DurationTooLarge,
    /// A numeric parameter is NaN or outside its documented range.
    #[error("{what} is out of range or not a number")]
    OutOfRange {
        /// Which parameter.
        what: &'static str,
    },
    /// A parameter that must be positive is zero.
    #[error("{what} must not be zero")]
    Zero {
        /// Which parameter.
        what: &'static str,
    },
    /// Two settings that cannot be combined (slow-call tracking on a breaker without a
    /// window of calls).
    #[error("{what} is not supported")]
    Unsupported {
        /// Which combination.
        what: &'static str,
    },
}

/// Converts a duration to nanoseconds, rejecting values that overflow `u64`.
pub(crate) fn nanos(d: core::time::Duration) -> Result<u64, ConfigError> {
    u64::try_from(d.as_nanos()).map_err(|_| ConfigError::DurationTooLarge)
}

/// Converts a finite, in-range float to fixed point with `scale` units per 1.0, rounding to
/// nearest.
pub(crate) fn fixed(
    value: f64,
    min: f64,
    max: f64,
    scale: f64,
    what: &'static str,
) -> Result<u64, ConfigError> {
    if !value.is_finite() || value < min || value > max {
        return Err(ConfigError::OutOfRange { what });
    }
    // In range and finite, so the cast cannot saturate for the scales used here.
    Ok((value * scale).round() as u64)
}
