//! One goroutine snapshot held in memory (a fetched answer, a read profile)
//! turned into a [`Report`]: format sniffed (gzip unwrapped first), parsed,
//! counted. `analyze` streams dumps from files instead; profiles and
//! everything the agent fetches come through here.

use goroscope_core::analyze::{is_trace_label, Census, CensusOptions, Report, Source};
use goroscope_core::model::{BlockClass, Goroutine, Tables};
use goroscope_core::parse::{legacy, pprof, sniff, ParallelDumpParser, ParallelOptions};

/// Upper bounds (seconds) of the wait-time buckets: a dump prints whole
/// minutes, from 1 up (Go omits the minutes below one), so the first bucket
/// holds the goroutines waiting under a minute.
pub const WAIT_BUCKETS: [f64; 8] = [60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0];

/// A blocked goroutine's wait, as a dump tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub class: BlockClass,
    /// Whole minutes times 60 (0 when the dump printed none: under a minute).
    pub seconds: f64,
    /// Its trace/span id labels, when it had any.
    pub trace: Vec<(String, String)>,
}

/// What one snapshot gave.
pub struct Analysis {
    pub report: Report,
    /// Goroutines counted.
    pub goroutines: u64,
    /// Every blocked goroutine's wait (dumps only: profiles have no times).
    pub waits: Vec<Wait>,
    /// Largest goroutine id (dumps only): a drop means the target restarted.
    pub max_id: Option<u64>,
}

/// The input's format after gunzip, and the bytes to parse.
fn unwrap(data: &[u8], limit: u64) -> Result<(sniff::Format, std::borrow::Cow<'_, [u8]>), String> {
    let data = pprof::gunzip(data, limit).map_err(|e| e.to_string())?;
    let format = sniff::sniff(&data[..data.len().min(sniff::SNIFF_LEN)]);
    Ok((format, data))
}

/// Counts a goroutine profile (protobuf or debug=1 text) into a report of
/// its `top` largest groups. The error is a sentence without the input's
/// name.
pub fn profile_report(
    data: &[u8],
    format: sniff::Format,
    census: &mut Census,
    limit: u64,
    top: Option<usize>,
) -> Result<Report, String> {
    // A protobuf profile's samples are counted as they are decoded; a
    // debug=1 profile's records after.
    let snap = match format {
        sniff::Format::Pprof => {
            pprof::parse_pprof(data, limit, census).map_err(|e| e.to_string())?
        }
        _ => legacy::parse_legacy(data),
    };
    let Some(kind) = snap.kind else {
        return Err("not a goroutine profile: no `goroutine profile: total N` line".into());
    };
    census.reserve(snap.records.len());
    for r in &snap.records {
        census.add_record(r, &snap.tables);
    }
    let mut report = census.report_top(&snap.tables, snap.diagnostics, top);
    report.diagnostics_total = report.diagnostics.len() as u64;
    report.source = Source::profile(format == sniff::Format::LegacyText, kind.as_str());
    Ok(report)
}

/// Analyses any supported snapshot held in memory.
pub fn analyze(
    data: &[u8],
    opts: CensusOptions,
    limit: u64,
    top: Option<usize>,
) -> Result<Analysis, String> {
    let (format, data) = unwrap(data, limit)?;
    let mut census = Census::new(opts);
    if format != sniff::Format::Dump {
        let report = profile_report(&data, format, &mut census, limit, top)?;
        return Ok(Analysis {
            goroutines: report.total,
            report,
            waits: Vec::new(),
            max_id: None,
        });
    }
    // One thread: an agent must not take the cores of the service it
    // watches.
    let mut parser = ParallelDumpParser::new(
        std::io::Cursor::new(&*data),
        ParallelOptions {
            threads: 1,
            ..ParallelOptions::default()
        },
    );
    let mut tables = Tables::default();
    let mut waits = Vec::new();
    let mut max_id = None;
    while let Some(g) = parser.next_goroutine(&mut tables) {
        census.add(&g, &tables);
        max_id = max_id.max(Some(g.id));
        if let Some(w) = wait_of(&g, &tables) {
            waits.push(w);
        }
    }
    if census.total() == 0 {
        return Err(
            "no goroutine header found: not a goroutine profile or dump (Go serves one at /debug/pprof/goroutine)"
                .into(),
        );
    }
    let total = parser.diagnostics_total();
    let mut report = census.report_top(&tables, parser.take_diagnostics(), top);
    report.diagnostics_total = total;
    Ok(Analysis {
        goroutines: report.total,
        report,
        waits,
        max_id,
    })
}

fn wait_of(g: &Goroutine, tables: &Tables) -> Option<Wait> {
    if matches!(g.block_class, BlockClass::None) {
        return None;
    }
    let trace = g
        .labels
        .map(|ls| {
            tables
                .labels(ls)
                .iter()
                .map(|&(k, v)| (tables.str(k), tables.str(v)))
                .filter(|(k, _)| is_trace_label(k))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    Some(Wait {
        class: g.block_class,
        seconds: f64::from(g.wait_minutes.unwrap_or(0)) * 60.0,
        trace,
    })
}
