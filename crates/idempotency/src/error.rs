//! Errors.

use std::time::Duration;

use quorate_fencing::FencingToken;

/// Why a `(scope, key)` pair was refused.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::{InvalidKey, check_key};
/// assert_eq!(check_key("", "").unwrap_err().to_string(), "idempotency key is empty");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidKey {
    /// The key is empty.
    #[error("idempotency key is empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN).
    #[error("idempotency key of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// The key's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The scope is longer than [`MAX_SCOPE_LEN`](crate::MAX_SCOPE_LEN).
    #[error("idempotency scope of {len} bytes exceeds the limit of {max} bytes")]
    ScopeTooLong {
        /// The scope's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Why a [`StoreConfig`](crate::StoreConfig) was refused.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use quorate_idempotency::StoreConfig;
/// let err = StoreConfig::new(Duration::ZERO, Duration::from_secs(1), 1).unwrap_err();
/// assert!(err.to_string().starts_with("lock ttl"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidConfig {
    /// The lock ttl is zero or over 100 years.
    #[error("lock ttl {0:?} is not in (0, 100 years]")]
    LockTtl(Duration),
    /// The retention is zero or over 100 years.
    #[error("retention {0:?} is not in (0, 100 years]")]
    Retention(Duration),
    /// The response-size limit is zero.
    #[error("response-size limit must be at least one byte")]
    MaxResponseBytes,
}

/// Why a store operation failed.
///
/// The state-machine answers (execute, replay, in progress, fingerprint mismatch) are not
/// errors: they are [`Begin`](crate::Begin) variants. These are refusals of bad input, fencing
/// rejections, damaged or foreign data, and database failures.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::{IdempotencyStore, MemoryStore, Fingerprint, StoreError};
///
/// let store = MemoryStore::new();
/// let err = store.begin("", "", &Fingerprint::of(b"r")).unwrap_err();
/// assert!(matches!(err, StoreError::InvalidKey(_)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The scope or key breaks a limit.
    #[error(transparent)]
    InvalidKey(#[from] InvalidKey),
    /// A response (or recovery-point data) is larger than the store's limit; nothing was
    /// stored.
    #[error("response of {len} bytes exceeds the limit of {max} bytes")]
    ResponseTooLarge {
        /// The response's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A recovery-point phase name is empty or longer than
    /// [`MAX_PHASE_LEN`](crate::MAX_PHASE_LEN).
    #[error("phase name of {len} bytes is not in 1..={max}")]
    InvalidPhase {
        /// The name's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The attempt no longer holds the key: it was taken over after its lock expired (a newer
    /// epoch holds or completed the key), it already completed, or the record expired. Nothing
    /// was written.
    #[error(
        "stale attempt {presented} on key {key:?} in scope {scope:?}: the key is at {}",
        describe_current(*current)
    )]
    StaleAttempt {
        /// The attempt's scope.
        scope: String,
        /// The attempt's key.
        key: String,
        /// The attempt's epoch.
        presented: FencingToken,
        /// The key's current epoch and state, when the record still exists.
        current: Option<(FencingToken, crate::State)>,
    },
    /// A stored record failed to decode. The record is left as it is.
    #[error("stored record for key {key:?} in scope {scope:?} is corrupt: {reason}")]
    Corrupt {
        /// The record's scope.
        scope: String,
        /// The record's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database's schema was written by a newer version of this crate.
    #[error("idempotency schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The version found.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// The database has no schema, or an older one: run the backend's `migrate` first.
    #[error("idempotency schema version {found} found, {supported} required: run migrate first")]
    SchemaOutdated {
        /// The version found (0 when there is none).
        found: u32,
        /// The version this build needs.
        supported: u32,
    },
    /// A key's epoch reached `u64::MAX` (or the backend's integer limit).
    #[error("attempt epochs exhausted for key {key:?}")]
    EpochsExhausted {
        /// The key.
        key: String,
    },
    /// A store was built without any database connection.
    #[error("the store has no database connection")]
    NoConnection,
    /// SQLite failed.
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
}

fn describe_current(current: Option<(FencingToken, crate::State)>) -> String {
    match current {
        Some((epoch, state)) => format!("attempt {epoch} ({state:?})"),
        None => "no record (expired or never begun)".to_owned(),
    }
}

/// A guard against constructing a string-heavy error where a plain check would do.
pub(crate) fn check_phase(phase: &str) -> Result<(), StoreError> {
    if phase.is_empty() || phase.len() > crate::MAX_PHASE_LEN {
        return Err(StoreError::InvalidPhase {
            len: phase.len(),
            max: crate::MAX_PHASE_LEN,
        });
    }
    Ok(())
}
