//! The legacy text form of goroutine profiles (`/debug/pprof/goroutine?debug=1`
//! and `/debug/pprof/goroutineleak?debug=1`), as `printCountProfile` in
//! `runtime/pprof/pprof.go` writes it through a tabwriter:
//!
//! ```text
//! goroutine profile: total 95   (tab runs shown as spaces)
//! 13 @ 0x489bce 0x467cf2 0x48b105 0x491321
//! # labels: {"span_id":"00f0", "trace_id":"4bf9"}
//! #    0x48b104    internal/sync.runtime_SemacquireMutex+0x24    /usr/local/go/src/runtime/sema.go:95
//! #    0x693a94    main.wMutex+0x34                /src/main.go:225
//!
//! ```
//!
//! `printStackRecord` hides the leading runtime frames (`runtime.gopark`,
//! `runtime.chanrecv`, ...), so what a goroutine waits on can only be told
//! from the first frame it does print ([`vocab::infer_from_leaf`]); the rest
//! is state and class `unknown`, said as such.

use crate::model::{Diagnostic, Frame, FrameKind, Record, Tables};
use crate::parse::pprof::{ProfileKind, ProfileSnapshot};
use crate::vocab;

/// Parses a debug=1 goroutine or goroutineleak profile. Malformed lines
/// become diagnostics (with line numbers); what could be read is kept.
pub fn parse_legacy(text: &[u8]) -> ProfileSnapshot {
    let mut snap = ProfileSnapshot::default();
    let mut total: Option<u64> = None;
    let mut current: Option<Pending> = None;
    let text = super::sniff::strip_bom(text);
    // A last line without its newline was cut: what it says is not
    // trusted (a cut function name would pass for another function).
    let (text, cut) = match text.iter().rposition(|&b| b == b'\n') {
        Some(i) if i + 1 < text.len() => (&text[..=i], true),
        None if !text.is_empty() => (&text[..0], true),
        _ => (text, false),
    };
    let cut_line = text.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let lines = text.split(|&b| b == b'\n').enumerate();
    let mut dropped = 0u64;
    // `line` is 0-based; diagnostics count from 1 (0 = the whole file).
    let mut diag = |line: usize, message: String| {
        super::text::push_diag(
            &mut snap.diagnostics,
            &mut dropped,
            line as u64 + 1,
            message,
        );
    };
    let mut records = Vec::new();
    let tables = &mut snap.tables;
    for (n, raw) in lines {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if snap.kind.is_none() {
            if let Some((kind, rest)) = super::sniff::legacy_header(line) {
                snap.kind = Some(kind);
                total = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                continue;
            }
        }
        if line.is_empty() {
            finish(&mut current, tables, snap.kind, &mut records);
            continue;
        }
        if let Some(rest) = line.strip_prefix(b"# labels: {") {
            match current.as_mut() {
                Some(p) => p.labels = super::text::parse_labels(rest, tables).0,
                None => diag(n, "labels line outside a record".into()),
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix(b"#") {
            match current.as_mut() {
                Some(p) => p.frames.push(frame_line(rest)),
                None => diag(n, "frame line outside a record".into()),
            }
            continue;
        }
        if let Some((count, _pcs)) = split_count_line(line) {
            finish(&mut current, tables, snap.kind, &mut records);
            current = Some(Pending {
                count,
                frames: Vec::new(),
                labels: None,
            });
            continue;
        }
        diag(
            n,
            format!(
                "not a line of a goroutine profile: {}",
                String::from_utf8_lossy(&line[..line.len().min(120)])
            ),
        );
    }
    finish(&mut current, tables, snap.kind, &mut records);
    // File-level findings (line 0) always get through, past the cap.
    let mut file_level = Vec::new();
    if dropped > 0 {
        file_level.push(format!("{dropped} more diagnostics not shown"));
    }
    if cut {
        file_level.push(format!(
            "the input ends in the middle of line {cut_line} (truncated?); that line was left out"
        ));
    }
    if snap.kind.is_none() {
        file_level.push(
            "no `goroutine profile: total N` line: is this a debug=1 goroutine profile?".into(),
        );
    }
    let sum: u64 = records.iter().map(|r: &Record| r.count).sum();
    if let Some(t) = total.filter(|&t| t != sum) {
        file_level.push(format!(
            "the profile says total {t} but its records add up to {sum} (truncated?)"
        ));
    }
    snap.diagnostics.extend(
        file_level
            .into_iter()
            .map(|message| Diagnostic { line: 0, message }),
    );
    snap.records = records;
    snap
}

struct Pending {
    count: u64,
    frames: Vec<Frame>,
    labels: Option<crate::model::LabelSetId>,
}

fn finish(
    current: &mut Option<Pending>,
    tables: &mut Tables,
    kind: Option<ProfileKind>,
    out: &mut Vec<Record>,
) {
    let Some(p) = current.take() else {
        return;
    };
    let names: Vec<&str> = p.frames.iter().map(|f| &*f.function).collect();
    let inferred = vocab::infer_from_leaf(&names);
    let origin = vocab::origin(u64::MAX, false, None, names.last().copied());
    let ids: Vec<_> = p
        .frames
        .into_iter()
        .map(|f| tables.intern_frame(f))
        .collect();
    let leak = kind == Some(ProfileKind::GoroutineLeak);
    out.push(Record {
        count: p.count,
        // Every goroutine of a leak profile leaked, as `(leaked)` says in
        // a dump.
        state: if leak {
            crate::model::State::Leaked
        } else {
            inferred.state
        },
        block_class: inferred.block_class,
        origin,
        stack: tables.intern_stack(&ids),
        labels: p.labels,
    });
}

/// `13 @ 0x489bce 0x467cf2` -> (13, pcs text).
fn split_count_line(line: &[u8]) -> Option<(u64, &[u8])> {
    let at = memchr::memmem::find(line, b" @")?;
    let count: u64 = std::str::from_utf8(&line[..at]).ok()?.parse().ok()?;
    // Same bound as protobuf records: no sum of them can overflow.
    (1..=super::pprof::MAX_RECORD_COUNT)
        .contains(&count)
        .then(|| (count, &line[at + 2..]))
}

/// `\t0x48b104\tsync.(*Mutex).Lock+0x24\t\t/src/sync/mutex.go:95` (tab runs
/// from the tabwriter), or `\t0x48b104` alone when unsymbolized.
fn frame_line(rest: &[u8]) -> Frame {
    let mut fields = rest
        .split(|&b| b == b'\t')
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let pc = fields.next().unwrap_or_default();
    let func = fields.next();
    let loc = fields.next().unwrap_or_default();
    let Some(func) = func else {
        return Frame {
            function: pc.as_str().into(),
            file: "".into(),
            line: 0,
            pc_offset: u64::from_str_radix(pc.trim_start_matches("0x"), 16).ok(),
            kind: FrameKind::NonGo,
        };
    };
    let (name, offset) = match func.rfind("+0x") {
        Some(i) => (&func[..i], u64::from_str_radix(&func[i + 3..], 16).ok()),
        None => (func.as_str(), None),
    };
    let (file, line) = match loc.rfind(':') {
        Some(i) => match loc[i + 1..].trim().parse::<u32>() {
            Ok(l) => (&loc[..i], l),
            Err(_) => (loc.as_str(), 0),
        },
        None => (loc.as_str(), 0),
    };
    Frame {
        function: crate::parse::pprof::go_traceback_name(name).into(),
        file: file.into(),
        line,
        pc_offset: offset,
        kind: FrameKind::Go,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BlockClass, State};

    const SAMPLE: &str = "goroutine profile: total 20\n\
13 @ 0x489bce 0x467cf2 0x693a94 0x491321\n\
#\t0x48b104\tinternal/sync.runtime_SemacquireMutex+0x24\t/usr/local/go/src/runtime/sema.go:95\n\
#\t0x693a6e\tsync.(*Mutex).Lock+0xe\t\t\t\t/usr/local/go/src/sync/mutex.go:46\n\
#\t0x693a94\tmain.wMutex+0x34\t\t\t\t/src/main.go:225\n\
\n\
5 @ 0x489bce 0x41a58e 0x69385c 0x491321\n\
# labels: {\"span_id\":\"00f0\", \"trace_id\":\"4bf9\"}\n\
#\t0x69385b\tmain.wChanRecv+0x1b\t/src/main.go:194\n\
\n\
2 @ 0x4a1604 0x4a00b7\n\
#\t0x4a1603\tsyscall.Syscall+0x23\t/go/src/syscall/syscall_linux.go:74\n\
#\t0x4a00b6\tsyscall.read+0x36\t/go/src/syscall/zsyscall_linux_amd64.go:736\n\
\n";

    #[test]
    fn records_frames_labels_and_leaf_inference() {
        let p = parse_legacy(SAMPLE.as_bytes());
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(p.kind, Some(ProfileKind::Goroutine));
        let got: Vec<_> = p
            .records
            .iter()
            .map(|r| (r.count, r.state, r.block_class))
            .collect();
        assert_eq!(
            got,
            vec![
                (13, State::Waiting, BlockClass::Mutex),
                // The channel frames are hidden: honestly unknown.
                (5, State::Unknown, BlockClass::Unknown),
                (2, State::Syscall, BlockClass::Syscall),
            ]
        );
        let t = &p.tables;
        let f = t.frame(t.stack(p.records[0].stack)[1]);
        assert_eq!(
            (&*f.function, &*f.file, f.line, f.pc_offset),
            (
                "sync.(*Mutex).Lock",
                "/usr/local/go/src/sync/mutex.go",
                46,
                Some(0xe)
            )
        );
        let labels: Vec<_> = t
            .labels(p.records[1].labels.expect("labels"))
            .iter()
            .map(|&(k, v)| (t.str(k), t.str(v)))
            .collect();
        assert_eq!(labels, [("span_id", "00f0"), ("trace_id", "4bf9")]);
    }

    #[test]
    fn truncation_and_junk_are_reported_with_what_was_read() {
        // Cut inside the second record's count line: that line is left
        // out (a cut count would be a wrong count), the first record kept.
        let cut = &SAMPLE[..SAMPLE.find("5 @").expect("second record") + 20];
        let p = parse_legacy(cut.as_bytes());
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records[0].count, 13);
        let msgs: Vec<_> = p
            .diagnostics
            .iter()
            .map(|d| (d.line, d.message.as_str()))
            .collect();
        assert!(
            msgs.contains(&(
                0,
                "the input ends in the middle of line 7 (truncated?); that line was left out"
            )),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|(l, m)| *l == 0 && m.contains("total 20")),
            "{msgs:?}"
        );
        // Cut inside a frame line: the frame is not invented from a prefix.
        let cut = &SAMPLE[..SAMPLE.find("main.wChanRecv").expect("frame") + 7];
        let p = parse_legacy(cut.as_bytes());
        let t = &p.tables;
        assert!(p.records.iter().all(|r| t
            .stack(r.stack)
            .iter()
            .all(|&f| !t.frame(f).function.starts_with("main.wC"))));

        let p = parse_legacy(b"hello\n");
        assert!(p.records.is_empty());
        assert!(p
            .diagnostics
            .iter()
            .any(|d| d.line == 0 && d.message.contains("debug=1")));
        // A byte-order mark before the header is fine.
        let p = parse_legacy(format!("\u{feff}{SAMPLE}").as_bytes());
        assert_eq!(p.kind, Some(ProfileKind::Goroutine));
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        // Implausible counts are not records (and cannot overflow sums).
        let p = parse_legacy(b"goroutine profile: total 1\n18446744073709551615 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n");
        assert!(p.records.is_empty());
    }

    #[test]
    fn leak_profiles_mark_records_leaked() {
        let p = parse_legacy(
            b"goroutineleak profile: total 1\n1 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n",
        );
        assert_eq!(p.kind, Some(ProfileKind::GoroutineLeak));
        assert_eq!(p.records[0].state, State::Leaked);
    }
}
