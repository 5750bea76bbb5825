//! The headline rows and their targets, read from `benches/targets.toml`.
//!
//! The file is a small subset of TOML, parsed here so the report tool needs no extra
//! dependency: `#` comments, `[[row]]` tables, and `key = value` lines whose value is a
//! string (`"..."`, with `\"` and `\\` escapes), a number, or a one-line array of strings.
//! Anything else is an error naming the line.

use std::collections::BTreeMap;
use std::fmt;

/// What a headline row compares and what it must reach.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeadlineRow {
    /// The bench target the row's group comes from (`benches/benches/<bench>.rs`).
    pub bench: String,
    /// What a user would pick the crate for, as shown in the table.
    pub operation: String,
    /// The criterion group (or the name of a size line printed by the bench).
    pub group: String,
    /// The parameters to look at; with several, the row shows the one with the lowest ratio.
    /// Empty means the group has no parameter.
    pub params: Vec<String>,
    /// quorate's implementations; with several, the row shows the slowest.
    pub quorate: Vec<String>,
    /// The peers; the row shows the fastest one present.
    pub peers: Vec<String>,
    /// The implementation that measures the hardware bound, if the group has one.
    pub floor: Option<String>,
    /// Target: at least this ratio (peer time / quorate time).
    pub min_ratio: Option<f64>,
    /// The peer `min_ratio` is measured against (default: the best peer present).
    pub target_peer: Option<String>,
    /// Target: quorate's time at most this multiple of the floor's.
    pub max_over_floor: Option<f64>,
    /// Target: quorate's time per element at most this many nanoseconds.
    pub max_ns: Option<f64>,
    /// Target: at least this many elements per second (criterion `Throughput::Elements`, else
    /// one element per iteration).
    pub min_per_sec: Option<f64>,
    /// `"ns"` (criterion times, the default) or `"bytes"` (a size line printed by the bench).
    pub unit: Unit,
    /// Where the target comes from (an issue), shown in the table's notes.
    pub source: Option<String>,
    /// Free text shown under the table.
    pub note: Option<String>,
}

/// The unit of a measured value; lower is better for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Nanoseconds per iteration (criterion's mean).
    #[default]
    Nanos,
    /// Bytes (a size printed by a bench as `name: impl N bytes, impl M bytes`).
    Bytes,
}

impl HeadlineRow {
    /// Whether the row has any target at all.
    #[must_use]
    pub fn has_target(&self) -> bool {
        self.min_ratio.is_some()
            || self.max_over_floor.is_some()
            || self.max_ns.is_some()
            || self.min_per_sec.is_some()
    }

    /// The absolute budget per element in nanoseconds, from `max_ns` or `min_per_sec`
    /// (the tighter of the two when both are given).
    #[must_use]
    pub fn budget_ns(&self) -> Option<f64> {
        let from_rate = self.min_per_sec.filter(|r| *r > 0.0).map(|r| 1e9 / r);
        match (self.max_ns, from_rate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A malformed targets file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetsError {
    /// 1-based line number (0 when the error is about the whole file).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TargetsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "targets file line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TargetsError {}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Num(f64),
    List(Vec<String>),
}

fn err(line: usize, message: impl Into<String>) -> TargetsError {
    TargetsError {
        line,
        message: message.into(),
    }
}

/// Parses a quoted string at the start of `s`; returns it and the rest of the input.
fn parse_string(s: &str, line: usize) -> Result<(String, &str), TargetsError> {
    let mut chars = s.char_indices();
    if chars.next().map(|(_, c)| c) != Some('"') {
        return Err(err(line, "expected a string"));
    }
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            match c {
                '"' | '\\' => out.push(c),
                'n' => out.push('\n'),
                _ => return Err(err(line, format!("unsupported escape \\{c}"))),
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Ok((out, &s[i + 1..]));
        } else {
            out.push(c);
        }
    }
    Err(err(line, "unterminated string"))
}

/// Drops a trailing `# comment` (outside strings) and surrounding blanks.
fn strip_comment(rest: &str, line: usize) -> Result<(), TargetsError> {
    let rest = rest.trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(err(
            line,
            format!("unexpected text after the value: {rest}"),
        ))
    }
}

fn parse_value(s: &str, line: usize) -> Result<Value, TargetsError> {
    let s = s.trim_start();
    if s.starts_with('"') {
        let (v, rest) = parse_string(s, line)?;
        strip_comment(rest, line)?;
        Ok(Value::Str(v))
    } else if let Some(mut rest) = s.strip_prefix('[') {
        let mut items = Vec::new();
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(']') {
                strip_comment(after, line)?;
                return Ok(Value::List(items));
            }
            let (item, after) = parse_string(rest, line)?;
            items.push(item);
            rest = after.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with(']') {
                return Err(err(line, "expected `,` or `]` in the array"));
            }
        }
    } else {
        let token = s.split('#').next().unwrap_or("").trim();
        token
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Value::Num)
            .ok_or_else(|| {
                err(
                    line,
                    format!("expected a string, number or array, got `{token}`"),
                )
            })
    }
}

/// A row's keys, each with the line it is on.
type Fields = BTreeMap<String, (usize, Value)>;

fn take_str(fields: &mut Fields, key: &str) -> Result<Option<String>, TargetsError> {
    match fields.remove(key) {
        None => Ok(None),
        Some((_, Value::Str(s))) => Ok(Some(s)),
        Some((line, _)) => Err(err(line, format!("`{key}` must be a string"))),
    }
}

fn take_list(fields: &mut Fields, key: &str) -> Result<Vec<String>, TargetsError> {
    match fields.remove(key) {
        None => Ok(Vec::new()),
        Some((_, Value::Str(s))) => Ok(vec![s]),
        Some((_, Value::List(l))) => Ok(l),
        Some((line, Value::Num(_))) => Err(err(
            line,
            format!("`{key}` must be a string or an array of strings"),
        )),
    }
}

fn take_num(fields: &mut Fields, key: &str) -> Result<Option<f64>, TargetsError> {
    match fields.remove(key) {
        None => Ok(None),
        Some((_, Value::Num(n))) if n > 0.0 => Ok(Some(n)),
        Some((line, _)) => Err(err(line, format!("`{key}` must be a positive number"))),
    }
}

fn build_row(header_line: usize, mut fields: Fields) -> Result<HeadlineRow, TargetsError> {
    let required = |v: Option<String>, key: &str| {
        v.ok_or_else(|| err(header_line, format!("row is missing `{key}`")))
    };
    let bench = required(take_str(&mut fields, "bench")?, "bench")?;
    let operation = required(take_str(&mut fields, "operation")?, "operation")?;
    let group = required(take_str(&mut fields, "group")?, "group")?;
    let mut params = take_list(&mut fields, "params")?;
    if let Some(p) = take_str(&mut fields, "param")? {
        params.push(p);
    }
    let mut quorate = take_list(&mut fields, "quorate")?;
    if quorate.is_empty() {
        quorate.push("quorate".to_owned());
    }
    let peers = take_list(&mut fields, "peers")?;
    let floor = take_str(&mut fields, "floor")?;
    let min_ratio = take_num(&mut fields, "min_ratio")?;
    let target_peer = take_str(&mut fields, "target_peer")?;
    let max_over_floor = take_num(&mut fields, "max_over_floor")?;
    let max_ns = take_num(&mut fields, "max_ns")?;
    let min_per_sec = take_num(&mut fields, "min_per_sec")?;
    let unit = match take_str(&mut fields, "unit")?.as_deref() {
        None | Some("ns") => Unit::Nanos,
        Some("bytes") => Unit::Bytes,
        Some(other) => return Err(err(header_line, format!("unknown unit `{other}`"))),
    };
    let source = take_str(&mut fields, "source")?;
    let note = take_str(&mut fields, "note")?;
    if let Some((key, (line, _))) = fields.into_iter().next() {
        return Err(err(line, format!("unknown key `{key}`")));
    }
    if max_over_floor.is_some() && floor.is_none() {
        return Err(err(header_line, "`max_over_floor` needs a `floor`"));
    }
    if target_peer.as_ref().is_some_and(|p| !peers.contains(p)) {
        return Err(err(header_line, "`target_peer` must be one of `peers`"));
    }
    if min_ratio.is_some() && peers.is_empty() {
        return Err(err(header_line, "`min_ratio` needs `peers`"));
    }
    Ok(HeadlineRow {
        bench,
        operation,
        group,
        params,
        quorate,
        peers,
        floor,
        min_ratio,
        target_peer,
        max_over_floor,
        max_ns,
        min_per_sec,
        unit,
        source,
        note,
    })
}

/// Parses the targets file.
///
/// # Errors
///
/// A [`TargetsError`] naming the line of the first malformed entry: an unknown key, a value
/// of the wrong kind, a row without `bench`, `operation` or `group`, or a target that cannot
/// be evaluated (`max_over_floor` without `floor`, `min_ratio` without `peers`).
pub fn parse_targets(text: &str) -> Result<Vec<HeadlineRow>, TargetsError> {
    let mut rows = Vec::new();
    let mut current: Option<(usize, Fields)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('[') {
            let header = trimmed.split('#').next().unwrap_or("").trim();
            if header != "[[row]]" {
                return Err(err(
                    line,
                    format!("unknown table `{header}` (only [[row]])"),
                ));
            }
            if let Some((l, fields)) = current.take() {
                rows.push(build_row(l, fields)?);
            }
            current = Some((line, BTreeMap::new()));
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(err(line, "expected `key = value`"));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(err(line, format!("bad key `{key}`")));
        }
        let value = parse_value(value, line)?;
        let Some((_, fields)) = current.as_mut() else {
            return Err(err(line, "key outside a [[row]] table"));
        };
        if fields.insert(key.to_owned(), (line, value)).is_some() {
            return Err(err(line, format!("duplicate key `{key}`")));
        }
    }
    if let Some((l, fields)) = current.take() {
        rows.push(build_row(l, fields)?);
    }
    Ok(rows)
}
