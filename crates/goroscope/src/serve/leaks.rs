//! Leak suspects explained: from the metric to the code to the request.
//! What `/api/v1/targets/{name}/leaks` answers and `goroscope watch`
//! prints.

use std::io::Write;

use goroscope_core::analyze::{hidden_in_dumps, FrameOut, TraceId};
use serde::Serialize;

use super::target::{lock, TargetState};

/// One leak suspect explained: from the metric to the code to the request.
#[derive(Debug, Serialize)]
pub struct Suspect {
    pub signature: String,
    pub score: f64,
    /// Goroutines per minute (Theil-Sen slope of the counts).
    pub growth_per_minute: f64,
    /// Counts at the last scrapes, oldest first.
    pub counts: Vec<u64>,
    pub goroutines: u64,
    pub block_class: &'static str,
    pub top_function: String,
    /// The innermost frame of the program's code: where they block.
    pub blocked_in: Option<FrameOut>,
    /// The `go` statement that creates them (from dumps).
    pub created_by: Option<FrameOut>,
    /// Evidence of age: how long it has been tracked, and the longest wait
    /// a dump printed.
    pub tracked_seconds: f64,
    pub wait_minutes_max: Option<u32>,
    /// Why the rule flags it.
    pub trend_z: f64,
    pub min_rising: bool,
    pub wait_rising: bool,
    pub proven_leaked: u64,
    pub sample_ids: Vec<u64>,
    pub trace_ids: Vec<TraceId>,
    pub frames: Vec<FrameOut>,
}

#[derive(Debug, Serialize)]
pub struct Leaks {
    pub target: String,
    /// Scrapes scored since the agent started or the target restarted.
    pub scrapes: u64,
    pub interval_seconds: f64,
    pub suspects: Vec<Suspect>,
}

/// The suspects of a target, explained.
pub fn explain(t: &TargetState) -> Leaks {
    let c = t.config();
    let interval = c.interval.as_secs_f64();
    let (verdicts, scrapes) = {
        let s = lock(&t.status);
        (s.verdicts.clone(), s.leaks.snapshots())
    };
    let suspects = verdicts
        .iter()
        .filter(|v| v.suspect)
        .map(|v| {
            let g = v.group.as_ref();
            Suspect {
                signature: v.signature.clone(),
                score: v.score,
                growth_per_minute: v.slope_per_snapshot * 60.0 / interval,
                counts: v.counts.clone(),
                goroutines: v.counts.last().copied().unwrap_or(0),
                block_class: g.map_or("unknown", |g| g.block_class.as_str()),
                top_function: g.map_or(String::new(), |g| g.top_function.clone()),
                // The innermost frame of code a dump would show: where the
                // program blocks (not runtime.gopark).
                blocked_in: g.and_then(|g| {
                    g.frames
                        .iter()
                        .find(|f| !hidden_in_dumps(&f.function))
                        .or(g.frames.first())
                        .cloned()
                }),
                created_by: g.and_then(|g| g.created_by.clone()),
                tracked_seconds: v.age_snapshots as f64 * interval,
                wait_minutes_max: g.and_then(|g| g.wait_minutes_max),
                trend_z: v.trend_z,
                min_rising: v.min_rising,
                wait_rising: v.wait_rising,
                proven_leaked: v.proven_leaked,
                sample_ids: g.map_or(Vec::new(), |g| g.sample_ids.clone()),
                trace_ids: g.map_or(Vec::new(), |g| g.trace_ids.clone()),
                frames: g.map_or(Vec::new(), |g| g.frames.clone()),
            }
        })
        .collect();
    Leaks {
        target: c.name,
        scrapes,
        interval_seconds: interval,
        suspects,
    }
}

fn frame(f: &FrameOut) -> String {
    format!("{} at {}:{}", f.function, f.file, f.line)
}

/// The suspects for people.
pub fn render(out: &mut impl Write, l: &Leaks) -> std::io::Result<()> {
    if l.suspects.is_empty() {
        return writeln!(
            out,
            "no leak suspect after {} scrapes of {} (every {}s)",
            l.scrapes, l.target, l.interval_seconds
        );
    }
    writeln!(
        out,
        "{} leak suspect(s) after {} scrapes of {} (every {}s):",
        l.suspects.len(),
        l.scrapes,
        l.target,
        l.interval_seconds
    )?;
    for s in &l.suspects {
        writeln!(
            out,
            "  {}  {}  {} goroutines, {:+.1}/min, score {:.2}  [{}]",
            s.top_function, s.block_class, s.goroutines, s.growth_per_minute, s.score, s.signature
        )?;
        if let Some(f) = &s.blocked_in {
            writeln!(out, "    blocked in {}", frame(f))?;
        }
        match &s.created_by {
            Some(f) => writeln!(out, "    created by {}", frame(f))?,
            None => writeln!(
                out,
                "    created by: unknown (profiles do not say; a dump does)"
            )?,
        }
        let wait = s
            .wait_minutes_max
            .map_or(String::new(), |m| format!("; longest wait {m} minutes"));
        writeln!(
            out,
            "    tracked {:.0}s{wait}; counts {:?}",
            s.tracked_seconds, s.counts
        )?;
        if !s.sample_ids.is_empty() {
            writeln!(out, "    sample goroutines {:?}", s.sample_ids)?;
        }
        for t in &s.trace_ids {
            writeln!(out, "    {} {}", t.key, t.value)?;
        }
    }
    Ok(())
}
