//! The testkit's lease and issuer conformance suites on the in-process backends (memory, SQLite,
//! PostgreSQL). etcd runs them in `tests/etcd.rs`.

use std::sync::Arc;
use std::time::Duration;

use quorate_clocks::ManualClock;
use quorate_fencing::{MemoryIssuer, MemoryLease};
use quorate_testkit::fencing_suite::{IssuerSuite, LeaseSuite, run_issuer_suite, run_lease_suite};

#[test]
fn memory_lease_conforms() {
    let clock = ManualClock::new(0);
    let backend = Arc::new(MemoryLease::with_clock(clock.clone()));
    let hold = Duration::from_secs(5);
    run_lease_suite(&LeaseSuite {
        prefix: "memory",
        hold,
        open: &|| Arc::clone(&backend),
        expire: &|| clock.advance(hold + Duration::from_nanos(1)),
    });
}

#[test]
fn memory_issuer_conforms() {
    let issuer = Arc::new(MemoryIssuer::new());
    run_issuer_suite(&IssuerSuite {
        prefix: "memory",
        open: &|| Arc::clone(&issuer),
    });
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use quorate_fencing::{SqliteIssuer, SqliteLease};
    use quorate_testkit::TempDir;

    #[test]
    fn sqlite_lease_conforms() {
        let dir = TempDir::new("fencing-sqlite-lease").expect("temp dir");
        let path = dir.path().join("leases.db");
        let clock = ManualClock::new(0);
        let hold = Duration::from_secs(5);
        run_lease_suite(&LeaseSuite {
            prefix: "sqlite",
            hold,
            open: &|| {
                let conn = rusqlite::Connection::open(&path).expect("open");
                SqliteLease::from_connection_with_clock(conn, clock.clone()).expect("lease")
            },
            expire: &|| clock.advance(hold + Duration::from_nanos(1)),
        });
    }

    #[test]
    fn sqlite_issuer_conforms() {
        let dir = TempDir::new("fencing-sqlite-issuer").expect("temp dir");
        let path = dir.path().join("tokens.db");
        run_issuer_suite(&IssuerSuite {
            prefix: "sqlite",
            open: &|| SqliteIssuer::open(&path).expect("open"),
        });
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use quorate_fencing::{PgIssuer, PgLease};
    use quorate_testkit::pg_test_db;

    #[test]
    fn postgres_lease_conforms() {
        let db = pg_test_db!();
        let hold = Duration::from_millis(300);
        run_lease_suite(&LeaseSuite {
            prefix: "postgres",
            hold,
            open: &|| PgLease::from_client(db.connect().expect("connect")).expect("lease"),
            expire: &|| std::thread::sleep(hold + Duration::from_millis(50)),
        });
    }

    #[test]
    fn postgres_issuer_conforms() {
        let db = pg_test_db!();
        run_issuer_suite(&IssuerSuite {
            prefix: "postgres",
            open: &|| PgIssuer::from_client(db.connect().expect("connect")).expect("issuer"),
        });
    }
}
