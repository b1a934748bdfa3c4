//! `goroscope trace`: an execution trace read with goroscope's own reader
//! (`goroscope_core::trace`) and summarised: time in each state per block
//! class, blocking and scheduler latency, lifetimes, the stacks that block
//! longest, stop-the-world pauses.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use goroscope_core::trace::summary::{Stats, Summary};
use goroscope_core::trace::{GoState, Reader, TraceError};
use serde::Serialize;

use crate::cli::{DiffFormat, TraceArgs};
use crate::fetch;

/// How the command failed: bad input (exit 2) or anything else.
pub enum Failure {
    Usage(String),
    Other(anyhow::Error),
}

/// The JSON form (`schema`: goroscope-trace/1).
#[derive(Serialize)]
struct Output {
    schema: &'static str,
    source: String,
    version: String,
    /// Set when the trace could not be read to its end: what was read is
    /// summarised, and this says why it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    first_event_ns: i64,
    last_event_ns: i64,
    duration_ns: i64,
    total_events: u64,
    generations: u64,
    /// Bytes of the largest generation's event data: what the reader held.
    max_generation_bytes: usize,
    event_kinds: std::collections::BTreeMap<&'static str, u64>,
    go_transition_pairs: std::collections::BTreeMap<String, u64>,
    waiting_reasons: std::collections::BTreeMap<String, u64>,
    num_goroutines: u64,
    goroutines_created: u64,
    goroutines_ended: u64,
    created_per_second: f64,
    ended_per_second: f64,
    /// Whole intervals per state and block class.
    states: Vec<StateRow>,
    /// Waiting intervals per block class: the blocking latency.
    blocking: Vec<StateRow>,
    /// Runnable to running.
    scheduler_latency: Stats,
    /// Goroutines created and ended in the trace.
    lifetimes: Stats,
    top_blocked_stacks: Vec<StackRow>,
    stop_the_world: Vec<StwRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    goroutines: Option<Vec<goroscope_core::trace::summary::GoStats>>,
}

#[derive(Serialize)]
struct StateRow {
    state: &'static str,
    block_class: &'static str,
    #[serde(flatten)]
    stats: Stats,
}

#[derive(Serialize)]
struct StackRow {
    stack: String,
    block_class: &'static str,
    blocked_ns: i64,
    waits: u64,
}

#[derive(Serialize)]
struct StwRow {
    kind: String,
    #[serde(flatten)]
    stats: Stats,
}

fn state_name(s: GoState) -> &'static str {
    match s {
        GoState::Running => "running",
        GoState::Runnable => "runnable",
        GoState::Waiting => "waiting",
        GoState::Syscall => "syscall",
        GoState::NotExist => "not_exist",
        GoState::Undetermined => "undetermined",
    }
}

/// Runs the command.
pub fn run(args: &TraceArgs) -> Result<ExitCode, Failure> {
    let input = args.input.to_string_lossy().to_string();
    let (source, stream): (String, Box<dyn Read + Send>) = if fetch::is_url(&input) {
        let url = fetch::trace_url(&input, f64::from(args.seconds));
        let opts = fetch::Options {
            mode: fetch::Mode::Profile,
            // The service answers after tracing for `seconds`.
            timeout: Duration::from_secs(u64::from(args.seconds) + 30),
            max_body: args.max_mib.saturating_mul(1 << 20),
            bearer_token: args.auth.bearer_token.clone(),
            headers: args.auth.headers.clone(),
            ca_cert: args.auth.ca_cert.clone(),
        };
        let s = fetch::open(&url, &opts).map_err(|e| Failure::Usage(e.to_string()))?;
        (url, s)
    } else if input == "-" {
        ("-".into(), Box::new(io::stdin()))
    } else {
        let f = std::fs::File::open(&args.input).map_err(|e| {
            Failure::Usage(format!(
                "{input}: {e}: give a trace file, - for standard input, or a service URL"
            ))
        })?;
        (input.clone(), Box::new(f))
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let helper = match args.threads {
        0 => cores > 1,
        n => n > 1,
    };
    let reader = if helper {
        Reader::with_helper(stream)
    } else {
        Reader::new(stream)
    };
    let mut reader = reader.map_err(|e| match e {
        TraceError::Io(e) => Failure::Usage(format!("{source}: {e}")),
        e => Failure::Usage(format!("{source}: {e}")),
    })?;
    let mut summary = Summary::new(args.goroutines);
    let version = reader.version();
    let read = if helper {
        // Decoding, ordering and counting, each on a thread.
        summary.read_piped(reader)
    } else {
        summary.read(&mut reader)
    };
    let error = read.err().map(|e| e.to_string());
    let out = output(&summary, &source, version, error.clone(), args);
    let stdout = io::stdout();
    let mut w = io::BufWriter::new(stdout.lock());
    let written = match args.format {
        DiffFormat::Json => serde_json::to_writer_pretty(&mut w, &out)
            .map_err(io::Error::other)
            .and_then(|_| writeln!(w)),
        DiffFormat::Human => human(&mut w, &out),
    };
    match written.and_then(|_| w.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(Failure::Other(e.into())),
    }
    if let Some(e) = error {
        eprintln!(
            "goroscope: {source}: read {} events, then: {e}",
            summary.total_events
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn output(
    s: &Summary,
    source: &str,
    version: u32,
    error: Option<String>,
    args: &TraceArgs,
) -> Output {
    let duration = s.last_ns - s.first_ns;
    let per_second = |n: u64| {
        if duration > 0 {
            n as f64 / (duration as f64 / 1e9)
        } else {
            0.0
        }
    };
    let mut states: Vec<StateRow> = s
        .state_durations()
        .into_iter()
        .map(|((state, class), d)| StateRow {
            state: state_name(state),
            block_class: class.as_str(),
            stats: d.stats(),
        })
        .collect();
    states.sort_by_key(|r| std::cmp::Reverse(r.stats.total_ns));
    let blocking = states
        .iter()
        .filter(|r| r.state == "waiting")
        .map(|r| StateRow {
            state: r.state,
            block_class: r.block_class,
            stats: r.stats,
        })
        .collect();
    let mut stacks: Vec<StackRow> = s
        .blocked_stacks
        .iter()
        .map(|(&(sig, class), &(ns, n))| StackRow {
            stack: s.signatures.get(sig as usize).cloned().unwrap_or_default(),
            block_class: class.as_str(),
            blocked_ns: ns,
            waits: n,
        })
        .collect();
    stacks.sort_by(|a, b| {
        b.blocked_ns
            .cmp(&a.blocked_ns)
            .then_with(|| a.stack.cmp(&b.stack))
    });
    stacks.truncate(args.top);
    let mut stw: Vec<StwRow> = s
        .stw
        .iter()
        .map(|(k, d)| StwRow {
            kind: k.clone(),
            stats: d.stats(),
        })
        .collect();
    stw.sort_by_key(|r| std::cmp::Reverse(r.stats.total_ns));
    Output {
        schema: "goroscope-trace/1",
        source: source.to_string(),
        version: format!("go 1.{version}"),
        error,
        first_event_ns: s.first_ns,
        last_event_ns: s.last_ns,
        duration_ns: duration,
        total_events: s.total_events,
        generations: s.generations,
        max_generation_bytes: s.max_generation_bytes,
        event_kinds: s.event_kinds(),
        go_transition_pairs: s.transition_pairs(),
        waiting_reasons: s.waiting_reasons(),
        num_goroutines: s.goroutine_count(),
        goroutines_created: s.created,
        goroutines_ended: s.ended,
        created_per_second: per_second(s.created),
        ended_per_second: per_second(s.ended),
        states,
        blocking,
        scheduler_latency: s.sched_latency.stats(),
        lifetimes: s.lifetimes.stats(),
        top_blocked_stacks: stacks,
        stop_the_world: stw,
        goroutines: args.goroutines.then(|| s.goroutines()),
    }
}

/// Nanoseconds for people.
fn dur(ns: i64) -> String {
    let ns = ns as f64;
    if ns >= 1e9 {
        format!("{:.2}s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2}ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1}µs", ns / 1e3)
    } else {
        format!("{ns:.0}ns")
    }
}

fn human(w: &mut impl Write, o: &Output) -> io::Result<()> {
    writeln!(
        w,
        "{}: {} trace, {} over {} generations, {} events, {} goroutines ({} created, {} ended)",
        o.source,
        o.version,
        dur(o.duration_ns),
        o.generations,
        o.total_events,
        o.num_goroutines,
        o.goroutines_created,
        o.goroutines_ended
    )?;
    if let Some(e) = &o.error {
        writeln!(w, "stopped early: {e}")?;
    }
    writeln!(w)?;
    writeln!(w, "time in each state (whole intervals seen in the trace)")?;
    writeln!(
        w,
        "  {:<10} {:<15} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "state", "block class", "count", "total", "p50", "p90", "p99", "max"
    )?;
    for r in &o.states {
        writeln!(
            w,
            "  {:<10} {:<15} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
            r.state,
            if r.block_class == "none" {
                ""
            } else {
                r.block_class
            },
            r.stats.count,
            dur(r.stats.total_ns),
            dur(r.stats.p50_ns),
            dur(r.stats.p90_ns),
            dur(r.stats.p99_ns),
            dur(r.stats.max_ns)
        )?;
    }
    let l = &o.scheduler_latency;
    writeln!(
        w,
        "\nscheduler latency (runnable -> running): {} waits, p50 {}, p90 {}, p99 {}, max {}",
        l.count,
        dur(l.p50_ns),
        dur(l.p90_ns),
        dur(l.p99_ns),
        dur(l.max_ns)
    )?;
    let l = &o.lifetimes;
    writeln!(
        w,
        "goroutine lifetimes (created and ended in the trace): {}, p50 {}, p99 {}, max {}; {:.1} created/s, {:.1} ended/s",
        l.count,
        dur(l.p50_ns),
        dur(l.p99_ns),
        dur(l.max_ns),
        o.created_per_second,
        o.ended_per_second
    )?;
    if !o.top_blocked_stacks.is_empty() {
        writeln!(w, "\nstacks by blocked time")?;
        for s in &o.top_blocked_stacks {
            writeln!(
                w,
                "  {:>10} {:>7} waits  {:<13} {}",
                dur(s.blocked_ns),
                s.waits,
                s.block_class,
                if s.stack.is_empty() {
                    "(no stack)"
                } else {
                    &s.stack
                }
            )?;
        }
    }
    if !o.stop_the_world.is_empty() {
        writeln!(w, "\nstop-the-world pauses")?;
        for s in &o.stop_the_world {
            writeln!(
                w,
                "  {:>5} x {:<28} total {}, p99 {}, max {}",
                s.stats.count,
                s.kind,
                dur(s.stats.total_ns),
                dur(s.stats.p99_ns),
                dur(s.stats.max_ns)
            )?;
        }
    }
    Ok(())
}
