//! PostgreSQL: 16 writers with random pauses and lease expiries against one fenced row. No stale
//! write is accepted and no update is lost.
#![cfg(feature = "postgres")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quorate_fencing::{
    FencedTable, FencedWriteError, FencingToken, LeaseClient, LeaseTiming, PgLease,
};
use quorate_testkit::pg_test_db;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Default)]
struct Tally {
    /// (value written, token) of every accepted write.
    accepted: Vec<(i64, u64)>,
    stale_rejected: usize,
    acquisitions: usize,
}

#[test]
fn sixteen_writers_with_pauses_never_lose_or_misorder_an_update()
-> Result<(), Box<dyn std::error::Error>> {
    let db = pg_test_db!(Ok(()));
    let mut setup = db.connect()?;
    setup.batch_execute(
        "CREATE TABLE counter (id TEXT PRIMARY KEY, value BIGINT NOT NULL, token BIGINT NOT NULL);
         INSERT INTO counter VALUES ('c', 0, 0);",
    )?;
    let timing = LeaseTiming::new(Duration::from_millis(80))?;
    let table = FencedTable::new("counter", "id", "token")?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let run_for = Duration::from_millis(1500);
    let start = Instant::now();

    std::thread::scope(|s| {
        for w in 0..16u64 {
            let (db, table, tally) = (&db, &table, Arc::clone(&tally));
            s.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(0x5eed + w);
                let backend =
                    Arc::new(PgLease::from_client(db.connect().expect("connect")).expect("lease"));
                let client = LeaseClient::new(backend, format!("writer-{w}"), timing);
                let mut conn = db.connect().expect("connect");
                let fence = table.fence();
                let write = table.update(&["value"]).expect("update");
                while start.elapsed() < run_for {
                    let Ok(lease) = client.acquire("counter") else {
                        std::thread::sleep(Duration::from_millis(rng.random_range(2..10)));
                        continue;
                    };
                    let Ok(token) = lease.token() else { continue };
                    tally.lock().unwrap().acquisitions += 1;
                    if fence.execute_postgres(&mut conn, &"c", token, &[]).is_err() {
                        continue;
                    }
                    for _ in 0..rng.random_range(1..6) {
                        // Check the lease, read, then maybe pause past the lease's expiry.
                        if lease.token().is_err() {
                            break;
                        }
                        let value: i64 = conn
                            .query_one("SELECT value FROM counter WHERE id = 'c'", &[])
                            .expect("read")
                            .get(0);
                        let pause = if rng.random_bool(0.2) {
                            rng.random_range(80..150)
                        } else {
                            rng.random_range(0..10)
                        };
                        std::thread::sleep(Duration::from_millis(pause));
                        match write.execute_postgres(&mut conn, &"c", token, &[&(value + 1)]) {
                            Ok(()) => tally
                                .lock()
                                .unwrap()
                                .accepted
                                .push((value + 1, token.get())),
                            Err(FencedWriteError::Stale { presented, highest }) => {
                                assert!(highest > presented);
                                tally.lock().unwrap().stale_rejected += 1;
                                break;
                            }
                            Err(e) => panic!("write failed: {e}"),
                        }
                    }
                    let _ = lease.release();
                }
            });
        }
    });

    let tally = tally.lock().unwrap();
    let (value, token): (i64, i64) = {
        let row = setup.query_one("SELECT value, token FROM counter WHERE id = 'c'", &[])?;
        (row.get(0), row.get(1))
    };
    let mut accepted = tally.accepted.clone();
    accepted.sort_unstable();
    // No lost update: every accepted write incremented the value the previous one left.
    let values: Vec<i64> = accepted.iter().map(|&(v, _)| v).collect();
    let expected: Vec<i64> = (1..=value).collect();
    assert_eq!(values, expected, "lost or duplicated update");
    // No stale write: in commit order (= value order) tokens never decrease.
    assert!(
        accepted.windows(2).all(|w| w[0].1 <= w[1].1),
        "a write with an older token was accepted after a newer one"
    );
    // The row's token is the newest fence: at least the token of the last accepted write.
    let last = accepted.last().map_or(0, |&(_, t)| t);
    assert!(FencingToken::new(u64::try_from(token)?) >= FencingToken::new(last));
    assert!(
        accepted.len() > 16,
        "too little progress: {}",
        accepted.len()
    );
    assert!(tally.acquisitions > 16);
    eprintln!(
        "16 writers: {} acquisitions, {} writes accepted, {} stale writes rejected",
        tally.acquisitions,
        accepted.len(),
        tally.stale_rejected
    );
    Ok(())
}
