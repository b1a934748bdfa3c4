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

mod order;
pub mod spec;
pub mod summary;
mod wire;

pub use order::GoState;

use std::io::Read;

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
        let mut a = [0; 4];
        a[..args.len()].copy_from_slice(args);
        Event {
            typ,
            time,
            ctx: Ctx {
                g: NO_G,
                p: NO_P,
                m: wire::NO_THREAD,
            },
            args: a,
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
    /// Index of the thread's batches in `Reader::threads`.
    t: usize,
    /// The thread's state slot in the ordering.
    slot: Option<usize>,
    batch: usize,
    off: usize,
    last: i64,
    /// Decoded events (context: the thread only); `buf[pos]` is the
    /// thread's next one.
    buf: Vec<Event>,
    pos: usize,
    /// Why decoding stopped after `buf`'s events, if it failed.
    err: Option<TraceError>,
}

impl Cursor {
    fn head(&self) -> &Event {
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
    src: Source<R>,
    version: u32,
    gen: Option<Box<Generation>>,
    /// The current generation's event batches, per thread.
    threads: Vec<Vec<wire::Batch>>,
    /// One cursor per thread of the generation.
    cursors: Vec<Cursor>,
    /// The cursors with events left, a heap on their next event's time.
    frontier: Vec<Head>,
    cpu: std::collections::VecDeque<wire::CpuSample>,
    order: Ordering,
    last_ts: i64,
    syncs: u64,
    done: bool,
    spill: Option<wire::Batch>,
    /// An error found after a partial generation (old formats), reported
    /// after that generation's events and a Sync.
    late: Option<TraceError>,
    failed: Option<TraceError>,
    /// The final Sync was placed.
    finished: bool,
    /// The next event's index in `order.out`.
    pos: usize,
    /// Generations read.
    pub generations: u64,
    /// The largest generation's event bytes (the reader's memory bound).
    pub max_generation_bytes: usize,
}

impl<R: Read> Reader<R> {
    /// Reads the header.
    pub fn new(inner: R) -> Result<Self, TraceError> {
        let mut src = Source::new(inner);
        let mut header = Vec::new();
        src.bytes(16, &mut header).map_err(|e| match e {
            TraceError::Truncated { .. } => TraceError::Header(
                "it is too short to be a Go execution trace (under 16 bytes)".into(),
            ),
            e => e,
        })?;
        let version = read_header(&header)?;
        Ok(Reader {
            src,
            version,
            gen: None,
            threads: Vec::new(),
            cursors: Vec::new(),
            frontier: Vec::new(),
            cpu: Default::default(),
            order: Ordering::default(),
            last_ts: 0,
            syncs: 0,
            done: false,
            spill: None,
            late: None,
            failed: None,
            finished: false,
            pos: 0,
            generations: 0,
            max_generation_bytes: 0,
        })
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
        let Some(g) = &self.gen else {
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

    fn sync(&mut self, time: i64) -> Event {
        self.syncs += 1;
        let mut e = Event::made(ev::SYNC_EVENT, time, &[self.syncs]);
        e.ctx.m = wire::NO_THREAD;
        e
    }

    /// The next event, `Ok(None)` at the end.
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

    /// Places the next events in `order.out`: up to [`OUT_CHUNK`] and
    /// within one generation (whose tables answer [`Reader::string`] for
    /// them), checked and with Go's timestamps. An error is kept in
    /// `failed`, to be returned after the events before it.
    fn fill(&mut self) {
        self.order.out.clear();
        self.pos = 0;
        let mut checked = 0;
        while self.order.out.len() < OUT_CHUNK {
            let before = self.order.out.len();
            match self.step() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    // Go returns none of a failed step's events.
                    self.order.out.truncate(before);
                    self.failed = Some(e);
                    break;
                }
            }
            let out = &mut self.order.out;
            while checked < out.len() {
                let e = &mut out[checked];
                if let Err(err) = validate(self.gen.as_deref(), self.src.offset, e) {
                    out.truncate(checked);
                    self.failed = Some(err);
                    return;
                }
                if e.time <= self.last_ts {
                    e.time = self.last_ts + 1;
                }
                self.last_ts = e.time;
                checked += 1;
            }
            if self.frontier.is_empty() && self.cpu.is_empty() {
                // The generation's last event: the next one's tables
                // replace its own.
                break;
            }
        }
    }

    /// Places one more event (or a few, when the ordering makes some up) in
    /// `order.out`; false at the end.
    fn step(&mut self) -> Result<bool, TraceError> {
        if self.finished {
            return Ok(false);
        }
        if self.frontier.is_empty() && self.cpu.is_empty() {
            let e = self.next_generation()?;
            self.order.out.push(e);
            return Ok(true);
        }
        if let Some(s) = self.cpu.front() {
            if self.frontier.is_empty() || s.time < self.frontier[0].time {
                let s = self.cpu.pop_front().expect("checked");
                let mut e = Event::made(ev::CPU_SAMPLE, s.time, &[s.stack]);
                e.ctx = Ctx {
                    g: s.g,
                    p: s.p,
                    m: s.m,
                };
                self.order.out.push(e);
                return Ok(true);
            }
        }
        if self.frontier.is_empty() {
            return Err(TraceError::Corrupt {
                offset: self.src.offset,
                message: "no thread has events left but the ordering waits for some".into(),
            });
        }
        if !self.try_advance(0)? {
            // Not ready: the others, earliest first (a stable sort, as
            // Go's insertion sort is for the few threads a trace has).
            self.frontier.sort_by_key(|h| h.time);
            let mut advanced = false;
            for i in 1..self.frontier.len() {
                if self.try_advance(i)? {
                    advanced = true;
                    break;
                }
            }
            if !advanced {
                let head = self.cursors[self.frontier[0].c].head();
                return Err(TraceError::Broken {
                    time: head.time,
                    event: SPECS[head.typ as usize].name,
                    message: format!(
                        "no thread's next event can happen ({} threads waiting)",
                        self.frontier.len()
                    ),
                });
            }
        }
        Ok(true)
    }

    fn try_advance(&mut self, i: usize) -> Result<bool, TraceError> {
        let gen = self.gen.as_ref().expect("a generation is installed");
        let strings = |id: u64| gen.string(id).map(str::to_string);
        let c = &mut self.cursors[self.frontier[i].c];
        match self.order.advance(c.head(), c.slot, gen.gen, &strings)? {
            Step::NotYet => return Ok(false),
            Step::Done => {}
        }
        c.pos += 1;
        if c.pos == c.buf.len() && !refill(&self.threads[c.t], gen.freq, c)? {
            heap_remove(&mut self.frontier, i);
        } else {
            self.frontier[i].time = c.head().time;
            heap_update(&mut self.frontier, i);
        }
        Ok(true)
    }

    fn next_generation(&mut self) -> Result<Event, TraceError> {
        let read = if self.version < 26 {
            // Before 1.26 the partial generation before a read error is
            // returned whole; the error comes after its closing Sync.
            if let Some(e) = self.late.take() {
                return Ok(self.close(Some(e)));
            }
            if self.gen.is_some() && self.spill.is_none() {
                return Ok(self.close(None));
            }
            wire::read_generation_spill(&mut self.src, &mut self.spill, self.version).map(
                |(g, late)| {
                    self.late = late;
                    Some(g)
                },
            )
        } else {
            wire::read_generation(&mut self.src, self.version)
        };
        match read {
            Ok(Some(g)) => self.install(g),
            Ok(None) => Ok(self.close(None)),
            // What was read stays valid: a Sync closes it, then the error.
            Err(e) => Ok(self.close(Some(e))),
        }
    }

    /// The Sync that closes the trace: the last event, or the one before
    /// `error`.
    fn close(&mut self, error: Option<TraceError>) -> Event {
        self.gen = None;
        self.frontier.clear();
        self.cpu.clear();
        self.spill = None;
        self.late = None;
        // `done` is set by the next call finding nothing, or the error.
        self.finished = error.is_none();
        self.failed = error;
        let t = self.last_ts;
        self.sync(t)
    }

    fn install(&mut self, mut g: Box<Generation>) -> Result<Event, TraceError> {
        self.generations += 1;
        self.max_generation_bytes = self.max_generation_bytes.max(g.event_bytes);
        self.cpu = g.cpu_samples.iter().copied().collect();
        self.frontier.clear();
        self.cursors.clear();
        let mut by_m = std::mem::take(&mut g.batches);
        self.threads =
            g.ms.iter()
                .map(|m| by_m.remove(m).unwrap_or_default())
                .collect();
        for (t, &m) in g.ms.iter().enumerate() {
            let mut c = Cursor {
                m,
                t,
                slot: self.order.slot(m),
                batch: 0,
                off: 0,
                last: 0,
                buf: Vec::with_capacity(CHUNK),
                pos: 0,
                err: None,
            };
            if refill(&self.threads[t], g.freq, &mut c)? {
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

/// Checks that the event's stack and string ids are in its generation
/// (`offset`: where the reader is, for the message).
#[inline]
fn validate(g: Option<&Generation>, offset: u64, e: &Event) -> Result<(), TraceError> {
    if e.typ == ev::SYNC_EVENT {
        return Ok(());
    }
    let Some(g) = g else { return Ok(()) };
    let spec = &SPECS[e.typ as usize];
    for &i in spec.stacks {
        let id = e.args[i as usize - 1];
        if id != 0 && !g.has_stack(id) {
            return Err(TraceError::Corrupt {
                offset,
                message: format!(
                    "event {} names stack {id}, which is not in its generation",
                    spec.name
                ),
            });
        }
    }
    for &i in spec.strings {
        let id = e.args[i as usize - 1];
        if !g.has_string(id) {
            return Err(TraceError::Corrupt {
                offset,
                message: format!(
                    "event {} names string {id}, which is not in its generation",
                    spec.name
                ),
            });
        }
    }
    Ok(())
}

/// Decodes the cursor's next events from its thread's batches, up to
/// [`CHUNK`]; false when they are exhausted. Times as Go: per-batch base,
/// then each delta converted and added. A bad event ends the chunk: the
/// events before it are ordered first, then its error is returned, as if
/// decoded one at a time.
fn refill(batches: &[wire::Batch], freq: f64, c: &mut Cursor) -> Result<bool, TraceError> {
    c.buf.clear();
    c.pos = 0;
    if let Some(e) = c.err.take() {
        return Err(e);
    }
    while c.batch < batches.len() && batches[c.batch].data.len() == c.off {
        c.batch += 1;
        c.off = 0;
        c.last = 0;
    }
    let Some(b) = batches.get(c.batch) else {
        return Ok(false);
    };
    let data = &b.data[..];
    let mut i = c.off;
    while i < data.len() && c.buf.len() < CHUNK {
        // Go's rule, checked per event: a zero time restarts from the base.
        if c.last == 0 {
            c.last = wire::ns(freq, b.time);
        }
        match decode(data, &mut i, freq, c.last, c.m) {
            Some(r) => {
                c.off = i;
                c.last = r.time;
                c.buf.push(r);
            }
            None if c.buf.is_empty() => return Err(decode_error(data, i, c.m)),
            None => {
                c.err = Some(decode_error(data, i, c.m));
                break;
            }
        }
    }
    Ok(true)
}

/// The event at `data[*i]` of thread `m`, `last` the time of the one
/// before it; `None`
/// if it is not a timed event or a varint is bad or cut ([`decode_error`]
/// says which).
#[inline(always)]
fn decode(data: &[u8], i: &mut usize, freq: f64, last: i64, m: i64) -> Option<Event> {
    let typ = *data.get(*i)?;
    let n = spec::TIMED_ARGS[typ as usize];
    if n > 4 {
        return None;
    }
    let mut j = *i + 1;
    let dt = varint_at(data, &mut j)?;
    let mut args = [0u64; 4];
    for a in &mut args[..n as usize] {
        *a = varint_at(data, &mut j)?;
    }
    *i = j;
    Some(Event {
        typ,
        time: wire::ns(freq, dt) + last,
        ctx: Ctx {
            g: NO_G,
            p: NO_P,
            m,
        },
        args,
    })
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

/// A uvarint at `data[*i]` as Go's `binary.Uvarint` reads it; `None` if it
/// is cut or overflows. One-byte values (most deltas and ids) first.
#[inline(always)]
fn varint_at(data: &[u8], i: &mut usize) -> Option<u64> {
    let b = *data.get(*i)?;
    if b < 0x80 {
        *i += 1;
        return Some(u64::from(b));
    }
    let mut v = 0u64;
    for k in 0..10 {
        let b = *data.get(*i)?;
        *i += 1;
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

// A binary min-heap on the cursors' next event times, with Go's sift
// rules (strict comparisons), so that ties resolve the same way.

fn heap_insert(h: &mut Vec<Head>, c: Head) {
    h.push(c);
    let i = h.len() - 1;
    sift_up(h, i);
}

fn heap_update(h: &mut [Head], i: usize) {
    if sift_up(h, i) != i {
        return;
    }
    sift_down(h, i);
}

fn heap_remove(h: &mut Vec<Head>, mut i: usize) {
    while i > 0 {
        h.swap((i - 1) / 2, i);
        i = (i - 1) / 2;
    }
    let last = h.len() - 1;
    h.swap(0, last);
    h.pop();
    sift_down(h, 0);
}

fn sift_up(h: &mut [Head], mut i: usize) -> usize {
    while i > 0 && h[(i - 1) / 2].time > h[i].time {
        h.swap((i - 1) / 2, i);
        i = (i - 1) / 2;
    }
    i
}

fn sift_down(h: &mut [Head], mut i: usize) {
    loop {
        let mut m = i;
        let mut min = if i < h.len() { h[i].time } else { i64::MAX };
        for j in [2 * i + 1, 2 * i + 2] {
            if j < h.len() && h[j].time < min {
                min = h[j].time;
                m = j;
            }
        }
        if m == i {
            return;
        }
        h.swap(i, m);
        i = m;
    }
}
