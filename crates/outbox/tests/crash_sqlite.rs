//! Real process kills (the testkit crash harness) of a relay over SQLite.
//!
//! The consumer is an inbox in the same database file: its effect and its dedup mark commit
//! together inside the sink, so "the sink acknowledged" means "the effect committed".

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quorate_outbox::sqlite::{SqliteRelayStore, migrate};
use quorate_outbox::{
    CallbackSink, Inbox, InboxConfig, ManualClock, NewMessage, Outbox, OutboxMessage, PublishError,
    Relay, RelayConfig, SystemClock, WallClock,
};
use quorate_testkit::{
    ChildOutcome, CrashPoint, CrashReport, CrashTest, TempDir, crash_point, is_crash_child,
};
use rusqlite::Connection;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn open(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    conn.execute_batch("PRAGMA journal_mode = WAL")
        .expect("wal");
    conn
}

/// Creates the database with `messages` committed, one transaction each.
fn setup(path: &Path, messages: &[(&str, &str)]) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let mut conn = open(path);
    migrate(&conn).expect("migrate");
    conn.execute_batch(
        "CREATE TABLE effects (n INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT, v TEXT)",
    )
    .expect("effects");
    let outbox = Outbox::builder().build();
    for (k, v) in messages {
        let mut tx = conn.transaction().expect("tx");
        outbox
            .enqueue(
                &mut tx,
                &NewMessage::new(*k, "test", v.as_bytes().to_vec()).expect("msg"),
            )
            .expect("enqueue");
        tx.commit().expect("commit");
    }
}

/// A sink applying each message through the inbox into `effects`.
fn consumer(
    path: &Path,
) -> CallbackSink<impl FnMut(&OutboxMessage) -> Result<(), PublishError> + Send> {
    let mut conn = open(path);
    let inbox = Inbox::new(
        InboxConfig::new(Duration::from_secs(86_400), Duration::from_secs(3_600)).expect("config"),
    );
    CallbackSink::new(move |m: &OutboxMessage| {
        let mut tx = conn
            .transaction()
            .map_err(|e| PublishError::transient(e.to_string()))?;
        inbox
            .process_once(&mut tx, "consumer", m.id(), |tx| {
                tx.execute(
                    "INSERT INTO effects (key, v) VALUES (?1, ?2)",
                    [m.key(), &String::from_utf8_lossy(m.payload())],
                )
            })
            .map_err(|e| PublishError::transient(e.to_string()))?;
        tx.commit()
            .map_err(|e| PublishError::transient(e.to_string()))
    })
}

fn relay_config(id: &str) -> RelayConfig {
    RelayConfig::builder()
        .relay_id(id)
        .batch_size(2)
        .claim_timeout(Duration::from_secs(30))
        .build()
        .expect("config")
}

/// The child: one relay on the system clock, with crash points at its steps.
fn run_child(path: &Path) {
    let mut relay = Relay::new(
        SqliteRelayStore::new(open(path)),
        consumer(path),
        relay_config("child"),
    )
    .with_observer(|step| crash_point(step.as_str()));
    while relay.run_once().expect("run").claimed > 0 {}
}

/// The parent after the crash: a second relay whose clock is past any claim the child held.
fn recover(path: &Path) -> (Vec<(String, String)>, usize) {
    let later = SystemClock.now_unix_nanos() + 3_600_000_000_000;
    let clock = Arc::new(ManualClock::new(later));
    let mut relay = Relay::new(
        SqliteRelayStore::new(open(path)),
        consumer(path),
        relay_config("recovery"),
    )
    .with_clocks(clock.clone(), clock);
    let mut sent = 0;
    loop {
        let o = relay.run_once().expect("run");
        sent += o.sent;
        if o.claimed == 0 {
            break;
        }
    }
    assert_eq!(relay.metrics().expect("metrics").outbox.pending, 0);
    (effects(path), sent)
}

fn effects(path: &Path) -> Vec<(String, String)> {
    let conn = open(path);
    let mut stmt = conn
        .prepare("SELECT key, v FROM effects ORDER BY n")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The parent's database path (the child re-runs the test up to the harness call and takes the
/// path from its arguments instead).
fn parent_db() -> std::io::Result<(Option<TempDir>, PathBuf)> {
    if is_crash_child() {
        return Ok((None, PathBuf::new()));
    }
    let dir = TempDir::new("outbox-crash")?;
    let path = dir.path().join("outbox.db");
    Ok((Some(dir), path))
}

#[test]
fn killed_after_sink_ack_before_mark_sent_effect_happens_once() -> TestResult {
    let (_dir, path) = parent_db()?;
    if !is_crash_child() {
        setup(&path, &[("payment-1", "captured")]);
    }
    let at = CrashPoint::new("relay.published", 1)?;
    let report = CrashTest::current()?
        .arg("db", &path)
        .crash_at(&at, |args| run_child(args.path("db").expect("db arg")))?;
    assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
    // The effect committed before the crash; the message is still pending.
    assert_eq!(
        effects(&path),
        [("payment-1".to_owned(), "captured".to_owned())]
    );
    // Republished after the claim expires; the inbox drops the duplicate.
    let (after, republished) = recover(&path);
    assert_eq!(republished, 1);
    assert_eq!(after, [("payment-1".to_owned(), "captured".to_owned())]);
    Ok(())
}

#[test]
fn killed_after_claim_before_publish_another_relay_publishes_after_expiry() -> TestResult {
    let (_dir, path) = parent_db()?;
    if !is_crash_child() {
        setup(&path, &[("k", "m1"), ("k", "m2")]);
    }
    let at = CrashPoint::new("relay.claimed", 1)?;
    let report = CrashTest::current()?
        .arg("db", &path)
        .crash_at(&at, |args| run_child(args.path("db").expect("db arg")))?;
    assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
    assert!(effects(&path).is_empty());
    // Before the claim expires another relay gets nothing.
    let mut early = Relay::new(
        SqliteRelayStore::new(open(&path)),
        consumer(&path),
        relay_config("early"),
    );
    assert_eq!(early.run_once()?.claimed, 0);
    assert_eq!(
        recover(&path).0,
        [
            ("k".to_owned(), "m1".to_owned()),
            ("k".to_owned(), "m2".to_owned())
        ]
    );
    Ok(())
}

#[test]
fn every_crash_point_of_a_relay_run_loses_nothing_and_applies_once() -> TestResult {
    let (_dir, path) = parent_db()?;
    let messages = [
        ("a", "a1"),
        ("b", "b1"),
        ("a", "a2"),
        ("b", "b2"),
        ("a", "a3"),
    ];
    let explored = CrashTest::current()?.arg("db", &path).every_crash_point(
        |args| {
            let path = args.path("db").expect("db arg");
            setup(path, &messages);
            run_child(path);
        },
        |report: &CrashReport| {
            assert!(
                matches!(
                    report.outcome,
                    ChildOutcome::Crashed { .. } | ChildOutcome::Completed
                ),
                "{report}"
            );
            let (mut got, _) = recover(&path);
            got.sort_by(|x, y| x.0.cmp(&y.0));
            assert_eq!(
                got,
                [
                    ("a", "a1"),
                    ("a", "a2"),
                    ("a", "a3"),
                    ("b", "b1"),
                    ("b", "b2")
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
                "after {report}"
            );
        },
    )?;
    assert!(explored.crash_runs >= 6, "{explored:?}");
    Ok(())
}
