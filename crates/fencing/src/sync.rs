//! The synchronisation facade: std atomics and mutexes normally, loom's under `--cfg quorate_loom`.
//!
//! The guards take their atomics and mutexes from here, so the loom models in
//! `tests/loom_guard.rs` exercise the real code.

#[cfg(not(quorate_loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(quorate_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(quorate_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(quorate_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

/// Locks a mutex, recovering the data if a panicking thread poisoned it (every critical section
/// here leaves the data consistent at each step, so poisoning carries no meaning).
#[cfg(not(quorate_loom))]
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Locks a loom mutex (loom mutexes are never poisoned in a passing model).
#[cfg(quorate_loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Locks a std mutex outside the loom-modelled types (stores, leases), recovering from poison.
pub(crate) fn std_lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
