//! Lamport clocks.

use bytes::{Buf, BufMut};

use crate::codec::{Decode, DecodeError, Encode, get_varint, put_varint, varint_len};
use crate::dot::CounterOverflow;
use crate::sync::{AtomicU64, Ordering};

/// A plain (single-owner) Lamport clock: a counter that orders events consistently with
/// happens-before.
///
/// If event `a` happened before `b` (same process, or `a` sent a message received before `b`),
/// then `time(a) < time(b)`. The converse does not hold: use a
/// [`VersionVector`](crate::VersionVector) to detect concurrency. Counters never wrap:
/// reaching `u64::MAX` is an error.
///
/// ```
/// use quorate_clocks::Lamport;
/// let mut a = Lamport::new();
/// let mut b = Lamport::new();
/// let sent = a.tick()?;
/// let received = b.recv(sent)?;
/// assert!(received > sent);
/// # Ok::<(), quorate_clocks::CounterOverflow>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Lamport(u64);

impl Lamport {
    /// A clock at 0 (no events yet).
    ///
    /// ```
    /// assert_eq!(quorate_clocks::Lamport::new().get(), 0);
    /// ```
    pub const fn new() -> Self {
        Self(0)
    }

    /// A clock at `time`.
    ///
    /// ```
    /// assert_eq!(quorate_clocks::Lamport::at(5).get(), 5);
    /// ```
    pub const fn at(time: u64) -> Self {
        Self(time)
    }

    /// The current time (of the last event).
    ///
    /// ```
    /// let mut c = quorate_clocks::Lamport::new();
    /// c.tick()?;
    /// assert_eq!(c.get(), 1);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub const fn get(self) -> u64 {
        self.0
    }

    /// A local event or a send: increments and returns the new time.
    ///
    /// ```
    /// let mut c = quorate_clocks::Lamport::new();
    /// assert_eq!(c.tick()?, 1);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] at `u64::MAX`; the clock is unchanged.
    pub fn tick(&mut self) -> Result<u64, CounterOverflow> {
        self.0 = self.0.checked_add(1).ok_or(CounterOverflow)?;
        Ok(self.0)
    }

    /// A receive: `max(local, remote) + 1`, returned.
    ///
    /// ```
    /// let mut c = quorate_clocks::Lamport::at(3);
    /// assert_eq!(c.recv(10)?, 11);
    /// assert_eq!(c.recv(2)?, 12);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when the result would exceed `u64::MAX`; the clock is unchanged.
    pub fn recv(&mut self, remote: u64) -> Result<u64, CounterOverflow> {
        self.0 = self.0.max(remote).checked_add(1).ok_or(CounterOverflow)?;
        Ok(self.0)
    }

    /// Raises the clock to at least `remote` without counting an event.
    ///
    /// ```
    /// let mut c = quorate_clocks::Lamport::at(3);
    /// c.observe(10);
    /// assert_eq!(c.get(), 10);
    /// ```
    pub fn observe(&mut self, remote: u64) {
        self.0 = self.0.max(remote);
    }
}

/// A varint, no version byte.
impl Encode for Lamport {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put_varint(buf, self.0);
    }
    fn encoded_len(&self) -> usize {
        varint_len(self.0)
    }
}

impl Decode for Lamport {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, DecodeError> {
        get_varint(buf).map(Self)
    }
}

/// A thread-safe Lamport clock: one atomic counter shared by all threads of a node.
///
/// Same rules as [`Lamport`], lock-free: `tick` and `recv` are a checked compare-and-swap (one
/// load and one CAS when uncontended; never a wrapping `fetch_add`, since a concurrent receive
/// may move the clock to `u64::MAX` at any moment), `observe` a load plus (only when the remote
/// is ahead) one `fetch_max`.
///
/// ```
/// use std::sync::Arc;
/// use quorate_clocks::LamportClock;
/// let clock = Arc::new(LamportClock::new());
/// let c2 = Arc::clone(&clock);
/// let t = std::thread::spawn(move || c2.tick()).join().unwrap()?;
/// assert!(clock.tick()? > t);
/// # Ok::<(), quorate_clocks::CounterOverflow>(())
/// ```
#[derive(Debug, Default)]
pub struct LamportClock {
    time: AtomicU64,
}

impl LamportClock {
    /// A clock at 0.
    ///
    /// ```
    /// assert_eq!(quorate_clocks::LamportClock::new().get(), 0);
    /// ```
    pub fn new() -> Self {
        Self::at(0)
    }

    /// A clock at `time` (for example restored from disk).
    ///
    /// ```
    /// assert_eq!(quorate_clocks::LamportClock::at(9).get(), 9);
    /// ```
    pub fn at(time: u64) -> Self {
        Self {
            time: AtomicU64::new(time),
        }
    }

    /// The current time.
    ///
    /// ```
    /// assert_eq!(quorate_clocks::LamportClock::at(2).get(), 2);
    /// ```
    pub fn get(&self) -> u64 {
        self.time.load(Ordering::Acquire)
    }

    /// A local event or a send: increments and returns the new time (unique across threads).
    ///
    /// ```
    /// let c = quorate_clocks::LamportClock::new();
    /// assert_eq!(c.tick()?, 1);
    /// assert_eq!(c.tick()?, 2);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] at `u64::MAX`; the clock is unchanged.
    #[inline]
    pub fn tick(&self) -> Result<u64, CounterOverflow> {
        // A checked compare-and-swap, not `fetch_add`: a concurrent `recv`/`observe` may move the
        // clock to `u64::MAX` between any check and an unconditional add, which would then wrap
        // the shared counter to 0 (found by the loom model
        // `lamport_tick_never_wraps_past_a_concurrent_jump`).
        self.update(|t| t.checked_add(1))
    }

    /// A receive: sets the clock to `max(local, remote) + 1` and returns it.
    ///
    /// ```
    /// let c = quorate_clocks::LamportClock::at(3);
    /// assert_eq!(c.recv(10)?, 11);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CounterOverflow`] when the result would exceed `u64::MAX`; the clock is unchanged.
    pub fn recv(&self, remote: u64) -> Result<u64, CounterOverflow> {
        self.update(|t| t.max(remote).checked_add(1))
    }

    /// Raises the clock to at least `remote` without counting an event.
    ///
    /// ```
    /// let c = quorate_clocks::LamportClock::new();
    /// c.observe(7);
    /// assert_eq!(c.tick()?, 8);
    /// # Ok::<(), quorate_clocks::CounterOverflow>(())
    /// ```
    pub fn observe(&self, remote: u64) {
        if remote > self.time.load(Ordering::Acquire) {
            self.time.fetch_max(remote, Ordering::AcqRel);
        }
    }

    fn update(&self, f: impl Fn(u64) -> Option<u64>) -> Result<u64, CounterOverflow> {
        let mut cur = self.time.load(Ordering::Acquire);
        loop {
            let next = f(cur).ok_or(CounterOverflow)?;
            match self
                .time
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(next),
                Err(actual) => cur = actual,
            }
        }
    }
}
