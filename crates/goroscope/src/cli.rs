//! Command line definition (clap derive). `--help` output is part of the
//! interface: a test snapshots it.

use clap::{Parser, Subcommand, ValueEnum};

/// Goroutine observability for Go services, from outside the process.
#[derive(Debug, Parser)]
#[command(name = "goroscope", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a goroutine dump or profile and tell what the goroutines do,
    /// grouped by stack.
    ///
    /// Accepts runtime.Stack output, /debug/pprof/goroutine?debug=2 dumps,
    /// panics and fatal errors inside log text, GOTRACEBACK=system|crash
    /// dumps from Go 1.17 to 1.27, and goroutine profiles: protobuf
    /// (debug=0, gzipped or not) and text (debug=1), including Go 1.26's
    /// goroutineleak profile. The format is recognised from the first bytes.
    Analyze(AnalyzeArgs),

    /// Run the agent: Go services' goroutines as metrics, on a pause budget.
    ///
    /// Scrapes every target on its own schedule and serves what it finds as
    /// Prometheus/OpenMetrics metrics and JSON.
    ///
    /// `goroscope serve --target http://127.0.0.1:6060` needs no file;
    /// `--config goroscope.yaml` reads targets and settings from YAML
    /// (deploy/goroscope.example.yaml). Flags given here override the
    /// file's defaults. SIGHUP reloads the file; SIGTERM stops.
    Serve(ServeArgs),

    /// What grew between two snapshots, per stack signature.
    ///
    /// Reads two dumps or profiles (files, - or URLs, any form `analyze`
    /// reads; a dump and a profile of the same service line up) and lists
    /// every stack signature's count before and after, largest growth
    /// first: new and vanished signatures included.
    Diff(DiffArgs),

    /// Leak scoring for one service, in the terminal.
    ///
    /// Scrapes URL like the agent does (its collection policy and leak
    /// rule), prints a line per scrape, and on Ctrl-C the leak suspects
    /// explained: where they block, who creates them, how fast they grow.
    Watch(WatchArgs),

    /// See it work: a Go demo service and the agent watching it.
    ///
    /// Starts the Go demo service shipped with goroscope (built with your
    /// Go; without Go a recording of it is replayed) and the agent watching
    /// it, then prints where to look. Ctrl-C stops both.
    Demo(DemoArgs),

    /// Prometheus alerting and recording rules for the agent's metrics.
    ///
    /// Prints the rules of deploy/prometheus/ with every threshold a named
    /// setting: `goroscope rules alerts --set leak_for=30m > alerts.yaml`.
    /// `--list` names the settings and their defaults.
    Rules(RulesArgs),

    /// Read a Go execution trace: time in each goroutine state, blocking
    /// and scheduler latency, lifetimes, the stacks that block longest.
    ///
    /// Reads a trace file (runtime/trace, go test -trace, or saved from
    /// /debug/pprof/trace), - for standard input, or takes one from a live
    /// service: `goroscope trace http://host:6060 --seconds 5`. Go 1.22 to
    /// 1.26 traces.
    Trace(TraceArgs),
}

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// Trace file, - for standard input, or the base URL of a Go service
    /// serving net/http/pprof (or its full /debug/pprof/trace URL).
    #[arg(value_name = "FILE|URL")]
    pub input: std::path::PathBuf,

    /// For a URL: how long to trace the service, in seconds (1-600). The
    /// tracer costs a few percent of CPU while it runs.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub seconds: u32,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,

    /// With --format json: every goroutine's figures too.
    #[arg(long)]
    pub goroutines: bool,

    /// Stacks listed by blocked time.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// For a URL: the largest trace accepted, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    pub max_mib: u64,

    /// Threads that read the trace: 1 = one thread; 0 (when the machine
    /// has more than one core) or more = three stages on three threads:
    /// read, decode and merge; order; count (more do not help). The
    /// result is the same whatever the number.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Which rule file to print.
    #[arg(required_unless_present = "list")]
    pub which: Option<crate::rules::Which>,

    /// Override a threshold: NAME=VALUE (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,

    /// List the settings, their defaults and what they mean.
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address of the agent's /metrics and API [default: 127.0.0.1:9091].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Replay the shipped recording even when Go is installed.
    #[arg(long)]
    pub replay: bool,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Base URL of a Go service serving net/http/pprof (repeatable).
    #[arg(long = "target", value_name = "URL")]
    pub targets: Vec<String>,

    /// YAML configuration file (targets and settings).
    #[arg(long, value_name = "FILE", conflicts_with = "targets")]
    pub config: Option<std::path::PathBuf>,

    /// Address to serve /metrics and the API on [default: 127.0.0.1:9091].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Also push the metrics over OTLP/HTTP (protobuf) to this collector,
    /// e.g. http://127.0.0.1:4318 (README "OTLP export").
    #[arg(long, value_name = "URL", value_parser = crate::serve::config::flag::<crate::serve::config::Url>)]
    pub otlp_endpoint: Option<crate::serve::config::Url>,

    /// Time between two OTLP pushes [default: the shortest target interval].
    #[arg(long, value_name = "DURATION", value_parser = crate::serve::config::flag::<crate::serve::config::Dur>)]
    pub otlp_interval: Option<crate::serve::config::Dur>,

    /// Time between two scrapes of a target [default: 15s].
    #[arg(long, value_name = "DURATION", value_parser = crate::serve::config::flag::<crate::serve::config::Dur>)]
    pub interval: Option<crate::serve::config::Dur>,

    /// Give up on a fetch after this long [default: 10s, at most the interval].
    #[arg(long, value_name = "DURATION", value_parser = crate::serve::config::flag::<crate::serve::config::Dur>)]
    pub timeout: Option<crate::serve::config::Dur>,

    /// auto: profiles, plus full dumps within the pause budget; profile:
    /// profiles only; dump: a full dump every time [default: auto].
    #[arg(long, value_enum)]
    pub mode: Option<crate::serve::config::Mode>,

    /// Largest estimated stop-the-world a full dump may cost [default: 10ms].
    #[arg(long, value_name = "DURATION", value_parser = crate::serve::config::flag::<crate::serve::config::Dur>)]
    pub pause_budget: Option<crate::serve::config::Dur>,

    /// Least time between two full dumps of a target [default: 1m].
    #[arg(long, value_name = "DURATION", value_parser = crate::serve::config::flag::<crate::serve::config::Dur>)]
    pub dump_min_interval: Option<crate::serve::config::Dur>,

    /// Chance that an allowed dump is taken [default: 1].
    #[arg(long, value_name = "P", value_parser = crate::serve::config::flag::<crate::serve::config::Probability>)]
    pub dump_probability: Option<crate::serve::config::Probability>,

    /// Take a dump when the goroutine count grew by this factor since the
    /// last one (still within the budget) [default: 2].
    #[arg(long, value_name = "F", value_parser = crate::serve::config::flag::<crate::serve::config::Factor>)]
    pub jump_factor: Option<crate::serve::config::Factor>,

    /// Stack signatures exported per target, 1 to 50 [default: 20].
    #[arg(long, value_name = "K", value_parser = crate::serve::config::flag::<crate::serve::config::TopK>)]
    pub top_k: Option<crate::serve::config::TopK>,

    /// Send `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "TOKEN")]
    pub bearer_token: Option<String>,

    /// Read the bearer token from this file.
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<std::path::PathBuf>,

    /// Trust the certificates in this PEM file for https targets.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,

    /// Keep each target's leak history in this directory, so that a
    /// restarted agent resumes its baselines.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,

    /// Also take an execution trace this long from every target (e.g. 1s;
    /// off by default): exact time in state and scheduler latency.
    #[arg(long, value_name = "DURATION", value_parser = crate::serve::config::flag::<crate::serve::config::Dur>)]
    pub trace_window: Option<crate::serve::config::Dur>,

    /// Time between two trace windows of a target [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = crate::serve::config::flag::<crate::serve::config::Dur>)]
    pub trace_interval: Option<crate::serve::config::Dur>,

    /// Check the configuration (file and flags) and exit: 0 and a summary
    /// when it is valid, 2 and the error's file:line:column when not.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Dump or profile file, - for standard input, or the URL of a Go
    /// service serving net/http/pprof (http://host:port, or a full
    /// /debug/pprof/... URL).
    #[arg(value_name = "FILE|URL")]
    pub input: std::path::PathBuf,

    #[command(flatten)]
    pub fetch: FetchArgs,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Groups to show: human default 10, openmetrics default 20, json all.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

    /// Group by file:line too, not only by function names.
    #[arg(long)]
    pub by_location: bool,

    /// Split groups by the value of this pprof label (e.g. handler or
    /// tenant); goroutines without it stay together.
    #[arg(long, value_name = "KEY")]
    pub group_by_label: Option<String>,

    /// Sample goroutine ids (and trace ids) kept per group.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub samples: usize,

    /// Upper bounds of the stack depth buckets (the last bucket is open).
    #[arg(long, value_name = "LIST", default_value = "3,8,16")]
    pub depth_buckets: String,

    /// Threads that read a dump, or walk a protobuf profile's stacks: 0 =
    /// one per core, 1 = no extra threads. The result is the same whatever
    /// the number.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,

    /// Never draw the progress bar (it only appears on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

/// How inputs are read: a URL's endpoint and access, the size cap.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// For a URL: which endpoint to read (profile is the cheap one; dump
    /// stops the target for the whole dump).
    #[arg(long, value_enum, default_value_t = crate::fetch::Mode::Profile)]
    pub mode: crate::fetch::Mode,

    /// For a URL: give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub timeout: f64,

    #[command(flatten)]
    pub auth: AuthArgs,

    /// Largest goroutine profile accepted, in MiB after decompression (a
    /// guard against gzip bombs); also the largest answer taken from a URL.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub max_decompressed: u64,
}

/// How to reach a protected or private service (shared by every command
/// that takes a URL).
#[derive(Debug, clap::Args)]
pub struct AuthArgs {
    /// For a URL: send `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "TOKEN")]
    pub bearer_token: Option<String>,

    /// For a URL: send this header too (`Name: value`; repeatable).
    #[arg(long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// For an https URL: trust the certificates in this PEM file instead
    /// of the public roots.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The earlier snapshot: a dump or profile file, - for standard input,
    /// or a URL.
    #[arg(value_name = "BEFORE")]
    pub before: std::path::PathBuf,

    /// The later snapshot (file or URL; the same forms).
    #[arg(value_name = "AFTER")]
    pub after: std::path::PathBuf,

    #[command(flatten)]
    pub fetch: FetchArgs,

    /// Output format: human (the changed groups) or json (every group).
    #[arg(long, short = 'f', value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,

    /// Changed groups shown by the human format.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,

    /// Group by file:line too, not only by function names.
    #[arg(long)]
    pub by_location: bool,
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Base URL of a Go service serving net/http/pprof.
    #[arg(value_name = "URL")]
    pub url: String,

    /// Time between two scrapes.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::serve::config::flag::<crate::serve::config::Dur>)]
    pub interval: crate::serve::config::Dur,

    /// Give up on a fetch after this long [default: the interval, at most 10s].
    #[arg(long, value_name = "DURATION", value_parser = crate::serve::config::flag::<crate::serve::config::Dur>)]
    pub timeout: Option<crate::serve::config::Dur>,

    /// auto: profiles plus dumps within the pause budget; profile; dump.
    #[arg(long, value_enum, default_value_t = crate::serve::config::Mode::Auto)]
    pub mode: crate::serve::config::Mode,

    /// Send `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "TOKEN")]
    pub bearer_token: Option<String>,

    /// Trust the certificates in this PEM file for an https URL.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,

    /// The final report: human, or json (as /api/v1/targets/{name}/leaks).
    #[arg(long, short = 'f', value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// The changed groups, largest growth first.
    Human,
    /// Every group with its before, after and change; schema in README.md.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Summary for people (colour only on a terminal, never with NO_COLOR).
    Human,
    /// The full census; schema in README.md.
    Json,
    /// The census as OpenMetrics gauges.
    Openmetrics,
}
