//! The PostgreSQL store: durable keys shared by many servers, lock time from the database clock.
//!
//! # Schema
//!
//! [`migrate`] creates (version [`SCHEMA_VERSION`]):
//!
//! ```sql
//! CREATE TABLE quorate_idempotency_schema (version INTEGER NOT NULL);
//! CREATE TABLE quorate_idempotency (
//!     scope       TEXT     NOT NULL,
//!     key         TEXT     NOT NULL,
//!     fingerprint BYTEA    NOT NULL,  -- 32 bytes, SHA-256
//!     epoch       BIGINT   NOT NULL,  -- attempt epoch, >= 1
//!     state       SMALLINT NOT NULL,  -- 0 in progress, 1 succeeded, 2 failed-retryable, 3 failed-final
//!     lock_until  BIGINT   NOT NULL,  -- database-clock Unix nanoseconds
//!     expires_at  BIGINT   NOT NULL,  -- database-clock Unix nanoseconds
//!     phase       TEXT,
//!     phase_data  BYTEA,
//!     response    BYTEA,
//!     PRIMARY KEY (scope, key)
//! );
//! CREATE INDEX quorate_idempotency_expires ON quorate_idempotency (expires_at);
//! ```
//!
//! Every time is read from the server (`clock_timestamp()`), never from the application
//! host, so servers with skewed clocks agree on when a lock expires. A `begin` on a new key is
//! one `INSERT .. ON CONFLICT DO NOTHING`; on an existing key, one transaction reads the row
//! `FOR UPDATE` with the database time and writes the decision. `complete` and `checkpoint` are
//! one conditional `UPDATE` each, and have `_in` forms taking the caller's transaction.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use postgres::{GenericClient, Statement, ToStatement};
use quorate_fencing::FencingToken;

use crate::__private::crash_point;
use crate::error::{StoreError, check_phase};
use crate::machine::{Decision, Row, decide, stale};
use crate::store::IdempotencyStore;
use crate::types::{
    Attempt, Begin, Fingerprint, Outcome, Record, RecoveryPoint, State, StoreConfig, check_key,
};

/// The `postgres` driver this crate links, for the transactions given to
/// [`PgStore::checkpoint_in`] and [`PgStore::complete_in`].
pub use ::postgres;
/// The `tokio-postgres` driver this crate links, for [`AsyncPgStore`].
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use ::tokio_postgres;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

const DDL_V1: &str = "
CREATE TABLE quorate_idempotency (
    scope       TEXT     NOT NULL,
    key         TEXT     NOT NULL,
    fingerprint BYTEA    NOT NULL,
    epoch       BIGINT   NOT NULL,
    state       SMALLINT NOT NULL,
    lock_until  BIGINT   NOT NULL,
    expires_at  BIGINT   NOT NULL,
    phase       TEXT,
    phase_data  BYTEA,
    response    BYTEA,
    PRIMARY KEY (scope, key)
);
CREATE INDEX quorate_idempotency_expires ON quorate_idempotency (expires_at);
";

/// The database clock in Unix nanoseconds, plus the store's test offset (`$1`).
macro_rules! db_now {
    ($n:literal) => {
        concat!(
            "((extract(epoch from clock_timestamp()) * 1000000)::bigint * 1000 + $",
            $n,
            "::bigint)"
        )
    };
}

const INSERT_NEW: &str = concat!(
    "INSERT INTO quorate_idempotency (scope, key, fingerprint, epoch, state, lock_until, \
     expires_at) VALUES ($2, $3, $4, GREATEST(1, ",
    db_now!(1),
    "), 0, ",
    db_now!(1),
    " + $5, ",
    db_now!(1),
    " + $6) ON CONFLICT DO NOTHING RETURNING epoch"
);

const SELECT_FOR_UPDATE: &str = concat!(
    "SELECT fingerprint, epoch, state, lock_until, expires_at, phase, phase_data, response, ",
    db_now!(1),
    " FROM quorate_idempotency WHERE scope = $2 AND key = $3 FOR UPDATE"
);

const SELECT_ROW: &str = concat!(
    "SELECT fingerprint, epoch, state, lock_until, expires_at, phase, phase_data, response, ",
    db_now!(1),
    " FROM quorate_idempotency WHERE scope = $2 AND key = $3"
);

const UPDATE_FRESH: &str = "UPDATE quorate_idempotency SET fingerprint = $1, epoch = $2, \
     state = 0, lock_until = $3, expires_at = $4, phase = NULL, phase_data = NULL, \
     response = NULL WHERE scope = $5 AND key = $6";

const UPDATE_TAKEOVER: &str = "UPDATE quorate_idempotency SET epoch = $1, state = 0, \
     lock_until = $2, expires_at = $3, response = NULL WHERE scope = $4 AND key = $5";

const CHECKPOINT: &str = concat!(
    "UPDATE quorate_idempotency SET phase = $2, phase_data = $3, lock_until = ",
    db_now!(1),
    " + $4 WHERE scope = $5 AND key = $6 AND epoch = $7 AND state = 0"
);

// Completion leaves `expires_at` (set by the begin) alone: no index entry changes, so the
// update can stay on its page (a HOT update).
const COMPLETE_TERMINAL: &str = "UPDATE quorate_idempotency SET state = $1, response = $2, \
     phase = NULL, phase_data = NULL WHERE scope = $3 AND key = $4 AND epoch = $5 AND state = 0";

const COMPLETE_RELEASE: &str = "UPDATE quorate_idempotency SET state = 2 \
     WHERE scope = $1 AND key = $2 AND epoch = $3 AND state = 0";

const REAP: &str = concat!(
    "DELETE FROM quorate_idempotency WHERE (scope, key) IN (\
     SELECT scope, key FROM quorate_idempotency WHERE expires_at <= ",
    db_now!(1),
    " AND (state <> 0 OR lock_until <= ",
    db_now!(1),
    " OR lock_until - ",
    db_now!(1),
    " > $2) LIMIT $3 FOR UPDATE SKIP LOCKED)"
);

/// Creates or upgrades the schema to [`SCHEMA_VERSION`] in one transaction, serialised with
/// concurrent migrations by an advisory lock; returns the version now installed. Run it once
/// at deployment or start-up: the stores only check the version.
///
/// # Errors
///
/// [`StoreError::SchemaTooNew`] when a newer build migrated the database (nothing is
/// changed), and PostgreSQL failures.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut client = postgres::Client::connect("host=/run/postgresql user=app", postgres::NoTls)?;
/// assert_eq!(quorate_idempotency::postgres::migrate(&mut client)?, 1);
/// # Ok(())
/// # }
/// ```
pub fn migrate(client: &mut impl GenericClient) -> Result<u32, StoreError> {
    let mut tx = client.transaction()?;
    // 0x71756f7261746531: "quorate1", one lock for all quorate migrations.
    tx.execute("SELECT pg_advisory_xact_lock(8175477926716552497)", &[])?;
    let found = schema_version(&mut tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == 0 {
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS quorate_idempotency_schema (version INTEGER NOT NULL)",
        )?;
        tx.batch_execute(DDL_V1)?;
        tx.execute(
            "INSERT INTO quorate_idempotency_schema (version) VALUES ($1)",
            &[&i32::try_from(SCHEMA_VERSION).unwrap_or(i32::MAX)],
        )?;
    }
    tx.commit()?;
    Ok(SCHEMA_VERSION)
}

/// The installed schema version, 0 when there is none.
///
/// # Errors
///
/// PostgreSQL failures, and [`StoreError::Corrupt`] for a negative version.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut client = postgres::Client::connect("host=/run/postgresql user=app", postgres::NoTls)?;
/// let v = quorate_idempotency::postgres::schema_version(&mut client)?;
/// # let _ = v;
/// # Ok(())
/// # }
/// ```
pub fn schema_version(client: &mut impl GenericClient) -> Result<u32, StoreError> {
    let row = client.query_one(
        "SELECT to_regclass('quorate_idempotency_schema') IS NOT NULL",
        &[],
    )?;
    if !row.try_get::<_, bool>(0)? {
        return Ok(0);
    }
    let row = client.query_one("SELECT max(version) FROM quorate_idempotency_schema", &[])?;
    version_from(row.try_get::<_, Option<i32>>(0)?)
}

fn version_from(v: Option<i32>) -> Result<u32, StoreError> {
    let v = v.unwrap_or(0);
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        scope: String::new(),
        key: "quorate_idempotency_schema".to_owned(),
        reason: format!("schema version {v} out of range"),
    })
}

fn check_version(found: u32) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        return Err(StoreError::SchemaOutdated {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn int(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// Decodes a row of `SELECT_ROW`: the record and the database time, naming the key on damage.
fn decode_row(r: &postgres::Row, scope: &str, key: &str) -> Result<(Row, u64), StoreError> {
    let bad = |what: &str| StoreError::Corrupt {
        scope: scope.to_owned(),
        key: key.to_owned(),
        reason: what.to_owned(),
    };
    let fingerprint = r
        .try_get::<_, &[u8]>(0)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Fingerprint::from_bytes)
        .ok_or_else(|| bad("fingerprint is not 32 bytes"))?;
    let nonneg = |i: usize, what: &str| -> Result<u64, StoreError> {
        r.try_get::<_, i64>(i)
            .ok()
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| bad(what))
    };
    let epoch = nonneg(1, "epoch is not a non-negative integer")?;
    if epoch == 0 {
        return Err(bad("epoch is 0"));
    }
    let state = r
        .try_get::<_, i16>(2)
        .ok()
        .and_then(|v| State::from_code(i64::from(v)))
        .ok_or_else(|| bad("unknown state"))?;
    let lock_until = nonneg(3, "lock_until is not a non-negative integer")?;
    let expires_at = nonneg(4, "expires_at is not a non-negative integer")?;
    let phase = r
        .try_get::<_, Option<String>>(5)
        .map_err(|_| bad("phase is not text"))?;
    let phase_data = r
        .try_get::<_, Option<&[u8]>>(6)
        .map_err(|_| bad("phase_data is not bytes"))?;
    let response = r
        .try_get::<_, Option<&[u8]>>(7)
        .map_err(|_| bad("response is not bytes"))?
        .map(Bytes::copy_from_slice);
    let now = nonneg(8, "database clock before 1970")?;
    if matches!(state, State::Succeeded | State::FailedFinal) && response.is_none() {
        return Err(bad("terminal record without a response"));
    }
    let recovery = match (phase, phase_data) {
        (Some(p), d) => Some(RecoveryPoint::new(
            p,
            d.map(Bytes::copy_from_slice).unwrap_or_default(),
        )),
        (None, None) => None,
        (None, Some(_)) => return Err(bad("phase data without a phase")),
    };
    Ok((
        Row {
            fingerprint,
            epoch,
            state,
            lock_until,
            expires_at,
            response,
            recovery,
        },
        now,
    ))
}

/// The parameters of a begin, shared by the sync and async stores.
struct BeginParams {
    ttl: i64,
    retention: i64,
    offset: i64,
}

/// What the slow path of `begin` writes after reading the row.
enum Write {
    None,
    Insert,
    Fresh(u64),
    Takeover(u64),
}

/// The epoch `INSERT_NEW` returned (the database clock in nanoseconds, at least 1).
fn first_epoch_of(row: &postgres::Row, scope: &str, key: &str) -> Result<FencingToken, StoreError> {
    row.try_get::<_, i64>(0)
        .ok()
        .and_then(|e| u64::try_from(e).ok())
        .filter(|e| *e > 0)
        .map(FencingToken::new)
        .ok_or_else(|| StoreError::Corrupt {
            scope: scope.to_owned(),
            key: key.to_owned(),
            reason: "inserted epoch is not positive".to_owned(),
        })
}

/// Decides a begin on an existing (or vanished) row at database time `now`.
fn plan(
    row: Option<(Row, u64)>,
    fingerprint: &Fingerprint,
    ttl: u64,
    scope: &str,
    key: &str,
) -> Result<(Begin, Write, u64), StoreError> {
    let Some((row, now)) = row else {
        // The row vanished (reaped) after the insert found it: the caller inserts again.
        return Ok((Begin::FingerprintMismatch, Write::Insert, 0));
    };
    Ok(match decide(&row, fingerprint, now, now, ttl, key)? {
        Decision::Fresh { epoch } => (
            Begin::Execute(Attempt::new(scope, key, FencingToken::new(epoch), None)),
            Write::Fresh(epoch),
            now,
        ),
        Decision::Takeover { epoch } => (
            Begin::Execute(Attempt::new(
                scope,
                key,
                FencingToken::new(epoch),
                row.recovery,
            )),
            Write::Takeover(epoch),
            now,
        ),
        Decision::Replay(stored) => (Begin::Replay(stored), Write::None, now),
        Decision::InProgress { retry_after } => {
            (Begin::InProgress { retry_after }, Write::None, now)
        }
        Decision::Mismatch => (Begin::FingerprintMismatch, Write::None, now),
    })
}

/// A durable [`IdempotencyStore`] on PostgreSQL, over a small pool of connections (each call
/// takes a free one, so concurrent callers run in parallel).
///
/// # Examples
///
/// ```no_run
/// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, Outcome, PgStore, StoreConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config: postgres::Config = "host=/run/postgresql user=app dbname=app".parse()?;
/// let mut admin = config.connect(postgres::NoTls)?;
/// quorate_idempotency::postgres::migrate(&mut admin)?;
/// let store = PgStore::connect(&config, 4, StoreConfig::default())?;
/// let fp = Fingerprint::of(b"req");
/// if let Begin::Execute(attempt) = store.begin("tenant", "k", &fp)? {
///     store.complete(&attempt, Outcome::Succeeded("ok".into()))?;
/// }
/// # Ok(())
/// # }
/// ```
pub struct PgStore {
    clients: Vec<Mutex<Pooled>>,
    next: AtomicUsize,
    config: StoreConfig,
    offset: AtomicI64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("connections", &self.clients.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Opens `connections` connections (at least one) without TLS and checks the schema.
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaOutdated`] before [`migrate`], [`StoreError::SchemaTooNew`], and
    /// PostgreSQL failures.
    ///
    /// # Examples
    ///
    /// See [`PgStore`].
    pub fn connect(
        config: &postgres::Config,
        connections: usize,
        store_config: StoreConfig,
    ) -> Result<Self, StoreError> {
        let clients = (0..connections.max(1))
            .map(|_| config.connect(postgres::NoTls))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(clients, store_config)
    }

    /// A store over connections the caller opened (with TLS, say), after checking the schema
    /// on the first one.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoConnection`] when `clients` is empty, and as
    /// [`connect`](Self::connect).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = postgres::Client::connect("host=/run/postgresql", postgres::NoTls)?;
    /// let store = quorate_idempotency::PgStore::new(vec![client], Default::default())?;
    /// # drop(store);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(
        mut clients: Vec<postgres::Client>,
        config: StoreConfig,
    ) -> Result<Self, StoreError> {
        let first = clients.first_mut().ok_or(StoreError::NoConnection)?;
        check_version(schema_version(first)?)?;
        let pooled = clients
            .into_iter()
            .map(|mut client| {
                let stmts = Stmts::prepare(&mut client)?;
                Ok(Mutex::new(Pooled { client, stmts }))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Self {
            clients: pooled,
            next: AtomicUsize::new(0),
            config,
            offset: AtomicI64::new(0),
        })
    }

    /// Shifts this store's reading of the database clock forward by `by` (tests only: it
    /// simulates elapsed time for lock expiry and retention without waiting).
    #[doc(hidden)]
    pub fn advance_clock_for_tests(&self, by: Duration) {
        let ns = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.offset.fetch_add(ns, Ordering::SeqCst);
    }

    fn client(&self) -> Result<parking_lot::MutexGuard<'_, Pooled>, StoreError> {
        let n = self.clients.len();
        if n == 0 {
            return Err(StoreError::NoConnection);
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Some(guard) = self.clients[(start + i) % n].try_lock() {
                return Ok(guard);
            }
        }
        Ok(self.clients[start % n].lock())
    }

    fn params(&self) -> BeginParams {
        BeginParams {
            ttl: int(self.config.lock_ttl_nanos()),
            retention: int(self.config.retention_nanos()),
            offset: self.offset.load(Ordering::SeqCst),
        }
    }

    /// [`checkpoint`](IdempotencyStore::checkpoint) in the caller's transaction (or client),
    /// so the phase's effect and its recovery point commit together.
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::checkpoint`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, PgStore};
    /// let config: postgres::Config = "host=/run/postgresql".parse()?;
    /// let store = PgStore::connect(&config, 1, Default::default())?;
    /// let mut client = config.connect(postgres::NoTls)?;
    /// if let Begin::Execute(attempt) = store.begin("", "k", &Fingerprint::of(b"r"))? {
    ///     let mut tx = client.transaction()?;
    ///     tx.execute("INSERT INTO charges (id) VALUES ('ch_1')", &[])?;
    ///     store.checkpoint_in(&mut tx, &attempt, "charged", b"ch_1")?;
    ///     tx.commit()?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn checkpoint_in(
        &self,
        client: &mut impl GenericClient,
        attempt: &Attempt,
        phase: &str,
        data: &[u8],
    ) -> Result<(), StoreError> {
        self.checkpoint_with(client, &PLAIN_SQL, attempt, phase, data)
    }

    fn checkpoint_with<Q: ToStatement + ?Sized>(
        &self,
        client: &mut impl GenericClient,
        sql: &WriteSql<'_, Q>,
        attempt: &Attempt,
        phase: &str,
        data: &[u8],
    ) -> Result<(), StoreError> {
        check_phase(phase)?;
        self.config.check_size(data.len())?;
        let (scope, key) = (attempt.scope(), attempt.key());
        check_key(scope, key)?;
        let p = self.params();
        crash_point("idempotency.checkpoint.before");
        let epoch = int(attempt.epoch().get());
        let n = client.execute(
            sql.checkpoint,
            &[&p.offset, &phase, &data, &p.ttl, &scope, &key, &epoch],
        )?;
        if n == 0 {
            return Err(stale_error_with(client, sql.select_row, attempt, p.offset));
        }
        crash_point("idempotency.checkpoint.after");
        Ok(())
    }

    /// [`complete`](IdempotencyStore::complete) in the caller's transaction (or client).
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::complete`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, Outcome, PgStore};
    /// let config: postgres::Config = "host=/run/postgresql".parse()?;
    /// let store = PgStore::connect(&config, 1, Default::default())?;
    /// let mut client = config.connect(postgres::NoTls)?;
    /// if let Begin::Execute(attempt) = store.begin("", "k", &Fingerprint::of(b"r"))? {
    ///     let mut tx = client.transaction()?;
    ///     store.complete_in(&mut tx, &attempt, Outcome::Succeeded("ok".into()))?;
    ///     tx.commit()?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn complete_in(
        &self,
        client: &mut impl GenericClient,
        attempt: &Attempt,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        self.complete_with(client, &PLAIN_SQL, attempt, outcome)
    }

    fn complete_with<Q: ToStatement + ?Sized>(
        &self,
        client: &mut impl GenericClient,
        sql: &WriteSql<'_, Q>,
        attempt: &Attempt,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        self.config.check_size(outcome.response_len())?;
        let (scope, key) = (attempt.scope(), attempt.key());
        check_key(scope, key)?;
        let p = self.params();
        crash_point("idempotency.complete.before");
        let epoch = int(attempt.epoch().get());
        let n = match &outcome {
            Outcome::Succeeded(response) | Outcome::FailedFinal(response) => {
                let state: i16 = if matches!(outcome, Outcome::Succeeded(_)) {
                    1
                } else {
                    3
                };
                let body: &[u8] = response;
                client.execute(
                    sql.complete_terminal,
                    &[&state, &body, &scope, &key, &epoch],
                )?
            }
            Outcome::FailedRetryable => {
                client.execute(sql.complete_release, &[&scope, &key, &epoch])?
            }
        };
        if n == 0 {
            return Err(stale_error_with(client, sql.select_row, attempt, p.offset));
        }
        crash_point("idempotency.complete.after");
        Ok(())
    }
}

fn read_row<Q: ToStatement + ?Sized>(
    client: &mut impl GenericClient,
    sql: &Q,
    scope: &str,
    key: &str,
    offset: i64,
) -> Result<Option<(Row, u64)>, StoreError> {
    client
        .query_opt(sql, &[&offset, &scope, &key])?
        .map(|r| decode_row(&r, scope, key))
        .transpose()
}

fn stale_error_with<Q: ToStatement + ?Sized>(
    client: &mut impl GenericClient,
    select: &Q,
    attempt: &Attempt,
    offset: i64,
) -> StoreError {
    let (scope, key) = (attempt.scope(), attempt.key());
    match read_row(client, select, scope, key, offset) {
        Ok(row) => stale(scope, key, attempt.epoch(), row.as_ref().map(|(r, _)| r)),
        Err(e) => e,
    }
}

/// The store's statements, prepared once per pooled connection.
struct Stmts {
    insert_new: Statement,
    select_for_update: Statement,
    select_row: Statement,
    update_fresh: Statement,
    update_takeover: Statement,
    checkpoint: Statement,
    complete_terminal: Statement,
    complete_release: Statement,
    reap: Statement,
}

impl Stmts {
    fn prepare(client: &mut postgres::Client) -> Result<Self, StoreError> {
        Ok(Self {
            insert_new: client.prepare(INSERT_NEW)?,
            select_for_update: client.prepare(SELECT_FOR_UPDATE)?,
            select_row: client.prepare(SELECT_ROW)?,
            update_fresh: client.prepare(UPDATE_FRESH)?,
            update_takeover: client.prepare(UPDATE_TAKEOVER)?,
            checkpoint: client.prepare(CHECKPOINT)?,
            complete_terminal: client.prepare(COMPLETE_TERMINAL)?,
            complete_release: client.prepare(COMPLETE_RELEASE)?,
            reap: client.prepare(REAP)?,
        })
    }

    fn write_sql(&self) -> WriteSql<'_, Statement> {
        WriteSql {
            checkpoint: &self.checkpoint,
            complete_terminal: &self.complete_terminal,
            complete_release: &self.complete_release,
            select_row: &self.select_row,
        }
    }
}

/// One pooled connection with its prepared statements.
struct Pooled {
    client: postgres::Client,
    stmts: Stmts,
}

/// The statements a checkpoint or completion uses: prepared on the store's own connections,
/// plain SQL on a caller's transaction.
struct WriteSql<'a, Q: ?Sized> {
    checkpoint: &'a Q,
    complete_terminal: &'a Q,
    complete_release: &'a Q,
    select_row: &'a Q,
}

const PLAIN_SQL: WriteSql<'static, str> = WriteSql {
    checkpoint: CHECKPOINT,
    complete_terminal: COMPLETE_TERMINAL,
    complete_release: COMPLETE_RELEASE,
    select_row: SELECT_ROW,
};

impl IdempotencyStore for PgStore {
    fn begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Begin, StoreError> {
        check_key(scope, key)?;
        let p = self.params();
        let fp: &[u8] = fingerprint.as_bytes();
        crash_point("idempotency.begin.before");
        let mut pooled = self.client()?;
        let Pooled { client, stmts } = &mut *pooled;
        let answer = loop {
            let inserted = client.query_opt(
                &stmts.insert_new,
                &[&p.offset, &scope, &key, &fp, &p.ttl, &p.retention],
            )?;
            if let Some(row) = inserted {
                let epoch = first_epoch_of(&row, scope, key)?;
                break Begin::Execute(Attempt::new(scope, key, epoch, None));
            }
            let mut tx = client.transaction()?;
            let row = read_row(&mut tx, &stmts.select_for_update, scope, key, p.offset)?;
            let (answer, write, now) =
                plan(row, fingerprint, self.config.lock_ttl_nanos(), scope, key)?;
            let epoch = match write {
                Write::Fresh(e) | Write::Takeover(e) => int(e),
                Write::None => {
                    tx.commit()?;
                    break answer;
                }
                // The row vanished (reaped) between the insert and the read: insert again.
                Write::Insert => {
                    tx.commit()?;
                    continue;
                }
            };
            let lock_until = int(now.saturating_add(self.config.lock_ttl_nanos()));
            let expires_at = int(now.saturating_add(self.config.retention_nanos()));
            match write {
                Write::Fresh(_) => tx.execute(
                    &stmts.update_fresh,
                    &[&fp, &epoch, &lock_until, &expires_at, &scope, &key],
                )?,
                _ => tx.execute(
                    &stmts.update_takeover,
                    &[&epoch, &lock_until, &expires_at, &scope, &key],
                )?,
            };
            tx.commit()?;
            break answer;
        };
        drop(pooled);
        crash_point("idempotency.begin.after");
        Ok(answer)
    }

    fn checkpoint(&self, attempt: &Attempt, phase: &str, data: &[u8]) -> Result<(), StoreError> {
        let mut pooled = self.client()?;
        let Pooled { client, stmts } = &mut *pooled;
        self.checkpoint_with(client, &stmts.write_sql(), attempt, phase, data)
    }

    fn complete(&self, attempt: &Attempt, outcome: Outcome) -> Result<(), StoreError> {
        let mut pooled = self.client()?;
        let Pooled { client, stmts } = &mut *pooled;
        self.complete_with(client, &stmts.write_sql(), attempt, outcome)
    }

    fn get(&self, scope: &str, key: &str) -> Result<Option<Record>, StoreError> {
        check_key(scope, key)?;
        let offset = self.offset.load(Ordering::SeqCst);
        let mut pooled = self.client()?;
        let Pooled { client, stmts } = &mut *pooled;
        let row = read_row(client, &stmts.select_row, scope, key, offset)?;
        let ttl = self.config.lock_ttl_nanos();
        Ok(row
            .filter(|(r, now)| !r.expired(*now, *now, ttl))
            .map(|(r, _)| r.record()))
    }

    fn reap(&self, max: usize) -> Result<usize, StoreError> {
        let p = self.params();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut pooled = self.client()?;
        let Pooled { client, stmts } = &mut *pooled;
        let n = client.execute(&stmts.reap, &[&p.offset, &p.ttl, &limit])?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn config(&self) -> &StoreConfig {
        &self.config
    }
}

/// Creates or upgrades the schema (as [`migrate`]) through a tokio-postgres client.
///
/// # Errors
///
/// As [`migrate`].
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut client, conn) =
///     tokio_postgres::connect("host=/run/postgresql", tokio_postgres::NoTls).await?;
/// tokio::spawn(conn);
/// assert_eq!(quorate_idempotency::postgres::migrate_async(&mut client).await?, 1);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn migrate_async(client: &mut tokio_postgres::Client) -> Result<u32, StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(8175477926716552497)", &[])
        .await?;
    let found = schema_version_async(&tx).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == 0 {
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS quorate_idempotency_schema (version INTEGER NOT NULL)",
        )
        .await?;
        tx.batch_execute(DDL_V1).await?;
        tx.execute(
            "INSERT INTO quorate_idempotency_schema (version) VALUES ($1)",
            &[&i32::try_from(SCHEMA_VERSION).unwrap_or(i32::MAX)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(SCHEMA_VERSION)
}

#[cfg(feature = "tokio")]
async fn schema_version_async(
    client: &(impl tokio_postgres::GenericClient + Sync),
) -> Result<u32, StoreError> {
    let row = client
        .query_one(
            "SELECT to_regclass('quorate_idempotency_schema') IS NOT NULL",
            &[],
        )
        .await?;
    if !row.try_get::<_, bool>(0)? {
        return Ok(0);
    }
    let row = client
        .query_one("SELECT max(version) FROM quorate_idempotency_schema", &[])
        .await?;
    version_from(row.try_get::<_, Option<i32>>(0)?)
}

#[cfg(feature = "tokio")]
async fn read_row_async(
    client: &(impl tokio_postgres::GenericClient + Sync),
    sql: &str,
    scope: &str,
    key: &str,
    offset: i64,
) -> Result<Option<(Row, u64)>, StoreError> {
    client
        .query_opt(sql, &[&offset, &scope, &key])
        .await?
        .map(|r| decode_row(&r, scope, key))
        .transpose()
}

#[cfg(feature = "tokio")]
async fn stale_error_async(
    client: &(impl tokio_postgres::GenericClient + Sync),
    attempt: &Attempt,
    offset: i64,
) -> StoreError {
    let (scope, key) = (attempt.scope(), attempt.key());
    match read_row_async(client, SELECT_ROW, scope, key, offset).await {
        Ok(row) => stale(scope, key, attempt.epoch(), row.as_ref().map(|(r, _)| r)),
        Err(e) => e,
    }
}

/// The PostgreSQL store on tokio-postgres: the same table, statements and state machine as
/// [`PgStore`], with `async` methods (the [`IdempotencyStore`] trait is synchronous, so this
/// type has inherent methods of the same names).
///
/// # Examples
///
/// ```no_run
/// use quorate_idempotency::{AsyncPgStore, Begin, Fingerprint, Outcome, StoreConfig};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut client, conn) =
///     tokio_postgres::connect("host=/run/postgresql", tokio_postgres::NoTls).await?;
/// tokio::spawn(conn);
/// quorate_idempotency::postgres::migrate_async(&mut client).await?;
/// let store = AsyncPgStore::new(vec![client], StoreConfig::default()).await?;
/// if let Begin::Execute(attempt) = store.begin("tenant", "k", &Fingerprint::of(b"r")).await? {
///     store.complete(&attempt, Outcome::Succeeded("ok".into())).await?;
/// }
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct AsyncPgStore {
    clients: Vec<tokio::sync::Mutex<tokio_postgres::Client>>,
    next: AtomicUsize,
    config: StoreConfig,
    offset: AtomicI64,
}

#[cfg(feature = "tokio")]
impl std::fmt::Debug for AsyncPgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncPgStore")
            .field("connections", &self.clients.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tokio")]
impl AsyncPgStore {
    /// A store over connected clients (their connection tasks spawned by the caller), after
    /// checking the schema on the first.
    ///
    /// # Errors
    ///
    /// [`StoreError::NoConnection`] for an empty `clients`, [`StoreError::SchemaOutdated`],
    /// [`StoreError::SchemaTooNew`], and PostgreSQL failures.
    ///
    /// # Examples
    ///
    /// See [`AsyncPgStore`].
    pub async fn new(
        clients: Vec<tokio_postgres::Client>,
        config: StoreConfig,
    ) -> Result<Self, StoreError> {
        let first = clients.first().ok_or(StoreError::NoConnection)?;
        check_version(schema_version_async(first).await?)?;
        Ok(Self {
            clients: clients.into_iter().map(tokio::sync::Mutex::new).collect(),
            next: AtomicUsize::new(0),
            config,
            offset: AtomicI64::new(0),
        })
    }

    /// Shifts this store's reading of the database clock forward (tests only).
    #[doc(hidden)]
    pub fn advance_clock_for_tests(&self, by: Duration) {
        let ns = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.offset.fetch_add(ns, Ordering::SeqCst);
    }

    /// The store's configuration.
    ///
    /// # Examples
    ///
    /// See [`AsyncPgStore`].
    #[must_use]
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    async fn client(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, tokio_postgres::Client>, StoreError> {
        let n = self.clients.len();
        if n == 0 {
            return Err(StoreError::NoConnection);
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(guard) = self.clients[(start + i) % n].try_lock() {
                return Ok(guard);
            }
        }
        Ok(self.clients[start % n].lock().await)
    }

    fn params(&self) -> BeginParams {
        BeginParams {
            ttl: int(self.config.lock_ttl_nanos()),
            retention: int(self.config.retention_nanos()),
            offset: self.offset.load(Ordering::SeqCst),
        }
    }

    /// [`IdempotencyStore::begin`], asynchronously.
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::begin`].
    ///
    /// # Examples
    ///
    /// See [`AsyncPgStore`].
    pub async fn begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Begin, StoreError> {
        check_key(scope, key)?;
        let p = self.params();
        let fp: &[u8] = fingerprint.as_bytes();
        crash_point("idempotency.begin.before");
        let mut client = self.client().await?;
        let answer = loop {
            let inserted = client
                .query_opt(
                    INSERT_NEW,
                    &[&p.offset, &scope, &key, &fp, &p.ttl, &p.retention],
                )
                .await?;
            if let Some(row) = inserted {
                let epoch = first_epoch_of(&row, scope, key)?;
                break Begin::Execute(Attempt::new(scope, key, epoch, None));
            }
            let tx = client.transaction().await?;
            let row = read_row_async(&tx, SELECT_FOR_UPDATE, scope, key, p.offset).await?;
            let (answer, write, now) =
                plan(row, fingerprint, self.config.lock_ttl_nanos(), scope, key)?;
            let epoch = match write {
                Write::Fresh(e) | Write::Takeover(e) => int(e),
                Write::None => {
                    tx.commit().await?;
                    break answer;
                }
                Write::Insert => {
                    tx.commit().await?;
                    continue;
                }
            };
            let lock_until = int(now.saturating_add(self.config.lock_ttl_nanos()));
            let expires_at = int(now.saturating_add(self.config.retention_nanos()));
            match write {
                Write::Fresh(_) => {
                    tx.execute(
                        UPDATE_FRESH,
                        &[&fp, &epoch, &lock_until, &expires_at, &scope, &key],
                    )
                    .await?
                }
                _ => {
                    tx.execute(
                        UPDATE_TAKEOVER,
                        &[&epoch, &lock_until, &expires_at, &scope, &key],
                    )
                    .await?
                }
            };
            tx.commit().await?;
            break answer;
        };
        drop(client);
        crash_point("idempotency.begin.after");
        Ok(answer)
    }

    /// [`IdempotencyStore::checkpoint`], asynchronously.
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::checkpoint`].
    ///
    /// # Examples
    ///
    /// See [`AsyncPgStore`].
    pub async fn checkpoint(
        &self,
        attempt: &Attempt,
        phase: &str,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        self.checkpoint_in(&*client, attempt, phase, data).await
    }

    /// [`checkpoint`](Self::checkpoint) in the caller's transaction (or client), so the
    /// phase's effect and its recovery point commit together.
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::checkpoint`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: quorate_idempotency::AsyncPgStore, mut client: tokio_postgres::Client,
    /// #     attempt: quorate_idempotency::Attempt) -> Result<(), Box<dyn std::error::Error>> {
    /// let tx = client.transaction().await?;
    /// tx.execute("INSERT INTO charges (id) VALUES ('ch_1')", &[]).await?;
    /// store.checkpoint_in(&tx, &attempt, "charged", b"ch_1").await?;
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn checkpoint_in(
        &self,
        client: &(impl tokio_postgres::GenericClient + Sync),
        attempt: &Attempt,
        phase: &str,
        data: &[u8],
    ) -> Result<(), StoreError> {
        check_phase(phase)?;
        self.config.check_size(data.len())?;
        let (scope, key) = (attempt.scope(), attempt.key());
        check_key(scope, key)?;
        let p = self.params();
        crash_point("idempotency.checkpoint.before");
        let epoch = int(attempt.epoch().get());
        let n = client
            .execute(
                CHECKPOINT,
                &[&p.offset, &phase, &data, &p.ttl, &scope, &key, &epoch],
            )
            .await?;
        if n == 0 {
            return Err(stale_error_async(client, attempt, p.offset).await);
        }
        crash_point("idempotency.checkpoint.after");
        Ok(())
    }

    /// [`IdempotencyStore::complete`], asynchronously.
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::complete`].
    ///
    /// # Examples
    ///
    /// See [`AsyncPgStore`].
    pub async fn complete(&self, attempt: &Attempt, outcome: Outcome) -> Result<(), StoreError> {
        let client = self.client().await?;
        self.complete_in(&*client, attempt, outcome).await
    }

    /// [`complete`](Self::complete) in the caller's transaction (or client).
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::complete`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(store: quorate_idempotency::AsyncPgStore, mut client: tokio_postgres::Client,
    /// #     attempt: quorate_idempotency::Attempt) -> Result<(), Box<dyn std::error::Error>> {
    /// use quorate_idempotency::Outcome;
    /// let tx = client.transaction().await?;
    /// store.complete_in(&tx, &attempt, Outcome::Succeeded("ok".into())).await?;
    /// tx.commit().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn complete_in(
        &self,
        client: &(impl tokio_postgres::GenericClient + Sync),
        attempt: &Attempt,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        self.config.check_size(outcome.response_len())?;
        let (scope, key) = (attempt.scope(), attempt.key());
        check_key(scope, key)?;
        let p = self.params();
        crash_point("idempotency.complete.before");
        let epoch = int(attempt.epoch().get());
        let n = match &outcome {
            Outcome::Succeeded(response) | Outcome::FailedFinal(response) => {
                let state: i16 = if matches!(outcome, Outcome::Succeeded(_)) {
                    1
                } else {
                    3
                };
                let body: &[u8] = response;
                client
                    .execute(COMPLETE_TERMINAL, &[&state, &body, &scope, &key, &epoch])
                    .await?
            }
            Outcome::FailedRetryable => {
                client
                    .execute(COMPLETE_RELEASE, &[&scope, &key, &epoch])
                    .await?
            }
        };
        if n == 0 {
            return Err(stale_error_async(client, attempt, p.offset).await);
        }
        crash_point("idempotency.complete.after");
        Ok(())
    }

    /// [`IdempotencyStore::get`], asynchronously.
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::get`].
    ///
    /// # Examples
    ///
    /// See [`AsyncPgStore`].
    pub async fn get(&self, scope: &str, key: &str) -> Result<Option<Record>, StoreError> {
        check_key(scope, key)?;
        let offset = self.offset.load(Ordering::SeqCst);
        let client = self.client().await?;
        let row = read_row_async(&*client, SELECT_ROW, scope, key, offset).await?;
        let ttl = self.config.lock_ttl_nanos();
        Ok(row
            .filter(|(r, now)| !r.expired(*now, *now, ttl))
            .map(|(r, _)| r.record()))
    }

    /// [`IdempotencyStore::reap`], asynchronously.
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::reap`].
    ///
    /// # Examples
    ///
    /// See [`AsyncPgStore`].
    pub async fn reap(&self, max: usize) -> Result<usize, StoreError> {
        let p = self.params();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let n = client.execute(REAP, &[&p.offset, &p.ttl, &limit]).await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}
