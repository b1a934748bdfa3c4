//! End-to-end tests against real Go: the workload program in testdata/goprog
//! is built with the machine's Go and run in each of its dump modes
//! (`runtime.Stack` to a file, with tracebackancestors and tracebacklabels,
//! the live `/debug/pprof/goroutine?debug=2` endpoint, a
//! `GOTRACEBACK=system` crash); `goroscope analyze --format json` must find
//! every kind of goroutine the program's manifest announces.
//!
//! Without `go` on PATH the tests skip with a note, except under `CI=true`,
//! where they fail.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::Duration;

use common::{
    analyze_json, build_go, check_kinds, first_line, groups, http, int, kind_of_group,
    promtool_check, read_json, repo_root, run_cmd, scratch_dir, wait_bounded, ChildGuard,
    KindCheck, Output, CHILD_TIMEOUT,
};
use serde_json::Value;

/// The workload gives up when it has not settled after this long (its
/// `-timeout`); [`CHILD_TIMEOUT`] kills it a little later in any case.
const SETTLE_TIMEOUT: &str = "45s";

static GOPROG: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Builds testdata/goprog once per test run; `None` (after a note) when Go
/// is not installed outside CI.
fn goprog() -> Option<&'static Path> {
    build_goprog(&GOPROG, "goprog", &[])
}

static GOPROG_LEAK: OnceLock<Option<PathBuf>> = OnceLock::new();

/// testdata/goprog built with GOEXPERIMENT=goroutineleakprofile (Go 1.26),
/// which serves /debug/pprof/goroutineleak.
fn goprog_leak() -> Option<&'static Path> {
    build_goprog(
        &GOPROG_LEAK,
        "goprog-leak",
        &[("GOEXPERIMENT", "goroutineleakprofile")],
    )
}

fn build_goprog(
    cell: &'static OnceLock<Option<PathBuf>>,
    name: &str,
    env: &[(&str, &str)],
) -> Option<&'static Path> {
    cell.get_or_init(|| build_go(&repo_root().join("testdata/goprog"), name, env))
        .as_deref()
}

/// One workload at a time: its CPU spinners and settling loop compete for
/// the (few) cores, and concurrent runs would slow each other's settling.
fn workload_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A goprog command with a clean traceback environment plus `env`.
fn goprog_cmd(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_remove("GOTRACEBACK")
        .env_remove("GODEBUG")
        .args(["-timeout", SETTLE_TIMEOUT])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 scratch path")
}

/// Runs goprog in `-out` mode (with `env`) and returns the dump's path and
/// the manifest.
fn record_dump(name: &str, env: &[(&str, &str)]) -> Option<(PathBuf, Value)> {
    let bin = goprog()?;
    let dir = scratch_dir(name);
    let dump = dir.join("dump.txt");
    let manifest = dir.join("expected.json");
    let out = {
        let _one = workload_lock();
        run_cmd(
            goprog_cmd(
                bin,
                &["-out", path_str(&dump), "-expect", path_str(&manifest)],
                env,
            ),
            None,
            CHILD_TIMEOUT,
        )
    };
    assert_eq!(
        out.code(),
        0,
        "goprog -out ({env:?}) failed:\n{}",
        out.stderr
    );
    Some((dump, read_json(&manifest)))
}

/// The checks every live dump gets: schema totals, no diagnostics, kinds.
fn check_live(report: &Value, manifest: &Value, ctx: &str, how: KindCheck) {
    let ctx = format!("{ctx} ({})", manifest["go_version"].as_str().unwrap_or("?"));
    let total = int(report, "total");
    let in_groups: u64 = groups(report).iter().map(|g| int(g, "count")).sum();
    assert_eq!(in_groups, total, "{ctx}: group counts add up to total");
    let workload: u64 = manifest["kinds"]
        .as_object()
        .expect("kinds")
        .values()
        .map(|k| int(k, "count"))
        .sum();
    assert!(
        total > workload,
        "{ctx}: {total} goroutines, the workload alone has {workload}"
    );
    assert_eq!(
        report["diagnostics"].as_array().map(Vec::len),
        Some(0),
        "{ctx}: diagnostics {}",
        report["diagnostics"]
    );
    check_kinds(report, manifest, &ctx, how);
}

/// The group of the given kind (there must be exactly one).
fn group_of<'a>(report: &'a Value, kind: &str) -> &'a Value {
    let gs: Vec<&Value> = groups(report)
        .iter()
        .filter(|g| kind_of_group(g) == Some(kind))
        .collect();
    assert_eq!(gs.len(), 1, "groups of {kind}");
    gs[0]
}

#[test]
fn runtime_stack_dump_matches_the_manifest() {
    let Some((dump, manifest)) = record_dump("live-out", &[]) else {
        return;
    };
    let report = analyze_json(&dump);
    check_live(&report, &manifest, "goprog -out", KindCheck::default());
    // The program's own goroutine is running in main.allStacks.
    assert!(int(&report["states"], "running") >= 1);

    // The same dump passes promtool as OpenMetrics.
    let om = common::run([
        std::ffi::OsStr::new("analyze"),
        dump.as_os_str(),
        std::ffi::OsStr::new("--format"),
        std::ffi::OsStr::new("openmetrics"),
    ]);
    assert_eq!(om.code(), 0, "{}", om.stderr);
    if let Some(check) = promtool_check(om.stdout_str()) {
        assert!(
            check.status.success() && check.stderr.trim().is_empty(),
            "promtool check metrics: {:?}\n{}",
            check.status,
            check.stderr
        );
    }
}

#[test]
fn labels_dump_carries_the_pprof_labels() {
    let Some((dump, manifest)) = record_dump("live-labels", &[("GODEBUG", "tracebacklabels=1")])
    else {
        return;
    };
    let report = analyze_json(&dump);
    check_live(
        &report,
        &manifest,
        "GODEBUG=tracebacklabels=1 goprog -out",
        KindCheck {
            labels_required: true,
            ..KindCheck::default()
        },
    );
    let g = group_of(&report, "main.wLabeled");
    assert_eq!(int(g, "count"), 3);
    assert_eq!(g["labels_truncated"], Value::Bool(false));
}

#[test]
fn ancestors_dump_matches_the_manifest() {
    let Some((dump, manifest)) =
        record_dump("live-ancestors", &[("GODEBUG", "tracebackancestors=5")])
    else {
        return;
    };
    let text = std::fs::read_to_string(&dump).expect("dump");
    assert!(
        text.contains("[originating from goroutine"),
        "tracebackancestors=5 printed no ancestor section"
    );
    let report = analyze_json(&dump);
    check_live(
        &report,
        &manifest,
        "GODEBUG=tracebackancestors=5 goprog -out",
        KindCheck::default(),
    );
    // Ancestor sections are not the child's own frames: wChild is its own
    // kind, created by wParent.
    let child = group_of(&report, "main.wChild");
    assert_eq!(child["created_by"]["function"], "main.wParent");
    // wDeep recursed past Go's traceback limit.
    let deep = group_of(&report, "main.wDeep");
    assert_eq!(deep["frames_elided"], Value::Bool(true));
    assert!(int(&report["depth_buckets"], "17+") >= 2);
}

#[test]
fn crash_dump_matches_the_manifest() {
    let Some(bin) = goprog() else {
        return;
    };
    let dir = scratch_dir("live-crash");
    let manifest_path = dir.join("expected.json");
    let out: Output = {
        let _one = workload_lock();
        run_cmd(
            goprog_cmd(
                bin,
                &["-crash", "-expect", path_str(&manifest_path)],
                &[("GOTRACEBACK", "system")],
            ),
            None,
            CHILD_TIMEOUT,
        )
    };
    assert_eq!(
        out.code(),
        2,
        "GOTRACEBACK=system goprog -crash must panic (exit 2):\n{}",
        out.stderr
    );
    assert!(
        out.stderr.starts_with("panic: goroscope test crash"),
        "crash output starts with: {:?}",
        out.stderr.lines().next()
    );
    let dump = dir.join("crash.txt");
    std::fs::write(&dump, &out.stderr).expect("write crash dump");
    let manifest = read_json(&manifest_path);
    let report = analyze_json(&dump);
    check_live(
        &report,
        &manifest,
        "GOTRACEBACK=system goprog -crash",
        KindCheck {
            spinners_may_be_unavailable: true,
            ..KindCheck::default()
        },
    );
    let runtime = int(&report["origins"], "runtime");
    let gc = int(&report["block_classes"], "gc_runtime");
    assert!(runtime >= 5, "origins.runtime = {runtime}, want >= 5");
    assert!(gc >= 5, "block_classes.gc_runtime = {gc}, want >= 5");
    // The runtime's groups are named after their entry function.
    assert!(
        groups(&report)
            .iter()
            .filter(|g| g["origin"] == "runtime")
            .all(|g| g["top_function"]
                .as_str()
                .is_some_and(|f| f.starts_with("runtime."))),
        "runtime groups' top functions"
    );
}

/// Starts `goprog ARGS` (a `-serve` mode) and returns it with the address
/// it listens on. Its stdin stays a pipe held by the guard: goprog -serve
/// exits at its EOF.
fn serve(bin: &Path, args: &[&str]) -> (ChildGuard, String) {
    let mut cmd = goprog_cmd(bin, args, &[]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard(Some(cmd.spawn().expect("start goprog -serve")));
    let stdout = guard.child().stdout.take().expect("stdout");
    let mut stderr = guard.child().stderr.take().expect("stderr");
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let line = match first_line(stdout) {
        Some(l) => l,
        None => {
            drop(guard); // kills goprog, so its stderr ends
            panic!(
                "goprog -serve did not report its address; stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
    };
    let line = line.trim_end();
    let addr = line
        .strip_prefix("listening on http://")
        .or_else(|| line.strip_prefix("listening on https://"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (guard, addr)
}

/// Ends a `goprog -serve` started by [`serve`]: closing its stdin ends the
/// server by itself, cleanly.
fn stop_serve(mut guard: ChildGuard) {
    drop(guard.child().stdin.take());
    let status = wait_bounded(guard.child(), Duration::from_secs(20), "goprog -serve");
    assert!(
        status.success(),
        "goprog -serve after stdin EOF: {status:?}"
    );
}

/// GET of `path` on `addr`; the body of a 200 response.
fn http_get(addr: &str, path: &str) -> Vec<u8> {
    let (status, _, body) = http(addr, "GET", path, &[]);
    assert_eq!(status, 200, "GET {path}");
    body
}

#[test]
fn pprof_debug2_endpoint_matches_the_manifest() {
    let Some(bin) = goprog() else {
        return;
    };
    let dir = scratch_dir("live-serve");
    let manifest_path = dir.join("expected.json");
    let _one = workload_lock();
    let (guard, addr) = serve(
        bin,
        &["-serve", "127.0.0.1:0", "-expect", path_str(&manifest_path)],
    );

    let body = http_get(&addr, "/debug/pprof/goroutine?debug=2");
    let dump = dir.join("debug2.txt");
    std::fs::write(&dump, &body).expect("write dump");
    let manifest = read_json(&manifest_path);
    let served: Value =
        serde_json::from_slice(&http_get(&addr, "/expected")).expect("/expected is JSON");
    assert_eq!(served, manifest, "/expected and -expect agree");

    let report = analyze_json(&dump);
    check_live(
        &report,
        &manifest,
        "goprog -serve, /debug/pprof/goroutine?debug=2",
        KindCheck::default(),
    );
    // The HTTP server's own goroutines are there too, belonging to no kind.
    assert!(
        groups(&report)
            .iter()
            .any(|g| g["frames"]
                .as_array()
                .is_some_and(|fs| fs.iter().any(|f| f["function"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("net/http."))))),
        "no net/http goroutine in the debug=2 dump"
    );

    // The cheap forms of the same steady workload: a protobuf profile
    // (debug=0) and its text form (debug=1), classified from frames only.
    let pb = dir.join("goroutine.pb.gz");
    std::fs::write(&pb, http_get(&addr, "/debug/pprof/goroutine")).expect("write profile");
    let text = dir.join("goroutine.txt");
    std::fs::write(&text, http_get(&addr, "/debug/pprof/goroutine?debug=1")).expect("write");
    let from_pb = analyze_json(&pb);
    let from_text = analyze_json(&text);
    check_profile_agrees_with_dump(&report, &from_pb, &from_text);

    stop_serve(guard);
}

/// The groups of the workload's goroutines: those with a `main.w` frame
/// (the manifest's kinds), plus wDeep's stacks a profile cut short. The
/// rest is the machinery taking the snapshots (the HTTP server accepting
/// each request, the connection's goroutines, the handler writing the
/// profile, the program's control goroutine reading its stdin), whose
/// states change from one request to the next, so one request's snapshot
/// is no ground truth for another's.
fn workload_groups(report: &Value) -> Vec<&Value> {
    groups(report)
        .iter()
        .filter(|g| kind_of_group(g).is_some() || common::only_deep_rec(g))
        .collect()
}

/// (top function, block class) -> goroutines of the workload.
fn by_function_and_class(report: &Value) -> std::collections::BTreeMap<(String, String), u64> {
    let mut out = std::collections::BTreeMap::new();
    for g in workload_groups(report) {
        let top = g["top_function"].as_str().unwrap_or("").to_string();
        let class = g["block_class"].as_str().unwrap_or("").to_string();
        *out.entry((top, class)).or_insert(0) += int(g, "count");
    }
    out
}

/// Share of `a`'s goroutines that `b` puts under the same key.
fn agreement<K: Ord>(
    a: &std::collections::BTreeMap<K, u64>,
    b: &std::collections::BTreeMap<K, u64>,
) -> f64 {
    let total: u64 = a.values().sum();
    let same: u64 = a
        .iter()
        .map(|(k, n)| (*n).min(b.get(k).copied().unwrap_or(0)))
        .sum();
    same as f64 / total.max(1) as f64
}

/// Share of the dump's goroutines whose block class the profile gets right:
/// goroutines are paired by (top function, class) first; the few a profile
/// cannot place by function (a goroutine created but not yet run has an
/// empty stack there) are then paired by class alone.
fn class_agreement(
    dump: &std::collections::BTreeMap<(String, String), u64>,
    prof: &std::collections::BTreeMap<(String, String), u64>,
) -> f64 {
    let total: u64 = dump.values().sum();
    let mut left_d = std::collections::BTreeMap::<&str, u64>::new();
    let mut left_p = std::collections::BTreeMap::<&str, u64>::new();
    let mut same = 0;
    for (k, &n) in dump {
        let m = prof.get(k).copied().unwrap_or(0);
        same += n.min(m);
        *left_d.entry(k.1.as_str()).or_insert(0) += n - n.min(m);
    }
    for (k, &m) in prof {
        let n = dump.get(k).copied().unwrap_or(0);
        *left_p.entry(k.1.as_str()).or_insert(0) += m - n.min(m);
    }
    same += left_d
        .iter()
        .map(|(c, n)| (*n).min(left_p.get(c).copied().unwrap_or(0)))
        .sum::<u64>();
    same as f64 / total.max(1) as f64
}

/// Issue 3's acceptance check: the block class inferred from a debug=0
/// profile's frames matches the dump's ground truth (its wait reasons) for
/// at least 99% of the workload's goroutines (see [`workload_groups`]), goroutine by goroutine as far as a profile
/// allows (per top function); states agree once running and runnable are
/// folded into on_cpu. From debug=1, whatever is classified (not
/// `unknown`) is right, and the rest is said to be unknown.
fn check_profile_agrees_with_dump(dump: &Value, pb: &Value, text: &Value) {
    assert_eq!(pb["source"]["format"], "pprof");
    assert_eq!(pb["source"]["states"], "inferred");
    assert_eq!(text["source"]["format"], "pprof_text");
    let workload = |r: &Value| -> u64 { workload_groups(r).iter().map(|g| int(g, "count")).sum() };
    assert_eq!(workload(pb), workload(dump), "same workload goroutines");
    let d = by_function_and_class(dump);
    let p = by_function_and_class(pb);
    let a = class_agreement(&d, &p);
    assert!(
        a >= 0.99,
        "debug=0 inference agrees for {:.1}% of goroutines (target 99%)\ndump: {d:?}\nprofile: {p:?}",
        a * 100.0
    );
    let fold = |r: &Value| -> std::collections::BTreeMap<&'static str, u64> {
        let mut m = std::collections::BTreeMap::new();
        for g in workload_groups(r) {
            for (state, n) in g["states"].as_object().expect("states") {
                let k = match state.as_str() {
                    "running" | "runnable" | "preempted" | "on_cpu" => "on_cpu",
                    "waiting" => "waiting",
                    "syscall" => "syscall",
                    _ => "other",
                };
                *m.entry(k).or_insert(0) += n.as_u64().unwrap_or(0);
            }
        }
        m
    };
    let s = agreement(&fold(dump), &fold(pb));
    assert!(s >= 0.99, "states agree for {:.1}%", s * 100.0);

    // debug=1: precision of what it claims, and honesty about the rest.
    let t = by_function_and_class(text);
    let claimed: std::collections::BTreeMap<_, _> = t
        .iter()
        .filter(|((_, class), _)| class != "unknown")
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    let precision = agreement(&claimed, &d);
    assert!(
        precision >= 0.99,
        "debug=1 classifications right for {:.1}%\ntext: {t:?}\ndump: {d:?}",
        precision * 100.0
    );
    let unknown = int(&text["block_classes"], "unknown");
    assert!(
        unknown > 0,
        "channel waits cannot be told from debug=1 leaves"
    );
    assert_eq!(workload(text), workload(dump));
}

/// `goroscope analyze URL` against a live, token-protected Go service:
/// every mode reads the endpoint it names (the report's `source` says
/// which), the token or a custom header gets in, and each way of failing
/// (no token, an HTML page, an endpoint the build lacks, nothing
/// listening) is one line naming the URL and what to check, exit 2.
#[test]
fn analyze_reads_live_targets() {
    let Some(bin) = goprog() else {
        return;
    };
    let _one = workload_lock();
    let (guard, addr) = serve(bin, &["-serve", "127.0.0.1:0", "-auth", "s3cret"]);
    let base = format!("http://{addr}");
    let analyze = |extra: &[&str]| -> Output {
        let mut args = vec!["analyze", base.as_str()];
        args.extend_from_slice(extra);
        run_cmd(common::goroscope(args), None, CHILD_TIMEOUT)
    };
    let json = |out: &Output| -> Value {
        assert_eq!(out.code(), 0, "{}", out.stderr);
        serde_json::from_slice(&out.stdout).expect("JSON")
    };

    let out = analyze(&[]);
    assert_eq!(out.code(), 2);
    assert!(
        out.stderr.contains("401")
            && out.stderr.contains("--bearer-token")
            && out.stderr.contains(&base),
        "{}",
        out.stderr
    );

    let token = ["--bearer-token", "s3cret", "--format", "json"];
    let r = json(&analyze(&token));
    assert_eq!(
        r["source"]["format"], "pprof",
        "default mode: the cheap profile"
    );
    let total = int(&r, "total");
    assert!(total > 90, "{total}");
    for (mode, format) in [
        ("legacy", "pprof_text"),
        ("dump", "dump"),
        ("profile", "pprof"),
    ] {
        let mut args = token.to_vec();
        args.extend(["--mode", mode]);
        let r = json(&analyze(&args));
        assert_eq!(r["source"]["format"], format, "--mode {mode}");
        assert!(int(&r, "total").abs_diff(total) <= 2, "--mode {mode}");
    }
    // A custom header carries the credentials just as well.
    let r = json(&analyze(&[
        "--header",
        "Authorization: Bearer s3cret",
        "--format",
        "json",
    ]));
    assert_eq!(r["source"]["format"], "pprof");

    let full = format!("{base}/debug/pprof/goroutine?debug=2");
    let out = run_cmd(
        common::goroscope([
            "analyze",
            full.as_str(),
            "--bearer-token",
            "s3cret",
            "--format",
            "json",
        ]),
        None,
        CHILD_TIMEOUT,
    );
    assert_eq!(
        json(&out)["source"]["format"],
        "dump",
        "a full URL is used as given"
    );

    let index = format!("{base}/debug/pprof/");
    let out = run_cmd(
        common::goroscope(["analyze", index.as_str(), "--bearer-token", "s3cret"]),
        None,
        CHILD_TIMEOUT,
    );
    assert_eq!(out.code(), 2);
    assert!(out.stderr.contains("HTML"), "{}", out.stderr);

    let out = analyze(&["--bearer-token", "s3cret", "--mode", "leak"]);
    assert_eq!(out.code(), 2);
    assert!(
        out.stderr.contains("404") && out.stderr.contains("goroutineleak"),
        "{}",
        out.stderr
    );

    stop_serve(guard);
    // Nothing listens there any more.
    let out = analyze(&["--timeout", "5"]);
    assert_eq!(out.code(), 2);
    assert!(
        out.stderr.contains("connection refused") || out.stderr.contains("connection failed"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
}

/// The Go 1.26 goroutineleak profile, in all three forms, from the workload
/// built with GOEXPERIMENT=goroutineleakprofile. Its real leaks are the
/// goroutines blocked where nothing can ever wake them: `select {}`, nil
/// channels, and wGeneric's channel nobody else holds. debug=0 (`--mode
/// leak`) and debug=1 list only those, each record state `leaked`; debug=2
/// is the whole dump with `(leaked)` on exactly those headers. All three
/// agree with each other and with the manifest's counts.
#[test]
fn goroutineleak_profile_marks_the_leaks() {
    let Some(bin) = goprog_leak() else {
        return;
    };
    let manifest_path = scratch_dir("live-leak").join("expected.json");
    let _one = workload_lock();
    let (guard, addr) = serve(
        bin,
        &["-serve", "127.0.0.1:0", "-expect", path_str(&manifest_path)],
    );
    let manifest = read_json(&manifest_path);
    let leaking = [
        "main.wSelectNoCases",
        "main.wNilSend",
        "main.wNilRecv",
        "main.wGeneric[...]",
    ];
    let want: u64 = leaking
        .iter()
        .map(|k| int(&manifest["kinds"][*k], "count"))
        .sum();
    let fetch = |url: String, extra: &[&str]| -> Value {
        let mut args = vec!["analyze".to_string(), url, "--format".into(), "json".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = run_cmd(common::goroscope(args), None, CHILD_TIMEOUT);
        assert_eq!(out.code(), 0, "{}", out.stderr);
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let base = format!("http://{addr}");
    let pb = fetch(base.clone(), &["--mode", "leak"]);
    let text = fetch(format!("{base}/debug/pprof/goroutineleak?debug=1"), &[]);
    let dump = fetch(format!("{base}/debug/pprof/goroutineleak?debug=2"), &[]);
    for (r, format) in [(&pb, "pprof"), (&text, "pprof_text")] {
        assert_eq!(r["source"]["format"], format);
        assert_eq!(r["source"]["profile"], "goroutineleak");
        assert_eq!(int(r, "total"), want, "{format}: only leaked goroutines");
        assert_eq!(int(&r["states"], "leaked"), want, "{format}");
        assert_eq!(int(&r["flags"], "leaked"), want, "{format}");
        let kinds: BTreeSet<&str> = groups(r).iter().filter_map(kind_of_group).collect();
        assert_eq!(kinds, leaking.iter().copied().collect(), "{format}");
    }
    // debug=0 keeps the runtime frames: it still says what they wait on.
    assert_eq!(int(&pb["block_classes"], "nil_or_forever"), want - 2);
    assert_eq!(int(&pb["block_classes"], "chan_receive"), 2);
    // debug=2: every goroutine, the leaked ones marked.
    assert_eq!(dump["source"]["format"], "dump");
    assert!(int(&dump, "total") > want);
    assert_eq!(int(&dump["flags"], "leaked"), want);
    for g in groups(&dump) {
        let leaked = g["states"]
            .get("leaked")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let kind = kind_of_group(g).unwrap_or("");
        assert_eq!(
            leaked > 0,
            leaking.contains(&kind),
            "debug=2: {kind} group leaked={leaked}"
        );
    }
    stop_serve(guard);
}

/// https targets: with `--ca-cert` naming the certificate the service
/// presents (goprog's fresh self-signed one), the profile is read over
/// TLS; without it the certificate is rejected (not trusted by the public
/// roots), in one line naming the URL, exit 2; a missing --ca-cert file is
/// named too.
#[test]
fn analyze_reads_https_targets() {
    let Some(bin) = goprog() else {
        return;
    };
    let cert = scratch_dir("live-tls").join("cert.pem");
    let _one = workload_lock();
    let (guard, addr) = serve(
        bin,
        &["-serve", "127.0.0.1:0", "-tls-cert", path_str(&cert)],
    );
    let url = format!("https://{addr}");
    let out = run_cmd(
        common::goroscope([
            "analyze",
            url.as_str(),
            "--ca-cert",
            path_str(&cert),
            "--format",
            "json",
        ]),
        None,
        CHILD_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(r["source"]["format"], "pprof");
    assert!(int(&r, "total") > 90);

    let out = run_cmd(
        common::goroscope(["analyze", url.as_str()]),
        None,
        CHILD_TIMEOUT,
    );
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&url) && out.stderr.to_lowercase().contains("certificate"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);

    let out = run_cmd(
        common::goroscope(["analyze", url.as_str(), "--ca-cert", "/nonexistent/ca.pem"]),
        None,
        CHILD_TIMEOUT,
    );
    assert_eq!(out.code(), 2);
    assert!(out.stderr.contains("/nonexistent/ca.pem"), "{}", out.stderr);

    stop_serve(guard);
}
