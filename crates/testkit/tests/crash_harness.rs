//! The crash harness, tested with real child processes.

use std::time::Duration;

use quorate_testkit::{
    ChildOutcome, CrashError, CrashPoint, CrashTest, PointHits, TempDir, crash_note, crash_point,
    is_crash_child,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn point(name: &str, hit: u64) -> CrashPoint {
    CrashPoint::new(name, hit).expect("valid crash point")
}

#[test]
fn child_aborting_at_a_crash_point_is_reported_as_crashed() -> TestResult {
    let dir = TempDir::new("crash-harness")?;
    let marker = dir.path().join("marker");
    let at = point("step", 2);
    let report = CrashTest::current()?
        .arg("marker", &marker)
        .crash_at(&at, |args| {
            let marker = args.path("marker").expect("marker argument");
            crash_note("before first step");
            crash_point("step");
            std::fs::write(marker, b"written before the crash").expect("write marker");
            crash_note("between steps");
            crash_point("step");
            crash_note("after the crash point");
            std::fs::write(marker, b"written after the crash").expect("write marker");
        })?;
    assert_eq!(report.outcome, ChildOutcome::Crashed { point: at.clone() });
    assert_eq!(report.crashed_at(), Some(&at));
    assert_eq!(report.armed, Some(at));
    assert_eq!(report.notes, ["before first step", "between steps"]);
    // The parent "reopens the store": what the child wrote before dying is there, nothing after.
    assert_eq!(std::fs::read(&marker)?, b"written before the crash");
    assert!(report.hits.is_empty());
    assert!(
        report.stdout.contains("running 1 test"),
        "{}",
        report.stdout
    );
    Ok(())
}

#[test]
fn child_that_returns_is_reported_as_completed() -> TestResult {
    let report = CrashTest::current()?.dry_run(|_| {
        crash_point("a");
        crash_point("b");
        crash_point("a");
        crash_note("finished");
    })?;
    assert_eq!(report.outcome, ChildOutcome::Completed);
    assert_eq!(report.armed, None);
    assert_eq!(report.crashed_at(), None);
    assert_eq!(
        report.hits,
        [
            PointHits {
                name: "a".into(),
                hits: 2
            },
            PointHits {
                name: "b".into(),
                hits: 1
            }
        ]
    );
    assert_eq!(report.notes, ["finished"]);
    Ok(())
}

#[test]
fn child_armed_at_a_hit_it_never_reaches_completes() -> TestResult {
    let report = CrashTest::current()?.crash_at(&point("a", 3), |_| {
        crash_point("a");
        crash_point("a");
    })?;
    assert_eq!(report.outcome, ChildOutcome::Completed);
    assert_eq!(report.hits[0].hits, 2);
    Ok(())
}

#[test]
fn child_that_panics_is_reported_as_panicked() -> TestResult {
    let report = CrashTest::current()?.dry_run(|_| {
        crash_point("before_panic");
        let n = 7;
        panic!("boom {n}\nsecond line");
    })?;
    assert_eq!(
        report.outcome,
        ChildOutcome::Panicked {
            message: "boom 7\nsecond line".into()
        }
    );
    assert!(report.stderr.contains("boom 7"), "{}", report.stderr);
    assert_eq!(report.hits[0].name, "before_panic");
    Ok(())
}

#[test]
fn child_exiting_on_its_own_is_reported_with_its_code() -> TestResult {
    let report = CrashTest::current()?.dry_run(|_| std::process::exit(3))?;
    assert_eq!(report.outcome, ChildOutcome::Exited { code: 3 });
    Ok(())
}

#[test]
fn abort_outside_a_crash_point_is_another_signal() -> TestResult {
    let report = CrashTest::current()?.crash_at(&point("never", 1), |_| std::process::abort())?;
    assert_eq!(
        report.outcome,
        ChildOutcome::Signaled {
            signal: libc::SIGABRT
        }
    );
    Ok(())
}

#[test]
fn child_killed_by_sigkill_is_reported_as_signaled() -> TestResult {
    let report = CrashTest::current()?.dry_run(|_| {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        std::thread::sleep(Duration::from_secs(30));
    })?;
    assert_eq!(
        report.outcome,
        ChildOutcome::Signaled {
            signal: libc::SIGKILL
        }
    );
    Ok(())
}

#[test]
fn hung_child_is_killed_at_the_timeout() -> TestResult {
    let report = CrashTest::current()?
        .timeout(Duration::from_millis(300))
        .dry_run(|_| std::thread::sleep(Duration::from_secs(60)))?;
    assert_eq!(report.outcome, ChildOutcome::TimedOut);
    Ok(())
}

#[test]
fn crash_points_count_hits_across_threads() -> TestResult {
    let at = point("worker", 6);
    let report = CrashTest::current()?.crash_at(&at, |_| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..2 {
                        crash_point("worker");
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
    })?;
    assert_eq!(report.outcome, ChildOutcome::Crashed { point: at });
    Ok(())
}

/// A tiny store: a file of acknowledged values, replaced atomically (write temp, fsync, rename).
fn append_atomically(path: &std::path::Path, value: u32) -> std::io::Result<()> {
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    text.push_str(&format!("{value}\n"));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    crash_point("append.after_temp_write");
    std::fs::rename(&tmp, path)?;
    crash_point("append.after_rename");
    Ok(())
}

#[test]
fn every_crash_point_kills_the_scenario_at_each_step() -> TestResult {
    let dir = TempDir::new("crash-explore")?;
    let store = dir.path().join("store");
    let mut seen = Vec::new();
    let explored = CrashTest::current()?
        .arg("store", &store)
        .every_crash_point(
            |args| {
                let store = args.path("store").expect("store argument");
                for value in 0..3 {
                    append_atomically(store, value).expect("append");
                    crash_note(&value.to_string());
                }
            },
            |report| {
                // Reopen and check: every acknowledged value is there, in order, exactly once,
                // and at most one unacknowledged (the one in flight) follows.
                let text = std::fs::read_to_string(&store).unwrap_or_default();
                let stored: Vec<String> = text.lines().map(str::to_owned).collect();
                assert!(stored.starts_with(&report.notes), "{report}: {stored:?}");
                assert!(
                    stored.len() <= report.notes.len() + 1,
                    "{report}: {stored:?}"
                );
                match &report.armed {
                    None => assert_eq!(report.outcome, ChildOutcome::Completed),
                    Some(at) => {
                        assert_eq!(report.crashed_at(), Some(at), "{report}");
                        seen.push(at.to_string());
                    }
                }
                // Reset the store for the next child.
                let _ = std::fs::remove_file(&store);
            },
        )?;
    assert_eq!(explored.crash_runs, 6);
    assert!(!explored.truncated);
    assert_eq!(
        explored.points,
        [
            PointHits {
                name: "append.after_temp_write".into(),
                hits: 3
            },
            PointHits {
                name: "append.after_rename".into(),
                hits: 3
            }
        ]
    );
    assert_eq!(
        seen,
        [
            "append.after_temp_write#1",
            "append.after_temp_write#2",
            "append.after_temp_write#3",
            "append.after_rename#1",
            "append.after_rename#2",
            "append.after_rename#3",
        ]
    );
    Ok(())
}

#[test]
fn max_hits_per_point_bounds_the_exploration() -> TestResult {
    let mut runs = 0;
    let explored = CrashTest::current()?
        .max_hits_per_point(2)
        .every_crash_point(
            |_| {
                for _ in 0..5 {
                    crash_point("loop");
                }
            },
            |_| runs += 1,
        )?;
    assert_eq!(explored.crash_runs, 2);
    assert!(explored.truncated);
    assert_eq!(runs, 3, "the dry run and two crash runs are checked");
    Ok(())
}

#[test]
fn exploration_fails_when_the_dry_run_does_not_complete() -> TestResult {
    let result = CrashTest::current()?.every_crash_point(|_| panic!("broken scenario"), |_| {});
    match result {
        Err(CrashError::DryRunFailed(report)) => {
            assert_eq!(
                report.outcome,
                ChildOutcome::Panicked {
                    message: "broken scenario".into()
                }
            );
        }
        other => panic!("expected DryRunFailed, got {other:?}"),
    }
    Ok(())
}

#[test]
fn a_second_harness_call_in_one_test_is_rejected() -> TestResult {
    let first = CrashTest::current()?.dry_run(|_| {})?;
    assert_eq!(first.outcome, ChildOutcome::Completed);
    let second = CrashTest::current()?.dry_run(|_| {});
    assert!(
        matches!(second, Err(CrashError::SecondHarnessCall)),
        "{second:?}"
    );
    Ok(())
}

#[test]
fn a_wrong_test_name_is_reported_not_hidden() {
    let result = CrashTest::new("no_such_test").dry_run(|_| {});
    match result {
        Err(CrashError::ChildDidNotRun { test, stdout, .. }) => {
            assert_eq!(test, "no_such_test");
            assert!(stdout.contains("0 passed"), "{stdout}");
        }
        other => panic!("expected ChildDidNotRun, got {other:?}"),
    }
}

#[test]
fn missing_arguments_are_typed_errors_in_the_child() -> TestResult {
    let report = CrashTest::current()?
        .arg("present", "yes")
        .dry_run(|args| {
            assert_eq!(args.str("present").expect("present"), "yes");
            match args.str("absent") {
                Err(CrashError::MissingArg(key)) => crash_note(&key),
                other => panic!("expected MissingArg, got {other:?}"),
            }
        })?;
    assert_eq!(report.outcome, ChildOutcome::Completed);
    assert_eq!(report.notes, ["absent"]);
    Ok(())
}

#[test]
fn outside_a_child_crash_points_and_notes_do_nothing() {
    assert!(!is_crash_child());
    for _ in 0..3 {
        crash_point("anything");
    }
    crash_note("ignored");
}

#[test]
fn current_needs_a_test_thread() {
    let name = std::thread::Builder::new()
        .name("main".into())
        .spawn(|| CrashTest::current().map(|t| t.test_name().to_owned()))
        .expect("spawn")
        .join()
        .expect("join");
    assert!(matches!(name, Err(CrashError::UnknownTestName)));
    let here = CrashTest::current().expect("on a test thread");
    assert_eq!(here.test_name(), "current_needs_a_test_thread");
}
