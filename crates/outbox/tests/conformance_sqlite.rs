//! The conformance suite on SQLite (a WAL database file; relays on their own connections).

use std::sync::Mutex;
use std::time::Duration;

use quorate_outbox::sqlite::{SqliteRelayStore, migrate};
use quorate_testkit::TempDir;
use quorate_testkit::outbox_suite::Backend;
use rusqlite::{Connection, Transaction, TransactionBehavior};

#[derive(Debug)]
struct Sqlite {
    dir: TempDir,
    conn: Mutex<Connection>,
}

fn open(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).expect("open sqlite");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .expect("pragmas");
    conn
}

impl Sqlite {
    fn new() -> Option<Self> {
        let dir = TempDir::new("outbox-sqlite").expect("temp dir");
        let conn = open(&dir.path().join("db"));
        migrate(&conn).expect("migrate");
        conn.execute_batch(
            "CREATE TABLE suite_effects (n INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)",
        )
        .expect("effects table");
        Some(Self {
            dir,
            conn: Mutex::new(conn),
        })
    }
}

impl Backend for Sqlite {
    type Tx<'a> = Transaction<'a>;
    type Store = SqliteRelayStore;

    fn label(&self) -> &'static str {
        "sqlite"
    }
    fn transact<R>(&self, f: impl for<'a> FnOnce(&mut Transaction<'a>) -> (bool, R)) -> R {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut tx =
            Transaction::new_unchecked(&conn, TransactionBehavior::Deferred).expect("begin");
        let (commit, r) = f(&mut tx);
        if commit {
            tx.commit().expect("commit");
        } else {
            tx.rollback().expect("rollback");
        }
        r
    }
    fn effect(tx: &mut Transaction<'_>, value: &str) {
        tx.execute("INSERT INTO suite_effects (v) VALUES (?1)", [value])
            .expect("effect");
    }
    fn effects(&self) -> Vec<String> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stmt = conn
            .prepare("SELECT v FROM suite_effects ORDER BY n")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }
    fn store(&self) -> SqliteRelayStore {
        SqliteRelayStore::new(open(&self.dir.path().join("db")))
    }
    fn concurrent_transactions(&self) -> bool {
        false
    }
    fn reset(&self) {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.execute_batch(
            "DELETE FROM quorate_outbox; DELETE FROM quorate_outbox_keys; DELETE FROM quorate_outbox_dead;
             DELETE FROM quorate_inbox; DELETE FROM suite_effects;",
        )
        .expect("reset");
    }
}

quorate_testkit::outbox_conformance!(Sqlite::new(), schedules = 200);

/// The numbering watermark survives a reset of `sqlite_sequence` (which the docs ask users not
/// to do): rows whose `seq` falls below the old watermark are still numbered and delivered.
#[test]
fn a_reset_sequence_does_not_hide_new_rows() {
    use quorate_outbox::{MemorySink, NewMessage, Outbox, Relay, RelayConfig};
    let dir = TempDir::new("outbox-sqlite-reset").expect("temp dir");
    let path = dir.path().join("db");
    let mut conn = open(&path);
    migrate(&conn).expect("migrate");
    let outbox = Outbox::builder().build();
    let enqueue = |conn: &mut Connection, n: usize| {
        let tx = conn.transaction().expect("tx");
        let mut tx = tx;
        for i in 0..n {
            outbox
                .enqueue(
                    &mut tx,
                    &NewMessage::new("k", "t", vec![u8::try_from(i).unwrap_or(0)]).expect("msg"),
                )
                .expect("enqueue");
        }
        tx.commit().expect("commit");
    };
    enqueue(&mut conn, 5);
    let sink = MemorySink::new();
    let mut relay = Relay::new(
        SqliteRelayStore::new(open(&path)),
        sink.clone(),
        RelayConfig::builder().build().expect("config"),
    );
    while relay.run_once().expect("run").claimed > 0 {}
    assert_eq!(sink.len(), 5);
    conn.execute_batch(
        "DELETE FROM quorate_outbox; UPDATE sqlite_sequence SET seq = 0 WHERE name = 'quorate_outbox';",
    )
    .expect("reset");
    enqueue(&mut conn, 3);
    while relay.run_once().expect("run").claimed > 0 {}
    assert_eq!(sink.len(), 8, "rows below the old watermark are delivered");
}
