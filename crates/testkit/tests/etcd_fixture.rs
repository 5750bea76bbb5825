//! The etcd fixture: a healthy shared server with per-test prefixes, private clusters whose
//! members can be killed, and nothing left behind after a normal exit, an abort or a drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use quorate_testkit::etcd::{Etcd, EtcdCluster};
use quorate_testkit::{ChildOutcome, CrashPoint, CrashReport, CrashTest, crash_note, crash_point};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("endpoint with a port")
}

fn health(endpoint: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port_of(endpoint))).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn shared_server_is_healthy_and_prefixes_are_unique() {
    let Some(a) = Etcd::for_current_test() else {
        return;
    };
    let Some(b) = Etcd::for_current_test() else {
        return;
    };
    assert_eq!(a.endpoints(), b.endpoints(), "one server per process");
    assert_ne!(a.prefix(), b.prefix());
    let body = health(&a.endpoints()[0]).expect("health answer");
    assert!(body.contains("\"health\":\"true\""), "{body}");
}

#[test]
fn cluster_members_can_be_killed_and_drop_cleans_up() {
    let Some(mut cluster) = EtcdCluster::for_current_test(3) else {
        return;
    };
    assert_eq!(cluster.len(), 3);
    let root = cluster.root().to_owned();
    let first = cluster.member_endpoint(0).expect("member 0");
    assert!(health(&first).is_some_and(|b| b.contains("true")));
    cluster.kill(0).expect("kill");
    assert_eq!(cluster.endpoints().len(), 2);
    assert!(cluster.member_pid(0).is_none());
    assert!(health(&first).is_none(), "a killed member does not answer");
    // The other two still form a quorum.
    let second = cluster.member_endpoint(1).expect("member 1");
    eventually("the survivors are healthy", || {
        health(&second).is_some_and(|b| b.contains("\"health\":\"true\""))
    });
    let last = cluster.member_endpoint(2).expect("member 2");
    drop(cluster);
    assert!(!root.exists(), "directory removed on drop");
    assert!(health(&last).is_none(), "members stopped on drop");
}

/// In the child: start the shared server and note its endpoint and directory.
fn start_and_note() {
    match Etcd::create() {
        Ok(etcd) => {
            crash_note(&etcd.endpoints()[0]);
            crash_note(
                &etcd
                    .data_root()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
        }
        Err(e) => crash_note(&format!("unavailable: {e}")),
    }
    crash_point("server_running");
}

fn check_gone(report: &CrashReport) {
    let [endpoint, root] = report.notes.as_slice() else {
        if report
            .notes
            .first()
            .is_some_and(|n| n.starts_with("unavailable"))
        {
            assert!(
                std::env::var_os(quorate_testkit::etcd::ETCD_REQUIRED_ENV).is_none(),
                "{:?}",
                report.notes
            );
            return;
        }
        panic!("unexpected notes {:?}\n{}", report.notes, report.stderr);
    };
    if std::env::var_os(quorate_testkit::etcd::ETCD_ENDPOINTS_ENV).is_some() {
        return; // an external server is not ours to stop
    }
    eventually("the server is stopped", || health(endpoint).is_none());
    eventually("its directory is removed", || !Path::new(root).exists());
}

#[test]
fn shared_server_is_stopped_at_normal_exit() -> TestResult {
    let report = CrashTest::current()?.dry_run(|_| start_and_note())?;
    assert_eq!(report.outcome, ChildOutcome::Completed, "{}", report.stderr);
    check_gone(&report);
    Ok(())
}

#[test]
fn shared_server_is_stopped_after_an_abort() -> TestResult {
    let at = CrashPoint::new("server_running", 1)?;
    let report = CrashTest::current()?.crash_at(&at, |_| start_and_note())?;
    assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
    check_gone(&report);
    Ok(())
}
