//! The synchronisation facade: std primitives normally, loom's under `--cfg quorate_loom`.

#[cfg(not(quorate_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[cfg(quorate_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
