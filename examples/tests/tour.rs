//! The tour at a small scale: zero violations with every safeguard in place, a reported
//! violation in every scenario when one safeguard is broken, the same report from the same seed.

use quorate_examples::{
    Backend, NoProgress, Scenario, ScenarioReport, TourOptions, TourReport, run,
};

fn small(seed: u64) -> TourOptions {
    TourOptions::new(seed)
        .with_scale(200)
        .with_worker_executable(env!("CARGO_BIN_EXE_tour"))
}

fn violated(r: &ScenarioReport) -> Vec<&str> {
    r.invariants
        .iter()
        .filter(|i| i.violations > 0)
        .map(|i| i.name.as_str())
        .collect()
}

fn assert_clean(report: &TourReport) {
    assert_eq!(report.scenarios.len(), Scenario::ALL.len());
    for s in &report.scenarios {
        assert_eq!(
            violated(s),
            Vec::<&str>::new(),
            "{}: {:#?}",
            s.name,
            s.invariants
        );
        assert!(s.operations > 0, "{}", s.name);
        assert!(s.checks() > 0, "{}", s.name);
        assert!(s.faults.total() > 0, "{}: no fault injected", s.name);
        for i in &s.invariants {
            assert!(
                i.checks > 0,
                "{}: invariant '{}' never checked",
                s.name,
                i.name
            );
        }
    }
}

#[test]
fn every_scenario_keeps_its_invariants_on_sqlite() {
    for seed in [1, 2, 3] {
        let report = run(&small(seed), &mut NoProgress).expect("tour runs");
        assert_eq!(report.backend, "sqlite");
        assert_clean(&report);
    }
}

#[test]
fn every_scenario_keeps_its_invariants_on_postgres() {
    let db = quorate_testkit::pg_test_db!();
    let options = small(4).with_backend(Backend::Postgres(db.connection_string().to_owned()));
    let report = run(&options, &mut NoProgress).expect("tour runs on PostgreSQL");
    assert_eq!(report.backend, "postgres");
    assert_clean(&report);
}

#[test]
fn faults_are_injected_by_kind() {
    use quorate_examples::Fault;
    let report = run(&small(5), &mut NoProgress).expect("tour runs");
    let mut all = quorate_examples::FaultCounts::default();
    for s in &report.scenarios {
        all.merge(&s.faults);
    }
    for kind in [
        Fault::Loss,
        Fault::Duplicate,
        Fault::Reorder,
        Fault::DelaySpike,
        Fault::Partition,
        Fault::AsymmetricPartition,
        Fault::Heal,
        Fault::Pause,
        Fault::Crash,
        Fault::ClientTimeout,
        Fault::ClockSkew,
        Fault::ClockStepBack,
        Fault::DependencyFailure,
        Fault::TimeoutAfterCommit,
    ] {
        assert!(all.get(kind) > 0, "no {kind} injected: {all}");
    }
}

#[test]
fn a_run_is_a_function_of_its_seed() {
    let strip = |mut r: TourReport| {
        for s in &mut r.scenarios {
            s.elapsed_ms = 0;
        }
        r
    };
    let a = strip(run(&small(11), &mut NoProgress).expect("run a"));
    let b = strip(run(&small(11), &mut NoProgress).expect("run b"));
    let c = strip(run(&small(12), &mut NoProgress).expect("run c"));
    assert_eq!(a, b);
    assert_ne!(a.scenarios[0].faults, c.scenarios[0].faults);
}

#[test]
fn a_broken_safeguard_is_reported_in_every_scenario() {
    let report = run(&small(1).with_broken_safeguards(), &mut NoProgress).expect("tour runs");
    let by_name = |n: &str| {
        report
            .scenarios
            .iter()
            .find(|s| s.name == n)
            .expect("scenario ran")
    };
    // Payment: the service executes every request (no idempotency store, no uniqueness).
    let pay = violated(by_name("payment"));
    assert!(
        pay.contains(&"captured at most once per payment"),
        "{pay:?}"
    );
    assert!(
        pay.contains(&"a retried request replays the same response"),
        "{pay:?}"
    );
    // Scheduler: the storage does not check fencing tokens.
    let sched = violated(by_name("scheduler"));
    assert!(
        sched.contains(&"no write from a stale holder is accepted"),
        "{sched:?}"
    );
    assert!(
        sched.contains(&"every job's result is written exactly once"),
        "{sched:?}"
    );
    // Inventory: leaders commit without a majority and regions sell on credit.
    let inv = violated(by_name("inventory"));
    assert!(
        inv.contains(&"a replica cut off from the majority confirms nothing"),
        "{inv:?}"
    );
    assert!(inv.contains(&"escrow quota is conserved"), "{inv:?}");
    // Profile: deltas are never retransmitted.
    let prof = violated(by_name("profile"));
    assert!(
        prof.contains(&"regions are equal after healing"),
        "{prof:?}"
    );
    // Retry storm: the budgeted strategies retry without their budget.
    let storm = violated(by_name("retry-storm"));
    assert!(
        storm.iter().any(|n| n.starts_with("WindowedBudget")),
        "{storm:?}"
    );
    assert!(
        storm.iter().any(|n| n.starts_with("RetryQuota")),
        "{storm:?}"
    );
    assert!(
        storm.iter().any(|n| n.starts_with("GrpcThrottle")),
        "{storm:?}"
    );
    assert!(report.violations() > 0);
    assert!(report.render_table().contains("VIOLATION"));
}

#[test]
fn scale_zero_is_refused() {
    let err = run(&TourOptions::new(1).with_scale(0), &mut NoProgress).unwrap_err();
    assert_eq!(err.to_string(), "scale must be at least 1");
}

#[test]
fn an_unreachable_database_is_one_error() {
    let options = small(1).with_backend(Backend::Postgres(
        "host=/nonexistent/quorate-tour port=1 user=nobody".into(),
    ));
    let err = run(&options, &mut NoProgress).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("cannot connect to the database"), "{text}");
    assert!(!text.contains('\n'), "{text}");
}
