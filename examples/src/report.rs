//! What a run found: faults injected, invariants checked, violations, and the final table.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// A kind of fault the model injects.
///
/// ```
/// use quorate_examples::Fault;
/// assert_eq!(Fault::Loss.to_string(), "loss");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// A message lost by the network.
    Loss,
    /// A message delivered twice.
    Duplicate,
    /// A message delivered after a later one on the same link.
    Reorder,
    /// A message delayed up to ten times the usual maximum.
    DelaySpike,
    /// A message dropped by a cut link.
    PartitionDrop,
    /// A clean partition started (links cut both ways).
    Partition,
    /// An asymmetric partition started (links cut one way).
    AsymmetricPartition,
    /// A partition healed.
    Heal,
    /// A process paused (longer than a lease or an election timeout).
    Pause,
    /// A process crashed at a named point.
    Crash,
    /// A client gave up waiting for an answer.
    ClientTimeout,
    /// A client gave up although the server had committed its request.
    TimeoutAfterCommit,
    /// A wall clock set ahead or behind the others.
    ClockSkew,
    /// A wall clock stepped backward.
    ClockStepBack,
    /// A dependency call that failed (outage or overload).
    DependencyFailure,
}

impl Fault {
    /// The short name used in the table and the JSON output.
    ///
    /// ```
    /// assert_eq!(quorate_examples::Fault::ClockStepBack.name(), "clock_step_back");
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Loss => "loss",
            Self::Duplicate => "duplicate",
            Self::Reorder => "reorder",
            Self::DelaySpike => "delay_spike",
            Self::PartitionDrop => "partition_drop",
            Self::Partition => "partition",
            Self::AsymmetricPartition => "asymmetric_partition",
            Self::Heal => "heal",
            Self::Pause => "pause",
            Self::Crash => "crash",
            Self::ClientTimeout => "client_timeout",
            Self::TimeoutAfterCommit => "timeout_after_commit",
            Self::ClockSkew => "clock_skew",
            Self::ClockStepBack => "clock_step_back",
            Self::DependencyFailure => "dependency_failure",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Faults injected, counted by kind.
///
/// ```
/// use quorate_examples::{Fault, FaultCounts};
/// let mut c = FaultCounts::default();
/// c.add(Fault::Loss, 2);
/// assert_eq!(c.get(Fault::Loss), 2);
/// assert_eq!(c.to_string(), "loss 2");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FaultCounts(BTreeMap<Fault, u64>);

impl FaultCounts {
    /// Adds `n` faults of kind `fault`.
    ///
    /// ```
    /// let mut c = quorate_examples::FaultCounts::default();
    /// c.add(quorate_examples::Fault::Crash, 1);
    /// assert_eq!(c.total(), 1);
    /// ```
    pub fn add(&mut self, fault: Fault, n: u64) {
        if n > 0 {
            *self.0.entry(fault).or_insert(0) += n;
        }
    }

    /// How many faults of kind `fault` were injected.
    ///
    /// ```
    /// assert_eq!(quorate_examples::FaultCounts::default().get(quorate_examples::Fault::Loss), 0);
    /// ```
    #[must_use]
    pub fn get(&self, fault: Fault) -> u64 {
        self.0.get(&fault).copied().unwrap_or(0)
    }

    /// All faults injected.
    ///
    /// ```
    /// assert_eq!(quorate_examples::FaultCounts::default().total(), 0);
    /// ```
    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Adds every count of `other`.
    ///
    /// ```
    /// use quorate_examples::{Fault, FaultCounts};
    /// let mut a = FaultCounts::default();
    /// let mut b = FaultCounts::default();
    /// b.add(Fault::Pause, 3);
    /// a.merge(&b);
    /// assert_eq!(a.get(Fault::Pause), 3);
    /// ```
    pub fn merge(&mut self, other: &Self) {
        for (&k, &v) in &other.0 {
            self.add(k, v);
        }
    }

    /// The kinds injected at least once, with their counts.
    ///
    /// ```
    /// assert_eq!(quorate_examples::FaultCounts::default().iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (Fault, u64)> + '_ {
        self.0.iter().map(|(&k, &v)| (k, v))
    }
}

impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in self.iter() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k} {v}")?;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// One invariant of one scenario: how often it was checked and how often it failed.
///
/// ```
/// let r = quorate_examples::InvariantResult::new("confirmed <= stock");
/// assert_eq!((r.checks, r.violations), (0, 0));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvariantResult {
    /// What must hold.
    pub name: String,
    /// Times it was evaluated.
    pub checks: u64,
    /// Times it did not hold.
    pub violations: u64,
    /// The first counterexample, when there was one.
    pub first_violation: Option<String>,
}

impl InvariantResult {
    /// An invariant not checked yet.
    ///
    /// ```
    /// assert_eq!(quorate_examples::InvariantResult::new("x").name, "x");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            checks: 0,
            violations: 0,
            first_violation: None,
        }
    }
}

/// Records invariant checks in the order the invariants are first named.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    results: Vec<InvariantResult>,
}

impl Checker {
    /// Declares an invariant (so it is listed even if never reached).
    pub(crate) fn declare(&mut self, name: &str) -> usize {
        if let Some(i) = self.results.iter().position(|r| r.name == name) {
            return i;
        }
        self.results.push(InvariantResult::new(name));
        self.results.len() - 1
    }

    /// Checks `ok` for invariant `name`; `why` describes the counterexample.
    pub(crate) fn check(&mut self, name: &str, ok: bool, why: impl FnOnce() -> String) {
        let i = self.declare(name);
        let r = &mut self.results[i];
        r.checks += 1;
        if !ok {
            r.violations += 1;
            if r.first_violation.is_none() {
                r.first_violation = Some(why());
            }
        }
    }

    pub(crate) fn violations_of(&self, name: &str) -> u64 {
        self.results
            .iter()
            .filter(|r| r.name == name)
            .map(|r| r.violations)
            .sum()
    }

    pub(crate) fn into_results(self) -> Vec<InvariantResult> {
        self.results
    }
}

/// The result of one scenario.
///
/// ```
/// let r = quorate_examples::ScenarioReport::new("inventory");
/// assert_eq!(r.violations(), 0);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name (as given to `--scenario`).
    pub name: String,
    /// Client operations issued.
    pub operations: u64,
    /// Faults injected, by kind.
    pub faults: FaultCounts,
    /// Every invariant and its checks.
    pub invariants: Vec<InvariantResult>,
    /// Scenario-specific observations (refusals, conflicts surfaced, attempts per request...).
    pub details: Vec<String>,
    /// Wall time the scenario took, milliseconds.
    pub elapsed_ms: u64,
}

impl ScenarioReport {
    /// An empty report for scenario `name`.
    ///
    /// ```
    /// assert_eq!(quorate_examples::ScenarioReport::new("profile").operations, 0);
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            operations: 0,
            faults: FaultCounts::default(),
            invariants: Vec::new(),
            details: Vec::new(),
            elapsed_ms: 0,
        }
    }

    /// Invariant checks made.
    ///
    /// ```
    /// assert_eq!(quorate_examples::ScenarioReport::new("x").checks(), 0);
    /// ```
    #[must_use]
    pub fn checks(&self) -> u64 {
        self.invariants.iter().map(|i| i.checks).sum()
    }

    /// Violations found.
    ///
    /// ```
    /// assert_eq!(quorate_examples::ScenarioReport::new("x").violations(), 0);
    /// ```
    #[must_use]
    pub fn violations(&self) -> u64 {
        self.invariants.iter().map(|i| i.violations).sum()
    }
}

/// The result of a whole run.
///
/// ```
/// let r = quorate_examples::TourReport::new(7, 100, "sqlite");
/// assert_eq!(r.violations(), 0);
/// assert!(r.render_table().contains("scenario"));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TourReport {
    /// The seed the run is reproducible from.
    pub seed: u64,
    /// Operations per scenario requested.
    pub scale: u64,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// One report per scenario run, in order.
    pub scenarios: Vec<ScenarioReport>,
}

impl TourReport {
    /// An empty report.
    ///
    /// ```
    /// assert!(quorate_examples::TourReport::new(1, 10, "sqlite").scenarios.is_empty());
    /// ```
    #[must_use]
    pub fn new(seed: u64, scale: u64, backend: &str) -> Self {
        Self {
            seed,
            scale,
            backend: backend.to_owned(),
            scenarios: Vec::new(),
        }
    }

    /// Violations found in every scenario.
    ///
    /// ```
    /// assert_eq!(quorate_examples::TourReport::new(1, 10, "sqlite").violations(), 0);
    /// ```
    #[must_use]
    pub fn violations(&self) -> u64 {
        self.scenarios.iter().map(ScenarioReport::violations).sum()
    }

    /// The closing table: scenario, operations, faults by kind, invariants checked,
    /// violations, elapsed time; then each violated invariant with its first counterexample.
    ///
    /// ```
    /// let t = quorate_examples::TourReport::new(1, 10, "sqlite").render_table();
    /// assert!(t.contains("violations"));
    /// ```
    #[must_use]
    pub fn render_table(&self) -> String {
        const FAULT_WIDTH: usize = 44;
        let header = [
            "scenario",
            "operations",
            "faults injected",
            "invariants checked",
            "violations",
            "elapsed",
        ];
        let mut rows: Vec<[Vec<String>; 6]> = Vec::new();
        for s in &self.scenarios {
            let faults = wrap(
                &s.faults
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>(),
                FAULT_WIDTH,
            );
            rows.push([
                vec![s.name.clone()],
                vec![s.operations.to_string()],
                faults,
                vec![format!(
                    "{} ({} invariants)",
                    s.checks(),
                    s.invariants.len()
                )],
                vec![s.violations().to_string()],
                vec![format!("{:.2} s", s.elapsed_ms as f64 / 1000.0)],
            ]);
        }
        let total_ms: u64 = self.scenarios.iter().map(|s| s.elapsed_ms).sum();
        let total_ops: u64 = self.scenarios.iter().map(|s| s.operations).sum();
        let total_faults: u64 = self.scenarios.iter().map(|s| s.faults.total()).sum();
        let total_checks: u64 = self.scenarios.iter().map(ScenarioReport::checks).sum();
        rows.push([
            vec!["total".to_owned()],
            vec![total_ops.to_string()],
            vec![total_faults.to_string()],
            vec![total_checks.to_string()],
            vec![self.violations().to_string()],
            vec![format!("{:.2} s", total_ms as f64 / 1000.0)],
        ]);
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                for line in cell {
                    *w = (*w).max(line.chars().count());
                }
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: [&str; 6]| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i > 0 {
                    l.push_str(" | ");
                }
                // Numbers right-aligned, text left-aligned.
                if matches!(i, 1 | 3 | 4 | 5) {
                    l.push_str(&format!("{c:>w$}"));
                } else {
                    l.push_str(&format!("{c:<w$}"));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(&mut out, header);
        let sep: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        out.push_str(&sep.join("-|-"));
        out.push('\n');
        let n = rows.len();
        for (ri, row) in rows.iter().enumerate() {
            if ri + 1 == n {
                out.push_str(&sep.join("-|-"));
                out.push('\n');
            }
            let height = row.iter().map(Vec::len).max().unwrap_or(1);
            for k in 0..height {
                let cells: Vec<&str> = row
                    .iter()
                    .map(|c| c.get(k).map_or("", String::as_str))
                    .collect();
                let mut arr = [""; 6];
                for (a, c) in arr.iter_mut().zip(cells) {
                    *a = c;
                }
                line(&mut out, arr);
            }
        }
        for s in &self.scenarios {
            for i in &s.invariants {
                if i.violations > 0 {
                    out.push_str(&format!(
                        "VIOLATION {}: {} ({} of {} checks); first: {}\n",
                        s.name,
                        i.name,
                        i.violations,
                        i.checks,
                        i.first_violation.as_deref().unwrap_or("?")
                    ));
                }
            }
        }
        out
    }
}

fn wrap(items: &[String], width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for it in items {
        if !cur.is_empty() && cur.len() + 2 + it.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push_str(", ");
        }
        cur.push_str(it);
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(if cur.is_empty() {
            "none".to_owned()
        } else {
            cur
        });
    }
    lines
}
