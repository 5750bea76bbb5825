//! The benchmark report: criterion's estimates in, `BENCHMARKS.md` and an SVG chart out.
//!
//! `scripts/bench` runs each bench target with its own criterion home (`DIR/<bench>/`) and
//! keeps its stdout (`DIR/<bench>.log`); [`read_run`] reads that back, [`parse_targets`] reads
//! the headline rows and their targets from `benches/targets.toml`, [`evaluate`] puts the two
//! together, and [`render`] and [`chart`] write the report and the picture.

mod headline;
mod markdown;
mod results;
mod svg;
mod targets;

pub use headline::{Evaluated, Verdict, evaluate};
pub use markdown::{RunInfo, crate_of, headline_table, human, render};
pub use results::{
    BenchResults, Group, Measured, Results, add_interleaved_lines, add_size_lines,
    read_criterion_dir, read_run,
};
pub use svg::chart;
pub use targets::{HeadlineRow, TargetsError, Unit, parse_targets};

/// Evaluates every headline row.
#[must_use]
pub fn evaluate_all(rows: &[HeadlineRow], results: &Results) -> Vec<Evaluated> {
    rows.iter().map(|r| evaluate(r, results)).collect()
}

/// The machine, as the report states it: CPU model (from `/proc/cpuinfo`) and cores.
#[must_use]
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{cpu}, {cores} cores")
}
