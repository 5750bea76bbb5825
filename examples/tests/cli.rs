//! The `tour` command: exit codes, one-line errors, JSON output.

use std::process::{Command, Output};

fn tour(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tour"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("tour runs")
}

fn one_line_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn an_unknown_scenario_is_a_one_line_error() {
    let err = one_line_error(&tour(&["--scenario", "payments-v2"]));
    assert!(err.contains("unknown scenario 'payments-v2'"), "{err}");
    assert!(err.contains("inventory"), "{err}");
}

#[test]
fn an_unreachable_database_is_a_one_line_error() {
    let err = one_line_error(&tour(&[
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
    ]));
    assert!(err.contains("cannot connect to the database"), "{err}");
}

#[test]
fn database_url_comes_from_the_environment_too() {
    let out = Command::new(env!("CARGO_BIN_EXE_tour"))
        .env("DATABASE_URL", "host=/nonexistent/quorate-tour port=1")
        .output()
        .expect("tour runs");
    let err = one_line_error(&out);
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn malformed_options_are_one_line_errors() {
    one_line_error(&tour(&["--seed", "twelve"]));
    one_line_error(&tour(&["--scale", "0"]));
    one_line_error(&tour(&["--frobnicate"]));
}

#[test]
fn help_lists_the_options() {
    let out = tour(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--seed",
        "--scale",
        "--scenario",
        "--json",
        "--database-url",
        "DATABASE_URL",
    ] {
        assert!(help.contains(opt), "{opt} missing from:\n{help}");
    }
}

#[test]
fn a_small_run_prints_its_seed_and_the_table() {
    let out = tour(&["--seed", "3", "--scale", "100"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("quorate fault tour: seed 3,"),
        "{stdout}"
    );
    for col in [
        "scenario",
        "operations",
        "faults injected",
        "invariants checked",
        "violations",
        "elapsed",
    ] {
        assert!(stdout.contains(col), "{col} missing:\n{stdout}");
    }
    for s in ["inventory", "profile", "retry-storm", "total"] {
        assert!(stdout.contains(s), "{s} missing:\n{stdout}");
    }
    // Not a terminal: plain progress lines on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("profile: running"), "{stderr}");
}

#[test]
fn json_output_is_machine_readable() {
    let out = tour(&[
        "--seed",
        "3",
        "--scale",
        "100",
        "--scenario",
        "retry-storm",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON on stdout");
    assert_eq!(v["seed"], 3);
    assert_eq!(v["backend"], "sqlite");
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 1);
    assert_eq!(scenarios[0]["name"], "retry-storm");
    assert!(
        scenarios[0]["invariants"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
    );
    assert!(
        scenarios[0]["faults"]["dependency_failure"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
}

#[test]
fn the_command_runs_on_postgres() {
    let db = quorate_testkit::pg_test_db!();
    let out = tour(&[
        "--seed",
        "5",
        "--scale",
        "100",
        "--database-url",
        db.connection_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("store postgres"), "{stdout}");
    assert!(
        stdout.contains("process aborted at idempotency"),
        "{stdout}"
    );
    // The tour leaves nothing behind in the database: its schema is dropped.
    let mut client = db.connect().expect("connect");
    let left = client
        .query_one(
            "SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'quorate_tour'",
            &[],
        )
        .expect("query");
    assert_eq!(left.get::<_, i64>(0), 0);
}

#[test]
fn workers_mode_kills_and_restarts_processes_on_postgres() {
    let db = quorate_testkit::pg_test_db!();
    let out = tour(&[
        "--seed",
        "6",
        "--scale",
        "200",
        "--scenario",
        "retry-storm",
        "--workers",
        "3",
        "--database-url",
        db.connection_string(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}\n{stdout}");
    assert!(stdout.contains("workers"), "{stdout}");
    assert!(stdout.contains("3 worker processes"), "{stdout}");
    assert!(stdout.contains("killed with SIGKILL"), "{stdout}");
    assert!(!stdout.contains(" 0 killed with SIGKILL"), "{stdout}");
}

#[test]
fn workers_mode_needs_postgres() {
    let err = one_line_error(&tour(&["--workers", "2"]));
    assert!(err.contains("--workers needs PostgreSQL"), "{err}");
}

#[cfg(feature = "etcd")]
#[test]
fn workers_mode_takes_leases_from_etcd() {
    let db = quorate_testkit::pg_test_db!();
    let Some(etcd) = quorate_testkit::etcd::Etcd::for_current_test() else {
        return;
    };
    let spec = format!("{}#{}", etcd.endpoints().join(","), etcd.prefix());
    let out = tour(&[
        "--seed",
        "8",
        "--scale",
        "120",
        "--scenario",
        "retry-storm",
        "--workers",
        "3",
        "--etcd",
        &spec,
        "--database-url",
        db.connection_string(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}\n{stdout}");
    assert!(stdout.contains("leases from etcd"), "{stdout}");
}

#[test]
fn etcd_without_workers_is_a_one_line_error() {
    let err = one_line_error(&tour(&["--etcd", "http://127.0.0.1:1"]));
    assert!(err.contains("--etcd needs --workers"), "{err}");
}
