//! Property test: for any drift up to the bound and any clock offsets, the holder's safe deadline
//! falls (in real time) no later than the grantor's expiry, strictly before when margin or grace
//! is positive.

use std::time::Duration;

use proptest::prelude::*;
use quorate_fencing::{LeaseTiming, PPB};

/// Real time (ns, as a fraction num/den) at which a clock with rate `rate_ppb / PPB`, reading
/// `start` at real time `t0`, reads `target`.
fn real_time_of(t0: u128, start: u64, target: u64, rate_ppb: u64) -> (u128, u128) {
    let elapsed = u128::from(target - start);
    (
        t0 * u128::from(rate_ppb) + elapsed * u128::from(PPB),
        u128::from(rate_ppb),
    )
}

/// a/b <= c/d (or < when strict).
fn le(a: (u128, u128), c: (u128, u128), strict: bool) -> bool {
    let (l, r) = (a.0 * c.1, c.0 * a.1);
    if strict { l < r } else { l <= r }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn holder_deadline_precedes_grantor_expiry(
        ttl_ms in 1u64..3_600_000,
        drift_ppb in 0u64..100_000_000,
        margin_permille in 0u64..500,
        grace_ms in 0u64..1_000,
        holder_rate in -1.0f64..=1.0,
        grantor_rate in -1.0f64..=1.0,
        holder_offset in 0u64..(1 << 62),
        grantor_offset in 0u64..(1 << 62),
        send_at in 0u64..1_000_000_000_000,
        latency in 0u64..10_000_000_000,
    ) {
        let ttl = Duration::from_millis(ttl_ms);
        let margin = ttl * u32::try_from(margin_permille).unwrap() / 1000;
        let Ok(timing) = LeaseTiming::new(ttl)
            .and_then(|t| t.with_max_drift_ppb(drift_ppb))
            .and_then(|t| t.with_margin(margin))
            .and_then(|t| t.with_grace(Duration::from_millis(grace_ms)))
        else {
            // Only timings without a safe window are refused.
            prop_assert!(margin_permille > 0);
            return Ok(());
        };
        // Actual rates anywhere within the bound (as parts per billion of real time).
        let rate = |x: f64| {
            let dev = (x * drift_ppb as f64) as i64;
            (PPB as i64 + dev.clamp(-(drift_ppb as i64), drift_ppb as i64)) as u64
        };
        let (rh, rg) = (rate(holder_rate), rate(grantor_rate));

        // The holder reads its clock at real time `send_at`, the grantor grants `latency` later.
        let h0 = holder_offset;
        let g0 = grantor_offset;
        let holder_deadline = timing.holder_deadline_ns(h0);
        let grantor_expiry = timing.grantor_expiry_ns(g0);
        let holder_real = real_time_of(u128::from(send_at), h0, holder_deadline, rh);
        let grantor_real = real_time_of(u128::from(send_at + latency), g0, grantor_expiry, rg);
        let strict = !timing.margin.is_zero() || !timing.grace.is_zero() || latency > 0;
        prop_assert!(
            le(holder_real, grantor_real, strict),
            "holder stops at {holder_real:?}, grantor re-grants at {grantor_real:?}"
        );
    }
}

/// The property fails when a clock drifts beyond the bound: the test above can fail.
#[test]
fn drift_beyond_the_bound_breaks_the_guarantee() {
    let timing = LeaseTiming::new(Duration::from_secs(10))
        .and_then(|t| t.with_max_drift_ppb(1_000_000))
        .and_then(|t| t.with_margin(Duration::ZERO))
        .and_then(|t| t.with_grace(Duration::ZERO))
        .expect("timing");
    // The holder's clock runs 1 % slow, the grantor's 1 % fast: ten times the bound.
    let (rh, rg) = (PPB - 10_000_000, PPB + 10_000_000);
    let holder_real = real_time_of(0, 0, timing.holder_deadline_ns(0), rh);
    let grantor_real = real_time_of(0, 0, timing.grantor_expiry_ns(0), rg);
    assert!(!le(holder_real, grantor_real, false));
}
