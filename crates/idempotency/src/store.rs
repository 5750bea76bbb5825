//! The store trait every backend implements.

use crate::error::StoreError;
use crate::types::{Attempt, Begin, Fingerprint, Outcome, Record, StoreConfig};

/// An idempotency-key store: the state machine over durable (or in-memory) records.
///
/// Every backend ([`MemoryStore`](crate::MemoryStore), `SqliteStore`, `PgStore`) implements
/// the same transitions and passes the same conformance suite
/// (`quorate_testkit::idempotency_suite`):
///
/// | state | `begin`, same fingerprint | `begin`, other fingerprint |
/// |---|---|---|
/// | missing | execute, first epoch = creation time in ns | execute, first epoch = creation time in ns |
/// | past retention | execute, epoch + 1 | execute, epoch + 1 |
/// | in progress, lock live | in progress (retry after the time left) | fingerprint mismatch |
/// | in progress, lock expired | execute, epoch + 1, resume after the recovery point | fingerprint mismatch |
/// | failed-retryable | execute, epoch + 1, resume after the recovery point | fingerprint mismatch |
/// | succeeded, failed-final | replay the stored response | fingerprint mismatch |
///
/// [`checkpoint`](Self::checkpoint) and [`complete`](Self::complete) succeed only for the
/// attempt that holds the key (in progress at exactly its epoch), so a worker that paused past
/// its lock and was taken over cannot overwrite the newer attempt's result.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, MemoryStore, Outcome};
///
/// fn capture(store: &dyn IdempotencyStore, key: &str) -> Result<bytes::Bytes, Box<dyn std::error::Error>> {
///     match store.begin("merchant-7", key, &Fingerprint::of(b"capture 100 EUR"))? {
///         Begin::Execute(attempt) => {
///             let response = bytes::Bytes::from_static(b"captured");
///             store.complete(&attempt, Outcome::Succeeded(response.clone()))?;
///             Ok(response)
///         }
///         Begin::Replay(stored) => Ok(stored.response),
///         other => Err(format!("{other:?}").into()),
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// assert_eq!(capture(&store, "k1")?, "captured");
/// assert_eq!(capture(&store, "k1")?, "captured"); // replayed
/// # Ok(())
/// # }
/// ```
pub trait IdempotencyStore: Send + Sync {
    /// Starts (or joins) the operation for `(scope, key)`.
    ///
    /// Returns exactly one of [`Begin::Execute`], [`Begin::Replay`], [`Begin::InProgress`]
    /// (nothing recorded) or [`Begin::FingerprintMismatch`] (the record untouched).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`] for an empty or oversized key or scope,
    /// [`StoreError::Corrupt`] when the stored record does not decode, and database failures.
    fn begin(&self, scope: &str, key: &str, fingerprint: &Fingerprint)
    -> Result<Begin, StoreError>;

    /// Records that `attempt` finished `phase`, with `data` (for example the id of the effect),
    /// and renews its lock. A takeover resumes after the last recorded phase.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleAttempt`] when the attempt no longer holds the key,
    /// [`StoreError::InvalidPhase`], [`StoreError::ResponseTooLarge`] when `data` exceeds the
    /// response-size limit, and database failures.
    fn checkpoint(&self, attempt: &Attempt, phase: &str, data: &[u8]) -> Result<(), StoreError>;

    /// Ends `attempt`: a terminal outcome is stored for replay; a retryable failure releases the
    /// key.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleAttempt`] when the attempt no longer holds the key (nothing is
    /// written), [`StoreError::ResponseTooLarge`] (nothing is written; the attempt still holds
    /// the key), and database failures.
    fn complete(&self, attempt: &Attempt, outcome: Outcome) -> Result<(), StoreError>;

    /// The record of `(scope, key)`, or `None` when there is none or it is past retention.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`], [`StoreError::Corrupt`] and database failures.
    fn get(&self, scope: &str, key: &str) -> Result<Option<Record>, StoreError>;

    /// Deletes up to `max` records past retention; never a record whose lock is live. Returns
    /// how many were deleted; call again while it returns `max`.
    ///
    /// # Errors
    ///
    /// Database failures.
    fn reap(&self, max: usize) -> Result<usize, StoreError>;

    /// The store's configuration.
    fn config(&self) -> &StoreConfig;
}

impl<S: IdempotencyStore + ?Sized> IdempotencyStore for std::sync::Arc<S> {
    fn begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Begin, StoreError> {
        (**self).begin(scope, key, fingerprint)
    }
    fn checkpoint(&self, attempt: &Attempt, phase: &str, data: &[u8]) -> Result<(), StoreError> {
        (**self).checkpoint(attempt, phase, data)
    }
    fn complete(&self, attempt: &Attempt, outcome: Outcome) -> Result<(), StoreError> {
        (**self).complete(attempt, outcome)
    }
    fn get(&self, scope: &str, key: &str) -> Result<Option<Record>, StoreError> {
        (**self).get(scope, key)
    }
    fn reap(&self, max: usize) -> Result<usize, StoreError> {
        (**self).reap(max)
    }
    fn config(&self) -> &StoreConfig {
        (**self).config()
    }
}
