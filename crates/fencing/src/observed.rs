//! Observed leases (client-go's leader election): for stores that have compare-and-set but no
//! server time.
//!
//! The record names a holder and carries a version that the holder bumps on every renewal. A
//! contender never compares timestamps: it remembers the version it saw and when it first saw it
//! on *its own* monotonic clock, and takes over only when the same version has stayed unchanged for
//! a full hold duration. The holder renews (bumps the version) well inside its window, so a live
//! holder's record never stays unchanged that long.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use quorate_clocks::{BootClock, MonotonicClock};

use crate::error::{LeaseError, check_name};
use crate::lease::{Grant, Lease, LeaseRecord, ReleaseOutcome, hold_nanos};
use crate::sync::std_lock;
use crate::token::FencingToken;

/// The record an [`ObservedLease`] keeps in a [`VersionedStore`].
///
/// ```
/// use quorate_fencing::{FencingToken, VersionedRecord};
/// let r = VersionedRecord::new(Some("a".into()), FencingToken::new(1), 1);
/// assert_eq!(r.version, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct VersionedRecord {
    /// The holder, or `None` when released.
    pub holder: Option<String>,
    /// The token of the current (or last) holder; kept on release so tokens are never reused.
    pub token: FencingToken,
    /// Bumped on every write (acquire, renew, release).
    pub version: u64,
}

impl VersionedRecord {
    /// A record.
    ///
    /// ```
    /// use quorate_fencing::{FencingToken, VersionedRecord};
    /// assert!(VersionedRecord::new(None, FencingToken::new(3), 7).holder.is_none());
    /// ```
    #[must_use]
    pub fn new(holder: Option<String>, token: FencingToken, version: u64) -> Self {
        Self {
            holder,
            token,
            version,
        }
    }
}

/// A store with per-key compare-and-set (a Kubernetes object, a row with a version column, a
/// key in a key-value store): all an [`ObservedLease`] needs.
///
/// ```
/// use quorate_fencing::{FencingToken, MemoryVersionedStore, VersionedRecord, VersionedStore};
/// # fn main() -> Result<(), quorate_fencing::LeaseError> {
/// let store = MemoryVersionedStore::new();
/// let rec = VersionedRecord::new(Some("a".into()), FencingToken::new(1), 1);
/// assert!(store.compare_and_set("r", None, rec.clone())?);
/// assert!(!store.compare_and_set("r", None, rec)?); // the version moved on
/// # Ok(()) }
/// ```
pub trait VersionedStore: Send + Sync {
    /// The record of `resource`.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Store`] or [`LeaseError::Corrupt`].
    fn read(&self, resource: &str) -> Result<Option<VersionedRecord>, LeaseError>;

    /// Stores `new` if the stored record's version is `expected` (`None`: no record); returns
    /// whether it did.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Store`].
    fn compare_and_set(
        &self,
        resource: &str,
        expected: Option<u64>,
        new: VersionedRecord,
    ) -> Result<bool, LeaseError>;
}

/// An in-memory [`VersionedStore`].
///
/// ```
/// use quorate_fencing::{MemoryVersionedStore, VersionedStore};
/// assert!(MemoryVersionedStore::new().read("r").unwrap().is_none());
/// ```
#[derive(Debug, Default)]
pub struct MemoryVersionedStore {
    records: Mutex<HashMap<String, VersionedRecord>>,
}

impl MemoryVersionedStore {
    /// An empty store.
    ///
    /// ```
    /// let _ = quorate_fencing::MemoryVersionedStore::new();
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl VersionedStore for MemoryVersionedStore {
    fn read(&self, resource: &str) -> Result<Option<VersionedRecord>, LeaseError> {
        Ok(std_lock(&self.records).get(resource).cloned())
    }

    fn compare_and_set(
        &self,
        resource: &str,
        expected: Option<u64>,
        new: VersionedRecord,
    ) -> Result<bool, LeaseError> {
        let mut map = std_lock(&self.records);
        if map.get(resource).map(|r| r.version) != expected {
            return Ok(false);
        }
        map.insert(resource.to_owned(), new);
        Ok(true)
    }
}

impl<T: VersionedStore + ?Sized> VersionedStore for std::sync::Arc<T> {
    fn read(&self, resource: &str) -> Result<Option<VersionedRecord>, LeaseError> {
        (**self).read(resource)
    }
    fn compare_and_set(
        &self,
        resource: &str,
        expected: Option<u64>,
        new: VersionedRecord,
    ) -> Result<bool, LeaseError> {
        (**self).compare_and_set(resource, expected, new)
    }
}

/// A [`Lease`] over a [`VersionedStore`], expiry judged by each contender's own clock.
///
/// [`acquire`](Lease::acquire) takes a free resource at once; a held one only after the
/// contender has seen the same record version for `hold` on its monotonic clock (so call it
/// repeatedly, as a contender's loop does). [`renew`](Lease::renew) bumps the version if the
/// record still carries the grant's token; [`release`](Lease::release) frees the record, keeping
/// its token so tokens are never reused.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use quorate_clocks::ManualClock;
/// use quorate_fencing::{Lease, LeaseError, MemoryVersionedStore, ObservedLease};
/// # fn main() -> Result<(), LeaseError> {
/// let store = Arc::new(MemoryVersionedStore::new());
/// let clock_b = ManualClock::new(0);
/// let a = ObservedLease::new(store.clone());
/// let b = ObservedLease::with_clock(store, clock_b.clone());
/// let hold = Duration::from_secs(10);
/// let ga = a.acquire("leader", "a", hold)?;
/// assert!(b.acquire("leader", "b", hold).is_err()); // b starts watching version 1
/// clock_b.advance(Duration::from_secs(10));        // a never renewed
/// let gb = b.acquire("leader", "b", hold)?;
/// assert!(gb.token > ga.token);
/// assert!(a.renew(&ga).is_err());
/// # Ok(()) }
/// ```
pub struct ObservedLease<S, C = BootClock> {
    store: S,
    clock: C,
    /// resource → (version seen, since when on our clock).
    observed: Mutex<HashMap<String, (u64, u64)>>,
}

impl<S: VersionedStore> ObservedLease<S, BootClock> {
    /// A contender on `store`, timing on [`BootClock`].
    ///
    /// ```
    /// use quorate_fencing::{MemoryVersionedStore, ObservedLease};
    /// let _ = ObservedLease::new(MemoryVersionedStore::new());
    /// ```
    pub fn new(store: S) -> Self {
        Self::with_clock(store, BootClock)
    }
}

impl<S: VersionedStore, C: MonotonicClock> ObservedLease<S, C> {
    /// A contender on `store`, timing on `clock`.
    ///
    /// ```
    /// use quorate_clocks::ManualClock;
    /// use quorate_fencing::{MemoryVersionedStore, ObservedLease};
    /// let _ = ObservedLease::with_clock(MemoryVersionedStore::new(), ManualClock::new(0));
    /// ```
    pub fn with_clock(store: S, clock: C) -> Self {
        Self {
            store,
            clock,
            observed: Mutex::new(HashMap::new()),
        }
    }

    fn held(resource: &str, rec: &VersionedRecord) -> LeaseError {
        LeaseError::Held {
            resource: resource.to_owned(),
            holder: rec.holder.clone().unwrap_or_default(),
            token: rec.token,
        }
    }
}

fn next_version(resource: &str, v: u64) -> Result<u64, LeaseError> {
    v.checked_add(1).ok_or_else(|| LeaseError::Corrupt {
        resource: resource.to_owned(),
        detail: "record version at its maximum".to_owned(),
    })
}

impl<S: VersionedStore, C: MonotonicClock> Lease for ObservedLease<S, C> {
    fn acquire(&self, resource: &str, holder: &str, hold: Duration) -> Result<Grant, LeaseError> {
        check_name(resource)?;
        check_name(holder)?;
        let hold_ns = hold_nanos(hold)?;
        let record = self.store.read(resource)?;
        let (expected, last_token) = match &record {
            None => (None, FencingToken::ZERO),
            Some(rec) => {
                if rec.holder.is_some() {
                    let now = self.clock.now_nanos();
                    let mut seen = std_lock(&self.observed);
                    match seen.get(resource) {
                        Some(&(v, since))
                            if v == rec.version && now.saturating_sub(since) >= hold_ns => {}
                        Some(&(v, _)) if v == rec.version => return Err(Self::held(resource, rec)),
                        _ => {
                            seen.insert(resource.to_owned(), (rec.version, now));
                            return Err(Self::held(resource, rec));
                        }
                    }
                }
                (Some(rec.version), rec.token)
            }
        };
        let token = last_token.next().ok_or_else(|| LeaseError::Exhausted {
            resource: resource.to_owned(),
        })?;
        let version = match expected {
            None => 1,
            Some(v) => next_version(resource, v)?,
        };
        let new = VersionedRecord::new(Some(holder.to_owned()), token, version);
        if self.store.compare_and_set(resource, expected, new)? {
            std_lock(&self.observed).remove(resource);
            Ok(Grant::new(resource, holder, token, hold, 0))
        } else {
            match self.store.read(resource)? {
                Some(rec) => Err(Self::held(resource, &rec)),
                None => Err(LeaseError::Held {
                    resource: resource.to_owned(),
                    holder: String::new(),
                    token: FencingToken::ZERO,
                }),
            }
        }
    }

    fn renew(&self, grant: &Grant) -> Result<(), LeaseError> {
        let expired = || LeaseError::Expired {
            resource: grant.resource.clone(),
            token: grant.token,
        };
        let Some(rec) = self.store.read(&grant.resource)? else {
            return Err(expired());
        };
        if rec.token != grant.token || rec.holder.as_deref() != Some(grant.holder.as_str()) {
            return Err(expired());
        }
        let new = VersionedRecord::new(
            rec.holder.clone(),
            rec.token,
            next_version(&grant.resource, rec.version)?,
        );
        if self
            .store
            .compare_and_set(&grant.resource, Some(rec.version), new)?
        {
            Ok(())
        } else {
            Err(expired())
        }
    }

    fn release(&self, grant: &Grant) -> Result<ReleaseOutcome, LeaseError> {
        let Some(rec) = self.store.read(&grant.resource)? else {
            return Ok(ReleaseOutcome::NotHeld);
        };
        if rec.token != grant.token || rec.holder.is_none() {
            return Ok(ReleaseOutcome::NotHeld);
        }
        let new =
            VersionedRecord::new(None, rec.token, next_version(&grant.resource, rec.version)?);
        if self
            .store
            .compare_and_set(&grant.resource, Some(rec.version), new)?
        {
            Ok(ReleaseOutcome::Released)
        } else {
            Ok(ReleaseOutcome::NotHeld)
        }
    }

    fn current(&self, resource: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        check_name(resource)?;
        Ok(self
            .store
            .read(resource)?
            .and_then(|r| r.holder.map(|h| LeaseRecord::new(h, r.token))))
    }
}

impl<S, C> fmt::Debug for ObservedLease<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedLease").finish_non_exhaustive()
    }
}
