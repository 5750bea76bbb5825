//! Error types.

use std::fmt::Debug;

use quorate_clocks::Dot;

/// A state or delta violates an invariant of its type, or a peer's value contradicts this
/// replica's.
///
/// Returned by every `validate` and by the `try_join*` methods, which validate the peer's value
/// before touching the local replica: on error the local replica is unchanged. Each variant names
/// what failed (the dot, the elements or keys, the actor), Debug-printed, so a rejected peer
/// value can be diagnosed from the error alone. Dots print as `actor:counter`.
///
/// ```
/// use quorate_crdt::ValidationError;
/// let e = ValidationError::DuplicateDot { dot: "7:3".into() };
/// assert_eq!(e.to_string(), "dot 7:3 is used more than once");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ValidationError {
    /// One dot identifies two different entries (two elements, two values) within one value.
    #[error("dot {dot} is used more than once")]
    DuplicateDot {
        /// The dot.
        dot: String,
    },
    /// The same dot names different entries here and in the peer's value: two replicas issued
    /// it for different elements (keys, values), which happens when two replicas share an actor
    /// id (a cloned VM or container, a restored backup). Found at join time, as the `crdts`
    /// crate's `Orswot::validate_merge` finds it.
    #[error(
        "dot {dot} names {local} here but {peer} in the peer's value (actor id shared by two replicas?)"
    )]
    DotCollision {
        /// The dot.
        dot: String,
        /// Where this replica stores it (element, key path, or register value).
        local: String,
        /// Where the peer's value stores it.
        peer: String,
    },
    /// A stored dot is not covered by the value's own causal context.
    #[error("stored dot {dot} is not covered by the causal context")]
    DotNotInContext {
        /// The dot.
        dot: String,
    },
    /// A dot or entry has counter 0, which no real event has.
    #[error("zero counter for actor {actor}")]
    ZeroCounter {
        /// The actor.
        actor: String,
    },
    /// The causal context is not compacted (a cloud dot is covered by or adjacent to the vector).
    #[error("causal context not compacted (actor {actor})")]
    ContextNotCompact {
        /// The actor whose entries are not compacted.
        actor: String,
    },
    /// A state holds an empty entry (a key with no dots), which joins never produce.
    #[error("empty entry {key} in a state")]
    EmptyEntry {
        /// The key.
        key: String,
    },
    /// A counter holds two entries for one actor, or its entries are out of order.
    #[error("counter entries of actor {actor} repeated or out of order")]
    DuplicateActor {
        /// The actor.
        actor: String,
    },
    /// A 2P-set holds an element both as live and as removed.
    #[error("element {element} both live and removed")]
    LiveAndRemoved {
        /// The element.
        element: String,
    },
    /// A deferred remove (a remove with a context the value has not fully seen) is malformed:
    /// keys repeated or out of order, an empty context, a context the value has already seen
    /// in full (it should have been applied and dropped), or a stored dot it should have
    /// removed.
    #[error("malformed deferred remove of key {key}")]
    InvalidDeferredRemove {
        /// The key (`()` for a keyless value).
        key: String,
    },
    /// A delta computed against a summary claims dots this replica has not seen.
    #[error("delta assumes dot {dot}, which this replica has not seen")]
    UnknownKeptDot {
        /// The dot.
        dot: String,
    },
    /// Entries of a retired actor were found: in a value that records the retirement, or in a
    /// peer value that does not know of a retirement this replica has applied (a late message
    /// from or about the retired actor).
    #[error("entry of retired actor {actor}")]
    RetiredActor {
        /// The retired actor.
        actor: String,
    },
    /// A retirement record is malformed (actor retired into itself, no events, overflowing
    /// range).
    #[error("malformed retirement record of actor {actor}")]
    InvalidRetirement {
        /// The actor the record retires.
        actor: String,
    },
    /// Two values disagree about a retirement (the same actor retired twice in different ways,
    /// or retired before events this replica holds).
    #[error("conflicting retirement of actor {actor}")]
    ConflictingRetirement {
        /// The actor.
        actor: String,
    },
}

/// Debug rendering of a value named in an error.
pub(crate) fn name<T: Debug + ?Sized>(t: &T) -> String {
    format!("{t:?}")
}

/// A dot as `actor:counter`.
pub(crate) fn dot_name<A: Debug>(d: &Dot<A>) -> String {
    format!("{:?}:{}", d.actor, d.counter)
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
