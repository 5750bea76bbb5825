//! A fenced write after a paused lease: the storage refuses the holder that woke up too late.
//!
//! Worker A takes the lease on a job and checks it, then pauses (a GC pause, a stopped VM) for
//! a minute. Its lease expires; worker B takes it over with a higher fencing token, raises the
//! row's token (fence-on-acquire) and writes. When A wakes up it writes with the token it
//! checked before the pause, and the database refuses it inside the UPDATE itself.
//!
//! Run: `cargo run -p quorate-examples --example fenced_write`

use std::sync::Arc;
use std::time::Duration;

use quorate_clocks::{ManualClock, MonotonicClock};
use quorate_fencing::{FencedTable, FencedWriteError, LeaseClient, LeaseTiming, MemoryLease};

/// Runs the example.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = rusqlite::Connection::open_in_memory()?;
    db.execute_batch(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, result TEXT, token INTEGER NOT NULL DEFAULT 0);
         INSERT INTO jobs (id) VALUES ('nightly-report');",
    )?;
    let jobs = FencedTable::new("jobs", "id", "token")?;
    let write_result = jobs.update(&["result"])?;

    // The lease service and both workers share a (simulated) clock.
    let clock = ManualClock::new(0);
    let service = Arc::new(MemoryLease::with_clock(clock.clone()));
    let timing = LeaseTiming::new(Duration::from_secs(10))?;
    let worker = |name: &str| {
        LeaseClient::new(service.clone(), name, timing)
            .with_clock(Arc::new(clock.clone()) as Arc<dyn MonotonicClock>)
    };
    let (a, b) = (worker("worker-a"), worker("worker-b"));

    let lease_a = a.acquire("nightly-report")?;
    let token_a = lease_a.token()?; // checked: valid
    jobs.fence()
        .execute_sqlite(&db, &"nightly-report", token_a, &[])?;

    clock.advance(Duration::from_secs(60)); // A is paused right here

    let lease_b = b.acquire("nightly-report")?; // A's lease expired
    let token_b = lease_b.token()?;
    assert!(token_b > token_a);
    jobs.fence()
        .execute_sqlite(&db, &"nightly-report", token_b, &[])?;
    write_result.execute_sqlite(&db, &"nightly-report", token_b, &[&"written by B"])?;

    // A wakes up and writes with the token it checked before the pause.
    match write_result.execute_sqlite(&db, &"nightly-report", token_a, &[&"written by A"]) {
        Err(FencedWriteError::Stale { presented, highest }) => {
            println!("A's write refused: token {presented} < {highest}");
        }
        other => return Err(format!("stale write not refused: {other:?}").into()),
    }
    // A's own guard also knows the lease is gone.
    assert!(lease_a.token().is_err());
    let result: String = db.query_row("SELECT result FROM jobs", [], |r| r.get(0))?;
    assert_eq!(result, "written by B");
    println!("stored result: {result}");
    Ok(())
}
