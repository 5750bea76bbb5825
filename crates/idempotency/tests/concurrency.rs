//! 64 concurrent begins on one key through separate connections: exactly one execute.

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_64_connections_one_execute() {
    use std::sync::Barrier;

    use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, SqliteStore, StoreConfig};
    use quorate_testkit::TempDir;

    let dir = TempDir::new("idem-conc").expect("tempdir");
    let path = dir.path().join("keys.db");
    let conn = rusqlite::Connection::open(&path).expect("open");
    quorate_idempotency::sqlite::migrate(&conn).expect("migrate");
    let stores: Vec<SqliteStore> = (0..64)
        .map(|_| SqliteStore::open(&path, StoreConfig::default()).expect("store"))
        .collect();
    let barrier = Barrier::new(64);
    let fp = Fingerprint::of(b"r");
    let answers: Vec<Begin> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                s.spawn(|| {
                    barrier.wait();
                    store.begin("s", "hot", &fp).expect("begin")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .collect()
    });
    let executes = answers
        .iter()
        .filter(|a| matches!(a, Begin::Execute(_)))
        .count();
    let waiting = answers
        .iter()
        .filter(|a| matches!(a, Begin::InProgress { .. }))
        .count();
    assert_eq!((executes, waiting), (1, 63));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_64_connections_one_execute() {
    use std::sync::Barrier;

    use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, PgStore, StoreConfig};

    let db = quorate_testkit::pg_test_db!();
    let mut client = db.connect().expect("connect");
    quorate_idempotency::postgres::migrate(&mut client).expect("migrate");
    let store = PgStore::connect(db.config(), 64, StoreConfig::default()).expect("store");
    let fp = Fingerprint::of(b"r");
    // Several rounds: a fresh key, then the same key after a release (the slow path).
    let mut last = 0;
    for round in 0..3 {
        let barrier = Barrier::new(64);
        let answers: Vec<Begin> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..64)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        store.begin("s", "hot", &fp).expect("begin")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("join"))
                .collect()
        });
        let winners: Vec<_> = answers
            .iter()
            .filter_map(|a| match a {
                Begin::Execute(a) => Some(a.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        assert!(winners[0].epoch().get() > last, "epochs grow");
        last = winners[0].epoch().get();
        store
            .complete(&winners[0], quorate_idempotency::Outcome::FailedRetryable)
            .expect("release");
    }
}
