//! Injected randomness: a small seedable generator and a fast thread-local default.

use core::cell::Cell;

use rand::{RngCore, SeedableRng};

const WY_INC: u64 = 0xa076_1d64_78bd_642f;
const WY_MIX: u64 = 0xe703_7ed1_a0b4_28db;

/// A tiny, fast, seedable pseudo-random generator (wyrand: one add and one 64x64→128 multiply).
///
/// Use it wherever a replayable random stream is needed: jitter in tests, the retry-storm
/// simulator, benchmarks. Its output depends only on the seed, on every platform and in every
/// version of this crate, so a failing run can be replayed from the seed. It is not
/// cryptographically secure.
///
/// ```
/// use quorate_retry::FastRng;
/// use rand::Rng;
///
/// let mut a = FastRng::seed_from_u64(7);
/// let mut b = FastRng::seed_from_u64(7);
/// let x: u64 = a.random();
/// assert_eq!(x, b.random::<u64>());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FastRng {
    state: u64,
}

impl FastRng {
    /// Creates a generator whose whole output is determined by `seed`.
    ///
    /// ```
    /// let _rng = quorate_retry::FastRng::seed_from_u64(42);
    /// ```
    #[must_use]
    pub const fn seed_from_u64(seed: u64) -> Self {
        Self { state: seed }
    }

    #[inline]
    fn step(state: &mut u64) -> u64 {
        *state = state.wrapping_add(WY_INC);
        let t = u128::from(*state) * u128::from(*state ^ WY_MIX);
        // Fold the 128-bit product: high half xor low half (truncation intended).
        ((t >> 64) as u64) ^ (t as u64)
    }
}

impl RngCore for FastRng {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (Self::step(&mut self.state) >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        Self::step(&mut self.state)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = Self::step(&mut self.state).to_le_bytes();
            let n = chunk.len();
            chunk.copy_from_slice(&bytes[..n]);
        }
    }
}

impl SeedableRng for FastRng {
    type Seed = [u8; 8];

    fn from_seed(seed: Self::Seed) -> Self {
        Self::seed_from_u64(u64::from_le_bytes(seed))
    }

    fn seed_from_u64(state: u64) -> Self {
        FastRng::seed_from_u64(state)
    }
}

thread_local! {
    static THREAD_STATE: Cell<u64> = Cell::new(rand::rng().next_u64());
}

/// The default jitter source: a [`FastRng`] per thread, seeded once from the operating system.
///
/// It is a zero-sized handle, so it costs nothing to pass around, never locks and never
/// allocates after the first use on a thread. Use a seeded [`FastRng`] instead when a run must
/// be replayable.
///
/// ```
/// use quorate_retry::ThreadLocalRng;
/// use rand::Rng;
///
/// let x: u32 = ThreadLocalRng.random_range(0..10);
/// assert!(x < 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ThreadLocalRng;

impl RngCore for ThreadLocalRng {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        THREAD_STATE.with(|s| {
            let mut state = s.get();
            let v = FastRng::step(&mut state);
            s.set(state);
            v
        })
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            let n = chunk.len();
            chunk.copy_from_slice(&bytes[..n]);
        }
    }
}

/// `splitmix64`: a stateless mixer used for counter-based random draws shared across threads.
#[inline]
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
