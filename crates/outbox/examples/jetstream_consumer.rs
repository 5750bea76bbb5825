//! A JetStream consumer that processes each message once through an SQLite inbox and
//! acknowledges only after the inbox transaction committed.
//!
//! ```text
//! nats-server -js &
//! cargo run -p quorate-outbox --features nats --example jetstream_consumer -- nats://127.0.0.1:4222
//! ```
//!
//! A crash between the commit and the ack makes JetStream redeliver; the inbox then reports a
//! duplicate and the consumer only acks. A crash before the commit leaves no mark, so the
//! redelivery applies the effect.

use std::time::Duration;

use futures_util::StreamExt as _;
use quorate_outbox::{Inbox, InboxConfig, MessageId};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let js = async_nats::jetstream::new(async_nats::connect(&url).await?);
    let stream = js
        .get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "OUTBOX".into(),
            subjects: vec!["outbox.>".into()],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await?;
    let consumer = stream
        .get_or_create_consumer(
            "billing",
            async_nats::jetstream::consumer::pull::Config {
                durable_name: Some("billing".into()),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                // The redelivery horizon the inbox retention must exceed.
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await?;
    let mut db = rusqlite::Connection::open("billing.db")?;
    quorate_outbox::sqlite::migrate(&db)?;
    db.execute_batch("CREATE TABLE IF NOT EXISTS invoices (message_id TEXT, body BLOB)")?;
    let inbox = Inbox::new(InboxConfig::new(
        Duration::from_secs(7 * 86_400),
        Duration::from_secs(86_400),
    )?);

    let mut messages = consumer
        .fetch()
        .max_messages(100)
        .expires(Duration::from_secs(1))
        .messages()
        .await?;
    while let Some(msg) = messages.next().await {
        let msg = msg.map_err(|e| e.to_string())?;
        let header = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_owned());
        let Some(Ok(id)) = header.map(MessageId::new) else {
            // Not an outbox message: terminate it rather than redeliver forever.
            msg.ack_with(async_nats::jetstream::AckKind::Term)
                .await
                .map_err(|e| e.to_string())?;
            continue;
        };
        let mut tx = db.transaction()?;
        let outcome = inbox.process_once(&mut tx, "billing", &id, |tx| {
            tx.execute(
                "INSERT INTO invoices VALUES (?1, ?2)",
                rusqlite::params![id.as_str(), msg.payload.as_ref()],
            )
        })?;
        tx.commit()?;
        // Only now: the effect and the mark are durable together.
        msg.ack().await.map_err(|e| e.to_string())?;
        println!(
            "{id}: {}",
            if outcome.is_duplicate() {
                "duplicate"
            } else {
                "applied"
            }
        );
    }
    Ok(())
}
