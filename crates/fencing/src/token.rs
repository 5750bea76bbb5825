//! Fencing tokens and epochs: the numbers a resource compares to refuse a stale holder.

use std::fmt;

use bytes::{Buf, BufMut};
use quorate_clocks::{Decode, DecodeError, Encode, get_varint, put_varint};

macro_rules! monotone_number {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(u64);

        impl $name {
            #[doc = concat!("The smallest ", $what, ", `0`: below every one an issuer hands out.")]
            ///
            /// Issuers start at 1, so a resource that has seen nothing holds `ZERO` and accepts
            /// any issued value.
            pub const ZERO: Self = Self(0);
            #[doc = concat!("The largest ", $what, "; [`next`](Self::next) of it is `None`.")]
            pub const MAX: Self = Self(u64::MAX);

            #[doc = concat!("A ", $what, " with the given value.")]
            ///
            /// ```
            #[doc = concat!("use quorate_fencing::", stringify!($name), ";")]
            #[doc = concat!("assert_eq!(", stringify!($name), "::new(7).get(), 7);")]
            /// ```
            #[must_use]
            pub const fn new(value: u64) -> Self {
                Self(value)
            }

            /// The raw value.
            ///
            /// ```
            #[doc = concat!("use quorate_fencing::", stringify!($name), ";")]
            #[doc = concat!("assert_eq!(", stringify!($name), "::new(3).get(), 3);")]
            /// ```
            #[must_use]
            pub const fn get(self) -> u64 {
                self.0
            }

            #[doc = concat!("The ", $what, " after this one, or `None` at [`MAX`](Self::MAX).")]
            ///
            /// ```
            #[doc = concat!("use quorate_fencing::", stringify!($name), ";")]
            #[doc = concat!("assert_eq!(", stringify!($name), "::new(1).next(), Some(", stringify!($name), "::new(2)));")]
            #[doc = concat!("assert_eq!(", stringify!($name), "::MAX.next(), None);")]
            /// ```
            #[must_use]
            pub const fn next(self) -> Option<Self> {
                match self.0.checked_add(1) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<u64> for $name {
            fn from(value: u64) -> Self {
                Self(value)
            }
        }

        impl From<$name> for u64 {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        /// A minimal LEB128 varint, no version byte (a fixed-shape value, like a timestamp).
        impl Encode for $name {
            fn encode<B: BufMut>(&self, buf: &mut B) {
                put_varint(buf, self.0);
            }
            fn encoded_len(&self) -> usize {
                self.0.encoded_len()
            }
        }

        impl Decode for $name {
            fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
                get_varint(buf).map(Self)
            }
        }
    };
}

monotone_number!(
    /// A fencing token: a number that strictly increases with every grant of a lock or lease.
    ///
    /// The holder sends its token with every write; the resource remembers the highest token it
    /// has accepted and refuses lower ones. A holder that paused, lost its lease and woke up
    /// still believing it holds the lock is refused by the resource itself, whatever the holder
    /// believes. Tokens order like the integers they wrap.
    ///
    /// ```
    /// use quorate_fencing::FencingToken;
    /// use quorate_clocks::{decode_exact, encode_to_vec};
    ///
    /// let old = FencingToken::new(33);
    /// let new = FencingToken::new(34);
    /// assert!(old < new);
    /// assert_eq!(old.next(), Some(new));
    /// assert_eq!(decode_exact::<FencingToken>(&encode_to_vec(&new)), Ok(new));
    /// ```
    FencingToken,
    "token"
);

monotone_number!(
    /// An epoch: a generation number for a leader, an attempt or a configuration.
    ///
    /// Epochs order like tokens; the difference is the role. A token is handed out per grant
    /// and checked per write; an epoch names a period (a leader's term, an idempotent attempt)
    /// and is written into a resource once, when the period starts (fence-on-acquire), so that
    /// every later write from an older period fails.
    ///
    /// ```
    /// use quorate_fencing::Epoch;
    ///
    /// let term = Epoch::new(4);
    /// assert!(term > Epoch::ZERO);
    /// assert_eq!(term.to_string(), "4");
    /// ```
    Epoch,
    "epoch"
);

impl From<FencingToken> for Epoch {
    /// The epoch that a grant's token opens: the same number.
    fn from(token: FencingToken) -> Self {
        Self(token.0)
    }
}

impl From<Epoch> for FencingToken {
    /// The token that carries an epoch: the same number.
    fn from(epoch: Epoch) -> Self {
        Self(epoch.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_clocks::{decode_exact, encode_to_vec};

    #[test]
    fn tokens_round_trip_and_reject_overlong_varints() {
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            let t = FencingToken::new(v);
            let bytes = encode_to_vec(&t);
            assert_eq!(bytes.len(), t.encoded_len());
            assert_eq!(decode_exact::<FencingToken>(&bytes), Ok(t));
        }
        assert_eq!(
            decode_exact::<FencingToken>(&[0x80, 0x00]),
            Err(DecodeError::InvalidVarint)
        );
        assert!(decode_exact::<Epoch>(&[]).is_err());
    }

    #[test]
    fn next_stops_at_max() {
        assert_eq!(Epoch::new(u64::MAX - 1).next(), Some(Epoch::MAX));
        assert_eq!(Epoch::MAX.next(), None);
    }
}
