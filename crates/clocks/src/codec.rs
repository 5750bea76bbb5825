//! The binary codec shared by every quorate crate that puts data on the wire.
//!
//! Encoding writes into any [`bytes::BufMut`]; decoding reads from any [`bytes::Buf`] and is
//! defensive: every length is checked against the remaining input before anything is allocated,
//! varints reject overlong and overflowing forms, invariants are validated, and no input can make
//! a decoder panic. Fixed-size values (integers, [`Timestamp`](crate::Timestamp),
//! [`Dot`](crate::Dot)) carry no version byte; top-level messages
//! ([`VersionVector`](crate::VersionVector), [`Dvv`](crate::Dvv), [`DvvSet`](crate::DvvSet))
//! start with one so the format can evolve.
//!
//! | type | encoding |
//! |---|---|
//! | `u8` | one byte |
//! | `u16`, `u32`, `u64` | LEB128 varint (minimal form only) |
//! | `i64` | zigzag, then varint |
//! | `u128` | 16 bytes big-endian |
//! | `bool` | one byte, `0` or `1` |
//! | `[u8; N]` | `N` raw bytes |
//! | `Vec<u8>`, `String` | varint length, then the bytes (UTF-8 checked) |

use bytes::{Buf, BufMut};

/// Why a byte string could not be decoded.
///
/// Decoders return this instead of panicking on any input: truncated, overlong, corrupt or
/// hostile.
///
/// ```
/// use quorate_clocks::{DecodeError, decode_exact};
/// let err = decode_exact::<u64>(&[0x80]).unwrap_err();
/// assert_eq!(err, DecodeError::UnexpectedEnd { needed: 1, remaining: 0 });
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value was complete.
    #[error("unexpected end of input: needed {needed} more bytes, {remaining} remaining")]
    UnexpectedEnd {
        /// Bytes the decoder needed at that point.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// The version byte names a format this build does not understand.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The value decoded but bytes were left over (from [`decode_exact`]).
    #[error("trailing bytes after the value: {0}")]
    TrailingBytes(usize),
    /// A varint was overlong, longer than ten bytes or overflowed its target integer.
    #[error("invalid varint")]
    InvalidVarint,
    /// A length prefix claims more items than the remaining input could hold.
    #[error("length {len} too large for the {remaining} remaining bytes")]
    LengthTooLarge {
        /// The claimed length.
        len: u64,
        /// Bytes that were left.
        remaining: usize,
    },
    /// The bytes are well formed but violate an invariant of the type.
    #[error("invalid value: {0}")]
    Invalid(&'static str),
}

/// A type with a compact binary encoding.
///
/// `encoded_len` returns exactly the number of bytes `encode` writes, so callers can size
/// buffers up front.
///
/// ```
/// use quorate_clocks::{Encode, decode_exact};
/// let mut buf = Vec::new();
/// 300u64.encode(&mut buf);
/// assert_eq!(buf.len(), 300u64.encoded_len());
/// assert_eq!(decode_exact::<u64>(&buf), Ok(300));
/// ```
pub trait Encode {
    /// Appends the encoding of `self` to `buf`.
    fn encode<B: BufMut>(&self, buf: &mut B);
    /// The exact number of bytes [`Encode::encode`] writes.
    fn encoded_len(&self) -> usize;
}

/// A type that can be read back from its [`Encode`] form.
///
/// ```
/// use quorate_clocks::Decode;
/// let mut input: &[u8] = &[0x01, 0xAC, 0x02];
/// assert_eq!(bool::decode(&mut input), Ok(true));
/// assert_eq!(u64::decode(&mut input), Ok(300));
/// ```
pub trait Decode: Sized {
    /// Reads one value from the front of `buf`.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the input is truncated, malformed or violates the type's
    /// invariants. Decoders never panic.
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError>;
}

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
///
/// ```
/// let mut buf = Vec::new();
/// quorate_clocks::put_varint(&mut buf, 300);
/// assert_eq!(buf, [0xAC, 0x02]);
/// ```
pub fn put_varint<B: BufMut>(buf: &mut B, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Reads an unsigned LEB128 varint written by [`put_varint`].
///
/// Only the minimal encoding is accepted, so every value has exactly one byte form.
///
/// ```
/// use quorate_clocks::{get_varint, DecodeError};
/// assert_eq!(get_varint(&mut &[0xAC, 0x02][..]), Ok(300));
/// assert_eq!(get_varint(&mut &[0x80, 0x00][..]), Err(DecodeError::InvalidVarint)); // overlong
/// ```
///
/// # Errors
///
/// [`DecodeError::UnexpectedEnd`] on truncated input, [`DecodeError::InvalidVarint`] on an
/// overlong encoding or one that overflows 64 bits.
pub fn get_varint<B: Buf>(buf: &mut B) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    loop {
        if !buf.has_remaining() {
            return Err(DecodeError::UnexpectedEnd {
                needed: 1,
                remaining: 0,
            });
        }
        let byte = buf.get_u8();
        let low = u64::from(byte & 0x7F);
        if shift == 63 && low > 1 {
            return Err(DecodeError::InvalidVarint);
        }
        value |= low << shift;
        if byte & 0x80 == 0 {
            if byte == 0 && shift > 0 {
                return Err(DecodeError::InvalidVarint);
            }
            return Ok(value);
        }
        shift += 7;
        if shift > 63 {
            return Err(DecodeError::InvalidVarint);
        }
    }
}

/// The number of bytes [`put_varint`] writes for `v`.
///
/// ```
/// assert_eq!(quorate_clocks::varint_len(127), 1);
/// assert_eq!(quorate_clocks::varint_len(128), 2);
/// assert_eq!(quorate_clocks::varint_len(u64::MAX), 10);
/// ```
pub const fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads a varint item count and checks it against the remaining input.
///
/// `min_item_size` is the fewest bytes one item can occupy; a count that could not fit in the
/// remaining bytes is rejected before the caller allocates anything for it. A `min_item_size`
/// of 0 counts as 1, so the count never exceeds the remaining input whatever the caller passes.
///
/// ```
/// use quorate_clocks::{get_len, DecodeError};
/// assert_eq!(get_len(&mut &[2, 0xAA, 0xBB][..], 1), Ok(2));
/// assert!(matches!(get_len(&mut &[200, 1][..], 1), Err(DecodeError::LengthTooLarge { .. })));
/// ```
///
/// # Errors
///
/// Any [`get_varint`] error, or [`DecodeError::LengthTooLarge`] when
/// `count * min_item_size` exceeds the remaining bytes.
pub fn get_len<B: Buf>(buf: &mut B, min_item_size: usize) -> Result<usize, DecodeError> {
    let len = get_varint(buf)?;
    let remaining = buf.remaining();
    let fits = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_mul(min_item_size.max(1)))
        .is_some_and(|bytes| bytes <= remaining);
    if !fits {
        return Err(DecodeError::LengthTooLarge { len, remaining });
    }
    // `fits` implies the conversion succeeded.
    usize::try_from(len).map_err(|_| DecodeError::LengthTooLarge { len, remaining })
}

/// Decodes one `T` from the whole of `bytes`.
///
/// ```
/// use quorate_clocks::{decode_exact, DecodeError};
/// assert_eq!(decode_exact::<u8>(&[7]), Ok(7));
/// assert_eq!(decode_exact::<u8>(&[7, 8]), Err(DecodeError::TrailingBytes(1)));
/// ```
///
/// # Errors
///
/// Whatever `T::decode` returns, or [`DecodeError::TrailingBytes`] when input is left over.
pub fn decode_exact<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut input = bytes;
    let value = T::decode(&mut input)?;
    if input.is_empty() {
        Ok(value)
    } else {
        Err(DecodeError::TrailingBytes(input.len()))
    }
}

/// Encodes `value` into a new, exactly sized `Vec<u8>`.
///
/// ```
/// use quorate_clocks::{encode_to_vec, decode_exact};
/// let bytes = encode_to_vec(&"hi".to_string());
/// assert_eq!(bytes, [2, b'h', b'i']);
/// assert_eq!(decode_exact::<String>(&bytes).as_deref(), Ok("hi"));
/// ```
pub fn encode_to_vec<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut buf = Vec::with_capacity(value.encoded_len());
    value.encode(&mut buf);
    buf
}

/// Checks that `needed` bytes remain.
pub(crate) fn ensure<B: Buf>(buf: &B, needed: usize) -> Result<(), DecodeError> {
    let remaining = buf.remaining();
    if remaining < needed {
        Err(DecodeError::UnexpectedEnd { needed, remaining })
    } else {
        Ok(())
    }
}

/// Reads and checks a version byte.
pub(crate) fn get_version<B: Buf>(buf: &mut B, supported: u8) -> Result<(), DecodeError> {
    let v = u8::decode(buf)?;
    if v == supported {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion(v))
    }
}

impl Encode for u8 {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(*self);
    }
    fn encoded_len(&self) -> usize {
        1
    }
}

impl Decode for u8 {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        ensure(buf, 1)?;
        Ok(buf.get_u8())
    }
}

macro_rules! varint_uint {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode<B: BufMut>(&self, buf: &mut B) {
                put_varint(buf, u64::from(*self));
            }
            fn encoded_len(&self) -> usize {
                varint_len(u64::from(*self))
            }
        }
        impl Decode for $t {
            fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
                <$t>::try_from(get_varint(buf)?).map_err(|_| DecodeError::InvalidVarint)
            }
        }
    )*};
}
varint_uint!(u16, u32, u64);

impl Encode for i64 {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put_varint(buf, zigzag(*self));
    }
    fn encoded_len(&self) -> usize {
        varint_len(zigzag(*self))
    }
}

impl Decode for i64 {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        let z = get_varint(buf)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

impl Encode for u128 {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u128(*self);
    }
    fn encoded_len(&self) -> usize {
        16
    }
}

impl Decode for u128 {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        ensure(buf, 16)?;
        Ok(buf.get_u128())
    }
}

impl Encode for bool {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(u8::from(*self));
    }
    fn encoded_len(&self) -> usize {
        1
    }
}

impl Decode for bool {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        match u8::decode(buf)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("bool must be 0 or 1")),
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(self);
    }
    fn encoded_len(&self) -> usize {
        N
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        ensure(buf, N)?;
        let mut out = [0u8; N];
        buf.copy_to_slice(&mut out);
        Ok(out)
    }
}

impl Encode for [u8] {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put_varint(buf, self.len() as u64);
        buf.put_slice(self);
    }
    fn encoded_len(&self) -> usize {
        varint_len(self.len() as u64) + self.len()
    }
}

impl Encode for Vec<u8> {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        self.as_slice().encode(buf);
    }
    fn encoded_len(&self) -> usize {
        self.as_slice().encoded_len()
    }
}

impl Decode for Vec<u8> {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        let len = get_len(buf, 1)?;
        let mut out = vec![0u8; len];
        buf.copy_to_slice(&mut out);
        Ok(out)
    }
}

impl Encode for str {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        self.as_bytes().encode(buf);
    }
    fn encoded_len(&self) -> usize {
        self.as_bytes().encoded_len()
    }
}

impl Encode for String {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        self.as_str().encode(buf);
    }
    fn encoded_len(&self) -> usize {
        self.as_str().encoded_len()
    }
}

impl Decode for String {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        String::from_utf8(Vec::<u8>::decode(buf)?)
            .map_err(|_| DecodeError::Invalid("string is not valid UTF-8"))
    }
}
