//! The payment service under the crash harness: a child process is aborted at every hit of
//! every crash point of the idempotency store while it serves a batch of captures; after each
//! crash a fresh service retries the whole batch, and the store must show every payment once,
//! with exactly one outbox message, and every answer given before the crash replayed unchanged.

use std::collections::BTreeMap;

use quorate_examples::__crash::{audit, prepare, serve};
use quorate_testkit::{ChildOutcome, CrashTest, TempDir, crash_note, crash_point};

const REQUESTS: [(usize, u64, &str); 3] = [(1, 100, "cap-1"), (2, 250, "cap-2"), (1, 100, "cap-1")];

#[test]
fn every_crash_point_of_the_payment_service_is_recovered() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = TempDir::new("tour-crash")?;
    let db = dir.path().join("payments.sqlite3");
    prepare(&db)?;
    let mut crashes = 0;
    let explored = CrashTest::current()?.arg("db", &db).every_crash_point(
        |args| {
            let path = args.path("db").expect("db path");
            let mut note = |p: usize, body: &str| crash_note(&format!("{p} {body}"));
            serve(path, 0, &REQUESTS, crash_point, &mut note).expect("serve");
        },
        |report| {
            if matches!(report.outcome, ChildOutcome::Crashed { .. }) {
                crashes += 1;
            } else {
                assert_eq!(report.outcome, ChildOutcome::Completed, "{report:?}");
            }
            // A restarted service, 10 s later (every lock expired), retries the whole batch.
            let mut answers: BTreeMap<usize, String> = BTreeMap::new();
            let mut record = |p: usize, body: &str| {
                answers.insert(p, body.to_owned());
            };
            serve(&db, 10_000_000_000, &REQUESTS, crash_point, &mut record).expect("recover");
            for note in &report.notes {
                let (p, body) = note.split_once(' ').expect("note");
                let p: usize = p.parse().expect("payment");
                assert_eq!(
                    answers.get(&p).map(String::as_str),
                    Some(body),
                    "{note} not replayed"
                );
            }
            let audit = audit(&db).expect("audit");
            assert_eq!(audit.len(), 2, "{audit:?}");
            for (pid, (row, messages)) in &audit {
                assert!(
                    *row && *messages == 1,
                    "{pid}: row {row}, {messages} messages"
                );
            }
            // Fresh tables for the next crash run.
            std::fs::remove_file(&db).expect("reset");
            let _ = std::fs::remove_file(db.with_extension("sqlite3-wal"));
            let _ = std::fs::remove_file(db.with_extension("sqlite3-shm"));
            prepare(&db).expect("prepare");
        },
    )?;
    // begin.before/after x3, complete.before/after x2: ten crash runs.
    assert!(explored.crash_runs >= 10, "{explored:?}");
    assert_eq!(crashes, explored.crash_runs);
    Ok(())
}
