//! `/metrics`: every target's goroutines and the agent's own health, encoded
//! by the prometheus-client crate as OpenMetrics or Prometheus text
//! (content negotiation on `Accept`), from the agent's state at the moment
//! of the request.
//!
//! # Cardinality
//!
//! Every label's values come from a closed set or a configured bound; the
//! worst case per target with the defaults is written down in README
//! ("Metrics") and [`MAX_SERIES_PER_TARGET`] checks the arithmetic. The
//! free-text labels (`top_function`, `created_by`) appear only on the top-K
//! series and are cut at [`MAX_LABEL_CHARS`].

use std::sync::Arc;
use std::time::SystemTime;

use goroscope_core::model::{BlockClass, Origin, State};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::policy::Reason;
use super::target::{lock, Kind, TargetState, WaitHistogram};
use super::Agent;
use crate::analysis::WAIT_BUCKETS;
use crate::fetch::ErrorKind;

/// Longest `top_function` / `created_by` label value.
pub const MAX_LABEL_CHARS: usize = 128;

/// Leak suspects exported per target, largest score first.
pub const MAX_LEAK_SERIES: usize = 10;

/// Depth buckets of the census (`1-3, 4-8, 9-16, 17+` and `0` for a stack
/// not printed).
const DEPTH_BUCKETS: usize = 5;

/// The most series one target can have with the defaults (top-K 20) and
/// the most with top-K at its maximum: the sum over every family of the
/// product of its labels' value counts.
pub const fn max_series_per_target(top_k: usize) -> usize {
    let states = State::ALL.len();
    let classes = BlockClass::ALL.len();
    let kinds = Kind::ALL.len();
    // goroutines{state, block_class}
    states * classes
        // goroutines_by_origin{origin}
        + Origin::ALL.len()
        // goroutines_by_depth{depth}
        + DEPTH_BUCKETS
        // goroutine_wait_seconds{block_class}: buckets, +Inf, _sum, _count
        + classes * (WAIT_BUCKETS.len() + 3)
        // group_goroutines{signature, ...}: top-K and other
        + top_k + 1
        // group_signatures, group_signatures_folded_total
        + 2
        // target_up, last_success, restarts, pause estimate, cost per
        // goroutine, pause budget
        + 6
        // scrape_duration_seconds{mode}, scrape_bytes_total{mode},
        // collection_mode{mode}
        + 3 * kinds
        // scrape_errors_total{kind}
        + ErrorKind::ALL.len()
        // collections_total{mode, reason}
        + kinds * Reason::ALL.len()
        // leak_suspects, leak_profile_goroutines, and score and growth of
        // the top suspects
        + 2 + 2 * MAX_LEAK_SERIES
}

/// Series a target adds with execution trace windows on (`trace_window`):
/// the state-duration histogram over its (state, block class) pairs (a
/// waiting interval has one of the block classes; running and runnable
/// none; syscall `syscall`), the scheduler latency histogram (buckets, +Inf,
/// _sum, _count each), and the window counter.
pub const fn trace_series() -> usize {
    let per = super::target::TRACE_BUCKETS.len() + 3;
    (BlockClass::ALL.len() + 3) * per + per + 1
}

/// [`max_series_per_target`] with the default top-K.
pub const MAX_SERIES_PER_TARGET: usize = max_series_per_target(20);
const _: () = assert!(MAX_SERIES_PER_TARGET < 500);
// With execution trace windows on (README "Metrics").
const _: () = assert!(MAX_SERIES_PER_TARGET + trace_series() < 700);
const _: () = assert!(max_series_per_target(super::config::MAX_TOP_K) < 500);

/// The registry every `/metrics` answer is encoded from.
pub fn registry(agent: Arc<Agent>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(AgentCollector(agent)));
    r
}

/// Which text format a scraper asked for.
pub fn negotiate(accept: Option<&str>) -> (bool, &'static str) {
    let openmetrics = accept.is_some_and(|a| a.contains("application/openmetrics-text"));
    if openmetrics {
        (
            true,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (
            false,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )
    }
}

/// Encodes the registry in the negotiated format.
pub fn encode(registry: &Registry, openmetrics: bool) -> String {
    let mut out = String::new();
    let result = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, registry)
    };
    // Writing to a String cannot fail; an encoder error would be a bug in
    // a label, and a partial page is still worth serving.
    if let Err(e) = result {
        out.push_str(&format!("# encoding stopped: {e}\n"));
    }
    out
}

#[derive(Debug)]
struct AgentCollector(Arc<Agent>);

type Labels = Vec<(String, String)>;

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_LABEL_CHARS) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One target's series, gathered under its lock, written after.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `target` and the target's extra labels, on every series.
    pub labels: Labels,
    /// The target's name and URL (OTLP resource attributes).
    pub name: String,
    pub url: String,
    /// The extra labels alone.
    pub extra: Labels,
    /// When the agent began watching it.
    pub since: SystemTime,
    up: bool,
    last_success: Option<f64>,
    restarts: u64,
    estimate: f64,
    cost: f64,
    budget: f64,
    scrape_seconds: Vec<(Kind, f64)>,
    bytes: Vec<(Kind, u64)>,
    chosen: Option<Kind>,
    errors: Vec<(ErrorKind, u64)>,
    collections: Vec<((Kind, Reason), u64)>,
    folded_total: u64,
    waits: Vec<(BlockClass, WaitHistogram)>,
    trace_states: Vec<((&'static str, BlockClass), WaitHistogram)>,
    sched_latency: Option<WaitHistogram>,
    trace_windows: u64,
    trace_on: bool,
    latest: Option<Arc<super::target::Latest>>,
    top_k: usize,
    verdicts: Arc<Vec<goroscope_core::leak::Verdict>>,
    interval: f64,
    leak_profile: Option<u64>,
}

impl Snapshot {
    fn of(t: &TargetState) -> Self {
        let config = t.config();
        let mut labels = vec![("target".to_string(), config.name.clone())];
        labels.extend(config.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let s = lock(&t.status);
        let goroutines = s.latest.as_ref().map_or(0, |l| l.report.total);
        Snapshot {
            labels,
            name: config.name.clone(),
            url: config.url.clone(),
            extra: config
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            since: t.since,
            up: s.up,
            last_success: s.last_success.map(unix_seconds),
            restarts: s.restarts,
            estimate: s.policy.estimate(goroutines).as_secs_f64(),
            cost: s.policy.cost_per_goroutine().as_secs_f64(),
            budget: config.pause_budget.as_secs_f64(),
            scrape_seconds: s.scrape_seconds.iter().map(|(k, v)| (*k, *v)).collect(),
            bytes: s.bytes.iter().map(|(k, v)| (*k, *v)).collect(),
            chosen: s.latest.as_ref().map(|l| l.kind),
            errors: s.errors.iter().map(|(k, v)| (*k, *v)).collect(),
            collections: s.collections.iter().map(|(k, v)| (*k, *v)).collect(),
            folded_total: s.folded_total,
            waits: s.waits.iter().map(|(k, v)| (*k, v.clone())).collect(),
            trace_states: s
                .trace_states
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            sched_latency: s.sched_latency.clone(),
            trace_windows: s.trace_windows,
            trace_on: config.trace_window.is_some(),
            latest: s.latest.clone(),
            top_k: config.top_k,
            verdicts: s.verdicts.clone(),
            leak_profile: s.leak_profile_goroutines,
            interval: config.interval.as_secs_f64(),
        }
    }
}

/// One series' value.
#[derive(Debug, Clone)]
pub enum Value {
    Gauge(f64),
    Counter(u64),
    Histogram(Box<WaitHistogram>),
}

/// One series: which target (index into the snapshots) and the family's
/// own labels; the target's labels are added when encoding.
#[derive(Debug, Clone)]
pub struct Point {
    pub target: usize,
    pub labels: Vec<(&'static str, String)>,
    pub value: Value,
}

/// One metric family, independent of the wire format: `/metrics` and OTLP
/// encode the same list, so the two exports cannot disagree.
#[derive(Debug, Clone)]
pub struct Family {
    /// Prometheus name, without the unit and `_total` suffixes that
    /// prometheus-client appends.
    pub name: &'static str,
    pub help: &'static str,
    pub unit: Option<Unit>,
    pub ty: MetricType,
    /// OpenTelemetry name and unit (README "OTLP export").
    pub otel_name: &'static str,
    pub otel_unit: &'static str,
    pub points: Vec<Point>,
}

/// OpenTelemetry attribute key of a Prometheus label the agent sets;
/// configured extra labels keep their own names.
pub fn otel_attribute(label: &str) -> &str {
    match label {
        "state" => "go.goroutine.state",
        "block_class" => "go.goroutine.block_class",
        "origin" => "go.goroutine.origin",
        "depth" => "go.goroutine.stack_depth",
        "signature" => "goroscope.signature",
        "top_function" => "code.function.name",
        "created_by" => "goroscope.created_by",
        "mode" => "goroscope.collection.mode",
        "reason" => "goroscope.collection.reason",
        "kind" => "error.type",
        "target" => "goroscope.target",
        other => other,
    }
}

fn fam(
    name: &'static str,
    otel_name: &'static str,
    otel_unit: &'static str,
    ty: MetricType,
    unit: Option<Unit>,
    help: &'static str,
) -> Family {
    Family {
        name,
        help,
        unit,
        ty,
        otel_name,
        otel_unit,
        points: Vec::new(),
    }
}

impl Family {
    fn push(&mut self, target: usize, labels: &[(&'static str, &str)], value: Value) {
        self.points.push(Point {
            target,
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value,
        });
    }
}

/// Every family of every target, in `/metrics` order.
pub fn families(targets: &[Snapshot]) -> Vec<Family> {
    use MetricType::{Counter, Gauge, Histogram};
    let secs = || Some(Unit::Seconds);
    let mut goroutines = fam("goroscope_goroutines", "go.goroutine.count", "{goroutine}", Gauge, None,
        "Goroutines by state and block class in the target's latest profile or dump (profiles cannot tell running from runnable: on_cpu).");
    let mut by_origin = fam("goroscope_goroutines_by_origin", "goroscope.goroutine.origin.count", "{goroutine}", Gauge, None,
        "Goroutines of the program (user) and of the runtime's own services (runtime), latest collection.");
    let mut by_depth = fam(
        "goroscope_goroutines_by_depth",
        "goroscope.goroutine.depth.count",
        "{goroutine}",
        Gauge,
        None,
        "Goroutines by stack depth bucket (frames), latest collection.",
    );
    let mut wait = fam("goroscope_goroutine_wait", "go.goroutine.wait.duration", "s", Histogram, secs(),
        "How long blocked goroutines had waited, by block class: every full dump observes each blocked goroutine once (whole minutes as the dump prints them; under a minute counts as 0).");
    let mut groups = fam("goroscope_group_goroutines", "goroscope.group.goroutine.count", "{goroutine}", Gauge, None,
        "Goroutines per stack signature, largest top-K groups of the latest collection; the rest are summed in signature=\"other\".");
    let mut signatures = fam(
        "goroscope_group_signatures",
        "goroscope.group.signature.count",
        "{signature}",
        Gauge,
        None,
        "Distinct stack signatures in the latest collection.",
    );
    let mut folded = fam(
        "goroscope_group_signatures_folded",
        "goroscope.group.signature.folded",
        "{signature}",
        Counter,
        None,
        "Signatures folded into signature=\"other\" (beyond top-K), summed over collections.",
    );
    let mut suspects = fam(
        "goroscope_leak_suspects",
        "goroscope.leak.suspect.count",
        "{signature}",
        Gauge,
        None,
        "Stack signatures the leak rule flags now (README \"Leak detection\").",
    );
    let mut leak_profile = fam("goroscope_leak_profile_goroutines", "goroscope.leak.profile.goroutine.count", "{goroutine}", Gauge, None,
        "Goroutines in the target's last goroutineleak profile (Go 1.26 with GOEXPERIMENT=goroutineleakprofile): proven leaked.");
    let mut score = fam(
        "goroscope_leak_suspect_score",
        "goroscope.leak.suspect.score",
        "1",
        Gauge,
        None,
        "Score (0 to 1) of the top leak suspects.",
    );
    let mut growth = fam(
        "goroscope_leak_suspect_growth_per_minute",
        "goroscope.leak.suspect.growth",
        "{goroutine}/min",
        Gauge,
        None,
        "Growth of the top leak suspects, goroutines per minute (Theil-Sen slope of their counts).",
    );
    let mut up = fam(
        "goroscope_target_up",
        "goroscope.target.up",
        "1",
        Gauge,
        None,
        "1 when the target's last scrape succeeded.",
    );
    let mut last_success = fam(
        "goroscope_target_last_success_timestamp",
        "goroscope.target.last_success.time",
        "s",
        Gauge,
        secs(),
        "When the target was last collected successfully (Unix time).",
    );
    let mut restarts = fam(
        "goroscope_target_restarts",
        "goroscope.target.restarts",
        "{restart}",
        Counter,
        None,
        "Target restarts seen (goroutine ids went back between two dumps).",
    );
    let mut scrape_duration = fam(
        "goroscope_scrape_duration",
        "goroscope.scrape.duration",
        "s",
        Gauge,
        secs(),
        "Duration of the target's last fetch and analysis, by what was collected.",
    );
    let mut scrape_bytes = fam(
        "goroscope_scrape",
        "goroscope.scrape.size",
        "By",
        Counter,
        Some(Unit::Bytes),
        "Bytes read from the target, by what was collected.",
    );
    let mut errors = fam("goroscope_scrape_errors", "goroscope.scrape.errors", "{error}", Counter, None,
        "Failed fetches or analyses, by kind (connect, timeout, http_status, not_pprof, too_large, read, config).");
    let mut collections = fam(
        "goroscope_collections",
        "goroscope.collections",
        "{collection}",
        Counter,
        None,
        "Collections by what ran (profile or dump) and why (README \"Collection policy\").",
    );
    let mut mode = fam("goroscope_collection_mode", "goroscope.collection.mode", "1", Gauge, None,
        "1 for what the latest goroutine series come from: profile (states inferred) or dump (exact).");
    let mut estimate = fam("goroscope_dump_pause_estimate", "goroscope.dump.pause.estimate", "s", Gauge, secs(),
        "Estimated stop-the-world of a full dump of the target now: learned cost per goroutine times its goroutines.");
    let mut cost = fam(
        "goroscope_dump_cost_per_goroutine",
        "goroscope.dump.cost_per_goroutine",
        "s",
        Gauge,
        secs(),
        "Learned cost of a full dump per goroutine (5 us until one was measured).",
    );
    let mut budget = fam("goroscope_pause_budget", "goroscope.dump.pause.budget", "s", Gauge, secs(),
        "The target's pause_budget: the longest stop-the-world a full dump may cost it (alert rules compare dumps with it).");
    let mut state_duration = fam("goroscope_goroutine_state_duration", "go.goroutine.state.duration", "s", Histogram, secs(),
        "Whole intervals goroutines spent in a state, by block class, from execution trace windows (trace_window), summed over windows.");
    let mut sched_latency = fam("goroscope_scheduler_latency", "go.schedule.duration", "s", Histogram, secs(),
        "How long runnable goroutines waited for a CPU, from execution trace windows, summed over windows.");
    let mut trace_windows = fam(
        "goroscope_trace_windows",
        "goroscope.trace.windows",
        "{window}",
        Counter,
        None,
        "Execution trace windows taken from the target.",
    );

    for (i, t) in targets.iter().enumerate() {
        if let Some(l) = &t.latest {
            let mut by = std::collections::BTreeMap::new();
            for s in &l.report.series {
                *by.entry((s.state, s.block_class)).or_insert(0u64) += s.count;
            }
            for ((state, class), n) in by {
                goroutines.push(
                    i,
                    &[("state", state.as_str()), ("block_class", class.as_str())],
                    Value::Gauge(n as f64),
                );
            }
            for (origin, n) in &l.report.origins {
                by_origin.push(i, &[("origin", origin)], Value::Gauge(*n as f64));
            }
            for (depth, n) in &l.report.depth_buckets {
                by_depth.push(i, &[("depth", depth)], Value::Gauge(*n as f64));
            }
        }
        for (class, h) in &t.waits {
            wait.push(
                i,
                &[("block_class", class.as_str())],
                Value::Histogram(Box::new(h.clone())),
            );
        }
        if let Some(l) = &t.latest {
            let shown = &l.report.groups[..l.report.groups.len().min(t.top_k)];
            for grp in shown {
                let created_by = grp
                    .created_by
                    .as_ref()
                    .map_or(String::new(), |f| cut(&f.function));
                groups.push(
                    i,
                    &[
                        ("signature", &grp.signature),
                        ("top_function", &cut(&grp.top_function)),
                        ("created_by", &created_by),
                        ("block_class", grp.block_class.as_str()),
                    ],
                    Value::Gauge(grp.count as f64),
                );
            }
            let other = l.report.total - shown.iter().map(|g| g.count).sum::<u64>();
            groups.push(
                i,
                &[
                    ("signature", "other"),
                    ("top_function", ""),
                    ("created_by", ""),
                    ("block_class", "other"),
                ],
                Value::Gauge(other as f64),
            );
            signatures.push(i, &[], Value::Gauge(l.report.group_count as f64));
        }
        folded.push(i, &[], Value::Counter(t.folded_total));
        suspects.push(
            i,
            &[],
            Value::Gauge(t.verdicts.iter().filter(|v| v.suspect).count() as f64),
        );
        if let Some(n) = t.leak_profile {
            leak_profile.push(i, &[], Value::Gauge(n as f64));
        }
        for v in t
            .verdicts
            .iter()
            .filter(|v| v.suspect)
            .take(MAX_LEAK_SERIES)
        {
            let (top, class) = v.group.as_ref().map_or((String::new(), "unknown"), |g| {
                (cut(&g.top_function), g.block_class.as_str())
            });
            let labels = [
                ("signature", v.signature.as_str()),
                ("top_function", top.as_str()),
                ("block_class", class),
            ];
            score.push(i, &labels, Value::Gauge(v.score));
            growth.push(
                i,
                &labels,
                Value::Gauge(v.slope_per_snapshot * 60.0 / t.interval),
            );
        }
        up.push(i, &[], Value::Gauge(if t.up { 1.0 } else { 0.0 }));
        if let Some(at) = t.last_success {
            last_success.push(i, &[], Value::Gauge(at));
        }
        restarts.push(i, &[], Value::Counter(t.restarts));
        for (k, v) in &t.scrape_seconds {
            scrape_duration.push(i, &[("mode", k.as_str())], Value::Gauge(*v));
        }
        for (k, v) in &t.bytes {
            scrape_bytes.push(i, &[("mode", k.as_str())], Value::Counter(*v));
        }
        for (k, v) in &t.errors {
            errors.push(i, &[("kind", k.as_str())], Value::Counter(*v));
        }
        for ((k, r), v) in &t.collections {
            collections.push(
                i,
                &[("mode", k.as_str()), ("reason", r.as_str())],
                Value::Counter(*v),
            );
        }
        if let Some(chosen) = t.chosen {
            for k in Kind::ALL {
                mode.push(
                    i,
                    &[("mode", k.as_str())],
                    Value::Gauge(if k == chosen { 1.0 } else { 0.0 }),
                );
            }
        }
        estimate.push(i, &[], Value::Gauge(t.estimate));
        cost.push(i, &[], Value::Gauge(t.cost));
        budget.push(i, &[], Value::Gauge(t.budget));
        for ((state, class), h) in &t.trace_states {
            state_duration.push(
                i,
                &[("state", state), ("block_class", class.as_str())],
                Value::Histogram(Box::new(h.clone())),
            );
        }
        if let Some(h) = &t.sched_latency {
            sched_latency.push(i, &[], Value::Histogram(Box::new(h.clone())));
        }
        if t.trace_on {
            trace_windows.push(i, &[], Value::Counter(t.trace_windows));
        }
    }
    vec![
        goroutines,
        by_origin,
        by_depth,
        wait,
        groups,
        signatures,
        folded,
        suspects,
        leak_profile,
        score,
        growth,
        up,
        last_success,
        restarts,
        scrape_duration,
        scrape_bytes,
        errors,
        collections,
        mode,
        estimate,
        cost,
        budget,
        state_duration,
        sched_latency,
        trace_windows,
    ]
}

/// Every target's state now.
pub fn snapshots(agent: &Agent) -> Vec<Snapshot> {
    agent.targets().iter().map(|t| Snapshot::of(t)).collect()
}

impl Collector for AgentCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let targets = snapshots(&self.0);
        let mut m = enc.encode_descriptor(
            "goroscope_build",
            "goroscope's version.",
            None,
            MetricType::Info,
        )?;
        m.encode_info(&vec![("version", env!("CARGO_PKG_VERSION"))])?;
        // The agent's own, not a target's: only in /metrics.
        if self.0.otlp().is_some() {
            let (ok, failed) = self.0.otlp_exports();
            let mut m = enc.encode_descriptor(
                "goroscope_otlp_exports",
                "OTLP pushes by result (README \"OTLP export\").",
                None,
                MetricType::Counter,
            )?;
            for (result, n) in [("ok", ok), ("error", failed)] {
                m.encode_family(&vec![("result", result)])?
                    .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        for f in families(&targets) {
            let mut m = enc.encode_descriptor(f.name, f.help, f.unit.as_ref(), f.ty)?;
            for p in &f.points {
                let mut labels = targets[p.target].labels.clone();
                labels.extend(p.labels.iter().map(|(k, v)| (k.to_string(), v.clone())));
                let mut family = m.encode_family(&labels)?;
                match &p.value {
                    Value::Gauge(v) => family.encode_gauge(v)?,
                    Value::Counter(v) => family.encode_counter::<NoLabelSet, _, u64>(v, None)?,
                    Value::Histogram(h) => match &h.prom {
                        Some(p) => p.encode(family)?,
                        None => {
                            let buckets: Vec<(f64, u64)> = h
                                .bounds
                                .iter()
                                .copied()
                                .chain([f64::INFINITY])
                                .zip(h.counts.iter().copied())
                                .collect();
                            family.encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)?
                        }
                    },
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound README "Metrics" states, family by family.
    #[test]
    fn the_documented_series_bound() {
        assert_eq!(MAX_SERIES_PER_TARGET, 442);
        assert_eq!(trace_series(), 190);
        assert_eq!(max_series_per_target(super::super::config::MAX_TOP_K), 472);
    }

    #[test]
    fn content_negotiation() {
        assert!(
            negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            ))
            .0
        );
        assert!(!negotiate(Some("text/plain")).0);
        assert!(!negotiate(None).0);
        assert!(negotiate(None).1.starts_with("text/plain; version=0.0.4"));
    }

    #[test]
    fn long_labels_are_cut_on_a_character_boundary() {
        let long = "é".repeat(300);
        assert_eq!(cut(&long).chars().count(), MAX_LABEL_CHARS);
        assert_eq!(cut("main.f"), "main.f");
    }
}
