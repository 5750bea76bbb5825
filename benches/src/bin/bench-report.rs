//! Turns a benchmark run into `BENCHMARKS.md` and the headline chart.
//!
//! Usually run by `scripts/bench`. By hand:
//!
//! ```text
//! cargo run -p quorate-benches --bin bench-report -- \
//!     --results target/bench-run --targets benches/targets.toml \
//!     --benches clocks,quorum,retry,crdt,fencing,idempotency,outbox \
//!     --out BENCHMARKS.md --svg docs/benchmarks.svg --svg-link docs/benchmarks.svg \
//!     --toolchain "$(rustc --version)" --date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
//!     --mode quick --command "scripts/bench --quick"
//! ```
//!
//! `--results DIR` holds one criterion home per bench target (`DIR/<bench>/`) and its stdout
//! (`DIR/<bench>.log`); a bench in `--benches` with nothing there is reported as not measured.
//! Without `--out` the report goes to stdout. Exits non-zero when the targets file is malformed
//! or nothing at all was measured; an unmet target is reported, not an error.
use std::path::PathBuf;
use std::process::ExitCode;

use quorate_benches::report::{self, RunInfo};

#[derive(Debug, Default)]
struct Args {
    results: Option<PathBuf>,
    targets: Option<PathBuf>,
    benches: Vec<String>,
    out: Option<PathBuf>,
    svg: Option<PathBuf>,
    svg_link: Option<String>,
    info: RunInfo,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        info: RunInfo {
            machine: report::machine(),
            toolchain: "unknown toolchain".to_owned(),
            date: "unknown date".to_owned(),
            command: "bench-report".to_owned(),
            mode: "unspecified".to_owned(),
            chart: None,
        },
        ..Args::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--results" => args.results = Some(value.into()),
            "--targets" => args.targets = Some(value.into()),
            "--benches" => {
                args.benches = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "--out" => args.out = Some(value.into()),
            "--svg" => args.svg = Some(value.into()),
            "--svg-link" => args.svg_link = Some(value),
            "--toolchain" => args.info.toolchain = value,
            "--date" => args.info.date = value,
            "--mode" => args.info.mode = value,
            "--command" => args.info.command = value,
            "--machine" => args.info.machine = value,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench-report: {e}");
            }
            eprintln!(
                "usage: bench-report --results DIR --targets FILE [--benches a,b,...] [--out FILE] \
                 [--svg FILE [--svg-link PATH]] [--toolchain S] [--date S] [--mode S] \
                 [--command S] [--machine S]"
            );
            return ExitCode::from(2);
        }
    };
    let Some(results_dir) = args.results else {
        eprintln!("bench-report: --results DIR is required");
        return ExitCode::from(2);
    };
    let rows = match &args.targets {
        None => Vec::new(),
        Some(path) => match std::fs::read_to_string(path) {
            Err(e) => {
                eprintln!("bench-report: cannot read {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            Ok(text) => match report::parse_targets(&text) {
                Ok(rows) => rows,
                Err(e) => {
                    eprintln!("bench-report: {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            },
        },
    };
    let results = match report::read_run(&results_dir, &args.benches) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-report: cannot read {}: {e}", results_dir.display());
            return ExitCode::FAILURE;
        }
    };
    if results.is_empty() {
        eprintln!(
            "bench-report: no criterion estimates under {}",
            results_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let evaluated = report::evaluate_all(&rows, &results);
    let mut info = args.info;
    if let Some(svg) = &args.svg {
        let title = format!("quorate vs the best peer ({})", info.date);
        if let Err(e) = std::fs::write(svg, report::chart(&evaluated, &title)) {
            eprintln!("bench-report: cannot write {}: {e}", svg.display());
            return ExitCode::FAILURE;
        }
        info.chart = Some(
            args.svg_link
                .unwrap_or_else(|| svg.to_string_lossy().into_owned()),
        );
    }
    let text = report::render(&info, &evaluated, &results);
    match &args.out {
        Some(out) => {
            if let Err(e) = std::fs::write(out, text) {
                eprintln!("bench-report: cannot write {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
        }
        None => print!("{text}"),
    }
    // The headline, on stderr, for whoever ran the command.
    eprint!("{}", report::headline_table(&evaluated));
    ExitCode::SUCCESS
}
