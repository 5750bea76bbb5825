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
        other.validate()?;
        self.join(other);
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
