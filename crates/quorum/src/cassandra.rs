//! Cassandra consistency levels over multi-datacenter replication.
//!
//! Semantics follow Apache Cassandra's `ConsistencyLevel`: `blockFor` is the
//! number of replica responses the coordinator waits for, and a write adds the
//! pending (bootstrapping or moving) replicas that will own the data, so that
//! the write still reaches enough replicas once the range movement completes.
//! Local levels count only the coordinator's datacenter (and only its pending
//! replicas); `EACH_QUORUM` needs a quorum of every datacenter, each raised by
//! that datacenter's pending replicas.

use crate::error::ConsistencyError;

/// A Cassandra consistency level.
///
/// ```
/// use quorate_quorum::ConsistencyLevel;
/// assert!(ConsistencyLevel::LocalQuorum.is_datacenter_local());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ConsistencyLevel {
    /// Writes only: one ack from any replica, or a hint stored by the coordinator.
    Any,
    /// One replica in any datacenter.
    #[default]
    One,
    /// Two replicas.
    Two,
    /// Three replicas.
    Three,
    /// A majority of all replicas across datacenters: `sum(rf) / 2 + 1`.
    Quorum,
    /// One replica in the local datacenter.
    LocalOne,
    /// A majority of the local datacenter's replicas.
    LocalQuorum,
    /// A majority in every datacenter.
    EachQuorum,
    /// Every replica.
    All,
}

impl ConsistencyLevel {
    /// Whether only the local datacenter's responses count.
    ///
    /// ```
    /// assert!(!quorate_quorum::ConsistencyLevel::Quorum.is_datacenter_local());
    /// ```
    #[must_use]
    pub fn is_datacenter_local(self) -> bool {
        matches!(
            self,
            ConsistencyLevel::LocalOne | ConsistencyLevel::LocalQuorum
        )
    }
}

/// Read or write.
///
/// ```
/// assert_ne!(quorate_quorum::Operation::Read, quorate_quorum::Operation::Write);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Operation {
    /// A read: pending replicas do not count.
    #[default]
    Read,
    /// A write: pending replicas raise the requirement.
    Write,
}

/// How many acks a level needs, and from where.
///
/// ```
/// use quorate_quorum::{ConsistencyLevel, Operation, Replication, Requirement};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let r = Replication::new(&[3, 2], 0)?;
/// assert_eq!(r.required(ConsistencyLevel::Quorum, Operation::Read)?, Requirement::Total(3));
/// assert_eq!(r.required(ConsistencyLevel::EachQuorum, Operation::Read)?, Requirement::EachDatacenter);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Requirement {
    /// This many acks from replicas in any datacenter.
    Total(u32),
    /// This many acks from the local datacenter.
    Local(u32),
    /// [`Replication::required_in`] acks in every datacenter.
    EachDatacenter,
}

/// Replication factor and pending replicas of one datacenter.
///
/// ```
/// let dc = quorate_quorum::Datacenter { replicas: 3, pending: 1 };
/// assert_eq!(dc.replicas + dc.pending, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Datacenter {
    /// Replication factor (natural replicas).
    pub replicas: u32,
    /// Pending replicas (joining or moving nodes that will own the range).
    pub pending: u32,
}

/// A keyspace's replication across datacenters, seen from a coordinator in `local`.
///
/// ```
/// use quorate_quorum::{ConsistencyLevel, Datacenter, Operation, Replication};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let r = Replication::with_pending(
///     vec![Datacenter { replicas: 3, pending: 1 }, Datacenter { replicas: 3, pending: 0 }],
///     0,
/// )?;
/// // QUORUM of 6 is 4; a write also waits for the pending replica: 5.
/// assert!(!r.is_satisfied(ConsistencyLevel::Quorum, Operation::Write, &[3, 1], 0)?);
/// assert!(r.is_satisfied(ConsistencyLevel::Quorum, Operation::Write, &[3, 2], 0)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Replication {
    dcs: Vec<Datacenter>,
    local: usize,
}

fn quorum_for(rf: u32) -> u32 {
    rf / 2 + 1
}

impl Replication {
    /// Replication factors per datacenter, no pending replicas.
    ///
    /// # Errors
    ///
    /// As [`Replication::with_pending`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let r = quorate_quorum::Replication::new(&[3, 3], 1)?;
    /// assert_eq!(r.total_replicas(), 6);
    /// # Ok(()) }
    /// ```
    pub fn new(replication_factors: &[u32], local: usize) -> Result<Self, ConsistencyError> {
        Self::with_pending(
            replication_factors
                .iter()
                .map(|&replicas| Datacenter {
                    replicas,
                    pending: 0,
                })
                .collect(),
            local,
        )
    }

    /// Datacenters with pending replicas; `local` is the coordinator's.
    ///
    /// # Errors
    ///
    /// [`ConsistencyError::NoDatacenters`], [`ConsistencyError::UnknownLocalDatacenter`],
    /// [`ConsistencyError::Overflow`] when the counts overflow `u32`.
    ///
    /// ```
    /// use quorate_quorum::{ConsistencyError, Replication};
    /// assert_eq!(Replication::new(&[3], 1), Err(ConsistencyError::UnknownLocalDatacenter { index: 1 }));
    /// ```
    pub fn with_pending(dcs: Vec<Datacenter>, local: usize) -> Result<Self, ConsistencyError> {
        if dcs.is_empty() {
            return Err(ConsistencyError::NoDatacenters);
        }
        if local >= dcs.len() {
            return Err(ConsistencyError::UnknownLocalDatacenter { index: local });
        }
        dcs.iter()
            .try_fold(0u32, |a, d| {
                a.checked_add(d.replicas)?.checked_add(d.pending)
            })
            .ok_or(ConsistencyError::Overflow)?;
        Ok(Replication { dcs, local })
    }

    /// The datacenters.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// assert_eq!(quorate_quorum::Replication::new(&[3, 2], 0)?.datacenters().len(), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn datacenters(&self) -> &[Datacenter] {
        &self.dcs
    }

    /// Sum of replication factors.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// assert_eq!(quorate_quorum::Replication::new(&[3, 2], 0)?.total_replicas(), 5);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn total_replicas(&self) -> u32 {
        self.dcs.iter().map(|d| d.replicas).sum()
    }

    fn total_pending(&self) -> u32 {
        self.dcs.iter().map(|d| d.pending).sum()
    }

    fn local_dc(&self) -> Datacenter {
        self.dcs.get(self.local).copied().unwrap_or_default()
    }

    /// Cassandra's `blockFor` (reads) or `blockForWrite` (writes).
    ///
    /// As in Cassandra, the count does not shrink to fit the replicas: `TWO`
    /// and `THREE` still require 2 and 3 acks with fewer replicas, and a local
    /// level in a datacenter with no replicas still requires one (Cassandra
    /// answers such requests with an `UnavailableException`; here no set of
    /// acks satisfies them).
    ///
    /// # Errors
    ///
    /// [`ConsistencyError::AnyIsWriteOnly`] for `ANY` reads.
    ///
    /// ```
    /// use quorate_quorum::{ConsistencyLevel as CL, Datacenter, Operation, Replication, Requirement};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let r = Replication::with_pending(
    ///     vec![Datacenter { replicas: 3, pending: 1 }, Datacenter { replicas: 5, pending: 2 }],
    ///     0,
    /// )?;
    /// assert_eq!(r.required(CL::LocalQuorum, Operation::Write)?, Requirement::Local(3));
    /// assert_eq!(r.required(CL::All, Operation::Write)?, Requirement::Total(11));
    /// # Ok(()) }
    /// ```
    pub fn required(
        &self,
        level: ConsistencyLevel,
        op: Operation,
    ) -> Result<Requirement, ConsistencyError> {
        use ConsistencyLevel as CL;
        let write = op == Operation::Write;
        let all_pending = if write { self.total_pending() } else { 0 };
        let local_pending = if write { self.local_dc().pending } else { 0 };
        Ok(match level {
            CL::Any if !write => return Err(ConsistencyError::AnyIsWriteOnly),
            // ANY never adds pending replicas: a hint satisfies it.
            CL::Any => Requirement::Total(1),
            CL::One => Requirement::Total(all_pending.saturating_add(1)),
            CL::Two => Requirement::Total(all_pending.saturating_add(2)),
            CL::Three => Requirement::Total(all_pending.saturating_add(3)),
            CL::Quorum => {
                Requirement::Total(quorum_for(self.total_replicas()).saturating_add(all_pending))
            }
            CL::All => Requirement::Total(self.total_replicas().saturating_add(all_pending)),
            CL::LocalOne => Requirement::Local(local_pending.saturating_add(1)),
            CL::LocalQuorum => Requirement::Local(
                quorum_for(self.local_dc().replicas).saturating_add(local_pending),
            ),
            CL::EachQuorum => Requirement::EachDatacenter,
        })
    }

    /// Acks needed from datacenter `dc` for `level` (`0` where the datacenter
    /// is not constrained on its own, or `dc` is unknown).
    ///
    /// ```
    /// use quorate_quorum::{ConsistencyLevel as CL, Datacenter, Operation, Replication};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let r = Replication::with_pending(
    ///     vec![Datacenter { replicas: 3, pending: 0 }, Datacenter { replicas: 2, pending: 1 }],
    ///     0,
    /// )?;
    /// assert_eq!(r.required_in(CL::EachQuorum, Operation::Write, 1), 3);
    /// assert_eq!(r.required_in(CL::EachQuorum, Operation::Read, 1), 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn required_in(&self, level: ConsistencyLevel, op: Operation, dc: usize) -> u32 {
        let Some(d) = self.dcs.get(dc) else { return 0 };
        let pending = if op == Operation::Write { d.pending } else { 0 };
        match level {
            ConsistencyLevel::EachQuorum => quorum_for(d.replicas).saturating_add(pending),
            ConsistencyLevel::LocalOne | ConsistencyLevel::LocalQuorum if dc == self.local => {
                match self.required(level, op) {
                    Ok(Requirement::Local(n)) => n,
                    _ => 0,
                }
            }
            _ => 0,
        }
    }

    /// Whether `acks[dc]` replica acknowledgements per datacenter (pending
    /// replicas' acks included) satisfy `level`. `hints` counts hints stored by
    /// the coordinator, which satisfy only `ANY`.
    ///
    /// # Errors
    ///
    /// [`ConsistencyError::WrongLength`] unless there is one count per
    /// datacenter; [`ConsistencyError::AnyIsWriteOnly`] for `ANY` reads.
    ///
    /// ```
    /// use quorate_quorum::{ConsistencyLevel as CL, Operation, Replication};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let r = Replication::new(&[3, 3], 0)?;
    /// assert!(r.is_satisfied(CL::LocalQuorum, Operation::Write, &[2, 0], 0)?);
    /// assert!(!r.is_satisfied(CL::EachQuorum, Operation::Write, &[3, 1], 0)?);
    /// assert!(r.is_satisfied(CL::Any, Operation::Write, &[0, 0], 1)?);
    /// # Ok(()) }
    /// ```
    pub fn is_satisfied(
        &self,
        level: ConsistencyLevel,
        op: Operation,
        acks: &[u32],
        hints: u32,
    ) -> Result<bool, ConsistencyError> {
        if acks.len() != self.dcs.len() {
            return Err(ConsistencyError::WrongLength {
                expected: self.dcs.len(),
                got: acks.len(),
            });
        }
        let total: u64 = acks.iter().map(|&a| u64::from(a)).sum();
        Ok(match self.required(level, op)? {
            Requirement::Total(n) if level == ConsistencyLevel::Any => {
                total + u64::from(hints) >= u64::from(n)
            }
            Requirement::Total(n) => total >= u64::from(n),
            Requirement::Local(n) => acks.get(self.local).copied().unwrap_or(0) >= n,
            Requirement::EachDatacenter => (0..self.dcs.len())
                .all(|dc| acks.get(dc).copied().unwrap_or(0) >= self.required_in(level, op, dc)),
        })
    }
}

#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct ReplicationRaw {
    dcs: Vec<Datacenter>,
    local: usize,
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Replication {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = ReplicationRaw::deserialize(d)?;
        Replication::with_pending(raw.dcs, raw.local).map_err(serde::de::Error::custom)
    }
}
