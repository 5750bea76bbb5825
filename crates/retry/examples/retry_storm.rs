//! Reproduces the AWS "Exponential Backoff And Jitter" retry-storm study (the model of
//! Brooker's published simulator, its five strategies, N = 10..100, 100 trials per cell) with
//! quorate's real backoff and budgets, and prints the work, completion time and amplification
//! tables.
//!
//! ```text
//! cargo run --release -p quorate-retry --example retry_storm [seed]
//! ```
//!
//! The same seed always prints the same bytes.

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2015);
    let counts: Vec<usize> = (1..=10).map(|i| i * 10).collect();
    print!("{}", quorate_retry::sim::report(&counts, 100, 20_000, seed));
}
