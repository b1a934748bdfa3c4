//! `goroscope watch URL`: the agent's collection and leak scoring for one
//! target, in the terminal, for someone debugging without the agent. A
//! line per scrape (the screen redrawn on a terminal); Ctrl-C prints the
//! final leak report.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::serve::config::Target;
use crate::serve::leaks;
use crate::serve::target::{lock, TargetState};

/// What one scrape left, for the summary line.
fn summary(t: &TargetState, color: bool) -> String {
    let s = lock(&t.status);
    let clock = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() % 86_400);
    let time = format!(
        "{:02}:{:02}:{:02}Z",
        clock / 3600,
        clock / 60 % 60,
        clock % 60
    );
    if !s.up {
        return format!(
            "{time}  down: {}",
            s.last_error.as_deref().unwrap_or("no answer yet")
        );
    }
    let Some(latest) = &s.latest else {
        return format!("{time}  no data yet");
    };
    let r = &latest.report;
    let mut blocked: Vec<(&str, u64)> = r
        .block_classes
        .iter()
        .filter(|(k, v)| **v > 0 && **k != "none")
        .map(|(k, v)| (*k, *v))
        .collect();
    blocked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let blocked: Vec<String> = blocked
        .iter()
        .take(5)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let suspects: Vec<String> = s
        .verdicts
        .iter()
        .filter(|v| v.suspect)
        .take(3)
        .map(|v| {
            let f = v.group.as_ref().map_or("?", |g| g.top_function.as_str());
            let per_min = v.slope_per_snapshot * 60.0 / t.config().interval.as_secs_f64();
            format!("{f} {per_min:+.0}/min")
        })
        .collect();
    let leak = if suspects.is_empty() {
        String::new()
    } else if color {
        format!("  \x1b[1;31mleak suspects: {}\x1b[0m", suspects.join(", "))
    } else {
        format!("  leak suspects: {}", suspects.join(", "))
    };
    format!(
        "{time}  {} goroutines ({}), {} groups; blocked: {}{leak}",
        r.total,
        latest.kind.as_str(),
        r.group_count,
        blocked.join(", ")
    )
}

/// Watches `target` until SIGINT/SIGTERM, then prints the leak report
/// (`json`: the same document as `/api/v1/targets/{name}/leaks`).
pub fn run(target: Target, json: bool) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .context("cannot install the signal handlers")?;
    }
    crate::serve::target::set_quiet(true);
    let interval = target.interval;
    let name = target.url.clone();
    let state = TargetState::new(target);
    let runner = state.clone();
    let thread = std::thread::Builder::new()
        .name("scrape".into())
        .spawn(move || runner.run())
        .context("cannot start the scrape thread")?;
    let tty = io::stdout().is_terminal();
    let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "goroscope watch {name}: every {}s; Ctrl-C for the leak report",
        interval.as_secs_f64()
    )?;
    let mut shown = (u64::MAX, u64::MAX);
    while !stop.load(Ordering::Relaxed) {
        let now = {
            let s = lock(&state.status);
            (s.leaks.snapshots(), s.errors.values().sum::<u64>())
        };
        if now != shown && lock(&state.status).first_done {
            shown = now;
            let line = summary(&state, color);
            if tty {
                // Redraw the line in place.
                write!(out, "\r\x1b[2K{line}")?;
            } else {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    state.stop();
    let _ = thread.join();
    if tty {
        writeln!(out)?;
    }
    let report = leaks::explain(&state);
    if json {
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(io::Error::from)
            .context("writing JSON")?;
        writeln!(out)?;
    } else {
        leaks::render(&mut out, &report)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
