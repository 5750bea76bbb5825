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
//! | `fencing`     | [`fencing`]           | `quorate-fencing`     | fencing tokens, epochs, leases (not yet implemented) |
//! | `idempotency` | [`idempotency`]       | `quorate-idempotency` | idempotency-key state machine and stores (not yet implemented) |
//! | `retry`       | [`retry`]             | `quorate-retry`       | backoff with jitter, retry budgets, deadlines, circuit breaking |
//! | `quorum`      | [`quorum`]            | `quorate-quorum`      | quorum math: commit index, vote tallies, N/R/W, availability |
//! | `outbox`      | [`outbox`]            | `quorate-outbox`      | transactional outbox, inbox and relay (not yet implemented) |
//! | `full`        | all of the above      |                       | |
//!
//! ```toml
//! [dependencies]
//! quorate = { version = "0.1", features = ["clocks", "quorum"] }
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
