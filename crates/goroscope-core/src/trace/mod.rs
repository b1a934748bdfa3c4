//! Go execution traces (`runtime/trace`, `/debug/pprof/trace`): a reader
//! for the format of Go 1.22 to 1.26 (headers `go 1.22 trace`, `go 1.23
//! trace`, `go 1.25 trace`, `go 1.26 trace`) that returns the same events,
//! in the same order and with the same timestamps, as Go's own reader
//! (`internal/trace`, published as `golang.org/x/exp/trace`).
//!
//! It streams: one generation (about a second of the program) is in memory
//! at a time, as in Go's reader. The layers: [`wire`] reads batches and a
//! generation's tables, [`order`] merges the per-thread streams with Go's
//! scheduler model, and [`Reader`] hands out events. [`summary`] turns
//! them into time in each state and blocking latencies.

mod feed;
mod order;
pub mod spec;
pub mod summary;
mod wire;

pub use order::GoState;

use std::io::Read;
use std::sync::Arc;

use feed::{Feed, Generations, Next};
use order::{Ordering, Step};
use spec::{ev, Kind, SPECS};
use wire::{Generation, Source};

/// "No goroutine" (Go's `NoGoroutine`).
pub const NO_G: i64 = -1;
/// "No proc" (Go's `NoProc`).
pub const NO_P: i64 = -1;

/// Why a trace could not be read (further).
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Not an execution trace, or one of a version this reader does not know.
    #[error("{0}")]
    Header(String),
    /// The input ends inside a batch or generation.
    #[error(
        "the trace ends early, at byte {offset} (a download cut short?): fetch or record it again"
    )]
    Truncated {
        /// Bytes read.
        offset: u64,
    },
    /// Bytes that do not follow the format.
    #[error("corrupt trace near byte {offset}: {message}")]
    Corrupt {
        /// About where (0 when found in a generation already read).
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// Events that cannot have happened in this order.
    #[error("broken trace at {time} ns, event {event}: {message}")]
    Broken {
        /// The event's time.
        time: i64,
        /// The event's name.
        event: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The execution context of an event: goroutine, P and thread, as Go
/// reports them (the context before the event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// Goroutine id, or [`NO_G`].
    pub g: i64,
    /// P id, or [`NO_P`].
    pub p: i64,
    /// OS thread id, or -1.
    pub m: i64,
}

/// One event (plain data: it is copied, never shared).
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// The wire event type ([`spec::ev`]), or [`ev::SYNC_EVENT`].
    pub typ: u8,
    /// Nanoseconds, strictly increasing over the trace.
    pub time: i64,
    /// Where it happened.
    pub ctx: Ctx,
    /// The arguments after the timestamp, as Go's reader leaves them
    /// (GoStatus' third is `old state << 32 | status`), and in the slots
    /// the event does not use, what the ordering adds: the P's state
    /// before a ProcStatus (third) or ProcSteal (fourth); a UserTaskEnd's
    /// parent (third) and name index for [`Reader::task_name`] (fourth).
    pub args: [u64; 4],
}

impl Event {
    /// An event the ordering makes up (the parts of a GoSwitch, the steal
    /// before a GoDestroySyscall).
    pub fn made(typ: u8, time: i64, args: &[u64]) -> Event {
        let r = Raw::made(typ, time, args);
        Event {
            typ,
            time,
            ctx: Ctx {
                g: NO_G,
                p: NO_P,
                m: wire::NO_THREAD,
            },
            args: r.args,
        }
    }

    /// What kind of event it is, in Go's API terms.
    pub fn kind(&self) -> Kind {
        SPECS[self.typ as usize].kind.unwrap_or(Kind::Sync)
    }

    /// The goroutine state change this event is, if it is one:
    /// (goroutine, from, to). Same rules as Go's `Event.StateTransition`.
    pub fn go_transition(&self) -> Option<(i64, GoState, GoState)> {
        use GoState::*;
        let a = |i: usize| self.args[i] as i64;
        Some(match self.typ {
            ev::GO_CREATE => (a(0), NotExist, Runnable),
            ev::GO_CREATE_BLOCKED => (a(0), NotExist, Waiting),
            ev::GO_CREATE_SYSCALL => (a(0), NotExist, Syscall),
            ev::GO_START => (a(0), Runnable, Running),
            ev::GO_DESTROY => (self.ctx.g, Running, NotExist),
            ev::GO_DESTROY_SYSCALL => (self.ctx.g, Syscall, NotExist),
            ev::GO_STOP => (self.ctx.g, Running, Runnable),
            ev::GO_BLOCK => (self.ctx.g, Running, Waiting),
            ev::GO_UNBLOCK | ev::GO_SWITCH | ev::GO_SWITCH_DESTROY => (a(0), Waiting, Runnable),
            ev::GO_SYSCALL_BEGIN => (self.ctx.g, Running, Syscall),
            ev::GO_SYSCALL_END => (self.ctx.g, Syscall, Running),
            ev::GO_SYSCALL_END_BLOCKED => (self.ctx.g, Syscall, Runnable),
            ev::GO_STATUS | ev::GO_STATUS_STACK => {
                let packed = self.args[2];
                (
                    a(0),
                    GoState::from_u64(packed >> 32),
                    GoState::of_status(packed & 0xffff_ffff),
                )
            }
            _ => return None,
        })
    }

    /// The string id of a GoBlock/GoStop reason.
    pub fn reason_id(&self) -> Option<u64> {
        matches!(self.typ, ev::GO_BLOCK | ev::GO_STOP).then_some(self.args[0])
    }

    /// The event's own stack id (0: none).
    pub fn stack_id(&self) -> u64 {
        match SPECS[self.typ as usize].stacks.first() {
            Some(&i) if self.typ != ev::SYNC_EVENT => self.args[i as usize - 1],
            _ => 0,
        }
    }
}

/// An event as decoded from its thread's batch: what the helper thread
/// hands over and the ordering reads, two thirds of an [`Event`] (the
/// context is the ordering's to give). Every byte of it crosses between
/// cores.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw {
    pub(crate) time: i64,
    pub(crate) args: [u64; 4],
    pub(crate) typ: u8,
    /// In what would be padding: what the item of the helper's merged
    /// stream is ([`item`]); whether a stack or string id of the event is
    /// not in its generation (marked when decoded: the reader fails
    /// where it places the first such event); its thread's index in the
    /// generation.
    pub(crate) item: u8,
    pub(crate) bad: bool,
    pub(crate) t: u32,
}

/// Kinds of items in the helper's merged stream.
pub(crate) mod item {
    /// An event of thread `t`.
    pub const EVENT: u8 = 0;
    /// A CPU sample ([`super::sample_item`]).
    pub const SAMPLE: u8 = 1;
}

impl Raw {
    /// An event the ordering makes up.
    pub(crate) fn made(typ: u8, time: i64, args: &[u64]) -> Raw {
        let mut a = [0; 4];
        a[..args.len()].copy_from_slice(args);
        Raw {
            time,
            args: a,
            typ,
            item: item::EVENT,
            bad: false,
            t: 0,
        }
    }
}

/// What resolves an event's string and stack ids: the tables of its
/// generation.
pub trait Tables {
    /// A string (id 0: the empty string).
    fn string(&self, id: u64) -> Option<&str>;
    /// A stack's frames, innermost first: (function, file, line).
    fn stack(&self, id: u64) -> Vec<(&str, &str, u64)>;
}

impl<R: Read> Tables for Reader<R> {
    fn string(&self, id: u64) -> Option<&str> {
        Reader::string(self, id)
    }
    fn stack(&self, id: u64) -> Vec<(&str, &str, u64)> {
        Reader::stack(self, id)
    }
}

/// A generation's tables, kept after the reader moved on ([`Reader::tables`]).
#[derive(Clone, Default)]
pub struct GenTables(Option<Arc<Generation>>);

impl GenTables {
    /// Whether both are the same generation's.
    pub fn same(&self, other: &GenTables) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Tables for GenTables {
    fn string(&self, id: u64) -> Option<&str> {
        self.0.as_ref()?.string(id)
    }
    fn stack(&self, id: u64) -> Vec<(&str, &str, u64)> {
        stack_of(self.0.as_deref(), id)
    }
}

fn stack_of(g: Option<&Generation>, id: u64) -> Vec<(&str, &str, u64)> {
    let Some(g) = g else {
        return Vec::new();
    };
    g.stacks
        .get(&id)
        .map(|pcs| {
            pcs.iter()
                .filter_map(|pc| g.frames.get(pc))
                .map(|f| {
                    (
                        g.string(f.func).unwrap_or(""),
                        g.string(f.file).unwrap_or(""),
                        f.line,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The trace format version of a header, or why it is not one.
pub fn read_header(header: &[u8]) -> Result<u32, TraceError> {
    let not = || {
        TraceError::Header(
            "it is not a Go execution trace (no `go 1.NN trace` header): take one from /debug/pprof/trace?seconds=N".into(),
        )
    };
    if header.len() < 16 || !header.starts_with(b"go 1.") || &header[13..16] != b"\0\0\0" {
        return Err(not());
    }
    let text = std::str::from_utf8(&header[..13]).map_err(|_| not())?;
    let minor: u32 = text
        .strip_prefix("go 1.")
        .and_then(|r| r.strip_suffix(" trace"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(not)?;
    match minor {
        22 | 23 | 25 | 26 => Ok(minor),
        11 | 19 | 21 => Err(TraceError::Header(format!(
            "it is a go 1.{minor} trace, written by Go before 1.22 in the old format this reader does not support: record it with Go 1.22 or later"
        ))),
        _ => Err(TraceError::Header(format!(
            "unsupported trace version go 1.{minor} (supported: 1.22, 1.23, 1.25, 1.26; Go 1.24 writes 1.23)"
        ))),
    }
}

/// Events a cursor decodes at a time: a tight loop over a batch's bytes,
/// into a buffer small enough to stay in the L1 cache.
const CHUNK: usize = 128;

/// Events placed per [`Reader::fill`]: enough for a tight loop, few
/// enough to stay in the cache.
const OUT_CHUNK: usize = 256;

/// One thread's position in its batches.
struct Cursor {
    m: i64,
    /// The thread's index in its generation (`ms` order).
    t: usize,
    /// The thread's state slot in the ordering.
    slot: Option<usize>,
    /// The batch being decoded, and where (the helper's merge, or the
    /// reader's own on one thread or after a take-over: see `feed`).
    batch: usize,
    at: feed::BatchPos,
    /// Where `buf`'s events were decoded from (batch, position).
    from: (usize, feed::BatchPos),
    /// Decoded events; `buf[pos]` is the thread's next one.
    buf: Vec<Raw>,
    pos: usize,
    /// Why decoding stopped after `buf`'s events, if it failed.
    err: Option<TraceError>,
}

impl Cursor {
    fn head(&self) -> &Raw {
        &self.buf[self.pos]
    }
}

/// A frontier entry: the time of a cursor's next event, and the cursor.
/// The heap moves these, not the cursors.
#[derive(Debug, Clone, Copy)]
struct Head {
    time: i64,
    c: usize,
}

/// Reads events from a trace.
pub struct Reader<R> {
    feed: Feed<R>,
    version: u32,
    /// The current generation's tables (shared with the helper thread,
    /// which checks the events' ids against them).
    gen: Option<Arc<Generation>>,
    /// One cursor per thread of the generation.
    cursors: Vec<Cursor>,
    /// The cursors with events left, a heap on their next event's time.
    frontier: Vec<Head>,
    cpu: std::collections::VecDeque<wire::CpuSample>,
    /// Per thread of the generation: its id and state slot (for the
    /// helper's merged stream, whose events name their thread's index).
    threads: Vec<(i64, Option<usize>)>,
    order: Ordering,
    syncs: u64,
    done: bool,
    failed: Option<TraceError>,
    /// The final Sync was placed.
    finished: bool,
    /// The next event's index in `order.out`.
    pos: usize,
    /// `order.out`'s events of complete steps (a failed step's are
    /// dropped).
    kept: usize,
    /// How long `order.out` may grow in this fill.
    out_limit: usize,
    /// The first event placed whose ids are not in its generation: its
    /// index in `order.out`, and the error.
    invalid: Option<(usize, TraceError)>,
    /// Generations read.
    pub generations: u64,
    /// Generations whose merge the reader took over from its helper.
    takeovers: u64,
    /// The largest generation's event bytes (the reader's memory bound).
    pub max_generation_bytes: usize,
}

impl<R: Read + Send + 'static> Reader<R> {
    /// [`Reader::new`], with a helper thread that reads, decodes and
    /// merges the input in time order ahead of the ordering: the same
    /// events, sooner, on two cores.
    pub fn with_helper(inner: R) -> Result<Self, TraceError> {
        let gens = Self::header(inner)?;
        let version = gens.version();
        Ok(Self::with_feed(Feed::merged(gens)?, version))
    }
}

impl<R: Read> Reader<R> {
    /// Reads the header.
    pub fn new(inner: R) -> Result<Self, TraceError> {
        let gens = Self::header(inner)?;
        let version = gens.version();
        Ok(Self::with_feed(
            Feed::Local {
                gens,
                threads: Vec::new(),
            },
            version,
        ))
    }

    fn header(inner: R) -> Result<Generations<R>, TraceError> {
        let mut src = Source::new(inner);
        let mut header = Vec::new();
        src.bytes(16, &mut header).map_err(|e| match e {
            TraceError::Truncated { .. } => TraceError::Header(
                "it is too short to be a Go execution trace (under 16 bytes)".into(),
            ),
            e => e,
        })?;
        let version = read_header(&header)?;
        Ok(Generations::new(src, version))
    }

    fn with_feed(feed: Feed<R>, version: u32) -> Self {
        Reader {
            feed,
            version,
            gen: None,
            cursors: Vec::new(),
            frontier: Vec::new(),
            cpu: Default::default(),
            threads: Vec::new(),
            order: Ordering::default(),
            syncs: 0,
            done: false,
            failed: None,
            finished: false,
            pos: 0,
            kept: 0,
            out_limit: OUT_CHUNK,
            invalid: None,
            generations: 0,
            takeovers: 0,
            max_generation_bytes: 0,
        }
    }

    /// The name of the task a UserTaskEnd event ends (from its begin,
    /// which may be generations earlier).
    pub fn task_name(&self, e: &Event) -> &str {
        if e.typ != ev::USER_TASK_END {
            return "";
        }
        self.order.task_name(e.args[3])
    }

    /// The trace's format version (22, 23, 25 or 26).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// A string of the current generation: valid for the event just
    /// returned (a generation's events all come before the next one is
    /// read).
    pub fn string(&self, id: u64) -> Option<&str> {
        self.gen.as_ref()?.string(id)
    }

    /// The frames of a stack of the current generation, innermost first:
    /// (function, file, line).
    pub fn stack(&self, id: u64) -> Vec<(&str, &str, u64)> {
        stack_of(self.gen.as_deref(), id)
    }

    /// The current generation's tables, to resolve the ids of the events
    /// just returned after the reader has moved on (on another thread).
    pub fn tables(&self) -> GenTables {
        GenTables(self.gen.clone())
    }

    fn sync(&mut self, time: i64) -> Event {
        self.syncs += 1;
        let mut e = Event::made(ev::SYNC_EVENT, time, &[self.syncs]);
        e.ctx.m = wire::NO_THREAD;
        e
    }

    /// The next event, `Ok(None)` at the end. After an error, `Ok(None)`
    /// too: a trace is not read past its first error (as Go's reader).
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        loop {
            if let Some(&e) = self.order.out.get(self.pos) {
                self.pos += 1;
                return Ok(Some(e));
            }
            if let Some(e) = self.failed.take() {
                self.done = true;
                return Err(e);
            }
            if self.done {
                return Ok(None);
            }
            self.fill();
        }
    }

    /// The next events, in order, as many as are at hand (a few hundred);
    /// empty at the end. The same events as [`Reader::next_event`] gives
    /// one at a time, without a copy and a check per event; the tables
    /// ([`Reader::string`], [`Reader::stack`]) answer for all of them.
    pub fn next_events(&mut self) -> Result<&[Event], TraceError> {
        loop {
            let (from, to) = (self.pos, self.order.out.len());
            if from < to {
                self.pos = to;
                return Ok(&self.order.out[from..to]);
            }
            if let Some(e) = self.failed.take() {
                self.done = true;
                return Err(e);
            }
            if self.done {
                return Ok(&[]);
            }
            self.fill();
        }
    }

    /// [`Reader::next_events`] appended to `dst` (up to `limit` events in
    /// all, fewer at the end of a generation), ordered there in place
    /// rather than copied: for a reader handing events over to another
    /// thread in big chunks. Nothing appended: the end.
    pub(crate) fn next_events_into(
        &mut self,
        dst: &mut Vec<Event>,
        limit: usize,
    ) -> Result<(), TraceError> {
        loop {
            let (from, to) = (self.pos, self.order.out.len());
            if from < to {
                self.pos = to;
                dst.extend_from_slice(&self.order.out[from..to]);
                return Ok(());
            }
            if let Some(e) = self.failed.take() {
                self.done = true;
                return Err(e);
            }
            if self.done {
                return Ok(());
            }
            let before = dst.len();
            std::mem::swap(&mut self.order.out, dst);
            self.fill_to(limit.max(before + 1));
            std::mem::swap(&mut self.order.out, dst);
            self.order.out.clear();
            self.pos = 0;
            // None placed: the error or the end, next time round.
            if dst.len() > before {
                return Ok(());
            }
        }
    }

    /// Places the next events in `order.out`: up to [`OUT_CHUNK`] and
    /// within one generation (whose tables answer [`Reader::string`] for
    /// them), checked and with Go's timestamps (made strictly increasing
    /// as they are placed). An error is kept in
    /// `failed`, to be returned after the events before it.
    fn fill(&mut self) {
        self.order.out.clear();
        self.pos = 0;
        self.fill_to(OUT_CHUNK);
    }

    /// [`Reader::fill`] after what `order.out` holds already, up to
    /// `limit` events in all.
    fn fill_to(&mut self, limit: usize) {
        self.kept = self.order.out.len();
        self.out_limit = limit;
        while self.order.out.len() < limit {
            let step = if self.merging() {
                self.step_merged()
            } else {
                self.step()
            };
            match step {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    // Go returns none of a failed step's events (nor
                    // checks them).
                    self.order.out.truncate(self.kept);
                    if matches!(self.invalid, Some((k, _)) if k >= self.kept) {
                        self.invalid = None;
                    }
                    self.failed = Some(e);
                    break;
                }
            }
            if self.invalid.is_some() || self.generation_done() {
                // A bad event; or the generation's last event: the next
                // one's tables replace its own.
                break;
            }
        }
        // Go checks each event's ids as it returns it: a bad one ends the
        // reading there, before any later error. (They were checked when
        // decoded; `invalid` is the first bad one placed.)
        if let Some((k, err)) = self.invalid.take() {
            self.order.out.truncate(k);
            self.failed = Some(err);
        }
    }

    /// Places one more step's events in `order.out` (a run of the
    /// earliest thread's events, or one event when the ordering makes
    /// some up or another thread has to go first); false at the end.
    /// `kept` ends up after the last complete step's events.
    fn step(&mut self) -> Result<bool, TraceError> {
        if self.finished {
            return Ok(false);
        }
        if self.generation_done() {
            let e = self.next_generation()?;
            self.order.place(e);
            self.kept = self.order.out.len();
            return Ok(true);
        }
        let sample_at = self.cpu.front().map_or(i64::MAX, |s| s.time);
        if let feed::Pick::Sample = feed::pick(&self.frontier, self.cpu.front().map(|s| s.time)) {
            let s = self.cpu.pop_front().expect("picked");
            self.order.place(sample_event(&s));
            self.kept = self.order.out.len();
            return Ok(true);
        }
        if self.advance_run(0, sample_at)? > 0 {
            return Ok(true);
        }
        // Not ready: the others, earliest first (a stable sort, as Go's
        // insertion sort is for the few threads a trace has).
        self.frontier.sort_by_key(|h| h.time);
        for i in 1..self.frontier.len() {
            if self.advance_run(i, i64::MIN)? > 0 {
                return Ok(true);
            }
        }
        let head = self.cursors[self.frontier[0].c].head();
        Err(TraceError::Broken {
            time: head.time,
            event: SPECS[head.typ as usize].name,
            message: format!(
                "no thread's next event can happen ({} threads waiting)",
                self.frontier.len()
            ),
        })
    }

    /// Advances the events of the cursor at frontier index `i` while they
    /// are ready, then fixes the heap once: the same outcome as Go's fix
    /// after each event. At the root (`i` = 0) a run goes on while the
    /// thread's next event is no later than its children's and the next
    /// CPU sample (at `sample_at`), and then goes on from the new root,
    /// until an event is not ready, the output chunk is full or the
    /// sample is due: one loop for what would be many steps, each with a
    /// short run (2.7 events on average in a busy program). Elsewhere,
    /// one event (`sample_at` is then unused). Returns how many advanced.
    fn advance_run(&mut self, i: usize, sample_at: i64) -> Result<usize, TraceError> {
        let gen = self.gen.as_deref().expect("a generation is installed");
        let strings = |id: u64| gen.string(id).map(str::to_string);
        let mut n = 0;
        loop {
            let limit = if i == 0 {
                run_limit(&self.frontier, sample_at)
            } else {
                i64::MIN
            };
            let c = &mut self.cursors[self.frontier[i].c];
            let mut ran = 0;
            // The thread's next event time, for the heap.
            let mut last = 0;
            let more = loop {
                let before = self.order.out.len();
                if let Step::NotYet =
                    self.order
                        .advance(c.head(), c.m, c.slot, gen.gen, &strings)?
                {
                    break false;
                }
                ran += 1;
                if c.buf[c.pos].bad {
                    self.invalid = first_invalid(gen, self.feed.offset(), &self.order.out, before);
                }
                c.pos += 1;
                if c.pos == c.buf.len() && !self.feed.refill(gen, c)? {
                    heap_remove(&mut self.frontier, i);
                    self.kept = self.order.out.len();
                    return Ok(n + ran);
                }
                self.kept = self.order.out.len();
                let t = c.head().time;
                last = t;
                if self.invalid.is_some() || self.order.out.len() >= self.out_limit {
                    break false;
                }
                if t > limit {
                    break i == 0;
                }
            };
            n += ran;
            if ran > 0 {
                heap_update(&mut self.frontier, i, last);
            }
            // The next run: from the new root, if the CPU sample is not
            // due first (the step places it).
            if !more || self.frontier[0].time > sample_at {
                return Ok(n);
            }
        }
    }

    /// Whether the helper's merged stream is being ordered (not the
    /// reader's own merge).
    fn merging(&self) -> bool {
        matches!(&self.feed, Feed::Merged(p) if !p.local)
    }

    /// Whether the current generation's events are all placed.
    fn generation_done(&self) -> bool {
        match &self.feed {
            Feed::Merged(p) if !p.local => p.at_end(),
            _ => self.frontier.is_empty() && self.cpu.is_empty(),
        }
    }

    /// [`Reader::step`] on the helper's merged stream: places its items in
    /// turn while each event can happen, until the output is full, the
    /// generation ends or an event is bad. An event that cannot happen
    /// yet makes the reader take the merge over ([`Reader::take_over`]).
    fn step_merged(&mut self) -> Result<bool, TraceError> {
        if self.finished {
            return Ok(false);
        }
        let Feed::Merged(p) = &mut self.feed else {
            return self.step();
        };
        if p.at_end() {
            let e = self.next_generation()?;
            self.order.place(e);
            self.kept = self.order.out.len();
            return Ok(true);
        }
        let gen = self.gen.as_deref().expect("a generation is installed");
        let strings = |id: u64| gen.string(id).map(str::to_string);
        loop {
            if p.idx == p.items.len() {
                if p.last {
                    return Ok(true);
                }
                p.next_chunk()?;
                continue;
            }
            let e = &p.items[p.idx];
            if e.item == item::SAMPLE {
                self.order.place(sample_event(&sample_of(e)));
                p.idx += 1;
            } else {
                let (m, slot) = self.threads[e.t as usize];
                let before = self.order.out.len();
                if let Step::NotYet = self.order.advance(e, m, slot, gen.gen, &strings)? {
                    self.take_over()?;
                    return Ok(true);
                }
                if e.bad {
                    self.invalid = first_invalid(gen, p.offset, &self.order.out, before);
                }
                p.idx += 1;
                if p.idx == p.items.len() {
                    if let Some(e) = p.err.take() {
                        // Decoding the thread's next event failed: the
                        // step fails, as in Go.
                        return Err(e);
                    }
                }
            }
            self.kept = self.order.out.len();
            if self.invalid.is_some() || self.order.out.len() >= self.out_limit {
                return Ok(true);
            }
        }
    }

    /// Takes the current generation's merge over from the helper, where
    /// its stream has an event that cannot happen yet: the cursors, heap
    /// and samples as at the chunk's start, moved past the items placed
    /// since. Then [`Reader::step`] goes on as on one thread.
    fn take_over(&mut self) -> Result<(), TraceError> {
        self.takeovers += 1;
        let Feed::Merged(p) = &mut self.feed else {
            return Ok(());
        };
        let g = self.gen.clone().expect("a generation is installed");
        p.local = true;
        let start = std::mem::take(&mut p.start);
        let placed = p.idx;
        // The threads done with stay empty: the heap never names them.
        self.cursors.clear();
        self.cursors
            .resize_with(start.count, || feed::cursor(wire::NO_THREAD, 0));
        for (h, &(t, batch, at, pos)) in start.frontier.iter().zip(&start.cursors) {
            let mut c = feed::cursor(g.ms[t], t);
            c.slot = self.threads[t].1;
            c.batch = batch;
            c.at = at;
            self.feed.refill(&g, &mut c)?;
            c.pos = pos;
            self.cursors[h.c] = c;
        }
        self.frontier = start.frontier;
        self.cpu = g.cpu_samples[start.samples..].iter().copied().collect();
        for _ in 0..placed {
            let sample_at = self.cpu.front().map(|s| s.time);
            match feed::pick(&self.frontier, sample_at) {
                feed::Pick::Sample => {
                    self.cpu.pop_front();
                }
                feed::Pick::Event(c) => {
                    let c = &mut self.cursors[c];
                    let Feed::Merged(p) = &mut self.feed else {
                        return Ok(());
                    };
                    feed::step_past(&p.threads[c.t], &g, c, &mut self.frontier)?;
                }
                feed::Pick::End => break,
            }
        }
        Ok(())
    }

    fn next_generation(&mut self) -> Result<Event, TraceError> {
        match self.feed.next_generation() {
            Next::Gen(g) => self.install(g),
            Next::End(None) => Ok(self.close(None)),
            // What was read stays valid: a Sync closes it, then the error.
            Next::End(Some(e)) => Ok(self.close(Some(e))),
        }
    }

    /// The Sync that closes the trace: the last event, or the one before
    /// `error`.
    fn close(&mut self, error: Option<TraceError>) -> Event {
        self.gen = None;
        self.frontier.clear();
        self.cpu.clear();
        // `done` is set by the next call finding nothing, or the error.
        self.finished = error.is_none();
        self.failed = error;
        let t = self.order.last_ts;
        self.sync(t)
    }

    fn install(&mut self, g: Arc<Generation>) -> Result<Event, TraceError> {
        self.generations += 1;
        self.max_generation_bytes = self.max_generation_bytes.max(g.event_bytes);
        self.frontier.clear();
        self.cursors.clear();
        self.threads.clear();
        if let Feed::Merged(p) = &mut self.feed {
            // The helper merges the threads' events.
            self.cpu.clear();
            for &m in &g.ms {
                self.threads.push((m, self.order.slot(m)));
            }
            if let Some(e) = p.setup_err.take() {
                return Err(e);
            }
            let t = g.ns(g.min_ts);
            self.gen = Some(g);
            return Ok(self.sync(t));
        }
        self.cpu = g.cpu_samples.iter().copied().collect();
        for (t, &m) in g.ms.iter().enumerate() {
            let mut c = feed::cursor(m, t);
            c.slot = self.order.slot(m);
            if self.feed.refill(&g, &mut c)? {
                let head = Head {
                    time: c.head().time,
                    c: self.cursors.len(),
                };
                self.cursors.push(c);
                heap_insert(&mut self.frontier, head);
            }
        }
        let t = g.ns(g.min_ts);
        self.gen = Some(g);
        Ok(self.sync(t))
    }
}

/// Where and why the first of `out[from..]` (one step's events: the event
/// marked bad when decoded, and any the ordering made up around it) fails
/// [`validate`].
#[cold]
fn first_invalid(
    g: &Generation,
    offset: u64,
    out: &[Event],
    from: usize,
) -> Option<(usize, TraceError)> {
    (from..out.len()).find_map(|k| validate(g, offset, &out[k]).err().map(|e| (k, e)))
}

/// Whether the id at `spec::ID_ARGS` position `k` of an event of type
/// `typ` (0 and 1: stacks, 0 meaning none; 2 and 3: strings) is in the
/// generation; true where the type has none.
#[inline(always)]
fn id_ok(g: &Generation, typ: u8, args: &[u64; 4], k: usize) -> bool {
    let at = spec::ID_ARGS[typ as usize][k];
    if at == 0 {
        return true;
    }
    let id = args[at as usize - 1];
    if k < 2 {
        id == 0 || g.has_stack(id)
    } else {
        g.has_string(id)
    }
}

/// Whether the event's stack and string ids are in its generation: the
/// per-event check, [`validate`] says what is wrong.
#[inline(always)]
fn ids_ok(g: &Generation, e: &Raw) -> bool {
    // Unrolled: as a loop, its counter costs as much as the checks.
    let (t, a) = (e.typ, &e.args);
    id_ok(g, t, a, 0) && id_ok(g, t, a, 1) && id_ok(g, t, a, 2) && id_ok(g, t, a, 3)
}

/// Checks that the event's stack and string ids are in its generation
/// (`offset`: where the reader is, for the message).
#[cold]
fn validate(g: &Generation, offset: u64, e: &Event) -> Result<(), TraceError> {
    if e.typ == ev::SYNC_EVENT {
        return Ok(());
    }
    let Some(k) = (0..4).find(|&k| !id_ok(g, e.typ, &e.args, k)) else {
        return Ok(());
    };
    let what = if k < 2 { "stack" } else { "string" };
    let id = e.args[spec::ID_ARGS[e.typ as usize][k] as usize - 1];
    Err(TraceError::Corrupt {
        offset,
        message: format!(
            "event {} names {what} {id}, which is not in its generation",
            SPECS[e.typ as usize].name
        ),
    })
}

/// Decodes the event at the start of `rest` onto `out` (moving `rest`
/// past it), `last` the time of the one before it and `t` its thread's
/// index; `None` if it is not a timed event or a varint is bad or cut
/// ([`decode_error`] says which). The arguments are decoded into locals
/// and the event written once where it goes: built on the stack and
/// copied, its narrow stores would stall the wide loads of the copy.
#[inline(always)]
fn decode(
    rest: &mut std::slice::Iter<'_, u8>,
    clock: wire::Clock,
    last: i64,
    t: u32,
    out: &mut Vec<Raw>,
) -> Option<()> {
    let typ = *rest.next()?;
    let n = spec::TIMED_ARGS[typ as usize];
    if n > 4 {
        return None;
    }
    let dt = uvarint(rest)?;
    let mut arg = |k: u8| if n > k { uvarint(rest) } else { Some(0) };
    let args = [arg(0)?, arg(1)?, arg(2)?, arg(3)?];
    out.push(Raw {
        // Wrapping on overflow, as Go's integer times do.
        time: clock.ns(dt).wrapping_add(last),
        args,
        typ,
        item: item::EVENT,
        bad: false,
        t,
    });
    Some(())
}

/// Why [`decode`] failed at `data[i]`, for thread `m`.
#[cold]
fn decode_error(data: &[u8], i: usize, m: i64) -> TraceError {
    let typ = data[i];
    let message = if spec::TIMED_ARGS[typ as usize] > 4 {
        format!("event type {typ} in an event batch of thread {m}: not a timed event")
    } else {
        format!("an event of thread {m} ends in a bad or cut varint")
    };
    TraceError::Corrupt { offset: 0, message }
}

/// A uvarint from `rest` as Go's `binary.Uvarint` reads it; `None` if it
/// is cut or overflows. One-byte values (most ids) first.
#[inline(always)]
fn uvarint(rest: &mut std::slice::Iter<'_, u8>) -> Option<u64> {
    let b = *rest.next()?;
    if b < 0x80 {
        return Some(u64::from(b));
    }
    let mut v = u64::from(b & 0x7f);
    for k in 1..10 {
        let b = *rest.next()?;
        if k == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * k);
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// The CPU sample as Go's reader returns it.
fn sample_event(s: &wire::CpuSample) -> Event {
    let mut e = Event::made(ev::CPU_SAMPLE, s.time, &[s.stack]);
    e.ctx = Ctx {
        g: s.g,
        p: s.p,
        m: s.m,
    };
    e
}

/// A CPU sample as an item of the helper's merged stream: its stack,
/// goroutine, P and thread as the arguments ([`sample_of`] reads it).
fn sample_item(s: &wire::CpuSample) -> Raw {
    let mut e = Raw::made(ev::CPU_SAMPLE, s.time, &[]);
    e.args = [s.stack, s.g as u64, s.p as u64, s.m as u64];
    e.item = item::SAMPLE;
    e
}

/// The CPU sample a [`sample_item`] carries.
fn sample_of(e: &Raw) -> wire::CpuSample {
    wire::CpuSample {
        time: e.time,
        stack: e.args[0],
        g: e.args[1] as i64,
        p: e.args[2] as i64,
        m: e.args[3] as i64,
    }
}

/// How late the root thread's events may go on in one run: while no
/// later than its children's next events and the next CPU sample (at
/// `sample_at`), the heap would not change (Go fixes it after each).
fn run_limit(frontier: &[Head], sample_at: i64) -> i64 {
    let children = frontier.iter().skip(1).take(2).map(|h| h.time);
    children.fold(sample_at, i64::min)
}

// A binary min-heap on the cursors' next event times, with Go's sift
// rules (strict comparisons), so that ties resolve the same way.

fn heap_insert(h: &mut Vec<Head>, c: Head) {
    h.push(c);
    let last = h.len() - 1;
    let i = sift_up(h, last, c.time);
    h[i] = c;
}

/// Gives entry `i` the time `t` (not written before: the sifts take it
/// as a value, because loading the entry whole just after a store to its
/// time stalls on the store) and restores the heap.
fn heap_update(h: &mut [Head], i: usize, t: i64) {
    let e = Head { time: t, c: h[i].c };
    let j = sift_up(h, i, t);
    if j != i {
        h[j] = e;
        return;
    }
    sift_down(h, i, e);
}

fn heap_remove(h: &mut Vec<Head>, mut i: usize) {
    while i > 0 {
        h.swap((i - 1) / 2, i);
        i = (i - 1) / 2;
    }
    let last = h.len() - 1;
    h.swap(0, last);
    h.pop();
    if let Some(&e) = h.first() {
        sift_down(h, 0, e);
    }
}

// Both sifts move a hole, not the entry.

/// Moves the hole at `i` up past the parents later than `t`; where it
/// ends, for the caller to fill.
fn sift_up(h: &mut [Head], mut i: usize, t: i64) -> usize {
    while i > 0 && h[(i - 1) / 2].time > t {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    i
}

/// Moves `e`, whose place is the hole at `i`, down past its earlier
/// children, and puts it there.
/// Go's rule: the right child only if strictly earlier than the left,
/// and down only past a strictly earlier child.
#[inline(always)]
fn sift_down(h: &mut [Head], mut i: usize, e: Head) {
    let n = h.len();
    loop {
        let l = 2 * i + 1;
        if l >= n {
            break;
        }
        let r = l + 1;
        let m = if r < n && h[r].time < h[l].time { r } else { l };
        if h[m].time >= e.time {
            break;
        }
        h[i] = h[m];
        i = m;
    }
    h[i] = e;
}

/// [`heap_update`] at the root, which can only move down: the merge's
/// fix after each run.
#[inline(always)]
fn heap_update_root(h: &mut [Head], t: i64) {
    let e = Head { time: t, c: h[0].c };
    sift_down(h, 0, e);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uvarint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn batch(out: &mut Vec<u8>, m: u64, time: u64, data: &[u8]) {
        out.push(ev::EVENT_BATCH);
        for v in [1, m, time, data.len() as u64] {
            uvarint(out, v);
        }
        out.extend_from_slice(data);
    }

    fn event(data: &mut Vec<u8>, typ: u8, dt: u64, args: &[u64]) {
        data.push(typ);
        uvarint(data, dt);
        for &a in args {
            uvarint(data, a);
        }
    }

    /// A Go 1.26 trace of one generation (1 tick = 1 ns): two threads,
    /// each running its goroutine through `n` stops and starts, the two
    /// interleaved in time, with CPU samples among them; then thread 1
    /// unblocks goroutine 2 at a time before thread 2 blocks it, as when
    /// clocks disagree: the earliest event cannot happen yet, the other
    /// thread's must go first.
    fn skewed_trace(n: u64) -> Vec<u8> {
        let mut t = b"go 1.26 trace\0\0\0".to_vec();
        let mut sync = vec![ev::SYNC, ev::FREQUENCY];
        uvarint(&mut sync, 1_000_000_000);
        sync.push(ev::CLOCK_SNAPSHOT);
        for v in [0, 1, 1, 1] {
            uvarint(&mut sync, v);
        }
        batch(&mut t, 0, 100, &sync);
        let mut strings = vec![ev::STRINGS, ev::STRING, 1, 4];
        strings.extend_from_slice(b"test");
        batch(&mut t, 0, 100, &strings);
        let mut samples = vec![ev::CPU_SAMPLES];
        for k in 0..50 {
            samples.push(ev::CPU_SAMPLE);
            for v in [100 + k * 4 * n / 50, 1, 0, 1, 0] {
                uvarint(&mut samples, v);
            }
        }
        batch(&mut t, 0, 100, &samples);
        for (m, p, g, base) in [(1, 0, 1, 100), (2, 1, 2, 101)] {
            // (type, time, arguments), then in batches under Go's 64 KB.
            let mut evs = vec![
                (ev::PROC_STATUS, base, vec![p, 1]),
                (ev::GO_STATUS, base + 1, vec![g, m, 2]),
            ];
            for k in 1..=n {
                evs.push((ev::GO_STOP, base + 4 * k - 1, vec![1, 0]));
                evs.push((ev::GO_START, base + 4 * k + 1, vec![g, k]));
            }
            let end = base + 4 * n + 1;
            evs.push(if m == 1 {
                (ev::GO_UNBLOCK, end + 1, vec![2, n + 1, 0])
            } else {
                (ev::GO_BLOCK, end + 10, vec![1, 0])
            });
            for part in evs.chunks(4_000) {
                let mut d = Vec::new();
                let mut last = part[0].1;
                for (typ, time, args) in part {
                    event(&mut d, *typ, time - last, args);
                    last = *time;
                }
                batch(&mut t, m, part[0].1, &d);
            }
        }
        t.push(ev::END_OF_GENERATION);
        t
    }

    /// The same trace, its only thread's first event cut in its varint.
    fn cut_trace() -> Vec<u8> {
        let mut t = skewed_trace(1);
        let at = t.len() - 1;
        t.truncate(at);
        batch(&mut t, 3, 500, &[ev::GO_STATUS, 0xff]);
        t.push(ev::END_OF_GENERATION);
        t
    }

    #[test]
    fn the_clock_shortcut_converts_as_go_does() {
        // Linux amd64 and arm64 ticks, one tick a nanosecond, the largest
        // shift, and frequencies that take the float path.
        let freqs = [
            64.0,
            16.0,
            1.0,
            1024.0,
            2048.0,
            0.5,
            3.0,
            63.99,
            1.0 / (15_625_001.0 / 1e9),
        ];
        let mut ticks: Vec<u64> = (0..2000).collect();
        for k in 40..64 {
            let b = 1u64 << k;
            ticks.extend([
                b - 3,
                b - 1,
                b,
                b + 1,
                b + 3,
                b | 0x5555,
                u64::MAX >> (63 - k),
            ]);
        }
        ticks.extend([
            u64::MAX,
            u64::MAX - 1,
            (1 << 53) - 1,
            1 << 53,
            (1 << 53) + 1,
        ]);
        for f in freqs {
            let c = wire::Clock::new(f);
            for &t in &ticks {
                assert_eq!(c.ns(t), wire::ns(f, t), "freq {f}, ticks {t}");
            }
        }
    }

    #[test]
    fn an_error_before_any_event_of_a_chunk_is_not_the_end() {
        let trace = cut_trace();
        let mut one = summary::Summary::new(true);
        let want = one
            .read(&mut Reader::new(&trace[..]).expect("header"))
            .map_err(|e| e.to_string());
        assert!(want.is_err(), "the cut event is an error");
        let mut piped = summary::Summary::new(true);
        let r = Reader::with_helper(std::io::Cursor::new(trace)).expect("header");
        let got = piped.read_piped(r).map_err(|e| e.to_string());
        assert_eq!(want, got);
        assert_eq!(one.total_events, piped.total_events);
    }

    fn events<R: Read>(mut r: Reader<R>) -> (Vec<String>, u64) {
        let mut out = Vec::new();
        while let Some(e) = r.next_event().expect("a good trace") {
            out.push(format!("{e:?}"));
        }
        (out, r.takeovers)
    }

    #[test]
    fn the_reader_takes_the_merge_over_where_an_event_must_wait() {
        // Past the helper's first chunks, so that the take-over starts
        // from a chunk's checkpoint and replays what came before.
        let trace = skewed_trace(12_000);
        let (one, _) = events(Reader::new(&trace[..]).expect("header"));
        let (two, takeovers) =
            events(Reader::with_helper(std::io::Cursor::new(trace)).expect("header"));
        assert_eq!(takeovers, 1, "the skewed unblock is where it takes over");
        assert_eq!(one.len(), two.len());
        assert!(one == two, "the same events in the same order");
        // Syncs, 2 statuses each, 2n stops and starts each, the block and
        // unblock, the samples.
        assert_eq!(one.len(), 2 + 2 * (2 + 2 * 12_000) + 2 + 50);
        let at = |typ: u8| {
            one.iter()
                .position(|e| e.starts_with(&format!("Event {{ typ: {typ},")))
        };
        let (block, unblock) = (at(ev::GO_BLOCK), at(ev::GO_UNBLOCK));
        assert!(block.is_some() && block < unblock, "{block:?} {unblock:?}");
    }
}
