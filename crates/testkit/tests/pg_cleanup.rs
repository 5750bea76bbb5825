//! The throwaway server leaves nothing behind: not after a normal exit (`atexit`), not after an
//! abort (the watchdog). Each test runs the server in a crash-test child, so the child's exit is
//! the event under test; this file's parent process never starts a server itself.

use std::path::Path;
use std::time::{Duration, Instant};

use quorate_testkit::{
    ChildOutcome, CrashPoint, CrashReport, CrashTest, PgDatabase, crash_note, crash_point,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// In the child: start the server, note its directory and postmaster pid.
fn start_and_note() {
    let db = match PgDatabase::create() {
        Ok(db) => db,
        Err(e) => {
            crash_note(&format!("unavailable: {e}"));
            return;
        }
    };
    let mut client = db.connect().expect("connect");
    let data_dir: String = client
        .query_one("SELECT current_setting('data_directory')", &[])
        .expect("data_directory")
        .get(0);
    let pid_file = std::fs::read_to_string(Path::new(&data_dir).join("postmaster.pid"))
        .expect("postmaster.pid");
    let pid = pid_file.lines().next().expect("pid line").trim().to_owned();
    let root = Path::new(&data_dir).parent().expect("cluster root");
    crash_note(&root.display().to_string());
    crash_note(&pid);
    drop(client);
    drop(db);
    crash_point("server_running");
}

/// Returns the cluster root and postmaster pid, or `None` when the test is skipped.
fn cluster_of(report: &CrashReport) -> Option<(String, String)> {
    if let Some(reason) = report
        .notes
        .first()
        .and_then(|n| n.strip_prefix("unavailable: "))
    {
        let required = ["CI", quorate_testkit::PG_REQUIRED_ENV]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"));
        assert!(!required, "PostgreSQL is required (CI is set): {reason}");
        eprintln!("skipped: {reason}");
        return None;
    }
    match report.notes.as_slice() {
        [root, pid] => Some((root.clone(), pid.clone())),
        other => panic!("unexpected notes {other:?}: {report}\n{}", report.stderr),
    }
}

fn external_server() -> bool {
    if std::env::var_os(quorate_testkit::PG_URL_ENV).is_some() {
        eprintln!("skipped: QUORATE_PG_URL is set, no throwaway server to clean up");
        return true;
    }
    false
}

fn gone(root: &str, pid: &str) -> bool {
    !Path::new(root).exists() && !Path::new("/proc").join(pid).exists()
}

#[test]
fn normal_exit_stops_the_server_and_deletes_its_directory() -> TestResult {
    if external_server() {
        return Ok(());
    }
    let report = CrashTest::current()?.dry_run(|_| start_and_note())?;
    assert_eq!(report.outcome, ChildOutcome::Completed, "{}", report.stderr);
    let Some((root, pid)) = cluster_of(&report) else {
        return Ok(());
    };
    // Synchronous: by the time the child has exited, everything is gone.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(
        gone(&root, &pid),
        "left behind: {root} exists={} (pid {pid}: {status})",
        Path::new(&root).exists()
    );
    Ok(())
}

#[test]
fn killed_process_is_cleaned_up_by_the_watchdog() -> TestResult {
    if external_server() {
        return Ok(());
    }
    let at = CrashPoint::new("server_running", 1)?;
    let report = CrashTest::current()?.crash_at(&at, |_| start_and_note())?;
    let Some((root, pid)) = cluster_of(&report) else {
        return Ok(());
    };
    assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
    // Asynchronous: the watchdog notices the closed pipe and cleans up shortly after.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gone(&root, &pid) {
        assert!(Instant::now() < deadline, "left behind: {root} (pid {pid})");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A server that cannot start is a clear error, and its directory is removed at once.
#[test]
fn a_failed_start_says_why_and_leaves_nothing_behind() -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;

    let bindir = quorate_testkit::TempDir::new("fake-pg-bin")?;
    // The server's user (postgres, when we are root) must be able to run the fakes.
    std::fs::set_permissions(bindir.path(), std::fs::Permissions::from_mode(0o755))?;
    for (name, body) in [
        ("initdb", "echo 'initdb: simulated failure' >&2; exit 1"),
        ("pg_ctl", "exit 0"),
        ("postgres", "exit 1"),
    ] {
        let path = bindir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n"))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    let report = CrashTest::current()?
        .env(quorate_testkit::PG_BINDIR_ENV, bindir.path())
        // Force the throwaway path even when the parent was given a server.
        .env(quorate_testkit::PG_URL_ENV, "")
        .dry_run(|_| {
            crash_note(&std::process::id().to_string());
            match PgDatabase::create() {
                Ok(db) => crash_note(&format!("unexpectedly started: {}", db.name())),
                Err(e) => crash_note(&e.to_string()),
            }
            // The error is remembered: no second attempt, same answer.
            match PgDatabase::create() {
                Ok(_) => crash_note("second attempt started"),
                Err(e) => crash_note(&e.to_string()),
            }
        })?;
    assert_eq!(report.outcome, ChildOutcome::Completed, "{}", report.stderr);
    let [pid, first, second] = report.notes.as_slice() else {
        panic!("unexpected notes {:?}", report.notes);
    };
    assert!(first.contains("initdb"), "{first}");
    assert!(first.contains("simulated failure"), "{first}");
    assert_eq!(first, second);
    let prefix = format!("quorate-pg-{pid}-");
    let leftovers: Vec<_> = std::fs::read_dir("/tmp")?
        .chain(std::fs::read_dir(std::env::temp_dir())?)
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    Ok(())
}
