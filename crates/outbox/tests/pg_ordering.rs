//! PostgreSQL enqueue: the key lock comes before the position, the prepared statement behaves
//! like the unprepared one, and the relay numbers rows within their keys in commit order.
#![cfg(feature = "postgres")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use quorate_outbox::pg::{PgRelayStore, PreparedEnqueue, migrate};
use quorate_outbox::{
    EnqueueError, MemorySink, MessageId, NewMessage, Outbox, Relay, RelayConfig, RelayStore as _,
};
use quorate_testkit::pg_test_db;

fn msg(key: &str, id: &str) -> NewMessage {
    NewMessage::new(key, "evt", id.as_bytes().to_vec())
        .expect("msg")
        .with_id(MessageId::new(id).expect("id"))
}

/// Drains the outbox with a fresh relay; returns `(id, key, key_seq)` in delivery order.
fn drain(db: &quorate_testkit::PgDatabase) -> Vec<(String, String, i64)> {
    let sink = MemorySink::new();
    let mut relay = Relay::new(
        PgRelayStore::new(db.connect().expect("connect")).expect("store"),
        sink.clone(),
        RelayConfig::builder().build().expect("config"),
    );
    while relay.run_once().expect("run").claimed > 0 {}
    sink.messages()
        .iter()
        .map(|m| (m.id().as_str().to_owned(), m.key().to_owned(), m.key_seq()))
        .collect()
}

fn last_seq(client: &mut postgres::Client) -> i64 {
    client
        .query_one("SELECT last_value FROM quorate_outbox_seq_seq", &[])
        .expect("sequence")
        .get(0)
}

/// A transaction blocked on another's key lock has not drawn a `seq` yet: if it had, two
/// transactions could hold positions for one key in the opposite order to their commits.
#[test]
fn a_blocked_enqueue_draws_its_seq_only_after_the_key_lock() {
    let db = pg_test_db!();
    let mut a = db.connect().expect("connect");
    migrate(&mut a).expect("migrate");
    let mut b = db.connect().expect("connect");
    let mut observer = db.connect().expect("connect");
    let outbox = Outbox::builder().notify(false).build();

    let mut t1 = a.transaction().expect("tx");
    outbox
        .enqueue(&mut t1, &msg("k", "first"))
        .expect("enqueue");
    let before = last_seq(&mut observer);
    let blocked = AtomicBool::new(true);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut t2 = b.transaction().expect("tx");
            outbox
                .enqueue(&mut t2, &msg("k", "second"))
                .expect("enqueue");
            blocked.store(false, Ordering::SeqCst);
            t2.commit().expect("commit");
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(blocked.load(Ordering::SeqCst), "t2 waits for t1's key lock");
        assert_eq!(
            last_seq(&mut observer),
            before,
            "no seq drawn while waiting for the key lock"
        );
        t1.commit().expect("commit");
        waiter.join().expect("t2");
    });
    assert_eq!(last_seq(&mut observer), before + 1);

    // Another key is never blocked by k's lock.
    let mut t3 = a.transaction().expect("tx");
    outbox
        .enqueue(&mut t3, &msg("k", "third"))
        .expect("enqueue");
    let mut t4 = b.transaction().expect("tx");
    outbox
        .enqueue(&mut t4, &msg("other", "x"))
        .expect("enqueue");
    t4.commit().expect("commit");
    t3.commit().expect("commit");

    let k: Vec<(String, i64)> = drain(&db)
        .into_iter()
        .filter(|(_, key, _)| key == "k")
        .map(|(id, _, pos)| (id, pos))
        .collect();
    assert_eq!(
        k,
        [
            ("first".to_owned(), 1),
            ("second".to_owned(), 2),
            ("third".to_owned(), 3)
        ]
    );
}

#[test]
fn the_prepared_statement_enqueues_like_the_plain_one() {
    let db = pg_test_db!();
    let mut client = db.connect().expect("connect");
    migrate(&mut client).expect("migrate");
    let prepared = PreparedEnqueue::prepare(&mut client).expect("prepare");
    for notify in [false, true] {
        let outbox = Outbox::builder().notify(notify).build();
        let mut tx = client.transaction().expect("tx");
        let id = format!("p-{notify}");
        outbox
            .enqueue(&mut prepared.on(&mut tx), &msg("k", &id))
            .expect("enqueue");
        // A duplicate id is the same typed error as on the plain path, and the caller's
        // transaction is then aborted as PostgreSQL aborts it on any failed statement.
        tx.commit().expect("commit");
        let mut tx = client.transaction().expect("tx");
        let err = outbox
            .enqueue(&mut prepared.on(&mut tx), &msg("k", &id))
            .expect_err("duplicate");
        assert!(matches!(err, EnqueueError::DuplicateId(_)), "{err}");
    }
    // Rolled back: nothing enqueued.
    let outbox = Outbox::builder().build();
    let mut tx = client.transaction().expect("tx");
    outbox
        .enqueue(&mut prepared.on(&mut tx), &msg("k", "rolled-back"))
        .expect("enqueue");
    tx.rollback().expect("rollback");

    let mut store = PgRelayStore::new(db.connect().expect("connect")).expect("store");
    assert_eq!(store.metrics(0).expect("metrics").pending, 2);
    let sink = MemorySink::new();
    let mut relay = Relay::new(
        store,
        sink.clone(),
        RelayConfig::builder().build().expect("config"),
    );
    while relay.run_once().expect("run").claimed > 0 {}
    let mut ids: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| m.id().as_str().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["p-false", "p-true"]);

    // Prepared on one connection, used on another: a store error, not a wrong statement.
    let mut other = db.connect().expect("connect");
    let mut tx = other.transaction().expect("tx");
    let err = outbox
        .enqueue(&mut prepared.on(&mut tx), &msg("k", "elsewhere"))
        .expect_err("foreign statement");
    assert!(matches!(err, EnqueueError::Store(_)), "{err}");
}

/// Pending counts rows the relay has not numbered yet, and the oldest pending age sees them.
#[test]
fn metrics_count_rows_not_numbered_yet() {
    let db = pg_test_db!();
    let mut client = db.connect().expect("connect");
    migrate(&mut client).expect("migrate");
    let outbox = Outbox::builder().build();
    let mut tx = client.transaction().expect("tx");
    for i in 0..3 {
        outbox
            .enqueue(&mut tx, &msg(&format!("k{i}"), &format!("m{i}")))
            .expect("enqueue");
    }
    tx.commit().expect("commit");
    let mut store = PgRelayStore::new(db.connect().expect("connect")).expect("store");
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_millis(),
    )
    .expect("ms");
    let m = store.metrics(now + 5_000).expect("metrics");
    assert_eq!(m.pending, 3);
    assert!(m.oldest_pending_age.expect("age") >= Duration::from_secs(4));
}

/// The tokio-postgres path: plain and prepared enqueue, rollback, duplicate ids, and the same
/// backpressure (refused at the high-water mark, after its wait).
#[cfg(feature = "tokio")]
#[test]
fn the_async_enqueue_matches_the_sync_one() {
    use quorate_outbox::Backpressure;
    let db = pg_test_db!();
    let mut client = db.connect().expect("connect");
    migrate(&mut client).expect("migrate");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = db.connection_string().to_owned();
    let bp = Backpressure::new(3, 1, Duration::from_millis(5))
        .expect("backpressure")
        .wait_up_to(Duration::from_millis(30));
    let outbox = Outbox::builder().backpressure(bp).build();
    rt.block_on(async {
        let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let prepared = PreparedEnqueue::prepare_async(&client)
            .await
            .expect("prepare");
        let tx = client.transaction().await.expect("tx");
        quorate_outbox::pg::enqueue_async(&outbox, &tx, &msg("k", "a1"))
            .await
            .expect("enqueue");
        quorate_outbox::pg::enqueue_async_prepared(&outbox, &tx, &prepared, &msg("k", "a2"))
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");

        let tx = client.transaction().await.expect("tx");
        quorate_outbox::pg::enqueue_async(&outbox, &tx, &msg("k", "rolled-back"))
            .await
            .expect("enqueue");
        tx.rollback().await.expect("rollback");

        let tx = client.transaction().await.expect("tx");
        let dup = quorate_outbox::pg::enqueue_async(&outbox, &tx, &msg("k", "a1")).await;
        assert!(matches!(dup, Err(EnqueueError::DuplicateId(_))), "{dup:?}");
        drop(tx);

        let tx = client.transaction().await.expect("tx");
        quorate_outbox::pg::enqueue_async(&outbox, &tx, &msg("k", "a3"))
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");
        // Three pending: the high-water mark. Nothing drains, so the wait ends refused.
        let tx = client.transaction().await.expect("tx");
        let refused = quorate_outbox::pg::enqueue_async(&outbox, &tx, &msg("k", "a4")).await;
        assert!(
            matches!(
                refused,
                Err(EnqueueError::Backpressure {
                    pending: 3,
                    high_water: 3
                })
            ),
            "{refused:?}"
        );
    });
    let got: Vec<(String, i64)> = drain(&db)
        .into_iter()
        .map(|(id, _, pos)| (id, pos))
        .collect();
    assert_eq!(
        got,
        [
            ("a1".to_owned(), 1),
            ("a2".to_owned(), 2),
            ("a3".to_owned(), 3)
        ]
    );
}

/// Two enqueuers and two relays at once, on ten hot keys: every message is delivered once,
/// positions within a key are 1, 2, 3, ... with no gap, each relay delivers a key's messages
/// in position order, and positions follow the order in which the enqueuers held the key
/// (recorded inside each transaction while it holds the key's lock, so it is commit order).
#[test]
fn concurrent_enqueuers_and_relays_keep_commit_order_per_key() {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    let db = pg_test_db!();
    migrate(&mut db.connect().expect("connect")).expect("migrate");
    let outbox = Outbox::builder().seed(3).build();
    let log: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());
    let sinks = [MemorySink::new(), MemorySink::new()];
    let total = std::sync::atomic::AtomicUsize::new(0);
    let writers_done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..2u64 {
            let (outbox, log, total, writers_done, db) =
                (&outbox, &log, &total, &writers_done, &db);
            s.spawn(move || {
                let mut client = db.connect().expect("connect");
                let mut rng = quorate_retry::FastRng::seed_from_u64(w + 11);
                use rand::RngCore as _;
                for t in 0..150 {
                    let mut tx = client.transaction().expect("tx");
                    // Keys in one order in every transaction (sorted), as the pg module
                    // docs advise: opposite orders can deadlock, as on any locked rows.
                    let mut keys: Vec<u64> = (0..=rng.next_u64() % 3)
                        .map(|_| rng.next_u64() % 10)
                        .collect();
                    keys.sort_unstable();
                    for (m, k) in keys.iter().enumerate() {
                        let key = format!("k{k}");
                        let payload = format!("w{w}-t{t}-m{m}");
                        outbox
                            .enqueue(&mut tx, &msg(&key, &payload))
                            .expect("enqueue");
                        log.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .entry(key)
                            .or_default()
                            .push(payload);
                        total.fetch_add(1, Ordering::SeqCst);
                    }
                    tx.commit().expect("commit");
                }
                writers_done.fetch_add(1, Ordering::SeqCst);
            });
        }
        let all = &sinks;
        for (r, sink) in sinks.iter().enumerate() {
            let (total, writers_done, db) = (&total, &writers_done, &db);
            s.spawn(move || {
                let mut relay = Relay::new(
                    PgRelayStore::new(db.connect().expect("connect")).expect("store"),
                    sink.clone(),
                    RelayConfig::builder()
                        .relay_id(format!("r{r}"))
                        .batch_size(7)
                        .build()
                        .expect("config"),
                );
                let give_up = std::time::Instant::now() + Duration::from_secs(120);
                loop {
                    let claimed = relay.run_once().expect("run").claimed;
                    let delivered = all.iter().map(MemorySink::len).sum::<usize>();
                    if writers_done.load(Ordering::SeqCst) == 2
                        && delivered >= total.load(Ordering::SeqCst)
                    {
                        break;
                    }
                    assert!(std::time::Instant::now() < give_up, "relays stalled");
                    if claimed == 0 {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            });
        }
    });
    let log = log
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut by_key: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for sink in &sinks {
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        for m in sink.messages() {
            let prev = last.insert(m.key().to_owned(), m.key_seq()).unwrap_or(0);
            assert!(
                m.key_seq() > prev,
                "one relay delivers a key in position order"
            );
            by_key.entry(m.key().to_owned()).or_default().push((
                m.key_seq(),
                String::from_utf8_lossy(m.payload()).into_owned(),
            ));
        }
    }
    let mut delivered: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, mut v) in by_key {
        v.sort();
        let positions: Vec<i64> = v.iter().map(|(p, _)| *p).collect();
        let dense: Vec<i64> = (1..=i64::try_from(v.len()).expect("len")).collect();
        assert_eq!(positions, dense, "key {key}: each position once, no gap");
        delivered.insert(key, v.into_iter().map(|(_, p)| p).collect());
    }
    assert_eq!(delivered, log, "per key, delivery order is commit order");
}
