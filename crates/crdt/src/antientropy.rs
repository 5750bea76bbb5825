//! A thread-safe anti-entropy driver: delta buffers, acknowledgements, full-state fallback.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use quorate_clocks::{Actor, VersionVector};

use crate::error::ValidationError;
use crate::sync::Mutex;
use crate::traits::DeltaCrdt;

/// A message between two [`AntiEntropy`] replicas.
///
/// Sequence numbers count the sender's local mutations. `Delta` carries the join of every delta
/// the receiver has not acknowledged yet, so a lost message is repaired by the next one; `Full`
/// is the fallback when the sender no longer buffers what the receiver misses.
///
/// ```
/// use quorate_crdt::{AntiEntropy, GCounter, SyncMessage};
/// let a = AntiEntropy::new(GCounter::<u8>::new(), 8)?;
/// a.add_peer(2);
/// a.mutate(|c| c.increment(1, 1))?;
/// match a.outgoing(&2) {
///     Some(SyncMessage::Full { to, .. }) => assert_eq!(to, 1), // first contact: full state
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum SyncMessage<C: DeltaCrdt<A>, A: Actor> {
    /// The deltas of the sender's mutations `from..=to`, joined.
    Delta {
        /// First sequence number covered.
        from: u64,
        /// Last sequence number covered.
        to: u64,
        /// The delta group.
        delta: C::Delta,
    },
    /// The sender's whole state, which includes its mutations up to `to`.
    Full {
        /// Last sequence number covered.
        to: u64,
        /// The state.
        state: C,
    },
    /// The receiver has applied the sender's mutations up to `to`.
    Ack {
        /// Highest contiguous sequence number applied.
        to: u64,
    },
    /// The receiver saw a gap (it has applied only up to `applied`) and needs the full state.
    Gap {
        /// Highest contiguous sequence number applied.
        applied: u64,
    },
    /// "Send me what I miss": the sender's summary, answered with `Since`.
    Request {
        /// The requester's summary.
        summary: VersionVector<A>,
    },
    /// The answer to `Request`: `delta_since(summary)`.
    Since {
        /// The delta.
        delta: C::Delta,
    },
}

impl<C: DeltaCrdt<A>, A: Actor> fmt::Debug for SyncMessage<C, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Delta { from, to, delta } => f
                .debug_struct("Delta")
                .field("from", from)
                .field("to", to)
                .field("delta", delta)
                .finish(),
            Self::Full { to, state } => f
                .debug_struct("Full")
                .field("to", to)
                .field("state", state)
                .finish(),
            Self::Ack { to } => f.debug_struct("Ack").field("to", to).finish(),
            Self::Gap { applied } => f.debug_struct("Gap").field("applied", applied).finish(),
            Self::Request { summary } => {
                f.debug_struct("Request").field("summary", summary).finish()
            }
            Self::Since { delta } => f.debug_struct("Since").field("delta", delta).finish(),
        }
    }
}

/// Why an incoming [`SyncMessage`] was rejected.
///
/// ```
/// use quorate_crdt::SyncError;
/// assert_eq!(SyncError::UnknownPeer.to_string(), "message from an unknown peer");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The sender was never added with [`AntiEntropy::add_peer`].
    #[error("message from an unknown peer")]
    UnknownPeer,
    /// The payload failed validation; the local replica is unchanged.
    #[error("invalid payload: {0}")]
    Invalid(#[from] ValidationError),
}

/// Invalid [`AntiEntropy`] configuration.
///
/// ```
/// use quorate_crdt::{AntiEntropy, ConfigError, GCounter};
/// let err = AntiEntropy::<GCounter<u8>, u8>::new(GCounter::new(), 0).unwrap_err();
/// assert_eq!(err, ConfigError::ZeroBuffer);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The delta buffer must hold at least one delta.
    #[error("delta buffer capacity must be at least 1")]
    ZeroBuffer,
}

#[derive(Debug, Default, Clone)]
struct Peer {
    /// Highest of our sequence numbers the peer acknowledged.
    acked: u64,
    /// The peer misses deltas we no longer buffer: send the full state.
    need_full: bool,
    /// Sequence number of the last full state sent while `need_full`.
    full_at: u64,
    /// Highest contiguous sequence number of the peer's mutations we applied.
    received: u64,
}

struct Inner<C: DeltaCrdt<A>, A: Actor> {
    state: C,
    seq: u64,
    log: VecDeque<(u64, C::Delta)>,
    peers: BTreeMap<A, Peer>,
    capacity: usize,
}

/// Delta-state anti-entropy between replicas of one CRDT, shareable across threads.
///
/// Each local mutation's delta is logged with a sequence number. For each peer the driver
/// remembers the highest acknowledged number and sends the join of everything after it, so
/// dropped, duplicated and reordered messages are all harmless: deltas are idempotent and the
/// next message covers what a lost one carried. The log is trimmed as peers acknowledge; when
/// it would exceed its capacity, the oldest deltas are dropped and peers that still needed them
/// get the full state instead (the same fallback Akka Distributed Data uses). A receiver that
/// sees a gap (for example after losing its own state) answers `Gap`, which also triggers the
/// full state.
///
/// Every method takes `&self` behind one mutex: mutations can run on several threads while
/// another thread drives synchronization (checked with a loom model).
///
/// ```
/// use quorate_crdt::{AntiEntropy, GCounter};
/// let a = AntiEntropy::new(GCounter::<u8>::new(), 64)?;
/// let b = AntiEntropy::new(GCounter::<u8>::new(), 64)?;
/// a.add_peer(2);
/// b.add_peer(1);
/// a.mutate(|c| c.increment(1, 5))?;
/// let msg = a.outgoing(&2).expect("a delta for b");
/// let ack = b.receive(&1, msg)?.expect("an ack");
/// a.receive(&2, ack)?;
/// assert_eq!(b.read(|c| c.value()), 5);
/// assert!(a.outgoing(&2).is_none()); // acknowledged: nothing left to send
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AntiEntropy<C: DeltaCrdt<A>, A: Actor> {
    inner: Mutex<Inner<C, A>>,
}

impl<C: DeltaCrdt<A>, A: Actor> fmt::Debug for AntiEntropy<C, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.inner.lock();
        f.debug_struct("AntiEntropy")
            .field("state", &g.state)
            .field("seq", &g.seq)
            .field("buffered", &g.log.len())
            .field("peers", &g.peers)
            .finish()
    }
}

impl<C: DeltaCrdt<A>, A: Actor> AntiEntropy<C, A> {
    /// A driver around `state`, buffering at most `capacity` deltas.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroBuffer`] when `capacity` is 0.
    ///
    /// ```
    /// use quorate_crdt::{AntiEntropy, GCounter};
    /// let d = AntiEntropy::<_, u8>::new(GCounter::<u8>::new(), 16)?;
    /// assert_eq!(d.read(|c| c.value()), 0);
    /// # Ok::<(), quorate_crdt::ConfigError>(())
    /// ```
    pub fn new(state: C, capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::ZeroBuffer);
        }
        Ok(Self {
            inner: Mutex::new(Inner {
                state,
                seq: 0,
                log: VecDeque::new(),
                peers: BTreeMap::new(),
                capacity,
            }),
        })
    }

    /// Starts tracking `peer` (which will first get the full state).
    ///
    /// ```
    /// use quorate_crdt::{AntiEntropy, GCounter, SyncMessage};
    /// let d = AntiEntropy::<_, u8>::new(GCounter::<u8>::new(), 16)?;
    /// d.add_peer(2);
    /// assert!(matches!(d.outgoing(&2), Some(SyncMessage::Full { .. })));
    /// # Ok::<(), quorate_crdt::ConfigError>(())
    /// ```
    pub fn add_peer(&self, peer: A) {
        let mut g = self.inner.lock();
        let seq = g.seq;
        g.peers.entry(peer).or_insert(Peer {
            acked: 0,
            need_full: true,
            full_at: seq,
            received: 0,
        });
    }

    /// Stops tracking `peer` and releases the deltas only it still needed.
    ///
    /// ```
    /// use quorate_crdt::{AntiEntropy, GCounter};
    /// let d = AntiEntropy::<_, u8>::new(GCounter::<u8>::new(), 16)?;
    /// d.add_peer(2);
    /// d.remove_peer(&2);
    /// assert!(d.outgoing(&2).is_none());
    /// # Ok::<(), quorate_crdt::ConfigError>(())
    /// ```
    pub fn remove_peer(&self, peer: &A) {
        let mut g = self.inner.lock();
        g.peers.remove(peer);
        g.trim();
    }

    /// Runs a delta mutator on the state and buffers the delta for every peer.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns; nothing is buffered then.
    ///
    /// ```
    /// use quorate_crdt::{AntiEntropy, OrSet};
    /// let d = AntiEntropy::<_, u8>::new(OrSet::<&str, u8>::new(), 16)?;
    /// d.mutate(|s| s.add(1, "x"))?;
    /// assert!(d.read(|s| s.contains(&"x")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mutate<E, F>(&self, f: F) -> Result<(), E>
    where
        F: FnOnce(&mut C) -> Result<C::Delta, E>,
    {
        let mut g = self.inner.lock();
        let delta = f(&mut g.state)?;
        g.seq += 1;
        let seq = g.seq;
        if !g.peers.is_empty() {
            g.log.push_back((seq, delta));
            g.trim();
        }
        Ok(())
    }

    /// Reads the state.
    ///
    /// ```
    /// use quorate_crdt::{AntiEntropy, GCounter};
    /// let d = AntiEntropy::<_, u8>::new(GCounter::<u8>::new(), 16)?;
    /// assert_eq!(d.read(|c| c.value()), 0);
    /// # Ok::<(), quorate_crdt::ConfigError>(())
    /// ```
    pub fn read<R>(&self, f: impl FnOnce(&C) -> R) -> R {
        f(&self.inner.lock().state)
    }

    /// Number of deltas currently buffered.
    ///
    /// ```
    /// use quorate_crdt::{AntiEntropy, GCounter};
    /// let d = AntiEntropy::<_, u8>::new(GCounter::<u8>::new(), 16)?;
    /// assert_eq!(d.buffered(), 0);
    /// # Ok::<(), quorate_crdt::ConfigError>(())
    /// ```
    pub fn buffered(&self) -> usize {
        self.inner.lock().log.len()
    }

    /// The next message for `peer`, if it misses anything we know of.
    ///
    /// ```
    /// use quorate_crdt::{AntiEntropy, GCounter};
    /// let d = AntiEntropy::<_, u8>::new(GCounter::<u8>::new(), 16)?;
    /// assert!(d.outgoing(&9).is_none()); // unknown peer
    /// # Ok::<(), quorate_crdt::ConfigError>(())
    /// ```
    pub fn outgoing(&self, peer: &A) -> Option<SyncMessage<C, A>> {
        let mut g = self.inner.lock();
        let seq = g.seq;
        let p = g.peers.get(peer)?.clone();
        if p.need_full {
            if let Some(pm) = g.peers.get_mut(peer) {
                pm.full_at = seq;
            }
            return Some(SyncMessage::Full {
                to: seq,
                state: g.state.clone(),
            });
        }
        if p.acked >= seq {
            return None;
        }
        let mut group: Option<C::Delta> = None;
        for (s, d) in &g.log {
            if *s <= p.acked {
                continue;
            }
            match &mut group {
                None => group = Some(d.clone()),
                Some(acc) => C::merge_delta(acc, d),
            }
        }
        group.map(|delta| SyncMessage::Delta {
            from: p.acked + 1,
            to: seq,
            delta,
        })
    }

    /// A request for what this replica misses from a peer (answered with `Since`).
    ///
    /// ```
    /// use quorate_crdt::{AntiEntropy, SyncMessage, GCounter};
    /// let d = AntiEntropy::<_, u8>::new(GCounter::<u8>::new(), 16)?;
    /// assert!(matches!(d.request(), SyncMessage::Request { .. }));
    /// # Ok::<(), quorate_crdt::ConfigError>(())
    /// ```
    pub fn request(&self) -> SyncMessage<C, A> {
        SyncMessage::Request {
            summary: self.inner.lock().state.summary(),
        }
    }

    /// Handles a message from `peer`; returns the reply to send back, if any.
    ///
    /// Payloads are validated before they touch the state.
    ///
    /// # Errors
    ///
    /// [`SyncError::UnknownPeer`] for a peer never added (except `Request`/`Since`, which need no
    /// bookkeeping), [`SyncError::Invalid`] for a payload that fails validation (the state is
    /// unchanged).
    ///
    /// ```
    /// use quorate_crdt::{AntiEntropy, GCounter, SyncError, SyncMessage};
    /// let d = AntiEntropy::<_, u8>::new(GCounter::<u8>::new(), 16)?;
    /// let err = d.receive(&7, SyncMessage::Ack { to: 1 }).unwrap_err();
    /// assert_eq!(err, SyncError::UnknownPeer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive(
        &self,
        peer: &A,
        msg: SyncMessage<C, A>,
    ) -> Result<Option<SyncMessage<C, A>>, SyncError> {
        let mut g = self.inner.lock();
        let g = &mut *g;
        match msg {
            SyncMessage::Request { summary } => Ok(Some(SyncMessage::Since {
                delta: g.state.delta_since(&summary),
            })),
            SyncMessage::Since { delta } => {
                g.state.try_join_delta(&delta)?;
                Ok(None)
            }
            SyncMessage::Delta { from, to, delta } => {
                let p = g.peers.get_mut(peer).ok_or(SyncError::UnknownPeer)?;
                if from > p.received.saturating_add(1) {
                    return Ok(Some(SyncMessage::Gap {
                        applied: p.received,
                    }));
                }
                g.state.try_join_delta(&delta)?;
                p.received = p.received.max(to);
                Ok(Some(SyncMessage::Ack { to: p.received }))
            }
            SyncMessage::Full { to, state } => {
                let p = g.peers.get_mut(peer).ok_or(SyncError::UnknownPeer)?;
                g.state.try_join(&state)?;
                p.received = p.received.max(to);
                Ok(Some(SyncMessage::Ack { to: p.received }))
            }
            SyncMessage::Ack { to } => {
                let seq = g.seq;
                let p = g.peers.get_mut(peer).ok_or(SyncError::UnknownPeer)?;
                p.acked = p.acked.max(to.min(seq));
                if p.need_full && to >= p.full_at {
                    p.need_full = false;
                }
                g.trim();
                Ok(None)
            }
            SyncMessage::Gap { applied } => {
                let p = g.peers.get_mut(peer).ok_or(SyncError::UnknownPeer)?;
                p.acked = p.acked.max(applied);
                p.need_full = true;
                Ok(None)
            }
        }
    }
}

impl<C: DeltaCrdt<A>, A: Actor> Inner<C, A> {
    /// Drops deltas every peer has acknowledged, and the oldest ones beyond capacity (peers that
    /// still needed those fall back to the full state).
    fn trim(&mut self) {
        let min_acked = self
            .peers
            .values()
            .map(|p| if p.need_full { p.full_at } else { p.acked })
            .min()
            .unwrap_or(self.seq);
        while self.log.front().is_some_and(|(s, _)| *s <= min_acked) {
            self.log.pop_front();
        }
        while self.log.len() > self.capacity {
            if let Some((s, _)) = self.log.pop_front() {
                for p in self.peers.values_mut() {
                    if p.need_full {
                        if p.full_at < s {
                            // A full state already in flight misses `s`: only an
                            // acknowledgement of a newer one may clear the flag.
                            p.full_at = u64::MAX;
                        }
                    } else if p.acked < s {
                        p.need_full = true;
                        p.full_at = u64::MAX;
                    }
                }
            }
        }
    }
}
