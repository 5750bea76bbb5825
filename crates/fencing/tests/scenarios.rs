//! Scenario tests with manual clocks: pauses past expiry, delayed writes, wall-clock jumps.

use std::sync::Arc;
use std::time::Duration;

use quorate_clocks::{ManualClock, MonotonicClock, WallClock};
use quorate_fencing::{
    FencingToken, Lease, LeaseClient, LeaseError, LeaseLost, LeaseTiming, MemoryLease,
    ShardedGuard, StaleToken, TokenGuard,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn timing() -> LeaseTiming {
    LeaseTiming::new(Duration::from_secs(10)).expect("timing")
}

fn clients(
    clock: &ManualClock,
) -> (
    LeaseClient<MemoryLease<ManualClock>>,
    LeaseClient<MemoryLease<ManualClock>>,
) {
    let backend = Arc::new(MemoryLease::with_clock(clock.clone()));
    let a =
        LeaseClient::new(Arc::clone(&backend), "a", timing()).with_clock(Arc::new(clock.clone()));
    let b = LeaseClient::new(backend, "b", timing()).with_clock(Arc::new(clock.clone()));
    (a, b)
}

/// A pauses past expiry, B acquires t+1 and writes, A wakes and writes with t: rejected, and B's
/// write stands.
#[test]
fn paused_holder_is_fenced_off_and_the_new_holders_write_stands() -> TestResult {
    let clock = ManualClock::new(1_700_000_000_000_000_000);
    let (a, b) = clients(&clock);
    let storage: ShardedGuard<String> = ShardedGuard::new();
    let mut value = String::new();

    let lease_a = a.acquire("file")?;
    let t = lease_a.token()?;
    storage.fenced("file", t, || value = "a1".into())?;

    // A reads its token for the next write, then pauses (GC) for a minute.
    let t_before_pause = lease_a.token()?;
    clock.advance(Duration::from_secs(60));

    let lease_b = b.acquire("file")?;
    let t1 = lease_b.token()?;
    assert_eq!(Some(t1), t.next(), "B gets t+1");
    storage.fenced("file", t1, || value = "b1".into())?;

    // A wakes: its holder-side guard knows, and the resource refuses its write.
    assert_eq!(lease_a.token(), Err(LeaseLost::DeadlinePassed));
    let refused = storage.fenced("file", t_before_pause, || value = "a2".into());
    assert_eq!(
        refused,
        Err(StaleToken {
            presented: t,
            highest: t1
        })
    );
    assert_eq!(value, "b1", "B's write stands");
    // A's renewal fails too: the backend has B's lease.
    assert!(lease_a.renew().is_err());
    assert!(lease_b.token().is_ok());
    Ok(())
}

/// A write with t delayed in the network arrives after a write with t+1: rejected.
#[test]
fn delayed_write_with_an_older_token_is_rejected() {
    let guard = TokenGuard::new();
    let (t, t1) = (FencingToken::new(41), FencingToken::new(42));
    assert_eq!(guard.check(t1), Ok(()));
    assert_eq!(
        guard.check(t),
        Err(StaleToken {
            presented: t,
            highest: t1
        })
    );
    assert_eq!(guard.highest(), t1);
    // The newer holder keeps writing.
    assert_eq!(guard.check(t1), Ok(()));
}

/// Wall-clock steps of an hour either way change no lease decision: every clock involved is
/// monotonic, and the manual clock's monotonic reading ignores wall steps.
#[test]
fn wall_clock_jumps_change_no_lease_decision() -> TestResult {
    for jump_forward in [true, false] {
        let clock = ManualClock::new(1_700_000_000_000_000_000);
        let (a, b) = clients(&clock);
        let lease_a = a.acquire("r")?;
        let deadline_left = lease_a.remaining().expect("live");
        let wall_before = clock.now_unix_nanos();
        let mono_before = clock.now_nanos();
        if jump_forward {
            clock.set(wall_before + 3_600_000_000_000);
        } else {
            clock.step_back(Duration::from_secs(3600));
        }
        assert_ne!(clock.now_unix_nanos(), wall_before);
        assert_eq!(clock.now_nanos(), mono_before);
        // Nothing changed: A still holds, B is refused, the remaining window is the same.
        assert_eq!(lease_a.remaining(), Some(deadline_left));
        assert!(matches!(b.acquire("r"), Err(LeaseError::Held { .. })));
        lease_a.renew()?;
        // Expiry happens after the same monotonic time as without the jump.
        clock.advance(timing().holder_window() - Duration::from_nanos(1));
        assert!(lease_a.token().is_ok());
        clock.advance(Duration::from_nanos(1));
        assert_eq!(lease_a.token(), Err(LeaseLost::DeadlinePassed));
        // The grantor still holds it until its own, longer hold.
        assert!(matches!(b.acquire("r"), Err(LeaseError::Held { .. })));
        clock.advance(timing().grantor_hold() - timing().holder_window());
        let lease_b = b.acquire("r")?;
        assert!(lease_b.token()? > lease_a.grant().token);
    }
    Ok(())
}

/// The holder stops at ttl·(1−d)−margin; the grantor re-grants only after ttl·(1+d)+grace.
#[test]
fn holder_window_ends_before_the_grantor_regrants() -> TestResult {
    let clock = ManualClock::new(0);
    let (a, b) = clients(&clock);
    let t = timing();
    let lease_a = a.acquire("r")?;
    clock.advance(t.holder_window());
    assert_eq!(lease_a.token(), Err(LeaseLost::DeadlinePassed));
    // Between the holder's deadline and the grantor's expiry nobody holds the lease.
    assert!(b.acquire("r").is_err());
    clock.advance(t.grantor_hold() - t.holder_window() - Duration::from_nanos(1));
    assert!(b.acquire("r").is_err());
    clock.advance(Duration::from_nanos(1));
    assert!(b.acquire("r").is_ok());
    Ok(())
}

/// A failed renewal poisons the guard even while the window is still open, for every clone.
#[test]
fn failed_renewal_poisons_every_clone() -> TestResult {
    let clock = ManualClock::new(0);
    let (a, _) = clients(&clock);
    let lease = a.acquire("r")?;
    let worker_view = lease.clone();
    // Someone force-releases the lease behind the holder's back.
    assert_eq!(
        a.backend().release(lease.grant())?,
        quorate_fencing::ReleaseOutcome::Released
    );
    assert_eq!(lease.renew(), Err(LeaseLost::RenewalFailed));
    assert_eq!(worker_view.token(), Err(LeaseLost::RenewalFailed));
    assert!(worker_view.remaining().is_none());
    Ok(())
}

/// Renewal restarts the window from a reading taken before the request.
#[test]
fn renewal_extends_the_window_from_the_request_start() -> TestResult {
    let clock = ManualClock::new(0);
    let (a, b) = clients(&clock);
    let t = timing();
    let lease = a.acquire("r")?;
    for _ in 0..5 {
        clock.advance(t.holder_window() / 2);
        lease.renew()?;
        assert_eq!(lease.remaining(), Some(t.holder_window()));
    }
    assert!(b.acquire("r").is_err());
    lease.release()?;
    assert_eq!(lease.token(), Err(LeaseLost::Released));
    assert!(b.acquire("r").is_ok());
    Ok(())
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use quorate_fencing::{FencedTable, FencedWriteError, SqliteLease};

    /// The same pause scenario with the lease and the resource on SQLite: fence-on-acquire
    /// refuses the old holder even though it never talks to the lease again.
    #[test]
    fn fence_on_acquire_refuses_the_paused_holder_in_sqlite() -> TestResult {
        let clock = ManualClock::new(0);
        let backend = Arc::new(SqliteLease::from_connection_with_clock(
            rusqlite::Connection::open_in_memory()?,
            clock.clone(),
        )?);
        let a = LeaseClient::new(Arc::clone(&backend), "a", timing())
            .with_clock(Arc::new(clock.clone()));
        let b = LeaseClient::new(backend, "b", timing()).with_clock(Arc::new(clock.clone()));
        let db = rusqlite::Connection::open_in_memory()?;
        db.execute_batch(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT, token INTEGER NOT NULL DEFAULT 0);
             INSERT INTO jobs (id, state) VALUES ('j', 'new');",
        )?;
        let jobs = FencedTable::new("jobs", "id", "token")?;
        let set_state = jobs.update(&["state"])?;

        let lease_a = a.acquire("jobs/j")?;
        let t = lease_a.token()?;
        jobs.fence().execute_sqlite(&db, &"j", t, &[])?;
        clock.advance(Duration::from_secs(60));
        let lease_b = b.acquire("jobs/j")?;
        let t1 = lease_b.token()?;
        jobs.fence().execute_sqlite(&db, &"j", t1, &[])?; // B fences before any work
        // A wakes and writes with t, never asking the lease service: refused.
        let err = set_state
            .execute_sqlite(&db, &"j", t, &[&"done by a"])
            .expect_err("stale write");
        assert!(
            matches!(err, FencedWriteError::Stale { presented, highest } if presented == t && highest == t1),
            "{err}"
        );
        set_state.execute_sqlite(&db, &"j", t1, &[&"done by b"])?;
        let state: String =
            db.query_row("SELECT state FROM jobs WHERE id = 'j'", [], |r| r.get(0))?;
        assert_eq!(state, "done by b");
        Ok(())
    }
}
