//! A transactional outbox with a relay, and an inbox on the consumer side.
//!
//! The order change and its message commit in one SQLite transaction; the relay publishes at
//! least once (the first publish times out); the consumer's inbox makes it effectively once.
//!
//! Run: `cargo run -p quorate-examples --example outbox_relay`

use std::{sync::Arc, time::Duration};

use quorate_clocks::ManualClock;
use quorate_outbox::sqlite::{SqliteRelayStore, migrate};
use quorate_outbox::{
    CallbackSink, Inbox, InboxConfig, NewMessage, Outbox, OutboxMessage, PublishError, Relay,
    RelayConfig,
};

/// Runs the example.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("quorate-outbox-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (shop, shipping) = (dir.join("shop.db"), dir.join("shipping.db"));
    let mut conn = rusqlite::Connection::open(&shop)?;
    migrate(&conn)?;
    conn.execute_batch("CREATE TABLE orders (id TEXT PRIMARY KEY, state TEXT)")?;
    let clock = Arc::new(ManualClock::new(1_767_225_600_000_000_000));

    // The change and its message: one transaction.
    let outbox = Outbox::builder().clock(clock.clone()).build();
    let mut tx = conn.transaction()?;
    tx.execute("INSERT INTO orders VALUES ('o-1', 'paid')", [])?;
    outbox.enqueue(
        &mut tx,
        &NewMessage::new("o-1", "order.paid", &b"{\"order\":\"o-1\"}"[..])?,
    )?;
    tx.commit()?;

    let mut consumer = rusqlite::Connection::open(&shipping)?;
    migrate(&consumer)?;
    consumer.execute_batch("CREATE TABLE shipments (order_id TEXT)")?;
    let inbox = Inbox::new(InboxConfig::new(
        Duration::from_secs(86_400),
        Duration::from_secs(3_600),
    )?);
    let mut attempts = 0; // the broker times out once, then delivers twice
    let sink = CallbackSink::new(move |m: &OutboxMessage| {
        let fail = |e: String| PublishError::transient(e);
        attempts += 1;
        if attempts == 1 {
            return Err(fail("broker timed out".into()));
        }
        for _ in 0..2 {
            let mut tx = consumer.transaction().map_err(|e| fail(e.to_string()))?;
            inbox
                .process_once(&mut tx, "shipping", m.id(), |tx| {
                    tx.execute("INSERT INTO shipments VALUES ('o-1')", [])
                        .map(drop)
                })
                .map_err(|e| fail(e.to_string()))?;
            tx.commit().map_err(|e| fail(e.to_string()))?;
        }
        Ok(())
    });
    let store = SqliteRelayStore::new(rusqlite::Connection::open(&shop)?);
    let mut relay = Relay::new(store, sink, RelayConfig::builder().seed(1).build()?)
        .with_clocks(clock.clone(), clock.clone());

    assert_eq!(relay.run_once()?.retried, 1); // retried after a backoff
    clock.advance(Duration::from_secs(120));
    assert_eq!(relay.run_once()?.sent, 1);
    let shipped: i64 = rusqlite::Connection::open(&shipping)?.query_row(
        "SELECT COUNT(*) FROM shipments",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(shipped, 1); // processed once despite the duplicate delivery
    println!("order.paid published on the second attempt; shipments: {shipped}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
