//! Census and grouping: what the goroutines of one snapshot do, counted by
//! state, wait reason, block class, origin and stack depth, and grouped by
//! the code that piles them up.
//!
//! A group is the set of goroutines with the same *signature*: the sequence
//! of function names of their stack (innermost first) plus the function that
//! created them and their block class; with [`CensusOptions::by_location`]
//! the file:line of every frame and of the `go` statement count too. The
//! census is fed one goroutine at a time ([`Census::add`]) so it works on a
//! streaming parse; its cost is linear in the number of goroutines and its
//! memory grows with distinct stacks, not goroutines.
//!
//! [`Report`] is the stable JSON schema of `goroscope analyze --format json`
//! (documented field by field in README.md).

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{
    BlockClass, Diagnostic, Elided, FrameId, Goroutine, LabelSetId, Origin, Record, StackId, State,
    StrId, Tables,
};
use crate::parse::pprof::varint;
use crate::vocab::{self, DepthBuckets, FrameRole};

/// Version of the [`Report`] schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// How the census groups and samples.
#[derive(Debug, Clone)]
pub struct CensusOptions {
    /// Group by file:line as well as by function names.
    pub by_location: bool,
    /// Sample goroutine ids kept per group.
    pub samples: usize,
    /// Distinct values kept per label key per group.
    pub label_values: usize,
    /// Stack depth buckets.
    pub depth_buckets: DepthBuckets,
    /// Split groups by the value of this pprof label (goroutines without
    /// it form their own groups).
    pub group_by_label: Option<String>,
    /// Split groups by the function that created them. Profiles do not
    /// know it; the agent turns it off so that a stack keeps its signature
    /// whether a dump or a profile was read.
    pub group_by_creator: bool,
    /// Threads that walk a protobuf profile's new stacks: 0 = one per
    /// core, 1 = none but the caller's (what the agent uses: it must not
    /// take the cores of the service it watches).
    pub threads: usize,
}

impl CensusOptions {
    /// The defaults, grouping without the creator: signatures that do not
    /// depend on the form read (profiles have no creators), so that a dump
    /// and a profile of the same code line up (`diff`, the agent).
    pub fn portable() -> Self {
        Self {
            group_by_creator: false,
            ..Self::default()
        }
    }
}

impl Default for CensusOptions {
    fn default() -> Self {
        Self {
            by_location: false,
            samples: 5,
            label_values: 10,
            depth_buckets: DepthBuckets::default(),
            group_by_label: None,
            group_by_creator: true,
            threads: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct GroupKey {
    seq: u32,
    created_by: u32,
    class: BlockClass,
    /// Value of the `group_by_label` label (u32::MAX: absent or not asked).
    label: u32,
}

/// One group's running totals. Kept small (a profile of 100,000 distinct
/// stacks has as many groups): what most groups never need (a second
/// state, sample ids, labels, wait times) lives behind a box.
#[derive(Debug, Clone)]
struct GroupAcc {
    count: u64,
    stack: Rep,
    /// Function-sequence id.
    seq: u32,
    /// The `group_by_label` value this group stands for (u32::MAX: none).
    label: u32,
    created_by: Option<FrameId>,
    class: BlockClass,
    origin: Origin,
    /// The state of the group's first goroutine; `states` is allocated
    /// when another one joins.
    state: State,
    elided: bool,
    states: Option<Box<[u64; State::ALL.len()]>>,
    extra: Option<Box<GroupExtra>>,
}

#[derive(Debug, Clone, Default)]
struct GroupExtra {
    wait_min: Option<u32>,
    wait_max: Option<u32>,
    samples: Vec<u64>,
    /// Label key -> distinct values (at most `label_values`), as string ids:
    /// no allocation per goroutine; turned into strings by `report`.
    labels: Vec<(StrId, Vec<StrId>)>,
    /// The label set seen last: a group's members usually share it.
    last_labels: Option<LabelSetId>,
    labels_truncated: bool,
    /// Distinct (key, value) trace label pairs, at most 2 x `samples`.
    trace_ids: Vec<(StrId, StrId)>,
}

impl GroupAcc {
    fn states(&self) -> [u64; State::ALL.len()] {
        match &self.states {
            Some(s) => **s,
            None => {
                let mut s = [0; State::ALL.len()];
                s[self.state as usize] = self.count;
                s
            }
        }
    }
}

/// A group's representative stack: an interned [`StackId`] (dumps,
/// debug=1 profiles) or, with the top bit set, one of the census's own
/// location sequences (protobuf profiles, [`Census::take_samples`]). One
/// word, so that a group stays 48 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rep(u32);

/// What a [`Rep`] stands for.
enum RepKind {
    Table(StackId),
    Profile(usize),
}

impl Rep {
    const PROFILE: u32 = 1 << 31;

    fn table(s: StackId) -> Self {
        // Two billion distinct stacks would need far more memory than a
        // census can have, so the top bit is free.
        debug_assert!(s.0 < Self::PROFILE);
        Rep(s.0)
    }

    fn profile(i: usize) -> Self {
        Rep(i as u32 | Self::PROFILE)
    }

    fn kind(self) -> RepKind {
        if self.0 & Self::PROFILE == 0 {
            RepKind::Table(StackId(self.0))
        } else {
            RepKind::Profile((self.0 & !Self::PROFILE) as usize)
        }
    }
}

/// A protobuf profile's location, for [`Census::add_locations`].
#[derive(Debug, Clone, Copy)]
pub struct ProfileLocation<'a> {
    /// Its id in the profile.
    pub id: u64,
    /// Its frames, inlined callees first.
    pub frames: &'a [FrameId],
    /// Their roles for [`vocab::infer_from_frames`], one per frame.
    pub roles: &'a [FrameRole],
    /// The origin of a goroutine whose outermost location this is.
    pub origin: Origin,
}

/// What a protobuf profile's stack says, worked out once per distinct
/// stack.
#[derive(Debug, Clone, Copy)]
struct StackFacts {
    state: State,
    block_class: BlockClass,
    origin: Origin,
}

/// Why a profile sample's stack could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadStack;

/// The locations and distinct stacks of protobuf profiles. A stack is kept
/// as the sample's packed location ids, as the profile encodes them (a
/// byte or two an id; 100,000 stacks of 40 frames take 4 MB instead of 16
/// as frame ids), and found by those bytes: a stack seen before costs a
/// hash of its bytes and one probe, not a walk of its frames. The frames
/// are only looked up for new stacks and for the groups a report shows.
#[derive(Debug, Clone, Default)]
struct ProfileStacks {
    /// What a walk reads: it is shared with the walking threads while the
    /// rest is being filled.
    locs: ProfileLocations,
    /// Distinct stacks, back to back; stack `i` ends at `ends[i]`. Their
    /// hashes are not kept: the table is sized up front, and rehashing
    /// from the bytes is cheap when it grows.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    facts: Vec<KnownStack>,
    /// Function-sequence hashes of the stacks walked but not yet given
    /// their sequence ids (from `facts.len()` of the last flush on).
    walked_fns: Vec<u64>,
    table: hashbrown::HashTable<u32>,
    /// Ids in distinct stacks that name no location.
    missing: u64,
    /// Samples taken but not counted yet ([`Census::flush_samples`]).
    pending: Vec<PendingSample>,
}

/// The registered locations of protobuf profiles.
#[derive(Debug, Clone, Default)]
struct ProfileLocations {
    /// Per location: its frames (inlined callees first) and their roles,
    /// back to back, `frame_start[l]..frame_start[l + 1]`.
    frames: Vec<FrameId>,
    roles: Vec<FrameRole>,
    frame_start: Vec<u32>,
    /// Per location: the ids of its functions that sequences keep (not
    /// [`hidden_in_dumps`]), `fn_start[l]..fn_start[l + 1]`.
    fns: Vec<u32>,
    fn_start: Vec<u32>,
    /// Locations registered so far.
    count: u32,
    /// Location id -> what walking a new stack needs of it, in one load:
    /// through a dense table when the ids are small (Go numbers them 1, 2,
    /// 3 ...), else a map.
    dense: Vec<LocationInfo>,
    sparse: FxHashMap<u64, LocationInfo>,
}

/// A profile sample waiting for its stack's walk: 16 bytes.
#[derive(Debug, Clone, Copy)]
struct PendingSample {
    weight: u64,
    stack: u32,
    /// Its label set (u32::MAX: none).
    labels: u32,
}

/// A location's share of a stack's depth, function sequence and facts.
#[derive(Debug, Clone, Copy)]
struct LocationInfo {
    /// Its function's hash when it keeps exactly one function (most do:
    /// inlining is rare and hidden runtime frames keep none).
    hash: u64,
    /// Its index among the registered locations (u32::MAX: no location
    /// has this id).
    index: u32,
    /// Frames, saturated: at u16::MAX they are counted from `frame_start`.
    frames: u16,
    /// Functions kept, saturated: only `== 1` is looked at.
    fns: u8,
    origin: Origin,
}

impl LocationInfo {
    const NONE: Self = Self {
        hash: 0,
        index: u32::MAX,
        frames: 0,
        fns: 0,
        origin: Origin::User,
    };
}

/// One walk of a new stack's locations ([`ProfileStacks::walk`]).
struct Walked {
    roles: [FrameRole; vocab::INFER_FRAMES],
    n_roles: usize,
    origin: Origin,
    /// The function sequence's hash.
    fns: u64,
    depth: u32,
    /// Ids that name no location.
    missing: u32,
}

impl Walked {
    fn roles(&self) -> &[FrameRole] {
        &self.roles[..self.n_roles]
    }
}

/// What a distinct profile stack stands for.
#[derive(Debug, Clone, Copy)]
struct KnownStack {
    seq: u32,
    depth: u32,
    facts: StackFacts,
}

impl ProfileLocations {
    fn frames_of(&self, l: u32) -> &[FrameId] {
        let l = l as usize;
        &self.frames[self.frame_start[l] as usize..self.frame_start[l + 1] as usize]
    }

    fn roles_of(&self, l: u32) -> &[FrameRole] {
        let l = l as usize;
        &self.roles[self.frame_start[l] as usize..self.frame_start[l + 1] as usize]
    }

    fn fns_of(&self, l: u32) -> &[u32] {
        let l = l as usize;
        &self.fns[self.fn_start[l] as usize..self.fn_start[l + 1] as usize]
    }

    #[inline]
    fn info_of(&self, id: u64) -> LocationInfo {
        match self.dense.get(id as usize) {
            Some(&i) => i,
            None => self.sparse.get(&id).copied().unwrap_or(LocationInfo::NONE),
        }
    }

    /// A new stack's facts (but for its sequence id, u32::MAX), its
    /// function-sequence hash, and `missing` plus its ids that name no
    /// location.
    fn known(
        &self,
        stack: &[u8],
        fn_hash: &[u64],
        missing: u64,
    ) -> Result<(KnownStack, u64, u64), BadStack> {
        let w = self.walk(stack, fn_hash)?;
        let inferred = vocab::infer_from_frames(w.roles());
        let known = KnownStack {
            seq: u32::MAX,
            depth: w.depth,
            facts: StackFacts {
                state: inferred.state,
                block_class: inferred.block_class,
                origin: w.origin,
            },
        };
        Ok((known, w.fns, missing + u64::from(w.missing)))
    }

    /// What a stack's frames say: one pass over its location ids. The
    /// running values are locals, so that the loop keeps them in registers.
    fn walk(&self, stack: &[u8], fn_hash: &[u64]) -> Result<Walked, BadStack> {
        let mut roles = [FrameRole::NONE; vocab::INFER_FRAMES];
        let mut n_roles = 0;
        // Origin of a stack without frames: as for a dump's.
        let mut origin = vocab::origin(u64::MAX, false, None, None);
        let (mut depth, mut missing) = (0u32, 0u32);
        let mut fns = Mix::new();
        let mut rest = stack;
        while !rest.is_empty() {
            let id = varint(&mut rest).map_err(|_| BadStack)?;
            let info = self.info_of(id);
            if info.index == u32::MAX {
                missing += 1;
                continue;
            }
            // The inference reads the innermost few frames only; the
            // origin is the outermost location's.
            if n_roles < roles.len() {
                for &r in self.roles_of(info.index) {
                    if n_roles < roles.len() {
                        roles[n_roles] = r;
                        n_roles += 1;
                    }
                }
            }
            if info.frames > 0 {
                origin = info.origin;
            }
            // Saturating: a hostile profile can repeat a location of many
            // lines many times.
            depth = depth.saturating_add(if info.frames == u16::MAX {
                u32::try_from(self.frames_of(info.index).len()).unwrap_or(u32::MAX)
            } else {
                u32::from(info.frames)
            });
            if info.fns == 1 {
                fns.add(info.hash);
            } else {
                for &f in self.fns_of(info.index) {
                    fns.add(fn_hash[f as usize]);
                }
            }
        }
        Ok(Walked {
            roles,
            n_roles,
            origin,
            fns: fns.finish(),
            depth,
            missing,
        })
    }
}

impl ProfileStacks {
    fn encoded(&self, i: usize) -> &[u8] {
        stack_bytes(&self.bytes, &self.ends, i)
    }

    /// The location indices of distinct stack `i` (ids that name no
    /// location left out).
    fn locations(&self, i: usize) -> impl Iterator<Item = u32> + '_ {
        let mut b = self.encoded(i);
        std::iter::from_fn(move || loop {
            if b.is_empty() {
                return None;
            }
            // A stored stack was read whole once: its varints are sound.
            let id = varint(&mut b).ok()?;
            let l = self.locs.info_of(id).index;
            if l != u32::MAX {
                return Some(l);
            }
        })
    }
}

/// Finds or adds `stack` among the distinct stacks (`bytes`, `ends`,
/// `table` of a [`ProfileStacks`]) and takes the sample; true if the stack
/// is new. Free of `self`, so that the stacks can be filled while their
/// locations are shared with walking threads.
fn intern_stack(
    bytes: &mut Vec<u8>,
    ends: &mut Vec<usize>,
    table: &mut hashbrown::HashTable<u32>,
    pending: &mut Vec<PendingSample>,
    weight: u64,
    labels: Option<LabelSetId>,
    stack: &[u8],
) -> bool {
    let hash = bytes_hash(stack);
    let found = table
        .find(hash, |&i| stack_bytes(bytes, ends, i as usize) == stack)
        .copied();
    let (index, new) = match found {
        Some(i) => (i, false),
        None => {
            let i = ends.len() as u32;
            bytes.extend_from_slice(stack);
            ends.push(bytes.len());
            let (b, e) = (&*bytes, &*ends);
            table.insert_unique(hash, i, |&i| bytes_hash(stack_bytes(b, e, i as usize)));
            (i, true)
        }
    };
    pending.push(PendingSample {
        weight,
        stack: index,
        labels: labels.map_or(u32::MAX, |l| l.0),
    });
    new
}

/// Stacks walked a batch at a time by [`Census::take_samples`].
const WALK_BATCH: usize = 1024;

/// New stacks to walk: `first` is the index of the first, `bytes` and
/// `ends` hold them as a [`ProfileStacks`] arena does.
#[derive(Default)]
struct WalkBatch {
    first: usize,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// A walked batch.
struct WalkedBatch {
    first: usize,
    facts: Vec<KnownStack>,
    fns: Vec<u64>,
    missing: u64,
    /// A stack was not a run of varints.
    bad: bool,
}

#[derive(Default)]
struct WalkQueue {
    batches: std::collections::VecDeque<WalkBatch>,
    /// No more batches will come.
    closed: bool,
}

/// A [`WalkQueue`] that walkers sleep on while it is empty.
#[derive(Default)]
struct SharedQueue {
    queue: std::sync::Mutex<WalkQueue>,
    ready: std::sync::Condvar,
}

impl SharedQueue {
    fn push(&self, batch: WalkBatch) {
        lock(&self.queue).batches.push_back(batch);
        self.ready.notify_one();
    }

    fn close(&self) {
        lock(&self.queue).closed = true;
        self.ready.notify_all();
    }
}

/// Closes the queue when dropped, so that walkers stop even if the reader
/// panics (else the thread scope would wait for them forever).
struct CloseOnDrop<'a>(&'a SharedQueue);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Locks, whether or not a thread panicked holding the lock (the data
/// stays consistent: each holder only pushes or pops).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Walks batches from `queue` into `done` until it is closed and empty,
/// sleeping while it is empty.
fn walk_queued(
    locs: &ProfileLocations,
    fn_hash: &[u64],
    queue: &SharedQueue,
    done: &std::sync::Mutex<Vec<WalkedBatch>>,
) {
    loop {
        let batch = {
            let mut q = lock(&queue.queue);
            loop {
                match q.batches.pop_front() {
                    Some(b) => break b,
                    None if q.closed => return,
                    None => {
                        q = queue
                            .ready
                            .wait(q)
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                    }
                }
            }
        };
        let mut out = WalkedBatch {
            first: batch.first,
            facts: Vec::with_capacity(batch.ends.len()),
            fns: Vec::with_capacity(batch.ends.len()),
            missing: 0,
            bad: false,
        };
        for i in 0..batch.ends.len() {
            match locs.known(
                stack_bytes(&batch.bytes, &batch.ends, i),
                fn_hash,
                out.missing,
            ) {
                Ok((known, fns, missing)) => {
                    out.facts.push(known);
                    out.fns.push(fns);
                    out.missing = missing;
                }
                Err(BadStack) => {
                    out.bad = true;
                    break;
                }
            }
        }
        lock(done).push(out);
    }
}

/// Distinct stack `i` of a [`ProfileStacks`] arena.
fn stack_bytes<'a>(bytes: &'a [u8], ends: &[usize], i: usize) -> &'a [u8] {
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &bytes[start..ends[i]]
}

/// Hash of a stack's bytes, eight at a time (FxHash-style: fast, not
/// stable; it only finds equal stacks), finished so the low bits the
/// table indexes by depend on every byte.
fn bytes_hash(b: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(x)).wrapping_mul(K);
    }
    let mut x = [0u8; 8];
    x[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(x)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// What [`Census::add`], [`Census::add_record`] and [`Census::take_samples`]
/// count: a goroutine (weight 1, with its id) or a profile record or sample
/// (weight = its count).
struct Entry {
    weight: u64,
    id: Option<u64>,
    state: State,
    class: BlockClass,
    origin: Origin,
    wait_reason: Option<StrId>,
    wait_minutes: Option<u32>,
    locked: bool,
    leaked: bool,
    unavailable: bool,
    truncated: bool,
    stack: Rep,
    /// Function-sequence id of the stack.
    seq: u32,
    /// Frames, printed plus elided.
    depth: u64,
    elided: bool,
    created_by: Option<FrameId>,
    labels: Option<LabelSetId>,
}

/// Running totals over goroutines.
#[derive(Debug, Clone)]
pub struct Census {
    opts: CensusOptions,
    total: u64,
    states: [u64; State::ALL.len()],
    classes: [u64; BlockClass::ALL.len()],
    origins: [u64; Origin::ALL.len()],
    depth: Vec<u64>,
    /// Count per wait reason, indexed by its string id.
    wait_reasons: Vec<u64>,
    /// Count per (state, block class, origin), flattened.
    matrix: Vec<u64>,
    locked: u64,
    leaked_flag: u64,
    unavailable: u64,
    truncated: u64,
    groups: Vec<GroupAcc>,
    /// Per sequence id: its first group (u32::MAX: none yet).
    seq_group: Vec<u32>,
    /// The groups that are not the first of their sequence.
    group_index: FxHashMap<GroupKey, u32>,
    /// Per stack id: its function-sequence id (u32::MAX = not computed).
    seq_of_stack: Vec<u32>,
    /// Function-sequence ids, found through a table of ids. A sequence is
    /// not stored: it is that of its first stack (`seq_rep`), mapped
    /// through `fn_of_frame` when compared.
    seq_rep: Vec<Rep>,
    /// Per sequence id: its stable hash, which the table is keyed by and
    /// signatures are made from.
    seq_hashes: Vec<u64>,
    seq_table: hashbrown::HashTable<u32>,
    /// Per frame id: id of its function name (or of the whole frame when
    /// grouping by location).
    fn_of_frame: Vec<u32>,
    fn_index: FxHashMap<Box<str>, u32>,
    /// Per function id: the stable hash of its name (with file:line when
    /// grouping by location), from which signatures are made.
    fn_hash: Vec<u64>,
    /// Per function id: a runtime function tracebacks hide
    /// ([`hidden_in_dumps`]), left out of sequences.
    fn_hidden: Vec<bool>,
    scratch: Vec<u32>,
    scratch_rep: Vec<u32>,
    /// Locations and distinct stacks of protobuf profiles.
    profile: ProfileStacks,
    /// Per label set: the value of the `group_by_label` key (u32::MAX:
    /// absent), computed once per set.
    label_value_of_set: Vec<u32>,
    /// Per string id used as a label key: 1 trace key, 2 not, 0 unknown.
    trace_key: Vec<u8>,
}

impl Census {
    /// An empty census.
    pub fn new(opts: CensusOptions) -> Self {
        let buckets = opts.depth_buckets.labels().len();
        Self {
            opts,
            total: 0,
            states: [0; State::ALL.len()],
            classes: [0; BlockClass::ALL.len()],
            origins: [0; Origin::ALL.len()],
            depth: vec![0; buckets],
            wait_reasons: Vec::new(),
            matrix: vec![0; State::ALL.len() * BlockClass::ALL.len() * Origin::ALL.len()],
            locked: 0,
            leaked_flag: 0,
            unavailable: 0,
            truncated: 0,
            groups: Vec::new(),
            seq_group: Vec::new(),
            group_index: FxHashMap::default(),
            seq_of_stack: Vec::new(),
            seq_rep: Vec::new(),
            seq_hashes: Vec::new(),
            seq_table: hashbrown::HashTable::new(),
            fn_of_frame: Vec::new(),
            fn_index: FxHashMap::default(),
            fn_hash: Vec::new(),
            fn_hidden: Vec::new(),
            scratch: Vec::new(),
            scratch_rep: Vec::new(),
            profile: ProfileStacks::default(),
            label_value_of_set: Vec::new(),
            trace_key: Vec::new(),
        }
    }

    /// Makes room for about `groups` more groups, when the caller knows
    /// (a profile's sample count): growing the tables step by step costs
    /// more than the counting itself on 100,000 distinct stacks.
    pub fn reserve(&mut self, groups: usize) {
        self.groups.reserve(groups);
        self.seq_group.reserve(groups);
        self.seq_rep.reserve(groups);
        self.seq_hashes.reserve(groups);
        let hashes = &self.seq_hashes;
        self.seq_table.reserve(groups, |&id| hashes[id as usize]);
    }

    /// Counts one goroutine.
    pub fn add(&mut self, g: &Goroutine, tables: &Tables) {
        let seq = self.seq_id(g.stack, tables);
        let depth = tables.stack(g.stack).len() as u64
            + match g.elided {
                Elided::Count(n) => u64::from(n),
                _ => 0,
            };
        self.add_entry(
            &Entry {
                weight: 1,
                id: Some(g.id),
                state: g.state,
                class: g.block_class,
                origin: g.origin,
                wait_reason: g.wait_reason,
                wait_minutes: g.wait_minutes,
                locked: g.flags.locked_to_thread,
                leaked: g.flags.leaked,
                unavailable: g.flags.stack_unavailable,
                truncated: g.flags.truncated,
                stack: Rep::table(g.stack),
                seq,
                depth,
                elided: g.elided != Elided::None,
                created_by: g.created_by.map(|c| c.frame),
                labels: g.labels,
            },
            tables,
        );
    }

    /// Counts the goroutines of a profile record: `count` of them, without
    /// ids (so no samples), wait reasons or wait times.
    pub fn add_record(&mut self, r: &Record, tables: &Tables) {
        let seq = self.seq_id(r.stack, tables);
        self.add_entry(
            &Entry {
                weight: r.count,
                id: None,
                state: r.state,
                class: r.block_class,
                origin: r.origin,
                wait_reason: None,
                wait_minutes: None,
                locked: false,
                // Only a goroutineleak profile's records are in this state.
                leaked: r.state == State::Leaked,
                unavailable: false,
                truncated: false,
                stack: Rep::table(r.stack),
                seq,
                depth: tables.stack(r.stack).len() as u64,
                elided: false,
                created_by: None,
                labels: r.labels,
            },
            tables,
        );
    }

    /// Registers a protobuf profile's locations for [`Self::take_samples`].
    /// A later location with the same id replaces an earlier one. A census
    /// counts one protobuf profile: stacks are known by their location ids,
    /// which another profile would mean otherwise. After an error from
    /// [`Self::take_samples`] or [`Self::flush_samples`] it is only good for
    /// dropping.
    pub fn add_locations(&mut self, locations: &[ProfileLocation<'_>], tables: &Tables) {
        if self.profile.locs.frame_start.is_empty() {
            self.profile.locs.frame_start.push(0);
            self.profile.locs.fn_start.push(0);
        }
        // Dense when the table stays within a small multiple of the count.
        let max = locations.iter().map(|l| l.id).max().unwrap_or(0);
        let dense = max <= 4 * locations.len() as u64 + 1024;
        if dense && self.profile.locs.dense.len() <= max as usize {
            self.profile
                .locs
                .dense
                .resize(max as usize + 1, LocationInfo::NONE);
        }
        for loc in locations {
            let fn_start = self.profile.locs.fns.len();
            for (&f, &role) in loc.frames.iter().zip(loc.roles) {
                self.profile.locs.frames.push(f);
                self.profile.locs.roles.push(role);
                let fid = self.fn_id(f, tables);
                if !self.fn_hidden[fid as usize] {
                    self.profile.locs.fns.push(fid);
                }
            }
            let p = &mut self.profile.locs;
            let frames = p.frames.len() as u32 - p.frame_start[p.frame_start.len() - 1];
            p.frame_start.push(p.frames.len() as u32);
            p.fn_start.push(p.fns.len() as u32);
            let fns = p.fns.len() - fn_start;
            let info = LocationInfo {
                hash: if fns == 1 {
                    self.fn_hash[p.fns[fn_start] as usize]
                } else {
                    0
                },
                index: p.count,
                frames: u16::try_from(frames).unwrap_or(u16::MAX),
                fns: u8::try_from(fns).unwrap_or(u8::MAX),
                origin: loc.origin,
            };
            p.count += 1;
            // An id the table covers goes there even in a sparse profile:
            // lookups try the table first.
            match p.dense.get_mut(loc.id as usize) {
                Some(slot) => *slot = info,
                None => {
                    p.sparse.insert(loc.id, info);
                }
            }
        }
    }

    /// Makes room for `samples` more profile samples of `bytes` encoded
    /// bytes in all: every sample of a Go profile is a distinct (stack,
    /// labels), so each is likely a new stack and a new group.
    pub fn reserve_samples(&mut self, samples: usize, bytes: usize) {
        self.reserve(samples);
        let p = &mut self.profile;
        p.bytes.reserve(bytes);
        p.ends.reserve(samples);
        p.facts.reserve(samples);
        p.pending.reserve(samples);
        let (bytes, ends) = (&p.bytes, &p.ends);
        p.table.reserve(samples, |&i| {
            bytes_hash(stack_bytes(bytes, ends, i as usize))
        });
    }

    /// Ids in the distinct stacks of the profiles so far that name no
    /// registered location (left out of the stacks).
    pub fn missing_locations(&self) -> u64 {
        self.profile.missing
    }

    /// Takes a protobuf profile's samples: `read` calls the function it is
    /// given once per sample with `weight` goroutines (no ids, wait reasons
    /// or wait times), their labels, and their stack: the sample's location
    /// ids as packed varints, innermost first. A stack is only looked up
    /// here (a stack seen before costs a hash of its bytes and a probe).
    /// With more than one thread the stacks first seen are walked while the
    /// samples are still being read: by another thread from the start, by
    /// this one too once they are all read. [`Self::flush_samples`], which
    /// must follow, counts them.
    pub fn take_samples<E>(
        &mut self,
        read: impl FnOnce(&mut dyn FnMut(u64, Option<LabelSetId>, &[u8])) -> Result<(), E>,
    ) -> Result<(), E> {
        let threads = self.walk_threads();
        let p = &mut self.profile;
        // Only from a clean start: every stack so far walked.
        if threads < 2 || p.facts.len() != p.ends.len() {
            return read(&mut |w, l, stack| {
                intern_stack(
                    &mut p.bytes,
                    &mut p.ends,
                    &mut p.table,
                    &mut p.pending,
                    w,
                    l,
                    stack,
                );
            });
        }
        let ProfileStacks {
            locs,
            bytes,
            ends,
            table,
            pending,
            facts,
            walked_fns,
            missing,
            ..
        } = p;
        let fn_hash = &self.fn_hash[..];
        let queue = SharedQueue::default();
        let done = std::sync::Mutex::new(Vec::new());
        let (read_result, outs) = std::thread::scope(|scope| {
            let walker = scope.spawn(|| walk_queued(locs, fn_hash, &queue, &done));
            let closer = CloseOnDrop(&queue);
            let mut batch = WalkBatch {
                first: ends.len(),
                ..WalkBatch::default()
            };
            let read_result = read(&mut |w, l, stack| {
                if intern_stack(bytes, ends, table, pending, w, l, stack) {
                    batch.bytes.extend_from_slice(stack);
                    batch.ends.push(batch.bytes.len());
                    if batch.ends.len() == WALK_BATCH {
                        let next = WalkBatch {
                            first: batch.first + WALK_BATCH,
                            ..WalkBatch::default()
                        };
                        queue.push(std::mem::replace(&mut batch, next));
                    }
                }
            });
            queue.push(batch);
            drop(closer);
            // Now this thread walks too, until the queue is empty.
            walk_queued(locs, fn_hash, &queue, &done);
            // A walk does not panic (it is bounds-checked and returns
            // errors); if one did, its batch is missing and caught below.
            let _ = walker.join();
            (read_result, std::mem::take(&mut *lock(&done)))
        });
        read_result?;
        let mut outs = outs;
        outs.sort_unstable_by_key(|o: &WalkedBatch| o.first);
        for o in outs {
            // Batches are contiguous runs of stacks; one that failed (or
            // went missing) leaves the rest to `flush_samples`, which
            // walks again and reports the error.
            if o.bad || o.first != facts.len() {
                break;
            }
            facts.extend_from_slice(&o.facts);
            walked_fns.extend_from_slice(&o.fns);
            *missing += o.missing;
        }
        Ok(())
    }

    /// Threads to walk new stacks on.
    fn walk_threads(&self) -> usize {
        match self.opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |t| t.get()),
            t => t,
        }
    }

    /// Counts the samples taken since the last call. The stacks first seen
    /// among them are walked (on `threads` threads when there are many):
    /// state and block class are inferred from the frames
    /// ([`vocab::infer_from_frames`]), once per distinct stack. `leaked` (a
    /// goroutineleak profile) makes the state leaked, as a dump's
    /// `(leaked)` header does. `Err` if a stack is not a run of varints;
    /// nothing is counted then.
    pub fn flush_samples(&mut self, leaked: bool, tables: &Tables) -> Result<(), BadStack> {
        if let Err(e) = self.walk_new_stacks() {
            // Nothing of this batch is counted; a census that saw a broken
            // profile is only good for dropping.
            self.profile.pending.clear();
            return Err(e);
        }
        let fns = std::mem::take(&mut self.profile.walked_fns);
        let first_new = self.profile.facts.len() - fns.len();
        for (k, fns) in fns.into_iter().enumerate() {
            let i = first_new + k;
            // The function sequence is only spelt out when its hash is
            // known already (an equal sequence, or a collision).
            self.profile.facts[i].seq = self.seq_of(fns, Rep::profile(i), tables);
        }
        let pending = std::mem::take(&mut self.profile.pending);
        for s in &pending {
            let known = self.profile.facts[s.stack as usize];
            let mut facts = known.facts;
            if leaked {
                // Its class still says on what.
                facts.state = State::Leaked;
            }
            self.add_entry(
                &Entry {
                    weight: s.weight,
                    id: None,
                    state: facts.state,
                    class: facts.block_class,
                    origin: facts.origin,
                    wait_reason: None,
                    wait_minutes: None,
                    locked: false,
                    // Only a goroutineleak profile's samples are in this
                    // state.
                    leaked: facts.state == State::Leaked,
                    unavailable: false,
                    truncated: false,
                    stack: Rep::profile(s.stack as usize),
                    seq: known.seq,
                    depth: u64::from(known.depth),
                    elided: false,
                    created_by: None,
                    labels: (s.labels != u32::MAX).then_some(LabelSetId(s.labels)),
                },
                tables,
            );
        }
        // Keep the buffer for the next profile.
        self.profile.pending = pending;
        self.profile.pending.clear();
        Ok(())
    }

    /// Walks the stacks added since the last flush that
    /// [`Self::take_samples`] left (all of them on one thread), filling
    /// their facts but for the sequence id, and their function-sequence
    /// hashes into `walked_fns`.
    fn walk_new_stacks(&mut self) -> Result<(), BadStack> {
        let p = &mut self.profile;
        for i in p.facts.len()..p.ends.len() {
            let (known, fns, missing) = p.locs.known(p.encoded(i), &self.fn_hash, p.missing)?;
            p.facts.push(known);
            p.walked_fns.push(fns);
            p.missing = missing;
        }
        Ok(())
    }

    fn add_entry(&mut self, g: &Entry, tables: &Tables) {
        let w = g.weight;
        self.total += w;
        self.states[g.state as usize] += w;
        self.classes[g.class as usize] += w;
        self.origins[g.origin as usize] += w;
        self.matrix[matrix_index(g.state, g.class, g.origin)] += w;
        if let Some(r) = g.wait_reason {
            let i = r.0 as usize;
            if i >= self.wait_reasons.len() {
                self.wait_reasons.resize(i + 1, 0);
            }
            self.wait_reasons[i] += w;
        }
        self.locked += w * u64::from(g.locked);
        self.leaked_flag += w * u64::from(g.leaked);
        self.unavailable += w * u64::from(g.unavailable);
        self.truncated += w * u64::from(g.truncated);
        let bucket = self
            .opts
            .depth_buckets
            .index(u32::try_from(g.depth).unwrap_or(u32::MAX));
        self.depth[bucket] += w;

        let seq = g.seq;
        let created_by = match g.created_by {
            Some(f) if self.opts.group_by_creator => self.fn_id(f, tables),
            _ => u32::MAX,
        };
        let label = match (&self.opts.group_by_label, g.labels) {
            (Some(_), Some(ls)) => self.label_value(ls, tables),
            _ => u32::MAX,
        };
        let key = GroupKey {
            seq,
            created_by,
            class: g.class,
            label,
        };
        // Most sequences make one group (the class follows from the frames,
        // and labels or creators rarely split them): that group is found
        // by the sequence id, the others through the map.
        let first = self
            .seq_group
            .get(seq as usize)
            .copied()
            .unwrap_or(u32::MAX);
        let found = if first != u32::MAX && self.group_matches(first, &key) {
            Some(first)
        } else {
            self.group_index.get(&key).copied()
        };
        let idx = match found {
            Some(i) => i as usize,
            None => {
                let i = self.groups.len();
                self.groups.push(GroupAcc {
                    count: 0,
                    stack: g.stack,
                    seq,
                    label,
                    created_by: g.created_by,
                    class: g.class,
                    origin: g.origin,
                    state: g.state,
                    elided: false,
                    states: None,
                    extra: None,
                });
                let s = seq as usize;
                if s >= self.seq_group.len() {
                    self.seq_group.resize(s + 1, u32::MAX);
                }
                if self.seq_group[s] == u32::MAX {
                    self.seq_group[s] = i as u32;
                } else {
                    self.group_index.insert(key, i as u32);
                }
                i
            }
        };
        let label_cap = self.opts.label_values;
        let sample_cap = self.opts.samples;
        let grp = &mut self.groups[idx];
        if g.state != grp.state && grp.states.is_none() {
            grp.states = Some(Box::new(grp.states()));
        }
        grp.count += w;
        if let Some(states) = &mut grp.states {
            states[g.state as usize] += w;
        }
        grp.elided |= g.elided;
        let wants_sample = g.id.is_some() && sample_cap > 0;
        let new_labels = g
            .labels
            .filter(|&ls| grp.extra.as_ref().is_none_or(|x| x.last_labels != Some(ls)));
        if !(wants_sample || new_labels.is_some() || g.wait_minutes.is_some()) {
            return;
        }
        let extra = grp.extra.get_or_insert_with(Default::default);
        if let Some(m) = g.wait_minutes {
            extra.wait_min = Some(extra.wait_min.map_or(m, |x| x.min(m)));
            extra.wait_max = Some(extra.wait_max.map_or(m, |x| x.max(m)));
        }
        if let Some(id) = g.id.filter(|_| extra.samples.len() < sample_cap) {
            extra.samples.push(id);
        }
        if let Some(ls) = new_labels {
            extra.last_labels = Some(ls);
            for &(k, v) in tables.labels(ls) {
                // Room for a trace id and a span id per sampled goroutine.
                if extra.trace_ids.len() < 2 * sample_cap
                    && is_trace_key(&mut self.trace_key, k, tables)
                    && !extra.trace_ids.contains(&(k, v))
                {
                    extra.trace_ids.push((k, v));
                }
                let slot = match extra.labels.iter().position(|(key, _)| *key == k) {
                    Some(i) => i,
                    None => {
                        extra.labels.push((k, Vec::new()));
                        extra.labels.len() - 1
                    }
                };
                let values = &mut extra.labels[slot].1;
                if !values.contains(&v) {
                    if values.len() < label_cap {
                        values.push(v);
                    } else {
                        extra.labels_truncated = true;
                    }
                }
            }
        }
    }

    /// Whether group `i` is the one of `key`.
    fn group_matches(&self, i: u32, key: &GroupKey) -> bool {
        let g = &self.groups[i as usize];
        let created_by = match g.created_by {
            Some(f) if self.opts.group_by_creator => self.fn_of_frame[f.0 as usize],
            _ => u32::MAX,
        };
        g.seq == key.seq
            && g.class == key.class
            && g.label == key.label
            && created_by == key.created_by
    }

    /// The `group_by_label` value in a label set, as a string id.
    fn label_value(&mut self, ls: LabelSetId, tables: &Tables) -> u32 {
        let i = ls.0 as usize;
        if i >= self.label_value_of_set.len() {
            self.label_value_of_set.resize(i + 1, u32::MAX - 1);
        }
        if self.label_value_of_set[i] == u32::MAX - 1 {
            let want = self.opts.group_by_label.as_deref().unwrap_or("");
            self.label_value_of_set[i] = tables
                .labels(ls)
                .iter()
                .find(|&&(k, _)| tables.str(k) == want)
                .map_or(u32::MAX, |&(_, v)| v.0);
        }
        self.label_value_of_set[i]
    }

    /// Id of the function name (or whole frame) of a frame id.
    fn fn_id(&mut self, f: FrameId, tables: &Tables) -> u32 {
        let i = f.0 as usize;
        if let Some(&id) = self.fn_of_frame.get(i).filter(|&&id| id != u32::MAX) {
            return id;
        }
        if i >= self.fn_of_frame.len() {
            self.fn_of_frame
                .resize(tables.frame_count().max(i + 1), u32::MAX);
        }
        let frame = tables.frame(f);
        let name: Box<str> = if self.opts.by_location {
            format!("{}\0{}:{}", frame.function, frame.file, frame.line).into()
        } else {
            frame.function.clone()
        };
        let next = self.fn_index.len() as u32;
        let (hashes, hidden) = (&mut self.fn_hash, &mut self.fn_hidden);
        let id = *self.fn_index.entry(name).or_insert_with_key(|name| {
            let mut h = Fnv::new();
            h.write(name.as_bytes());
            hashes.push(h.finish());
            hidden.push(hidden_in_dumps(&frame.function));
            next
        });
        self.fn_of_frame[i] = id;
        id
    }

    /// Id of the function-name sequence of a stack.
    fn seq_id(&mut self, s: StackId, tables: &Tables) -> u32 {
        let i = s.0 as usize;
        if i >= self.seq_of_stack.len() {
            self.seq_of_stack
                .resize(tables.stack_count().max(i + 1), u32::MAX);
        }
        if self.seq_of_stack[i] != u32::MAX {
            return self.seq_of_stack[i];
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        if self.fn_of_frame.len() < tables.frame_count() {
            self.fn_of_frame.resize(tables.frame_count(), u32::MAX);
        }
        for &f in tables.stack(s) {
            // Inline fast path: the frame's function is usually known.
            let id = match self.fn_of_frame[f.0 as usize] {
                u32::MAX => self.fn_id(f, tables),
                id => id,
            };
            if !self.fn_hidden[id as usize] {
                scratch.push(id);
            }
        }
        let mut hash = Mix::new();
        for &id in &scratch {
            hash.add(self.fn_hash[id as usize]);
        }
        self.scratch = scratch;
        let id = self.seq_of(hash.finish(), Rep::table(s), tables);
        self.seq_of_stack[i] = id;
        id
    }

    /// Id of the function sequence of `rep` (hidden functions left out),
    /// whose hash is `hash`; `rep` becomes its representative if it is new.
    fn seq_of(&mut self, hash: u64, rep: Rep, tables: &Tables) -> u32 {
        let mut ours = std::mem::take(&mut self.scratch);
        let mut theirs = std::mem::take(&mut self.scratch_rep);
        let found = {
            let this = &*self;
            let mut spelt = false;
            this.seq_table
                .find(hash, |&id| {
                    if this.seq_hashes[id as usize] != hash {
                        return false;
                    }
                    if !spelt {
                        this.rep_fns(rep, tables, &mut ours);
                        spelt = true;
                    }
                    this.rep_fns(this.seq_rep[id as usize], tables, &mut theirs);
                    theirs == ours
                })
                .copied()
        };
        self.scratch = ours;
        self.scratch_rep = theirs;
        if let Some(id) = found {
            return id;
        }
        let id = self.seq_rep.len() as u32;
        self.seq_rep.push(rep);
        self.seq_hashes.push(hash);
        let hashes = &self.seq_hashes;
        self.seq_table
            .insert_unique(hash, id, |&id| hashes[id as usize]);
        id
    }

    /// The function sequence of a representative stack (every frame of one
    /// has its function id).
    fn rep_fns(&self, rep: Rep, tables: &Tables, out: &mut Vec<u32>) {
        out.clear();
        match rep.kind() {
            RepKind::Table(s) => out.extend(
                tables
                    .stack(s)
                    .iter()
                    .map(|f| self.fn_of_frame[f.0 as usize])
                    .filter(|&x| !self.fn_hidden[x as usize]),
            ),
            RepKind::Profile(i) => {
                for l in self.profile.locations(i) {
                    out.extend_from_slice(self.profile.locs.fns_of(l));
                }
            }
        }
    }

    /// The frames of a representative stack.
    fn rep_frames(&self, rep: Rep, tables: &Tables) -> Vec<FrameId> {
        match rep.kind() {
            RepKind::Table(s) => tables.stack(s).to_vec(),
            RepKind::Profile(i) => self
                .profile
                .locations(i)
                .flat_map(|l| self.profile.locs.frames_of(l).iter().copied())
                .collect(),
        }
    }

    /// Goroutines counted so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Builds the report; groups sorted by count (descending), then
    /// signature.
    pub fn report(&self, tables: &Tables, diagnostics: Vec<Diagnostic>) -> Report {
        self.report_top(tables, diagnostics, None)
    }

    /// Like [`Self::report`], but only the `limit` largest groups are
    /// materialised (frames, labels, strings); `group_count` still counts
    /// them all. With 100,000 distinct stacks, building every group costs
    /// far more than reading the input.
    pub fn report_top(
        &self,
        tables: &Tables,
        diagnostics: Vec<Diagnostic>,
        limit: Option<usize>,
    ) -> Report {
        let mut wait_reasons: Vec<(String, u64)> = self
            .wait_reasons
            .iter()
            .enumerate()
            .filter(|(_, &v)| v > 0)
            .map(|(k, &v)| (tables.str(StrId(k as u32)).to_string(), v))
            .collect();
        wait_reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        // Order by (count desc, signature): only the hashes are computed
        // for every group, the class's part once per class.
        let class_tails = BlockClass::ALL.map(|c| {
            let mut tail = Fnv::new();
            tail.write(c.as_str().as_bytes());
            tail
        });
        let ranked = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.count, self.signature(g, &class_tails, tables), i));
        let by_rank =
            |a: &(u64, u64, usize), b: &(u64, u64, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        let mut order: Vec<(u64, u64, usize)> = match limit {
            // Only the shown groups are kept, in a heap whose top is the
            // last of them: no list of every group (100,000 in a profile
            // of distinct stacks) is built.
            Some(n) if n < self.groups.len() => {
                let mut heap = std::collections::BinaryHeap::with_capacity(n + 1);
                for (count, sig, i) in ranked {
                    let item = (std::cmp::Reverse(count), sig, i);
                    // Most groups rank below the last one kept: one
                    // comparison.
                    if heap.len() == n && heap.peek().is_none_or(|last| item >= *last) {
                        continue;
                    }
                    heap.push(item);
                    if heap.len() > n {
                        heap.pop();
                    }
                }
                heap.into_iter()
                    .map(|(std::cmp::Reverse(count), sig, i)| (count, sig, i))
                    .collect()
            }
            _ => ranked.collect(),
        };
        order.sort_unstable_by(by_rank);
        let groups: Vec<Group> = order
            .iter()
            .map(|&(_, sig, i)| self.group_report(&self.groups[i], sig, tables))
            .collect();
        // The ALL arrays are in declaration (= Ord) order, so this comes out
        // sorted by (state, block class, origin).
        let mut matrix = Vec::new();
        for &state in &State::ALL {
            for &block_class in &BlockClass::ALL {
                for &origin in &Origin::ALL {
                    let count = self.matrix[matrix_index(state, block_class, origin)];
                    if count > 0 {
                        matrix.push(Series {
                            state,
                            block_class,
                            origin,
                            count,
                        });
                    }
                }
            }
        }
        Report {
            schema_version: SCHEMA_VERSION,
            source: Source::dump(),
            total: self.total,
            states: State::ALL
                .iter()
                .map(|s| (s.as_str(), self.states[*s as usize]))
                .collect(),
            wait_reasons: wait_reasons.into_iter().collect(),
            block_classes: BlockClass::ALL
                .iter()
                .map(|c| (c.as_str(), self.classes[*c as usize]))
                .collect(),
            depth_buckets: self
                .opts
                .depth_buckets
                .labels()
                .iter()
                .cloned()
                .zip(self.depth.iter().copied())
                .collect(),
            origins: Origin::ALL
                .iter()
                .map(|o| (o.as_str(), self.origins[*o as usize]))
                .collect(),
            flags: FlagCounts {
                locked_to_thread: self.locked,
                leaked: self.leaked_flag,
                stack_unavailable: self.unavailable,
                truncated: self.truncated,
            },
            series: matrix,
            unique_stacks: (tables.stack_count() + self.profile.ends.len()) as u64,
            unique_frames: tables.frame_count() as u64,
            group_count: self.groups.len() as u64,
            groups,
            diagnostics_total: diagnostics.len() as u64,
            diagnostics,
        }
    }

    /// The group's stable signature: every function name (with file:line
    /// under `by_location`) is hashed once with FNV-1a; the signature mixes
    /// those hashes in stack order (the sequence's hash, made once per
    /// distinct sequence), then the creator's, the block class and the
    /// label value. Identical for the same code whatever form (dump or
    /// profile) it was read from.
    fn signature(&self, g: &GroupAcc, class_tails: &[Fnv], tables: &Tables) -> u64 {
        let mut h = Mix(self.seq_hashes[g.seq as usize]);
        // A separator, so that a stack and its creator cannot trade frames.
        h.add(0x6372_6561_7465_6420);
        let creator = g.created_by.filter(|_| self.opts.group_by_creator);
        h.add(creator.map_or(0, |f| self.fn_hash[self.fn_of_frame[f.0 as usize] as usize]));
        // FNV over the class name, then the label's.
        let mut tail = class_tails[g.class as usize];
        if g.label != u32::MAX {
            tail.write(b"\nlabel ");
            tail.write(tables.str(StrId(g.label)).as_bytes());
        }
        h.add(tail.finish());
        h.finish()
    }

    fn group_report(&self, g: &GroupAcc, signature: u64, tables: &Tables) -> Group {
        let frames: Vec<FrameOut> = self
            .rep_frames(g.stack, tables)
            .into_iter()
            .map(|f| FrameOut::of(tables, f))
            .collect();
        let created_by = g.created_by.map(|f| FrameOut::of(tables, f));
        let states = g.states();
        let none = GroupExtra::default();
        let x = g.extra.as_deref().unwrap_or(&none);
        Group {
            signature: format!("{signature:016x}"),
            count: g.count,
            states: State::ALL
                .iter()
                .filter(|s| states[**s as usize] > 0)
                .map(|s| (s.as_str(), states[*s as usize]))
                .collect(),
            block_class: g.class,
            origin: g.origin,
            top_function: top_function(&frames).to_string(),
            created_by,
            wait_minutes_min: x.wait_min,
            wait_minutes_max: x.wait_max,
            frames_elided: g.elided,
            labels: x
                .labels
                .iter()
                .map(|(k, vs)| {
                    let values: BTreeSet<&str> = vs.iter().map(|&v| tables.str(v)).collect();
                    (
                        tables.str(*k).to_string(),
                        values.into_iter().map(str::to_string).collect(),
                    )
                })
                .collect(),
            labels_truncated: x.labels_truncated,
            sample_ids: x.samples.clone(),
            group_label: (g.label != u32::MAX).then(|| GroupLabel {
                key: self.opts.group_by_label.clone().unwrap_or_default(),
                value: tables.str(StrId(g.label)).to_string(),
            }),
            trace_ids: x
                .trace_ids
                .iter()
                .map(|&(k, v)| TraceId {
                    key: tables.str(k).to_string(),
                    value: tables.str(v).to_string(),
                })
                .collect(),
            frames,
        }
    }
}

/// pprof label keys that carry a trace or span id, as set by tracing
/// libraries: OpenTelemetry-style `trace_id`/`span_id` (and `traceid`,
/// `trace-id`, `trace.id`, `otel.trace_id`, `otel.span_id`, `dd.trace_id`,
/// `x-trace-id`), and Datadog's profiler labels `span id` and `local root
/// span id`. Matched case-insensitively.
pub const TRACE_LABEL_KEYS: &[&str] = &[
    "trace_id",
    "traceid",
    "trace-id",
    "trace.id",
    "otel.trace_id",
    "dd.trace_id",
    "x-trace-id",
    "span_id",
    "spanid",
    "span-id",
    "span.id",
    "otel.span_id",
    "span id",
    "local root span id",
];

/// Whether a traceback hides this function unless GOTRACEBACK=system
/// (`showfuncinfo` in runtime/traceback.go): the runtime's unexported
/// functions. Profiles list them (`runtime.gopark`, `runtime.chanrecv1`,
/// `runtime.main` ...), dumps do not; sequences leave them out so that the
/// same code has the same signature whichever was read.
pub fn hidden_in_dumps(function: &str) -> bool {
    function
        .strip_prefix("runtime.")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| !c.is_ascii_uppercase())
}

/// Whether a pprof label key names a trace or span id
/// ([`TRACE_LABEL_KEYS`], any case).
pub fn is_trace_label(key: &str) -> bool {
    TRACE_LABEL_KEYS.iter().any(|t| key.eq_ignore_ascii_case(t))
}

fn is_trace_key(cache: &mut Vec<u8>, k: StrId, tables: &Tables) -> bool {
    let i = k.0 as usize;
    if i >= cache.len() {
        cache.resize(i + 1, 0);
    }
    if cache[i] == 0 {
        cache[i] = if is_trace_label(tables.str(k)) { 1 } else { 2 };
    }
    cache[i] == 1
}

fn matrix_index(state: State, class: BlockClass, origin: Origin) -> usize {
    (state as usize * BlockClass::ALL.len() + class as usize) * Origin::ALL.len() + origin as usize
}

/// The frame that best names "the code that piles goroutines up": the
/// innermost frame of the program's own code (a package whose path starts
/// with a domain, or `main`), else the innermost frame outside the runtime
/// and Go's internal packages, else the innermost frame.
pub fn top_function(frames: &[FrameOut]) -> &str {
    let pkg_of = |f: &str| -> String {
        let after = f.rfind('/').map_or(0, |i| i + 1);
        match f[after..].find('.') {
            Some(d) => f[..after + d].to_string(),
            None => f.to_string(),
        }
    };
    let user = frames.iter().find(|f| {
        let p = pkg_of(&f.function);
        p == "main" || p.split('/').next().is_some_and(|first| first.contains('.'))
    });
    if let Some(f) = user {
        return &f.function;
    }
    let non_runtime = frames.iter().find(|f| {
        let p = pkg_of(&f.function);
        !(p == "runtime"
            || p.starts_with("runtime/")
            || p.starts_with("internal/")
            || f.function.contains(".runtime_"))
    });
    // Only runtime frames: the entry function (runtime.gcBgMarkWorker,
    // runtime.bgsweep, ...) names a service goroutine better than the
    // runtime.gopark it sleeps in.
    let entry = frames.iter().rev().find(|f| f.function != "runtime.goexit");
    non_runtime
        .or(entry)
        .or(frames.first())
        .map_or("", |f| &f.function)
}

/// FNV-1a 64: a stable hash for signature ids (std's hashers may change
/// between Rust releases; signature ids must not).
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, b: &[u8]) {
        for &c in b {
            self.0 ^= u64::from(c);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Mixes 64-bit words in order: the words are hashes already (uniform
/// bits), so a rotate, xor and multiply per word orders them, and
/// murmur3's finaliser at the end spreads every bit over the result.
/// Stable across Rust releases, like [`Fnv`].
struct Mix(u64);

impl Mix {
    fn new() -> Self {
        Self(0x9e37_79b9_7f4a_7c15)
    }
    #[inline]
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(23) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Census of one snapshot: the `--format json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// What was read, and so how exact the numbers are.
    pub source: Source,
    /// Goroutines read.
    pub total: u64,
    /// Count per state; every state present.
    pub states: BTreeMap<&'static str, u64>,
    /// Count per raw wait reason as printed (waiting and leaked goroutines).
    pub wait_reasons: BTreeMap<String, u64>,
    /// Count per block class; every class present.
    pub block_classes: BTreeMap<&'static str, u64>,
    /// Count per stack depth bucket (printed frames plus elided count).
    pub depth_buckets: BTreeMap<String, u64>,
    /// Count per origin (user, runtime).
    pub origins: BTreeMap<&'static str, u64>,
    /// Counts of header flags.
    pub flags: FlagCounts,
    /// Count per (state, block class, origin) combination that occurred.
    pub series: Vec<Series>,
    /// Distinct stacks in the input: frame sequences for dumps and debug=1
    /// profiles, location-id sequences (as encoded) for protobuf profiles.
    pub unique_stacks: u64,
    /// Distinct frames in the input.
    pub unique_frames: u64,
    /// Number of groups (== groups.len()).
    pub group_count: u64,
    /// Groups, largest first.
    pub groups: Vec<Group>,
    /// What could not be read, with line numbers (at most 1000, then a
    /// summary line).
    pub diagnostics: Vec<Diagnostic>,
    /// How many problems were found in all (can exceed the diagnostics
    /// listed); the caller sets it from the parser.
    pub diagnostics_total: u64,
}

/// What a report was made from. A dump lists every goroutine with its
/// state and wait reason; a profile only counts goroutines per stack, so
/// states are inferred from frames (`on_cpu` for running-or-runnable), and
/// there are no ids (`samples` stay empty), wait reasons or wait times.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Source {
    /// `dump` (debug=2 and other text dumps), `pprof` (debug=0 protobuf)
    /// or `pprof_text` (debug=1).
    pub format: &'static str,
    /// For profiles: `goroutine` or `goroutineleak`.
    pub profile: Option<&'static str>,
    /// `exact` (printed by Go) or `inferred` (from the frames).
    pub states: &'static str,
    /// Whether goroutine ids, wait reasons and wait times are known.
    pub per_goroutine: bool,
}

impl Source {
    /// A goroutine text dump.
    pub fn dump() -> Self {
        Self {
            format: "dump",
            profile: None,
            states: "exact",
            per_goroutine: true,
        }
    }

    /// A goroutine profile in protobuf (`text == false`) or debug=1 text.
    pub fn profile(text: bool, profile: &'static str) -> Self {
        Self {
            format: if text { "pprof_text" } else { "pprof" },
            profile: Some(profile),
            states: "inferred",
            per_goroutine: false,
        }
    }
}

/// The label a group was split by.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupLabel {
    /// The `--group-by-label` key.
    pub key: String,
    /// This group's value.
    pub value: String,
}

/// One trace or span id found in a group's labels.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TraceId {
    /// The label key it came from (`trace_id`, `span id`, ...).
    pub key: String,
    /// The id.
    pub value: String,
}

/// How many goroutines carried each header flag.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagCounts {
    /// `locked to thread`.
    pub locked_to_thread: u64,
    /// `(leaked)`.
    pub leaked: u64,
    /// `stack unavailable`.
    pub stack_unavailable: u64,
    /// Cut short by the end of the input or malformed lines.
    pub truncated: u64,
}

/// One (state, block class, origin) cell.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// State.
    pub state: State,
    /// Block class.
    pub block_class: BlockClass,
    /// Origin.
    pub origin: Origin,
    /// Goroutines.
    pub count: u64,
}

/// A frame in the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FrameOut {
    /// Function name as printed.
    pub function: String,
    /// File path.
    pub file: String,
    /// Line (0 when unknown).
    pub line: u32,
}

impl FrameOut {
    fn of(tables: &Tables, f: FrameId) -> Self {
        let fr = tables.frame(f);
        Self {
            function: fr.function.to_string(),
            file: fr.file.to_string(),
            line: fr.line,
        }
    }
}

/// Goroutines sharing a signature.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// 16 hex digits, stable across runs and goroscope versions for the same
    /// function sequence, creator and block class.
    pub signature: String,
    /// Goroutines in the group.
    pub count: u64,
    /// Count per state (only states present).
    pub states: BTreeMap<&'static str, u64>,
    /// Block class shared by the group.
    pub block_class: BlockClass,
    /// Origin of the first goroutine seen (all share creator and stack).
    pub origin: Origin,
    /// See [`top_function`].
    pub top_function: String,
    /// The `go` statement that created them.
    pub created_by: Option<FrameOut>,
    /// Smallest printed wait in minutes (null when none printed one).
    pub wait_minutes_min: Option<u32>,
    /// Largest printed wait in minutes.
    pub wait_minutes_max: Option<u32>,
    /// Whether any member's stack had frames elided.
    pub frames_elided: bool,
    /// Distinct values per pprof label key (at most `label_values` each).
    pub labels: BTreeMap<String, Vec<String>>,
    /// True when some label values were left out.
    pub labels_truncated: bool,
    /// A few goroutine ids, in input order.
    pub sample_ids: Vec<u64>,
    /// With `--group-by-label KEY`: the key and this group's value (`null`
    /// for goroutines without the label, or without the option).
    pub group_label: Option<GroupLabel>,
    /// Trace and span ids from the members' pprof labels (keys in
    /// [`TRACE_LABEL_KEYS`]), distinct pairs, at most 2 x `samples`: how a
    /// blocked goroutine is tied to the request or trace it served.
    pub trace_ids: Vec<TraceId>,
    /// Frames of the first member, innermost first.
    pub frames: Vec<FrameOut>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_dump;

    /// Signatures name code: equal for the same function sequence,
    /// creator and class however the input was laid out (here, different
    /// lines and ids), different when the frames' order or the creator
    /// differs, and pinned, because dashboards and alerts key on them.
    #[test]
    fn signatures_are_stable_and_order_sensitive() {
        let g = |id: u32, frames: [&str; 2], creator: &str| {
            let mut text = format!("goroutine {id} [chan receive]:\n");
            for f in frames {
                text.push_str(&format!("main.{f}()\n\t/{f}.go:1 +0x1\n"));
            }
            text + &format!("created by main.{creator} in goroutine 9\n\t/s.go:1 +0x1\n\n")
        };
        let dump =
            g(1, ["a", "b"], "spawn") + &g(2, ["b", "a"], "spawn") + &g(3, ["a", "b"], "other");
        let sigs = |text: &str| {
            let (snap, _) = parse_dump(text.as_bytes());
            let mut c = Census::new(CensusOptions::default());
            for g in &snap.goroutines {
                c.add(g, &snap.tables);
            }
            let mut by_id: Vec<(u64, String)> = c
                .report(&snap.tables, vec![])
                .groups
                .into_iter()
                .map(|g| (g.sample_ids[0], g.signature))
                .collect();
            by_id.sort();
            by_id.into_iter().map(|(_, s)| s).collect::<Vec<_>>()
        };
        let s = sigs(&dump);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[0] != s[1] && s[0] != s[2] && s[1] != s[2], "{s:?}");
        // Other lines and goroutine ids: the same signatures.
        let moved = dump
            .replace(".go:1 ", ".go:7 ")
            .replace("goroutine 1 ", "goroutine 4 ");
        let mut m = sigs(&moved);
        m.rotate_right(1);
        assert_eq!(m, s);
        assert_eq!(s[0], "a0a565569768bc46");
    }

    /// `report_top(n)` builds only the first n groups, which are exactly the
    /// first n of the full report (same order, same signatures), and still
    /// counts all of them.
    #[test]
    fn report_top_is_a_prefix_of_the_full_report() {
        let mut dump = String::new();
        for i in 0..40 {
            // Distinct stacks, several of each size, ties on counts.
            for j in 0..(i % 4 + 1) {
                dump.push_str(&format!(
                    "goroutine {} [chan receive]:\nmain.f{i}()\n\t/a.go:{i} +0x1\n\n",
                    i * 10 + j
                ));
            }
        }
        let (snap, _) = parse_dump(dump.as_bytes());
        let mut c = Census::new(CensusOptions::default());
        for g in &snap.goroutines {
            c.add(g, &snap.tables);
        }
        let full = c.report(&snap.tables, vec![]);
        assert_eq!(full.groups.len(), 40);
        for n in [0, 1, 7, 40, 100] {
            let top = c.report_top(&snap.tables, vec![], Some(n));
            assert_eq!(top.group_count, 40);
            let sigs = |r: &Report| {
                r.groups
                    .iter()
                    .map(|g| g.signature.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(sigs(&top), sigs(&full)[..n.min(40)].to_vec(), "top {n}");
        }
    }

    #[test]
    fn groups_by_function_sequence_and_creator() {
        let dump = "\
goroutine 1 [chan receive]:
main.a(0x1)
\t/a.go:1 +0x1
created by main.spawn in goroutine 9
\t/s.go:1 +0x1

goroutine 2 [chan receive, 3 minutes]:
main.a(0x2)
\t/a.go:2 +0x1
created by main.spawn in goroutine 9
\t/s.go:1 +0x1

goroutine 3 [chan receive]:
main.a(0x2)
\t/a.go:2 +0x1
created by main.other in goroutine 9
\t/s.go:5 +0x1
";
        let (snap, _) = parse_dump(dump.as_bytes());
        let mut c = Census::new(CensusOptions::default());
        for g in &snap.goroutines {
            c.add(g, &snap.tables);
        }
        let r = c.report(&snap.tables, vec![]);
        assert_eq!(r.total, 3);
        assert_eq!(r.groups.len(), 2);
        assert_eq!(r.groups[0].count, 2);
        assert_eq!(r.groups[0].wait_minutes_min, Some(3));
        assert_eq!(r.groups[0].sample_ids, vec![1, 2]);
        assert_eq!(r.groups[0].top_function, "main.a");

        // By location, the two main.a lines differ.
        let mut c = Census::new(CensusOptions {
            by_location: true,
            ..CensusOptions::default()
        });
        for g in &snap.goroutines {
            c.add(g, &snap.tables);
        }
        assert_eq!(c.report(&snap.tables, vec![]).groups.len(), 3);
    }

    #[test]
    fn top_function_prefers_program_code() {
        let f = |n: &str| FrameOut {
            function: n.into(),
            file: String::new(),
            line: 0,
        };
        let frames = [
            f("runtime.gopark"),
            f("sync.runtime_SemacquireMutex"),
            f("sync.(*Mutex).Lock"),
            f("github.com/x/y.(*S).do"),
            f("main.main"),
        ];
        assert_eq!(top_function(&frames), "github.com/x/y.(*S).do");
        let std_only = [
            f("runtime.gopark"),
            f("internal/poll.runtime_pollWait"),
            f("net.(*conn).Read"),
        ];
        assert_eq!(top_function(&std_only), "net.(*conn).Read");
        assert_eq!(top_function(&[]), "");
        let runtime_only = [
            f("runtime.gopark"),
            f("runtime.gcBgMarkWorker"),
            f("runtime.goexit"),
        ];
        assert_eq!(top_function(&runtime_only), "runtime.gcBgMarkWorker");
    }
}
