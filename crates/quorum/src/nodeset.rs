//! `NodeSet`: a set of up to 64 node slots in one `u64`, and vote bookkeeping.

use core::fmt;

/// The largest number of nodes (voter slots) a configuration or quorum system holds.
///
/// ```
/// assert_eq!(quorate_quorum::MAX_NODES, 64);
/// ```
pub const MAX_NODES: usize = 64;

/// A set of node slots `0..64` stored as a bitmask.
///
/// Every quorum computation in this crate works on slots, never on hashed ids:
/// a set is one machine word, union and intersection are single instructions and
/// nothing allocates.
///
/// ```
/// use quorate_quorum::NodeSet;
/// let s: NodeSet = [0, 2, 5].into_iter().collect();
/// assert_eq!(s.len(), 3);
/// assert!(s.contains(2) && !s.contains(1));
/// assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 2, 5]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct NodeSet(u64);

impl NodeSet {
    /// The empty set.
    ///
    /// ```
    /// assert!(quorate_quorum::NodeSet::EMPTY.is_empty());
    /// ```
    pub const EMPTY: NodeSet = NodeSet(0);

    /// A set from its raw bits (bit `i` = slot `i`).
    ///
    /// ```
    /// assert_eq!(quorate_quorum::NodeSet::from_bits(0b101).len(), 2);
    /// ```
    #[must_use]
    pub const fn from_bits(bits: u64) -> Self {
        NodeSet(bits)
    }

    /// The raw bits.
    ///
    /// ```
    /// assert_eq!(quorate_quorum::NodeSet::full(3).bits(), 0b111);
    /// ```
    #[must_use]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The slots `0..n` (all 64 when `n >= 64`).
    ///
    /// ```
    /// assert_eq!(quorate_quorum::NodeSet::full(5).len(), 5);
    /// ```
    #[must_use]
    pub const fn full(n: usize) -> Self {
        if n >= 64 {
            NodeSet(u64::MAX)
        } else {
            NodeSet((1u64 << n) - 1)
        }
    }

    /// Whether `slot` is in the set (`false` for slots >= 64).
    ///
    /// ```
    /// assert!(quorate_quorum::NodeSet::full(2).contains(1));
    /// ```
    #[must_use]
    pub const fn contains(self, slot: usize) -> bool {
        slot < 64 && self.0 & (1u64 << slot) != 0
    }

    /// Adds `slot`; returns `false` (and does nothing) when `slot >= 64`.
    ///
    /// ```
    /// let mut s = quorate_quorum::NodeSet::EMPTY;
    /// assert!(s.insert(3));
    /// assert!(!s.insert(64));
    /// ```
    pub fn insert(&mut self, slot: usize) -> bool {
        if slot < 64 {
            self.0 |= 1u64 << slot;
            true
        } else {
            false
        }
    }

    /// Removes `slot` if present.
    ///
    /// ```
    /// let mut s = quorate_quorum::NodeSet::full(2);
    /// s.remove(0);
    /// assert_eq!(s.bits(), 0b10);
    /// ```
    pub fn remove(&mut self, slot: usize) {
        if slot < 64 {
            self.0 &= !(1u64 << slot);
        }
    }

    /// Number of slots in the set.
    ///
    /// ```
    /// assert_eq!(quorate_quorum::NodeSet::from_bits(0b1011).len(), 3);
    /// ```
    #[must_use]
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// assert!(quorate_quorum::NodeSet::default().is_empty());
    /// ```
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Set union.
    ///
    /// ```
    /// use quorate_quorum::NodeSet;
    /// assert_eq!(NodeSet::from_bits(1).union(NodeSet::from_bits(2)).bits(), 3);
    /// ```
    #[must_use]
    pub const fn union(self, other: NodeSet) -> NodeSet {
        NodeSet(self.0 | other.0)
    }

    /// Set intersection.
    ///
    /// ```
    /// use quorate_quorum::NodeSet;
    /// assert!(NodeSet::from_bits(1).intersection(NodeSet::from_bits(2)).is_empty());
    /// ```
    #[must_use]
    pub const fn intersection(self, other: NodeSet) -> NodeSet {
        NodeSet(self.0 & other.0)
    }

    /// Slots in `self` but not in `other`.
    ///
    /// ```
    /// use quorate_quorum::NodeSet;
    /// assert_eq!(NodeSet::full(3).difference(NodeSet::from_bits(1)).bits(), 0b110);
    /// ```
    #[must_use]
    pub const fn difference(self, other: NodeSet) -> NodeSet {
        NodeSet(self.0 & !other.0)
    }

    /// Whether every slot of `self` is in `other`.
    ///
    /// ```
    /// use quorate_quorum::NodeSet;
    /// assert!(NodeSet::from_bits(0b10).is_subset(NodeSet::full(2)));
    /// ```
    #[must_use]
    pub const fn is_subset(self, other: NodeSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Iterates the slots in increasing order.
    ///
    /// ```
    /// let v: Vec<usize> = quorate_quorum::NodeSet::from_bits(0b110).iter().collect();
    /// assert_eq!(v, vec![1, 2]);
    /// ```
    pub fn iter(self) -> NodeSetIter {
        NodeSetIter(self.0)
    }
}

impl fmt::Debug for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<usize> for NodeSet {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Self {
        let mut s = NodeSet::EMPTY;
        s.extend(iter);
        s
    }
}

impl Extend<usize> for NodeSet {
    fn extend<I: IntoIterator<Item = usize>>(&mut self, iter: I) {
        for slot in iter {
            self.insert(slot);
        }
    }
}

impl IntoIterator for NodeSet {
    type Item = usize;
    type IntoIter = NodeSetIter;
    fn into_iter(self) -> NodeSetIter {
        self.iter()
    }
}

/// Iterator over the slots of a [`NodeSet`], in increasing order.
///
/// ```
/// let mut it = quorate_quorum::NodeSet::from_bits(0b1001).iter();
/// assert_eq!((it.next(), it.next(), it.next()), (Some(0), Some(3), None));
/// ```
#[derive(Debug, Clone)]
pub struct NodeSetIter(u64);

impl Iterator for NodeSetIter {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let slot = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(slot)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for NodeSetIter {}

/// Outcome of an election or any yes/no quorum decision.
///
/// `Pending` means the missing votes can still decide either way.
///
/// ```
/// use quorate_quorum::VoteResult;
/// assert_eq!(VoteResult::Won.to_string(), "won");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum VoteResult {
    /// Neither outcome is decided yet.
    #[default]
    Pending,
    /// Yes votes plus the missing ones can no longer form a quorum.
    Lost,
    /// The yes votes form a quorum.
    Won,
}

impl fmt::Display for VoteResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VoteResult::Pending => "pending",
            VoteResult::Lost => "lost",
            VoteResult::Won => "won",
        })
    }
}

/// Votes received so far, by slot: a yes set and a no set.
///
/// The first vote recorded for a slot wins; repeating or contradicting it later
/// changes nothing, so duplicated or replayed messages never change a tally.
///
/// ```
/// use quorate_quorum::Votes;
/// let mut v = Votes::new();
/// v.record(0, true);
/// v.record(0, false); // ignored: slot 0 already voted
/// v.record(1, false);
/// assert_eq!((v.yes().len(), v.no().len()), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(from = "VotesRaw"))]
pub struct Votes {
    yes: NodeSet,
    no: NodeSet,
}

#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct VotesRaw {
    yes: NodeSet,
    no: NodeSet,
}

#[cfg(feature = "serde")]
impl From<VotesRaw> for Votes {
    fn from(raw: VotesRaw) -> Self {
        Votes::from_sets(raw.yes, raw.no)
    }
}

impl Votes {
    /// No votes yet.
    ///
    /// ```
    /// assert!(quorate_quorum::Votes::new().yes().is_empty());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Votes {
            yes: NodeSet::EMPTY,
            no: NodeSet::EMPTY,
        }
    }

    /// Builds a tally from yes and no sets; a slot in both counts as yes.
    ///
    /// ```
    /// use quorate_quorum::{NodeSet, Votes};
    /// let v = Votes::from_sets(NodeSet::from_bits(0b011), NodeSet::from_bits(0b110));
    /// assert_eq!(v.no().bits(), 0b100);
    /// ```
    #[must_use]
    pub const fn from_sets(yes: NodeSet, no: NodeSet) -> Self {
        Votes {
            yes,
            no: no.difference(yes),
        }
    }

    /// Records `granted` for `slot` unless the slot already voted; returns
    /// whether the vote was new. Slots >= 64 are ignored.
    ///
    /// ```
    /// let mut v = quorate_quorum::Votes::new();
    /// assert!(v.record(2, true));
    /// assert!(!v.record(2, true));
    /// ```
    pub fn record(&mut self, slot: usize, granted: bool) -> bool {
        if slot >= 64 || self.yes.contains(slot) || self.no.contains(slot) {
            return false;
        }
        if granted {
            self.yes.insert(slot);
        } else {
            self.no.insert(slot);
        }
        true
    }

    /// Slots that voted yes.
    ///
    /// ```
    /// let mut v = quorate_quorum::Votes::new();
    /// v.record(4, true);
    /// assert!(v.yes().contains(4));
    /// ```
    #[must_use]
    pub const fn yes(&self) -> NodeSet {
        self.yes
    }

    /// Slots that voted no.
    ///
    /// ```
    /// let mut v = quorate_quorum::Votes::new();
    /// v.record(4, false);
    /// assert!(v.no().contains(4));
    /// ```
    #[must_use]
    pub const fn no(&self) -> NodeSet {
        self.no
    }
}
