//! Inbox retention: marks older than the retention are purged in bounded batches, and the
//! configuration refuses a retention that does not exceed the redelivery horizon.

use std::sync::Arc;
use std::time::Duration;

use quorate_outbox::{ConfigError, Inbox, InboxConfig, ManualClock, MessageId};

#[test]
fn retention_must_exceed_the_redelivery_horizon() {
    let day = Duration::from_secs(86_400);
    assert_eq!(
        InboxConfig::new(day, day),
        Err(ConfigError::RetentionTooShort {
            retention_ms: 86_400_000,
            horizon_ms: 86_400_000
        })
    );
    assert!(InboxConfig::new(day * 2, day).is_ok());
}

#[test]
fn sqlite_marks_past_retention_are_purged_in_bounded_batches()
-> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new(1_000_000_000_000_000_000);
    let inbox = Inbox::new(InboxConfig::new(
        Duration::from_secs(3_600),
        Duration::from_secs(60),
    )?)
    .with_clock(Arc::new(clock.clone()));
    let mut conn = rusqlite::Connection::open_in_memory()?;
    quorate_outbox::sqlite::migrate(&conn)?;
    for i in 0..5 {
        let tx = conn.transaction()?;
        let mut tx = tx;
        inbox.process_once(&mut tx, "c", &MessageId::new(format!("m{i}"))?, |_| {
            Ok::<_, String>(())
        })?;
        tx.commit()?;
    }
    clock.advance(Duration::from_secs(3_601));
    let before = inbox.purge_before_ms();
    assert_eq!(quorate_outbox::sqlite::purge_inbox(&conn, before, 2)?, 2);
    assert_eq!(quorate_outbox::sqlite::purge_inbox(&conn, before, 100)?, 3);
    assert!(!quorate_outbox::sqlite::inbox_contains(
        &conn,
        "c",
        &MessageId::new("m0")?
    )?);
    // Fresh marks survive the purge.
    let mut tx = conn.transaction()?;
    inbox.process_once(&mut tx, "c", &MessageId::new("new")?, |_| {
        Ok::<_, String>(())
    })?;
    tx.commit()?;
    assert_eq!(
        quorate_outbox::sqlite::purge_inbox(&conn, inbox.purge_before_ms(), 100)?,
        0
    );
    Ok(())
}
