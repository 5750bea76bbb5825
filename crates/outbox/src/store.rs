//! The storage interface the relay drives, and the claim planning every backend shares.

use std::time::Duration;

use crate::config::{PoisonPolicies, PoisonPolicy};
use crate::error::StoreError;
use crate::message::{DeadLetter, DeadReason, MessageId, NewMessage, OutboxMessage};

/// What the relay asks a store to claim.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    /// The claiming relay's id.
    pub relay: &'a str,
    /// Now, milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// The claim lasts until this time.
    pub claim_until_ms: i64,
    /// At most this many messages.
    pub max_messages: usize,
    /// Unfinished attempts at which a message is dead-lettered as crash-looping.
    pub crash_limit: u32,
    /// The poison policy per key (for crash-loop dead letters decided at claim time).
    pub poison: &'a PoisonPolicies,
}

/// A message whose publish failed, as the relay reports it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The message's store position.
    pub seq: i64,
    /// Its ordering key.
    pub key: String,
    /// The error text stored as `last_error`.
    pub error: String,
    /// When it may be attempted again (ignored when dead-lettered).
    pub next_attempt_ms: i64,
    /// Dead-letter it, for this reason.
    pub dead: Option<DeadReason>,
    /// Hold its key (strict poison policy) when dead-lettered.
    pub hold_key: bool,
}

/// What happened to a claimed batch; the store applies it in one transaction and releases the
/// claims of `keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Every key the batch claimed.
    pub keys: Vec<String>,
    /// Published messages `(seq, key)`: marked sent.
    pub sent: Vec<(i64, String)>,
    /// Failed messages.
    pub failed: Vec<Failure>,
    /// Claimed but never handed to the sink (shutdown, or after a failure of the same key):
    /// their started-attempt count is taken back.
    pub unattempted: Vec<(i64, String)>,
}

/// Outbox counts for monitoring.
///
/// ```
/// use quorate_outbox::{MemoryOutbox, RelayStore as _};
/// let m = MemoryOutbox::new().metrics(0)?;
/// assert_eq!((m.pending, m.dead_letters, m.oldest_pending_age), (0, 0, None));
/// # Ok::<(), quorate_outbox::StoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct OutboxMetrics {
    /// Messages not yet sent nor dead-lettered.
    pub pending: u64,
    /// Age of the oldest pending message.
    pub oldest_pending_age: Option<Duration>,
    /// Messages in the dead-letter table.
    pub dead_letters: u64,
}

/// A backend the relay can drive: claim batches, record outcomes, report, clean up.
///
/// Implemented by [`MemoryOutbox`](crate::MemoryOutbox), `SqliteRelayStore` and
/// `PgRelayStore`. Each method is one database transaction.
///
/// ```
/// use quorate_outbox::{MemoryOutbox, RelayStore};
/// fn pending(store: &mut dyn RelayStore) -> Result<u64, quorate_outbox::StoreError> {
///     Ok(store.metrics(0)?.pending)
/// }
/// assert_eq!(pending(&mut MemoryOutbox::new())?, 0);
/// # Ok::<(), quorate_outbox::StoreError>(())
/// ```
pub trait RelayStore: Send {
    /// Claims up to `max_messages` pending messages of unclaimed, ready, unheld keys, each
    /// key's messages in commit order, and counts one started attempt for each. Keys whose head
    /// has reached the crash limit have it dead-lettered here.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails.
    fn claim(&mut self, request: &ClaimRequest<'_>) -> Result<Vec<OutboxMessage>, StoreError>;

    /// Applies a batch outcome and releases the batch's claims.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails (the claims then expire by themselves).
    fn complete(
        &mut self,
        relay: &str,
        outcome: &BatchOutcome,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Pending count, oldest pending age and dead-letter count.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails.
    fn metrics(&mut self, now_ms: i64) -> Result<OutboxMetrics, StoreError>;

    /// Deletes at most `limit` sent messages sent before `sent_before_ms` (never pending or
    /// dead-lettered ones) and forgets idle keys with no rows left; returns the messages deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails.
    fn cleanup(&mut self, sent_before_ms: i64, limit: usize) -> Result<u64, StoreError>;

    /// Up to `limit` dead letters, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails or a row is corrupt.
    fn dead_letters(&mut self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;

    /// Lets a key held by the strict poison policy flow again; returns whether it was held.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails.
    fn release_key(&mut self, key: &str) -> Result<bool, StoreError>;
}

impl<S: RelayStore + ?Sized> RelayStore for Box<S> {
    fn claim(&mut self, request: &ClaimRequest<'_>) -> Result<Vec<OutboxMessage>, StoreError> {
        (**self).claim(request)
    }
    fn complete(
        &mut self,
        relay: &str,
        outcome: &BatchOutcome,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        (**self).complete(relay, outcome, now_ms)
    }
    fn metrics(&mut self, now_ms: i64) -> Result<OutboxMetrics, StoreError> {
        (**self).metrics(now_ms)
    }
    fn cleanup(&mut self, sent_before_ms: i64, limit: usize) -> Result<u64, StoreError> {
        (**self).cleanup(sent_before_ms, limit)
    }
    fn dead_letters(&mut self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        (**self).dead_letters(limit)
    }
    fn release_key(&mut self, key: &str) -> Result<bool, StoreError> {
        (**self).release_key(key)
    }
}

/// A transaction the outbox can enqueue into and the inbox can mark in.
///
/// Implemented for `rusqlite::Transaction` (feature `sqlite`), `postgres::Transaction`
/// (feature `postgres`) and [`MemoryTransaction`](crate::MemoryTransaction).
pub trait OutboxTransaction {
    /// Inserts a message (the id already chosen) and takes the key's next position.
    ///
    /// # Errors
    ///
    /// [`InsertError::Duplicate`] when the id exists; [`InsertError::Store`] otherwise.
    fn insert_message(
        &mut self,
        id: &MessageId,
        message: &NewMessage,
        now_ms: i64,
        notify: bool,
    ) -> Result<(), InsertError>;

    /// Counts pending messages.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails.
    fn pending_count(&mut self) -> Result<u64, StoreError>;

    /// Records `(consumer, message_id)`; `false` when it was already recorded.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails.
    fn inbox_mark(
        &mut self,
        consumer: &str,
        message_id: &MessageId,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}

/// Why an insert failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The id is taken.
    #[error("duplicate message id")]
    Duplicate,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A claim candidate as read inside the claim transaction.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) message: OutboxMessage,
    pub(crate) started: u32,
}

/// What the claim transaction does with its candidates.
#[derive(Debug, Default)]
pub(crate) struct ClaimPlan {
    /// Indexes of candidates to claim (bump `started`), in order.
    pub(crate) claim: Vec<usize>,
    /// Keys to mark claimed.
    pub(crate) keys: Vec<String>,
    /// Candidates to dead-letter as crash-looping, with whether their key is held.
    pub(crate) dead: Vec<(usize, bool)>,
}

impl ClaimPlan {
    /// The messages to hand out, in claim order, from the flattened candidates.
    pub(crate) fn messages(&self, flat: &[&Candidate]) -> Vec<OutboxMessage> {
        self.claim
            .iter()
            .filter_map(|i| flat.get(*i).map(|c| c.message.clone()))
            .collect()
    }
}

/// Decides a claim from candidates grouped by key (each group in key order).
///
/// A candidate with more started than finished attempts was in flight when a relay died.
/// At or over the crash limit it is dead-lettered (when at its key's head). Under the limit
/// it is claimed alone, in a batch of one, so that a relay dying on it blames only it;
/// other candidates are left for the next claim.
pub(crate) fn plan_claim(
    groups: &[Vec<Candidate>],
    max_messages: usize,
    crash_limit: u32,
    poison: &PoisonPolicies,
) -> ClaimPlan {
    let mut plan = ClaimPlan::default();
    let mut offset = 0;
    for group in groups {
        let base = offset;
        offset += group.len();
        if plan.claim.len() >= max_messages {
            continue;
        }
        let mut took_any = false;
        for (i, c) in group.iter().enumerate() {
            if plan.claim.len() >= max_messages {
                break;
            }
            let unfinished = c.started.saturating_sub(c.message.attempts);
            if unfinished == 0 {
                plan.claim.push(base + i);
                took_any = true;
                continue;
            }
            if took_any {
                // Becomes the head later; judged then.
                break;
            }
            if unfinished >= crash_limit {
                let hold = poison.for_key(&c.message.key) == PoisonPolicy::Strict;
                plan.dead.push((base + i, hold));
                if hold {
                    break;
                }
                continue;
            }
            if plan.claim.is_empty() {
                // Isolate the suspect: it is the whole batch.
                plan.claim.push(base + i);
                plan.keys.push(c.message.key.clone());
                return plan;
            }
            break;
        }
        if took_any {
            plan.keys.push(group[0].message.key.clone());
        }
    }
    plan
}

/// How many messages to read per key for a claim of `keys` keys.
pub(crate) fn per_key_limit(max_messages: usize, keys: usize) -> usize {
    max_messages.div_ceil(keys.max(1)).max(1)
}
