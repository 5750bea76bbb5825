//! `with_lease`: async work under a lease renewed in the background, cancelled when it is lost.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{Either, select};
use tokio::sync::watch;

use crate::error::{LeaseError, LeaseLost};
use crate::holder::{HeldLease, LeaseClient};
use crate::lease::Lease;
use crate::token::FencingToken;

/// Why [`with_lease`] did not return the work's output.
///
/// ```
/// use quorate_fencing::{LeaseLost, WithLeaseError};
/// let e = WithLeaseError::Lost(LeaseLost::RenewalFailed);
/// assert_eq!(e.to_string(), "lease lost, work cancelled: renewing the lease failed");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WithLeaseError {
    /// The lease could not be acquired.
    #[error("acquiring the lease failed: {0}")]
    Acquire(#[source] LeaseError),
    /// The lease was lost while the work ran; the work's future was dropped.
    #[error("lease lost, work cancelled: {0}")]
    Lost(#[source] LeaseLost),
    /// A blocking backend call could not run (the runtime is shutting down).
    #[error("the runtime could not run a blocking lease call")]
    Runtime,
}

/// What the work of [`with_lease`] gets: the token and a signal for when the lease is lost.
///
/// ```
/// # fn check(scope: &quorate_fencing::LeaseScope) {
/// if scope.check().is_ok() {
///     let _token = scope.token(); // send with the write
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct LeaseScope {
    token: FencingToken,
    check: std::sync::Arc<dyn Fn() -> Result<FencingToken, LeaseLost> + Send + Sync>,
    lost: watch::Receiver<Option<LeaseLost>>,
}

impl std::fmt::Debug for LeaseScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseScope")
            .field("token", &self.token)
            .field("lost", &*self.lost.borrow())
            .finish_non_exhaustive()
    }
}

impl LeaseScope {
    /// The lease's fencing token (send it with every write; the resource checks it).
    ///
    /// ```
    /// # fn f(scope: &quorate_fencing::LeaseScope) { let _ = scope.token(); }
    /// ```
    #[must_use]
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// The token if the lease is still safely held now (the holder-side guard).
    ///
    /// # Errors
    ///
    /// [`LeaseLost`] once the lease is lost.
    ///
    /// ```
    /// # fn f(scope: &quorate_fencing::LeaseScope) { let _ = scope.check(); }
    /// ```
    pub fn check(&self) -> Result<FencingToken, LeaseLost> {
        (self.check)()
    }

    /// Resolves when the lease is lost (use it in a `select!` to stop early and clean up).
    ///
    /// ```
    /// # async fn f(mut scope: quorate_fencing::LeaseScope) { let _why = scope.lost().await; }
    /// ```
    pub async fn lost(&mut self) -> LeaseLost {
        loop {
            if let Some(why) = *self.lost.borrow_and_update() {
                return why;
            }
            if self.lost.changed().await.is_err() {
                // The renewal loop is gone: with_lease has returned.
                return LeaseLost::Released;
            }
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Renews until the lease is lost; returns why.
async fn keep_renewed<L: Lease + ?Sized + 'static>(
    lease: HeldLease<L>,
    lost_tx: watch::Sender<Option<LeaseLost>>,
) -> LeaseLost {
    let interval = lease.timing().holder_window() / 3;
    let why = loop {
        let Some(remaining) = lease.remaining() else {
            break lease.token().err().unwrap_or(LeaseLost::DeadlinePassed);
        };
        tokio::time::sleep(interval.min(remaining).max(Duration::from_millis(1))).await;
        let l = lease.clone();
        let mut renewal = pin!(blocking(move || l.renew()));
        // A renewal stuck in the backend must not outlive the safe deadline: the work is
        // cancelled when the deadline passes, whether or not the renewal has answered.
        let outcome = loop {
            let Some(left) = lease.remaining() else {
                break Some(lease.token().err().unwrap_or(LeaseLost::DeadlinePassed));
            };
            let timer = pin!(tokio::time::sleep(left));
            match select(renewal.as_mut(), timer).await {
                Either::Left((Some(Ok(())), _)) => break None,
                Either::Left((Some(Err(why)), _)) => break Some(why),
                Either::Left((None, _)) => break Some(LeaseLost::RenewalFailed),
                Either::Right(((), _)) => {}
            }
        };
        if let Some(why) = outcome {
            break why;
        }
    };
    let _ = lost_tx.send(Some(why));
    why
}

/// Acquires `resource`, runs `work` with a [`LeaseScope`], renewing the lease in the background
/// every third of the holder's window; releases the lease when the work finishes.
///
/// When a renewal fails or the safe deadline passes, the work's future is dropped (cancelled at
/// its next `.await`) and `Err(WithLeaseError::Lost)` is returned; work that must stop between
/// two awaits checks [`LeaseScope::check`]. The backend's blocking calls run on tokio's blocking
/// pool. The fencing token still guards the writes the work already sent.
///
/// # Errors
///
/// [`WithLeaseError::Acquire`] when the lease cannot be acquired, [`WithLeaseError::Lost`] when it
/// is lost while the work runs, [`WithLeaseError::Runtime`] when the runtime is shutting down.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use quorate_fencing::{LeaseClient, LeaseTiming, MemoryLease, with_lease};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
/// let client = LeaseClient::new(Arc::new(MemoryLease::new()), "worker-1",
///     LeaseTiming::new(Duration::from_millis(200))?);
/// let out = rt.block_on(with_lease(&client, "jobs/42", |scope| async move {
///     tokio::time::sleep(Duration::from_millis(300)).await; // outlives one ttl: renewed
///     scope.check().map(|t| t.get())
/// }))?;
/// assert_eq!(out, Ok(1));
/// # Ok(()) }
/// ```
pub async fn with_lease<L, F, Fut, T>(
    client: &LeaseClient<L>,
    resource: &str,
    work: F,
) -> Result<T, WithLeaseError>
where
    L: Lease + ?Sized + 'static,
    F: FnOnce(LeaseScope) -> Fut,
    Fut: Future<Output = T>,
{
    let (c, r) = (client.clone(), resource.to_owned());
    let lease = blocking(move || c.acquire(&r))
        .await
        .ok_or(WithLeaseError::Runtime)?
        .map_err(WithLeaseError::Acquire)?;
    let (lost_tx, lost_rx) = watch::channel(None);
    let checker = lease.clone();
    let scope = LeaseScope {
        token: lease.grant().token,
        check: std::sync::Arc::new(move || checker.token()),
        lost: lost_rx,
    };
    let work = pin!(work(scope));
    let renewal = pin!(keep_renewed(lease.clone(), lost_tx));
    match select(work, renewal).await {
        Either::Left((out, _renewal)) => {
            let l = lease.clone();
            let _ = blocking(move || l.release()).await;
            Ok(out)
        }
        Either::Right((why, _work)) => Err(WithLeaseError::Lost(why)),
    }
}
