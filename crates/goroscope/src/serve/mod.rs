//! `goroscope serve`: the sidecar agent. It scrapes many Go targets, each on
//! its own thread and schedule ([`target`]), within a pause budget
//! ([`policy`]), and serves what it learns as metrics and JSON ([`http`],
//! [`metrics`]). SIGTERM/SIGINT stop it cleanly; SIGHUP reloads the
//! configuration file, keeping the state of every target that keeps its
//! name.

pub mod config;
pub mod http;
pub mod leaks;
pub mod metrics;
pub mod otlp;
pub mod policy;
pub mod target;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use config::Config;
use target::{log, TargetState};

/// The agent's shared state: its targets and its OTLP export.
#[derive(Debug, Default)]
pub struct Agent {
    targets: RwLock<Vec<Arc<TargetState>>>,
    otlp: RwLock<Option<config::Otlp>>,
    /// OTLP pushes that succeeded and failed.
    otlp_exports: [AtomicU64; 2],
    stopping: Mutex<bool>,
    wake: Condvar,
}

impl Agent {
    /// The targets now (a reload may change the set).
    pub fn targets(&self) -> Vec<Arc<TargetState>> {
        self.targets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The OTLP export now, if configured.
    pub fn otlp(&self) -> Option<config::Otlp> {
        self.otlp
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_otlp(&self, otlp: Option<config::Otlp>) {
        *self
            .otlp
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = otlp;
    }

    /// Counts one OTLP push.
    pub fn count_otlp(&self, ok: bool) {
        self.otlp_exports[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// OTLP pushes so far: (succeeded, failed).
    pub fn otlp_exports(&self) -> (u64, u64) {
        (
            self.otlp_exports[0].load(Ordering::Relaxed),
            self.otlp_exports[1].load(Ordering::Relaxed),
        )
    }

    /// Sleeps `d` or until the agent stops; true when it stops.
    pub fn wait_stop(&self, d: Duration) -> bool {
        let stopping = self
            .stopping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (stopping, _) = self
            .wake
            .wait_timeout_while(stopping, d, |s| !*s)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *stopping
    }

    fn stop(&self) {
        *self
            .stopping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.wake.notify_all();
    }
}

/// Where the configuration comes from, to reload it.
pub enum Source {
    Flags(Box<Config>),
    File {
        path: std::path::PathBuf,
        listen: Option<String>,
        flags: Box<config::Settings>,
        otlp: Box<config::OtlpSettings>,
    },
}

impl Source {
    /// The configuration as it reads now.
    pub fn load(&self) -> Result<Config, config::ConfigError> {
        match self {
            Source::Flags(c) => Ok((**c).clone()),
            Source::File {
                path,
                listen,
                flags,
                otlp,
            } => config::load(path, listen.as_deref(), flags, otlp),
        }
    }
}

struct Running {
    state: Arc<TargetState>,
    thread: JoinHandle<()>,
}

fn start(state: Arc<TargetState>) -> Running {
    let s = state.clone();
    let name = state.config().name;
    let thread = std::thread::Builder::new()
        .name(format!("scrape {name}"))
        .stack_size(256 << 10)
        .spawn(move || s.run())
        .unwrap_or_else(|e| panic!("cannot start a thread for target {name}: {e}"));
    Running { state, thread }
}

/// Applies a configuration: targets that keep their name keep their state
/// (and thread: the next scrape uses the new settings); new ones start;
/// gone ones stop.
fn apply(agent: &Agent, running: &mut Vec<Running>, config: &Config) {
    let mut next = Vec::new();
    let mut old: Vec<Running> = std::mem::take(running);
    for t in &config.targets {
        match old.iter().position(|r| r.state.config().name == t.name) {
            Some(i) => {
                let r = old.swap_remove(i);
                r.state.set_config(t.clone());
                next.push(r);
            }
            None => next.push(start(TargetState::new(t.clone()))),
        }
    }
    for r in &old {
        r.state.stop();
    }
    for r in old {
        let _ = r.thread.join();
    }
    *agent
        .targets
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        next.iter().map(|r| r.state.clone()).collect();
    *running = next;
}

/// Runs the agent until SIGTERM or SIGINT; `on_ready` learns the address
/// it serves on once it listens and its targets are started.
pub fn run(source: Source, on_ready: impl FnOnce(&str)) -> anyhow::Result<ExitCode> {
    let config = source.load()?;
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .context("cannot install the signal handlers")?;
    let server = tiny_http::Server::http(&config.listen)
        .map(Arc::new)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e}: pick a free address with --listen",
                config.listen
            )
        })?;
    let agent = Arc::new(Agent::default());
    let registry = Arc::new(metrics::registry(agent.clone()));
    let mut http_threads = Vec::new();
    // Two: a slow client cannot hold /metrics for everyone.
    for i in 0..2 {
        let (s, a, r) = (server.clone(), agent.clone(), registry.clone());
        http_threads.push(
            std::thread::Builder::new()
                .name(format!("http {i}"))
                .stack_size(256 << 10)
                .spawn(move || http::serve(s, a, r))
                .context("cannot start the HTTP threads")?,
        );
    }
    let mut running = Vec::new();
    apply(&agent, &mut running, &config);
    // One exporter thread for the agent's life: a reload that adds or
    // drops the endpoint is seen at its next wake-up.
    agent.set_otlp(config.otlp.clone());
    let exporter = {
        let a = agent.clone();
        std::thread::Builder::new()
            .name("otlp".into())
            .stack_size(256 << 10)
            .spawn(move || otlp::run(a))
            .context("cannot start the OTLP thread")?
    };
    // The bound address: `--listen 127.0.0.1:0` picks a free port, and
    // whoever started the agent learns which from this line.
    let bound = server
        .server_addr()
        .to_ip()
        .map_or_else(|| config.listen.clone(), |a| a.to_string());
    log(
        "",
        &format!(
            "level=info msg=\"goroscope {} listening\" addr={bound} targets={}",
            env!("CARGO_PKG_VERSION"),
            config.targets.len()
        ),
    );
    on_ready(&bound);
    for sig in signals.forever() {
        match sig {
            SIGHUP => match source.load() {
                Ok(c) => {
                    if c.listen != config.listen {
                        log("", "level=warn msg=\"listen changed: restart the agent to move it\"");
                    }
                    apply(&agent, &mut running, &c);
                    agent.set_otlp(c.otlp.clone());
                    log("", &format!("level=info msg=\"configuration reloaded\" targets={}", c.targets.len()));
                }
                Err(e) => log("", &format!("level=error msg=\"reload refused, keeping the running configuration\" error={:?}", e.to_string())),
            },
            _ => break,
        }
    }
    log("", "level=info msg=\"shutting down\"");
    agent.stop();
    let _ = exporter.join();
    for r in &running {
        r.state.stop();
    }
    for r in running {
        let _ = r.thread.join();
    }
    server.unblock();
    server.unblock();
    for t in http_threads {
        let _ = t.join();
    }
    Ok(ExitCode::SUCCESS)
}
