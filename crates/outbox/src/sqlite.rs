//! SQLite backend (feature `sqlite`): migration, enqueue and inbox on `rusqlite::Transaction`,
//! and the relay store.
//!
//! Enqueue writes one row and touches two pages: the message table and its `id` index. SQLite
//! has one writer at a time, so `seq` order is commit order. Before each claim the relay
//! numbers the rows written since its last pass (`seq` above the watermark in
//! `quorate_outbox_numbered`) within their keys (`key_seq`) and adds them to their keys'
//! pending counts, in the claim's own transaction; claims (`BEGIN IMMEDIATE`) never
//! interleave. Several relays may share a database file through their own connections; they
//! take turns claiming. Do not reset `sqlite_sequence` for `quorate_outbox`: the watermark
//! relies on `seq` only growing, which `AUTOINCREMENT` guarantees.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension as _, Transaction, TransactionBehavior, params};

use crate::error::StoreError;
use crate::message::{DeadLetter, DeadReason, Headers, MessageId, NewMessage, OutboxMessage};
use crate::store::{
    BatchOutcome, Candidate, ClaimRequest, InsertError, OutboxMetrics, OutboxTransaction,
    RelayStore, per_key_limit, plan_claim,
};

/// The schema version [`migrate`] installs.
pub const SCHEMA_VERSION: i64 = 1;

/// The migrations, in order: `(version, SQL)`. Each runs once, in the transaction that records it.
///
/// Version 1 creates:
/// - `quorate_outbox`: one row per message (`seq` store position, `id` unique, `key`,
///   `key_seq` position within the key in commit order, `NULL` until the relay numbers the
///   row, type, payload, encoded headers,
///   `created_at`, `state` 0 pending / 1 sent, `attempts` finished, `started`,
///   `next_attempt_at`, `last_error`, `sent_at`);
/// - `quorate_outbox_keys`: one row per ordering key, written by relays only (`next_seq` last
///   position given, `pending` count, `ready_at` retry time, `served_at` for fairness, `held`
///   by the strict poison policy, `claimed_by`/`claim_until`);
/// - `quorate_outbox_numbered`: one row, `upto`: the highest `seq` numbered so far;
/// - `quorate_outbox_dead`: dead letters with reason, last error and time;
/// - `quorate_inbox`: `(consumer, message_id)` marks with `processed_at`.
pub const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE quorate_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        key TEXT NOT NULL,
        key_seq INTEGER,
        msg_type TEXT NOT NULL,
        payload BLOB NOT NULL,
        headers BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        state INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        started INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        sent_at INTEGER
     );
     CREATE UNIQUE INDEX quorate_outbox_key_seq ON quorate_outbox (key, key_seq)
        WHERE key_seq IS NOT NULL;
     CREATE INDEX quorate_outbox_pending ON quorate_outbox (key, key_seq)
        WHERE state = 0 AND key_seq IS NOT NULL;
     CREATE INDEX quorate_outbox_sent ON quorate_outbox (sent_at) WHERE state = 1;
     CREATE TABLE quorate_outbox_keys (
        key TEXT PRIMARY KEY,
        next_seq INTEGER NOT NULL DEFAULT 0,
        pending INTEGER NOT NULL,
        ready_at INTEGER NOT NULL DEFAULT 0,
        served_at INTEGER NOT NULL DEFAULT 0,
        held INTEGER NOT NULL DEFAULT 0,
        claimed_by TEXT,
        claim_until INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX quorate_outbox_keys_ready ON quorate_outbox_keys (served_at, key)
        WHERE pending > 0 AND held = 0;
     CREATE TABLE quorate_outbox_numbered (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        upto INTEGER NOT NULL
     );
     INSERT INTO quorate_outbox_numbered (id, upto) VALUES (1, 0);
     CREATE TABLE quorate_outbox_dead (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        key TEXT NOT NULL,
        key_seq INTEGER NOT NULL,
        msg_type TEXT NOT NULL,
        payload BLOB NOT NULL,
        headers BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        reason INTEGER NOT NULL,
        last_error TEXT NOT NULL,
        dead_at INTEGER NOT NULL
     );
     CREATE TABLE quorate_inbox (
        consumer TEXT NOT NULL,
        message_id TEXT NOT NULL,
        processed_at INTEGER NOT NULL,
        PRIMARY KEY (consumer, message_id)
     ) WITHOUT ROWID;
     CREATE INDEX quorate_inbox_processed ON quorate_inbox (processed_at);",
)];

/// Installs or upgrades the schema; returns the version now installed. Idempotent; safe to
/// call from several processes (it runs under `BEGIN IMMEDIATE`).
///
/// ```
/// let conn = rusqlite::Connection::open_in_memory()?;
/// assert_eq!(quorate_outbox::sqlite::migrate(&conn)?, quorate_outbox::sqlite::SCHEMA_VERSION);
/// assert_eq!(quorate_outbox::sqlite::migrate(&conn)?, 1);
/// # Ok::<(), quorate_outbox::StoreError>(())
/// ```
///
/// # Errors
///
/// [`StoreError::SchemaTooNew`] when the database has a newer version; [`StoreError::Sqlite`].
pub fn migrate(conn: &Connection) -> Result<i64, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS quorate_outbox_schema (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )?;
        let current: i64 = conn.query_row(
            "SELECT coalesce(max(version), 0) FROM quorate_outbox_schema",
            [],
            |r| r.get(0),
        )?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            conn.execute_batch(sql)?;
            conn.execute(
                "INSERT INTO quorate_outbox_schema (version, applied_at) VALUES (?1, 0)",
                [v],
            )?;
        }
        Ok(SCHEMA_VERSION.max(current))
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

fn insert(conn: &Connection, id: &MessageId, m: &NewMessage, now: i64) -> Result<(), InsertError> {
    let r = conn
        .prepare_cached(
            "INSERT INTO quorate_outbox (id, key, msg_type, payload, headers, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                id.as_str(),
                m.key,
                m.msg_type,
                m.payload.as_ref(),
                m.headers.encode_bytes(),
                now
            ])
        });
    match r {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(InsertError::Duplicate)
        }
        Err(e) => Err(InsertError::Store(e.into())),
    }
}

/// Rows numbered per pass (the rest wait for the next claim).
const NUMBER_BATCH: i64 = 10_000;

/// Numbers the rows enqueued since the last pass within their keys, in `seq` order (commit
/// order: one writer at a time), and adds them to their keys' pending counts. Runs inside the
/// claim's `BEGIN IMMEDIATE` transaction, so passes never overlap.
fn number_new(tx: &Connection) -> Result<(), StoreError> {
    let (mut upto, top): (i64, i64) = tx
        .prepare_cached(
            "SELECT upto, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'quorate_outbox'), 0)
             FROM quorate_outbox_numbered WHERE id = 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if top < upto {
        // The sequence went back (someone reset `sqlite_sequence`): rows at or below the
        // watermark may be new. Find the first unnumbered row the slow way, once.
        upto = tx.query_row(
            "SELECT coalesce(min(seq), ?1 + 1) - 1 FROM quorate_outbox WHERE key_seq IS NULL",
            [top],
            |r| r.get(0),
        )?;
    }
    let rows: Vec<(i64, String)> = tx
        .prepare_cached("SELECT seq, key FROM quorate_outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2")?
        .query_map(params![upto, NUMBER_BATCH], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let Some(&(last, _)) = rows.last() else {
        return Ok(());
    };
    // Per key: first the count of new rows, then (after the key row took them) the position
    // before this pass's first row.
    let mut next: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for (_, key) in &rows {
        *next.entry(key.as_str()).or_default() += 1;
    }
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO quorate_outbox_keys (key, next_seq, pending) VALUES (?1, ?2, ?2)
             ON CONFLICT (key) DO UPDATE SET next_seq = next_seq + excluded.next_seq,
                                             pending = pending + excluded.pending
             RETURNING next_seq",
        )?;
        for (key, n) in &mut next {
            let after: i64 = upsert.query_row(params![key, *n], |r| r.get(0))?;
            *n = after - *n;
        }
    }
    let mut set = tx.prepare_cached("UPDATE quorate_outbox SET key_seq = ?2 WHERE seq = ?1")?;
    for (seq, key) in &rows {
        let pos = next.entry(key.as_str()).or_default();
        *pos += 1;
        set.execute(params![seq, *pos])?;
    }
    tx.prepare_cached("UPDATE quorate_outbox_numbered SET upto = ?1 WHERE id = 1")?
        .execute([last])?;
    Ok(())
}

fn mark(conn: &Connection, consumer: &str, id: &MessageId, now: i64) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT INTO quorate_inbox (consumer, message_id, processed_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![consumer, id.as_str(), now])?;
    Ok(n == 1)
}

/// Pending messages: the keys' counts plus the rows not numbered yet.
fn pending(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT (SELECT coalesce(sum(pending), 0) FROM quorate_outbox_keys)
                  + (SELECT count(*) FROM quorate_outbox
                     WHERE seq > (SELECT upto FROM quorate_outbox_numbered WHERE id = 1))",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

impl OutboxTransaction for Transaction<'_> {
    fn insert_message(
        &mut self,
        id: &MessageId,
        message: &NewMessage,
        now_ms: i64,
        _notify: bool,
    ) -> Result<(), InsertError> {
        insert(self, id, message, now_ms)
    }
    fn pending_count(&mut self) -> Result<u64, StoreError> {
        pending(self)
    }
    fn inbox_mark(
        &mut self,
        consumer: &str,
        id: &MessageId,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        mark(self, consumer, id, now_ms)
    }
}

/// Deletes at most `limit` inbox marks recorded before `before_ms`; returns how many.
///
/// ```
/// let conn = rusqlite::Connection::open_in_memory()?;
/// quorate_outbox::sqlite::migrate(&conn)?;
/// assert_eq!(quorate_outbox::sqlite::purge_inbox(&conn, i64::MAX, 100)?, 0);
/// # Ok::<(), quorate_outbox::StoreError>(())
/// ```
///
/// # Errors
///
/// [`StoreError::Sqlite`].
pub fn purge_inbox(conn: &Connection, before_ms: i64, limit: usize) -> Result<u64, StoreError> {
    let n = conn.execute(
        "DELETE FROM quorate_inbox WHERE (consumer, message_id) IN
           (SELECT consumer, message_id FROM quorate_inbox WHERE processed_at < ?1 LIMIT ?2)",
        params![before_ms, i64::try_from(limit).unwrap_or(i64::MAX)],
    )?;
    Ok(n as u64)
}

/// The relay store over one SQLite connection.
///
/// ```
/// use quorate_outbox::{RelayStore as _, sqlite::SqliteRelayStore};
/// let conn = rusqlite::Connection::open_in_memory()?;
/// quorate_outbox::sqlite::migrate(&conn)?;
/// let mut store = SqliteRelayStore::new(conn);
/// assert_eq!(store.metrics(0)?.pending, 0);
/// # Ok::<(), quorate_outbox::StoreError>(())
/// ```
#[derive(Debug)]
pub struct SqliteRelayStore {
    conn: Connection,
}

impl SqliteRelayStore {
    /// Wraps a connection to a migrated database. Set a busy timeout on it when several
    /// connections share the file.
    #[must_use]
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }
    /// The connection.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn read_candidate(key: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<(Candidate, Vec<u8>)> {
    let headers: Vec<u8> = r.get(5)?;
    let payload: Vec<u8> = r.get(4)?;
    Ok((
        Candidate {
            message: OutboxMessage {
                seq: r.get(0)?,
                // Validated below, once outside rusqlite's row closure.
                id: MessageId(r.get(1)?),
                key: key.to_owned(),
                key_seq: r.get(2)?,
                msg_type: r.get(3)?,
                payload: Bytes::from(payload),
                headers: Headers::new(),
                created_at_ms: r.get(6)?,
                attempts: to_u32(r.get(7)?),
            },
            started: to_u32(r.get(8)?),
        },
        headers,
    ))
}

pub(crate) fn finish_candidate(
    (mut c, headers): (Candidate, Vec<u8>),
) -> Result<Candidate, StoreError> {
    c.message.id = MessageId::from_stored(std::mem::take(&mut c.message.id.0))?;
    c.message.headers = Headers::decode_bytes(&headers)
        .map_err(|e| StoreError::Corrupt(format!("headers: {e}")))?;
    Ok(c)
}

fn move_to_dead(
    tx: &Connection,
    seq: i64,
    key: &str,
    reason: DeadReason,
    error: &str,
    hold: bool,
    now: i64,
) -> Result<(), StoreError> {
    let moved = tx.prepare_cached(
        "INSERT INTO quorate_outbox_dead (seq, id, key, key_seq, msg_type, payload, headers, created_at, attempts, reason, last_error, dead_at)
         SELECT seq, id, key, key_seq, msg_type, payload, headers, created_at, attempts, ?2, ?3, ?4
         FROM quorate_outbox WHERE seq = ?1 AND state = 0",
    )?
    .execute(params![seq, reason.code(), error, now])?;
    if moved == 0 {
        return Ok(());
    }
    tx.prepare_cached("DELETE FROM quorate_outbox WHERE seq = ?1")?
        .execute([seq])?;
    tx.prepare_cached(
        "UPDATE quorate_outbox_keys SET pending = pending - 1, held = (held OR ?2), served_at = ?3 WHERE key = ?1",
    )?
    .execute(params![key, hold, now])?;
    Ok(())
}

impl RelayStore for SqliteRelayStore {
    fn claim(&mut self, req: &ClaimRequest<'_>) -> Result<Vec<OutboxMessage>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        number_new(&tx)?;
        let keys: Vec<String> = tx
            .prepare_cached(
                "SELECT key FROM quorate_outbox_keys
                 WHERE pending > 0 AND held = 0 AND ready_at <= ?1 AND claim_until <= ?1
                 ORDER BY served_at, key LIMIT ?2",
            )?
            .query_map(
                params![
                    req.now_ms,
                    i64::try_from(req.max_messages).unwrap_or(i64::MAX)
                ],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        if keys.is_empty() {
            tx.commit()?;
            return Ok(Vec::new());
        }
        let per_key = i64::try_from(per_key_limit(req.max_messages, keys.len())).unwrap_or(1);
        let keys_json = json_strings(keys.iter().map(String::as_str));
        let rows = tx
            .prepare_cached(
                "SELECT seq, id, key_seq, msg_type, payload, headers, created_at, attempts, started, key
                 FROM (SELECT o.*, row_number() OVER (PARTITION BY o.key ORDER BY o.key_seq) AS rn
                       FROM quorate_outbox o
                       WHERE o.state = 0 AND o.key_seq IS NOT NULL
                         AND o.key IN (SELECT value FROM json_each(?1)))
                 WHERE rn <= ?2 ORDER BY key, key_seq",
            )?
            .query_map(params![keys_json, per_key], |r| {
                let key: String = r.get(9)?;
                read_candidate(&key, r)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut by_key: std::collections::HashMap<String, Vec<Candidate>> =
            std::collections::HashMap::with_capacity(keys.len());
        for row in rows {
            let c = finish_candidate(row)?;
            by_key.entry(c.message.key.clone()).or_default().push(c);
        }
        let groups: Vec<Vec<Candidate>> = keys.iter().filter_map(|k| by_key.remove(k)).collect();
        let plan = plan_claim(&groups, req.max_messages, req.crash_limit, req.poison);
        let flat: Vec<&Candidate> = groups.iter().flatten().collect();
        for (i, hold) in &plan.dead {
            if let Some(c) = flat.get(*i) {
                let unfinished = c.started.saturating_sub(c.message.attempts);
                move_to_dead(
                    &tx,
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
            tx.prepare_cached(
                "UPDATE quorate_outbox_keys SET claimed_by = ?2, claim_until = ?3
                 WHERE key IN (SELECT value FROM json_each(?1))",
            )?
            .execute(params![
                json_strings(plan.keys.iter().map(String::as_str)),
                req.relay,
                req.claim_until_ms
            ])?;
        }
        let out = plan.messages(&flat);
        if !out.is_empty() {
            tx.prepare_cached(
                "UPDATE quorate_outbox SET started = started + 1
                 WHERE seq IN (SELECT value FROM json_each(?1))",
            )?
            .execute([json_ints(out.iter().map(|m| m.seq))])?;
        }
        tx.commit()?;
        Ok(out)
    }

    fn complete(&mut self, relay: &str, o: &BatchOutcome, now: i64) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !o.sent.is_empty() {
            let changed: Vec<String> = tx
                .prepare_cached(
                    "UPDATE quorate_outbox SET state = 1, sent_at = ?2, attempts = attempts + 1
                     WHERE seq IN (SELECT value FROM json_each(?1)) AND state = 0 RETURNING key",
                )?
                .query_map(
                    params![json_ints(o.sent.iter().map(|(s, _)| *s)), now],
                    |r| r.get(0),
                )?
                .collect::<Result<_, _>>()?;
            if !changed.is_empty() {
                tx.prepare_cached(
                    "UPDATE quorate_outbox_keys SET pending = pending - c.n, served_at = ?2
                     FROM (SELECT value AS k, count(*) AS n FROM json_each(?1) GROUP BY value) AS c
                     WHERE quorate_outbox_keys.key = c.k",
                )?
                .execute(params![
                    json_strings(changed.iter().map(String::as_str)),
                    now
                ])?;
            }
        }
        for f in &o.failed {
            match f.dead {
                Some(reason) => {
                    move_to_dead(&tx, f.seq, &f.key, reason, &f.error, f.hold_key, now)?
                }
                None => {
                    tx.prepare_cached(
                        "UPDATE quorate_outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                         WHERE seq = ?1 AND state = 0",
                    )?
                    .execute(params![f.seq, f.next_attempt_ms, f.error])?;
                    tx.prepare_cached(
                        "UPDATE quorate_outbox_keys SET ready_at = max(ready_at, ?2), served_at = ?3 WHERE key = ?1",
                    )?
                    .execute(params![f.key, f.next_attempt_ms, now])?;
                }
            }
        }
        if !o.unattempted.is_empty() {
            tx.prepare_cached(
                "UPDATE quorate_outbox SET started = max(started - 1, attempts)
                 WHERE seq IN (SELECT value FROM json_each(?1)) AND state = 0",
            )?
            .execute([json_ints(o.unattempted.iter().map(|(s, _)| *s))])?;
        }
        if !o.keys.is_empty() {
            tx.prepare_cached(
                "UPDATE quorate_outbox_keys SET claimed_by = NULL, claim_until = 0
                 WHERE key IN (SELECT value FROM json_each(?1)) AND claimed_by = ?2",
            )?
            .execute(params![
                json_strings(o.keys.iter().map(String::as_str)),
                relay
            ])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn metrics(&mut self, now_ms: i64) -> Result<OutboxMetrics, StoreError> {
        let pending = pending(&self.conn)?;
        let oldest: Option<i64> = self.conn.query_row(
            "SELECT min(t) FROM (
                SELECT min(created_at) AS t FROM quorate_outbox
                WHERE state = 0 AND key_seq IS NOT NULL
                UNION ALL
                SELECT min(created_at) FROM quorate_outbox
                WHERE seq > (SELECT upto FROM quorate_outbox_numbered WHERE id = 1))",
            [],
            |r| r.get(0),
        )?;
        let dead: i64 =
            self.conn
                .query_row("SELECT count(*) FROM quorate_outbox_dead", [], |r| r.get(0))?;
        Ok(OutboxMetrics {
            pending,
            oldest_pending_age: oldest.map(|o| {
                std::time::Duration::from_millis(
                    u64::try_from(now_ms.saturating_sub(o)).unwrap_or(0),
                )
            }),
            dead_letters: u64::try_from(dead).unwrap_or(0),
        })
    }

    fn cleanup(&mut self, sent_before_ms: i64, limit: usize) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "DELETE FROM quorate_outbox WHERE seq IN
               (SELECT seq FROM quorate_outbox WHERE state = 1 AND sent_at < ?1 ORDER BY sent_at LIMIT ?2)",
            params![sent_before_ms, limit],
        )?;
        tx.execute(
            "DELETE FROM quorate_outbox_keys WHERE key IN
               (SELECT k.key FROM quorate_outbox_keys k
                WHERE k.pending = 0 AND k.held = 0 AND k.claimed_by IS NULL
                  AND NOT EXISTS (SELECT 1 FROM quorate_outbox o
                                  WHERE o.key = k.key AND o.key_seq IS NOT NULL)
                LIMIT ?1)",
            [limit],
        )?;
        tx.commit()?;
        Ok(n as u64)
    }

    fn dead_letters(&mut self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, id, key_seq, msg_type, payload, headers, created_at, attempts, 0, key, reason, last_error, dead_at
             FROM quorate_outbox_dead ORDER BY dead_at, seq LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                let key: String = r.get(9)?;
                Ok((
                    read_candidate(&key, r)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, String>(11)?,
                    r.get::<_, i64>(12)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(c, reason, last_error, dead_at_ms)| {
                let c = finish_candidate(c)?;
                let reason = i16::try_from(reason)
                    .ok()
                    .and_then(DeadReason::from_code)
                    .ok_or_else(|| StoreError::Corrupt(format!("dead-letter reason {reason}")))?;
                Ok(DeadLetter {
                    message: c.message,
                    reason,
                    last_error,
                    dead_at_ms,
                })
            })
            .collect()
    }

    fn release_key(&mut self, key: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE quorate_outbox_keys SET held = 0 WHERE key = ?1 AND held = 1",
            [key],
        )?;
        Ok(n == 1)
    }
}

/// Reads whether `(consumer, id)` is marked (for tests and diagnostics).
///
/// ```
/// let conn = rusqlite::Connection::open_in_memory()?;
/// quorate_outbox::sqlite::migrate(&conn)?;
/// let id = quorate_outbox::MessageId::new("m")?;
/// assert!(!quorate_outbox::sqlite::inbox_contains(&conn, "c", &id)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`StoreError::Sqlite`].
pub fn inbox_contains(
    conn: &Connection,
    consumer: &str,
    id: &MessageId,
) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM quorate_inbox WHERE consumer = ?1 AND message_id = ?2",
            params![consumer, id.as_str()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// A JSON array of strings, for `json_each` (one statement for a whole batch).
fn json_strings<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for ch in item.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

/// A JSON array of integers, for `json_each`.
fn json_ints(items: impl Iterator<Item = i64>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item.to_string());
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::{json_ints, json_strings};

    #[test]
    fn json_arrays_escape_what_json_requires() {
        assert_eq!(json_ints([1, -2].into_iter()), "[1,-2]");
        assert_eq!(
            json_strings(["a\"b", "c\\d", "\n", "é"].into_iter()),
            r#"["a\"b","c\\d","\u000a","é"]"#
        );
        let conn = rusqlite::Connection::open_in_memory().expect("open");
        let keys = ["a\"b", "c\\d", "\n\t", "é", "[]{}"];
        let back: Vec<String> = conn
            .prepare("SELECT value FROM json_each(?1)")
            .expect("prepare")
            .query_map([json_strings(keys.into_iter())], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(back, keys);
    }
}
