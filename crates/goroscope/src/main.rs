//! goroscope: goroutine observability for Go services, from outside the Go
//! process. This binary is the thin shell around `goroscope-core`: command
//! line, input sources, terminal rendering and exit codes.

#![forbid(unsafe_code)]

mod analysis;
mod cli;
mod demo;
mod diff;
mod fetch;
mod human;
mod rules;
mod serve;
mod source;
mod tracecmd;
mod watch;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser as _;
use goroscope_core::analyze::{Census, CensusOptions, Report};
use goroscope_core::export::openmetrics;
use goroscope_core::model::Tables;
use goroscope_core::parse::{pprof, sniff, ParallelDumpParser, ParallelOptions};
use goroscope_core::vocab::DepthBuckets;

use cli::{AnalyzeArgs, Cli, Command, Format};

/// A failure that maps to exit code 2 (bad usage or unusable input).
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `goroscope rules`.
fn rules_command(args: &cli::RulesArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        print!("{}", rules::list());
        return Ok(ExitCode::SUCCESS);
    }
    let mut values = rules::Values::default();
    for s in &args.set {
        values.set(s).map_err(UsageError)?;
    }
    let which = args.which.unwrap_or(rules::Which::Alerts);
    print!("{}", rules::render(which, &values));
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze(&args),
        Command::Serve(args) => serve_command(&args),
        Command::Demo(args) => demo::run(args.listen, args.replay),
        Command::Diff(args) => diff_command(&args),
        Command::Watch(args) => watch_command(&args),
        Command::Rules(args) => rules_command(&args),
        Command::Trace(args) => tracecmd::run(&args).map_err(|e| match e {
            tracecmd::Failure::Usage(m) => anyhow::Error::new(UsageError(m)),
            tracecmd::Failure::Other(e) => e,
        }),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`goroscope analyze x | head`) is not a failure.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<io::Error>())
                .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("goroscope: {err:#}");
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn serve_command(args: &cli::ServeArgs) -> anyhow::Result<ExitCode> {
    use serve::config;
    let flags = config::Settings {
        interval: args.interval,
        timeout: args.timeout,
        mode: args.mode,
        pause_budget: args.pause_budget,
        dump_min_interval: args.dump_min_interval,
        dump_probability: args.dump_probability,
        jump_factor: args.jump_factor,
        top_k: args.top_k,
        bearer_token: args.bearer_token.clone(),
        bearer_token_file: args.bearer_token_file.clone(),
        ca_cert: args.ca_cert.clone(),
        state_dir: args.state_dir.clone(),
        trace_window: args.trace_window,
        trace_interval: args.trace_interval,
        ..config::Settings::default()
    };
    let otlp = config::OtlpSettings {
        endpoint: args.otlp_endpoint.clone(),
        interval: args.otlp_interval,
        ..config::OtlpSettings::default()
    };
    let source = match &args.config {
        Some(path) => serve::Source::File {
            path: path.clone(),
            listen: args.listen.clone(),
            flags: Box::new(flags),
            otlp: Box::new(otlp),
        },
        None => serve::Source::Flags(Box::new(
            config::from_flags(&args.targets, args.listen.as_deref(), &flags, &otlp)
                .map_err(|e| UsageError(e.to_string()))?,
        )),
    };
    // A bad file at start is a usage error too (exit 2).
    if let serve::Source::File {
        path,
        listen,
        flags,
        otlp,
    } = &source
    {
        config::load(path, listen.as_deref(), flags, otlp)
            .map_err(|e| UsageError(e.to_string()))?;
    }
    if args.check {
        let c = source.load().map_err(|e| UsageError(e.to_string()))?;
        println!(
            "configuration OK: listen {}, {} target(s): {}; OTLP {}",
            c.listen,
            c.targets.len(),
            c.targets
                .iter()
                .map(|t| format!(
                    "{} ({}, {}, every {})",
                    t.name,
                    t.url,
                    t.mode.as_str(),
                    config::Dur(t.interval)
                ))
                .collect::<Vec<_>>()
                .join(", "),
            c.otlp.as_ref().map_or("off".to_string(), |o| format!(
                "to {} every {}",
                o.endpoint,
                config::Dur(o.interval)
            ))
        );
        return Ok(ExitCode::SUCCESS);
    }
    serve::run(source, |_| {})
}

/// The fetch options and the size cap (bytes) the flags ask for.
fn fetch_options(args: &cli::FetchArgs) -> anyhow::Result<(fetch::Options, u64)> {
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            UsageError(format!(
                "--timeout {}: give a positive number of seconds",
                args.timeout
            ))
        })?;
    // One cap for a profile after gunzip and for a body fetched from a URL.
    let limit = args.max_decompressed.saturating_mul(1 << 20);
    let opts = fetch::Options {
        mode: args.mode,
        timeout,
        max_body: limit,
        bearer_token: args.auth.bearer_token.clone(),
        headers: args.auth.headers.clone(),
        ca_cert: args.auth.ca_cert.clone(),
    };
    Ok((opts, limit))
}

/// One side of a diff: every group of a snapshot, read whole.
fn diff_side(
    spec: &std::path::Path,
    opts: &fetch::Options,
    limit: u64,
    by_location: bool,
) -> anyhow::Result<(String, Report)> {
    let input = source::open(spec, opts).map_err(|e| UsageError(format!("{e:#}")))?;
    let name = input.name.clone();
    let data = read_bounded(input, limit, &name)?;
    let census = CensusOptions {
        by_location,
        ..CensusOptions::portable()
    };
    let analysis = analysis::analyze(&data, census, limit, None)
        .map_err(|e| UsageError(format!("{name}: {e}")))?;
    if !analysis.report.diagnostics.is_empty() {
        human::diagnostics(&mut io::stderr(), &analysis.report.diagnostics, &name)?;
    }
    Ok((name, analysis.report))
}

fn watch_command(args: &cli::WatchArgs) -> anyhow::Result<ExitCode> {
    use serve::config;
    let flags = config::Settings {
        interval: Some(args.interval),
        timeout: Some(
            args.timeout
                .unwrap_or(config::Dur(args.interval.0.min(Duration::from_secs(10)))),
        ),
        mode: Some(args.mode),
        bearer_token: args.bearer_token.clone(),
        ca_cert: args.ca_cert.clone(),
        ..config::Settings::default()
    };
    let mut c = config::from_flags(
        std::slice::from_ref(&args.url),
        None,
        &flags,
        &config::OtlpSettings::default(),
    )
    .map_err(|e| UsageError(e.to_string()))?;
    watch::run(c.targets.remove(0), args.format == cli::DiffFormat::Json)
}

fn diff_command(args: &cli::DiffArgs) -> anyhow::Result<ExitCode> {
    if args.before.as_os_str() == "-" && args.after.as_os_str() == "-" {
        return Err(UsageError("only one side can be standard input (-)".into()).into());
    }
    let (opts, limit) = fetch_options(&args.fetch)?;
    let (before_name, before) = diff_side(&args.before, &opts, limit, args.by_location)?;
    let (after_name, after) = diff_side(&args.after, &opts, limit, args.by_location)?;
    let d = diff::diff(&before_name, before, &after_name, after);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.format {
        cli::DiffFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &d)
                .map_err(io::Error::from)
                .context("writing JSON")?;
            out.write_all(b"\n")?;
        }
        cli::DiffFormat::Human => diff::render(&mut out, &d, args.top)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn analyze(args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let depth_buckets = DepthBuckets::parse(&args.depth_buckets)
        .map_err(|e| UsageError(format!("--depth-buckets {:?}: {e}", args.depth_buckets)))?;
    let (fetch_opts, limit) = fetch_options(&args.fetch)?;
    let mut input =
        source::open(&args.input, &fetch_opts).map_err(|e| UsageError(format!("{e:#}")))?;
    let name = input.name.clone();
    let size = input.size;

    let mut tables = Tables::default();
    let mut census = Census::new(CensusOptions {
        by_location: args.by_location,
        samples: args.samples,
        depth_buckets,
        group_by_label: args.group_by_label.clone(),
        threads: args.threads,
        ..CensusOptions::default()
    });
    let mut prefix = input
        .peek(sniff::SNIFF_LEN)
        .with_context(|| format!("reading {name}"))?;
    if pprof::is_gzip(&prefix) {
        // Any form may come gzipped (a saved dump, a debug=1 file): look
        // at what is inside. Bounded by --max-decompressed like profiles.
        let data = read_bounded(input, limit, &name)?;
        let inner = pprof::gunzip(&data, limit)
            .map_err(|e| UsageError(format!("{name}: {e}")))?
            .into_owned();
        prefix = inner[..inner.len().min(sniff::SNIFF_LEN)].to_vec();
        input = source::Input {
            name: name.clone(),
            size: Some(inner.len() as u64),
            bytes: source::Bytes::Memory(inner),
        };
    }
    let format = sniff::sniff(&prefix);
    if format != sniff::Format::Dump {
        let data = read_bounded(input, limit, &name)?;
        let top = group_limit(args);
        let report = analysis::profile_report(&data, format, &mut census, limit, top)
            .map_err(|e| UsageError(format!("{name}: {e}")))?;
        let code = write_report(args, &report, top, &name, None);
        // The process ends right after: freeing every group one by one
        // would cost more than the rest of the exit.
        std::mem::forget(census);
        return code;
    }
    let opts = ParallelOptions {
        threads: args.threads,
        ..ParallelOptions::default()
    };
    let mut progress = Progress::new(size, args.no_progress);
    let parsed = match input.bytes {
        source::Bytes::File(file) => {
            let parser = ParallelDumpParser::from_file(file, opts)
                .with_context(|| format!("cannot stat {name}"))?;
            count(parser, &mut tables, &mut census, &mut progress)
        }
        other => count(
            ParallelDumpParser::new(
                source::Input {
                    name: name.clone(),
                    size,
                    bytes: other,
                }
                .into_reader(),
                opts,
            ),
            &mut tables,
            &mut census,
            &mut progress,
        ),
    };
    progress.finish();
    let io_error = parsed.io_error;
    let mut diagnostics = parsed.diagnostics;
    if let Some(e) = &io_error {
        diagnostics.push(goroscope_core::model::Diagnostic {
            line: 0,
            message: format!(
                "reading {name} failed after {} bytes: {e}; the goroutines before that point are shown, retry to get the rest",
                parsed.consumed
            ),
        });
    }

    if census.total() == 0 {
        if let Some(e) = io_error {
            return Err(e).with_context(|| format!("reading {name}"));
        }
        return Err(UsageError(format!(
            "no goroutine header found in {name}: is this a goroutine dump? \
             (Go writes one at /debug/pprof/goroutine?debug=2)"
        ))
        .into());
    }

    let top = group_limit(args);
    let mut report = census.report_top(&tables, diagnostics, top);
    report.diagnostics_total = parsed.diagnostics_total + u64::from(io_error.is_some());
    let code = write_report(args, &report, top, &name, io_error);
    // As above: the OS reclaims it all at exit faster than drop would.
    std::mem::forget((census, tables));
    code
}

/// The whole input, if it is at most `limit` bytes.
fn read_bounded(input: source::Input, limit: u64, name: &str) -> anyhow::Result<Vec<u8>> {
    Ok(input
        .read_all(limit)
        .with_context(|| format!("reading {name}"))?
        .ok_or_else(|| {
            UsageError(format!(
                "{name} is larger than --max-decompressed ({} MiB): too big for a goroutine profile",
                limit >> 20
            ))
        })?)
}

/// How many groups the chosen output shows (`None`: all, for JSON
/// without `--top`); only those are built.
fn group_limit(args: &AnalyzeArgs) -> Option<usize> {
    match args.format {
        Format::Json => args.top,
        Format::Openmetrics => Some(args.top.unwrap_or(20)),
        Format::Human => Some(args.top.unwrap_or(10)),
    }
}

/// Prints the report in the chosen format, diagnostics to stderr; exit 1
/// when the input could not be read to its end. The report holds only the
/// `top` groups already ([`group_limit`]).
fn write_report(
    args: &AnalyzeArgs,
    report: &Report,
    top: Option<usize>,
    name: &str,
    io_error: Option<io::Error>,
) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Json => {
            // io::Error::from keeps the original io::Error (a broken pipe
            // stays recognisable); serde_json's own error hides it.
            serde_json::to_writer_pretty(&mut out, report)
                .map_err(io::Error::from)
                .context("writing JSON")?;
            out.write_all(b"\n")?;
        }
        Format::Openmetrics => {
            let shown = top.unwrap_or(report.groups.len());
            out.write_all(openmetrics::render(report, shown).as_bytes())?;
        }
        Format::Human => {
            // no-color.org: only a non-empty NO_COLOR disables colour.
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let color = io::stdout().is_terminal() && !no_color;
            human::render(&mut out, report, top.unwrap_or(report.groups.len()), color)?;
        }
    }
    out.flush()?;
    // Diagnostics go to stderr in every format, so a machine format
    // redirected to a file still tells the person something was off.
    if !report.diagnostics.is_empty() {
        human::diagnostics(&mut io::stderr(), &report.diagnostics, name)?;
    }
    // What could be read was written, but the input was not read to its
    // end: that is a failure (exit 1), not a clean result.
    if io_error.is_some() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// What the parse left besides the counted goroutines.
struct Parsed {
    io_error: Option<io::Error>,
    diagnostics: Vec<goroscope_core::model::Diagnostic>,
    diagnostics_total: u64,
    consumed: u64,
}

/// Feeds every goroutine the parser reads into the census.
fn count<R: io::Read>(
    mut parser: ParallelDumpParser<R>,
    tables: &mut Tables,
    census: &mut Census,
    progress: &mut Progress,
) -> Parsed {
    while let Some(g) = parser.next_goroutine(tables) {
        census.add(&g, tables);
        if census.total().is_multiple_of(4096) {
            progress.update(parser.bytes_consumed());
        }
    }
    Parsed {
        io_error: parser.take_io_error(),
        diagnostics: parser.take_diagnostics(),
        diagnostics_total: parser.diagnostics_total(),
        consumed: parser.bytes_consumed(),
    }
}

/// A one-line progress indicator on stderr, only when stderr is a terminal
/// and the input is large enough to take a noticeable time.
struct Progress {
    total: Option<u64>,
    enabled: bool,
    last: Instant,
    shown: bool,
}

impl Progress {
    fn new(total: Option<u64>, disabled: bool) -> Self {
        let big = total.is_none_or(|t| t > 64 << 20);
        Self {
            total,
            enabled: !disabled && big && io::stderr().is_terminal(),
            last: Instant::now(),
            shown: false,
        }
    }

    fn update(&mut self, done: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let mib = done as f64 / (1 << 20) as f64;
        let line = match self.total {
            Some(t) if t > 0 => {
                let frac = (done as f64 / t as f64).min(1.0);
                let width = 30;
                let filled = (frac * width as f64) as usize;
                format!(
                    "\r[{}{}] {:5.1}% {mib:.0} MiB",
                    "#".repeat(filled),
                    " ".repeat(width - filled),
                    frac * 100.0
                )
            }
            _ => format!("\rread {mib:.0} MiB"),
        };
        let _ = io::stderr().write_all(line.as_bytes());
    }

    fn finish(&mut self) {
        if self.shown {
            let _ = io::stderr().write_all(b"\r\x1b[2K");
        }
    }
}
