//! The human summary of `goroscope analyze`: fits an 80-column terminal,
//! colour only when asked for (the caller checks TTY and NO_COLOR).

use std::io::{self, Write};

use goroscope_core::analyze::Report;
use goroscope_core::model::Diagnostic;

const WIDTH: usize = 80;

struct Style {
    on: bool,
}

impl Style {
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Cuts `s` to `w` characters, marking the cut with `~` at the end.
fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return format!("{s:<w$}");
    }
    let keep: String = s.chars().take(w.saturating_sub(1)).collect();
    format!("{keep}~")
}

/// Writes lines of `items` ("name count") wrapped at the terminal width.
fn wrapped(out: &mut impl Write, head: &str, items: &[String]) -> io::Result<()> {
    let mut line = head.to_string();
    let indent = " ".repeat(head.len());
    let mut first = true;
    for item in items {
        let sep = if first { "" } else { ", " };
        // One column stays free for the comma that ends a wrapped line.
        if line.len() + sep.len() + item.len() + 1 > WIDTH && !first {
            writeln!(out, "{line},")?;
            line = format!("{indent}{item}");
        } else {
            line.push_str(sep);
            line.push_str(item);
        }
        first = false;
    }
    writeln!(out, "{line}")
}

/// A wait in at most 5 columns: `45m`, `23h`, `999d`, `>999d`.
fn minutes(m: u32) -> String {
    match m {
        0..=59 => format!("{m}m"),
        60..=1439 => format!("{}h", m / 60),
        1440..=1_439_999 => format!("{}d", m / 1440),
        _ => ">999d".to_string(),
    }
}

/// Renders the summary.
pub fn render(out: &mut impl Write, r: &Report, top: usize, color: bool) -> io::Result<()> {
    let st = Style { on: color };
    let mut states: Vec<(&str, u64)> = r
        .states
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, v)| (*k, *v))
        .collect();
    states.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut items: Vec<String> = states.iter().map(|(k, n)| format!("{n} {k}")).collect();
    if let Some(first) = items.first_mut() {
        first.insert(0, '(');
    }
    if let Some(last) = items.last_mut() {
        last.push(')');
    }
    // Measure without colour codes, then colour the head only.
    let head = format!("{} goroutines  ", r.total);
    let mut buf = Vec::new();
    wrapped(&mut buf, &head, &items)?;
    let text = String::from_utf8_lossy(&buf);
    let text = text.replacen(head.trim_end(), &st.bold(head.trim_end()), 1);
    out.write_all(text.as_bytes())?;
    if let Some(profile) = r.source.profile {
        // A profile is not a dump: say what the numbers are.
        let what = if r.source.format == "pprof_text" {
            "debug=1"
        } else {
            "protobuf"
        };
        let note = format!(
            "from a {profile} profile ({what}): states inferred from stacks\n\
             (on_cpu = running or runnable); no goroutine ids or wait times"
        );
        for line in note.lines() {
            writeln!(out, "{}", st.dim(line))?;
        }
    }

    let mut classes: Vec<(&str, u64)> = r
        .block_classes
        .iter()
        .filter(|(k, n)| **n > 0 && **k != "none")
        .map(|(k, v)| (*k, *v))
        .collect();
    classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !classes.is_empty() {
        let items: Vec<String> = classes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        wrapped(out, "blocked on: ", &items)?;
    }
    let runtime = r.origins.get("runtime").copied().unwrap_or(0);
    let mut facts = Vec::new();
    if runtime > 0 {
        facts.push(format!("{runtime} runtime goroutines"));
    }
    if r.flags.leaked > 0 {
        facts.push(format!("{} leaked", r.flags.leaked));
    }
    if r.flags.locked_to_thread > 0 {
        facts.push(format!("{} locked to thread", r.flags.locked_to_thread));
    }
    if r.flags.truncated > 0 {
        facts.push(format!("{} truncated", r.flags.truncated));
    }
    facts.push(format!(
        "{} groups, {} distinct stacks",
        r.group_count, r.unique_stacks
    ));
    wrapped(out, "", &facts)?;

    writeln!(out, "{}", st.bold("top groups:"))?;
    writeln!(
        out,
        "{}",
        st.dim(&format!(
            "{:>7}  {}  {}  {}  {}",
            "count",
            fit("block", 14),
            fit("top function", 24),
            fit("created by", 16),
            "wait"
        ))
    )?;
    for g in r.groups.iter().take(top) {
        let created = g.created_by.as_ref().map_or("-", |c| c.function.as_str());
        let wait = match (g.wait_minutes_min, g.wait_minutes_max) {
            (Some(a), Some(b)) if a == b => minutes(a),
            (Some(a), Some(b)) => format!("{}-{}", minutes(a), minutes(b)),
            // Go prints minutes only from one minute on, and only once a
            // GC has seen the goroutine blocked: absent is not zero.
            _ => "-".to_string(),
        };
        let wait = if g.block_class == goroscope_core::model::BlockClass::None {
            "-".to_string()
        } else {
            wait
        };
        writeln!(
            out,
            "{}  {}  {}  {}  {}",
            st.yellow(&format!("{:>7}", g.count)),
            fit(g.block_class.as_str(), 14),
            fit(&g.top_function, 24),
            fit(created, 16),
            wait
        )?;
        // --group-by-label: say which value this group stands for.
        if let Some(l) = &g.group_label {
            let line = format!("{:>9}{}={}", "", l.key, l.value);
            writeln!(out, "{}", st.dim(fit(&line, WIDTH).trim_end()))?;
        }
    }
    // The report may hold only the groups shown (Census::report_top): the
    // rest is what they leave of the totals.
    let shown = r.groups.len().min(top) as u64;
    if r.group_count > shown {
        let rest = r.total - r.groups.iter().take(top).map(|g| g.count).sum::<u64>();
        writeln!(
            out,
            "{}",
            st.dim(&format!(
                "{:>7}  in {} more groups (--top N to see more, --format json for all)",
                rest,
                r.group_count - shown
            ))
        )?;
    }
    Ok(())
}

/// Prints the first diagnostics as warnings.
pub fn diagnostics(out: &mut impl Write, d: &[Diagnostic], name: &str) -> io::Result<()> {
    for x in d.iter().take(5) {
        writeln!(out, "warning: {name}:{}: {}", x.line, x.message)?;
    }
    if d.len() > 5 {
        writeln!(
            out,
            "warning: {} more problems in {name} (see --format json)",
            d.len() - 5
        )?;
    }
    Ok(())
}
