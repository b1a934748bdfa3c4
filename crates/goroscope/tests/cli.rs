//! End-to-end tests of the `goroscope` binary on the recorded fixtures: the
//! human summary (layout, 80 columns, colour rules), the JSON report (schema
//! and totals), OpenMetrics (validated by `promtool check metrics`), standard
//! input, exit codes and messages, truncated dumps, broken pipes and the
//! `--help` texts (snapshotted with insta).

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use common::{
    all_fixtures, analyze_json, check_kinds, fixture, goroscope, groups, int, openmetrics_parse,
    promtool_check, read_json, repo_root, run, run_cmd, scratch_dir, sum_obj, wait_bounded,
    ChildGuard, KindCheck, CHILD_TIMEOUT,
};
use serde_json::Value;

fn stack126() -> PathBuf {
    fixture("go1.26", "stack.txt")
}

fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

/// Lines wider than 80 columns (counted in characters, ANSI escapes removed).
fn too_wide(text: &str) -> Vec<String> {
    text.lines()
        .map(strip_ansi)
        .filter(|l| l.chars().count() > 80)
        .map(|l| format!("{:>3} columns: {l}", l.chars().count()))
        .collect()
}

/// Removes `ESC [ ... final-byte` sequences.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Human summary
// ---------------------------------------------------------------------------

#[test]
fn human_summary_of_the_go126_stack_fixture() {
    let out = run([OsStr::new("analyze"), os(&stack126())]);
    assert_eq!(out.code(), 0, "stderr: {}", out.stderr);
    assert_eq!(out.stderr, "", "a clean dump prints nothing on stderr");
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "92 goroutines  (86 waiting, 3 runnable, 2 syscall, 1 running)",
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("blocked on: chan_receive 26, mutex 13")),
        "no `blocked on:` line:\n{text}"
    );
    let top = lines
        .iter()
        .position(|l| *l == "top groups:")
        .unwrap_or_else(|| panic!("no `top groups:` line:\n{text}"));
    let header: Vec<&str> = lines[top + 1].split_whitespace().collect();
    assert_eq!(
        header,
        ["count", "block", "top", "function", "created", "by", "wait"],
        "{text}"
    );
    let first: Vec<&str> = lines[top + 2].split_whitespace().collect();
    assert_eq!(first, ["13", "mutex", "main.wMutex", "main.startN", "-"]);
    // Default --top 10, then the remainder line.
    assert_eq!(lines.len(), top + 2 + 10 + 1, "{text}");
    assert!(
        lines[lines.len() - 1].contains("in 17 more groups"),
        "{text}"
    );
}

#[test]
fn human_lines_fit_80_columns_for_every_fixture() {
    for (version, file, path) in all_fixtures() {
        for top in ["10", "1000"] {
            let out = run([
                OsStr::new("analyze"),
                os(&path),
                OsStr::new("--top"),
                OsStr::new(top),
            ]);
            assert_eq!(out.code(), 0, "{version}/{file}: {}", out.stderr);
            let wide = too_wide(out.stdout_str());
            assert!(wide.is_empty(), "{version}/{file} --top {top}:\n{wide:#?}");
        }
    }
}

/// The `blocked on:` list wraps at 80 columns: a line of exactly 80 columns
/// followed by one more item must not become 81 with the trailing comma.
#[test]
fn human_wrapped_blocked_on_line_fits_80_columns() {
    // The Go 1.26 fixture plus 74 chan receive goroutines: "chan_receive
    // 100" makes the first `blocked on:` line exactly 80 columns before its
    // trailing comma.
    let mut dump = std::fs::read_to_string(stack126()).expect("fixture");
    for i in 0..74 {
        dump.push_str(&format!(
            "goroutine {} [chan receive]:\nmain.extra()\n\t/src/main.go:1 +0x1c\n\
             created by main.start in goroutine 1\n\t/src/main.go:5 +0x29\n\n",
            1000 + i
        ));
    }
    let text = human_of_stdin_fitting_80_columns(&dump);
    assert!(text.contains("blocked on: chan_receive 100, "), "{text}");
}

/// `goroscope analyze -` on `dump`, checked to succeed and to fit 80
/// columns; returns the summary.
fn human_of_stdin_fitting_80_columns(dump: &str) -> String {
    let out = run_cmd(
        goroscope(["analyze", "-"]),
        Some(dump.as_bytes().to_vec()),
        CHILD_TIMEOUT,
    );
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let text = out.stdout_str().to_string();
    let wide = too_wide(&text);
    assert!(wide.is_empty(), "lines over 80 columns:\n{wide:#?}");
    text
}

/// The `wait` column of a group whose members waited from 1 to 1440 minutes
/// must still fit in 80 columns.
#[test]
fn human_wait_range_fits_80_columns() {
    let dump = "goroutine 5 [chan receive, 1 minutes]:\nmain.f()\n\t/src/main.go:1 +0x1c\n\
                created by main.start in goroutine 1\n\t/src/main.go:5 +0x29\n\n\
                goroutine 6 [chan receive, 1440 minutes]:\nmain.f()\n\t/src/main.go:1 +0x1c\n\
                created by main.start in goroutine 1\n\t/src/main.go:5 +0x29\n";
    let text = human_of_stdin_fitting_80_columns(dump);
    // Waits are shown compactly: 1 minute to 1440 minutes = 1 day.
    assert!(text.contains("1m-1d"), "{text}");
}

#[test]
fn human_has_no_ansi_escapes_when_stdout_is_not_a_tty() {
    for no_color in [None, Some("1")] {
        let mut cmd = goroscope([OsStr::new("analyze"), os(&stack126())]);
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = run_cmd(cmd, None, CHILD_TIMEOUT);
        assert_eq!(out.code(), 0, "{}", out.stderr);
        assert!(
            !out.stdout.contains(&0x1b),
            "ANSI escape with NO_COLOR={no_color:?} on a pipe:\n{}",
            out.stdout_str()
        );
    }
}

/// Runs `goroscope analyze FIXTURE` on a pseudo-terminal through util-linux
/// `script`; `None` when `script` is not available.
fn on_tty(no_color: Option<&str>) -> Option<String> {
    if Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("note: util-linux `script` not found; skipping the terminal colour test");
        return None;
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let inner = format!(
        "{} analyze {}",
        quote(common::BIN),
        quote(stack126().to_str().expect("utf-8 path"))
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &inner, "/dev/null"])
        .env_remove("NO_COLOR");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let out = run_cmd(cmd, None, CHILD_TIMEOUT);
    assert_eq!(out.code(), 0, "script -qec {inner}: {}", out.stderr);
    Some(out.stdout_str().replace("\r\n", "\n"))
}

#[test]
fn human_colour_on_a_tty_unless_no_color() {
    let Some(coloured) = on_tty(None) else {
        return;
    };
    assert!(
        coloured.contains("\x1b["),
        "no colour on a terminal without NO_COLOR:\n{coloured:?}"
    );
    assert!(
        coloured.starts_with("\x1b[1m92 goroutines\x1b[0m  ("),
        "{coloured:?}"
    );
    let wide = too_wide(&coloured);
    assert!(wide.is_empty(), "visible width over 80 columns:\n{wide:#?}");
    // The same text once the escapes are gone.
    let plain = run([OsStr::new("analyze"), os(&stack126())]);
    assert_eq!(strip_ansi(&coloured), plain.stdout_str());

    let Some(no_colour) = on_tty(Some("1")) else {
        return;
    };
    assert!(
        !no_colour.contains('\x1b'),
        "colour on a terminal with NO_COLOR=1:\n{no_colour:?}"
    );
    assert_eq!(no_colour, plain.stdout_str());
}

// ---------------------------------------------------------------------------
// JSON report
// ---------------------------------------------------------------------------

const TOP_KEYS: [&str; 8] = [
    "total",
    "states",
    "wait_reasons",
    "block_classes",
    "depth_buckets",
    "origins",
    "groups",
    "diagnostics",
];

const GROUP_KEYS: [&str; 9] = [
    "count",
    "states",
    "block_class",
    "top_function",
    "created_by",
    "frames",
    "wait_minutes_min",
    "wait_minutes_max",
    "labels",
];

/// Schema and internal consistency of one report.
fn check_report(r: &Value, ctx: &str) {
    for k in TOP_KEYS {
        assert!(r.get(k).is_some(), "{ctx}: top-level key {k} missing");
    }
    assert_eq!(int(r, "schema_version"), 1, "{ctx}");
    let total = int(r, "total");
    assert!(total > 0, "{ctx}: total");
    assert_eq!(sum_obj(r, "states"), total, "{ctx}: sum of states");
    assert_eq!(
        sum_obj(r, "block_classes"),
        total,
        "{ctx}: sum of block_classes"
    );
    assert_eq!(
        sum_obj(r, "depth_buckets"),
        total,
        "{ctx}: sum of depth_buckets"
    );
    assert_eq!(sum_obj(r, "origins"), total, "{ctx}: sum of origins");
    let waiting = int(&r["states"], "waiting") + int(&r["states"], "leaked");
    assert_eq!(
        sum_obj(r, "wait_reasons"),
        waiting,
        "{ctx}: wait reasons are those of waiting and leaked goroutines"
    );
    let series: u64 = r["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| int(s, "count"))
        .sum();
    assert_eq!(series, total, "{ctx}: sum of series");
    // Every state and class is listed, zeros included.
    for s in [
        "running",
        "runnable",
        "syscall",
        "waiting",
        "leaked",
        "preempted",
        "copystack",
        "idle",
        "unknown",
    ] {
        assert!(r["states"].get(s).is_some(), "{ctx}: state {s} not listed");
    }
    for c in [
        "none",
        "chan_receive",
        "chan_send",
        "select",
        "nil_or_forever",
        "mutex",
        "rwmutex",
        "waitgroup",
        "cond",
        "semaphore",
        "io_wait",
        "sleep",
        "syscall",
        "gc_runtime",
        "synctest",
        "other",
    ] {
        assert!(
            r["block_classes"].get(c).is_some(),
            "{ctx}: block class {c} not listed"
        );
    }
    let gs = groups(r);
    assert_eq!(int(r, "group_count"), gs.len() as u64, "{ctx}: group_count");
    let counts: u64 = gs.iter().map(|g| int(g, "count")).sum();
    assert_eq!(counts, total, "{ctx}: sum of group counts");
    let mut prev = u64::MAX;
    let mut signatures = std::collections::BTreeSet::new();
    for g in gs {
        let sig = g["signature"].as_str().unwrap_or("?");
        for k in GROUP_KEYS {
            assert!(g.get(k).is_some(), "{ctx}: group {sig} lacks {k}");
        }
        assert!(
            sig.len() == 16 && sig.chars().all(|c| c.is_ascii_hexdigit()),
            "{ctx}: signature {sig:?}"
        );
        assert!(signatures.insert(sig), "{ctx}: duplicate signature {sig}");
        let count = int(g, "count");
        assert!(count > 0 && count <= prev, "{ctx}: groups largest first");
        prev = count;
        assert_eq!(sum_obj(g, "states"), count, "{ctx}: states of group {sig}");
        assert!(
            r["block_classes"]
                .get(g["block_class"].as_str().expect("block_class string"))
                .is_some(),
            "{ctx}: group {sig} block class"
        );
        assert!(g["top_function"].is_string(), "{ctx}: {sig} top_function");
        match &g["created_by"] {
            Value::Null => {}
            c => {
                assert!(c["function"].is_string(), "{ctx}: {sig} created_by");
                assert!(c["file"].is_string(), "{ctx}: {sig} created_by");
                assert!(c["line"].is_u64(), "{ctx}: {sig} created_by");
            }
        }
        for f in g["frames"].as_array().expect("frames array") {
            assert!(f["function"].is_string(), "{ctx}: {sig} frame {f}");
            assert!(f["file"].is_string(), "{ctx}: {sig} frame {f}");
            assert!(f["line"].is_u64(), "{ctx}: {sig} frame {f}");
        }
        for k in ["wait_minutes_min", "wait_minutes_max"] {
            assert!(g[k].is_null() || g[k].is_u64(), "{ctx}: {sig} {k}");
        }
        if let (Some(a), Some(b)) = (
            g["wait_minutes_min"].as_u64(),
            g["wait_minutes_max"].as_u64(),
        ) {
            assert!(a <= b, "{ctx}: {sig} wait range");
        }
        assert!(g["labels"].is_object(), "{ctx}: {sig} labels");
    }
    assert!(r["diagnostics"].is_array(), "{ctx}: diagnostics");
}

#[test]
fn json_report_schema_and_totals_for_every_fixture() {
    for (version, file, path) in all_fixtures() {
        let ctx = format!("{version}/{file}");
        let r = analyze_json(&path);
        check_report(&r, &ctx);
        assert_eq!(
            r["diagnostics"].as_array().map(Vec::len),
            Some(0),
            "{ctx}: diagnostics {}",
            r["diagnostics"]
        );
    }
    let r = analyze_json(&stack126());
    assert_eq!(int(&r, "total"), 92);
}

/// The CLI's JSON identifies every kind of the recorded workload with the
/// count, class and states the manifest gives.
#[test]
fn json_report_of_every_fixture_matches_its_manifest() {
    for (version, file, path) in all_fixtures() {
        let manifest = common::read_json(&fixture(&version, "expected.json"));
        let r = analyze_json(&path);
        let how = KindCheck {
            spinners_may_be_unavailable: file == "crash_system.txt",
            labels_required: file == "labels.txt",
            ..KindCheck::default()
        };
        check_kinds(&r, &manifest, &format!("{version}/{file}"), how);
    }
}

#[test]
fn json_top_and_depth_bucket_options() {
    let full = analyze_json(&stack126());
    let out = run([
        OsStr::new("analyze"),
        os(&stack126()),
        OsStr::new("--format"),
        OsStr::new("json"),
        OsStr::new("--top"),
        OsStr::new("3"),
        OsStr::new("--depth-buckets"),
        OsStr::new("1,2"),
    ]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(groups(&r).len(), 3);
    assert_eq!(r["group_count"], full["group_count"], "count of all groups");
    assert_eq!(groups(&r)[..], groups(&full)[..3]);
    let buckets: Vec<&String> = r["depth_buckets"]
        .as_object()
        .expect("object")
        .keys()
        .collect();
    assert_eq!(buckets, ["0", "1", "2", "3+"]);
    assert_eq!(sum_obj(&r, "depth_buckets"), 92);
}

// ---------------------------------------------------------------------------
// OpenMetrics
// ---------------------------------------------------------------------------

/// Sum of the sample values of one metric family (exact name match).
fn family_sum(text: &str, family: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or("");
            name == family
        })
        .map(|l| {
            let v = l.rsplit(' ').next().unwrap_or("");
            v.parse::<f64>()
                .unwrap_or_else(|e| panic!("bad sample value in {l:?}: {e}"))
        })
        .sum()
}

#[test]
fn openmetrics_is_valid_openmetrics() {
    for (version, file, path) in all_fixtures() {
        let out = run([
            OsStr::new("analyze"),
            os(&path),
            OsStr::new("--format"),
            OsStr::new("openmetrics"),
        ]);
        assert_eq!(out.code(), 0, "{version}/{file}: {}", out.stderr);
        let Some(families) = openmetrics_parse(out.stdout_str()) else {
            return;
        };
        for want in [
            "goroscope_goroutines",
            "goroscope_goroutines_by_depth",
            "goroscope_goroutines_by_wait_reason",
            "goroscope_group_goroutines",
            "goroscope_dump_diagnostics",
        ] {
            assert!(
                families.iter().any(|f| f == want),
                "{version}/{file}: {want} missing in {families:?}"
            );
        }
    }
}

#[test]
fn openmetrics_passes_promtool_and_adds_up() {
    // The profile forms too: their counts are weights, not goroutine lines.
    let profiles = ["profiles/goroutine.pb.gz", "profiles/goroutine_debug1.txt"]
        .map(|f| ("go1.26".to_string(), f.to_string(), fixture("go1.26", f)));
    for (version, file, path) in all_fixtures().into_iter().chain(profiles) {
        let ctx = format!("{version}/{file}");
        let total = int(&analyze_json(&path), "total") as f64;
        let out = run([
            OsStr::new("analyze"),
            os(&path),
            OsStr::new("--format"),
            OsStr::new("openmetrics"),
        ]);
        assert_eq!(out.code(), 0, "{ctx}: {}", out.stderr);
        let text = out.stdout_str();
        assert!(text.ends_with("# EOF\n"), "{ctx}: no # EOF terminator");
        assert_eq!(
            family_sum(text, "goroscope_goroutines"),
            total,
            "{ctx}: goroscope_goroutines"
        );
        assert_eq!(
            family_sum(text, "goroscope_goroutines_by_depth"),
            total,
            "{ctx}: goroscope_goroutines_by_depth"
        );
        assert_eq!(
            family_sum(text, "goroscope_group_goroutines"),
            total,
            "{ctx}: goroscope_group_goroutines (top groups + other)"
        );
        assert_eq!(
            family_sum(text, "goroscope_goroutines_total_in_dump"),
            total,
            "{ctx}"
        );
        // Without promtool (outside CI) the sums above still run for every
        // input; only this check is skipped.
        let Some(check) = promtool_check(text) else {
            continue;
        };
        assert!(
            check.status.success(),
            "{ctx}: promtool check metrics exited {:?}:\n{}{}",
            check.status,
            check.stderr,
            String::from_utf8_lossy(&check.stdout)
        );
        // promtool prints lint problems ("<metric> <problem>") on stderr.
        assert_eq!(check.stderr.trim(), "", "{ctx}: promtool lint problems");
        assert_eq!(
            String::from_utf8_lossy(&check.stdout).trim(),
            "",
            "{ctx}: promtool output"
        );
    }
}

/// The promtool check itself must notice a bad exposition (guards the test
/// above against a promtool that accepts anything).
#[test]
fn promtool_rejects_lint_problems() {
    let Some(check) = promtool_check("foo_total 1\n# EOF\n") else {
        return;
    };
    assert!(!check.status.success());
    assert!(check.stderr.contains("foo_total"), "{}", check.stderr);
}

// ---------------------------------------------------------------------------
// Standard input
// ---------------------------------------------------------------------------

#[test]
fn stdin_gives_the_same_output_as_the_file() {
    for (version, file) in [("go1.26", "stack.txt"), ("go1.27", "crash_system.txt")] {
        let path = fixture(version, file);
        let bytes = std::fs::read(&path).expect("fixture");
        for format in ["json", "human", "openmetrics"] {
            let from_file = run([
                OsStr::new("analyze"),
                os(&path),
                OsStr::new("--format"),
                OsStr::new(format),
            ]);
            let from_stdin = run_cmd(
                goroscope(["analyze", "-", "--format", format]),
                Some(bytes.clone()),
                CHILD_TIMEOUT,
            );
            assert_eq!(from_file.code(), 0, "{}", from_file.stderr);
            assert_eq!(from_stdin.code(), 0, "{}", from_stdin.stderr);
            assert!(
                from_file.stdout == from_stdin.stdout,
                "{version}/{file} --format {format}: stdin and file differ"
            );
            if format == "json" {
                let a: Value = serde_json::from_slice(&from_file.stdout).expect("JSON");
                let b: Value = serde_json::from_slice(&from_stdin.stdout).expect("JSON");
                assert_eq!(a, b);
            }
        }
    }
}

/// `--threads` changes the speed, never the answer: a multi-MiB input (every
/// fixture, repeated, so the parallel parser cuts it into many chunks and
/// sees SIGQUIT duplicates across them) gives byte-identical output with
/// one, two and four parser threads.
#[test]
fn thread_count_does_not_change_the_output() {
    let mut big = Vec::new();
    for _ in 0..12 {
        for (_, _, path) in all_fixtures() {
            big.extend_from_slice(&std::fs::read(&path).expect("fixture"));
            big.extend_from_slice(b"\n");
        }
    }
    assert!(big.len() > 3 << 20, "input too small to span chunks");
    let path = scratch_dir("threads").join("big.txt");
    std::fs::write(&path, &big).expect("write input");
    for format in ["json", "human"] {
        let outs: Vec<_> = ["1", "2", "4"]
            .iter()
            .map(|threads| {
                let out = run([
                    OsStr::new("analyze"),
                    os(&path),
                    OsStr::new("--format"),
                    OsStr::new(format),
                    OsStr::new("--threads"),
                    OsStr::new(threads),
                ]);
                assert_eq!(out.code(), 0, "--threads {threads}: {}", out.stderr);
                out.stdout
            })
            .collect();
        assert!(
            outs[0] == outs[1],
            "--format {format}: 1 and 2 threads differ"
        );
        assert!(
            outs[0] == outs[2],
            "--format {format}: 1 and 4 threads differ"
        );
    }
}

// ---------------------------------------------------------------------------
// Goroutine profiles
// ---------------------------------------------------------------------------

/// The Go 1.26 workload's goroutine profile, protobuf and debug=1, recorded
/// from the same `-serve` process as profiles/README: every kind of the
/// manifest is found with its count; from protobuf with its block class
/// (inferred from the runtime frames), from debug=1 with its class or an
/// honest `unknown` (the runtime frames are hidden there); the report says
/// it comes from a profile, with no ids.
#[test]
fn go126_profiles_match_the_manifest() {
    let manifest = read_json(&fixture("go1.26", "expected.json"));
    for (file, text) in [
        ("profiles/goroutine.pb.gz", false),
        ("profiles/goroutine_debug1.txt", true),
    ] {
        let path = fixture("go1.26", file);
        let report = analyze_json(&path);
        let ctx = format!("go1.26/{file}");
        let source = &report["source"];
        assert_eq!(
            source["format"],
            if text { "pprof_text" } else { "pprof" },
            "{ctx}"
        );
        assert_eq!(source["profile"], "goroutine", "{ctx}");
        assert_eq!(source["states"], "inferred", "{ctx}");
        assert_eq!(source["per_goroutine"], false, "{ctx}");
        assert!(
            groups(&report)
                .iter()
                .all(|g| g["sample_ids"].as_array().is_some_and(Vec::is_empty)
                    && g["wait_minutes_max"].is_null()),
            "{ctx}: a profile has no goroutine ids or wait times"
        );
        assert_eq!(int(&report, "diagnostics_total"), 0, "{ctx}");
        check_kinds(
            &report,
            &manifest,
            &ctx,
            KindCheck {
                labels_required: true,
                inferred_states: true,
                unknown_allowed: text,
                deep_stacks_cut: true,
                ..KindCheck::default()
            },
        );
        if text {
            // This recording's channel, select and on-CPU goroutines plus
            // the HTTP machinery: leaves that say nothing about a wait.
            assert_eq!(int(&report["block_classes"], "unknown"), 50, "{ctx}");
            // What debug=1's leaf frames do show must be classified, not
            // left unknown: the sync, sleep, poll and syscall kinds.
            for g in groups(&report) {
                let top = g["top_function"].as_str().unwrap_or("");
                let shown = [
                    "main.wMutex",
                    "main.wRWLock",
                    "main.wRWRLock",
                    "main.wRWLockQueued",
                    "main.wWaitGroup",
                    "main.wCond",
                    "main.wSleep",
                    "main.wIOWait",
                    "main.wSyscall",
                    "main.wFdReadQueued",
                ];
                if shown.contains(&top) {
                    assert_ne!(g["block_class"], "unknown", "{ctx}: {top}");
                }
            }
        } else {
            assert_eq!(int(&report["block_classes"], "unknown"), 0, "{ctx}");
            assert_eq!(int(&report["states"], "unknown"), 0, "{ctx}");
        }
        // Standard input: same bytes, same report.
        let from_stdin = run_cmd(
            goroscope(["analyze", "-", "--format", "json"]),
            Some(std::fs::read(&path).expect("fixture")),
            CHILD_TIMEOUT,
        );
        assert_eq!(from_stdin.code(), 0, "{}", from_stdin.stderr);
        let b: Value = serde_json::from_slice(&from_stdin.stdout).expect("JSON");
        assert_eq!(report, b, "{ctx}: stdin and file differ");
    }
}

/// pprof labels reach the report: `trace_ids` lists the trace and span ids
/// of a group's members (here the three requests wLabeled goroutines serve,
/// as the manifest gives them), and `--group-by-label trace_id` splits the
/// group into one per trace, each saying its value; goroutines without the
/// label stay grouped as before. Same from a dump and from a profile.
#[test]
fn labels_give_trace_ids_and_group_splits() {
    let manifest = read_json(&fixture("go1.26", "expected.json"));
    let want: BTreeSet<String> = manifest["kinds"]["main.wLabeled"]["label_sets"]
        .as_array()
        .expect("manifest label sets")
        .iter()
        .filter_map(|set| set["trace_id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(want.len(), 3);
    for file in ["labels.txt", "profiles/goroutine.pb.gz"] {
        let path = fixture("go1.26", file);
        let report = analyze_json(&path);
        let labeled: Vec<&Value> = groups(&report)
            .iter()
            .filter(|g| g["top_function"] == "main.wLabeled")
            .collect();
        assert_eq!(labeled.len(), 1, "{file}");
        let got: BTreeSet<String> = labeled[0]["trace_ids"]
            .as_array()
            .expect("trace_ids")
            .iter()
            .filter(|t| t["key"] == "trace_id")
            .filter_map(|t| t["value"].as_str().map(str::to_string))
            .collect();
        assert_eq!(got, want, "{file}: trace ids");
        assert!(groups(&report)
            .iter()
            .filter(|g| g["top_function"] != "main.wLabeled")
            .all(|g| g["trace_ids"].as_array().is_some_and(Vec::is_empty)));

        let out = run([
            OsStr::new("analyze"),
            os(&path),
            OsStr::new("--format"),
            OsStr::new("json"),
            OsStr::new("--group-by-label"),
            OsStr::new("trace_id"),
        ]);
        assert_eq!(out.code(), 0, "{}", out.stderr);
        let split: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let values: BTreeSet<String> = groups(&split)
            .iter()
            .filter(|g| g["top_function"] == "main.wLabeled")
            .map(|g| {
                assert_eq!(int(g, "count"), 1, "{file}");
                assert_eq!(g["group_label"]["key"], "trace_id");
                g["group_label"]["value"]
                    .as_str()
                    .expect("value")
                    .to_string()
            })
            .collect();
        assert_eq!(values, want, "{file}: one group per trace");
        assert_eq!(
            int(&split, "group_count"),
            int(&report, "group_count") + 2,
            "{file}: only the labelled group splits"
        );
    }
}

/// The format is told from the bytes, also inside gzip: a gzipped debug=2
/// dump, a gzipped debug=1 profile and an uncompressed profile.proto give
/// the same reports as their usual forms.
#[test]
fn gzipped_and_raw_forms_read_like_the_usual_ones() {
    let dir = scratch_dir("forms");
    let cases = [
        ("stack.txt", "gzip", "dump"),
        ("profiles/goroutine_debug1.txt", "gzip", "pprof_text"),
        ("profiles/goroutine.pb.gz", "gunzip", "pprof"),
    ];
    for (file, how, format) in cases {
        let plain = fixture("go1.26", file);
        let other = dir.join(format!("{}.{how}", file.replace('/', "_")));
        let status = Command::new("sh")
            .arg("-c")
            .arg(match how {
                "gzip" => format!("gzip -c '{}' > '{}'", plain.display(), other.display()),
                _ => format!("gunzip -c '{}' > '{}'", plain.display(), other.display()),
            })
            .status()
            .expect("sh");
        assert!(status.success());
        let a = analyze_json(&plain);
        let b = analyze_json(&other);
        assert_eq!(b["source"]["format"], format, "{file} {how}");
        assert_eq!(a, b, "{file}: {how} form differs");
    }
}

/// Profiles that cannot be read get one line naming the file and what to
/// do, exit 2: another kind of profile, a gzip bomb past the cap, a cut
/// download.
#[test]
fn bad_profiles_exit_2_saying_why() {
    let heap = fixture("go1.26", "profiles/heap.pb.gz");
    let out = run([OsStr::new("analyze"), os(&heap)]);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    let line = one_line(&out.stderr);
    assert!(
        line.contains("heap.pb.gz")
            && line.contains("heap")
            && line.contains("/debug/pprof/goroutine"),
        "{line}"
    );

    let dir = scratch_dir("bad-profiles");
    // 8 MiB of zeros gzip to a few KiB: over a 1 MiB cap.
    let bomb = dir.join("bomb.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 8388608 /dev/zero | gzip -9 > '{}'",
            bomb.display()
        ))
        .status()
        .expect("sh");
    assert!(status.success());
    let out = run([
        OsStr::new("analyze"),
        os(&bomb),
        OsStr::new("--max-decompressed"),
        OsStr::new("1"),
    ]);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    let line = one_line(&out.stderr);
    assert!(
        line.contains("bomb.gz") && line.contains("--max-decompressed"),
        "{line}"
    );

    let good = std::fs::read(fixture("go1.26", "profiles/goroutine.pb.gz")).expect("fixture");
    let cut = dir.join("cut.pb.gz");
    std::fs::write(&cut, &good[..good.len() / 2]).expect("write");
    let out = run([OsStr::new("analyze"), os(&cut)]);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    let line = one_line(&out.stderr);
    assert!(
        line.contains("cut.pb.gz") && line.contains("again"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------
// Exit codes and messages
// ---------------------------------------------------------------------------

/// stderr is exactly one line.
fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "want one line on stderr, got:\n{stderr}");
    lines[0]
}

#[test]
fn nonexistent_file_exits_2_naming_it() {
    let dir = scratch_dir("nonexistent");
    let path = dir.join("no-such-dump.txt");
    let out = run([OsStr::new("analyze"), os(&path)]);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let line = one_line(&out.stderr);
    assert!(
        line.contains(path.to_str().expect("utf-8")),
        "stderr does not name the file: {line}"
    );
}

#[test]
fn input_without_goroutines_exits_2_with_a_hint() {
    let dir = scratch_dir("no-goroutines");
    let cases: [(&str, &[u8]); 3] = [
        ("empty.txt", b""),
        (
            "log.txt",
            b"2026/01/02 15:04:05 server listening on :8080\nGET /healthz 200\n",
        ),
        // Not text at all.
        ("binary.bin", &[0xff, 0xfe, 0x00, 0x01, 0x80, 0x0a, 0xc3]),
    ];
    for (name, content) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write");
        let out = run([OsStr::new("analyze"), os(&path)]);
        assert_eq!(out.code(), 2, "{name}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{name}: stdout not empty");
        let line = one_line(&out.stderr);
        if name == "binary.bin" {
            // Binary: neither text nor a profile the reader can decode.
            assert!(line.contains("neither a goroutine dump"), "{line}");
            assert!(line.contains("/debug/pprof/goroutine"), "{line}");
        } else {
            assert!(line.contains("no goroutine header found in"), "{line}");
            assert!(line.contains("/debug/pprof/goroutine?debug=2"), "{line}");
        }
        assert!(line.contains(name), "{name} not named: {line}");
    }
    // The same from standard input.
    let out = run_cmd(goroscope(["analyze", "-"]), Some(Vec::new()), CHILD_TIMEOUT);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(out.stderr.contains("no goroutine header found in"));
}

#[test]
fn directory_exits_2() {
    let dir = scratch_dir("a-directory");
    let out = run([OsStr::new("analyze"), os(&dir)]);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let line = one_line(&out.stderr);
    assert!(line.contains(dir.to_str().expect("utf-8")), "{line}");
    assert!(line.contains("directory"), "{line}");
}

#[test]
fn bad_depth_buckets_exit_2() {
    for bad in ["3,x", "8,3", "", "0", "3,3", "-1", "1,,2"] {
        let out = run([
            OsStr::new("analyze"),
            os(&stack126()),
            OsStr::new(&format!("--depth-buckets={bad}")),
        ]);
        assert_eq!(out.code(), 2, "--depth-buckets {bad:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "--depth-buckets {bad:?}");
        let line = one_line(&out.stderr);
        assert!(
            line.contains("--depth-buckets"),
            "--depth-buckets {bad:?}: {line}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let cases: [&[&str]; 4] = [
        &[],
        &["analyze"],
        &["analyze", "x", "--format", "yaml"],
        &["frobnicate"],
    ];
    for args in cases {
        let out = run(args.iter().copied());
        assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn read_failure_exits_1() {
    // Opening /proc/self/mem works; reading it from offset 0 fails (EIO).
    let path = Path::new("/proc/self/mem");
    if !path.exists() {
        eprintln!("note: no /proc/self/mem; skipping");
        return;
    }
    let out = run([OsStr::new("analyze"), os(path)]);
    assert_eq!(out.code(), 1, "{}", out.stderr);
    let line = one_line(&out.stderr);
    assert!(line.contains("/proc/self/mem"), "{line}");
}

// ---------------------------------------------------------------------------
// Truncated dumps
// ---------------------------------------------------------------------------

/// The Go 1.26 stack fixture cut inside the second frame of a goroutine in
/// the middle of the file. `mid_line`: cut in the middle of that frame's
/// file:line line; else right after its function line. Returns the cut text,
/// the goroutines it starts and the id of the last one.
fn cut_mid_frame(mid_line: bool) -> (String, u64, u64) {
    let text = std::fs::read_to_string(stack126()).expect("fixture");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let headers: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("goroutine "))
        .collect();
    let (n, &h) = headers
        .iter()
        .enumerate()
        .skip(headers.len() / 2)
        .find(|(_, &h)| {
            // At least two frames (function + file:line each).
            lines.len() > h + 4
                && lines[h + 1..h + 5]
                    .iter()
                    .all(|l| !l.trim().is_empty() && !l.starts_with("created by"))
        })
        .expect("a goroutine with two frames past the middle");
    let id: u64 = lines[h]
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("goroutine id");
    let mut cut: String = lines[..h + 4].concat();
    if mid_line {
        let file_line = lines[h + 4];
        cut.push_str(&file_line[..file_line.len() / 2]);
    }
    (cut, n as u64 + 1, id)
}

#[test]
fn truncated_dump_keeps_goroutines_and_warns() {
    let dir = scratch_dir("truncated");
    for mid_line in [true, false] {
        let (cut, goroutines, last_id) = cut_mid_frame(mid_line);
        let ctx = format!("cut mid_line={mid_line}, last goroutine {last_id}");
        let path = dir.join(format!("cut-{mid_line}.txt"));
        std::fs::write(&path, &cut).expect("write");

        let human = run([OsStr::new("analyze"), os(&path)]);
        assert_eq!(human.code(), 0, "{ctx}: {}", human.stderr);
        assert!(
            human
                .stdout_str()
                .starts_with(&format!("{goroutines} goroutines  (")),
            "{ctx}:\n{}",
            human.stdout_str()
        );
        let warnings: Vec<&str> = human
            .stderr
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .collect();
        assert!(
            warnings.iter().any(|l| l.contains("truncated")),
            "{ctx}: no `warning: ... truncated` line on stderr:\n{}",
            human.stderr
        );
        assert!(
            human.stderr.lines().all(|l| l.starts_with("warning:")),
            "{ctx}: {}",
            human.stderr
        );

        let r = analyze_json(&path);
        check_report(&r, &ctx);
        assert_eq!(int(&r, "total"), goroutines, "{ctx}: goroutines kept");
        assert_eq!(int(&r["flags"], "truncated"), 1, "{ctx}: truncated flag");
        let diags = r["diagnostics"].as_array().expect("diagnostics");
        let who = format!("goroutine {last_id}");
        assert!(
            diags.iter().any(|d| {
                let m = d["message"].as_str().unwrap_or("");
                m.contains(&who) && m.contains("truncated") && d["line"].as_u64() > Some(0)
            }),
            "{ctx}: no diagnostic flags {who} as truncated: {diags:?}"
        );
        // The cut goroutine itself is kept.
        let sample_ids: Vec<u64> = groups(&r)
            .iter()
            .flat_map(|g| g["sample_ids"].as_array().expect("sample_ids").clone())
            .filter_map(|v| v.as_u64())
            .collect();
        assert!(sample_ids.contains(&last_id), "{ctx}: {sample_ids:?}");
    }
}

/// README: "0 on success (even with diagnostics, which go to stderr)". The
/// machine formats must not swallow the warning either.
#[test]
fn truncated_dump_warns_on_stderr_in_every_format() {
    let dir = scratch_dir("truncated-formats");
    let (cut, _, _) = cut_mid_frame(true);
    let path = dir.join("cut.txt");
    std::fs::write(&path, &cut).expect("write");
    let mut missing = Vec::new();
    for format in ["human", "json", "openmetrics"] {
        let out = run([
            OsStr::new("analyze"),
            os(&path),
            OsStr::new("--format"),
            OsStr::new(format),
        ]);
        assert_eq!(out.code(), 0, "{format}: {}", out.stderr);
        if !out
            .stderr
            .lines()
            .any(|l| l.starts_with("warning:") && l.contains("truncated"))
        {
            missing.push(format);
        }
    }
    assert!(
        missing.is_empty(),
        "no `warning:` about the truncated dump on stderr with --format {missing:?}"
    );
}

// ---------------------------------------------------------------------------
// Broken pipe
// ---------------------------------------------------------------------------

/// A dump of 20000 goroutines with distinct stacks: every format prints far
/// more than a pipe buffer for it (with a large --top).
fn many_groups_dump(dir: &Path) -> PathBuf {
    let path = dir.join("many.txt");
    let mut s = String::new();
    for i in 0..20_000 {
        s.push_str(&format!(
            "goroutine {} [chan receive]:\nmain.handler{i}()\n\t/src/main.go:{} +0x1c\n\
             created by main.start in goroutine 1\n\t/src/main.go:5 +0x29\n\n",
            i + 2,
            i + 1
        ));
    }
    std::fs::write(&path, s).expect("write");
    path
}

/// Reads one line of stdout, closes the pipe, and expects a quiet exit 0.
fn closes_pipe_quietly(format: &str) {
    let dir = scratch_dir(&format!("pipe-{format}"));
    let path = many_groups_dump(&dir);
    let mut cmd = goroscope([
        OsStr::new("analyze"),
        os(&path),
        OsStr::new("--format"),
        OsStr::new(format),
        OsStr::new("--top"),
        OsStr::new("100000"),
    ]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard(Some(cmd.spawn().expect("spawn goroscope")));
    let mut stderr = guard.child().stderr.take().expect("stderr");
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdout = BufReader::new(guard.child().stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first line");
    assert!(!first.is_empty(), "--format {format}: no output");
    drop(stdout); // like `| head -1`
    let status = wait_bounded(guard.child(), CHILD_TIMEOUT, "goroscope | head -1");
    let stderr = err.join().expect("stderr thread");
    assert_eq!(
        status.code(),
        Some(0),
        "--format {format} | head -1: exit {status:?}, stderr: {stderr}"
    );
    assert_eq!(stderr, "", "--format {format} | head -1: stderr");
}

#[test]
fn broken_pipe_human_is_quiet_success() {
    closes_pipe_quietly("human");
}

#[test]
fn broken_pipe_json_is_quiet_success() {
    closes_pipe_quietly("json");
}

#[test]
fn broken_pipe_openmetrics_is_quiet_success() {
    closes_pipe_quietly("openmetrics");
}

/// The literal shell pipeline `goroscope analyze big | head -1`.
#[test]
fn broken_pipe_through_a_shell_pipeline() {
    let dir = scratch_dir("pipe-shell");
    let path = many_groups_dump(&dir);
    let errfile = dir.join("stderr.txt");
    // sh has no PIPESTATUS: goroscope's exit status goes to a file.
    let status_file = dir.join("status.txt");
    let script = r#"{ "$0" analyze "$1" --top 100000 2>"$2"; echo $? >"$3"; } | head -1"#;
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script, common::BIN])
        .arg(&path)
        .arg(&errfile)
        .arg(&status_file);
    let out = run_cmd(cmd, None, CHILD_TIMEOUT);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    assert_eq!(out.stdout_str(), "20000 goroutines  (20000 waiting)\n");
    let status = std::fs::read_to_string(&status_file).expect("status file");
    assert_eq!(
        status.trim(),
        "0",
        "goroscope's exit status in the pipeline"
    );
    let stderr = std::fs::read_to_string(&errfile).expect("stderr file");
    assert_eq!(stderr, "", "goroscope's stderr in the pipeline");
}

// ---------------------------------------------------------------------------
// Help texts
// ---------------------------------------------------------------------------

#[test]
fn help_is_snapshotted() {
    let out = run(["--help"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    insta::assert_snapshot!("help", out.stdout_str());
}

#[test]
fn analyze_help_is_snapshotted() {
    let out = run(["analyze", "--help"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    insta::assert_snapshot!("analyze_help", out.stdout_str());
}

#[test]
fn version_names_the_program() {
    let out = run(["--version"]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let v = out.stdout_str();
    assert!(v.starts_with("goroscope ") && v.ends_with('\n'), "{v:?}");
    assert_eq!(v.trim(), format!("goroscope {}", env!("CARGO_PKG_VERSION")));
}

/// The demo's recording, 55 s apart: its leak grew by one goroutine a
/// second.
fn recording(file: &str) -> String {
    repo_root()
        .join("examples/demo/recording")
        .join(file)
        .to_str()
        .expect("UTF-8 path")
        .to_string()
}

fn diff_json(before: &str, after: &str) -> Value {
    let out = run(["diff", "--format", "json", before, after]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    serde_json::from_slice(&out.stdout).expect("diff JSON")
}

fn diff_group<'a>(d: &'a Value, top_function: &str) -> &'a Value {
    d["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["top_function"] == top_function)
        .unwrap_or_else(|| panic!("no {top_function} in {d}"))
}

#[test]
fn diff_puts_the_growing_leak_first() {
    let (before, after) = (recording("profile-01.pb.gz"), recording("profile-12.pb.gz"));
    let d = diff_json(&before, &after);
    assert_eq!(d["before"]["total"], 37);
    assert_eq!(d["after"]["total"], 92);
    assert_eq!(d["change"], 55);
    let first = &d["groups"][0];
    assert_eq!(first["top_function"], "main.leakyHandler.func1", "{d}");
    assert_eq!(
        (first["before"].as_u64(), first["after"].as_u64()),
        (Some(5), Some(60))
    );
    assert_eq!(first["change"], 55);
    assert_eq!(first["status"], "grown");
    assert_eq!(first["block_class"], "chan_send");
    assert!(!first["frames"].as_array().expect("frames").is_empty());
    let pool = diff_group(&d, "main.poolWorker");
    assert_eq!(
        (pool["before"].as_u64(), pool["after"].as_u64()),
        (Some(8), Some(8))
    );
    assert_eq!(pool["status"], "same");
    // Sorted by change, largest first.
    let changes: Vec<i64> = d["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["change"].as_i64().expect("change"))
        .collect();
    assert!(changes.windows(2).all(|w| w[0] >= w[1]), "{changes:?}");

    let out = run(["diff", &before, &after]);
    assert_eq!(out.code(), 0, "{}", out.stderr);
    let text = out.stdout_str();
    assert!(text.contains("change: +55 goroutines"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("main.leakyHandler.func1"))
        .expect("the leak's row");
    assert!(
        row.trim_start().starts_with("+55") && row.contains("chan_send"),
        "{row}"
    );
}

/// A dump and a profile of the same service line up by signature, and the
/// dump's creators are kept.
#[test]
fn diff_lines_up_a_dump_with_a_profile() {
    let d = diff_json(&recording("dump-01.txt.gz"), &recording("profile-01.pb.gz"));
    assert_eq!(d["before"]["source"]["format"], "dump");
    assert_eq!(d["after"]["source"]["format"], "pprof");
    for (f, n) in [
        ("main.poolWorker", 8),
        ("main.condWaiter", 3),
        ("main.wgWaiter", 2),
    ] {
        let g = diff_group(&d, f);
        assert_eq!(
            (g["before"].as_u64(), g["after"].as_u64()),
            (Some(n), Some(n)),
            "{g}"
        );
        assert_eq!(g["status"], "same", "{g}");
        assert_eq!(g["created_by"], "main.main", "{g}");
    }
}

#[test]
fn diff_of_a_snapshot_with_itself_changes_nothing() {
    let p = recording("profile-12.pb.gz");
    let d = diff_json(&p, &p);
    assert_eq!(d["change"], 0);
    assert!(d["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .all(|g| g["status"] == "same" && g["change"] == 0));
    let out = run(["diff", &p, &p]);
    assert!(
        out.stdout_str().contains("no group changed"),
        "{}",
        out.stdout_str()
    );
}

#[test]
fn diff_refuses_unusable_inputs() {
    let out = run([
        "diff",
        "/nonexistent/before.txt",
        &recording("profile-01.pb.gz"),
    ]);
    assert_eq!(out.code(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent/before.txt"),
        "{}",
        out.stderr
    );
    let out = run(["diff", "-", "-"]);
    assert_eq!(out.code(), 2);
    assert!(out.stderr.contains("only one side"), "{}", out.stderr);
}
