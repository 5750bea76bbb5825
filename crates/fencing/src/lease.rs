//! The lease contract and its in-memory backend.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use quorate_clocks::{BootClock, MonotonicClock};

use crate::error::{LeaseError, check_name};
use crate::sync::std_lock;
use crate::token::FencingToken;

/// A lease granted by a backend: who holds which resource with which token.
///
/// `hold` is how long the grantor keeps it from the grant (or the last renewal) on the grantor's
/// clock; the holder's own, shorter window is [`LeaseTiming::holder_window`](crate::LeaseTiming::holder_window),
/// tracked by [`HeldLease`](crate::HeldLease). `handle` is backend data (the etcd lease id; 0
/// elsewhere).
///
/// ```
/// use std::time::Duration;
/// use quorate_fencing::{Grant, FencingToken};
/// let g = Grant::new("jobs", "worker-1", FencingToken::new(3), Duration::from_secs(5), 0);
/// assert_eq!(g.token, FencingToken::new(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Grant {
    /// The resource.
    pub resource: String,
    /// The holder's name.
    pub holder: String,
    /// The grant's fencing token: larger than every earlier grant's for the resource.
    pub token: FencingToken,
    /// How long the grantor keeps the lease from the grant or the last renewal.
    pub hold: Duration,
    /// Backend data needed to renew or release (the etcd lease id; 0 elsewhere).
    pub handle: u64,
}

impl Grant {
    /// A grant (for backends outside this crate).
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_fencing::{Grant, FencingToken};
    /// let g = Grant::new("r", "h", FencingToken::new(1), Duration::from_secs(1), 0);
    /// assert_eq!(g.resource, "r");
    /// ```
    #[must_use]
    pub fn new(
        resource: impl Into<String>,
        holder: impl Into<String>,
        token: FencingToken,
        hold: Duration,
        handle: u64,
    ) -> Self {
        Self {
            resource: resource.into(),
            holder: holder.into(),
            token,
            hold,
            handle,
        }
    }
}

/// The live lease on a resource, as its backend sees it.
///
/// ```
/// use quorate_fencing::{FencingToken, LeaseRecord};
/// let r = LeaseRecord::new("worker-1", FencingToken::new(2));
/// assert_eq!(r.holder, "worker-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LeaseRecord {
    /// The holder's name.
    pub holder: String,
    /// The holder's token.
    pub token: FencingToken,
}

impl LeaseRecord {
    /// A record (for backends outside this crate).
    ///
    /// ```
    /// use quorate_fencing::{FencingToken, LeaseRecord};
    /// assert_eq!(LeaseRecord::new("h", FencingToken::new(1)).token.get(), 1);
    /// ```
    #[must_use]
    pub fn new(holder: impl Into<String>, token: FencingToken) -> Self {
        Self {
            holder: holder.into(),
            token,
        }
    }
}

/// What a release did.
///
/// ```
/// use quorate_fencing::ReleaseOutcome;
/// assert_ne!(ReleaseOutcome::Released, ReleaseOutcome::NotHeld);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseOutcome {
    /// The lease with this token was removed: the resource is free.
    Released,
    /// No lease with this token was there (it expired, was released, or a newer holder has
    /// the resource, whose lease was left alone).
    NotHeld,
}

/// A lease backend: grants a resource to one holder at a time, each grant with a fresh token.
///
/// The contract, checked by the conformance suite in `quorate-testkit` on every backend:
///
/// - [`acquire`](Self::acquire) grants a free (or expired, on the grantor's clock) resource with
///   a token larger than every earlier token for the resource, durably in durable backends;
///   otherwise it fails with [`LeaseError::Held`], also for the current holder itself.
/// - [`renew`](Self::renew) extends the current grant by its hold from now; it is idempotent for
///   the current holder and fails with [`LeaseError::Expired`] once the grant expired or was
///   replaced, never reviving it.
/// - [`release`](Self::release) removes the lease only if its token is the grant's, so a stale
///   release never removes a newer holder's lease.
/// - [`current`](Self::current) reports the live lease, if any.
///
/// Backends: [`MemoryLease`] (default), `SqliteLease` (`sqlite`), `PgLease` (`postgres`),
/// `EtcdLease` (`etcd`). Object safe.
///
/// ```
/// use std::time::Duration;
/// use quorate_fencing::{Lease, MemoryLease, ReleaseOutcome};
/// # fn main() -> Result<(), quorate_fencing::LeaseError> {
/// let leases = MemoryLease::new();
/// let g = leases.acquire("scheduler", "node-a", Duration::from_secs(10))?;
/// leases.renew(&g)?;
/// assert_eq!(leases.current("scheduler")?.map(|r| r.token), Some(g.token));
/// assert_eq!(leases.release(&g)?, ReleaseOutcome::Released);
/// let g2 = leases.acquire("scheduler", "node-b", Duration::from_secs(10))?;
/// assert!(g2.token > g.token);
/// # Ok(()) }
/// ```
pub trait Lease: Send + Sync {
    /// Grants `resource` to `holder` for `hold` (on the grantor's clock) if it is free.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Held`] when a live lease exists, [`LeaseError::InvalidName`],
    /// [`LeaseError::InvalidHold`], [`LeaseError::Exhausted`], [`LeaseError::Corrupt`],
    /// [`LeaseError::Store`].
    fn acquire(&self, resource: &str, holder: &str, hold: Duration) -> Result<Grant, LeaseError>;

    /// Extends `grant` by its hold from now.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Expired`] when the grant is no longer the live lease, [`LeaseError::Store`].
    fn renew(&self, grant: &Grant) -> Result<(), LeaseError>;

    /// Removes `grant`'s lease if it is still the one stored.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Store`], [`LeaseError::Corrupt`].
    fn release(&self, grant: &Grant) -> Result<ReleaseOutcome, LeaseError>;

    /// The live lease on `resource`, if any.
    ///
    /// # Errors
    ///
    /// [`LeaseError::InvalidName`], [`LeaseError::Corrupt`], [`LeaseError::Store`].
    fn current(&self, resource: &str) -> Result<Option<LeaseRecord>, LeaseError>;
}

impl<T: Lease + ?Sized> Lease for std::sync::Arc<T> {
    fn acquire(&self, resource: &str, holder: &str, hold: Duration) -> Result<Grant, LeaseError> {
        (**self).acquire(resource, holder, hold)
    }
    fn renew(&self, grant: &Grant) -> Result<(), LeaseError> {
        (**self).renew(grant)
    }
    fn release(&self, grant: &Grant) -> Result<ReleaseOutcome, LeaseError> {
        (**self).release(grant)
    }
    fn current(&self, resource: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        (**self).current(resource)
    }
}

pub(crate) fn hold_nanos(hold: Duration) -> Result<u64, LeaseError> {
    if hold.is_zero() {
        return Err(LeaseError::InvalidHold);
    }
    u64::try_from(hold.as_nanos()).map_err(|_| LeaseError::InvalidHold)
}

#[derive(Debug)]
struct Slot {
    highest: u64,
    live: Option<Live>,
}

#[derive(Debug)]
struct Live {
    holder: String,
    token: u64,
    expires_ns: u64,
}

/// The in-memory lease backend: one process is the grantor, its monotonic clock the lease clock.
///
/// Expiry is measured on the injected [`MonotonicClock`] ([`BootClock`] by default, which keeps
/// counting through suspend), so wall-clock steps change nothing. Tokens count per resource from
/// 1 and survive releases, not the process.
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::ManualClock;
/// use quorate_fencing::{Lease, LeaseError, MemoryLease};
/// # fn main() -> Result<(), LeaseError> {
/// let clock = ManualClock::new(0);
/// let leases = MemoryLease::with_clock(clock.clone());
/// let a = leases.acquire("r", "a", Duration::from_secs(1))?;
/// clock.advance(Duration::from_secs(2));
/// assert!(matches!(leases.renew(&a), Err(LeaseError::Expired { .. })));
/// let b = leases.acquire("r", "b", Duration::from_secs(1))?;
/// assert!(b.token > a.token);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MemoryLease<C = BootClock> {
    clock: C,
    slots: Mutex<HashMap<String, Slot>>,
}

impl MemoryLease<BootClock> {
    /// A backend on [`BootClock`] with no leases.
    ///
    /// ```
    /// use quorate_fencing::{Lease, MemoryLease};
    /// assert_eq!(MemoryLease::new().current("r").unwrap(), None);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_clock(BootClock)
    }
}

impl Default for MemoryLease<BootClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: MonotonicClock> MemoryLease<C> {
    /// A backend measuring holds on `clock`.
    ///
    /// ```
    /// use quorate_clocks::ManualClock;
    /// use quorate_fencing::MemoryLease;
    /// let _leases = MemoryLease::with_clock(ManualClock::new(0));
    /// ```
    pub fn with_clock(clock: C) -> Self {
        Self {
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<C: MonotonicClock> Lease for MemoryLease<C> {
    fn acquire(&self, resource: &str, holder: &str, hold: Duration) -> Result<Grant, LeaseError> {
        check_name(resource)?;
        check_name(holder)?;
        let hold_ns = hold_nanos(hold)?;
        let mut slots = std_lock(&self.slots);
        let now = self.clock.now_nanos();
        let slot = slots.entry(resource.to_owned()).or_insert(Slot {
            highest: 0,
            live: None,
        });
        if let Some(live) = &slot.live
            && now < live.expires_ns
        {
            return Err(LeaseError::Held {
                resource: resource.to_owned(),
                holder: live.holder.clone(),
                token: FencingToken::new(live.token),
            });
        }
        let token =
            FencingToken::new(slot.highest)
                .next()
                .ok_or_else(|| LeaseError::Exhausted {
                    resource: resource.to_owned(),
                })?;
        slot.highest = token.get();
        slot.live = Some(Live {
            holder: holder.to_owned(),
            token: token.get(),
            expires_ns: now.saturating_add(hold_ns),
        });
        Ok(Grant::new(resource, holder, token, hold, 0))
    }

    fn renew(&self, grant: &Grant) -> Result<(), LeaseError> {
        let hold_ns = hold_nanos(grant.hold)?;
        let mut slots = std_lock(&self.slots);
        let now = self.clock.now_nanos();
        match slots
            .get_mut(grant.resource.as_str())
            .and_then(|s| s.live.as_mut())
        {
            Some(live)
                if live.token == grant.token.get()
                    && live.holder == grant.holder
                    && now < live.expires_ns =>
            {
                live.expires_ns = now.saturating_add(hold_ns);
                Ok(())
            }
            _ => Err(LeaseError::Expired {
                resource: grant.resource.clone(),
                token: grant.token,
            }),
        }
    }

    fn release(&self, grant: &Grant) -> Result<ReleaseOutcome, LeaseError> {
        let mut slots = std_lock(&self.slots);
        let Some(slot) = slots.get_mut(grant.resource.as_str()) else {
            return Ok(ReleaseOutcome::NotHeld);
        };
        match &slot.live {
            Some(live) if live.token == grant.token.get() => {
                slot.live = None;
                Ok(ReleaseOutcome::Released)
            }
            _ => Ok(ReleaseOutcome::NotHeld),
        }
    }

    fn current(&self, resource: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        check_name(resource)?;
        let slots = std_lock(&self.slots);
        let now = self.clock.now_nanos();
        Ok(slots
            .get(resource)
            .and_then(|s| s.live.as_ref())
            .filter(|l| now < l.expires_ns)
            .map(|l| LeaseRecord::new(l.holder.clone(), FencingToken::new(l.token))))
    }
}
