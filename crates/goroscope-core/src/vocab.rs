//! goroscope's cross-version vocabulary: state, block class, origin and stack
//! depth bucket for every goroutine, whatever Go release printed it.
//!
//! Sources: `gStatusStrings` and `waitReasonStrings` in `runtime/runtime2.go`
//! and `runtime/traceback.go` (`goroutineheader`) for Go 1.17 to 1.27. The wait
//! reason strings are stable across releases; their numeric values are not, so
//! everything here matches on strings.
//!
//! # Wait reason -> block class
//!
//! | wait reason(s) | block class |
//! |---|---|
//! | `chan receive` | chan_receive |
//! | `chan send` | chan_send |
//! | `select` | select |
//! | `chan receive (nil chan)`, `chan send (nil chan)`, `select (no cases)` | nil_or_forever |
//! | `sync.Mutex.Lock` (1.20+) | mutex, or rwmutex when the frames show `sync.(*RWMutex).Lock` (queued writer) |
//! | `sync.RWMutex.RLock`, `sync.RWMutex.Lock` (1.20+) | rwmutex |
//! | `sync.WaitGroup.Wait` (1.24+) | waitgroup |
//! | `sync.Cond.Wait` | cond |
//! | `semacquire` | resolved by frames: `sync.(*Mutex)` mutex, `sync.(*RWMutex)` rwmutex, `sync.(*WaitGroup).Wait` waitgroup, `sync.(*Cond).Wait` cond, else semaphore |
//! | `IO wait` | io_wait |
//! | `sleep` | sleep |
//! | state `syscall` | syscall |
//! | `GC assist marking`, `GC assist wait`, `GC sweep wait`, `GC scavenge wait`, `GC worker (idle)`, `GC worker (active)`, `GC mark termination`, `GC weak to strong wait`, `garbage collection`, `garbage collection scan`, `wait for GC cycle`, `dumping heap`, `finalizer wait`, `cleanup wait`, `force gc (idle)`, `timer goroutine (idle)`, `GOMAXPROCS updater (idle)`, `trace reader (blocked)`, `trace goroutine status`, `trace proc status`, `page trace flush`, `stopping the world`, `flushing proc caches`, `panicwait`, `debug call` | gc_runtime |
//! | `synctest.Run`, `synctest.Wait` | synctest |
//! | `coroutine`, `unknown wait reason`, anything else | other |
//!
//! The synctest suffixes ` (synctest)` (Go 1.24) and ` (durable)` (Go 1.25+)
//! are stripped before the lookup and recorded as the `durable` flag, so
//! `chan receive (durable)` is chan_receive. Running, runnable, preempted,
//! copystack and idle goroutines have block class none.
//!
//! # Status word -> state
//!
//! `running`, `runnable`, `syscall`, `idle`, `copystack`, `preempted` map to
//! themselves; `dead` and `waiting for cgo callback` (Go 1.26 `_Gdeadextra`)
//! to idle; a wait reason (or the bare word `waiting`) to waiting; a
//! ` (leaked)` suffix or the bare word `leaked` to leaked; anything else to
//! unknown. `preempted` is printed both for `_Gpreempted` and for the
//! `preempted` wait reason; the header cannot tell them apart, so both are
//! state preempted, block class none.

use crate::model::{BlockClass, Origin, State};

/// What the text inside `[...]` before the first comma says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusInfo {
    /// Normalised state.
    pub state: State,
    /// Block class from the status alone (see [`refine_block_class`]).
    pub block_class: BlockClass,
    /// True when the status is a wait reason (the goroutine waits or leaked).
    pub is_wait_reason: bool,
    /// ` (leaked)` suffix.
    pub leaked: bool,
    /// ` (scan)` suffix.
    pub scan: bool,
    /// ` (durable)` suffix or a `(durable)`/`(synctest)` wait reason.
    pub durable: bool,
    /// Length of the status with the header flag suffixes removed.
    pub base_len: usize,
    /// The wait reason is one only runtime service goroutines wait in.
    pub runtime_only: bool,
}

/// Classifies a raw status (`chan receive (leaked) (scan)`, `running`, ...).
pub fn classify_status(raw: &str) -> StatusInfo {
    let mut s = raw.trim_end();
    let (mut leaked, mut scan, mut durable) = (false, false, false);
    // goroutineheader prints ` (leaked)`, ` (scan)`, ` (durable)` after the
    // status, in that order. A lone trailing ` (durable)` cannot be told
    // apart from the 1.25 wait reasons that end in `(durable)`, so it stays
    // in the raw wait reason (both mean the same to the classification).
    if let Some(rest) = s.strip_suffix(" (durable)") {
        if rest.ends_with(" (scan)") || rest.ends_with(" (leaked)") {
            durable = true;
            s = rest;
        }
    }
    if let Some(rest) = s.strip_suffix(" (scan)") {
        scan = true;
        s = rest;
    }
    if let Some(rest) = s.strip_suffix(" (leaked)") {
        leaked = true;
        s = rest;
    }
    let base_len = s.len();
    let lookup = s
        .strip_suffix(" (durable)")
        .or_else(|| s.strip_suffix(" (synctest)"))
        .inspect(|_| durable = true)
        .unwrap_or(s);
    let (state, block_class, is_wait_reason) = match lookup {
        "running" => (State::Running, BlockClass::None, false),
        "runnable" => (State::Runnable, BlockClass::None, false),
        "syscall" => (State::Syscall, BlockClass::Syscall, false),
        "idle" | "dead" | "waiting for cgo callback" => (State::Idle, BlockClass::None, false),
        "copystack" => (State::Copystack, BlockClass::None, false),
        "preempted" => (State::Preempted, BlockClass::None, false),
        "waiting" => (State::Waiting, BlockClass::Other, true),
        "leaked" => (State::Leaked, BlockClass::Other, true),
        "" | "???" => (State::Unknown, BlockClass::Other, false),
        reason => (State::Waiting, wait_reason_class(reason), true),
    };
    let state = if leaked { State::Leaked } else { state };
    let runtime_only = RUNTIME_ONLY_REASONS.contains(&lookup);
    StatusInfo {
        runtime_only,
        state,
        block_class,
        is_wait_reason,
        leaked,
        scan,
        durable,
        base_len,
    }
}

/// Every wait reason string Go 1.17-1.27 prints, with its block class. The
/// synctest variants are looked up without their suffix.
pub const WAIT_REASONS: &[(&str, BlockClass)] = &[
    ("chan receive", BlockClass::ChanReceive),
    ("chan send", BlockClass::ChanSend),
    ("select", BlockClass::Select),
    ("chan receive (nil chan)", BlockClass::NilOrForever),
    ("chan send (nil chan)", BlockClass::NilOrForever),
    ("select (no cases)", BlockClass::NilOrForever),
    ("sync.Mutex.Lock", BlockClass::Mutex),
    ("sync.RWMutex.RLock", BlockClass::Rwmutex),
    ("sync.RWMutex.Lock", BlockClass::Rwmutex),
    ("sync.WaitGroup.Wait", BlockClass::Waitgroup),
    ("sync.Cond.Wait", BlockClass::Cond),
    ("semacquire", BlockClass::Semaphore),
    ("IO wait", BlockClass::IoWait),
    ("sleep", BlockClass::Sleep),
    ("GC assist marking", BlockClass::GcRuntime),
    ("GC assist wait", BlockClass::GcRuntime),
    ("GC sweep wait", BlockClass::GcRuntime),
    ("GC scavenge wait", BlockClass::GcRuntime),
    ("GC worker (idle)", BlockClass::GcRuntime),
    ("GC worker (active)", BlockClass::GcRuntime),
    ("GC mark termination", BlockClass::GcRuntime),
    ("GC weak to strong wait", BlockClass::GcRuntime),
    ("garbage collection", BlockClass::GcRuntime),
    ("garbage collection scan", BlockClass::GcRuntime),
    ("wait for GC cycle", BlockClass::GcRuntime),
    ("dumping heap", BlockClass::GcRuntime),
    ("finalizer wait", BlockClass::GcRuntime),
    ("cleanup wait", BlockClass::GcRuntime),
    ("force gc (idle)", BlockClass::GcRuntime),
    ("timer goroutine (idle)", BlockClass::GcRuntime),
    ("GOMAXPROCS updater (idle)", BlockClass::GcRuntime),
    ("trace reader (blocked)", BlockClass::GcRuntime),
    ("trace goroutine status", BlockClass::GcRuntime),
    ("trace proc status", BlockClass::GcRuntime),
    ("page trace flush", BlockClass::GcRuntime),
    ("stopping the world", BlockClass::GcRuntime),
    ("flushing proc caches", BlockClass::GcRuntime),
    ("panicwait", BlockClass::GcRuntime),
    ("debug call", BlockClass::GcRuntime),
    ("synctest.Run", BlockClass::Synctest),
    ("synctest.Wait", BlockClass::Synctest),
    ("coroutine", BlockClass::Other),
    ("unknown wait reason", BlockClass::Other),
];

/// Wait reasons that only runtime service goroutines wait in.
const RUNTIME_ONLY_REASONS: &[&str] = &[
    "GC worker (idle)",
    "GC worker (active)",
    "GC sweep wait",
    "GC scavenge wait",
    "finalizer wait",
    "cleanup wait",
    "force gc (idle)",
    "timer goroutine (idle)",
    "GOMAXPROCS updater (idle)",
    "trace goroutine status",
    "trace proc status",
    "page trace flush",
];

/// Block class of a wait reason (without synctest suffix).
pub fn wait_reason_class(reason: &str) -> BlockClass {
    WAIT_REASONS
        .iter()
        .find(|&&(r, _)| r == reason)
        .map_or(BlockClass::Other, |&(_, c)| c)
}

/// Refines the status-only class with the frames, innermost first. Needed
/// where the wait reason is ambiguous: pre-1.20 `semacquire` covers Mutex,
/// RWMutex, WaitGroup and Cond, and 1.20+ `sync.Mutex.Lock` is also what a
/// writer queued behind another writer on a `sync.RWMutex` waits in.
pub fn refine_block_class<'a>(
    class: BlockClass,
    innermost_functions: impl IntoIterator<Item = &'a str>,
) -> BlockClass {
    refine_by_sync(class, innermost_functions.into_iter().map(sync_type))
}

/// [`refine_block_class`] over the frames' [`SyncType`]s.
fn refine_by_sync(class: BlockClass, innermost: impl IntoIterator<Item = SyncType>) -> BlockClass {
    if !matches!(class, BlockClass::Semaphore | BlockClass::Mutex) {
        return class;
    }
    // The sync frame sits within the first few frames above the runtime
    // ones (runtime_SemacquireMutex, semacquire1, gopark); look a little
    // deeper than that for safety.
    for t in innermost.into_iter().take(12) {
        match (t, class) {
            (SyncType::RwMutex, _) => return BlockClass::Rwmutex,
            (SyncType::Mutex, BlockClass::Semaphore) => return BlockClass::Mutex,
            (SyncType::WaitGroup, BlockClass::Semaphore) => return BlockClass::Waitgroup,
            (SyncType::Cond, BlockClass::Semaphore) => return BlockClass::Cond,
            _ => {}
        }
    }
    class
}

/// Which `sync` type's method a frame is, for [`refine_block_class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncType {
    None,
    RwMutex,
    Mutex,
    WaitGroup,
    Cond,
}

fn sync_type(f: &str) -> SyncType {
    if f.starts_with("sync.(*RWMutex)") {
        SyncType::RwMutex
    } else if f.starts_with("sync.(*Mutex)") {
        SyncType::Mutex
    } else if f.starts_with("sync.(*WaitGroup)") {
        SyncType::WaitGroup
    } else if f.starts_with("sync.(*Cond)") {
        SyncType::Cond
    } else {
        SyncType::None
    }
}

/// What the frame right below `gopark` says about who parked the
/// goroutine (the first column of the table at [`infer_from_frames`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parker {
    Gopark,
    Syscall,
    /// Channel operations; `nil` when the park is at the top of the
    /// function (the nil-channel check).
    ChanRecv {
        nil: bool,
    },
    ChanSend {
        nil: bool,
    },
    Select,
    Block,
    IoWait,
    Sleep,
    NotifyList,
    Semacquire,
    Synctest,
    RuntimeService,
    Other,
}

/// All the inference needs to know about one frame, worked out once per
/// distinct frame (a profile's location line) so that classifying a
/// sample compares a few bytes instead of function names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRole {
    parker: Parker,
    /// What a sync package semaphore entry point says it waits for.
    sema: Option<BlockClass>,
    sync: SyncType,
}

impl FrameRole {
    /// The role of a frame that says nothing (a filler).
    pub const NONE: Self = Self {
        parker: Parker::Other,
        sema: None,
        sync: SyncType::None,
    };

    /// The role of a frame: its fully qualified function name, and the
    /// line's distance from the function's first line when the source
    /// knows it (pprof protobuf carries `Function.start_line`; text forms
    /// do not).
    pub fn of(function: &str, line_from_start: Option<u32>) -> Self {
        // `chanrecv`/`chansend` park on a nil channel in their first lines
        // (the `c == nil` check precedes everything); a real wait parks
        // ~100 lines further down (Go 1.17-1.27 alike).
        let nil = matches!(line_from_start, Some(d) if d < 40);
        let parker = match function {
            "runtime.goparkunlock" | "runtime.gopark" => Parker::Gopark,
            "runtime.chanrecv" | "runtime.chanrecv1" | "runtime.chanrecv2" => {
                Parker::ChanRecv { nil }
            }
            "runtime.chansend" | "runtime.chansend1" => Parker::ChanSend { nil },
            "runtime.selectgo" => Parker::Select,
            "runtime.block" => Parker::Block,
            "runtime.netpollblock" | "internal/poll.runtime_pollWait" => Parker::IoWait,
            "time.Sleep" => Parker::Sleep,
            "sync.runtime_notifyListWait" => Parker::NotifyList,
            _ if function.starts_with("runtime.semacquire")
                || function.contains("runtime_Semacquire") =>
            {
                Parker::Semacquire
            }
            _ if function.starts_with("internal/synctest.") => Parker::Synctest,
            _ if is_runtime_service(function) => Parker::RuntimeService,
            _ if is_syscall_entry(function) => Parker::Syscall,
            _ => Parker::Other,
        };
        Self {
            parker,
            sema: sema_class(function),
            sync: sync_type(function),
        }
    }
}

/// What a goroutine profile's frames say about a goroutine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inferred {
    /// Waiting, syscall, on-CPU (running or runnable: a profile cannot tell
    /// them apart) or unknown.
    pub state: State,
    /// What it is blocked on.
    pub block_class: BlockClass,
}

/// Innermost frames [`infer_from_frames`] reads: the park call, up to 4
/// frames below it, and 12 from the semaphore call for
/// [`refine_block_class`]. Callers may pass just these.
pub const INFER_FRAMES: usize = 16;

/// Infers state and block class from a stack, innermost frame first, as
/// goroutine profiles (`/debug/pprof/goroutine` debug=0 and debug=1) give
/// it: they have no wait reason, but a parked goroutine's stack starts in
/// the runtime function that parked it. The table (README "Profiles"):
///
/// | innermost frames | state | block class |
/// |---|---|---|
/// | `runtime.gopark`/`goparkunlock`, then `runtime.chanrecv*` | waiting | chan_receive (nil_or_forever when the park is at the top of `chanrecv`: the nil-channel check) |
/// | ... `runtime.chansend*` | waiting | chan_send (likewise nil_or_forever) |
/// | ... `runtime.selectgo` | waiting | select |
/// | ... `runtime.block` | waiting | nil_or_forever (`select {}`) |
/// | ... `runtime.semacquire*` / `*runtime_Semacquire*` | waiting | by the frames above: mutex, rwmutex, waitgroup, cond, else semaphore |
/// | ... `sync.runtime_notifyListWait` | waiting | cond |
/// | ... `runtime.netpollblock`, `internal/poll.runtime_pollWait` | waiting | io_wait |
/// | ... `time.Sleep` | waiting | sleep |
/// | ... GC, finalizer, scavenger, trace functions | waiting | gc_runtime |
/// | ... `internal/synctest.*` | waiting | synctest |
/// | ... anything else | waiting | other |
/// | `syscall.Syscall*`, `syscall.RawSyscall*`, `internal/runtime/syscall.*`, `runtime.cgocall`, `runtime.entersyscall*`, `runtime.notetsleepg` | syscall | syscall |
/// | without a frame: debug=1 hides runtime frames, so its leaf is the caller: `sync.(*Mutex).Lock`, `time.Sleep`, `net.(*conn).Read` ... (see [`infer_from_leaf`]) | | |
/// | any other innermost frame (user code, `runtime.asyncPreempt`, an empty stack) | on_cpu | none |
pub fn infer_from_frames(frames: &[FrameRole]) -> Inferred {
    let waiting = |block_class| Inferred {
        state: State::Waiting,
        block_class,
    };
    let Some(first) = frames.first() else {
        // Only `runtime.goexit` (dropped): created, not yet run.
        return on_cpu();
    };
    match first.parker {
        Parker::Syscall => {
            return Inferred {
                state: State::Syscall,
                block_class: BlockClass::Syscall,
            }
        }
        Parker::Gopark => {}
        _ => return on_cpu(),
    }
    // The frame below gopark says who parked it.
    for (i, f) in frames.iter().enumerate().skip(1).take(4) {
        let class = match f.parker {
            Parker::Gopark => continue,
            Parker::ChanRecv { nil: false } => BlockClass::ChanReceive,
            Parker::ChanSend { nil: false } => BlockClass::ChanSend,
            Parker::ChanRecv { nil: true } | Parker::ChanSend { nil: true } | Parker::Block => {
                BlockClass::NilOrForever
            }
            Parker::Select => BlockClass::Select,
            Parker::IoWait => BlockClass::IoWait,
            Parker::Sleep => BlockClass::Sleep,
            Parker::NotifyList => BlockClass::Cond,
            Parker::Semacquire => {
                // semacquire1 is called by the sync package's linkname
                // entry points, whose names say what for.
                let class = frames[i..]
                    .iter()
                    .take(3)
                    .find_map(|f| f.sema)
                    .unwrap_or(BlockClass::Semaphore);
                refine_by_sync(class, frames[i..].iter().map(|f| f.sync))
            }
            Parker::Synctest => BlockClass::Synctest,
            Parker::RuntimeService => BlockClass::GcRuntime,
            Parker::Syscall | Parker::Other => BlockClass::Other,
        };
        return waiting(class);
    }
    waiting(BlockClass::Other)
}

fn on_cpu() -> Inferred {
    Inferred {
        state: State::OnCpu,
        block_class: BlockClass::None,
    }
}

fn is_syscall_entry(name: &str) -> bool {
    name.starts_with("syscall.Syscall")
        || name.starts_with("syscall.RawSyscall")
        || name.starts_with("syscall.rawSyscall")
        || name.starts_with("syscall.rawVforkSyscall")
        || name.starts_with("internal/runtime/syscall.")
        || name.starts_with("runtime/internal/syscall.")
        || name.starts_with("golang.org/x/sys/unix.Syscall")
        || name.starts_with("golang.org/x/sys/unix.RawSyscall")
        || name.starts_with("runtime.entersyscall")
        // Parks a note in a blocking syscall (entersyscallblock): the
        // signal receiver, os/signal.signal_recv, sits there; dumps say
        // state syscall.
        || name == "runtime.notetsleepg"
        || name == "runtime.cgocall"
        || name == "runtime.asmcgocall"
}

/// What a sync package semaphore entry point (`sync.runtime_Semacquire*`,
/// `internal/sync.runtime_SemacquireMutex`) says it waits for; `None` for
/// the generic `runtime_Semacquire` and other functions.
fn sema_class(name: &str) -> Option<BlockClass> {
    if name.contains("runtime_SemacquireWaitGroup") {
        Some(BlockClass::Waitgroup)
    } else if name.contains("runtime_SemacquireRWMutex") {
        Some(BlockClass::Rwmutex)
    } else if name.contains("runtime_SemacquireMutex") {
        Some(BlockClass::Mutex)
    } else {
        None
    }
}

/// Runtime service loops that park (GC workers, sweeper, scavenger,
/// finalizers, cleanups, forcegc, tracer).
fn is_runtime_service(name: &str) -> bool {
    // Everything `runtime.gc*` (mark workers, assists, gcenable) is one
    // prefix test below; these are the others.
    const SERVICES: &[&str] = &[
        "runtime.bgsweep",
        "runtime.bgscavenge",
        "runtime.runfinq",
        "runtime.runCleanups",
        "runtime.forcegchelper",
        "runtime.(*wakeableSleep).sleep",
        "runtime.traceStartReadCPU",
        "runtime.(*traceAdvancerState).start",
        "runtime.unique_runtime_registerUniqueMapCleanup",
        "runtime.updateMaxProcsGoroutine",
    ];
    SERVICES.iter().any(|s| name.starts_with(s)) || name.starts_with("runtime.gc")
}

/// Infers from the innermost frame a debug=1 profile prints: the runtime
/// frames above it are hidden there, so only what that frame implies is
/// said; everything else is state unknown, class unknown.
///
/// | leaf (innermost printed) frame | state | block class |
/// |---|---|---|
/// | `sync.runtime_SemacquireMutex`, `internal/sync.runtime_SemacquireMutex`, `sync.(*Mutex).Lock*`, `internal/sync.(*Mutex).lock*` | waiting | mutex (rwmutex when `sync.(*RWMutex)` is among the next frames) |
/// | `sync.runtime_SemacquireRWMutex*`, `sync.(*RWMutex).*Lock` | waiting | rwmutex |
/// | `sync.runtime_SemacquireWaitGroup`, `sync.(*WaitGroup).Wait` | waiting | waitgroup |
/// | `sync.runtime_notifyListWait`, `sync.(*Cond).Wait` | waiting | cond |
/// | `internal/poll.runtime_Semacquire`, `sync.runtime_Semacquire` | waiting | semaphore (or by the frames above, as for dumps) |
/// | `time.Sleep` | waiting | sleep |
/// | `internal/poll.runtime_pollWait` | waiting | io_wait |
/// | `syscall.Syscall*`, `syscall.RawSyscall*`, `internal/runtime/syscall.*` | syscall | syscall |
/// | anything else: a user function (on CPU, or parked on a channel or in a `select`: the frames that tell are hidden) | unknown | unknown |
pub fn infer_from_leaf(frames: &[&str]) -> Inferred {
    let Some(&leaf) = frames.first() else {
        return Inferred {
            state: State::Unknown,
            block_class: BlockClass::Unknown,
        };
    };
    if is_syscall_entry(leaf) {
        return Inferred {
            state: State::Syscall,
            block_class: BlockClass::Syscall,
        };
    }
    let class = if let Some(class) = sema_class(leaf) {
        class
    } else if leaf.starts_with("sync.(*WaitGroup).Wait") {
        BlockClass::Waitgroup
    } else if leaf.starts_with("sync.(*RWMutex).") {
        BlockClass::Rwmutex
    } else if leaf.starts_with("sync.(*Mutex).") || leaf.starts_with("internal/sync.(*Mutex).") {
        BlockClass::Mutex
    } else if leaf.contains("runtime_Semacquire") {
        BlockClass::Semaphore
    } else if leaf == "sync.runtime_notifyListWait" || leaf.starts_with("sync.(*Cond).Wait") {
        BlockClass::Cond
    } else if leaf == "time.Sleep" {
        BlockClass::Sleep
    } else if leaf == "internal/poll.runtime_pollWait" {
        BlockClass::IoWait
    } else {
        return Inferred {
            state: State::Unknown,
            block_class: BlockClass::Unknown,
        };
    };
    Inferred {
        state: State::Waiting,
        block_class: refine_block_class(class, frames.iter().copied()),
    }
}

/// Whether a goroutine is a runtime service goroutine.
///
/// Runtime goroutines are recognised by who created them (a `runtime.`
/// function: `runtime.gcenable`, `runtime.gcBgMarkStartWorkers`,
/// `runtime.createfing`, `runtime.init.N` for forcegc, ...), by an entry
/// function in package runtime other than `runtime.main` when no creator is
/// printed, by goroutine 0 (the system stack), or by a wait reason only those
/// goroutines use (`GC worker (idle)`, `finalizer wait`, ...). Everything
/// else, `main` included, is user.
///
/// `runtime_only_reason` is [`StatusInfo::runtime_only`]: computed once per
/// distinct status text rather than once per goroutine.
pub fn origin(
    id: u64,
    runtime_only_reason: bool,
    created_by: Option<&str>,
    outermost_function: Option<&str>,
) -> Origin {
    if id == 0 || runtime_only_reason {
        return Origin::Runtime;
    }
    match created_by {
        Some(f) => is_runtime_function(f),
        None => match outermost_function {
            Some(f) if f != "runtime.main" && f != "runtime.goexit" => is_runtime_function(f),
            _ => Origin::User,
        },
    }
}

fn is_runtime_function(f: &str) -> Origin {
    if f.starts_with("runtime.") || f.starts_with("internal/runtime/") {
        Origin::Runtime
    } else {
        Origin::User
    }
}

/// Why a depth bucket specification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepthBucketsError {
    /// Too few or too many bounds.
    #[error("give 1 to {0} upper bounds, e.g. 3,8,16")]
    Count(usize),
    /// Bounds not strictly increasing, 0, or too large.
    #[error("upper bounds must be between 1 and 4294967294 and strictly increasing, e.g. 3,8,16")]
    Order,
    /// A part that is not a whole number.
    #[error("{0:?} is not a whole number; give comma-separated upper bounds, e.g. 3,8,16")]
    NotANumber(String),
}

/// Stack depth buckets: upper bounds of each bucket but the last (which is
/// open). The default `1-3, 4-8, 9-16, 17+` is `[3, 8, 16]`. A goroutine
/// whose stack was not printed (`stack unavailable`) falls in bucket `0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthBuckets {
    uppers: Vec<u32>,
    labels: Vec<String>,
}

impl Default for DepthBuckets {
    fn default() -> Self {
        Self::new(&[3, 8, 16]).unwrap_or_else(|_| unreachable!("default buckets are valid"))
    }
}

impl DepthBuckets {
    /// Most buckets allowed: the bucket label is a metric label.
    pub const MAX: usize = 12;

    /// Builds buckets from strictly increasing upper bounds (at least 1).
    pub fn new(uppers: &[u32]) -> Result<Self, DepthBucketsError> {
        if uppers.is_empty() || uppers.len() >= Self::MAX {
            return Err(DepthBucketsError::Count(Self::MAX - 1));
        }
        if uppers[0] == 0 || uppers.windows(2).any(|w| w[0] >= w[1]) || uppers.contains(&u32::MAX) {
            return Err(DepthBucketsError::Order);
        }
        let mut labels = vec!["0".to_string()];
        let mut lo = 1;
        for &u in uppers {
            labels.push(if lo == u {
                format!("{u}")
            } else {
                format!("{lo}-{u}")
            });
            lo = u + 1;
        }
        labels.push(format!("{lo}+"));
        Ok(Self {
            uppers: uppers.to_vec(),
            labels,
        })
    }

    /// Parses `3,8,16`.
    pub fn parse(spec: &str) -> Result<Self, DepthBucketsError> {
        let uppers = spec
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<u32>()
                    .map_err(|_| DepthBucketsError::NotANumber(p.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(&uppers)
    }

    /// All labels, `0` first.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Index into [`Self::labels`] for a depth.
    pub fn index(&self, depth: u32) -> usize {
        if depth == 0 {
            return 0;
        }
        1 + self.uppers.iter().take_while(|&&u| depth > u).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wait_reason_has_a_bounded_class() {
        // The label's documented maximum (README, Vocabulary).
        assert!(BlockClass::ALL.len() <= 17);
        for &(r, c) in WAIT_REASONS {
            let info = classify_status(r);
            assert_eq!(info.block_class, c, "{r}");
            // `unknown` is for profiles whose frames do not tell; a wait
            // reason always says something.
            assert_ne!(c, BlockClass::Unknown, "{r}");
            assert_eq!(info.state, State::Waiting, "{r}");
        }
    }

    #[test]
    fn flag_suffixes_are_stripped() {
        let i = classify_status("chan receive (leaked) (scan)");
        assert_eq!(i.state, State::Leaked);
        assert_eq!(i.block_class, BlockClass::ChanReceive);
        assert!(i.leaked && i.scan && !i.durable);
        let i = classify_status("chan receive (durable)");
        assert_eq!(i.block_class, BlockClass::ChanReceive);
        assert!(i.durable);
        let i = classify_status("select (synctest)");
        assert_eq!(i.block_class, BlockClass::Select);
        assert!(i.durable);
        let i = classify_status("sync.Cond.Wait (durable)");
        assert_eq!(i.block_class, BlockClass::Cond);
        let i = classify_status("running (scan)");
        assert_eq!((i.state, i.block_class), (State::Running, BlockClass::None));
        let i = classify_status("chan receive (nil chan)");
        assert_eq!(i.block_class, BlockClass::NilOrForever);
        assert_eq!(classify_status("syscall").block_class, BlockClass::Syscall);
        assert_eq!(
            classify_status("brand new reason").block_class,
            BlockClass::Other
        );
    }

    #[test]
    fn semacquire_is_resolved_by_frames() {
        let f = |frames: &[&str]| refine_block_class(BlockClass::Semaphore, frames.iter().copied());
        assert_eq!(
            f(&[
                "sync.runtime_SemacquireMutex",
                "sync.(*Mutex).lockSlow",
                "sync.(*Mutex).Lock"
            ]),
            BlockClass::Mutex
        );
        assert_eq!(
            f(&["sync.runtime_Semacquire", "sync.(*WaitGroup).Wait"]),
            BlockClass::Waitgroup
        );
        assert_eq!(
            f(&["sync.runtime_SemacquireMutex", "sync.(*RWMutex).RLock"]),
            BlockClass::Rwmutex
        );
        assert_eq!(
            f(&[
                "internal/poll.runtime_Semacquire",
                "internal/poll.(*fdMutex).rwlock"
            ]),
            BlockClass::Semaphore
        );
        assert_eq!(
            refine_block_class(
                BlockClass::Mutex,
                ["sync.(*Mutex).Lock", "sync.(*RWMutex).Lock"]
            ),
            BlockClass::Rwmutex
        );
    }

    #[test]
    fn origins() {
        let rt = |s: &str| classify_status(s).runtime_only;
        assert!(rt("GC worker (idle)") && rt("finalizer wait") && rt("force gc (idle) (leaked)"));
        assert!(!rt("chan receive") && !rt("GC assist wait"));
        assert_eq!(origin(0, false, None, None), Origin::Runtime);
        assert_eq!(
            origin(2, true, Some("runtime.init.7"), None),
            Origin::Runtime
        );
        assert_eq!(origin(5, true, None, None), Origin::Runtime);
        assert_eq!(origin(1, false, None, Some("main.main")), Origin::User);
        assert_eq!(origin(1, false, None, Some("runtime.main")), Origin::User);
        assert_eq!(origin(9, false, Some("main.run"), None), Origin::User);
        assert_eq!(
            origin(9, false, Some("runtime.gcenable"), None),
            Origin::Runtime
        );
        assert_eq!(
            origin(9, false, None, Some("runtime.bgscavenge")),
            Origin::Runtime
        );
    }

    #[test]
    fn depth_buckets() {
        let b = DepthBuckets::default();
        assert_eq!(b.labels(), &["0", "1-3", "4-8", "9-16", "17+"]);
        assert_eq!(b.index(0), 0);
        assert_eq!(b.index(1), 1);
        assert_eq!(b.index(3), 1);
        assert_eq!(b.index(4), 2);
        assert_eq!(b.index(16), 3);
        assert_eq!(b.index(17), 4);
        assert_eq!(b.index(10_000), 4);
        assert!(DepthBuckets::parse("3,3").is_err());
        assert!(DepthBuckets::parse("x").is_err());
        assert_eq!(
            DepthBuckets::parse("1,2").map(|b| b.labels().to_vec()),
            Ok(vec!["0".into(), "1".into(), "2".into(), "3+".into()])
        );
        // Regression: u32::MAX used to overflow the next bucket's lower bound.
        assert_eq!(
            DepthBuckets::parse("4294967295"),
            Err(DepthBucketsError::Order)
        );
    }
}
