//! The holder's side: a lease client that keeps the safe deadline and poisons a lost lease.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use quorate_clocks::{BootClock, MonotonicClock};

use crate::error::{LeaseError, LeaseLost};
use crate::lease::{Grant, Lease, ReleaseOutcome};
use crate::timing::LeaseTiming;
use crate::token::FencingToken;

/// Acquires leases for one holder on a [`Lease`] backend with a [`LeaseTiming`].
///
/// The client reads its monotonic clock *before* each request, asks the backend for the
/// grantor's hold `ttl · (1 + d) + grace`, and gives the holder the window
/// `ttl · (1 − d) − margin` from that reading (see [`LeaseTiming`]).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let backend = Arc::new(MemoryLease::new());
/// let timing = LeaseTiming::new(Duration::from_secs(10))?;
/// let client = LeaseClient::new(backend, "worker-1", timing);
/// let lease = client.acquire("jobs/42")?;
/// let token = lease.token()?; // send it with every write
/// lease.renew()?;
/// lease.release()?;
/// assert!(lease.token().is_err());
/// # let _ = token; Ok(()) }
/// ```
pub struct LeaseClient<L: ?Sized> {
    backend: Arc<L>,
    holder: String,
    timing: LeaseTiming,
    clock: Arc<dyn MonotonicClock>,
}

impl<L: Lease + ?Sized> LeaseClient<L> {
    /// A client for `holder` on `backend`, timing on [`BootClock`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// let _c = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t);
    /// ```
    pub fn new(backend: Arc<L>, holder: impl Into<String>, timing: LeaseTiming) -> Self {
        Self {
            backend,
            holder: holder.into(),
            timing,
            clock: Arc::new(BootClock),
        }
    }

    /// The same client timing on `clock` (a [`ManualClock`](quorate_clocks::ManualClock) in
    /// tests).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use quorate_clocks::ManualClock;
    /// use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// let _c = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t)
    ///     .with_clock(Arc::new(ManualClock::new(0)));
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn MonotonicClock>) -> Self {
        self.clock = clock;
        self
    }

    /// The holder's name.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// let c = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t);
    /// assert_eq!(c.holder(), "h");
    /// ```
    #[must_use]
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The timing.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// let c = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t);
    /// assert_eq!(c.timing().ttl, Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn timing(&self) -> &LeaseTiming {
        &self.timing
    }

    /// The backend.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{Lease, LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// let c = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t);
    /// assert!(c.backend().current("r").unwrap().is_none());
    /// ```
    #[must_use]
    pub fn backend(&self) -> &Arc<L> {
        &self.backend
    }

    /// Acquires `resource`, starting the holder's timer before the request.
    ///
    /// # Errors
    ///
    /// The backend's [`LeaseError`] ([`LeaseError::Held`] when someone holds it).
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(1)).unwrap();
    /// let backend = Arc::new(MemoryLease::new());
    /// let a = LeaseClient::new(backend.clone(), "a", t);
    /// let b = LeaseClient::new(backend, "b", t);
    /// let _held = a.acquire("r").unwrap();
    /// assert!(b.acquire("r").is_err());
    /// ```
    pub fn acquire(&self, resource: &str) -> Result<HeldLease<L>, LeaseError> {
        let started = self.clock.now_nanos();
        let grant = self
            .backend
            .acquire(resource, &self.holder, self.timing.grantor_hold())?;
        Ok(HeldLease {
            backend: Arc::clone(&self.backend),
            clock: Arc::clone(&self.clock),
            timing: self.timing,
            grant,
            state: Arc::new(HolderState {
                deadline_ns: AtomicU64::new(self.timing.holder_deadline_ns(started)),
                lost: AtomicU8::new(LIVE),
            }),
        })
    }
}

impl<L: ?Sized> Clone for LeaseClient<L> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            holder: self.holder.clone(),
            timing: self.timing,
            clock: Arc::clone(&self.clock),
        }
    }
}

impl<L: ?Sized> fmt::Debug for LeaseClient<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseClient")
            .field("holder", &self.holder)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

const LIVE: u8 = 0;
const DEADLINE: u8 = 1;
const RENEWAL: u8 = 2;
const RELEASED: u8 = 3;

#[derive(Debug)]
struct HolderState {
    deadline_ns: AtomicU64,
    lost: AtomicU8,
}

/// A held lease: the grant, the holder's safe deadline and whether the lease is lost.
///
/// Every use goes through [`token`](Self::token), which fails once the deadline passed, a
/// renewal failed or the lease was released; the failure is permanent (the guard is poisoned),
/// because a holder that may have lost its lease must not resume on its own say-so. Clones share
/// the state, so a background renewal and the workers see the same verdict.
///
/// A token obtained in time can still reach the resource late (a pause between the check and the
/// write): the resource's fencing check ([`TokenGuard`](crate::TokenGuard),
/// [`FencedTable`](crate::FencedTable)) refuses it then.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use quorate_clocks::ManualClock;
/// use quorate_fencing::{LeaseClient, LeaseLost, LeaseTiming, MemoryLease};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let clock = ManualClock::new(0);
/// let backend = Arc::new(MemoryLease::with_clock(clock.clone()));
/// let timing = LeaseTiming::new(Duration::from_secs(10))?;
/// let client = LeaseClient::new(backend, "a", timing).with_clock(Arc::new(clock.clone()));
/// let lease = client.acquire("r")?;
/// clock.advance(Duration::from_secs(9)); // inside 10 s · 0.999 − 0.5 s
/// assert!(lease.token().is_ok());
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(lease.token(), Err(LeaseLost::DeadlinePassed));
/// assert_eq!(lease.renew(), Err(LeaseLost::DeadlinePassed)); // poisoned for good
/// # Ok(()) }
/// ```
pub struct HeldLease<L: ?Sized> {
    backend: Arc<L>,
    clock: Arc<dyn MonotonicClock>,
    timing: LeaseTiming,
    grant: Grant,
    state: Arc<HolderState>,
}

impl<L: Lease + ?Sized> HeldLease<L> {
    fn lost(&self) -> Option<LeaseLost> {
        match self.state.lost.load(Ordering::Acquire) {
            LIVE => None,
            DEADLINE => Some(LeaseLost::DeadlinePassed),
            RENEWAL => Some(LeaseLost::RenewalFailed),
            _ => Some(LeaseLost::Released),
        }
    }

    fn poison(&self, why: u8) -> LeaseLost {
        // The first verdict sticks.
        let _ = self
            .state
            .lost
            .compare_exchange(LIVE, why, Ordering::AcqRel, Ordering::Acquire);
        self.lost().unwrap_or(LeaseLost::Released)
    }

    /// The token, if the lease is still safely held now.
    ///
    /// # Errors
    ///
    /// [`LeaseLost`] when the deadline has passed (this poisons the lease), a renewal failed or
    /// the lease was released.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(10)).unwrap();
    /// let lease = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t).acquire("r").unwrap();
    /// assert_eq!(lease.token().unwrap().get(), 1);
    /// ```
    pub fn token(&self) -> Result<FencingToken, LeaseLost> {
        if let Some(lost) = self.lost() {
            return Err(lost);
        }
        if self.clock.now_nanos() >= self.state.deadline_ns.load(Ordering::Acquire) {
            return Err(self.poison(DEADLINE));
        }
        Ok(self.grant.token)
    }

    /// Whether [`token`](Self::token) would succeed now.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(10)).unwrap();
    /// let lease = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t).acquire("r").unwrap();
    /// assert!(lease.is_valid());
    /// ```
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.token().is_ok()
    }

    /// Time left before the safe deadline, or `None` when the lease is lost.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(10)).unwrap();
    /// let lease = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t).acquire("r").unwrap();
    /// assert!(lease.remaining().unwrap() <= t.holder_window());
    /// ```
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        self.token().ok()?;
        let now = self.clock.now_nanos();
        let deadline = self.state.deadline_ns.load(Ordering::Acquire);
        Some(Duration::from_nanos(deadline.saturating_sub(now)))
    }

    /// The grant.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(10)).unwrap();
    /// let lease = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t).acquire("r").unwrap();
    /// assert_eq!(lease.grant().resource, "r");
    /// ```
    #[must_use]
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// The timing the lease was acquired with.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(10)).unwrap();
    /// let lease = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t).acquire("r").unwrap();
    /// assert_eq!(*lease.timing(), t);
    /// ```
    #[must_use]
    pub fn timing(&self) -> &LeaseTiming {
        &self.timing
    }

    /// Renews the lease, restarting the holder's window from a clock reading taken before the
    /// request.
    ///
    /// # Errors
    ///
    /// [`LeaseLost`] when the lease was already lost or the deadline has passed, and
    /// [`LeaseLost::RenewalFailed`] when the backend refuses or fails; both poison the lease.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(10)).unwrap();
    /// let lease = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t).acquire("r").unwrap();
    /// lease.renew().unwrap();
    /// lease.renew().unwrap(); // idempotent
    /// ```
    pub fn renew(&self) -> Result<(), LeaseLost> {
        self.token()?;
        let started = self.clock.now_nanos();
        match self.backend.renew(&self.grant) {
            Ok(()) => {
                self.state
                    .deadline_ns
                    .fetch_max(self.timing.holder_deadline_ns(started), Ordering::AcqRel);
                self.token().map(|_| ())
            }
            Err(_) => Err(self.poison(RENEWAL)),
        }
    }

    /// Like [`renew`](Self::renew), returning the backend's error when it refuses.
    ///
    /// # Errors
    ///
    /// `Err(Ok(lost))` when the lease was already lost, `Err(Err(e))` with the backend's error
    /// (the lease is then poisoned).
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease};
    /// # let t = LeaseTiming::new(Duration::from_secs(10)).unwrap();
    /// let lease = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t).acquire("r").unwrap();
    /// assert!(lease.renew_detailed().is_ok());
    /// ```
    pub fn renew_detailed(&self) -> Result<(), Result<LeaseLost, LeaseError>> {
        self.token().map_err(Ok)?;
        let started = self.clock.now_nanos();
        match self.backend.renew(&self.grant) {
            Ok(()) => {
                self.state
                    .deadline_ns
                    .fetch_max(self.timing.holder_deadline_ns(started), Ordering::AcqRel);
                self.token().map(|_| ()).map_err(Ok)
            }
            Err(e) => {
                self.poison(RENEWAL);
                Err(Err(e))
            }
        }
    }

    /// Releases the lease (a compare on the token: never a newer holder's) and poisons every
    /// clone of this handle.
    ///
    /// # Errors
    ///
    /// The backend's [`LeaseError`]; the handle is poisoned either way.
    ///
    /// ```
    /// # use std::sync::Arc; use std::time::Duration;
    /// # use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease, ReleaseOutcome};
    /// # let t = LeaseTiming::new(Duration::from_secs(10)).unwrap();
    /// let lease = LeaseClient::new(Arc::new(MemoryLease::new()), "h", t).acquire("r").unwrap();
    /// assert_eq!(lease.release().unwrap(), ReleaseOutcome::Released);
    /// ```
    pub fn release(&self) -> Result<ReleaseOutcome, LeaseError> {
        self.state.lost.store(RELEASED, Ordering::Release);
        self.backend.release(&self.grant)
    }
}

impl<L: ?Sized> Clone for HeldLease<L> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            clock: Arc::clone(&self.clock),
            timing: self.timing,
            grant: self.grant.clone(),
            state: Arc::clone(&self.state),
        }
    }
}

impl<L: ?Sized> fmt::Debug for HeldLease<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldLease")
            .field("grant", &self.grant)
            .field(
                "deadline_ns",
                &self.state.deadline_ns.load(Ordering::Relaxed),
            )
            .field("lost", &self.state.lost.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
