//! Quorum math for replicated systems: commit indexes, vote tallies, joint
//! consensus, general quorum systems, and their analysis.
//!
//! Every replicated protocol keeps answering the same questions: which log index
//! has a quorum acknowledged, has this election been won, lost, or is it still
//! open, is this membership change safe, how many failures can we survive and how
//! likely is a read to be stale. Raft libraries answer the first two inside their
//! own types (hashing voter ids on every call and allocating above a handful of
//! voters); nothing answers the rest. This crate gives the exact semantics of
//! etcd-io/raft's `quorum` package (and tikv/raft-rs's zone-aware commit) as a
//! standalone, allocation-free library, generalises them to any monotone quorum
//! system, and analyses those systems.
//!
//! # Which type to use
//!
//! | you need | use |
//! |---|---|
//! | Raft/Paxos commit index and election outcome | [`MajorityConfig`], [`JointConfig`] (during a membership change) |
//! | the same, one ack at a time | [`CommitTracker`] |
//! | "has this write reached its quorum?" from many threads | [`AckTracker`] |
//! | zone-aware commit (an index must reach two zones) | [`JointConfig::committed_index_grouped`] |
//! | other quorum shapes | [`Threshold`], [`ReadWriteQuorums`], [`Weighted`], [`Grid`], [`Hierarchical`] (ZooKeeper groups and weights), [`FlexiblePaxos`], [`Joint`], or implement [`QuorumSystem`] |
//! | Cassandra consistency levels | [`Replication`], [`ConsistencyLevel`] |
//! | etcd's `Describe` table and `∞` for "everything committed" | [`MajorityConfig::describe`], [`JointConfig::describe`], [`IndexDisplay`] |
//! | do two quorum systems intersect? | [`check_intersection`] |
//! | failures survived, probability a quorum is up | [`fault_tolerance`], [`availability`], [`availability_sampled`], [`FailureProbabilities`] |
//! | is a membership change safe? | [`check_single_server_change`], [`check_joint_change`] |
//! | how stale are partial-quorum reads? | [`k_staleness`], [`k_stale_probability`], [`Wars`] |
//!
//! # Example
//!
//! ```
//! use quorate_quorum::{JointConfig, VoteResult, Votes};
//! # fn main() -> Result<(), quorate_quorum::ConfigError> {
//! // Moving from {1, 2, 3} to {3, 4, 5}: decisions need both majorities.
//! let c = JointConfig::new([3, 4, 5], [1, 2, 3])?;
//! let mut acked = vec![0u64; c.len()];
//! for (id, index) in [(3, 10), (4, 9), (1, 8)] {
//!     if let Some(slot) = c.slot_of(id) {
//!         acked[slot] = index;
//!     }
//! }
//! assert_eq!(c.committed_index(&acked), 8);
//!
//! let mut votes = Votes::new();
//! for id in [3, 4, 1] {
//!     if let Some(slot) = c.slot_of(id) {
//!         votes.record(slot, true);
//!     }
//! }
//! assert_eq!(c.vote_result(&votes), VoteResult::Won);
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `serde` | `Serialize`/`Deserialize` for configurations, systems and results; deserialisation re-validates (duplicate voters, sizes, weights) |
//!
//! # Guarantees and assumptions
//!
//! - Commit and vote results match etcd-io/raft's `quorum` package exactly, including
//!   its convention for empty configurations ([`EmptyConfig`]); group commit matches
//!   tikv/raft-rs. The crate's tests port the etcd data-driven test cases.
//! - Inputs are slot-indexed (`acked[slot]`, bitmasks of slots). A missing entry
//!   counts as "nothing acknowledged". Nothing on the commit/vote/tracker paths
//!   allocates for up to 64 voters, and nothing panics on caller input.
//! - Quorum systems must be monotone (a superset of a quorum is a quorum); the
//!   built-in ones are, and the analysis assumes it.
//! - Quorum math guarantees intersection only: it says nothing about durability of
//!   an acknowledgement, clock bounds, or whether the application's invariants hold.
//!   Safety of a membership change also needs the protocol to apply one change at a
//!   time.
//! - Sampling (availability, PBS) is deterministic per seed.
//! - The PBS closed forms ([`k_staleness`], [`k_stale_probability`]) take any number of
//!   replicas (the paper's example is N = 100, R = W = 30); the [`Wars`] simulation holds at
//!   most 64 ([`PbsError::TooManyReplicas`]). Latency distributions cannot hold invalid
//!   parameters ([`Exponential::new`] rejects rates that are not finite and positive).
//! - Analysis is exact up to [`MAX_EXACT_NODES`] nodes by enumerating node subsets as
//!   bitmasks (about 20 ms for 20 nodes on a shared 2-core machine); threshold systems use
//!   closed forms at any size.
//!
//! # Examples to copy
//!
//! Runnable programs under 80 lines in the repository's `examples/examples/`:
//!
//! - [`quorum.rs`](https://github.com/quorate-rs/quorate/blob/main/examples/examples/quorum.rs): quorum commit and availability (`cargo run -p quorate-examples --example quorum`)
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod sync {
    #[cfg(not(quorate_loom))]
    pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

    #[cfg(quorate_loom)]
    pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod analysis;
mod cassandra;
mod config;
mod error;
mod nodeset;
mod pbs;
mod system;
mod tracker;

pub use analysis::{
    Estimate, FailureProbabilities, FaultTolerance, JointChangeCheck, MAX_EXACT_NODES,
    MembershipCheck, MembershipError, Witness, availability, availability_sampled,
    check_intersection, check_joint_change, check_single_server_change, fault_tolerance,
};
pub use cassandra::{ConsistencyLevel, Datacenter, Operation, Replication, Requirement};
pub use config::{
    EmptyConfig, GroupCommitted, IndexDisplay, JointConfig, JointConfigBuilder, MajorityConfig,
};
pub use error::{AnalysisError, ConfigError, ConsistencyError, PbsError, UnknownNode};
pub use nodeset::{MAX_NODES, NodeSet, NodeSetIter, VoteResult, Votes};
pub use pbs::{Exponential, LatencyDistribution, Wars, k_stale_probability, k_staleness};
pub use system::{
    FlexiblePaxos, Grid, GridRule, Hierarchical, Joint, QuorumSystem, ReadWriteQuorums, Threshold,
    Weighted,
};
pub use tracker::{AckStatus, AckTracker, CommitTracker};
