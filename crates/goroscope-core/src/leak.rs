//! Leak scoring over a series of snapshots of one process: which stack
//! signatures grow in a way load does not explain.
//!
//! A [`Tracker`] keeps, per signature, a bounded history: a ring of the
//! last [`RING`] counts (one per snapshot) and a long window of
//! [`LONG`] minima, one per [`LONG_STEP`] snapshots. At most
//! [`MAX_TRACKED`] signatures are tracked (the largest; the smallest is
//! dropped first): memory is bounded whatever the target does, about
//! 0.6 KiB per signature.
//!
//! # The rule
//!
//! A signature is a **suspect** when, over the ring (at least
//! [`MIN_POINTS`] snapshots), all of these hold:
//!
//! 1. **a monotonic trend**: the Mann-Kendall test on its counts rejects
//!    "no trend" in favour of growth at the 1% level (Z > 2.33, ties
//!    corrected); steady worker pools and idle connection pools have no
//!    trend;
//! 2. **it does not drain**: the minimum of the ring's later half is above
//!    the minimum of its earlier half (a bursty handler that returns to its
//!    baseline between bursts fails this);
//! 3. **it grows enough**: the Theil-Sen slope (median of pairwise slopes),
//!    per snapshot, times the ring's span is at least [`MIN_GROWTH`]
//!    goroutines;
//! 4. **its goroutines are blocked** (any block class but none, syscall
//!    and unknown): running code is load, not a leak.
//!
//! The score (0 to 1) orders suspects and non-suspects alike: the trend's
//! strength (Z / 5, at most 1) weighted 0.5, plus 0.25 when the minimum
//! rises, plus 0.25 when the goroutines are blocked. Evidence a dump adds
//! (the longest wait growing) and the Go 1.26 goroutineleak profile
//! (goroutines proven leaked: sound) make a signature a suspect whatever
//! its trend.
//!
//! A restarted target (goroutine ids went back) resets the history: the
//! new process's counts are neither a leak nor an un-leak.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::analyze::{Group, Report};
use crate::model::BlockClass;

/// Counts kept per signature: the trend window.
pub const RING: usize = 30;
/// Snapshots needed before a signature is judged.
pub const MIN_POINTS: usize = 8;
/// Long-window points (minima) kept per signature.
pub const LONG: usize = 48;
/// Snapshots per long-window point.
pub const LONG_STEP: usize = 20;
/// Signatures tracked per process.
pub const MAX_TRACKED: usize = 200;
/// Least growth over the ring for a suspect.
pub const MIN_GROWTH: f64 = 5.0;
/// Mann-Kendall Z above which a trend counts (one-sided 1%).
pub const Z_THRESHOLD: f64 = 2.33;

#[derive(Debug, Clone)]
struct History {
    ring: Vec<u64>,
    /// Snapshot numbers of the ring's entries (for the slope).
    at: Vec<u64>,
    long: Vec<u64>,
    long_min: u64,
    long_n: usize,
    first_seen: u64,
    /// Last known facts about the group.
    group: Option<Group>,
    /// Longest wait (minutes) per dump seen, oldest first, bounded.
    waits: Vec<u32>,
    /// Goroutines of this signature in the goroutineleak profile.
    proven: u64,
}

impl History {
    fn new(first_seen: u64) -> Self {
        Self {
            ring: Vec::with_capacity(RING),
            at: Vec::with_capacity(RING),
            long: Vec::new(),
            long_min: u64::MAX,
            long_n: 0,
            first_seen,
            group: None,
            waits: Vec::new(),
            proven: 0,
        }
    }

    fn push(&mut self, n: u64, snapshot: u64) {
        if self.ring.len() == RING {
            self.ring.remove(0);
            self.at.remove(0);
        }
        self.ring.push(n);
        self.at.push(snapshot);
        self.long_min = self.long_min.min(n);
        self.long_n += 1;
        if self.long_n == LONG_STEP {
            if self.long.len() == LONG {
                self.long.remove(0);
            }
            self.long.push(self.long_min);
            self.long_min = u64::MAX;
            self.long_n = 0;
        }
    }
}

/// What the rule found for one signature.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The stack signature.
    pub signature: String,
    /// Whether the rule calls it a leak.
    pub suspect: bool,
    /// 0 to 1, for ordering.
    pub score: f64,
    /// Mann-Kendall Z of the ring.
    pub trend_z: f64,
    /// Theil-Sen slope, goroutines per snapshot.
    pub slope_per_snapshot: f64,
    /// The minimum of the ring's later half is above its earlier half's.
    pub min_rising: bool,
    /// Its goroutines are blocked (not on CPU or in a syscall).
    pub blocked: bool,
    /// Longest wait growing across dumps.
    pub wait_rising: bool,
    /// Goroutines the goroutineleak profile proved leaked.
    pub proven_leaked: u64,
    /// Counts in the ring, oldest first.
    pub counts: Vec<u64>,
    /// Snapshots since first seen.
    pub age_snapshots: u64,
    /// The group as last seen (frames, creator, labels, trace ids ...).
    pub group: Option<Group>,
}

/// A tracker's history as saved to disk (README "Leak detection"): the
/// counts only; each signature's group comes back at the next snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// [`SAVED_FORMAT`]: tells a goroscope state file from anything else.
    pub format: String,
    /// [`SAVED_VERSION`].
    pub version: u32,
    /// Snapshots seen.
    pub snapshots: u64,
    /// Per signature.
    pub signatures: Vec<SavedHistory>,
}

/// One signature's saved history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedHistory {
    /// The stack signature.
    pub signature: String,
    /// Ring counts, oldest first.
    pub ring: Vec<u64>,
    /// Their snapshot numbers.
    pub at: Vec<u64>,
    /// Long-window minima.
    pub long: Vec<u64>,
    /// The long-window point being built: its minimum so far, and count.
    pub long_min: u64,
    /// Snapshots in the point being built.
    pub long_n: usize,
    /// Snapshot number it was first seen at.
    pub first_seen: u64,
    /// Longest waits of the last dumps.
    pub waits: Vec<u32>,
}

/// [`Saved::format`].
pub const SAVED_FORMAT: &str = "goroscope-leak-state";
/// [`Saved::version`].
pub const SAVED_VERSION: u32 = 1;

/// The rule's thresholds (module docs); [`Rule::default`] is the
/// documented rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Snapshots needed before a signature is judged (3 to [`RING`]).
    pub min_points: usize,
    /// Least Theil-Sen growth over the ring, goroutines.
    pub min_growth: f64,
    /// Mann-Kendall Z above which a trend counts.
    pub z_threshold: f64,
}

impl Default for Rule {
    fn default() -> Self {
        Self {
            min_points: MIN_POINTS,
            min_growth: MIN_GROWTH,
            z_threshold: Z_THRESHOLD,
        }
    }
}

/// Per-process leak scoring.
#[derive(Debug, Default)]
pub struct Tracker {
    histories: HashMap<String, History>,
    snapshots: u64,
    rule: Rule,
}

impl Tracker {
    /// A tracker with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Judges with `rule` from now on (the history is kept).
    pub fn set_rule(&mut self, rule: Rule) {
        self.rule = Rule {
            min_points: rule.min_points.clamp(3, RING),
            ..rule
        };
    }

    /// Snapshots seen since the last reset.
    pub fn snapshots(&self) -> u64 {
        self.snapshots
    }

    /// The history to save.
    pub fn save(&self) -> Saved {
        let mut signatures: Vec<SavedHistory> = self
            .histories
            .iter()
            .map(|(sig, h)| SavedHistory {
                signature: sig.clone(),
                ring: h.ring.clone(),
                at: h.at.clone(),
                long: h.long.clone(),
                long_min: h.long_min,
                long_n: h.long_n,
                first_seen: h.first_seen,
                waits: h.waits.clone(),
            })
            .collect();
        signatures.sort_by(|a, b| a.signature.cmp(&b.signature));
        Saved {
            format: SAVED_FORMAT.to_string(),
            version: SAVED_VERSION,
            snapshots: self.snapshots,
            signatures,
        }
    }

    /// A tracker resumed from saved history; an error names what is wrong
    /// with it (another format or version, sizes beyond the bounds, a
    /// history from the future).
    pub fn restore(saved: Saved) -> Result<Tracker, String> {
        if saved.format != SAVED_FORMAT {
            return Err(format!(
                "not a goroscope leak state (format {:?})",
                saved.format
            ));
        }
        if saved.version != SAVED_VERSION {
            return Err(format!(
                "leak state version {} (this goroscope reads {SAVED_VERSION})",
                saved.version
            ));
        }
        if saved.signatures.len() > MAX_TRACKED {
            return Err(format!(
                "{} signatures, more than {MAX_TRACKED}",
                saved.signatures.len()
            ));
        }
        let mut histories = HashMap::new();
        for h in saved.signatures {
            let ok = h.ring.len() == h.at.len()
                && h.ring.len() <= RING
                && h.long.len() <= LONG
                && h.long_n < LONG_STEP
                && h.waits.len() <= RING
                && h.at.windows(2).all(|w| w[0] < w[1])
                && h.at.last().is_none_or(|&a| a <= saved.snapshots)
                && h.first_seen <= saved.snapshots.max(1);
            if !ok {
                return Err(format!("the history of {} is inconsistent", h.signature));
            }
            histories.insert(
                h.signature,
                History {
                    ring: h.ring,
                    at: h.at,
                    long: h.long,
                    long_min: h.long_min,
                    long_n: h.long_n,
                    first_seen: h.first_seen,
                    group: None,
                    waits: h.waits,
                    proven: 0,
                },
            );
        }
        Ok(Tracker {
            histories,
            snapshots: saved.snapshots,
            rule: Rule::default(),
        })
    }

    /// Forgets everything (the process restarted).
    pub fn reset(&mut self) {
        self.histories.clear();
        self.snapshots = 0;
    }

    /// Adds one snapshot: every group of `report` (which should hold the
    /// largest groups; a tracked signature missing from it counts 0).
    pub fn observe(&mut self, report: &Report) {
        self.snapshots += 1;
        let now = self.snapshots;
        let mut seen: HashMap<&str, &Group> = HashMap::new();
        for g in &report.groups {
            seen.insert(g.signature.as_str(), g);
        }
        for (sig, g) in &seen {
            if !self.histories.contains_key(*sig) {
                self.histories.insert((*sig).to_string(), History::new(now));
            }
            if let Some(h) = self.histories.get_mut(*sig) {
                if let Some(w) = g.wait_minutes_max {
                    if h.waits.len() == RING {
                        h.waits.remove(0);
                    }
                    h.waits.push(w);
                }
                // Profiles know no creators, ids or waits: keep what the
                // last dump said.
                let mut g = (*g).clone();
                if let Some(old) = h.group.take() {
                    if g.created_by.is_none() {
                        g.created_by = old.created_by;
                    }
                    if g.sample_ids.is_empty() {
                        g.sample_ids = old.sample_ids;
                    }
                    if g.trace_ids.is_empty() {
                        g.trace_ids = old.trace_ids;
                    }
                    g.wait_minutes_max = g.wait_minutes_max.or(old.wait_minutes_max);
                }
                h.group = Some(g);
            }
        }
        for (sig, h) in &mut self.histories {
            let n = seen.get(sig.as_str()).map_or(0, |g| g.count);
            h.push(n, now);
        }
        // Bounded: drop the smallest (by last count, then oldest).
        if self.histories.len() > MAX_TRACKED {
            let mut order: Vec<(u64, u64, String)> = self
                .histories
                .iter()
                .map(|(s, h)| {
                    (
                        h.ring.last().copied().unwrap_or(0),
                        u64::MAX - h.first_seen,
                        s.clone(),
                    )
                })
                .collect();
            order.sort();
            for (_, _, s) in order.into_iter().take(self.histories.len() - MAX_TRACKED) {
                self.histories.remove(&s);
            }
        }
    }

    /// Records the goroutineleak profile's report: its goroutines are
    /// proven leaked.
    pub fn observe_leak_profile(&mut self, report: &Report) {
        for h in self.histories.values_mut() {
            h.proven = 0;
        }
        for g in &report.groups {
            if let Some(h) = self.histories.get_mut(&g.signature) {
                h.proven = g.count;
            }
        }
    }

    /// Every tracked signature judged, best score first.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let mut v: Vec<Verdict> = self
            .histories
            .iter()
            .map(|(sig, h)| judge(sig, h, self.snapshots, &self.rule))
            .collect();
        v.sort_by(|a, b| {
            b.suspect
                .cmp(&a.suspect)
                .then(b.score.total_cmp(&a.score))
                .then_with(|| a.signature.cmp(&b.signature))
        });
        v
    }
}

fn judge(sig: &str, h: &History, now: u64, rule: &Rule) -> Verdict {
    let xs = &h.ring;
    let enough = xs.len() >= rule.min_points;
    let z = if enough { mann_kendall_z(xs) } else { 0.0 };
    let slope = if enough { theil_sen(&h.at, xs) } else { 0.0 };
    let half = xs.len() / 2;
    let min_rising = enough && xs[half..].iter().min() > xs[..half].iter().min();
    let blocked = h.group.as_ref().is_some_and(|g| {
        !matches!(
            g.block_class,
            BlockClass::None | BlockClass::Syscall | BlockClass::Unknown
        )
    });
    let wait_rising = h.waits.len() >= 3 && {
        let w = &h.waits;
        w.windows(2).all(|p| p[1] >= p[0]) && w[w.len() - 1] > w[0]
    };
    let span = h.at.last().copied().unwrap_or(0) - h.at.first().copied().unwrap_or(0);
    let growth = slope * span as f64;
    let trend = z > rule.z_threshold && growth >= rule.min_growth;
    let suspect =
        h.proven > 0 || (trend && min_rising && blocked) || (blocked && wait_rising && trend);
    let score = 0.5 * (z / 5.0).clamp(0.0, 1.0)
        + if min_rising { 0.25 } else { 0.0 }
        + if blocked { 0.25 } else { 0.0 };
    Verdict {
        signature: sig.to_string(),
        suspect,
        score: if h.proven > 0 { 1.0 } else { score },
        trend_z: z,
        slope_per_snapshot: slope,
        min_rising,
        blocked,
        wait_rising,
        proven_leaked: h.proven,
        counts: xs.clone(),
        age_snapshots: now + 1 - h.first_seen,
        group: h.group.clone(),
    }
}

/// The Mann-Kendall trend statistic, normalised (Z), with the variance
/// corrected for ties (Hipel & McLeod): S = sum of sign(x_j - x_i) over
/// i < j; Var(S) = [n(n-1)(2n+5) - sum over tie groups t(t-1)(2t+5)] / 18;
/// Z = (S - 1) / sqrt(Var) for S > 0, (S + 1) / sqrt(Var) for S < 0.
pub fn mann_kendall_z(xs: &[u64]) -> f64 {
    let n = xs.len();
    if n < 3 {
        return 0.0;
    }
    let mut s: i64 = 0;
    for i in 0..n {
        for j in i + 1..n {
            s += (xs[j] > xs[i]) as i64 - (xs[j] < xs[i]) as i64;
        }
    }
    let mut sorted = xs.to_vec();
    sorted.sort_unstable();
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i = j;
    }
    let nf = n as f64;
    let var = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    if var <= 0.0 {
        return 0.0;
    }
    match s.cmp(&0) {
        std::cmp::Ordering::Greater => (s - 1) as f64 / var.sqrt(),
        std::cmp::Ordering::Less => (s + 1) as f64 / var.sqrt(),
        std::cmp::Ordering::Equal => 0.0,
    }
}

/// The Theil-Sen slope: the median of (y_j - y_i) / (x_j - x_i) over all
/// pairs with x_i < x_j. Robust to a few outliers (a burst).
pub fn theil_sen(xs: &[u64], ys: &[u64]) -> f64 {
    let mut slopes = Vec::new();
    for i in 0..xs.len() {
        for j in i + 1..xs.len() {
            if xs[j] > xs[i] {
                slopes.push((ys[j] as f64 - ys[i] as f64) / (xs[j] - xs[i]) as f64);
            }
        }
    }
    if slopes.is_empty() {
        return 0.0;
    }
    slopes.sort_by(f64::total_cmp);
    let m = slopes.len() / 2;
    if slopes.len() % 2 == 1 {
        slopes[m]
    } else {
        (slopes[m - 1] + slopes[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Report, Source};

    fn group(sig: &str, count: u64, class: BlockClass) -> Group {
        Group {
            signature: sig.to_string(),
            count,
            states: Default::default(),
            block_class: class,
            origin: crate::model::Origin::User,
            top_function: format!("main.{sig}"),
            created_by: None,
            wait_minutes_min: None,
            wait_minutes_max: None,
            frames_elided: false,
            labels: Default::default(),
            labels_truncated: false,
            sample_ids: vec![],
            group_label: None,
            trace_ids: vec![],
            frames: vec![],
        }
    }

    fn report(groups: Vec<Group>) -> Report {
        Report {
            schema_version: 1,
            source: Source::dump(),
            total: groups.iter().map(|g| g.count).sum(),
            states: Default::default(),
            wait_reasons: Default::default(),
            block_classes: Default::default(),
            depth_buckets: Default::default(),
            origins: Default::default(),
            flags: Default::default(),
            series: vec![],
            unique_stacks: 0,
            unique_frames: 0,
            group_count: groups.len() as u64,
            groups,
            diagnostics_total: 0,
            diagnostics: vec![],
        }
    }

    /// Feeds `n` snapshots where each signature's count is given by its
    /// function of the snapshot number.
    /// A signature, its class, and its count at each snapshot.
    type Series<'a> = (&'a str, BlockClass, &'a dyn Fn(u64) -> u64);

    fn run(series: &[Series<'_>], n: u64) -> Vec<Verdict> {
        let mut t = Tracker::new();
        for i in 0..n {
            let gs = series
                .iter()
                .map(|(s, c, f)| group(s, f(i), *c))
                .filter(|g| g.count > 0)
                .collect();
            t.observe(&report(gs));
        }
        t.verdicts()
    }

    fn verdict<'a>(v: &'a [Verdict], sig: &str) -> &'a Verdict {
        v.iter().find(|x| x.signature == sig).expect("tracked")
    }

    /// The cases: a leak is found; a steady worker pool, a bursty
    /// handler that drains, long-lived idle connections, a pool that grew
    /// to its cap and a busy on-CPU loop are not.
    #[test]
    fn leaks_are_told_from_load() {
        let bursty = |i: u64| if i.is_multiple_of(5) { 40 } else { 2 + i % 3 };
        let v = run(
            &[
                ("leak", BlockClass::ChanSend, &|i| 3 + i),
                ("slowleak", BlockClass::ChanReceive, &|i| 10 + i / 3),
                ("pool", BlockClass::ChanReceive, &|_| 8),
                ("bursty", BlockClass::Select, &bursty),
                ("idle", BlockClass::IoWait, &|i| 20 + (i % 2)),
                ("capped", BlockClass::IoWait, &|i| (i * 3).min(12)),
                ("spin", BlockClass::None, &|i| 5 + i),
            ],
            30,
        );
        assert!(verdict(&v, "leak").suspect, "{:?}", verdict(&v, "leak"));
        assert!(
            verdict(&v, "slowleak").suspect,
            "{:?}",
            verdict(&v, "slowleak")
        );
        for sig in ["pool", "bursty", "idle", "capped", "spin"] {
            assert!(!verdict(&v, sig).suspect, "{sig}: {:?}", verdict(&v, sig));
        }
        assert_eq!(v[0].signature, "leak", "the strongest first");
        assert!((verdict(&v, "leak").slope_per_snapshot - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_rule_s_knobs_move_the_verdict() {
        let mut t = Tracker::new();
        for i in 0..6 {
            t.observe(&report(vec![group(
                "leak",
                3 + 2 * i,
                BlockClass::ChanSend,
            )]));
        }
        assert!(!t.verdicts()[0].suspect, "6 points are too few by default");
        t.set_rule(Rule {
            min_points: 5,
            ..Rule::default()
        });
        assert!(t.verdicts()[0].suspect, "{:?}", t.verdicts()[0]);
        t.set_rule(Rule {
            min_points: 5,
            min_growth: 50.0,
            ..Rule::default()
        });
        assert!(
            !t.verdicts()[0].suspect,
            "10 goroutines of growth are below 50"
        );
    }

    #[test]
    fn too_few_snapshots_judge_nothing() {
        let v = run(
            &[("leak", BlockClass::ChanSend, &|i| 3 + 10 * i)],
            MIN_POINTS as u64 - 1,
        );
        assert!(!v[0].suspect);
    }

    #[test]
    fn the_leak_profile_is_proof() {
        let mut t = Tracker::new();
        t.observe(&report(vec![group("x", 4, BlockClass::ChanReceive)]));
        t.observe_leak_profile(&report(vec![group("x", 4, BlockClass::ChanReceive)]));
        let v = t.verdicts();
        assert!(v[0].suspect && v[0].proven_leaked == 4 && v[0].score == 1.0);
    }

    #[test]
    fn memory_is_bounded_and_a_reset_forgets() {
        let mut t = Tracker::new();
        for i in 0..(3 * MAX_TRACKED as u64) {
            t.observe(&report(vec![group(
                &format!("s{i}"),
                i + 1,
                BlockClass::ChanReceive,
            )]));
        }
        assert_eq!(t.verdicts().len(), MAX_TRACKED);
        for _ in 0..(RING * 2 + LONG * LONG_STEP) {
            t.observe(&report(vec![group("x", 1, BlockClass::ChanReceive)]));
        }
        let h = t.histories.get("x").expect("x");
        assert!(h.ring.len() <= RING && h.long.len() <= LONG);
        t.reset();
        assert!(t.verdicts().is_empty() && t.snapshots() == 0);
    }

    #[test]
    fn saved_history_resumes_the_same_verdicts() {
        let mut t = Tracker::new();
        for i in 0..20 {
            t.observe(&report(vec![
                group("leak", 3 + i, BlockClass::ChanSend),
                group("pool", 8, BlockClass::ChanReceive),
            ]));
        }
        let json = serde_json::to_string(&t.save()).expect("serialize");
        let mut back =
            Tracker::restore(serde_json::from_str(&json).expect("parse")).expect("valid");
        assert_eq!(back.snapshots(), 20);
        // The groups come back with the next snapshot; the verdicts match.
        let next = report(vec![
            group("leak", 23, BlockClass::ChanSend),
            group("pool", 8, BlockClass::ChanReceive),
        ]);
        back.observe(&next);
        t.observe(&next);
        let key = |v: Vec<Verdict>| {
            v.iter()
                .map(|v| (v.signature.clone(), v.suspect, v.counts.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(back.verdicts()), key(t.verdicts()));
        assert!(back.verdicts()[0].suspect);

        let mut bad = t.save();
        bad.format = "something else".into();
        assert!(Tracker::restore(bad).is_err());
        let mut bad = t.save();
        bad.version = 99;
        assert!(Tracker::restore(bad)
            .expect_err("version")
            .contains("version 99"));
        let mut bad = t.save();
        bad.signatures[0].at.pop();
        assert!(Tracker::restore(bad).is_err());
        let mut bad = t.save();
        bad.snapshots = 1;
        assert!(Tracker::restore(bad).is_err(), "a history from the future");
    }

    #[test]
    fn mann_kendall_and_theil_sen() {
        assert_eq!(mann_kendall_z(&[5, 5, 5, 5, 5]), 0.0);
        assert!(mann_kendall_z(&[1, 2, 3, 4, 5, 6, 7, 8]) > 3.0);
        assert!(mann_kendall_z(&[8, 7, 6, 5, 4, 3, 2, 1]) < -3.0);
        // S = 28 - 1 over sqrt(8*7*21/18) = 8.08: Z = 3.34.
        assert!(
            (mann_kendall_z(&[1, 2, 3, 4, 5, 6, 7, 8])
                - 27.0 / (8.0f64 * 7.0 * 21.0 / 18.0).sqrt())
            .abs()
                < 1e-9
        );
        // One outlier of five points does not move the slope.
        assert_eq!(theil_sen(&[0, 1, 2, 3, 4], &[0, 2, 4, 6, 100]), 2.0);
    }
}
