//! The conformance suite on the in-memory backend.

use std::sync::{Arc, Mutex, PoisonError};

use quorate_outbox::{
    InsertError, MemoryOutbox, MemoryTransaction, MessageId, NewMessage, OutboxTransaction,
    StoreError,
};
use quorate_testkit::outbox_suite::Backend;

/// A memory transaction plus the effects written in it.
#[derive(Debug)]
struct Tx {
    inner: MemoryTransaction,
    effects: Vec<String>,
}

impl OutboxTransaction for Tx {
    fn insert_message(
        &mut self,
        id: &MessageId,
        message: &NewMessage,
        now_ms: i64,
        notify: bool,
    ) -> Result<(), InsertError> {
        self.inner.insert_message(id, message, now_ms, notify)
    }
    fn pending_count(&mut self) -> Result<u64, StoreError> {
        self.inner.pending_count()
    }
    fn inbox_mark(&mut self, c: &str, id: &MessageId, now_ms: i64) -> Result<bool, StoreError> {
        self.inner.inbox_mark(c, id, now_ms)
    }
}

#[derive(Debug, Default)]
struct Memory {
    store: Mutex<MemoryOutbox>,
    effects: Arc<Mutex<Vec<String>>>,
}

impl Backend for Memory {
    type Tx<'a> = Tx;
    type Store = MemoryOutbox;

    fn label(&self) -> &'static str {
        "memory"
    }
    fn transact<R>(&self, f: impl for<'a> FnOnce(&mut Tx) -> (bool, R)) -> R {
        let store = self
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut tx = Tx {
            inner: store.begin(),
            effects: Vec::new(),
        };
        let (commit, r) = f(&mut tx);
        if commit {
            tx.inner.commit();
            self.effects
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(tx.effects);
        }
        r
    }
    fn effect(tx: &mut Tx, value: &str) {
        tx.effects.push(value.to_owned());
    }
    fn effects(&self) -> Vec<String> {
        self.effects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    fn store(&self) -> MemoryOutbox {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    fn concurrent_transactions(&self) -> bool {
        false
    }
    fn reset(&self) {
        *self.store.lock().unwrap_or_else(PoisonError::into_inner) = MemoryOutbox::new();
        self.effects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

quorate_testkit::outbox_conformance!(Some(Memory::default()), schedules = 1_000);
