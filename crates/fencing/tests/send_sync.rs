//! Public types are Send + Sync, and the traits stay object safe.

use quorate_fencing::*;

fn send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<FencingToken>();
    send_sync::<Epoch>();
    send_sync::<TokenGuard>();
    send_sync::<ShardedGuard<String>>();
    send_sync::<StaleToken>();
    send_sync::<MemoryIssuer>();
    send_sync::<MemoryLease>();
    send_sync::<LeaseClient<MemoryLease>>();
    send_sync::<HeldLease<MemoryLease>>();
    send_sync::<HeldLease<dyn Lease>>();
    send_sync::<LeaseTiming>();
    send_sync::<Grant>();
    send_sync::<FencedTable>();
    send_sync::<FencedUpdate>();
    send_sync::<ObservedLease<MemoryVersionedStore>>();
    send_sync::<IssueError>();
    send_sync::<LeaseError>();
    send_sync::<FencedWriteError>();
    send_sync::<LeaseLost>();
    #[cfg(feature = "sqlite")]
    {
        send_sync::<SqliteIssuer>();
        send_sync::<SqliteLease>();
    }
    #[cfg(feature = "postgres")]
    {
        send_sync::<PgIssuer>();
        send_sync::<PgLease>();
    }
    #[cfg(feature = "etcd")]
    send_sync::<EtcdLease>();
    #[cfg(feature = "tokio")]
    {
        send_sync::<LeaseScope>();
        send_sync::<WithLeaseError>();
    }
}

#[test]
fn traits_are_object_safe() {
    let leases: Box<dyn Lease> = Box::new(MemoryLease::new());
    let issuer: Box<dyn TokenIssuer> = Box::new(MemoryIssuer::new());
    let store: Box<dyn VersionedStore> = Box::new(MemoryVersionedStore::new());
    assert!(leases.current("r").unwrap().is_none());
    assert_eq!(issuer.issue("r").unwrap().get(), 1);
    assert!(store.read("r").unwrap().is_none());
}

#[cfg(feature = "serde")]
#[test]
fn tokens_and_timing_round_trip_through_serde() {
    let t = FencingToken::new(42);
    assert_eq!(serde_json::to_string(&t).unwrap(), "42");
    assert_eq!(serde_json::from_str::<FencingToken>("42").unwrap(), t);
    let timing = LeaseTiming::new(std::time::Duration::from_secs(3)).unwrap();
    let json = serde_json::to_string(&timing).unwrap();
    assert_eq!(serde_json::from_str::<LeaseTiming>(&json).unwrap(), timing);
    // Deserialization validates: a margin that eats the window is refused.
    let bad = json.replace(
        "\"margin\":{\"secs\":0,\"nanos\":150000000}",
        "\"margin\":{\"secs\":9,\"nanos\":0}",
    );
    assert_ne!(bad, json);
    assert!(serde_json::from_str::<LeaseTiming>(&bad).is_err());
}
