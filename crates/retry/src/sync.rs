//! The synchronisation facade: std atomics normally, loom's under `--cfg quorate_loom`.
//!
//! Every shared-state type in this crate takes its atomics and mutexes from here, so the loom
//! models in `tests/loom_*.rs` exercise the real code.

#[cfg(not(quorate_loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(quorate_loom))]
pub(crate) use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[cfg(quorate_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(quorate_loom)]
pub(crate) use loom::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Locks a mutex, recovering the data if a panicking thread poisoned it (our critical sections
/// leave the data consistent at every step, so poisoning carries no meaning here).
#[cfg(not(quorate_loom))]
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Locks a loom mutex (loom mutexes are never poisoned in a passing model).
#[cfg(quorate_loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
