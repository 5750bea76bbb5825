//! Crash tests: an issuer killed at every step of a grant never reissues a token after restart.
#![cfg(any(feature = "sqlite", feature = "postgres"))]

use quorate_fencing::TokenIssuer;
use quorate_testkit::{ChildOutcome, CrashReport, CrashTest, crash_note};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const GRANTS: usize = 3;

fn noted_tokens(report: &CrashReport) -> Vec<u64> {
    report
        .notes
        .iter()
        .filter_map(|n| n.strip_prefix("issued ")?.parse().ok())
        .collect()
}

/// The child: issue a few tokens, noting each one acknowledged.
fn issue_and_note(issuer: &dyn TokenIssuer) {
    for _ in 0..GRANTS {
        let t = issuer.issue("jobs").expect("issue");
        crash_note(&format!("issued {}", t.get()));
    }
}

/// The parent's check after each child: the restarted issuer's next token is above every token
/// the child acknowledged, and above the highest it had before.
fn check_restart(report: &CrashReport, restarted: &dyn TokenIssuer, floor: &mut u64) {
    assert!(
        matches!(
            report.outcome,
            ChildOutcome::Completed | ChildOutcome::Crashed { .. }
        ),
        "unexpected child outcome {:?}\n{}",
        report.outcome,
        report.stderr
    );
    let acked = noted_tokens(report);
    if report.outcome == ChildOutcome::Completed {
        assert_eq!(acked.len(), GRANTS);
    }
    let next = restarted.issue("jobs").expect("issue after restart").get();
    for t in acked.iter().chain(std::iter::once(&*floor)) {
        assert!(next > *t, "token {next} reissued after acknowledged {t}");
    }
    assert!(acked.windows(2).all(|w| w[0] < w[1]));
    *floor = next;
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_issuer_never_reissues_after_a_crash() -> TestResult {
    use quorate_fencing::SqliteIssuer;
    use quorate_testkit::TempDir;

    let dir = TempDir::new("fencing-crash-sqlite")?;
    let path = dir.path().join("tokens.db");
    let mut floor = 0;
    let explored = CrashTest::current()?.arg("db", &path).every_crash_point(
        |args| {
            quorate_fencing::__private::set_crash_hook(quorate_testkit::crash_point);
            let issuer = SqliteIssuer::open(args.path("db").expect("db arg")).expect("open");
            issue_and_note(&issuer);
        },
        |report| {
            let restarted = SqliteIssuer::open(&path).expect("reopen");
            check_restart(report, &restarted, &mut floor);
        },
    )?;
    let names: Vec<&str> = explored.points.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sqlite_issuer.begun",
            "sqlite_issuer.written",
            "sqlite_issuer.committed"
        ]
    );
    assert_eq!(explored.crash_runs, 3 * GRANTS);
    assert!(
        SqliteIssuer::open(&path)?.highest("jobs")? > Some(quorate_fencing::FencingToken::ZERO)
    );
    Ok(())
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_issuer_never_reissues_after_a_crash() -> TestResult {
    use quorate_fencing::PgIssuer;

    // The child re-runs this test from the top: only the parent creates the database.
    let db = if quorate_testkit::is_crash_child() {
        None
    } else {
        Some(quorate_testkit::pg_test_db!(Ok(())))
    };
    let url = db
        .as_ref()
        .map(|d| d.connection_string().to_owned())
        .unwrap_or_default();
    let mut floor = 0;
    let explored = CrashTest::current()?.arg("db", &url).every_crash_point(
        |args| {
            quorate_fencing::__private::set_crash_hook(quorate_testkit::crash_point);
            let issuer = PgIssuer::connect(args.str("db").expect("db arg")).expect("connect");
            issue_and_note(&issuer);
        },
        |report| {
            let restarted = PgIssuer::connect(&url).expect("reconnect");
            check_restart(report, &restarted, &mut floor);
        },
    )?;
    let names: Vec<&str> = explored.points.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pg_issuer.begun",
            "pg_issuer.written",
            "pg_issuer.committed"
        ]
    );
    assert_eq!(explored.crash_runs, 3 * GRANTS);
    Ok(())
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_lease_never_reissues_a_token_after_a_crash() -> TestResult {
    use std::time::Duration;

    use quorate_fencing::{Lease, SqliteLease};
    use quorate_testkit::TempDir;

    let dir = TempDir::new("fencing-crash-sqlite-lease")?;
    let path = dir.path().join("leases.db");
    let mut floor = 0;
    CrashTest::current()?.arg("db", &path).every_crash_point(
        |args| {
            quorate_fencing::__private::set_crash_hook(quorate_testkit::crash_point);
            let leases = SqliteLease::open(args.path("db").expect("db arg")).expect("open");
            for i in 0..2 {
                let g = leases
                    .acquire("jobs", &format!("child-{i}"), Duration::from_secs(60))
                    .expect("acquire");
                crash_note(&format!("issued {}", g.token.get()));
                leases.release(&g).expect("release");
            }
        },
        |report| {
            let leases = SqliteLease::open(&path).expect("reopen");
            let acked = noted_tokens(report);
            // A crash after the commit leaves a live lease of the dead child: wait it out by
            // releasing with its token (the only one above every acknowledged one).
            let g = match leases.acquire("jobs", "parent", Duration::from_secs(60)) {
                Ok(g) => g,
                Err(quorate_fencing::LeaseError::Held { token, holder, .. }) => {
                    let stale = quorate_fencing::Grant::new(
                        "jobs",
                        holder,
                        token,
                        Duration::from_secs(60),
                        0,
                    );
                    leases
                        .release(&stale)
                        .expect("release the dead child's lease");
                    leases
                        .acquire("jobs", "parent", Duration::from_secs(60))
                        .expect("acquire")
                }
                Err(e) => panic!("{e}"),
            };
            for t in acked.iter().chain(std::iter::once(&floor)) {
                assert!(g.token.get() > *t, "lease token {} reissued", g.token);
            }
            floor = g.token.get();
            leases.release(&g).expect("release");
        },
    )?;
    Ok(())
}
