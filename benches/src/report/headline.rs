//! Evaluating a headline row against the measured results.

use super::results::{Measured, Results};
use super::targets::HeadlineRow;

/// Whether a row's target is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Every target of the row holds.
    Met,
    /// At least one target does not hold.
    NotMet,
    /// The row has no target.
    NoTarget,
    /// quorate's implementation was not measured in this run.
    NotMeasured,
    /// quorate was measured but something the target needs (its peer, the floor) was not.
    Incomplete,
}

impl Verdict {
    /// The word used in the table.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "**not met**",
            Verdict::NoTarget => "no target",
            Verdict::NotMeasured => "not measured",
            Verdict::Incomplete => "cannot tell",
        }
    }
}

/// A headline row with its measured values.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// The row as configured.
    pub row: HeadlineRow,
    /// The parameter shown (the worst of the row's parameters), empty if none.
    pub param: String,
    /// quorate's implementation shown (the slowest of the row's) and its value per element.
    pub quorate: Option<(String, Measured)>,
    /// The fastest peer present and its value.
    pub best_peer: Option<(String, Measured)>,
    /// The floor's value.
    pub floor: Option<Measured>,
    /// Best peer / quorate, per element.
    pub ratio: Option<f64>,
    /// Target peer / quorate, when the target names a peer other than the best one.
    pub target_peer_ratio: Option<(String, f64)>,
    /// The absolute budget divided by quorate's time per element (above 1: within budget).
    pub budget_headroom: Option<f64>,
    /// quorate's time / the floor's.
    pub over_floor: Option<f64>,
    /// The smallest ratio to the best peer that meets every target of the row (for the chart).
    pub required_ratio: Option<f64>,
    /// The ratio quorate would have if it ran at the floor (for the chart).
    pub floor_ratio: Option<f64>,
    /// Met or not.
    pub verdict: Verdict,
}

fn slowest_quorate(
    row: &HeadlineRow,
    results: &Results,
    param: &str,
) -> Option<(String, Measured)> {
    row.quorate
        .iter()
        .filter_map(|q| {
            results
                .get(&row.group, param, q)
                .filter(|m| m.unit == row.unit)
                .map(|m| (q.clone(), m))
        })
        .max_by(|a, b| a.1.per_element().total_cmp(&b.1.per_element()))
}

fn best_peer(row: &HeadlineRow, results: &Results, param: &str) -> Option<(String, Measured)> {
    row.peers
        .iter()
        .filter_map(|p| {
            results
                .get(&row.group, param, p)
                .filter(|m| m.unit == row.unit)
                .map(|m| (p.clone(), m))
        })
        .min_by(|a, b| a.1.per_element().total_cmp(&b.1.per_element()))
}

fn ratio(peer: &Measured, ours: &Measured) -> Option<f64> {
    let o = ours.per_element();
    (o > 0.0).then(|| peer.per_element() / o)
}

/// Evaluates one row at one parameter.
fn evaluate_at(row: &HeadlineRow, results: &Results, param: &str) -> Evaluated {
    let quorate = slowest_quorate(row, results, param);
    let best = best_peer(row, results, param);
    let floor = row
        .floor
        .as_deref()
        .and_then(|f| results.get(&row.group, param, f));
    let ours = quorate.as_ref().map(|(_, m)| *m);
    let ratio_best = ours
        .as_ref()
        .zip(best.as_ref())
        .and_then(|(o, (_, p))| ratio(p, o));
    let target_peer_name = row
        .target_peer
        .clone()
        .or_else(|| best.as_ref().map(|(n, _)| n.clone()));
    let target_peer = target_peer_name
        .as_deref()
        .and_then(|n| results.get(&row.group, param, n).map(|m| (n.to_owned(), m)));
    let ratio_target = ours
        .as_ref()
        .zip(target_peer.as_ref())
        .and_then(|(o, (_, p))| ratio(p, o));
    let over_floor = ours
        .as_ref()
        .zip(floor.as_ref())
        .and_then(|(o, f)| ratio(o, f));
    let budget = row.budget_ns();
    let headroom = ours
        .as_ref()
        .zip(budget)
        .and_then(|(o, b)| (o.per_element() > 0.0).then(|| b / o.per_element()));

    // Each target as a check; None when it cannot be evaluated.
    let mut checks: Vec<Option<bool>> = Vec::new();
    if let Some(min) = row.min_ratio {
        checks.push(ratio_target.map(|r| r >= min));
    }
    if let Some(max) = row.max_over_floor {
        checks.push(over_floor.map(|r| r <= max));
    }
    if budget.is_some() {
        checks.push(headroom.map(|h| h >= 1.0));
    }
    let verdict = if ours.is_none() {
        Verdict::NotMeasured
    } else if checks.is_empty() {
        Verdict::NoTarget
    } else if checks.contains(&Some(false)) {
        Verdict::NotMet
    } else if checks.contains(&None) {
        Verdict::Incomplete
    } else {
        Verdict::Met
    };

    // The chart works in ratios to the best peer: translate each target into one.
    let best_value = best.as_ref().map(|(_, m)| m.per_element());
    let mut required: Option<f64> = None;
    let mut need = |r: f64| required = Some(required.map_or(r, |q: f64| q.max(r)));
    if let (Some(min), Some(b), Some((_, t))) = (row.min_ratio, best_value, target_peer.as_ref()) {
        let t = t.per_element();
        if t > 0.0 {
            need(min * b / t);
        }
    }
    if let (Some(max), Some(b), Some(f)) = (row.max_over_floor, best_value, floor.as_ref()) {
        let f = f.per_element();
        if f > 0.0 {
            need(b / (max * f));
        }
    }
    let floor_ratio = best_value
        .zip(floor.as_ref())
        .and_then(|(b, f)| (f.per_element() > 0.0).then(|| b / f.per_element()));
    let target_peer_ratio = match (&target_peer, &best, ratio_target) {
        (Some((t, _)), Some((b, _)), Some(r)) if t != b => Some((t.clone(), r)),
        _ => None,
    };

    Evaluated {
        row: row.clone(),
        param: param.to_owned(),
        quorate,
        best_peer: best,
        floor,
        ratio: ratio_best,
        target_peer_ratio,
        budget_headroom: headroom,
        over_floor,
        required_ratio: required,
        floor_ratio,
        verdict,
    }
}

/// Evaluates a row: at its one parameter, or at the worst of its parameters (the lowest ratio
/// to the target peer, else to the best peer, else the least budget headroom; an unmeasured
/// parameter counts as worst).
#[must_use]
pub fn evaluate(row: &HeadlineRow, results: &Results) -> Evaluated {
    if row.params.is_empty() {
        return evaluate_at(row, results, "");
    }
    let score = |e: &Evaluated| -> f64 {
        if e.quorate.is_none() {
            return f64::NEG_INFINITY;
        }
        e.target_peer_ratio
            .as_ref()
            .map(|(_, r)| *r)
            .or(e.ratio)
            .or(e.budget_headroom)
            .unwrap_or(f64::INFINITY)
    };
    let mut all = row
        .params
        .iter()
        .map(|p| evaluate_at(row, results, p))
        .collect::<Vec<_>>();
    // A row is met only if it is met at every parameter.
    let any_not_met = all.iter().any(|e| e.verdict == Verdict::NotMet);
    all.sort_by(|a, b| score(a).total_cmp(&score(b)));
    let mut worst = all.swap_remove(0);
    if any_not_met && worst.verdict != Verdict::NotMeasured {
        worst.verdict = Verdict::NotMet;
    }
    worst
}
