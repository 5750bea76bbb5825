//! The lease and issuer conformance suite every quorate-fencing backend runs unchanged.
//!
//! A backend is not done until it passes [`run_lease_suite`] (memory, SQLite, PostgreSQL, etcd)
//! and, for issuers, [`run_issuer_suite`] (memory, SQLite, PostgreSQL). The suites take a
//! function that opens a *new handle to the same store* (a new connection for a database, a
//! clone of the `Arc` for memory), so they also check what survives a reopen, and what to do to
//! let a lease expire: advance a manual clock, or sleep past the hold for backends timed by a
//! server clock. Every case uses its own resource names (prefixed with the suite's `prefix`), so
//! one store serves all cases and leftovers of earlier runs do not matter.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use quorate_testkit::fencing_suite::{LeaseSuite, run_lease_suite};
//! use quorate_fencing::MemoryLease;
//!
//! let backend = Arc::new(MemoryLease::new());
//! run_lease_suite(&LeaseSuite {
//!     prefix: "memory",
//!     hold: Duration::from_millis(50),
//!     open: &|| backend.clone(),
//!     expire: &|| std::thread::sleep(Duration::from_millis(60)),
//! });
//! ```

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use quorate_fencing::{
    FencingToken, Grant, IssueError, Lease, LeaseError, ReleaseOutcome, TokenIssuer,
};

/// How to run the lease suite on one backend.
#[allow(missing_debug_implementations)]
pub struct LeaseSuite<'a, L> {
    /// Prefix of every resource name the suite uses.
    pub prefix: &'a str,
    /// The hold to request.
    pub hold: Duration,
    /// Opens a new handle to the same store.
    pub open: &'a (dyn Fn() -> L + Sync),
    /// Returns once every lease acquired before the call has expired on the grantor's clock.
    pub expire: &'a dyn Fn(),
}

fn held_by(result: Result<Grant, LeaseError>, holder: &str, token: FencingToken) {
    match result {
        Err(LeaseError::Held {
            holder: h,
            token: t,
            ..
        }) => {
            assert_eq!(h, holder, "Held names the current holder");
            assert_eq!(t, token, "Held names the current token");
        }
        other => panic!("expected Held by {holder} with {token}, got {other:?}"),
    }
}

fn expired(result: Result<(), LeaseError>) {
    assert!(
        matches!(result, Err(LeaseError::Expired { .. })),
        "expected Expired, got {result:?}"
    );
}

/// Runs every case of the lease contract; panics with a message on the first violation.
///
/// # Panics
///
/// When the backend violates the contract (or fails).
pub fn run_lease_suite<L: Lease + 'static>(suite: &LeaseSuite<'_, L>) {
    let p = suite.prefix;
    let hold = suite.hold;
    let leases = (suite.open)();
    let r = |name: &str| format!("{p}/{name}");

    // Grants: fresh and strictly increasing tokens, visible in `current`.
    let basic = r("basic");
    assert_eq!(leases.current(&basic).expect("current"), None);
    let g1 = leases
        .acquire(&basic, "a", hold)
        .expect("acquire a free resource");
    assert!(g1.token > FencingToken::ZERO, "tokens start above zero");
    assert_eq!(g1.resource, basic);
    assert_eq!(g1.holder, "a");
    let cur = leases
        .current(&basic)
        .expect("current")
        .expect("a live lease");
    assert_eq!((cur.holder.as_str(), cur.token), ("a", g1.token));

    // Held: others and the holder itself are refused, naming the holder.
    held_by(leases.acquire(&basic, "b", hold), "a", g1.token);
    held_by(leases.acquire(&basic, "a", hold), "a", g1.token);

    // Renew is idempotent for the current holder and keeps the token.
    leases.renew(&g1).expect("renew");
    leases.renew(&g1).expect("renew again");
    assert_eq!(
        leases.current(&basic).expect("current").map(|c| c.token),
        Some(g1.token)
    );

    // A forged grant (wrong token, wrong holder, unknown resource) renews nothing.
    let mut forged = g1.clone();
    forged.token = FencingToken::new(g1.token.get() + 1000);
    expired(leases.renew(&forged));
    assert_eq!(
        leases.release(&forged).expect("release"),
        ReleaseOutcome::NotHeld
    );
    let mut other_holder = g1.clone();
    other_holder.holder = "mallory".to_owned();
    expired(leases.renew(&other_holder));
    let mut unknown = g1.clone();
    unknown.resource = r("never-acquired");
    expired(leases.renew(&unknown));
    assert_eq!(
        leases.release(&unknown).expect("release"),
        ReleaseOutcome::NotHeld
    );
    assert!(leases.current(&basic).expect("current").is_some());

    // Release compares the token; a second release is a no-op; renew after release fails.
    assert_eq!(
        leases.release(&g1).expect("release"),
        ReleaseOutcome::Released
    );
    assert_eq!(
        leases.release(&g1).expect("release"),
        ReleaseOutcome::NotHeld
    );
    assert_eq!(leases.current(&basic).expect("current"), None);
    expired(leases.renew(&g1));
    let g2 = leases
        .acquire(&basic, "b", hold)
        .expect("acquire after release");
    assert!(g2.token > g1.token, "a new grant has a larger token");

    // Tokens are never reused across a reopen of the store.
    drop(leases);
    let leases = (suite.open)();
    assert_eq!(
        leases.release(&g2).expect("release"),
        ReleaseOutcome::Released
    );
    let g3 = leases
        .acquire(&basic, "c", hold)
        .expect("acquire after reopen");
    assert!(g3.token > g2.token, "tokens survive a reopen");
    leases.release(&g3).expect("release");

    // Resources are independent.
    let (x, y) = (r("x"), r("y"));
    let gx = leases.acquire(&x, "a", hold).expect("acquire x");
    let gy = leases.acquire(&y, "b", hold).expect("acquire y");
    assert_eq!(
        leases.current(&x).expect("current").map(|c| c.holder),
        Some("a".to_owned())
    );
    assert_eq!(
        leases.current(&y).expect("current").map(|c| c.holder),
        Some("b".to_owned())
    );
    leases.release(&gx).expect("release");
    assert!(
        leases.current(&y).expect("current").is_some(),
        "releasing x leaves y"
    );
    leases.release(&gy).expect("release");

    // Bad input: typed errors.
    for bad in ["", "nul\0byte"] {
        assert!(
            matches!(
                leases.acquire(bad, "a", hold),
                Err(LeaseError::InvalidName(_))
            ),
            "resource {bad:?} refused"
        );
        assert!(
            matches!(
                leases.acquire(&r("bad-holder"), bad, hold),
                Err(LeaseError::InvalidName(_))
            ),
            "holder {bad:?} refused"
        );
    }
    assert!(matches!(
        leases.acquire(&r("zero-hold"), "a", Duration::ZERO),
        Err(LeaseError::InvalidHold)
    ));
    assert!(matches!(
        leases.current(""),
        Err(LeaseError::InvalidName(_))
    ));

    // Contention: of four handles racing for one resource exactly one wins.
    let race = r("race");
    let barrier = Arc::new(Barrier::new(4));
    let winners: Vec<Grant> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let handle = (suite.open)();
                let barrier = Arc::clone(&barrier);
                let race = race.clone();
                s.spawn(move || {
                    barrier.wait();
                    handle.acquire(&race, &format!("racer-{i}"), hold)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| match h.join().expect("racer panicked") {
                Ok(g) => Some(g),
                Err(LeaseError::Held { .. }) => None,
                Err(e) => panic!("racer failed: {e}"),
            })
            .collect()
    });
    assert_eq!(winners.len(), 1, "exactly one racer wins");

    // Expiry: one wait serves three cases.
    let (stale, dead) = (r("stale-release"), r("dead-renew"));
    let old = leases.acquire(&stale, "old", hold).expect("acquire");
    let gone = leases.acquire(&dead, "a", hold).expect("acquire");
    (suite.expire)();
    assert!(
        leases.current(&stale).expect("current").is_none(),
        "expired leases are not current"
    );
    let new = leases
        .acquire(&stale, "new", hold)
        .expect("acquire an expired resource");
    assert!(new.token > old.token);
    // A stale release never removes the newer holder's lease, and a stale renew fails.
    assert_eq!(
        leases.release(&old).expect("release"),
        ReleaseOutcome::NotHeld
    );
    expired(leases.renew(&old));
    assert_eq!(
        leases.current(&stale).expect("current").map(|c| c.token),
        Some(new.token)
    );
    // An expired lease cannot be renewed even when nobody took over.
    expired(leases.renew(&gone));
    assert!(leases.current(&dead).expect("current").is_none());
    leases.release(&new).expect("release");
    for w in &winners {
        leases.release(w).expect("release");
    }
}

/// How to run the issuer suite on one backend.
#[allow(missing_debug_implementations)]
pub struct IssuerSuite<'a, I> {
    /// Prefix of every resource name the suite uses.
    pub prefix: &'a str,
    /// Opens a new handle to the same store.
    pub open: &'a (dyn Fn() -> I + Sync),
}

/// Runs every case of the issuer contract; panics on the first violation.
///
/// # Panics
///
/// When the issuer violates the contract (or fails).
pub fn run_issuer_suite<I: TokenIssuer + 'static>(suite: &IssuerSuite<'_, I>) {
    let p = suite.prefix;
    let issuer = (suite.open)();
    let (a, b) = (format!("{p}/a"), format!("{p}/b"));
    assert_eq!(issuer.highest(&a).expect("highest"), None);
    assert!(matches!(
        issuer.verify(&a, FencingToken::new(1)),
        Err(IssueError::UnknownResource { .. })
    ));
    let t1 = issuer.issue(&a).expect("issue");
    let t2 = issuer.issue(&a).expect("issue");
    assert!(t1 > FencingToken::ZERO && t2 > t1);
    assert_eq!(issuer.highest(&a).expect("highest"), Some(t2));
    issuer.verify(&a, t1).expect("an issued token verifies");
    assert!(matches!(
        issuer.verify(&a, FencingToken::ZERO),
        Err(IssueError::NotIssued { .. })
    ));

    // Another resource counts on its own; its larger token is foreign to `a`.
    let mut tb = issuer.issue(&b).expect("issue");
    for _ in 0..5 {
        tb = issuer.issue(&b).expect("issue");
    }
    match issuer.verify(&a, tb) {
        Err(IssueError::NotIssued {
            presented, highest, ..
        }) => assert_eq!((presented, highest), (tb, t2)),
        other => panic!("a foreign token must be NotIssued, got {other:?}"),
    }

    // Survives a reopen.
    drop(issuer);
    let issuer = (suite.open)();
    let t3 = issuer.issue(&a).expect("issue after reopen");
    assert!(t3 > t2, "tokens survive a reopen");

    // Bad names.
    assert!(matches!(issuer.issue(""), Err(IssueError::InvalidName(_))));
    assert!(matches!(
        issuer.issue("x\0"),
        Err(IssueError::InvalidName(_))
    ));
    assert!(matches!(
        issuer.highest(""),
        Err(IssueError::InvalidName(_))
    ));

    // Concurrent issuers on separate handles never hand out the same token.
    let c = format!("{p}/concurrent");
    let tokens: Vec<FencingToken> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let handle = (suite.open)();
                let c = c.clone();
                s.spawn(move || {
                    (0..10)
                        .map(|_| handle.issue(&c).expect("issue"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("issuer thread panicked"))
            .collect()
    });
    let unique: HashSet<_> = tokens.iter().collect();
    assert_eq!(unique.len(), 40, "no token issued twice");
    assert_eq!(
        issuer.highest(&c).expect("highest"),
        tokens.iter().max().copied()
    );
}
