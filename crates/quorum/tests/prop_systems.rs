//! Laws of general quorum systems and of the analysis, against brute force.

use proptest::prelude::*;
use quorate_quorum::{
    FlexiblePaxos, Grid, GridRule, Hierarchical, Joint, JointConfig, MembershipCheck, NodeSet,
    QuorumSystem, Threshold, VoteResult, Votes, Weighted, availability, check_intersection,
    check_single_server_change, fault_tolerance,
};

trait DebugSys: QuorumSystem + std::fmt::Debug + Send + Sync {}
impl<T: QuorumSystem + std::fmt::Debug + Send + Sync> DebugSys for T {}

type Sys = Box<dyn DebugSys>;

/// A random quorum system over `1..=max_n` nodes.
fn system(max_n: usize) -> impl Strategy<Value = Sys> {
    (1usize..=max_n).prop_flat_map(move |n| {
        prop_oneof![
            (1usize..=n).prop_map(move |k| Box::new(Threshold::new(n, k).expect("valid")) as Sys),
            proptest::collection::vec(0u64..5, n).prop_filter_map("positive total", |w| {
                let total: u64 = w.iter().sum();
                (total > 0)
                    .then(|| Box::new(Weighted::new(w, total / 2 + 1).expect("valid")) as Sys)
            }),
            (
                1usize..=n,
                prop_oneof![
                    Just(GridRule::FullRow),
                    Just(GridRule::OnePerRow),
                    Just(GridRule::FullRowAndOnePerRow)
                ]
            )
                .prop_filter_map("rows divide n", move |(rows, rule)| {
                    (n % rows == 0)
                        .then(|| Box::new(Grid::new(rows, n / rows, rule).expect("valid")) as Sys)
                }),
            proptest::collection::vec(1usize..=3, 1..=4).prop_filter_map(
                "fits in n",
                move |sizes| {
                    (sizes.iter().sum::<usize>() <= n)
                        .then(|| Box::new(Hierarchical::new(&sizes).expect("valid")) as Sys)
                }
            ),
            proptest::collection::vec(proptest::collection::vec(0u64..4, 1..=3), 1..=4)
                .prop_filter_map("fits in n, some weight", move |groups| {
                    (groups.iter().map(Vec::len).sum::<usize>() <= n)
                        .then(|| Hierarchical::weighted(&groups).ok())
                        .flatten()
                        .map(|h| Box::new(h) as Sys)
                }),
            (1usize..=n).prop_map(move |q2| {
                let q1 = n + 1 - q2;
                Box::new(FlexiblePaxos::new(n, q1, q2).expect("valid").phase1()) as Sys
            }),
            (
                proptest::sample::subsequence((0..n as u64).collect::<Vec<_>>(), 1..=n),
                proptest::sample::subsequence((0..n as u64).collect::<Vec<_>>(), 0..=n)
            )
                .prop_map(|(a, b)| Box::new(JointConfig::new(a, b).expect("valid")) as Sys),
            ((1usize..=n), (1usize..=n)).prop_map(move |(a, b)| {
                Box::new(
                    Joint::new(vec![
                        Threshold::new(n, a).expect("valid"),
                        Threshold::new(n, b).expect("valid"),
                    ])
                    .expect("valid"),
                ) as Sys
            }),
        ]
    })
}

fn brute_disjoint(a: &dyn DebugSys, b: &dyn DebugSys) -> bool {
    let n = a.node_count().max(b.node_count());
    let all = (1u64 << n) - 1;
    (0..=all).any(|x| {
        a.is_quorum(NodeSet::from_bits(x))
            && (0..=all).any(|y| x & y == 0 && b.is_quorum(NodeSet::from_bits(y)))
    })
}

fn ref_commit(q: &dyn DebugSys, acked: &[u64]) -> u64 {
    if q.is_quorum(NodeSet::EMPTY) {
        return u64::MAX;
    }
    let n = q.node_count();
    let mut best = 0;
    for &c in acked.iter().take(n).chain(std::iter::once(&0)) {
        let set: NodeSet = (0..n)
            .filter(|&i| acked.get(i).copied().unwrap_or(0) >= c)
            .collect();
        if q.is_quorum(set) {
            best = best.max(c);
        }
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_system_is_upward_closed(q in system(12), bits in any::<u64>(), extra in 0usize..12) {
        let s = NodeSet::from_bits(bits).intersection(NodeSet::full(q.node_count()));
        let mut bigger = s;
        bigger.insert(extra);
        if q.is_quorum(s) {
            prop_assert!(q.is_quorum(bigger));
        }
    }

    #[test]
    fn derived_commit_and_vote_follow_the_predicate(q in system(10), acked in proptest::collection::vec(0u64..8, 10), yes in any::<u64>(), no in any::<u64>()) {
        prop_assert_eq!(q.committed_index(&acked), ref_commit(q.as_ref(), &acked));
        let all = NodeSet::full(q.node_count());
        let v = Votes::from_sets(NodeSet::from_bits(yes).intersection(all), NodeSet::from_bits(no).intersection(all));
        let want = if q.is_quorum(v.yes()) {
            VoteResult::Won
        } else if q.is_quorum(all.difference(v.no())) {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        };
        prop_assert_eq!(q.vote_result(&v), want);
    }

    #[test]
    fn intersection_check_agrees_with_brute_force(a in system(7), b in system(7)) {
        let got = check_intersection(a.as_ref(), b.as_ref()).expect("small");
        prop_assert_eq!(got.is_some(), brute_disjoint(a.as_ref(), b.as_ref()));
        if let Some(w) = got {
            prop_assert!(a.is_quorum(w.first) && b.is_quorum(w.second));
            prop_assert!(w.first.intersection(w.second).is_empty());
        }
    }

    #[test]
    fn fault_tolerance_agrees_with_brute_force(q in system(9)) {
        let n = q.node_count();
        let all = NodeSet::full(n);
        let ft = fault_tolerance(q.as_ref()).expect("small");
        let want = if !q.is_quorum(all) {
            None
        } else {
            // Largest f with every f-failure leaving a quorum.
            (0..=n).take_while(|&f| (0u64..=all.bits()).filter(|b| b.count_ones() as usize == f)
                .all(|b| q.is_quorum(all.difference(NodeSet::from_bits(b))))).last()
        };
        prop_assert_eq!(ft.tolerated, want);
    }

    #[test]
    fn availability_agrees_with_enumeration(q in system(8), fail in proptest::collection::vec(0.0f64..=1.0, 8)) {
        let n = q.node_count();
        let fail = &fail[..n];
        let brute: f64 = (0u64..1 << n)
            .filter(|&b| q.is_quorum(NodeSet::from_bits(b)))
            .map(|b| (0..n).map(|i| if b >> i & 1 == 1 { 1.0 - fail[i] } else { fail[i] }).product::<f64>())
            .sum();
        let got = availability(q.as_ref(), fail).expect("valid");
        prop_assert!((got - brute).abs() < 1e-9, "{} vs {}", got, brute);
    }

    #[test]
    fn membership_closed_form_agrees_with_brute_force(
        old in proptest::sample::subsequence((0u64..8).collect::<Vec<_>>(), 1..=8),
        new in proptest::sample::subsequence((0u64..8).collect::<Vec<_>>(), 1..=8),
    ) {
        let m = |ids: &[u64], bits: u64| {
            let c = ids.iter().filter(|&&id| bits >> id & 1 == 1).count();
            c > ids.len() / 2
        };
        let disjoint = (0u64..256).any(|x| m(&old, x) && (0u64..256).any(|y| x & y == 0 && m(&new, y)));
        match check_single_server_change(&old, &new).expect("valid") {
            MembershipCheck::Safe => prop_assert!(!disjoint),
            MembershipCheck::Unsafe { before, after } => {
                prop_assert!(disjoint);
                prop_assert!(before.iter().all(|id| !after.contains(id)));
                prop_assert!(before.iter().all(|id| old.contains(id)) && before.len() > old.len() / 2);
                prop_assert!(after.iter().all(|id| new.contains(id)) && after.len() > new.len() / 2);
            }
        }
        // Symmetric difference of at most one server is always safe.
        let diff = old.iter().filter(|x| !new.contains(x)).count() + new.iter().filter(|x| !old.contains(x)).count();
        if diff <= 1 {
            prop_assert!(!disjoint);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Sequentially, the ack tracker equals "first report per node wins" fed to
    /// the system's predicate, and a decided status never changes.
    #[test]
    fn ack_tracker_matches_first_report_reference(
        q in system(10), reports in proptest::collection::vec((0usize..12, any::<bool>()), 0..40)
    ) {
        use quorate_quorum::{AckStatus, AckTracker};
        let n = q.node_count();
        let t = AckTracker::new(&*q);
        let mut first: Vec<Option<bool>> = vec![None; n];
        let mut decided: Option<AckStatus> = None;
        for (node, ack) in reports {
            let got = t.record(node, ack);
            if node >= n {
                prop_assert!(got.is_err());
                continue;
            }
            if first[node].is_none() {
                first[node] = Some(ack);
            }
            let yes: NodeSet = (0..n).filter(|&i| first[i] == Some(true)).collect();
            let no: NodeSet = (0..n).filter(|&i| first[i] == Some(false)).collect();
            let want = if q.is_quorum(yes) {
                AckStatus::Satisfied
            } else if !q.is_quorum(NodeSet::full(n).difference(no)) {
                AckStatus::Impossible
            } else {
                AckStatus::Waiting
            };
            prop_assert_eq!(got.expect("in range"), want);
            if let Some(d) = decided {
                prop_assert_eq!(want, d, "decided status changed");
            } else if want != AckStatus::Waiting {
                decided = Some(want);
            }
        }
    }
}
