//! Stateful trackers: an incremental commit tracker and a thread-safe write-ack tracker.

use crate::config::{EmptyConfig, JointConfig, majority};
use crate::error::UnknownNode;
use crate::nodeset::{MAX_NODES, NodeSet};
use crate::sync::{AtomicU64, Ordering};
use crate::system::QuorumSystem;

/// Takes one acknowledgement at a time and keeps the committed index.
///
/// Per-voter acknowledged indexes only move up (a lower or repeated ack is
/// ignored), so the committed index is monotone. Like quorum-set's
/// `VecProgress`, it relies on the fact that only an ack crossing the current
/// committed index can move it; beyond that, it counts per half how many voters
/// sit above the committed index and recomputes (a sort of a stack array) only
/// when every half has a quorum above it, i.e. exactly when the committed index
/// advances. Nothing allocates.
///
/// ```
/// use quorate_quorum::{CommitTracker, MajorityConfig};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut t = CommitTracker::new(MajorityConfig::new([1, 2, 3])?.into());
/// assert_eq!(t.ack(0, 5)?, 0);
/// assert_eq!(t.ack(1, 4)?, 4);
/// assert_eq!(t.ack(1, 2)?, 4); // lower ack ignored
/// assert_eq!(t.ack_id(3, 9)?, 5);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitTracker {
    config: JointConfig,
    acked: [u64; MAX_NODES],
    committed: u64,
    /// Incoming and outgoing voter slots (outgoing empty when not joint).
    halves: [NodeSet; 2],
    /// Voters above `committed` each half needs before it can advance
    /// (0: no constraint, `u32::MAX`: never).
    need: [u32; 2],
    /// Voters of each half whose ack is above `committed`.
    above: [u32; 2],
}

impl CommitTracker {
    /// A tracker with nothing acknowledged.
    ///
    /// ```
    /// use quorate_quorum::{CommitTracker, JointConfig};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let t = CommitTracker::new(JointConfig::new([1, 2], [2, 3])?);
    /// assert_eq!(t.committed(), 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn new(config: JointConfig) -> Self {
        let acked = [0u64; MAX_NODES];
        let committed = config.committed_index(&acked);
        let need_of = |half: Option<NodeSet>| match half {
            None => 0,
            Some(h) if h.is_empty() => match config.empty_config() {
                EmptyConfig::AlwaysQuorum => 0,
                EmptyConfig::NeverQuorum => u32::MAX,
            },
            Some(h) => majority(h.len()) as u32,
        };
        let need = [need_of(Some(config.incoming())), need_of(config.outgoing())];
        let halves = [config.incoming(), config.outgoing().unwrap_or_default()];
        CommitTracker {
            config,
            acked,
            committed,
            halves,
            need,
            above: [0, 0],
        }
    }

    /// Records that voter `slot` acknowledged everything up to `index`;
    /// returns the committed index.
    ///
    /// # Errors
    ///
    /// [`UnknownNode`] when `slot` is not a voter slot.
    ///
    /// ```
    /// use quorate_quorum::{CommitTracker, MajorityConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut t = CommitTracker::new(MajorityConfig::new([7])?.into());
    /// assert_eq!(t.ack(0, 3)?, 3);
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn ack(&mut self, slot: usize, index: u64) -> Result<u64, UnknownNode> {
        if slot >= self.config.len() {
            return Err(UnknownNode { index: slot });
        }
        let Some(cur) = self.acked.get_mut(slot) else {
            return Err(UnknownNode { index: slot });
        };
        let old = *cur;
        if index <= old {
            return Ok(self.committed);
        }
        *cur = index;
        if old <= self.committed && index > self.committed {
            for (h, above) in self.halves.iter().zip(self.above.iter_mut()) {
                *above += u32::from(h.contains(slot));
            }
            if self.above[0] >= self.need[0] && self.above[1] >= self.need[1] {
                self.advance();
            }
        }
        Ok(self.committed)
    }

    /// Recomputes the committed index and the per-half counts above it.
    fn advance(&mut self) {
        let len = self.config.len();
        let c = self.config.committed_index(&self.acked[..len]);
        if c > self.committed {
            self.committed = c;
        }
        for (h, above) in self.halves.iter().zip(self.above.iter_mut()) {
            let mut n = 0u32;
            for s in h.iter() {
                n += u32::from(self.acked.get(s).is_some_and(|&a| a > self.committed));
            }
            *above = n;
        }
    }

    /// As [`CommitTracker::ack`], addressing the voter by id.
    ///
    /// # Errors
    ///
    /// [`UnknownNode`] (with `index = usize::MAX`) when `id` is not a voter.
    ///
    /// ```
    /// use quorate_quorum::{CommitTracker, MajorityConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut t = CommitTracker::new(MajorityConfig::new([7])?.into());
    /// assert!(t.ack_id(8, 1).is_err());
    /// # Ok(()) }
    /// ```
    pub fn ack_id(&mut self, id: u64, index: u64) -> Result<u64, UnknownNode> {
        let slot = self
            .config
            .slot_of(id)
            .ok_or(UnknownNode { index: usize::MAX })?;
        self.ack(slot, index)
    }

    /// The committed index.
    ///
    /// ```
    /// use quorate_quorum::{CommitTracker, MajorityConfig};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(CommitTracker::new(MajorityConfig::new([1])?.into()).committed(), 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Acknowledged index per slot.
    ///
    /// ```
    /// use quorate_quorum::{CommitTracker, MajorityConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut t = CommitTracker::new(MajorityConfig::new([1, 2])?.into());
    /// t.ack(1, 4)?;
    /// assert_eq!(t.acked(), &[0, 4]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn acked(&self) -> &[u64] {
        &self.acked[..self.config.len()]
    }

    /// The configuration.
    ///
    /// ```
    /// use quorate_quorum::{CommitTracker, MajorityConfig};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let t = CommitTracker::new(MajorityConfig::new([1, 2])?.into());
    /// assert_eq!(t.config().len(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn config(&self) -> &JointConfig {
        &self.config
    }
}

/// The state of a write waiting for acknowledgements.
///
/// ```
/// assert_eq!(quorate_quorum::AckStatus::default(), quorate_quorum::AckStatus::Waiting);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AckStatus {
    /// Neither decided yet.
    #[default]
    Waiting,
    /// The acks form a quorum. Final.
    Satisfied,
    /// The nacks leave no quorum among the remaining nodes. Final.
    Impossible,
}

/// Thread-safe acknowledgement tracker for one write, on atomic bitmasks.
///
/// Each node's first report counts (an atomic claim bit decides it); later or
/// contradicting reports are ignored. Acks and nacks are recorded in two
/// disjoint, grow-only bitmasks, so `Satisfied` (acks form a quorum) and
/// `Impossible` (the nacks block every quorum) are both final and can never
/// both be observed for the same write. Works with any [`QuorumSystem`].
///
/// ```
/// use quorate_quorum::{AckStatus, AckTracker, Threshold};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let t = AckTracker::new(Threshold::majority(3)?);
/// assert_eq!(t.record(0, true)?, AckStatus::Waiting);
/// assert_eq!(t.record(0, false)?, AckStatus::Waiting); // duplicate, ignored
/// assert_eq!(t.record(2, true)?, AckStatus::Satisfied);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AckTracker<Q> {
    system: Q,
    claimed: AtomicU64,
    acks: AtomicU64,
    nacks: AtomicU64,
}

impl<Q: QuorumSystem> AckTracker<Q> {
    /// A tracker with no reports.
    ///
    /// ```
    /// use quorate_quorum::{AckStatus, AckTracker, Threshold};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(AckTracker::new(Threshold::new(2, 2)?).status(), AckStatus::Waiting);
    /// # Ok(()) }
    /// ```
    pub fn new(system: Q) -> Self {
        AckTracker {
            system,
            claimed: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            nacks: AtomicU64::new(0),
        }
    }

    /// Records node `node`'s ack (`true`) or nack (`false`) and returns the status.
    ///
    /// # Errors
    ///
    /// [`UnknownNode`] when `node` is outside the system.
    ///
    /// ```
    /// use quorate_quorum::{AckStatus, AckTracker, Threshold};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let t = AckTracker::new(Threshold::new(3, 3)?);
    /// assert_eq!(t.record(1, false)?, AckStatus::Impossible);
    /// # Ok(()) }
    /// ```
    pub fn record(&self, node: usize, ack: bool) -> Result<AckStatus, UnknownNode> {
        if node >= self.system.node_count().min(MAX_NODES) {
            return Err(UnknownNode { index: node });
        }
        let bit = 1u64 << node;
        let prev = self.claimed.fetch_or(bit, Ordering::AcqRel);
        if prev & bit == 0 {
            if ack {
                self.acks.fetch_or(bit, Ordering::AcqRel);
            } else {
                self.nacks.fetch_or(bit, Ordering::AcqRel);
            }
        }
        Ok(self.status())
    }

    /// The current status.
    ///
    /// ```
    /// use quorate_quorum::{AckStatus, AckTracker, Threshold};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let t = AckTracker::new(Threshold::new(1, 1)?);
    /// assert_eq!(t.status(), AckStatus::Waiting);
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> AckStatus {
        let acks = NodeSet::from_bits(self.acks.load(Ordering::Acquire));
        if self.system.is_quorum(acks) {
            return AckStatus::Satisfied;
        }
        let nacks = NodeSet::from_bits(self.nacks.load(Ordering::Acquire));
        let rest = NodeSet::full(self.system.node_count()).difference(nacks);
        if self.system.is_quorum(rest) {
            AckStatus::Waiting
        } else {
            AckStatus::Impossible
        }
    }

    /// Nodes that acked so far.
    ///
    /// ```
    /// use quorate_quorum::{AckTracker, Threshold};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let t = AckTracker::new(Threshold::new(3, 2)?);
    /// t.record(2, true)?;
    /// assert!(t.acked().contains(2));
    /// # Ok(()) }
    /// ```
    pub fn acked(&self) -> NodeSet {
        NodeSet::from_bits(self.acks.load(Ordering::Acquire))
    }

    /// Nodes that nacked so far.
    ///
    /// ```
    /// use quorate_quorum::{AckTracker, Threshold};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let t = AckTracker::new(Threshold::new(3, 2)?);
    /// t.record(1, false)?;
    /// assert!(t.nacked().contains(1));
    /// # Ok(()) }
    /// ```
    pub fn nacked(&self) -> NodeSet {
        NodeSet::from_bits(self.nacks.load(Ordering::Acquire))
    }

    /// The quorum system.
    ///
    /// ```
    /// use quorate_quorum::{AckTracker, QuorumSystem, Threshold};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(AckTracker::new(Threshold::new(3, 2)?).system().node_count(), 3);
    /// # Ok(()) }
    /// ```
    pub fn system(&self) -> &Q {
        &self.system
    }
}
