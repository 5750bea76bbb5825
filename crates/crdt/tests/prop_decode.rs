//! Decoders never panic on arbitrary bytes, and never accept non-canonical input that would
//! re-encode differently.

use proptest::prelude::*;
use quorate_clocks::{Decode, Encode, decode_exact, encode_to_vec};
use quorate_crdt::laws::random_states;
use quorate_crdt::{
    DeltaCrdt, EwFlag, GCounter, GSet, LwwReg, MvReg, OrMap, OrSet, OrSetDelta, PnCounter, RwSet,
    TwoPSet,
};

/// Decodes; if it succeeds, the value must re-encode to exactly the input (canonical form).
fn check<T: Decode + Encode>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(v) = decode_exact::<T>(bytes) {
        prop_assert_eq!(encode_to_vec(&v), bytes.to_vec());
    }
    Ok(())
}

fn all(bytes: &[u8]) -> Result<(), TestCaseError> {
    check::<OrSet<u8, u8>>(bytes)?;
    check::<OrSetDelta<u8, u8>>(bytes)?;
    check::<RwSet<u8, u8>>(bytes)?;
    check::<MvReg<u8, u8>>(bytes)?;
    check::<EwFlag<u8>>(bytes)?;
    check::<OrMap<u8, MvReg<u8, u8>, u8>>(bytes)?;
    check::<OrMap<u8, GCounter<u8>, u8>>(bytes)?;
    check::<OrMap<u8, PnCounter<u8>, u8>>(bytes)?;
    check::<GCounter<u8>>(bytes)?;
    check::<PnCounter<u8>>(bytes)?;
    check::<GSet<u8>>(bytes)?;
    check::<TwoPSet<u8>>(bytes)?;
    check::<LwwReg<u8, u8>>(bytes)?;
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        all(&bytes)?;
    }

    #[test]
    fn plausible_headers_never_panic(tag in 1u8..8, rest in proptest::collection::vec(any::<u8>(), 0..48)) {
        let mut bytes = vec![1, tag];
        bytes.extend(rest);
        all(&bytes)?;
    }

    #[test]
    fn mutated_valid_encodings_never_panic(seed in any::<u64>(), pos in any::<usize>(), val in any::<u8>()) {
        let s = random_states::<OrMap<u8, MvReg<u8, u8>, u8>, u8>(&[1, 2, 3], 20, seed);
        let mut bytes = encode_to_vec(&s[0]);
        if !bytes.is_empty() {
            let i = pos % bytes.len();
            bytes[i] = val;
        }
        all(&bytes)?;
        let d = s[1].delta_since(&s[0].summary());
        let mut bytes = encode_to_vec(&d);
        let i = pos % bytes.len();
        bytes[i] = val;
        check::<<OrMap<u8, MvReg<u8, u8>, u8> as DeltaCrdt<u8>>::Delta>(&bytes)?;
    }

    #[test]
    fn random_states_round_trip(seed in any::<u64>()) {
        for s in random_states::<OrSet<u8, u8>, u8>(&[1, 2, 3], 25, seed) {
            prop_assert_eq!(decode_exact::<OrSet<u8, u8>>(&encode_to_vec(&s)).ok(), Some(s));
        }
        for s in random_states::<RwSet<u8, u8>, u8>(&[1, 2, 3], 25, seed) {
            prop_assert_eq!(decode_exact::<RwSet<u8, u8>>(&encode_to_vec(&s)).ok(), Some(s));
        }
        for s in random_states::<OrMap<u8, PnCounter<u8>, u8>, u8>(&[1, 2, 3], 25, seed) {
            prop_assert_eq!(decode_exact::<OrMap<u8, PnCounter<u8>, u8>>(&encode_to_vec(&s)).ok(), Some(s));
        }
        for s in random_states::<PnCounter<u8>, u8>(&[1, 2, 3], 25, seed) {
            prop_assert_eq!(decode_exact::<PnCounter<u8>>(&encode_to_vec(&s)).ok(), Some(s));
        }
    }
}

#[test]
fn huge_length_prefix_is_rejected_before_allocating() {
    // version 1, causal tag, actor count = u64::MAX as a varint.
    let mut bytes = vec![1u8, 6];
    bytes.extend([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    assert!(decode_exact::<OrSet<u8, u8>>(&bytes).is_err());
    let mut bytes = vec![1u8, 3];
    bytes.extend([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
    assert!(decode_exact::<GSet<u8>>(&bytes).is_err());
}
