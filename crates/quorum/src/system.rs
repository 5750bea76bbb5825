//! General monotone quorum systems.
//!
//! A quorum system over nodes `0..n` is described by one predicate,
//! [`QuorumSystem::is_quorum`], which must be monotone (upward closed): adding
//! nodes to a quorum keeps it a quorum. Everything else — the committed index,
//! the vote outcome, intersection, fault tolerance and availability — is derived
//! from that predicate, so any system gets all of them.

use crate::config::{JointConfig, MajorityConfig, kth_largest, majority, mask_is_quorum};
use crate::error::ConfigError;
use crate::nodeset::{MAX_NODES, NodeSet, VoteResult, Votes};

/// A monotone quorum system over the nodes `0..node_count()`.
///
/// Implement `is_quorum`; the provided methods derive the committed index and
/// the vote outcome from it without allocating.
///
/// ```
/// use quorate_quorum::{NodeSet, QuorumSystem, Threshold, VoteResult, Votes};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let q = Threshold::new(5, 3)?;
/// assert!(q.is_quorum(NodeSet::from_bits(0b10101)));
/// assert_eq!(q.committed_index(&[9, 8, 7, 6, 5]), 7);
/// assert_eq!(q.vote_result(&Votes::new()), VoteResult::Pending);
/// # Ok(()) }
/// ```
pub trait QuorumSystem {
    /// Number of nodes; nodes are the slots `0..node_count()` (at most 64).
    ///
    /// ```
    /// use quorate_quorum::{Grid, GridRule, QuorumSystem};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(Grid::new(2, 3, GridRule::FullRow)?.node_count(), 6);
    /// # Ok(()) }
    /// ```
    fn node_count(&self) -> usize;

    /// Whether `set` contains a quorum. Slots outside `0..node_count()` are
    /// ignored. Must be monotone: supersets of quorums are quorums.
    ///
    /// ```
    /// use quorate_quorum::{NodeSet, QuorumSystem, Weighted};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let q = Weighted::new(vec![2, 1, 1], 2)?;
    /// assert!(q.is_quorum(NodeSet::from_bits(0b001)));
    /// assert!(!q.is_quorum(NodeSet::from_bits(0b010)));
    /// # Ok(()) }
    /// ```
    fn is_quorum(&self, set: NodeSet) -> bool;

    /// `Some(k)` when the system is exactly "any `k` of `node_count()`", which
    /// lets the analysis use closed forms.
    ///
    /// ```
    /// use quorate_quorum::{Hierarchical, QuorumSystem, Threshold};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(Threshold::new(5, 2)?.threshold(), Some(2));
    /// assert_eq!(Hierarchical::new(&[2, 2])?.threshold(), None);
    /// # Ok(()) }
    /// ```
    fn threshold(&self) -> Option<usize> {
        None
    }

    /// The largest index `v` such that the nodes with `acked[slot] >= v` form a
    /// quorum (`u64::MAX` if the empty set is a quorum, `0` if no index is).
    /// Missing entries count as `0`.
    ///
    /// ```
    /// use quorate_quorum::{Grid, GridRule, QuorumSystem};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// // One node per row of a 2x2 grid: rows {0, 1} and {2, 3}.
    /// let q = Grid::new(2, 2, GridRule::OnePerRow)?;
    /// assert_eq!(q.committed_index(&[9, 4, 3, 7]), 7);
    /// # Ok(()) }
    /// ```
    fn committed_index(&self, acked: &[u64]) -> u64 {
        generic_committed(self, acked)
    }

    /// Won if the yes votes form a quorum, Lost if the nodes that did not vote
    /// no cannot, else Pending.
    ///
    /// ```
    /// use quorate_quorum::{QuorumSystem, Threshold, VoteResult, Votes};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let q = Threshold::new(3, 3)?;
    /// let mut v = Votes::new();
    /// v.record(0, false);
    /// assert_eq!(q.vote_result(&v), VoteResult::Lost);
    /// # Ok(()) }
    /// ```
    fn vote_result(&self, votes: &Votes) -> VoteResult {
        let all = NodeSet::full(self.node_count());
        if self.is_quorum(votes.yes().intersection(all)) {
            VoteResult::Won
        } else if self.is_quorum(all.difference(votes.no().difference(votes.yes()))) {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }
}

fn generic_committed<Q: QuorumSystem + ?Sized>(q: &Q, acked: &[u64]) -> u64 {
    if q.is_quorum(NodeSet::EMPTY) {
        return u64::MAX;
    }
    let n = q.node_count().min(MAX_NODES);
    if let Some(k) = q.threshold() {
        let mut buf = [0u64; MAX_NODES];
        for (i, b) in buf.iter_mut().enumerate().take(n) {
            *b = acked.get(i).copied().unwrap_or(0);
        }
        return kth_largest(&mut buf[..n], k);
    }
    let mut order = [(0u64, 0u8); MAX_NODES];
    for (i, o) in order.iter_mut().enumerate().take(n) {
        *o = (acked.get(i).copied().unwrap_or(0), i as u8);
    }
    let order = &mut order[..n];
    order.sort_unstable_by_key(|a| core::cmp::Reverse(a.0));
    let mut set = NodeSet::EMPTY;
    let mut i = 0;
    while i < n {
        let v = order[i].0;
        while i < n && order[i].0 == v {
            set.insert(order[i].1 as usize);
            i += 1;
        }
        if q.is_quorum(set) {
            return v;
        }
    }
    0
}

impl<Q: QuorumSystem + ?Sized> QuorumSystem for &Q {
    fn node_count(&self) -> usize {
        (**self).node_count()
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        (**self).is_quorum(set)
    }
    fn threshold(&self) -> Option<usize> {
        (**self).threshold()
    }
    fn committed_index(&self, acked: &[u64]) -> u64 {
        (**self).committed_index(acked)
    }
    fn vote_result(&self, votes: &Votes) -> VoteResult {
        (**self).vote_result(votes)
    }
}

impl<Q: QuorumSystem + ?Sized> QuorumSystem for Box<Q> {
    fn node_count(&self) -> usize {
        (**self).node_count()
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        (**self).is_quorum(set)
    }
    fn threshold(&self) -> Option<usize> {
        (**self).threshold()
    }
    fn committed_index(&self, acked: &[u64]) -> u64 {
        (**self).committed_index(acked)
    }
    fn vote_result(&self, votes: &Votes) -> VoteResult {
        (**self).vote_result(votes)
    }
}

impl QuorumSystem for MajorityConfig {
    fn node_count(&self) -> usize {
        self.len()
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        mask_is_quorum(NodeSet::full(self.len()), set, self.empty_config())
    }
    fn threshold(&self) -> Option<usize> {
        (!self.is_empty()).then(|| majority(self.len()))
    }
    fn committed_index(&self, acked: &[u64]) -> u64 {
        MajorityConfig::committed_index(self, acked)
    }
    fn vote_result(&self, votes: &Votes) -> VoteResult {
        MajorityConfig::vote_result(self, votes)
    }
}

impl QuorumSystem for JointConfig {
    fn node_count(&self) -> usize {
        self.len()
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        self.is_quorum_set(set)
    }
    fn committed_index(&self, acked: &[u64]) -> u64 {
        JointConfig::committed_index(self, acked)
    }
    fn vote_result(&self, votes: &Votes) -> VoteResult {
        JointConfig::vote_result(self, votes)
    }
}

fn check_nodes(n: usize) -> Result<(), ConfigError> {
    if n == 0 {
        Err(ConfigError::NoNodes)
    } else if n > MAX_NODES {
        Err(ConfigError::TooManyNodes {
            count: n,
            max: MAX_NODES,
        })
    } else {
        Ok(())
    }
}

fn check_size(size: usize, nodes: usize) -> Result<(), ConfigError> {
    if size == 0 || size > nodes {
        Err(ConfigError::InvalidQuorumSize { size, nodes })
    } else {
        Ok(())
    }
}

/// Any `k` of `n` nodes (a majority when `k = n / 2 + 1`).
///
/// ```
/// use quorate_quorum::{NodeSet, QuorumSystem, Threshold};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let q = Threshold::majority(5)?;
/// assert_eq!(q.k(), 3);
/// assert!(!q.is_quorum(NodeSet::full(2)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "ThresholdRaw"))]
pub struct Threshold {
    n: usize,
    k: usize,
}

#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct ThresholdRaw {
    n: usize,
    k: usize,
}

#[cfg(feature = "serde")]
impl TryFrom<ThresholdRaw> for Threshold {
    type Error = ConfigError;
    fn try_from(r: ThresholdRaw) -> Result<Self, ConfigError> {
        Threshold::new(r.n, r.k)
    }
}

impl Threshold {
    /// `k` of `n`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoNodes`] / [`ConfigError::TooManyNodes`] for `n` outside
    /// `1..=64`, [`ConfigError::InvalidQuorumSize`] for `k` outside `1..=n`.
    ///
    /// ```
    /// assert!(quorate_quorum::Threshold::new(3, 4).is_err());
    /// ```
    pub fn new(n: usize, k: usize) -> Result<Self, ConfigError> {
        check_nodes(n)?;
        check_size(k, n)?;
        Ok(Threshold { n, k })
    }

    /// A simple majority of `n`.
    ///
    /// # Errors
    ///
    /// As [`Threshold::new`].
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::Threshold::majority(4)?.k(), 3);
    /// # Ok(()) }
    /// ```
    pub fn majority(n: usize) -> Result<Self, ConfigError> {
        Threshold::new(n, majority(n))
    }

    /// Node count.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::Threshold::new(7, 2)?.n(), 7);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn n(&self) -> usize {
        self.n
    }

    /// Quorum size.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::Threshold::new(7, 2)?.k(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn k(&self) -> usize {
        self.k
    }
}

impl QuorumSystem for Threshold {
    fn node_count(&self) -> usize {
        self.n
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        set.intersection(NodeSet::full(self.n)).len() >= self.k
    }
    fn threshold(&self) -> Option<usize> {
        Some(self.k)
    }
}

/// Dynamo-style N/R/W: reads need R of N replicas, writes W of N.
///
/// Reads see the latest write when `R + W > N`; concurrent writes are ordered
/// when `2W > N`.
///
/// ```
/// use quorate_quorum::ReadWriteQuorums;
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let q = ReadWriteQuorums::new(3, 2, 2)?;
/// assert!(q.reads_see_writes() && q.writes_ordered());
/// assert!(!ReadWriteQuorums::new(5, 2, 2)?.reads_see_writes());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "NrwRaw"))]
pub struct ReadWriteQuorums {
    n: usize,
    r: usize,
    w: usize,
}

#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct NrwRaw {
    n: usize,
    r: usize,
    w: usize,
}

#[cfg(feature = "serde")]
impl TryFrom<NrwRaw> for ReadWriteQuorums {
    type Error = ConfigError;
    fn try_from(x: NrwRaw) -> Result<Self, ConfigError> {
        ReadWriteQuorums::new(x.n, x.r, x.w)
    }
}

impl ReadWriteQuorums {
    /// N replicas, read quorum R, write quorum W.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidQuorumSize`] when R or W is zero or exceeds N;
    /// [`ConfigError::NoNodes`] / [`ConfigError::TooManyNodes`] for N.
    ///
    /// ```
    /// assert!(quorate_quorum::ReadWriteQuorums::new(3, 4, 1).is_err());
    /// ```
    pub fn new(n: usize, r: usize, w: usize) -> Result<Self, ConfigError> {
        check_nodes(n)?;
        check_size(r, n)?;
        check_size(w, n)?;
        Ok(ReadWriteQuorums { n, r, w })
    }

    /// The read quorums.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::ReadWriteQuorums::new(5, 1, 5)?.read().k(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn read(&self) -> Threshold {
        Threshold {
            n: self.n,
            k: self.r,
        }
    }

    /// The write quorums.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::ReadWriteQuorums::new(5, 1, 5)?.write().k(), 5);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn write(&self) -> Threshold {
        Threshold {
            n: self.n,
            k: self.w,
        }
    }

    /// `R + W > N`: every read quorum meets every write quorum.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert!(quorate_quorum::ReadWriteQuorums::new(3, 3, 1)?.reads_see_writes());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn reads_see_writes(&self) -> bool {
        self.r + self.w > self.n
    }

    /// `2W > N`: any two write quorums meet.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert!(!quorate_quorum::ReadWriteQuorums::new(5, 1, 2)?.writes_ordered());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn writes_ordered(&self) -> bool {
        2 * self.w > self.n
    }
}

/// Weighted voting: a set is a quorum when its weight reaches a threshold.
///
/// ```
/// use quorate_quorum::{NodeSet, QuorumSystem, Weighted};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let q = Weighted::majority(vec![3, 1, 1, 1])?; // total 6, needs 4
/// assert!(q.is_quorum(NodeSet::from_bits(0b0011)));
/// assert!(!q.is_quorum(NodeSet::from_bits(0b1110)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "WeightedRaw"))]
pub struct Weighted {
    weights: Vec<u64>,
    threshold: u64,
    total: u64,
}

#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct WeightedRaw {
    weights: Vec<u64>,
    threshold: u64,
}

#[cfg(feature = "serde")]
impl TryFrom<WeightedRaw> for Weighted {
    type Error = ConfigError;
    fn try_from(x: WeightedRaw) -> Result<Self, ConfigError> {
        Weighted::new(x.weights, x.threshold)
    }
}

impl Weighted {
    /// Nodes with `weights[i]`; a quorum needs total weight `>= threshold`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::WeightOverflow`] when the weights overflow `u64`,
    /// [`ConfigError::InvalidWeightThreshold`] when the threshold is zero or
    /// above the total, node-count errors as [`Threshold::new`].
    ///
    /// ```
    /// use quorate_quorum::{ConfigError, Weighted};
    /// assert_eq!(Weighted::new(vec![u64::MAX, 1], 1), Err(ConfigError::WeightOverflow));
    /// ```
    pub fn new(weights: Vec<u64>, threshold: u64) -> Result<Self, ConfigError> {
        check_nodes(weights.len())?;
        let total = weights
            .iter()
            .try_fold(0u64, |acc, &w| acc.checked_add(w))
            .ok_or(ConfigError::WeightOverflow)?;
        if threshold == 0 || threshold > total {
            return Err(ConfigError::InvalidWeightThreshold { threshold, total });
        }
        Ok(Weighted {
            weights,
            threshold,
            total,
        })
    }

    /// More than half of the total weight.
    ///
    /// # Errors
    ///
    /// As [`Weighted::new`] (also when every weight is zero).
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::Weighted::majority(vec![2, 2, 2])?.threshold(), 4);
    /// # Ok(()) }
    /// ```
    pub fn majority(weights: Vec<u64>) -> Result<Self, ConfigError> {
        let total = weights
            .iter()
            .try_fold(0u64, |acc, &w| acc.checked_add(w))
            .ok_or(ConfigError::WeightOverflow)?;
        Weighted::new(weights, if total == 0 { 0 } else { total / 2 + 1 })
    }

    /// The weight a quorum needs.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::Weighted::new(vec![1, 1], 2)?.threshold(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// The sum of all weights.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::Weighted::new(vec![1, 5], 2)?.total(), 6);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }
}

impl QuorumSystem for Weighted {
    fn node_count(&self) -> usize {
        self.weights.len()
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        // Cannot overflow: a subset sums to at most `total`.
        let w: u64 = set.iter().filter_map(|s| self.weights.get(s)).sum();
        w >= self.threshold
    }
    fn threshold(&self) -> Option<usize> {
        let first = *self.weights.first()?;
        (first > 0 && self.weights.iter().all(|&w| w == first))
            .then(|| self.threshold.div_ceil(first) as usize)
    }
}

/// Which sets of a [`Grid`] count as quorums.
///
/// ```
/// assert_ne!(quorate_quorum::GridRule::FullRow, quorate_quorum::GridRule::OnePerRow);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum GridRule {
    /// Every node of at least one row.
    FullRow,
    /// At least one node in every row (meets every `FullRow` quorum).
    OnePerRow,
    /// A full row plus one node in every row: any two such sets meet, so it
    /// serves as a write quorum against both itself and `OnePerRow` reads.
    #[default]
    FullRowAndOnePerRow,
}

/// Nodes laid out in `rows x cols`; node `r * cols + c` is at row `r`, column `c`.
///
/// ```
/// use quorate_quorum::{Grid, GridRule, NodeSet, QuorumSystem};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let read = Grid::new(3, 3, GridRule::OnePerRow)?;
/// assert!(read.is_quorum([0, 4, 8].into_iter().collect()));
/// let write = Grid::new(3, 3, GridRule::FullRow)?;
/// assert!(write.is_quorum([3, 4, 5].into_iter().collect()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "GridRaw"))]
pub struct Grid {
    rows: usize,
    cols: usize,
    rule: GridRule,
}

#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct GridRaw {
    rows: usize,
    cols: usize,
    rule: GridRule,
}

#[cfg(feature = "serde")]
impl TryFrom<GridRaw> for Grid {
    type Error = ConfigError;
    fn try_from(x: GridRaw) -> Result<Self, ConfigError> {
        Grid::new(x.rows, x.cols, x.rule)
    }
}

impl Grid {
    /// A `rows x cols` grid with the given rule.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoNodes`] when either side is zero,
    /// [`ConfigError::TooManyNodes`] above 64 nodes.
    ///
    /// ```
    /// assert!(quorate_quorum::Grid::new(9, 9, Default::default()).is_err());
    /// ```
    pub fn new(rows: usize, cols: usize, rule: GridRule) -> Result<Self, ConfigError> {
        check_nodes(rows.checked_mul(cols).ok_or(ConfigError::TooManyNodes {
            count: usize::MAX,
            max: MAX_NODES,
        })?)?;
        Ok(Grid { rows, cols, rule })
    }

    fn row(&self, r: usize) -> NodeSet {
        NodeSet::from_bits(NodeSet::full(self.cols).bits() << (r * self.cols))
    }
}

impl QuorumSystem for Grid {
    fn node_count(&self) -> usize {
        self.rows * self.cols
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        let mut full = false;
        let mut every = true;
        for r in 0..self.rows {
            let row = self.row(r);
            let hit = set.intersection(row);
            full |= hit == row;
            every &= !hit.is_empty();
        }
        match self.rule {
            GridRule::FullRow => full,
            GridRule::OnePerRow => every,
            GridRule::FullRowAndOnePerRow => full && every,
        }
    }
}

/// Hierarchical majority (ZooKeeper style): a majority of groups, each
/// represented by a majority of its own weight.
///
/// This is ZooKeeper's `QuorumHierarchical`: every node belongs to one group
/// and has a weight (1 with [`Hierarchical::new`], any `u64` with
/// [`Hierarchical::weighted`]). A group is represented by a set when the set's
/// members in it weigh strictly more than half of the group's weight; the set
/// is a quorum when strictly more than half of the groups are represented.
/// Groups of total weight 0 are left out of the group count (and can never be
/// represented), as in ZooKeeper, so zero-weight nodes behave like observers.
/// The empty set is never a quorum.
///
/// Groups are consecutive slot ranges: group 0 holds the first nodes, and so on.
///
/// ```
/// use quorate_quorum::{Hierarchical, QuorumSystem};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let q = Hierarchical::new(&[3, 3, 3])?;
/// // two of three nodes in groups 0 and 1: 4 of 9 nodes suffice
/// assert!(q.is_quorum([0, 1, 3, 4].into_iter().collect()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "HierRaw", into = "HierRaw"))]
pub struct Hierarchical {
    sizes: Vec<usize>,
    groups: Vec<NodeSet>,
    /// Per-node weights, by slot.
    weights: Vec<u64>,
    /// Total weight of each group.
    group_weights: Vec<u64>,
    /// Groups of non-zero weight (the ones that count).
    counted: usize,
    /// Every weight is 1: group weights are member counts (a popcount).
    unit: bool,
}

#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct HierRaw {
    sizes: Vec<usize>,
    #[serde(default)]
    weights: Option<Vec<u64>>,
}

#[cfg(feature = "serde")]
impl TryFrom<HierRaw> for Hierarchical {
    type Error = ConfigError;
    fn try_from(x: HierRaw) -> Result<Self, ConfigError> {
        let Some(weights) = x.weights else {
            return Hierarchical::new(&x.sizes);
        };
        if x.sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s)) != Some(weights.len()) {
            return Err(ConfigError::InvalidQuorumSize {
                size: weights.len(),
                nodes: x.sizes.iter().fold(0usize, |a, &s| a.saturating_add(s)),
            });
        }
        let mut groups = Vec::with_capacity(x.sizes.len());
        let mut rest = weights.as_slice();
        for &s in &x.sizes {
            let (g, r) = rest.split_at(s);
            groups.push(g);
            rest = r;
        }
        Hierarchical::weighted(&groups)
    }
}

#[cfg(feature = "serde")]
impl From<Hierarchical> for HierRaw {
    fn from(h: Hierarchical) -> Self {
        HierRaw {
            sizes: h.sizes,
            weights: Some(h.weights),
        }
    }
}

impl Hierarchical {
    /// Groups of the given sizes over consecutive slots, every node of weight 1.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyGroup`] for a zero size, node-count errors as
    /// [`Threshold::new`].
    ///
    /// ```
    /// assert!(quorate_quorum::Hierarchical::new(&[3, 0]).is_err());
    /// ```
    pub fn new(sizes: &[usize]) -> Result<Self, ConfigError> {
        if let Some(index) = sizes.iter().position(|&s| s == 0) {
            return Err(ConfigError::EmptyGroup { index });
        }
        let total = sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s));
        let total = total.ok_or(ConfigError::TooManyNodes {
            count: usize::MAX,
            max: MAX_NODES,
        })?;
        check_nodes(total)?;
        let mut start = 0;
        let groups = sizes
            .iter()
            .map(|&s| {
                let g = NodeSet::from_bits(NodeSet::full(s).bits() << start);
                start += s;
                g
            })
            .collect();
        Ok(Hierarchical {
            sizes: sizes.to_vec(),
            groups,
            weights: vec![1; total],
            group_weights: sizes.iter().map(|&s| s as u64).collect(),
            counted: sizes.len(),
            unit: true,
        })
    }

    /// Groups given by their nodes' weights (ZooKeeper's `weight.<server>`),
    /// over consecutive slots: `groups[0]` holds the weights of slots
    /// `0..groups[0].len()`, and so on.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyGroup`] for a group without nodes,
    /// [`ConfigError::NoNodes`] / [`ConfigError::TooManyNodes`] for 0 or more
    /// than 64 nodes, [`ConfigError::WeightOverflow`] when a group's weights do
    /// not sum within `u64`, [`ConfigError::ZeroWeight`] when every group weighs 0
    /// (no set could be a quorum).
    ///
    /// ```
    /// use quorate_quorum::{Hierarchical, QuorumSystem};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// // Group 0 has one heavy node (weight 3) and two light ones.
    /// let q = Hierarchical::weighted(&[vec![3, 1, 1], vec![1, 1, 1], vec![1, 1, 1]])?;
    /// assert!(q.is_quorum([0, 3, 4].into_iter().collect()));
    /// assert!(!q.is_quorum([1, 2, 3, 4].into_iter().collect()));
    /// # Ok(()) }
    /// ```
    pub fn weighted<G: AsRef<[u64]>>(groups: &[G]) -> Result<Self, ConfigError> {
        if let Some(index) = groups.iter().position(|g| g.as_ref().is_empty()) {
            return Err(ConfigError::EmptyGroup { index });
        }
        let sizes: Vec<usize> = groups.iter().map(|g| g.as_ref().len()).collect();
        let mut h = Hierarchical::new(&sizes)?;
        h.weights = groups
            .iter()
            .flat_map(|g| g.as_ref().iter().copied())
            .collect();
        h.group_weights = groups
            .iter()
            .map(|g| {
                g.as_ref()
                    .iter()
                    .try_fold(0u64, |a, &w| a.checked_add(w))
                    .ok_or(ConfigError::WeightOverflow)
            })
            .collect::<Result<_, _>>()?;
        h.counted = h.group_weights.iter().filter(|&&w| w > 0).count();
        h.unit = h.weights.iter().all(|&w| w == 1);
        if h.counted == 0 {
            return Err(ConfigError::ZeroWeight);
        }
        Ok(h)
    }

    /// The group sizes.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::Hierarchical::new(&[2, 3])?.sizes(), &[2, 3]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The node weights, by slot (all 1 for [`Hierarchical::new`]).
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let q = quorate_quorum::Hierarchical::weighted(&[vec![2, 0], vec![5]])?;
    /// assert_eq!(q.weights(), &[2, 0, 5]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn weights(&self) -> &[u64] {
        &self.weights
    }
}

impl QuorumSystem for Hierarchical {
    fn node_count(&self) -> usize {
        self.weights.len()
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        let mut represented = 0usize;
        for (g, &total) in self.groups.iter().zip(&self.group_weights) {
            let members = set.intersection(*g);
            let w: u64 = if self.unit {
                members.len() as u64
            } else {
                // Cannot overflow: a subset of a group weighs at most its total.
                members.iter().filter_map(|s| self.weights.get(s)).sum()
            };
            if w > total / 2 {
                represented += 1;
            }
        }
        represented > self.counted / 2
    }
}

/// Flexible Paxos: phase-1 (leader election) quorums of size `q1` and phase-2
/// (replication) quorums of size `q2` over `n` nodes, valid when `q1 + q2 > n`.
///
/// ```
/// use quorate_quorum::{FlexiblePaxos, QuorumSystem};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let fp = FlexiblePaxos::new(10, 8, 3)?; // elections need 8, commits only 3
/// assert_eq!(fp.phase2().k(), 3);
/// assert!(FlexiblePaxos::new(10, 5, 5).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "FpRaw"))]
pub struct FlexiblePaxos {
    n: usize,
    q1: usize,
    q2: usize,
}

#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct FpRaw {
    n: usize,
    q1: usize,
    q2: usize,
}

#[cfg(feature = "serde")]
impl TryFrom<FpRaw> for FlexiblePaxos {
    type Error = ConfigError;
    fn try_from(x: FpRaw) -> Result<Self, ConfigError> {
        FlexiblePaxos::new(x.n, x.q1, x.q2)
    }
}

impl FlexiblePaxos {
    /// Validated phase sizes.
    ///
    /// # Errors
    ///
    /// [`ConfigError::PhasesDoNotIntersect`] when `q1 + q2 <= n`; size and
    /// node-count errors as [`Threshold::new`].
    ///
    /// ```
    /// assert!(quorate_quorum::FlexiblePaxos::new(5, 4, 2).is_ok());
    /// ```
    pub fn new(n: usize, q1: usize, q2: usize) -> Result<Self, ConfigError> {
        check_nodes(n)?;
        check_size(q1, n)?;
        check_size(q2, n)?;
        if q1 + q2 <= n {
            return Err(ConfigError::PhasesDoNotIntersect { q1, q2, nodes: n });
        }
        Ok(FlexiblePaxos { n, q1, q2 })
    }

    /// Phase-1 quorums.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::FlexiblePaxos::new(5, 4, 2)?.phase1().k(), 4);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn phase1(&self) -> Threshold {
        Threshold {
            n: self.n,
            k: self.q1,
        }
    }

    /// Phase-2 quorums.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::FlexiblePaxos::new(5, 4, 2)?.phase2().k(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn phase2(&self) -> Threshold {
        Threshold {
            n: self.n,
            k: self.q2,
        }
    }
}

/// The conjunction of any number of quorum systems over the same node slots:
/// a set is a quorum when it is a quorum of every part.
///
/// ```
/// use quorate_quorum::{Joint, QuorumSystem, Threshold};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let j = Joint::new(vec![Threshold::new(5, 3)?, Threshold::new(5, 4)?])?;
/// assert_eq!(j.committed_index(&[5, 4, 3, 2, 1]), 2);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Joint<Q> {
    parts: Vec<Q>,
}

#[cfg(feature = "serde")]
impl<'de, Q: serde::Deserialize<'de> + QuorumSystem> serde::Deserialize<'de> for Joint<Q> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw<Q> {
            parts: Vec<Q>,
        }
        let raw = Raw::<Q>::deserialize(d)?;
        Joint::new(raw.parts).map_err(serde::de::Error::custom)
    }
}

impl<Q: QuorumSystem> Joint<Q> {
    /// Joins `parts`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoParts`] when `parts` is empty.
    ///
    /// ```
    /// use quorate_quorum::{Joint, Threshold};
    /// assert!(Joint::<Threshold>::new(vec![]).is_err());
    /// ```
    pub fn new(parts: Vec<Q>) -> Result<Self, ConfigError> {
        if parts.is_empty() {
            return Err(ConfigError::NoParts);
        }
        Ok(Joint { parts })
    }

    /// The parts.
    ///
    /// ```
    /// use quorate_quorum::{Joint, Threshold};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(Joint::new(vec![Threshold::new(3, 2)?])?.parts().len(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn parts(&self) -> &[Q] {
        &self.parts
    }
}

impl<Q: QuorumSystem> QuorumSystem for Joint<Q> {
    fn node_count(&self) -> usize {
        self.parts
            .iter()
            .map(QuorumSystem::node_count)
            .max()
            .unwrap_or(0)
    }
    fn is_quorum(&self, set: NodeSet) -> bool {
        self.parts.iter().all(|p| p.is_quorum(set))
    }
    fn committed_index(&self, acked: &[u64]) -> u64 {
        // Monotone predicates: committed in all parts == minimum over parts.
        self.parts
            .iter()
            .map(|p| p.committed_index(acked))
            .min()
            .unwrap_or(u64::MAX)
    }
    fn vote_result(&self, votes: &Votes) -> VoteResult {
        let mut all_won = true;
        for p in &self.parts {
            match p.vote_result(votes) {
                VoteResult::Lost => return VoteResult::Lost,
                VoteResult::Pending => all_won = false,
                VoteResult::Won => {}
            }
        }
        if all_won {
            VoteResult::Won
        } else {
            VoteResult::Pending
        }
    }
}
