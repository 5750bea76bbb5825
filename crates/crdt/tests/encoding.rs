//! Canonical, versioned encodings: equal states give identical bytes, round trips are exact,
//! digests follow the bytes, malformed input is a typed error.

use quorate_clocks::{DecodeError, Encode, Timestamp, decode_exact, encode_to_vec};
use quorate_crdt::{
    Crdt, DeltaCrdt, EwFlag, GCounter, GSet, LwwReg, MvReg, OrMap, OrSet, PnCounter, RwSet, TwoPSet,
};

fn round_trip<T: Encode + quorate_clocks::Decode + PartialEq + std::fmt::Debug>(v: &T) -> Vec<u8> {
    let bytes = encode_to_vec(v);
    assert_eq!(bytes.len(), v.encoded_len(), "encoded_len is exact");
    assert_eq!(&decode_exact::<T>(&bytes).unwrap(), v);
    bytes
}

#[test]
fn equal_or_sets_from_different_histories_encode_identically() {
    // a: add 1..=3 in order, b: the same adds arriving as deltas in reverse, then a full join.
    let mut a = OrSet::<u32, u8>::new();
    let ds: Vec<_> = (1..=3).map(|i| a.add(1, i).unwrap()).collect();
    let mut b = OrSet::<u32, u8>::new();
    for d in ds.iter().rev() {
        b.join_delta(d);
    }
    b.join(&a);
    assert_eq!(a, b);
    assert_eq!(round_trip(&a), round_trip(&b));
    assert_eq!(a.digest(), b.digest());
    b.remove(&2);
    assert_ne!(a.digest(), b.digest());
}

#[test]
fn every_type_round_trips() {
    let mut s = OrSet::<String, u64>::new();
    s.add(7, "a".into()).unwrap();
    s.add(9, "b".into()).unwrap();
    round_trip(&s);
    round_trip(&s.to_delta());
    round_trip(&s.delta_since(&Default::default()));
    let mut rw = RwSet::<u32, u8>::new();
    rw.add(1, 3).unwrap();
    rw.remove(2, 4).unwrap();
    round_trip(&rw);
    let mut r = MvReg::<String, u8>::new();
    r.write(1, "x".into()).unwrap();
    round_trip(&r);
    let mut f = EwFlag::<u8>::new();
    f.enable(3).unwrap();
    round_trip(&f);
    let mut m = OrMap::<u32, MvReg<u64, u8>, u8>::new();
    m.update(4, |r| r.write_delta(1, 44)).unwrap();
    let rm = m.remove_delta(&4);
    round_trip(&m);
    round_trip(&rm);
    let mut gm = OrMap::<String, GCounter<u8>, u8>::new();
    gm.increment("a".into(), 1, 300).unwrap();
    gm.increment("b".into(), 2, 1).unwrap();
    round_trip(&gm);
    round_trip(&gm.remove_delta(&"a".to_string()));
    round_trip(&gm.increment_delta("a".into(), 3, u64::MAX).unwrap());
    let mut pm = OrMap::<u32, PnCounter<u8>, u8>::new();
    pm.increment(1, 1, 5).unwrap();
    pm.decrement(1, 2, u64::MAX).unwrap();
    round_trip(&pm);
    round_trip(&pm.to_delta());
    let mut g = GCounter::<u8>::new();
    g.increment(1, 300).unwrap();
    round_trip(&g);
    let mut pn = PnCounter::<u8>::new();
    pn.decrement(2, 5).unwrap();
    round_trip(&pn);
    let gs: GSet<u32> = [3, 1].into_iter().collect();
    round_trip(&gs);
    let mut tp = TwoPSet::<u32>::new();
    tp.insert(1);
    tp.remove(2);
    round_trip(&tp);
    let mut l = LwwReg::<u32, u8>::new();
    round_trip(&l);
    l.set(Timestamp::from_u64(5), 1, 9);
    round_trip(&l);
}

#[test]
fn encoding_is_versioned_and_strict() {
    let mut g = GCounter::<u8>::new();
    g.increment(1, 1).unwrap();
    let mut bytes = encode_to_vec(&g);
    assert_eq!(bytes[0], 1, "format version");
    bytes[0] = 2;
    assert_eq!(
        decode_exact::<GCounter<u8>>(&bytes),
        Err(DecodeError::UnsupportedVersion(2))
    );
    bytes[0] = 1;
    bytes.push(0);
    assert_eq!(
        decode_exact::<GCounter<u8>>(&bytes),
        Err(DecodeError::TrailingBytes(1))
    );
    // A counter's bytes are not a set's.
    assert!(decode_exact::<GSet<u8>>(&encode_to_vec(&g)).is_err());
}

#[test]
fn or_set_encoding_is_compact() {
    let mut s = OrSet::<u64, u64>::new();
    for i in 0..10_000 {
        s.add(1, i).unwrap();
    }
    let len = s.encoded_len();
    // Per element: key varint (<= 2 bytes), dot count, actor index, counter varint (<= 2 bytes).
    assert!(len < 10_000 * 7, "{len} bytes");
}

#[test]
fn decoding_a_truncated_state_is_an_error_at_every_cut() {
    let mut m = OrMap::<u32, OrSet<u32, u8>, u8>::new();
    for k in 0..5 {
        m.update(k, |s| s.add_delta(1, k * 10)).unwrap();
    }
    let bytes = encode_to_vec(&m);
    for cut in 0..bytes.len() {
        assert!(decode_exact::<OrMap<u32, OrSet<u32, u8>, u8>>(&bytes[..cut]).is_err());
    }
}
