//! Outcome classes: what a failed attempt means for whether (and how) to retry it.

use core::time::Duration;

/// What a failed attempt tells us about the operation and the server.
///
/// The class decides everything downstream: whether a retry is safe at all, whether it spends
/// retry budget, and what the budgets learn about the server's health.
///
/// | class | did it happen? | retried when | spends budget |
/// |---|---|---|---|
/// | [`NotSent`](Self::NotSent) | no, never left the client | always | no |
/// | [`Throttled`](Self::Throttled) | no, the server refused | always | yes |
/// | [`Transient`](Self::Transient) | no, failed before any effect | always | yes |
/// | [`Timeout`](Self::Timeout) | unknown | idempotent or keyed | yes (timeout cost) |
/// | [`Ambiguous`](Self::Ambiguous) | unknown | idempotent or keyed | yes |
/// | [`Fatal`](Self::Fatal) | rejected for good | never | no |
///
/// ```
/// use quorate_retry::OutcomeClass;
/// assert!(OutcomeClass::Timeout.is_ambiguous());
/// assert!(!OutcomeClass::Fatal.is_retryable());
/// ```
///
/// It is also an error type (lowercase Display), handy when an operation has nothing richer
/// to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum OutcomeClass {
    /// The request never left the client (connect refused, pool empty): safe to retry, and it
    /// spends no budget because the server saw nothing (gRFC A6 likewise keeps transparent
    /// retries out of its throttle). Unlike gRPC's transparent retries, an unsent attempt
    /// still counts toward [`RetryPolicy::with_max_attempts`](crate::RetryPolicy::with_max_attempts),
    /// so a dependency that refuses every connection cannot loop a caller that set no deadline.
    #[error("request not sent")]
    NotSent,
    /// The server shed the request (429, `RESOURCE_EXHAUSTED`, "slow down"): it did not happen.
    #[error("request throttled")]
    Throttled,
    /// A transient failure known to have had no effect (503 before processing, reset before
    /// the request was written).
    #[error("transient failure")]
    Transient,
    /// The attempt timed out: the operation may have happened, may still be running.
    #[error("attempt timed out")]
    Timeout,
    /// Any other outcome where the operation may have happened (connection lost after the
    /// request was sent, 502 from a proxy).
    #[error("ambiguous outcome")]
    Ambiguous,
    /// A permanent failure (validation error, 4xx other than 429, business rule): retrying
    /// cannot help.
    #[error("fatal failure")]
    Fatal,
}

impl OutcomeClass {
    /// Whether the operation may have taken effect ([`Timeout`](Self::Timeout) or
    /// [`Ambiguous`](Self::Ambiguous)); such outcomes are retried only for idempotent or keyed
    /// operations.
    ///
    /// ```
    /// assert!(quorate_retry::OutcomeClass::Ambiguous.is_ambiguous());
    /// ```
    #[must_use]
    pub const fn is_ambiguous(self) -> bool {
        matches!(self, Self::Timeout | Self::Ambiguous)
    }

    /// Whether any retry could help (everything but [`Fatal`](Self::Fatal)).
    ///
    /// ```
    /// assert!(quorate_retry::OutcomeClass::Throttled.is_retryable());
    /// ```
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        !matches!(self, Self::Fatal)
    }
}

/// Whether repeating an operation is safe when an earlier attempt may have taken effect.
///
/// ```
/// use quorate_retry::Idempotency;
/// assert!(!Idempotency::default().retries_ambiguous());
/// assert!(Idempotency::Keyed.retries_ambiguous());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Idempotency {
    /// Repeating may apply the operation twice (the safe default).
    #[default]
    NotIdempotent,
    /// The operation is naturally idempotent (a read, a `PUT` of a whole value).
    Idempotent,
    /// The operation carries an idempotency key the server deduplicates on.
    Keyed,
}

impl Idempotency {
    /// Whether ambiguous outcomes may be retried.
    ///
    /// ```
    /// assert!(quorate_retry::Idempotency::Idempotent.retries_ambiguous());
    /// ```
    #[must_use]
    pub const fn retries_ambiguous(self) -> bool {
        !matches!(self, Self::NotIdempotent)
    }
}

/// The class of a failed attempt plus the server's pushback, if it sent one.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{Classification, OutcomeClass};
/// let c = Classification::new(OutcomeClass::Throttled).with_retry_after(Duration::from_secs(1));
/// assert_eq!(c.retry_after, Some(Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Classification {
    /// What the failure means.
    pub class: OutcomeClass,
    /// Server pushback (`Retry-After`, gRPC `grpc-retry-pushback-ms`): how long the server
    /// wants the client to wait before the next attempt. As in gRFC A6, the planner retries
    /// after exactly this delay (without jitter, and not clamped to the backoff cap, so the
    /// retry is never earlier than the server asked, as RFC 9110's `Retry-After` requires),
    /// then restarts its backoff from the first delay. If the pushback plus the attempt
    /// would end past the deadline it gives up at once
    /// ([`GiveUpReason::DeadlineExceeded`](crate::GiveUpReason::DeadlineExceeded)). A pushback
    /// that says "do not retry" is a [`Fatal`](OutcomeClass::Fatal) classification.
    pub retry_after: Option<Duration>,
}

impl Classification {
    /// A classification without pushback.
    ///
    /// ```
    /// let c = quorate_retry::Classification::new(quorate_retry::OutcomeClass::Transient);
    /// assert_eq!(c.retry_after, None);
    /// ```
    #[must_use]
    pub const fn new(class: OutcomeClass) -> Self {
        Self {
            class,
            retry_after: None,
        }
    }

    /// The same classification with server pushback.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = quorate_retry::Classification::new(quorate_retry::OutcomeClass::Throttled)
    ///     .with_retry_after(Duration::from_millis(5));
    /// assert!(c.retry_after.is_some());
    /// ```
    #[must_use]
    pub const fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }
}

impl From<OutcomeClass> for Classification {
    fn from(class: OutcomeClass) -> Self {
        Self::new(class)
    }
}

/// Maps a user's error type to an [`OutcomeClass`] (and optional pushback).
///
/// Implement it for your transport or client error so the executors know what each failure
/// means. It is implemented for [`std::io::Error`] by error kind.
///
/// ```
/// use quorate_retry::{Classify, Classification, OutcomeClass};
///
/// #[derive(Debug)]
/// enum HttpError { Status(u16), Refused }
///
/// impl Classify for HttpError {
///     fn classify(&self) -> Classification {
///         match self {
///             HttpError::Refused => OutcomeClass::NotSent.into(),
///             HttpError::Status(429) => OutcomeClass::Throttled.into(),
///             HttpError::Status(502 | 504) => OutcomeClass::Ambiguous.into(),
///             HttpError::Status(503) => OutcomeClass::Transient.into(),
///             HttpError::Status(_) => OutcomeClass::Fatal.into(),
///         }
///     }
/// }
/// assert_eq!(HttpError::Status(429).classify().class, OutcomeClass::Throttled);
/// ```
pub trait Classify {
    /// The class of this failure.
    fn classify(&self) -> Classification;
}

impl<T: Classify + ?Sized> Classify for &T {
    fn classify(&self) -> Classification {
        (**self).classify()
    }
}

impl<T: Classify + ?Sized> Classify for Box<T> {
    fn classify(&self) -> Classification {
        (**self).classify()
    }
}

impl Classify for OutcomeClass {
    fn classify(&self) -> Classification {
        Classification::new(*self)
    }
}

impl Classify for Classification {
    fn classify(&self) -> Classification {
        *self
    }
}

impl Classify for std::io::Error {
    /// `ConnectionRefused`, `AddrNotAvailable`, `NotConnected` → not sent; `TimedOut` →
    /// timeout; `Interrupted`, `WouldBlock` → transient; `ConnectionReset`,
    /// `ConnectionAborted`, `BrokenPipe`, `UnexpectedEof` → ambiguous; anything else → fatal.
    fn classify(&self) -> Classification {
        use std::io::ErrorKind as K;
        let class = match self.kind() {
            K::ConnectionRefused | K::AddrNotAvailable | K::NotConnected => OutcomeClass::NotSent,
            K::TimedOut => OutcomeClass::Timeout,
            K::Interrupted | K::WouldBlock => OutcomeClass::Transient,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                OutcomeClass::Ambiguous
            }
            _ => OutcomeClass::Fatal,
        };
        Classification::new(class)
    }
}
