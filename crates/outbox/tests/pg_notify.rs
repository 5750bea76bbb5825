//! PostgreSQL wake-up: LISTEN/NOTIFY ends a relay's sleep early, and polling alone delivers
//! everything when no listener runs.

use std::time::Duration;

use quorate_outbox::pg::{PgRelayStore, migrate, spawn_listener};
use quorate_outbox::{MemorySink, NewMessage, Outbox, Relay, RelayConfig, RelaySignal};
use quorate_testkit::pg_test_db;

fn enqueue(client: &mut postgres::Client, outbox: &Outbox, key: &str) {
    let mut tx = client.transaction().expect("tx");
    outbox
        .enqueue(
            &mut tx,
            &NewMessage::new(key, "evt", &b"x"[..]).expect("msg"),
        )
        .expect("enqueue");
    tx.commit().expect("commit");
}

fn wait_for(sink: &MemorySink, n: usize, limit: Duration) -> bool {
    let step = Duration::from_millis(10);
    let mut waited = Duration::ZERO;
    while waited < limit {
        if sink.len() >= n {
            return true;
        }
        std::thread::sleep(step);
        waited += step;
    }
    sink.len() >= n
}

/// A relay on its own connection and thread, polling every `poll`, until `signal` shuts down.
fn start_relay(
    db: &quorate_testkit::PgDatabase,
    poll: Duration,
    signal: &RelaySignal,
) -> (MemorySink, std::thread::JoinHandle<()>) {
    let sink = MemorySink::new();
    let config = RelayConfig::builder()
        .poll_interval(poll)
        .build()
        .expect("config");
    let mut relay = Relay::new(
        PgRelayStore::new(db.connect().expect("connect")).expect("store"),
        sink.clone(),
        config,
    );
    let stop = signal.clone();
    let worker = std::thread::spawn(move || relay.run(&stop).expect("run"));
    (sink, worker)
}

#[test]
fn notify_wakes_a_sleeping_relay_long_before_its_poll_interval() {
    let db = pg_test_db!();
    let mut client = db.connect().expect("connect");
    migrate(&mut client).expect("migrate");
    let signal = RelaySignal::new();
    let listener = spawn_listener(db.config().clone(), signal.clone());
    let (sink, worker) = start_relay(&db, Duration::from_secs(120), &signal);
    // Let the relay find nothing and go to sleep for its (long) poll interval.
    std::thread::sleep(Duration::from_millis(300));
    let outbox = Outbox::builder().build();
    enqueue(&mut client, &outbox, "k");
    // Delivered on the notification, not after the 120 s poll.
    assert!(
        wait_for(&sink, 1, Duration::from_secs(30)),
        "woken by NOTIFY"
    );
    signal.shutdown();
    worker.join().expect("relay thread");
    listener.join();
}

#[test]
fn polling_alone_delivers_everything() {
    let db = pg_test_db!();
    let mut client = db.connect().expect("connect");
    migrate(&mut client).expect("migrate");
    // NOTIFY off, no listener: the poll interval is the only wake-up.
    let outbox = Outbox::builder().notify(false).build();
    let signal = RelaySignal::new();
    let (sink, worker) = start_relay(&db, Duration::from_millis(20), &signal);
    for i in 0..20 {
        enqueue(&mut client, &outbox, &format!("k{}", i % 3));
    }
    assert!(wait_for(&sink, 20, Duration::from_secs(30)));
    signal.shutdown();
    worker.join().expect("relay thread");
    assert_eq!(sink.len(), 20);
}
