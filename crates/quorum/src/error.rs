//! Typed errors, one small enum per family of operations.

use thiserror::Error;

/// Why a configuration or quorum system could not be built.
///
/// Returned by every constructor in this crate: an invalid configuration is
/// rejected at construction instead of misbehaving at run time.
///
/// ```
/// use quorate_quorum::{ConfigError, MajorityConfig};
/// let err = MajorityConfig::new([1, 2, 2]).unwrap_err();
/// assert_eq!(err, ConfigError::DuplicateVoter { id: 2 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The same voter id was listed twice in one configuration.
    #[error("voter {id} is listed more than once")]
    DuplicateVoter {
        /// The repeated id.
        id: u64,
    },
    /// More nodes than the 64 a [`NodeSet`](crate::NodeSet) can hold.
    #[error("{count} nodes exceed the maximum of {max}")]
    TooManyNodes {
        /// Nodes requested.
        count: usize,
        /// The supported maximum.
        max: usize,
    },
    /// A system that needs at least one node was given none.
    #[error("a quorum system needs at least one node")]
    NoNodes,
    /// A threshold (k, R, W, phase quorum) is zero or larger than the node count.
    #[error("quorum size {size} is outside 1..={nodes}")]
    InvalidQuorumSize {
        /// The requested quorum size.
        size: usize,
        /// The number of nodes.
        nodes: usize,
    },
    /// The sum of the weights does not fit in a `u64`.
    #[error("the sum of the weights overflows u64")]
    WeightOverflow,
    /// A weighted threshold is zero or exceeds the total weight.
    #[error("weight threshold {threshold} is outside 1..={total}")]
    InvalidWeightThreshold {
        /// The requested threshold.
        threshold: u64,
        /// The total weight.
        total: u64,
    },
    /// Flexible Paxos needs every phase-1 quorum to meet every phase-2 quorum.
    #[error("phase-1 size {q1} plus phase-2 size {q2} must exceed {nodes} nodes")]
    PhasesDoNotIntersect {
        /// Phase-1 quorum size.
        q1: usize,
        /// Phase-2 quorum size.
        q2: usize,
        /// Node count.
        nodes: usize,
    },
    /// A group (grid row, hierarchy group) is empty.
    #[error("group {index} is empty")]
    EmptyGroup {
        /// Position of the empty group.
        index: usize,
    },
    /// Every node (or every group) has weight 0, so no set could be a quorum.
    #[error("every weight is zero")]
    ZeroWeight,
    /// A joint system was given no parts.
    #[error("a joint quorum system needs at least one part")]
    NoParts,
}

/// A slot or node index outside the configuration.
///
/// ```
/// use quorate_quorum::{CommitTracker, MajorityConfig};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut t = CommitTracker::new(MajorityConfig::new([1, 2, 3])?.into());
/// assert_eq!(t.ack(7, 10).map_err(|e| e.index), Err(7));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[error("node index {index} is not part of the configuration")]
#[non_exhaustive]
pub struct UnknownNode {
    /// The rejected slot or node index.
    pub index: usize,
}

/// Why an analysis could not run.
///
/// ```
/// use quorate_quorum::{availability, AnalysisError, Threshold};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let q = Threshold::new(3, 2)?;
/// let err = availability(&q, &[0.1, 1.5, 0.1]).unwrap_err();
/// assert!(matches!(err, AnalysisError::InvalidProbability { index: 1, .. }));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// Exact enumeration is limited to [`MAX_EXACT_NODES`](crate::MAX_EXACT_NODES) nodes.
    #[error("exact analysis supports at most {max} nodes, got {nodes}")]
    TooManyNodes {
        /// Nodes in the system.
        nodes: usize,
        /// The exact-analysis limit.
        max: usize,
    },
    /// A probability is not a finite number in `[0, 1]`.
    #[error("probability {value} at position {index} is not in [0, 1]")]
    InvalidProbability {
        /// Position of the bad value.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// One probability per node is required.
    #[error("expected {expected} probabilities, got {got}")]
    WrongLength {
        /// Node count.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A sampling run needs at least one trial.
    #[error("at least one trial is required")]
    NoTrials,
    /// An input configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
}

/// Why a Cassandra consistency requirement could not be computed.
///
/// ```
/// use quorate_quorum::{ConsistencyError, ConsistencyLevel, Operation, Replication};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let r = Replication::new(&[3], 0)?;
/// let err = r.required(ConsistencyLevel::Any, Operation::Read).unwrap_err();
/// assert_eq!(err, ConsistencyError::AnyIsWriteOnly);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum ConsistencyError {
    /// `ANY` is defined for writes only.
    #[error("consistency level any is only valid for writes")]
    AnyIsWriteOnly,
    /// No datacenters were given.
    #[error("at least one datacenter is required")]
    NoDatacenters,
    /// The local datacenter index is out of range.
    #[error("local datacenter {index} does not exist")]
    UnknownLocalDatacenter {
        /// The rejected index.
        index: usize,
    },
    /// One ack count per datacenter is required.
    #[error("expected {expected} per-datacenter ack counts, got {got}")]
    WrongLength {
        /// Datacenters.
        expected: usize,
        /// Counts given.
        got: usize,
    },
    /// Replica counts overflow `u32`.
    #[error("replica counts overflow")]
    Overflow,
}

/// Why a PBS (probabilistically bounded staleness) model could not run.
///
/// ```
/// use quorate_quorum::{k_staleness, PbsError};
/// assert!(matches!(k_staleness(3, 4, 1, 1), Err(PbsError::InvalidQuorum { .. })));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum PbsError {
    /// N must be at least 1 and R, W in `1..=N`.
    #[error("invalid quorum n={n} r={r} w={w}")]
    InvalidQuorum {
        /// Replicas.
        n: usize,
        /// Read quorum.
        r: usize,
        /// Write quorum.
        w: usize,
    },
    /// k must be at least one.
    #[error("k must be at least 1")]
    ZeroK,
    /// A simulation needs at least one trial.
    #[error("at least one trial is required")]
    NoTrials,
    /// A latency rate must be finite and positive.
    #[error("a latency rate must be finite and positive")]
    InvalidRate,
    /// The WARS simulation holds at most `max` (64) replicas; the closed forms
    /// ([`k_staleness`](crate::k_staleness)) take any N.
    #[error("the simulation holds at most {max} replicas, got {n}")]
    TooManyReplicas {
        /// Replicas asked for.
        n: usize,
        /// The limit.
        max: usize,
    },
    /// A delay after commit is NaN.
    #[error("delay at position {index} is not a number")]
    InvalidDelay {
        /// Position of the bad delay.
        index: usize,
    },
}
