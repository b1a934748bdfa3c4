//! OTLP export: the agent pushes the families of `/metrics` over OTLP/HTTP
//! (protobuf, `POST {endpoint}/v1/metrics`) every `interval`, built from
//! the same [`metrics::families`] list, so the two exports cannot disagree.
//!
//! Each target is one `ResourceMetrics`: the agent's resource attributes
//! (config, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`, the
//! Kubernetes downward-API variables) plus the target's own (its name,
//! `service.instance.id` = its host:port, its extra labels). Counters and
//! the wait-time histogram are cumulative sums since the agent began
//! watching the target. Names and units: README "OTLP export".

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::MetricType;
use prost::Message;

use super::config::Otlp;
use super::metrics::{self, Family, Snapshot, Value};
use super::target::log;
use super::Agent;

/// Hand-derived from opentelemetry-proto (`collector/metrics/v1/
/// metrics_service.proto`, `metrics/v1/metrics.proto`, `common/v1/
/// common.proto`, `resource/v1/resource.proto`): only the messages and
/// fields the agent writes; field numbers as there.
pub mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportMetricsServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub resource_metrics: Vec<ResourceMetrics>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportMetricsServiceResponse {
        #[prost(message, optional, tag = "1")]
        pub partial_success: Option<ExportMetricsPartialSuccess>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportMetricsPartialSuccess {
        #[prost(int64, tag = "1")]
        pub rejected_data_points: i64,
        #[prost(string, tag = "2")]
        pub error_message: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceMetrics {
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        #[prost(message, repeated, tag = "2")]
        pub scope_metrics: Vec<ScopeMetrics>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeMetrics {
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        #[prost(message, repeated, tag = "2")]
        pub metrics: Vec<Metric>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub description: String,
        #[prost(string, tag = "3")]
        pub unit: String,
        #[prost(oneof = "Data", tags = "5, 7, 9")]
        pub data: Option<Data>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Data {
        #[prost(message, tag = "5")]
        Gauge(Gauge),
        #[prost(message, tag = "7")]
        Sum(Sum),
        #[prost(message, tag = "9")]
        Histogram(Histogram),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Gauge {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<NumberDataPoint>,
    }

    /// `AggregationTemporality`: CUMULATIVE.
    pub const CUMULATIVE: i32 = 2;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sum {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<NumberDataPoint>,
        #[prost(int32, tag = "2")]
        pub aggregation_temporality: i32,
        #[prost(bool, tag = "3")]
        pub is_monotonic: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(message, repeated, tag = "1")]
        pub data_points: Vec<HistogramDataPoint>,
        #[prost(int32, tag = "2")]
        pub aggregation_temporality: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NumberDataPoint {
        #[prost(message, repeated, tag = "7")]
        pub attributes: Vec<KeyValue>,
        #[prost(fixed64, tag = "2")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "3")]
        pub time_unix_nano: u64,
        #[prost(oneof = "Number", tags = "4, 6")]
        pub value: Option<Number>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Number {
        #[prost(double, tag = "4")]
        AsDouble(f64),
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HistogramDataPoint {
        #[prost(message, repeated, tag = "9")]
        pub attributes: Vec<KeyValue>,
        #[prost(fixed64, tag = "2")]
        pub start_time_unix_nano: u64,
        #[prost(fixed64, tag = "3")]
        pub time_unix_nano: u64,
        #[prost(fixed64, tag = "4")]
        pub count: u64,
        #[prost(double, optional, tag = "5")]
        pub sum: Option<f64>,
        #[prost(fixed64, repeated, tag = "6")]
        pub bucket_counts: Vec<u64>,
        #[prost(double, repeated, tag = "7")]
        pub explicit_bounds: Vec<f64>,
        #[prost(message, repeated, tag = "8")]
        pub exemplars: Vec<Exemplar>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(message, repeated, tag = "7")]
        pub filtered_attributes: Vec<KeyValue>,
        #[prost(fixed64, tag = "2")]
        pub time_unix_nano: u64,
        #[prost(oneof = "ExemplarValue", tags = "3, 6")]
        pub value: Option<ExemplarValue>,
        #[prost(bytes = "vec", tag = "4")]
        pub span_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "5")]
        pub trace_id: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum ExemplarValue {
        #[prost(double, tag = "3")]
        AsDouble(f64),
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    /// A oneof even for strings only: an empty string must still be a
    /// set `string_value`, not an empty `AnyValue`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        #[prost(oneof = "Any", tags = "1")]
        pub value: Option<Any>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Any {
        #[prost(string, tag = "1")]
        StringValue(String),
    }
}

/// The instrumentation scope of everything the agent exports.
pub const SCOPE: &str = "goroscope";

fn kv(key: &str, value: &str) -> pb::KeyValue {
    pb::KeyValue {
        key: key.to_string(),
        value: Some(pb::AnyValue {
            value: Some(pb::Any::StringValue(value.to_string())),
        }),
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Kubernetes downward-API variables (README "Kubernetes") and the
/// resource attributes they become.
const KUBERNETES_ENV: &[(&str, &str)] = &[
    ("K8S_POD_NAME", "k8s.pod.name"),
    ("K8S_POD_UID", "k8s.pod.uid"),
    ("K8S_NAMESPACE_NAME", "k8s.namespace.name"),
    ("K8S_NODE_NAME", "k8s.node.name"),
    ("K8S_CONTAINER_NAME", "k8s.container.name"),
];

/// The agent-wide resource attributes, lowest precedence first: the
/// Kubernetes variables, `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k=v`,
/// percent-encoded values), `OTEL_SERVICE_NAME`, then the configuration's
/// `resource_attributes`. A later source wins for the same key.
pub fn agent_resource(
    configured: &[(String, String)],
    env: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| match out.iter_mut().find(|(key, _)| key == k) {
        Some(slot) => slot.1 = v.to_string(),
        None => out.push((k.to_string(), v.to_string())),
    };
    for (var, key) in KUBERNETES_ENV {
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            set(key, &v);
        }
    }
    if let Some(list) = env("OTEL_RESOURCE_ATTRIBUTES") {
        for pair in list.split(',') {
            if let Some((k, v)) = pair.split_once('=') {
                let (k, v) = (k.trim(), percent_decode(v.trim()));
                if !k.is_empty() {
                    set(k, &v);
                }
            }
        }
    }
    if let Some(v) = env("OTEL_SERVICE_NAME").filter(|v| !v.is_empty()) {
        set("service.name", &v);
    }
    for (k, v) in configured {
        set(k, v);
    }
    out
}

/// `%XX` escapes, as the OpenTelemetry resource variable allows; a broken
/// escape is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A target's resource: the agent's attributes, then its own: the
/// `goroscope.target` name, `service.instance.id` (its host:port) and
/// `service.name` (its name) unless given, and its extra labels.
fn target_resource(agent: &[(String, String)], t: &Snapshot) -> pb::Resource {
    let mut attrs: Vec<(String, String)> = agent.to_vec();
    let mut set =
        |k: &str, v: &str, overwrite: bool| match attrs.iter_mut().find(|(key, _)| key == k) {
            Some(slot) if overwrite => slot.1 = v.to_string(),
            Some(_) => {}
            None => attrs.push((k.to_string(), v.to_string())),
        };
    let authority = t
        .url
        .split_once("://")
        .map_or(t.url.as_str(), |(_, r)| r)
        .split('/')
        .next()
        .unwrap_or("");
    set("service.name", &t.name, false);
    set("service.instance.id", authority, false);
    for (k, v) in &t.extra {
        set(k, v, true);
    }
    set(metrics::otel_attribute("target"), &t.name, true);
    pb::Resource {
        attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
    }
}

/// A pprof-label exemplar as OTLP wants it: `trace_id`/`span_id` as raw
/// bytes when they are the hex of 16/8 bytes, everything else an
/// attribute.
fn exemplar(e: &super::target::WaitExemplar) -> pb::Exemplar {
    let mut out = pb::Exemplar {
        filtered_attributes: Vec::new(),
        time_unix_nano: nanos(e.at),
        value: Some(pb::ExemplarValue::AsDouble(e.seconds)),
        span_id: Vec::new(),
        trace_id: Vec::new(),
    };
    for (k, v) in &e.labels {
        let key = k.to_ascii_lowercase().replace([' ', '.', '-'], "_");
        match (key.as_str(), hex_bytes(v)) {
            ("trace_id" | "otel_trace_id", Some(b)) if b.len() == 16 => out.trace_id = b,
            ("span_id" | "otel_span_id", Some(b)) if b.len() == 8 => out.span_id = b,
            _ => out.filtered_attributes.push(kv(k, v)),
        }
    }
    out
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The OTLP request for these targets at `now`.
pub fn request(
    targets: &[Snapshot],
    families: &[Family],
    agent_resource: &[(String, String)],
    now: SystemTime,
) -> pb::ExportMetricsServiceRequest {
    let now = nanos(now);
    let resource_metrics = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let start = nanos(t.since);
            let metrics = families
                .iter()
                .filter_map(|f| {
                    let points = f.points.iter().filter(|p| p.target == i);
                    let attrs = |p: &metrics::Point| -> Vec<pb::KeyValue> {
                        p.labels
                            .iter()
                            .map(|(k, v)| kv(metrics::otel_attribute(k), v))
                            .collect()
                    };
                    let number = |p: &metrics::Point, start: u64| pb::NumberDataPoint {
                        attributes: attrs(p),
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        value: Some(match &p.value {
                            Value::Counter(v) => {
                                pb::Number::AsInt(i64::try_from(*v).unwrap_or(i64::MAX))
                            }
                            Value::Gauge(v) => pb::Number::AsDouble(*v),
                            Value::Histogram(_) => pb::Number::AsDouble(f64::NAN),
                        }),
                    };
                    let data = match f.ty {
                        MetricType::Counter => pb::Data::Sum(pb::Sum {
                            data_points: points.map(|p| number(p, start)).collect(),
                            aggregation_temporality: pb::CUMULATIVE,
                            is_monotonic: true,
                        }),
                        MetricType::Histogram => pb::Data::Histogram(pb::Histogram {
                            data_points: points
                                .filter_map(|p| match &p.value {
                                    Value::Histogram(h) => Some(pb::HistogramDataPoint {
                                        attributes: attrs(p),
                                        start_time_unix_nano: start,
                                        time_unix_nano: now,
                                        count: h.count,
                                        sum: Some(h.sum),
                                        bucket_counts: h.counts.clone(),
                                        explicit_bounds: h.bounds.to_vec(),
                                        exemplars: h
                                            .exemplars
                                            .iter()
                                            .flatten()
                                            .map(exemplar)
                                            .collect(),
                                    }),
                                    _ => None,
                                })
                                .collect(),
                            aggregation_temporality: pb::CUMULATIVE,
                        }),
                        _ => pb::Data::Gauge(pb::Gauge {
                            data_points: points.map(|p| number(p, 0)).collect(),
                        }),
                    };
                    let empty = match &data {
                        pb::Data::Gauge(g) => g.data_points.is_empty(),
                        pb::Data::Sum(s) => s.data_points.is_empty(),
                        pb::Data::Histogram(h) => h.data_points.is_empty(),
                    };
                    (!empty).then(|| pb::Metric {
                        name: f.otel_name.to_string(),
                        description: f.help.to_string(),
                        unit: f.otel_unit.to_string(),
                        data: Some(data),
                    })
                })
                .collect();
            pb::ResourceMetrics {
                resource: Some(target_resource(agent_resource, t)),
                scope_metrics: vec![pb::ScopeMetrics {
                    scope: Some(pb::InstrumentationScope {
                        name: SCOPE.to_string(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                    }),
                    metrics,
                }],
            }
        })
        .collect();
    pb::ExportMetricsServiceRequest { resource_metrics }
}

/// Pushes every `interval` until the agent stops. Failures are logged and
/// counted; the next push sends the then-current values (cumulative, so
/// nothing is lost but resolution).
pub fn run(agent: Arc<Agent>) {
    // One HTTP client while the timeout stays: its connection to the
    // collector is reused from push to push.
    let mut client: Option<(std::time::Duration, ureq::Agent)> = None;
    loop {
        // Without an endpoint, look again now and then: a reload may add
        // one.
        let wait = agent.otlp().map_or(Duration::from_secs(1), |o| o.interval);
        if agent.wait_stop(wait) {
            return;
        }
        let Some(otlp) = agent.otlp() else { continue };
        if client.as_ref().is_none_or(|(t, _)| *t != otlp.timeout) {
            client = Some((otlp.timeout, http_client(otlp.timeout)));
        }
        let Some((_, c)) = &client else { continue };
        let outcome = push(&agent, c, &otlp);
        agent.count_otlp(outcome.is_ok());
        if let Err(e) = outcome {
            log(
                "",
                &format!(
                    "level=warn msg=\"OTLP export failed\" endpoint={} error={:?}",
                    otlp.endpoint, e
                ),
            );
        }
    }
}

fn push(agent: &Agent, client: &ureq::Agent, otlp: &Otlp) -> Result<(), String> {
    let targets = metrics::snapshots(agent);
    let families = metrics::families(&targets);
    let resource = agent_resource(&otlp.resource_attributes, |k| std::env::var(k).ok());
    let body = request(&targets, &families, &resource, SystemTime::now()).encode_to_vec();
    send(client, otlp, &body)
}

/// A client for the collector: answers of any status are read (a
/// rejection's body says why).
pub fn http_client(timeout: std::time::Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// One POST of an encoded request; the answer's partial success, if any,
/// is an error naming what was rejected.
pub fn send(client: &ureq::Agent, otlp: &Otlp, body: &[u8]) -> Result<(), String> {
    let mut req = client
        .post(&otlp.endpoint)
        .header("Content-Type", "application/x-protobuf");
    for (k, v) in &otlp.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let mut resp = req.send(body).map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let answer = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .unwrap_or_default();
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(&answer);
        return Err(format!(
            "HTTP {status} from the OTLP endpoint: {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    match pb::ExportMetricsServiceResponse::decode(answer.as_slice()) {
        Ok(pb::ExportMetricsServiceResponse {
            partial_success: Some(p),
        }) if p.rejected_data_points > 0 => Err(format!(
            "the receiver rejected {} data points: {}",
            p.rejected_data_points, p.error_message
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_attribute_sources_in_precedence_order() {
        let env = |k: &str| -> Option<String> {
            match k {
                "K8S_POD_NAME" => Some("api-7d9f".into()),
                "K8S_NAMESPACE_NAME" => Some("shop".into()),
                "OTEL_RESOURCE_ATTRIBUTES" => Some(
                    "deployment.environment=prod,team=pay%20ments,k8s.pod.name=overridden".into(),
                ),
                "OTEL_SERVICE_NAME" => Some("checkout".into()),
                _ => None,
            }
        };
        let got = agent_resource(&[("team".into(), "payments".into())], env);
        let get = |k: &str| {
            got.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("k8s.pod.name"), Some("overridden"));
        assert_eq!(get("k8s.namespace.name"), Some("shop"));
        assert_eq!(get("deployment.environment"), Some("prod"));
        assert_eq!(get("service.name"), Some("checkout"));
        assert_eq!(get("team"), Some("payments"));
        assert_eq!(percent_decode("a%2Cb%zz"), "a,b%zz");
    }

    #[test]
    fn trace_labels_become_trace_and_span_ids() {
        let e = super::super::target::WaitExemplar {
            labels: vec![
                ("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into()),
                ("span_id".into(), "00f067aa0ba902b7".into()),
                ("user".into(), "42".into()),
            ],
            seconds: 120.0,
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
        };
        let x = exemplar(&e);
        assert_eq!(x.trace_id.len(), 16);
        assert_eq!(x.trace_id[0], 0x4b);
        assert_eq!(x.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert_eq!(x.filtered_attributes, vec![kv("user", "42")]);
        assert_eq!(x.time_unix_nano, 1_000_000_000);
        // Not hex of the right size: kept as an attribute.
        let odd = super::super::target::WaitExemplar {
            labels: vec![("trace_id".into(), "abc".into())],
            ..e
        };
        assert!(exemplar(&odd).trace_id.is_empty());
    }
}
