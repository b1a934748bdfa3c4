//! End-to-end tests of `goroscope serve`, with real parts only: the Go demo
//! service (examples/demo, built by the machine's Go), the agent binary,
//! a real Prometheus server (Debian's `prometheus`) scraping the agent,
//! promtool and the Python client's OpenMetrics parser reading its output,
//! and faulty targets made of real sockets (nothing listening, a server
//! that never answers, one that answers HTML, a service that restarts).
//!
//! Without `go` or `prometheus` on PATH the tests skip with a note, except
//! under `CI=true`, where they fail.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::{
    build_go, first_line, free_port, goroscope, http, in_ci, openmetrics_parse, promtool_check,
    repo_root, run, scratch_dir, wait_bounded, ChildGuard, CHILD_TIMEOUT,
};
use serde_json::Value;

static DEMO: OnceLock<Option<PathBuf>> = OnceLock::new();
static DEMO_LEAK: OnceLock<Option<PathBuf>> = OnceLock::new();
static OTELCOL: OnceLock<Option<PathBuf>> = OnceLock::new();

/// testdata/otelcol: a real OpenTelemetry Collector (OTLP receiver, file
/// exporter) built from the Go module proxy.
fn otelcol_bin() -> Option<&'static Path> {
    OTELCOL
        .get_or_init(|| build_go(&repo_root().join("testdata/otelcol"), "otelcol", &[]))
        .as_deref()
}

/// examples/demo built with GOEXPERIMENT=goroutineleakprofile (Go 1.26):
/// it serves /debug/pprof/goroutineleak.
fn demo_leak_bin() -> Option<&'static Path> {
    DEMO_LEAK
        .get_or_init(|| {
            build_go(
                &repo_root().join("examples/demo"),
                "demo-leakprofile",
                &[("GOEXPERIMENT", "goroutineleakprofile")],
            )
        })
        .as_deref()
}

/// examples/demo, built once per test run.
fn demo_bin() -> Option<&'static Path> {
    DEMO.get_or_init(|| build_go(&repo_root().join("examples/demo"), "demo", &[]))
        .as_deref()
}

/// A running demo service; stdin is a pipe it exits at the EOF of.
struct Demo {
    guard: ChildGuard,
    addr: String,
}

impl Demo {
    fn start(bin: &Path, addr: &str, args: &[&str]) -> Demo {
        let mut cmd = Command::new(bin);
        cmd.args(["-addr", addr, "-exit-on-eof"])
            .args(args)
            // Go 1.26 prints pprof labels in dumps with this: the agent's
            // exemplars come from them.
            .env("GODEBUG", "tracebacklabels=1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = ChildGuard(Some(cmd.spawn().expect("start the demo")));
        let stdout = guard.child().stdout.take().expect("stdout");
        let line = first_line(stdout).expect("the demo did not start");
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line of the demo: {line:?}"))
            .to_string();
        Demo { guard, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn expected(&self) -> Value {
        let (status, _, body) = http(&self.addr, "GET", "/demo/expected", &[]);
        assert_eq!(status, 200);
        serde_json::from_slice(&body).expect("/demo/expected is JSON")
    }

    /// Closes its stdin: it exits by itself.
    fn stop(mut self) {
        drop(self.guard.child().stdin.take());
        let status = wait_bounded(self.guard.child(), Duration::from_secs(20), "the demo");
        assert!(status.success(), "the demo after stdin EOF: {status:?}");
    }
}

/// A running agent and everything it logged so far.
struct Agent {
    guard: ChildGuard,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Agent {
    fn start(args: &[&str]) -> Agent {
        Agent::start_env(args, &[])
    }

    /// [`Agent::start`] with these environment variables set.
    fn start_env(args: &[&str], env: &[(&str, &str)]) -> Agent {
        let mut cmd = goroscope(["serve", "--listen", "127.0.0.1:0"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard(Some(cmd.spawn().expect("start goroscope serve")));
        let stderr = guard.child().stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
                {
                    let _ = tx.send(addr.to_string());
                }
                let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(CHILD_TIMEOUT) {
            Ok(a) => a,
            Err(_) => panic!(
                "the agent did not report its address; it logged:\n{}",
                log.lock().unwrap_or_else(|e| e.into_inner())
            ),
        };
        Agent { guard, addr, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn get(&self, path: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
        http(&self.addr, "GET", path, headers)
    }

    fn metrics(&self, openmetrics: bool) -> String {
        let accept: &[&str] = if openmetrics {
            &["Accept: application/openmetrics-text; version=1.0.0"]
        } else {
            &[]
        };
        let (status, head, body) = self.get("/metrics", accept);
        assert_eq!(status, 200, "{head}");
        let want = if openmetrics {
            "application/openmetrics-text"
        } else {
            "text/plain; version=0.0.4"
        };
        assert!(head.contains(want), "content type for {want}: {head}");
        String::from_utf8(body).expect("UTF-8 metrics")
    }

    fn targets(&self) -> Vec<Value> {
        let (status, _, body) = self.get("/api/v1/targets", &[]);
        assert_eq!(status, 200);
        serde_json::from_slice::<Value>(&body)
            .expect("targets JSON")
            .as_array()
            .expect("an array")
            .clone()
    }

    fn target(&self, name: &str) -> Value {
        self.targets()
            .into_iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no target {name} in /api/v1/targets"))
    }

    fn signal(&mut self, sig: &str) {
        let pid = self.guard.child().id().to_string();
        let out = run_cmd_quiet(Command::new("kill").args([sig, &pid]));
        assert!(out, "kill {sig} {pid}");
    }
}

fn run_cmd_quiet(cmd: &mut Command) -> bool {
    cmd.status().is_ok_and(|s| s.success())
}

/// Polls `f` every 200 ms until it gives a value, or fails after `limit`
/// naming `what` and the agent's log.
fn wait_for<T>(
    what: &str,
    limit: Duration,
    log: impl Fn() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > limit {
            panic!(
                "timed out after {limit:?} waiting for {what}; agent log:\n{}",
                log()
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// The value of the series `name{labels...}` in a Prometheus text page
/// (every given label must match; others may be present).
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, rest) = l.split_once(' ')?;
        let (n, ls) = series.split_once('{').unwrap_or((series, "}"));
        if n != name {
            return None;
        }
        let ok = labels
            .iter()
            .all(|(k, v)| ls.contains(&format!("{k}=\"{v}\"")));
        ok.then(|| rest.split_whitespace().next()?.parse().ok())?
    })
}

/// Series of one target in a Prometheus text page.
fn series_of(text: &str, target: &str) -> Vec<String> {
    let needle = format!("target=\"{target}\"");
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(&needle))
        .map(str::to_string)
        .collect()
}

/// Whether the prometheus server binary can run; `None` after a note when
/// it is missing outside CI.
fn prometheus_available() -> bool {
    match Command::new("prometheus").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => panic!(
            "prometheus --version failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                !in_ci(),
                "prometheus is not installed but CI=true: install Debian's `prometheus` package (scripts/test.sh does)"
            );
            eprintln!("note: prometheus not found; skipping the Prometheus end-to-end test");
            false
        }
        Err(e) => panic!("cannot run prometheus: {e}"),
    }
}

/// A Prometheus server on loopback scraping `agent` every second.
struct Prometheus {
    _guard: ChildGuard,
    addr: String,
}

impl Prometheus {
    fn start(dir: &Path, agent: &str) -> Prometheus {
        Prometheus::with_config(
            dir,
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: goroscope\n    honor_labels: true\n    \
                 static_configs:\n      - targets: ['{agent}']\n"
            ),
        )
    }

    /// A Prometheus server on loopback with this configuration, its data
    /// and log under `dir`.
    fn with_config(dir: &Path, config_text: &str) -> Prometheus {
        std::fs::create_dir_all(dir).expect("prometheus dir");
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, config_text).expect("write prometheus.yml");
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--enable-feature=exemplar-storage")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            _guard: ChildGuard(Some(child)),
            addr,
        };
        let dir = dir.to_path_buf();
        wait_for(
            "prometheus to be ready",
            CHILD_TIMEOUT,
            || std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default(),
            || {
                std::net::TcpStream::connect(&p.addr).ok()?;
                (http(&p.addr, "GET", "/-/ready", &[]).0 == 200).then_some(())
            },
        );
        p
    }

    /// An instant query: each result's labels and value.
    fn query(&self, q: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let (status, _, body) = http(
            &self.addr,
            "GET",
            &format!("/api/v1/query?query={}", common::urlencode(q)),
            &[],
        );
        assert_eq!(status, 200, "{q}: {}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).expect("query JSON");
        v["data"]["result"]
            .as_array()
            .expect("a vector result")
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .expect("labels")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect();
                let value = r["value"][1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN);
                (labels, value)
            })
            .collect()
    }

    /// The single value of `q`, once Prometheus has one equal to `want`.
    fn wait_value(&self, q: &str, want: f64, log: &impl Fn() -> String) {
        let mut last = Vec::new();
        let found = wait_for_quiet(Duration::from_secs(60), || {
            last = self.query(q);
            (last.len() == 1 && last[0].1 == want).then_some(())
        });
        assert!(
            found.is_some(),
            "{q}: want {want}, Prometheus has {last:?}; agent log:\n{}",
            log()
        );
    }
}

fn wait_for_quiet<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        thread::sleep(Duration::from_millis(250));
    }
    None
}

/// The whole pipeline: the demo, the agent in its default `auto` mode and
/// a real Prometheus scraping it. The numbers Prometheus stores must be
/// what the demo created; both text formats must pass their reference
/// parsers; the API's snapshot has `analyze --format json`'s schema.
#[test]
fn prometheus_scrapes_what_the_demo_created() {
    let Some(bin) = demo_bin() else { return };
    if !prometheus_available() {
        return;
    }
    let dir = scratch_dir("serve-prometheus");
    let (demo, agent) = leaking_demo_watched(bin);
    let prom = Prometheus::start(&dir, &agent.addr);
    let log = || agent.log();
    let expected = demo.expected();
    let name = demo.addr.clone();

    // Exact counts of the fixed groups, by signature series and by class.
    for (function, class) in [
        ("main.poolWorker", "chan_receive"),
        ("main.condWaiter", "cond"),
        ("main.wgWaiter", "waitgroup"),
    ] {
        let want = expected[function].as_f64().expect("count");
        prom.wait_value(
            &format!(
                "goroscope_group_goroutines{{target=\"{name}\",top_function=\"{function}\",block_class=\"{class}\"}}"
            ),
            want,
            &log,
        );
    }
    for (class, function) in [("cond", "main.condWaiter"), ("waitgroup", "main.wgWaiter")] {
        let want = expected[function].as_f64().expect("count");
        prom.wait_value(
            &format!("goroscope_goroutines{{target=\"{name}\",state=\"waiting\",block_class=\"{class}\"}}"),
            want,
            &log,
        );
    }
    prom.wait_value(
        &format!("goroscope_target_up{{target=\"{name}\"}}"),
        1.0,
        &log,
    );
    // auto ran both: profiles every second, dumps within the budget.
    for mode in ["profile", "dump"] {
        let q =
            format!("sum(goroscope_collections_total{{target=\"{name}\",mode=\"{mode}\"}}) > 0");
        let got = wait_for_quiet(Duration::from_secs(30), || {
            let r = prom.query(&q);
            (!r.is_empty()).then_some(r)
        });
        assert!(
            got.is_some(),
            "no {mode} collection in Prometheus; agent log:\n{}",
            log()
        );
    }
    // The leak grows: goroutines blocked sending in main.leakyHandler.func1.
    let leak = format!(
        "goroscope_group_goroutines{{target=\"{name}\",top_function=\"main.leakyHandler.func1\",block_class=\"chan_send\"}}"
    );
    let first = wait_for_quiet(Duration::from_secs(30), || {
        prom.query(&leak).first().map(|r| r.1)
    })
    .expect("the leak's series");
    let grew = wait_for_quiet(Duration::from_secs(30), || {
        prom.query(&leak)
            .first()
            .and_then(|r| (r.1 >= first + 5.0).then_some(r.1))
    });
    assert!(grew.is_some(), "the leak series did not grow from {first}");

    // Exemplars from the labelled handlers reach Prometheus' exemplar store.
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let q = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        common::urlencode(&format!(
            "goroscope_goroutine_wait_seconds_bucket{{target=\"{name}\"}}"
        )),
        now - 600,
        now + 600
    );
    let trace_ids = wait_for_quiet(Duration::from_secs(60), || {
        let (_, _, body) = http(&prom.addr, "GET", &q, &[]);
        let v: Value = serde_json::from_slice(&body).ok()?;
        let ids: Vec<String> = v["data"]
            .as_array()?
            .iter()
            .flat_map(|s| s["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_string))
            .collect();
        (!ids.is_empty()).then_some(ids)
    })
    .unwrap_or_else(|| {
        panic!(
            "no exemplar with a trace_id in Prometheus; agent log:\n{}",
            log()
        )
    });
    assert!(
        trace_ids
            .iter()
            .all(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())),
        "{trace_ids:?}"
    );

    // Both formats pass their reference parsers.
    let text = agent.metrics(false);
    if let Some(out) = promtool_check(&text) {
        assert_eq!(
            out.code(),
            0,
            "promtool check metrics:\n{}\n{text}",
            out.stderr
        );
    }
    let om = agent.metrics(true);
    assert!(om.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    if let Some(families) = openmetrics_parse(&om) {
        for f in [
            "goroscope_goroutines",
            "goroscope_goroutine_wait_seconds",
            "goroscope_build",
        ] {
            assert!(families.iter().any(|x| x == f), "{f} in {families:?}");
        }
    }

    // The snapshot API answers analyze's JSON schema; writes are refused.
    let (status, _, body) = agent.get(&format!("/api/v1/targets/{name}/snapshot"), &[]);
    assert_eq!(status, 200);
    let snap: Value = serde_json::from_slice(&body).expect("snapshot JSON");
    let cli = run(["analyze", "--format", "json", &demo.url()]);
    assert_eq!(cli.code(), 0, "{}", cli.stderr);
    let cli: Value = serde_json::from_slice(&cli.stdout).expect("analyze JSON");
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(&snap), keys(&cli), "same top-level keys");
    assert_eq!(
        keys(&snap["groups"][0]),
        keys(&cli["groups"][0]),
        "same group keys"
    );
    assert_eq!(agent.get("/api/v1/targets/nope/snapshot", &[]).0, 404);
    assert_eq!(http(&agent.addr, "POST", "/api/v1/targets", &[]).0, 405);
    assert_eq!(agent.get("/healthz", &[]).0, 200);
    assert_eq!(agent.get("/readyz", &[]).0, 200);
    demo.stop();
}

/// The demo leaking five goroutines a second, watched every second by the
/// agent in `auto` mode with a dump at most every 2 s.
fn leaking_demo_watched(bin: &Path) -> (Demo, Agent) {
    demo_watched(bin, &["-leak-every", "200ms"])
}

/// The demo started with `args`, watched as [`leaking_demo_watched`] says.
fn demo_watched(bin: &Path, args: &[&str]) -> (Demo, Agent) {
    let demo = Demo::start(bin, "127.0.0.1:0", args);
    let agent = Agent::start(&[
        "--target",
        &demo.url(),
        "--interval",
        "1s",
        "--dump-min-interval",
        "2s",
    ]);
    (demo, agent)
}

/// A socket that accepts and never answers.
fn hanging_server() -> (String, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let h = thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().take(64) {
            held.push(c);
        }
    });
    (addr, h)
}

/// A server that answers every request with an HTML page.
fn html_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        for mut c in l.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = "<html><body>login</body></html>";
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// Dead, hung, HTML-answering and restarting targets: the agent stays up,
/// counts each failure by kind, and the healthy target keeps being
/// scraped on its own schedule.
#[test]
fn faulty_targets_do_not_spread() {
    let Some(bin) = demo_bin() else { return };
    let dir = scratch_dir("serve-faults");
    let good = Demo::start(bin, "127.0.0.1:0", &[]);
    let port = free_port();
    let restarting_addr = format!("127.0.0.1:{port}");
    // Churns goroutines (ids grow) so that a restart shows as ids going back.
    let churn = ["-rps", "300"];
    let restarting = Demo::start(bin, &restarting_addr, &churn);
    let (hang, _hang) = hanging_server();
    let html = html_server();
    let down = format!("127.0.0.1:{}", free_port());
    let config = dir.join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "defaults:\n  interval: 1s\n  timeout: 1s\ntargets:\n\
             - {{name: good, url: 'http://{}'}}\n\
             - {{name: down, url: 'http://{down}'}}\n\
             - {{name: hang, url: 'http://{hang}'}}\n\
             - {{name: html, url: 'http://{html}'}}\n\
             - {{name: restarting, url: 'http://{restarting_addr}', mode: dump}}\n",
            good.addr
        ),
    )
    .expect("write config");
    let agent = Agent::start(&["--config", config.to_str().expect("UTF-8 path")]);
    let log = || agent.log();

    let errors = |t: &Value, kind: &str| t["errors"][kind].as_u64().unwrap_or(0);
    wait_for(
        "each fault counted by kind",
        Duration::from_secs(30),
        log,
        || {
            let down = agent.target("down");
            let hang = agent.target("hang");
            let html = agent.target("html");
            (errors(&down, "connect") >= 2
                && errors(&hang, "timeout") >= 2
                && errors(&html, "not_pprof") >= 2)
                .then_some(())
        },
    );
    for t in ["down", "hang", "html"] {
        let v = agent.target(t);
        assert_eq!(v["up"], false, "{t}: {v}");
        assert!(
            v["last_error"].as_str().is_some_and(|e| !e.is_empty()),
            "{t}: {v}"
        );
    }
    assert!(
        agent.target("html")["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTML page")),
        "{}",
        agent.target("html")
    );

    // Isolation: over 5 s with a hung target, the good one is scraped on
    // its 1 s schedule (at least 3 successes).
    let success = || {
        agent.target("good")["last_success_unix"]
            .as_f64()
            .unwrap_or(0.0)
    };
    let mut seen = std::collections::BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        seen.insert(success().to_bits());
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen.len() >= 4,
        "good target successes seen: {}; log:\n{}",
        seen.len(),
        log()
    );
    assert_eq!(agent.target("good")["up"], true);

    // The restart: ids grew for a while, the process goes away (up 0,
    // connect errors), comes back on the same port (up 1, a restart).
    thread::sleep(Duration::from_secs(4));
    let text = agent.metrics(false);
    assert_eq!(
        value(
            &text,
            "goroscope_target_restarts_total",
            &[("target", "restarting")]
        ),
        Some(0.0)
    );
    restarting.stop();
    wait_for(
        "the restarting target to be seen down",
        Duration::from_secs(20),
        log,
        || (agent.target("restarting")["up"] == false).then_some(()),
    );
    let again = Demo::start(bin, &restarting_addr, &churn);
    wait_for(
        "the restart to be counted",
        Duration::from_secs(30),
        log,
        || {
            let text = agent.metrics(false);
            let restarts = value(
                &text,
                "goroscope_target_restarts_total",
                &[("target", "restarting")],
            )?;
            (restarts >= 1.0 && agent.target("restarting")["up"] == true).then_some(())
        },
    );
    assert_eq!(agent.get("/healthz", &[]).0, 200);
    // Every series of every target carries its target label, and the
    // broken ones export no goroutine series at all.
    let text = agent.metrics(false);
    for t in ["down", "hang", "html"] {
        assert!(
            !series_of(&text, t)
                .iter()
                .any(|s| s.starts_with("goroscope_goroutines")),
            "{t} has goroutine series"
        );
        assert_eq!(
            value(&text, "goroscope_target_up", &[("target", t)]),
            Some(0.0)
        );
    }
    again.stop();
    good.stop();
}

/// 100,000 goroutines on 100,000 distinct stacks with random label values:
/// the target's series stay under the documented bound, and the top-K
/// family has exactly K + 1 series.
#[test]
fn an_adversarial_target_stays_under_the_series_bound() {
    let Some(bin) = demo_bin() else { return };
    let demo = Demo::start(bin, "127.0.0.1:0", &["-distinct", "100000"]);
    assert_eq!(demo.expected()["distinct"], 100000);
    let agent = Agent::start(&[
        "--target",
        &demo.url(),
        // Room for a loaded machine: the bound is under test, not speed.
        "--interval",
        "5s",
        "--timeout",
        "5s",
    ]);
    let name = demo.addr.clone();
    let text = wait_for(
        "a collection of the adversarial target",
        Duration::from_secs(60),
        || agent.log(),
        || {
            let text = agent.metrics(false);
            value(&text, "goroscope_group_signatures", &[("target", &name)])
                .filter(|&n| n >= 100_000.0)
                .map(|_| text)
        },
    );
    let series = series_of(&text, &name);
    eprintln!("adversarial target: {} series", series.len());
    // README "Metrics": at most 442 series per target with the defaults.
    assert!(
        series.len() <= 442,
        "{} series:\n{}",
        series.len(),
        series.join("\n")
    );
    let groups = series
        .iter()
        .filter(|s| s.starts_with("goroscope_group_goroutines{"))
        .count();
    assert_eq!(groups, 21, "top-20 and other");
    let other = value(
        &text,
        "goroscope_group_goroutines",
        &[("target", &name), ("signature", "other")],
    )
    .expect("other series");
    assert!(
        other >= 99_000.0,
        "other sums the folded signatures: {other}"
    );
    demo.stop();
}

/// SIGHUP applies an edited file, keeping the state of the target that
/// stays; a broken edit is refused and the running set kept; SIGTERM ends
/// the agent cleanly.
#[test]
fn sighup_reloads_and_sigterm_stops() {
    let Some(bin) = demo_bin() else { return };
    let dir = scratch_dir("serve-reload");
    let a = Demo::start(bin, "127.0.0.1:0", &[]);
    let b = Demo::start(bin, "127.0.0.1:0", &[]);
    let config = dir.join("agent.yaml");
    let write = |text: &str| std::fs::write(&config, text).expect("write config");
    write(&format!(
        "defaults: {{interval: 1s}}\ntargets:\n  - {{name: a, url: 'http://{}'}}\n  - {{name: gone, url: 'http://{}'}}\n",
        a.addr, b.addr
    ));
    let mut agent = Agent::start(&["--config", config.to_str().expect("UTF-8 path")]);
    let log = || agent.log();
    // With the default 1 m dump interval, a kept state has one dump and
    // a growing count of rate-limited profiles; a fresh one would dump
    // again at once and count profiles from zero.
    let count = |agent: &Agent, mode: &str, reason: &str| {
        let text = agent.metrics(false);
        value(
            &text,
            "goroscope_collections_total",
            &[("target", "a"), ("mode", mode), ("reason", reason)],
        )
        .unwrap_or(0.0)
    };
    let dumps = |agent: &Agent| count(agent, "dump", "dump_due");
    let profiles = |agent: &Agent| count(agent, "profile", "rate_limited");
    wait_for(
        "target a's dump and four profiles",
        Duration::from_secs(30),
        log,
        || (dumps(&agent) == 1.0 && profiles(&agent) >= 4.0).then_some(()),
    );
    let before = profiles(&agent);

    write(&format!(
        "defaults: {{interval: 1s}}\ntargets:\n  - {{name: a, url: 'http://{}', labels: {{team: x}}}}\n  - {{name: new, url: 'http://{}'}}\n",
        a.addr, b.addr
    ));
    agent.signal("-HUP");
    wait_for(
        "the reload",
        Duration::from_secs(20),
        || agent.log(),
        || {
            let names: Vec<String> = agent
                .targets()
                .iter()
                .map(|t| t["name"].as_str().unwrap_or("").to_string())
                .collect();
            (names == ["a", "new"]).then_some(())
        },
    );
    // a kept its counters (no reset) and took its new label.
    let text = agent.metrics(false);
    assert!(profiles(&agent) >= before, "counters kept");
    assert_eq!(
        dumps(&agent),
        1.0,
        "the learned policy kept: no new first dump"
    );
    assert!(
        value(
            &text,
            "goroscope_target_up",
            &[("target", "a"), ("team", "x")]
        )
        .is_some(),
        "new label"
    );

    write("targets: [{url: 'ftp://nope'}]\n");
    agent.signal("-HUP");
    wait_for(
        "the refused reload logged",
        Duration::from_secs(20),
        || agent.log(),
        || agent.log().contains("reload refused").then_some(()),
    );
    assert_eq!(agent.targets().len(), 2, "the running set is kept");

    agent.signal("-TERM");
    let status = wait_bounded(
        agent.guard.child(),
        Duration::from_secs(20),
        "the agent after SIGTERM",
    );
    assert!(
        status.success(),
        "exit after SIGTERM: {status:?}\n{}",
        agent.log()
    );
    assert!(agent.log().contains("shutting down"));
    a.stop();
    b.stop();
}

/// A bad configuration stops the agent at start with exit 2 and
/// file:line:column; so does a serve without any target.
#[test]
fn bad_configuration_is_refused_with_its_location() {
    let dir = scratch_dir("serve-badconfig");
    let config = dir.join("bad.yaml");
    std::fs::write(
        &config,
        "targets:\n  - url: http://127.0.0.1:1\n    interval: soon\n",
    )
    .expect("write");
    let path = config.to_str().expect("UTF-8 path");
    let out = run(["serve", "--config", path]);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{path}:3:15: ")) && out.stderr.contains("not a duration"),
        "{}",
        out.stderr
    );
    let out = run(["serve"]);
    assert_eq!(out.code(), 2);
    assert!(out.stderr.contains("--target"), "{}", out.stderr);
    let out = run(["serve", "--target", "http://x:1", "--top-k", "500"]);
    assert_eq!(out.code(), 2);
    assert!(out.stderr.contains("1 to 50"), "{}", out.stderr);
}

#[test]
fn serve_help_is_snapshotted() {
    let out = run(["serve", "--help"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    insta::assert_snapshot!("serve_help", out.stdout_str());
}

/// `goroscope demo` (the README's first command), live with Go and as the
/// replay of the shipped recording: within seconds the metrics show the
/// demo's worker pool; Ctrl-C ends it cleanly.
#[test]
fn the_demo_command_shows_live_metrics() {
    // Live needs Go (built by the command itself); the replay does not.
    let live = demo_bin().is_some();
    for replay in [true, false] {
        if !replay && !live {
            continue;
        }
        let mut cmd = goroscope(["demo", "--listen", "127.0.0.1:0"]);
        if replay {
            cmd.arg("--replay");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard(Some(cmd.spawn().expect("start goroscope demo")));
        let stdout = guard.child().stdout.take().expect("stdout");
        let stderr = guard.child().stderr.take().expect("stderr");
        let err = thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut printed = Vec::new();
        let addr = loop {
            let line = rx
                .recv_timeout(CHILD_TIMEOUT)
                .unwrap_or_else(|_| panic!("demo (replay={replay}) printed {printed:?}"));
            if let Some(url) = line.trim().strip_prefix("metrics:") {
                let url = url.trim();
                break url
                    .strip_prefix("http://")
                    .and_then(|u| u.strip_suffix("/metrics"))
                    .expect("a metrics URL")
                    .to_string();
            }
            printed.push(line);
        };
        assert!(printed[0].starts_with("goroscope demo: "), "{printed:?}");
        let started = Instant::now();
        let text = wait_for(
            "the demo's worker pool in /metrics",
            Duration::from_secs(30),
            String::new,
            || {
                let (_, _, body) = http(&addr, "GET", "/metrics", &[]);
                let text = String::from_utf8(body).ok()?;
                value(
                    &text,
                    "goroscope_group_goroutines",
                    &[("top_function", "main.poolWorker")],
                )
                .filter(|&v| v == 8.0)
                .map(|_| text)
            },
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "metrics took {:?}",
            started.elapsed()
        );
        let up = value(&text, "goroscope_target_up", &[("target", "demo")]);
        if up != Some(1.0) {
            // The agent logs why a collection failed: show it. Stopped
            // as below (SIGINT), so that it stops the demo program too and
            // its stderr ends.
            let pid = guard.child().id().to_string();
            run_cmd_quiet(Command::new("kill").args(["-INT", &pid]));
            let _ = guard.child().wait();
            let said = err.join().expect("the stderr reader");
            panic!("goroscope_target_up is {up:?}, not 1; the demo said:\n{said}");
        }
        let pid = guard.child().id().to_string();
        assert!(run_cmd_quiet(Command::new("kill").args(["-INT", &pid])));
        let status = wait_bounded(
            guard.child(),
            Duration::from_secs(20),
            "goroscope demo after SIGINT",
        );
        let log = err.join().unwrap_or_default();
        assert!(
            status.success(),
            "demo (replay={replay}) exit {status:?}:\n{log}"
        );
    }
}

/// The demo's leak (a goroutine blocked sending, five a second) becomes a
/// suspect explained down to its code; the worker pool, the idle
/// connections and the request handlers do not.
#[test]
fn the_agent_flags_the_demo_leak_and_only_it() {
    let Some(bin) = demo_bin() else { return };
    let (demo, agent) = leaking_demo_watched(bin);
    let name = demo.addr.clone();
    let path = format!("/api/v1/targets/{name}/leaks");
    let leaks = wait_for(
        "a leak suspect",
        Duration::from_secs(60),
        || agent.log(),
        || {
            let (status, _, body) = agent.get(&path, &[]);
            assert_eq!(status, 200);
            let v: Value = serde_json::from_slice(&body).expect("leaks JSON");
            let suspects = v["suspects"].as_array()?.clone();
            (!suspects.is_empty() && v["scrapes"].as_u64()? >= 12).then_some(v)
        },
    );
    let suspects = leaks["suspects"].as_array().expect("suspects");
    let functions: Vec<&str> = suspects
        .iter()
        .map(|s| s["top_function"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(functions, ["main.leakyHandler.func1"], "{leaks:#}");
    let s = &suspects[0];
    assert_eq!(s["block_class"], "chan_send");
    // Five a second, scraped every second: ~300 a minute.
    let rate = s["growth_per_minute"].as_f64().expect("rate");
    assert!((200.0..=400.0).contains(&rate), "growth {rate}/min");
    assert_eq!(s["blocked_in"]["function"], "main.leakyHandler.func1");
    assert!(s["blocked_in"]["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("main.go")));
    assert_eq!(s["created_by"]["function"], "main.leakyHandler", "{s:#}");
    assert!(s["trend_z"].as_f64().expect("z") > 2.33 && s["min_rising"] == true);
    assert!(
        !s["sample_ids"].as_array().expect("ids").is_empty(),
        "{s:#}"
    );

    let text = agent.metrics(false);
    assert_eq!(
        value(&text, "goroscope_leak_suspects", &[("target", &name)]),
        Some(1.0)
    );
    let growth = value(
        &text,
        "goroscope_leak_suspect_growth_per_minute",
        &[
            ("target", &name),
            ("top_function", "main.leakyHandler.func1"),
        ],
    )
    .expect("growth series");
    assert!(growth > 100.0, "{growth}");
    assert_eq!(agent.get("/api/v1/targets/nope/leaks", &[]).0, 404);
    // This demo has no goroutineleak profile: asked once, then not again.
    assert_eq!(
        agent.log().matches("no goroutineleak profile").count(),
        1,
        "{}",
        agent.log()
    );
    demo.stop();
}

/// On Go 1.26 with GOEXPERIMENT=goroutineleakprofile the agent reads the
/// goroutineleak profile: the demo's leak is proven at once, before any
/// trend could be seen.
#[test]
fn the_goroutineleak_profile_proves_the_leak_at_once() {
    let Some(bin) = demo_leak_bin() else { return };
    let demo = Demo::start(bin, "127.0.0.1:0", &["-leak-every", "200ms"]);
    let dir = scratch_dir("serve-leakprofile");
    let config = dir.join("agent.yaml");
    let name = "leaky";
    std::fs::write(
        &config,
        format!(
            "targets:\n  - {{name: {name}, url: '{}', interval: 1s, mode: profile, leak_profile_interval: 2s}}\n",
            demo.url()
        ),
    )
    .expect("write config");
    let agent = Agent::start(&["--config", config.to_str().expect("UTF-8 path")]);
    let path = format!("/api/v1/targets/{name}/leaks");
    let v = wait_for(
        "a proven leak",
        Duration::from_secs(30),
        || agent.log(),
        || {
            let (_, _, body) = agent.get(&path, &[]);
            let v: Value = serde_json::from_slice(&body).ok()?;
            let proven = v["suspects"]
                .as_array()?
                .iter()
                .any(|s| s["proven_leaked"].as_u64().unwrap_or(0) > 0);
            proven.then_some(v)
        },
    );
    let s = &v["suspects"][0];
    assert_eq!(s["top_function"], "main.leakyHandler.func1", "{v:#}");
    assert!(
        v["scrapes"].as_u64().expect("scrapes") < 8,
        "proven before a trend: {v:#}"
    );
    let text = agent.metrics(false);
    let n = value(
        &text,
        "goroscope_leak_profile_goroutines",
        &[("target", name)],
    )
    .expect("series");
    assert!(n > 0.0, "{n}");
    demo.stop();
}

/// `goroscope watch`: a line per scrape, and on Ctrl-C the demo's leak
/// explained down to its code.
#[test]
fn watch_reports_the_leak_on_ctrl_c() {
    let Some(bin) = demo_bin() else { return };
    let demo = Demo::start(bin, "127.0.0.1:0", &["-leak-every", "200ms"]);
    let mut cmd = goroscope(["watch", &demo.url(), "--interval", "1s"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard(Some(cmd.spawn().expect("start goroscope watch")));
    let stdout = guard.child().stdout.take().expect("stdout");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    let text = || lines.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
    wait_for(
        "a leak suspect in the scrape lines",
        Duration::from_secs(60),
        text,
        || {
            text()
                .contains("leak suspects: main.leakyHandler.func1")
                .then_some(())
        },
    );
    let pid = guard.child().id().to_string();
    assert!(run_cmd_quiet(Command::new("kill").args(["-INT", &pid])));
    let status = wait_bounded(
        guard.child(),
        Duration::from_secs(20),
        "goroscope watch after SIGINT",
    );
    let _ = reader.join();
    let out = text();
    assert!(status.success(), "{status:?}\n{out}");
    let report = out
        .split("leak suspect(s) after")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        report.contains("main.leakyHandler.func1  chan_send"),
        "{report}"
    );
    assert!(
        report.contains("created by main.leakyHandler at "),
        "{report}"
    );
    assert!(
        report.contains("blocked in main.leakyHandler.func1 at "),
        "{report}"
    );
    assert!(
        out.lines().filter(|l| l.contains(" goroutines (")).count() >= 8,
        "{out}"
    );
    demo.stop();
}

/// With `--state-dir`, a restarted agent resumes the leak history (the
/// suspect is back at its first scrape); a corrupt state file is set
/// aside with a warning and the agent starts afresh.
#[test]
fn leak_history_survives_an_agent_restart() {
    let Some(bin) = demo_bin() else { return };
    let dir = scratch_dir("serve-state");
    let demo = Demo::start(bin, "127.0.0.1:0", &["-leak-every", "200ms"]);
    let state = dir.to_str().expect("UTF-8 path").to_string();
    let args = [
        "--target",
        &demo.url(),
        "--interval",
        "1s",
        "--state-dir",
        &state,
    ];
    let name = demo.addr.clone();
    let path = format!("/api/v1/targets/{name}/leaks");
    let leaks = |agent: &Agent| -> (u64, usize) {
        let (_, _, body) = agent.get(&path, &[]);
        let v: Value = serde_json::from_slice(&body).expect("leaks JSON");
        (
            v["scrapes"].as_u64().unwrap_or(0),
            v["suspects"].as_array().map_or(0, Vec::len),
        )
    };
    let mut first = Agent::start(&args);
    let (before, _) = wait_for(
        "a suspect",
        Duration::from_secs(60),
        || first.log(),
        || {
            let (scrapes, suspects) = leaks(&first);
            (suspects == 1 && scrapes >= 10).then_some((scrapes, suspects))
        },
    );
    first.signal("-TERM");
    let status = wait_bounded(
        first.guard.child(),
        Duration::from_secs(20),
        "the agent after SIGTERM",
    );
    assert!(status.success());
    let file = dir.join(format!("{}.json", name.replace(':', "_")));
    assert!(file.exists(), "no state file {}", file.display());

    let second = Agent::start(&args);
    let (after, suspects) = wait_for(
        "the resumed history",
        Duration::from_secs(10),
        || second.log(),
        || {
            let (scrapes, suspects) = leaks(&second);
            (scrapes > before).then_some((scrapes, suspects))
        },
    );
    assert_eq!(after, before + 1, "one more scrape on the saved ones");
    assert_eq!(suspects, 1, "the suspect is back at once");
    assert!(
        second.log().contains("leak history resumed"),
        "{}",
        second.log()
    );
    drop(second);

    std::fs::write(&file, b"{ not json").expect("corrupt the state");
    let third = Agent::start(&args);
    wait_for(
        "the corrupt state set aside",
        Duration::from_secs(10),
        || third.log(),
        || third.log().contains("saved state refused").then_some(()),
    );
    let aside = std::fs::read_dir(&dir)
        .expect("state dir")
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".json.corrupt-"));
    assert!(aside, "the corrupt file was set aside");
    assert_eq!(third.get("/healthz", &[]).0, 200);
    wait_for(
        "a fresh history",
        Duration::from_secs(10),
        || third.log(),
        || (leaks(&third).0 >= 1).then_some(()),
    );
    demo.stop();
}

/// Proof on a real program (README "Leak detection"): the demo with every
/// known leak site switched on (a send, a receive, a select on a context,
/// a mutex held forever, a WaitGroup never done, each one goroutine per
/// 500 ms; a slow leak, one per 3 s) beside its known non-leaks (worker
/// pool, request handlers, bursts of 30 short jobs every 2 s, idle
/// keep-alive connections, a cache refresher), scraped every second: every
/// leak site must be flagged and nothing else, ever. Prints the time each
/// site took to be flagged.
#[test]
fn every_leak_site_is_flagged_and_no_load_is() {
    let Some(bin) = demo_bin() else { return };
    let (demo, agent) = demo_watched(
        bin,
        &[
            "-sites",
            "all",
            "-leak-every",
            "500ms",
            "-slow-every",
            "3s",
            "-bursts",
            "2s",
        ],
    );
    let leaks = [
        "main.leakyHandler.func1",
        "main.leakRecv.func1",
        "main.leakSelect.func1",
        "main.leakMutex.func1",
        "main.leakWaitGroup.func1",
        "main.slowLeak.func1",
    ];
    let path = format!("/api/v1/targets/{}/leaks", demo.addr);
    let started = Instant::now();
    let mut detected: BTreeMap<String, f64> = BTreeMap::new();
    let mut false_positives = std::collections::BTreeSet::new();
    while started.elapsed() < Duration::from_secs(45) {
        let (_, _, body) = agent.get(&path, &[]);
        let v: Value = serde_json::from_slice(&body).expect("leaks JSON");
        for s in v["suspects"].as_array().expect("suspects") {
            let f = s["top_function"].as_str().unwrap_or("").to_string();
            if leaks.contains(&f.as_str()) {
                detected.entry(f).or_insert(started.elapsed().as_secs_f64());
            } else {
                false_positives.insert(f);
            }
        }
        if detected.len() == leaks.len() && started.elapsed() > Duration::from_secs(30) {
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    for (f, t) in &detected {
        eprintln!("leak site {f}: flagged after {t:.1} s");
    }
    let missed: Vec<&&str> = leaks
        .iter()
        .filter(|f| !detected.contains_key(**f))
        .collect();
    assert!(
        missed.is_empty(),
        "missed leak sites {missed:?}; agent log:\n{}",
        agent.log()
    );
    assert!(
        false_positives.is_empty(),
        "flagged non-leaks {false_positives:?}"
    );
    demo.stop();
}

/// The ```yaml block of README.md whose first line is `first`.
fn readme_yaml(first: &str) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let open = format!("```yaml\n{first}\n");
    let start = readme
        .find(&open)
        .unwrap_or_else(|| panic!("README has no block {first}"))
        + 8;
    let len = readme[start..].find("```").expect("closed block");
    readme[start..start + len].to_string()
}

/// The shipped rules are `goroscope rules` with the defaults, pass
/// `promtool check rules`, and pass their promtool unit tests (every alert
/// firing and not firing, every recording rule's value).
#[test]
fn shipped_rules_are_generated_checked_and_unit_tested() {
    let dir = repo_root().join("deploy/prometheus");
    for (which, file) in [
        ("alerts", "goroscope-alerts.yaml"),
        ("recording", "goroscope-recording.yaml"),
    ] {
        let out = run(["rules", which]);
        assert_eq!(out.code(), 0, "{}", out.stderr);
        let shipped = std::fs::read_to_string(dir.join(file)).expect(file);
        assert!(
            shipped == out.stdout_str(),
            "deploy/prometheus/{file} differs from `goroscope rules {which}`: regenerate it with \
             `cargo run -p goroscope -- rules {which} > deploy/prometheus/{file}`"
        );
    }
    if !prometheus_available() {
        return;
    }
    let promtool = |args: &[&str]| {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run promtool");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "promtool {args:?}:\n{text}");
        text
    };
    let checked = promtool(&[
        "check",
        "rules",
        "goroscope-alerts.yaml",
        "goroscope-recording.yaml",
    ]);
    assert!(checked.contains("SUCCESS: 10 rules found"), "{checked}");
    assert!(checked.contains("SUCCESS: 17 rules found"), "{checked}");
    let tested = promtool(&[
        "test",
        "rules",
        "tests/alerts_test.yaml",
        "tests/recording_test.yaml",
    ]);
    assert_eq!(tested.matches("SUCCESS").count(), 2, "{tested}");

    // Overrides reach the rules, and bad ones are refused by name.
    let out = run(["rules", "alerts", "--set", "leak_for=45m"]);
    assert!(out.stdout_str().contains("for: 45m"));
    let bad = run(["rules", "alerts", "--set", "leak_for=soon"]);
    assert_eq!(bad.code(), 2);
    assert!(bad.stderr.contains("leak_for=soon"), "{}", bad.stderr);
}

/// README "Federation", its configurations as written there: an edge
/// Prometheus scrapes the agent watching the leaking demo and evaluates the
/// shipped rules (the leak alert's `for` shortened with --set); a central
/// Prometheus federates only the recorded series from it. The leak alert fires at the edge, the recorded series
/// arrive at the centre, and the raw series stay at the edge.
#[test]
fn federation_edge_alerts_and_central_gets_recorded_series() {
    let Some(bin) = demo_bin() else { return };
    if !prometheus_available() {
        return;
    }
    let dir = scratch_dir("federation");
    let (demo, agent) = leaking_demo_watched(bin);
    let alerts = run(["rules", "alerts", "--set", "leak_for=2s"]);
    assert_eq!(alerts.code(), 0, "{}", alerts.stderr);
    let recording = run(["rules", "recording"]);
    std::fs::create_dir_all(dir.join("edge")).expect("edge dir");
    std::fs::write(dir.join("edge/goroscope-alerts.yaml"), alerts.stdout_str()).expect("alerts");
    std::fs::write(
        dir.join("edge/goroscope-recording.yaml"),
        recording.stdout_str(),
    )
    .expect("recording");
    // README's two configurations as they are, pointed at this agent and
    // this edge, and scraping every second.
    let fast = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n";
    let edge_config = readme_yaml("# edge prometheus.yml")
        .replace("global:\n", fast)
        .replace("127.0.0.1:9091", &agent.addr);
    assert!(edge_config.contains(&agent.addr) && edge_config.contains("evaluation_interval"));
    let edge = Prometheus::with_config(&dir.join("edge"), &edge_config);
    let central_config = readme_yaml("# central prometheus.yml");
    assert!(central_config.contains("edge-prometheus:9090") && !central_config.contains("global:"));
    let central = Prometheus::with_config(
        &dir.join("central"),
        &format!(
            "{fast}{}",
            central_config.replace("edge-prometheus:9090", &edge.addr)
        ),
    );
    let log = || agent.log();

    // The leak alert fires at the edge, naming the leaking function.
    let firing = wait_for(
        "GoroscopeLeakSuspect firing at the edge",
        Duration::from_secs(120),
        log,
        || {
            let r = edge.query("ALERTS{alertname=\"GoroscopeLeakSuspect\",alertstate=\"firing\"}");
            (!r.is_empty()).then_some(r)
        },
    );
    assert_eq!(firing.len(), 1, "{firing:?}");
    let labels = &firing[0].0;
    assert_eq!(
        labels["top_function"], "main.leakyHandler.func1",
        "{labels:?}"
    );
    assert_eq!(labels["block_class"], "chan_send");
    assert_eq!(labels["severity"], "warning");
    assert_eq!(labels["target"], demo.addr);
    // Nothing else fires against a healthy, small target.
    let others = edge.query("ALERTS{alertstate=\"firing\",alertname!=\"GoroscopeLeakSuspect\"}");
    assert!(others.is_empty(), "unexpected alerts: {others:?}");

    // The recorded series arrive at the centre with the edge's labels...
    let total = wait_for(
        "job:goroscope_goroutines:sum at the centre",
        Duration::from_secs(60),
        log,
        || {
            let r = central.query("job:goroscope_goroutines:sum");
            (r.len() == 1).then(|| r[0].clone())
        },
    );
    assert_eq!(total.0.get("job").map(String::as_str), Some("goroscope"));
    assert_eq!(total.0.get("edge").map(String::as_str), Some("edge-1"));
    assert!(total.1 > 20.0, "the demo runs more goroutines: {total:?}");
    let by_class = wait_for(
        "5m averages per block class at the centre",
        Duration::from_secs(60),
        log,
        || {
            let r = central
                .query("instance_block_class:goroscope_goroutines:avg_over_time_5m{block_class=\"chan_send\"}");
            (r.len() == 1).then(|| r[0].clone())
        },
    );
    assert_eq!(by_class.0["target"], demo.addr, "{by_class:?}");
    assert_eq!(by_class.0["instance"], agent.addr, "{by_class:?}");
    for q in [
        "instance_block_class:goroscope_goroutines:max_over_time_5m",
        "instance_state:goroscope_goroutines:avg_over_time_5m",
        "instance:goroscope_goroutines:max_over_time_5m",
        "job_block_class:goroscope_goroutines:sum",
        "job:goroscope_leak_suspects:sum",
        "job:goroscope_targets:count",
    ] {
        wait_for(q, Duration::from_secs(30), log, || {
            (!central.query(q).is_empty()).then_some(())
        });
    }
    // ...and only those: the full detail stays at the edge.
    for q in [
        "goroscope_goroutines",
        "goroscope_group_goroutines",
        "instance_block_class:goroscope_goroutines:sum",
    ] {
        assert!(!edge.query(q).is_empty(), "{q} at the edge");
        assert!(central.query(q).is_empty(), "{q} was federated");
    }
    demo.stop();
}

/// The rows of the README table between `<!-- marker -->` and
/// `<!-- /marker -->`: each cell's first `code` span.
fn readme_table(marker: &str) -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let open = format!("<!-- {marker} -->");
    let start = readme
        .find(&open)
        .unwrap_or_else(|| panic!("README has no {open}"));
    let end = start
        + readme[start..]
            .find(&format!("<!-- /{marker} -->"))
            .unwrap_or_else(|| panic!("README: {marker} is not closed"));
    readme[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| c.split('`').nth(1).unwrap_or(c).to_string())
                .collect()
        })
        .collect()
}

type SeriesKey = (String, BTreeMap<String, String>);

/// Every series of a Prometheus text page: name, labels, value; `le`
/// normalised to the number it denotes.
fn prom_series(text: &str) -> BTreeMap<SeriesKey, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, mut rest) = match line.find(['{', ' ']) {
            Some(i) => (&line[..i], &line[i..]),
            None => panic!("no value: {line}"),
        };
        let mut labels = BTreeMap::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut r = r;
            while !r.starts_with('}') {
                let eq = r.find('=').expect("label =");
                let key = r[..eq].trim_start_matches(',').to_string();
                let mut chars = r[eq + 2..].char_indices();
                let mut value = String::new();
                let end = loop {
                    match chars.next().expect("closing quote") {
                        (i, '"') => break i,
                        (_, '\\') => match chars.next().expect("escape").1 {
                            'n' => value.push('\n'),
                            c => value.push(c),
                        },
                        (_, c) => value.push(c),
                    }
                };
                r = r[eq + 2 + end + 1..].trim_start_matches(',');
                labels.insert(key, value);
            }
            rest = &r[1..];
        }
        if let Some(le) = labels.get_mut("le") {
            *le = norm_le(le);
        }
        let value = rest.split_whitespace().next().expect("value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        out.insert((name.to_string(), labels), value);
    }
    out
}

fn norm_le(le: &str) -> String {
    match le.parse::<f64>() {
        Ok(v) if v.is_finite() => format!("{v}"),
        _ => "+Inf".to_string(),
    }
}

/// README "OTLP export": a push the real collector received and wrote out
/// is the same as `/metrics` at the same state: the target is scraped once
/// (interval 1h, a full dump so that the wait histogram has data) and the
/// agent pushes every second, so nothing changes between the two.
#[test]
fn otlp_export_reaches_a_real_collector_and_agrees_with_metrics() {
    let Some(demo_bin) = demo_bin() else { return };
    let Some(otelcol) = otelcol_bin() else { return };
    let dir = scratch_dir("otlp");
    let out = dir.join("received.jsonl");
    let port = free_port();
    let config = dir.join("otelcol.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{port}\n\
             exporters:\n  file:\n    path: {}\n    format: json\n    flush_interval: 100ms\n\
             service:\n  telemetry:\n    metrics:\n      level: none\n  \
             pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [file]\n",
            out.display()
        ),
    )
    .expect("collector config");
    let log = std::fs::File::create(dir.join("otelcol.log")).expect("log");
    let mut collector = ChildGuard(Some(
        Command::new(otelcol)
            .arg(format!("--config=file:{}", config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the collector"),
    ));
    let collector_log = || std::fs::read_to_string(dir.join("otelcol.log")).unwrap_or_default();
    wait_for(
        "the collector to listen",
        CHILD_TIMEOUT,
        collector_log,
        || {
            // Ours, not a leftover on the same port: it must still run.
            assert!(
                collector.child().try_wait().expect("wait").is_none(),
                "the collector exited:\n{}",
                collector_log()
            );
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        },
    );

    // -distinct: parked goroutines under trace_id labels, so the one dump
    // surely has exemplars.
    let demo = Demo::start(
        demo_bin,
        "127.0.0.1:0",
        &["-leak-every", "0", "-distinct", "20"],
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let agent = Agent::start_env(
        &[
            "--target",
            &demo.url(),
            "--interval",
            "1h",
            "--timeout",
            "30s",
            "--mode",
            "dump",
            "--otlp-endpoint",
            &endpoint,
            "--otlp-interval",
            "1s",
        ],
        &[
            ("K8S_POD_NAME", "checkout-7d9f"),
            ("K8S_NAMESPACE_NAME", "shop"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=test,team=pay%20ments",
            ),
        ],
    );
    let name = demo.addr.clone();
    wait_for(
        "the first scrape",
        Duration::from_secs(60),
        || agent.log(),
        || (agent.get("/readyz", &[]).0 == 200).then_some(()),
    );
    // Two pushes after the scrape: the last one is complete and current.
    let push: Value = wait_for(
        "two pushes at the collector",
        Duration::from_secs(60),
        || format!("{}\ncollector:\n{}", agent.log(), collector_log()),
        || {
            let text = std::fs::read_to_string(&out).ok()?;
            let lines: Vec<&str> = text.lines().collect();
            (lines.len() >= 2)
                .then(|| serde_json::from_str(lines[lines.len() - 1]).expect("a JSON line"))
        },
    );
    let page = agent.metrics(false);
    let openmetrics = agent.metrics(true);

    let names: BTreeMap<String, (String, String, String)> = readme_table("otlp-names")
        .into_iter()
        .map(|r| (r[1].clone(), (r[0].clone(), r[2].clone(), r[3].clone())))
        .collect();
    assert_eq!(names.len(), 25, "README lists every family");
    let attributes: BTreeMap<String, String> = readme_table("otlp-attributes")
        .into_iter()
        .map(|r| (r[1].clone(), r[0].clone()))
        .collect();

    let resources = push["resourceMetrics"].as_array().expect("resourceMetrics");
    assert_eq!(resources.len(), 1, "one target, one resource");
    let rm = &resources[0];
    let attr = |list: &Value| -> BTreeMap<String, String> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .map(|kv| {
                        let v = &kv["value"]["stringValue"];
                        (
                            kv["key"].as_str().expect("key").to_string(),
                            v.as_str().expect("string").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let resource = attr(&rm["resource"]["attributes"]);
    for (k, v) in [
        ("goroscope.target", name.as_str()),
        ("service.name", name.as_str()),
        ("service.instance.id", name.as_str()),
        ("k8s.pod.name", "checkout-7d9f"),
        ("k8s.namespace.name", "shop"),
        ("deployment.environment", "test"),
        ("team", "pay ments"),
    ] {
        assert_eq!(
            resource.get(k).map(String::as_str),
            Some(v),
            "{k} in {resource:?}"
        );
    }
    let scope = &rm["scopeMetrics"][0];
    assert_eq!(scope["scope"]["name"], "goroscope");

    // The push as Prometheus series, through the README's tables.
    let mut pushed: BTreeMap<SeriesKey, f64> = BTreeMap::new();
    let mut trace_ids = std::collections::BTreeSet::new();
    let num = |v: &Value| -> f64 {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("a number: {v}"))
    };
    for m in scope["metrics"].as_array().expect("metrics") {
        let otel = m["name"].as_str().expect("name");
        let (prom, unit, ty) = names
            .get(otel)
            .unwrap_or_else(|| panic!("{otel} is not in README's table"));
        assert_eq!(m["unit"].as_str(), Some(unit.as_str()), "{otel} unit");
        assert!(m.get(ty.as_str()).is_some(), "{otel} is a {ty}: {m}");
        let labels_of = |dp: &Value| -> BTreeMap<String, String> {
            let mut l: BTreeMap<String, String> = attr(&dp["attributes"])
                .into_iter()
                .map(|(k, v)| {
                    let label = attributes
                        .get(&k)
                        .unwrap_or_else(|| panic!("attribute {k} of {otel} is not in README"));
                    (label.clone(), v)
                })
                .collect();
            l.insert("target".into(), name.clone());
            l
        };
        let data = &m[ty.as_str()];
        if ty != "gauge" {
            assert_eq!(data["aggregationTemporality"], 2, "{otel} is cumulative");
        }
        if ty == "sum" {
            assert_eq!(data["isMonotonic"], true, "{otel}");
        }
        for dp in data["dataPoints"].as_array().expect("dataPoints") {
            let labels = labels_of(dp);
            if ty != "gauge" {
                let (start, at) = (num(&dp["startTimeUnixNano"]), num(&dp["timeUnixNano"]));
                assert!(
                    start > 0.0 && start < at,
                    "{otel}: start {start}, time {at}"
                );
            }
            match ty.as_str() {
                "gauge" => {
                    pushed.insert((prom.clone(), labels), num(&dp["asDouble"]));
                }
                "sum" => {
                    pushed.insert((prom.clone(), labels), num(&dp["asInt"]));
                }
                _ => {
                    let bounds: Vec<f64> = dp["explicitBounds"]
                        .as_array()
                        .expect("bounds")
                        .iter()
                        .map(num)
                        .collect();
                    let counts: Vec<f64> = dp["bucketCounts"]
                        .as_array()
                        .expect("counts")
                        .iter()
                        .map(num)
                        .collect();
                    assert_eq!(counts.len(), bounds.len() + 1);
                    let mut cumulative = 0.0;
                    for (i, c) in counts.iter().enumerate() {
                        cumulative += c;
                        let mut l = labels.clone();
                        let le = bounds.get(i).map_or("+Inf".to_string(), |b| format!("{b}"));
                        l.insert("le".into(), le);
                        pushed.insert((format!("{prom}_bucket"), l), cumulative);
                    }
                    assert_eq!(cumulative, num(&dp["count"]), "{otel}: count");
                    pushed.insert((format!("{prom}_count"), labels.clone()), num(&dp["count"]));
                    pushed.insert((format!("{prom}_sum"), labels), num(&dp["sum"]));
                    for e in dp["exemplars"].as_array().into_iter().flatten() {
                        let id = e["traceId"].as_str().expect("exemplar trace id");
                        assert_eq!(id.len(), 32, "{e}");
                        trace_ids.insert(id.to_string());
                    }
                }
            }
        }
    }
    let scraped: BTreeMap<SeriesKey, f64> = prom_series(&page)
        .into_iter()
        .filter(|((_, l), _)| l.get("target") == Some(&name))
        .collect();
    assert!(scraped.len() > 50, "{page}");
    let only_pushed: Vec<_> = pushed
        .iter()
        .filter(|(k, _)| !scraped.contains_key(*k))
        .collect();
    let only_scraped: Vec<_> = scraped
        .iter()
        .filter(|(k, _)| !pushed.contains_key(*k))
        .collect();
    assert!(
        only_pushed.is_empty() && only_scraped.is_empty(),
        "series differ:\nonly in OTLP: {only_pushed:#?}\nonly in /metrics: {only_scraped:#?}"
    );
    let differ: Vec<_> = pushed
        .iter()
        .filter(|(k, v)| scraped[*k] != **v)
        .map(|(k, v)| (k, v, scraped[k]))
        .collect();
    assert!(
        differ.is_empty(),
        "values differ (series, OTLP, /metrics): {differ:#?}"
    );
    // The families that matter most are there, with real values.
    let dumped = pushed
        .keys()
        .filter(|(n, _)| n == "goroscope_goroutine_wait_seconds_count")
        .count();
    assert!(dumped > 0, "no wait histogram: was the scrape a dump?");
    let pool = pushed
        .iter()
        .find(|((n, l), _)| {
            n == "goroscope_group_goroutines"
                && l.get("top_function").map(String::as_str) == Some("main.poolWorker")
        })
        .map(|(_, v)| *v);
    assert_eq!(pool, demo.expected()["main.poolWorker"].as_f64());

    // The exemplars: the same trace ids as OpenMetrics shows.
    let shown: std::collections::BTreeSet<String> = openmetrics
        .lines()
        .filter(|l| l.starts_with("goroscope_goroutine_wait_seconds_bucket"))
        .filter_map(|l| l.split("trace_id=\"").nth(1)?.split('"').next())
        .map(str::to_string)
        .collect();
    assert!(!shown.is_empty(), "no exemplars in /metrics: {openmetrics}");
    assert_eq!(trace_ids, shown);

    let exports = prom_series(&page)
        .into_iter()
        .find(|((n, l), _)| n == "goroscope_otlp_exports_total" && l["result"] == "ok")
        .map(|(_, v)| v);
    assert!(exports.is_some_and(|n| n >= 2.0), "{page}");
    demo.stop();
}

/// Every PromQL expression of a Grafana dashboard: panel targets,
/// variable queries (`label_values(...)` turned into the query it runs) and
/// annotations; each with where it came from.
fn dashboard_queries(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?");
            out.push((
                format!("panel {title:?} {}", t["refId"]),
                t["expr"].as_str().expect("expr").to_string(),
            ));
        }
    }
    for v in dash["templating"]["list"].as_array().expect("templating") {
        let Some(q) = v["query"]["query"].as_str() else {
            continue;
        };
        // label_values(METRIC{...}, LABEL) asks for LABEL's values.
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .expect("label_values query");
        let (metric, label) = inner.rsplit_once(',').expect("metric, label");
        out.push((
            format!("variable {}", v["name"]),
            format!("group by ({}) ({})", label.trim(), metric.trim()),
        ));
    }
    for a in dash["annotations"]["list"].as_array().into_iter().flatten() {
        out.push((
            format!("annotation {}", a["name"]),
            a["expr"].as_str().expect("expr").to_string(),
        ));
    }
    out
}

/// README "Dashboard": every query of deploy/grafana/goroscope-dashboard.json
/// names only metrics and labels the agent exports, and run against a real
/// Prometheus scraping the agent (watching the leaking demo, with dumps)
/// each parses and the panels return data.
#[test]
fn dashboard_queries_use_only_exported_series_and_return_data() {
    let Some(bin) = demo_bin() else { return };
    if !prometheus_available() {
        return;
    }
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/grafana/goroscope-dashboard.json"))
            .expect("dashboard"),
    )
    .expect("dashboard JSON");
    let queries = dashboard_queries(&dash);
    assert!(queries.len() >= 20, "{queries:?}");

    let dir = scratch_dir("dashboard");
    // The leaking demo, and a target with nothing listening: the error
    // panels have data too.
    let demo = Demo::start(bin, "127.0.0.1:0", &["-leak-every", "200ms"]);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let agent = Agent::start(&[
        "--target",
        &demo.url(),
        "--target",
        &dead,
        "--interval",
        "1s",
        "--dump-min-interval",
        "2s",
    ]);
    let prom = Prometheus::start(&dir, &agent.addr);
    let log = || agent.log();
    // Data for every panel: a dump (wait histogram) and a leak suspect.
    wait_for(
        "a leak suspect in Prometheus",
        Duration::from_secs(90),
        log,
        || {
            (!prom.query("goroscope_leak_suspect_score").is_empty()
                && !prom
                    .query("goroscope_goroutine_wait_seconds_bucket")
                    .is_empty())
            .then_some(())
        },
    );

    // What the agent exports: family names (with their sample suffixes)
    // and label names.
    let page = agent.metrics(false);
    let mut names = std::collections::BTreeSet::new();
    for l in page.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut it = l.split_whitespace();
        let (name, ty) = (it.next().expect("name"), it.next().expect("type"));
        names.insert(name.to_string());
        match ty {
            "histogram" => {
                for s in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{s}"));
                }
            }
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            _ => {}
        }
    }
    let mut labels: std::collections::BTreeSet<String> = prom_series(&page)
        .keys()
        .flat_map(|(_, l)| l.keys().cloned())
        .collect();
    // Added by the Prometheus scraping the agent, and by its alerting.
    labels.extend(["job", "instance", "alertname", "alertstate"].map(String::from));
    names.insert("ALERTS".into());

    // Every panel query must have data with this workload but two: no
    // goroutineleak profile (the demo is not built with the experiment)
    // and no alert rules loaded here.
    let may_be_empty =
        |q: &str| q.contains("goroscope_leak_profile_goroutines") || q.starts_with("ALERTS");
    for (what, q) in &queries {
        // Identifiers followed by `{`, `(`... : metric names are the ones
        // that are not PromQL functions or keywords.
        let idents: Vec<&str> = q
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.starts_with("goroscope_") || *w == "ALERTS")
            .collect();
        assert!(!idents.is_empty(), "{what}: no metric in {q}");
        for m in idents {
            assert!(
                names.contains(m),
                "{what}: {m} is not exported by the agent ({q})"
            );
        }
        // Label names: in matchers and in by (...) clauses.
        let mut used = Vec::new();
        for part in q.split('{').skip(1) {
            let body = part.split('}').next().unwrap_or("");
            for m in body.split(',') {
                if let Some(i) = m.find(['=', '!']) {
                    used.push(m[..i].trim().to_string());
                }
            }
        }
        for part in q.split("by (").skip(1) {
            used.extend(
                part.split(')')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|l| l.trim().to_string()),
            );
        }
        for l in used.iter().filter(|l| !l.is_empty()) {
            assert!(
                labels.contains(l),
                "{what}: label {l} is not exported ({q})"
            );
        }
        // Grafana's variables as Grafana would fill them with "All".
        let concrete = q
            .replace("$__rate_interval", "1m")
            .replace("$job", ".*")
            .replace("$instance", ".*")
            .replace("$target", ".*");
        let result = prom.query(&concrete);
        if !may_be_empty(q) {
            assert!(
                !result.is_empty(),
                "{what}: no data for {concrete}\n{}",
                log()
            );
        }
    }
    demo.stop();
}

/// README "Execution trace windows": with `--trace-window` the agent takes
/// execution traces of the demo now and then and exports exact time in
/// state per block class and scheduler latency, as Prometheus histograms
/// within the documented bound, and over OTLP by the same family list.
#[test]
fn trace_windows_feed_state_duration_and_scheduler_latency() {
    let Some(bin) = demo_bin() else { return };
    let demo = Demo::start(bin, "127.0.0.1:0", &["-leak-every", "0"]);
    let agent = Agent::start(&[
        "--target",
        &demo.url(),
        "--interval",
        "1s",
        "--trace-window",
        "1s",
        "--trace-interval",
        "2s",
    ]);
    let name = demo.addr.clone();
    let text = wait_for(
        "two trace windows",
        Duration::from_secs(60),
        || agent.log(),
        || {
            let text = agent.metrics(false);
            value(&text, "goroscope_trace_windows_total", &[("target", &name)])
                .filter(|&n| n >= 2.0)
                .map(|_| text)
        },
    );
    // The demo's worker pool waits on a channel; its handlers take a
    // contended lock; every goroutine runs and waits for a CPU.
    let count = |state: &str, class: &str| {
        value(
            &text,
            "goroscope_goroutine_state_duration_seconds_count",
            &[("target", &name), ("state", state), ("block_class", class)],
        )
        .unwrap_or(0.0)
    };
    assert!(count("waiting", "chan_receive") > 0.0, "{text}");
    assert!(count("running", "none") > 0.0, "{text}");
    assert!(count("runnable", "none") > 0.0, "{text}");
    let sched = value(
        &text,
        "goroscope_scheduler_latency_seconds_count",
        &[("target", &name)],
    )
    .expect("scheduler latency");
    assert!(sched > 0.0);
    // Cumulative buckets end at the count.
    let inf = value(
        &text,
        "goroscope_scheduler_latency_seconds_bucket",
        &[("target", &name), ("le", "+Inf")],
    );
    assert_eq!(inf, Some(sched));
    // Within the bound: the defaults' 442 plus the trace families' 190.
    let series = series_of(&text, &name);
    assert!(series.len() <= 442 + 190, "{} series", series.len());
    if let Some(out) = promtool_check(&text) {
        assert!(out.status.success(), "promtool: {}", out.stderr);
    }
    if let Some(families) = openmetrics_parse(&agent.metrics(true)) {
        assert!(
            families
                .iter()
                .any(|f| f == "goroscope_goroutine_state_duration_seconds"),
            "{families:?}"
        );
    }
    demo.stop();
}
