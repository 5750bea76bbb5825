//! The etcd backend: an etcd lease with keep-alive, the holder key written only if absent, the
//! key's create revision as the token (etcd's election recipe).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, PutOptions, Txn, TxnOp, TxnOpResponse,
};
use tokio::runtime::Runtime;

use crate::error::{LeaseError, StoreError, check_name};
use crate::lease::{Grant, Lease, LeaseRecord, ReleaseOutcome, hold_nanos};
use crate::token::FencingToken;

/// How long one etcd call may take, unless configured otherwise.
pub const DEFAULT_ETCD_TIMEOUT: Duration = Duration::from_secs(3);

fn store(e: etcd_client::Error) -> LeaseError {
    LeaseError::Store(StoreError::new(e))
}

#[derive(Debug, thiserror::Error)]
#[error("etcd call timed out after {0:?}")]
struct TimedOut(Duration);

/// A [`Lease`] on an etcd cluster, following etcd's election recipe.
///
/// - **acquire** grants an etcd lease of `ceil(hold)` seconds, then, in one transaction, puts the
///   holder key `<prefix><resource>` (value: the holder's name) attached to that lease *only if
///   the key does not exist* (`create_revision == 0`). The token is the key's create revision:
///   etcd's Raft log makes revisions strictly increasing cluster-wide, so every grant of every
///   resource gets a larger token than all before it, across leader changes and restarts.
/// - **renew** sends one keep-alive for the lease and checks that the key still has the grant's
///   create revision.
/// - **release** deletes the key in a transaction that compares its create revision with the
///   token, so a stale release never removes a newer holder's key, then revokes the lease.
///
/// The grantor's clock is the etcd leader's lease timer; on a leader change etcd extends the
/// remaining TTLs, never shortens them, which errs on the safe side. etcd raises TTLs below its
/// minimum (1.5 × election timeout); the [`Grant`]'s `hold` reports what it granted.
///
/// The client is async (tonic); this type drives it on its own single-threaded tokio runtime,
/// so its methods block and must not be called from inside an async task (use
/// `tokio::task::spawn_blocking`, as `with_lease` does). Each call is bounded by a timeout.
///
/// ```no_run
/// use std::time::Duration;
/// use quorate_fencing::{EtcdLease, Lease};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let leases = EtcdLease::connect(&["http://127.0.0.1:2379"], "/locks/")?;
/// let g = leases.acquire("scheduler", "node-a", Duration::from_secs(5))?;
/// println!("token (create revision): {}", g.token);
/// leases.renew(&g)?;
/// leases.release(&g)?;
/// # Ok(()) }
/// ```
pub struct EtcdLease {
    client: Client,
    runtime: Runtime,
    prefix: String,
    timeout: Duration,
}

impl EtcdLease {
    /// Connects to `endpoints` (client URLs), holder keys under `prefix`.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Store`] when the runtime cannot start or no endpoint answers in time.
    ///
    /// ```no_run
    /// let leases = quorate_fencing::EtcdLease::connect(&["http://127.0.0.1:2379"], "/locks/");
    /// ```
    pub fn connect<E: AsRef<str>>(endpoints: &[E], prefix: &str) -> Result<Self, LeaseError> {
        Self::connect_with_timeout(endpoints, prefix, DEFAULT_ETCD_TIMEOUT)
    }

    /// [`connect`](Self::connect) with a per-call timeout.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let leases = quorate_fencing::EtcdLease::connect_with_timeout(
    ///     &["http://127.0.0.1:2379"], "/locks/", Duration::from_millis(500));
    /// ```
    pub fn connect_with_timeout<E: AsRef<str>>(
        endpoints: &[E],
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, LeaseError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LeaseError::Store(StoreError::new(e)))?;
        let endpoints: Vec<String> = endpoints.iter().map(|e| e.as_ref().to_owned()).collect();
        let options = ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_timeout(timeout);
        let client = runtime
            .block_on(async {
                tokio::time::timeout(timeout, Client::connect(endpoints, Some(options))).await
            })
            .map_err(|_| LeaseError::Store(StoreError::new(TimedOut(timeout))))?
            .map_err(store)?;
        Ok(Self {
            client,
            runtime,
            prefix: prefix.to_owned(),
            timeout,
        })
    }

    fn key(&self, resource: &str) -> String {
        format!("{}{}", self.prefix, resource)
    }

    fn run<T>(&self, f: impl Future<Output = Result<T, LeaseError>>) -> Result<T, LeaseError> {
        self.runtime
            .block_on(async { tokio::time::timeout(self.timeout, f).await })
            .unwrap_or_else(|_| Err(LeaseError::Store(StoreError::new(TimedOut(self.timeout)))))
    }

    fn holder_of(resource: &str, kv: &etcd_client::KeyValue) -> Result<LeaseRecord, LeaseError> {
        let token = u64::try_from(kv.create_revision())
            .ok()
            .filter(|&t| t > 0)
            .ok_or_else(|| LeaseError::Corrupt {
                resource: resource.to_owned(),
                detail: format!("create revision {}", kv.create_revision()),
            })?;
        Ok(LeaseRecord::new(
            String::from_utf8_lossy(kv.value()).into_owned(),
            FencingToken::new(token),
        ))
    }
}

impl Lease for EtcdLease {
    fn acquire(&self, resource: &str, holder: &str, hold: Duration) -> Result<Grant, LeaseError> {
        check_name(resource)?;
        check_name(holder)?;
        let ns = hold_nanos(hold)?;
        let ttl = i64::try_from(ns.div_ceil(1_000_000_000)).map_err(|_| LeaseError::InvalidHold)?;
        let key = self.key(resource);
        let mut client = self.client.clone();
        self.run(async move {
            let granted = client.lease_grant(ttl, None).await.map_err(store)?;
            let (id, granted_ttl) = (granted.id(), granted.ttl());
            let txn = Txn::new()
                .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(
                    key.as_str(),
                    holder,
                    Some(PutOptions::new().with_lease(id)),
                )])
                .or_else([TxnOp::get(key.as_str(), None)]);
            let resp = match client.txn(txn).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = client.lease_revoke(id).await;
                    return Err(store(e));
                }
            };
            if resp.succeeded() {
                // The put created the key at the transaction's revision.
                let revision = resp.header().map_or(0, |h| h.revision());
                let token = u64::try_from(revision)
                    .ok()
                    .filter(|&t| t > 0)
                    .ok_or_else(|| LeaseError::Corrupt {
                        resource: resource.to_owned(),
                        detail: format!("transaction revision {revision}"),
                    })?;
                let hold = Duration::from_secs(granted_ttl.max(ttl).unsigned_abs());
                let handle = id.unsigned_abs();
                return Ok(Grant::new(
                    resource,
                    holder,
                    FencingToken::new(token),
                    hold,
                    handle,
                ));
            }
            // Held: our lease is unused.
            let _ = client.lease_revoke(id).await;
            let current = resp.op_responses().into_iter().find_map(|op| match op {
                TxnOpResponse::Get(g) => g.kvs().first().cloned(),
                _ => None,
            });
            match current {
                Some(kv) => {
                    let rec = Self::holder_of(resource, &kv)?;
                    Err(LeaseError::Held {
                        resource: resource.to_owned(),
                        holder: rec.holder,
                        token: rec.token,
                    })
                }
                None => Err(LeaseError::Held {
                    resource: resource.to_owned(),
                    holder: String::new(),
                    token: FencingToken::ZERO,
                }),
            }
        })
    }

    fn renew(&self, grant: &Grant) -> Result<(), LeaseError> {
        let expired = || LeaseError::Expired {
            resource: grant.resource.clone(),
            token: grant.token,
        };
        let Ok(id) = i64::try_from(grant.handle) else {
            return Err(expired());
        };
        let key = self.key(&grant.resource);
        let mut client = self.client.clone();
        self.run(async move {
            // etcd answers a keep-alive of a lease it no longer has with "lease not found".
            let keep_alive = |e: etcd_client::Error| match e {
                etcd_client::Error::LeaseKeepAliveError(_) => expired(),
                e => store(e),
            };
            let (mut keeper, mut stream) = client.lease_keep_alive(id).await.map_err(keep_alive)?;
            keeper.keep_alive().await.map_err(keep_alive)?;
            let alive = stream.message().await.map_err(keep_alive)?;
            if alive.is_none_or(|r| r.ttl() <= 0) {
                return Err(expired());
            }
            let got = client.get(key.as_str(), None).await.map_err(store)?;
            match got.kvs().first() {
                Some(kv)
                    if u64::try_from(kv.create_revision()).ok() == Some(grant.token.get())
                        && kv.lease() == id
                        && kv.value() == grant.holder.as_bytes() =>
                {
                    Ok(())
                }
                _ => Err(expired()),
            }
        })
    }

    fn release(&self, grant: &Grant) -> Result<ReleaseOutcome, LeaseError> {
        let Ok(revision) = i64::try_from(grant.token.get()) else {
            return Ok(ReleaseOutcome::NotHeld);
        };
        let key = self.key(&grant.resource);
        let id = i64::try_from(grant.handle).ok();
        let mut client = self.client.clone();
        self.run(async move {
            let txn = Txn::new()
                .when([Compare::create_revision(
                    key.as_str(),
                    CompareOp::Equal,
                    revision,
                )])
                .and_then([TxnOp::delete(key.as_str(), None)]);
            let resp = client.txn(txn).await.map_err(store)?;
            if !resp.succeeded() {
                return Ok(ReleaseOutcome::NotHeld);
            }
            // The grant's lease held only this key: revoke it rather than let it run out. (Only
            // after a successful compare: a forged grant must not revoke someone's lease.)
            if let Some(id) = id.filter(|&id| id != 0) {
                let _ = client.lease_revoke(id).await;
            }
            Ok(ReleaseOutcome::Released)
        })
    }

    fn current(&self, resource: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        check_name(resource)?;
        let key = self.key(resource);
        let mut client = self.client.clone();
        self.run(async move {
            let got = client.get(key.as_str(), None).await.map_err(store)?;
            got.kvs()
                .first()
                .map(|kv| Self::holder_of(resource, kv))
                .transpose()
        })
    }
}

impl fmt::Debug for EtcdLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdLease")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
