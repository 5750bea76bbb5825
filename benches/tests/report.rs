//! The report tool on a small fixture of criterion output (`tests/fixtures/criterion-run`):
//! parsing, ratios, a missing peer, a missing target, a bench that produced nothing.
#![allow(missing_docs)]

use std::path::PathBuf;

use quorate_benches::report::{
    self, Evaluated, HeadlineRow, Results, RunInfo, Unit, Verdict, parse_targets,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn run() -> Results {
    report::read_run(
        &fixtures().join("criterion-run"),
        &["alpha".to_owned(), "beta".to_owned(), "gamma".to_owned()],
    )
    .expect("fixture readable")
}

fn rows() -> Vec<HeadlineRow> {
    let text = std::fs::read_to_string(fixtures().join("targets.toml")).expect("fixture");
    parse_targets(&text).expect("fixture targets parse")
}

fn evaluated(operation: &str) -> Evaluated {
    let results = run();
    let row = rows()
        .into_iter()
        .find(|r| r.operation == operation)
        .expect("row in fixture");
    report::evaluate(&row, &results)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[test]
fn parses_criterion_new_estimates_only() {
    let results = run();
    // `new/` is read, `base/` (a previous run, 100x slower in the fixture) is not.
    let m = results.get("op_fast", "", "quorate").expect("measured");
    assert!(close(m.value, 10.0), "{m:?}");
    assert_eq!(m.unit, Unit::Nanos);
    assert_eq!(m.elements, None);
    // Parameters become rows.
    assert!(close(
        results.get("op_param", "16", "peer").expect("16").value,
        40.0
    ));
    assert!(close(
        results.get("op_param", "4", "peer").expect("4").value,
        50.0
    ));
    // Throughput is kept, and per-element time derived from it.
    let t = results
        .get("op_throughput", "", "quorate")
        .expect("throughput");
    assert_eq!(t.elements, Some(100));
    assert!(close(t.per_element(), 500.0));
    // The unreadable estimate is skipped, not fatal.
    assert!(results.group("op_broken").is_none());
    // Size lines from the bench's stdout.
    let size = results
        .get("enc_size_1k", "", "other+codec")
        .expect("size line");
    assert_eq!(size.unit, Unit::Bytes);
    assert!(close(size.value, 3500.0));
}

#[test]
fn benches_that_produced_nothing_are_present_and_empty() {
    let results = run();
    assert!(results.benches.get("beta").is_some_and(|b| b.is_empty()));
    // Expected but absent from the directory entirely.
    assert!(results.benches.get("gamma").is_some_and(|b| b.is_empty()));
    assert!(!results.is_empty());
    let none = report::read_run(&fixtures().join("no-such-dir"), &["x".to_owned()])
        .expect("a missing run dir is an empty run");
    assert!(none.is_empty());
}

#[test]
fn ratio_is_best_peer_over_quorate_and_target_uses_named_peer() {
    let e = evaluated("fast op");
    let (peer, m) = e.best_peer.clone().expect("best peer");
    assert_eq!(peer, "peer_a");
    assert!(close(m.value, 30.0));
    assert!(close(e.ratio.expect("ratio"), 3.0));
    // The target is against peer_b (5.0x), not the best peer (3.0x): met.
    let (tp, tr) = e.target_peer_ratio.clone().expect("named peer ratio");
    assert_eq!(tp, "peer_b");
    assert!(close(tr, 5.0));
    assert_eq!(e.verdict, Verdict::Met);
    // In best-peer terms the target needs 4.0 * 30 / 50 = 2.4x; the floor allows 30 / 5 = 6x.
    assert!(close(e.required_ratio.expect("required"), 2.4));
    assert!(close(e.floor_ratio.expect("floor ratio"), 6.0));
    assert!(close(e.over_floor.expect("over floor"), 2.0));
}

#[test]
fn several_params_show_the_worst() {
    let e = evaluated("param op");
    assert_eq!(e.param, "16");
    assert!(close(e.ratio.expect("ratio"), 2.0));
    assert_eq!(e.verdict, Verdict::NotMet);
}

#[test]
fn a_missing_peer_is_reported_not_guessed() {
    let e = evaluated("lonely op");
    assert!(e.quorate.is_some());
    assert!(e.best_peer.is_none());
    assert_eq!(e.ratio, None);
    assert_eq!(e.verdict, Verdict::Incomplete);
    let table = report::headline_table(&[e]);
    assert!(
        table.contains("| lonely op | 10.00 ns | not measured | — |"),
        "{table}"
    );
    assert!(table.contains("cannot tell"), "{table}");
}

#[test]
fn a_missing_target_is_no_target() {
    let e = evaluated("untargeted op");
    assert!(close(e.ratio.expect("ratio"), 2.0));
    assert_eq!(e.verdict, Verdict::NoTarget);
    assert_eq!(e.required_ratio, None);
    let table = report::headline_table(&[e]);
    assert!(table.contains("| 2.00x | — | — | no target |"), "{table}");
}

#[test]
fn slowest_variant_counts_and_floor_target_applies() {
    let e = evaluated("variants op");
    let (name, m) = e.quorate.clone().expect("quorate");
    assert_eq!(name, "quorate_two");
    assert!(close(m.value, 25.0));
    assert!(close(e.ratio.expect("ratio"), 4.0));
    // 4.0x the peer meets min_ratio 4.0, but 2.5x the floor misses max_over_floor 2.0.
    assert!(close(e.over_floor.expect("over floor"), 2.5));
    assert_eq!(e.verdict, Verdict::NotMet);
    // Best-peer terms: 4.0 from the ratio target, 100 / (2 * 10) = 5.0 from the floor target.
    assert!(close(e.required_ratio.expect("required"), 5.0));
}

#[test]
fn absolute_budgets() {
    let t = evaluated("throughput op");
    assert!(close(t.budget_headroom.expect("headroom"), 2.0));
    assert_eq!(t.verdict, Verdict::Met);
    let b = evaluated("budget op");
    assert!(close(b.budget_headroom.expect("headroom"), 100.0 / 150.0));
    assert_eq!(b.verdict, Verdict::NotMet);
}

#[test]
fn sizes_compare_like_times() {
    let e = evaluated("encoded size");
    assert!(close(e.ratio.expect("ratio"), 3.5));
    assert_eq!(e.verdict, Verdict::Met);
    assert!(report::headline_table(&[e]).contains("1,000 B"));
}

#[test]
fn an_empty_bench_is_not_measured_in_table_report_and_chart() {
    let results = run();
    let evaluated = report::evaluate_all(&rows(), &results);
    let beta = evaluated
        .iter()
        .find(|e| e.row.bench == "beta")
        .expect("beta row");
    assert_eq!(beta.verdict, Verdict::NotMeasured);
    let info = RunInfo {
        machine: "Test CPU, 2 cores".to_owned(),
        toolchain: "rustc 1.95.0".to_owned(),
        date: "2026-12-04".to_owned(),
        command: "scripts/bench --quick".to_owned(),
        mode: "quick".to_owned(),
        chart: Some("docs/benchmarks.svg".to_owned()),
    };
    let md = report::render(&info, &evaluated, &results);
    assert!(md.starts_with("# Benchmarks\n"));
    for needle in [
        "Test CPU, 2 cores",
        "rustc 1.95.0",
        "2026-12-04",
        "## Headline",
        "## alpha\n\n`quorate-alpha`, bench target",
        "## beta\n\n`quorate-beta`, bench target [`benches/benches/beta.rs`](benches/benches/beta.rs).\n\nNot measured in this run.",
        "## gamma",
        "| [quorate-alpha](#alpha) | fast op |",
        "| beta op | not measured |",
        "![Headline ratios, log scale](docs/benchmarks.svg)",
        "### `op_param`",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    // The headline comes before the full groups; parameters in numeric order.
    let headline_at = md.find("## Headline").expect("headline");
    let groups_at = md.find("## All groups").expect("groups");
    assert!(headline_at < groups_at);
    let p4 = md.find("| 4 | peer |").expect("param 4");
    let p16 = md.find("| 16 | peer |").expect("param 16");
    assert!(p4 < p16);

    let svg = report::chart(&evaluated, "test chart");
    assert!(svg.starts_with("<svg "));
    assert!(svg.trim_end().ends_with("</svg>"));
    // One label per headline row, a bar for each measured one, the unmeasured one labelled.
    assert_eq!(
        svg.matches("<rect x=").count(),
        rows().len() - 2 + 4,
        "{svg}"
    );
    assert!(svg.contains("not measured"));
    assert!(svg.contains("no peer measured"));
    assert!(svg.contains("stroke-dasharray"), "floor marked");
    for e in &evaluated {
        assert!(
            svg.contains(&e.row.operation),
            "label for {}",
            e.row.operation
        );
    }
}

#[test]
fn malformed_targets_name_the_line() {
    let bad_key = "[[row]]\nbench = \"a\"\noperation = \"o\"\ngroup = \"g\"\nspeed = 3\n";
    let e = parse_targets(bad_key).expect_err("unknown key");
    assert_eq!(e.line, 5);
    let missing = "[[row]]\nbench = \"a\"\ngroup = \"g\"\n";
    assert!(
        parse_targets(missing)
            .expect_err("no operation")
            .message
            .contains("operation")
    );
    let no_peer = "[[row]]\nbench = \"a\"\noperation = \"o\"\ngroup = \"g\"\nmin_ratio = 2\n";
    assert!(parse_targets(no_peer).is_err());
    let table = "[row]\n";
    assert_eq!(parse_targets(table).expect_err("table").line, 1);
    let unterminated = "[[row]]\nbench = \"a\n";
    assert_eq!(parse_targets(unterminated).expect_err("string").line, 2);
    // Comments, underscores in numbers, escapes and one-line arrays are fine.
    let ok = "# c\n[[row]]\nbench = \"a\" # c\noperation = \"say \\\"hi\\\"\"\ngroup = \"g\"\n\
              peers = [\"x\", \"y\"]\nmin_ratio = 1_000\n";
    let rows = parse_targets(ok).expect("valid");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].operation, "say \"hi\"");
    assert_eq!(rows[0].peers, ["x", "y"]);
    assert_eq!(rows[0].min_ratio, Some(1000.0));
    assert_eq!(rows[0].quorate, ["quorate"]);
}

#[test]
fn the_real_targets_file_parses() {
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("targets.toml"))
            .expect("benches/targets.toml");
    let rows = parse_targets(&text).expect("benches/targets.toml parses");
    assert!(rows.len() >= 10);
    let benches =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    for r in &rows {
        assert!(
            benches.contains(&format!("name = \"{}\"", r.bench)),
            "row {:?} names bench {:?}, which benches/Cargo.toml does not declare",
            r.operation,
            r.bench
        );
    }
}

#[test]
fn interleaved_lines_become_a_group() {
    let mut out = report::BenchResults::new();
    report::add_interleaved_lines(
        "noise\ninterleaved pairs/pg: without_outbox 500000.0 ns, with_outbox 550000.5 ns\n\
         interleaved nogroup: a 1 ns\ninterleaved pairs/lite: a x ns, b 2.5 µs, c 7 ns\n",
        &mut out,
    );
    let row = out.get("pairs").and_then(|g| g.get("")).expect("row");
    let names: Vec<&str> = row.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["lite_c", "pg_with_outbox", "pg_without_outbox"],
        "unparsable values and lines without a group are skipped"
    );
    assert!(close(row["pg_with_outbox"].value, 550_000.5));
    assert_eq!(row["lite_c"].unit, Unit::Nanos);
}
