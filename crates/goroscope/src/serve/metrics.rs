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
use super::target::{lock, Kind, TargetState};
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

/// [`max_series_per_target`] with the default top-K.
pub const MAX_SERIES_PER_TARGET: usize = max_series_per_target(20);
const _: () = assert!(MAX_SERIES_PER_TARGET < 500);
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
struct Snapshot {
    labels: Labels,
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
    waits: Vec<(BlockClass, super::target::WaitHistogram)>,
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
            latest: s.latest.clone(),
            top_k: config.top_k,
            verdicts: s.verdicts.clone(),
            leak_profile: s.leak_profile_goroutines,
            interval: config.interval.as_secs_f64(),
        }
    }

    fn with(&self, extra: &[(&str, &str)]) -> Labels {
        let mut l = self.labels.clone();
        l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        l
    }
}

/// Writes one family: its descriptor, then a series per item.
fn family<T>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    ty: MetricType,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut prometheus_client::encoding::MetricEncoder<'_>, T) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, unit, ty)?;
    for item in items {
        each(&mut m, item)?;
    }
    Ok(())
}

fn gauge(
    m: &mut prometheus_client::encoding::MetricEncoder<'_>,
    labels: &Labels,
    v: f64,
) -> std::fmt::Result {
    m.encode_family(labels)?.encode_gauge(&v)
}

fn counter(
    m: &mut prometheus_client::encoding::MetricEncoder<'_>,
    labels: &Labels,
    v: u64,
) -> std::fmt::Result {
    m.encode_family(labels)?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}

impl Collector for AgentCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let targets: Vec<Snapshot> = self.0.targets().iter().map(|t| Snapshot::of(t)).collect();
        let g = MetricType::Gauge;
        let c = MetricType::Counter;
        let secs = Unit::Seconds;

        let mut m = enc.encode_descriptor(
            "goroscope_build",
            "goroscope's version.",
            None,
            MetricType::Info,
        )?;
        m.encode_info(&vec![("version", env!("CARGO_PKG_VERSION"))])?;

        family(&mut enc, "goroscope_goroutines",
            "Goroutines by state and block class in the target's latest profile or dump (profiles cannot tell running from runnable: on_cpu).",
            None, g, &targets, |m, t| {
                let Some(l) = &t.latest else { return Ok(()) };
                let mut by = std::collections::BTreeMap::new();
                for s in &l.report.series {
                    *by.entry((s.state, s.block_class)).or_insert(0u64) += s.count;
                }
                for ((state, class), n) in by {
                    gauge(m, &t.with(&[("state", state.as_str()), ("block_class", class.as_str())]), n as f64)?;
                }
                Ok(())
            })?;
        family(&mut enc, "goroscope_goroutines_by_origin",
            "Goroutines of the program (user) and of the runtime's own services (runtime), latest collection.",
            None, g, &targets, |m, t| {
                let Some(l) = &t.latest else { return Ok(()) };
                for (origin, n) in &l.report.origins {
                    gauge(m, &t.with(&[("origin", origin)]), *n as f64)?;
                }
                Ok(())
            })?;
        family(
            &mut enc,
            "goroscope_goroutines_by_depth",
            "Goroutines by stack depth bucket (frames), latest collection.",
            None,
            g,
            &targets,
            |m, t| {
                let Some(l) = &t.latest else { return Ok(()) };
                for (depth, n) in &l.report.depth_buckets {
                    gauge(m, &t.with(&[("depth", depth)]), *n as f64)?;
                }
                Ok(())
            },
        )?;
        family(&mut enc, "goroscope_goroutine_wait",
            "How long blocked goroutines had waited, by block class: every full dump observes each blocked goroutine once (whole minutes as the dump prints them; under a minute counts as 0).",
            Some(&secs), MetricType::Histogram, &targets, |m, t| {
                for (class, h) in &t.waits {
                    h.encode(m.encode_family(&t.with(&[("block_class", class.as_str())]))?)?;
                }
                Ok(())
            })?;
        family(&mut enc, "goroscope_group_goroutines",
            "Goroutines per stack signature, largest top-K groups of the latest collection; the rest are summed in signature=\"other\".",
            None, g, &targets, |m, t| {
                let Some(l) = &t.latest else { return Ok(()) };
                let shown = &l.report.groups[..l.report.groups.len().min(t.top_k)];
                for grp in shown {
                    let created_by = grp.created_by.as_ref().map_or(String::new(), |f| cut(&f.function));
                    let labels = t.with(&[
                        ("signature", &grp.signature),
                        ("top_function", &cut(&grp.top_function)),
                        ("created_by", &created_by),
                        ("block_class", grp.block_class.as_str()),
                    ]);
                    gauge(m, &labels, grp.count as f64)?;
                }
                let other = l.report.total - shown.iter().map(|g| g.count).sum::<u64>();
                let labels = t.with(&[("signature", "other"), ("top_function", ""), ("created_by", ""), ("block_class", "other")]);
                gauge(m, &labels, other as f64)
            })?;
        family(
            &mut enc,
            "goroscope_group_signatures",
            "Distinct stack signatures in the latest collection.",
            None,
            g,
            &targets,
            |m, t| match &t.latest {
                Some(l) => gauge(m, &t.labels, l.report.group_count as f64),
                None => Ok(()),
            },
        )?;
        family(
            &mut enc,
            "goroscope_group_signatures_folded",
            "Signatures folded into signature=\"other\" (beyond top-K), summed over collections.",
            None,
            c,
            &targets,
            |m, t| counter(m, &t.labels, t.folded_total),
        )?;

        family(
            &mut enc,
            "goroscope_leak_suspects",
            "Stack signatures the leak rule flags now (README \"Leak detection\").",
            None,
            g,
            &targets,
            |m, t| {
                gauge(
                    m,
                    &t.labels,
                    t.verdicts.iter().filter(|v| v.suspect).count() as f64,
                )
            },
        )?;
        family(&mut enc, "goroscope_leak_profile_goroutines",
            "Goroutines in the target's last goroutineleak profile (Go 1.26 with GOEXPERIMENT=goroutineleakprofile): proven leaked.",
            None, g, &targets, |m, t| match t.leak_profile {
                Some(n) => gauge(m, &t.labels, n as f64),
                None => Ok(()),
            })?;
        let suspects = |t: &Snapshot| -> Vec<(Labels, f64, f64)> {
            t.verdicts
                .iter()
                .filter(|v| v.suspect)
                .take(MAX_LEAK_SERIES)
                .map(|v| {
                    let (top, class) = v.group.as_ref().map_or((String::new(), "unknown"), |g| {
                        (cut(&g.top_function), g.block_class.as_str())
                    });
                    let labels = t.with(&[
                        ("signature", &v.signature),
                        ("top_function", &top),
                        ("block_class", class),
                    ]);
                    (labels, v.score, v.slope_per_snapshot * 60.0 / t.interval)
                })
                .collect()
        };
        family(
            &mut enc,
            "goroscope_leak_suspect_score",
            "Score (0 to 1) of the top leak suspects.",
            None,
            g,
            &targets,
            |m, t| {
                for (labels, score, _) in suspects(t) {
                    gauge(m, &labels, score)?;
                }
                Ok(())
            },
        )?;
        family(&mut enc, "goroscope_leak_suspect_growth_per_minute",
            "Growth of the top leak suspects, goroutines per minute (Theil-Sen slope of their counts).",
            None, g, &targets, |m, t| {
                for (labels, _, growth) in suspects(t) {
                    gauge(m, &labels, growth)?;
                }
                Ok(())
            })?;
        family(
            &mut enc,
            "goroscope_target_up",
            "1 when the target's last scrape succeeded.",
            None,
            g,
            &targets,
            |m, t| gauge(m, &t.labels, if t.up { 1.0 } else { 0.0 }),
        )?;
        family(
            &mut enc,
            "goroscope_target_last_success_timestamp",
            "When the target was last collected successfully (Unix time).",
            Some(&secs),
            g,
            &targets,
            |m, t| match t.last_success {
                Some(at) => gauge(m, &t.labels, at),
                None => Ok(()),
            },
        )?;
        family(
            &mut enc,
            "goroscope_target_restarts",
            "Target restarts seen (goroutine ids went back between two dumps).",
            None,
            c,
            &targets,
            |m, t| counter(m, &t.labels, t.restarts),
        )?;
        family(
            &mut enc,
            "goroscope_scrape_duration",
            "Duration of the target's last fetch and analysis, by what was collected.",
            Some(&secs),
            g,
            &targets,
            |m, t| {
                for (k, v) in &t.scrape_seconds {
                    gauge(m, &t.with(&[("mode", k.as_str())]), *v)?;
                }
                Ok(())
            },
        )?;
        family(
            &mut enc,
            "goroscope_scrape",
            "Bytes read from the target, by what was collected.",
            Some(&Unit::Bytes),
            c,
            &targets,
            |m, t| {
                for (k, v) in &t.bytes {
                    counter(m, &t.with(&[("mode", k.as_str())]), *v)?;
                }
                Ok(())
            },
        )?;
        family(&mut enc, "goroscope_scrape_errors",
            "Failed fetches or analyses, by kind (connect, timeout, http_status, not_pprof, too_large, read, config).",
            None, c, &targets, |m, t| {
                for (k, v) in &t.errors {
                    counter(m, &t.with(&[("kind", k.as_str())]), *v)?;
                }
                Ok(())
            })?;
        family(
            &mut enc,
            "goroscope_collections",
            "Collections by what ran (profile or dump) and why (README \"Collection policy\").",
            None,
            c,
            &targets,
            |m, t| {
                for ((k, r), v) in &t.collections {
                    counter(
                        m,
                        &t.with(&[("mode", k.as_str()), ("reason", r.as_str())]),
                        *v,
                    )?;
                }
                Ok(())
            },
        )?;
        family(&mut enc, "goroscope_collection_mode",
            "1 for what the latest goroutine series come from: profile (states inferred) or dump (exact).",
            None, g, &targets, |m, t| {
                let Some(chosen) = t.chosen else { return Ok(()) };
                for k in Kind::ALL {
                    gauge(m, &t.with(&[("mode", k.as_str())]), if k == chosen { 1.0 } else { 0.0 })?;
                }
                Ok(())
            })?;
        family(&mut enc, "goroscope_dump_pause_estimate",
            "Estimated stop-the-world of a full dump of the target now: learned cost per goroutine times its goroutines.",
            Some(&secs), g, &targets, |m, t| gauge(m, &t.labels, t.estimate))?;
        family(
            &mut enc,
            "goroscope_dump_cost_per_goroutine",
            "Learned cost of a full dump per goroutine (5 us until one was measured).",
            Some(&secs),
            g,
            &targets,
            |m, t| gauge(m, &t.labels, t.cost),
        )?;
        family(
            &mut enc,
            "goroscope_pause_budget",
            "The target's pause_budget: the longest stop-the-world a full dump may cost it (alert rules compare dumps with it).",
            Some(&secs),
            g,
            &targets,
            |m, t| gauge(m, &t.labels, t.budget),
        )?;
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
