//! `memsight check`: memory rules for CI. Each rule is evaluated on every device and yields a
//! pass or a failure that says by how much; the results render as text, JSON or JUnit XML.

use std::fmt::Write;

use serde::Serialize;

use crate::analysis::iterations::MIN_ITERATIONS;
use crate::analysis::{Analysis, DeviceAnalysis};
use crate::units::{bytes, plural, signed_bytes};

/// Allowed growth over a baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Growth {
    /// A fraction: `5%` is 0.05.
    Relative(f64),
    /// Bytes.
    Absolute(u64),
}

impl std::str::FromStr for Growth {
    type Err = String;

    /// `5%`, `0.5%` (relative) or a size such as `100MiB` (absolute).
    fn from_str(s: &str) -> Result<Growth, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a percentage (try 5%)"))?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{s:?}: the growth must be 0% or more"));
            }
            return Ok(Growth::Relative(v / 100.0));
        }
        crate::units::parse_size(t)
            .map(Growth::Absolute)
            .map_err(|e| format!("{e}; or a percentage such as 5%"))
    }
}

impl std::fmt::Display for Growth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Growth::Relative(r) => write!(f, "{}%", trim_float(r * 100.0)),
            Growth::Absolute(b) => write!(f, "{}", bytes(*b)),
        }
    }
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The rules to check; `None`/`false` rules are not checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// Peak allocated bytes (`allocated_bytes.all.peak`).
    pub max_peak: Option<u64>,
    /// Peak reserved bytes (what the process holds from the driver).
    pub max_reserved: Option<u64>,
    /// Highest fragmentation at peak reserved (0..1), see [`crate::analysis::Fragmentation::stranded_share_at_peak`].
    pub max_fragmentation: Option<f64>,
    pub no_leaks: bool,
    pub no_oom: bool,
    /// Growth of peak allocated and peak reserved over the baseline.
    pub max_growth: Option<Growth>,
}

impl Rules {
    /// Whether any rule is set.
    pub fn any(&self) -> bool {
        self.max_peak.is_some()
            || self.max_reserved.is_some()
            || self.max_fragmentation.is_some()
            || self.no_leaks
            || self.no_oom
            || self.max_growth.is_some()
    }
}

/// The outcome of one rule on one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    /// The option that set it: `max-peak`, `no-leaks`, ...
    pub rule: String,
    pub device: usize,
    pub passed: bool,
    /// The limit, as text (`10.00 GiB`, `30%`, `none`).
    pub limit: String,
    /// The measured value, as text.
    pub actual: String,
    /// One sentence: what was measured and, when it failed, by how much.
    pub message: String,
}

/// Every rule's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub file: String,
    pub baseline: Option<String>,
    pub passed: bool,
    pub results: Vec<RuleResult>,
}

impl CheckReport {
    pub fn failures(&self) -> usize {
        self.results.iter().filter(|r| !r.passed).count()
    }
}

fn over(actual: u64, limit: u64) -> String {
    let pct = if limit == 0 {
        String::new()
    } else {
        format!(
            " ({:.1}% over)",
            (actual as f64 - limit as f64) / limit as f64 * 100.0
        )
    };
    format!("{} over the limit{pct}", bytes(actual - limit))
}

fn size_rule(rule: &str, what: &str, device: usize, actual: u64, limit: u64) -> RuleResult {
    let passed = actual <= limit;
    RuleResult {
        rule: rule.into(),
        device,
        passed,
        limit: bytes(limit),
        actual: bytes(actual),
        message: if passed {
            format!("{what} {} is within {}", bytes(actual), bytes(limit))
        } else {
            format!(
                "{what} {} exceeds {}: {}",
                bytes(actual),
                bytes(limit),
                over(actual, limit)
            )
        },
    }
}

/// A rule that allows none of something (leak suspects, OOMs): passes when `count` is 0, and
/// otherwise lists the first few (`list`). `nouns` are the short one for the actual value and
/// the long one for the message.
fn none_allowed(
    rule: &str,
    device: usize,
    (short, long): (&str, &str),
    list: &[String],
    count: usize,
    clean: &str,
) -> RuleResult {
    let passed = count == 0;
    RuleResult {
        rule: rule.into(),
        device,
        passed,
        limit: "none".into(),
        actual: format!("{count} {short}{}", plural(count)),
        message: if passed {
            clean.into()
        } else {
            format!("{count} {long}{}: {}", plural(count), list.join("; "))
        },
    }
}

fn growth_rule(
    what: &str,
    device: usize,
    base: u64,
    now: u64,
    g: Growth,
    baseline: &str,
) -> RuleResult {
    let grew = now as i64 - base as i64;
    let (passed, limit_bytes) = match g {
        Growth::Relative(r) => {
            let limit = base as f64 * (1.0 + r);
            (now as f64 <= limit + 0.5, limit.round() as u64)
        }
        Growth::Absolute(b) => (now <= base.saturating_add(b), base.saturating_add(b)),
    };
    let pct = if base == 0 {
        String::new()
    } else {
        format!(" ({:+.1}%)", grew as f64 / base as f64 * 100.0)
    };
    RuleResult {
        rule: "max-growth".into(),
        device,
        passed,
        limit: format!("{g} over {}", bytes(base)),
        actual: format!("{}{pct}", signed_bytes(grew)),
        message: if passed {
            format!(
                "{what} {} vs {} in {baseline}: {}{pct}, within {g}",
                bytes(now),
                bytes(base),
                signed_bytes(grew)
            )
        } else {
            format!(
                "{what} {} vs {} in {baseline}: grew {}{pct}, more than {g} allows ({} over the \
                 allowed {})",
                bytes(now),
                bytes(base),
                signed_bytes(grew),
                bytes(now.saturating_sub(limit_bytes)),
                bytes(limit_bytes)
            )
        },
    }
}

fn device_results(
    d: &DeviceAnalysis,
    base: Option<(&DeviceAnalysis, &str)>,
    rules: &Rules,
    baseline_name: Option<&str>,
    out: &mut Vec<RuleResult>,
) {
    let dev = d.device;
    if let Some(limit) = rules.max_peak {
        out.push(size_rule(
            "max-peak",
            "peak allocated",
            dev,
            d.peak.allocated,
            limit,
        ));
    }
    if let Some(limit) = rules.max_reserved {
        out.push(size_rule(
            "max-reserved",
            "peak reserved",
            dev,
            d.peak.reserved,
            limit,
        ));
    }
    if let Some(limit) = rules.max_fragmentation {
        let (x, at) = match d.fragmentation.stranded_share_at_peak() {
            Some((x, p)) => (
                x,
                format!(
                    ": at peak reserved (event {}) {} of {} reserved was free and its largest \
                     free block was {}",
                    p.event,
                    bytes(p.reserved_unallocated),
                    bytes(p.reserved),
                    bytes(p.largest_free_block)
                ),
            ),
            None => (0.0, String::new()),
        };
        let passed = x <= limit;
        out.push(RuleResult {
            rule: "max-fragmentation".into(),
            device: dev,
            passed,
            limit: format!("{:.0}%", limit * 100.0),
            actual: format!("{:.1}%", x * 100.0),
            message: if passed {
                format!(
                    "fragmentation at peak reserved is {:.1}%, within {:.0}%{at}",
                    x * 100.0,
                    limit * 100.0
                )
            } else {
                format!(
                    "fragmentation at peak reserved is {:.1}%, {:.1} points over the {:.0}% \
                     limit{at}",
                    x * 100.0,
                    (x - limit) * 100.0,
                    limit * 100.0
                )
            },
        });
    }
    if rules.no_leaks && d.events > 0 && !d.iterations.can_judge_leaks() {
        // No verdict is not a pass: the trace cannot show whether memory leaks.
        let n = d.iterations.count();
        out.push(RuleResult {
            rule: "no-leaks".into(),
            device: dev,
            passed: false,
            limit: "none".into(),
            actual: "no verdict".into(),
            message: format!(
                "cannot tell: {n} iteration{} found (from {}), at least {MIN_ITERATIONS} are \
                 needed to tell a leak from memory made once and kept; record more steps and \
                 call torch.cuda.memory._snapshot() after each, or pass --iterations",
                plural(n),
                crate::output::words::iteration_source(&d.iterations)
            ),
        });
    } else if rules.no_leaks {
        let list: Vec<String> = d
            .leaks
            .iter()
            .take(5)
            .map(|l| {
                let label = d
                    .sites
                    .get(l.site)
                    .map(|s| s.short_label())
                    .unwrap_or_else(|| format!("{}:{}", l.file, l.line));
                format!(
                    "{label} ({}, {} live, {} per iteration)",
                    l.function,
                    bytes(l.live_bytes),
                    signed_bytes(l.growth_bytes_per_iteration as i64)
                )
            })
            .collect();
        out.push(none_allowed(
            "no-leaks",
            dev,
            ("suspect", "leak suspect"),
            &list,
            d.leaks.len(),
            "no call site's live memory grows across iterations",
        ));
    }
    if rules.no_oom {
        let list: Vec<String> = d
            .ooms
            .iter()
            .take(5)
            .map(|o| {
                format!(
                    "event {}: {} requested, {} ({} reserved but unallocated, largest free \
                     block {})",
                    o.event,
                    bytes(o.requested),
                    o.verdict.name(),
                    bytes(o.free_in_reserved),
                    bytes(o.largest_free_block)
                )
            })
            .collect();
        out.push(none_allowed(
            "no-oom",
            dev,
            ("OOM", "out-of-memory error"),
            &list,
            d.ooms.len(),
            "no out-of-memory error in the trace",
        ));
    }
    if let Some(g) = rules.max_growth {
        let name = baseline_name.unwrap_or("the baseline");
        match base {
            Some((b, _)) => {
                out.push(growth_rule(
                    "peak allocated",
                    dev,
                    b.peak.allocated,
                    d.peak.allocated,
                    g,
                    name,
                ));
                out.push(growth_rule(
                    "peak reserved",
                    dev,
                    b.peak.reserved,
                    d.peak.reserved,
                    g,
                    name,
                ));
            }
            None => out.push(RuleResult {
                rule: "max-growth".into(),
                device: dev,
                passed: false,
                limit: g.to_string(),
                actual: "no baseline device".into(),
                message: format!("{name} has no device {dev} to compare with"),
            }),
        }
    }
}

/// Evaluates `rules` on every device of `a` (and against `baseline`, when given).
pub fn evaluate(
    file: &str,
    a: &Analysis,
    baseline: Option<(&str, &Analysis)>,
    rules: &Rules,
) -> CheckReport {
    let mut results = Vec::new();
    for d in &a.devices {
        let base = baseline.and_then(|(name, b)| b.device(d.device).map(|bd| (bd, name)));
        device_results(d, base, rules, baseline.map(|b| b.0), &mut results);
    }
    if a.devices.is_empty() && rules.any() {
        results.push(RuleResult {
            rule: "devices".into(),
            device: 0,
            passed: false,
            limit: "at least one".into(),
            actual: "none".into(),
            message: "the snapshot has no device with segments or trace events".into(),
        });
    }
    CheckReport {
        file: file.to_string(),
        baseline: baseline.map(|b| b.0.to_string()),
        passed: results.iter().all(|r| r.passed),
        results,
    }
}

/// Plain text: one line per rule, then a summary line.
pub fn text(r: &CheckReport) -> String {
    let mut s = String::new();
    for x in &r.results {
        let _ = writeln!(
            s,
            "{}  {} (device {}): {}",
            if x.passed { "PASS" } else { "FAIL" },
            x.rule,
            x.device,
            x.message
        );
    }
    let n = r.results.len();
    let f = r.failures();
    let _ = writeln!(
        s,
        "{}: {} of {n} rule{} passed for {}",
        if r.passed { "ok" } else { "FAILED" },
        n - f,
        plural(n),
        r.file
    );
    s
}

/// JSON: `{"file","baseline","passed","results":[{"rule","device","passed","limit","actual","message"}]}`.
pub fn json(r: &CheckReport) -> String {
    let mut s = serde_json::to_string_pretty(r).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// Escapes text for XML: the reports' escaping, with the control characters XML 1.0 does
/// not allow made spaces.
fn xml(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    super::report::svg::esc(&clean)
}

/// JUnit XML: one test case per rule and device, failures with the message.
pub fn junit(r: &CheckReport) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let n = r.results.len();
    let f = r.failures();
    let _ = writeln!(
        s,
        "<testsuites name=\"memsight check\" tests=\"{n}\" failures=\"{f}\" errors=\"0\">"
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"memsight check {}\" tests=\"{n}\" failures=\"{f}\" errors=\"0\" skipped=\"0\">",
        xml(&r.file)
    );
    for x in &r.results {
        let _ = write!(
            s,
            "    <testcase classname=\"memsight.device{}\" name=\"{}\"",
            x.device,
            xml(&x.rule)
        );
        if x.passed {
            let _ = writeln!(
                s,
                "><system-out>{}</system-out></testcase>",
                xml(&x.message)
            );
        } else {
            let _ = writeln!(
                s,
                ">\n      <failure message=\"{}\" type=\"{}\">limit: {}; actual: {}</failure>\n    </testcase>",
                xml(&x.message),
                xml(&x.rule),
                xml(&x.limit),
                xml(&x.actual)
            );
        }
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}

/// Parses a fragmentation limit: `0.3` or `30%`.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (t, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a fraction (try 0.3 or 30%)"))?;
    let v = v / scale;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!(
            "{s:?}: a fragmentation limit is between 0 and 1 (or 0% and 100%)"
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!("5%".parse::<Growth>(), Ok(Growth::Relative(0.05)));
        assert_eq!("100MiB".parse::<Growth>(), Ok(Growth::Absolute(100 << 20)));
        assert!("-5%".parse::<Growth>().is_err());
        assert!("lots".parse::<Growth>().is_err());
        assert_eq!(Growth::Relative(0.05).to_string(), "5%");
        assert_eq!(parse_fraction("0.3"), Ok(0.3));
        assert_eq!(parse_fraction("30%"), Ok(0.3));
        assert!(parse_fraction("1.5").is_err());
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot; ");
    }

    #[test]
    fn growth_is_measured_both_ways() {
        let r = growth_rule("peak allocated", 0, 1000, 1100, Growth::Relative(0.05), "b");
        assert!(!r.passed);
        assert!(r.message.contains("+10.0%"), "{}", r.message);
        let r = growth_rule("peak allocated", 0, 1000, 1040, Growth::Relative(0.05), "b");
        assert!(r.passed);
        let r = growth_rule("peak allocated", 0, 1000, 900, Growth::Absolute(0), "b");
        assert!(r.passed);
    }
}
