//! Fencing tokens, resource-side guards and leases that stay safe under process pauses and
//! clock skew.
//!
//! A lease alone is only an optimisation: a holder that pauses (GC, swap, a VM migration) past its
//! expiry wakes up believing it still holds the lock, and writes. Safety needs the *resource* to
//! refuse it. Every grant carries a [`FencingToken`] larger than every earlier one (Chubby's
//! sequencer, ZooKeeper's zxid, etcd's create revision, Hazelcast's fence); the resource keeps the
//! highest token it has accepted and refuses lower ones. This crate provides the tokens, the
//! resource-side checks (in memory and inside SQL writes), durable issuers, and one lease contract
//! on four backends whose timing stays safe under bounded clock drift and arbitrary offsets.
//!
//! # Which type to use
//!
//! | you need | use |
//! |---|---|
//! | the numbers | [`FencingToken`] (per grant), [`Epoch`] (per period, written once) |
//! | tokens for a resource, surviving restarts | [`TokenIssuer`]: [`MemoryIssuer`], `SqliteIssuer` (`sqlite`), `PgIssuer` (`postgres`) |
//! | the check in front of one in-memory resource | [`TokenGuard`] (one atomic word, lock-free) |
//! | the check for many resources, atomic with the write | [`ShardedGuard`] ([`ShardedGuard::fenced`]) |
//! | the check inside a SQL write, fence-on-acquire | [`FencedTable`] → [`FencedUpdate`] (`execute_sqlite`, `execute_postgres`) |
//! | a lease backend | [`Lease`]: [`MemoryLease`], `SqliteLease`, `PgLease`, `EtcdLease` |
//! | a store without server time (compare-and-set only) | [`ObservedLease`] over a [`VersionedStore`] |
//! | hold a lease safely | [`LeaseClient`] → [`HeldLease`] (poisoned when lost), [`LeaseTiming`] |
//! | run async work under a lease renewed in the background | `with_lease` (`tokio`) |
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use quorate_clocks::ManualClock;
//! use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease, TokenGuard};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new(0);
//! let backend = Arc::new(MemoryLease::with_clock(clock.clone()));
//! let timing = LeaseTiming::new(Duration::from_secs(10))?;
//! let a = LeaseClient::new(backend.clone(), "a", timing).with_clock(Arc::new(clock.clone()));
//! let b = LeaseClient::new(backend, "b", timing).with_clock(Arc::new(clock.clone()));
//! let storage = TokenGuard::new(); // the resource's side
//!
//! let lease_a = a.acquire("jobs")?;
//! let token_a = lease_a.token()?;
//! storage.check(token_a)?;
//!
//! // A pauses for a minute: its lease expires, B takes over and writes.
//! clock.advance(Duration::from_secs(60));
//! let lease_b = b.acquire("jobs")?;
//! storage.check(lease_b.token()?)?;
//!
//! // A wakes up. Its own guard knows the lease is gone…
//! assert!(lease_a.token().is_err());
//! // …and a write with the token it had read before the pause is refused by the resource.
//! assert!(storage.check(token_a).is_err());
//! # Ok(()) }
//! ```
//!
//! # Timing
//!
//! See [`LeaseTiming`]: the holder starts its timer *before* sending the request and stops at
//! `ttl · (1 − d) − margin` on its own monotonic clock; the grantor grants again only after
//! `ttl · (1 + d) + grace` on its clock. Only durations are measured, each on one clock, so any
//! offset between clocks is harmless and drift up to `d` is covered. The grantor's clock per
//! backend:
//!
//! | backend | grantor clock |
//! |---|---|
//! | [`MemoryLease`] | the injected [`MonotonicClock`](quorate_clocks::MonotonicClock) ([`BootClock`](quorate_clocks::BootClock) by default) |
//! | `SqliteLease` | a machine-wide monotonic clock ([`BootClock`](quorate_clocks::BootClock) by default; every process sharing the file reads the same clock) |
//! | `PgLease` | the database server's `clock_timestamp()`; never the client's clock |
//! | `EtcdLease` | the etcd leader's lease timer (leases are extended, never shortened, on leader change) |
//! | [`ObservedLease`] | each contender's own monotonic clock, measuring how long the record stayed unchanged |
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `serde` | `Serialize`/`Deserialize` for [`FencingToken`], [`Epoch`], [`LeaseTiming`] |
//! | `sqlite` | `SqliteIssuer`, `SqliteLease`, `FencedUpdate::execute_sqlite` (rusqlite, bundled) |
//! | `postgres` | `PgIssuer`, `PgLease`, `FencedUpdate::execute_postgres` |
//! | `etcd` | `EtcdLease` (etcd-client; building needs `protoc`) |
//! | `tokio` | `with_lease`: background renewal, the work cancelled when the lease is lost |
//!
//! # Guarantees and assumptions
//!
//! - Tokens strictly increase per resource and are never reused; durable issuers and leases commit
//!   the high-water mark before returning a token (SQLite with `synchronous = FULL`).
//! - Guards are linearizable: after a check of `t` returned `Ok`, no check of a lower token does.
//! - Lease safety assumes each clock's rate is within `1 ± d` of real time (`d` =
//!   [`LeaseTiming::max_drift_ppb`]), nothing about offsets. Pauses between the holder's check and
//!   its write are covered by the resource-side check, not by timing.
//! - Nothing panics on caller input, stored rows or peer responses: bad names, unknown resources,
//!   foreign tokens and corrupt rows are typed errors.
//!
//! # Examples to copy
//!
//! Runnable programs under 80 lines in the repository's `examples/examples/`:
//!
//! - [`fenced_write.rs`](https://github.com/quorate-rs/quorate/blob/main/examples/examples/fenced_write.rs): a fenced write after a paused lease (`cargo run -p quorate-examples --example fenced_write`)
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod error;
#[cfg(feature = "etcd")]
mod etcd;
mod fenced;
mod guard;
mod holder;
mod issuer;
mod lease;
mod observed;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "tokio")]
mod runtime;
#[cfg(feature = "sqlite")]
mod sqlite;
mod sync;
mod timing;
mod token;

pub use error::{
    FencedWriteError, InvalidName, IssueError, LeaseError, LeaseLost, MAX_NAME_LEN, StoreError,
    check_name,
};
#[cfg(feature = "etcd")]
#[cfg_attr(docsrs, doc(cfg(feature = "etcd")))]
pub use etcd::{DEFAULT_ETCD_TIMEOUT, EtcdLease};
pub use fenced::{FencedTable, FencedUpdate, InvalidIdentifier};
pub use guard::{ShardedGuard, StaleToken, TokenGuard};
pub use holder::{HeldLease, LeaseClient};
pub use issuer::{MemoryIssuer, TokenIssuer};
pub use lease::{Grant, Lease, LeaseRecord, MemoryLease, ReleaseOutcome};
pub use observed::{MemoryVersionedStore, ObservedLease, VersionedRecord, VersionedStore};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PgIssuer, PgLease};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use runtime::{LeaseScope, WithLeaseError, with_lease};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteIssuer, SqliteLease};
pub use timing::{InvalidTiming, LeaseTiming, PPB};
pub use token::{Epoch, FencingToken};

#[doc(hidden)]
pub mod __private {
    //! Test hooks, not part of the API.
    use std::sync::OnceLock;

    static CRASH_HOOK: OnceLock<fn(&str)> = OnceLock::new();

    /// Installs the function called at each named step of a durable grant (crash tests install
    /// `quorate_testkit::crash_point`). Returns `false` if one was installed already.
    pub fn set_crash_hook(hook: fn(&str)) -> bool {
        CRASH_HOOK.set(hook).is_ok()
    }

    #[allow(dead_code, unreachable_pub)]
    pub(crate) fn crash_point(name: &str) {
        if let Some(hook) = CRASH_HOOK.get() {
            hook(name);
        }
    }
}
