//! One watched Go service: its scrape loop (own thread, own schedule, own
//! timeout, so a dead or hung target delays no other) and what the agent
//! knows of it (status, counters, the latest analysis, the wait-time
//! histogram). Everything here survives a config reload for a target that
//! keeps its name.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use goroscope_core::analyze::{CensusOptions, Report};
use goroscope_core::model::BlockClass;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;

use super::config::Target;
use super::policy::{Decision, Policy, Reason};
use crate::analysis::{self, WAIT_BUCKETS};
use crate::fetch::{self, ErrorKind, FetchError};

/// Groups kept in a target's snapshot (`/api/v1/targets/{name}/snapshot`):
/// its `group_count` still counts them all.
pub const SNAPSHOT_GROUPS: usize = 100;

/// What a collection read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `/debug/pprof/goroutine` (debug=0).
    Profile,
    /// `/debug/pprof/goroutine?debug=2`.
    Dump,
}

impl Kind {
    /// Both kinds.
    pub const ALL: [Kind; 2] = [Kind::Profile, Kind::Dump];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Profile => "profile",
            Kind::Dump => "dump",
        }
    }

    fn fetch_mode(self) -> fetch::Mode {
        match self {
            Kind::Profile => fetch::Mode::Profile,
            Kind::Dump => fetch::Mode::Dump,
        }
    }
}

/// A cumulative histogram of blocked goroutines' wait times (one block
/// class): every dump observes every blocked goroutine once; the last one
/// per bucket with trace labels is its exemplar.
///
/// prometheus-client encodes `prom` (exemplars included) but does not let
/// its bucket counts be read, which OTLP needs: the same observations are
/// kept beside it, updated together.
#[derive(Debug, Clone)]
pub struct WaitHistogram {
    /// Upper bounds of the buckets (seconds), +Inf implied.
    pub bounds: &'static [f64],
    /// prometheus-client's histogram, which carries the exemplars (none
    /// for histograms without them: those are encoded from `counts`).
    pub prom: Option<HistogramWithExemplars<Vec<(String, String)>>>,
    /// Observations per bucket (not cumulative): `bounds`, then +Inf.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    /// The latest exemplar of each bucket: trace labels, value, when.
    pub exemplars: Vec<Option<WaitExemplar>>,
}

/// One exemplar of [`WaitHistogram`].
#[derive(Debug, Clone, PartialEq)]
pub struct WaitExemplar {
    pub labels: Vec<(String, String)>,
    pub seconds: f64,
    pub at: SystemTime,
}

impl Default for WaitHistogram {
    fn default() -> Self {
        WaitHistogram::new(&WAIT_BUCKETS)
    }
}

impl WaitHistogram {
    /// An empty histogram with these bucket bounds (seconds).
    pub fn new(bounds: &'static [f64]) -> Self {
        WaitHistogram {
            bounds,
            prom: Some(HistogramWithExemplars::new(bounds.iter().copied())),
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
            exemplars: vec![None; bounds.len() + 1],
        }
    }
}

impl WaitHistogram {
    /// A histogram without exemplars.
    pub fn plain(bounds: &'static [f64]) -> Self {
        WaitHistogram {
            prom: None,
            ..WaitHistogram::new(bounds)
        }
    }

    /// Counts one observation (seconds), without exemplar.
    pub fn observe_plain(&mut self, seconds: f64) {
        observe(self, seconds, &[]);
    }

    /// Adds another plain histogram of the same buckets.
    pub fn merge(&mut self, other: &WaitHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// The `state` label of a trace interval: the four states a goroutine
/// spends time in (README "Metrics"), others none.
pub fn trace_state(s: goroscope_core::trace::GoState) -> Option<&'static str> {
    use goroscope_core::trace::GoState;
    match s {
        GoState::Running => Some("running"),
        GoState::Runnable => Some("runnable"),
        GoState::Waiting => Some("waiting"),
        GoState::Syscall => Some("syscall"),
        _ => None,
    }
}

/// Buckets of the trace window's histograms (seconds): state intervals and
/// scheduler latency, from microseconds to the window's length.
pub const TRACE_BUCKETS: [f64; 6] = [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0];

/// OpenMetrics allows 128 characters of exemplar labels.
const MAX_EXEMPLAR_CHARS: usize = 128;

fn observe(h: &mut WaitHistogram, seconds: f64, trace: &[(String, String)]) {
    let chars: usize = trace.iter().map(|(k, v)| k.len() + v.len()).sum();
    let exemplar = (!trace.is_empty() && chars <= MAX_EXEMPLAR_CHARS).then(|| trace.to_vec());
    // Prometheus' `le`: the first bucket whose bound is not below it.
    let bucket = h
        .bounds
        .iter()
        .position(|&b| seconds <= b)
        .unwrap_or(h.bounds.len());
    h.counts[bucket] += 1;
    h.sum += seconds;
    h.count += 1;
    if let Some(labels) = &exemplar {
        h.exemplars[bucket] = Some(WaitExemplar {
            labels: labels.clone(),
            seconds,
            at: SystemTime::now(),
        });
    }
    if let Some(p) = &h.prom {
        p.observe(seconds, exemplar, None);
    }
}

/// The latest successful collection.
#[derive(Debug)]
pub struct Latest {
    pub kind: Kind,
    pub report: Report,
}

/// What the agent knows of a target.
#[derive(Debug, Default)]
pub struct Status {
    /// The last scrape succeeded.
    pub up: bool,
    /// The first scrape is over (either way): for /readyz.
    pub first_done: bool,
    pub last_success: Option<SystemTime>,
    pub last_error: Option<String>,
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Duration of the last fetch+analysis, per kind.
    pub scrape_seconds: BTreeMap<Kind, f64>,
    pub bytes: BTreeMap<Kind, u64>,
    /// Collections by what ran and why.
    pub collections: BTreeMap<(Kind, Reason), u64>,
    /// The last scrape's decision.
    pub decision: Option<Decision>,
    pub policy: Policy,
    pub latest: Option<Arc<Latest>>,
    pub waits: BTreeMap<BlockClass, WaitHistogram>,
    /// Signatures folded into `other`, summed over scrapes.
    pub folded_total: u64,
    pub restarts: u64,
    /// Leak scoring over this target's scrapes (README "Leak detection").
    pub leaks: goroscope_core::leak::Tracker,
    /// The tracker's judgement after the last scrape, best first.
    pub verdicts: Arc<Vec<goroscope_core::leak::Verdict>>,
    /// Whether the target serves the goroutineleak profile (unknown until
    /// asked).
    pub leak_profile_supported: Option<bool>,
    last_leak_profile: Option<Instant>,
    /// Goroutines in the last goroutineleak profile.
    pub leak_profile_goroutines: Option<u64>,
    /// Execution trace windows: whole intervals per state and block
    /// class, scheduler latency, windows taken (README "Execution trace
    /// windows").
    pub trace_states: BTreeMap<(&'static str, BlockClass), WaitHistogram>,
    pub sched_latency: Option<WaitHistogram>,
    pub trace_windows: u64,
    last_trace: Option<Instant>,
    /// Largest goroutine id of the last dump.
    last_max_id: Option<u64>,
    /// How long the last profile request took (the round trip a dump pays
    /// too).
    profile_took: Duration,
}

/// A target and its state, shared by its scrape thread, the HTTP server and
/// reloads.
#[derive(Debug)]
pub struct TargetState {
    /// When the agent began watching it: the start of its cumulative
    /// series (OTLP's start_time_unix_nano).
    pub since: SystemTime,
    config: Mutex<Target>,
    pub status: Mutex<Status>,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl TargetState {
    /// A target not scraped yet.
    pub fn new(config: Target) -> Arc<Self> {
        Arc::new(Self {
            since: SystemTime::now(),
            config: Mutex::new(config),
            status: Mutex::new(Status::default()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        })
    }

    /// Its configuration now.
    pub fn config(&self) -> Target {
        lock(&self.config).clone()
    }

    /// A reload's new settings for the same name; the next scrape uses them.
    pub fn set_config(&self, config: Target) {
        *lock(&self.config) = config;
    }

    /// Ends the scrape loop (after the scrape in progress, if any).
    pub fn stop(&self) {
        *lock(&self.stop) = true;
        self.wake.notify_all();
    }

    /// Sleeps until `until` or a stop; true when stopped.
    fn sleep_until(&self, until: Instant) -> bool {
        let mut stopped = lock(&self.stop);
        loop {
            if *stopped {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, until - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// The scrape loop: runs on its own thread until [`Self::stop`].
    pub fn run(self: Arc<Self>) {
        self.load_state(&self.config());
        let mut scrapes = 0u64;
        let mut rng = fastrand::Rng::new();
        // One HTTP client per target, kept while its TLS and timeout
        // settings stay: its connection is reused (no handshake per
        // scrape, on either side) and its roots are parsed once.
        let mut client: Option<((Duration, Option<std::path::PathBuf>), ureq::Agent)> = None;
        loop {
            let started = Instant::now();
            let config = self.config();
            let key = (config.timeout, config.ca_cert.clone());
            if client.as_ref().is_none_or(|(k, _)| *k != key) {
                client = match fetch::client(&options(&config)) {
                    Ok(c) => Some((key, c)),
                    Err(e) => {
                        self.failed(&config, e);
                        None
                    }
                };
            }
            if let Some((_, c)) = &client {
                self.scrape(&config, c, &mut rng);
            }
            scrapes += 1;
            if scrapes.is_multiple_of(SAVE_EVERY) {
                self.save_state(&config);
            }
            if self.sleep_until(started + config.interval) {
                self.save_state(&config);
                return;
            }
        }
    }

    /// Resumes the leak history saved by an earlier agent. A file that is
    /// not a goroscope state for this target (corrupt, foreign, another
    /// version) is renamed aside with a warning, never fatal.
    fn load_state(&self, t: &Target) {
        let Some(path) = state_path(t) else { return };
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                log(
                    &t.name,
                    &format!(
                        "level=warn msg=\"cannot read the saved state\" path={:?} error={:?}",
                        path.display().to_string(),
                        e.to_string()
                    ),
                );
                return;
            }
        };
        let resumed = serde_json::from_slice::<SavedTarget>(&text)
            .map_err(|e| e.to_string())
            .and_then(|s| {
                if s.format != STATE_FORMAT {
                    return Err(format!(
                        "not a goroscope agent state (format {:?})",
                        s.format
                    ));
                }
                if s.target != t.name {
                    return Err(format!("the state of another target ({:?})", s.target));
                }
                let tracker = goroscope_core::leak::Tracker::restore(s.leaks)?;
                Ok((tracker, s.last_max_id))
            });
        match resumed {
            Ok((tracker, last_max_id)) => {
                let mut status = lock(&self.status);
                log(
                    &t.name,
                    &format!(
                        "level=info msg=\"leak history resumed\" scrapes={}",
                        tracker.snapshots()
                    ),
                );
                status.leaks = tracker;
                status.last_max_id = last_max_id;
            }
            Err(why) => {
                let stamp = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let aside = path.with_extension(format!("json.corrupt-{stamp}"));
                let moved = std::fs::rename(&path, &aside).is_ok();
                log(
                    &t.name,
                    &format!(
                        "level=warn msg=\"saved state refused; starting afresh\" path={:?} reason={why:?} set_aside={:?}",
                        path.display().to_string(),
                        if moved { aside.display().to_string() } else { "no (rename failed)".into() }
                    ),
                );
            }
        }
    }

    /// Saves the leak history atomically (a temporary file renamed over the
    /// old one): a crash leaves the old state or the new, never half.
    fn save_state(&self, t: &Target) {
        let Some(path) = state_path(t) else { return };
        let saved = {
            let status = lock(&self.status);
            SavedTarget {
                format: STATE_FORMAT.to_string(),
                target: t.name.clone(),
                last_max_id: status.last_max_id,
                leaks: status.leaks.save(),
            }
        };
        let tmp = path.with_extension("json.tmp");
        let result = (|| -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::File::create(&tmp)?;
            serde_json::to_writer(&mut f, &saved)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            log(
                &t.name,
                &format!(
                    "level=warn msg=\"cannot save the state\" path={:?} error={:?}",
                    path.display().to_string(),
                    e.to_string()
                ),
            );
        }
    }

    /// One scheduled scrape: what `mode` and the policy call for.
    fn scrape(&self, t: &Target, client: &ureq::Agent, rng: &mut fastrand::Rng) {
        let opts = options(t);
        let result = (|| {
            if t.mode == super::config::Mode::Dump {
                let decision = lock(&self.status)
                    .policy
                    .decide(t, Instant::now(), 0, 0.0, 0.0);
                return self.collect(client, t, &opts, Kind::Dump, decision);
            }
            let decision = Decision {
                dump: false,
                reason: Reason::Scheduled,
                estimate: Duration::ZERO,
            };
            let goroutines = self.collect(client, t, &opts, Kind::Profile, decision)?;
            let decision = {
                let status = lock(&self.status);
                status
                    .policy
                    .decide(t, Instant::now(), goroutines, rng.f64(), rng.f64())
            };
            if !decision.dump {
                self.record_decision(t, Kind::Profile, decision, goroutines);
                return Ok(goroutines);
            }
            // The profile is in: a failed dump is counted, not a target
            // down. A dump that timed out cost at least the timeout: the
            // policy learns that, so it does not try again at this size.
            if let Err(e) = self.collect(client, t, &opts, Kind::Dump, decision) {
                if e.kind == ErrorKind::Timeout {
                    let mut status = lock(&self.status);
                    let baseline = status.profile_took;
                    status
                        .policy
                        .learned(Instant::now(), goroutines, t.timeout, baseline);
                }
                self.count_error(t, e);
            }
            Ok(goroutines)
        })();
        match result {
            Ok(_) => {
                let mut status = lock(&self.status);
                status.first_done = true;
                status.up = true;
                status.last_error = None;
                // One point per scrape, from what was read last (the dump
                // when one was taken: it adds wait times and creators).
                status.leaks.set_rule(t.leak_rule);
                if let Some(latest) = status.latest.clone() {
                    status.leaks.observe(&latest.report);
                }
                let due = t.leak_profile
                    && status.leak_profile_supported != Some(false)
                    && status
                        .last_leak_profile
                        .is_none_or(|at| at.elapsed() >= t.leak_profile_interval);
                let trace_due = t.trace_window.is_some()
                    && status
                        .last_trace
                        .is_none_or(|at| at.elapsed() >= t.trace_interval);
                drop(status);
                if due {
                    self.leak_profile(client, t, &opts);
                }
                if trace_due {
                    self.trace_window(t);
                }
                let mut status = lock(&self.status);
                status.verdicts = Arc::new(status.leaks.verdicts());
            }
            Err(e) => self.failed(t, e),
        }
    }

    /// A scrape that got nothing: the target is down until the next one.
    fn failed(&self, t: &Target, e: FetchError) {
        {
            let mut status = lock(&self.status);
            status.first_done = true;
            status.up = false;
        }
        self.count_error(t, e);
    }

    fn count_error(&self, t: &Target, e: FetchError) {
        log(
            &t.name,
            &format!(
                "level=warn error_kind={} msg={:?}",
                e.kind.as_str(),
                e.message
            ),
        );
        let mut status = lock(&self.status);
        *status.errors.entry(e.kind).or_default() += 1;
        status.last_error = Some(e.message);
    }

    /// Reads the Go 1.26 goroutineleak profile (it costs the target a GC
    /// cycle, hence its own, longer interval): its goroutines are proven
    /// leaked. A target without it (404: not Go 1.26 with
    /// GOEXPERIMENT=goroutineleakprofile) is not asked again.
    fn leak_profile(&self, client: &ureq::Agent, t: &Target, opts: &fetch::Options) {
        let url = fetch::endpoint(&t.url, fetch::Mode::Leak);
        lock(&self.status).last_leak_profile = Some(Instant::now());
        let result = fetch::get(client, &url, opts).and_then(|body| {
            analyze(body, CensusOptions::portable(), t.max_body)
                .map_err(|e| FetchError::new(ErrorKind::NotPprof, format!("{url}: {e}")))
        });
        match result {
            Ok(a) => {
                let mut status = lock(&self.status);
                status.leak_profile_supported = Some(true);
                status.leak_profile_goroutines = Some(a.goroutines);
                status.leaks.observe_leak_profile(&a.report);
            }
            Err(e) if e.kind == ErrorKind::HttpStatus && e.message.contains(" 404") => {
                lock(&self.status).leak_profile_supported = Some(false);
                log(
                    &t.name,
                    "level=info msg=\"no goroutineleak profile (Go 1.26 with GOEXPERIMENT=goroutineleakprofile needed): not asked again\"",
                );
            }
            Err(e) => self.count_error(t, e),
        }
    }

    /// Takes an execution trace window (`/debug/pprof/trace`: a few
    /// percent of the target's CPU while it runs, no stop) and adds its
    /// whole intervals to the target's histograms. Read as a stream: one
    /// generation in memory at a time.
    fn trace_window(&self, t: &Target) {
        let Some(window) = t.trace_window else { return };
        lock(&self.status).last_trace = Some(Instant::now());
        let url = fetch::trace_url(&t.url, window.as_secs_f64());
        let mut opts = options(t);
        opts.timeout = window + t.timeout;
        let stream = match fetch::open(&url, &opts) {
            Ok(s) => s,
            Err(e) => return self.count_error(t, e),
        };
        let mut reader = match goroscope_core::trace::Reader::new(stream) {
            Ok(r) => r,
            Err(e) => {
                return self.count_error(
                    t,
                    FetchError::new(ErrorKind::NotPprof, format!("{url}: {e}")),
                )
            }
        };
        let mut states: BTreeMap<(&'static str, BlockClass), WaitHistogram> = BTreeMap::new();
        let mut sched = WaitHistogram::plain(&TRACE_BUCKETS);
        let mut summary = goroscope_core::trace::summary::Summary::new(false);
        let result = summary.read_with(&mut reader, &mut |i| {
            let Some(state) = trace_state(i.state) else {
                return;
            };
            let seconds = i.ns as f64 / 1e9;
            states
                .entry((state, i.class))
                .or_insert_with(|| WaitHistogram::plain(&TRACE_BUCKETS))
                .observe_plain(seconds);
            if i.scheduled {
                sched.observe_plain(seconds);
            }
        });
        // What was read counts, even if the trace broke off.
        let mut status = lock(&self.status);
        for (k, h) in &states {
            status
                .trace_states
                .entry(*k)
                .or_insert_with(|| WaitHistogram::plain(&TRACE_BUCKETS))
                .merge(h);
        }
        status
            .sched_latency
            .get_or_insert_with(|| WaitHistogram::plain(&TRACE_BUCKETS))
            .merge(&sched);
        status.trace_windows += 1;
        drop(status);
        if let Err(e) = result {
            self.count_error(t, FetchError::new(ErrorKind::Read, format!("{url}: {e}")));
        }
    }

    /// Fetches and analyses one kind; returns the goroutine count.
    fn collect(
        &self,
        client: &ureq::Agent,
        t: &Target,
        opts: &fetch::Options,
        kind: Kind,
        decision: Decision,
    ) -> Result<u64, FetchError> {
        let url = fetch::endpoint(&t.url, kind.fetch_mode());
        let started = Instant::now();
        let body = fetch::get(client, &url, opts)?;
        let took = started.elapsed();
        // A stack keeps its series across dumps and profiles.
        let census = CensusOptions::portable();
        let bytes = body.len() as u64;
        let analysed = analyze(body, census, t.max_body)
            .map_err(|e| FetchError::new(ErrorKind::NotPprof, format!("{url}: {e}")))?;
        let elapsed = started.elapsed();
        let goroutines = analysed.goroutines;
        let mut status = lock(&self.status);
        *status.bytes.entry(kind).or_default() += bytes;
        status.scrape_seconds.insert(kind, elapsed.as_secs_f64());
        status.last_success = Some(SystemTime::now());
        if kind == Kind::Profile {
            status.profile_took = took;
        }
        if kind == Kind::Dump {
            let baseline = status.profile_took;
            status
                .policy
                .learned(Instant::now(), goroutines, took, baseline);
            for w in &analysed.waits {
                let h = status.waits.entry(w.class).or_default();
                observe(h, w.seconds, &w.trace);
            }
            // Goroutine ids only grow in a process: fewer means a new one.
            if let (Some(now), Some(before)) = (analysed.max_id, status.last_max_id) {
                if now < before {
                    status.restarts += 1;
                    // A new process: its counts are neither a leak nor an
                    // un-leak of the old one's.
                    status.leaks.reset();
                    log(
                        &t.name,
                        "level=info msg=\"goroutine ids went back: the target restarted\"",
                    );
                }
            }
            status.last_max_id = analysed.max_id.or(status.last_max_id);
        }
        status.folded_total +=
            (analysed.report.group_count as usize).saturating_sub(t.top_k) as u64;
        status.latest = Some(Arc::new(Latest {
            kind,
            report: analysed.report,
        }));
        drop(status);
        if kind == Kind::Dump {
            self.record_decision(t, kind, decision, goroutines);
        }
        Ok(goroutines)
    }

    fn record_decision(&self, t: &Target, kind: Kind, d: Decision, goroutines: u64) {
        let mut status = lock(&self.status);
        *status.collections.entry((kind, d.reason)).or_default() += 1;
        status.decision = Some(d);
        drop(status);
        log(
            &t.name,
            &format!(
                "level=info collected={} reason={} goroutines={goroutines} estimated_pause_ms={:.3}",
                kind.as_str(),
                d.reason.as_str(),
                d.estimate.as_secs_f64() * 1e3
            ),
        );
    }
}

/// Scrapes between two saves of a target's state (and one at stop).
const SAVE_EVERY: u64 = 10;

/// What a state file holds.
const STATE_FORMAT: &str = "goroscope-agent-state";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedTarget {
    format: String,
    target: String,
    last_max_id: Option<u64>,
    leaks: goroscope_core::leak::Saved,
}

/// `{state_dir}/{name}.json` (target names are file-name safe).
fn state_path(t: &Target) -> Option<std::path::PathBuf> {
    let dir = t.state_dir.as_ref()?;
    Some(dir.join(format!("{}.json", t.name.replace(':', "_"))))
}

/// Answers at most this large are analysed by the shared analysis thread;
/// larger ones by the target's own thread.
const SHARED_ANALYSIS_MAX: usize = 1 << 20;

struct Job {
    body: Vec<u8>,
    census: CensusOptions,
    limit: u64,
    reply: mpsc::Sender<Result<analysis::Analysis, String>>,
}

/// Analyses a fetched answer. Small ones (nearly all) go to one shared
/// thread: every thread that allocates keeps a malloc arena of its own,
/// and ten scrape threads each keeping the peak of an analysis cost more
/// memory than the agent's whole budget. A small analysis takes a few
/// milliseconds, so no target waits noticeably behind another; a large
/// one runs on its own target's thread and delays no one.
fn analyze(body: Vec<u8>, census: CensusOptions, limit: u64) -> Result<analysis::Analysis, String> {
    static SHARED: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    if body.len() > SHARED_ANALYSIS_MAX {
        return analysis::analyze(&body, census, limit, Some(SNAPSHOT_GROUPS));
    }
    let sender = SHARED.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("analysis".into())
            .stack_size(1 << 20)
            .spawn(move || {
                for job in rx {
                    let result =
                        analysis::analyze(&job.body, job.census, job.limit, Some(SNAPSHOT_GROUPS));
                    let _ = job.reply.send(result);
                }
            });
        if let Err(e) = spawned {
            log(
                "",
                &format!("level=error msg=\"cannot start the analysis thread\" error={e:?}"),
            );
        }
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    let job = Job {
        body,
        census: census.clone(),
        limit,
        reply,
    };
    // Without the shared thread (it could not start), analyse here.
    match lock(sender).send(job) {
        Ok(()) => answer
            .recv()
            .map_err(|_| "the analysis thread stopped".to_string())?,
        Err(mpsc::SendError(job)) => {
            analysis::analyze(&job.body, census, limit, Some(SNAPSHOT_GROUPS))
        }
    }
}

/// How to fetch from a target.
fn options(t: &Target) -> fetch::Options {
    fetch::Options {
        mode: fetch::Mode::Profile,
        timeout: t.timeout,
        max_body: t.max_body,
        bearer_token: t.bearer_token.clone(),
        headers: t.headers.clone(),
        ca_cert: t.ca_cert.clone(),
    }
}

/// A poisoned lock only means a scrape thread panicked mid-update; the
/// state is still the best there is.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Silences [`log`]: `goroscope watch` shows the same facts in its own
/// lines.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// One logfmt line on stderr.
pub fn log(target: &str, rest: &str) {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!(
        "ts={}.{:03} target={target:?} {rest}",
        now.as_secs(),
        now.subsec_millis()
    );
}
