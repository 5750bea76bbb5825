//! Division by a run-time constant without a hardware divide (the budgets' window number is
//! `now / slot` on every call; a 64-bit `div` costs more than the rest of the fast path).

/// Exact `n / d` for a fixed `d >= 1`: one widening multiply by `floor((2^64 - 1) / d)`, then
/// at most two corrections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FastDiv {
    d: u64,
    m: u64,
}

impl FastDiv {
    pub(crate) const fn new(d: u64) -> Self {
        let d = if d == 0 { 1 } else { d };
        Self { d, m: u64::MAX / d }
    }

    /// The divisor `d` (at least 1).
    #[inline]
    pub(crate) const fn divisor(self) -> u64 {
        self.d
    }

    #[inline]
    pub(crate) const fn div(self, n: u64) -> u64 {
        // q <= n / d and q >= n / d - 2, so the remainder is below 3d.
        let mut q = ((n as u128 * self.m as u128) >> 64) as u64;
        let mut r = n - q * self.d;
        while r >= self.d {
            q += 1;
            r -= self.d;
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::FastDiv;

    #[test]
    fn matches_hardware_division() {
        let ds = [
            1u64,
            2,
            3,
            7,
            10,
            100_000_000,
            1_000_000_000,
            12_000_000_000,
            u64::MAX / 3,
            u64::MAX,
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for &d in &ds {
            let f = FastDiv::new(d);
            for n in [
                0,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                u64::MAX,
                u64::MAX - 1,
                u64::MAX / 2,
            ] {
                assert_eq!(f.div(n), n / d, "{n} / {d}");
            }
            for _ in 0..100_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                assert_eq!(f.div(x), x / d, "{x} / {d}");
                let small = x >> 20;
                assert_eq!(f.div(small), small / d);
            }
        }
    }
}
