//! Parser for goroutine text dumps: `runtime.Stack(buf, true)`,
//! `/debug/pprof/goroutine?debug=2`, panics and `fatal error:` output inside
//! arbitrary log text, and SIGQUIT / GOTRACEBACK=system|crash dumps.
//!
//! The format is defined by `runtime/traceback.go` (`goroutineheader`,
//! `traceback2`, `printcreatedby1`, `printAncestorTraceback`,
//! `printCgoTraceback`) of Go 1.17 to 1.27:
//!
//! ```text
//! goroutine 7 gp=0xc0000 m=3 mp=0xc0001 [chan receive (leaked) (scan), 5 minutes, locked to thread, synctest bubble 2 labels:{"k": "v"}]:
//! goroutine 8 [IO wait, 3 minutes] {k: v, k2: "quoted value"}:      (Go 1.27 labels)
//! main.worker[...](0xc000010000, {0x1, 0x2}, 0x0?, ...)
//!     /src/main.go:123 +0x1d fp=0xc0000 sp=0xc0000 pc=0x4a0000   (tab-indented)
//! main.inlined(...)
//!     /src/main.go:99
//! non-Go function at pc=0x7f0000
//! ...12 frames elided...
//! created by main.spawn in goroutine 1
//!     /src/main.go:40 +0x25
//! [originating from goroutine 3]:
//! ```
//!
//! The parser is a line state machine that streams: it holds one goroutine
//! at a time plus the interned tables. Anything that is not part of a
//! goroutine block (log lines, `panic:` messages, `runtime stack:` sections,
//! register dumps) is skipped. It never panics on any bytes; what it cannot
//! read becomes a [`Diagnostic`] with a line number, and a goroutine cut
//! short is kept and flagged `truncated`.

use std::io::Read;

use rustc_hash::FxHashMap;

use super::lines::LineReader;
use crate::model::{
    Ancestor, BlockClass, CreatedBy, Diagnostic, Elided, Flags, Frame, FrameId, FrameKind,
    Goroutine, LabelSetId, Snapshot, StackId, StrId, Tables, ThreadInfo,
};
use crate::vocab::{self, StatusInfo};

/// Diagnostics kept per parse; past this only a count is kept so hostile
/// input cannot grow memory through them.
const MAX_DIAGNOSTICS: usize = 1000;

/// Streaming goroutine dump parser.
pub struct DumpParser<R> {
    reader: LineReader<R>,
    line_no: u64,
    current: Option<InProgress>,
    frames: Vec<FrameId>,
    predictor: FramePredictor,
    key: Vec<u8>,
    caches: HeaderCaches,
    diagnostics: Vec<Diagnostic>,
    dropped_diagnostics: u64,
    /// Every diagnostic ever raised, kept or dropped.
    diagnostics_total: u64,
    /// (id, gp) of goroutines printed with crash-dump thread details: a
    /// SIGQUIT/GOTRACEBACK=crash dump prints the goroutine running on each
    /// M a second time in that M's section. Only such dumps fill it.
    crash_seen: rustc_hash::FxHashSet<(u64, u64)>,
    finished: bool,
}

#[derive(Clone, Copy)]
struct CachedStatus {
    info: StatusInfo,
    status: StrId,
}

/// Most distinct raw texts each header cache keeps; past that, lookups still
/// work and new texts are parsed every time (bounded memory on hostile
/// input).
const HEADER_CACHE_MAX: usize = 4096;
/// Longer texts are parsed every time rather than kept: with
/// HEADER_CACHE_MAX this bounds each cache to 4 MiB of keys.
const HEADER_CACHE_KEY_MAX: usize = 1024;

/// Header texts repeat across goroutines: the status (`chan receive`) and,
/// for labelled goroutines, the label text. Parsing each once saves the
/// string work and interning on every repeat.
#[derive(Default)]
struct HeaderCaches {
    status: FxHashMap<Box<[u8]>, CachedStatus>,
    /// Raw text from the label start to the end of the line -> parsed set
    /// and the bytes the label map used.
    labels: FxHashMap<Box<[u8]>, (Option<LabelSetId>, usize)>,
}

impl HeaderCaches {
    fn labels(&mut self, raw: &[u8], tables: &mut Tables) -> (Option<LabelSetId>, usize) {
        if let Some(&hit) = self.labels.get(raw) {
            return hit;
        }
        let parsed = parse_labels(raw, tables);
        if self.labels.len() < HEADER_CACHE_MAX && raw.len() <= HEADER_CACHE_KEY_MAX {
            self.labels.insert(raw.into(), parsed);
        }
        parsed
    }
}

/// Where the frame lines of the current goroutine go.
#[derive(Default)]
enum Pending {
    /// Expecting a function line, `created by`, a marker or the end.
    #[default]
    Nothing,
    /// A function line was read (its name is in `key`); its file line is
    /// next. `tentative` marks a bare token (cgo symbolizer output) that is
    /// only a frame if a file line follows; otherwise it was log text.
    Func {
        kind: FrameKind,
        line: u64,
        tentative: bool,
    },
    /// A `created by` line was read; its file line is next.
    CreatedBy { goroutine: Option<u64>, line: u64 },
}

struct InProgress {
    g: Goroutine,
    /// From the status: only runtime goroutines wait like this.
    runtime_only: bool,
    pending: Pending,
    /// The ancestor block being read.
    ancestor: Option<Ancestor>,
    /// Set once a `created by` was read for the current block: further
    /// frames then do not belong to it.
    block_closed: bool,
}

impl InProgress {
    /// The `created by` of the block being read: the goroutine's own, or
    /// the current ancestor's.
    fn set_created_by(&mut self, cb: CreatedBy) {
        match self.ancestor.as_mut() {
            Some(a) => a.created_by = Some(cb),
            None => self.g.created_by = Some(cb),
        }
    }
}

impl DumpParser<std::io::Empty> {
    /// A parser fed whole chunks with [`Self::parse_chunk`]; its caches and
    /// crash-dump duplicate set carry over from chunk to chunk.
    pub(crate) fn for_chunks() -> Self {
        Self::with_lines(LineReader::from_chunk(Vec::new()))
    }

    /// Parses one chunk that starts where the parser's state is clean: at
    /// the input's start or right after a blank line (which ends every
    /// goroutine block), so the result is what a parse of the whole input
    /// gives for those lines. Line numbers in diagnostics count from 1 at
    /// the chunk's start. Returns the chunk's buffer for reuse.
    pub(crate) fn parse_chunk(
        &mut self,
        chunk: Vec<u8>,
        tables: &mut Tables,
        out: &mut Vec<Goroutine>,
    ) -> Vec<u8> {
        self.reader = LineReader::from_chunk(chunk);
        self.line_no = 0;
        self.current = None;
        self.finished = false;
        while let Some(g) = self.next_goroutine(tables) {
            out.push(g);
        }
        std::mem::replace(&mut self.reader, LineReader::from_chunk(Vec::new())).into_chunk()
    }
}

impl<R: Read> DumpParser<R> {
    /// Parses from any reader; nothing is read until the first call.
    pub fn new(reader: R) -> Self {
        Self::with_lines(LineReader::new(reader))
    }

    fn with_lines(reader: LineReader<R>) -> Self {
        Self {
            reader,
            line_no: 0,
            current: None,
            frames: Vec::with_capacity(128),
            key: Vec::with_capacity(256),
            caches: HeaderCaches::default(),
            diagnostics: Vec::new(),
            dropped_diagnostics: 0,
            diagnostics_total: 0,
            crash_seen: Default::default(),
            predictor: FramePredictor::default(),
            finished: false,
        }
    }

    /// Bytes of input consumed so far.
    pub fn bytes_consumed(&self) -> u64 {
        self.reader.consumed()
    }

    /// How many diagnostics were raised in all, including those past the
    /// kept maximum (only counted).
    pub fn diagnostics_total(&self) -> u64 {
        self.diagnostics_total + self.diagnostics.len() as u64 + self.dropped_diagnostics
    }

    /// Diagnostics so far, plus a summary line if some were dropped.
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        self.diagnostics_total += self.diagnostics.len() as u64 + self.dropped_diagnostics;
        let mut d = std::mem::take(&mut self.diagnostics);
        if self.dropped_diagnostics > 0 {
            d.push(Diagnostic {
                line: self.line_no,
                message: format!("{} more diagnostics not shown", self.dropped_diagnostics),
            });
            self.dropped_diagnostics = 0;
        }
        d
    }

    /// Lines read so far (the line number of the last one).
    pub(crate) fn lines_read(&self) -> u64 {
        self.line_no
    }

    /// Starts line numbering after `lines` lines read elsewhere.
    pub(crate) fn set_lines_read(&mut self, lines: u64) {
        self.line_no = lines;
    }

    /// The kept diagnostics and the count of dropped ones, without the
    /// summary line [`Self::take_diagnostics`] adds.
    pub(crate) fn take_raw_diagnostics(&mut self) -> (Vec<Diagnostic>, u64) {
        let dropped = std::mem::take(&mut self.dropped_diagnostics);
        (std::mem::take(&mut self.diagnostics), dropped)
    }

    /// The I/O error that ended the input early, if any.
    pub fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.reader.take_error()
    }

    fn diag(&mut self, line: u64, message: String) {
        push_diag(
            &mut self.diagnostics,
            &mut self.dropped_diagnostics,
            line,
            message,
        );
    }

    /// The next goroutine, or `None` at the end of the input.
    pub fn next_goroutine(&mut self, tables: &mut Tables) -> Option<Goroutine> {
        if self.finished {
            return None;
        }
        loop {
            let Some(line) = self.reader.advance() else {
                self.finished = true;
                return self.finish_current(tables, true);
            };
            self.line_no += 1;
            let line_no = self.line_no;
            let text = self.reader.text(line);
            let terminated = line.terminated;
            if line.overlong {
                push_diag(
                    &mut self.diagnostics,
                    &mut self.dropped_diagnostics,
                    line_no,
                    format!(
                        "line longer than {} bytes was split",
                        super::lines::MAX_LINE
                    ),
                );
            }

            // A header always starts a new goroutine, even without the blank
            // line that normally precedes it (truncated or interleaved dumps).
            if text.first() == Some(&b'g')
                && text.starts_with(b"goroutine ")
                && is_header_candidate(text)
            {
                let header = parse_header(
                    text,
                    tables,
                    &mut self.caches,
                    &mut self.diagnostics,
                    &mut self.dropped_diagnostics,
                    line_no,
                );
                // A header cut before its status ends still names a
                // goroutine: keep it, state unknown (a too-small
                // runtime.Stack buffer ends exactly like this).
                let header =
                    header.or_else(|| (!terminated).then(|| cut_header(text, tables)).flatten());
                if header.is_none() && !terminated {
                    push_diag(
                        &mut self.diagnostics,
                        &mut self.dropped_diagnostics,
                        line_no,
                        format!(
                            "input ends inside a goroutine header before its id is complete (truncated dump?): {}",
                            shorten(text)
                        ),
                    );
                }
                if let Some(mut header) = header {
                    if !terminated {
                        header.g.flags.truncated = true;
                        push_diag(
                            &mut self.diagnostics,
                            &mut self.dropped_diagnostics,
                            line_no,
                            format!(
                                "goroutine {}: input ends in the middle of a line, inside its header (truncated dump?); kept what was read",
                                header.g.id
                            ),
                        );
                    }
                    let done = self.finish_current(tables, false);
                    self.current = Some(header);
                    if done.is_some() {
                        return done;
                    }
                    continue;
                }
            }

            // Outside a goroutine block: log text, panic messages, register
            // dumps. Skipped.
            let Some(cur) = self.current.as_mut() else {
                continue;
            };

            if !terminated && text.is_empty() {
                // Only a stray `\r` after the last newline (a CRLF dump cut
                // between CR and LF): nothing was lost.
                continue;
            }
            if !terminated && looks_like_dump_line(text, &cur.pending) {
                // The input stops in the middle of this line: keep what the
                // partial line still says (a function name) and flag it.
                cur.g.flags.truncated = true;
                let id = cur.g.id;
                push_diag(
                    &mut self.diagnostics,
                    &mut self.dropped_diagnostics,
                    line_no,
                    format!("goroutine {id}: input ends in the middle of a line (truncated dump?); kept what was read"),
                );
                if !matches!(cur.pending, Pending::Nothing) || text[0] == b'\t' {
                    // A cut file line: fall through to the normal handling,
                    // which records the frame with what is there.
                } else if let Some(name) = partial_function_name(text) {
                    self.key.clear();
                    self.frames
                        .push(intern_without_location(name, FrameKind::Go, tables));
                    continue;
                }
            }

            if text.is_empty() {
                if let Some(done) = self.finish_current(tables, false) {
                    return Some(done);
                }
                continue;
            }

            if text[0] == b'\t' {
                let body = &text[1..];
                match std::mem::take(&mut cur.pending) {
                    Pending::Func { kind, .. } => {
                        let id = intern_frame(&self.key, body, kind, tables);
                        self.key.clear();
                        self.frames.push(id);
                        if !terminated {
                            cur.g.flags.truncated = true;
                        }
                    }
                    Pending::CreatedBy { goroutine, .. } => {
                        let frame = intern_frame(&self.key, body, FrameKind::Go, tables);
                        self.key.clear();
                        let cb = CreatedBy { frame, goroutine };
                        cur.set_created_by(cb);
                        cur.block_closed = true;
                    }
                    Pending::Nothing => {
                        if body.starts_with(b"goroutine running on other thread") {
                            cur.g.flags.stack_unavailable = true;
                        } else {
                            // A file line with no function line before it.
                            push_diag(
                                &mut self.diagnostics,
                                &mut self.dropped_diagnostics,
                                line_no,
                                format!(
                                    "goroutine {}: file line without a function line: {}",
                                    cur.g.id,
                                    shorten(text)
                                ),
                            );
                        }
                    }
                }
                continue;
            }

            // Anything else ends a pending function line without its file.
            match std::mem::take(&mut cur.pending) {
                Pending::Func {
                    tentative: true, ..
                } => {
                    // The bare token was log text, not a cgo frame: the
                    // goroutine block ended before it.
                    self.key.clear();
                    cur.block_closed = true;
                }
                pending @ (Pending::Func { .. } | Pending::CreatedBy { .. }) => {
                    let id = cur.g.id;
                    cur.g.flags.truncated = true;
                    let line =
                        keep_without_location(cur, pending, &self.key, &mut self.frames, tables);
                    push_diag(
                        &mut self.diagnostics,
                        &mut self.dropped_diagnostics,
                        line,
                        format!("goroutine {id}: function line without its file:line line; kept the function"),
                    );
                    self.key.clear();
                }
                Pending::Nothing => {}
            }

            // Dispatch on the first byte: the common case (a function line)
            // then costs one comparison instead of four prefix checks.
            let first = text[0];
            if first == b'c' && text.starts_with(b"created by ") {
                let (func, goroutine) = split_created_by(&text[11..]);
                // Fast path: the file line is already in the buffer.
                if let Some(body) = peeked_file_line(&self.reader) {
                    let slot = self.frames.last().map(|&f| Slot::CreatedAfter(f));
                    let frame = self
                        .predictor
                        .intern(slot, func, body, FrameKind::Go, tables);
                    cur.set_created_by(CreatedBy { frame, goroutine });
                    cur.block_closed = true;
                    self.reader.consume_peeked();
                    self.line_no += 1;
                    continue;
                }
                self.key.clear();
                self.key.extend_from_slice(func);
                cur.pending = Pending::CreatedBy {
                    goroutine,
                    line: line_no,
                };
                continue;
            }
            if first == b'.' && text.starts_with(b"...") && text.ends_with(b"elided...") {
                let elided = parse_elided(text);
                match cur.ancestor.as_mut() {
                    Some(a) => a.elided = elided,
                    None => cur.g.elided = elided,
                }
                continue;
            }
            if first != b'[' {
                // Not an ancestor block.
            } else if let Some(rest) = text.strip_prefix(b"[originating from goroutine ") {
                if let Some(goid) = rest.strip_suffix(b"]:").and_then(parse_u64) {
                    let stack = tables.intern_stack(&self.frames);
                    self.frames.clear();
                    match cur.ancestor.take() {
                        Some(mut a) => {
                            a.stack = stack;
                            cur.g.ancestors.push(a);
                        }
                        None => cur.g.stack = stack,
                    }
                    cur.ancestor = Some(Ancestor {
                        goroutine: goid,
                        stack: crate::model::StackId(0),
                        elided: Elided::None,
                        created_by: None,
                    });
                    cur.block_closed = false;
                    continue;
                }
            }
            if first != b'n' {
                // Not a bare cgo frame.
            } else if let Some(rest) = text.strip_prefix(b"non-Go function at pc=") {
                let pc = parse_hex(rest);
                let id =
                    tables.intern_frame_key(b"non-Go function", text, KIND_NONGO_PC, || Frame {
                        function: "non-Go function".into(),
                        file: "".into(),
                        line: 0,
                        pc_offset: pc,
                        kind: FrameKind::NonGo,
                    });
                self.frames.push(id);
                continue;
            }
            if !cur.block_closed {
                if let Some((name, mut kind, tentative)) = split_function_line(text) {
                    // Ancestor tracebacks print every frame with `(...)`:
                    // there it says nothing about inlining.
                    if kind == FrameKind::Inlined && cur.ancestor.is_some() {
                        kind = FrameKind::Go;
                    }
                    // Fast path: its file line is already in the buffer, so
                    // the frame is interned straight from it, no copy. (A
                    // tentative line is confirmed as a frame by that, too.)
                    if let Some(body) = peeked_file_line(&self.reader) {
                        let slot = Some(match self.frames.last() {
                            Some(&f) => Slot::After(f),
                            None => Slot::First(cur.g.status),
                        });
                        let id = self.predictor.intern(slot, name, body, kind, tables);
                        self.frames.push(id);
                        self.reader.consume_peeked();
                        self.line_no += 1;
                        continue;
                    }
                    self.key.clear();
                    self.key.extend_from_slice(name);
                    cur.pending = Pending::Func {
                        kind,
                        line: line_no,
                        tentative,
                    };
                    continue;
                }
            }
            // Crash tracebacks can print runtime complaints and raw stack
            // words between frames (`runtime: g 5: unexpected return pc
            // ...`, `stack: frame={...}`, `0xc000...:  0x...`): they belong
            // to the block, so skip them without ending it.
            if text.starts_with(b"runtime: ")
                || text.starts_with(b"stack: frame=")
                || (text.starts_with(b"0x") && text.contains(&b':'))
            {
                continue;
            }
            // Not a dump line: the goroutine block ended without a blank
            // line (log text written right after a panic, or malformed
            // input). Only a stack that is visibly incomplete deserves a
            // diagnostic; that case was reported above.
            if let Some(done) = self.finish_current(tables, false) {
                return Some(done);
            }
        }
    }

    /// Completes the goroutine being read, if any.
    fn finish_current(&mut self, tables: &mut Tables, at_eof: bool) -> Option<Goroutine> {
        let mut cur = self.current.take()?;
        let pending = std::mem::take(&mut cur.pending);
        if matches!(
            pending,
            Pending::Func {
                tentative: false,
                ..
            } | Pending::CreatedBy { .. }
        ) {
            cur.g.flags.truncated = true;
            let line =
                keep_without_location(&mut cur, pending, &self.key, &mut self.frames, tables);
            let message = if at_eof {
                format!(
                    "goroutine {}: input ends inside its stack (truncated dump?); kept what was read",
                    cur.g.id
                )
            } else {
                format!(
                    "goroutine {}: function line without its file:line line; kept the function",
                    cur.g.id
                )
            };
            self.diag(line, message);
        }
        if at_eof
            && self.frames.is_empty()
            && cur.ancestor.is_none()
            && cur.g.created_by.is_none()
            && !cur.g.flags.stack_unavailable
            && !cur.g.flags.truncated
        {
            // Every goroutine prints at least one frame (or "stack
            // unavailable"): a header right before the end was cut off.
            cur.g.flags.truncated = true;
            self.diag(
                self.line_no,
                format!(
                    "goroutine {}: input ends right after its header (truncated dump?)",
                    cur.g.id
                ),
            );
        }
        let stack = self.predictor.intern_stack(&self.frames, tables);
        self.frames.clear();
        match cur.ancestor.take() {
            Some(mut a) => {
                a.stack = stack;
                cur.g.ancestors.push(a);
            }
            None => cur.g.stack = stack,
        }
        let mut g = cur.g;
        if tables.stack(g.stack).is_empty() && !g.flags.stack_unavailable && !g.flags.truncated {
            self.diag(
                self.line_no,
                format!("goroutine {}: no stack frames were printed", g.id),
            );
        }
        // Frame-based refinements (semacquire, queued RWMutex writers) and
        // the origin need the stack, so they happen here.
        let frames = tables.stack(g.stack);
        if matches!(g.block_class, BlockClass::Semaphore | BlockClass::Mutex) {
            g.block_class = vocab::refine_block_class(
                g.block_class,
                frames.iter().map(|&f| &*tables.frame(f).function),
            );
        }
        let created_by = g.created_by.map(|c| &*tables.frame(c.frame).function);
        let outermost = frames.last().map(|&f| &*tables.frame(f).function);
        g.origin = vocab::origin(g.id, cur.runtime_only, created_by, outermost);
        self.key.clear();
        if let Some(t) = g.thread {
            if !self.crash_seen.insert((g.id, t.gp)) {
                return None;
            }
        }
        Some(g)
    }
}

/// Keeps a diagnostic while under [`MAX_DIAGNOSTICS`], else only counts
/// it: the one cap every reader (dump, parallel merge, debug=1) applies.
pub(crate) fn push_diag(
    diags: &mut Vec<Diagnostic>,
    dropped: &mut u64,
    line: u64,
    message: String,
) {
    if diags.len() < MAX_DIAGNOSTICS {
        diags.push(Diagnostic { line, message });
    } else {
        *dropped += 1;
    }
}

/// Reads a whole dump into a [`Snapshot`].
pub fn parse_dump<R: Read>(reader: R) -> (Snapshot, Option<std::io::Error>) {
    let mut snap = Snapshot::default();
    let mut p = DumpParser::new(reader);
    while let Some(g) = p.next_goroutine(&mut snap.tables) {
        snap.goroutines.push(g);
    }
    snap.diagnostics = p.take_diagnostics();
    (snap, p.take_io_error())
}

/// Cheap pre-check before the full header parse: `goroutine <digit>`.
fn is_header_candidate(text: &[u8]) -> bool {
    text.get(10).is_some_and(u8::is_ascii_digit)
}

fn shorten(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(&text[..text.len().min(120)]);
    if text.len() > 120 {
        format!("{s:?}...")
    } else {
        format!("{s:?}")
    }
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Parses `0x1f` (or bare hex digits after `0x` was stripped by the caller).
fn parse_hex(b: &[u8]) -> Option<u64> {
    let b = b.strip_prefix(b"0x").unwrap_or(b);
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// `...12 frames elided...` or `...additional frames elided...`.
fn parse_elided(text: &[u8]) -> Elided {
    let inner = &text[3..];
    match inner.iter().position(|&c| c == b' ') {
        Some(sp) => parse_u64(&inner[..sp]).map_or(Elided::Additional, |n| {
            Elided::Count(u32::try_from(n).unwrap_or(u32::MAX))
        }),
        None => Elided::Additional,
    }
}

/// `main.spawn in goroutine 12` -> (`main.spawn`, Some(12)).
fn split_created_by(rest: &[u8]) -> (&[u8], Option<u64>) {
    const IN: &[u8] = b" in goroutine";
    if let Some(sp) = memchr::memrchr(b' ', rest) {
        if rest[..sp].ends_with(IN) {
            if let Some(id) = parse_u64(&rest[sp + 1..]) {
                return (&rest[..sp - IN.len()], Some(id));
            }
        }
    }
    (rest, None)
}

/// Splits a function line into the function name and its kind, dropping the
/// argument list. Returns `None` for lines that cannot be function lines.
fn split_function_line(text: &[u8]) -> Option<(&[u8], FrameKind, bool)> {
    let first = text[0];
    if first == b' ' || first == b'\t' {
        return None;
    }
    if text.ends_with(b")") {
        // Arguments never contain '(' (hex words, `{`, `}`, `...`, `_`, `?`),
        // so the last '(' opens them; receivers like `(*T)` come before.
        let open = memchr::memrchr(b'(', text)?;
        if open == 0 {
            return None;
        }
        let name = &text[..open];
        let args = &text[open..];
        let kind = if args == b"(...)" {
            FrameKind::Inlined
        } else {
            FrameKind::Go
        };
        // A space usually means log text that happens to end in ')', but Go
        // prints some generated names with one (`type:.eq.[2]interface {}`):
        // such a line is a frame only if a file line follows it.
        let spaced = name.iter().fold(false, |seen, &c| seen | (c == b' '));
        return Some((name, kind, spaced));
    }
    // cgo symbolizer output prints the bare function name (no parentheses)
    // and `non-Go function` when it has none. Accept a single token that
    // looks like a symbol.
    if text == b"non-Go function" {
        return Some((text, FrameKind::NonGo, false));
    }
    if memchr::memchr3(b' ', b'(', b')', text).is_none() {
        return Some((text, FrameKind::NonGo, true));
    }
    None
}

/// Whether an unterminated last line is part of the goroutine block (so the
/// block was cut) rather than log text written after it.
fn looks_like_dump_line(text: &[u8], pending: &Pending) -> bool {
    !matches!(pending, Pending::Nothing)
        || text[0] == b'\t'
        || [
            &b"created by "[..],
            b"...additional frames elided...",
            b"[originating from goroutine ",
            b"non-Go function at pc=",
        ]
        .iter()
        .any(|start| text.starts_with(start) || start.starts_with(text))
        || text.starts_with(b"...")
        // A single token right after a frame is a function line cut short;
        // a line with spaces is a frame only if it parses as one, else it
        // is more likely log text.
        || !text.contains(&b' ')
        || partial_function_name(text).is_some()
        || split_function_line(text).is_some_and(|(_, _, tentative)| !tentative)
}

/// Records what a pending function or `created by` line said when its file
/// line never came: the function, with no file and line 0. Returns the line
/// number of the pending line.
fn keep_without_location(
    cur: &mut InProgress,
    pending: Pending,
    name: &[u8],
    frames: &mut Vec<FrameId>,
    tables: &mut Tables,
) -> u64 {
    match pending {
        Pending::Func { kind, line, .. } => {
            frames.push(intern_without_location(name, kind, tables));
            line
        }
        Pending::CreatedBy { goroutine, line } => {
            let frame = intern_without_location(name, FrameKind::Go, tables);
            let cb = CreatedBy { frame, goroutine };
            cur.set_created_by(cb);
            line
        }
        Pending::Nothing => 0,
    }
}

/// Interns a frame known only by its function name (its file line was cut
/// off or never came): no file, line 0.
fn intern_without_location(name: &[u8], kind: FrameKind, tables: &mut Tables) -> FrameId {
    tables.intern_frame_key(name, b"", KIND_PARTIAL, || Frame {
        function: String::from_utf8_lossy(name).into(),
        file: "".into(),
        line: 0,
        pc_offset: None,
        kind,
    })
}

/// The function name of a function line cut inside its argument list
/// (`main.loop(0x1`), if it is one.
fn partial_function_name(text: &[u8]) -> Option<&[u8]> {
    let open = memchr::memrchr(b'(', text)?;
    let (name, args) = text.split_at(open);
    (!name.is_empty() && !name.contains(&b' ') && !args.contains(&b')')).then_some(name)
}

/// The body (after the tab) of the next line if it is already buffered and
/// is a file line, without consuming it: the frame fast paths intern a
/// function line and its file line together, straight from the buffer.
fn peeked_file_line<R: Read>(reader: &LineReader<R>) -> Option<&[u8]> {
    let next = reader.text(reader.peek()?);
    let body = next.strip_prefix(b"\t")?;
    // First byte first: the long comparison is a library call.
    let unavailable =
        body.first() == Some(&b'g') && body.starts_with(b"goroutine running on other thread");
    (!unavailable).then_some(body)
}

/// Kind bytes of frame identities that are not a plain [`FrameKind`].
const KIND_PARTIAL: u8 = 0x10;
const KIND_NONGO_PC: u8 = 0x11;

/// Interns the frame with function name `name` whose file line (after the
/// tab) is `body`.
fn intern_frame(name: &[u8], body: &[u8], kind: FrameKind, tables: &mut Tables) -> FrameId {
    let loc = file_line_identity(body);
    tables.intern_frame_key(name, loc, kind as u8, || build_frame(name, loc, kind))
}

/// Where a frame line sits, as the [`FramePredictor`] keys it.
#[derive(Clone, Copy)]
enum Slot {
    /// Right after this frame.
    After(FrameId),
    /// The `created by` after this last frame.
    CreatedAfter(FrameId),
    /// First frame of a goroutine with this status.
    First(StrId),
}

/// Goroutines parked in the same place print the same frames in the same
/// order, so the frame that followed a frame last time is almost always
/// the one that follows it now. Checking that guess costs one comparison
/// of the frame's identity bytes; a miss falls back to the hash table. It
/// saves hashing every frame line and probing the table (a quarter of the
/// parse on big dumps). Memory: one id per interned frame and status.
#[derive(Default)]
struct FramePredictor {
    next: Vec<[FrameId; 2]>,
    created_by: Vec<[FrameId; 2]>,
    first: Vec<[FrameId; 2]>,
    /// Per innermost frame: the stack it ended up in last time (checked
    /// by comparing the frame ids, instead of hashing them).
    stack: Vec<StackId>,
}

const NO_FRAME: FrameId = FrameId(u32::MAX);

impl FramePredictor {
    fn intern(
        &mut self,
        slot: Option<Slot>,
        name: &[u8],
        body: &[u8],
        kind: FrameKind,
        tables: &mut Tables,
    ) -> FrameId {
        let loc = file_line_identity(body);
        let Some(slot) = slot else {
            return intern_frame(name, body, kind, tables);
        };
        let (v, i) = match slot {
            Slot::After(f) => (&mut self.next, f.0),
            Slot::CreatedAfter(f) => (&mut self.created_by, f.0),
            Slot::First(s) => (&mut self.first, s.0),
        };
        let i = i as usize;
        if i >= v.len() {
            v.resize(i + 1, [NO_FRAME; 2]);
        }
        let cell = &mut v[i];
        let is = |id: FrameId| id != NO_FRAME && tables.frame_key_is(id, name, loc, kind as u8);
        if is(cell[0]) {
            return cell[0];
        }
        if is(cell[1]) {
            cell.swap(0, 1);
            return cell[0];
        }
        let id = tables.intern_frame_key(name, loc, kind as u8, || build_frame(name, loc, kind));
        *cell = [id, cell[0]];
        id
    }

    fn intern_stack(&mut self, frames: &[FrameId], tables: &mut Tables) -> StackId {
        let Some(&first) = frames.first() else {
            return tables.intern_stack(frames);
        };
        let i = first.0 as usize;
        if let Some(&guess) = self.stack.get(i) {
            if guess != NO_STACK && tables.stack(guess) == frames {
                return guess;
            }
        }
        let id = tables.intern_stack(frames);
        if i >= self.stack.len() {
            self.stack.resize(i + 1, NO_STACK);
        }
        self.stack[i] = id;
        id
    }
}

const NO_STACK: StackId = StackId(u32::MAX);

/// The part of a file line that identifies the call site: `file:line +0xNN`
/// without the crash-dump ` fp=.. sp=.. pc=..` suffix (per goroutine values).
fn file_line_identity(body: &[u8]) -> &[u8] {
    // Hot path (every frame): look at the last token only. The crash suffix
    // is exactly three tokens, ` fp=0x.. sp=0x.. pc=0x..`; a cgo symbolizer
    // line ends in ` pc=0x..` too but its pc is part of the identity.
    // Both end in ` pc=0x` + at most 16 hex digits, so the last space is
    // within 24 bytes of the end; a plain backward scan finds it in a few
    // steps (usually the one before `+0x..`), cheaper than any call.
    let tail_start = body.len().saturating_sub(24);
    // Fastest path: both suffixes have '=' near the end; plain file lines
    // have none there.
    if !super::scan::tail24_contains(body, b'=') {
        return body;
    }
    let Some(last) = body[tail_start..]
        .iter()
        .rposition(|&c| c == b' ')
        .map(|i| tail_start + i)
    else {
        return body;
    };
    if !body[last + 1..].starts_with(b"pc=") {
        return body;
    }
    let Some(sp) = memchr::memrchr(b' ', &body[..last]) else {
        return body;
    };
    let Some(fp) = memchr::memrchr(b' ', &body[..sp]) else {
        return body;
    };
    if body[fp + 1..].starts_with(b"fp=") && body[sp + 1..].starts_with(b"sp=") {
        &body[..fp]
    } else {
        body
    }
}

fn build_frame(name: &[u8], loc: &[u8], kind: FrameKind) -> Frame {
    let function = String::from_utf8_lossy(name).into_owned().into_boxed_str();
    let mut rest = loc;
    let mut pc_offset = None;
    let mut kind = kind;
    // cgo symbolizer: `file:line pc=0x..` or `pc=0x..` alone.
    if let Some(i) = memchr::memmem::rfind(rest, b"pc=0x") {
        if i == 0 || rest[i - 1] == b' ' {
            pc_offset = parse_hex(&rest[i + 3..]);
            rest = &rest[..i.saturating_sub(1)];
            kind = FrameKind::NonGo;
        }
    }
    if let Some(i) = memchr::memmem::rfind(rest, b" +0x") {
        if let Some(off) = parse_hex(&rest[i + 2..]) {
            pc_offset = Some(off);
            rest = &rest[..i];
        }
    }
    let (file, line) = match memchr::memrchr(b':', rest) {
        Some(i) => match parse_u64(&rest[i + 1..]) {
            Some(n) => (&rest[..i], u32::try_from(n).unwrap_or(u32::MAX)),
            None => (rest, 0),
        },
        None => (rest, 0),
    };
    Frame {
        function,
        file: String::from_utf8_lossy(file).into_owned().into_boxed_str(),
        line,
        pc_offset,
        kind,
    }
}

/// Parses a header line; `None` if it is not one (then it is ordinary text).
fn parse_header(
    text: &[u8],
    tables: &mut Tables,
    caches: &mut HeaderCaches,
    diags: &mut Vec<Diagnostic>,
    dropped: &mut u64,
    line_no: u64,
) -> Option<InProgress> {
    let rest = &text[10..];
    let id_end = rest
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let id = parse_u64(&rest[..id_end])?;
    let mut rest = &rest[id_end..];

    // ` gp=0x.. m=N mp=0x..` or ` gp=0x.. m=nil` (crash dumps, Go 1.22+).
    let mut thread = None;
    if let Some(after) = rest.strip_prefix(b" gp=") {
        let end = after.iter().position(|&c| c == b' ')?;
        let gp = parse_hex(&after[..end]).unwrap_or(0);
        let mut after = &after[end..];
        let mut m = None;
        if let Some(a) = after.strip_prefix(b" m=nil") {
            after = a;
        } else if let Some(a) = after.strip_prefix(b" m=") {
            let end = a.iter().position(|&c| c == b' ').unwrap_or(a.len());
            m = std::str::from_utf8(&a[..end])
                .ok()
                .and_then(|s| s.parse::<i64>().ok());
            after = &a[end..];
            if let Some(a) = after.strip_prefix(b" mp=") {
                let end = a.iter().position(|&c| c == b' ').unwrap_or(a.len());
                after = &a[end..];
            }
        }
        thread = Some(ThreadInfo { gp, m });
        rest = after;
    }
    let inner = rest.strip_prefix(b" [")?;

    // Status: up to the first ", ", " labels:{" or the closing ']'. Wait
    // reasons contain neither a comma nor a ']'.
    let status_end = inner.iter().position(|&c| c == b',' || c == b']')?;
    let mut status_raw = &inner[..status_end];
    let mut labels_inline = None;
    if let Some(p) = find_labels_start(status_raw) {
        labels_inline = Some(p);
        status_raw = &status_raw[..p];
    }
    let cached = match caches.status.get(status_raw) {
        Some(c) => *c,
        None => {
            let s = String::from_utf8_lossy(status_raw);
            let info = vocab::classify_status(&s);
            let status = tables.intern_str(&s[..info.base_len]);
            let c = CachedStatus { info, status };
            if caches.status.len() < HEADER_CACHE_MAX && status_raw.len() <= HEADER_CACHE_KEY_MAX {
                caches.status.insert(status_raw.into(), c);
            }
            c
        }
    };
    let info = cached.info;

    let mut g = new_goroutine(id, cached.status, &info, thread);

    // The remaining items, each introduced by ", " or " labels:{".
    let mut pos = labels_inline.unwrap_or(status_end);
    let mut closed = false;
    while pos < inner.len() {
        let tail = &inner[pos..];
        if tail[0] == b']' {
            pos += 1;
            closed = true;
            break;
        }
        if let Some(l) = tail.strip_prefix(b" labels:{") {
            let (labels, used) = caches.labels(l, tables);
            g.labels = labels;
            pos += 9 + used;
            continue;
        }
        if let Some(item) = tail.strip_prefix(b", ") {
            let end = item
                .iter()
                .position(|&c| c == b',' || c == b']')
                .unwrap_or(item.len());
            let mut item_text = &item[..end];
            let mut consumed = end;
            if let Some(p) = find_labels_start(item_text) {
                item_text = &item_text[..p];
                consumed = p;
            }
            apply_header_item(&mut g, item_text);
            pos += 2 + consumed;
            continue;
        }
        // Unknown text inside the brackets: skip a byte and go on; the
        // header is still usable.
        pos += 1;
    }
    if !closed {
        push_diag(
            diags,
            dropped,
            line_no,
            format!(
                "goroutine {id}: header has no closing ']': {}",
                shorten(text)
            ),
        );
    }
    // Go 1.27 prints labels after the bracket: `] {k: v}:`.
    let after = &inner[pos.min(inner.len())..];
    if let Some(l) = after.strip_prefix(b" {") {
        let (labels, _) = caches.labels(l, tables);
        g.labels = labels;
    }
    Some(InProgress {
        g,
        runtime_only: info.runtime_only,
        pending: Pending::Nothing,
        ancestor: None,
        block_closed: false,
    })
}

/// Position of ` labels:{` (Go 1.26 tracebacklabels) in header text; found
/// through the rare `{` so that ordinary headers cost one memchr.
fn find_labels_start(text: &[u8]) -> Option<usize> {
    const L: &[u8] = b" labels:";
    let brace = memchr::memchr(b'{', text)?;
    (brace >= L.len() && &text[brace - L.len()..brace] == L).then(|| brace - L.len())
}

/// A goroutine as its header starts it, before items, labels and frames.
fn new_goroutine(
    id: u64,
    status: StrId,
    info: &StatusInfo,
    thread: Option<ThreadInfo>,
) -> Goroutine {
    Goroutine {
        id,
        state: info.state,
        status,
        wait_reason: info.is_wait_reason.then_some(status),
        block_class: info.block_class,
        origin: crate::model::Origin::User,
        wait_minutes: None,
        flags: Flags {
            leaked: info.leaked,
            scan: info.scan,
            durable: info.durable,
            ..Flags::default()
        },
        synctest_bubble: None,
        labels: None,
        stack: crate::model::StackId(0),
        elided: Elided::None,
        created_by: None,
        ancestors: Vec::new(),
        thread,
    }
}

/// The goroutine of a header line cut before its status was complete
/// (`goroutine 12 [chan rec`): id known, state unknown.
fn cut_header(text: &[u8], tables: &mut Tables) -> Option<InProgress> {
    let rest = &text[10..];
    let end = rest
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    // Only a space after the digits proves the id was read whole.
    if rest.get(end) != Some(&b' ') {
        return None;
    }
    let id = parse_u64(&rest[..end])?;
    let info = vocab::classify_status("");
    let status = tables.intern_str("");
    Some(InProgress {
        g: new_goroutine(id, status, &info, None),
        runtime_only: false,
        pending: Pending::Nothing,
        ancestor: None,
        block_closed: false,
    })
}

fn apply_header_item(g: &mut Goroutine, item: &[u8]) {
    if item == b"locked to thread" {
        g.flags.locked_to_thread = true;
    } else if let Some(n) = item.strip_suffix(b" minutes") {
        g.wait_minutes = parse_u64(n).map(|v| u32::try_from(v).unwrap_or(u32::MAX));
    } else if let Some(n) = item
        .strip_prefix(b"synctest bubble ")
        .or_else(|| item.strip_prefix(b"synctest group "))
    {
        g.synctest_bubble = parse_u64(n);
    }
}

/// Parses a label map body after `{` up to and including the matching `}`:
/// Go 1.26 `"k": "v", "k2": "v2"}` (runtime printquoted) or Go 1.27
/// `k: v, k2: "quoted when needed"}`. Returns the set and bytes used.
pub(crate) fn parse_labels(b: &[u8], tables: &mut Tables) -> (Option<LabelSetId>, usize) {
    let mut pairs: Vec<(StrId, StrId)> = Vec::new();
    let mut i = 0;
    loop {
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        match b.get(i) {
            None => break,
            Some(b'}') => {
                i += 1;
                break;
            }
            _ => {}
        }
        let (key, used) = read_label_token(&b[i..], b':');
        i += used;
        if b.get(i) == Some(&b':') {
            i += 1;
        }
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        let (value, used) = read_label_token(&b[i..], b',');
        i += used;
        let k = tables.intern_str(&key);
        let v = tables.intern_str(&value);
        pairs.push((k, v));
        if b.get(i) == Some(&b',') {
            i += 1;
        }
        if used == 0 && b.get(i).is_some_and(|&c| c != b'}') {
            // No progress: malformed; stop rather than loop.
            i += 1;
        }
    }
    let set = (!pairs.is_empty()).then(|| tables.intern_labels(&pairs));
    (set, i)
}

/// A quoted (Go escapes) or bare token ending before `stop` or `}`.
fn read_label_token(b: &[u8], stop: u8) -> (String, usize) {
    if b.first() == Some(&b'"') {
        let mut out = Vec::new();
        let mut i = 1;
        while i < b.len() {
            match b[i] {
                b'"' => return (String::from_utf8_lossy(&out).into_owned(), i + 1),
                b'\\' if i + 1 < b.len() => {
                    i += 1;
                    match b[i] {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'x' | b'u' | b'U' => {
                            let n = match b[i] {
                                b'x' => 2,
                                b'u' => 4,
                                _ => 8,
                            };
                            let hex = b.get(i + 1..i + 1 + n).and_then(parse_hex);
                            match hex.and_then(|h| char::from_u32(u32::try_from(h).ok()?)) {
                                Some(c) => {
                                    let mut tmp = [0; 4];
                                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                                    i += n;
                                }
                                None => out.push(b[i]),
                            }
                        }
                        c => out.push(c),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        return (String::from_utf8_lossy(&out).into_owned(), b.len());
    }
    let end = b
        .iter()
        .position(|&c| c == stop || c == b'}')
        .unwrap_or(b.len());
    (String::from_utf8_lossy(&b[..end]).trim().to_string(), end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::State;

    fn parse(s: &str) -> Snapshot {
        parse_dump(s.as_bytes()).0
    }

    #[test]
    fn header_variants() {
        let dump = "goroutine 7 gp=0xc000007c00 m=3 mp=0xc000100008 [chan receive (leaked) (scan), 5 minutes, locked to thread, synctest bubble 2 labels:{\"k\": \"v, ]: x\", \"t\": \"\\x01\"}]:\nmain.f()\n\t/a.go:1 +0x1\n\ngoroutine 8 [IO wait, 3 minutes] {k: v, k2: \"quoted value\"}:\nmain.g(...)\n\t/a.go:2\n\ngoroutine 9 gp=0xc0000 m=nil [runnable]:\nmain.h()\n\t/a.go:3 +0x2 fp=0x1 sp=0x2 pc=0x3\n";
        let s = parse(dump);
        assert_eq!(s.goroutines.len(), 3, "{:?}", s.diagnostics);
        let g = &s.goroutines[0];
        assert_eq!(g.id, 7);
        assert_eq!(g.state, State::Leaked);
        assert_eq!(g.block_class, BlockClass::ChanReceive);
        assert_eq!(g.wait_minutes, Some(5));
        assert!(g.flags.locked_to_thread && g.flags.scan && g.flags.leaked);
        assert_eq!(g.synctest_bubble, Some(2));
        assert_eq!(
            g.thread,
            Some(ThreadInfo {
                gp: 0xc000007c00,
                m: Some(3)
            })
        );
        assert_eq!(s.labels_of(g), vec![("k", "v, ]: x"), ("t", "\u{1}")]);
        assert_eq!(
            s.tables.str(g.wait_reason.unwrap_or(StrId(u32::MAX))),
            "chan receive"
        );
        let g = &s.goroutines[1];
        assert_eq!(
            (g.block_class, g.wait_minutes),
            (BlockClass::IoWait, Some(3))
        );
        assert_eq!(s.labels_of(g), vec![("k", "v"), ("k2", "quoted value")]);
        assert_eq!(
            s.frames_of(g).next().map(|f| f.kind),
            Some(FrameKind::Inlined)
        );
        let g = &s.goroutines[2];
        assert_eq!(
            g.thread,
            Some(ThreadInfo {
                gp: 0xc0000,
                m: None
            })
        );
        let f = s.frames_of(g).next().cloned();
        assert_eq!(
            f.map(|f| (f.file, f.line, f.pc_offset)),
            Some(("/a.go".into(), 3, Some(2)))
        );
        assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    }

    #[test]
    fn frames_are_interned_across_goroutines_despite_args() {
        let dump = "goroutine 1 [chan receive]:\nmain.f(0xc000010000)\n\t/a.go:1 +0x1\n\ngoroutine 2 [chan receive]:\nmain.f(0xc000020000)\n\t/a.go:1 +0x1\n";
        let s = parse(dump);
        assert_eq!(s.goroutines.len(), 2);
        assert_eq!(s.goroutines[0].stack, s.goroutines[1].stack);
        assert_eq!(s.tables.frame_count(), 1);
    }

    #[test]
    fn log_text_around_a_panic_is_skipped() {
        let dump = "2024/01/01 starting\npanic: boom [recovered]\n\tpanic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:5 +0x1d\nexit status 2\n";
        let s = parse(dump);
        assert_eq!(s.goroutines.len(), 1);
        assert_eq!(s.tables.stack(s.goroutines[0].stack).len(), 1);
    }

    #[test]
    fn truncated_last_goroutine_is_kept() {
        let dump = "goroutine 1 [running]:\nmain.main()\n\t/a.go:5 +0x1d\n\ngoroutine 2 [select]:\nmain.loop(0x1";
        let s = parse(dump);
        assert_eq!(s.goroutines.len(), 2);
        assert!(s.goroutines[1].flags.truncated);
        assert!(s
            .diagnostics
            .iter()
            .any(|d| d.message.contains("truncated")));
        let f: Vec<_> = s
            .frames_of(&s.goroutines[1])
            .map(|f| f.function.to_string())
            .collect();
        assert_eq!(f, vec!["main.loop"]);
        // Cut inside the file line: the frame is kept with what was there.
        let s = parse("goroutine 2 [select]:\nmain.loop(0x1)\n\t/a.go:1");
        let f: Vec<_> = s
            .frames_of(&s.goroutines[0])
            .map(|f| (f.function.to_string(), f.line))
            .collect();
        assert_eq!(f, vec![("main.loop".to_string(), 1)]);
        assert!(s.goroutines[0].flags.truncated);
    }

    #[test]
    fn created_by_with_and_without_parent() {
        let dump = "goroutine 3 [sleep]:\ntime.Sleep(0x1)\n\t/t.go:1 +0x1\ncreated by main.main in goroutine 1\n\t/m.go:9 +0x2\n\ngoroutine 4 [sleep]:\ntime.Sleep(0x1)\n\t/t.go:1 +0x1\ncreated by main.main\n\t/m.go:9 +0x2\n";
        let s = parse(dump);
        let cb: Vec<_> = s
            .goroutines
            .iter()
            .map(|g| {
                g.created_by
                    .map(|c| (s.tables.frame(c.frame).function.to_string(), c.goroutine))
            })
            .collect();
        assert_eq!(
            cb,
            vec![
                Some(("main.main".into(), Some(1))),
                Some(("main.main".into(), None))
            ]
        );
    }

    #[test]
    fn cgo_and_stack_unavailable() {
        let dump = "goroutine 5 [syscall]:\nnon-Go function at pc=0x7f00\nruntime.cgocall(0x1)\n\t/c.go:1 +0x1\n\ngoroutine 6 gp=0x1 m=2 mp=0x2 [running]:\n\tgoroutine running on other thread; stack unavailable\ncreated by main.main in goroutine 1\n\t/m.go:3 +0x4\n";
        let s = parse(dump);
        assert_eq!(s.goroutines.len(), 2);
        let f: Vec<_> = s
            .frames_of(&s.goroutines[0])
            .map(|f| (f.kind, f.pc_offset))
            .collect();
        assert_eq!(
            f,
            vec![(FrameKind::NonGo, Some(0x7f00)), (FrameKind::Go, Some(1))]
        );
        assert!(s.goroutines[1].flags.stack_unavailable);
        assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
    }

    #[test]
    fn synctest_and_older_release_headers() {
        // Go 1.24 said "synctest group N" and "(synctest)" wait reasons;
        // Go 1.25 says "synctest bubble N" and appends " (durable)".
        let dump = "goroutine 20 [chan receive (synctest), synctest group 3]:\nmain.a()\n\t/a.go:1 +0x1\n\n\
goroutine 21 [sync.Cond.Wait (durable), synctest bubble 4]:\nmain.b()\n\t/a.go:2 +0x1\n\n\
goroutine 22 [synctest.Wait]:\ntesting/synctest.Wait()\n\t/s.go:1 +0x1\n\n\
goroutine 23 [semacquire, 12 minutes]:\nsync.runtime_SemacquireMutex(0x1?, 0x0?, 0x1?)\n\t/sema.go:77 +0x25\nsync.(*Mutex).lockSlow(0xc0000)\n\t/mutex.go:171 +0x15d\nsync.(*Mutex).Lock(...)\n\t/mutex.go:90\nmain.c()\n\t/a.go:3 +0x1\n\n\
goroutine 24 [select (scan) (durable)]:\nmain.d()\n\t/a.go:4 +0x1\n";
        let s = parse(dump);
        assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
        let got: Vec<_> = s
            .goroutines
            .iter()
            .map(|g| {
                (
                    g.id,
                    g.block_class,
                    g.flags.durable,
                    g.synctest_bubble,
                    g.wait_minutes,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (20, BlockClass::ChanReceive, true, Some(3), None),
                (21, BlockClass::Cond, true, Some(4), None),
                (22, BlockClass::Synctest, false, None, None),
                (23, BlockClass::Mutex, false, None, Some(12)),
                (24, BlockClass::Select, true, None, None),
            ]
        );
        assert!(s.goroutines[4].flags.scan);
        assert_eq!(
            s.tables.str(s.goroutines[1].status),
            "sync.Cond.Wait (durable)"
        );
    }

    #[test]
    fn crash_dump_extras_are_skipped() {
        // SIGQUIT preamble, a system stack section, goroutine 0 and the
        // register dump that ends a GOTRACEBACK=crash dump.
        let dump = "SIGQUIT: quit\nPC=0x46d8a1 m=0 sigcode=0\n\ngoroutine 0 gp=0x5a0 m=0 mp=0x5a1 [idle]:\nruntime.futex(0x5a2, 0x80, 0x0, 0x0, 0x0, 0x0)\n\t/rt/sys_linux_amd64.s:557 +0x21 fp=0x7ff sp=0x7fe pc=0x46d8a1\n\ngoroutine 1 gp=0xc0 m=nil [sleep]:\ntime.Sleep(0x3b9aca00)\n\t/rt/time.go:300 +0x10 fp=0x1 sp=0x2 pc=0x3\nmain.main()\n\t/a.go:9 +0x1 fp=0x4 sp=0x5 pc=0x6\n\nrax    0xca\nrbx    0x0\nrip    0x46d8a1\n";
        let s = parse(dump);
        assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
        assert_eq!(s.goroutines.len(), 2);
        assert_eq!(s.goroutines[0].origin, crate::model::Origin::Runtime);
        assert_eq!(s.goroutines[0].state, State::Idle);
        assert_eq!(s.tables.stack(s.goroutines[1].stack).len(), 2);
    }

    #[test]
    fn invalid_utf8_and_crlf_are_read() {
        let mut dump =
            b"goroutine 1 [chan receive]:\r\nmain.caf\xe9(0x1)\r\n\t/a\xff.go:1 +0x1\r\n".to_vec();
        dump.extend_from_slice(
            b"\r\ngoroutine 2 [running]:\r\nmain.main()\r\n\tC:/src/main.go:7 +0x2\r\n",
        );
        let (s, _) = parse_dump(&dump[..]);
        assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);
        let f: Vec<_> = s
            .goroutines
            .iter()
            .flat_map(|g| s.frames_of(g))
            .map(|f| (f.function.to_string(), f.file.to_string(), f.line))
            .collect();
        assert_eq!(
            f,
            vec![
                (
                    "main.caf\u{fffd}".to_string(),
                    "/a\u{fffd}.go".to_string(),
                    1
                ),
                ("main.main".to_string(), "C:/src/main.go".to_string(), 7)
            ]
        );
    }

    #[test]
    fn frame_elision_styles() {
        let dump = "goroutine 1 [running]:\nmain.f()\n\t/a.go:1 +0x1\n...7 frames elided...\nmain.g()\n\t/a.go:2 +0x1\n\ngoroutine 2 [running]:\nmain.f()\n\t/a.go:1 +0x1\n...additional frames elided...\n";
        let s = parse(dump);
        assert_eq!(s.goroutines[0].elided, Elided::Count(7));
        assert_eq!(s.tables.stack(s.goroutines[0].stack).len(), 2);
        assert_eq!(s.goroutines[1].elided, Elided::Additional);
    }

    /// Review findings: real Go output the first parser version mishandled.
    #[test]
    fn generated_names_noise_lines_and_trailing_log_text() {
        // Generated equality functions print a space in their name.
        let dump = "goroutine 1 [running]:\ntype:.eq.[2]interface {}(0xc0000, 0xc0001)\n\t<autogenerated>:1 +0x2f\nmain.main()\n\t/a.go:3 +0x1\nexit status 2";
        let s = parse(dump);
        let f: Vec<_> = s
            .frames_of(&s.goroutines[0])
            .map(|f| f.function.to_string())
            .collect();
        assert_eq!(f, vec!["type:.eq.[2]interface {}", "main.main"]);
        // The unterminated log line after the block is not a truncation.
        assert!(!s.goroutines[0].flags.truncated, "{:?}", s.diagnostics);
        assert!(s.diagnostics.is_empty(), "{:?}", s.diagnostics);

        // GOTRACEBACK=crash complaints between frames stay in the block.
        let dump = "goroutine 5 [running]:\nmain.a()\n\t/a.go:1 +0x1\nruntime: g 5: unexpected return pc for main.b called from 0x0\nstack: frame={sp:0xc000, fp:0xc008} stack=[0xc000,0xd000)\n0x000000c000043f70:  0x0000000000000000  0x0000000000000001\nmain.b()\n\t/a.go:2 +0x1\n";
        let s = parse(dump);
        assert_eq!(s.goroutines.len(), 1);
        assert_eq!(s.tables.stack(s.goroutines[0].stack).len(), 2);

        // A header cut inside its status: kept, state unknown, truncated.
        let s =
            parse("goroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1\n\ngoroutine 12 [chan rec");
        assert_eq!(s.goroutines.len(), 2);
        let g = &s.goroutines[1];
        assert_eq!(
            (g.id, g.state, g.flags.truncated),
            (12, State::Unknown, true)
        );
        // Cut inside the id: the id may be incomplete, so no goroutine.
        let s = parse("goroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1\n\ngoroutine 12");
        assert_eq!(s.goroutines.len(), 1);
        assert!(s
            .diagnostics
            .iter()
            .any(|d| d.line == 5 && d.message.contains("before its id is complete")));
    }
}
