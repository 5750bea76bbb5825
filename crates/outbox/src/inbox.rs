//! The inbox: effectively-once processing of at-least-once deliveries.

use std::sync::Arc;

use quorate_clocks::{SystemClock, WallClock};

use crate::config::InboxConfig;
use crate::error::InboxError;
use crate::message::MessageId;
use crate::store::OutboxTransaction;

/// Whether [`Inbox::process_once`] applied the effect.
///
/// ```
/// let p: quorate_outbox::Processed<u8> = quorate_outbox::Processed::Duplicate;
/// assert!(p.is_duplicate());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Processed<T> {
    /// First delivery: the effect ran; commit the transaction.
    Applied(T),
    /// Already processed by this consumer: the effect did not run.
    Duplicate,
}

impl<T> Processed<T> {
    /// Whether this was a duplicate.
    #[must_use]
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate)
    }
}

/// Records processed message ids per consumer in the consumer's own transaction.
///
/// The mark and the effect commit together: a duplicate delivery finds the mark and skips the
/// effect; a concurrent duplicate blocks on the mark's unique key until the first commits
/// (then skips) or rolls back (then applies); a rolled-back effect leaves no mark. Marks are
/// kept for [`InboxConfig::retention`], which must exceed the redelivery horizon.
///
/// ```
/// use std::time::Duration;
/// use quorate_outbox::{Inbox, InboxConfig, MessageId, Processed};
/// let mut conn = rusqlite::Connection::open_in_memory()?;
/// quorate_outbox::sqlite::migrate(&conn)?;
/// let inbox = Inbox::new(InboxConfig::new(Duration::from_secs(86_400), Duration::from_secs(3_600))?);
/// let id = MessageId::new("m-1")?;
/// for _ in 0..2 {
///     let mut tx = conn.transaction()?;
///     let r = inbox.process_once(&mut tx, "billing", &id, |_tx| Ok::<_, rusqlite::Error>(1))?;
///     tx.commit()?;
///     let _ = r;
/// }
/// let mut tx = conn.transaction()?;
/// assert!(inbox.process_once(&mut tx, "billing", &id, |_| Ok::<_, rusqlite::Error>(1))?.is_duplicate());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Inbox {
    config: InboxConfig,
    clock: Arc<dyn WallClock>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// An inbox on the system clock.
    #[must_use]
    pub fn new(config: InboxConfig) -> Self {
        Self {
            config,
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` for mark times.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn WallClock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &InboxConfig {
        &self.config
    }

    /// Runs `effect` in `tx` unless `consumer` already processed `message_id`.
    ///
    /// # Errors
    ///
    /// [`InboxError::Store`] when recording the mark fails; [`InboxError::Effect`] with the
    /// effect's error (roll back: drop the transaction).
    pub fn process_once<T, R, E, F>(
        &self,
        tx: &mut T,
        consumer: &str,
        message_id: &MessageId,
        effect: F,
    ) -> Result<Processed<R>, InboxError<E>>
    where
        T: OutboxTransaction + ?Sized,
        F: FnOnce(&mut T) -> Result<R, E>,
    {
        let now = self.now_ms();
        if !tx.inbox_mark(consumer, message_id, now)? {
            return Ok(Processed::Duplicate);
        }
        effect(tx)
            .map(Processed::Applied)
            .map_err(InboxError::Effect)
    }

    /// The time before which marks may be purged.
    #[must_use]
    pub fn purge_before_ms(&self) -> i64 {
        self.now_ms()
            .saturating_sub(crate::config::millis_i64(self.config.retention))
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_unix_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }
}
