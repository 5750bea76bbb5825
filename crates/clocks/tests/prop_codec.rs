//! Codecs: arbitrary bytes never panic a decoder; every value round-trips exactly; the
//! 16-byte node timestamp encoding preserves order.

use proptest::prelude::*;
use quorate_clocks::{
    Decode, Dot, Dvv, DvvSet, Encode, Lamport, NodeId, NodeTimestamp, Timestamp, VersionVector,
    decode_exact, encode_to_vec,
};

fn no_panic<T: Decode>(bytes: &[u8]) {
    let mut input = bytes;
    let _ = T::decode(&mut input);
    let _ = decode_exact::<T>(bytes);
}

fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(
    v: &T,
) -> Result<(), TestCaseError> {
    let bytes = encode_to_vec(v);
    prop_assert_eq!(bytes.len(), v.encoded_len());
    prop_assert_eq!(&decode_exact::<T>(&bytes).unwrap(), v);
    // Every strict prefix fails cleanly.
    for cut in 0..bytes.len() {
        prop_assert!(decode_exact::<T>(&bytes[..cut]).is_err());
    }
    Ok(())
}

fn arb_vv() -> impl Strategy<Value = VersionVector<u64>> {
    prop::collection::vec((any::<u64>(), any::<u64>()), 0..12).prop_map(|v| v.into_iter().collect())
}

fn arb_dvvset() -> impl Strategy<Value = DvvSet<u8, String>> {
    prop::collection::vec((0u8..6, prop::option::of("[a-z]{0,4}")), 0..10).prop_map(|ops| {
        let mut s: DvvSet<u8, String> = DvvSet::default();
        for (actor, v) in ops {
            s = match v {
                Some(v) => DvvSet::with_context(&s.join(), v)
                    .update_with(&s, &actor)
                    .unwrap(),
                None => DvvSet::new(format!("lost-{actor}"))
                    .update_with(&s, &actor)
                    .unwrap(),
            };
        }
        s
    })
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        no_panic::<u8>(&bytes);
        no_panic::<u16>(&bytes);
        no_panic::<u32>(&bytes);
        no_panic::<u64>(&bytes);
        no_panic::<i64>(&bytes);
        no_panic::<u128>(&bytes);
        no_panic::<bool>(&bytes);
        no_panic::<String>(&bytes);
        no_panic::<Vec<u8>>(&bytes);
        no_panic::<[u8; 3]>(&bytes);
        no_panic::<Timestamp>(&bytes);
        no_panic::<NodeTimestamp>(&bytes);
        no_panic::<Dot<u64>>(&bytes);
        no_panic::<Lamport>(&bytes);
        no_panic::<NodeId>(&bytes);
        no_panic::<Dot<String>>(&bytes);
        no_panic::<VersionVector<u64>>(&bytes);
        no_panic::<VersionVector<String>>(&bytes);
        no_panic::<Dvv<u32>>(&bytes);
        no_panic::<DvvSet<u64, Vec<u8>>>(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_valid_headers(tail in prop::collection::vec(any::<u8>(), 0..64)) {
        // Start with a valid version byte so the fuzzing reaches the bodies.
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&tail);
        no_panic::<VersionVector<u64>>(&bytes);
        no_panic::<Dvv<u64>>(&bytes);
        no_panic::<DvvSet<u16, String>>(&bytes);
    }

    #[test]
    fn primitives_round_trip(a in any::<u64>(), b in any::<i64>(), c in any::<u128>(), d in any::<bool>(),
                             e in ".{0,8}", f in prop::collection::vec(any::<u8>(), 0..9), g in any::<u16>(), h in any::<u32>()) {
        round_trip(&a)?;
        round_trip(&b)?;
        round_trip(&c)?;
        round_trip(&d)?;
        round_trip(&e)?;
        round_trip(&f)?;
        round_trip(&g)?;
        round_trip(&h)?;
        round_trip(&[a as u8; 5])?;
    }

    #[test]
    fn clock_types_round_trip(raw in 1u64.., node in any::<u64>(), vv in arb_vv(), set in arb_dvvset(), actor in any::<u64>(), n in 1u64..) {
        round_trip(&Timestamp::from_u64(raw))?;
        round_trip(&NodeTimestamp::new(Timestamp::from_u64(raw), NodeId(node)))?;
        round_trip(&Dot::new(actor, n))?;
        round_trip(&Lamport::at(raw))?;
        round_trip(&NodeId(node))?;
        round_trip(&vv)?;
        round_trip(&Dvv::new(Dot::new(actor, n), vv.clone()))?;
        round_trip(&Dvv::from_context(vv))?;
        round_trip(&set)?;
    }

    #[test]
    fn node_timestamp_bytes_sort_like_values(a in 1u64.., b in 1u64.., x in any::<u64>(), y in any::<u64>()) {
        let p = NodeTimestamp::new(Timestamp::from_u64(a), NodeId(x));
        let q = NodeTimestamp::new(Timestamp::from_u64(b), NodeId(y));
        prop_assert_eq!(p.cmp(&q), p.to_bytes().cmp(&q.to_bytes()));
        prop_assert_eq!(Timestamp::from_u64(a).cmp(&Timestamp::from_u64(b)),
                        Timestamp::from_u64(a).to_be_bytes().cmp(&Timestamp::from_u64(b).to_be_bytes()));
    }
}
