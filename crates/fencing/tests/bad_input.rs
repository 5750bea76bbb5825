//! Bad input: unknown resources, foreign tokens, corrupt stored rows, invalid names and
//! identifiers give typed errors, never a panic.

use std::time::Duration;

use quorate_fencing::{
    FencedTable, FencingToken, InvalidName, InvalidTiming, IssueError, Lease, LeaseError,
    LeaseTiming, MemoryIssuer, MemoryLease, ShardedGuard, TokenIssuer,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn unknown_resource_and_foreign_token_are_typed() -> TestResult {
    let issuer = MemoryIssuer::new();
    assert!(matches!(
        issuer.verify("nobody-issued-this", FencingToken::new(1)),
        Err(IssueError::UnknownResource { resource }) if resource == "nobody-issued-this"
    ));
    issuer.issue("a")?;
    for _ in 0..10 {
        issuer.issue("b")?;
    }
    let foreign = issuer.issue("b")?;
    assert!(matches!(
        issuer.verify("a", foreign),
        Err(IssueError::NotIssued { presented, highest, .. })
            if presented == foreign && highest == FencingToken::new(1)
    ));
    // An unknown resource in a guard has accepted nothing yet.
    let guard: ShardedGuard<String> = ShardedGuard::new();
    assert_eq!(guard.highest("unknown"), None);
    Ok(())
}

#[test]
fn names_holds_timings_and_identifiers_are_checked() {
    let long = "x".repeat(quorate_fencing::MAX_NAME_LEN + 1);
    let issuer = MemoryIssuer::new();
    assert!(matches!(
        issuer.issue(&long),
        Err(IssueError::InvalidName(InvalidName::TooLong(_)))
    ));
    let leases = MemoryLease::new();
    assert!(matches!(
        leases.acquire("r", &long, Duration::from_secs(1)),
        Err(LeaseError::InvalidName(InvalidName::TooLong(_)))
    ));
    assert!(matches!(
        leases.acquire("r", "h", Duration::MAX),
        Err(LeaseError::InvalidHold)
    ));
    assert_eq!(
        LeaseTiming::new(Duration::from_secs(1)).and_then(|t| t.with_max_drift_ppb(u64::MAX)),
        Err(InvalidTiming::DriftTooLarge(u64::MAX))
    );
    assert_eq!(
        LeaseTiming::new(Duration::MAX),
        Err(InvalidTiming::HoldOverflow)
    );
    for bad in ["", "1abc", "a-b", "a\"b", "t;drop", &"x".repeat(64)] {
        assert!(FencedTable::new(bad, "k", "t").is_err(), "{bad:?}");
        assert!(FencedTable::new("t", bad, "t").is_err(), "{bad:?}");
        assert!(
            FencedTable::new("t", "k", "tok")
                .and_then(|t| t.update(&[bad]))
                .is_err(),
            "{bad:?}"
        );
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use quorate_fencing::{FencedWriteError, SqliteIssuer, SqliteLease};

    #[test]
    fn corrupt_issuer_rows_are_typed_errors() -> TestResult {
        let issuer = SqliteIssuer::from_connection(rusqlite::Connection::open_in_memory()?)?;
        assert_eq!(issuer.issue("fresh")?, FencingToken::new(1));
        // Simulate damage the issuer itself never writes, through a second connection.
        let dir = quorate_testkit::TempDir::new("fencing-corrupt")?;
        let path = dir.path().join("t.db");
        let issuer = SqliteIssuer::open(&path)?;
        for r in ["text", "negative", "real", "null"] {
            issuer.issue(r)?;
        }
        let raw = rusqlite::Connection::open(&path)?;
        raw.execute_batch(
            "UPDATE quorate_fencing_issuer SET highest = 'garbage' WHERE resource = 'text';
             UPDATE quorate_fencing_issuer SET highest = -5 WHERE resource = 'negative';
             UPDATE quorate_fencing_issuer SET highest = 2.5 WHERE resource = 'real';",
        )?;
        for r in ["text", "negative", "real"] {
            assert!(
                matches!(issuer.issue(r), Err(IssueError::Corrupt { ref resource, .. }) if resource == r),
                "{r}"
            );
            assert!(matches!(issuer.highest(r), Err(IssueError::Corrupt { .. })));
        }
        // A token at the top of the storable range: exhausted, not wrapped.
        raw.execute(
            "UPDATE quorate_fencing_issuer SET highest = ?1 WHERE resource = 'null'",
            [i64::MAX],
        )?;
        assert!(matches!(
            issuer.issue("null"),
            Err(IssueError::Exhausted { .. })
        ));
        Ok(())
    }

    #[test]
    fn corrupt_lease_rows_are_typed_errors() -> TestResult {
        let dir = quorate_testkit::TempDir::new("fencing-corrupt-lease")?;
        let path = dir.path().join("l.db");
        let leases = SqliteLease::open(&path)?;
        let g = leases.acquire("r", "a", Duration::from_secs(60))?;
        let raw = rusqlite::Connection::open(&path)?;
        raw.execute_batch("UPDATE quorate_fencing_leases SET token = 'x'")?;
        assert!(matches!(
            leases.current("r"),
            Err(LeaseError::Corrupt { .. })
        ));
        assert!(matches!(
            leases.acquire("r", "b", Duration::from_secs(1)),
            Err(LeaseError::Corrupt { .. })
        ));
        assert!(leases.renew(&g).is_err());
        raw.execute_batch("UPDATE quorate_fencing_leases SET token = 1, expires_ns = 'soon'")?;
        assert!(matches!(
            leases.current("r"),
            Err(LeaseError::Corrupt { .. })
        ));
        Ok(())
    }

    #[test]
    fn fenced_writes_report_unknown_corrupt_arity_and_range() -> TestResult {
        let db = rusqlite::Connection::open_in_memory()?;
        db.execute_batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT, tok INTEGER);
             INSERT INTO t VALUES ('null', 'x', NULL), ('neg', 'x', -3), ('ok', 'x', 0);",
        )?;
        let table = FencedTable::new("t", "k", "tok")?;
        let up = table.update(&["v"])?;
        let t = FencingToken::new(5);
        assert!(matches!(
            up.execute_sqlite(&db, &"missing", t, &[&"y"]),
            Err(FencedWriteError::UnknownResource)
        ));
        assert!(matches!(
            up.execute_sqlite(&db, &"null", t, &[&"y"]),
            Err(FencedWriteError::Corrupt(_))
        ));
        // A negative stored token is below every token: the write passes and repairs the row.
        up.execute_sqlite(&db, &"neg", t, &[&"y"])?;
        assert!(matches!(
            up.execute_sqlite(&db, &"ok", t, &[]),
            Err(FencedWriteError::Arity {
                columns: 1,
                values: 0
            })
        ));
        assert!(matches!(
            up.execute_sqlite(&db, &"ok", FencingToken::MAX, &[&"y"]),
            Err(FencedWriteError::TokenOutOfRange(_))
        ));
        db.execute("UPDATE t SET tok = 'junk' WHERE k = 'ok'", [])?;
        assert!(matches!(
            up.execute_sqlite(&db, &"ok", t, &[&"y"]),
            Err(FencedWriteError::Corrupt(_) | FencedWriteError::Stale { .. })
        ));
        Ok(())
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use quorate_fencing::{FencedWriteError, PgIssuer, PgLease};
    use quorate_testkit::pg_test_db;

    #[test]
    fn corrupt_postgres_rows_are_typed_errors() -> TestResult {
        let db = pg_test_db!(Ok(()));
        let issuer = PgIssuer::from_client(db.connect()?)?;
        let leases = PgLease::from_client(db.connect()?)?;
        issuer.issue("neg")?;
        issuer.issue("max")?;
        let g = leases.acquire("r", "a", Duration::from_secs(60))?;
        let mut raw = db.connect()?;
        raw.batch_execute(
            "UPDATE quorate_fencing_issuer SET highest = -5 WHERE resource = 'neg';
             UPDATE quorate_fencing_issuer SET highest = 9223372036854775807 WHERE resource = 'max';
             UPDATE quorate_fencing_leases SET token = -2;",
        )?;
        assert!(matches!(
            issuer.issue("neg"),
            Err(IssueError::Corrupt { .. })
        ));
        assert!(matches!(
            issuer.highest("neg"),
            Err(IssueError::Corrupt { .. })
        ));
        assert!(matches!(
            issuer.issue("max"),
            Err(IssueError::Exhausted { .. })
        ));
        // The refused grant rolled back: the row is unchanged.
        let v: i64 = raw
            .query_one(
                "SELECT highest FROM quorate_fencing_issuer WHERE resource = 'neg'",
                &[],
            )?
            .get(0);
        assert_eq!(v, -5);
        assert!(matches!(
            leases.current("r"),
            Err(LeaseError::Corrupt { .. })
        ));
        assert!(leases.renew(&g).is_err());
        raw.batch_execute(
            "UPDATE quorate_fencing_leases SET expires_at = now() - interval '1 hour'",
        )?;
        assert!(matches!(
            leases.acquire("r", "b", Duration::from_secs(1)),
            Err(LeaseError::Corrupt { .. })
        ));

        // Fenced writes.
        raw.batch_execute(
            "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT, tok BIGINT);
             INSERT INTO t VALUES ('null', 'x', NULL), ('ok', 'x', 0);",
        )?;
        let up = FencedTable::new("t", "k", "tok")?.update(&["v"])?;
        let t = FencingToken::new(3);
        assert!(matches!(
            up.execute_postgres(&mut raw, &"missing", t, &[&"y"]),
            Err(FencedWriteError::UnknownResource)
        ));
        assert!(matches!(
            up.execute_postgres(&mut raw, &"null", t, &[&"y"]),
            Err(FencedWriteError::Corrupt(_))
        ));
        assert!(matches!(
            up.execute_postgres(&mut raw, &"ok", t, &[]),
            Err(FencedWriteError::Arity { .. })
        ));
        Ok(())
    }
}
