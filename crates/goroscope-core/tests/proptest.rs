//! Property tests of the dump parser and what consumes its output.
//!
//! - Any bytes (random, or a soup of dump tokens) parse without a panic into
//!   a snapshot whose ids all resolve in its tables, and the census, the
//!   JSON report and the OpenMetrics rendering of it work too.
//! - Real dumps (tests/fixtures/go1.26, go1.27 and the gostackparse corpus)
//!   mutated at random (byte flips, deleted ranges, inserted bytes and dump
//!   tokens, duplicated lines, cuts, CRLF) parse without a panic.
//! - A real dump cut at any point keeps every goroutine whose header was
//!   read, identical to the uncut parse except the last, which is flagged
//!   `truncated` when the cut is visibly inside its stack.
//! - CRLF line ends (all or some lines, whole or cut dumps) parse exactly
//!   like LF.
//! - Streaming: small or interrupted reads parse like one read, and a read
//!   error acts as a cut (and is returned).
//! - A dump embedded in log text (separated from the goroutine blocks by
//!   blank lines) parses to the same goroutines as the bare dump.
//! - The parallel parser gives exactly the sequential parse (goroutines,
//!   tables, diagnostics with their line numbers and count, bytes read, read
//!   errors) on any input, whatever the threads and chunk size.
//!
//! Case counts are modest (256, inputs of a few KiB) so the file runs in a
//! few seconds in debug builds. Failures are not persisted to a regressions
//! file; proptest prints the minimal failing input instead. Tests named
//! `regression_*` pin parser bugs these properties found (fixed since).

use std::path::Path;
use std::sync::OnceLock;

use goroscope_core::analyze::{Census, CensusOptions};
use goroscope_core::export::openmetrics;
use goroscope_core::model::{
    BlockClass, CreatedBy, Elided, Flags, Frame, Origin, Snapshot, StackId, State, Tables,
    ThreadInfo,
};
use goroscope_core::parse::{parse_dump, DumpParser, ParallelDumpParser, ParallelOptions};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// 256 cases unless `PROPTEST_CASES` asks for more (for a deeper run, e.g.
/// `PROPTEST_CASES=20000 cargo test --release -p goroscope-core --test proptest`).
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Inputs.

struct Dump {
    name: String,
    text: Vec<u8>,
}

/// Every recorded fixture and corpus dump, loaded once.
fn dumps() -> &'static [Dump] {
    static DUMPS: OnceLock<Vec<Dump>> = OnceLock::new();
    DUMPS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for dir in [
            root.join("../../tests/fixtures/go1.26"),
            root.join("../../tests/fixtures/go1.27"),
            root.join("../../../shared/corpus/gostackparse"),
        ] {
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.expect("directory entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "txt"))
                .collect();
            files.sort();
            assert!(!files.is_empty(), "no dumps in {}", dir.display());
            for f in files {
                let text = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                out.push(Dump {
                    name: f.display().to_string(),
                    text,
                });
            }
        }
        out
    })
}

/// Corpus dumps that are malformed on purpose (or lack the final newline),
/// which the properties comparing parses leave out.
const MALFORMED: &[&str] = &[
    "empty_stack.txt",
    "errorhandling.txt",
    "go121_createdby.txt",
    "partial_createdby.txt",
    "partial_stack.txt",
];

/// Well-formed dumps whose shape the comparing properties cannot model: a
/// SIGQUIT + GOTRACEBACK=crash dump prints the goroutine running on each M a
/// second time (the parser returns it once) and follows each g0 stack with
/// a register dump without a blank line. It still takes part in the
/// no-panic, mutation, CRLF and chunked-read properties, and
/// tests/fixtures.rs checks its parse.
const NOT_ONE_GOROUTINE_PER_HEADER: &[&str] = &["sigquit_crash.txt"];

/// The well-formed dumps (every recorded fixture and the rest of the
/// corpus), for the properties that compare parses. Each must parse without
/// a diagnostic or a truncated goroutine; a regression there fails here
/// instead of shrinking the set.
fn clean_dumps() -> &'static [&'static Dump] {
    static CLEAN: OnceLock<Vec<&'static Dump>> = OnceLock::new();
    CLEAN.get_or_init(|| {
        let excluded = |d: &Dump| {
            MALFORMED
                .iter()
                .chain(NOT_ONE_GOROUTINE_PER_HEADER)
                .any(|m| d.name.ends_with(&format!("/{m}")))
        };
        let clean: Vec<&Dump> = dumps().iter().filter(|d| !excluded(d)).collect();
        let sigquit = dumps()
            .iter()
            .filter(|d| {
                NOT_ONE_GOROUTINE_PER_HEADER
                    .iter()
                    .any(|m| d.name.ends_with(&format!("/{m}")))
            })
            .count();
        assert_eq!(clean.len(), dumps().len() - MALFORMED.len() - sigquit);
        for d in &clean {
            let s = parse(&d.text);
            assert!(
                s.diagnostics.is_empty() && s.goroutines.iter().all(|g| !g.flags.truncated),
                "{} should parse cleanly: {:?}",
                d.name,
                s.diagnostics
            );
        }
        clean
    })
}

fn dump_at(i: &Index) -> &'static Dump {
    &dumps()[i.index(dumps().len())]
}

fn clean_dump_at(i: &Index) -> &'static Dump {
    clean_dumps()[i.index(clean_dumps().len())]
}

/// Tokens of the dump grammar, for token soups and insertions.
const TOKENS: &[&str] = &[
    "goroutine ",
    "goroutine 1 [running]:\n",
    "goroutine 18446744073709551615 [chan receive, 5 minutes]:\n",
    "goroutine 7 gp=0xc000007c00 m=3 mp=0xc000100008 [select]:\n",
    "goroutine 9 gp=0x1 m=nil [",
    "0",
    "1",
    "42",
    "99999999999999999999999",
    " [",
    "[",
    "]",
    "]:",
    ":",
    "\n",
    "\r\n",
    "\r",
    "\t",
    " ",
    "created by ",
    " in goroutine ",
    " in goroutine 1",
    "(...)",
    "(",
    ")",
    "{",
    "}",
    "labels:{",
    " labels:{\"k\": \"v\"}",
    " {k: v, k2: \"quoted value\"}",
    "\"",
    "\\",
    "\\x",
    "\\u12",
    "\\U0010ffff",
    ", ",
    ",",
    " minutes",
    ", 3 minutes",
    ", locked to thread",
    ", synctest bubble 2",
    "chan receive",
    "semacquire",
    "sync.Mutex.Lock",
    "running",
    "runnable",
    "syscall",
    "leaked",
    " (scan)",
    " (durable)",
    " (leaked)",
    "...",
    "...12 frames elided...\n",
    "...additional frames elided...\n",
    "...4294967296 frames elided...\n",
    "[originating from goroutine ",
    "[originating from goroutine 3]:\n",
    "non-Go function at pc=0x",
    "non-Go function\n",
    " pc=0x7f0000",
    "+0x",
    " +0x1d",
    " +0xffffffffffffffffff",
    " fp=0x1 sp=0x2 pc=0x3",
    " gp=0x",
    " m=",
    "nil",
    " mp=0x",
    "main.main()\n",
    "main.f(0xc000010000, {0x1, 0x2}, 0x0?, ...)\n",
    "main.run[...](...)\n",
    "sync.(*Mutex).Lock(...)\n",
    "net/http.(*conn).serve",
    "runtime.gopark",
    "\t/src/main.go:123 +0x1d\n",
    "\tC:/Users/x/main.go:7\n",
    "\t_cgo_gotypes.go:56 +0x45 pc=0x7f0001\n",
    "/a.go:",
    ":4294967296",
    "\tgoroutine running on other thread; stack unavailable\n",
    "panic: boom\n",
    "fatal error: all goroutines are asleep - deadlock!\n",
    "0x",
    "ffffffff",
    "é",
    "\u{fffd}",
    "\0",
];

/// A soup of dump tokens and stray bytes.
fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 1..4),
        ],
        0..160,
    )
    .prop_map(|parts| parts.concat())
}

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero value.
    Flip(Index, u8),
    /// Delete up to N bytes.
    Delete(Index, usize),
    InsertBytes(Index, Vec<u8>),
    InsertToken(Index, &'static str),
    /// Repeat the line holding the position right after itself.
    DuplicateLine(Index),
    /// Cut the input here.
    Truncate(Index),
    /// Every LF becomes CRLF.
    Crlf,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        2 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::InsertBytes(i, b)),
        3 => (any::<Index>(), prop::sample::select(TOKENS))
            .prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        2 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => Just(Mutation::Crlf),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    // Positions are taken in 0..=len so insertions can append.
    let pos = |i: &Index, len: usize| i.index(len + 1);
    match m {
        Mutation::Flip(i, x) => {
            if !data.is_empty() {
                let p = i.index(data.len());
                data[p] ^= x;
            }
        }
        Mutation::Delete(i, n) => {
            let p = pos(i, data.len());
            let end = (p + n).min(data.len());
            data.drain(p..end);
        }
        Mutation::InsertBytes(i, b) => {
            let p = pos(i, data.len());
            data.splice(p..p, b.iter().copied());
        }
        Mutation::InsertToken(i, t) => {
            let p = pos(i, data.len());
            data.splice(p..p, t.bytes());
        }
        Mutation::DuplicateLine(i) => {
            if !data.is_empty() {
                let p = i.index(data.len());
                let start = data[..p]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = data[p..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(data.len(), |i| p + i + 1);
                let line = data[start..end].to_vec();
                data.splice(end..end, line);
            }
        }
        Mutation::Truncate(i) => {
            let p = pos(i, data.len());
            data.truncate(p);
        }
        Mutation::Crlf => *data = crlf(data),
    }
}

fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// A window of a dump starting at a line start, at most `len` bytes long.
fn window(text: &[u8], start: &Index, len: usize) -> Vec<u8> {
    let s = start.index(text.len().max(1)).min(text.len());
    let s = text[..s]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    text[s..(s + len).min(text.len())].to_vec()
}

// ---------------------------------------------------------------------------
// Checks.

fn parse(input: &[u8]) -> Snapshot {
    let (snap, err) = parse_dump(input);
    assert!(err.is_none(), "reading a slice cannot fail: {err:?}");
    snap
}

/// `goroutine <digit>` at the start of a line (what may start a goroutine).
/// Everything a parse reports, for comparing the sequential and parallel
/// parsers: the snapshot, the total diagnostics count, bytes consumed and
/// the read error's message.
struct FullParse {
    snap: Snapshot,
    diagnostics_total: u64,
    consumed: u64,
    error: Option<String>,
}

/// Runs either parser (same method names, no common trait) to the end.
macro_rules! full_parse {
    ($parser:expr) => {{
        let mut p = $parser;
        let mut snap = Snapshot::default();
        while let Some(g) = p.next_goroutine(&mut snap.tables) {
            snap.goroutines.push(g);
        }
        snap.diagnostics = p.take_diagnostics();
        FullParse {
            diagnostics_total: p.diagnostics_total(),
            consumed: p.bytes_consumed(),
            error: p.take_io_error().map(|e| e.to_string()),
            snap,
        }
    }};
}

fn sequential(input: impl std::io::Read) -> FullParse {
    full_parse!(DumpParser::new(input))
}

fn parallel(input: impl std::io::Read, threads: usize, chunk_size: usize) -> FullParse {
    full_parse!(ParallelDumpParser::new(
        input,
        ParallelOptions {
            threads,
            chunk_size
        }
    ))
}

/// The parallel parser on a regular file holding `input` (its workers
/// read their own ranges).
fn parallel_file(input: &[u8], threads: usize, chunk_size: usize) -> FullParse {
    let path = temp_file(input);
    let file = std::fs::File::open(&path).expect("open temp file");
    let opts = ParallelOptions {
        threads,
        chunk_size,
    };
    let parsed = full_parse!(ParallelDumpParser::from_file(file, opts).expect("from_file"));
    let _ = std::fs::remove_file(&path);
    parsed
}

/// A fresh file under the system temp dir holding `data`.
fn temp_file(data: &[u8]) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "goroscope-proptest-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, data).expect("write temp file");
    path
}

fn check_same_parse(
    what: &str,
    input: &[u8],
    a: &FullParse,
    b: &FullParse,
) -> Result<(), TestCaseError> {
    check_snapshot(input, &b.snap)?;
    prop_assert_eq!(views(&a.snap), views(&b.snap), "{}: goroutines", what);
    // The report prints these: the merged tables hold the same entries.
    prop_assert_eq!(
        (a.snap.tables.stack_count(), a.snap.tables.frame_count()),
        (b.snap.tables.stack_count(), b.snap.tables.frame_count()),
        "{}: distinct stacks and frames",
        what
    );
    prop_assert_eq!(
        &a.snap.diagnostics,
        &b.snap.diagnostics,
        "{}: diagnostics",
        what
    );
    prop_assert_eq!(
        a.diagnostics_total,
        b.diagnostics_total,
        "{}: diagnostics total",
        what
    );
    prop_assert_eq!(a.consumed, b.consumed, "{}: bytes consumed", what);
    prop_assert_eq!(&a.error, &b.error, "{}: read error", what);
    Ok(())
}

fn looks_like_header(line: &[u8]) -> bool {
    line.starts_with(b"goroutine ") && line.get(10).is_some_and(u8::is_ascii_digit)
}

fn check_stack(t: &Tables, s: StackId, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        (s.0 as usize) < t.stack_count(),
        "{what}: stack {s:?} of {}",
        t.stack_count()
    );
    for f in t.stack(s) {
        prop_assert!(
            (f.0 as usize) < t.frame_count(),
            "{what}: frame {f:?} of {}",
            t.frame_count()
        );
    }
    Ok(())
}

fn check_created_by(t: &Tables, c: Option<CreatedBy>, what: &str) -> Result<(), TestCaseError> {
    if let Some(c) = c {
        prop_assert!(
            (c.frame.0 as usize) < t.frame_count(),
            "{what}: created-by frame {:?}",
            c.frame
        );
    }
    Ok(())
}

/// Every id resolves; counts and line numbers stay within the input; the
/// census, JSON report and OpenMetrics rendering work.
fn check_snapshot(input: &[u8], snap: &Snapshot) -> Result<(), TestCaseError> {
    let t = &snap.tables;
    prop_assert!(
        snap.diagnostics.len() <= 1001,
        "{} diagnostics: more than the cap plus its summary",
        snap.diagnostics.len()
    );
    let headers = input
        .split(|&b| b == b'\n')
        .filter(|l| looks_like_header(l))
        .count();
    prop_assert!(
        snap.goroutines.len() <= headers,
        "{} goroutines from {headers} header lines",
        snap.goroutines.len()
    );
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u64
        + u64::from(input.last().is_some_and(|&b| b != b'\n'));
    for d in &snap.diagnostics {
        prop_assert!(
            d.line >= 1 && d.line <= lines,
            "diagnostic line {} outside 1..={lines}: {}",
            d.line,
            d.message
        );
    }
    for g in &snap.goroutines {
        let what = format!("goroutine {}", g.id);
        check_stack(t, g.stack, &what)?;
        let _ = t.str(g.status);
        if let Some(r) = g.wait_reason {
            let _ = t.str(r);
        }
        if let Some(l) = g.labels {
            for &(k, v) in t.labels(l) {
                let _ = (t.str(k), t.str(v));
            }
        }
        check_created_by(t, g.created_by, &what)?;
        for a in &g.ancestors {
            check_stack(t, a.stack, &what)?;
            check_created_by(t, a.created_by, &what)?;
        }
        for f in snap.frames_of(g) {
            let _ = (f.package(), f.receiver(), f.name());
        }
    }
    for by_location in [false, true] {
        let mut census = Census::new(CensusOptions {
            by_location,
            ..CensusOptions::default()
        });
        for g in &snap.goroutines {
            census.add(g, t);
        }
        prop_assert_eq!(census.total(), snap.goroutines.len() as u64);
        let report = census.report(t, snap.diagnostics.clone());
        prop_assert_eq!(report.total, snap.goroutines.len() as u64);
        let json = serde_json::to_string(&report);
        prop_assert!(json.is_ok(), "report to JSON: {json:?}");
        check_openmetrics(&openmetrics::render(&report, 20))?;
        check_openmetrics(&openmetrics::render(&report, 0))?;
    }
    Ok(())
}

/// A light syntax check of the exposition text: comment lines, then sample
/// lines `name{k="v",...} N` with only `\\`, `\"` and `\n` escaped in values,
/// then `# EOF`.
fn check_openmetrics(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(text.ends_with("# EOF\n"), "no # EOF terminator");
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line == "# EOF" {
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| TestCaseError::fail(format!("sample line without value: {line:?}")))?;
        let name = &line[..name_end];
        prop_assert!(
            name.starts_with("goroscope_")
                && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "metric name {name:?} in {line:?}"
        );
        let mut rest = &line[name_end..];
        if let Some(labels) = rest.strip_prefix('{') {
            let mut s = labels;
            loop {
                let eq = s
                    .find("=\"")
                    .ok_or_else(|| TestCaseError::fail(format!("label syntax: {line:?}")))?;
                let key = &s[..eq];
                prop_assert!(
                    !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "label name {key:?} in {line:?}"
                );
                let mut chars = s[eq + 2..].char_indices();
                let mut close = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            let esc = chars.next().map(|(_, c)| c);
                            prop_assert!(
                                matches!(esc, Some('\\' | '"' | 'n')),
                                "bad escape {esc:?} in {line:?}"
                            );
                        }
                        '"' => {
                            close = Some(eq + 2 + i);
                            break;
                        }
                        _ => {}
                    }
                }
                let close = close
                    .ok_or_else(|| TestCaseError::fail(format!("unclosed value: {line:?}")))?;
                s = &s[close + 1..];
                if let Some(r) = s.strip_prefix(',') {
                    s = r;
                } else if let Some(r) = s.strip_prefix('}') {
                    rest = r;
                    break;
                } else {
                    return Err(TestCaseError::fail(format!("after label: {line:?}")));
                }
            }
        }
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| TestCaseError::fail(format!("no value: {line:?}")))?;
        prop_assert!(value.parse::<u64>().is_ok(), "value {value:?} in {line:?}");
    }
    Ok(())
}

/// A resolved created-by: the frame and the parent goroutine id.
type CreatedByView = Option<(Frame, Option<u64>)>;
/// A resolved ancestor: id, frames, elision, creator.
type AncestorView = (u64, Vec<Frame>, Elided, CreatedByView);

/// Everything the parser says about a goroutine, with ids resolved, for
/// comparing two parses.
#[derive(Debug, PartialEq)]
struct GView {
    id: u64,
    state: State,
    status: String,
    wait_reason: Option<String>,
    block_class: BlockClass,
    origin: Origin,
    wait_minutes: Option<u32>,
    flags: Flags,
    synctest_bubble: Option<u64>,
    labels: Vec<(String, String)>,
    frames: Vec<Frame>,
    elided: Elided,
    created_by: CreatedByView,
    ancestors: Vec<AncestorView>,
    thread: Option<ThreadInfo>,
}

fn views(snap: &Snapshot) -> Vec<GView> {
    let t = &snap.tables;
    let frames =
        |s: StackId| -> Vec<Frame> { t.stack(s).iter().map(|&f| t.frame(f).clone()).collect() };
    let cb = |c: Option<CreatedBy>| c.map(|c| (t.frame(c.frame).clone(), c.goroutine));
    snap.goroutines
        .iter()
        .map(|g| GView {
            id: g.id,
            state: g.state,
            status: t.str(g.status).to_string(),
            wait_reason: g.wait_reason.map(|r| t.str(r).to_string()),
            block_class: g.block_class,
            origin: g.origin,
            wait_minutes: g.wait_minutes,
            flags: g.flags,
            synctest_bubble: g.synctest_bubble,
            labels: snap
                .labels_of(g)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            frames: frames(g.stack),
            elided: g.elided,
            created_by: cb(g.created_by),
            ancestors: g
                .ancestors
                .iter()
                .map(|a| (a.goroutine, frames(a.stack), a.elided, cb(a.created_by)))
                .collect(),
            thread: g.thread,
        })
        .collect()
}

/// Where a header line of a well-formed dump starts, the offset of the space
/// after the goroutine id (once that was read, the parser keeps the
/// goroutine even if the cut falls inside the header) and of the `]` or `,`
/// that ends its status (before that, the state is unknown).
struct HeaderPos {
    start: usize,
    id_end: usize,
    status_end: usize,
}

fn header_positions(text: &[u8]) -> Vec<HeaderPos> {
    let mut out = Vec::new();
    for (start, line) in lines_with_offsets(text) {
        if !looks_like_header(line) {
            continue;
        }
        let open = line
            .windows(2)
            .position(|w| w == b" [")
            .unwrap_or_else(|| panic!("header without ' [': {:?}", String::from_utf8_lossy(line)));
        let end = line[open..]
            .iter()
            .position(|&b| b == b',' || b == b']')
            .unwrap_or_else(|| panic!("header without ']': {:?}", String::from_utf8_lossy(line)));
        let digits = line[10..].iter().take_while(|b| b.is_ascii_digit()).count();
        out.push(HeaderPos {
            start,
            id_end: start + 10 + digits,
            status_end: start + open + end,
        });
    }
    out
}

/// (offset, line without its `\n`) for every line.
fn lines_with_offsets(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut off = 0;
    text.split(|&b| b == b'\n').map(move |l| {
        let o = off;
        off += l.len() + 1;
        (o, l)
    })
}

/// Whether the parser must flag the last goroutine `truncated` when a
/// well-formed dump is cut at `cut` (inside or after the block that starts
/// at `header`): true when the cut is visibly inside its stack (in the
/// middle of a line, or right after a function or `created by` line whose
/// file:line line is missing), false when every line read so far is
/// complete and nothing is pending. A cut inside the header line, or right
/// after it, is true as well (see regression_cut_header_is_flagged_truncated).
fn expect_truncated(text: &[u8], header: &HeaderPos, cut: usize) -> bool {
    let mut prev: Option<&[u8]> = None;
    for (off, line) in lines_with_offsets(&text[header.start..]) {
        let ls = header.start + off;
        let le = ls + line.len();
        if ls > header.start && (line.is_empty() || looks_like_header(line)) {
            // The block ended before the cut: complete.
            return false;
        }
        if cut == ls {
            let Some(p) = prev else { return false };
            if looks_like_header(p) && ls == header.start + p.len() + 1 {
                // Cut right after the header line: every goroutine prints at
                // least one frame, so the parser flags it.
                return true;
            }
            let needs_file_line = !(p.starts_with(b"\t")
                || looks_like_header(p)
                || p.starts_with(b"...")
                || p.starts_with(b"[originating from goroutine ")
                || p.starts_with(b"non-Go function at pc="));
            return needs_file_line;
        }
        if ls < cut && cut <= le {
            // The line lost its newline (and maybe more): it may be cut.
            return true;
        }
        prev = Some(line);
    }
    false
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config())]

    /// (a) Arbitrary bytes never panic the parser or its consumers, and every
    /// id in the snapshot resolves.
    #[test]
    fn arbitrary_bytes_parse_without_panic(input in prop::collection::vec(any::<u8>(), 0..4096)) {
        let snap = parse(&input);
        check_snapshot(&input, &snap)?;
    }

    /// (a) The same for inputs made of dump tokens, which reach far deeper
    /// into the parser than random bytes.
    #[test]
    fn token_soup_parses_without_panic(input in token_soup()) {
        let snap = parse(&input);
        check_snapshot(&input, &snap)?;
    }

    /// (b) Real dumps, mutated at random, never panic.
    #[test]
    fn mutated_dumps_parse_without_panic(
        file in any::<Index>(),
        start in any::<Index>(),
        len in 0..6000usize,
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let d = dump_at(&file);
        let mut input = window(&d.text, &start, len);
        for m in &mutations {
            apply(&mut input, m);
        }
        let snap = parse(&input);
        check_snapshot(&input, &snap)?;
    }

    /// (b) A well-formed dump cut anywhere keeps every goroutine whose
    /// header was read: see [`check_truncation`].
    #[test]
    fn truncated_dump_keeps_every_started_goroutine(file in any::<Index>(), cut in any::<Index>()) {
        let d = clean_dump_at(&file);
        check_truncation(d, cut.index(d.text.len() + 1))?;
    }

    /// (c) CRLF on some lines of a window of a dump (possibly mutated, then
    /// rid of every CR) parses exactly like LF (goroutines and diagnostics).
    #[test]
    fn crlf_lines_parse_like_lf(
        file in any::<Index>(),
        start in any::<Index>(),
        len in 0..8000usize,
        mutations in prop::collection::vec(mutation(), 0..3),
        which in prop::collection::vec(any::<bool>(), 1..64),
    ) {
        let d = dump_at(&file);
        let mut lf = window(&d.text, &start, len);
        for m in &mutations {
            apply(&mut lf, m);
        }
        lf.retain(|&b| b != b'\r');
        let mut mixed = Vec::with_capacity(lf.len() + lf.len() / 16);
        let mut line = 0;
        for &b in &lf {
            if b == b'\n' {
                if which[line % which.len()] {
                    mixed.push(b'\r');
                }
                line += 1;
            }
            mixed.push(b);
        }
        let (a, b) = (parse(&lf), parse(&mixed));
        prop_assert_eq!(views(&a), views(&b), "{}", &d.name);
        prop_assert_eq!(&a.diagnostics, &b.diagnostics, "{}", &d.name);
    }

    /// (c) A CRLF dump cut anywhere parses like the LF dump cut at the same
    /// place: exactly, when the cut falls before a `\r\n`; with the same
    /// goroutines and frames (the `truncated` flag and diagnostics may
    /// differ: a lone `\r` is a partial line) when it falls between the
    /// `\r` and the `\n` (see
    /// regression_lone_cr_after_newline_does_not_panic).
    #[test]
    fn truncated_crlf_dump_parses_like_truncated_lf(file in any::<Index>(), cut in any::<Index>()) {
        let d = dump_at(&file);
        let q = cut.index(d.text.len() + 1);
        let crlf_text = crlf(&d.text);
        let p = q + d.text[..q].iter().filter(|&&b| b == b'\n').count();
        let lf = parse(&d.text[..q]);
        let before_cr = parse(&crlf_text[..p]);
        prop_assert_eq!(views(&lf), views(&before_cr), "{} cut at {}", &d.name, q);
        prop_assert_eq!(&lf.diagnostics, &before_cr.diagnostics, "{} cut at {}", &d.name, q);
        if d.text.get(q) == Some(&b'\n') {
            let input = &crlf_text[..p + 1];
            let after_cr = parse(input);
            check_snapshot(input, &after_cr)?;
            let untruncated = |s: &Snapshot| {
                let mut v = views(s);
                for g in &mut v {
                    g.flags.truncated = false;
                }
                v
            };
            prop_assert_eq!(untruncated(&lf), untruncated(&after_cr), "{} cut at {}+CR", &d.name, q);
        }
    }

    /// Streaming: a reader that hands the input out in small chunks (and
    /// sometimes reports `Interrupted`) gives exactly the parse of one read,
    /// lines spanning reads included.
    #[test]
    fn chunked_reads_parse_like_one_read(
        file in any::<Index>(),
        start in any::<Index>(),
        len in 0..6000usize,
        mutations in prop::collection::vec(mutation(), 0..4),
        chunks in prop::collection::vec(0..300usize, 1..32),
    ) {
        let d = dump_at(&file);
        let mut input = window(&d.text, &start, len);
        for m in &mutations {
            apply(&mut input, m);
        }
        let whole = parse(&input);
        let (chunked, err) = parse_dump(Chunked { data: &input, pos: 0, sizes: &chunks, turn: 0 });
        prop_assert!(err.is_none(), "{err:?}");
        prop_assert_eq!(views(&whole), views(&chunked));
        prop_assert_eq!(&whole.diagnostics, &chunked.diagnostics);
    }

    /// Streaming: a read error after `k` bytes is returned, and the parse up
    /// to it is the parse of the input cut at `k` bytes.
    #[test]
    fn read_error_acts_as_a_cut(file in any::<Index>(), cut in any::<Index>(), chunk in 1..4096usize) {
        let d = dump_at(&file);
        let k = cut.index(d.text.len() + 1);
        let (snap, err) = parse_dump(FailAfter { data: &d.text[..k], pos: 0, chunk });
        prop_assert!(err.is_some(), "{} error after {}: not reported", &d.name, k);
        let cut_parse = parse(&d.text[..k]);
        prop_assert_eq!(views(&snap), views(&cut_parse), "{} error after {}", &d.name, k);
    }

    /// (d) A dump inside log text (log lines never start with `goroutine
    /// <digit>` and are separated from the goroutine blocks by blank lines)
    /// parses to the same goroutines and diagnostics as the bare dump.
    #[test]
    fn dump_embedded_in_logs_parses_like_bare_dump(
        file in any::<Index>(),
        logs in prop::collection::vec(
            (any::<Index>(), prop::collection::vec(log_line(), 1..6)),
            1..8,
        ),
    ) {
        let d = clean_dump_at(&file);
        let bare = &d.text;
        // The blocks between blank lines; logs go in before the first, after
        // a blank line between two, or after the last.
        let blocks: Vec<&[u8]> = split_blank(bare);
        let mut inserts: Vec<Vec<Vec<u8>>> = vec![Vec::new(); blocks.len() + 1];
        for (at, lines) in &logs {
            inserts[at.index(blocks.len() + 1)].push(lines.join(&b'\n'));
        }
        let mut embedded = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            for chunk in &inserts[i] {
                embedded.extend_from_slice(chunk);
                embedded.extend_from_slice(b"\n\n");
            }
            embedded.extend_from_slice(block);
            if i + 1 < blocks.len() {
                embedded.extend_from_slice(b"\n\n");
            }
        }
        if !inserts[blocks.len()].is_empty() {
            // Trailing logs: end the dump's last line and leave a blank line.
            if !embedded.ends_with(b"\n") {
                embedded.push(b'\n');
            }
            embedded.push(b'\n');
            for chunk in &inserts[blocks.len()] {
                embedded.extend_from_slice(chunk);
                embedded.extend_from_slice(b"\n\n");
            }
        }
        let (a, b) = (parse(bare), parse(&embedded));
        check_snapshot(&embedded, &b)?;
        prop_assert_eq!(views(&a), views(&b), "{}", &d.name);
        let msgs = |s: &Snapshot| s.diagnostics.iter().map(|d| d.message.clone()).collect::<Vec<_>>();
        prop_assert_eq!(msgs(&a), msgs(&b), "{}", &d.name);
    }
}

/// (b) A well-formed dump cut at `cut` keeps every goroutine whose header
/// was read (up to the `]` or `,` that ends its status; before that the
/// line does not say what state the goroutine is in). All but the last are
/// exactly as in the uncut parse; the last has the same id and status, a
/// prefix of the frames (the last one possibly cut), and is flagged
/// `truncated` exactly when the cut is visibly inside its stack.
fn check_truncation(d: &Dump, cut: usize) -> Result<(), TestCaseError> {
    let input = &d.text[..cut];
    let snap = parse(input);
    check_snapshot(input, &snap)?;

    let headers = header_positions(&d.text);
    let started: Vec<&HeaderPos> = headers.iter().filter(|h| h.id_end < cut).collect();
    prop_assert_eq!(
        snap.goroutines.len(),
        started.len(),
        "{} cut at {}: goroutines vs headers read",
        &d.name,
        cut
    );
    let Some(last) = started.last() else {
        return Ok(());
    };
    let full = views(&parse(&d.text));
    let got = views(&snap);
    let n = got.len();
    prop_assert_eq!(&got[..n - 1], &full[..n - 1], "{} cut at {}", &d.name, cut);
    let (g, f) = (&got[n - 1], &full[n - 1]);
    prop_assert_eq!(g.id, f.id);
    if last.status_end < cut {
        prop_assert_eq!(&g.status, &f.status);
        prop_assert_eq!(g.state, f.state);
    } else {
        // Cut before the status ended: kept with state unknown.
        prop_assert_eq!(g.state, State::Unknown);
        prop_assert!(g.flags.truncated);
    }
    prop_assert!(
        g.frames.len() <= f.frames.len(),
        "{} cut at {}: more frames",
        &d.name,
        cut
    );
    if let Some((lastf, init)) = g.frames.split_last() {
        let k = init.len();
        let fnames = |fr: &[Frame]| {
            fr.iter()
                .map(|x| x.function.to_string())
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(
            fnames(init),
            fnames(&f.frames[..k]),
            "{} cut at {}",
            &d.name,
            cut
        );
        prop_assert!(
            f.frames[k].function.starts_with(&*lastf.function),
            "{} cut at {}: last frame {:?} vs {:?}",
            &d.name,
            cut,
            lastf.function,
            f.frames[k].function
        );
    }
    prop_assert_eq!(
        g.flags.truncated,
        expect_truncated(&d.text, last, cut),
        "{} cut at {}: truncated flag of goroutine {} (diagnostics {:?})",
        &d.name,
        cut,
        g.id,
        &snap.diagnostics
    );
    if g.flags.truncated {
        prop_assert!(
            !snap.diagnostics.is_empty(),
            "truncated without a diagnostic"
        );
    }
    Ok(())
}

/// A reader returning at most `sizes[turn]` bytes per call, cycling through
/// `sizes`; a size of 0 reports `Interrupted` (which readers must retry),
/// unless every size is 0: a reader that is never anything but interrupted
/// is not a reader the parser has to wait for.
struct Chunked<'a> {
    data: &'a [u8],
    pos: usize,
    sizes: &'a [usize],
    turn: usize,
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.turn % self.sizes.len()];
        self.turn += 1;
        if size == 0 && self.pos < self.data.len() && self.sizes.iter().any(|&s| s > 0) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = size.max(1).min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A reader that hands out `data` in chunks, then fails.
struct FailAfter<'a> {
    data: &'a [u8],
    pos: usize,
    chunk: usize,
}

impl std::io::Read for FailAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.data.len() {
            return Err(std::io::Error::other("connection reset"));
        }
        let n = self.chunk.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Splits at blank lines (`\n\n`), so that joining with `\n\n` restores it.
fn split_blank(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < text.len() {
        if text[i] == b'\n' && text[i + 1] == b'\n' {
            out.push(&text[start..i]);
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push(&text[start..]);
    out
}

/// A log line: anything without a newline that does not start with
/// `goroutine <digit>`, including dump-like text (frames, `created by`,
/// tab-indented file lines, elision markers) that must be ignored outside a
/// goroutine block.
fn log_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[^\n]{0,60}".prop_map(String::into_bytes),
        prop::collection::vec(prop::sample::select(TOKENS), 0..6)
            .prop_map(|t| t.concat().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
    .prop_map(|l| l.into_iter().filter(|&b| b != b'\n').collect::<Vec<u8>>())
    .prop_filter("log lines do not start a goroutine", |l| {
        !looks_like_header(l)
    })
}

// ---------------------------------------------------------------------------
// Deterministic companions.

/// (c) Whole files: CRLF everywhere parses exactly like the LF original.
#[test]
fn crlf_whole_dumps_parse_like_lf() {
    for d in dumps() {
        let (a, b) = (parse(&d.text), parse(&crlf(&d.text)));
        assert_eq!(views(&a), views(&b), "{}", d.name);
        assert_eq!(a.diagnostics, b.diagnostics, "{}", d.name);
    }
}

/// The header scan the truncation property relies on agrees with the
/// parser on the uncut dumps.
#[test]
fn every_header_of_a_clean_dump_is_a_goroutine() {
    for d in clean_dumps() {
        let snap = parse(&d.text);
        assert_eq!(
            snap.goroutines.len(),
            header_positions(&d.text).len(),
            "{}",
            d.name
        );
    }
}

/// (b) Every cut point of the small well-formed dumps (the random cuts
/// above cover the large ones).
#[test]
fn every_cut_of_small_dumps_keeps_every_started_goroutine() {
    let mut checked = 0;
    for d in clean_dumps().iter().filter(|d| d.text.len() <= 2048) {
        for cut in 0..=d.text.len() {
            if let Err(e) = check_truncation(d, cut) {
                panic!("{e}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} small clean dumps");
}

/// Regression (was a panic): an input whose last, unterminated line is a
/// lone `\r` right after a newline (a CRLF dump cut between `\r` and `\n`)
/// made the parser index an empty line. Minimal input:
/// `goroutine 1 [running]:\n\r`. Expected: no panic, and the same
/// goroutines as without the stray `\r`.
#[test]
fn regression_lone_cr_after_newline_does_not_panic() {
    let cases: [&[u8]; 3] = [
        b"goroutine 1 [running]:\n\r",
        // A CRLF dump cut between the CR and the LF of the blank line that
        // ends a goroutine block.
        b"goroutine 1 [running]:\r\nmain.main()\r\n\t/a.go:1 +0x1\r\n\r",
        // ... after a `created by` block.
        b"goroutine 2 [sleep]:\r\ntime.Sleep(0x1)\r\n\t/t.go:1 +0x1\r\ncreated by main.main in goroutine 1\r\n\t/m.go:9 +0x2\r\n\r",
    ];
    for input in cases {
        let without_cr = &input[..input.len() - 1];
        let result = std::panic::catch_unwind(|| parse(input));
        let text = String::from_utf8_lossy(input);
        let Ok(snap) = result else {
            panic!("regression: parse_dump panics on {text:?}");
        };
        let ids = |s: &Snapshot| s.goroutines.iter().map(|g| g.id).collect::<Vec<_>>();
        assert_eq!(ids(&snap), ids(&parse(without_cr)), "{text:?}");
    }
}

/// Regression: a dump cut inside a goroutine header, after its status
/// (`goroutine 7 [sleep, 1 min`), kept the goroutine but did not flag it
/// `truncated`, unlike a cut anywhere in its stack lines. Expected:
/// `truncated` set and a diagnostic saying the input ends in the middle of
/// a line.
#[test]
fn regression_cut_header_is_flagged_truncated() {
    for input in [
        &b"goroutine 7 [sleep, 1 min"[..],
        b"goroutine 7 [running]",
        b"goroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1\n\ngoroutine 2 [chan receive]",
        b"goroutine 7 [chan receive] {span_id: 00f0",
    ] {
        let snap = parse(input);
        let g = snap.goroutines.last().expect("the cut goroutine is kept");
        let text = String::from_utf8_lossy(input);
        assert!(
            g.flags.truncated,
            "regression: {text:?}: goroutine {} cut in its header is not flagged truncated",
            g.id
        );
        assert!(
            snap.diagnostics
                .iter()
                .any(|d| d.message.contains("middle of a line")),
            "regression: {text:?}: no truncation diagnostic: {:?}",
            snap.diagnostics
        );
    }
}

proptest! {
    #![proptest_config(config())]

    /// The parallel parser, with chunks cut almost everywhere a blank line
    /// allows, parses any (mutated) dump window exactly like the sequential
    /// parser: goroutines, tables, diagnostics and their line numbers.
    #[test]
    fn parallel_parse_equals_sequential(
        file in any::<Index>(),
        start in any::<Index>(),
        len in 0..8000usize,
        mutations in prop::collection::vec(mutation(), 0..4),
        threads in 1..4usize,
        chunk_size in 1..2048usize,
        from_file in any::<bool>(),
    ) {
        let d = dump_at(&file);
        let mut input = window(&d.text, &start, len);
        for m in &mutations {
            apply(&mut input, m);
        }
        let what = format!("{} threads={threads} chunk={chunk_size} file={from_file}", d.name);
        let b = if from_file {
            parallel_file(&input, threads, chunk_size)
        } else {
            parallel(&input[..], threads, chunk_size)
        };
        check_same_parse(&what, &input, &sequential(&input[..]), &b)?;
    }

    /// A read error in the middle reaches the caller of the parallel
    /// parser as it does the sequential one, after the same goroutines.
    #[test]
    fn parallel_read_error_equals_sequential(
        file in any::<Index>(),
        cut in any::<Index>(),
        read_size in 1..4096usize,
        chunk_size in 1..2048usize,
    ) {
        let d = dump_at(&file);
        let k = cut.index(d.text.len() + 1);
        let data = &d.text[..k];
        let a = sequential(FailAfter { data, pos: 0, chunk: read_size });
        let b = parallel(FailAfter { data, pos: 0, chunk: read_size }, 2, chunk_size);
        prop_assert!(b.error.is_some(), "{} error after {}: not reported", &d.name, k);
        check_same_parse(&d.name, data, &a, &b)?;
    }
}

/// Every whole fixture and corpus dump (the SIGQUIT one with its repeated
/// goroutines included) parses in parallel exactly as sequentially, for
/// chunk sizes from "cut at every blank line" to "one chunk".
#[test]
fn parallel_parse_of_every_dump_equals_sequential() {
    for d in dumps() {
        let a = sequential(&d.text[..]);
        for chunk_size in [1, 100, 4096, 1 << 20] {
            for threads in [2, 3] {
                let what = format!("{} threads={threads} chunk={chunk_size}", d.name);
                let b = parallel(&d.text[..], threads, chunk_size);
                if let Err(e) = check_same_parse(&what, &d.text, &a, &b) {
                    panic!("{e}");
                }
                let b = parallel_file(&d.text, threads, chunk_size);
                if let Err(e) = check_same_parse(&format!("{what} file"), &d.text, &a, &b) {
                    panic!("{e}");
                }
            }
        }
    }
}

/// Cross-chunk cases the windows above rarely hit: more than the 1000
/// kept diagnostics spread over many chunks (the summary line and total
/// must match), SIGQUIT duplicates of a goroutine in different chunks, and
/// an input with no blank line for more than 4 MiB, which the parallel
/// parser must hand to its sequential fallback mid-stream.
#[test]
fn parallel_parse_equals_sequential_across_chunks() {
    let mut many_diags = Vec::new();
    for i in 0..1500 {
        // A function line without its file line: one diagnostic each.
        many_diags.extend_from_slice(format!("goroutine {i} [running]:\nmain.f()\n\n").as_bytes());
    }
    let mut dup = Vec::new();
    for round in 0..3 {
        for i in 1..50 {
            dup.extend_from_slice(
                format!(
                    "goroutine {i} gp=0xc{i:04x} m={round} mp=0x1 [running]:\nmain.f()\n\t/m.go:{i} +0x1\n\n"
                )
                .as_bytes(),
            );
        }
    }
    let mut no_blank = b"goroutine 1 [select]:\n".to_vec();
    while no_blank.len() < 5 << 20 {
        no_blank.extend_from_slice(b"main.deep(...)\n\t/src/deep.go:10\n");
    }
    for i in 2..200 {
        // No blank lines between goroutines either: headers end blocks.
        no_blank.extend_from_slice(
            format!("goroutine {i} [chan receive]:\nmain.w()\n\t/w.go:1 +0x1\n").as_bytes(),
        );
    }
    no_blank.extend_from_slice(b"\n");
    for i in 200..400 {
        no_blank.extend_from_slice(
            format!("goroutine {i} [sleep]:\ntime.Sleep()\n\t/t.go:1 +0x1\n\n").as_bytes(),
        );
    }
    for (name, input, chunk) in [
        ("1500 diagnostics", &many_diags, 64),
        ("crash duplicates", &dup, 100),
        ("no blank line for 5 MiB", &no_blank, 1 << 20),
    ] {
        let a = sequential(&input[..]);
        let b = parallel(&input[..], 2, chunk);
        if let Err(e) = check_same_parse(name, input, &a, &b) {
            panic!("{e}");
        }
        let b = parallel_file(input, 2, chunk);
        if let Err(e) = check_same_parse(&format!("{name} (file)"), input, &a, &b) {
            panic!("{e}");
        }
    }
    assert_eq!(sequential(&many_diags[..]).diagnostics_total, 1500);
    assert_eq!(sequential(&dup[..]).snap.goroutines.len(), 49);
    assert_eq!(sequential(&no_blank[..]).snap.goroutines.len(), 399);
}

/// A file that gets shorter after the parser sized it (a dump being
/// rewritten) ends the parse with an error naming that, after goroutines
/// that are exactly those of the uncut file up to there; nothing past the
/// cut is invented. Checked on both paths that can meet the cut: a
/// worker's range read, and the sequential fallback (an input with no
/// blank line to cut at).
#[test]
fn file_that_shrinks_while_parsed_is_reported() {
    // Repeats of a crash dump would be folded as SIGQUIT duplicates.
    let d = clean_dumps()
        .iter()
        .filter(|d| parse(&d.text).goroutines.iter().all(|g| g.thread.is_none()))
        .max_by_key(|d| d.text.len())
        .expect("a dump");
    let mut paragraphs = Vec::new();
    while paragraphs.len() < 3 << 20 {
        paragraphs.extend_from_slice(&d.text);
        paragraphs.extend_from_slice(b"\n");
    }
    let mut no_blank = Vec::new();
    let mut i = 0;
    while no_blank.len() < 6 << 20 {
        i += 1;
        no_blank.extend_from_slice(
            format!("goroutine {i} [select]:\nmain.f()\n\t/m.go:1 +0x1\n").as_bytes(),
        );
    }
    for (name, input) in [("paragraphs", paragraphs), ("no blank line", no_blank)] {
        let full = views(&sequential(&input[..]).snap);
        let path = temp_file(&input);
        let file = std::fs::File::open(&path).expect("open");
        let opts = ParallelOptions {
            threads: 2,
            chunk_size: 64 << 10,
        };
        let parser = ParallelDumpParser::from_file(file, opts).expect("from_file");
        let keep = input.len() as u64 / 2;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(keep))
            .expect("truncate");
        let got = full_parse!(parser);
        let _ = std::fs::remove_file(&path);
        let err = got.error.expect("the cut is reported");
        assert!(err.contains("got shorter"), "{name}: {err}");
        assert_eq!(got.consumed, keep, "{name}");
        let g = views(&got.snap);
        let n = g.len();
        assert!(n > 0 && n < full.len(), "{name}: {n} of {}", full.len());
        assert_eq!(&g[..n - 1], &full[..n - 1], "{name}");
        assert_eq!(g[n - 1].id, full[n - 1].id, "{name}");
    }
}

/// A dump still being written when the parser opened it is read to the
/// end it has when the parser gets there, like a stream would be.
#[test]
fn file_that_grows_while_parsed_is_read_to_its_end() {
    let d = clean_dumps()[0];
    let mut first = Vec::new();
    while first.len() < 1 << 20 {
        first.extend_from_slice(&d.text);
        first.extend_from_slice(b"\n");
    }
    let path = temp_file(&first);
    let file = std::fs::File::open(&path).expect("open");
    let opts = ParallelOptions {
        threads: 2,
        chunk_size: 64 << 10,
    };
    let parser = ParallelDumpParser::from_file(file, opts).expect("from_file");
    let more = b"goroutine 999999 [sleep]:\ntime.Sleep(0x1)\n\t/go/time.go:1 +0x1\n";
    let mut whole = first.clone();
    whole.extend_from_slice(more);
    std::fs::write(&path, &whole).expect("append");
    let got = full_parse!(parser);
    let _ = std::fs::remove_file(&path);
    assert_eq!(got.error, None);
    let want = sequential(&whole[..]);
    assert_eq!(views(&got.snap), views(&want.snap));
    assert_eq!(got.snap.goroutines.last().map(|g| g.id), Some(999999));
}
