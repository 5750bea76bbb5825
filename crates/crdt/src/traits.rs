//! The traits every CRDT in this crate implements.

use std::fmt;

use quorate_clocks::{Actor, VersionVector};

use crate::error::ValidationError;

/// A state-based CRDT: a join-semilattice with a validity predicate.
///
/// `join` computes the least upper bound of two *valid* states; it is idempotent, commutative,
/// associative and inflationary (the [`laws`](crate::laws) module checks all four). Values that
/// come from a peer should go through [`Crdt::try_join`], which validates first (in linear time)
/// and leaves `self` untouched when the peer's value is invalid.
///
/// ```
/// use quorate_crdt::{Crdt, GSet};
/// let mut a: GSet<u32> = [1, 2].into_iter().collect();
/// let b: GSet<u32> = [2, 3].into_iter().collect();
/// a.try_join(&b)?;
/// assert_eq!(a.len(), 3);
/// # Ok::<(), quorate_crdt::ValidationError>(())
/// ```
pub trait Crdt: Clone + PartialEq + fmt::Debug + Default {
    /// Joins `other` into `self`. `other` is assumed valid; use [`Crdt::try_join`] for peer input.
    fn join(&mut self, other: &Self);

    /// Checks every invariant of the type, in time linear in the size of the value.
    ///
    /// # Errors
    ///
    /// The first [`ValidationError`] found.
    fn validate(&self) -> Result<(), ValidationError>;

    /// Validates `other`, then joins it.
    ///
    /// # Errors
    ///
    /// [`ValidationError`] when `other` is invalid; `self` is then unchanged.
    fn try_join(&mut self, other: &Self) -> Result<(), ValidationError> {
        self.validate_peer(other)?;
        self.join(other);
        Ok(())
    }

    /// Checks a peer's value before it is joined into `self`: `other.validate()` plus whatever
    /// depends on this replica (for the causal types: retirements this replica applied that the
    /// peer still references). Used by [`Crdt::try_join`] and [`Crdt::try_join_owned`].
    ///
    /// # Errors
    ///
    /// The first [`ValidationError`] found.
    ///
    /// ```
    /// use quorate_crdt::{Crdt, GSet};
    /// let a: GSet<u32> = [1].into_iter().collect();
    /// assert!(a.validate_peer(&a.clone()).is_ok());
    /// ```
    fn validate_peer(&self, other: &Self) -> Result<(), ValidationError> {
        other.validate()
    }

    /// Joins `other` into `self`, taking it by value: for a state received from the network
    /// (already decoded, so already validated) or a replica being folded in and discarded.
    /// Map-based types move the other side's new entries instead of cloning them; the result
    /// is the same as [`Crdt::join`].
    ///
    /// ```
    /// use quorate_crdt::{Crdt, OrSet};
    /// let mut a = OrSet::<String, u8>::from_adds([(1, "x".to_string())])?;
    /// let b = OrSet::<String, u8>::from_adds([(2, "y".to_string())])?;
    /// a.join_owned(b);
    /// assert_eq!(a.len(), 2);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    fn join_owned(&mut self, other: Self) {
        self.join(&other);
    }

    /// Validates `other`, then joins it by value ([`Crdt::join_owned`]).
    ///
    /// # Errors
    ///
    /// [`ValidationError`] when `other` is invalid; `self` is then unchanged.
    ///
    /// ```
    /// use quorate_crdt::{Crdt, GSet};
    /// let mut a: GSet<u32> = [1].into_iter().collect();
    /// a.try_join_owned([2].into_iter().collect())?;
    /// assert_eq!(a.len(), 2);
    /// # Ok::<(), quorate_crdt::ValidationError>(())
    /// ```
    fn try_join_owned(&mut self, other: Self) -> Result<(), ValidationError> {
        self.validate_peer(&other)?;
        self.join_owned(other);
        Ok(())
    }
}

/// A delta-state CRDT: every mutator has a delta form, and deltas join like states.
///
/// A delta mutator returns a small value `d` such that `x.join_delta(&d)` equals the full
/// mutation. Deltas can be grouped ([`DeltaCrdt::merge_delta`]), shipped in any order, dropped and
/// re-sent, duplicated: joining the same set of deltas always gives the same state. Joining a
/// delta costs time proportional to the delta, not to the state.
///
/// `summary` and `delta_since` let a peer ask for what it is missing: a replica sends its
/// summary, the other answers with `delta_since(&summary)`, and joining that answer gives the
/// same result as joining the full state.
///
/// ```
/// use quorate_crdt::{DeltaCrdt, OrSet};
/// let mut a = OrSet::<&str, u8>::new();
/// let mut b = OrSet::<&str, u8>::new();
/// let d = a.add(1, "x")?;
/// b.try_join_delta(&d)?;
/// assert!(b.contains(&"x"));
/// let answer = a.delta_since(&b.summary());
/// b.try_join_delta(&answer)?;
/// assert_eq!(a, b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait DeltaCrdt<A: Actor>: Crdt {
    /// The delta type (for most types a small state; causal types add key hints).
    type Delta: Clone + PartialEq + fmt::Debug + Default + Send + Sync;

    /// Joins a delta into the state. `delta` is assumed valid; use [`DeltaCrdt::try_join_delta`]
    /// for peer input.
    fn join_delta(&mut self, delta: &Self::Delta);

    /// Checks the delta's invariants (and, for `delta_since` answers, that it was computed
    /// against a summary this replica actually has).
    ///
    /// # Errors
    ///
    /// The first [`ValidationError`] found.
    fn validate_delta(&self, delta: &Self::Delta) -> Result<(), ValidationError>;

    /// Validates, then joins a delta.
    ///
    /// # Errors
    ///
    /// [`ValidationError`] when the delta is invalid; `self` is then unchanged.
    fn try_join_delta(&mut self, delta: &Self::Delta) -> Result<(), ValidationError> {
        self.validate_delta(delta)?;
        self.join_delta(delta);
        Ok(())
    }

    /// Joins `delta` into a delta group `group`.
    fn merge_delta(group: &mut Self::Delta, delta: &Self::Delta);

    /// What this replica has seen, as a version vector (empty for types without causal
    /// metadata, whose `delta_since` is then the whole state).
    fn summary(&self) -> VersionVector<A>;

    /// The delta a peer whose summary is `seen` needs to catch up with `self`.
    ///
    /// `seen` must be a summary the peer really has (for example one it sent, or one it
    /// acknowledged); causal types check this when the answer is joined.
    fn delta_since(&self, seen: &VersionVector<A>) -> Self::Delta;

    /// The whole state as a delta (the full-state fallback of anti-entropy).
    fn to_delta(&self) -> Self::Delta;
}

/// `DeltaCrdt` for a lattice without causal metadata (G-set, 2P-set, LWW-register): its delta
/// is a value of the same type, its summary is empty, and `delta_since` can only answer with
/// the whole state.
macro_rules! impl_full_state_delta {
    ([$($bound:tt)*] $ty:ty) => {
        impl<$($bound)*> $crate::traits::DeltaCrdt<A> for $ty {
            type Delta = Self;
            fn join_delta(&mut self, delta: &Self) {
                $crate::traits::Crdt::join(self, delta);
            }
            fn validate_delta(&self, delta: &Self) -> Result<(), $crate::error::ValidationError> {
                $crate::traits::Crdt::validate(delta)
            }
            fn merge_delta(group: &mut Self, delta: &Self) {
                $crate::traits::Crdt::join(group, delta);
            }
            fn summary(&self) -> quorate_clocks::VersionVector<A> {
                quorate_clocks::VersionVector::new()
            }
            fn delta_since(&self, _seen: &quorate_clocks::VersionVector<A>) -> Self {
                self.clone()
            }
            fn to_delta(&self) -> Self {
                self.clone()
            }
        }
    };
}
pub(crate) use impl_full_state_delta;
