//! Shared pieces of the canonical binary encoding.
//!
//! Every top-level CRDT message is `version byte, type tag, actor table, body`. The actor table
//! lists each actor that occurs in the value once, in ascending order; the body refers to actors
//! by their index in the table, so a dot costs two small varints however large the actor id is.
//! Collections are written in ascending order and decoders reject anything else, so equal
//! states always produce identical bytes.

use std::collections::BTreeSet;

use bytes::{Buf, BufMut};
use quorate_clocks::{
    Decode, DecodeError, Dot, Encode, get_len, get_varint, put_varint, varint_len,
};

/// Format version written as the first byte of every top-level CRDT encoding.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Output of the encoder: either real bytes or a length count, so `encoded_len` is exact
/// without a scratch buffer.
#[allow(unreachable_pub)] // Plumbing of the sealed `Store` trait.
pub trait Sink {
    fn byte(&mut self, b: u8);
    fn varint(&mut self, v: u64);
    fn item<T: Encode + ?Sized>(&mut self, t: &T);
}

pub(crate) struct BufSink<'a, B: BufMut>(pub(crate) &'a mut B);

impl<B: BufMut> Sink for BufSink<'_, B> {
    fn byte(&mut self, b: u8) {
        self.0.put_u8(b);
    }
    fn varint(&mut self, v: u64) {
        put_varint(self.0, v);
    }
    fn item<T: Encode + ?Sized>(&mut self, t: &T) {
        t.encode(self.0);
    }
}

#[derive(Default)]
pub(crate) struct LenSink(pub(crate) usize);

impl Sink for LenSink {
    fn byte(&mut self, _b: u8) {
        self.0 += 1;
    }
    fn varint(&mut self, v: u64) {
        self.0 += varint_len(v);
    }
    fn item<T: Encode + ?Sized>(&mut self, t: &T) {
        self.0 += t.encoded_len();
    }
}

/// Writes a collection length.
pub(crate) fn put_len<S: Sink>(s: &mut S, n: usize) {
    s.varint(n as u64);
}

/// The sorted, de-duplicated actors of a value, used to encode actors as small indices.
#[allow(unreachable_pub)] // Plumbing of the sealed `Store` trait.
#[derive(Debug)]
pub struct ActorTable<A> {
    actors: Vec<A>,
}

impl<A: Ord + Clone> ActorTable<A> {
    pub(crate) fn from_set(set: BTreeSet<A>) -> Self {
        Self {
            actors: set.into_iter().collect(),
        }
    }

    /// Index of `a` (always present for tables built from the value being encoded).
    pub(crate) fn index(&self, a: &A) -> u64 {
        match self.actors.binary_search(a) {
            Ok(i) | Err(i) => i as u64,
        }
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S)
    where
        A: Encode,
    {
        put_len(s, self.actors.len());
        for a in &self.actors {
            s.item(a);
        }
    }

    pub(crate) fn put_dot<S: Sink>(&self, s: &mut S, d: &Dot<A>) {
        s.varint(self.index(&d.actor));
        s.varint(d.counter);
    }
}

/// Reads an actor table: strictly ascending actors.
pub(crate) fn read_actors<A: Decode + Ord, B: Buf>(buf: &mut B) -> Result<Vec<A>, DecodeError> {
    let n = get_len(buf, 1)?;
    let mut out: Vec<A> = Vec::with_capacity(n);
    for _ in 0..n {
        let a = A::decode(buf)?;
        if out.last().is_some_and(|p| *p >= a) {
            return Err(DecodeError::Invalid("actor table not strictly ascending"));
        }
        out.push(a);
    }
    Ok(out)
}

pub(crate) fn read_actor<A: Clone, B: Buf>(buf: &mut B, actors: &[A]) -> Result<A, DecodeError> {
    let i = get_varint(buf)?;
    usize::try_from(i)
        .ok()
        .and_then(|i| actors.get(i))
        .cloned()
        .ok_or(DecodeError::Invalid("actor index out of range"))
}

/// Reads a dot (actor index, counter >= 1).
pub(crate) fn read_dot<A: Clone, B: Buf>(buf: &mut B, actors: &[A]) -> Result<Dot<A>, DecodeError> {
    let actor = read_actor(buf, actors)?;
    let counter = get_varint(buf)?;
    if counter == 0 {
        return Err(DecodeError::Invalid("dot counter is zero"));
    }
    Ok(Dot { actor, counter })
}

/// Reads and checks the header: version byte and type tag.
pub(crate) fn read_header<B: Buf>(buf: &mut B, tag: u8) -> Result<(), DecodeError> {
    let version = u8::decode(buf)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let t = u8::decode(buf)?;
    if t != tag {
        return Err(DecodeError::Invalid("type tag does not match"));
    }
    Ok(())
}

pub(crate) fn write_header<S: Sink>(s: &mut S, tag: u8) {
    s.byte(FORMAT_VERSION);
    s.byte(tag);
}

/// Type tags of the top-level encodings.
pub(crate) mod tag {
    pub(crate) const GCOUNTER: u8 = 1;
    pub(crate) const PNCOUNTER: u8 = 2;
    pub(crate) const GSET: u8 = 3;
    pub(crate) const TWOPSET: u8 = 4;
    pub(crate) const LWW: u8 = 5;
    pub(crate) const CAUSAL: u8 = 6;
    pub(crate) const CAUSAL_DELTA: u8 = 7;
}

/// A 128-bit digest of a state's canonical encoding.
///
/// Two replicas compare digests to find out cheaply whether they already agree (anti-entropy
/// rounds skip the transfer when digests match). Equal states always have equal digests because
/// the encoding is canonical. The hash is FNV-1a over 128 bits: fast and well distributed, but
/// **not** cryptographic; do not use it against an adversary who picks states.
///
/// ```
/// use quorate_crdt::GCounter;
/// let mut a = GCounter::<u8>::new();
/// a.increment(1, 5)?;
/// let b = a.clone();
/// assert_eq!(a.digest(), b.digest());
/// a.increment(2, 1)?;
/// assert_ne!(a.digest(), b.digest());
/// # Ok::<(), quorate_clocks::CounterOverflow>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Digest(pub u128);

const FNV_OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
const FNV_PRIME: u128 = 0x0000000001000000000000000000013B;

pub(crate) struct DigestSink {
    pub(crate) hash: u128,
    /// Reused buffer for encoding items (keys, values, actors) before hashing them.
    scratch: Vec<u8>,
}

impl DigestSink {
    pub(crate) fn new() -> Self {
        Self {
            hash: FNV_OFFSET,
            scratch: Vec::new(),
        }
    }
}

// Hashes the encoding as it is produced (varints through a stack buffer, items through a reused
// scratch vector) instead of implementing the unsafe `BufMut` trait.
impl Sink for DigestSink {
    fn byte(&mut self, b: u8) {
        self.hash ^= u128::from(b);
        self.hash = self.hash.wrapping_mul(FNV_PRIME);
    }
    fn varint(&mut self, v: u64) {
        let mut tmp = [0u8; 10];
        let mut slice: &mut [u8] = &mut tmp;
        put_varint(&mut slice, v);
        let n = varint_len(v);
        for b in tmp.iter().take(n) {
            self.byte(*b);
        }
    }
    fn item<T: Encode + ?Sized>(&mut self, t: &T) {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        t.encode(&mut v);
        for b in &v {
            self.byte(*b);
        }
        self.scratch = v;
    }
}

/// Implemented by every CRDT with a canonical encoding: the pieces shared by `Encode`, the
/// length computation and the digest.
pub(crate) trait Canonical {
    fn write<S: Sink>(&self, s: &mut S);
}

/// Implements `Encode` (and `digest`) for a type with a `Canonical` impl.
macro_rules! impl_encode_via_canonical {
    ([$($gen:tt)*] $ty:ty) => {
        impl<$($gen)*> quorate_clocks::Encode for $ty {
            fn encode<BM: bytes::BufMut>(&self, buf: &mut BM) {
                $crate::codec::Canonical::write(self, &mut $crate::codec::BufSink(buf));
            }
            fn encoded_len(&self) -> usize {
                let mut s = $crate::codec::LenSink::default();
                $crate::codec::Canonical::write(self, &mut s);
                s.0
            }
        }
    };
}
pub(crate) use impl_encode_via_canonical;

/// Digest of any canonical value.
pub(crate) fn digest_of<T: Canonical>(t: &T) -> Digest {
    let mut s = DigestSink::new();
    t.write(&mut s);
    Digest(s.hash)
}

/// Serde support through the canonical encoding: a value serializes as its encoded bytes and
/// deserializing runs the validating decoder.
#[cfg(feature = "serde")]
macro_rules! impl_serde_via_codec {
    ([$($gen:tt)*] $ty:ty) => {
        #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
        impl<$($gen)*> serde::Serialize for $ty
        where
            $ty: quorate_clocks::Encode,
        {
            fn serialize<SE: serde::Serializer>(&self, serializer: SE) -> Result<SE::Ok, SE::Error> {
                let bytes = quorate_clocks::encode_to_vec(self);
                serializer.serialize_bytes(&bytes)
            }
        }
        #[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
        impl<'de, $($gen)*> serde::Deserialize<'de> for $ty
        where
            $ty: quorate_clocks::Decode,
        {
            fn deserialize<DE: serde::Deserializer<'de>>(deserializer: DE) -> Result<Self, DE::Error> {
                let bytes = $crate::codec::serde_bytes::deserialize(deserializer)?;
                quorate_clocks::decode_exact(&bytes).map_err(serde::de::Error::custom)
            }
        }
    };
}
#[cfg(not(feature = "serde"))]
macro_rules! impl_serde_via_codec {
    ([$($gen:tt)*] $ty:ty) => {};
}
pub(crate) use impl_serde_via_codec;

#[cfg(feature = "serde")]
pub(crate) mod serde_bytes {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use std::fmt;

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Vec<u8>, S::Error> {
            // Cap the pre-allocation: the size hint comes from the input.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_bytes(BytesVisitor)
    }
}
