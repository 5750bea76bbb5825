//! Retry budgets: one trait, four published semantics, all lock-free and shareable.
//!
//! # Why budgets beat attempt limits
//!
//! "Retry up to 3 times" multiplies load by 4 exactly when the server is least able to take
//! it: when every request fails. A stack of five layers each retrying 3 times multiplies it by
//! 4^5 = 1024. A budget caps retries as a share of the traffic (or of recent successes), so
//! when a dependency is healthy every occasional failure is retried, and when it is failing
//! wholesale the extra load stays a bounded fraction. That is what stops a retry storm.
//!
//! # The four semantics
//!
//! | type | anchor | rule |
//! |---|---|---|
//! | [`WindowedBudget`] | Finagle `RetryBudget`, tower `TpsBudget` | retries in the last `ttl` ≤ `percent` × requests in the last `ttl` + `min_per_sec` × `ttl` (whole seconds) |
//! | [`GrpcThrottle`] | gRFC A6 `retryThrottling` | a failure costs 1 token, a success earns `token_ratio`; retry only while tokens > `max_tokens / 2` |
//! | [`RetryQuota`] | AWS SDK standard retry mode | a retry costs 5 (a timeout retry 10) from 500; a first-try success refills 1; a successful retry refunds its cost |
//! | [`AdaptiveThrottle`] | Google SRE book, "Handling Overload" | reject each request locally with probability `max(0, (requests − K·accepts) / (requests + 1))` over a window |
//!
//! # Exactness and concurrency
//!
//! Every budget keeps its balance in integer fixed point (no float drift, no truncation: 10
//! requests at 0.6 allow exactly 6 retries, where tower's `TpsBudget` allows 10) in atomics, and
//! grants with a compare-and-swap, so a grant and its charge are one atomic step: under any
//! interleaving no budget grants more than its accounting allows. None of them reads a clock:
//! time is the caller's `now` in nanoseconds from a [`MonotonicClock`](quorate_clocks::MonotonicClock).

use core::fmt;
use core::time::Duration;
use std::sync::Arc;

use crate::error::{ConfigError, fixed, nanos};
use crate::fastdiv::FastDiv;
use crate::outcome::OutcomeClass;
use crate::rng::splitmix64;
use crate::sync::{AtomicI64, AtomicU64, Ordering};

/// Which price a retry pays (only [`RetryQuota`] distinguishes them).
///
/// ```
/// assert_eq!(quorate_retry::RetryCost::default(), quorate_retry::RetryCost::Standard);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RetryCost {
    /// A retry after a throttled, transient or ambiguous failure.
    #[default]
    Standard,
    /// A retry after a timeout (AWS charges these double).
    Timeout,
}

impl RetryCost {
    /// The cost class of retrying after `class`.
    ///
    /// ```
    /// use quorate_retry::{OutcomeClass, RetryCost};
    /// assert_eq!(RetryCost::for_class(OutcomeClass::Timeout), RetryCost::Timeout);
    /// ```
    #[must_use]
    pub const fn for_class(class: OutcomeClass) -> Self {
        match class {
            OutcomeClass::Timeout => Self::Timeout,
            _ => Self::Standard,
        }
    }
}

/// Permission for one retry, returned by [`RetryBudget::try_withdraw`].
///
/// Hand it back to [`RetryBudget::on_success`] if the retry succeeds ([`RetryQuota`] refunds
/// its cost).
///
/// ```
/// use quorate_retry::{RetryBudget, RetryCost, RetryQuota};
/// let q = RetryQuota::standard();
/// let g = q.try_withdraw(0, RetryCost::Timeout).expect("full quota");
/// assert_eq!(g.cost(), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Grant {
    cost: u64,
}

impl Grant {
    /// The number of budget units this retry took.
    ///
    /// ```
    /// use quorate_retry::{GrpcThrottle, RetryBudget, RetryCost};
    /// let t = GrpcThrottle::new(10.0, 0.1)?;
    /// assert_eq!(t.try_withdraw(0, RetryCost::Standard).map(|g| g.cost()), Some(0));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn cost(&self) -> u64 {
        self.cost
    }
}

/// A retry budget: decides whether a failed request may be retried, from the recent history
/// of requests, failures and successes.
///
/// The [planner](crate::RetryPlanner) calls, per logical request: [`on_request`](Self::on_request)
/// once before the first attempt; for each failed attempt (other than
/// [`NotSent`](OutcomeClass::NotSent)) [`on_failure`](Self::on_failure), then — if nothing else
/// rules the retry out — [`try_withdraw`](Self::try_withdraw); and for the attempt that
/// succeeds [`on_success`](Self::on_success) with the grant it ran under. `now` is nanoseconds
/// from a monotonic clock. The trait is object safe and implemented for `&T`, `Box<T>` and
/// `Arc<T>`, so one budget can be shared by every thread calling a dependency.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{RetryBudget, RetryCost, WindowedBudget};
///
/// // 20% of requests may be retried, no reserve.
/// let budget = WindowedBudget::new(Duration::from_secs(10), 0, 0.2)?;
/// for _ in 0..10 {
///     assert!(budget.on_request(0));
/// }
/// assert!(budget.try_withdraw(0, RetryCost::Standard).is_some());
/// assert!(budget.try_withdraw(0, RetryCost::Standard).is_some());
/// assert!(budget.try_withdraw(0, RetryCost::Standard).is_none());
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
pub trait RetryBudget: Send + Sync + fmt::Debug {
    /// A new logical request is about to send its first attempt. Returns `false` when the
    /// budget sheds it locally (only [`AdaptiveThrottle`] does).
    fn on_request(&self, now: u64) -> bool;

    /// An attempt failed with `class` (never [`OutcomeClass::NotSent`]); called whether or not
    /// it will be retried.
    ///
    /// Returns whether this failure's own accounting still leaves room for a retry.
    /// [`GrpcThrottle`] decides here, charging the failure and checking the threshold in one
    /// compare-and-swap as gRPC's own implementation does; the other budgets return `true` and
    /// decide in [`try_withdraw`](Self::try_withdraw). The planner retries only when both agree.
    fn on_failure(&self, now: u64, class: OutcomeClass) -> bool;

    /// Asks for one retry; `Some` means granted and already charged.
    fn try_withdraw(&self, now: u64, cost: RetryCost) -> Option<Grant>;

    /// An attempt succeeded; `grant` is the permission it ran under (`None` for a first try).
    fn on_success(&self, now: u64, grant: Option<Grant>);
}

macro_rules! forward_budget {
    ($($ty:ty),*) => {$(
        impl<T: RetryBudget + ?Sized> RetryBudget for $ty {
            #[inline]
            fn on_request(&self, now: u64) -> bool { (**self).on_request(now) }
            #[inline]
            fn on_failure(&self, now: u64, class: OutcomeClass) -> bool { (**self).on_failure(now, class) }
            #[inline]
            fn try_withdraw(&self, now: u64, cost: RetryCost) -> Option<Grant> { (**self).try_withdraw(now, cost) }
            #[inline]
            fn on_success(&self, now: u64, grant: Option<Grant>) { (**self).on_success(now, grant) }
        }
    )*};
}
forward_budget!(&T, Box<T>, Arc<T>);

// ---------------------------------------------------------------------------------------------
// Windowed ratio budget (Finagle / tower).

/// Number of slots the ttl is divided into (as in Finagle and tower).
const SLOTS: usize = 10;
/// Bit 63 of the state word: a thread is rotating the window.
const ROTATING: u64 = 1 << 63;
/// The balance is stored biased in bits 0..63.
const BIAS: i64 = 1 << 61;
const BAL_MAX: i64 = (1 << 61) - 1;
const EMPTY: u64 = u64::MAX;
/// `AdaptiveThrottle::cached_window` while one thread refreshes the cache.
const BUSY: u64 = u64::MAX - 1;

#[inline]
fn enc(balance: i64) -> u64 {
    // balance is kept in [-BIAS, BAL_MAX], so balance + BIAS is in [0, 2^62).
    (balance.clamp(-BIAS, BAL_MAX) + BIAS) as u64
}

#[inline]
fn dec(state: u64) -> i64 {
    ((state & !ROTATING) as i64) - BIAS
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The percentage as an exact fraction `(deposit, withdraw)` in lowest terms, with
/// `withdraw <= 10^6` (so `deposit <= 10^9`).
///
/// `ppm` is `percent` rounded to parts per million. When `percent` is a whole number of parts
/// per million (0.6, 0.123457) that is the fraction. Otherwise `percent` is matched to the
/// simplest fraction with a denominator up to 10^6 that equals it to within float precision
/// (1/3, 2/7, 10/3: the value the caller meant when writing `1.0 / 3.0`), found by continued
/// fractions; a value that is no such fraction keeps its rounding to parts per million.
fn ratio(percent: f64, ppm: u64) -> (u64, u64) {
    const DEN_MAX: u64 = 1_000_000;
    let reduce = |n: u64, d: u64| {
        let g = gcd(n, d).max(1);
        (n / g, d / g)
    };
    // `ppm` is `percent * 10^6` rounded; exact (to float precision) means a ppm fraction.
    let scaled = percent * 1e6;
    if (scaled - ppm as f64).abs() <= scaled * 1e-12 {
        return reduce(ppm, DEN_MAX);
    }
    // Continued-fraction convergents h/k of `percent`, stopping at the first within float
    // precision or when the denominator would pass DEN_MAX.
    let (mut h0, mut h1) = (0u64, 1u64); // h_{-2}, h_{-1}
    let (mut k0, mut k1) = (1u64, 0u64); // k_{-2}, k_{-1}
    let mut x = percent;
    for _ in 0..64 {
        let a = x.floor();
        if !(0.0..=1e9).contains(&a) {
            break;
        }
        let a = a as u64;
        let (Some(h), Some(k)) = (
            a.checked_mul(h1).and_then(|v| v.checked_add(h0)),
            a.checked_mul(k1).and_then(|v| v.checked_add(k0)),
        ) else {
            break;
        };
        if k > DEN_MAX || k == 0 {
            break;
        }
        (h0, h1, k0, k1) = (h1, h, k1, k);
        if h > 0 && ((h as f64 / k as f64) - percent).abs() <= percent * 1e-12 {
            return reduce(h, k);
        }
        let frac = x - x.floor();
        if frac <= 0.0 {
            break;
        }
        x = 1.0 / frac;
    }
    reduce(ppm, DEN_MAX)
}

/// The windowed ratio budget of Finagle's `RetryBudget` and tower's `TpsBudget`, exact and
/// lock-free.
///
/// Every request deposits `percent` of a retry; every retry withdraws one; deposits and
/// withdrawals expire after `ttl` (tracked in ten slots). A reserve of `min_per_sec` times the
/// whole seconds of `ttl` (as Finagle and tower count it: 1.5 s at 10/s reserves 10) lets
/// low-traffic clients retry at all; the reserve is not a separate pool but a floor under the
/// balance, so retries drawn from it expire with the window like any other. With `D`
/// requests in the window, at most `floor(percent × D) + reserve` retries are granted, never
/// more: `percent` is held as an exact fraction in lowest terms, so 0.6 means 6 in 10 (not
/// tower's 10 in 10) and `1.0 / 3.0` means 1 in 3. A percentage that is a whole number of
/// parts per million is taken exactly; any other is taken as the simplest fraction with a
/// denominator up to 10^6 that it equals to float precision, or else rounded to parts per
/// million (so a percentage below 0.5 ppm funds nothing).
///
/// The balance lives in one atomic word: a deposit is a single `fetch_add`, a withdrawal a
/// single compare-and-swap (check and charge at once), and the once-per-slot window rotation
/// takes a flag bit in the same word, so no operation ever waits for a lock. Expiry may be
/// delayed while a rotating thread is descheduled (and a retry asked for at that instant is
/// refused); grants never exceed the balance.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{RetryBudget, RetryCost, WindowedBudget};
///
/// let budget = WindowedBudget::new(Duration::from_secs(1), 0, 0.6)?;
/// for _ in 0..10 { budget.on_request(0); }
/// let granted = (0..10).filter(|_| budget.try_withdraw(0, RetryCost::Standard).is_some()).count();
/// assert_eq!(granted, 6);
/// // A second later every deposit has expired.
/// assert!(budget.try_withdraw(1_000_000_000, RetryCost::Standard).is_none());
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
pub struct WindowedBudget {
    /// The balance and the window, alone on one cache line.
    hot: WindowedHot,
    /// Closed slots: the window number each holds (or `EMPTY`) and its net change.
    tags: [AtomicU64; SLOTS],
    nets: [AtomicI64; SLOTS],
    slot: FastDiv,
    /// `enc(BAL_MAX − deposit)`: a deposit whose prior state word (flag masked) is above
    /// this took the balance past its maximum.
    clamp_above: u64,
    /// `enc(withdraw)`: the least state word (flag masked) that can pay a retry.
    grant_from: u64,
    ttl_ns: u64,
    reserve: i64,
    deposit: i64,
    withdraw: i64,
    percent_ppm: u64,
    min_per_sec: u32,
}

/// The words every deposit and withdrawal touches, on a cache line of their own: a round
/// moves one line between cores, and the read-mostly configuration stays shared in every
/// core's cache instead of being invalidated by each write.
#[repr(align(64))]
struct WindowedHot {
    /// Biased balance (bits 0..63) and the rotation flag (bit 63).
    state: AtomicU64,
    /// The window (slot number) the balance is current for; written once per slot, read
    /// after the balance's read-modify-write, when the line is already in this core's cache.
    window: AtomicU64,
    /// Where the window after `window` starts, in nanoseconds (`(window + 1) × slot`,
    /// saturating): the hot paths compare `now` with it instead of dividing.
    next_ns: AtomicU64,
}

impl fmt::Debug for WindowedBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowedBudget")
            .field("ttl", &self.ttl())
            .field("percent_ppm", &self.percent_ppm)
            .field("min_per_sec", &self.min_per_sec)
            .field("balance", &self.balance())
            .finish()
    }
}

impl WindowedBudget {
    /// A budget letting `percent` of requests (0 to 1000; 0.2 = one retry per five requests)
    /// plus `min_per_sec` retries per second be retried, counting the last `ttl`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] if `ttl` is outside 1..=60 s (Finagle's and tower's bounds)
    /// or `percent` is NaN or outside 0..=1000; [`ConfigError::OutOfRange`] if
    /// `min_per_sec` is `i32::MAX` or more.
    ///
    /// ```
    /// use std::time::Duration;
    /// use quorate_retry::WindowedBudget;
    /// assert!(WindowedBudget::new(Duration::from_secs(10), 10, 0.2).is_ok());
    /// assert!(WindowedBudget::new(Duration::from_secs(10), 10, f64::NAN).is_err());
    /// ```
    pub fn new(ttl: Duration, min_per_sec: u32, percent: f64) -> Result<Self, ConfigError> {
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(60) {
            return Err(ConfigError::OutOfRange { what: "ttl" });
        }
        if min_per_sec >= i32::MAX as u32 {
            return Err(ConfigError::OutOfRange {
                what: "min_per_sec",
            });
        }
        let ppm = fixed(percent, 0.0, 1000.0, 1e6, "percent")?;
        let (deposit, withdraw) = if ppm == 0 {
            (0, 1)
        } else {
            ratio(percent, ppm)
        };
        let ttl_ns = nanos(ttl)?;
        // Reserve in whole retries: min_per_sec × whole seconds of ttl, as Finagle
        // (`ttl.inSeconds`) and tower (`ttl.as_secs()`) compute it (ttl ≤ 60 s, so this fits).
        let reserve_retries = u64::from(min_per_sec) * ttl.as_secs();
        // deposit ≤ 1e9, withdraw ≤ 1e6: all products below fit in i64.
        let (deposit, withdraw) = (deposit as i64, withdraw as i64);
        let reserve = reserve_retries as i64 * withdraw;
        Ok(Self {
            hot: WindowedHot {
                state: AtomicU64::new(enc(reserve)),
                window: AtomicU64::new(0),
                next_ns: AtomicU64::new(ttl_ns / SLOTS as u64),
            },
            tags: core::array::from_fn(|_| AtomicU64::new(EMPTY)),
            nets: core::array::from_fn(|_| AtomicI64::new(0)),
            slot: FastDiv::new(ttl_ns / SLOTS as u64),
            clamp_above: enc(BAL_MAX - deposit),
            grant_from: enc(withdraw),
            ttl_ns,
            reserve,
            deposit,
            withdraw,
            percent_ppm: ppm,
            min_per_sec,
        })
    }

    /// The window over which requests and retries are counted.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = quorate_retry::WindowedBudget::new(Duration::from_secs(10), 0, 0.1)?;
    /// assert_eq!(b.ttl(), Duration::from_secs(10));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn ttl(&self) -> Duration {
        Duration::from_nanos(self.ttl_ns)
    }

    /// Retries that could be granted right now (ignoring pending expiry): the whole-retry part
    /// of the balance, 0 when overdrawn by expiry.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = quorate_retry::WindowedBudget::new(Duration::from_secs(1), 5, 0.0)?;
    /// assert_eq!(b.available(), 5);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn available(&self) -> u64 {
        u64::try_from(self.balance() / self.withdraw).unwrap_or(0)
    }

    fn balance(&self) -> i64 {
        dec(self.hot.state.load(Ordering::Acquire))
    }

    /// Records one request (a deposit of `percent` of a retry).
    ///
    /// A deposit racing a window rotation may be charged to the closing window, which only
    /// makes it expire sooner (the conservative direction).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = quorate_retry::WindowedBudget::new(Duration::from_secs(1), 0, 1.0)?;
    /// b.deposit(0);
    /// assert_eq!(b.available(), 1);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[inline]
    pub fn deposit(&self, now: u64) {
        if self.deposit == 0 {
            if let Some(w) = self.due(now) {
                self.rotate(w);
            }
            return;
        }
        // One fetch_add: a deposit needs no check. The biased balance sits in bits 0..62 with
        // a whole spare bit (2^62 units) of headroom below the rotation flag, and is clamped
        // back to the maximum long before it could reach it. The window is read only after
        // the fetch_add, when the line is already in this core's cache (reading it first
        // would fetch the line shared and then again exclusive: two transfers under
        // contention instead of one).
        // `deposit` is in 0..=1e9, so the cast is exact.
        let prior = self
            .hot
            .state
            .fetch_add(self.deposit as u64, Ordering::AcqRel);
        if now >= self.hot.next_ns.load(Ordering::Acquire) || prior & !ROTATING > self.clamp_above {
            self.deposit_slow(now, prior);
        }
    }

    /// The deposit's rare cases: the balance reached its maximum, or the window is due to
    /// rotate. In the latter the deposit went into the closing window; it is taken back out,
    /// the window is rotated, and it is put into the new one, so a lone thread's accounting is
    /// exact. If another thread rotates between the two steps, the deposit stays counted in
    /// the closing window (it expires sooner: the conservative direction) and the balance is
    /// briefly lower (a retry asked for then may be refused); it is never higher.
    #[cold]
    fn deposit_slow(&self, now: u64, prior: u64) {
        let d = self.deposit as u64;
        if dec(prior) > BAL_MAX - self.deposit {
            self.clamp();
        }
        if let Some(w) = self.due(now) {
            self.hot.state.fetch_sub(d, Ordering::AcqRel);
            self.rotate(w);
            let prior = self.hot.state.fetch_add(d, Ordering::AcqRel);
            if dec(prior) > BAL_MAX - self.deposit {
                self.clamp();
            }
        }
    }

    #[cold]
    fn clamp(&self) {
        let mut cur = self.hot.state.load(Ordering::Relaxed);
        while dec(cur) > BAL_MAX {
            let next = (cur & ROTATING) | enc(BAL_MAX);
            match self.hot.state.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Takes one retry if the balance allows it; the check and the charge are one atomic step.
    ///
    /// A withdrawal is always charged to the window current when it takes effect, never to an
    /// older one (that would let it expire early and fund an extra retry): if the window is
    /// due to rotate and another thread is rotating it, the retry is refused rather than
    /// waited for (a conservative answer for a few nanoseconds once per slot).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = quorate_retry::WindowedBudget::new(Duration::from_secs(1), 1, 0.0)?;
    /// assert!(b.withdraw(0));
    /// assert!(!b.withdraw(0));
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[inline]
    pub fn withdraw(&self, now: u64) -> bool {
        let mut cur = self.hot.state.load(Ordering::Acquire);
        loop {
            if let Some(w) = self.due(now) {
                if cur & ROTATING != 0 {
                    return false;
                }
                self.rotate(w);
                cur = self.hot.state.load(Ordering::Acquire);
                continue;
            }
            // The biased balance must be at least `BIAS + withdraw` (a balance of at least one
            // retry); then subtracting `withdraw` from the word is exactly the encoding of the
            // new balance (in range, no clamping) and cannot borrow from the flag bit.
            if cur & !ROTATING < self.grant_from {
                return false;
            }
            match self.hot.state.compare_exchange_weak(
                cur,
                cur - self.withdraw as u64,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => cur = seen,
            }
        }
    }

    /// `Some(w)`, the window of `now`, when it is later than the current window (the window
    /// must rotate first). The fast path compares `now` with the start of the next window,
    /// kept on the hot line: no division, and no read of the window number.
    #[inline]
    fn due(&self, now: u64) -> Option<u64> {
        if now < self.hot.next_ns.load(Ordering::Acquire) {
            // now < (window + 1) × slot, so now's window is at most the current one.
            return None;
        }
        self.due_slow(now)
    }

    #[cold]
    fn due_slow(&self, now: u64) -> Option<u64> {
        let w = self.slot.div(now);
        (w > self.hot.window.load(Ordering::Acquire)).then_some(w)
    }

    /// Closes the current slot and expires slots older than the ttl. Exactly one thread
    /// rotates at a time (the `ROTATING` bit); others carry on against the balance.
    #[cold]
    fn rotate(&self, w: u64) {
        let mut cur = self.hot.state.load(Ordering::Relaxed);
        loop {
            if cur & ROTATING != 0 {
                return;
            }
            match self.hot.state.compare_exchange_weak(
                cur,
                cur | ROTATING,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => cur = seen,
            }
        }
        let old = self.hot.window.load(Ordering::Acquire);
        if w > old {
            // A closed slot for window `t` is live while `t + SLOTS > w`.
            let expires = |t: u64| t.saturating_add(SLOTS as u64) <= w;
            let mut live_closed: i64 = 0;
            let mut expired: i64 = 0;
            for i in 0..SLOTS {
                let tag = self.tags[i].load(Ordering::Relaxed);
                if tag == EMPTY {
                    continue;
                }
                let net = self.nets[i].load(Ordering::Relaxed);
                live_closed = live_closed.saturating_add(net);
                if expires(tag) {
                    expired = expired.saturating_add(net);
                }
            }
            let closing_live = !expires(old);
            let mut s = self.hot.state.load(Ordering::Acquire);
            let closing_net = loop {
                let bal = dec(s);
                let closing_net = bal - self.reserve - live_closed;
                let drop = if closing_live {
                    expired
                } else {
                    expired + closing_net
                };
                let next = ROTATING | enc(bal - drop);
                match self.hot.state.compare_exchange_weak(
                    s,
                    next,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break closing_net,
                    Err(seen) => s = seen,
                }
            };
            for i in 0..SLOTS {
                let tag = self.tags[i].load(Ordering::Relaxed);
                if tag != EMPTY && expires(tag) {
                    self.tags[i].store(EMPTY, Ordering::Relaxed);
                    self.nets[i].store(0, Ordering::Relaxed);
                }
            }
            if closing_live {
                // The slot's previous occupant (tag <= old - SLOTS < w - SLOTS) expired above.
                let i = (old % SLOTS as u64) as usize;
                self.tags[i].store(old, Ordering::Relaxed);
                self.nets[i].store(closing_net, Ordering::Relaxed);
            }
            self.hot.window.store(w, Ordering::Release);
            // After the window, so a thread that sees the new start also sees the new window.
            let next = w.saturating_add(1).saturating_mul(self.slot.divisor());
            self.hot.next_ns.store(next, Ordering::Release);
        }
        self.hot.state.fetch_and(!ROTATING, Ordering::AcqRel);
    }
}

impl RetryBudget for WindowedBudget {
    #[inline]
    fn on_request(&self, now: u64) -> bool {
        self.deposit(now);
        true
    }

    #[inline]
    fn on_failure(&self, _now: u64, _class: OutcomeClass) -> bool {
        true
    }

    #[inline]
    fn try_withdraw(&self, now: u64, _cost: RetryCost) -> Option<Grant> {
        self.withdraw(now).then_some(Grant { cost: 1 })
    }

    #[inline]
    fn on_success(&self, _now: u64, _grant: Option<Grant>) {}
}

// ---------------------------------------------------------------------------------------------
// gRPC retry throttling (gRFC A6).

/// A counter alone on its cache line, so the configuration read on every call is never on the
/// line that the counter's writes bounce between cores.
#[repr(align(64))]
#[derive(Debug)]
struct HotWord(AtomicU64);

/// gRPC client retry throttling, exactly as gRFC A6 specifies it.
///
/// Tokens start at `max_tokens`. Every failed attempt (other than "not sent" and fatal) costs
/// one token, every success earns `token_ratio` (capped at `max_tokens`), and retries are
/// allowed only while the count is strictly above `max_tokens / 2`. Tokens are held in
/// thousandths, matching the gRFC's three decimal places of `token_ratio` (further decimals
/// are ignored, as the gRFC says), so the accounting is exact.
///
/// ```
/// use quorate_retry::{GrpcThrottle, OutcomeClass, RetryBudget, RetryCost};
///
/// let t = GrpcThrottle::new(4.0, 0.5)?;
/// t.on_failure(0, OutcomeClass::Transient); // 3 > 2: retries allowed
/// assert!(t.try_withdraw(0, RetryCost::Standard).is_some());
/// t.on_failure(0, OutcomeClass::Transient); // 2, not > 2: throttled
/// assert!(t.try_withdraw(0, RetryCost::Standard).is_none());
/// t.on_success(0, None); // 2.5 > 2
/// assert!(t.try_withdraw(0, RetryCost::Standard).is_some());
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct GrpcThrottle {
    milli_tokens: HotWord,
    max_milli: u64,
    ratio_milli: u64,
}

impl GrpcThrottle {
    /// A throttle with an integral `max_tokens` in (0, 1000] and `token_ratio` > 0 (three
    /// decimals kept), validated as gRFC A6 validates `retryThrottling`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] if `max_tokens` is NaN, not an integer or outside
    /// (0, 1000], or `token_ratio` is NaN, infinite, or not positive after truncation to three
    /// decimals (gRPC core rejects a ratio that truncates to zero too).
    ///
    /// ```
    /// use quorate_retry::GrpcThrottle;
    /// assert!(GrpcThrottle::new(10.0, 0.1).is_ok());
    /// assert!(GrpcThrottle::new(0.0, 0.1).is_err());
    /// assert!(GrpcThrottle::new(10.0, 0.0001).is_err());
    /// ```
    pub fn new(max_tokens: f64, token_ratio: f64) -> Result<Self, ConfigError> {
        // gRFC A6: `maxTokens` MUST be an integer in (0, 1000].
        let max_milli = fixed(max_tokens, 1.0, 1000.0, 1000.0, "max_tokens")?;
        if max_tokens.fract() != 0.0 {
            return Err(ConfigError::OutOfRange { what: "max_tokens" });
        }
        // gRFC A6: `tokenRatio` MUST be greater than 0 (nothing else; a ratio above
        // `maxTokens` just refills the bucket in one success).
        if !token_ratio.is_finite() || token_ratio <= 0.0 {
            return Err(ConfigError::OutOfRange {
                what: "token_ratio",
            });
        }
        // Truncate to three decimals; the tiny epsilon keeps 0.1 * 1000 = 99.999… at 100.
        // A ratio above `max_tokens` behaves exactly like `max_tokens` (tokens are capped), so
        // it is clamped there, which also keeps the float-to-integer cast in range.
        let ratio_milli = ((token_ratio.min(max_tokens) * 1000.0) + 1e-6).floor() as u64;
        if ratio_milli == 0 {
            return Err(ConfigError::OutOfRange {
                what: "token_ratio",
            });
        }
        Ok(Self {
            milli_tokens: HotWord(AtomicU64::new(max_milli)),
            max_milli,
            ratio_milli,
        })
    }

    /// The current token count, in thousandths.
    ///
    /// ```
    /// let t = quorate_retry::GrpcThrottle::new(10.0, 0.1)?;
    /// assert_eq!(t.milli_tokens(), 10_000);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn milli_tokens(&self) -> u64 {
        self.milli_tokens.0.load(Ordering::Acquire)
    }

    /// Applies `f` atomically and returns the new count. The first compare-and-swap is tried
    /// against `guess` rather than a freshly loaded value: a compare-and-swap that fails still
    /// brings the cache line over exclusively and returns the real value, so under contention
    /// this costs one line transfer where a load followed by a compare-and-swap costs two.
    #[inline]
    fn update(&self, guess: u64, f: impl Fn(u64) -> u64) -> u64 {
        let mut cur = guess;
        loop {
            let next = f(cur);
            match self.milli_tokens.0.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => cur = seen,
            }
        }
    }
}

impl RetryBudget for GrpcThrottle {
    #[inline]
    fn on_request(&self, _now: u64) -> bool {
        true
    }

    #[inline]
    fn on_failure(&self, _now: u64, class: OutcomeClass) -> bool {
        let after = if class.is_retryable() && class != OutcomeClass::NotSent {
            // The count is usually full (a healthy dependency), or this thread just wrote it.
            self.update(self.max_milli, |t| t.saturating_sub(1000))
        } else {
            self.milli_tokens.0.load(Ordering::Acquire)
        };
        after * 2 > self.max_milli
    }

    #[inline]
    fn try_withdraw(&self, _now: u64, _cost: RetryCost) -> Option<Grant> {
        (self.milli_tokens.0.load(Ordering::Acquire) * 2 > self.max_milli)
            .then_some(Grant { cost: 0 })
    }

    #[inline]
    fn on_success(&self, _now: u64, _grant: Option<Grant>) {
        let (ratio, max) = (self.ratio_milli, self.max_milli);
        // A healthy dependency keeps the count at its maximum, where a success changes
        // nothing: it is then a plain read (linearized at the load), and successes leave the
        // line shared in every core's cache instead of bouncing it between them.
        let cur = self.milli_tokens.0.load(Ordering::Relaxed);
        if cur == max {
            return;
        }
        self.update(cur, |t| t.saturating_add(ratio).min(max));
    }
}

// ---------------------------------------------------------------------------------------------
// AWS SDK retry quota (standard retry mode).

/// The AWS SDKs' retry quota ("standard" retry mode), shared by every request to a service.
///
/// The quota starts full at `capacity` (500). A retry takes `retry_cost` (5), or
/// `timeout_cost` (10) after a timeout, and is refused when the quota cannot pay. A request
/// that succeeds on its first try refills `refill` (1); a retry that succeeds refunds what it
/// took. The quota never exceeds its capacity.
///
/// ```
/// use quorate_retry::{RetryBudget, RetryCost, RetryQuota};
///
/// let q = RetryQuota::new(10, 5, 10, 1)?;
/// let g = q.try_withdraw(0, RetryCost::Standard).expect("10 >= 5");
/// assert!(q.try_withdraw(0, RetryCost::Timeout).is_none()); // 5 < 10
/// q.on_success(0, Some(g)); // refund
/// assert_eq!(q.available(), 10);
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct RetryQuota {
    available: HotWord,
    capacity: u64,
    retry_cost: u64,
    timeout_cost: u64,
    refill: u64,
}

impl RetryQuota {
    /// The AWS SDK defaults: capacity 500, retry cost 5, timeout retry cost 10, refill 1.
    ///
    /// ```
    /// assert_eq!(quorate_retry::RetryQuota::standard().available(), 500);
    /// ```
    #[must_use]
    pub fn standard() -> Self {
        Self {
            available: HotWord(AtomicU64::new(500)),
            capacity: 500,
            retry_cost: 5,
            timeout_cost: 10,
            refill: 1,
        }
    }

    /// A quota with custom parameters.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] if `capacity` or a cost is zero; [`ConfigError::OutOfRange`] if a
    /// cost or `refill` exceeds `capacity`.
    ///
    /// ```
    /// assert!(quorate_retry::RetryQuota::new(500, 5, 10, 1).is_ok());
    /// assert!(quorate_retry::RetryQuota::new(4, 5, 10, 1).is_err());
    /// ```
    pub fn new(
        capacity: u64,
        retry_cost: u64,
        timeout_cost: u64,
        refill: u64,
    ) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::Zero { what: "capacity" });
        }
        if retry_cost == 0 || timeout_cost == 0 {
            return Err(ConfigError::Zero { what: "retry cost" });
        }
        if retry_cost > capacity || timeout_cost > capacity || refill > capacity {
            return Err(ConfigError::OutOfRange { what: "retry cost" });
        }
        Ok(Self {
            available: HotWord(AtomicU64::new(capacity)),
            capacity,
            retry_cost,
            timeout_cost,
            refill,
        })
    }

    /// Units left in the quota.
    ///
    /// ```
    /// assert_eq!(quorate_retry::RetryQuota::new(7, 5, 5, 1)?.available(), 7);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn available(&self) -> u64 {
        self.available.0.load(Ordering::Acquire)
    }

    #[inline]
    fn add(&self, amount: u64) {
        let mut cur = self.available.0.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_add(amount).min(self.capacity);
            match self.available.0.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(seen) => cur = seen,
            }
        }
    }
}

impl RetryBudget for RetryQuota {
    #[inline]
    fn on_request(&self, _now: u64) -> bool {
        true
    }

    #[inline]
    fn on_failure(&self, _now: u64, _class: OutcomeClass) -> bool {
        true
    }

    #[inline]
    fn try_withdraw(&self, _now: u64, cost: RetryCost) -> Option<Grant> {
        let cost = match cost {
            RetryCost::Standard => self.retry_cost,
            RetryCost::Timeout => self.timeout_cost,
        };
        let mut cur = self.available.0.load(Ordering::Relaxed);
        loop {
            if cur < cost {
                return None;
            }
            match self.available.0.compare_exchange_weak(
                cur,
                cur - cost,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Grant { cost }),
                Err(seen) => cur = seen,
            }
        }
    }

    #[inline]
    fn on_success(&self, _now: u64, grant: Option<Grant>) {
        match grant {
            Some(g) => self.add(g.cost),
            None => {
                if self.refill > 0 {
                    self.add(self.refill);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Google SRE adaptive throttling.

/// Which of the two counts of a [`SlotPair`].
#[derive(Debug, Clone, Copy)]
enum Count {
    Requests,
    Accepts,
}

/// One slot of the sliding window: the requests and the accepts counted in it, side by side
/// on a cache line of their own (a round of the throttle writes both, so together they move
/// between cores as one line). Each word packs the slot's window number (high 32 bits) and
/// its count (low 32 bits).
#[repr(align(64))]
#[derive(Debug)]
struct SlotPair {
    requests: AtomicU64,
    accepts: AtomicU64,
}

impl SlotPair {
    #[inline]
    fn get(&self, which: Count) -> &AtomicU64 {
        match which {
            Count::Requests => &self.requests,
            Count::Accepts => &self.accepts,
        }
    }
}

/// A slot's count saturates here. The optimistic `fetch_add` may push a word past it by one
/// per racing thread before the increment is taken back, so it sits far enough below 2^32
/// (2^31 − 1) that no number of threads can carry into the window number.
const COUNT_MAX: u64 = 0x7fff_ffff;

/// A never-used slot word: count 0 in window `−SLOTS` (mod 2^32), which is older than every
/// window from 0 on and never live. (A tag of 0 would read as live while the window is below
/// `SLOTS`, and an optimistic increment that lands in the word before it is replaced would
/// briefly be counted.)
const NEVER: u64 = ((1u64 << 32) - SLOTS as u64) << 32;

/// Lock-free request and accept counters over a sliding window of `SLOTS` slots.
#[derive(Debug)]
struct WindowCounter {
    slots: [SlotPair; SLOTS],
}

impl WindowCounter {
    fn new() -> Self {
        Self {
            slots: core::array::from_fn(|_| SlotPair {
                requests: AtomicU64::new(NEVER),
                accepts: AtomicU64::new(NEVER),
            }),
        }
    }

    #[inline]
    fn word(&self, w: u64, which: Count) -> &AtomicU64 {
        self.slots[(w % SLOTS as u64) as usize].get(which)
    }

    /// Counts one event in window `w`; returns whether it was counted in window `w`'s own
    /// slot (not when saturated, nor when a newer window holds the slot).
    ///
    /// The common case, a slot already holding window `w`, is a single optimistic `fetch_add`
    /// (one read-modify-write and no load before it, so one cache-line transfer under
    /// contention). Its prior value tells whether the guess held; if not, the increment went
    /// into a word holding another window and [`add_slow`](Self::add_slow) settles it.
    #[inline]
    fn add(&self, w: u64, which: Count) -> bool {
        let tag = w & 0xffff_ffff;
        let word = self.word(w, which);
        let prior = word.fetch_add(1, Ordering::AcqRel);
        if prior >> 32 != tag || prior & 0xffff_ffff >= COUNT_MAX {
            return Self::add_slow(word, tag, prior);
        }
        true
    }

    /// The rare cases of [`add`](Self::add), whose `fetch_add` returned `prior`:
    ///
    /// - the slot holds window `w` but its count is saturated: the increment is taken back;
    /// - the slot holds a newer window (this thread is a laggard): the increment counts there,
    ///   as intended, unless saturated as above;
    /// - the slot holds an older window (an expired one: same slot, at least `SLOTS` windows
    ///   back, or a never-used word, so no reader in window `w` counts it): the increment
    ///   landed in that dead word. The word is then replaced by `(w, 1)`, which discards it;
    ///   if another thread replaced it first (the word now holds `w` or newer), the increment
    ///   was discarded with it and is counted again in the live word. Only a laggard thread
    ///   still in a window for which the old word is live, reading at that instant, can see
    ///   the stray increment (one extra count, within the approximation a laggard already
    ///   makes: a moment later the whole old slot is gone from its view).
    #[cold]
    fn add_slow(word: &AtomicU64, tag: u64, prior: u64) -> bool {
        let older = |t: u64| tag.wrapping_sub(t) & 0xffff_ffff < 1 << 31 && t != tag;
        if !older(prior >> 32) {
            // Our increment is in a live word (ours or a newer window's): it stands unless the
            // count was already saturated.
            if prior & 0xffff_ffff >= COUNT_MAX {
                word.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
            return prior >> 32 == tag;
        }
        let mut cur = word.load(Ordering::Relaxed);
        loop {
            let (t, c) = (cur >> 32, cur & 0xffff_ffff);
            let next = if older(t) {
                (tag << 32) | 1 // the slot holds an older window: start afresh
            } else if c >= COUNT_MAX {
                return false; // ours, or newer, and saturated
            } else {
                (t << 32) | (c + 1) // ours, or newer: count in it
            };
            match word.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return next >> 32 == tag,
                Err(seen) => cur = seen,
            }
        }
    }

    /// The count of window `w`'s own slot (0 if the slot holds another window).
    #[inline]
    fn current(&self, w: u64, which: Count) -> u64 {
        let v = self.word(w, which).load(Ordering::Acquire);
        if v >> 32 == w & 0xffff_ffff {
            v & 0xffff_ffff
        } else {
            0
        }
    }

    /// `(live total, count of window w's own slot)`, from one load per slot.
    fn sums(&self, w: u64, which: Count) -> (u64, u64) {
        let tag = w & 0xffff_ffff;
        let own = (w % SLOTS as u64) as usize;
        let (mut total, mut current) = (0, 0);
        for (i, slot) in self.slots.iter().enumerate() {
            let v = slot.get(which).load(Ordering::Acquire);
            let age = tag.wrapping_sub(v >> 32) & 0xffff_ffff;
            if age < SLOTS as u64 {
                total += v & 0xffff_ffff;
                // Only window w's own slot is the current one: a never-used slot (tag 0,
                // count 0) elsewhere also reads as age 0 while w is 0, and must not be
                // mistaken for it, or the current slot's count is cached as closed and then
                // counted twice.
                if i == own && age == 0 {
                    current = v & 0xffff_ffff;
                }
            }
        }
        (total, current)
    }
}

/// Google SRE client-side adaptive throttling ("Handling Overload", *Site Reliability
/// Engineering*).
///
/// The client counts, over a sliding window (two minutes in the book), the requests it tried
/// and those the backend accepted, and rejects each new request or retry locally with
/// probability `max(0, (requests − K × accepts) / (requests + 1))`. With `K = 2` the client
/// keeps sending up to twice what the backend accepts; locally rejected requests count as
/// requests, so throttling tightens as the backend degrades. A backend "accepts" a request when
/// it answers it definitively (success or a fatal error); throttled, transient and ambiguous
/// outcomes are not accepts. The random draw is counter-based on a seed, so a run is
/// replayable and the throttle stays lock-free.
///
/// ```
/// use std::time::Duration;
/// use quorate_retry::{AdaptiveThrottle, OutcomeClass, RetryBudget};
///
/// let t = AdaptiveThrottle::new(2.0, Duration::from_secs(120))?.with_seed(7);
/// // A healthy backend: every request accepted, nothing rejected.
/// for _ in 0..100 {
///     assert!(t.on_request(0));
///     t.on_success(0, None);
/// }
/// assert_eq!(t.reject_probability(0), 0.0);
/// // The backend starts throttling everything: the client begins to shed load locally.
/// let shed = (0..1000).filter(|_| { let ok = t.on_request(0); if ok { t.on_failure(0, OutcomeClass::Throttled); } !ok }).count();
/// assert!(shed > 500);
/// # Ok::<(), quorate_retry::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct AdaptiveThrottle {
    /// Requests and accepts, per slot.
    counts: WindowCounter,
    /// The window the cached closed-slot sums below were taken for (`u64::MAX` = none).
    cached_window: AtomicU64,
    /// Requests and accepts of the nine closed slots of `cached_window`: closed slots no
    /// longer change (bar stragglers), so the hot path reads two cached sums and the current
    /// slot instead of all twenty counters.
    cached_requests: AtomicU64,
    cached_accepts: AtomicU64,
    /// Counter of random draws, on its own line (written only while rejecting).
    draws: HotWord,
    seed: u64,
    k_milli: u64,
    slot: FastDiv,
}

impl AdaptiveThrottle {
    /// A throttle with multiplier `k` (1 to 1000; the book suggests 2) over `window`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::OutOfRange`] if `k` is NaN or outside 1..=1000, or `window` is shorter
    /// than 10 ns or does not fit in 64-bit nanoseconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// assert!(quorate_retry::AdaptiveThrottle::new(2.0, Duration::from_secs(120)).is_ok());
    /// assert!(quorate_retry::AdaptiveThrottle::new(0.5, Duration::from_secs(120)).is_err());
    /// ```
    pub fn new(k: f64, window: Duration) -> Result<Self, ConfigError> {
        let k_milli = fixed(k, 1.0, 1000.0, 1000.0, "k")?;
        let window = nanos(window).map_err(|_| ConfigError::OutOfRange { what: "window" })?;
        if window < SLOTS as u64 {
            return Err(ConfigError::OutOfRange { what: "window" });
        }
        Ok(Self {
            counts: WindowCounter::new(),
            cached_window: AtomicU64::new(u64::MAX),
            cached_requests: AtomicU64::new(0),
            cached_accepts: AtomicU64::new(0),
            draws: HotWord(AtomicU64::new(0)),
            seed: rand::RngCore::next_u64(&mut crate::rng::ThreadLocalRng),
            k_milli,
            slot: FastDiv::new(window / SLOTS as u64),
        })
    }

    /// The same throttle with a fixed seed for its random draws (replayable runs).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let t = quorate_retry::AdaptiveThrottle::new(2.0, Duration::from_secs(60))?.with_seed(1);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// `(requests·1000 − K_milli·accepts, (requests + 1)·1000)`, the rejection odds, leaving
    /// out `own` requests already counted in window `w`'s slot by the caller.
    #[inline]
    fn odds(&self, w: u64, own: u64) -> (u128, u128) {
        let cw = self.cached_window.load(Ordering::Acquire);
        let (req, acc) = if cw == w {
            (
                self.cached_requests.load(Ordering::Relaxed)
                    + self.counts.current(w, Count::Requests),
                self.cached_accepts.load(Ordering::Relaxed)
                    + self.counts.current(w, Count::Accepts),
            )
        } else {
            // Once per slot: sum all slots, and publish the closed slots' sums for the fast
            // path. One thread publishes (it claims the cache with a CAS); the others just use
            // their own exact sums.
            let (req_all, req_cur) = self.counts.sums(w, Count::Requests);
            let (acc_all, acc_cur) = self.counts.sums(w, Count::Accepts);
            let newer = cw == u64::MAX || (cw != BUSY && w > cw);
            if newer
                && self
                    .cached_window
                    .compare_exchange(cw, BUSY, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                self.cached_requests
                    .store(req_all - req_cur, Ordering::Relaxed);
                self.cached_accepts
                    .store(acc_all - acc_cur, Ordering::Relaxed);
                self.cached_window.store(w, Ordering::Release);
            }
            (req_all, acc_all)
        };
        let (req, acc) = (u128::from(req.saturating_sub(own)), u128::from(acc));
        let num = (req * 1000).saturating_sub(u128::from(self.k_milli) * acc);
        (num, (req + 1) * 1000)
    }

    /// The current local rejection probability, `max(0, (requests − K·accepts) / (requests + 1))`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let t = quorate_retry::AdaptiveThrottle::new(2.0, Duration::from_secs(60))?;
    /// assert_eq!(t.reject_probability(0), 0.0);
    /// # Ok::<(), quorate_retry::ConfigError>(())
    /// ```
    #[must_use]
    pub fn reject_probability(&self, now: u64) -> f64 {
        let (num, den) = self.odds(self.slot.div(now), 0);
        num as f64 / den as f64
    }

    /// Counts a request and decides it: `true` = send it.
    #[inline]
    fn admit(&self, now: u64) -> bool {
        let w = self.slot.div(now);
        // Count the request first, then read the counts (leaving it out): the read then finds
        // the slot's line already in this core's cache, where reading first and writing after
        // would fetch the line twice under contention (shared, then exclusive).
        let own = self.counts.add(w, Count::Requests);
        let (num, den) = self.odds(w, u64::from(own));
        if num == 0 {
            return true;
        }
        let n = self.draws.0.fetch_add(1, Ordering::Relaxed);
        let x = splitmix64(self.seed ^ splitmix64(n));
        // Uniform in [0, den): x * den / 2^64.
        let r = (u128::from(x) * den) >> 64;
        r >= num
    }
}

impl RetryBudget for AdaptiveThrottle {
    #[inline]
    fn on_request(&self, now: u64) -> bool {
        self.admit(now)
    }

    #[inline]
    fn on_failure(&self, now: u64, class: OutcomeClass) -> bool {
        if class == OutcomeClass::Fatal {
            let _ = self.counts.add(self.slot.div(now), Count::Accepts);
        }
        true
    }

    #[inline]
    fn try_withdraw(&self, now: u64, _cost: RetryCost) -> Option<Grant> {
        self.admit(now).then_some(Grant { cost: 0 })
    }

    #[inline]
    fn on_success(&self, now: u64, _grant: Option<Grant>) {
        let _ = self.counts.add(self.slot.div(now), Count::Accepts);
    }
}

#[cfg(all(test, not(quorate_loom)))]
mod tests {
    use super::*;

    #[test]
    fn deposits_saturate_instead_of_reaching_the_rotation_flag() {
        let b = WindowedBudget::new(Duration::from_secs(1), 0, 999.999_999).unwrap();
        assert_eq!(b.deposit, 999_999_999);
        b.hot.state.store(enc(BAL_MAX - 10), Ordering::Relaxed);
        for _ in 0..1000 {
            b.deposit(0);
        }
        let s = b.hot.state.load(Ordering::Relaxed);
        assert_eq!(s & ROTATING, 0);
        assert_eq!(dec(s), BAL_MAX);
        assert!(b.withdraw(0));
    }
}
