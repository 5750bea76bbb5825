//! std/parking_lot or loom, switched by `cfg(quorate_loom)`.

#[cfg(not(quorate_loom))]
pub(crate) use parking_lot::Mutex;

#[cfg(quorate_loom)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(quorate_loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(t: T) -> Self {
        Self(loom::sync::Mutex::new(t))
    }
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        // A poisoned lock means another loom thread panicked; the model has failed anyway.
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

#[cfg(quorate_loom)]
impl<T: std::fmt::Debug> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mutex")
    }
}
