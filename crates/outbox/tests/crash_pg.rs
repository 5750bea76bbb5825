//! Real process kills (the testkit crash harness) of a relay over PostgreSQL.
//!
//! The parent creates the database; the child (re-executed test binary) connects to it by the
//! connection string passed as an argument. The consumer is an inbox in the same database.

use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, NoTls};
use quorate_outbox::pg::{PgRelayStore, migrate};
use quorate_outbox::{
    CallbackSink, Inbox, InboxConfig, ManualClock, NewMessage, Outbox, OutboxMessage, PublishError,
    Relay, RelayConfig, SystemClock, WallClock,
};
use quorate_testkit::{
    ChildOutcome, CrashPoint, CrashReport, CrashTest, PgDatabase, crash_point, is_crash_child,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn connect(conn: &str) -> Client {
    Client::connect(conn, NoTls).expect("connect")
}

fn setup(conn: &str, messages: &[(&str, &str)]) {
    let mut c = connect(conn);
    migrate(&mut c).expect("migrate");
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS effects (n BIGSERIAL PRIMARY KEY, key TEXT, v TEXT);
         TRUNCATE quorate_outbox, quorate_outbox_keys, quorate_outbox_dead, quorate_inbox, effects",
    )
    .expect("effects");
    let outbox = Outbox::builder().build();
    for (k, v) in messages {
        let mut tx = c.transaction().expect("tx");
        outbox
            .enqueue(
                &mut tx,
                &NewMessage::new(*k, "test", v.as_bytes().to_vec()).expect("msg"),
            )
            .expect("enqueue");
        tx.commit().expect("commit");
    }
}

fn consumer(
    conn: &str,
) -> CallbackSink<impl FnMut(&OutboxMessage) -> Result<(), PublishError> + Send> {
    let mut client = connect(conn);
    let inbox = Inbox::new(
        InboxConfig::new(Duration::from_secs(86_400), Duration::from_secs(3_600)).expect("config"),
    );
    CallbackSink::new(move |m: &OutboxMessage| {
        let mut tx = client
            .transaction()
            .map_err(|e| PublishError::transient(e.to_string()))?;
        let v = String::from_utf8_lossy(m.payload()).into_owned();
        inbox
            .process_once(&mut tx, "consumer", m.id(), |tx| {
                tx.execute(
                    "INSERT INTO effects (key, v) VALUES ($1, $2)",
                    &[&m.key(), &v],
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
        .build()
        .expect("config")
}

fn run_child(conn: &str) {
    let store = PgRelayStore::new(connect(conn)).expect("store");
    let mut relay = Relay::new(store, consumer(conn), relay_config("child"))
        .with_observer(|step| crash_point(step.as_str()));
    while relay.run_once().expect("run").claimed > 0 {}
}

fn recover(conn: &str) -> (Vec<(String, String)>, usize) {
    let later = SystemClock.now_unix_nanos() + 3_600_000_000_000;
    let clock = Arc::new(ManualClock::new(later));
    let store = PgRelayStore::new(connect(conn)).expect("store");
    let mut relay = Relay::new(store, consumer(conn), relay_config("recovery"))
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
    (effects(conn), sent)
}

fn effects(conn: &str) -> Vec<(String, String)> {
    connect(conn)
        .query("SELECT key, v FROM effects ORDER BY n", &[])
        .expect("query")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The parent's database (skipped or failed per the testkit policy when no server); the child
/// gets the connection string as an argument.
fn parent_db() -> Option<(Option<PgDatabase>, String)> {
    if is_crash_child() {
        return Some((None, String::new()));
    }
    let db = PgDatabase::for_current_test()?;
    let conn = db.connection_string().to_owned();
    Some((Some(db), conn))
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

#[test]
fn killed_after_sink_ack_before_mark_sent_effect_happens_once() -> TestResult {
    let Some((_db, conn)) = parent_db() else {
        return Ok(());
    };
    if !is_crash_child() {
        setup(&conn, &[("payment-1", "captured")]);
    }
    let at = CrashPoint::new("relay.published", 1)?;
    let report = CrashTest::current()?
        .arg("conn", &conn)
        .crash_at(&at, |args| run_child(args.str("conn").expect("conn arg")))?;
    assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
    assert_eq!(effects(&conn), [pair("payment-1", "captured")]);
    let (after, republished) = recover(&conn);
    assert_eq!(republished, 1);
    assert_eq!(after, [pair("payment-1", "captured")]);
    Ok(())
}

#[test]
fn killed_after_claim_before_publish_another_relay_publishes_after_expiry() -> TestResult {
    let Some((_db, conn)) = parent_db() else {
        return Ok(());
    };
    if !is_crash_child() {
        setup(&conn, &[("k", "m1"), ("k", "m2")]);
    }
    let at = CrashPoint::new("relay.claimed", 1)?;
    let report = CrashTest::current()?
        .arg("conn", &conn)
        .crash_at(&at, |args| run_child(args.str("conn").expect("conn arg")))?;
    assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
    assert!(effects(&conn).is_empty());
    let store = PgRelayStore::new(connect(&conn))?;
    let mut early = Relay::new(store, consumer(&conn), relay_config("early"));
    assert_eq!(
        early.run_once()?.claimed,
        0,
        "the dead relay's claim holds until it expires"
    );
    assert_eq!(recover(&conn).0, [pair("k", "m1"), pair("k", "m2")]);
    Ok(())
}

#[test]
fn every_crash_point_of_a_relay_run_loses_nothing_and_applies_once() -> TestResult {
    let Some((_db, conn)) = parent_db() else {
        return Ok(());
    };
    let messages = [
        ("a", "a1"),
        ("b", "b1"),
        ("a", "a2"),
        ("b", "b2"),
        ("a", "a3"),
    ];
    let explored = CrashTest::current()?.arg("conn", &conn).every_crash_point(
        |args| {
            let conn = args.str("conn").expect("conn arg");
            setup(conn, &messages);
            run_child(conn);
        },
        |report: &CrashReport| {
            let (mut got, _) = recover(&conn);
            got.sort_by(|x, y| x.0.cmp(&y.0));
            assert_eq!(
                got,
                [
                    pair("a", "a1"),
                    pair("a", "a2"),
                    pair("a", "a3"),
                    pair("b", "b1"),
                    pair("b", "b2")
                ],
                "after {report}"
            );
        },
    )?;
    assert!(explored.crash_runs >= 6, "{explored:?}");
    Ok(())
}
