//! Idempotency keys with stable replay: the state machine, over in-memory, SQLite and
//! PostgreSQL stores, with a tower layer for HTTP services.
//!
//! A client that times out cannot tell whether its request failed, succeeded or is still
//! running, so it retries. An idempotency key makes the retry safe: the server runs the
//! operation once per `(scope, key)`, stores the response, and answers every retry with the
//! stored bytes. The hard parts are the ones users of Stripe-style keys keep hitting: a worker
//! that crashes mid-operation must not leave its key "in progress" forever; a worker that paused
//! past its lock must not overwrite the result of the attempt that took over; a multi-step
//! operation must resume after its last committed step instead of repeating it; keys of one
//! caller must never replay another caller's response; and a reused key with a different
//! request must be refused, not answered with someone else's result.
//!
//! | Need | Use |
//! |---|---|
//! | the state machine, in one process, fastest | [`MemoryStore`] (default) |
//! | durable keys on one machine, effects in the same SQLite transaction | `SqliteStore` (`sqlite`) |
//! | durable keys shared by many servers, lock time from the database clock | `PgStore` (`postgres`), `AsyncPgStore` (`tokio`) |
//! | `Idempotency-Key` on a tower/axum/hyper service | `IdempotencyLayer` (`http`) |
//! | one request's identity | [`Fingerprint`] (whole request or chosen fields) |
//!
//! # The state machine
//!
//! [`IdempotencyStore::begin`] answers exactly one of:
//!
//! - [`Begin::Execute`]: run the operation. The [`Attempt`] carries an epoch (a
//!   [`FencingToken`]) and the recovery point to resume after.
//! - [`Begin::Replay`]: the key completed (succeeded or failed-final); answer with the stored
//!   bytes.
//! - [`Begin::InProgress`]: another attempt holds the key; retry after the hint. Nothing is
//!   recorded.
//! - [`Begin::FingerprintMismatch`]: the key was used for a different request; the stored
//!   record is untouched.
//!
//! [`IdempotencyStore::complete`] stores a succeeded or failed-final response for replay, or
//! releases the key on a retryable failure. [`IdempotencyStore::checkpoint`] records a named
//! phase (a recovery point, after Brandur Leach's "atomic phases") and renews the lock. Both
//! are refused ([`StoreError::StaleAttempt`]) unless the attempt still holds the key: once a
//! lock expires, the next `begin` takes the key over with a higher epoch, and the old attempt's
//! late writes are fenced off.
//!
//! # Example
//!
//! A payment capture in two phases; a retry after a crash resumes after the recorded phase:
//!
//! ```
//! use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, MemoryStore, Outcome};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = MemoryStore::new();
//! let request = b"capture 100 EUR on order 42";
//! let fp = Fingerprint::of(request);
//!
//! let response = match store.begin("merchant-7", "f8b2c1", &fp)? {
//!     Begin::Execute(attempt) => {
//!         if attempt.recovery().map(|p| p.phase()) != Some("charged") {
//!             let charge_id = "ch_1"; // call the payment provider with its own idempotency key
//!             store.checkpoint(&attempt, "charged", charge_id.as_bytes())?;
//!         }
//!         let response = bytes::Bytes::from_static(b"{\"status\":\"captured\"}");
//!         store.complete(&attempt, Outcome::Succeeded(response.clone()))?;
//!         response
//!     }
//!     Begin::Replay(stored) => stored.response,
//!     Begin::InProgress { retry_after } => return Err(format!("retry in {retry_after:?}").into()),
//!     Begin::FingerprintMismatch => return Err("key reused for another request".into()),
//!     _ => unreachable!(),
//! };
//! // A retry gets the same bytes.
//! let Begin::Replay(stored) = store.begin("merchant-7", "f8b2c1", &fp)? else { unreachable!() };
//! assert_eq!(stored.response, response);
//! // Another merchant's identical key is another record.
//! assert!(matches!(store.begin("merchant-8", "f8b2c1", &fp)?, Begin::Execute(_)));
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | adds |
//! |---|---|
//! | `sqlite` | `SqliteStore` and `sqlite::migrate` (rusqlite, bundled) |
//! | `postgres` | `PgStore` and `postgres::migrate` |
//! | `tokio` | `AsyncPgStore` on tokio-postgres (implies `postgres`) |
//! | `http` | `IdempotencyLayer`, a tower layer for `Idempotency-Key` |
//! | `serde` | `Serialize`/`Deserialize` for [`StoreConfig`], [`State`], [`Terminal`] |
//!
//! # Guarantees and assumptions
//!
//! - One execute per key at a time: concurrent begins on one key get one
//!   [`Begin::Execute`]; the others get [`Begin::InProgress`]. Another execute follows only a
//!   retryable failure, an expired lock or an expired record, each with a higher epoch.
//! - Lock time comes from a monotonic clock (memory, SQLite) or the database clock
//!   (PostgreSQL): a wall-clock jump on the application host neither extends nor shortens a
//!   lock. A stored lock further ahead than one ttl cannot have been written by the current
//!   clock (a reboot reset it) and counts as expired.
//! - Retention is wall time (the database clock on PostgreSQL), counted from the begin that
//!   created or took over the record: a key past retention is
//!   treated as missing; its epoch keeps counting while the record exists. An attempt older
//!   than a reaped record is not fenced any more, so keep retention far above the lock ttl.
//! - Durability is the backend's: the memory store loses everything with the process; SQLite
//!   survives process crashes (WAL, `synchronous = NORMAL` in `SqliteStore::open`);
//!   PostgreSQL is as durable as the server.
//! - Effects outside the store are the caller's: commit a phase's effect in the same
//!   transaction as its recovery point (`SqliteStore::checkpoint_in`, `PgStore::checkpoint_in`),
//!   or make the effect idempotent itself (the provider's own idempotency key).
//!
//! # Examples to copy
//!
//! Runnable programs under 80 lines in the repository's `examples/examples/`:
//!
//! - [`idempotent_handler.rs`](https://github.com/quorate-rs/quorate/blob/main/examples/examples/idempotent_handler.rs): an idempotent HTTP handler (`cargo run -p quorate-examples --example idempotent_handler`)
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod sync;

mod error;
mod machine;
mod memory;
mod store;
mod types;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

/// The byte buffer responses and recovery data are stored in (re-exported from `bytes`).
pub use bytes::Bytes;
pub use error::{InvalidConfig, InvalidKey, StoreError};
pub use memory::MemoryStore;
/// The attempt epoch type (re-exported from `quorate-fencing`).
pub use quorate_fencing::FencingToken;
pub use store::IdempotencyStore;
pub use types::{
    Attempt, Begin, Fingerprint, FingerprintBuilder, MAX_KEY_LEN, MAX_PHASE_LEN, MAX_SCOPE_LEN,
    Outcome, Record, RecoveryPoint, State, StoreConfig, Stored, Terminal, check_key,
};

#[cfg(feature = "http")]
pub use http::{IdempotencyLayer, IdempotencyService};
#[cfg(feature = "tokio")]
pub use postgres::AsyncPgStore;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

#[doc(hidden)]
pub mod __private {
    //! Test hooks, not part of the API.
    use std::sync::OnceLock;

    static CRASH_HOOK: OnceLock<fn(&str)> = OnceLock::new();

    /// Installs the function called at each named step of begin, checkpoint and complete
    /// (crash tests install `quorate_testkit::crash_point`). Returns `false` if one was
    /// installed already.
    pub fn set_crash_hook(hook: fn(&str)) -> bool {
        CRASH_HOOK.set(hook).is_ok()
    }

    #[inline]
    pub(crate) fn crash_point(name: &str) {
        if let Some(hook) = CRASH_HOOK.get() {
            hook(name);
        }
    }
}
