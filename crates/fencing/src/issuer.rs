//! Token issuers: strictly increasing tokens per resource, never reused.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{IssueError, check_name};
use crate::sync::std_lock;
use crate::token::FencingToken;

/// Issues fencing tokens: per resource, each token is larger than every token issued before it,
/// including before a restart of a durable issuer.
///
/// Implemented by [`MemoryIssuer`] and, behind features, `SqliteIssuer` and `PgIssuer`, whose
/// high-water mark is committed before the token is returned. Object safe.
///
/// ```
/// use quorate_fencing::{FencingToken, MemoryIssuer, TokenIssuer};
/// # fn main() -> Result<(), quorate_fencing::IssueError> {
/// let issuer = MemoryIssuer::new();
/// let a = issuer.issue("jobs/42")?;
/// let b = issuer.issue("jobs/42")?;
/// assert!(b > a);
/// issuer.verify("jobs/42", a)?;
/// assert!(issuer.verify("jobs/42", FencingToken::new(99)).is_err()); // never issued here
/// # Ok(()) }
/// ```
pub trait TokenIssuer: Send + Sync {
    /// Issues the next token for `resource` (the first is 1).
    ///
    /// # Errors
    ///
    /// [`IssueError::InvalidName`], [`IssueError::Exhausted`], [`IssueError::Corrupt`] for an
    /// invalid stored high-water mark, [`IssueError::Store`].
    fn issue(&self, resource: &str) -> Result<FencingToken, IssueError>;

    /// The highest token issued for `resource`, or `None` if none was.
    ///
    /// # Errors
    ///
    /// As [`issue`](Self::issue), except `Exhausted`.
    fn highest(&self, resource: &str) -> Result<Option<FencingToken>, IssueError>;

    /// Checks that `token` could have been issued for `resource`: not zero and not above the
    /// resource's high-water mark.
    ///
    /// # Errors
    ///
    /// [`IssueError::UnknownResource`] when nothing was issued for the resource,
    /// [`IssueError::NotIssued`] for a token out of its range (such as another resource's
    /// token), and the errors of [`highest`](Self::highest).
    fn verify(&self, resource: &str, token: FencingToken) -> Result<(), IssueError> {
        let Some(highest) = self.highest(resource)? else {
            return Err(IssueError::UnknownResource {
                resource: resource.to_owned(),
            });
        };
        if token == FencingToken::ZERO || token > highest {
            return Err(IssueError::NotIssued {
                resource: resource.to_owned(),
                presented: token,
                highest,
            });
        }
        Ok(())
    }
}

/// An in-memory issuer: a counter per resource. Not durable: use it within one process's life.
///
/// ```
/// use quorate_fencing::{MemoryIssuer, TokenIssuer};
/// let issuer = MemoryIssuer::new();
/// assert_eq!(issuer.issue("r").unwrap().get(), 1);
/// assert_eq!(issuer.issue("r").unwrap().get(), 2);
/// assert_eq!(issuer.issue("other").unwrap().get(), 1);
/// ```
#[derive(Debug, Default)]
pub struct MemoryIssuer {
    counters: Mutex<HashMap<String, u64>>,
}

impl MemoryIssuer {
    /// An issuer that has issued nothing.
    ///
    /// ```
    /// use quorate_fencing::{MemoryIssuer, TokenIssuer};
    /// assert_eq!(MemoryIssuer::new().highest("r").unwrap(), None);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenIssuer for MemoryIssuer {
    fn issue(&self, resource: &str) -> Result<FencingToken, IssueError> {
        check_name(resource)?;
        let mut map = std_lock(&self.counters);
        let current = map.get(resource).copied().unwrap_or(0);
        let next = FencingToken::new(current)
            .next()
            .ok_or_else(|| IssueError::Exhausted {
                resource: resource.to_owned(),
            })?;
        map.insert(resource.to_owned(), next.get());
        Ok(next)
    }

    fn highest(&self, resource: &str) -> Result<Option<FencingToken>, IssueError> {
        check_name(resource)?;
        Ok(std_lock(&self.counters)
            .get(resource)
            .map(|&t| FencingToken::new(t)))
    }
}

impl<T: TokenIssuer + ?Sized> TokenIssuer for std::sync::Arc<T> {
    fn issue(&self, resource: &str) -> Result<FencingToken, IssueError> {
        (**self).issue(resource)
    }
    fn highest(&self, resource: &str) -> Result<Option<FencingToken>, IssueError> {
        (**self).highest(resource)
    }
    fn verify(&self, resource: &str, token: FencingToken) -> Result<(), IssueError> {
        (**self).verify(resource, token)
    }
}
