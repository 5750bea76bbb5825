//! **quorate**: distributed-systems primitives you can embed.
//!
//! This facade re-exports each member crate as a module, behind a feature of the same name.
//! Nothing is on by default; depend on the facade with the features you use, or on the member
//! crates directly (they are the same code).
//!
//! | feature       | module                | crate                 | what it gives you |
//! |---------------|-----------------------|-----------------------|-------------------|
//! | `clocks`      | [`clocks`]            | `quorate-clocks`      | time sources, Lamport clocks, version vectors, dotted version vectors, hybrid logical clocks, uncertainty intervals |
//! | `crdt`        | [`crdt`]              | `quorate-crdt`        | state and delta CRDTs: counters, sets, registers, maps |
//! | `fencing`     | [`fencing`]           | `quorate-fencing`     | fencing tokens, epochs, resource-side guards, fenced SQL writes, leases on memory, SQLite, PostgreSQL and etcd |
//! | `idempotency` | [`idempotency`]       | `quorate-idempotency` | the idempotency-key state machine with stable replay, its stores and a tower layer |
//! | `retry`       | [`retry`]             | `quorate-retry`       | backoff with jitter, retry budgets, deadlines, circuit breaking |
//! | `quorum`      | [`quorum`]            | `quorate-quorum`      | quorum math: commit index, vote tallies, N/R/W, availability |
//! | `outbox`      | [`outbox`]            | `quorate-outbox`      | transactional outbox, inbox and relay over SQLite and PostgreSQL, sinks incl. NATS JetStream |
//! | `full`        | all of the above      |                       | |
//!
//! Integration features pass through to every member you turned on that has them, and pull in
//! no member by themselves: `serde`, `sqlite`, `postgres`, `tokio`, `etcd` (fencing's etcd
//! leases), `http` (idempotency's tower layer) and `nats` (outbox's JetStream sink).
//!
//! ```toml
//! [dependencies]
//! quorate = { version = "0.1", features = ["clocks", "crdt", "quorum", "retry"] }
//! ```
//!
//! # Example
//!
//! A write replicated to three nodes: stamped with a hybrid logical clock, committed once a
//! majority acknowledged it, retried within a budget, and counted in a CRDT that two replicas
//! merge without coordination.
//!
//! ```
//! # #[cfg(all(feature = "clocks", feature = "crdt", feature = "quorum", feature = "retry"))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use quorate::clocks::{HybridClock, ManualClock};
//! use quorate::crdt::{Crdt, GCounter};
//! use quorate::quorum::MajorityConfig;
//! use quorate::retry::{Backoff, Jitter, OutcomeClass, Retry, RetryPolicy, WindowedBudget};
//!
//! // Time is injected: a manual clock here, `SystemClock` in production.
//! let time = ManualClock::new(1_700_000_000_000_000_000);
//! let hlc = HybridClock::new(time.clone());
//! let stamp = hlc.now();
//!
//! // Replicate with retries: at most 20% extra load on the replicas, never past the deadline.
//! let budget = WindowedBudget::new(Duration::from_secs(10), 10, 0.2)?;
//! let policy = RetryPolicy::new(
//!     Backoff::exponential(Duration::from_millis(5), 2.0, Duration::from_millis(500))?
//!         .with_jitter(Jitter::Full),
//! )
//! .with_deadline(Duration::from_secs(1))?;
//! let config = MajorityConfig::new([1, 2, 3])?;
//! let mut acked = vec![0u64; config.len()];
//! let committed = Retry::new(&policy, &time, &time).with_budget(&budget).run(|attempt| {
//!     // Node 1 acknowledges at once; node 3 only on the second attempt.
//!     acked[0] = 7;
//!     if attempt.number >= 2 {
//!         acked[2] = 7;
//!     }
//!     match config.committed_index(&acked) {
//!         7 => Ok(7),
//!         _ => Err(OutcomeClass::Transient),
//!     }
//! });
//! assert_eq!(committed.ok(), Some(7));
//!
//! // Two replicas count writes independently and converge by merging.
//! let mut eu = GCounter::<u8>::new();
//! let mut us = GCounter::<u8>::new();
//! eu.increment(1, 2)?;
//! us.increment(2, 3)?;
//! eu.try_join(&us)?;
//! us.try_join(&eu)?;
//! assert_eq!((eu.value(), us.value()), (5, 5));
//! assert!(hlc.now() > stamp);
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "clocks", feature = "crdt", feature = "quorum", feature = "retry")))]
//! # fn main() {}
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "clocks")]
#[doc(inline)]
pub use quorate_clocks as clocks;
#[cfg(feature = "crdt")]
#[doc(inline)]
pub use quorate_crdt as crdt;
#[cfg(feature = "fencing")]
#[doc(inline)]
pub use quorate_fencing as fencing;
#[cfg(feature = "idempotency")]
#[doc(inline)]
pub use quorate_idempotency as idempotency;
#[cfg(feature = "outbox")]
#[doc(inline)]
pub use quorate_outbox as outbox;
#[cfg(feature = "quorum")]
#[doc(inline)]
pub use quorate_quorum as quorum;
#[cfg(feature = "retry")]
#[doc(inline)]
pub use quorate_retry as retry;
