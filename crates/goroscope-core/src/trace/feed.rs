//! Where the reader's events come from: generations read from the input
//! and their batches decoded, either on the reader's own thread (a chunk
//! at a time, as the ordering needs them) or ahead of it by a helper
//! thread, which overlaps reading and decoding with the ordering (the two
//! halves of the work, on two cores).

use std::io::Read;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::sync::Mutex;

use super::wire::{self, Batch, Generation, Source};
use super::{decode, decode_error, ids_ok, Cursor, Raw, TraceError, CHUNK};

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

/// A batch decoded ahead: thread index `t`'s batch number `k`, its events
/// up to the first bad one, and why that one is bad.
struct Decoded {
    t: usize,
    k: usize,
    events: Vec<Raw>,
    err: Option<TraceError>,
    /// The first event whose ids are not in the generation
    /// (`usize::MAX`: none).
    bad: usize,
}

/// What the helper thread sends, in order: a generation (its batches
/// taken out: `counts` per thread, in `ms` order), then its decoded
/// batches, then the next generation... and last, how the input ended.
enum Msg {
    Gen {
        gen: Arc<Generation>,
        counts: Vec<usize>,
        offset: u64,
    },
    Batch(Decoded),
    End {
        error: Option<TraceError>,
        offset: u64,
    },
}

/// Event buffers the reader is done with, for the helper to fill again:
/// the last one in is the first out, still in the cache.
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

/// Decoded batches the helper may run ahead by (about 1 MB each): enough
/// to keep both threads busy, little next to a generation's own bytes.
const AHEAD: usize = 8;

/// The generations' source and the current one's batches.
pub(super) enum Feed<R> {
    /// Read and decoded on the reader's thread.
    Local {
        gens: Generations<R>,
        /// The current generation's event batches, per thread.
        threads: Vec<Vec<Batch>>,
    },
    /// Read and decoded ahead by a helper thread.
    Piped(Piped),
}

pub(super) struct Piped {
    rx: Receiver<Msg>,
    helper: Option<std::thread::JoinHandle<()>>,
    /// Closed when the helper returns.
    gone: Receiver<()>,
    /// Spent event buffers, back to the helper for reuse.
    spent: Spent,
    /// Batches that came before the reader needed them, per thread, by
    /// batch number.
    stash: Vec<Vec<Option<Decoded>>>,
    /// The input offset of the last generation read, for messages.
    offset: u64,
}

/// What [`Feed::next_generation`] found.
pub(super) enum Next {
    Gen(Arc<Generation>),
    End(Option<TraceError>),
}

impl<R: Read + Send + 'static> Feed<R> {
    /// Starts the helper thread, which takes the input from here on.
    pub(super) fn piped(gens: Generations<R>) -> Result<Feed<R>, TraceError> {
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
        Ok(Feed::Piped(Piped {
            rx,
            helper: Some(handle),
            gone,
            spent,
            stash: Vec::new(),
            offset: 0,
        }))
    }
}

/// The helper thread: reads each generation, hands it over, then decodes
/// its batches: each thread's first, then the others in the order of
/// their start times (about the order the ordering needs them in). It
/// stops when the reader is dropped.
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
        let threads = take_threads(&mut g);
        let counts = threads.iter().map(Vec::len).collect();
        let g: Arc<Generation> = g.into();
        let mut order: Vec<(u64, usize, usize)> = threads
            .iter()
            .enumerate()
            .flat_map(|(t, bs)| bs.iter().enumerate().map(move |(k, b)| (b.time, t, k)))
            .collect();
        // Every thread's first batch first: the ordering starts from all
        // of their first events. Then by start time.
        order.sort_by_key(|&(time, t, k)| (k > 0, if k > 0 { time } else { 0 }, t, k));
        let offset = gens.src.offset;
        if tx
            .send(Msg::Gen {
                gen: Arc::clone(&g),
                counts,
                offset,
            })
            .is_err()
        {
            return;
        }
        for (_, t, k) in order {
            let mut events = spent.take();
            let mut bad = usize::MAX;
            let mut at = BatchPos::default();
            let err = decode_run(
                &threads[t][k],
                &g,
                g.ms[t],
                &mut at,
                &mut events,
                usize::MAX,
                &mut bad,
            );
            let d = Decoded {
                t,
                k,
                events,
                err,
                bad,
            };
            if tx.send(Msg::Batch(d)).is_err() {
                return;
            }
        }
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

/// Decodes batch `b` of thread `m` of generation `g` from `at` onto `out`,
/// until the batch ends or `out` holds `limit` events. Times as Go: the
/// batch's base, then each delta converted and added. The first event
/// whose ids are not in `g` is marked in `bad` (its index in `out`, if
/// `bad` marks none yet); an undecodable event ends the run with its
/// error.
fn decode_run(
    b: &Batch,
    g: &Generation,
    m: i64,
    at: &mut BatchPos,
    out: &mut Vec<Raw>,
    limit: usize,
    bad: &mut usize,
) -> Option<TraceError> {
    let data = &b.data[..];
    while at.off < data.len() && out.len() < limit {
        // Go's rule, checked per event: a zero time restarts from the base.
        if at.last == 0 {
            at.last = wire::ns(g.freq, b.time);
        }
        if !decode(data, &mut at.off, g.freq, at.last, out) {
            return Some(decode_error(data, at.off, m));
        }
        let e = &out[out.len() - 1];
        at.last = e.time;
        if *bad == usize::MAX && !ids_ok(g, e) {
            *bad = out.len() - 1;
        }
    }
    None
}

impl<R: Read> Feed<R> {
    /// Where the input is, for messages.
    pub(super) fn offset(&self) -> u64 {
        match self {
            Feed::Local { gens, .. } => gens.src.offset,
            Feed::Piped(p) => p.offset,
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
            Feed::Piped(p) => loop {
                match p.rx.recv() {
                    Ok(Msg::Gen {
                        gen,
                        counts,
                        offset,
                    }) => {
                        p.offset = offset;
                        p.stash = counts.iter().map(|&n| vec_of_none(n)).collect();
                        return Next::Gen(gen);
                    }
                    // Left over from a generation cut short: not needed.
                    Ok(Msg::Batch(d)) => {
                        p.spent.put(d.events);
                    }
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
        c.pos = 0;
        c.bad = usize::MAX;
        if let Some(e) = c.err.take() {
            c.buf.clear();
            return Err(e);
        }
        match self {
            Feed::Local { threads, .. } => refill_local(&threads[c.t], g, c),
            Feed::Piped(p) => loop {
                let Some(d) = p.take(c.t, c.batch)? else {
                    c.buf.clear();
                    return Ok(false);
                };
                c.batch += 1;
                let old = std::mem::replace(&mut c.buf, d.events);
                if old.capacity() > 0 {
                    p.spent.put(old);
                }
                c.err = d.err;
                c.bad = d.bad;
                if !c.buf.is_empty() {
                    return Ok(true);
                }
                if let Some(e) = c.err.take() {
                    return Err(e);
                }
            },
        }
    }
}

/// How long a dropped reader waits for its helper to stop.
const HELPER_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

impl Drop for Piped {
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

impl Piped {
    /// Batch `k` of thread `t`, waiting for the helper if it is not here
    /// yet; `None` past the thread's last batch.
    fn take(&mut self, t: usize, k: usize) -> Result<Option<Decoded>, TraceError> {
        if k >= self.stash[t].len() {
            return Ok(None);
        }
        loop {
            if let Some(d) = self.stash[t][k].take() {
                return Ok(Some(d));
            }
            match self.rx.recv() {
                Ok(Msg::Batch(d)) if d.t < self.stash.len() && d.k < self.stash[d.t].len() => {
                    let (dt, dk) = (d.t, d.k);
                    self.stash[dt][dk] = Some(d);
                }
                Ok(_) | Err(_) => return Err(helper_gone()),
            }
        }
    }
}

fn vec_of_none(n: usize) -> Vec<Option<Decoded>> {
    (0..n).map(|_| None).collect()
}

#[cold]
fn helper_gone() -> TraceError {
    TraceError::Io(std::io::Error::other(
        "the trace decoding thread stopped unexpectedly",
    ))
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
    match decode_run(b, g, c.m, &mut c.at, &mut c.buf, CHUNK, &mut c.bad) {
        Some(e) if c.buf.is_empty() => Err(e),
        e => {
            c.err = e;
            Ok(true)
        }
    }
}
