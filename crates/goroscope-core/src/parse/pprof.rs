//! Goroutine profiles in pprof's protobuf form: what `/debug/pprof/goroutine`
//! (debug=0) and `/debug/pprof/goroutineleak` (Go 1.26+) serve, gzipped.
//!
//! Go writes them with `printCountProfile` (`runtime/pprof/pprof.go`): one
//! sample per distinct (stack, labels) with its count as the only value,
//! sample type `goroutine/count` or `goroutineleak/count`, locations whose
//! `line`s expand inlined calls (innermost first), and string labels from
//! `pprof.Do`. The message definitions below are written by hand from the
//! vendored `proto/profile.proto` (google/pprof); only the fields goroscope
//! reads are declared, prost skips the rest.
//!
//! A profile has no goroutine ids, states or wait reasons: each sample
//! becomes a [`Record`] (a count), with state and block class inferred from
//! its frames ([`vocab::infer_from_frames`]).

use std::io::Read;

use prost::Message;
use rustc_hash::FxHashMap;

use crate::analyze::{Census, ProfileLocation};
use crate::model::Origin;
use crate::model::{Diagnostic, Frame, FrameId, FrameKind, Record, Tables};
use crate::vocab::{self, FrameRole};

/// Hand-derived from `message Profile` and friends in profile.proto.
mod pb {
    /// `Profile` without its samples (tag 2), which prost skips: they are
    /// read one at a time by [`super::for_each_sample`] instead of being
    /// materialised all at once (three vectors per sample).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    /// Only to encode test profiles; reading goes through
    /// `for_each_sample`.
    #[cfg(test)]
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub label: Vec<Label>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(int64, tag = "1")]
        pub key: i64,
        #[prost(int64, tag = "2")]
        pub str: i64,
        #[prost(int64, tag = "3")]
        pub num: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "3")]
        pub address: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
        #[prost(int64, tag = "5")]
        pub start_line: i64,
    }
}

/// Default cap on a profile's decompressed size: far above any real
/// goroutine profile (a million distinct stacks is ~100 MiB), low enough
/// that a gzip bomb cannot exhaust memory.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 256 << 20;

/// Largest goroutine count a record may claim: far above any real process
/// (no process holds 4 billion goroutines), low enough that no sum of the
/// records of a capped input can overflow.
pub const MAX_RECORD_COUNT: u64 = 1 << 32;

/// Which goroutine profile it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    /// `/debug/pprof/goroutine`: every goroutine.
    Goroutine,
    /// `/debug/pprof/goroutineleak` (Go 1.26, GOEXPERIMENT=goroutineleakprofile):
    /// only goroutines the leak detector proved leaked.
    GoroutineLeak,
}

impl ProfileKind {
    /// The profile's name as Go spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileKind::Goroutine => "goroutine",
            ProfileKind::GoroutineLeak => "goroutineleak",
        }
    }
}

/// A decoded goroutine profile.
#[derive(Debug, Default)]
pub struct ProfileSnapshot {
    /// `None` only for an empty default.
    pub kind: Option<ProfileKind>,
    /// One per sample, in the profile's order.
    pub records: Vec<Record>,
    /// What the records point into.
    pub tables: Tables,
    /// When Go took it (ns since the epoch; 0 if not recorded).
    pub time_nanos: i64,
    /// Inconsistencies that were worked around.
    pub diagnostics: Vec<Diagnostic>,
}

/// Why a profile could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Decompressed past the cap.
    #[error(
        "it decompresses to more than {limit} bytes (a gzip bomb?); if it is genuine, raise --max-decompressed"
    )]
    TooLarge {
        /// The cap in bytes.
        limit: u64,
    },
    /// A broken gzip stream.
    #[error("its gzip stream is broken ({0}); fetch the profile again")]
    Gzip(std::io::Error),
    /// Not (or no longer: truncated) a profile.proto message.
    #[error(
        "it is neither a goroutine dump (text) nor a readable pprof protobuf profile ({0}); a truncated profile download looks like this: fetch it again (Go serves both at /debug/pprof/goroutine)"
    )]
    Decode(String),
    /// A profile, but not of goroutines.
    #[error(
        "it is a {kind} profile (sample types {types}), not a goroutine profile: fetch /debug/pprof/goroutine"
    )]
    WrongType {
        /// Best guess at what profile it is.
        kind: &'static str,
        /// Its sample types, `type/unit` comma-separated.
        types: String,
    },
}

/// Whether `data` starts like gzip.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
}

/// Gunzips `data` if it is gzip, refusing to produce more than `limit`
/// bytes; other data is returned as is.
pub fn gunzip(data: &[u8], limit: u64) -> Result<std::borrow::Cow<'_, [u8]>, ProfileError> {
    if !is_gzip(data) {
        return Ok(std::borrow::Cow::Borrowed(data));
    }
    // The gzip trailer's ISIZE is the (last member's) size mod 2^32: a
    // hint that saves growing the buffer step by step, never trusted
    // beyond the limit.
    let hint = data
        .last_chunk::<4>()
        .map_or(0, |b| u64::from(u32::from_le_bytes(*b)))
        .min(limit.saturating_add(1));
    // One byte more than the hint, so that reading the end of the stream
    // does not double (and copy) a full buffer.
    let mut out = Vec::with_capacity(usize::try_from(hint.saturating_add(1)).unwrap_or(0));
    // Read one byte past the limit to tell "exactly the limit" from "more".
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(limit.saturating_add(1));
    dec.read_to_end(&mut out).map_err(ProfileError::Gzip)?;
    if out.len() as u64 > limit {
        return Err(ProfileError::TooLarge { limit });
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Decodes a goroutine profile (gzipped or not), counting its samples into
/// `census` as they are decoded ([`Census::take_samples`]): no record per
/// sample is kept (a profile of 100,000 distinct stacks would need as many),
/// so the snapshot's `records` stay empty; its tables hold the frames,
/// strings and labels the census's groups point into.
pub fn parse_pprof(
    data: &[u8],
    limit: u64,
    census: &mut Census,
) -> Result<ProfileSnapshot, ProfileError> {
    let raw = gunzip(data, limit)?;
    let p = pb::Profile::decode(&*raw).map_err(|e| ProfileError::Decode(e.to_string()))?;
    let mut diags = Vec::new();
    let s = |i: i64| -> &str {
        usize::try_from(i)
            .ok()
            .and_then(|i| p.string_table.get(i))
            .map_or("", String::as_str)
    };
    let types: Vec<(&str, &str)> = p
        .sample_type
        .iter()
        .map(|t| (s(t.r#type), s(t.unit)))
        .collect();
    let (value_index, kind) = match types
        .iter()
        .position(|&(t, u)| u == "count" && (t == "goroutine" || t == "goroutineleak"))
    {
        Some(i) if types[i].0 == "goroutine" => (i, ProfileKind::Goroutine),
        Some(i) => (i, ProfileKind::GoroutineLeak),
        None => {
            return Err(ProfileError::WrongType {
                kind: guess_kind(&types),
                types: types
                    .iter()
                    .map(|(t, u)| format!("{t}/{u}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    };

    let functions: FxHashMap<u64, &pb::Function> = p.function.iter().map(|f| (f.id, f)).collect();
    let mut tables = Tables::default();
    // Every location's frames (inlined callees first) and their inference
    // roles, back to back; worked out once per location, so that a new
    // stack only looks them up.
    let mut locs = Locations::with_capacity(p.location.len());
    let mut missing_functions = 0u64;
    for l in &p.location {
        let start = locs.frames.len();
        let last = l.line.len().saturating_sub(1);
        let mut outermost = None;
        for (i, line) in l.line.iter().enumerate() {
            let Some(f) = functions.get(&line.function_id) else {
                missing_functions += 1;
                continue;
            };
            let name = s(f.name);
            let line_no = u32::try_from(line.line).unwrap_or(0);
            let start = u32::try_from(f.start_line).unwrap_or(0);
            let frame = Frame {
                function: go_traceback_name(name).into(),
                file: s(f.filename).into(),
                line: line_no,
                pc_offset: None,
                kind: if i < last {
                    FrameKind::Inlined
                } else {
                    FrameKind::Go
                },
            };
            locs.frames.push(tables.intern_frame(frame));
            let from_start = (start > 0 && line_no >= start).then(|| line_no - start);
            locs.roles.push(FrameRole::of(name, from_start));
            outermost = Some(name);
        }
        if l.line.is_empty() {
            // Unsymbolized: keep the address so the stack depth is right.
            let frame = Frame {
                function: format!("0x{:x}", l.address).into(),
                file: "".into(),
                line: 0,
                pc_offset: Some(l.address),
                kind: FrameKind::NonGo,
            };
            locs.frames.push(tables.intern_frame(frame));
            locs.roles.push(FrameRole::of("", None));
            outermost = Some("");
        }
        locs.push(start, outermost);
    }
    if missing_functions > 0 {
        diags.push(Diagnostic {
            line: 0,
            message: format!(
                "{missing_functions} location lines name a function the profile does not define; those frames were left out"
            ),
        });
    }

    // The census finds locations by id and walks their frames.
    let registered: Vec<ProfileLocation<'_>> = p
        .location
        .iter()
        .zip(&locs.locs)
        .map(|(l, loc)| ProfileLocation {
            id: l.id,
            frames: &locs.frames[loc.frames.clone()],
            roles: &locs.roles[loc.frames.clone()],
            origin: loc.origin,
        })
        .collect();
    census.add_locations(&registered, &tables);
    let missing_before = census.missing_locations();
    // One cheap pass to size the tables: every sample is a distinct
    // (stack, labels), so there are about as many stacks as samples.
    // Bounded by the input's size too: a hostile profile of empty samples
    // must not make us reserve many times its size.
    let samples = count_samples(&raw).min(raw.len() / 8);
    census.reserve_samples(samples, raw.len());
    let mut bad_counts = 0u64;
    let mut pairs = Vec::new();
    let mut sample = RawSample::default();
    // The census walks the new stacks on other threads while the samples
    // are read, when it has them.
    census
        .take_samples(|add| {
            for_each_sample(&raw, &mut sample, |sample| {
                let count = match sample.value(value_index)? {
                    Some(v) if v > 0 && v as u64 <= MAX_RECORD_COUNT => v as u64,
                    _ => {
                        bad_counts += 1;
                        return Ok(());
                    }
                };
                pairs.clear();
                for l in &sample.labels {
                    // Goroutine profiles carry string labels only (pprof.Do);
                    // numeric ones are kept as their decimal text.
                    let key = tables.intern_str(s(l.key));
                    // `str` index 0 is the empty string (Go omits it on the wire):
                    // a numeric label is one with a number and no string.
                    let value = if l.str == 0 && l.num != 0 {
                        tables.intern_str(&l.num.to_string())
                    } else {
                        tables.intern_str(s(l.str))
                    };
                    pairs.push((key, value));
                }
                let labels = (!pairs.is_empty()).then(|| tables.intern_labels(&pairs));
                add(count, labels, sample.location_ids());
                Ok(())
            })
        })
        .map_err(|e| ProfileError::Decode(e.to_string()))?;
    census
        .flush_samples(kind == ProfileKind::GoroutineLeak, &tables)
        .map_err(|_| ProfileError::Decode("invalid or truncated location id".into()))?;
    let missing_locations = census.missing_locations() - missing_before;
    if missing_locations > 0 {
        diags.push(Diagnostic {
            line: 0,
            message: format!(
                "{missing_locations} stack entries (counted once per distinct stack) name a location the profile does not define; those frames were left out"
            ),
        });
    }
    if bad_counts > 0 {
        diags.push(Diagnostic {
            line: 0,
            message: format!(
                "{bad_counts} samples without a plausible goroutine count (1 to {MAX_RECORD_COUNT}) were skipped"
            ),
        });
    }
    Ok(ProfileSnapshot {
        kind: Some(kind),
        records: Vec::new(),
        tables,
        time_nanos: p.time_nanos,
        diagnostics: diags,
    })
}

/// A function name as Go's tracebacks print it: the symbol tables behind
/// profiles spell generic instantiations out (`main.f[go.shape.int]`), a
/// dump elides them (`main.f[...]`); using the dump's form makes the same
/// code group the same way whichever form was read.
pub fn go_traceback_name(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.contains('[') {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    let mut depth = 0u32;
    for c in name.chars() {
        match c {
            '[' => {
                if depth == 0 {
                    out.push_str("[...]");
                }
                depth += 1;
            }
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A profile's locations, in the profile's order: their frames and
/// inference roles, back to back.
struct Locations {
    frames: Vec<FrameId>,
    roles: Vec<FrameRole>,
    locs: Vec<Loc>,
}

struct Loc {
    frames: std::ops::Range<usize>,
    /// The origin of a goroutine whose outermost location this is.
    origin: Origin,
}

impl Locations {
    fn with_capacity(n: usize) -> Self {
        Self {
            frames: Vec::with_capacity(n),
            roles: Vec::with_capacity(n),
            locs: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, start: usize, outermost: Option<&str>) {
        self.locs.push(Loc {
            frames: start..self.frames.len(),
            origin: vocab::origin(u64::MAX, false, None, outermost),
        });
    }
}

/// One sample's fields, in buffers reused from sample to sample.
#[derive(Default)]
struct RawSample<'a> {
    /// The location ids as packed varints: the sample's own bytes when it
    /// has one packed run (as Go and every pprof writer encode it), else
    /// `ids`.
    packed: &'a [u8],
    /// The ids re-encoded into one run, when they came as several runs or
    /// one key each (legal, rare).
    ids: Vec<u8>,
    /// Whether `ids` holds them.
    in_ids: bool,
    /// The value fields' wire types and payloads (a varint or a packed
    /// run each).
    values: Vec<(u64, &'a [u8])>,
    labels: Vec<pb::Label>,
}

impl RawSample<'_> {
    fn location_ids(&self) -> &[u8] {
        if self.in_ids {
            &self.ids
        } else {
            self.packed
        }
    }

    /// The `i`th value (`None` if there are fewer).
    fn value(&self, i: usize) -> Result<Option<i64>, WireError> {
        let mut n = 0;
        for &(wire, mut field) in &self.values {
            while !field.is_empty() {
                // int64 values are two's complement varints.
                let v = varint(&mut field)? as i64;
                if n == i {
                    return Ok(Some(v));
                }
                n += 1;
                if wire == 0 {
                    break;
                }
            }
        }
        Ok(None)
    }
}

/// Appends `v` as a varint (7 bits a byte, low first).
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Calls `f` with every sample (field 2) of an encoded `Profile`, decoded
/// into `buf`. The protobuf wire format (protobuf.dev/programming-guides/
/// encoding): a message is a sequence of (key varint = tag << 3 | wire
/// type, payload); wire type 0 is a varint, 1 eight bytes, 2 a varint
/// length then that many bytes, 5 four bytes. Repeated scalars come packed
/// (one length-delimited run of varints) or one per key; both are read.
fn for_each_sample<'a>(
    data: &'a [u8],
    buf: &mut RawSample<'a>,
    mut f: impl FnMut(&RawSample<'a>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut rest = data;
    while !rest.is_empty() {
        let (tag, wire) = read_key(&mut rest)?;
        let payload = read_field(&mut rest, wire)?;
        if tag != 2 || wire != 2 {
            continue;
        }
        buf.packed = &[];
        buf.ids.clear();
        buf.in_ids = false;
        buf.values.clear();
        buf.labels.clear();
        let mut s = payload;
        while !s.is_empty() {
            let (tag, wire) = read_key(&mut s)?;
            let field = read_field(&mut s, wire)?;
            match (tag, wire) {
                // The usual case: one packed run, used as is.
                (1, 2) if !buf.in_ids && buf.packed.is_empty() => buf.packed = field,
                (1, 0 | 2) => {
                    if !buf.in_ids {
                        let mut run = buf.packed;
                        while !run.is_empty() {
                            put_varint(&mut buf.ids, varint(&mut run)?);
                        }
                        buf.in_ids = true;
                    }
                    let mut run = field;
                    while !run.is_empty() {
                        put_varint(&mut buf.ids, varint(&mut run)?);
                    }
                }
                (2, 0 | 2) => buf.values.push((wire, field)),
                (3, 2) => buf
                    .labels
                    .push(pb::Label::decode(field).map_err(|_| "invalid sample label")?),
                _ => {}
            }
        }
        f(buf)?;
    }
    Ok(())
}

/// How many samples (top-level field 2) an encoded profile holds; 0 if it
/// is malformed (the real pass reports that).
fn count_samples(data: &[u8]) -> usize {
    let mut rest = data;
    let mut n = 0;
    while !rest.is_empty() {
        let Ok((tag, wire)) = read_key(&mut rest) else {
            return 0;
        };
        if read_field(&mut rest, wire).is_err() {
            return 0;
        }
        n += usize::from(tag == 2);
    }
    n
}

/// Why the wire bytes could not be read: static, so that the `Result`s of
/// the hot decoding loop stay two words.
pub(crate) type WireError = &'static str;

/// Reads a varint (7 bits a byte, low first).
#[inline(always)]
pub(crate) fn varint(b: &mut &[u8]) -> Result<u64, WireError> {
    // Most varints in a profile (location ids, small tags) are one byte.
    if let Some((&byte, rest)) = b.split_first() {
        if byte < 0x80 {
            *b = rest;
            return Ok(u64::from(byte));
        }
    }
    let mut v = 0u64;
    for i in 0..10 {
        let Some((&byte, rest)) = b.split_first() else {
            break;
        };
        *b = rest;
        // The tenth byte may only carry the 64th bit.
        if i == 9 && byte > 1 {
            break;
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(v);
        }
    }
    Err("invalid or truncated varint")
}

#[inline(always)]
fn read_key(b: &mut &[u8]) -> Result<(u64, u64), WireError> {
    let key = varint(b)?;
    Ok((key >> 3, key & 7))
}

/// The payload of a field of this wire type (for a varint: its bytes).
#[inline(always)]
fn read_field<'a>(b: &mut &'a [u8], wire: u64) -> Result<&'a [u8], WireError> {
    let len = match wire {
        0 => {
            let before = *b;
            varint(b)?;
            let used = before.len() - b.len();
            return Ok(&before[..used]);
        }
        1 => 8,
        2 => usize::try_from(varint(b)?).unwrap_or(usize::MAX),
        5 => 4,
        _ => return Err("unsupported wire type"),
    };
    if len > b.len() {
        return Err("field runs past the end (truncated)");
    }
    let (field, rest) = b.split_at(len);
    *b = rest;
    Ok(field)
}

/// Names the profile a set of sample types belongs to (Go's own names).
fn guess_kind(types: &[(&str, &str)]) -> &'static str {
    let has = |t: &str| types.iter().any(|&(x, _)| x == t);
    if has("inuse_space") || has("alloc_space") {
        "heap (or allocs)"
    } else if has("cpu") {
        "CPU"
    } else if has("contentions") || has("delay") {
        "block or mutex"
    } else if has("threadcreate") {
        "threadcreate"
    } else if types.is_empty() {
        "empty"
    } else {
        "non-goroutine"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{CensusOptions, Report};
    use crate::model::{BlockClass, State};

    /// Decodes into a fresh census and reports every group.
    fn read(data: &[u8], limit: u64) -> Result<(ProfileSnapshot, Report), ProfileError> {
        let mut census = Census::new(CensusOptions::default());
        let snap = parse_pprof(data, limit, &mut census)?;
        let report = census.report(&snap.tables, snap.diagnostics.clone());
        Ok((snap, report))
    }

    /// (count, state, block class) per group, in report order.
    fn groups(r: &Report) -> Vec<(u64, State, BlockClass)> {
        r.groups
            .iter()
            .map(|g| {
                assert_eq!(g.states.len(), 1, "{:?}", g.states);
                let state = State::ALL
                    .into_iter()
                    .find(|s| g.states.contains_key(s.as_str()))
                    .expect("a state");
                (g.count, state, g.block_class)
            })
            .collect()
    }

    fn profile(types: &[(&str, &str)], samples: Vec<pb::Sample>) -> Vec<u8> {
        profile_at(0, types, samples)
    }

    /// As [`profile`], with location ids `base + 1` to `base + 4`.
    fn profile_at(base: u64, types: &[(&str, &str)], samples: Vec<pb::Sample>) -> Vec<u8> {
        let mut strings = vec![String::new()];
        let mut idx = |s: &str| -> i64 {
            if let Some(i) = strings.iter().position(|x| x == s) {
                return i as i64;
            }
            strings.push(s.to_string());
            (strings.len() - 1) as i64
        };
        let sample_type = types
            .iter()
            .map(|(t, u)| pb::ValueType {
                r#type: idx(t),
                unit: idx(u),
            })
            .collect();
        let function = vec![
            pb::Function {
                id: 1,
                name: idx("runtime.gopark"),
                filename: idx("proc.go"),
                start_line: 445,
            },
            pb::Function {
                id: 2,
                name: idx("runtime.chanrecv"),
                filename: idx("chan.go"),
                start_line: 524,
            },
            pb::Function {
                id: 3,
                name: idx("main.worker"),
                filename: idx("main.go"),
                start_line: 10,
            },
        ];
        let line = |f, l| pb::Line {
            function_id: f,
            line: l,
        };
        let location = vec![
            pb::Location {
                id: base + 1,
                address: 0x1000,
                line: vec![line(1, 462)],
            },
            pb::Location {
                id: base + 2,
                address: 0x2000,
                line: vec![line(2, 667)],
            },
            pb::Location {
                id: base + 3,
                address: 0x2100,
                line: vec![line(2, 536)],
            },
            pb::Location {
                id: base + 4,
                address: 0x3000,
                line: vec![line(3, 12)],
            },
        ];
        let _ = idx("trace_id");
        let _ = idx("abc");
        let mut out = pb::Profile {
            sample_type,
            location,
            function,
            string_table: strings,
            time_nanos: 7,
        }
        .encode_to_vec();
        // Samples (tag 2) appended: field order does not matter in protobuf,
        // and Go writes them first; test both by putting one first.
        let mut with_samples = Vec::new();
        for (i, smp) in samples.iter().enumerate() {
            let body = smp.encode_to_vec();
            let mut field = vec![0x12];
            let mut n = body.len();
            while n >= 0x80 {
                field.push((n as u8) | 0x80);
                n >>= 7;
            }
            field.push(n as u8);
            field.extend_from_slice(&body);
            if i == 0 {
                with_samples.extend_from_slice(&field);
            } else {
                out.extend_from_slice(&field);
            }
        }
        with_samples.extend_from_slice(&out);
        with_samples
    }

    fn sample(locs: &[u64], count: i64) -> pb::Sample {
        pb::Sample {
            location_id: locs.to_vec(),
            value: vec![count],
            label: Vec::new(),
        }
    }

    #[test]
    fn samples_become_counted_records_with_inferred_classes() {
        let data = profile(
            &[("goroutine", "count")],
            vec![
                sample(&[1, 2, 4], 5),
                sample(&[1, 3, 4], 2),
                sample(&[4], 1),
            ],
        );
        let (p, r) = read(&data, DEFAULT_MAX_DECOMPRESSED).expect("decodes");
        assert_eq!(p.kind, Some(ProfileKind::Goroutine));
        assert!(p.records.is_empty());
        // The same function sequence (main.worker: the runtime's own
        // frames are left out), split by what the frames say.
        assert_eq!(
            groups(&r),
            vec![
                (5, State::Waiting, BlockClass::ChanReceive),
                // Parked 12 lines into chanrecv: the nil-channel check.
                (2, State::Waiting, BlockClass::NilOrForever),
                (1, State::OnCpu, BlockClass::None),
            ]
        );
        let frames: Vec<_> = r.groups[0]
            .frames
            .iter()
            .map(|f| f.function.as_str())
            .collect();
        assert_eq!(
            frames,
            ["runtime.gopark", "runtime.chanrecv", "main.worker"]
        );
        assert_eq!((r.total, r.unique_stacks, r.unique_frames), (8, 3, 4));
        assert_eq!(r.depth_buckets["1-3"], 8);
        assert_eq!(p.time_nanos, 7);
    }

    /// Samples written field by field: unpacked location ids and values
    /// (allowed by the wire format, not written by prost or Go), string,
    /// empty-string and numeric labels, and a bad count.
    #[test]
    fn hand_encoded_samples_with_unpacked_fields_and_labels() {
        fn field(tag: u8, payload: &[u8]) -> Vec<u8> {
            let mut out = vec![tag << 3 | 2, payload.len() as u8];
            out.extend_from_slice(payload);
            out
        }
        // Strings as the `profile` helper interns them: 1 goroutine,
        // 2 count, 3.. names; trace_id and abc come last.
        let base = profile(&[("goroutine", "count")], vec![]);
        let strings_of =
            |data: &[u8]| -> Vec<String> { pb::Profile::decode(data).expect("base").string_table };
        let strings = strings_of(&base);
        let idx = |s: &str| strings.iter().position(|x| x == s).expect(s) as u8;
        let label = |k: u8, v: u8, num: u8| {
            let mut l = vec![0x08, k];
            if v != 0 {
                l.extend_from_slice(&[0x10, v]);
            }
            if num != 0 {
                l.extend_from_slice(&[0x18, num]);
            }
            field(3, &l)
        };
        let mut sample = vec![0x08, 1, 0x08, 2, 0x08, 4, 0x10, 6];
        sample.extend(label(idx("trace_id"), idx("abc"), 0));
        sample.extend(label(idx("trace_id"), 0, 0));
        sample.extend(label(idx("abc"), 0, 42));
        let mut data = field(2, &sample);
        // A count of 0 is skipped with a diagnostic.
        data.extend(field(2, &[0x08, 4, 0x10, 0]));
        data.extend_from_slice(&base);
        let (p, r) = read(&data, DEFAULT_MAX_DECOMPRESSED).expect("decodes");
        assert_eq!(
            groups(&r),
            vec![(6, State::Waiting, BlockClass::ChanReceive)]
        );
        let g = &r.groups[0];
        assert_eq!(g.frames.len(), 3);
        let labels: Vec<_> = g
            .labels
            .iter()
            .map(|(k, vs)| (k.as_str(), vs.join(",")))
            .collect();
        assert_eq!(labels, [("abc", "42".into()), ("trace_id", ",abc".into())]);
        let traces: Vec<_> = g
            .trace_ids
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(traces, [("trace_id", "abc"), ("trace_id", "")]);
        assert!(p
            .diagnostics
            .iter()
            .any(|d| d.message.contains("plausible")));

        // Ids one key each and in two packed runs are the same stack as
        // one packed run: one group, one distinct stack.
        let mut data = field(2, &[0x0a, 3, 1, 2, 4, 0x10, 1]);
        data.extend(field(2, &[0x08, 1, 0x0a, 2, 2, 4, 0x10, 2]));
        data.extend(field(2, &[0x0a, 1, 1, 0x0a, 2, 2, 4, 0x10, 4]));
        data.extend_from_slice(&base);
        let (_, r) = read(&data, DEFAULT_MAX_DECOMPRESSED).expect("decodes");
        assert_eq!(
            groups(&r),
            vec![(7, State::Waiting, BlockClass::ChanReceive)]
        );
        assert_eq!(r.unique_stacks, 1);

        // A location id the profile does not define is left out, with a
        // diagnostic.
        let mut data = field(2, &[0x0a, 3, 1, 99, 4, 0x10, 1]);
        data.extend_from_slice(&base);
        let (p, r) = read(&data, DEFAULT_MAX_DECOMPRESSED).expect("decodes");
        assert_eq!(r.groups[0].frames.len(), 2);
        assert!(p
            .diagnostics
            .iter()
            .any(|d| d.message.starts_with("1 stack entries")));

        // A varint of ten bytes whose last carries more than bit 64.
        let mut bad = field(
            2,
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
        );
        bad.extend_from_slice(&base);
        assert!(read(&bad, DEFAULT_MAX_DECOMPRESSED).is_err());
    }

    /// Walking new stacks on several threads counts exactly what one
    /// thread does: same groups, order, classes, frames and totals.
    #[test]
    fn threads_change_nothing_but_speed() {
        // 12,000 distinct stacks (more than one thread's share) of 2 to 8
        // locations, with repeats and some ids the profile lacks.
        let mut samples = Vec::new();
        for i in 0..12_000u64 {
            let mut ids = vec![1];
            let mut x = i;
            while x > 0 {
                ids.push(2 + x % 3);
                x /= 3;
            }
            if i % 97 == 0 {
                ids.push(77);
            }
            samples.push(sample(&ids, 1 + (i % 5) as i64));
        }
        samples.push(sample(&[1, 2, 4], 3));
        let data = profile(&[("goroutine", "count")], samples);
        let report = |threads| {
            let mut census = Census::new(CensusOptions {
                threads,
                ..CensusOptions::default()
            });
            let snap = parse_pprof(&data, DEFAULT_MAX_DECOMPRESSED, &mut census).expect("decodes");
            let r = census.report(&snap.tables, snap.diagnostics.clone());
            serde_json::to_string(&r).expect("serializes")
        };
        let one = report(1);
        assert!(one.contains("\"unique_stacks\":12000"), "{}", &one[..300]);
        for threads in [2, 3, 0] {
            assert!(report(threads) == one, "{threads} threads differ");
        }

        // A stack cut inside an id, among many good ones: an error however
        // many threads walk.
        let mut bad = data.clone();
        bad.extend_from_slice(&[0x12, 6, 0x0a, 2, 1, 0x80, 0x10, 1]);
        for threads in [1, 2] {
            let mut census = Census::new(CensusOptions {
                threads,
                ..CensusOptions::default()
            });
            let err = parse_pprof(&bad, DEFAULT_MAX_DECOMPRESSED, &mut census)
                .expect_err("a cut location id");
            assert!(err.to_string().contains("location id"), "{err}");
        }
    }

    /// Location ids far apart (another pprof writer) are found through
    /// the map instead of the table, with the same result.
    #[test]
    fn sparse_location_ids_read_as_dense_ones() {
        let report = |base: u64| {
            let at = |ids: &[u64]| ids.iter().map(|i| base + i).collect::<Vec<_>>();
            let data = profile_at(
                base,
                &[("goroutine", "count")],
                vec![
                    sample(&at(&[1, 2, 4]), 5),
                    sample(&at(&[1, 3, 4]), 2),
                    sample(&at(&[4]), 1),
                    sample(&at(&[1, 2, 4]), 1),
                ],
            );
            let (_, r) = read(&data, DEFAULT_MAX_DECOMPRESSED).expect("decodes");
            serde_json::to_string(&r).expect("serializes")
        };
        let dense = report(0);
        assert!(dense.contains("\"unique_stacks\":3"), "{dense}");
        assert_eq!(report(1 << 40), dense);
    }

    #[test]
    fn generic_names_are_spelled_as_in_dumps() {
        assert_eq!(go_traceback_name("main.f"), "main.f");
        assert_eq!(
            go_traceback_name("main.wGeneric[go.shape.int]"),
            "main.wGeneric[...]"
        );
        assert_eq!(
            go_traceback_name("p.(*T[go.shape.struct { a [2]int }]).M[go.shape.string]"),
            "p.(*T[...]).M[...]"
        );
        assert_eq!(go_traceback_name("main.g[...]"), "main.g[...]");
    }

    #[test]
    fn leak_profiles_mark_records_leaked() {
        let data = profile(&[("goroutineleak", "count")], vec![sample(&[1, 2, 4], 3)]);
        let (p, r) = read(&data, DEFAULT_MAX_DECOMPRESSED).expect("decodes");
        assert_eq!(p.kind, Some(ProfileKind::GoroutineLeak));
        assert_eq!(
            groups(&r),
            vec![(3, State::Leaked, BlockClass::ChanReceive)]
        );
        assert_eq!(r.flags.leaked, 3);
    }

    #[test]
    fn a_heap_profile_is_named_as_such() {
        let data = profile(
            &[("alloc_objects", "count"), ("alloc_space", "bytes")],
            vec![],
        );
        let err = read(&data, DEFAULT_MAX_DECOMPRESSED).expect_err("not goroutines");
        let msg = err.to_string();
        assert!(
            msg.contains("heap") && msg.contains("alloc_space/bytes"),
            "{msg}"
        );
    }

    #[test]
    fn gzip_bombs_stop_at_the_cap() {
        let zeros = vec![0u8; 1 << 20];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &zeros).expect("compress");
        let data = gz.finish().expect("finish");
        assert!(data.len() < 8 << 10);
        match read(&data, 64 << 10) {
            Err(ProfileError::TooLarge { limit }) => assert_eq!(limit, 64 << 10),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error_not_a_panic() {
        let data = profile(&[("goroutine", "count")], vec![sample(&[1, 2, 4], 5)]);
        for cut in [1, data.len() / 2, data.len() - 1] {
            assert!(
                read(&data[..cut], DEFAULT_MAX_DECOMPRESSED).is_err(),
                "cut {cut}"
            );
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &data).expect("compress");
        let gz = gz.finish().expect("finish");
        assert!(matches!(
            read(&gz[..gz.len() - 4], DEFAULT_MAX_DECOMPRESSED),
            Err(ProfileError::Gzip(_))
        ));
    }
}
