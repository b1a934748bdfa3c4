//! The event table of Go's execution trace format (Go 1.22 to 1.26), from
//! Go's `internal/trace/tracev2/events.go`: event numbers were only ever
//! appended and no argument list changed, so one table serves every
//! version, as in Go's own reader.

/// Event type numbers, named as Go's `tracev2.Ev*` constants (their
/// meaning is Go's table; see the module documentation).
#[allow(missing_docs)]
pub mod ev {
    pub const EVENT_BATCH: u8 = 1;
    pub const STACKS: u8 = 2;
    pub const STACK: u8 = 3;
    pub const STRINGS: u8 = 4;
    pub const STRING: u8 = 5;
    pub const CPU_SAMPLES: u8 = 6;
    pub const CPU_SAMPLE: u8 = 7;
    pub const FREQUENCY: u8 = 8;
    pub const PROCS_CHANGE: u8 = 9;
    pub const PROC_START: u8 = 10;
    pub const PROC_STOP: u8 = 11;
    pub const PROC_STEAL: u8 = 12;
    pub const PROC_STATUS: u8 = 13;
    pub const GO_CREATE: u8 = 14;
    pub const GO_CREATE_SYSCALL: u8 = 15;
    pub const GO_START: u8 = 16;
    pub const GO_DESTROY: u8 = 17;
    pub const GO_DESTROY_SYSCALL: u8 = 18;
    pub const GO_STOP: u8 = 19;
    pub const GO_BLOCK: u8 = 20;
    pub const GO_UNBLOCK: u8 = 21;
    pub const GO_SYSCALL_BEGIN: u8 = 22;
    pub const GO_SYSCALL_END: u8 = 23;
    pub const GO_SYSCALL_END_BLOCKED: u8 = 24;
    pub const GO_STATUS: u8 = 25;
    pub const STW_BEGIN: u8 = 26;
    pub const STW_END: u8 = 27;
    pub const GC_ACTIVE: u8 = 28;
    pub const GC_BEGIN: u8 = 29;
    pub const GC_END: u8 = 30;
    pub const GC_SWEEP_ACTIVE: u8 = 31;
    pub const GC_SWEEP_BEGIN: u8 = 32;
    pub const GC_SWEEP_END: u8 = 33;
    pub const GC_MARK_ASSIST_ACTIVE: u8 = 34;
    pub const GC_MARK_ASSIST_BEGIN: u8 = 35;
    pub const GC_MARK_ASSIST_END: u8 = 36;
    pub const HEAP_ALLOC: u8 = 37;
    pub const HEAP_GOAL: u8 = 38;
    pub const GO_LABEL: u8 = 39;
    pub const USER_TASK_BEGIN: u8 = 40;
    pub const USER_TASK_END: u8 = 41;
    pub const USER_REGION_BEGIN: u8 = 42;
    pub const USER_REGION_END: u8 = 43;
    pub const USER_LOG: u8 = 44;
    pub const GO_SWITCH: u8 = 45;
    pub const GO_SWITCH_DESTROY: u8 = 46;
    pub const GO_CREATE_BLOCKED: u8 = 47;
    pub const GO_STATUS_STACK: u8 = 48;
    pub const EXPERIMENTAL_BATCH: u8 = 49;
    pub const SYNC: u8 = 50;
    pub const CLOCK_SNAPSHOT: u8 = 51;
    pub const END_OF_GENERATION: u8 = 52;
    /// First experimental (AllocFree) event.
    pub const SPAN: u8 = 128;
    /// Last experimental event.
    pub const GOROUTINE_STACK_FREE: u8 = 136;
    /// Not on the wire: the reader's generation boundary (Go's `evSync`).
    pub const SYNC_EVENT: u8 = 255;
}

/// What Go's API calls the event (`trace.EventKind`), variant for variant.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Sync,
    Metric,
    Label,
    StackSample,
    RangeBegin,
    RangeActive,
    RangeEnd,
    TaskBegin,
    TaskEnd,
    RegionBegin,
    RegionEnd,
    Log,
    StateTransition,
    Experimental,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 14] = [
        Kind::Sync,
        Kind::Metric,
        Kind::Label,
        Kind::StackSample,
        Kind::RangeBegin,
        Kind::RangeActive,
        Kind::RangeEnd,
        Kind::TaskBegin,
        Kind::TaskEnd,
        Kind::RegionBegin,
        Kind::RegionEnd,
        Kind::Log,
        Kind::StateTransition,
        Kind::Experimental,
    ];

    /// Go's `EventKind.String()`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sync => "Sync",
            Kind::Metric => "Metric",
            Kind::Label => "Label",
            Kind::StackSample => "StackSample",
            Kind::RangeBegin => "RangeBegin",
            Kind::RangeActive => "RangeActive",
            Kind::RangeEnd => "RangeEnd",
            Kind::TaskBegin => "TaskBegin",
            Kind::TaskEnd => "TaskEnd",
            Kind::RegionBegin => "RegionBegin",
            Kind::RegionEnd => "RegionEnd",
            Kind::Log => "Log",
            Kind::StateTransition => "StateTransition",
            Kind::Experimental => "Experimental",
        }
    }
}

/// One event type's wire layout.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Go's name for it.
    pub name: &'static str,
    /// Arguments after the type byte, the timestamp delta included for a
    /// timed event.
    pub args: u8,
    /// Appears in per-M event batches, with a timestamp delta first.
    pub timed: bool,
    /// Argument indices (counting the delta as 0) of stack ids; the first
    /// is the event's own stack.
    pub stacks: &'static [u8],
    /// Argument indices (delta = 0) of string ids.
    pub strings: &'static [u8],
    /// For an end or active event: its begin event.
    pub start: u8,
    /// Its kind, for events Go's API returns.
    pub kind: Option<Kind>,
}

const NONE: Spec = Spec {
    name: "",
    args: 0,
    timed: false,
    stacks: &[],
    strings: &[],
    start: 0,
    kind: None,
};

const fn timed(name: &'static str, args: u8, kind: Kind) -> Spec {
    Spec {
        name,
        args,
        timed: true,
        stacks: &[],
        strings: &[],
        start: 0,
        kind: Some(kind),
    }
}

const fn with_stacks(mut s: Spec, stacks: &'static [u8]) -> Spec {
    s.stacks = stacks;
    s
}

const fn with_strings(mut s: Spec, strings: &'static [u8]) -> Spec {
    s.strings = strings;
    s
}

const fn with_start(mut s: Spec, start: u8) -> Spec {
    s.start = start;
    s
}

const fn structural(name: &'static str, args: u8) -> Spec {
    Spec {
        name,
        args,
        timed: false,
        stacks: &[],
        strings: &[],
        start: 0,
        kind: None,
    }
}

/// The table, indexed by event type.
pub static SPECS: [Spec; 256] = {
    use Kind::*;
    let mut t = [NONE; 256];
    t[ev::EVENT_BATCH as usize] = structural("EventBatch", 4);
    t[ev::STACKS as usize] = structural("Stacks", 0);
    t[ev::STACK as usize] = structural("Stack", 2);
    t[ev::STRINGS as usize] = structural("Strings", 0);
    t[ev::STRING as usize] = structural("String", 1);
    t[ev::CPU_SAMPLES as usize] = structural("CPUSamples", 0);
    t[ev::CPU_SAMPLE as usize] = Spec {
        kind: Some(StackSample),
        ..structural("CPUSample", 5)
    };
    t[ev::FREQUENCY as usize] = structural("Frequency", 1);
    t[ev::PROCS_CHANGE as usize] = with_stacks(timed("ProcsChange", 3, Metric), &[2]);
    t[ev::PROC_START as usize] = timed("ProcStart", 3, StateTransition);
    t[ev::PROC_STOP as usize] = timed("ProcStop", 1, StateTransition);
    t[ev::PROC_STEAL as usize] = timed("ProcSteal", 4, StateTransition);
    t[ev::PROC_STATUS as usize] = timed("ProcStatus", 3, StateTransition);
    t[ev::GO_CREATE as usize] = with_stacks(timed("GoCreate", 4, StateTransition), &[3, 2]);
    t[ev::GO_CREATE_SYSCALL as usize] = timed("GoCreateSyscall", 2, StateTransition);
    t[ev::GO_START as usize] = timed("GoStart", 3, StateTransition);
    t[ev::GO_DESTROY as usize] = timed("GoDestroy", 1, StateTransition);
    t[ev::GO_DESTROY_SYSCALL as usize] = timed("GoDestroySyscall", 1, StateTransition);
    t[ev::GO_STOP as usize] =
        with_strings(with_stacks(timed("GoStop", 3, StateTransition), &[2]), &[1]);
    t[ev::GO_BLOCK as usize] = with_strings(
        with_stacks(timed("GoBlock", 3, StateTransition), &[2]),
        &[1],
    );
    t[ev::GO_UNBLOCK as usize] = with_stacks(timed("GoUnblock", 4, StateTransition), &[3]);
    t[ev::GO_SYSCALL_BEGIN as usize] =
        with_stacks(timed("GoSyscallBegin", 3, StateTransition), &[2]);
    t[ev::GO_SYSCALL_END as usize] = with_start(
        timed("GoSyscallEnd", 1, StateTransition),
        ev::GO_SYSCALL_BEGIN,
    );
    t[ev::GO_SYSCALL_END_BLOCKED as usize] = with_start(
        timed("GoSyscallEndBlocked", 1, StateTransition),
        ev::GO_SYSCALL_BEGIN,
    );
    t[ev::GO_STATUS as usize] = timed("GoStatus", 4, StateTransition);
    t[ev::STW_BEGIN as usize] =
        with_strings(with_stacks(timed("STWBegin", 3, RangeBegin), &[2]), &[1]);
    t[ev::STW_END as usize] = with_start(timed("STWEnd", 1, RangeEnd), ev::STW_BEGIN);
    t[ev::GC_ACTIVE as usize] = with_start(timed("GCActive", 2, RangeActive), ev::GC_BEGIN);
    t[ev::GC_BEGIN as usize] = with_stacks(timed("GCBegin", 3, RangeBegin), &[2]);
    t[ev::GC_END as usize] = with_start(timed("GCEnd", 2, RangeEnd), ev::GC_BEGIN);
    t[ev::GC_SWEEP_ACTIVE as usize] =
        with_start(timed("GCSweepActive", 2, RangeActive), ev::GC_SWEEP_BEGIN);
    t[ev::GC_SWEEP_BEGIN as usize] = with_stacks(timed("GCSweepBegin", 2, RangeBegin), &[1]);
    t[ev::GC_SWEEP_END as usize] = with_start(timed("GCSweepEnd", 3, RangeEnd), ev::GC_SWEEP_BEGIN);
    t[ev::GC_MARK_ASSIST_ACTIVE as usize] = with_start(
        timed("GCMarkAssistActive", 2, RangeActive),
        ev::GC_MARK_ASSIST_BEGIN,
    );
    t[ev::GC_MARK_ASSIST_BEGIN as usize] =
        with_stacks(timed("GCMarkAssistBegin", 2, RangeBegin), &[1]);
    t[ev::GC_MARK_ASSIST_END as usize] = with_start(
        timed("GCMarkAssistEnd", 1, RangeEnd),
        ev::GC_MARK_ASSIST_BEGIN,
    );
    t[ev::HEAP_ALLOC as usize] = timed("HeapAlloc", 2, Metric);
    t[ev::HEAP_GOAL as usize] = timed("HeapGoal", 2, Metric);
    t[ev::GO_LABEL as usize] = with_strings(timed("GoLabel", 2, Label), &[1]);
    t[ev::USER_TASK_BEGIN as usize] = with_strings(
        with_stacks(timed("UserTaskBegin", 5, TaskBegin), &[4]),
        &[3],
    );
    t[ev::USER_TASK_END as usize] = with_stacks(timed("UserTaskEnd", 3, TaskEnd), &[2]);
    t[ev::USER_REGION_BEGIN as usize] = with_strings(
        with_stacks(timed("UserRegionBegin", 4, RegionBegin), &[3]),
        &[2],
    );
    t[ev::USER_REGION_END as usize] = with_start(
        with_strings(
            with_stacks(timed("UserRegionEnd", 4, RegionEnd), &[3]),
            &[2],
        ),
        ev::USER_REGION_BEGIN,
    );
    t[ev::USER_LOG as usize] = with_strings(with_stacks(timed("UserLog", 5, Log), &[4]), &[2, 3]);
    t[ev::GO_SWITCH as usize] = timed("GoSwitch", 3, StateTransition);
    t[ev::GO_SWITCH_DESTROY as usize] = timed("GoSwitchDestroy", 3, StateTransition);
    t[ev::GO_CREATE_BLOCKED as usize] =
        with_stacks(timed("GoCreateBlocked", 4, StateTransition), &[3, 2]);
    t[ev::GO_STATUS_STACK as usize] = with_stacks(timed("GoStatusStack", 5, StateTransition), &[4]);
    t[ev::EXPERIMENTAL_BATCH as usize] = structural("ExperimentalBatch", 4);
    t[ev::SYNC as usize] = structural("Sync", 0);
    // Timed in Go's table, but it only ever appears in a sync batch.
    t[ev::CLOCK_SNAPSHOT as usize] = Spec {
        kind: None,
        ..timed("ClockSnapshot", 4, Sync)
    };
    t[ev::END_OF_GENERATION as usize] = structural("EndOfGeneration", 0);
    t[128] = timed("Span", 4, Experimental);
    t[129] = timed("SpanAlloc", 4, Experimental);
    t[130] = timed("SpanFree", 2, Experimental);
    t[131] = timed("HeapObject", 3, Experimental);
    t[132] = timed("HeapObjectAlloc", 3, Experimental);
    t[133] = timed("HeapObjectFree", 2, Experimental);
    t[134] = timed("GoroutineStack", 3, Experimental);
    t[135] = timed("GoroutineStackAlloc", 3, Experimental);
    t[136] = timed("GoroutineStackFree", 2, Experimental);
    t[ev::SYNC_EVENT as usize] = Spec {
        kind: Some(Sync),
        ..structural("Sync", 0)
    };
    t
};

/// The largest number of arguments (the delta included) of a timed event.
pub const MAX_TIMED_ARGS: usize = 5;

/// For each event type, the arguments after a timed event's delta (0 to
/// 4), or 255 when the type cannot be in an event batch: the decoder's
/// one lookup per event.
pub static TIMED_ARGS: [u8; 256] = {
    let mut t = [255u8; 256];
    let mut i = 0;
    while i < 256 {
        let s = &SPECS[i];
        if s.timed && s.args > 0 {
            t[i] = s.args - 1;
        }
        i += 1;
    }
    t
};

/// For each event type, where its stack and string ids are among the
/// arguments after the delta (1-based; 0: none): two stack ids, then two
/// string ids. The decoder checks every event's ids with it.
pub static ID_ARGS: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let s = &SPECS[i];
        let mut k = 0;
        while k < s.stacks.len() && k < 2 {
            t[i][k] = s.stacks[k];
            k += 1;
        }
        let mut k = 0;
        while k < s.strings.len() && k < 2 {
            t[i][2 + k] = s.strings[k];
            k += 1;
        }
        i += 1;
    }
    t
};

/// Whether events of this type name any stack or string: the decoder's
/// test before it checks them.
#[inline(always)]
pub fn has_ids(typ: u8) -> bool {
    u32::from_ne_bytes(ID_ARGS[typ as usize]) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ID_ARGS holds two stack and two string positions: every event type
    /// fits, and each position is one of the event's arguments.
    #[test]
    fn id_args_cover_every_stack_and_string() {
        for (typ, s) in SPECS.iter().enumerate() {
            assert!(s.stacks.len() <= 2 && s.strings.len() <= 2, "{}", s.name);
            let at = ID_ARGS[typ];
            let want: Vec<u8> = s.stacks.iter().chain(s.strings).copied().collect();
            let got: Vec<u8> = at.iter().copied().filter(|&k| k != 0).collect();
            assert_eq!(got, want, "{}", s.name);
            for k in got {
                assert!(k >= 1 && k < s.args.max(1), "{}: argument {k}", s.name);
            }
        }
    }
}
