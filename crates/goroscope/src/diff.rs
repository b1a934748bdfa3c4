//! `goroscope diff BEFORE AFTER`: what grew between two snapshots of the
//! same service, per stack signature, largest growth first. Each side is
//! any form `analyze` reads (file, `-`, URL; dump or profile). Signatures
//! leave out the creator (profiles have none) and the runtime frames dumps
//! hide, so a dump and a profile of the same code line up.

use std::collections::BTreeMap;
use std::io::Write;

use goroscope_core::analyze::{FrameOut, Group, Report, Source};
use serde::Serialize;

/// Version of the JSON document; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One side's totals.
#[derive(Debug, Serialize)]
pub struct Side {
    /// The input as given.
    pub input: String,
    pub source: Source,
    pub total: u64,
    pub group_count: u64,
}

/// How a signature changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Only after.
    New,
    /// Only before.
    Vanished,
    Grown,
    Shrunk,
    Same,
}

/// One signature in both snapshots.
#[derive(Debug, Serialize)]
pub struct Change {
    pub signature: String,
    pub top_function: String,
    pub block_class: &'static str,
    /// Creating function, when a dump named it.
    pub created_by: Option<String>,
    pub before: u64,
    pub after: u64,
    pub change: i64,
    pub status: Status,
    /// Frames, innermost first (from the after side when present).
    pub frames: Vec<FrameOut>,
}

/// The `--format json` document.
#[derive(Debug, Serialize)]
pub struct Diff {
    pub schema_version: u32,
    pub before: Side,
    pub after: Side,
    /// Goroutines after minus before.
    pub change: i64,
    pub new: u64,
    pub vanished: u64,
    pub grown: u64,
    pub shrunk: u64,
    /// Every signature, largest growth first.
    pub groups: Vec<Change>,
}

fn signed(after: u64, before: u64) -> i64 {
    i64::try_from(after).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX)
}

/// Lines up two reports by signature. Reports must hold all their groups.
pub fn diff(before_name: &str, before: Report, after_name: &str, after: Report) -> Diff {
    let mut by_sig: BTreeMap<String, (Option<Group>, Option<Group>)> = BTreeMap::new();
    for g in before.groups {
        let sig = g.signature.clone();
        by_sig.entry(sig).or_default().0 = Some(g);
    }
    for g in after.groups {
        let sig = g.signature.clone();
        by_sig.entry(sig).or_default().1 = Some(g);
    }
    let mut groups: Vec<Change> = by_sig
        .into_iter()
        .filter_map(|(signature, (b, a))| {
            let (nb, na) = (
                b.as_ref().map_or(0, |g| g.count),
                a.as_ref().map_or(0, |g| g.count),
            );
            let status = match (&b, &a) {
                (None, _) => Status::New,
                (_, None) => Status::Vanished,
                _ if na > nb => Status::Grown,
                _ if na < nb => Status::Shrunk,
                _ => Status::Same,
            };
            // A dump names the creator; prefer whichever side has one.
            let created_by = [&a, &b]
                .iter()
                .find_map(|g| g.as_ref()?.created_by.as_ref().map(|f| f.function.clone()));
            let g = a.or(b)?;
            Some(Change {
                signature,
                top_function: g.top_function,
                block_class: g.block_class.as_str(),
                created_by,
                before: nb,
                after: na,
                change: signed(na, nb),
                status,
                frames: g.frames,
            })
        })
        .collect();
    groups.sort_by(|x, y| {
        y.change
            .cmp(&x.change)
            .then(y.after.cmp(&x.after))
            .then_with(|| x.signature.cmp(&y.signature))
    });
    let count = |s: Status| groups.iter().filter(|g| g.status == s).count() as u64;
    Diff {
        schema_version: SCHEMA_VERSION,
        change: signed(after.total, before.total),
        new: count(Status::New),
        vanished: count(Status::Vanished),
        grown: count(Status::Grown),
        shrunk: count(Status::Shrunk),
        before: Side {
            input: before_name.to_string(),
            source: before.source,
            total: before.total,
            group_count: before.group_count,
        },
        after: Side {
            input: after_name.to_string(),
            source: after.source,
            total: after.total,
            group_count: after.group_count,
        },
        groups,
    }
}

fn describe(s: &Side) -> String {
    let form = if s.source.format == "dump" {
        "dump".to_string()
    } else {
        format!("{} profile", s.source.profile.unwrap_or("goroutine"))
    };
    format!("{} goroutines, {} groups ({form})", s.total, s.group_count)
}

/// The table for people: the `top` largest changes (growth first, then the
/// largest shrinkage), unchanged groups left out.
pub fn render(out: &mut impl Write, d: &Diff, top: usize) -> std::io::Result<()> {
    writeln!(out, "before: {}  {}", d.before.input, describe(&d.before))?;
    writeln!(out, "after:  {}  {}", d.after.input, describe(&d.after))?;
    writeln!(
        out,
        "change: {:+} goroutines; {} new groups, {} vanished, {} grew, {} shrank",
        d.change, d.new, d.vanished, d.grown, d.shrunk
    )?;
    let changed: Vec<&Change> = d.groups.iter().filter(|g| g.change != 0).collect();
    if changed.is_empty() {
        return writeln!(out, "no group changed");
    }
    // Growth first (already sorted), then the shrinkage by size.
    let (mut grew, mut shrank): (Vec<&Change>, Vec<&Change>) =
        changed.into_iter().partition(|g| g.change > 0);
    shrank.sort_by_key(|g| g.change);
    grew.extend(shrank);
    writeln!(
        out,
        "{:>8} {:>8} {:>8}  {:<15} {:<40} created by",
        "change", "before", "after", "block", "top function"
    )?;
    for g in grew.iter().take(top) {
        let mark = match g.status {
            Status::New => "  (new)",
            Status::Vanished => "  (vanished)",
            _ => "",
        };
        writeln!(
            out,
            "{:>+8} {:>8} {:>8}  {:<15} {:<40} {}{mark}",
            g.change,
            g.before,
            g.after,
            g.block_class,
            g.top_function,
            g.created_by.as_deref().unwrap_or("-"),
        )?;
    }
    if grew.len() > top {
        writeln!(
            out,
            "  ... {} more changed groups (--top, or --format json for all)",
            grew.len() - top
        )?;
    }
    Ok(())
}
