//! The etcd backend: the conformance suite on a throwaway etcd, and a three-member cluster whose
//! leader is killed while two contenders renew and acquire.
#![cfg(feature = "etcd")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quorate_fencing::{EtcdLease, FencingToken, Lease, LeaseClient, LeaseTiming};
use quorate_testkit::etcd::{Etcd, EtcdCluster};
use quorate_testkit::fencing_suite::{LeaseSuite, run_lease_suite};

#[test]
fn etcd_lease_conforms() {
    let Some(etcd) = Etcd::for_current_test() else {
        return;
    };
    let hold = Duration::from_secs(1);
    run_lease_suite(&LeaseSuite {
        prefix: "etcd",
        hold,
        open: &|| EtcdLease::connect(etcd.endpoints(), etcd.prefix()).expect("connect"),
        // etcd's lessor revokes expired leases every 500 ms after the TTL.
        expire: &|| std::thread::sleep(hold + Duration::from_millis(1200)),
    });
}

#[test]
fn etcd_tokens_are_create_revisions_and_increase_across_resources() {
    let Some(etcd) = Etcd::for_current_test() else {
        return;
    };
    let leases = EtcdLease::connect(etcd.endpoints(), etcd.prefix()).expect("connect");
    let hold = Duration::from_secs(5);
    let a = leases.acquire("a", "h", hold).expect("acquire a");
    let b = leases.acquire("b", "h", hold).expect("acquire b");
    assert!(b.token > a.token, "revisions are cluster-wide");
    assert!(b.hold >= Duration::from_secs(5));
    assert_ne!(a.handle, b.handle, "one etcd lease per grant");
    leases.release(&a).expect("release");
    leases.release(&b).expect("release");
}

/// One holder's tenure as measured by the test: when acquire returned and the latest safe
/// deadline the holder-side guard ever reported.
#[derive(Debug, Clone, Copy)]
struct Tenure {
    token: FencingToken,
    start: Instant,
    end: Instant,
}

fn leader_index(endpoints: &[String]) -> Option<usize> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        for (i, e) in endpoints.iter().enumerate() {
            let opts = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_millis(500))
                .with_timeout(Duration::from_millis(500));
            let Ok(mut c) = etcd_client::Client::connect([e.as_str()], Some(opts)).await else {
                continue;
            };
            let Ok(status) = c.status().await else {
                continue;
            };
            if status.header().map(|h| h.member_id()) == Some(status.leader()) {
                return Some(i);
            }
        }
        None
    })
}

#[test]
fn killing_the_leader_never_lets_two_holders_overlap() {
    let Some(mut cluster) = EtcdCluster::for_current_test(3) else {
        return;
    };
    let endpoints = cluster.endpoints();
    let timing = LeaseTiming::new(Duration::from_secs(1)).expect("timing");
    let tenures = Arc::new(Mutex::new(Vec::<Tenure>::new()));
    let started = Instant::now();
    let kill_at = Duration::from_millis(1200);
    let run_for = Duration::from_millis(4000);
    let killed = std::thread::scope(|s| {
        for c in 0..2 {
            let (endpoints, tenures) = (endpoints.clone(), Arc::clone(&tenures));
            s.spawn(move || {
                let backend = Arc::new(
                    EtcdLease::connect_with_timeout(
                        &endpoints,
                        "/kill-test/",
                        Duration::from_millis(700),
                    )
                    .expect("connect"),
                );
                let client = LeaseClient::new(backend, format!("contender-{c}"), timing);
                while started.elapsed() < run_for {
                    let Ok(lease) = client.acquire("leader") else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let start = Instant::now();
                    let mut end = start;
                    let mut last_renew = Instant::now();
                    // Hold for a while, then hand over, so tenures alternate.
                    while started.elapsed() < run_for
                        && start.elapsed() < Duration::from_millis(400)
                    {
                        let now = Instant::now();
                        let Some(left) = lease.remaining() else { break };
                        end = end.max(now + left);
                        std::thread::sleep(Duration::from_millis(20));
                        if last_renew.elapsed() > Duration::from_millis(250) {
                            last_renew = Instant::now();
                            if lease.renew().is_err() {
                                break;
                            }
                        }
                    }
                    // The holder stops acting now (a failed renewal poisoned the lease; release
                    // poisons it before it reaches etcd), whatever its deadline said.
                    end = end.min(Instant::now());
                    tenures.lock().unwrap().push(Tenure {
                        token: lease.grant().token,
                        start,
                        end,
                    });
                    let _ = lease.release();
                    // Give the other contender a chance.
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
        // Kill the leader while the contenders work.
        std::thread::sleep(kill_at);
        let leader = leader_index(&endpoints).expect("a leader");
        cluster.kill(leader).expect("kill the leader");
        Instant::now()
    });

    let mut tenures = tenures.lock().unwrap().clone();
    tenures.sort_by_key(|t| t.start);
    assert!(tenures.len() >= 2, "too little progress: {tenures:?}");
    for w in tenures.windows(2) {
        assert!(w[1].token > w[0].token, "tokens only increase: {tenures:?}");
        assert!(
            w[0].end <= w[1].start,
            "safe windows overlap: {:?} ends after {:?} starts",
            w[0],
            w[1]
        );
    }
    assert!(
        tenures.iter().any(|t| t.end > killed),
        "no holder had a safe window after the leader was killed: {tenures:?}"
    );
    // The surviving majority still grants, with a token above every earlier one.
    let survivors = cluster.endpoints();
    let leases = EtcdLease::connect_with_timeout(&survivors, "/kill-test/", Duration::from_secs(1))
        .expect("connect to the survivors");
    let deadline = Instant::now() + Duration::from_secs(8);
    let last = loop {
        match leases.acquire("leader", "after-the-kill", Duration::from_secs(1)) {
            Ok(g) => break g,
            Err(e) => {
                assert!(Instant::now() < deadline, "no grant after the kill: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    let highest = tenures.iter().map(|t| t.token).max().expect("tenures");
    assert!(last.token > highest, "{} after {}", last.token, highest);
}
