//! Actor ids and dots.

use bytes::{Buf, BufMut};

use crate::codec::{Decode, DecodeError, Encode, get_varint, put_varint, varint_len};

/// An actor (replica, node, client) id: any cloneable, ordered, hashable, debuggable,
/// thread-safe type.
///
/// A blanket implementation covers every such type, so `u64`, `String`, `[u8; 16]` or your own
/// newtype all work without ceremony.
///
/// ```
/// fn takes_actor<A: quorate_clocks::Actor>(_: A) {}
/// takes_actor(7u64);
/// takes_actor(String::from("node-a"));
/// ```
pub trait Actor: Clone + Ord + core::hash::Hash + core::fmt::Debug + Send + Sync + 'static {}

impl<T: Clone + Ord + core::hash::Hash + core::fmt::Debug + Send + Sync + 'static> Actor for T {}

/// One event of one actor: the actor's `counter`-th update.
///
/// A dot is the unit of causality: a [`VersionVector`](crate::VersionVector) *contains* a dot
/// when it has seen that event. Real events have `counter >= 1`; counter 0 means "nothing".
///
/// ```
/// use quorate_clocks::{Dot, VersionVector};
/// let mut vv = VersionVector::new();
/// let dot = vv.increment("a")?;
/// assert_eq!(dot, Dot::new("a", 1));
/// assert!(vv.contains(&dot));
/// # Ok::<(), quorate_clocks::CounterOverflow>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Dot<A> {
    /// Who produced the event.
    pub actor: A,
    /// The actor's event number, starting at 1.
    pub counter: u64,
}

impl<A> Dot<A> {
    /// A dot for `actor`'s `counter`-th event.
    ///
    /// ```
    /// let d = quorate_clocks::Dot::new(3u8, 9);
    /// assert_eq!((d.actor, d.counter), (3, 9));
    /// ```
    pub const fn new(actor: A, counter: u64) -> Self {
        Self { actor, counter }
    }
}

impl<A: Encode> Encode for Dot<A> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        self.actor.encode(buf);
        put_varint(buf, self.counter);
    }
    fn encoded_len(&self) -> usize {
        self.actor.encoded_len() + varint_len(self.counter)
    }
}

impl<A: Decode> Decode for Dot<A> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        let actor = A::decode(buf)?;
        let counter = get_varint(buf)?;
        Ok(Self { actor, counter })
    }
}

/// A counter was already at `u64::MAX` and could not be incremented.
///
/// Counters never wrap: wrapping would silently make a new event look older than every
/// existing one.
///
/// ```
/// use quorate_clocks::{CounterOverflow, VersionVector};
/// let mut vv = VersionVector::new();
/// vv.set(1u8, u64::MAX);
/// assert_eq!(vv.increment(1), Err(CounterOverflow));
/// assert_eq!(CounterOverflow.to_string(), "counter overflow");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("counter overflow")]
pub struct CounterOverflow;
