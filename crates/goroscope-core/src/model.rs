//! The goroutine data model every goroscope source feeds and every view reads.
//!
//! A [`Snapshot`] is what one observation of a Go process tells: its goroutines
//! plus the interned [`Tables`] their stacks point into. The fields follow what
//! the Go runtime prints (`runtime/traceback.go`: `goroutineheader`,
//! `traceback2`, `printcreatedby1`, `printAncestorTraceback`) so nothing a dump
//! says is lost, while [`State`], [`BlockClass`] and [`Origin`] are goroscope's
//! own bounded vocabulary (see [`crate::vocab`]) shared by every later stage.
//!
//! Frames, stacks, strings and label sets are interned: a dump of a million
//! goroutines parked in the same twenty places costs twenty stacks, not a
//! million. Function arguments (`(0xc000010000, {0x1, 0x2}, ...)`) are dropped
//! on purpose: they are per-goroutine pointer values that would defeat interning
//! and no analysis uses them; only the fact that a frame was printed as
//! inlined (`(...)`) is kept.

use std::hash::Hasher as _;

use hashbrown::HashTable;
use rustc_hash::{FxHashMap, FxHasher};
use serde::Serialize;

/// Lifecycle state of a goroutine, normalised across Go releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Executing on a thread (`[running]`).
    Running,
    /// Ready to run, waiting for a P (`[runnable]`).
    Runnable,
    /// In a system call (`[syscall]`).
    Syscall,
    /// Parked; the header shows the wait reason instead of a state word.
    Waiting,
    /// Reported by the Go 1.26 goroutine leak detector (`(leaked)`).
    Leaked,
    /// Stopped by asynchronous preemption (`[preempted]`).
    Preempted,
    /// Its stack is being copied (`[copystack]`).
    Copystack,
    /// Idle or system-internal (`[idle]`, `goroutine 0`, cgo callback slots).
    Idle,
    /// Running or runnable: all a goroutine profile can say of a goroutine
    /// that is not parked or in a system call (it has no status word).
    OnCpu,
    /// A status word this version of goroscope does not know, or a profile
    /// whose frames do not tell.
    Unknown,
}

impl State {
    /// Every state, in display order.
    pub const ALL: [State; 10] = [
        State::Running,
        State::Runnable,
        State::Syscall,
        State::Waiting,
        State::Leaked,
        State::Preempted,
        State::Copystack,
        State::Idle,
        State::OnCpu,
        State::Unknown,
    ];

    /// The stable snake_case name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Runnable => "runnable",
            State::Syscall => "syscall",
            State::Waiting => "waiting",
            State::Leaked => "leaked",
            State::Preempted => "preempted",
            State::Copystack => "copystack",
            State::Idle => "idle",
            State::OnCpu => "on_cpu",
            State::Unknown => "unknown",
        }
    }
}

/// What a goroutine is blocked on: 17 values, so it can be a metric
/// label. Every Go 1.17-1.27 wait reason maps onto one (see [`crate::vocab`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockClass {
    /// Not blocked (running, runnable, preempted).
    None,
    /// Receiving from a channel.
    ChanReceive,
    /// Sending on a channel.
    ChanSend,
    /// In a `select` with cases.
    Select,
    /// Blocked for ever by construction: nil channel, `select {}`.
    NilOrForever,
    /// `sync.Mutex.Lock`.
    Mutex,
    /// `sync.RWMutex` read or write lock.
    Rwmutex,
    /// `sync.WaitGroup.Wait`.
    Waitgroup,
    /// `sync.Cond.Wait`.
    Cond,
    /// A runtime semaphore not attributable to a `sync` type.
    Semaphore,
    /// Network poller: sockets, pipes, files registered with netpoll.
    IoWait,
    /// `time.Sleep`.
    Sleep,
    /// In a system call or cgo call.
    Syscall,
    /// Runtime-internal waits: GC, finalizers, scavenger, tracer.
    GcRuntime,
    /// Parked inside a `testing/synctest` bubble.
    Synctest,
    /// A wait reason outside every class above.
    Other,
    /// Not known: a profile whose frames do not tell (debug=1 hides the
    /// runtime frames that would).
    Unknown,
}

impl BlockClass {
    /// Every class, in display order.
    pub const ALL: [BlockClass; 17] = [
        BlockClass::None,
        BlockClass::ChanReceive,
        BlockClass::ChanSend,
        BlockClass::Select,
        BlockClass::NilOrForever,
        BlockClass::Mutex,
        BlockClass::Rwmutex,
        BlockClass::Waitgroup,
        BlockClass::Cond,
        BlockClass::Semaphore,
        BlockClass::IoWait,
        BlockClass::Sleep,
        BlockClass::Syscall,
        BlockClass::GcRuntime,
        BlockClass::Synctest,
        BlockClass::Other,
        BlockClass::Unknown,
    ];

    /// The stable snake_case name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockClass::None => "none",
            BlockClass::ChanReceive => "chan_receive",
            BlockClass::ChanSend => "chan_send",
            BlockClass::Select => "select",
            BlockClass::NilOrForever => "nil_or_forever",
            BlockClass::Mutex => "mutex",
            BlockClass::Rwmutex => "rwmutex",
            BlockClass::Waitgroup => "waitgroup",
            BlockClass::Cond => "cond",
            BlockClass::Semaphore => "semaphore",
            BlockClass::IoWait => "io_wait",
            BlockClass::Sleep => "sleep",
            BlockClass::Syscall => "syscall",
            BlockClass::GcRuntime => "gc_runtime",
            BlockClass::Synctest => "synctest",
            BlockClass::Other => "other",
            BlockClass::Unknown => "unknown",
        }
    }
}

/// Whether a goroutine belongs to the Go runtime itself or to the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Started by the program (including `main`).
    User,
    /// A runtime service goroutine: GC workers, finalizer, sweeper, ...
    Runtime,
}

impl Origin {
    /// Both origins, in display order.
    pub const ALL: [Origin; 2] = [Origin::User, Origin::Runtime];

    /// The stable snake_case name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::User => "user",
            Origin::Runtime => "runtime",
        }
    }
}

/// Index of an interned [`Frame`] in [`Tables`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FrameId(pub u32);

/// Index of an interned stack (a frame sequence, innermost first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StackId(pub u32);

/// Index of an interned string (wait reasons, label keys and values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StrId(pub u32);

/// Index of an interned label set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct LabelSetId(pub u32);

/// What kind of code a frame stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// A Go function with file:line.
    Go,
    /// A Go function the compiler inlined into its caller (printed `(...)`).
    Inlined,
    /// C code reached through cgo (`non-Go function at pc=0x...`, or a
    /// symbolizer's output); `pc_offset` then holds the absolute pc if known.
    NonGo,
}

/// One interned stack frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// Fully qualified function name as Go prints it, e.g.
    /// `net/http.(*conn).serve` or `main.run[...]`.
    pub function: Box<str>,
    /// Source file path as printed (forward or back slashes kept).
    pub file: Box<str>,
    /// Source line, 0 when the dump did not print one.
    pub line: u32,
    /// `+0x..` offset of the pc from the function entry, when printed; for
    /// [`FrameKind::NonGo`] frames the absolute pc.
    pub pc_offset: Option<u64>,
    /// Go, inlined or non-Go.
    pub kind: FrameKind,
}

impl Frame {
    /// The import path of the function's package (`net/http` for
    /// `net/http.(*conn).serve`). Go's own rule: the package ends at the first
    /// dot after the last slash.
    pub fn package(&self) -> &str {
        split_function(&self.function).0
    }

    /// The receiver type of a method (`*conn` for `net/http.(*conn).serve`,
    /// `Buffer` for `bytes.Buffer.String`), or `None` for plain functions and
    /// closures. A value receiver is recognised when a second name segment
    /// follows that is not a closure suffix (`funcN`, `gowrapN`, digits).
    pub fn receiver(&self) -> Option<&str> {
        split_function(&self.function).1
    }

    /// The function name without package and receiver, e.g. `serve`.
    pub fn name(&self) -> &str {
        split_function(&self.function).2
    }
}

/// Splits a Go function name into (package, receiver, rest).
fn split_function(f: &str) -> (&str, Option<&str>, &str) {
    let after_slash = f.rfind('/').map_or(0, |i| i + 1);
    let Some(dot) = f[after_slash..].find('.').map(|i| after_slash + i) else {
        return ("", None, f);
    };
    let pkg = &f[..dot];
    let rest = &f[dot + 1..];
    if let Some(stripped) = rest.strip_prefix('(') {
        if let Some(close) = stripped.find(')') {
            let recv = &stripped[..close];
            let name = stripped[close + 1..].trim_start_matches('.');
            return (pkg, Some(recv), name);
        }
    }
    // Value receiver: `Type.Method` where Method is not a closure marker.
    if let Some(d) = top_level_dot(rest) {
        let (first, second) = (&rest[..d], &rest[d + 1..]);
        let closure = first.is_empty()
            || second.is_empty()
            || second.starts_with("func")
            || second.starts_with("gowrap")
            || second.as_bytes()[0].is_ascii_digit();
        if !closure && first != "glob" {
            return (pkg, Some(first), second);
        }
    }
    (pkg, None, rest)
}

/// The first '.' not inside `[...]` (generic instantiation lists).
fn top_level_dot(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth -= 1,
            b'.' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// How many frames the runtime left out of a printed stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case", tag = "style", content = "count")]
pub enum Elided {
    /// Nothing left out.
    #[default]
    None,
    /// Go >= 1.21: `...N frames elided...` between the first and last 50.
    Count(u32),
    /// Go <= 1.20 (and ancestors): `...additional frames elided...` after 100
    /// frames; how many is unknown.
    Additional,
}

/// Who started a goroutine (`created by F in goroutine N` + file:line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CreatedBy {
    /// The `go` statement's frame: function and call site.
    pub frame: FrameId,
    /// Parent goroutine id (printed since Go 1.21).
    pub goroutine: Option<u64>,
}

/// A `[originating from goroutine N]:` block (GODEBUG=tracebackancestors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ancestor {
    /// The ancestor goroutine's id.
    pub goroutine: u64,
    /// Its stack at the moment it created the next goroutine in the chain.
    pub stack: StackId,
    /// Frames it left out.
    pub elided: Elided,
    /// Who created the ancestor, when printed.
    pub created_by: Option<CreatedBy>,
}

/// Thread details printed by crash dumps and GOTRACEBACK=system (Go 1.22+):
/// ` gp=0x.. m=N mp=0x..` or ` m=nil`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ThreadInfo {
    /// Address of the runtime g.
    pub gp: u64,
    /// The M's id; `None` for `m=nil`.
    pub m: Option<i64>,
}

/// Bit flags from the header; each is a fact the runtime printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Flags {
    /// `, locked to thread`.
    pub locked_to_thread: bool,
    /// ` (scan)`: the GC was scanning its stack.
    pub scan: bool,
    /// ` (durable)` or a `(durable)` wait reason (synctest, Go 1.25+).
    pub durable: bool,
    /// ` (leaked)` (Go 1.26 leak detector).
    pub leaked: bool,
    /// `goroutine running on other thread; stack unavailable`.
    pub stack_unavailable: bool,
    /// The goroutine's text ended early (truncated dump).
    pub truncated: bool,
}

/// One goroutine as a dump describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Goroutine {
    /// Goroutine id (`goroutine N`).
    pub id: u64,
    /// Normalised state.
    pub state: State,
    /// The raw text between `[` and the first `,` minus flag suffixes: the
    /// wait reason when waiting, else the state word.
    pub status: StrId,
    /// The raw wait reason when the goroutine waits (or leaked), e.g.
    /// `chan receive (nil chan)`; `None` otherwise.
    pub wait_reason: Option<StrId>,
    /// What it is blocked on.
    pub block_class: BlockClass,
    /// Runtime service goroutine or program goroutine.
    pub origin: Origin,
    /// `, N minutes`; `None` when not printed (the runtime omits it below one
    /// minute and before the first GC saw the goroutine blocked), which is
    /// not the same as `Some(0)`.
    pub wait_minutes: Option<u32>,
    /// Header flags.
    pub flags: Flags,
    /// `, synctest bubble N` (Go 1.25) or `, synctest group N` (Go 1.24).
    pub synctest_bubble: Option<u64>,
    /// pprof labels, when the runtime printed them.
    pub labels: Option<LabelSetId>,
    /// Frames, innermost first.
    pub stack: StackId,
    /// Frames the runtime left out.
    pub elided: Elided,
    /// Who started it; `None` for goroutine 1 and runtime-started ones.
    pub created_by: Option<CreatedBy>,
    /// GODEBUG=tracebackancestors blocks, nearest ancestor first.
    pub ancestors: Vec<Ancestor>,
    /// Crash-dump thread details.
    pub thread: Option<ThreadInfo>,
}

/// Goroutines a goroutine profile (`/debug/pprof/goroutine` debug=0 or 1,
/// or `goroutineleak`) reports together: same stack, same labels, counted.
/// Profiles carry no goroutine ids, wait reasons, wait times or creators,
/// so a record has none either: `state` and `block_class` are inferred from
/// the frames ([`crate::vocab::infer_from_frames`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// How many goroutines share this stack and labels.
    pub count: u64,
    /// Waiting, syscall, on_cpu (running or runnable) or unknown.
    pub state: State,
    /// What the frames say they are blocked on.
    pub block_class: BlockClass,
    /// Runtime service goroutine or program goroutine.
    pub origin: Origin,
    /// Frames, innermost first (inlined calls expanded).
    pub stack: StackId,
    /// pprof labels.
    pub labels: Option<LabelSetId>,
}

/// Interned frames, stacks, strings and label sets shared by goroutines.
#[derive(Debug, Default, Clone)]
pub struct Tables {
    frames: Vec<Frame>,
    /// Frame identity keys (`name`, `loc`, kind byte) live in one arena;
    /// the table stores only ids and is probed with a hash of the parts, so
    /// a lookup never copies or allocates.
    frame_table: HashTable<FrameId>,
    frame_keys: Vec<u8>,
    /// (start in `frame_keys`, name length, location length); lengths are
    /// bounded by the parser's line limit, the start is not.
    frame_key_spans: Vec<(usize, u32, u32)>,
    /// Every stack's frames back to back; `stack_spans` says where each
    /// one is. One arena instead of a box per stack (and a second box as
    /// the index key): 100,000 distinct stacks are 2 allocations, not
    /// 200,000.
    stack_frames: Vec<FrameId>,
    stack_spans: Vec<(usize, u32)>,
    stack_table: HashTable<StackId>,
    strings: Vec<Box<str>>,
    string_index: FxHashMap<Box<str>, StrId>,
    label_sets: Vec<Box<[(StrId, StrId)]>>,
    label_index: FxHashMap<Box<[(StrId, StrId)]>, LabelSetId>,
}

impl Tables {
    /// Looks a frame up by its identity, interning `make()` if new. The
    /// identity is the function name as printed (without arguments), the
    /// location text (`file:line +0xNN`) and a kind byte; two printed frames
    /// with the same identity are the same frame. Taking the parts as slices
    /// lets the parser probe straight from its read buffer.
    pub fn intern_frame_key(
        &mut self,
        name: &[u8],
        loc: &[u8],
        kind: u8,
        make: impl FnOnce() -> Frame,
    ) -> FrameId {
        let hash = frame_hash(name, loc, kind);
        let (keys, spans) = (&self.frame_keys, &self.frame_key_spans);
        let eq = |id: &FrameId| frame_key(keys, spans, *id) == (name, loc, kind);
        if let Some(&id) = self.frame_table.find(hash, eq) {
            return id;
        }
        let id = FrameId(self.frames.len() as u32);
        self.frames.push(make());
        let start = self.frame_keys.len();
        self.frame_keys.extend_from_slice(name);
        self.frame_keys.extend_from_slice(loc);
        self.frame_keys.push(kind);
        self.frame_key_spans
            .push((start, name.len() as u32, loc.len() as u32));
        let (keys, spans) = (&self.frame_keys, &self.frame_key_spans);
        self.frame_table.insert_unique(hash, id, |id| {
            let (name, loc, kind) = frame_key(keys, spans, *id);
            frame_hash(name, loc, kind)
        });
        id
    }

    /// Whether the frame `id` has this identity (see
    /// [`Self::intern_frame_key`]); lets a caller check a guessed id
    /// without hashing.
    pub fn frame_key_is(&self, id: FrameId, name: &[u8], loc: &[u8], kind: u8) -> bool {
        frame_key(&self.frame_keys, &self.frame_key_spans, id) == (name, loc, kind)
    }

    /// Interns a frame built elsewhere (profiles, tests).
    pub fn intern_frame(&mut self, frame: Frame) -> FrameId {
        let mut loc = Vec::with_capacity(frame.file.len() + 24);
        loc.extend_from_slice(frame.file.as_bytes());
        loc.push(0);
        loc.extend_from_slice(frame.line.to_string().as_bytes());
        loc.push(0);
        if let Some(off) = frame.pc_offset {
            loc.extend_from_slice(format!("{off:x}").as_bytes());
        }
        let kind = match frame.kind {
            FrameKind::Go => b'g',
            FrameKind::Inlined => b'i',
            FrameKind::NonGo => b'c',
        };
        let name = frame.function.clone();
        // Kind bytes >= 0x80 keep these keys apart from parsed ones, whose
        // location text is shaped differently.
        self.intern_frame_key(name.as_bytes(), &loc, kind | 0x80, || frame)
    }

    /// Makes room for about `n` more stacks of `frames` frames in all.
    pub fn reserve_stacks(&mut self, n: usize, frames: usize) {
        self.stack_spans.reserve(n);
        self.stack_frames.reserve(frames);
        let (arena, spans) = (&self.stack_frames, &self.stack_spans);
        self.stack_table
            .reserve(n, |id| stack_hash(stack_of(arena, spans, *id)));
    }

    /// Interns a frame sequence.
    pub fn intern_stack(&mut self, frames: &[FrameId]) -> StackId {
        let hash = stack_hash(frames);
        let (arena, spans) = (&self.stack_frames, &self.stack_spans);
        let eq = |id: &StackId| stack_of(arena, spans, *id) == frames;
        if let Some(&id) = self.stack_table.find(hash, eq) {
            return id;
        }
        let id = StackId(self.stack_spans.len() as u32);
        self.stack_spans
            .push((self.stack_frames.len(), frames.len() as u32));
        self.stack_frames.extend_from_slice(frames);
        let (arena, spans) = (&self.stack_frames, &self.stack_spans);
        self.stack_table
            .insert_unique(hash, id, |id| stack_hash(stack_of(arena, spans, *id)));
        id
    }

    /// Interns a string.
    pub fn intern_str(&mut self, s: &str) -> StrId {
        if let Some(&id) = self.string_index.get(s) {
            return id;
        }
        let id = StrId(self.strings.len() as u32);
        let boxed: Box<str> = s.into();
        self.strings.push(boxed.clone());
        self.string_index.insert(boxed, id);
        id
    }

    /// Interns a label set (pairs kept in the printed order).
    pub fn intern_labels(&mut self, pairs: &[(StrId, StrId)]) -> LabelSetId {
        if let Some(&id) = self.label_index.get(pairs) {
            return id;
        }
        let id = LabelSetId(self.label_sets.len() as u32);
        let boxed: Box<[(StrId, StrId)]> = pairs.into();
        self.label_sets.push(boxed.clone());
        self.label_index.insert(boxed, id);
        id
    }

    /// The frame behind an id.
    pub fn frame(&self, id: FrameId) -> &Frame {
        &self.frames[id.0 as usize]
    }

    /// The frames of a stack, innermost first.
    pub fn stack(&self, id: StackId) -> &[FrameId] {
        stack_of(&self.stack_frames, &self.stack_spans, id)
    }

    /// The text behind a string id.
    pub fn str(&self, id: StrId) -> &str {
        &self.strings[id.0 as usize]
    }

    /// The pairs of a label set.
    pub fn labels(&self, id: LabelSetId) -> &[(StrId, StrId)] {
        &self.label_sets[id.0 as usize]
    }

    /// The current fill, to take a [`Self::delta_since`] later.
    pub fn mark(&self) -> TablesMark {
        TablesMark {
            frames: self.frames.len(),
            stacks: self.stack_spans.len(),
            strings: self.strings.len(),
            label_sets: self.label_sets.len(),
        }
    }

    /// Copies of the entries added since `mark`, in id order.
    pub fn delta_since(&self, mark: TablesMark) -> TablesDelta {
        let frames = (mark.frames..self.frames.len())
            .map(|i| {
                let id = FrameId(i as u32);
                let (name, loc, kind) = frame_key(&self.frame_keys, &self.frame_key_spans, id);
                let mut key = Vec::with_capacity(name.len() + loc.len() + 1);
                key.extend_from_slice(name);
                key.extend_from_slice(loc);
                key.push(kind);
                (
                    self.frames[i].clone(),
                    key.into_boxed_slice(),
                    name.len() as u32,
                    loc.len() as u32,
                )
            })
            .collect();
        TablesDelta {
            frames,
            stacks: (mark.stacks..self.stack_spans.len())
                .map(|i| self.stack(StackId(i as u32)).into())
                .collect(),
            strings: self.strings[mark.strings..].to_vec(),
            label_sets: self.label_sets[mark.label_sets..].to_vec(),
        }
    }

    /// Number of distinct frames.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Number of distinct stacks.
    pub fn stack_count(&self) -> usize {
        self.stack_spans.len()
    }
}

/// How far [`Tables`] were filled at some point; see [`Tables::delta_since`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TablesMark {
    frames: usize,
    stacks: usize,
    strings: usize,
    label_sets: usize,
}

/// The entries a [`Tables`] gained after a [`TablesMark`], in id order: what
/// a parser working on its own tables (another thread) hands over so they
/// can be merged into the shared ones with a [`Remap`].
#[derive(Debug, Default)]
pub struct TablesDelta {
    /// (frame, identity key) per new frame.
    frames: Vec<(Frame, Box<[u8]>, u32, u32)>,
    stacks: Vec<Box<[FrameId]>>,
    strings: Vec<Box<str>>,
    label_sets: Vec<Box<[(StrId, StrId)]>>,
}

/// Maps the ids of one source [`Tables`] (grown in steps and shipped as
/// [`TablesDelta`]s) onto a destination [`Tables`]. Source ids are dense, so
/// each map is a vector indexed by the source id.
#[derive(Debug, Default)]
pub struct Remap {
    frames: Vec<FrameId>,
    stacks: Vec<StackId>,
    strings: Vec<StrId>,
    label_sets: Vec<LabelSetId>,
}

impl Remap {
    /// Interns a delta's entries into `to`. Deltas of one source must come
    /// in the order they were taken.
    pub fn apply(&mut self, delta: TablesDelta, to: &mut Tables) {
        for (frame, key, name_len, loc_len) in delta.frames {
            let (name, rest) = key.split_at(name_len as usize);
            let (loc, kind) = rest.split_at(loc_len as usize);
            let id = to.intern_frame_key(name, loc, kind[0], || frame);
            self.frames.push(id);
        }
        for stack in delta.stacks {
            let mapped: Vec<FrameId> = stack.iter().map(|&f| self.frame(f)).collect();
            self.stacks.push(to.intern_stack(&mapped));
        }
        for s in delta.strings {
            self.strings.push(to.intern_str(&s));
        }
        for set in delta.label_sets {
            let mapped: Vec<(StrId, StrId)> = set
                .iter()
                .map(|&(k, v)| (self.str(k), self.str(v)))
                .collect();
            self.label_sets.push(to.intern_labels(&mapped));
        }
    }

    fn frame(&self, id: FrameId) -> FrameId {
        self.frames[id.0 as usize]
    }

    fn str(&self, id: StrId) -> StrId {
        self.strings[id.0 as usize]
    }

    fn created_by(&self, c: CreatedBy) -> CreatedBy {
        CreatedBy {
            frame: self.frame(c.frame),
            goroutine: c.goroutine,
        }
    }

    /// Rewrites every id in a goroutine from source to destination ids.
    /// Every id must come from a delta already applied.
    pub fn goroutine(&self, g: &mut Goroutine) {
        g.status = self.str(g.status);
        g.wait_reason = g.wait_reason.map(|r| self.str(r));
        g.labels = g.labels.map(|l| self.label_sets[l.0 as usize]);
        g.stack = self.stacks[g.stack.0 as usize];
        g.created_by = g.created_by.map(|c| self.created_by(c));
        for a in &mut g.ancestors {
            a.stack = self.stacks[a.stack.0 as usize];
            a.created_by = a.created_by.map(|c| self.created_by(c));
        }
    }
}

/// The stored identity (name, location, kind byte) of an interned frame.
fn frame_key<'a>(
    keys: &'a [u8],
    spans: &[(usize, u32, u32)],
    id: FrameId,
) -> (&'a [u8], &'a [u8], u8) {
    let (start, name_len, loc_len) = spans[id.0 as usize];
    let name_end = start + name_len as usize;
    let loc_end = name_end + loc_len as usize;
    (
        &keys[start..name_end],
        &keys[name_end..loc_end],
        keys[loc_end],
    )
}

/// The frames of stack `id` in the arena.
fn stack_of<'a>(arena: &'a [FrameId], spans: &[(usize, u32)], id: StackId) -> &'a [FrameId] {
    let (start, len) = spans[id.0 as usize];
    &arena[start..start + len as usize]
}

fn stack_hash(frames: &[FrameId]) -> u64 {
    let mut h = FxHasher::default();
    h.write_usize(frames.len());
    for f in frames {
        h.write_u32(f.0);
    }
    h.finish()
}

/// Hash of a frame identity; the parts are hashed with separators so
/// (`ab`, `c`) and (`a`, `bc`) differ.
fn frame_hash(name: &[u8], loc: &[u8], kind: u8) -> u64 {
    let mut h = FxHasher::default();
    h.write(name);
    h.write_usize(name.len());
    h.write(loc);
    h.write_u8(kind);
    h.finish()
}

/// Where a diagnostic points in the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// 1-based line number in the input.
    pub line: u64,
    /// What was wrong, in one sentence.
    pub message: String,
}

/// The goroutines of one observation plus the tables they point into.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Interned frames, stacks, strings, labels.
    pub tables: Tables,
    /// Goroutines in input order.
    pub goroutines: Vec<Goroutine>,
    /// What the parser could not read, with line numbers.
    pub diagnostics: Vec<Diagnostic>,
}

impl Snapshot {
    /// Label pairs of a goroutine as strings.
    pub fn labels_of(&self, g: &Goroutine) -> Vec<(&str, &str)> {
        g.labels.map_or_else(Vec::new, |id| {
            self.tables
                .labels(id)
                .iter()
                .map(|&(k, v)| (self.tables.str(k), self.tables.str(v)))
                .collect()
        })
    }

    /// The frames of a goroutine, innermost first.
    pub fn frames_of<'a>(&'a self, g: &Goroutine) -> impl Iterator<Item = &'a Frame> + 'a {
        self.tables
            .stack(g.stack)
            .iter()
            .map(move |&id| self.tables.frame(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> Frame {
        Frame {
            function: name.into(),
            file: "x.go".into(),
            line: 1,
            pc_offset: None,
            kind: FrameKind::Go,
        }
    }

    #[test]
    fn function_names_split_into_package_receiver_name() {
        let cases = [
            ("net/http.(*conn).serve", "net/http", Some("*conn"), "serve"),
            ("bytes.Buffer.String", "bytes", Some("Buffer"), "String"),
            ("main.main.func1", "main", None, "main.func1"),
            ("main.glob..func5", "main", None, "glob..func5"),
            ("main.run[...]", "main", None, "run[...]"),
            // The linker escapes dots in the last import path element.
            (
                "gopkg.in/yaml%2ev3.(*parser).parse",
                "gopkg.in/yaml%2ev3",
                Some("*parser"),
                "parse",
            ),
            ("panic", "", None, "panic"),
            ("main.worker.gowrap1", "main", None, "worker.gowrap1"),
        ];
        for (name, pkg, recv, rest) in cases {
            let fr = f(name);
            assert_eq!(
                (fr.package(), fr.receiver(), fr.name()),
                (pkg, recv, rest),
                "{name}"
            );
        }
    }

    #[test]
    fn interning_reuses_ids() {
        let mut t = Tables::default();
        let a = t.intern_frame(f("main.a"));
        let b = t.intern_frame(f("main.b"));
        assert_eq!(t.intern_frame(f("main.a")), a);
        assert_ne!(a, b);
        let s1 = t.intern_stack(&[a, b]);
        assert_eq!(t.intern_stack(&[a, b]), s1);
        assert_ne!(t.intern_stack(&[b, a]), s1);
        assert_eq!(t.stack(s1), &[a, b]);
        assert_eq!(t.intern_str("x"), t.intern_str("x"));
    }
}
