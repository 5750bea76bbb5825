//! Version vectors detect concurrent updates; a DVV set keeps them as siblings.
//!
//! Two replicas update one key independently: their version vectors are concurrent. Then two
//! clients write through the same server with the same read context, the case where a plain
//! version vector per key loses an update: the dotted version vector set keeps both values as
//! siblings until a client that has seen both writes a resolution.
//!
//! Run: `cargo run -p quorate-examples --example version_vectors`

use quorate_clocks::{Causality, DvvSet, VersionVector};

/// Runs the example.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Causality between replicas.
    let mut base = VersionVector::new();
    base.increment("eu")?;
    let mut eu = base.clone();
    let mut us = base.clone();
    eu.increment("eu")?;
    us.increment("us")?;
    assert_eq!(eu.compare(&base), Causality::After);
    assert_eq!(eu.compare(&us), Causality::Concurrent);
    let mut merged = eu.clone();
    merged.merge(&us);
    assert!(merged.descends(&eu) && merged.descends(&us));
    println!("eu {eu:?} vs us {us:?}: {:?}", eu.compare(&us));

    // Siblings on one server, Riak style: the server's id is the only actor.
    let stored = DvvSet::new("cart: [book]").update(&"server-a")?;
    let read_by_ann = stored.join();
    let read_by_bob = stored.join();
    // Ann and Bob both write, each with the context they read.
    let stored = DvvSet::with_context(&read_by_ann, "cart: [book, pen]")
        .update_with(&stored, &"server-a")?;
    let stored = DvvSet::with_context(&read_by_bob, "cart: [book, ink]")
        .update_with(&stored, &"server-a")?;
    // Neither saw the other's write: both are kept.
    let mut siblings: Vec<&str> = stored.values().into_iter().copied().collect();
    siblings.sort_unstable();
    assert_eq!(siblings, ["cart: [book, ink]", "cart: [book, pen]"]);
    println!("siblings: {siblings:?}");

    // A client reads both siblings and writes the merge with the joined context.
    let resolved = DvvSet::with_context(&stored.join(), "cart: [book, ink, pen]")
        .update_with(&stored, &"server-a")?;
    assert_eq!(resolved.values(), [&"cart: [book, ink, pen]"]);

    // A replica that missed Bob's write syncs and converges to the same set.
    let stale = DvvSet::with_context(&read_by_ann, "cart: [book, pen]").update_with(
        &DvvSet::new("cart: [book]").update(&"server-a")?,
        &"server-a",
    )?;
    assert_eq!(stale.sync(&resolved), resolved);
    println!("resolved: {:?}", resolved.values());
    Ok(())
}
