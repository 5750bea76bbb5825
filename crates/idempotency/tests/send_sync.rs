//! Public types are `Send + Sync`; the store trait stays object-safe.

use quorate_idempotency::{
    Attempt, Begin, Fingerprint, IdempotencyStore, InvalidConfig, InvalidKey, MemoryStore, Outcome,
    Record, RecoveryPoint, StoreConfig, StoreError, Stored,
};

fn send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<MemoryStore>();
    send_sync::<Attempt>();
    send_sync::<Begin>();
    send_sync::<Fingerprint>();
    send_sync::<Outcome>();
    send_sync::<Record>();
    send_sync::<RecoveryPoint>();
    send_sync::<StoreConfig>();
    send_sync::<Stored>();
    send_sync::<StoreError>();
    send_sync::<InvalidKey>();
    send_sync::<InvalidConfig>();
    send_sync::<Box<dyn IdempotencyStore>>();
    #[cfg(feature = "sqlite")]
    send_sync::<quorate_idempotency::SqliteStore>();
    #[cfg(feature = "postgres")]
    send_sync::<quorate_idempotency::PgStore>();
    #[cfg(feature = "tokio")]
    send_sync::<quorate_idempotency::AsyncPgStore>();
    #[cfg(feature = "http")]
    send_sync::<quorate_idempotency::IdempotencyLayer<MemoryStore>>();
}

#[test]
fn the_store_trait_is_object_safe() {
    let store: Box<dyn IdempotencyStore> = Box::new(MemoryStore::new());
    let fp = Fingerprint::of(b"r");
    assert!(matches!(store.begin("", "k", &fp), Ok(Begin::Execute(_))));
    let shared = std::sync::Arc::new(MemoryStore::new());
    assert!(matches!(shared.begin("", "k", &fp), Ok(Begin::Execute(_))));
}
