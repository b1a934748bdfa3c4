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
                return json(200, &super::leaks::explain(&t));
            }
            let latest = lock(&t.status).latest.clone();
            match latest {
                Some(l) => json(200, &l.report),
                None => error(503, &format!("target {name:?} has not been collected yet")),
            }
        }
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
