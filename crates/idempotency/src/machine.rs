//! The state machine's decisions, shared by every backend so they cannot drift apart.

use std::time::Duration;

use bytes::Bytes;
use quorate_fencing::FencingToken;

use crate::error::StoreError;
use crate::types::{Fingerprint, Record, RecoveryPoint, State, Stored, Terminal};

/// A stored record with its clocks: `lock_until` on the lock clock (monotonic, or the database
/// clock), `expires_at` on the retention clock (wall, or the database clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) epoch: u64,
    pub(crate) state: State,
    pub(crate) lock_until: u64,
    pub(crate) expires_at: u64,
    pub(crate) response: Option<Bytes>,
    pub(crate) recovery: Option<RecoveryPoint>,
}

/// What `begin` does with an existing row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The row expired: overwrite it with a fresh in-progress row at `epoch` (new fingerprint,
    /// no recovery point). The epoch keeps counting so older attempts stay fenced.
    Fresh { epoch: u64 },
    /// Take the key over at `epoch`, keeping the recovery point.
    Takeover { epoch: u64 },
    /// Answer with the stored response.
    Replay(Stored),
    /// Another attempt holds a live lock.
    InProgress { retry_after: Duration },
    /// Same key, different request.
    Mismatch,
}

impl Row {
    /// Whether an in-progress row's lock is live at `lock_now`. A lock further in the future
    /// than one ttl cannot have been written by this clock (it restarted, or the machine
    /// rebooted): it counts as expired rather than leaving the key stuck.
    pub(crate) fn lock_live(&self, lock_now: u64, ttl: u64) -> bool {
        self.state == State::InProgress
            && lock_now < self.lock_until
            && self.lock_until - lock_now <= ttl
    }

    /// Whether the row is past retention and may be treated as missing or reaped.
    pub(crate) fn expired(&self, lock_now: u64, wall_now: u64, ttl: u64) -> bool {
        self.expires_at <= wall_now && !self.lock_live(lock_now, ttl)
    }

    /// The public view.
    pub(crate) fn record(&self) -> Record {
        Record {
            fingerprint: self.fingerprint,
            epoch: FencingToken::new(self.epoch),
            state: self.state,
            response: self.response.clone(),
            recovery: self.recovery.clone(),
        }
    }
}

/// The first epoch of a new record: its creation time in wall-clock (database-clock on
/// PostgreSQL) nanoseconds, at least 1. An earlier incarnation of the key, reaped after its
/// retention, issued epochs from its own creation time plus one per takeover, far below this
/// one, so its late attempts stay fenced (unless the clock stepped back by more than the
/// retention).
pub(crate) fn first_epoch(wall_now: u64) -> u64 {
    wall_now.clamp(1, i64::MAX as u64)
}

/// The next epoch after `epoch`, within what every backend can store (`i64::MAX`).
pub(crate) fn next_epoch(epoch: u64, key: &str) -> Result<u64, StoreError> {
    match epoch.checked_add(1) {
        Some(next) if i64::try_from(next).is_ok() => Ok(next),
        _ => Err(StoreError::EpochsExhausted {
            key: key.to_owned(),
        }),
    }
}

/// Decides what `begin` does with `row` for a request fingerprinted `fingerprint`.
pub(crate) fn decide(
    row: &Row,
    fingerprint: &Fingerprint,
    lock_now: u64,
    wall_now: u64,
    ttl: u64,
    key: &str,
) -> Result<Decision, StoreError> {
    if row.expired(lock_now, wall_now, ttl) {
        return Ok(Decision::Fresh {
            epoch: next_epoch(row.epoch, key)?,
        });
    }
    if row.fingerprint != *fingerprint {
        return Ok(Decision::Mismatch);
    }
    let terminal = match row.state {
        State::Succeeded => Terminal::Succeeded,
        State::FailedFinal => Terminal::FailedFinal,
        State::InProgress if row.lock_live(lock_now, ttl) => {
            return Ok(Decision::InProgress {
                retry_after: Duration::from_nanos(row.lock_until - lock_now),
            });
        }
        State::InProgress | State::FailedRetryable => {
            return Ok(Decision::Takeover {
                epoch: next_epoch(row.epoch, key)?,
            });
        }
    };
    Ok(Decision::Replay(Stored::new(
        terminal,
        row.response.clone().unwrap_or_default(),
        FencingToken::new(row.epoch),
    )))
}

/// The error for a checkpoint or completion whose attempt does not hold `row`.
pub(crate) fn stale(
    scope: &str,
    key: &str,
    presented: FencingToken,
    row: Option<&Row>,
) -> StoreError {
    StoreError::StaleAttempt {
        scope: scope.to_owned(),
        key: key.to_owned(),
        presented,
        current: row.map(|r| (FencingToken::new(r.epoch), r.state)),
    }
}

/// Whether `row` is held by the attempt at `epoch` (in progress at exactly that epoch).
pub(crate) fn held_by(row: &Row, epoch: FencingToken) -> bool {
    row.state == State::InProgress && row.epoch == epoch.get()
}
