//! Codec edge cases: varint limits, length checks before allocation, invariant checks.

use quorate_clocks::{
    Decode, DecodeError, Dot, Dvv, DvvSet, NodeTimestamp, Timestamp, VersionVector, decode_exact,
    encode_to_vec, get_len, get_varint, put_varint, varint_len,
};

#[test]
fn varint_boundaries() {
    for v in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u64::from(u32::MAX),
        u64::MAX - 1,
        u64::MAX,
    ] {
        let mut buf = Vec::new();
        put_varint(&mut buf, v);
        assert_eq!(buf.len(), varint_len(v));
        assert_eq!(get_varint(&mut buf.as_slice()), Ok(v));
    }
    assert_eq!(varint_len(u64::MAX), 10);
    // Overlong forms are rejected, so every value has one encoding.
    assert_eq!(
        get_varint(&mut &[0x80, 0x00][..]),
        Err(DecodeError::InvalidVarint)
    );
    assert_eq!(
        get_varint(&mut &[0xFF, 0x80, 0x00][..]),
        Err(DecodeError::InvalidVarint)
    );
    // Eleven bytes, or a tenth byte above 1, overflow.
    let mut too_long = vec![0xFF; 10];
    too_long.push(0x01);
    assert_eq!(
        get_varint(&mut too_long.as_slice()),
        Err(DecodeError::InvalidVarint)
    );
    let mut overflow = vec![0xFF; 9];
    overflow.push(0x02);
    assert_eq!(
        get_varint(&mut overflow.as_slice()),
        Err(DecodeError::InvalidVarint)
    );
    assert!(matches!(
        get_varint(&mut &[0x80][..]),
        Err(DecodeError::UnexpectedEnd { .. })
    ));
    // Narrow integers reject values that do not fit.
    assert_eq!(
        decode_exact::<u16>(&encode_to_vec(&70_000u64)),
        Err(DecodeError::InvalidVarint)
    );
}

#[test]
fn lengths_are_checked_before_allocating() {
    // A claimed length of u64::MAX with 1 byte left must fail fast, not try to allocate.
    let mut buf = Vec::new();
    put_varint(&mut buf, u64::MAX);
    buf.push(0);
    assert!(matches!(
        decode_exact::<Vec<u8>>(&buf),
        Err(DecodeError::LengthTooLarge {
            len: u64::MAX,
            remaining: 1
        })
    ));
    let mut vv = vec![1u8];
    put_varint(&mut vv, 1 << 40);
    assert!(matches!(
        decode_exact::<VersionVector<u64>>(&vv),
        Err(DecodeError::LengthTooLarge { .. })
    ));
    assert!(matches!(
        get_len(&mut &[3, 1, 1][..], 1),
        Err(DecodeError::LengthTooLarge {
            len: 3,
            remaining: 2
        })
    ));
    assert_eq!(get_len(&mut &[2, 1, 1][..], 1), Ok(2));
}

#[test]
fn versions_and_trailing_bytes() {
    let vv: VersionVector<u64> = [(1, 2)].into_iter().collect();
    let mut bytes = encode_to_vec(&vv);
    assert_eq!(bytes, [1, 1, 1, 2]);
    bytes[0] = 9;
    assert_eq!(
        decode_exact::<VersionVector<u64>>(&bytes),
        Err(DecodeError::UnsupportedVersion(9))
    );
    let mut extra = encode_to_vec(&vv);
    extra.extend_from_slice(&[0, 0]);
    assert_eq!(
        decode_exact::<VersionVector<u64>>(&extra),
        Err(DecodeError::TrailingBytes(2))
    );
    // `decode` itself leaves the rest for the caller.
    let mut input = extra.as_slice();
    assert_eq!(VersionVector::<u64>::decode(&mut input), Ok(vv));
    assert_eq!(input, [0, 0]);
}

#[test]
fn invariants_are_validated() {
    // Unsorted, duplicate and zero entries.
    for bad in [[1u8, 2, 5, 1, 3, 1], [1, 2, 3, 1, 3, 1], [1, 2, 3, 0, 4, 1]] {
        assert!(matches!(
            decode_exact::<VersionVector<u64>>(&bad),
            Err(DecodeError::Invalid(_))
        ));
    }
    assert_eq!(
        decode_exact::<Timestamp>(&[0; 8]),
        Err(DecodeError::Invalid("timestamp 0"))
    );
    assert!(matches!(
        decode_exact::<NodeTimestamp>(&[0; 16]),
        Err(DecodeError::Invalid(_))
    ));
    assert!(matches!(
        decode_exact::<bool>(&[2]),
        Err(DecodeError::Invalid(_))
    ));
    assert!(matches!(
        decode_exact::<String>(&[2, 0xFF, 0xFE]),
        Err(DecodeError::Invalid(_))
    ));
    // DVV: bad flag, zero dot.
    assert!(matches!(
        decode_exact::<Dvv<u64>>(&[1, 2, 0]),
        Err(DecodeError::Invalid(_))
    ));
    assert!(matches!(
        decode_exact::<Dvv<u64>>(&[1, 1, 5, 0, 0]),
        Err(DecodeError::Invalid(_))
    ));
    // DVVSet: more values than the counter allows.
    let bad_set = [1u8, 1, 7, 1, 2, 10, 11, 0];
    assert!(matches!(
        decode_exact::<DvvSet<u64, u8>>(&bad_set),
        Err(DecodeError::Invalid(_))
    ));
    let good = DvvSet::new(10u8).update(&7u64).unwrap();
    assert_eq!(encode_to_vec(&good), [1, 1, 7, 1, 1, 10, 0]);
    assert_eq!(
        decode_exact::<DvvSet<u64, u8>>(&[1, 1, 7, 1, 1, 10, 0]),
        Ok(good)
    );
    let dot = Dot::new(3u64, 9);
    assert_eq!(decode_exact::<Dot<u64>>(&encode_to_vec(&dot)), Ok(dot));
}

#[test]
fn error_messages_are_lowercase_without_trailing_punctuation() {
    let errors = [
        DecodeError::UnexpectedEnd {
            needed: 1,
            remaining: 0,
        },
        DecodeError::UnsupportedVersion(2),
        DecodeError::TrailingBytes(1),
        DecodeError::InvalidVarint,
        DecodeError::LengthTooLarge {
            len: 1,
            remaining: 0,
        },
        DecodeError::Invalid("x"),
    ];
    for e in errors {
        let s = e.to_string();
        assert!(s.chars().next().unwrap().is_lowercase(), "{s}");
        assert!(!s.ends_with('.'), "{s}");
    }
}
