//! Differential test: `PruningPolicy::prune` against a literal model of Riak's `vclock:prune/3`
//! (sort by `{Timestamp, Node}`, then drop the head while longer than `small_vclock`, not
//! younger than `young_vclock`, and longer than `big_vclock` or older than `old_vclock`), with
//! timestamps on both sides of `now`.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use quorate_clocks::{PruningPolicy, VersionVector};

fn riak_prune(
    mut v: Vec<(u8, i128)>,
    now: i128,
    small: usize,
    big: usize,
    young: i128,
    old: i128,
) -> Vec<u8> {
    v.sort_by_key(|&(n, t)| (t, n));
    let mut v = &v[..];
    loop {
        if v.len() <= small {
            break;
        }
        let head_time = v[0].1;
        if now - head_time < young {
            break;
        }
        if v.len() > big || now - head_time > old {
            v = &v[1..];
        } else {
            break;
        }
    }
    let mut kept: Vec<u8> = v.iter().map(|e| e.0).collect();
    kept.sort_unstable();
    kept
}

proptest! {
    #[test]
    fn prune_matches_riak(
        times in prop::collection::btree_map(0u8..40, 0u64..200, 0..30),
        small in 0usize..12,
        big in 0usize..24,
        young in 0u64..60,
        extra_old in 0u64..100,
        now in 0u64..200,
    ) {
        // Any order of small and big, as in Riak (big < small included).
        let old = young + extra_old;
        let p = PruningPolicy::new(small, big, Duration::from_secs(young), Duration::from_secs(old)).unwrap();
        let times: BTreeMap<u8, u64> = times;
        let mut vv: VersionVector<u8> = times.keys().map(|a| (*a, 1)).collect();
        let s = 1_000_000_000u64;
        let removed = p.prune(&mut vv, |a| times[a] * s, now * s);
        let want = riak_prune(
            times.iter().map(|(a, t)| (*a, i128::from(*t))).collect(),
            i128::from(now),
            small,
            big,
            i128::from(young),
            i128::from(old),
        );
        let got: Vec<u8> = vv.iter().map(|(a, _)| *a).collect();
        prop_assert_eq!(removed, times.len() - want.len());
        prop_assert_eq!(got, want);
    }
}
