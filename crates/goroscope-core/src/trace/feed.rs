//! Where the reader's events come from: generations read from the input
//! and their batches decoded, either on the reader's own thread (a chunk
//! at a time, as the ordering needs them) or ahead of it by a helper
//! thread, which also merges the threads' events in time order (see
//! [`Merged`]): reading, decoding and merging on one core, the scheduler
//! model on the other.

use std::io::Read;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::sync::Mutex;

use super::spec;
use super::wire::{self, Batch, Generation, Source};
use super::{decode, decode_error, ids_ok, Cursor, Head, Raw, TraceError, CHUNK};

/// Reads generation after generation, with the rules of each format
/// version for where a generation ends and when a read error shows.
pub(super) struct Generations<R> {
    pub(super) src: Source<R>,
    version: u32,
    /// Before 1.26: the first batch of the next generation, read with
    /// the last one's.
    spill: Option<Batch>,
    /// Before 1.26: an error found after a partial generation, reported
    /// after that generation's events.
    late: Option<TraceError>,
    had_gen: bool,
}

impl<R: Read> Generations<R> {
    pub(super) fn new(src: Source<R>, version: u32) -> Self {
        Generations {
            src,
            version,
            spill: None,
            late: None,
            had_gen: false,
        }
    }

    pub(super) fn version(&self) -> u32 {
        self.version
    }

    /// The next generation; `Ok(None)` at a clean end. An error ends the
    /// trace after what was read before it.
    pub(super) fn next(&mut self) -> Result<Option<Box<Generation>>, TraceError> {
        if self.version >= 26 {
            let g = wire::read_generation(&mut self.src, self.version)?;
            self.had_gen |= g.is_some();
            return Ok(g);
        }
        // Before 1.26 the partial generation before a read error is
        // returned whole; the error comes after its closing Sync.
        if let Some(e) = self.late.take() {
            return Err(e);
        }
        if self.had_gen && self.spill.is_none() {
            return Ok(None);
        }
        let (g, late) = wire::read_generation_spill(&mut self.src, &mut self.spill, self.version)?;
        self.late = late;
        self.had_gen = true;
        Ok(Some(g))
    }
}

/// Where the helper's merge was when a chunk of items began: enough for
/// the reader to take the merge over from there (see [`Merged`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Checkpoint {
    /// Cursors the merge made (the threads with events).
    pub(super) count: usize,
    /// Per cursor with events left (in `frontier`'s order): its thread's
    /// index, the batch and position its decoded chunk began at, and its
    /// place in that chunk. The others are done with.
    pub(super) cursors: Vec<(usize, usize, BatchPos, usize)>,
    pub(super) frontier: Vec<Head>,
    /// CPU samples merged before.
    pub(super) samples: usize,
}

/// What the helper thread sends, in order: a generation (its batches
/// taken out, shared), then its events merged in time order in chunks,
/// then the next generation... and last, how the input ended.
enum Msg {
    Gen {
        gen: Arc<Generation>,
        threads: Arc<Vec<Vec<Batch>>>,
        offset: u64,
        /// Why its threads' first events could not be decoded.
        err: Option<TraceError>,
    },
    Items(Items),
    End {
        error: Option<TraceError>,
        offset: u64,
    },
}

/// A chunk of the merged stream.
struct Items {
    items: Vec<Raw>,
    start: Checkpoint,
    /// The generation's last chunk; and the decoding error that ends the
    /// trace after its last event (whose step then fails).
    last: bool,
    err: Option<TraceError>,
}

/// Chunk buffers of the merged stream the reader is done with, for the
/// helper to fill again: the last one in is the first out.
#[derive(Clone, Default)]
struct Spent(Arc<Mutex<Vec<Vec<Raw>>>>);

impl Spent {
    fn put(&self, mut events: Vec<Raw>) {
        events.clear();
        if let Ok(mut list) = self.0.lock() {
            list.push(events);
        }
    }

    fn take(&self) -> Vec<Raw> {
        self.0
            .lock()
            .ok()
            .and_then(|mut list| list.pop())
            .unwrap_or_default()
    }
}

/// Chunks the helper may run ahead by (under 1 MB each): enough to keep
/// both threads busy, little next to a generation's own bytes.
const AHEAD: usize = 8;

/// Items per chunk of the merged stream: big, because what crosses
/// between cores costs least in big pieces.
const ITEMS: usize = 16 * 1024;

/// The generations' source and the current one's batches.
pub(super) enum Feed<R> {
    /// Read and decoded on the reader's thread.
    Local {
        gens: Generations<R>,
        /// The current generation's event batches, per thread.
        threads: Vec<Vec<Batch>>,
    },
    /// Read, decoded and merged in time order ahead by a helper thread.
    Merged(Merged),
}

/// The helper's side of the reader: it reads each generation, decodes
/// its threads' events and merges them in time order, as Go's reader
/// takes them when the earliest thread's next event can always happen,
/// which is nearly always. The reader orders that stream; when an event
/// cannot happen yet, it takes the generation's merge over itself from
/// the chunk's [`Checkpoint`] and goes on as on one thread.
pub(super) struct Merged {
    rx: Receiver<Msg>,
    helper: Option<std::thread::JoinHandle<()>>,
    /// Closed when the helper returns.
    gone: Receiver<()>,
    /// Spent item buffers, back to the helper for reuse.
    spent: Spent,
    /// The input offset of the last generation read, for messages.
    pub(super) offset: u64,
    /// The generation's batches, for the reader taking the merge over.
    pub(super) threads: Arc<Vec<Vec<Batch>>>,
    /// Why the generation's first events could not be decoded.
    pub(super) setup_err: Option<TraceError>,
    /// The current chunk, and where the reader is in it.
    pub(super) items: Vec<Raw>,
    pub(super) idx: usize,
    pub(super) start: Checkpoint,
    pub(super) last: bool,
    pub(super) err: Option<TraceError>,
    /// The reader has taken this generation's merge over.
    pub(super) local: bool,
}

/// What [`Feed::next_generation`] found.
pub(super) enum Next {
    Gen(Arc<Generation>),
    End(Option<TraceError>),
}

impl<R: Read + Send + 'static> Feed<R> {
    /// Starts the helper thread, which takes the input from here on.
    pub(super) fn merged(gens: Generations<R>) -> Result<Feed<R>, TraceError> {
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        let spent = Spent::default();
        let spent_helper = spent.clone();
        let (gone_tx, gone) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("trace-decode".into())
            .spawn(move || {
                // Dropped on return or panic: `gone` sees it.
                let _gone = gone_tx;
                helper(gens, &tx, &spent_helper);
            })?;
        Ok(Feed::Merged(Merged {
            rx,
            helper: Some(handle),
            gone,
            spent,
            offset: 0,
            threads: Arc::default(),
            setup_err: None,
            items: Vec::new(),
            idx: 0,
            start: Checkpoint::default(),
            last: true,
            err: None,
            local: false,
        }))
    }
}

/// The helper thread: reads each generation, hands it over, then merges
/// its events. It stops when the reader is dropped, or after an error.
fn helper<R: Read>(mut gens: Generations<R>, tx: &SyncSender<Msg>, spent: &Spent) {
    loop {
        let mut g = match gens.next() {
            Ok(Some(g)) => g,
            Ok(None) => {
                let offset = gens.src.offset;
                let _ = tx.send(Msg::End {
                    error: None,
                    offset,
                });
                return;
            }
            Err(e) => {
                let offset = gens.src.offset;
                let _ = tx.send(Msg::End {
                    error: Some(e),
                    offset,
                });
                return;
            }
        };
        let threads = Arc::new(take_threads(&mut g));
        let g: Arc<Generation> = g.into();
        let offset = gens.src.offset;
        if !merge(&threads, &g, offset, tx, spent) {
            return;
        }
    }
}

/// A cursor at the start of thread `t` (thread id `m`) of a generation.
pub(super) fn cursor(m: i64, t: usize) -> Cursor {
    Cursor {
        m,
        t,
        slot: None,
        batch: 0,
        at: BatchPos::default(),
        from: (0, BatchPos::default()),
        buf: Vec::new(),
        pos: 0,
        err: None,
    }
}

/// Merges generation `g`'s events (and CPU samples) in time order and
/// sends them; false when the reader is gone or the trace ended here.
fn merge(
    threads: &Arc<Vec<Vec<Batch>>>,
    g: &Arc<Generation>,
    offset: u64,
    tx: &SyncSender<Msg>,
    spent: &Spent,
) -> bool {
    let mut cursors = Vec::new();
    let mut frontier = Vec::new();
    let mut setup = None;
    for (t, &m) in g.ms.iter().enumerate() {
        let mut c = cursor(m, t);
        match refill_checked(&threads[t], g, &mut c) {
            Ok(true) => {
                let head = Head {
                    time: c.head().time,
                    c: cursors.len(),
                };
                cursors.push(c);
                super::heap_insert(&mut frontier, head);
            }
            Ok(false) => {}
            Err(e) => {
                setup = Some(e);
                break;
            }
        }
    }
    let failed = setup.is_some();
    let gen = Msg::Gen {
        gen: Arc::clone(g),
        threads: Arc::clone(threads),
        offset,
        err: setup,
    };
    if tx.send(gen).is_err() || failed {
        return false;
    }
    let samples = &g.cpu_samples;
    let mut cpu = 0;
    let mut items = spent.take();
    let mut start = checkpoint(&cursors, &frontier, cpu);
    let mut err = None;
    loop {
        if items.len() >= ITEMS {
            let chunk = Items {
                items,
                start,
                last: false,
                err: None,
            };
            if tx.send(Msg::Items(chunk)).is_err() {
                return false;
            }
            items = spent.take();
            start = checkpoint(&cursors, &frontier, cpu);
        }
        match pick(&frontier, samples.get(cpu).map(|s| s.time)) {
            Pick::End => break,
            Pick::Sample => {
                items.push(super::sample_item(&samples[cpu]));
                cpu += 1;
            }
            Pick::Event(k) => {
                // A run of the root thread's events, as the reader's.
                let limit =
                    super::run_limit(&frontier, samples.get(cpu).map_or(i64::MAX, |s| s.time));
                let c = &mut cursors[k];
                let mut first = true;
                loop {
                    // The events of the decoded chunk that go now, copied
                    // at once, then marked where they lie.
                    let start = c.pos;
                    let mut end = start + usize::from(first);
                    first = false;
                    let stop = c.buf.len().min(ITEMS.saturating_sub(items.len()) + start);
                    while end < stop && c.buf[end].time <= limit {
                        end += 1;
                    }
                    // Each event carries its thread and bad-id mark from
                    // its decoding.
                    items.extend_from_slice(&c.buf[start..end]);
                    c.pos = end;
                    if end < c.buf.len() {
                        super::heap_update_root(&mut frontier, c.buf[end].time);
                        break;
                    }
                    match refill_checked(&threads[c.t], g, c) {
                        Ok(true) => {
                            let t = c.head().time;
                            if t > limit || items.len() >= ITEMS {
                                super::heap_update_root(&mut frontier, t);
                                break;
                            }
                        }
                        Ok(false) => {
                            super::heap_remove(&mut frontier, 0);
                            break;
                        }
                        Err(e) => {
                            err = Some(e);
                            break;
                        }
                    }
                }
                if err.is_some() {
                    break;
                }
            }
        }
    }
    let end = err.is_some();
    let chunk = Items {
        items,
        start,
        last: true,
        err,
    };
    tx.send(Msg::Items(chunk)).is_ok() && !end
}

/// What comes next in a merge of the threads' events in time order.
pub(super) enum Pick {
    /// The next CPU sample.
    Sample,
    /// The next event of the cursor at this index.
    Event(usize),
    /// Nothing: the generation is done.
    End,
}

/// The next item of a merge: the earliest thread's next event (the heap's
/// root), or the next CPU sample (at `sample`) if it is earlier. The
/// same choice as [`Reader::step`]'s when that event can happen.
#[inline(always)]
pub(super) fn pick(frontier: &[Head], sample: Option<i64>) -> Pick {
    match frontier.first() {
        Some(h) if sample.is_none_or(|s| s >= h.time) => Pick::Event(h.c),
        _ if sample.is_some() => Pick::Sample,
        _ => Pick::End,
    }
}

/// Moves the root cursor `c` past its next event and fixes the heap:
/// Go's refresh after an event.
#[inline(always)]
pub(super) fn step_past(
    batches: &[Batch],
    g: &Generation,
    c: &mut Cursor,
    frontier: &mut Vec<Head>,
) -> Result<(), TraceError> {
    c.pos += 1;
    if c.pos == c.buf.len() && !refill_checked(batches, g, c)? {
        super::heap_remove(frontier, 0);
        return Ok(());
    }
    super::heap_update_root(frontier, c.head().time);
    Ok(())
}

/// Where a merge is, for the reader to take it over.
fn checkpoint(cursors: &[Cursor], frontier: &[Head], samples: usize) -> Checkpoint {
    Checkpoint {
        count: cursors.len(),
        cursors: frontier
            .iter()
            .map(|h| {
                let c = &cursors[h.c];
                (c.t, c.from.0, c.from.1, c.pos)
            })
            .collect(),
        frontier: frontier.to_vec(),
        samples,
    }
}

/// The generation's event batches, per thread in `ms` order.
fn take_threads(g: &mut Generation) -> Vec<Vec<Batch>> {
    let mut by_m = std::mem::take(&mut g.batches);
    g.ms.iter()
        .map(|m| by_m.remove(m).unwrap_or_default())
        .collect()
}

/// Where decoding is in a batch: the next event's offset, and the time of
/// the one before (0 at the batch's start).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct BatchPos {
    off: usize,
    last: i64,
}

/// Decodes batch `b` of thread `m` (index `t`) of generation `g` from
/// `at` onto `out`, until the batch ends or `out` holds `limit` events.
/// Times as Go: the batch's base, then each delta converted and added.
/// An event whose ids are not in `g` is marked `bad`; an undecodable
/// event ends the run with its error.
fn decode_run(
    b: &Batch,
    g: &Generation,
    (m, t): (i64, usize),
    at: &mut BatchPos,
    out: &mut Vec<Raw>,
    limit: usize,
) -> Option<TraceError> {
    let data = &b.data[..];
    let base = g.clock.ns(b.time);
    // The bytes left, walked by an iterator: one end check per byte read
    // and no index to check against the slice.
    let mut rest = data.get(at.off..).unwrap_or_default().iter();
    let mut last = at.last;
    let mut failed = false;
    while out.len() < limit && !rest.as_slice().is_empty() {
        // Go's rule, checked per event: a zero time restarts from the base.
        if last == 0 {
            last = base;
        }
        let from = rest.clone();
        if decode(&mut rest, g.clock, last, t as u32, out).is_none() {
            rest = from;
            failed = true;
            break;
        }
        if let Some(e) = out.last_mut() {
            last = e.time;
            e.bad = spec::has_ids(e.typ) && !ids_ok(g, e);
        }
    }
    at.off = data.len() - rest.as_slice().len();
    at.last = last;
    failed.then(|| decode_error(data, at.off, m))
}

impl<R: Read> Feed<R> {
    /// Where the input is, for messages.
    pub(super) fn offset(&self) -> u64 {
        match self {
            Feed::Local { gens, .. } => gens.src.offset,
            Feed::Merged(p) => p.offset,
        }
    }

    /// The next generation, its batches kept here for [`Feed::refill`].
    pub(super) fn next_generation(&mut self) -> Next {
        match self {
            Feed::Local { gens, threads } => match gens.next() {
                Ok(Some(mut g)) => {
                    *threads = take_threads(&mut g);
                    Next::Gen(g.into())
                }
                Ok(None) => Next::End(None),
                Err(e) => Next::End(Some(e)),
            },
            Feed::Merged(p) => loop {
                match p.rx.recv() {
                    Ok(Msg::Gen {
                        gen,
                        threads,
                        offset,
                        err,
                    }) => {
                        p.offset = offset;
                        p.threads = threads;
                        p.setup_err = err;
                        p.spent.put(std::mem::take(&mut p.items));
                        p.idx = 0;
                        p.last = false;
                        p.err = None;
                        p.local = false;
                        return Next::Gen(gen);
                    }
                    // Left over from a generation the reader merged itself.
                    Ok(Msg::Items(chunk)) => p.spent.put(chunk.items),
                    Ok(Msg::End { error, offset }) => {
                        p.offset = offset;
                        return Next::End(error);
                    }
                    Err(_) => return Next::End(Some(helper_gone())),
                }
            },
        }
    }

    /// Puts the cursor's next events in its buffer; false when its thread
    /// has none left. Times as Go: per-batch base, then each delta
    /// converted and added. A bad event ends the events before it: they
    /// are ordered first, then its error is returned, as if decoded one
    /// at a time.
    pub(super) fn refill(&mut self, g: &Generation, c: &mut Cursor) -> Result<bool, TraceError> {
        match self {
            Feed::Local { threads, .. } => refill_checked(&threads[c.t], g, c),
            Feed::Merged(p) => refill_checked(&p.threads[c.t], g, c),
        }
    }
}

impl Merged {
    /// Moves on to the next chunk of the current generation's stream.
    pub(super) fn next_chunk(&mut self) -> Result<(), TraceError> {
        match self.rx.recv() {
            Ok(Msg::Items(chunk)) => {
                let old = std::mem::replace(&mut self.items, chunk.items);
                self.spent.put(old);
                self.idx = 0;
                self.start = chunk.start;
                self.last = chunk.last;
                self.err = chunk.err;
                Ok(())
            }
            _ => Err(helper_gone()),
        }
    }

    /// Whether the current generation's stream is all read.
    pub(super) fn at_end(&self) -> bool {
        self.last && self.idx == self.items.len()
    }
}

/// How long a dropped reader waits for its helper to stop.
const HELPER_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

impl Drop for Merged {
    /// Stops the helper (its next hand-over fails) and waits for it, so
    /// that it does not outlive its reader; but not for long: a helper
    /// blocked reading a stalled stream is left to end with it.
    fn drop(&mut self) {
        let (_, closed) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.rx, closed));
        let stopped = matches!(
            self.gone.recv_timeout(HELPER_GRACE),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        if let (true, Some(h)) = (stopped, self.helper.take()) {
            let _ = h.join();
        }
    }
}

#[cold]
fn helper_gone() -> TraceError {
    TraceError::Io(std::io::Error::other(
        "the trace decoding thread stopped unexpectedly",
    ))
}

/// [`refill_local`], after the error that ended the cursor's last chunk.
fn refill_checked(batches: &[Batch], g: &Generation, c: &mut Cursor) -> Result<bool, TraceError> {
    c.pos = 0;
    if let Some(e) = c.err.take() {
        c.buf.clear();
        return Err(e);
    }
    refill_local(batches, g, c)
}

/// Decodes up to [`CHUNK`] of the cursor's next events from its thread's
/// batches.
fn refill_local(batches: &[Batch], g: &Generation, c: &mut Cursor) -> Result<bool, TraceError> {
    c.buf.clear();
    while c.batch < batches.len() && batches[c.batch].data.len() == c.at.off {
        c.batch += 1;
        c.at = BatchPos::default();
    }
    let Some(b) = batches.get(c.batch) else {
        return Ok(false);
    };
    c.from = (c.batch, c.at);
    match decode_run(b, g, (c.m, c.t), &mut c.at, &mut c.buf, CHUNK) {
        Some(e) if c.buf.is_empty() => Err(e),
        e => {
            c.err = e;
            Ok(true)
        }
    }
}
