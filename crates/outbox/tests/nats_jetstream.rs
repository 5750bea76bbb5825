//! The JetStream sink against a real `nats-server -js` (testkit fixture): `Nats-Msg-Id`
//! dedup, acknowledgement-gated publishes, a consumer that acks only after its inbox
//! transaction committed, and a broker restart in the middle of a relay run.
#![cfg(feature = "nats")]

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use quorate_outbox::nats::{JetStreamSink, SubjectFrom};
use quorate_outbox::sqlite::{SqliteRelayStore, migrate};
use quorate_outbox::{
    AsyncSink, Backoff, BlockingSink, Inbox, InboxConfig, Jitter, MessageId, NewMessage, Outbox,
    Relay, RelayConfig, RelaySignal, RelayStore as _,
};
use quorate_testkit::TempDir;
use quorate_testkit::nats::NatsServer;
use rusqlite::Connection;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn jetstream(url: &str) -> Result<async_nats::jetstream::Context, async_nats::ConnectError> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(url)
        .await?;
    Ok(async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(1))
        .build(client))
}

fn open(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).expect("open");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy");
    conn.execute_batch("PRAGMA journal_mode = WAL")
        .expect("wal");
    conn
}

fn enqueue(conn: &mut Connection, n: usize) -> Vec<MessageId> {
    let outbox = Outbox::builder().build();
    (0..n)
        .map(|i| {
            let mut tx = conn.transaction().expect("tx");
            let id = outbox
                .enqueue(
                    &mut tx,
                    &NewMessage::new(
                        format!("order-{}", i % 7),
                        "order.placed",
                        format!("{i}").into_bytes(),
                    )
                    .expect("msg"),
                )
                .expect("enqueue");
            tx.commit().expect("commit");
            id
        })
        .collect()
}

async fn stored_ids(
    js: &async_nats::jetstream::Context,
    stream: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut s = js.get_stream(stream).await?;
    let count = s.info().await?.state.messages;
    let mut ids = Vec::new();
    for seq in 1..=count {
        let m = s.get_raw_message(seq).await?;
        if let Some(id) = m.headers.get("Nats-Msg-Id") {
            ids.push(id.as_str().to_owned());
        }
    }
    Ok(ids)
}

#[test]
fn relay_publishes_with_msg_id_and_the_stream_drops_republished_duplicates() -> TestResult {
    let Some(server) = NatsServer::for_current_test() else {
        return Ok(());
    };
    let rt = runtime();
    let js = rt.block_on(jetstream(server.url()))?;
    let sink = JetStreamSink::new(js.clone(), "outbox");
    rt.block_on(sink.ensure_stream("OUTBOX", Duration::from_secs(120)))?;
    let dir = TempDir::new("outbox-nats")?;
    let path = dir.path().join("db");
    let mut conn = open(&path);
    migrate(&conn)?;
    let ids = enqueue(&mut conn, 5);

    let handle = rt.handle().clone();
    let mut relay = Relay::new(
        SqliteRelayStore::new(open(&path)),
        BlockingSink::new(sink.clone(), handle),
        RelayConfig::builder().build()?,
    );
    let sent = std::thread::scope(|s| s.spawn(|| relay.run_once()).join())
        .map_err(|_| "relay thread panicked")??
        .sent;
    assert_eq!(sent, 5);
    // Publish one again, as a relay would after dying before mark-sent.
    let again = relay.store_mut().claim(&quorate_outbox::ClaimRequest {
        relay: "x",
        now_ms: 0,
        claim_until_ms: 0,
        max_messages: 1,
        crash_limit: 3,
        poison: &Default::default(),
    })?;
    assert!(again.is_empty(), "everything was marked sent");
    let stored = rt.block_on(stored_ids(&js, "OUTBOX"))?;
    assert_eq!(
        stored.iter().cloned().collect::<HashSet<_>>(),
        ids.iter()
            .map(|i| i.as_str().to_owned())
            .collect::<HashSet<_>>()
    );
    assert_eq!(stored.len(), 5);
    // Republish the first message by hand: acknowledged (done), stored once.
    let first = rt.block_on(async {
        let s = js.get_stream("OUTBOX").await?;
        let raw = s.get_raw_message(1).await?;
        Ok::<_, Box<dyn std::error::Error>>(raw)
    })?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "Nats-Msg-Id",
        first
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str())
            .unwrap_or(""),
    );
    let ack = rt.block_on(async {
        js.publish_with_headers("outbox.order.placed", headers, first.payload.clone())
            .await?
            .await
    })?;
    assert!(ack.duplicate);
    assert_eq!(rt.block_on(stored_ids(&js, "OUTBOX"))?.len(), 5);
    assert_eq!(first.subject.as_str(), "outbox.order.placed");
    Ok(())
}

#[test]
fn subjects_come_from_the_type_or_the_encoded_key() -> TestResult {
    let Some(server) = NatsServer::for_current_test() else {
        return Ok(());
    };
    let rt = runtime();
    let js = rt.block_on(jetstream(server.url()))?;
    let store = quorate_outbox::MemoryOutbox::new();
    let outbox = Outbox::builder().build();
    let mut tx = store.begin();
    outbox.enqueue(&mut tx, &NewMessage::new("a.b c", "bad.*", &b"x"[..])?)?;
    tx.commit();
    let m = store.pending_messages().remove(0);
    let by_type = JetStreamSink::new(js.clone(), "p");
    assert!(matches!(
        by_type.subject(&m),
        Err(quorate_outbox::PublishError::Permanent(_))
    ));
    // A permanent failure is not retried by the relay: published nowhere, dead-lettered.
    let results = rt.block_on(by_type.publish_batch(&[&m]));
    assert!(matches!(
        results[0],
        Err(quorate_outbox::PublishError::Permanent(_))
    ));
    let by_key = JetStreamSink::new(js, "p").subject_from(SubjectFrom::Key);
    assert_eq!(by_key.subject(&m)?, "p.a%2Eb%20c");
    Ok(())
}

#[test]
fn consumer_acknowledges_only_after_the_inbox_transaction_committed() -> TestResult {
    let Some(server) = NatsServer::for_current_test() else {
        return Ok(());
    };
    let rt = runtime();
    let js = rt.block_on(jetstream(server.url()))?;
    let sink = JetStreamSink::new(js.clone(), "outbox");
    rt.block_on(sink.ensure_stream("OUTBOX", Duration::from_secs(120)))?;
    let store = quorate_outbox::MemoryOutbox::new();
    let outbox = Outbox::builder().build();
    for i in 0..3 {
        let mut tx = store.begin();
        outbox.enqueue(
            &mut tx,
            &NewMessage::new("k", "evt", format!("{i}").into_bytes())?,
        )?;
        tx.commit();
    }
    for m in store.pending_messages() {
        rt.block_on(sink.publish(&m))?;
    }
    let dir = TempDir::new("outbox-nats-consumer")?;
    let mut conn = open(&dir.path().join("db"));
    migrate(&conn)?;
    conn.execute_batch("CREATE TABLE effects (v TEXT)")?;
    let inbox = Inbox::new(InboxConfig::new(
        Duration::from_secs(3_600),
        Duration::from_secs(120),
    )?);

    rt.block_on(async {
        let stream = js.get_stream("OUTBOX").await?;
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                durable_name: Some("billing".into()),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_millis(300),
                ..Default::default()
            })
            .await?;
        let mut processed = 0;
        let mut duplicates = 0;
        let mut failed_once = false;
        while processed < 3 {
            let mut batch = consumer
                .fetch()
                .max_messages(10)
                .expires(Duration::from_millis(500))
                .messages()
                .await?;
            while let Some(msg) = batch.next().await {
                let msg = msg.map_err(|e| e.to_string())?;
                let id = MessageId::new(
                    msg.headers
                        .as_ref()
                        .and_then(|h| h.get("Nats-Msg-Id"))
                        .map(|v| v.as_str())
                        .unwrap_or(""),
                )?;
                let mut tx = conn.transaction()?;
                let r = inbox.process_once(&mut tx, "billing", &id, |tx| {
                    tx.execute(
                        "INSERT INTO effects VALUES (?1)",
                        [String::from_utf8_lossy(&msg.payload)],
                    )
                })?;
                if !failed_once {
                    // The first delivery's transaction rolls back (no ack): redelivered later.
                    failed_once = true;
                    drop(tx);
                    continue;
                }
                tx.commit()?;
                // Ack only after the commit: a crash before this line means a redelivery that
                // the inbox drops.
                msg.ack().await.map_err(|e| e.to_string())?;
                if r.is_duplicate() {
                    duplicates += 1;
                } else {
                    processed += 1;
                }
            }
        }
        assert_eq!(duplicates, 0, "the rolled-back delivery left no mark");
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let effects: Vec<String> = conn
        .prepare("SELECT v FROM effects")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut sorted = effects.clone();
    sorted.sort();
    assert_eq!(sorted, ["0", "1", "2"]);
    Ok(())
}

#[test]
fn server_restart_mid_run_the_relay_reconnects_and_nothing_is_lost() -> TestResult {
    let Some(mut server) = NatsServer::for_current_test() else {
        return Ok(());
    };
    if server.store_dir().is_none() {
        eprintln!("skipped: QUORATE_NATS_URL server cannot be restarted");
        return Ok(());
    }
    let rt = runtime();
    let js = rt.block_on(jetstream(server.url()))?;
    let sink = JetStreamSink::new(js.clone(), "outbox");
    rt.block_on(sink.ensure_stream("OUTBOX", Duration::from_secs(600)))?;
    let dir = TempDir::new("outbox-nats-restart")?;
    let path = dir.path().join("db");
    let mut conn = open(&path);
    migrate(&conn)?;
    let ids = enqueue(&mut conn, 300);

    let signal = RelaySignal::new();
    let config = RelayConfig::builder()
        .batch_size(10)
        .poll_interval(Duration::from_millis(20))
        .max_attempts(1_000)
        .backoff(
            Backoff::exponential(Duration::from_millis(20), 2.0, Duration::from_millis(300))?
                .with_jitter(Jitter::Full),
        )
        .build()?;
    let mut relay = Relay::new(
        SqliteRelayStore::new(open(&path)),
        BlockingSink::new(sink, rt.handle().clone()),
        config,
    );
    let stop = signal.clone();
    let worker = std::thread::spawn(move || {
        relay.run(&stop).expect("run");
        relay
    });
    // Let part of the backlog through, then kill the broker mid-run and bring it back.
    let mut metrics_store = SqliteRelayStore::new(open(&path));
    for _ in 0..500 {
        if metrics_store.metrics(0)?.pending < 250 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    server.stop()?;
    let pending_while_down = metrics_store.metrics(0)?.pending;
    std::thread::sleep(Duration::from_millis(500));
    server.restart()?;
    for _ in 0..600 {
        if metrics_store.metrics(0)?.pending == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal.shutdown();
    let _relay = worker.join().map_err(|_| "relay thread panicked")?;
    assert!(pending_while_down > 0, "the broker went down mid-run");
    assert_eq!(
        metrics_store.metrics(0)?.pending,
        0,
        "everything was published after the restart"
    );
    let stored = rt.block_on(stored_ids(&js, "OUTBOX"))?;
    let stored_set: HashSet<_> = stored.iter().cloned().collect();
    assert_eq!(
        stored.len(),
        stored_set.len(),
        "JetStream dropped republished duplicates"
    );
    assert_eq!(
        stored_set,
        ids.iter()
            .map(|i| i.as_str().to_owned())
            .collect::<HashSet<_>>(),
        "nothing lost"
    );
    Ok(())
}
