//! The in-memory store: sharded hash maps behind mutexes.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Arc;

use bytes::Bytes;
use quorate_clocks::{MonotonicClock, SystemClock, WallClock};
use quorate_fencing::FencingToken;

use crate::__private::crash_point;
use crate::error::{StoreError, check_phase};
use crate::machine::{Decision, Row, decide, first_epoch, held_by, stale};
use crate::store::IdempotencyStore;
use crate::sync::{Mutex, lock};
use crate::types::{
    Attempt, Begin, Fingerprint, MAX_KEY_LEN, MAX_SCOPE_LEN, Outcome, Record, RecoveryPoint, State,
    StoreConfig, check_key,
};

#[cfg(not(quorate_loom))]
const SHARDS: usize = 64;
#[cfg(quorate_loom)]
const SHARDS: usize = 2;

/// The longest map key: the 8-byte keyed hash, one length byte, the scope, the key.
const MAX_MAP_KEY: usize = 8 + 1 + MAX_SCOPE_LEN + MAX_KEY_LEN;

/// A map key starts with its own SipHash (under the store's random keys, so HashDoS-safe);
/// the shard's map reads those 8 bytes back instead of hashing the key a second time.
#[derive(Debug, Default, Clone, Copy)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(prefix) = bytes.first_chunk::<8>() {
            self.0 = u64::from_le_bytes(*prefix);
        }
    }

    // `[u8]` hashes its length first; the prefix alone is the hash.
    fn write_usize(&mut self, _: usize) {}
}

type Shard = HashMap<Box<[u8]>, Row, BuildHasherDefault<PrefixHasher>>;

/// An in-memory [`IdempotencyStore`]: 64 shards, each a hash map behind its own mutex, so
/// begins on different keys rarely contend.
///
/// Lock expiry reads a [`MonotonicClock`] (a wall-clock jump neither extends nor shortens a
/// lock); retention reads a [`WallClock`]. Records live as long as the process: use it for
/// tests, for single-process services that accept losing keys on restart, and as the fastest
/// backend.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use quorate_clocks::ManualClock;
/// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, MemoryStore, StoreConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let clock = ManualClock::new(0);
/// let config = StoreConfig::new(Duration::from_secs(10), Duration::from_secs(3600), 1024)?;
/// let store = MemoryStore::with_clocks(config, clock.clone(), clock.clone());
/// let fp = Fingerprint::of(b"req");
/// let Begin::Execute(first) = store.begin("", "k", &fp)? else { unreachable!() };
/// // The worker crashes; after the lock ttl another takes over with a higher epoch.
/// clock.advance(Duration::from_secs(11));
/// let Begin::Execute(second) = store.begin("", "k", &fp)? else { unreachable!() };
/// assert!(second.epoch() > first.epoch());
/// # Ok(())
/// # }
/// ```
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    config: StoreConfig,
    mono: Arc<dyn MonotonicClock>,
    wall: Arc<dyn WallClock>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the default [`StoreConfig`] on the system clocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_idempotency::{IdempotencyStore, MemoryStore};
    /// assert_eq!(MemoryStore::new().config().max_response_bytes(), 1 << 20);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(StoreConfig::default())
    }

    /// A store with `config` on the system clocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_idempotency::{MemoryStore, StoreConfig};
    /// let store = MemoryStore::with_config(StoreConfig::default());
    /// # drop(store);
    /// ```
    #[must_use]
    pub fn with_config(config: StoreConfig) -> Self {
        Self::with_clocks(config, SystemClock, SystemClock)
    }

    /// A store with `config`, reading lock time from `mono` and retention time from `wall`
    /// (a [`ManualClock`](quorate_clocks::ManualClock) for both in tests).
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_clocks::{BootClock, SystemClock};
    /// use quorate_idempotency::{MemoryStore, StoreConfig};
    /// let store = MemoryStore::with_clocks(StoreConfig::default(), BootClock, SystemClock);
    /// # drop(store);
    /// ```
    pub fn with_clocks(
        config: StoreConfig,
        mono: impl MonotonicClock + 'static,
        wall: impl WallClock + 'static,
    ) -> Self {
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(HashMap::default()))
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
            config,
            mono: Arc::new(mono),
            wall: Arc::new(wall),
        }
    }

    /// The number of records held (any state, expired ones not yet reaped included).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(quorate_idempotency::MemoryStore::new().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether the store holds no record.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(quorate_idempotency::MemoryStore::new().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, map_key: &[u8]) -> &Mutex<Shard> {
        let h = PrefixHasher::default().hash_of(map_key);
        // Bits 51..57: hashbrown takes bucket indexes from the low bits and its tags from the top
        // seven, so the shard choice does not correlate with either. SHARDS is a power of two.
        &self.shards[(h >> 51) as usize & (SHARDS - 1)]
    }

    /// Writes `[hash][scope.len() as u8][scope][key]` into `buf` and returns the used prefix.
    /// The caller has checked both lengths.
    fn map_key<'b>(&self, buf: &'b mut [u8; MAX_MAP_KEY], scope: &str, key: &str) -> &'b [u8] {
        let s = scope.len().min(MAX_SCOPE_LEN);
        let k = key.len().min(MAX_KEY_LEN);
        buf[8] = s as u8;
        buf[9..9 + s].copy_from_slice(&scope.as_bytes()[..s]);
        buf[9 + s..9 + s + k].copy_from_slice(&key.as_bytes()[..k]);
        let h = self.hasher.hash_one(&buf[8..9 + s + k]);
        buf[..8].copy_from_slice(&h.to_le_bytes());
        &buf[..9 + s + k]
    }
}

impl PrefixHasher {
    fn hash_of(mut self, map_key: &[u8]) -> u64 {
        self.write(map_key);
        self.finish()
    }
}

impl IdempotencyStore for MemoryStore {
    fn begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Begin, StoreError> {
        check_key(scope, key)?;
        let ttl = self.config.lock_ttl_nanos();
        let retention = self.config.retention_nanos();
        let mut buf = [0u8; MAX_MAP_KEY];
        let mk = self.map_key(&mut buf, scope, key);
        crash_point("idempotency.begin.before");
        let shard = self.shard(mk);
        let mut map = lock(shard);
        let lock_now = self.mono.now_nanos();
        let wall_now = self.wall.now_unix_nanos();
        let fresh = |epoch: u64, recovery: Option<RecoveryPoint>| Row {
            fingerprint: *fingerprint,
            epoch,
            state: State::InProgress,
            lock_until: lock_now.saturating_add(ttl),
            expires_at: wall_now.saturating_add(retention),
            response: None,
            recovery,
        };
        let answer = match map.get_mut(mk) {
            None => {
                let epoch = first_epoch(wall_now);
                map.insert(mk.into(), fresh(epoch, None));
                Begin::Execute(Attempt::new(scope, key, FencingToken::new(epoch), None))
            }
            Some(row) => match decide(row, fingerprint, lock_now, wall_now, ttl, key)? {
                Decision::Fresh { epoch } => {
                    *row = fresh(epoch, None);
                    Begin::Execute(Attempt::new(scope, key, FencingToken::new(epoch), None))
                }
                Decision::Takeover { epoch } => {
                    let recovery = row.recovery.take();
                    *row = fresh(epoch, recovery.clone());
                    Begin::Execute(Attempt::new(scope, key, FencingToken::new(epoch), recovery))
                }
                Decision::Replay(stored) => Begin::Replay(stored),
                Decision::InProgress { retry_after } => Begin::InProgress { retry_after },
                Decision::Mismatch => Begin::FingerprintMismatch,
            },
        };
        drop(map);
        crash_point("idempotency.begin.after");
        Ok(answer)
    }

    fn checkpoint(&self, attempt: &Attempt, phase: &str, data: &[u8]) -> Result<(), StoreError> {
        check_phase(phase)?;
        self.config.check_size(data.len())?;
        let (scope, key) = (attempt.scope(), attempt.key());
        check_key(scope, key)?;
        let mut buf = [0u8; MAX_MAP_KEY];
        let mk = self.map_key(&mut buf, scope, key);
        crash_point("idempotency.checkpoint.before");
        let mut map = lock(self.shard(mk));
        match map.get_mut(mk) {
            Some(row) if held_by(row, attempt.epoch()) => {
                row.recovery = Some(RecoveryPoint::new(phase, Bytes::copy_from_slice(data)));
                row.lock_until = self
                    .mono
                    .now_nanos()
                    .saturating_add(self.config.lock_ttl_nanos());
            }
            row => return Err(stale(scope, key, attempt.epoch(), row.map(|r| &*r))),
        }
        drop(map);
        crash_point("idempotency.checkpoint.after");
        Ok(())
    }

    fn complete(&self, attempt: &Attempt, outcome: Outcome) -> Result<(), StoreError> {
        self.config.check_size(outcome.response_len())?;
        let (scope, key) = (attempt.scope(), attempt.key());
        check_key(scope, key)?;
        let mut buf = [0u8; MAX_MAP_KEY];
        let mk = self.map_key(&mut buf, scope, key);
        crash_point("idempotency.complete.before");
        let mut map = lock(self.shard(mk));
        match map.get_mut(mk) {
            Some(row) if held_by(row, attempt.epoch()) => match outcome {
                Outcome::Succeeded(response) => {
                    row.state = State::Succeeded;
                    row.response = Some(response);
                    row.recovery = None;
                }
                Outcome::FailedFinal(response) => {
                    row.state = State::FailedFinal;
                    row.response = Some(response);
                    row.recovery = None;
                }
                Outcome::FailedRetryable => row.state = State::FailedRetryable,
            },
            row => return Err(stale(scope, key, attempt.epoch(), row.map(|r| &*r))),
        }
        drop(map);
        crash_point("idempotency.complete.after");
        Ok(())
    }

    fn get(&self, scope: &str, key: &str) -> Result<Option<Record>, StoreError> {
        check_key(scope, key)?;
        let mut buf = [0u8; MAX_MAP_KEY];
        let mk = self.map_key(&mut buf, scope, key);
        let map = lock(self.shard(mk));
        let lock_now = self.mono.now_nanos();
        let wall_now = self.wall.now_unix_nanos();
        Ok(map
            .get(mk)
            .filter(|row| !row.expired(lock_now, wall_now, self.config.lock_ttl_nanos()))
            .map(Row::record))
    }

    fn reap(&self, max: usize) -> Result<usize, StoreError> {
        let ttl = self.config.lock_ttl_nanos();
        let mut reaped = 0;
        for shard in &*self.shards {
            if reaped >= max {
                break;
            }
            let mut map = lock(shard);
            let lock_now = self.mono.now_nanos();
            let wall_now = self.wall.now_unix_nanos();
            map.retain(|_, row| {
                if reaped < max && row.expired(lock_now, wall_now, ttl) {
                    reaped += 1;
                    false
                } else {
                    true
                }
            });
        }
        Ok(reaped)
    }

    fn config(&self) -> &StoreConfig {
        &self.config
    }
}
