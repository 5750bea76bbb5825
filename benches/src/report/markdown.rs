//! `BENCHMARKS.md`: the headline table, then every group of every bench target.

use std::fmt::Write as _;

use super::headline::{Evaluated, Verdict};
use super::results::{Measured, Results};
use super::targets::Unit;

/// Facts about the run, printed at the top of the report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunInfo {
    /// CPU model and cores, e.g. `AMD EPYC, 2 cores`.
    pub machine: String,
    /// `rustc --version` of the toolchain that built the benches.
    pub toolchain: String,
    /// Date (and time) of the run, UTC.
    pub date: String,
    /// The command that produced the report, e.g. `scripts/bench --quick`.
    pub command: String,
    /// `quick` or `full`, with the criterion settings used.
    pub mode: String,
    /// Path of the SVG chart relative to the report, if one was written.
    pub chart: Option<String>,
}

/// The crate a bench target measures (`clocks` → `quorate-clocks`).
#[must_use]
pub fn crate_of(bench: &str) -> String {
    format!("quorate-{bench}")
}

/// A value for humans: `12.34 ns`, `5.60 µs`, ..., or `59,757 B`.
#[must_use]
pub fn human(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => {
            let n = value.round() as u64;
            let digits = n.to_string();
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(c);
            }
            format!("{out} B")
        }
        Unit::Nanos => {
            if value < 1_000.0 {
                format!("{value:.2} ns")
            } else if value < 1_000_000.0 {
                format!("{:.2} µs", value / 1_000.0)
            } else if value < 1_000_000_000.0 {
                format!("{:.2} ms", value / 1_000_000.0)
            } else {
                format!("{:.2} s", value / 1_000_000_000.0)
            }
        }
    }
}

fn per_element(m: &Measured) -> String {
    match m.elements {
        Some(n) if n > 1 => format!("{}/elem", human(m.per_element(), m.unit)),
        _ => human(m.value, m.unit),
    }
}

fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}/s")
    }
}

fn target_text(e: &Evaluated) -> String {
    let r = &e.row;
    let mut parts = Vec::new();
    if let Some(min) = r.min_ratio {
        let vs = match (&r.target_peer, r.peers.as_slice()) {
            (Some(p), _) => format!("`{p}`"),
            (None, [only]) => format!("`{only}`"),
            (None, _) => "the best peer".to_owned(),
        };
        let mut t = format!("≥ {min:.2}x vs {vs}");
        if let Some((_, ratio)) = &e.target_peer_ratio {
            let _ = write!(t, " (is {ratio:.2}x)");
        }
        parts.push(t);
    }
    if let Some(max) = r.max_over_floor {
        let mut t = format!("≤ {max:.2}x floor");
        if let Some(f) = e.over_floor {
            let _ = write!(t, " (is {f:.2}x)");
        }
        parts.push(t);
    }
    if let Some(per_sec) = r.min_per_sec {
        parts.push(format!("≥ {}", rate(per_sec)));
    }
    if let Some(ns) = r.max_ns {
        parts.push(format!("≤ {}", human(ns, Unit::Nanos)));
    }
    if parts.is_empty() {
        "—".to_owned()
    } else {
        parts.join("; ")
    }
}

fn ratio_text(e: &Evaluated) -> String {
    if let Some(r) = e.ratio {
        format!("{r:.2}x")
    } else if let Some(h) = e.budget_headroom {
        if h >= 1.0 {
            format!("{h:.2}x headroom")
        } else {
            format!("{:.2}x over budget", 1.0 / h)
        }
    } else {
        "—".to_owned()
    }
}

fn quorate_text(e: &Evaluated) -> String {
    match &e.quorate {
        None => "not measured".to_owned(),
        Some((name, m)) => {
            let mut t = per_element(m);
            if e.row.min_per_sec.is_some() && m.unit == Unit::Nanos && m.per_element() > 0.0 {
                let _ = write!(t, " ({})", rate(1e9 / m.per_element()));
            }
            if e.row.quorate.len() > 1 {
                let _ = write!(t, " (`{name}`, slowest of {})", e.row.quorate.len());
            } else if name != "quorate" {
                let _ = write!(t, " (`{name}`)");
            }
            t
        }
    }
}

fn peer_text(e: &Evaluated) -> String {
    match &e.best_peer {
        Some((name, m)) => format!("{} (`{name}`)", per_element(m)),
        None if e.row.peers.is_empty() => "—".to_owned(),
        None => "not measured".to_owned(),
    }
}

fn operation_text(e: &Evaluated) -> String {
    if e.param.is_empty() || e.row.params.len() < 2 || e.quorate.is_none() {
        e.row.operation.clone()
    } else {
        format!("{} (worst: {})", e.row.operation, e.param)
    }
}

/// Renders the headline table (Markdown).
#[must_use]
pub fn headline_table(rows: &[Evaluated]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| crate | operation | quorate | best peer | ratio | target | floor | met |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---|---:|---|");
    for e in rows {
        let floor = e.floor.as_ref().map_or_else(
            || "—".to_owned(),
            |f| {
                let name = e.row.floor.as_deref().unwrap_or("floor");
                format!("{} (`{name}`)", per_element(f))
            },
        );
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} | {} | {} | {} | {} | {} | {} |",
            crate_of(&e.row.bench),
            e.row.bench,
            operation_text(e),
            quorate_text(e),
            peer_text(e),
            ratio_text(e),
            target_text(e),
            floor,
            e.verdict.label(),
        );
    }
    out
}

/// Renders a full group table (every row, every implementation).
fn group_table(out: &mut String, name: &str, group: &super::results::Group) {
    let _ = writeln!(out, "\n### `{name}`\n");
    let _ = writeln!(
        out,
        "| parameter | implementation | mean | peer / quorate |"
    );
    let _ = writeln!(out, "|---|---|---:|---|");
    let is_ours = |n: &str| n.starts_with("quorate");
    let mut params: Vec<&String> = group.keys().collect();
    // Numeric parameters in numeric order (4, 16, 128), others after, alphabetically;
    // `1k`/`100k` by their value.
    let key = |p: &str| -> (u8, u64, String) {
        let (digits, suffix) = p.split_at(p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len()));
        let mult = match suffix {
            "" => Some(1),
            "k" => Some(1_000),
            "m" | "M" => Some(1_000_000),
            _ => None,
        };
        match (digits.parse::<u64>(), mult) {
            (Ok(n), Some(m)) => (0, n.saturating_mul(m), String::new()),
            _ => (1, 0, p.to_owned()),
        }
    };
    params.sort_by_key(|p| key(p));
    for param in params {
        let Some(impls) = group.get(param) else {
            continue;
        };
        let p = if param.is_empty() { "-" } else { param };
        for (name, m) in impls {
            let ratios = if is_ours(name) && m.per_element() > 0.0 {
                impls
                    .iter()
                    .filter(|(peer, _)| !is_ours(peer))
                    .map(|(peer, pm)| format!("{peer} {:.2}x", pm.per_element() / m.per_element()))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                String::new()
            };
            let _ = writeln!(out, "| {p} | {name} | {} | {ratios} |", per_element(m));
        }
    }
}

/// Renders the whole report.
#[must_use]
pub fn render(info: &RunInfo, headline: &[Evaluated], results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Generated by `{}` on {} — machine: {}; toolchain: {}; mode: {}. Every comparison was \
         measured in one criterion run with quorate and its peers side by side in the same \
         group; absolute times are noisy on shared machines, the ratios are what to compare. \
         Ratios are the peer's mean divided by quorate's: above 1.00x quorate is faster.\n",
        info.command, info.date, info.machine, info.toolchain, info.mode
    );
    let _ = writeln!(out, "## Headline\n");
    let _ = writeln!(
        out,
        "One row per operation a user would pick a crate for. The targets come from \
         [`benches/targets.toml`](benches/targets.toml), next to the benchmark code. *best peer* \
         is the fastest peer crate measured; *floor* is the hardware bound for the operation \
         (no implementation can beat it). Where a row names several parameters or several \
         quorate implementations, it shows the worst case.\n"
    );
    out.push_str(&headline_table(headline));
    let notes: Vec<String> = headline
        .iter()
        .filter_map(|e| {
            let note = e.row.note.as_deref();
            let source = e.row.source.as_deref();
            if note.is_none() && source.is_none() {
                return None;
            }
            let mut t = format!("- {}: ", e.row.operation);
            if let Some(n) = note {
                t.push_str(n);
                if source.is_some() {
                    t.push(' ');
                }
            }
            if let Some(s) = source {
                let _ = write!(t, "(target: {s})");
            }
            Some(t)
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:\n");
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    if let Some(chart) = &info.chart {
        let _ = writeln!(
            out,
            "\n![Headline ratios, log scale]({chart})\n\nBars: peer time / quorate time, log \
             scale (right of 1x: quorate is faster). Solid tick: the ratio the target needs; \
             dashed tick: the ratio at the hardware floor. Rows without a peer show the budget \
             divided by quorate's time."
        );
    }
    let _ = writeln!(out, "\n## All groups\n");
    let _ = writeln!(
        out,
        "Every group of every bench target (`benches/benches/<target>.rs`), parameters in \
         order. `*_floor` rows are not peers but the hardware bound for the operation. \
         Throughput groups show the time per element."
    );
    for (bench, groups) in &results.benches {
        // `## <bench>`: the crate READMEs link to `BENCHMARKS.md#<bench>`.
        let _ = writeln!(out, "\n## {bench}\n");
        let _ = writeln!(
            out,
            "`{}`, bench target [`benches/benches/{bench}.rs`](benches/benches/{bench}.rs).",
            crate_of(bench)
        );
        if groups.is_empty() {
            let _ = writeln!(out, "\nNot measured in this run.");
            continue;
        }
        for (name, group) in groups {
            group_table(&mut out, name, group);
        }
    }
    let not_measured: Vec<&str> = headline
        .iter()
        .filter(|e| e.verdict == Verdict::NotMeasured)
        .map(|e| e.row.operation.as_str())
        .collect();
    if !not_measured.is_empty() {
        let _ = writeln!(
            out,
            "\n---\n\nHeadline rows not measured in this run: {}.",
            not_measured.join("; ")
        );
    }
    out
}
