//! README "goroscope trace": goroscope's trace reader against Go's own
//! (`golang.org/x/exp/trace`, a generated copy of Go 1.26's
//! `internal/trace`) on traces of a real Go 1.26 program: the same events,
//! the same goroutine transitions, and per goroutine the same time in each
//! state to the nanosecond.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{build_go, repo_root, run, run_cmd, scratch_dir};
use serde_json::Value;

/// testdata/tracegen (stdlib: a mixed workload under runtime/trace) and
/// testdata/tracecheck (Go's reader), built once.
fn tools() -> Option<&'static (PathBuf, PathBuf)> {
    static TOOLS: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            let gen = build_go(&repo_root().join("testdata/tracegen"), "tracegen", &[])?;
            let check = build_go(&repo_root().join("testdata/tracecheck"), "tracecheck", &[])?;
            Some((gen, check))
        })
        .as_ref()
}

/// A trace of `seconds` of the workload, recorded once per name.
fn record(gen: &Path, name: &str, args: &[&str]) -> PathBuf {
    let dir = scratch_dir(&format!("trace-{name}"));
    let out = dir.join(format!("{name}.trace"));
    let mut cmd = Command::new(gen);
    cmd.arg("-o").arg(&out).args(args);
    let o = run_cmd(cmd, None, Duration::from_secs(120));
    assert!(o.status.success(), "tracegen: {}", o.stderr);
    out
}

/// Go's reader's view of a trace (JSON), and its exit code.
fn check(check: &Path, trace: &Path) -> (Value, i32) {
    let mut cmd = Command::new(check);
    cmd.arg("-compact").arg(trace);
    let o = run_cmd(cmd, None, Duration::from_secs(300));
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("tracecheck output: {e}: {}", o.stderr));
    (v, o.code())
}

/// goroscope's view (`trace --format json --goroutines`), and its exit code.
fn ours(trace: &Path) -> (Value, i32, String) {
    let o = run(["trace", "--format", "json", "--goroutines"]
        .into_iter()
        .map(String::from)
        .chain([trace.to_string_lossy().to_string()]));
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("goroscope trace output: {e}: {}", o.stderr));
    (v, o.code(), o.stderr)
}

/// Every figure both compute must be equal: events per kind, first and
/// last times, transitions per state pair, waits per reason, goroutines,
/// and each goroutine's transitions, time per state, waits and wait time
/// per reason, first and last times, final state.
fn assert_same(ours: &Value, go: &Value, what: &str) {
    for (k, gk) in [
        ("event_kinds", "event_kinds"),
        ("total_events", "total_events"),
        ("first_event_ns", "first_event_ns"),
        ("last_event_ns", "last_event_ns"),
        ("go_transition_pairs", "go_transition_pairs"),
        ("waiting_reasons", "waiting_reasons"),
        ("num_goroutines", "num_goroutines"),
    ] {
        assert_eq!(ours[k], go[gk], "{what}: {k}");
    }
    let index = |v: &Value| -> BTreeMap<i64, Value> {
        v["goroutines"]
            .as_array()
            .expect("goroutines")
            .iter()
            .map(|g| (g["id"].as_i64().expect("id"), g.clone()))
            .collect()
    };
    let (a, b) = (index(ours), index(go));
    assert_eq!(a.len(), b.len(), "{what}: goroutines listed");
    let mut differ = Vec::new();
    for (id, g) in &b {
        let o = &a[id];
        for f in [
            "final_state",
            "first_ns",
            "last_ns",
            "state_ns",
            "transitions",
            "waiting_reason_count",
            "waiting_reason_ns",
        ] {
            if o[f] != g[f] {
                differ.push(format!("goroutine {id} {f}: ours {} go {}", o[f], g[f]));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{what}: {} differences, first: {:#?}",
        differ.len(),
        &differ[..differ.len().min(10)]
    );
}

#[test]
fn the_reader_matches_gos_on_a_real_trace_to_the_nanosecond() {
    let Some((gen, checker)) = tools() else {
        return;
    };
    let trace = record(gen, "mixed", &["-d", "2s"]);
    let (go, code) = check(checker, &trace);
    assert_eq!(code, 0, "Go's reader failed: {go}");
    let (mine, code, stderr) = ours(&trace);
    assert_eq!(code, 0, "{stderr}");
    assert_same(&mine, &go, "2 s mixed workload");
    // The workload really has what the comparison is about.
    assert!(mine["total_events"].as_u64().expect("events") > 100_000);
    assert!(mine["generations"].as_u64().expect("generations") >= 2);
    let reasons = mine["waiting_reasons"].as_object().expect("reasons");
    for r in [
        "chan receive",
        "chan send",
        "select",
        "sync",
        "sync.(*Cond).Wait",
        "sleep",
        "network",
    ] {
        assert!(reasons.contains_key(r), "no {r:?} waits: {reasons:?}");
    }
    // Block classes from the reasons (and stacks for "sync").
    let classes: Vec<&str> = mine["blocking"]
        .as_array()
        .expect("blocking")
        .iter()
        .filter_map(|r| r["block_class"].as_str())
        .collect();
    for c in [
        "chan_receive",
        "chan_send",
        "select",
        "cond",
        "sleep",
        "io_wait",
        "waitgroup",
        "mutex",
    ] {
        assert!(classes.contains(&c), "no {c} in {classes:?}");
    }
    let sched = &mine["scheduler_latency"];
    assert!(sched["count"].as_u64().expect("count") > 1000);
    assert!(sched["p50_ns"].as_i64() <= sched["p99_ns"].as_i64());
    assert!(sched["p99_ns"].as_i64() <= sched["max_ns"].as_i64());
    assert!(mine["goroutines_created"].as_u64().expect("created") > 1000);
    assert!(!mine["top_blocked_stacks"]
        .as_array()
        .expect("stacks")
        .is_empty());
    assert!(mine["stop_the_world"]
        .as_array()
        .expect("stw")
        .iter()
        .any(|s| s["kind"].as_str().is_some_and(|k| k.starts_with("GC"))));

    // The human summary names the same things.
    let o = run(["trace".to_string(), trace.to_string_lossy().to_string()]);
    assert_eq!(o.code(), 0, "{}", o.stderr);
    let text = o.stdout_str();
    assert!(text.contains("go 1.26 trace"), "{text}");
    assert!(text.contains("scheduler latency"), "{text}");
    assert!(text.contains("chan_send"), "{text}");
}

#[test]
fn a_truncated_trace_gives_what_was_read_and_says_why() {
    let Some((gen, checker)) = tools() else {
        return;
    };
    let trace = record(gen, "cut", &["-d", "2s"]);
    let bytes = std::fs::read(&trace).expect("trace");
    let dir = scratch_dir("trace-cut-files");
    // Cut in the second generation: the first is read whole, as by Go.
    let cut = dir.join("cut.trace");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).expect("write");
    let (go, go_code) = check(checker, &cut);
    let (mine, code, stderr) = ours(&cut);
    assert_eq!(go_code, 1, "Go's reader should fail on a cut trace");
    assert_eq!(code, 1, "{stderr}");
    // Cut inside a batch: the input ends early, and says so.
    assert!(stderr.contains("ends early"), "{stderr}");
    assert!(mine["error"].as_str().is_some(), "{mine}");
    // The same events before the failure.
    assert_eq!(
        mine["total_events"], go["total_events"],
        "{stderr}\n{}",
        go["error"]
    );
    assert_eq!(mine["event_kinds"], go["event_kinds"]);

    // Not a trace at all, an empty file, a future version: one line, exit 2.
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "junk.trace",
            b"hello, this is not a trace at all",
            "not a Go execution trace",
        ),
        ("empty.trace", b"", "too short"),
        (
            "future.trace",
            b"go 1.99 trace\0\0\0",
            "unsupported trace version go 1.99",
        ),
        ("old.trace", b"go 1.21 trace\0\0\0", "before 1.22"),
    ];
    for (name, data, want) in cases {
        let f = dir.join(name);
        std::fs::write(&f, data).expect("write");
        let o = run(["trace".to_string(), f.to_string_lossy().to_string()]);
        assert_eq!(o.code(), 2, "{name}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{name}: {}", o.stderr);
        assert_eq!(o.stderr.trim().lines().count(), 1, "{name}: {}", o.stderr);
    }
    // A header alone (Go 1.26): an empty trace, as Go reads it.
    let f = dir.join("header.trace");
    std::fs::write(&f, b"go 1.26 trace\0\0\0").expect("write");
    let (go, _) = check(checker, &f);
    let (mine, code, stderr) = ours(&f);
    assert_eq!(code, 0, "{stderr}");
    assert_same(&mine, &go, "header only");
}

/// The older formats: traces written by Go 1.22 (`go 1.22 trace`), Go 1.23
/// (`go 1.23 trace`, also Go 1.24's) and Go 1.25 (`go 1.25 trace`: no
/// end-of-generation mark, generations split where the next begins), from
/// the same workload built with those toolchains (fetched through the Go
/// module proxy by GOTOOLCHAIN), read equal to Go's reader.
#[test]
fn older_trace_formats_match_gos_reader() {
    let Some((_, checker)) = tools() else { return };
    for (toolchain, header) in [
        ("go1.22.12", "go 1.22 trace"),
        ("go1.23.12", "go 1.23 trace"),
        ("go1.25.5", "go 1.25 trace"),
    ] {
        // The workload's source under a go.mod old toolchains accept.
        let dir = scratch_dir(&format!("tracegen-{toolchain}"));
        std::fs::copy(
            repo_root().join("testdata/tracegen/main.go"),
            dir.join("main.go"),
        )
        .expect("copy the workload");
        std::fs::write(
            dir.join("go.mod"),
            "module goroscope.test/tracegen\n\ngo 1.22\n",
        )
        .expect("go.mod");
        let bin = dir.join("tracegen");
        let mut cmd = Command::new("go");
        cmd.args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(&dir)
            .env("GOTOOLCHAIN", toolchain);
        let o = run_cmd(cmd, None, Duration::from_secs(600));
        assert!(o.status.success(), "{toolchain}: go build: {}", o.stderr);
        let trace = record(&bin, toolchain, &["-d", "1500ms"]);
        let head = std::fs::read(&trace).expect("trace");
        assert_eq!(
            &head[..13],
            header.as_bytes(),
            "{toolchain} writes {header}"
        );
        let (go, code) = check(checker, &trace);
        assert_eq!(code, 0, "{toolchain}: Go's reader failed: {}", go["error"]);
        let (mine, code, stderr) = ours(&trace);
        assert_eq!(code, 0, "{toolchain}: {stderr}");
        assert_same(&mine, &go, toolchain);
        assert!(mine["generations"].as_u64().expect("generations") >= 1);
        assert_eq!(mine["version"], header.trim_end_matches(" trace"));
    }
}

/// `--threads 1` (read, decode and order on one thread) and the default
/// three stages (a helper thread reads, decodes and merges ahead, the
/// reader orders, the main thread counts) give the same output and the
/// same error, byte for byte: on a whole trace, cut at many places, and
/// with bytes damaged at many places.
#[test]
fn one_thread_and_two_read_the_same() {
    let Some((gen, _)) = tools() else { return };
    let trace = record(gen, "threads", &["-d", "1s"]);
    let bytes = std::fs::read(&trace).expect("trace");
    let dir = scratch_dir("trace-threads-files");
    let read = |f: &Path, threads: &str| {
        let o = run([
            "trace",
            "--format",
            "json",
            "--goroutines",
            "--threads",
            threads,
            &f.to_string_lossy(),
        ]);
        let code = o.code();
        (o.stdout, o.stderr, code)
    };
    let mut cases = vec![("whole".to_string(), bytes.clone())];
    for i in 1..8 {
        let at = bytes.len() * i / 8;
        cases.push((format!("cut at {at}"), bytes[..at].to_vec()));
        let mut bad = bytes.clone();
        for b in &mut bad[at..(at + 16).min(bytes.len())] {
            *b = 0xff;
        }
        cases.push((format!("damaged at {at}"), bad));
    }
    // Single bytes changed at spread places: bad ids, bad types, bad
    // varints, broken orderings.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..12 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let at = 16 + (x >> 20) as usize % (bytes.len() - 16);
        let mut bad = bytes.clone();
        bad[at] = (x >> 8) as u8;
        cases.push((format!("byte {at} set to {}", bad[at]), bad));
    }
    let mut failed = 0;
    for (what, data) in cases {
        let f = dir.join("case.trace");
        std::fs::write(&f, &data).expect("write");
        let one = read(&f, "1");
        let two = read(&f, "2");
        assert_eq!(one.2, two.2, "{what}: exit codes; {} / {}", one.1, two.1);
        assert_eq!(one.1, two.1, "{what}: stderr");
        assert!(one.0 == two.0, "{what}: the outputs differ");
        assert!(!one.0.is_empty(), "{what}: no output; {}", one.1);
        failed += usize::from(one.2 != 0);
    }
    // The damaged and cut traces must really fail (else the comparison
    // proves little about the error paths).
    assert!(failed >= 14, "only {failed} of 27 cases failed");
}
