//! PostgreSQL backends: a durable issuer and a lease timed by the database's clock.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use postgres::{Client, NoTls, Statement};

use crate::__private::crash_point;
use crate::error::{IssueError, LeaseError, StoreError, check_name};
use crate::issuer::TokenIssuer;
use crate::lease::{Grant, Lease, LeaseRecord, ReleaseOutcome, hold_nanos};
use crate::sync::std_lock;
use crate::token::FencingToken;

/// The advisory lock key serialising schema creation between concurrent first connections.
const SCHEMA_LOCK: i64 = 0x7175_6f72_6174_6566; // "quoratef"

const ISSUER_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS quorate_fencing_issuer (
    resource TEXT PRIMARY KEY NOT NULL,
    highest BIGINT NOT NULL
)";

const LEASE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS quorate_fencing_leases (
    resource TEXT PRIMARY KEY NOT NULL,
    token BIGINT NOT NULL,
    holder TEXT,
    expires_at TIMESTAMPTZ NOT NULL
)";

fn store(e: postgres::Error) -> StoreError {
    StoreError::new(e)
}

fn ensure_schema(client: &mut Client, ddl: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(store)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(store)?;
    tx.batch_execute(ddl).map_err(store)?;
    tx.commit().map_err(store)
}

fn connect(params: &str) -> Result<Client, StoreError> {
    Client::connect(params, NoTls).map_err(store)
}

/// A durable [`TokenIssuer`] on PostgreSQL: one `INSERT … ON CONFLICT DO UPDATE … RETURNING`
/// raises the resource's high-water mark, committed before the token is returned, so concurrent
/// issuers on any number of connections, and restarted ones, never issue a token twice.
///
/// ```no_run
/// use quorate_fencing::{PgIssuer, TokenIssuer};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = PgIssuer::connect("host=/var/run/postgresql user=postgres dbname=app")?;
/// let a = issuer.issue("jobs")?;
/// assert!(issuer.issue("jobs")? > a);
/// # Ok(()) }
/// ```
pub struct PgIssuer {
    client: Mutex<Client>,
}

impl PgIssuer {
    /// Connects (without TLS) with libpq-style `params` and creates the table if needed.
    ///
    /// # Errors
    ///
    /// [`IssueError::Store`] when the connection or the table creation fails.
    ///
    /// ```no_run
    /// let _ = quorate_fencing::PgIssuer::connect("host=localhost user=postgres");
    /// ```
    pub fn connect(params: &str) -> Result<Self, IssueError> {
        Self::from_client(connect(params)?)
    }

    /// The issuer on a connected client; creates the table if needed.
    ///
    /// # Errors
    ///
    /// [`IssueError::Store`] when the table creation fails.
    ///
    /// ```no_run
    /// let client = postgres::Client::connect("host=localhost user=postgres", postgres::NoTls).unwrap();
    /// let _ = quorate_fencing::PgIssuer::from_client(client);
    /// ```
    pub fn from_client(mut client: Client) -> Result<Self, IssueError> {
        ensure_schema(&mut client, ISSUER_SCHEMA)?;
        Ok(Self {
            client: Mutex::new(client),
        })
    }
}

fn corrupt_issue(resource: &str, detail: String) -> IssueError {
    IssueError::Corrupt {
        resource: resource.to_owned(),
        detail,
    }
}

impl TokenIssuer for PgIssuer {
    fn issue(&self, resource: &str) -> Result<FencingToken, IssueError> {
        check_name(resource)?;
        let mut client = std_lock(&self.client);
        let mut tx = client.transaction().map_err(store)?;
        crash_point("pg_issuer.begun");
        let row = tx
            .query_opt(
                "INSERT INTO quorate_fencing_issuer AS i (resource, highest) VALUES ($1, 1)
                 ON CONFLICT (resource) DO UPDATE SET highest = i.highest + 1
                 WHERE i.highest < 9223372036854775807
                 RETURNING highest",
                &[&resource],
            )
            .map_err(store)?;
        let Some(row) = row else {
            return Err(IssueError::Exhausted {
                resource: resource.to_owned(),
            });
        };
        let v: i64 = row
            .try_get(0)
            .map_err(|e| corrupt_issue(resource, e.to_string()))?;
        // A stored negative mark turns into a non-positive token: refuse (the transaction rolls
        // back when dropped).
        let token = u64::try_from(v)
            .ok()
            .filter(|&t| t > 0)
            .ok_or_else(|| corrupt_issue(resource, format!("high-water mark was {}", v - 1)))?;
        crash_point("pg_issuer.written");
        tx.commit().map_err(store)?;
        crash_point("pg_issuer.committed");
        Ok(FencingToken::new(token))
    }

    fn highest(&self, resource: &str) -> Result<Option<FencingToken>, IssueError> {
        check_name(resource)?;
        let mut client = std_lock(&self.client);
        let row = client
            .query_opt(
                "SELECT highest FROM quorate_fencing_issuer WHERE resource = $1",
                &[&resource],
            )
            .map_err(store)?;
        let Some(row) = row else { return Ok(None) };
        let v: i64 = row
            .try_get(0)
            .map_err(|e| corrupt_issue(resource, e.to_string()))?;
        u64::try_from(v)
            .map(|t| Some(FencingToken::new(t)))
            .map_err(|_| corrupt_issue(resource, format!("high-water mark is {v}")))
    }
}

impl fmt::Debug for PgIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgIssuer").finish_non_exhaustive()
    }
}

/// A [`Lease`] on PostgreSQL whose clock is the database server's `clock_timestamp()`.
///
/// Every decision (is the lease live, when does it expire) is made inside one SQL statement on
/// the server's clock; the client's wall clock is never read, so clients with skewed clocks agree.
/// The holder's own safety comes from [`LeaseClient`](crate::LeaseClient)'s monotonic window.
/// Tokens are the resource's grant count, committed before `acquire` returns and kept on release.
/// Each operation is one prepared statement (acquire is an `INSERT … ON CONFLICT DO UPDATE …
/// WHERE expired RETURNING token`, atomic under the row lock). Holds are rounded up to whole
/// microseconds.
///
/// ```no_run
/// use std::time::Duration;
/// use quorate_fencing::{Lease, PgLease};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let leases = PgLease::connect("host=/var/run/postgresql user=postgres dbname=app")?;
/// let g = leases.acquire("scheduler", "node-a", Duration::from_secs(10))?;
/// leases.renew(&g)?;
/// leases.release(&g)?;
/// # Ok(()) }
/// ```
pub struct PgLease {
    conn: Mutex<LeaseConn>,
}

/// The connection and its statements, prepared once (each saves a round trip per call).
struct LeaseConn {
    client: Client,
    acquire: Statement,
    holder: Statement,
    renew: Statement,
    release: Statement,
    current: Statement,
}

/// Grants a free or expired resource in one statement, on the server's clock. A negative stored
/// token (a corrupt row) or one at the maximum matches nothing and is reported after a read.
const ACQUIRE: &str =
    "INSERT INTO quorate_fencing_leases AS l (resource, token, holder, expires_at)
     VALUES ($1, 1, $2, clock_timestamp() + $3::bigint * interval '1 microsecond')
     ON CONFLICT (resource) DO UPDATE
         SET token = l.token + 1, holder = excluded.holder,
             expires_at = clock_timestamp() + $3::bigint * interval '1 microsecond'
         WHERE (l.holder IS NULL OR l.expires_at <= clock_timestamp())
           AND l.token >= 0 AND l.token < 9223372036854775807
     RETURNING token";
const HOLDER: &str = "SELECT token, holder FROM quorate_fencing_leases WHERE resource = $1";
const RENEW: &str = "UPDATE quorate_fencing_leases
     SET expires_at = clock_timestamp() + $3::bigint * interval '1 microsecond'
     WHERE resource = $1 AND token = $2 AND holder = $4 AND expires_at > clock_timestamp()";
const RELEASE: &str = "UPDATE quorate_fencing_leases SET holder = NULL
     WHERE resource = $1 AND token = $2 AND holder IS NOT NULL";
const CURRENT: &str = "SELECT token, holder FROM quorate_fencing_leases
     WHERE resource = $1 AND holder IS NOT NULL AND expires_at > clock_timestamp()";

impl PgLease {
    /// Connects (without TLS) with libpq-style `params` and creates the table if needed.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Store`] when the connection or the table creation fails.
    ///
    /// ```no_run
    /// let _ = quorate_fencing::PgLease::connect("host=localhost user=postgres");
    /// ```
    pub fn connect(params: &str) -> Result<Self, LeaseError> {
        Self::from_client(connect(params)?)
    }

    /// The lease backend on a connected client; creates the table if needed.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Store`] when the table creation fails.
    ///
    /// ```no_run
    /// let client = postgres::Client::connect("host=localhost user=postgres", postgres::NoTls).unwrap();
    /// let _ = quorate_fencing::PgLease::from_client(client);
    /// ```
    pub fn from_client(mut client: Client) -> Result<Self, LeaseError> {
        ensure_schema(&mut client, LEASE_SCHEMA)?;
        let mut prepare = |sql: &str| client.prepare(sql).map_err(store);
        let (acquire, holder, renew, release, current) = (
            prepare(ACQUIRE)?,
            prepare(HOLDER)?,
            prepare(RENEW)?,
            prepare(RELEASE)?,
            prepare(CURRENT)?,
        );
        Ok(Self {
            conn: Mutex::new(LeaseConn {
                client,
                acquire,
                holder,
                renew,
                release,
                current,
            }),
        })
    }
}

fn hold_micros(hold: Duration) -> Result<i64, LeaseError> {
    let ns = hold_nanos(hold)?;
    i64::try_from(ns.div_ceil(1_000)).map_err(|_| LeaseError::InvalidHold)
}

fn corrupt(resource: &str, detail: String) -> LeaseError {
    LeaseError::Corrupt {
        resource: resource.to_owned(),
        detail,
    }
}

fn stored_token(
    resource: &str,
    row: &postgres::Row,
    idx: usize,
) -> Result<FencingToken, LeaseError> {
    let v: i64 = row
        .try_get(idx)
        .map_err(|e| corrupt(resource, e.to_string()))?;
    u64::try_from(v)
        .map(FencingToken::new)
        .map_err(|_| corrupt(resource, format!("token is {v}")))
}

impl Lease for PgLease {
    fn acquire(&self, resource: &str, holder: &str, hold: Duration) -> Result<Grant, LeaseError> {
        check_name(resource)?;
        check_name(holder)?;
        let micros = hold_micros(hold)?;
        let mut guard = std_lock(&self.conn);
        let conn = &mut *guard;
        let row = conn
            .client
            .query_opt(&conn.acquire, &[&resource, &holder, &micros])
            .map_err(store)?;
        if let Some(row) = row {
            // Committed (one autocommit statement) before the token is returned.
            crash_point("pg_lease.committed");
            let token = stored_token(resource, &row, 0)?;
            return Ok(Grant::new(resource, holder, token, hold, 0));
        }
        let current = conn
            .client
            .query_opt(&conn.holder, &[&resource])
            .map_err(store)?;
        match current {
            Some(r) => {
                let token = stored_token(resource, &r, 0)?;
                if token == FencingToken::new(i64::MAX.unsigned_abs()) {
                    return Err(LeaseError::Exhausted {
                        resource: resource.to_owned(),
                    });
                }
                let holder: Option<String> =
                    r.try_get(1).map_err(|e| corrupt(resource, e.to_string()))?;
                Err(LeaseError::Held {
                    resource: resource.to_owned(),
                    holder: holder.unwrap_or_default(),
                    token,
                })
            }
            None => Err(LeaseError::Held {
                resource: resource.to_owned(),
                holder: String::new(),
                token: FencingToken::ZERO,
            }),
        }
    }

    fn renew(&self, grant: &Grant) -> Result<(), LeaseError> {
        let micros = hold_micros(grant.hold)?;
        let expired = || LeaseError::Expired {
            resource: grant.resource.clone(),
            token: grant.token,
        };
        let Ok(token) = i64::try_from(grant.token.get()) else {
            return Err(expired());
        };
        let mut guard = std_lock(&self.conn);
        let conn = &mut *guard;
        let n = conn
            .client
            .execute(
                &conn.renew,
                &[&grant.resource, &token, &micros, &grant.holder],
            )
            .map_err(store)?;
        if n == 1 { Ok(()) } else { Err(expired()) }
    }

    fn release(&self, grant: &Grant) -> Result<ReleaseOutcome, LeaseError> {
        let Ok(token) = i64::try_from(grant.token.get()) else {
            return Ok(ReleaseOutcome::NotHeld);
        };
        let mut guard = std_lock(&self.conn);
        let conn = &mut *guard;
        let n = conn
            .client
            .execute(&conn.release, &[&grant.resource, &token])
            .map_err(store)?;
        Ok(if n > 0 {
            ReleaseOutcome::Released
        } else {
            ReleaseOutcome::NotHeld
        })
    }

    fn current(&self, resource: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        check_name(resource)?;
        let mut guard = std_lock(&self.conn);
        let conn = &mut *guard;
        let row = conn
            .client
            .query_opt(&conn.current, &[&resource])
            .map_err(store)?;
        let Some(row) = row else { return Ok(None) };
        let token = stored_token(resource, &row, 0)?;
        let holder: String = row
            .try_get(1)
            .map_err(|e| corrupt(resource, e.to_string()))?;
        Ok(Some(LeaseRecord::new(holder, token)))
    }
}

impl fmt::Debug for PgLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLease").finish_non_exhaustive()
    }
}
