//! Laws of backoff schedules, for arbitrary configurations and seeds.

use std::time::Duration;

use proptest::prelude::*;
use quorate_retry::{Backoff, BackoffState, FastRng, Jitter};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ]
}

fn backoff() -> impl Strategy<Value = Backoff> {
    (
        0u64..10_000_000_000,
        0u64..10_000_000_000,
        1.0f64..50.0,
        0u8..3,
        jitter(),
    )
        .prop_map(|(a, b, factor, kind, j)| {
            let (base, cap) = (
                Duration::from_nanos(a.min(b)),
                Duration::from_nanos(a.max(b)),
            );
            let b = match kind {
                0 => Backoff::exponential(base, factor, cap),
                1 => Backoff::linear(base, Duration::from_nanos(a / 3), cap),
                _ => Backoff::constant(base),
            };
            b.expect("valid by construction").with_jitter(j)
        })
}

proptest! {
    #[test]
    fn never_exceeds_the_cap(b in backoff(), seed in any::<u64>(), n in 1usize..200) {
        let mut s = BackoffState::new();
        let mut rng = FastRng::seed_from_u64(seed);
        for _ in 0..n {
            prop_assert!(b.next_delay(&mut s, &mut rng) <= b.cap());
        }
    }

    #[test]
    fn unjittered_delays_never_decrease(b in backoff(), n in 1usize..100) {
        let b = b.with_jitter(Jitter::None);
        let mut s = BackoffState::new();
        let mut rng = FastRng::seed_from_u64(0);
        let mut prev = Duration::ZERO;
        for _ in 0..n {
            let d = b.next_delay(&mut s, &mut rng);
            prop_assert!(d >= prev);
            prev = d;
        }
    }

    #[test]
    fn full_and_equal_jitter_stay_below_the_unjittered_delay(b in backoff(), seed in any::<u64>(), n in 1usize..60) {
        let plain = b.with_jitter(Jitter::None);
        let (mut sp, mut sf, mut se) = (BackoffState::new(), BackoffState::new(), BackoffState::new());
        let mut rng = FastRng::seed_from_u64(seed);
        for _ in 0..n {
            let d = plain.next_delay(&mut sp, &mut rng);
            let f = b.with_jitter(Jitter::Full).next_delay(&mut sf, &mut rng);
            let e = b.with_jitter(Jitter::Equal).next_delay(&mut se, &mut rng);
            prop_assert!(f <= d);
            prop_assert!(e <= d && e >= d / 2);
        }
    }

    #[test]
    fn exponential_matches_base_times_factor_pow_n(base in 1u64..1_000_000, exp in 0u32..6, n in 0u32..20) {
        // Integral factors are exact in fixed point.
        let factor = f64::from(1u32 << exp).max(1.0);
        let cap = u64::MAX / 4;
        let b = Backoff::exponential(Duration::from_nanos(base), factor, Duration::from_nanos(cap)).unwrap();
        let mut s = BackoffState::new();
        let mut rng = FastRng::seed_from_u64(0);
        let mut d = 0;
        for _ in 0..=n {
            d = b.next_delay_nanos(&mut s, &mut rng);
        }
        let want = u128::from(base) * u128::from(factor as u64).pow(n);
        prop_assert_eq!(u128::from(d), want.min(u128::from(cap)));
    }
}
