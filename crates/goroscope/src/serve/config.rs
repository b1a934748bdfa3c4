//! The agent's configuration: `goroscope serve` flags, or a YAML file
//! (`--config`, the Prometheus ecosystem's convention) for more targets and
//! settings. The commented example is `deploy/goroscope.example.yaml`; a
//! test loads it.
//!
//! Every value is checked while it is read, so an unknown key or a bad
//! value is reported with the file, line and column it came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// Largest top-K: with it every target stays under 500 series (README
/// "Cardinality").
pub const MAX_TOP_K: usize = 50;
/// Largest number of extra labels per target.
pub const MAX_EXTRA_LABELS: usize = 10;
/// Longest label value accepted from the configuration.
pub const MAX_LABEL_VALUE: usize = 128;
/// Labels the agent sets itself: a target may not use them.
pub const RESERVED_LABELS: &[&str] = &[
    "target",
    "state",
    "block_class",
    "origin",
    "depth",
    "signature",
    "top_function",
    "created_by",
    "mode",
    "reason",
    "kind",
    "le",
    "quantile",
    "version",
];

/// How a target is collected (README "Collection policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Profiles every interval, full dumps while they fit the pause
    /// budget and the rate limit.
    Auto,
    /// Profiles (debug=0) only: a short fixed pause, states inferred.
    Profile,
    /// A full dump (debug=2) every interval: exact, but the target stops
    /// for the whole dump.
    Dump,
}

impl Mode {
    /// The name used in configuration and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Profile => "profile",
            Mode::Dump => "dump",
        }
    }
}

/// One target, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Unique name: the `target` label of its series and its API path.
    pub name: String,
    /// Base URL of the service's net/http/pprof (`http://host:port`).
    pub url: String,
    /// Extra labels on all of its series (job, service, namespace, pod ...).
    pub labels: BTreeMap<String, String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub mode: Mode,
    /// Largest estimated stop-the-world a dump may cost (auto).
    pub pause_budget: Duration,
    /// Least time between two dumps (auto).
    pub dump_min_interval: Duration,
    /// Chance that an allowed dump is taken (auto); 1 = always.
    pub dump_probability: f64,
    /// A dump is due when the goroutine count grew by this factor since the
    /// last dump (auto; still within the pause budget).
    pub jump_factor: f64,
    /// Stack signatures exported per target.
    pub top_k: usize,
    pub bearer_token: Option<String>,
    /// `Name: value` headers sent with every request.
    pub headers: Vec<String>,
    pub ca_cert: Option<PathBuf>,
    /// Largest answer accepted, bytes.
    pub max_body: u64,
    /// Where the leak history is kept across agent restarts (none: not
    /// kept).
    pub state_dir: Option<PathBuf>,
    /// Read the goroutineleak profile (Go 1.26 with the experiment) as
    /// leak evidence.
    pub leak_profile: bool,
    /// Least time between two goroutineleak profiles (each costs a GC).
    pub leak_profile_interval: Duration,
    /// Execution trace windows: how long each (off when `None`)...
    pub trace_window: Option<Duration>,
    /// ...and how often (README "Execution trace windows").
    pub trace_interval: Duration,
    /// The leak rule's thresholds.
    pub leak_rule: goroscope_core::leak::Rule,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the agent serves /metrics and its API.
    pub listen: String,
    pub targets: Vec<Target>,
    /// OTLP export, when an endpoint is given.
    pub otlp: Option<Otlp>,
}

/// OTLP export, every default filled in (README "OTLP export").
#[derive(Debug, Clone, PartialEq)]
pub struct Otlp {
    /// The URL requests go to (`.../v1/metrics`).
    pub endpoint: String,
    /// Between two pushes.
    pub interval: Duration,
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    /// Resource attributes of every target (beside the environment's).
    pub resource_attributes: Vec<(String, String)>,
}

/// What the file (under `otlp:`) or the flags say of OTLP export.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSettings {
    pub endpoint: Option<Url>,
    pub interval: Option<Dur>,
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub headers: BTreeMap<HeaderName, String>,
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
}

impl OtlpSettings {
    /// `self` where set, else `base`.
    fn or(&self, base: &OtlpSettings) -> OtlpSettings {
        let mut headers = base.headers.clone();
        headers.extend(self.headers.clone());
        let mut resource_attributes = base.resource_attributes.clone();
        resource_attributes.extend(self.resource_attributes.clone());
        OtlpSettings {
            endpoint: self.endpoint.clone().or(base.endpoint.clone()),
            interval: self.interval.or(base.interval),
            timeout: self.timeout.or(base.timeout),
            headers,
            resource_attributes,
        }
    }
}

/// The OTLP export these settings ask for; pushes every `interval`, by
/// default the shortest target interval (each push then carries a fresh
/// collection of the busiest target).
fn otlp(s: &OtlpSettings, targets: &[Target]) -> Result<Option<Otlp>, String> {
    let Some(endpoint) = &s.endpoint else {
        if s.interval.is_some() || s.timeout.is_some() || !s.headers.is_empty() {
            return Err("otlp: give its `endpoint` (e.g. http://127.0.0.1:4318)".into());
        }
        return Ok(None);
    };
    // OTLP/HTTP: a base URL gets the signal's path; a URL that already
    // names it is used as it is.
    let endpoint = if endpoint.0.trim_end_matches('/').ends_with("/v1/metrics") {
        endpoint.0.clone()
    } else {
        format!("{}/v1/metrics", endpoint.0.trim_end_matches('/'))
    };
    let interval = s.interval.map_or_else(
        || {
            targets
                .iter()
                .map(|t| t.interval)
                .min()
                .unwrap_or(Duration::from_secs(15))
        },
        |d| d.0,
    );
    let timeout = s
        .timeout
        .map_or(Duration::from_secs(10).min(interval), |d| d.0);
    for k in s.resource_attributes.keys() {
        if k.is_empty() || k.len() > 255 {
            return Err(format!(
                "otlp: resource attribute name {k:?}: give 1 to 255 characters"
            ));
        }
    }
    Ok(Some(Otlp {
        endpoint,
        interval,
        timeout,
        headers: s
            .headers
            .iter()
            .map(|(k, v)| (k.0.clone(), v.clone()))
            .collect(),
        resource_attributes: s
            .resource_attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }))
}

/// Default listen address: loopback only; other addresses are explicit.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9091";

/// What the file says of a target (under `targets:`) or of all of them
/// (under `defaults:`, without url, name and labels); what flags set.
/// One struct for both, without serde's `flatten`, which would lose the
/// location of a bad value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub url: Option<Url>,
    pub name: Option<TargetName>,
    pub labels: Option<Labels>,
    pub interval: Option<Dur>,
    pub timeout: Option<Dur>,
    pub mode: Option<Mode>,
    pub pause_budget: Option<Dur>,
    pub dump_min_interval: Option<Dur>,
    pub dump_probability: Option<Probability>,
    pub jump_factor: Option<Factor>,
    pub top_k: Option<TopK>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<PathBuf>,
    #[serde(default)]
    pub headers: BTreeMap<HeaderName, String>,
    pub ca_cert: Option<PathBuf>,
    pub max_body_mib: Option<Mib>,
    pub state_dir: Option<PathBuf>,
    pub leak_profile: Option<bool>,
    pub leak_profile_interval: Option<Dur>,
    pub trace_window: Option<Dur>,
    pub trace_interval: Option<Dur>,
    pub leak_min_scrapes: Option<MinScrapes>,
    pub leak_min_growth: Option<Growth>,
}

impl Settings {
    /// `self` where set, else `base`.
    fn or(&self, base: &Settings) -> Settings {
        let mut headers = base.headers.clone();
        headers.extend(self.headers.clone());
        Settings {
            url: self.url.clone(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            interval: self.interval.or(base.interval),
            timeout: self.timeout.or(base.timeout),
            mode: self.mode.or(base.mode),
            pause_budget: self.pause_budget.or(base.pause_budget),
            dump_min_interval: self.dump_min_interval.or(base.dump_min_interval),
            dump_probability: self.dump_probability.or(base.dump_probability),
            jump_factor: self.jump_factor.or(base.jump_factor),
            top_k: self.top_k.or(base.top_k),
            bearer_token: self.bearer_token.clone().or(base.bearer_token.clone()),
            bearer_token_file: self
                .bearer_token_file
                .clone()
                .or(base.bearer_token_file.clone()),
            headers,
            ca_cert: self.ca_cert.clone().or(base.ca_cert.clone()),
            max_body_mib: self.max_body_mib.or(base.max_body_mib),
            state_dir: self.state_dir.clone().or(base.state_dir.clone()),
            leak_profile: self.leak_profile.or(base.leak_profile),
            leak_profile_interval: self.leak_profile_interval.or(base.leak_profile_interval),
            trace_window: self.trace_window.or(base.trace_window),
            trace_interval: self.trace_interval.or(base.trace_interval),
            leak_min_scrapes: self.leak_min_scrapes.or(base.leak_min_scrapes),
            leak_min_growth: self.leak_min_growth.or(base.leak_min_growth),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    #[serde(default)]
    otlp: OtlpSettings,
    #[serde(default)]
    defaults: Settings,
    targets: Vec<Settings>,
}

/// Why a configuration was refused: one line naming where and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    At { path: String, message: String },
    #[error("{0}")]
    Flags(String),
}

/// Builds the configuration from flags alone (`--target` repeated).
pub fn from_flags(
    urls: &[String],
    listen: Option<&str>,
    flags: &Settings,
    otlp_flags: &OtlpSettings,
) -> Result<Config, ConfigError> {
    if urls.is_empty() {
        return Err(ConfigError::Flags(
            "no target: give --target http://host:port (repeatable) or --config FILE".into(),
        ));
    }
    let mut targets = Vec::new();
    for u in urls {
        let url = Url::parse(u).map_err(|e| ConfigError::Flags(format!("--target {u:?}: {e}")))?;
        let settings = flags.or(&Settings::default());
        targets.push(
            target(url.0, None, BTreeMap::new(), &settings)
                .map_err(|e| ConfigError::Flags(format!("--target {u}: {e}")))?,
        );
    }
    let otlp = otlp(otlp_flags, &targets).map_err(ConfigError::Flags)?;
    finish(listen.map(str::to_string), targets, otlp).map_err(ConfigError::Flags)
}

/// Reads a YAML configuration file; flags given on the command line win
/// over the file's defaults.
pub fn load(
    path: &Path,
    listen: Option<&str>,
    flags: &Settings,
    otlp_flags: &OtlpSettings,
) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::At {
        path: shown.clone(),
        message: format!("{e}: give a readable YAML file"),
    })?;
    parse(&text, &shown, listen, flags, otlp_flags)
}

/// [`load`] on text already read; `path` names it in errors.
pub fn parse(
    text: &str,
    path: &str,
    listen: Option<&str>,
    flags: &Settings,
    otlp_flags: &OtlpSettings,
) -> Result<Config, ConfigError> {
    let at = |line: usize, column: usize, message: String| ConfigError::At {
        path: format!("{path}:{line}:{column}"),
        message,
    };
    let file: File = serde_norway::from_str(text).map_err(|e| {
        // serde_norway appends ` at line L column C`: the location goes in
        // front instead, as compilers print it.
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        // Keys merged from the shared settings are reported at their
        // mapping's start: point at the unknown key itself.
        let unknown = message
            .split("unknown field `")
            .nth(1)
            .and_then(|r| r.split('`').next())
            .and_then(|k| text.find(&format!("{k}:")));
        if let Some(offset) = unknown {
            let (line, column) = position(text, offset);
            return at(line, column, message);
        }
        let mut parts = message.split(MARK);
        if let (Some(path), Some(spot), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
            let from = e.location().map_or(0, |l| l.index());
            // A map's check names the bad key in quotes.
            let spot = if spot.is_empty() {
                rest.split('"').nth(1).unwrap_or("")
            } else {
                spot
            };
            let offset = (!spot.is_empty())
                .then(|| text.get(from..)?.find(spot).map(|i| from + i))
                .flatten()
                .unwrap_or(from);
            let (line, column) = position(text, offset);
            return at(line, column, format!("{path}{rest}"));
        }
        match e.location() {
            Some(l) => at(l.line(), l.column(), message),
            None => ConfigError::At {
                path: path.to_string(),
                message,
            },
        }
    })?;
    if file.targets.is_empty() {
        return Err(ConfigError::At {
            path: path.to_string(),
            message: "no targets: list at least one under `targets:`".into(),
        });
    }
    let per_target = [
        ("url", file.defaults.url.is_some()),
        ("name", file.defaults.name.is_some()),
        ("labels", file.defaults.labels.is_some()),
    ];
    if let Some((key, _)) = per_target.iter().find(|(_, set)| *set) {
        let (line, column) = locate(text, &format!("{key}:"));
        return Err(at(
            line,
            column,
            format!("defaults: `{key}` belongs to each target, under `targets:`"),
        ));
    }
    let defaults = flags.or(&file.defaults);
    let mut targets = Vec::new();
    for (i, t) in file.targets.iter().enumerate() {
        let Some(url) = &t.url else {
            let (line, column) = locate_nth(text, "- ", i);
            return Err(at(line, column, format!("targets[{i}]: give its `url`")));
        };
        // Flags override the file's defaults, a target's own keys both.
        let settings = t.or(&defaults);
        let name = t.name.clone().map(|n| n.0);
        let labels = t.labels.clone().unwrap_or_default().0;
        let (line, column) = locate(text, &url.0);
        targets
            .push(target(url.0.clone(), name, labels, &settings).map_err(|m| at(line, column, m))?);
    }
    let otlp = otlp(&otlp_flags.or(&file.otlp), &targets).map_err(|m| {
        let (line, column) = locate(text, "otlp:");
        at(line, column, m)
    })?;
    finish(listen.map(str::to_string).or(file.listen), targets, otlp).map_err(|m| {
        // Duplicate names: point at the second one.
        let (line, column) = m
            .split('"')
            .nth(1)
            .map(|n| locate_nth(text, n, 1))
            .unwrap_or((1, 1));
        at(line, column, m)
    })
}

/// Line and column (1-based) of the first occurrence of `needle`.
fn locate(text: &str, needle: &str) -> (usize, usize) {
    locate_nth(text, needle, 0)
}

fn locate_nth(text: &str, needle: &str, n: usize) -> (usize, usize) {
    let Some((offset, _)) = text.match_indices(needle).nth(n) else {
        return (1, 1);
    };
    position(text, offset)
}

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

fn target(
    url: String,
    name: Option<String>,
    labels: BTreeMap<String, String>,
    s: &Settings,
) -> Result<Target, String> {
    let bearer_token = match (&s.bearer_token, &s.bearer_token_file) {
        (Some(_), Some(_)) => {
            return Err("give bearer_token or bearer_token_file, not both".into());
        }
        (Some(t), None) => Some(t.clone()),
        (None, Some(p)) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| {
                    format!(
                        "bearer_token_file {}: {e}: give a readable token file",
                        p.display()
                    )
                })?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    let interval = s.interval.map_or(Duration::from_secs(15), |d| d.0);
    let timeout = s
        .timeout
        .map_or(Duration::from_secs(10).min(interval), |d| d.0);
    if timeout > interval {
        return Err(format!(
            "timeout {} is longer than the interval {}: a scrape must end before the next is due",
            Dur(timeout),
            Dur(interval)
        ));
    }
    if let Some(w) = s.trace_window {
        if w.0 > Duration::from_secs(60) {
            return Err(format!(
                "trace_window {w}: at most 1m (the service pays a few percent of CPU while traced)"
            ));
        }
        let every = s.trace_interval.map_or(Duration::from_secs(300), |d| d.0);
        if every < w.0 * 2 {
            return Err(format!(
                "trace_interval {} is less than twice trace_window {w}: the service would be traced most of the time",
                Dur(every)
            ));
        }
    }
    Ok(Target {
        name: name.unwrap_or_else(|| default_name(&url)),
        url,
        labels,
        interval,
        timeout,
        mode: s.mode.unwrap_or(Mode::Auto),
        pause_budget: s.pause_budget.map_or(Duration::from_millis(10), |d| d.0),
        dump_min_interval: s.dump_min_interval.map_or(Duration::from_secs(60), |d| d.0),
        dump_probability: s.dump_probability.map_or(1.0, |p| p.0),
        jump_factor: s.jump_factor.map_or(2.0, |f| f.0),
        top_k: s.top_k.map_or(20, |k| k.0),
        bearer_token,
        headers: s
            .headers
            .iter()
            .map(|(k, v)| format!("{}: {v}", k.0))
            .collect(),
        ca_cert: s.ca_cert.clone(),
        max_body: s.max_body_mib.map_or(256, |m| m.0) << 20,
        state_dir: s.state_dir.clone(),
        leak_profile: s.leak_profile.unwrap_or(true),
        trace_window: s.trace_window.map(|d| d.0),
        trace_interval: s.trace_interval.map_or(Duration::from_secs(300), |d| d.0),
        leak_profile_interval: s
            .leak_profile_interval
            .map_or(Duration::from_secs(300), |d| d.0),
        leak_rule: goroscope_core::leak::Rule {
            min_points: s
                .leak_min_scrapes
                .map_or(goroscope_core::leak::MIN_POINTS, |m| m.0),
            min_growth: s
                .leak_min_growth
                .map_or(goroscope_core::leak::MIN_GROWTH, |g| g.0),
            ..goroscope_core::leak::Rule::default()
        },
    })
}

fn finish(
    listen: Option<String>,
    targets: Vec<Target>,
    otlp: Option<Otlp>,
) -> Result<Config, String> {
    let mut seen = std::collections::BTreeSet::new();
    for t in &targets {
        if !seen.insert(t.name.as_str()) {
            return Err(format!(
                "two targets are named \"{}\": give each a unique `name`",
                t.name
            ));
        }
    }
    Ok(Config {
        listen: listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
        targets,
        otlp,
    })
}

/// A target's name when none is given: its host and port.
fn default_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    host.to_string()
}

/// Parses a command-line flag with the same checks as the file (a clap
/// value parser).
pub fn flag<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_norway::from_str(s).map_err(|e| {
        let m = e.to_string();
        let m = m.split(" at line ").next().unwrap_or(&m);
        m.rsplit(MARK).next().unwrap_or(m).to_string()
    })
}

/// A positive duration written as Prometheus does: `15s`, `500ms`, `1m30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl Dur {
    /// Parses `1h`, `1m30s`, `250ms`, `10us`; refuses 0 and bare numbers.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a duration: write e.g. 15s, 500ms or 1m30s");
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total = Duration::ZERO;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = match &rest[..unit_len] {
                "h" => Duration::from_secs(3600),
                "m" => Duration::from_secs(60),
                "s" => Duration::from_secs(1),
                "ms" => Duration::from_millis(1),
                "us" | "µs" => Duration::from_micros(1),
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            total = u32::try_from(n)
                .ok()
                .and_then(|n| unit.checked_mul(n))
                .and_then(|d| total.checked_add(d))
                .ok_or_else(bad)?;
        }
        if total.is_zero() {
            return Err(format!("{s:?}: give a duration above zero"));
        }
        Ok(Dur(total))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else {
            write!(f, "{}ms", d.as_millis())
        }
    }
}

impl std::str::FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Dur::parse(s)
    }
}

/// Implements `Deserialize` through a checking constructor from a string
/// or number, so that serde reports the value's location on failure.
macro_rules! checked {
    ($ty:ty, $from:ty, $check:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <$from>::deserialize(d)?;
                let spot = Spot::spot(&raw);
                let check: fn($from) -> Result<$ty, String> = $check;
                check(raw).map_err(|m| de::Error::custom(format!("{MARK}{spot}{MARK}{m}")))
            }
        }
    };
}

/// Brackets the text of a refused value in an error message: serde_norway
/// places errors from inside a mapping at the mapping's start, so
/// [`parse`] looks for this text from there to point at the value itself.
const MARK: char = '\u{1}';

/// The text a value was probably written as.
trait Spot {
    fn spot(&self) -> String;
}

impl Spot for String {
    fn spot(&self) -> String {
        self.clone()
    }
}

impl Spot for u64 {
    fn spot(&self) -> String {
        self.to_string()
    }
}

impl Spot for f64 {
    fn spot(&self) -> String {
        self.to_string()
    }
}

impl Spot for BTreeMap<String, String> {
    fn spot(&self) -> String {
        String::new()
    }
}

checked!(Dur, String, |s| Dur::parse(&s));

/// A probability, 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probability(pub f64);
checked!(Probability, f64, |p| {
    if (0.0..=1.0).contains(&p) {
        Ok(Probability(p))
    } else {
        Err(format!("{p} is not a probability: give 0 to 1"))
    }
});

/// A growth factor above 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factor(pub f64);
checked!(Factor, f64, |f| {
    if f > 1.0 && f.is_finite() {
        Ok(Factor(f))
    } else {
        Err(format!(
            "{f} is not a growth factor: give a number above 1, e.g. 2"
        ))
    }
});

/// Scrapes before the leak rule judges, 3 to the ring's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinScrapes(pub usize);
checked!(MinScrapes, u64, |n| {
    match usize::try_from(n) {
        Ok(n) if (3..=goroscope_core::leak::RING).contains(&n) => Ok(MinScrapes(n)),
        _ => Err(format!(
            "leak_min_scrapes {n}: give 3 to {}",
            goroscope_core::leak::RING
        )),
    }
});

/// Least leak growth, goroutines above zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth(pub f64);
checked!(Growth, f64, |g| {
    if g > 0.0 && g.is_finite() {
        Ok(Growth(g))
    } else {
        Err(format!(
            "leak_min_growth {g}: give a number of goroutines above 0"
        ))
    }
});

/// Top-K, 1 to [`MAX_TOP_K`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopK(pub usize);
checked!(TopK, u64, |k| {
    match usize::try_from(k) {
        Ok(k) if (1..=MAX_TOP_K).contains(&k) => Ok(TopK(k)),
        _ => Err(format!(
            "top_k {k}: give 1 to {MAX_TOP_K} (it bounds the series per target)"
        )),
    }
});

/// A size in MiB, 1 to 4096.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mib(pub u64);
checked!(Mib, u64, |m| {
    if (1..=4096).contains(&m) {
        Ok(Mib(m))
    } else {
        Err(format!("{m} MiB: give 1 to 4096"))
    }
});

/// An http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url(pub String);

impl Url {
    fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"))
            .ok_or_else(|| format!("{s:?} is not an http:// or https:// URL"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!(
                "{s:?} has no host: write e.g. http://127.0.0.1:6060"
            ));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(format!("{s:?} contains white space"));
        }
        Ok(Url(s.to_string()))
    }
}
checked!(Url, String, |s| Url::parse(&s));

/// A target name: used in a label value and an API path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetName(pub String);
checked!(TargetName, String, |s| {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(TargetName(s))
    } else {
        Err(format!(
            "name {s:?}: use 1 to 64 letters, digits, '-', '_', '.' or ':'"
        ))
    }
});

/// An HTTP header name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeaderName(pub String);
checked!(HeaderName, String, |s| {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(HeaderName(s))
    } else {
        Err(format!("header name {s:?}: use letters, digits and '-'"))
    }
});

/// Extra labels: Prometheus label names, not the agent's own, bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(pub BTreeMap<String, String>);
checked!(Labels, BTreeMap<String, String>, |m| {
    if m.len() > MAX_EXTRA_LABELS {
        return Err(format!(
            "{} labels: give at most {MAX_EXTRA_LABELS}",
            m.len()
        ));
    }
    for (k, v) in &m {
        let valid = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !k.starts_with("__");
        if !valid {
            return Err(format!(
                "label name {k:?}: use letters, digits and '_', not starting with a digit or __"
            ));
        }
        if RESERVED_LABELS.contains(&k.as_str()) {
            return Err(format!("label name {k:?} is set by goroscope itself: pick another"));
        }
        if v.len() > MAX_LABEL_VALUE {
            return Err(format!("label {k}: value longer than {MAX_LABEL_VALUE} bytes"));
        }
    }
    Ok(Labels(m))
});

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        parse(
            text,
            "g.yaml",
            None,
            &Settings::default(),
            &OtlpSettings::default(),
        )
        .expect_err("must be refused")
        .to_string()
    }

    #[test]
    fn durations() {
        assert_eq!(Dur::parse("15s").expect("valid").0, Duration::from_secs(15));
        assert_eq!(
            Dur::parse("1m30s").expect("valid").0,
            Duration::from_secs(90)
        );
        assert_eq!(
            Dur::parse("250ms").expect("valid").0,
            Duration::from_millis(250)
        );
        assert_eq!(
            Dur::parse("2h").expect("valid").0,
            Duration::from_secs(7200)
        );
        for bad in ["", "15", "s", "0s", "1x", "-1s", "1.5s", "99999999999h"] {
            assert!(Dur::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let c = parse(
            "targets:\n  - url: http://127.0.0.1:6060\n",
            "g.yaml",
            None,
            &Settings::default(),
            &OtlpSettings::default(),
        )
        .expect("valid");
        assert_eq!(c.listen, DEFAULT_LISTEN);
        let t = &c.targets[0];
        assert_eq!(t.name, "127.0.0.1:6060");
        assert_eq!(t.interval, Duration::from_secs(15));
        assert_eq!(t.timeout, Duration::from_secs(10));
        assert_eq!(t.mode, Mode::Auto);
        assert_eq!(t.pause_budget, Duration::from_millis(10));
        assert_eq!(t.dump_min_interval, Duration::from_secs(60));
        assert_eq!(t.top_k, 20);
    }

    #[test]
    fn target_keys_beat_flags_which_beat_file_defaults() {
        let text = "\
defaults:
  interval: 30s
  mode: profile
targets:
  - url: http://a:1
  - url: http://b:1
    interval: 5s
    timeout: 2s
";
        let flags = Settings {
            mode: Some(Mode::Dump),
            ..Settings::default()
        };
        let c = parse(
            text,
            "g.yaml",
            Some("0.0.0.0:9999"),
            &flags,
            &OtlpSettings::default(),
        )
        .expect("valid");
        assert_eq!(c.listen, "0.0.0.0:9999");
        assert_eq!(c.targets[0].interval, Duration::from_secs(30));
        assert_eq!(c.targets[0].mode, Mode::Dump);
        assert_eq!(c.targets[1].interval, Duration::from_secs(5));
        assert_eq!(c.targets[1].timeout, Duration::from_secs(2));
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse_err("targets:\n  - url: http://a:1\n    intervall: 5s\n");
        assert!(e.starts_with("g.yaml:3:5: "), "{e}");
        assert!(e.contains("unknown field `intervall`"), "{e}");

        let e = parse_err("targets:\n  - url: http://a:1\n    interval: 5 seconds\n");
        assert!(e.starts_with("g.yaml:3:15: "), "{e}");
        assert!(e.contains("not a duration"), "{e}");

        let e = parse_err("targets:\n  - url: ftp://a:1\n");
        assert!(e.starts_with("g.yaml:2:10: "), "{e}");

        let e = parse_err("targets:\n  - url: http://a:1\n    top_k: 500\n");
        assert!(
            e.starts_with("g.yaml:3:12: ") && e.contains("1 to 50"),
            "{e}"
        );

        let e = parse_err("targets:\n  - url: http://a:1\n    labels: {state: x}\n");
        assert!(
            e.starts_with("g.yaml:3:14: ") && e.contains("set by goroscope"),
            "{e}"
        );

        let e = parse_err(
            "targets:\n  - url: http://a:1\n    name: x\n  - url: http://b:1\n    name: x\n",
        );
        assert!(
            e.starts_with("g.yaml:5:11: ") && e.contains("unique"),
            "{e}"
        );

        let e = parse_err("targets:\n  - url: http://a:1\n    interval: 5s\n    timeout: 10s\n");
        assert!(
            e.starts_with("g.yaml:2:10: ") && e.contains("longer than"),
            "{e}"
        );

        let e = parse_err("targets:\n  - url: http://a:1\n    leak_min_scrapes: 2\n");
        assert!(
            e.starts_with("g.yaml:3:23: ") && e.contains("give 3 to 30"),
            "{e}"
        );

        let e = parse_err("targets: []\n");
        assert!(e.contains("no targets"), "{e}");
    }

    /// The shipped example is valid and says what it claims.
    #[test]
    fn the_example_config_loads() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/goroscope.example.yaml"
        );
        let text = std::fs::read_to_string(path).expect("valid");
        // Its token file does not exist here: give the token inline.
        let text = text.replace(
            "bearer_token_file: /var/run/secrets/goroscope/token",
            "bearer_token: example",
        );
        let c = parse(
            &text,
            path,
            None,
            &Settings::default(),
            &OtlpSettings::default(),
        )
        .expect("valid");
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert_eq!(c.targets.len(), 2);
        let (a, b) = (&c.targets[0], &c.targets[1]);
        assert_eq!(a.name, "checkout");
        assert_eq!(a.timeout, Duration::from_secs(5));
        assert_eq!(a.labels.get("namespace").map(String::as_str), Some("shop"));
        assert_eq!(b.mode, Mode::Profile);
        assert_eq!(b.interval, Duration::from_secs(30));
        assert_eq!(b.bearer_token.as_deref(), Some("example"));
        assert_eq!(b.headers, vec!["X-Debug-Client: goroscope".to_string()]);
        assert_eq!(a.leak_rule, goroscope_core::leak::Rule::default());
        assert_eq!(a.leak_profile_interval, Duration::from_secs(300));
        let o = c.otlp.as_ref().expect("otlp");
        assert_eq!(o.endpoint, "http://127.0.0.1:4318/v1/metrics");
        assert_eq!(o.interval, Duration::from_secs(15));
        assert_eq!(
            o.headers,
            [("X-Scope-OrgID".to_string(), "shop".to_string())]
        );
        assert_eq!(
            o.resource_attributes,
            [(
                "deployment.environment".to_string(),
                "production".to_string()
            )]
        );
        // As written, the missing token file is reported where it is named.
        let e = parse(
            &std::fs::read_to_string(path).expect("valid"),
            "x.yaml",
            None,
            &Settings::default(),
            &OtlpSettings::default(),
        )
        .expect_err("must be refused")
        .to_string();
        assert!(
            e.contains("bearer_token_file /var/run/secrets/goroscope/token"),
            "{e}"
        );
    }

    #[test]
    fn flags_only() {
        let c = from_flags(
            &[
                "http://127.0.0.1:6060".into(),
                "http://127.0.0.1:6061/".into(),
            ],
            None,
            &Settings::default(),
            &OtlpSettings::default(),
        )
        .expect("valid");
        assert_eq!(c.targets.len(), 2);
        assert_eq!(c.targets[1].name, "127.0.0.1:6061");
        let e = from_flags(
            &["http://x:1".into(), "http://x:1".into()],
            None,
            &Settings::default(),
            &OtlpSettings::default(),
        )
        .expect_err("must be refused");
        assert!(e.to_string().contains("unique"), "{e}");
        assert!(from_flags(&[], None, &Settings::default(), &OtlpSettings::default()).is_err());
    }

    #[test]
    fn otlp_flags_beat_the_file_and_need_an_endpoint() {
        let file = "otlp:\n  endpoint: http://collector:4318/\n  interval: 30s\ntargets:\n  - url: http://a:1\n    interval: 5s\n";
        let c = parse(
            file,
            "g.yaml",
            None,
            &Settings::default(),
            &OtlpSettings::default(),
        )
        .expect("valid");
        let o = c.otlp.expect("otlp");
        assert_eq!(o.endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(o.interval, Duration::from_secs(30));
        let flags = OtlpSettings {
            endpoint: Some(Url("http://other:4318/v1/metrics".into())),
            ..OtlpSettings::default()
        };
        let c = parse(file, "g.yaml", None, &Settings::default(), &flags).expect("valid");
        let o = c.otlp.expect("otlp");
        assert_eq!(o.endpoint, "http://other:4318/v1/metrics");
        assert_eq!(o.interval, Duration::from_secs(30));
        // Flags only: the interval defaults to the shortest target's.
        let c = from_flags(
            &["http://a:1".into()],
            None,
            &Settings {
                interval: Some(Dur(Duration::from_secs(3))),
                ..Settings::default()
            },
            &flags,
        )
        .expect("valid");
        assert_eq!(c.otlp.expect("otlp").interval, Duration::from_secs(3));
        let e = parse_err("otlp:\n  interval: 5s\ntargets:\n  - url: http://a:1\n");
        assert!(
            e.starts_with("g.yaml:1:1: otlp: give its `endpoint`"),
            "{e}"
        );
        let e = parse_err("otlp:\n  endpoint: collector:4318\ntargets:\n  - url: http://a:1\n");
        assert!(e.contains("not an http:// or https:// URL"), "{e}");
        assert!(e.starts_with("g.yaml:2:"), "{e}");
    }
}
