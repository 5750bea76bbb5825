//! Grow-only and positive-negative counters.

use bytes::Buf;
use quorate_clocks::{Actor, CounterOverflow, Decode, DecodeError, Encode, VersionVector, get_len};

use crate::causal::Causal;
use crate::codec::{
    Canonical, Digest, Sink, digest_of, impl_encode_via_canonical, impl_serde_via_codec, put_len,
    read_header, tag, write_header,
};
use crate::dotstore::DotFun;
use crate::error::{RetireError, ValidationError, name};
use crate::traits::{Crdt, DeltaCrdt};
use crate::wrap::Embed;

/// Per-actor counter entries (sorted, no zero entries), plus the retired actors.
///
/// `E` is `u64` for the G-counter and `(u64, u64)` for the PN-counter.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Entries<A, E> {
    entries: Vec<(A, E)>,
    /// Actors whose counts were folded into another entry; their entries are ignored.
    retired: Vec<A>,
}

impl<A, E> Default for Entries<A, E> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            retired: Vec::new(),
        }
    }
}

trait Entry: Copy + Eq + Default {
    fn join(self, o: Self) -> Self;
    fn is_zero(self) -> bool;
    fn version(self) -> u64;
}

impl Entry for u64 {
    #[inline]
    fn join(self, o: Self) -> Self {
        Ord::max(self, o)
    }
    fn is_zero(self) -> bool {
        self == 0
    }
    fn version(self) -> u64 {
        self
    }
}

impl Entry for (u64, u64) {
    #[inline]
    fn join(self, o: Self) -> Self {
        (Ord::max(self.0, o.0), Ord::max(self.1, o.1))
    }
    fn is_zero(self) -> bool {
        self == (0, 0)
    }
    fn version(self) -> u64 {
        self.0.saturating_add(self.1)
    }
}

impl<A: Actor, E: Entry> Entries<A, E> {
    fn get(&self, a: &A) -> E {
        match self.entries.binary_search_by(|(x, _)| x.cmp(a)) {
            Ok(i) => self.entries.get(i).map_or_else(E::default, |e| e.1),
            Err(_) => E::default(),
        }
    }

    fn is_retired(&self, a: &A) -> bool {
        !self.retired.is_empty() && self.retired.binary_search(a).is_ok()
    }

    /// Sets `a`'s entry (used by mutators, which only ever grow it).
    fn put(&mut self, a: A, e: E) {
        match self.entries.binary_search_by(|(x, _)| x.cmp(&a)) {
            Ok(i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.1 = e;
                }
            }
            Err(i) => self.entries.insert(i, (a, e)),
        }
    }

    fn join(&mut self, other: &Self) {
        if !other.retired.is_empty() {
            let mut r = self.retired.clone();
            r.extend(other.retired.iter().cloned());
            r.sort();
            r.dedup();
            if r != self.retired {
                self.retired = r;
                let retired = &self.retired;
                self.entries
                    .retain(|(a, _)| retired.binary_search(a).is_err());
            }
        }
        let small = other.entries.len() <= 4 || other.entries.len() * 8 < self.entries.len();
        if small {
            for (a, e) in &other.entries {
                if self.is_retired(a) {
                    continue;
                }
                match self.entries.binary_search_by(|(x, _)| x.cmp(a)) {
                    Ok(i) => {
                        if let Some(slot) = self.entries.get_mut(i) {
                            slot.1 = slot.1.join(*e);
                        }
                    }
                    Err(i) => self.entries.insert(i, (a.clone(), *e)),
                }
            }
            return;
        }
        // Linear merge. In place when every actor of `other` is already present (the steady
        // state of a long-lived cluster), otherwise into a new vector.
        let mut i = 0;
        let mut in_place = true;
        for (a, e) in &other.entries {
            while self.entries.get(i).is_some_and(|(x, _)| x < a) {
                i += 1;
            }
            match self.entries.get_mut(i) {
                Some((x, mine)) if x == a => {
                    *mine = mine.join(*e);
                    i += 1;
                }
                _ => {
                    if !self.is_retired(a) {
                        in_place = false;
                        break;
                    }
                }
            }
        }
        if in_place {
            return;
        }
        let mine = std::mem::take(&mut self.entries);
        let mut out = Vec::with_capacity(mine.len() + other.entries.len());
        let mut it = other.entries.iter().peekable();
        for (a, e) in mine {
            while let Some((oa, oe)) = it.next_if(|(oa, _)| *oa < a) {
                if !self.is_retired(oa) {
                    out.push((oa.clone(), *oe));
                }
            }
            if let Some((_, oe)) = it.next_if(|(oa, _)| *oa == a) {
                out.push((a, e.join(*oe)));
            } else {
                out.push((a, e));
            }
        }
        for (oa, oe) in it {
            if !self.is_retired(oa) {
                out.push((oa.clone(), *oe));
            }
        }
        self.entries = out;
    }

    fn validate(&self) -> Result<(), ValidationError> {
        if let Some(w) = self.entries.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(ValidationError::DuplicateActor {
                actor: name(&w[1].0),
            });
        }
        if let Some(w) = self.retired.windows(2).find(|w| w[0] >= w[1]) {
            return Err(ValidationError::DuplicateActor { actor: name(&w[1]) });
        }
        for (a, e) in &self.entries {
            if e.is_zero() {
                return Err(ValidationError::ZeroCounter { actor: name(a) });
            }
            if self.is_retired(a) {
                return Err(ValidationError::RetiredActor { actor: name(a) });
            }
        }
        Ok(())
    }

    fn summary(&self) -> VersionVector<A> {
        self.entries
            .iter()
            .map(|(a, e)| (a.clone(), e.version()))
            .collect()
    }

    fn since(&self, seen: &VersionVector<A>) -> Self {
        Self {
            entries: self
                .entries
                .iter()
                .filter(|(a, e)| {
                    let v = e.version();
                    v == u64::MAX || v > seen.get(a)
                })
                .cloned()
                .collect(),
            retired: self.retired.clone(),
        }
    }

    fn retire(
        &mut self,
        departed: &A,
        into: &A,
        fold: impl FnOnce(E, E) -> Option<E>,
    ) -> Result<(), RetireError> {
        if departed == into {
            return Err(RetireError::SameActor);
        }
        let gone = self.get(departed);
        let folded = fold(self.get(into), gone).ok_or(RetireError::Overflow)?;
        if !folded.is_zero() {
            self.put(into.clone(), folded);
        }
        self.entries.retain(|(a, _)| a != departed);
        if let Err(i) = self.retired.binary_search(departed) {
            self.retired.insert(i, departed.clone());
        }
        Ok(())
    }

    fn write<S: Sink>(&self, s: &mut S, put: impl Fn(&mut S, E))
    where
        A: Encode,
    {
        put_len(s, self.retired.len());
        for a in &self.retired {
            s.item(a);
        }
        put_len(s, self.entries.len());
        for (a, e) in &self.entries {
            s.item(a);
            put(s, *e);
        }
    }

    fn read<B: Buf>(
        buf: &mut B,
        get: impl Fn(&mut B) -> Result<E, DecodeError>,
    ) -> Result<Self, DecodeError>
    where
        A: Decode,
    {
        let n = get_len(buf, 1)?;
        let mut retired: Vec<A> = Vec::with_capacity(n);
        for _ in 0..n {
            retired.push(A::decode(buf)?);
        }
        let m = get_len(buf, 2)?;
        let mut entries: Vec<(A, E)> = Vec::with_capacity(m);
        for _ in 0..m {
            let a = A::decode(buf)?;
            let e = get(buf)?;
            entries.push((a, e));
        }
        let out = Self { entries, retired };
        out.validate()
            .map_err(|_| DecodeError::Invalid("counter violates an invariant"))?;
        Ok(out)
    }
}

/// `Crdt` and `DeltaCrdt` for a counter whose whole state is its per-actor `Entries` in field
/// `e`: every delta is itself a counter, and every lattice operation is the entries' join.
macro_rules! impl_counter_lattice {
    ($name:ident) => {
        impl<A: Actor> Crdt for $name<A> {
            fn join(&mut self, other: &Self) {
                self.e.join(&other.e);
            }
            fn validate(&self) -> Result<(), ValidationError> {
                self.e.validate()
            }
        }

        impl<A: Actor> DeltaCrdt<A> for $name<A> {
            type Delta = Self;
            fn join_delta(&mut self, delta: &Self) {
                self.e.join(&delta.e);
            }
            fn validate_delta(&self, delta: &Self) -> Result<(), ValidationError> {
                delta.validate()
            }
            fn merge_delta(group: &mut Self, delta: &Self) {
                group.e.join(&delta.e);
            }
            fn summary(&self) -> VersionVector<A> {
                self.e.summary()
            }
            fn delta_since(&self, seen: &VersionVector<A>) -> Self {
                Self {
                    e: self.e.since(seen),
                }
            }
            fn to_delta(&self) -> Self {
                self.clone()
            }
        }
    };
}

/// A grow-only counter: one monotone entry per actor, value = sum of entries.
///
/// Use it for counts that only go up (page views, events processed). Each actor increments its
/// own entry; join takes the per-actor maximum. Increments that would overflow an actor's `u64`
/// entry are a typed error, never a wrap, and the value is read as a `u128` sum, so reading never
/// allocates and never overflows.
///
/// Metadata: one `u64` per actor that ever incremented (see [`GCounter::retire`]).
///
/// ```
/// use quorate_crdt::{Crdt, GCounter};
/// let mut a = GCounter::<u8>::new();
/// let mut b = GCounter::<u8>::new();
/// a.increment(1, 3)?;
/// b.increment(2, 4)?;
/// a.join(&b);
/// assert_eq!(a.value(), 7);
/// # Ok::<(), quorate_clocks::CounterOverflow>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GCounter<A> {
    e: Entries<A, u64>,
}

impl<A> Default for GCounter<A> {
    fn default() -> Self {
        Self {
            e: Entries::default(),
        }
    }
}

impl<A: std::fmt::Debug> std::fmt::Debug for GCounter<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GCounter")
            .field("entries", &self.e.entries)
            .field("retired", &self.e.retired)
            .finish()
    }
}

impl<A: Actor> GCounter<A> {
    /// A zero counter. Does not allocate.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::GCounter::<u8>::new().value(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The sum of all entries. Never allocates, never overflows.
    ///
    /// ```
    /// let mut c = quorate_crdt::GCounter::<u8>::new();
    /// c.increment(1, u64::MAX)?;
    /// c.increment(2, u64::MAX)?;
    /// assert_eq!(c.value(), 2 * u128::from(u64::MAX));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn value(&self) -> u128 {
        self.e.entries.iter().map(|(_, v)| u128::from(*v)).sum()
    }

    /// `actor`'s entry.
    ///
    /// ```
    /// let mut c = quorate_crdt::GCounter::<u8>::new();
    /// c.increment(1, 2)?;
    /// assert_eq!(c.get(&1), 2);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn get(&self, actor: &A) -> u64 {
        self.e.get(actor)
    }

    /// Number of actor entries.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::GCounter::<u8>::new().actors(), 0);
    /// ```
    pub fn actors(&self) -> usize {
        self.e.entries.len()
    }

    /// The delta of adding `by` to `actor`'s entry, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when the entry would exceed `u64::MAX`.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, GCounter};
    /// let mut c = GCounter::<u8>::new();
    /// let d = c.increment_delta(1, 5)?;
    /// c.join_delta(&d);
    /// assert_eq!(c.value(), 5);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn increment_delta(&self, actor: A, by: u64) -> Result<Self, CounterOverflow> {
        let v = self.e.get(&actor).checked_add(by).ok_or(CounterOverflow)?;
        let mut d = Self::new();
        if v != 0 && !self.e.is_retired(&actor) {
            d.e.entries.push((actor, v));
        }
        Ok(d)
    }

    /// Adds `by` to `actor`'s entry; returns the delta.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when the entry would exceed `u64::MAX` (the counter is unchanged).
    ///
    /// ```
    /// let mut c = quorate_crdt::GCounter::<u8>::new();
    /// c.increment(1, u64::MAX)?;
    /// assert!(c.increment(1, 1).is_err());
    /// assert_eq!(c.value(), u128::from(u64::MAX));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn increment(&mut self, actor: A, by: u64) -> Result<Self, CounterOverflow> {
        let d = self.increment_delta(actor, by)?;
        self.e.join(&d.e);
        Ok(d)
    }

    /// Folds a departed actor's entry into `into` (the local, surviving actor) and marks the
    /// departed actor retired, so its entry is ignored from then on.
    ///
    /// Preconditions, as for Akka's pruning: the departed actor has stopped incrementing and
    /// this replica has its final entry; `into` is the actor of this replica (only an entry's own
    /// actor may grow it, or a concurrent increment elsewhere could hide the folded amount); and
    /// one replica only retires a given actor. The retired marker (one actor id) replaces the
    /// entry and must reach every replica; it can be dropped with [`GCounter::forget_retired`]
    /// once it has.
    ///
    /// # Errors
    ///
    /// [`RetireError::SameActor`] or [`RetireError::Overflow`]; the counter is then unchanged.
    ///
    /// ```
    /// let mut c = quorate_crdt::GCounter::<u8>::new();
    /// c.increment(1, 2)?;
    /// c.increment(9, 3)?;
    /// c.retire(&9, &1)?;
    /// assert_eq!((c.value(), c.actors()), (5, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retire(&mut self, departed: &A, into: &A) -> Result<(), RetireError> {
        self.e.retire(departed, into, |a, b| a.checked_add(b))
    }

    /// Drops the retired marker of `actor` (once every replica has seen the retirement).
    ///
    /// ```
    /// let mut c = quorate_crdt::GCounter::<u8>::new();
    /// c.increment(9, 3)?;
    /// c.retire(&9, &1)?;
    /// c.forget_retired(&9);
    /// assert_eq!(c.value(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forget_retired(&mut self, actor: &A) {
        self.e.retired.retain(|a| a != actor);
    }

    /// Digest of the canonical encoding.
    ///
    /// ```
    /// let c = quorate_crdt::GCounter::<u8>::new();
    /// assert_eq!(c.digest(), c.clone().digest());
    /// ```
    pub fn digest(&self) -> Digest
    where
        A: Encode,
    {
        digest_of(self)
    }
}

impl_counter_lattice!(GCounter);

impl<A: Actor + Encode> Canonical for GCounter<A> {
    fn write<S: Sink>(&self, s: &mut S) {
        write_header(s, tag::GCOUNTER);
        self.e.write(s, |s, v| s.varint(v));
    }
}
impl_encode_via_canonical!([A: Actor + Encode] GCounter<A>);

impl<A: Actor + Decode> Decode for GCounter<A> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        read_header(buf, tag::GCOUNTER)?;
        Ok(Self {
            e: Entries::read(buf, |b| quorate_clocks::get_varint(b))?,
        })
    }
}
impl_serde_via_codec!([A: Actor] GCounter<A>);

/// A counter that goes up and down: per actor, a grow-only increment total and a grow-only
/// decrement total.
///
/// Use it for quantities that move both ways (stock levels, active sessions). Each total is a
/// checked `u64`; the value is read as an `i128` without allocating and can never wrap.
///
/// Metadata: two `u64` per actor that ever changed the counter.
///
/// ```
/// use quorate_crdt::{Crdt, PnCounter};
/// let mut a = PnCounter::<u8>::new();
/// let mut b = PnCounter::<u8>::new();
/// a.increment(1, 10)?;
/// b.decrement(2, 4)?;
/// a.join(&b);
/// assert_eq!(a.value(), 6);
/// # Ok::<(), quorate_clocks::CounterOverflow>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PnCounter<A> {
    e: Entries<A, (u64, u64)>,
}

impl<A> Default for PnCounter<A> {
    fn default() -> Self {
        Self {
            e: Entries::default(),
        }
    }
}

impl<A: std::fmt::Debug> std::fmt::Debug for PnCounter<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PnCounter")
            .field("entries", &self.e.entries)
            .field("retired", &self.e.retired)
            .finish()
    }
}

impl<A: Actor> PnCounter<A> {
    /// A zero counter. Does not allocate.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::PnCounter::<u8>::new().value(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Increments minus decrements. Never allocates, never overflows.
    ///
    /// ```
    /// let mut c = quorate_crdt::PnCounter::<u8>::new();
    /// c.decrement(1, u64::MAX)?;
    /// assert_eq!(c.value(), -i128::from(u64::MAX));
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn value(&self) -> i128 {
        let mut p: i128 = 0;
        for (_, (inc, dec)) in &self.e.entries {
            p += i128::from(*inc) - i128::from(*dec);
        }
        p
    }

    /// Number of actor entries.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::PnCounter::<u8>::new().actors(), 0);
    /// ```
    pub fn actors(&self) -> usize {
        self.e.entries.len()
    }

    fn change_delta(&self, actor: A, inc: u64, dec: u64) -> Result<Self, CounterOverflow> {
        let (p, n) = self.e.get(&actor);
        let e = (
            p.checked_add(inc).ok_or(CounterOverflow)?,
            n.checked_add(dec).ok_or(CounterOverflow)?,
        );
        let mut d = Self::new();
        if !e.is_zero() && !self.e.is_retired(&actor) {
            d.e.entries.push((actor, e));
        }
        Ok(d)
    }

    /// The delta of adding `by`, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when the actor's increment total would exceed `u64::MAX`.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, PnCounter};
    /// let mut c = PnCounter::<u8>::new();
    /// let d = c.increment_delta(1, 2)?;
    /// c.join_delta(&d);
    /// assert_eq!(c.value(), 2);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn increment_delta(&self, actor: A, by: u64) -> Result<Self, CounterOverflow> {
        self.change_delta(actor, by, 0)
    }

    /// The delta of subtracting `by`, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when the actor's decrement total would exceed `u64::MAX`.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, PnCounter};
    /// let mut c = PnCounter::<u8>::new();
    /// let d = c.decrement_delta(1, 2)?;
    /// c.join_delta(&d);
    /// assert_eq!(c.value(), -2);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn decrement_delta(&self, actor: A, by: u64) -> Result<Self, CounterOverflow> {
        self.change_delta(actor, 0, by)
    }

    /// Adds `by`; returns the delta.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] (the counter is then unchanged).
    ///
    /// ```
    /// let mut c = quorate_crdt::PnCounter::<u8>::new();
    /// c.increment(1, 2)?;
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn increment(&mut self, actor: A, by: u64) -> Result<Self, CounterOverflow> {
        let d = self.increment_delta(actor, by)?;
        self.e.join(&d.e);
        Ok(d)
    }

    /// Subtracts `by`; returns the delta.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] (the counter is then unchanged).
    ///
    /// ```
    /// let mut c = quorate_crdt::PnCounter::<u8>::new();
    /// c.decrement(1, 2)?;
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn decrement(&mut self, actor: A, by: u64) -> Result<Self, CounterOverflow> {
        let d = self.decrement_delta(actor, by)?;
        self.e.join(&d.e);
        Ok(d)
    }

    /// Folds a departed actor's totals into `into`; same preconditions as
    /// [`GCounter::retire`].
    ///
    /// # Errors
    ///
    /// [`RetireError::SameActor`] or [`RetireError::Overflow`]; the counter is then unchanged.
    ///
    /// ```
    /// let mut c = quorate_crdt::PnCounter::<u8>::new();
    /// c.increment(9, 3)?;
    /// c.retire(&9, &1)?;
    /// assert_eq!((c.value(), c.actors()), (3, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retire(&mut self, departed: &A, into: &A) -> Result<(), RetireError> {
        self.e.retire(departed, into, |a, b| {
            Some((a.0.checked_add(b.0)?, a.1.checked_add(b.1)?))
        })
    }

    /// Drops the retired marker of `actor` (once every replica has seen the retirement).
    ///
    /// ```
    /// let mut c = quorate_crdt::PnCounter::<u8>::new();
    /// c.forget_retired(&9);
    /// ```
    pub fn forget_retired(&mut self, actor: &A) {
        self.e.retired.retain(|a| a != actor);
    }

    /// Digest of the canonical encoding.
    ///
    /// ```
    /// let c = quorate_crdt::PnCounter::<u8>::new();
    /// assert_eq!(c.digest(), c.clone().digest());
    /// ```
    pub fn digest(&self) -> Digest
    where
        A: Encode,
    {
        digest_of(self)
    }
}

impl_counter_lattice!(PnCounter);

impl<A: Actor + Encode> Canonical for PnCounter<A> {
    fn write<S: Sink>(&self, s: &mut S) {
        write_header(s, tag::PNCOUNTER);
        self.e.write(s, |s, (p, n)| {
            s.varint(p);
            s.varint(n);
        });
    }
}
impl_encode_via_canonical!([A: Actor + Encode] PnCounter<A>);

impl<A: Actor + Decode> Decode for PnCounter<A> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        read_header(buf, tag::PNCOUNTER)?;
        Ok(Self {
            e: Entries::read(buf, |b| {
                Ok((
                    quorate_clocks::get_varint(b)?,
                    quorate_clocks::get_varint(b)?,
                ))
            })?,
        })
    }
}
impl_serde_via_codec!([A: Actor] PnCounter<A>);

// ---------------------------------------------------------------------------------------------
// Counters nested in an OR-map

/// One change of a [`PnCounter`] nested in an [`OrMap`](crate::OrMap): the value carried by
/// the change's dot.
///
/// ```
/// use quorate_crdt::CounterChange;
/// assert_eq!(CounterChange::Inc(3).amount(), 3);
/// assert_eq!(CounterChange::Dec(2).amount(), -2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CounterChange {
    /// Add this much.
    Inc(u64),
    /// Subtract this much.
    Dec(u64),
}

impl CounterChange {
    /// The signed amount.
    ///
    /// ```
    /// assert_eq!(quorate_crdt::CounterChange::Dec(u64::MAX).amount(), -i128::from(u64::MAX));
    /// ```
    pub fn amount(self) -> i128 {
        match self {
            Self::Inc(n) => i128::from(n),
            Self::Dec(n) => -i128::from(n),
        }
    }
}

impl Encode for CounterChange {
    fn encode<B: bytes::BufMut>(&self, buf: &mut B) {
        match self {
            Self::Inc(n) => {
                buf.put_u8(0);
                quorate_clocks::put_varint(buf, *n);
            }
            Self::Dec(n) => {
                buf.put_u8(1);
                quorate_clocks::put_varint(buf, *n);
            }
        }
    }

    fn encoded_len(&self) -> usize {
        let (Self::Inc(n) | Self::Dec(n)) = self;
        1 + quorate_clocks::varint_len(*n)
    }
}

impl Decode for CounterChange {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        match u8::decode(buf)? {
            0 => Ok(Self::Inc(quorate_clocks::get_varint(buf)?)),
            1 => Ok(Self::Dec(quorate_clocks::get_varint(buf)?)),
            _ => Err(DecodeError::Invalid("counter change tag")),
        }
    }
}

/// A [`GCounter`] nested in an [`OrMap`](crate::OrMap) is stored as one dot per increment,
/// carrying the amount; read back as a `GCounter` whose per-actor entries are the sums of the
/// surviving increments (saturating at `u64::MAX`).
impl<A: Actor> Embed<A> for GCounter<A> {
    type Store = DotFun<u64, A>;

    fn from_causal(c: Causal<DotFun<u64, A>, A>) -> Self {
        let mut e: Entries<A, u64> = Entries::default();
        for (d, v) in c.store.entries() {
            if *v != 0 {
                let cur = e.get(&d.actor);
                e.put(d.actor.clone(), cur.saturating_add(*v));
            }
        }
        Self { e }
    }
}

/// A [`PnCounter`] nested in an [`OrMap`](crate::OrMap) is stored as one dot per change; read
/// back as a `PnCounter` whose per-actor totals are the sums of the surviving changes
/// (saturating at `u64::MAX`).
impl<A: Actor> Embed<A> for PnCounter<A> {
    type Store = DotFun<CounterChange, A>;

    fn from_causal(c: Causal<DotFun<CounterChange, A>, A>) -> Self {
        let mut e: Entries<A, (u64, u64)> = Entries::default();
        for (d, ch) in c.store.entries() {
            let (p, n) = e.get(&d.actor);
            let next = match *ch {
                CounterChange::Inc(by) => (p.saturating_add(by), n),
                CounterChange::Dec(by) => (p, n.saturating_add(by)),
            };
            if !next.is_zero() {
                e.put(d.actor.clone(), next);
            }
        }
        Self { e }
    }
}
