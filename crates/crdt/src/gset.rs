//! Grow-only and two-phase sets.

use std::collections::BTreeSet;

use bytes::Buf;
use quorate_clocks::{Actor, Decode, DecodeError, Encode, get_len};

use crate::codec::{
    Canonical, Digest, Sink, digest_of, impl_encode_via_canonical, impl_serde_via_codec, put_len,
    read_header, tag, write_header,
};
use crate::dotstore::Key;
use crate::error::{ValidationError, name};
use crate::traits::{Crdt, impl_full_state_delta};

/// A grow-only set: union is the join.
///
/// The simplest CRDT, for facts that are never retracted (observed event ids, seen message ids).
/// It has no causal metadata, so its delta is the added element and `delta_since` is the whole
/// set. Metadata: none beyond the elements.
///
/// ```
/// use quorate_crdt::{Crdt, GSet};
/// let mut a = GSet::new();
/// a.insert("x");
/// let mut b = GSet::new();
/// b.insert("y");
/// a.join(&b);
/// assert_eq!(a.len(), 2);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GSet<T> {
    set: BTreeSet<T>,
}

impl<T> Default for GSet<T> {
    fn default() -> Self {
        Self {
            set: BTreeSet::new(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for GSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(&self.set).finish()
    }
}

impl<T: Ord + Clone> GSet<T> {
    /// An empty set.
    ///
    /// ```
    /// assert!(quorate_crdt::GSet::<u8>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `x`; returns the delta (the one-element set).
    ///
    /// ```
    /// let mut s = quorate_crdt::GSet::new();
    /// let d = s.insert(3);
    /// assert!(d.contains(&3) && s.contains(&3));
    /// ```
    pub fn insert(&mut self, x: T) -> Self {
        self.set.insert(x.clone());
        let mut d = Self::new();
        d.set.insert(x);
        d
    }

    /// True when `x` is in the set.
    ///
    /// ```
    /// assert!(!quorate_crdt::GSet::<u8>::new().contains(&1));
    /// ```
    pub fn contains(&self, x: &T) -> bool {
        self.set.contains(x)
    }

    /// Number of elements.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::GSet::<u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// True when empty.
    ///
    /// ```
    /// assert!(quorate_crdt::GSet::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The elements, ascending.
    ///
    /// ```
    /// let s: quorate_crdt::GSet<u8> = [2, 1].into_iter().collect();
    /// assert_eq!(s.iter().copied().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.set.iter()
    }

    /// Digest of the canonical encoding.
    ///
    /// ```
    /// let s: quorate_crdt::GSet<u8> = [1].into_iter().collect();
    /// assert_eq!(s.digest(), s.clone().digest());
    /// ```
    pub fn digest(&self) -> Digest
    where
        T: Key + Encode + Decode,
    {
        digest_of(self)
    }
}

impl<T: Ord + Clone> FromIterator<T> for GSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self {
            set: iter.into_iter().collect(),
        }
    }
}

impl<T: Ord + Clone> Extend<T> for GSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.set.extend(iter);
    }
}

impl<T: Ord + Clone + std::fmt::Debug> Crdt for GSet<T> {
    fn join(&mut self, other: &Self) {
        self.set.extend(other.set.iter().cloned());
    }
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

impl_full_state_delta!([T: Ord + Clone + std::fmt::Debug + Send + Sync, A: Actor] GSet<T>);

fn write_set<T: Key + Encode, S: Sink>(s: &mut S, set: &BTreeSet<T>) {
    put_len(s, set.len());
    for x in set {
        s.item(x);
    }
}

fn read_set<T: Key + Decode, B: Buf>(buf: &mut B) -> Result<BTreeSet<T>, DecodeError> {
    let n = get_len(buf, 1)?;
    let mut set = BTreeSet::new();
    let mut last: Option<T> = None;
    for _ in 0..n {
        let x = T::decode(buf)?;
        if last.as_ref().is_some_and(|p| *p >= x) {
            return Err(DecodeError::Invalid("set elements not strictly ascending"));
        }
        last = Some(x.clone());
        set.insert(x);
    }
    Ok(set)
}

impl<T: Key + Encode + Decode> Canonical for GSet<T> {
    fn write<S: Sink>(&self, s: &mut S) {
        write_header(s, tag::GSET);
        write_set(s, &self.set);
    }
}
impl_encode_via_canonical!([T: Key + Encode + Decode] GSet<T>);

impl<T: Key + Encode + Decode> Decode for GSet<T> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        read_header(buf, tag::GSET)?;
        Ok(Self {
            set: read_set(buf)?,
        })
    }
}
impl_serde_via_codec!([T: Key] GSet<T>);

/// A two-phase set: elements can be added and then removed once, for good.
///
/// A removed element keeps a tombstone forever and can never come back; use it for identifiers
/// that are retired permanently (revoked tokens, deleted account ids). Prefer
/// [`OrSet`](crate::OrSet) when elements may be re-added. The live elements and the tombstones are
/// stored disjointly.
///
/// Metadata: one tombstone per removed element, forever.
///
/// ```
/// use quorate_crdt::{Crdt, TwoPSet};
/// let mut a = TwoPSet::new();
/// a.insert(1);
/// let mut b = a.clone();
/// b.remove(1);
/// a.join(&b);
/// a.insert(1); // too late: removed for good
/// assert!(!a.contains(&1));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TwoPSet<T> {
    live: BTreeSet<T>,
    removed: BTreeSet<T>,
}

impl<T> Default for TwoPSet<T> {
    fn default() -> Self {
        Self {
            live: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for TwoPSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoPSet")
            .field("live", &self.live)
            .field("removed", &self.removed)
            .finish()
    }
}

impl<T: Ord + Clone> TwoPSet<T> {
    /// An empty set.
    ///
    /// ```
    /// assert!(quorate_crdt::TwoPSet::<u8>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `x` unless it was removed before; returns the delta.
    ///
    /// ```
    /// let mut s = quorate_crdt::TwoPSet::new();
    /// s.insert(1);
    /// assert!(s.contains(&1));
    /// ```
    pub fn insert(&mut self, x: T) -> Self {
        let mut d = Self::new();
        if !self.removed.contains(&x) {
            self.live.insert(x.clone());
            d.live.insert(x);
        }
        d
    }

    /// Removes `x` for good (a tombstone is kept even if `x` was never seen here, so a late add
    /// cannot resurrect it); returns the delta.
    ///
    /// ```
    /// let mut s = quorate_crdt::TwoPSet::new();
    /// s.insert(1);
    /// s.remove(1);
    /// assert!(s.is_empty());
    /// ```
    pub fn remove(&mut self, x: T) -> Self {
        self.live.remove(&x);
        self.removed.insert(x.clone());
        let mut d = Self::new();
        d.removed.insert(x);
        d
    }

    /// True when `x` is live.
    ///
    /// ```
    /// assert!(!quorate_crdt::TwoPSet::<u8>::new().contains(&1));
    /// ```
    pub fn contains(&self, x: &T) -> bool {
        self.live.contains(x)
    }

    /// Number of live elements.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::TwoPSet::<u8>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True when no element is live.
    ///
    /// ```
    /// assert!(quorate_crdt::TwoPSet::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The live elements, ascending.
    ///
    /// ```
    /// let mut s = quorate_crdt::TwoPSet::new();
    /// s.insert(2);
    /// assert_eq!(s.iter().copied().collect::<Vec<_>>(), [2]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.live.iter()
    }

    /// Number of tombstones.
    ///
    /// ```
    /// let mut s = quorate_crdt::TwoPSet::new();
    /// s.remove(2);
    /// assert_eq!(s.tombstones(), 1);
    /// ```
    pub fn tombstones(&self) -> usize {
        self.removed.len()
    }

    /// Digest of the canonical encoding.
    ///
    /// ```
    /// let s = quorate_crdt::TwoPSet::<u8>::new();
    /// assert_eq!(s.digest(), s.clone().digest());
    /// ```
    pub fn digest(&self) -> Digest
    where
        T: Key + Encode + Decode,
    {
        digest_of(self)
    }
}

impl<T: Ord + Clone + std::fmt::Debug> Crdt for TwoPSet<T> {
    fn join(&mut self, other: &Self) {
        for x in &other.removed {
            if !self.removed.contains(x) {
                self.live.remove(x);
                self.removed.insert(x.clone());
            }
        }
        for x in &other.live {
            if !self.removed.contains(x) && !self.live.contains(x) {
                self.live.insert(x.clone());
            }
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        // Linear: walk both sorted sets together.
        let mut r = self.removed.iter().peekable();
        for x in &self.live {
            while r.next_if(|y| *y < x).is_some() {}
            if r.peek().is_some_and(|y| *y == x) {
                return Err(ValidationError::LiveAndRemoved { element: name(x) });
            }
        }
        Ok(())
    }
}

impl_full_state_delta!([T: Ord + Clone + std::fmt::Debug + Send + Sync, A: Actor] TwoPSet<T>);

impl<T: Key + Encode + Decode> Canonical for TwoPSet<T> {
    fn write<S: Sink>(&self, s: &mut S) {
        write_header(s, tag::TWOPSET);
        write_set(s, &self.live);
        write_set(s, &self.removed);
    }
}
impl_encode_via_canonical!([T: Key + Encode + Decode] TwoPSet<T>);

impl<T: Key + Encode + Decode> Decode for TwoPSet<T> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        read_header(buf, tag::TWOPSET)?;
        let s = Self {
            live: read_set(buf)?,
            removed: read_set(buf)?,
        };
        s.validate()
            .map_err(|_| DecodeError::Invalid("element both live and removed"))?;
        Ok(s)
    }
}
impl_serde_via_codec!([T: Key] TwoPSet<T>);
