//! Error types.

use crate::message::{InvalidMessage, MessageId};

/// A storage failure: the database refused, or a stored row is not one we wrote.
///
/// ```
/// let e = quorate_outbox::StoreError::Corrupt("bad headers".into());
/// assert_eq!(e.to_string(), "stored outbox row is corrupt: bad headers");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite returned an error.
    #[cfg(feature = "sqlite")]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL returned an error.
    #[cfg(feature = "postgres")]
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    /// A stored row violates the invariants our own writes keep.
    #[error("stored outbox row is corrupt: {0}")]
    Corrupt(String),
    /// The schema is newer than this build understands.
    #[error("outbox schema version {found} is newer than the supported {supported}")]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The tables are missing: run the migration first.
    #[error("outbox schema is not installed (run migrate first)")]
    NotMigrated,
}

/// Why [`Outbox::enqueue`](crate::Outbox::enqueue) refused a message.
///
/// ```
/// use quorate_outbox::EnqueueError;
/// let e = EnqueueError::Backpressure { pending: 10, high_water: 10 };
/// assert_eq!(e.to_string(), "outbox backpressure: 10 messages pending (high-water mark 10)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The message is malformed.
    #[error(transparent)]
    Invalid(#[from] InvalidMessage),
    /// Pending messages reached the high-water mark; enqueue resumes below the low-water mark.
    #[error("outbox backpressure: {pending} messages pending (high-water mark {high_water})")]
    Backpressure {
        /// Pending messages at the last count.
        pending: u64,
        /// The configured high-water mark.
        high_water: u64,
    },
    /// A message with this id is already in the outbox. On PostgreSQL the caller's transaction
    /// is aborted by the failed insert.
    #[error("message id {0} is already in the outbox")]
    DuplicateId(MessageId),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EnqueueError {
    /// `Ok(id)` for an inserted message, else the enqueue error for the insert's failure.
    pub(crate) fn from_insert(
        id: MessageId,
        inserted: Result<(), crate::store::InsertError>,
    ) -> Result<MessageId, Self> {
        match inserted {
            Ok(()) => Ok(id),
            Err(crate::store::InsertError::Duplicate) => Err(Self::DuplicateId(id)),
            Err(crate::store::InsertError::Store(e)) => Err(Self::Store(e)),
        }
    }
}

/// Why a sink did not publish a message.
///
/// ```
/// let e = quorate_outbox::PublishError::transient("broker timeout");
/// assert!(e.is_transient());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// May succeed later: retried with backoff until the maximum number of attempts.
    #[error("transient publish failure: {0}")]
    Transient(String),
    /// Will never succeed (the message cannot be encoded for the broker, the subject is
    /// refused): dead-lettered at once.
    #[error("permanent publish failure: {0}")]
    Permanent(String),
}

impl PublishError {
    /// A transient failure.
    ///
    /// ```
    /// assert!(quorate_outbox::PublishError::transient("x").to_string().contains("x"));
    /// ```
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient(reason.into())
    }
    /// A permanent failure.
    ///
    /// ```
    /// assert!(!quorate_outbox::PublishError::permanent("x").is_transient());
    /// ```
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent(reason.into())
    }
    /// Whether a retry may succeed.
    ///
    /// ```
    /// assert!(quorate_outbox::PublishError::transient("x").is_transient());
    /// ```
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
    pub(crate) fn reason(&self) -> &str {
        match self {
            Self::Transient(r) | Self::Permanent(r) => r,
        }
    }
}

/// A configuration was refused at construction.
///
/// ```
/// use std::time::Duration;
/// use quorate_outbox::InboxConfig;
/// let err = InboxConfig::new(Duration::from_secs(60), Duration::from_secs(120)).unwrap_err();
/// assert!(err.to_string().contains("redelivery horizon"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The inbox would forget a message id while the broker may still redeliver it.
    #[error("inbox retention {retention_ms} ms must exceed the redelivery horizon {horizon_ms} ms")]
    RetentionTooShort {
        /// Configured retention.
        retention_ms: u64,
        /// Configured redelivery horizon.
        horizon_ms: u64,
    },
    /// The low-water mark must be below the high-water mark.
    #[error("low-water mark {low} must be below the high-water mark {high}")]
    WaterMarks {
        /// Low-water mark.
        low: u64,
        /// High-water mark.
        high: u64,
    },
    /// A count or duration that must be positive is zero.
    #[error("{0} must be positive")]
    Zero(&'static str),
}

/// Why a relay step failed (the relay itself keeps running in [`Relay::run`](crate::Relay::run)).
///
/// ```
/// let e = quorate_outbox::RelayError::Store(quorate_outbox::StoreError::NotMigrated);
/// assert!(e.to_string().contains("migrate"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why [`Inbox::process_once`](crate::Inbox::process_once) failed.
///
/// ```
/// let e: quorate_outbox::InboxError<std::io::Error> =
///     quorate_outbox::InboxError::Store(quorate_outbox::StoreError::NotMigrated);
/// assert!(e.to_string().contains("migrate"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError<E> {
    /// Recording the mark failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The effect failed; roll the transaction back (dropping it does).
    #[error("inbox effect failed: {0}")]
    Effect(E),
}
