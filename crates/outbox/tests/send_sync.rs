//! Public types are `Send + Sync` (or `Send` where they own a connection), and the traits stay
//! object safe.

use quorate_outbox::*;

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Outbox>();
    send_sync::<Inbox>();
    send_sync::<MemoryOutbox>();
    send_sync::<MemorySink>();
    send_sync::<RelaySignal>();
    send_sync::<RelayConfig>();
    send_sync::<NewMessage>();
    send_sync::<OutboxMessage>();
    send_sync::<DeadLetter>();
    send_sync::<StoreError>();
    send_sync::<EnqueueError>();
    send_sync::<PublishError>();
    send_sync::<ConfigError>();
    send_sync::<RelayError>();
    send::<MemoryTransaction>();
    send::<Relay<MemoryOutbox, MemorySink>>();
    send::<quorate_outbox::sqlite::SqliteRelayStore>();
    send::<quorate_outbox::pg::PgRelayStore>();
    send_sync::<quorate_outbox::pg::PreparedEnqueue>();
    send_sync::<Backpressure>();
    send::<Box<dyn RelayStore>>();
    send::<Box<dyn Sink>>();
}

#[test]
fn traits_are_object_safe() {
    let mut stores: Vec<Box<dyn RelayStore>> = vec![Box::new(MemoryOutbox::new())];
    assert_eq!(stores[0].metrics(0).map(|m| m.pending).ok(), Some(0));
    let _sinks: Vec<Box<dyn Sink>> = vec![Box::new(MemorySink::new())];
    let store = MemoryOutbox::new();
    let mut tx = store.begin();
    let t: &mut dyn OutboxTransaction = &mut tx;
    assert_eq!(t.pending_count().ok(), Some(0));
}
