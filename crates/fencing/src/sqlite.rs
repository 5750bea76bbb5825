//! SQLite backends: a durable issuer and a lease, on one file shared by the processes of a machine.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use quorate_clocks::{BootClock, MonotonicClock};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::__private::crash_point;
use crate::error::{IssueError, LeaseError, StoreError, check_name};
use crate::issuer::TokenIssuer;
use crate::lease::{Grant, Lease, LeaseRecord, ReleaseOutcome, hold_nanos};
use crate::sync::std_lock;
use crate::token::FencingToken;

const ISSUER_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS quorate_fencing_issuer (
    resource TEXT PRIMARY KEY NOT NULL,
    highest INTEGER NOT NULL
)";

const LEASE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS quorate_fencing_leases (
    resource TEXT PRIMARY KEY NOT NULL,
    token INTEGER NOT NULL,
    holder TEXT,
    granted_ns INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL
)";

fn store(e: rusqlite::Error) -> StoreError {
    StoreError::new(e)
}

/// Opens `path` in WAL mode with `synchronous = FULL` (a committed token survives power loss)
/// and a 5 s busy timeout (other processes may hold the write lock).
fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(store)?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5)).map_err(store)?;
    // `journal_mode` answers with a row; in-memory databases answer "memory".
    let _: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(store)?;
    conn.execute_batch("PRAGMA synchronous = FULL")
        .map_err(store)
}

/// A non-negative integer column, or a description of what is there instead.
fn stored_u64(v: ValueRef<'_>) -> Result<u64, String> {
    match v {
        ValueRef::Integer(i) => u64::try_from(i).map_err(|_| format!("negative integer {i}")),
        ValueRef::Null => Err("null".to_owned()),
        ValueRef::Real(_) => Err("a real number".to_owned()),
        ValueRef::Text(_) => Err("text".to_owned()),
        ValueRef::Blob(_) => Err("a blob".to_owned()),
    }
}

/// A durable [`TokenIssuer`] on SQLite: the high-water mark of each resource is committed (in a
/// `BEGIN IMMEDIATE` transaction, `synchronous = FULL`) before the token is returned, so a
/// restarted issuer, or another process on the same file, never issues it again.
///
/// ```
/// use quorate_fencing::{SqliteIssuer, TokenIssuer};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("qf-doc-issuer-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("tokens.db");
/// let first = SqliteIssuer::open(&path)?.issue("jobs")?;
/// let second = SqliteIssuer::open(&path)?.issue("jobs")?; // after a "restart"
/// assert!(second > first);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
pub struct SqliteIssuer {
    conn: Mutex<Connection>,
}

impl SqliteIssuer {
    /// Opens (creating if needed) the issuer in the SQLite file at `path`.
    ///
    /// # Errors
    ///
    /// [`IssueError::Store`] when the file cannot be opened or the table created.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("qf-doc-open-{}.db", std::process::id()));
    /// let issuer = quorate_fencing::SqliteIssuer::open(&path).unwrap();
    /// # drop(issuer); let _ = std::fs::remove_file(&path);
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, IssueError> {
        Self::from_connection(open(path.as_ref())?)
    }

    /// The issuer on an open connection (configured like [`open`](Self::open) does).
    ///
    /// # Errors
    ///
    /// [`IssueError::Store`] when the connection cannot be configured or the table created.
    ///
    /// ```
    /// use quorate_fencing::{SqliteIssuer, TokenIssuer};
    /// let issuer = SqliteIssuer::from_connection(rusqlite::Connection::open_in_memory().unwrap()).unwrap();
    /// assert_eq!(issuer.issue("r").unwrap().get(), 1);
    /// ```
    pub fn from_connection(conn: Connection) -> Result<Self, IssueError> {
        configure(&conn)?;
        conn.execute_batch(ISSUER_SCHEMA).map_err(store)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn read(conn: &Connection, resource: &str) -> Result<Option<u64>, IssueError> {
        let raw = conn
            .query_row(
                "SELECT highest FROM quorate_fencing_issuer WHERE resource = ?1",
                [resource],
                |r| Ok(stored_u64(r.get_ref(0)?)),
            )
            .optional()
            .map_err(store)?;
        match raw {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v)),
            Some(Err(what)) => Err(IssueError::Corrupt {
                resource: resource.to_owned(),
                detail: format!("high-water mark is {what}"),
            }),
        }
    }
}

impl TokenIssuer for SqliteIssuer {
    fn issue(&self, resource: &str) -> Result<FencingToken, IssueError> {
        check_name(resource)?;
        let mut conn = std_lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store)?;
        crash_point("sqlite_issuer.begun");
        let current = Self::read(&tx, resource)?.unwrap_or(0);
        let next = current
            .checked_add(1)
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| IssueError::Exhausted {
                resource: resource.to_owned(),
            })?;
        tx.execute(
            "INSERT INTO quorate_fencing_issuer (resource, highest) VALUES (?1, ?2)
             ON CONFLICT (resource) DO UPDATE SET highest = excluded.highest",
            params![resource, next],
        )
        .map_err(store)?;
        crash_point("sqlite_issuer.written");
        tx.commit().map_err(store)?;
        crash_point("sqlite_issuer.committed");
        Ok(FencingToken::new(next.unsigned_abs()))
    }

    fn highest(&self, resource: &str) -> Result<Option<FencingToken>, IssueError> {
        check_name(resource)?;
        let conn = std_lock(&self.conn);
        Ok(Self::read(&conn, resource)?.map(FencingToken::new))
    }
}

impl fmt::Debug for SqliteIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteIssuer").finish_non_exhaustive()
    }
}

/// A row of the lease table.
struct LeaseRow {
    token: u64,
    holder: Option<String>,
    granted_ns: u64,
    expires_ns: u64,
}

impl LeaseRow {
    fn live_at(&self, now: u64) -> bool {
        // A clock reading before the grant means the machine rebooted (the boot clock restarted):
        // the holder died with the boot.
        self.holder.is_some() && self.granted_ns <= now && now < self.expires_ns
    }
}

/// A [`Lease`] on SQLite, for the processes of one machine sharing a database file.
///
/// The grantor's clock is a machine-wide monotonic clock ([`BootClock`], `CLOCK_BOOTTIME`, by
/// default): every process on the machine reads the same one, it does not jump with the wall
/// clock and keeps counting through suspend. A stored grant time later than the clock means the
/// machine rebooted since, and the lease counts as expired. Each operation is one `BEGIN
/// IMMEDIATE` transaction; the token (the resource's grant count) is committed before `acquire`
/// returns and is kept on release, so tokens are never reused.
///
/// ```
/// use std::time::Duration;
/// use quorate_fencing::{Lease, SqliteLease};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let leases = SqliteLease::from_connection(rusqlite::Connection::open_in_memory()?)?;
/// let g = leases.acquire("scheduler", "node-a", Duration::from_secs(10))?;
/// assert!(leases.acquire("scheduler", "node-b", Duration::from_secs(10)).is_err());
/// leases.release(&g)?;
/// assert!(leases.acquire("scheduler", "node-b", Duration::from_secs(10))?.token > g.token);
/// # Ok(()) }
/// ```
pub struct SqliteLease<C = BootClock> {
    conn: Mutex<Connection>,
    clock: C,
}

impl SqliteLease<BootClock> {
    /// Opens (creating if needed) the lease table in the SQLite file at `path`.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Store`] when the file cannot be opened or the table created.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("qf-doc-lease-{}.db", std::process::id()));
    /// let leases = quorate_fencing::SqliteLease::open(&path).unwrap();
    /// # drop(leases); let _ = std::fs::remove_file(&path);
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LeaseError> {
        Self::from_connection_with_clock(open(path.as_ref())?, BootClock)
    }

    /// The lease on an open connection.
    ///
    /// # Errors
    ///
    /// [`LeaseError::Store`] when the connection cannot be configured or the table created.
    ///
    /// ```
    /// let leases = quorate_fencing::SqliteLease::from_connection(
    ///     rusqlite::Connection::open_in_memory().unwrap()).unwrap();
    /// ```
    pub fn from_connection(conn: Connection) -> Result<Self, LeaseError> {
        Self::from_connection_with_clock(conn, BootClock)
    }
}

impl<C: MonotonicClock> SqliteLease<C> {
    /// The lease on an open connection, timing on `clock`, which must read the same time in
    /// every process sharing the file ([`BootClock`] does; a
    /// [`ManualClock`](quorate_clocks::ManualClock) shared in one test process does).
    ///
    /// # Errors
    ///
    /// [`LeaseError::Store`] when the connection cannot be configured or the table created.
    ///
    /// ```
    /// use quorate_clocks::ManualClock;
    /// let leases = quorate_fencing::SqliteLease::from_connection_with_clock(
    ///     rusqlite::Connection::open_in_memory().unwrap(), ManualClock::new(0)).unwrap();
    /// ```
    pub fn from_connection_with_clock(conn: Connection, clock: C) -> Result<Self, LeaseError> {
        configure(&conn)?;
        conn.execute_batch(LEASE_SCHEMA).map_err(store)?;
        Ok(Self {
            conn: Mutex::new(conn),
            clock,
        })
    }

    fn now(&self) -> Result<u64, LeaseError> {
        let now = self.clock.now_nanos();
        // Stored as INTEGER: must fit i64 (292 years of uptime).
        i64::try_from(now).map_err(|_| LeaseError::InvalidHold)?;
        Ok(now)
    }

    fn read(conn: &Connection, resource: &str) -> Result<Option<LeaseRow>, LeaseError> {
        type Raw = (
            Result<u64, String>,
            Option<String>,
            Result<u64, String>,
            Result<u64, String>,
        );
        let raw: Option<Raw> = conn
            .query_row(
                "SELECT token, holder, granted_ns, expires_ns FROM quorate_fencing_leases
                 WHERE resource = ?1",
                [resource],
                |r| {
                    let holder = match r.get_ref(1)? {
                        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                        _ => None,
                    };
                    Ok((
                        stored_u64(r.get_ref(0)?),
                        holder,
                        stored_u64(r.get_ref(2)?),
                        stored_u64(r.get_ref(3)?),
                    ))
                },
            )
            .optional()
            .map_err(store)?;
        let Some((token, holder, granted, expires)) = raw else {
            return Ok(None);
        };
        let corrupt = |what: &str, e: String| LeaseError::Corrupt {
            resource: resource.to_owned(),
            detail: format!("{what} is {e}"),
        };
        Ok(Some(LeaseRow {
            token: token.map_err(|e| corrupt("token", e))?,
            holder,
            granted_ns: granted.map_err(|e| corrupt("grant time", e))?,
            expires_ns: expires.map_err(|e| corrupt("expiry", e))?,
        }))
    }
}

fn to_i64(v: u64) -> Result<i64, LeaseError> {
    i64::try_from(v).map_err(|_| LeaseError::InvalidHold)
}

impl<C: MonotonicClock> Lease for SqliteLease<C> {
    fn acquire(&self, resource: &str, holder: &str, hold: Duration) -> Result<Grant, LeaseError> {
        check_name(resource)?;
        check_name(holder)?;
        let hold_ns = hold_nanos(hold)?;
        let mut conn = std_lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store)?;
        let now = self.now()?;
        let row = Self::read(&tx, resource)?;
        let last = match &row {
            Some(r) if r.live_at(now) => {
                return Err(LeaseError::Held {
                    resource: resource.to_owned(),
                    holder: r.holder.clone().unwrap_or_default(),
                    token: FencingToken::new(r.token),
                });
            }
            Some(r) => r.token,
            None => 0,
        };
        let token = last
            .checked_add(1)
            .filter(|&t| i64::try_from(t).is_ok())
            .ok_or_else(|| LeaseError::Exhausted {
                resource: resource.to_owned(),
            })?;
        tx.execute(
            "INSERT INTO quorate_fencing_leases (resource, token, holder, granted_ns, expires_ns)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (resource) DO UPDATE SET token = excluded.token, holder = excluded.holder,
                 granted_ns = excluded.granted_ns, expires_ns = excluded.expires_ns",
            params![
                resource,
                to_i64(token)?,
                holder,
                to_i64(now)?,
                to_i64(now.saturating_add(hold_ns).min(i64::MAX.unsigned_abs()))?
            ],
        )
        .map_err(store)?;
        crash_point("sqlite_lease.written");
        tx.commit().map_err(store)?;
        crash_point("sqlite_lease.committed");
        Ok(Grant::new(
            resource,
            holder,
            FencingToken::new(token),
            hold,
            0,
        ))
    }

    fn renew(&self, grant: &Grant) -> Result<(), LeaseError> {
        let hold_ns = hold_nanos(grant.hold)?;
        let mut conn = std_lock(&self.conn);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(store)?;
        let now = self.now()?;
        match Self::read(&tx, &grant.resource)? {
            Some(r)
                if r.token == grant.token.get()
                    && r.holder.as_deref() == Some(grant.holder.as_str())
                    && r.live_at(now) =>
            {
                tx.execute(
                    "UPDATE quorate_fencing_leases SET granted_ns = ?2, expires_ns = ?3
                     WHERE resource = ?1",
                    params![
                        grant.resource,
                        to_i64(now)?,
                        to_i64(now.saturating_add(hold_ns).min(i64::MAX.unsigned_abs()))?
                    ],
                )
                .map_err(store)?;
                tx.commit().map_err(store)?;
                Ok(())
            }
            _ => Err(LeaseError::Expired {
                resource: grant.resource.clone(),
                token: grant.token,
            }),
        }
    }

    fn release(&self, grant: &Grant) -> Result<ReleaseOutcome, LeaseError> {
        let token = match i64::try_from(grant.token.get()) {
            Ok(t) => t,
            Err(_) => return Ok(ReleaseOutcome::NotHeld),
        };
        let conn = std_lock(&self.conn);
        let n = conn
            .execute(
                "UPDATE quorate_fencing_leases SET holder = NULL
                 WHERE resource = ?1 AND token = ?2 AND holder IS NOT NULL",
                params![grant.resource, token],
            )
            .map_err(store)?;
        Ok(if n > 0 {
            ReleaseOutcome::Released
        } else {
            ReleaseOutcome::NotHeld
        })
    }

    fn current(&self, resource: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        check_name(resource)?;
        let conn = std_lock(&self.conn);
        let now = self.now()?;
        Ok(Self::read(&conn, resource)?
            .filter(|r| r.live_at(now))
            .map(|r| LeaseRecord::new(r.holder.unwrap_or_default(), FencingToken::new(r.token))))
    }
}

impl<C> fmt::Debug for SqliteLease<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteLease").finish_non_exhaustive()
    }
}
