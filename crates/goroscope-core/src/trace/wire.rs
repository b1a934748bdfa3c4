//! The trace's byte layer: the header, batches, and one generation's
//! batches, string table, stack table, CPU samples and clock, as Go's
//! `internal/trace` (batch.go, generation.go) defines them.
//!
//! A batch is `0x01 gen m ts size data[size]` (uvarints; `size` written as
//! a zero-padded 10-byte varint by the runtime), `0x31 exp gen m ts size
//! data` for an experiment, or the single byte `0x34` that ends a
//! generation in Go 1.26 files. Older files end a generation where a batch
//! of the next one begins.

use std::io::{self, Read};

use rustc_hash::FxHashMap;

use super::spec::ev;
use super::TraceError;

/// Largest batch the runtime writes (`tracev2.MaxBatchSize`).
pub const MAX_BATCH: u64 = 64 << 10;
/// Longest string (`tracev2.MaxEventTrailerDataSize`).
const MAX_STRING: u64 = 1 << 10;
/// Most frames in a stack (`tracev2.MaxFramesPerStack`).
const MAX_FRAMES: u64 = 128;

/// "No thread" (Go's `NoThread`, written as all ones).
pub const NO_THREAD: i64 = -1;

/// A buffered byte source that counts what it consumed.
pub struct Source<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Bytes consumed so far (for diagnostics).
    pub offset: u64,
}

impl<R: Read> Source<R> {
    pub fn new(inner: R) -> Self {
        Source {
            inner,
            buf: vec![0; 256 << 10],
            pos: 0,
            len: 0,
            offset: 0,
        }
    }

    fn fill(&mut self) -> io::Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// One byte, or `None` at the end.
    pub fn byte(&mut self) -> io::Result<Option<u8>> {
        if !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        self.offset += 1;
        Ok(Some(b))
    }

    fn need_byte(&mut self) -> Result<u8, TraceError> {
        self.byte()?.ok_or(TraceError::Truncated {
            offset: self.offset,
        })
    }

    /// A uvarint as Go's `binary.ReadUvarint` reads it (padded forms
    /// accepted; a tenth byte above 1 overflows).
    pub fn uvarint(&mut self) -> Result<u64, TraceError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.need_byte()?;
            if i == 9 && b > 1 {
                return Err(self.corrupt("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.corrupt("varint longer than 10 bytes"))
    }

    /// Exactly `n` bytes into `out`.
    pub fn bytes(&mut self, n: usize, out: &mut Vec<u8>) -> Result<(), TraceError> {
        out.clear();
        out.reserve(n);
        while out.len() < n {
            if !self.fill()? {
                return Err(TraceError::Truncated {
                    offset: self.offset,
                });
            }
            let take = (n - out.len()).min(self.len - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            self.offset += take as u64;
        }
        Ok(())
    }

    fn corrupt(&self, what: &str) -> TraceError {
        TraceError::Corrupt {
            offset: self.offset,
            message: what.to_string(),
        }
    }
}

/// One batch.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub gen: u64,
    /// The writing thread (OS thread id), or [`NO_THREAD`].
    pub m: i64,
    /// Base timestamp, in ticks.
    pub time: u64,
    /// Experiment number (0: none).
    pub exp: u8,
    pub data: Vec<u8>,
    pub end_of_generation: bool,
}

/// Reads the next batch; `None` at a clean end of input.
pub fn read_batch<R: Read>(src: &mut Source<R>) -> Result<Option<Batch>, TraceError> {
    let Some(b) = src.byte()? else {
        return Ok(None);
    };
    if b == ev::END_OF_GENERATION {
        return Ok(Some(Batch {
            m: NO_THREAD,
            end_of_generation: true,
            ..Batch::default()
        }));
    }
    if b != ev::EVENT_BATCH && b != ev::EXPERIMENTAL_BATCH {
        return Err(TraceError::Corrupt {
            offset: src.offset - 1,
            message: format!("expected a batch, found byte {b:#04x}"),
        });
    }
    let exp = if b == ev::EXPERIMENTAL_BATCH {
        src.need_byte()?
    } else {
        0
    };
    let gen = src.uvarint()?;
    let m = src.uvarint()? as i64;
    let time = src.uvarint()?;
    let size = src.uvarint()?;
    if size > MAX_BATCH {
        return Err(src.corrupt(&format!(
            "batch of {size} bytes, more than the {MAX_BATCH} Go writes"
        )));
    }
    let mut data = Vec::new();
    src.bytes(size as usize, &mut data)?;
    Ok(Some(Batch {
        gen,
        m,
        time,
        exp,
        data,
        end_of_generation: false,
    }))
}

/// A frame of the stack table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub pc: u64,
    pub func: u64,
    pub file: u64,
    pub line: u64,
}

/// A CPU profile sample.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    /// Nanoseconds once the generation is complete (ticks before).
    pub time: i64,
    pub m: i64,
    pub p: i64,
    pub g: i64,
    pub stack: u64,
}

/// One generation, read in full (Go's reader holds one in memory too).
#[derive(Debug, Default)]
pub struct Generation {
    pub gen: u64,
    /// Event batches per thread, in file order; `ms` is the order in
    /// which the threads first appeared.
    pub batches: FxHashMap<i64, Vec<Batch>>,
    pub ms: Vec<i64>,
    pub strings: FxHashMap<u64, String>,
    pub stacks: FxHashMap<u64, Vec<u64>>,
    pub frames: FxHashMap<u64, Frame>,
    pub cpu_samples: Vec<CpuSample>,
    /// Nanoseconds per tick.
    pub freq: f64,
    /// `freq` as the per-event conversion uses it (set once complete).
    pub clock: Clock,
    /// Smallest batch timestamp (ticks).
    pub min_ts: u64,
    pub clock_snapshot: Option<ClockSnapshot>,
    /// Bytes of event batch data (for the reader's memory accounting).
    pub event_bytes: usize,
    /// Which stack and string ids exist, by id (built once complete: the
    /// ids are dense, and every event's are checked).
    stack_ids: Vec<bool>,
    string_ids: Vec<bool>,
}

/// A generation's trace, monotonic and wall clock readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSnapshot {
    /// Trace time (ticks).
    pub ticks: u64,
    pub mono: u64,
    pub sec: u64,
    pub nsec: u64,
}

impl Generation {
    /// A string of this generation (id 0 is the empty string).
    pub fn string(&self, id: u64) -> Option<&str> {
        if id == 0 {
            return Some("");
        }
        self.strings.get(&id).map(String::as_str)
    }

    /// Ticks to nanoseconds as Go's reader converts them: a float64
    /// multiply truncated toward zero (through [`Clock`], which gives the
    /// same; set when the generation is complete).
    pub fn ns(&self, ticks: u64) -> i64 {
        self.clock.ns(ticks)
    }

    /// Whether the stack table has this id.
    #[inline]
    pub fn has_stack(&self, id: u64) -> bool {
        match self.stack_ids.get(id as usize) {
            Some(&b) => b,
            None => self.stacks.contains_key(&id),
        }
    }

    /// Whether the string table has this id (0 always: the empty string).
    #[inline]
    pub fn has_string(&self, id: u64) -> bool {
        id == 0
            || match self.string_ids.get(id as usize) {
                Some(&b) => b,
                None => self.strings.contains_key(&id),
            }
    }

    fn add(&mut self, b: Batch, version: u32) -> Result<(), TraceError> {
        let first = b.data.first().copied();
        match first {
            Some(ev::STRINGS) if b.exp == 0 => self.add_strings(&b.data),
            Some(ev::STACKS) if b.exp == 0 => self.add_stacks(&b.data),
            Some(ev::CPU_SAMPLES) if b.exp == 0 => self.add_cpu_samples(&b.data),
            Some(ev::FREQUENCY) if b.exp == 0 && version < 25 => self.set_sync(&b, version),
            Some(ev::SYNC) if b.exp == 0 && version >= 25 => self.set_sync(&b, version),
            // Experimental data is kept by Go for its API only.
            _ if b.exp != 0 => Ok(()),
            _ => {
                self.event_bytes += b.data.len();
                let list = self.batches.entry(b.m).or_default();
                if list.is_empty() {
                    self.ms.push(b.m);
                }
                list.push(b);
                Ok(())
            }
        }
    }

    fn add_strings(&mut self, data: &[u8]) -> Result<(), TraceError> {
        let mut r = Cursor::new(&data[1..]);
        while !r.done() {
            if r.byte()? != ev::STRING {
                return Err(corrupt("expected a string in a strings batch"));
            }
            let id = r.uvarint()?;
            let len = r.uvarint()?;
            if len > MAX_STRING {
                return Err(corrupt(&format!(
                    "string of {len} bytes, more than {MAX_STRING}"
                )));
            }
            let s = String::from_utf8_lossy(r.take(len as usize)?).into_owned();
            if id == 0 || self.strings.insert(id, s).is_some() {
                return Err(corrupt(&format!("two strings with id {id}")));
            }
        }
        Ok(())
    }

    fn add_stacks(&mut self, data: &[u8]) -> Result<(), TraceError> {
        let mut r = Cursor::new(&data[1..]);
        while !r.done() {
            if r.byte()? != ev::STACK {
                return Err(corrupt("expected a stack in a stacks batch"));
            }
            let id = r.uvarint()?;
            let n = r.uvarint()?;
            if n > MAX_FRAMES {
                return Err(corrupt(&format!(
                    "stack of {n} frames, more than {MAX_FRAMES}"
                )));
            }
            let mut pcs = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let f = Frame {
                    pc: r.uvarint()?,
                    func: r.uvarint()?,
                    file: r.uvarint()?,
                    line: r.uvarint()?,
                };
                pcs.push(f.pc);
                // The first frame seen for a PC is the one Go keeps.
                self.frames.entry(f.pc).or_insert(f);
            }
            if id == 0 || self.stacks.insert(id, pcs).is_some() {
                return Err(corrupt(&format!("two stacks with id {id}")));
            }
        }
        Ok(())
    }

    fn add_cpu_samples(&mut self, data: &[u8]) -> Result<(), TraceError> {
        let mut r = Cursor::new(&data[1..]);
        while !r.done() {
            if r.byte()? != ev::CPU_SAMPLE {
                return Err(corrupt("expected a CPU sample in a CPU samples batch"));
            }
            let time = r.uvarint()?;
            let m = r.uvarint()? as i64;
            let p = r.uvarint()? as i64;
            let g = r.uvarint()?;
            let stack = r.uvarint()?;
            self.cpu_samples.push(CpuSample {
                time: time as i64,
                m,
                p,
                // Goroutine 0 is "none".
                g: if g == 0 { -1 } else { g as i64 },
                stack,
            });
        }
        Ok(())
    }

    fn set_sync(&mut self, b: &Batch, version: u32) -> Result<(), TraceError> {
        let data = if version >= 25 {
            &b.data[1..]
        } else {
            &b.data[..]
        };
        let mut r = Cursor::new(data);
        while !r.done() {
            match r.byte()? {
                ev::FREQUENCY => {
                    if self.freq != 0.0 {
                        return Err(corrupt("two frequency events in one generation"));
                    }
                    let f = r.uvarint()?;
                    // Exactly Go's arithmetic: nanoseconds per tick.
                    self.freq = 1.0 / (f as f64 / 1e9);
                }
                ev::CLOCK_SNAPSHOT if version >= 25 => {
                    if self.clock_snapshot.is_some() {
                        return Err(corrupt("two clock snapshots in one generation"));
                    }
                    let dt = r.uvarint()?;
                    self.clock_snapshot = Some(ClockSnapshot {
                        ticks: b.time.wrapping_add(dt),
                        mono: r.uvarint()?,
                        sec: r.uvarint()?,
                        nsec: r.uvarint()?,
                    });
                }
                other => {
                    return Err(corrupt(&format!(
                    "expected a frequency or clock snapshot in the sync batch, found event {other}"
                )))
                }
            }
        }
        Ok(())
    }

    /// Checks the tables (every stack's PCs have frames whose names exist)
    /// and converts CPU sample times, once the generation is complete.
    fn finish(&mut self, version: u32) -> Result<(), TraceError> {
        if self.freq == 0.0 {
            return Err(corrupt("no frequency event in the generation"));
        }
        if version >= 25 && self.clock_snapshot.is_none() {
            return Err(corrupt("no clock snapshot in the generation"));
        }
        for (id, pcs) in &self.stacks {
            for pc in pcs {
                let f = self
                    .frames
                    .get(pc)
                    .ok_or_else(|| corrupt(&format!("unknown pc {pc:#x} in stack {id}")))?;
                if self.string(f.func).is_none() || self.string(f.file).is_none() {
                    return Err(corrupt(&format!(
                        "a frame of stack {id} names a missing string"
                    )));
                }
            }
        }
        // Dense presence maps when the ids allow (at most twice the entries,
        // as Go's compaction); lookups fall back to the maps otherwise.
        let dense = |ids: &mut dyn Iterator<Item = u64>, n: usize| -> Vec<bool> {
            let ids: Vec<u64> = ids.collect();
            let max = ids.iter().copied().max().unwrap_or(0) as usize;
            if max > 2 * n + 16 {
                return Vec::new();
            }
            let mut v = vec![false; max + 1];
            for id in ids {
                v[id as usize] = true;
            }
            v
        };
        self.stack_ids = dense(&mut self.stacks.keys().copied(), self.stacks.len());
        self.string_ids = dense(&mut self.strings.keys().copied(), self.strings.len());
        self.clock = Clock::new(self.freq);
        for s in &mut self.cpu_samples {
            s.time = self.clock.ns(s.time as u64);
        }
        self.cpu_samples.sort_by_key(|s| s.time);
        Ok(())
    }
}

/// Ticks to nanoseconds, as Go: `Time(float64(t) * float64(freq))`.
pub fn ns(freq: f64, ticks: u64) -> i64 {
    (ticks as f64 * freq) as i64
}

/// [`ns`] for every event of a generation. Where a tick is a power of two
/// nanoseconds (64 on Linux amd64, 16 on arm64: Go divides its clock by
/// these), a tick count below 2^53 is exact as a float and so is its
/// product, which is then the shift: one compare and one shift per event
/// instead of two conversions, a multiply and the saturation checks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Clock {
    freq: f64,
    shift: u32,
    /// Tick counts below this take the shift (0: none do).
    exact_below: u64,
}

impl Clock {
    /// The conversion for `freq` nanoseconds per tick.
    pub fn new(freq: f64) -> Self {
        let mut c = Clock {
            freq,
            shift: 0,
            exact_below: 0,
        };
        // Up to 2^10 ns per tick, a count below 2^53 shifted stays below
        // 2^63: no saturation to mimic.
        if (1.0..=1024.0).contains(&freq) && freq.fract() == 0.0 {
            let f = freq as u64;
            if f.is_power_of_two() {
                c.shift = f.trailing_zeros();
                c.exact_below = 1 << 53;
            }
        }
        c
    }

    /// Nanoseconds for `ticks`, exactly as [`ns`].
    #[inline(always)]
    pub fn ns(self, ticks: u64) -> i64 {
        if ticks < self.exact_below {
            (ticks << self.shift) as i64
        } else {
            ns(self.freq, ticks)
        }
    }
}

fn corrupt(message: &str) -> TraceError {
    TraceError::Corrupt {
        offset: 0,
        message: message.to_string(),
    }
}

/// Reads one generation of a Go 1.26 trace (ended by the end-of-generation
/// byte); `None` at the end of the trace.
pub fn read_generation<R: Read>(
    src: &mut Source<R>,
    version: u32,
) -> Result<Option<Box<Generation>>, TraceError> {
    let mut g = Generation::default();
    loop {
        let Some(b) = read_batch(src)? else {
            if !g.batches.is_empty() {
                return Err(TraceError::Truncated { offset: src.offset });
            }
            return Ok(None);
        };
        if g.gen == 0 {
            g.gen = b.gen;
        }
        if b.end_of_generation {
            break;
        }
        if b.gen == 0 {
            return Err(src.corrupt("generation number 0"));
        }
        if b.gen != g.gen {
            return Err(src.corrupt(
                "a batch of another generation before the end-of-generation mark (generations interleaved)",
            ));
        }
        if g.min_ts == 0 || b.time < g.min_ts {
            g.min_ts = b.time;
        }
        g.add(b, version)?;
    }
    g.finish(version)?;
    Ok(Some(Box::new(g)))
}

/// Reads one generation of a Go 1.22-1.25 trace: it ends where a batch of
/// the next generation begins (kept in `spill` for the next call). A read
/// error after some batches is returned beside the partial generation, as
/// Go does, so a truncated trace still yields what it holds.
pub fn read_generation_spill<R: Read>(
    src: &mut Source<R>,
    spill: &mut Option<Batch>,
    version: u32,
) -> Result<(Box<Generation>, Option<TraceError>), TraceError> {
    let mut g = Generation::default();
    if let Some(b) = spill.take() {
        g.gen = b.gen;
        g.min_ts = b.time;
        g.add(b, version)?;
    }
    let mut late = None;
    loop {
        let b = match read_batch(src) {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) if g.gen != 0 => {
                late = Some(e);
                break;
            }
            Err(e) => return Err(e),
        };
        if b.gen == 0 {
            return Err(src.corrupt("generation number 0"));
        }
        if g.gen == 0 {
            g.gen = b.gen;
        }
        if b.gen == g.gen + 1 {
            *spill = Some(b);
            break;
        }
        if b.gen != g.gen {
            return Err(src.corrupt("generations out of order"));
        }
        if g.min_ts == 0 || b.time < g.min_ts {
            g.min_ts = b.time;
        }
        g.add(b, version)?;
    }
    if g.gen == 0 {
        // Nothing read: as Go, a generation without its frequency.
        return Err(late.unwrap_or_else(|| corrupt("no frequency event in the generation")));
    }
    g.finish(version)?;
    Ok((Box::new(g), late))
}

/// A cursor over a byte slice (a batch's data).
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn byte(&mut self) -> Result<u8, TraceError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| corrupt("a batch ends inside an event"))?;
        self.pos += 1;
        Ok(b)
    }

    /// A uvarint as Go's `binary.Uvarint` reads it.
    #[inline]
    pub fn uvarint(&mut self) -> Result<u64, TraceError> {
        // Most arguments (deltas, small ids) fit one byte.
        if let Some(&b) = self.data.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            if i == 9 && b > 1 {
                return Err(corrupt("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(corrupt("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], TraceError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| corrupt("a string runs past its batch"))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
}
