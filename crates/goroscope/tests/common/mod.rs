//! Helpers shared by the integration tests that run the real `goroscope`
//! binary: running processes with a bounded time, temporary paths, the JSON
//! report, and the Go workload manifest (testdata/goprog, expected.json).

#![allow(dead_code)] // each test crate uses a different subset

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_goroscope");

/// No child process of these tests may run longer than this.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A recorded fixture, e.g. `fixture("go1.26", "stack.txt")`.
pub fn fixture(version: &str, file: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(version).join(file)
}

/// Every recorded dump: (version directory, file name, path).
pub fn all_fixtures() -> Vec<(String, String, PathBuf)> {
    let root = repo_root().join("tests/fixtures");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/fixtures is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    versions.sort();
    assert!(!versions.is_empty(), "no fixtures under {}", root.display());
    let mut out = Vec::new();
    for v in versions {
        let name = v
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 directory name")
            .to_string();
        for file in [
            "stack.txt",
            "debug2.txt",
            "ancestors.txt",
            "labels.txt",
            "crash_system.txt",
            "sigquit_crash.txt",
        ] {
            // The SIGQUIT dump is recorded for some releases only.
            if v.join(file).exists() {
                out.push((name.clone(), file.to_string(), v.join(file)));
            }
        }
    }
    out
}

/// A fresh, empty directory for one test, under cargo's per-target tmpdir.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("goroscope-tests")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Whether this is a CI run (`CI=true`), where missing tools are failures.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// What a finished child printed.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, raw.
    pub stdout: Vec<u8>,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Output {
    /// Standard output as text (panics if it is not UTF-8).
    pub fn stdout_str(&self) -> &str {
        std::str::from_utf8(&self.stdout).expect("stdout is UTF-8")
    }

    /// The exit code (panics when killed by a signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {:?}\n{}", self.status, self.stderr))
    }
}

/// Kills and reaps a child when dropped (also when a test panics).
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    /// The child.
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child still owned by the guard")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads a pipe to its end on a thread.
fn drain<R: Read + Send + 'static>(r: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits for `child` at most `timeout`; kills it and panics after that.
pub fn wait_bounded(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait().expect("try_wait") {
            Some(st) => return st,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what}: still running after {timeout:?}, killed");
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Runs `cmd` to completion (bounded by `timeout`), feeding it `stdin`
/// (no stdin at all when `None`), and collects its output.
pub fn run_cmd(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let writer = child.stdin.take().map(|mut w| {
        let data = stdin.unwrap_or_default();
        thread::spawn(move || {
            // The child may legitimately stop reading early.
            let _ = w.write_all(&data);
        })
    });
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_bounded(&mut child, timeout, &what);
    if let Some(w) = writer {
        w.join().expect("stdin writer thread");
    }
    Output {
        status,
        stdout: out.join().expect("stdout reader thread"),
        stderr: String::from_utf8_lossy(&err.join().expect("stderr reader thread")).into_owned(),
    }
}

/// A `goroscope` command with a clean colour environment.
pub fn goroscope<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("NO_COLOR");
    cmd
}

/// Runs `goroscope ARGS` without stdin.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_cmd(goroscope(args), None, CHILD_TIMEOUT)
}

/// `goroscope analyze PATH --format json`, which must succeed; the report.
pub fn analyze_json(path: &Path) -> Value {
    let out = run([
        OsStr::new("analyze"),
        path.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
    ]);
    assert_eq!(
        out.code(),
        0,
        "goroscope analyze {} --format json failed: {}",
        path.display(),
        out.stderr
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON report of {} does not parse: {e}\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `v[key]` as an integer (panics with context otherwise).
pub fn int(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{key} is not an integer in {v}"))
}

/// Sum of the integer values of an object field.
pub fn sum_obj(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{key} is not an object"))
        .values()
        .map(|n| {
            n.as_u64()
                .unwrap_or_else(|| panic!("{key}: {n} is not a count"))
        })
        .sum()
}

/// The groups of a report.
pub fn groups(report: &Value) -> &Vec<Value> {
    report["groups"].as_array().expect("groups is an array")
}

/// The manifest's identification rule applied to a group: the outermost
/// frame of its own stack whose function starts with `main.w`. (All members
/// of a group share the function sequence, so the group has one kind.)
pub fn kind_of_group(group: &Value) -> Option<&str> {
    group["frames"]
        .as_array()
        .expect("frames is an array")
        .iter()
        .rev()
        .filter_map(|f| f["function"].as_str())
        .find(|f| f.starts_with("main.w"))
}

/// How strictly [`check_kinds`] compares a report with the manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct KindCheck {
    /// Crash dumps: spinners still running on another CPU print
    /// "stack unavailable" and cannot be attributed to `main.wSpin`.
    pub spinners_may_be_unavailable: bool,
    /// The dump was taken with GODEBUG=tracebacklabels=1: the labeled
    /// kind's group must carry every label value of the manifest.
    pub labels_required: bool,
    /// A goroutine profile: states are inferred, so running, runnable and
    /// preempted are all `on_cpu`.
    pub inferred_states: bool,
    /// A debug=1 profile: a kind whose frames that tell are hidden may be
    /// state and class `unknown` instead of the manifest's.
    pub unknown_allowed: bool,
    /// A goroutine profile keeps only the innermost frames of a stack (Go
    /// records a bounded depth), so `main.wDeep`'s goroutines, 100+ frames
    /// of `main.deepRec` deep, have no `main.w` frame left: count the
    /// groups made of `main.deepRec` and runtime frames as that kind.
    pub deep_stacks_cut: bool,
}

/// Whether a group's frames are `main.deepRec` recursion (plus runtime
/// frames) and nothing else: wDeep's stack cut short by a profile.
pub fn only_deep_rec(g: &Value) -> bool {
    let fs = g["frames"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let names = fs.iter().filter_map(|f| f["function"].as_str());
    let mut deep = 0;
    for n in names {
        if n == "main.deepRec" {
            deep += 1;
        } else if !n.starts_with("runtime.") {
            return false;
        }
    }
    deep > 50
}

/// Checks a JSON report against a manifest (expected.json): for every kind,
/// the groups identified as that kind add up to its count, have its block
/// class, only states it allows, user origin and (optionally) its labels.
pub fn check_kinds(report: &Value, manifest: &Value, ctx: &str, how: KindCheck) {
    let kinds = manifest["kinds"]
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: manifest has no kinds object"));
    let mut by_kind: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for g in groups(report) {
        if let Some(k) = kind_of_group(g) {
            by_kind.entry(k).or_default().push(g);
        } else if how.deep_stacks_cut && only_deep_rec(g) {
            by_kind.entry("main.wDeep").or_default().push(g);
        }
    }
    for k in by_kind.keys() {
        assert!(
            kinds.contains_key(*k),
            "{ctx}: groups of kind {k} which the manifest does not list"
        );
    }
    for (name, spec) in kinds {
        let want = int(spec, "count");
        let gs = by_kind.get(name.as_str()).cloned().unwrap_or_default();
        let got: u64 = gs.iter().map(|g| int(g, "count")).sum();
        if name == "main.wSpin" && how.spinners_may_be_unavailable {
            let unavailable = int(&report["flags"], "stack_unavailable");
            assert!(
                got <= want && got + unavailable >= want,
                "{ctx}: {name}: {got} found + {unavailable} stack unavailable, want {want}"
            );
        } else {
            assert_eq!(got, want, "{ctx}: goroutines of kind {name}");
        }
        let class = spec["block_class"].as_str().expect("block_class");
        let mut states: BTreeSet<&str> = spec["states"]
            .as_array()
            .expect("states")
            .iter()
            .filter_map(Value::as_str)
            .map(|s| match s {
                "running" | "runnable" | "preempted" if how.inferred_states => "on_cpu",
                s => s,
            })
            .collect();
        if how.unknown_allowed {
            states.insert("unknown");
        }
        for g in &gs {
            let sig = g["signature"].as_str().unwrap_or("?");
            let got = g["block_class"].as_str();
            assert!(
                got == Some(class) || (how.unknown_allowed && got == Some("unknown")),
                "{ctx}: block class of {name} group {sig}: {got:?}, want {class}"
            );
            assert_eq!(
                g["origin"].as_str(),
                Some("user"),
                "{ctx}: origin of {name} group {sig}"
            );
            let group_states = g["states"].as_object().expect("group states");
            for s in group_states.keys() {
                assert!(
                    states.contains(s.as_str()),
                    "{ctx}: {name} group {sig} has state {s}, manifest allows {states:?}"
                );
            }
        }
        // Union of the label values of the kind's groups.
        let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for g in &gs {
            for (k, vs) in g["labels"].as_object().expect("labels object") {
                for v in vs.as_array().expect("label values array") {
                    labels
                        .entry(k.clone())
                        .or_default()
                        .insert(v.as_str().expect("label value string").to_string());
                }
            }
        }
        let mut want_labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for set in spec
            .get("label_sets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for (k, v) in set.as_object().expect("label set object") {
                want_labels
                    .entry(k.clone())
                    .or_default()
                    .insert(v.as_str().expect("label value").to_string());
            }
        }
        if how.labels_required {
            assert_eq!(labels, want_labels, "{ctx}: labels of {name}");
        } else {
            // Without GODEBUG=tracebacklabels=1 labels only show where the
            // Go release prints them by default; then they must be right.
            assert!(
                labels.is_empty() || labels == want_labels,
                "{ctx}: labels of {name}: {labels:?}, manifest {want_labels:?}"
            );
        }
    }
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Runs `promtool check metrics` on `text`. Returns `None` (after printing a
/// note) when promtool is not installed outside CI; fails under CI=true.
pub fn promtool_check(text: &str) -> Option<Output> {
    let mut cmd = Command::new("promtool");
    cmd.args(["check", "metrics"]);
    match Command::new("promtool").arg("--version").output() {
        Ok(_) => Some(run_cmd(cmd, Some(text.as_bytes().to_vec()), CHILD_TIMEOUT)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                !in_ci(),
                "promtool is not installed but CI=true: install Debian's `prometheus` \
                 package (scripts/test.sh does) so --format openmetrics can be validated"
            );
            eprintln!("note: promtool not found on PATH; skipping the promtool check");
            None
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    }
}

/// Parses `text` with the OpenMetrics parser of the Python client library
/// (`prometheus_client.openmetrics.parser`), which, unlike promtool, checks
/// the OpenMetrics grammar (HELP escaping, `# EOF`). Returns the family
/// names, or `None` (after a note) when the library is missing outside CI;
/// fails under CI=true.
pub fn openmetrics_parse(text: &str) -> Option<Vec<String>> {
    const SCRIPT: &str = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
        for family in parse(sys.stdin.read()):\n    print(family.name)\n";
    let probe = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            !in_ci(),
            "python3 with prometheus_client is missing but CI=true: \
             `python3 -m pip install prometheus-client` (scripts/test.sh does)"
        );
        eprintln!("note: prometheus_client not importable; skipping the OpenMetrics parse");
        return None;
    }
    let mut cmd = Command::new("python3");
    cmd.args(["-c", SCRIPT]);
    let out = run_cmd(cmd, Some(text.as_bytes().to_vec()), CHILD_TIMEOUT);
    assert_eq!(
        out.code(),
        0,
        "the OpenMetrics parser rejected the output: {}",
        out.stderr
    );
    Some(out.stdout_str().lines().map(str::to_string).collect())
}

/// Builds the Go package in `dir` (stdlib only) into cargo's per-target
/// tmpdir as `name`, with `env`; `None` (after a note) when Go is not
/// installed outside CI, a failure under CI.
pub fn build_go(dir: &Path, name: &str, env: &[(&str, &str)]) -> Option<PathBuf> {
    match Command::new("go").arg("version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`go version` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                !in_ci(),
                "go is not on PATH but CI=true: the live Go tests need Go 1.26 \
                 (install it; scripts/test.sh checks for it)"
            );
            eprintln!("note: go not found on PATH; skipping the live Go tests");
            return None;
        }
        Err(e) => panic!("cannot run go: {e}"),
    }
    let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let mut cmd = Command::new("go");
    cmd.args(["build", "-trimpath", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_cmd(cmd, None, Duration::from_secs(600));
    assert!(
        out.status.success(),
        "go build of {} failed:\n{}",
        dir.display(),
        out.stderr
    );
    Some(bin)
}

/// One HTTP/1.0 request (`headers` as `Name: value`): status, head, body.
pub fn http(addr: &str, method: &str, path: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    s.set_write_timeout(Some(Duration::from_secs(30)))
        .expect("write timeout");
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send request");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no end of headers"));
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: bad status line in {head:?}"));
    (status, head, resp[split + 4..].to_vec())
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// Percent-encodes a query parameter value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The first line a child prints on `out`, trimmed, within
/// [`CHILD_TIMEOUT`] (`None` if none came); the rest is drained.
pub fn first_line<R: Read + Send + 'static>(out: R) -> Option<String> {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut r = std::io::BufReader::new(out);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    });
    rx.recv_timeout(CHILD_TIMEOUT)
        .ok()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_end().to_string())
}
