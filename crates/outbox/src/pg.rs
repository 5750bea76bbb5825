//! PostgreSQL backend (feature `postgres`): migration, enqueue and inbox on
//! `postgres::Transaction`, the relay store, and a LISTEN/NOTIFY wake-up listener.
//!
//! # Ordering and exclusivity
//!
//! Enqueue is one statement that writes one row: it takes a transaction-scoped advisory lock
//! on the message's key (`pg_advisory_xact_lock(KEY_LOCK_CLASS, hashtext(key))`, released at
//! commit or rollback, so pooled connections cannot lose it) and only then draws `seq` from
//! the sequence. A second transaction enqueueing to the same key waits for the first to end,
//! so within a key `seq` order is commit order, even though across keys `seq` values become
//! visible out of order. The relay numbers new rows within their keys (`key_seq`, in `seq`
//! order) at the start of a claim, one relay at a time, and only claims numbered rows.
//!
//! A transaction holds one advisory lock per distinct key it enqueues to; enqueueing to more
//! distinct keys in one transaction than `max_locks_per_transaction` allows (64 times the
//! connection count by default, shared by all sessions) needs a larger setting. Two
//! transactions that enqueue to the same keys in opposite orders can deadlock, as they would
//! on any row they both update; PostgreSQL aborts one of them (SQLSTATE `40P01`, retry the
//! transaction). Transactions that enqueue to several keys avoid it by enqueueing in one
//! order, for example sorted by key.
//!
//! A claim selects ready, unclaimed key rows `FOR UPDATE SKIP LOCKED` (never waiting on
//! another relay), marks them `claimed_by`/`claim_until` and commits: claims are rows, not
//! session state, so they survive pooled connections and expire after a crash. Application
//! transactions never touch the key rows.

use std::thread;
use std::time::Duration;

use bytes::Bytes;
use postgres::types::{ToSql, Type};
use postgres::{Client, Statement, Transaction};

use crate::error::StoreError;
use crate::message::{DeadLetter, DeadReason, Headers, MessageId, NewMessage, OutboxMessage};
use crate::relay::RelaySignal;
use crate::store::{
    BatchOutcome, Candidate, ClaimRequest, InsertError, OutboxMetrics, OutboxTransaction,
    RelayStore, per_key_limit, plan_claim,
};

/// The schema version [`migrate`] installs.
pub const SCHEMA_VERSION: i64 = 1;

/// The NOTIFY channel enqueue signals and [`spawn_listener`] listens on.
pub const CHANNEL: &str = "quorate_outbox";

/// The first key of the two-key advisory locks enqueue takes per ordering key (the second is
/// `hashtext(key)`). Applications using two-key advisory locks should avoid this class.
pub const KEY_LOCK_CLASS: i32 = 713_502_116;

/// The advisory lock class (with second key 0) that lets one relay at a time number new rows.
pub const NUMBERING_LOCK_CLASS: i32 = 713_502_117;

/// The migrations, in order: `(version, SQL)`, each applied once in the transaction recording it.
///
/// Version 1 creates `quorate_outbox` (messages; `key_seq` is `NULL` until a relay numbers the
/// row), `quorate_outbox_keys` (one row per ordering key, written by relays only: `next_seq`,
/// `pending`, `ready_at`, `served_at`, `held`, `claimed_by`, `claim_until`),
/// `quorate_outbox_dead` (dead letters) and `quorate_inbox` (`(consumer, message_id)` marks),
/// with the same columns as the SQLite schema (see `sqlite::MIGRATIONS`).
pub const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE quorate_outbox (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL,
        key_seq BIGINT,
        msg_type TEXT NOT NULL,
        payload BYTEA NOT NULL,
        headers BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        state SMALLINT NOT NULL DEFAULT 0,
        attempts INT NOT NULL DEFAULT 0,
        started INT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL DEFAULT 0,
        last_error TEXT,
        sent_at BIGINT
     );
     CREATE UNIQUE INDEX quorate_outbox_key_seq ON quorate_outbox (key, key_seq)
        WHERE key_seq IS NOT NULL;
     CREATE INDEX quorate_outbox_pending ON quorate_outbox (key, key_seq)
        WHERE state = 0 AND key_seq IS NOT NULL;
     CREATE INDEX quorate_outbox_new ON quorate_outbox (seq) WHERE key_seq IS NULL;
     CREATE INDEX quorate_outbox_sent ON quorate_outbox (sent_at) WHERE state = 1;
     CREATE TABLE quorate_outbox_keys (
        key TEXT PRIMARY KEY,
        next_seq BIGINT NOT NULL DEFAULT 0,
        pending BIGINT NOT NULL,
        ready_at BIGINT NOT NULL DEFAULT 0,
        served_at BIGINT NOT NULL DEFAULT 0,
        held BOOLEAN NOT NULL DEFAULT FALSE,
        claimed_by TEXT,
        claim_until BIGINT NOT NULL DEFAULT 0
     );
     CREATE INDEX quorate_outbox_keys_ready ON quorate_outbox_keys (served_at, key)
        WHERE pending > 0 AND NOT held;
     CREATE TABLE quorate_outbox_dead (
        seq BIGINT PRIMARY KEY,
        id TEXT NOT NULL,
        key TEXT NOT NULL,
        key_seq BIGINT NOT NULL,
        msg_type TEXT NOT NULL,
        payload BYTEA NOT NULL,
        headers BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        attempts INT NOT NULL,
        reason SMALLINT NOT NULL,
        last_error TEXT NOT NULL,
        dead_at BIGINT NOT NULL
     );
     CREATE TABLE quorate_inbox (
        consumer TEXT NOT NULL,
        message_id TEXT NOT NULL,
        processed_at BIGINT NOT NULL,
        PRIMARY KEY (consumer, message_id)
     );
     CREATE INDEX quorate_inbox_processed ON quorate_inbox (processed_at);",
)];

/// Installs or upgrades the schema; returns the installed version. Idempotent and safe to run
/// concurrently (serialized by a transaction-scoped advisory lock, released at commit).
///
/// ```no_run
/// let mut client = postgres::Client::connect("host=/run/postgresql user=postgres", postgres::NoTls)?;
/// assert_eq!(quorate_outbox::pg::migrate(&mut client)?, quorate_outbox::pg::SCHEMA_VERSION);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`StoreError::SchemaTooNew`] for a newer schema; [`StoreError::Postgres`].
pub fn migrate(client: &mut Client) -> Result<i64, StoreError> {
    let mut tx = client.transaction()?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7135021163);
         CREATE TABLE IF NOT EXISTS quorate_outbox_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM quorate_outbox_schema",
            &[],
        )?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO quorate_outbox_schema (version, applied_at) VALUES ($1, 0)",
            &[v],
        )?;
    }
    tx.commit()?;
    Ok(SCHEMA_VERSION.max(current))
}

const ENQUEUE: &str = "INSERT INTO quorate_outbox (id, key, msg_type, payload, headers, created_at)
 SELECT $2, $1, $3, $4, $5, $6 FROM (SELECT pg_advisory_xact_lock(713502116, hashtext($1))) l";

const ENQUEUE_NOTIFY: &str =
    "INSERT INTO quorate_outbox (id, key, msg_type, payload, headers, created_at)
 SELECT $2, $1, $3, $4, $5, $6 FROM (SELECT pg_advisory_xact_lock(713502116, hashtext($1))) l,
   (SELECT pg_notify('quorate_outbox', '')) n";

/// Pending messages: the keys' counts plus the rows not numbered yet.
const PENDING: &str = "SELECT ((SELECT coalesce(sum(pending), 0) FROM quorate_outbox_keys)
    + (SELECT count(*) FROM quorate_outbox WHERE key_seq IS NULL))::bigint";

/// Rows numbered per pass (the rest wait for the next claim).
const NUMBER_BATCH: i64 = 10_000;

/// Numbers up to `$1` new rows within their keys in `seq` order, continuing each key's
/// `next_seq`, and adds them to the keys' pending counts.
const NUMBER: &str = "WITH u AS (
    SELECT seq, key, row_number() OVER (PARTITION BY key ORDER BY seq) AS rn
    FROM (SELECT seq, key FROM quorate_outbox WHERE key_seq IS NULL ORDER BY seq LIMIT $1) s),
 c AS (SELECT key, count(*) AS n FROM u GROUP BY key),
 k AS (INSERT INTO quorate_outbox_keys AS k (key, next_seq, pending)
       SELECT key, n, n FROM c ORDER BY key
       ON CONFLICT (key) DO UPDATE SET next_seq = k.next_seq + excluded.next_seq,
                                       pending = k.pending + excluded.pending
       RETURNING k.key, k.next_seq)
 UPDATE quorate_outbox m SET key_seq = k.next_seq - c.n + u.rn
 FROM u JOIN c ON c.key = u.key JOIN k ON k.key = u.key
 WHERE m.seq = u.seq";

const ENQUEUE_TYPES: [Type; 6] = [
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::INT8,
];

/// One message's values for the enqueue statement, in its parameter order (`$1` key, `$2`
/// id, `$3` type, `$4` payload, `$5` encoded headers, `$6` enqueue time).
struct EnqueueRow<'a> {
    key: &'a str,
    id: &'a str,
    msg_type: &'a str,
    payload: &'a [u8],
    headers: Vec<u8>,
    now_ms: i64,
}

impl<'a> EnqueueRow<'a> {
    fn new(id: &'a MessageId, m: &'a NewMessage, now_ms: i64) -> Self {
        Self {
            key: &m.key,
            id: id.as_str(),
            msg_type: &m.msg_type,
            payload: &m.payload,
            headers: m.headers.encode_bytes(),
            now_ms,
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 6] {
        [
            &self.key,
            &self.id,
            &self.msg_type,
            &self.payload,
            &self.headers,
            &self.now_ms,
        ]
    }

    /// With their types, for a one-round-trip unprepared statement.
    fn typed(&self) -> [(&(dyn ToSql + Sync), Type); 6] {
        let [a, b, c, d, e, f] = self.params();
        let [ta, tb, tc, td, te, tf] = ENQUEUE_TYPES;
        [(a, ta), (b, tb), (c, tc), (d, td), (e, te), (f, tf)]
    }
}

/// The enqueue statement prepared once on a connection (with and without the NOTIFY), so that
/// each enqueue skips PostgreSQL's parse and plan: about a third of the statement's cost on a
/// local server. Use it on the connection that prepared it; on another one the statement does
/// not exist and enqueue fails with a store error.
///
/// ```no_run
/// use quorate_outbox::{NewMessage, Outbox, pg::PreparedEnqueue};
/// let mut client = postgres::Client::connect("host=/run/postgresql user=postgres", postgres::NoTls)?;
/// let outbox = Outbox::builder().build();
/// let prepared = PreparedEnqueue::prepare(&mut client)?; // once per connection
/// let mut tx = client.transaction()?;
/// outbox.enqueue(&mut prepared.on(&mut tx), &NewMessage::new("k", "t", &b"x"[..])?)?;
/// tx.commit()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PreparedEnqueue {
    plain: Statement,
    notify: Statement,
}

impl PreparedEnqueue {
    /// Prepares the statements on `client`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Postgres`], for example when the schema is not migrated.
    pub fn prepare(client: &mut Client) -> Result<Self, StoreError> {
        Ok(Self {
            plain: client.prepare_typed(ENQUEUE, &ENQUEUE_TYPES)?,
            notify: client.prepare_typed(ENQUEUE_NOTIFY, &ENQUEUE_TYPES)?,
        })
    }

    /// Prepares the statements on an asynchronous client (feature `tokio`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Postgres`].
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn prepare_async(client: &tokio_postgres::Client) -> Result<Self, StoreError> {
        Ok(Self {
            plain: client.prepare_typed(ENQUEUE, &ENQUEUE_TYPES).await?,
            notify: client.prepare_typed(ENQUEUE_NOTIFY, &ENQUEUE_TYPES).await?,
        })
    }

    /// `tx` with these statements, for [`Outbox::enqueue`](crate::Outbox::enqueue) and
    /// [`Inbox::process_once`](crate::Inbox::process_once).
    pub fn on<'a, 'c>(&'a self, tx: &'a mut Transaction<'c>) -> PreparedTransaction<'a, 'c> {
        PreparedTransaction { tx, enqueue: self }
    }

    fn statement(&self, notify: bool) -> &Statement {
        if notify { &self.notify } else { &self.plain }
    }
}

/// A `postgres::Transaction` that enqueues with a [`PreparedEnqueue`]; built by
/// [`PreparedEnqueue::on`].
pub struct PreparedTransaction<'a, 'c> {
    tx: &'a mut Transaction<'c>,
    enqueue: &'a PreparedEnqueue,
}

impl std::fmt::Debug for PreparedTransaction<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedTransaction")
            .field("enqueue", &self.enqueue)
            .finish_non_exhaustive()
    }
}

impl OutboxTransaction for PreparedTransaction<'_, '_> {
    fn insert_message(
        &mut self,
        id: &MessageId,
        m: &NewMessage,
        now_ms: i64,
        notify: bool,
    ) -> Result<(), InsertError> {
        let row = EnqueueRow::new(id, m, now_ms);
        self.tx
            .execute(self.enqueue.statement(notify), &row.params())
            .map_err(insert_error)?;
        Ok(())
    }

    fn pending_count(&mut self) -> Result<u64, StoreError> {
        self.tx.pending_count()
    }

    fn inbox_mark(
        &mut self,
        consumer: &str,
        id: &MessageId,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.tx.inbox_mark(consumer, id, now_ms)
    }
}

fn insert_error(e: postgres::Error) -> InsertError {
    if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
        && e.as_db_error()
            .and_then(|d| d.constraint())
            .is_some_and(|c| c.contains("id"))
    {
        InsertError::Duplicate
    } else {
        InsertError::Store(e.into())
    }
}

impl OutboxTransaction for Transaction<'_> {
    fn insert_message(
        &mut self,
        id: &MessageId,
        m: &NewMessage,
        now_ms: i64,
        notify: bool,
    ) -> Result<(), InsertError> {
        let row = EnqueueRow::new(id, m, now_ms);
        let sql = if notify { ENQUEUE_NOTIFY } else { ENQUEUE };
        self.execute_typed(sql, &row.typed())
            .map_err(insert_error)?;
        Ok(())
    }

    fn pending_count(&mut self) -> Result<u64, StoreError> {
        let n: i64 = self.query_one(PENDING, &[])?.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn inbox_mark(
        &mut self,
        consumer: &str,
        id: &MessageId,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self.execute_typed(
            "INSERT INTO quorate_inbox (consumer, message_id, processed_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[
                (&consumer, Type::TEXT),
                (&id.as_str(), Type::TEXT),
                (&now_ms, Type::INT8),
            ],
        )?;
        Ok(n == 1)
    }
}

/// Enqueue on a `tokio_postgres::Transaction` (feature `tokio`): the same statement as the
/// synchronous path.
///
/// ```no_run
/// # async fn demo(client: &mut tokio_postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use quorate_outbox::{NewMessage, Outbox};
/// let outbox = Outbox::builder().build();
/// let tx = client.transaction().await?;
/// quorate_outbox::pg::enqueue_async(&outbox, &tx, &NewMessage::new("k", "t", &b"x"[..])?).await?;
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`EnqueueError::Backpressure`](crate::EnqueueError::Backpressure) above the outbox's
/// high-water mark (after waiting up to its `wait_up_to`, asleep on tokio),
/// [`EnqueueError::DuplicateId`](crate::EnqueueError::DuplicateId) or
/// [`EnqueueError::Store`](crate::EnqueueError::Store).
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn enqueue_async(
    outbox: &crate::Outbox,
    tx: &tokio_postgres::Transaction<'_>,
    message: &NewMessage,
) -> Result<MessageId, crate::EnqueueError> {
    enqueue_async_with(outbox, tx, None, message).await
}

#[cfg(feature = "tokio")]
async fn enqueue_async_with(
    outbox: &crate::Outbox,
    tx: &tokio_postgres::Transaction<'_>,
    prepared: Option<&PreparedEnqueue>,
    message: &NewMessage,
) -> Result<MessageId, crate::EnqueueError> {
    let now_ms = outbox.now_ms();
    if let Some(bp) = outbox.backpressure() {
        check_backpressure_async(outbox, tx, &bp, now_ms).await?;
    }
    let id = outbox.message_id(message, now_ms);
    let row = EnqueueRow::new(&id, message, now_ms);
    let notify = outbox.notify_enabled();
    let result = match prepared {
        Some(p) => tx.execute(p.statement(notify), &row.params()).await,
        None => {
            let sql = if notify { ENQUEUE_NOTIFY } else { ENQUEUE };
            tx.execute_typed(sql, &row.typed()).await
        }
    };
    drop(row);
    crate::EnqueueError::from_insert(id, result.map(drop).map_err(insert_error))
}

/// [`enqueue_async`] with the statement prepared on this connection by
/// [`PreparedEnqueue::prepare_async`]: no parse or plan per message.
///
/// ```no_run
/// # async fn demo(client: &mut tokio_postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use quorate_outbox::{NewMessage, Outbox, pg::PreparedEnqueue};
/// let outbox = Outbox::builder().build();
/// let prepared = PreparedEnqueue::prepare_async(client).await?;
/// let tx = client.transaction().await?;
/// let m = NewMessage::new("k", "t", &b"x"[..])?;
/// quorate_outbox::pg::enqueue_async_prepared(&outbox, &tx, &prepared, &m).await?;
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// As [`enqueue_async`]; [`EnqueueError::Store`](crate::EnqueueError::Store) when `prepared`
/// was prepared on another connection.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn enqueue_async_prepared(
    outbox: &crate::Outbox,
    tx: &tokio_postgres::Transaction<'_>,
    prepared: &PreparedEnqueue,
    message: &NewMessage,
) -> Result<MessageId, crate::EnqueueError> {
    enqueue_async_with(outbox, tx, Some(prepared), message).await
}

/// The backpressure check of [`crate::Outbox::enqueue`] on tokio-postgres: the same counts
/// and hysteresis, with the wait asleep on tokio.
#[cfg(feature = "tokio")]
async fn check_backpressure_async(
    outbox: &crate::Outbox,
    tx: &tokio_postgres::Transaction<'_>,
    bp: &crate::Backpressure,
    now_ms: i64,
) -> Result<(), crate::EnqueueError> {
    async fn count(tx: &tokio_postgres::Transaction<'_>) -> Result<u64, StoreError> {
        let n: i64 = tx.query_one(PENDING, &[]).await?.try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
    if !outbox.needs_count(bp, now_ms) {
        return outbox.admit(bp, None, now_ms);
    }
    let mut result = outbox.admit(bp, Some(count(tx).await?), now_ms);
    let mut waited = Duration::ZERO;
    while result.is_err() && waited < bp.max_wait() {
        let step = bp.poll().min(bp.max_wait().saturating_sub(waited));
        tokio::time::sleep(step).await;
        waited += step;
        result = outbox.admit(bp, Some(count(tx).await?), outbox.now_ms());
    }
    result
}

/// Deletes at most `limit` inbox marks recorded before `before_ms`; returns how many.
///
/// # Errors
///
/// [`StoreError::Postgres`].
pub fn purge_inbox(client: &mut Client, before_ms: i64, limit: usize) -> Result<u64, StoreError> {
    Ok(client.execute(
        "DELETE FROM quorate_inbox WHERE (consumer, message_id) IN
           (SELECT consumer, message_id FROM quorate_inbox WHERE processed_at < $1 LIMIT $2)",
        &[&before_ms, &i64::try_from(limit).unwrap_or(i64::MAX)],
    )?)
}

struct Statements {
    number_lock: Statement,
    number: Statement,
    claim_keys: Statement,
    claim_rows: Statement,
    claim_mark_keys: Statement,
    claim_started: Statement,
    sent: Statement,
    unattempted: Statement,
}

/// The relay store over one PostgreSQL connection (its statements are prepared once).
///
/// Run several relays, each with its own store and connection, with distinct relay ids. The
/// connection runs with `synchronous_commit = off` (see [`PgRelayStore::new`]).
///
/// ```no_run
/// use quorate_outbox::{MemorySink, Relay, RelayConfig, pg::PgRelayStore};
/// let client = postgres::Client::connect("host=/run/postgresql user=postgres", postgres::NoTls)?;
/// let store = PgRelayStore::new(client)?;
/// let mut relay = Relay::new(store, MemorySink::new(), RelayConfig::builder().relay_id("relay-1").build()?);
/// relay.run_once()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PgRelayStore {
    client: Client,
    st: Statements,
}

impl std::fmt::Debug for PgRelayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgRelayStore")
    }
}

impl PgRelayStore {
    /// Prepares the relay's statements on `client` (the schema must be migrated) and sets
    /// `synchronous_commit = off` for this session: losing the relay's last bookkeeping
    /// commits in a server crash only causes republishing, never loss.
    ///
    /// # Errors
    ///
    /// [`StoreError::Postgres`], for example when the tables are missing.
    pub fn new(mut client: Client) -> Result<Self, StoreError> {
        // The relay's own bookkeeping need not wait for the WAL flush: a claim, mark-sent or
        // retry record lost to a server crash only makes a message published again (at least
        // once still holds) or its key claimable again. Enqueues keep the caller's setting.
        // Relays never wait long on each other's key rows (application transactions do not
        // touch them): a lock timeout fails the step, which the relay retries.
        client.batch_execute("SET synchronous_commit = off; SET lock_timeout = '200ms'")?;
        let st = Statements {
            number_lock: client.prepare("SELECT pg_try_advisory_xact_lock(713502117, 0)")?,
            number: client.prepare(NUMBER)?,
            claim_keys: client.prepare(
                "SELECT key FROM quorate_outbox_keys
                 WHERE pending > 0 AND NOT held AND ready_at <= $1 AND claim_until <= $1
                 ORDER BY served_at, key LIMIT $2 FOR UPDATE SKIP LOCKED",
            )?,
            claim_rows: client.prepare(
                "SELECT m.seq, m.id, m.key, m.key_seq, m.msg_type, m.payload, m.headers, m.created_at,
                        m.attempts, m.started
                 FROM unnest($1::text[]) WITH ORDINALITY AS k(key, ord)
                 CROSS JOIN LATERAL (
                    SELECT * FROM quorate_outbox o
                    WHERE o.key = k.key AND o.key_seq IS NOT NULL AND o.state = 0
                    ORDER BY o.key_seq LIMIT $2) m
                 ORDER BY k.ord, m.key_seq",
            )?,
            claim_mark_keys: client.prepare(
                "UPDATE quorate_outbox_keys SET claimed_by = $2, claim_until = $3 WHERE key = ANY($1)",
            )?,
            claim_started: client
                .prepare("UPDATE quorate_outbox SET started = started + 1 WHERE seq = ANY($1)")?,
            // Marks the sent rows and, in the same statement, decrements the keys' pending
            // counts and releases the batch's claims (one row version per key).
            sent: client.prepare(
                "WITH s AS (
                    UPDATE quorate_outbox SET state = 1, sent_at = $2, attempts = attempts + 1
                    WHERE seq = ANY($1) AND state = 0 RETURNING key),
                 c AS (SELECT key, count(*) AS n FROM s GROUP BY key),
                 r AS (SELECT DISTINCT unnest($3::text[]) AS key)
                 UPDATE quorate_outbox_keys k
                 SET pending = k.pending - coalesce(c.n, 0),
                     served_at = CASE WHEN c.n IS NULL THEN k.served_at ELSE $2 END,
                     claimed_by = CASE WHEN k.claimed_by = $4 THEN NULL ELSE k.claimed_by END,
                     claim_until = CASE WHEN k.claimed_by = $4 THEN 0 ELSE k.claim_until END
                 FROM r LEFT JOIN c ON c.key = r.key
                 WHERE k.key = r.key",
            )?,
            unattempted: client.prepare(
                "UPDATE quorate_outbox SET started = greatest(started - 1, attempts)
                 WHERE seq = ANY($1) AND state = 0",
            )?,
        };
        Ok(Self { client, st })
    }

    /// The connection.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Numbers new rows within their keys, in a transaction of its own. One relay numbers at
    /// a time (the others claim what is numbered already); the lock is taken in its own
    /// statement so that the numbering statement's snapshot follows the previous numbering's
    /// commit. When a key row is held by another relay past the lock timeout (or the two would
    /// deadlock), this pass numbers nothing and the next claim tries again.
    fn number_new(&mut self) -> Result<(), StoreError> {
        let mut tx = self.client.transaction()?;
        let numbering: bool = tx.query_one(&self.st.number_lock, &[])?.try_get(0)?;
        if numbering {
            match tx.execute(&self.st.number, &[&NUMBER_BATCH]) {
                Ok(_) => {}
                Err(e) if lock_contention(&e) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn complete_once(&mut self, relay: &str, o: &BatchOutcome, now: i64) -> Result<(), StoreError> {
        let mut tx = self.client.transaction()?;
        for f in &o.failed {
            match f.dead {
                Some(reason) => {
                    move_to_dead(&mut tx, f.seq, &f.key, reason, &f.error, f.hold_key, now)?
                }
                None => {
                    tx.execute(
                        "UPDATE quorate_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3
                         WHERE seq = $1 AND state = 0",
                        &[&f.seq, &f.next_attempt_ms, &f.error],
                    )?;
                    tx.execute(
                        "UPDATE quorate_outbox_keys SET ready_at = greatest(ready_at, $2), served_at = $3 WHERE key = $1",
                        &[&f.key, &f.next_attempt_ms, &now],
                    )?;
                }
            }
        }
        if !o.unattempted.is_empty() {
            let seqs: Vec<i64> = o.unattempted.iter().map(|(s, _)| *s).collect();
            tx.execute(&self.st.unattempted, &[&seqs])?;
        }
        let seqs: Vec<i64> = o.sent.iter().map(|(s, _)| *s).collect();
        tx.execute(&self.st.sent, &[&seqs, &now, &o.keys, &relay])?;
        tx.commit()?;
        Ok(())
    }
}

/// A lock timeout or a deadlock: another relay held the rows; retrying is safe.
fn lock_contention(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
        || e.code() == Some(&postgres::error::SqlState::T_R_DEADLOCK_DETECTED)
}

fn move_to_dead(
    tx: &mut Transaction<'_>,
    seq: i64,
    key: &str,
    reason: DeadReason,
    error: &str,
    hold: bool,
    now: i64,
) -> Result<(), StoreError> {
    let moved = tx.execute(
        "WITH d AS (DELETE FROM quorate_outbox WHERE seq = $1 AND state = 0 RETURNING *)
         INSERT INTO quorate_outbox_dead (seq, id, key, key_seq, msg_type, payload, headers, created_at, attempts, reason, last_error, dead_at)
         SELECT seq, id, key, key_seq, msg_type, payload, headers, created_at, attempts, $2, $3, $4 FROM d",
        &[&seq, &reason.code(), &error, &now],
    )?;
    if moved == 1 {
        tx.execute(
            "UPDATE quorate_outbox_keys SET pending = pending - 1, held = held OR $2, served_at = $3 WHERE key = $1",
            &[&key, &hold, &now],
        )?;
    }
    Ok(())
}

fn to_u32(v: i32) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn row_candidate(r: &postgres::Row) -> Result<Candidate, StoreError> {
    let headers: &[u8] = r.try_get(6)?;
    let payload: &[u8] = r.try_get(5)?;
    Ok(Candidate {
        message: OutboxMessage {
            seq: r.try_get(0)?,
            id: MessageId::from_stored(r.try_get(1)?)?,
            key: r.try_get(2)?,
            key_seq: r.try_get(3)?,
            msg_type: r.try_get(4)?,
            payload: Bytes::copy_from_slice(payload),
            headers: Headers::decode_bytes(headers)
                .map_err(|e| StoreError::Corrupt(format!("headers: {e}")))?,
            created_at_ms: r.try_get(7)?,
            attempts: to_u32(r.try_get(8)?),
        },
        started: to_u32(r.try_get(9)?),
    })
}

impl RelayStore for PgRelayStore {
    fn claim(&mut self, req: &ClaimRequest<'_>) -> Result<Vec<OutboxMessage>, StoreError> {
        self.number_new()?;
        let mut tx = self.client.transaction()?;
        let max = i64::try_from(req.max_messages).unwrap_or(i64::MAX);
        let keys: Vec<String> = tx
            .query(&self.st.claim_keys, &[&req.now_ms, &max])?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            tx.commit()?;
            return Ok(Vec::new());
        }
        let per_key = i64::try_from(per_key_limit(req.max_messages, keys.len())).unwrap_or(1);
        let rows = tx.query(&self.st.claim_rows, &[&keys, &per_key])?;
        let mut groups: Vec<Vec<Candidate>> = Vec::with_capacity(keys.len());
        for r in &rows {
            let c = row_candidate(r)?;
            match groups.last_mut() {
                Some(g) if g.first().is_some_and(|f| f.message.key == c.message.key) => g.push(c),
                _ => groups.push(vec![c]),
            }
        }
        let plan = plan_claim(&groups, req.max_messages, req.crash_limit, req.poison);
        let flat: Vec<&Candidate> = groups.iter().flatten().collect();
        for (i, hold) in &plan.dead {
            if let Some(c) = flat.get(*i) {
                let unfinished = c.started.saturating_sub(c.message.attempts);
                move_to_dead(
                    &mut tx,
                    c.message.seq,
                    &c.message.key,
                    DeadReason::CrashLoop,
                    &format!("relay died {unfinished} times while publishing it"),
                    *hold,
                    req.now_ms,
                )?;
            }
        }
        if !plan.keys.is_empty() {
            tx.execute(
                &self.st.claim_mark_keys,
                &[&plan.keys, &req.relay, &req.claim_until_ms],
            )?;
        }
        let out = plan.messages(&flat);
        if !out.is_empty() {
            let seqs: Vec<i64> = out.iter().map(|m| m.seq).collect();
            tx.execute(&self.st.claim_started, &[&seqs])?;
        }
        tx.commit()?;
        Ok(out)
    }

    fn complete(&mut self, relay: &str, o: &BatchOutcome, now: i64) -> Result<(), StoreError> {
        // A lock timeout (another relay holding a key row) is retried a few times;
        // the whole outcome is idempotent.
        let mut last = None;
        for _ in 0..5 {
            match self.complete_once(relay, o, now) {
                Ok(()) => return Ok(()),
                Err(StoreError::Postgres(e)) if lock_contention(&e) => {
                    last = Some(StoreError::Postgres(e));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(StoreError::NotMigrated))
    }

    fn metrics(&mut self, now_ms: i64) -> Result<OutboxMetrics, StoreError> {
        let pending: i64 = self.client.query_one(PENDING, &[])?.try_get(0)?;
        let r = self.client.query_one(
            "SELECT least(
                (SELECT min(created_at) FROM quorate_outbox WHERE state = 0 AND key_seq IS NOT NULL),
                (SELECT min(created_at) FROM quorate_outbox WHERE key_seq IS NULL)),
                (SELECT count(*) FROM quorate_outbox_dead)",
            &[],
        )?;
        let (oldest, dead): (Option<i64>, i64) = (r.try_get(0)?, r.try_get(1)?);
        Ok(OutboxMetrics {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_pending_age: oldest.map(|o| {
                Duration::from_millis(u64::try_from(now_ms.saturating_sub(o)).unwrap_or(0))
            }),
            dead_letters: u64::try_from(dead).unwrap_or(0),
        })
    }

    fn cleanup(&mut self, sent_before_ms: i64, limit: usize) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = self.client.transaction()?;
        let n = tx.execute(
            "DELETE FROM quorate_outbox WHERE seq IN
               (SELECT seq FROM quorate_outbox WHERE state = 1 AND sent_at < $1 ORDER BY sent_at LIMIT $2
                FOR UPDATE SKIP LOCKED)",
            &[&sent_before_ms, &limit],
        )?;
        tx.execute(
            "DELETE FROM quorate_outbox_keys WHERE key IN
               (SELECT k.key FROM quorate_outbox_keys k
                WHERE k.pending = 0 AND NOT k.held AND k.claimed_by IS NULL
                  AND NOT EXISTS (SELECT 1 FROM quorate_outbox o
                                  WHERE o.key = k.key AND o.key_seq IS NOT NULL)
                LIMIT $1 FOR UPDATE SKIP LOCKED)",
            &[&limit],
        )?;
        tx.commit()?;
        Ok(n)
    }

    fn dead_letters(&mut self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = self.client.query(
            "SELECT seq, id, key, key_seq, msg_type, payload, headers, created_at, attempts, 0::int,
                    reason, last_error, dead_at
             FROM quorate_outbox_dead ORDER BY dead_at, seq LIMIT $1",
            &[&i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        rows.iter()
            .map(|r| {
                let c = row_candidate(r)?;
                let code: i16 = r.try_get(10)?;
                Ok(DeadLetter {
                    message: c.message,
                    reason: DeadReason::from_code(code)
                        .ok_or_else(|| StoreError::Corrupt(format!("dead-letter reason {code}")))?,
                    last_error: r.try_get(11)?,
                    dead_at_ms: r.try_get(12)?,
                })
            })
            .collect()
    }

    fn release_key(&mut self, key: &str) -> Result<bool, StoreError> {
        Ok(self.client.execute(
            "UPDATE quorate_outbox_keys SET held = FALSE WHERE key = $1 AND held",
            &[&key],
        )? == 1)
    }
}

/// A thread listening on [`CHANNEL`] that wakes a relay on each notification.
///
/// A hint only: the relay polls anyway, so a lost notification (or a listener that cannot
/// connect) costs latency, never messages. The thread reconnects after errors and ends when
/// the signal is shut down.
#[derive(Debug)]
pub struct Listener {
    handle: Option<thread::JoinHandle<()>>,
}

impl Listener {
    /// Waits for the thread to end (after [`RelaySignal::shutdown`]).
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Starts a [`Listener`] connecting with `config` (no TLS) and waking `signal`.
///
/// ```no_run
/// let config: postgres::Config = "host=/run/postgresql user=postgres".parse()?;
/// let signal = quorate_outbox::RelaySignal::new();
/// let listener = quorate_outbox::pg::spawn_listener(config, signal.clone());
/// signal.shutdown();
/// listener.join();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn spawn_listener(config: postgres::Config, signal: RelaySignal) -> Listener {
    let handle = thread::spawn(move || {
        while !signal.is_shutdown() {
            let Ok(mut client) = config.connect(postgres::NoTls) else {
                signal.wait(Duration::from_secs(1));
                continue;
            };
            if client.batch_execute("LISTEN quorate_outbox").is_err() {
                continue;
            }
            'listen: while !signal.is_shutdown() {
                {
                    let mut notes = client.notifications();
                    let mut iter = notes.timeout_iter(Duration::from_millis(200));
                    loop {
                        match postgres::fallible_iterator::FallibleIterator::next(&mut iter) {
                            Ok(Some(_)) => signal.wake(),
                            Ok(None) => break,
                            Err(_) => break 'listen,
                        }
                    }
                }
                if client.is_closed() {
                    break;
                }
            }
        }
    });
    Listener {
        handle: Some(handle),
    }
}
