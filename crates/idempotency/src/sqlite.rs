//! The SQLite store: durable keys on one machine, with effects committed in the same
//! transaction as their recovery points.
//!
//! # Schema
//!
//! [`migrate`] creates (version [`SCHEMA_VERSION`]):
//!
//! ```sql
//! CREATE TABLE quorate_idempotency_schema (version INTEGER NOT NULL);
//! CREATE TABLE quorate_idempotency (
//!     scope       TEXT    NOT NULL,
//!     key         TEXT    NOT NULL,
//!     fingerprint BLOB    NOT NULL,  -- 32 bytes, SHA-256
//!     epoch       INTEGER NOT NULL,  -- attempt epoch, >= 1
//!     state       INTEGER NOT NULL,  -- 0 in progress, 1 succeeded, 2 failed-retryable, 3 failed-final
//!     lock_until  INTEGER NOT NULL,  -- monotonic-clock nanoseconds
//!     expires_at  INTEGER NOT NULL,  -- wall-clock Unix nanoseconds
//!     phase       TEXT,              -- last recovery point
//!     phase_data  BLOB,
//!     response    BLOB,              -- terminal states only
//!     PRIMARY KEY (scope, key)
//! ) WITHOUT ROWID;
//! CREATE INDEX quorate_idempotency_expires ON quorate_idempotency (expires_at);
//! ```
//!
//! Every write is one statement (autocommit) on the common path: `begin` on a new key is one
//! `INSERT .. ON CONFLICT DO NOTHING`, `complete` one conditional `UPDATE`; only a begin on an
//! existing key reads and writes inside `BEGIN IMMEDIATE`.
//!
//! Lock time is read from a [`MonotonicClock`] ([`BootClock`] by default: it keeps counting
//! across process restarts and suspend, so a crashed process's lock expires on time after a
//! restart); a stored lock more than one ttl ahead (the clock restarted with a reboot) counts as
//! expired.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use quorate_clocks::{BootClock, MonotonicClock, SystemClock, WallClock};
use quorate_fencing::FencingToken;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::__private::crash_point;
use crate::error::{StoreError, check_phase};
use crate::machine::{Decision, Row, decide, first_epoch, stale};
use crate::store::IdempotencyStore;
use crate::types::{
    Attempt, Begin, Fingerprint, Outcome, Record, RecoveryPoint, State, StoreConfig, check_key,
};

/// The rusqlite this crate links: pass its `Connection`s and `Transaction`s to
/// [`SqliteStore::checkpoint_in`] and [`SqliteStore::complete_in`] (a different rusqlite
/// version in the caller's build would be a different type).
pub use rusqlite;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

const DDL_V1: &str = "
CREATE TABLE quorate_idempotency (
    scope       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint BLOB    NOT NULL,
    epoch       INTEGER NOT NULL,
    state       INTEGER NOT NULL,
    lock_until  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    phase       TEXT,
    phase_data  BLOB,
    response    BLOB,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX quorate_idempotency_expires ON quorate_idempotency (expires_at);
";

const SELECT_ROW: &str = "SELECT fingerprint, epoch, state, lock_until, expires_at, phase, \
     phase_data, response FROM quorate_idempotency WHERE scope = ?1 AND key = ?2";

/// Creates or upgrades the schema to [`SCHEMA_VERSION`], in one `BEGIN IMMEDIATE` transaction;
/// returns the version now installed. Run it once at deployment or start-up, never per request:
/// the stores only check the version.
///
/// # Errors
///
/// [`StoreError::SchemaTooNew`] when the database was migrated by a newer build (nothing is
/// changed), and SQLite failures.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), quorate_idempotency::StoreError> {
/// let conn = rusqlite::Connection::open_in_memory()?;
/// assert_eq!(quorate_idempotency::sqlite::migrate(&conn)?, 1);
/// assert_eq!(quorate_idempotency::sqlite::migrate(&conn)?, 1); // idempotent
/// # Ok(())
/// # }
/// ```
pub fn migrate(conn: &Connection) -> Result<u32, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let found = schema_version(conn)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == 0 {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS quorate_idempotency_schema (version INTEGER NOT NULL)",
            )?;
            conn.execute_batch(DDL_V1)?;
            conn.execute(
                "INSERT INTO quorate_idempotency_schema (version) VALUES (?1)",
                [SCHEMA_VERSION],
            )?;
        }
        Ok(SCHEMA_VERSION)
    })();
    match result {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The installed schema version, 0 when there is none.
///
/// # Errors
///
/// SQLite failures, and [`StoreError::Corrupt`] when the version row is not a small integer.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), quorate_idempotency::StoreError> {
/// let conn = rusqlite::Connection::open_in_memory()?;
/// assert_eq!(quorate_idempotency::sqlite::schema_version(&conn)?, 0);
/// # Ok(())
/// # }
/// ```
pub fn schema_version(conn: &Connection) -> Result<u32, StoreError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
         AND name = 'quorate_idempotency_schema')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    let v: Option<i64> = conn
        .query_row(
            "SELECT max(version) FROM quorate_idempotency_schema",
            [],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let v = v.unwrap_or(0);
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        scope: String::new(),
        key: "quorate_idempotency_schema".to_owned(),
        reason: format!("schema version {v} out of range"),
    })
}

fn check_schema(conn: &Connection) -> Result<(), StoreError> {
    let found = schema_version(conn)?;
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

/// Nanoseconds as an SQLite integer (clamped; 2262 is far away).
fn int(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

fn corrupt(scope: &str, key: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        scope: scope.to_owned(),
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// Decodes the columns of [`SELECT_ROW`], naming the key on any damage.
fn decode_row(r: &rusqlite::Row<'_>, scope: &str, key: &str) -> Result<Row, StoreError> {
    let bad = |what: &str| corrupt(scope, key, what.to_owned());
    let int_col = |i: usize, what: &str| -> Result<u64, StoreError> {
        match r.get_ref(i)? {
            ValueRef::Integer(v) => u64::try_from(v).map_err(|_| bad(what)),
            _ => Err(bad(what)),
        }
    };
    let fingerprint = match r.get_ref(0)? {
        ValueRef::Blob(b) => <[u8; 32]>::try_from(b)
            .map(Fingerprint::from_bytes)
            .map_err(|_| bad("fingerprint is not 32 bytes"))?,
        _ => return Err(bad("fingerprint is not a blob")),
    };
    let epoch = int_col(1, "epoch is not a non-negative integer")?;
    if epoch == 0 {
        return Err(bad("epoch is 0"));
    }
    let state = match r.get_ref(2)? {
        ValueRef::Integer(v) => State::from_code(v).ok_or_else(|| bad("unknown state"))?,
        _ => return Err(bad("state is not an integer")),
    };
    let lock_until = int_col(3, "lock_until is not a non-negative integer")?;
    let expires_at = int_col(4, "expires_at is not a non-negative integer")?;
    let phase = match r.get_ref(5)? {
        ValueRef::Null => None,
        ValueRef::Text(t) => Some(
            std::str::from_utf8(t)
                .map_err(|_| bad("phase is not UTF-8"))?
                .to_owned(),
        ),
        _ => return Err(bad("phase is not text")),
    };
    let blob = |i: usize, what: &str| -> Result<Option<Bytes>, StoreError> {
        match r.get_ref(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) => Ok(Some(Bytes::copy_from_slice(b))),
            _ => Err(bad(what)),
        }
    };
    let phase_data = blob(6, "phase_data is not a blob")?;
    let response = blob(7, "response is not a blob")?;
    let terminal = matches!(state, State::Succeeded | State::FailedFinal);
    if terminal && response.is_none() {
        return Err(bad("terminal record without a response"));
    }
    let recovery = match (phase, phase_data) {
        (Some(p), d) => Some(RecoveryPoint::new(p, d.unwrap_or_default())),
        (None, None) => None,
        (None, Some(_)) => return Err(bad("phase data without a phase")),
    };
    Ok(Row {
        fingerprint,
        epoch,
        state,
        lock_until,
        expires_at,
        response,
        recovery,
    })
}

fn read_row(conn: &Connection, scope: &str, key: &str) -> Result<Option<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_ROW)?;
    let mut rows = stmt.query(params![scope, key])?;
    match rows.next()? {
        Some(r) => decode_row(r, scope, key).map(Some),
        None => Ok(None),
    }
}

/// A durable [`IdempotencyStore`] on SQLite.
///
/// One connection behind a mutex (SQLite serialises writers anyway); open one store per
/// process and share it. [`checkpoint_in`](Self::checkpoint_in) and
/// [`complete_in`](Self::complete_in) take any connection or transaction on the same database,
/// so a phase's effect commits atomically with its recovery point;
/// [`transaction`](Self::transaction) runs one on the store's own connection.
///
/// # Examples
///
/// ```
/// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, Outcome, SqliteStore, StoreConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("quorate-idem-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("keys.db");
/// let conn = rusqlite::Connection::open(&path)?;
/// quorate_idempotency::sqlite::migrate(&conn)?;
/// drop(conn);
///
/// let store = SqliteStore::open(&path, StoreConfig::default())?;
/// let fp = Fingerprint::of(b"req");
/// let Begin::Execute(attempt) = store.begin("", "k", &fp)? else { unreachable!() };
/// store.complete(&attempt, Outcome::Succeeded("ok".into()))?;
/// assert!(matches!(store.begin("", "k", &fp)?, Begin::Replay(s) if s.response == "ok"));
/// # drop(store);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
pub struct SqliteStore {
    conn: Mutex<Connection>,
    config: StoreConfig,
    mono: Arc<dyn MonotonicClock>,
    wall: Arc<dyn WallClock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path` in WAL mode with `synchronous = NORMAL` (durable across
    /// process crashes; a power loss may lose the last commits) and a 5 s busy timeout, and
    /// checks that [`migrate`] has installed this build's schema.
    ///
    /// # Errors
    ///
    /// [`StoreError::SchemaOutdated`] before [`migrate`], [`StoreError::SchemaTooNew`] after a
    /// newer build migrated, and SQLite failures.
    ///
    /// # Examples
    ///
    /// ```
    /// use quorate_idempotency::{SqliteStore, StoreConfig, StoreError};
    /// let path = std::env::temp_dir().join(format!("quorate-idem-open-{}.db", std::process::id()));
    /// let err = SqliteStore::open(&path, StoreConfig::default()).unwrap_err();
    /// assert!(matches!(err, StoreError::SchemaOutdated { found: 0, .. }));
    /// # let _ = std::fs::remove_file(&path);
    /// ```
    pub fn open(path: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::from_connection(conn, config)
    }

    /// A store on a connection the caller configured (pragmas, busy timeout), after checking
    /// the schema version.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_idempotency::StoreError> {
    /// use quorate_idempotency::{SqliteStore, StoreConfig};
    /// let conn = rusqlite::Connection::open_in_memory()?;
    /// quorate_idempotency::sqlite::migrate(&conn)?;
    /// let store = SqliteStore::from_connection(conn, StoreConfig::default())?;
    /// # drop(store);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_connection(conn: Connection, config: StoreConfig) -> Result<Self, StoreError> {
        check_schema(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            config,
            mono: Arc::new(BootClock),
            wall: Arc::new(SystemClock),
        })
    }

    /// Replaces the time sources: lock time from `mono`, retention from `wall`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_idempotency::StoreError> {
    /// use quorate_clocks::ManualClock;
    /// use quorate_idempotency::{SqliteStore, StoreConfig};
    /// let conn = rusqlite::Connection::open_in_memory()?;
    /// quorate_idempotency::sqlite::migrate(&conn)?;
    /// let clock = ManualClock::new(0);
    /// let store = SqliteStore::from_connection(conn, StoreConfig::default())?
    ///     .with_clocks(clock.clone(), clock);
    /// # drop(store);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_clocks(
        mut self,
        mono: impl MonotonicClock + 'static,
        wall: impl WallClock + 'static,
    ) -> Self {
        self.mono = Arc::new(mono);
        self.wall = Arc::new(wall);
        self
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the store's connection and commits when
    /// it returns `Ok` (rolls back otherwise). Use it to commit a phase's effect with its
    /// recovery point ([`checkpoint_in`](Self::checkpoint_in)) or its response
    /// ([`complete_in`](Self::complete_in)).
    ///
    /// # Errors
    ///
    /// Whatever `f` returns, and SQLite failures (converted with `From`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_idempotency::StoreError> {
    /// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, SqliteStore, StoreConfig};
    /// let conn = rusqlite::Connection::open_in_memory()?;
    /// quorate_idempotency::sqlite::migrate(&conn)?;
    /// conn.execute_batch("CREATE TABLE charges (id TEXT PRIMARY KEY)")?;
    /// let store = SqliteStore::from_connection(conn, StoreConfig::default())?;
    /// let Begin::Execute(attempt) = store.begin("", "k", &Fingerprint::of(b"r"))? else { unreachable!() };
    /// store.transaction(|tx| {
    ///     tx.execute("INSERT INTO charges (id) VALUES ('ch_1')", [])?;
    ///     store.checkpoint_in(tx, &attempt, "charged", b"ch_1")
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn transaction<T, E>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        let mut conn = self.conn.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// [`checkpoint`](IdempotencyStore::checkpoint) on `conn`, typically the caller's
    /// transaction holding the phase's effect: both commit or neither does.
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::checkpoint`].
    ///
    /// # Examples
    ///
    /// See [`transaction`](Self::transaction).
    pub fn checkpoint_in(
        &self,
        conn: &Connection,
        attempt: &Attempt,
        phase: &str,
        data: &[u8],
    ) -> Result<(), StoreError> {
        check_phase(phase)?;
        self.config.check_size(data.len())?;
        let (scope, key) = (attempt.scope(), attempt.key());
        check_key(scope, key)?;
        crash_point("idempotency.checkpoint.before");
        let lock_until = int(self
            .mono
            .now_nanos()
            .saturating_add(self.config.lock_ttl_nanos()));
        let changed = conn
            .prepare_cached(
                "UPDATE quorate_idempotency SET phase = ?1, phase_data = ?2, lock_until = ?3 \
                 WHERE scope = ?4 AND key = ?5 AND epoch = ?6 AND state = 0",
            )?
            .execute(params![
                phase,
                data,
                lock_until,
                scope,
                key,
                int(attempt.epoch().get())
            ])?;
        if changed == 0 {
            return Err(self.stale_error(conn, attempt));
        }
        crash_point("idempotency.checkpoint.after");
        Ok(())
    }

    /// [`complete`](IdempotencyStore::complete) on `conn`, typically the caller's transaction
    /// holding the operation's last effect.
    ///
    /// # Errors
    ///
    /// As [`IdempotencyStore::complete`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), quorate_idempotency::StoreError> {
    /// use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, Outcome, SqliteStore, StoreConfig};
    /// let conn = rusqlite::Connection::open_in_memory()?;
    /// quorate_idempotency::sqlite::migrate(&conn)?;
    /// let store = SqliteStore::from_connection(conn, StoreConfig::default())?;
    /// let Begin::Execute(attempt) = store.begin("", "k", &Fingerprint::of(b"r"))? else { unreachable!() };
    /// store.transaction(|tx| store.complete_in(tx, &attempt, Outcome::Succeeded("done".into())))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn complete_in(
        &self,
        conn: &Connection,
        attempt: &Attempt,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        self.config.check_size(outcome.response_len())?;
        let (scope, key) = (attempt.scope(), attempt.key());
        check_key(scope, key)?;
        crash_point("idempotency.complete.before");
        let epoch = int(attempt.epoch().get());
        // `expires_at` (set by the begin) is left alone: its index entry does not change.
        let changed = match &outcome {
            Outcome::Succeeded(response) | Outcome::FailedFinal(response) => {
                let state = if matches!(outcome, Outcome::Succeeded(_)) {
                    State::Succeeded
                } else {
                    State::FailedFinal
                };
                conn.prepare_cached(
                    "UPDATE quorate_idempotency SET state = ?1, response = ?2, \
                     phase = NULL, phase_data = NULL \
                     WHERE scope = ?3 AND key = ?4 AND epoch = ?5 AND state = 0",
                )?
                .execute(params![
                    state.code(),
                    &response[..],
                    scope,
                    key,
                    epoch
                ])?
            }
            Outcome::FailedRetryable => conn
                .prepare_cached(
                    "UPDATE quorate_idempotency SET state = 2 \
                     WHERE scope = ?1 AND key = ?2 AND epoch = ?3 AND state = 0",
                )?
                .execute(params![scope, key, epoch])?,
        };
        if changed == 0 {
            return Err(self.stale_error(conn, attempt));
        }
        crash_point("idempotency.complete.after");
        Ok(())
    }

    fn stale_error(&self, conn: &Connection, attempt: &Attempt) -> StoreError {
        let (scope, key) = (attempt.scope(), attempt.key());
        match read_row(conn, scope, key) {
            Ok(row) => stale(scope, key, attempt.epoch(), row.as_ref()),
            Err(e) => e,
        }
    }

    fn begin_existing(
        &self,
        conn: &mut Connection,
        scope: &str,
        key: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Begin, StoreError> {
        let ttl = self.config.lock_ttl_nanos();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let lock_now = self.mono.now_nanos();
        let wall_now = self.wall.now_unix_nanos();
        let lock_until = int(lock_now.saturating_add(ttl));
        let expires_at = int(wall_now.saturating_add(self.config.retention_nanos()));
        let answer =
            match read_row(&tx, scope, key)? {
                None => {
                    let epoch = first_epoch(wall_now);
                    insert_new(&tx, scope, key, fingerprint, epoch, lock_until, expires_at)?;
                    Begin::Execute(Attempt::new(scope, key, FencingToken::new(epoch), None))
                }
                Some(row) => match decide(&row, fingerprint, lock_now, wall_now, ttl, key)? {
                    Decision::Fresh { epoch } => {
                        tx.prepare_cached(
                        "UPDATE quorate_idempotency SET fingerprint = ?1, epoch = ?2, state = 0, \
                         lock_until = ?3, expires_at = ?4, phase = NULL, phase_data = NULL, \
                         response = NULL WHERE scope = ?5 AND key = ?6",
                    )?
                    .execute(params![
                        &fingerprint.as_bytes()[..],
                        int(epoch),
                        lock_until,
                        expires_at,
                        scope,
                        key
                    ])?;
                        Begin::Execute(Attempt::new(scope, key, FencingToken::new(epoch), None))
                    }
                    Decision::Takeover { epoch } => {
                        tx.prepare_cached(
                        "UPDATE quorate_idempotency SET epoch = ?1, state = 0, lock_until = ?2, \
                         expires_at = ?3, response = NULL WHERE scope = ?4 AND key = ?5",
                    )?
                    .execute(params![int(epoch), lock_until, expires_at, scope, key])?;
                        Begin::Execute(Attempt::new(
                            scope,
                            key,
                            FencingToken::new(epoch),
                            row.recovery,
                        ))
                    }
                    Decision::Replay(stored) => Begin::Replay(stored),
                    Decision::InProgress { retry_after } => Begin::InProgress { retry_after },
                    Decision::Mismatch => Begin::FingerprintMismatch,
                },
            };
        tx.commit()?;
        Ok(answer)
    }
}

fn insert_new(
    conn: &Connection,
    scope: &str,
    key: &str,
    fingerprint: &Fingerprint,
    epoch: u64,
    lock_until: i64,
    expires_at: i64,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO quorate_idempotency (scope, key, fingerprint, epoch, state, lock_until, \
             expires_at) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            scope,
            key,
            &fingerprint.as_bytes()[..],
            int(epoch),
            lock_until,
            expires_at
        ])?)
}

impl IdempotencyStore for SqliteStore {
    fn begin(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Begin, StoreError> {
        check_key(scope, key)?;
        crash_point("idempotency.begin.before");
        let mut conn = self.conn.lock();
        let lock_until = int(self
            .mono
            .now_nanos()
            .saturating_add(self.config.lock_ttl_nanos()));
        let wall_now = self.wall.now_unix_nanos();
        let expires_at = int(wall_now.saturating_add(self.config.retention_nanos()));
        let epoch = first_epoch(wall_now);
        // A new key: one autocommit statement.
        let inserted = insert_new(
            &conn,
            scope,
            key,
            fingerprint,
            epoch,
            lock_until,
            expires_at,
        )?;
        let answer = if inserted == 1 {
            Begin::Execute(Attempt::new(scope, key, FencingToken::new(epoch), None))
        } else {
            self.begin_existing(&mut conn, scope, key, fingerprint)?
        };
        drop(conn);
        crash_point("idempotency.begin.after");
        Ok(answer)
    }

    fn checkpoint(&self, attempt: &Attempt, phase: &str, data: &[u8]) -> Result<(), StoreError> {
        let conn = self.conn.lock();
        self.checkpoint_in(&conn, attempt, phase, data)
    }

    fn complete(&self, attempt: &Attempt, outcome: Outcome) -> Result<(), StoreError> {
        let conn = self.conn.lock();
        self.complete_in(&conn, attempt, outcome)
    }

    fn get(&self, scope: &str, key: &str) -> Result<Option<Record>, StoreError> {
        check_key(scope, key)?;
        let conn = self.conn.lock();
        let row = read_row(&conn, scope, key)?;
        let lock_now = self.mono.now_nanos();
        let wall_now = self.wall.now_unix_nanos();
        Ok(row
            .filter(|r| !r.expired(lock_now, wall_now, self.config.lock_ttl_nanos()))
            .map(|r| r.record()))
    }

    fn reap(&self, max: usize) -> Result<usize, StoreError> {
        let conn = self.conn.lock();
        let lock_now = int(self.mono.now_nanos());
        let wall_now = int(self.wall.now_unix_nanos());
        let ttl = int(self.config.lock_ttl_nanos());
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        // Past retention, and not an in-progress row with a live lock (a lock more than one
        // ttl ahead counts as expired, as in `begin`).
        let n = conn
            .prepare_cached(
                "DELETE FROM quorate_idempotency WHERE (scope, key) IN (\
                 SELECT scope, key FROM quorate_idempotency WHERE expires_at <= ?1 AND \
                 (state <> 0 OR lock_until <= ?2 OR lock_until - ?2 > ?3) LIMIT ?4)",
            )?
            .execute(params![wall_now, lock_now, ttl, limit])?;
        Ok(n)
    }

    fn config(&self) -> &StoreConfig {
        &self.config
    }
}
