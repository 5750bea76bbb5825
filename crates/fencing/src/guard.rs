//! Resource-side guards: the check that makes a stale holder harmless.
//!
//! A lease tells a holder "you may act"; it cannot stop a holder that paused (GC, swap, a VM
//! migration) past its expiry from acting anyway. The resource must refuse it. Each grant carries
//! a [`FencingToken`] larger than every earlier one; the resource remembers the highest token it
//! has accepted and refuses lower ones. Equal tokens pass: the current holder writes many times.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::sync::{AtomicU64, Mutex, Ordering, lock};
use crate::token::FencingToken;

/// A token lower than the highest one the resource has accepted.
///
/// ```
/// use quorate_fencing::{FencingToken, StaleToken, TokenGuard};
/// let guard = TokenGuard::new();
/// guard.check(FencingToken::new(34)).unwrap();
/// let err = guard.check(FencingToken::new(33)).unwrap_err();
/// assert_eq!(err, StaleToken { presented: FencingToken::new(33), highest: FencingToken::new(34) });
/// assert_eq!(err.to_string(), "stale fencing token 33: the resource has accepted 34");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("stale fencing token {presented}: the resource has accepted {highest}")]
pub struct StaleToken {
    /// The token the writer presented.
    pub presented: FencingToken,
    /// The highest token the resource had accepted when it refused.
    pub highest: FencingToken,
}

/// A lock-free guard for one resource: one atomic word holding the highest accepted token.
///
/// [`check`](Self::check) is a compare-and-advance: a token equal to the highest costs one load
/// (no write, so the cache line stays shared between readers on many cores), a higher one one
/// compare-and-swap, a lower one is refused with [`StaleToken`]. Checks are linearizable: once a
/// check of `t` has returned `Ok`, no later check of a token below `t` returns `Ok`.
///
/// The check orders *checks*, not the writes they protect. When the write itself is not atomic
/// with the check (two threads could check, then write in the other order), use
/// [`ShardedGuard::fenced`], which runs the write under the same lock as the check, or a fenced
/// database write ([`FencedTable`](crate::FencedTable)).
///
/// ```
/// use quorate_fencing::{FencingToken, TokenGuard};
/// # fn main() -> Result<(), quorate_fencing::StaleToken> {
/// let guard = TokenGuard::new();
/// guard.check(FencingToken::new(1))?;
/// guard.check(FencingToken::new(2))?; // a new holder
/// guard.check(FencingToken::new(2))?; // the same holder again
/// assert!(guard.check(FencingToken::new(1)).is_err()); // the old holder woke up
/// assert_eq!(guard.highest(), FencingToken::new(2));
/// # Ok(()) }
/// ```
pub struct TokenGuard {
    highest: AtomicU64,
}

impl TokenGuard {
    /// A guard that has accepted nothing yet (its highest token is [`FencingToken::ZERO`]).
    ///
    /// ```
    /// use quorate_fencing::{FencingToken, TokenGuard};
    /// assert_eq!(TokenGuard::new().highest(), FencingToken::ZERO);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::starting_at(FencingToken::ZERO)
    }

    /// A guard whose highest accepted token is `highest` (restored from durable storage).
    ///
    /// ```
    /// use quorate_fencing::{FencingToken, TokenGuard};
    /// let guard = TokenGuard::starting_at(FencingToken::new(9));
    /// assert!(guard.check(FencingToken::new(8)).is_err());
    /// ```
    #[must_use]
    pub fn starting_at(highest: FencingToken) -> Self {
        Self {
            highest: AtomicU64::new(highest.get()),
        }
    }

    /// Accepts `token` if it is at least the highest accepted so far, raising the highest to it.
    ///
    /// # Errors
    ///
    /// [`StaleToken`] when `token` is below the highest accepted token.
    ///
    /// ```
    /// use quorate_fencing::{FencingToken, TokenGuard};
    /// let guard = TokenGuard::new();
    /// assert!(guard.check(FencingToken::new(5)).is_ok());
    /// assert!(guard.check(FencingToken::new(4)).is_err());
    /// ```
    #[inline]
    pub fn check(&self, token: FencingToken) -> Result<(), StaleToken> {
        let presented = token.get();
        let mut current = self.highest.load(Ordering::Acquire);
        loop {
            if presented == current {
                return Ok(());
            }
            if presented < current {
                return Err(StaleToken {
                    presented: token,
                    highest: FencingToken::new(current),
                });
            }
            match self.highest.compare_exchange_weak(
                current,
                presented,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// The highest token accepted so far.
    ///
    /// ```
    /// use quorate_fencing::{FencingToken, TokenGuard};
    /// let guard = TokenGuard::new();
    /// guard.check(FencingToken::new(3)).unwrap();
    /// assert_eq!(guard.highest(), FencingToken::new(3));
    /// ```
    #[must_use]
    pub fn highest(&self) -> FencingToken {
        FencingToken::new(self.highest.load(Ordering::Acquire))
    }
}

impl Default for TokenGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TokenGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGuard")
            .field("highest", &self.highest())
            .finish()
    }
}

/// Guards for many resources, keyed by resource, in independently locked shards.
///
/// Each resource has its own highest accepted token (an unseen resource has accepted
/// [`FencingToken::ZERO`]). [`check`](Self::check) is the compare-and-advance of
/// [`TokenGuard::check`] per key; [`fenced`](Self::fenced) runs the protected write under the
/// shard's lock, so the check and the write are one atomic step and two holders can never check
/// in one order and write in the other.
///
/// ```
/// use quorate_fencing::{FencingToken, ShardedGuard};
/// # fn main() -> Result<(), quorate_fencing::StaleToken> {
/// let guard: ShardedGuard<String> = ShardedGuard::new();
/// guard.check("jobs/42", FencingToken::new(7))?;
/// guard.check("jobs/43", FencingToken::new(1))?; // another resource, its own order
/// assert!(guard.check("jobs/42", FencingToken::new(6)).is_err());
///
/// let mut ledger = Vec::new();
/// guard.fenced("jobs/42", FencingToken::new(8), || ledger.push("run by 8"))?;
/// assert_eq!(ledger, ["run by 8"]);
/// # Ok(()) }
/// ```
pub struct ShardedGuard<K, S = RandomState> {
    shards: Box<[Mutex<HashMap<K, u64, S>>]>,
    hasher: S,
}

const DEFAULT_SHARDS: usize = 16;

impl<K: Hash + Eq> ShardedGuard<K, RandomState> {
    /// An empty guard with 16 shards.
    ///
    /// ```
    /// use quorate_fencing::ShardedGuard;
    /// let guard: ShardedGuard<u64> = ShardedGuard::new();
    /// assert_eq!(guard.highest(&1), None);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_shards(DEFAULT_SHARDS)
    }

    /// An empty guard with `shards` shards (rounded up to a power of two, at least 1).
    ///
    /// ```
    /// use quorate_fencing::ShardedGuard;
    /// let guard: ShardedGuard<String> = ShardedGuard::with_shards(64);
    /// assert_eq!(guard.shard_count(), 64);
    /// ```
    #[must_use]
    pub fn with_shards(shards: usize) -> Self {
        Self::with_shards_and_hasher(shards, RandomState::new())
    }
}

impl<K: Hash + Eq, S: BuildHasher + Clone> ShardedGuard<K, S> {
    /// An empty guard with `shards` shards (a power of two, at least 1) hashing with `hasher`.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// use quorate_fencing::ShardedGuard;
    /// let guard: ShardedGuard<u32> = ShardedGuard::with_shards_and_hasher(3, RandomState::new());
    /// assert_eq!(guard.shard_count(), 4);
    /// ```
    #[must_use]
    pub fn with_shards_and_hasher(shards: usize, hasher: S) -> Self {
        let n = shards.max(1).checked_next_power_of_two().unwrap_or(1 << 16);
        let shards = (0..n)
            .map(|_| Mutex::new(HashMap::with_hasher(hasher.clone())))
            .collect();
        Self { shards, hasher }
    }

    /// The number of shards.
    ///
    /// ```
    /// use quorate_fencing::ShardedGuard;
    /// assert_eq!(ShardedGuard::<u8>::new().shard_count(), 16);
    /// ```
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &Mutex<HashMap<K, u64, S>> {
        let h = self.hasher.hash_one(key);
        let mask = (self.shards.len() - 1) as u64;
        // The index is masked below the (non-zero, power-of-two) length: `get` never misses.
        let i = usize::try_from(h & mask).unwrap_or(0);
        &self.shards[i.min(self.shards.len() - 1)]
    }

    /// Accepts `token` for `resource` if it is at least the highest accepted for that resource.
    ///
    /// # Errors
    ///
    /// [`StaleToken`] when `token` is below the resource's highest accepted token.
    ///
    /// ```
    /// use quorate_fencing::{FencingToken, ShardedGuard};
    /// let guard: ShardedGuard<String> = ShardedGuard::new();
    /// assert!(guard.check("a", FencingToken::new(2)).is_ok());
    /// assert!(guard.check("a", FencingToken::new(1)).is_err());
    /// ```
    pub fn check<Q>(&self, resource: &Q, token: FencingToken) -> Result<(), StaleToken>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.fenced(resource, token, || ())
    }

    /// Checks `token` for `resource` and, if accepted, runs `write` before any other check of
    /// the same shard can run, returning its result.
    ///
    /// # Errors
    ///
    /// [`StaleToken`] (and `write` does not run) when `token` is below the resource's highest
    /// accepted token.
    ///
    /// ```
    /// use quorate_fencing::{FencingToken, ShardedGuard};
    /// let guard: ShardedGuard<String> = ShardedGuard::new();
    /// let mut balance = 0;
    /// guard.fenced("acct", FencingToken::new(3), || balance += 10).unwrap();
    /// assert!(guard.fenced("acct", FencingToken::new(2), || balance += 1000).is_err());
    /// assert_eq!(balance, 10);
    /// ```
    pub fn fenced<Q, R>(
        &self,
        resource: &Q,
        token: FencingToken,
        write: impl FnOnce() -> R,
    ) -> Result<R, StaleToken>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut map = lock(self.shard(resource));
        match map.get_mut(resource) {
            Some(highest) if *highest > token.get() => Err(StaleToken {
                presented: token,
                highest: FencingToken::new(*highest),
            }),
            Some(highest) => {
                *highest = token.get();
                Ok(write())
            }
            None => {
                map.insert(resource.to_owned(), token.get());
                Ok(write())
            }
        }
    }

    /// The highest token accepted for `resource`, or `None` if it has never been checked.
    ///
    /// ```
    /// use quorate_fencing::{FencingToken, ShardedGuard};
    /// let guard: ShardedGuard<String> = ShardedGuard::new();
    /// guard.check("r", FencingToken::new(4)).unwrap();
    /// assert_eq!(guard.highest("r"), Some(FencingToken::new(4)));
    /// assert_eq!(guard.highest("other"), None);
    /// ```
    #[must_use]
    pub fn highest<Q>(&self, resource: &Q) -> Option<FencingToken>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        lock(self.shard(resource))
            .get(resource)
            .map(|&t| FencingToken::new(t))
    }
}

impl<K: Hash + Eq> Default for ShardedGuard<K, RandomState> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, S> fmt::Debug for ShardedGuard<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedGuard")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}
