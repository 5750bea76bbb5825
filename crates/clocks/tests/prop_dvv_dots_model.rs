//! Differential test: `Dvv::descends` / `compare` / `sync` against the set semantics of dotted
//! version vectors (Preguiça, Baquero et al.): a DVV stands for the set of dots
//! `{(a, k) | k <= context[a]} ∪ {dot}`, and `x` descends `y` exactly when `y`'s set is a
//! subset of `x`'s.

use std::collections::BTreeSet;

use proptest::prelude::*;
use quorate_clocks::{Causality, Dot, Dvv, VersionVector};

fn arb_dvv() -> impl Strategy<Value = Dvv<u8>> {
    (
        prop::collection::btree_map(0u8..3, 1u64..4, 0..3),
        prop::option::of((0u8..3, 1u64..7)),
    )
        .prop_map(|(ctx, dot)| {
            let ctx: VersionVector<u8> = ctx.into_iter().collect();
            match dot {
                Some((a, n)) => Dvv::new(Dot::new(a, n), ctx),
                None => Dvv::from_context(ctx),
            }
        })
}

fn dots(d: &Dvv<u8>) -> BTreeSet<(u8, u64)> {
    let mut s: BTreeSet<(u8, u64)> = d
        .context()
        .iter()
        .flat_map(|(a, n)| (1..=n).map(move |k| (*a, k)))
        .collect();
    if let Some(dot) = d.dot() {
        s.insert((dot.actor, dot.counter));
    }
    s
}

proptest! {
    #[test]
    fn descends_is_dot_set_inclusion(x in arb_dvv(), y in arb_dvv()) {
        let (sx, sy) = (dots(&x), dots(&y));
        prop_assert_eq!(x.descends(&y), sy.is_subset(&sx));
        let want = match (sy.is_subset(&sx), sx.is_subset(&sy)) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (false, false) => Causality::Concurrent,
        };
        prop_assert_eq!(x.compare(&y), want);
        for (a, k) in sx.iter().chain(&sy) {
            prop_assert_eq!(x.contains(&Dot::new(*a, *k)), sx.contains(&(*a, *k)));
        }
    }

    #[test]
    fn sync_keeps_exactly_the_maximal_histories(
        a in prop::collection::vec(arb_dvv(), 0..4),
        b in prop::collection::vec(arb_dvv(), 0..4),
    ) {
        let out = Dvv::sync(&a, &b);
        let all: Vec<BTreeSet<(u8, u64)>> = a.iter().chain(&b).map(dots).collect();
        let mut want: Vec<BTreeSet<(u8, u64)>> = all
            .iter()
            .filter(|s| !all.iter().any(|t| s.is_subset(t) && s != &t))
            .cloned()
            .collect();
        want.sort();
        want.dedup();
        let mut got: Vec<BTreeSet<(u8, u64)>> = out.iter().map(dots).collect();
        got.sort();
        let n = got.len();
        got.dedup();
        prop_assert_eq!(n, got.len(), "sync kept two versions with one history");
        prop_assert_eq!(got, want);
    }
}
