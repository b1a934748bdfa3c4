//! Putting the per-thread event streams in one order, as Go's reader does
//! (`internal/trace/order.go`): a model of the scheduler (goroutine, P and
//! M states, the GC) decides whether an event can happen yet; sequence
//! numbers carried by GoStart, GoUnblock, ProcStart... tie events of
//! different threads together. An event that cannot happen yet waits for
//! other threads' events; one that can never happen is a broken trace.

use rustc_hash::FxHashMap;

use super::spec::{ev, SPECS};
use super::{Ctx, Event, Raw, TraceError, NO_G, NO_P};

/// Wire goroutine status (`tracev2.GoStatus`).
pub mod gstatus {
    pub const RUNNABLE: u64 = 1;
    pub const RUNNING: u64 = 2;
    pub const SYSCALL: u64 = 3;
    pub const WAITING: u64 = 4;
}

/// Wire P status (`tracev2.ProcStatus`).
pub mod pstatus {
    pub const RUNNING: u64 = 1;
    pub const IDLE: u64 = 2;
    pub const SYSCALL: u64 = 3;
    pub const SYSCALL_ABANDONED: u64 = 4;
}

/// Goroutine states of Go's API (`trace.GoState`), variant for variant.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GoState {
    Undetermined = 0,
    NotExist = 1,
    Runnable = 2,
    Running = 3,
    Waiting = 4,
    Syscall = 5,
}

impl GoState {
    /// Go's `GoState.String()`.
    pub fn as_str(self) -> &'static str {
        match self {
            GoState::Undetermined => "Undetermined",
            GoState::NotExist => "NotExist",
            GoState::Runnable => "Runnable",
            GoState::Running => "Running",
            GoState::Waiting => "Waiting",
            GoState::Syscall => "Syscall",
        }
    }

    /// From a wire status (`tracev2GoStatus2GoState`).
    pub(crate) fn of_status(s: u64) -> GoState {
        match s {
            gstatus::RUNNABLE => GoState::Runnable,
            gstatus::RUNNING => GoState::Running,
            gstatus::WAITING => GoState::Waiting,
            gstatus::SYSCALL => GoState::Syscall,
            _ => GoState::Undetermined,
        }
    }

    /// From Go's numeric value.
    pub fn from_u64(v: u64) -> GoState {
        match v {
            1 => GoState::NotExist,
            2 => GoState::Runnable,
            3 => GoState::Running,
            4 => GoState::Waiting,
            5 => GoState::Syscall,
            _ => GoState::Undetermined,
        }
    }
}

/// P states of Go's API (`trace.ProcState`), for ProcStatus events.
fn proc_state_of_status(s: u64) -> u64 {
    // ProcUndetermined 0, NotExist 1, Running 2, Idle 3.
    match s {
        pstatus::RUNNING | pstatus::SYSCALL => 2,
        pstatus::IDLE | pstatus::SYSCALL_ABANDONED => 3,
        _ => 0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seq {
    gen: u64,
    n: u64,
}

impl Seq {
    fn succeeds(self, prev: Seq) -> bool {
        self.gen == prev.gen && self.n == prev.n.wrapping_add(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RangeType {
    typ: u8,
    desc: u64,
}

fn range_type(typ: u8, desc: u64) -> RangeType {
    let start = SPECS[typ as usize].start;
    RangeType {
        typ: if start != 0 { start } else { typ },
        desc,
    }
}

#[derive(Debug, Default)]
struct Ranges(Vec<RangeType>);

impl Ranges {
    fn begin(&mut self, r: RangeType) -> Result<(), String> {
        if self.0.contains(&r) {
            return Err(format!(
                "{} begins while already in flight",
                SPECS[r.typ as usize].name
            ));
        }
        self.0.push(r);
        Ok(())
    }

    fn active(&mut self, r: RangeType, initial: bool) -> Result<(), String> {
        if initial {
            if self.0.contains(&r) {
                return Err(format!(
                    "active range {} already in flight in the first generation",
                    SPECS[r.typ as usize].name
                ));
            }
            self.0.push(r);
        } else if !self.0.contains(&r) {
            return Err(format!(
                "active range {} was never begun",
                SPECS[r.typ as usize].name
            ));
        }
        Ok(())
    }

    fn end(&mut self, typ: u8) -> Result<u64, String> {
        let start = SPECS[typ as usize].start;
        let i =
            self.0.iter().position(|r| r.typ == start).ok_or_else(|| {
                format!("{} ends but is not in flight", SPECS[start as usize].name)
            })?;
        Ok(self.0.swap_remove(i).desc)
    }
}

/// A goroutine's place in the model: what every goroutine event reads,
/// kept small because a trace can have millions of goroutines.
#[derive(Debug, Clone, Copy)]
struct GState {
    status: u64,
    seq: Seq,
}

/// What few goroutines have (regions, STW and mark-assist ranges): kept
/// aside so that the goroutine map stays small.
#[derive(Debug, Default)]
struct GExtra {
    regions: Vec<(u64, String)>,
    ranges: Ranges,
}

#[derive(Debug)]
struct PState {
    status: u64,
    seq: Seq,
    ranges: Ranges,
}

/// A goroutine's or a proc's status, which sequenced events advance.
trait Sequenced {
    fn at(&self) -> (u64, Seq);
    fn set(&mut self, status: u64, seq: Seq);
}

impl Sequenced for GState {
    fn at(&self) -> (u64, Seq) {
        (self.status, self.seq)
    }
    fn set(&mut self, status: u64, seq: Seq) {
        (self.status, self.seq) = (status, seq);
    }
}

impl Sequenced for PState {
    fn at(&self) -> (u64, Seq) {
        (self.status, self.seq)
    }
    fn set(&mut self, status: u64, seq: Seq) {
        (self.status, self.seq) = (status, seq);
    }
}

/// The status of `id` if an event with sequence number `seq` applies to
/// it now: it is in one of the statuses `from` and `seq` is the next of
/// its sequence. `None`: the event waits for another batch's events.
fn ready<S: Sequenced>(map: &impl States<S>, id: i64, seq: Seq, from: &[u64]) -> Option<u64> {
    let (status, last) = map.get(&id)?.at();
    (from.contains(&status) && seq.succeeds(last)).then_some(status)
}

/// [`ready`] for an event that then advances `id` itself: one lookup.
#[inline(always)]
fn ready_mut<S: Sequenced>(
    map: &mut impl States<S>,
    id: i64,
    seq: Seq,
    from: u64,
) -> Option<&mut S> {
    let s = map.get_mut(&id)?;
    let (status, last) = s.at();
    (status == from && seq.succeeds(last)).then_some(s)
}

/// Moves `id` to `status` at sequence number `seq`.
fn advance<S: Sequenced>(map: &mut impl States<S>, id: i64, status: u64, seq: Seq) {
    if let Some(s) = map.get_mut(&id) {
        s.set(status, seq);
    }
}

#[derive(Debug, Clone, Copy)]
struct MState {
    g: i64,
    p: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gc {
    Undetermined,
    NotRunning,
    Running,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    No,
    May,
    Must,
}

/// Whether the context has what the event needs. Every event checks it:
/// the test is inlined, the message made only on failure.
#[inline(always)]
fn check_ctx(ctx: Ctx, m: Need, p: Need, g: Need) -> Result<(), String> {
    let has = [
        ctx.m != super::wire::NO_THREAD,
        ctx.p != NO_P,
        ctx.g != NO_G,
    ];
    // As bits: the needs are constants at every call, so this is one
    // mask and one compare.
    let bits =
        |f: &dyn Fn(Need) -> bool| u8::from(f(m)) | u8::from(f(p)) << 1 | u8::from(f(g)) << 2;
    let must = bits(&|n| n == Need::Must);
    let no = bits(&|n| n == Need::No);
    let has_bits = u8::from(has[0]) | u8::from(has[1]) << 1 | u8::from(has[2]) << 2;
    if has_bits & (must | no) == must {
        return Ok(());
    }
    Err(ctx_error(has, [m, p, g]))
}

#[cold]
fn ctx_error(has: [bool; 3], need: [Need; 3]) -> String {
    let what = ["thread", "proc", "goroutine"];
    (0..3)
        .find_map(|i| match (need[i], has[i]) {
            (Need::Must, false) => Some(format!("expected a {} but had none", what[i])),
            (Need::No, true) => Some(format!("expected no {} but had one", what[i])),
            _ => None,
        })
        .unwrap_or_default()
}

fn user(ctx: Ctx) -> Result<(), String> {
    check_ctx(ctx, Need::Must, Need::Must, Need::Must)
}

/// The scheduler model. It lives as long as the reader: states carry over
/// from one generation to the next.
#[derive(Debug)]
pub struct Ordering {
    g: GTable<GState>,
    /// Regions and ranges of the goroutines that have any.
    g_extra: FxHashMap<i64, GExtra>,
    p: PTable,
    /// Threads: id to slot in `ms` (threads are few and live long; the
    /// reader's cursors keep their slot, so the hot path does no lookup).
    m: FxHashMap<i64, usize>,
    ms: Vec<MState>,
    tasks: FxHashMap<u64, (String, u64)>,
    /// Names of ended tasks, for their end events.
    task_names: Vec<String>,
    gc_seq: u64,
    gc: Gc,
    initial_gen: u64,
    /// Events placed, in order, for the reader to hand out (it clears
    /// this when it has): written once, where they are read.
    pub out: Vec<Event>,
    /// The time of the last event placed.
    pub last_ts: i64,
    /// The thread slot of the event being dispatched.
    slot: Option<usize>,
}

/// What `advance` decided.
pub enum Step {
    /// The event (and maybe others) went to the queue.
    Done,
    /// It cannot happen yet: try another thread's event.
    NotYet,
}

impl Default for Ordering {
    fn default() -> Self {
        Ordering {
            g: GTable::default(),
            g_extra: FxHashMap::default(),
            p: PTable::default(),
            m: FxHashMap::default(),
            ms: Vec::new(),
            tasks: FxHashMap::default(),
            task_names: vec![String::new()],
            gc_seq: 0,
            gc: Gc::Undetermined,
            initial_gen: 0,
            out: Vec::new(),
            last_ts: 0,
            slot: None,
        }
    }
}

impl Ordering {
    /// The slot of thread `m`'s state (created idle), `None` for "no
    /// thread".
    pub fn slot(&mut self, m: i64) -> Option<usize> {
        if m == super::wire::NO_THREAD {
            return None;
        }
        let ms = &mut self.ms;
        Some(*self.m.entry(m).or_insert_with(|| {
            ms.push(MState { g: NO_G, p: NO_P });
            ms.len() - 1
        }))
    }

    /// Tries to advance `e` from thread `m` (whose state is in `slot`,
    /// from [`Ordering::slot`]) in generation `gen`; `strings` resolves the
    /// generation's string ids (task and region names).
    #[inline(always)]
    pub fn advance(
        &mut self,
        e: &Raw,
        m: i64,
        slot: Option<usize>,
        gen: u64,
        strings: &dyn Fn(u64) -> Option<String>,
    ) -> Result<Step, TraceError> {
        if self.initial_gen == 0 {
            self.initial_gen = gen;
        }
        let mut cur = Ctx {
            g: NO_G,
            p: NO_P,
            m,
        };
        // The context by value, in registers: through memory, the copies
        // of it cost more than the hot events' own work.
        if let Some(i) = slot {
            let ms = self.ms[i];
            cur.p = ms.p;
            cur.g = ms.g;
        }
        self.slot = slot;
        match self.dispatch_hot(e, cur, gen, strings) {
            Ok(true) => Ok(Step::Done),
            Ok(false) => Ok(Step::NotYet),
            Err(message) => Err(TraceError::Broken {
                time: e.time,
                event: SPECS[e.typ as usize].name,
                message,
            }),
        }
    }

    #[inline(always)]
    fn push(&mut self, e: &Raw, ctx: Ctx) {
        // Built from the decoded event where it lies, not from a copy just
        // written on the stack: a wide load of narrow fresh stores stalls.
        let time = self.retime(e.time);
        self.out.push(Event {
            typ: e.typ,
            time,
            ctx,
            args: e.args,
        });
    }

    /// Places an event the reader makes (a Sync, a CPU sample).
    pub fn place(&mut self, mut e: Event) {
        e.time = self.retime(e.time);
        self.out.push(e);
    }

    /// Go's output times: strictly increasing, each at least one
    /// nanosecond after the one before.
    #[inline(always)]
    fn retime(&mut self, t: i64) -> i64 {
        let t = if t <= self.last_ts {
            self.last_ts + 1
        } else {
            t
        };
        self.last_ts = t;
        t
    }

    /// The scheduler events that make up nearly all of a trace (goroutine
    /// creation, start, block, unblock, exit, syscalls), inlined into the
    /// reader's loop; the others go through [`Ordering::dispatch`].
    /// `Ok(true)` when advanced (the thread's new context is set by
    /// [`Ordering::moved`]), `Ok(false)` when not yet.
    #[inline(always)]
    fn dispatch_hot(
        &mut self,
        e: &Raw,
        c: Ctx,
        gen: u64,
        strings: &dyn Fn(u64) -> Option<String>,
    ) -> Result<bool, String> {
        match e.typ {
            ev::GO_CREATE | ev::GO_CREATE_BLOCKED => {
                check_ctx(c, Need::Must, Need::Must, Need::May)?;
                if let Some(s) = self.g.get(&c.g) {
                    if s.status != gstatus::RUNNING {
                        return Err("goroutine creation by a goroutine that is not running".into());
                    }
                }
                let new = e.args[0] as i64;
                let status = if e.typ == ev::GO_CREATE_BLOCKED {
                    gstatus::WAITING
                } else {
                    gstatus::RUNNABLE
                };
                if !self.g.insert_new(new, new_g(status, gen)) {
                    return Err(format!("goroutine {new} created twice"));
                }
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GO_START => {
                let gid = e.args[0] as i64;
                let seq = Seq { gen, n: e.args[1] };
                let Some(s) = ready_mut(&mut self.g, gid, seq, gstatus::RUNNABLE) else {
                    return Ok(false);
                };
                check_ctx(c, Need::Must, Need::Must, Need::No)?;
                s.set(gstatus::RUNNING, seq);
                self.push(e, c);
                Ok(self.moved(Ctx { g: gid, ..c }))
            }
            ev::GO_DESTROY | ev::GO_STOP | ev::GO_BLOCK => {
                user(c)?;
                let s = self.running_g(c.g, e.typ)?;
                match e.typ {
                    ev::GO_DESTROY => self.remove_g(c.g),
                    ev::GO_STOP => s.status = gstatus::RUNNABLE,
                    _ => s.status = gstatus::WAITING,
                }
                self.push(e, c);
                Ok(self.moved(Ctx { g: NO_G, ..c }))
            }
            ev::GO_UNBLOCK => {
                let gid = e.args[0] as i64;
                let seq = Seq { gen, n: e.args[1] };
                let Some(s) = ready_mut(&mut self.g, gid, seq, gstatus::WAITING) else {
                    return Ok(false);
                };
                s.set(gstatus::RUNNABLE, seq);
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GO_SYSCALL_BEGIN => {
                user(c)?;
                let s = self.running_g(c.g, e.typ)?;
                s.status = gstatus::SYSCALL;
                let p = known(&mut self.p, c.p, "proc", e.typ)?;
                p.status = pstatus::SYSCALL;
                let seq = Seq { gen, n: e.args[0] };
                if !seq.succeeds(p.seq) {
                    return Err(format!(
                        "GoSyscallBegin: proc sequence {} does not follow {}",
                        seq.n, p.seq.n
                    ));
                }
                p.seq = seq;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GO_SYSCALL_END => {
                user(c)?;
                let s = known(&mut self.g, c.g, "goroutine", e.typ)?;
                if s.status != gstatus::SYSCALL {
                    return Err("GoSyscallEnd for a goroutine not in a syscall".into());
                }
                s.status = gstatus::RUNNING;
                let p = known(&mut self.p, c.p, "proc", e.typ)?;
                if p.status != pstatus::SYSCALL {
                    return Err(format!("GoSyscallEnd: proc {} not in a syscall", c.p));
                }
                p.status = pstatus::RUNNING;
                self.push(e, c);
                Ok(self.moved(c))
            }
            _ => self.dispatch(e, c, gen, strings),
        }
    }

    /// The other events of [`Ordering::dispatch_hot`].
    #[inline(never)]
    fn dispatch(
        &mut self,
        e: &Raw,
        c: Ctx,
        gen: u64,
        strings: &dyn Fn(u64) -> Option<String>,
    ) -> Result<bool, String> {
        let initial = gen == self.initial_gen;
        match e.typ {
            ev::PROCS_CHANGE | ev::GO_LABEL | ev::USER_LOG => {
                user(c)?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::PROC_STATUS => self.proc_status(e, c, gen),
            ev::PROC_START => {
                let pid = e.args[0] as i64;
                let seq = Seq { gen, n: e.args[1] };
                if c.p != NO_P {
                    return Ok(false);
                }
                let Some(s) = ready_mut(&mut self.p, pid, seq, pstatus::IDLE) else {
                    return Ok(false);
                };
                check_ctx(c, Need::Must, Need::No, Need::May)?;
                s.set(pstatus::RUNNING, seq);
                self.push(e, c);
                Ok(self.moved(Ctx { p: pid, ..c }))
            }
            ev::PROC_STOP => {
                let s = known(&mut self.p, c.p, "proc", e.typ)?;
                if s.status != pstatus::RUNNING && s.status != pstatus::SYSCALL {
                    return Err("ProcStop for a proc that is not running".into());
                }
                check_ctx(c, Need::Must, Need::Must, Need::May)?;
                s.status = pstatus::IDLE;
                self.push(e, c);
                Ok(self.moved(Ctx { p: NO_P, ..c }))
            }
            ev::PROC_STEAL => self.proc_steal(e, c, gen),
            ev::GO_STATUS | ev::GO_STATUS_STACK => self.go_status(e, c, gen),
            ev::GO_CREATE_SYSCALL => {
                check_ctx(c, Need::Must, Need::May, Need::No)?;
                let new = e.args[0] as i64;
                if self.g.contains_key(&new) {
                    return Err(format!("goroutine {new} created twice (in a syscall)"));
                }
                self.g.insert(new, new_g(gstatus::SYSCALL, gen));
                self.push(e, c);
                Ok(self.moved(Ctx { g: new, ..c }))
            }
            ev::GO_SWITCH | ev::GO_SWITCH_DESTROY => {
                user(c)?;
                self.running_g(c.g, e.typ)?;
                let next = e.args[0] as i64;
                let seq = Seq { gen, n: e.args[1] };
                if ready(&self.g, next, seq, &[gstatus::WAITING]).is_none() {
                    return Ok(false);
                }
                self.push(e, c);
                if e.typ == ev::GO_SWITCH {
                    if let Some(s) = self.g.get_mut(&c.g) {
                        s.status = gstatus::WAITING;
                    }
                    // Go gives the implied block no reason and no stack.
                    self.push(&Raw::made(ev::GO_BLOCK, e.time, &[0, 0]), c);
                } else {
                    self.remove_g(c.g);
                    self.push(&Raw::made(ev::GO_DESTROY, e.time, &[]), c);
                }
                advance(&mut self.g, next, gstatus::RUNNING, seq);
                self.push(
                    &Raw::made(ev::GO_START, e.time, &[next as u64, e.args[1]]),
                    Ctx { g: NO_G, ..c },
                );
                Ok(self.moved(Ctx { g: next, ..c }))
            }
            ev::GO_SYSCALL_END_BLOCKED => {
                if c.p != NO_P {
                    let p = self
                        .p
                        .get(&c.p)
                        .ok_or_else(|| format!("GoSyscallEndBlocked on unknown proc {}", c.p))?;
                    if p.status == pstatus::SYSCALL {
                        return Ok(false);
                    }
                }
                check_ctx(c, Need::Must, Need::May, Need::Must)?;
                let s = known(&mut self.g, c.g, "goroutine", e.typ)?;
                if s.status != gstatus::SYSCALL {
                    return Err("GoSyscallEndBlocked for a goroutine not in a syscall".into());
                }
                s.status = gstatus::RUNNABLE;
                self.push(e, c);
                Ok(self.moved(Ctx { g: NO_G, ..c }))
            }
            ev::GO_DESTROY_SYSCALL => {
                check_ctx(c, Need::Must, Need::May, Need::Must)?;
                match self.g.get(&c.g) {
                    Some(s) if s.status == gstatus::SYSCALL => {}
                    Some(_) => {
                        return Err("GoDestroySyscall for a goroutine not in a syscall".into())
                    }
                    None => return Err(format!("GoDestroySyscall for unknown goroutine {}", c.g)),
                }
                self.remove_g(c.g);
                let mut new = Ctx { g: NO_G, ..c };
                if c.p != NO_P {
                    let p = known(&mut self.p, c.p, "proc", e.typ)?;
                    if p.status != pstatus::SYSCALL {
                        return Err(format!("GoDestroySyscall: proc {} not in a syscall", c.p));
                    }
                    p.status = pstatus::SYSCALL_ABANDONED;
                    new.p = NO_P;
                    let mut steal = Raw::made(ev::PROC_STEAL, e.time, &[c.p as u64]);
                    steal.args[3] = pstatus::SYSCALL;
                    self.push(&steal, c);
                }
                self.push(e, c);
                Ok(self.moved(new))
            }
            ev::USER_TASK_BEGIN => {
                let mut e = *e;
                let id = e.args[0];
                if self.tasks.contains_key(&id) {
                    return Err(format!("task id {id} begun twice"));
                }
                let mut parent = e.args[1];
                if parent == 0 {
                    // 0 is "no parent" here, not the background task.
                    parent = u64::MAX;
                    e.args[1] = parent;
                }
                let name = strings(e.args[2]).ok_or("task name is not in the string table")?;
                self.tasks.insert(id, (name, parent));
                user(c)?;
                self.push(&e, c);
                Ok(self.moved(c))
            }
            ev::USER_TASK_END => {
                let mut e = *e;
                let id = e.args[0];
                let (name, parent) = self.tasks.remove(&id).unwrap_or((String::new(), u64::MAX));
                e.args[2] = parent;
                e.args[3] = if name.is_empty() {
                    0
                } else {
                    self.task_names.push(name);
                    (self.task_names.len() - 1) as u64
                };
                user(c)?;
                self.push(&e, c);
                Ok(self.moved(c))
            }
            ev::USER_REGION_BEGIN | ev::USER_REGION_END => {
                user(c)?;
                let name = strings(e.args[1]).ok_or("region name is not in the string table")?;
                let s = self.extra(c.g, e.typ)?;
                let r = (e.args[0], name);
                if e.typ == ev::USER_REGION_BEGIN {
                    s.regions.push(r);
                } else if let Some(last) = s.regions.last() {
                    if *last != r {
                        return Err(format!("region {:?} ends inside region {:?}", r.1, last.1));
                    }
                    s.regions.pop();
                }
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GC_ACTIVE => {
                let seq = e.args[0];
                if initial {
                    if self.gc != Gc::Undetermined {
                        return Err(
                            "GCActive in the first generation is not its first GC event".into()
                        );
                    }
                    self.gc_seq = seq;
                    self.gc = Gc::Running;
                    self.push(e, c);
                    return Ok(self.moved(c));
                }
                if seq != self.gc_seq.wrapping_add(1) {
                    return Ok(false);
                }
                if self.gc != Gc::Running {
                    return Err("GCActive while no GC runs".into());
                }
                self.gc_seq = seq;
                user(c)?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GC_BEGIN => {
                let seq = e.args[0];
                if self.gc == Gc::Undetermined {
                    self.gc_seq = seq;
                    self.gc = Gc::Running;
                    self.push(e, c);
                    return Ok(self.moved(c));
                }
                if seq != self.gc_seq.wrapping_add(1) {
                    return Ok(false);
                }
                if self.gc == Gc::Running {
                    return Err("GCBegin while a GC runs".into());
                }
                self.gc_seq = seq;
                self.gc = Gc::Running;
                user(c)?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GC_END => {
                let seq = e.args[0];
                if seq != self.gc_seq.wrapping_add(1) {
                    return Ok(false);
                }
                match self.gc {
                    Gc::NotRunning => return Err("GCEnd while no GC runs".into()),
                    Gc::Undetermined => return Err("GCEnd while the GC state is unknown".into()),
                    Gc::Running => {}
                }
                self.gc_seq = seq;
                self.gc = Gc::NotRunning;
                user(c)?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::HEAP_ALLOC | ev::HEAP_GOAL => {
                check_ctx(c, Need::Must, Need::Must, Need::May)?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GC_SWEEP_BEGIN => {
                check_ctx(c, Need::Must, Need::Must, Need::May)?;
                let p = known(&mut self.p, c.p, "proc", e.typ)?;
                p.ranges.begin(range_type(e.typ, 0))?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GC_SWEEP_ACTIVE => {
                let pid = e.args[0] as i64;
                let p = known(&mut self.p, pid, "proc", e.typ)?;
                p.ranges.active(range_type(e.typ, 0), initial)?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GC_SWEEP_END => {
                check_ctx(c, Need::Must, Need::Must, Need::May)?;
                let p = known(&mut self.p, c.p, "proc", e.typ)?;
                p.ranges.end(e.typ)?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::STW_BEGIN | ev::GC_MARK_ASSIST_BEGIN => {
                user(c)?;
                let desc = if e.typ == ev::STW_BEGIN { e.args[0] } else { 0 };
                let s = self.extra(c.g, e.typ)?;
                s.ranges.begin(range_type(e.typ, desc))?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::GC_MARK_ASSIST_ACTIVE => {
                let gid = e.args[0] as i64;
                let s = self.extra(gid, e.typ)?;
                s.ranges.active(range_type(e.typ, 0), initial)?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            ev::STW_END | ev::GC_MARK_ASSIST_END => {
                let mut e = *e;
                user(c)?;
                let s = self.extra(c.g, e.typ)?;
                let desc = s.ranges.end(e.typ)?;
                if e.typ == ev::STW_END {
                    // The kind is carried over from the begin, as Go does.
                    e.args[0] = desc;
                }
                self.push(&e, c);
                Ok(self.moved(c))
            }
            t if (ev::SPAN..=ev::GOROUTINE_STACK_FREE).contains(&t) => {
                check_ctx(c, Need::Must, Need::May, Need::May)?;
                self.push(e, c);
                Ok(self.moved(c))
            }
            t => Err(format!("event type {t} cannot be ordered")),
        }
    }

    /// A name kept for a UserTaskEnd.
    pub fn task_name(&self, i: u64) -> &str {
        self.task_names.get(i as usize).map_or("", String::as_str)
    }

    /// The regions and ranges of goroutine `g`, which must exist.
    fn extra(&mut self, g: i64, typ: u8) -> Result<&mut GExtra, String> {
        known(&mut self.g, g, "goroutine", typ)?;
        Ok(self.g_extra.entry(g).or_default())
    }

    #[inline(always)]
    fn remove_g(&mut self, g: i64) {
        self.g.remove(&g);
        if !self.g_extra.is_empty() {
            self.g_extra.remove(&g);
        }
    }

    /// Sets the context the event leaves its thread in; true. Written
    /// here, from registers: a context returned through memory and read
    /// back whole stalls on its fresh narrow stores.
    #[inline(always)]
    fn moved(&mut self, new: Ctx) -> bool {
        if let Some(i) = self.slot {
            self.ms[i] = MState { g: new.g, p: new.p };
        }
        true
    }

    #[inline(always)]
    fn running_g(&mut self, g: i64, typ: u8) -> Result<&mut GState, String> {
        match self.g.get_mut(&g) {
            Some(s) if s.status == gstatus::RUNNING => Ok(s),
            s => Err(not_running(g, typ, s.is_some())),
        }
    }

    fn proc_status(&mut self, e: &Raw, mut cur: Ctx, gen: u64) -> Result<bool, String> {
        let mut e = *e;
        let pid = e.args[0] as i64;
        let status = e.args[1];
        if !(1..=4).contains(&status) {
            return Err(format!("invalid status {status} for proc {pid}"));
        }
        let mut old = proc_state_of_status(status);
        match States::get_mut(&mut self.p, &pid) {
            Some(s) => {
                if status == pstatus::SYSCALL_ABANDONED && s.status == pstatus::SYSCALL {
                    old = 2; // ProcRunning: promoted, nothing lost.
                    e.args[1] = pstatus::SYSCALL;
                } else if status == pstatus::SYSCALL_ABANDONED
                    && s.status == pstatus::SYSCALL_ABANDONED
                {
                    old = 3; // ProcIdle.
                    e.args[1] = pstatus::SYSCALL_ABANDONED;
                } else if s.status != status {
                    return Err(format!(
                        "inconsistent status for proc {pid}: {} then {status}",
                        s.status
                    ));
                }
                s.seq = Seq { gen, n: 0 };
            }
            None => {
                self.p.insert(
                    pid,
                    PState {
                        status,
                        seq: Seq { gen, n: 0 },
                        ranges: Ranges::default(),
                    },
                );
                old = if gen == self.initial_gen { 0 } else { 1 };
            }
        }
        e.args[2] = old;
        let mut new = cur;
        if status == pstatus::RUNNING || status == pstatus::SYSCALL {
            new.p = pid;
        }
        if status == pstatus::SYSCALL_ABANDONED && old == 2 {
            // Emitted from the thread the P is bound to. Go takes the
            // first match of a map walk; a P is bound to one M at most.
            let ms = &self.ms;
            let found = self
                .m
                .iter()
                .map(|(&mid, &i)| (mid, ms[i]))
                .filter(|(_, s)| s.p == pid)
                .max_by_key(|(mid, _)| *mid);
            let Some((mid, ms)) = found else {
                return Err(format!(
                    "no thread holds proc {pid}, which is about to be stolen"
                ));
            };
            cur.m = mid;
            cur.p = pid;
            cur.g = ms.g;
        }
        self.push(&e, cur);
        Ok(self.moved(new))
    }

    fn proc_steal(&mut self, e: &Raw, c: Ctx, gen: u64) -> Result<bool, String> {
        let mut e = *e;
        let pid = e.args[0] as i64;
        let seq = Seq { gen, n: e.args[1] };
        let from = [pstatus::SYSCALL, pstatus::SYSCALL_ABANDONED];
        let Some(old) = ready(&self.p, pid, seq, &from) else {
            return Ok(false);
        };
        check_ctx(c, Need::Must, Need::May, Need::May)?;
        e.args[3] = old;
        advance(&mut self.p, pid, pstatus::IDLE, seq);
        if old == pstatus::SYSCALL_ABANDONED {
            self.push(&e, c);
            return Ok(self.moved(c));
        }
        let mid = e.args[2] as i64;
        if mid == c.m {
            if c.p != pid {
                return Err(format!(
                    "thread {mid} steals proc {pid} from itself but holds proc {}",
                    c.p
                ));
            }
            self.push(&e, c);
            return Ok(self.moved(Ctx { p: NO_P, ..c }));
        }
        let i = *self
            .m
            .get(&mid)
            .ok_or_else(|| format!("proc {pid} stolen from unknown thread {mid}"))?;
        let ms = &mut self.ms[i];
        if ms.p != pid {
            return Err(format!(
                "proc {pid} stolen from thread {mid}, which holds proc {}",
                ms.p
            ));
        }
        ms.p = NO_P;
        self.push(&e, c);
        Ok(self.moved(c))
    }

    fn go_status(&mut self, e: &Raw, mut cur: Ctx, gen: u64) -> Result<bool, String> {
        let mut e = *e;
        let gid = e.args[0] as i64;
        let mid = e.args[1] as i64;
        let status = e.args[2];
        if !(1..=4).contains(&status) {
            return Err(format!("invalid status {status} for goroutine {gid}"));
        }
        let mut old = GoState::of_status(status);
        match self.g.get_mut(&gid) {
            Some(s) => {
                if s.status != status {
                    return Err(format!(
                        "inconsistent status for goroutine {gid}: {} then {status}",
                        s.status
                    ));
                }
                s.seq = Seq { gen, n: 0 };
            }
            None if gen == self.initial_gen => {
                self.g.insert(gid, new_g(status, gen));
                old = GoState::Undetermined;
            }
            None => {
                return Err(format!(
                    "status of goroutine {gid} never seen before, after the first generation"
                ))
            }
        }
        // Go packs the old state in the status argument.
        e.args[2] = (old as u64) << 32 | status;
        let mut new = cur;
        match status {
            gstatus::RUNNING => new.g = gid,
            gstatus::SYSCALL => {
                if mid == super::wire::NO_THREAD {
                    return Err(format!("goroutine {gid} in a syscall without a thread"));
                }
                if mid == cur.m {
                    if gen != self.initial_gen && cur.g != gid {
                        return Err(format!(
                            "syscalling goroutine {gid} is not the one of its thread ({})",
                            cur.g
                        ));
                    }
                    new.g = gid;
                } else {
                    match self.m.get(&mid).map(|&i| self.ms[i]) {
                        Some(ms) => {
                            if ms.g != gid {
                                return Err(format!(
                                    "syscalling goroutine {gid} is not the one of thread {mid} ({})",
                                    ms.g
                                ));
                            }
                            cur.g = ms.g;
                        }
                        None => {
                            if let Some(i) = self.slot(mid) {
                                self.ms[i] = MState { g: gid, p: NO_P };
                            }
                        }
                    }
                    cur.m = mid;
                }
            }
            _ => {}
        }
        self.push(&e, cur);
        Ok(self.moved(new))
    }
}

#[cold]
fn not_running(g: i64, typ: u8, exists: bool) -> String {
    let what = if exists {
        "is not running"
    } else {
        "does not exist"
    };
    format!("{} for goroutine {g} that {what}", SPECS[typ as usize].name)
}

/// The state of a goroutine or P an event names, which must be known.
#[inline(always)]
fn known<'a, S>(
    states: &'a mut impl States<S>,
    id: i64,
    what: &str,
    typ: u8,
) -> Result<&'a mut S, String> {
    match states.get_mut(&id) {
        Some(s) => Ok(s),
        None => Err(unknown(id, what, typ)),
    }
}

#[cold]
fn unknown(id: i64, what: &str, typ: u8) -> String {
    format!("{} for unknown {what} {id}", SPECS[typ as usize].name)
}

fn new_g(status: u64, gen: u64) -> GState {
    GState {
        status,
        seq: Seq { gen, n: 0 },
    }
}

/// The states a sequenced event looks up by id: goroutines (in a
/// [`GTable`]) or Ps (in a map: a program has few).
trait States<S> {
    fn get(&self, id: &i64) -> Option<&S>;
    fn get_mut(&mut self, id: &i64) -> Option<&mut S>;
}

/// Ps by id. Go numbers them from 0 up to GOMAXPROCS, and the syscall
/// events look their P up: a vector indexed by id, where a hash map cost
/// a hash and a probe. Other ids (only made-up traces have them) go to
/// a map.
#[derive(Debug, Default)]
struct PTable {
    dense: Vec<Option<PState>>,
    far: FxHashMap<i64, PState>,
}

/// Ids below this are in [`PTable`]'s vector (a few hundred KB at most).
const DENSE_PS: i64 = 4096;

impl PTable {
    fn insert(&mut self, id: i64, s: PState) {
        if (0..DENSE_PS).contains(&id) {
            let i = id as usize;
            if self.dense.len() <= i {
                self.dense.resize_with(i + 1, || None);
            }
            self.dense[i] = Some(s);
        } else {
            self.far.insert(id, s);
        }
    }
}

impl States<PState> for PTable {
    #[inline(always)]
    fn get(&self, id: &i64) -> Option<&PState> {
        if (0..DENSE_PS).contains(id) {
            self.dense.get(*id as usize)?.as_ref()
        } else {
            self.far.get(id)
        }
    }
    #[inline(always)]
    fn get_mut(&mut self, id: &i64) -> Option<&mut PState> {
        if (0..DENSE_PS).contains(id) {
            self.dense.get_mut(*id as usize)?.as_mut()
        } else {
            self.far.get_mut(id)
        }
    }
}

impl<S> States<S> for FxHashMap<i64, S> {
    fn get(&self, id: &i64) -> Option<&S> {
        FxHashMap::get(self, id)
    }
    fn get_mut(&mut self, id: &i64) -> Option<&mut S> {
        FxHashMap::get_mut(self, id)
    }
}

/// Ids per leaf of a [`GTable`], and leaves per middle node.
const LEAF_BITS: u32 = 8;
const MID_BITS: u32 = 12;
/// Ids the table indexes: below 2^40 (Go's goroutine ids count up from 1;
/// a service would need decades to pass this). Others go to the map.
const TOP_SHIFT: u32 = LEAF_BITS + MID_BITS;
const MAX_TOP: u64 = 1 << (40 - TOP_SHIFT);
/// Leaves alive at most (6 KiB each: 24 MiB). Ids spread far apart (only
/// made up traces do that) go to the map past this.
const MAX_LEAVES: usize = 4096;

struct Leaf<S> {
    live: u32,
    /// [`Slot::ABSENT`]: no goroutine.
    slots: [S; 1 << LEAF_BITS],
}

struct Mid<S> {
    /// Leaves alive under it: freed at none.
    leaves: u32,
    slots: [Option<Box<Leaf<S>>>; 1 << MID_BITS],
}

/// Middle nodes alive at most (32 KiB each: 8 MiB). Ids a million apart
/// (only made up traces have many) go to the map past this.
const MAX_MIDS: usize = 256;

/// Emptied leaves a [`GTable`] keeps for reuse.
const SPARE_LEAVES: usize = 4;

/// Goroutine states by id. Go hands goroutine ids out from a counter, a
/// batch at a time per P, so the ids alive at once sit in a few runs of
/// consecutive ids: a radix table of 256-id leaves, indexed directly, costs
/// a few loads where a hash map costs a hash, a probe and a cache miss on
/// a big table. Every event looks a goroutine up.
pub(super) struct GTable<S: Slot> {
    top: Vec<Option<Box<Mid<S>>>>,
    leaves: usize,
    mids: usize,
    far: FxHashMap<i64, S>,
    /// A few emptied leaves (all slots absent again), for the next ids:
    /// a busy program fills a leaf every 256 goroutines it creates, and
    /// a fresh one costs an allocation and 6 KB of zeroing.
    spare: Vec<Box<Leaf<S>>>,
}

impl<S: Slot> Default for GTable<S> {
    fn default() -> Self {
        GTable {
            top: Vec::new(),
            leaves: 0,
            mids: 0,
            far: FxHashMap::default(),
            spare: Vec::new(),
        }
    }
}

impl<S: Slot> std::fmt::Debug for GTable<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GTable")
            .field("leaves", &self.leaves)
            .field("far", &self.far.len())
            .finish()
    }
}

/// What a [`GTable`] holds: a value with an absent state (the empty
/// slots of a leaf).
pub(super) trait Slot: Copy {
    const ABSENT: Self;
    fn present(&self) -> bool;
}

impl Slot for GState {
    const ABSENT: GState = GState {
        status: 0,
        seq: Seq { gen: 0, n: 0 },
    };
    fn present(&self) -> bool {
        self.status != 0
    }
}

/// Where id `u` is in its leaf.
#[inline(always)]
fn in_leaf(u: u64) -> usize {
    (u & ((1 << LEAF_BITS) - 1)) as usize
}

/// Where id `u`'s leaf is in its middle node.
#[inline(always)]
fn in_mid(u: u64) -> usize {
    ((u >> LEAF_BITS) & ((1 << MID_BITS) - 1)) as usize
}

impl<S: Slot> GTable<S> {
    /// The leaf slot of `id`, if its leaf exists.
    #[inline(always)]
    fn slot(&self, id: i64) -> Option<&S> {
        let u = id as u64;
        // Compared before the cast: a 32-bit usize would alias big ids.
        if u >> TOP_SHIFT >= MAX_TOP {
            return None;
        }
        let mid = self.top.get((u >> TOP_SHIFT) as usize)?.as_ref()?;
        let leaf = mid.slots[in_mid(u)].as_ref()?;
        Some(&leaf.slots[in_leaf(u)])
    }

    #[inline(always)]
    fn leaf_mut(&mut self, id: i64) -> Option<&mut Leaf<S>> {
        let u = id as u64;
        if u >> TOP_SHIFT >= MAX_TOP {
            return None;
        }
        let mid = self.top.get_mut((u >> TOP_SHIFT) as usize)?.as_mut()?;
        mid.slots[in_mid(u)].as_deref_mut()
    }

    #[inline(always)]
    pub(super) fn get(&self, id: &i64) -> Option<&S> {
        match self.slot(*id) {
            Some(s) if s.present() => Some(s),
            _ if self.far.is_empty() => None,
            _ => self.far.get(id),
        }
    }

    #[inline(always)]
    pub(super) fn get_mut(&mut self, id: &i64) -> Option<&mut S> {
        let k = in_leaf(*id as u64);
        if self.far.is_empty() {
            // The usual case: one walk down the table.
            let s = &mut self.leaf_mut(*id)?.slots[k];
            return (s.present()).then_some(s);
        }
        let present = matches!(self.slot(*id), Some(s) if s.present());
        if present {
            return Some(&mut self.leaf_mut(*id)?.slots[k]);
        }
        if self.far.is_empty() {
            return None;
        }
        self.far.get_mut(id)
    }

    fn contains_key(&self, id: &i64) -> bool {
        self.get(id).is_some()
    }

    /// Adds goroutine `id` unless it is present; whether it was not.
    /// The usual case, a leaf that has the id's slot and no far ids, is
    /// one walk down the table.
    #[inline(always)]
    pub(super) fn insert_new(&mut self, id: i64, s: S) -> bool {
        if self.far.is_empty() {
            if let Some(leaf) = self.leaf_mut(id) {
                let slot = &mut leaf.slots[in_leaf(id as u64)];
                if slot.present() {
                    return false;
                }
                *slot = s;
                leaf.live += 1;
                return true;
            }
        }
        if self.contains_key(&id) {
            return false;
        }
        self.insert(id, s);
        true
    }

    /// Adds goroutine `id` (not present: the callers check).
    pub(super) fn insert(&mut self, id: i64, s: S) {
        let u = id as u64;
        let t = u >> TOP_SHIFT;
        if id < 0 || t >= MAX_TOP {
            self.far.insert(id, s);
            return;
        }
        let t = t as usize;
        if self.top.len() <= t {
            self.top.resize_with(t + 1, || None);
        }
        let m = in_mid(u);
        let has_mid = self.top[t].is_some();
        let has_leaf = self.top[t]
            .as_ref()
            .is_some_and(|mid| mid.slots[m].is_some());
        if !has_leaf && (self.leaves >= MAX_LEAVES || !has_mid && self.mids >= MAX_MIDS) {
            self.far.insert(id, s);
            return;
        }
        let mid = self.top[t].get_or_insert_with(|| {
            self.mids += 1;
            Box::new(Mid {
                leaves: 0,
                slots: std::array::from_fn(|_| None),
            })
        });
        let spare = &mut self.spare;
        let leaf = mid.slots[m].get_or_insert_with(|| {
            self.leaves += 1;
            mid.leaves += 1;
            spare.pop().unwrap_or_else(|| {
                Box::new(Leaf {
                    live: 0,
                    slots: [S::ABSENT; 1 << LEAF_BITS],
                })
            })
        });
        leaf.live += 1;
        leaf.slots[in_leaf(u)] = s;
    }

    #[inline(always)]
    pub(super) fn remove(&mut self, id: &i64) {
        let u = *id as u64;
        // The usual case, one walk down: a leaf that stays in use, and no
        // far ids.
        if self.far.is_empty() {
            if let Some(leaf) = self.leaf_mut(*id) {
                let slot = &mut leaf.slots[in_leaf(u)];
                if slot.present() && leaf.live > 1 {
                    *slot = S::ABSENT;
                    leaf.live -= 1;
                    return;
                }
            }
        }
        self.remove_slow(id);
    }

    fn remove_slow(&mut self, id: &i64) {
        let u = *id as u64;
        let present = matches!(self.slot(*id), Some(s) if s.present());
        if !present {
            if !self.far.is_empty() {
                self.far.remove(id);
            }
            return;
        }
        let t = (u >> TOP_SHIFT) as usize;
        let m = in_mid(u);
        let Some(mid) = self.top[t].as_mut() else {
            return;
        };
        let Some(leaf) = mid.slots[m].as_mut() else {
            return;
        };
        leaf.slots[in_leaf(u)] = S::ABSENT;
        leaf.live -= 1;
        if leaf.live == 0 {
            // Ids only count up: a leaf whose goroutines are all gone is
            // done with (kept for reuse, emptied), and so is a middle node
            // with no leaves left.
            if let Some(empty) = mid.slots[m].take() {
                if self.spare.len() < SPARE_LEAVES {
                    self.spare.push(empty);
                }
            }
            mid.leaves -= 1;
            self.leaves -= 1;
            if mid.leaves == 0 {
                self.top[t] = None;
                self.mids -= 1;
            }
        }
    }
}

impl States<GState> for GTable<GState> {
    #[inline(always)]
    fn get(&self, id: &i64) -> Option<&GState> {
        GTable::get(self, id)
    }
    #[inline(always)]
    fn get_mut(&mut self, id: &i64) -> Option<&mut GState> {
        GTable::get_mut(self, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The P table against a plain map: ids in its vector, negative ones
    /// and ones past it.
    #[test]
    fn the_p_table_is_a_map() {
        let mut t = PTable::default();
        let mut want: FxHashMap<i64, u64> = FxHashMap::default();
        let ids = [
            0,
            1,
            7,
            3,
            DENSE_PS - 1,
            DENSE_PS,
            DENSE_PS + 5,
            -1,
            -2,
            i64::MIN,
            i64::MAX,
            2,
        ];
        for (step, &id) in ids.iter().cycle().take(5 * ids.len()).enumerate() {
            let status = step as u64 % 5;
            // Passes over the ids in turn: insert (or replace), then modify.
            if (step / ids.len()).is_multiple_of(2) {
                let s = PState {
                    status,
                    seq: Seq { gen: 1, n: 0 },
                    ranges: Ranges::default(),
                };
                t.insert(id, s);
                want.insert(id, status);
            } else if let Some(s) = States::get_mut(&mut t, &id) {
                s.status = status;
                *want.get_mut(&id).expect("in the model too") = status;
            }
            for id in ids {
                assert_eq!(
                    States::get(&t, &id).map(|s| s.status),
                    want.get(&id).copied(),
                    "{id}"
                );
            }
        }
        assert_eq!(want.len(), ids.len());
        assert!(!t.far.is_empty() && t.dense.len() == DENSE_PS as usize);
    }

    /// The goroutine table against a plain map, on ids from every range it
    /// treats apart: dense small ids (leaves), ids spread a leaf apart
    /// until the leaves run out and a million apart until the middle nodes
    /// do (then the map), negative ids and ids past 2^40 (the map), with
    /// leaves and middle nodes emptied and freed on the way.
    #[test]
    fn the_goroutine_table_is_a_map() {
        let mut t = GTable::<GState>::default();
        let mut want: FxHashMap<i64, u64> = FxHashMap::default();
        let (mut most, mut most_mids) = (0, 0);
        let mut x: u64 = 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..250_000u64 {
            let r = next();
            // Small ids alone first (the map unused: the fast paths),
            // then every range.
            let ranges = if step < 50_000 { 2 } else { 6 };
            let id: i64 = match r % ranges {
                5 => (((r >> 8) % (2 * MAX_MIDS as u64)) << TOP_SHIFT) as i64,
                0 | 1 => (r >> 8) as i64 % 5_000,
                2 => (((r >> 8) % (2 * MAX_LEAVES as u64)) << LEAF_BITS) as i64,
                3 => -((r >> 8) as i64 % 1_000) - 2,
                _ => (1i64 << 41) + (r >> 8) as i64 % 1_000,
            };
            // Twice as many adds as removals: the leaves run out.
            match (r >> 4) % 4 {
                0 => {
                    // The creation path: adds only what is absent.
                    let status = 1 + step % 4;
                    let absent = !want.contains_key(&id);
                    assert_eq!(t.insert_new(id, new_g(status, step)), absent, "{id}");
                    if absent {
                        want.insert(id, status);
                    }
                }
                1 if !want.contains_key(&id) => {
                    let status = 1 + step % 4;
                    t.insert(id, new_g(status, step));
                    want.insert(id, status);
                }
                2 => {
                    t.remove(&id);
                    want.remove(&id);
                }
                _ => {
                    if let Some(s) = t.get_mut(&id) {
                        s.status = 1 + (s.status % 4);
                        *want.get_mut(&id).expect("in the model too") = s.status;
                    }
                }
            }
            assert_eq!(t.get(&id).map(|s| s.status), want.get(&id).copied(), "{id}");
            assert_eq!(t.contains_key(&id), want.contains_key(&id));
            most = most.max(t.leaves);
            most_mids = most_mids.max(t.mids);
        }
        assert_eq!(most, MAX_LEAVES, "the leaves never ran out");
        assert_eq!(most_mids, MAX_MIDS, "the middle nodes never ran out");
        for (id, &status) in &want {
            assert_eq!(t.get(id).map(|s| s.status), Some(status), "{id}");
        }
        assert!(t.leaves <= MAX_LEAVES);
        assert!(!t.far.is_empty(), "the map was never used");
        // Every goroutine gone: every leaf freed.
        for id in want.keys().copied().collect::<Vec<_>>() {
            t.remove(&id);
        }
        assert_eq!(t.leaves, 0);
        assert_eq!(t.mids, 0);
        assert!(t.far.is_empty());
    }
}
