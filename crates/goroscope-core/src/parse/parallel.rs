//! One dump parsed on several cores, with the same result as [`DumpParser`].
//!
//! The reading thread cuts the input into chunks that end right after a
//! blank line. A blank line ends every goroutine block, so the parser's
//! state there is clean (no goroutine in progress, no pending frame): a
//! fresh parser started on the next line reads exactly what the sequential
//! one would. Worker threads parse chunks into their own [`Tables`]; the
//! reading thread takes the results back in input order, merges each
//! worker's new table entries into the caller's tables ([`Remap`]) and
//! hands goroutines out one at a time, so goroutine order, first-seen
//! order, crash-dump duplicate removal and diagnostics (line numbers,
//! the 1000 cap) are those of a sequential parse. Tests check this
//! equivalence on every fixture and on generated input cut into tiny
//! chunks.
//!
//! A regular file is not read by the cutting thread at all: it only
//! probes a few bytes around each cut ([`ParallelDumpParser::from_file`]),
//! and each worker reads its own byte range (`pread`), so the copy out of
//! the page cache is spread over the cores and the bytes are still in that
//! core's cache when they are parsed.
//!
//! An input with no blank line for 4 MiB (one enormous
//! goroutine, or log text without paragraphs) cannot be cut safely there:
//! from that point the rest is parsed sequentially on the reading thread.
//! Memory stays bounded: at most `2 x threads` chunks are in flight, and
//! threads are capped at [`MAX_THREADS`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};

use rustc_hash::FxHashSet;

use super::lines::MAX_LINE;
use super::text::push_diag;
use super::DumpParser;
use crate::model::{Diagnostic, Goroutine, Remap, Tables, TablesDelta};

/// Chunks stay shorter than [`MAX_LINE`], so no line in one is long enough
/// for the sequential reader to split it: lines are the same either way.
const CHUNK_MAX: usize = MAX_LINE - 1;

/// Most parser threads: with 2 chunks of at most 4 MiB in flight per thread,
/// a bound on memory whatever `--threads` asks.
pub const MAX_THREADS: usize = 64;

/// Default chunk size: large enough that per-chunk costs (a channel
/// message, a table delta) vanish, small enough that two workers start
/// within a millisecond and memory stays at a few MiB.
pub const DEFAULT_CHUNK: usize = 1 << 20;

/// How a [`ParallelDumpParser`] splits its work.
#[derive(Debug, Clone, Copy)]
pub struct ParallelOptions {
    /// Worker threads; 0 = one per available core, 1 = parse on the
    /// calling thread (no workers at all).
    pub threads: usize,
    /// Bytes per chunk before it is cut at the last blank line (tests use
    /// tiny chunks to cut everywhere). Capped at 2 MiB.
    pub chunk_size: usize,
}

impl Default for ParallelOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            chunk_size: DEFAULT_CHUNK,
        }
    }
}

struct Job {
    seq: u64,
    work: Work,
}

enum Work {
    /// Bytes already read.
    Bytes(Vec<u8>),
    /// A byte range of a file, read by the worker into its own buffer.
    Range {
        file: Arc<File>,
        start: u64,
        len: usize,
    },
}

/// Where the bytes come from.
enum Source<R> {
    /// Read by the cutting thread and handed over.
    Stream { reader: Option<R>, carry: Vec<u8> },
    /// A regular file the workers read themselves; `pos` is where the next
    /// chunk starts, `size` the length when opened.
    File {
        file: Arc<File>,
        size: u64,
        pos: u64,
        probe: Vec<u8>,
    },
}

struct ChunkResult {
    seq: u64,
    worker: usize,
    /// `None` when the worker panicked on this chunk.
    parsed: Option<Parsed>,
}

struct Parsed {
    goroutines: Vec<Goroutine>,
    delta: TablesDelta,
    diagnostics: Vec<Diagnostic>,
    dropped: u64,
    lines: u64,
    bytes: u64,
    /// A handed-over chunk's buffer, back for reuse.
    buffer: Option<Vec<u8>>,
    /// Reading the range failed after `bytes` bytes.
    read_error: Option<io::Error>,
}

/// Streaming dump parser that uses several threads; same interface and
/// same output as [`DumpParser`].
pub struct ParallelDumpParser<R> {
    source: Source<R>,
    jobs: Option<mpsc::Sender<Job>>,
    results: mpsc::Receiver<ChunkResult>,
    workers: Vec<JoinHandle<()>>,
    remaps: Vec<Remap>,
    max_in_flight: usize,
    chunk_size: usize,
    next_send: u64,
    next_take: u64,
    early: BTreeMap<u64, ChunkResult>,
    /// Goroutines of the chunk being handed out, and its worker.
    current: std::vec::IntoIter<Goroutine>,
    current_worker: usize,
    spare: Vec<Vec<u8>>,
    /// No safe cut point was found: the rest goes to `tail`.
    sequential: bool,
    tail: Option<DumpParser<Rest<R>>>,
    io_error: Option<io::Error>,
    line_offset: u64,
    consumed: u64,
    diagnostics: Vec<Diagnostic>,
    dropped: u64,
    /// Diagnostics already handed out by `take_diagnostics`.
    taken: u64,
    crash_seen: FxHashSet<(u64, u64)>,
    failed: bool,
}

impl ParallelDumpParser<File> {
    /// Parses a regular file: the workers read their own ranges of it, and
    /// the last piece is read to the end the file has then (a dump still
    /// being written is read like a stream). A file that gets shorter than
    /// it was at this call is reported as a read error.
    pub fn from_file(file: File, opts: ParallelOptions) -> io::Result<Self> {
        let size = file.metadata()?.len();
        let source = Source::File {
            file: Arc::new(file),
            size,
            pos: 0,
            probe: Vec::new(),
        };
        Ok(Self::with_source(source, opts))
    }
}

impl<R: Read> ParallelDumpParser<R> {
    /// Starts the workers; nothing is read until the first call.
    pub fn new(reader: R, opts: ParallelOptions) -> Self {
        let source = Source::Stream {
            reader: Some(reader),
            carry: Vec::new(),
        };
        Self::with_source(source, opts)
    }

    fn with_source(source: Source<R>, opts: ParallelOptions) -> Self {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        // More threads than cores only add chunks in flight (memory);
        // MAX_THREADS bounds that whatever the option says.
        let threads = match opts.threads {
            0 => cores,
            n => n,
        }
        .min(MAX_THREADS);
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (result_tx, results) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut workers = Vec::new();
        if threads > 1 {
            for _ in 0..threads {
                // Ids are the index in `remaps`: count only threads that
                // started.
                let id = workers.len();
                let jobs = Arc::clone(&job_rx);
                let out = result_tx.clone();
                // A failed spawn only means fewer workers; with none at
                // all the input is parsed on this thread.
                if let Ok(h) = thread::Builder::new()
                    .name(format!("goroscope-parse-{id}"))
                    .spawn(move || worker(id, &jobs, &out))
                {
                    workers.push(h);
                }
            }
        }
        let sequential = workers.is_empty();
        Self {
            source,
            jobs: Some(job_tx),
            results,
            remaps: (0..workers.len()).map(|_| Remap::default()).collect(),
            max_in_flight: 2 * workers.len(),
            workers,
            chunk_size: opts.chunk_size.clamp(1, CHUNK_MAX / 2),
            next_send: 0,
            next_take: 0,
            early: BTreeMap::new(),
            current: Vec::new().into_iter(),
            current_worker: 0,
            spare: Vec::new(),
            sequential,
            tail: None,
            io_error: None,
            line_offset: 0,
            consumed: 0,
            diagnostics: Vec::new(),
            dropped: 0,
            taken: 0,
            crash_seen: FxHashSet::default(),
            failed: false,
        }
    }

    /// Bytes of input parsed so far.
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed + self.tail.as_ref().map_or(0, DumpParser::bytes_consumed)
    }

    /// How many diagnostics were raised in all, kept or dropped.
    pub fn diagnostics_total(&self) -> u64 {
        let tail = self.tail.as_ref().map_or(0, DumpParser::diagnostics_total);
        self.taken + self.diagnostics.len() as u64 + self.dropped + tail
    }

    /// Diagnostics (at most 1000) plus a summary line if some were dropped,
    /// as [`DumpParser::take_diagnostics`].
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        if let Some(tail) = self.tail.as_mut() {
            let (d, dropped) = tail.take_raw_diagnostics();
            self.merge_diagnostics(d, dropped, 0);
        }
        self.taken += self.diagnostics.len() as u64 + self.dropped;
        let mut d = std::mem::take(&mut self.diagnostics);
        if self.dropped > 0 {
            let line = self
                .tail
                .as_ref()
                .map_or(self.line_offset, |t| t.lines_read());
            d.push(Diagnostic {
                line,
                message: format!("{} more diagnostics not shown", self.dropped),
            });
            self.dropped = 0;
        }
        d
    }

    /// The I/O error that ended the input early, if any.
    pub fn take_io_error(&mut self) -> Option<io::Error> {
        self.io_error
            .take()
            .or_else(|| self.tail.as_mut().and_then(DumpParser::take_io_error))
    }

    /// The next goroutine, or `None` at the end of the input.
    pub fn next_goroutine(&mut self, tables: &mut Tables) -> Option<Goroutine> {
        loop {
            if let Some(mut g) = self.current.next() {
                self.remaps[self.current_worker].goroutine(&mut g);
                if self.first_time(&g) {
                    return Some(g);
                }
                continue;
            }
            if let Some(tail) = self.tail.as_mut() {
                let g = tail.next_goroutine(tables)?;
                if self.first_time(&g) {
                    return Some(g);
                }
                continue;
            }
            if self.failed {
                return None;
            }
            self.send_chunks();
            if self.next_take == self.next_send {
                // Nothing in flight: the end, or the sequential rest.
                if !self.sequential {
                    return None;
                }
                let rest = match self.rest() {
                    Ok(rest) => rest?,
                    Err(e) => {
                        self.io_error = Some(e);
                        return None;
                    }
                };
                let mut tail = DumpParser::new(rest);
                tail.set_lines_read(self.line_offset);
                self.tail = Some(tail);
                continue;
            }
            self.take_chunk(tables);
            // Refill the workers before handing this chunk's goroutines
            // out, so they parse while the caller counts.
            self.send_chunks();
        }
    }

    /// The input not yet handed to workers, for the sequential fallback;
    /// `None` once it was taken.
    fn rest(&mut self) -> io::Result<Option<Rest<R>>> {
        Ok(match &mut self.source {
            Source::Stream { reader, carry } => reader
                .take()
                .map(|r| Rest::Stream(Cursor::new(std::mem::take(carry)).chain(r))),
            Source::File {
                file, pos, size, ..
            } => {
                if *pos == u64::MAX {
                    return Ok(None);
                }
                let mut f = file.try_clone()?;
                f.seek(SeekFrom::Start(*pos))?;
                let expected = size.saturating_sub(*pos);
                *pos = u64::MAX;
                Some(Rest::File { file: f, expected })
            }
        })
    }

    /// A SIGQUIT dump prints some goroutines twice; chunks are checked
    /// individually by their parser, this catches repeats across chunks.
    fn first_time(&mut self, g: &Goroutine) -> bool {
        g.thread
            .is_none_or(|t| self.crash_seen.insert((g.id, t.gp)))
    }

    fn merge_diagnostics(&mut self, diags: Vec<Diagnostic>, dropped: u64, offset: u64) {
        for d in diags {
            push_diag(
                &mut self.diagnostics,
                &mut self.dropped,
                d.line + offset,
                d.message,
            );
        }
        self.dropped += dropped;
    }

    /// Waits for the next chunk in input order and makes it current.
    fn take_chunk(&mut self, tables: &mut Tables) {
        let result = loop {
            if let Some(r) = self.early.remove(&self.next_take) {
                break r;
            }
            match self.results.recv() {
                Ok(r) => {
                    self.early.insert(r.seq, r);
                }
                Err(_) => {
                    self.fail("all parser threads stopped");
                    return;
                }
            }
        };
        self.next_take += 1;
        let Some(p) = result.parsed else {
            self.fail("a parser thread failed");
            return;
        };
        self.remaps[result.worker].apply(p.delta, tables);
        self.merge_diagnostics(p.diagnostics, p.dropped, self.line_offset);
        self.line_offset += p.lines;
        self.consumed += p.bytes;
        self.spare.extend(p.buffer);
        if let Some(e) = p.read_error {
            // This chunk was parsed up to the error; nothing after it is.
            self.io_error = Some(e);
            self.failed = true;
        }
        self.current = p.goroutines.into_iter();
        self.current_worker = result.worker;
    }

    fn fail(&mut self, what: &str) {
        self.failed = true;
        self.io_error = Some(io::Error::other(format!(
            "internal error: {what} after {} bytes; the goroutines before that point are shown (please report this input)",
            self.consumed
        )));
    }

    /// Cuts and sends chunks until enough are in flight.
    fn send_chunks(&mut self) {
        while !self.sequential
            && !self.failed
            && (self.next_send - self.next_take) < self.max_in_flight as u64
        {
            let cut = match &mut self.source {
                Source::Stream { reader, carry } => {
                    let mut buf = std::mem::take(carry);
                    let cut = cut_stream(reader, &mut buf, self.chunk_size, &mut self.io_error);
                    match cut {
                        Cut::Chunk(at) => {
                            let mut rest = self.spare.pop().unwrap_or_default();
                            rest.clear();
                            rest.extend_from_slice(&buf[at..]);
                            buf.truncate(at);
                            *carry = rest;
                            Cut::Chunk(Work::Bytes(buf))
                        }
                        Cut::End => Cut::End,
                        Cut::Sequential => {
                            *carry = buf;
                            Cut::Sequential
                        }
                    }
                }
                Source::File {
                    file,
                    size,
                    pos,
                    probe,
                } => match cut_file(file, *size, pos, probe, self.chunk_size) {
                    Cut::Chunk((start, len)) => Cut::Chunk(Work::Range {
                        file: Arc::clone(file),
                        start,
                        len,
                    }),
                    Cut::End => Cut::End,
                    Cut::Sequential => Cut::Sequential,
                },
            };
            let work = match cut {
                Cut::Chunk(work) => work,
                Cut::End => return,
                Cut::Sequential => {
                    self.sequential = true;
                    return;
                }
            };
            let job = Job {
                seq: self.next_send,
                work,
            };
            let sent = self.jobs.as_ref().is_some_and(|tx| tx.send(job).is_ok());
            if !sent {
                self.fail("the parser threads are gone");
                return;
            }
            self.next_send += 1;
        }
    }
}

/// What the cutter decided.
enum Cut<T> {
    /// The next chunk.
    Chunk(T),
    /// Nothing left.
    End,
    /// No safe cut within [`CHUNK_MAX`]: parse the rest sequentially.
    Sequential,
}

/// Reads `buf` up to at least the chunk size (or the end of the input) and
/// says where to cut it: after its last blank line, or at its end when the
/// input ended.
fn cut_stream<R: Read>(
    reader: &mut Option<R>,
    buf: &mut Vec<u8>,
    chunk_size: usize,
    io_error: &mut Option<io::Error>,
) -> Cut<usize> {
    loop {
        let Some(r) = reader.as_mut().filter(|_| io_error.is_none()) else {
            return if buf.is_empty() {
                Cut::End
            } else {
                Cut::Chunk(buf.len())
            };
        };
        if buf.len() >= chunk_size {
            if let Some(cut) = last_blank_line_end(buf) {
                return Cut::Chunk(cut);
            }
            if buf.len() >= CHUNK_MAX {
                return Cut::Sequential;
            }
        }
        let want = chunk_size
            .saturating_sub(buf.len())
            .max(64 * 1024)
            .min(CHUNK_MAX - buf.len()) as u64;
        buf.reserve(want as usize);
        match Read::take(&mut *r, want).read_to_end(buf) {
            Ok(n) if (n as u64) < want => *reader = None,
            Ok(_) => {}
            // What arrived before the error is kept and parsed; the error
            // is reported after it, as the sequential parser does.
            Err(e) => *io_error = Some(e),
        }
    }
}

/// Bytes read per probe when looking for a cut in a file.
const PROBE: usize = 16 * 1024;

/// The next chunk of a file, `[*pos, cut)`, where `cut` is the end of the
/// first blank line at or after `*pos + chunk_size`. Only the probed bytes
/// are read here; the worker reads the chunk itself.
fn cut_file(
    file: &File,
    size: u64,
    pos: &mut u64,
    probe: &mut Vec<u8>,
    chunk_size: usize,
) -> Cut<(u64, usize)> {
    let start = *pos;
    if start >= size {
        // The last chunk ended exactly at the size seen at open: what was
        // appended since is read by the sequential reader.
        return Cut::Sequential;
    }
    let nominal = start + chunk_size as u64;
    if nominal >= size {
        // The last piece goes to the sequential reader, which reads to the
        // real end: a dump still being written may have grown.
        return Cut::Sequential;
    }
    let limit = (start + CHUNK_MAX as u64).min(size);
    // Two bytes of look-behind: a blank line is a `\n` after `\n` or `\n\r`.
    let mut from = nominal.saturating_sub(2);
    while from < limit {
        let n = PROBE.min((limit - from) as usize);
        probe.resize(n, 0);
        if file.read_exact_at(probe, from).is_err() {
            // The sequential reader will meet the same error and report it.
            return Cut::Sequential;
        }
        for i in memchr::memchr_iter(b'\n', probe) {
            let at = from + i as u64;
            let before = &probe[..i];
            if at >= nominal && (before.ends_with(b"\n") || before.ends_with(b"\n\r")) {
                let end = at + 1;
                *pos = end;
                return Cut::Chunk((start, (end - start) as usize));
            }
        }
        // Overlap by two bytes to keep the look-behind across probes.
        from = if from + n as u64 >= limit {
            limit
        } else {
            from + n as u64 - 2
        };
    }
    Cut::Sequential
}

impl<R> Drop for ParallelDumpParser<R> {
    fn drop(&mut self) {
        // Closing the job channel ends the workers' loops.
        self.jobs = None;
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

/// What the sequential fallback reads: the unsent bytes and the rest of a
/// stream, or the rest of a file.
enum Rest<R> {
    Stream(io::Chain<Cursor<Vec<u8>>, R>),
    /// The rest of a file, read to its end; `expected` bytes of it were
    /// there when it was opened.
    File {
        file: File,
        expected: u64,
    },
}

impl<R: Read> Read for Rest<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Rest::Stream(r) => r.read(buf),
            Rest::File { file, expected } => {
                let n = file.read(buf)?;
                if n == 0 && *expected > 0 && !buf.is_empty() {
                    // Same report as a worker's range read.
                    return Err(file_shrank());
                }
                *expected = expected.saturating_sub(n as u64);
                Ok(n)
            }
        }
    }
}

fn file_shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file got shorter while it was being read",
    )
}

/// Position right after the last blank line (`\n\n` or `\n\r\n`). Walks
/// newlines backwards (SIMD `memrchr`): goroutine blocks are short, so it
/// stops after a few; a reverse substring search would scan the whole
/// buffer when one form (CRLF) never occurs.
fn last_blank_line_end(buf: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'\n', buf).find_map(|i| {
        let before = &buf[..i];
        let blank = before.ends_with(b"\n") || before.ends_with(b"\n\r");
        blank.then_some(i + 1)
    })
}

fn worker(id: usize, jobs: &Mutex<mpsc::Receiver<Job>>, out: &mpsc::Sender<ChunkResult>) {
    let mut tables = Tables::default();
    let mut parser = DumpParser::for_chunks();
    // File ranges are read into the same buffer every time: it stays in
    // this core's cache, for the copy out of the page cache and the parse.
    let mut own = Vec::new();
    loop {
        // A poisoned lock only means another worker panicked while
        // holding it; the receiver itself is still sound.
        let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let seq = job.seq;
        let parsed = panic::catch_unwind(AssertUnwindSafe(|| {
            let mark = tables.mark();
            let (chunk, read_error, handed_over) = match job.work {
                Work::Bytes(chunk) => (chunk, None, true),
                Work::Range { file, start, len } => {
                    let (chunk, error) = read_range(&file, start, len, std::mem::take(&mut own));
                    (chunk, error, false)
                }
            };
            let bytes = chunk.len() as u64;
            // Dump goroutines take about a kilobyte: reserve for all of
            // them up front rather than regrow (and copy) a dozen times.
            let mut goroutines = Vec::with_capacity(chunk.len() / 512);
            let buffer = parser.parse_chunk(chunk, &mut tables, &mut goroutines);
            let buffer = if handed_over {
                Some(buffer)
            } else {
                own = buffer;
                None
            };
            let (diagnostics, dropped) = parser.take_raw_diagnostics();
            Parsed {
                goroutines,
                delta: tables.delta_since(mark),
                diagnostics,
                dropped,
                lines: parser.lines_read(),
                bytes,
                buffer,
                read_error,
            }
        }));
        let failed = parsed.is_err();
        let result = ChunkResult {
            seq,
            worker: id,
            parsed: parsed.ok(),
        };
        if out.send(result).is_err() || failed {
            return;
        }
    }
}

/// Reads `len` bytes at `start` into `buffer` (reused: only growth is
/// zeroed). On an error, or a file that shrank, returns what was read and
/// the error.
fn read_range(
    file: &File,
    start: u64,
    len: usize,
    mut buffer: Vec<u8>,
) -> (Vec<u8>, Option<io::Error>) {
    buffer.resize(len, 0);
    let mut got = 0;
    let mut interrupted = 0;
    let mut error = None;
    while got < len {
        match file.read_at(&mut buffer[got..], start + got as u64) {
            Ok(0) => {
                error = Some(file_shrank());
                break;
            }
            Ok(n) => got += n,
            // Bounded like the sequential reader: a file that only ever
            // says Interrupted would hang us.
            Err(e)
                if e.kind() == io::ErrorKind::Interrupted
                    && interrupted < super::lines::MAX_INTERRUPTED =>
            {
                interrupted += 1;
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    buffer.truncate(got);
    (buffer, error)
}
