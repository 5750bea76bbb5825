//! Version vectors.

use core::cmp::Ordering;

use bytes::{Buf, BufMut};

use crate::codec::{
    Decode, DecodeError, Encode, get_len, get_varint, get_version, put_varint, varint_len,
};
use crate::dot::{Actor, CounterOverflow, Dot};
use crate::inline::InlineVec;

/// Number of actors a [`VersionVector`] stores without a heap allocation.
pub const INLINE_ACTORS: usize = 8;

const VV_VERSION: u8 = 1;

/// How two causal histories relate.
///
/// ```
/// use quorate_clocks::{Causality, VersionVector};
/// let a: VersionVector<u8> = [(1, 2)].into_iter().collect();
/// let b: VersionVector<u8> = [(1, 1), (2, 1)].into_iter().collect();
/// assert_eq!(a.compare(&b), Causality::Concurrent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Causality {
    /// `self` happened before `other` (`other` has seen everything `self` has, and more).
    Before,
    /// `self` happened after `other`.
    After,
    /// Identical histories.
    Equal,
    /// Neither has seen all of the other: a conflict to resolve.
    Concurrent,
}

impl Causality {
    /// The same relation seen from the other side (`Before` <-> `After`).
    ///
    /// ```
    /// use quorate_clocks::Causality;
    /// assert_eq!(Causality::Before.reverse(), Causality::After);
    /// assert_eq!(Causality::Concurrent.reverse(), Causality::Concurrent);
    /// ```
    pub const fn reverse(self) -> Self {
        match self {
            Self::Before => Self::After,
            Self::After => Self::Before,
            other => other,
        }
    }

    /// The relation as a partial order: `None` for concurrent.
    ///
    /// ```
    /// use core::cmp::Ordering;
    /// use quorate_clocks::Causality;
    /// assert_eq!(Causality::Before.partial_ordering(), Some(Ordering::Less));
    /// assert_eq!(Causality::Concurrent.partial_ordering(), None);
    /// ```
    pub const fn partial_ordering(self) -> Option<Ordering> {
        match self {
            Self::Before => Some(Ordering::Less),
            Self::After => Some(Ordering::Greater),
            Self::Equal => Some(Ordering::Equal),
            Self::Concurrent => None,
        }
    }
}

/// A version vector: for each actor, how many of its events have been seen.
///
/// Use it to decide whether one replica's state has seen another's (`descends`; `dominates`
/// is the strict form, as in Riak), whether two
/// updates conflict (`compare` returns [`Causality::Concurrent`]), and to combine histories
/// (`merge`). An absent actor counts as 0 and zero entries are never stored, so `{a: 0}` and
/// `{}` are the same vector (unlike the `vclock` crate, where they compare differently).
///
/// Entries are kept sorted by actor in one contiguous array: comparisons and merges are a single
/// linear walk over both vectors. Up to [`INLINE_ACTORS`] (8) entries live inline in the value
/// itself, so small vectors never touch the allocator.
///
/// `PartialOrd` implements the causal partial order (`None` for concurrent); there is
/// deliberately no `Ord`.
///
/// ```
/// use quorate_clocks::{Causality, VersionVector};
/// let mut a = VersionVector::new();
/// a.increment("a")?;
/// let mut b = a.clone();
/// b.increment("b")?;
/// assert!(a < b);
/// a.increment("a")?;
/// assert_eq!(a.compare(&b), Causality::Concurrent);
/// a.merge(&b);
/// assert!(a.dominates(&b));
/// assert_eq!(a.get(&"a"), 2);
/// # Ok::<(), quorate_clocks::CounterOverflow>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VersionVector<A> {
    entries: InlineVec<(A, u64), INLINE_ACTORS>,
}

impl<A> Default for VersionVector<A> {
    fn default() -> Self {
        Self {
            entries: InlineVec::new(),
        }
    }
}

impl<A: core::fmt::Debug> core::fmt::Debug for VersionVector<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(self.entries.as_slice().iter().map(|(a, c)| (a, c)))
            .finish()
    }
}

impl<A: Actor> VersionVector<A> {
    /// An empty vector (every actor at 0). Does not allocate.
    ///
    /// ```
    /// let vv = quorate_clocks::VersionVector::<u64>::new();
    /// assert!(vv.is_empty());
    /// ```
    pub const fn new() -> Self {
        Self {
            entries: InlineVec::new(),
        }
    }

    #[inline]
    fn find(&self, actor: &A) -> Result<usize, usize> {
        self.entries
            .as_slice()
            .binary_search_by(|(a, _)| a.cmp(actor))
    }

    /// The counter of `actor`: 0 when absent.
    ///
    /// ```
    /// let vv: quorate_clocks::VersionVector<u8> = [(1, 5)].into_iter().collect();
    /// assert_eq!(vv.get(&1), 5);
    /// assert_eq!(vv.get(&2), 0);
    /// ```
    pub fn get(&self, actor: &A) -> u64 {
        match self.find(actor) {
            Ok(i) => self.entries.as_slice().get(i).map_or(0, |e| e.1),
            Err(_) => 0,
        }
    }

    /// Records a new event of `actor` and returns its dot.
    ///
    /// ```
    /// use quorate_clocks::{Dot, VersionVector};
    /// let mut vv = VersionVector::new();
    /// assert_eq!(vv.increment(7u32)?, Dot::new(7, 1));
    /// assert_eq!(vv.increment(7u32)?, Dot::new(7, 2));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when the actor's counter is already `u64::MAX`; the vector is
    /// unchanged.
    pub fn increment(&mut self, actor: A) -> Result<Dot<A>, CounterOverflow> {
        match self.find(&actor) {
            Ok(i) => {
                let entry = self
                    .entries
                    .as_mut_slice()
                    .get_mut(i)
                    .ok_or(CounterOverflow)?;
                entry.1 = entry.1.checked_add(1).ok_or(CounterOverflow)?;
                Ok(Dot::new(actor, entry.1))
            }
            Err(i) => {
                self.entries.insert(i, (actor.clone(), 1));
                Ok(Dot::new(actor, 1))
            }
        }
    }

    /// Records that the event `dot` (and so every earlier event of its actor) has been seen.
    ///
    /// ```
    /// use quorate_clocks::{Dot, VersionVector};
    /// let mut vv = VersionVector::new();
    /// vv.observe(&Dot::new('x', 4));
    /// vv.observe(&Dot::new('x', 2));
    /// assert_eq!(vv.get(&'x'), 4);
    /// ```
    pub fn observe(&mut self, dot: &Dot<A>) {
        if dot.counter == 0 {
            return;
        }
        match self.find(&dot.actor) {
            Ok(i) => {
                if let Some(entry) = self.entries.as_mut_slice().get_mut(i) {
                    entry.1 = entry.1.max(dot.counter);
                }
            }
            Err(i) => self.entries.insert(i, (dot.actor.clone(), dot.counter)),
        }
    }

    /// Sets `actor`'s counter; 0 removes the entry.
    ///
    /// ```
    /// let mut vv = quorate_clocks::VersionVector::new();
    /// vv.set("a", 3);
    /// assert_eq!(vv.len(), 1);
    /// vv.set("a", 0);
    /// assert!(vv.is_empty());
    /// ```
    pub fn set(&mut self, actor: A, counter: u64) {
        match self.find(&actor) {
            Ok(i) if counter == 0 => drop(self.entries.remove(i)),
            Ok(i) => {
                if let Some(entry) = self.entries.as_mut_slice().get_mut(i) {
                    entry.1 = counter;
                }
            }
            Err(_) if counter == 0 => {}
            Err(i) => self.entries.insert(i, (actor, counter)),
        }
    }

    /// Whether the event `dot` has been seen (`dot.counter <= self.get(&dot.actor)`).
    ///
    /// ```
    /// use quorate_clocks::{Dot, VersionVector};
    /// let vv: VersionVector<u8> = [(1, 3)].into_iter().collect();
    /// assert!(vv.contains(&Dot::new(1, 3)));
    /// assert!(!vv.contains(&Dot::new(1, 4)));
    /// ```
    pub fn contains(&self, dot: &Dot<A>) -> bool {
        dot.counter <= self.get(&dot.actor)
    }

    /// Pointwise maximum with `other`, in place.
    ///
    /// Allocates only when the result has more than [`INLINE_ACTORS`] entries and `other`
    /// brings actors `self` lacks.
    ///
    /// ```
    /// use quorate_clocks::VersionVector;
    /// let mut a: VersionVector<u8> = [(1, 3), (2, 1)].into_iter().collect();
    /// let b: VersionVector<u8> = [(2, 5), (3, 1)].into_iter().collect();
    /// a.merge(&b);
    /// assert_eq!(a.iter().collect::<Vec<_>>(), [(&1, 3), (&2, 5), (&3, 1)]);
    /// ```
    pub fn merge(&mut self, other: &Self) {
        let theirs = other.entries.as_slice();
        if theirs.is_empty() {
            return;
        }
        // First pass: raise shared entries in place, count actors only `other` has.
        let mut missing = 0usize;
        {
            let ours = self.entries.as_mut_slice();
            let mut i = 0;
            for (actor, counter) in theirs {
                loop {
                    match ours.get_mut(i) {
                        Some(e) => match e.0.cmp(actor) {
                            Ordering::Less => i += 1,
                            Ordering::Equal => {
                                if e.1 < *counter {
                                    e.1 = *counter;
                                }
                                i += 1;
                                break;
                            }
                            Ordering::Greater => {
                                missing += 1;
                                break;
                            }
                        },
                        None => {
                            missing += 1;
                            break;
                        }
                    }
                }
            }
        }
        if missing == 0 {
            return;
        }
        // Second pass: a sorted merge into a fresh buffer of the right size.
        let ours = self.entries.as_slice();
        let mut out = InlineVec::with_capacity(ours.len() + missing);
        let (mut i, mut j) = (0, 0);
        loop {
            match (ours.get(i), theirs.get(j)) {
                (Some(a), Some(b)) => match a.0.cmp(&b.0) {
                    Ordering::Less => {
                        out.push(a.clone());
                        i += 1;
                    }
                    Ordering::Equal => {
                        out.push(a.clone());
                        i += 1;
                        j += 1;
                    }
                    Ordering::Greater => {
                        out.push(b.clone());
                        j += 1;
                    }
                },
                (Some(a), None) => {
                    out.push(a.clone());
                    i += 1;
                }
                (None, Some(b)) => {
                    out.push(b.clone());
                    j += 1;
                }
                (None, None) => break,
            }
        }
        self.entries = out;
    }

    /// Removes `actor`'s entry (for example when the actor is retired) and returns its old
    /// counter (0 when absent).
    ///
    /// ```
    /// let mut vv: quorate_clocks::VersionVector<u8> = [(1, 3)].into_iter().collect();
    /// assert_eq!(vv.remove(&1), 3);
    /// assert_eq!(vv.remove(&1), 0);
    /// ```
    pub fn remove(&mut self, actor: &A) -> u64 {
        match self.find(actor) {
            Ok(i) => self.entries.remove(i).map_or(0, |e| e.1),
            Err(_) => 0,
        }
    }

    /// Number of actors with a non-zero counter.
    ///
    /// ```
    /// let vv: quorate_clocks::VersionVector<u8> = [(1, 3), (2, 0)].into_iter().collect();
    /// assert_eq!(vv.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether every counter is 0.
    ///
    /// ```
    /// assert!(quorate_clocks::VersionVector::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// The `(actor, counter)` entries in ascending actor order.
    ///
    /// ```
    /// let vv: quorate_clocks::VersionVector<u8> = [(2, 1), (1, 7)].into_iter().collect();
    /// assert_eq!(vv.iter().collect::<Vec<_>>(), [(&1, 7), (&2, 1)]);
    /// ```
    pub fn iter(&self) -> Iter<'_, A> {
        Iter {
            inner: self.entries.as_slice().iter(),
        }
    }

    /// The entries as dots, in ascending actor order.
    ///
    /// ```
    /// use quorate_clocks::{Dot, VersionVector};
    /// let vv: VersionVector<u8> = [(1, 7)].into_iter().collect();
    /// assert_eq!(vv.dots().collect::<Vec<_>>(), [Dot::new(1, 7)]);
    /// ```
    pub fn dots(&self) -> impl Iterator<Item = Dot<A>> + '_ {
        self.entries
            .as_slice()
            .iter()
            .map(|(a, c)| Dot::new(a.clone(), *c))
    }

    /// How `self` relates causally to `other`, in one linear pass.
    ///
    /// ```
    /// use quorate_clocks::{Causality, VersionVector};
    /// let a: VersionVector<u8> = [(1, 1)].into_iter().collect();
    /// let b: VersionVector<u8> = [(1, 2)].into_iter().collect();
    /// assert_eq!(a.compare(&b), Causality::Before);
    /// assert_eq!(b.compare(&a), Causality::After);
    /// assert_eq!(a.compare(&a), Causality::Equal);
    /// ```
    pub fn compare(&self, other: &Self) -> Causality {
        let a = self.entries.as_slice();
        let b = other.entries.as_slice();
        // `ahead`: self has an event other lacks; `behind`: the reverse.
        let (mut ahead, mut behind) = (false, false);
        let (mut i, mut j) = (0, 0);
        while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
            match x.0.cmp(&y.0) {
                Ordering::Less => {
                    ahead = true;
                    i += 1;
                }
                Ordering::Greater => {
                    behind = true;
                    j += 1;
                }
                Ordering::Equal => {
                    match x.1.cmp(&y.1) {
                        Ordering::Less => behind = true,
                        Ordering::Greater => ahead = true,
                        Ordering::Equal => {}
                    }
                    i += 1;
                    j += 1;
                }
            }
            if ahead && behind {
                return Causality::Concurrent;
            }
        }
        ahead |= i < a.len();
        behind |= j < b.len();
        match (ahead, behind) {
            (false, false) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (true, true) => Causality::Concurrent,
        }
    }

    /// Whether `self` has seen everything `other` has: pointwise `>=`, so a vector descends
    /// from itself (Riak's `vclock:descends/2`, non-strict).
    ///
    /// ```
    /// use quorate_clocks::VersionVector;
    /// let a: VersionVector<u8> = [(1, 2), (2, 1)].into_iter().collect();
    /// let b: VersionVector<u8> = [(1, 2)].into_iter().collect();
    /// assert!(a.descends(&b) && a.descends(&a) && !b.descends(&a));
    /// assert!(a.descends(&VersionVector::new()));
    /// ```
    pub fn descends(&self, other: &Self) -> bool {
        let a = self.entries.as_slice();
        let b = other.entries.as_slice();
        if b.len() > a.len() {
            return false;
        }
        let mut i = 0;
        for (actor, counter) in b {
            loop {
                match a.get(i) {
                    None => return false,
                    Some(x) => match x.0.cmp(actor) {
                        Ordering::Less => i += 1,
                        Ordering::Equal => {
                            if x.1 < *counter {
                                return false;
                            }
                            i += 1;
                            break;
                        }
                        Ordering::Greater => return false,
                    },
                }
            }
        }
        true
    }

    /// Whether `self` strictly dominates `other`: it descends from `other` and `other` does
    /// not descend from it, so an equal vector does not dominate (Riak's
    /// `vclock:dominates/2`, `descends(A, B) andalso not descends(B, A)`). The same as
    /// `self.compare(other) == Causality::After` or `self > other`, in one linear pass.
    ///
    /// ```
    /// use quorate_clocks::VersionVector;
    /// let a: VersionVector<u8> = [(1, 2), (2, 1)].into_iter().collect();
    /// let b: VersionVector<u8> = [(1, 2)].into_iter().collect();
    /// assert!(a.dominates(&b) && !b.dominates(&a));
    /// assert!(!a.dominates(&a)); // strict: equal vectors do not dominate
    /// ```
    pub fn dominates(&self, other: &Self) -> bool {
        // A strictly larger vector has more entries or the same number with one larger
        // counter, so a shorter `self` can never dominate.
        other.entries.len() <= self.entries.len() && self.compare(other) == Causality::After
    }

    /// Pointwise minimum: the history both have seen.
    ///
    /// ```
    /// use quorate_clocks::VersionVector;
    /// let a: VersionVector<u8> = [(1, 2), (2, 5)].into_iter().collect();
    /// let b: VersionVector<u8> = [(2, 3), (3, 1)].into_iter().collect();
    /// assert_eq!(a.glb(&b), [(2, 3)].into_iter().collect());
    /// ```
    pub fn glb(&self, other: &Self) -> Self {
        let a = self.entries.as_slice();
        let b = other.entries.as_slice();
        let mut out = InlineVec::with_capacity(a.len().min(b.len()));
        let (mut i, mut j) = (0, 0);
        while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
            match x.0.cmp(&y.0) {
                Ordering::Less => i += 1,
                Ordering::Greater => j += 1,
                Ordering::Equal => {
                    out.push((x.0.clone(), x.1.min(y.1)));
                    i += 1;
                    j += 1;
                }
            }
        }
        Self { entries: out }
    }

    /// Keeps only the entries for which `keep` returns true (used by pruning).
    ///
    /// ```
    /// let mut vv: quorate_clocks::VersionVector<u8> = [(1, 2), (2, 5)].into_iter().collect();
    /// vv.retain(|actor, _| *actor != 1);
    /// assert_eq!(vv.get(&1), 0);
    /// ```
    pub fn retain(&mut self, mut keep: impl FnMut(&A, u64) -> bool) {
        self.entries.retain(|(a, c)| keep(a, *c));
    }

    /// Removes every entry.
    ///
    /// ```
    /// let mut vv: quorate_clocks::VersionVector<u8> = [(1, 2)].into_iter().collect();
    /// vv.clear();
    /// assert!(vv.is_empty());
    /// ```
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Whether the entries currently live on the heap (more than [`INLINE_ACTORS`] were ever
    /// needed at once).
    ///
    /// ```
    /// let vv: quorate_clocks::VersionVector<u32> = (1..=8).map(|a| (a, 1)).collect();
    /// assert!(!vv.spilled());
    /// ```
    pub fn spilled(&self) -> bool {
        self.entries.is_heap()
    }

    /// Builds from entries already sorted strictly by actor with non-zero counters.
    fn from_sorted_vec(v: Vec<(A, u64)>) -> Self {
        Self {
            entries: InlineVec::from_vec(v),
        }
    }
}

impl<A: Actor> PartialOrd for VersionVector<A> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.compare(other).partial_ordering()
    }
}

impl<A: Actor> FromIterator<(A, u64)> for VersionVector<A> {
    /// Collects entries, keeping the maximum counter per actor and dropping zeros.
    ///
    /// The first [`INLINE_ACTORS`] distinct actors are inserted in place (no allocation);
    /// anything beyond is sorted in bulk and merged.
    fn from_iter<I: IntoIterator<Item = (A, u64)>>(iter: I) -> Self {
        let mut out = Self::new();
        let mut iter = iter.into_iter();
        for (actor, counter) in iter.by_ref() {
            out.observe(&Dot::new(actor, counter));
            if out.len() == INLINE_ACTORS {
                break;
            }
        }
        let mut rest: Vec<(A, u64)> = iter.filter(|e| e.1 != 0).collect();
        if !rest.is_empty() {
            rest.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
            rest.dedup_by(|later, first| later.0 == first.0);
            out.merge(&Self::from_sorted_vec(rest));
        }
        out
    }
}

impl<A: Actor> FromIterator<Dot<A>> for VersionVector<A> {
    /// Collects dots, keeping the maximum counter per actor.
    fn from_iter<I: IntoIterator<Item = Dot<A>>>(iter: I) -> Self {
        iter.into_iter().map(|d| (d.actor, d.counter)).collect()
    }
}

impl<A: Actor> Extend<(A, u64)> for VersionVector<A> {
    /// Raises each actor to at least the given counter (like [`VersionVector::observe`]).
    fn extend<I: IntoIterator<Item = (A, u64)>>(&mut self, iter: I) {
        for (actor, counter) in iter {
            self.observe(&Dot::new(actor, counter));
        }
    }
}

/// Iterator over a [`VersionVector`]'s `(actor, counter)` entries in ascending actor order.
///
/// ```
/// let vv: quorate_clocks::VersionVector<u8> = [(1, 1)].into_iter().collect();
/// let it: quorate_clocks::Iter<'_, u8> = vv.iter();
/// assert_eq!(it.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Iter<'a, A> {
    inner: core::slice::Iter<'a, (A, u64)>,
}

impl<'a, A> Iterator for Iter<'a, A> {
    type Item = (&'a A, u64);
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(a, c)| (a, *c))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<A> ExactSizeIterator for Iter<'_, A> {}
impl<A> DoubleEndedIterator for Iter<'_, A> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(a, c)| (a, *c))
    }
}

impl<'a, A: Actor> IntoIterator for &'a VersionVector<A> {
    type Item = (&'a A, u64);
    type IntoIter = Iter<'a, A>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Checks the decoded/deserialized entries: strictly ascending actors, non-zero counters.
pub(crate) fn validate_sorted<A: Ord>(entries: &[(A, u64)]) -> Result<(), &'static str> {
    if entries.iter().any(|e| e.1 == 0) {
        return Err("version vector entry with counter 0");
    }
    if entries
        .windows(2)
        .any(|w| matches!(w, [x, y] if x.0 >= y.0))
    {
        return Err("version vector actors not strictly ascending");
    }
    Ok(())
}

impl<A: Actor + Encode> VersionVector<A> {
    /// Encodes the entries without the version byte (used inside larger messages).
    pub(crate) fn encode_body<B: BufMut>(&self, buf: &mut B) {
        put_varint(buf, self.len() as u64);
        for (a, c) in self.entries.as_slice() {
            a.encode(buf);
            put_varint(buf, *c);
        }
    }

    pub(crate) fn body_len(&self) -> usize {
        varint_len(self.len() as u64)
            + self
                .entries
                .as_slice()
                .iter()
                .map(|(a, c)| a.encoded_len() + varint_len(*c))
                .sum::<usize>()
    }
}

impl<A: Actor + Decode> VersionVector<A> {
    pub(crate) fn decode_body<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        let n = get_len(buf, 2)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let a = A::decode(buf)?;
            let c = get_varint(buf)?;
            v.push((a, c));
        }
        validate_sorted(&v).map_err(DecodeError::Invalid)?;
        Ok(Self::from_sorted_vec(v))
    }
}

/// Format: version byte `1`, varint entry count, then `actor, varint counter` per entry in
/// strictly ascending actor order with non-zero counters (anything else is rejected).
impl<A: Actor + Encode> Encode for VersionVector<A> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(VV_VERSION);
        self.encode_body(buf);
    }
    fn encoded_len(&self) -> usize {
        1 + self.body_len()
    }
}

impl<A: Actor + Decode> Decode for VersionVector<A> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        get_version(buf, VV_VERSION)?;
        Self::decode_body(buf)
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::{Actor, VersionVector, validate_sorted};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serialized as a sequence of `(actor, counter)` pairs in ascending actor order.
    impl<A: Actor + Serialize> Serialize for VersionVector<A> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.entries.as_slice())
        }
    }

    /// Rejects unsorted, duplicate or zero entries.
    impl<'de, A: Actor + Deserialize<'de>> Deserialize<'de> for VersionVector<A> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let v: Vec<(A, u64)> = Vec::deserialize(d)?;
            validate_sorted(&v).map_err(serde::de::Error::custom)?;
            Ok(Self::from_sorted_vec(v))
        }
    }
}
