//! Errors shared by issuers, leases and fenced writes.

use std::error::Error as StdError;
use std::fmt;

use crate::token::FencingToken;

/// The longest resource or holder name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 512;

/// A resource or holder name that no backend accepts.
///
/// ```
/// use quorate_fencing::{InvalidName, MemoryIssuer, TokenIssuer, IssueError};
/// let issuer = MemoryIssuer::new();
/// assert!(matches!(issuer.issue(""), Err(IssueError::InvalidName(InvalidName::Empty))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidName {
    /// The name is empty.
    #[error("empty name")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    #[error("name of {0} bytes is longer than 512 bytes")]
    TooLong(usize),
    /// The name contains a NUL byte (PostgreSQL text cannot hold it).
    #[error("name contains a nul byte")]
    Nul,
}

/// Checks a resource or holder name: non-empty, at most [`MAX_NAME_LEN`] bytes, no NUL.
///
/// # Errors
///
/// The [`InvalidName`] the name violates.
///
/// ```
/// use quorate_fencing::{check_name, InvalidName};
/// assert_eq!(check_name("jobs/42"), Ok(()));
/// assert_eq!(check_name("a\0b"), Err(InvalidName::Nul));
/// ```
pub fn check_name(name: &str) -> Result<(), InvalidName> {
    if name.is_empty() {
        Err(InvalidName::Empty)
    } else if name.len() > MAX_NAME_LEN {
        Err(InvalidName::TooLong(name.len()))
    } else if name.contains('\0') {
        Err(InvalidName::Nul)
    } else {
        Ok(())
    }
}

/// A failure of the underlying store (I/O, SQL, network), kept opaque.
///
/// ```
/// use quorate_fencing::StoreError;
/// let e = StoreError::new(std::io::Error::other("disk gone"));
/// assert_eq!(e.to_string(), "store error: disk gone");
/// ```
pub struct StoreError(Box<dyn StdError + Send + Sync + 'static>);

impl StoreError {
    /// Wraps a store's error.
    ///
    /// ```
    /// use quorate_fencing::StoreError;
    /// let _ = StoreError::new(std::io::Error::other("x"));
    /// ```
    pub fn new(e: impl StdError + Send + Sync + 'static) -> Self {
        Self(Box::new(e))
    }

    /// The store's error.
    ///
    /// ```
    /// use quorate_fencing::StoreError;
    /// let e = StoreError::new(std::io::Error::other("x"));
    /// assert!(e.inner().downcast_ref::<std::io::Error>().is_some());
    /// ```
    #[must_use]
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreError").field(&self.0).finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store error: {}", self.0)
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
    }
}

/// Why an issuer could not issue or verify a token.
///
/// ```
/// use quorate_fencing::{FencingToken, IssueError, MemoryIssuer, TokenIssuer};
/// let issuer = MemoryIssuer::new();
/// let err = issuer.verify("never-issued", FencingToken::new(1)).unwrap_err();
/// assert!(matches!(err, IssueError::UnknownResource { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The resource name is not acceptable.
    #[error("invalid resource name: {0}")]
    InvalidName(#[from] InvalidName),
    /// The issuer has never issued a token for this resource.
    #[error("unknown resource {resource:?}")]
    UnknownResource {
        /// The resource.
        resource: String,
    },
    /// The token was never issued for this resource (zero, or above its high-water mark: for
    /// example a token from another resource's issuer).
    #[error("token {presented} was never issued for {resource:?} (highest issued: {highest})")]
    NotIssued {
        /// The resource.
        resource: String,
        /// The token presented.
        presented: FencingToken,
        /// The highest token issued for the resource.
        highest: FencingToken,
    },
    /// Every token of the resource has been issued.
    #[error("tokens of {resource:?} are exhausted")]
    Exhausted {
        /// The resource.
        resource: String,
    },
    /// A stored row is not a valid high-water mark.
    #[error("corrupt stored state for {resource:?}: {detail}")]
    Corrupt {
        /// The resource.
        resource: String,
        /// What is wrong with the row.
        detail: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a lease operation failed.
///
/// ```
/// use std::time::Duration;
/// use quorate_fencing::{Lease, LeaseError, MemoryLease};
/// let leases = MemoryLease::new();
/// let hold = Duration::from_secs(5);
/// leases.acquire("jobs", "a", hold).unwrap();
/// assert!(matches!(leases.acquire("jobs", "b", hold), Err(LeaseError::Held { .. })));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// A resource or holder name is not acceptable.
    #[error("invalid name: {0}")]
    InvalidName(#[from] InvalidName),
    /// Someone holds a live lease on the resource.
    #[error("{resource:?} is held by {holder:?} with token {token}")]
    Held {
        /// The resource.
        resource: String,
        /// The current holder.
        holder: String,
        /// The current holder's token.
        token: FencingToken,
    },
    /// The lease with this token has expired or was replaced: it cannot be renewed.
    #[error("the lease on {resource:?} with token {token} has expired")]
    Expired {
        /// The resource.
        resource: String,
        /// The token of the expired lease.
        token: FencingToken,
    },
    /// The hold duration cannot be represented by the backend.
    #[error("hold duration not representable by the backend")]
    InvalidHold,
    /// Every token of the resource has been issued.
    #[error("tokens of {resource:?} are exhausted")]
    Exhausted {
        /// The resource.
        resource: String,
    },
    /// A stored lease record is invalid.
    #[error("corrupt stored lease for {resource:?}: {detail}")]
    Corrupt {
        /// The resource.
        resource: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a fenced write was refused.
///
/// ```
/// use quorate_fencing::{FencedWriteError, FencingToken};
/// let e = FencedWriteError::Stale { presented: FencingToken::new(3), highest: FencingToken::new(4) };
/// assert_eq!(e.to_string(), "stale fencing token 3: the row holds 4");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FencedWriteError {
    /// The row holds a higher token: a newer holder has written or fenced it.
    #[error("stale fencing token {presented}: the row holds {highest}")]
    Stale {
        /// The token presented.
        presented: FencingToken,
        /// The token stored in the row.
        highest: FencingToken,
    },
    /// No row has the key.
    #[error("no row with this key")]
    UnknownResource,
    /// The row's token column is not a valid token (NULL or negative).
    #[error("corrupt token column: {0}")]
    Corrupt(String),
    /// The token does not fit a signed 64-bit column.
    #[error("token {0} exceeds the largest storable token")]
    TokenOutOfRange(FencingToken),
    /// The number of values differs from the number of columns of the update.
    #[error("{values} values for {columns} columns")]
    Arity {
        /// Columns of the prepared update.
        columns: usize,
        /// Values given.
        values: usize,
    },
    /// The update matched no row, and a later read found a token that would have passed: the
    /// row changed between the two statements. Nothing was written.
    #[error("the row changed during the fenced write; nothing was written")]
    Raced,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a holder may no longer use its lease.
///
/// ```
/// use quorate_fencing::LeaseLost;
/// assert_eq!(LeaseLost::DeadlinePassed.to_string(), "the lease's safe deadline has passed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseLost {
    /// The holder's safe deadline passed before a renewal extended it.
    #[error("the lease's safe deadline has passed")]
    DeadlinePassed,
    /// A renewal failed (the grantor refused it or could not be reached).
    #[error("renewing the lease failed")]
    RenewalFailed,
    /// The lease was released.
    #[error("the lease was released")]
    Released,
}
