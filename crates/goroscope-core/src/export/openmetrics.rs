//! The census as OpenMetrics text (<https://openmetrics.io>, which
//! Prometheus' text parser also reads): one gauge family per breakdown.
//!
//! Cardinality is bounded by construction, whatever the dump holds:
//!
//! | family | labels | most series |
//! |---|---|---|
//! | `goroscope_goroutines` | state (10) x block_class (17) x origin (2) | 340 in theory; only combinations that occur are written (about 20 in practice) |
//! | `goroscope_goroutines_by_depth` | depth (buckets + 1, at most 12) | 12 |
//! | `goroscope_goroutines_by_wait_reason` | wait_reason: one of the known Go wait reasons, `waiting`, `leaked`, else `other` | 46 |
//! | `goroscope_group_goroutines` | signature, top_function, created_by, block_class | top_k + 1 (`other`) |
//! | `goroscope_groups`, `goroscope_groups_folded`, `goroscope_goroutines_total_in_dump`, `goroscope_dump_diagnostics` | none | 1 each |
//!
//! Function names in labels are cut at [`MAX_LABEL_LEN`] bytes.

use std::fmt::Write as _;

use crate::analyze::Report;
use crate::vocab::WAIT_REASONS;

/// Longest label value written; longer function names are cut with `...`.
pub const MAX_LABEL_LEN: usize = 128;

/// Renders `report` with at most `top_k` group series plus `other`.
pub fn render(report: &Report, top_k: usize) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "goroscope_goroutines",
        "Goroutines in the dump or profile by state, block class and origin.",
    );
    for s in &report.series {
        let _ = writeln!(
            out,
            "goroscope_goroutines{{state=\"{}\",block_class=\"{}\",origin=\"{}\"}} {}",
            s.state.as_str(),
            s.block_class.as_str(),
            s.origin.as_str(),
            s.count
        );
    }

    family(
        &mut out,
        "goroscope_goroutines_by_depth",
        "Goroutines by stack depth bucket (printed plus elided frames).",
    );
    for (bucket, n) in &report.depth_buckets {
        let _ = writeln!(
            out,
            "goroscope_goroutines_by_depth{{depth=\"{}\"}} {n}",
            escape(bucket)
        );
    }

    family(
        &mut out,
        "goroscope_goroutines_by_wait_reason",
        "Waiting goroutines by the wait reason Go printed; unknown reasons are folded into other.",
    );
    let mut reasons: std::collections::BTreeMap<&str, u64> = Default::default();
    for (reason, n) in &report.wait_reasons {
        let base = known_reason(reason);
        *reasons.entry(base).or_insert(0) += n;
    }
    for (reason, n) in reasons {
        let _ = writeln!(
            out,
            "goroscope_goroutines_by_wait_reason{{wait_reason=\"{}\"}} {n}",
            escape(reason)
        );
    }

    family(
        &mut out,
        "goroscope_group_goroutines",
        "Goroutines per stack signature, largest groups first; the rest are summed in the signature named other.",
    );
    // The report may carry only the top groups (Census::report_top): the
    // rest is what the shown ones leave of the total.
    let mut shown = 0u64;
    let mut shown_groups = 0u64;
    for g in report.groups.iter().take(top_k) {
        shown += g.count;
        shown_groups += 1;
        {
            let created = g.created_by.as_ref().map_or("", |c| c.function.as_str());
            let _ = writeln!(
                out,
                "goroscope_group_goroutines{{signature=\"{}\",top_function=\"{}\",created_by=\"{}\",block_class=\"{}\"}} {}",
                g.signature,
                escape(&cut(&g.top_function)),
                escape(&cut(created)),
                g.block_class.as_str(),
                g.count
            );
        }
    }
    let other = report.total.saturating_sub(shown);
    let _ = writeln!(
        out,
        "goroscope_group_goroutines{{signature=\"other\",top_function=\"\",created_by=\"\",block_class=\"other\"}} {other}"
    );

    family(
        &mut out,
        "goroscope_groups",
        "Distinct stack signatures in the dump or profile.",
    );
    let _ = writeln!(out, "goroscope_groups {}", report.group_count);
    family(
        &mut out,
        "goroscope_groups_folded",
        "Signatures beyond the top-K, summed into the signature named other.",
    );
    let _ = writeln!(
        out,
        "goroscope_groups_folded {}",
        report.group_count.saturating_sub(shown_groups)
    );
    family(
        &mut out,
        "goroscope_goroutines_total_in_dump",
        "Goroutines read from the dump or profile.",
    );
    let _ = writeln!(out, "goroscope_goroutines_total_in_dump {}", report.total);
    family(
        &mut out,
        "goroscope_dump_diagnostics",
        "Problems the parser reported (truncation, malformed lines).",
    );
    let _ = writeln!(
        out,
        "goroscope_dump_diagnostics {}",
        report.diagnostics_total
    );
    out.push_str("# EOF\n");
    out
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// A wait reason from Go's list, or `other`: the label value set is fixed.
fn known_reason(reason: &str) -> &str {
    let base = reason
        .strip_suffix(" (durable)")
        .or_else(|| reason.strip_suffix(" (synctest)"))
        .unwrap_or(reason);
    WAIT_REASONS
        .iter()
        .map(|(r, _)| *r)
        .chain(["waiting", "leaked"])
        .find(|r| *r == base)
        .unwrap_or("other")
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_LABEL_LEN {
        return s.to_string();
    }
    let mut end = MAX_LABEL_LEN - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Escapes a label value per the exposition formats: `\`, `"`, newline.
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_cutting() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let long = "x".repeat(300);
        assert_eq!(cut(&long).len(), MAX_LABEL_LEN);
        assert_eq!(known_reason("chan receive (durable)"), "chan receive");
        assert_eq!(known_reason("made up"), "other");
    }
}
