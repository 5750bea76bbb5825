//! The relay: claim, publish in per-key order, record, repeat.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use quorate_clocks::{MonotonicClock, SystemClock, WallClock};
use quorate_retry::{BackoffState, FastRng};
use rand::RngCore as _;

use crate::config::{PoisonPolicy, RelayConfig, millis_i64};
use crate::error::{PublishError, RelayError};
use crate::message::{DeadReason, OutboxMessage};
use crate::sink::Sink;
use crate::store::{BatchOutcome, ClaimRequest, Failure, OutboxMetrics, RelayStore};

/// A step of the relay, reported to an observer (tests put crash points here).
///
/// ```
/// assert_eq!(quorate_outbox::RelayStep::Published.as_str(), "relay.published");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RelayStep {
    /// A batch was claimed (committed), nothing published yet.
    Claimed,
    /// The sink acknowledged a wave of messages; they are not yet marked sent.
    Published,
    /// The batch outcome was recorded and its claims released.
    Completed,
}

impl RelayStep {
    /// A stable name (`relay.claimed`, `relay.published`, `relay.completed`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "relay.claimed",
            Self::Published => "relay.published",
            Self::Completed => "relay.completed",
        }
    }
}

/// What one [`Relay::run_once`] did.
///
/// ```
/// let o = quorate_outbox::RunOutcome::default();
/// assert_eq!(o.claimed, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct RunOutcome {
    /// Messages claimed.
    pub claimed: usize,
    /// Messages published and marked sent.
    pub sent: usize,
    /// Publishes that failed and will be retried.
    pub retried: usize,
    /// Messages dead-lettered by this batch.
    pub dead_lettered: usize,
    /// Claimed messages released unattempted.
    pub released: usize,
}

/// Publish latency observed by one relay: time spent in the sink per acknowledged message.
///
/// ```
/// let s = quorate_outbox::PublishLatency::default();
/// assert_eq!(s.mean(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PublishLatency {
    /// Messages acknowledged.
    pub count: u64,
    /// Total sink time attributed to them, nanoseconds.
    pub total_nanos: u64,
    /// The longest single sink call, nanoseconds.
    pub max_nanos: u64,
    /// The longest enqueue-to-acknowledgement delay seen, milliseconds (wall clock).
    pub max_lag_ms: u64,
}

impl PublishLatency {
    /// Mean sink time per message.
    #[must_use]
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.total_nanos / self.count))
    }
}

/// Relay metrics: the store's counts plus this relay's publish latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct RelayMetrics {
    /// Pending, oldest pending age, dead letters.
    pub outbox: OutboxMetrics,
    /// Publish latency.
    pub latency: PublishLatency,
}

#[derive(Debug, Default)]
struct SignalState {
    shutdown: bool,
    woken: bool,
}

/// Wake-up and shutdown for a running [`Relay::run`]; clones share the signal.
///
/// ```
/// let signal = quorate_outbox::RelaySignal::new();
/// signal.wake();
/// assert!(!signal.is_shutdown());
/// signal.shutdown();
/// assert!(signal.is_shutdown());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RelaySignal {
    inner: Arc<(Mutex<SignalState>, Condvar)>,
}

impl RelaySignal {
    /// A fresh signal.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// Ends the sleep of a waiting relay (a hint that messages arrived).
    pub fn wake(&self) {
        let (m, c) = &*self.inner;
        m.lock().unwrap_or_else(PoisonError::into_inner).woken = true;
        c.notify_all();
    }
    /// Asks the relay to stop after releasing its claims.
    pub fn shutdown(&self) {
        let (m, c) = &*self.inner;
        m.lock().unwrap_or_else(PoisonError::into_inner).shutdown = true;
        c.notify_all();
    }
    /// Whether shutdown was requested.
    #[must_use]
    pub fn is_shutdown(&self) -> bool {
        self.inner
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .shutdown
    }
    /// Sleeps up to `timeout`, less if woken or shut down; consumes the wake-up.
    pub fn wait(&self, timeout: Duration) {
        let (m, c) = &*self.inner;
        let st = m.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut st, _) = c
            .wait_timeout_while(st, timeout, |s| !s.woken && !s.shutdown)
            .unwrap_or_else(PoisonError::into_inner);
        st.woken = false;
    }
}

type Observer = Arc<dyn Fn(RelayStep) + Send + Sync>;

/// Publishes committed outbox messages to a sink, at least once, in commit order per key.
///
/// Each [`run_once`](Relay::run_once): claim a batch (keys claimed exclusively until the claim
/// timeout), publish it in waves (the n-th message of every key in wave n, so a key's message
/// is published only after its predecessor was acknowledged), then record the outcome and
/// release the claims in one transaction. Failed publishes are retried after a jittered
/// backoff (the key waits: order holds); after `max_attempts`, or at once for a permanent
/// error, the message is dead-lettered and the key held (strict) or continued (lenient).
///
/// ```
/// use quorate_outbox::{MemoryOutbox, MemorySink, NewMessage, Outbox, Relay, RelayConfig};
/// let store = MemoryOutbox::new();
/// let outbox = Outbox::builder().build();
/// for i in 0..3 {
///     let mut tx = store.begin();
///     outbox.enqueue(&mut tx, &NewMessage::new("k", "t", vec![i])?)?;
///     tx.commit();
/// }
/// let sink = MemorySink::new();
/// let mut relay = Relay::new(store, sink.clone(), RelayConfig::builder().build()?);
/// relay.run_once()?;
/// let order: Vec<u8> = sink.messages().iter().map(|m| m.payload()[0]).collect();
/// assert_eq!(order, [0, 1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Relay<S, K> {
    store: S,
    sink: K,
    config: RelayConfig,
    clock: Arc<dyn WallClock>,
    mono: Arc<dyn MonotonicClock>,
    rng: FastRng,
    observer: Option<Observer>,
    latency: PublishLatency,
}

impl<S, K> fmt::Debug for Relay<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.config)
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl<S: RelayStore, K: Sink> Relay<S, K> {
    /// A relay over `store` publishing to `sink`, on the system clock.
    pub fn new(store: S, sink: K, config: RelayConfig) -> Self {
        let seed = config.seed.unwrap_or_else(|| rand::rng().next_u64());
        Self {
            store,
            sink,
            config,
            clock: Arc::new(SystemClock),
            mono: Arc::new(SystemClock),
            rng: FastRng::seed_from_u64(seed),
            observer: None,
            latency: PublishLatency::default(),
        }
    }

    /// Uses these clocks (claims, backoff and ages use `wall`; latency uses `mono`).
    #[must_use]
    pub fn with_clocks(mut self, wall: Arc<dyn WallClock>, mono: Arc<dyn MonotonicClock>) -> Self {
        self.clock = wall;
        self.mono = mono;
        self
    }

    /// Calls `f` at each [`RelayStep`] (crash injection in tests, tracing).
    #[must_use]
    pub fn with_observer(mut self, f: impl Fn(RelayStep) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// The store.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The sink.
    pub fn sink_mut(&mut self) -> &mut K {
        &mut self.sink
    }

    /// Store counts plus this relay's publish latency.
    ///
    /// # Errors
    ///
    /// [`RelayError::Store`] when the store fails.
    pub fn metrics(&mut self) -> Result<RelayMetrics, RelayError> {
        let now = self.now_ms();
        Ok(RelayMetrics {
            outbox: self.store.metrics(now)?,
            latency: self.latency,
        })
    }

    /// Deletes at most `limit` messages sent more than `retention` ago.
    ///
    /// # Errors
    ///
    /// [`RelayError::Store`] when the store fails.
    pub fn cleanup(&mut self, retention: Duration, limit: usize) -> Result<u64, RelayError> {
        let before = self.now_ms().saturating_sub(millis_i64(retention));
        Ok(self.store.cleanup(before, limit)?)
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_unix_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    fn step(&self, step: RelayStep) {
        if let Some(f) = &self.observer {
            f(step);
        }
    }

    /// Claims, publishes and records one batch.
    ///
    /// # Errors
    ///
    /// [`RelayError::Store`] when claiming or recording fails (claims then expire by
    /// themselves; published messages are published again: at least once).
    pub fn run_once(&mut self) -> Result<RunOutcome, RelayError> {
        self.run_batch(None)
    }

    fn run_batch(&mut self, signal: Option<&RelaySignal>) -> Result<RunOutcome, RelayError> {
        let now = self.now_ms();
        let claim_until = now.saturating_add(millis_i64(self.config.claim_timeout));
        let claimed = self.store.claim(&ClaimRequest {
            relay: &self.config.relay_id,
            now_ms: now,
            claim_until_ms: claim_until,
            max_messages: self.config.batch_size,
            crash_limit: self.config.crash_limit,
            poison: &self.config.poison,
        })?;
        let mut outcome = RunOutcome {
            claimed: claimed.len(),
            ..RunOutcome::default()
        };
        if claimed.is_empty() {
            return Ok(outcome);
        }
        self.step(RelayStep::Claimed);

        // Group by key, keeping each key's commit order.
        let mut queues: Vec<VecDeque<OutboxMessage>> = Vec::new();
        for m in claimed {
            match queues
                .iter_mut()
                .find(|q| q.front().is_some_and(|f| f.key == m.key))
            {
                Some(q) => q.push_back(m),
                None => queues.push(VecDeque::from([m])),
            }
        }
        let mut batch = BatchOutcome {
            keys: queues
                .iter()
                .filter_map(|q| q.front().map(|m| m.key.clone()))
                .collect(),
            ..BatchOutcome::default()
        };
        // Stop publishing with a margin before the claim expires.
        let deadline = claim_until.saturating_sub(millis_i64(self.config.claim_timeout) / 4);
        loop {
            let active: Vec<usize> = (0..queues.len())
                .filter(|i| !queues[*i].is_empty())
                .collect();
            if active.is_empty() {
                break;
            }
            if signal.is_some_and(RelaySignal::is_shutdown) || self.now_ms() >= deadline {
                break;
            }
            let wave: Vec<(usize, OutboxMessage)> = active
                .iter()
                .filter_map(|i| queues[*i].pop_front().map(|m| (*i, m)))
                .collect();
            let refs: Vec<&OutboxMessage> = wave.iter().map(|(_, m)| m).collect();
            let started = self.mono.now_nanos();
            let results = self.sink.publish_batch(&refs);
            let elapsed = self.mono.now_nanos().saturating_sub(started);
            let acked_at = self.now_ms();
            let per_message = elapsed / wave.len().max(1) as u64;
            let mut any_ok = false;
            let mut stopped = Vec::new();
            for (pos, (qi, m)) in wave.into_iter().enumerate() {
                let result = results.get(pos).cloned().unwrap_or_else(|| {
                    Err(PublishError::transient("sink returned too few results"))
                });
                match result {
                    Ok(()) => {
                        any_ok = true;
                        self.record_latency(per_message, elapsed, acked_at, &m);
                        batch.sent.push((m.seq, m.key));
                    }
                    Err(e) => {
                        let failure = self.failure(&m, &e, acked_at);
                        if failure.dead.is_some() {
                            outcome.dead_lettered += 1;
                        } else {
                            outcome.retried += 1;
                        }
                        batch.failed.push(failure);
                        stopped.push(qi);
                    }
                }
            }
            if any_ok {
                self.step(RelayStep::Published);
            }
            for qi in stopped {
                // The key waits for the retry (or is held / continued by the next claim).
                for m in queues[qi].drain(..) {
                    batch.unattempted.push((m.seq, m.key));
                }
            }
        }
        for q in &mut queues {
            for m in q.drain(..) {
                batch.unattempted.push((m.seq, m.key));
            }
        }
        outcome.sent = batch.sent.len();
        outcome.released = batch.unattempted.len();
        self.store
            .complete(&self.config.relay_id, &batch, self.now_ms())?;
        self.step(RelayStep::Completed);
        Ok(outcome)
    }

    fn record_latency(&mut self, per_message: u64, call: u64, acked_at: i64, m: &OutboxMessage) {
        let l = &mut self.latency;
        l.count += 1;
        l.total_nanos = l.total_nanos.saturating_add(per_message);
        l.max_nanos = l.max_nanos.max(call);
        let lag = u64::try_from(acked_at.saturating_sub(m.created_at_ms)).unwrap_or(0);
        l.max_lag_ms = l.max_lag_ms.max(lag);
    }

    fn failure(&mut self, m: &OutboxMessage, e: &PublishError, now: i64) -> Failure {
        let attempts = m.attempts.saturating_add(1);
        let dead = if !e.is_transient() {
            Some(DeadReason::Permanent)
        } else if attempts >= self.config.max_attempts {
            Some(DeadReason::MaxAttempts)
        } else {
            None
        };
        // Replay the backoff state to this attempt: delays depend only on the attempt number
        // (and, for decorrelated jitter, the previous draw), so nothing but `attempts` is stored.
        let mut state = BackoffState::new();
        let mut delay = Duration::ZERO;
        for _ in 0..attempts.min(64) {
            delay = self.config.backoff.next_delay(&mut state, &mut self.rng);
        }
        Failure {
            seq: m.seq,
            key: m.key.clone(),
            error: e.reason().to_owned(),
            next_attempt_ms: now.saturating_add(millis_i64(delay)),
            dead,
            hold_key: self.config.poison.for_key(&m.key) == PoisonPolicy::Strict,
        }
    }

    /// Runs batches until `signal` asks for shutdown: after an empty claim it sleeps up to the
    /// poll interval (a [`RelaySignal::wake`], for example from LISTEN/NOTIFY, ends the sleep
    /// early); after a store error it sleeps with backoff and tries again. Shutdown stops
    /// between waves and releases the remaining claims, so no key waits for a claim timeout.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for fatal conditions.
    pub fn run(&mut self, signal: &RelaySignal) -> Result<(), RelayError> {
        let mut errors = BackoffState::new();
        while !signal.is_shutdown() {
            match self.run_batch(Some(signal)) {
                Ok(o) => {
                    errors = BackoffState::new();
                    if o.claimed == 0 {
                        signal.wait(self.config.poll_interval);
                    }
                }
                Err(_) => {
                    let d = self.config.backoff.next_delay(&mut errors, &mut self.rng);
                    signal.wait(d.min(self.config.poll_interval.saturating_mul(10)));
                }
            }
        }
        Ok(())
    }

    /// Gives back the store and the sink.
    pub fn into_parts(self) -> (S, K) {
        (self.store, self.sink)
    }
}
