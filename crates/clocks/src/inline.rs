//! A small vector that stores up to `N` items inline and spills to the heap beyond that.
//!
//! This is the only module with `unsafe` code. The inline buffer is an array of
//! `MaybeUninit<T>` of which exactly the first `len` slots are initialised; every `unsafe`
//! block below relies on that single invariant and says so.
#![allow(unsafe_code)]

use core::mem::MaybeUninit;

pub(crate) struct InlineVec<T, const N: usize> {
    repr: Repr<T, N>,
}

enum Repr<T, const N: usize> {
    /// Invariant: `len <= N` and `buf[..len]` is initialised.
    Inline {
        len: usize,
        buf: [MaybeUninit<T>; N],
    },
    Heap(Vec<T>),
}

impl<T, const N: usize> InlineVec<T, N> {
    pub(crate) const fn new() -> Self {
        Self {
            repr: Repr::Inline {
                len: 0,
                buf: [const { MaybeUninit::uninit() }; N],
            },
        }
    }

    /// An empty vector that can hold `cap` items without reallocating.
    pub(crate) fn with_capacity(cap: usize) -> Self {
        if cap <= N {
            Self::new()
        } else {
            Self {
                repr: Repr::Heap(Vec::with_capacity(cap)),
            }
        }
    }

    /// Takes ownership of `v`, moving it inline when it fits.
    pub(crate) fn from_vec(v: Vec<T>) -> Self {
        if v.len() <= N {
            let mut out = Self::new();
            for item in v {
                out.push(item);
            }
            out
        } else {
            Self {
                repr: Repr::Heap(v),
            }
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match &self.repr {
            Repr::Inline { len, .. } => *len,
            Repr::Heap(v) => v.len(),
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        match &self.repr {
            Repr::Inline { len, buf } => {
                // SAFETY: `buf[..len]` is initialised (type invariant) and `MaybeUninit<T>` has
                // the same layout as `T`; the borrow of `self` keeps the buffer alive and shared.
                unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<T>(), *len) }
            }
            Repr::Heap(v) => v,
        }
    }

    #[inline]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        match &mut self.repr {
            Repr::Inline { len, buf } => {
                // SAFETY: as in `as_slice`; the exclusive borrow of `self` makes the slice unique.
                unsafe { core::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<T>(), *len) }
            }
            Repr::Heap(v) => v,
        }
    }

    /// Appends `item`, spilling to the heap when the inline buffer is full.
    pub(crate) fn push(&mut self, item: T) {
        let len = self.len();
        self.insert(len, item);
    }

    /// Inserts `item` at `index`, shifting later items right.
    ///
    /// Callers pass `index <= len` (all call sites derive it from a search of this vector).
    pub(crate) fn insert(&mut self, index: usize, item: T) {
        match &mut self.repr {
            Repr::Inline { len, buf } if *len < N => {
                let n = *len;
                let index = index.min(n);
                if let Some(slot) = buf.get_mut(n) {
                    slot.write(item);
                    // Moving `MaybeUninit` values around is safe; afterwards `buf[..=n]` is
                    // still exactly the initialised prefix.
                    if let Some(tail) = buf.get_mut(index..=n) {
                        tail.rotate_right(1);
                    }
                    *len = n + 1;
                }
            }
            Repr::Inline { .. } => {
                let mut v = self.spill(N * 2);
                v.insert(index.min(v.len()), item);
                self.repr = Repr::Heap(v);
            }
            Repr::Heap(v) => v.insert(index.min(v.len()), item),
        }
    }

    /// Removes and returns the item at `index`, or `None` when out of range.
    pub(crate) fn remove(&mut self, index: usize) -> Option<T> {
        match &mut self.repr {
            Repr::Inline { len, buf } => {
                let n = *len;
                if index >= n {
                    return None;
                }
                buf.get_mut(index..n)?.rotate_left(1);
                *len = n - 1;
                let slot = buf.get(n - 1)?;
                // SAFETY: `slot` was initialised (it was in the prefix `..n` before the
                // rotation) and is now outside the initialised prefix `..n - 1`, so reading it
                // out moves ownership to the caller exactly once.
                Some(unsafe { slot.assume_init_read() })
            }
            Repr::Heap(v) => (index < v.len()).then(|| v.remove(index)),
        }
    }

    /// Moves the inline items into a `Vec` with at least `cap` capacity, leaving `self` empty.
    fn spill(&mut self, cap: usize) -> Vec<T> {
        match &mut self.repr {
            Repr::Inline { len, buf } => {
                let n = *len;
                // Empty first so that a panic (allocation failure) cannot double-drop.
                *len = 0;
                let mut v = Vec::with_capacity(cap.max(n));
                for slot in buf.iter().take(n) {
                    // SAFETY: slots `..n` were initialised and `len` is already 0, so each is
                    // read out exactly once and never dropped in place afterwards.
                    v.push(unsafe { slot.assume_init_read() });
                }
                v
            }
            Repr::Heap(v) => core::mem::take(v),
        }
    }

    pub(crate) fn clear(&mut self) {
        match &mut self.repr {
            Repr::Inline { .. } => self.truncate(0),
            Repr::Heap(v) => v.clear(),
        }
    }

    pub(crate) fn truncate(&mut self, new_len: usize) {
        match &mut self.repr {
            Repr::Inline { len, buf } => {
                let n = *len;
                if new_len >= n {
                    return;
                }
                *len = new_len;
                if let Some(tail) = buf.get_mut(new_len..n) {
                    // SAFETY: `tail` was initialised and is now outside the prefix, so it is
                    // dropped exactly once here.
                    unsafe {
                        core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(
                            tail.as_mut_ptr().cast::<T>(),
                            tail.len(),
                        ));
                    }
                }
            }
            Repr::Heap(v) => v.truncate(new_len),
        }
    }

    /// Keeps only the items for which `keep` returns true, preserving order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mut i = 0;
        while i < self.len() {
            let k = self.as_slice().get(i).is_some_and(&mut keep);
            if k {
                i += 1;
            } else {
                drop(self.remove(i));
            }
        }
    }

    pub(crate) fn is_heap(&self) -> bool {
        matches!(self.repr, Repr::Heap(_))
    }
}

impl<T, const N: usize> Drop for InlineVec<T, N> {
    fn drop(&mut self) {
        if let Repr::Inline { .. } = self.repr {
            self.truncate(0);
        }
    }
}

impl<T: Clone, const N: usize> Clone for InlineVec<T, N> {
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Inline { .. } => {
                let mut out = Self::new();
                for item in self.as_slice() {
                    out.push(item.clone());
                }
                out
            }
            Repr::Heap(v) => Self {
                repr: Repr::Heap(v.clone()),
            },
        }
    }
}

impl<T, const N: usize> Default for InlineVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PartialEq, const N: usize> PartialEq for InlineVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Eq, const N: usize> Eq for InlineVec<T, N> {}

impl<T: core::hash::Hash, const N: usize> core::hash::Hash for InlineVec<T, N> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl<T: core::fmt::Debug, const N: usize> core::fmt::Debug for InlineVec<T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

// SAFETY-free auto traits: `MaybeUninit<T>` and `Vec<T>` are Send/Sync exactly when `T` is, so
// the derived auto traits of `InlineVec` are already correct.

#[cfg(test)]
mod tests {
    use super::InlineVec;

    #[test]
    fn insert_remove_spill_and_drop() {
        let mut v: InlineVec<String, 4> = InlineVec::new();
        for i in [3, 1, 2, 0] {
            let pos = v
                .as_slice()
                .partition_point(|s| s.as_str() < i.to_string().as_str());
            v.insert(pos, i.to_string());
        }
        assert_eq!(v.as_slice(), ["0", "1", "2", "3"]);
        assert!(!v.is_heap());
        v.push("4".into());
        assert!(v.is_heap());
        assert_eq!(v.remove(0).as_deref(), Some("0"));
        assert_eq!(v.remove(9), None);
        let w = InlineVec::<String, 4>::from_vec(vec!["a".into(), "b".into()]);
        assert!(!w.is_heap());
        let mut c = w.clone();
        assert_eq!(c, w);
        c.retain(|s| s == "b");
        assert_eq!(c.as_slice(), ["b"]);
        c.truncate(0);
        assert_eq!(c.len(), 0);
        let mut d = w.clone();
        d.clear();
        assert_eq!(d.remove(0), None);
    }
}
