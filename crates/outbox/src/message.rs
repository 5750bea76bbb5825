//! Messages: ids, headers, what callers enqueue and what the relay hands to a sink.

use std::fmt;

use bytes::{Buf, BufMut, Bytes};
use quorate_clocks::{Decode, DecodeError, Encode, get_len};
use rand::RngCore;

/// The longest ordering key, message type, message id, header name or header value, in bytes.
pub const MAX_FIELD_LEN: usize = 255;

/// The format version byte that starts encoded [`Headers`].
const HEADERS_VERSION: u8 = 1;

/// Why a message (or one of its parts) was refused before touching the database.
///
/// ```
/// use quorate_outbox::{InvalidMessage, MessageId};
/// assert_eq!(MessageId::new(""), Err(InvalidMessage::Empty { field: "message id" }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// A required field is empty.
    #[error("{field} is empty")]
    Empty {
        /// Which field.
        field: &'static str,
    },
    /// A field is longer than [`MAX_FIELD_LEN`] bytes.
    #[error("{field} is {len} bytes long, more than {MAX_FIELD_LEN}")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// A field that travels as a broker header or subject token holds a character outside
    /// printable ASCII.
    #[error("{field} holds a character outside printable ASCII")]
    NotPrintable {
        /// Which field.
        field: &'static str,
    },
}

fn check(field: &'static str, value: &str, printable: bool) -> Result<(), InvalidMessage> {
    if value.is_empty() {
        return Err(InvalidMessage::Empty { field });
    }
    if value.len() > MAX_FIELD_LEN {
        return Err(InvalidMessage::TooLong {
            field,
            len: value.len(),
        });
    }
    if printable && !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidMessage::NotPrintable { field });
    }
    Ok(())
}

/// A message's unique id: the outbox primary key, the inbox dedup key and JetStream's
/// `Nats-Msg-Id`.
///
/// 1 to 255 bytes of printable ASCII without spaces. [`MessageId::random`] draws 128 random
/// bits rendered as 32 hex digits.
///
/// ```
/// use quorate_outbox::MessageId;
/// let id = MessageId::new("order-42-captured")?;
/// assert_eq!(id.as_str(), "order-42-captured");
/// let random = MessageId::random(&mut quorate_retry::FastRng::seed_from_u64(7));
/// assert_eq!(random.as_str().len(), 32);
/// # Ok::<(), quorate_outbox::InvalidMessage>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MessageId(pub(crate) String);

impl MessageId {
    /// Validates `id`.
    ///
    /// ```
    /// assert!(quorate_outbox::MessageId::new("has space").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`InvalidMessage`] when `id` is empty, longer than [`MAX_FIELD_LEN`] or not printable ASCII.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidMessage> {
        let id = id.into();
        check("message id", &id, true)?;
        Ok(Self(id))
    }

    /// 128 random bits from `rng` as 32 lowercase hex digits.
    ///
    /// ```
    /// let mut rng = quorate_retry::FastRng::seed_from_u64(1);
    /// let a = quorate_outbox::MessageId::random(&mut rng);
    /// let b = quorate_outbox::MessageId::random(&mut rng);
    /// assert_ne!(a, b);
    /// ```
    pub fn random<R: RngCore + ?Sized>(rng: &mut R) -> Self {
        let v = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        Self(format!("{v:032x}"))
    }

    /// A time-ordered id: the 48-bit millisecond time `now_ms`, then 80 random bits, as 32 hex
    /// digits (ULID-like). Ids drawn later sort later, so the outbox's unique index on ids
    /// grows at its right edge instead of touching a random page per insert.
    ///
    /// ```
    /// let mut rng = quorate_retry::FastRng::seed_from_u64(1);
    /// let a = quorate_outbox::MessageId::time_ordered(1_000, &mut rng);
    /// let b = quorate_outbox::MessageId::time_ordered(1_001, &mut rng);
    /// assert!(a < b);
    /// assert!(a.as_str().starts_with("0000000003e8"));
    /// ```
    pub fn time_ordered<R: RngCore + ?Sized>(now_ms: i64, rng: &mut R) -> Self {
        let time = u128::from(u64::try_from(now_ms.max(0)).unwrap_or(0) & 0xFFFF_FFFF_FFFF);
        let random = (u128::from(rng.next_u64()) << 16 | u128::from(rng.next_u32() & 0xFFFF))
            & ((1u128 << 80) - 1);
        Self(format!("{:032x}", time << 80 | random))
    }

    /// The id as text.
    ///
    /// ```
    /// assert_eq!(quorate_outbox::MessageId::new("a")?.as_str(), "a");
    /// # Ok::<(), quorate_outbox::InvalidMessage>(())
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps an id read back from our own tables (validated again: a stored row is input).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn from_stored(id: String) -> Result<Self, crate::StoreError> {
        check("message id", &id, true).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
        Ok(Self(id))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Message headers: an ordered list of name/value pairs (names may repeat).
///
/// Stored as one binary column in the quorate codec (a version byte, then the pairs).
///
/// ```
/// use quorate_outbox::Headers;
/// let mut h = Headers::new();
/// h.insert("trace-id", "abc")?;
/// assert_eq!(h.get("trace-id"), Some("abc"));
/// assert_eq!(Headers::decode_bytes(&h.encode_bytes()), Ok(h));
/// # Ok::<(), quorate_outbox::InvalidMessage>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    ///
    /// ```
    /// assert!(quorate_outbox::Headers::new().is_empty());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends a header.
    ///
    /// ```
    /// let mut h = quorate_outbox::Headers::new();
    /// h.insert("a", "1")?;
    /// assert_eq!(h.len(), 1);
    /// # Ok::<(), quorate_outbox::InvalidMessage>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`InvalidMessage`] when the name is empty, not printable ASCII or either part is longer
    /// than [`MAX_FIELD_LEN`].
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), InvalidMessage> {
        let (name, value) = (name.into(), value.into());
        check("header name", &name, true)?;
        if value.len() > MAX_FIELD_LEN {
            return Err(InvalidMessage::TooLong {
                field: "header value",
                len: value.len(),
            });
        }
        self.0.push((name, value));
        Ok(())
    }

    /// The first value of `name`.
    ///
    /// ```
    /// assert_eq!(quorate_outbox::Headers::new().get("x"), None);
    /// ```
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs in insertion order.
    ///
    /// ```
    /// assert_eq!(quorate_outbox::Headers::new().iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many pairs.
    ///
    /// ```
    /// assert_eq!(quorate_outbox::Headers::new().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No pairs.
    ///
    /// ```
    /// assert!(quorate_outbox::Headers::default().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stored form: version byte, pair count, then name and value strings.
    ///
    /// ```
    /// assert_eq!(quorate_outbox::Headers::new().encode_bytes(), [1, 0]);
    /// ```
    #[must_use]
    pub fn encode_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf
    }

    /// Reads the stored form back; never panics, never allocates from an unchecked length.
    ///
    /// ```
    /// assert!(quorate_outbox::Headers::decode_bytes(&[9]).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`DecodeError`] for a wrong version, truncated or trailing input, bad UTF-8 or a pair that
    /// [`Headers::insert`] would refuse.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        quorate_clocks::decode_exact(bytes)
    }
}

impl Encode for Headers {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(HEADERS_VERSION);
        quorate_clocks::put_varint(buf, self.0.len() as u64);
        for (n, v) in &self.0 {
            n.encode(buf);
            v.encode(buf);
        }
    }

    fn encoded_len(&self) -> usize {
        1 + (self.0.len() as u64).encoded_len()
            + self
                .0
                .iter()
                .map(|(n, v)| n.encoded_len() + v.encoded_len())
                .sum::<usize>()
    }
}

impl Decode for Headers {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        let version = u8::decode(buf)?;
        if version != HEADERS_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        // Each pair takes at least two bytes (two zero lengths).
        let n = get_len(buf, 2)?;
        let mut out = Headers(Vec::with_capacity(n));
        for _ in 0..n {
            let name = String::decode(buf)?;
            let value = String::decode(buf)?;
            out.insert(name, value)
                .map_err(|_| DecodeError::Invalid("header outside the accepted form"))?;
        }
        Ok(out)
    }
}

/// A message to enqueue: ordering key, type, payload, headers and optionally a caller-chosen id.
///
/// The ordering key is the aggregate (Debezium's `aggregateid`): messages with the same key are
/// published in the order their transactions committed; different keys proceed in parallel.
///
/// ```
/// use quorate_outbox::NewMessage;
/// let msg = NewMessage::new("payment-17", "payment.captured", &b"{}"[..])?
///     .with_header("trace-id", "t1")?;
/// assert_eq!(msg.key(), "payment-17");
/// # Ok::<(), quorate_outbox::InvalidMessage>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewMessage {
    pub(crate) id: Option<MessageId>,
    pub(crate) key: String,
    pub(crate) msg_type: String,
    pub(crate) payload: Bytes,
    pub(crate) headers: Headers,
}

impl NewMessage {
    /// A message with a random id drawn at enqueue time.
    ///
    /// ```
    /// assert!(quorate_outbox::NewMessage::new("", "t", &b""[..]).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`InvalidMessage`] when the key or the type is empty, longer than [`MAX_FIELD_LEN`], or
    /// the type is not printable ASCII (it may become a subject token).
    pub fn new(
        key: impl Into<String>,
        msg_type: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Result<Self, InvalidMessage> {
        let (key, msg_type) = (key.into(), msg_type.into());
        check("ordering key", &key, false)?;
        check("message type", &msg_type, true)?;
        Ok(Self {
            id: None,
            key,
            msg_type,
            payload: payload.into(),
            headers: Headers::new(),
        })
    }

    /// Uses `id` instead of a random one (for example a business event id, so that enqueueing
    /// the same event twice fails instead of publishing twice).
    ///
    /// ```
    /// use quorate_outbox::{MessageId, NewMessage};
    /// let m = NewMessage::new("k", "t", &b""[..])?.with_id(MessageId::new("e-1")?);
    /// assert_eq!(m.id().map(MessageId::as_str), Some("e-1"));
    /// # Ok::<(), quorate_outbox::InvalidMessage>(())
    /// ```
    #[must_use]
    pub fn with_id(mut self, id: MessageId) -> Self {
        self.id = Some(id);
        self
    }

    /// Adds a header.
    ///
    /// ```
    /// let m = quorate_outbox::NewMessage::new("k", "t", &b""[..])?.with_header("a", "b")?;
    /// assert_eq!(m.headers().get("a"), Some("b"));
    /// # Ok::<(), quorate_outbox::InvalidMessage>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Headers::insert`].
    pub fn with_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, InvalidMessage> {
        self.headers.insert(name, value)?;
        Ok(self)
    }

    /// The caller-chosen id, if any.
    ///
    /// ```
    /// assert!(quorate_outbox::NewMessage::new("k", "t", &b""[..])?.id().is_none());
    /// # Ok::<(), quorate_outbox::InvalidMessage>(())
    /// ```
    #[must_use]
    pub fn id(&self) -> Option<&MessageId> {
        self.id.as_ref()
    }

    /// The ordering key.
    ///
    /// ```
    /// assert_eq!(quorate_outbox::NewMessage::new("k", "t", &b""[..])?.key(), "k");
    /// # Ok::<(), quorate_outbox::InvalidMessage>(())
    /// ```
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The headers.
    ///
    /// ```
    /// assert!(quorate_outbox::NewMessage::new("k", "t", &b""[..])?.headers().is_empty());
    /// # Ok::<(), quorate_outbox::InvalidMessage>(())
    /// ```
    #[must_use]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }
}

/// A pending message as the relay hands it to a [`Sink`](crate::Sink).
///
/// ```
/// use quorate_outbox::{MemoryOutbox, NewMessage, Outbox};
/// let store = MemoryOutbox::new();
/// let outbox = Outbox::builder().build();
/// let mut tx = store.begin();
/// let id = outbox.enqueue(&mut tx, &NewMessage::new("k", "t", &b"x"[..])?)?;
/// tx.commit();
/// let pending = store.pending_messages();
/// assert_eq!(pending[0].id(), &id);
/// assert_eq!(pending[0].payload().as_ref(), b"x");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutboxMessage {
    pub(crate) seq: i64,
    pub(crate) id: MessageId,
    pub(crate) key: String,
    pub(crate) key_seq: i64,
    pub(crate) msg_type: String,
    pub(crate) payload: Bytes,
    pub(crate) headers: Headers,
    pub(crate) created_at_ms: i64,
    pub(crate) attempts: u32,
}

impl OutboxMessage {
    /// The message id (JetStream's `Nats-Msg-Id`, the inbox's dedup key).
    #[must_use]
    pub fn id(&self) -> &MessageId {
        &self.id
    }
    /// The store position (the `seq` column): unique in the store, assigned at insert, not
    /// ordered by commit. Used to name the message in a [`BatchOutcome`](crate::BatchOutcome).
    #[must_use]
    pub fn position(&self) -> i64 {
        self.seq
    }
    /// The ordering key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The position within the ordering key, in commit order (1, 2, ...).
    #[must_use]
    pub fn key_seq(&self) -> i64 {
        self.key_seq
    }
    /// The message type.
    #[must_use]
    pub fn msg_type(&self) -> &str {
        &self.msg_type
    }
    /// The payload.
    #[must_use]
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
    /// The headers.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }
    /// Enqueue time, milliseconds since the Unix epoch (from the outbox's wall clock).
    #[must_use]
    pub fn created_at_ms(&self) -> i64 {
        self.created_at_ms
    }
    /// Failed publish attempts so far.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// A message moved to the dead-letter table.
///
/// ```
/// use quorate_outbox::{DeadReason, RelayStore as _, MemoryOutbox};
/// let mut store = MemoryOutbox::new();
/// assert!(store.dead_letters(10)?.is_empty());
/// # Ok::<(), quorate_outbox::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeadLetter {
    /// The message as it was pending.
    pub message: OutboxMessage,
    /// Why it was dead-lettered.
    pub reason: DeadReason,
    /// The last publish error (or the crash-loop note).
    pub last_error: String,
    /// When, milliseconds since the Unix epoch.
    pub dead_at_ms: i64,
}

/// Why a message went to the dead-letter table.
///
/// ```
/// assert_eq!(quorate_outbox::DeadReason::from_code(2), Some(quorate_outbox::DeadReason::CrashLoop));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum DeadReason {
    /// The maximum number of attempts failed.
    MaxAttempts,
    /// Relays kept dying while publishing it (started minus finished attempts over the limit).
    CrashLoop,
    /// The sink called the failure permanent.
    Permanent,
}

impl DeadReason {
    /// The stored code.
    #[must_use]
    pub const fn code(self) -> i16 {
        match self {
            Self::MaxAttempts => 1,
            Self::CrashLoop => 2,
            Self::Permanent => 3,
        }
    }
    /// From the stored code.
    #[must_use]
    pub const fn from_code(code: i16) -> Option<Self> {
        match code {
            1 => Some(Self::MaxAttempts),
            2 => Some(Self::CrashLoop),
            3 => Some(Self::Permanent),
            _ => None,
        }
    }
}
