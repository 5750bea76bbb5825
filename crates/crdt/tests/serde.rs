//! Serde round trips (the `serde` feature), with validation on deserialize.
#![cfg(feature = "serde")]

use quorate_crdt::{Crdt, GCounter, MvReg, OrMap, OrSet};

#[test]
fn or_set_round_trips_through_json() {
    let mut s = OrSet::<String, u8>::new();
    s.add(1, "a".into()).unwrap();
    s.add(2, "b".into()).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    let back: OrSet<String, u8> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn or_map_and_counter_round_trip() {
    let mut m = OrMap::<u32, MvReg<u32, u8>, u8>::new();
    m.update(1, |r| r.write_delta(1, 5)).unwrap();
    let back: OrMap<u32, MvReg<u32, u8>, u8> =
        serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
    let mut c = GCounter::<u8>::new();
    c.increment(1, 3).unwrap();
    let back: GCounter<u8> = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back.value(), 3);
    assert!(back.validate().is_ok());
}

#[test]
fn invalid_input_is_rejected_on_deserialize() {
    // A G-counter with a zero entry: [version, tag, retired=0, entries=1, actor 1, count 0].
    let err = serde_json::from_str::<GCounter<u8>>("[1,1,0,1,1,0]");
    assert!(err.is_err());
    assert!(serde_json::from_str::<GCounter<u8>>("[1,1,0,1,1,4]").is_ok());
}
