//! Hybrid logical clock timestamps.

use core::num::NonZeroU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut};

use crate::codec::{Decode, DecodeError, Encode, ensure};

/// Bits of a [`Timestamp`] that hold the logical counter (the low bits).
pub const LOGICAL_BITS: u32 = 16;
/// Mask of the logical counter bits.
pub const LOGICAL_MASK: u64 = (1 << LOGICAL_BITS) - 1;
/// Length of one physical tick in nanoseconds (`2^16` ns, about 65.5 µs).
pub const TICK_NANOS: u64 = 1 << LOGICAL_BITS;

/// A hybrid logical clock timestamp: one `u64`, totally ordered.
///
/// Layout: the high 48 bits are physical time in ticks of `2^16` ns (65.536 µs) since the
/// Unix epoch, the low 16 bits a logical counter. Equivalently the raw value is "nanoseconds
/// since the epoch with the low 16 bits replaced by the counter", so `as_u64()` reads as
/// wall-clock nanoseconds to within 65.5 µs and raw integer order is timestamp order.
///
/// Why this split: the 64 bits give a total range of `2^64` ns (until the year 2554) whatever
/// the split, and a counter of `c` bits in ticks of `2^c` ns allows one stamp per nanosecond
/// per tick on average. 16 bits means 65,536 stamps per 65.5 µs tick, more than a contended
/// atomic can issue (a compare-and-swap costs several nanoseconds), so the counter does not
/// overflow under real load, while keeping physical resolution far below NTP error. (48-bit
/// milliseconds + 16-bit counter allows only 65 stamps per microsecond; a 4-bit counter
/// spilling into the time field, as in `uhlc`, drifts ahead of physical time under load.)
///
/// The inner value is a `NonZeroU64`, so `Option<Timestamp>` is 8 bytes. Raw 0 is not a valid
/// timestamp: [`Timestamp::ZERO`] (and `Default`) is the smallest valid value, raw `1`
/// (physical 0, logical 1), and [`Timestamp::from_u64`] maps 0 to it. Clocks never issue values
/// near either end of the range.
///
/// ```
/// use quorate_clocks::Timestamp;
/// let t = Timestamp::from_parts(1_700_000_000_123_456_789, 5);
/// assert_eq!(t.physical_nanos(), 1_700_000_000_123_456_789 & !0xFFFF);
/// assert_eq!(t.logical(), 5);
/// assert!(t < Timestamp::from_parts(1_700_000_000_123_456_789, 6));
/// assert_eq!(size_of::<Option<Timestamp>>(), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(NonZeroU64);

impl Default for Timestamp {
    /// [`Timestamp::ZERO`].
    fn default() -> Self {
        Self::ZERO
    }
}

impl Timestamp {
    /// The smallest valid timestamp (raw value 1: physical 0, logical 1).
    pub const ZERO: Timestamp = Timestamp(NonZeroU64::MIN);
    /// The largest timestamp (raw `u64::MAX`).
    pub const MAX: Timestamp = Timestamp(NonZeroU64::MAX);

    /// From the raw `u64` form; 0 (not a valid timestamp) maps to [`Timestamp::ZERO`].
    ///
    /// ```
    /// use quorate_clocks::Timestamp;
    /// assert_eq!(Timestamp::from_u64(99).as_u64(), 99);
    /// assert_eq!(Timestamp::from_u64(0), Timestamp::ZERO);
    /// ```
    pub const fn from_u64(raw: u64) -> Self {
        match NonZeroU64::new(raw) {
            Some(n) => Self(n),
            None => Self::ZERO,
        }
    }

    /// From the raw `u64` form; `None` for 0.
    ///
    /// ```
    /// use quorate_clocks::Timestamp;
    /// assert!(Timestamp::try_from_u64(0).is_none());
    /// ```
    pub const fn try_from_u64(raw: u64) -> Option<Self> {
        match NonZeroU64::new(raw) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// The raw `u64` form (order-preserving).
    ///
    /// ```
    /// assert_eq!(quorate_clocks::Timestamp::ZERO.as_u64(), 1);
    /// ```
    pub const fn as_u64(self) -> u64 {
        self.0.get()
    }

    /// From a physical time in nanoseconds since the epoch (rounded down to a tick) and a
    /// logical counter. A result of raw 0 becomes [`Timestamp::ZERO`].
    ///
    /// ```
    /// use quorate_clocks::Timestamp;
    /// let t = Timestamp::from_parts(3 << 16, 9);
    /// assert_eq!((t.physical_nanos(), t.logical()), (3 << 16, 9));
    /// ```
    pub const fn from_parts(physical_nanos: u64, logical: u16) -> Self {
        Self::from_u64((physical_nanos & !LOGICAL_MASK) | logical as u64)
    }

    /// Physical part in nanoseconds since the epoch (a multiple of the 65.536 µs tick).
    ///
    /// ```
    /// assert_eq!(quorate_clocks::Timestamp::from_u64(0x1_0005).physical_nanos(), 0x1_0000);
    /// ```
    pub const fn physical_nanos(self) -> u64 {
        self.as_u64() & !LOGICAL_MASK
    }

    /// The logical counter (low 16 bits).
    ///
    /// ```
    /// assert_eq!(quorate_clocks::Timestamp::from_u64(0x1_0005).logical(), 5);
    /// ```
    pub const fn logical(self) -> u16 {
        (self.as_u64() & LOGICAL_MASK) as u16
    }

    /// The physical part as a `SystemTime`.
    ///
    /// ```
    /// use std::time::UNIX_EPOCH;
    /// let t = quorate_clocks::Timestamp::from_parts(1 << 20, 0);
    /// assert_eq!(t.to_system_time().duration_since(UNIX_EPOCH).unwrap().as_nanos(), 1 << 20);
    /// ```
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.physical_nanos())
    }

    /// The 8-byte big-endian form (byte order = timestamp order).
    ///
    /// ```
    /// use quorate_clocks::Timestamp;
    /// let t = Timestamp::from_u64(0x0102);
    /// assert_eq!(Timestamp::from_be_bytes(t.to_be_bytes()), Some(t));
    /// ```
    pub const fn to_be_bytes(self) -> [u8; 8] {
        self.as_u64().to_be_bytes()
    }

    /// From the 8-byte big-endian form; `None` for all zeros.
    ///
    /// ```
    /// assert!(quorate_clocks::Timestamp::from_be_bytes([0; 8]).is_none());
    /// ```
    pub const fn from_be_bytes(bytes: [u8; 8]) -> Option<Self> {
        Self::try_from_u64(u64::from_be_bytes(bytes))
    }

    /// The next later timestamp (CockroachDB's `Timestamp.Next`): the logical counter plus
    /// one, and at the largest counter (65,535) the next physical tick with counter 0. No
    /// timestamp lies strictly between the two. `None` for [`Timestamp::MAX`], where
    /// CockroachDB panics.
    ///
    /// CockroachDB's wall time counts nanoseconds beside a 32-bit logical counter; ours counts
    /// 65.536 µs ticks beside a 16-bit one, so "the next wall time" is the next tick, and the
    /// carry happens at 65,535 rather than at 2^31 - 1.
    ///
    /// ```
    /// use quorate_clocks::{TICK_NANOS, Timestamp};
    /// let t = Timestamp::from_parts(TICK_NANOS, 2);
    /// assert_eq!(t.next(), Some(Timestamp::from_parts(TICK_NANOS, 3)));
    /// // Carry at the largest logical value.
    /// let full = Timestamp::from_parts(TICK_NANOS, u16::MAX);
    /// assert_eq!(full.next(), Some(Timestamp::from_parts(2 * TICK_NANOS, 0)));
    /// assert_eq!(Timestamp::MAX.next(), None);
    /// ```
    #[must_use]
    pub const fn next(self) -> Option<Self> {
        match self.as_u64().checked_add(1) {
            Some(raw) => Self::try_from_u64(raw),
            None => None,
        }
    }

    /// The next earlier timestamp (CockroachDB's `Timestamp.Prev`): the logical counter minus
    /// one, and at counter 0 the previous tick with the largest counter (65,535). `None` for
    /// [`Timestamp::ZERO`] (physical 0, logical 1): its predecessor, raw 0, is not a valid
    /// timestamp here (CockroachDB returns its empty timestamp and panics only below it).
    ///
    /// ```
    /// use quorate_clocks::{TICK_NANOS, Timestamp};
    /// let t = Timestamp::from_parts(TICK_NANOS, 1);
    /// assert_eq!(t.prev(), Some(Timestamp::from_parts(TICK_NANOS, 0)));
    /// let t0 = Timestamp::from_parts(TICK_NANOS, 0);
    /// assert_eq!(t0.prev(), Some(Timestamp::from_parts(0, u16::MAX)));
    /// assert_eq!(Timestamp::ZERO.prev(), None);
    /// ```
    #[must_use]
    pub const fn prev(self) -> Option<Self> {
        Self::try_from_u64(self.as_u64() - 1)
    }

    /// The first timestamp of the next physical tick, counter 0 (CockroachDB's
    /// `Timestamp.WallNext`, which adds one to the wall time, here one 65.536 µs tick, and
    /// resets the logical counter). `None` in the last tick of the range.
    ///
    /// ```
    /// use quorate_clocks::{TICK_NANOS, Timestamp};
    /// let t = Timestamp::from_parts(TICK_NANOS, 2);
    /// assert_eq!(t.wall_next(), Some(Timestamp::from_parts(2 * TICK_NANOS, 0)));
    /// let full = Timestamp::from_parts(TICK_NANOS, u16::MAX);
    /// assert_eq!(full.wall_next(), Some(Timestamp::from_parts(2 * TICK_NANOS, 0)));
    /// assert_eq!(Timestamp::MAX.wall_next(), None);
    /// ```
    #[must_use]
    pub const fn wall_next(self) -> Option<Self> {
        match (self.as_u64() | LOGICAL_MASK).checked_add(1) {
            Some(raw) => Self::try_from_u64(raw),
            None => None,
        }
    }
}

/// The text form, as CockroachDB prints its timestamps: `<seconds>.<nanoseconds>,<logical>`
/// with exactly nine digits of nanoseconds, or `0,<logical>` when the physical part is 0.
///
/// The physical part is always a whole number of 65.536 µs ticks, so the nanoseconds are
/// those of the tick's start. [`FromStr`](core::str::FromStr) parses this form back exactly.
///
/// ```
/// use quorate_clocks::Timestamp;
/// let t = Timestamp::from_parts(1_700_000_000_123_456_789, 5);
/// assert_eq!(t.to_string(), "1700000000.123404288,5");
/// assert_eq!(Timestamp::ZERO.to_string(), "0,1");
/// assert_eq!("1700000000.123404288,5".parse::<Timestamp>()?, t);
/// # Ok::<(), quorate_clocks::ParseTimestampError>(())
/// ```
impl core::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let p = self.physical_nanos();
        if p == 0 {
            write!(f, "0,{}", self.logical())
        } else {
            write!(
                f,
                "{}.{:09},{}",
                p / 1_000_000_000,
                p % 1_000_000_000,
                self.logical()
            )
        }
    }
}

/// Why a string is not a [`Timestamp`] in its text form.
///
/// ```
/// use quorate_clocks::{ParseTimestampError, Timestamp};
/// assert_eq!("1.5,0".parse::<Timestamp>(), Err(ParseTimestampError::Syntax));
/// assert_eq!("1.000000001,0".parse::<Timestamp>(), Err(ParseTimestampError::NotOnTick));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ParseTimestampError {
    /// Not `<seconds>.<9 digits>[,<logical>]` or `0[,<logical>]`.
    #[error("timestamp syntax is <seconds>.<9 digits>,<logical>")]
    Syntax,
    /// The physical time does not fit in 64 bits of nanoseconds, or the logical counter
    /// is above 65,535.
    #[error("timestamp out of range")]
    OutOfRange,
    /// The physical time is not a whole number of 65.536 µs ticks (round with
    /// [`Timestamp::from_parts`] instead).
    #[error("physical time is not on a 65.536 µs tick")]
    NotOnTick,
    /// Physical 0 and logical 0, which is not a valid timestamp.
    #[error("timestamp 0,0 is not valid")]
    Zero,
}

fn parse_digits(s: &str) -> Result<u64, ParseTimestampError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseTimestampError::Syntax);
    }
    s.parse().map_err(|_| ParseTimestampError::OutOfRange)
}

/// Parses the [`Display`](core::fmt::Display) form: `<seconds>.<nanoseconds>,<logical>`
/// with exactly nine digits of nanoseconds, or `0,<logical>`; the `,<logical>` part may be
/// left out (logical 0). No sign, spaces or other separators.
///
/// ```
/// use quorate_clocks::{TICK_NANOS, Timestamp};
/// assert_eq!("0.000065536,3".parse::<Timestamp>()?, Timestamp::from_parts(TICK_NANOS, 3));
/// assert_eq!("0,1".parse::<Timestamp>()?, Timestamp::ZERO);
/// assert_eq!("0.000065536".parse::<Timestamp>()?, Timestamp::from_parts(TICK_NANOS, 0));
/// # Ok::<(), quorate_clocks::ParseTimestampError>(())
/// ```
impl core::str::FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (wall, logical) = match s.split_once(',') {
            Some((w, l)) => (w, parse_digits(l)?),
            None => (s, 0),
        };
        let logical = u16::try_from(logical).map_err(|_| ParseTimestampError::OutOfRange)?;
        let physical = match wall.split_once('.') {
            None if wall == "0" => 0,
            None => return Err(ParseTimestampError::Syntax),
            Some((secs, nanos)) => {
                if nanos.len() != 9 {
                    return Err(ParseTimestampError::Syntax);
                }
                let secs = parse_digits(secs)?;
                let nanos = parse_digits(nanos)?;
                secs.checked_mul(1_000_000_000)
                    .and_then(|n| n.checked_add(nanos))
                    .ok_or(ParseTimestampError::OutOfRange)?
            }
        };
        if physical & LOGICAL_MASK != 0 {
            return Err(ParseTimestampError::NotOnTick);
        }
        Self::try_from_u64(physical | u64::from(logical)).ok_or(ParseTimestampError::Zero)
    }
}

/// Fixed 8 bytes, big-endian, no version byte; all zeros is rejected.
impl Encode for Timestamp {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u64(self.as_u64());
    }
    fn encoded_len(&self) -> usize {
        8
    }
}

impl Decode for Timestamp {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        ensure(buf, 8)?;
        Self::try_from_u64(buf.get_u64()).ok_or(DecodeError::Invalid("timestamp 0"))
    }
}

/// A node id for totally ordering timestamps across nodes.
///
/// ```
/// let n = quorate_clocks::NodeId(7);
/// assert_eq!(n.0, 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeId(pub u64);

/// Fixed 8 bytes big-endian, no version byte.
impl Encode for NodeId {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u64(self.0);
    }
    fn encoded_len(&self) -> usize {
        8
    }
}

impl Decode for NodeId {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        ensure(buf, 8)?;
        Ok(Self(buf.get_u64()))
    }
}

/// A timestamp tagged with the node that issued it: a total order across nodes.
///
/// Two nodes can issue the same [`Timestamp`]; breaking ties by node id makes every event
/// unique. The node id stays out of the clock's hot word (it never changes) and only joins the
/// timestamp here. Ordering is by timestamp, then node; the 16-byte big-endian encoding
/// (`to_bytes`) sorts bytewise in exactly that order, so it can be used as a key in an ordered
/// store.
///
/// ```
/// use quorate_clocks::{NodeId, NodeTimestamp, Timestamp};
/// let a = NodeTimestamp::new(Timestamp::from_u64(5), NodeId(2));
/// let b = NodeTimestamp::new(Timestamp::from_u64(5), NodeId(3));
/// assert!(a < b && a.to_bytes() < b.to_bytes());
/// assert_eq!(NodeTimestamp::from_bytes(a.to_bytes()), Some(a));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeTimestamp {
    /// The hybrid logical timestamp.
    pub timestamp: Timestamp,
    /// The issuing node.
    pub node: NodeId,
}

impl NodeTimestamp {
    /// Pairs a timestamp with its node.
    ///
    /// ```
    /// use quorate_clocks::{NodeId, NodeTimestamp, Timestamp};
    /// let t = NodeTimestamp::new(Timestamp::ZERO, NodeId(1));
    /// assert_eq!(t.node, NodeId(1));
    /// ```
    pub const fn new(timestamp: Timestamp, node: NodeId) -> Self {
        Self { timestamp, node }
    }

    /// 16 bytes: timestamp then node id, both big-endian. Bytewise order equals `Ord`.
    ///
    /// ```
    /// use quorate_clocks::{NodeId, NodeTimestamp, Timestamp};
    /// let b = NodeTimestamp::new(Timestamp::from_u64(1), NodeId(2)).to_bytes();
    /// assert_eq!(b, [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    /// ```
    pub fn to_bytes(self) -> [u8; 16] {
        ((u128::from(self.timestamp.as_u64()) << 64) | u128::from(self.node.0)).to_be_bytes()
    }

    /// From the 16-byte form; `None` when the timestamp half is zero.
    ///
    /// ```
    /// assert!(quorate_clocks::NodeTimestamp::from_bytes([0; 16]).is_none());
    /// ```
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        let v = u128::from_be_bytes(bytes);
        let timestamp = Timestamp::try_from_u64((v >> 64) as u64)?;
        Some(Self::new(timestamp, NodeId(v as u64)))
    }
}

/// Fixed 16 bytes ([`NodeTimestamp::to_bytes`]), no version byte.
impl Encode for NodeTimestamp {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(&self.to_bytes());
    }
    fn encoded_len(&self) -> usize {
        16
    }
}

impl Decode for NodeTimestamp {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        let bytes = <[u8; 16]>::decode(buf)?;
        Self::from_bytes(bytes).ok_or(DecodeError::Invalid("timestamp 0"))
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serialized as its raw `u64`.
    impl Serialize for Timestamp {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u64(self.as_u64())
        }
    }

    /// Rejects 0.
    impl<'de> Deserialize<'de> for Timestamp {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let raw = u64::deserialize(d)?;
            Timestamp::try_from_u64(raw).ok_or_else(|| serde::de::Error::custom("timestamp 0"))
        }
    }
}
