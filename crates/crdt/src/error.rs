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
    /// Entries of a retired actor were found: in a value that records the retirement, or in a
    /// peer value that does not know of a retirement this replica has applied (a late message
    /// from or about the retired actor).
    #[error("entry of a retired actor")]
    RetiredActor,
    /// A retirement record is malformed (actor retired into itself, no events, overflowing
    /// range).
    #[error("malformed retirement record")]
    InvalidRetirement,
    /// Two values disagree about a retirement (the same actor retired twice in different ways,
    /// or retired before events this replica holds).
    #[error("conflicting retirement of an actor")]
    ConflictingRetirement,
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
    /// One of the two actors is already retired.
    #[error("actor already retired")]
    AlreadyRetired,
    /// The departed actor has no events here, or some of its (or the surviving actor's) events
    /// are known only out of order, so its history here is not complete.
    #[error("actor history incomplete on this replica")]
    Incomplete,
    /// The retirement record cannot be forgotten yet: this replica has not seen the surviving
    /// actor's events up to the end of the renamed range.
    #[error("retirement still needed by this replica")]
    StillNeeded,
}
