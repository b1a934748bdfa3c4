//! Cross-check of the dump parser against DataDog/gostackparse's golden files
//! (`/work/shared/corpus/gostackparse`, see `../shared/corpus/README.md`):
//! for every `NAME.txt` with a `NAME.golden.json`, goroscope must find the
//! goroutines gostackparse found, with the same id, raw state, wait time,
//! lock flag, frames (function, file, line), elision flag, creator and
//! ancestor chain, and a diagnostic where gostackparse reported an error.
//!
//! The golden files are an independent opinion, not a specification. Where
//! goroscope deliberately differs (it keeps a goroutine cut short and flags
//! it `truncated` where gostackparse drops it; its diagnostics point at the
//! offending line rather than the line after it), the per-file test below
//! says so in a comment and asserts goroscope's behaviour explicitly; every
//! other field is still compared. Tests named `regression_*` pin parser bugs
//! this cross-check found (fixed since).
//!
//! The corpus is part of the test environment: a missing directory or a
//! corpus file without a test here is a failure, never a skip.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use goroscope_core::model::{Elided, Goroutine, Snapshot};
use goroscope_core::parse::parse_dump;
use serde::Deserialize;

// ---------------------------------------------------------------------------
// Golden file schema (gostackparse's JSON encoding of its Goroutine type).

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GoldenFile {
    errors: Option<Vec<String>>,
    goroutines: Option<Vec<GoldenGoroutine>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GoldenGoroutine {
    #[serde(rename = "ID")]
    id: u64,
    state: String,
    /// Nanoseconds: minutes * 60e9.
    wait: u64,
    locked_to_thread: bool,
    stack: Vec<GoldenFrame>,
    frames_elided: bool,
    created_by: Option<GoldenFrame>,
    #[serde(default)]
    ancestor: Option<Box<GoldenGoroutine>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GoldenFrame {
    func: String,
    file: String,
    line: u32,
}

// ---------------------------------------------------------------------------
// One comparable shape for both sides.

type FrameView = (String, String, u32);

/// A goroutine (or an ancestor in its chain) as both parsers can describe it.
#[derive(Debug, PartialEq)]
struct View {
    id: u64,
    /// Raw status text: the wait reason or the state word.
    state: String,
    /// Wait in whole minutes; `None` when the dump printed none.
    wait_minutes: Option<u64>,
    locked_to_thread: bool,
    frames: Vec<FrameView>,
    frames_elided: bool,
    created_by: Option<FrameView>,
    ancestor: Option<Box<View>>,
}

const NS_PER_MINUTE: u64 = 60_000_000_000;

fn golden_frame(f: &GoldenFrame) -> FrameView {
    (f.func.clone(), f.file.clone(), f.line)
}

fn golden_view(g: &GoldenGoroutine) -> View {
    assert_eq!(
        g.wait % NS_PER_MINUTE,
        0,
        "goroutine {}: golden wait {} ns is not whole minutes",
        g.id,
        g.wait
    );
    View {
        id: g.id,
        state: g.state.clone(),
        // Go prints `, N minutes` only from one minute on, so a golden 0
        // means "not printed", which goroscope keeps apart from Some(0).
        wait_minutes: (g.wait != 0).then_some(g.wait / NS_PER_MINUTE),
        locked_to_thread: g.locked_to_thread,
        frames: g.stack.iter().map(golden_frame).collect(),
        frames_elided: g.frames_elided,
        created_by: g.created_by.as_ref().map(golden_frame),
        ancestor: g.ancestor.as_deref().map(|a| Box::new(golden_view(a))),
    }
}

fn stack_of(snap: &Snapshot, g: &Goroutine) -> Vec<FrameView> {
    snap.tables
        .stack(g.stack)
        .iter()
        .map(|&f| our_frame(snap, f))
        .collect()
}

fn our_frame(snap: &Snapshot, id: goroscope_core::model::FrameId) -> FrameView {
    let f = snap.tables.frame(id);
    (f.function.to_string(), f.file.to_string(), f.line)
}

fn our_view(snap: &Snapshot, g: &Goroutine) -> View {
    let t = &snap.tables;
    // Ancestors nest in the golden files (nearest first); goroscope keeps
    // them as a list in the same order. An ancestor block prints no header,
    // so its state, wait and lock flag are empty on both sides.
    let mut ancestor: Option<Box<View>> = None;
    for a in g.ancestors.iter().rev() {
        ancestor = Some(Box::new(View {
            id: a.goroutine,
            state: String::new(),
            wait_minutes: None,
            locked_to_thread: false,
            frames: t
                .stack(a.stack)
                .iter()
                .map(|&f| our_frame(snap, f))
                .collect(),
            frames_elided: a.elided != Elided::None,
            created_by: a.created_by.map(|c| our_frame(snap, c.frame)),
            ancestor,
        }));
    }
    View {
        id: g.id,
        state: t.str(g.status).to_string(),
        wait_minutes: g.wait_minutes.map(u64::from),
        locked_to_thread: g.flags.locked_to_thread,
        frames: stack_of(snap, g),
        frames_elided: g.elided != Elided::None,
        created_by: g.created_by.map(|c| our_frame(snap, c.frame)),
        ancestor,
    }
}

// ---------------------------------------------------------------------------
// Corpus access.

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gostackparse");
    assert!(
        dir.is_dir(),
        "the gostackparse corpus is part of the test environment but {} is missing",
        dir.display()
    );
    dir
}

fn read_text(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(format!("{name}.txt"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_golden(name: &str) -> GoldenFile {
    let path = corpus_dir().join(format!("{name}.golden.json"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_named(name: &str) -> Snapshot {
    let (snap, err) = parse_dump(&read_text(name)[..]);
    assert!(err.is_none(), "{name}: read error {err:?}");
    snap
}

/// `... on line 6: ...` in a gostackparse error message.
fn golden_error_line(msg: &str) -> u64 {
    let rest = msg
        .split_once(" on line ")
        .unwrap_or_else(|| panic!("golden error without a line number: {msg:?}"))
        .1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("golden error line number: {msg:?}"))
}

// ---------------------------------------------------------------------------
// The comparison.

/// How goroscope is expected to differ from a golden file; `EXACT` when not
/// at all. Each non-empty field is justified where it is used.
struct Deviations {
    /// Goroutines goroscope keeps that gostackparse drops (ids, our order).
    kept_only_by_goroscope: &'static [u64],
    /// Ids of the goroutines goroscope must flag `truncated` (no other).
    truncated: &'static [u64],
    /// The diagnostics goroscope must report, as (line, message start),
    /// besides one "goroutine N: no stack frames were printed" for every
    /// goroutine left with an empty stack that is neither `truncated` (which
    /// has its own diagnostic) nor `stack unavailable` (computed, not
    /// listed). No other diagnostic is allowed.
    diagnostics: &'static [(u64, &'static str)],
    /// For each golden error line, the line of goroscope's diagnostic about
    /// the same problem. Must cover every golden error.
    error_lines: &'static [(u64, u64)],
}

const EXACT: Deviations = Deviations {
    kept_only_by_goroscope: &[],
    truncated: &[],
    diagnostics: &[],
    error_lines: &[],
};

/// Parses `NAME.txt`, compares it with `NAME.golden.json` under `dev`, and
/// returns the parse for file-specific assertions.
fn check(name: &str, dev: &Deviations) -> Snapshot {
    let text = read_text(name);
    let golden = read_golden(name);
    let snap = parse_named(name);
    let golden_gs = golden.goroutines.as_deref().unwrap_or(&[]);

    // Same goroutines, in input order, apart from the documented extras.
    let ours: Vec<&Goroutine> = snap
        .goroutines
        .iter()
        .filter(|g| !dev.kept_only_by_goroscope.contains(&g.id))
        .collect();
    let extra: Vec<u64> = snap
        .goroutines
        .iter()
        .map(|g| g.id)
        .filter(|id| dev.kept_only_by_goroscope.contains(id))
        .collect();
    assert_eq!(
        extra, dev.kept_only_by_goroscope,
        "{name}: goroutines only goroscope keeps"
    );
    assert_eq!(
        ours.iter().map(|g| g.id).collect::<Vec<_>>(),
        golden_gs.iter().map(|g| g.id).collect::<Vec<_>>(),
        "{name}: goroutine ids"
    );
    for (g, want) in ours.iter().zip(golden_gs) {
        assert_eq!(
            our_view(&snap, g),
            golden_view(want),
            "{name}: goroutine {}",
            g.id
        );
    }

    // Beyond the golden schema: the Go 1.21 `created by F in goroutine N`
    // parent id is read wherever it was printed, and only there.
    let printed_parents = text
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"created by ") && contains(l, b" in goroutine "))
        .count();
    let parsed_parents = snap
        .goroutines
        .iter()
        .flat_map(|g| {
            std::iter::once(g.created_by)
                .chain(g.ancestors.iter().map(|a| a.created_by))
                .flatten()
        })
        .filter(|c| c.goroutine.is_some())
        .count();
    assert_eq!(
        parsed_parents, printed_parents,
        "{name}: `created by ... in goroutine N` parents"
    );

    let truncated: Vec<u64> = snap
        .goroutines
        .iter()
        .filter(|g| g.flags.truncated)
        .map(|g| g.id)
        .collect();
    assert_eq!(truncated, dev.truncated, "{name}: truncated goroutines");

    // Diagnostics: exactly the listed ones plus the computed empty-stack ones.
    let mut expected: Vec<(Option<u64>, String)> = dev
        .diagnostics
        .iter()
        .map(|&(line, msg)| (Some(line), msg.to_string()))
        .collect();
    for g in &snap.goroutines {
        if snap.tables.stack(g.stack).is_empty() && !g.flags.stack_unavailable && !g.flags.truncated
        {
            expected.push((
                None,
                format!("goroutine {}: no stack frames were printed", g.id),
            ));
        }
    }
    let mut unmatched: Vec<_> = snap.diagnostics.iter().collect();
    for (line, msg) in &expected {
        let pos = unmatched
            .iter()
            .position(|d| d.message.starts_with(msg.as_str()) && line.is_none_or(|l| d.line == l));
        match pos {
            Some(i) => {
                unmatched.remove(i);
            }
            None => panic!(
                "{name}: missing diagnostic {msg:?} at line {line:?}; got {:?}",
                snap.diagnostics
            ),
        }
    }
    assert!(
        unmatched.is_empty(),
        "{name}: unexpected diagnostics {unmatched:?}"
    );

    // Every golden error has a diagnostic of ours on the corresponding line.
    let golden_lines: Vec<u64> = golden
        .errors
        .iter()
        .flatten()
        .map(|e| golden_error_line(e))
        .collect();
    assert_eq!(
        golden_lines,
        dev.error_lines.iter().map(|&(g, _)| g).collect::<Vec<_>>(),
        "{name}: golden error lines ({:?})",
        golden.errors
    );
    for &(golden_line, our_line) in dev.error_lines {
        assert!(
            snap.diagnostics.iter().any(|d| d.line == our_line),
            "{name}: golden error on line {golden_line}: no diagnostic of ours on line {our_line}: {:?}",
            snap.diagnostics
        );
    }
    snap
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn goroutine(snap: &Snapshot, id: u64) -> &Goroutine {
    snap.goroutines
        .iter()
        .find(|g| g.id == id)
        .unwrap_or_else(|| panic!("goroutine {id} not parsed"))
}

fn function_names(snap: &Snapshot, g: &Goroutine) -> Vec<String> {
    snap.frames_of(g).map(|f| f.function.to_string()).collect()
}

// ---------------------------------------------------------------------------
// One test per corpus file.

/// Every file of the corpus, each with its test below.
const CHECKED: &[&str] = &[
    "ancestors",
    "cgo",
    "empty_input",
    "empty_stack",
    "errorhandling",
    "frameselided",
    "frameselided_goroutine",
    "go121_createdby",
    "lockedm",
    "partial_createdby",
    "partial_stack",
    "waitsince",
    "windows",
];

#[test]
fn every_corpus_file_has_a_test() {
    let mut with_golden = BTreeSet::new();
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus directory lists") {
        let name = entry.expect("corpus entry").file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".golden.json") {
            assert!(
                corpus_dir().join(format!("{stem}.txt")).is_file(),
                "{stem}.golden.json without {stem}.txt"
            );
            with_golden.insert(stem.to_string());
        }
    }
    let checked: BTreeSet<String> = CHECKED.iter().map(|s| s.to_string()).collect();
    assert_eq!(with_golden, checked, "corpus files vs tests in corpus.rs");
}

#[test]
fn ancestors() {
    // GODEBUG=tracebackancestors: the whole `[originating from goroutine N]`
    // chain, with each ancestor's frames and creator, matches.
    let snap = check("ancestors", &EXACT);
    assert_eq!(goroutine(&snap, 25).ancestors.len(), 6);
    assert_eq!(goroutine(&snap, 29).ancestors.len(), 4);
}

#[test]
fn cgo() {
    let snap = check("cgo", &EXACT);
    // Beyond the golden schema: `main.goSleep(...)` is an inlined frame.
    let g = goroutine(&snap, 7);
    assert!(snap
        .frames_of(g)
        .any(|f| &*f.function == "main.goSleep"
            && f.kind == goroscope_core::model::FrameKind::Inlined));
}

#[test]
fn empty_input() {
    let snap = check("empty_input", &EXACT);
    assert!(snap.goroutines.is_empty());
}

#[test]
fn empty_stack() {
    // Two headers with no frame at all. gostackparse drops both goroutines
    // and reports an error on lines 2 and 4. goroscope keeps both (their
    // headers are valid and say who they are and what state they are in)
    // with an empty stack and a "no stack frames were printed" diagnostic
    // each: the first on line 2 (the blank line that ends it), as
    // gostackparse; the second on line 3, the last line of the input:
    // gostackparse counts a line 4 after the final newline, which does not
    // exist. The second header is the last line of the input, so goroscope
    // also flags that goroutine truncated (every goroutine prints at least
    // one frame; a header right before the end was cut off), with the
    // diagnostic "input ends right after its header" on line 3.
    let snap = check(
        "empty_stack",
        &Deviations {
            kept_only_by_goroscope: &[1, 2],
            truncated: &[2],
            diagnostics: &[(3, "goroutine 2: input ends right after its header")],
            error_lines: &[(2, 2), (4, 3)],
        },
    );
    for g in &snap.goroutines {
        assert_eq!(snap.tables.str(g.status), "running");
        assert!(snap.tables.stack(g.stack).is_empty());
    }
}

#[test]
fn errorhandling() {
    // Goroutine 2's function line is malformed (`main.main)(`). gostackparse
    // drops the goroutine and reports line 6. goroscope keeps goroutine 2
    // with the valid header and an empty stack (the malformed line is not a
    // frame, so it ends the block, and the orphan file line after it is
    // outside any goroutine), with a diagnostic on the same line 6.
    // Goroutines 1 and 3 match exactly.
    let snap = check(
        "errorhandling",
        &Deviations {
            kept_only_by_goroscope: &[2],
            truncated: &[],
            diagnostics: &[],
            error_lines: &[(6, 6)],
        },
    );
    let g = goroutine(&snap, 2);
    assert_eq!(snap.tables.str(g.status), "running");
    assert!(snap.tables.stack(g.stack).is_empty());
    assert!(g.created_by.is_none());
}

#[test]
fn frameselided() {
    // Go <= 1.20 `...additional frames elided...` after 100 frames.
    let snap = check("frameselided", &EXACT);
    assert_eq!(snap.goroutines[0].elided, Elided::Additional);
    assert_eq!(snap.tables.stack(snap.goroutines[0].stack).len(), 100);
}

#[test]
fn frameselided_goroutine() {
    // The elision marker is followed by `created by`, which still belongs
    // to the goroutine.
    let snap = check("frameselided_goroutine", &EXACT);
    assert_eq!(goroutine(&snap, 18).elided, Elided::Additional);
}

#[test]
fn go121_createdby() {
    // The file lacks the final newline Go always prints: its last line
    // (`\t.../go121_createdby.go:18 +0x78`) ends the input mid-line.
    // gostackparse accepts it silently; goroscope flags goroutine 1
    // `truncated` with a diagnostic on that line 15, because a dump cut
    // there cannot be told apart from a complete one (`+0x78` could be
    // `+0x78a`). The frame itself is kept and matches the golden file.
    let snap = check(
        "go121_createdby",
        &Deviations {
            kept_only_by_goroscope: &[],
            truncated: &[1],
            diagnostics: &[(15, "goroutine 1: input ends in the middle of a line")],
            error_lines: &[],
        },
    );
    // `created by main.main in goroutine 1`.
    let cb = goroutine(&snap, 18).created_by.expect("created by");
    assert_eq!(cb.goroutine, Some(1));
}

#[test]
fn lockedm() {
    // `[running, locked to thread]`: the raw status is `running`, the lock
    // is a flag.
    let snap = check("lockedm", &EXACT);
    assert!(goroutine(&snap, 7).flags.locked_to_thread);
}

#[test]
fn partial_createdby() {
    // Both goroutines end with `created by F` but no file:line line (the
    // first before a blank line, the second at the end of the input).
    // gostackparse drops both and reports lines 5 and 10, the lines where
    // the file:line was expected. goroscope keeps both, flagged `truncated`,
    // with every complete frame, and reports lines 4 and 9: the `created by`
    // lines whose file:line is missing, and keeps the creating function
    // with no file (see regression_dangling_function_line_is_kept).
    let snap = check(
        "partial_createdby",
        &Deviations {
            kept_only_by_goroscope: &[1, 2],
            truncated: &[1, 2],
            diagnostics: &[
                (4, "goroutine 1: function line without its file:line line"),
                (9, "goroutine 2: input ends inside its stack"),
            ],
            error_lines: &[(5, 4), (10, 9)],
        },
    );
    for (id, line) in [(1, 182), (2, 183)] {
        let g = goroutine(&snap, id);
        assert_eq!(snap.tables.str(g.status), "running");
        assert_eq!(
            stack_of(&snap, g),
            vec![("main.foo".to_string(), "/example/main.go".to_string(), line)],
            "goroutine {id}"
        );
        let creator = g.created_by.map(|c| our_frame(&snap, c.frame));
        let want = if id == 1 { "main.main" } else { "main.foo" };
        assert_eq!(
            creator,
            Some((want.to_string(), String::new(), 0)),
            "goroutine {id}"
        );
    }
}

#[test]
fn partial_stack() {
    // Both goroutines end with a function line but no file:line line.
    // gostackparse drops both and reports lines 3 and 6 (where the file:line
    // was expected); goroscope keeps both, flagged `truncated`, and reports
    // lines 2 and 5, the function lines whose file:line is missing, keeping
    // `main.main` as a frame with no file (regression_dangling_function_line_is_kept).
    let snap = check(
        "partial_stack",
        &Deviations {
            kept_only_by_goroscope: &[1, 2],
            truncated: &[1, 2],
            diagnostics: &[
                (2, "goroutine 1: function line without its file:line line"),
                (5, "goroutine 2: input ends inside its stack"),
            ],
            error_lines: &[(3, 2), (6, 5)],
        },
    );
    for g in &snap.goroutines {
        assert_eq!(snap.tables.str(g.status), "running");
        assert_eq!(
            stack_of(&snap, g),
            vec![("main.main".to_string(), String::new(), 0)],
            "goroutine {}",
            g.id
        );
    }
}

#[test]
fn waitsince() {
    // `[sleep, 1 minutes]` etc.: golden 60e9 ns = our Some(1).
    let snap = check("waitsince", &EXACT);
    assert!(snap
        .goroutines
        .iter()
        .filter(|g| g.id != 1)
        .all(|g| g.wait_minutes == Some(1)));
    assert_eq!(goroutine(&snap, 1).wait_minutes, None);
}

#[test]
fn windows() {
    // `C:/Users/...:693`: the drive colon is not the line separator.
    check("windows", &EXACT);
}

// ---------------------------------------------------------------------------
// Parser bugs this cross-check found; fixed, and pinned here.

/// Regression: a function line (or `created by` line) whose file:line line
/// never comes (the dump ends, or a blank line follows) used to be dropped,
/// although the goroutine was flagged `truncated` and the diagnostic said
/// "kept what was read"; a cut one byte earlier (`main.main(`) kept it. Now
/// the function is kept with no file and line 0.
/// Expected: the frame is kept with the printed function name, no file and
/// line 0 (as for a cut inside the argument list), and `created by F`
/// without its file line still records F as the creator.
#[test]
fn regression_dangling_function_line_is_kept() {
    // Minimal: the input ends right after a function line.
    let (snap, _) = parse_dump(&b"goroutine 1 [running]:\nmain.main()\n"[..]);
    let g = &snap.goroutines[0];
    assert!(g.flags.truncated);
    // For comparison, the cut inside the argument list keeps the frame today.
    let (cut_earlier, _) = parse_dump(&b"goroutine 1 [running]:\nmain.main("[..]);
    assert_eq!(
        function_names(&cut_earlier, &cut_earlier.goroutines[0]),
        ["main.main"]
    );
    assert_eq!(
        function_names(&snap, g),
        ["main.main"],
        "regression: the function line before the end of input was dropped"
    );

    // The corpus cases: partial_stack.txt (function line, then a blank line /
    // the end) and partial_createdby.txt (`created by F`, then a blank line /
    // the end).
    let snap = parse_named("partial_stack");
    for g in &snap.goroutines {
        assert_eq!(
            function_names(&snap, g),
            ["main.main"],
            "regression: partial_stack goroutine {}",
            g.id
        );
    }
    let snap = parse_named("partial_createdby");
    for (id, creator) in [(1, "main.main"), (2, "main.foo")] {
        let g = goroutine(&snap, id);
        let cb = g
            .created_by
            .map(|c| snap.tables.frame(c.frame).function.to_string());
        assert_eq!(
            cb.as_deref(),
            Some(creator),
            "regression: partial_createdby goroutine {id}: `created by {creator}` lost"
        );
    }
}
