//! Registers and flags: [`MvReg`], [`EwFlag`] (causal) and [`LwwReg`] (timestamped).

use bytes::Buf;
use quorate_clocks::{Actor, CounterOverflow, Decode, DecodeError, Encode, Timestamp};

use crate::causal::CausalDelta;
use crate::codec::{
    Canonical, Digest, Sink, digest_of, impl_encode_via_canonical, impl_serde_via_codec,
    read_header, tag, write_header,
};
use crate::dotstore::{DotFun, DotSet, RegisterValue};
use crate::error::ValidationError;
use crate::traits::{Crdt, impl_full_state_delta};
use crate::wrap::{causal_type, observed};

/// Delta of an [`MvReg`].
pub type MvRegDelta<V, A> = CausalDelta<DotFun<V, A>, A>;
/// Delta of an [`EwFlag`].
pub type EwFlagDelta<A> = CausalDelta<DotSet<A>, A>;

causal_type! {
    /// A multi-value register: concurrent writes are all kept; a write that has seen them
    /// replaces them all.
    ///
    /// Use it when losing a concurrent write is unacceptable and the application can resolve
    /// (or show) conflicts: the read returns every value written concurrently, like Riak's
    /// siblings or Dynamo's shopping cart versions.
    ///
    /// Metadata: one dot per surviving value (at most one per concurrent writer), plus the
    /// context.
    ///
    /// ```
    /// use quorate_crdt::{Crdt, MvReg};
    /// let mut a = MvReg::<&str, u8>::new();
    /// let mut b = MvReg::<&str, u8>::new();
    /// a.write(1, "x")?;
    /// b.write(2, "y")?;
    /// a.join(&b);
    /// assert_eq!(a.values().collect::<Vec<_>>(), [&"x", &"y"]); // both survive
    /// a.write(1, "z")?;                                           // saw both: replaces them
    /// assert_eq!(a.values().collect::<Vec<_>>(), [&"z"]);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    MvReg[V, A] [V: RegisterValue, A: Actor] store = DotFun<V, A>; example = "MvReg::<u32, u8>";
}

impl<V: RegisterValue, A: Actor> MvReg<V, A> {
    /// The concurrent values, ordered by their dots (empty before the first write).
    ///
    /// ```
    /// assert_eq!(quorate_crdt::MvReg::<u8, u8>::new().values().count(), 0);
    /// ```
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.inner.store.values()
    }

    /// The delta of writing `v`, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, MvReg};
    /// let mut r = MvReg::<u32, u8>::new();
    /// let d = r.write_delta(1, 5)?;
    /// r.join_delta(&d);
    /// assert_eq!(r.values().collect::<Vec<_>>(), [&5]);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn write_delta(&self, actor: A, v: V) -> Result<MvRegDelta<V, A>, CounterOverflow> {
        let dot = self.inner.ctx.next_dot(actor)?;
        let mut ctx = observed(&self.inner.store);
        ctx.insert(dot.clone());
        Ok(CausalDelta::mutation(DotFun::single(dot, v), ctx))
    }

    /// Writes `v`, replacing every value this replica has seen.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted (the register is unchanged).
    ///
    /// ```
    /// let mut r = quorate_crdt::MvReg::<u32, u8>::new();
    /// r.write(1, 5)?;
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn write(&mut self, actor: A, v: V) -> Result<MvRegDelta<V, A>, CounterOverflow> {
        let d = self.write_delta(actor, v)?;
        self.inner.apply_delta(&d);
        Ok(d)
    }

    /// The delta of clearing the register (removing every value seen), without applying it.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, MvReg};
    /// let mut r = MvReg::<u32, u8>::new();
    /// r.write(1, 5)?;
    /// let d = r.clear_delta();
    /// r.join_delta(&d);
    /// assert_eq!(r.values().count(), 0);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn clear_delta(&self) -> MvRegDelta<V, A> {
        CausalDelta::mutation(DotFun::default(), observed(&self.inner.store))
    }

    /// Clears the register.
    ///
    /// ```
    /// let mut r = quorate_crdt::MvReg::<u32, u8>::new();
    /// r.write(1, 5)?;
    /// r.clear();
    /// assert_eq!(r.values().count(), 0);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn clear(&mut self) -> MvRegDelta<V, A> {
        let d = self.clear_delta();
        self.inner.apply_delta(&d);
        d
    }
}

causal_type! {
    /// An enable-wins flag: `enable` concurrent with `disable` leaves the flag enabled.
    ///
    /// Use it for feature switches and "someone wants this on" signals. Metadata: one dot per
    /// concurrent enabler, plus the context.
    ///
    /// ```
    /// use quorate_crdt::{Crdt, EwFlag};
    /// let mut a = EwFlag::<u8>::new();
    /// a.enable(1)?;
    /// let mut b = a.clone();
    /// b.disable();
    /// a.enable(1)?;     // concurrent with b's disable
    /// a.join(&b);
    /// assert!(a.is_enabled());
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    EwFlag[A] [A: Actor] store = DotSet<A>; example = "EwFlag::<u8>";
}

impl<A: Actor> EwFlag<A> {
    /// True when some enable survives.
    ///
    /// ```
    /// assert!(!quorate_crdt::EwFlag::<u8>::new().is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        !self.inner.store.is_empty()
    }

    /// The delta of enabling, without applying it.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, EwFlag};
    /// let mut f = EwFlag::<u8>::new();
    /// let d = f.enable_delta(1)?;
    /// f.join_delta(&d);
    /// assert!(f.is_enabled());
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn enable_delta(&self, actor: A) -> Result<EwFlagDelta<A>, CounterOverflow> {
        let dot = self.inner.ctx.next_dot(actor)?;
        let mut ctx = observed(&self.inner.store);
        ctx.insert(dot.clone());
        Ok(CausalDelta::mutation(DotSet::single(dot), ctx))
    }

    /// Enables the flag.
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when `actor`'s counter is exhausted (the flag is unchanged).
    ///
    /// ```
    /// let mut f = quorate_crdt::EwFlag::<u8>::new();
    /// f.enable(1)?;
    /// assert!(f.is_enabled());
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn enable(&mut self, actor: A) -> Result<EwFlagDelta<A>, CounterOverflow> {
        let d = self.enable_delta(actor)?;
        self.inner.apply_delta(&d);
        Ok(d)
    }

    /// The delta of disabling (removing the enables seen), without applying it.
    ///
    /// ```
    /// use quorate_crdt::{DeltaCrdt, EwFlag};
    /// let mut f = EwFlag::<u8>::new();
    /// f.enable(1)?;
    /// let d = f.disable_delta();
    /// f.join_delta(&d);
    /// assert!(!f.is_enabled());
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn disable_delta(&self) -> EwFlagDelta<A> {
        CausalDelta::mutation(DotSet::default(), observed(&self.inner.store))
    }

    /// Disables the flag (concurrent enables elsewhere still win).
    ///
    /// ```
    /// let mut f = quorate_crdt::EwFlag::<u8>::new();
    /// f.enable(1)?;
    /// f.disable();
    /// assert!(!f.is_enabled());
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn disable(&mut self) -> EwFlagDelta<A> {
        let d = self.disable_delta();
        self.inner.apply_delta(&d);
        d
    }
}

// ---------------------------------------------------------------------------------------------
// LWW register

/// A last-writer-wins register on hybrid logical clock timestamps.
///
/// The write with the greatest `(timestamp, actor, value)` wins. Ties on the timestamp are broken
/// by actor, then by value, so every replica picks the same winner whatever the delivery order
/// (the `crdts` crate leaves ties to the caller). Use it for replaceable values where losing a
/// concurrent write is acceptable (presence, "last seen", cached profile fields); take the
/// timestamps from `quorate_clocks::HybridClock` so causally later writes win.
///
/// Metadata: one timestamp and one actor.
///
/// ```
/// use quorate_clocks::Timestamp;
/// use quorate_crdt::{Crdt, LwwReg};
/// let mut a = LwwReg::<&str, u8>::new();
/// let mut b = LwwReg::<&str, u8>::new();
/// a.set(Timestamp::from_u64(10), 1, "x");
/// b.set(Timestamp::from_u64(10), 2, "y"); // same timestamp: actor 2 wins the tie
/// a.join(&b);
/// assert_eq!(a.get(), Some(&"y"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LwwReg<V, A> {
    /// `None` before the first write.
    entry: Option<(Timestamp, A, V)>,
}

impl<V, A> Default for LwwReg<V, A> {
    fn default() -> Self {
        Self { entry: None }
    }
}

impl<V: std::fmt::Debug, A: std::fmt::Debug> std::fmt::Debug for LwwReg<V, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LwwReg")
            .field("entry", &self.entry)
            .finish()
    }
}

impl<V: RegisterValue, A: Actor> LwwReg<V, A> {
    /// An empty register.
    ///
    /// ```
    /// assert!(quorate_crdt::LwwReg::<u8, u8>::new().get().is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The current value.
    ///
    /// ```
    /// use quorate_clocks::Timestamp;
    /// let mut r = quorate_crdt::LwwReg::<u8, u8>::new();
    /// r.set(Timestamp::from_u64(1), 1, 7);
    /// assert_eq!(r.get(), Some(&7));
    /// ```
    pub fn get(&self) -> Option<&V> {
        self.entry.as_ref().map(|(_, _, v)| v)
    }

    /// The winning write's timestamp and actor.
    ///
    /// ```
    /// use quorate_clocks::Timestamp;
    /// let mut r = quorate_crdt::LwwReg::<u8, u8>::new();
    /// r.set(Timestamp::from_u64(4), 1, 7);
    /// assert_eq!(r.stamp(), Some((Timestamp::from_u64(4), &1)));
    /// ```
    pub fn stamp(&self) -> Option<(Timestamp, &A)> {
        self.entry.as_ref().map(|(t, a, _)| (*t, a))
    }

    /// The delta of writing `v` at `ts` (the write itself; it wins only if greatest).
    ///
    /// ```
    /// use quorate_clocks::Timestamp;
    /// use quorate_crdt::{DeltaCrdt, LwwReg};
    /// let r = LwwReg::<u8, u8>::new();
    /// let d = r.set_delta(Timestamp::from_u64(1), 1, 7);
    /// assert_eq!(d.get(), Some(&7));
    /// ```
    pub fn set_delta(&self, ts: Timestamp, actor: A, v: V) -> Self {
        Self {
            entry: Some((ts, actor, v)),
        }
    }

    /// Writes `v` at `ts` as `actor`; returns the delta.
    ///
    /// ```
    /// use quorate_clocks::Timestamp;
    /// let mut r = quorate_crdt::LwwReg::<u8, u8>::new();
    /// r.set(Timestamp::from_u64(2), 1, 7);
    /// r.set(Timestamp::from_u64(1), 1, 8); // older: ignored
    /// assert_eq!(r.get(), Some(&7));
    /// ```
    pub fn set(&mut self, ts: Timestamp, actor: A, v: V) -> Self {
        let d = self.set_delta(ts, actor, v);
        self.join(&d);
        d
    }

    /// Digest of the canonical encoding.
    ///
    /// ```
    /// let r = quorate_crdt::LwwReg::<u8, u8>::new();
    /// assert_eq!(r.digest(), r.clone().digest());
    /// ```
    pub fn digest(&self) -> Digest
    where
        A: Encode,
        V: Encode,
    {
        digest_of(self)
    }
}

impl<V: RegisterValue, A: Actor> Crdt for LwwReg<V, A> {
    fn join(&mut self, other: &Self) {
        if let Some(o) = &other.entry {
            let replace = match &self.entry {
                None => true,
                Some(mine) => o > mine,
            };
            if replace {
                self.entry = Some(o.clone());
            }
        }
    }

    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

impl_full_state_delta!([V: RegisterValue, A: Actor] LwwReg<V, A>);

impl<V: RegisterValue + Encode, A: Actor + Encode> Canonical for LwwReg<V, A> {
    fn write<S: Sink>(&self, s: &mut S) {
        write_header(s, tag::LWW);
        match &self.entry {
            None => s.byte(0),
            Some((t, a, v)) => {
                s.byte(1);
                s.varint(t.as_u64());
                s.item(a);
                s.item(v);
            }
        }
    }
}

impl_encode_via_canonical!([V: RegisterValue + Encode, A: Actor + Encode] LwwReg<V, A>);

impl<V: RegisterValue + Decode, A: Actor + Decode> Decode for LwwReg<V, A> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        read_header(buf, tag::LWW)?;
        match u8::decode(buf)? {
            0 => Ok(Self { entry: None }),
            1 => {
                let raw = quorate_clocks::get_varint(buf)?;
                let t =
                    Timestamp::try_from_u64(raw).ok_or(DecodeError::Invalid("zero timestamp"))?;
                let a = A::decode(buf)?;
                let v = V::decode(buf)?;
                Ok(Self {
                    entry: Some((t, a, v)),
                })
            }
            _ => Err(DecodeError::Invalid("register presence flag")),
        }
    }
}

impl_serde_via_codec!([V: RegisterValue, A: Actor] LwwReg<V, A>);
