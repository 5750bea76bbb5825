//! Enqueueing inside the caller's transaction, with backpressure.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use quorate_clocks::{SystemClock, WallClock};
use quorate_retry::FastRng;
use rand::RngCore as _;

use crate::config::{Backpressure, millis_i64};
use crate::error::EnqueueError;
use crate::message::{MessageId, NewMessage};
use crate::store::OutboxTransaction;

#[derive(Debug, Default)]
struct BpState {
    throttled: bool,
    estimate: u64,
    counted_at_ms: Option<i64>,
}

/// The enqueue side of the outbox: writes messages into the caller's transaction.
///
/// A rolled-back transaction leaves no message; a committed one is published at least once by
/// a [`Relay`](crate::Relay). Share one `Outbox` (it is `Send + Sync`) across the application.
///
/// ```
/// use quorate_outbox::{NewMessage, Outbox};
/// let mut conn = rusqlite::Connection::open_in_memory()?;
/// quorate_outbox::sqlite::migrate(&conn)?;
/// let outbox = Outbox::builder().build();
///
/// let mut tx = conn.transaction()?;
/// tx.execute("CREATE TABLE payments (id TEXT, state TEXT)", [])?;
/// tx.execute("INSERT INTO payments VALUES ('p1', 'captured')", [])?;
/// outbox.enqueue(&mut tx, &NewMessage::new("p1", "payment.captured", &b"{}"[..])?)?;
/// tx.commit()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Arc<dyn WallClock>,
    rng: Mutex<FastRng>,
    backpressure: Option<Backpressure>,
    bp: Mutex<BpState>,
    notify: bool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("backpressure", &self.backpressure)
            .field("notify", &self.notify)
            .finish_non_exhaustive()
    }
}

/// Builder of [`Outbox`].
///
/// ```
/// use std::time::Duration;
/// use quorate_outbox::{Backpressure, Outbox};
/// let outbox = Outbox::builder()
///     .backpressure(Backpressure::new(10_000, 8_000, Duration::from_millis(100))?)
///     .seed(7)
///     .build();
/// # let _ = outbox;
/// # Ok::<(), quorate_outbox::ConfigError>(())
/// ```
pub struct OutboxBuilder {
    clock: Arc<dyn WallClock>,
    seed: Option<u64>,
    backpressure: Option<Backpressure>,
    notify: bool,
}

impl std::fmt::Debug for OutboxBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxBuilder")
            .field("seed", &self.seed)
            .field("backpressure", &self.backpressure)
            .finish_non_exhaustive()
    }
}

impl OutboxBuilder {
    /// The wall clock stamping `created_at` (default [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn WallClock>) -> Self {
        self.clock = clock;
        self
    }
    /// Seeds the generator of message ids (default: from the thread RNG).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Enables backpressure.
    #[must_use]
    pub fn backpressure(mut self, bp: Backpressure) -> Self {
        self.backpressure = Some(bp);
        self
    }
    /// On PostgreSQL, whether enqueue sends `NOTIFY quorate_outbox` (a wake-up hint for relays
    /// listening; default on). Other backends ignore it.
    #[must_use]
    pub fn notify(mut self, on: bool) -> Self {
        self.notify = on;
        self
    }
    /// Builds the outbox.
    #[must_use]
    pub fn build(self) -> Outbox {
        let seed = self.seed.unwrap_or_else(|| rand::rng().next_u64());
        Outbox {
            inner: Arc::new(Inner {
                clock: self.clock,
                rng: Mutex::new(FastRng::seed_from_u64(seed)),
                backpressure: self.backpressure,
                bp: Mutex::new(BpState::default()),
                notify: self.notify,
            }),
        }
    }
}

impl Outbox {
    /// A builder: system clock, random seed, no backpressure, NOTIFY on.
    #[must_use]
    pub fn builder() -> OutboxBuilder {
        OutboxBuilder {
            clock: Arc::new(SystemClock),
            seed: None,
            backpressure: None,
            notify: true,
        }
    }

    /// Writes `message` into `tx`; returns its id (the caller's, or a time-ordered random one:
    /// [`MessageId::time_ordered`]).
    ///
    /// Writes one row. Within one ordering key, messages are published in commit order: on
    /// PostgreSQL the insert takes a transaction-scoped lock on the key before it draws the
    /// row's position, so two transactions enqueueing to one key commit one after the other;
    /// SQLite and the memory store have one writer. On PostgreSQL, prepare the statement once
    /// per connection with `pg::PreparedEnqueue` (feature
    /// `postgres`) to save the server's parse and plan on every call.
    ///
    /// # Errors
    ///
    /// [`EnqueueError::Backpressure`] above the high-water mark (until the count falls to the
    /// low-water mark; after waiting up to [`Backpressure::wait_up_to`] if set),
    /// [`EnqueueError::DuplicateId`] for an id already in the outbox,
    /// [`EnqueueError::Store`] when the database fails.
    pub fn enqueue<T: OutboxTransaction + ?Sized>(
        &self,
        tx: &mut T,
        message: &NewMessage,
    ) -> Result<MessageId, EnqueueError> {
        let now = self.now_ms();
        if let Some(bp) = self.inner.backpressure {
            self.check_backpressure(tx, &bp, now)?;
        }
        let id = self.message_id(message, now);
        let inserted = tx.insert_message(&id, message, now, self.inner.notify);
        EnqueueError::from_insert(id, inserted)
    }

    /// The message's own id, or a fresh time-ordered one.
    pub(crate) fn message_id(&self, message: &NewMessage, now_ms: i64) -> MessageId {
        match &message.id {
            Some(id) => id.clone(),
            None => MessageId::time_ordered(now_ms, &mut *self.inner.rng.lock()),
        }
    }

    /// Now, from the outbox's clock, in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        i64::try_from(self.inner.clock.now_unix_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    #[cfg_attr(not(all(feature = "tokio", feature = "postgres")), allow(dead_code))]
    pub(crate) fn notify_enabled(&self) -> bool {
        self.inner.notify
    }

    fn check_backpressure<T: OutboxTransaction + ?Sized>(
        &self,
        tx: &mut T,
        bp: &Backpressure,
        now: i64,
    ) -> Result<(), EnqueueError> {
        if !self.needs_count(bp, now) {
            return self.admit(bp, None, now);
        }
        let pending = tx.pending_count()?;
        let mut result = self.admit(bp, Some(pending), now);
        let mut waited = Duration::ZERO;
        while result.is_err() && waited < bp.wait {
            let step = bp.poll().min(bp.wait.saturating_sub(waited));
            std::thread::sleep(step);
            waited += step;
            let pending = tx.pending_count()?;
            result = self.admit(bp, Some(pending), self.now_ms());
        }
        result
    }

    /// Whether the pending count must be taken before admitting a message.
    pub(crate) fn needs_count(&self, bp: &Backpressure, now: i64) -> bool {
        let st = self.inner.bp.lock();
        st.throttled
            || st.estimate >= bp.high
            || st
                .counted_at_ms
                .is_none_or(|t| now.saturating_sub(t) >= millis_i64(bp.recount))
    }

    /// Records a fresh count (if any), moves between throttled and open with hysteresis, and
    /// admits one message or refuses it.
    pub(crate) fn admit(
        &self,
        bp: &Backpressure,
        counted: Option<u64>,
        now: i64,
    ) -> Result<(), EnqueueError> {
        let mut st = self.inner.bp.lock();
        if let Some(pending) = counted {
            st.estimate = pending;
            st.counted_at_ms = Some(now);
            if pending >= bp.high {
                st.throttled = true;
            } else if pending <= bp.low {
                st.throttled = false;
            }
        }
        if st.throttled {
            return Err(EnqueueError::Backpressure {
                pending: st.estimate,
                high_water: bp.high,
            });
        }
        st.estimate += 1;
        Ok(())
    }

    #[cfg_attr(not(all(feature = "tokio", feature = "postgres")), allow(dead_code))]
    pub(crate) fn backpressure(&self) -> Option<Backpressure> {
        self.inner.backpressure
    }
}
