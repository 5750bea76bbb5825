//! Transactional outbox, inbox and relay over SQLite and PostgreSQL, publishing to any sink
//! (in memory, a callback, NATS JetStream).
//!
//! A service that changes its database and then tells a broker has two writes and no
//! transaction spanning them: crash between them and the change is committed without its
//! message, or the message sent for a change that rolled back. The outbox makes the message a
//! row written in the same transaction as the change; a [`Relay`] publishes committed rows at
//! least once and marks them sent; the consumer's [`Inbox`] records processed message ids in
//! its own transaction, so at-least-once delivery becomes effectively-once processing.
//!
//! | Need | Use |
//! |---|---|
//! | write a message in my transaction | [`Outbox::enqueue`] on a `rusqlite::Transaction`, `postgres::Transaction` ([`pg`]), `tokio_postgres::Transaction` (`pg::enqueue_async`, feature `tokio`) or [`MemoryTransaction`] |
//! | install the tables | [`sqlite::migrate`], [`pg::migrate`] |
//! | publish pending messages | [`Relay`] over a [`RelayStore`] ([`sqlite::SqliteRelayStore`], [`pg::PgRelayStore`], [`MemoryOutbox`]) and a [`Sink`] |
//! | sinks | [`MemorySink`], [`CallbackSink`], `AsyncSink` via `BlockingSink` (feature `tokio`), `nats::JetStreamSink` (feature `nats`) |
//! | wake relays early on PostgreSQL | [`pg::spawn_listener`] (LISTEN/NOTIFY, a hint only) |
//! | process a delivery once | [`Inbox::process_once`] |
//! | stop enqueueing when the relay falls behind | [`Backpressure`] |
//! | watch it | [`Relay::metrics`] ([`OutboxMetrics`], [`PublishLatency`]) |
//!
//! # Example
//!
//! ```
//! use quorate_outbox::sqlite::{SqliteRelayStore, migrate};
//! use quorate_outbox::{MemorySink, NewMessage, Outbox, Relay, RelayConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("outbox-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("app.db");
//! let mut conn = rusqlite::Connection::open(&path)?;
//! migrate(&conn)?;
//! conn.execute_batch("CREATE TABLE IF NOT EXISTS payments (id TEXT PRIMARY KEY, state TEXT)")?;
//!
//! let outbox = Outbox::builder().build();
//! let tx = conn.transaction()?;
//! tx.execute("INSERT OR REPLACE INTO payments VALUES ('p-1', 'captured')", [])?;
//! let mut tx = tx;
//! outbox.enqueue(&mut tx, &NewMessage::new("p-1", "payment.captured", &b"{\"amount\":100}"[..])?)?;
//! tx.commit()?;
//!
//! let sink = MemorySink::new();
//! let store = SqliteRelayStore::new(rusqlite::Connection::open(&path)?);
//! let mut relay = Relay::new(store, sink.clone(), RelayConfig::builder().build()?);
//! assert_eq!(relay.run_once()?.sent, 1);
//! assert_eq!(sink.messages()[0].msg_type(), "payment.captured");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees and how they are kept
//!
//! - **Atomic with the change**: the message row is in the caller's transaction; a rollback
//!   leaves nothing, a commit publishes at least once.
//! - **Per-key order = commit order**: enqueue writes one row and nothing else. On PostgreSQL
//!   the insert first takes a transaction-scoped advisory lock on the key and only then draws
//!   the row's `seq`, so a second transaction on the same key waits for the first to end and
//!   its `seq` is higher: within a key, `seq` order is commit order (across keys it is not,
//!   and nothing relies on it). On SQLite (one writer) `seq` order is commit order. Before each
//!   claim the relay numbers new rows within their keys (`key_seq` 1, 2, ..., in `seq` order;
//!   one relay at a time) and then reads each claimed key's *pending* rows by position. It
//!   never reads "rows after the last one seen", so a row that became visible late is simply
//!   numbered and pending at the next claim.
//! - **Per-key exclusivity without session locks**: a claim marks key rows `claimed_by` /
//!   `claim_until` in a transaction that selected them `FOR UPDATE SKIP LOCKED` (PostgreSQL),
//!   so concurrent relays take disjoint keys, keys proceed in parallel, and a crashed relay's
//!   claims expire. No advisory lock lives in a session a pool might recycle.
//! - **At least once across crashes**: a batch is recorded sent only after the sink
//!   acknowledged it; a relay dying in between makes the next claim publish again (the
//!   inbox or JetStream's `Nats-Msg-Id` dedup drop the duplicate).
//! - **Poison**: a failed publish is retried after a jittered backoff from `quorate-retry`
//!   (the key waits: `ready_at`; no busy loop), attempts and the next attempt time are
//!   stored; after `max_attempts`, or at once for a permanent error, the message moves to
//!   `quorate_outbox_dead`. A message in flight when relays died (`started - attempts`) is
//!   claimed alone, so a crash blames it only, and at the crash limit it is dead-lettered.
//!   The key is then held ([`PoisonPolicy::Strict`]) or continues ([`PoisonPolicy::Lenient`]).
//! - **Graceful shutdown** ([`RelaySignal::shutdown`]) releases unpublished claims at once.
//! - **Relay bookkeeping is cheap to lose**: the PostgreSQL relay connection commits with
//!   `synchronous_commit = off`; a server crash can only undo claims, retry records or
//!   mark-sent, which republishes (at least once still holds), never loses a message.
//!
//! Assumptions: relay clocks agree within a small fraction of the claim timeout; a claim
//! timeout longer than the time one batch takes to publish.
//!
//! # Features
//!
//! Nothing is on by default (the in-memory store and sinks need no feature); turn on the store
//! you use, e.g. `quorate-outbox = { version = "0.1", features = ["sqlite"] }`.
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `sqlite` | no | [`sqlite`] (rusqlite, bundled) |
//! | `postgres` | no | [`pg`] (postgres, sync) |
//! | `tokio` | no | `AsyncSink`, `BlockingSink`, `pg::enqueue_async` on tokio-postgres |
//! | `nats` | no | `nats::JetStreamSink` (async-nats) |
//! | `serde` | no | `Serialize`/`Deserialize` on plain data types |
//!
//! # Examples to copy
//!
//! Runnable programs under 80 lines in the repository's `examples/examples/`:
//!
//! - [`outbox_relay.rs`](https://github.com/quorate-rs/quorate/blob/main/examples/examples/outbox_relay.rs): an outbox with a relay and an inbox (`cargo run -p quorate-examples --example outbox_relay`)
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod inbox;
mod memory;
mod message;
mod outbox;
mod relay;
mod sink;
mod store;
mod sync;

#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod nats;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod pg;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

/// Time sources (from `quorate-clocks`) for [`OutboxBuilder::clock`], [`Relay::with_clocks`]
/// and [`Inbox::with_clock`].
pub use quorate_clocks::{ManualClock, MonotonicClock, SystemClock, WallClock};
/// Retry delays (from `quorate-retry`) for [`RelayConfigBuilder::backoff`].
pub use quorate_retry::{Backoff, Jitter};

pub use config::{
    Backpressure, InboxConfig, PoisonPolicies, PoisonPolicy, RelayConfig, RelayConfigBuilder,
};
pub use error::{ConfigError, EnqueueError, InboxError, PublishError, RelayError, StoreError};
pub use inbox::{Inbox, Processed};
pub use memory::{MemoryOutbox, MemoryTransaction};
pub use message::{
    DeadLetter, DeadReason, Headers, InvalidMessage, MAX_FIELD_LEN, MessageId, NewMessage,
    OutboxMessage,
};
pub use outbox::{Outbox, OutboxBuilder};
pub use relay::{PublishLatency, Relay, RelayMetrics, RelaySignal, RelayStep, RunOutcome};
#[cfg(feature = "tokio")]
pub use sink::{AsyncSink, BlockingSink};
pub use sink::{CallbackSink, MemorySink, Sink};
pub use store::{
    BatchOutcome, ClaimRequest, Failure, InsertError, OutboxMetrics, OutboxTransaction, RelayStore,
};
