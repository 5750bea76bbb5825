//! Observed leases (client-go style): a contender takes over only after a full hold of an
//! unchanged record version on its own clock.

use std::sync::Arc;
use std::time::Duration;

use quorate_clocks::ManualClock;
use quorate_fencing::{
    Lease, LeaseClient, LeaseError, LeaseTiming, MemoryVersionedStore, ObservedLease,
    ReleaseOutcome, VersionedStore,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn a_renewing_holder_is_never_taken_over() -> TestResult {
    let store = Arc::new(MemoryVersionedStore::new());
    let clock_b = ManualClock::new(0);
    let a = ObservedLease::new(Arc::clone(&store));
    let b = ObservedLease::with_clock(Arc::clone(&store), clock_b.clone());
    let hold = Duration::from_secs(10);
    let ga = a.acquire("leader", "a", hold)?;
    for _ in 0..20 {
        assert!(matches!(
            b.acquire("leader", "b", hold),
            Err(LeaseError::Held { .. })
        ));
        clock_b.advance(Duration::from_secs(4));
        a.renew(&ga)?; // bumps the version: b's observation restarts
    }
    assert_eq!(a.current("leader")?.map(|r| r.holder), Some("a".to_owned()));
    Ok(())
}

#[test]
fn takeover_needs_a_full_hold_of_one_version_on_the_contenders_clock() -> TestResult {
    let store = Arc::new(MemoryVersionedStore::new());
    let clock_b = ManualClock::new(0);
    let a = ObservedLease::new(Arc::clone(&store));
    let b = ObservedLease::with_clock(Arc::clone(&store), clock_b.clone());
    let hold = Duration::from_secs(10);
    let ga = a.acquire("leader", "a", hold)?;
    // The first look starts the observation; the wall clock is never consulted.
    assert!(b.acquire("leader", "b", hold).is_err());
    clock_b.set(0); // a wall step: irrelevant
    clock_b.advance(hold - Duration::from_nanos(1));
    assert!(b.acquire("leader", "b", hold).is_err());
    clock_b.advance(Duration::from_nanos(1));
    let gb = b.acquire("leader", "b", hold)?;
    assert!(gb.token > ga.token);
    // The old holder can neither renew nor release the new holder's lease.
    assert!(matches!(a.renew(&ga), Err(LeaseError::Expired { .. })));
    assert_eq!(a.release(&ga)?, ReleaseOutcome::NotHeld);
    assert_eq!(b.current("leader")?.map(|r| r.token), Some(gb.token));
    // Release keeps the token so the next holder's is larger still.
    assert_eq!(b.release(&gb)?, ReleaseOutcome::Released);
    let ga2 = a.acquire("leader", "a", hold)?;
    assert!(ga2.token > gb.token);
    let rec = store.read("leader")?.expect("record");
    assert_eq!(rec.token, ga2.token);
    Ok(())
}

#[test]
fn observed_lease_works_under_the_holder_client() -> TestResult {
    let store = Arc::new(MemoryVersionedStore::new());
    let timing = LeaseTiming::new(Duration::from_secs(10))?;
    let a = LeaseClient::new(
        Arc::new(ObservedLease::new(Arc::clone(&store))),
        "a",
        timing,
    );
    let lease = a.acquire("leader")?;
    lease.renew()?;
    assert_eq!(lease.token()?.get(), 1);
    lease.release()?;
    assert!(store.read("leader")?.is_some_and(|r| r.holder.is_none()));
    Ok(())
}
