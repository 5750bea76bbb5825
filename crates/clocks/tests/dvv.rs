//! Dotted version vectors: the non-contiguous dot that avoids false overwrites.

use quorate_clocks::{Causality, Dot, Dvv, VersionVector};

#[test]
fn concurrent_writes_through_one_server_stay_concurrent() {
    let empty = VersionVector::new();
    let v1 = Dvv::update(&empty, &[], 'a').unwrap();
    let ctx = v1.join();
    // Two clients read v1 and both write through server a.
    let v2 = Dvv::update(&ctx, std::slice::from_ref(&v1), 'a').unwrap();
    let stored = Dvv::sync(std::slice::from_ref(&v1), std::slice::from_ref(&v2));
    assert_eq!(stored, vec![v2.clone()]);
    let v3 = Dvv::update(&ctx, &stored, 'a').unwrap();
    assert_eq!(v3.dot(), Some(&Dot::new('a', 3)));
    assert_eq!(v3.context(), &ctx);
    assert_eq!(v2.compare(&v3), Causality::Concurrent);
    assert_eq!(
        Dvv::sync(&stored, std::slice::from_ref(&v3)),
        vec![v2.clone(), v3.clone()]
    );
    // A client that read both supersedes both.
    let mut both = v2.join();
    both.merge(&v3.join());
    let v4 = Dvv::update(&both, &[v2.clone(), v3.clone()], 'b').unwrap();
    assert_eq!(Dvv::sync(&[v2, v3], std::slice::from_ref(&v4)), vec![v4]);
}

#[test]
fn descends_handles_contiguous_dots() {
    // {a:1} + dot (a,2) is the same history as {a:2}.
    let ctx1: VersionVector<char> = [('a', 1)].into_iter().collect();
    let ctx2: VersionVector<char> = [('a', 2)].into_iter().collect();
    let x = Dvv::new(Dot::new('a', 2), ctx1);
    let y = Dvv::from_context(ctx2);
    assert_eq!(x.compare(&y), Causality::Equal);
    let z = Dvv::new(Dot::new('a', 4), VersionVector::new());
    assert_eq!(z.compare(&y), Causality::Concurrent);
    assert!(z.contains(&Dot::new('a', 4)) && !z.contains(&Dot::new('a', 3)));
    assert_eq!(Dvv::new(Dot::new('q', 0), VersionVector::new()).dot(), None);
}

#[test]
fn update_overflow_is_an_error() {
    let ctx: VersionVector<char> = [('a', u64::MAX)].into_iter().collect();
    assert!(Dvv::update(&ctx, &[], 'a').is_err());
}
