//! Stored headers: round trip, and arbitrary bytes never panic the decoder.

use proptest::prelude::*;
use quorate_outbox::Headers;

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Headers::decode_bytes(&bytes);
    }

    #[test]
    fn headers_round_trip(pairs in proptest::collection::vec(("[a-zA-Z0-9-]{1,20}", ".{0,30}"), 0..8)) {
        let mut h = Headers::new();
        for (n, v) in &pairs {
            h.insert(n.clone(), v.clone()).expect("valid header");
        }
        prop_assert_eq!(Headers::decode_bytes(&h.encode_bytes()), Ok(h));
    }

    #[test]
    fn a_huge_claimed_count_is_refused_without_allocating(count in 1_000u64..u64::MAX) {
        let mut bytes = vec![1u8];
        let mut v = count;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 { bytes.push(byte); break; }
            bytes.push(byte | 0x80);
        }
        prop_assert!(Headers::decode_bytes(&bytes).is_err());
    }
}

#[test]
fn wrong_version_and_trailing_bytes_are_refused() {
    assert!(Headers::decode_bytes(&[2, 0]).is_err());
    assert!(Headers::decode_bytes(&[1, 0, 0]).is_err());
    assert!(Headers::decode_bytes(&[]).is_err());
}
