//! The synchronisation facade: parking_lot's mutex normally, loom's under `--cfg quorate_loom`.
//!
//! The in-memory store takes its mutexes from here, so the loom model in `tests/loom_store.rs`
//! exercises the real code.

#[cfg(not(quorate_loom))]
pub(crate) use parking_lot::Mutex;

#[cfg(quorate_loom)]
pub(crate) use loom::sync::Mutex;

/// Locks a mutex (parking_lot mutexes are never poisoned).
#[cfg(not(quorate_loom))]
pub(crate) fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    m.lock()
}

/// Locks a loom mutex (loom mutexes are never poisoned in a passing model).
#[cfg(quorate_loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
