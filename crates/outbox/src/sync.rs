//! The synchronisation facade: `parking_lot` normally, loom's mutex under `--cfg quorate_loom`.
//!
//! The in-memory backend takes its mutex from here, so `tests/loom_relay.rs` explores the real
//! claim / publish / mark-sent code.

#[cfg(not(quorate_loom))]
pub(crate) use parking_lot::Mutex;

#[cfg(not(quorate_loom))]
pub(crate) fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    m.lock()
}

#[cfg(quorate_loom)]
pub(crate) use loom::sync::Mutex;

#[cfg(quorate_loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) use std::sync::Arc;
