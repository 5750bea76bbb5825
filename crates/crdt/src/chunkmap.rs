//! A sorted map stored as a list of sorted chunks: the key index of [`DotMap`](crate::DotMap).
//!
//! Why not `BTreeMap`: joins of whole states walk both maps in key order and, for disjoint or
//! mostly-new keys, rebuild the map. With a B-tree that rebuild moves every entry through an
//! intermediate vector and a bulk load; with chunks, a join appends new entries to fresh chunks
//! and moves untouched chunks by pointer, so merging two disjoint sets costs one move per new
//! entry. Point operations (one-key deltas) stay cheap: a binary search over the chunks' last
//! keys, then an insert or remove inside one chunk of at most [`MAX`] entries, so their cost does
//! not grow with the size of the map.
//!
//! Invariants: no chunk is empty, every chunk is strictly ascending and holds at most [`MAX`]
//! entries, and each chunk's keys are below the next chunk's.

use std::hash::{Hash, Hasher};

/// Most entries a chunk holds; a fuller chunk splits in two.
pub(crate) const MAX: usize = 256;

#[derive(Clone)]
pub(crate) struct ChunkMap<K, V> {
    chunks: Vec<Vec<(K, V)>>,
    len: usize,
}

impl<K, V> Default for ChunkMap<K, V> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for ChunkMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: PartialEq, V: PartialEq> PartialEq for ChunkMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        // Content equality: equal maps may be chunked differently.
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<K: Eq, V: Eq> Eq for ChunkMap<K, V> {}

impl<K: Hash, V: Hash> Hash for ChunkMap<K, V> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len);
        for (k, v) in self.iter() {
            k.hash(state);
            v.hash(state);
        }
    }
}

impl<K, V> ChunkMap<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.chunks.iter().flatten().map(|(k, v)| (k, v))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.chunks.iter().flatten().map(|(k, _)| k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.chunks.iter().flatten().map(|(_, v)| v)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.chunks.iter_mut().flatten().map(|(_, v)| v)
    }

    /// Keeps the entries for which `f` is true.
    pub(crate) fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        for c in &mut self.chunks {
            c.retain_mut(|(k, v)| f(k, v));
        }
        self.chunks.retain(|c| !c.is_empty());
        self.len = self.chunks.iter().map(Vec::len).sum();
    }

    /// The chunks, in order.
    pub(crate) fn chunks(&self) -> &[Vec<(K, V)>] {
        &self.chunks
    }

    /// The chunks, for in-place updates of the values (keys must not change; empty values
    /// are removed afterwards with `retain`).
    pub(crate) fn chunks_mut(&mut self) -> &mut [Vec<(K, V)>] {
        &mut self.chunks
    }

    /// Consumes the map into its chunks (each strictly ascending, in order).
    pub(crate) fn into_chunks(self) -> Vec<Vec<(K, V)>> {
        self.chunks
    }
}

impl<K: Ord, V> ChunkMap<K, V> {
    /// Index of the chunk that holds `key` or where it would go (`None` when there are no
    /// chunks).
    #[inline]
    fn chunk_of(&self, key: &K) -> Option<usize> {
        let last = self.chunks.len().checked_sub(1)?;
        // Fast path: keys at the end (appends, recent keys) live in the last chunk.
        if self
            .chunks
            .get(last)
            .and_then(|c| c.first())
            .is_some_and(|(k, _)| k <= key)
        {
            return Some(last);
        }
        let i = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|(k, _)| k < key));
        Some(i.min(self.chunks.len() - 1))
    }

    #[inline]
    fn find(&self, key: &K) -> Option<(usize, usize)> {
        let ci = self.chunk_of(key)?;
        let c = self.chunks.get(ci)?;
        c.binary_search_by(|(k, _)| k.cmp(key))
            .ok()
            .map(|i| (ci, i))
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let (ci, i) = self.find(key)?;
        self.chunks.get(ci)?.get(i).map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let (ci, i) = self.find(key)?;
        self.chunks.get_mut(ci)?.get_mut(i).map(|(_, v)| v)
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_some()
    }

    /// The value of `key`, inserting `make()` first when absent.
    pub(crate) fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let (ci, i) = match self.locate_insert(&key) {
            Ok(pos) => pos,
            Err((ci, i)) => self.insert_at(ci, i, key, make()),
        };
        // The position was just found or made, so both lookups succeed.
        let c = &mut self.chunks[ci];
        &mut c[i].1
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.locate_insert(&key) {
            Ok((ci, i)) => self
                .chunks
                .get_mut(ci)
                .and_then(|c| c.get_mut(i))
                .map(|e| std::mem::replace(&mut e.1, value)),
            Err((ci, i)) => {
                self.insert_at(ci, i, key, value);
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (ci, i) = self.find(key)?;
        let c = self.chunks.get_mut(ci)?;
        let (_, v) = c.remove(i);
        if c.is_empty() {
            self.chunks.remove(ci);
        }
        self.len -= 1;
        Some(v)
    }

    /// `Ok(position)` of `key`, or `Err(position)` where it would be inserted.
    fn locate_insert(&self, key: &K) -> Result<(usize, usize), (usize, usize)> {
        let Some(ci) = self.chunk_of(key) else {
            return Err((0, 0));
        };
        match self.chunks.get(ci) {
            Some(c) => c
                .binary_search_by(|(k, _)| k.cmp(key))
                .map(|i| (ci, i))
                .map_err(|i| (ci, i)),
            None => Err((0, 0)),
        }
    }

    /// Inserts at a position from `locate_insert`; returns the entry's final position.
    fn insert_at(&mut self, ci: usize, i: usize, key: K, value: V) -> (usize, usize) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(vec![(key, value)]);
            return (0, 0);
        }
        let ci = ci.min(self.chunks.len() - 1);
        let Some(c) = self.chunks.get_mut(ci) else {
            return (0, 0);
        };
        let i = i.min(c.len());
        c.insert(i, (key, value));
        if c.len() <= MAX {
            return (ci, i);
        }
        let tail = c.split_off(MAX / 2);
        self.chunks.insert(ci + 1, tail);
        if i < MAX / 2 {
            (ci, i)
        } else {
            (ci + 1, i - MAX / 2)
        }
    }

    /// Builds a map from strictly ascending entries.
    pub(crate) fn from_sorted(it: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut b = Builder::default();
        for (k, v) in it {
            b.push(k, v);
        }
        b.finish()
    }

    /// Replaces the map by the merge of its (strictly ascending) chunks with `pending`
    /// (strictly ascending chunks whose keys are all absent from `self`).
    ///
    /// Chunks of `self` that no pending key falls into are moved, not copied, and so are
    /// pending chunks past the last key of `self`. Cost: `O(touched entries + chunks)`.
    pub(crate) fn merge_new(&mut self, pending: Vec<Vec<(K, V)>>) {
        let mut outer = pending.into_iter();
        let mut cur: std::vec::IntoIter<(K, V)> = Vec::new().into_iter();
        let old = std::mem::take(&mut self.chunks);
        let mut out = Builder::with_chunks(old.len() + outer.len());
        for chunk in old {
            while cur.as_slice().is_empty() {
                match outer.next() {
                    Some(c) => cur = c.into_iter(),
                    None => break,
                }
            }
            let touches = match (cur.as_slice().first(), chunk.last()) {
                (Some((pk, _)), Some((last, _))) => pk < last,
                _ => false,
            };
            if !touches {
                out.push_run(chunk);
                continue;
            }
            for (k, v) in chunk {
                loop {
                    while cur.as_slice().is_empty() {
                        match outer.next() {
                            Some(c) => cur = c.into_iter(),
                            None => break,
                        }
                    }
                    if cur.as_slice().first().is_none_or(|(pk, _)| *pk >= k) {
                        break;
                    }
                    if let Some((pk, pv)) = cur.next() {
                        out.push(pk, pv);
                    }
                }
                out.push(k, v);
            }
        }
        // Past the last old key: the rest of the current pending chunk (reusing its buffer)
        // and then the remaining chunks, moved whole.
        out.push_run(cur.collect());
        for c in outer {
            out.push_run(c);
        }
        *self = out.finish();
    }
}

/// Appends strictly ascending entries into full chunks.
pub(crate) struct Builder<K, V> {
    chunks: Vec<Vec<(K, V)>>,
    len: usize,
}

impl<K, V> Default for Builder<K, V> {
    fn default() -> Self {
        Self::with_chunks(0)
    }
}

impl<K, V> Builder<K, V> {
    pub(crate) fn with_chunks(n: usize) -> Self {
        Self {
            chunks: Vec::with_capacity(n),
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, k: K, v: V) {
        self.len += 1;
        if let Some(c) = self.chunks.last_mut()
            && c.len() < MAX
        {
            c.push((k, v));
            return;
        }
        let mut c = Vec::with_capacity(MAX);
        c.push((k, v));
        self.chunks.push(c);
    }

    /// Appends a run of at most [`MAX`] strictly ascending entries above everything pushed
    /// so far: into the last chunk when it fits there, else as a chunk of its own (moved).
    pub(crate) fn push_run(&mut self, mut c: Vec<(K, V)>) {
        if c.is_empty() {
            return;
        }
        self.len += c.len();
        if let Some(last) = self.chunks.last_mut()
            && (c.len() < MAX / 8 || last.len() < MAX / 8)
            && last.len() + c.len() <= MAX
        {
            last.append(&mut c);
            return;
        }
        self.chunks.push(c);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn into_chunks(self) -> Vec<Vec<(K, V)>> {
        self.chunks
    }

    pub(crate) fn finish(self) -> ChunkMap<K, V> {
        ChunkMap {
            chunks: self.chunks,
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u8),
        Remove(u16),
        GetOrInsert(u16),
        RetainEven,
        MergeNew(Vec<u16>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u16>(), any::<u8>()).prop_map(|(k, v)| Op::Insert(k % 2048, v)),
            2 => any::<u16>().prop_map(|k| Op::Remove(k % 2048)),
            1 => any::<u16>().prop_map(|k| Op::GetOrInsert(k % 2048)),
            1 => Just(Op::RetainEven),
            1 => proptest::collection::vec(any::<u16>(), 0..700)
                .prop_map(|v| Op::MergeNew(v.into_iter().map(|k| k % 4096).collect())),
        ]
    }

    fn check(m: &ChunkMap<u16, u8>, model: &BTreeMap<u16, u8>) {
        assert_eq!(m.len(), model.len());
        assert!(
            m.iter()
                .map(|(k, v)| (*k, *v))
                .eq(model.iter().map(|(k, v)| (*k, *v)))
        );
        for c in &m.chunks {
            assert!(!c.is_empty() && c.len() <= MAX, "chunk size {}", c.len());
        }
        for k in model.keys() {
            assert_eq!(m.get(k), model.get(k));
        }
        assert_eq!(
            *m,
            ChunkMap::from_sorted(model.iter().map(|(k, v)| (*k, *v)))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn behaves_like_a_btreemap(ops in proptest::collection::vec(op(), 1..60)) {
            let mut m = ChunkMap::default();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(m.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(m.remove(&k), model.remove(&k)),
                    Op::GetOrInsert(k) => {
                        let a = *m.get_or_insert_with(k, || 7);
                        let b = *model.entry(k).or_insert(7);
                        prop_assert_eq!(a, b);
                    }
                    Op::RetainEven => {
                        m.retain(|k, _| k % 2 == 0);
                        model.retain(|k, _| k % 2 == 0);
                    }
                    Op::MergeNew(keys) => {
                        let fresh: BTreeMap<u16, u8> = keys
                            .into_iter()
                            .filter(|k| !model.contains_key(k))
                            .map(|k| (k, 1))
                            .collect();
                        let mut b = Builder::default();
                        for (k, v) in &fresh {
                            b.push(*k, *v);
                        }
                        m.merge_new(b.into_chunks());
                        model.extend(fresh);
                    }
                }
                check(&m, &model);
            }
        }
    }
}
