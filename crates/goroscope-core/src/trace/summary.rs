//! What a trace says about goroutines: how long they spend in each state,
//! how long they wait per block class (blocking latency), how long they
//! wait for a CPU once runnable (scheduler latency), how long they live,
//! which stacks block the longest, and the stop-the-world pauses.
//!
//! Durations come from consecutive state transitions of one goroutine:
//! the time between two is spent in the state the first one entered. Time
//! before a goroutine's first transition in the trace, or after its last,
//! is unknown and not counted (the same rule as the Go checker the tests
//! compare with). Quantiles come from log-linear histograms (bounded
//! memory whatever the trace's length), exact below 64 ns and within 3.1%
//! above; counts, sums and maxima are exact.

use std::collections::BTreeMap;
use std::sync::mpsc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::order::{GTable, Slot};
use super::spec::ev;
use super::{Event, GenTables, GoState, Reader, Tables, TraceError};
use crate::model::BlockClass;

/// Log-linear histogram of nanosecond durations: exact below 64 ns, then
/// 32 buckets per power of two (at most 3.1% wide), computed with integer
/// operations only (it is on the path of every state change).
#[derive(Debug, Clone, Default)]
pub struct Durations {
    counts: Vec<u64>,
    /// Exact figures.
    pub count: u64,
    /// Sum of all durations (ns).
    pub sum: i64,
    /// Longest (ns).
    pub max: i64,
}

const SUB: u32 = 5; // 2^5 buckets per octave
const BUCKETS: usize = 64 + (63 - 6 + 1) * 32;

fn bucket(ns: u64) -> usize {
    if ns < 64 {
        return ns as usize;
    }
    let lz = 63 - ns.leading_zeros(); // >= 6
    let sub = (ns >> (lz - SUB)) & 31;
    64 + (lz as usize - 6) * 32 + sub as usize
}

/// The largest value of a bucket.
fn upper(i: usize) -> i64 {
    if i < 64 {
        return i as i64;
    }
    let lz = (i - 64) / 32 + 6;
    let sub = ((i - 64) % 32) as u64;
    let v = ((32 + sub + 1) << (lz as u32 - SUB)) - 1;
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Durations {
    /// Adds one duration.
    #[inline]
    pub fn add(&mut self, ns: i64) {
        let ns = ns.max(0);
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[bucket(ns as u64)] += 1;
        self.count += 1;
        self.sum += ns;
        self.max = self.max.max(ns);
    }

    /// The `q` quantile (0-1), as the upper bound of its bucket (never
    /// above the maximum); 0 when empty.
    pub fn quantile(&self, q: f64) -> i64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }

    /// Count, sum, p50, p90, p99, max.
    pub fn stats(&self) -> Stats {
        Stats {
            count: self.count,
            total_ns: self.sum,
            p50_ns: self.quantile(0.5),
            p90_ns: self.quantile(0.9),
            p99_ns: self.quantile(0.99),
            max_ns: self.max,
        }
    }
}

/// A distribution's summary.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Intervals counted.
    pub count: u64,
    /// Their total length.
    pub total_ns: i64,
    /// Median.
    pub p50_ns: i64,
    /// 90th percentile.
    pub p90_ns: i64,
    /// 99th percentile.
    pub p99_ns: i64,
    /// Longest.
    pub max_ns: i64,
}

/// The block class of a trace block reason (the strings of Go's
/// `traceBlockReasonStrings`), refined by the blocking stack for "sync",
/// which covers mutexes, wait groups and semaphores alike.
pub fn block_class(reason: &str, stack: &[&str]) -> BlockClass {
    match reason {
        "chan receive" => BlockClass::ChanReceive,
        "chan send" => BlockClass::ChanSend,
        "select" => BlockClass::Select,
        "sync.(*Cond).Wait" => BlockClass::Cond,
        "network" => BlockClass::IoWait,
        "sleep" => BlockClass::Sleep,
        "forever" => BlockClass::NilOrForever,
        "synctest" => BlockClass::Synctest,
        "system goroutine wait"
        | "GC mark assist wait for work"
        | "GC background sweeper wait"
        | "wait until GC ends"
        | "GC weak to strong wait"
        | "preempted" => BlockClass::GcRuntime,
        "sync" => {
            let has = |p: &str| stack.iter().any(|f| f.starts_with(p));
            if has("sync.(*RWMutex)") {
                BlockClass::Rwmutex
            } else if has("sync.(*Mutex)") || has("internal/sync.(*Mutex)") {
                BlockClass::Mutex
            } else if has("sync.(*WaitGroup)") {
                BlockClass::Waitgroup
            } else {
                BlockClass::Semaphore
            }
        }
        "unspecified" | "wait for debug call" | "" => BlockClass::Other,
        _ => BlockClass::Unknown,
    }
}

/// A whole interval one goroutine spent in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// The state.
    pub state: GoState,
    /// Its block class (waiting), `syscall`, or `none`.
    pub class: BlockClass,
    /// Its length.
    pub ns: i64,
    /// A runnable interval that ended running: a scheduler latency.
    pub scheduled: bool,
}

/// One goroutine's figures, as the Go checker computes them.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct GoStats {
    /// Goroutine id.
    pub id: i64,
    /// State after its last transition.
    pub final_state: String,
    /// Time of its first transition.
    pub first_ns: i64,
    /// Time of its last transition.
    pub last_ns: i64,
    /// Transitions whose "from" is not the previous "to" (should be 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub mismatches: i64,
    /// Time in each state (Go's state names), zeros left out.
    pub state_ns: BTreeMap<String, i64>,
    /// Its state transitions.
    pub transitions: i64,
    /// Waiting periods per reason of the transition that began them.
    pub waiting_reason_count: BTreeMap<String, i64>,
    /// Time waiting per reason.
    pub waiting_reason_ns: BTreeMap<String, i64>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// What the summary keeps of a goroutine while its transitions stream
/// past: its current interval, in 32 bytes (a lookup per transition, so
/// two entries to a cache line).
#[derive(Debug, Clone, Copy)]
struct GoAcc {
    /// When the current state began, and whether that is known (entered
    /// by a transition in the trace, not reported by a status event).
    entered: i64,
    /// When it was created, if in the trace (for lifetimes).
    created: i64,
    /// Signature index of the current wait's stack.
    sig: u32,
    cur: GoState,
    /// Block class of the current wait.
    class: BlockClass,
    seen: bool,
    known: bool,
    was_created: bool,
    /// In the table (its empty slots have false).
    live: bool,
}

impl Slot for GoAcc {
    const ABSENT: GoAcc = GoAcc {
        entered: 0,
        created: 0,
        sig: 0,
        cur: GoState::Undetermined,
        class: BlockClass::None,
        seen: false,
        known: false,
        was_created: false,
        live: false,
    };
    fn present(&self) -> bool {
        self.live
    }
}

/// What only the per-goroutine figures need ([`Summary::goroutines`]).
#[derive(Debug, Clone)]
struct GoDetail {
    first: i64,
    last: i64,
    transitions: i64,
    mismatches: i64,
    state_ns: [i64; 6],
    /// Per wait: reason index, count (1), time.
    waits: Vec<(u32, i64, i64)>,
}

/// Everything the summary gathers while events stream past.
#[derive(Debug, Default)]
pub struct Summary {
    /// Events per kind ([`Kind`] as index).
    kinds: [u64; super::spec::Kind::ALL.len()],
    /// Events read.
    pub total_events: u64,
    /// First and last event times.
    pub first_ns: i64,
    /// Last event time.
    pub last_ns: i64,
    /// Goroutine transitions per (from, to).
    pairs: [[u64; 6]; 6],
    /// Entries into Waiting per reason index.
    waiting_by_reason: Vec<u64>,
    /// Durations per state and block class (`state * CLASSES + class`).
    durations: Vec<Durations>,
    /// Scheduler latency: runnable to running.
    pub sched_latency: Durations,
    /// Lifetimes of goroutines created and ended inside the trace.
    pub lifetimes: Durations,
    /// Goroutines created and ended.
    pub created: u64,
    /// Goroutines that ended.
    pub ended: u64,
    /// Stop-the-world pauses per kind.
    pub stw: BTreeMap<String, Durations>,
    /// Blocked time per (stack signature, block class).
    pub blocked_stacks: FxHashMap<(u32, BlockClass), (i64, u64)>,
    /// Stack signatures: innermost few function names, joined.
    pub signatures: Vec<String>,
    sig_index: FxHashMap<String, u32>,
    reasons: Vec<String>,
    reason_index: FxHashMap<String, u32>,
    /// Per reason index: its block class (`None` for "sync", which the
    /// stack decides).
    reason_class: Vec<Option<BlockClass>>,
    /// Generation-local string id -> reason index, reset each generation.
    reason_of_id: FxHashMap<u64, u32>,
    /// Per signature: the class a "sync" wait on it has.
    sig_sync: Vec<BlockClass>,
    /// By id: a radix table, as the ordering's (ids count up).
    goroutines: GTable<GoAcc>,
    /// Per goroutine in `goroutines`, when `keep_goroutines`.
    details: FxHashMap<i64, GoDetail>,
    /// Generation-local stack id -> signature, reset each generation.
    stack_sig: FxHashMap<u64, u32>,
    stw_open: FxHashMap<i64, (i64, String)>,
    keep_goroutines: bool,
    seen_goroutines: u64,
    /// Generations read and the largest one's event bytes.
    pub generations: u64,
    /// Bytes of the largest generation's event batches.
    pub max_generation_bytes: usize,
}

/// Block classes (the width of the durations table).
const CLASSES: usize = BlockClass::ALL.len();

/// Frames of a stack kept in its signature.
const SIGNATURE_FRAMES: usize = 6;

impl Summary {
    /// A summary; `per_goroutine` keeps the per-goroutine waits needed by
    /// [`Summary::goroutines`] (memory grows with the waits).
    pub fn new(per_goroutine: bool) -> Self {
        Summary {
            keep_goroutines: per_goroutine,
            ..Summary::default()
        }
    }

    fn reason(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.reason_index.get(s) {
            return i;
        }
        let i = self.reasons.len() as u32;
        self.reasons.push(s.to_string());
        self.reason_index.insert(s.to_string(), i);
        self.reason_class
            .push((s != "sync").then(|| block_class(s, &[])));
        self.waiting_by_reason.push(0);
        i
    }

    /// The reason index of a GoBlock/GoStop's reason string id.
    fn reason_of<T: Tables + ?Sized>(&mut self, id: u64, r: &T) -> u32 {
        if let Some(&i) = self.reason_of_id.get(&id) {
            return i;
        }
        let i = self.reason(r.string(id).unwrap_or(""));
        self.reason_of_id.insert(id, i);
        i
    }

    /// Events per kind (Go's names).
    pub fn event_kinds(&self) -> BTreeMap<&'static str, u64> {
        super::spec::Kind::ALL
            .into_iter()
            .filter(|&k| self.kinds[k as usize] > 0)
            .map(|k| (k.as_str(), self.kinds[k as usize]))
            .collect()
    }

    /// Goroutine transitions per `From->To` (Go's state names).
    pub fn transition_pairs(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (f, row) in self.pairs.iter().enumerate() {
            for (t, &n) in row.iter().enumerate() {
                if n > 0 {
                    let (f, t) = (GoState::from_u64(f as u64), GoState::from_u64(t as u64));
                    out.insert(format!("{}->{}", f.as_str(), t.as_str()), n);
                }
            }
        }
        out
    }

    /// Entries into Waiting per reason.
    pub fn waiting_reasons(&self) -> BTreeMap<String, u64> {
        self.reasons
            .iter()
            .zip(&self.waiting_by_reason)
            .filter(|(_, &n)| n > 0)
            .map(|(r, &n)| (r.clone(), n))
            .collect()
    }

    /// Whole-interval durations per state and block class.
    pub fn state_durations(&self) -> Vec<((GoState, BlockClass), &Durations)> {
        let mut out = Vec::new();
        for (i, d) in self.durations.iter().enumerate() {
            if d.count > 0 {
                let state = GoState::from_u64((i / CLASSES) as u64);
                out.push(((state, BlockClass::ALL[i % CLASSES]), d));
            }
        }
        out
    }

    /// Reads every event of `r`. A read error ends the summary where it
    /// happened: what was read is kept, and the error returned.
    pub fn read<R: std::io::Read>(&mut self, r: &mut Reader<R>) -> Result<(), TraceError> {
        self.read_with(r, &mut |_| {})
    }

    /// [`Summary::read`], also handing every whole interval to `observe`
    /// (the agent's histograms).
    pub fn read_with<R: std::io::Read>(
        &mut self,
        r: &mut Reader<R>,
        observe: &mut dyn FnMut(Interval),
    ) -> Result<(), TraceError> {
        let result = loop {
            match r.next_event() {
                Ok(Some(e)) => self.add_with(&e, r, observe),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.generations = r.generations;
        self.max_generation_bytes = r.max_generation_bytes;
        result
    }

    /// [`Summary::read`] with the reader on a thread of its own, which
    /// hands the events over in chunks with their generation's tables:
    /// this thread only counts. The same figures, sooner on two cores.
    pub fn read_piped<R: std::io::Read + Send + 'static>(
        &mut self,
        r: Reader<R>,
    ) -> Result<(), TraceError> {
        /// Events per chunk: a few thousand, so that the hand-over costs
        /// little per event and the chunks stay in the cache.
        const CHUNK: usize = 4096;
        type Msg = (Vec<Event>, GenTables);
        let (tx, rx) = mpsc::sync_channel::<Msg>(4);
        // Bounded: a buffer handed back when the pool is full is dropped.
        let (spent_tx, spent_rx) = mpsc::sync_channel::<Vec<Event>>(4);
        let reading = std::thread::Builder::new()
            .name("trace-order".into())
            .spawn(move || {
                let mut r = r;
                let mut chunk = Vec::with_capacity(CHUNK);
                let mut tables = GenTables::default();
                let result = loop {
                    let start = chunk.len();
                    match r.next_events_into(&mut chunk, CHUNK) {
                        Ok(()) if chunk.len() == start => break Ok(()),
                        Ok(()) => {}
                        Err(e) => break Err(e),
                    }
                    // A chunk holds one generation's events: its tables.
                    let now = r.tables();
                    let send = if start > 0 && !now.same(&tables) {
                        let rest = chunk.split_off(start);
                        Some((std::mem::replace(&mut chunk, rest), tables))
                    } else if chunk.len() >= CHUNK {
                        let next = spent_rx.try_recv().unwrap_or_default();
                        Some((std::mem::replace(&mut chunk, next), now.clone()))
                    } else {
                        None
                    };
                    tables = now;
                    if let Some(msg) = send {
                        if tx.send(msg).is_err() {
                            break Ok(());
                        }
                    }
                };
                if !chunk.is_empty() {
                    let _ = tx.send((chunk, tables));
                }
                (result, r.generations, r.max_generation_bytes)
            })?;
        for (mut events, tables) in rx {
            for e in &events {
                self.add_with(e, &tables, &mut |_| {});
            }
            events.clear();
            let _ = spent_tx.try_send(events);
        }
        let (result, generations, max_bytes) = reading.join().map_err(|_| {
            TraceError::Io(std::io::Error::other("the trace reading thread failed"))
        })?;
        self.generations = generations;
        self.max_generation_bytes = max_bytes;
        result
    }

    /// Counts one event; `r` resolves its strings and stacks.
    pub fn add<T: Tables + ?Sized>(&mut self, e: &Event, r: &T) {
        self.add_with(e, r, &mut |_| {});
    }

    /// [`Summary::add`], handing a whole interval that ends here to
    /// `observe`.
    pub fn add_with<T: Tables + ?Sized>(
        &mut self,
        e: &Event,
        r: &T,
        observe: &mut dyn FnMut(Interval),
    ) {
        let t = e.time;
        if self.total_events == 0 {
            self.first_ns = t;
        }
        self.last_ns = t;
        self.total_events += 1;
        self.kinds[e.kind() as usize] += 1;
        match e.typ {
            ev::SYNC_EVENT => {
                self.stack_sig.clear();
                self.reason_of_id.clear();
            }
            ev::STW_BEGIN => {
                let kind = r.string(e.args[0]).unwrap_or("").to_string();
                self.stw_open.insert(e.ctx.g, (t, kind));
            }
            ev::STW_END => {
                if let Some((start, kind)) = self.stw_open.remove(&e.ctx.g) {
                    self.stw.entry(kind).or_default().add(t - start);
                }
            }
            _ => {}
        }
        let Some((g, from, to)) = e.go_transition() else {
            return;
        };
        self.pairs[from as usize][to as usize] += 1;
        let (reason_i, class, sig) = if to == GoState::Waiting {
            let sig = self.signature(e.stack_id(), r);
            let reason_i = match e.reason_id() {
                Some(id) => self.reason_of(id, r),
                None => self.reason(""),
            };
            let class = self.reason_class[reason_i as usize].unwrap_or(self.sig_sync[sig as usize]);
            (reason_i, class, sig)
        } else {
            (0, BlockClass::None, 0)
        };
        if to == GoState::Waiting && from != GoState::Waiting {
            self.waiting_by_reason[reason_i as usize] += 1;
        }
        let keep = self.keep_goroutines;
        let new = GoAcc {
            entered: t,
            live: true,
            ..GoAcc::ABSENT
        };
        if self.goroutines.insert_new(g, new) {
            self.seen_goroutines += 1;
        }
        let Some(acc) = self.goroutines.get_mut(&g) else {
            return;
        };
        if keep {
            let d = self.details.entry(g).or_insert_with(|| GoDetail {
                first: t,
                last: t,
                transitions: 0,
                mismatches: 0,
                state_ns: [0; 6],
                waits: Vec::new(),
            });
            d.transitions += 1;
            if acc.seen {
                let dt = t - d.last;
                d.state_ns[acc.cur as usize] += dt;
                if from != acc.cur {
                    d.mismatches += 1;
                }
                if acc.cur == GoState::Waiting {
                    if let Some(w) = d.waits.last_mut() {
                        w.2 += dt;
                    }
                }
            }
            if to == GoState::Waiting && !(acc.seen && acc.cur == GoState::Waiting) {
                d.waits.push((reason_i, 1, 0));
            }
            d.last = t;
        }
        // A whole interval in one state ends here (a status event
        // repeating the state does not end it). One that began before the
        // trace is left out of the distributions: its length is unknown.
        if acc.seen && to != acc.cur && acc.known {
            let class = match acc.cur {
                GoState::Waiting => acc.class,
                GoState::Syscall => BlockClass::Syscall,
                _ => BlockClass::None,
            };
            if self.durations.is_empty() {
                self.durations = vec![Durations::default(); 6 * CLASSES];
            }
            let ns = t - acc.entered;
            self.durations[acc.cur as usize * CLASSES + class as usize].add(ns);
            let scheduled = acc.cur == GoState::Runnable && to == GoState::Running;
            observe(Interval {
                state: acc.cur,
                class,
                ns,
                scheduled,
            });
            if scheduled {
                self.sched_latency.add(ns);
            }
            if acc.cur == GoState::Waiting {
                let slot = self.blocked_stacks.entry((acc.sig, acc.class)).or_default();
                slot.0 += ns;
                slot.1 += 1;
            }
        }
        if to == GoState::Waiting && !(acc.seen && acc.cur == GoState::Waiting) {
            acc.class = class;
            acc.sig = sig;
        }
        if from == GoState::NotExist {
            acc.created = t;
            acc.was_created = true;
            self.created += 1;
        }
        if to == GoState::NotExist {
            self.ended += 1;
            if acc.was_created {
                self.lifetimes.add(t - acc.created);
            }
        }
        if to != acc.cur || !acc.seen {
            acc.entered = t;
            acc.known = from != GoState::Undetermined;
        }
        acc.seen = true;
        acc.cur = to;
        if to == GoState::NotExist && !keep {
            self.goroutines.remove(&g);
        }
    }

    fn signature<T: Tables + ?Sized>(&mut self, stack: u64, r: &T) -> u32 {
        if let Some(&s) = self.stack_sig.get(&stack) {
            return s;
        }
        let frames = r.stack(stack);
        let text = frames
            .iter()
            .take(SIGNATURE_FRAMES)
            .map(|(f, _, _)| *f)
            .collect::<Vec<_>>()
            .join(" < ");
        let next = self.signatures.len() as u32;
        let s = *self.sig_index.entry(text.clone()).or_insert(next);
        if s == next {
            let names: Vec<&str> = frames.iter().map(|(f, _, _)| *f).collect();
            self.sig_sync.push(block_class("sync", &names));
            self.signatures.push(text);
        }
        self.stack_sig.insert(stack, s);
        s
    }

    /// Distinct goroutines seen (an id reused after its goroutine ended
    /// counts again).
    pub fn goroutine_count(&self) -> u64 {
        self.seen_goroutines
    }

    /// Per-goroutine figures, by id (needs `per_goroutine`).
    pub fn goroutines(&self) -> Vec<GoStats> {
        let mut ids: Vec<i64> = self.details.keys().copied().collect();
        ids.sort_unstable();
        ids.iter()
            .map(|id| {
                let d = &self.details[id];
                let cur = self
                    .goroutines
                    .get(id)
                    .map_or(GoState::Undetermined, |a| a.cur);
                let mut state_ns = BTreeMap::new();
                for (i, &ns) in d.state_ns.iter().enumerate() {
                    if ns != 0 {
                        state_ns.insert(GoState::from_u64(i as u64).as_str().to_string(), ns);
                    }
                }
                let mut count = BTreeMap::new();
                let mut ns = BTreeMap::new();
                for &(r, c, t) in &d.waits {
                    let name = self.reasons[r as usize].clone();
                    *count.entry(name.clone()).or_default() += c;
                    *ns.entry(name).or_default() += t;
                }
                // Go's checker lists reasons with waits; zero-time ones too.
                GoStats {
                    id: *id,
                    final_state: cur.as_str().to_string(),
                    first_ns: d.first,
                    last_ns: d.last,
                    mismatches: d.mismatches,
                    state_ns,
                    transitions: d.transitions,
                    waiting_reason_count: count,
                    waiting_reason_ns: ns,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values_and_quantiles_are_close() {
        for v in [
            0u64,
            1,
            63,
            64,
            65,
            100,
            1_000,
            123_456,
            1 << 40,
            u64::MAX >> 1,
        ] {
            let i = bucket(v);
            assert!(upper(i) as u64 >= v, "{v}: bucket {i} tops at {}", upper(i));
            if i > 0 {
                assert!((upper(i - 1) as u64) < v, "{v} belongs below");
            }
        }
        let mut d = Durations::default();
        for v in 1..=10_000 {
            d.add(v * 1000);
        }
        for (q, want) in [(0.5, 5_000_000f64), (0.9, 9_000_000.0), (0.99, 9_900_000.0)] {
            let got = d.quantile(q) as f64;
            assert!((got - want).abs() / want <= 0.032, "q{q}: {got} vs {want}");
        }
        assert_eq!(d.quantile(1.0), 10_000_000);
        assert_eq!((d.count, d.max), (10_000, 10_000_000));
    }

    #[test]
    fn block_reasons_map_to_classes() {
        assert_eq!(block_class("chan receive", &[]), BlockClass::ChanReceive);
        assert_eq!(block_class("network", &[]), BlockClass::IoWait);
        assert_eq!(
            block_class(
                "sync",
                &["internal/sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock"]
            ),
            BlockClass::Mutex
        );
        assert_eq!(
            block_class("sync", &["sync.(*RWMutex).RLock"]),
            BlockClass::Rwmutex
        );
        assert_eq!(
            block_class("sync", &["sync.(*WaitGroup).Wait"]),
            BlockClass::Waitgroup
        );
        assert_eq!(
            block_class("sync", &["runtime.gcMarkDone"]),
            BlockClass::Semaphore
        );
        assert_eq!(block_class("something new", &[]), BlockClass::Unknown);
    }
}
