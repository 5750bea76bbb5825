//! The PostgreSQL fixture: a throwaway server (or `QUORATE_PG_URL`), one database per test.

use std::os::unix::fs::MetadataExt as _;

use quorate_testkit::{ChildOutcome, CrashTest, PgDatabase, crash_note, crash_point, pg_test_db};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn a_table_round_trips_a_row() -> TestResult {
    let db = pg_test_db!(Ok(()));
    let mut client = db.connect()?;
    client.batch_execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)")?;
    let inserted = client.execute(
        "INSERT INTO kv (k, v) VALUES ($1, $2)",
        &[&"answer", &42_i64],
    )?;
    assert_eq!(inserted, 1);
    let row = client.query_one("SELECT v FROM kv WHERE k = $1", &[&"answer"])?;
    assert_eq!(row.get::<_, i64>(0), 42);
    // The connection string and the config reach the same database.
    let mut again = postgres::Client::connect(db.connection_string(), postgres::NoTls)?;
    let count: i64 = again.query_one("SELECT count(*) FROM kv", &[])?.get(0);
    assert_eq!(count, 1);
    let name: String = again.query_one("SELECT current_database()", &[])?.get(0);
    assert_eq!(name, db.name());
    Ok(())
}

#[test]
fn each_database_is_fresh_and_isolated() -> TestResult {
    let a = pg_test_db!(Ok(()));
    let b = pg_test_db!(Ok(()));
    assert_ne!(a.name(), b.name());
    a.connect()?
        .batch_execute("CREATE TABLE only_in_a (x INT)")?;
    let tables: i64 = b
        .connect()?
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )?
        .get(0);
    assert_eq!(tables, 0);
    Ok(())
}

#[test]
fn dropping_the_handle_drops_the_database() -> TestResult {
    let observer = pg_test_db!(Ok(()));
    let Some(db) = PgDatabase::for_test("dropping_the_handle_drops_the_database") else {
        return Ok(());
    };
    let name = db.name().to_owned();
    let mut client = observer.connect()?;
    let exists = |client: &mut postgres::Client| -> Result<bool, postgres::Error> {
        Ok(client
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )?
            .get::<_, i64>(0)
            == 1)
    };
    let _held_open = db.connect()?;
    assert!(exists(&mut client)?);
    drop(db); // even with a connection still open
    assert!(!exists(&mut client)?);
    Ok(())
}

#[test]
fn concurrent_tests_share_one_server() -> TestResult {
    let Some(first) = PgDatabase::for_current_test() else {
        return Ok(());
    };
    let start_time = |db: &PgDatabase| -> Result<String, postgres::Error> {
        Ok(db
            .connect()?
            .query_one("SELECT pg_postmaster_start_time()::text", &[])?
            .get(0))
    };
    let expected = start_time(&first)?;
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let db = PgDatabase::create().map_err(|e| e.to_string())?;
                let t = start_time(&db).map_err(|e| e.to_string())?;
                Ok::<_, String>((i, db.name().to_owned(), t))
            })
        })
        .collect();
    let mut names = vec![first.name().to_owned()];
    for t in threads {
        let (_, name, started) = t.join().map_err(|_| "thread panicked")??;
        assert_eq!(started, expected, "one server for the whole process");
        names.push(name);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 5, "every database is distinct");
    Ok(())
}

#[test]
fn throwaway_server_is_private_and_not_root() -> TestResult {
    if std::env::var_os(quorate_testkit::PG_URL_ENV).is_some() {
        eprintln!("external server in use: nothing to check about the throwaway cluster");
        return Ok(());
    }
    let db = pg_test_db!(Ok(()));
    let mut client = db.connect()?;
    let setting = |client: &mut postgres::Client, name: &str| -> Result<String, postgres::Error> {
        client
            .query_one("SELECT current_setting($1)", &[&name])
            .map(|r| r.get(0))
    };
    assert_eq!(setting(&mut client, "listen_addresses")?, "");
    assert_eq!(setting(&mut client, "fsync")?, "off");
    let data_dir = setting(&mut client, "data_directory")?;
    let owner = std::fs::metadata(&data_dir)?.uid();
    assert_ne!(owner, 0, "the server must not run as root");
    let socket_dir = setting(&mut client, "unix_socket_directories")?;
    assert!(
        std::path::Path::new(&socket_dir).starts_with(
            std::path::Path::new(&data_dir)
                .parent()
                .ok_or("no parent")?
        ),
        "socket {socket_dir} lives beside the data directory {data_dir}"
    );
    Ok(())
}

/// A crash child writes through the parent's server: committed rows survive the crash, the
/// transaction in flight does not.
#[test]
fn committed_rows_survive_a_crash_in_a_child() -> TestResult {
    let db = pg_test_db!(Ok(()));
    db.connect()?
        .batch_execute("CREATE TABLE acked (id INT PRIMARY KEY)")?;
    let mut runs = 0;
    let explored = CrashTest::current()?
        .arg("db", db.connection_string())
        .every_crash_point(
            |args| {
                let url = args.str("db").expect("db argument");
                let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
                for id in 0..2_i32 {
                    let mut tx = client.transaction().expect("begin");
                    tx.execute("INSERT INTO acked (id) VALUES ($1)", &[&id])
                        .expect("insert");
                    crash_point("in_transaction");
                    tx.commit().expect("commit");
                    crash_note(&id.to_string());
                    crash_point("after_commit");
                }
            },
            |report| {
                runs += 1;
                let mut client = db.connect().expect("reconnect");
                let stored: Vec<String> = client
                    .query("SELECT id FROM acked ORDER BY id", &[])
                    .expect("select")
                    .iter()
                    .map(|r| r.get::<_, i32>(0).to_string())
                    .collect();
                assert_eq!(stored, report.notes, "{report}");
                if report.armed.is_some() {
                    assert!(report.crashed_at().is_some(), "{report}");
                } else {
                    assert_eq!(report.outcome, ChildOutcome::Completed);
                }
                client.batch_execute("TRUNCATE acked").expect("reset");
            },
        )?;
    assert_eq!(explored.crash_runs, 4);
    assert_eq!(runs, 5);
    Ok(())
}
