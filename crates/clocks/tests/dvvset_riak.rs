//! The expectations of riak_core's `dvvset` eunit suite, ported test by test.
//!
//! Riak writes a set as `{[{Id, Counter, [Values newest first]}], [Anonymous]}`; `set(..)`
//! below builds exactly that shape. Erlang atoms become `&str` ids; the one list id in
//! `less_test` (`[a]`, which Erlang orders after every atom) becomes `"~a"`, which sorts after
//! every lowercase letter in the same way.

use quorate_clocks::{DvvSet, VersionVector};

type Set = DvvSet<&'static str, &'static str>;
type IntSet = DvvSet<&'static str, i64>;

fn set<V>(entries: Vec<(&'static str, u64, Vec<V>)>, anonymous: Vec<V>) -> DvvSet<&'static str, V> {
    DvvSet::from_parts(entries, anonymous).expect("valid test set")
}

fn new(v: &'static str) -> Set {
    DvvSet::new(v)
}

fn new_ctx(vv: &VersionVector<&'static str>, v: &'static str) -> Set {
    DvvSet::with_context(vv, v)
}

fn vv(entries: &[(&'static str, u64)]) -> VersionVector<&'static str> {
    entries.iter().copied().collect()
}

fn sync(sets: &[&Set]) -> Set {
    DvvSet::sync_all(sets.iter().copied()).expect("non-empty")
}

#[test]
fn join_test() {
    let a = new("v1");
    let a1 = a.clone().update(&"a").unwrap();
    let b = new_ctx(&a1.join(), "v2");
    let b1 = b.update_with(&a1, &"b").unwrap();
    assert_eq!(a.join(), vv(&[]));
    assert_eq!(a1.join(), vv(&[("a", 1)]));
    assert_eq!(b1.join(), vv(&[("a", 1), ("b", 1)]));
}

#[test]
fn update_test() {
    let a0 = new("v1").update(&"a").unwrap();
    let a1 = new_ctx(&a0.join(), "v2").update_with(&a0, &"a").unwrap();
    let a2 = new_ctx(&a1.join(), "v3").update_with(&a1, &"b").unwrap();
    let a3 = new_ctx(&a0.join(), "v4").update_with(&a1, &"b").unwrap();
    let a4 = new_ctx(&a0.join(), "v5").update_with(&a1, &"a").unwrap();
    assert_eq!(a0, set(vec![("a", 1, vec!["v1"])], vec![]));
    assert_eq!(a1, set(vec![("a", 2, vec!["v2"])], vec![]));
    assert_eq!(
        a2,
        set(vec![("a", 2, vec![]), ("b", 1, vec!["v3"])], vec![])
    );
    assert_eq!(
        a3,
        set(vec![("a", 2, vec!["v2"]), ("b", 1, vec!["v4"])], vec![])
    );
    assert_eq!(a4, set(vec![("a", 3, vec!["v5", "v2"])], vec![]));
}

#[test]
fn sync_test() {
    let x = set(vec![("x", 1, vec![])], vec![]);
    let a = new("v1").update(&"a").unwrap();
    let y = new("v2").update(&"b").unwrap();
    let a1 = new_ctx(&a.join(), "v2").update(&"a").unwrap();
    let a3 = new_ctx(&a1.join(), "v3").update(&"b").unwrap();
    let a4 = new_ctx(&a1.join(), "v3").update(&"c").unwrap();
    let f = |l: &&str, r: &&str| l > r;
    let w = set(vec![("a", 1, vec![])], vec![]);
    let z = set(vec![("a", 2, vec!["v2", "v1"])], vec![]);
    assert_eq!(sync(&[&w, &z]), set(vec![("a", 2, vec!["v2"])], vec![]));
    assert_eq!(sync(&[&w, &z]), sync(&[&z, &w]));
    assert_eq!(sync(&[&a, &a1]), sync(&[&a1, &a]));
    assert_eq!(sync(&[&a4, &a3]), sync(&[&a3, &a4]));
    assert_eq!(
        sync(&[&a4, &a3]),
        set(
            vec![("a", 2, vec![]), ("b", 1, vec!["v3"]), ("c", 1, vec!["v3"])],
            vec![]
        )
    );
    assert_eq!(
        sync(&[&x, &a]),
        set(vec![("a", 1, vec!["v1"]), ("x", 1, vec![])], vec![])
    );
    assert_eq!(sync(&[&x, &a]), sync(&[&a, &x]));
    assert_eq!(
        sync(&[&a, &y]),
        set(vec![("a", 1, vec!["v1"]), ("b", 1, vec!["v2"])], vec![])
    );
    assert_eq!(sync(&[&y, &a]), sync(&[&a, &y]));
    assert_eq!(sync(&[&a, &x]), sync(&[&x, &a]));
    let l = a4.lww(f);
    assert_eq!(l, sync(&[&a4, &l]));
}

#[test]
fn syn_update_test() {
    let a0 = new("v1").update(&"a").unwrap(); // Mary writes v1 without a context
    let vv1 = a0.join(); // Peter reads v1
    let a1 = new("v2").update_with(&a0, &"a").unwrap(); // Mary writes v2 without a context
    let a2 = new_ctx(&vv1, "v3").update_with(&a1, &"a").unwrap(); // Peter writes v3 over v1
    assert_eq!(vv1, vv(&[("a", 1)]));
    assert_eq!(a0, set(vec![("a", 1, vec!["v1"])], vec![]));
    assert_eq!(a1, set(vec![("a", 2, vec!["v2", "v1"])], vec![]));
    // v3 replaces v1 (which Peter saw) but not v2 (which he did not).
    assert_eq!(a2, set(vec![("a", 3, vec!["v3", "v2"])], vec![]));
}

#[test]
fn event_test() {
    // `event/3` is private in Riak; `update/2` on `{Entries, [V]}` is exactly `{event(..), []}`.
    let a = new("v1").update(&"a").unwrap();
    let with = |v| {
        let entries = a.entries().map(|(i, n, vs)| (*i, n, vs.to_vec())).collect();
        set(entries, vec![v])
    };
    assert_eq!(
        with("v2").update(&"a").unwrap(),
        set(vec![("a", 2, vec!["v2", "v1"])], vec![])
    );
    assert_eq!(
        with("v2").update(&"b").unwrap(),
        set(vec![("a", 1, vec!["v1"]), ("b", 1, vec!["v2"])], vec![])
    );
}

#[test]
fn lww_last_test() {
    let f = |a: &i64, b: &i64| a <= b;
    let f2 = |a: &(i64, i64), b: &(i64, i64)| a.1 <= b.1;
    let x: IntSet = set(
        vec![("a", 4, vec![5, 2]), ("b", 1, vec![]), ("c", 1, vec![3])],
        vec![],
    );
    let y: IntSet = set(
        vec![("a", 4, vec![5, 2]), ("b", 1, vec![]), ("c", 1, vec![3])],
        vec![10, 0],
    );
    let z: IntSet = set(vec![("a", 4, vec![5, 2]), ("b", 1, vec![1])], vec![3]);
    let a = set(
        vec![
            ("a", 4, vec![(5, 1_002_345), (7, 1_002_340)]),
            ("b", 1, vec![(4, 1_001_340)]),
        ],
        vec![(2, 1_001_140)],
    );
    assert_eq!(x.last(f), Some(&5));
    assert_eq!(y.last(f), Some(&10));
    assert_eq!(
        x.lww(f),
        set(
            vec![("a", 4, vec![5]), ("b", 1, vec![]), ("c", 1, vec![])],
            vec![]
        )
    );
    assert_eq!(
        y.lww(f),
        set(
            vec![("a", 4, vec![]), ("b", 1, vec![]), ("c", 1, vec![])],
            vec![10]
        )
    );
    assert_eq!(
        z.lww(f),
        set(vec![("a", 4, vec![5]), ("b", 1, vec![])], vec![])
    );
    assert_eq!(
        a.lww(f2),
        set(
            vec![("a", 4, vec![(5, 1_002_345)]), ("b", 1, vec![])],
            vec![]
        )
    );
}

#[test]
fn reconcile_test() {
    let f1 = |l: Vec<&i64>| l.into_iter().sum::<i64>();
    let f2 = |l: Vec<&i64>| l.into_iter().copied().min().unwrap_or_default();
    let x: IntSet = set(
        vec![("a", 4, vec![5, 2]), ("b", 1, vec![]), ("c", 1, vec![3])],
        vec![],
    );
    let y: IntSet = set(
        vec![("a", 4, vec![5, 2]), ("b", 1, vec![]), ("c", 1, vec![3])],
        vec![10, 0],
    );
    let hist = |v| {
        set(
            vec![("a", 4, vec![]), ("b", 1, vec![]), ("c", 1, vec![])],
            vec![v],
        )
    };
    assert_eq!(x.reconcile(f1), hist(10));
    assert_eq!(y.reconcile(f1), hist(20));
    assert_eq!(x.reconcile(f2), hist(2));
    assert_eq!(y.reconcile(f2), hist(0));
}

#[test]
fn less_test() {
    let a = new("v1").update(&"~a").unwrap();
    let b = new_ctx(&a.join(), "v2").update(&"a").unwrap();
    let b2 = new_ctx(&a.join(), "v2").update(&"b").unwrap();
    let b3 = new_ctx(&a.join(), "v2").update(&"z").unwrap();
    let c = new_ctx(&b.join(), "v3").update_with(&a, &"c").unwrap();
    let d = new_ctx(&c.join(), "v4").update_with(&b2, &"d").unwrap();
    assert!(a.less(&b));
    assert!(a.less(&c));
    assert!(b.less(&c));
    assert!(b.less(&d));
    assert!(b2.less(&d));
    assert!(a.less(&d));
    assert!(!b2.less(&c));
    assert!(!b.less(&b2));
    assert!(!b2.less(&b));
    assert!(!a.less(&a));
    assert!(!c.less(&c));
    assert!(!d.less(&b2));
    assert!(!b3.less(&d));
}

#[test]
fn equal_test() {
    let a = set(
        vec![
            ("a", 4, vec!["v5", "v0"]),
            ("b", 0, vec![]),
            ("c", 1, vec!["v3"]),
        ],
        vec!["v0"],
    );
    let b = set(
        vec![
            ("a", 4, vec!["v555", "v0"]),
            ("b", 0, vec![]),
            ("c", 1, vec!["v3"]),
        ],
        vec![],
    );
    let c = set(
        vec![("a", 4, vec!["v5", "v0"]), ("b", 0, vec![])],
        vec!["v6", "v1"],
    );
    assert!(a.equal(&b));
    assert!(b.equal(&a));
    assert!(!a.equal(&c));
    assert!(!b.equal(&c));
}

#[test]
fn size_test() {
    assert_eq!(new("v1").size(), 1);
    let s = set(
        vec![
            ("a", 4, vec!["v5", "v0"]),
            ("b", 0, vec![]),
            ("c", 1, vec!["v3"]),
        ],
        vec!["v4", "v1"],
    );
    assert_eq!(s.size(), 5);
}

#[test]
fn ids_values_test() {
    let a = set(
        vec![
            ("a", 4, vec!["v0", "v5"]),
            ("b", 0, vec![]),
            ("c", 1, vec!["v3"]),
        ],
        vec!["v1"],
    );
    let b = set(
        vec![
            ("a", 4, vec!["v0", "v555"]),
            ("b", 0, vec![]),
            ("c", 1, vec!["v3"]),
        ],
        vec![],
    );
    let c = set(vec![("a", 4, vec![]), ("b", 0, vec![])], vec!["v1", "v6"]);
    let sorted = |s: &Set| {
        let mut v: Vec<&str> = s.values().into_iter().copied().collect();
        v.sort_unstable();
        v
    };
    assert_eq!(a.ids().copied().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(b.ids().copied().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(c.ids().copied().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(sorted(&a), ["v0", "v1", "v3", "v5"]);
    assert_eq!(sorted(&b), ["v0", "v3", "v555"]);
    assert_eq!(sorted(&c), ["v1", "v6"]);
}

#[test]
fn map_test() {
    let a: IntSet = set(
        vec![("a", 4, vec![]), ("b", 0, vec![]), ("c", 1, vec![])],
        vec![10],
    );
    let b: IntSet = set(
        vec![("a", 4, vec![5, 0]), ("b", 0, vec![]), ("c", 1, vec![2])],
        vec![20, 10],
    );
    let f = |x: i64| x * 2;
    assert_eq!(
        a.map(f),
        set(
            vec![("a", 4, vec![]), ("b", 0, vec![]), ("c", 1, vec![])],
            vec![20]
        )
    );
    assert_eq!(
        b.map(f),
        set(
            vec![("a", 4, vec![10, 0]), ("b", 0, vec![]), ("c", 1, vec![4])],
            vec![40, 20]
        )
    );
}

#[test]
fn update_rejects_anything_but_one_new_value() {
    use quorate_clocks::DvvUpdateError;
    let none: Set = DvvSet::new_many(vec![]);
    assert_eq!(none.update(&"a"), Err(DvvUpdateError::NotOneValue(0)));
    let stored = new("v1").update(&"a").unwrap();
    let two: Set = DvvSet::new_many(vec!["x", "y"]);
    assert_eq!(
        two.update_with(&stored, &"a"),
        Err(DvvUpdateError::NotOneValue(2))
    );
}

#[test]
fn from_parts_validates() {
    use quorate_clocks::InvalidDvvSet;
    assert_eq!(
        DvvSet::<&str, u8>::from_parts(vec![("b", 1, vec![]), ("a", 1, vec![])], vec![]),
        Err(InvalidDvvSet::Unsorted)
    );
    assert_eq!(
        DvvSet::<&str, u8>::from_parts(vec![("a", 1, vec![]), ("a", 2, vec![])], vec![]),
        Err(InvalidDvvSet::Unsorted)
    );
    assert_eq!(
        DvvSet::<&str, u8>::from_parts(vec![("a", 1, vec![1, 2])], vec![]),
        Err(InvalidDvvSet::TooManyValues)
    );
}
