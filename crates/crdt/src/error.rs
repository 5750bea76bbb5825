//! Error types.

/// A state or delta violates an invariant of its type.
///
/// Returned by every `validate` and by the `try_join*` methods, which validate the peer's value
/// before touching the local replica: on error the local replica is unchanged.
///
/// ```
/// use quorate_crdt::ValidationError;
/// assert_eq!(ValidationError::DuplicateDot.to_string(), "a dot is used more than once");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ValidationError {
    /// One dot identifies two different entries (two elements, two values).
    #[error("a dot is used more than once")]
    DuplicateDot,
    /// A stored dot is not covered by the value's own causal context.
    #[error("a stored dot is not covered by the causal context")]
    DotNotInContext,
    /// A dot or entry has counter 0, which no real event has.
    #[error("zero counter")]
    ZeroCounter,
    /// The causal context is not compacted (a cloud dot is covered by or adjacent to the vector).
    #[error("causal context not compacted")]
    ContextNotCompact,
    /// A state holds an empty entry (a key with no dots), which joins never produce.
    #[error("empty entry in a state")]
    EmptyEntry,
    /// A 2P-set holds an element both as live and as removed.
    #[error("element both live and removed")]
    LiveAndRemoved,
    /// A delta computed against a summary claims dots this replica has not seen.
    #[error("delta assumes dots this replica has not seen")]
    UnknownKeptDot,
    /// Entries of a retired actor were found.
    #[error("entry of a retired actor")]
    RetiredActor,
}

/// Why an actor could not be retired.
///
/// ```
/// use quorate_crdt::RetireError;
/// assert_eq!(RetireError::SameActor.to_string(), "an actor cannot be folded into itself");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RetireError {
    /// The departed and the surviving actor are the same.
    #[error("an actor cannot be folded into itself")]
    SameActor,
    /// Folding would overflow the surviving actor's counter.
    #[error("counter overflow while folding a retired actor")]
    Overflow,
}
