//! Time sources, logical clocks and causality tracking for distributed systems.
//!
//! Distributed systems cannot trust one global clock: physical clocks drift and get stepped,
//! processes pause, messages are delayed and reordered. This crate gives you the standard
//! tools for ordering events anyway: injectable time sources (so the rest of quorate, and your
//! tests, never read the system clock directly), Lamport clocks, version vectors and dotted
//! version vectors for causality and conflict detection, a lock-free hybrid logical clock
//! (HLC) for timestamps that are causal *and* close to wall time, and bounded-uncertainty time
//! in the TrueTime style.
//!
//! # Which type when
//!
//! | you need | use |
//! |---|---|
//! | the current time, testably | [`WallClock`] / [`MonotonicClock`]: [`SystemClock`], [`BootClock`] (counts through suspend), [`CoarseClock`] (cheap, ms-grained), [`ManualClock`] (tests) |
//! | a total order consistent with causality, no wall time | [`LamportClock`] (shared, atomic) or [`Lamport`] (plain value) |
//! | to detect concurrent updates | [`VersionVector`] with [`Dot`]s ([`descends`](VersionVector::descends) as Riak's `vclock:descends/2`, [`dominates`](VersionVector::dominates) strict as `vclock:dominates/2`) |
//! | sibling values per key without false conflicts | [`DvvSet`] (Riak's dvvset), or a single [`Dvv`] |
//! | timestamps that respect causality and track wall time | [`HybridClock`] issuing [`Timestamp`]s ([`next`](Timestamp::next), [`prev`](Timestamp::prev), [`wall_next`](Timestamp::wall_next) and a text form as CockroachDB's); [`NodeTimestamp`] to break ties across nodes |
//! | to notice wall-clock steps | [`HybridClock`]: backward jumps always counted, forward jumps refused by [`try_now`](HybridClock::try_now) once [`set_forward_jump_check`](HybridClock::set_forward_jump_check) is on (CockroachDB's checks) |
//! | to bound vectors whose actor set keeps growing | [`PruningPolicy`] (Riak's size/age rules, `vclock:prune/3`) |
//! | to know whether an instant has certainly passed | [`UncertainClock`] (TrueTime/ClockBound style: `void_after`, drift limit, causality breach) |
//! | to put any of these on the wire | [`Encode`] / [`Decode`] ([`codec`]) or the `serde` feature |
//!
//! # Example
//!
//! ```
//! use quorate_clocks::{HybridClock, ManualClock, VersionVector, Causality};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Two nodes with their own clocks; node b's clock is 200 ms behind.
//! let a = HybridClock::new(ManualClock::new(5_000_000_000));
//! let b = HybridClock::new(ManualClock::new(4_800_000_000));
//! let sent = a.now();
//! let received = b.recv(sent)?; // happens-before is preserved despite the skew
//! assert!(received > sent);
//!
//! // Version vectors detect conflicting updates.
//! let mut x = VersionVector::new();
//! x.increment("a")?;
//! let mut y = x.clone();
//! x.increment("a")?;
//! y.increment("b")?;
//! assert_eq!(x.compare(&y), Causality::Concurrent);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `serde` | no | `Serialize`/`Deserialize` for every public data type (validated on deserialize) |
//!
//! # Guarantees and assumptions
//!
//! - Logical clocks never wrap: counter overflow is a typed error (or, for the HLC's `now`, a
//!   counted carry into the physical part).
//! - A [`HybridClock`] never issues a duplicate or decreasing timestamp, from any number of
//!   threads; a stamp issued by `recv` is greater than the received one. Its distance from
//!   physical time is bounded by the configured maximum offset, *assuming* peers' clocks are
//!   within that offset of yours (remote stamps further ahead are rejected or counted, your
//!   choice). After a restart it stays monotonic if you persist and restore its upper bound.
//! - [`UncertainClock`] intervals contain true time *assuming* the error bound you feed it
//!   from your synchronisation source is honest and drift stays below the configured rate;
//!   a void bound or a monotonic clock reading before the last sync gives the unbounded
//!   interval (or a typed error from `try_now`), never a narrow one.
//! - Where a type follows a reference (Riak's `vclock` and `dvvset`, CockroachDB's HLC,
//!   AWS ClockBound, the HLC paper), the reference's own test cases are restated in the
//!   crate's tests and deliberate differences are documented on the type.
//! - Decoders never panic and never allocate from an unchecked length.
//! - The only `unsafe` code is the `clock_gettime` call and the inline vector storage, each
//!   with its safety argument.
//!
//! # Examples to copy
//!
//! Runnable programs under 80 lines in the repository's `examples/examples/`:
//!
//! - [`hlc.rs`](https://github.com/quorate-rs/quorate/blob/main/examples/examples/hlc.rs): HLC stamping and receive (`cargo run -p quorate-examples --example hlc`)
//! - [`version_vectors.rs`](https://github.com/quorate-rs/quorate/blob/main/examples/examples/version_vectors.rs): version vectors and DVV siblings (`cargo run -p quorate-examples --example version_vectors`)
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod sync;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod codec;
mod dot;
mod dvv;
mod dvvset;
mod hlc;
mod inline;
mod lamport;
mod prune;
mod time;
mod timestamp;
mod uncertainty;
mod vv;

pub use codec::{
    Decode, DecodeError, Encode, decode_exact, encode_to_vec, get_len, get_varint, put_varint,
    varint_len,
};
pub use dot::{Actor, CounterOverflow, Dot};
pub use dvv::Dvv;
pub use dvvset::{DvvSet, DvvUpdateError, InvalidDvvSet};
pub use hlc::{
    HlcConfig, HlcConfigError, HlcStats, HybridClock, NowError, OffsetPolicy, OverflowPolicy,
    RecvError,
};
pub use lamport::{Lamport, LamportClock};
pub use prune::{InvalidPruningPolicy, PruningPolicy};
pub use time::{BootClock, CoarseClock, ManualClock, MonotonicClock, SystemClock, WallClock};
pub use timestamp::{
    LOGICAL_BITS, LOGICAL_MASK, NodeId, NodeTimestamp, ParseTimestampError, TICK_NANOS, Timestamp,
};
pub use uncertainty::{
    ClockStatus, CommitWaitError, TimeInterval, UncertainClock, UncertainClockError, UncertainTime,
};
pub use vv::{Causality, INLINE_ACTORS, Iter, VersionVector};
