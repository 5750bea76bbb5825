//! Crash tests: a child process aborted at each step of begin, checkpoint and complete (and
//! inside the effect's transaction), then the store reopened: no acknowledged completion is
//! lost and no attempt's effect is applied twice.
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use std::time::Duration;

use quorate_idempotency::{Begin, Fingerprint, IdempotencyStore, State};
use quorate_testkit::{CrashReport, crash_note, crash_point};

const KEYS: [&str; 2] = ["order-1", "order-2"];
const SCOPE: &str = "merchant-7";

fn install_hook() {
    let _ = quorate_idempotency::__private::set_crash_hook(crash_point);
}

fn response(key: &str) -> String {
    format!("captured {key}")
}

/// Runs one capture to completion: execute (skipping the charge when an earlier attempt
/// recorded it), replay, or wait out another attempt's lock. `charge` applies the effect and
/// its recovery point in one transaction.
fn capture<S: IdempotencyStore>(
    store: &S,
    key: &str,
    mut charge: impl FnMut(&quorate_idempotency::Attempt),
    mut wait: impl FnMut(Duration),
) -> String {
    let fp = Fingerprint::of(format!("capture 100 EUR for {key}").as_bytes());
    loop {
        match store.begin(SCOPE, key, &fp).expect("begin") {
            Begin::Execute(attempt) => {
                if attempt.recovery().map(|p| p.phase()) != Some("charged") {
                    charge(&attempt);
                }
                store
                    .complete(
                        &attempt,
                        quorate_idempotency::Outcome::Succeeded(response(key).into()),
                    )
                    .expect("complete");
                return response(key);
            }
            Begin::Replay(stored) => {
                return String::from_utf8(stored.response.to_vec()).expect("utf-8");
            }
            Begin::InProgress { retry_after } => wait(retry_after),
            Begin::FingerprintMismatch => panic!("fingerprint mismatch on {key}"),
        }
    }
}

/// The keys the child acknowledged before it died.
fn acked(report: &CrashReport) -> Vec<String> {
    report
        .notes
        .iter()
        .filter_map(|n| n.strip_prefix("acked ").map(str::to_owned))
        .collect()
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use quorate_clocks::{BootClock, MonotonicClock, SystemClock};
    use quorate_idempotency::{SqliteStore, StoreConfig};
    use quorate_testkit::{CrashTest, TempDir, is_crash_child};
    use std::path::Path;

    fn config() -> StoreConfig {
        StoreConfig::new(Duration::from_secs(30), Duration::from_secs(3600), 1024).expect("valid")
    }

    /// The boot clock an hour ahead: the parent sees every lock the child left as expired,
    /// without waiting.
    struct Ahead;
    impl MonotonicClock for Ahead {
        fn now_nanos(&self) -> u64 {
            BootClock.now_nanos() + 3_600_000_000_000
        }
    }

    fn fresh(path: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let conn = rusqlite::Connection::open(path).expect("open");
        quorate_idempotency::sqlite::migrate(&conn).expect("migrate");
        conn.execute_batch("CREATE TABLE charges (key TEXT NOT NULL, epoch INTEGER NOT NULL)")
            .expect("charges table");
    }

    fn run(store: &SqliteStore, key: &str, wait: impl FnMut(Duration)) -> String {
        capture(
            store,
            key,
            |attempt| {
                store
                    .transaction(|tx| {
                        tx.execute(
                            "INSERT INTO charges (key, epoch) VALUES (?1, ?2)",
                            rusqlite::params![key, attempt.epoch().get() as i64],
                        )?;
                        crash_point("effect.before_commit");
                        store.checkpoint_in(tx, attempt, "charged", b"ch")
                    })
                    .expect("charge");
            },
            wait,
        )
    }

    #[test]
    fn sqlite_crash_at_every_step_loses_no_ack_and_charges_once() {
        install_hook();
        let dir = if is_crash_child() {
            None
        } else {
            Some(TempDir::new("idem-crash").expect("tempdir"))
        };
        let path = dir.as_ref().map(|d| d.path().join("keys.db"));
        if let Some(p) = &path {
            fresh(p);
        }
        let mut test = CrashTest::current().expect("crash test");
        if let Some(p) = &path {
            test = test.arg("db", p);
        }
        let explored = test
            .every_crash_point(
                |args| {
                    let store = SqliteStore::open(args.path("db").expect("db arg"), config())
                        .expect("open");
                    for key in KEYS {
                        let got = run(&store, key, |_| panic!("no other attempt in the child"));
                        assert_eq!(got, response(key));
                        crash_note(&format!("acked {key}"));
                    }
                },
                |report| {
                    let path = path.as_ref().expect("parent has the path");
                    let store = SqliteStore::open(path, config())
                        .expect("reopen")
                        .with_clocks(Ahead, SystemClock);
                    // Nothing acknowledged is lost.
                    for key in acked(report) {
                        let record = store.get(SCOPE, &key).expect("get").expect("acked record");
                        assert_eq!(record.state, State::Succeeded, "{report}");
                        assert_eq!(record.response.as_deref(), Some(response(&key).as_bytes()));
                    }
                    // Recovery finishes every key, resuming after a committed charge.
                    for key in KEYS {
                        let got = run(&store, key, |_| panic!("locks left by the child expired"));
                        assert_eq!(got, response(key), "{report}");
                    }
                    // Each charge applied exactly once.
                    let conn = rusqlite::Connection::open(path).expect("open");
                    for key in KEYS {
                        let n: i64 = conn
                            .query_row("SELECT count(*) FROM charges WHERE key = ?1", [key], |r| {
                                r.get(0)
                            })
                            .expect("count");
                        assert_eq!(n, 1, "charges for {key} after {report}");
                    }
                    drop(conn);
                    drop(store);
                    fresh(path);
                },
            )
            .expect("crash exploration");
        // begin before/after, checkpoint before/after, complete before/after, effect: 2 keys each.
        assert_eq!(explored.crash_runs, 14, "{explored:?}");
    }
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use quorate_idempotency::{PgStore, StoreConfig};
    use quorate_testkit::{CrashTest, PgDatabase, is_crash_child};

    fn config() -> StoreConfig {
        StoreConfig::new(Duration::from_secs(30), Duration::from_secs(3600), 1024).expect("valid")
    }

    fn fresh(db: &PgDatabase) {
        let mut client = db.connect().expect("connect");
        quorate_idempotency::postgres::migrate(&mut client).expect("migrate");
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS charges (key TEXT NOT NULL, epoch BIGINT NOT NULL);
                 TRUNCATE charges, quorate_idempotency;",
            )
            .expect("reset");
    }

    fn run(
        store: &PgStore,
        client: &mut postgres::Client,
        key: &str,
        wait: impl FnMut(Duration),
    ) -> String {
        capture(
            store,
            key,
            |attempt| {
                let mut tx = client.transaction().expect("tx");
                tx.execute(
                    "INSERT INTO charges (key, epoch) VALUES ($1, $2)",
                    &[&key, &(attempt.epoch().get() as i64)],
                )
                .expect("charge");
                crash_point("effect.before_commit");
                store
                    .checkpoint_in(&mut tx, attempt, "charged", b"ch")
                    .expect("checkpoint");
                tx.commit().expect("commit");
            },
            wait,
        )
    }

    #[test]
    fn postgres_crash_at_every_step_loses_no_ack_and_charges_once() {
        install_hook();
        let db = if is_crash_child() {
            None
        } else {
            match PgDatabase::for_current_test() {
                Some(db) => Some(db),
                None => return,
            }
        };
        if let Some(db) = &db {
            fresh(db);
        }
        let mut test = CrashTest::current().expect("crash test");
        if let Some(db) = &db {
            test = test.arg("db", db.connection_string());
        }
        let explored = test
            .every_crash_point(
                |args| {
                    let conn: postgres::Config =
                        args.str("db").expect("db arg").parse().expect("config");
                    let store = PgStore::connect(&conn, 1, config()).expect("store");
                    let mut client = conn.connect(postgres::NoTls).expect("connect");
                    for key in KEYS {
                        let got = run(&store, &mut client, key, |_| panic!("no other attempt"));
                        assert_eq!(got, response(key));
                        crash_note(&format!("acked {key}"));
                    }
                },
                |report| {
                    let db = db.as_ref().expect("parent has the database");
                    let store = PgStore::connect(db.config(), 1, config()).expect("store");
                    store.advance_clock_for_tests(Duration::from_secs(60));
                    for key in acked(report) {
                        let record = store.get(SCOPE, &key).expect("get").expect("acked record");
                        assert_eq!(record.state, State::Succeeded, "{report}");
                        assert_eq!(record.response.as_deref(), Some(response(&key).as_bytes()));
                    }
                    let mut client = db.connect().expect("connect");
                    for key in KEYS {
                        let got = run(&store, &mut client, key, |_| panic!("locks expired"));
                        assert_eq!(got, response(key), "{report}");
                    }
                    for key in KEYS {
                        let n: i64 = client
                            .query_one("SELECT count(*) FROM charges WHERE key = $1", &[&key])
                            .expect("count")
                            .get(0);
                        assert_eq!(n, 1, "charges for {key} after {report}");
                    }
                    drop(store);
                    fresh(db);
                },
            )
            .expect("crash exploration");
        assert_eq!(explored.crash_runs, 14, "{explored:?}");
    }
}
