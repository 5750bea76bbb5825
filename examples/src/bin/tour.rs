//! The fault tour: `cargo run --release -p quorate-examples --bin tour -- --help`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use quorate_examples::{Backend, Progress, Scenario, ScenarioReport, TourOptions, run};

/// Runs quorate's practical designs (payment capture, inventory reservation, a job scheduler,
/// a multi-region user profile, a retry storm) under injected faults and checks their
/// invariants.
///
/// Faults come from a seeded simulated network and process model: message loss, duplication,
/// reordering and delay; clean and asymmetric partitions and their healing; pauses; crashes at
/// named points; client timeouts after commit; ambiguous dependency timeouts; wall-clock skew
/// and backward steps. The run is
/// reproducible from the seed it prints. Records go to SQLite files in a temporary directory,
/// or to PostgreSQL with --database-url. Exit status: 0 when every invariant held, 1 on any
/// violation, 2 when the tour could not run.
#[derive(Debug, Parser)]
#[command(name = "tour", version, about, long_about)]
struct Cli {
    /// Seed of the fault model (default: from the clock; printed at the start).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Operations per scenario.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    scale: u64,
    /// Run only this scenario (repeatable): payment, inventory, scheduler, profile, retry-storm.
    #[arg(long, value_name = "NAME")]
    scenario: Vec<String>,
    /// Print the results as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Also run the job scheduler and the outbox relay as N worker processes against
    /// PostgreSQL, killing and restarting them at random (needs --database-url).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// With --workers: take the leases from etcd (comma-separated client URLs, optionally
    /// `#/key/prefix/`); needs a build with `--features etcd`.
    #[arg(long, value_name = "ENDPOINTS")]
    etcd: Option<String>,
    /// PostgreSQL connection string (URL or key=value); default: SQLite in a temporary directory.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    database_url: Option<String>,
}

/// Progress bars on a terminal, plain lines otherwise; both on stderr.
struct Shown {
    bar: Option<ProgressBar>,
    terminal: bool,
    total: u64,
}

impl Progress for Shown {
    fn start(&mut self, scenario: Scenario, total: u64) {
        self.total = total;
        if self.terminal {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix:>12} [{bar:32}] {pos:>6}/{len:6} ops {elapsed_precise}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(scenario.name());
            self.bar = Some(bar);
        } else {
            eprintln!("{scenario}: running ({total} operations)");
        }
    }

    fn advance(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done.min(self.total));
        }
    }

    fn finish(&mut self, report: &ScenarioReport) {
        if let Some(bar) = self.bar.take() {
            bar.set_position(self.total);
            bar.finish();
        }
        if !self.terminal {
            eprintln!(
                "{}: done, {} operations, {} faults, {} checks, {} violations, {:.1} s",
                report.name,
                report.operations,
                report.faults.total(),
                report.checks(),
                report.violations(),
                report.elapsed_ms as f64 / 1000.0
            );
        }
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    // A crash-drill worker started by the tour itself.
    if let Some(code) = quorate_examples::worker_main() {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            return fail(first.trim_start_matches("error: "));
        }
    };
    let mut scenarios = Vec::new();
    for name in &cli.scenario {
        match Scenario::from_name(name) {
            Some(s) => scenarios.push(s),
            None => {
                return fail(
                    &quorate_examples::TourError::UnknownScenario(name.clone()).to_string(),
                );
            }
        }
    }
    if scenarios.is_empty() {
        scenarios = Scenario::ALL.to_vec();
    }
    let seed = cli.seed.unwrap_or_else(|| {
        let t = quorate_clocks::WallClock::now_unix_nanos(&quorate_clocks::SystemClock);
        t % 1_000_000
    });
    let backend = match cli.database_url.as_deref() {
        Some(url) if !url.is_empty() => Backend::Postgres(url.to_owned()),
        _ => Backend::Sqlite,
    };
    if let Err(e) = quorate_examples::check_backend(&backend) {
        return fail(&e.to_string());
    }
    let options = TourOptions::new(seed)
        .with_scale(cli.scale)
        .with_scenarios(scenarios)
        .with_backend(backend.clone());
    let options = match cli.workers {
        Some(n) => options.with_workers(n),
        None => options,
    };
    let options = match cli.etcd {
        Some(endpoints) => options.with_etcd(endpoints),
        None => options,
    };
    let options = match std::env::current_exe() {
        Ok(exe) => options.with_worker_executable(exe),
        Err(_) => options,
    };
    let banner = format!(
        "quorate fault tour: seed {seed}, scale {}, store {} (reproduce with --seed {seed})",
        cli.scale,
        backend.name()
    );
    if cli.json {
        eprintln!("{banner}");
    } else {
        println!("{banner}");
        let _ = std::io::stdout().flush();
    }
    let mut progress = Shown {
        bar: None,
        terminal: std::io::stderr().is_terminal(),
        total: 0,
    };
    let report = match run(&options, &mut progress) {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    if cli.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(&e.to_string()),
        }
    } else {
        println!();
        print!("{}", report.render_table());
        println!();
        for s in &report.scenarios {
            for d in &s.details {
                println!("{}: {d}", s.name);
            }
        }
    }
    if report.violations() > 0 {
        eprintln!("{} invariant violations (seed {seed})", report.violations());
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
