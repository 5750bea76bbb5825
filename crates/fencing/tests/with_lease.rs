//! `with_lease`: background renewal keeps long work alive; a lost lease cancels the work.
#![cfg(feature = "tokio")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use quorate_fencing::{
    Lease, LeaseClient, LeaseError, LeaseLost, LeaseTiming, MemoryLease, WithLeaseError, with_lease,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn client(backend: &Arc<MemoryLease>, name: &str) -> LeaseClient<MemoryLease> {
    let timing = LeaseTiming::new(Duration::from_millis(150)).expect("timing");
    LeaseClient::new(Arc::clone(backend), name, timing)
}

#[test]
fn work_longer_than_the_ttl_completes_and_the_lease_is_released() {
    let backend = Arc::new(MemoryLease::new());
    let a = client(&backend, "a");
    let out = runtime().block_on(with_lease(&a, "r", |scope| {
        let backend = Arc::clone(&backend);
        async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                // Renewed in the background: still ours, still refused to others.
                assert!(scope.check().is_ok());
                assert!(matches!(
                    backend.acquire("r", "b", Duration::from_secs(1)),
                    Err(LeaseError::Held { .. })
                ));
            }
            scope.token()
        }
    }));
    let token = out.expect("work completes");
    assert_eq!(token.get(), 1);
    assert_eq!(backend.current("r").expect("current"), None, "released");
}

#[test]
fn losing_the_lease_cancels_the_work() {
    let backend = Arc::new(MemoryLease::new());
    let a = client(&backend, "a");
    let finished = Arc::new(AtomicBool::new(false));
    let out = runtime().block_on(with_lease(&a, "r", |mut scope| {
        let (backend, finished) = (Arc::clone(&backend), Arc::clone(&finished));
        async move {
            // The grantor loses our lease (an operator, a failover): the next renewal fails.
            let current = backend.current("r").expect("current").expect("held");
            let grant = quorate_fencing::Grant::new(
                "r",
                current.holder,
                current.token,
                Duration::from_secs(1),
                0,
            );
            backend.release(&grant).expect("release");
            let why = scope.lost().await;
            assert_eq!(why, LeaseLost::RenewalFailed);
            tokio::time::sleep(Duration::from_secs(10)).await;
            finished.store(true, Ordering::SeqCst);
        }
    }));
    assert!(
        matches!(out, Err(WithLeaseError::Lost(LeaseLost::RenewalFailed))),
        "{out:?}"
    );
    assert!(!finished.load(Ordering::SeqCst), "the work was cancelled");
}

#[test]
fn a_held_resource_is_an_acquire_error() {
    let backend = Arc::new(MemoryLease::new());
    let _held = client(&backend, "a").acquire("r").expect("acquire");
    let b = client(&backend, "b");
    let out = runtime().block_on(with_lease(&b, "r", |_| async {}));
    assert!(matches!(
        out,
        Err(WithLeaseError::Acquire(LeaseError::Held { .. }))
    ));
}

/// A backend whose renewals hang (a partitioned lock service).
struct HangingRenewals(MemoryLease);

impl Lease for HangingRenewals {
    fn acquire(
        &self,
        r: &str,
        h: &str,
        hold: Duration,
    ) -> Result<quorate_fencing::Grant, LeaseError> {
        self.0.acquire(r, h, hold)
    }
    fn renew(&self, _: &quorate_fencing::Grant) -> Result<(), LeaseError> {
        std::thread::sleep(Duration::from_secs(2));
        Err(LeaseError::InvalidHold)
    }
    fn release(
        &self,
        g: &quorate_fencing::Grant,
    ) -> Result<quorate_fencing::ReleaseOutcome, LeaseError> {
        self.0.release(g)
    }
    fn current(&self, r: &str) -> Result<Option<quorate_fencing::LeaseRecord>, LeaseError> {
        self.0.current(r)
    }
}

#[test]
fn a_hanging_renewal_cannot_outlive_the_safe_deadline() {
    let timing = LeaseTiming::new(Duration::from_millis(150)).expect("timing");
    let client = LeaseClient::new(Arc::new(HangingRenewals(MemoryLease::new())), "a", timing);
    let rt = runtime();
    let out = rt.block_on(with_lease(&client, "r", |_| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
    }));
    // The deadline passes while the renewal still hangs: that is the verdict, not the renewal's.
    assert!(
        matches!(out, Err(WithLeaseError::Lost(LeaseLost::DeadlinePassed))),
        "{out:?}"
    );
    rt.shutdown_background();
}
