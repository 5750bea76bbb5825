//! Criterion's saved estimates (and size lines printed by the benches), read back.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use serde::Deserialize;

use super::targets::Unit;

/// One measured implementation in one row of a group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Criterion's mean time per iteration in nanoseconds, or a size in bytes.
    pub value: f64,
    /// Elements per iteration (criterion `Throughput::Elements`), if the bench declared it.
    pub elements: Option<u64>,
    /// What `value` is.
    pub unit: Unit,
}

impl Measured {
    /// The value per element (per iteration when no throughput was declared).
    #[must_use]
    pub fn per_element(&self) -> f64 {
        match self.elements {
            Some(n) if n > 0 => self.value / n as f64,
            _ => self.value,
        }
    }
}

/// A group's row (its parameter, empty if none) → implementation → measurement.
pub type Group = BTreeMap<String, BTreeMap<String, Measured>>;

/// Everything one bench target produced: group name → rows.
pub type BenchResults = BTreeMap<String, Group>;

/// The results of one run, by bench target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    /// Bench target name → its groups. A bench that ran but produced nothing is present with
    /// no groups.
    pub benches: BTreeMap<String, BenchResults>,
}

impl Results {
    /// The measurement of `implementation` in `group`'s row `param`, in any bench.
    #[must_use]
    pub fn get(&self, group: &str, param: &str, implementation: &str) -> Option<Measured> {
        self.benches
            .values()
            .find_map(|b| b.get(group))
            .and_then(|g| g.get(param))
            .and_then(|row| row.get(implementation))
            .copied()
    }

    /// The rows of `group`, in any bench.
    #[must_use]
    pub fn group(&self, group: &str) -> Option<&Group> {
        self.benches.values().find_map(|b| b.get(group))
    }

    /// Whether nothing at all was measured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.benches.values().all(BTreeMap::is_empty)
    }
}

#[derive(Debug, Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    #[serde(default)]
    throughput: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Debug, Deserialize)]
struct Estimates {
    mean: Estimate,
}

fn elements(throughput: Option<&serde_json::Value>) -> Option<u64> {
    let t = throughput?;
    t.get("Elements")
        .and_then(serde_json::Value::as_u64)
        .or_else(|| {
            t.get("ElementsAndBytes")
                .and_then(|e| e.get("elements"))
                .and_then(serde_json::Value::as_u64)
        })
}

/// Reads one criterion output directory (`$CRITERION_HOME`, i.e. `target/criterion`): every
/// `<...>/new/benchmark.json` with its `estimates.json`. Unreadable pairs are reported on
/// stderr and skipped.
///
/// # Errors
///
/// Any I/O error while walking the directory (a missing directory is an error).
pub fn read_criterion_dir(dir: &Path) -> io::Result<BenchResults> {
    let mut out = BenchResults::new();
    walk(dir, &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, out: &mut BenchResults) -> io::Result<()> {
    let mut entries = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort();
    for path in entries {
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            let bench = fs::read_to_string(path.join("benchmark.json"));
            let est = fs::read_to_string(path.join("estimates.json"));
            let (Ok(bench), Ok(est)) = (bench, est) else {
                continue;
            };
            match (
                serde_json::from_str::<BenchmarkJson>(&bench),
                serde_json::from_str::<Estimates>(&est),
            ) {
                (Ok(b), Ok(e)) if e.mean.point_estimate.is_finite() => {
                    let implementation = b.function_id.unwrap_or_else(|| "-".to_owned());
                    out.entry(b.group_id)
                        .or_default()
                        .entry(b.value_str.unwrap_or_default())
                        .or_default()
                        .insert(
                            implementation,
                            Measured {
                                value: e.mean.point_estimate,
                                elements: elements(b.throughput.as_ref()),
                                unit: Unit::Nanos,
                            },
                        );
                }
                _ => eprintln!("skipping unreadable estimates in {}", path.display()),
            }
        } else if path.file_name().is_some_and(|n| n != "report") {
            walk(&path, out)?;
        }
    }
    Ok(())
}

/// Adds the size lines a bench printed to stdout: `NAME: IMPL N bytes, IMPL M bytes[, ...]`
/// (parts that are not `IMPL NUMBER bytes`, such as `ratio 5.36x`, are ignored). Each line
/// becomes a group `NAME` with one row (no parameter).
pub fn add_size_lines(log: &str, out: &mut BenchResults) {
    for line in log.lines() {
        let Some((name, rest)) = line.split_once(": ") else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        add_value_row(out, name, rest, "bytes", Unit::Bytes, |i| i.to_owned());
    }
}

/// Adds the interleaved measurements a bench printed to stdout:
/// `interleaved GROUP/PREFIX: IMPL N ns, IMPL M ns[, ...]`, where the implementations ran in
/// turn, transaction by transaction, so that a slow spell of the machine hits all of them.
/// Each becomes `PREFIX_IMPL` in group `GROUP`'s row without a parameter (mean ns per run).
pub fn add_interleaved_lines(log: &str, out: &mut BenchResults) {
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("interleaved ") else {
            continue;
        };
        let Some((id, values)) = rest.split_once(": ") else {
            continue;
        };
        let Some((group, prefix)) = id.split_once('/') else {
            continue;
        };
        add_value_row(out, group, values, "ns", Unit::Nanos, |i| {
            format!("{prefix}_{i}")
        });
    }
}

/// Parses `IMPL NUMBER SUFFIX, ...` (other parts are ignored) into `group`'s row without a
/// parameter, naming each implementation with `name`.
fn add_value_row(
    out: &mut BenchResults,
    group: &str,
    values: &str,
    suffix: &str,
    unit: Unit,
    name: impl Fn(&str) -> String,
) {
    let mut found = BTreeMap::new();
    for part in values.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        if let [implementation, number, s] = words.as_slice()
            && *s == suffix
            && let Ok(value) = number.parse::<f64>()
            && value.is_finite()
        {
            found.insert(
                name(implementation),
                Measured {
                    value,
                    elements: None,
                    unit,
                },
            );
        }
    }
    if !found.is_empty() {
        out.entry(group.to_owned())
            .or_default()
            .entry(String::new())
            .or_default()
            .extend(found);
    }
}

/// Reads a run laid out by `scripts/bench`: `DIR/<bench>/` is the criterion home of bench
/// target `<bench>` and `DIR/<bench>.log` its stdout. Every name in `expected` is present in
/// the result, with no groups when it produced nothing (or did not run).
///
/// # Errors
///
/// An I/O error reading a directory that exists.
pub fn read_run(dir: &Path, expected: &[String]) -> io::Result<Results> {
    let mut results = Results::default();
    for bench in expected {
        results.benches.entry(bench.clone()).or_default();
    }
    if dir.is_dir() {
        let mut entries = fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()?;
        entries.sort();
        for path in entries {
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if path.is_dir() {
                let groups = read_criterion_dir(&path)?;
                results.benches.entry(name).or_default().extend(groups);
            } else if let Some(bench) = name.strip_suffix(".log") {
                let log = fs::read_to_string(&path)?;
                let entry = results.benches.entry(bench.to_owned()).or_default();
                add_size_lines(&log, entry);
                add_interleaved_lines(&log, entry);
            }
        }
    }
    Ok(results)
}
