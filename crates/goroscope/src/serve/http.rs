//! The agent's HTTP side: `/metrics`, `/healthz`, `/readyz` and the JSON API.
//! Read-only: nothing a caller sends chooses what the agent fetches.

use std::io::Cursor;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use serde::Serialize;
use tiny_http::{Header, Method, Request, Response};

use super::target::lock;
use super::Agent;

type Answer = Response<Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn text(status: u16, content_type: &str, body: String) -> Answer {
    let mut r = Response::from_data(body.into_bytes()).with_status_code(status);
    if let Some(h) = header("Content-Type", content_type) {
        r.add_header(h);
    }
    r
}

fn json<T: Serialize>(status: u16, value: &T) -> Answer {
    let body = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
    text(status, "application/json", body + "\n")
}

fn error(status: u16, message: &str) -> Answer {
    json(status, &serde_json::json!({ "error": message }))
}

/// Answers requests until the server is unblocked.
pub fn serve(server: Arc<tiny_http::Server>, agent: Arc<Agent>, registry: Arc<Registry>) {
    while let Ok(req) = server.recv() {
        let answer = route(&req, &agent, &registry);
        // A client gone before the answer is not the agent's problem.
        let _ = req.respond(answer);
    }
}

#[derive(Serialize)]
struct TargetView {
    name: String,
    url: String,
    labels: std::collections::BTreeMap<String, String>,
    mode: &'static str,
    interval_seconds: f64,
    up: bool,
    scraped: bool,
    last_success_unix: Option<f64>,
    last_error: Option<String>,
    goroutines: Option<u64>,
    collected: Option<&'static str>,
    last_reason: Option<&'static str>,
    estimated_dump_pause_seconds: Option<f64>,
    errors: std::collections::BTreeMap<&'static str, u64>,
}

fn route(req: &Request, agent: &Agent, registry: &Registry) -> Answer {
    if !matches!(req.method(), Method::Get | Method::Head) {
        return error(405, "only GET and HEAD are served");
    }
    let path = req.url().split('?').next().unwrap_or("");
    match path {
        "/metrics" => {
            let accept = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Accept"))
                .map(|h| h.value.as_str());
            let (openmetrics, content_type) = super::metrics::negotiate(accept);
            text(200, content_type, super::metrics::encode(registry, openmetrics))
        }
        "/healthz" => text(200, "text/plain", "ok\n".into()),
        "/readyz" => {
            let pending: Vec<String> = agent
                .targets()
                .iter()
                .filter(|t| !lock(&t.status).first_done)
                .map(|t| t.config().name)
                .collect();
            if pending.is_empty() {
                text(200, "text/plain", "ready\n".into())
            } else {
                text(503, "text/plain", format!("waiting for the first scrape of: {}\n", pending.join(", ")))
            }
        }
        "/api/v1/targets" => {
            let views: Vec<TargetView> = agent.targets().iter().map(|t| view(t)).collect();
            json(200, &views)
        }
        "/" => text(
            200,
            "text/plain",
            "goroscope agent: /metrics, /healthz, /readyz, /api/v1/targets, /api/v1/targets/{name}/snapshot, /api/v1/targets/{name}/leaks\n".into(),
        ),
        _ => {
            let Some((name, page)) = path
                .strip_prefix("/api/v1/targets/")
                .and_then(|r| r.rsplit_once('/'))
            else {
                return error(404, "no such page: see /");
            };
            if page != "snapshot" && page != "leaks" {
                return error(404, "no such page: see /");
            }
            let Some(t) = agent.targets().into_iter().find(|t| t.config().name == name) else {
                return error(404, &format!("no target named {name:?}: see /api/v1/targets"));
            };
            if page == "leaks" {
                return json(200, &leaks(&t));
            }
            let latest = lock(&t.status).latest.clone();
            match latest {
                Some(l) => json(200, &l.report),
                None => error(503, &format!("target {name:?} has not been collected yet")),
            }
        }
    }
}

/// One leak suspect explained: from the metric to the code to the request.
#[derive(Serialize)]
struct Suspect {
    signature: String,
    score: f64,
    /// Goroutines per minute (Theil-Sen slope of the counts).
    growth_per_minute: f64,
    /// Counts at the last scrapes, oldest first.
    counts: Vec<u64>,
    goroutines: u64,
    block_class: &'static str,
    top_function: String,
    /// The innermost frame of the program's code: where they block.
    blocked_in: Option<goroscope_core::analyze::FrameOut>,
    /// The `go` statement that creates them (from dumps).
    created_by: Option<goroscope_core::analyze::FrameOut>,
    /// Evidence of age: how long it has been tracked, and the longest wait
    /// a dump printed.
    tracked_seconds: f64,
    wait_minutes_max: Option<u32>,
    /// Why the rule flags it.
    trend_z: f64,
    min_rising: bool,
    wait_rising: bool,
    proven_leaked: u64,
    sample_ids: Vec<u64>,
    trace_ids: Vec<goroscope_core::analyze::TraceId>,
    frames: Vec<goroscope_core::analyze::FrameOut>,
}

#[derive(Serialize)]
struct Leaks {
    target: String,
    /// Scrapes scored since the agent started or the target restarted.
    scrapes: u64,
    interval_seconds: f64,
    suspects: Vec<Suspect>,
}

fn leaks(t: &super::target::TargetState) -> Leaks {
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
                        .find(|f| !goroscope_core::analyze::hidden_in_dumps(&f.function))
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

fn view(t: &super::target::TargetState) -> TargetView {
    let c = t.config();
    let s = lock(&t.status);
    let goroutines = s.latest.as_ref().map(|l| l.report.total);
    TargetView {
        name: c.name.clone(),
        url: c.url.clone(),
        labels: c.labels.clone(),
        mode: c.mode.as_str(),
        interval_seconds: c.interval.as_secs_f64(),
        up: s.up,
        scraped: s.first_done,
        last_success_unix: s.last_success.and_then(|t| {
            t.duration_since(std::time::SystemTime::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs_f64())
        }),
        last_error: s.last_error.clone(),
        goroutines,
        collected: s.latest.as_ref().map(|l| l.kind.as_str()),
        last_reason: s.decision.map(|d| d.reason.as_str()),
        estimated_dump_pause_seconds: goroutines.map(|n| s.policy.estimate(n).as_secs_f64()),
        errors: s.errors.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
    }
}
