//! The headline ratios as an SVG bar chart (log scale, one bar per headline row).

use std::fmt::Write as _;

use super::headline::{Evaluated, Verdict};
use super::markdown::crate_of;

/// Width of the plot area (the bars).
const PLOT: f64 = 520.0;
const RIGHT: f64 = 110.0;
/// Approximate width of one character of the 12 px labels.
const CHAR: f64 = 6.8;
const TOP: f64 = 50.0;
const ROW: f64 = 24.0;
const BAR: f64 = 14.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The value a row's bar shows: the ratio to the best peer, else the budget headroom.
fn bar_value(e: &Evaluated) -> Option<(f64, bool)> {
    e.ratio
        .map(|r| (r, false))
        .or_else(|| e.budget_headroom.map(|h| (h, true)))
        .filter(|(v, _)| v.is_finite() && *v > 0.0)
}

/// Renders the chart. Bars: green when the row's target is met, red when not, grey without a
/// target or when it cannot be told; budget rows (no peer) are hatched blue-grey. Rows not
/// measured get a label instead of a bar.
#[must_use]
pub fn chart(rows: &[Evaluated], title: &str) -> String {
    let mut lo: f64 = 0.5;
    let mut hi: f64 = 2.0;
    for e in rows {
        for v in [
            bar_value(e).map(|(v, _)| v),
            e.required_ratio,
            e.floor_ratio,
        ]
        .into_iter()
        .flatten()
        {
            if v.is_finite() && v > 0.0 {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    let label_of = |e: &Evaluated| {
        let mut label = format!("{}: {}", crate_of(&e.row.bench), e.row.operation);
        if e.row.params.len() > 1 && !e.param.is_empty() && e.quorate.is_some() {
            let _ = write!(label, " ({})", e.param);
        }
        label
    };
    let longest = rows
        .iter()
        .map(|e| label_of(e).chars().count())
        .max()
        .unwrap_or(0);
    let left = (longest as f64 * CHAR + 20.0).max(200.0);
    let width = (left + PLOT + RIGHT).max(880.0);
    let lo_exp = lo.log10().floor() as i32;
    let hi_exp = hi.log10().ceil() as i32;
    let hi_exp = if hi_exp <= lo_exp { lo_exp + 1 } else { hi_exp };
    let plot_w = PLOT;
    let x = |v: f64| -> f64 {
        let t = (v.log10() - f64::from(lo_exp)) / f64::from(hi_exp - lo_exp);
        left + t.clamp(0.0, 1.0) * plot_w
    };
    let height = TOP + ROW * rows.len() as f64 + 70.0;
    let bottom = TOP + ROW * rows.len() as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height}" viewBox="0 0 {width:.0} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#9db4c8"/><line x1="0" y1="0" x2="0" y2="6" stroke="#5f7f99" stroke-width="2"/></pattern></defs>"##
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" font-weight="bold" text-anchor="middle">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    // Grid: 1-2-5 per decade.
    for exp in lo_exp..=hi_exp {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(exp);
            if exp == hi_exp && m > 1.0 {
                continue;
            }
            let gx = x(v);
            let major = m == 1.0;
            let _ = writeln!(
                s,
                r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{bottom}" stroke="{}" stroke-width="1"/>"##,
                if major { "#bbbbbb" } else { "#e6e6e6" }
            );
            let label = if v >= 1.0 {
                format!("{v:.0}x")
            } else {
                format!("{v}x")
            };
            let _ = writeln!(
                s,
                r##"<text x="{gx:.1}" y="{}" text-anchor="middle" fill="#555">{label}</text>"##,
                bottom + 15.0
            );
        }
    }
    // Parity line.
    let px = x(1.0);
    let _ = writeln!(
        s,
        r##"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{bottom}" stroke="#333" stroke-width="1.5"/>"##,
        TOP - 6.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{px:.1}" y="{}" text-anchor="middle" fill="#333">parity</text>"##,
        TOP - 10.0
    );
    for (i, e) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let cy = y + ROW / 2.0;
        let label = label_of(e);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            cy + 4.0,
            escape(&label)
        );
        let Some((v, budget)) = bar_value(e) else {
            let why = if e.verdict == Verdict::NotMeasured {
                "not measured"
            } else if e.row.peers.is_empty() {
                "measured, no peer to compare (see the table)"
            } else {
                "no peer measured"
            };
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#888" font-style="italic">{why}</text>"##,
                left + 6.0,
                cy + 4.0
            );
            continue;
        };
        let fill = if budget {
            "url(#hatch)"
        } else {
            match e.verdict {
                Verdict::Met => "#4c9a5b",
                Verdict::NotMet => "#c8553d",
                _ => "#9a9a9a",
            }
        };
        let x0 = x(1.0);
        let x1 = x(v);
        let (bx, bw) = if x1 >= x0 {
            (x0, x1 - x0)
        } else {
            (x1, x0 - x1)
        };
        let _ = writeln!(
            s,
            r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{BAR}" fill="{fill}"><title>{}</title></rect>"#,
            cy - BAR / 2.0,
            bw.max(1.0),
            escape(&format!("{label}: {v:.2}x"))
        );
        let text = if budget && v >= 1.0 {
            format!("{v:.1}x headroom")
        } else if budget {
            format!("{:.1}x over budget", 1.0 / v)
        } else {
            format!("{v:.2}x")
        };
        // Past the bar's end, and past a target or floor tick that would sit on the label.
        let mut tx = x1.max(x0) + 4.0;
        for tick in [e.required_ratio, e.floor_ratio].into_iter().flatten() {
            let t = x(tick);
            if t.is_finite() && t >= tx - 4.0 && t < tx + 40.0 {
                tx = t + 5.0;
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{tx:.1}" y="{:.1}" font-size="11">{}</text>"#,
            cy + 4.0,
            escape(&text)
        );
        if let Some(req) = e.required_ratio.filter(|r| r.is_finite() && *r > 0.0) {
            let rx = x(req);
            let _ = writeln!(
                s,
                r##"<line x1="{rx:.1}" y1="{:.1}" x2="{rx:.1}" y2="{:.1}" stroke="#e08a00" stroke-width="3"><title>target</title></line>"##,
                cy - ROW / 2.0 + 2.0,
                cy + ROW / 2.0 - 2.0
            );
        } else if budget {
            let _ = writeln!(
                s,
                r##"<line x1="{x0:.1}" y1="{:.1}" x2="{x0:.1}" y2="{:.1}" stroke="#e08a00" stroke-width="3"><title>budget</title></line>"##,
                cy - ROW / 2.0 + 2.0,
                cy + ROW / 2.0 - 2.0
            );
        }
        if let Some(fr) = e.floor_ratio.filter(|r| r.is_finite() && *r > 0.0) {
            let fx = x(fr);
            let _ = writeln!(
                s,
                r##"<line x1="{fx:.1}" y1="{:.1}" x2="{fx:.1}" y2="{:.1}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"><title>floor</title></line>"##,
                cy - ROW / 2.0 + 1.0,
                cy + ROW / 2.0 - 1.0
            );
        }
    }
    // Legend.
    let ly = bottom + 38.0;
    let items: [(&str, &str, bool); 5] = [
        ("#4c9a5b", "target met", false),
        ("#c8553d", "target not met", false),
        ("#9a9a9a", "no target", false),
        ("url(#hatch)", "budget / time (no peer)", false),
        ("#e08a00", "target", true),
    ];
    let mut lx = 20.0;
    for (color, text, tick) in items {
        if tick {
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="3"/>"#,
                lx + 5.0,
                ly - 10.0,
                lx + 5.0,
                ly + 2.0
            );
        } else {
            let _ = writeln!(
                s,
                r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{color}"/>"#,
                ly - 10.0
            );
        }
        let _ = writeln!(s, r#"<text x="{:.1}" y="{ly:.1}">{text}</text>"#, lx + 16.0);
        lx += 22.0 + 7.0 * text.len() as f64;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>"##,
        lx + 5.0,
        ly - 10.0,
        lx + 5.0,
        ly + 2.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{ly:.1}">floor (ratio at the hardware bound)</text>"#,
        lx + 16.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{left:.1}" y="{:.1}" fill="#555" font-size="11">peer time / quorate time, log scale; right of parity quorate is faster</text>"##,
        ly + 20.0
    );
    s.push_str("</svg>\n");
    s
}
