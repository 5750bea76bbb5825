//! Majority and joint configurations: the Raft hot path.
//!
//! A configuration maps voter ids to dense slots once, at construction. After
//! that every call takes slot-indexed inputs (`acked[slot]`, a [`Votes`] bitmask),
//! so no call hashes an id or allocates, for up to 64 voters.

use crate::error::ConfigError;
use crate::nodeset::{MAX_NODES, NodeSet, VoteResult, Votes};

/// What an empty majority configuration decides.
///
/// etcd-io/raft and tikv/raft-rs treat an empty configuration as committing
/// everything (`u64::MAX`) and winning every vote ([`EmptyConfig::AlwaysQuorum`],
/// the default). The point is joint consensus: a joint configuration whose
/// outgoing half is empty then behaves exactly like its incoming half, so one
/// code path serves both. The price is that a configuration with no voters at
/// all "commits" everything, which callers must rule out themselves.
///
/// The alternative convention, [`EmptyConfig::NeverQuorum`], says the empty set
/// of voters has no quorum: it commits nothing (`0`) and loses every vote. It is
/// the safer choice when an empty configuration can only arise from a bug; with
/// it a joint configuration with an empty half is stuck, so use it only with
/// non-joint configurations or joint ones whose halves are both populated.
///
/// ```
/// use quorate_quorum::{EmptyConfig, MajorityConfig};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let etcd = MajorityConfig::new([])?;
/// assert_eq!(etcd.committed_index(&[]), u64::MAX);
/// let strict = MajorityConfig::new([])?.with_empty_config(EmptyConfig::NeverQuorum);
/// assert_eq!(strict.committed_index(&[]), 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EmptyConfig {
    /// The etcd/raft-rs convention: an empty configuration commits everything and wins every vote.
    #[default]
    AlwaysQuorum,
    /// An empty configuration is never a quorum: it commits nothing and loses every vote.
    NeverQuorum,
}

/// The result of a zone-aware ("group") commit computation, as in tikv/raft-rs.
///
/// `by_group` is `true` when the index was decided by the group rule (voters in
/// at least two groups acknowledged it), `false` when it fell back to another rule.
///
/// ```
/// use quorate_quorum::MajorityConfig;
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let c = MajorityConfig::new([1, 2, 3])?;
/// let r = c.committed_index_grouped(&[100, 101, 99], &[1, 1, 2]);
/// assert_eq!((r.index, r.by_group), (99, true));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GroupCommitted {
    /// The committed index.
    pub index: u64,
    /// Whether the group rule decided it.
    pub by_group: bool,
}

/// Quorum size of a majority of `n` (0 for `n == 0`).
#[inline]
pub(crate) const fn majority(n: usize) -> usize {
    if n == 0 { 0 } else { n / 2 + 1 }
}

/// The `k`-th largest value (1-based) of `buf`; `buf` is reordered.
#[inline]
pub(crate) fn kth_largest(buf: &mut [u64], k: usize) -> u64 {
    let n = buf.len();
    if k == 0 || k > n {
        return 0;
    }
    let pos = n - k; // ascending position
    if n <= 16 {
        insertion_sort(buf);
        buf[pos]
    } else {
        *buf.select_nth_unstable(pos).1
    }
}

/// Insertion sort: branch-friendly and fast for Raft-sized groups.
#[inline(always)]
fn insertion_sort(buf: &mut [u64]) {
    for i in 1..buf.len() {
        let v = buf[i];
        let mut j = i;
        while j > 0 && buf[j - 1] > v {
            buf[j] = buf[j - 1];
            j -= 1;
        }
        buf[j] = v;
    }
}

/// Majority commit of slots `0..N` on a buffer of exactly `N` values, so the
/// compiler knows the length, skips zeroing a large buffer and unrolls the sort.
#[inline(always)]
fn majority_fixed<const N: usize>(acked: &[u64]) -> u64 {
    // Fixed-size copy (register moves, no memcpy call); a short `acked` takes a
    // separate cold path so the two copies are not merged into one memcpy.
    let mut buf: [u64; N] = match acked.first_chunk::<N>() {
        Some(src) => *src,
        None => padded::<N>(acked),
    };
    if N <= 8 {
        network_sort(&mut buf);
    } else {
        insertion_sort(&mut buf);
    }
    buf[N - majority(N)]
}

#[cold]
#[inline(never)]
fn padded<const N: usize>(acked: &[u64]) -> [u64; N] {
    let mut buf = [0u64; N];
    for (b, a) in buf.iter_mut().zip(acked) {
        *b = *a;
    }
    buf
}

/// Size-optimal sorting networks (compare-exchange pairs) for 2 to 8 inputs;
/// the unit test below checks each with the 0-1 principle.
const NETWORKS: [&[(usize, usize)]; 9] = [
    &[],
    &[],
    &[(0, 1)],
    &[(0, 2), (0, 1), (1, 2)],
    &[(0, 2), (1, 3), (0, 1), (2, 3), (1, 2)],
    &[
        (0, 3),
        (1, 4),
        (0, 2),
        (1, 3),
        (0, 1),
        (2, 4),
        (1, 2),
        (3, 4),
        (2, 3),
    ],
    &[
        (0, 5),
        (1, 3),
        (2, 4),
        (1, 2),
        (3, 4),
        (0, 3),
        (2, 5),
        (0, 1),
        (2, 3),
        (4, 5),
        (1, 2),
        (3, 4),
    ],
    &[
        (0, 6),
        (2, 3),
        (4, 5),
        (0, 2),
        (1, 4),
        (3, 6),
        (0, 1),
        (2, 5),
        (3, 4),
        (1, 2),
        (4, 6),
        (2, 3),
        (4, 5),
        (1, 2),
        (3, 4),
        (5, 6),
    ],
    &[
        (0, 2),
        (1, 3),
        (4, 6),
        (5, 7),
        (0, 4),
        (1, 5),
        (2, 6),
        (3, 7),
        (0, 1),
        (2, 3),
        (4, 5),
        (6, 7),
        (2, 4),
        (3, 5),
        (1, 4),
        (3, 6),
        (1, 2),
        (3, 4),
        (5, 6),
    ],
];

/// Sorts with the fixed network for `N <= 8`: no data-dependent branches,
/// fully unrolled, and the compare-exchanges that do not feed the selected
/// position are removed by the optimiser.
#[inline(always)]
fn network_sort<const N: usize>(buf: &mut [u64; N]) {
    let Some(pairs) = NETWORKS.get(N) else { return };
    for &(i, j) in pairs.iter() {
        if let (Some(&a), Some(&b)) = (buf.get(i), buf.get(j)) {
            buf[i] = a.min(b);
            buf[j] = a.max(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<const N: usize>() {
        for bits in 0u32..(1 << N) {
            let mut buf = [0u64; N];
            for (i, b) in buf.iter_mut().enumerate() {
                *b = u64::from(bits >> i & 1);
            }
            network_sort(&mut buf);
            assert!(
                buf.windows(2).all(|w| w[0] <= w[1]),
                "network {N} fails on {bits:b}"
            );
        }
    }

    #[test]
    fn networks_sort_every_zero_one_input() {
        check::<1>();
        check::<2>();
        check::<3>();
        check::<4>();
        check::<5>();
        check::<6>();
        check::<7>();
        check::<8>();
    }
}

/// Majority commit of slots `0..n`.
#[inline]
pub(crate) fn majority_prefix(n: usize, acked: &[u64]) -> u64 {
    match n {
        1 => majority_fixed::<1>(acked),
        2 => majority_fixed::<2>(acked),
        3 => majority_fixed::<3>(acked),
        4 => majority_fixed::<4>(acked),
        5 => majority_fixed::<5>(acked),
        6 => majority_fixed::<6>(acked),
        7 => majority_fixed::<7>(acked),
        8 => majority_fixed::<8>(acked),
        9 => majority_fixed::<9>(acked),
        10 => majority_fixed::<10>(acked),
        11 => majority_fixed::<11>(acked),
        12 => majority_fixed::<12>(acked),
        13 => majority_fixed::<13>(acked),
        14 => majority_fixed::<14>(acked),
        15 => majority_fixed::<15>(acked),
        16 => majority_fixed::<16>(acked),
        _ => majority_general(n, acked),
    }
}

/// Above 16 voters: selection on a 64-slot stack array (kept out of line so
/// the small cases do not pay for its stack frame).
#[inline(never)]
fn majority_general(n: usize, acked: &[u64]) -> u64 {
    let n = n.min(MAX_NODES);
    let mut buf = [0u64; MAX_NODES];
    let have = n.min(acked.len());
    buf[..have].copy_from_slice(&acked[..have]);
    kth_largest(&mut buf[..n], majority(n))
}

/// Majority commit over the members of `mask`.
#[inline]
fn mask_committed(mask: NodeSet, acked: &[u64], empty: EmptyConfig) -> u64 {
    let n = mask.len();
    if n == 0 {
        return match empty {
            EmptyConfig::AlwaysQuorum => u64::MAX,
            EmptyConfig::NeverQuorum => 0,
        };
    }
    if mask == NodeSet::full(n) {
        return majority_prefix(n, acked);
    }
    // Gather the members densely, then reuse the fixed-size paths.
    if n <= 16 {
        let mut buf = [0u64; 16];
        for (b, slot) in buf.iter_mut().zip(mask.iter()) {
            *b = acked.get(slot).copied().unwrap_or(0);
        }
        return majority_prefix(n, &buf);
    }
    let mut buf = [0u64; MAX_NODES];
    for (b, slot) in buf.iter_mut().zip(mask.iter()) {
        *b = acked.get(slot).copied().unwrap_or(0);
    }
    majority_general(n, &buf)
}

#[inline]
fn mask_vote(mask: NodeSet, votes: &Votes, empty: EmptyConfig) -> VoteResult {
    let n = mask.len();
    if n == 0 {
        return match empty {
            EmptyConfig::AlwaysQuorum => VoteResult::Won,
            EmptyConfig::NeverQuorum => VoteResult::Lost,
        };
    }
    let yes = votes.yes().intersection(mask).len();
    let no = votes.no().difference(votes.yes()).intersection(mask).len();
    let q = majority(n);
    if yes >= q {
        VoteResult::Won
    } else if n - no >= q {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

#[inline]
pub(crate) fn mask_is_quorum(mask: NodeSet, set: NodeSet, empty: EmptyConfig) -> bool {
    let n = mask.len();
    if n == 0 {
        return empty == EmptyConfig::AlwaysQuorum;
    }
    set.intersection(mask).len() >= majority(n)
}

/// tikv/raft-rs group commit over the members of `mask`.
fn mask_group_committed(
    mask: NodeSet,
    acked: &[u64],
    groups: &[u64],
    empty: EmptyConfig,
) -> GroupCommitted {
    let n = mask.len();
    if n == 0 {
        return match empty {
            EmptyConfig::AlwaysQuorum => GroupCommitted {
                index: u64::MAX,
                by_group: true,
            },
            EmptyConfig::NeverQuorum => GroupCommitted {
                index: 0,
                by_group: false,
            },
        };
    }
    let mut idx = [0u64; MAX_NODES];
    // Per-group maxima of the distinct non-zero groups.
    let mut gid = [0u64; MAX_NODES];
    let mut gmax = [0u64; MAX_NODES];
    let mut ngroups = 0usize;
    let mut any_unknown = false;
    let mut min = u64::MAX;
    for (i, slot) in mask.iter().enumerate() {
        let a = acked.get(slot).copied().unwrap_or(0);
        let g = groups.get(slot).copied().unwrap_or(0);
        idx[i] = a;
        min = min.min(a);
        if g == 0 {
            any_unknown = true;
            continue;
        }
        match gid[..ngroups].iter().position(|&x| x == g) {
            Some(p) => gmax[p] = gmax[p].max(a),
            None => {
                gid[ngroups] = g;
                gmax[ngroups] = a;
                ngroups += 1;
            }
        }
    }
    let quorum_index = kth_largest(&mut idx[..n], majority(n));
    if ngroups >= 2 {
        // The largest index acknowledged in two different groups is the second
        // largest per-group maximum.
        let (mut first, mut second) = (0u64, 0u64);
        for &m in &gmax[..ngroups] {
            if m > first {
                second = first;
                first = m;
            } else if m > second {
                second = m;
            }
        }
        GroupCommitted {
            index: quorum_index.min(second),
            by_group: true,
        }
    } else if any_unknown {
        // Group information is incomplete: only what every voter has is safe.
        GroupCommitted {
            index: min,
            by_group: false,
        }
    } else {
        GroupCommitted {
            index: quorum_index,
            by_group: false,
        }
    }
}

fn assign_slots(ids: &mut Vec<u64>, half: &[u64]) -> Result<NodeSet, ConfigError> {
    let mut mask = NodeSet::EMPTY;
    for &id in half {
        let slot = match ids.iter().position(|&x| x == id) {
            Some(s) => s,
            None => {
                if ids.len() >= MAX_NODES {
                    return Err(ConfigError::TooManyNodes {
                        count: ids.len() + 1,
                        max: MAX_NODES,
                    });
                }
                ids.push(id);
                ids.len() - 1
            }
        };
        if mask.contains(slot) {
            return Err(ConfigError::DuplicateVoter { id });
        }
        mask.insert(slot);
    }
    Ok(mask)
}

/// A set of voters deciding by simple majority (`n / 2 + 1`).
///
/// Voter `ids()[i]` has slot `i`. Use it for a stable Raft (or Paxos)
/// membership; use [`JointConfig`] while changing membership.
///
/// ```
/// use quorate_quorum::{MajorityConfig, VoteResult, Votes};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let c = MajorityConfig::new([10, 20, 30])?;
/// assert_eq!(c.committed_index(&[12, 5, 6]), 6);
/// let mut v = Votes::new();
/// v.record(c.slot_of(10).unwrap_or(0), true);
/// assert_eq!(c.vote_result(&v), VoteResult::Pending);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "MajorityRaw"))]
pub struct MajorityConfig {
    ids: Vec<u64>,
    empty: EmptyConfig,
}

#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct MajorityRaw {
    ids: Vec<u64>,
    empty: EmptyConfig,
}

#[cfg(feature = "serde")]
impl TryFrom<MajorityRaw> for MajorityConfig {
    type Error = ConfigError;
    fn try_from(raw: MajorityRaw) -> Result<Self, ConfigError> {
        Ok(MajorityConfig::new(raw.ids)?.with_empty_config(raw.empty))
    }
}

impl MajorityConfig {
    /// Builds a configuration; slots follow the order of `ids`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DuplicateVoter`] for a repeated id,
    /// [`ConfigError::TooManyNodes`] above 64 voters.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::MajorityConfig::new([7, 8, 9])?;
    /// assert_eq!(c.slot_of(9), Some(2));
    /// # Ok(()) }
    /// ```
    pub fn new(ids: impl IntoIterator<Item = u64>) -> Result<Self, ConfigError> {
        let input: Vec<u64> = ids.into_iter().collect();
        let mut ids = Vec::with_capacity(input.len().min(MAX_NODES));
        assign_slots(&mut ids, &input)?;
        Ok(MajorityConfig {
            ids,
            empty: EmptyConfig::default(),
        })
    }

    /// Selects the convention for an empty configuration (see [`EmptyConfig`]).
    ///
    /// ```
    /// use quorate_quorum::{EmptyConfig, MajorityConfig, VoteResult, Votes};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = MajorityConfig::new([])?.with_empty_config(EmptyConfig::NeverQuorum);
    /// assert_eq!(c.vote_result(&Votes::new()), VoteResult::Lost);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_empty_config(mut self, empty: EmptyConfig) -> Self {
        self.empty = empty;
        self
    }

    /// The empty-configuration convention in force.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::MajorityConfig::new([1])?;
    /// assert_eq!(c.empty_config(), quorate_quorum::EmptyConfig::AlwaysQuorum);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn empty_config(&self) -> EmptyConfig {
        self.empty
    }

    /// Voter ids by slot.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::MajorityConfig::new([4, 2])?.ids(), &[4, 2]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// Number of voters.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::MajorityConfig::new([4, 2])?.len(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no voters.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert!(quorate_quorum::MajorityConfig::new([])?.is_empty());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The slot of voter `id`.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::MajorityConfig::new([4, 2])?.slot_of(3), None);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn slot_of(&self, id: u64) -> Option<usize> {
        self.ids.iter().position(|&x| x == id)
    }

    /// Votes needed for a majority (`0` when empty).
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::MajorityConfig::new([1, 2, 3, 4])?.quorum_size(), 3);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn quorum_size(&self) -> usize {
        majority(self.ids.len())
    }

    /// The largest index acknowledged by a majority.
    ///
    /// `acked[slot]` is the highest index voter `slot` acknowledged; `0`, or a
    /// slot past the end of `acked`, means nothing acknowledged. An empty
    /// configuration follows its [`EmptyConfig`] convention.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::MajorityConfig::new([1, 2, 3, 4, 5])?;
    /// assert_eq!(c.committed_index(&[101, 104, 103, 103, 0]), 103);
    /// # Ok(()) }
    /// ```
    #[must_use]
    #[inline]
    pub fn committed_index(&self, acked: &[u64]) -> u64 {
        let n = self.ids.len();
        if n == 0 {
            return mask_committed(NodeSet::EMPTY, acked, self.empty);
        }
        majority_prefix(n, acked)
    }

    /// Zone-aware commit (tikv/raft-rs `use_group_commit`).
    ///
    /// `groups[slot]` is the voter's zone (`0` = unknown). When voters of at
    /// least two zones are present, the result is the majority commit index
    /// capped by the largest index acknowledged in two different zones
    /// (`by_group = true`). Otherwise: if some voter's zone is unknown, the
    /// minimum acknowledged index over all voters; if every voter is in the same
    /// zone, the plain majority index (`by_group = false` in both cases).
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::MajorityConfig::new([1, 2, 3])?;
    /// assert_eq!(c.committed_index_grouped(&[100, 101, 99], &[0, 1, 1]).index, 99);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn committed_index_grouped(&self, acked: &[u64], groups: &[u64]) -> GroupCommitted {
        mask_group_committed(NodeSet::full(self.ids.len()), acked, groups, self.empty)
    }

    /// Won when the yes votes form a majority, Lost when yes plus missing
    /// cannot, else Pending.
    ///
    /// ```
    /// use quorate_quorum::{MajorityConfig, VoteResult, Votes};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = MajorityConfig::new([4, 8])?;
    /// let mut v = Votes::new();
    /// v.record(0, false);
    /// assert_eq!(c.vote_result(&v), VoteResult::Lost);
    /// # Ok(()) }
    /// ```
    #[must_use]
    #[inline]
    pub fn vote_result(&self, votes: &Votes) -> VoteResult {
        mask_vote(NodeSet::full(self.ids.len()), votes, self.empty)
    }

    /// etcd's `Describe`: a table of the voters' acknowledged indexes, sorted
    /// by id, each with a bar as long as the number of voters below it (`?`
    /// for a voter that acknowledged nothing). For logs and test output; it
    /// allocates.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::MajorityConfig::new([1, 2, 3])?;
    /// assert_eq!(
    ///     c.describe(&[101, 0, 103]),
    ///     "       idx\nx>     101    (id=1)\n?        0    (id=2)\nxx>    103    (id=3)\n"
    /// );
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn describe(&self, acked: &[u64]) -> String {
        describe(&self.ids, acked)
    }
}

/// A joint configuration: an incoming majority plus an optional outgoing one.
///
/// During joint consensus every decision needs both halves: the committed index
/// is the minimum of the two, a vote is lost if either half lost and won only
/// if both won. Slots cover the union of both halves (incoming ids first, then
/// outgoing-only ids), so one `acked` array serves both.
///
/// ```
/// use quorate_quorum::JointConfig;
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let c = JointConfig::builder().incoming([1, 2, 3]).outgoing([2, 3, 4]).build()?;
/// assert_eq!(c.ids(), &[1, 2, 3, 4]);
/// assert_eq!(c.committed_index(&[0, 100, 99, 0]), 99);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "JointRaw", into = "JointRaw"))]
pub struct JointConfig {
    ids: Vec<u64>,
    incoming: NodeSet,
    outgoing: Option<NodeSet>,
    empty: EmptyConfig,
}

#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct JointRaw {
    incoming: Vec<u64>,
    outgoing: Option<Vec<u64>>,
    empty: EmptyConfig,
}

#[cfg(feature = "serde")]
impl TryFrom<JointRaw> for JointConfig {
    type Error = ConfigError;
    fn try_from(raw: JointRaw) -> Result<Self, ConfigError> {
        let mut b = JointConfig::builder()
            .incoming(raw.incoming)
            .empty_config(raw.empty);
        if let Some(o) = raw.outgoing {
            b = b.outgoing(o);
        }
        b.build()
    }
}

#[cfg(feature = "serde")]
impl From<JointConfig> for JointRaw {
    fn from(c: JointConfig) -> Self {
        JointRaw {
            incoming: c.incoming_ids().collect(),
            outgoing: c
                .outgoing
                .map(|o| o.iter().filter_map(|s| c.ids.get(s).copied()).collect()),
            empty: c.empty,
        }
    }
}

/// Builder for [`JointConfig`]: assigns dense slots and rejects duplicates.
///
/// ```
/// use quorate_quorum::{EmptyConfig, JointConfig};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// let c = JointConfig::builder()
///     .incoming([1, 2, 3])
///     .empty_config(EmptyConfig::AlwaysQuorum)
///     .build()?;
/// assert!(!c.is_joint());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct JointConfigBuilder {
    incoming: Vec<u64>,
    outgoing: Option<Vec<u64>>,
    empty: EmptyConfig,
}

impl JointConfigBuilder {
    /// Sets the incoming (new) voters.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::builder().incoming([5]).build()?;
    /// assert_eq!(c.ids(), &[5]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn incoming(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        self.incoming = ids.into_iter().collect();
        self
    }

    /// Sets the outgoing (old) voters, making the configuration joint. An
    /// empty outgoing half is allowed: with the default convention it makes
    /// the joint configuration behave like the incoming half.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::builder().incoming([1]).outgoing([]).build()?;
    /// assert!(c.is_joint());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn outgoing(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        self.outgoing = Some(ids.into_iter().collect());
        self
    }

    /// Selects the empty-configuration convention.
    ///
    /// ```
    /// use quorate_quorum::{EmptyConfig, JointConfig};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = JointConfig::builder().empty_config(EmptyConfig::NeverQuorum).build()?;
    /// assert_eq!(c.committed_index(&[]), 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn empty_config(mut self, empty: EmptyConfig) -> Self {
        self.empty = empty;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DuplicateVoter`] when an id repeats within one half,
    /// [`ConfigError::TooManyNodes`] when the union exceeds 64 voters.
    ///
    /// ```
    /// use quorate_quorum::{ConfigError, JointConfig};
    /// let err = JointConfig::builder().incoming([1, 1]).build().unwrap_err();
    /// assert_eq!(err, ConfigError::DuplicateVoter { id: 1 });
    /// ```
    pub fn build(self) -> Result<JointConfig, ConfigError> {
        let mut ids = Vec::with_capacity(self.incoming.len().min(MAX_NODES));
        let incoming = assign_slots(&mut ids, &self.incoming)?;
        let outgoing = match &self.outgoing {
            Some(o) => Some(assign_slots(&mut ids, o)?),
            None => None,
        };
        Ok(JointConfig {
            ids,
            incoming,
            outgoing,
            empty: self.empty,
        })
    }
}

impl From<MajorityConfig> for JointConfig {
    fn from(c: MajorityConfig) -> Self {
        let incoming = NodeSet::full(c.ids.len());
        JointConfig {
            ids: c.ids,
            incoming,
            outgoing: None,
            empty: c.empty,
        }
    }
}

impl JointConfig {
    /// A builder.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::builder().incoming([1, 2]).outgoing([3]).build()?;
    /// assert_eq!(c.len(), 3);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn builder() -> JointConfigBuilder {
        JointConfigBuilder::default()
    }

    /// Shorthand for a joint configuration of `incoming` and `outgoing`.
    ///
    /// # Errors
    ///
    /// As [`JointConfigBuilder::build`].
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::new([1, 2, 3], [3, 4, 5])?;
    /// assert!(c.is_joint());
    /// # Ok(()) }
    /// ```
    pub fn new(
        incoming: impl IntoIterator<Item = u64>,
        outgoing: impl IntoIterator<Item = u64>,
    ) -> Result<Self, ConfigError> {
        Self::builder()
            .incoming(incoming)
            .outgoing(outgoing)
            .build()
    }

    /// Voter ids by slot (union of both halves).
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::JointConfig::new([1], [2])?.ids(), &[1, 2]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// Number of distinct voters across both halves.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::JointConfig::new([1, 2], [2])?.len(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no voters at all.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert!(quorate_quorum::JointConfig::builder().build()?.is_empty());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether an outgoing half is present.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert!(!quorate_quorum::JointConfig::builder().incoming([1]).build()?.is_joint());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn is_joint(&self) -> bool {
        self.outgoing.is_some()
    }

    /// Slots of the incoming half.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::JointConfig::new([1, 2], [2, 3])?.incoming().bits(), 0b011);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn incoming(&self) -> NodeSet {
        self.incoming
    }

    /// Slots of the outgoing half, if joint.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::new([1, 2], [2, 3])?;
    /// assert_eq!(c.outgoing().map(|s| s.bits()), Some(0b110));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn outgoing(&self) -> Option<NodeSet> {
        self.outgoing
    }

    fn incoming_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.incoming
            .iter()
            .filter_map(|s| self.ids.get(s).copied())
    }

    /// The same voters with the halves swapped (outgoing becomes incoming).
    /// Decisions never change under the swap; slots are reassigned. A
    /// configuration that is not joint is returned unchanged.
    ///
    /// # Errors
    ///
    /// Never in practice (the halves are already valid); kept fallible because
    /// it rebuilds through the validating builder.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::new([1], [2])?.swapped()?;
    /// assert_eq!(c.ids(), &[2, 1]);
    /// # Ok(()) }
    /// ```
    pub fn swapped(&self) -> Result<JointConfig, ConfigError> {
        // Not joint: there is no outgoing half to swap in. (Making the
        // incoming half outgoing would leave an empty incoming half, which
        // the `NeverQuorum` convention treats as stuck.)
        let Some(outgoing) = self.outgoing else {
            return Ok(self.clone());
        };
        let out: Vec<u64> = outgoing
            .iter()
            .filter_map(|s| self.ids.get(s).copied())
            .collect();
        JointConfig::builder()
            .incoming(out)
            .outgoing(self.incoming_ids().collect::<Vec<_>>())
            .empty_config(self.empty)
            .build()
    }

    /// The slot of voter `id`.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// assert_eq!(quorate_quorum::JointConfig::new([1], [2])?.slot_of(2), Some(1));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn slot_of(&self, id: u64) -> Option<usize> {
        self.ids.iter().position(|&x| x == id)
    }

    /// The empty-configuration convention in force.
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::new([1], [])?;
    /// assert_eq!(c.empty_config(), quorate_quorum::EmptyConfig::AlwaysQuorum);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn empty_config(&self) -> EmptyConfig {
        self.empty
    }

    /// The largest index committed in both halves (the minimum of the two).
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::new([1], [2])?;
    /// assert_eq!(c.committed_index(&[13, 100]), 13);
    /// # Ok(()) }
    /// ```
    #[must_use]
    #[inline]
    pub fn committed_index(&self, acked: &[u64]) -> u64 {
        let i = mask_committed(self.incoming, acked, self.empty);
        match self.outgoing {
            Some(o) => i.min(mask_committed(o, acked, self.empty)),
            None => i,
        }
    }

    /// Zone-aware commit of both halves: the minimum index; `by_group` only
    /// when both halves used the group rule (tikv/raft-rs semantics).
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::new([1, 2, 3], [4, 5, 6])?;
    /// let r = c.committed_index_grouped(&[99, 100, 101, 99, 100, 101], &[1, 1, 2, 1, 2, 1]);
    /// assert_eq!((r.index, r.by_group), (100, true));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn committed_index_grouped(&self, acked: &[u64], groups: &[u64]) -> GroupCommitted {
        let i = mask_group_committed(self.incoming, acked, groups, self.empty);
        let o = mask_group_committed(self.outgoing.unwrap_or_default(), acked, groups, self.empty);
        let o = if self.outgoing.is_none() {
            GroupCommitted {
                index: u64::MAX,
                by_group: true,
            }
        } else {
            o
        };
        GroupCommitted {
            index: i.index.min(o.index),
            by_group: i.by_group && o.by_group,
        }
    }

    /// Lost if either half lost, Won if both won, else Pending.
    ///
    /// ```
    /// use quorate_quorum::{JointConfig, VoteResult, Votes};
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = JointConfig::new([1, 2], [2, 3])?;
    /// let mut v = Votes::new();
    /// v.record(1, false);
    /// assert_eq!(c.vote_result(&v), VoteResult::Lost);
    /// # Ok(()) }
    /// ```
    #[must_use]
    #[inline]
    pub fn vote_result(&self, votes: &Votes) -> VoteResult {
        let i = mask_vote(self.incoming, votes, self.empty);
        let o = match self.outgoing {
            Some(o) => mask_vote(o, votes, self.empty),
            None => VoteResult::Won,
        };
        match (i, o) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// etcd's `Describe` over the voters of both halves (see
    /// [`MajorityConfig::describe`]).
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_quorum::ConfigError> {
    /// let c = quorate_quorum::JointConfig::new([1], [2])?;
    /// assert_eq!(c.describe(&[13, 100]), "      idx\n>      13    (id=1)\nx>    100    (id=2)\n");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn describe(&self, acked: &[u64]) -> String {
        describe(&self.ids, acked)
    }

    pub(crate) fn is_quorum_set(&self, set: NodeSet) -> bool {
        mask_is_quorum(self.incoming, set, self.empty)
            && self
                .outgoing
                .is_none_or(|o| mask_is_quorum(o, set, self.empty))
    }
}

/// etcd's `Describe` table for voters `ids` (slot order) with `acked[slot]`
/// (`0` or missing = unknown, printed `?`).
fn describe(ids: &[u64], acked: &[u64]) -> String {
    use core::fmt::Write as _;
    let n = ids.len();
    if n == 0 {
        return String::from("<empty majority quorum>");
    }
    // (id, index, bar), sorted by index then id; the i-th smallest index gets
    // a bar of length i, and equal indexes share the bar of the first.
    let mut rows: Vec<(u64, u64, usize)> = ids
        .iter()
        .enumerate()
        .map(|(slot, &id)| (id, acked.get(slot).copied().unwrap_or(0), 0))
        .collect();
    rows.sort_unstable_by_key(|&(id, idx, _)| (idx, id));
    let mut prev: Option<(u64, usize)> = None;
    for (i, row) in rows.iter_mut().enumerate() {
        row.2 = match prev {
            Some((idx, bar)) if idx == row.1 => bar,
            _ => i,
        };
        prev = Some((row.1, row.2));
    }
    rows.sort_unstable_by_key(|&(id, _, _)| id);
    let mut out = String::with_capacity((n + 24) * (n + 1));
    out.push_str(&" ".repeat(n));
    out.push_str("    idx\n");
    for (id, idx, bar) in rows {
        if idx == 0 {
            out.push('?');
            out.push_str(&" ".repeat(n));
        } else {
            out.push_str(&"x".repeat(bar));
            out.push('>');
            out.push_str(&" ".repeat(n.saturating_sub(bar)));
        }
        // Writing to a String cannot fail.
        let _ = writeln!(out, " {idx:>5}    (id={id})");
    }
    out
}

/// Formats a log index as etcd's `Index.String` does: `u64::MAX` (what an
/// empty configuration commits, "everything") prints as `∞`, any other
/// index as its number.
///
/// ```
/// use quorate_quorum::{IndexDisplay, MajorityConfig};
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// assert_eq!(IndexDisplay(42).to_string(), "42");
/// let empty = MajorityConfig::new([])?;
/// assert_eq!(IndexDisplay(empty.committed_index(&[])).to_string(), "∞");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct IndexDisplay(pub u64);

impl core::fmt::Display for IndexDisplay {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == u64::MAX {
            f.pad("∞")
        } else {
            core::fmt::Display::fmt(&self.0, f)
        }
    }
}

fn write_ids(
    f: &mut core::fmt::Formatter<'_>,
    ids: impl Iterator<Item = u64>,
) -> core::fmt::Result {
    let mut sorted = [0u64; MAX_NODES];
    let mut n = 0;
    for id in ids.take(MAX_NODES) {
        sorted[n] = id;
        n += 1;
    }
    let sorted = &mut sorted[..n];
    sorted.sort_unstable();
    f.write_str("(")?;
    for (i, id) in sorted.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{id}")?;
    }
    f.write_str(")")
}

/// etcd's notation: the sorted voter ids in parentheses, `(1 2 3)`.
///
/// ```
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// assert_eq!(quorate_quorum::MajorityConfig::new([3, 1, 2])?.to_string(), "(1 2 3)");
/// # Ok(()) }
/// ```
impl core::fmt::Display for MajorityConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_ids(f, self.ids.iter().copied())
    }
}

/// etcd's notation: `(1 2 3)&&(3 4 5)` while joint with a non-empty outgoing
/// half, otherwise just the incoming half.
///
/// ```
/// use quorate_quorum::JointConfig;
/// # fn main() -> Result<(), quorate_quorum::ConfigError> {
/// assert_eq!(JointConfig::new([3, 2, 1], [5, 4, 3])?.to_string(), "(1 2 3)&&(3 4 5)");
/// assert_eq!(JointConfig::new([2, 1], [])?.to_string(), "(1 2)");
/// # Ok(()) }
/// ```
impl core::fmt::Display for JointConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_ids(f, self.incoming_ids())?;
        if let Some(o) = self.outgoing.filter(|o| !o.is_empty()) {
            f.write_str("&&")?;
            write_ids(f, o.iter().filter_map(|s| self.ids.get(s).copied()))?;
        }
        Ok(())
    }
}
