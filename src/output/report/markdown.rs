//! The Markdown report, shaped for a pull-request comment: a verdict line, a table of key
//! figures, a text sparkline of memory over time, tables for the peak, OOMs, leaks and
//! fragmentation, and stacks folded in `<details>` (GitHub, GitLab and Gitea render them).

use std::fmt::Write;

use super::model::{self, DeviceReport, StackLine};
use super::svg::group_digits;
use crate::analysis::findings::Severity;
use crate::analysis::Verdict;
use crate::units::{bytes, duration_us, signed_bytes};

/// Characters of the text sparklines.
pub const SPARK_WIDTH: usize = 48;
const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

// Text from the snapshot (function names, file names, labels, annotations) goes into comments
// that GitHub, GitLab and Gitea render: nothing in it may start markup. Inline code is inert
// (no link, image, HTML or mention is recognised in it), so names go in code spans where they
// can; text that mixes our words with names is escaped character by character.

/// A zero-width space after `@`: the name still reads `@name`, but is no mention and no e-mail
/// link (renovate-bot does the same).
const NO_MENTION: &str = "@&#8203;";

/// Whether `@` at byte `i` of `s` starts a mention or the domain of an e-mail address.
fn mention_at(s: &str, i: usize) -> bool {
    s.as_bytes()
        .get(i + 1)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Escapes text for a Markdown table cell or inline text: no emphasis, code, link, image,
/// HTML, autolink or mention can start in it, `|` cannot split a table and a newline cannot
/// end a line.
pub fn cell(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + s.len() / 8);
    for (i, c) in s.char_indices() {
        let rest = &s[i..];
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                o.push('\\');
                o.push(c);
            }
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '\n' | '\r' => o.push(' '),
            '@' if mention_at(s, i) => o.push_str(NO_MENTION),
            // GFM links bare URLs (`http://x`) and `www.x`: an escaped `:` or `.` breaks both.
            ':' if rest.starts_with("://") => o.push_str("\\:"),
            '.' if i >= 3 && s.as_bytes()[i - 3..i].eq_ignore_ascii_case(b"www") => {
                o.push_str("\\.")
            }
            _ => o.push(c),
        }
    }
    o
}

/// Escapes text for the HTML of a `<summary>`. CommonMark does not parse Markdown in an HTML
/// block, but GitHub still finds mentions in its text, and a renderer that did parse it
/// would find no markup either: the characters that start some are entities.
fn summary_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '`' | '[' | ']' | '|' | '*' | '_' | '~' | '\\' => {
                let _ = write!(o, "&#{};", c as u32);
            }
            '\n' | '\r' => o.push(' '),
            '@' if mention_at(s, i) => o.push_str(NO_MENTION),
            _ => o.push(c),
        }
    }
    o
}

/// The longest run of backticks in `s`.
fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Inline code, on one line, with a fence longer than any run of backticks inside.
pub fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.is_empty() {
        return String::new();
    }
    let fence = "`".repeat(longest_backtick_run(&s) + 1);
    // CommonMark strips one space at each end when both have one: pad so that the text keeps
    // its own, and so that a backtick at either end does not touch the fence.
    if fence.len() > 1 || (s.starts_with(' ') && s.ends_with(' ') && !s.trim().is_empty()) {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

/// Inline code in a table cell: as [`code`], with `|` escaped. GFM splits a row at every
/// unescaped `|`, inside code spans too, and drops the backslash of `\|` before it renders
/// the cell, so the code reads the same.
pub fn code_cell(s: &str) -> String {
    code(s).replace('|', "\\|")
}

/// A text sparkline of `values` squeezed into `width` characters (each the column maximum).
pub fn sparkline(values: &[u64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let n = values.len();
    let w = width.min(n);
    let buckets: Vec<u64> = (0..w)
        .map(|c| {
            let (lo, hi) = (c * n / w, ((c + 1) * n / w).max(c * n / w + 1));
            values[lo..hi.min(n)].iter().copied().max().unwrap_or(0)
        })
        .collect();
    let max = buckets.iter().copied().max().unwrap_or(0).max(1) as f64;
    buckets
        .iter()
        .map(|&v| SPARK[((v as f64 / max) * 7.0).round().clamp(0.0, 7.0) as usize])
        .collect()
}

fn icon(s: Severity) -> &'static str {
    match s {
        Severity::Problem => "❌",
        Severity::Warning => "⚠️",
        Severity::Note => "ℹ️",
        Severity::Ok => "✅",
    }
}

/// The whole report.
pub fn report(title: &str, reports: &[DeviceReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## memsight report: {}\n", code(title));
    if reports.is_empty() {
        s.push_str("No device has segments or trace events: nothing to analyse.\n");
    }
    for r in reports {
        device(&mut s, r, reports.len() > 1);
    }
    let _ = writeln!(
        s,
        "<sub>memsight {} · exact replay of the CUDA caching allocator</sub>",
        env!("CARGO_PKG_VERSION")
    );
    s
}

fn device(s: &mut String, r: &DeviceReport, many: bool) {
    let d = r.d;
    if many {
        let _ = writeln!(s, "### Device {}\n", d.device);
    }
    let head = model::headline(&r.findings);
    let sev = r
        .findings
        .iter()
        .map(|f| f.severity)
        .find(|&x| x == Severity::Problem)
        .unwrap_or(Severity::Ok);
    let _ = writeln!(
        s,
        "{} **Verdict: {}** (device {})\n",
        icon(sev),
        cell(&head),
        d.device
    );
    let f = d.final_counters;
    s.push_str("| | |\n|---|---|\n");
    let _ = writeln!(
        s,
        "| Peak allocated | **{}** at event {} |",
        bytes(d.peak.allocated),
        group_digits(d.peak.allocated_event as u64)
    );
    let _ = writeln!(
        s,
        "| Peak reserved | **{}** at event {} |",
        bytes(d.peak.reserved),
        group_digits(d.peak.reserved_event as u64)
    );
    let _ = writeln!(
        s,
        "| At the end | {} allocated, {} reserved |",
        bytes(f.allocated),
        bytes(f.reserved)
    );
    let _ = writeln!(
        s,
        "| Events | {}{} |",
        group_digits(d.events as u64),
        match r.duration_us {
            Some(us) => format!(" over {}", duration_us(us)),
            None => String::new(),
        }
    );
    let _ = writeln!(
        s,
        "| OOMs / leak suspects | {} / {} |\n",
        d.ooms.len(),
        d.leaks.len()
    );
    let t = &r.timeline;
    if !t.sample.is_empty() {
        let totals: Vec<u64> = (0..t.sample.len())
            .map(|c| t.bands.iter().map(|b| b.values[c]).sum())
            .collect();
        let _ = writeln!(
            s,
            "Allocated over time: `{}` (0 to {})\n",
            sparkline(&totals, SPARK_WIDTH),
            bytes(totals.iter().copied().max().unwrap_or(0))
        );
    }

    s.push_str("#### Diagnosis\n\n");
    for f in &r.findings {
        let _ = writeln!(
            s,
            "- {} **{}**: {}",
            icon(f.severity),
            cell(&f.title),
            cell(&f.detail)
        );
    }
    s.push('\n');

    if let Some(f) = &r.focus {
        let _ = writeln!(
            s,
            "#### Selected call site: {} in {}\n\n{} allocations; {} live at the peak, {} in {} \
             blocks at the end{}.\n",
            code(&f.site),
            code(&f.function),
            group_digits(f.allocations),
            bytes(f.live_at_peak),
            bytes(f.live_at_end),
            group_digits(f.blocks_at_end),
            f.leak_growth_per_iteration
                .map(|g| format!(
                    "; a leak suspect growing {} per iteration",
                    signed_bytes(g as i64)
                ))
                .unwrap_or_default()
        );
        details(s, "Stack (innermost frame first)", &f.stack);
    }
    let _ = writeln!(
        s,
        "#### What held the peak ({} at event {})\n",
        bytes(d.peak.allocated),
        group_digits(d.peak.allocated_event as u64)
    );
    if r.peak_sites.is_empty() {
        s.push_str("Nothing was allocated.\n\n");
    } else {
        s.push_str("| call site | function | kind | live | blocks | share |\n");
        s.push_str("|---|---|---|---:|---:|---:|\n");
        for p in &r.peak_sites {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.1}% |",
                code_cell(&p.label),
                code_cell(&p.function),
                p.category,
                bytes(p.bytes),
                group_digits(p.blocks),
                p.share * 100.0
            );
        }
        s.push('\n');
    }

    if let Some(f) = r.flames.first().filter(|f| !f.heaviest.is_empty()) {
        s.push_str(
            "#### The heaviest path at the peak\n\nFrom the outermost call down, the largest \
             callee each time (`memsight flamegraph FILE -o peak.svg` draws the whole tree):\n\n",
        );
        s.push_str("| call | live |\n|---|---:|\n");
        for (name, b) in f.heaviest.iter().take(12) {
            let _ = writeln!(s, "| {} | {} |", code_cell(name), bytes(*b));
        }
        s.push('\n');
    }

    if !d.ooms.is_empty() {
        s.push_str("#### Out-of-memory errors\n\n");
        for (k, o) in d.ooms.iter().enumerate() {
            let v = match o.verdict {
                Verdict::Fragmentation => "fragmentation",
                Verdict::Capacity => "capacity",
            };
            let _ = writeln!(
                s,
                "**OOM {} at event {}: {}.** {} requested with {} allocated, {} reserved ({} \
                 reserved but unallocated), largest free block {}.\n",
                k + 1,
                group_digits(o.event as u64),
                v,
                bytes(o.requested),
                bytes(o.allocated),
                bytes(o.reserved),
                bytes(o.free_in_reserved),
                bytes(o.largest_free_block)
            );
            let advice = r.oom_advice.get(k).map(String::as_str).unwrap_or("");
            let _ = writeln!(s, "> {}\n", cell(advice));
            if let Some(st) = r.oom_stacks.get(k) {
                details(s, "Stack of the failed request", st);
            }
        }
    }

    if !d.leaks.is_empty() {
        s.push_str("#### Leak suspects\n\n");
        s.push_str("| call site | function | live at the end | per iteration | grew in | confidence | trend |\n");
        s.push_str("|---|---|---:|---:|---:|---:|---|\n");
        for l in &d.leaks {
            let label = d
                .sites
                .get(l.site)
                .map(|s| s.short_label())
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} iterations | {:.2} | `{}` |",
                code_cell(&label),
                code_cell(&l.function),
                bytes(l.live_bytes),
                signed_bytes(l.growth_bytes_per_iteration as i64),
                l.iterations,
                l.confidence,
                sparkline(&l.series, 16)
            );
        }
        s.push('\n');
        for (k, l) in d.leaks.iter().enumerate() {
            if let Some(st) = r.leak_stacks.get(k) {
                let label = d
                    .sites
                    .get(l.site)
                    .map(|s| s.short_label())
                    .unwrap_or_default();
                details(s, &format!("Stack of {label}"), st);
            }
        }
    }

    if let Some(w) = &d.fragmentation.worst {
        s.push_str("#### Fragmentation\n\n");
        s.push_str("| moment | event | reserved | reserved but unallocated | largest free block | external |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|\n");
        let fr = &d.fragmentation;
        for (name, p) in [
            ("most split", Some(w)),
            ("peak reserved", fr.at_peak_reserved.as_ref()),
            ("end", fr.at_end.as_ref()),
        ] {
            if let Some(p) = p {
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} | {} | {:.0}% |",
                    group_digits(p.event as u64),
                    bytes(p.reserved),
                    bytes(p.reserved_unallocated),
                    bytes(p.largest_free_block),
                    p.external * 100.0
                );
            }
        }
        let split: Vec<u64> = r.frag.iter().map(|p| p.split).collect();
        if split.iter().any(|&x| x > 0) {
            let _ = writeln!(
                s,
                "\nFree memory outside the largest free block over time: `{}` (0 to {})",
                sparkline(&split, SPARK_WIDTH),
                bytes(split.iter().copied().max().unwrap_or(0))
            );
        }
        s.push('\n');
    }
}

/// A stack folded in `<details>`: one frame a line, in a fence longer than any run of
/// backticks in the frames, so that no frame can close it.
fn details(s: &mut String, title: &str, lines: &[StackLine]) {
    if lines.is_empty() {
        return;
    }
    let shown: Vec<String> = lines
        .iter()
        .take(14)
        .map(|l| {
            format!(
                "{} {}",
                if l.user { "→" } else { " " },
                l.text().replace(['\n', '\r'], " ")
            )
        })
        .collect();
    let longest = shown.iter().map(|l| longest_backtick_run(l)).max();
    let fence = "`".repeat(longest.unwrap_or(0).max(2) + 1);
    let _ = writeln!(
        s,
        "<details><summary>{}</summary>\n\n{fence}text",
        summary_text(title)
    );
    for l in &shown {
        let _ = writeln!(s, "{l}");
    }
    if lines.len() > 14 {
        let _ = writeln!(s, "  … {} more frames", lines.len() - 14);
    }
    let _ = writeln!(s, "{fence}\n\n</details>\n");
}

/// The diff for a pull-request comment.
pub fn diff_report(d: &crate::output::diff::Diff) -> String {
    use crate::output::diff::{headline_rows, point_text, Change, LIST};
    let mut s = String::new();
    let _ = writeln!(s, "## memsight diff\n");
    let _ = writeln!(
        s,
        "- **A**: {} device {} at {}\n- **B**: {} device {} at {}\n",
        code(&d.a.name),
        d.a.device,
        cell(&point_text(&d.a)),
        code(&d.b.name),
        d.b.device,
        cell(&point_text(&d.b))
    );
    s.push_str("| | A | B | change |\n|---|---:|---:|---:|\n");
    for (k, a, b, c) in headline_rows(d) {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            cell(&k),
            cell(&a),
            cell(&b),
            cell(&c)
        );
    }
    s.push('\n');
    for (change, title) in [
        (Change::Grew, "Grew"),
        (Change::New, "New (live in B only)"),
        (Change::Gone, "Gone (live in A only)"),
        (Change::Shrank, "Shrank"),
    ] {
        let list: Vec<_> = d.with(change).collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "#### {title} ({})\n", list.len());
        s.push_str("| call site | function | A live | B live | change | allocations A → B |\n");
        s.push_str("|---|---|---:|---:|---:|---:|\n");
        for x in list.iter().take(LIST) {
            let _ = writeln!(
                s,
                "| {} | {} | {} ({} blocks) | {} ({} blocks) | **{}** | {} → {} |",
                code_cell(&x.label),
                code_cell(&x.function),
                bytes(x.a.live_bytes),
                x.a.live_blocks,
                bytes(x.b.live_bytes),
                x.b.live_blocks,
                signed_bytes(x.delta_bytes),
                x.a.allocs,
                x.b.allocs
            );
        }
        if list.len() > LIST {
            let _ = writeln!(s, "\n… and {} more.", list.len() - LIST);
        }
        s.push('\n');
    }
    if let Some(u) = crate::output::diff::unchanged_sentence(d) {
        let _ = writeln!(s, "{u}.\n");
    }
    if d.nothing_changed() {
        s.push_str("No call site's live memory changed.\n\n");
    }
    let _ = writeln!(
        s,
        "<sub>memsight {} · live bytes at each side's point, call sites matched by file, line and function</sub>",
        env!("CARGO_PKG_VERSION")
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_spans_the_range() {
        let sp = sparkline(&[0, 1, 2, 3, 4, 5, 6, 7], 8);
        assert_eq!(sp, "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&[5; 100], 10).chars().count(), 10);
        assert_eq!(cell("a|b*c_d"), "a\\|b\\*c\\_d");
        assert_eq!(code("x`y"), "`` x`y ``");
    }

    #[test]
    fn file_text_starts_no_markup() {
        assert_eq!(
            cell("![x](http://e/x.png) <b> @bob a@b.c www.e.org\n"),
            "!\\[x\\](http\\://e/x.png) &lt;b&gt; @&#8203;bob a@&#8203;b.c www\\.e.org "
        );
        assert_eq!(cell("a@ b \\|"), "a@ b \\\\\\|");
        assert_eq!(code("a``b"), "``` a``b ```");
        assert_eq!(code("`"), "`` ` ``");
        assert_eq!(code(" a "), "`  a  `");
        assert_eq!(code("a\nb"), "`a b`");
        assert_eq!(code_cell("a|b"), "`a\\|b`");
        assert_eq!(
            summary_text("<i>@x\n![a](b) `|`"),
            "&lt;i&gt;@&#8203;x !&#91;a&#93;(b) &#96;&#124;&#96;"
        );
    }
}
