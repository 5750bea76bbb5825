//! State-based and delta-state CRDTs with causal contexts, validation and compact canonical
//! encodings.
//!
//! Replicas that accept writes without coordinating (multi-region profiles, offline clients,
//! edge caches) must still agree in the end. A conflict-free replicated data type makes that
//! automatic: its states form a join-semilattice, so merging in any order, any number of times,
//! converges. This crate builds the classic CRDTs on the *dot-store* design of Almeida, Shoker
//! and Baquero's delta-state CRDTs: every causal type is a dot store plus a causal context
//! (version vector + dot cloud), which gives tombstone-free removes, deltas that cost what they
//! carry, and a single, well-tested join algebra. Peer values are validated (linear time) before
//! they touch a replica, and every value has a canonical, versioned binary encoding.
//!
//! # Which type
//!
//! | need | type | conflict rule | metadata kept |
//! |---|---|---|---|
//! | count up | [`GCounter`] | per-actor max | one `u64` per actor |
//! | count up and down | [`PnCounter`] | per-actor max of both totals | two `u64` per actor |
//! | set, never remove | [`GSet`] | union | none |
//! | set, remove forever | [`TwoPSet`] | removes win for good | one tombstone per removed element |
//! | set, add and remove | [`OrSet`] | add wins | one dot per element, plus the context |
//! | set, removes must win | [`RwSet`] | remove wins | one dot per element ever touched |
//! | replaceable value, loss OK | [`LwwReg`] | greatest (HLC timestamp, actor, value) | one timestamp |
//! | value, keep conflicts | [`MvReg`] | concurrent values kept | one dot per concurrent value |
//! | on/off switch | [`EwFlag`] | enable wins | one dot per concurrent enabler |
//! | document / record | [`OrMap`] of the causal types above | reset-remove | the nested values' dots |
//! | counters by key | `OrMap<K, GCounter<A>, A>`, `OrMap<K, PnCounter<A>, A>` | reset-remove | one dot per increment since the key was last removed |
//!
//! The causal context is one counter per actor once deltas arrive contiguously; the dot cloud
//! holds only dots received out of order and shrinks back as gaps close. Without retirement the
//! context keeps one counter per actor that ever wrote, so it grows with actor churn; departed
//! actors are folded away with [`GCounter::retire`] / [`PnCounter::retire`] for counters and
//! [`OrSet::retire`] (and the same method on [`RwSet`], [`MvReg`], [`EwFlag`], [`OrMap`]) for
//! the causal types, after Akka Distributed Data's pruning: the departed actor's dots are
//! renamed, identically on every replica, into a range of the surviving actor's counters, and
//! a small [`Retirement`] record (two actors, two counters) replaces its vector entry until
//! every replica holds it (then `forget_retired` drops it). Precondition: every replica has
//! seen all of the departed actor's events; afterwards `try_join`/`try_join_delta` reject a
//! peer value that still references the departed actor with
//! [`ValidationError::RetiredActor`] rather than resurrect what it wrote.
//!
//! # Syncing
//!
//! * Full state: [`Crdt::try_join`].
//! * Deltas: every mutator returns its delta; ship it, group deltas with
//!   [`DeltaCrdt::merge_delta`], apply with [`DeltaCrdt::try_join_delta`]. Joining a mutation
//!   delta visits only the keys it names.
//! * Catch-up: a peer sends [`DeltaCrdt::summary`], the other answers
//!   [`DeltaCrdt::delta_since`].
//! * [`AntiEntropy`] packages all three: per-peer delta buffers, acknowledgements, and the
//!   full-state fallback when a peer missed deltas that are no longer buffered.
//!
//! ```
//! use quorate_crdt::{Crdt, DeltaCrdt, MvReg, OrMap, OrSet};
//!
//! // A user profile edited in two regions.
//! type Profile = OrMap<String, MvReg<String, u8>, u8>;
//! let mut eu = Profile::new();
//! let mut us = Profile::new();
//! let d = eu.update("name".into(), |r| r.write_delta(1, "Ada".into()))?;
//! us.try_join_delta(&d)?;
//! let d1 = eu.update("city".into(), |r| r.write_delta(1, "Paris".into()))?;
//! let d2 = us.update("city".into(), |r| r.write_delta(2, "Boston".into()))?;
//! eu.try_join_delta(&d2)?;
//! us.try_join_delta(&d1)?;
//! assert_eq!(eu, us);
//! let city = eu.get(&"city".to_string()).expect("city");
//! assert_eq!(city.values().count(), 2); // the conflict is kept for the application
//!
//! let mut tags = OrSet::<&str, u8>::new();
//! tags.add(1, "admin")?;
//! assert!(tags.contains(&"admin"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `serde` | no | `Serialize`/`Deserialize` for every CRDT and delta, as the canonical encoding (validated on deserialize) |
//!
//! # Guarantees and assumptions
//!
//! * Joins are idempotent, commutative, associative and inflationary; deltas joined in any
//!   order and any number of times give the same state; [`laws`] checks this for any type,
//!   including yours, and runs a seeded lossy-network simulation against a sequential model.
//! * Each actor id is used by one replica at a time, and a replica never forgets its own
//!   events. When two replicas do share an actor id (a cloned VM or container, a restored
//!   backup) and issue one dot for two different entries, `try_join` and `try_join_delta`
//!   catch it whenever both sides still hold that dot, as the `crdts` crate's
//!   `validate_merge` does: [`ValidationError::DotCollision`] names the dot and both entries.
//!   What no replica can see is a reused dot whose first entry was removed already (the
//!   context alone remembers it, without its element), or one hidden in the `keep` list of a
//!   `delta_since` answer (sent without its element).
//! * `try_join`, `try_join_delta` and the decoders check every invariant (dot outside its
//!   context, dot used twice, a dot naming different entries on the two sides, empty entry,
//!   uncompacted context, zero or retired counter entry, a `delta_since` answer computed
//!   against a summary this replica does not have, a reference to an actor this replica
//!   retired) in time linear in the two values, and on error leave the replica untouched; the
//!   error names the dot, elements, keys or actor at fault. Decoders never panic and never
//!   allocate from an unchecked length.
//! * A delta's context is a claim of what its sender has seen: joining it visits only the keys
//!   the delta names, but its whole context joins the replica's. So a hand-built delta whose
//!   context covers dots of keys it does not name leaves the dots this replica already holds
//!   under those keys alone, yet drops those dots when they arrive later (seen, not held:
//!   removed). Never widen a delta's context by hand; to remove what a client observed, use
//!   [`OrSet::remove_with_context`] / [`OrMap::remove_with_context`], which cover exactly that
//!   element's or key's dots, including ones not received yet, and nothing else.
//! * Equal states encode to identical bytes ([`Digest`] is a hash of those bytes).
//! * Counter arithmetic is checked ([`quorate_clocks::CounterOverflow`]); reads never wrap.
//!
//! # Examples to copy
//!
//! Runnable programs under 80 lines in the repository's `examples/examples/`:
//!
//! - [`orset_deltas.rs`](https://github.com/quorate-rs/quorate/blob/main/examples/examples/orset_deltas.rs): an OR-set synced by deltas (`cargo run -p quorate-examples --example orset_deltas`)
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod sync;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod antientropy;
mod causal;
mod chunkmap;
mod codec;
mod context;
mod counters;
mod dotstore;
mod error;
mod gset;
mod ormap;
mod orset;
mod registers;
mod traits;
mod wrap;

pub mod laws;

pub use antientropy::{AntiEntropy, ConfigError, SyncError, SyncMessage};
pub use causal::{Causal, CausalDelta};
pub use codec::Digest;
pub use context::{CausalContext, DotView, Retirement};
pub use counters::{CounterChange, GCounter, PnCounter};
pub use dotstore::{DotFun, DotMap, DotSet, DotStore, Key, RegisterValue};
pub use error::{RetireError, ValidationError};
pub use gset::{GSet, TwoPSet};
pub use ormap::{OrMap, OrMapDelta};
pub use orset::{OrSet, OrSetDelta, RwSet, RwSetDelta};
pub use registers::{EwFlag, EwFlagDelta, LwwReg, MvReg, MvRegDelta};
pub use traits::{Crdt, DeltaCrdt};
pub use wrap::{Embed, EncodeStore, NestedValue};
