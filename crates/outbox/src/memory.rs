//! The in-memory backend: the reference implementation of the store semantics, for tests,
//! examples and the loom model.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use crate::error::StoreError;
use crate::message::{DeadLetter, DeadReason, MessageId, NewMessage, OutboxMessage};
use crate::store::{
    BatchOutcome, Candidate, ClaimRequest, InsertError, OutboxMetrics, OutboxTransaction,
    RelayStore, per_key_limit, plan_claim,
};
use crate::sync::{Arc, Mutex, lock};

#[derive(Debug, Default)]
struct KeyState {
    next_key_seq: i64,
    /// Pending store positions in key order.
    pending: VecDeque<i64>,
    ready_at: i64,
    served_at: i64,
    held: bool,
    claimed_by: Option<String>,
    claim_until: i64,
}

#[derive(Debug)]
struct Row {
    message: OutboxMessage,
    started: u32,
    sent_at: Option<i64>,
    next_attempt_ms: i64,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    next_seq: i64,
    keys: BTreeMap<String, KeyState>,
    rows: BTreeMap<i64, Row>,
    ids: HashSet<MessageId>,
    dead: Vec<DeadLetter>,
    inbox: HashMap<(String, MessageId), i64>,
}

/// Serializes writers like SQLite's single writer lock (std primitives: the loom model does not
/// explore enqueue concurrency).
#[derive(Debug, Default)]
struct WriterLock {
    busy: std::sync::Mutex<bool>,
    cond: std::sync::Condvar,
}

impl WriterLock {
    fn acquire(&self) {
        let mut busy = self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *busy {
            busy = self
                .cond
                .wait(busy)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *busy = true;
    }
    fn release(&self) {
        *self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
        self.cond.notify_one();
    }
}

/// An outbox, relay store and inbox held in memory; clones share the same data.
///
/// Transactions ([`MemoryOutbox::begin`]) are serialized like SQLite's: a second `begin` waits
/// until the first commits or is dropped (rolled back). Positions within a key are assigned at
/// commit, so they follow commit order.
///
/// ```
/// use quorate_outbox::{MemoryOutbox, MemorySink, NewMessage, Outbox, Relay, RelayConfig};
/// let store = MemoryOutbox::new();
/// let outbox = Outbox::builder().build();
/// let mut tx = store.begin();
/// outbox.enqueue(&mut tx, &NewMessage::new("order-1", "order.placed", &b"{}"[..])?)?;
/// tx.commit();
///
/// let sink = MemorySink::new();
/// let mut relay = Relay::new(store.clone(), sink.clone(), RelayConfig::builder().build()?);
/// assert_eq!(relay.run_once()?.sent, 1);
/// assert_eq!(sink.messages()[0].key(), "order-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryOutbox {
    state: Arc<Mutex<State>>,
    writer: Arc<WriterLock>,
}

impl MemoryOutbox {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a transaction (waits while another one is open).
    #[must_use]
    pub fn begin(&self) -> MemoryTransaction {
        self.writer.acquire();
        MemoryTransaction {
            store: self.clone(),
            inserts: Vec::new(),
            marks: Vec::new(),
            done: false,
        }
    }

    /// The pending messages, by key then position.
    #[must_use]
    pub fn pending_messages(&self) -> Vec<OutboxMessage> {
        let st = lock(&self.state);
        st.keys
            .values()
            .flat_map(|k| k.pending.iter())
            .filter_map(|seq| st.rows.get(seq).map(|r| r.message.clone()))
            .collect()
    }

    /// `(started, finished)` attempts and the next attempt time of a pending message.
    #[must_use]
    pub fn attempt_info(&self, id: &MessageId) -> Option<(u32, u32, i64)> {
        let st = lock(&self.state);
        st.rows
            .values()
            .find(|r| &r.message.id == id && r.sent_at.is_none())
            .map(|r| (r.started, r.message.attempts, r.next_attempt_ms))
    }

    /// Whether the inbox holds `(consumer, id)`.
    #[must_use]
    pub fn inbox_contains(&self, consumer: &str, id: &MessageId) -> bool {
        lock(&self.state)
            .inbox
            .contains_key(&(consumer.to_owned(), id.clone()))
    }

    /// Deletes inbox marks recorded before `before_ms`, at most `limit`; returns how many.
    pub fn purge_inbox(&self, before_ms: i64, limit: usize) -> u64 {
        let mut st = lock(&self.state);
        let old: Vec<_> = st
            .inbox
            .iter()
            .filter(|(_, at)| **at < before_ms)
            .map(|(k, _)| k.clone())
            .take(limit)
            .collect();
        for k in &old {
            st.inbox.remove(k);
        }
        old.len() as u64
    }
}

/// A transaction on a [`MemoryOutbox`]: applied by [`commit`](MemoryTransaction::commit),
/// discarded when dropped.
#[derive(Debug)]
pub struct MemoryTransaction {
    store: MemoryOutbox,
    inserts: Vec<(MessageId, NewMessage, i64)>,
    marks: Vec<(String, MessageId, i64)>,
    done: bool,
}

impl MemoryTransaction {
    /// Applies the transaction's writes atomically.
    pub fn commit(mut self) {
        {
            let mut st = lock(&self.store.state);
            for (id, m, now) in self.inserts.drain(..) {
                st.next_seq += 1;
                let seq = st.next_seq;
                let key = st.keys.entry(m.key.clone()).or_default();
                key.next_key_seq += 1;
                let key_seq = key.next_key_seq;
                key.pending.push_back(seq);
                st.ids.insert(id.clone());
                st.rows.insert(
                    seq,
                    Row {
                        message: OutboxMessage {
                            seq,
                            id,
                            key: m.key,
                            key_seq,
                            msg_type: m.msg_type,
                            payload: m.payload,
                            headers: m.headers,
                            created_at_ms: now,
                            attempts: 0,
                        },
                        started: 0,
                        sent_at: None,
                        next_attempt_ms: 0,
                        last_error: None,
                    },
                );
            }
            for (c, id, now) in self.marks.drain(..) {
                st.inbox.insert((c, id), now);
            }
        }
        self.done = true;
        self.store.writer.release();
    }
}

impl Drop for MemoryTransaction {
    fn drop(&mut self) {
        if !self.done {
            self.store.writer.release();
        }
    }
}

impl OutboxTransaction for MemoryTransaction {
    fn insert_message(
        &mut self,
        id: &MessageId,
        message: &NewMessage,
        now_ms: i64,
        _notify: bool,
    ) -> Result<(), InsertError> {
        let taken = lock(&self.store.state).ids.contains(id)
            || self.inserts.iter().any(|(i, _, _)| i == id);
        if taken {
            return Err(InsertError::Duplicate);
        }
        self.inserts.push((id.clone(), message.clone(), now_ms));
        Ok(())
    }

    fn pending_count(&mut self) -> Result<u64, StoreError> {
        let st = lock(&self.store.state);
        Ok(st
            .keys
            .values()
            .map(|k| k.pending.len() as u64)
            .sum::<u64>()
            + self.inserts.len() as u64)
    }

    fn inbox_mark(
        &mut self,
        consumer: &str,
        message_id: &MessageId,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let seen = lock(&self.store.state)
            .inbox
            .contains_key(&(consumer.to_owned(), message_id.clone()))
            || self
                .marks
                .iter()
                .any(|(c, i, _)| c == consumer && i == message_id);
        if seen {
            return Ok(false);
        }
        self.marks
            .push((consumer.to_owned(), message_id.clone(), now_ms));
        Ok(true)
    }
}

fn dead_letter(st: &mut State, seq: i64, reason: DeadReason, error: String, hold: bool, now: i64) {
    let Some(row) = st.rows.remove(&seq) else {
        return;
    };
    if let Some(k) = st.keys.get_mut(&row.message.key) {
        k.pending.retain(|s| *s != seq);
        if hold {
            k.held = true;
        }
    }
    st.dead.push(DeadLetter {
        message: row.message,
        reason,
        last_error: error,
        dead_at_ms: now,
    });
}

impl RelayStore for MemoryOutbox {
    fn claim(&mut self, req: &ClaimRequest<'_>) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut st = lock(&self.state);
        let mut ready: Vec<(&String, &KeyState)> = st
            .keys
            .iter()
            .filter(|(_, k)| {
                !k.pending.is_empty()
                    && !k.held
                    && k.ready_at <= req.now_ms
                    && (k.claimed_by.is_none() || k.claim_until <= req.now_ms)
            })
            .collect();
        ready.sort_by_key(|(name, k)| (k.served_at, (*name).clone()));
        ready.truncate(req.max_messages);
        let per_key = per_key_limit(req.max_messages, ready.len());
        let groups: Vec<Vec<Candidate>> = ready
            .iter()
            .map(|(_, k)| {
                k.pending
                    .iter()
                    .take(per_key)
                    .filter_map(|seq| st.rows.get(seq))
                    .map(|r| Candidate {
                        message: r.message.clone(),
                        started: r.started,
                    })
                    .collect()
            })
            .collect();
        let plan = plan_claim(&groups, req.max_messages, req.crash_limit, req.poison);
        let flat: Vec<&Candidate> = groups.iter().flatten().collect();
        for (i, hold) in &plan.dead {
            if let Some(c) = flat.get(*i) {
                let (seq, unfinished) =
                    (c.message.seq, c.started.saturating_sub(c.message.attempts));
                dead_letter(
                    &mut st,
                    seq,
                    DeadReason::CrashLoop,
                    format!("relay died {unfinished} times while publishing it"),
                    *hold,
                    req.now_ms,
                );
            }
        }
        for key in &plan.keys {
            if let Some(k) = st.keys.get_mut(key) {
                k.claimed_by = Some(req.relay.to_owned());
                k.claim_until = req.claim_until_ms;
            }
        }
        let mut out = Vec::with_capacity(plan.claim.len());
        for i in &plan.claim {
            if let Some(c) = flat.get(*i)
                && let Some(row) = st.rows.get_mut(&c.message.seq)
            {
                row.started += 1;
                out.push(row.message.clone());
            }
        }
        Ok(out)
    }

    fn complete(&mut self, relay: &str, o: &BatchOutcome, now_ms: i64) -> Result<(), StoreError> {
        let mut st = lock(&self.state);
        for (seq, key) in &o.sent {
            let Some(row) = st.rows.get_mut(seq) else {
                continue;
            };
            if row.sent_at.is_some() {
                continue;
            }
            row.sent_at = Some(now_ms);
            row.message.attempts += 1;
            if let Some(k) = st.keys.get_mut(key) {
                k.pending.retain(|s| s != seq);
                k.served_at = now_ms;
            }
        }
        for f in &o.failed {
            match f.dead {
                Some(reason) => {
                    dead_letter(&mut st, f.seq, reason, f.error.clone(), f.hold_key, now_ms)
                }
                None => {
                    if let Some(row) = st.rows.get_mut(&f.seq)
                        && row.sent_at.is_none()
                    {
                        row.message.attempts += 1;
                        row.next_attempt_ms = f.next_attempt_ms;
                        row.last_error = Some(f.error.clone());
                    }
                    if let Some(k) = st.keys.get_mut(&f.key) {
                        k.ready_at = k.ready_at.max(f.next_attempt_ms);
                    }
                }
            }
        }
        for (seq, _) in &o.unattempted {
            if let Some(row) = st.rows.get_mut(seq) {
                row.started = row.started.saturating_sub(1).max(row.message.attempts);
            }
        }
        for key in &o.keys {
            if let Some(k) = st.keys.get_mut(key)
                && k.claimed_by.as_deref() == Some(relay)
            {
                k.claimed_by = None;
                k.claim_until = 0;
            }
        }
        Ok(())
    }

    fn metrics(&mut self, now_ms: i64) -> Result<OutboxMetrics, StoreError> {
        let st = lock(&self.state);
        let pending = st.rows.values().filter(|r| r.sent_at.is_none());
        let (mut count, mut oldest) = (0u64, None::<i64>);
        for r in pending {
            count += 1;
            oldest =
                Some(oldest.map_or(r.message.created_at_ms, |o| o.min(r.message.created_at_ms)));
        }
        Ok(OutboxMetrics {
            pending: count,
            oldest_pending_age: oldest.map(|o| {
                Duration::from_millis(u64::try_from(now_ms.saturating_sub(o)).unwrap_or(0))
            }),
            dead_letters: st.dead.len() as u64,
        })
    }

    fn cleanup(&mut self, sent_before_ms: i64, limit: usize) -> Result<u64, StoreError> {
        let mut st = lock(&self.state);
        let old: Vec<i64> = st
            .rows
            .iter()
            .filter(|(_, r)| r.sent_at.is_some_and(|t| t < sent_before_ms))
            .map(|(s, _)| *s)
            .take(limit)
            .collect();
        for s in &old {
            st.rows.remove(s);
        }
        Ok(old.len() as u64)
    }

    fn dead_letters(&mut self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(lock(&self.state).dead.iter().take(limit).cloned().collect())
    }

    fn release_key(&mut self, key: &str) -> Result<bool, StoreError> {
        let mut st = lock(&self.state);
        Ok(st
            .keys
            .get_mut(key)
            .is_some_and(|k| std::mem::replace(&mut k.held, false)))
    }
}
